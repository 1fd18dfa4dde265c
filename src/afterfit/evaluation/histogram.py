"""A mergeable histogram of scores per class: the ranking statistics of data never held whole.

ROC AUC, average precision and every curve need the scores in order. Past one machine's
memory they cannot be sorted, but they can be *counted*: each score is mapped to an integer
key that keeps its order (the IEEE-754 bits, sign-folded), and the histogram keeps, per
distinct key, the weight of positives and of negatives. Two histograms merge by adding
counts per key, so partitions counted apart (on other machines) merge into the histogram of
all rows.

While there are at most ``max_bins`` distinct scores, the keys are the scores themselves
(``shift == 0``): the histogram *is* the tie groups of the sorted scores, and every
statistic read from it equals the in-memory one. Past that, the lowest ``shift`` bits of
the keys are dropped (a bin then holds the scores that agree in their leading bits: a
relative width of ``2**(shift - 52)``), with ``shift`` the smallest that leaves at most
``max_bins`` bins. That smallest ``shift`` depends only on the set of scores, never on the
order in which partitions arrive, so a cluster and one process agree on the bins.

Inside a bin the order of the scores is unknown: the curves are exact at every bin edge,
and the area statistics carry a bound, computed from the pairs that share a bin
(:meth:`ScoreHistogram.auc_bound`, :meth:`ScoreHistogram.ap_bound`).
"""

from __future__ import annotations

import numpy as np

#: Most bins kept (about 100 MB at 24 bytes a bin): a resolution of about 1e-6 relative.
MAX_BINS = 1 << 22
#: Entries of batch histograms held before they are merged into the bins (at least).
PENDING_ENTRIES = 1 << 22
_FOLD = np.int64(0x7FFFFFFFFFFFFFFF)


def order_keys(values: np.ndarray) -> np.ndarray:
    """int64 keys with the order of the float64 ``values`` (``-0.0`` and ``0.0`` equal)."""
    x = np.asarray(values, dtype=np.float64) + 0.0  # -0.0 + 0.0 is +0.0: one key for zero
    bits = x.view(np.int64)
    # Negative floats order backwards in their bits: flipping the magnitude bits of the
    # negative ones makes the signed integers ascend with the floats.
    return np.where(bits < 0, bits ^ _FOLD, bits)


def key_values(keys: np.ndarray) -> np.ndarray:
    """The float64 of each key (the inverse of :func:`order_keys`)."""
    keys = np.asarray(keys, dtype=np.int64)
    return np.where(keys < 0, keys ^ _FOLD, keys).view(np.float64)


def _n_distinct(sorted_keys: np.ndarray, shift: int) -> int:
    if sorted_keys.size == 0:
        return 0
    k = sorted_keys >> shift
    return 1 + int(np.count_nonzero(k[1:] != k[:-1]))


class ScoreHistogram:
    """Weight of positives and negatives per score bin (see the module docstring).

    Parameters
    ----------
    max_bins : int
        Most bins kept.

    Attributes
    ----------
    keys : ndarray of int64
        Ascending bin keys (``order_keys(score) >> shift``).
    pos, neg : ndarray of float64
        Weight of the positive and of the negative rows in each bin.
    shift : int
        Bits dropped from the keys; 0 while the bins are the distinct scores.
    """

    def __init__(self, max_bins: int = MAX_BINS) -> None:
        self.max_bins = int(max_bins)
        self._shift = 0
        self._keys = np.empty(0, np.int64)
        self._pos = np.empty(0)
        self._neg = np.empty(0)
        # Histograms of batches not merged yet: merging a batch of a million rows into
        # millions of bins at once would cost the bins' size per batch; pending batches
        # are merged together once they hold about as many entries as the bins.
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]] = []
        self._pending_size = 0

    @property
    def keys(self) -> np.ndarray:
        self.flush()
        return self._keys

    @property
    def pos(self) -> np.ndarray:
        self.flush()
        return self._pos

    @property
    def neg(self) -> np.ndarray:
        self.flush()
        return self._neg

    @property
    def shift(self) -> int:
        self.flush()
        return self._shift

    @property
    def n_bins(self) -> int:
        return int(self.keys.size)

    @property
    def exact(self) -> bool:
        """Whether each bin holds one distinct score (every statistic is exact)."""
        return self.shift == 0

    def add(self, scores: np.ndarray, y01: np.ndarray, weight: np.ndarray | None = None) -> None:
        """Count rows: ``scores`` (finite), ``y01`` (1 positive, 0 negative), ``weight``."""
        keys = order_keys(scores) >> self._shift
        uniq, inverse = np.unique(keys, return_inverse=True)
        w = np.ones(keys.size) if weight is None else np.asarray(weight, dtype=np.float64)
        y = np.asarray(y01) == 1
        pos = np.bincount(inverse, weights=np.where(y, w, 0.0), minlength=uniq.size)
        neg = np.bincount(inverse, weights=np.where(y, 0.0, w), minlength=uniq.size)
        self._pending.append((uniq, pos, neg, self._shift))
        self._pending_size += uniq.size
        if self._pending_size >= max(self._keys.size, PENDING_ENTRIES):
            self.flush()

    def merge(self, other: ScoreHistogram) -> ScoreHistogram:
        """Add ``other``'s counts to this histogram (in place); returns it."""
        self.max_bins = max(self.max_bins, other.max_bins)
        self._pending.append((other.keys, other.pos, other.neg, other.shift))
        self._pending_size += other.n_bins
        self.flush()
        return self

    def flush(self) -> None:
        """Merge the pending batches into the bins."""
        if not self._pending:
            return
        parts = [(self._keys, self._pos, self._neg, self._shift), *self._pending]
        self._pending, self._pending_size = [], 0
        s = max(p[3] for p in parts)
        all_keys = np.concatenate([k >> (s - shift) for k, _, _, shift in parts])
        all_pos = np.concatenate([p[1] for p in parts])
        all_neg = np.concatenate([p[2] for p in parts])
        # Temporaries are dropped as soon as used: at the largest size a flush holds about
        # 8,000,000 entries, and its peak is what the streamed pass's peak memory is made of.
        del parts
        self._keys = self._pos = self._neg = np.empty(0)
        # Ascending runs, one per part: the stable sort (timsort) merges runs instead of
        # sorting from scratch, and among equal keys it keeps the parts' order, so sums
        # add the same floats in the same order wherever the same parts are merged.
        order = np.argsort(all_keys, kind="stable")
        sorted_keys = all_keys[order]
        del all_keys
        new = np.empty(sorted_keys.size, dtype=bool)
        new[:1] = True
        np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=new[1:])
        uniq = sorted_keys[new]
        del sorted_keys
        group = np.cumsum(new) - 1
        del new
        self._pos = np.bincount(group, weights=all_pos[order], minlength=uniq.size)
        del all_pos
        self._neg = np.bincount(group, weights=all_neg[order], minlength=uniq.size)
        self._keys, self._shift = uniq, s
        if uniq.size > self.max_bins:
            self._coarsen()

    def _coarsen(self) -> None:
        s = self._shift + 1
        while _n_distinct(self._keys, s) > self.max_bins:
            s += 1
        keys = self._keys >> (s - self._shift)
        uniq, inverse = np.unique(keys, return_inverse=True)
        self._pos = np.bincount(inverse, weights=self._pos, minlength=uniq.size)
        self._neg = np.bincount(inverse, weights=self._neg, minlength=uniq.size)
        self._keys, self._shift = uniq, s

    def __getstate__(self) -> dict:
        self.flush()  # sent to or from a worker: the bins only
        return dict(self.__dict__)

    def lower_edges(self) -> np.ndarray:
        """The smallest score each bin can hold (the score itself while exact)."""
        return key_values(self.keys << self.shift)

    def upper_edges(self) -> np.ndarray:
        """The largest score each bin can hold."""
        return key_values(((self.keys + 1) << self.shift) - 1)

    def descending(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lower edge, positive weight, negative weight) of the non-empty bins, highest
        scores first: the tie groups of a descending sort."""
        keep = (self.pos + self.neg) > 0
        edges = self.lower_edges()[keep][::-1]
        return edges, self.pos[keep][::-1], self.neg[keep][::-1]

    def auc_bound(self) -> float:
        """Largest possible error of the ROC AUC read from the bins.

        Counting a bin as one tie group credits each (positive, negative) pair inside it
        one half; the truth is anywhere from 0 to 1 per pair. So the error is at most
        ``sum_b pos_b * neg_b / (2 P N)``: 0 while the bins are the distinct scores.
        """
        if self.exact:
            return 0.0
        P, N = float(self.pos.sum()), float(self.neg.sum())
        if P <= 0 or N <= 0:
            return float("nan")
        return float(self.pos @ self.neg) / (2 * P * N)

    def ap_bound(self) -> float:
        """Largest possible error of the average precision read from the bins.

        Inside a bin, every threshold has true-positive weight between the weights before
        and after the bin, ``tp_b <= tp <= tp_a``, and total weight ``t_b < t <= t_a``; so
        its precision is between ``tp_b / t_a`` and ``min(1, tp_a / t_b)``. The bin adds its
        recall ``pos_b / P`` times a precision in that range; the histogram takes
        ``tp_a / t_a``. 0 while the bins are the distinct scores.
        """
        if self.exact:
            return 0.0
        _, pos, neg = self.descending()
        P = float(pos.sum())
        if P <= 0:
            return float("nan")
        tp_a = np.cumsum(pos)
        t_a = np.cumsum(pos + neg)
        tp_b, t_b = tp_a - pos, t_a - pos - neg
        with np.errstate(invalid="ignore", divide="ignore"):
            taken = tp_a / t_a
            low = tp_b / t_a
            high = np.where(t_b > 0, np.minimum(1.0, tp_a / np.where(t_b > 0, t_b, 1)), 1.0)
        spread = np.maximum(high - taken, taken - low)
        return float(np.sum(np.where(pos > 0, pos * spread, 0.0)) / P)

    def weighted_median(self) -> tuple[float, float]:
        """scikit-learn's weighted median of the counted values (all in ``pos``), and the
        bound on its error (the width of its bin; 0 while exact)."""
        values, weight = self.lower_edges(), self.pos
        cdf = np.cumsum(weight)
        half = 0.5 * cdf[-1]
        last = values.size - 1
        i = min(int(np.count_nonzero(cdf < half)), last)
        at = cdf[i]
        j = min(int(np.count_nonzero(cdf <= at)), last)
        exact_half = (at - half) <= np.finfo(np.float64).eps
        median = (values[i] + values[j]) / 2 if exact_half else values[i]
        if self.exact:
            return float(median), 0.0
        upper = self.upper_edges()
        return float(median), float(max(upper[i] - values[i], upper[j] - values[j]))
