"""``EnsembleClassifier`` and ``EnsembleRegressor``: fitted members and how to combine them.

scikit-learn estimators (``fit``, ``predict``, ``predict_proba``, ``classes_``,
``get_params``) whose members are already trained: :meth:`fit` never refits a member, it
fits only the combination — greedy selection weights, optimised soft-voting weights or a
stacking meta-model — on the rows it is given (validation rows, not the members' training
rows). Members are kept as :func:`~afterfit.selection.ensemble_members.as_member` makes
them (estimators as is; ONNX models and native boosters as bytes), so ``skops.io.dump``
saves the ensemble and :func:`afterfit.load_model` loads it without ``trust`` (afterfit
trusts its own ``afterfit.selection`` classes; the members' types are checked as usual).

Because the members are fitted, ``sklearn.base.clone`` (which unfits estimators) does not
give a usable copy: use :meth:`spawn` for a copy with the same fitted members.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from afterfit.errors import DataError, InvalidInputError, ModelError
from afterfit.models._common import two_columns
from afterfit.predictions import label_list
from afterfit.selection.ensemble_members import adapter, as_member, check_members, member_name
from afterfit.selection.ensemble_metrics import check_metric

__all__ = ["METHODS", "EnsembleClassifier", "EnsembleRegressor", "make_ensemble"]

#: How an ensemble of trained models combines them.
METHODS = ("greedy", "weights", "stacking")


class _Ensemble(BaseEstimator):
    """Shared by :class:`EnsembleClassifier` and :class:`EnsembleRegressor`."""

    def __init__(
        self,
        members: Sequence[Any] | None = None,
        *,
        names: Sequence[str] | None = None,
        method: str = "greedy",
        metric: str | None = None,
        n_iterations: int = 50,
        n_init: int = 1,
        n_bags: int = 0,
        bag_fraction: float = 0.5,
        meta_model: Any = None,
        cv: int = 5,
        random_state: int | None = 0,
    ) -> None:
        self.members = members
        self.names = names
        self.method = method
        self.metric = metric
        self.n_iterations = n_iterations
        self.n_init = n_init
        self.n_bags = n_bags
        self.bag_fraction = bag_fraction
        self.meta_model = meta_model
        self.cv = cv
        self.random_state = random_state

    # -- members ---------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        # Once fitted, save the members as kept (bytes for ONNX), never raw sessions.
        if "members_" in state:
            state["members"] = list(state["members_"])
        state.pop("_adapters", None)  # sessions and boosters: rebuilt from the members
        return state

    def _prepare_members(self) -> None:
        """Set ``members_``, ``member_names_``, ``member_classes_``, ``classes_``, features."""
        if self.method not in METHODS:
            raise InvalidInputError(
                f"method must be one of {', '.join(map(repr, METHODS))}; got {self.method!r}.",
                fix="pass method='greedy' (Caruana selection), 'weights' (optimised soft "
                "voting) or 'stacking' (a regularised linear meta-model).",
            )
        if self.members is None or len(self.members) < 2:
            raise InvalidInputError(
                "an ensemble needs at least two trained members.",
                fix="pass members=[model_a, model_b, ...] (fitted models).",
            )
        models = {}
        kept = []
        names = list(self.names) if self.names is not None else None
        if names is not None and len(names) != len(self.members):
            raise InvalidInputError(
                f"names has {len(names)} entries for {len(self.members)} members.",
                fix="pass one name per member, or leave names out.",
            )
        for i, model in enumerate(self.members):
            member = as_member(model)
            name = names[i] if names is not None else member_name(member, i)
            if name in models:
                raise InvalidInputError(
                    f"two members are named {name!r}.", fix="give every member its own name."
                )
            models[name] = _as_adapter(model, member)
            kept.append(member)
        task, classes, features = check_members(models)
        self._check_task(task)
        self.members_ = kept
        self.member_names_ = list(models)
        self.task_ = task
        self.member_classes_ = [
            None if m.classes_ is None else np.asarray(m.classes_).tolist() for m in models.values()
        ]
        if classes is not None:
            self.classes_ = np.asarray(classes.tolist())
            index = pd.Index(self.classes_.tolist())
            self.member_columns_ = [
                index.get_indexer(c).astype(np.int64) for c in self.member_classes_
            ]
        self.member_probabilities_ = [bool(m.scores_are_probabilities) for m in models.values()]
        if features["names"] is not None:
            self.feature_names_in_ = np.asarray(features["names"], dtype=object)
        if features["n"] is not None:
            self.n_features_in_ = int(features["n"])
        self.metric_ = check_metric(self.metric, task)
        self._adapters = list(models.values())
        if self.method in ("greedy", "weights") and task != "regression":
            soft = [n for n, p in zip(self.member_names_, self.member_probabilities_,
                                      strict=True) if not p]  # fmt: skip
            if soft:
                raise ModelError(
                    f"{self.method!r} averages class probabilities, but member(s) "
                    f"{label_list(soft)} give decision scores, not probabilities.",
                    fix="calibrate them first (afterfit calibrate), or use method='stacking', "
                    "which takes decision scores as meta-features.",
                )

    def _check_task(self, task: str) -> None:
        raise NotImplementedError

    def _member_adapters(self) -> list[Any]:
        cached = getattr(self, "_adapters", None)
        if cached is None or len(cached) != len(self.members_):
            cached = [adapter(m, c) for m, c in zip(self.members_, self.member_classes_,
                                                    strict=True)]  # fmt: skip
            self._adapters = cached
        return cached

    def _features(self, X: Any) -> Any:
        names = getattr(self, "feature_names_in_", None)
        if names is not None and isinstance(X, pd.DataFrame):
            missing = [c for c in names if c not in X.columns]
            if not missing:
                return X[list(names)]
        return X

    def member_scores(self, X: Any, *, only_used: bool = False) -> np.ndarray:
        """Every member's scores on ``X``: ``(m, n, K)`` in ``classes_`` order, or ``(m, n)``.

        With ``only_used``, members of zero weight are not run (their rows are zeros).
        """
        check_is_fitted(self, "members_")
        X = self._features(X)
        used = self._used() if only_used else None
        out = []
        for j, model in enumerate(self._member_adapters()):
            if used is not None and not used[j]:
                out.append(None)
                continue
            s = np.asarray(model.predict_scores(X), dtype=np.float64)
            if self.task_ != "regression":
                s = s[:, np.argsort(self.member_columns_[j])]
            out.append(s)
        shape = next(s.shape for s in out if s is not None)
        return np.stack([np.zeros(shape) if s is None else s for s in out])

    def _used(self) -> np.ndarray:
        weights = getattr(self, "weights_", None)
        if weights is None:
            return np.ones(len(self.members_), dtype=bool)
        return np.asarray(weights) != 0

    def _codes(self, y: Any) -> np.ndarray:
        arr = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y).reshape(-1)
        if self.task_ == "regression":
            try:
                return arr.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise DataError(
                    f"the regression target must be numeric: {exc}.",
                    fix="pass a numeric target column.",
                ) from exc
        index = pd.Index(self.classes_.tolist())
        codes = index.get_indexer(arr.tolist())
        if (codes < 0).any():
            # Labels read from a file as text ("1") name the class whose text they are.
            text = pd.Index([str(c) for c in self.classes_])
            alt = text.get_indexer([str(v) for v in arr.tolist()])
            codes = np.where(codes < 0, alt, codes)
        if (codes < 0).any():
            unknown = pd.unique(arr[codes < 0])
            raise DataError(
                f"the target holds label(s) the members do not know: {label_list(unknown)}; "
                f"their classes are {label_list(self.classes_)}.",
                fix="check the target column (the same encoding as in training?).",
            )
        return codes.astype(np.int64)

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> _Ensemble:
        """Fit the combination on selection rows ``X``, ``y`` (the members stay as they are).

        Parameters
        ----------
        X : DataFrame or array
            Rows the members did not train on (a validation split).
        y : array-like
            Their labels or targets.

        Returns
        -------
        self
        """
        self._prepare_members()
        return self._fit_scores(self.member_scores(X), self._codes(y))

    def fit_from_scores(self, scores: Sequence[Any], y: Any) -> _Ensemble:
        """Fit the combination from member scores already computed (validation or
        out-of-fold predictions), one array per member in that member's own class order.

        Parameters
        ----------
        scores : sequence of array-like
            Member ``j``'s ``(n, K)`` class scores (binary: also ``(n,)`` positive-class
            probabilities) or ``(n,)`` predictions.
        y : array-like
        """
        self._prepare_members()
        if len(scores) != len(self.members_):
            raise InvalidInputError(
                f"scores has {len(scores)} arrays for {len(self.members_)} members.",
                fix="pass one array of scores per member, in the members' order.",
            )
        arrays = []
        for j, s in enumerate(scores):
            s = np.asarray(s, dtype=np.float64)
            if self.task_ != "regression":
                if s.ndim == 1:
                    s = two_columns(s)
                s = s[:, np.argsort(self.member_columns_[j])]
            arrays.append(s)
        return self._fit_scores(np.stack(arrays), self._codes(y))

    def _fit_scores(self, S: np.ndarray, y: np.ndarray) -> _Ensemble:
        task = self.task_
        self.n_selection_rows_ = int(S.shape[1])
        if self.method == "greedy":
            from afterfit.selection.ensemble_greedy import greedy_selection

            sel = greedy_selection(
                S, y, task=task, metric=self.metric_, n_iterations=self.n_iterations,
                n_init=self.n_init, n_bags=self.n_bags, bag_fraction=self.bag_fraction,
                random_state=self.random_state,
            )  # fmt: skip
            self.weights_ = sel.weights
            self.counts_ = sel.counts
            self.curve_ = sel.curve
            self.best_step_ = sel.best_step
            self.order_ = np.asarray(sel.order, dtype=np.int64)
        elif self.method == "weights":
            from afterfit.selection.ensemble_weights import optimize_weights

            self.weights_ = optimize_weights(S, y, task=task, metric=self.metric_)
        else:
            from afterfit.selection.ensemble_stacking import fit_meta_model, meta_features

            self.meta_model_ = fit_meta_model(
                meta_features(S, task), y, task=task, meta_model=self.meta_model, cv=self.cv,
                random_state=self.random_state,
            )  # fmt: skip
        return self

    def spawn(self) -> _Ensemble:
        """An unfitted copy with the same parameters and the same fitted members."""
        params = self.get_params(deep=False)
        if hasattr(self, "members_"):
            params["members"] = list(self.members_)
            params["names"] = list(self.member_names_)
        return type(self)(**params)

    # -- predicting ------------------------------------------------------------------------

    def combine(self, S: np.ndarray) -> np.ndarray:
        """The ensemble's scores from member scores ``S`` (as :meth:`member_scores`)."""
        check_is_fitted(self, "members_")
        if self.method == "stacking":
            from afterfit.selection.ensemble_stacking import meta_features, meta_predict

            check_is_fitted(self, "meta_model_")
            K = 0 if self.task_ == "regression" else len(self.classes_)
            return meta_predict(self.meta_model_, meta_features(S, self.task_), self.task_, K)
        check_is_fitted(self, "weights_")
        return np.tensordot(np.asarray(self.weights_, dtype=np.float64), S, axes=1)

    def _scores(self, X: Any) -> np.ndarray:
        return self.combine(self.member_scores(X, only_used=self.method != "stacking"))


class EnsembleClassifier(ClassifierMixin, _Ensemble):
    """An ensemble of trained classifiers (scikit-learn, XGBoost/LightGBM, ONNX).

    Parameters
    ----------
    members : sequence of models
        Two or more trained classifiers with the same classes and features: fitted
        scikit-learn estimators, afterfit Models from :func:`afterfit.load_model`
        (ONNX, XGBoost, LightGBM), or members from
        :func:`~afterfit.selection.ensemble_members.as_member`.
    names : sequence of str, optional
        One name per member (default: class name and position).
    method : {"greedy", "weights", "stacking"}
        ``"greedy"``: Caruana's selection with replacement; ``"weights"``: soft voting with
        weights on the simplex minimising log loss (or Brier score); ``"stacking"``: a
        multinomial logistic meta-model with cross-validated regularisation.
    metric : str, optional
        Selection metric (any afterfit classification metric; default ``"log_loss"``).
    n_iterations, n_init, n_bags, bag_fraction
        Greedy selection (see :func:`~afterfit.selection.ensemble_greedy.greedy_selection`).
    meta_model : estimator, optional
        Stacking: a scikit-learn classifier to use instead of the cross-validated logistic
        regression.
    cv : int
        Stacking: folds choosing the regularisation strength.
    random_state : int, optional

    Attributes
    ----------
    classes_ : ndarray
    members_ : list
        The members as kept (estimators; ``StoredModel`` for ONNX and boosters).
    member_names_ : list of str
    weights_ : ndarray
        Greedy and weights: one weight per member (sum 1).
    counts_, curve_, best_step_, order_
        Greedy: times each member was added, metric per step, step kept, members added.
    meta_model_ : estimator
        Stacking: the fitted meta-model (input: :func:`meta_features` of the members).

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.naive_bayes import GaussianNB
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> a = LogisticRegression(max_iter=5000).fit(X[:300], y[:300])
    >>> b = GaussianNB().fit(X[:300], y[:300])
    >>> ens = EnsembleClassifier([a, b], method="weights").fit(X[300:450], y[300:450])
    >>> ens.predict_proba(X[450:]).shape
    (119, 2)
    """

    def _check_task(self, task: str) -> None:
        if task == "regression":
            raise ModelError(
                "EnsembleClassifier combines classifiers, but the members are regressors.",
                fix="use EnsembleRegressor (or afterfit.build_ensemble, which picks it).",
            )

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (or stacked scores), ``(n, K)`` in ``classes_`` order."""
        return self._scores(X)

    def predict(self, X: Any) -> np.ndarray:
        """The class of highest ensemble probability."""
        return self.classes_[np.argmax(self._scores(X), axis=1)]


class EnsembleRegressor(RegressorMixin, _Ensemble):
    """An ensemble of trained regressors; see :class:`EnsembleClassifier` for the
    parameters (default metric ``"rmse"``; ``"weights"`` are non-negative least squares,
    ``"stacking"`` a ridge meta-model with cross-validated strength)."""

    def _check_task(self, task: str) -> None:
        if task != "regression":
            raise ModelError(
                "EnsembleRegressor combines regressors, but the members are classifiers.",
                fix="use EnsembleClassifier (or afterfit.build_ensemble, which picks it).",
            )

    def predict(self, X: Any) -> np.ndarray:
        """The ensemble's predictions."""
        return self._scores(X)


def _as_adapter(model: Any, member: Any) -> Any:
    from afterfit.models import as_model
    from afterfit.selection.ensemble_members import StoredModel

    if isinstance(member, StoredModel):
        return member.model()
    return model if hasattr(model, "predict_scores") else as_model(model)


def make_ensemble(members: Sequence[Any], **params: Any) -> _Ensemble:
    """An unfitted :class:`EnsembleClassifier` or :class:`EnsembleRegressor`, as the first
    member's task asks."""
    if not members:
        raise InvalidInputError(
            "an ensemble needs at least two trained members; got none.",
            fix="pass two or more fitted models.",
        )
    model = _as_adapter(members[0], as_member(members[0]))
    cls = EnsembleRegressor if model.task == "regression" else EnsembleClassifier
    return cls(list(members), **params)
