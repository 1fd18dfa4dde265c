"""Bootstrap: reproducibility, stratification, replicate-by-replicate agreement with a
plain loop over scikit-learn, BCa and percentile intervals, and degenerate resamples."""

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
from afterfit.metrics.resampling import (
    bootstrap,
    bootstrap_interval,
    chunk_sizes,
    percentile_interval,
    resample_counts,
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
    s = np.array([0.9, 0.1, 0.3, 0.6, 0.2, 0.4, 0.7, 0.35])
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
    s = np.array([0.9, 0.1, 0.3, 0.6, 0.2, 0.4, 0.7, 0.35])
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
    assert "percentile" in method


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
