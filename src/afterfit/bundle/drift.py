"""Drift measures between a reference distribution and a current one, from counts.

Every measure here works on counts, never on raw rows: the reference is stored as counts
(:mod:`afterfit.bundle.reference`) and the monitor accumulates the counts of millions of
logged rows in one streaming pass, so comparing them costs nothing.

- **PSI** (population stability index) over the reference's quantile bins (deciles by
  default) for numeric features, over categories for categorical ones:
  ``sum((c - r) * ln(c / r))`` with the proportions ``r`` and ``c`` floored at
  :data:`PSI_EPSILON` so that an empty bin does not give infinity. The usual reading:
  below 0.1 stable, 0.1-0.25 moderate shift, above 0.25 major shift.
- **Kolmogorov-Smirnov** two-sample statistic, from the reference's cumulative
  distribution at the points of its quantile sketch and the current counts at the same
  points. The sketch bounds the error: the statistic is at most the reference mass
  between two sketch points (about ``1 / n_quantiles``) below the exact one. The p-value
  uses the asymptotic (Kolmogorov) distribution with the effective size
  ``n m / (n + m)``, see :func:`ks_pvalue`.
- **Jensen-Shannon distance** (base 2, in [0, 1]) and the **chi-square** test of
  homogeneity for categories.
- The change of the missing rate, with a two-proportion z-test.
- **Holm**'s step-down adjustment of the p-values across features, so that "drifted by
  p-value" controls the family-wise error rate over the features tested together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import special, stats

from afterfit.errors import InvalidInputError

__all__ = [
    "PSI_EPSILON",
    "ColumnDrift",
    "DriftThresholds",
    "categorical_drift",
    "chi2_pvalue",
    "flag",
    "holm",
    "js_distance",
    "ks_from_counts",
    "ks_pvalue",
    "missing_rate_pvalue",
    "numeric_drift",
    "psi",
    "psi_reading",
]

#: Floor of the bin proportions in the PSI (an empty bin would give an infinite term).
PSI_EPSILON = 1e-4


@dataclass(frozen=True)
class DriftThresholds:
    """When a feature counts as drifted.

    A feature is drifted when its Holm-adjusted p-value (Kolmogorov-Smirnov for numeric
    features, chi-square for categorical ones) is below ``p_value`` **and** the change is
    not negligible: PSI at least ``psi``, or KS statistic / Jensen-Shannon distance at least
    ``min_effect``. The size floor keeps a huge log from flagging a difference nobody cares
    about just because the test has the power to see it; the test keeps a small window from
    flagging a PSI that is only noise (PSI has no sample-size correction).

    Parameters
    ----------
    psi : float
        PSI at or above which a significant change counts as drifted (0.2 by default; the
        usual reading is 0.1 moderate, 0.25 major).
    p_value : float
        Family-wise significance level of the Holm-adjusted tests.
    min_effect : float
        Smallest KS statistic / JS distance that a significant test needs to flag.
    missing_change : float
        Absolute change of the missing rate (0.05 = five percentage points) that flags.
    """

    psi: float = 0.2
    p_value: float = 0.01
    min_effect: float = 0.05
    missing_change: float = 0.05

    def __post_init__(self) -> None:
        checks = {
            "psi": (self.psi, 0.0, np.inf),
            "p_value": (self.p_value, 0.0, 1.0),
            "min_effect": (self.min_effect, 0.0, 1.0),
            "missing_change": (self.missing_change, 0.0, 1.0),
        }
        for name, (value, low, high) in checks.items():
            if not (isinstance(value, int | float) and low <= float(value) <= high):
                raise InvalidInputError(
                    f"Drift threshold {name}={value!r} is not a number in [{low}, {high}].",
                    fix=f"pass {name} as a number between {low} and {high}.",
                )

    def to_dict(self) -> dict[str, float]:
        """The thresholds as a JSON-safe dict."""
        return {
            "psi": float(self.psi),
            "p_value": float(self.p_value),
            "min_effect": float(self.min_effect),
            "missing_change": float(self.missing_change),
        }


def _proportions(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    if total <= 0:
        return np.full(counts.shape, np.nan)
    return counts / total


def psi(reference_counts: Sequence[float], current_counts: Sequence[float]) -> float:
    """Population stability index between two histograms over the same bins.

    Parameters
    ----------
    reference_counts, current_counts : array-like of shape (n_bins,)
        Counts (or proportions) per bin; same bins, same order.

    Returns
    -------
    float
        ``sum((c - r) * ln(c / r))`` over bins, proportions floored at
        :data:`PSI_EPSILON`; NaN when either side is empty.

    Examples
    --------
    >>> round(psi([50, 50], [60, 40]), 4)
    0.0405
    """
    r = _proportions(reference_counts)
    c = _proportions(current_counts)
    if r.shape != c.shape:
        raise InvalidInputError(
            f"PSI needs the same bins on both sides; got {r.shape[0]} and {c.shape[0]}.",
            fix="count both samples over the reference's bins.",
        )
    if np.isnan(r).any() or np.isnan(c).any():
        return float("nan")
    r = np.maximum(r, PSI_EPSILON)
    c = np.maximum(c, PSI_EPSILON)
    return float(np.sum((c - r) * np.log(c / r)))


def psi_reading(value: float) -> str:
    """The conventional reading of a PSI value: stable, moderate or major shift."""
    if not np.isfinite(value):
        return "n/a"
    if value < 0.1:
        return "stable"
    if value < 0.25:
        return "moderate shift"
    return "major shift"


def ks_pvalue(statistic: float, n_reference: int, n_current: int) -> float:
    """Asymptotic p-value of a two-sample Kolmogorov-Smirnov statistic.

    The Kolmogorov distribution at ``(sqrt(en) + 0.12 + 0.11 / sqrt(en)) * D`` with the
    effective size ``en = n m / (n + m)`` (Stephens' finite-sample correction of the
    limiting distribution). :func:`scipy.stats.ks_2samp` with ``method="asymp"`` computes
    the one-sample distribution at ``n = round(en)`` instead, which agrees within a few
    per cent but takes up to seconds per call for large ``en`` (0.15 s at 40,000, 3 s at
    1,000,000), too slow for hundreds of features and windows. Below ``en = 50``, where the
    limit is poor, that exact distribution is used.
    """
    if n_reference <= 0 or n_current <= 0 or not np.isfinite(statistic):
        return float("nan")
    en = n_reference * n_current / (n_reference + n_current)
    if en < 50:
        return float(np.clip(stats.kstwo.sf(float(statistic), max(1, round(en))), 0.0, 1.0))
    root = np.sqrt(en)
    return float(np.clip(special.kolmogorov((root + 0.12 + 0.11 / root) * statistic), 0.0, 1.0))


def ks_from_counts(
    reference_cdf: Sequence[float], current_counts: Sequence[float]
) -> tuple[float, int]:
    """The KS statistic from the reference CDF at the sketch points and current counts.

    Parameters
    ----------
    reference_cdf : array-like of shape (k,)
        Fraction of the reference at or below each sketch point (ascending points).
    current_counts : array-like of shape (k + 1,)
        Current values counted by ``searchsorted(points, x, side="left")``: entry ``j``
        counts the values in ``(points[j-1], points[j]]``, the last those above the
        largest point.

    Returns
    -------
    statistic : float
        ``max_j |F_cur(points[j]) - F_ref(points[j])|``; NaN when the current is empty.
    n_current : int
        Number of current values.
    """
    cdf = np.asarray(reference_cdf, dtype=float)
    counts = np.asarray(current_counts, dtype=float)
    if counts.shape[0] != cdf.shape[0] + 1:
        raise InvalidInputError(
            f"KS needs one more count than sketch points; got {counts.shape[0]} counts "
            f"for {cdf.shape[0]} points.",
            fix="count the current values with searchsorted(points, x, side='left').",
        )
    n = counts.sum()
    if n <= 0:
        return float("nan"), 0
    current_cdf = np.cumsum(counts[:-1]) / n
    return float(np.max(np.abs(current_cdf - cdf))), round(n)


def js_distance(reference_counts: Sequence[float], current_counts: Sequence[float]) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) between two histograms.

    Equal to ``scipy.spatial.distance.jensenshannon(r, c, base=2)``; NaN when either
    side is empty.
    """
    r = _proportions(reference_counts)
    c = _proportions(current_counts)
    if np.isnan(r).any() or np.isnan(c).any():
        return float("nan")
    m = (r + c) / 2.0
    # rel_entr(0, m) = 0, so categories absent on one side need no special case.
    divergence = (special.rel_entr(r, m).sum() + special.rel_entr(c, m).sum()) / 2.0
    return float(np.sqrt(max(divergence, 0.0) / np.log(2.0)))


def chi2_pvalue(
    reference_counts: Sequence[float], current_counts: Sequence[float]
) -> tuple[float, float]:
    """Chi-square test of homogeneity of two histograms over the same categories.

    Categories empty on both sides are dropped (they carry no information); the result
    equals :func:`scipy.stats.chi2_contingency` on the 2 x k table without Yates'
    correction.

    Returns
    -------
    statistic, p_value : float
        NaN when either side is empty or fewer than two categories are left.
    """
    table = np.vstack(
        [np.asarray(reference_counts, dtype=float), np.asarray(current_counts, dtype=float)]
    )
    table = table[:, table.sum(axis=0) > 0]
    rows = table.sum(axis=1)
    if table.shape[1] < 2 or (rows <= 0).any():
        return float("nan"), float("nan")
    expected = np.outer(rows, table.sum(axis=0)) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    dof = table.shape[1] - 1
    return statistic, float(stats.chi2.sf(statistic, dof))


def missing_rate_pvalue(
    reference_missing: int, reference_n: int, current_missing: int, current_n: int
) -> float:
    """Two-sided two-proportion z-test that the missing rate did not change.

    ``reference_n`` and ``current_n`` count every row (missing or not). NaN when either
    side is empty; 1.0 when no row is missing on either side.
    """
    if reference_n <= 0 or current_n <= 0:
        return float("nan")
    pooled = (reference_missing + current_missing) / (reference_n + current_n)
    if pooled <= 0.0 or pooled >= 1.0:
        return 1.0
    se = np.sqrt(pooled * (1 - pooled) * (1 / reference_n + 1 / current_n))
    z = (current_missing / current_n - reference_missing / reference_n) / se
    return float(2 * stats.norm.sf(abs(z)))


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN and is not counted).

    Rejecting where the adjusted p-value is below ``alpha`` controls the family-wise
    error rate at ``alpha`` over the finite p-values given.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = finite.size
    if m == 0:
        return out
    order = finite[np.argsort(p[finite], kind="stable")]
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


# -- one column's drift, from counts ---------------------------------------------------
@dataclass(frozen=True)
class ColumnDrift:
    """Drift of one column (feature or score) of a current sample against the reference.

    ``p_value`` is the test of the distribution (KS for numeric columns, chi-square for
    categorical ones); ``p_value_holm`` the same after Holm's adjustment over the columns
    tested together; ``effect`` the KS statistic or the JS distance. ``drifted`` and
    ``reasons`` come from :func:`flag`.
    """

    name: str
    kind: str
    n_reference: int
    n_current: int
    psi: float
    ks: float = float("nan")
    js: float = float("nan")
    chi2: float = float("nan")
    p_value: float = float("nan")
    p_value_holm: float = float("nan")
    missing_reference: float = float("nan")
    missing_current: float = float("nan")
    missing_p_value: float = float("nan")
    drifted: bool = False
    reasons: str = ""

    @property
    def effect(self) -> float:
        """KS statistic (numeric) or Jensen-Shannon distance (categorical)."""
        return self.ks if self.kind == "numeric" else self.js

    @property
    def missing_change(self) -> float:
        """Current minus reference missing rate."""
        return self.missing_current - self.missing_reference

    def to_dict(self) -> dict[str, object]:
        """JSON-safe dict (NaN as null)."""
        from afterfit.jsonsafe import number

        return {
            "name": self.name,
            "kind": self.kind,
            "n_reference": int(self.n_reference),
            "n_current": int(self.n_current),
            "psi": number(self.psi),
            "psi_reading": psi_reading(self.psi),
            "ks": number(self.ks),
            "js": number(self.js),
            "chi2": number(self.chi2),
            "p_value": number(self.p_value),
            "p_value_holm": number(self.p_value_holm),
            "missing_reference": number(self.missing_reference),
            "missing_current": number(self.missing_current),
            "missing_change": number(self.missing_change),
            "missing_p_value": number(self.missing_p_value),
            "drifted": bool(self.drifted),
            "reasons": self.reasons,
        }


def _rate(missing: int, n: int) -> float:
    total = missing + n
    return missing / total if total else float("nan")


def numeric_drift(
    stats: Any,
    cumulative: np.ndarray,
    n: int,
    n_missing: int,
    *,
    points: np.ndarray | None = None,
) -> ColumnDrift:
    """Drift of a numeric column from the current cumulative counts at sketch points.

    Parameters
    ----------
    stats : NumericStats
        The reference column.
    cumulative : ndarray
        Number of current (non-missing) values at or below ``stats.sketch[points]``.
    n, n_missing : int
        Current non-missing and missing values.
    points : ndarray of int, optional
        Positions in the sketch of the points counted (all of them when omitted; a
        subset that contains the PSI edges for the coarser per-window counts).
    """
    idx = np.arange(stats.sketch.size) if points is None else np.asarray(points)
    cum = np.asarray(cumulative, dtype=np.int64)
    # PSI bin counts: differences of the cumulative counts at the edges.
    at_edges = cum[np.searchsorted(idx, stats.edge_index)] if stats.edges.size else cum[:0]
    current_bins = np.diff(np.concatenate([[0], at_edges, [n]]))
    value = psi(stats.counts, current_bins) if n > 0 and stats.n > 0 else float("nan")
    ks = p = float("nan")
    if n > 0 and stats.n > 0:
        ks = float(np.max(np.abs(cum / n - stats.cdf[idx])))
        p = ks_pvalue(ks, stats.n, n)
    return ColumnDrift(
        name=stats.name,
        kind="numeric",
        n_reference=stats.n + stats.n_missing,
        n_current=n + n_missing,
        psi=value,
        ks=ks,
        p_value=p,
        missing_reference=_rate(stats.n_missing, stats.n),
        missing_current=_rate(n_missing, n),
        missing_p_value=missing_rate_pvalue(
            stats.n_missing, stats.n + stats.n_missing, n_missing, n + n_missing
        ),
    )


def categorical_drift(stats: Any, counts: np.ndarray, n_missing: int) -> ColumnDrift:
    """Drift of a categorical column from the current counts per category (+ other)."""
    counts = np.asarray(counts, dtype=np.int64)
    n = int(counts.sum())
    value = js = chi = p = float("nan")
    if n > 0 and stats.n > 0:
        value = psi(stats.counts, counts)
        js = js_distance(stats.counts, counts)
        chi, p = chi2_pvalue(stats.counts, counts)
    return ColumnDrift(
        name=stats.name,
        kind="categorical",
        n_reference=stats.n + stats.n_missing,
        n_current=n + n_missing,
        psi=value,
        js=js,
        chi2=chi,
        p_value=p,
        missing_reference=_rate(stats.n_missing, stats.n),
        missing_current=_rate(n_missing, n),
        missing_p_value=missing_rate_pvalue(
            stats.n_missing, stats.n + stats.n_missing, n_missing, n + n_missing
        ),
    )


def flag(columns: Sequence[ColumnDrift], thresholds: DriftThresholds) -> list[ColumnDrift]:
    """Holm-adjust the p-values across ``columns`` and mark the drifted ones.

    A column is drifted when its Holm-adjusted p-value is below ``thresholds.p_value``
    and its change is large: PSI at least ``thresholds.psi``, or an effect (KS / JS) of at
    least ``thresholds.min_effect``; or when its missing rate moved by at least
    ``thresholds.missing_change`` with a significant (Holm-adjusted) z-test.

    PSI alone does not flag: on a small window it is mostly noise (with 10 bins and 40
    rows its expected value is about 0.2 with no drift at all), so a large PSI must also be
    more than chance says, by the test.
    """

    columns = list(columns)
    adjusted = holm([c.p_value for c in columns])
    missing_adjusted = holm([c.missing_p_value for c in columns])
    out = []
    for c, p_adj, m_adj in zip(columns, adjusted, missing_adjusted, strict=True):
        reasons = []
        significant = np.isfinite(p_adj) and p_adj < thresholds.p_value
        large_psi = np.isfinite(c.psi) and c.psi >= thresholds.psi
        large_effect = np.isfinite(c.effect) and c.effect >= thresholds.min_effect
        if significant and (large_psi or large_effect):
            test = "KS" if c.kind == "numeric" else "chi-square"
            measure = "D" if c.kind == "numeric" else "JS"
            sizes = [f"{measure} {c.effect:.3f}"] if large_effect else []
            if large_psi:
                sizes.append(f"PSI {c.psi:.3g} >= {thresholds.psi:g}")
            reasons.append(
                f"{test} p(Holm) {p_adj:.2g} < {thresholds.p_value:g}, {', '.join(sizes)}"
            )
        change = c.missing_change
        if (
            np.isfinite(change)
            and abs(change) >= thresholds.missing_change
            and np.isfinite(m_adj)
            and m_adj < thresholds.p_value
        ):
            reasons.append(f"missing rate {c.missing_reference:.1%} -> {c.missing_current:.1%}")
        out.append(
            replace(c, p_value_holm=float(p_adj), drifted=bool(reasons), reasons="; ".join(reasons))
        )
    return out
