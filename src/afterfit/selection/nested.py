"""Nested cross-validation of tuning: an honest estimate of the tuned model, and of what
tuning gained over the default parameters.

The best score of a study is optimistic: it is the best of many trials on the same folds.
Nested cross-validation tunes again inside each outer training part (a fresh in-memory
study on inner folds), refits the best parameters on that part and scores the outer test
part, which played no part in the choice. The default parameters are fitted and scored on
the same outer folds, so the per-fold differences give a paired corrected resampled t
interval (Nadeau & Bengio 2003) of tuned minus default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["NestedResult", "nested_tune"]


@dataclass(frozen=True)
class NestedResult:
    """Tuned versus default parameters on outer folds.

    Attributes
    ----------
    metric : str
    tuned, default : ndarray
        Outer-test score of each outer fold, tuned inside and with default parameters.
    best_params : list of dict
        The parameters the inner study chose in each outer fold.
    n_train, n_test : float
        Mean rows of the outer training and test parts.
    tuned_mean, tuned_low, tuned_high : float
        The tuned procedure's mean outer score and its corrected interval.
    default_mean, default_low, default_high : float
    diff_mean, diff_low, diff_high : float
        Tuned minus default (positive: tuning helped, for a higher-is-better metric;
        negative for losses), paired over outer folds, corrected interval.
    confidence : float
    """

    metric: str
    tuned: np.ndarray
    default: np.ndarray
    best_params: list[dict[str, Any]]
    n_train: float
    n_test: float
    tuned_mean: float
    tuned_low: float
    tuned_high: float
    default_mean: float
    default_low: float
    default_high: float
    diff_mean: float
    diff_low: float
    diff_high: float
    confidence: float

    def frame(self) -> pd.DataFrame:
        """One row per outer fold: ``outer_fold, tuned, default, difference, best_params``."""
        return pd.DataFrame(
            {
                "outer_fold": np.arange(self.tuned.size),
                "tuned": self.tuned,
                "default": self.default,
                "difference": self.tuned - self.default,
                "best_params": [str(p) for p in self.best_params],
            }
        )

    def to_dict(self) -> dict[str, Any]:
        from afterfit import jsonsafe

        return jsonsafe.tree(
            {
                "metric": self.metric,
                "method": "nested cross-validation; paired corrected resampled t across "
                f"outer folds{interval_scale(self.metric)}",
                "confidence": self.confidence,
                "n_outer": int(self.tuned.size),
                "n_train": self.n_train,
                "n_test": self.n_test,
                "tuned": {
                    "mean": self.tuned_mean,
                    "ci_low": self.tuned_low,
                    "ci_high": self.tuned_high,
                    "folds": self.tuned.tolist(),
                },
                "default": {
                    "mean": self.default_mean,
                    "ci_low": self.default_low,
                    "ci_high": self.default_high,
                    "folds": self.default.tolist(),
                },
                "difference": {
                    "mean": self.diff_mean,
                    "ci_low": self.diff_low,
                    "ci_high": self.diff_high,
                },
                "best_params": self.best_params,
            }
        )


def interval_scale(metric: str) -> str:
    """How the means' intervals are built: on the scale that keeps them in the metric's range."""
    from afterfit.metrics.ranges import bounds, scale_name

    scale = scale_name(bounds(metric))
    return "" if scale == "identity" else f"; means' intervals on the {scale} scale"


def _rows(values: Any, idx: np.ndarray) -> Any:
    return values.iloc[idx] if hasattr(values, "iloc") else np.asarray(values)[idx]


def _outer_fold(
    estimator: Any,
    X: Any,
    y: Any,
    train: np.ndarray,
    test: np.ndarray,
    groups: Any,
    options: dict[str, Any],
) -> tuple[float, float, dict[str, Any]]:
    """One outer fold: tune on ``train`` (in memory), score tuned and default on ``test``."""
    from sklearn.base import clone

    from afterfit.selection.study import fold_score, make_splits, run_study

    inner_groups = None if groups is None else np.asarray(groups)[train]
    X_in, y_in = _rows(X, train), _rows(y, train)
    options = dict(options)
    cv = options.pop("cv")
    splits = make_splits(cv, X_in, y_in, inner_groups, task=options["task"],
                         random_state=options["random_state"])  # fmt: skip
    inner = run_study(estimator, X_in, y_in, splits, storage=None, workers=1, refit=False,
                      **options)  # fmt: skip
    tuned = clone(estimator).set_params(**inner.best_params)
    task, metric = options["task"], options["metric"]
    tuned_score = fold_score(tuned, X, y, train, test, task=task, metric=metric)
    default_score = fold_score(estimator, X, y, train, test, task=task, metric=metric)
    return tuned_score, default_score, dict(inner.best_params)


def nested_tune(
    estimator: Any,
    X: Any,
    y: Any,
    *,
    space: Any = None,
    n_trials: int = 20,
    sampler: str = "tpe",
    pruner: str = "median",
    inner_cv: int = 5,
    outer_cv: Any = 5,
    metric: str | None = None,
    task: str | None = None,
    groups: Any = None,
    random_state: int | None = 0,
    confidence: float = 0.95,
    workers: int = 1,
) -> NestedResult:
    """Nested cross-validation: tune inside each outer fold, compare with the defaults.

    Parameters
    ----------
    estimator : estimator
        Its current parameters are the "default" the tuned ones are compared with.
    X, y : DataFrame or array
    space, n_trials, sampler, pruner, metric, task :
        As :func:`afterfit.selection.tune.tune` (each inner study runs ``n_trials``, through
        :func:`afterfit.selection.study.run_study`).
    inner_cv : int
        Folds of each inner study.
    outer_cv : int, splitter or list of (train, test)
        The outer folds.
    groups : array-like, optional
    random_state : int or None
    confidence : float
    workers : int
        Outer folds run in parallel through :func:`afterfit.parallel.run_tasks`.

    Returns
    -------
    NestedResult
    """
    from afterfit.parallel import run_tasks
    from afterfit.selection.corrected import corrected_resampled_t
    from afterfit.selection.spaces import resolve_space
    from afterfit.selection.study import (
        DEFAULT_METRIC,
        check_metric,
        infer_task,
        make_splits,
        unwrap_estimator,
    )

    base = unwrap_estimator(estimator)
    task = task or infer_task(base, y)
    metric = metric or DEFAULT_METRIC[task]
    check_metric(metric, task, base)
    checked = resolve_space(space, base)
    outer = make_splits(outer_cv, X, y, groups, task=task, random_state=random_state)
    options = {
        "space": checked, "n_trials": n_trials, "sampler": sampler, "pruner": pruner,
        "cv": inner_cv, "metric": metric, "task": task, "random_state": random_state,
        "confidence": confidence,
    }  # fmt: skip
    tasks = [(base, X, y, tr, te, groups, options) for tr, te in outer]
    done = run_tasks(_outer_fold, tasks, n_jobs=workers)
    tuned = np.array([d[0] for d in done], dtype=float)
    default = np.array([d[1] for d in done], dtype=float)
    n_train = float(np.mean([len(tr) for tr, _ in outer]))
    n_test = float(np.mean([len(te) for _, te in outer]))

    def interval(values: np.ndarray, of: str | None) -> tuple[float, float, float]:
        return corrected_resampled_t(values, n_train, n_test, confidence=confidence, metric=of)

    # Means on the metric's own range (logit, log... scale); the difference on the line.
    t, d = interval(tuned, metric), interval(default, metric)
    diff = interval(tuned - default, None)
    return NestedResult(
        metric=metric, tuned=tuned, default=default, best_params=[d[2] for d in done],
        n_train=n_train, n_test=n_test, tuned_mean=t[0], tuned_low=t[1], tuned_high=t[2],
        default_mean=d[0], default_low=d[1], default_high=d[2], diff_mean=diff[0],
        diff_low=diff[1], diff_high=diff[2], confidence=confidence,
    )  # fmt: skip
