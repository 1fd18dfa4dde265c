"""``afterfit evaluate``: every metric with a confidence interval, tables and figures."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from afterfit.cli._app import app, clear_errors, fmt, out_console, progress_bar
from afterfit.cli._inputs import load_predictions, parse_classes
from afterfit.cli._options import (
    BootstrapMethod,
    BootstrapMethodOpt,
    CIOption,
    ClassesOpt,
    ConfidenceOpt,
    DataOpt,
    DropOpt,
    FiguresOpt,
    ModelNameOpt,
    ModelOpt,
    NResamplesOpt,
    OverwriteOpt,
    PosLabelOpt,
    QuietOpt,
    SchedulerOpt,
    ScoreKind,
    ScoreKindOpt,
    SeedOpt,
    StratifyOpt,
    TargetOpt,
    TaskOpt,
    ThresholdOpt,
    TrustedTypeOpt,
    TrustOpt,
    WeightOpt,
    out_folder,
)
from afterfit.cli._streaming import BackendOpt, backend_name, is_partitioned

OutOpt = out_folder("results.json, tables and figures")


def _print_table(evaluation: Any) -> None:
    p = evaluation.predictions
    title = f"{p.task} · {p.n:,} rows"
    if p.task == "binary":
        title += f" · positive class '{p.positive_label}' · threshold {p.threshold:g}"
    conf = f"{evaluation.settings.confidence:.0%} CI"
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column(conf, justify="right")
    table.add_column("method")
    for row in evaluation.metrics.overall():
        interval = f"[{fmt(row.ci_low)}, {fmt(row.ci_high)}]" if math.isfinite(row.ci_low) else ""
        table.add_row(row.metric, fmt(row.value), interval, row.method)
    out_console.print(table)


@app.command()
def evaluate(
    target: TargetOpt,
    model: ModelOpt = None,
    data: DataOpt = None,
    predictions: Annotated[
        Path | None,
        typer.Option(
            help="Saved predictions (CSV or Parquet) to evaluate without a model; a folder "
            "or glob of Parquet files is streamed (docs/large-data.md)."
        ),
    ] = None,
    model_name: ModelNameOpt = None,
    score: Annotated[
        list[str] | None,
        typer.Option(
            help="With --predictions: the score column (binary: positive-class score; "
            "regression: prediction). Repeat once per class for multiclass."
        ),
    ] = None,
    score_kind: ScoreKindOpt = ScoreKind.auto,
    classes: ClassesOpt = None,
    task: TaskOpt = None,
    pos_label: PosLabelOpt = None,
    threshold: ThresholdOpt = None,
    weight: WeightOpt = None,
    drop: DropOpt = None,
    trust: TrustOpt = False,
    trusted_type: TrustedTypeOpt = None,
    out: OutOpt = Path("results"),
    overwrite: OverwriteOpt = False,
    ci: Annotated[
        CIOption,
        typer.Option(help="auto: DeLong/Wilson where exact, else bootstrap; or all bootstrap."),
    ] = CIOption.auto,
    confidence: ConfidenceOpt = 0.95,
    n_resamples: NResamplesOpt = 1000,
    bootstrap_method: BootstrapMethodOpt = BootstrapMethod.bca,
    stratify: StratifyOpt = True,
    seed: SeedOpt = 0,
    figures: FiguresOpt = True,
    backend: BackendOpt = None,
    scheduler: SchedulerOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Evaluate a model (or saved predictions): every metric with a confidence interval.

    Writes results.json, tables/*.csv and figures/*.png under --out. --predictions may be
    a folder or glob of Parquet files: it is then streamed (docs/large-data.md).
    """
    with clear_errors(quiet=quiet):
        from afterfit.outdir import prepare_out

        prepare_out(out, command="evaluate", overwrite=overwrite)
        if is_partitioned(predictions) or backend is not None or scheduler is not None:
            # Past one machine's memory: one pass over the partitions, merged statistics.
            from afterfit.cli._streaming import evaluate_stream

            if predictions is None or model is not None or model_name is not None:
                from afterfit.errors import InvalidInputError

                raise InvalidInputError(
                    "A streamed evaluation (--backend, --scheduler, or a folder or glob) reads "
                    "saved predictions: --predictions, without --model or --model-name.",
                    fix="pass --predictions FOLDER --score COLUMN --target y (write the "
                    "scores first with afterfit predict).",
                )
            from afterfit.partitions import resolve_partitions

            name = backend_name(backend, scheduler)
            total = len(resolve_partitions(predictions))
            with progress_bar(total, quiet, "evaluate: partitions") as progress:
                evaluation, source = evaluate_stream(
                    predictions=predictions, target=target, score=score,
                    score_kind=score_kind.value, classes=parse_classes(classes),
                    task=None if task is None else task.value, pos_label=pos_label,
                    threshold=threshold, weight=weight, backend=name, scheduler=scheduler,
                    options={"ci": ci.value, "confidence": confidence,
                             "n_resamples": n_resamples, "stratify": stratify,
                             "bootstrap_method": bootstrap_method.value, "random_state": seed},
                    progress=progress,
                )  # fmt: skip
            _write(evaluation, out, source, figures=figures, overwrite=overwrite, quiet=quiet)
            return
        preds, source = load_predictions(
            target=target, model=model, data=data, predictions=predictions, score=score,
            score_kind=score_kind, classes=classes, task=task, pos_label=pos_label,
            threshold=threshold, weight=weight, drop=drop or [], trust=trust,
            trusted_types=trusted_type or [], model_name=model_name,
        )  # fmt: skip
        from afterfit.evaluation import evaluate_predictions

        with progress_bar(n_resamples if ci != CIOption.none else 0, quiet) as progress:
            evaluation = evaluate_predictions(
                preds,
                ci=ci.value,
                confidence=confidence,
                n_resamples=n_resamples,
                bootstrap_method=bootstrap_method.value,
                stratify=stratify,
                random_state=seed,
                progress=progress,
            )
        _write(evaluation, out, source, figures=figures, overwrite=overwrite, quiet=quiet)


def _write(
    evaluation: Any, out: Path, source: dict, *, figures: bool, overwrite: bool, quiet: bool
) -> None:
    from afterfit.report.files import write_results

    written = write_results(evaluation, out, source=source, figures=figures, overwrite=overwrite)
    if not quiet:
        _print_table(evaluation)
        out_console.print(
            f"Wrote {len(written)} files to {out}/ (results.json, tables/, "
            f"{'figures/' if figures else 'no figures'})."
        )
