"""Every multiclass metric: :class:`MulticlassSuite`.

Label metrics come from one confusion matrix per resample, built as a sparse product of the
weight matrix with the one-hot (true, predicted) cell of each row. Ranking metrics are
one-vs-rest: one :class:`~afterfit.metrics.binary.BinarySuite` kernel per class, each sorted
once.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from afterfit.metrics import confusion
from afterfit.metrics.binary import MetricKey, fbeta_name, weighted_mean
from afterfit.metrics.kernel import GroupCounts, RankedScores, average_precision, roc_auc


class MulticlassSuite:
    """All multiclass metrics as a function of row weights (rows in original order)."""

    def __init__(
        self,
        y: np.ndarray,
        proba: np.ndarray,
        weight: np.ndarray | None = None,
        *,
        labels: np.ndarray,
        class_names: list[str],
        probabilities: bool,
        beta: float = 2.0,
    ) -> None:
        n, K = proba.shape
        self._proba, self._labels = proba, labels  # kept (not copied) for ``subset``
        self.y = np.asarray(y, dtype=np.int64)
        self.K = K
        self.class_names = class_names
        self.probabilities = probabilities
        self.beta = beta
        self.weight = weight
        self._n = n
        cells = self.y * K + np.asarray(labels, dtype=np.int64)
        self._cells = sp.csr_matrix((np.ones(n), (np.arange(n), cells)), shape=(n, K * K))
        self.ranked = [RankedScores.from_arrays(self.y == k, proba[:, k], weight) for k in range(K)]
        self._onehot = np.zeros((n, K))
        self._onehot[np.arange(n), self.y] = 1.0
        if probabilities:
            eps = np.finfo(np.float64).eps
            p_true = np.clip(proba[np.arange(n), self.y], eps, 1 - eps)
            self._log_loss_rows = -np.log(p_true)
            self._brier_rows = ((self._onehot - proba) ** 2).sum(axis=1)

    @property
    def n(self) -> int:
        return self._n

    @property
    def strata(self) -> np.ndarray:
        return self.y

    def subset(self, rows: np.ndarray) -> MulticlassSuite:
        """The same metrics on the rows at ``rows`` (positions in the original order)."""
        w = self.weight
        return MulticlassSuite(
            self.y[rows], self._proba[rows], None if w is None else w[rows],
            labels=np.asarray(self._labels)[rows], class_names=self.class_names,
            probabilities=self.probabilities, beta=self.beta,
        )  # fmt: skip

    def keys(self) -> list[MetricKey]:
        return self.metric_keys(self.class_names, self.beta, self.probabilities)

    @staticmethod
    def metric_keys(class_names: list[str], beta: float, probabilities: bool) -> list[MetricKey]:
        """The metrics of a multiclass evaluation, in the order they are shown."""
        f = fbeta_name(beta)
        keys: list[MetricKey] = [("accuracy", None), ("balanced_accuracy", None)]
        for name in ("precision", "recall", "f1", f):
            keys += [(f"{name}_{avg}", None) for avg in ("macro", "weighted", "micro")]
        keys += [("mcc", None), ("cohen_kappa", None)]
        keys += [("roc_auc_ovr_macro", None), ("roc_auc_ovr_weighted", None)]
        keys += [("average_precision_macro", None)]
        if probabilities:
            keys += [("log_loss", None), ("brier", None)]
        per_class = ("precision", "recall", "f1", f, "roc_auc", "average_precision", "support")
        for c in class_names:
            keys += [(m, c) for m in per_class]
        return keys

    def confusion_matrices(self, W: np.ndarray | None = None) -> np.ndarray:
        if W is None:
            W = np.ones((1, self.n)) if self.weight is None else self.weight[None, :]
        flat = np.asarray((self._cells.T @ W.T).T)
        return flat.reshape(-1, self.K, self.K)

    def ovr_counts(self, k: int, W: np.ndarray | None = None) -> GroupCounts:
        """Counts at the tie-group ends of class ``k`` against the rest."""
        ranked = self.ranked[k]
        if W is None:
            return ranked.counts_at_ends()
        return ranked.cumulative(W[:, ranked.order])

    def compute(
        self, W: np.ndarray | None = None, *, bands: bool = False
    ) -> dict[MetricKey, np.ndarray]:
        """Every metric for each row of ``W``; ``bands`` is accepted for the common protocol
        (no curves are banded for this task)."""
        losses = None
        if self.probabilities:
            losses = (
                weighted_mean(self._log_loss_rows, W, self.weight),
                weighted_mean(self._brier_rows, W, self.weight),
            )
        counts = [self.ovr_counts(k, W) for k in range(self.K)]
        return multiclass_metrics(
            self.confusion_matrices(W), counts, losses, self.class_names, self.beta
        )


def multiclass_metrics(
    cm: np.ndarray,
    counts: list[GroupCounts],
    losses: tuple[np.ndarray, np.ndarray] | None,
    class_names: list[str],
    beta: float,
) -> dict[MetricKey, np.ndarray]:
    """Every multiclass metric from its sufficient statistics, for a batch of ``B`` weightings:
    the confusion matrices ``(B, K, K)``, each class's one-vs-rest counts at its tie-group
    ends, and the mean log loss and Brier score (None without probabilities). The suite
    computes them from rows; a streamed evaluation from exact counts, sums and histograms.
    """
    cls = confusion.per_class(cm, beta)
    acc = confusion.accuracy(cm)
    out: dict[MetricKey, np.ndarray] = {
        ("accuracy", None): acc,
        ("balanced_accuracy", None): confusion.balanced_accuracy(cm),
    }
    f = fbeta_name(beta)
    # With every class counted, micro precision = micro recall = micro F = accuracy.
    for name, key in (("precision", "precision"), ("recall", "recall"), ("f1", "f1")):
        for avg, value in confusion.averages(cls[key], cm, acc).items():
            out[(f"{name}_{avg}", None)] = value
    for avg, value in confusion.averages(cls["fbeta"], cm, acc).items():
        out[(f"{f}_{avg}", None)] = value
    out[("mcc", None)] = confusion.matthews_corrcoef(cm)
    out[("cohen_kappa", None)] = confusion.cohen_kappa(cm)

    auc = np.stack([roc_auc(c) for c in counts], axis=1)
    ap = np.stack([average_precision(c) for c in counts], axis=1)
    support = cm.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[("roc_auc_ovr_macro", None)] = auc.mean(axis=1)
        # A class without rows weighs 0: its undefined AUC is left out, as scikit-learn.
        weighted = np.where(support > 0, auc * support, 0.0).sum(1)
        out[("roc_auc_ovr_weighted", None)] = weighted / support.sum(1)
        out[("average_precision_macro", None)] = ap.mean(axis=1)
    if losses is not None:
        out[("log_loss", None)], out[("brier", None)] = losses
    for k, c in enumerate(class_names):
        out[("precision", c)] = cls["precision"][:, k]
        out[("recall", c)] = cls["recall"][:, k]
        out[("f1", c)] = cls["f1"][:, k]
        out[(f, c)] = cls["fbeta"][:, k]
        out[("roc_auc", c)] = auc[:, k]
        out[("average_precision", c)] = ap[:, k]
        out[("support", c)] = support[:, k]
    return out
