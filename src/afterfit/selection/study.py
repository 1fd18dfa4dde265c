"""Hyperparameter tuning with Optuna: cross-validated trials, pruning across folds, studies
that persist and resume, parallel worker processes, and an honest interval for the best score.

Each trial clones the estimator, sets the sampled parameters and fits it fold by fold
(:func:`afterfit.selection.cv.fit_and_score`); after each fold it reports the running mean to
Optuna, whose pruner may stop it there. The study lives in a storage (SQLite file or any
SQLAlchemy URL): a run that is interrupted loses only its running trials, and running the
same command again continues the study until it holds ``n_trials`` finished trials.

Several workers (``workers=N``) are N processes, each running ``study.optimize`` on the same
storage, not threads (the GIL would serialise the fits). Before it starts, each trial
checks how many trials were created before it and are still running or finished; a trial
beyond ``n_trials`` stops at once, so two workers (on one machine or several) end with
exactly ``n_trials`` finished trials between them.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from afterfit import jsonsafe
from afterfit.errors import InvalidInputError, ModelError
from afterfit.selection.spaces import SearchSpace, resolve_space

__all__ = ["PRUNERS", "SAMPLERS", "TuningResult", "run_study"]

SAMPLERS: tuple[str, ...] = ("tpe", "gp", "cmaes", "random", "grid")
PRUNERS: tuple[str, ...] = ("median", "halving", "none")
#: Default metric per task.
DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}
#: User attribute marking a trial started beyond ``n_trials`` (stopped, not counted).
SURPLUS = "afterfit_surplus"
#: User attribute naming the worker (``host:pid``) that runs a trial.
WORKER = "afterfit_worker"
#: Seconds between a worker's heartbeats; a trial silent for twice this is failed.
HEARTBEAT = 30


class _Surplus(Exception):
    """A trial created after the study already had ``n_trials`` running or finished."""


# --- result ------------------------------------------------------------------------------


@dataclass
class TuningResult:
    """What a tuning run found.

    Attributes
    ----------
    best_params : dict
        The best trial's parameters.
    best_score : float
        Its mean score across the folds.
    ci_low, ci_high : float
        Corrected resampled t interval (Nadeau & Bengio) of that mean. The best of many
        trials is chosen on these same folds, so it is optimistic: ``nested=True`` gives an
        honest estimate.
    fold_scores : ndarray
        The best trial's score on each fold.
    metric : str
    direction : {"maximize", "minimize"}
    trials : DataFrame
        One row per trial: ``number, state, value, duration_s, worker`` and ``param_*``.
    study : optuna.Study
        A snapshot of the study in memory (the live one: ``optuna.load_study`` on the
        storage).
    best_estimator : estimator or None
        The estimator refitted on all rows with ``best_params`` (``refit=True``).
    importances : dict of str to float
        Parameter importances (share of the objective's variance, sums to 1).
    nested : NestedResult or None
        Tuned versus default on outer folds (``nested=True``).
    """

    best_params: dict[str, Any]
    best_score: float
    ci_low: float
    ci_high: float
    fold_scores: np.ndarray
    metric: str
    direction: str
    trials: pd.DataFrame
    study: Any
    space: SearchSpace
    sampler: str
    pruner: str
    n_trials: int
    n_splits: int
    n_train: float
    n_test: float
    confidence: float
    storage: str
    study_name: str
    wall_time: float
    workers: int = 1
    best_estimator: Any = None
    importances: dict[str, float] = field(default_factory=dict)
    importance_method: str = ""
    notes: list[str] = field(default_factory=list)
    nested: Any = None

    def __repr__(self) -> str:
        from afterfit.display import one_line, with_interval

        best = with_interval(f"best {self.metric}", self.best_score, self.ci_low, self.ci_high)
        params = ", ".join(f"{k}={v!r}" for k, v in self.best_params.items())
        trials = f"{self.n_complete} of {len(self.trials)} trials complete"
        return one_line("TuningResult", best, f"at {params}" if params else None, trials)

    def _repr_html_(self) -> str:
        """Jupyter's display: headline with intervals, main figure, findings, tables."""
        from afterfit.display import html

        return html(self)

    @property
    def n_complete(self) -> int:
        return int((self.trials["state"] == "COMPLETE").sum()) if len(self.trials) else 0

    @property
    def n_pruned(self) -> int:
        return int((self.trials["state"] == "PRUNED").sum()) if len(self.trials) else 0

    @property
    def n_failed(self) -> int:
        return int((self.trials["state"] == "FAIL").sum()) if len(self.trials) else 0

    def frame(self) -> pd.DataFrame:
        """The trials table (a copy)."""
        return self.trials.copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (the trials are in ``trials.csv``)."""
        out = {
            "metric": self.metric,
            "direction": self.direction,
            "best_params": self.best_params,
            "best_score": self.best_score,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "confidence": self.confidence,
            "interval": "corrected resampled t (Nadeau & Bengio 2003) across folds",
            "fold_scores": self.fold_scores.tolist(),
            "n_splits": self.n_splits,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "sampler": self.sampler,
            "pruner": self.pruner,
            "n_trials": self.n_trials,
            "n_complete": self.n_complete,
            "n_pruned": self.n_pruned,
            "n_failed": self.n_failed,
            "workers": self.workers,
            "storage": self.storage,
            "study_name": self.study_name,
            "wall_time_s": self.wall_time,
            "space": self.space.to_dict(),
            "space_source": self.space.source,
            "importances": self.importances,
            "importance_method": self.importance_method,
            "notes": list(self.notes),
            "nested": None if self.nested is None else self.nested.to_dict(),
        }
        return jsonsafe.tree(out)


# --- pieces shared with nested CV ----------------------------------------------------------


def unwrap_estimator(model: Any) -> Any:
    """The scikit-learn estimator inside an afterfit Model adapter (or ``model`` itself);
    :class:`ModelError` for a model that cannot be refitted (ONNX, torch)."""
    from afterfit.selection.cv import refittable_estimator

    return refittable_estimator(model)


def infer_task(estimator: Any, y: Any) -> str:
    """``"binary"``, ``"multiclass"`` or ``"regression"`` from the estimator and target."""
    from afterfit.models.sklearn import estimator_kind

    kind = estimator_kind(estimator)
    if kind == "regressor":
        return "regression"
    values = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
    if kind is None and values.dtype.kind == "f" and np.unique(values).size > 20:
        return "regression"
    return "binary" if np.unique(values).size <= 2 else "multiclass"


def higher_is_better(metric: str) -> bool:
    """Whether larger values of ``metric`` are better (losses and errors: no)."""
    from afterfit.selection.cv import LOWER_IS_BETTER

    return metric not in LOWER_IS_BETTER


def check_metric(metric: str, task: str, estimator: Any) -> None:
    """Raise :class:`InvalidInputError` for a metric cross-validation cannot compute."""
    from afterfit.selection.cv import cv_metric_names

    probabilities = task != "regression" and hasattr(estimator, "predict_proba")
    allowed = cv_metric_names(task, probabilities=probabilities)
    if metric not in allowed:
        raise InvalidInputError(
            f"The metric {metric!r} is not available for a {task} model"
            + (" without predict_proba" if task != "regression" and not probabilities else "")
            + ".",
            fix=f"choose among {', '.join(allowed)}.",
        )


def make_splits(
    cv: Any, X: Any, y: Any, groups: Any, *, task: str, random_state: int | None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train, test)`` index pairs from a number of folds, a splitter or ready pairs."""
    from afterfit.selection.splitters import make_splitter, split_indices

    if isinstance(cv, int | np.integer) and not isinstance(cv, bool):
        splitter = make_splitter(
            "auto", int(cv), 1, shuffle=True, random_state=random_state, task=task,
            y=y, groups=groups,
        )  # fmt: skip
    else:
        splitter = cv
    return split_indices(splitter, X, y, groups)


def fold_score(
    estimator: Any, X: Any, y: Any, train: np.ndarray, test: np.ndarray, *, task: str, metric: str
) -> float:
    """Fit a clone of ``estimator`` on ``train`` rows and score ``metric`` on ``test``."""
    from afterfit.selection.cv import fit_and_score

    result = fit_and_score(estimator, X, y, train, test, task=task, metrics=[metric])
    return float(result.metrics[metric])


# --- the objective and one worker -----------------------------------------------------------


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _fail_dead_trials(study: Any) -> int:
    """Mark FAIL the running trials of workers on this machine whose process is gone (an
    interrupted run), so a resumed study neither waits for nor counts them."""
    from optuna.trial import TrialState

    host = socket.gethostname()
    failed = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = str(t.user_attrs.get(WORKER, ""))
        name, _, pid = owner.rpartition(":")
        if name == host and pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(Exception):  # another worker got there first
                study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
                failed += 1
    return failed


def _finished(study: Any) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


class Objective:
    """The cross-validated objective of one trial (a class, so it pickles to workers)."""

    def __init__(
        self,
        estimator: Any,
        X: Any,
        y: Any,
        splits: Sequence[tuple[np.ndarray, np.ndarray]],
        space: SearchSpace,
        *,
        task: str,
        metric: str,
        n_trials: int,
    ) -> None:
        self.estimator = estimator
        self.X, self.y = X, y
        self.splits = list(splits)
        self.space = space
        self.task, self.metric = task, metric
        self.n_trials = int(n_trials)

    def _claim(self, trial: Any) -> None:
        """Stop a trial started when ``n_trials`` others were already running or done."""
        from optuna.trial import TrialState

        states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
        ahead = sum(
            1
            for t in trial.study.get_trials(deepcopy=False, states=states)
            if t.number < trial.number and not t.user_attrs.get(SURPLUS)
        )
        if ahead >= self.n_trials:
            trial.set_user_attr(SURPLUS, True)
            trial.study.stop()
            raise _Surplus

    def __call__(self, trial: Any) -> float:
        import optuna
        from sklearn.base import clone

        trial.set_user_attr(WORKER, _worker_name())
        self._claim(trial)
        params = self.space.suggest(trial)
        estimator = clone(self.estimator).set_params(**params)
        scores: list[float] = []
        for step, (train, test) in enumerate(self.splits):
            score = fold_score(
                estimator, self.X, self.y, train, test, task=self.task, metric=self.metric
            )
            scores.append(score)
            # Pruning compares running means at the same fold across trials.
            trial.report(float(np.mean(scores)), step)
            if step < len(self.splits) - 1 and trial.should_prune():
                trial.set_user_attr("fold_scores", scores)
                raise optuna.TrialPruned(f"pruned after fold {step + 1}")
        trial.set_user_attr("fold_scores", scores)
        return float(np.mean(scores))


def make_sampler(name: str, space: SearchSpace, seed: int | None, n_trials: int) -> Any:
    """The Optuna sampler called ``name``, seeded."""
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=min(10, max(2, n_trials // 5))
        )
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=min(10, max(2, n_trials // 5)))
    if name == "cmaes":
        # CMA-ES searches numeric parameters; categorical ones are sampled at random.
        independent = optuna.samplers.RandomSampler(seed=seed)
        return optuna.samplers.CmaEsSampler(seed=seed, independent_sampler=independent,
                                            warn_independent_sampling=False)  # fmt: skip
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(space.grid(), seed=seed)
    raise InvalidInputError(
        f"The sampler must be one of {', '.join(map(repr, SAMPLERS))}; received {name!r}.",
        fix="pass sampler='tpe' (the default), 'gp', 'cmaes', 'random' or 'grid'.",
    )


def make_pruner(name: str, n_splits: int) -> Any:
    """The Optuna pruner called ``name`` (steps are folds)."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise InvalidInputError(
        f"The pruner must be one of {', '.join(map(repr, PRUNERS))}; received {name!r}.",
        fix="pass pruner='median' (the default), 'halving' or 'none'.",
    )


def run_worker(
    objective: Objective,
    storage_url: str | None,
    study_name: str,
    sampler: str,
    pruner: str,
    seed: int | None,
    timeout: float | None,
    storage_obj: Any = None,
    callback: Callable[..., None] | None = None,
) -> int:
    """One worker: load the study and optimise until it has ``n_trials`` finished trials,
    the timeout passes, or a grid is exhausted. Returns the trials this worker finished."""
    import optuna

    from afterfit.selection.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = storage_obj if storage_obj is not None else open_storage(
        storage_url, check=False, heartbeat=HEARTBEAT)  # fmt: skip
    try:
        return _optimize(study_name, storage, objective, sampler, pruner, seed, timeout, callback)
    finally:
        if storage_obj is None:
            # Close this worker's connections (a pooled process lives on): SQLite then
            # folds its write-ahead log back into the study file.
            _dispose(storage)


def _optimize(
    study_name: str,
    storage: Any,
    objective: Objective,
    sampler: str,
    pruner: str,
    seed: int | None,
    timeout: float | None,
    callback: Callable[..., None] | None,
) -> int:
    import optuna
    from optuna.trial import TrialState

    n_trials = objective.n_trials
    _owned_at_creation(storage)
    study = optuna.load_study(
        study_name=study_name,
        storage=storage,
        sampler=make_sampler(sampler, objective.space, seed, n_trials),
        pruner=make_pruner(pruner, len(objective.splits)),
    )
    _fail_dead_trials(study)
    if _finished(study) >= n_trials:
        return 0
    done = {"finished": 0, "failed": 0}

    def after(study: Any, trial: Any) -> None:
        if trial.user_attrs.get(SURPLUS):
            return
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
            done["finished"] += 1
            if callback is not None:
                callback(1, info=_best_so_far(study, objective.metric))
        elif trial.state == TrialState.FAIL:
            done["failed"] += 1
        # A space where every trial fails would otherwise run forever.
        if _finished(study) >= n_trials or done["failed"] > max(10, n_trials):
            study.stop()

    study.optimize(
        objective, n_trials=None, timeout=timeout, catch=(Exception,), callbacks=[after],
        gc_after_trial=False,
    )  # fmt: skip
    return done["finished"]


def _owned_at_creation(storage: Any) -> None:
    """Make ``storage`` create every new trial with this worker's name in the same
    transaction (a template trial), instead of a bare RUNNING trial.

    Optuna's ``ask`` creates the trial, then the sampler works (seconds, for some), then
    the objective starts. A worker killed in between left a running trial with no owner,
    which no resume could tell was dead: the study ended a trial short. Queuing an owned
    trial for ``ask`` to take instead is not safe on SQLite, where two workers can take the
    same queued trial (its row lock is a no-op there).
    """
    from optuna.storages import RDBStorage
    from optuna.trial import TrialState, create_trial

    # The cached wrapper Optuna puts around an RDBStorage calls its _create_new_trial.
    name = "_create_new_trial" if isinstance(storage, RDBStorage) else "create_new_trial"
    original = getattr(storage, name, None)
    if original is None or getattr(original, "_afterfit_owned", False):
        return

    def create(study_id: int, template_trial: Any = None) -> Any:
        if template_trial is None:
            template_trial = create_trial(
                state=TrialState.RUNNING, user_attrs={WORKER: _worker_name()}
            )
        return original(study_id, template_trial)

    create._afterfit_owned = True  # type: ignore[attr-defined]
    setattr(storage, name, create)


def _best_so_far(study: Any, metric: str) -> str:
    """The progress note after a trial: the best value so far (none while all pruned)."""
    try:
        return f"best {metric} {study.best_value:.4g}"
    except ValueError:  # no complete trial yet
        return ""


def _worker_task(
    objective: Objective,
    storage_url: str,
    study_name: str,
    sampler: str,
    pruner: str,
    seed: int | None,
    timeout: float | None,
) -> int:
    """A worker process's task (module level, so joblib and Dask can send it)."""
    return run_worker(objective, storage_url, study_name, sampler, pruner, seed, timeout)


# --- one study -------------------------------------------------------------------------


def run_study(
    base: Any,
    X: Any,
    y: Any,
    splits: list[tuple[np.ndarray, np.ndarray]],
    *,
    space: Any,
    n_trials: int,
    sampler: str,
    pruner: str,
    metric: str,
    task: str,
    storage: str | os.PathLike[str] | None = None,
    study_name: str | None = None,
    workers: int = 1,
    backend: str = "local",
    scheduler: str | None = None,
    timeout: float | None = None,
    random_state: int | None = 0,
    refit: bool = True,
    confidence: float = 0.95,
    importance: str = "fanova",
    progress: Callable[..., None] | None = None,
) -> TuningResult:
    """Run (or resume) one Optuna study of ``base`` on ``splits`` and summarise it.

    The arguments are already checked (:func:`afterfit.selection.tune.tune` checks them);
    ``metric`` and ``task`` are known; ``space`` is resolved here (a file, a dict, None or
    a :class:`~afterfit.selection.spaces.SearchSpace`). Nested cross-validation
    (:mod:`afterfit.selection.nested`) runs one of these per outer fold.
    """
    import optuna

    from afterfit.selection.storage import open_storage, redact, storage_url

    direction = "maximize" if higher_is_better(metric) else "minimize"
    checked = resolve_space(space, base)
    if sampler == "grid":
        n_trials = min(int(n_trials), checked.grid_size())
    objective = Objective(base, X, y, splits, checked, task=task, metric=metric,
                          n_trials=int(n_trials))  # fmt: skip
    name = study_name or "afterfit"

    temp_dir: str | None = None
    if storage is None and (workers > 1 or backend == "dask"):
        # Workers are processes: they need a shared storage even when none was asked for.
        temp_dir = tempfile.mkdtemp(prefix="afterfit-tune-")
        storage = Path(temp_dir) / "study.db"
    url = None if storage is None else storage_url(storage)
    study_storage = (
        optuna.storages.InMemoryStorage() if url is None else open_storage(url, heartbeat=HEARTBEAT)
    )
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        try:
            study = optuna.create_study(
                storage=study_storage, study_name=name, direction=direction, load_if_exists=True
            )
        except ValueError as exc:
            raise InvalidInputError(f"Cannot open the study {name!r}: {exc}.",
                                    fix="use another --study name.") from exc  # fmt: skip
        if study.direction.name.lower() != direction:
            raise InvalidInputError(
                f"The study {name!r} in {redact(url or 'memory')} was created to "
                f"{study.direction.name.lower()} its objective, but {metric!r} is to be "
                f"{direction}d.",
                fix="use the metric the study was created with, or another study name.",
            )
        _warn_space_change(study, checked)
        study.set_user_attr("metric", metric)
        seeds = [None if random_state is None else int(random_state) + i for i in range(workers)]
        if workers == 1 and backend == "local":
            run_worker(objective, url, name, sampler, pruner, seeds[0], timeout,
                       storage_obj=study_storage, callback=progress)  # fmt: skip
        else:
            _run_workers(objective, url, name, sampler, pruner, seeds, timeout,
                         backend=backend, scheduler=scheduler)  # fmt: skip
        study = optuna.load_study(study_name=name, storage=study_storage)
        if url is not None:
            # The result holds a snapshot in memory: reading it opens no connection to the
            # database (a temporary file goes; a report folder holding the file is swapped).
            memory = optuna.storages.InMemoryStorage()
            optuna.copy_study(from_study_name=name, from_storage=study_storage, to_storage=memory)
            _dispose(study_storage)
            study = optuna.load_study(study_name=name, storage=memory)
        result = _result(
            study, base, X, y, checked, objective, metric=metric, direction=direction,
            sampler=sampler, pruner=pruner, n_trials=int(n_trials), confidence=confidence,
            storage="memory" if url is None or temp_dir else redact(url), study_name=name,
            workers=workers, refit=refit, importance=importance, seed=random_state,
        )  # fmt: skip
    finally:
        optuna.logging.set_verbosity(level)
        if url is not None:
            _dispose(study_storage)
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
    return result


def _dispose(storage: Any) -> None:
    engine = getattr(storage, "engine", None)
    if engine is not None:
        engine.dispose()


def _warn_space_change(study: Any, space: SearchSpace) -> None:
    """Remember the space in the study; warn when a resumed study searched another one."""
    import warnings

    from afterfit.errors import AfterfitWarning

    before = study.user_attrs.get("space")
    now = space.to_dict()
    if before is not None and before != now:
        warnings.warn(
            f"The study {study.study_name!r} was started with another search space; its "
            "earlier trials stay in it and count toward n_trials.",
            AfterfitWarning,
            stacklevel=3,
        )
    study.set_user_attr("space", now)


def _run_workers(
    objective: Objective,
    url: str | None,
    name: str,
    sampler: str,
    pruner: str,
    seeds: list[int | None],
    timeout: float | None,
    *,
    backend: str,
    scheduler: str | None,
) -> None:
    from afterfit.parallel import parallel_backend, run_tasks

    tasks = [(objective, url, name, sampler, pruner, seed, timeout) for seed in seeds]
    with parallel_backend(backend, scheduler=scheduler, n_jobs=len(seeds)):
        run_tasks(_worker_task, tasks, n_jobs=len(seeds))


def trials_frame(study: Any, space: SearchSpace) -> pd.DataFrame:
    """One row per trial (surplus trials, stopped before they ran, left out)."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get(SURPLUS) or t.state.name == "WAITING":  # never started
            continue
        duration = (
            (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete is not None and t.datetime_start is not None
            else math.nan
        )
        folds = t.user_attrs.get("fold_scores") or []
        row: dict[str, Any] = {
            "number": t.number,
            "state": t.state.name,
            "value": math.nan if t.value is None else float(t.value),
            "folds_run": len(folds),
            "duration_s": duration,
            "worker": t.user_attrs.get(WORKER, ""),
        }
        for p in space.names():
            row[f"param_{p}"] = t.params.get(p)
        rows.append(row)
    columns = ["number", "state", "value", "folds_run", "duration_s", "worker"]
    columns += [f"param_{p}" for p in space.names()]
    return pd.DataFrame(rows, columns=columns)


def param_importances(study: Any, method: str, seed: int | None) -> tuple[dict[str, float], str]:
    """Parameter importances of the complete trials, and the method's name (empty dict
    with a reason when they cannot be computed)."""
    from optuna.importance import (
        FanovaImportanceEvaluator,
        MeanDecreaseImpurityImportanceEvaluator,
        get_param_importances,
    )
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return {}, "needs at least 2 complete trials"
    evaluators = {
        "fanova": FanovaImportanceEvaluator,
        "mdi": MeanDecreaseImpurityImportanceEvaluator,
    }
    label = {"fanova": "fANOVA", "mdi": "mean decrease in impurity"}
    try:
        values = get_param_importances(study, evaluator=evaluators[method](seed=seed))
    except Exception as exc:  # one value per parameter, etc.
        return {}, f"could not be computed ({exc})"
    return {str(k): float(v) for k, v in values.items()}, label[method]


def _result(
    study: Any,
    base: Any,
    X: Any,
    y: Any,
    space: SearchSpace,
    objective: Objective,
    *,
    metric: str,
    direction: str,
    sampler: str,
    pruner: str,
    n_trials: int,
    confidence: float,
    storage: str,
    study_name: str,
    workers: int,
    refit: bool,
    importance: str,
    seed: int | None,
) -> TuningResult:
    from sklearn.base import clone

    from afterfit.selection.corrected import corrected_resampled_t

    trials = trials_frame(study, space)
    complete = trials[trials["state"] == "COMPLETE"]
    if complete.empty:
        failures = [
            t.system_attrs.get("fail_reason", "")
            for t in study.get_trials(deepcopy=False)
            if t.state.name == "FAIL" and not t.user_attrs.get(SURPLUS)
        ]
        reason = next((f for f in failures if f), "no trial finished")
        raise ModelError(
            f"No tuning trial completed ({len(failures)} failed). The first failure: "
            f"{reason.strip().splitlines()[-1] if reason else 'unknown'}.",
            fix="check the search space ranges against the estimator's documentation, "
            "and that the estimator fits this data with its default parameters.",
        )
    best = study.best_trial
    folds = np.asarray(best.user_attrs.get("fold_scores", [best.value]), dtype=float)
    n_train = float(np.mean([len(tr) for tr, _ in objective.splits]))
    n_test = float(np.mean([len(te) for _, te in objective.splits]))
    notes: list[str] = []
    if folds.size >= 2:
        mean, low, high = corrected_resampled_t(
            folds, n_train, n_test, confidence=confidence, metric=metric
        )
    else:
        mean, low, high = float(best.value), math.nan, math.nan
        notes.append("One fold: no interval for the best score.")
    notes.append(
        "The best trial was chosen on the same folds it is scored on, so its score is "
        "optimistic; nested cross-validation (nested=True, --nested) estimates the tuned "
        "model honestly."
    )
    importances, method = param_importances(study, importance, seed)
    if not importances:
        notes.append(f"Parameter importances: {method}.")
        method = ""
    best_estimator = None
    if refit:
        best_estimator = clone(base).set_params(**best.params)
        best_estimator.fit(X, y)
    return TuningResult(
        best_params=dict(best.params), best_score=float(mean), ci_low=float(low),
        ci_high=float(high), fold_scores=folds, metric=metric, direction=direction,
        trials=trials, study=study, space=space, sampler=sampler, pruner=pruner,
        n_trials=n_trials, n_splits=len(objective.splits), n_train=n_train, n_test=n_test,
        confidence=confidence, storage=storage, study_name=study_name, wall_time=0.0,
        workers=workers, best_estimator=best_estimator, importances=importances,
        importance_method=method, notes=notes,
    )  # fmt: skip
