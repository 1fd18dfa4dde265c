"""``afterfit monitor``: drift of the prediction log against the bundle's reference.

::

    afterfit monitor churn-1.0/ --log sqlite:///preds.db --out drift/ \\
                     [--window 1d] [--labels labels.parquet] [--psi-threshold 0.2] [--p-value 0.01]

``--log`` is ``sqlite:///preds.db``, ``postgresql+psycopg://user@host/db``, a Parquet file
or a folder of Parquet files. Writes ``results.json`` (schema ``afterfit.monitor``),
``tables/*.csv`` and ``index.html`` (Drift, Prediction drift and, with labels,
Performance over time) under ``--out``; the folder is built beside ``--out`` and swapped
in whole, so a failed run leaves nothing half-written.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from afterfit.cli._app import (
    OverwriteOpt,
    TrustedTypeOpt,
    TrustOpt,
    app,
    clear_errors,
    err_console,
    out_console,
    progress_bar,
)


def _num(value: float, digits: str = ".3f") -> str:
    return "—" if not math.isfinite(value) else format(value, digits)


@app.command()
def monitor(
    bundle: Annotated[Path, typer.Argument(help="The bundle folder (or .zip) that served.")],
    log: Annotated[
        str,
        typer.Option(
            help="The prediction log: sqlite:///preds.db, postgresql+psycopg://user@host/db, "
            "a Parquet file or a folder of Parquet files."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Folder for index.html, results.json, tables.")] = Path(
        "drift"
    ),
    overwrite: OverwriteOpt = False,
    window: Annotated[
        str | None,
        typer.Option(
            help="Cut the log into windows by time (15min, 1h, 1d, 1w) or rows (1000rows)."
        ),
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option(help="Labels that arrived later (CSV/Parquet): request_id and the label."),
    ] = None,
    label_column: Annotated[
        str | None, typer.Option(help="The label column of --labels (default: label).")
    ] = None,
    psi_threshold: Annotated[
        float, typer.Option(help="PSI at or above which a feature is drifted.")
    ] = 0.2,
    p_value: Annotated[
        float,
        typer.Option(help="Family-wise level of the Holm-adjusted KS / chi-square tests."),
    ] = 0.01,
    min_effect: Annotated[
        float,
        typer.Option(help="Smallest KS D / JS distance a significant test needs to flag."),
    ] = 0.05,
    model_version: Annotated[
        str | None, typer.Option(help="Only the log rows of this model version.")
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="Only rows logged at or after this time (ISO, UTC).")
    ] = None,
    end: Annotated[str | None, typer.Option(help="Only rows logged before this time.")] = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", help="Threads over columns (default: all cores).")
    ] = None,
    trust: TrustOpt = False,
    trusted_type: TrustedTypeOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
) -> None:
    """Drift of logged inputs and predictions against the bundle's reference (PSI, KS,
    Jensen-Shannon, chi-square; Holm across features), over time windows, and performance
    when labels arrived. Writes index.html, results.json and tables/*.csv under --out.
    """
    with clear_errors(quiet=quiet):
        from afterfit.outdir import prepare_out

        prepare_out(out, command="monitor", overwrite=overwrite)
        from afterfit.deploy.drift import DriftThresholds
        from afterfit.deploy.monitor import WindowSpec, monitor_bundle, write_monitor_report

        thresholds = DriftThresholds(psi=psi_threshold, p_value=p_value, min_effect=min_effect)
        spec = None if window is None else WindowSpec.parse(window)
        # Rows scanned: the log's length is unknown until read (filters, databases).
        with progress_bar(0, quiet, "monitor: rows scanned") as progress:
            result = monitor_bundle(
                bundle,
                log,
                window=spec,
                labels=labels,
                label_column=label_column,
                thresholds=thresholds,
                model_version=model_version,
                start=start,
                end=end,
                n_jobs=jobs,
                trust=trust,
                trusted_types=trusted_type or [],
                progress=progress,
            )
        source = {
            "bundle": str(bundle),
            "log": result.source,
            "labels": None if labels is None else str(labels),
        }
        written = write_monitor_report(result, out, source=source, overwrite=overwrite)
        if not quiet:
            _print_summary(result)
            out_console.print(
                f"Wrote {len(written)} files to {out}/ (index.html, results.json, tables/)."
            )


def _print_summary(result: object) -> None:
    from afterfit.deploy.monitor import MonitorResult

    assert isinstance(result, MonitorResult)
    drifted = result.drifted
    title = (
        f"{result.n_rows:,} logged rows · {len(result.features)} features · {len(drifted)} drifted"
    )
    table = Table(title=title, title_justify="left")
    for name in ("feature", "PSI", "KS D / JS", "p (Holm)", "missing", "drifted"):
        table.add_column(name, justify="left" if name == "feature" else "right")
    for c in sorted(
        result.features, key=lambda c: (not c.drifted, -(c.psi if math.isfinite(c.psi) else -1))
    )[:15]:
        table.add_row(
            c.name,
            _num(c.psi),
            _num(c.effect),
            _num(c.p_value_holm, ".2g"),
            _num(c.missing_current, ".1%"),
            "[red]yes[/]" if c.drifted else "",
        )
    out_console.print(table)
    for c in result.predictions:
        flag = " [red]drifted[/]" if c.drifted else ""
        out_console.print(f"prediction {c.name}: PSI {_num(c.psi)}, KS D {_num(c.ks)}{flag}")
    if result.absent:
        err_console.print(
            f"[yellow]warning:[/] not in the log: {', '.join(result.absent)}",
            highlight=False,
            soft_wrap=True,
        )
    if result.performance is not None:
        perf = result.performance
        rows = [r for r in perf.overall.metrics.overall()][:4]
        text = ", ".join(
            f"{r.metric} {_num(r.value)} [{_num(r.ci_low)}, {_num(r.ci_high)}]" for r in rows
        )
        out_console.print(f"performance on {perf.n_labeled:,} labelled rows: {text}")
