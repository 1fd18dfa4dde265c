"""Write an evaluation to a folder: ``results.json``, ``tables/*.csv``, ``figures/*.png``.

The folder must be new, empty or afterfit's own (``--overwrite`` for any other); files
afterfit did not write are never replaced or removed (:mod:`afterfit.outdir`).
``results.json`` follows the versioned schema in ``afterfit/schemas/results.schema.json``
(documented in ``docs/results-json.md``). Later steps add their own top-level sections
beside ``evaluation`` without changing it. Every file is written to a staging folder
first, and published only when all are complete.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from afterfit.evaluation.evaluate import Evaluation
from afterfit.io import atomic_write, atomic_write_text
from afterfit.outdir import Staging, writing

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
    out: str | Path | Staging,
    json_name: str,
    doc: dict[str, Any],
    tables: dict[str, Any],
    figures: dict[str, Any],
    *,
    command: str,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write ``json_name``, ``tables/<name>.csv`` and ``figures/<name>.png`` under ``out``;
    returns what was written, by relative path, with its final location.

    The files are built in a staging folder and published together at the end (see
    :func:`afterfit.outdir.writing`: ``out`` may be the staging folder of a bigger
    writer). ``command`` names the writer in the folder's marker; ``overwrite`` allows a
    folder holding files afterfit did not write, which are kept.
    """
    text = json.dumps(doc, indent=2, allow_nan=False)
    with writing(out, command=command, overwrite=overwrite) as stage:
        folder = stage.path
        atomic_write_text(folder / json_name, text + "\n")
        names = [json_name]
        for name, frame in tables.items():
            atomic_write(
                folder / "tables" / f"{name}.csv", lambda tmp, f=frame: f.to_csv(tmp, index=False)
            )
            names.append(f"tables/{name}.csv")
        for name, fig in figures.items():
            atomic_write(
                folder / "figures" / f"{name}.png",
                lambda tmp, f=fig: f.savefig(tmp, format="png", dpi=120),
            )
            names.append(f"figures/{name}.png")
        return {name: stage.target / name for name in names}


def write_results(
    evaluation: Evaluation,
    out: str | Path,
    *,
    source: dict[str, Any] | None = None,
    figures: bool = True,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write every artifact of ``evaluation`` under ``out``; returns what was written.

    ``out`` must be new, empty or written by afterfit before, unless ``overwrite``; files
    afterfit did not write are kept (:func:`afterfit.outdir.prepare_out`).
    """
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
    figs = _figures(evaluation) if figures else {}
    return write_folder(
        out, "results.json", doc, tables, figs, command="evaluate", overwrite=overwrite
    )


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
