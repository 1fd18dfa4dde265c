"""``afterfit calibrate``: how calibrated a model is, and a calibration map fitted for it.

Two uses::

    afterfit calibrate --model m.skops --data test.parquet --target y
        the calibration of the model as it is, on held-out data: reliability diagram with
        bootstrap bands, ECE and MCE (equal-width and equal-mass bins), Brier score and its
        decomposition (reliability, resolution, uncertainty), log loss.

    afterfit calibrate --model m.skops --calibration-data cal.parquet --data test.parquet \\
                       --target y --method isotonic [--save-model calibrated.skops]
        fits the map on the calibration split, then measures the model before and after on
        the held-out --data (never the calibration split), with paired intervals of the
        differences; --save-model writes the calibrated model as a .skops file that
        ``afterfit evaluate`` and ``afterfit.load_model`` load without --trust (an
        existing file only with --overwrite, checked before any work; an input never).

Writes under --out (atomically): ``calibration.json``, ``tables/calibration_*.csv`` and
``figures/calibration_*.png``. The keys of calibration.json::

    schema, schema_version   "afterfit.calibration", "1.0"
    afterfit_version, created
    source                   model, data, calibration_data (or null), target
    calibrator               null, or {method, estimator, response_method, classes,
                             n_calibration_rows, maps: [{class, slope, intercept}] (sigmoid)
                             or [{class, n_points}] (isotonic), or temperature}
    saved_model              null, or the --save-model path
    notes                    remarks (e.g. why "model" is null)
    model                    null (a model with decision scores only), or the report
                             of the model as given: task, n_rows, classes,
                             positive_label, weighted, settings, metrics (ece_uniform,
                             ece_quantile, mce_uniform, mce_quantile, brier, log_loss;
                             multiclass: top label, classwise_ece_*, and per-class rows),
                             reliability, reliability_per_class, brier_decomposition,
                             brier_decomposition_per_class
    calibrated               null, or the same report for the calibrated model
    comparison               null, or {names, settings, metrics: [{metric, before, after,
                             difference}], reliability_before, reliability_after}

(:mod:`afterfit.calibration.files` describes every key.) Errors are one paragraph on stderr
with exit code 2; warnings (a small split for isotonic regression...) are printed and the
run goes on.
"""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from afterfit.cli._app import app, clear_errors, err_console, fmt, out_console, progress_bar
from afterfit.cli._inputs import match_label, weight_column
from afterfit.cli._options import (
    BootstrapMethod,
    BootstrapMethodOpt,
    ConfidenceOpt,
    DropOpt,
    FiguresOpt,
    OverwriteOpt,
    QuietOpt,
    SeedOpt,
    TargetOpt,
    TrustedTypeOpt,
    TrustOpt,
    WeightOpt,
    out_folder,
)
from afterfit.errors import InvalidInputError

OutOpt = out_folder("calibration.json, tables and figures")


class MethodOption(StrEnum):
    sigmoid = "sigmoid"
    isotonic = "isotonic"
    temperature = "temperature"


class StrategyOption(StrEnum):
    uniform = "uniform"
    quantile = "quantile"


def _interval(low: float, high: float) -> str:
    return f"[{fmt(low)}, {fmt(high)}]" if math.isfinite(low) else ""


def _print_report(report: Any) -> None:
    title = f"calibration · {report.task} · {report.n_rows:,} rows"
    if report.positive_label is not None:
        title += f" · positive class '{report.positive_label}'"
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column(f"{report.settings.confidence:.0%} CI", justify="right")
    table.add_column("method")
    rows = list(report.metrics.overall()) + list(report.decomposition.components()[1:])
    for row in rows:
        table.add_row(row.metric, fmt(row.value), _interval(row.ci_low, row.ci_high), row.method)
    out_console.print(table)
    out_console.print(
        "brier_binned = reliability - resolution + uncertainty (exact, binned forecasts); "
        "brier = brier_binned + residual.",
        style="dim",
    )


def _print_comparison(comparison: Any) -> None:
    before, after = comparison.names
    table = Table(
        title=f"calibration on held-out data · {comparison.task} · {comparison.n_rows:,} rows",
        title_justify="left",
    )
    table.add_column("metric")
    table.add_column(before, justify="right")
    table.add_column(after, justify="right")
    table.add_column(f"difference [{comparison.settings.confidence:.0%} CI, paired]",
                     justify="right")  # fmt: skip
    for r in comparison.rows:
        d = r.difference
        table.add_row(
            r.metric,
            f"{fmt(r.before.value)} {_interval(r.before.ci_low, r.before.ci_high)}",
            f"{fmt(r.after.value)} {_interval(r.after.ci_low, r.after.ci_high)}",
            f"{d.value:+.4f} {_interval(d.ci_low, d.ci_high)}" if math.isfinite(d.value) else "—",
        )
    out_console.print(table)


def _check_options(
    data: Path,
    calibration_data: Path | None,
    method: MethodOption | None,
    save_model: Path | None,
) -> None:
    if calibration_data is None:
        if method is not None or save_model is not None:
            flag = "--method" if method is not None else "--save-model"
            raise InvalidInputError(
                f"{flag} needs --calibration-data: the map is fitted on a calibration split.",
                fix="add --calibration-data cal.parquet (rows the model was not trained on, "
                f"other than --data), or drop {flag} to report the model's calibration as is.",
            )
        return
    if calibration_data.resolve() == data.resolve():
        raise InvalidInputError(
            f"--calibration-data and --data are the same file ({data}); measured on its own "
            "calibration split a calibrated model looks better than it is.",
            fix="split the held-out data in two: one part to fit the map "
            "(--calibration-data), the other to measure it (--data).",
        )
    if save_model is not None and save_model.suffix.lower() != ".skops":
        raise InvalidInputError(
            f"--save-model {save_model} must end in .skops: the calibrated model is saved with "
            "skops, which loads without running code.",
            fix="pass --save-model calibrated.skops.",
        )


def _not_pooled(frame: Any, path: Path) -> None:
    """Refuse an out-of-fold file of several models (afterfit cv --compare): a calibration
    map fitted to pooled scores of different models calibrates none of them."""
    if "n_folds" in frame.columns:
        from afterfit.selection.cv_files import model_rows

        model_rows(frame, None, source=str(path))


@app.command()
def calibrate(
    model: Annotated[
        Path, typer.Option(help="Model file: .skops, .onnx, XGBoost/LightGBM, .pkl (--trust).")
    ],
    data: Annotated[
        Path,
        typer.Option(help="Held-out data (CSV or Parquet) to measure calibration on."),
    ],
    target: TargetOpt,
    calibration_data: Annotated[
        Path | None,
        typer.Option(
            help="Calibration split (CSV or Parquet) to fit the map on: rows neither used to "
            "train the model nor in --data. Without it, the model is only measured."
        ),
    ] = None,
    method: Annotated[
        MethodOption | None,
        typer.Option(
            help="Calibration map: sigmoid (Platt; the default), isotonic, or temperature "
            "(one scalar; needs probabilities)."
        ),
    ] = None,
    save_model: Annotated[
        Path | None,
        typer.Option(
            help="Save the calibrated model here (.skops). An existing file needs "
            "--overwrite; an input file is never replaced."
        ),
    ] = None,
    out: OutOpt = Path("results"),
    overwrite: OverwriteOpt = False,
    n_bins: Annotated[int, typer.Option(help="Bins of the reliability diagram and ECE.")] = 10,
    strategy: Annotated[
        StrategyOption,
        typer.Option(
            help="Bins of the diagram and Brier decomposition: equal-width (uniform) or "
            "equal-mass (quantile). ECE is reported both ways."
        ),
    ] = StrategyOption.uniform,
    pos_label: Annotated[
        str | None, typer.Option(help="Binary: the class whose probability is assessed.")
    ] = None,
    weight: WeightOpt = None,
    drop: DropOpt = None,
    trust: TrustOpt = False,
    trusted_type: TrustedTypeOpt = None,
    confidence: ConfidenceOpt = 0.95,
    n_resamples: Annotated[int, typer.Option(help="Bootstrap resamples (0: no intervals).")] = 1000,
    bootstrap_method: BootstrapMethodOpt = BootstrapMethod.bca,
    seed: SeedOpt = 0,
    figures: FiguresOpt = True,
    quiet: QuietOpt = False,
) -> None:
    """Measure a model's calibration; with --calibration-data, fit a map and compare.

    Writes calibration.json, tables/calibration_*.csv and figures/calibration_*.png
    under --out.
    """
    with clear_errors(quiet=quiet):
        from afterfit.outdir import prepare_out

        prepare_out(out, command="calibrate", overwrite=overwrite)
        _check_options(data, calibration_data, method, save_model)
        if save_model is not None:
            from afterfit.outdir import prepare_file

            inputs = {"--model": model, "--data": data, "--calibration-data": calibration_data}
            prepare_file(save_model, overwrite=overwrite, inputs=inputs, option="--save-model")
        from afterfit.calibration import (
            calibrate as fit_map,
        )
        from afterfit.calibration import (
            compare_calibration,
            evaluate_calibration,
            write_calibration,
        )
        from afterfit.data import load_dataset
        from afterfit.models import SklearnModel, load_model

        loaded = load_model(model, trust=trust, trusted_types=trusted_type or [])
        if save_model is not None and not isinstance(loaded, SklearnModel):
            raise InvalidInputError(
                f"--save-model saves scikit-learn models only; {model} is loaded as a "
                f"{type(loaded).__name__}.",
                fix="drop --save-model (the report is still written). To deploy a calibrated "
                "native booster, use its scikit-learn wrapper (XGBoost: XGBClassifier()."
                "load_model(file); LightGBM: a model trained with LGBMClassifier), saved "
                "with skops: its calibrated model can be saved and bundled.",
            )
        columns = [*(drop or []), *([weight] if weight else [])]
        test = load_dataset(data, target=target, drop=columns)
        _not_pooled(test.X, data)
        test_w = weight_column(data, weight) if weight else None
        options: dict[str, Any] = {
            "n_bins": n_bins,
            "strategy": strategy.value,
            "n_resamples": n_resamples,
            "confidence": confidence,
            "bootstrap_method": bootstrap_method.value,
            "random_state": seed,
        }
        label = match_label(pos_label, loaded.classes_)
        runs = 1 if calibration_data is None else 3
        calibrated_report = comparison = calibrator = None
        source: dict[str, Any] = {
            "model": str(model),
            "data": str(data),
            "calibration_data": None if calibration_data is None else str(calibration_data),
            "target": target,
        }
        notes: list[str] = []
        # A model with decision scores only has no calibration to measure as it is: with a
        # calibration split, only the calibrated model is reported.
        measure_model = calibration_data is None or bool(loaded.scores_are_probabilities)
        if not measure_model:
            runs = 1
            notes.append(
                "The model gives decision scores, not probabilities: its calibration as is "
                "cannot be measured, so only the calibrated model is reported."
            )
        report = None
        with progress_bar(n_resamples * runs, quiet) as progress:
            if measure_model:
                report = evaluate_calibration(loaded, test.X, test.y, sample_weight=test_w,
                                            pos_label=label, progress=progress,
                                            **options)  # fmt: skip
            if calibration_data is not None:
                cal = load_dataset(calibration_data, target=target, drop=columns)
                _not_pooled(cal.X, calibration_data)
                cal_w = weight_column(calibration_data, weight) if weight else None
                chosen = (method or MethodOption.sigmoid).value
                fitted = fit_map(loaded, cal.X, cal.y, method=chosen, sample_weight=cal_w)
                calibrator = fitted.summary()
                calibrated_report = evaluate_calibration(
                    fitted, test.X, test.y, sample_weight=test_w, pos_label=label,
                    progress=progress, **options,
                )  # fmt: skip
                if report is not None:
                    comparison = compare_calibration(
                        loaded, fitted, test.X, test.y, sample_weight=test_w,
                        pos_label=label, progress=progress, **options,
                    )  # fmt: skip
        if calibrator is not None and save_model is not None:
            import skops.io as sio

            from afterfit.io import atomic_write

            atomic_write(save_model, lambda tmp: sio.dump(fitted, tmp))
        written = write_calibration(
            out, report, calibrated=calibrated_report, comparison=comparison,
            calibrator=calibrator, saved_model=None if save_model is None else str(save_model),
            source=source, notes=notes, figures=figures, overwrite=overwrite,
        )  # fmt: skip
    if quiet:
        return
    for note in notes:
        err_console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    if comparison is None:
        _print_report(report if report is not None else calibrated_report)
    else:
        _print_comparison(comparison)
        if save_model is not None:
            out_console.print(f"Saved the calibrated model to {save_model}.")
    out_console.print(
        f"Wrote {len(written)} files to {out}/ (calibration.json, tables/, "
        f"{'figures/' if figures else 'no figures'})."
    )
