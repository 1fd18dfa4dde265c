"""Frozen results of the calibration steps: numbers in, tables and pictures out.

Each result has ``frame()`` (a tidy pandas DataFrame), ``to_dict()`` (JSON-safe: NaN
becomes ``null``) and ``plot()`` (a matplotlib figure, drawn by
:mod:`afterfit.calibration._plots`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from afterfit.evaluation.results import MetricTable, MetricValue, _nums

#: How the Brier decomposition relates to the Brier score, written into every result.
DECOMPOSITION_NOTE = (
    "brier_binned = reliability - resolution + uncertainty holds exactly: it is the Brier "
    "score of the forecasts replaced by their bin means (Murphy 1973). For the raw "
    "forecasts, brier = brier_binned + residual with residual = within_bin_variance - 2 * "
    "within_bin_covariance (Stephenson, Coelho & Jolliffe 2008), so brier ~ reliability - "
    "resolution + uncertainty up to the residual."
)

#: The components of the Brier decomposition, in table order.
COMPONENTS: tuple[str, ...] = (
    "brier",
    "reliability",
    "resolution",
    "uncertainty",
    "brier_binned",
    "residual",
    "within_bin_variance",
    "within_bin_covariance",
)


@dataclass(frozen=True)
class CalibrationSettings:
    """The options a calibration result was computed with."""

    n_bins: int
    strategy: str
    n_resamples: int
    confidence: float
    bootstrap_method: str
    random_state: int | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ReliabilityCurve:
    """A reliability diagram: observed frequency against mean forecast, bin by bin.

    Attributes
    ----------
    edges : ndarray
        Bin edges, ``n_bins + 1`` values (data quantiles for equal-mass bins).
    mean_predicted, fraction_positive, weight : ndarray
        Per bin: mean forecast, observed frequency of the event and (weighted) row count;
        NaN for empty bins.
    strategy : {"uniform", "quantile"}
        Equal-width or equal-mass bins.
    kind : {"binary", "top_label", "one_vs_rest"}
        What the forecast is: the positive class, the confidence of the predicted class
        (event: the prediction is right), or one class against the rest.
    label : str or None
        The class (binary: the positive class; one-vs-rest: the class), or a name such as
        ``"uncalibrated"`` in a comparison.
    band_low, band_high : ndarray or None
        Pointwise bootstrap band of ``fraction_positive``.
    ece, mce : MetricValue or None
        Expected and maximum calibration error in these bins, with their intervals.
    """

    edges: np.ndarray
    mean_predicted: np.ndarray
    fraction_positive: np.ndarray
    weight: np.ndarray
    strategy: str
    kind: str = "binary"
    label: str | None = None
    band_low: np.ndarray | None = None
    band_high: np.ndarray | None = None
    confidence: float = 0.95
    ece: MetricValue | None = None
    mce: MetricValue | None = None

    @property
    def gap(self) -> np.ndarray:
        """Observed frequency minus mean forecast, per bin (positive: under-confident)."""
        return self.fraction_positive - self.mean_predicted

    def frame(self) -> pd.DataFrame:
        """One row per non-empty bin (as scikit-learn's ``calibration_curve``)."""
        df = pd.DataFrame(
            {
                "bin_low": self.edges[:-1],
                "bin_high": self.edges[1:],
                "mean_predicted": self.mean_predicted,
                "fraction_positive": self.fraction_positive,
                "gap": self.gap,
                "weight": self.weight,
            }
        )
        if self.band_low is not None:
            df["ci_low"] = self.band_low
            df["ci_high"] = self.band_high
        return df[self.weight > 0].reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "strategy": self.strategy,
            "edges": _nums(self.edges),
            "mean_predicted": _nums(self.mean_predicted),
            "fraction_positive": _nums(self.fraction_positive),
            "weight": _nums(self.weight),
            "ci_low": _nums(self.band_low),
            "ci_high": _nums(self.band_high),
            "confidence": self.confidence,
            "ece": None if self.ece is None else self.ece.to_dict(),
            "mce": None if self.mce is None else self.mce.to_dict(),
        }

    def plot(self, *, histogram: bool = True, ax: Any = None) -> Any:
        """Reliability diagram with its band and, below it, the weight of each bin."""
        from afterfit.calibration import _plots

        return _plots.plot_reliability(self, histogram=histogram, ax=ax)


@dataclass(frozen=True)
class BrierDecomposition:
    """Murphy's decomposition of the Brier score in the bins of a reliability diagram.

    Every component is a :class:`~afterfit.evaluation.results.MetricValue` with its
    bootstrap interval. ``brier_binned = reliability - resolution + uncertainty`` exactly;
    ``brier = brier_binned + residual`` (see :data:`DECOMPOSITION_NOTE`). For multiclass
    models the overall decomposition is the sum of the one-vs-rest decompositions, as the
    multiclass Brier score is the sum of the one-vs-rest ones.
    """

    brier: MetricValue
    reliability: MetricValue
    resolution: MetricValue
    uncertainty: MetricValue
    brier_binned: MetricValue
    residual: MetricValue
    within_bin_variance: MetricValue
    within_bin_covariance: MetricValue
    strategy: str
    n_bins: int
    label: str | None = None

    def components(self) -> tuple[MetricValue, ...]:
        return tuple(getattr(self, name) for name in COMPONENTS)

    def frame(self) -> pd.DataFrame:
        """Columns ``component, value, ci_low, ci_high, method``."""
        return pd.DataFrame(
            [(m.metric, m.value, m.ci_low, m.ci_high, m.method) for m in self.components()],
            columns=["component", "value", "ci_low", "ci_high", "method"],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "strategy": self.strategy,
            "n_bins": self.n_bins,
            "components": {m.metric: m.to_dict() for m in self.components()},
            "identity": DECOMPOSITION_NOTE,
        }

    def plot(self, *, ax: Any = None) -> Any:
        from afterfit.calibration import _plots

        return _plots.plot_decomposition(self, ax=ax)


@dataclass(frozen=True)
class CalibrationReport:
    """How well a classifier's probabilities are calibrated (:func:`evaluate_calibration`).

    Attributes
    ----------
    task : {"binary", "multiclass"}
    n_rows : int
    classes : tuple of str
    positive_label : str or None
        Binary: the class whose probability is assessed.
    weighted : bool
    settings : CalibrationSettings
    metrics : MetricTable
        ``ece_uniform``, ``ece_quantile``, ``mce_uniform``, ``mce_quantile``, ``brier``,
        ``log_loss``; multiclass adds ``classwise_ece_uniform`` and
        ``classwise_ece_quantile`` (mean of the one-vs-rest ECEs), with the ECE and MCE of
        the top label (confidence) in the overall rows and one-vs-rest rows per class
        (``metrics.frame(per_class=True)``).
    reliability : ReliabilityCurve
        Binary: the positive class. Multiclass: the top label (confidence).
    decomposition : BrierDecomposition
    reliability_per_class, decomposition_per_class : tuple
        Multiclass: one-vs-rest, one per class.
    """

    task: str
    n_rows: int
    classes: tuple[str, ...]
    positive_label: str | None
    weighted: bool
    settings: CalibrationSettings
    metrics: MetricTable
    reliability: ReliabilityCurve
    decomposition: BrierDecomposition
    reliability_per_class: tuple[ReliabilityCurve, ...] = ()
    decomposition_per_class: tuple[BrierDecomposition, ...] = ()

    def __repr__(self) -> str:
        from afterfit.display import one_line, with_interval

        e = self.metrics["ece_uniform"] if "ece_uniform" in self.metrics else None
        ece = None if e is None else with_interval("ECE", e.value, e.ci_low, e.ci_high)
        brier = f"Brier {self.metrics['brier'].value:.4g}" if "brier" in self.metrics else None
        return one_line("CalibrationReport", self.task, ece, brier, f"{self.n_rows:,} rows")

    def _repr_html_(self) -> str:
        """Jupyter's display: headline with intervals, main figure, findings, tables."""
        from afterfit.display import html

        return html(self)

    def __getitem__(self, metric: str) -> MetricValue:
        return self.metrics[metric]

    def frame(self, *, per_class: bool = False) -> pd.DataFrame:
        """The metrics: ``metric, value, ci_low, ci_high, method`` (and ``class``)."""
        return self.metrics.frame(per_class=per_class)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe; the keys are documented in :mod:`afterfit.cli.calibrate`."""
        return {
            "task": self.task,
            "n_rows": self.n_rows,
            "classes": list(self.classes),
            "positive_label": self.positive_label,
            "weighted": self.weighted,
            "settings": self.settings.to_dict(),
            "metrics": self.metrics.to_dict(),
            "reliability": self.reliability.to_dict(),
            "reliability_per_class": [c.to_dict() for c in self.reliability_per_class],
            "brier_decomposition": self.decomposition.to_dict(),
            "brier_decomposition_per_class": [d.to_dict() for d in self.decomposition_per_class],
        }

    def plot(self, kind: str = "reliability", **kwargs: Any) -> Any:
        """``kind="reliability"`` (default), ``"per_class"`` (multiclass: one small
        one-vs-rest diagram per class) or ``"decomposition"``."""
        from afterfit.calibration import _plots

        if kind == "reliability":
            return self.reliability.plot(**kwargs)
        if kind == "per_class":
            if not self.reliability_per_class:
                raise ValueError("per-class curves exist for multiclass models only")
            return _plots.plot_reliability_grid(
                self.reliability_per_class, title="Reliability, one-vs-rest", **kwargs
            )
        if kind == "decomposition":
            return self.decomposition.plot(**kwargs)
        raise ValueError(
            f"kind must be 'reliability', 'per_class' or 'decomposition'; got {kind!r}"
        )


@dataclass(frozen=True)
class ComparisonRow:
    """One metric before and after calibration, and the paired difference (after - before)."""

    metric: str
    before: MetricValue
    after: MetricValue
    difference: MetricValue

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "difference": self.difference.to_dict(),
        }


@dataclass(frozen=True)
class CalibrationComparison:
    """Calibration metrics of two models on the same held-out rows
    (:func:`compare_calibration`).

    The intervals of ``difference`` come from a paired bootstrap: each resample draws the
    same rows for both models. A negative difference in log loss, Brier score or ECE means
    the second model (``names[1]``, by default the calibrated one) is better.
    """

    task: str
    n_rows: int
    classes: tuple[str, ...]
    settings: CalibrationSettings
    rows: tuple[ComparisonRow, ...]
    before: ReliabilityCurve
    after: ReliabilityCurve
    names: tuple[str, str] = ("uncalibrated", "calibrated")

    def __getitem__(self, metric: str) -> ComparisonRow:
        for row in self.rows:
            if row.metric == metric:
                return row
        raise KeyError(f"no metric {metric!r}; the metrics are: {', '.join(self.metrics)}")

    @property
    def metrics(self) -> list[str]:
        return [r.metric for r in self.rows]

    def frame(self) -> pd.DataFrame:
        """One row per metric: value and interval before, after, and of the difference."""
        records = []
        for r in self.rows:
            records.append(
                {
                    "metric": r.metric,
                    "before": r.before.value,
                    "before_ci_low": r.before.ci_low,
                    "before_ci_high": r.before.ci_high,
                    "after": r.after.value,
                    "after_ci_low": r.after.ci_low,
                    "after_ci_high": r.after.ci_high,
                    "difference": r.difference.value,
                    "difference_ci_low": r.difference.ci_low,
                    "difference_ci_high": r.difference.ci_high,
                    "method": r.difference.method,
                }
            )
        return pd.DataFrame(records)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "n_rows": self.n_rows,
            "classes": list(self.classes),
            "names": list(self.names),
            "settings": self.settings.to_dict(),
            "metrics": [r.to_dict() for r in self.rows],
            "reliability_before": self.before.to_dict(),
            "reliability_after": self.after.to_dict(),
        }

    def plot(self, *, ax: Any = None) -> Any:
        """Both reliability curves, with their bands, on one set of axes."""
        from afterfit.calibration import _plots

        return _plots.plot_reliability_curves(
            (self.before, self.after), title="Reliability before and after calibration", ax=ax
        )


def metric_value(
    name: str, value: float, interval: tuple[float, float, str] | None, label: str | None = None
) -> MetricValue:
    """A MetricValue from a point value and an optional ``(low, high, method)``."""
    if interval is None:
        return MetricValue(name, float(value), math.nan, math.nan, "none", label)
    lo, hi, method = interval
    return MetricValue(name, float(value), lo, hi, method, label)


__all__ = [
    "COMPONENTS",
    "DECOMPOSITION_NOTE",
    "BrierDecomposition",
    "CalibrationComparison",
    "CalibrationReport",
    "CalibrationSettings",
    "ComparisonRow",
    "ReliabilityCurve",
    "metric_value",
]
