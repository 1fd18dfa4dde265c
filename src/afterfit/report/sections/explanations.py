"""The Explanations section: global importance with intervals, SHAP beeswarm and dependence,
the chosen rows explained by SHAP, LIME and anchors side by side, and their agreement.

Figures are plain Plotly specs (no plotly import); scatter plots are sampled to at most
:data:`afterfit.report.specs.MAX_SCATTER` points and their captions say so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from afterfit.report import specs
from afterfit.report.page import Block, Figure, Finding, Note, Section, Table

SECTION = "explanations"
#: Features drawn in the importance bars and the beeswarm.
TOP_FEATURES = 20
BEESWARM_FEATURES = 10
#: Bars per side in a row's SHAP/LIME figure.
ROW_FEATURES = 10
#: Colours of increasing and decreasing contributions (Okabe-Ito vermilion and blue), as in
#: the matplotlib waterfall.
UP, DOWN = specs.colour(3), specs.colour(0)


def _sid(*parts: Any) -> str:
    return "-".join([SECTION, *(str(p) for p in parts)])


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Nullable integer columns as floats, so empty cells read as a dash, not ``<NA>``."""
    out = frame.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.Int64Dtype | pd.Int32Dtype):
            out[c] = out[c].astype("float64")
    return out


def _short(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}"
    text = str(value)
    return text if len(text) <= 24 else text[:23] + "…"


# --- global figures ----------------------------------------------------------------------------


def _permutation(expl: Any) -> Figure:
    p = expl.permutation
    df = p.frame().head(TOP_FEATURES).iloc[::-1]  # most important at the top
    trace = specs.bars(df["feature"], df["importance"], low=df["ci_low"], high=df["ci_high"],
                       name="importance", color=specs.colour(0))  # fmt: skip
    sign = "baseline − permuted" if p.higher_is_better else "permuted − baseline"
    layout = specs.layout(x=f"drop in {p.metric} ({sign})", legend=False,
                          height=120 + 22 * len(df))  # fmt: skip
    layout["margin"]["l"] = 180
    chance = ""
    if expl.chance is not None:
        chance = f" The model's {p.metric} is {p.baseline:.3g}; chance is {expl.chance:.3g}."
    sample = f" Computed on {p.n_rows:,} of {p.n_rows_total:,} rows." if p.sampled else ""
    return Figure(
        _sid("permutation"),
        "Permutation importance",
        {"data": [trace], "layout": layout},
        caption=f"How much {p.metric} drops when a feature's values are shuffled, mean over "
        f"{p.n_repeats} repeats with {p.confidence:.0%} t-intervals (the randomness of the "
        f"shuffles on these rows).{chance}{sample}"
        + (f" Top {TOP_FEATURES} features." if len(p.features) > TOP_FEATURES else ""),
        png=lambda: p.plot(top=TOP_FEATURES),
    )


def _shap_importance(expl: Any) -> Figure:
    from afterfit.explain.explain import plot_shap_importance

    sv, frame = expl.shap, expl.shap_importance
    df = frame.head(TOP_FEATURES).iloc[::-1]
    trace = specs.bars(df["feature"], df["mean_abs_shap"], low=df["ci_low"],
                       high=df["ci_high"], name="mean |SHAP|", color=specs.colour(2))  # fmt: skip
    layout = specs.layout(x=f"mean |SHAP value| ({sv.output})", legend=False,
                          height=120 + 22 * len(df))  # fmt: skip
    layout["margin"]["l"] = 180
    return Figure(
        _sid("shap-importance"),
        "Mean |SHAP| per feature",
        {"data": [trace], "layout": layout},
        caption=f"Average absolute contribution of each feature over {sv.n_rows:,} rows "
        f"({sv.algorithm} explainer, {sv.output} scale"
        + (", summed over classes" if sv.values.ndim == 3 else "")
        + "), with 95% bootstrap intervals over the rows.",
        png=lambda: plot_shap_importance(frame, sv, top=TOP_FEATURES),
    )


def _colour_values(column: pd.Series) -> np.ndarray:
    """A feature's values scaled to [0, 1] between its 5th and 95th percentiles (0.5 when
    not numeric), as the matplotlib beeswarm colours them."""
    raw = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    finite = np.isfinite(raw)
    out = np.full(len(raw), 0.5)
    if finite.any():
        lo, hi = np.nanpercentile(raw[finite], [5, 95])
        if hi > lo:
            out = np.clip((raw - lo) / (hi - lo), 0.0, 1.0)
    return np.where(finite, out, 0.5)


def _beeswarm(expl: Any) -> Figure:
    sv = expl.shap
    values, _, _, label = sv._slice(None)
    order = np.argsort(-np.abs(values).mean(axis=0), kind="stable")[:BEESWARM_FEATURES]
    k = len(order)
    per_feature = max(1, specs.MAX_SCATTER // max(k, 1))
    rows = specs.sample_rows(sv.n_rows, per_feature)
    rng = np.random.default_rng(0)  # jitter only
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    cs: list[np.ndarray] = []
    texts: list[str] = []
    for pos, j in enumerate(order[::-1]):  # most important at the top
        x = values[rows, j]
        xs.append(x)
        ys.append(pos + rng.uniform(-0.3, 0.3, len(rows)))
        column = sv.data.iloc[rows, j]
        cs.append(_colour_values(column))
        texts += [f"{sv.feature_names[j]} = {_short(v)}" for v in column.tolist()]
    trace = {
        "type": "scattergl" if sum(len(x) for x in xs) > 1000 else "scatter",
        "mode": "markers",
        "x": specs.numbers(np.concatenate(xs)),
        "y": specs.numbers(np.concatenate(ys)),
        "text": texts,
        "hovertemplate": "%{text}<br>SHAP %{x:.3g}<extra></extra>",
        "marker": {
            "size": 5,
            "opacity": 0.8,
            "color": specs.numbers(np.concatenate(cs)),
            "cmin": 0,
            "cmax": 1,
            # Okabe-Ito blue (low) to vermilion (high), through grey
            "colorscale": [[0, specs.colour(0)], [0.5, "#bbbbbb"], [1, specs.colour(3)]],
            "colorbar": {
                "title": {"text": "feature value"},
                "tickvals": [0, 1],
                "ticktext": ["low", "high"],
                "thickness": 12,
            },
        },
        "name": "rows",
    }
    layout = specs.layout(x=f"SHAP value ({sv.output}, {label})", legend=False,
                          height=120 + 34 * k)  # fmt: skip
    layout["margin"]["l"] = 180
    layout["yaxis"].update(
        {
            "tickvals": list(range(k)),
            "ticktext": [sv.feature_names[j] for j in order[::-1]],
            "zeroline": False,
        }
    )
    cls = " Multiclass: the first class's values." if sv.values.ndim == 3 else ""
    return Figure(
        _sid("beeswarm"),
        "SHAP beeswarm",
        {"data": [trace], "layout": layout},
        caption=f"One dot per row and feature: its SHAP value, coloured by the feature's "
        f"value (5th to 95th percentile). The {k} features of largest mean |SHAP|.{cls}"
        + specs.sampled_caption(sv.n_rows, len(rows)),
        png=lambda: sv.plot_beeswarm(top=BEESWARM_FEATURES),
    )


def _dependence(expl: Any) -> Figure:
    sv = expl.shap
    feature = str(expl.shap_importance["feature"].iloc[0])
    j = sv.feature_names.index(feature)
    values, _, _, label = sv._slice(None)
    rows = specs.sample_rows(sv.n_rows)
    column = sv.data.iloc[rows, j]
    numeric = pd.api.types.is_numeric_dtype(column)
    x = specs.numbers(column) if numeric else [str(v) for v in column]
    trace = {
        "type": "scatter",
        "mode": "markers",
        "x": x,
        "y": specs.numbers(values[rows, j]),
        "marker": {"size": 6, "opacity": 0.7, "color": specs.colour(0)},
        "hovertemplate": f"{feature} = %{{x}}<br>SHAP %{{y:.3g}}<extra></extra>",
        "name": feature,
    }
    layout = specs.layout(x=feature, y=f"SHAP value of {feature} ({sv.output}, {label})",
                          legend=False)  # fmt: skip
    return Figure(
        _sid("dependence"),
        f"SHAP dependence: {feature}",
        {"data": [trace], "layout": layout},
        caption=f"The contribution of the most important feature, {feature}, against its "
        "value: a curve shows its effect, the spread at one value its interactions."
        + specs.sampled_caption(sv.n_rows),
        png=lambda: sv.plot_dependence(feature),
    )


# --- partial dependence ----------------------------------------------------------------------


def _axis_values(grid: Sequence[Any], categorical: bool) -> list[Any]:
    return [str(v) for v in grid] if categorical else specs.numbers(grid)


def _slug(name: str) -> str:
    """A feature's name as a file-name-safe piece of an id (``figures/<id>.png``)."""
    return re.sub(r"[^A-Za-z0-9_.]+", "-", name).strip("-.").lower()[:40] or "feature"


def _pdp_figure(dep: Any, f: Any, i: int) -> Figure:
    level = dep.settings.get("confidence", 0.95)
    label = f"{f.feature} = %{{x}}<br>{dep.output} %{{y:.3g}}"
    if f.categorical:
        trace = specs.bars(f.grid, f.average, low=f.ci_low, high=f.ci_high, name="average",
                           color=specs.colour(0), horizontal=False)  # fmt: skip
        trace["hovertemplate"] = label + "<extra></extra>"
        traces = [trace]
        layout = specs.layout(x=f.feature, y=dep.output, legend=False)
        finite = np.concatenate([f.ci_low, f.ci_high, f.average])
        finite = finite[np.isfinite(finite)]
        if finite.size:  # bars from the data's range, not from zero: differences show
            lo, hi = float(finite.min()), float(finite.max())
            pad = 0.1 * max(hi - lo, 1e-12)
            layout["yaxis"]["range"] = [lo - pad, hi + pad]
        shape = f"bars with {level:.0%} bootstrap error bars, one per level"
        if f.other_levels:
            shape += f" ({len(f.other_levels)} rarer levels not drawn)"
    else:
        x = np.asarray(f.grid, dtype=float)
        traces = []
        if len(f.ice):
            # every ICE curve in one trace, broken by gaps: a small page
            xs = np.concatenate([np.append(x, np.nan) for _ in f.ice])
            ys = np.concatenate([np.append(c, np.nan) for c in f.ice])
            traces.append({"type": "scatter", "mode": "lines", "name": "ICE",
                           "x": specs.numbers(xs), "y": specs.numbers(ys),
                           "line": {"width": 0.7, "color": "rgba(127,127,127,0.35)"},
                           "hoverinfo": "skip", "connectgaps": False})  # fmt: skip
        traces += specs.band(x, f.ci_low, f.ci_high, f"{level:.0%} bootstrap band",
                             color=specs.colour(0))  # fmt: skip
        hover = label + "<extra></extra>"
        average = specs.line(x, f.average, "average", color=specs.colour(0),
                             mode="lines+markers", hover=hover)  # fmt: skip
        traces.append(average)
        layout = specs.layout(x=f.feature, y=dep.output)
        shape = f"the average (blue) with its {level:.0%} bootstrap band"
        if len(f.ice):
            shape += f", and {len(f.ice)} rows' ICE curves (grey)"
    return Figure(
        # numbered as well: two names may give the same slug
        _sid("pdp", i, _slug(f.feature)),
        f"Partial dependence: {f.feature}",
        {"data": traces, "layout": layout},
        caption=f"The model's {dep.output} with {f.feature} set to each value in every row, "
        f"averaged over {dep.n_rows:,} rows: {shape}.",
        png=lambda: f.plot(output=dep.output),
    )


def _pdp_pair_figure(dep: Any) -> Figure:
    pair = dep.pair
    a, b = pair.features
    trace = {
        "type": "heatmap",
        "z": [specs.numbers(row) for row in pair.average.T],
        "x": _axis_values(pair.grids[0], pair.categorical[0]),
        "y": _axis_values(pair.grids[1], pair.categorical[1]),
        "colorscale": "Viridis",
        "colorbar": {"title": {"text": dep.output}, "thickness": 12},
        "hovertemplate": f"{a} = %{{x}}<br>{b} = %{{y}}<br>{dep.output} %{{z:.3g}}<extra></extra>",
    }
    layout = specs.layout(x=a, y=b, legend=False, height=420)
    best = dep.interactions[0]
    h2 = "n/a" if not math.isfinite(best.h2) else f"{best.h2:.2f}"
    return Figure(
        _sid("pdp-pair"),
        f"Two-way partial dependence: {a} × {b}",
        {"data": [trace], "layout": layout},
        caption=f"The pair that interacts most (Friedman's H² {h2}: the share of their joint "
        "effect that their separate effects do not explain): the average "
        f"{dep.output} with both set to each grid point. Parallel bands mean no interaction.",
        png=lambda: pair.plot(output=dep.output),
    )


def _dependence_blocks(expl: Any) -> list[Block]:
    dep = getattr(expl, "dependence", None)
    if dep is None or not dep.features:
        return []
    sample = f", a random sample of {dep.n_rows_total:,}" if dep.sampled else ""
    blocks: list[Block] = [
        Note(
            f"Partial dependence: how the model's {dep.output} moves when one feature is set "
            f"to each value of a grid in every row ({dep.n_rows:,} rows{sample}); grey ICE "
            "curves are single rows, the band is a bootstrap over the rows' curves. Features: "
            f"{', '.join(dep.feature_names)}."
        )
    ]
    blocks += [_pdp_figure(dep, f, i) for i, f in enumerate(dep.features, start=1)]
    if dep.pair is not None:
        blocks.append(_pdp_pair_figure(dep))
    blocks.append(
        Table(
            _sid("pdp"),
            "Partial dependence",
            dep.frame(),
            caption=f"Each feature's grid value, the average {dep.output} there and its "
            f"{dep.settings.get('confidence', 0.95):.0%} bootstrap band (the CSV holds every "
            "feature).",
            max_rows=20,
        )
    )
    if dep.interactions:
        blocks.append(
            Table(
                _sid("pdp-interactions"),
                "Interactions (H-statistic)",
                dep.interactions_frame(),
                caption=f"Friedman-Popescu H² of each pair on {dep.settings.get('h_rows')} "
                "rows at most: 0 when the pair's effects add up, 1 when their joint effect is "
                "all interaction; strength is the interaction's root mean square in the "
                "model's output units (the pairs are ranked by it).",
            )
        )
    return blocks


# --- rows --------------------------------------------------------------------------------------


def _row_figure(r: Any) -> Figure:
    traces: list[dict[str, Any]] = []
    layout = specs.layout(legend=False, height=140 + 24 * ROW_FEATURES)
    layout["margin"]["l"] = 180
    panels = []
    if r.shap is not None:
        df = r.shap.frame().head(ROW_FEATURES).iloc[::-1]
        labels = [f"{f} = {_short(v)}" for f, v in zip(df["feature"], df["value"], strict=True)]
        panels.append(("SHAP", labels, df["shap"].to_numpy(dtype=float),
                       f"SHAP ({r.shap.scale}): base {r.shap.base_value:.3g} → "
                       f"{r.shap.output:.3g}"))  # fmt: skip
    if r.lime is not None:
        w = np.asarray(r.lime.weights, dtype=float)[:ROW_FEATURES][::-1]
        rules = list(r.lime.features[:ROW_FEATURES])[::-1]
        fid = "n/a" if not math.isfinite(r.lime.fidelity) else f"{r.lime.fidelity:.2f}"
        panels.append(("LIME", rules, w, f"LIME weight (fidelity R² {fid})"))
    n = len(panels)
    gap = 0.28 if n == 2 else 0.0  # room for the second panel's labels
    width = (1.0 - gap) / max(n, 1)
    for i, (name, labels, values, title) in enumerate(panels):
        suffix = "" if i == 0 else str(i + 1)
        trace = {
            "type": "bar",
            "orientation": "h",
            "name": name,
            "x": specs.numbers(values),
            "y": labels,
            "marker": {"color": [UP if v >= 0 else DOWN for v in values]},
            "xaxis": f"x{suffix}",
            "yaxis": f"y{suffix}",
            "hovertemplate": "%{y}: %{x:.3g}<extra>" + name + "</extra>",
        }
        traces.append(trace)
        start = i * (width + gap)
        xaxis = {"domain": [start, start + width], "anchor": f"y{suffix}",
                 "title": {"text": title}, "zeroline": True,
                 "gridcolor": "rgba(127,127,127,0.25)"}  # fmt: skip
        yaxis = {"anchor": f"x{suffix}", "automargin": True, "type": "category"}
        layout[f"xaxis{suffix}"] = xaxis
        layout[f"yaxis{suffix}"] = yaxis
    anchor = ""
    if r.anchor is not None:
        rule = r.anchor.rule or "(empty: the prediction holds nearly everywhere)"
        anchor = (
            f" Anchor: IF {rule} THEN {r.anchor.label} (precision {r.anchor.precision:.2f}, "
            f"coverage {r.anchor.coverage:.2f}"
            + ("" if r.anchor.valid else "; below the precision threshold")
            + ")."
        )
    agreement = ""
    if r.agreement is not None:
        a = r.agreement
        tau = "n/a" if not math.isfinite(a.kendall_tau) else f"{a.kendall_tau:.2f}"
        verdict = "they agree" if a.agree else "they DISAGREE"
        agreement = f" Top-{a.k} Jaccard {a.jaccard:.2f}, Kendall's tau {tau}: {verdict}."
    skipped = ""
    if r.skipped:
        skipped = " Not run: " + "; ".join(f"{s.method} ({s.reason})" for s in r.skipped) + "."
    true = "" if r.true_value is None else f", true {r.true_value}"
    return Figure(
        _sid("row", r.position),
        f"{r.name[0].upper()}{r.name[1:]} ({r.reason}): predicted {r.prediction}{true}",
        {"data": traces, "layout": layout},
        caption=f"{r.detail + '. ' if r.detail else ''}SHAP and LIME explain "
        f"{r.explained}; orange raises it, blue lowers it.{agreement}{anchor}{skipped}",
        png=lambda: r.plot(top=ROW_FEATURES),
    )


# --- the section -------------------------------------------------------------------------------


def _findings(expl: Any) -> tuple[Finding, ...]:
    out = [
        Finding(f.text, "warning", SECTION, evidence=f.to_dict()["evidence"]) for f in expl.flags()
    ]
    # a method that failed is named in the run's summary too, not only in the section
    failed = getattr(expl, "failed", dict)()
    out += [
        Finding(f"explanation method {m} failed (the others ran): {r}", "warning", SECTION)
        for m, r in failed.items()
    ]
    return tuple(out)


def explanations_section(expl: Any) -> Section:
    """An :class:`~afterfit.explain.explain.Explanations` as a report section.

    Parameters
    ----------
    expl : Explanations
        The result of :func:`afterfit.explain.explain_model`.

    Returns
    -------
    Section
        Figures (permutation importance, mean |SHAP|, beeswarm, dependence, one per
        explained row), tables (importance, rows, anchors, agreement, each row's methods
        side by side, skipped work), notes; ``data`` is ``expl.to_dict()``; ``warnings``
        the leakage suspects, SHAP-LIME disagreements and SHAP additivity failures.
    """
    blocks: list[Block] = []
    local = expl.local
    worked = getattr(expl, "worked", lambda: expl.methods)()
    failed = getattr(expl, "failed", dict)()
    ran = ", ".join(worked) or "none"
    blocks.append(
        Note(
            f"Methods: {ran}. {len(local)} row(s) explained: "
            + (", ".join(f"{r.position} ({r.reason})" for r in local.rows) or "none")
            + "."
        )
    )
    # one failing method never hides the others: each is named with its reason
    for method, reason in failed.items():
        blocks.append(Note(f"Method {method} failed: {reason}"))
    if expl.permutation is not None:
        blocks.append(_permutation(expl))
    if expl.shap is not None and expl.shap_importance is not None:
        blocks += [_shap_importance(expl), _beeswarm(expl), _dependence(expl)]
    if expl.permutation is not None or expl.shap_importance is not None:
        blocks.append(
            Table(
                _sid("importance"),
                "Global importance",
                _plain(expl.frame()),
                caption="Permutation importance and mean |SHAP| of every feature, with "
                "their intervals and ranks.",
                max_rows=TOP_FEATURES,
            )
        )
    blocks += _dependence_blocks(expl)
    if len(local):
        blocks.append(
            Table(
                _sid("rows"),
                "Explained rows",
                _plain(local.frame()),
                caption="Why each row was chosen, its prediction, and each method's gist: "
                "SHAP's and LIME's top features, LIME's local fidelity (weighted R²), the "
                "anchor with its precision and coverage, and whether SHAP and LIME agree.",
            )
        )
        agreement = local.agreement_frame()
        if len(agreement):
            blocks.append(
                Table(
                    _sid("agreement"),
                    "SHAP-LIME agreement",
                    _plain(agreement),
                    caption="Overlap and Jaccard index of the two methods' top-k features, "
                    "Kendall's tau of their absolute weights on the union (a feature LIME "
                    "did not select weighs 0), and the share of shared features with the "
                    "same sign. They disagree when Jaccard < "
                    f"{agreement_threshold(local)[0]:g} or tau < "
                    f"{agreement_threshold(local)[1]:g}.",
                )
            )
        anchors = local.anchors_frame()
        if len(anchors):
            blocks.append(
                Table(
                    _sid("anchors"),
                    "Anchors",
                    _plain(anchors),
                    caption="A rule under which the model keeps its prediction: precision "
                    "is the share of perturbed rows satisfying the rule that get the same "
                    "prediction, coverage the share of rows the rule applies to.",
                )
            )
        for r in local.rows:
            blocks.append(_row_figure(r))
            blocks.append(
                Table(
                    _sid("row", r.position, "methods"),
                    f"{r.name}: methods side by side",
                    _plain(r.frame()),
                    max_rows=ROW_FEATURES,
                    caption="Each feature's value, SHAP value and rank, LIME rule, weight "
                    "and rank, and whether the anchor uses it.",
                )
            )
    if expl.skipped:
        per_method: dict[str, int] = {}
        for s in expl.skipped:
            per_method[s.method] = per_method.get(s.method, 0) + 1
        blocks.append(
            Note(
                "Not run: "
                + ", ".join(f"{m} ({k} time{'s' if k > 1 else ''})" for m, k in per_method.items())
                + ". The table says why (the time budget, a method that does not apply, or one "
                "that failed)."
            )
        )
        blocks.append(
            Table(
                _sid("skipped"),
                "Work not done",
                pd.DataFrame(
                    [s.to_dict() for s in expl.skipped],
                    columns=["method", "position", "reason", "failed"],
                ),
            )
        )
    for note in expl.notes:
        blocks.append(Note(note))
    return Section(
        id=SECTION,
        title="Explanations",
        blocks=tuple(blocks),
        data=expl.to_dict(),
        intro="Which features drive the model (permutation importance and SHAP, with "
        "intervals), and why it predicted as it did for the rows worth a look: its most "
        "confident errors, its least confident predictions and a few random rows, each "
        "explained by SHAP, LIME and anchors side by side.",
        warnings=_findings(expl),
    )


def agreement_threshold(local: Any) -> tuple[float, float]:
    """The Jaccard and tau thresholds the rows were judged with."""
    for r in local.rows:
        if r.agreement is not None:
            return r.agreement.min_jaccard, r.agreement.min_tau
    return 0.25, -0.2
