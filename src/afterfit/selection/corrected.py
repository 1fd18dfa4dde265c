"""The corrected resampled t statistic of Nadeau & Bengio (2003).

Folds of a cross-validation share most of their training rows, so their scores are
positively correlated and the naive standard error ``sd / sqrt(J)`` of their mean is too
small: a naive interval is too narrow and a naive paired t test rejects far too often
(Dietterich 1998; Bouckaert & Frank 2004). Nadeau and Bengio replace the variance factor
``1 / J`` by ``1 / J + n_test / n_train``:

.. math::

    \\hat\\sigma^2_{\\bar x} = \\left(\\frac{1}{J} + \\frac{n_2}{n_1}\\right) s^2,

with ``J`` the number of folds in all (folds times repeats), ``s^2`` the sample variance of
the ``J`` fold values, ``n_1`` training and ``n_2`` test rows per fold; the statistic is
referred to Student's t with ``J - 1`` degrees of freedom. For a paired comparison of two
models on the same folds, the values are the per-fold differences.

The interval of a metric's mean respects the metric's range: given ``metric``, it is built
on the scale of :func:`afterfit.metrics.ranges.t_interval` (logit for a proportion or an
AUC, log for a loss, log of ``1 - x`` for R²) with the corrected standard error carried
there by the delta method, and mapped back; ``method`` names the scale. A plain
``mean ± t se`` of a cross-validated accuracy of 0.99 over five folds reaches past 1.
Fold values without spread give no interval (``method`` says why), not a zero-width one.

References: C. Nadeau and Y. Bengio, "Inference for the generalization error", Machine
Learning 52 (2003) 239-281; R. Bouckaert and E. Frank, "Evaluating the replicability of
significance tests for comparing learning algorithms", PAKDD 2004.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from afterfit.errors import InvalidInputError
from afterfit.metrics.ranges import bounds, t_interval

__all__ = ["CorrectedT", "corrected_resampled_t", "corrected_t_stats"]


@dataclass(frozen=True)
class CorrectedT:
    """The corrected resampled t statistic of a set of fold values (or differences).

    Attributes
    ----------
    mean, sd : float
        Mean and sample standard deviation (``ddof=1``) of the ``n_folds`` values.
    se : float
        Corrected standard error ``sqrt((1/J + n_test/n_train) s^2)``.
    naive_se : float
        Naive standard error ``s / sqrt(J)`` (shown for contrast only).
    low, high : float
        Corrected interval of the mean at ``confidence``.
    naive_low, naive_high : float
        Naive interval (same t quantile, naive standard error).
    t : float
        ``(mean - null) / se``.
    p_value : float
        Two-sided p-value of ``mean == null`` (Student's t, ``df`` degrees of freedom).
    df : int
        ``J - 1``.
    n_folds : int
        ``J``.
    test_train_ratio : float
        ``n_test / n_train`` used in the correction.
    confidence : float
    method : str
        How ``low, high`` were built, e.g. ``"corrected resampled t (Nadeau-Bengio), logit
        scale"``, or ``"none (...)"`` with the reason there is no interval.
    """

    mean: float
    sd: float
    se: float
    naive_se: float
    low: float
    high: float
    naive_low: float
    naive_high: float
    t: float
    p_value: float
    df: int
    n_folds: int
    test_train_ratio: float
    confidence: float
    method: str = "corrected resampled t (Nadeau-Bengio)"

    def to_dict(self) -> dict[str, Any]:
        from afterfit.jsonsafe import scalar

        return {k: scalar(v) for k, v in self.__dict__.items()}


def _ratio(n_train: Any, n_test: Any) -> float:
    train = np.asarray(n_train, dtype=np.float64).reshape(-1)
    test = np.asarray(n_test, dtype=np.float64).reshape(-1)
    if train.size == 0 or test.size == 0 or np.any(train <= 0) or np.any(test <= 0):
        raise InvalidInputError(
            f"n_train and n_test must be positive row counts; received {n_train!r} and {n_test!r}.",
            fix="pass the number of training and test rows per fold (or their means).",
        )
    # Folds of unequal size (n not divisible by k): the ratio of the mean sizes.
    return float(test.mean() / train.mean())


def corrected_t_stats(
    values: Any,
    n_train: Any,
    n_test: Any,
    *,
    confidence: float = 0.95,
    null: float = 0.0,
    metric: str | None = None,
) -> CorrectedT:
    """Corrected resampled t statistics of fold ``values`` (Nadeau & Bengio 2003).

    Parameters
    ----------
    values : array-like of shape (J,)
        One value per fold (all repeats together), or per-fold differences of two models.
    n_train, n_test : int or array-like
        Training and test rows per fold (arrays of one count per fold are averaged).
    confidence : float
        Level of the intervals.
    null : float
        Value of the mean under the null hypothesis (0 for differences).
    metric : str, optional
        The metric the values are of: the intervals are built on a scale that keeps them
        in its range (:func:`afterfit.metrics.ranges.bounds`). Leave it out for
        differences, and for values with no range; then ``mean ± t se``.

    Returns
    -------
    CorrectedT
        NaN intervals and p-value when fewer than 2 values are finite; NaN intervals
        (and the reason in ``method``) when every value is the same.
    """
    if not 0.0 < float(confidence) < 1.0:
        raise InvalidInputError(
            f"confidence must be between 0 and 1; received {confidence!r}.",
            fix="pass confidence=0.95.",
        )
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    x = x[np.isfinite(x)]
    ratio = _ratio(n_train, n_test)
    J = int(x.size)
    nan = math.nan
    if J == 0:
        return CorrectedT(nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, 0, 0, ratio,
                          confidence, "none (no finite fold value)")  # fmt: skip
    # Identical values: exactly that value, exactly no spread (no round-off in the sum).
    constant = bool(x.max() == x.min())
    mean = float(x[0]) if constant else float(x.mean())
    if J < 2:
        return CorrectedT(mean, nan, nan, nan, nan, nan, nan, nan, nan, nan, 0, J, ratio,
                          confidence, "none (one fold value: no spread to estimate)")  # fmt: skip
    sd = 0.0 if constant else float(x.std(ddof=1))
    se = math.sqrt((1.0 / J + ratio) * sd * sd)
    naive_se = sd / math.sqrt(J)
    df = J - 1
    q = float(stats.t.ppf(0.5 + confidence / 2.0, df))
    diff = mean - null
    if se > 0:
        t = diff / se
        p = float(2.0 * stats.t.sf(abs(t), df))
    else:  # identical fold values: certain, whichever side of the null they fall
        t = 0.0 if diff == 0 else math.copysign(math.inf, diff)
        p = 1.0 if diff == 0 else 0.0
    if constant:
        # A zero-width interval would claim a certainty that J folds cannot give.
        reason = f"none (all {J} fold values are {mean:.6g}: no spread, so no interval)"
        return CorrectedT(mean, sd, se, naive_se, nan, nan, nan, nan, t, p, df, J, ratio,
                          float(confidence), reason)  # fmt: skip
    limits = (-math.inf, math.inf) if metric is None else bounds(metric)
    low, high, scale = t_interval(mean, se, q, limits)
    naive_low, naive_high, _ = t_interval(mean, naive_se, q, limits)
    method = "corrected resampled t (Nadeau-Bengio)"
    if scale == "clipped":  # a mean on an edge with spread: values outside the range
        method += ", clipped to the metric's range"
    elif scale != "identity":
        method += f", {scale} scale"
    return CorrectedT(
        mean, sd, se, naive_se, low, high, naive_low, naive_high, t, p, df, J, ratio,
        float(confidence), method,
    )  # fmt: skip


def corrected_resampled_t(
    values: Any,
    n_train: Any,
    n_test: Any,
    *,
    n_repeats: int | None = None,
    confidence: float = 0.95,
    metric: str | None = None,
) -> tuple[float, float, float]:
    """Mean of fold ``values`` and its corrected resampled t interval.

    The variance of the mean is ``(1/J + n_test/n_train) * s^2`` with ``J = len(values)``
    (folds times repeats) instead of the naive ``s^2 / J``; the interval uses Student's t
    with ``J - 1`` degrees of freedom. See :func:`corrected_t_stats` for every number.
    ``n_repeats`` is accepted for symmetry with the splitters; ``J`` is always the number
    of values (when given, it must divide it). ``metric`` keeps the interval in the
    metric's range (see :func:`corrected_t_stats`).

    Returns
    -------
    (mean, low, high) : tuple of float

    Examples
    --------
    >>> m, lo, hi = corrected_resampled_t([0.80, 0.82, 0.78, 0.81, 0.79], 80, 20)
    >>> round(m, 3), round(lo, 3), round(hi, 3)
    (0.8, 0.771, 0.829)
    """
    if n_repeats is not None:
        J = np.asarray(values).size
        if isinstance(n_repeats, bool) or int(n_repeats) < 1 or J % int(n_repeats):
            raise InvalidInputError(
                f"n_repeats={n_repeats!r} does not divide the {J} fold values.",
                fix="pass one value per fold of every repeat, or leave n_repeats out.",
            )
    s = corrected_t_stats(values, n_train, n_test, confidence=confidence, metric=metric)
    return s.mean, s.low, s.high
