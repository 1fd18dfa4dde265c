"""Write a threshold selection to a folder: ``threshold.json``, tables and figures.

``threshold.json`` is its own document (``"schema": "afterfit.threshold"``), beside (not
inside) the ``results.json`` of ``afterfit evaluate``: the two commands may run on
different data, and neither rewrites the other's file. Every file is written atomically.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from afterfit.io import atomic_write, atomic_write_text

SCHEMA_NAME = "afterfit.threshold"
SCHEMA_VERSION = "1.0"


def threshold_document(result: Any, *, source: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document of one selection (JSON-safe: NaN becomes null)."""
    from afterfit import __version__

    return {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "afterfit_version": __version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source": source or {},
        "threshold": result.to_dict(),
    }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "class"


def write_threshold_results(
    result: Any,
    out: str | Path,
    *,
    source: dict[str, Any] | None = None,
    figures: bool = True,
) -> dict[str, Path]:
    """Write ``threshold.json``, ``tables/*.csv`` and ``figures/*.png`` under ``out``.

    Binary: ``tables/threshold_metrics.csv`` (the threshold and every metric at it with
    intervals), ``tables/threshold_curve.csv`` and ``figures/threshold_curve.png``.
    Per-class thresholds: ``tables/thresholds_per_class.csv`` and one curve table per class
    (``threshold_curve_<class>.csv``), one figure of all curves. Multiclass cost decisions:
    ``tables/cost_decision.csv``, ``tables/cost_confusion_matrix.csv`` and its figure.
    """
    from afterfit.thresholds._results import CostDecision, PerClassThresholds

    out = Path(out)
    written: dict[str, Path] = {}
    text = json.dumps(threshold_document(result, source=source), indent=2, allow_nan=False)
    written["threshold.json"] = atomic_write_text(out / "threshold.json", text + "\n")
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
            tables[f"threshold_curve_{_slug(str(c))}"] = sel.curve.frame()
        if figures:
            figs["threshold_curves"] = result.plot()
    else:
        tables["threshold_metrics"] = result.frame()
        tables["threshold_curve"] = result.curve.frame()
        if figures:
            figs["threshold_curve"] = result.plot()
    for name, frame in tables.items():
        written[f"tables/{name}.csv"] = atomic_write(
            out / "tables" / f"{name}.csv", lambda tmp, f=frame: f.to_csv(tmp, index=False)
        )
    for name, fig in figs.items():
        written[f"figures/{name}.png"] = atomic_write(
            out / "figures" / f"{name}.png",
            lambda tmp, f=fig: f.savefig(tmp, format="png", dpi=120),
        )
    return written
