"""The Thresholds section: metrics against the decision threshold, the chosen point."""

from __future__ import annotations

from typing import Any

import numpy as np

from afterfit.report import specs
from afterfit.report.page import Figure, Finding, Headline, Section, Table

#: The metrics drawn against the threshold (those the curve has).
CURVE_METRICS = ("precision", "recall", "specificity", "f1", "balanced_accuracy", "positive_rate")


def thresholds_section(selection: Any) -> Section:
    """A binary :class:`~afterfit.thresholds.ThresholdSelection` as a report section."""
    curve = selection.curve
    frame = curve.frame()
    x = frame["threshold"].to_numpy()
    names = [n for n in (*CURVE_METRICS, selection.objective.fbeta_column) if n in frame]
    names = list(dict.fromkeys(names))
    traces = [
        specs.line(
            x,
            frame[name],
            name,
            color=specs.colour(i),
            hover=f"{name} %{{y:.4f}}<br>threshold %{{x:.4g}}<extra></extra>",
        )
        for i, name in enumerate(names)
    ]
    chosen = float(selection.threshold)
    at = int(np.argmin(np.abs(x - chosen))) if len(x) else 0
    metric = selection.objective.metric
    marker_y = float(frame[metric].iloc[at]) if metric in frame and len(x) else None
    if marker_y is not None:
        point = specs.line(
            [chosen], [marker_y], f"chosen {chosen:.4g}", color="#000000", mode="markers"
        )
        point["marker"] = {"color": "#000000", "size": 11, "symbol": "diamond"}
        traces.append(point)
    layout = specs.layout(x="threshold (positive iff score > threshold)", y="metric", height=420)
    layout["yaxis"]["range"] = [-0.02, 1.02]
    layout["shapes"] = [_vline(chosen)]
    lo, hi = selection.ci
    if np.isfinite(lo) and np.isfinite(hi):
        layout["shapes"].append(_vrect(lo, hi))
    ci_text = f" [{lo:.4g}, {hi:.4g}]" if np.isfinite(lo) else ""
    reduced = ""
    if curve.n_points_full > len(x):
        reduced = f" {len(x):,} of the {curve.n_points_full:,} candidate thresholds are drawn."
    blocks: list[Any] = [
        Figure(
            "thresholds-curve",
            "Metrics against the threshold",
            {"data": traces, "layout": layout},
            caption=f"{selection.objective.describe()}: threshold {chosen:.4g}{ci_text} "
            f"(shaded: its {selection.confidence:.0%} bootstrap interval)." + reduced,
            png=lambda: selection.plot(),
        ),
        Table(
            "thresholds-metrics",
            "Metrics at the chosen threshold",
            selection.frame(),
            caption="The threshold and the objective re-optimised in each bootstrap resample, "
            "then every metric at the fixed chosen threshold.",
        ),
    ]
    findings = ()
    if selection.warning:
        findings = (Finding(f"Threshold: {selection.warning}", section="thresholds"),)
    return Section(
        id="thresholds",
        title="Decision threshold",
        blocks=tuple(blocks),
        data=selection.to_dict(),
        intro=f"Threshold chosen for {selection.objective.describe()} on the "
        f"{selection.split} rows ({selection.n_rows:,}).",
        headline=(Headline("threshold", chosen, *_finite(selection.ci)),),
        warnings=findings,
    )


def _finite(ci: tuple[float, float]) -> tuple[float | None, float | None]:
    lo, hi = ci
    return (lo, hi) if np.isfinite(lo) and np.isfinite(hi) else (None, None)


def _vline(x: float) -> dict[str, Any]:
    return {
        "type": "line",
        "x0": x,
        "x1": x,
        "yref": "paper",
        "y0": 0,
        "y1": 1,
        "line": {"color": "#000000", "dash": "dash", "width": 1},
    }


def _vrect(lo: float, hi: float) -> dict[str, Any]:
    return {
        "type": "rect",
        "x0": lo,
        "x1": hi,
        "yref": "paper",
        "y0": 0,
        "y1": 1,
        "fillcolor": "rgba(127,127,127,0.15)",
        "line": {"width": 0},
    }
