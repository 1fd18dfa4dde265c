"""The files every afterfit writer shares: the versioned JSON document and its folder.

- :func:`document`: the common header of every JSON document afterfit writes
  (``results.json``, ``threshold.json``, ``calibration.json``, ``comparison.json``...):
  ``schema``, ``schema_version`` (:data:`SCHEMA_VERSION`), ``afterfit_version``,
  ``created`` and ``source``, then the sections.
- :func:`write_folder`: one JSON document, ``tables/<name>.csv`` and ``figures/<name>.png``,
  built in a staging folder and published together (:mod:`afterfit.outdir`).
- :func:`slug`: a label as a safe file-name part.

Ground floor: imports only :mod:`afterfit.io`, :mod:`afterfit.outdir` and
:mod:`afterfit._version`, so every step can write its folder without importing the report.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from afterfit._version import __version__
from afterfit.io import atomic_write, atomic_write_text
from afterfit.outdir import Staging, writing

__all__ = ["SCHEMA_VERSION", "document", "slug", "write_folder"]

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
    return {
        "schema": schema,
        "schema_version": SCHEMA_VERSION,
        "afterfit_version": __version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source": source or {},
        **sections,
    }


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
