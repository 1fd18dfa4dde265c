"""Write an evaluation to a folder: ``results.json``, ``tables/*.csv``, ``figures/*.png``.

The folder must be new, empty or afterfit's own (``--overwrite`` for any other); files
afterfit did not write are never replaced or removed (:mod:`afterfit.outdir`).
``results.json`` follows the versioned schema in ``afterfit/schemas/results.schema.json``
(documented in ``docs/results-json.md``). Later steps add their own top-level sections
beside ``evaluation`` without changing it. Every file is written to a staging folder
first, and published only when all are complete. The document header and the folder
writer every step shares live in :mod:`afterfit.documents`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from afterfit.documents import document, slug, write_folder
from afterfit.evaluation.evaluate import Evaluation

SCHEMA_NAME = "afterfit.results"


def results_document(evaluation: Evaluation, *, source: dict[str, Any] | None = None) -> dict:
    """The JSON document of one evaluation (JSON-safe: NaN becomes null)."""
    return document(SCHEMA_NAME, {"evaluation": evaluation.to_dict()}, source=source)


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
