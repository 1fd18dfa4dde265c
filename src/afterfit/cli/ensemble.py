"""``afterfit ensemble``: combine trained models, or bag/boost/stack from training data.

Two forms::

    afterfit ensemble --model a.skops --model b.skops --model c.onnx \
                      --data valid.parquet --target y [--test test.parquet] \
                      [--method greedy|weights|stacking] [--metric log_loss] \
                      [--out ensemble] [--save-model ensemble.skops]
    afterfit ensemble --train train.parquet --base model.skops --target y \
                      [--method bagging|boosting] [--test test.parquet]
    afterfit ensemble --train train.parquet --base a.skops --base b.skops --target y \
                      --method stacking

``--model`` / ``--base`` take ``PATH`` or ``NAME=PATH``. The first form fits the combination
on the ``--data`` rows (a validation split the models did not train on); the second refits
the base estimator(s) on ``--train``. The gain over the best single model is a paired
interval on ``--test`` when given, else on cross-fitted rows (the output says which).

Writes ``results.json`` (key ``ensemble``, and ``comparison``), ``tables/*.csv`` and
``index.html`` (Ensemble and Model comparison sections) under ``--out``; ``--save-model``
writes the ensemble as a .skops file that ``afterfit`` loads without ``--trust`` (an
existing file only with ``--overwrite``, checked before any work; an input file never).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from afterfit.cli._app import app, clear_errors, fmt, out_console, stage_progress
from afterfit.cli._options import (
    ConfidenceOpt,
    DropOpt,
    FiguresOpt,
    OverwriteOpt,
    QuietOpt,
    TargetOpt,
    TrustedTypeOpt,
    TrustModelsOpt,
    out_folder,
)
from afterfit.errors import InvalidInputError

OutOpt = out_folder("index.html, results.json and tables")


class EnsembleMethod(StrEnum):
    greedy = "greedy"
    weights = "weights"
    stacking = "stacking"
    bagging = "bagging"
    boosting = "boosting"


@app.command()
def ensemble(
    target: TargetOpt,
    model: Annotated[
        list[str] | None,
        typer.Option(
            help="A trained model to combine, as PATH or NAME=PATH (.skops, .onnx, "
            "XGBoost/LightGBM); repeat, at least twice. Scored on --data."
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="Selection rows (CSV or Parquet) the models did not train on."),
    ] = None,
    train: Annotated[
        Path | None,
        typer.Option(help="Training data for bagging, boosting or stacking of --base."),
    ] = None,
    base: Annotated[
        list[str] | None,
        typer.Option(
            help="With --train: the base estimator (.skops/.pkl; refitted), as PATH or "
            "NAME=PATH; repeat for stacking."
        ),
    ] = None,
    test: Annotated[
        Path | None,
        typer.Option(help="Held-out rows for the gain (default: cross-fitted rows)."),
    ] = None,
    method: Annotated[
        EnsembleMethod | None,
        typer.Option(
            help="greedy (Caruana selection), weights (optimised soft voting), stacking "
            "(linear meta-model); with --train: bagging, boosting or stacking. Default: "
            "greedy with --model, bagging with --train."
        ),
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option(help="Selection metric, any afterfit metric (default log_loss / rmse)."),
    ] = None,
    iterations: Annotated[int, typer.Option(help="Greedy: models added.")] = 50,
    init: Annotated[int, typer.Option(help="Greedy: start from the N best models.")] = 1,
    bags: Annotated[int, typer.Option(help="Greedy: bagged selection rounds (0: none).")] = 0,
    bag_fraction: Annotated[
        float, typer.Option(help="Greedy: share of the models in each bag.")
    ] = 0.5,
    n_estimators: Annotated[
        int | None, typer.Option(help="Bagging (default 10) / boosting (default 50) size.")
    ] = None,
    folds: Annotated[
        int, typer.Option(help="Folds of the cross-fitted gain and of stacking's CV.")
    ] = 5,
    drop: DropOpt = None,
    trust: TrustModelsOpt = False,
    trusted_type: TrustedTypeOpt = None,
    confidence: ConfidenceOpt = 0.95,
    n_resamples: Annotated[int, typer.Option(help="Paired bootstrap resamples.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed.", min=0)] = 0,
    out: OutOpt = Path("ensemble"),
    overwrite: OverwriteOpt = False,
    save_model: Annotated[
        Path | None,
        typer.Option(
            "--save-model",
            "--save",
            help="Save the ensemble here (.skops). An existing file needs --overwrite; an "
            "input file is never replaced.",
        ),
    ] = None,
    figures: FiguresOpt = True,
    quiet: QuietOpt = False,
) -> None:
    """Combine trained models into an ensemble (or bag/boost/stack from training data)
    and report its gain over the best single model, with a paired interval."""
    with clear_errors(quiet=quiet):
        from afterfit.outdir import prepare_out

        prepare_out(out, command="ensemble", overwrite=overwrite)
        from afterfit.documents import document
        from afterfit.report.run import write_page
        from afterfit.report.sections.comparison import comparison_section
        from afterfit.report.sections.ensemble import ensemble_section

        if save_model is not None and save_model.suffix.lower() != ".skops":
            raise InvalidInputError(
                f"--save-model {save_model} must end in .skops: the ensemble is saved with "
                "skops, which loads without running code.",
                fix="pass --save-model ensemble.skops.",
            )
        if save_model is not None:
            from afterfit.cli.compare import _model_files
            from afterfit.outdir import prepare_file

            inputs = {
                "--model": list(_model_files(model or []).values()),
                "--base": list(_model_files(base or []).values()),
                "--data": data, "--train": train, "--test": test,
            }  # fmt: skip
            prepare_file(save_model, overwrite=overwrite, inputs=inputs, option="--save-model")
        shown = stage_progress(quiet, cumulative=True, prefix="ensemble: ")
        with shown as progress:
            result, source = _run(
                target=target, model=model or [], data=data, train=train, base=base or [],
                test=test, method=method, metric=metric, iterations=iterations, init=init,
                bags=bags, bag_fraction=bag_fraction, n_estimators=n_estimators, folds=folds,
                drop=drop or [], trust=trust, trusted_types=trusted_type or [],
                confidence=confidence, n_resamples=n_resamples, seed=seed,
                progress=progress,
            )  # fmt: skip
        doc = document(
            "afterfit.results",
            {"ensemble": result.to_dict(), "comparison": result.comparison.to_dict()},
            source=source,
        )
        sections = [ensemble_section(result), comparison_section(result.comparison)]
        facts = [
            ("task", result.task),
            ("method", result.method),
            ("metric", result.metric),
            ("gain measured on", f"{result.gain.evaluated_on} ({result.gain.n_rows:,} rows)"),
        ]
        source_text = " · ".join(f"{k}: {v}" for k, v in source.items() if isinstance(v, str))
        written = write_page(
            out, sections, doc, title="afterfit ensemble", facts=facts,
            source_text=source_text, confidence=confidence, figures=figures,
            overwrite=overwrite, command="ensemble",
        )  # fmt: skip
        if save_model is not None:
            import skops.io as sio

            from afterfit.io import atomic_write

            atomic_write(save_model, lambda tmp: sio.dump(result.estimator, tmp))
        if not quiet:
            _print(result)
            saved = f"; saved the ensemble to {save_model}" if save_model else ""
            out_console.print(f"Wrote {len(written)} files to {out}/{saved}.", highlight=False)


def _print(result: Any) -> None:
    from rich.table import Table

    table = Table(
        title=f"{result.method} ensemble · {result.task} · selected by {result.metric}",
        title_justify="left",
    )
    for name, justify in (("member", "left"), ("weight", "right"),
                          (f"{result.metric} (selection)", "right"), ("", "left")):  # fmt: skip
        table.add_column(name, justify=justify)
    for row in result.members.itertuples(index=False):
        table.add_row(row.member, fmt(row.weight), fmt(row.selection_value),
                      "best single" if row.best else "")  # fmt: skip
    out_console.print(table)
    for note in result.selection.get("notes") or []:
        out_console.print(f"note: {note}.", highlight=False, soft_wrap=True)
    out_console.print(result.gain.sentence(), highlight=False, soft_wrap=True)


def _load(specs: list[str], *, trust: bool, trusted_types: list[str]) -> dict[str, Any]:
    from afterfit.cli.compare import _model_files
    from afterfit.models import load_model

    files = _model_files(specs)
    return {
        name: load_model(path, trust=trust, trusted_types=trusted_types)
        for name, path in files.items()
    }


def _run(
    *,
    target: str,
    model: list[str],
    data: Path | None,
    train: Path | None,
    base: list[str],
    test: Path | None,
    method: EnsembleMethod | None,
    metric: str | None,
    iterations: int,
    init: int,
    bags: int,
    bag_fraction: float,
    n_estimators: int | None,
    folds: int,
    drop: list[str],
    trust: bool,
    trusted_types: list[str],
    confidence: float,
    n_resamples: int,
    seed: int,
    progress: Any = None,
) -> tuple[Any, dict[str, Any]]:
    from afterfit.data import load_dataset
    from afterfit.selection.ensemble import build_ensemble, train_ensemble

    if bool(model) == (train is not None):
        raise InvalidInputError(
            "pass either --model (at least twice, with --data) or --train (with --base), "
            "not both and not neither.",
            fix="combine trained models: --model a.skops --model b.onnx --data valid.parquet "
            "--target y; or train one: --train train.parquet --base model.skops --method "
            "bagging --target y.",
        )
    if not 0 < confidence < 1:
        raise InvalidInputError(
            f"--confidence must be between 0 and 1; got {confidence}.", fix="pass 0.95."
        )
    if n_resamples < 1:
        raise InvalidInputError(
            f"--n-resamples must be at least 1; got {n_resamples}.", fix="pass 1000."
        )
    test_ds = load_dataset(test, target=target, drop=drop) if test is not None else None
    X_test = None if test_ds is None else test_ds.X
    y_test = None if test_ds is None else test_ds.y
    common = {
        "metric": metric, "X_test": X_test, "y_test": y_test, "folds": folds,
        "confidence": confidence, "n_resamples": n_resamples, "random_state": seed,
        "progress": progress,
    }  # fmt: skip
    if model:
        if data is None:
            raise InvalidInputError(
                "--model needs --data: the selection rows the models are combined on.",
                fix="add --data valid.parquet (a validation split the models did not train "
                "on, with the target column).",
            )
        if base:
            raise InvalidInputError(
                "--base names the estimator(s) --train refits; with --model the models are "
                "combined as trained.",
                fix="drop --base, or use --train with --base.",
            )
        chosen = (method or EnsembleMethod.greedy).value
        if chosen in ("bagging", "boosting"):
            raise InvalidInputError(
                f"--method {chosen} trains copies of a base estimator: it needs --train "
                "and --base, not --model.",
                fix=f"run afterfit ensemble --train train.parquet --base model.skops "
                f"--method {chosen} --target {target}; or combine trained models with "
                "--method greedy, weights or stacking.",
            )
        if len(model) < 2:
            raise InvalidInputError(
                f"an ensemble needs at least two --model; got {len(model)}.",
                fix="pass --model a.skops --model b.onnx (repeat the option).",
            )
        loaded = _load(model, trust=trust, trusted_types=trusted_types)
        ds = load_dataset(data, target=target, drop=drop)
        result = build_ensemble(
            loaded, ds.X, ds.y, method=chosen, n_iterations=iterations, n_init=init,
            n_bags=bags, bag_fraction=bag_fraction, **common,
        )  # fmt: skip
        source = {"models": {k: str(v) for k, v in zip(loaded, model, strict=True)},
                  "data": str(data), "target": target}  # fmt: skip
    else:
        if data is not None:
            raise InvalidInputError(
                "--data is for combining trained models (--model); with --train the "
                "training rows are --train.",
                fix="drop --data (pass held-out rows with --test).",
            )
        if not base:
            raise InvalidInputError(
                "--train needs --base: the estimator to bag or boost (or several to stack).",
                fix="add --base model.skops (a scikit-learn estimator; it is refitted).",
            )
        chosen = (method or EnsembleMethod.bagging).value
        if chosen in ("greedy", "weights"):
            raise InvalidInputError(
                f"--method {chosen} combines trained models: use --model and --data.",
                fix="with --train, pass --method bagging, boosting or stacking.",
            )
        loaded = _load(base, trust=trust, trusted_types=trusted_types)
        if chosen != "stacking" and len(loaded) != 1:
            raise InvalidInputError(
                f"--method {chosen} trains copies of one base estimator; got {len(loaded)} --base.",
                fix="pass one --base (several are combined with --method stacking).",
            )
        ds = load_dataset(train, target=target, drop=drop)
        base_arg = loaded if chosen == "stacking" else next(iter(loaded.values()))
        result = train_ensemble(
            base_arg, ds.X, ds.y, method=chosen, n_estimators=n_estimators, **common
        )
        source = {"base": ", ".join(base), "train": str(train), "target": target}
    if test is not None:
        source["test"] = str(test)
    return result, source
