"""Comparison of models: DeLong, McNemar, paired t and Holm against direct computations, the
paired bootstrap replicate by replicate against scikit-learn, verdicts, results objects and
bad input. The slow test simulates the DeLong test's size and power."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure
from scipy import stats as sps
from scipy.special import ndtr
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)
from sklearn.tree import DecisionTreeClassifier

import afterfit
from afterfit.comparison import (
    bootstrap_p_value,
    compare_models,
    compare_predictions,
    delong_test,
    holm,
    mcnemar_test,
    paired_t_test,
)
from afterfit.comparison.results import FRAME_COLUMNS
from afterfit.errors import AfterfitWarning, InvalidInputError
from afterfit.metrics.intervals import delong_covariance
from afterfit.metrics.kernel import RankedScores
from afterfit.metrics.resampling import chunk_sizes, resample_counts
from afterfit.predictions import Predictions


def binary_models(n: int = 120, seed: int = 0, decimals: int = 1, k: int = 2):
    """Labels and ``k`` correlated probability scores with many ties."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    base = rng.normal(size=n) + 1.2 * y
    scores = {}
    for j in range(k):
        z = base + rng.normal(scale=0.5 + 0.4 * j, size=n)
        scores["abcdefgh"[j]] = np.round(1 / (1 + np.exp(-z)), decimals)
    return y, scores


# --------------------------------------------------------------------------------------
# DeLong against the O(n^2) definition
# --------------------------------------------------------------------------------------


def direct_components(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Structural components by pairwise comparison (ties count one half), in the original
    row order of the positives and of the negatives."""
    x, z = s[y == 1], s[y == 0]
    psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
    return psi.mean(axis=1), psi.mean(axis=0)


def direct_delong(y: np.ndarray, scores: list[np.ndarray]):
    comps = [direct_components(y, s) for s in scores]
    v10 = np.array([c[0] for c in comps])
    v01 = np.array([c[1] for c in comps])
    m, n = v10.shape[1], v01.shape[1]
    # Covariance by its definition, one entry at a time.
    k = len(scores)
    cov = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            s10 = np.sum((v10[i] - v10[i].mean()) * (v10[j] - v10[j].mean())) / (m - 1)
            s01 = np.sum((v01[i] - v01[i].mean()) * (v01[j] - v01[j].mean())) / (n - 1)
            cov[i, j] = s10 / m + s01 / n
    return v10.mean(axis=1), cov


@st.composite
def tied_pairs(draw):
    n_pos = draw(st.integers(2, 20))
    n_neg = draw(st.integers(2, 20))
    levels = draw(st.integers(1, 8))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    y = np.array([1] * n_pos + [0] * n_neg)
    rng.shuffle(y)
    base = rng.normal(size=y.size) + draw(st.sampled_from([0.0, 1.0])) * y
    a = np.floor((base + rng.normal(size=y.size)) * levels / 3) / levels
    b = np.floor((base + rng.normal(size=y.size)) * levels / 3) / levels
    return y, a, b


@settings(max_examples=60, deadline=None)
@given(tied_pairs())
def test_delong_covariance_and_p_value_match_direct(case):
    y, a, b = case
    auc_ref, cov_ref = direct_delong(y, [a, b])
    ranked = [RankedScores.from_arrays(y, s, keep_order=True) for s in (a, b)]
    auc, cov = delong_covariance(ranked)
    np.testing.assert_allclose(auc, auc_ref, atol=1e-12)
    np.testing.assert_allclose(cov, cov_ref, atol=1e-13, rtol=1e-9)
    assert auc == pytest.approx([roc_auc_score(y, a), roc_auc_score(y, b)], abs=1e-12)

    result = delong_test(ranked)[(0, 1)]
    var = cov_ref[0, 0] + cov_ref[1, 1] - 2 * cov_ref[0, 1]
    d = auc_ref[1] - auc_ref[0]
    assert result.difference == pytest.approx(d, abs=1e-12)
    if var > 1e-12:
        z = d / math.sqrt(var)
        assert result.statistic == pytest.approx(z, rel=1e-7, abs=1e-9)
        assert result.p_value == pytest.approx(2 * sps.norm.sf(abs(z)), rel=1e-7, abs=1e-12)
        half = sps.norm.ppf(0.975) * math.sqrt(var)
        assert (result.ci_low, result.ci_high) == pytest.approx((d - half, d + half), abs=1e-9)


def test_delong_three_models_and_comparison_rows_match_direct():
    y, scores = binary_models(n=90, k=3, decimals=1)
    auc_ref, cov_ref = direct_delong(y, list(scores.values()))
    cmp = compare_predictions(y, scores, metrics=["roc_auc"], n_resamples=20, random_state=0)
    names = list(scores)
    for row in cmp.rows:
        i, j = names.index(row.model_a), names.index(row.model_b)
        var = cov_ref[i, i] + cov_ref[j, j] - 2 * cov_ref[i, j]
        d = auc_ref[j] - auc_ref[i]
        assert row.test == "delong"
        assert row.difference == pytest.approx(d, abs=1e-12)
        assert row.p_value == pytest.approx(2 * sps.norm.sf(abs(d) / math.sqrt(var)), rel=1e-9)
    # With a baseline listed last, pairs run (baseline, other): the difference flips sign.
    by_base = compare_predictions(
        y, scores, metrics=["roc_auc"], baseline="c", n_resamples=20, random_state=0
    )
    assert [(r.model_a, r.model_b) for r in by_base.rows] == [("c", "a"), ("c", "b")]
    row = by_base.rows[0]
    i, j = 2, 0
    var = cov_ref[i, i] + cov_ref[j, j] - 2 * cov_ref[i, j]
    assert row.difference == pytest.approx(auc_ref[0] - auc_ref[2], abs=1e-12)
    assert row.p_value == pytest.approx(
        2 * sps.norm.sf(abs(auc_ref[0] - auc_ref[2]) / math.sqrt(var)), rel=1e-9
    )
    assert row.ci_low < row.difference < row.ci_high
    # Each model's own interval is DeLong's too.
    models = cmp.models_frame().set_index("model")
    assert set(models["method"]) == {"delong"}
    # DeLong's variance, interval on the logit scale (the one default, as in evaluate).
    a0 = auc_ref[0]
    half = sps.norm.ppf(0.975) * math.sqrt(cov_ref[0, 0]) / (a0 * (1 - a0))
    low = 1 / (1 + math.exp(-(math.log(a0 / (1 - a0)) - half)))
    assert models.loc["a", "ci_low"] == pytest.approx(low, abs=1e-12)


def test_delong_identical_models_p_is_one():
    y, scores = binary_models(n=60)
    cmp = compare_predictions(
        y, {"a": scores["a"], "b": scores["a"].copy()}, metrics=["roc_auc"], n_resamples=20
    )
    row = cmp.rows[0]
    assert row.difference == 0 and row.p_value == 1.0 and row.verdict == "no significant difference"


def test_delong_covariance_rejects_other_labels_or_no_order():
    y = np.array([0, 1, 0, 1, 1, 0])
    s = np.array([0.1, 0.9, 0.3, 0.7, 0.2, 0.4])
    other = RankedScores.from_arrays(1 - y, s, keep_order=True)
    with pytest.raises(ValueError, match="same labelled rows"):
        delong_covariance([RankedScores.from_arrays(y, s, keep_order=True), other])
    with pytest.raises(ValueError, match="keep_order"):
        delong_covariance([RankedScores.from_arrays(y, s, keep_order=False)])


# --------------------------------------------------------------------------------------
# McNemar, paired t, bootstrap p-value, Holm
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n01, n10, n11, n00",
    [
        (3, 9, 40, 8),
        (0, 5, 10, 1),
        (7, 7, 3, 3),
        (30, 52, 100, 18),
        (120, 95, 300, 40),
        (0, 0, 5, 5),
    ],
)
def test_mcnemar_matches_direct(n01, n10, n11, n00):
    rng = np.random.default_rng(n01 + n10)
    a = np.array([1] * n01 + [0] * n10 + [1] * n11 + [0] * n00, dtype=bool)
    b = np.array([0] * n01 + [1] * n10 + [1] * n11 + [0] * n00, dtype=bool)
    perm = rng.permutation(a.size)
    result = mcnemar_test(a[perm], b[perm])
    assert result.difference == pytest.approx((n10 - n01) / a.size)
    assert result.details["n_a_only"] == n01 and result.details["n_b_only"] == n10
    discordant = n01 + n10
    if discordant == 0:
        assert result.p_value == 1.0
    elif discordant < 25:
        assert result.test == "mcnemar exact"
        assert result.p_value == pytest.approx(sps.binomtest(n10, discordant, 0.5).pvalue)
    else:
        assert result.test == "mcnemar chi2"
        chi2 = (abs(n01 - n10) - 1) ** 2 / discordant
        assert result.statistic == pytest.approx(chi2)
        assert result.p_value == pytest.approx(sps.chi2.sf(chi2, 1))


def test_comparison_accuracy_row_is_mcnemar_on_the_predictions():
    y, scores = binary_models(n=150, decimals=3)
    cmp = compare_predictions(y, scores, metrics=["accuracy"], n_resamples=50, random_state=0)
    row = cmp.rows[0]
    ca, cb = (scores["a"] > 0.5) == y, (scores["b"] > 0.5) == y
    assert row.p_value == pytest.approx(mcnemar_test(ca, cb).p_value)
    assert row.difference == pytest.approx(cb.mean() - ca.mean())
    assert row.test.startswith("mcnemar") and "bootstrap" in row.ci_method


def test_paired_t_matches_scipy():
    rng = np.random.default_rng(3)
    la, lb = rng.gamma(2.0, size=80), rng.gamma(2.2, size=80)
    result = paired_t_test(la, lb)
    ref = sps.ttest_rel(lb, la)
    assert result.statistic == pytest.approx(ref.statistic)
    assert result.p_value == pytest.approx(ref.pvalue)
    ci = ref.confidence_interval(0.95)
    assert (result.ci_low, result.ci_high) == pytest.approx((ci.low, ci.high))


def test_regression_mae_and_mse_rows_are_paired_t():
    rng = np.random.default_rng(5)
    y = rng.normal(size=100)
    pa, pb = y + rng.normal(size=100), y + rng.normal(scale=0.8, size=100)
    cmp = compare_predictions(y, {"a": pa, "b": pb}, n_resamples=50, random_state=0)
    frame = cmp.frame().set_index("metric")
    assert list(frame.index) == ["mae", "mse", "rmse", "r2"]
    mae = sps.ttest_rel(np.abs(pb - y), np.abs(pa - y))
    mse = sps.ttest_rel((pb - y) ** 2, (pa - y) ** 2)
    assert frame.loc["mae", "p_value"] == pytest.approx(mae.pvalue)
    assert frame.loc["mse", "p_value"] == pytest.approx(mse.pvalue)
    assert frame.loc["mse", "difference"] == pytest.approx(
        mean_squared_error(y, pb) - mean_squared_error(y, pa)
    )
    assert frame.loc["rmse", "test"] == "paired bootstrap"
    assert frame.loc["r2", "value_b"] == pytest.approx(r2_score(y, pb))


def test_bootstrap_p_value_by_hand():
    # 3 below, 6 above, 1 at zero: tail = 3 + 0.5, p = 2 * 4.5 / 11.
    r = np.array([-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert bootstrap_p_value(r) == pytest.approx(2 * 4.5 / 11)
    assert bootstrap_p_value(np.arange(1.0, 100.0)) == pytest.approx(2 / 100)
    assert bootstrap_p_value(np.zeros(9)) == 1.0
    assert math.isnan(bootstrap_p_value(np.array([np.nan, np.inf])))


def test_holm_by_hand():
    # Sorted: 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> 0.06).
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    # NaN is left out of the family (m = 2) and stays NaN; the adjustment caps at 1.
    np.testing.assert_allclose(holm([0.2, np.nan, 0.7]), [0.4, np.nan, 0.7])
    np.testing.assert_allclose(holm([0.6, 0.9]), [1.0, 1.0])
    assert holm([]).size == 0


def test_holm_families():
    y, scores = binary_models(n=150, k=3, decimals=3)
    kwargs = {"metrics": ["roc_auc", "f1"], "n_resamples": 100, "random_state": 0}
    by_metric = compare_predictions(y, scores, **kwargs).frame()
    everything = compare_predictions(y, scores, family="all", **kwargs).frame()
    for _metric, rows in by_metric.groupby("metric"):
        np.testing.assert_allclose(rows["p_holm"], holm(rows["p_value"]))
    np.testing.assert_allclose(everything["p_holm"], holm(everything["p_value"]))
    assert (everything["p_holm"] >= by_metric["p_holm"] - 1e-15).all()


# --------------------------------------------------------------------------------------
# Paired bootstrap, replicate by replicate
# --------------------------------------------------------------------------------------


def resampled_indices(n: int, B: int, seed: int, strata: np.ndarray | None):
    """The row indices of each resample, as compare draws them (same seeds, same chunks)."""
    sizes = chunk_sizes(n, B)
    children = np.random.SeedSequence(seed).spawn(len(sizes))
    for size, child in zip(sizes, children, strict=True):
        counts = resample_counts(n, size, np.random.default_rng(child), strata)
        for row in counts:
            yield np.repeat(np.arange(n), row.astype(int))


@pytest.mark.parametrize("stratify", [True, False])
def test_paired_bootstrap_binary_replicates_match_sklearn_loop(stratify):
    y, scores = binary_models(n=90, k=2, decimals=2)
    B = 40
    metrics = ["roc_auc", "average_precision", "accuracy", "f1", "log_loss", "brier"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AfterfitWarning)
        cmp = compare_predictions(
            y, scores, metrics=metrics, n_resamples=B, random_state=7, stratify=stratify
        )
    sk = {
        "roc_auc": roc_auc_score,
        "average_precision": average_precision_score,
        "accuracy": lambda t, s: accuracy_score(t, s > 0.5),
        "f1": lambda t, s: f1_score(t, s > 0.5, zero_division=np.nan),
        "log_loss": lambda t, s: log_loss(t, s, labels=[0, 1]),
        "brier": brier_score_loss,
    }
    expected = {m: [] for m in metrics}
    for idx in resampled_indices(y.size, B, 7, y if stratify else None):
        for m in metrics:
            if np.unique(y[idx]).size < 2 and m in ("roc_auc", "average_precision"):
                expected[m].append(np.nan)
                continue
            values = [sk[m](y[idx], scores[name][idx]) for name in ("a", "b")]
            expected[m].append(values[1] - values[0])
    for m in metrics:
        got = cmp.replicates["b"][m] - cmp.replicates["a"][m]
        np.testing.assert_allclose(got, expected[m], atol=1e-10, err_msg=m)
    # The bootstrap rows read those replicates.
    row = cmp.frame(metric="f1").iloc[0]
    diff = cmp.replicates["b"]["f1"] - cmp.replicates["a"]["f1"]
    assert row["p_value"] == pytest.approx(bootstrap_p_value(diff))
    assert row["ci_low"] == pytest.approx(np.quantile(diff[np.isfinite(diff)], 0.025))


def test_paired_bootstrap_regression_and_multiclass_replicates_match_sklearn_loop():
    rng = np.random.default_rng(1)
    n, B = 70, 30
    y = rng.normal(size=n)
    preds = {"a": y + rng.normal(size=n), "b": y + rng.normal(scale=0.7, size=n)}
    cmp = compare_predictions(
        y, preds, metrics=["mae", "rmse", "r2"], n_resamples=B, random_state=3
    )
    sk = {
        "mae": mean_absolute_error,
        "rmse": lambda t, p: math.sqrt(mean_squared_error(t, p)),
        "r2": r2_score,
    }
    for m, f in sk.items():
        expected = [
            f(y[i], preds["b"][i]) - f(y[i], preds["a"][i])
            for i in resampled_indices(n, B, 3, None)
        ]
        np.testing.assert_allclose(
            cmp.replicates["b"][m] - cmp.replicates["a"][m], expected, atol=1e-10
        )

    K = 3
    yk = rng.integers(0, K, n)
    logits = {k: rng.normal(size=(n, K)) for k in ("a", "b")}
    for k in logits:
        logits[k][np.arange(n), yk] += 1.0
    proba = {k: np.exp(v) / np.exp(v).sum(1, keepdims=True) for k, v in logits.items()}
    cmp = compare_predictions(
        yk,
        proba,
        metrics=["accuracy", "f1_macro", "roc_auc_ovr_macro"],
        n_resamples=B,
        random_state=4,
    )
    sk = {
        "accuracy": lambda t, p: accuracy_score(t, p.argmax(1)),
        "f1_macro": lambda t, p: f1_score(
            t, p.argmax(1), average="macro", labels=range(K), zero_division=np.nan
        ),
        "roc_auc_ovr_macro": lambda t, p: roc_auc_score(t, p, multi_class="ovr", labels=range(K)),
    }
    for m, f in sk.items():
        expected = [
            f(yk[i], proba["b"][i]) - f(yk[i], proba["a"][i])
            for i in resampled_indices(n, B, 4, yk)
        ]
        np.testing.assert_allclose(
            cmp.replicates["b"][m] - cmp.replicates["a"][m], expected, atol=1e-10, err_msg=m
        )


def test_same_seed_same_numbers_any_thread_count():
    y, scores = binary_models(n=200, k=3, decimals=2)
    one = compare_predictions(y, scores, n_resamples=300, random_state=11, n_jobs=1)
    many = compare_predictions(y, scores, n_resamples=300, random_state=11, n_jobs=4)
    pd.testing.assert_frame_equal(one.frame(), many.frame())
    other = compare_predictions(y, scores, n_resamples=300, random_state=12)
    assert not one.frame()["ci_low"].equals(other.frame()["ci_low"])


def test_bca_and_weighted_and_bootstrap_only():
    y, scores = binary_models(n=150, decimals=3)
    bca = compare_predictions(
        y, scores, n_resamples=200, random_state=0, bootstrap_method="bca", metrics=["f1", "brier"]
    )
    assert all("BCa" in m for m in bca.frame()["ci_method"])
    boot = compare_predictions(y, scores, tests="bootstrap", n_resamples=200, random_state=0)
    assert set(boot.frame()["test"]) == {"stratified paired bootstrap"}
    w = np.random.default_rng(0).uniform(0.5, 2, y.size)
    weighted = compare_predictions(y, scores, sample_weight=w, n_resamples=200, random_state=0)
    assert weighted.weighted
    assert set(weighted.frame()["test"]) == {"stratified paired bootstrap"}
    row = weighted.frame(metric="roc_auc").iloc[0]
    ref = roc_auc_score(y, scores["b"], sample_weight=w) - roc_auc_score(
        y, scores["a"], sample_weight=w
    )
    assert row["difference"] == pytest.approx(ref)


# --------------------------------------------------------------------------------------
# Results: frame, verdicts, JSON, plots; models and predictions
# --------------------------------------------------------------------------------------


def clear_difference(n=400, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    base = rng.normal(size=n)
    good = 1 / (1 + np.exp(-(2.5 * y + base - 1.25)))
    weak = 1 / (1 + np.exp(-(0.6 * y + base + rng.normal(size=n) - 0.3)))
    return y, {"weak": weak, "good": good}


def test_verdicts_name_the_better_model_both_directions():
    y, scores = clear_difference()
    cmp = compare_predictions(y, scores, random_state=0, n_resamples=300)
    frame = cmp.frame()
    assert list(frame.columns) == FRAME_COLUMNS
    auc = frame[frame.metric == "roc_auc"].iloc[0]
    assert auc["verdict"] == "good better" and auc["difference"] > 0
    brier = frame[frame.metric == "brier"].iloc[0]
    assert brier["verdict"] == "good better" and brier["difference"] < 0  # lower is better
    sentences = cmp.verdicts(significant_only=True)
    assert sentences[0].startswith("good better than weak on roc_auc: +")
    assert any(s.startswith("good better than weak on brier: -") for s in sentences)
    # Reversed order: the difference flips, the verdict does not.
    rev = compare_predictions(
        y, {"good": scores["good"], "weak": scores["weak"]}, random_state=0, n_resamples=300
    )
    r = rev.frame(metric="roc_auc").iloc[0]
    assert r["difference"] == pytest.approx(-auc["difference"])
    assert r["verdict"] == "good better"
    assert rev.verdicts(significant_only=True)[0] == sentences[0]


def test_no_significant_difference_sentence():
    y, scores = binary_models(n=60, decimals=2)
    # b moves a few scores across the threshold: no significant difference in accuracy.
    b = np.round(scores["a"] + 0.02, 2)
    cmp = compare_predictions(
        y, {"a": scores["a"], "b": b}, metrics=["accuracy"], n_resamples=50, random_state=0
    )
    row = cmp.rows[0]
    assert row.better is None and row.verdict == "no significant difference"
    text = cmp.verdicts()[0]
    assert text.startswith("no significant difference between a and b on accuracy")
    assert "(b - a)" in text and "Holm p" in text
    assert cmp.verdicts(significant_only=True) == []


def test_to_dict_is_json_and_plots_are_figures(tmp_path):
    y, scores = binary_models(n=100, k=3, decimals=2)
    cmp = compare_predictions(y, scores, n_resamples=50, random_state=0, baseline="a")
    doc = cmp.to_dict()
    json.dumps(doc, allow_nan=False)
    assert set(doc) == {
        "task",
        "n_rows",
        "weighted",
        "classes",
        "positive_label",
        "thresholds",
        "models",
        "settings",
        "model_metrics",
        "comparisons",
        "verdicts",
    }
    assert doc["models"] == ["a", "b", "c"] and doc["settings"]["baseline"] == "a"
    assert len(doc["comparisons"]) == 2 * len(cmp.metrics)
    assert isinstance(cmp.plot(), Figure)
    assert isinstance(cmp.plot(kind="differences"), Figure)
    with pytest.raises(InvalidInputError, match="kind"):
        cmp.plot(kind="roc")
    written = afterfit.comparison.write_comparison(cmp, tmp_path)
    assert set(written) == {
        "comparison.json",
        "tables/comparison.csv",
        "tables/comparison_models.csv",
        "figures/comparison.png",
        "figures/comparison_differences.png",
    }
    table = pd.read_csv(tmp_path / "tables" / "comparison.csv")
    assert list(table.columns) == FRAME_COLUMNS
    assert cmp.pair("b", "a").shape[0] == len(cmp.metrics)


def test_compare_models_matches_compare_predictions():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(300, 4)), columns=list("wxyz"))
    y = (X["w"] + 0.5 * X["x"] + rng.normal(size=300) > 0).astype(int)
    train, test = slice(0, 150), slice(150, 300)
    a = LogisticRegression().fit(X[train], y[train])
    b = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X[train], y[train])
    cmp = afterfit.compare_models(
        {"logit": a, "tree": b}, X[test], y[test], random_state=0, n_resamples=100
    )
    ref = afterfit.compare_predictions(
        y[test],
        {"logit": a.predict_proba(X[test])[:, 1], "tree": b.predict_proba(X[test])[:, 1]},
        random_state=0,
        n_resamples=100,
    )
    pd.testing.assert_frame_equal(cmp.frame(), ref.frame())
    listed = afterfit.compare_models([a, b], X[test], y[test], random_state=0, n_resamples=100)
    assert listed.models == ("model_1", "model_2")


def test_multiclass_class_order_is_aligned():
    rng = np.random.default_rng(2)
    n, labels = 150, np.array(["x", "y", "z"])
    y = labels[rng.integers(0, 3, n)]
    pa = rng.dirichlet(np.ones(3), n)
    pb = rng.dirichlet(np.ones(3), n)
    a = Predictions.from_arrays(y, pa, classes=labels)
    b = Predictions.from_arrays(y, pb, classes=labels)
    b_perm = Predictions.from_arrays(y, pb[:, [2, 0, 1]], classes=labels[[2, 0, 1]])
    same = compare_predictions({"a": a, "b": b}, n_resamples=50, random_state=0)
    perm = compare_predictions({"a": a, "b": b_perm}, n_resamples=50, random_state=0)
    pd.testing.assert_frame_equal(same.frame(), perm.frame())
    assert same.classes == ["x", "y", "z"]


def test_regression_models():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ [1.0, 2.0, 0.0] + rng.normal(size=200)
    a = LinearRegression().fit(X[:100], y[:100])
    b = LinearRegression().fit(X[:100, :1], y[:100])

    cmp = compare_predictions(
        y[100:],
        {"full": a.predict(X[100:]), "one": b.predict(X[100:, :1])},
        random_state=0,
        n_resamples=200,
    )
    frame = cmp.frame().set_index("metric")
    assert frame.loc["mse", "verdict"] == "full better"
    assert frame.loc["r2", "verdict"] == "full better"
    assert cmp.task == "regression" and cmp.thresholds is None


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------


def test_models_with_different_class_sets_are_refused():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = (X[:, 0] > 0).astype(int)
    a = LogisticRegression().fit(X, y)
    b = LogisticRegression().fit(X, y + 1)  # classes 1, 2
    with pytest.raises(InvalidInputError, match="different classes"):
        compare_models({"a": a, "b": b}, X, y)
    c = LogisticRegression().fit(X, np.where(y == 1, "yes", "no"))
    with pytest.raises(InvalidInputError, match="different classes"):
        compare_models({"a": a, "c": c}, X, y)
    r = LinearRegression().fit(X, y)
    with pytest.raises(InvalidInputError, match="different tasks"):
        compare_models({"a": a, "r": r}, X, y)


def test_predictions_with_different_class_sets_are_refused():
    y = np.array([0, 1, 2, 1, 0, 2])
    p = np.full((6, 3), 1 / 3)
    a = Predictions.from_arrays(y, p, classes=[0, 1, 2])
    b = Predictions.from_arrays(y, p, classes=[0, 1, 2, 3][:3][::-1])
    c = Predictions.from_arrays(np.array([0, 1, 3, 1, 0, 3]), p, classes=[0, 1, 3])
    compare_predictions({"a": a, "b": b}, n_resamples=10)  # same set, other order: fine
    with pytest.raises(InvalidInputError, match="different classes"):
        compare_predictions({"a": a, "c": c}, n_resamples=10)


def test_different_lengths_are_refused():
    y, scores = binary_models(n=50)
    with pytest.raises(InvalidInputError, match="'b' has 49 scores but y_true has 50 rows"):
        compare_predictions(y, {"a": scores["a"], "b": scores["b"][:-1]})
    a = Predictions.from_arrays(y, scores["a"])
    b = Predictions.from_arrays(y[:-1], scores["b"][:-1])
    with pytest.raises(InvalidInputError, match="predictions for 49 rows"):
        compare_predictions({"a": a, "b": b})
    shuffled = Predictions.from_arrays(y[::-1], scores["b"])
    if not np.array_equal(y, y[::-1]):
        with pytest.raises(InvalidInputError, match="other true values"):
            compare_predictions({"a": a, "b": shuffled})


def test_one_model_only_is_refused():
    y, scores = binary_models(n=50)
    with pytest.raises(InvalidInputError, match="at least two models; got one \\('a'\\)"):
        compare_predictions(y, {"a": scores["a"]})
    with pytest.raises(InvalidInputError, match="at least two models; got none"):
        compare_predictions(y, {})
    with pytest.raises(InvalidInputError, match="at least two models"):
        compare_models([LogisticRegression()], np.zeros((3, 1)), [0, 1, 0])
    with pytest.raises(InvalidInputError, match="mapping"):
        compare_predictions(y, [scores["a"], scores["b"]])


def test_unknown_model_name_is_refused():
    y, scores = binary_models(n=80)
    with pytest.raises(InvalidInputError, match="baseline 'z' is not one of the models"):
        compare_predictions(y, scores, baseline="z")
    with pytest.raises(InvalidInputError, match="threshold names unknown model"):
        compare_predictions(y, scores, threshold={"z": 0.3})
    cmp = compare_predictions(y, scores, n_resamples=20)
    with pytest.raises(InvalidInputError, match="'z' is not one of the compared models"):
        cmp.pair("a", "z")
    with pytest.raises(InvalidInputError, match="'z' is not one of the compared models"):
        cmp.frame(model="z")
    with pytest.raises(InvalidInputError, match="metric 'auc' was not compared"):
        cmp.frame(metric="auc")


def test_bad_options_and_metrics_are_refused():
    y, scores = binary_models(n=80)
    with pytest.raises(InvalidInputError, match="cannot compare metric\\(s\\) 'mae'"):
        compare_predictions(y, scores, metrics=["mae"])
    decision = {k: v - 0.5 for k, v in scores.items()}
    with pytest.raises(InvalidInputError, match="'log_loss'"):
        compare_predictions(y, decision, metrics=["log_loss"], scores_are_probabilities=False)
    default = compare_predictions(y, decision, scores_are_probabilities=False, n_resamples=10)
    assert "log_loss" not in default.metrics
    for bad in (
        {"tests": "delong"},
        {"family": "pairs"},
        {"alpha": 1.5},
        {"n_resamples": 1},
        {"bootstrap_method": "basic"},
    ):
        with pytest.raises(InvalidInputError):
            compare_predictions(y, scores, **bad)
    with pytest.raises(InvalidInputError, match=r"model 'b'.*NaN"):
        compare_predictions(y, {"a": scores["a"], "b": np.full(80, np.nan)})


def test_per_model_thresholds():
    y, scores = binary_models(n=100, decimals=3)
    cmp = compare_predictions(
        y, scores, threshold={"a": 0.3, "b": 0.7}, metrics=["accuracy"], n_resamples=20
    )
    assert cmp.thresholds == {"a": 0.3, "b": 0.7}
    assert cmp.rows[0].value_a == pytest.approx(accuracy_score(y, scores["a"] > 0.3))
    assert cmp.rows[0].value_b == pytest.approx(accuracy_score(y, scores["b"] > 0.7))


# --------------------------------------------------------------------------------------
# Simulation: size and power of the DeLong test
# --------------------------------------------------------------------------------------


def simulate(rng, n, n_pos, mu_a, mu_b, noise=1.0):
    """Two models sharing a latent score (correlated) with their own noise; AUC of each
    is Phi(mu / sqrt(2 (1 + noise^2)))."""
    y = np.zeros(n, dtype=int)
    y[:n_pos] = 1
    shared = rng.normal(size=n)
    a = mu_a * y + shared + noise * rng.normal(size=n)
    b = mu_b * y + shared + noise * rng.normal(size=n)
    return y, {"a": a, "b": b}


@pytest.mark.slow
def test_delong_size_and_power_by_simulation():
    rng = np.random.default_rng(2024)
    reps, alpha = 300, 0.05

    def rejections(mu_b):
        hits = 0
        for _ in range(reps):
            y, scores = simulate(rng, 300, 120, 1.5, mu_b)
            ranked = [RankedScores.from_arrays(y, s, keep_order=True) for s in scores.values()]
            hits += delong_test(ranked)[(0, 1)].p_value < alpha
        return hits / reps

    size = rejections(1.5)
    se = math.sqrt(alpha * (1 - alpha) / reps)
    print(f"DeLong false positive rate {size:.3f} (binomial SE {se:.3f}, R = {reps})")
    assert abs(size - alpha) < 3 * se + 0.005, f"false positive rate {size:.3f}"
    # True AUCs Phi(0.75) = 0.773 and Phi(1.15) = 0.875 (difference 0.10).
    assert ndtr(2.3 / 2) - ndtr(1.5 / 2) > 0.1
    power = rejections(2.3)
    print(f"DeLong power {power:.3f} (SE {math.sqrt(power * (1 - power) / reps):.3f})")
    assert power > 0.8, f"power {power:.3f}"


def test_one_class_and_model_specific_errors_name_the_problem():
    y = np.zeros(20, dtype=int)
    s = np.linspace(0.1, 0.9, 20)
    with pytest.raises(afterfit.MetricError, match="only one class"):
        compare_predictions(y, {"a": s, "b": s[::-1].copy()}, classes=[0, 1], task="binary")
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(40, 2)), columns=["u", "v"])
    yy = (X["u"] > 0).astype(int)
    a = LogisticRegression().fit(X, yy)
    b = LogisticRegression().fit(X[["u"]], yy)  # expects only column u
    with pytest.raises(afterfit.SchemaError, match=r"^model 'b': "):
        compare_models({"a": a, "b": b}, X, yy)
