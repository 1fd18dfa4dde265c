"""``compare_models`` and ``compare_predictions``: paired tests between models.

Every model is scored on the same rows. Each metric difference gets an interval and a
p-value from a paired test; the p-values are Holm-adjusted within a family; a verdict says
which model is better where the adjusted p-value is below ``alpha``.

Tests (``tests="auto"``; ``tests="bootstrap"`` uses the paired bootstrap everywhere):

==============================  ========================================  ==================
metric                          p-value                                   interval
==============================  ========================================  ==================
``roc_auc`` (binary)            DeLong (fast: each model's one sort)      DeLong (normal)
``accuracy`` (classification)   McNemar (exact below 25 discordant        paired bootstrap
                                rows, else chi-square, continuity
                                corrected)
``mae``, ``mse`` (regression)   paired t on per-row absolute / squared    paired t
                                errors (Diebold-Mariano, rows
                                independent)
any other metric                paired bootstrap                          paired bootstrap
==============================  ========================================  ==================

With sample weights every test is the paired bootstrap (the analytic tests count rows).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from afterfit.comparison import stats
from afterfit.comparison.paired import Scoring, paired_bootstrap, paired_jackknife
from afterfit.comparison.results import (
    LOWER_IS_BETTER,
    Comparison,
    ComparisonRow,
    ComparisonSettings,
    ModelMetric,
    metric_key,
)
from afterfit.errors import AfterfitWarning, InvalidInputError, MetricError
from afterfit.metrics.binary import BinarySuite
from afterfit.metrics.intervals import analytic_intervals, delong_covariance
from afterfit.metrics.multiclass import MulticlassSuite
from afterfit.metrics.ranges import bounds, difference_bounds
from afterfit.metrics.regression import RegressionSuite
from afterfit.metrics.resampling import check_interval_options, replicate_interval
from afterfit.models.base import Task
from afterfit.predictions import Predictions, label_list, label_text

TestsOption = Literal["auto", "bootstrap"]
FamilyOption = Literal["metric", "all"]

#: Metrics compared by default, per task (those a model's scores allow).
DEFAULT_METRICS: dict[str, tuple[str, ...]] = {
    "binary": (
        "roc_auc", "average_precision", "accuracy", "balanced_accuracy", "f1", "mcc",
        "log_loss", "brier",
    ),
    "multiclass": (
        "accuracy", "balanced_accuracy", "f1_macro", "roc_auc_ovr_macro", "log_loss", "brier",
    ),
    "regression": ("mae", "mse", "rmse", "r2"),
}  # fmt: skip


def compare_models(
    models: Mapping[str, Any] | Sequence[Any],
    X: Any,
    y: Any,
    *,
    sample_weight: Any = None,
    pos_label: Any = None,
    threshold: float | Mapping[str, float] | None = None,
    metrics: Sequence[str] | None = None,
    baseline: str | None = None,
    tests: TestsOption = "auto",
    family: FamilyOption = "metric",
    alpha: float = 0.05,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    bootstrap_method: Literal["percentile", "bca"] = "percentile",
    stratify: bool = True,
    beta: float = 2.0,
    random_state: int | None = None,
    progress: Callable[[int], None] | None = None,
    n_jobs: int | None = None,
) -> Comparison:
    """Compare trained models on the same test rows, with paired tests.

    Parameters
    ----------
    models : mapping of name to model, or sequence of models
        Two or more trained models (anything :func:`afterfit.as_model` takes); a sequence
        names them ``model_1``, ``model_2``... They must solve the same task and, for
        classification, know the same classes.
    X : DataFrame (pandas or polars) or array
        Test features, scored by every model (each model's columns are checked).
    y : array-like
        True labels or targets.
    sample_weight : array-like, optional
        With weights every test is the paired bootstrap.
    pos_label : optional
        Binary: the positive class (default: the first model's second class).
    threshold : float or mapping of name to float, optional
        Binary decision threshold, one for all models or one per model (default 0.5 for
        probabilities, 0 for decision scores).
    metrics : sequence of str, optional
        Metrics to compare (default: :data:`DEFAULT_METRICS` of the task, less those the
        scores do not allow, such as log loss for decision scores).
    baseline : str, optional
        Compare every model with this one only, instead of every pair.
    tests : {"auto", "bootstrap"}
        ``"auto"``: DeLong for ROC AUC, McNemar for accuracy, paired t for regression MAE
        and MSE, the paired bootstrap otherwise; ``"bootstrap"``: the paired bootstrap for
        every metric.
    family : {"metric", "all"}
        Holm's family: ``"metric"`` adjusts each metric's p-values over all its pairs;
        ``"all"`` adjusts every (pair, metric) p-value together.
    alpha : float
        A difference is significant where the Holm-adjusted p-value is below ``alpha``.
    confidence : float
        Level of the intervals.
    n_resamples : int
        Paired bootstrap resamples.
    bootstrap_method : {"percentile", "bca"}
        Interval of a bootstrapped difference (BCa from a paired grouped jackknife; falls
        back to percentile where undefined). The bootstrap p-value is the percentile one.
    stratify : bool
        Classification: resample within each class.
    beta : float
        Beta of the F-beta score.
    random_state : int, optional
        Seed: the same seed gives the same numbers.
    progress : callable, optional
        Called with the number of resamples done after each chunk.
    n_jobs : int, optional
        Bootstrap threads (default: one per core); the numbers do not depend on it.

    Returns
    -------
    Comparison

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    >>> a = LogisticRegression(max_iter=5000).fit(X[:400], y[:400])
    >>> b = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X[:400], y[:400])
    >>> cmp = compare_models({"logistic": a, "tree": b}, X[400:], y[400:], random_state=0)
    >>> cmp.frame(metric="roc_auc")[["model_a", "model_b", "test"]].iloc[0].tolist()
    ['logistic', 'tree', 'delong']
    """
    from afterfit.models import as_model

    named = _named(models)
    adapted: dict[str, Any] = {}
    for name, model in named.items():
        with _about(name):
            adapted[name] = as_model(model)
    _check_models(adapted)
    thresholds = _per_model(threshold, adapted, "threshold")
    preds: dict[str, Predictions] = {}
    first: Predictions | None = None
    for name, model in adapted.items():
        label = pos_label
        if label is None and first is not None and first.task == "binary":
            label = first.positive_label
        with _about(name):
            preds[name] = Predictions.from_model(
                model, X, y, sample_weight=sample_weight, pos_label=label,
                threshold=thresholds.get(name),
            )  # fmt: skip
        first = first or preds[name]
    return _compare(
        preds, metrics=metrics, baseline=baseline, tests=tests, family=family, alpha=alpha,
        confidence=confidence, n_resamples=n_resamples, bootstrap_method=bootstrap_method,
        stratify=stratify, beta=beta, random_state=random_state, progress=progress,
        n_jobs=n_jobs,
    )  # fmt: skip


def compare_predictions(
    y_true: Any,
    y_scores: Mapping[str, Any] | None = None,
    *,
    task: Task | None = None,
    classes: Any = None,
    pos_label: Any = None,
    sample_weight: Any = None,
    scores_are_probabilities: bool | None = None,
    threshold: float | Mapping[str, float] | None = None,
    metrics: Sequence[str] | None = None,
    baseline: str | None = None,
    tests: TestsOption = "auto",
    family: FamilyOption = "metric",
    alpha: float = 0.05,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    bootstrap_method: Literal["percentile", "bca"] = "percentile",
    stratify: bool = True,
    beta: float = 2.0,
    random_state: int | None = None,
    progress: Callable[[int], None] | None = None,
    n_jobs: int | None = None,
) -> Comparison:
    """Compare saved predictions of several models on the same rows (no models needed).

    Parameters
    ----------
    y_true : array-like, or mapping of name to Predictions
        True labels or targets; or ready :class:`~afterfit.predictions.Predictions`, one
        per model (then leave ``y_scores`` out).
    y_scores : mapping of name to array-like
        Each model's scores, one per row of ``y_true``: binary ``(n,)`` positive-class
        scores (or ``(n, 2)``), multiclass ``(n, K)`` in ``classes`` order, regression
        ``(n,)`` predictions.
    task, classes, pos_label, sample_weight, scores_are_probabilities
        As :meth:`Predictions.from_arrays`, the same for every model.
    threshold : float or mapping of name to float, optional
        Binary decision threshold, one for all or one per model.
    metrics, baseline, tests, family, alpha, confidence, n_resamples, bootstrap_method, \
stratify, beta, random_state, progress, n_jobs
        As :func:`compare_models`.

    Returns
    -------
    Comparison

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 300)
    >>> a = y + rng.normal(0, 1.0, 300)
    >>> b = y + rng.normal(0, 0.5, 300)
    >>> cmp = compare_predictions(y, {"a": a, "b": b}, metrics=["roc_auc"], random_state=0)
    >>> cmp.frame()["verdict"].tolist()
    ['b better']
    """
    if y_scores is None:
        if not isinstance(y_true, Mapping) or not all(
            isinstance(p, Predictions) for p in y_true.values()
        ):
            raise InvalidInputError(
                "y_scores is missing: pass each model's scores as a mapping "
                "{name: scores}, or pass y_true as a mapping {name: Predictions}.",
                fix="compare_predictions(y_true, {'a': scores_a, 'b': scores_b}).",
            )
        preds = {_name(k): v for k, v in y_true.items()}
    else:
        if not isinstance(y_scores, Mapping):
            raise InvalidInputError(
                f"y_scores must be a mapping {{model name: scores}}; got "
                f"{type(y_scores).__name__}.",
                fix="pass y_scores={'model_a': scores_a, 'model_b': scores_b}.",
            )
        named = {_name(k): v for k, v in y_scores.items()}
        _check_count(named)
        n = _length(y_true, "y_true")
        for name, s in named.items():
            m = _length(s, f"the scores of model {name!r}")
            if m != n:
                raise InvalidInputError(
                    f"model {name!r} has {m} scores but y_true has {n} rows; every model "
                    "must be scored on the same rows.",
                    fix="pass one score (or one row of class scores) per row of y_true, "
                    "for every model, in the same row order.",
                )
        thresholds = _per_model(threshold, named, "threshold")
        preds = {}
        for name, s in named.items():
            with _about(name):
                preds[name] = Predictions.from_arrays(
                    y_true, s, task=task, classes=classes, pos_label=pos_label,
                    sample_weight=sample_weight,
                    scores_are_probabilities=scores_are_probabilities,
                    threshold=thresholds.get(name),
                )  # fmt: skip
    return _compare(
        preds, metrics=metrics, baseline=baseline, tests=tests, family=family, alpha=alpha,
        confidence=confidence, n_resamples=n_resamples, bootstrap_method=bootstrap_method,
        stratify=stratify, beta=beta, random_state=random_state, progress=progress,
        n_jobs=n_jobs,
    )  # fmt: skip


# --- input checks -----------------------------------------------------------------------


class _about:
    """Prefix the model's name to the message of an input error raised inside."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        if isinstance(exc, InvalidInputError) and not exc.problem.startswith("model "):
            raise type(exc)(f"model {self.name!r}: {exc.problem}", fix=exc.fix) from exc
        return False


def _name(key: Any) -> str:
    name = str(key)
    if not name.strip():
        raise InvalidInputError(
            "model names must not be empty.", fix="name every model, e.g. {'a': ..., 'b': ...}."
        )
    return name


def _named(models: Mapping[str, Any] | Sequence[Any]) -> dict[str, Any]:
    if isinstance(models, Mapping):
        named = {_name(k): v for k, v in models.items()}
        if len(named) != len(models):
            raise InvalidInputError(
                "two model names are the same once written as text: "
                f"{', '.join(map(repr, models))}.",
                fix="give every model a distinct name.",
            )
    elif isinstance(models, Sequence) and not isinstance(models, str | bytes):
        named = {f"model_{i + 1}": m for i, m in enumerate(models)}
    else:
        raise InvalidInputError(
            f"models must be a mapping {{name: model}} or a list of models; got "
            f"{type(models).__name__}.",
            fix="pass models={'a': model_a, 'b': model_b}.",
        )
    _check_count(named)
    return named


def _check_count(named: Mapping[str, Any]) -> None:
    if len(named) < 2:
        got = f"one ({next(iter(named))!r})" if named else "none"
        raise InvalidInputError(
            f"a comparison needs at least two models; got {got}.",
            fix="pass two or more models (to evaluate a single model use afterfit.evaluate).",
        )


def _length(values: Any, what: str) -> int:
    shape = np.shape(values)
    if not shape:
        raise InvalidInputError(
            f"{what} must be an array with one entry per row; got a scalar.",
            fix="pass one value per row.",
        )
    return int(shape[0])


def _per_model(
    value: float | Mapping[str, float] | None, named: Mapping[str, Any], argument: str
) -> dict[str, float | None]:
    if not isinstance(value, Mapping):
        return {name: value for name in named}
    unknown = [k for k in value if str(k) not in named]
    if unknown:
        raise InvalidInputError(
            f"{argument} names unknown model(s) {', '.join(map(repr, unknown))}; the models "
            f"are {', '.join(map(repr, named))}.",
            fix=f"key {argument} by the model names.",
        )
    return {name: value.get(name) for name in named}


def _labels(classes: Any) -> set[Any]:
    return {c.item() if isinstance(c, np.generic) else c for c in np.asarray(classes).tolist()}


def _check_models(models: Mapping[str, Any]) -> None:
    names = list(models)
    first = models[names[0]]
    for name in names[1:]:
        m = models[name]
        if m.task != first.task:
            raise InvalidInputError(
                f"the models solve different tasks: {names[0]!r} is {first.task}, "
                f"{name!r} is {m.task}.",
                fix="compare models of the same task, trained on the same target.",
            )
        if first.task != "regression" and _labels(m.classes_) != _labels(first.classes_):
            raise InvalidInputError(
                f"the models know different classes: {names[0]!r} has "
                f"{label_list(first.classes_)}, {name!r} has {label_list(m.classes_)}.",
                fix="compare models trained on the same classes (the same target encoding).",
            )


def _reorder(p: Predictions, classes: np.ndarray) -> Predictions:
    """Multiclass predictions with their score columns (and codes) in ``classes`` order."""
    text = [label_text(c) for c in p.classes]
    index = np.array([text.index(label_text(c)) for c in classes])
    new_code = np.empty(index.size, dtype=np.int64)
    new_code[index] = np.arange(index.size)
    return dataclasses.replace(
        p, scores=p.scores[:, index], y_true=new_code[p.y_true], classes=np.asarray(classes)
    )


def _align(preds: Mapping[str, Predictions]) -> dict[str, Predictions]:
    """Check that every model's predictions are of the same rows; align class order."""
    _check_count(preds)
    names = list(preds)
    first = preds[names[0]]
    out = {names[0]: first}
    for name in names[1:]:
        p = preds[name]
        if p.n != first.n:
            raise InvalidInputError(
                f"model {name!r} has predictions for {p.n} rows but {names[0]!r} has "
                f"{first.n}; every model must be scored on the same rows.",
                fix="score every model on the same test rows, in the same order.",
            )
        if p.task != first.task:
            raise InvalidInputError(
                f"the models solve different tasks: {names[0]!r} is {first.task}, "
                f"{name!r} is {p.task}.",
                fix="compare predictions of the same task (pass task=... to be explicit).",
            )
        if p.task != "regression":
            a = [label_text(c) for c in first.classes]
            b = [label_text(c) for c in p.classes]
            if set(a) != set(b):
                raise InvalidInputError(
                    f"the models know different classes: {names[0]!r} has "
                    f"{label_list(first.classes)}, {name!r} has {label_list(p.classes)}.",
                    fix="compare models trained on the same classes (the same target encoding).",
                )
            if p.task == "binary" and a[1] != b[1]:
                raise InvalidInputError(
                    f"the models score different positive classes: {names[0]!r} "
                    f"{a[1]}, {name!r} {b[1]}.",
                    fix="pass the same pos_label for every model.",
                )
            if p.task == "multiclass" and a != b:
                p = _reorder(p, first.classes)
        if not np.array_equal(p.y_true, first.y_true):
            row = int(np.flatnonzero(p.y_true != first.y_true)[0])
            raise InvalidInputError(
                f"model {name!r} was scored against other true values than {names[0]!r} "
                f"(they differ first at row {row}); every model must be scored on the same "
                "rows, in the same order.",
                fix="pass the same test rows and target to every model.",
            )
        wa, wb = first.sample_weight, p.sample_weight
        if (wa is None) != (wb is None) or (wa is not None and not np.array_equal(wa, wb)):
            raise InvalidInputError(
                f"models {names[0]!r} and {name!r} have different sample weights.",
                fix="pass the same sample_weight for every model (or none).",
            )
        out[name] = p
    return out


def _check_options(tests: str, family: str, alpha: float, confidence: float, n_resamples: int,
                   bootstrap_method: str) -> None:  # fmt: skip
    choices = {
        "tests": (tests, ("auto", "bootstrap")),
        "family": (family, ("metric", "all")),
        "bootstrap_method": (bootstrap_method, ("percentile", "bca")),
    }
    for argument, (value, allowed) in choices.items():
        if value not in allowed:
            raise InvalidInputError(
                f"{argument} must be one of {', '.join(map(repr, allowed))}; got {value!r}.",
                fix=f"pass {argument}={allowed[0]!r} (the default).",
            )
    for argument, value in (("alpha", alpha), ("confidence", confidence)):
        if not 0 < value < 1:
            raise InvalidInputError(
                f"{argument} must be between 0 and 1; got {value}.",
                fix="pass alpha=0.05 and confidence=0.95 (the defaults).",
            )
    check_interval_options(confidence=confidence, n_resamples=n_resamples)


# --- the comparison ---------------------------------------------------------------------


def _scoring(name: str, p: Predictions, beta: float) -> Scoring:
    if p.task == "binary":
        suite = BinarySuite(
            p.y_true, p.scores, p.sample_weight, threshold=p.threshold,
            probabilities=p.scores_are_probabilities, beta=beta, keep_order=True,
        )  # fmt: skip
        return Scoring(name, suite, suite.ranked.order, suite.ranked)
    if p.task == "multiclass":
        suite = MulticlassSuite(
            p.y_true, p.scores, p.sample_weight, labels=p.y_pred, class_names=p.class_names,
            probabilities=p.scores_are_probabilities, beta=beta,
        )  # fmt: skip
        return Scoring(name, suite)
    return Scoring(name, RegressionSuite(p.y_true, p.scores, p.sample_weight))


def _require_classes(p: Predictions) -> None:
    if p.task == "regression":
        return
    present = np.unique(p.y_true).size
    if present < 2:
        only = p.classes[int(p.y_true[0])]
        raise MetricError(
            f"y_true holds only one class ({label_text(only)}); ROC AUC and most other "
            "metrics need at least two.",
            fix="compare on data that holds every class (a larger or stratified test split).",
        )


def _metric_names(
    requested: Sequence[str] | None, scorings: Sequence[Scoring], task: str
) -> list[str]:
    available = [k[0] for k in scorings[0].suite.keys() if k[1] is None]
    for s in scorings[1:]:
        theirs = {k[0] for k in s.suite.keys() if k[1] is None}
        available = [m for m in available if m in theirs]
    if requested is None:
        return [m for m in DEFAULT_METRICS[task] if m in available]
    if isinstance(requested, str):
        requested = [requested]
    names = list(dict.fromkeys(requested))
    unknown = [m for m in names if m not in available]
    if unknown or not names:
        raise InvalidInputError(
            f"cannot compare metric(s) {', '.join(map(repr, unknown)) or '(none)'} for "
            f"{task} models; the metrics are: {', '.join(available)}.",
            fix="pass names from that list (log loss and Brier score need probabilities "
            "from every model).",
        )
    return names


def _pairs(names: list[str], baseline: str | None) -> list[tuple[int, int]]:
    if baseline is None:
        return [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
    if baseline not in names:
        raise InvalidInputError(
            f"baseline {baseline!r} is not one of the models: {', '.join(map(repr, names))}.",
            fix="pass the name of one of the compared models as baseline.",
        )
    b = names.index(baseline)
    return [(b, j) for j in range(len(names)) if j != b]


def _warn_missing(metric: str, diff: np.ndarray, estimate: float) -> None:
    bad = int(np.count_nonzero(~np.isfinite(diff)))
    if bad and math.isfinite(estimate):
        warnings.warn(
            f"{metric}: {bad} of {diff.size} paired bootstrap resamples gave no value (e.g. "
            "one class only); the interval and p-value use the rest. Stratified resampling "
            "(stratify=True) avoids most of these.",
            AfterfitWarning,
            stacklevel=4,
        )


def _compare(
    predictions: Mapping[str, Predictions],
    *,
    metrics: Sequence[str] | None,
    baseline: str | None,
    tests: str,
    family: str,
    alpha: float,
    confidence: float,
    n_resamples: int,
    bootstrap_method: str,
    stratify: bool,
    beta: float,
    random_state: int | None,
    progress: Callable[[int], None] | None,
    n_jobs: int | None,
) -> Comparison:
    _check_options(tests, family, alpha, confidence, n_resamples, bootstrap_method)
    preds = _align(predictions)
    names = list(preds)
    first = preds[names[0]]
    _require_classes(first)
    pairs = _pairs(names, baseline)
    scorings = [_scoring(name, p, beta) for name, p in preds.items()]
    metric_list = _metric_names(metrics, scorings, first.task)
    keys = [metric_key(m) for m in metric_list]
    weighted = first.sample_weight is not None
    analytic = tests == "auto" and not weighted
    stratified = stratify and first.task != "regression"

    point = {s.name: {k: float(v[0]) for k, v in s.suite.compute().items()} for s in scorings}
    reps = paired_bootstrap(
        scorings, keys, n=first.n, weight=first.sample_weight,
        strata=first.y_true if stratified else None, n_resamples=n_resamples,
        random_state=random_state, progress=progress, n_jobs=n_jobs,
    )  # fmt: skip
    jack = (
        paired_jackknife(scorings, keys, n=first.n, weight=first.sample_weight)
        if bootstrap_method == "bca"
        else None
    )
    boot_name = ("stratified " if stratified else "") + "paired bootstrap"

    def boot_interval(
        est: float, r: np.ndarray, j: np.ndarray | None, limits: tuple[float, float]
    ) -> tuple[float, float, str]:
        # The rules every resampling interval follows (metrics.resampling).
        return replicate_interval(
            est, r, j, confidence=confidence, method=bootstrap_method,
            describe=lambda kind: f"{boot_name} {kind}", limits=limits,
        )  # fmt: skip

    # Analytic tests, where exact.
    special: dict[tuple[str, tuple[int, int]], stats.PairTest] = {}
    if analytic and first.task == "binary" and "roc_auc" in metric_list:
        auc, cov = delong_covariance([s.ranked for s in scorings])
        for pair, result in stats.delong_pairs(auc, cov, pairs, confidence).items():
            special[("roc_auc", pair)] = result
    # Each model's own interval: the default evaluate and calibrate use too (Wilson,
    # DeLong), so the same accuracy gets the same interval on every page.
    own = [analytic_intervals(s.suite, confidence) if analytic else {} for s in scorings]
    if analytic and first.task != "regression" and "accuracy" in metric_list:
        correct = [p.y_pred == p.y_true for p in preds.values()]
        for i, j in pairs:
            special[("accuracy", (i, j))] = stats.mcnemar_test(correct[i], correct[j])
    if analytic and first.task == "regression":
        losses = {
            "mae": [np.abs(p.scores - p.y_true) for p in preds.values()],
            "mse": [(p.scores - p.y_true) ** 2 for p in preds.values()],
        }
        for metric, loss in losses.items():
            if metric in metric_list:
                for i, j in pairs:
                    special[(metric, (i, j))] = stats.paired_t_test(loss[i], loss[j], confidence)

    # Each model's value and interval.
    model_metrics = []
    for metric in metric_list:
        key = metric_key(metric)
        for m, s in enumerate(scorings):
            est = point[s.name][key]
            if key in own[m]:
                lo, hi, method = own[m][key]
            else:
                j = None if jack is None else jack[s.name][key]
                lo, hi, method = boot_interval(est, reps[s.name][key], j, bounds(metric))
            model_metrics.append(ModelMetric(s.name, metric, est, lo, hi, method))

    # Each pair's difference.
    raw: list[dict[str, Any]] = []
    for metric in metric_list:
        key = metric_key(metric)
        for i, j in pairs:
            a, b = names[i], names[j]
            va, vb = point[a][key], point[b][key]
            diff = reps[b][key] - reps[a][key]
            estimate = vb - va
            found = special.get((metric, (i, j)))
            if found is not None and found.test.startswith("mcnemar"):
                # McNemar gives the p-value; the interval is the paired bootstrap's.
                _warn_missing(metric, diff, estimate)
                jd = None if jack is None else jack[b][key] - jack[a][key]
                lo, hi, ci_method = boot_interval(estimate, diff, jd, difference_bounds(metric))
                result = dataclasses.replace(found, difference=estimate, ci_low=lo, ci_high=hi)
            elif found is not None:
                result, ci_method = found, found.test
            else:
                _warn_missing(metric, diff, estimate)
                jd = None if jack is None else jack[b][key] - jack[a][key]
                lo, hi, ci_method = boot_interval(estimate, diff, jd, difference_bounds(metric))
                result = stats.PairTest(
                    estimate, lo, hi, stats.bootstrap_p_value(diff), boot_name,
                    details={"n_resamples": int(np.count_nonzero(np.isfinite(diff)))},
                )  # fmt: skip
            raw.append({"a": a, "b": b, "metric": metric, "va": va, "vb": vb, "r": result,
                        "ci_method": ci_method})  # fmt: skip

    # Holm within each family.
    p_all = np.array([row["r"].p_value for row in raw])
    p_holm = np.full(p_all.shape, np.nan)
    groups = [metric_list] if family == "all" else [[m] for m in metric_list]
    for group in groups:
        idx = np.array([k for k, row in enumerate(raw) if row["metric"] in group], dtype=int)
        if idx.size:
            p_holm[idx] = stats.holm(p_all[idx])

    rows = []
    for row, ph in zip(raw, p_holm, strict=True):
        r: stats.PairTest = row["r"]
        higher = row["metric"] not in LOWER_IS_BETTER
        better = None
        if math.isfinite(ph) and ph < alpha and math.isfinite(r.difference) and r.difference:
            better = row["b"] if (r.difference > 0) == higher else row["a"]
        rows.append(
            ComparisonRow(
                model_a=row["a"],
                model_b=row["b"],
                metric=row["metric"],
                value_a=row["va"],
                value_b=row["vb"],
                difference=r.difference,
                ci_low=r.ci_low,
                ci_high=r.ci_high,
                p_value=r.p_value,
                p_holm=float(ph),
                test=r.test,
                ci_method=row["ci_method"],
                better=better,
                higher_is_better=higher,
                statistic=r.statistic,
                details=dict(r.details),
            )
        )
    settings = ComparisonSettings(
        tuple(metric_list), tests, family, alpha, confidence, n_resamples, bootstrap_method,
        stratified, random_state, baseline, beta,
    )  # fmt: skip
    return Comparison(
        task=first.task,
        models=tuple(names),
        rows=tuple(rows),
        model_metrics=tuple(model_metrics),
        settings=settings,
        n_rows=first.n,
        weighted=weighted,
        classes=None if first.task == "regression" else first.class_names,
        positive_label=None if first.task != "binary" else str(first.positive_label),
        thresholds={n: p.threshold for n, p in preds.items()} if first.task == "binary" else None,
        replicates={n: {k[0]: v for k, v in d.items()} for n, d in reps.items()},
    )
