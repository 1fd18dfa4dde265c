"""The Evaluation section: metrics with intervals, confusion matrix, ROC/PR, calibration,
per-class tables and regression residuals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from afterfit.evaluation.evaluate import Evaluation
from afterfit.evaluation.results import CurveResult
from afterfit.report import specs
from afterfit.report.page import Figure, Finding, Headline, Note, Section, Table

#: The summary's headline metrics, by task, in this order (those present are shown).
HEADLINE = {
    "binary": ("roc_auc", "average_precision", "f1", "balanced_accuracy"),
    "multiclass": ("accuracy", "balanced_accuracy", "roc_auc_ovr_macro", "log_loss"),
    "regression": ("r2", "rmse", "mae"),
}
#: A class below this share of the rows, and below half of an even share (1/K), is
#: "rare": accuracy then says little. (Ten balanced classes are 10% each, and not rare.)
IMBALANCE_SHARE = 0.1


def evaluation_section(evaluation: Evaluation, *, calibration: bool = True) -> Section:
    """Everything :func:`afterfit.evaluate` computed, as a report section.

    ``calibration=False`` leaves the reliability diagram to the Calibration section.
    """
    p = evaluation.predictions
    conf = f"{evaluation.settings.confidence:.0%}"
    blocks: list[Any] = [
        Table(
            "evaluation-metrics",
            "Metrics",
            evaluation.metrics.frame(),
            caption=f"Each metric with its {conf} confidence interval and the method that "
            "gave it (DeLong, Wilson or bootstrap).",
        )
    ]
    if evaluation.metrics.per_class():
        blocks.append(
            Table(
                "evaluation-metrics-per-class",
                "Metrics per class",
                evaluation.metrics.frame(per_class=True),
                caption="One-vs-rest metrics of each class, with intervals.",
                max_rows=60,
            )
        )
    if evaluation.confusion is not None:
        blocks.append(_confusion(evaluation))
    if evaluation.roc is not None:
        blocks += [_curve(evaluation.roc, p), _curve(evaluation.pr, p)]
    if evaluation.roc_per_class:
        blocks += [
            _curves(evaluation.roc_per_class, "roc", evaluation),
            _curves(evaluation.pr_per_class, "pr", evaluation),
        ]
    if calibration and evaluation.calibration is not None:
        blocks.append(_calibration(evaluation))
    if evaluation.residuals is not None:
        blocks += _residuals(evaluation)
    intro = f"{p.task.capitalize()} model evaluated on {p.n:,} rows"
    if p.task == "binary":
        intro += (
            f"; positive class '{p.positive_label}', decision threshold {p.threshold:g} "
            f"({'probabilities' if p.scores_are_probabilities else 'decision scores'})"
        )
    return Section(
        id="evaluation",
        title="Evaluation",
        blocks=tuple(blocks),
        data=evaluation.to_dict(),
        intro=intro + ".",
        headline=_headline(evaluation),
        warnings=_findings(evaluation),
    )


def _headline(evaluation: Evaluation) -> tuple[Headline, ...]:
    out = []
    for name in HEADLINE[evaluation.task]:
        if name in evaluation.metrics:
            row = evaluation.metrics[name]
            finite = np.isfinite([row.ci_low, row.ci_high]).all()
            out.append(
                Headline(
                    name,
                    row.value,
                    row.ci_low if finite else None,
                    row.ci_high if finite else None,
                )
            )
    return tuple(out)


def _findings(evaluation: Evaluation) -> tuple[Finding, ...]:
    # A near-perfect score alone is no leakage finding: honest models on easy data (wine,
    # digits) score near 1. Leakage findings come with evidence, from the Explanations
    # section (afterfit.explain.leakage).
    return _imbalance(evaluation)


def _imbalance(evaluation: Evaluation) -> tuple[Finding, ...]:
    p = evaluation.predictions
    if p.classes is None or p.n == 0:
        return ()
    weight = np.ones(p.n) if p.sample_weight is None else np.asarray(p.sample_weight)
    shares = np.bincount(
        np.asarray(p.y_true, dtype=np.int64), weights=weight, minlength=len(p.classes)
    )
    shares = shares / shares.sum()
    limit = min(IMBALANCE_SHARE, 0.5 / len(shares))
    rare = [(p.class_names[i], s) for i, s in enumerate(shares) if s < limit]
    if not rare:
        return ()
    text = ", ".join(f"'{name}' is {share:.1%}" for name, share in rare)
    return (
        Finding(
            f"Class imbalance: {text} of the rows. Accuracy is dominated by the other "
            "classes; read balanced accuracy, average precision and the per-class metrics.",
            section="evaluation",
        ),
    )


def _confusion(evaluation: Evaluation) -> Figure:
    cm = evaluation.confusion
    labels = [str(v) for v in cm.labels]
    counts = np.asarray(cm.counts, dtype=float)
    normed = np.asarray(cm.normalized, dtype=float)

    def heat(z: np.ndarray, name: str, visible: bool, fmt: str) -> dict[str, Any]:
        return {
            "type": "heatmap",
            "name": name,
            "z": [specs.numbers(row) for row in z],
            "x": labels,
            "y": labels,
            "colorscale": "Blues",
            "reversescale": True,  # plotly.js' Blues runs dark to light: high counts dark
            "texttemplate": fmt if len(labels) <= 20 else None,
            "hovertemplate": "true %{y}<br>predicted %{x}<br>" + fmt + "<extra></extra>",
            "visible": visible,
            "showscale": True,
        }

    count_fmt = "%{z:,.0f}" if np.all(counts == np.round(counts)) else "%{z:,.1f}"
    menu = {
        "type": "buttons",
        "direction": "right",
        "x": 0,
        "y": 1.12,
        "xanchor": "left",
        "showactive": True,
        "buttons": [
            {"label": "counts", "method": "restyle", "args": [{"visible": [True, False]}]},
            {
                "label": "normalised by true class",
                "method": "restyle",
                "args": [{"visible": [False, True]}],
            },
        ],
    }
    size = 300 + 25 * min(len(labels), 20)
    layout = specs.layout(x="predicted", y="true", height=size, legend=False, updatemenus=[menu])
    layout["yaxis"]["autorange"] = "reversed"
    layout["xaxis"]["type"] = layout["yaxis"]["type"] = "category"
    layout["margin"]["t"] = 50
    threshold = ""
    if evaluation.task == "binary":
        threshold = f" at threshold {evaluation.predictions.threshold:g}"
    return Figure(
        "evaluation-confusion-matrix",
        "Confusion matrix",
        {
            "data": [
                heat(counts, "counts", True, count_fmt),
                heat(normed, "normalised", False, "%{z:.2f}"),
            ],
            "layout": layout,
        },
        caption=f"Rows are true classes, columns predictions{threshold}. The buttons switch "
        "between counts and each row divided by its total (recall on the diagonal).",
        png=lambda: cm.plot(),
    )


def _curve(curve: CurveResult, p: Any) -> Figure:
    color = specs.colour(0)
    traces: list[dict[str, Any]] = []
    if curve.band is not None:
        b = curve.band
        traces += specs.band(
            b.grid, b.low, b.high, f"{b.confidence:.0%} bootstrap band", color=color
        )
    area = curve.area
    name = f"{'AUC' if curve.kind == 'roc' else 'AP'} {area.value:.3f}"
    if np.isfinite(area.ci_low):
        name += f" [{area.ci_low:.3f}, {area.ci_high:.3f}]"
    hover = f"{curve.x_name} %{{x:.4f}}<br>{curve.y_name} %{{y:.4f}}<br>threshold %{{text}}"
    text = [f"{t:.4g}" for t in curve.thresholds]
    shape = "hv" if curve.kind == "pr" else None
    traces.append(
        specs.line(
            curve.x,
            curve.y,
            name,
            color=color,
            hover=hover + "<extra></extra>",
            text=text,
            shape=shape,
        )
    )
    if curve.kind == "roc":
        traces.append(specs.diagonal())
        title, x, y = "ROC curve", "false positive rate", "true positive rate"
    else:
        prevalence = _prevalence(p)
        traces.append(
            specs.line([0, 1], [prevalence, prevalence], "no skill", color=specs.GREY, dash="dot")
        )
        title, x, y = "Precision-recall curve", "recall", "precision"
    reduced = ""
    if curve.n_points_full > len(curve.x):
        reduced = (
            f" The curve has {curve.n_points_full:,} points; the {len(curve.x):,} that keep "
            "its shape are drawn (the area is computed on all of them)."
        )
    return Figure(
        f"evaluation-{curve.kind}",
        title,
        {"data": traces, "layout": specs.layout(x=x, y=y, square=True, height=420)},
        caption=f"{title} of the positive class with a pointwise bootstrap band." + reduced,
        png=lambda: curve.plot(),
    )


def _prevalence(p: Any) -> float:
    y = np.asarray(p.y_true, dtype=float)
    w = None if p.sample_weight is None else np.asarray(p.sample_weight, dtype=float)
    return float(np.average(y, weights=w)) if len(y) else 0.0


def _curves(curves: tuple[CurveResult, ...], kind: str, evaluation: Evaluation) -> Figure:
    traces = []
    for i, curve in enumerate(curves):
        name = f"{curve.label} ({curve.area.value:.3f})"
        traces.append(
            specs.line(
                curve.x, curve.y, name, color=specs.colour(i), shape="hv" if kind == "pr" else None
            )
        )
    if kind == "roc":
        traces.append(specs.diagonal())
    from afterfit import plots

    title = "ROC curves, one vs rest" if kind == "roc" else "Precision-recall, one vs rest"
    x, y = (
        ("false positive rate", "true positive rate") if kind == "roc" else ("recall", "precision")
    )
    return Figure(
        f"evaluation-{kind}-ovr",
        title,
        {"data": traces, "layout": specs.layout(x=x, y=y, square=True, height=420)},
        caption="Each class against the rest; the area is in the legend.",
        png=lambda: plots.plot_curves(curves),
    )


def _calibration(evaluation: Evaluation) -> Figure:
    from afterfit.report.sections.calibration import reliability_spec

    cal = evaluation.calibration
    return Figure(
        "evaluation-calibration",
        "Calibration (reliability)",
        reliability_spec(cal),
        caption="Observed fraction of positives against the mean predicted probability in "
        "each of the bins, with bootstrap intervals; grey bars count the rows per bin.",
        png=lambda: cal.plot(),
    )


def _residuals(evaluation: Evaluation) -> list[Any]:
    res = evaluation.residuals
    n = len(res.y_true)
    rows = specs.sample_rows(n)
    y_true, y_pred = np.asarray(res.y_true)[rows], np.asarray(res.y_pred)[rows]
    resid = y_true - y_pred
    sampled = specs.sampled_caption(n)
    if res.sampled:
        sampled = f" Shows {len(rows):,} of {res.n_total:,} rows, sampled at random."
    scatter = specs.line(y_pred, resid, "residual", color=specs.colour(0), mode="markers")
    scatter["marker"] = {"color": specs.colour(0), "size": 5, "opacity": 0.6}
    lo, hi = float(np.min(y_pred)), float(np.max(y_pred))
    zero = specs.line([lo, hi], [0, 0], "zero", color=specs.GREY, dash="dot")
    actual = specs.line(y_pred, y_true, "rows", color=specs.colour(0), mode="markers")
    actual["marker"] = {"color": specs.colour(0), "size": 5, "opacity": 0.6}
    both = [min(lo, float(np.min(y_true))), max(hi, float(np.max(y_true)))]
    ideal = specs.line(both, both, "y = x", color=specs.GREY, dash="dot")
    hist = {
        "type": "histogram",
        "x": specs.numbers(np.asarray(res.y_true) - np.asarray(res.y_pred)),
        "name": "residuals",
        "marker": {"color": specs.colour(0)},
        "nbinsx": 50,
    }
    quantiles = pd.DataFrame(
        {"quantile": list(res.quantiles), "residual": list(res.quantiles.values())}
    )
    blocks: list[Any] = [
        Figure(
            "evaluation-residuals",
            "Residuals against prediction",
            {
                "data": [scatter, zero],
                "layout": specs.layout(x="predicted", y="true - predicted", legend=False),
            },
            caption="A pattern (a funnel, a curve) means the errors depend on the prediction."
            + sampled,
            png=lambda: res.plot(),
        ),
        Figure(
            "evaluation-predicted-vs-actual",
            "Predicted against actual",
            {
                "data": [actual, ideal],
                "layout": specs.layout(x="predicted", y="actual", legend=False),
            },
            caption="Points on the dotted line are exact." + sampled,
            png=lambda: res.plot(kind="actual"),
        ),
        Figure(
            "evaluation-residual-histogram",
            "Distribution of residuals",
            {"data": [hist], "layout": specs.layout(x="true - predicted", y="rows", legend=False)},
            caption="Residuals of the rows kept for plotting." if res.sampled else "",
        ),
    ]
    if len(quantiles):
        blocks.append(Table("evaluation-residual-quantiles", "Residual quantiles", quantiles))
    if res.sampled:
        blocks.append(Note(f"Residual plots use a random sample of the {res.n_total:,} rows."))
    return blocks
