"""Matplotlib figures of the calibration results (bare Figures, no pyplot state).

Kept beside the results they draw; they use the palette of :mod:`afterfit.plots`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from afterfit.plots import OKABE_ITO

if TYPE_CHECKING:
    from afterfit.calibration.results import BrierDecomposition, ReliabilityCurve


def _labels(curve: ReliabilityCurve) -> tuple[str, str]:
    if curve.kind == "top_label":
        return "confidence (probability of the predicted class)", "accuracy"
    return "mean predicted probability", "fraction of positives"


def _draw(ax: Any, curve: ReliabilityCurve, color: str, name: str) -> None:
    keep = curve.weight > 0
    x = curve.mean_predicted[keep]
    order = np.argsort(x)
    x = x[order]
    if curve.band_low is not None and curve.band_high is not None:
        ax.fill_between(x, curve.band_low[keep][order], curve.band_high[keep][order],
                        color=color, alpha=0.2, linewidth=0)  # fmt: skip
    label = name
    if curve.ece is not None and np.isfinite(curve.ece.value):
        label += f" (ECE {curve.ece.value:.3f}"
        if np.isfinite(curve.ece.ci_low):
            label += f" [{curve.ece.ci_low:.3f}, {curve.ece.ci_high:.3f}]"
        label += ")"
    ax.plot(x, curve.fraction_positive[keep][order], marker="o", markersize=4, color=color,
            label=label)  # fmt: skip


def _square(ax: Any, curve: ReliabilityCurve) -> None:
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect")
    xlabel, ylabel = _labels(curve)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)


def plot_reliability(curve: ReliabilityCurve, *, histogram: bool = True, ax: Any = None) -> Any:
    """Reliability diagram with its bootstrap band; below it, the weight of each bin."""
    hist_ax = None
    if ax is not None:
        fig = ax.figure
    elif histogram:
        fig = Figure(figsize=(5.0, 5.8), layout="constrained")
        ax, hist_ax = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    else:
        fig = Figure(figsize=(5.0, 4.5), layout="constrained")
        ax = fig.subplots()
    _draw(ax, curve, OKABE_ITO[1], "model")
    if curve.band_low is not None:
        ax.fill_between([], [], [], color=OKABE_ITO[1], alpha=0.2,
                        label=f"{curve.confidence:.0%} band")  # fmt: skip
    _square(ax, curve)
    what = {"top_label": "top label", "one_vs_rest": f"class {curve.label} vs rest"}.get(
        curve.kind, f"positive class {curve.label}" if curve.label else "positive class"
    )
    bins = "equal-width" if curve.strategy == "uniform" else "equal-mass"
    ax.set_title(f"Reliability ({what}, {bins} bins)", fontsize="medium")
    ax.legend(loc="upper left", fontsize="small")
    if hist_ax is not None:
        widths = np.diff(curve.edges)
        hist_ax.bar(curve.edges[:-1], curve.weight, width=widths, align="edge",
                    color=OKABE_ITO[0], alpha=0.6, edgecolor="white")  # fmt: skip
        hist_ax.set_ylabel("rows")
        hist_ax.set_xlabel(ax.get_xlabel())
        ax.set_xlabel("")
        ax.tick_params(labelbottom=True)
    return fig


def plot_reliability_curves(
    curves: Sequence[ReliabilityCurve], *, title: str, ax: Any = None
) -> Any:
    """Several reliability curves (before/after, or one per class) on one set of axes."""
    if ax is None:
        fig = Figure(figsize=(5.5, 5.0), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    for i, curve in enumerate(curves):
        _draw(ax, curve, OKABE_ITO[i % len(OKABE_ITO)], str(curve.label))
    _square(ax, curves[0])
    ax.set_title(title, fontsize="medium")
    ax.legend(loc="upper left", fontsize="small")
    return fig


def plot_reliability_grid(
    curves: Sequence[ReliabilityCurve], *, title: str, columns: int = 4
) -> Any:
    """One small reliability diagram per curve (one-vs-rest classes), with its band."""
    k = len(curves)
    ncols = max(1, min(columns, k))
    nrows = -(-k // ncols)
    fig = Figure(figsize=(2.6 * ncols + 0.4, 2.5 * nrows + 0.5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True)).ravel()
    for ax, curve in zip(axes, curves, strict=False):
        _draw(ax, curve, OKABE_ITO[0], "model")
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)
        text = str(curve.label)
        if curve.ece is not None and np.isfinite(curve.ece.value):
            text += f" · ECE {curve.ece.value:.3f}"
        ax.set_title(text, fontsize="small")
    for i, ax in enumerate(axes):
        if i >= k:
            ax.set_visible(False)
        elif i + ncols >= k:  # nothing drawn below: show this panel's x ticks
            ax.tick_params(labelbottom=True)
    xlabel, ylabel = _labels(curves[0])
    fig.supxlabel(xlabel, fontsize="small")
    fig.supylabel(ylabel, fontsize="small")
    fig.suptitle(title, fontsize="medium")
    return fig


def plot_decomposition(result: BrierDecomposition, *, ax: Any = None) -> Any:
    """The components of the Brier score as points with their intervals."""
    if ax is None:
        fig = Figure(figsize=(6.0, 3.6), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    parts = result.components()
    ys = np.arange(len(parts))[::-1]
    values = np.array([m.value for m in parts])
    lows = np.array([m.ci_low if np.isfinite(m.ci_low) else m.value for m in parts])
    highs = np.array([m.ci_high if np.isfinite(m.ci_high) else m.value for m in parts])
    ax.barh(ys, values, color=OKABE_ITO[0], alpha=0.6)
    ax.errorbar(values, ys, xerr=[values - lows, highs - values], fmt="none", color="black",
                capsize=3)  # fmt: skip
    ax.set_yticks(ys, [m.metric for m in parts])
    ax.axvline(0, color="grey", linewidth=0.8)
    bins = "equal-width" if result.strategy == "uniform" else "equal-mass"
    who = f" ({result.label})" if result.label else ""
    ax.set_title(f"Brier decomposition{who}, {result.n_bins} {bins} bins", fontsize="medium")
    ax.grid(axis="x", alpha=0.3)
    return fig
