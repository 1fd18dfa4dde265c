"""Analytic intervals: DeLong for ROC AUC, Wilson for proportions.

DeLong is checked against a direct O(n²) implementation (placement values by pairwise
comparison, the Mann-Whitney kernel with ties counting one half); Wilson against its
closed form on known values. The slow test simulates the binormal model and checks that
both 95% intervals cover the true values about 95% of the time.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit, ndtr
from scipy.stats import binom, norm
from sklearn.metrics import roc_auc_score

from afterfit.errors import AfterfitWarning
from afterfit.evaluation import evaluate_predictions
from afterfit.metrics.intervals import (
    delong_interval,
    placement_values,
    wilson_interval,
    z_value,
)
from afterfit.metrics.kernel import RankedScores

# --------------------------------------------------------------------------------------
# DeLong
# --------------------------------------------------------------------------------------


def direct_delong(y01: np.ndarray, scores: np.ndarray, confidence: float = 0.95):
    """DeLong et al. (1988) from the pairwise kernel, O(m n).

    Returns the placement values (in the original row order of the positives and of the
    negatives), the AUC, its variance and the interval, built on the logit scale (delta
    method: se / (auc (1 - auc))) and mapped back; a single point where the variance is 0.
    """
    x = scores[y01 == 1]  # positives
    y = scores[y01 == 0]  # negatives
    psi = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
    v10 = psi.mean(axis=1)  # each positive: share of negatives it outranks
    v01 = psi.mean(axis=0)  # each negative: share of positives that outrank it
    auc = psi.mean()
    var = v10.var(ddof=1) / x.size + v01.var(ddof=1) / y.size
    z = norm.ppf(0.5 + confidence / 2)
    return v10, v01, auc, var, logit_interval(auc, math.sqrt(var), z)


def logit_interval(p: float, se: float, z: float) -> tuple[float, float]:
    if se == 0 or p in (0.0, 1.0):
        return (p, p)
    centre, half = math.log(p / (1 - p)), z * se / (p * (1 - p))
    return (1 / (1 + math.exp(-(centre - half))), 1 / (1 + math.exp(-(centre + half))))


def afterfit_placements(y01: np.ndarray, scores: np.ndarray):
    """placement_values, put back in the original row order of each class."""
    ranked = RankedScores.from_arrays(y01, scores)
    v10, v01 = placement_values(ranked)
    pos_rows = ranked.order[ranked.y == 1]
    neg_rows = ranked.order[ranked.y == 0]
    # Direct placements are in the order of np.flatnonzero(y01 == c).
    pos_rank = np.argsort(np.argsort(pos_rows))
    neg_rank = np.argsort(np.argsort(neg_rows))
    out10 = np.empty_like(v10)
    out01 = np.empty_like(v01)
    out10[pos_rank] = v10
    out01[neg_rank] = v01
    return ranked, out10, out01


@st.composite
def small_scored(draw):
    n_pos = draw(st.integers(2, 25))
    n_neg = draw(st.integers(2, 25))
    levels = draw(st.integers(1, 12))  # few distinct scores: many ties
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    y01 = np.array([1] * n_pos + [0] * n_neg)
    rng.shuffle(y01)
    shift = draw(st.sampled_from([0.0, 0.5, 2.0]))
    scores = np.floor((rng.normal(size=y01.size) + shift * y01) * levels / 3) / levels
    return y01, scores


@settings(max_examples=60, deadline=None)
@given(small_scored(), st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_delong_matches_direct_pairwise(case, confidence):
    y01, scores = case
    v10_ref, v01_ref, auc_ref, var_ref, (lo_ref, hi_ref) = direct_delong(y01, scores, confidence)
    ranked, v10, v01 = afterfit_placements(y01, scores)

    np.testing.assert_allclose(v10, v10_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(v01, v01_ref, rtol=0, atol=1e-12)
    var = v10.var(ddof=1) / v10.size + v01.var(ddof=1) / v01.size
    assert var == pytest.approx(var_ref, rel=1e-9, abs=1e-15)

    auc, lo, hi = delong_interval(ranked, confidence)
    assert auc == pytest.approx(auc_ref, abs=1e-12)
    assert auc == pytest.approx(roc_auc_score(y01, scores), abs=1e-12)
    assert lo == pytest.approx(lo_ref, abs=1e-12)
    assert hi == pytest.approx(hi_ref, abs=1e-12)
    assert 0.0 <= lo <= auc <= hi <= 1.0


def test_delong_known_small_example_with_ties():
    # Positives 0.9, 0.5, 0.5 ; negatives 0.5, 0.1: hand-computed placements. The
    # negative 0.5 is outranked by 0.9 and ties with two positives: (1 + 0.5 + 0.5) / 3.
    y01 = np.array([1, 1, 1, 0, 0])
    s = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    _, v10, v01 = afterfit_placements(y01, s)
    np.testing.assert_allclose(v10, [1.0, 0.75, 0.75])
    np.testing.assert_allclose(v01, [2 / 3, 1.0])
    ranked = RankedScores.from_arrays(y01, s)
    auc, lo, hi = delong_interval(ranked, 0.95)
    assert auc == pytest.approx(2.5 / 3)
    var = np.var([1, 0.75, 0.75], ddof=1) / 3 + np.var([2 / 3, 1.0], ddof=1) / 2
    half = z_value(0.95) * math.sqrt(var) / (auc * (1 - auc))  # on the logit scale
    logit = math.log(auc / (1 - auc))
    assert (lo, hi) == pytest.approx((expit(logit - half), expit(logit + half)))
    assert 0 < lo < auc < hi < 1  # the plain auc ± z se would end above 1 here
    assert auc + z_value(0.95) * math.sqrt(var) > 1


def test_delong_needs_two_of_each_class():
    ranked = RankedScores.from_arrays(np.array([1, 0, 0, 0]), np.array([0.9, 0.1, 0.2, 0.3]))
    assert all(math.isnan(v) for v in delong_interval(ranked, 0.95))


def test_delong_perfect_separation_is_degenerate_at_one():
    ranked = RankedScores.from_arrays(np.array([1, 1, 0, 0]), np.array([0.9, 0.8, 0.2, 0.1]))
    assert delong_interval(ranked, 0.95) == (1.0, 1.0, 1.0)


@settings(max_examples=25, deadline=None)
@given(small_scored())
def test_evaluate_reports_delong_interval(case):
    y01, scores = case
    probs = ndtr(scores)  # probabilities with the same ranking and ties
    _, _, _, _, (lo_ref, hi_ref) = direct_delong(y01, probs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AfterfitWarning)
        ev = evaluate_predictions(y01, probs, ci="auto", n_resamples=20, random_state=0)
    auc = ev.metrics["roc_auc"]
    if lo_ref == hi_ref:  # zero variance (separated classes, or all scores tied): none
        assert auc.method.startswith("none (DeLong variance is 0")
        assert math.isnan(auc.ci_low) and math.isnan(auc.ci_high)
        return
    assert auc.method == "delong"
    assert auc.ci_low == pytest.approx(lo_ref, abs=1e-12)
    assert auc.ci_high == pytest.approx(hi_ref, abs=1e-12)


def test_evaluate_multiclass_per_class_delong():
    rng = np.random.default_rng(3)
    n, K = 150, 3
    y = rng.integers(0, K, n)
    logits = rng.normal(size=(n, K)) + 1.5 * np.eye(K)[y]
    proba = np.round(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), 3)
    proba[:, -1] = 1 - proba[:, :-1].sum(axis=1)
    ev = evaluate_predictions(y, proba, ci="auto", n_resamples=50, random_state=0)
    rows = {(r.metric, r.label): r for r in ev.metrics.rows}
    for k in range(K):
        _, _, auc, _, (lo, hi) = direct_delong((y == k).astype(int), proba[:, k])
        row = rows[("roc_auc", str(k))]
        assert row.method == "delong"
        assert row.value == pytest.approx(auc, abs=1e-12)
        assert (row.ci_low, row.ci_high) == pytest.approx((lo, hi), abs=1e-12)


# --------------------------------------------------------------------------------------
# Wilson
# --------------------------------------------------------------------------------------


def wilson_closed_form(k: float, n: float, confidence: float) -> tuple[float, float]:
    z = norm.ppf(0.5 + confidence / 2)
    p = k / n
    centre = (k + z * z / 2) / (n + z * z)
    half = z * math.sqrt(n) / (n + z * z) * math.sqrt(p * (1 - p) + z * z / (4 * n))
    return centre - half, centre + half


@pytest.mark.parametrize(
    ("k", "n", "confidence", "expected"),
    [
        (8, 10, 0.95, (0.4902, 0.9433)),
        (0, 10, 0.95, (0.0, 0.2775)),
        (10, 10, 0.95, (0.7225, 1.0)),
        (1, 2, 0.95, (0.0945, 0.9055)),
        (50, 100, 0.95, (0.4038, 0.5962)),
        (3, 20, 0.90, (0.0616, 0.3218)),
    ],
)
def test_wilson_known_values(k, n, confidence, expected):
    lo, hi = wilson_interval(k, n, confidence)
    assert (lo, hi) == pytest.approx(expected, abs=5e-5)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 10_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    st.sampled_from([0.5, 0.8, 0.9, 0.95, 0.99, 0.999]),
)
def test_wilson_matches_closed_form(kn, confidence):
    k, n = kn
    lo, hi = wilson_interval(k, n, confidence)
    ref_lo, ref_hi = wilson_closed_form(k, n, confidence)
    assert lo == pytest.approx(max(0.0, ref_lo), abs=1e-12)
    assert hi == pytest.approx(min(1.0, ref_hi), abs=1e-12)
    assert 0.0 <= lo <= k / n <= hi <= 1.0


@pytest.mark.parametrize("n", [1, 5, 37, 1000])
def test_wilson_edges(n):
    z2 = norm.ppf(0.975) ** 2
    lo, hi = wilson_interval(0, n, 0.95)
    assert lo == 0.0
    assert hi == pytest.approx(z2 / (n + z2), abs=1e-12)
    lo, hi = wilson_interval(n, n, 0.95)
    assert lo == pytest.approx(n / (n + z2), abs=1e-12)
    assert hi == 1.0


@pytest.mark.parametrize(("k", "n"), [(0, 3), (0, 1000), (10, 10), (25, 25)])
def test_wilson_contains_estimate_at_the_edges(k, n):
    """Regression: round-off of centre -/+ half put the low end at ~1e-19 for 0/n and the
    high end at 1 - 1e-16 for n/n, leaving the estimate outside its own interval."""
    lo, hi = wilson_interval(k, n, 0.95)
    assert lo <= k / n <= hi


def test_evaluate_perfect_recall_interval_contains_one():
    """Regression: recall 1.0 was reported with ci_high 0.9999999999999999."""
    y = np.array([1] * 10 + [0] * 10)
    s = np.r_[np.linspace(0.6, 0.95, 10), np.linspace(0.05, 0.7, 10)]
    ev = evaluate_predictions(y, s, ci="auto", n_resamples=20, random_state=0)
    recall = ev.metrics["recall"]
    assert recall.value == 1.0
    assert recall.ci_low <= recall.value <= recall.ci_high


def test_wilson_empty_is_nan():
    assert all(math.isnan(v) for v in wilson_interval(0, 0, 0.95))


def test_wilson_exact_binomial_coverage():
    """Coverage without Monte Carlo noise: sum the binomial probabilities of the counts
    whose interval holds p (the setting of the slow binormal test)."""
    n, p = 300, float(ndtr(0.5))
    k = np.arange(n + 1)
    covered = [wilson_interval(i, n, 0.95)[0] <= p <= wilson_interval(i, n, 0.95)[1] for i in k]
    coverage = float(binom.pmf(k, n, p)[np.asarray(covered)].sum())
    assert 0.945 <= coverage <= 0.96


def test_evaluate_reports_wilson_intervals():
    y = np.array([1] * 6 + [0] * 4)
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.6, 0.1, 0.45])
    # threshold 0.5: tp = 4, fn = 2, fp = 1, tn = 3
    ev = evaluate_predictions(y, s, ci="auto", n_resamples=50, random_state=0)
    for name, (k, n) in {
        "accuracy": (7, 10),
        "precision": (4, 5),
        "recall": (4, 6),
        "specificity": (3, 4),
    }.items():
        row = ev.metrics[name]
        assert row.method == "wilson"
        assert row.value == pytest.approx(k / n)
        assert (row.ci_low, row.ci_high) == pytest.approx(wilson_closed_form(k, n, 0.95))


# --------------------------------------------------------------------------------------
# Coverage (slow)
# --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_binormal_coverage_of_delong_and_wilson():
    """Negatives N(0, 1), positives N(1, 1); 120 positives and 180 negatives; 1000 runs.

    True AUC = Φ(1/√2). At threshold 0.5 every row is right with probability Φ(0.5), so
    the true accuracy is Φ(0.5). Both 95% intervals must cover in 93–97% of the runs
    (Monte Carlo standard error about 0.7%; the exact Wilson coverage here is 0.9547, see
    test_wilson_exact_binomial_coverage).
    """
    reps, n_pos, n_neg = 1000, 120, 180
    true_auc = float(ndtr(1 / math.sqrt(2)))
    true_acc = float(ndtr(0.5))
    rng = np.random.default_rng(12345)
    y = np.r_[np.ones(n_pos, dtype=int), np.zeros(n_neg, dtype=int)]
    hit_auc = hit_acc = 0
    for _ in range(reps):
        scores = rng.normal(size=y.size) + y
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AfterfitWarning)
            ev = evaluate_predictions(
                y, scores, scores_are_probabilities=False, threshold=0.5, ci="auto",
                n_resamples=2, bootstrap_method="percentile", random_state=0,
            )  # fmt: skip
        auc, acc = ev.metrics["roc_auc"], ev.metrics["accuracy"]
        assert auc.method == "delong"
        assert acc.method == "wilson"
        hit_auc += auc.ci_low <= true_auc <= auc.ci_high
        hit_acc += acc.ci_low <= true_acc <= acc.ci_high
    cov_auc, cov_acc = hit_auc / reps, hit_acc / reps
    print(
        f"\ncoverage over {reps} runs: DeLong AUC {cov_auc:.3f} (true {true_auc:.4f}), "
        f"Wilson accuracy {cov_acc:.3f} (true {true_acc:.4f})"
    )
    assert 0.93 <= cov_auc <= 0.97, f"DeLong coverage {cov_auc}"
    assert 0.93 <= cov_acc <= 0.97, f"Wilson coverage {cov_acc}"
