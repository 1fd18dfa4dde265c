"""Frozen results of an evaluation: numbers in, tables and pictures out.

Each result has ``frame()`` (a tidy pandas DataFrame), ``to_dict()`` (JSON-safe, feeds
``results.json``) and ``plot()`` (a matplotlib figure, drawn by :mod:`afterfit.plots`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from afterfit.jsonsafe import number as _num
from afterfit.jsonsafe import numbers as _nums


@dataclass(frozen=True)
class MetricValue:
    """One metric: its value and interval, and how the interval was computed."""

    metric: str
    value: float
    ci_low: float = math.nan
    ci_high: float = math.nan
    method: str = "none"
    label: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "class": self.label,
            "value": _num(self.value),
            "ci_low": _num(self.ci_low),
            "ci_high": _num(self.ci_high),
            "method": self.method,
        }


@dataclass(frozen=True)
class MetricTable:
    """Metrics with confidence intervals; per-class rows carry their class label."""

    rows: tuple[MetricValue, ...]
    confidence: float

    def __getitem__(self, metric: str) -> MetricValue:
        for row in self.rows:
            if row.metric == metric and row.label is None:
                return row
        names = ", ".join(r.metric for r in self.rows if r.label is None)
        raise KeyError(f"no metric {metric!r}; the metrics are: {names}")

    def __contains__(self, metric: object) -> bool:
        return any(r.metric == metric and r.label is None for r in self.rows)

    def overall(self) -> tuple[MetricValue, ...]:
        return tuple(r for r in self.rows if r.label is None)

    def per_class(self) -> tuple[MetricValue, ...]:
        return tuple(r for r in self.rows if r.label is not None)

    def frame(self, *, per_class: bool = False) -> pd.DataFrame:
        """Columns ``metric, value, ci_low, ci_high, method`` (and ``class`` per class)."""
        rows = self.per_class() if per_class else self.overall()
        columns = ["class", "metric", "value", "ci_low", "ci_high", "method"]
        records = [(r.label, r.metric, r.value, r.ci_low, r.ci_high, r.method) for r in rows]
        df = pd.DataFrame(records, columns=columns)
        return df if per_class else df.drop(columns="class")

    def to_dict(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.rows]

    def plot(self, **kwargs: Any) -> Any:
        from afterfit import plots

        return plots.plot_metrics(self, **kwargs)


@dataclass(frozen=True)
class ConfusionResult:
    """Confusion matrix (rows: true class, columns: predicted), weighted counts."""

    counts: np.ndarray
    labels: tuple[str, ...]
    threshold: float | None = None

    @property
    def normalized(self) -> np.ndarray:
        """Each row divided by its total: the recall of each class on the diagonal."""
        totals = self.counts.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(totals > 0, self.counts / np.where(totals > 0, totals, 1), np.nan)

    def frame(self) -> pd.DataFrame:
        """Tidy: one row per (true, predicted) cell, with count and row-normalised share."""
        k = len(self.labels)
        return pd.DataFrame(
            {
                "true": np.repeat(self.labels, k),
                "predicted": np.tile(self.labels, k),
                "count": self.counts.ravel().astype(float),
                "normalized": self.normalized.ravel(),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": list(self.labels),
            "counts": [_nums(row) for row in self.counts],
            "normalized": [_nums(row) for row in self.normalized],
            "threshold": None if self.threshold is None else _num(self.threshold),
        }

    def plot(self, *, normalize: bool = False, **kwargs: Any) -> Any:
        from afterfit import plots

        return plots.plot_confusion(self, normalize=normalize, **kwargs)


@dataclass(frozen=True)
class Band:
    """A pointwise bootstrap band of a curve on a fixed grid."""

    grid: np.ndarray
    low: np.ndarray
    high: np.ndarray
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "grid": _nums(self.grid),
            "low": _nums(self.low),
            "high": _nums(self.high),
            "confidence": self.confidence,
        }


@dataclass(frozen=True)
class CurveResult:
    """A ROC or precision-recall curve, with its area and an optional band.

    ``x``/``y`` are false positive rate/true positive rate (ROC) or recall/precision (PR).
    Curves with more than 20,000 points are thinned to the points that keep their shape
    (the trapezoidal area moves by at most 5e-5); the area is always computed on the full
    curve, and ``n_points_full`` says how many points it had.
    """

    kind: str
    x: np.ndarray
    y: np.ndarray
    thresholds: np.ndarray
    area: MetricValue
    label: str | None = None
    band: Band | None = None
    n_points_full: int = 0

    @property
    def x_name(self) -> str:
        return "fpr" if self.kind == "roc" else "recall"

    @property
    def y_name(self) -> str:
        return "tpr" if self.kind == "roc" else "precision"

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {self.x_name: self.x, self.y_name: self.y, "threshold": self.thresholds}
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "class": self.label,
            self.x_name: _nums(self.x),
            self.y_name: _nums(self.y),
            "threshold": _nums(self.thresholds),
            "area": self.area.to_dict(),
            "band": None if self.band is None else self.band.to_dict(),
            "n_points_full": self.n_points_full,
        }

    def plot(self, **kwargs: Any) -> Any:
        from afterfit import plots

        return plots.plot_curve(self, **kwargs)


@dataclass(frozen=True)
class CalibrationResult:
    """Reliability curve: fraction of positives against mean predicted probability per bin."""

    edges: np.ndarray
    mean_predicted: np.ndarray
    fraction_positive: np.ndarray
    weight: np.ndarray
    band_low: np.ndarray | None = None
    band_high: np.ndarray | None = None
    confidence: float = 0.95

    def frame(self) -> pd.DataFrame:
        """One row per non-empty bin (scikit-learn's ``calibration_curve`` leaves empty
        bins out too)."""
        keep = self.weight > 0
        df = pd.DataFrame(
            {
                "bin_low": self.edges[:-1],
                "bin_high": self.edges[1:],
                "mean_predicted": self.mean_predicted,
                "fraction_positive": self.fraction_positive,
                "weight": self.weight,
            }
        )
        if self.band_low is not None:
            df["ci_low"] = self.band_low
            df["ci_high"] = self.band_high
        return df[keep].reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "edges": _nums(self.edges),
            "mean_predicted": _nums(self.mean_predicted),
            "fraction_positive": _nums(self.fraction_positive),
            "weight": _nums(self.weight),
            "ci_low": _nums(self.band_low),
            "ci_high": _nums(self.band_high),
        }

    def plot(self, **kwargs: Any) -> Any:
        from afterfit import plots

        return plots.plot_calibration(self, **kwargs)


@dataclass(frozen=True)
class ResidualsResult:
    """Regression residuals; plots use at most ``max_points`` rows, sampled with a seed."""

    y_true: np.ndarray
    y_pred: np.ndarray
    sampled: bool = False
    n_total: int = 0
    quantiles: dict[str, float] = field(default_factory=dict)

    @property
    def residuals(self) -> np.ndarray:
        return self.y_true - self.y_pred

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"y_true": self.y_true, "y_pred": self.y_pred, "residual": self.residuals}
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_total": self.n_total,
            "sampled": self.sampled,
            "residual_quantiles": {k: _num(v) for k, v in self.quantiles.items()},
        }

    def plot(self, **kwargs: Any) -> Any:
        from afterfit import plots

        return plots.plot_residuals(self, **kwargs)
