"""Analytic intervals: Wilson for proportions, DeLong for ROC AUC.

Both are exact closed forms, cheaper and (for small samples) better behaved than the
bootstrap; they apply to unweighted data. Weighted data falls back to the bootstrap.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def delong_covariance(ranked: Sequence[RankedScores]) -> tuple[np.ndarray, np.ndarray]:
    """ROC AUCs of several scorings of the same rows and their DeLong covariance matrix.

    The fast algorithm of Sun & Xu (2014): each scoring's structural components come from
    its own sort (:func:`placement_values`); they are put back in the original row order
    of the positives and of the negatives, so that component ``i`` of every scoring belongs
    to the same row, and their covariance across scorings gives the covariance of the AUCs
    (DeLong, DeLong & Clarke-Pearson, 1988)::

        S = S10 / m + S01 / n

    with ``S10``, ``S01`` the (ddof=1) covariance matrices of the positives' and the
    negatives' components and ``m``, ``n`` the numbers of positives and negatives.

    Parameters
    ----------
    ranked : sequence of RankedScores
        One per scoring, each built with ``keep_order=True`` from the same labels (same
        rows, same order), without sample weights.

    Returns
    -------
    auc : ndarray of shape (k,)
    cov : ndarray of shape (k, k)
        NaN when there are fewer than two positives or two negatives.

    Raises
    ------
    ValueError
        A scoring without its sort order, or with other labels than the first.
    """
    first = ranked[0]
    if any(r.order is None for r in ranked):
        raise ValueError("delong_covariance needs RankedScores built with keep_order=True.")
    n = first.n
    y = np.empty(n, dtype=np.int8)
    y[first.order] = first.y
    is_pos = y == 1
    m_pos = int(np.count_nonzero(is_pos))
    m_neg = n - m_pos
    # Index of each row among the positives (or among the negatives), in original order.
    index = np.empty(n, dtype=np.int64)
    index[is_pos] = np.arange(m_pos)
    index[~is_pos] = np.arange(m_neg)
    k = len(ranked)
    v10 = np.empty((k, m_pos))
    v01 = np.empty((k, m_neg))
    for j, r in enumerate(ranked):
        if r.n != n or not np.array_equal(y[r.order], r.y):
            raise ValueError("delong_covariance needs scorings of the same labelled rows.")
        p10, p01 = placement_values(r)
        pos = r.y == 1
        v10[j, index[r.order[pos]]] = p10
        v01[j, index[r.order[~pos]]] = p01
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = v10.mean(axis=1) if m_pos else np.full(k, np.nan)
    if m_pos < 2 or m_neg < 2:
        return auc, np.full((k, k), np.nan)
    cov = np.atleast_2d(np.cov(v10, ddof=1)) / m_pos + np.atleast_2d(np.cov(v01, ddof=1)) / m_neg
    return auc, cov
