"""``afterfit threshold``: choose a decision threshold for an objective, with intervals."""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from afterfit.cli._app import app, clear_errors, err_console, fmt, out_console, progress_bar
from afterfit.cli._inputs import load_predictions
from afterfit.cli._options import (
    BetaOpt,
    ClassesOpt,
    ConfidenceOpt,
    DropOpt,
    FiguresOpt,
    FnCostOpt,
    FpCostOpt,
    MinPrecisionOpt,
    MinRecallOpt,
    ModelNameOpt,
    ModelOpt,
    OverwriteOpt,
    PositiveRateOpt,
    PosLabelOpt,
    QuietOpt,
    ScoreKind,
    ScoreKindOpt,
    SeedOpt,
    StratifyOpt,
    TargetOpt,
    TaskOpt,
    TnGainOpt,
    TopKOpt,
    TpGainOpt,
    TrustedTypeOpt,
    TrustOpt,
    WeightOpt,
    out_folder,
)
from afterfit.errors import InvalidInputError

OutOpt = out_folder("threshold.json, tables and figures")


class ObjectiveOption(StrEnum):
    f1 = "f1"
    fbeta = "fbeta"
    youden = "youden"
    balanced_accuracy = "balanced-accuracy"
    cost = "cost"
    precision_at = "precision-at"
    recall_at = "recall-at"
    positive_rate = "positive-rate"
    top_k = "top-k"


class SplitOption(StrEnum):
    validation = "validation"
    oof = "oof"
    test = "test"


def parse_matrix(text: str | None) -> list[list[float]] | None:
    """``"0,1;5,0"`` -> ``[[0, 1], [5, 0]]`` (rows: true class, columns: predicted)."""
    if text is None:
        return None
    try:
        rows = [[float(v) for v in row.split(",")] for row in text.split(";") if row.strip()]
    except ValueError:
        raise InvalidInputError(
            f"--cost-matrix {text!r} is not a matrix of numbers.",
            fix="write rows separated by ';' and entries by ',', rows the true class and "
            "columns the predicted class, e.g. --cost-matrix '0,1,4;1,0,4;2,2,0'.",
        ) from None
    if len({len(r) for r in rows}) > 1:
        raise InvalidInputError(
            f"--cost-matrix {text!r} has rows of different lengths.",
            fix="give every row one cost per class, e.g. '0,1,4;1,0,4;2,2,0'.",
        )
    return rows


def read_cost_matrix(text: str | None) -> list[list[float]] | None:
    """``--cost-matrix``: inline (``"0,1;5,0"``) or a file holding the matrix: CSV (one row
    per true class, no header), JSON (a list of rows) or TOML (``cost_matrix = [[...]]``)."""
    if text is None:
        return None
    path = Path(str(text))
    if path.suffix.lower() not in (".csv", ".txt", ".json", ".toml"):
        return parse_matrix(str(text))
    if not path.is_file():
        raise InvalidInputError(
            f"--cost-matrix {path} does not exist.",
            fix="pass the path of a CSV/JSON/TOML file with the matrix, or the matrix "
            "inline: '0,1;5,0' (rows true class, columns predicted).",
        )
    body = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            import json

            rows = json.loads(body)
        elif suffix == ".toml":
            import tomllib

            rows = tomllib.loads(body).get("cost_matrix")
        else:
            return parse_matrix(";".join(line for line in body.splitlines() if line.strip()))
    except ValueError as exc:
        raise InvalidInputError(
            f"--cost-matrix {path} cannot be read: {exc}.", fix="fix the file's syntax."
        ) from None
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise InvalidInputError(
            f"--cost-matrix {path} holds no list of rows.",
            fix="JSON: [[0, 1], [5, 0]]; TOML: cost_matrix = [[0, 1], [5, 0]]; CSV: one "
            "row per line.",
        )
    return parse_matrix(";".join(",".join(str(v) for v in r) for r in rows))


def _interval(lo: float, hi: float) -> str:
    return f"[{fmt(lo)}, {fmt(hi)}]" if math.isfinite(lo) else ""


def _print_binary(sel: Any, title_extra: str = "") -> None:
    title = (
        f"threshold · {sel.objective.describe()} · {sel.n_rows:,} rows · positive class "
        f"'{sel.positive_label}' · split {sel.split}{title_extra}"
    )
    conf = f"{sel.confidence:.0%} CI"
    table = Table(title=title, title_justify="left")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_column(conf, justify="right")
    table.add_row("objective", sel.objective.describe(), "")
    table.add_row("threshold (score >)", f"{sel.threshold:.6g}", _interval(*sel.ci))
    metric = sel.objective.metric
    table.add_row(f"{metric} at threshold", fmt(sel.value), _interval(*sel.value_ci))
    table.add_row(f"{metric}, re-optimised", "", _interval(*sel.optimum_ci))
    table.add_section()
    for row in sel.metrics.rows:
        if row.metric == "predicted_positive":  # a (weighted) count, not a rate
            ci = f"[{row.ci_low:,.6g}, {row.ci_high:,.6g}]" if math.isfinite(row.ci_low) else ""
            table.add_row(row.metric, f"{row.value:,.6g}", ci)
        else:
            table.add_row(row.metric, fmt(row.value), _interval(row.ci_low, row.ci_high))
    out_console.print(table)


def _print_per_class(result: Any) -> None:
    first = result.selections[0]
    table = Table(
        title=f"one-vs-rest thresholds · {first.objective.describe()} · {first.n_rows:,} "
        f"rows · split {result.split}",
        title_justify="left",
    )
    for column in ("class", "threshold (score >)", "CI", first.objective.metric, "CI"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for c, sel in zip(result.classes, result.selections, strict=True):
        table.add_row(str(c), f"{sel.threshold:.6g}", _interval(*sel.ci), fmt(sel.value),
                      _interval(*sel.value_ci))  # fmt: skip
    out_console.print(table)


def _print_cost(result: Any) -> None:
    table = Table(
        title=f"minimum expected cost decisions · {len(result.classes)} classes · "
        f"{result.n_rows:,} rows · split {result.split}",
        title_justify="left",
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column(f"{result.confidence:.0%} CI", justify="right")
    for row in result.metrics.rows:
        table.add_row(row.metric, fmt(row.value), _interval(row.ci_low, row.ci_high))
    out_console.print(table)


def _save_model(result: Any, path: Path, model: Path | None, trust: bool, types: list[str]):
    from afterfit.io import atomic_write
    from afterfit.models import load_model
    from afterfit.models.sklearn import SklearnModel

    if model is None:
        raise InvalidInputError(
            "--save-model needs --model: the model the decision rule wraps.",
            fix="pass --model model.skops (with --data), or leave --save-model out.",
        )
    loaded = load_model(model, trust=trust, trusted_types=types)
    if not isinstance(loaded, SklearnModel):
        raise InvalidInputError(
            f"--save-model wraps scikit-learn models; {model} loads as a {type(loaded).__name__}.",
            fix="leave --save-model out and apply the threshold yourself: predict positive "
            "iff score > threshold (threshold.json).",
        )
    wrapped = result.apply(loaded.estimator)
    import skops.io as sio

    return atomic_write(path, lambda tmp: sio.dump(wrapped, tmp))


def _operating(
    result: Any, preds: Any, test_data: Path | None, *, split: str, load: Any, **options: Any
) -> Any:
    """The operating point: on ``--test-data``, or (``--split test``) on the rows the
    threshold was chosen on, with the cross-fitted estimate of the optimism."""
    from afterfit.thresholds import operating_point

    if test_data is None and split != "test":
        return None
    if preds.task != "binary":
        if test_data is not None:
            raise InvalidInputError(
                f"--test-data judges a binary threshold; these predictions are {preds.task}.",
                fix="leave --test-data out, or evaluate the decisions with afterfit evaluate.",
            )
        return None
    test = preds if test_data is None else load(test_data)
    if test_data is not None and [str(c) for c in test.classes] != [str(c) for c in preds.classes]:
        raise InvalidInputError(
            f"--test-data {test_data} has the classes {list(test.classes)}, the threshold "
            f"was chosen on {list(preds.classes)}.",
            fix="pass test rows of the same classes (and the same --pos-label).",
        )
    return operating_point(
        test, result, n_resamples=options["n_resamples"], confidence=options["confidence"],
        random_state=options["seed"],
    )  # fmt: skip


@app.command()
def threshold(
    target: TargetOpt,
    model: ModelOpt = None,
    data: Annotated[
        Path | None,
        typer.Option(help="Validation data (CSV or Parquet) with the target column."),
    ] = None,
    predictions: Annotated[
        Path | None,
        typer.Option(help="Saved predictions (CSV or Parquet), instead of a model."),
    ] = None,
    model_name: ModelNameOpt = None,
    score: Annotated[
        list[str] | None,
        typer.Option(help="With --predictions: the score column; one per class (multiclass)."),
    ] = None,
    score_kind: ScoreKindOpt = ScoreKind.auto,
    classes: ClassesOpt = None,
    task: TaskOpt = None,
    pos_label: PosLabelOpt = None,
    objective: Annotated[
        ObjectiveOption,
        typer.Option(
            help="What the threshold optimises: max F1 / F-beta (--beta), Youden's J, "
            "balanced accuracy; min expected cost (--fp-cost, --fn-cost; multiclass "
            "--cost-matrix); max recall with precision >= --min-precision (precision-at); "
            "max precision with recall >= --min-recall (recall-at); flag at most "
            "--positive-rate or --top-k rows."
        ),
    ] = ObjectiveOption.f1,
    beta: BetaOpt = None,
    fp_cost: FpCostOpt = None,
    fn_cost: FnCostOpt = None,
    tp_gain: TpGainOpt = None,
    tn_gain: TnGainOpt = None,
    cost_matrix: Annotated[
        str | None,
        typer.Option(
            help="Costs, rows true, columns predicted: '0,1;5,0', or a CSV/JSON/TOML file."
        ),
    ] = None,
    min_precision: MinPrecisionOpt = None,
    min_recall: MinRecallOpt = None,
    positive_rate: PositiveRateOpt = None,
    top_k: TopKOpt = None,
    test_data: Annotated[
        Path | None,
        typer.Option(
            help="Test rows (with --model: a data file; else saved predictions like "
            "--predictions): the metrics at the chosen and the default threshold there."
        ),
    ] = None,
    split: Annotated[
        SplitOption,
        typer.Option(help="The data given: validation, out-of-fold, or test (optimistic)."),
    ] = SplitOption.validation,
    weight: WeightOpt = None,
    drop: DropOpt = None,
    trust: TrustOpt = False,
    trusted_type: TrustedTypeOpt = None,
    out: OutOpt = Path("results"),
    overwrite: OverwriteOpt = False,
    save_model: Annotated[
        Path | None,
        typer.Option(
            help="Write the model with the chosen threshold here (.skops). An existing "
            "file needs --overwrite; an input file is never replaced."
        ),
    ] = None,
    confidence: ConfidenceOpt = 0.95,
    n_resamples: Annotated[int, typer.Option(help="Bootstrap resamples (0: no intervals).")] = 1000,
    stratify: StratifyOpt = True,
    seed: SeedOpt = 0,
    figures: FiguresOpt = True,
    quiet: QuietOpt = False,
) -> None:
    """Choose a decision threshold for an objective: the exact optimum over every distinct
    score, with bootstrap intervals.

    A row is predicted positive iff score > threshold. Writes threshold.json,
    tables/threshold_curve.csv and figures/threshold_curve.png under --out.
    """
    with clear_errors(quiet=quiet):
        from afterfit.outdir import prepare_out

        prepare_out(out, command="threshold", overwrite=overwrite)
        matrix = read_cost_matrix(cost_matrix)
        if save_model is not None and model is None:
            raise InvalidInputError(
                "--save-model needs --model: the model the decision rule wraps.",
                fix="pass --model model.skops (with --data), or leave --save-model out.",
            )
        if save_model is not None:
            from afterfit.outdir import prepare_file

            # Before any work, as every other check of --save-model.
            if save_model.suffix.lower() != ".skops":
                raise InvalidInputError(
                    f"--save-model {save_model} must end in .skops (the model is saved with "
                    "skops).",
                    fix="pass a path such as --save-model thresholded.skops.",
                )
            inputs = {
                "--model": model, "--data": data, "--predictions": predictions,
                "--test-data": test_data, "--cost-matrix": cost_matrix,
            }  # fmt: skip
            prepare_file(save_model, overwrite=overwrite, inputs=inputs, option="--save-model")
        preds, source = load_predictions(
            target=target, model=model, data=data, predictions=predictions, score=score,
            score_kind=score_kind, classes=classes, task=task, pos_label=pos_label,
            threshold=None, weight=weight, drop=drop or [], trust=trust,
            trusted_types=trusted_type or [], model_name=model_name,
        )  # fmt: skip
        from afterfit.thresholds import select_threshold_predictions, write_threshold_results

        per_class = preds.task == "multiclass" and objective != ObjectiveOption.cost
        total = n_resamples * (len(preds.classes) if per_class else 1)
        with progress_bar(total, quiet) as progress:
            result = select_threshold_predictions(
                preds, objective=objective.value, beta=beta, fp_cost=fp_cost,
                fn_cost=fn_cost, tp_gain=tp_gain, tn_gain=tn_gain,
                min_precision=min_precision, min_recall=min_recall,
                positive_rate=positive_rate, top_k=top_k, cost_matrix=matrix,
                split=split.value, n_resamples=n_resamples, confidence=confidence,
                stratify=stratify, random_state=seed, progress=progress,
            )  # fmt: skip
        operating = _operating(
            result, preds, test_data, split=split.value, n_resamples=n_resamples,
            confidence=confidence, seed=seed,
            load=lambda path: load_predictions(
                target=target, model=model, data=path if model else None,
                predictions=None if model else path, score=score, score_kind=score_kind,
                classes=classes, task=task, pos_label=pos_label, threshold=None,
                weight=weight, drop=drop or [], trust=trust, trusted_types=trusted_type or [],
                model_name=model_name,
            )[0],
        )  # fmt: skip
        written = write_threshold_results(
            result, out, source=source, figures=figures, overwrite=overwrite,
            operating=operating,
        )  # fmt: skip
        saved = None
        if save_model is not None:
            saved = _save_model(result, save_model, model, trust, trusted_type or [])
        if quiet:
            return
        if preds.task == "binary":
            _print_binary(result)
        elif per_class:
            _print_per_class(result)
        else:
            _print_cost(result)
        if operating is not None:
            out_console.print(operating.summary(), highlight=False, soft_wrap=True)
        if result.warning:
            err_console.print(f"[bold yellow]warning (optimistic):[/] {result.warning}",
                              highlight=False, soft_wrap=True)  # fmt: skip
        out_console.print(
            f"Wrote {len(written)} files to {out}/ (threshold.json, tables/"
            f"{', figures/' if figures else ''})."
            + (f" Saved the thresholded model to {saved}." if saved is not None else "")
        )
