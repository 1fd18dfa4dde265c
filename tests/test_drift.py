"""Drift measures and reference statistics: PSI by hand, KS / JS / chi-square against scipy,
Holm, the reference document, the live drift score."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats
from scipy.spatial.distance import jensenshannon

from afterfit.bundle.drift import (
    PSI_EPSILON,
    DriftThresholds,
    chi2_pvalue,
    flag,
    holm,
    js_distance,
    ks_from_counts,
    ks_pvalue,
    missing_rate_pvalue,
    numeric_drift,
    psi,
    psi_reading,
)
from afterfit.bundle.reference import (
    FORMAT,
    CategoricalStats,
    NumericStats,
    ReferenceStats,
)
from afterfit.errors import InvalidInputError


def _sketch_cum(stats: NumericStats, values: np.ndarray) -> np.ndarray:
    """Current values at or below each sketch point (what the monitor counts)."""
    counts, _ = stats.sketch_counts(values)
    return np.cumsum(counts[:-1])


# -- PSI ---------------------------------------------------------------------------------
def test_psi_by_hand():
    # (0.6 - 0.5) ln(0.6/0.5) + (0.4 - 0.5) ln(0.4/0.5)
    expected = 0.1 * math.log(1.2) + (-0.1) * math.log(0.8)
    assert psi([50, 50], [60, 40]) == pytest.approx(expected, rel=1e-12)
    assert psi([5, 5], [5, 5]) == 0.0
    # An empty bin is floored at PSI_EPSILON instead of giving infinity.
    eps = PSI_EPSILON
    by_hand = (0.5 - 1.0) * math.log(0.5 / 1.0) + (0.5 - eps) * math.log(0.5 / eps)
    assert psi([100, 0], [50, 50]) == pytest.approx(by_hand, rel=1e-12)
    assert math.isnan(psi([1, 1], [0, 0]))
    with pytest.raises(InvalidInputError, match="same bins"):
        psi([1, 2], [1, 2, 3])
    assert psi_reading(0.05) == "stable"
    assert psi_reading(0.2) == "moderate shift"
    assert psi_reading(0.3) == "major shift"


def test_psi_of_a_reference_on_a_tiny_example():
    # Reference 1..10 in two quantile bins: the edge is the median data point 5, bins
    # are (-inf, 5] and (5, inf): 5 and 5 reference values.
    ref = ReferenceStats.from_frame(pd.DataFrame({"x": np.arange(1.0, 11.0)}), n_bins=2)
    x = ref.features["x"]
    assert isinstance(x, NumericStats)
    assert x.edges.tolist() == [5.0]
    assert x.counts.tolist() == [5, 5]
    # Current: 2 values <= 5, 8 above (one of them beyond the reference maximum).
    current = pd.DataFrame({"x": [1.0, 5.0, 5.5, 6, 7, 8, 9, 10, 10, 42]})
    by_hand = (0.2 - 0.5) * math.log(0.2 / 0.5) + (0.8 - 0.5) * math.log(0.8 / 0.5)
    assert ref.feature_psi(current)["x"] == pytest.approx(by_hand, rel=1e-12)
    assert ref.drift_score(current) == pytest.approx(by_hand, rel=1e-12)
    # The monitor's path (cumulative counts at sketch points) gives the same PSI.
    values = current["x"].to_numpy()
    drift = numeric_drift(x, _sketch_cum(x, values), len(values), 0)
    assert drift.psi == pytest.approx(by_hand, rel=1e-12)


# -- KS ----------------------------------------------------------------------------------
@pytest.mark.parametrize("shift", [0.0, 0.05, 0.3])
def test_ks_from_the_sketch_matches_scipy(shift):
    rng = np.random.default_rng(1)
    ref_values = rng.normal(size=20_000)
    cur_values = rng.normal(loc=shift, size=3_000)
    stats_ = NumericStats.from_values("x", ref_values, n_quantiles=1000)
    drift = numeric_drift(stats_, _sketch_cum(stats_, cur_values), cur_values.size, 0)
    oracle = stats.ks_2samp(ref_values, cur_values, method="asymp")
    # The sketch sees the CDFs at its points only: never above the exact statistic, and
    # below it by at most the reference mass between two neighbouring points.
    step = np.max(np.diff(np.concatenate([[0.0], stats_.cdf])))
    assert drift.ks <= oracle.statistic + 1e-12
    assert drift.ks >= oracle.statistic - step - 1e-12
    assert step <= 1.5 / 1000
    # p-value: the asymptotic distribution with the effective n, within a few per cent
    # of scipy's (which takes the exact one-sample distribution at n = en) ...
    assert ks_pvalue(oracle.statistic, 20_000, 3_000) == pytest.approx(oracle.pvalue, rel=0.05)
    # ... and on the sketch statistic, close to scipy's.
    if oracle.pvalue > 1e-3:
        assert abs(drift.p_value - oracle.pvalue) < 0.1


def test_ks_is_exact_for_discrete_values():
    rng = np.random.default_rng(2)
    ref_values = rng.integers(0, 5, 5_000).astype(float)
    cur_values = rng.choice(5, 2_000, p=[0.3, 0.2, 0.2, 0.2, 0.1]).astype(float)
    stats_ = NumericStats.from_values("k", ref_values)
    drift = numeric_drift(stats_, _sketch_cum(stats_, cur_values), cur_values.size, 0)
    oracle = stats.ks_2samp(ref_values, cur_values, method="asymp")
    assert drift.ks == pytest.approx(oracle.statistic, abs=1e-12)


@pytest.mark.parametrize(("n", "m"), [(30, 40), (500, 400), (50_000, 10_000), (10**6, 10**7)])
@pytest.mark.parametrize("scaled", [0.6, 1.0, 1.5, 2.5])
def test_ks_pvalue_against_scipy_asymptotic(n, m, scaled):
    en = n * m / (n + m)
    d = scaled / math.sqrt(en)
    expected = stats.kstwo.sf(d, round(en)) if en < 2e5 else special.kolmogorov(math.sqrt(en) * d)
    assert ks_pvalue(d, n, m) == pytest.approx(expected, rel=0.05)


def test_ks_from_counts_and_its_errors():
    stat, n = ks_from_counts([0.5, 1.0], [10, 0, 0])
    assert (stat, n) == (0.5, 10)
    stat, n = ks_from_counts([0.5, 1.0], [0, 0, 0])
    assert math.isnan(stat) and n == 0
    with pytest.raises(InvalidInputError, match="one more count"):
        ks_from_counts([0.5, 1.0], [1, 2])
    assert math.isnan(ks_pvalue(0.1, 0, 10))


# -- categories --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ref", "cur"),
    [([10, 20, 30, 0], [12, 18, 25, 5]), ([100, 0, 1], [0, 50, 1]), ([3, 3], [3, 3])],
)
def test_js_distance_and_chi2_match_scipy(ref, cur):
    assert js_distance(ref, cur) == pytest.approx(jensenshannon(ref, cur, base=2), abs=1e-12)
    table = np.array([ref, cur], dtype=float)
    table = table[:, table.sum(axis=0) > 0]
    chi, p = chi2_pvalue(ref, cur)
    oracle = stats.chi2_contingency(table, correction=False)
    assert chi == pytest.approx(oracle.statistic, rel=1e-12, abs=1e-12)
    assert p == pytest.approx(oracle.pvalue, rel=1e-9)


def test_chi2_and_js_of_empty_sides_are_nan():
    assert math.isnan(js_distance([1, 2], [0, 0]))
    assert all(math.isnan(v) for v in chi2_pvalue([0, 0], [1, 2]))
    assert all(math.isnan(v) for v in chi2_pvalue([5, 0], [3, 0]))  # one category left


def test_categorical_reference_pools_rare_and_unseen_categories():
    values = pd.Series(["a"] * 50 + ["b"] * 30 + ["c"] * 15 + ["d"] * 5 + [None] * 10)
    s = CategoricalStats.from_values("city", values, max_categories=2)
    assert s.categories == ("a", "b")
    assert s.counts.tolist() == [50, 30, 20]
    assert (s.n, s.n_missing) == (100, 10)
    counts, missing = s.bin_counts(pd.Series(["a", "zzz", None, "b", "b"]))
    assert counts.tolist() == [1, 2, 1] and missing == 1
    # Integer categories match their text keys.
    ints = CategoricalStats.from_values("k", pd.Series([1, 2, 2, 3]), categories=[1, 2, 3])
    assert ints.bin_counts(np.array([2, 2, 7]))[0].tolist() == [0, 2, 0, 1]


# -- missing rate, Holm, thresholds ------------------------------------------------------
def test_missing_rate_pvalue():
    assert missing_rate_pvalue(0, 100, 0, 100) == 1.0
    assert missing_rate_pvalue(10, 1000, 12, 1000) > 0.5
    assert missing_rate_pvalue(10, 1000, 200, 1000) < 1e-10
    # The pooled two-proportion z-test, by hand.
    p1, p2, pooled = 10 / 100, 20 / 100, 30 / 200
    z = (p2 - p1) / math.sqrt(pooled * (1 - pooled) * (2 / 100))
    assert missing_rate_pvalue(10, 100, 20, 100) == pytest.approx(2 * stats.norm.sf(z))


def test_holm_by_hand():
    adjusted = holm([0.01, 0.04, 0.03, float("nan")])
    # Sorted 0.01, 0.03, 0.04 times 3, 2, 1: 0.03, 0.06, 0.04 -> running max 0.03, 0.06, 0.06.
    assert adjusted[:3].tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert math.isnan(adjusted[3])
    assert holm([0.9, 0.8]).tolist() == [1.0, 1.0]


def test_flag_uses_psi_tests_effect_and_missing():
    from afterfit.bundle.drift import ColumnDrift

    base = {"kind": "numeric", "n_reference": 1000, "n_current": 1000}
    cols = [
        ColumnDrift("psi", psi=0.3, ks=0.01, p_value=1e-6, **base),
        ColumnDrift("noisy psi", psi=0.9, ks=0.3, p_value=0.5, **base),  # a small window's
        ColumnDrift("test", psi=0.01, ks=0.2, p_value=1e-8, **base),
        ColumnDrift("tiny", psi=0.01, ks=0.01, p_value=1e-8, **base),  # below min_effect
        ColumnDrift("none", psi=0.01, ks=0.01, p_value=0.4, **base),
        ColumnDrift(
            "missing",
            psi=0.0,
            ks=0.0,
            p_value=0.9,
            missing_reference=0.01,
            missing_current=0.2,
            missing_p_value=1e-12,
            **base,
        ),
    ]
    flagged = {c.name: c for c in flag(cols, DriftThresholds())}
    assert flagged["psi"].drifted and "PSI" in flagged["psi"].reasons
    assert not flagged["noisy psi"].drifted  # PSI alone, not more than chance: no flag
    assert flagged["test"].drifted and "KS" in flagged["test"].reasons
    assert not flagged["tiny"].drifted
    assert not flagged["none"].drifted
    assert flagged["missing"].drifted and "missing rate" in flagged["missing"].reasons
    # Six p-values; the two smallest tie at 1e-8: 6 x 1e-8, then max(5 x 1e-8, 6e-8).
    assert flagged["test"].p_value_holm == pytest.approx(6e-8)
    assert not flag(cols, DriftThresholds(psi=0.5, p_value=1e-12, missing_change=0.5))[0].drifted


@pytest.mark.parametrize("bad", [{"psi": -1}, {"p_value": 2.0}, {"min_effect": "x"}])
def test_thresholds_refuse_bad_values(bad):
    with pytest.raises(InvalidInputError, match="Drift threshold"):
        DriftThresholds(**bad)


# -- the reference document --------------------------------------------------------------
def _frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.normal(40 + shift * 10, 10, n),
            "visits": rng.poisson(3, n).astype(float),
            "city": rng.choice(["paris", "rome", "oslo"], n, p=[0.5, 0.3, 0.2]),
            "member": rng.random(n) < 0.3,
        }
    )
    frame.loc[frame.index[::25], "age"] = np.nan
    return frame


def test_reference_round_trips_through_json():
    X = _frame(2_000, 0)
    scores = np.random.default_rng(0).random((2_000, 2))
    ref = ReferenceStats.from_frame(X, scores=scores, classes=["no", "yes"])
    assert {n: s.kind for n, s in ref.features.items()} == {
        "age": "numeric",
        "visits": "numeric",
        "city": "categorical",
        "member": "categorical",
    }
    assert list(ref.predictions) == ["proba_no", "proba_yes"]
    doc = json.loads(json.dumps(ref.to_dict(), allow_nan=False))
    assert doc["format"] == FORMAT
    back = ReferenceStats.from_dict(doc)
    assert back.n_rows == 2_000
    age, back_age = ref.features["age"], back.features["age"]
    assert isinstance(age, NumericStats) and isinstance(back_age, NumericStats)
    assert back_age.n_missing == 80 and back_age.missing_rate == pytest.approx(0.04)
    np.testing.assert_array_equal(back_age.sketch, age.sketch)
    np.testing.assert_array_equal(back_age.edge_index, age.edge_index)
    np.testing.assert_array_equal(back_age.counts, age.counts)
    assert age.counts.sum() == age.n == 1_920
    # Deciles: ten bins of about a tenth each.
    assert np.allclose(age.counts / age.n, 0.1, atol=0.01)
    current = _frame(500, 1)
    assert back.drift_score(current) == pytest.approx(ref.drift_score(current))
    with pytest.raises(InvalidInputError, match="Not an afterfit reference"):
        ReferenceStats.from_dict({"format": "something else"})


def test_reference_uses_the_bundle_schema_for_kinds():
    from afterfit.bundle.schema import InputSchema

    X = pd.DataFrame({"code": [1, 2, 3, 1, 2, 3, 1, 1], "x": np.arange(8.0)})
    schema = InputSchema.from_frame(X)
    ref = ReferenceStats.from_frame(X, schema=schema)
    kinds = {f.name: f.kind for f in schema.fields}
    expected = "categorical" if kinds["code"] == "category" else "numeric"
    assert ref.features["code"].kind == expected
    # A plain dict schema marking a column categorical with its categories.
    ref = ReferenceStats.from_frame(
        X, schema={"fields": [{"name": "code", "kind": "category", "categories": [1, 2, 3]}]}
    )
    code = ref.features["code"]
    assert isinstance(code, CategoricalStats)
    assert code.categories == ("1", "2", "3") and code.counts.tolist() == [4, 2, 2, 0]


def test_drift_score_is_small_without_drift_and_large_with_it():
    ref = ReferenceStats.from_frame(_frame(10_000, 0))
    same = ref.drift_score(_frame(2_000, 1))
    shifted = ref.drift_score(_frame(2_000, 1, shift=1.0))
    assert same < 0.02
    assert shifted > 0.2
    assert math.isnan(ref.drift_score(pd.DataFrame({"other": [1.0]})))


def test_reference_bad_input():
    with pytest.raises(InvalidInputError, match="DataFrame"):
        ReferenceStats.from_frame(np.zeros((3, 2)))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="no rows"):
        ReferenceStats.from_frame(pd.DataFrame({"x": []}))
    with pytest.raises(InvalidInputError, match="n_bins"):
        ReferenceStats.from_frame(pd.DataFrame({"x": [1.0, 2.0]}), n_bins=1)
    with pytest.raises(InvalidInputError, match="rows but X has"):
        ReferenceStats.from_frame(pd.DataFrame({"x": [1.0, 2.0]}), scores=np.zeros(3))
    with pytest.raises(InvalidInputError, match="classes were given"):
        ReferenceStats.from_frame(
            pd.DataFrame({"x": [1.0, 2.0]}), scores=np.zeros((2, 3)), classes=["a", "b"]
        )
    # An all-missing numeric column is legal: no values, all missing.
    ref = ReferenceStats.from_frame(pd.DataFrame({"x": [np.nan, np.nan], "y": [1.0, 2.0]}))
    assert ref.features["x"].n == 0 and ref.features["x"].n_missing == 2
