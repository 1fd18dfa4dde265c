"""Every binary metric from one sort: :class:`BinarySuite`.

``compute(W)`` evaluates all metrics for a batch of row-weight vectors at once (the point
estimate is the batch of one: the sample weights). Ranking metrics read cumulative counts
from :class:`~afterfit.metrics.kernel.RankedScores`; label metrics read the 2x2 confusion
matrix at the decision threshold from the same cumulative counts; log loss and Brier score
are weighted means, i.e. one matrix-vector product each.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from afterfit.metrics import confusion
from afterfit.metrics.kernel import (
    RankedScores,
    average_precision_from_counts,
    roc_auc_from_counts,
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
        Whether the scores are probabilities (enables log loss and Brier score).
    beta : float
        The beta of the F-beta score reported beside F1.
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
    ) -> None:
        self.ranked = RankedScores.from_arrays(y01, scores, weight)
        self.threshold = float(threshold)
        self.probabilities = probabilities
        self.beta = beta
        self.k = self.ranked.n_above(self.threshold)
        if probabilities:
            y = self.ranked.y.astype(np.float64)
            p = self.ranked.scores
            eps = np.finfo(np.float64).eps
            pc = np.clip(p, eps, 1 - eps)
            self._log_loss_rows = -np.where(y == 1, np.log(pc), np.log1p(-pc))
            self._brier_rows = (y - p) ** 2
            self.set_calibration_bins(np.linspace(0.0, 1.0, n_bins + 1))

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

    def keys(self) -> list[MetricKey]:
        names = ["accuracy", "balanced_accuracy", "precision", "recall", "specificity"]
        names += ["f1", fbeta_name(self.beta), "mcc", "cohen_kappa"]
        names += ["roc_auc", "average_precision"]
        if self.probabilities:
            names += ["log_loss", "brier"]
        return [(name, None) for name in names]

    def counts(self, W: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Cumulative positive and total weight at each tie-group end, shape ``(B, d)``."""
        pos, total = self.ranked.cumulative(W)
        ends = self.ranked.group_end
        return pos[:, ends], total[:, ends]

    def confusion_matrices(self, W: np.ndarray | None = None) -> np.ndarray:
        """2x2 confusion matrices at the threshold, shape ``(B, 2, 2)``."""
        pos, total = self.ranked.cumulative(W)
        return self._confusion(pos, total)

    def _confusion(self, pos: np.ndarray, total: np.ndarray) -> np.ndarray:
        P, T = pos[:, -1], total[:, -1]
        if self.k > 0:
            tp, pp = pos[:, self.k - 1], total[:, self.k - 1]
        else:
            tp = pp = np.zeros_like(P)
        fp = pp - tp
        fn = P - tp
        tn = T - P - fp
        return np.stack([np.stack([tn, fp], 1), np.stack([fn, tp], 1)], 1)

    def compute(
        self, W: np.ndarray | None = None, *, bands: bool = False
    ) -> dict[MetricKey, np.ndarray]:
        """Every metric for each row of ``W`` (``(B, n)`` weights in sorted order).

        With ``bands``, also the curves on fixed grids (keys ``("curve:roc", None)``...),
        shape ``(B, m)``, from which the bootstrap draws pointwise bands.
        """
        pos, total = self.ranked.cumulative(W)
        cm = self._confusion(pos, total)
        ends = self.ranked.group_end
        tp, fp = pos[:, ends], total[:, ends] - pos[:, ends]
        del pos, total

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
            ("roc_auc", None): roc_auc_from_counts(tp, fp),
            ("average_precision", None): average_precision_from_counts(tp, fp),
        }
        if self.probabilities:
            out[("log_loss", None)] = weighted_mean(self._log_loss_rows, W, self.weight)
            out[("brier", None)] = weighted_mean(self._brier_rows, W, self.weight)
        if bands:
            out.update(curves_on_grid(tp, fp))
            if self.probabilities:
                out[("curve:calibration", None)] = self.calibration(W)[1]
        return out

    def calibration(self, W: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean score, fraction of positives and total weight of each bin, ``(B, n_bins)``."""
        if W is None:
            W = np.ones((1, self.n)) if self.weight is None else self.weight[None, :]
        # Sparse one-hot bins: (B, n) @ (n, bins) in O(B n), without an (n, bins) array.
        bin_weight = np.asarray((self._bins.T @ W.T).T)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_score = np.asarray((self._bin_scores.T @ W.T).T) / bin_weight
            positives = np.asarray((self._bin_positives.T @ W.T).T) / bin_weight
        return mean_score, positives, bin_weight

    def set_calibration_bins(self, edges: np.ndarray) -> None:
        """Bins of the calibration curve: ``edges`` from 0 to 1, as scikit-learn's."""
        self.calibration_edges = np.asarray(edges, dtype=float)
        index = np.searchsorted(self.calibration_edges[1:-1], self.ranked.scores)
        shape = (self.n, self.calibration_edges.size - 1)
        rows = np.arange(self.n)

        def onehot(values: np.ndarray) -> sp.csr_matrix:
            return sp.csr_matrix((values, (rows, index)), shape=shape)

        self._bins = onehot(np.ones(self.n))
        self._bin_scores = onehot(self.ranked.scores)
        self._bin_positives = onehot(self.ranked.y.astype(np.float64))


#: Grids on which bootstrap bands of the curves are drawn.
FPR_GRID = np.linspace(0.0, 1.0, 101)
RECALL_GRID = np.linspace(0.0, 1.0, 101)


def curves_on_grid(tp: np.ndarray, fp: np.ndarray) -> dict[MetricKey, np.ndarray]:
    """ROC (TPR at FPR grid points) and PR (precision at recall grid points), per row."""
    B = tp.shape[0]
    roc = np.full((B, FPR_GRID.size), np.nan)
    pr = np.full((B, RECALL_GRID.size), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        for b in range(B):
            P, N = tp[b, -1], fp[b, -1]
            if P <= 0 or N <= 0:
                continue
            fpr = np.concatenate([[0.0], fp[b] / N])
            tpr = np.concatenate([[0.0], tp[b] / P])
            # The highest TPR reached at or below each false positive rate.
            roc[b] = tpr[np.searchsorted(fpr, FPR_GRID, side="right") - 1]
            recall = tp[b] / P
            precision = tp[b] / np.maximum(tp[b] + fp[b], np.finfo(float).tiny)
            at = np.minimum(np.searchsorted(recall, RECALL_GRID, side="left"), recall.size - 1)
            pr[b] = precision[at]
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
