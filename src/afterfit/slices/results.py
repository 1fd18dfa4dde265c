"""The frozen result of :func:`afterfit.evaluate_slices`: numbers in, tables and pictures out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from afterfit.jsonsafe import number
from afterfit.slices.fairness import FairnessResult
from afterfit.slices.metrics import SliceInfo, SliceMetric, SliceSettings
from afterfit.slices.segments import SegmentResult

#: The metric a forest plot shows unless told otherwise.
PRIMARY = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "mae"}

_FRAME_COLUMNS = [
    "slice", "n", "metric", "value", "ci_low", "ci_high", "diff_vs_rest", "p_holm", "flag",
    "slicing", "level", "method", "rest_value", "diff_ci_low", "diff_ci_high", "p_value",
    "note",
]  # fmt: skip


@dataclass(frozen=True)
class SliceResult:
    """Metrics per slice with intervals, gaps to the rest, fairness and weak segments.

    Attributes
    ----------
    task : str
    n_rows : int
    slicings : tuple of str
        The slicings asked for (``"region"``, ``"age:quantiles=4"``, ``"region*plan"``).
    slices : tuple of SliceInfo
        Every slice with its size and, when not tested, the reason.
    metrics : tuple of SliceMetric
        One record per slice and metric.
    overall : tuple of (str, float)
        The whole-data value of each metric.
    settings : SliceSettings
    fairness : FairnessResult or None
        With ``sensitive=``: the fairness metrics (binary models).
    segments : SegmentResult or None
        With ``segments=True``: weak segments confirmed on held-out rows.
    notes : tuple of str
        What the user should know (bins left empty, columns binned automatically).
    """

    task: str
    n_rows: int
    slicings: tuple[str, ...]
    slices: tuple[SliceInfo, ...]
    metrics: tuple[SliceMetric, ...]
    overall: tuple[tuple[str, float], ...]
    settings: SliceSettings
    fairness: FairnessResult | None = None
    segments: SegmentResult | None = None
    notes: tuple[str, ...] = ()

    def __repr__(self) -> str:
        from afterfit.display import one_line, with_interval

        head = None
        if self.overall:
            m = self.primary_metric
            worse = [r for r in self.metrics if r.metric == m and r.flag == "worse"]
            head = f"{m} {dict(self.overall)[m]:.4g} overall, {len(worse)} slice(s) worse"
            if worse:
                w = worse[0]
                head += ": " + with_interval(f"{w.label}", w.value, w.ci_low, w.ci_high)
        by = f"by {', '.join(self.slicings)}"
        return one_line("SliceResult", self.task, by, head, f"{self.n_rows:,} rows")

    def _repr_html_(self) -> str:
        """Jupyter's display: headline with intervals, main figure, findings, tables."""
        from afterfit.display import html

        return html(self)

    @property
    def metric_names(self) -> list[str]:
        return [name for name, _ in self.overall]

    @property
    def primary_metric(self) -> str:
        default = PRIMARY.get(self.task)
        return default if default in self.metric_names else self.metric_names[0]

    def frame(self) -> pd.DataFrame:
        """One row per slice and metric: ``slice, n, metric, value, ci_low, ci_high,
        diff_vs_rest, p_holm, flag``, then the details (``slicing, level, method,
        rest_value, diff_ci_low, diff_ci_high, p_value, note``)."""
        rows = [
            {**{k: getattr(m, k) for k in _FRAME_COLUMNS if k != "slice"}, "slice": m.label}
            for m in self.metrics
        ]
        return pd.DataFrame(rows, columns=_FRAME_COLUMNS)

    def slices_frame(self) -> pd.DataFrame:
        """One row per slice: ``slicing, level, slice, n, tested, reason``."""
        return pd.DataFrame(
            [(s.slicing, s.level, s.label, s.n, s.reason is None, s.reason or "")
             for s in self.slices],
            columns=["slicing", "level", "slice", "n", "tested", "reason"],
        )  # fmt: skip

    def flagged(self) -> pd.DataFrame:
        """The rows of :meth:`frame` whose gap to the rest survives Holm's adjustment."""
        df = self.frame()
        return df[df["flag"].isin(["worse", "better"])].reset_index(drop=True)

    def findings(self) -> list[str]:
        """One sentence per confirmed gap (Holm-adjusted), worst first."""
        out = []
        df = self.flagged().sort_values("p_holm")
        conf = self.settings.confidence
        for r in df.itertuples(index=False):
            out.append(
                f"{r.slice} (n={r.n:,}): {r.metric} {r.value:.4g} vs {r.rest_value:.4g} on "
                f"the rest, {r.flag} by {abs(r.diff_vs_rest):.3g} ({conf:.0%} CI of the gap "
                f"[{r.diff_ci_low:.3g}, {r.diff_ci_high:.3g}], Holm-adjusted p={r.p_holm:.2g})."
            )
        if self.segments is not None:
            out += self.segments.findings()
        return out

    def to_dict(self) -> dict[str, Any]:
        """The ``slices`` section of ``results.json`` (JSON-safe)."""
        s = self.settings
        return {
            "task": self.task,
            "n_rows": self.n_rows,
            "slicings": list(self.slicings),
            "settings": {
                "confidence": s.confidence,
                "ci": s.ci,
                "n_resamples": s.n_resamples,
                "bootstrap_method": s.bootstrap_method,
                "min_size": s.min_size,
                "min_class_count": s.min_class_count,
                "random_state": s.random_state,
                "max_rows": s.max_rows,
                "multiple_testing": "holm",
            },
            "overall": {name: number(v) for name, v in self.overall},
            "slices": [
                {
                    "slicing": i.slicing,
                    "level": i.level,
                    "slice": i.label,
                    "n": i.n,
                    "tested": i.reason is None,
                    "reason": i.reason,
                }
                for i in self.slices
            ],
            "metrics": [
                {
                    "slice": m.label,
                    "slicing": m.slicing,
                    "level": m.level,
                    "n": m.n,
                    "metric": m.metric,
                    "value": number(m.value),
                    "ci_low": number(m.ci_low),
                    "ci_high": number(m.ci_high),
                    "method": m.method,
                    "rest_value": number(m.rest_value),
                    "diff_vs_rest": number(m.diff_vs_rest),
                    "diff_ci_low": number(m.diff_ci_low),
                    "diff_ci_high": number(m.diff_ci_high),
                    "p_value": number(m.p_value),
                    "p_holm": number(m.p_holm),
                    "flag": m.flag or None,
                    "note": m.note or None,
                }
                for m in self.metrics
            ],
            "fairness": None if self.fairness is None else self.fairness.to_dict(),
            "segments": None if self.segments is None else self.segments.to_dict(),
            "notes": list(self.notes),
        }

    def plot(self, metric: str | None = None, **kwargs: Any) -> Any:
        """Forest plot of ``metric`` (default: ROC AUC, accuracy or MAE by task) on every
        slice, with intervals and the whole-data value as a line (matplotlib figure)."""
        from afterfit.slices.plots import plot_forest

        return plot_forest(self, metric or self.primary_metric, **kwargs)

    def figure(self, metric: str | None = None) -> dict[str, Any]:
        """The forest plot as a plotly figure dict (``plotly.graph_objects.Figure(d)``
        draws it; the HTML report embeds it as is)."""
        from afterfit.slices.plots import forest_spec

        return forest_spec(self, metric or self.primary_metric)
