"""Shared checks of the calibration steps: inputs, options, bootstrap intervals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from afterfit.calibration._binning import STRATEGIES
from afterfit.calibration.results import CalibrationSettings
from afterfit.errors import InvalidInputError, MetricError
from afterfit.metrics.binary import MetricKey
from afterfit.metrics.resampling import (
    BootstrapDraws,
    bootstrap,
    bootstrap_interval,
    check_interval_options,
    pointwise_band,
)
from afterfit.predictions import Predictions, label_text


def as_predictions(
    obj: Any,
    X: Any,
    y: Any,
    *,
    sample_weight: Any = None,
    pos_label: Any = None,
    argument: str = "model_or_predictions",
) -> Predictions:
    """``obj`` as is when it is a :class:`Predictions`, else the model ``obj`` scored on X."""
    if isinstance(obj, Predictions):
        if X is not None or y is not None or sample_weight is not None:
            raise InvalidInputError(
                f"{argument} is a Predictions, which already holds the true labels, scores "
                "and weights, so X, y and sample_weight must be left out.",
                fix="pass either a Predictions alone, or a model with X and y.",
            )
        return obj
    if X is None or y is None:
        raise InvalidInputError(
            f"{argument} is a model, so X and y are needed: the rows to score and their "
            "true labels.",
            fix="pass model, X, y (held-out rows), or a Predictions built with "
            "afterfit.Predictions.from_arrays(y_true, probabilities).",
        )
    return Predictions.from_model(obj, X, y, sample_weight=sample_weight, pos_label=pos_label)


def check_settings(
    *,
    n_bins: int,
    strategy: str,
    n_resamples: int,
    confidence: float,
    bootstrap_method: str,
    random_state: int | None,
) -> CalibrationSettings:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise InvalidInputError(
            f"n_bins must be a positive integer; got {n_bins!r}.",
            fix="pass n_bins=10 (the default) or another whole number of bins.",
        )
    if strategy not in STRATEGIES:
        raise InvalidInputError(
            f"strategy must be 'uniform' (equal-width bins) or 'quantile' (equal-mass bins); "
            f"got {strategy!r}.",
            fix="pass strategy='uniform' or strategy='quantile'.",
        )
    check_interval_options(
        confidence=confidence,
        n_resamples=n_resamples,
        bootstrap_method=bootstrap_method,
        no_intervals="n_resamples=0",
    )
    return CalibrationSettings(
        int(n_bins), strategy, int(n_resamples), float(confidence), bootstrap_method, random_state
    )


def require_probabilities(preds: Predictions, *, what: str = "calibration") -> None:
    """Calibration is about class probabilities: classification with probability scores."""
    if preds.task == "regression":
        raise MetricError(
            f"{what} applies to classifiers; these predictions are a regression.",
            fix="pass a classifier and its class labels.",
        )
    if not preds.scores_are_probabilities:
        raise MetricError(
            f"{what} needs class probabilities, but the scores are decision scores (not in "
            "[0, 1], or marked scores_are_probabilities=False).",
            fix="turn them into probabilities first: afterfit.calibrate(model, X_cal, y_cal, "
            "method='sigmoid') (CLI: afterfit calibrate --calibration-data cal.parquet), or "
            "pass predict_proba output.",
        )


def require_two_classes(preds: Predictions, *, what: str = "the data") -> None:
    counts = np.bincount(np.asarray(preds.y_true, dtype=np.int64), minlength=len(preds.classes))
    if np.count_nonzero(counts) < 2:
        only = preds.classes[int(np.argmax(counts))]
        raise MetricError(
            f"{what} holds only one class ({label_text(only)}): resolution, uncertainty and "
            "the bootstrap strata need at least two.",
            fix="use held-out data that holds every class (a larger or stratified split).",
        )


def run_bootstrap(
    suite: Any, s: CalibrationSettings, progress: Callable[[int], None] | None
) -> BootstrapDraws | None:
    """Stratified bootstrap (with a grouped jackknife for BCa), or None without resamples."""
    if s.n_resamples == 0:
        return None
    return bootstrap(
        suite,
        n_resamples=s.n_resamples,
        stratify=True,
        jackknife=s.bootstrap_method == "bca",
        bands=True,
        random_state=s.random_state,
        progress=progress,
    )


def interval(
    draws: BootstrapDraws | None, key: MetricKey, s: CalibrationSettings
) -> tuple[float, float, str] | None:
    if draws is None:
        return None
    return bootstrap_interval(draws, key, confidence=s.confidence, method=s.bootstrap_method)


def band(
    draws: BootstrapDraws | None, key: MetricKey, s: CalibrationSettings
) -> tuple[np.ndarray | None, np.ndarray | None]:
    if draws is None or key not in draws.replicates:
        return None, None
    return pointwise_band(draws.replicates[key], s.confidence)


def fingerprint(X: Any) -> str:
    """An order-free fingerprint of a table's rows: row count and the sum of row hashes.

    Stored by a calibrated model for its calibration split, so that an evaluation on the
    very same rows can be refused. It compares values, not column names.
    """
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)
    return f"{hashes.size}:{int(hashes.sum(dtype=np.uint64)):016x}"
