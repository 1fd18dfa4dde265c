"""Write a threshold selection to a folder: ``threshold.json``, tables and figures.

``threshold.json`` is its own document (``"schema": "afterfit.threshold"``), beside (not
inside) the ``results.json`` of ``afterfit evaluate``: the two commands may run on
different data, and neither rewrites the other's file (the folder's marker records which
command wrote which file). The files are published together once all are written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from afterfit.documents import document, slug, write_folder

SCHEMA_NAME = "afterfit.threshold"


def threshold_document(
    result: Any, *, source: dict[str, Any] | None = None, operating: Any = None
) -> dict[str, Any]:
    """The JSON document of one selection (JSON-safe: NaN becomes null); ``operating`` (an
    :class:`~afterfit.thresholds.OperatingPoint`) adds the test metrics at the threshold."""
    body: dict[str, Any] = {"threshold": result.to_dict()}
    if operating is not None:
        body["operating_point"] = operating.to_dict()
    return document(SCHEMA_NAME, body, source=source)


def write_threshold_results(
    result: Any,
    out: str | Path,
    *,
    source: dict[str, Any] | None = None,
    figures: bool = True,
    overwrite: bool = False,
    operating: Any = None,
) -> dict[str, Path]:
    """Write ``threshold.json``, ``tables/*.csv`` and ``figures/*.png`` under ``out``.

    Binary: ``tables/threshold_metrics.csv`` (the threshold and every metric at it with
    intervals), ``tables/threshold_curve.csv`` and ``figures/threshold_curve.png``.
    Per-class thresholds: ``tables/thresholds_per_class.csv`` and one curve table per class
    (``threshold_curve_<class>.csv``), one figure of all curves. Multiclass cost decisions:
    ``tables/cost_decision.csv``, ``tables/cost_confusion_matrix.csv`` and its figure.

    ``operating``: the test metrics at the chosen and the default threshold
    (``tables/threshold_operating_point.csv``, ``"operating_point"`` in the JSON).

    ``out`` must be new, empty or written by afterfit before, unless ``overwrite``; files
    afterfit did not write are kept (:func:`afterfit.outdir.prepare_out`).
    """
    from afterfit.thresholds._results import CostDecision, PerClassThresholds

    tables: dict[str, Any] = {}
    figs: dict[str, Any] = {}
    if isinstance(result, CostDecision):
        tables["cost_decision"] = result.frame()
        tables["cost_confusion_matrix"] = result.confusion.frame()
        if figures:
            figs["cost_confusion_matrix"] = result.plot()
    elif isinstance(result, PerClassThresholds):
        tables["thresholds_per_class"] = result.frame()
        for c, sel in zip(result.classes, result.selections, strict=True):
            tables[f"threshold_curve_{slug(str(c))}"] = sel.curve.frame()
        if figures:
            figs["threshold_curves"] = result.plot()
    else:
        tables["threshold_metrics"] = result.frame()
        tables["threshold_curve"] = result.curve.frame()
        if figures:
            figs["threshold_curve"] = result.plot()
    if operating is not None:
        tables["threshold_operating_point"] = operating.frame()
    doc = threshold_document(result, source=source, operating=operating)
    return write_folder(
        out, "threshold.json", doc, tables, figs, command="threshold", overwrite=overwrite
    )
