"""Write calibration results to a folder: ``calibration.json``, tables and figures.

Every file is written atomically (:func:`afterfit.io.atomic_write`). Names start with
``calibration`` so the files sit beside those of ``afterfit evaluate`` in one folder.

``calibration.json``::

    schema            "afterfit.calibration"
    schema_version    "1.0"
    afterfit_version, created (UTC, ISO 8601)
    source            where the inputs came from (model, data, calibration_data, target)
    calibrator        null, or the fitted map: method, estimator, response_method, classes,
                      n_calibration_rows, and "maps" (sigmoid: class, slope, intercept;
                      isotonic: class, n_points) or "temperature"
    saved_model       null, or the path the calibrated model was saved to
    notes             remarks (a list of strings; empty in most runs)
    model             null (a model without probabilities), or the calibration report of
                      the model as given, on the held-out data: task, n_rows, classes,
                      positive_label, weighted, settings (n_bins, strategy, n_resamples,
                      confidence, bootstrap_method, random_state),
                      metrics (list of {metric, class, value, ci_low, ci_high, method}),
                      reliability ({kind, label, strategy, edges, mean_predicted,
                      fraction_positive, weight, ci_low, ci_high, confidence, ece, mce}),
                      reliability_per_class (multiclass, one-vs-rest), brier_decomposition
                      ({label, strategy, n_bins, components: {brier, reliability,
                      resolution, uncertainty, brier_binned, residual, within_bin_variance,
                      within_bin_covariance}, identity}) and brier_decomposition_per_class
    calibrated        null, or the same report for the calibrated model
    comparison        null, or {task, n_rows, classes, names, settings, metrics: list of
                      {metric, before, after, difference} (each {value, ci_low, ci_high,
                      method}; difference = after - before, paired bootstrap),
                      reliability_before, reliability_after}

Tables: ``tables/calibration_metrics.csv`` (``model, class, metric, value, ci_low, ci_high,
method``), ``tables/calibration_reliability.csv`` (one row per non-empty bin of every
curve), ``tables/calibration_brier_decomposition.csv`` and, after calibration,
``tables/calibration_comparison.csv``. Figures: ``figures/calibration_reliability.png``,
``figures/calibration_brier_decomposition.png``, multiclass
``figures/calibration_reliability_per_class.png``; the same with the suffix
``_calibrated`` for the calibrated model, and ``figures/calibration_before_after.png``
(both reliability curves on one set of axes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from afterfit.calibration.results import CalibrationComparison, CalibrationReport
from afterfit.documents import document, write_folder

__all__ = ["SCHEMA_NAME", "calibration_document", "write_calibration"]

SCHEMA_NAME = "afterfit.calibration"


def calibration_document(
    report: CalibrationReport | None,
    *,
    calibrated: CalibrationReport | None = None,
    comparison: CalibrationComparison | None = None,
    calibrator: dict[str, Any] | None = None,
    saved_model: str | None = None,
    source: dict[str, Any] | None = None,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """The JSON document (JSON-safe: NaN becomes null); keys in the module docstring."""
    sections = {
        "calibrator": calibrator,
        "saved_model": saved_model,
        "notes": list(notes or []),
        "model": None if report is None else report.to_dict(),
        "calibrated": None if calibrated is None else calibrated.to_dict(),
        "comparison": None if comparison is None else comparison.to_dict(),
    }
    return document(SCHEMA_NAME, sections, source=source)


def _reports(report: CalibrationReport | None, calibrated: CalibrationReport | None):
    if report is not None:
        yield "model", report
    if calibrated is not None:
        yield "calibrated", calibrated


def _tables(
    report: CalibrationReport | None,
    calibrated: CalibrationReport | None,
    comparison: CalibrationComparison | None,
) -> dict[str, pd.DataFrame]:
    metrics, curves, parts = [], [], []
    for name, r in _reports(report, calibrated):
        frame = r.metrics.frame(per_class=False)
        frame.insert(0, "class", None)
        if r.task == "multiclass":
            frame = pd.concat([frame, r.metrics.frame(per_class=True)], ignore_index=True)
        frame.insert(0, "model", name)
        metrics.append(frame)
        for curve in (r.reliability, *r.reliability_per_class):
            c = curve.frame()
            c.insert(0, "label", curve.label)
            c.insert(0, "kind", curve.kind)
            c.insert(0, "model", name)
            curves.append(c)
        for dec in (r.decomposition, *r.decomposition_per_class):
            d = dec.frame()
            d.insert(0, "class", dec.label)
            d.insert(0, "model", name)
            parts.append(d)
    tables = {
        "calibration_metrics": pd.concat(metrics, ignore_index=True),
        "calibration_reliability": pd.concat(curves, ignore_index=True),
        "calibration_brier_decomposition": pd.concat(parts, ignore_index=True),
    }
    if comparison is not None:
        tables["calibration_comparison"] = comparison.frame()
    return tables


def _figures(
    report: CalibrationReport | None,
    calibrated: CalibrationReport | None,
    comparison: CalibrationComparison | None,
) -> dict[str, Any]:
    figs: dict[str, Any] = {}
    for name, r in _reports(report, calibrated):
        suffix = "" if name == "model" else "_calibrated"
        figs[f"calibration_reliability{suffix}"] = r.plot()
        figs[f"calibration_brier_decomposition{suffix}"] = r.plot("decomposition")
        if r.reliability_per_class:
            figs[f"calibration_reliability_per_class{suffix}"] = r.plot("per_class")
    if comparison is not None:
        figs["calibration_before_after"] = comparison.plot()
    return figs


def write_calibration(
    out: str | Path,
    report: CalibrationReport | None,
    *,
    calibrated: CalibrationReport | None = None,
    comparison: CalibrationComparison | None = None,
    calibrator: dict[str, Any] | None = None,
    saved_model: str | None = None,
    source: dict[str, Any] | None = None,
    notes: list[str] | None = None,
    figures: bool = True,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write ``calibration.json``, ``tables/calibration_*.csv`` and
    ``figures/calibration_*.png`` under ``out``; returns what was written.

    Parameters
    ----------
    out : path
        The folder (created if needed).
    report : CalibrationReport or None
        The model as given, on held-out data (None when it gives no probabilities).
    calibrated, comparison : optional
        The calibrated model's report, and the before/after comparison.
    calibrator : dict, optional
        :meth:`CalibratedModel.summary` of the fitted map.
    saved_model : str, optional
        Where the calibrated model was saved.
    source : dict, optional
        Where the inputs came from.
    notes : list of str, optional
        Remarks for the reader, written as ``notes``.
    figures : bool
        Write the PNG figures.
    overwrite : bool
        Allow a folder holding files afterfit did not write (they are kept); without it,
        ``out`` must be new, empty or written by afterfit before.
    """
    if report is None and calibrated is None:
        raise ValueError("write_calibration needs a report or a calibrated report")
    doc = calibration_document(
        report, calibrated=calibrated, comparison=comparison, calibrator=calibrator,
        saved_model=saved_model, source=source, notes=notes,
    )  # fmt: skip
    tables = _tables(report, calibrated, comparison)
    figs = _figures(report, calibrated, comparison) if figures else {}
    return write_folder(
        out, "calibration.json", doc, tables, figs, command="calibrate", overwrite=overwrite
    )
