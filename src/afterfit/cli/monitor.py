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

from afterfit.cli._app import app, clear_errors, err_console, out_console, progress_bar
from afterfit.cli._options import (
    OverwriteOpt,
    QuietOpt,
    SchedulerOpt,
    TrustedTypeOpt,
    TrustOpt,
    out_folder,
)
from afterfit.cli._streaming import BackendOpt, backend_name

OutOpt = out_folder("index.html, results.json, tables")


def _num(value: float, digits: str = ".3f") -> str:
    return "—" if not math.isfinite(value) else format(value, digits)


@app.command()
def monitor(
    bundle: Annotated[Path, typer.Argument(help="The bundle folder (or .zip) that served.")],
    log: Annotated[
        str,
        typer.Option(
            help="The prediction log: sqlite:///preds.db, postgresql+psycopg://user@host/db, "
            "a Parquet file, or a folder or glob ('logs/*.parquet') of Parquet files."
        ),
    ],
    out: OutOpt = Path("drift"),
    overwrite: OverwriteOpt = False,
    window: Annotated[
        str | None,
        typer.Option(
            help="Cut the log into windows by time (15min, 1h, 1d, 1w) or rows (1000rows)."
        ),
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            help="Labels that arrived later (CSV/Parquet): request_id, the label, and for "
            "requests of several rows each row's position in it (row, 0 first)."
        ),
    ] = None,
    label_column: Annotated[
        str | None, typer.Option(help="The label column of --labels (default: label).")
    ] = None,
    psi_threshold: Annotated[
        float,
        typer.Option(
            help="PSI at or above which a significant change (Holm-adjusted test) counts as drift."
        ),
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
        str | None,
        typer.Option(
            help="Only the log rows of this model version (default: the bundle's version; "
            "'*' for every version)."
        ),
    ] = None,
    estimate: Annotated[
        bool,
        typer.Option(
            "--estimate/--no-estimate",
            help="Estimated performance without labels (CBPE) per window, for classifiers "
            "with calibrated probabilities.",
        ),
    ] = True,
    assume_calibrated: Annotated[
        bool,
        typer.Option(
            help="The model's probabilities are calibrated although the bundle has no "
            "calibration map (CBPE trusts them)."
        ),
    ] = False,
    multivariate: Annotated[
        bool,
        typer.Option(
            help="Multivariate drift: a cross-fitted domain classifier (AUC, DeLong "
            "interval, the features that drive it)."
        ),
    ] = False,
    reference_data: Annotated[
        Path | None,
        typer.Option(
            help="Reference rows for --multivariate (the training or validation table; "
            "default: the log's first window)."
        ),
    ] = None,
    fail_on: Annotated[
        str | None,
        typer.Option(
            help="Exit 1 when these occur (comma-separated): drift (a Holm-adjusted "
            "feature or multivariate flag), performance (an estimated metric below the "
            "reference's estimate by more than --performance-margin)."
        ),
    ] = None,
    performance_margin: Annotated[
        float,
        typer.Option(help="Drop of the estimated metric that --fail-on performance allows."),
    ] = 0.05,
    alert_metric: Annotated[
        str | None,
        typer.Option(
            help="Metric --fail-on performance reads (default: roc_auc; multiclass accuracy)."
        ),
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
    backend: BackendOpt = None,
    scheduler: SchedulerOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Drift of logged inputs and predictions against the bundle's reference (PSI, KS,
    Jensen-Shannon, chi-square; Holm across features), over time windows, and performance
    when labels arrived. Writes index.html, results.json and tables/*.csv under --out.
    """
    with clear_errors(quiet=quiet):
        fail = _parse_fail_on(fail_on)
        if not (math.isfinite(performance_margin) and performance_margin >= 0):
            from afterfit.errors import InvalidInputError

            raise InvalidInputError(
                f"--performance-margin must be a non-negative number; got {performance_margin}.",
                fix="pass --performance-margin 0.05.",
            )
        from afterfit.outdir import prepare_out

        prepare_out(out, command="monitor", overwrite=overwrite)
        from afterfit.bundle.drift import DriftThresholds
        from afterfit.monitoring.core import monitor_bundle
        from afterfit.monitoring.windows import WindowSpec
        from afterfit.report.monitor_folder import write_monitor_report

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
                estimate=estimate,
                assume_calibrated=assume_calibrated,
                multivariate=multivariate,
                reference_data=reference_data,
                progress=progress,
                # A Parquet log's partitions on a Dask cluster: the same counts, merged.
                backend=backend_name(backend, scheduler),
                scheduler=scheduler,
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
        alerts = _alerts(result, fail, performance_margin, alert_metric)
    if alerts:
        for text in alerts:
            err_console.print(f"[red]alert:[/] {text}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)


_FAIL_ON = ("drift", "performance")


def _parse_fail_on(text: str | None) -> set[str]:
    if text is None:
        return set()
    items = {t.strip().lower() for t in text.split(",") if t.strip()}
    bad = sorted(items - set(_FAIL_ON))
    if bad or not items:
        from afterfit.errors import InvalidInputError

        raise InvalidInputError(
            f"--fail-on takes drift and/or performance; got {text!r}.",
            fix="pass --fail-on drift,performance (or one of them).",
        )
    return items


def _alerts(result: object, fail: set[str], margin: float, metric: str | None) -> list[str]:
    """What --fail-on finds: each a line for the log of cron or CI."""
    from afterfit.monitoring.estimates import ALERT_METRIC, performance_drops

    out = []
    if "drift" in fail:
        drifted = result.drifted  # type: ignore[attr-defined]
        if drifted:
            out.append(
                f"drift in {len(drifted)} features (Holm-adjusted): {', '.join(drifted[:10])}"
            )
        windows = [w for w in result.windows if any(c.drifted for c in w.features)]  # type: ignore[attr-defined]
        if windows and not drifted:
            out.append(f"drift in {len(windows)} windows (Holm within each window)")
        mv = result.multivariate  # type: ignore[attr-defined]
        if mv is not None and mv.drifted:
            out.append(
                "multivariate drift (domain classifier, Holm across tests) in: "
                + ", ".join(mv.flagged)
            )
    if "performance" in fail:
        est = result.estimated  # type: ignore[attr-defined]
        if est is None or est.overall is None:
            note = "; ".join(est.notes) if est is not None else "no estimate was made"
            out.append(f"--fail-on performance cannot be checked: {note}")
        else:
            name = metric or ALERT_METRIC.get(est.task, "accuracy")
            if name not in est.overall.estimated:
                from afterfit.errors import InvalidInputError

                raise InvalidInputError(
                    f"--alert-metric {name!r} is not estimated; the estimates are "
                    f"{', '.join(est.overall.estimated)}.",
                    fix="pass one of those to --alert-metric.",
                )
            if not est.baseline.get(name):
                out.append(f"--fail-on performance cannot be checked: no baseline for {name}")
            for label in performance_drops(est, metric=name, margin=margin):
                value = (est.overall if label == "all" else dict(est.windows)[label]).estimated[
                    name
                ]
                out.append(
                    f"estimated {name} {value:.3f} in {label} is below the reference's "
                    f"{est.baseline[name]:.3f} by more than {margin:g}"
                )
    return out


def _print_summary(result: object) -> None:
    from afterfit.monitoring.results import MonitorResult

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
    _print_estimates(result)


def _print_estimates(result: object) -> None:
    est = result.estimated  # type: ignore[attr-defined]
    if est is not None:
        for note in est.notes:
            out_console.print(f"note: {note}", highlight=False, soft_wrap=True)
        if est.overall is not None:
            table = Table(title="Estimated performance (CBPE, no labels needed)",
                          title_justify="left")  # fmt: skip
            for name in ("window", "rows", "metric", "estimated", "interval", "realised",
                         "baseline"):  # fmt: skip
                table.add_column(name, justify="left" if name in ("window", "metric") else "right")
            parts = [("all", est.overall), *est.windows]
            for label, e in parts[:13]:
                for r in e.rows():
                    lo, hi = r["low"], r["high"]
                    base = est.baseline.get(r["metric"])
                    table.add_row(
                        label, f"{e.n_rows:,}", r["metric"],
                        "—" if r["estimated"] is None else f"{r['estimated']:.3f}",
                        "—" if lo is None or hi is None else f"[{lo:.3f}, {hi:.3f}]",
                        "—" if r["realised"] is None else f"{r['realised']:.3f}",
                        "—" if base is None or not math.isfinite(base) else f"{base:.3f}",
                    )  # fmt: skip
            out_console.print(table)
    mv = result.multivariate  # type: ignore[attr-defined]
    if mv is not None:
        for note in mv.notes:
            out_console.print(f"note: {note}", highlight=False, soft_wrap=True)
        parts = [("all", mv.overall, ""), *mv.windows]
        for label, r, note in parts[:13]:
            if r is None:
                if note:
                    out_console.print(f"multivariate {label}: {note}", highlight=False)
                continue
            flag = " [red]drifted[/]" if label in mv.flagged else ""
            out_console.print(
                f"multivariate {label}: AUC {r.auc:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}], "
                f"p {r.p_value:.2g}, {r.n_used_reference:,}+{r.n_used_current:,} rows"
                + (f", driven by {', '.join(r.top_features)}" if flag and r.top_features else "")
                + flag,
                highlight=False, soft_wrap=True,
            )  # fmt: skip
