"""Hyperparameter tuning with Optuna: the :func:`tune` step.

Checks the arguments, runs one study (:func:`afterfit.selection.study.run_study`: the
objective, the workers, the storage, the result) and, with ``nested=True``, estimates the
tuned model honestly with nested cross-validation (:mod:`afterfit.selection.nested`, which
runs one study per outer fold). Imports point one way: ``tune`` -> ``nested`` -> ``study``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from afterfit.errors import InvalidInputError
from afterfit.selection.nested import nested_tune
from afterfit.selection.study import (
    DEFAULT_METRIC,
    PRUNERS,
    SAMPLERS,
    TuningResult,
    check_metric,
    infer_task,
    make_splits,
    run_study,
    unwrap_estimator,
)

__all__ = ["tune"]


def _check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise InvalidInputError(
            f"The argument '{name}' must be one of {', '.join(map(repr, choices))}; received "
            f"{value!r}.",
            fix=f"pass {name}={choices[0]!r} or another of those listed.",
        )
    return value


def _positive(value: Any, name: str, fix: str, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer) or value <= 0:
        raise InvalidInputError(
            f"The argument '{name}' must be a positive number; received {value!r}.", fix=fix
        )


def tune(
    estimator: Any,
    X: Any,
    y: Any,
    *,
    space: Any = None,
    n_trials: int = 50,
    sampler: str = "tpe",
    pruner: str = "median",
    cv: Any = 5,
    metric: str | None = None,
    groups: Any = None,
    task: str | None = None,
    storage: str | os.PathLike[str] | None = None,
    study_name: str | None = None,
    workers: int = 1,
    backend: str = "local",
    scheduler: str | None = None,
    timeout: float | None = None,
    random_state: int | None = 0,
    nested: bool = False,
    outer_cv: int = 5,
    refit: bool = True,
    confidence: float = 0.95,
    importance: str = "fanova",
    progress: Callable[..., None] | None = None,
) -> TuningResult:
    """Tune an estimator's hyperparameters with Optuna, cross-validated.

    Parameters
    ----------
    estimator : estimator
        A scikit-learn estimator or pipeline (or an afterfit Model wrapping one). It is
        cloned for every fit; it need not be fitted.
    X, y : DataFrame or array
        Training rows and target.
    space : str, os.PathLike, dict or None
        A TOML/YAML search-space file, a dict of parameter tables, or None for the built-in
        space of the estimator's class (see :mod:`afterfit.selection.spaces`).
    n_trials : int
        Finished (complete or pruned) trials the study holds at the end; a resumed study
        counts the trials it already has. With ``sampler="grid"``, at most the grid's size.
    sampler : {"tpe", "gp", "cmaes", "random", "grid"}
    pruner : {"median", "halving", "none"}
        Stops a trial after a fold when its running mean is unpromising.
    cv : int, splitter or list of (train, test)
        Folds (stratified for classification; group folds with ``groups``).
    metric : str, optional
        Default ``roc_auc`` (binary), ``accuracy`` (multiclass), ``r2`` (regression).
    groups : array-like, optional
    task : {"binary", "multiclass", "regression"}, optional
        Inferred from the estimator and ``y``.
    storage : str, os.PathLike or None
        A SQLite file path or a SQLAlchemy URL (``postgresql+psycopg://...``); resumes the
        study ``study_name`` if it exists. None: in memory (one worker) or a temporary
        SQLite file (several workers).
    study_name : str, optional
        Default ``"afterfit"``.
    workers : int
        Worker processes, each running ``study.optimize`` on the shared storage.
    backend : {"local", "dask"}
        Where the workers run: local processes, or tasks on the Dask cluster at
        ``scheduler`` (which must reach the storage).
    scheduler : str, optional
        The Dask scheduler address (``tcp://HOST:8786``).
    timeout : float, optional
        Seconds after which workers start no new trial.
    random_state : int or None
        Seeds the folds and the sampler (worker ``i`` uses ``random_state + i``): the same
        seed with one worker gives the same trials.
    nested : bool
        Also estimate the tuned pipeline's performance honestly: tune again inside each of
        ``outer_cv`` outer folds and compare with the default parameters on the outer test
        rows (:func:`afterfit.selection.nested.nested_tune`).
    refit : bool
        Refit the best parameters on all rows (``best_estimator``).
    confidence : float
        Level of the intervals.
    importance : {"fanova", "mdi"}
        Parameter-importance evaluator: fANOVA or mean decrease in impurity.
    progress : callable, optional
        ``progress(1, info="best <metric> <value>")`` after each finished trial (one
        worker only; see :mod:`afterfit.progress`).

    Returns
    -------
    TuningResult

    Raises
    ------
    InvalidInputError
        A bad space, sampler, pruner, storage or argument.
    ModelError
        Every trial failed (the first failure's message is shown).
    """

    start = time.perf_counter()
    _check_choice(sampler, "sampler", SAMPLERS)
    _check_choice(pruner, "pruner", PRUNERS)
    _check_choice(backend, "backend", ("local", "dask"))
    _check_choice(importance, "importance", ("fanova", "mdi"))
    if isinstance(n_trials, bool) or not isinstance(n_trials, int | np.integer) or n_trials < 1:
        raise InvalidInputError(
            f"The argument 'n_trials' must be a positive integer; received {n_trials!r}.",
            fix="pass n_trials=50 (--trials 50) or another positive number.",
        )
    if isinstance(workers, bool) or not isinstance(workers, int | np.integer) or workers < 1:
        raise InvalidInputError(
            f"The argument 'workers' must be a positive integer; received {workers!r}.",
            fix="pass workers=1 (one process) or more.",
        )
    _positive(timeout, "timeout", "pass a number of seconds, or leave it out.", allow_none=True)
    if not 0 < confidence < 1:
        raise InvalidInputError(
            f"The argument 'confidence' must lie between 0 and 1; received {confidence!r}.",
            fix="pass confidence=0.95.",
        )
    base = unwrap_estimator(estimator)
    task = task or infer_task(base, y)
    metric = metric or DEFAULT_METRIC[task]
    check_metric(metric, task, base)
    splits = make_splits(cv, X, y, groups, task=task, random_state=random_state)
    result = run_study(
        base, X, y, splits, space=space, n_trials=n_trials, sampler=sampler, pruner=pruner,
        metric=metric, task=task, storage=storage, study_name=study_name, workers=workers,
        backend=backend, scheduler=scheduler, timeout=timeout, random_state=random_state,
        refit=refit, confidence=confidence, importance=importance, progress=progress,
    )  # fmt: skip
    if nested:
        result.notes[:] = [n for n in result.notes if "optimistic" not in n]
        result.nested = nested_tune(
            base, X, y, space=result.space, n_trials=result.n_trials, sampler=sampler,
            pruner=pruner, inner_cv=len(splits) if isinstance(cv, int) else 5,
            outer_cv=outer_cv, metric=metric, task=task, groups=groups,
            random_state=random_state, confidence=confidence, workers=workers,
        )  # fmt: skip
    result.wall_time = time.perf_counter() - start
    return result
