"""Soft voting with optimised weights.

Classification: the weights live on the simplex, parametrised as ``w = softmax(theta)``,
and minimise the log loss (or the Brier score) of ``sum_j w_j p_j`` on the selection rows
with L-BFGS and the exact gradient, starting from uniform weights. Regression: non-negative
least squares of the target on the members' predictions (``scipy.optimize.nnls``), whose
feasible set holds the uniform weights. Either way the result is never worse than uniform
weights on the selection rows: if the optimiser ends worse, uniform weights are kept.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize, nnls

from afterfit.models._common import softmax
from afterfit.models.base import Task
from afterfit.selection.ensemble_metrics import score

__all__ = ["optimize_weights", "weights_objective"]

_EPS = np.finfo(np.float64).eps


def weights_objective(task: Task, metric: str) -> str:
    """The smooth loss the weights minimise for ``metric``: the metric itself when it is
    log loss, Brier score or a squared error, else log loss (classification) or squared
    error (regression)."""
    if task == "regression":
        return "squared_error"
    return "brier" if metric == "brier" else "log_loss"


def optimize_weights(scores: np.ndarray, y: np.ndarray, *, task: Task, metric: str) -> np.ndarray:
    """Weights of the members that minimise a smooth loss on the selection rows.

    Parameters
    ----------
    scores : ndarray
        ``(m, n, K)`` class probabilities, or ``(m, n)`` regression predictions.
    y : ndarray
        Class indices ``0..K-1``, or targets.
    task : {"binary", "multiclass", "regression"}
    metric : str
        Picks the loss (:func:`weights_objective`).

    Returns
    -------
    ndarray
        ``(m,)`` non-negative weights; they sum to 1 for classification (regression NNLS
        weights need not).

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0.0, 1.0, 2.0])
    >>> preds = np.array([[0.0, 1.0, 2.0], [5.0, 5.0, 5.0]])
    >>> optimize_weights(preds, y, task="regression", metric="rmse").round(6).tolist()
    [1.0, 0.0]
    """
    m = scores.shape[0]
    if task == "regression":
        w, _ = nnls(scores.T, y.astype(np.float64))
        uniform = np.full(m, 1.0 / m)
        if _mse(scores, y, w) > _mse(scores, y, uniform):
            return uniform
        return w
    objective = weights_objective(task, metric)
    n, K = scores.shape[1:]
    rows = np.arange(n)
    onehot = np.zeros((n, K))
    onehot[rows, y] = 1.0

    def loss_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w = softmax(theta[None, :])[0]
        p = np.tensordot(w, scores, axes=1)  # (n, K)
        if objective == "log_loss":
            p_true = np.maximum(p[rows, y], _EPS)
            loss = float(-np.log(p_true).mean())
            g = -(scores[:, rows, y] / p_true[None, :]).mean(axis=1)  # dL/dw_j
        else:
            resid = p - onehot
            loss = float((resid**2).sum(axis=1).mean())
            g = 2.0 * np.einsum("jnk,nk->j", scores, resid) / n
        return loss, w * (g - w @ g)  # chain rule through the softmax

    start = np.zeros(m)
    result = minimize(loss_grad, start, jac=True, method="L-BFGS-B", options={"maxiter": 500})
    w = softmax(result.x[None, :])[0]
    uniform = np.full(m, 1.0 / m)
    if loss_grad(result.x)[0] > loss_grad(start)[0]:
        return uniform
    # Weights the optimiser drove to ~0 are exactly 0: the ensemble then skips those models.
    w = np.where(w < 1e-6, 0.0, w)
    w = w / w.sum()
    chosen = float(score(metric, task, y, np.tensordot(w, scores, axes=1), n_classes=K))
    base = float(score(metric, task, y, np.tensordot(uniform, scores, axes=1), n_classes=K))
    if objective == metric and not chosen <= base:  # pruning tiny weights made it worse
        return softmax(result.x[None, :])[0]
    return w


def _mse(scores: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    return float(((w @ scores - y) ** 2).mean())
