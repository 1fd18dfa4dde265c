"""The one kernel behind every ranking metric and curve.

Scores are sorted once (descending). Rows with equal scores form a *tie group*; every
threshold that can matter is a group boundary. Cumulative (weighted) counts of positives
and of all rows at the group ends give ROC, PR, ROC AUC, average precision and the
confusion counts at any threshold.

The same sorted order serves the bootstrap: a resample is a vector of integer
multiplicities over the sorted rows, so a batch of resamples is a weight *matrix*
``W`` of shape ``(B, n)`` and no resample is ever sorted again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RankedScores:
    """Scores sorted once, with labels and weights carried along.

    Attributes
    ----------
    order : ndarray of int or None
        ``scores[order]`` is sorted in descending order (``None`` when not kept).
    y : ndarray of int8
        1 for positives, 0 for negatives, in sorted order.
    scores : ndarray of float
        Scores in sorted (descending) order.
    weight : ndarray of float or None
        Sample weights in sorted order; ``None`` means every row weighs 1.
    group_end : ndarray of int
        Index (in sorted order) of the last row of each tie group.
    """

    order: np.ndarray | None
    y: np.ndarray
    scores: np.ndarray
    weight: np.ndarray | None
    group_end: np.ndarray

    @classmethod
    def from_arrays(
        cls,
        y01: np.ndarray,
        scores: np.ndarray,
        weight: np.ndarray | None = None,
        *,
        keep_order: bool = True,
    ) -> RankedScores:
        # Tie order is irrelevant (counts are read at group ends), so the fast unstable
        # SIMD sort is enough (about 4x faster than a stable one); reversing the ascending
        # order is a view, so descending costs no negated copy of the scores.
        order = np.argsort(scores)[::-1]
        sorted_scores = scores[order]
        n = sorted_scores.size
        last_of_group = np.empty(n, dtype=bool)
        np.not_equal(sorted_scores[1:], sorted_scores[:-1], out=last_of_group[:-1])
        last_of_group[-1] = True
        group_end = np.flatnonzero(last_of_group)
        del last_of_group
        if n < 2**31:
            group_end = group_end.astype(np.int32)
        return cls(
            order=order if keep_order else None,
            y=np.asarray(y01).astype(np.int8, copy=False)[order],
            scores=sorted_scores,
            weight=None if weight is None else np.asarray(weight, dtype=float)[order],
            group_end=group_end,
        )

    @property
    def n(self) -> int:
        return self.y.size

    @property
    def thresholds(self) -> np.ndarray:
        """The distinct scores, descending: one per tie group."""
        return self.scores[self.group_end]

    def n_above(self, threshold: float) -> int:
        """Number of rows whose score is strictly greater than ``threshold``."""
        # The reversed view is ascending: count the rows <= threshold there.
        return self.n - int(np.searchsorted(self.scores[::-1], threshold, side="right"))

    def group_of_position(self, position: int) -> int:
        """Index of the tie group that ends just before sorted row ``position`` (or -1)."""
        if position <= 0:
            return -1
        return int(np.searchsorted(self.group_end, position - 1))

    def counts_at_ends(self) -> tuple[np.ndarray, np.ndarray]:
        """Cumulative positive and total weight at each group end, for the sample weights.

        1-D, without any ``(n,)`` float temporary beyond one cumulative sum.
        """
        ends = self.group_end
        if self.weight is None:
            dtype = np.int32 if self.n < 2**31 else np.int64
            pos = np.cumsum(self.y, dtype=dtype)[ends].astype(np.float64)
            total = ends.astype(np.float64)
            total += 1
            return pos, total
        pos = np.cumsum(self.weight * self.y)[ends]
        return pos, np.cumsum(self.weight)[ends]

    def cumulative(self, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cumulative weight of positives and of all rows at each group end, per row of W.

        Parameters
        ----------
        W : ndarray of shape (B, n)
            Row weights in sorted order, one row per resample.

        Returns
        -------
        pos, total : ndarray of shape (B, d)
        """
        pos = np.cumsum(W * self.y, axis=1)
        total = np.cumsum(W, axis=1)
        if self.group_end.size == self.n:  # no ties: every row ends a group
            return pos, total
        return pos[:, self.group_end], total[:, self.group_end]


#: A slice of groups, or an array of group indices.
Rows = slice | np.ndarray

#: Cells per block when a computation over all groups walks them in column blocks: bounds
#: every temporary at a few tens of MB whatever the data size.
BLOCK_CELLS = 1 << 22


def _blocks(B: int, d: int) -> list[slice]:
    width = max(1, BLOCK_CELLS // max(B, 1))
    return [slice(a, min(d, a + width)) for a in range(0, d, width)]


def roc_auc_from_counts(tp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Area under the ROC curve from cumulative counts at group ends, per row.

    ``tp`` and ``fp`` have shape ``(B, d)``; the last column holds the totals. Equals the
    trapezoidal area of scikit-learn's ``roc_curve`` (ties count one half).
    """
    B, d = tp.shape
    area = np.zeros(B)
    prev_tp, prev_fp = np.zeros((B, 1)), np.zeros((B, 1))
    for cols in _blocks(B, d):
        t, f = tp[:, cols], fp[:, cols]
        # Trapezoid: each step in fp pairs with the sum of tp before and after it.
        d_fp = np.diff(f, axis=1, prepend=prev_fp)
        t_pair = t + np.concatenate([prev_tp, t[:, :-1]], axis=1)
        area += np.einsum("bd,bd->b", d_fp, t_pair)
        prev_tp, prev_fp = t[:, -1:], f[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        return 0.5 * area / (tp[:, -1] * fp[:, -1])


def average_precision_from_counts(tp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Average precision, ``sum_k (R_k - R_{k-1}) P_k``, as scikit-learn computes it."""
    B, d = tp.shape
    total = np.zeros(B)
    prev_tp = np.zeros((B, 1))
    for cols in _blocks(B, d):
        t, f = tp[:, cols], fp[:, cols]
        d_tp = np.diff(t, axis=1, prepend=prev_tp)
        denom = t + f
        # A group with no weight adds no recall, so its undefined precision never counts.
        precision = np.divide(t, denom, out=np.zeros_like(t), where=denom > 0)
        total += np.einsum("bd,bd->b", d_tp, precision)
        prev_tp = t[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / tp[:, -1]


def roc_xy(tp: np.ndarray, fp: np.ndarray) -> Callable[[Rows], tuple[np.ndarray, np.ndarray]]:
    """(false positive rate, true positive rate) of the groups in a slice (1-D counts)."""
    P, N = tp[-1], fp[-1]

    def xy(rows: Rows) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(invalid="ignore", divide="ignore"):
            return fp[rows] / N, tp[rows] / P

    return xy


def pr_xy(tp: np.ndarray, fp: np.ndarray) -> Callable[[Rows], tuple[np.ndarray, np.ndarray]]:
    """(recall, precision) of the groups in a slice (1-D counts); precision 1 where no row
    is predicted positive, as scikit-learn."""
    P = tp[-1]

    def xy(rows: Rows) -> tuple[np.ndarray, np.ndarray]:
        t = tp[rows]
        denom = t + fp[rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            return t / P, np.divide(t, denom, out=np.ones_like(t), where=denom > 0)

    return xy


def keep_shape_points(
    xy: Callable[[Rows], tuple[np.ndarray, np.ndarray]], size: int, max_points: int
) -> np.ndarray:
    """Indices of the points of a curve to keep so that it keeps its shape.

    ``xy(rows)`` gives the coordinates of the points in a slice, so the curve is walked in
    blocks and never held whole. With ``m = max_points // 4``, a point is kept where ``x``
    or ``y`` enters a new cell of width ``1/m``, and so is the point before it. Between two
    kept points the curve stays in one ``1/m`` by ``1/m`` cell, so for a monotone curve (ROC)
    the chord moves the trapezoidal area by at most ``width / (2m)``: at most ``1/(2m)``
    over the whole curve (``5e-5`` for 20,000 points). At most ``max_points`` points remain;
    the first and the last are always kept.
    """
    if size <= max_points:
        return np.arange(size)
    m = max(max_points // 4, 1)
    change = np.empty(size, dtype=bool)
    previous = None
    for rows in _blocks(1, size):
        x, y = xy(rows)
        cell_x = np.floor(np.nan_to_num(x) * m)
        cell_y = np.floor(np.nan_to_num(y) * m)
        block = change[rows]
        block[1:] = (cell_x[1:] != cell_x[:-1]) | (cell_y[1:] != cell_y[:-1])
        block[0] = previous is None or (cell_x[0], cell_y[0]) != previous
        previous = (cell_x[-1], cell_y[-1])
    keep = change.copy()
    keep[:-1] |= change[1:]
    keep[-1] = True
    return np.flatnonzero(keep)
