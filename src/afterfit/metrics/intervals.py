"""Analytic intervals: Wilson for proportions, DeLong for ROC AUC.

Both are exact closed forms, cheaper and (for small samples) better behaved than the
bootstrap; they apply to unweighted data. Weighted data falls back to the bootstrap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import ndtri

from afterfit.metrics.binary import MetricKey
from afterfit.metrics.kernel import RankedScores
from afterfit.metrics.ranges import t_interval


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
    """ROC AUC, and its DeLong interval on the logit scale, from the one sort.

    DeLong's standard error is carried to ``logit(AUC)`` by the delta method, the normal
    interval is built there and mapped back (:func:`afterfit.metrics.ranges.t_interval`).
    It stays inside (0, 1) and is asymmetric near 1, where the plain ``AUC ± z se``, cut
    at 1, covers far too rarely: in benchmarks/coverage_ranges.py, at AUC 0.98 with 50
    rows, 76% against 89% (of which 8 points are samples without any interval), and 90%
    against 94% with 200 rows.

    Returns
    -------
    auc, low, high : float
        ``low == high == auc`` when the variance is 0 (every positive compares the same
        way with every negative); :func:`delong_method` then gives no interval.
    """
    v10, v01 = placement_values(ranked)
    if v10.size < 2 or v01.size < 2:
        return (np.nan, np.nan, np.nan)
    auc = float(v10.mean())
    var = v10.var(ddof=1) / v10.size + v01.var(ddof=1) / v01.size
    low, high, _ = t_interval(auc, float(np.sqrt(var)), z_value(confidence), (0.0, 1.0))
    return auc, low, high


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


def analytic_intervals(
    suite: Any, confidence: float, *, auc: bool = True
) -> dict[MetricKey, tuple[float, float, str]]:
    """The analytic intervals of a binary or multiclass suite: Wilson for the proportions,
    DeLong for ROC AUC; ``{key: (low, high, method)}``.

    This is the one default of every step that shows a model's own metrics
    (``evaluate``, ``compare``, ``calibrate``) on unweighted data, so the same accuracy
    gets the same interval wherever it is shown; metrics without a key here take the
    bootstrap. The caller checks that the data are unweighted (these formulas count rows).
    ``auc=False`` leaves out ROC AUC (binary; for callers that show only the metrics at
    the threshold, which DeLong's pass over every row would not serve).
    """
    from afterfit.metrics.binary import PROPORTIONS, BinarySuite
    from afterfit.metrics.multiclass import MulticlassSuite

    out: dict[MetricKey, tuple[float, float, str]] = {}
    if isinstance(suite, BinarySuite):
        if auc:
            out[("roc_auc", None)] = delong_method(suite.ranked, confidence)
        tn, fp, fn, tp = suite.confusion_matrices()[0].ravel()
        totals = {
            "accuracy": (tp + tn, tn + fp + fn + tp),
            "precision": (tp, tp + fp),
            "recall": (tp, tp + fn),
            "specificity": (tn, tn + fp),
        }
        for name in PROPORTIONS:
            out[(name, None)] = wilson_method(*totals[name], confidence)
    elif isinstance(suite, MulticlassSuite):
        cm = suite.confusion_matrices()[0]
        out[("accuracy", None)] = wilson_method(float(np.trace(cm)), float(cm.sum()), confidence)
        for k, c in enumerate(suite.class_names):
            ranked = suite.ranked[k]
            if 0 < ranked.y.sum() < ranked.n:
                out[("roc_auc", c)] = delong_method(ranked, confidence)
            tp, pred_k, true_k = cm[k, k], cm[:, k].sum(), cm[k, :].sum()
            out[("precision", c)] = wilson_method(tp, pred_k, confidence)
            out[("recall", c)] = wilson_method(tp, true_k, confidence)
    return out


def wilson_method(successes: float, total: float, confidence: float) -> tuple[float, float, str]:
    """:func:`wilson_interval` with its method text (``"none (...)"`` without rows)."""
    if total <= 0:
        return np.nan, np.nan, "none (no rows to count)"
    return (*wilson_interval(successes, total, confidence), "wilson")


def delong_method(ranked: RankedScores, confidence: float) -> tuple[float, float, str]:
    """:func:`delong_interval` with its method text; no interval where its variance is 0.

    The variance is 0 when every positive compares the same way with every negative: all
    outrank them (AUC 1), none does (AUC 0), or all are tied (AUC 0.5). The interval would
    be a single point, a certainty that a finite sample cannot give, so there is none and
    the method says why.
    """
    auc, lo, hi = delong_interval(ranked, confidence)
    if not np.isfinite(auc):
        return np.nan, np.nan, "none (DeLong needs two positives and two negatives)"
    if lo == hi:
        return (
            np.nan,
            np.nan,
            f"none (DeLong variance is 0 at AUC {auc:.6g}: every positive compares the "
            "same way with every negative, so no spread and no interval)",
        )
    return lo, hi, "delong"
