"""The Training section: loss curves the estimator recorded, a training log the user
passed (``--history``), and a learning curve of score against training rows."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from afterfit.report import specs
from afterfit.report.page import Figure, Finding, Section, Table
from afterfit.training.names import split_kind
from afterfit.training.plots import line_dashes, split_colours
from afterfit.training.results import Curve, LearningCurve, TrainingCurves

#: Most points a curve draws on the page; longer curves keep this many, evenly spaced
#: (first and last included). ``results.json`` and the CSV tables keep every point.
MAX_POINTS = 2_000
#: Most metric panels in one figure; the others are in the tables and results.json.
MAX_PANELS = 8
#: Validation worse at the end than at its best by this share of its range: overfitting.
OVERFIT_SHARE = 0.1
#: A material train-validation gap at the largest size: this much of a score bounded by 1
#: (accuracy, ROC AUC, R²...), or this share of the larger value of a loss. The finding
#: fires only when the gap's interval over the folds lies wholly above it.
GAP_SHARE = 0.1


def training_section(
    curves: TrainingCurves | None = None,
    history: TrainingCurves | None = None,
    learning: LearningCurve | None = None,
) -> Section | None:
    """The Training section, or None when there is nothing to show.

    Parameters
    ----------
    curves : TrainingCurves, optional
        From :func:`afterfit.training.training_curves` (the fitted estimator).
    history : TrainingCurves, optional
        From :func:`afterfit.training.read_history` (``--history``).
    learning : LearningCurve, optional
        From :func:`afterfit.training.learning_curve` (needs training data).

    Returns
    -------
    Section or None
        ``id="training"``; figures ``training-model``, ``training-history`` and
        ``training-learning-curve`` with their tables; ``data`` holds the ``model``,
        ``history`` and ``learning_curve`` parts present (every point); warnings for
        validation curves that turn worse while training ones improve (overfitting) and
        for a large train-validation gap in the learning curve.
    """
    blocks: list[Any] = []
    data: dict[str, Any] = {}
    findings: list[Finding] = []
    said: list[str] = []
    if curves is not None and len(curves):
        blocks += _curve_blocks(curves, "model", f"Recorded by the {curves.source}")
        data["model"] = curves.to_dict()
        findings += overfitting(curves)
        said.append(f"the curves the {curves.source} recorded while it was fitted")
    if history is not None and len(history):
        blocks += _curve_blocks(history, "history", f"Read from {history.source}")
        data["history"] = history.to_dict()
        findings += overfitting(history)
        said.append(f"the training log {history.source}")
    if learning is not None:
        blocks += _learning_blocks(learning)
        data["learning_curve"] = learning.to_dict()
        findings += learning_findings(learning)
        said.append(f"a learning curve ({learning.metric} against training rows)")
    if not blocks:
        return None
    intro = "How training went: " + _join(said) + "."
    return Section(
        id="training",
        title="Training",
        blocks=tuple(blocks),
        data=data,
        intro=intro,
        warnings=tuple(findings),
    )


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


# --- figures ------------------------------------------------------------------------------


def reduce(n: int, limit: int = MAX_POINTS) -> np.ndarray:
    """Positions of the points drawn: all, or ``limit`` evenly spaced with first and last."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, limit)).astype(int))


def curves_spec(curves: TrainingCurves, *, max_points: int = MAX_POINTS) -> dict[str, Any]:
    """Plotly spec: one panel per metric stacked over a shared x axis, one colour per
    split; the iteration early stopping kept as a dashed line."""
    groups = list(curves.by_metric().items())[:MAX_PANELS]
    n = len(groups)
    gap = 0.07 if n > 1 else 0.0
    height = (1 - gap * (n - 1)) / n
    colours = split_colours(curves.splits())
    layout = specs.layout(height=90 + 210 * n)
    traces = []
    for i, (metric, members) in enumerate(groups):
        suffix = "" if i == 0 else str(i + 1)
        top = 1 - i * (height + gap)
        direction = members[0].higher_is_better
        hint = "" if direction is None else " (higher better)" if direction else " (lower better)"
        layout[f"yaxis{suffix}"] = {
            "domain": [max(top - height, 0.0), top],
            "anchor": f"x{suffix}",
            "title": {"text": metric + hint},
            "gridcolor": "rgba(127,127,127,0.25)",
        }
        layout[f"xaxis{suffix}"] = {
            "anchor": f"y{suffix}",
            "gridcolor": "rgba(127,127,127,0.25)",
            "title": {"text": curves.x_label if i == n - 1 else ""},
            "showticklabels": i == n - 1,
            **({"matches": "x"} if i else {}),
        }
        for c, dash in zip(members, line_dashes(members), strict=True):
            keep = reduce(c.x.size, max_points)
            mode = "lines+markers" if keep.size <= 30 else "lines"
            hover = f"{c.name}<br>{curves.x_label} %{{x}}: %{{y:.4g}}<extra></extra>"
            trace = specs.line(
                c.x[keep],
                c.y[keep],
                c.name,
                color=colours[c.split or ""],
                dash=None if dash == "solid" else dash,
                mode=mode,
                hover=hover,
            )
            trace["xaxis"], trace["yaxis"] = f"x{suffix}", f"y{suffix}"
            traces.append(trace)
    if curves.best_iteration is not None:
        b = curves.best_iteration
        layout["shapes"] = [
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": b,
                "x1": b,
                "y0": 0,
                "y1": 1,
                "line": {"color": specs.GREY, "dash": "dash", "width": 1},
            }
        ]
        layout["annotations"] = [
            {
                "x": b,
                "y": 1,
                "xref": "x",
                "yref": "paper",
                "text": f"kept: {curves.x_label} {b:g}",
                "showarrow": False,
                "xanchor": "left",
                "yanchor": "bottom",
            }
        ]
    # the legend 64 px below the plot area, under the x axis title, whatever the height
    plot_height = layout["height"] - layout["margin"]["t"] - layout["margin"]["b"]
    layout["legend"] = {"orientation": "h", "y": -64 / plot_height}
    return {"data": traces, "layout": layout}


def learning_spec(lc: LearningCurve) -> dict[str, Any]:
    """Plotly spec: mean train and validation score against training rows, each with its
    interval band across folds."""
    traces: list[dict[str, Any]] = []
    x = lc.train_sizes.astype(float)
    for split, colour in (("train", specs.colour(0)), ("validation", specs.colour(1))):
        s = lc.stats(split)
        traces += specs.band(
            x, s["ci_low"], s["ci_high"], f"{split} {lc.confidence:.0%} band", color=colour
        )
        hover = f"{split}<br>%{{x:,}} rows: %{{y:.4g}}<extra></extra>"
        traces.append(
            specs.line(x, s["mean"], split, color=colour, mode="lines+markers", hover=hover)
        )
    direction = " (higher better)" if lc.higher_is_better else " (lower better)"
    layout = specs.layout(x="training rows", y=lc.metric + direction, height=400)
    return {"data": traces, "layout": layout}


def _reduced(curves: TrainingCurves, limit: int = MAX_POINTS) -> str:
    longest = max(c.x.size for c in curves.curves)
    groups = len(curves.by_metric())
    out = ""
    if longest > limit:
        out += (
            f" Curves with more than {limit:,} points are drawn with {limit:,} evenly "
            "spaced ones (first and last kept); the table and results.json hold all."
        )
    if groups > MAX_PANELS:
        out += f" The first {MAX_PANELS} of {groups} metrics are drawn; the table has all."
    return out


def _curve_blocks(curves: TrainingCurves, key: str, origin: str) -> list[Any]:
    what = "Training log" if key == "history" else "Training curves"
    notes = "".join(f" Note: {n}." for n in curves.notes)
    best = (
        f" The dashed line marks {curves.x_label} {curves.best_iteration:g}, the one "
        "early stopping kept."
        if curves.best_iteration is not None
        else ""
    )
    unwrapped = f" (inside {' > '.join(curves.unwrapped)})" if curves.unwrapped else ""
    caption = (
        f"{origin}{unwrapped}: each metric against the {curves.x_label}, one panel "
        f"per metric.{best}{_reduced(curves)}{notes}"
    )
    return [
        Figure(
            f"training-{key}",
            what,
            curves_spec(curves),
            caption=caption,
            png=lambda c=curves: c.plot(),
        ),
        Table(
            f"training-{key}-summary",
            f"{what}: summary",
            curves.summary(),
            caption=f"First, last and best value of each curve, and the {curves.x_label} "
            "of the best (where the direction is known).",
        ),
        Table(
            f"training-{key}-curves",
            f"{what}: every point",
            curves.frame(wide=True),
            caption=f"One row per {curves.x_label}, one column per curve; the page shows "
            "the first rows, the CSV holds all.",
            max_rows=10,
        ),
    ]


def _learning_blocks(lc: LearningCurve) -> list[Any]:
    sampled = (
        f" Uses {lc.n_rows:,} of {lc.n_rows_total:,} training rows, drawn at random."
        if lc.sampled
        else f" Uses all {lc.n_rows:,} training rows."
    )
    notes = "".join(f" Note: {n}." for n in lc.notes)
    caption = (
        f"The {lc.metric} of a {lc.estimator} refitted on growing parts of the training "
        f"folds ({lc.cv}), on those rows (train) and on the held-out fold "
        f"(validation). Bands: {lc.interval}.{sampled}{notes}"
    )
    return [
        Figure(
            "training-learning-curve",
            "Learning curve",
            learning_spec(lc),
            caption=caption,
            png=lambda: lc.plot(),
        ),
        Table(
            "training-learning-curve-scores",
            "Learning curve: scores",
            lc.frame(),
            caption=f"Mean {lc.metric} across folds at each training size, with its "
            f"{lc.confidence:.0%} interval.",
        ),
    ]


# --- findings -----------------------------------------------------------------------------


def _at(curve: Curve, x: float) -> float:
    """The curve's value at ``x`` (the last point at or before it)."""
    i = int(np.searchsorted(curve.x, x, side="right")) - 1
    return float(curve.y[max(i, 0)])


def overfitting(curves: TrainingCurves) -> list[Finding]:
    """A warning when a validation curve ends clearly worse than its best while the
    training curve of the same metric kept improving; none when early stopping kept the
    best iteration. At most one finding per set of curves (losses first)."""
    if curves.best_iteration is not None:
        return []
    groups = sorted(curves.by_metric().items(), key=lambda kv: "loss" not in kv[0].lower())
    for _, members in groups:
        trains = [c for c in members if split_kind(c.split) == "train"]
        vals = [c for c in members if split_kind(c.split) == "validation"]
        if not trains:
            continue
        train = trains[0]
        for val in vals:
            if val.higher_is_better is None or val.y.size < 5:
                continue
            sign = 1.0 if val.higher_is_better else -1.0
            v = sign * val.y
            b = int(np.argmax(v))
            span = float(v.max() - v.min())
            drop = float(v[b] - v[-1])
            room = max(2, math.ceil(0.1 * v.size))
            if span <= 0 or drop < OVERFIT_SHARE * span or b > v.size - 1 - room:
                continue
            xb, x_end = float(val.x[b]), float(val.x[-1])
            t_b, t_end = _at(train, xb), _at(train, x_end)
            if sign * (t_end - t_b) <= 0:  # training got no better either: not overfitting
                continue
            x = curves.x_label
            text = (
                f"Training: {val.name} was best at {x} {xb:g} ({val.y[b]:.4g}) and ended "
                f"at {val.y[-1]:.4g} ({x} {x_end:g}) while {train.name} kept improving "
                f"({t_b:.4g} to {t_end:.4g}): the model overfits after {x} {xb:g}. Stop "
                "earlier (early stopping) or regularise more."
            )
            if curves.kind == "history":
                text += " (Unless the saved weights are those of the best epoch.)"
            evidence = {
                "check": "validation_turned_worse",
                "metric": val.name,
                "train_metric": train.name,
                "x_label": x,
                "best_at": xb,
                "best": float(val.y[b]),
                "end_at": x_end,
                "end": float(val.y[-1]),
                "worsening": drop,
                "share_of_range": drop / span,
                "min_share": OVERFIT_SHARE,
                "train_at_best": t_b,
                "train_at_end": t_end,
            }
            return [Finding(text, section="training", evidence=evidence)]
    return []


def gap_evidence(lc: LearningCurve) -> dict[str, Any] | None:
    """The train-validation gap at the largest training size with both scores, and its
    interval over the folds (None when no size has both).

    The gap is paired by fold (each fold's training score minus its validation score,
    oriented so that a positive gap means training looks better), with the learning
    curve's t-interval at its confidence. ``material`` is the size a gap must exceed to
    matter (:data:`GAP_SHARE`); ``fires`` says whether the interval's lower end exceeds it.
    """
    from scipy import stats

    tr, va = lc.stats("train"), lc.stats("validation")
    ok = np.flatnonzero(np.isfinite(tr["mean"]) & np.isfinite(va["mean"]))
    if ok.size == 0:
        return None
    sign = 1.0 if lc.higher_is_better else -1.0
    i = int(ok[-1])
    t, v = float(tr["mean"][i]), float(va["mean"][i])
    pairs = sign * (
        np.asarray(lc.train_scores[i], float) - np.asarray(lc.validation_scores[i], float)
    )
    pairs = pairs[np.isfinite(pairs)]
    k = int(pairs.size)
    gap = float(pairs.mean()) if k else sign * (t - v)
    if k >= 2:
        half = float(stats.t.ppf((1 + lc.confidence) / 2, k - 1) * pairs.std(ddof=1) / math.sqrt(k))
    else:  # one fold: no interval, the gap alone decides
        half = 0.0
    larger = max(abs(t), abs(v), 1e-12)
    # A score bounded by 1 has a natural scale (a gap of 0.1 is 10 points of accuracy,
    # whatever the score); relative to a weak model's score (an R² of 0.1) any gap would
    # look large. A loss has no such bound: its gap is read against its size.
    bounded = lc.higher_is_better and larger <= 1.0
    material = GAP_SHARE * (1.0 if bounded else larger)
    return {
        "metric": lc.metric,
        "train_size": int(lc.train_sizes[i]),
        "train": t,
        "validation": v,
        "gap": gap,
        "gap_ci_low": gap - half if k >= 2 else None,
        "gap_ci_high": gap + half if k >= 2 else None,
        "confidence": float(lc.confidence),
        "n_folds": k,
        "material": material,
        "fires": bool(gap - half > material),
    }


def learning_findings(lc: LearningCurve) -> list[Finding]:
    """A warning for a train-validation gap at the largest training size that is both
    material and beyond the folds' noise; a note when the validation score was still
    improving there. Each finding carries the figures it fired on (``evidence``)."""
    tr, va = lc.stats("train"), lc.stats("validation")
    ok = np.flatnonzero(np.isfinite(tr["mean"]) & np.isfinite(va["mean"]))
    evidence = gap_evidence(lc)
    if evidence is None:
        return []
    sign = 1.0 if lc.higher_is_better else -1.0
    i = int(ok[-1])
    n = int(lc.train_sizes[i])
    t, v = float(tr["mean"][i]), float(va["mean"][i])
    half = float(va["ci_high"][i] - va["mean"][i]) if np.isfinite(va["ci_high"][i]) else 0.0
    out = []
    if evidence["fires"]:
        e = evidence
        interval = (
            f", {e['confidence']:.0%} interval over {e['n_folds']} folds "
            f"[{e['gap_ci_low']:.3g}, {e['gap_ci_high']:.3g}]"
            if e["gap_ci_low"] is not None
            else ""
        )
        out.append(
            Finding(
                f"Training: at {n:,} training rows the {lc.metric} is {t:.4g} on the training "
                f"rows but {v:.4g} on held-out folds: a large gap of {e['gap']:.3g}{interval}, "
                f"beyond the {e['material']:.3g} that matters (high variance). More data, a "
                "simpler model or more regularisation may help.",
                section="training",
                evidence={"check": "train_validation_gap", **e},
            )
        )
    if ok.size >= 2:
        j = int(ok[-2])
        gain = sign * (v - float(va["mean"][j]))
        if gain > max(half, 0.0) and gain > 0:
            out.append(
                Finding(
                    f"Training: the validation {lc.metric} was still improving at the "
                    f"largest training size ({float(va['mean'][j]):.4g} at "
                    f"{int(lc.train_sizes[j]):,} rows, {v:.4g} at {n:,}): more training "
                    "data would likely help.",
                    severity="info",
                    section="training",
                    evidence={
                        "check": "validation_still_improving",
                        "metric": lc.metric,
                        "previous_size": int(lc.train_sizes[j]),
                        "previous_validation": float(va["mean"][j]),
                        "train_size": n,
                        "validation": v,
                        "gain": gain,
                        "validation_ci_half_width": half,
                    },
                )
            )
    return out
