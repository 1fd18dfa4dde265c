"""Paired tests between two models scored on the same rows.

* :func:`delong_test`: ROC AUC, DeLong's test from the structural components of each
  model (fast algorithm of Sun & Xu, 2014), with their covariance across models.
* :func:`mcnemar_test`: accuracy, McNemar's test on the discordant rows (exact binomial
  below :data:`MCNEMAR_EXACT_BELOW` discordant rows, chi-square with continuity correction
  from there on).
* :func:`paired_t_test`: mean per-row loss (regression: squared or absolute error), the
  Diebold-Mariano test with independent rows, i.e. a paired t-test on the loss
  differences.
* :func:`bootstrap_p_value`: two-sided p-value of a difference from its paired bootstrap
  replicates.
* :func:`holm`: Holm's step-down adjustment of a family of p-values.

Every test returns a :class:`PairTest`; the difference is always ``b - a``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats
from scipy.special import ndtr

from afterfit.metrics.intervals import delong_covariance, z_value
from afterfit.metrics.kernel import RankedScores

#: McNemar's test is exact (binomial) when fewer rows than this are discordant, and the
#: chi-square approximation with continuity correction otherwise (the usual rule of thumb:
#: the approximation is good from about 25 discordant pairs on).
MCNEMAR_EXACT_BELOW = 25


@dataclass(frozen=True)
class PairTest:
    """The outcome of one paired test of ``b - a``.

    Attributes
    ----------
    difference : float
        Estimate of ``value_b - value_a``.
    ci_low, ci_high : float
        Interval of the difference (NaN when the test gives none).
    p_value : float
        Two-sided p-value of "no difference" (NaN when it cannot be computed).
    test : str
        Name of the test, e.g. ``"delong"``, ``"mcnemar exact"``.
    statistic : float
        The test statistic (z, chi-square, t, discordant count...), NaN if none.
    details : dict
        Extra numbers (discordant counts, variance, degrees of freedom...).
    """

    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str
    statistic: float = math.nan
    details: dict[str, Any] = field(default_factory=dict)


def delong_test(
    ranked: Sequence[RankedScores],
    confidence: float = 0.95,
    pairs: Sequence[tuple[int, int]] | None = None,
) -> dict[tuple[int, int], PairTest]:
    """DeLong's test of pairs of ROC AUCs on the same rows.

    Parameters
    ----------
    ranked : sequence of RankedScores
        One per model, built with ``keep_order=True`` from the same labels and no weights.
    confidence : float
        Level of the interval of each difference.
    pairs : sequence of (i, j), optional
        The pairs to test (default: every ``i < j``).

    Returns
    -------
    dict
        ``(i, j) -> PairTest`` of ``auc_j - auc_i`` (see :func:`delong_pairs`).
    """
    auc, cov = delong_covariance(ranked)
    return delong_pairs(auc, cov, pairs, confidence)


def delong_pairs(
    auc: np.ndarray,
    cov: np.ndarray,
    pairs: Sequence[tuple[int, int]] | None = None,
    confidence: float = 0.95,
) -> dict[tuple[int, int], PairTest]:
    """DeLong's test of AUC differences from the AUCs and their covariance matrix.

    For each pair ``(i, j)``: ``d = auc_j - auc_i``, ``z = d / sqrt(var_i + var_j -
    2 cov_ij)``, the two-sided normal p-value, and the interval ``d ± z_(1+confidence)/2 *
    se`` (not clipped). When the variance of the difference is 0 (e.g. two models that rank
    the rows alike), p is 1 for ``d = 0`` and 0 otherwise.
    """
    k = auc.size
    if pairs is None:
        pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    z_crit = z_value(confidence)
    out: dict[tuple[int, int], PairTest] = {}
    for i, j in pairs:
        d = float(auc[j] - auc[i])
        var = float(cov[i, i] + cov[j, j] - 2 * cov[i, j])
        if not (math.isfinite(var) and math.isfinite(d)):
            out[(i, j)] = PairTest(d, math.nan, math.nan, math.nan, "delong")
            continue
        # Round-off of identical components can leave a tiny negative variance.
        var = max(var, 0.0)
        se = math.sqrt(var)
        if se <= 1e-12:
            z = 0.0 if abs(d) <= 1e-12 else math.copysign(math.inf, d)
            p = 1.0 if z == 0.0 else 0.0
        else:
            z = d / se
            p = float(2 * ndtr(-abs(z)))
        out[(i, j)] = PairTest(d, d - z_crit * se, d + z_crit * se, p, "delong", z,
                               {"variance": var})  # fmt: skip
    return out


def mcnemar_test(correct_a: np.ndarray, correct_b: np.ndarray) -> PairTest:
    """McNemar's test of equal accuracy from per-row correctness of two models.

    ``n01`` rows are right for ``a`` only, ``n10`` for ``b`` only; under the null each
    discordant row goes either way with probability 1/2. With fewer than
    :data:`MCNEMAR_EXACT_BELOW` discordant rows the p-value is the exact two-sided binomial
    one, ``min(1, 2 P(Binom(n01 + n10, 1/2) <= min(n01, n10)))``; otherwise it is the
    chi-square (1 df) p-value of ``(|n01 - n10| - 1)^2 / (n01 + n10)`` (Edwards' continuity
    correction). No discordant rows give p = 1. The interval is left NaN here: the
    comparison reports the paired bootstrap interval of the accuracy difference beside it.

    Parameters
    ----------
    correct_a, correct_b : ndarray of bool
        Whether each row is classified correctly by ``a`` and by ``b``.
    """
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    n = a.size
    n01 = int(np.count_nonzero(a & ~b))
    n10 = int(np.count_nonzero(~a & b))
    discordant = n01 + n10
    d = (n10 - n01) / n if n else math.nan
    details = {"n_a_only": n01, "n_b_only": n10, "n_rows": n}
    if discordant == 0:
        return PairTest(d, math.nan, math.nan, 1.0, "mcnemar exact", 0.0, details)
    if discordant < MCNEMAR_EXACT_BELOW:
        p = min(1.0, 2.0 * float(stats.binom.cdf(min(n01, n10), discordant, 0.5)))
        return PairTest(d, math.nan, math.nan, p, "mcnemar exact", float(min(n01, n10)), details)
    chi2 = (abs(n01 - n10) - 1) ** 2 / discordant
    p = float(stats.chi2.sf(chi2, 1))
    return PairTest(d, math.nan, math.nan, p, "mcnemar chi2", chi2, details)


def paired_t_test(loss_a: np.ndarray, loss_b: np.ndarray, confidence: float = 0.95) -> PairTest:
    """Paired t-test of the mean per-row loss (Diebold-Mariano with independent rows).

    ``d_i = loss_b[i] - loss_a[i]``; ``t = mean(d) / (sd(d) / sqrt(n))`` with ``n - 1``
    degrees of freedom, a two-sided p-value and the t interval of ``mean(d)``. Test rows are
    taken as independent (no autocorrelation correction: for time-ordered forecast errors
    the Diebold-Mariano variance would need a HAC estimate). With squared errors this tests
    equal MSE, with absolute errors equal MAE.
    """
    d = np.asarray(loss_b, dtype=float) - np.asarray(loss_a, dtype=float)
    n = d.size
    if n < 2:
        return PairTest(math.nan, math.nan, math.nan, math.nan, "paired t")
    mean = float(d.mean())
    se = float(d.std(ddof=1) / math.sqrt(n))
    df = n - 1
    details = {"df": df}
    if se <= 1e-15 * max(float(np.abs(d).max()), 1e-300):
        p = 1.0 if mean == 0 else 0.0
        return PairTest(mean, mean, mean, p, "paired t", math.nan, details)
    t = mean / se
    p = float(2 * stats.t.sf(abs(t), df))
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    return PairTest(mean, mean - half, mean + half, p, "paired t", t, details)


def bootstrap_p_value(replicates: np.ndarray) -> float:
    """Two-sided p-value of a difference from its paired bootstrap replicates.

    With ``B`` finite replicates, ``k_below`` below 0, ``k_above`` above 0 and ``k_zero``
    equal to 0 (ties split half and half)::

        p = min(1, 2 * (min(k_below, k_above) + k_zero / 2 + 1) / (B + 1))

    This is the smallest ``alpha`` at which the equal-tailed percentile interval of level
    ``1 - alpha`` leaves 0 out, so ``p < 0.05`` matches a 95% percentile interval that
    excludes 0; the ``+1`` counts the observed sample as one replicate, so p is never 0
    and at least ``2 / (B + 1)``. NaN without finite replicates.
    """
    r = np.asarray(replicates, dtype=float)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return math.nan
    below = int(np.count_nonzero(r < 0))
    above = int(np.count_nonzero(r > 0))
    zero = r.size - below - above
    tail = min(below, above) + zero / 2
    return float(min(1.0, 2 * (tail + 1) / (r.size + 1)))


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN entries are left out of the family).

    Sorted ascending, ``p_(i)`` of ``m`` becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))``;
    rejecting where the adjusted value is below ``alpha`` controls the family-wise error
    rate at ``alpha``.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03, 0.005]).round(3).tolist()
    [0.03, 0.06, 0.06, 0.02]
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out
