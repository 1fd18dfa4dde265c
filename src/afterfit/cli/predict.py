"""``afterfit predict``: predict a Parquet or CSV file with a bundle, streaming in chunks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from afterfit.cli._app import app, clear_errors, err_console, out_console, progress_bar
from afterfit.cli._options import BundleArg, OverwriteOpt, QuietOpt, TrustedTypeOpt, TrustOpt


@contextlib.contextmanager
def _rows_progress(total: int | None, quiet: bool) -> Iterator[Any]:
    """Rows predicted so far: a bar on a terminal, plain lines when piped, none if quiet."""
    with progress_bar(total or 0, quiet, "rows") as advance:
        yield advance


@app.command()
def predict(
    bundle: BundleArg,
    data: Annotated[Path, typer.Argument(help="Rows to predict: Parquet or CSV.")],
    out: Annotated[
        Path,
        typer.Option(
            help="Predictions file: .parquet or .csv. An existing file needs --overwrite; "
            "DATA and BUNDLE are never replaced."
        ),
    ],
    chunk_rows: Annotated[
        int, typer.Option(help="Rows read, validated and predicted at a time.")
    ] = 100_000,
    keep: Annotated[
        list[str] | None,
        typer.Option(help="Input column to copy to the output (an id); repeat."),
    ] = None,
    drop: Annotated[
        list[str] | None, typer.Option(help="Input column to ignore (a target); repeat.")
    ] = None,
    trust: TrustOpt = False,
    trusted_type: TrustedTypeOpt = None,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Predict every row of DATA with BUNDLE, streaming in chunks.

    Each chunk is checked against the bundle's input schema. The output (input --keep
    columns, proba_<class> per class and decision; or prediction) is written to a
    temporary file renamed at the end: a bad row stops the run (exit code 2, naming the
    row, counted from 0 without the header) and leaves no output. An existing --out is
    replaced only with --overwrite (checked before any work), and never DATA or BUNDLE.
    """
    with clear_errors(quiet=quiet):
        from afterfit.outdir import prepare_file

        prepare_file(out, overwrite=overwrite, inputs={"DATA": data, "BUNDLE": bundle})
        from afterfit.bundle.core import load_bundle
        from afterfit.serving.batch import count_rows, predict_file

        loaded = load_bundle(bundle, trust=trust, trusted_types=trusted_type or [])
        with _rows_progress(count_rows(data), quiet) as progress:
            summary = predict_file(
                loaded, data, out, chunk_rows=chunk_rows, keep=keep or [], drop=drop or [],
                progress=progress,
            )  # fmt: skip
        if quiet:
            return
        rate = summary.n_rows / summary.seconds if summary.seconds > 0 else float("inf")
        out_console.print(
            f"Predicted {summary.n_rows:,} rows in {summary.n_chunks} chunk(s), "
            f"{summary.seconds:.2f} s ({rate:,.0f} rows/s), with {loaded.name} "
            f"{loaded.version}; wrote {out}.",
            highlight=False,
            soft_wrap=True,
        )
        if summary.decisions:
            shares = ", ".join(
                f"{k}: {v:,} ({v / summary.n_rows:.1%})" for k, v in summary.decisions.items()
            )
            out_console.print(f"Decisions: {shares}.", highlight=False, soft_wrap=True)
        if summary.out_of_range:
            fields = ", ".join(f"{k} ({v:,})" for k, v in summary.out_of_range.items())
            err_console.print(
                f"[yellow]note:[/] values outside the training range (possible drift): {fields}.",
                highlight=False,
                soft_wrap=True,
            )
