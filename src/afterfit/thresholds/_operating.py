"""The operating point: test metrics at the chosen threshold, beside those at the default.

A threshold chosen on validation rows says how it did *there*; what a reader needs is how
it does on the test rows, at that fixed threshold, with intervals (issue 15). When the only
labelled rows are the test rows and the threshold is chosen on them, the metrics at it are
optimistic (the threshold was fitted to those rows' noise). How optimistic is estimated by
cross-fitting: split the test rows into folds, choose the threshold on all folds but one
with the same objective, count the held-out fold's errors at it, and pool the counts. The
difference between the in-sample and the cross-fitted metrics is the optimism the page
states.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from afterfit.errors import AfterfitError, InvalidInputError
from afterfit.evaluation.results import MetricTable
from afterfit.jsonsafe import number as _num
from afterfit.metrics.kernel import descending_order
from afterfit.predictions import Predictions
from afterfit.thresholds._core import Objective, all_metrics

#: Metrics that change with the decision threshold (those of evaluate's table), in order.
THRESHOLD_METRICS = (
    "f1",
    "precision",
    "recall",
    "specificity",
    "balanced_accuracy",
    "accuracy",
    "f2",
    "mcc",
    "cohen_kappa",
)
#: Folds of the cross-fitted estimate when the threshold is chosen on the test rows.
CROSS_FIT_FOLDS = 5
#: Metrics the cross-fitted estimate reports (those the pooled confusion counts give).
CROSS_FIT_METRICS = ("f1", "precision", "recall", "specificity", "balanced_accuracy", "accuracy")


@dataclass(frozen=True)
class CrossFitted:
    """Metrics of thresholds chosen on other folds of the same rows (honest), and the
    in-sample metrics' excess over them (the optimism of choosing on the test rows)."""

    n_folds: int
    fold_thresholds: tuple[float, ...]
    metrics: dict[str, float]
    in_sample: dict[str, float]

    @property
    def optimism(self) -> dict[str, float]:
        return {k: self.in_sample[k] - v for k, v in self.metrics.items() if k in self.in_sample}

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_folds": self.n_folds,
            "method": "threshold chosen on the other folds of the test rows with the same "
            "objective, errors counted on the held-out fold, counts pooled over folds",
            "fold_thresholds": [_num(t) for t in self.fold_thresholds],
            "metrics": {k: _num(v) for k, v in self.metrics.items()},
            "in_sample": {k: _num(v) for k, v in self.in_sample.items()},
            "optimism": {k: _num(v) for k, v in self.optimism.items()},
        }


@dataclass(frozen=True)
class OperatingPoint:
    """Test metrics at the chosen threshold and at the default one, with intervals.

    Attributes
    ----------
    threshold : float
        The chosen threshold (``score > threshold`` is positive).
    default_threshold : float
        The threshold the predictions had before (0.5 for probabilities, 0 for scores).
    chosen_on : {"validation", "oof", "test"}
        The rows the threshold was chosen on.
    objective : str
        The objective's description.
    at_threshold, at_default : MetricTable
        Threshold metrics on the test rows at each threshold.
    n_rows : int
        Test rows.
    cross_fitted : CrossFitted or None
        Set when the threshold was chosen on the test rows themselves.
    """

    threshold: float
    default_threshold: float
    chosen_on: str
    objective: str
    objective_metric: str
    at_threshold: MetricTable
    at_default: MetricTable
    n_rows: int
    cross_fitted: CrossFitted | None = None

    @property
    def optimistic(self) -> bool:
        return self.chosen_on == "test"

    def frame(self) -> pd.DataFrame:
        """One row per metric: value and interval at the chosen and at the default
        threshold (and the cross-fitted value when chosen on test)."""
        rows = []
        for r in self.at_threshold.rows:
            d = self.at_default[r.metric] if r.metric in self.at_default else None
            row = {
                "metric": r.metric,
                "at_chosen": r.value,
                "at_chosen_ci_low": r.ci_low,
                "at_chosen_ci_high": r.ci_high,
                "at_default": math.nan if d is None else d.value,
                "at_default_ci_low": math.nan if d is None else d.ci_low,
                "at_default_ci_high": math.nan if d is None else d.ci_high,
                "method": r.method,
            }
            if self.cross_fitted is not None:
                row["cross_fitted"] = self.cross_fitted.metrics.get(r.metric, math.nan)
            rows.append(row)
        return pd.DataFrame(rows)

    def summary(self) -> str:
        """One sentence: the objective's metric on test at both thresholds."""
        m = self.objective_metric if self.objective_metric in self.at_threshold else "f1"
        at, dflt = self.at_threshold[m], self.at_default[m]
        ci = interval_text(at.ci_low, at.ci_high)
        text = (
            f"On the {self.n_rows:,} test rows at the chosen threshold {self.threshold:.4g} "
            f"(chosen on {self.chosen_on}): {m} {at.value:.4g}{' ' + ci if ci else ''}; at "
            f"the default {self.default_threshold:g}: {dflt.value:.4g}."
        )
        if self.cross_fitted is not None:
            cf = self.cross_fitted
            if m in cf.metrics:
                gap = cf.optimism[m]
                way = "lower" if gap >= 0 else "higher"
                text += (
                    f" Chosen on the test rows themselves, so optimistic: a cross-fitted "
                    f"estimate ({cf.n_folds} folds) gives {m} {cf.metrics[m]:.4g}, "
                    f"{abs(gap):.4f} {way} than the in-sample {cf.in_sample.get(m, at.value):.4g}."
                )
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": _num(self.threshold),
            "default_threshold": _num(self.default_threshold),
            "chosen_on": self.chosen_on,
            "evaluated_on": "test",
            "objective": self.objective,
            "objective_metric": self.objective_metric,
            "n_rows": self.n_rows,
            "optimistic": self.optimistic,
            "metrics": self.at_threshold.to_dict(),
            "default_metrics": self.at_default.to_dict(),
            "cross_fitted": None if self.cross_fitted is None else self.cross_fitted.to_dict(),
            "summary": self.summary(),
        }


def interval_text(lo: float | None, hi: float | None, digits: int = 4) -> str:
    """``[low, high]`` with true minus signs (``[−0.0126, −0.0001]``), or ``""``."""
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return ""

    def f(v: float) -> str:
        return f"{v:.{digits}g}".replace("-", "\u2212")

    return f"[{f(lo)}, {f(hi)}]"


def _threshold_table(table: MetricTable) -> MetricTable:
    rows = tuple(r for r in table.overall() if r.metric in THRESHOLD_METRICS)
    order = {m: i for i, m in enumerate(THRESHOLD_METRICS)}
    rows = tuple(sorted(rows, key=lambda r: order[r.metric]))
    return MetricTable(rows, table.confidence)


def operating_point(
    test: Predictions,
    selection: Any,
    *,
    default: Any = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    random_state: int | None = 0,
    n_folds: int = CROSS_FIT_FOLDS,
) -> OperatingPoint:
    """Test metrics at ``selection``'s threshold and at ``test``'s own (default) one.

    Parameters
    ----------
    test : Predictions
        Binary predictions on the test rows; their ``threshold`` is the default.
    selection : ThresholdSelection
        The chosen threshold (on validation, out-of-fold, or these test rows:
        ``selection.split``).
    default : Evaluation, optional
        An evaluation of ``test`` at its default threshold already computed (reused).
    n_resamples, confidence, random_state
        As in :func:`afterfit.evaluate_predictions`.
    n_folds : int
        Folds of the cross-fitted estimate, computed when ``selection.split == "test"``.

    Examples
    --------
    >>> from afterfit.thresholds import select_threshold_predictions
    >>> from afterfit.predictions import Predictions
    >>> y, s = [0, 0, 1, 1, 0, 1, 0, 1], [.1, .4, .35, .8, .2, .9, .6, .7]
    >>> sel = select_threshold_predictions(y, s, n_resamples=0, split="test")
    >>> op = operating_point(Predictions.from_arrays(y, s), sel, n_resamples=0, n_folds=2)
    >>> op.threshold == sel.threshold
    True
    """
    from afterfit.evaluation.evaluate import threshold_metrics

    if test.task != "binary":
        raise InvalidInputError(
            f"the operating point is a binary threshold; these predictions are {test.task}.",
            fix="pass binary test predictions.",
        )
    ci = "none" if n_resamples == 0 else "auto"
    common = {"ci": ci, "confidence": confidence, "n_resamples": n_resamples,
              "random_state": random_state}  # fmt: skip
    chosen_preds = dataclasses.replace(test, threshold=float(selection.threshold))
    # Only the metrics that move with the threshold: the same values and intervals as a
    # whole evaluation there, without its curves, bands and ranking metrics.
    at = threshold_metrics(chosen_preds, **common)
    default_table = threshold_metrics(test, **common) if default is None else default.metrics
    cross = None
    if selection.split == "test":
        cross = cross_fitted(test, selection, n_folds=n_folds, random_state=random_state)
    return OperatingPoint(
        threshold=float(selection.threshold),
        default_threshold=float(test.threshold),
        chosen_on=selection.split,
        objective=selection.objective.describe(),
        objective_metric=selection.objective.metric,
        at_threshold=_threshold_table(at),
        at_default=_threshold_table(default_table),
        n_rows=test.n,
        cross_fitted=cross,
    )


def cross_fitted(
    preds: Predictions,
    selection: Any,
    *,
    n_folds: int = CROSS_FIT_FOLDS,
    random_state: int | None = 0,
) -> CrossFitted | None:
    """The honest counterpart of metrics at a threshold chosen on ``preds`` themselves.

    Rows are split into ``n_folds`` folds stratified by class; on each, the threshold is
    chosen with ``selection.objective`` on the other folds and the fold's confusion counts
    taken at it; the pooled counts give the metrics. ``None`` when too few rows of a class
    for the folds (fewer than two per fold).
    """
    from afterfit.thresholds._select import _select_binary

    y = np.asarray(preds.y_true, dtype=np.int64)
    counts = np.bincount(y, minlength=2)
    k = int(min(n_folds, counts.min() // 2)) if counts.min() else 0
    if k < 2:
        return None
    rng = np.random.default_rng(random_state)
    fold = np.empty(y.size, dtype=np.int64)
    for c in (0, 1):
        rows = np.flatnonzero(y == c)
        fold[rng.permutation(rows)] = np.arange(rows.size) % k
    w = np.ones(y.size) if preds.sample_weight is None else preds.sample_weight
    tp = fp = 0.0
    thresholds = []
    objective: Objective = selection.objective
    # One sort for every fold: the rows of a fold, taken in sorted order, stay sorted.
    order, s_sorted = descending_order(preds.scores)
    y_sorted, fold_sorted = y[order], fold[order]
    w_sorted = None if preds.sample_weight is None else preds.sample_weight[order]
    for j in range(k):
        fit = fold_sorted != j
        obj = objective
        if obj.top_k is not None:  # a budget of rows scales with the rows chosen on
            obj = dataclasses.replace(obj, top_k=obj.top_k * fit.sum() / y.size)
        try:
            sel = _select_binary(
                y_sorted[fit], s_sorted[fit], None if w_sorted is None else w_sorted[fit], obj,
                classes=tuple(preds.classes.tolist()),
                probabilities=preds.scores_are_probabilities, split="test", n_resamples=0,
                confidence=0.95, stratify=True, random_state=None, progress=None, n_jobs=1,
                presorted=True,
            )  # fmt: skip
        except AfterfitError:
            return None  # a constraint no threshold meets on a fold: no honest estimate
        thresholds.append(sel.threshold)
        # The rows scored above the fold's threshold are a prefix of the sorted rows.
        above = s_sorted.size - int(np.searchsorted(s_sorted[::-1], sel.threshold, side="right"))
        held = fold_sorted[:above] == j
        positive = y_sorted[:above] == 1
        if w_sorted is None:
            tp += float(np.count_nonzero(held & positive))
            fp += float(np.count_nonzero(held & ~positive))
        else:
            tp += float(w_sorted[:above][held & positive].sum())
            fp += float(w_sorted[:above][held & ~positive].sum())
    P, N = float(w[y == 1].sum()), float(w[y == 0].sum())
    metrics = all_metrics(np.array([tp]), np.array([fp]), np.array([P]), np.array([N]), objective)
    cf = {m: float(metrics[m][0]) for m in CROSS_FIT_METRICS if m in metrics}
    in_sample = {r.metric: r.value for r in selection.metrics.rows if r.metric in cf}
    return CrossFitted(k, tuple(thresholds), cf, in_sample)


__all__ = ["CrossFitted", "OperatingPoint", "cross_fitted", "interval_text", "operating_point"]
