"""The Comparison section: each model's metrics and the paired tests between them."""

from __future__ import annotations

from typing import Any

from afterfit.report import specs
from afterfit.report.page import Figure, Note, Section, Table


def comparison_section(comparison: Any) -> Section:
    """A :class:`~afterfit.comparison.Comparison` as a report section."""
    models = comparison.models_frame()
    traces = []
    for i, (name, rows) in enumerate(models.groupby("model", sort=False)):
        traces.append(
            specs.bars(
                rows["metric"],
                rows["value"],
                low=rows["ci_low"],
                high=rows["ci_high"],
                name=str(name),
                color=specs.colour(i),
                horizontal=False,
            )
        )
    layout = specs.layout(y="value", barmode="group")
    pairs = comparison.frame()
    diff_traces = []
    for i, (metric, rows) in enumerate(pairs.groupby("metric", sort=False)):
        labels = [f"{b} - {a}" for a, b in zip(rows["model_a"], rows["model_b"], strict=True)]
        trace = specs.bars(
            labels,
            rows["difference"],
            low=rows["ci_low"],
            high=rows["ci_high"],
            name=str(metric),
            color=specs.colour(i),
        )
        diff_traces.append(trace)
    diff_layout = specs.layout(
        x="difference (b - a)", barmode="group", height=max(300, 60 + 40 * len(pairs))
    )
    diff_layout["yaxis"]["automargin"] = True  # long "b - a" labels
    diff_layout["shapes"] = [
        {
            "type": "line",
            "x0": 0,
            "x1": 0,
            "yref": "paper",
            "y0": 0,
            "y1": 1,
            "line": {"color": "#000000", "width": 1},
        }
    ]
    conf = f"{comparison.settings.confidence:.0%}"
    blocks: list[Any] = [
        Figure(
            "comparison-models",
            "Metrics of each model",
            {"data": traces, "layout": layout},
            caption=f"Each model's metrics on the same rows, with {conf} intervals.",
            png=lambda: comparison.plot(),
        ),
        Figure(
            "comparison-differences",
            "Paired differences",
            {"data": diff_traces, "layout": diff_layout},
            caption=f"Differences b - a with paired {conf} intervals; an interval that "
            "crosses zero is no evidence of a difference.",
            png=lambda: comparison.plot(kind="differences"),
        ),
        Table(
            "comparison-tests",
            "Paired tests",
            pairs,
            max_rows=60,
            caption="p-values adjusted with Holm's method within the family of tests.",
        ),
    ]
    verdicts = comparison.verdicts()
    if verdicts:
        blocks.append(Note(" ".join(v.rstrip(".") + "." for v in verdicts)))
    significant = comparison.verdicts(significant_only=True)
    return Section(
        id="comparison",
        title="Model comparison",
        blocks=tuple(blocks),
        data=comparison.to_dict(),
        intro=f"{len(comparison.models)} models compared on the same {comparison.n_rows:,} rows "
        f"with paired tests ({comparison.settings.tests}); "
        f"{len(significant)} significant difference{'s' if len(significant) != 1 else ''}.",
    )
