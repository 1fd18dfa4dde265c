"""The Ensemble section: members and weights, the selection curve, the gain with its interval."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from afterfit.report import specs
from afterfit.report.page import Figure, Finding, Headline, Note, Section, Table

_METHOD_TEXT = {
    "greedy": "greedy ensemble selection with replacement (Caruana et al. 2004)",
    "weights": "soft voting with optimised weights",
    "stacking": "stacking with a regularised linear meta-model",
    "bagging": "bagging of the base model",
    "boosting": "boosting (AdaBoost) of the base model",
}


def ensemble_section(result: Any) -> Section:
    """An :class:`~afterfit.selection.ensemble.EnsembleResult` as a report section."""
    g = result.gain
    conf = f"{g.confidence:.0%}"
    members = result.members
    blocks: list[Any] = []
    weights = members["weight"].to_numpy(dtype=float)
    if np.isfinite(weights).any():
        bar = specs.bars(members["member"], weights, name="weight", color=specs.colour(0))
        layout = specs.layout(x="weight", legend=False, height=max(240, 60 + 34 * len(members)))
        layout["yaxis"]["automargin"] = True
        blocks.append(
            Figure(
                "ensemble-weights",
                "Members and weights",
                {"data": [bar], "layout": layout},
                caption=f"Weights: {result.settings.get('weights_are', 'weights')}.",
                png=lambda: result.plot(kind="weights"),
            )
        )
    if result.curve is not None:
        steps = np.arange(result.curve.size)
        traces = [
            specs.line(steps, result.curve, "ensemble", color=specs.colour(0), mode="lines+markers",
                       hover=f"step %{{x}}<br>{result.metric} %{{y:.5g}}<extra></extra>"),
        ]  # fmt: skip
        best_single = result.selection.get("best_single_value")
        if best_single is not None and math.isfinite(best_single):
            traces.append(
                specs.line(
                    [0, steps[-1]],
                    [best_single, best_single],
                    f"best single ({result.selection['best_single']})",
                    color=specs.GREY,
                    dash="dot",
                )
            )
        if result.best_step is not None:
            point = specs.line(
                [result.best_step], [result.curve[result.best_step]],
                f"kept: step {result.best_step}", color="#000000", mode="markers",
            )  # fmt: skip
            point["marker"] = {"color": "#000000", "size": 11, "symbol": "diamond"}
            traces.append(point)
        blocks.append(
            Figure(
                "ensemble-curve",
                "Selection curve",
                {"data": traces, "layout": specs.layout(x="step (models added)", y=result.metric)},
                caption=f"{result.metric} of the ensemble on the {result.selection['n_rows']:,} "
                "selection rows after each addition; the step marked is kept. On the rows it "
                "was selected on, so optimistic: the gain below is measured on held-out rows.",
                png=lambda: result.plot(kind="curve"),
            )
        )
    gains = result.gain_frame()
    bars = specs.bars(
        gains["metric"], gains["gain"], low=gains["gain_low"], high=gains["gain_high"],
        name="gain", color=specs.colour(2),
    )  # fmt: skip
    glayout = specs.layout(
        x="gain over the best single model (positive: ensemble better)", legend=False,
        height=max(240, 60 + 34 * len(gains)),
    )  # fmt: skip
    glayout["yaxis"]["automargin"] = True
    glayout["shapes"] = [
        {"type": "line", "x0": 0, "x1": 0, "yref": "paper", "y0": 0, "y1": 1,
         "line": {"color": "#000000", "width": 1}}
    ]  # fmt: skip
    blocks.append(
        Figure(
            "ensemble-gain",
            "Gain over the best single model",
            {"data": [bars], "layout": glayout},
            caption=f"Ensemble minus best single model, signed so that positive is better, "
            f"with paired {conf} intervals on {g.n_rows:,} {g.evaluated_on} rows.",
            png=lambda: result.plot(kind="gain"),
        )
    )
    blocks.append(Note(g.sentence()))
    blocks.append(
        Table("ensemble-members", "Members", members,
              caption=f"selection_value: each model's {result.metric} on the selection rows.")
    )  # fmt: skip
    blocks.append(
        Table("ensemble-gain-table", "Gain by metric", gains,
              caption=f"Paired tests of the ensemble against the best single model "
              f"({g.evaluated_on} rows).")
    )  # fmt: skip
    if result.curve is not None:
        blocks.append(Table("ensemble-curve-table", "Selection curve", result.curve_frame()))
    warnings: tuple[Finding, ...] = ()
    if g.gain_high < 0:
        warnings = (
            Finding(
                f"The ensemble is worse than the best single model ({g.best_model}) on "
                f"{g.metric}: {g.sentence()}",
                section="ensemble",
            ),
        )
    lo, hi = (g.gain_low, g.gain_high) if math.isfinite(g.gain_low) else (None, None)
    return Section(
        id="ensemble",
        title="Ensemble",
        blocks=tuple(blocks),
        data=result.to_dict(),
        intro=f"{_METHOD_TEXT.get(result.method, result.method).capitalize()} of "
        f"{len(members)} models, selected by {result.metric}; gain measured on "
        f"{g.evaluated_on} rows.",
        headline=(Headline(f"gain in {g.metric}", g.gain, lo, hi),),
        warnings=warnings,
    )
