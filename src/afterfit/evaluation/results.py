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


@dataclass(frozen=True)
class BinaryViews:
    """Views of a binary scorer from the one sort (:mod:`afterfit.metrics.views`).

    Attributes
    ----------
    gain_grid, gain, lift : ndarray
        Cumulative gain (share of positives captured) and lift (gain / share targeted)
        when the top ``gain_grid`` share of rows by score is targeted.
    gain_band : Band or None
        Pointwise bootstrap band of the gain; the lift's band is it divided by the grid.
    ks : MetricValue
        KS statistic ``max(TPR - FPR)``, with its bootstrap interval.
    ks_score, ks_share : float
        Where it occurs: rows scoring at or above ``ks_score`` (the top ``ks_share`` of
        rows) are the ones predicted positive there.
    deciles : dict of ndarray
        The decile table (:func:`afterfit.metrics.views.decile_table`).
    threshold_probability, net_benefit, treat_all : ndarray or None
        The decision curve (probabilities only); treating no one has net benefit 0.
    net_benefit_band : Band or None
    cost_grid, cost : ndarray
        Cost curve: normalised expected cost of the best threshold at each probability
        cost (Drummond & Holte 2006).
    """

    gain_grid: np.ndarray
    gain: np.ndarray
    lift: np.ndarray
    ks: MetricValue
    ks_score: float
    ks_share: float
    deciles: dict[str, np.ndarray]
    cost_grid: np.ndarray
    cost: np.ndarray
    gain_band: Band | None = None
    threshold_probability: np.ndarray | None = None
    net_benefit: np.ndarray | None = None
    treat_all: np.ndarray | None = None
    net_benefit_band: Band | None = None
    confidence: float = 0.95

    def lift_band(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Pointwise band of the lift: the gain band over the share targeted."""
        if self.gain_band is None:
            return None
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(self.gain_grid > 0, self.gain_grid, np.nan)
            return self.gain_band.low / share, self.gain_band.high / share

    def frame(self, view: str = "gain") -> pd.DataFrame:
        """One view as a table: ``"gain"`` (with lift), ``"deciles"``, ``"decision"`` or
        ``"cost"``."""
        if view == "gain":
            df = pd.DataFrame({"share_targeted": self.gain_grid, "gain": self.gain,
                               "lift": self.lift})  # fmt: skip
            if self.gain_band is not None:
                df["gain_ci_low"], df["gain_ci_high"] = self.gain_band.low, self.gain_band.high
            return df
        if view == "deciles":
            return pd.DataFrame(self.deciles)
        if view == "decision":
            if self.net_benefit is None or self.threshold_probability is None:
                return pd.DataFrame(columns=["threshold_probability", "net_benefit",
                                             "treat_all", "treat_none"])  # fmt: skip
            df = pd.DataFrame(
                {
                    "threshold_probability": self.threshold_probability,
                    "net_benefit": self.net_benefit,
                    "treat_all": self.treat_all,
                    "treat_none": np.zeros_like(self.threshold_probability),
                }
            )
            if self.net_benefit_band is not None:
                df["ci_low"] = self.net_benefit_band.low
                df["ci_high"] = self.net_benefit_band.high
            return df
        if view == "cost":
            return pd.DataFrame({"probability_cost": self.cost_grid, "normalized_cost": self.cost})
        from afterfit.errors import InvalidInputError

        raise InvalidInputError(
            f"view must be 'gain', 'deciles', 'decision' or 'cost'; got {view!r}.",
            fix="pass view='gain' (cumulative gain and lift) or one of the others.",
        )

    def to_dict(self) -> dict[str, Any]:
        decision = None
        if self.net_benefit is not None and self.threshold_probability is not None:
            decision = {
                "threshold_probability": _nums(self.threshold_probability),
                "net_benefit": _nums(self.net_benefit),
                "treat_all": _nums(self.treat_all),
                "treat_none": 0.0,
                "band": None if self.net_benefit_band is None else self.net_benefit_band.to_dict(),
                "method": "Vickers & Elkin (2006): TP/n - FP/n * pt/(1 - pt); rows with a "
                "probability above pt are treated",
            }
        return {
            "gain": {
                "share_targeted": _nums(self.gain_grid),
                "gain": _nums(self.gain),
                "lift": _nums(self.lift),
                "band": None if self.gain_band is None else self.gain_band.to_dict(),
            },
            "ks": {
                **self.ks.to_dict(),
                "score": _num(self.ks_score),
                "share_targeted": _num(self.ks_share),
            },
            "deciles": {k: _nums(np.asarray(v, dtype=float)) for k, v in self.deciles.items()},
            "decision_curve": decision,
            "cost_curve": {
                "probability_cost": _nums(self.cost_grid),
                "normalized_cost": _nums(self.cost),
                "method": "Drummond & Holte (2006): lower envelope of FNR*PC + FPR*(1 - PC)",
            },
        }
