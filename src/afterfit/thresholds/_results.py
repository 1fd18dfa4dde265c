"""Frozen results of threshold selection: numbers in, tables and pictures out."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from afterfit.errors import InvalidInputError
from afterfit.evaluation.results import ConfusionResult, MetricTable, MetricValue
from afterfit.jsonsafe import number as _num
from afterfit.jsonsafe import numbers as _nums
from afterfit.thresholds._core import Objective, all_metrics

#: Splits a threshold may be chosen on; "test" makes every metric at it optimistic.
SPLITS = ("validation", "oof", "test")

TEST_SPLIT_WARNING = (
    "the threshold was chosen on the test split, so the metrics at it are optimistic "
    "(selection bias): choose it on validation or out-of-fold predictions, then report "
    "the test metrics at that fixed threshold."
)


def _interval(ci: tuple[float, float]) -> list[float | None]:
    return [_num(ci[0]), _num(ci[1])]


def _plain(label: Any) -> Any:
    """A label as a plain Python value (JSON and skops friendly)."""
    return label.item() if isinstance(label, np.generic) else label


@dataclass(frozen=True)
class ThresholdCurve:
    """Every threshold metric against the threshold, ascending.

    Curves with more than ``max_points`` candidates are thinned for tables and figures to
    the points where recall or the false positive rate moves by 1/500 (and the chosen
    point); the optimum is always computed on every candidate, and ``n_points_full`` says
    how many there were.

    Attributes
    ----------
    thresholds, tp, fp : ndarray
        Threshold of each kept candidate (``score > threshold`` is positive) and its
        weighted true and false positives.
    positives, negatives : float
        Weight of each class.
    objective : Objective
        Sets the F-beta column and the costs of the expected-cost column.
    chosen : float
        The chosen threshold.
    n_points_full : int
    label : str or None
        The class, for one-vs-rest curves.
    """

    thresholds: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    positives: float
    negatives: float
    objective: Objective
    chosen: float
    n_points_full: int
    label: str | None = None

    def metrics(self) -> dict[str, np.ndarray]:
        return all_metrics(self.tp, self.fp, self.positives, self.negatives, self.objective)

    def frame(self) -> pd.DataFrame:
        """Columns ``threshold, tp, fp, fn, tn`` and every metric, one row per threshold."""
        columns: dict[str, np.ndarray] = {
            "threshold": self.thresholds,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.positives - self.tp,
            "tn": self.negatives - self.fp,
        }
        columns.update(self.metrics())
        return pd.DataFrame(columns)

    def to_dict(self) -> dict[str, Any]:
        return {
            "class": self.label,
            "chosen_threshold": _num(self.chosen),
            "n_points_full": self.n_points_full,
            "columns": {name: _nums(values) for name, values in self.frame().items()},
        }

    def plot(self, **kwargs: Any) -> Any:
        """Metrics against the threshold, the chosen one marked (matplotlib figure)."""
        from afterfit import plots

        return plots.plot_threshold_curve(self, **kwargs)


@dataclass(frozen=True)
class ThresholdSelection:
    """A binary decision threshold chosen for an objective, with bootstrap intervals.

    Attributes
    ----------
    objective : Objective
        What was optimised, with its parameters.
    threshold : float
        Predict the positive class iff ``score > threshold``.
    ci : (float, float)
        Percentile bootstrap interval of the threshold, the optimum found again in each
        resample (NaN without resamples).
    value : float
        The objective at the threshold on the data (for ``cost``: the expected cost per
        unit of weight; for ``top_k``: the weight of rows flagged).
    value_ci : (float, float)
        Interval of the objective at this fixed threshold over the resamples.
    optimum_ci : (float, float)
        Interval of the best objective value, optimised again in each resample: the basic
        (reflected) bootstrap interval, which takes off the upward bias of a maximum.
    metrics : MetricTable
        Every metric at the threshold, with percentile intervals at the fixed threshold.
    curve : ThresholdCurve
    split : {"validation", "oof", "test"}
        The data the threshold was chosen on.
    warning : str or None
        Set when ``split="test"``: the metrics at the threshold are optimistic.
    positive_label, classes
        The positive class and both classes (negative first).
    scores_are_probabilities : bool
    n_rows : int
    weighted : bool
    n_resamples : int
        0 when no interval was computed.
    n_failed_resamples : int
        Resamples where no threshold met the objective's constraint (left out of intervals).
    confidence : float
    random_state : int or None
    """

    objective: Objective
    threshold: float
    ci: tuple[float, float]
    value: float
    value_ci: tuple[float, float]
    optimum_ci: tuple[float, float]
    metrics: MetricTable
    curve: ThresholdCurve
    split: str
    warning: str | None
    positive_label: Any
    classes: tuple[Any, ...]
    scores_are_probabilities: bool
    n_rows: int
    weighted: bool
    n_resamples: int
    n_failed_resamples: int
    confidence: float
    random_state: int | None
    label: str | None = None

    def __repr__(self) -> str:
        lo, hi = self.ci
        ci = f" [{lo:.4g}, {hi:.4g}]" if math.isfinite(lo) else ""
        warn = ", optimistic: chosen on test" if self.warning else ""
        return (
            f"ThresholdSelection({self.objective.describe()}: threshold {self.threshold:.6g}"
            f"{ci}, {self.objective.metric} {self.value:.4g}, split={self.split!r}{warn})"
        )

    def _repr_html_(self) -> str:
        """Jupyter's display: headline with intervals, main figure, findings, tables."""
        from afterfit.display import html

        return html(self)

    @property
    def objective_name(self) -> str:
        return self.objective.name

    def frame(self) -> pd.DataFrame:
        """The threshold, then every metric at it: ``metric, value, ci_low, ci_high,
        method`` (the ``<metric>_optimum`` row is the objective optimised per resample)."""
        tag = self.metrics.rows[0].method if self.n_resamples else "none"
        # The same resamples (all rows, or m-out-of-n on large data), re-optimised in each.
        again = f"{tag}, re-optimised" if self.n_resamples else "none"
        first = [
            ("threshold", self.threshold, *self.ci, again),
            (f"{self.objective.metric}_optimum", self.value, *self.optimum_ci, again),
        ]
        rows = first + [(r.metric, r.value, r.ci_low, r.ci_high, tag) for r in self.metrics.rows]
        return pd.DataFrame(rows, columns=["metric", "value", "ci_low", "ci_high", "method"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: NaN becomes null."""
        return {
            "kind": "binary_threshold",
            "objective": self.objective.name,
            "objective_description": self.objective.describe(),
            "objective_metric": self.objective.metric,
            "parameters": self.objective.params(),
            "rule": "predict the positive class iff score > threshold",
            "threshold": _num(self.threshold),
            "threshold_ci": _interval(self.ci),
            "value": _num(self.value),
            "value_ci": _interval(self.value_ci),
            "optimum_ci": _interval(self.optimum_ci),
            "split": self.split,
            "warning": self.warning,
            "class": self.label,
            "positive_label": str(self.positive_label),
            "classes": [str(c) for c in self.classes],
            "scores_are_probabilities": self.scores_are_probabilities,
            "n_rows": self.n_rows,
            "weighted": self.weighted,
            "settings": {
                "n_resamples": self.n_resamples,
                "confidence": self.confidence,
                "random_state": self.random_state,
                "interval": "bootstrap percentile" if self.n_resamples else None,
            },
            "n_failed_resamples": self.n_failed_resamples,
            "metrics": self.metrics.to_dict(),
            "curve": self.curve.to_dict(),
        }

    def plot(self, **kwargs: Any) -> Any:
        return self.curve.plot(**kwargs)

    def apply(self, model: Any, *, response_method: str = "auto") -> Any:
        """Wrap the fitted ``model`` (scikit-learn API) so that it predicts with this
        threshold: a :class:`~afterfit.thresholds.ThresholdedModel`.

        The model must produce the scores the threshold was chosen on: probabilities
        (``predict_proba``) when ``scores_are_probabilities``, otherwise decision scores.
        """
        from afterfit.thresholds._models import ThresholdedModel, unwrap_estimator

        estimator = unwrap_estimator(model)
        has_proba = hasattr(estimator, "predict_proba")
        if response_method == "auto":
            response_method = "predict_proba" if has_proba else "decision_function"
        wants_proba = response_method == "predict_proba"
        if wants_proba != self.scores_are_probabilities:
            chosen_on = "probabilities" if self.scores_are_probabilities else "decision scores"
            raise InvalidInputError(
                f"the threshold was chosen on {chosen_on}, but the model would be "
                f"thresholded on the output of {response_method}.",
                fix="apply it to the model whose scores it was chosen on, or pass "
                "response_method='predict_proba' or 'decision_function' to match.",
            )
        return ThresholdedModel(
            estimator,
            threshold=float(self.threshold),
            pos_label=_plain(self.positive_label),
            response_method=response_method,
        )


@dataclass(frozen=True)
class PerClassThresholds:
    """Multiclass: one-vs-rest thresholds, each class's best for the objective.

    ``selections[k]`` is a :class:`ThresholdSelection` of class ``classes[k]`` against the
    rest. There is no single decision rule for several one-vs-rest thresholds, so this
    result reports them and has no ``apply``; for multiclass decisions use
    ``objective="cost"`` with a cost matrix.
    """

    selections: tuple[ThresholdSelection, ...]
    classes: tuple[Any, ...]
    split: str
    warning: str | None

    def __getitem__(self, label: Any) -> ThresholdSelection:
        for c, sel in zip(self.classes, self.selections, strict=True):
            if c == label or str(c) == str(label):
                return sel
        raise KeyError(f"no class {label!r}; the classes are {list(self.classes)}")

    @property
    def thresholds(self) -> np.ndarray:
        return np.array([s.threshold for s in self.selections])

    def frame(self) -> pd.DataFrame:
        """One row per class: threshold and objective with intervals, and the metrics."""
        rows = []
        for c, s in zip(self.classes, self.selections, strict=True):
            row: dict[str, Any] = {
                "class": str(c),
                "threshold": s.threshold,
                "threshold_ci_low": s.ci[0],
                "threshold_ci_high": s.ci[1],
                "objective_metric": s.objective.metric,
                "value": s.value,
                "value_ci_low": s.value_ci[0],
                "value_ci_high": s.value_ci[1],
            }
            for m in s.metrics.rows:
                row[m.metric] = m.value
            rows.append(row)
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "per_class_thresholds",
            "rule": "one-vs-rest: class k is flagged iff its score > its threshold",
            "classes": [str(c) for c in self.classes],
            "split": self.split,
            "warning": self.warning,
            "per_class": [s.to_dict() for s in self.selections],
        }

    def plot(self, **kwargs: Any) -> Any:
        from afterfit import plots

        return plots.plot_threshold_curves(tuple(s.curve for s in self.selections), **kwargs)

    def apply(self, model: Any) -> Any:
        raise InvalidInputError(
            "per-class one-vs-rest thresholds have no single multiclass decision rule, so "
            "they cannot be applied to a model.",
            fix="for multiclass decisions choose objective='cost' with a cost_matrix "
            "(a CostSensitiveModel), or apply one class's threshold to a binary model.",
        )


@dataclass(frozen=True)
class CostDecision:
    """Multiclass decisions of minimum expected cost under the predicted probabilities.

    Each row is given the class ``j`` minimising ``sum_i p_i C[i, j]`` (``C[i, j]``: the
    cost of predicting class ``j`` when the truth is ``i``; gains count negative).

    Attributes
    ----------
    cost_matrix : ndarray of shape (K, K)
        Effective costs (``cost_matrix - gain_matrix``), rows true class, columns predicted.
    classes : tuple
    expected_cost : MetricValue
        Mean cost of these decisions on the data, with its bootstrap interval.
    argmax_cost : MetricValue
        Mean cost of predicting the most probable class, for comparison.
    cost_reduction : MetricValue
        ``argmax_cost - expected_cost``, with its paired interval.
    confusion : ConfusionResult
        Confusion matrix of the cost-sensitive decisions.
    split, warning, n_rows, weighted, n_resamples, confidence, random_state
        As in :class:`ThresholdSelection`.
    """

    cost_matrix: np.ndarray
    classes: tuple[Any, ...]
    expected_cost: MetricValue
    argmax_cost: MetricValue
    cost_reduction: MetricValue
    confusion: ConfusionResult
    split: str
    warning: str | None
    n_rows: int
    weighted: bool
    n_resamples: int
    confidence: float
    random_state: int | None

    def __repr__(self) -> str:
        c = self.expected_cost
        ci = f" [{c.ci_low:.4g}, {c.ci_high:.4g}]" if math.isfinite(c.ci_low) else ""
        warn = ", optimistic: chosen on test" if self.warning else ""
        return (
            f"CostDecision(expected cost {c.value:.4g}{ci}, argmax "
            f"{self.argmax_cost.value:.4g}, split={self.split!r}{warn})"
        )

    def _repr_html_(self) -> str:
        """Jupyter's display: headline with intervals, main figure, findings, tables."""
        from afterfit.display import html

        return html(self)

    @property
    def metrics(self) -> MetricTable:
        return MetricTable((self.expected_cost, self.argmax_cost, self.cost_reduction),
                           self.confidence)  # fmt: skip

    def frame(self) -> pd.DataFrame:
        return self.metrics.frame()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "multiclass_cost",
            "rule": "predict argmin_j sum_i p_i cost_matrix[i][j]",
            "classes": [str(c) for c in self.classes],
            "cost_matrix": [_nums(row) for row in self.cost_matrix],
            "split": self.split,
            "warning": self.warning,
            "n_rows": self.n_rows,
            "weighted": self.weighted,
            "settings": {
                "n_resamples": self.n_resamples,
                "confidence": self.confidence,
                "random_state": self.random_state,
            },
            "metrics": self.metrics.to_dict(),
            "confusion_matrix": self.confusion.to_dict(),
        }

    def plot(self, **kwargs: Any) -> Any:
        """The confusion matrix of the cost-sensitive decisions."""
        return self.confusion.plot(**kwargs)

    def apply(self, model: Any) -> Any:
        """Wrap the fitted ``model`` in a :class:`~afterfit.thresholds.CostSensitiveModel`."""
        from afterfit.thresholds._models import CostSensitiveModel, unwrap_estimator

        estimator = unwrap_estimator(model)
        own = [_plain(c) for c in getattr(estimator, "classes_", [])]
        if [str(c) for c in own] != [str(c) for c in self.classes]:
            raise InvalidInputError(
                f"the model's classes {own} are not the classes the costs were chosen for "
                f"{list(self.classes)}.",
                fix="apply the decision to the model whose probabilities it was chosen on.",
            )
        return CostSensitiveModel(estimator, cost_matrix=self.cost_matrix.tolist())
