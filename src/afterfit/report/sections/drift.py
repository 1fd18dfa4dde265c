"""The Drift sections of ``afterfit monitor``'s page: per-feature drift (sorted, flagged),
drift over time, reference-versus-current histograms of the most drifted features,
prediction drift and, with labels, performance over time."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from afterfit.bundle.reference import OTHER, CategoricalStats, NumericStats
from afterfit.documents import slug
from afterfit.report import specs
from afterfit.report.page import Figure, Finding, Headline, Note, Section, Table

#: Features drawn in the drift-over-time figure and as histograms.
TOP_LINES = 8
TOP_HISTOGRAMS = 4
#: Bins of a numeric histogram between the reference's minimum and maximum.
HIST_BINS = 30
#: A numeric feature with at most this many distinct reference values is drawn as bars
#: per value (its sketch holds every value).
DISCRETE_VALUES = 40
REFERENCE = specs.colour(0)  # blue
CURRENT = specs.colour(1)  # orange
DRIFTED = specs.colour(3)  # vermillion
#: The performance metric drawn over time, by task (the first present).
PERFORMANCE_METRIC = {
    "binary": ("roc_auc", "accuracy"),
    "multiclass": ("accuracy", "balanced_accuracy"),
    "regression": ("rmse", "mae"),
}


def drift_sections(result: Any) -> list[Section]:
    """A :class:`~afterfit.monitoring.results.MonitorResult` as report sections."""
    sections = [_features_section(result)]
    if result.predictions:
        sections.append(_predictions_section(result))
    if result.performance is not None:
        sections.append(_performance_section(result))
    return sections


# -- features --------------------------------------------------------------------------
def _features_section(result: Any) -> Section:
    t = result.thresholds
    frame = result.frame()
    drifted = result.drifted
    blocks: list[Any] = [
        Table(
            "drift-features",
            "Drift per feature",
            frame,
            caption=f"Most drifted first. Drifted: PSI >= {t.psi:g}, or a Holm-adjusted "
            f"p-value (KS for numbers, chi-square for categories) below {t.p_value:g} with "
            f"KS D / JS distance >= {t.min_effect:g}, or a significant change of the "
            f"missing rate of at least {t.missing_change:.0%}. PSI reading: < 0.1 stable, "
            "0.1-0.25 moderate, > 0.25 major shift.",
            max_rows=40,
        ),
        _psi_bars(result),
    ]
    if result.windows:
        blocks.append(_over_time(result, "feature"))
        blocks.append(_windows_table(result))
        blocks.append(
            Table(
                "drift-windows-long",
                "Every window and column",
                result.windows_frame(),
                caption="One row per window and column (features and scores).",
                max_rows=10,
            )
        )
    ranked = [c for c in result.features if c.name in result.counts]
    ranked = sorted(ranked, key=lambda c: -(c.psi if math.isfinite(c.psi) else -1.0))
    for column in ranked[:TOP_HISTOGRAMS]:
        blocks.append(_histogram(result, column.name, result.reference.features[column.name]))
    blocks.append(
        Note(
            f"Multiple testing: {result.summary()['multiple_testing']}. The KS statistic is "
            "computed from the reference's quantile sketch "
            f"({result.reference.n_quantiles} points; per window about 100), so it can be "
            "below the exact one by about one sketch step; the p-value uses the asymptotic "
            "distribution with the effective sample size n*m/(n+m)."
        )
    )
    if result.absent:
        blocks.append(
            Note(
                f"Not in the log, so not compared: {', '.join(result.absent)}. A feature the "
                "server no longer receives is itself worth a look."
            )
        )
    warnings: list[Finding] = []
    if drifted:
        shown = ", ".join(drifted[:8]) + (" ..." if len(drifted) > 8 else "")
        warnings.append(
            Finding(
                f"Drift: {len(drifted)} of {len(result.features)} features drifted ({shown}).",
                section="drift",
            )
        )
    else:
        warnings.append(
            Finding(
                f"Drift: none of the {len(result.features)} features drifted.",
                severity="info",
                section="drift",
            )
        )
    if result.absent:
        warnings.append(
            Finding(f"Drift: {len(result.absent)} features are not in the log.", section="drift")
        )
    psis = [c.psi for c in result.features if math.isfinite(c.psi)]
    headline = [Headline("drifted features", float(len(drifted)))]
    if psis:
        headline.append(Headline("max PSI", float(max(psis))))
    return Section(
        id="drift",
        title="Drift",
        blocks=tuple(blocks),
        data=result.to_dict(),
        intro=f"{result.n_rows:,} logged rows against {result.reference.n_rows:,} reference "
        f"rows, {len(result.features)} features"
        + (f", windows of {result.window.text}" if result.window is not None else "")
        + ".",
        headline=tuple(headline),
        warnings=tuple(warnings),
    )


def _psi_bars(result: Any) -> Figure:
    cols = [c for c in result.features if math.isfinite(c.psi)]
    cols = sorted(cols, key=lambda c: -c.psi)[:30][::-1]
    trace = specs.bars(
        [c.name for c in cols], [c.psi for c in cols], name="PSI", color=specs.colour(0)
    )
    trace["marker"]["color"] = [specs.colour(5) if c.drifted else specs.colour(0) for c in cols]
    layout = specs.layout(x="PSI", legend=False, height=max(260, 22 * len(cols) + 80))
    layout["shapes"] = [_vline(result.thresholds.psi)]
    return Figure(
        "drift-psi",
        "PSI per feature",
        {"data": [trace], "layout": layout},
        caption=f"The {len(cols)} features with the largest PSI; drifted ones highlighted; "
        f"dashed: the PSI threshold {result.thresholds.psi:g}.",
    )


def _over_time(result: Any, role: str) -> Figure:
    frame = result.windows_frame()
    frame = frame[frame["role"] == role]
    overall = result.features if role == "feature" else result.predictions
    ranked = sorted(overall, key=lambda c: -(c.psi if math.isfinite(c.psi) else -1.0))
    names = [c.name for c in ranked[:TOP_LINES]]
    by_rows = result.window.rows is not None
    traces = []
    for i, name in enumerate(names):
        part = frame[frame["column"] == name]
        x = part["window"].tolist() if by_rows else _iso(part["start"])
        trace = specs.line(
            np.arange(len(part)),
            part["psi"],
            name,
            color=specs.colour(i),
            mode="lines+markers",
            hover=f"{name}<br>%{{x}}<br>PSI %{{y:.3f}}<extra></extra>",
        )
        trace["x"] = x
        traces.append(trace)
    layout = specs.layout(x="window" if by_rows else "window start (UTC)", y="PSI")
    layout["shapes"] = [_hline(result.thresholds.psi)]
    what = "features" if role == "feature" else "score columns"
    return Figure(
        f"drift-over-time-{role}",
        f"PSI over time ({what})",
        {"data": traces, "layout": layout},
        caption=f"PSI of each window against the reference, for the {len(names)} {what} "
        f"with the largest overall PSI; dashed: the threshold {result.thresholds.psi:g}.",
    )


def _windows_table(result: Any) -> Table:
    rows = []
    for w in result.windows:
        psis = [c.psi for c in w.features if math.isfinite(c.psi)]
        drifted = [c.name for c in w.features if c.drifted]
        rows.append(
            {
                "window": result.window_label(w),
                "rows": w.n_rows,
                "drifted": len(drifted),
                "max_psi": max(psis) if psis else float("nan"),
                "mean_psi": float(np.mean(psis)) if psis else float("nan"),
                "prediction_psi": _first_psi(w.predictions),
                "drifted_features": ", ".join(drifted[:10]) + (" ..." if len(drifted) > 10 else ""),
            }
        )
    return Table(
        "drift-windows",
        "Drift per window",
        pd.DataFrame(rows),
        caption="Per window: features drifted (thresholds as above, Holm within the window), "
        "the largest and mean PSI.",
        max_rows=60,
    )


def _first_psi(cols: Any) -> float:
    values = [c.psi for c in cols if math.isfinite(c.psi)]
    return max(values) if values else float("nan")


# -- histograms ------------------------------------------------------------------------
def _histogram(result: Any, name: str, stats: Any) -> Figure:
    cum, n, _missing = result.counts[name]
    if isinstance(stats, CategoricalStats):
        return _category_bars(name, stats, np.asarray(cum), n)
    return _numeric_hist(name, stats, np.asarray(cum), n)


def _numeric_hist(name: str, stats: NumericStats, cum: np.ndarray, n: int) -> Figure:
    fid = f"drift-hist-{slug(name)}"
    title = f"{name}: reference and current"
    if stats.n == 0 or n == 0 or stats.sketch.size == 0:
        return Figure(fid, title, {"data": [], "layout": specs.layout()}, caption="No values.")
    if stats.sketch.size <= DISCRETE_VALUES:
        return _discrete_bars(fid, title, name, stats, cum, n)
    lo, hi = stats.minimum, stats.maximum
    edges = np.linspace(lo, hi, HIST_BINS + 1)
    ref_cdf = stats.cdf_at(edges)
    cur_points = cum / n
    cur_cdf = np.interp(edges, stats.sketch, cur_points, left=0.0, right=cur_points[-1])
    # Mass outside the reference's range: current values below its minimum sit at or
    # below the first sketch point; those above its maximum above the last.
    below = float(cur_points[0])
    above = float(1.0 - cur_points[-1])
    ref_p = np.diff(ref_cdf)
    cur_p = np.diff(cur_cdf)
    ref_p[0] += ref_cdf[0]
    cur_p[0] += max(cur_cdf[0] - below, 0.0)
    centres = (edges[:-1] + edges[1:]) / 2
    width = edges[1] - edges[0]
    x_cur = np.concatenate([[lo - width / 2], centres, [hi + width / 2]])
    y_cur = np.concatenate([[below], cur_p, [above]])
    y_ref = np.concatenate([[0.0], ref_p, [0.0]])
    data = [
        _bar(x_cur, y_ref, "reference", REFERENCE),
        _bar(x_cur, y_cur, "current", CURRENT),
    ]
    layout = specs.layout(x=name, y="share of rows", barmode="overlay", bargap=0.02)
    return Figure(
        fid,
        title,
        {"data": data, "layout": layout},
        caption=f"Shares of non-missing values in {HIST_BINS} equal bins over the reference "
        f"range [{lo:.4g}, {hi:.4g}] (from the quantile sketch); the outer bars hold the "
        f"current values below the reference minimum ({below:.1%}) and above its maximum "
        f"({above:.1%}).",
    )


def _discrete_bars(
    fid: str, title: str, name: str, stats: NumericStats, cum: np.ndarray, n: int
) -> Figure:
    """Bars per reference value: the sketch holds every value of a discrete feature."""
    ref_p = np.diff(np.concatenate([[0.0], stats.cdf]))
    cur_cum = np.asarray(cum, dtype=float) / n
    cur_p = np.diff(np.concatenate([[0.0], cur_cum]))
    above = 1.0 - cur_cum[-1]
    labels = [f"{v:.6g}" for v in stats.sketch]
    # Bar j holds the current values in (value j-1, value j]: the value itself when the
    # current values are among the reference's; the first bar also holds those below.
    labels[0] = f"<= {labels[0]}"
    ref_y, cur_y = list(ref_p), list(cur_p)
    if above > 0:
        labels.append(f"> {stats.sketch[-1]:.6g}")
        ref_y.append(0.0)
        cur_y.append(above)
    data = [
        _bar(labels, ref_y, "reference", REFERENCE),
        _bar(labels, cur_y, "current", CURRENT),
    ]
    layout = specs.layout(x=name, y="share of rows", barmode="group")
    layout["xaxis"]["type"] = "category"
    return Figure(
        fid,
        title,
        {"data": data, "layout": layout},
        caption=f"Shares of non-missing values at each of the {stats.sketch.size} values the "
        "reference takes; a current value between two of them is counted at the upper one.",
    )


def _category_bars(name: str, stats: CategoricalStats, counts: np.ndarray, n: int) -> Figure:
    labels = [("other" if c == OTHER else c) for c in stats.labels]
    ref = stats.counts / max(stats.counts.sum(), 1)
    cur = counts / max(n, 1)
    order = np.argsort(-(ref + cur), kind="stable")[:20]
    data = [
        _bar([labels[i] for i in order], ref[order], "reference", REFERENCE),
        _bar([labels[i] for i in order], cur[order], "current", CURRENT),
    ]
    layout = specs.layout(x=name, y="share of rows", barmode="group")
    layout["xaxis"]["type"] = "category"
    return Figure(
        f"drift-hist-{slug(name)}",
        f"{name}: reference and current",
        {"data": data, "layout": layout},
        caption="Shares of non-missing values per category (up to 20 most common); "
        "'other' holds categories rare or unseen in the reference.",
    )


def _bar(x: Any, y: Any, name: str, color: str) -> dict[str, Any]:
    xs = [str(v) for v in x] if not isinstance(x, np.ndarray) else specs.numbers(x)
    return {
        "type": "bar",
        "name": name,
        "x": xs,
        "y": specs.numbers(y),
        "marker": {"color": color, "opacity": 0.6},
    }


# -- predictions -----------------------------------------------------------------------
def _predictions_section(result: Any) -> Section:
    frame = result.predictions_frame()
    blocks: list[Any] = [
        Table(
            "drift-predictions",
            "Prediction drift",
            frame,
            caption="The model's scores in the log against its scores on the reference rows "
            "(same measures and thresholds as the features; Holm over the score columns).",
        )
    ]
    if result.windows:
        blocks.append(_over_time(result, "prediction"))
    # Log column -> the reference's name for it ("score" is logged as proba_<class>).
    mapping = result.model.get("prediction_columns", {})
    for c in result.predictions[:3]:
        stats = result.reference.predictions.get(mapping.get(c.name, c.name))
        if stats is not None and c.name in result.counts:
            blocks.append(_histogram(result, c.name, stats))
    drifted = [c.name for c in result.predictions if c.drifted]
    warnings = ()
    if drifted:
        warnings = (
            Finding(f"Prediction drift: {', '.join(drifted)} drifted.", section="predictions"),
        )
    return Section(
        id="predictions",
        title="Prediction drift",
        blocks=tuple(blocks),
        data={"predictions": [c.to_dict() for c in result.predictions]},
        intro="How the distribution of the model's outputs moved.",
        warnings=warnings,
    )


# -- performance -----------------------------------------------------------------------
def _performance_section(result: Any) -> Section:
    perf = result.performance
    frame = perf.frame()
    n_overall = int((frame["window"] == "all").sum())
    blocks: list[Any] = [
        Table(
            "performance",
            "Performance on labelled requests",
            frame,
            caption="Metrics on the logged predictions whose labels arrived, joined on "
            "request_id, over the whole log (window 'all'; the CSV also has every window). "
            "Intervals from afterfit's evaluation (DeLong, Wilson or bootstrap).",
            max_rows=max(n_overall, 1),
        )
    ]
    if perf.windows:
        blocks.append(_performance_windows(perf, frame))
    metric = next(
        (m for m in PERFORMANCE_METRIC.get(perf.task, ()) if m in set(frame["metric"])), None
    )
    headline: tuple[Headline, ...] = ()
    if metric is not None:
        row = next(r for r in perf.overall.metrics.overall() if r.metric == metric)
        lo = row.ci_low if math.isfinite(row.ci_low) else None
        hi = row.ci_high if math.isfinite(row.ci_high) else None
        headline = (Headline(f"{metric} (labelled log)", float(row.value), lo, hi),)
        part = frame[(frame["metric"] == metric) & (frame["window"] != "all")]
        if len(part):
            x = part["window"].tolist()
            idx = np.arange(len(part))
            traces = [
                *specs.band(
                    idx, part["ci_low"], part["ci_high"], "interval", color=specs.colour(0)
                ),
                specs.line(idx, part["value"], metric, color=specs.colour(0), mode="lines+markers"),
            ]
            for trace in traces:
                trace["x"] = x
            blocks.append(
                Figure(
                    "performance-over-time",
                    f"{metric} over time",
                    {"data": traces, "layout": specs.layout(x="window", y=metric)},
                    caption=f"{metric} per window with its interval (shaded).",
                )
            )
    for note in perf.notes:
        blocks.append(Note(note))
    return Section(
        id="performance",
        title="Performance over time",
        blocks=tuple(blocks),
        data=perf.to_dict(),
        intro=f"{perf.n_labeled:,} logged predictions have labels.",
        headline=headline,
    )


def _performance_windows(perf: Any, frame: pd.DataFrame) -> Table:
    """One row per window: the task's key metrics as ``value [low, high]``."""
    keys = {
        "binary": ("roc_auc", "accuracy", "f1", "brier"),
        "multiclass": ("accuracy", "balanced_accuracy", "log_loss"),
        "regression": ("rmse", "mae", "r2"),
    }.get(perf.task, ())
    rows = []
    for _index, label, n, _ev in perf.windows:
        part = frame[frame["window"] == label].set_index("metric")
        row: dict[str, Any] = {"window": label, "n_labeled": n}
        for m in keys:
            if m in part.index:
                r = part.loc[m]
                ci = ""
                if math.isfinite(r["ci_low"]) and math.isfinite(r["ci_high"]):
                    ci = f" [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
                row[m] = f"{r['value']:.4f}{ci}" if math.isfinite(r["value"]) else "—"
            else:
                row[m] = "—"
        rows.append(row)
    return Table(
        "performance-windows",
        "Performance per window",
        pd.DataFrame(rows),
        caption="Key metrics per window with their intervals; a window without enough "
        "labels (or with one class only) shows a dash.",
        max_rows=60,
    )


# -- shapes ----------------------------------------------------------------------------
def _iso(seconds: Any) -> list[str]:
    return [
        pd.Timestamp(float(s), unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S") for s in seconds
    ]


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


def _hline(y: float) -> dict[str, Any]:
    return {
        "type": "line",
        "y0": y,
        "y1": y,
        "xref": "paper",
        "x0": 0,
        "x1": 1,
        "line": {"color": "#000000", "dash": "dash", "width": 1},
    }
