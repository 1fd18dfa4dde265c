"""The tests behind slice gaps: Wald tests from bootstrap spreads, Holm's adjustment.

A slice and the rest of the rows are disjoint, so their bootstrap replicates are drawn
independently and the replicates of the gap are their differences (an unpaired test). The
p-value is Wald's, from the gap and the spread of its replicates, not a count of
replicates beyond zero: with hundreds of slice-metric pairs Holm's adjustment needs
p-values far below ``1 / n_resamples``, which counting cannot give.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN entries are left out and stay NaN).

    Controls the family-wise error rate under any dependence between the tests.

    Examples
    --------
    >>> holm(np.array([0.01, 0.04, 0.03])).round(3).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    m = tested.size
    if m == 0:
        return out
    order = tested[np.argsort(p[tested], kind="stable")]
    scaled = p[order] * (m - np.arange(m))
    out[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return out


def wald(
    gap: float, replicates: np.ndarray, confidence: float
) -> tuple[float, float, float, float]:
    """Standard error, interval and two-sided p-value of ``gap`` from its replicates.

    Returns ``(se, low, high, p)``; NaN where fewer than two replicates are finite or
    they do not vary.
    """
    finite = replicates[np.isfinite(replicates)]
    if finite.size < 2 or not np.isfinite(gap):
        return (np.nan, np.nan, np.nan, np.nan)
    se = float(np.std(finite, ddof=1))
    if not se > 0:
        return (se, np.nan, np.nan, np.nan)
    half = float(ndtri(0.5 + confidence / 2)) * se
    p = float(2 * ndtr(-abs(gap) / se))
    return se, gap - half, gap + half, p


def welch(
    a: np.ndarray, b: np.ndarray, confidence: float, *, one_sided: bool = False
) -> tuple[float, float, float, float]:
    """Difference of means ``mean(a) - mean(b)`` with a normal interval and p-value.

    ``one_sided``: the p-value of ``mean(a) > mean(b)``. Returns ``(gap, low, high, p)``.
    """
    if a.size < 2 or b.size < 2:
        return (np.nan, np.nan, np.nan, np.nan)
    gap = float(a.mean() - b.mean())
    se = float(np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size))
    if not se > 0:
        return (gap, np.nan, np.nan, np.nan)
    half = float(ndtri(0.5 + confidence / 2)) * se
    z = gap / se
    p = float(ndtr(-z)) if one_sided else float(2 * ndtr(-abs(z)))
    return gap, gap - half, gap + half, p
