"""``afterfit tune``: tune a model's hyperparameters with Optuna, cross-validated.

::

    afterfit tune --model model.skops --data train.parquet --target y --trials 100 \
                  [--space space.toml] [--sampler tpe] [--pruner median] [--folds 5] \
                  [--storage postgresql://user@host/db --study churn] [--workers 4] \
                  [--backend dask --scheduler tcp://HOST:8786] [--nested] --out tune/

Writes ``index.html`` (Tuning section), ``results.json``, ``trials.csv``,
``best_model.skops`` and ``tables/`` under ``--out``. Without ``--storage`` the study lives
in ``<out>/study.db``: run the same command again after an interruption and it resumes,
keeping every finished trial. The study file is never replaced or removed by a later run.
"""

from __future__ import annotations

import contextlib
import math
import shutil
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from afterfit.cli._app import app, clear_errors, err_console, fmt, out_console
from afterfit.cli._options import (
    DropOpt,
    ModelOpt,
    OverwriteOpt,
    QuietOpt,
    SchedulerOpt,
    TargetOpt,
    TrustedTypeOpt,
    TrustOpt,
    out_folder,
)
from afterfit.errors import InvalidInputError

OutOpt = out_folder("the report and the study")


class SamplerOption(StrEnum):
    tpe = "tpe"
    gp = "gp"
    cmaes = "cmaes"
    random = "random"
    grid = "grid"


class PrunerOption(StrEnum):
    median = "median"
    halving = "halving"
    none = "none"


class TuneBackend(StrEnum):
    local = "local"
    dask = "dask"


def _study_in(out: Path, url: str) -> bool:
    """Whether the study's SQLite file lies inside ``out`` (the default)."""
    if not url.startswith("sqlite:///"):
        return False
    path = Path(url[len("sqlite:///") :])
    return out.resolve() in path.parents


def _print_summary(result: Any) -> None:
    level = f"{result.confidence:.0%}"
    table = Table(
        title=f"{result.metric} · {result.n_complete} complete, {result.n_pruned} pruned, "
        f"{result.n_failed} failed · {result.sampler} · {result.wall_time:.1f} s",
        title_justify="left",
    )
    table.add_column("")
    table.add_column(result.metric, justify="right")
    table.add_column(f"{level} CI", justify="right")
    ci = f"[{fmt(result.ci_low)}, {fmt(result.ci_high)}]" if math.isfinite(result.ci_low) else ""
    table.add_row("best trial (CV)", fmt(result.best_score), ci)
    n = result.nested
    if n is not None:
        table.add_row("tuned (nested)", fmt(n.tuned_mean),
                      f"[{fmt(n.tuned_low)}, {fmt(n.tuned_high)}]")  # fmt: skip
        table.add_row("default (nested)", fmt(n.default_mean),
                      f"[{fmt(n.default_low)}, {fmt(n.default_high)}]")  # fmt: skip
        table.add_row("tuned − default", fmt(n.diff_mean),
                      f"[{fmt(n.diff_low)}, {fmt(n.diff_high)}]")  # fmt: skip
    out_console.print(table)
    params = ", ".join(f"{k}={v!r}" for k, v in result.best_params.items())
    out_console.print(f"Best parameters: {params}", highlight=False, soft_wrap=True)


@app.command()
def tune(
    target: TargetOpt,
    model: ModelOpt = None,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Training data (CSV/Parquet) with the target; the search cross-validates on it."
        ),
    ] = None,
    trials: Annotated[int, typer.Option(help="Finished trials the study ends with.")] = 50,
    space: Annotated[
        Path | None,
        typer.Option(help="Search space (TOML/YAML); default: the built-in one for the model."),
    ] = None,
    sampler: Annotated[SamplerOption, typer.Option(help="Optuna sampler.")] = SamplerOption.tpe,
    pruner: Annotated[
        PrunerOption, typer.Option(help="Stop unpromising trials after a fold.")
    ] = PrunerOption.median,
    folds: Annotated[int, typer.Option(help="Cross-validation folds of each trial.")] = 5,
    metric: Annotated[
        str | None, typer.Option(help="Metric to optimise (default roc_auc, accuracy, r2).")
    ] = None,
    groups: Annotated[
        str | None, typer.Option(help="Column of row groups: group folds (left out of X).")
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(help="SQLite file or SQLAlchemy URL of the study (default <out>/study.db)."),
    ] = None,
    study: Annotated[str, typer.Option(help="Study name; an existing study resumes.")] = "afterfit",
    workers: Annotated[int, typer.Option(help="Worker processes sharing the study.")] = 1,
    backend: Annotated[
        TuneBackend, typer.Option(help="Where workers run: local processes or dask.")
    ] = TuneBackend.local,
    scheduler: SchedulerOpt = None,
    timeout: Annotated[
        float | None, typer.Option(help="Seconds after which no new trial starts.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the folds and the sampler.", min=0)] = 0,
    nested: Annotated[
        bool, typer.Option(help="Also run nested CV: tuned versus default with an interval.")
    ] = False,
    outer_folds: Annotated[int, typer.Option(help="Outer folds of --nested.")] = 5,
    drop: DropOpt = None,
    trust: TrustOpt = False,
    trusted_type: TrustedTypeOpt = None,
    save_model: Annotated[
        bool, typer.Option(help="Save the best model refitted on all rows (best_model.skops).")
    ] = True,
    out: OutOpt = Path("tune"),
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Tune a model's hyperparameters with Optuna (cross-validated, pruned by fold), in a
    study that resumes after an interruption and can be shared by several workers.

    Writes index.html, results.json, trials.csv and best_model.skops under --out.
    """
    with clear_errors(quiet=quiet):
        if model is None or data is None:
            raise InvalidInputError(
                "afterfit tune needs --model (the estimator to tune) and --data (training "
                "rows with the target column).",
                fix="pass --model model.skops --data train.parquet --target y.",
            )
        if backend is TuneBackend.local and scheduler is not None:
            raise InvalidInputError(
                "--scheduler was given without --backend dask.",
                fix="add --backend dask, or leave --scheduler out.",
            )
        from afterfit.outdir import prepare_out, writing
        from afterfit.selection.storage import redact, storage_url

        url = storage_url(storage, folder=out)
        # With the study's SQLite file inside --out, the folder is claimed now (marker and
        # all): the file is written there while the trials run, and is kept (never
        # replaced) when the report is published.
        created = not Path(out).exists()
        prepare_out(out, command="tune", overwrite=overwrite, claim=_study_in(out, url))
        with _removed_if_left_empty(Path(out), created):
            from afterfit.data import load_dataset
            from afterfit.models import load_model
            from afterfit.report.files import SCHEMA_NAME, document
            from afterfit.report.run import write_page
            from afterfit.report.sections.tuning import tuning_section
            from afterfit.selection.tune import tune as run_tune

            loaded = load_model(model, trust=trust, trusted_types=trusted_type or [])
            columns = [*(drop or []), *([groups] if groups else [])]
            ds = load_dataset(data, target=target, drop=columns)
            group_values = load_dataset(data, target=groups).y if groups else None
            result = _run_with_progress(
                quiet, trials, run_tune, loaded, ds.X, ds.y, space=space, n_trials=trials,
                sampler=sampler.value, pruner=pruner.value, cv=folds, metric=metric,
                groups=group_values, storage=url, study_name=study, workers=workers,
                backend=backend.value, scheduler=scheduler, timeout=timeout, random_state=seed,
                nested=nested, outer_cv=outer_folds,
            )  # fmt: skip

            source = {"model": str(model), "data": str(data), "target": target,
                      "storage": redact(url), "study": study}  # fmt: skip
            doc = document(SCHEMA_NAME, {"tuning": result.to_dict()}, source=source)
            facts = [
                ("model", str(model)),
                ("data", f"{data} ({len(ds.y):,} rows)"),
                ("study", f"{study} in {redact(url)}"),
            ]
            from afterfit.io import atomic_write

            with writing(out, command="tune", overwrite=overwrite) as stage:
                write_page(stage, [tuning_section(result)], doc, title="Tuning", facts=facts,
                           confidence=result.confidence)  # fmt: skip
                atomic_write(
                    stage.path / "trials.csv", lambda tmp: result.trials.to_csv(tmp, index=False)
                )
                if save_model and result.best_estimator is not None:
                    import skops.io as sio

                    atomic_write(
                        stage.path / "best_model.skops",
                        lambda tmp: sio.dump(result.best_estimator, tmp),
                    )
            if not quiet:
                _print_summary(result)
                for note in result.notes:
                    err_console.print(f"[dim]note:[/] {note}", highlight=False, soft_wrap=True)
                out_console.print(f"Wrote {out}/ (index.html, results.json, trials.csv).")


@contextlib.contextmanager
def _removed_if_left_empty(out: Path, created: bool) -> Iterator[None]:
    """A folder this run created is removed again when the run fails before anything but
    its marker is written (a bad search space); once the study has trials, it stays, to
    resume from."""
    from afterfit.outdir import MARKER

    try:
        yield
    except BaseException:
        if created and out.is_dir() and {p.name for p in out.iterdir()} <= {MARKER}:
            shutil.rmtree(out, ignore_errors=True)
        raise


def _run_with_progress(quiet: bool, total: int, func: Any, *args: Any, **kwargs: Any) -> Any:
    """Run the tuning showing trials done and the best value so far (one worker)."""
    from afterfit.cli._app import progress_bar

    with progress_bar(total, quiet, "tune trials") as progress:
        if progress is None or kwargs.get("workers", 1) != 1:
            return func(*args, **kwargs)
        return func(*args, progress=progress, **kwargs)
