"""What a report is made of: sections of figures, tables and notes.

Every step (evaluation, thresholds, calibration, comparison, explanations, ...) turns its
result into one :class:`Section` with a builder function in :mod:`afterfit.report.sections`.
The page, ``results.json``, ``tables/*.csv`` and ``figures/*.png`` are all written from the
same list of sections, so a new step adds a section without touching the others:

- a :class:`Figure` is drawn with Plotly on the page and, if it has ``png``, saved as
  ``figures/<id>.png`` through matplotlib;
- a :class:`Table` is shown on the page (first ``max_rows`` rows; readable without
  JavaScript) and saved whole as ``tables/<id>.csv``;
- a :class:`Note` is a paragraph of text;
- ``Section.data`` is the section's part of ``results.json`` (JSON-safe);
- ``Section.headline`` and ``Section.warnings`` feed the summary at the top of the page.

Ids are file-name safe and unique across the page (builders prefix them with the section
id). Figure specs are plain Plotly JSON (``{"data": [...], "layout": {...}}``); builders keep
them small (curves reduced, scatter plots sampled, saying so in the caption).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

Severity = Literal["info", "warning"]


@dataclass(frozen=True)
class Figure:
    """An interactive Plotly figure; ``png`` draws the same picture with matplotlib."""

    id: str
    title: str
    spec: dict[str, Any]
    caption: str = ""
    png: Callable[[], Any] | None = None


@dataclass(frozen=True)
class Table:
    """A table: the page shows its first ``max_rows`` rows, the CSV holds all of them."""

    id: str
    title: str
    frame: pd.DataFrame
    caption: str = ""
    max_rows: int = 30
    csv: bool = True


@dataclass(frozen=True)
class Note:
    """A paragraph of plain text (escaped on the page)."""

    text: str


Block = Figure | Table | Note


@dataclass(frozen=True)
class Finding:
    """A finding the summary puts first: class imbalance, leakage suspects, and so on."""

    text: str
    severity: Severity = "warning"
    section: str = ""
    #: What the finding fired on (the check and its figures), for results.json.
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Headline:
    """One number of the summary: a metric with its interval."""

    name: str
    value: float
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass(frozen=True)
class Section:
    """One step's part of the report."""

    id: str
    title: str
    blocks: tuple[Block, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    intro: str = ""
    headline: tuple[Headline, ...] = ()
    warnings: tuple[Finding, ...] = ()

    def figures(self) -> tuple[Figure, ...]:
        return tuple(b for b in self.blocks if isinstance(b, Figure))

    def tables(self) -> tuple[Table, ...]:
        return tuple(b for b in self.blocks if isinstance(b, Table))
