"""``evaluate_calibration``: reliability diagrams, ECE/MCE and the Brier decomposition.

Every number has a stratified bootstrap interval; all of them come from one sparse product
of the resample weights with the rows' bin memberships (:mod:`._binning`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from afterfit.calibration._binning import (
    STRATEGIES,
    BinnedSuite,
    BinSums,
    Forecast,
    bin_edges,
    brier_rows,
    log_loss_rows,
)
from afterfit.calibration._common import (
    as_predictions,
    band,
    check_settings,
    interval,
    require_probabilities,
    require_two_classes,
    run_bootstrap,
)
from afterfit.calibration.results import (
    COMPONENTS,
    BrierDecomposition,
    CalibrationReport,
    CalibrationSettings,
    ReliabilityCurve,
    metric_value,
)
from afterfit.evaluation.results import MetricTable, MetricValue
from afterfit.metrics.binary import MetricKey
from afterfit.metrics.resampling import BootstrapDraws
from afterfit.predictions import Predictions

__all__ = ["evaluate_calibration", "top_label"]

Strategy = Literal["uniform", "quantile"]
BootstrapMethod = Literal["bca", "percentile"]


def top_label(y: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Confidence (largest probability) and whether the predicted class is right, per row.

    Ties go to the first class, as ``argmax`` (and afterfit's predicted labels) break them.
    """
    pred = np.argmax(proba, axis=1)
    return proba[np.arange(y.size), pred], (pred == y).astype(np.float64)


def forecast(
    name: str, p: np.ndarray, o: np.ndarray, n_bins: int, weight: np.ndarray | None
) -> Forecast:
    """A forecast binned both ways (equal width and equal mass)."""
    return Forecast(name, p, o, {s: bin_edges(p, n_bins, s, weight) for s in STRATEGIES})


def evaluate_calibration(
    model_or_predictions: Any,
    X: Any = None,
    y: Any = None,
    *,
    sample_weight: Any = None,
    pos_label: Any = None,
    n_bins: int = 10,
    strategy: Strategy = "uniform",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    bootstrap_method: BootstrapMethod = "bca",
    random_state: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> CalibrationReport:
    """How well a classifier's probabilities are calibrated, with bootstrap intervals.

    Parameters
    ----------
    model_or_predictions : model or Predictions
        A trained classifier (anything :func:`afterfit.as_model` takes, including a
        :class:`~afterfit.calibration.CalibratedModel`) scored on ``X``, or ready
        :class:`~afterfit.Predictions` holding probabilities.
    X : table, optional
        Held-out features (with a model).
    y : array-like, optional
        Their true labels (with a model).
    sample_weight : array-like, optional
        With a model: weights of the rows (a Predictions carries its own).
    pos_label : optional
        Binary: the class whose probability is assessed (default: the second class).
    n_bins : int
        Bins of the reliability diagram and of each ECE.
    strategy : {"uniform", "quantile"}
        Bins of the reliability diagram and of the Brier decomposition: equal width on
        [0, 1], or equal mass (quantiles of the forecasts). ECE and MCE are reported for
        both binnings whatever this is.
    n_resamples : int
        Bootstrap resamples (stratified by class); 0 for point values only.
    confidence : float
        Level of the intervals and bands.
    bootstrap_method : {"bca", "percentile"}
    random_state : int, optional
        Seed of the bootstrap: the same seed gives the same intervals.
    progress : callable, optional
        Called with the number of resamples done after each chunk.

    Returns
    -------
    CalibrationReport
        ``metrics`` (ECE and MCE with equal-width and equal-mass bins, Brier score, log
        loss), ``reliability`` (binary: positive class; multiclass: top label), the Brier
        ``decomposition`` and, for multiclass models, one-vs-rest curves and
        decompositions per class.

    Notes
    -----
    ECE is ``sum_b (n_b / N) |o_b - f_b|`` and MCE ``max_b |o_b - f_b|`` over non-empty
    bins, with ``f_b`` the mean forecast and ``o_b`` the observed frequency in bin ``b``.
    For multiclass models the overall ECE and MCE are those of the top label (confidence
    against accuracy, Guo et al. 2017) and ``classwise_ece_*`` is the mean of the
    one-vs-rest ECEs. The Brier decomposition (Murphy 1973) is computed in the bins of
    ``strategy``: ``brier_binned = reliability - resolution + uncertainty`` holds exactly
    for the forecasts replaced by their bin means, and ``brier = brier_binned + residual``
    where ``residual = within_bin_variance - 2 * within_bin_covariance`` (Stephenson et al.
    2008). Equal-mass bin edges are the quantiles of the whole sample, kept fixed across
    bootstrap resamples.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.naive_bayes import GaussianNB
    >>> X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    >>> model = GaussianNB().fit(X[:300], y[:300])
    >>> report = evaluate_calibration(model, X[300:], y[300:], n_resamples=200, random_state=0)
    >>> round(report["ece_uniform"].value, 3) > 0
    True
    """
    preds = as_predictions(
        model_or_predictions, X, y, sample_weight=sample_weight, pos_label=pos_label
    )
    settings = check_settings(
        n_bins=n_bins,
        strategy=strategy,
        n_resamples=n_resamples,
        confidence=confidence,
        bootstrap_method=bootstrap_method,
        random_state=random_state,
    )
    require_probabilities(preds)
    require_two_classes(preds)
    if preds.task == "binary":
        return _binary_report(preds, settings, progress)
    return _multiclass_report(preds, settings, progress)


def _metric(
    name: str, point: dict, draws: BootstrapDraws | None, s: CalibrationSettings, label=None
) -> MetricValue:
    key: MetricKey = (name, label)
    return metric_value(name, float(point[key]), interval(draws, key, s), label)


def _decomposition(
    point: dict, draws: BootstrapDraws | None, s: CalibrationSettings, label: str | None
) -> BrierDecomposition:
    parts = {
        c: metric_value(c, float(point[(f"decomposition:{c}", label)]),
                        interval(draws, (f"decomposition:{c}", label), s), label)
        for c in COMPONENTS
    }  # fmt: skip
    return BrierDecomposition(**parts, strategy=s.strategy, n_bins=s.n_bins, label=label)


def _curve(
    sums: BinSums,
    edges: np.ndarray,
    kind: str,
    label: str | None,
    point: dict,
    draws: BootstrapDraws | None,
    s: CalibrationSettings,
    band_key: MetricKey,
    metric_label: str | None,
) -> ReliabilityCurve:
    low, high = band(draws, band_key, s)
    return ReliabilityCurve(
        edges=edges,
        mean_predicted=sums.mean_forecast()[0],
        fraction_positive=sums.fraction()[0],
        weight=sums.weight[0],
        strategy=s.strategy,
        kind=kind,
        label=label,
        band_low=low,
        band_high=high,
        confidence=s.confidence,
        ece=_metric(f"ece_{s.strategy}", point, draws, s, metric_label),
        mce=_metric(f"mce_{s.strategy}", point, draws, s, metric_label),
    )


def _point(suite: BinnedSuite, draws: BootstrapDraws | None) -> dict[MetricKey, float]:
    values = draws.estimate if draws is not None else {k: v[0] for k, v in suite.compute().items()}
    return {k: v for k, v in values.items() if not k[0].startswith("curve:")}


def _binary_report(
    preds: Predictions, s: CalibrationSettings, progress: Callable[[int], None] | None
) -> CalibrationReport:
    y = np.asarray(preds.y_true, dtype=np.int64)
    p = preds.scores
    w = preds.sample_weight
    event = forecast("event", p, y, s.n_bins, w)
    binning = ("event", s.strategy)

    def derive(sums, means, bands):
        out: dict[MetricKey, np.ndarray] = {}
        for strategy in STRATEGIES:
            out[(f"ece_{strategy}", None)] = sums[("event", strategy)].ece()
            out[(f"mce_{strategy}", None)] = sums[("event", strategy)].mce()
        out[("brier", None)] = means["brier"]
        out[("log_loss", None)] = means["log_loss"]
        for c, v in sums[binning].decomposition().items():
            out[(f"decomposition:{c}", None)] = v
        if bands:
            out[("curve:reliability", None)] = sums[binning].fraction()
        return out

    suite = BinnedSuite(
        [event],
        moments={binning},
        rows={"brier": brier_rows(y, p), "log_loss": log_loss_rows(y, p)},
        derive=derive,
        strata=y,
        weight=w,
        cells_by="event",
    )
    draws = run_bootstrap(suite, s, progress)
    point = _point(suite, draws)
    sums, _ = suite.sums()
    names = ["ece_uniform", "ece_quantile", "mce_uniform", "mce_quantile", "brier", "log_loss"]
    table = MetricTable(tuple(_metric(m, point, draws, s) for m in names), s.confidence)
    curve = _curve(sums[binning], event.edges[s.strategy], "binary", str(preds.positive_label),
                   point, draws, s, ("curve:reliability", None), None)  # fmt: skip
    return CalibrationReport(
        task="binary",
        n_rows=preds.n,
        classes=tuple(preds.class_names),
        positive_label=str(preds.positive_label),
        weighted=w is not None,
        settings=s,
        metrics=table,
        reliability=curve,
        decomposition=_decomposition(point, draws, s, None),
    )


def _multiclass_report(
    preds: Predictions, s: CalibrationSettings, progress: Callable[[int], None] | None
) -> CalibrationReport:
    y = np.asarray(preds.y_true, dtype=np.int64)
    proba = preds.scores
    w = preds.sample_weight
    names = preds.class_names
    confidence, correct = top_label(y, proba)
    top = forecast("top", confidence, correct, s.n_bins, w)
    per_class = [
        forecast(f"class:{k}", proba[:, k], y == k, s.n_bins, w) for k in range(len(names))
    ]
    moments = {(f.name, s.strategy) for f in per_class}

    def derive(sums, means, bands):
        out: dict[MetricKey, np.ndarray] = {}
        for strategy in STRATEGIES:
            out[(f"ece_{strategy}", None)] = sums[("top", strategy)].ece()
            out[(f"mce_{strategy}", None)] = sums[("top", strategy)].mce()
            eces = [sums[(f.name, strategy)].ece() for f in per_class]
            out[(f"classwise_ece_{strategy}", None)] = np.mean(eces, axis=0)
            for c, f, e in zip(names, per_class, eces, strict=True):
                out[(f"ece_{strategy}", c)] = e
                out[(f"mce_{strategy}", c)] = sums[(f.name, strategy)].mce()
        out[("brier", None)] = means["brier"]
        out[("log_loss", None)] = means["log_loss"]
        total: dict[str, np.ndarray] = {}
        for c, f in zip(names, per_class, strict=True):
            for comp, v in sums[(f.name, s.strategy)].decomposition().items():
                out[(f"decomposition:{comp}", c)] = v
                total[comp] = total.get(comp, 0.0) + v
            out[("brier", c)] = out[("decomposition:brier", c)]
        for comp, v in total.items():
            out[(f"decomposition:{comp}", None)] = v
        if bands:
            out[("curve:reliability", None)] = sums[("top", s.strategy)].fraction()
            for c, f in zip(names, per_class, strict=True):
                out[("curve:reliability", c)] = sums[(f.name, s.strategy)].fraction()
        return out

    suite = BinnedSuite(
        [top, *per_class],
        moments=moments,
        rows={"brier": brier_rows(y, proba), "log_loss": log_loss_rows(y, proba)},
        derive=derive,
        strata=y,
        weight=w,
    )
    draws = run_bootstrap(suite, s, progress)
    point = _point(suite, draws)
    sums, _ = suite.sums()
    overall = ["ece_uniform", "ece_quantile", "mce_uniform", "mce_quantile"]
    overall += ["classwise_ece_uniform", "classwise_ece_quantile", "brier", "log_loss"]
    rows = [_metric(m, point, draws, s) for m in overall]
    by_class = ["ece_uniform", "ece_quantile", "mce_uniform", "mce_quantile", "brier"]
    rows += [_metric(m, point, draws, s, c) for c in names for m in by_class]
    curve = _curve(sums[("top", s.strategy)], top.edges[s.strategy], "top_label", "top label",
                   point, draws, s, ("curve:reliability", None), None)  # fmt: skip
    curves = tuple(
        _curve(sums[(f.name, s.strategy)], f.edges[s.strategy], "one_vs_rest", c, point, draws,
               s, ("curve:reliability", c), c)
        for c, f in zip(names, per_class, strict=True)
    )  # fmt: skip
    return CalibrationReport(
        task="multiclass",
        n_rows=preds.n,
        classes=tuple(names),
        positive_label=None,
        weighted=w is not None,
        settings=s,
        metrics=MetricTable(tuple(rows), s.confidence),
        reliability=curve,
        decomposition=_decomposition(point, draws, s, None),
        reliability_per_class=curves,
        decomposition_per_class=tuple(_decomposition(point, draws, s, c) for c in names),
    )
