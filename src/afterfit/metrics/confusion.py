"""Metrics that depend on predicted labels only, from (batches of) confusion matrices.

Binary and multiclass evaluation share these formulas: both build confusion matrices of
shape ``(B, K, K)`` (rows: true class, columns: predicted class), one per resample, and
every label metric is a closed form of them. Undefined ratios (no predicted positives for
precision, say) are NaN, as scikit-learn's ``zero_division=np.nan``.
"""

from __future__ import annotations

import numpy as np


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def per_class(cm: np.ndarray, beta: float) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and F-beta of each class (one-vs-rest), shape ``(B, K)``."""
    tp = np.diagonal(cm, axis1=1, axis2=2)
    true_count = cm.sum(axis=2)
    pred_count = cm.sum(axis=1)
    precision = _ratio(tp, pred_count)
    recall = _ratio(tp, true_count)
    b2 = beta * beta
    # F-beta from counts (not from precision and recall) stays defined when one of them
    # is undefined but the other is zero, exactly as scikit-learn computes it.
    f1 = _ratio(2 * tp, true_count + pred_count)
    fbeta = _ratio((1 + b2) * tp, b2 * true_count + pred_count)
    return {"precision": precision, "recall": recall, "f1": f1, "fbeta": fbeta}


def accuracy(cm: np.ndarray) -> np.ndarray:
    return _ratio(np.trace(cm, axis1=1, axis2=2), cm.sum(axis=(1, 2)))


def balanced_accuracy(cm: np.ndarray) -> np.ndarray:
    recall = _ratio(np.diagonal(cm, axis1=1, axis2=2), cm.sum(axis=2))
    # Classes absent from y_true are left out, as scikit-learn does (with a warning).
    with np.errstate(invalid="ignore"):
        present = cm.sum(axis=2) > 0
        return np.where(
            present.any(axis=1),
            np.nansum(np.where(present, recall, 0.0), axis=1) / np.maximum(present.sum(1), 1),
            np.nan,
        )


def matthews_corrcoef(cm: np.ndarray) -> np.ndarray:
    """Gorodkin's multiclass MCC; 0 where undefined, as scikit-learn."""
    t_sum = cm.sum(axis=2)
    p_sum = cm.sum(axis=1)
    correct = np.trace(cm, axis1=1, axis2=2)
    n = t_sum.sum(axis=1)
    cov_tp = correct * n - np.einsum("bk,bk->b", t_sum, p_sum)
    cov_pp = n**2 - np.einsum("bk,bk->b", p_sum, p_sum)
    cov_tt = n**2 - np.einsum("bk,bk->b", t_sum, t_sum)
    den = cov_pp * cov_tt
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, cov_tp / np.sqrt(np.where(den > 0, den, 1.0)), 0.0)


def cohen_kappa(cm: np.ndarray) -> np.ndarray:
    n = cm.sum(axis=(1, 2))
    observed = _ratio(np.trace(cm, axis1=1, axis2=2), n)
    expected = _ratio(np.einsum("bk,bk->b", cm.sum(axis=2), cm.sum(axis=1)), n * n)
    return _ratio(observed - expected, 1.0 - expected)


def averages(values: np.ndarray, cm: np.ndarray, micro: np.ndarray) -> dict[str, np.ndarray]:
    """Macro (NaN classes left out), weighted (by true class weight) and micro averages."""
    support = cm.sum(axis=2)
    with np.errstate(invalid="ignore"):
        macro = np.nanmean(np.where(np.isnan(values), np.nan, values), axis=1)
        ok = ~np.isnan(values)
        weighted = _ratio(
            np.where(ok, values * support, 0.0).sum(axis=1), np.where(ok, support, 0.0).sum(1)
        )
    return {"macro": macro, "weighted": weighted, "micro": micro}
