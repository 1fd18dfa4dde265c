"""``evaluate`` and ``evaluate_predictions``: every metric, with intervals, and the curves."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from afterfit.errors import InvalidInputError, MetricError
from afterfit.evaluation.results import (
    Band,
    BinaryViews,
    CalibrationResult,
    ConfusionResult,
    CurveResult,
    MetricTable,
    MetricValue,
    ResidualsResult,
)
from afterfit.evaluation.views import binary_views
from afterfit.metrics import intervals
from afterfit.metrics.binary import FPR_GRID, RECALL_GRID, BinarySuite, MetricKey
from afterfit.metrics.kernel import RankedScores, keep_shape_points, pr_xy, roc_xy
from afterfit.metrics.multiclass import MulticlassSuite
from afterfit.metrics.regression import RegressionSuite
from afterfit.metrics.resampling import (
    BootstrapDraws,
    bootstrap,
    bootstrap_interval,
    check_interval_options,
    pointwise_band,
)
from afterfit.models.base import Task
from afterfit.predictions import Predictions, label_text

CIOption = Literal["auto", "bootstrap", "none"] | None

#: Curves with more points are thinned for tables, figures and results.json.
MAX_CURVE_POINTS = 20_000
#: Residual plots sample at most this many rows.
MAX_RESIDUAL_POINTS = 5_000


@dataclass(frozen=True)
class EvaluationSettings:
    confidence: float
    ci: str
    n_resamples: int
    bootstrap_method: str
    stratify: bool
    random_state: int | None
    beta: float
    n_bins: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Evaluation:
    """The result of :func:`evaluate`: metrics with intervals, confusion matrix and curves.

    Attributes present depend on the task: ``roc``, ``pr`` (binary; one-vs-rest lists in
    ``roc_per_class`` and ``pr_per_class`` for multiclass), ``calibration`` (binary, with
    probabilities), ``residuals`` (regression), ``views`` (binary: gain, lift, KS, decile
    table, decision and cost curves, :class:`~afterfit.evaluation.results.BinaryViews`).
    """

    predictions: Predictions
    metrics: MetricTable
    settings: EvaluationSettings
    confusion: ConfusionResult | None = None
    roc: CurveResult | None = None
    pr: CurveResult | None = None
    calibration: CalibrationResult | None = None
    roc_per_class: tuple[CurveResult, ...] = ()
    pr_per_class: tuple[CurveResult, ...] = ()
    residuals: ResidualsResult | None = None
    views: BinaryViews | None = None

    def __repr__(self) -> str:
        from afterfit.display import one_line, with_interval

        # the task's headline metric (as the report's summary), else the first one
        names = [n for n in ("roc_auc", "accuracy", "r2") if n in self.metrics]
        rows = [self.metrics[n] for n in names] or list(self.metrics.overall())
        m = rows[0] if rows else None
        head = None if m is None else with_interval(m.metric, m.value, m.ci_low, m.ci_high)
        return one_line("Evaluation", self.task, head, f"{self.predictions.n:,} rows")

    def _repr_html_(self) -> str:
        """Jupyter's display: headline with intervals, main figure, findings, tables."""
        from afterfit.display import html

        return html(self)

    @property
    def task(self) -> Task:
        return self.predictions.task

    def to_dict(self) -> dict[str, Any]:
        """The ``evaluation`` section of ``results.json``."""
        p = self.predictions
        curves: dict[str, Any] = {}
        if self.roc is not None:
            curves["roc"] = self.roc.to_dict()
        if self.pr is not None:
            curves["pr"] = self.pr.to_dict()
        if self.roc_per_class:
            curves["roc_per_class"] = [c.to_dict() for c in self.roc_per_class]
            curves["pr_per_class"] = [c.to_dict() for c in self.pr_per_class]
        if self.calibration is not None:
            curves["calibration"] = self.calibration.to_dict()
        return {
            "task": p.task,
            "n_rows": p.n,
            "weighted": p.sample_weight is not None,
            "classes": None if p.classes is None else p.class_names,
            "positive_label": None if p.task != "binary" else str(p.positive_label),
            "threshold": p.threshold if p.task == "binary" else None,
            "scores_are_probabilities": p.scores_are_probabilities,
            "settings": self.settings.to_dict(),
            "metrics": self.metrics.to_dict(),
            "confusion_matrix": None if self.confusion is None else self.confusion.to_dict(),
            "curves": curves,
            "residuals": None if self.residuals is None else self.residuals.to_dict(),
            "views": None if self.views is None else self.views.to_dict(),
        }


def evaluate(
    model: Any,
    X: Any,
    y: Any,
    *,
    sample_weight: Any = None,
    pos_label: Any = None,
    threshold: float | None = None,
    ci: CIOption = "auto",
    confidence: float = 0.95,
    n_resamples: int = 1000,
    bootstrap_method: Literal["bca", "percentile"] = "bca",
    stratify: bool = True,
    beta: float = 2.0,
    n_bins: int = 10,
    random_state: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Evaluation:
    """Evaluate a trained model on data: every metric with a confidence interval.

    Parameters
    ----------
    model : estimator, ONNX session, torch module or :class:`afterfit.models.Model`
        A trained model (see :func:`afterfit.models.as_model`).
    X : DataFrame (pandas or polars) or array
        Features; columns are checked against those the model expects.
    y : array-like
        True labels or targets.
    sample_weight : array-like, optional
    pos_label : optional
        Binary: the positive class (default: the model's second class).
    threshold : float, optional
        Binary decision threshold on the positive-class score (default 0.5 for
        probabilities, 0 for decision scores).
    ci : {"auto", "bootstrap", "none"}
        ``"auto"``: DeLong for ROC AUC and Wilson for proportions on unweighted data, the
        bootstrap for the rest. ``"bootstrap"``: the bootstrap for every metric.
    confidence : float
        Level of the intervals (default 0.95).
    n_resamples : int
        Bootstrap resamples.
    bootstrap_method : {"bca", "percentile"}
    stratify : bool
        Classification: resample within each class, so every resample keeps the class counts.
    beta : float
        Beta of the F-beta score reported beside F1.
    n_bins : int
        Bins of the calibration curve.
    random_state : int, optional
        Seed of the bootstrap: the same seed gives the same intervals.
    progress : callable, optional
        Called with the number of resamples done after each chunk.

    Returns
    -------
    Evaluation

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    >>> model = LogisticRegression(max_iter=5000).fit(X[:400], y[:400])
    >>> ev = evaluate(model, X[400:], y[400:], random_state=0)
    >>> ev.metrics["roc_auc"].method
    'delong'
    """
    preds = Predictions.from_model(
        model, X, y, sample_weight=sample_weight, pos_label=pos_label, threshold=threshold
    )
    return evaluate_predictions(
        preds,
        ci=ci,
        confidence=confidence,
        n_resamples=n_resamples,
        bootstrap_method=bootstrap_method,
        stratify=stratify,
        beta=beta,
        n_bins=n_bins,
        random_state=random_state,
        progress=progress,
    )


def evaluate_predictions(
    y_true: Any,
    y_score: Any = None,
    *,
    task: Task | None = None,
    classes: Any = None,
    pos_label: Any = None,
    sample_weight: Any = None,
    scores_are_probabilities: bool | None = None,
    threshold: float | None = None,
    ci: CIOption = "auto",
    confidence: float = 0.95,
    n_resamples: int = 1000,
    bootstrap_method: Literal["bca", "percentile"] = "bca",
    stratify: bool = True,
    beta: float = 2.0,
    n_bins: int = 10,
    random_state: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Evaluation:
    """Evaluate saved predictions (no model needed).

    ``y_true`` may also be a ready :class:`~afterfit.predictions.Predictions` (then leave
    ``y_score`` out). The other options are those of :func:`evaluate` and of
    :meth:`Predictions.from_arrays`.

    Examples
    --------
    >>> ev = evaluate_predictions([0, 1, 1, 0, 1], [0.2, 0.9, 0.6, 0.4, 0.3], ci="none")
    >>> round(ev.metrics["roc_auc"].value, 3)
    0.667
    """
    if isinstance(y_true, Predictions):
        preds = y_true
    else:
        if y_score is None:
            raise InvalidInputError(
                "y_score is missing.", fix="pass the scores or predictions as y_score."
            )
        preds = Predictions.from_arrays(
            y_true,
            y_score,
            task=task,
            classes=classes,
            pos_label=pos_label,
            sample_weight=sample_weight,
            scores_are_probabilities=scores_are_probabilities,
            threshold=threshold,
        )
    ci = "none" if ci is None else ci
    _check_options(ci, confidence, n_resamples, bootstrap_method, n_bins)
    settings = EvaluationSettings(
        confidence, ci, n_resamples, bootstrap_method, stratify, random_state, beta, n_bins
    )
    if preds.task == "binary":
        return _evaluate_binary(preds, settings, progress)
    if preds.task == "multiclass":
        return _evaluate_multiclass(preds, settings, progress)
    return _evaluate_regression(preds, settings, progress)


#: Metrics of the binary table that do not change with the decision threshold.
RANKING_METRICS = ("roc_auc", "average_precision", "log_loss", "brier")


def threshold_metrics(
    preds: Predictions,
    *,
    ci: CIOption = "auto",
    confidence: float = 0.95,
    n_resamples: int = 1000,
    bootstrap_method: Literal["bca", "percentile"] = "bca",
    stratify: bool = True,
    beta: float = 2.0,
    n_bins: int = 10,
    random_state: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> MetricTable:
    """The rows of :func:`evaluate_predictions`' metric table that depend on the decision
    threshold (accuracy, precision, recall, F1, MCC...), at ``preds.threshold``.

    Values and intervals are those ``evaluate_predictions`` gives with the same options
    (the same resamples: curves and bands draw no randomness of their own), without the
    curves, bands, views and ranking metrics that do not move with the threshold; what
    :func:`afterfit.thresholds.operating_point` shows at a chosen threshold. Above
    :data:`~afterfit.metrics.resampling.LARGE_N` rows the resampled cells are only those
    the threshold (and the suite's other fixed cuts) define, not the score bins the
    ranking metrics need: the same bootstrap distribution of these metrics, other draws.

    Examples
    --------
    >>> from afterfit.predictions import Predictions
    >>> p = Predictions.from_arrays([0, 1, 1, 0, 1], [0.2, 0.9, 0.6, 0.4, 0.3])
    >>> round(threshold_metrics(p, ci="none")["recall"].value, 3)
    0.667
    """
    if preds.task != "binary":
        raise InvalidInputError(
            f"threshold metrics are for binary predictions; these are {preds.task}.",
            fix="pass binary predictions (evaluate_predictions covers the other tasks).",
        )
    ci = "none" if ci is None else ci
    _check_options(ci, confidence, n_resamples, bootstrap_method, n_bins)
    s = EvaluationSettings(
        confidence, ci, n_resamples, bootstrap_method, stratify, random_state, beta, n_bins
    )
    _require_two_classes(preds)
    # Without log loss and Brier score (not threshold metrics): no per-row losses.
    suite = _binary_suite(dataclasses.replace(preds, scores_are_probabilities=False), s)
    point = suite.compute()
    # Above LARGE_N rows the cells need no score bins of their own: these metrics read
    # only the confusion matrix, which the cut at the threshold keeps exact.
    draws = _draws(suite, s, progress, bands=False, cell_bins=1)
    analytic = {}
    if s.ci == "auto" and preds.sample_weight is None:
        analytic = intervals.analytic_intervals(suite, s.confidence, auc=False)
    keys = [k for k in suite.keys() if k[0] not in RANKING_METRICS]
    return _table(keys, point, draws, s, analytic)


def _check_options(ci: str, confidence: float, n_resamples: int, method: str, n_bins: int):
    if ci not in ("auto", "bootstrap", "none"):
        raise InvalidInputError(
            f"ci must be 'auto', 'bootstrap' or 'none'; got {ci!r}.",
            fix="pass ci='auto' (analytic where exact, bootstrap otherwise).",
        )
    check_interval_options(
        confidence=confidence,
        n_resamples=None if ci == "none" else n_resamples,
        bootstrap_method=method,
        no_intervals="ci='none'",
    )
    if n_bins < 1:
        raise InvalidInputError(f"n_bins must be at least 1; got {n_bins}.", fix="pass n_bins=10.")


def _require_two_classes(preds: Predictions) -> None:
    if len(preds.classes) == 2:  # no int64 copy of a large binary target
        positives = np.count_nonzero(preds.y_true)
        counts = np.array([preds.n - positives, positives])
    else:
        counts = np.bincount(preds.y_true, minlength=len(preds.classes))
    if np.count_nonzero(counts) < 2:
        only = preds.classes[int(np.argmax(counts))]
        raise MetricError(
            f"y_true holds only one class ({label_text(only)}); ROC AUC, average precision, "
            "recall of the other class and most other metrics need both classes.",
            fix="evaluate on data that holds both classes (a larger or stratified test split).",
        )


def _draws(
    suite: Any, s: EvaluationSettings, progress, bands: bool, **options: Any
) -> BootstrapDraws | None:
    if s.ci == "none":
        return None
    return bootstrap(
        suite,
        n_resamples=s.n_resamples,
        stratify=s.stratify and suite.strata is not None,
        jackknife=s.bootstrap_method == "bca",
        bands=bands,
        random_state=s.random_state,
        progress=progress,
        **options,
    )


def _analytic(
    suite: Any, preds: Predictions, s: EvaluationSettings
) -> dict[MetricKey, tuple[float, float, str]]:
    """Wilson and DeLong where ``ci="auto"`` and the rows are unweighted (the default that
    ``compare`` and ``calibrate`` share: :func:`afterfit.metrics.intervals.analytic_intervals`)."""
    if s.ci != "auto" or preds.sample_weight is not None:
        return {}
    return intervals.analytic_intervals(suite, s.confidence)


def _table(
    keys: list[MetricKey],
    point: dict[MetricKey, np.ndarray],
    draws: BootstrapDraws | None,
    s: EvaluationSettings,
    analytic: dict[MetricKey, tuple[float, float, str]],
) -> MetricTable:
    rows = []
    for key in keys:
        value = float(point[key][0])
        if key in analytic:
            lo, hi, method = analytic[key]
        elif draws is not None and key[0] != "support":
            lo, hi, method = bootstrap_interval(
                draws, key, confidence=s.confidence, method=s.bootstrap_method
            )
        else:
            lo, hi, method = math.nan, math.nan, "none"
        rows.append(MetricValue(key[0], value, lo, hi, method, key[1]))
    return MetricTable(tuple(rows), s.confidence)


def _band(draws: BootstrapDraws | None, key: MetricKey, grid: np.ndarray, s) -> Band | None:
    if draws is None or key not in draws.replicates:
        return None
    lo, hi = pointwise_band(draws.replicates[key], s.confidence)
    return Band(grid, lo, hi, s.confidence)


def _curves(
    pos: np.ndarray,
    total: np.ndarray,
    ranked: RankedScores,
    auc: MetricValue,
    ap: MetricValue,
    label: str | None,
    roc_band: Band | None = None,
    pr_band: Band | None = None,
) -> tuple[CurveResult, CurveResult]:
    """ROC and PR curves, thinned to their shape, from the counts at the group ends."""
    d = pos.size
    roc_at = roc_xy(pos, total)
    keep = keep_shape_points(roc_at, d, MAX_CURVE_POINTS - 1)
    thresholds = ranked.scores[ranked.group_end[keep]]
    fpr, tpr = roc_at(keep)
    roc = CurveResult(
        "roc",
        np.concatenate([[0.0], fpr]),
        np.concatenate([[0.0], tpr]),
        np.concatenate([[np.inf], thresholds]),
        auc, label, roc_band, d + 1,
    )  # fmt: skip
    pr_at = pr_xy(pos, total)
    keep = keep_shape_points(pr_at, d, MAX_CURVE_POINTS - 1)
    recall, precision = pr_at(keep)
    # As scikit-learn's precision_recall_curve: increasing thresholds, ending at (0, 1).
    pr = CurveResult(
        "pr",
        np.concatenate([recall[::-1], [0.0]]),
        np.concatenate([precision[::-1], [1.0]]),
        np.concatenate([ranked.scores[ranked.group_end[keep]][::-1], [np.inf]]),
        ap, label, pr_band, d + 1,
    )  # fmt: skip
    return roc, pr


def _binary_suite(preds: Predictions, s: EvaluationSettings) -> BinarySuite:
    return BinarySuite(
        preds.y_true,
        preds.scores,
        preds.sample_weight,
        threshold=preds.threshold,
        probabilities=preds.scores_are_probabilities,
        beta=s.beta,
        n_bins=s.n_bins,
    )


def _evaluate_binary(preds: Predictions, s: EvaluationSettings, progress) -> Evaluation:
    _require_two_classes(preds)
    suite = _binary_suite(preds, s)
    cm = suite.confusion_matrices()[0]
    point = suite.compute()
    draws = _draws(suite, s, progress, bands=True)
    analytic = _analytic(suite, preds, s)
    table = _table(suite.keys(), point, draws, s, analytic)
    return binary_evaluation(
        preds, suite, table, draws, s, cm, preds.threshold, preds.scores_are_probabilities
    )


def binary_evaluation(
    preds: Predictions,
    suite: BinarySuite,
    table: MetricTable,
    draws: Any,
    s: EvaluationSettings,
    cm: np.ndarray,
    threshold: float | None,
    probabilities: bool,
) -> Evaluation:
    """A binary :class:`Evaluation` from its suite, metric table and bootstrap draws: the
    curves with their bands, calibration, the confusion matrix and the views. One place for
    the in-memory and the streamed (:mod:`afterfit.evaluation.streaming`) evaluations."""
    counts = suite.point_counts()
    roc, pr = _curves(
        counts.pos[0], counts.total[0], suite.ranked, table["roc_auc"],
        table["average_precision"],
        None, _band(draws, ("curve:roc", None), FPR_GRID, s),
        _band(draws, ("curve:pr", None), RECALL_GRID, s),
    )  # fmt: skip
    calibration = None
    if probabilities:
        mean_score, fraction, weight = suite.calibration()
        band = _band(draws, ("curve:calibration", None), mean_score, s)
        calibration = CalibrationResult(
            suite.calibration_edges, mean_score, fraction, weight,
            None if band is None else band.low, None if band is None else band.high,
            s.confidence,
        )  # fmt: skip
    confusion = ConfusionResult(cm, tuple(preds.class_names), threshold)
    extra = binary_views(suite, draws, confidence=s.confidence, bootstrap_method=s.bootstrap_method)
    return Evaluation(preds, table, s, confusion, roc, pr, calibration, views=extra)


def _evaluate_multiclass(preds: Predictions, s: EvaluationSettings, progress) -> Evaluation:
    _require_two_classes(preds)
    suite = MulticlassSuite(
        preds.y_true,
        preds.scores,
        preds.sample_weight,
        labels=preds.y_pred,
        class_names=preds.class_names,
        probabilities=preds.scores_are_probabilities,
        beta=s.beta,
    )
    point = suite.compute()
    draws = _draws(suite, s, progress, bands=False)
    analytic = _analytic(suite, preds, s)
    table = _table(suite.keys(), point, draws, s, analytic)
    return multiclass_evaluation(preds, table, s, suite.confusion_matrices()[0], suite.ranked)


def multiclass_evaluation(
    preds: Predictions,
    table: MetricTable,
    s: EvaluationSettings,
    cm: np.ndarray,
    ranked: list[RankedScores],
) -> Evaluation:
    """A multiclass :class:`Evaluation` from its metric table, confusion matrix and each
    class's one-vs-rest ranking (rows, or the score bins of a streamed evaluation): the
    per-class ROC and PR curves and the confusion matrix."""
    rocs, prs = [], []
    for k, c in enumerate(preds.class_names):
        counts = ranked[k].counts_at_ends()
        auc = next(r for r in table.per_class() if r.metric == "roc_auc" and r.label == c)
        ap = next(r for r in table.per_class() if r.metric == "average_precision" and r.label == c)
        roc, pr = _curves(counts.pos[0], counts.total[0], ranked[k], auc, ap, c)
        rocs.append(roc)
        prs.append(pr)
    confusion = ConfusionResult(cm, tuple(preds.class_names))
    return Evaluation(
        preds, table, s, confusion, roc_per_class=tuple(rocs), pr_per_class=tuple(prs)
    )


def _evaluate_regression(preds: Predictions, s: EvaluationSettings, progress) -> Evaluation:
    suite = RegressionSuite(preds.y_true, preds.scores, preds.sample_weight)
    point = suite.compute()
    draws = _draws(suite, s, progress, bands=False)
    table = _table(suite.keys(), point, draws, s, {})
    y, p = preds.y_true, preds.scores
    res = y - p
    quantiles = dict(zip(("q05", "q25", "q50", "q75", "q95"),
                         np.quantile(res, [0.05, 0.25, 0.5, 0.75, 0.95]), strict=True))  # fmt: skip
    sampled = preds.n > MAX_RESIDUAL_POINTS
    if sampled:
        rows = np.sort(
            np.random.default_rng(s.random_state).choice(preds.n, MAX_RESIDUAL_POINTS, False)
        )
        y, p = y[rows], p[rows]
    residuals = ResidualsResult(y, p, sampled, preds.n, quantiles)
    return Evaluation(preds, table, s, residuals=residuals)
