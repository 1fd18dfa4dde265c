"""Views of a binary scorer from the one sort: gain, lift, KS, deciles, decision and cost
curves.

Every view is a function of the cumulative counts at the tie-group ends
(:class:`~afterfit.metrics.kernel.GroupCounts`), so the point estimate and a whole batch
of bootstrap resamples (``(B, d)`` counts) go through the same code, and nothing is sorted
again:

* **cumulative gain**: targeting the top fraction ``x`` of rows (by score) captures the
  fraction ``gain(x)`` of the positives; within a tie group rows are interchangeable, so
  the curve is linear between group ends (the expected capture of a random part of the
  group). **Lift** is ``gain(x) / x``: how many times the base rate the top ``x`` holds;
* **KS** (Kolmogorov-Smirnov): ``max(TPR - FPR)`` over thresholds, the largest gap between
  the score distributions of the two classes, and the threshold where it occurs;
* **decile table**: the rows cut into ten parts by score (tied rows kept together, so the
  parts may be unequal) with rows, positives, rate, lift and cumulative capture;
* **decision curve** (Vickers & Elkin 2006): the net benefit of treating the rows whose
  probability exceeds a threshold probability ``pt``,
  ``NB(pt) = TP/n - FP/n * pt / (1 - pt)``, beside treating everyone
  (``prevalence - (1 - prevalence) pt / (1 - pt)``) and no one (0). ``pt`` weighs a false
  positive against a true positive (odds ``pt / (1 - pt)``), so the curve needs
  probabilities;
* **cost curve** (Drummond & Holte 2006): normalised expected cost
  ``FNR * PC + FPR * (1 - PC)`` of the best threshold for each probability cost ``PC`` in
  [0, 1], the lower envelope of one line per ROC point (only the ROC convex hull matters).

As everywhere in afterfit, a row is predicted positive when its score is *strictly
greater* than the threshold.
"""

from __future__ import annotations

import numpy as np

from afterfit.metrics.kernel import GroupCounts, RankedScores

__all__ = [
    "COST_GRID",
    "GAIN_GRID",
    "NET_BENEFIT_GRID",
    "cost_curve",
    "decile_table",
    "gain_on_grid",
    "ks_statistic",
    "net_benefit",
    "net_benefit_groups",
    "treat_all",
]

#: Fractions of rows targeted, on which gain and lift are drawn and banded.
GAIN_GRID = np.linspace(0.0, 1.0, 101)
#: Threshold probabilities of the decision curve (0 and 1 excluded: the odds are 0, inf).
NET_BENEFIT_GRID = np.round(np.linspace(0.01, 0.99, 99), 2)
#: Probability costs of the cost curve.
COST_GRID = np.linspace(0.0, 1.0, 101)


def gain_on_grid(c: GroupCounts, grid: np.ndarray = GAIN_GRID) -> np.ndarray:
    """Cumulative gain at each fraction of rows targeted, ``(B, m)``; NaN rows without a
    positive."""
    B = c.pos.shape[0]
    out = np.full((B, grid.size), np.nan)
    for b in range(B):
        total, pos = c.total[b, -1], c.pos[b, -1]
        if pos <= 0 or total <= 0:
            continue
        x = np.concatenate([[0.0], c.total[b] / total])
        y = np.concatenate([[0.0], c.pos[b] / pos])
        out[b] = np.interp(grid, x, y)
    return out


def lift_from_gain(gain: np.ndarray, grid: np.ndarray = GAIN_GRID) -> np.ndarray:
    """Lift ``gain / fraction targeted``; at 0 rows targeted, the lift of the top group."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(grid > 0, gain / np.where(grid > 0, grid, 1.0), np.nan)


def ks_statistic(c: GroupCounts) -> tuple[np.ndarray, np.ndarray]:
    """KS statistic ``max(TPR - FPR)`` per row of the batch and the group where it occurs
    (the first, from the top, on a tie); NaN and -1 without both classes."""
    P, N = c.positives, c.negatives
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = c.pos / P[:, None] - (c.total - c.pos) / N[:, None]
    ok = (P > 0) & (N > 0)
    gap = np.where(ok[:, None], gap, -np.inf)
    where = np.argmax(gap, axis=1)
    stat = gap[np.arange(gap.shape[0]), where]
    return np.where(ok, np.maximum(stat, 0.0), np.nan), np.where(ok, where, -1)


def net_benefit_groups(ranked: RankedScores, grid: np.ndarray = NET_BENEFIT_GRID) -> np.ndarray:
    """For each threshold probability, the tie group through which rows score above it
    (-1: none does). Fixed by the sort, so every resample reads the same columns."""
    return np.array([ranked.group_of_position(ranked.n_above(float(t))) for t in grid])


def net_benefit(
    c: GroupCounts, groups: np.ndarray, grid: np.ndarray = NET_BENEFIT_GRID
) -> np.ndarray:
    """Net benefit ``TP/n - FP/n * pt/(1 - pt)`` at each threshold probability, ``(B, m)``."""
    n = c.total[:, -1:]
    g = np.maximum(groups, 0)
    tp = np.where(groups >= 0, c.pos[:, g], 0.0)
    fp = np.where(groups >= 0, c.total[:, g] - c.pos[:, g], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return tp / n - fp / n * (grid / (1 - grid))


def treat_all(c: GroupCounts, grid: np.ndarray = NET_BENEFIT_GRID) -> np.ndarray:
    """Net benefit of treating every row: ``prevalence - (1 - prevalence) pt / (1 - pt)``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        prevalence = (c.positives / c.total[:, -1])[:, None]
    return prevalence - (1 - prevalence) * (grid / (1 - grid))


#: Points left when the vectorised peeling of :func:`_roc_hull` hands over to the loop.
HULL_LOOP_POINTS = 4096


def _roc_hull(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the upper-left convex hull of ROC points sorted by ``x``.

    A point on or below the chord of its two neighbours is no hull vertex, so all such
    points are dropped at once, pass after pass (vectorised), which leaves the same hull;
    the monotone chain then runs on the few points left. Same indices as the chain alone.
    """
    idx = np.arange(x.size)
    while idx.size > HULL_LOOP_POINTS:
        a, b, c = idx[:-2], idx[1:-1], idx[2:]
        cross = (x[b] - x[a]) * (y[c] - y[a]) - (y[b] - y[a]) * (x[c] - x[a])
        keep = np.ones(idx.size, dtype=bool)
        keep[1:-1] = cross < 0
        if keep.all():
            break
        idx = idx[keep]
    return idx[_monotone_chain(x[idx], y[idx])]


def _monotone_chain(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the upper-left convex hull of points sorted by ``x`` (monotone chain)."""
    keep: list[int] = []
    for i in range(x.size):
        while len(keep) >= 2:
            a, b = keep[-2], keep[-1]
            # Drop b when it lies on or below the chord a -> i (not on the upper hull).
            if (x[b] - x[a]) * (y[i] - y[a]) - (y[b] - y[a]) * (x[i] - x[a]) >= 0:
                keep.pop()
            else:
                break
        keep.append(i)
    return np.array(keep)


def cost_curve(
    pos: np.ndarray, total: np.ndarray, grid: np.ndarray = COST_GRID
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cost curve of one scorer (1-D cumulative counts at the group ends).

    Returns
    -------
    cost : ndarray
        Normalised expected cost of the best threshold at each probability cost.
    fpr, tpr : ndarray
        The ROC convex-hull points whose lines form the envelope, including (0, 0) and
        (1, 1): the trivial "no one" and "everyone" classifiers.
    """
    P, N = pos[-1], total[-1] - pos[-1]
    if P <= 0 or N <= 0:
        return np.full(grid.size, np.nan), np.array([]), np.array([])
    fpr = np.concatenate([[0.0], (total - pos) / N])
    tpr = np.concatenate([[0.0], pos / P])
    hull = _roc_hull(fpr, tpr)
    hf, ht = fpr[hull], tpr[hull]
    # One line per hull point: cost(PC) = (1 - TPR) PC + FPR (1 - PC); the envelope is the
    # minimum over lines (a few points: the hull of a ROC curve is short).
    lines = (1 - ht)[:, None] * grid[None, :] + hf[:, None] * (1 - grid)[None, :]
    return lines.min(axis=0), hf, ht


def decile_table(ranked: RankedScores, c: GroupCounts, n_parts: int = 10) -> dict[str, np.ndarray]:
    """Rows cut into ``n_parts`` parts by score, from the top, at tie-group ends.

    Part ``k`` ends at the group end nearest to ``k/n_parts`` of the (weighted) rows, so
    tied rows stay in one part; a part may be empty when one tie group spans more than a
    tenth of the rows. Columns: ``part`` (1 = highest scores), ``rows``, ``positives``,
    ``rate``, ``lift`` (rate / overall rate), ``cumulative_capture`` (share of all
    positives in this part and those above), ``min_score``, ``max_score``.
    """
    total, pos = c.total[0], c.pos[0]
    n, P = total[-1], pos[-1]
    targets = n * np.arange(1, n_parts + 1) / n_parts
    # The group end whose cumulative weight is nearest to each target (the last is all).
    idx = np.searchsorted(total, targets, side="left")
    idx = np.minimum(idx, total.size - 1)
    prev = np.maximum(idx - 1, 0)
    nearer_prev = (idx > 0) & (np.abs(total[prev] - targets) < np.abs(total[idx] - targets))
    ends = np.where(nearer_prev, prev, idx)
    ends[-1] = total.size - 1
    ends = np.maximum.accumulate(ends)
    cum_rows = total[ends]
    cum_pos = pos[ends]
    rows = np.diff(cum_rows, prepend=0.0)
    positives = np.diff(cum_pos, prepend=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = positives / rows
        lift = rate / (P / n)
        capture = cum_pos / P
    # Score range of each part: from the first group after the previous end to this end.
    first_group = np.concatenate([[0], ends[:-1] + 1])
    thresholds = ranked.thresholds
    empty = rows <= 0
    max_score = np.where(empty, np.nan, thresholds[np.minimum(first_group, thresholds.size - 1)])
    min_score = np.where(empty, np.nan, thresholds[ends])
    return {
        "part": np.arange(1, n_parts + 1),
        "rows": rows,
        "positives": positives,
        "rate": rate,
        "lift": lift,
        "cumulative_capture": capture,
        "min_score": min_score,
        "max_score": max_score,
    }
