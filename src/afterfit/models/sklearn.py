"""Adapter for scikit-learn estimators and pipelines, and anything with their API.

XGBoost's and LightGBM's scikit-learn wrappers (``XGBClassifier``, ``LGBMRegressor``...)
work through the same adapter.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from afterfit.errors import ModelError, SchemaError
from afterfit.models._common import (
    as_classes,
    check_task,
    check_task_classes,
    lightgbm_categories,
    short_list,
    task_from_n_classes,
    to_frame,
)
from afterfit.models.base import Task
from afterfit.models.boosters import XGB_FEATURE_TYPES

__all__ = ["SklearnModel", "check_sklearn_fitted", "estimator_kind"]

_AUTO_NAME = re.compile(r"^(Column_|f)\d+$")


def estimator_kind(estimator: Any) -> Literal["classifier", "regressor"] | None:
    """Whether ``estimator`` is a classifier, a regressor, or neither as far as we can tell.

    Uses scikit-learn's ``is_classifier`` / ``is_regressor`` and falls back to the
    ``_estimator_type`` attribute for objects that only imitate the scikit-learn API.
    """
    from sklearn.base import is_classifier, is_regressor

    try:
        if is_classifier(estimator):
            return "classifier"
        if is_regressor(estimator):
            return "regressor"
    except Exception:  # objects without __sklearn_tags__
        pass
    kind = getattr(estimator, "_estimator_type", None)
    if kind in ("classifier", "regressor"):
        return kind
    return None


def check_sklearn_fitted(estimator: Any) -> None:
    """Raise :class:`ModelError` when ``estimator`` is a scikit-learn estimator not yet fitted."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(estimator)
    except NotFittedError as exc:
        raise ModelError(
            f"The model, a {type(estimator).__name__}, has not been fitted: afterfit "
            "evaluates trained models only.",
            fix="fit it first (model.fit(X, y)), then pass the fitted model.",
        ) from exc
    except (TypeError, AttributeError):
        # Not a scikit-learn estimator proper (no fit method or no tags): ask the model
        # (CatBoost has is_fitted()), else check the convention of attributes ending in "_".
        is_fitted = getattr(estimator, "is_fitted", None)
        if callable(is_fitted):
            try:
                fitted = bool(is_fitted())
            except Exception:
                fitted = True
            if fitted:
                return
        fitted = any(
            k.endswith("_") and not k.startswith("__") for k in getattr(estimator, "__dict__", {})
        )
        if not fitted and not hasattr(estimator, "classes_"):
            raise ModelError(
                f"The model, a {type(estimator).__name__}, looks unfitted: it has no "
                "fitted attributes (names ending in '_').",
                fix="fit it first (model.fit(X, y)), then pass the fitted model.",
            ) from None


def _feature_names(estimator: Any) -> list[str] | None:
    # scikit-learn records feature_names_in_ only for real column names: trust them all.
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    names = _booster_feature_names(estimator)
    if names is None:
        return None
    names = [str(n) for n in names]
    if names and all(_AUTO_NAME.match(n) for n in names):
        # XGBoost/LightGBM name numpy columns f0.. / Column_0..: not real names.
        return None
    return names


def _booster_feature_names(estimator: Any) -> list[str] | None:
    get_booster = getattr(estimator, "get_booster", None)  # XGBoost
    if callable(get_booster):
        try:
            return get_booster().feature_names
        except Exception:
            return None
    booster = getattr(estimator, "booster_", None)  # LightGBM
    if booster is not None and hasattr(booster, "feature_name"):
        try:
            return list(booster.feature_name())
        except Exception:
            return None
    return None


def _feature_dtypes(estimator: Any, names: list[str] | None) -> dict[str, str] | None:
    if names is None:
        return None
    get_booster = getattr(estimator, "get_booster", None)
    if callable(get_booster):
        try:
            types = get_booster().feature_types
        except Exception:
            return None
        if types is not None and len(types) == len(names):
            return {n: XGB_FEATURE_TYPES.get(t, "any") for n, t in zip(names, types, strict=True)}
    return None


class SklearnModel:
    """A fitted scikit-learn estimator or pipeline seen through the ``Model`` protocol.

    Parameters
    ----------
    estimator : object
        A fitted estimator with the scikit-learn API: ``predict`` and, for classifiers,
        ``classes_`` and ``predict_proba`` or ``decision_function``. Pipelines, XGBoost and
        LightGBM scikit-learn wrappers work too.
    task : {"binary", "multiclass", "regression"}, optional
        Overrides the task inferred from the estimator (a classifier with two classes is
        ``"binary"``, with more ``"multiclass"``; a regressor ``"regression"``).
    classes : sequence, optional
        Labels to report instead of the estimator's ``classes_``, in the same order (for
        example the original labels of an XGBoost model trained on 0..k-1).

    Attributes
    ----------
    task, classes_, feature_names, scores_are_probabilities
        As in :class:`~afterfit.models.base.Model`.
    n_features : int or None
        ``n_features_in_`` of the estimator.
    feature_dtypes : dict or None
        Expected dtype per feature, when the estimator records them (XGBoost).
    input_dtype : None
        Estimators take frames, not a single typed matrix.
    accepted_types : tuple of str
        For a model read by :func:`~afterfit.models.load_model` from a skops file: the
        scikit-learn internal types (trees, neighbour trees...) it was allowed to hold
        after validation (:mod:`afterfit.models.skops_checks`); empty otherwise.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = load_iris(return_X_y=True, as_frame=True)
    >>> model = SklearnModel(LogisticRegression(max_iter=500).fit(X, y))
    >>> model.task, model.predict_scores(X).shape
    ('multiclass', (150, 3))
    """

    accepted_types: tuple[str, ...] = ()

    def __init__(
        self,
        estimator: Any,
        *,
        task: Task | None = None,
        classes: Sequence[Any] | np.ndarray | None = None,
    ) -> None:
        if not callable(getattr(estimator, "predict", None)):
            raise ModelError(
                f"The model, a {type(estimator).__name__}, has no 'predict' method, so it "
                "does not follow the scikit-learn API.",
                fix="pass a fitted scikit-learn estimator or pipeline, or an object with "
                "predict (and predict_proba or decision_function for classifiers).",
            )
        check_sklearn_fitted(estimator)
        task = check_task(task)
        classes_arg = as_classes(classes)
        kind = estimator_kind(estimator)
        own = getattr(estimator, "classes_", None)
        name = type(estimator).__name__
        if own is not None:
            own = np.asarray(own)
            if own.ndim != 1 or (own.dtype == object and any(np.ndim(c) for c in own)):
                raise ModelError(
                    f"The model, a {name}, is a multi-output classifier (its classes_ is a "
                    "list of arrays); afterfit evaluates single-output models only.",
                    fix="evaluate each output with its own single-output estimator.",
                )
        if task is None:
            if kind == "regressor" or (kind is None and own is None and classes_arg is None):
                task = "regression"
            else:
                n = len(classes_arg if classes_arg is not None else own if own is not None else [])
                if n < 2:
                    raise ModelError(
                        f"The model, a {name}, is a classifier but its classes cannot be "
                        "read (no classes_ attribute with two or more labels).",
                        fix="pass classes=[...] in the order of its predict_proba columns.",
                    )
                task = task_from_n_classes(n)
        if task == "regression":
            if kind == "classifier":
                raise ModelError(
                    f"The model, a {name}, is a classifier, but the task given is 'regression'.",
                    fix="leave task out, or pass task='binary' or 'multiclass'.",
                )
            self.classes_: np.ndarray | None = None
            self._relabel: dict[Any, Any] | None = None
            self.scores_are_probabilities = False
        else:
            if kind == "regressor":
                raise ModelError(
                    f"The model, a {name}, is a regressor, but the task given is {task!r}.",
                    fix="leave task out, or pass task='regression'.",
                )
            if own is None and classes_arg is None:
                raise ModelError(
                    f"The model, a {name}, has no classes_ attribute, which a classifier "
                    "needs to label its score columns.",
                    fix="pass classes=[...] in the order of its score columns.",
                )
            if own is not None and classes_arg is not None and len(own) != len(classes_arg):
                raise ModelError(
                    f"The argument 'classes' has {len(classes_arg)} labels but the model, a "
                    f"{name}, has {len(own)} classes ({short_list(own)}).",
                    fix="pass one label per model class, in the order of classes_.",
                )
            self.classes_ = classes_arg if classes_arg is not None else own
            check_task_classes(task, self.classes_, what=f"The model, a {name},")
            self._relabel = (
                dict(zip(own.tolist(), classes_arg.tolist(), strict=True))
                if own is not None and classes_arg is not None
                else None
            )
            if hasattr(estimator, "predict_proba"):
                self.scores_are_probabilities = True
            elif hasattr(estimator, "decision_function"):
                self.scores_are_probabilities = False
            else:
                raise ModelError(
                    f"The model, a {name}, is a classifier with neither predict_proba nor "
                    "decision_function, so it gives no scores to evaluate.",
                    fix="use a classifier that gives probabilities or decision scores (for "
                    "SVC, fit it with probability=True).",
                )
        self.estimator = estimator
        self.task: Task = task
        # A wrapper that decides at its own threshold (afterfit's ThresholdedModel,
        # scikit-learn's FixedThresholdClassifier / TunedThresholdClassifierCV) is evaluated
        # at that threshold, not at the default.
        self.decision_threshold, self.decision_pos_label = (
            _decision_rule(estimator, self.scores_are_probabilities)
            if task == "binary"
            else (None, None)
        )
        # A cost-sensitive wrapper decides by minimum expected cost: C[true, predicted].
        costs = getattr(estimator, "cost_matrix", None) if task == "multiclass" else None
        self.decision_costs: np.ndarray | None = (
            None if costs is None else np.asarray(costs, dtype=np.float64)
        )
        self.feature_names: list[str] | None = _feature_names(estimator)
        n = getattr(estimator, "n_features_in_", None)
        self.n_features: int | None = int(n) if n is not None else None
        if self.n_features is None and self.feature_names is not None:
            self.n_features = len(self.feature_names)
        self.feature_dtypes: dict[str, str] | None = _feature_dtypes(estimator, self.feature_names)
        #: Columns the model takes but never reads (a ColumnTransformer's dropped ones): data
        #: may leave them out.
        self.unread_features: tuple[str, ...] = ()
        if self.feature_names is not None:
            from afterfit.models.used_columns import used_columns

            try:
                read = set(used_columns(estimator, list(self.feature_names)))
            except Exception:  # an unusual transformer: every column counts as read
                read = set(self.feature_names)
            self.unread_features = tuple(c for c in self.feature_names if c not in read)
        self.input_dtype: str | None = None

    def __repr__(self) -> str:
        return f"SklearnModel({type(self.estimator).__name__}, task={self.task!r})"

    def _prepare(self, X: Any) -> Any:
        X = to_frame(X)
        if self.feature_names is None:
            return X.to_numpy() if isinstance(X, pd.DataFrame) else X
        if isinstance(X, np.ndarray):
            if X.ndim != 2 or X.shape[1] != len(self.feature_names):
                raise SchemaError(
                    f"The input has shape {X.shape}, but the model takes "
                    f"{len(self.feature_names)} columns ({short_list(self.feature_names)}).",
                    fix="pass a frame with the model's columns, or an array with one column "
                    "per feature in the model's order.",
                )
            return pd.DataFrame(X, columns=self.feature_names)
        booster = getattr(self.estimator, "booster_", None)  # a LightGBM wrapper
        return lightgbm_categories(booster, X) if booster is not None else X

    def predict_scores(self, X: Any) -> np.ndarray:
        """Scores for ``X``.

        Parameters
        ----------
        X : pandas.DataFrame, numpy.ndarray or polars.DataFrame
            Feature rows.

        Returns
        -------
        numpy.ndarray
            Classification: ``(n, n_classes)`` probabilities from ``predict_proba``, or
            decision scores from ``decision_function`` (a binary 1-D score ``d`` becomes
            the columns ``[-d, d]``). Regression: ``(n,)`` predictions.
        """
        Xp = self._prepare(X)
        if self.task == "regression":
            return np.asarray(self.estimator.predict(Xp), dtype=np.float64).reshape(-1)
        if self.scores_are_probabilities:
            scores = np.asarray(self.estimator.predict_proba(Xp), dtype=np.float64)
        else:
            scores = np.asarray(self.estimator.decision_function(Xp), dtype=np.float64)
            if scores.ndim == 1:
                scores = np.column_stack([-scores, scores])
        return scores

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels (classification) or values (regression) from ``predict``."""
        pred = np.asarray(self.estimator.predict(self._prepare(X)))
        if self.task == "regression":
            return pred.astype(np.float64).reshape(-1)
        if self._relabel is not None:
            pred = np.array([self._relabel[p] for p in pred.tolist()], dtype=self.classes_.dtype)
        return pred


def _decision_rule(estimator: Any, probabilities: bool) -> tuple[float | None, Any]:
    """The threshold and positive class a thresholding wrapper decides with, if any.

    Only when the wrapper thresholds the same score afterfit reads (``predict_proba`` when
    there is one, else ``decision_function``); otherwise ``(None, None)``.
    """
    threshold = getattr(estimator, "best_threshold_", None)
    if threshold is None:
        threshold = getattr(estimator, "threshold", None)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float | np.floating):
        return None, None
    method = getattr(estimator, "response_method", "auto")
    ours = "predict_proba" if probabilities else "decision_function"
    if method not in ("auto", ours):
        return None, None
    return float(threshold), getattr(estimator, "pos_label", None)
