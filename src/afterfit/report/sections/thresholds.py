"""The Thresholds section: metrics against the decision threshold, the chosen point."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from afterfit.report import specs
from afterfit.report.page import Figure, Finding, Headline, Note, Section, Table
from afterfit.thresholds._operating import interval_text

#: The metrics drawn against the threshold (those the curve has).
CURVE_METRICS = ("precision", "recall", "specificity", "f1", "balanced_accuracy", "positive_rate")


def thresholds_section(selection: Any, operating: Any = None) -> Section:
    """A binary :class:`~afterfit.thresholds.ThresholdSelection` as a report section.

    ``operating`` (an :class:`~afterfit.thresholds.OperatingPoint`) adds the test metrics
    at the chosen threshold beside those at the default, and, when the threshold was
    chosen on the test rows, how much a cross-fitted estimate differs.
    """
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
            f"Metrics at the chosen threshold, on the {selection.split} rows it was chosen on",
            selection.frame(),
            caption="The threshold and the objective re-optimised in each bootstrap resample, "
            "then every metric at the fixed chosen threshold.",
        ),
    ]
    findings: tuple[Finding, ...] = ()
    if selection.warning:
        findings = (Finding(f"Threshold: {selection.warning}", section="thresholds"),)
    data = selection.to_dict()
    if operating is not None:
        blocks[1:1] = _operating_blocks(operating)
        data["operating_point"] = operating.to_dict()
        if operating.optimistic:
            text = f"Threshold: {selection.warning or ''} {operating.summary()}"
            findings = (Finding(text.replace("  ", " "), section="thresholds"),)
    return Section(
        id="thresholds",
        title="Decision threshold",
        blocks=tuple(blocks),
        data=data,
        intro=f"Threshold chosen for {selection.objective.describe()} on the "
        f"{selection.split} rows ({selection.n_rows:,}).",
        headline=(Headline("threshold", chosen, *_finite(selection.ci)),),
        warnings=findings,
    )


def cost_decision_section(decision: Any) -> Section:
    """A multiclass :class:`~afterfit.thresholds.CostDecision` as a report section."""
    findings: tuple[Finding, ...] = ()
    if decision.warning:
        findings = (Finding(f"Decisions: {decision.warning}", section="thresholds"),)
    c = decision.expected_cost
    return Section(
        id="thresholds",
        title="Decision rule (minimum expected cost)",
        blocks=(
            Table(
                "thresholds-cost",
                "Expected cost of the decisions",
                decision.frame(),
                caption="Mean cost per row of the minimum-expected-cost decisions and of "
                "predicting the most probable class, with bootstrap intervals.",
            ),
            Table(
                "thresholds-cost-confusion",
                "Confusion matrix of the decisions",
                decision.confusion.frame(),
                csv=True,
            ),
        ),
        data=decision.to_dict(),
        intro=f"Each row gets the class of least expected cost under the cost matrix, chosen "
        f"on the {decision.split} rows ({decision.n_rows:,}).",
        headline=(Headline("expected cost", c.value, *_finite((c.ci_low, c.ci_high))),),
        warnings=findings,
    )


def _operating_blocks(op: Any) -> list[Any]:
    """The test metrics at the chosen and at the default threshold, side by side."""
    frame = op.frame()
    shown = pd.DataFrame({"metric": frame["metric"]})
    shown[f"test at {op.threshold:.4g} (chosen)"] = frame["at_chosen"]
    shown["interval"] = [
        interval_text(lo, hi) for lo, hi in zip(frame["at_chosen_ci_low"],
                                                frame["at_chosen_ci_high"], strict=True)
    ]  # fmt: skip
    shown[f"test at {op.default_threshold:g} (default)"] = frame["at_default"]
    shown["interval "] = [
        interval_text(lo, hi) for lo, hi in zip(frame["at_default_ci_low"],
                                                frame["at_default_ci_high"], strict=True)
    ]  # fmt: skip
    if "cross_fitted" in frame:
        shown["cross-fitted"] = frame["cross_fitted"]
    caption = (
        f"Test rows ({op.n_rows:,}) at the threshold chosen on the {op.chosen_on} rows and "
        "at the default threshold, each with its interval (the method column of the "
        "evaluation table)."
    )
    if op.optimistic:
        caption += (
            " The threshold was chosen on these same rows, so the first column is "
            "optimistic; the cross-fitted column chooses it on the other folds of the test "
            "rows and counts the errors on the held-out fold."
        )
    return [
        Note(op.summary()),
        Table("thresholds-operating", "Test metrics at the operating point", shown,
              caption=caption),
    ]  # fmt: skip


def operating_headline(headline: tuple[Headline, ...], op: Any) -> tuple[Headline, ...]:
    """The evaluation's headline with its threshold metrics taken at the operating point
    (the page, results.json and the terminal then lead with what will be deployed)."""
    out = []
    for h in headline:
        if h.name in op.at_threshold:
            r = op.at_threshold[h.name]
            ok = np.isfinite([r.ci_low, r.ci_high]).all()
            h = Headline(
                f"{h.name} at threshold {op.threshold:.4g}",
                r.value,
                r.ci_low if ok else None,
                r.ci_high if ok else None,
            )
        out.append(h)
    return tuple(out)


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
