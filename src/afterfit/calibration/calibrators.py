"""The calibration maps, as plain numbers.

Three maps, each fitted on a calibration split the model never saw:

- **sigmoid** (Platt 1999): a logistic regression ``p = expit(slope * f + intercept)`` of
  the labels on a score ``f`` -- the decision function when the model has one, otherwise
  the logit of its probability -- with Platt's smoothed targets, as scikit-learn's
  ``CalibratedClassifierCV(method="sigmoid")``. Multiclass: one map per class against the
  rest, then each row is normalised to sum to 1.
- **isotonic**: a non-decreasing step-linear map fitted by scikit-learn's
  ``IsotonicRegression(out_of_bounds="clip")`` on the same score (the decision function,
  else the probability itself), one-vs-rest and normalised for multiclass.
- **temperature** (Guo et al. 2017): one scalar ``T`` minimising the log loss of
  ``softmax(log(p) / T)``; multiclass and binary; it never changes the predicted class.

Fitted maps are plain numbers (numpy arrays and floats), so a
:class:`~afterfit.calibration.CalibratedModel` saved with skops holds no nested calibrator
object. This module knows nothing of the model that applies them
(:mod:`afterfit.calibration.model` imports it, never the other way round);
:func:`~afterfit.calibration.calibrate` lives in :mod:`afterfit.calibration.fitting`.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from scipy.special import expit, log_softmax, softmax

from afterfit.errors import AfterfitWarning, InvalidInputError

__all__ = [
    "ISOTONIC_MIN_ROWS",
    "METHODS",
    "Method",
    "check_method",
    "clip_rounding",
    "fit_isotonic",
    "fit_sigmoid",
    "fit_temperature",
    "isotonic_map",
    "logit",
    "probabilities_from_maps",
    "sigmoid_map",
    "temperature_map",
]

Method = Literal["sigmoid", "isotonic", "temperature"]
METHODS: tuple[str, ...] = ("sigmoid", "isotonic", "temperature")

#: Below this many calibration rows isotonic regression overfits: afterfit warns
#: (scikit-learn's user guide advises against it for far fewer than 1000 samples).
ISOTONIC_MIN_ROWS = 1000

#: Probabilities are kept this far from 0 and 1 before taking a logarithm (as
#: scikit-learn's temperature scaling, ``log(p + 1e-12)``).
LOGIT_EPS = 1e-12

#: |scores| above this are scaled down before the sigmoid fit (as scikit-learn does); the
#: fitted map is the same, the Newton steps better conditioned.
_SCALE_THRESHOLD = 30.0


def logit(p: np.ndarray) -> np.ndarray:
    """``log(p / (1 - p))`` with ``p`` kept within ``[1e-12, 1 - 1e-12]``."""
    pc = np.clip(p, LOGIT_EPS, 1.0 - LOGIT_EPS)
    return np.log(pc) - np.log1p(-pc)


def log_probabilities(proba: np.ndarray) -> np.ndarray:
    """The logits temperature scaling divides: ``log(p + 1e-12)``."""
    return np.log(proba + LOGIT_EPS)


# --- sigmoid (Platt) ----------------------------------------------------------------------


def fit_sigmoid(
    f: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
) -> tuple[float, float]:
    """Platt's sigmoid ``p = expit(slope * f + intercept)`` fitted to labels ``y`` (0/1).

    Maximum likelihood with Platt's smoothed targets ``(N+ + 1) / (N+ + 2)`` and
    ``1 / (N- + 2)`` (which keep the fit finite on separable data), by Newton's method with
    a backtracking line search, to a gradient of 1e-10 per unit weight.

    Returns
    -------
    slope, intercept : float
    """
    f = np.asarray(f, dtype=np.float64)
    pos = np.asarray(y) > 0
    w = np.ones_like(f) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    scale = float(np.max(np.abs(f))) if f.size else 1.0
    scale = scale if scale >= _SCALE_THRESHOLD else 1.0
    F = f / scale
    prior1 = float(w[pos].sum())
    prior0 = float(w[~pos].sum())
    t = np.where(pos, (prior1 + 1.0) / (prior1 + 2.0), 1.0 / (prior0 + 2.0))
    total = float(w.sum())

    def loss(ab: np.ndarray) -> float:
        z = ab[0] * F + ab[1]
        return float(w @ (np.logaddexp(0.0, z) - t * z))

    ab = np.array([0.0, np.log((prior1 + 1.0) / (prior0 + 1.0))])
    current = loss(ab)
    for _ in range(200):
        q = expit(ab[0] * F + ab[1])
        r = w * (q - t)
        grad = np.array([r @ F, r.sum()])
        if np.max(np.abs(grad)) <= 1e-10 * total:
            break
        h = w * q * (1.0 - q)
        hess = np.array([[h @ (F * F), h @ F], [h @ F, h.sum()]])
        hess += np.eye(2) * 1e-12 * max(np.trace(hess), 1e-300)
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            step = grad / max(np.trace(hess), 1e-12)
        alpha = 1.0
        while alpha > 1e-12:
            candidate = ab - alpha * step
            value = loss(candidate)
            if value <= current - 1e-4 * alpha * float(grad @ step):
                break
            alpha /= 2
        else:  # no decrease possible any more: at the optimum to machine precision
            break
        ab, current = candidate, value
    return float(ab[0] / scale), float(ab[1])


def sigmoid_map(f: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    return expit(slope * np.asarray(f, dtype=np.float64) + intercept)


# --- isotonic -----------------------------------------------------------------------------


def fit_isotonic(
    f: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A non-decreasing map fitted by scikit-learn's ``IsotonicRegression``.

    Returns its interpolation points ``(x, y)``: the map is linear between them and
    constant beyond them (``out_of_bounds="clip"``).
    """
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip")
    iso.fit(np.asarray(f, dtype=np.float64), np.asarray(y, dtype=np.float64), sample_weight)
    return np.asarray(iso.X_thresholds_, dtype=np.float64), np.asarray(
        iso.y_thresholds_, dtype=np.float64
    )


def isotonic_map(f: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Evaluate a fitted isotonic map (linear between its points, clipped beyond)."""
    f = np.asarray(f, dtype=np.float64)
    if x.size == 1:
        return np.full(f.shape, y[0])
    from scipy.interpolate import interp1d

    # The interpolation scikit-learn's IsotonicRegression.predict uses, so the calibrated
    # probabilities equal its own bit for bit.
    return interp1d(x, y, kind="linear", assume_sorted=True)(np.clip(f, x[0], x[-1]))


# --- from the maps to probabilities -------------------------------------------------------


def probabilities_from_maps(cols: list[np.ndarray], n_classes: int) -> np.ndarray:
    """Class probabilities from the calibrated maps' outputs: binary, the positive class's
    map and its complement; multiclass, the one-vs-rest maps normalised (the uniform
    distribution where every map says 0). The fitted model and the bundle's JSON replay
    of it both end here, so they agree bit for bit."""
    if n_classes == 2:
        return np.column_stack([1.0 - cols[0], cols[0]])
    proba = np.column_stack(cols)
    total = proba.sum(axis=1, keepdims=True)
    return np.divide(proba, total, out=np.full_like(proba, 1.0 / n_classes), where=total != 0)


def clip_rounding(proba: np.ndarray) -> np.ndarray:
    """``proba`` with values a rounding above 1 (up to 1e-5) set to 1, in place."""
    proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0
    return proba


# --- temperature --------------------------------------------------------------------------


def _nll(logits: np.ndarray, y: np.ndarray, w: np.ndarray | None, temperature: float) -> float:
    z = log_softmax(logits / temperature, axis=1)[np.arange(y.size), y]
    return float(-np.average(z, weights=w))


def fit_temperature(
    logits: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
) -> float:
    """The temperature ``T`` minimising the mean log loss of ``softmax(logits / T)``.

    Searched on ``log T`` in ``[-10, 10]`` by bounded Brent minimisation
    (``scipy.optimize.minimize_scalar``); warns when the optimum lies on a bound.
    """
    from scipy.optimize import minimize_scalar

    logits = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    result = minimize_scalar(
        lambda log_t: _nll(logits, y, sample_weight, float(np.exp(log_t))),
        bounds=(-10.0, 10.0),
        method="bounded",
        options={"xatol": 1e-10},
    )
    if abs(result.x) > 10.0 - 1e-6:
        warnings.warn(
            f"temperature scaling: the best temperature lies on the search bound "
            f"(T = {np.exp(result.x):.3g}); the model's probabilities carry almost no "
            "information, or are already as sharp as they can be, on the calibration split.",
            AfterfitWarning,
            stacklevel=3,
        )
    return float(np.exp(result.x))


def temperature_map(logits: np.ndarray, temperature: float) -> np.ndarray:
    return softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)


def nll(logits: np.ndarray, y: np.ndarray, temperature: float = 1.0) -> float:
    """Mean log loss of ``softmax(logits / temperature)`` (used by tests and reports)."""
    return _nll(np.asarray(logits, dtype=np.float64), np.asarray(y), None, temperature)


# --- the public entry point -----------------------------------------------------------------


def check_method(method: str) -> str:
    if method not in METHODS:
        raise InvalidInputError(
            f"method must be one of {', '.join(map(repr, METHODS))}; got {method!r}.",
            fix="pass method='sigmoid' (Platt), 'isotonic' or 'temperature' (multiclass "
            "and binary probabilities).",
        )
    return method
