"""Write an evaluation to a folder: ``results.json``, ``tables/*.csv``, ``figures/*.png``.

``results.json`` follows the versioned schema in ``afterfit/schemas/results.schema.json``
(documented in ``docs/results-json.md``). Later steps add their own top-level sections
beside ``evaluation`` without changing it. Every file is written atomically.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from afterfit.evaluation.evaluate import Evaluation
from afterfit.io import atomic_write, atomic_write_text

SCHEMA_NAME = "afterfit.results"
#: The version of every document afterfit writes; see docs/results-json.md for the rules.
SCHEMA_VERSION = "1.1"


def document(
    schema: str, sections: dict[str, Any], *, source: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A versioned JSON document: the common header, then ``sections``.

    Every document afterfit writes (``results.json``, ``threshold.json``,
    ``calibration.json``, ``comparison.json``) starts with the same keys: ``schema``,
    ``schema_version``, ``afterfit_version``, ``created`` (UTC) and ``source``.
    """
    from afterfit import __version__

    return {
        "schema": schema,
        "schema_version": SCHEMA_VERSION,
        "afterfit_version": __version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source": source or {},
        **sections,
    }


def results_document(evaluation: Evaluation, *, source: dict[str, Any] | None = None) -> dict:
    """The JSON document of one evaluation (JSON-safe: NaN becomes null)."""
    return document(SCHEMA_NAME, {"evaluation": evaluation.to_dict()}, source=source)


def slug(text: str) -> str:
    """A label as a safe file-name part."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "class"


def write_folder(
    out: str | Path,
    json_name: str,
    doc: dict[str, Any],
    tables: dict[str, Any],
    figures: dict[str, Any],
) -> dict[str, Path]:
    """Write ``json_name``, ``tables/<name>.csv`` and ``figures/<name>.png`` under ``out``,
    each atomically; returns what was written, by relative path."""
    out = Path(out)
    text = json.dumps(doc, indent=2, allow_nan=False)
    written = {json_name: atomic_write_text(out / json_name, text + "\n")}
    for name, frame in tables.items():
        written[f"tables/{name}.csv"] = atomic_write(
            out / "tables" / f"{name}.csv", lambda tmp, f=frame: f.to_csv(tmp, index=False)
        )
    for name, fig in figures.items():
        written[f"figures/{name}.png"] = atomic_write(
            out / "figures" / f"{name}.png",
            lambda tmp, f=fig: f.savefig(tmp, format="png", dpi=120),
        )
    return written


def write_results(
    evaluation: Evaluation,
    out: str | Path,
    *,
    source: dict[str, Any] | None = None,
    figures: bool = True,
) -> dict[str, Path]:
    """Write every artifact of ``evaluation`` under ``out``; returns what was written."""
    tables: dict[str, Any] = {"metrics": evaluation.metrics.frame()}
    if evaluation.metrics.per_class():
        tables["metrics_per_class"] = evaluation.metrics.frame(per_class=True)
    if evaluation.confusion is not None:
        tables["confusion_matrix"] = evaluation.confusion.frame()
    if evaluation.roc is not None:
        tables["roc"] = evaluation.roc.frame()
        tables["pr"] = evaluation.pr.frame()
    for curve in (*evaluation.roc_per_class, *evaluation.pr_per_class):
        tables[f"{curve.kind}_{slug(str(curve.label))}"] = curve.frame()
    if evaluation.calibration is not None:
        tables["calibration"] = evaluation.calibration.frame()
    if evaluation.residuals is not None:
        tables["residuals_sample"] = evaluation.residuals.frame()
    doc = results_document(evaluation, source=source)
    return write_folder(out, "results.json", doc, tables, _figures(evaluation) if figures else {})


def _figures(evaluation: Evaluation) -> dict[str, Any]:
    figs: dict[str, Any] = {"metrics": evaluation.metrics.plot()}
    if evaluation.confusion is not None:
        figs["confusion_matrix"] = evaluation.confusion.plot()
        figs["confusion_matrix_normalized"] = evaluation.confusion.plot(normalize=True)
    if evaluation.roc is not None:
        figs["roc"] = evaluation.roc.plot()
        figs["pr"] = evaluation.pr.plot()
    if evaluation.roc_per_class:
        from afterfit import plots

        figs["roc_ovr"] = plots.plot_curves(evaluation.roc_per_class)
        figs["pr_ovr"] = plots.plot_curves(evaluation.pr_per_class)
    if evaluation.calibration is not None:
        figs["calibration"] = evaluation.calibration.plot()
    if evaluation.residuals is not None:
        figs["residuals"] = evaluation.residuals.plot()
        figs["predicted_vs_actual"] = evaluation.residuals.plot(kind="actual")
    return figs
