"""Drawing the training results (matplotlib), and the colours and dashes the report's
Plotly figures share with it. Imports the results' types only for type checking: the
results call into this module, never the other way round.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from afterfit.plots import OKABE_ITO
from afterfit.training.names import split_kind

if TYPE_CHECKING:
    from afterfit.training.results import Curve, LearningCurve, TrainingCurves


def split_colours(splits: list[str]) -> dict[str, str]:
    """A colour per split name: train blue, validation orange where the names say so,
    the others in Okabe-Ito order."""
    out: dict[str, str] = {}
    rest = iter(OKABE_ITO[2:] + OKABE_ITO[:2])
    for s in splits:
        kind = split_kind(s or None)
        if kind == "train" and OKABE_ITO[0] not in out.values():
            out[s] = OKABE_ITO[0]
        elif kind == "validation" and OKABE_ITO[1] not in out.values():
            out[s] = OKABE_ITO[1]
    for s in splits:
        if s not in out:
            out[s] = next(rest, OKABE_ITO[len(out) % len(OKABE_ITO)])
    return out


def line_dashes(members: Sequence[Curve]) -> list[str]:
    """``"solid"``, then ``"dash"`` and ``"dot"`` for further curves of the same split in
    one panel (Lightning's per-step and per-epoch train loss share a colour)."""
    seen: dict[str, int] = {}
    out = []
    for c in members:
        k = seen.get(c.split or "", 0)
        seen[c.split or ""] = k + 1
        out.append(("solid", "dash", "dot")[min(k, 2)])
    return out


def plot_curves(curves: TrainingCurves, *, max_panels: int = 6) -> Any:
    from matplotlib.figure import Figure

    groups = list(curves.by_metric().items())[:max_panels]
    cols = 1 if len(groups) == 1 else 2
    rows = -(-len(groups) // cols)
    fig = Figure(figsize=(5.5 * cols, 3.2 * rows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    colours = split_colours(curves.splits())
    for ax, (metric, members) in zip(axes, groups, strict=False):
        for c, dash in zip(members, line_dashes(members), strict=True):
            ax.plot(c.x, c.y, color=colours[c.split or ""], label=c.name,
                    linestyle={"solid": "-", "dash": "--", "dot": ":"}[dash],
                    marker="o" if c.x.size <= 30 else None, markersize=3)  # fmt: skip
        if curves.best_iteration is not None:
            ax.axvline(curves.best_iteration, color="grey", linestyle="--", linewidth=1,
                       label=f"kept: {curves.x_label} {curves.best_iteration:g}")  # fmt: skip
        direction = members[0].higher_is_better
        hint = (
            ""
            if direction is None
            else " (higher is better)"
            if direction
            else " (lower is better)"
        )
        ax.set_ylabel(metric + hint)
        ax.set_xlabel(curves.x_label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    for ax in axes[len(groups) :]:
        ax.set_visible(False)
    what = "Training log" if curves.kind == "history" else f"Training curves: {curves.source}"
    fig.suptitle(what if len(what) < 70 else what[:67] + "...")
    return fig


def plot_learning_curve(lc: LearningCurve, *, ax: Any = None) -> Any:
    from matplotlib.figure import Figure

    if ax is None:
        fig = Figure(figsize=(5.5, 4.2), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    for split, colour in (("train", OKABE_ITO[0]), ("validation", OKABE_ITO[1])):
        s = lc.stats(split)
        ax.fill_between(lc.train_sizes, s["ci_low"], s["ci_high"], color=colour, alpha=0.2,
                        label=f"{split} {lc.confidence:.0%} band")  # fmt: skip
        ax.plot(lc.train_sizes, s["mean"], marker="o", color=colour, label=split)
    direction = " (higher is better)" if lc.higher_is_better else " (lower is better)"
    ax.set_xlabel("training rows")
    ax.set_ylabel(lc.metric + direction)
    ax.set_title(f"Learning curve: {lc.estimator}")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    return fig
