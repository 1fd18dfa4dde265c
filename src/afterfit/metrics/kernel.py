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

import weakref
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
    last_positive : ndarray of int or None
        With ties: index of the last positive row of each group (rows are arranged
        positives first inside each group), or of the row before the group when it has
        none. ``None`` without ties.
    """

    order: np.ndarray | None
    y: np.ndarray
    scores: np.ndarray
    weight: np.ndarray | None
    group_end: np.ndarray
    last_positive: np.ndarray | None = None

    @classmethod
    def from_arrays(
        cls,
        y01: np.ndarray,
        scores: np.ndarray,
        weight: np.ndarray | None = None,
        *,
        keep_order: bool = True,
        presorted: bool = False,
    ) -> RankedScores:
        # Tie order is irrelevant (counts are read at group ends), so the fast unstable
        # SIMD sort is enough (about 4x faster than a stable one); reversing the ascending
        # order is a view, so descending costs no negated copy of the scores. Rows taken
        # from an earlier sort (``presorted``: descending already) are not sorted again.
        if presorted:
            order = np.arange(np.asarray(scores).size)
            sorted_scores = np.asarray(scores)
        else:
            order, sorted_scores = descending_order(scores)
        n = sorted_scores.size
        last_of_group = np.empty(n, dtype=bool)
        np.not_equal(sorted_scores[1:], sorted_scores[:-1], out=last_of_group[:-1])
        last_of_group[-1] = True
        group_end = np.flatnonzero(last_of_group)
        del last_of_group
        if n < 2**31:
            group_end = group_end.astype(np.int32)
        y = np.asarray(y01).astype(np.int8, copy=False)[order]
        w = None if weight is None else np.asarray(weight, dtype=float)[order]
        if not keep_order:
            order = None
        last_positive = None
        if group_end.size < n:
            # Inside a tie group the row order is free: positives first lets a resample's
            # positive weight per group be read off one cumulative sum of its weights.
            source, last_positive = _positives_first(y, group_end)
            y = y[source]
            w = None if w is None else w[source]
            order = None if order is None else order[source]
        return cls(
            order=order,
            y=y,
            scores=sorted_scores,
            weight=w,
            group_end=group_end,
            last_positive=last_positive,
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

    def counts_at_ends(self) -> GroupCounts:
        """Cumulative counts for the sample weights (a batch of one), without any ``(n,)``
        float temporary beyond one cumulative sum."""
        ends = self.group_end
        if self.weight is None:
            dtype = np.int32 if self.n < 2**31 else np.int64
            pos = np.cumsum(self.y, dtype=dtype)[ends].astype(np.float64)
            total = ends.astype(np.float64)
            total += 1
        else:
            pos = np.cumsum(self.weight * self.y)[ends]
            total = np.cumsum(self.weight)[ends]
        return GroupCounts(pos[None, :], total[None, :])

    def cumulative(self, W: np.ndarray) -> GroupCounts:
        """Per-group and cumulative counts for each row of ``W`` (``(B, n)`` weights in
        sorted order, one row per resample)."""
        if self.last_positive is None:  # no ties: every row is its own group
            d_pos = W * self.y
            return GroupCounts(np.cumsum(d_pos, axis=1), np.cumsum(W, axis=1), d_pos, W)
        through = np.cumsum(W, axis=1)
        total = through[:, self.group_end]
        before = np.zeros_like(total)
        before[:, 1:] = total[:, :-1]
        # Positives come first in each group: their weight is the cumulative weight through
        # the group's last positive row, less the weight before the group.
        last = self.last_positive
        d_pos = through[:, np.maximum(last, 0)]
        del through
        if last[0] < 0:
            d_pos[:, 0] = 0.0
        d_pos -= before
        d_total = total - before
        return GroupCounts(np.cumsum(d_pos, axis=1), total, d_pos, d_total)


#: The last descending sort: (a weak reference to the scores, their order). One run ranks
#: the same scores array several times (evaluation, threshold search, operating point,
#: cross-fitting); the order is reused only after checking that it still sorts the array,
#: so a changed or another array is sorted afresh, never mis-ranked.
_last_sort: tuple[weakref.ref, np.ndarray] | None = None
#: Sorts of fewer rows than this are not kept (the per-cell suites of the bootstrap).
SORT_REUSE_ROWS = 1 << 15


def descending_order(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An order that sorts ``scores`` descending, and the sorted scores.

    Tie order is irrelevant (counts are read at group ends), so the fast unstable SIMD
    sort is enough; reversing the ascending order is a view. The same array ranked again
    reuses its order (checked in one pass: the reordered scores must not increase).
    """
    global _last_sort
    cached = _last_sort
    if cached is not None and cached[0]() is scores and cached[1].size == scores.size:
        order = cached[1]
        sorted_scores = scores[order]
        if not np.any(sorted_scores[1:] > sorted_scores[:-1]):
            return order, sorted_scores
    order = np.argsort(scores)[::-1]
    if scores.size < SORT_REUSE_ROWS:
        return order, scores[order]  # cheap to redo; must not evict a large sort
    order.flags.writeable = False  # shared by later rankings of the same array
    try:
        _last_sort = (weakref.ref(scores), order)
    except TypeError:  # an array type without weak references: no reuse
        _last_sort = None
    return order, scores[order]


def _positives_first(y: np.ndarray, group_end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A stable reordering that puts each tie group's positives first.

    Returns the source row of each new position and, per group, the index of its last
    positive row (the row before the group when it has none). O(n), no sort, and walked
    in blocks of rows so its temporaries stay small whatever the size.
    """
    n = y.size
    index = np.int32 if n < 2**31 else np.int64
    starts = np.empty_like(group_end, dtype=index)
    starts[0] = 0
    starts[1:] = group_end[:-1] + 1
    per_group = np.add.reduceat(y, starts, dtype=index)
    sizes = group_end - starts + 1
    tied = np.flatnonzero(sizes > 1)
    tied_rows = int(sizes[tied].sum())
    if tied_rows <= n // TIED_SHARE:
        # Few tied rows (continuous scores): reorder only those, positives first and
        # otherwise in their order (the same result as the walk over every row below).
        rows = np.repeat(starts[tied] - np.cumsum(sizes[tied]) + sizes[tied], sizes[tied])
        rows += np.arange(tied_rows, dtype=rows.dtype)
        group = np.repeat(tied, sizes[tied])
        source = np.arange(n, dtype=index)
        source[rows] = rows[np.lexsort((rows, 1 - y[rows], group))]
        return source, starts + per_group - 1
    before = np.cumsum(per_group, dtype=index)
    before -= per_group
    source = np.empty(n, dtype=index)
    carried = 0
    for first in range(0, n, ROW_BLOCK):
        rows = np.arange(first, min(n, first + ROW_BLOCK), dtype=index)
        yb = y[rows[0] : rows[-1] + 1]
        group = np.searchsorted(group_end, rows)
        # Positives of the row's group up to and including the row.
        rank = np.cumsum(yb, dtype=index)
        rank += carried - before[group]
        carried += int(yb.sum(dtype=np.int64))
        target = np.where(yb == 1, starts[group] + rank - 1, rows + per_group[group] - rank)
        source[target] = rows
    return source, starts + per_group - 1


#: Only the tied rows are reordered when they are at most ``1 / TIED_SHARE`` of the rows.
TIED_SHARE = 8
#: Rows per block when a pass over all rows is walked in blocks (bounds temporaries).
ROW_BLOCK = 1 << 20


@dataclass(frozen=True)
class GroupCounts:
    """Weight of positives and of all rows through each tie group, shape ``(B, d)``.

    ``pos`` and ``total`` are cumulative; ``d_pos`` and ``d_total`` are each group's own
    weight (their differences), kept when the batch computed them anyway and otherwise
    recomputed block by block.
    """

    pos: np.ndarray
    total: np.ndarray
    d_pos: np.ndarray | None = None
    d_total: np.ndarray | None = None

    @property
    def positives(self) -> np.ndarray:
        return self.pos[:, -1]

    @property
    def negatives(self) -> np.ndarray:
        return self.total[:, -1] - self.pos[:, -1]

    def fp(self, rows: Rows | int = slice(None)) -> np.ndarray:
        """Cumulative weight of negatives at the given groups."""
        return self.total[:, rows] - self.pos[:, rows]

    def increments(self, cols: slice, *, of_total: bool = False) -> np.ndarray:
        """Each group's own positive (or, with ``of_total``, total) weight in a block."""
        kept = self.d_total if of_total else self.d_pos
        if kept is not None:
            return kept[:, cols]
        cum = self.total if of_total else self.pos
        before = cum[:, cols.start - 1 : cols.start] if cols.start > 0 else 0.0
        return np.diff(cum[:, cols], axis=1, prepend=before)


#: A slice of groups, or an array of group indices.
Rows = slice | np.ndarray

#: Cells per block when a computation over all groups walks them in column blocks: bounds
#: every temporary at about 8 MB whatever the data size.
BLOCK_CELLS = 1 << 20


def _blocks(B: int, d: int) -> list[slice]:
    width = max(1, BLOCK_CELLS // max(B, 1))
    return [slice(a, min(d, a + width)) for a in range(0, d, width)]


def roc_auc(counts: GroupCounts) -> np.ndarray:
    """Area under the ROC curve, per row; equals the trapezoidal area of scikit-learn's
    ``roc_curve`` (ties count one half).

    Each group adds a trapezoid ``d_neg * (tp_before + tp_after) / 2`` with
    ``tp_before = tp_after - d_pos``.
    """
    B, d = counts.pos.shape
    twice = np.zeros(B)
    for cols in _blocks(B, d):
        d_pos = counts.increments(cols)
        d_neg = counts.increments(cols, of_total=True) - d_pos
        pos = counts.pos[:, cols]
        twice += 2 * np.einsum("bd,bd->b", d_neg, pos) - np.einsum("bd,bd->b", d_neg, d_pos)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 0.5 * twice / (counts.positives * counts.negatives)


def average_precision(counts: GroupCounts) -> np.ndarray:
    """Average precision, ``sum_k (R_k - R_{k-1}) P_k``, as scikit-learn computes it.

    A group with no weight adds no recall, so its precision (0/0) must not count: the
    denominator is raised to the smallest normal float, which changes no real weight and
    turns 0/0 into 0.
    """
    B, d = counts.pos.shape
    tiny = np.finfo(np.float64).tiny
    total = np.zeros(B)
    for cols in _blocks(B, d):
        precision = np.maximum(counts.total[:, cols], tiny)
        np.divide(counts.pos[:, cols], precision, out=precision)
        total += np.einsum("bd,bd->b", counts.increments(cols), precision)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / counts.positives


def roc_xy(pos: np.ndarray, total: np.ndarray) -> Callable[[Rows], tuple[np.ndarray, np.ndarray]]:
    """(false positive rate, true positive rate) of the groups asked for (1-D counts)."""
    P, N = pos[-1], total[-1] - pos[-1]

    def xy(rows: Rows) -> tuple[np.ndarray, np.ndarray]:
        t = pos[rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            return (total[rows] - t) / N, t / P

    return xy


def pr_xy(pos: np.ndarray, total: np.ndarray) -> Callable[[Rows], tuple[np.ndarray, np.ndarray]]:
    """(recall, precision) of the groups asked for (1-D counts); precision 1 where no row
    is predicted positive, as scikit-learn."""
    P = pos[-1]

    def xy(rows: Rows) -> tuple[np.ndarray, np.ndarray]:
        t, w = pos[rows], total[rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            return t / P, np.divide(t, w, out=np.ones_like(t), where=w > 0)

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


def quantile_group_ends(
    total: np.ndarray, max_groups: int, keep: np.ndarray | None = None
) -> np.ndarray:
    """The tie groups that end each bin when groups are merged into about ``max_groups``
    bins of equal row weight, ascending; every group when there are no more than that.

    ``total`` is the cumulative weight through each group (1-D, as
    :meth:`RankedScores.counts_at_ends` gives it). Bins are unions of whole tie groups, so
    a bin boundary is always a candidate threshold; the groups in ``keep`` end a bin
    whatever the quantiles say (the chosen threshold's cut stays exact), and the last
    group always ends one.
    """
    d = total.size
    if d <= max_groups:
        return np.arange(d)
    targets = total[-1] * np.arange(1, max_groups) / max_groups
    ends = np.searchsorted(total, targets, side="left")
    extra = [d - 1] if keep is None else [d - 1, *np.asarray(keep).ravel().tolist()]
    ends = np.union1d(ends, np.asarray(extra, dtype=ends.dtype))
    return ends[(ends >= 0) & (ends < d)]
