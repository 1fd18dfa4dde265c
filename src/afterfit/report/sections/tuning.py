"""The Tuning section: optimisation history with the best-so-far line, parameter
importances, parallel coordinates of the trials, the best parameters, and (nested CV)
tuned versus default with an interval."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from afterfit import jsonsafe
from afterfit.report import specs
from afterfit.report.page import Figure, Finding, Headline, Note, Section, Table

#: Most trials the parallel-coordinates figure draws (the best ones); all are in the table.
MAX_PARCOORDS = 500


def tuning_section(result: Any) -> Section:
    """The Tuning section of a :class:`~afterfit.selection.study.TuningResult`.

    Returns
    -------
    Section
        ``id="tuning"``; figures ``tuning-history``, ``tuning-importances`` (when
        importances exist) and ``tuning-parallel``; tables ``tuning-best-params``,
        ``tuning-trials`` and, with nested CV, ``tuning-nested``; ``data`` is
        ``result.to_dict()``.
    """
    trials = result.trials
    maximise = result.direction == "maximize"
    blocks: list[Any] = [history_figure(trials, result.metric, maximise)]
    if result.importances:
        blocks.append(importance_figure(result.importances, result.importance_method))
    parallel = parallel_figure(trials, result.space, result.metric, maximise)
    if parallel is not None:
        blocks.append(parallel)
    blocks.append(
        Table(
            id="tuning-best-params",
            title="Best parameters",
            frame=pd.DataFrame(
                {
                    "parameter": list(result.best_params),
                    "value": [str(v) for v in result.best_params.values()],
                }
            ),
            caption=f"Trial {int(result.study.best_trial.number)} of the study "
            f"'{result.study_name}'.",
        )
    )
    order = trials.sort_values("value", ascending=not maximise, na_position="last")
    blocks.append(
        Table(
            id="tuning-trials",
            title="Trials, best first",
            frame=order.reset_index(drop=True),
            caption="Pruned trials show the mean of the folds they ran; failed trials no value.",
        )
    )
    headline = [
        Headline(
            f"best {result.metric} (CV)",
            result.best_score,
            jsonsafe.number(result.ci_low),
            jsonsafe.number(result.ci_high),
        )
    ]
    findings: list[Finding] = []
    if result.nested is not None:
        blocks += nested_blocks(result.nested)
        n = result.nested
        headline.append(
            Headline(
                f"tuned − default {result.metric} (nested)",
                n.diff_mean,
                jsonsafe.number(n.diff_low),
                jsonsafe.number(n.diff_high),
            )
        )
        if (
            math.isfinite(n.diff_low)
            and math.isfinite(n.diff_high)
            and n.diff_low <= 0 <= n.diff_high
        ):
            findings.append(
                Finding(
                    "Tuning did not measurably beat the default parameters: the nested "
                    "interval of the difference includes 0.",
                    severity="info",
                    section="tuning",
                )
            )
    for note in result.notes:
        blocks.append(Note(note))
    level = f"{result.confidence:.0%}"
    intro = (
        f"{result.n_complete} complete, {result.n_pruned} pruned and {result.n_failed} failed "
        f"trials of {result.sampler} sampling ({result.pruner} pruning) over "
        f"{len(result.space)} parameters, {result.n_splits}-fold cross-validation, "
        f"{result.workers} worker(s). Best {result.metric}: {result.best_score:.4f} "
        f"({level} corrected resampled t interval across folds "
        f"{_fmt(result.ci_low)} to {_fmt(result.ci_high)})."
    )
    return Section(
        id="tuning",
        title="Tuning",
        blocks=tuple(blocks),
        data=result.to_dict(),
        intro=intro,
        headline=tuple(headline),
        warnings=tuple(findings),
    )


def _fmt(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else "n/a"


def history_figure(trials: pd.DataFrame, metric: str, maximise: bool) -> Figure:
    """Every complete trial's score by trial number, and the best so far as a step line."""
    done = trials[trials["state"] == "COMPLETE"].sort_values("number")
    x = done["number"].to_numpy(dtype=float)
    v = done["value"].to_numpy(dtype=float)
    # Best so far at every trial number up to the last trial (pruned ones included).
    numbers = np.sort(trials["number"].to_numpy(dtype=float))
    numbers = numbers[numbers >= (x[0] if x.size else np.inf)]
    running = np.maximum.accumulate(v) if maximise else np.minimum.accumulate(v)
    best = running[np.searchsorted(x, numbers, side="right") - 1] if x.size else running
    traces = [
        specs.line(
            x,
            v,
            "trial",
            color=specs.colour(0),
            mode="markers",
            hover=f"trial %{{x}}<br>{metric} %{{y:.4f}}<extra></extra>",
        ),
        specs.line(
            numbers,
            best,
            "best so far",
            color=specs.colour(1),
            shape="hv",
            hover="best after trial %{x}: %{y:.4f}<extra></extra>",
        ),
    ]
    pruned = trials[trials["state"] == "PRUNED"].sort_values("number")
    if len(pruned):
        traces.append(
            specs.line(
                pruned["number"],
                pruned["value"],
                "pruned (mean of folds run)",
                color=specs.GREY,
                mode="markers",
                hover="pruned trial %{x}: %{y:.4f}<extra></extra>",
            )
        )
    return Figure(
        id="tuning-history",
        title="Optimisation history",
        spec={"data": traces, "layout": specs.layout(x="trial", y=f"{metric} (mean of folds)")},
        caption="Each complete trial's cross-validated score; the line is the best so far.",
    )


def importance_figure(importances: dict[str, float], method: str) -> Figure:
    """Parameter importances as horizontal bars, the most important on top."""
    items = sorted(importances.items(), key=lambda kv: kv[1])
    trace = specs.bars([k for k, _ in items], [v for _, v in items], name="importance")
    layout = specs.layout(x="importance (share of variance)", legend=False,
                          height=max(220, 60 + 28 * len(items)))  # fmt: skip
    layout["yaxis"]["automargin"] = True  # long pipeline names stay readable
    return Figure(
        id="tuning-importances",
        title="Parameter importances",
        spec={"data": [trace], "layout": layout},
        caption=f"How much of the score's variation across complete trials each parameter "
        f"explains ({method}).",
    )


def parallel_figure(trials: pd.DataFrame, space: Any, metric: str, maximise: bool) -> Figure | None:
    """Parallel coordinates: one line per complete trial through its parameter values to
    its score; log-scaled parameters on a log10 axis, categories as ticks."""
    done = trials[trials["state"] == "COMPLETE"]
    if done.empty:
        return None
    done = done.sort_values("value", ascending=not maximise).head(MAX_PARCOORDS)
    dims: list[dict[str, Any]] = []
    for p in space.params:
        col = done[f"param_{p.name}"]
        if p.type == "categorical":
            labels = [str(c) for c in p.choices]
            codes = [labels.index(str(v)) if str(v) in labels else None for v in col]
            dims.append({"label": p.name, "values": codes, "tickvals": list(range(len(labels))),
                         "ticktext": labels, "range": [0, max(1, len(labels) - 1)]})  # fmt: skip
        elif p.log:
            values = np.log10(col.to_numpy(dtype=float))
            dims.append({"label": f"log10 {p.name}", "values": specs.numbers(values),
                         "range": [math.log10(p.low), math.log10(p.high)]})  # fmt: skip
        else:
            dims.append({"label": p.name, "values": specs.numbers(col.to_numpy(dtype=float)),
                         "range": [p.low, p.high]})  # fmt: skip
    values = specs.numbers(done["value"].to_numpy(dtype=float))
    dims.append({"label": metric, "values": values})
    trace = {
        "type": "parcoords",
        "dimensions": dims,
        "line": {
            "color": values,
            "colorscale": "Viridis",
            "reversescale": not maximise,
            "showscale": True,
            "colorbar": {"title": {"text": metric}},
        },
    }
    layout = specs.layout(legend=False, height=420)
    layout["margin"] = {"l": 80, "r": 80, "t": 60, "b": 30}
    shown = "" if len(done) == (trials["state"] == "COMPLETE").sum() else (
        f" Shows the best {MAX_PARCOORDS} complete trials.")  # fmt: skip
    return Figure(
        id="tuning-parallel",
        title="Parameters and score of every trial",
        spec={"data": [trace], "layout": layout},
        caption="One line per complete trial, coloured by its score; drag along an axis to "
        "select a range." + shown,
    )


def nested_blocks(nested: Any) -> list[Any]:
    """Nested CV: tuned versus default per outer fold, and the interval of the difference."""
    level = f"{nested.confidence:.0%}"
    frame = nested.frame()
    folds = [str(i) for i in frame["outer_fold"]]
    # Differences, not the two scores: both are near the same value, and bars from zero
    # would hide what tuning changed.
    fig_traces = [
        specs.bars(
            folds,
            frame["difference"],
            name="tuned − default, by outer fold",
            color=specs.colour(0),
            horizontal=False,
        ),
        specs.line(
            [folds[0], folds[-1]], [nested.diff_mean] * 2, "mean difference", color=specs.colour(1)
        ),
        *specs.band(
            [folds[0], folds[-1]],
            [nested.diff_low] * 2,
            [nested.diff_high] * 2,
            f"{level} interval of the mean",
            color=specs.colour(1),
        ),
    ]
    for trace in fig_traces[1:]:
        trace["x"] = [folds[0], folds[-1]]  # categorical axis: keep the labels as text
    layout = specs.layout(x="outer fold", y=f"tuned − default {nested.metric}")
    layout["xaxis"]["type"] = "category"
    return [
        Figure(
            id="tuning-nested",
            title="Nested cross-validation: tuned versus default",
            spec={"data": fig_traces, "layout": layout},
            caption=f"Tuned inside each outer training part, scored on its outer test part. "
            f"Mean difference {nested.diff_mean:+.4f}, {level} corrected resampled t interval "
            f"{_fmt(nested.diff_low)} to {_fmt(nested.diff_high)}.",
        ),
        Table(
            id="tuning-nested-folds",
            title="Nested cross-validation by outer fold",
            frame=frame,
            caption="The tuned column is an honest estimate of the tuning procedure: the "
            "outer test rows played no part in choosing its parameters.",
        ),
    ]
