"""Results shown in Jupyter as the report shows them: ``_repr_html_`` of every result.

A result displayed in a notebook is built into the same report section(s) that
``afterfit run`` puts on its page (:mod:`afterfit.report.sections`), then rendered as a
small HTML fragment: the headline numbers with their intervals, the section's main figure
as an inline PNG (else the result's own ``.plot()``), the findings and the first tables
(rows capped). Nothing is computed twice and nothing is drawn differently from the report;
the fragment needs no network and no JavaScript (the PNG is base64 in an ``<img>``), so it
survives a saved notebook, GitHub's viewer and nbconvert.

Every result class's ``_repr_html_`` calls :func:`afterfit.display.html`, which
``afterfit/__init__`` points at :func:`result_html`: the result modules import neither this
module nor the report. The class is matched to its section builder by name
(:func:`_builders`). A display hook must never raise: a figure that fails to draw, or a
section that fails to build, leaves the tables and a note saying why.

Every string that comes from the user's data (column names, class labels, feature names,
model names) is escaped: a column called ``<script>`` is shown as text.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from html import escape
from typing import Any

import numpy as np
import pandas as pd

#: Tables shown, and rows shown per table: a notebook cell is a glance, ``.frame()`` has all.
MAX_TABLES = 3
MAX_ROWS = 12
#: Findings and notes shown (the rest are counted).
MAX_FINDINGS = 8
MAX_NOTES = 2
#: Characters of one paragraph (intro, note).
MAX_TEXT = 400
#: The inline PNG's longest side in pixels, and its resolution when the figure is small:
#: a saliency grid of 8 images must not become a 5 MB cell.
MAX_PIXELS = 720
DPI = 90
#: Plotly trace types the spec-only fallback can draw with matplotlib.
_DRAWABLE = {"scatter", "scattergl", "bar", "histogram", "heatmap"}


def result_html(result: Any) -> str:
    """The HTML a notebook shows for an afterfit result.

    Parameters
    ----------
    result : object
        A result of afterfit (``Evaluation``, ``ThresholdSelection``, ``CalibrationReport``,
        ``Comparison``, ``Explanations``, ``CVResult``, ``TuningResult``,
        ``EnsembleResult``, ``MonitorResult``, ``SaliencyMaps``, ``SliceResult``, ...).

    Returns
    -------
    str
        A ``<div>`` with the headline numbers and their intervals, the main figure as an
        inline PNG, the findings and the first tables. Never raises: what cannot be shown
        is replaced by a note.

    Examples
    --------
    >>> ev = afterfit.evaluate(model, X_test, y_test)  # doctest: +SKIP
    >>> ev  # in Jupyter, the cell shows result_html(ev)  # doctest: +SKIP
    """
    try:
        sections = _sections(result)
    except Exception as exc:  # a display hook must not raise: show what there is
        return _fallback(result, f"The report section could not be built: {_why(exc)}")
    try:
        return _render(result, sections)
    except Exception as exc:
        return _fallback(result, f"The result could not be rendered: {_why(exc)}")


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _builders() -> dict[str, Callable[[Any], Any]]:
    """Result class name -> the function building its report section(s) (a Section or a
    list of them)."""
    from afterfit.report.sections.calibration import calibration_section
    from afterfit.report.sections.comparison import comparison_section
    from afterfit.report.sections.cv import cv_section
    from afterfit.report.sections.drift import drift_sections
    from afterfit.report.sections.ensemble import ensemble_section
    from afterfit.report.sections.evaluation import evaluation_section
    from afterfit.report.sections.explanations import explanations_section
    from afterfit.report.sections.saliency import saliency_section
    from afterfit.report.sections.slices import slices_section
    from afterfit.report.sections.thresholds import cost_decision_section, thresholds_section
    from afterfit.report.sections.tuning import tuning_section

    return {
        "Evaluation": evaluation_section,
        "ThresholdSelection": thresholds_section,
        "CostDecision": cost_decision_section,
        "CalibrationReport": calibration_section,
        "Comparison": comparison_section,
        "Explanations": explanations_section,
        "CVResult": cv_section,
        "CVComparison": lambda comparison: cv_section(None, comparison),
        "TuningResult": tuning_section,
        "EnsembleResult": ensemble_section,
        "MonitorResult": drift_sections,
        "SaliencyMaps": saliency_section,
        "SliceResult": slices_section,
    }


def _sections(result: Any) -> list[Any]:
    """The result's report sections (a list, since monitoring makes several)."""
    build = _builders().get(type(result).__name__)
    if build is None:
        return [_generic_section(result)]
    built = build(result)
    return list(built) if isinstance(built, list | tuple) else [built]


def _generic_section(result: Any) -> Any:
    """A section from ``.frame()`` and ``.plot()`` for a result without a builder."""
    from afterfit.report.page import Figure, Section, Table

    blocks: list[Any] = []
    if callable(getattr(result, "frame", None)):
        blocks.append(Table("frame", "Table", result.frame()))
    if callable(getattr(result, "plot", None)):
        blocks.append(Figure("plot", "Figure", {}, png=result.plot))
    return Section(id="result", title=type(result).__name__, blocks=tuple(blocks))


# -- rendering ---------------------------------------------------------------------------------


def _render(result: Any, sections: list[Any]) -> str:
    from afterfit.report.page import Figure, Note, Table

    kind = type(result).__name__
    titles = [s.title for s in sections if s.title and s.title != kind]
    heading = f"{kind}: {' · '.join(titles)}" if titles else kind
    parts = [f"<div class='afterfit-result'><h3>{escape(heading)}</h3>"]
    intro = " ".join(s.intro for s in sections if s.intro)
    if intro:
        parts.append(f"<p>{escape(_clip(intro))}</p>")
    blocks = [b for s in sections for b in s.blocks]
    tables = [b for b in blocks if isinstance(b, Table)][:MAX_TABLES]
    hidden = [b.title for b in blocks if isinstance(b, Table)][MAX_TABLES:]
    # The headline first: the summary numbers with their intervals, or, for a section
    # without them (calibration, comparison), its first table, which carries the intervals.
    headline = [h for s in sections for h in s.headline]
    if headline:
        parts.append(_headline_html(headline))
    elif tables:
        parts.append(_table_html(tables.pop(0)))
    figures = [b for b in blocks if isinstance(b, Figure)]
    if callable(getattr(result, "plot", None)):
        # a section without a picture (a multiclass cost decision) still has the result's own
        figures.append(Figure("plot", f"{kind}.plot()", {}, png=result.plot))
    parts.append(_main_figure_html(figures))
    findings = [f for s in sections for f in s.warnings]
    if findings:
        parts.append(_findings_html(findings))
    parts += [_table_html(t) for t in tables]
    if hidden:
        more = ", ".join(hidden)
        parts.append(f"<p><i>Not shown here (see the report): {escape(_clip(more))}.</i></p>")
    notes = [b.text for b in blocks if isinstance(b, Note)]
    parts += [f"<p>{escape(_clip(text))}</p>" for text in notes[:MAX_NOTES]]
    if len(notes) > MAX_NOTES:
        parts.append(f"<p><i>{len(notes) - MAX_NOTES} more note(s) in the report.</i></p>")
    parts.append("</div>")
    return "\n".join(p for p in parts if p)


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _headline_html(headline: list[Any]) -> str:
    from afterfit.report.html import headline_text

    rows = "".join(
        "<tr><td>{name}</td><td class=num>{value}</td><td>{interval}</td></tr>".format(
            **{k: escape(v) for k, v in headline_text(h).items()}
        )
        for h in headline
    )
    return (
        "<table><thead><tr><th>headline</th><th>value</th><th>interval</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _findings_html(findings: list[Any]) -> str:
    items = "".join(
        f"<li><b>{escape(f.severity)}</b>: {escape(_clip(f.text))}</li>"
        for f in findings[:MAX_FINDINGS]
    )
    more = ""
    if len(findings) > MAX_FINDINGS:
        more = f"<li><i>{len(findings) - MAX_FINDINGS} more finding(s)</i></li>"
    return f"<p><b>Findings</b></p><ul>{items}{more}</ul>"


def _table_html(table: Any) -> str:
    from afterfit.report.html import table_html

    rows = min(MAX_ROWS, table.max_rows)
    total = len(table.frame)
    shown = f" (first {rows} of {total:,} rows; <code>.frame()</code> has all)"
    caption = f"<p><b>{escape(table.title)}</b>{shown if total > rows else ''}</p>"
    return caption + table_html(table.frame, rows)


def _main_figure_html(figures: list[Any]) -> str:
    """The first figure that can be drawn, as an inline PNG; a note if it fails."""
    for fig in figures:
        if fig.png is None and not _spec_drawable(fig.spec):
            continue
        try:
            drawn = fig.png() if fig.png is not None else _draw_spec(fig.spec, fig.title)
            png = _png_base64(drawn)
        except Exception as exc:  # the tables still stand; say why the picture does not
            why = escape(f"The figure '{fig.title}' could not be drawn: {_why(exc)}")
            return f"<p><i>{why}</i></p>"
        alt = escape(fig.title, quote=True)
        return (
            f"<p><b>{escape(fig.title)}</b></p>"
            f"<img alt='{alt}' style='max-width:100%' src='data:image/png;base64,{png}'/>"
        )
    return ""


def _png_base64(fig: Any) -> str:
    """The matplotlib figure as base64 PNG, its longest side at most :data:`MAX_PIXELS`."""
    width, height = fig.get_size_inches()
    dpi = min(DPI, MAX_PIXELS / max(width, height, 1e-9))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# -- spec-only figures ---------------------------------------------------------------------------
# Some report figures exist only as Plotly specs (drift, tuning). Rather than ship plotly.js
# (1.9 MB) into every cell, the simple ones are drawn with matplotlib from the same spec.


def _spec_drawable(spec: dict[str, Any]) -> bool:
    data = spec.get("data") or []
    return bool(data) and all(t.get("type", "scatter") in _DRAWABLE for t in data)


def _axis_title(layout: dict[str, Any], axis: str) -> str:
    title = (layout.get(axis) or {}).get("title")
    return str(title.get("text", "")) if isinstance(title, dict) else str(title or "")


def _values(values: Any) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _draw_spec(spec: dict[str, Any], title: str) -> Any:
    from matplotlib.figure import Figure

    from afterfit.plots import OKABE_ITO

    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.subplots()
    for i, t in enumerate(spec["data"]):
        kind = t.get("type", "scatter")
        name = t.get("name") or None
        colour = (t.get("line") or {}).get("color") or OKABE_ITO[i % len(OKABE_ITO)]
        if not isinstance(colour, str) or colour.startswith("rgba"):
            colour = OKABE_ITO[i % len(OKABE_ITO)]
        if kind in ("scatter", "scattergl"):
            x, y = list(t.get("x") or []), _values(t.get("y") or [])
            if t.get("fill") == "tonexty":
                continue  # an interval band's upper edge: the line itself carries the value
            mode = t.get("mode", "lines")
            style = "-" if "lines" in mode else ""
            style += "o" if "markers" in mode else ""
            ax.plot(x, y, style or "-", color=colour, label=name, markersize=3)
        elif kind == "bar":
            labels = [str(v) for v in (t.get("y") if t.get("orientation") == "h" else t.get("x"))]
            values = _values(t.get("x") if t.get("orientation") == "h" else t.get("y"))
            draw = ax.barh if t.get("orientation") == "h" else ax.bar
            marker = (t.get("marker") or {}).get("color")
            # per-bar colours (drifted features highlighted) when they are plain hex
            if isinstance(marker, list) and all(str(c).startswith("#") for c in marker):
                colour = marker
            draw(labels, values, color=colour, label=name)
        elif kind == "histogram":
            ax.hist(_values(t.get("x") or []), bins=t.get("nbinsx", 30), color=colour, label=name)
        elif kind == "heatmap":
            z = np.array([_values(row) for row in t.get("z") or []], dtype=float)
            ax.imshow(z, cmap="Blues", aspect="auto")
    ax.set_xlabel(_axis_title(spec.get("layout") or {}, "xaxis"))
    ax.set_ylabel(_axis_title(spec.get("layout") or {}, "yaxis"))
    ax.set_title(title)
    if any(t.get("name") for t in spec["data"]) and len(spec["data"]) > 1:
        ax.legend(fontsize="small")
    return fig


def _fallback(result: Any, note: str) -> str:
    """The short repr, a note, and ``.frame()`` if it works."""
    try:
        plain = repr(result)
    except Exception:  # the repr may rest on the same broken state as the section
        plain = type(result).__name__
    parts = [f"<pre>{escape(plain)}</pre>", f"<p><i>{escape(note)}</i></p>"]
    frame = getattr(result, "frame", None)
    if callable(frame):
        try:
            from afterfit.report.html import table_html

            table = frame()
            if isinstance(table, pd.DataFrame):
                parts.append(table_html(table, MAX_ROWS))
        except Exception:  # the note above already says the display is partial
            pass
    return "<div class='afterfit-result'>" + "".join(parts) + "</div>"
