# Stable interface (tuning and ensembles rely on it): fit_and_score, FoldResult,
# cross_validate, CVResult, compare_cv, compare_cv_models, CVComparison, cv_metric_names;
# with make_splitter / split_indices (splitters.py) and corrected_resampled_t (corrected.py).
"""Cross-validation: refit a model fold by fold, score it with afterfit's metric suites.

:func:`cross_validate` clones the estimator (the one inside an afterfit ``Model`` from
``load_model``), refits it on the training rows of every fold and scores the test rows once,
with the same metric suites as ``afterfit evaluate`` (point estimates: no bootstrap inside a
fold). The folds run in parallel through :func:`afterfit.parallel.run_tasks`: local
processes, threads, or a Dask cluster inside :func:`afterfit.parallel.parallel_backend`. The
splits are drawn before any fold runs, so the same ``random_state`` gives the same numbers
whatever the backend or the number of workers.

The mean of every metric comes with the corrected resampled t interval of Nadeau & Bengio
(2003), which accounts for the overlap of the training sets (the naive interval is kept for
contrast); :func:`compare_cv` / :func:`compare_cv_models` compare models on the same folds
with the corrected paired t test.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from afterfit.errors import InvalidInputError, ModelError
from afterfit.selection.corrected import CorrectedT, corrected_resampled_t, corrected_t_stats
from afterfit.selection.splitters import (
    make_splitter,
    n_repeats_of,
    split_indices,
    splitter_kind,
)

__all__ = [
    "CVComparison",
    "CVResult",
    "FoldResult",
    "compare_cv",
    "compare_cv_models",
    "corrected_resampled_t",
    "cross_validate",
    "cv_metric_names",
    "default_cv_metrics",
    "fit_and_score",
    "refittable_estimator",
]

#: Metrics whose smaller values are better (the rest: larger is better).
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "mae", "rmse", "mse", "mape", "median_ae"})


# --------------------------------------------------------------------------------------
# Estimators, tasks and metric names
# --------------------------------------------------------------------------------------


def refittable_estimator(model: Any) -> Any:
    """The scikit-learn-API estimator to clone and refit: ``model.estimator`` for an
    afterfit ``Model`` from ``load_model``, else ``model`` itself.

    Raises
    ------
    ModelError
        A model that cannot be refitted (ONNX, a torch module, a native booster).
    """
    # A scikit-learn estimator is used as it is, even when it has an ``estimator``
    # parameter of its own (bagging, calibration, meta-estimators); only a wrapper without
    # fit (an afterfit Model) is unwrapped.
    est = model
    if not _sklearn_like(model) and getattr(model, "estimator", None) is not None:
        est = model.estimator
    if not _sklearn_like(est):
        raise ModelError(
            f"cross-validation refits the model on every fold, but a {type(est).__name__} "
            "cannot be refitted (it has no scikit-learn fit/get_params).",
            fix="pass a scikit-learn estimator or pipeline (or an XGBoost/LightGBM/CatBoost "
            "model with the scikit-learn API), saved with skops or joblib; ONNX files, "
            "torch modules and native boosters cannot be cross-validated.",
        )
    return est


def _sklearn_like(obj: Any) -> bool:
    return callable(getattr(obj, "fit", None)) and callable(getattr(obj, "get_params", None))


def _task_of(estimator: Any, y: np.ndarray, task: str | None) -> str:
    from afterfit.models._common import check_task
    from afterfit.models.sklearn import estimator_kind

    task = check_task(task)
    if task is not None:
        return task
    kind = estimator_kind(estimator)
    if kind is None:
        from sklearn.utils.multiclass import type_of_target

        kind = "classifier" if type_of_target(y) in ("binary", "multiclass") else "regressor"
    if kind == "regressor":
        return "regression"
    n = np.unique(y).size
    if n < 2:
        raise InvalidInputError(
            f"the target holds a single class ({y[0]!r}); a classifier needs two or more.",
            fix="check the target column (--target) and any filter applied to the data.",
        )
    return "binary" if n == 2 else "multiclass"


def _probabilities(estimator: Any, task: str) -> bool:
    return task != "regression" and hasattr(estimator, "predict_proba")


def cv_metric_names(task: str, *, probabilities: bool = True, beta: float = 2.0) -> list[str]:
    """The metric names cross-validation can report for ``task`` (those of ``afterfit
    evaluate``; multiclass per-class metrics are left out)."""
    from afterfit.metrics.binary import fbeta_name

    f = fbeta_name(beta)
    if task == "binary":
        names = ["accuracy", "balanced_accuracy", "precision", "recall", "specificity", "f1", f]
        names += ["mcc", "cohen_kappa", "roc_auc", "average_precision"]
    elif task == "multiclass":
        names = ["accuracy", "balanced_accuracy"]
        for m in ("precision", "recall", "f1", f):
            names += [f"{m}_{avg}" for avg in ("macro", "weighted", "micro")]
        names += ["mcc", "cohen_kappa", "roc_auc_ovr_macro", "roc_auc_ovr_weighted"]
        names += ["average_precision_macro"]
    else:
        return ["mae", "rmse", "mse", "r2", "explained_variance", "mape", "median_ae"]
    return names + (["log_loss", "brier"] if probabilities else [])


def default_cv_metrics(task: str, *, probabilities: bool = True) -> list[str]:
    """The metrics reported when none are asked for (those ``afterfit compare`` uses)."""
    from afterfit.comparison.core import DEFAULT_METRICS

    allowed = set(cv_metric_names(task, probabilities=probabilities))
    return [m for m in DEFAULT_METRICS[task] if m in allowed]


def _check_metrics(
    metrics: Sequence[str] | str | None, task: str, probabilities: bool
) -> list[str]:
    if metrics is None:
        return default_cv_metrics(task, probabilities=probabilities)
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    names = list(dict.fromkeys(metrics))
    allowed = cv_metric_names(task, probabilities=probabilities)
    unknown = [m for m in names if m not in allowed]
    if unknown or not names:
        why = ""
        if not probabilities and any(m in ("log_loss", "brier") for m in unknown):
            why = " (log_loss and brier need a model with predict_proba)"
        raise InvalidInputError(
            f"unknown metric(s) for a {task} model: {', '.join(map(repr, unknown)) or 'none'}"
            f"{why}.",
            fix=f"choose among {', '.join(allowed)}.",
        )
    return names


# --------------------------------------------------------------------------------------
# One fold
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FoldResult:
    """One fold: the metrics of its test rows, their scores, the times.

    Attributes
    ----------
    metrics : dict of str to float
    scores : ndarray
        Classification: ``(n_test, K)`` scores in ``classes`` order (probabilities, or
        decision scores for a model without ``predict_proba``). Regression: ``(n_test,)``.
    classes : ndarray or None
        Class labels of the score columns (those of the whole target, also when a training
        fold lacked a class: its column is then 0).
    fit_time, score_time : float
        Seconds to fit the clone, and to score and compute the metrics.
    estimator : estimator or None
        The fitted clone, when asked for (``return_estimator=True``).
    """

    metrics: dict[str, float]
    scores: np.ndarray
    classes: np.ndarray | None
    fit_time: float
    score_time: float
    estimator: Any = None


def _rows(X: Any, idx: np.ndarray) -> Any:
    if isinstance(X, pd.DataFrame | pd.Series):
        return X.iloc[idx]
    return X[idx]


def _align(scores: np.ndarray, own: np.ndarray, classes: np.ndarray, probs: bool) -> np.ndarray:
    """Scores of a fold model that saw fewer classes, widened to every class (as
    scikit-learn's ``cross_val_predict``: probability 0, or the lowest decision score)."""
    if own.shape[0] == classes.shape[0] and np.array_equal(own, classes):
        return scores
    fill = 0.0 if probs else np.finfo(np.float64).min
    out = np.full((scores.shape[0], classes.shape[0]), fill)
    out[:, np.searchsorted(classes, own)] = scores
    return out


def _fold_scores(est: Any, X_test: Any, task: str, probs: bool) -> np.ndarray:
    if task == "regression":
        return np.asarray(est.predict(X_test), dtype=np.float64).reshape(-1)
    if probs:
        return np.asarray(est.predict_proba(X_test), dtype=np.float64)
    s = np.asarray(est.decision_function(X_test), dtype=np.float64)
    return np.column_stack([-s, s]) if s.ndim == 1 else s


def score_fold(
    y_test: Any,
    scores: np.ndarray,
    *,
    task: str,
    classes: np.ndarray | None,
    metrics: Sequence[str],
    probabilities: bool,
    sample_weight: Any = None,
    threshold: float | None = None,
    pos_label: Any = None,
) -> dict[str, float]:
    """Point estimates of ``metrics`` on one fold's test rows (afterfit's metric suites).

    Parameters
    ----------
    y_test : array-like
        True labels or targets of the test rows.
    scores : ndarray
        As :attr:`FoldResult.scores`.
    task, classes, probabilities
        The task, the class labels of the score columns, whether scores are probabilities.
    metrics : sequence of str
        Names from :func:`cv_metric_names`.
    sample_weight : array-like, optional
        Weights of the test rows.
    threshold, pos_label : optional
        Binary: the decision threshold and positive class (default 0.5, or 0 for decision
        scores, and the second class), as :meth:`Predictions.from_arrays`.
    """
    import warnings

    from afterfit.metrics.binary import BinarySuite
    from afterfit.metrics.multiclass import MulticlassSuite
    from afterfit.metrics.regression import RegressionSuite
    from afterfit.predictions import Predictions

    p = Predictions.from_arrays(
        y_test,
        scores,
        task=task,  # type: ignore[arg-type]
        classes=classes,
        sample_weight=sample_weight,
        scores_are_probabilities=None if task == "regression" else probabilities,
        threshold=threshold,
        pos_label=pos_label,
    )
    suite: Any
    if task == "binary":
        suite = BinarySuite(p.y_true, p.scores, p.sample_weight, threshold=p.threshold,
                            probabilities=p.scores_are_probabilities)  # fmt: skip
    elif task == "multiclass":
        suite = MulticlassSuite(p.y_true, p.scores, p.sample_weight, labels=p.y_pred,
                                class_names=p.class_names,
                                probabilities=p.scores_are_probabilities)  # fmt: skip
    else:
        suite = RegressionSuite(p.y_true, p.scores, p.sample_weight)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # A test fold without one of the classes: its ranking metrics are NaN, not errors.
        warnings.simplefilter("ignore", RuntimeWarning)
        values = suite.compute()
    return {m: float(values[(m, None)][0]) for m in metrics}


def fit_and_score(
    estimator: Any,
    X: Any,
    y: Any,
    train: np.ndarray,
    test: np.ndarray,
    *,
    task: str | None = None,
    metrics: Sequence[str] | None = None,
    sample_weight: Any = None,
    classes: Any = None,
    return_estimator: bool = False,
    fit_params: Mapping[str, Any] | None = None,
) -> FoldResult:
    """Clone ``estimator``, fit it on the ``train`` rows, score the ``test`` rows once.

    Parameters
    ----------
    estimator : estimator or afterfit Model
        A scikit-learn-API estimator (fitted or not; only its parameters are used), or an
        afterfit ``Model`` wrapping one.
    X : DataFrame or ndarray
        All rows; ``train`` and ``test`` are positions into them.
    y : array-like
        Target of all rows.
    train, test : ndarray of int
    task : {"binary", "multiclass", "regression"}, optional
        Inferred from the estimator and ``y`` when omitted.
    metrics : sequence of str, optional
        Metric names (those of ``afterfit evaluate``); default :func:`default_cv_metrics`.
    sample_weight : array-like, optional
        Weights of all rows: passed to ``fit`` for the training rows and weighting the
        metrics of the test rows.
    classes : array-like, optional
        Class labels of the whole target (default: those of ``y``), so every fold's scores
        have the same columns.
    return_estimator : bool
        Keep the fitted clone in the result.
    fit_params : mapping, optional
        Extra keyword arguments of ``fit`` (not indexed by rows).

    Returns
    -------
    FoldResult
    """
    est = refittable_estimator(estimator)
    y_arr = _target(y)
    task = _task_of(est, y_arr, task)
    probs = _probabilities(est, task)
    names = _check_metrics(metrics, task, probs)
    cls = None if task == "regression" else (np.unique(y_arr) if classes is None else
                                             np.asarray(classes))  # fmt: skip
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    return _fit_and_score(est, X, y_arr, np.asarray(train), np.asarray(test), task, names,
                          cls, probs, w, return_estimator, dict(fit_params or {}))  # fmt: skip


def _fit_and_score(
    est: Any,
    X: Any,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    task: str,
    metrics: list[str],
    classes: np.ndarray | None,
    probs: bool,
    weight: np.ndarray | None,
    return_estimator: bool,
    fit_params: dict[str, Any],
) -> FoldResult:
    """One fold, on already checked arguments (the task :func:`run_tasks` hands out)."""
    from sklearn.base import clone

    model = clone(est)
    kwargs = dict(fit_params)
    if weight is not None:
        kwargs["sample_weight"] = weight[train]
    start = time.perf_counter()
    try:
        model.fit(_rows(X, train), y[train], **kwargs)
    except Exception as exc:  # the model's own code: any error type
        first = (str(exc).strip().splitlines() or [""])[0]
        raise ModelError(
            f"fitting a {type(model).__name__} on a training fold of {train.size} rows "
            f"failed: {type(exc).__name__}: {first}",
            fix="check that the estimator fits on this data outside cross-validation "
            "(and, with sample weights, that its fit accepts sample_weight).",
        ) from exc
    fit_time = time.perf_counter() - start
    start = time.perf_counter()
    scores = _fold_scores(model, _rows(X, test), task, probs)
    if classes is not None:
        scores = _align(scores, np.asarray(model.classes_), classes, probs)
    # A thresholding wrapper (FixedThresholdClassifier, TunedThresholdClassifierCV) is
    # scored at the threshold its fitted clone decides with, as afterfit evaluate does.
    rule: tuple[Any, Any] = (None, None)
    if task == "binary":
        from afterfit.models.sklearn import _decision_rule

        rule = _decision_rule(model, probs)
    values = score_fold(
        y[test], scores, task=task, classes=classes, metrics=metrics, probabilities=probs,
        sample_weight=None if weight is None else weight[test], threshold=rule[0],
        pos_label=rule[1],
    )  # fmt: skip
    score_time = time.perf_counter() - start
    return FoldResult(values, scores, classes, fit_time, score_time,
                      model if return_estimator else None)  # fmt: skip


def _target(y: Any) -> np.ndarray:
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise InvalidInputError(
                f"y has {y.shape[1]} columns; cross-validation takes one target.",
                fix="pass a single column (a Series or 1-D array).",
            )
        y = y.iloc[:, 0]
    arr = y.to_numpy() if hasattr(y, "to_numpy") else np.asarray(y)
    return arr.reshape(-1)


def _features(X: Any) -> Any:
    """pandas frames and numpy arrays as they are (no copy); polars / pyarrow to pandas."""
    if isinstance(X, pd.DataFrame | np.ndarray):
        return X
    from afterfit.data import as_frame

    return as_frame(X)


def _seeded(est: Any, random_state: int | None) -> Any:
    """``est`` with every unset ``random_state`` parameter set from ``random_state``, so a
    seeded cross-validation of a randomised model gives the same numbers on every run."""
    if random_state is None:
        return est
    try:
        params = est.get_params(deep=True)
    except Exception:
        return est
    unset = {k: int(random_state) for k, v in params.items()
             if (k == "random_state" or k.endswith("__random_state")) and v is None}  # fmt: skip
    if not unset:
        return est
    from sklearn.base import clone

    return clone(est).set_params(**unset)


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CVResult:
    """The result of :func:`cross_validate`.

    Attributes
    ----------
    folds : DataFrame
        Tidy: ``repeat, fold, n_train, n_test, metric, value, fit_time, score_time``, one
        row per fold and metric, folds in split order.
    summary : DataFrame
        One row per metric: ``metric, mean, sd, ci_low, ci_high`` (corrected resampled t),
        ``naive_low, naive_high`` (naive t interval, for contrast), ``n_folds``,
        ``higher_is_better``.
    oof_scores : ndarray
        Out-of-fold scores of every row, averaged over the repeats: ``(n, K)`` for
        classification, ``(n,)`` for regression; NaN for rows never in a test fold (the
        first block of a time-series split).
    oof_predictions : ndarray
        Labels (classification: the highest score's class, as ``predict``) or values.
    oof_counts : ndarray
        How many test folds each row was in.
    splits : list of (ndarray, ndarray)
    task : str
    classes : ndarray or None
    metrics : list of str
    n_repeats : int
    splitter : str
        The splitter's kind (``"stratified"``, ``"group"``...) or class name.
    confidence : float
    scores_are_probabilities : bool
    estimators : list or None
        Fitted clones, fold by fold (``return_estimators=True``).
    y : ndarray
        Target of every row (for OOF evaluation, stacking, thresholds).
    """

    folds: pd.DataFrame
    summary: pd.DataFrame
    oof_scores: np.ndarray
    oof_predictions: np.ndarray
    oof_counts: np.ndarray
    splits: list[tuple[np.ndarray, np.ndarray]]
    task: str
    classes: np.ndarray | None
    metrics: list[str]
    n_repeats: int
    splitter: str
    confidence: float
    scores_are_probabilities: bool
    y: np.ndarray = field(repr=False)
    estimators: list[Any] | None = field(default=None, repr=False)
    stats: dict[str, CorrectedT] = field(default_factory=dict, repr=False)
    fit_times: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)

    def __repr__(self) -> str:
        from afterfit.display import one_line, with_interval

        head = None
        if len(self.summary):
            s = self.summary.iloc[0]
            low, high = float(s["ci_low"]), float(s["ci_high"])
            head = with_interval(str(s["metric"]), float(s["mean"]), low, high)
        folds = f"{self.n_folds} folds"
        return one_line("CVResult", self.task, head, folds, f"{self.n_rows:,} rows")

    def _repr_html_(self) -> str:
        """Jupyter's display: headline with intervals, main figure, findings, tables."""
        from afterfit.display import html

        return html(self)

    @property
    def n_folds(self) -> int:
        """Folds in all (folds per repeat times repeats)."""
        return len(self.splits)

    @property
    def n_rows(self) -> int:
        return int(self.y.shape[0])

    def fold_values(self, metric: str) -> np.ndarray:
        """The ``metric`` of every fold, in split order."""
        if metric not in self.metrics:
            raise InvalidInputError(
                f"metric {metric!r} was not computed in this cross-validation.",
                fix=f"choose among {', '.join(self.metrics)}.",
            )
        rows = self.folds[self.folds["metric"] == metric]
        return rows["value"].to_numpy(dtype=np.float64)

    def n_train_test(self) -> tuple[np.ndarray, np.ndarray]:
        """Training and test rows of every fold."""
        return (np.array([tr.size for tr, _ in self.splits]),
                np.array([te.size for _, te in self.splits]))  # fmt: skip

    def frame(self) -> pd.DataFrame:
        """The summary, one row per metric (see :attr:`summary`)."""
        return self.summary.copy()

    def oof_frame(self, row_index: Any = None) -> pd.DataFrame:
        """Out-of-fold predictions as a table: ``row, y_true, prediction, n_folds`` and a
        score column per class (``score_<class>``) or ``score`` for regression."""
        out = pd.DataFrame({"row": np.arange(self.n_rows) if row_index is None else row_index})
        out["y_true"] = self.y
        out["prediction"] = self.oof_predictions
        out["n_folds"] = self.oof_counts
        if self.task == "regression":
            out["score"] = self.oof_scores
        else:
            for k, c in enumerate(self.classes):
                out[f"score_{c}"] = self.oof_scores[:, k]
        return out

    def to_dict(self) -> dict[str, Any]:
        """The ``cv`` section of ``results.json`` (fold metrics and the summary; the
        out-of-fold predictions go to ``oof.parquet``)."""
        from afterfit.jsonsafe import number, scalar

        n_train, n_test = self.n_train_test()
        return {
            "task": self.task,
            "classes": None if self.classes is None else [scalar(c) for c in self.classes],
            "n_rows": self.n_rows,
            "splitter": self.splitter,
            "n_folds": self.n_folds,
            "n_repeats": self.n_repeats,
            "confidence": self.confidence,
            "interval_method": "corrected resampled t (Nadeau & Bengio 2003)",
            "scores_are_probabilities": self.scores_are_probabilities,
            "n_train": [int(v) for v in n_train],
            "n_test": [int(v) for v in n_test],
            "fit_time": [number(v) for v in self.fit_times],
            "metrics": {
                m: {**self.stats[m].to_dict(), "higher_is_better": m not in LOWER_IS_BETTER,
                    "values": [number(v) for v in self.fold_values(m)]}
                for m in self.metrics
            },
        }  # fmt: skip


@dataclass(frozen=True)
class CVComparison:
    """Models compared on the same folds with the corrected resampled paired t test.

    Attributes
    ----------
    results : dict of str to CVResult
    baseline : str
        The model every other is compared with.
    confidence : float
    tests : dict of (model, metric) to CorrectedT
        Statistics of the per-fold differences ``model - baseline``.
    """

    results: dict[str, CVResult]
    baseline: str
    confidence: float
    tests: dict[tuple[str, str], CorrectedT]

    def __repr__(self) -> str:
        from afterfit.display import one_line, with_interval

        head = None
        f = self.frame()
        if len(f):
            r = f.iloc[0]
            name = f"{r['metric']} {r['model']} - {r['baseline']}"
            low, high = float(r["ci_low"]), float(r["ci_high"])
            head = with_interval(name, float(r["difference"]), low, high)
        models = f"{len(self.results)} models, baseline {self.baseline!r}"
        return one_line("CVComparison", models, head)

    def _repr_html_(self) -> str:
        """Jupyter's display: headline with intervals, main figure, findings, tables."""
        from afterfit.display import html

        return html(self)

    @property
    def metrics(self) -> list[str]:
        return list(dict.fromkeys(m for _, m in self.tests))

    def frame(self) -> pd.DataFrame:
        """One row per (model, metric): ``model, baseline, metric, baseline_mean,
        model_mean, difference, ci_low, ci_high, naive_low, naive_high, t, df, p_value,
        better`` (``better``: which model is significantly better at ``confidence``, or
        ``"no difference"``)."""
        rows = []
        base = self.results[self.baseline]
        for (name, metric), s in self.tests.items():
            higher = metric not in LOWER_IS_BETTER
            better = "no difference"
            if math.isfinite(s.p_value) and s.p_value < 1 - self.confidence:
                better = name if (s.mean > 0) == higher else self.baseline
            rows.append({
                "model": name, "baseline": self.baseline, "metric": metric,
                "baseline_mean": float(np.nanmean(base.fold_values(metric))),
                "model_mean": float(np.nanmean(self.results[name].fold_values(metric))),
                "difference": s.mean, "ci_low": s.low, "ci_high": s.high,
                "naive_low": s.naive_low, "naive_high": s.naive_high, "t": s.t, "df": s.df,
                "p_value": s.p_value, "better": better,
            })  # fmt: skip
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """The ``comparison`` section of ``results.json``."""
        from afterfit.jsonsafe import scalar

        return {
            "baseline": self.baseline,
            "confidence": self.confidence,
            "test": "corrected resampled paired t (Nadeau & Bengio 2003)",
            "difference": "model - baseline, per fold",
            "rows": [
                {k: scalar(v) for k, v in row.items()} for row in self.frame().to_dict("records")
            ],
        }


# --------------------------------------------------------------------------------------
# Cross-validation
# --------------------------------------------------------------------------------------


@dataclass
class _Plan:
    """Everything one model's folds need, checked once."""

    name: str
    estimator: Any
    task: str
    probs: bool
    metrics: list[str]
    classes: np.ndarray | None


def _plan(
    name: str, model: Any, y: np.ndarray, task: str | None, metrics: Any, random_state: Any
) -> _Plan:
    from sklearn.base import clone

    # An unfitted clone: the tasks ship parameters to the workers, not a fitted model.
    est = clone(_seeded(refittable_estimator(model), random_state))
    t = _task_of(est, y, task)
    probs = _probabilities(est, t)
    names = _check_metrics(metrics, t, probs)
    classes = None if t == "regression" else np.unique(y)
    return _Plan(name, est, t, probs, names, classes)


def _splits(
    cv: Any,
    X: Any,
    y: np.ndarray,
    groups: Any,
    *,
    n_repeats: int,
    task: str,
    random_state: int | None,
    splitter: str,
    gap: int,
) -> tuple[list[tuple[np.ndarray, np.ndarray]], int, str]:
    if isinstance(cv, int | np.integer) and not isinstance(cv, bool):
        sp = make_splitter(splitter, int(cv), n_repeats, gap=gap, random_state=random_state,
                           task=task, y=y, groups=groups)  # fmt: skip
        return split_indices(sp, X, y, groups), n_repeats_of(sp), splitter_kind(sp)
    if n_repeats != 1 and not isinstance(cv, list | tuple):
        raise InvalidInputError(
            f"n_repeats={n_repeats} was given with a ready splitter; repeats belong to the "
            "splitter.",
            fix="pass cv=<number of folds> with n_repeats, or a repeated splitter "
            "(make_splitter(..., n_repeats=3)).",
        )
    pairs = split_indices(cv, X, y, groups)
    if isinstance(cv, list | tuple):
        if n_repeats < 1 or len(pairs) % n_repeats:
            raise InvalidInputError(
                f"{len(pairs)} folds cannot be cut into n_repeats={n_repeats} equal repeats.",
                fix="pass n_repeats that divides the number of (train, test) pairs.",
            )
        return pairs, n_repeats, "given"
    return pairs, n_repeats_of(cv), splitter_kind(cv)


def _assemble(
    plan: _Plan,
    folds: list[FoldResult],
    splits: list[tuple[np.ndarray, np.ndarray]],
    y: np.ndarray,
    n_repeats: int,
    splitter: str,
    confidence: float,
    return_estimators: bool,
) -> CVResult:
    n = y.shape[0]
    per_repeat = max(1, len(splits) // n_repeats)
    rows = []
    for i, ((train, test), f) in enumerate(zip(splits, folds, strict=True)):
        for m in plan.metrics:
            rows.append((i // per_repeat, i % per_repeat, train.size, test.size, m,
                         f.metrics[m], f.fit_time, f.score_time))  # fmt: skip
    table = pd.DataFrame(rows, columns=["repeat", "fold", "n_train", "n_test", "metric",
                                        "value", "fit_time", "score_time"])  # fmt: skip
    # Out-of-fold scores: each fold's test scores added once; mean over the repeats.
    shape = (n,) if plan.task == "regression" else (n, plan.classes.shape[0])
    total = np.zeros(shape)
    counts = np.zeros(n, dtype=np.int64)
    for (_, test), f in zip(splits, folds, strict=True):
        total[test] += f.scores
        counts[test] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        oof = total / (counts if plan.task == "regression" else counts[:, None])
    tested = counts > 0
    if plan.task == "regression":
        preds: np.ndarray = oof
    else:
        idx = np.argmax(np.where(np.isnan(oof), -np.inf, oof), axis=1)
        preds = plan.classes[idx]
        if not tested.all():
            preds = preds.astype(object)
            preds[~tested] = None
    n_train = np.array([tr.size for tr, _ in splits])
    n_test = np.array([te.size for _, te in splits])
    stats: dict[str, CorrectedT] = {}
    summary = []
    for m in plan.metrics:
        values = table.loc[table["metric"] == m, "value"].to_numpy(dtype=np.float64)
        s = corrected_t_stats(values, n_train, n_test, confidence=confidence, metric=m)
        stats[m] = s
        summary.append({"metric": m, "mean": s.mean, "sd": s.sd, "ci_low": s.low,
                        "ci_high": s.high, "naive_low": s.naive_low,
                        "naive_high": s.naive_high, "n_folds": s.n_folds,
                        "higher_is_better": m not in LOWER_IS_BETTER,
                        "method": s.method})  # fmt: skip
    return CVResult(
        folds=table, summary=pd.DataFrame(summary), oof_scores=oof, oof_predictions=preds,
        oof_counts=counts, splits=splits, task=plan.task, classes=plan.classes,
        metrics=plan.metrics, n_repeats=n_repeats, splitter=splitter,
        confidence=float(confidence), scores_are_probabilities=plan.probs, y=y,
        estimators=[f.estimator for f in folds] if return_estimators else None, stats=stats,
        fit_times=np.array([f.fit_time for f in folds]),
    )  # fmt: skip


def _run(
    plans: list[_Plan],
    X: Any,
    y: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    weight: np.ndarray | None,
    return_estimators: bool,
    fit_params: dict[str, Any],
    n_jobs: int | None,
    progress: Callable[[str, int, int], None] | None,
) -> list[list[FoldResult]]:
    """Every fold of every model in one batch of tasks (one pool for all of them)."""
    from afterfit.parallel import run_tasks

    # The same X, y and weight objects in every task: joblib's Dask backend scatters
    # each once, and loky memory-maps large arrays instead of copying them per task.
    tasks = [
        (p.estimator, X, y, train, test, p.task, p.metrics, p.classes, p.probs, weight,
         return_estimators, fit_params)
        for p in plans for train, test in splits
    ]  # fmt: skip
    k = len(splits)

    def done(i: int) -> None:
        if progress is not None:
            progress(plans[i // k].name, i % k + 1, k)

    results = run_tasks(_fit_and_score, tasks, n_jobs=n_jobs, on_done=done)
    return [results[i * k : (i + 1) * k] for i in range(len(plans))]


def _check_weight(sample_weight: Any, n: int) -> np.ndarray | None:
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    if w.shape[0] != n or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise InvalidInputError(
            f"sample_weight must hold one finite, non-negative weight per row ({n}); "
            f"received {w.shape[0]} values.",
            fix="pass one weight per row of X, in the same order.",
        )
    return w


def _check_rows(X: Any, y: np.ndarray) -> None:
    n = X.shape[0]
    if n != y.shape[0]:
        raise InvalidInputError(
            f"X has {n} rows but y has {y.shape[0]}.",
            fix="pass the target of the same rows as X, in the same order.",
        )


def cross_validate(
    estimator: Any,
    X: Any,
    y: Any,
    *,
    cv: Any = 5,
    n_repeats: int = 1,
    groups: Any = None,
    splitter: str = "auto",
    gap: int = 0,
    metrics: Sequence[str] | str | None = None,
    task: str | None = None,
    sample_weight: Any = None,
    fit_params: Mapping[str, Any] | None = None,
    n_jobs: int | None = None,
    random_state: int | None = None,
    confidence: float = 0.95,
    return_estimators: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> CVResult:
    """Cross-validate a model: refit a clone per fold, score each test fold once.

    Parameters
    ----------
    estimator : estimator or afterfit Model
        A scikit-learn-API estimator or pipeline (fitted or not: only its parameters are
        used), or an afterfit ``Model`` from ``load_model`` (its ``estimator`` is cloned).
    X : DataFrame (pandas, polars) or ndarray
    y : array-like
    cv : int, splitter, or list of (train, test)
        Folds per repeat (a splitter from :func:`~afterfit.selection.splitters.make_splitter`
        of kind ``splitter`` is built), a scikit-learn splitter, or ready index pairs.
    n_repeats : int
        Repeats (with ``cv`` an int; or, with index pairs, how many repeats they hold).
    groups : array-like, optional
        Group of every row: group k-fold, so no group is in both training and test rows.
    splitter : str
        Kind for an int ``cv``: ``"auto"``, ``"kfold"``, ``"stratified"``, ``"group"``,
        ``"stratified-group"``, ``"timeseries"``.
    gap : int
        ``"timeseries"``: rows left out between training and test rows.
    metrics : sequence of str, optional
        Names as ``afterfit evaluate`` reports them (:func:`cv_metric_names`); default
        :func:`default_cv_metrics`.
    task : {"binary", "multiclass", "regression"}, optional
        Inferred from the estimator and ``y``.
    sample_weight : array-like, optional
        Passed to ``fit`` (training rows) and weighting the test metrics.
    fit_params : mapping, optional
        Other keyword arguments of ``fit``.
    n_jobs : int, optional
        Workers (-1: all); default that of the active ``parallel_backend``, else 1.
    random_state : int, optional
        Seed of the shuffled splits, and of estimator parameters ``random_state`` left at
        None (so a seeded run is reproducible on any backend).
    confidence : float
        Level of the intervals of the means.
    return_estimators : bool
        Keep the fitted clones.
    progress : callable, optional
        ``progress(model_name, folds_done, n_folds)`` as each fold is scored.

    Returns
    -------
    CVResult

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> res = cross_validate(LogisticRegression(max_iter=5000), X, y, cv=5, random_state=0,
    ...                      metrics=["roc_auc", "accuracy"])
    >>> res.summary[["metric", "mean"]].round(2).values.tolist()
    [['roc_auc', 0.99], ['accuracy', 0.95]]
    >>> res.n_folds, res.oof_scores.shape
    (5, (569, 2))
    """
    X = _features(X)
    y_arr = _target(y)
    _check_rows(X, y_arr)
    plan = _plan("model", estimator, y_arr, task, metrics, random_state)
    weight = _check_weight(sample_weight, y_arr.shape[0])
    splits, repeats, kind = _splits(
        cv, X, y_arr, groups, n_repeats=n_repeats, task=plan.task,
        random_state=random_state, splitter=splitter, gap=gap,
    )  # fmt: skip
    folds = _run([plan], X, y_arr, splits, weight, return_estimators, dict(fit_params or {}),
                 n_jobs, progress)[0]  # fmt: skip
    return _assemble(plan, folds, splits, y_arr, repeats, kind, confidence, return_estimators)


def _same_splits(a: CVResult, b: CVResult) -> bool:
    return len(a.splits) == len(b.splits) and all(
        np.array_equal(ta, tb) and np.array_equal(ea, eb)
        for (ta, ea), (tb, eb) in zip(a.splits, b.splits, strict=True)
    )


def compare_cv(
    results: Mapping[str, CVResult],
    *,
    baseline: str | None = None,
    metrics: Sequence[str] | None = None,
    confidence: float = 0.95,
) -> CVComparison:
    """Compare cross-validated models fold by fold with the corrected paired t test.

    Parameters
    ----------
    results : mapping of name to CVResult
        At least two, all on the same splits (:func:`compare_cv_models` guarantees it).
    baseline : str, optional
        The model the others are compared with (default: the first).
    metrics : sequence of str, optional
        Default: the metrics every result has.
    confidence : float

    Returns
    -------
    CVComparison
        Per (model, metric): the mean per-fold difference ``model - baseline``, its
        corrected interval and two-sided p-value.
    """
    names = list(results)
    if len(names) < 2:
        raise InvalidInputError(
            f"a comparison needs at least two cross-validated models; received {len(names)}.",
            fix="pass a mapping of two or more names to CVResult.",
        )
    base_name = names[0] if baseline is None else baseline
    if base_name not in results:
        raise InvalidInputError(
            f"baseline {base_name!r} is not one of the models ({', '.join(names)}).",
            fix="pass baseline= one of the names given.",
        )
    base = results[base_name]
    for name in names:
        r = results[name]
        if r.task != base.task:
            raise InvalidInputError(
                f"models {base_name!r} ({base.task}) and {name!r} ({r.task}) have different tasks.",
                fix="compare models of the same task, cross-validated on the same target.",
            )
        if not _same_splits(base, r):
            raise InvalidInputError(
                f"models {base_name!r} and {name!r} were cross-validated on different folds; "
                "the paired test needs the same training and test rows in every fold.",
                fix="use compare_cv_models, or pass the same cv (index pairs or a seeded "
                "splitter) to every cross_validate.",
            )
    common = [m for m in base.metrics if all(m in r.metrics for r in results.values())]
    chosen = common if metrics is None else list(metrics)
    missing = [m for m in chosen if m not in common]
    if missing or not chosen:
        raise InvalidInputError(
            f"metric(s) {', '.join(map(repr, missing)) or 'none'} not computed for every model.",
            fix=f"choose among {', '.join(common)}.",
        )
    n_train, n_test = base.n_train_test()
    tests: dict[tuple[str, str], CorrectedT] = {}
    for name in names:
        if name == base_name:
            continue
        for m in chosen:
            diff = results[name].fold_values(m) - base.fold_values(m)
            tests[(name, m)] = corrected_t_stats(diff, n_train, n_test, confidence=confidence)
    return CVComparison(dict(results), base_name, float(confidence), tests)


def compare_cv_models(
    estimators: Mapping[str, Any],
    X: Any,
    y: Any,
    *,
    cv: Any = 5,
    n_repeats: int = 1,
    groups: Any = None,
    splitter: str = "auto",
    gap: int = 0,
    baseline: str | None = None,
    metrics: Sequence[str] | str | None = None,
    task: str | None = None,
    sample_weight: Any = None,
    n_jobs: int | None = None,
    random_state: int | None = None,
    confidence: float = 0.95,
    return_estimators: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> CVComparison:
    """Cross-validate several models on the same folds and compare them (corrected paired t).

    The arguments are those of :func:`cross_validate`; ``estimators`` maps names to
    models, ``baseline`` names the one the others are compared with (default the first).
    All folds of all models run as one batch of parallel tasks.

    Returns
    -------
    CVComparison
        ``.results`` holds each model's :class:`CVResult`.
    """
    if not isinstance(estimators, Mapping) or len(estimators) < 2:
        raise InvalidInputError(
            "compare_cv_models needs a mapping of at least two names to models.",
            fix="pass {'a': model_a, 'b': model_b}.",
        )
    X = _features(X)
    y_arr = _target(y)
    _check_rows(X, y_arr)
    plans = [_plan(str(k), v, y_arr, task, metrics, random_state) for k, v in estimators.items()]
    tasks = {p.task for p in plans}
    if len(tasks) > 1:
        raise InvalidInputError(
            f"the models have different tasks ({', '.join(f'{p.name}: {p.task}' for p in plans)}).",
            fix="compare models of the same task.",
        )
    if metrics is None:  # default: what every model can report
        common = [m for m in plans[0].metrics if all(m in p.metrics for p in plans)]
        for p in plans:
            p.metrics = common
    weight = _check_weight(sample_weight, y_arr.shape[0])
    splits, repeats, kind = _splits(cv, X, y_arr, groups, n_repeats=n_repeats,
                                    task=plans[0].task, random_state=random_state,
                                    splitter=splitter, gap=gap)  # fmt: skip
    runs = _run(plans, X, y_arr, splits, weight, return_estimators, {}, n_jobs, progress)
    results = {
        p.name: _assemble(p, f, splits, y_arr, repeats, kind, confidence, return_estimators)
        for p, f in zip(plans, runs, strict=True)
    }
    return compare_cv(results, baseline=baseline, confidence=confidence)
