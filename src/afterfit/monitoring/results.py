"""What monitoring gives back: ``MonitorResult`` (drift over the log and per window, the
labelled ``Performance``, the estimates) and its frames."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from afterfit import jsonsafe
from afterfit.bundle.drift import ColumnDrift, DriftThresholds
from afterfit.bundle.reference import ReferenceStats
from afterfit.monitoring.windows import Window, WindowSpec, format_window

__all__ = ["MonitorResult", "Performance"]


# -- the result ------------------------------------------------------------------------
@dataclass(frozen=True)
class Performance:
    """Model performance on the labelled rows, over the whole log and per window."""

    task: str
    n_labeled: int
    overall: Any  # afterfit Evaluation
    windows: tuple[tuple[int, str, int, Any], ...]  # (index, label, n, Evaluation | None)
    notes: tuple[str, ...] = ()

    def frame(self) -> pd.DataFrame:
        """One row per window and metric: ``window, start, n_labeled, metric, value,
        ci_low, ci_high, method`` (window ``all`` for the whole log)."""
        rows = []
        parts = [(-1, "all", self.n_labeled, self.overall), *self.windows]
        for _index, label, n, ev in parts:
            if ev is None:
                continue
            for r in ev.metrics.overall():
                rows.append((label, n, r.metric, r.value, r.ci_low, r.ci_high, r.method))
        return pd.DataFrame(
            rows, columns=["window", "n_labeled", "metric", "value", "ci_low", "ci_high", "method"]
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "n_labeled": int(self.n_labeled),
            "overall": [r.to_dict() for r in self.overall.metrics.overall()],
            "windows": [
                {
                    "window": label,
                    "n_labeled": int(n),
                    "metrics": None if ev is None else [r.to_dict() for r in ev.metrics.overall()],
                }
                for _i, label, n, ev in self.windows
            ],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class MonitorResult:
    """Drift of a prediction log against a reference (and performance, with labels).

    Attributes
    ----------
    features, predictions : tuple of ColumnDrift
        Over the whole log, flagged with ``thresholds`` (Holm over the features; the
        score columns are tested as their own family).
    windows : tuple of Window
        Per window (empty without ``window``).
    performance : Performance or None
        With labels.
    """

    reference: ReferenceStats
    features: tuple[ColumnDrift, ...]
    predictions: tuple[ColumnDrift, ...]
    windows: tuple[Window, ...]
    window: WindowSpec | None
    thresholds: DriftThresholds
    n_rows: int
    ts_min: float
    ts_max: float
    source: str
    absent: tuple[str, ...] = ()
    performance: Performance | None = None
    counts: dict[str, tuple[np.ndarray, int, int]] = field(default_factory=dict, repr=False)
    model: dict[str, Any] = field(default_factory=dict)
    # monitor_estimates.EstimatedPerformance and MultivariateResult (monitor_bundle).
    estimated: Any = None
    multivariate: Any = None

    def __repr__(self) -> str:
        from afterfit.display import one_line

        psi = [c.psi for c in self.features if math.isfinite(c.psi)]
        drifted = f"{len(self.drifted)} of {len(self.features)} features drifted"
        top = f"max PSI {max(psi):.3g}" if psi else None
        return one_line("MonitorResult", drifted, top, f"{self.n_rows:,} rows")

    def _repr_html_(self) -> str:
        """Jupyter's display: headline with intervals, main figure, findings, tables."""
        from afterfit.display import html

        return html(self)

    @property
    def drifted(self) -> list[str]:
        """Names of the drifted features, most drifted first."""
        return [c.name for c in _sorted(self.features) if c.drifted]

    def frame(self) -> pd.DataFrame:
        """One row per feature, most drifted first (drifted, then by PSI)."""
        return _columns_frame(_sorted(self.features))

    def predictions_frame(self) -> pd.DataFrame:
        """One row per score column."""
        return _columns_frame(self.predictions)

    def windows_frame(self) -> pd.DataFrame:
        """One row per window and column: ``window, start, end, n_rows, column, role,
        psi, ks, js, p_value, p_value_holm, missing_current, drifted``."""
        rows = []
        for w in self.windows:
            label = self.window_label(w)
            for role, cols in (("feature", w.features), ("prediction", w.predictions)):
                for c in cols:
                    rows.append(
                        {
                            "window": label,
                            "start": w.start,
                            "end": w.end,
                            "n_rows": w.n_rows,
                            "column": c.name,
                            "role": role,
                            "psi": c.psi,
                            "ks": c.ks,
                            "js": c.js,
                            "p_value": c.p_value,
                            "p_value_holm": c.p_value_holm,
                            "missing_current": c.missing_current,
                            "drifted": c.drifted,
                        }
                    )
        return pd.DataFrame(rows)

    def window_label(self, w: Window) -> str:
        by_rows = self.window is not None and self.window.rows is not None
        return format_window(w.start, w.end, w.index, by_rows=by_rows)

    def summary(self) -> dict[str, Any]:
        tested = [c for c in self.features if math.isfinite(c.p_value)]
        psis = [c.psi for c in self.features if math.isfinite(c.psi)]
        return {
            "n_features": len(self.features),
            "n_drifted": len(self.drifted),
            "drifted": self.drifted,
            "max_psi": jsonsafe.number(max(psis)) if psis else None,
            "mean_psi": jsonsafe.number(float(np.mean(psis))) if psis else None,
            "predictions_drifted": [c.name for c in self.predictions if c.drifted],
            "n_windows": len(self.windows),
            "n_windows_with_drift": sum(any(c.drifted for c in w.features) for w in self.windows),
            "multiple_testing": f"Holm over the {len(tested)} features tested (family-wise "
            f"level {self.thresholds.p_value:g}); per window, Holm within the window",
        }

    def to_dict(self) -> dict[str, Any]:
        """The ``monitor`` section of ``results.json``."""
        return {
            "model": self.model,
            "log": {
                "source": self.source,
                "n_rows": int(self.n_rows),
                "ts_min": jsonsafe.number(self.ts_min),
                "ts_max": jsonsafe.number(self.ts_max),
            },
            "reference": {
                "n_rows": int(self.reference.n_rows),
                "n_bins": int(self.reference.n_bins),
                "n_quantiles": int(self.reference.n_quantiles),
            },
            "window": None if self.window is None else self.window.text,
            "thresholds": self.thresholds.to_dict(),
            "summary": self.summary(),
            "features": [c.to_dict() for c in _sorted(self.features)],
            "absent_features": list(self.absent),
            "predictions": [c.to_dict() for c in self.predictions],
            "windows": [
                {
                    "window": self.window_label(w),
                    "start": w.start,
                    "end": w.end,
                    "n_rows": int(w.n_rows),
                    "ts_min": jsonsafe.number(w.ts_min),
                    "ts_max": jsonsafe.number(w.ts_max),
                    "features": [c.to_dict() for c in w.features],
                    "predictions": [c.to_dict() for c in w.predictions],
                }
                for w in self.windows
            ],
            "performance": None if self.performance is None else self.performance.to_dict(),
            "estimated_performance": None if self.estimated is None else self.estimated.to_dict(),
            "multivariate": None if self.multivariate is None else self.multivariate.to_dict(),
        }


def _sorted(cols: Sequence[ColumnDrift]) -> list[ColumnDrift]:
    def key(c: ColumnDrift) -> tuple[int, float, float]:
        psi = c.psi if math.isfinite(c.psi) else -1.0
        effect = c.effect if math.isfinite(c.effect) else -1.0
        return (0 if c.drifted else 1, -psi, -effect)

    return sorted(cols, key=key)


def _columns_frame(cols: Sequence[ColumnDrift]) -> pd.DataFrame:
    columns = [
        "name",
        "kind",
        "drifted",
        "psi",
        "psi_reading",
        "ks",
        "js",
        "p_value",
        "p_value_holm",
        "missing_reference",
        "missing_current",
        "n_reference",
        "n_current",
        "reasons",
    ]
    records = []
    for c in cols:
        d = c.to_dict()
        records.append({k: d[k] for k in columns})
    return pd.DataFrame(records, columns=columns).rename(columns={"name": "feature"})
