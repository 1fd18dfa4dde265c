"""``compare_calibration``: two models' calibration on the same held-out rows.

Log loss, Brier score, ECE and MCE (equal-width and equal-mass bins) and accuracy of each
model, and the difference (second - first) with a *paired* bootstrap interval: every
resample draws the same rows for both models, so the interval of the difference is much
narrower than the two intervals side by side suggest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from afterfit.calibration._binning import STRATEGIES, BinnedSuite, brier_rows, log_loss_rows
from afterfit.calibration._common import (
    as_predictions,
    band,
    check_settings,
    fingerprint,
    interval,
    require_probabilities,
    require_two_classes,
    run_bootstrap,
)
from afterfit.calibration.report import BootstrapMethod, Strategy, forecast, top_label
from afterfit.calibration.results import (
    CalibrationComparison,
    ComparisonRow,
    ReliabilityCurve,
    metric_value,
)
from afterfit.errors import InvalidInputError
from afterfit.metrics.binary import MetricKey
from afterfit.metrics.intervals import wilson_method
from afterfit.predictions import Predictions

__all__ = ["compare_calibration"]

SIDES = ("before", "after")


def _check_held_out(models: tuple[Any, Any], X: Any) -> None:
    """Refuse to evaluate a calibrated model on its own calibration rows."""
    for model in models:
        stored = getattr(model, "calibration_fingerprint_", None)
        if stored is None or X is None:
            continue
        from afterfit.data import as_frame, check_features
        from afterfit.models import SklearnModel, as_model

        adapter = as_model(model)
        frame = check_features(as_frame(X, feature_names=adapter.feature_names), adapter)
        seen = (
            frame.to_numpy()
            if isinstance(adapter, SklearnModel) and adapter.feature_names is None
            else frame
        )
        if fingerprint(seen) == stored:
            raise InvalidInputError(
                "X holds exactly the rows the calibrated model was calibrated on; measured "
                "there, calibration looks better than it is.",
                fix="compare on held-out rows that neither the model nor its calibration "
                "map saw (split the data three ways: train, calibration, test).",
            )


def _same_rows(before: Predictions, after: Predictions) -> None:
    if before.task != after.task or before.class_names != after.class_names:
        raise InvalidInputError(
            f"The two predictions differ in task or classes: {before.task} "
            f"{before.class_names} against {after.task} {after.class_names}.",
            fix="compare two models of the same classes, scored on the same rows.",
        )
    if before.n != after.n or not np.array_equal(before.y_true, after.y_true):
        raise InvalidInputError(
            "The two predictions are not of the same rows: their true labels differ.",
            fix="score both models on the same held-out rows, in the same order.",
        )
    wb, wa = before.sample_weight, after.sample_weight
    if (wb is None) != (wa is None) or (wb is not None and not np.array_equal(wb, wa)):
        raise InvalidInputError(
            "The two predictions carry different sample weights.",
            fix="pass the same sample_weight to both.",
        )


def compare_calibration(
    before: Any,
    after: Any,
    X: Any = None,
    y: Any = None,
    *,
    sample_weight: Any = None,
    pos_label: Any = None,
    names: tuple[str, str] = ("uncalibrated", "calibrated"),
    n_bins: int = 10,
    strategy: Strategy = "uniform",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    bootstrap_method: BootstrapMethod = "bca",
    random_state: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> CalibrationComparison:
    """Calibration of two models on the same held-out rows, with paired intervals.

    Parameters
    ----------
    before, after : model or Predictions
        Typically a model and its :func:`afterfit.calibrate` result; both models (scored
        on ``X``) or both :class:`~afterfit.Predictions` of the same rows.
    X, y : optional
        Held-out rows and their labels (with models). They must not be the calibration
        split: a calibrated model evaluated on its own calibration rows is refused.
    sample_weight, pos_label : optional
        As in :func:`evaluate_calibration`.
    names : (str, str)
        Labels of the two models in tables and figures.
    n_bins, strategy, n_resamples, confidence, bootstrap_method, random_state, progress
        As in :func:`evaluate_calibration`; ``strategy`` chooses the bins of the two
        reliability curves.

    Returns
    -------
    CalibrationComparison
        Rows ``log_loss``, ``brier``, ``ece_uniform``, ``ece_quantile``, ``mce_uniform``,
        ``mce_quantile`` (multiclass: of the top label, plus ``classwise_ece_*``) and
        ``accuracy``, each before, after and as the paired difference ``after - before``;
        and the two reliability curves (``plot()`` draws them on one set of axes).

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.naive_bayes import GaussianNB
    >>> import afterfit
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = GaussianNB().fit(X[:200], y[:200])
    >>> calibrated = afterfit.calibrate(model, X[200:400], y[200:400])
    >>> result = compare_calibration(model, calibrated, X[400:], y[400:], n_resamples=200,
    ...                              random_state=0)
    >>> result["log_loss"].difference.value < 0
    True
    """
    if isinstance(before, Predictions) != isinstance(after, Predictions):
        raise InvalidInputError(
            "before and after must both be models or both be Predictions.",
            fix="pass two models with X and y, or two Predictions of the same rows.",
        )
    if len(names) != 2 or names[0] == names[1]:
        raise InvalidInputError(
            f"names must be two different labels; got {names!r}.",
            fix="pass names=('uncalibrated', 'calibrated').",
        )
    settings = check_settings(
        n_bins=n_bins, strategy=strategy, n_resamples=n_resamples, confidence=confidence,
        bootstrap_method=bootstrap_method, random_state=random_state,
    )  # fmt: skip
    _check_held_out((before, after), X)
    p0 = as_predictions(before, X, y, sample_weight=sample_weight, pos_label=pos_label,
                        argument="before")  # fmt: skip
    p1 = as_predictions(after, X, y, sample_weight=sample_weight, pos_label=pos_label,
                        argument="after")  # fmt: skip
    _same_rows(p0, p1)
    for p in (p0, p1):
        require_probabilities(p, what="comparing calibration")
    require_two_classes(p0)
    s = settings
    y_codes = np.asarray(p0.y_true, dtype=np.int64)
    w = p0.sample_weight
    multiclass = p0.task == "multiclass"
    K = len(p0.classes)
    forecasts, rows = [], {}
    for side, p in zip(SIDES, (p0, p1), strict=True):
        if multiclass:
            conf, correct = top_label(y_codes, p.scores)
            forecasts.append(forecast(side, conf, correct, s.n_bins, w))
            forecasts += [
                forecast(f"{side}:{k}", p.scores[:, k], y_codes == k, s.n_bins, w) for k in range(K)
            ]
        else:
            forecasts.append(forecast(side, p.scores, y_codes, s.n_bins, w))
        rows[f"{side}:log_loss"] = log_loss_rows(y_codes, p.scores)
        rows[f"{side}:brier"] = brier_rows(y_codes, p.scores)
        rows[f"{side}:accuracy"] = (p.y_pred == y_codes).astype(np.float64)

    metrics = ["log_loss", "brier", "ece_uniform", "ece_quantile", "mce_uniform", "mce_quantile"]
    if multiclass:
        metrics += ["classwise_ece_uniform", "classwise_ece_quantile"]
    metrics.append("accuracy")

    def derive(sums, means, bands):
        out: dict[MetricKey, np.ndarray] = {}
        for side in SIDES:
            values = {
                "log_loss": means[f"{side}:log_loss"],
                "brier": means[f"{side}:brier"],
                "accuracy": means[f"{side}:accuracy"],
            }
            for strategy in STRATEGIES:
                values[f"ece_{strategy}"] = sums[(side, strategy)].ece()
                values[f"mce_{strategy}"] = sums[(side, strategy)].mce()
                if multiclass:
                    eces = [sums[(f"{side}:{k}", strategy)].ece() for k in range(K)]
                    values[f"classwise_ece_{strategy}"] = np.mean(eces, axis=0)
            for m in metrics:
                out[(m, side)] = values[m]
            if bands:
                out[(f"curve:{side}", None)] = sums[(side, s.strategy)].fraction()
        for m in metrics:
            out[(m, "difference")] = out[(m, "after")] - out[(m, "before")]
        return out

    suite = BinnedSuite(forecasts, moments=set(), rows=rows, derive=derive, strata=y_codes,
                        weight=w)  # fmt: skip
    draws = run_bootstrap(suite, s, progress)
    if draws is not None:
        point = draws.estimate
    else:
        point = {k: v[0] for k, v in suite.compute().items()}

    def value(metric: str, side: str):
        key: MetricKey = (metric, side)
        if metric == "accuracy" and side != "difference" and w is None and draws is not None:
            # The accuracy's default interval wherever it is shown (evaluate, compare).
            correct = rows[f"{side}:accuracy"]
            ci = wilson_method(float(correct.sum()), float(correct.size), s.confidence)
            return metric_value(metric, float(point[key]), ci)
        return metric_value(metric, float(point[key]), interval(draws, key, s))

    table = tuple(
        ComparisonRow(m, value(m, "before"), value(m, "after"), value(m, "difference"))
        for m in metrics
    )
    sums, _ = suite.sums()
    curves = []
    by_name = {f.name: f for f in forecasts}
    for side, name in zip(SIDES, names, strict=True):
        binned = sums[(side, s.strategy)]
        low, high = band(draws, (f"curve:{side}", None), s)
        curves.append(
            ReliabilityCurve(
                edges=by_name[side].edges[s.strategy],
                mean_predicted=binned.mean_forecast()[0],
                fraction_positive=binned.fraction()[0],
                weight=binned.weight[0],
                strategy=s.strategy,
                kind="top_label" if multiclass else "binary",
                label=name,
                band_low=low,
                band_high=high,
                confidence=s.confidence,
                ece=value(f"ece_{s.strategy}", side),
                mce=value(f"mce_{s.strategy}", side),
            )
        )
    return CalibrationComparison(
        task=p0.task,
        n_rows=p0.n,
        classes=tuple(p0.class_names),
        settings=s,
        rows=table,
        before=curves[0],
        after=curves[1],
        names=(str(names[0]), str(names[1])),
    )
