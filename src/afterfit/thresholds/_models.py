"""Decision wrappers around fitted estimators: scikit-learn compatible, skops-serialisable.

Both classes wrap an *already fitted* estimator (``fit`` does not refit it) and keep only
plain values beside it, so a skops file holding one loads with afterfit's
:func:`~afterfit.models.load_model` without ``trust``: their module prefix
``afterfit.thresholds.`` is trusted, and the wrapped estimator's types are checked as usual.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.metaestimators import available_if

from afterfit.errors import InvalidInputError, ModelError

#: The public module: skops files and pickles name the classes from here.
PUBLIC_MODULE = "afterfit.thresholds"


def unwrap_estimator(model: Any) -> Any:
    """The scikit-learn estimator behind ``model`` (an afterfit ``SklearnModel`` or the
    estimator itself)."""
    from afterfit.models.sklearn import SklearnModel

    if isinstance(model, SklearnModel):
        return model.estimator
    if not callable(getattr(model, "predict", None)):
        raise ModelError(
            f"the model, a {type(model).__name__}, is not a scikit-learn style estimator "
            "(no predict method), so it cannot be wrapped with a decision rule.",
            fix="pass the fitted scikit-learn estimator or pipeline the scores came from.",
        )
    return model


def _inner_has(name: str):
    return lambda self: hasattr(self.estimator, name)


def _check_fitted_inner(estimator: Any) -> bool:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return False
    except (TypeError, AttributeError):
        return hasattr(estimator, "classes_")
    return True


class _Wrapper(ClassifierMixin, BaseEstimator):
    """What both wrappers share: delegation to the fitted estimator."""

    estimator: Any

    def __sklearn_is_fitted__(self) -> bool:
        return self.estimator is not None and _check_fitted_inner(self.estimator)

    @property
    def classes_(self) -> np.ndarray:
        return self.estimator.classes_

    @property
    def n_features_in_(self) -> int:
        return self.estimator.n_features_in_

    @property
    def feature_names_in_(self) -> np.ndarray:
        return self.estimator.feature_names_in_

    def fit(self, X: Any = None, y: Any = None, **fit_params: Any) -> Any:
        """Fit the wrapped estimator only if it is not fitted yet; never refit it.

        A fitted estimator is kept as it is (the decision rule was chosen for it). An
        unfitted one, as :func:`sklearn.base.clone` makes, is fitted on ``X, y`` so that
        cross-validation tools can refit the wrapper with its decision rule fixed.

        Returns
        -------
        self
        """
        if not self.__sklearn_is_fitted__():
            if X is None or self.estimator is None:
                raise ModelError(
                    f"{type(self).__name__} wraps a fitted estimator; the one given (a "
                    f"{type(self.estimator).__name__}) is not fitted and there is no data to "
                    "fit it on.",
                    fix="fit the estimator first, then wrap it (or call fit(X, y)).",
                )
            self.estimator.fit(X, y, **fit_params)
        return self

    @available_if(_inner_has("predict_proba"))
    def predict_proba(self, X: Any) -> np.ndarray:
        """The wrapped estimator's probabilities, unchanged."""
        return self.estimator.predict_proba(X)

    @available_if(_inner_has("decision_function"))
    def decision_function(self, X: Any) -> np.ndarray:
        """The wrapped estimator's decision scores, unchanged."""
        return self.estimator.decision_function(X)


class ThresholdedModel(_Wrapper):
    """A fitted binary classifier that predicts with a chosen decision threshold.

    ``predict`` returns ``pos_label`` where the positive-class score is strictly greater
    than ``threshold``, the other class elsewhere; ``predict_proba`` and
    ``decision_function`` pass through; ``classes_`` are the estimator's.

    Parameters
    ----------
    estimator : fitted classifier
        Binary, with ``predict_proba`` or ``decision_function``.
    threshold : float
        Predict ``pos_label`` iff its score ``> threshold``.
    pos_label : optional
        The positive class (default: ``classes_[1]``).
    response_method : {"auto", "predict_proba", "decision_function"}
        The score that is thresholded. ``"auto"``: ``predict_proba`` when the estimator has
        it, else ``decision_function`` (whose 1-D output scores ``classes_[1]``; for
        ``pos_label = classes_[0]`` its negative is used), as afterfit scores models.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = ThresholdedModel(LogisticRegression(max_iter=5000).fit(X, y), threshold=0.8)
    >>> bool((model.predict(X) == (model.predict_proba(X)[:, 1] > 0.8)).all())
    True
    """

    __module__ = PUBLIC_MODULE

    def __init__(
        self,
        estimator: Any = None,
        threshold: float = 0.5,
        pos_label: Any = None,
        response_method: str = "auto",
    ) -> None:
        self.estimator = estimator
        self.threshold = threshold
        self.pos_label = pos_label
        self.response_method = response_method

    def _positive(self) -> tuple[int, np.ndarray]:
        classes = np.asarray(self.classes_)
        if classes.size != 2:
            raise ModelError(
                f"ThresholdedModel needs a binary classifier; this one has {classes.size} classes.",
                fix="for multiclass decisions use CostSensitiveModel with a cost matrix.",
            )
        if self.pos_label is None:
            return 1, classes
        for i, c in enumerate(classes.tolist()):
            if c == self.pos_label or str(c) == str(self.pos_label):
                return i, classes
        raise InvalidInputError(
            f"pos_label {self.pos_label!r} is not one of the classes {classes.tolist()}.",
            fix="pass one of the estimator's classes as pos_label.",
        )

    def _method(self) -> str:
        method = self.response_method
        if method == "auto":
            return (
                "predict_proba" if hasattr(self.estimator, "predict_proba")
                else "decision_function"
            )  # fmt: skip
        if method not in ("predict_proba", "decision_function"):
            raise InvalidInputError(
                f"response_method must be 'auto', 'predict_proba' or 'decision_function'; "
                f"got {method!r}.",
                fix="pass response_method='auto'.",
            )
        return method

    def positive_scores(self, X: Any) -> np.ndarray:
        """The score of ``pos_label`` that is compared with the threshold."""
        positive, _ = self._positive()
        method = self._method()
        out = np.asarray(getattr(self.estimator, method)(X), dtype=np.float64)
        if out.ndim == 2:
            return out[:, positive]
        return out if positive == 1 else -out

    def predict(self, X: Any) -> np.ndarray:
        """``pos_label`` where its score ``> threshold``, the other class elsewhere."""
        positive, classes = self._positive()
        flagged = self.positive_scores(X) > self.threshold
        return np.where(flagged, classes[positive], classes[1 - positive])


class CostSensitiveModel(_Wrapper):
    """A fitted classifier that predicts the class of minimum expected cost.

    ``predict`` returns ``classes_[argmin_j sum_i p_i C[i, j]]``, with ``p`` the estimator's
    ``predict_proba`` and ``C[i, j]`` the cost of predicting class ``j`` when the truth is
    class ``i`` (rows and columns in ``classes_`` order). Ties go to the first class.

    Parameters
    ----------
    estimator : fitted classifier with ``predict_proba``
    cost_matrix : array-like of shape (K, K)
    """

    __module__ = PUBLIC_MODULE

    def __init__(self, estimator: Any = None, cost_matrix: Any = None) -> None:
        self.estimator = estimator
        self.cost_matrix = cost_matrix

    def expected_costs(self, X: Any) -> np.ndarray:
        """Expected cost of predicting each class, ``(n, K)``."""
        C = np.asarray(self.cost_matrix, dtype=np.float64)
        K = len(self.classes_)
        if C.shape != (K, K):
            raise InvalidInputError(
                f"cost_matrix must be {K}x{K} (one row and column per class); got shape {C.shape}.",
                fix="pass costs[true][predicted] in the order of classes_.",
            )
        return np.asarray(self.estimator.predict_proba(X), dtype=np.float64) @ C

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.classes_)[np.argmin(self.expected_costs(X), axis=1)]
