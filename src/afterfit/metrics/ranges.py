"""The range of every metric, and intervals that stay inside it.

One place knows that accuracy lies in [0, 1], that a loss is never negative and that R²
is at most 1. Every interval builder asks it:

* a resampling interval (percentile, BCa) is clipped to the range, which only ever acts on
  m-out-of-n replicates that were rescaled past an edge (:func:`clip`);
* a normal or t interval around a mean is built on a scale on which the range is the whole
  line and mapped back (:func:`t_interval`): logit for a metric with two finite ends, log
  for one that is never negative, log of ``1 - x`` for one that is at most 1. A symmetric
  interval on that scale is asymmetric on the metric's own, and never leaves the range.

A name this module does not know has no range, and its intervals are left as they are.
"""

from __future__ import annotations

import math
import re

import numpy as np

__all__ = ["bounds", "clip", "difference_bounds", "key_bounds", "scale_name", "t_interval"]

INF = math.inf

#: The range of each base metric name (suffixes such as ``_macro`` are stripped first).
METRIC_RANGES: dict[str, tuple[float, float]] = {
    # Proportions and areas.
    **{
        name: (0.0, 1.0)
        for name in (
            "accuracy",
            "balanced_accuracy",
            "precision",
            "recall",
            "specificity",
            "sensitivity",
            "npv",
            "ppv",
            "fpr",
            "fnr",
            "tpr",
            "tnr",
            "roc_auc",
            "average_precision",
            "ece",
            "mce",
            "classwise_ece",
            "positive_rate",
            "ks",
            "coverage",
            "hit_rate",
        )
    },
    # Correlation-like agreement scores.
    "mcc": (-1.0, 1.0),
    "cohen_kappa": (-1.0, 1.0),
    # Losses and errors: never negative.
    **{
        name: (0.0, INF)
        for name in (
            "log_loss",
            "brier",
            "brier_binned",
            "mae",
            "mse",
            "rmse",
            "mape",
            "median_ae",
            "reliability",
            "resolution",
            "uncertainty",
            "within_bin_variance",
        )
    },
    # Skill scores: 1 is perfect, no lower end.
    "r2": (-INF, 1.0),
    "explained_variance": (-INF, 1.0),
}

#: Curves banded by the bootstrap whose values are not shares in [0, 1] (the rest are: true
#: positive rate, precision, observed frequency, cumulative gain).
CURVE_RANGES: dict[str, tuple[float, float]] = {"curve:net_benefit": (-INF, 1.0)}

#: Suffixes that name an average or a binning, not another quantity.
_SUFFIX = re.compile(r"_(macro|weighted|micro|samples|ovr|ovo|uniform|quantile)$")
#: F-beta scores: ``f1``, ``f2``, ``f0_5``.
_FBETA = re.compile(r"^f\d+(_\d+)?$")


def bounds(metric: str) -> tuple[float, float]:
    """``(low, high)`` of ``metric``'s possible values; ``(-inf, inf)`` when unknown.

    Examples
    --------
    >>> bounds("roc_auc_ovr_macro"), bounds("brier"), bounds("r2"), bounds("f0_5")
    ((0.0, 1.0), (0.0, inf), (-inf, 1.0), (0.0, 1.0))
    """
    name = str(metric)
    if name.startswith("curve:"):
        # A curve of one class or one side (``curve:after``) is an observed frequency too.
        return CURVE_RANGES.get(name, (0.0, 1.0))
    name = name.removeprefix("decomposition:")
    while True:
        stripped = _SUFFIX.sub("", name)
        if stripped == name:
            break
        name = stripped
    if name in METRIC_RANGES:
        return METRIC_RANGES[name]
    if _FBETA.match(name):
        return (0.0, 1.0)
    return (-INF, INF)


def difference_bounds(metric: str) -> tuple[float, float]:
    """The range of a difference of two values of ``metric``: ``±(high - low)``."""
    low, high = bounds(metric)
    span = high - low
    return (-span, span)


def key_bounds(key: tuple[str, str | None]) -> tuple[float, float]:
    """Bounds of a suite's metric key ``(name, label)``.

    The label ``"difference"`` marks a paired difference (a calibration comparison's
    ``after - before``), whose range is :func:`difference_bounds`.
    """
    name, label = key
    return difference_bounds(name) if label == "difference" else bounds(name)


def clip(low: float, high: float, limits: tuple[float, float]) -> tuple[float, float]:
    """``(low, high)`` moved inside ``limits`` (NaN stays NaN)."""
    lo, hi = limits
    if not math.isnan(low):
        low = min(max(low, lo), hi)
    if not math.isnan(high):
        high = min(max(high, lo), hi)
    return float(low), float(high)


def scale_name(limits: tuple[float, float]) -> str:
    """The scale :func:`t_interval` works on for a metric with these limits."""
    lo, hi = limits
    if math.isfinite(lo) and math.isfinite(hi):
        return "logit"
    if math.isfinite(lo):
        return "log"
    if math.isfinite(hi):
        return "log(1 - x)" if hi == 1.0 else f"log({hi:g} - x)"
    return "identity"


def t_interval(
    mean: float, se: float, quantile: float, limits: tuple[float, float]
) -> tuple[float, float, str]:
    """``mean ± quantile * se`` built on a scale that maps ``limits`` onto the whole line.

    The standard error is carried to the transformed scale by the delta method
    (``se * |g'(mean)|``), the symmetric interval is built there and mapped back, so both
    ends stay strictly inside an open range and the interval is asymmetric near an edge
    (an accuracy of 0.99 gets a long lower arm and a short upper one).

    Returns
    -------
    low, high : float
    scale : str
        ``"logit"``, ``"log"``, ``"log(1 - x)"``, ``"identity"`` (no finite limit), or
        ``"clipped"``: a mean on (or past) an edge, where no transform exists, so the plain
        interval is clipped to the range.

    Examples
    --------
    >>> low, high, scale = t_interval(0.99, 0.01, 2.0, (0.0, 1.0))
    >>> round(low, 4), round(high, 4), scale
    (0.9292, 0.9987, 'logit')
    """
    lo, hi = limits
    scale = scale_name(limits)
    if not (math.isfinite(mean) and math.isfinite(se)):
        return math.nan, math.nan, scale
    half = quantile * se
    inside = lo < mean < hi
    if scale == "identity" or not inside:
        low, high = clip(mean - half, mean + half, limits)
        return low, high, "identity" if scale == "identity" else "clipped"
    if scale == "logit":
        u = (mean - lo) / (hi - lo)
        centre = math.log(u / (1 - u))
        spread = half / ((hi - lo) * u * (1 - u))
        ends = np.array([centre - spread, centre + spread])
        low, high = lo + (hi - lo) / (1 + np.exp(-ends))
    elif scale == "log":
        spread = half / (mean - lo)
        low, high = lo + (mean - lo) * np.exp([-spread, spread])
    else:  # log of the distance to the upper end
        spread = half / (hi - mean)
        high, low = hi - (hi - mean) * np.exp([-spread, spread])
    return float(low), float(high), scale
