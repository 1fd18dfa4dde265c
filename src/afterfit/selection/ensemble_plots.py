"""Matplotlib figures of an ensemble result: weights, selection curve, gain by metric.

Bare ``Figure`` objects (no pyplot state), Okabe-Ito colours, as :mod:`afterfit.plots`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from afterfit.plots import OKABE_ITO


def _figure(height: float) -> tuple[Any, Any]:
    fig = Figure(figsize=(6.0, height), layout="constrained")
    return fig, fig.subplots()


def plot_weights(result: Any) -> Any:
    """Horizontal bars: each member's weight."""
    members = result.members
    fig, ax = _figure(max(2.0, 0.5 + 0.4 * len(members)))
    y = np.arange(len(members))[::-1]
    ax.barh(y, members["weight"].to_numpy(dtype=float), color=OKABE_ITO[0])
    ax.set_yticks(y, [str(m) for m in members["member"]])
    ax.set_xlabel("weight")
    ax.set_title(f"{result.method} ensemble: members and weights")
    return fig


def plot_curve(result: Any) -> Any:
    """The metric on the selection rows after each greedy step; the kept step marked."""
    fig, ax = _figure(3.6)
    if result.curve is None:
        ax.text(0.5, 0.5, "no selection curve for this method", ha="center", va="center")
        ax.set_axis_off()
        return fig
    steps = np.arange(result.curve.size)
    ax.plot(steps, result.curve, marker="o", ms=3, color=OKABE_ITO[0], label="ensemble")
    best = result.selection.get("best_single_value")
    if best is not None and np.isfinite(best):
        ax.axhline(best, color="#6b6b6b", ls=":", label="best single model")
    if result.best_step is not None:
        ax.plot([result.best_step], [result.curve[result.best_step]], "D", color="#000000",
                label=f"kept: step {result.best_step}")  # fmt: skip
    ax.set_xlabel("step (models added)")
    ax.set_ylabel(result.metric)
    ax.legend(frameon=False)
    return fig


def plot_gain(result: Any) -> Any:
    """Gain over the best single model by metric, with paired intervals (positive: better)."""
    frame = result.gain_frame()
    fig, ax = _figure(max(2.0, 0.6 + 0.4 * len(frame)))
    y = np.arange(len(frame))[::-1]
    gain = frame["gain"].to_numpy(dtype=float)
    err = np.vstack([gain - frame["gain_low"].to_numpy(float),
                     frame["gain_high"].to_numpy(float) - gain])  # fmt: skip
    ax.errorbar(gain, y, xerr=np.where(np.isfinite(err), err, 0), fmt="o", color=OKABE_ITO[2],
                ecolor="#6b6b6b", capsize=3)  # fmt: skip
    ax.axvline(0, color="#000000", lw=1)
    ax.set_yticks(y, list(frame["metric"]))
    ax.set_xlabel("gain over the best single model (positive: ensemble better)")
    ax.set_title(f"{result.gain.evaluated_on} rows, {result.gain.confidence:.0%} intervals")
    return fig
