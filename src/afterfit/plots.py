"""Matplotlib figures of evaluation results.

Results hold numbers only; drawing lives here so a figure can change without touching a
computation. Every function returns the figure and never shows it. The palette is
Okabe-Ito: readable with every common colour-vision deficiency.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from afterfit.evaluation.results import (
        CalibrationResult,
        ConfusionResult,
        CurveResult,
        MetricTable,
        ResidualsResult,
    )

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442"]


def _axes(ax: Any = None, size: tuple[float, float] = (5.0, 4.5)) -> tuple[Any, Any]:
    if ax is not None:
        return ax.figure, ax
    # A bare Figure, not pyplot: no global state, no backend switch, works headless.
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.subplots()


def plot_confusion(result: ConfusionResult, *, normalize: bool = False, ax: Any = None) -> Any:
    values = result.normalized if normalize else result.counts
    k = len(result.labels)
    fig, ax = _axes(ax, (1.2 + 0.6 * max(k, 4), 1.0 + 0.6 * max(k, 4)))
    image = ax.imshow(values, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_xticks(range(k), result.labels, rotation=45 if k > 4 else 0)
    ax.set_yticks(range(k), result.labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = np.nanmax(values) if np.isfinite(values).any() else 1.0
    if k <= 20:
        for i in range(k):
            for j in range(k):
                v = values[i, j]
                text = f"{v:.2f}" if normalize else f"{v:,.0f}" if v == int(v) else f"{v:,.1f}"
                ax.text(j, i, text, ha="center", va="center",
                        color="white" if v > top / 2 else "black")  # fmt: skip
    title = "Confusion matrix" + (" (row-normalised)" if normalize else "")
    ax.set_title(title)
    return fig


def plot_curve(result: CurveResult, *, ax: Any = None) -> Any:
    fig, ax = _axes(ax)
    area = result.area
    label = f"{'AUC' if result.kind == 'roc' else 'AP'} = {area.value:.3f}"
    if np.isfinite(area.ci_low):
        label += f" [{area.ci_low:.3f}, {area.ci_high:.3f}]"
    if result.band is not None:
        ax.fill_between(result.band.grid, result.band.low, result.band.high, step="post",
                        color=OKABE_ITO[0], alpha=0.2,
                        label=f"{result.band.confidence:.0%} band")  # fmt: skip
    drawstyle = "default" if result.kind == "roc" else "steps-post"
    ax.plot(result.x, result.y, color=OKABE_ITO[0], label=label, drawstyle=drawstyle)
    if result.kind == "roc":
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title("ROC curve" + (f" ({result.label})" if result.label else ""))
    else:
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_title("Precision-recall curve" + (f" ({result.label})" if result.label else ""))
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.legend(loc="lower right" if result.kind == "roc" else "lower left")
    return fig


def plot_curves(curves: tuple[CurveResult, ...], *, ax: Any = None) -> Any:
    """One-vs-rest curves of every class on one set of axes."""
    fig, ax = _axes(ax, (5.5, 4.8))
    kind = curves[0].kind
    for i, curve in enumerate(curves):
        name = "AUC" if kind == "roc" else "AP"
        ax.plot(curve.x, curve.y, color=OKABE_ITO[i % len(OKABE_ITO)],
                linestyle=("-", "--", ":")[(i // len(OKABE_ITO)) % 3],
                drawstyle="default" if kind == "roc" else "steps-post",
                label=f"{curve.label} ({name} {curve.area.value:.3f})")  # fmt: skip
    if kind == "roc":
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("false positive rate" if kind == "roc" else "recall")
    ax.set_ylabel("true positive rate" if kind == "roc" else "precision")
    ax.set_title(("ROC" if kind == "roc" else "Precision-recall") + " curves, one-vs-rest")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.legend(fontsize="small", loc="lower right" if kind == "roc" else "lower left")
    return fig


def plot_calibration(result: CalibrationResult, *, ax: Any = None) -> Any:
    fig, ax = _axes(ax)
    keep = result.weight > 0
    x, y = result.mean_predicted[keep], result.fraction_positive[keep]
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect")
    if result.band_low is not None:
        ax.fill_between(x, result.band_low[keep], result.band_high[keep], color=OKABE_ITO[1],
                        alpha=0.25, label=f"{result.confidence:.0%} band")  # fmt: skip
    ax.plot(x, y, marker="o", color=OKABE_ITO[1], label="model")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("fraction of positives")
    ax.set_title("Calibration")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.legend(loc="upper left")
    return fig


def plot_residuals(result: ResidualsResult, *, kind: str = "residuals", ax: Any = None) -> Any:
    """``kind="residuals"``: residual against prediction; ``"actual"``: predicted vs actual."""
    fig, ax = _axes(ax)
    note = f" (sample of {result.y_true.size:,} of {result.n_total:,})" if result.sampled else ""
    if kind == "actual":
        ax.scatter(result.y_true, result.y_pred, s=6, alpha=0.5, color=OKABE_ITO[0])
        lo = float(min(result.y_true.min(), result.y_pred.min()))
        hi = float(max(result.y_true.max(), result.y_pred.max()))
        ax.plot([lo, hi], [lo, hi], color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("actual")
        ax.set_ylabel("predicted")
        ax.set_title("Predicted vs actual" + note)
    else:
        ax.scatter(result.y_pred, result.residuals, s=6, alpha=0.5, color=OKABE_ITO[0])
        ax.axhline(0, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("predicted")
        ax.set_ylabel("residual (actual - predicted)")
        ax.set_title("Residuals" + note)
    return fig


def plot_metrics(table: MetricTable, *, ax: Any = None) -> Any:
    """Each metric as a point with its interval (metrics on a 0-1 scale)."""
    rows = [r for r in table.overall() if np.isfinite(r.value)]
    fig, ax = _axes(ax, (6.0, 0.6 + 0.35 * max(len(rows), 3)))
    ys = np.arange(len(rows))[::-1]
    values = np.array([r.value for r in rows])
    lows = np.array([r.ci_low if np.isfinite(r.ci_low) else r.value for r in rows])
    highs = np.array([r.ci_high if np.isfinite(r.ci_high) else r.value for r in rows])
    ax.errorbar(values, ys, xerr=[values - lows, highs - values], fmt="o",
                color=OKABE_ITO[0], capsize=3)  # fmt: skip
    ax.set_yticks(ys, [r.metric for r in rows])
    ax.set_title(f"Metrics with {table.confidence:.0%} intervals")
    ax.grid(axis="x", alpha=0.3)
    return fig


def _panels(count: int, height: float, ax: Any = None) -> tuple[Any, list[Any]]:
    """A grid of ``count`` panels, at most three a row (or the one ``ax`` given)."""
    if ax is not None:
        return ax.figure, [ax] * count
    cols = min(3, max(count, 1))
    rows = -(-count // cols)
    fig = Figure(figsize=(4.2 * cols, height * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for extra in axes[count:]:
        extra.set_visible(False)
    return fig, list(axes[:count])


def plot_comparison(comparison: Any, *, ax: Any = None) -> Any:
    """Compared models (a :class:`afterfit.comparison.Comparison`): one panel per metric,
    each model's value with its interval."""
    models = list(comparison.models)
    metrics = list(comparison.metrics)
    fig, axes = _panels(len(metrics), 0.9 + 0.35 * len(models), ax)
    frame = comparison.models_frame()
    ys = np.arange(len(models))[::-1]
    for panel, metric in zip(axes, metrics, strict=True):
        rows = frame[frame.metric == metric].set_index("model").loc[models]
        values = rows["value"].to_numpy(float)
        lows = np.where(np.isfinite(rows["ci_low"]), rows["ci_low"], values)
        highs = np.where(np.isfinite(rows["ci_high"]), rows["ci_high"], values)
        for k, y in enumerate(ys):
            panel.errorbar(values[k], y, xerr=[[values[k] - lows[k]], [highs[k] - values[k]]],
                           fmt="o", color=OKABE_ITO[k % len(OKABE_ITO)], capsize=3)  # fmt: skip
        panel.set_yticks(ys, models)
        panel.set_title(metric)
        panel.grid(axis="x", alpha=0.3)
        panel.locator_params(axis="x", nbins=5)
    fig.suptitle(f"Models compared: metrics with {comparison.settings.confidence:.0%} intervals")
    return fig


def plot_comparison_differences(comparison: Any, *, ax: Any = None) -> Any:
    """Pairwise differences ``b - a`` with their intervals, one panel per metric; filled
    markers where the Holm-adjusted p-value is below alpha."""
    frame = comparison.frame()
    metrics = list(comparison.metrics)
    pairs = frame[["model_a", "model_b"]].drop_duplicates()
    fig, axes = _panels(len(metrics), 0.9 + 0.35 * len(pairs), ax)
    for panel, metric in zip(axes, metrics, strict=True):
        rows = frame[frame.metric == metric].reset_index(drop=True)
        ys = np.arange(len(rows))[::-1]
        for y, row in zip(ys, rows.itertuples(), strict=True):
            d = row.difference
            lo = row.ci_low if np.isfinite(row.ci_low) else d
            hi = row.ci_high if np.isfinite(row.ci_high) else d
            significant = row.verdict.endswith(" better")
            colour = OKABE_ITO[3] if significant else OKABE_ITO[0]
            panel.errorbar(d, y, xerr=[[d - lo], [hi - d]], fmt="o", color=colour, capsize=3,
                           markerfacecolor=colour if significant else "white")  # fmt: skip
        panel.axvline(0, color="grey", linestyle=":", linewidth=1)
        panel.set_yticks(ys, [f"{r.model_b} − {r.model_a}" for r in rows.itertuples()])
        panel.set_title(metric)
        panel.grid(axis="x", alpha=0.3)
        panel.locator_params(axis="x", nbins=5)
    fig.suptitle(
        f"Differences with {comparison.settings.confidence:.0%} intervals "
        f"(filled: Holm p < {comparison.settings.alpha:g})"
    )
    return fig


def plot_threshold_curve(curve: Any, *, ax: Any = None) -> Any:
    """Threshold metrics (a ``ThresholdCurve``) against the threshold, the chosen one
    marked; the expected cost on a second axis when it is the objective."""
    fig, ax = _axes(ax, (6.5, 4.5))
    frame = curve.frame()
    objective = curve.objective
    x = frame["threshold"].to_numpy()
    names = ["precision", "recall", "specificity", objective.fbeta_column,
             "balanced_accuracy", "positive_rate"]  # fmt: skip
    if objective.name == "youden":
        names.append("youden")
    for i, name in enumerate(names):
        ax.plot(x, frame[name], color=OKABE_ITO[i % len(OKABE_ITO)], label=name, linewidth=1.4)
    ax.axvline(curve.chosen, color="black", linestyle="--", linewidth=1,
               label=f"chosen {curve.chosen:.4g}")  # fmt: skip
    target = {"recall_at_precision": objective.min_precision,
              "precision_at_recall": objective.min_recall}.get(objective.name)  # fmt: skip
    if target is not None:
        ax.axhline(target, color="grey", linestyle=":", linewidth=1, label=f"target {target:g}")
    at = int(np.argmin(np.abs(x - curve.chosen)))
    marked = ax
    if objective.name == "cost":
        marked = ax.twinx()
        marked.plot(x, frame["expected_cost"], color="black", linewidth=1.4, alpha=0.7,
                    label="expected cost")  # fmt: skip
        marked.set_ylabel("expected cost per row")
        marked.legend(loc="upper right", fontsize="small")
    if objective.metric in frame and objective.name != "top_k":
        marked.plot([x[at]], [frame[objective.metric].iloc[at]], marker="o", markersize=8,
                    color="black", zorder=5)  # fmt: skip
    ax.set_xlabel("threshold (positive iff score > threshold)")
    ax.set_ylabel("metric")
    ax.set_ylim(-0.02, 1.02)
    title = objective.describe()
    ax.set_title(title if curve.label is None else f"{curve.label}: {title}")
    ax.legend(loc="lower left", fontsize="small")
    return fig


def plot_threshold_curves(curves: tuple[Any, ...]) -> Any:
    """One-vs-rest threshold curves, one panel per class."""
    cols = min(3, len(curves))
    rows = -(-len(curves) // cols)
    fig = Figure(figsize=(5.5 * cols, 4.2 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for curve, ax in zip(curves, axes, strict=False):
        plot_threshold_curve(curve, ax=ax)
    for ax in axes[len(curves) :]:
        ax.set_visible(False)
    return fig
