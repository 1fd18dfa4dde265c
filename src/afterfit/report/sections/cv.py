"""The Cross-validation section: fold values per metric with the corrected interval, the
summary table, the fold table and, with several models, the paired comparison."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from afterfit.documents import slug
from afterfit.report import specs
from afterfit.report.page import Figure, Finding, Headline, Note, Section, Table


def _as_results(results: Any) -> dict[str, Any]:
    if isinstance(results, Mapping):
        return dict(results)
    return {"model": results}


def _fold_figure(results: dict[str, Any], metric: str) -> Figure:
    """Fold values as a box with every point, the mean with its corrected interval."""
    from afterfit.selection.cv_plot import plot_cv_folds

    traces: list[dict[str, Any]] = []
    conf = 0.95
    for i, (name, res) in enumerate(results.items()):
        color = specs.colour(i)
        values = res.fold_values(metric)
        traces.append({
            "type": "box", "name": str(name), "x": [str(name)] * values.size,
            "y": specs.numbers(values), "boxpoints": "all", "jitter": 0.4, "pointpos": 0,
            "marker": {"color": color, "size": 5}, "line": {"color": color, "width": 1},
            "fillcolor": "rgba(0,0,0,0)", "legendgroup": str(name), "showlegend": False,
            "hovertemplate": f"{name}<br>{metric} %{{y}}<extra>fold</extra>",
        })  # fmt: skip
        s = res.stats[metric]
        conf = s.confidence
        traces.append({
            "type": "scatter", "mode": "markers", "name": f"{name}: mean, corrected interval",
            "x": [str(name)], "y": specs.numbers([s.mean]),
            "marker": {"color": color, "size": 11, "symbol": "diamond",
                       "line": {"color": "#000000", "width": 1}},
            "error_y": {"type": "data", "symmetric": False, "thickness": 3, "width": 10,
                        "array": specs.numbers([s.high - s.mean]),
                        "arrayminus": specs.numbers([s.mean - s.low]), "color": color},
            "legendgroup": str(name),
            "hovertemplate": (f"mean %{{y}}<br>corrected {conf:.0%} interval "
                              f"[{s.low:.4g}, {s.high:.4g}]<br>naive "
                              f"[{s.naive_low:.4g}, {s.naive_high:.4g}]<extra>{name}</extra>"),
        })  # fmt: skip
    layout = specs.layout(y=metric, legend=len(results) > 1, boxmode="overlay")
    k = next(iter(results.values()))
    return Figure(
        f"cv-folds-{slug(metric)}",
        f"{metric} per fold",
        {"data": traces, "layout": layout},
        caption=f"Each dot is one of {k.n_folds} folds ({k.n_repeats} repeat(s)); the diamond "
        f"is the mean with its {conf:.0%} corrected resampled t interval (Nadeau & Bengio), "
        "which allows for the training sets the folds share.",
        png=lambda: plot_cv_folds(results, metric),
    )


def cv_section(results: Any, comparison: Any = None) -> Section:
    """Cross-validation results as a report section.

    Parameters
    ----------
    results : CVResult or mapping of name to CVResult
    comparison : CVComparison, optional
        The paired comparison of the models (``compare_cv`` / ``compare_cv_models``).
    """
    res = _as_results(results if comparison is None else comparison.results)
    first = next(iter(res.values()))
    blocks: list[Any] = [_fold_figure(res, m) for m in first.metrics]
    summary = pd.concat(
        [r.summary.assign(model=name) for name, r in res.items()], ignore_index=True
    )
    summary = summary[["model", *[c for c in summary.columns if c != "model"]]]
    conf = f"{first.confidence:.0%}"
    blocks.append(Table(
        "cv-summary", "Mean of each metric", summary,
        caption=f"ci_low/ci_high: {conf} corrected resampled t interval of the mean over "
        "folds; naive_low/naive_high: the naive interval (too narrow: folds share training "
        "rows), for contrast.",
    ))  # fmt: skip
    folds = pd.concat([r.folds.assign(model=name) for name, r in res.items()], ignore_index=True)
    folds = folds[["model", *[c for c in folds.columns if c != "model"]]]
    blocks.append(Table("cv-folds", "Every fold", folds, max_rows=40))
    data: dict[str, Any] = {"models": {name: r.to_dict() for name, r in res.items()}}
    warnings: list[Finding] = []
    if comparison is not None:
        frame = comparison.frame()
        blocks.append(Table(
            "cv-comparison", f"Paired comparison with {comparison.baseline}", frame,
            caption=f"difference = model - baseline, per fold, averaged; {conf} interval and "
            "p-value from the corrected resampled paired t test on the same folds.",
        ))  # fmt: skip
        wins = frame[frame["better"] != "no difference"]
        text = "; ".join(f"{r.better} is better on {r.metric} (p = {r.p_value:.3g})"
                         for r in wins.itertuples())  # fmt: skip
        blocks.append(Note(text + "." if text else "No difference between the models is "
                           f"significant at the {conf} level on the same folds."))  # fmt: skip
        data["comparison"] = comparison.to_dict()
    m0 = first.metrics[0]
    s0 = first.stats[m0]
    label = f"CV {m0}" if len(res) == 1 else f"CV {m0} ({next(iter(res))})"
    headline = (Headline(label, s0.mean, s0.low, s0.high),)
    if first.oof_counts.min() == 0:
        warnings.append(Finding(
            f"{int((first.oof_counts == 0).sum()):,} rows were never in a test fold (the first "
            "block of a time-series split): they have no out-of-fold prediction.",
            severity="info", section="cv",
        ))  # fmt: skip
    n_models = len(res)
    intro = (f"{first.n_folds} folds ({first.splitter}, {first.n_repeats} repeat(s)) of "
             f"{first.n_rows:,} rows; the model{'s' if n_models > 1 else ''} refitted on each "
             f"training fold and scored on its test fold.")  # fmt: skip
    return Section(
        id="cv", title="Cross-validation", blocks=tuple(blocks), data=data, intro=intro,
        headline=headline, warnings=tuple(warnings),
    )  # fmt: skip
