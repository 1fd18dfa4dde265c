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

import datetime as dt
import json
from pathlib import Path
from typing import Any

from afterfit.compare.results import Comparison
from afterfit.io import atomic_write, atomic_write_text

SCHEMA_NAME = "afterfit.comparison"
SCHEMA_VERSION = "1.0"


def comparison_document(
    comparison: Comparison, *, source: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON document of a comparison (JSON-safe: NaN becomes null)."""
    from afterfit import __version__

    return {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "afterfit_version": __version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source": source or {},
        "comparison": comparison.to_dict(),
    }


def write_comparison(
    comparison: Comparison,
    out: str | Path,
    *,
    source: dict[str, Any] | None = None,
    figures: bool = True,
) -> dict[str, Path]:
    """Write ``comparison.json``, ``tables/comparison.csv`` (one row per pair and metric),
    ``tables/comparison_models.csv`` (each model's metrics) and, with ``figures``,
    ``figures/comparison.png`` (metrics with intervals per model) and
    ``figures/comparison_differences.png`` under ``out``; returns what was written."""
    out = Path(out)
    written: dict[str, Path] = {}
    text = json.dumps(comparison_document(comparison, source=source), indent=2, allow_nan=False)
    written["comparison.json"] = atomic_write_text(out / "comparison.json", text + "\n")
    tables = {"comparison": comparison.frame(), "comparison_models": comparison.models_frame()}
    for name, frame in tables.items():
        written[f"tables/{name}.csv"] = atomic_write(
            out / "tables" / f"{name}.csv", lambda tmp, f=frame: f.to_csv(tmp, index=False)
        )
    if figures:
        figs = {
            "comparison": comparison.plot(),
            "comparison_differences": comparison.plot(kind="differences"),
        }
        for name, fig in figs.items():
            written[f"figures/{name}.png"] = atomic_write(
                out / "figures" / f"{name}.png",
                lambda tmp, f=fig: f.savefig(tmp, format="png", dpi=120),
            )
    return written
