"""Every binary metric from one sort: :class:`BinarySuite`.

``compute(W)`` evaluates all metrics for a batch of row-weight vectors at once (the point
estimate is the batch of one: the sample weights). Ranking metrics read cumulative counts
from :class:`~afterfit.metrics.kernel.RankedScores`; label metrics read the 2x2 confusion
matrix at the decision threshold, and the calibration bins, from the same cumulative counts
(the threshold and the bin edges cut the sorted rows at group ends); log loss and Brier
score are weighted means, one matrix product for a whole batch.
"""

from __future__ import annotations

import numpy as np

from afterfit.metrics import confusion, views
from afterfit.metrics.kernel import (
    GroupCounts,
    RankedScores,
    average_precision,
    quantile_group_ends,
    roc_auc,
)

MetricKey = tuple[str, str | None]

#: Metrics whose value is a proportion of rows; their analytic interval is Wilson's.
PROPORTIONS = ("accuracy", "precision", "recall", "specificity")


def fbeta_name(beta: float) -> str:
    return f"f{beta:g}".replace(".", "_")


class BinarySuite:
    """All binary metrics for one set of predictions, as a function of row weights.

    Parameters
    ----------
    y01 : ndarray
        1 for the positive class, 0 otherwise.
    scores : ndarray
        Score of the positive class (probability or decision score).
    weight : ndarray, optional
        Sample weights.
    threshold : float
        Rows with ``score > threshold`` are predicted positive.
    probabilities : bool
        Whether the scores are probabilities (enables log loss, Brier score, calibration).
    beta : float
        The beta of the F-beta score reported beside F1.
    n_bins : int
        Equal-width bins of the calibration curve.
    keep_order : bool
        Keep the sort order (``ranked.order``), to map weights of the original rows.
    """

    def __init__(
        self,
        y01: np.ndarray,
        scores: np.ndarray,
        weight: np.ndarray | None = None,
        *,
        threshold: float,
        probabilities: bool,
        beta: float = 2.0,
        n_bins: int = 10,
        keep_order: bool = False,
    ) -> None:
        # Metrics never map back to the original rows, so by default the order is dropped
        # (it is as large as the scores); paired resampling across models keeps it.
        self.ranked = RankedScores.from_arrays(y01, scores, weight, keep_order=keep_order)
        self.threshold = float(threshold)
        self.probabilities = probabilities
        self.beta = beta
        # The decision threshold and the calibration bins cut the sorted rows at group ends.
        self._threshold_group = self.ranked.group_of_position(self.ranked.n_above(threshold))
        self.calibration_edges = np.linspace(0.0, 1.0, n_bins + 1)
        self._bin_groups = self._bin_cuts()
        # The decision curve's threshold probabilities cut the sorted rows at fixed groups.
        self.net_benefit_groups = views.net_benefit_groups(self.ranked) if probabilities else None
        self._row_losses: np.ndarray | None = None
        self._point: tuple[np.ndarray, np.ndarray] | None = None

    # Resampling reads these: rows are in sorted order, strata are the classes.
    @property
    def n(self) -> int:
        return self.ranked.n

    @property
    def strata(self) -> np.ndarray:
        return self.ranked.y

    @property
    def weight(self) -> np.ndarray | None:
        return self.ranked.weight

    def subset(self, rows: np.ndarray) -> BinarySuite:
        """The same metrics on the rows at ``rows`` (ascending positions in sorted order)."""
        w = self.weight
        return BinarySuite(
            self.ranked.y[rows], self.ranked.scores[rows], None if w is None else w[rows],
            threshold=self.threshold, probabilities=self.probabilities, beta=self.beta,
            n_bins=self.calibration_edges.size - 1,
        )  # fmt: skip

    def cells(self, max_bins: int) -> tuple[np.ndarray, BinarySuite, int | None] | None:
        """The rows merged into cells, for the bootstrap of grouped counts at large ``n``
        (:func:`afterfit.metrics.resampling.bootstrap`).

        A cell is one class inside one score bin; bins are about ``max_bins`` runs of whole
        tie groups of equal row count (every tie group when there are no more), cut also
        at the decision threshold, the calibration bin edges and the decision curve's
        threshold probabilities, so the confusion matrix, the calibration bins and the
        net benefit of a resample are those of its rows exactly. Returns the cell of each
        row (a position in the returned suite's order), a suite with one row per cell
        (scored with its bin's lowest score; log loss and Brier score are the cell's mean
        per-row losses) and the number of bins when groups were merged (else None).
        ``None`` with sample weights: resampled counts would drop them. ``max_bins=1``:
        only those cuts (enough for the metrics at the threshold).
        """
        if self.weight is not None:
            return None
        r = self.ranked
        keep = [self._threshold_group, *self._bin_groups.tolist()]
        if self.net_benefit_groups is not None:
            keep += self.net_benefit_groups.tolist()
        keep_groups = np.array([g for g in keep if g >= 0], dtype=np.int64)
        ends = quantile_group_ends(self.point_counts().total[0], max_bins, keep=keep_groups)
        last_row = r.group_end[ends]
        bin_of_row = np.repeat(np.arange(ends.size), np.diff(last_row, prepend=-1))
        cell = 2 * bin_of_row + (1 - r.y)  # the positives of bin b, then its negatives
        n_cells = 2 * ends.size
        counts = np.bincount(cell, minlength=n_cells).astype(np.float64)
        y = np.tile(np.array([1, 0], dtype=np.int8), ends.size)
        cell_suite = BinarySuite(
            y, np.repeat(r.scores[last_row], 2), threshold=self.threshold,
            probabilities=self.probabilities, beta=self.beta,
            n_bins=self.calibration_edges.size - 1, keep_order=True,
        )  # fmt: skip
        order = cell_suite.ranked.order
        position = np.empty(n_cells, dtype=np.int64)
        position[order] = np.arange(n_cells)
        if self.probabilities:
            losses = _row_losses(r.y, r.scores)
            with np.errstate(invalid="ignore", divide="ignore"):
                means = (
                    np.stack(
                        [np.bincount(cell, losses[:, j], minlength=n_cells) for j in (0, 1)], 1
                    )
                    / counts[:, None]
                )
            # An empty cell weighs 0 in every resample; 0 * NaN would still be NaN.
            cell_suite._row_losses = np.nan_to_num(means[order])
        return (
            position[cell],
            cell_suite,
            (int(ends.size) if ends.size < r.group_end.size else None),
        )

    def keys(self) -> list[MetricKey]:
        names = ["accuracy", "balanced_accuracy", "precision", "recall", "specificity"]
        names += ["f1", fbeta_name(self.beta), "mcc", "cohen_kappa"]
        names += ["roc_auc", "average_precision"]
        if self.probabilities:
            names += ["log_loss", "brier"]
        return [(name, None) for name in names]

    def point_counts(self) -> GroupCounts:
        """Cumulative counts at the group ends for the sample weights (cached)."""
        if self._point is None:
            self._point = self.ranked.counts_at_ends()
        return self._point

    def _counts(self, W: np.ndarray | None) -> GroupCounts:
        return self.point_counts() if W is None else self.ranked.cumulative(W)

    def confusion_matrices(self, W: np.ndarray | None = None) -> np.ndarray:
        """2x2 confusion matrices at the threshold, shape ``(B, 2, 2)``."""
        return self._confusion(self._counts(W))

    def _confusion(self, c: GroupCounts) -> np.ndarray:
        P, N = c.positives, c.negatives
        g = self._threshold_group
        tp = c.pos[:, g] if g >= 0 else np.zeros_like(P)
        fp = c.fp(g) if g >= 0 else np.zeros_like(P)
        fn = P - tp
        tn = N - fp
        return np.stack([np.stack([tn, fp], 1), np.stack([fn, tp], 1)], 1)

    def compute(
        self, W: np.ndarray | None = None, *, bands: bool = False
    ) -> dict[MetricKey, np.ndarray]:
        """Every metric for each row of ``W`` (``(B, n)`` weights in sorted order).

        With ``bands``, also the curves on fixed grids (keys ``("curve:roc", None)``,
        ``("curve:gain", None)``, ``("curve:net_benefit", None)``...), shape ``(B, m)``, from
        which the bootstrap draws pointwise bands, and the KS statistic ``("ks", None)``.
        """
        c = self._counts(W)
        cm = self._confusion(c)
        cls = confusion.per_class(cm, self.beta)
        out: dict[MetricKey, np.ndarray] = {
            ("accuracy", None): confusion.accuracy(cm),
            ("balanced_accuracy", None): confusion.balanced_accuracy(cm),
            ("precision", None): cls["precision"][:, 1],
            ("recall", None): cls["recall"][:, 1],
            ("specificity", None): cls["recall"][:, 0],
            ("f1", None): cls["f1"][:, 1],
            (fbeta_name(self.beta), None): cls["fbeta"][:, 1],
            ("mcc", None): confusion.matthews_corrcoef(cm),
            ("cohen_kappa", None): confusion.cohen_kappa(cm),
            ("roc_auc", None): roc_auc(c),
            ("average_precision", None): average_precision(c),
        }
        if self.probabilities:
            log_loss, brier = self._mean_losses(W, c.total[:, -1])
            out[("log_loss", None)] = log_loss
            out[("brier", None)] = brier
        if bands:
            out.update(curves_on_grid(c))
            # The views of metrics.views, banded and with the KS interval, from these counts.
            out[("curve:gain", None)] = views.gain_on_grid(c)
            out[("ks", None)] = views.ks_statistic(c)[0]
            if self.probabilities:
                out[("curve:calibration", None)] = self._bin_sums(c)[1]
                out[("curve:net_benefit", None)] = views.net_benefit(c, self.net_benefit_groups)
        return out

    def _mean_losses(
        self, W: np.ndarray | None, total: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Weighted mean log loss and Brier score (as scikit-learn: clipped at eps)."""
        if W is None:
            # The point estimate streams over blocks: no (n,) temporaries at any size.
            sums = np.zeros(2)
            w = self.weight
            for start in range(0, self.n, LOSS_BLOCK):
                block = slice(start, start + LOSS_BLOCK)
                rows = _row_losses(self.ranked.y[block], self.ranked.scores[block])
                sums += rows.sum(axis=0) if w is None else w[block] @ rows
            with np.errstate(invalid="ignore", divide="ignore"):
                return sums[0:1] / total, sums[1:2] / total
        if self._row_losses is None:
            self._row_losses = _row_losses(self.ranked.y, self.ranked.scores)
        sums = W @ self._row_losses
        with np.errstate(invalid="ignore", divide="ignore"):
            return sums[:, 0] / total, sums[:, 1] / total

    def _bin_cuts(self) -> np.ndarray:
        """Group index that ends each calibration bin, from the top bin down.

        Scores are sorted, so each bin is a run of whole tie groups; bins follow
        scikit-learn's ``calibration_curve`` (a score on an inner edge falls in the lower
        bin).
        """
        ascending = self.ranked.scores[::-1]
        inner = self.calibration_edges[1:-1]
        above = self.n - np.searchsorted(ascending, inner, side="right")  # rows > each edge
        # Bin b (from the top) ends where the rows above the next-lower edge end.
        cuts = np.append(above[::-1], self.n)
        return np.array([self.ranked.group_of_position(int(c)) for c in cuts])

    def _bin_sums(self, c: GroupCounts) -> tuple[np.ndarray, np.ndarray]:
        """Weight and fraction of positives of each bin (ascending bins), ``(B, n_bins)``."""
        g = self._bin_groups

        def at(cum: np.ndarray) -> np.ndarray:
            vals = np.where(g >= 0, cum[:, np.maximum(g, 0)], 0.0)
            return np.diff(vals, axis=1, prepend=0.0)[:, ::-1]

        weight = at(c.total)
        with np.errstate(invalid="ignore", divide="ignore"):
            return weight, at(c.pos) / weight

    def calibration(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean score, fraction of positives and weight of each bin (1-D, ascending)."""
        weight, fraction = (a[0] for a in self._bin_sums(self.point_counts()))
        g = self._bin_groups
        ends = np.where(g >= 0, self.ranked.group_end[np.maximum(g, 0)] + 1, 0)
        scores = self.ranked.scores
        w = self.weight
        score_sums = np.array(
            [
                (scores[a:b].sum() if w is None else w[a:b] @ scores[a:b]) if b > a else 0.0
                for a, b in zip(np.concatenate([[0], ends[:-1]]), ends, strict=True)
            ]
        )[::-1]
        with np.errstate(invalid="ignore", divide="ignore"):
            return score_sums / weight, fraction, weight


#: Rows per block when streaming the point estimate of log loss and Brier score.
LOSS_BLOCK = 1 << 20


def _row_losses(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Per-row log loss and squared error, ``(n, 2)``."""
    eps = np.finfo(np.float64).eps
    pc = np.clip(p, eps, 1 - eps)
    out = np.empty((y.size, 2))
    out[:, 0] = -np.where(y == 1, np.log(pc), np.log1p(-pc))
    out[:, 1] = (y - p) ** 2
    return out


#: Grids on which bootstrap bands of the curves are drawn.
FPR_GRID = np.linspace(0.0, 1.0, 101)
RECALL_GRID = np.linspace(0.0, 1.0, 101)


def curves_on_grid(c: GroupCounts) -> dict[MetricKey, np.ndarray]:
    """ROC (highest TPR at each FPR grid point) and PR (precision where recall first
    reaches each grid point), per row; NaN rows where a class is missing.

    Searched in count space (``fp <= g N``), so no row of rates is ever materialised: each
    row costs two binary searches of the grid.
    """
    B, d = c.pos.shape
    roc = np.full((B, FPR_GRID.size), np.nan)
    pr = np.full((B, RECALL_GRID.size), np.nan)
    tiny = np.finfo(np.float64).tiny
    f = np.empty(d)  # one buffer for every row: fresh large arrays cost page faults
    for b in range(B):
        t, w = c.pos[b], c.total[b]
        P, N = t[-1], w[-1] - t[-1]
        if P <= 0 or N <= 0:
            continue
        np.subtract(w, t, out=f)
        i = np.searchsorted(f, FPR_GRID * N, side="right") - 1
        # Below the first group's false positive rate the curve is still at (0, 0).
        roc[b] = np.where(i >= 0, t[np.maximum(i, 0)] / P, 0.0)
        j = np.minimum(np.searchsorted(t, RECALL_GRID * P, side="left"), d - 1)
        pr[b] = t[j] / np.maximum(w[j], tiny)
    return {("curve:roc", None): roc, ("curve:pr", None): pr}


def weighted_mean(
    values: np.ndarray, W: np.ndarray | None, weight: np.ndarray | None
) -> np.ndarray:
    """Mean of per-row ``values`` under each row of ``W`` (default: the sample weights).

    ``values`` may be ``(n,)`` or ``(n, m)``; the result is ``(B,)`` or ``(B, m)``.
    """
    if W is None:
        if weight is None:
            return np.mean(values, axis=0, keepdims=True)
        W = weight[None, :]
    total = W.sum(axis=1)
    out = W @ values
    with np.errstate(invalid="ignore", divide="ignore"):
        return out / (total if values.ndim == 1 else total[:, None])
