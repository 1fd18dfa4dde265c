"""Bootstrap: reproducibility, stratification, replicate-by-replicate agreement with a
plain loop over scikit-learn, BCa and percentile intervals, degenerate resamples, and the
m-out-of-n rescaled bootstrap of large data."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, roc_auc_score

from afterfit.errors import AfterfitWarning, InvalidInputError
from afterfit.evaluation import evaluate_predictions
from afterfit.metrics.binary import BinarySuite
from afterfit.metrics.multiclass import MulticlassSuite
from afterfit.metrics.ranges import key_bounds
from afterfit.metrics.regression import RegressionSuite
from afterfit.metrics.resampling import (
    LARGE_N,
    bca_interval,
    bootstrap,
    bootstrap_interval,
    chunk_sizes,
    percentile_interval,
    resample_counts,
    subsample_rows,
)


def binary_data(n: int = 200, seed: int = 0, decimals: int = 2):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    s = np.round(1 / (1 + np.exp(-(rng.normal(size=n) + 1.5 * y - 0.5))), decimals)
    return y, s


def frame_of(ev):
    return ev.metrics.frame().set_index("metric")


# --------------------------------------------------------------------------------------
# Reproducibility
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["bca", "percentile"])
@pytest.mark.parametrize("weighted", [False, True])
def test_same_seed_same_intervals(method, weighted):
    y, s = binary_data()
    w = np.random.default_rng(5).exponential(size=y.size) if weighted else None

    def run(seed):
        return evaluate_predictions(
            y, s, sample_weight=w, ci="bootstrap", n_resamples=300,
            bootstrap_method=method, random_state=seed,
        )  # fmt: skip

    a, b, c = frame_of(run(7)), frame_of(run(7)), frame_of(run(8))
    np.testing.assert_array_equal(a[["ci_low", "ci_high"]], b[["ci_low", "ci_high"]])
    assert (a["method"] == b["method"]).all()
    np.testing.assert_array_equal(a["value"], c["value"])  # the estimate never moves
    differs = (a["ci_low"] != c["ci_low"]) | (a["ci_high"] != c["ci_high"])
    assert differs.sum() >= len(a) // 2, "a different seed should move most intervals"


def test_same_seed_same_bands_and_multiclass_and_regression():
    y, s = binary_data()
    one = evaluate_predictions(y, s, ci="bootstrap", n_resamples=200, random_state=3)
    two = evaluate_predictions(y, s, ci="bootstrap", n_resamples=200, random_state=3)
    np.testing.assert_array_equal(one.roc.band.low, two.roc.band.low)
    np.testing.assert_array_equal(one.pr.band.high, two.pr.band.high)

    rng = np.random.default_rng(1)
    yk = rng.integers(0, 3, 150)
    proba = rng.dirichlet(np.ones(3), 150)
    m1 = evaluate_predictions(yk, proba, ci="bootstrap", n_resamples=200, random_state=3)
    m2 = evaluate_predictions(yk, proba, ci="bootstrap", n_resamples=200, random_state=3)
    m3 = evaluate_predictions(yk, proba, ci="bootstrap", n_resamples=200, random_state=4)
    cols = ["ci_low", "ci_high"]
    np.testing.assert_array_equal(m1.metrics.frame()[cols], m2.metrics.frame()[cols])
    assert not np.array_equal(m1.metrics.frame()[cols], m3.metrics.frame()[cols])

    yr = rng.normal(size=120)
    pr = yr + rng.normal(size=120)
    r1 = evaluate_predictions(yr, pr, task="regression", n_resamples=200, random_state=3)
    r2 = evaluate_predictions(yr, pr, task="regression", n_resamples=200, random_state=3)
    np.testing.assert_array_equal(r1.metrics.frame()[cols], r2.metrics.frame()[cols])


# --------------------------------------------------------------------------------------
# resample_counts
# --------------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    st.integers(1, 60),
    st.integers(1, 40),
    st.integers(0, 2**32 - 1),
    st.sampled_from([None, 2, 3, 5]),
)
def test_resample_counts_rows(n, size, seed, n_strata):
    rng = np.random.default_rng(seed)
    strata = None if n_strata is None else rng.integers(0, n_strata, n)
    W = resample_counts(n, size, np.random.default_rng(seed + 1), strata)
    assert W.shape == (size, n)
    assert np.all(W >= 0)
    np.testing.assert_array_equal(W, np.round(W))  # whole multiplicities
    np.testing.assert_array_equal(W.sum(axis=1), np.full(size, n))
    if strata is not None:
        for s in np.unique(strata):
            members = strata == s
            # Every resample keeps each stratum's size: rows never cross strata.
            np.testing.assert_array_equal(W[:, members].sum(axis=1), members.sum())


def test_resample_counts_is_seeded_and_uniform():
    a = resample_counts(50, 4000, np.random.default_rng(0))
    b = resample_counts(50, 4000, np.random.default_rng(0))
    np.testing.assert_array_equal(a, b)
    # Multiplicities of one row are Binomial(n, 1/n): mean 1, variance 1 - 1/n.
    assert a.mean() == pytest.approx(1.0)
    assert a.var() == pytest.approx(1 - 1 / 50, rel=0.05)
    assert np.all(a.mean(axis=0) == pytest.approx(1.0, abs=0.1))


# --------------------------------------------------------------------------------------
# Replicate by replicate against scikit-learn
# --------------------------------------------------------------------------------------


def replay_counts(suite, n_resamples: int, seed: int, stratify: bool) -> np.ndarray:
    """The multiplicities ``bootstrap`` draws, rebuilt from the documented recipe: chunks,
    each from its own child of ``SeedSequence(seed)``."""
    sizes = chunk_sizes(suite.n, n_resamples)
    children = np.random.SeedSequence(seed).spawn(len(sizes))
    strata = suite.strata if stratify else None
    return np.vstack(
        [
            resample_counts(suite.n, size, np.random.default_rng(child), strata)
            for size, child in zip(sizes, children, strict=True)
        ]
    )


@pytest.mark.parametrize("stratify", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_bootstrap_auc_replicates_match_sklearn_loop(stratify, weighted):
    y, s = binary_data(n=120, seed=2, decimals=1)  # heavy ties
    w = np.random.default_rng(9).integers(0, 4, y.size).astype(float) if weighted else None
    suite = BinarySuite(y, s, w, threshold=0.5, probabilities=True)
    B, seed = 250, 11
    draws = bootstrap(suite, n_resamples=B, stratify=stratify, jackknife=False, random_state=seed)
    counts = replay_counts(suite, B, seed, stratify)
    assert counts.shape == (B, y.size)

    # Rows of the suite are in its sorted order.
    y_sorted, s_sorted = suite.ranked.y, suite.ranked.scores
    w_sorted = np.ones(y.size) if w is None else suite.ranked.weight
    reps = draws.replicates[("roc_auc", None)]
    acc = draws.replicates[("accuracy", None)]
    expected = np.empty(B)
    for b in range(B):
        rows = np.repeat(np.arange(y.size), counts[b].astype(int))
        yb, sb, wb = y_sorted[rows], s_sorted[rows], w_sorted[rows]
        if wb[yb == 1].sum() > 0 and wb[yb == 0].sum() > 0:
            expected[b] = roc_auc_score(yb, sb, sample_weight=wb)
        else:
            expected[b] = np.nan
        assert acc[b] == pytest.approx(
            accuracy_score(yb, sb > 0.5, sample_weight=wb), abs=1e-9, rel=1e-9
        )
    np.testing.assert_allclose(reps, expected, rtol=1e-9, atol=1e-9, equal_nan=True)

    # The percentile interval is the quantiles of those replicates.
    finite = expected[np.isfinite(expected)]
    lo, hi = percentile_interval(reps, 0.95)
    assert (lo, hi) == pytest.approx(tuple(np.quantile(finite, [0.025, 0.975])), abs=1e-9)


def test_evaluate_percentile_interval_is_sklearn_quantiles():
    """End to end: evaluate's AUC interval equals the quantiles of a scikit-learn loop
    over the same multiplicities."""
    y, s = binary_data(n=150, seed=4)
    ev = evaluate_predictions(
        y, s, ci="bootstrap", n_resamples=500, bootstrap_method="percentile", random_state=21
    )
    suite = BinarySuite(y, s, threshold=0.5, probabilities=True)
    counts = replay_counts(suite, 500, 21, stratify=True)
    aucs = []
    for row in counts:
        rows = np.repeat(np.arange(y.size), row.astype(int))
        aucs.append(roc_auc_score(suite.ranked.y[rows], suite.ranked.scores[rows]))
    auc = ev.metrics["roc_auc"]
    assert auc.method == "stratified bootstrap percentile"
    assert (auc.ci_low, auc.ci_high) == pytest.approx(
        tuple(np.quantile(aucs, [0.025, 0.975])), abs=1e-9
    )


def test_multiclass_bootstrap_accuracy_replicates_match_sklearn_loop():
    rng = np.random.default_rng(6)
    n, K = 90, 4
    y = rng.integers(0, K, n)
    proba = rng.dirichlet(np.ones(K), n)
    pred = proba.argmax(axis=1)
    suite = MulticlassSuite(
        y, proba, labels=pred, class_names=[str(k) for k in range(K)], probabilities=True
    )
    draws = bootstrap(suite, n_resamples=200, stratify=True, jackknife=False, random_state=5)
    counts = replay_counts(suite, 200, 5, stratify=True)
    for b in range(200):
        rows = np.repeat(np.arange(n), counts[b].astype(int))
        np.testing.assert_array_equal(np.bincount(y[rows], minlength=K), np.bincount(y))
        assert draws.replicates[("accuracy", None)][b] == pytest.approx(
            accuracy_score(y[rows], pred[rows]), abs=1e-12
        )


# --------------------------------------------------------------------------------------
# BCa and percentile
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["bca", "percentile"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bootstrap_intervals_contain_the_estimate(method, seed):
    y, s = binary_data(n=250, seed=seed)
    ev = evaluate_predictions(
        y, s, ci="bootstrap", n_resamples=1000, bootstrap_method=method, random_state=seed
    )
    label = "BCa" if method == "bca" else "percentile"
    for row in ev.metrics.overall():
        assert row.method == f"stratified bootstrap {label}", row
        assert math.isfinite(row.ci_low) and math.isfinite(row.ci_high), row
        assert row.ci_low <= row.value <= row.ci_high, row


def test_bca_differs_from_percentile_for_skewed_metric():
    """BCa corrects bias and skew: on a skewed statistic its ends move off the percentile
    ends, while both keep the estimate inside."""
    y, s = binary_data(n=80, seed=3)
    bca = evaluate_predictions(y, s, ci="bootstrap", n_resamples=2000, random_state=1)
    pct = evaluate_predictions(
        y, s, ci="bootstrap", n_resamples=2000, bootstrap_method="percentile", random_state=1
    )
    a, b = bca.metrics["log_loss"], pct.metrics["log_loss"]
    assert (a.ci_low, a.ci_high) != (b.ci_low, b.ci_high)
    for row in (a, b):
        assert row.ci_low <= row.value <= row.ci_high


# --------------------------------------------------------------------------------------
# Degenerate resamples
# --------------------------------------------------------------------------------------


def test_unstratified_resamples_with_one_class_warn_and_stay_finite():
    y = np.array([1, 0, 0, 0, 0, 0, 1, 0])
    # One negative (0.8) outranks a positive: AUC below 1, so resamples have spread (a
    # perfect AUC would give no interval at all, see test_interval_ranges.py).
    s = np.array([0.9, 0.1, 0.3, 0.8, 0.2, 0.4, 0.7, 0.35])
    with pytest.warns(AfterfitWarning, match="bootstrap resamples gave no value"):
        ev = evaluate_predictions(
            y, s, ci="bootstrap", n_resamples=500, stratify=False, random_state=0
        )
    auc = ev.metrics["roc_auc"]
    assert auc.method.startswith("bootstrap")  # not stratified
    assert math.isfinite(auc.ci_low) and math.isfinite(auc.ci_high)
    assert 0.0 <= auc.ci_low <= auc.ci_high <= 1.0


def test_stratified_resamples_of_the_same_data_do_not_warn():
    y = np.array([1, 0, 0, 0, 0, 0, 1, 0])
    s = np.array([0.9, 0.1, 0.3, 0.8, 0.2, 0.4, 0.7, 0.35])  # AUC < 1: resamples vary
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ev = evaluate_predictions(y, s, ci="bootstrap", n_resamples=500, random_state=0)
    auc_warnings = [w for w in caught if "roc_auc" in str(w.message)]
    assert not auc_warnings
    auc = ev.metrics["roc_auc"]
    assert math.isfinite(auc.ci_low) and math.isfinite(auc.ci_high)


def test_bootstrap_interval_with_all_replicates_undefined_is_nan():
    y = np.array([1, 0, 0, 1, 0, 1])
    s = np.array([0.9, 0.1, 0.3, 0.6, 0.2, 0.4])
    suite = BinarySuite(y, s, threshold=0.5, probabilities=True)
    draws = bootstrap(suite, n_resamples=50, random_state=0)
    draws.replicates[("mcc", None)][:] = np.nan
    with pytest.warns(AfterfitWarning):
        lo, hi, method = bootstrap_interval(draws, ("mcc", None), confidence=0.95, method="bca")
    assert math.isnan(lo) and math.isnan(hi)
    assert method.startswith("none") and "none gave a value" in method


def test_bootstrap_needs_two_resamples():
    y, s = binary_data(n=30)
    suite = BinarySuite(y, s, threshold=0.5, probabilities=True)
    with pytest.raises(InvalidInputError, match="n_resamples"):
        bootstrap(suite, n_resamples=1)


def test_thread_count_does_not_change_the_numbers():
    rng = np.random.default_rng(11)
    s = np.round(rng.random(3000), 2)  # ties: the grouped path
    y = (rng.random(3000) < s).astype(int)
    suite = BinarySuite(y, s, None, threshold=0.5, probabilities=True)
    one = bootstrap(suite, n_resamples=300, random_state=5, n_jobs=1, bands=True)
    two = bootstrap(suite, n_resamples=300, random_state=5, n_jobs=2, bands=True)
    for key, values in one.replicates.items():
        np.testing.assert_array_equal(values, two.replicates[key])


# --------------------------------------------------------------------------------------
# Large data: the m-out-of-n rescaled bootstrap
# --------------------------------------------------------------------------------------


def large_binary(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    s = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.2 * y - 0.6)))
    return y, s


LARGE_KEYS = [("roc_auc", None), ("average_precision", None), ("log_loss", None),
              ("accuracy", None)]  # fmt: skip


@pytest.mark.slow
def test_m_out_of_n_intervals_agree_with_the_full_bootstrap():
    """n = 400,000: intervals from 50,000 rows rescaled agree with the bootstrap of all rows
    within Monte-Carlo error (each end within 15% of the full interval's width)."""
    y, s = large_binary(400_000)
    suite = BinarySuite(y, s, threshold=0.5, probabilities=True)
    full = bootstrap(suite, n_resamples=400, random_state=1, max_rows=None)
    sub = bootstrap(suite, n_resamples=400, random_state=1, max_rows=50_000, by_cells=False)
    assert full.subsample is None and sub.subsample == 50_000
    for key in LARGE_KEYS:
        assert sub.estimate[key] == full.estimate[key]  # the estimate uses every row
        for method in ("bca", "percentile"):
            lo, hi, _ = bootstrap_interval(full, key, confidence=0.95, method=method)
            lo_m, hi_m, label = bootstrap_interval(sub, key, confidence=0.95, method=method)
            width = hi - lo
            assert abs(lo_m - lo) < 0.15 * width, (key, method, lo, lo_m, width)
            assert abs(hi_m - hi) < 0.15 * width, (key, method, hi, hi_m, width)
            assert label.endswith(", m-out-of-n (m=50,000)")
        # Spread of the replicates: the rescaled one estimates the full one.
        ratio = np.std(sub.replicates[key]) / np.std(full.replicates[key])
        assert 0.85 < ratio < 1.15, (key, ratio)


def test_m_out_of_n_is_the_rescaled_bootstrap_of_a_seeded_subsample():
    """The documented recipe, replayed: SeedSequence(seed).spawn(2) -> (subsample, resamples);
    replicates = estimate + (m/n)**rate * (subsample replicates - subsample estimate)."""
    y, s = large_binary(30_000, seed=3)
    suite = BinarySuite(y, s, threshold=0.5, probabilities=True)
    m, seed = 4_000, 12
    rates = {("roc_auc", None): 1 / 3, ("accuracy", None): -0.5}
    draws = bootstrap(suite, n_resamples=120, random_state=seed, max_rows=m, rates=rates,
                      by_cells=False,
                      bands=True)  # fmt: skip
    pick, resample = np.random.SeedSequence(seed).spawn(2)
    rows = subsample_rows(suite.n, m, np.random.default_rng(pick), suite.ranked.y)
    inner = bootstrap(suite.subset(rows), n_resamples=120, random_state=resample,
                      max_rows=None, bands=True)  # fmt: skip
    assert draws.subsample == rows.size == m
    assert draws.acceleration_scale == pytest.approx(math.sqrt(m / suite.n))
    point = suite.compute(bands=True)
    for key, reps in draws.replicates.items():
        rate = rates.get(key, 0.5)
        expected = point[key][0] + (m / suite.n) ** rate * (
            inner.replicates[key] - inner.estimate[key]
        )
        expected = np.clip(expected, *key_bounds(key))  # rescaling must not leave the range
        np.testing.assert_allclose(reps, expected, rtol=0, atol=1e-12, equal_nan=True)
        np.testing.assert_array_equal(draws.estimate[key], point[key][0])
    for key, jack in inner.jackknife.items():
        np.testing.assert_array_equal(draws.jackknife[key], jack)
    # Curves are rescaled column by column around the full-data curve.
    assert draws.replicates[("curve:roc", None)].shape == (120, 101)


def test_m_out_of_n_is_seeded_and_labelled():
    y, s = large_binary(40_000, seed=1)
    suite = BinarySuite(y, s, threshold=0.5, probabilities=True)
    a, b, c = (bootstrap(suite, n_resamples=100, random_state=r, max_rows=5_000, n_jobs=j,
                         by_cells=False)
               for r, j in ((4, 1), (4, 2), (5, 1)))  # fmt: skip
    for key in a.replicates:
        np.testing.assert_array_equal(a.replicates[key], b.replicates[key])
    assert not np.array_equal(a.replicates[("roc_auc", None)], c.replicates[("roc_auc", None)])
    assert bootstrap_interval(a, ("roc_auc", None), confidence=0.95, method="bca")[2] == (
        "stratified bootstrap BCa, m-out-of-n (m=5,000)"
    )
    plain = bootstrap(
        suite, n_resamples=100, random_state=4, max_rows=5_000, stratify=False, by_cells=False
    )
    assert plain.method("percentile") == "bootstrap percentile, m-out-of-n (m=5,000)"


@pytest.mark.parametrize("max_rows", [None, 0, 500, 10_000])
def test_small_data_or_no_max_rows_resamples_every_row(max_rows):
    """Up to max_rows rows (and with None or 0) the bootstrap is the one of all rows, bit
    for bit: the same numbers as before the large-data path existed."""
    y, s = binary_data(n=500, seed=8)
    suite = BinarySuite(y, s, threshold=0.5, probabilities=True)
    draws = bootstrap(suite, n_resamples=60, random_state=2, max_rows=max_rows)
    default = bootstrap(suite, n_resamples=60, random_state=2)
    assert LARGE_N >= 100_000 and draws.subsample is None
    assert draws.acceleration_scale == 1.0
    counts = replay_counts(suite, 60, 2, stratify=True)
    expected = suite.compute(counts)
    for key, reps in draws.replicates.items():
        np.testing.assert_array_equal(reps, expected[key])
        np.testing.assert_array_equal(reps, default.replicates[key])


@pytest.mark.parametrize("bad", [-1, 2.5, True, "many"])
def test_max_rows_is_checked(bad):
    y, s = binary_data(n=50)
    suite = BinarySuite(y, s, threshold=0.5, probabilities=True)
    with pytest.raises(InvalidInputError, match="max_rows"):
        bootstrap(suite, n_resamples=10, max_rows=bad)


def test_subsample_rows_keeps_the_class_proportions():
    rng = np.random.default_rng(0)
    strata = rng.choice([0, 1, 2], size=100_003, p=[0.7, 0.299, 0.001])
    rows = subsample_rows(strata.size, 10_000, np.random.default_rng(1), strata)
    assert rows.size == 10_000 and np.all(np.diff(rows) > 0)  # ascending, no repeats
    want = np.bincount(strata) * 10_000 / strata.size
    np.testing.assert_allclose(np.bincount(strata[rows]), want, atol=1)
    plain = subsample_rows(1_000, 100, np.random.default_rng(1))
    assert plain.size == 100 and np.unique(plain).size == 100


def test_suites_restricted_to_rows_equal_suites_built_on_them():
    rng = np.random.default_rng(4)
    n = 3_000
    rows = np.sort(rng.choice(n, size=700, replace=False))
    w = rng.exponential(size=n)
    y, s = binary_data(n=n, seed=4)
    binary = BinarySuite(y, s, w, threshold=0.4, probabilities=True, n_bins=7)
    direct = BinarySuite(binary.ranked.y[rows], binary.ranked.scores[rows],
                         binary.ranked.weight[rows], threshold=0.4, probabilities=True,
                         n_bins=7)  # fmt: skip
    yk = rng.integers(0, 3, n)
    proba = rng.dirichlet(np.ones(3), n)
    names = ["a", "b", "c"]
    multi = MulticlassSuite(yk, proba, w, labels=proba.argmax(1), class_names=names,
                            probabilities=True)  # fmt: skip
    multi_direct = MulticlassSuite(yk[rows], proba[rows], w[rows], labels=proba[rows].argmax(1),
                                   class_names=names, probabilities=True)  # fmt: skip
    yr = rng.normal(size=n)
    reg = RegressionSuite(yr, yr + rng.normal(size=n), w)
    reg_direct = RegressionSuite(reg.y[rows], reg.pred[rows], w[rows])
    for whole, part in ((binary, direct), (multi, multi_direct), (reg, reg_direct)):
        sub = whole.subset(rows)
        assert sub.n == rows.size
        got, want = sub.compute(bands=True), part.compute(bands=True)
        assert got.keys() == want.keys()
        for key in want:
            np.testing.assert_allclose(got[key], want[key], rtol=1e-10, equal_nan=True)


def test_acceleration_scale_shrinks_the_bca_correction():
    rng = np.random.default_rng(2)
    reps = rng.gamma(4.0, size=4000)
    jack = rng.gamma(2.0, size=200)  # skewed: a sizeable acceleration
    est = float(np.median(reps))
    full = bca_interval(est, reps, jack, 0.95)
    none = bca_interval(est, reps, np.tile([-1.0, 1.0], 100), 0.95)  # symmetric: a = 0
    half = bca_interval(est, reps, jack, 0.95, acceleration_scale=0.5)
    zero = bca_interval(est, reps, jack, 0.95, acceleration_scale=0.0)
    assert zero == pytest.approx(none)
    assert none[0] < half[0] < full[0] or none[0] > half[0] > full[0]


def test_evaluate_and_thresholds_on_large_data_say_how_they_resample():
    from afterfit.thresholds import select_threshold_predictions

    n = LARGE_N + 5_000
    y, s = large_binary(n, seed=6)
    ev = evaluate_predictions(y, s, ci="bootstrap", n_resamples=40, random_state=0)
    auc = ev.metrics["roc_auc"]
    # Unweighted binary metrics resample every row through the counts of class x score
    # bin cells (tests/test_large_n_paths.py); weighted ones keep the m-out-of-n scheme.
    assert auc.method.startswith("stratified bootstrap BCa, grouped counts in ")
    assert auc.method.endswith(" score bins")
    w = np.ones(n)
    ev = evaluate_predictions(y, s, sample_weight=w, n_resamples=40, random_state=0)
    auc = ev.metrics["roc_auc"]
    assert auc.method == f"stratified bootstrap BCa, m-out-of-n (m={LARGE_N:,})"
    assert auc.ci_low < auc.value < auc.ci_high
    sel = select_threshold_predictions(y, s, objective="positive_rate", positive_rate=0.3,
                                       n_resamples=40, random_state=0)  # fmt: skip
    row = sel.metrics.frame().set_index("metric").loc["recall"]
    # Thresholds resample every row through the per-class counts of score bins (issue 16;
    # tests/test_threshold_interval_grouped.py), never a rescaled subsample.
    assert row["method"].startswith("stratified bootstrap percentile, grouped counts in ")
    assert sel.ci[0] <= sel.threshold <= sel.ci[1]
    f1 = select_threshold_predictions(y, s, n_resamples=20, random_state=0)
    row = f1.metrics.frame().set_index("metric").loc["recall"]
    assert "m-out-of-n" not in row["method"] and "grouped counts" in row["method"]


def test_calibration_and_threshold_suites_restricted_to_rows():
    """The calibration suite keeps its bin edges (quantile edges of all rows); the threshold
    search keeps the threshold chosen on all rows for its metrics."""
    from afterfit.calibration._binning import BinnedSuite, Forecast, bin_edges
    from afterfit.thresholds._core import all_metrics, make_objective
    from afterfit.thresholds._select import _SelectionSuite

    rng = np.random.default_rng(7)
    n = 4_000
    y, s = binary_data(n=n, seed=7)
    w = rng.exponential(size=n)
    rows = np.sort(rng.choice(n, size=900, replace=False))

    def calibration_suite(p, o, weight, edges):
        def derive(sums, means, bands):
            b = sums[("event", "quantile")]
            return {("ece", None): b.ece(), ("brier", None): means["brier"],
                    ("curve", None): b.fraction()}  # fmt: skip

        event = Forecast("event", p, o.astype(float), {"quantile": edges})
        return BinnedSuite([event], moments=set(), rows={"brier": (p - o) ** 2},
                           derive=derive, strata=o, weight=weight)  # fmt: skip

    edges = bin_edges(s, 8, "quantile", w)
    whole = calibration_suite(s, y, w, edges)
    got = whole.subset(rows).compute()
    want = calibration_suite(s[rows], y[rows], w[rows], edges).compute()
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-12, equal_nan=True)

    from afterfit.metrics.kernel import RankedScores
    from afterfit.thresholds._core import candidate_thresholds

    ranked = RankedScores.from_arrays(y, s, w, keep_order=False)
    objective = make_objective("f1")
    suite = _SelectionSuite(ranked, objective, candidate_thresholds(ranked.thresholds))
    suite.chosen = int(suite.search()[-1][0])
    t = suite.thresholds[suite.chosen]
    sub = suite.subset(rows)
    out = sub.compute()
    ys, ss, ws = ranked.y[rows], ranked.scores[rows], ranked.weight[rows]
    flagged = ss > t
    tp = np.array([ws[flagged & (ys == 1)].sum()])
    fp = np.array([ws[flagged & (ys == 0)].sum()])
    P, N = np.array([ws[ys == 1].sum()]), np.array([ws[ys == 0].sum()])
    for name, value in all_metrics(tp, fp, P, N, objective).items():
        np.testing.assert_allclose(out[(name, None)], value, rtol=1e-9, err_msg=name)
    # The subset's own optimum is a threshold of its own candidates.
    assert out[("threshold", None)][0] in sub.thresholds
