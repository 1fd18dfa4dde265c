"""Render sections as one self-contained HTML page.

The page needs no network: the CSS, the figure specs and plotly.js are inside it. plotly.js
is stored gzip-compressed and base64-encoded (1.9 MB instead of 4.8 MB) and unpacked in the
browser with ``DecompressionStream``; the text and tables are plain HTML, readable with
JavaScript off.
"""

from __future__ import annotations

import base64
import functools
import gzip
import json
import math
from collections.abc import Sequence
from importlib import resources
from typing import Any

import pandas as pd
from markupsafe import Markup

from afterfit.report.page import Figure, Finding, Headline, Section, Table

#: Significant digits of the numbers in the page's tables (the CSV files keep all of them).
TABLE_DIGITS = 4


@functools.cache
def plotly_js_gzip_base64() -> str:
    """plotly.js as shipped by the ``plotly`` package, gzip-compressed, base64 text."""
    from plotly.offline import get_plotlyjs

    packed = gzip.compress(get_plotlyjs().encode("utf-8"), compresslevel=9, mtime=0)
    return base64.b64encode(packed).decode("ascii")


def _asset(name: str) -> str:
    return resources.files("afterfit.report").joinpath("templates", name).read_text("utf-8")


def _number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "—"
        if value == int(value) and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:.{TABLE_DIGITS}g}"
    return str(value)


def table_html(frame: pd.DataFrame, max_rows: int) -> str:
    """The first ``max_rows`` rows as an HTML table; numeric columns right-aligned."""
    from html import escape

    shown = frame.head(max_rows)
    numeric = [pd.api.types.is_numeric_dtype(t) for t in shown.dtypes]
    head = "".join(
        f"<th{' class=num' if n else ''}>{escape(str(c))}</th>"
        for c, n in zip(shown.columns, numeric, strict=True)
    )
    body = []
    for row in shown.itertuples(index=False):
        cells = "".join(
            f"<td{' class=num' if n else ''}>"
            f"{escape(_number(v.item() if hasattr(v, 'item') else v))}</td>"
            for v, n in zip(row, numeric, strict=True)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def headline_text(h: Headline) -> dict[str, str]:
    interval = ""
    if h.ci_low is not None and h.ci_high is not None:
        interval = f"[{_number(float(h.ci_low))}, {_number(float(h.ci_high))}]"
    return {"name": h.name, "value": _number(float(h.value)), "interval": interval}


def _block(block: Any, figure_files: set[str]) -> dict[str, Any]:
    if isinstance(block, Figure):
        png = f"figures/{block.id}.png" if block.id in figure_files else None
        return {
            "kind": "figure",
            "id": block.id,
            "title": block.title,
            "caption": block.caption,
            "png": png,
        }
    if isinstance(block, Table):
        rows = len(block.frame)
        return {
            "kind": "table",
            "id": block.id,
            "title": block.title,
            "caption": block.caption,
            "html": Markup(table_html(block.frame, block.max_rows)),
            "rows": f"{rows:,}",
            "shown": min(rows, block.max_rows),
            "more": rows > block.max_rows,
            "csv": f"tables/{block.id}.csv" if block.csv else None,
        }
    return {"kind": "note", "text": block.text}


def figure_specs(sections: Sequence[Section]) -> dict[str, Any]:
    return {f.id: f.spec for s in sections for f in s.figures()}


def render_page(
    sections: Sequence[Section],
    *,
    title: str = "afterfit report",
    created: str = "",
    facts: Sequence[tuple[str, str]] = (),
    source_text: str = "",
    skipped: Sequence[str] = (),
    confidence: float | None = None,
    figure_files: set[str] | None = None,
    inline_plotly: bool = True,
) -> str:
    """The HTML page of ``sections``: a summary (facts, headline metrics, findings), then
    one card per section.

    ``figure_files`` names the figures saved as PNG (linked for readers without
    JavaScript). ``inline_plotly=False`` leaves plotly.js out (the figures then say so);
    only tests use it, to keep pages small.
    """
    from jinja2 import Environment

    from afterfit._version import __version__

    env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(_asset("report.html.j2"))
    files = figure_files or set()
    headline = [headline_text(h) for s in sections for h in s.headline]
    findings: list[Finding] = [f for s in sections for f in s.warnings]
    # Sorted by severity, warnings first; a stable sort keeps the sections' order.
    findings.sort(key=lambda f: f.severity != "warning")
    figures_json = json.dumps(figure_specs(sections), separators=(",", ":"), allow_nan=False)
    return template.render(
        title=title,
        version=__version__,
        created=created,
        source_text=source_text,
        facts=list(facts),
        headline=headline,
        confidence=None if confidence is None else f"{confidence:.0%}",
        findings=findings,
        skipped=list(skipped),
        sections=[
            {
                "id": s.id,
                "title": s.title,
                "intro": s.intro,
                "blocks": [_block(b, files) for b in s.blocks],
            }
            for s in sections
        ],
        css=Markup(_asset("report.css")),
        js=Markup(_asset("report.js")),
        # "</" inside a script element would end it early.
        figures_json=Markup(figures_json.replace("</", "<\\/")),
        plotly_gz=Markup(plotly_js_gzip_base64() if inline_plotly else ""),
    )
