"""Write a comparison to a folder: ``comparison.json``, ``tables/*.csv``, ``figures/*.png``.

``comparison.json``::

    {
      "schema": "afterfit.comparison",
      "schema_version": "1.0",
      "afterfit_version": "0.1.0",
      "created": "2026-11-22T00:57:46+00:00",
      "source": {...},                      # the files compared (CLI) or {}
      "comparison": {
        "task", "n_rows", "weighted", "classes", "positive_label",
        "thresholds": {model: threshold} or null,
        "models": [names],
        "settings": {"metrics", "tests", "family", "alpha", "confidence", "n_resamples",
                     "bootstrap_method", "stratify", "random_state", "baseline", "beta"},
        "model_metrics": [{"model", "metric", "value", "ci_low", "ci_high", "method"}],
        "comparisons": [{"model_a", "model_b", "metric", "value_a", "value_b",
                         "difference", "ci_low", "ci_high", "p_value", "p_holm", "test",
                         "ci_method", "statistic", "higher_is_better", "better", "verdict",
                         "sentence", "details"}],
        "verdicts": [sentences]
      }
    }

``difference`` and its interval are ``value_b - value_a``; NaN is written as null. Every
file is written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from afterfit.comparison.results import Comparison
from afterfit.documents import document, write_folder

SCHEMA_NAME = "afterfit.comparison"


def comparison_document(
    comparison: Comparison, *, source: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON document of a comparison (JSON-safe: NaN becomes null)."""
    return document(SCHEMA_NAME, {"comparison": comparison.to_dict()}, source=source)


def write_comparison(
    comparison: Comparison,
    out: str | Path,
    *,
    source: dict[str, Any] | None = None,
    figures: bool = True,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write ``comparison.json``, ``tables/comparison.csv`` (one row per pair and metric),
    ``tables/comparison_models.csv`` (each model's metrics) and, with ``figures``,
    ``figures/comparison.png`` (metrics with intervals per model) and
    ``figures/comparison_differences.png`` under ``out``; returns what was written.

    ``out`` must be new, empty or written by afterfit before, unless ``overwrite``; files
    afterfit did not write are kept (:func:`afterfit.outdir.prepare_out`).
    """
    tables = {"comparison": comparison.frame(), "comparison_models": comparison.models_frame()}
    figs = (
        {
            "comparison": comparison.plot(),
            "comparison_differences": comparison.plot(kind="differences"),
        }
        if figures
        else {}
    )
    doc = comparison_document(comparison, source=source)
    return write_folder(
        out, "comparison.json", doc, tables, figs, command="compare", overwrite=overwrite
    )
