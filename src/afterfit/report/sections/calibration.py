"""The Calibration section: reliability diagram, ECE/MCE and the Brier decomposition."""

from __future__ import annotations

from typing import Any

import numpy as np

from afterfit.report import specs
from afterfit.report.page import Figure, Finding, Section, Table

#: Expected calibration error from which the summary warns: predicted probabilities are
#: then off by five points on average.
ECE_WARNING = 0.05


def reliability_spec(curve: Any) -> dict[str, Any]:
    """Plotly spec of a reliability diagram: observed against predicted per non-empty bin,
    interval error bars and the rows per bin as grey bars on a second axis.

    ``curve`` has ``mean_predicted``, ``fraction_positive``, ``weight`` and optional
    ``band_low``/``band_high`` (an evaluation's calibration curve or a calibration report's
    reliability curve).
    """
    keep = np.asarray(curve.weight) > 0
    x = np.asarray(curve.mean_predicted)[keep]
    y = np.asarray(curve.fraction_positive)[keep]
    trace = specs.line(
        x,
        y,
        "observed",
        color=specs.colour(0),
        mode="lines+markers",
        hover="predicted %{x:.3f}<br>observed %{y:.3f}<extra></extra>",
    )
    if curve.band_low is not None:
        low = np.asarray(curve.band_low)[keep]
        high = np.asarray(curve.band_high)[keep]
        trace["error_y"] = {
            "type": "data",
            "symmetric": False,
            "array": specs.numbers(high - y),
            "arrayminus": specs.numbers(y - low),
            "color": specs.GREY,
        }
    hist = {
        "type": "bar",
        "name": "rows per bin",
        "x": specs.numbers(x),
        "y": specs.numbers(np.asarray(curve.weight)[keep]),
        "yaxis": "y2",
        "marker": {"color": "rgba(127,127,127,0.3)"},
        "hovertemplate": "%{y:,.0f} rows<extra></extra>",
    }
    layout = specs.layout(
        x="mean predicted probability", y="fraction positive", square=True, height=420
    )
    layout["yaxis2"] = {
        "overlaying": "y",
        "side": "right",
        "showgrid": False,
        "title": {"text": "rows"},
        # Three significant digits: "~s" alone printed ticks like "28.3491k".
        "tickformat": ".3~s",
        "rangemode": "tozero",
    }
    return {"data": [hist, specs.diagonal("perfect calibration"), trace], "layout": layout}


def calibration_section(report: Any) -> Section:
    """A :class:`~afterfit.calibration.CalibrationReport` as a report section."""
    rel = report.reliability
    what = "the positive class" if report.task == "binary" else "the top label (confidence)"
    blocks: list[Any] = [
        Figure(
            "calibration-reliability",
            "Reliability diagram",
            reliability_spec(rel),
            caption=f"Observed frequency against predicted probability of {what}, "
            f"{report.settings.n_bins} {report.settings.strategy} bins, with "
            f"{report.settings.confidence:.0%} bootstrap intervals; grey bars count the rows.",
            png=lambda: rel.plot(),
        ),
        Table(
            "calibration-metrics",
            "Calibration metrics",
            report.frame(),
            caption="Expected and maximum calibration error with equal-width and equal-mass "
            "bins, Brier score and log loss, with intervals.",
        ),
        Table(
            "calibration-brier-decomposition",
            "Brier score decomposition",
            report.decomposition.frame(),
            caption="Brier = reliability - resolution + uncertainty (in the bins) + residual.",
        ),
    ]
    for i, curve in enumerate(report.reliability_per_class):
        blocks.append(
            Figure(
                f"calibration-reliability-{i}",
                f"Reliability, class {curve.label} vs rest",
                reliability_spec(curve),
                png=lambda c=curve: c.plot(),
            )
        )
    findings: tuple[Finding, ...] = ()
    name = "ece_uniform"
    if name in report.metrics and report.metrics[name].value >= ECE_WARNING:
        ece = report.metrics[name]
        findings = (
            Finding(
                f"Calibration: predicted probabilities are off by {ece.value:.3f} on average "
                f"(expected calibration error, interval [{ece.ci_low:.3f}, {ece.ci_high:.3f}]). "
                "Recalibrate on held-out data with `afterfit calibrate` before reading the "
                "scores as probabilities.",
                section="calibration",
            ),
        )
    return Section(
        id="calibration",
        title="Calibration",
        blocks=tuple(blocks),
        data=report.to_dict(),
        intro=f"How far the predicted probabilities of {what} are from observed frequencies, "
        f"on {report.n_rows:,} rows.",
        warnings=findings,
    )
