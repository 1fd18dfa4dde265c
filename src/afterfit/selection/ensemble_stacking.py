"""Stacking: a regularised linear meta-model on the members' predictions.

The meta-features are those of scikit-learn's ``StackingClassifier`` /
``StackingRegressor`` (``stack_method="auto"``): for binary tasks each member's score of
the positive class, for multiclass tasks all of its class scores, members in order; for
regression each member's prediction. The default meta-model is a multinomial logistic
regression (ridge regression for regression tasks) whose regularisation strength is chosen
by cross-validation on the rows it is fitted on (``LogisticRegressionCV`` with log loss,
``RidgeCV``), then refitted there as a plain ``LogisticRegression``/``Ridge`` — a small,
skops-savable object.

:func:`cross_fitted_meta_predictions` scores the whole procedure (choosing the strength
included) by an outer cross-validation on the same rows: each row is predicted by a
meta-model that never saw it, so the stacking score on the selection rows is honest.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import clone

from afterfit.models.base import Task

__all__ = ["cross_fitted_meta_predictions", "fit_meta_model", "meta_features"]

#: Strengths searched by the default meta-models (C = 1e-3 ... 1e3 for the logistic one).
CS = np.logspace(-3, 3, 7)
RIDGE_ALPHAS = np.logspace(-4, 4, 17)


def meta_features(scores: np.ndarray, task: Task) -> np.ndarray:
    """The meta-model's input: ``(n, m)`` (binary, regression) or ``(n, m * K)``.

    Parameters
    ----------
    scores : ndarray
        ``(m, n, K)`` member class scores or ``(m, n)`` regression predictions.
    task : {"binary", "multiclass", "regression"}
    """
    if task == "regression":
        return np.ascontiguousarray(scores.T)
    if task == "binary":
        return np.ascontiguousarray(scores[:, :, 1].T)
    m, n, K = scores.shape
    return np.ascontiguousarray(scores.transpose(1, 0, 2).reshape(n, m * K))


def _folds(task: Task, n_splits: int, random_state: int | None) -> Any:
    from sklearn.model_selection import KFold, StratifiedKFold

    if task == "regression":
        return KFold(n_splits, shuffle=True, random_state=random_state)
    return StratifiedKFold(n_splits, shuffle=True, random_state=random_state)


def fit_meta_model(
    Z: np.ndarray,
    y: np.ndarray,
    *,
    task: Task,
    meta_model: Any = None,
    cv: int = 5,
    random_state: int | None = 0,
) -> Any:
    """Fit the meta-model on meta-features ``Z``.

    Parameters
    ----------
    Z : ndarray
        From :func:`meta_features`.
    y : ndarray
        Class indices or targets.
    task : {"binary", "multiclass", "regression"}
    meta_model : estimator, optional
        A scikit-learn estimator to use as is (cloned, then fitted). Default: the
        cross-validated logistic / ridge regression described in the module docstring.
    cv : int
        Folds of the cross-validation that picks the regularisation strength.
    random_state : int, optional

    Returns
    -------
    estimator
        The fitted meta-model.
    """
    if meta_model is not None:
        return clone(meta_model).fit(Z, y)
    if task == "regression":
        from sklearn.linear_model import Ridge, RidgeCV

        alpha = RidgeCV(alphas=RIDGE_ALPHAS).fit(Z, y).alpha_
        return Ridge(alpha=float(alpha)).fit(Z, y)
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV

    smallest = int(np.bincount(y).min())
    folds = max(2, min(cv, smallest))
    search = LogisticRegressionCV(
        Cs=CS, cv=_folds(task, folds, random_state), scoring="neg_log_loss",
        l1_ratios=(0.0,), use_legacy_attributes=False, max_iter=2000,
    ).fit(Z, y)  # fmt: skip
    return LogisticRegression(C=float(search.C_), max_iter=2000).fit(Z, y)


def meta_predict(meta: Any, Z: np.ndarray, task: Task, n_classes: int) -> np.ndarray:
    """Meta-model predictions: ``(n, K)`` probabilities or ``(n,)`` values."""
    if task == "regression":
        return np.asarray(meta.predict(Z), dtype=np.float64)
    proba = np.asarray(meta.predict_proba(Z), dtype=np.float64)
    # A meta-model fitted on rows missing a class has fewer columns: put them in place.
    seen = np.asarray(meta.classes_, dtype=np.int64)
    if seen.size == n_classes:
        return proba
    out = np.zeros((Z.shape[0], n_classes))
    out[:, seen] = proba
    return out


def cross_fitted_meta_predictions(
    Z: np.ndarray,
    y: np.ndarray,
    *,
    task: Task,
    n_classes: int,
    meta_model: Any = None,
    cv: int = 5,
    random_state: int | None = 0,
) -> np.ndarray:
    """Each row's meta-prediction from a meta-model fitted (strength chosen too) without it."""
    n_splits = cv
    if task != "regression":
        n_splits = max(2, min(cv, int(np.bincount(y).min())))
    out = np.zeros((Z.shape[0], n_classes)) if task != "regression" else np.zeros(Z.shape[0])
    for train, test in _folds(task, n_splits, random_state).split(Z, y):
        meta = fit_meta_model(
            Z[train], y[train], task=task, meta_model=meta_model, cv=cv, random_state=random_state
        )
        out[test] = meta_predict(meta, Z[test], task, n_classes)
    return out
