"""The forest plot of a metric across slices: matplotlib figure and plotly spec.

One row per slice, grouped by slicing: the value with its interval, the whole-data value
as a vertical line, and slices whose gap to the rest survives Holm's adjustment marked.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from afterfit.slices.results import SliceResult

#: Okabe-Ito: the palette of every afterfit figure.
_NEUTRAL, _WORSE, _BETTER, _GREY = "#0072B2", "#D55E00", "#009E73", "#6b6b6b"


def _rows(result: SliceResult, metric: str) -> list[Any]:
    rows = [m for m in result.metrics if m.metric == metric]
    if not rows:
        raise KeyError(f"no slice metric {metric!r}; they are: {', '.join(result.metric_names)}")
    return rows


def _colour(flag: str) -> str:
    return {"worse": _WORSE, "better": _BETTER, "not tested": _GREY}.get(flag, _NEUTRAL)


def plot_forest(result: SliceResult, metric: str, *, ax: Any = None) -> Any:
    """Matplotlib forest plot (returns the figure; never shown)."""
    from matplotlib.figure import Figure

    rows = _rows(result, metric)
    if ax is None:
        fig = Figure(figsize=(7.0, 1.2 + 0.32 * len(rows)), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    y = np.arange(len(rows))[::-1]
    for yi, r in zip(y, rows, strict=True):
        colour = _colour(r.flag)
        if math.isfinite(r.ci_low) and math.isfinite(r.ci_high):
            ax.plot([r.ci_low, r.ci_high], [yi, yi], color=colour, linewidth=2)
        ax.plot([r.value], [yi], "o", color=colour, markersize=5)
    overall = dict(result.overall).get(metric)
    if overall is not None and math.isfinite(overall):
        ax.axvline(overall, color="black", linestyle="--", linewidth=1, label="all rows")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_yticks(y, [f"{r.label} (n={r.n:,})" for r in rows], fontsize=8)
    ax.set_xlabel(metric)
    conf = result.settings.confidence
    ax.set_title(f"{metric} by slice ({conf:.0%} intervals; orange/green: Holm-confirmed gap)",
                 fontsize=9)  # fmt: skip
    return fig


def _num(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def forest_spec(result: SliceResult, metric: str) -> dict[str, Any]:
    """The forest plot as a plotly figure dict (``{"data": [...], "layout": {...}}``)."""
    rows = _rows(result, metric)
    names = [f"{r.label} (n={r.n:,})" for r in rows]
    traces = []
    kinds = (("", "slice"), ("worse", "worse than the rest"),
             ("better", "better than the rest"), ("not tested", "not tested"))  # fmt: skip
    for flag, title in kinds:
        chosen = [i for i, r in enumerate(rows) if r.flag == flag]
        if not chosen:
            continue
        value = [_num(rows[i].value) for i in chosen]
        plus = [_num(rows[i].ci_high - rows[i].value) for i in chosen]
        minus = [_num(rows[i].value - rows[i].ci_low) for i in chosen]
        traces.append({
            "type": "scatter", "mode": "markers", "name": title,
            "x": value, "y": [names[i] for i in chosen],
            "marker": {"color": _colour(flag), "size": 8},
            "error_x": {"type": "data", "symmetric": False, "array": plus,
                        "arrayminus": minus, "color": _colour(flag)},
            "hovertemplate": "%{y}<br>" + metric + " %{x:.4f}<extra></extra>",
        })  # fmt: skip
    layout: dict[str, Any] = {
        "height": 140 + 26 * len(rows),
        "margin": {"l": 220, "r": 20, "t": 30, "b": 50},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(127,127,127,0.06)",
        "xaxis": {"title": {"text": metric}, "gridcolor": "rgba(127,127,127,0.25)"},
        "yaxis": {"categoryorder": "array", "categoryarray": names[::-1], "automargin": True},
        "legend": {"orientation": "h", "y": -0.15},
    }
    overall = dict(result.overall).get(metric)
    if overall is not None and math.isfinite(overall):
        layout["shapes"] = [{
            "type": "line", "x0": overall, "x1": overall, "yref": "paper", "y0": 0, "y1": 1,
            "line": {"color": "#000000", "dash": "dash", "width": 1},
        }]  # fmt: skip
    return {"data": traces, "layout": layout}
