"""The folder ``afterfit monitor`` writes: ``results.json``, ``tables/*.csv`` and
``index.html`` with a Drift section.

Lives in the report package because it writes a page (:func:`afterfit.report.run.write_page`);
the monitoring itself is :mod:`afterfit.monitoring`, which never imports the report.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from afterfit.monitoring.results import MonitorResult

__all__ = ["write_monitor_report"]


def write_monitor_report(
    result: MonitorResult,
    out: str | os.PathLike[str],
    *,
    source: dict[str, Any] | None = None,
    figures: bool = False,
    overwrite: bool = False,
) -> list[str]:
    """Write ``results.json``, ``tables/*.csv`` and ``index.html`` (a Drift section) to
    ``out``: built beside it and published when complete, so nothing is half-written.
    ``out`` must be new, empty or written by afterfit before, unless ``overwrite``; files
    afterfit did not write are kept (:func:`afterfit.outdir.prepare_out`).

    Returns the files written, relative to ``out``.
    """
    from afterfit.report.files import document
    from afterfit.report.run import write_page
    from afterfit.report.sections.drift import drift_sections

    sections = drift_sections(result)
    doc = document("afterfit.monitor", {"monitor": result.to_dict()}, source=source or {})
    model = result.model
    facts = [("log", result.source), ("rows", f"{result.n_rows:,}")]
    if model.get("name"):
        facts.insert(0, ("model", f"{model.get('name')} {model.get('version') or ''}".strip()))
    if math.isfinite(result.ts_min):
        first = pd.Timestamp(result.ts_min, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M")
        last = pd.Timestamp(result.ts_max, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M")
        facts.append(("logged", f"{first} to {last} UTC"))
    if result.window is not None:
        facts.append(("window", result.window.text))
    facts.append(("reference rows", f"{result.reference.n_rows:,}"))
    return write_page(
        out, sections, doc, title="Drift monitoring", facts=facts, figures=figures,
        overwrite=overwrite, command="monitor",
    )  # fmt: skip
