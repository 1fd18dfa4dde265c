"""The ``afterfit`` command. Thin: it parses options, calls the Python API, prints.

Every :class:`~afterfit.errors.AfterfitError` becomes a one-paragraph message on stderr and
exit code 2, without a traceback.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from afterfit import __version__
from afterfit.errors import AfterfitError, InvalidInputError

app = typer.Typer(
    name="afterfit",
    help="Everything after model.fit(): evaluate a trained model with confidence intervals.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out_console = Console()
err_console = Console(stderr=True)


class TaskOption(StrEnum):
    binary = "binary"
    multiclass = "multiclass"
    regression = "regression"


class CIOption(StrEnum):
    auto = "auto"
    bootstrap = "bootstrap"
    none = "none"


class BootstrapMethod(StrEnum):
    bca = "bca"
    percentile = "percentile"


class ScoreKind(StrEnum):
    auto = "auto"
    proba = "proba"
    decision = "decision"


def _version(value: bool) -> None:
    if value:
        out_console.print(f"afterfit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Everything after model.fit(): evaluate a trained model with confidence intervals."""


@contextlib.contextmanager
def _clear_errors() -> Iterator[None]:
    """Turn afterfit's errors (and unwritable outputs) into a message and exit code 2."""
    try:
        yield
    except AfterfitError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        err_console.print(
            f"[bold red]error:[/] could not write the output: {exc}. Fix: choose a writable "
            "--out folder with enough free space.",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2) from None


@contextlib.contextmanager
def _progress(total: int, quiet: bool) -> Iterator[Any]:
    """A bootstrap progress bar on a terminal; nothing when quiet or not a TTY."""
    if quiet or not err_console.is_terminal:
        yield None
        return
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("bootstrap", total=total)
        yield lambda done: bar.advance(task, done)


def _fmt(value: float) -> str:
    return "—" if not math.isfinite(value) else f"{value:.4f}"


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
        interval = f"[{_fmt(row.ci_low)}, {_fmt(row.ci_high)}]" if math.isfinite(row.ci_low) else ""
        table.add_row(row.metric, _fmt(row.value), interval, row.method)
    out_console.print(table)


def _parse_classes(text: str | None) -> list[str] | None:
    return None if text is None else [c.strip() for c in text.split(",") if c.strip()]


@app.command()
def evaluate(
    target: Annotated[str, typer.Option(help="Name of the target (true label) column.")],
    model: Annotated[
        Path | None,
        typer.Option(help="Model file: .skops, .onnx, XGBoost/LightGBM, .pkl (with --trust)."),
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="Test data (CSV or Parquet) with the target column.")
    ] = None,
    predictions: Annotated[
        Path | None,
        typer.Option(help="Saved predictions (CSV or Parquet) to evaluate without a model."),
    ] = None,
    score: Annotated[
        list[str] | None,
        typer.Option(
            help="With --predictions: the score column (binary: positive-class score; "
            "regression: prediction). Repeat once per class for multiclass."
        ),
    ] = None,
    score_kind: Annotated[
        ScoreKind,
        typer.Option(help="Scores are probabilities (proba), decision scores, or guess."),
    ] = ScoreKind.auto,
    classes: Annotated[
        str | None,
        typer.Option(help="With --predictions: class labels of the score columns, a,b,c."),
    ] = None,
    task: Annotated[
        TaskOption | None, typer.Option(help="Task; inferred from the model or data.")
    ] = None,
    pos_label: Annotated[
        str | None, typer.Option(help="Binary: the positive class (default: the second).")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Binary decision threshold (default 0.5 for proba).")
    ] = None,
    weight: Annotated[
        str | None, typer.Option(help="Column of sample weights (left out of the features).")
    ] = None,
    drop: Annotated[
        list[str] | None, typer.Option(help="Column to leave out of the features; repeat.")
    ] = None,
    trust: Annotated[
        bool,
        typer.Option(
            help="Trust the model file's source: allows pickle/joblib and every type in a "
            "skops file. Unpickling runs arbitrary code: use only for files you trust."
        ),
    ] = False,
    trusted_type: Annotated[
        list[str] | None,
        typer.Option(help="A type to trust when loading a .skops file; repeat."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for results.json, tables and figures.")] = Path(
        "results"
    ),
    ci: Annotated[
        CIOption,
        typer.Option(help="auto: DeLong/Wilson where exact, else bootstrap; or all bootstrap."),
    ] = CIOption.auto,
    confidence: Annotated[float, typer.Option(help="Confidence level of intervals.")] = 0.95,
    n_resamples: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 1000,
    bootstrap_method: Annotated[BootstrapMethod, typer.Option()] = BootstrapMethod.bca,
    stratify: Annotated[
        bool, typer.Option(help="Resample within each class (classification).")
    ] = True,
    seed: Annotated[int, typer.Option(help="Random seed of the bootstrap.")] = 0,
    figures: Annotated[bool, typer.Option(help="Write PNG figures.")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
) -> None:
    """Evaluate a model (or saved predictions): every metric with a confidence interval.

    Writes results.json, tables/*.csv and figures/*.png under --out.
    """
    with _clear_errors():
        preds, source = _predictions(
            target=target, model=model, data=data, predictions=predictions, score=score,
            score_kind=score_kind, classes=classes, task=task, pos_label=pos_label,
            threshold=threshold, weight=weight, drop=drop or [], trust=trust,
            trusted_types=trusted_type or [],
        )  # fmt: skip
        from afterfit.evaluation import evaluate_predictions
        from afterfit.report.files import write_results

        with _progress(n_resamples if ci != CIOption.none else 0, quiet) as progress:
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
        written = write_results(evaluation, out, source=source, figures=figures)
        if not quiet:
            _print_table(evaluation)
            out_console.print(
                f"Wrote {len(written)} files to {out}/ (results.json, tables/, "
                f"{'figures/' if figures else 'no figures'})."
            )


def _predictions(
    *,
    target: str,
    model: Path | None,
    data: Path | None,
    predictions: Path | None,
    score: list[str] | None,
    score_kind: ScoreKind,
    classes: str | None,
    task: TaskOption | None,
    pos_label: str | None,
    threshold: float | None,
    weight: str | None,
    drop: list[str],
    trust: bool,
    trusted_types: list[str],
) -> tuple[Any, dict[str, Any]]:
    from afterfit.data import load_dataset
    from afterfit.predictions import Predictions

    if (model is None) == (predictions is None):
        raise InvalidInputError(
            "pass either --model (with --data) or --predictions, not both and not neither.",
            fix="evaluate a model: --model model.skops --data test.parquet --target y; or "
            "saved scores: --predictions preds.parquet --target y --score proba.",
        )
    task_value = None if task is None else task.value
    if model is not None:
        if data is None:
            raise InvalidInputError(
                "--model needs --data: the test rows to score.",
                fix="add --data test.parquet (CSV or Parquet with the target column).",
            )
        if score:
            raise InvalidInputError(
                "--score names columns of --predictions; with --model the model scores.",
                fix="drop --score, or evaluate saved predictions with --predictions.",
            )
        from afterfit.models import load_model

        loaded = load_model(model, trust=trust, trusted_types=trusted_types, task=task_value)
        columns = [*drop, *([weight] if weight else [])]
        ds = load_dataset(data, target=target, drop=columns)
        sample_weight = _weight_column(data, weight) if weight else None
        preds = Predictions.from_model(
            loaded, ds.X, ds.y, sample_weight=sample_weight,
            pos_label=_match_label(pos_label, loaded.classes_), threshold=threshold,
        )  # fmt: skip
        return preds, {"model": str(model), "data": str(data), "target": target}

    if not score:
        raise InvalidInputError(
            "--predictions needs --score: the column(s) holding the scores.",
            fix="add --score proba (binary/regression), or one --score per class.",
        )
    ds = load_dataset(predictions, target=target)
    missing = [c for c in score if c not in ds.X.columns]
    if missing:
        raise InvalidInputError(
            f"--score column(s) {', '.join(map(repr, missing))} are not in {predictions}; "
            f"its columns are: {', '.join(map(str, ds.X.columns[:20]))}.",
            fix="pass the names of the score columns with --score.",
        )
    y_score = ds.X[score[0]].to_numpy() if len(score) == 1 else ds.X[score].to_numpy()
    class_list = _parse_classes(classes)
    probabilities = {"auto": None, "proba": True, "decision": False}[score_kind.value]
    sample_weight = ds.X[weight].to_numpy() if weight else None
    y = ds.y
    if class_list is not None:
        # Labels typed on the command line are text: compare as text.
        y = y.astype(str)
    preds = Predictions.from_arrays(
        y, y_score, task=task_value, classes=class_list, pos_label=pos_label,
        sample_weight=sample_weight, scores_are_probabilities=probabilities,
        threshold=threshold,
    )  # fmt: skip
    return preds, {"predictions": str(predictions), "target": target, "score": score}


def _weight_column(path: Path, column: str) -> Any:
    from afterfit.data import load_dataset

    return load_dataset(path, target=column).y


def _match_label(text: str | None, classes: Any) -> Any:
    """A label typed on the command line, as the model's own label (1, True, 'yes')."""
    if text is None or classes is None:
        return text
    for c in classes:
        if str(c) == text:
            return c
    return text


def main() -> None:
    """Entry point of the ``afterfit`` console script."""
    app(prog_name="afterfit")


if __name__ == "__main__":
    sys.exit(main())
