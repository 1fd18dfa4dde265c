"""Scoring combined predictions by an afterfit metric name, fast where it matters.

Greedy selection scores every candidate at every step, so the default metrics (log loss
and Brier score for classification; RMSE, MSE and MAE for regression) are closed forms
vectorised over candidates. Any other metric of afterfit's suites (``accuracy``,
``roc_auc``, ``f1_macro``, ``r2``...) is computed by the same suite the evaluation uses,
one candidate at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from afterfit.comparison.results import LOWER_IS_BETTER
from afterfit.errors import InvalidInputError
from afterfit.metrics.binary import BinarySuite
from afterfit.metrics.multiclass import MulticlassSuite
from afterfit.metrics.regression import RegressionSuite
from afterfit.models.base import Task

__all__ = ["DEFAULT_METRIC", "available_metrics", "check_metric", "lower_is_better", "score"]

#: The metric each task selects and weights by when none is given.
DEFAULT_METRIC: dict[str, str] = {"binary": "log_loss", "multiclass": "log_loss",
                                  "regression": "rmse"}  # fmt: skip
_FAST = frozenset({"log_loss", "brier", "rmse", "mse", "mae"})
_EPS = np.finfo(np.float64).eps


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of ``metric`` is better."""
    return metric in LOWER_IS_BETTER


def _suite(task: Task, y: np.ndarray, pred: np.ndarray, n_classes: int):
    if task == "binary":
        return BinarySuite(y, pred[:, 1], threshold=0.5, probabilities=True)
    if task == "multiclass":
        return MulticlassSuite(
            y, pred, labels=np.argmax(pred, axis=1),
            class_names=[str(k) for k in range(n_classes)], probabilities=True,
        )  # fmt: skip
    return RegressionSuite(y, pred)


def available_metrics(task: Task) -> list[str]:
    """Names of the metrics a combination of ``task`` predictions can be selected by."""
    if task == "regression":
        return ["rmse", "mse", "mae", "r2", "explained_variance", "mape", "median_ae"]
    k = 2 if task == "binary" else 3
    y = np.arange(k * 2) % k
    p = np.full((y.size, k), 1.0 / k)
    return [name for name, cls in _suite(task, y, p, k).keys() if cls is None]


def check_metric(metric: str | None, task: Task) -> str:
    """``metric`` (or the task's default) after checking the task has it."""
    if metric is None:
        return DEFAULT_METRIC[task]
    names = available_metrics(task)
    if metric not in names:
        raise InvalidInputError(
            f"metric {metric!r} is not a {task} metric afterfit can select an ensemble by.",
            fix=f"pass one of: {', '.join(names)}.",
        )
    return metric


def score(
    metric: str, task: Task, y: np.ndarray, pred: np.ndarray, *, n_classes: int = 0
) -> np.ndarray:
    """``metric`` of each candidate prediction.

    Parameters
    ----------
    metric : str
    task : {"binary", "multiclass", "regression"}
    y : ndarray
        Classification: class indices ``0..K-1``; regression: targets.
    pred : ndarray
        Candidates stacked on the first axis: ``(c, n, K)`` class probabilities or
        ``(c, n)`` regression predictions; a single prediction without that axis works too.
    n_classes : int
        K (classification).

    Returns
    -------
    ndarray
        ``(c,)`` values (a 0-d array for a single prediction).
    """
    single = pred.ndim == (1 if task == "regression" else 2)
    P = pred[None] if single else pred
    if metric in _FAST:
        values = _fast(metric, task, y, P)
    else:
        K = n_classes or (P.shape[2] if P.ndim == 3 else 0)
        values = np.array([float(_suite(task, y, p, K).compute()[(metric, None)][0]) for p in P])
    return values[0] if single else values


def _fast(metric: str, task: Task, y: np.ndarray, P: np.ndarray) -> np.ndarray:
    if task == "regression":
        err = P - y[None, :]
        if metric == "mae":
            return np.abs(err).mean(axis=1)
        mse = (err**2).mean(axis=1)
        return np.sqrt(mse) if metric == "rmse" else mse
    rows = np.arange(y.size)
    if metric == "log_loss":
        if task == "binary":  # afterfit's binary log loss reads the positive column only
            p1 = np.clip(P[:, :, 1], _EPS, 1 - _EPS)
            return -np.where(y[None, :] == 1, np.log(p1), np.log1p(-p1)).mean(axis=1)
        p_true = np.clip(P[:, rows, y], _EPS, 1 - _EPS)
        return -np.log(p_true).mean(axis=1)
    if metric == "brier":
        if task == "binary":
            return ((y[None, :] - P[:, :, 1]) ** 2).mean(axis=1)
        onehot = np.zeros(P.shape[1:])
        onehot[rows, y] = 1.0
        return ((P - onehot[None]) ** 2).sum(axis=2).mean(axis=1)
    raise InvalidInputError(f"metric {metric!r} is not a classification metric.")


def best_index(values: Sequence[float] | np.ndarray, metric: str) -> int:
    """Index of the best value (the first of equal ones); NaN never wins."""
    v = np.asarray(values, dtype=np.float64)
    v = np.where(np.isfinite(v), v, np.inf if lower_is_better(metric) else -np.inf)
    return int(np.argmin(v) if lower_is_better(metric) else np.argmax(v))
