"""``afterfit compare``: paired statistical comparison of models on the same rows.

Two forms::

    afterfit compare --model a.skops --model b.onnx --model c.skops \
                     --data test.parquet --target y [--out DIR]
    afterfit compare --predictions preds.parquet --target y \
                     --score model_a=col_a --score model_b=col_b

``--model`` takes ``PATH`` (the model is named after the file, without extension) or
``NAME=PATH``. ``--score`` takes ``NAME=COLUMN`` (binary: the positive-class score;
regression: the prediction; a bare ``COLUMN`` names the model after the column). For
multiclass, one model's scores are several columns, one per class, in the order of
``--classes``::

    afterfit compare --predictions preds.csv --target y --classes cat,dog,fox \
                     --score a=a_cat,a_dog,a_fox --score b=b_cat,b_dog,b_fox

``--threshold T`` sets the binary decision threshold of every model, ``--threshold NAME=T``
of one. The command writes ``comparison.json`` (keys in :mod:`afterfit.comparison.files`),
``tables/comparison.csv``, ``tables/comparison_models.csv`` and
``figures/comparison.png``, ``figures/comparison_differences.png`` under ``--out``.
"""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from afterfit.cli._app import app, clear_errors, fmt, out_console, progress_bar
from afterfit.cli._inputs import match_label, parse_classes, weight_column
from afterfit.cli._options import (
    ClassesOpt,
    ConfidenceOpt,
    DataOpt,
    DropOpt,
    FiguresOpt,
    OverwriteOpt,
    PosLabelOpt,
    QuietOpt,
    ScoreKind,
    ScoreKindOpt,
    SeedOpt,
    StratifyOpt,
    TargetOpt,
    TaskOption,
    TrustedTypeOpt,
    TrustModelsOpt,
    WeightOpt,
    out_folder,
)
from afterfit.errors import InvalidInputError

OutOpt = out_folder("comparison.json, tables and figures")


class TestsOption(StrEnum):
    auto = "auto"
    bootstrap = "bootstrap"


class FamilyOption(StrEnum):
    metric = "metric"
    all = "all"


class CompareBootstrapMethod(StrEnum):
    percentile = "percentile"
    bca = "bca"


def _split(spec: str, option: str) -> tuple[str | None, str]:
    """``NAME=VALUE`` as (NAME, VALUE); a bare ``VALUE`` as (None, VALUE)."""
    if "=" not in spec:
        return None, spec
    name, value = spec.split("=", 1)
    if not name.strip() or not value.strip():
        raise InvalidInputError(
            f"{option} {spec!r} is not of the form NAME=VALUE.",
            fix=f"write {option} model_a=..., with a name and a value.",
        )
    return name.strip(), value.strip()


def _model_files(specs: list[str]) -> dict[str, Path]:
    """``--model [NAME=]PATH``: names default to the file names without extension."""
    files: dict[str, Path] = {}
    for spec in specs:
        name, text = (None, spec) if Path(spec).exists() else _split(spec, "--model")
        path = Path(text)
        name = name or path.stem
        if name in files:
            raise InvalidInputError(
                f"two models are named {name!r} ({files[name]} and {path}).",
                fix=f"name them: --model a={files[name]} --model b={path}.",
            )
        files[name] = path
    return files


def _score_columns(specs: list[str]) -> dict[str, list[str]]:
    """``--score [NAME=]COL`` (binary, regression) or ``NAME=COL1,COL2,...`` (multiclass)."""
    columns: dict[str, list[str]] = {}
    for spec in specs:
        name, text = _split(spec, "--score")
        cols = [c.strip() for c in text.split(",") if c.strip()]
        name = name or text
        if name in columns:
            raise InvalidInputError(
                f"two --score options name the model {name!r}.",
                fix="give every model its own name: --score a=col_a --score b=col_b.",
            )
        columns[name] = cols
    return columns


def _thresholds(specs: list[str] | None) -> float | dict[str, float] | None:
    """``--threshold T`` for every model, or ``--threshold NAME=T`` per model."""
    if not specs:
        return None
    per_model: dict[str, float] = {}
    shared: float | None = None
    for spec in specs:
        name, text = _split(spec, "--threshold")
        try:
            value = float(text)
        except ValueError:
            raise InvalidInputError(
                f"--threshold {spec!r} is not a number.",
                fix="pass --threshold 0.5, or --threshold NAME=0.5 for one model.",
            ) from None
        if name is None:
            shared = value
        else:
            per_model[name] = value
    if shared is not None and per_model:
        raise InvalidInputError(
            "--threshold was given both for every model and for named models.",
            fix="pass one --threshold T, or one --threshold NAME=T per model.",
        )
    return per_model or shared


def _short_test(test: str) -> str:
    return "bootstrap" if "bootstrap" in test else test


def _p(p: float) -> str:
    return "—" if not math.isfinite(p) else "<0.001" if p < 0.001 else f"{p:.3f}"


def _print(comparison: Any) -> None:
    s = comparison.settings
    models = Table(
        title=f"{comparison.task} · {comparison.n_rows:,} rows · {s.confidence:.0%} intervals",
        title_justify="left",
    )
    models.add_column("metric")
    for name in comparison.models:
        models.add_column(name, justify="right")
    frame = comparison.models_frame()
    for metric in comparison.metrics:
        cells = []
        for name in comparison.models:
            row = frame[(frame.metric == metric) & (frame.model == name)].iloc[0]
            cells.append(f"{fmt(row.value)}\n[{fmt(row.ci_low)}, {fmt(row.ci_high)}]")
        models.add_row(metric, *cells)
    out_console.print(models)

    pairs = Table(
        title=f"Paired differences (b − a) · Holm family: {s.family} · alpha {s.alpha:g}",
        title_justify="left",
    )
    for name, justify in (("metric", "left"), ("b − a", "left"), ("difference", "right"),
                          ("p", "right"), ("Holm p", "right"), ("test", "left"),
                          ("verdict", "left")):  # fmt: skip
        pairs.add_column(name, justify=justify)
    for r in comparison.rows:
        diff = f"{r.difference:+.4f}" if math.isfinite(r.difference) else "—"
        if math.isfinite(r.ci_low):
            diff += f"\n[{fmt(r.ci_low)}, {fmt(r.ci_high)}]"
        verdict = f"[bold]{r.verdict}[/]" if r.better is not None else r.verdict
        pairs.add_row(
            r.metric, f"{r.model_b} − {r.model_a}", diff, _p(r.p_value), _p(r.p_holm),
            _short_test(r.test), verdict,
        )  # fmt: skip
    out_console.print(pairs)
    significant = comparison.verdicts(significant_only=True)
    if significant:
        out_console.print("Significant differences:", highlight=False)
        for line in significant:
            out_console.print(f"  • {line}", highlight=False, soft_wrap=True)
    else:
        out_console.print(
            f"No significant difference on any metric (Holm-adjusted p < {s.alpha:g}).",
            highlight=False,
        )


@app.command()
def compare(
    target: TargetOpt,
    model: Annotated[
        list[str] | None,
        typer.Option(
            help="A model file to compare, as PATH or NAME=PATH (name: the file name "
            "without extension); repeat, at least twice. Scored on --data."
        ),
    ] = None,
    data: DataOpt = None,
    predictions: Annotated[
        Path | None,
        typer.Option(help="Saved predictions (CSV or Parquet), one score column per model."),
    ] = None,
    score: Annotated[
        list[str] | None,
        typer.Option(
            help="With --predictions: NAME=COLUMN, one per model (binary: positive-class "
            "score; regression: prediction). Multiclass: NAME=COL1,COL2,... with one column "
            "per class, in --classes order. Repeat, at least twice."
        ),
    ] = None,
    score_kind: ScoreKindOpt = ScoreKind.auto,
    classes: ClassesOpt = None,
    task: Annotated[
        TaskOption | None, typer.Option(help="Task; inferred from the models or data.")
    ] = None,
    pos_label: PosLabelOpt = None,
    threshold: Annotated[
        list[str] | None,
        typer.Option(help="Binary decision threshold: T for every model, or NAME=T; repeat."),
    ] = None,
    weight: WeightOpt = None,
    drop: DropOpt = None,
    trust: TrustModelsOpt = False,
    trusted_type: TrustedTypeOpt = None,
    metric: Annotated[
        list[str] | None,
        typer.Option(help="A metric to compare; repeat (default: the task's usual ones)."),
    ] = None,
    baseline: Annotated[
        str | None, typer.Option(help="Compare every model with this one only.")
    ] = None,
    tests: Annotated[
        TestsOption,
        typer.Option(
            help="auto: DeLong (ROC AUC), McNemar (accuracy), paired t (regression MAE/MSE), "
            "paired bootstrap otherwise; bootstrap: paired bootstrap for every metric."
        ),
    ] = TestsOption.auto,
    family: Annotated[
        FamilyOption,
        typer.Option(
            help="Holm family: each metric's pairs (metric) or every pair and metric (all)."
        ),
    ] = FamilyOption.metric,
    alpha: Annotated[float, typer.Option(help="Significance level (Holm-adjusted).")] = 0.05,
    confidence: ConfidenceOpt = 0.95,
    n_resamples: Annotated[int, typer.Option(help="Paired bootstrap resamples.")] = 1000,
    bootstrap_method: Annotated[
        CompareBootstrapMethod, typer.Option()
    ] = CompareBootstrapMethod.percentile,
    stratify: StratifyOpt = True,
    seed: SeedOpt = 0,
    out: OutOpt = Path("results"),
    overwrite: OverwriteOpt = False,
    figures: FiguresOpt = True,
    quiet: QuietOpt = False,
) -> None:
    """Compare models (or saved predictions) on the same rows, with paired tests.

    Every difference gets an interval, a p-value and a Holm-adjusted p-value. Writes
    comparison.json, tables/comparison.csv, tables/comparison_models.csv and
    figures/comparison.png (+ comparison_differences.png) under --out.
    """
    with clear_errors(quiet=quiet):
        from afterfit.outdir import prepare_out

        prepare_out(out, command="compare", overwrite=overwrite)
        from afterfit.comparison import write_comparison

        options = {
            "metrics": metric or None, "baseline": baseline, "tests": tests.value,
            "family": family.value, "alpha": alpha, "confidence": confidence,
            "n_resamples": n_resamples, "bootstrap_method": bootstrap_method.value,
            "stratify": stratify, "random_state": seed,
        }  # fmt: skip
        thresholds = _thresholds(threshold)
        with progress_bar(n_resamples, quiet) as progress:
            comparison, source = _run(
                target=target, model=model or [], data=data, predictions=predictions,
                score=score or [], score_kind=score_kind, classes=classes, task=task,
                pos_label=pos_label, threshold=thresholds, weight=weight, drop=drop or [],
                trust=trust, trusted_types=trusted_type or [], progress=progress,
                options=options,
            )  # fmt: skip
        written = write_comparison(
            comparison, out, source=source, figures=figures, overwrite=overwrite
        )
        if not quiet:
            _print(comparison)
            out_console.print(
                f"Wrote {len(written)} files to {out}/ (comparison.json, tables/, "
                f"{'figures/' if figures else 'no figures'})."
            )


def _run(
    *,
    target: str,
    model: list[str],
    data: Path | None,
    predictions: Path | None,
    score: list[str],
    score_kind: ScoreKind,
    classes: str | None,
    task: TaskOption | None,
    pos_label: str | None,
    threshold: float | dict[str, float] | None,
    weight: str | None,
    drop: list[str],
    trust: bool,
    trusted_types: list[str],
    progress: Any,
    options: dict[str, Any],
) -> tuple[Any, dict[str, Any]]:
    from afterfit.comparison import compare_models, compare_predictions
    from afterfit.data import load_dataset

    if bool(model) == (predictions is not None):
        raise InvalidInputError(
            "pass either --model (at least twice, with --data) or --predictions, not both "
            "and not neither.",
            fix="compare models: --model a.skops --model b.onnx --data test.parquet --target "
            "y; or saved scores: --predictions preds.parquet --target y --score a=col_a "
            "--score b=col_b.",
        )
    task_value = None if task is None else task.value
    if model:
        if data is None:
            raise InvalidInputError(
                "--model needs --data: the test rows every model scores.",
                fix="add --data test.parquet (CSV or Parquet with the target column).",
            )
        if score:
            raise InvalidInputError(
                "--score names columns of --predictions; with --model the models score.",
                fix="drop --score, or compare saved predictions with --predictions.",
            )
        from afterfit.models import load_model

        files = _model_files(model)
        loaded = {}
        for name, path in files.items():
            loaded[name] = load_model(
                path, trust=trust, trusted_types=trusted_types, task=task_value
            )
        sample_weight = weight_column(data, weight) if weight else None
        ds = load_dataset(data, target=target, drop=[*drop, *([weight] if weight else [])])
        first = next(iter(loaded.values()))
        comparison = compare_models(
            loaded, ds.X, ds.y, sample_weight=sample_weight,
            pos_label=match_label(pos_label, first.classes_), threshold=threshold,
            progress=progress, **options,
        )  # fmt: skip
        source = {"models": {k: str(v) for k, v in files.items()}, "data": str(data),
                  "target": target}  # fmt: skip
        return comparison, source

    from afterfit.selection.cv_files import model_names, oof_predictions_by_model

    ds = load_dataset(predictions, target=target)
    if len(model_names(ds.X)) > 1:
        # An out-of-fold file of several models (afterfit cv --compare): one block of
        # rows per model, compared row by row; --score would pool the blocks.
        if score:
            raise InvalidInputError(
                f"{predictions} holds the rows of several models in its 'model' column; "
                "--score would pool them.",
                fix=f"leave --score out: afterfit compare --predictions {predictions} "
                f"--target {target} compares the file's models on their common rows.",
            )
        preds = oof_predictions_by_model(ds.X, ds.y, source=str(predictions),
                                         pos_label=pos_label)  # fmt: skip
        comparison = compare_predictions(preds, threshold=threshold, progress=progress,
                                         **options)  # fmt: skip
        return comparison, {"predictions": str(predictions), "target": target,
                            "models": list(preds)}  # fmt: skip
    if not score:
        raise InvalidInputError(
            "--predictions needs --score: one NAME=COLUMN per model.",
            fix="add --score a=col_a --score b=col_b (multiclass: --score a=a0,a1,a2 with "
            "--classes).",
        )
    columns = _score_columns(score)
    wanted = [c for cols in columns.values() for c in cols]
    missing = [c for c in dict.fromkeys(wanted) if c not in ds.X.columns]
    if missing:
        raise InvalidInputError(
            f"--score column(s) {', '.join(map(repr, missing))} are not in {predictions}; "
            f"its columns are: {', '.join(map(str, ds.X.columns[:20]))}.",
            fix="pass --score NAME=COLUMN with the names of the score columns.",
        )
    if weight is not None and weight not in ds.X.columns:
        raise InvalidInputError(
            f"--weight column {weight!r} is not in {predictions}.",
            fix="pass the name of the weight column, or leave --weight out.",
        )
    y_scores = {
        name: ds.X[cols[0]].to_numpy() if len(cols) == 1 else ds.X[cols].to_numpy()
        for name, cols in columns.items()
    }
    class_list = parse_classes(classes)
    y = ds.y.astype(str) if class_list is not None else ds.y
    comparison = compare_predictions(
        y, y_scores, task=task_value, classes=class_list, pos_label=pos_label,
        sample_weight=ds.X[weight].to_numpy() if weight else None,
        scores_are_probabilities={"auto": None, "proba": True, "decision": False}[
            score_kind.value
        ],
        threshold=threshold, progress=progress, **options,
    )  # fmt: skip
    source = {"predictions": str(predictions), "target": target, "scores": columns}
    return comparison, source
