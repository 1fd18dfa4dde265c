"""Group fairness of a binary model at its operating threshold, with bootstrap intervals.

For a sensitive column with groups ``g``: selection rate, true and false positive rates,
precision and expected calibration error per group, and the gaps between groups that the
fairness literature names (Hardt et al. 2016; the definitions of fairlearn, which the tests
use as the oracle):

- demographic parity difference and ratio: max - min and min / max of the selection rates;
- equalized odds difference: the larger of the TPR gap and the FPR gap (max - min each);
- equal opportunity difference: the TPR gap;
- predictive parity difference: the precision gap;
- ECE difference: the gap of the per-group expected calibration errors.

Every statistic is a function of a few weighted sums per group (the 2x2 confusion counts,
and the weight, positives and score sum of each calibration bin), so :class:`FairnessSuite`
computes them for a whole batch of bootstrap weight rows with one sparse product, and the
shared :func:`~afterfit.metrics.resampling.bootstrap` draws the intervals (stratified by
group, m-out-of-n above its row limit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from afterfit.errors import InvalidInputError
from afterfit.jsonsafe import number
from afterfit.metrics.binary import MetricKey
from afterfit.metrics.resampling import bootstrap, bootstrap_interval
from afterfit.predictions import Predictions
from afterfit.slices.definitions import Slicing

#: The gaps between groups, in the order they are reported.
GAPS = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equal_opportunity_difference",
    "predictive_parity_difference",
    "ece_difference",
)
#: The per-group rates the gaps are built from.
RATES = ("selection_rate", "true_positive_rate", "false_positive_rate", "precision", "ece")
#: Which per-group rate each gap compares (for the "groups compared" column).
_GAP_RATE = {
    "demographic_parity_difference": "selection_rate",
    "demographic_parity_ratio": "selection_rate",
    "equal_opportunity_difference": "true_positive_rate",
    "predictive_parity_difference": "precision",
    "ece_difference": "ece",
}


class FairnessSuite:
    """Fairness statistics as a function of row weights (rows in original order).

    Parameters
    ----------
    group : ndarray of int
        Group code of each row, ``0 .. G-1``.
    y01, yhat01 : ndarray
        True and predicted class (1: positive).
    scores : ndarray
        Positive-class scores (probabilities); used for the calibration error.
    weight : ndarray, optional
    n_groups : int
    n_bins : int
        Equal-width bins of the calibration error (those of ``evaluate``'s curve).
    probabilities : bool
        Without probabilities there is no calibration error.
    """

    def __init__(
        self,
        group: np.ndarray,
        y01: np.ndarray,
        yhat01: np.ndarray,
        scores: np.ndarray,
        weight: np.ndarray | None,
        *,
        n_groups: int,
        n_bins: int = 10,
        probabilities: bool = True,
    ) -> None:
        self.group = np.asarray(group, dtype=np.int64)
        self.y = np.asarray(y01, dtype=np.int64)
        self.yhat = np.asarray(yhat01, dtype=np.int64)
        self.scores = np.asarray(scores, dtype=float)
        self.weight = weight
        self.G = n_groups
        self.n_bins = n_bins
        self.probabilities = probabilities
        n = self.y.size
        G, B = n_groups, n_bins
        # scikit-learn's calibration_curve bins: a score on an inner edge goes to the lower
        # bin, as in evaluate's calibration curve.
        edges = np.linspace(0.0, 1.0, B + 1)
        bins = np.clip(np.searchsorted(edges[1:-1], self.scores, side="left"), 0, B - 1)
        cell = self.group * 4 + self.y * 2 + self.yhat
        calib = G * 4 + self.group * B + bins
        rows = np.repeat(np.arange(n), 4)
        cols = np.column_stack([cell, calib, calib + G * B, calib + 2 * G * B]).ravel()
        vals = np.column_stack([np.ones(n), np.ones(n), self.y, self.scores]).ravel()
        self._F = sp.csr_matrix((vals, (rows, cols)), shape=(n, G * 4 + 3 * G * B))

    @property
    def n(self) -> int:
        return self.y.size

    @property
    def strata(self) -> np.ndarray:
        # Resampling within each group keeps every group's size (the rates are per group);
        # not within class too: a group's base rate is random, and fixing it would
        # understate the spread of its selection rate, hence of demographic parity.
        return self.group

    def subset(self, rows: np.ndarray) -> FairnessSuite:
        w = self.weight
        return FairnessSuite(
            self.group[rows], self.y[rows], self.yhat[rows], self.scores[rows],
            None if w is None else w[rows], n_groups=self.G, n_bins=self.n_bins,
            probabilities=self.probabilities,
        )  # fmt: skip

    def sums(self, W: np.ndarray | None = None) -> np.ndarray:
        """The weighted sums of every row of ``W``, shape ``(B, G*4 + 3*G*n_bins)``."""
        if W is None:
            W = np.ones((1, self.n)) if self.weight is None else self.weight[None, :]
        return np.asarray((self._F.T @ W.T).T)

    def compute(
        self, W: np.ndarray | None = None, *, bands: bool = False
    ) -> dict[MetricKey, np.ndarray]:
        s = self.sums(W)
        G, B = self.G, self.n_bins
        cm = s[:, : G * 4].reshape(-1, G, 4)
        tn, fp, fn, tp = (cm[:, :, i] for i in range(4))
        size = cm.sum(axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            rates = {
                "selection_rate": (tp + fp) / size,
                "true_positive_rate": tp / (tp + fn),
                "false_positive_rate": fp / (fp + tn),
                "precision": tp / (tp + fp),
            }
            if self.probabilities:
                count, pos, score = (
                    s[:, G * 4 + i * G * B : G * 4 + (i + 1) * G * B].reshape(-1, G, B)
                    for i in range(3)
                )
                # sum_b (n_b / n_g) |mean score_b - positive rate_b| = sum_b |S_b - P_b| / n_g
                rates["ece"] = np.abs(score - pos).sum(axis=2) / count.sum(axis=2)
        out: dict[MetricKey, np.ndarray] = {}
        gap = {name: _spread(r) for name, r in rates.items()}
        sel = rates["selection_rate"]
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = _nanmin(sel) / _nanmax(sel)
        out[("demographic_parity_difference", None)] = gap["selection_rate"]
        out[("demographic_parity_ratio", None)] = ratio
        out[("equalized_odds_difference", None)] = np.fmax(
            gap["true_positive_rate"], gap["false_positive_rate"]
        )
        out[("equal_opportunity_difference", None)] = gap["true_positive_rate"]
        out[("predictive_parity_difference", None)] = gap["precision"]
        if self.probabilities:
            out[("ece_difference", None)] = gap["ece"]
        for name, r in rates.items():
            for g in range(G):
                out[(name, str(g))] = r[:, g]
        return out


def _nanmax(a: np.ndarray) -> np.ndarray:
    full = np.where(np.isnan(a), -np.inf, a).max(axis=1)
    return np.where(np.isinf(full), np.nan, full)


def _nanmin(a: np.ndarray) -> np.ndarray:
    full = np.where(np.isnan(a), np.inf, a).min(axis=1)
    return np.where(np.isinf(full), np.nan, full)


def _spread(a: np.ndarray) -> np.ndarray:
    """max - min over the groups where the rate is defined (NaN with fewer than two)."""
    defined = np.count_nonzero(np.isfinite(a), axis=1)
    return np.where(defined >= 2, _nanmax(a) - _nanmin(a), np.nan)


@dataclass(frozen=True)
class FairnessValue:
    metric: str
    group: str | None
    value: float
    ci_low: float
    ci_high: float
    method: str
    compared: str = ""


@dataclass(frozen=True)
class FairnessResult:
    """Fairness of a binary model across the groups of a sensitive column.

    ``frame()`` has the gaps first (``group`` empty, ``compared`` naming the groups at the
    extremes), then the per-group rates they come from.
    """

    sensitive: str
    groups: tuple[str, ...]
    group_sizes: tuple[int, ...]
    threshold: float
    values: tuple[FairnessValue, ...]
    confidence: float
    notes: tuple[str, ...] = ()

    def __getitem__(self, metric: str) -> FairnessValue:
        for v in self.values:
            if v.metric == metric and v.group is None:
                return v
        raise KeyError(f"no fairness metric {metric!r}; they are: {', '.join(GAPS)}")

    def frame(self) -> pd.DataFrame:
        """Columns ``metric, group, value, ci_low, ci_high, method, groups compared``."""
        return pd.DataFrame(
            [(v.metric, v.group, v.value, v.ci_low, v.ci_high, v.method, v.compared)
             for v in self.values],
            columns=["metric", "group", "value", "ci_low", "ci_high", "method",
                     "groups compared"],
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "sensitive": self.sensitive,
            "groups": list(self.groups),
            "group_sizes": list(self.group_sizes),
            "threshold": number(self.threshold),
            "confidence": self.confidence,
            "notes": list(self.notes),
            "metrics": [
                {
                    "metric": v.metric,
                    "group": v.group,
                    "value": number(v.value),
                    "ci_low": number(v.ci_low),
                    "ci_high": number(v.ci_high),
                    "method": v.method,
                    "compared": v.compared,
                }
                for v in self.values
            ],
        }


def fairness_predictions(
    preds: Predictions,
    sensitive: Slicing,
    *,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    bootstrap_method: str = "bca",
    n_bins: int = 10,
    random_state: int | np.random.SeedSequence | None = None,
    progress: Any = None,
) -> FairnessResult:
    """Fairness metrics of binary predictions across the groups of ``sensitive``.

    Rows in no group (outside every bin) are left out. ``n_resamples=0``: no intervals.
    """
    if preds.task != "binary":
        raise InvalidInputError(
            f"fairness metrics are for binary models at their threshold; this model is "
            f"{preds.task}.",
            fix="drop --sensitive (sensitive=...), or slice by the column instead.",
        )
    keep = sensitive.codes >= 0
    group = sensitive.codes[keep]
    sizes = np.bincount(group, minlength=len(sensitive.levels))
    present = np.flatnonzero(sizes > 0)
    if present.size < 2:
        only = sensitive.levels[int(present[0])] if present.size else "none"
        raise InvalidInputError(
            f"sensitive column {sensitive.name!r} has one group only ({only}); fairness "
            "compares groups.",
            fix="pass a sensitive column with at least two groups in these rows.",
        )
    w = None if preds.sample_weight is None else preds.sample_weight[keep]
    suite = FairnessSuite(
        group, preds.y_true[keep], preds.y_pred[keep], preds.scores[keep], w,
        n_groups=len(sensitive.levels), n_bins=n_bins,
        probabilities=preds.scores_are_probabilities,
    )  # fmt: skip
    point = suite.compute()
    draws = None
    if n_resamples:
        draws = bootstrap(
            suite, n_resamples=n_resamples, jackknife=bootstrap_method == "bca",
            random_state=random_state, progress=progress,
        )  # fmt: skip
    labels = list(sensitive.levels)
    values: list[FairnessValue] = []
    for key in point:
        name, g = key
        v = float(point[key][0])
        if draws is None:
            lo, hi, method = np.nan, np.nan, "none"
        else:
            import warnings

            with warnings.catch_warnings():
                # A group without positives (or predicted positives) has no TPR (precision)
                # in some resamples: that is the data, said once in the notes, not per key.
                warnings.simplefilter("ignore")
                lo, hi, method = bootstrap_interval(
                    draws, key, confidence=confidence, method=bootstrap_method
                )
        if g is None:
            values.append(
                FairnessValue(name, None, v, lo, hi, method, _compared(name, point, labels))
            )
        elif sizes[int(g)] > 0:
            values.append(FairnessValue(name, labels[int(g)], v, lo, hi, method))
    notes = []
    if not keep.all():
        notes.append(f"{int((~keep).sum()):,} row(s) in no group of {sensitive.name} are left out.")
    for name in ("true_positive_rate", "precision"):
        undefined = [labels[g] for g in present if not np.isfinite(point[(name, str(g))][0])]
        if undefined:
            notes.append(f"{name} is undefined for group(s) {', '.join(undefined)}.")
    return FairnessResult(
        sensitive.name, tuple(labels[g] for g in present), tuple(int(sizes[g]) for g in present),
        float(preds.threshold), tuple(values), confidence, (*sensitive.notes, *notes),
    )  # fmt: skip


def _compared(name: str, point: dict[MetricKey, np.ndarray], labels: list[str]) -> str:
    """The groups at the two extremes of the rate a gap compares: ``"max: a, min: b"``."""
    if name == "equalized_odds_difference":
        tpr = _compared("equal_opportunity_difference", point, labels)
        fpr = _extremes("false_positive_rate", point, labels)
        return f"TPR {tpr}; FPR {fpr}"
    rate = _GAP_RATE.get(name)
    return "" if rate is None else _extremes(rate, point, labels)


def _extremes(rate: str, point: dict[MetricKey, np.ndarray], labels: list[str]) -> str:
    values = {labels[g]: float(point[(rate, str(g))][0]) for g in range(len(labels))
              if (rate, str(g)) in point}  # fmt: skip
    defined = {k: v for k, v in values.items() if np.isfinite(v)}
    if len(defined) < 2:
        return ""
    hi = max(defined, key=defined.__getitem__)
    lo = min(defined, key=defined.__getitem__)
    return f"max: {hi}, min: {lo}"
