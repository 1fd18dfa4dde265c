"""``afterfit cv``: cross-validate a model (refitted per fold) with honest intervals.

::

    afterfit cv --model model.skops --data train.parquet --target y --folds 5 --repeats 3 \
                [--splitter auto|kfold|stratified|group|stratified-group|timeseries] \
                [--groups COL] [--gap N] [--metrics roc_auc,log_loss] \
                [--compare other=other.skops ...] [--backend dask --scheduler ADDR] \
                [--n-jobs N] [--out cv/] [--trust] [--quiet]

Writes ``results.json`` (schema ``afterfit.cv``), ``tables/*.csv``, ``figures/*.png``,
``oof.parquet`` (out-of-fold predictions) and ``index.html`` under ``--out``. With
``--compare``, every model is cross-validated on the same folds and compared with the
corrected resampled paired t test.
"""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from afterfit.cli._app import app, clear_errors, fmt, out_console, stage_progress
from afterfit.cli._options import (
    ConfidenceOpt,
    DropOpt,
    FiguresOpt,
    ModelOpt,
    OverwriteOpt,
    QuietOpt,
    SchedulerOpt,
    TargetOpt,
    TrustedTypeOpt,
    TrustOpt,
    WeightOpt,
    out_folder,
)
from afterfit.errors import InvalidInputError

OutOpt = out_folder("index.html, results.json, tables, oof.parquet")


class SplitterOption(StrEnum):
    auto = "auto"
    kfold = "kfold"
    stratified = "stratified"
    group = "group"
    stratified_group = "stratified-group"
    timeseries = "timeseries"


class CVBackendOption(StrEnum):
    local = "local"
    threads = "threads"
    dask = "dask"


def _named(specs: list[str]) -> list[tuple[str, Path]]:
    """``NAME=PATH`` (or a bare ``PATH``, named after the file) for every --compare."""
    out = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = Path(spec).stem, spec
        if not name.strip() or not path.strip():
            raise InvalidInputError(
                f"--compare {spec!r} is not NAME=PATH.",
                fix="pass --compare other=other.skops (repeat for more models).",
            )
        out.append((name.strip(), Path(path.strip())))
    return out


def _column(frame: Any, name: str | None, option: str) -> Any:
    if name is None:
        return None
    if name not in frame.columns:
        cols = ", ".join(map(str, list(frame.columns)[:12]))
        raise InvalidInputError(
            f"the {option} column {name!r} is not in the data (columns: {cols}"
            f"{', ...' if len(frame.columns) > 12 else ''}).",
            fix=f"pass {option} with one of the data's column names.",
        )
    return frame[name].to_numpy()


def _check_same_features(models: dict[str, Any]) -> None:
    """Models trained on different feature sets cannot be cross-validated on one table."""
    names = list(models)
    first = models[names[0]]
    for name in names[1:]:
        other = models[name]
        a, b = first.feature_names, other.feature_names
        if a is not None and b is not None:
            if set(a) != set(b):
                only_a = sorted(set(a) - set(b))[:5]
                only_b = sorted(set(b) - set(a))[:5]
                raise InvalidInputError(
                    f"models {names[0]!r} and {name!r} were trained on different features "
                    f"(only in {names[0]!r}: {only_a or 'none'}; only in {name!r}: "
                    f"{only_b or 'none'}); a paired comparison needs one feature table.",
                    fix="compare models trained on the same columns, or cross-validate each "
                    "on its own data with a separate afterfit cv.",
                )
            continue
        na = getattr(first, "n_features", None)
        nb = getattr(other, "n_features", None)
        if na is not None and nb is not None and na != nb:
            raise InvalidInputError(
                f"models {names[0]!r} ({na} features) and {name!r} ({nb} features) were "
                "trained on different feature sets.",
                fix="compare models trained on the same columns.",
            )


def _ci(low: float, high: float) -> str:
    # Brackets, not a dash: "-0.0126–-0.0001" reads as a subtraction (issue 15).
    return f"[{fmt(low)}, {fmt(high)}]" if math.isfinite(low) and math.isfinite(high) else "—"


def _print(results: dict[str, Any], comparison: Any) -> None:
    first = next(iter(results.values()))
    conf = f"{first.confidence:.0%}"
    several = len(results) > 1
    table = Table(
        title=f"{first.task} · {first.n_rows:,} rows · {first.n_folds} folds "
        f"({first.splitter}, {first.n_repeats} repeat(s))",
        title_justify="left",
    )
    columns = ["model"] if several else []
    columns += ["metric", "mean", f"{conf} CI (corrected)", "naive CI"]
    for col in columns:
        table.add_column(col, justify="left" if col in ("model", "metric") else "right")
    for name, res in results.items():
        for row in res.summary.itertuples():
            cells = [name] if several else []
            cells += [row.metric, fmt(row.mean), _ci(row.ci_low, row.ci_high),
                      _ci(row.naive_low, row.naive_high)]  # fmt: skip
            table.add_row(*cells)
    out_console.print(table)
    if comparison is None:
        return
    comp = Table(title=f"Paired comparison with {comparison.baseline} (same folds, corrected t)",
                 title_justify="left")  # fmt: skip
    for col in ("model", "metric", "difference", f"{conf} CI", "p", "better"):
        comp.add_column(col, justify="left" if col in ("model", "metric", "better") else "right")
    for r in comparison.frame().itertuples():
        comp.add_row(r.model, r.metric, fmt(r.difference), _ci(r.ci_low, r.ci_high),
                     f"{r.p_value:.3g}" if math.isfinite(r.p_value) else "—", r.better)  # fmt: skip
    out_console.print(comp)


@app.command()
def cv(
    target: TargetOpt,
    model: ModelOpt = None,
    data: Annotated[
        Path | None,
        typer.Option(help="Training data (CSV or Parquet) with the target column."),
    ] = None,
    folds: Annotated[int, typer.Option(help="Folds per repeat.")] = 5,
    repeats: Annotated[int, typer.Option(help="Repeats with different shuffles.")] = 1,
    splitter: Annotated[
        SplitterOption,
        typer.Option(
            help="auto: stratified (classification), kfold (regression), group (--groups)."
        ),
    ] = SplitterOption.auto,
    groups: Annotated[
        str | None,
        typer.Option(help="Column of groups kept whole in one fold (left out of the features)."),
    ] = None,
    gap: Annotated[int, typer.Option(help="timeseries: rows left out before each test block.")] = 0,
    metrics: Annotated[
        str | None,
        typer.Option(help="Comma-separated metrics, names as afterfit evaluate reports them."),
    ] = None,
    compare: Annotated[
        list[str] | None,
        typer.Option(help="Another model, NAME=PATH, compared on the same folds; repeat."),
    ] = None,
    weight: WeightOpt = None,
    confidence: ConfidenceOpt = 0.95,
    seed: Annotated[
        int, typer.Option(help="Seed of the folds (and of unseeded models).", min=0)
    ] = 0,
    backend: Annotated[
        CVBackendOption | None,
        typer.Option(help="Where the folds run: local processes (default), threads, dask."),
    ] = None,
    scheduler: SchedulerOpt = None,
    n_jobs: Annotated[int, typer.Option(help="Workers; -1: every core.")] = -1,
    drop: DropOpt = None,
    trust: TrustOpt = False,
    trusted_type: TrustedTypeOpt = None,
    out: OutOpt = Path("cv"),
    overwrite: OverwriteOpt = False,
    figures: FiguresOpt = True,
    quiet: QuietOpt = False,
) -> None:
    """Cross-validate a model: refit it on each training fold, score each test fold with
    afterfit's metrics, and give each mean the corrected resampled t interval (Nadeau &
    Bengio), which allows for the training rows the folds share. With --compare, compare
    models on the same folds with the corrected paired t test.

    Writes index.html, results.json, tables/*.csv, figures/*.png and oof.parquet
    (out-of-fold predictions) under --out.
    """
    with clear_errors(quiet=quiet):
        from afterfit.outdir import prepare_out

        prepare_out(out, command="cv", overwrite=overwrite)
        if model is None or data is None:
            raise InvalidInputError(
                "afterfit cv needs --model and --data (the training data, with the target).",
                fix="pass --model model.skops --data train.parquet --target y.",
            )
        from afterfit.data import check_features, load_dataset, read_table
        from afterfit.models import load_model
        from afterfit.parallel import parallel_backend
        from afterfit.report.cv_folder import write_cv
        from afterfit.selection.cv import compare_cv_models, cross_validate

        others = _named(compare or [])
        main_name = model.stem or "model"
        names = [main_name, *(n for n, _ in others)]
        if len(set(names)) != len(names):
            raise InvalidInputError(
                f"two models have the same name ({', '.join(names)}).",
                fix="name each compared model: --compare NAME=PATH.",
            )
        frame = read_table(data)
        group_values = _column(frame, groups, "--groups")
        weights = _column(frame, weight, "--weight")
        extra = [c for c in (groups, weight) if c is not None and c != target]
        ds = load_dataset(frame, target=target, drop=[*(drop or []), *extra])
        loaded = {main_name: load_model(model, trust=trust, trusted_types=trusted_type or [])}
        for name, path in others:
            loaded[name] = load_model(path, trust=trust, trusted_types=trusted_type or [])
        _check_same_features(loaded)
        X = check_features(ds.X, loaded[main_name])
        for m in list(loaded.values())[1:]:
            check_features(ds.X, m)  # the same table suits every model
        name = (backend.value if backend is not None else None) or (
            "dask" if scheduler else "local"
        )
        common: dict[str, Any] = dict(
            cv=folds, n_repeats=repeats, groups=group_values, splitter=splitter.value, gap=gap,
            metrics=metrics, sample_weight=weights, random_state=seed, confidence=confidence,
        )  # fmt: skip
        # cross_validate names its one model "model"; the bar names it as the user did.
        shown = stage_progress(
            quiet, cumulative=True, names={"model": main_name}, prefix="cv folds: "
        )
        with parallel_backend(name, scheduler, n_jobs=n_jobs), shown as progress:
            if others:
                comparison = compare_cv_models(loaded, X, ds.y, progress=progress, **common)
                results = comparison.results
            else:
                comparison = None
                model_cv = cross_validate(loaded[main_name], X, ds.y, progress=progress, **common)
                results = {main_name: model_cv}
        source = {
            "model": str(model),
            "compare": {n: str(p) for n, p in others},
            "data": str(data),
            "target": target,
            "groups": groups,
            "backend": name,
        }
        written = write_cv(out, results, comparison, source=source, figures=figures,
                           row_index=ds.X.index.to_numpy(), overwrite=overwrite)  # fmt: skip
        if not quiet:
            _print(results, comparison)
            out_console.print(f"Wrote {len(written)} files to {out}/ (index.html, results.json, "
                              "tables/, oof.parquet).")  # fmt: skip
