"""The folder ``afterfit cv`` writes: ``index.html``, ``results.json``, ``tables/*.csv``,
``figures/*.png`` and ``oof.parquet`` (out-of-fold predictions).

Lives in the report package because it writes a page (:func:`afterfit.report.run.write_page`);
the cross-validation itself is :mod:`afterfit.selection.cv`, and reading ``oof.parquet``
back is :mod:`afterfit.selection.cv_files`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from afterfit.documents import document
from afterfit.io import atomic_write
from afterfit.outdir import writing
from afterfit.report.run import write_page
from afterfit.report.sections.cv import cv_section

#: The ``schema`` of the ``results.json`` that ``afterfit cv`` writes.
SCHEMA_NAME = "afterfit.cv"


def oof_table(results: Mapping[str, Any], row_index: Any = None) -> pd.DataFrame:
    """Out-of-fold predictions of every model, one block of rows per model (column
    ``model``), from :meth:`CVResult.oof_frame`."""
    frames = [r.oof_frame(row_index).assign(model=name) for name, r in results.items()]
    out = pd.concat(frames, ignore_index=True)
    return out[["model", *[c for c in out.columns if c != "model"]]]


def write_cv(
    out: str | Path,
    results: Any,
    comparison: Any = None,
    *,
    source: dict[str, Any] | None = None,
    figures: bool = True,
    row_index: Any = None,
    overwrite: bool = False,
) -> list[str]:
    """Write a cross-validation report folder.

    Parameters
    ----------
    out : path
        The folder: new, empty or written by afterfit before, unless ``overwrite``. The
        new files are built beside it and published together; files afterfit did not
        write are kept (:func:`afterfit.outdir.prepare_out`).
    results : CVResult or mapping of name to CVResult
        Ignored when ``comparison`` is given (its ``results`` are used).
    comparison : CVComparison, optional
    source : dict, optional
        Where the model and data came from (the ``source`` header of ``results.json``).
    figures : bool
        Write ``figures/*.png`` too.
    row_index : array-like, optional
        Labels of the rows for ``oof.parquet`` (default 0..n-1).
    overwrite : bool
        Allow a folder holding files afterfit did not write.

    Returns
    -------
    list of str
        Files written, relative to ``out``.
    """
    res = dict(comparison.results) if comparison is not None else (
        dict(results) if isinstance(results, Mapping) else {"model": results}
    )  # fmt: skip
    section = cv_section(res, comparison)
    doc = document(SCHEMA_NAME, {"cv": section.data}, source=source)
    first = next(iter(res.values()))
    facts = [
        ("task", first.task),
        ("rows", f"{first.n_rows:,}"),
        ("folds", f"{first.n_folds} ({first.splitter}, {first.n_repeats} repeat(s))"),
        ("models", ", ".join(res)),
    ]
    table = oof_table(res, row_index)
    with writing(out, command="cv", overwrite=overwrite) as stage:
        written = write_page(stage, [section], doc, title="Cross-validation", facts=facts,
                             confidence=first.confidence, figures=figures)  # fmt: skip
        atomic_write(stage.path / "oof.parquet", lambda tmp: table.to_parquet(tmp, index=False))
    return [*written, "oof.parquet"]
