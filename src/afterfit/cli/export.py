"""``afterfit export``: a model to ONNX, checked against the original on real rows.

::

    afterfit export --model model.skops --data valid.parquet --target y --out model.onnx \\
                    [--prefer onnx|skops] [--tolerance 1e-5] [--trust] [--overwrite]

Prints the parity table (rows, max abs diff, label agreement, pass/fail) and writes the
model (``model.onnx``, or ``model.skops`` beside it when ONNX is not possible, saying why)
and ``<out>.parity.json``, each atomically; nothing is written on bad input. An existing
file is replaced only with ``--overwrite``, and an input file never
(:func:`afterfit.outdir.prepare_file`): ``--out`` and ``<out>.parity.json`` are checked
before any work, the skops fallback when ONNX turns out impossible.
"""

from __future__ import annotations

import json
import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from afterfit.cli._app import app, clear_errors, err_console, out_console, stage_progress
from afterfit.cli._options import (
    DataOpt,
    DropOpt,
    ModelOpt,
    OverwriteOpt,
    QuietOpt,
    TrustedTypeOpt,
    TrustOpt,
)
from afterfit.errors import InvalidInputError


class PreferOption(StrEnum):
    onnx = "onnx"
    skops = "skops"


def _missing(value: object) -> bool:
    # pandas turns a None in a column of numbers into NaN: both mean "not measured".
    return value is None or (isinstance(value, float) and math.isnan(value))


def _cell(value: object, digits: str = ".3g") -> str:
    if _missing(value):
        return "—"
    if isinstance(value, bool):
        return "[green]pass[/]" if value else "[red]fail[/]"
    if isinstance(value, float):
        return format(value, digits)
    return str(value)


def _count(value: object) -> str:
    """A row count as an integer with separators (pandas may hold it as a float)."""
    return "—" if _missing(value) else f"{int(value):,}"  # type: ignore[call-overload]


def _print_table(result: object) -> None:
    frame = result.frame()  # type: ignore[attr-defined]
    table = Table(title="Parity on real rows", title_justify="left")
    for name in ("file", "rows", "max abs diff", "label agreement", "result", "note"):
        table.add_column(name, justify="left" if name in ("file", "note") else "right")
    for rec in frame.to_dict("records"):
        agreement = rec["label_agreement"]
        table.add_row(
            str(rec["file"]),
            _count(rec["rows"]),
            _cell(rec["max_abs_diff"]),
            "—" if _missing(agreement) else f"{agreement:.2%}",
            _cell(bool(rec["passed"])) if not _missing(rec["rows"]) else "[red]fail[/]",
            str(rec["note"] or ""),
        )
    out_console.print(table)


@app.command("export")
def export(
    target: Annotated[str, typer.Option(help="Name of the target column (left out).")],
    out: Annotated[
        Path,
        typer.Option(
            help="The file to write: model.onnx (a skops fallback goes beside it as "
            "model.skops), or model.skops for skops only. An existing file needs "
            "--overwrite; an input file is never replaced."
        ),
    ],
    model: ModelOpt = None,
    data: DataOpt = None,
    prefer: Annotated[
        PreferOption, typer.Option(help="onnx (with a skops fallback) or skops only.")
    ] = PreferOption.onnx,
    tolerance: Annotated[
        float, typer.Option(help="Largest acceptable difference of probabilities.")
    ] = 1e-5,
    opset: Annotated[
        int | None, typer.Option(help="ONNX opset (default: the newest supported).")
    ] = None,
    max_rows: Annotated[
        int, typer.Option(help="Rows of --data the parity check runs on (a seeded subset).")
    ] = 100_000,
    drop: DropOpt = None,
    trust: TrustOpt = False,
    trusted_type: TrustedTypeOpt = None,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Export a model to ONNX and check it against the original on real rows (maximum
    probability difference and label agreement); a model ONNX cannot hold is written
    with skops instead, and the output says why.

    Writes --out (or the .skops file beside it) and <out>.parity.json; an existing file
    is replaced only with --overwrite, and never --model or --data.
    """
    with clear_errors(quiet=quiet):
        if model is None or data is None:
            raise InvalidInputError(
                "afterfit export needs --model and --data (real rows for the parity check).",
                fix="pass --model model.skops --data valid.parquet --target y --out model.onnx.",
            )
        if out.suffix.lower() not in (".onnx", ".skops"):
            raise InvalidInputError(
                f"--out must end in .onnx or .skops; received '{out}'.",
                fix="pass --out model.onnx (a skops fallback is written as model.skops).",
            )
        if not tolerance >= 0:
            raise InvalidInputError(
                f"--tolerance must be a non-negative number; received {tolerance}.",
                fix="pass --tolerance 1e-5, or a looser bound such as 1e-4.",
            )
        if max_rows < 1:
            raise InvalidInputError(
                f"--max-rows must be at least 1; received {max_rows}.",
                fix="pass --max-rows 100000 or another positive number.",
            )
        from afterfit.data import check_features, load_dataset
        from afterfit.exporters.core import export_document, export_model
        from afterfit.io import atomic_write_text
        from afterfit.models import load_model
        from afterfit.outdir import prepare_file

        # Every file this run surely writes is checked before any work (the skops
        # fallback, written only when ONNX is impossible, by export_model when it is).
        inputs = {"--model": model, "--data": data}
        written = out.with_suffix(".skops") if prefer == PreferOption.skops else out
        parity_path = out.with_name(out.name + ".parity.json")
        prepare_file(written, overwrite=overwrite, inputs=inputs)
        prepare_file(parity_path, overwrite=overwrite, inputs=inputs, option="The parity file")

        loaded = load_model(model, trust=trust, trusted_types=trusted_type or [])
        ds = load_dataset(data, target=target, drop=drop or [])
        X = check_features(ds.X, loaded)  # mismatched features stop here, exit 2
        with stage_progress(quiet, cumulative=True, prefix="export: ") as progress:
            result = export_model(
                loaded, X, path=out, prefer=prefer.value, target_opset=opset,
                tolerance=tolerance, max_rows=max_rows, progress=progress,
                overwrite=overwrite, inputs=inputs,
            )  # fmt: skip
        source = {"model": str(model), "data": str(data), "target": target}
        doc = export_document(result, source=source)
        atomic_write_text(parity_path, json.dumps(doc, indent=2, allow_nan=False) + "\n")
        if not quiet:
            _print_table(result)
            if result.fell_back:
                err_console.print(
                    f"[yellow]fell back to skops:[/] {result.reason}.",
                    highlight=False, soft_wrap=True,
                )  # fmt: skip
            from afterfit.models.loading import types_needing_trust

            needed = types_needing_trust(result.trusted_types)
            if result.format == "skops" and needed:
                err_console.print(
                    "[dim]note:[/] loading it needs --trusted-type "
                    + " --trusted-type ".join(needed),
                    highlight=False, soft_wrap=True,
                )  # fmt: skip
            what = (
                f"ONNX ({result.converter}, {result.precision} inputs"
                + (f", opset {result.opset})" if result.opset is not None else ")")
                if result.format == "onnx"
                else "skops"
            )
            out_console.print(f"Wrote {result.path} ({what}) and {parity_path}.")
