"""Analytic intervals: Wilson for proportions, DeLong for ROC AUC.

Both are exact closed forms, cheaper and (for small samples) better behaved than the
bootstrap; they apply to unweighted data. Weighted data falls back to the bootstrap.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from afterfit.metrics.kernel import RankedScores


def z_value(confidence: float) -> float:
    return float(ndtri(0.5 + confidence / 2))


def wilson_interval(successes: float, total: float, confidence: float) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion."""
    if total <= 0:
        return (np.nan, np.nan)
    z = z_value(confidence)
    p = successes / total
    den = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / den
    half = z * np.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / den
    # At 0/n and n/n the ends equal the estimate; round-off must not push them past it.
    return float(min(max(0.0, centre - half), p)), float(max(min(1.0, centre + half), p))


def placement_values(ranked: RankedScores) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components from the one sort (Sun & Xu, 2014).

    For each positive, the fraction of negatives it outranks (ties count one half); for
    each negative, the fraction of positives that outrank it. O(n) after the sort.
    """
    y = ranked.y
    ends = ranked.group_end
    starts = np.concatenate([[0], ends[:-1] + 1])
    pos_cum = np.cumsum(y, dtype=np.float64)[ends]
    group_pos = np.diff(pos_cum, prepend=0.0)
    group_size = (ends - starts + 1).astype(np.float64)
    neg_cum = (ends + 1) - pos_cum
    group_neg = group_size - group_pos
    P, N = pos_cum[-1], neg_cum[-1]
    group_of_row = np.repeat(np.arange(ends.size), (ends - starts + 1))
    # Negatives ranked below a positive's group, plus half of the tied ones.
    v10_group = (N - neg_cum + 0.5 * group_neg) / N
    # Positives ranked above a negative's group, plus half of the tied ones.
    v01_group = (pos_cum - group_pos + 0.5 * group_pos) / P
    is_pos = y == 1
    return v10_group[group_of_row[is_pos]], v01_group[group_of_row[~is_pos]]


def delong_interval(ranked: RankedScores, confidence: float) -> tuple[float, float, float]:
    """ROC AUC, and its DeLong interval, from the one sort.

    Returns
    -------
    auc, low, high : float
    """
    v10, v01 = placement_values(ranked)
    if v10.size < 2 or v01.size < 2:
        return (np.nan, np.nan, np.nan)
    auc = float(v10.mean())
    var = v10.var(ddof=1) / v10.size + v01.var(ddof=1) / v01.size
    half = z_value(confidence) * np.sqrt(var)
    return auc, float(max(0.0, auc - half)), float(min(1.0, auc + half))
