"""Plotly figure specs as plain dicts: the traces and layouts every section builder shares.

Builders return ``{"data": [...], "layout": {...}}`` without importing plotly; the page
hands the dict to ``Plotly.newPlot``. Numbers are rounded to ``DIGITS`` significant digits
and non-finite values become ``null``, which keeps a page with large curves small.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from afterfit.plots import OKABE_ITO

#: Significant digits of the numbers in a figure: far below what a screen can show, and a
#: ROC area computed from the rounded points moves by less than 1e-6.
DIGITS = 7
#: Most points a scatter plot draws; more are sampled with a fixed seed, and the caption says so.
MAX_SCATTER = 2_000
GREY = "#6b6b6b"


def colour(i: int) -> str:
    return OKABE_ITO[i % len(OKABE_ITO)]


def numbers(values: Any) -> list[float | None]:
    """A JSON-safe list: rounded to ``DIGITS`` significant digits, NaN and inf as None."""
    a = np.asarray(values, dtype=float).ravel()
    out = np.full(a.shape, np.nan)
    finite = np.isfinite(a)
    if finite.any():
        v = a[finite]
        scale = np.where(v == 0, 0, np.floor(np.log10(np.abs(np.where(v == 0, 1, v)))))
        factor = 10.0 ** (DIGITS - 1 - scale)
        out[finite] = np.round(v * factor) / factor
    return [None if not math.isfinite(x) else x for x in out.tolist()]


def layout(
    *,
    x: str | None = None,
    y: str | None = None,
    height: int = 380,
    square: bool = False,
    legend: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """A neutral layout: readable on light and dark page themes (transparent backgrounds)."""
    out: dict[str, Any] = {
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 30, "b": 50},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(127,127,127,0.06)",
        "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
        "colorway": OKABE_ITO,
        "showlegend": legend,
        # Below the plot, hanging from its top edge: with plotly's automatic anchor a
        # legend at y < 1/3 hangs from its bottom and covers the curves (issue 15).
        "legend": {"orientation": "h", "y": -0.18, "yanchor": "top", "x": 0, "xanchor": "left"},
        # automargin: long category labels (drift features, model names) are not cut.
        "xaxis": {
            "title": {"text": x or ""},
            "gridcolor": "rgba(127,127,127,0.25)",
            "automargin": True,
        },
        "yaxis": {
            "title": {"text": y or ""},
            "gridcolor": "rgba(127,127,127,0.25)",
            "automargin": True,
        },
    }
    if square:
        out["xaxis"]["range"] = [-0.01, 1.01]
        out["yaxis"]["range"] = [-0.01, 1.01]
        out["yaxis"]["scaleanchor"] = "x"
        # Shrink the plot area to a square rather than stretch the x range past [0, 1].
        out["xaxis"]["constrain"] = "domain"
        out["yaxis"]["constrain"] = "domain"
    out.update(extra)
    return out


def line(
    x: Any,
    y: Any,
    name: str,
    *,
    color: str | None = None,
    dash: str | None = None,
    mode: str = "lines",
    hover: str | None = None,
    text: Sequence[str] | None = None,
    shape: str | None = None,
) -> dict[str, Any]:
    trace: dict[str, Any] = {
        "type": "scatter",
        "mode": mode,
        "name": name,
        "x": numbers(x),
        "y": numbers(y),
        "line": {"width": 2},
    }
    if color:
        trace["line"]["color"] = color
        trace["marker"] = {"color": color}
    if dash:
        trace["line"]["dash"] = dash
    if shape:
        trace["line"]["shape"] = shape
    if hover:
        trace["hovertemplate"] = hover
    if text is not None:
        trace["text"] = list(text)
    return trace


def band(x: Any, low: Any, high: Any, name: str, *, color: str) -> list[dict[str, Any]]:
    """A filled interval: the lower edge, then the upper edge filled down to it."""
    fill = _transparent(color, 0.2)
    edge = {"width": 0, "color": fill}
    lower = {
        "type": "scatter",
        "mode": "lines",
        "x": numbers(x),
        "y": numbers(low),
        "line": edge,
        "hoverinfo": "skip",
        "showlegend": False,
        "legendgroup": name,
    }
    upper = {
        "type": "scatter",
        "mode": "lines",
        "x": numbers(x),
        "y": numbers(high),
        "line": edge,
        "fill": "tonexty",
        "fillcolor": fill,
        "name": name,
        "hoverinfo": "skip",
        "legendgroup": name,
    }
    return [lower, upper]


def diagonal(name: str = "chance") -> dict[str, Any]:
    return line([0, 1], [0, 1], name, color=GREY, dash="dot", hover="chance<extra></extra>")


def bars(
    labels: Sequence[str],
    values: Any,
    *,
    low: Any = None,
    high: Any = None,
    name: str = "",
    color: str | None = None,
    horizontal: bool = True,
) -> dict[str, Any]:
    """Bars with optional asymmetric error bars from interval ends."""
    values = np.asarray(values, dtype=float)
    trace: dict[str, Any] = {
        "type": "bar",
        "name": name,
        "orientation": "h" if horizontal else "v",
        "marker": {"color": color or colour(0)},
    }
    cat, num = ("y", "x") if horizontal else ("x", "y")
    trace[cat] = [str(v) for v in labels]
    trace[num] = numbers(values)
    if low is not None and high is not None:
        err = {
            "type": "data",
            "symmetric": False,
            "array": numbers(np.asarray(high, dtype=float) - values),
            "arrayminus": numbers(values - np.asarray(low, dtype=float)),
            "color": GREY,
        }
        trace[f"error_{num}"] = err
    return trace


def sample_rows(n: int, limit: int = MAX_SCATTER, seed: int = 0) -> np.ndarray:
    """Row positions a scatter plot draws: all of them, or ``limit`` sampled with a seed."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def sampled_caption(n: int, limit: int = MAX_SCATTER) -> str:
    return f" Shows {limit:,} of {n:,} rows, sampled at random." if n > limit else ""


def _transparent(color: str, alpha: float) -> str:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"
