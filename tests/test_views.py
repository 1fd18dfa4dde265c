"""Views from the one sort (issue 15, item 5): gain, lift, KS, deciles, decision and cost
curves, against hand-computed cases and direct formulas."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from scipy import stats

from afterfit.errors import AfterfitWarning, InvalidInputError
from afterfit.evaluation import evaluate_predictions
from afterfit.metrics import views
from afterfit.metrics.binary import BinarySuite
from afterfit.metrics.kernel import RankedScores

# Ten rows, distinct scores, already in descending order: 4 positives.
Y10 = np.array([1, 1, 0, 1, 0, 0, 0, 1, 0, 0])
S10 = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])


def _counts(y, s, weight=None):
    ranked = RankedScores.from_arrays(np.asarray(y), np.asarray(s, dtype=float), weight)
    return ranked, ranked.counts_at_ends()


def _data(n=400, seed=0, signal=0.35):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(signal * y + rng.uniform(0, 1 - signal, n), 0, 1)
    return y, p


# --------------------------------------------------------------------------------------
# Hand-computed
# --------------------------------------------------------------------------------------


def test_gain_lift_ks_and_deciles_by_hand():
    ranked, c = _counts(Y10, S10)
    grid = np.arange(11) / 10
    gain = views.gain_on_grid(c, grid)[0]
    # Top k rows hold 1, 2, 2, 3, 3, 3, 3, 4, 4, 4 of the 4 positives.
    np.testing.assert_allclose(gain, [0, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4] / np.float64(4))
    lift = views.lift_from_gain(gain, grid)
    assert math.isnan(lift[0])
    np.testing.assert_allclose(lift[1:3], [2.5, 2.5])  # (1/4) / (1/10), (2/4) / (2/10)
    # TPR - FPR through each row: 1/4, 2/4, 2/4-1/6, 3/4-1/6 (= 0.5833), ...: max 7/12 at row 4.
    ks, where = (a[0] for a in views.ks_statistic(c))
    assert ks == pytest.approx(3 / 4 - 1 / 6)
    assert ranked.thresholds[where] == 0.7
    table = views.decile_table(ranked, c)
    np.testing.assert_array_equal(table["rows"], np.ones(10))
    np.testing.assert_array_equal(table["positives"], Y10)
    np.testing.assert_allclose(table["lift"], Y10 / 0.4)
    np.testing.assert_allclose(table["cumulative_capture"], np.cumsum(Y10) / 4)
    np.testing.assert_allclose(table["max_score"], S10)
    np.testing.assert_allclose(table["min_score"], S10)


def test_decision_curve_by_hand():
    ranked, c = _counts(Y10, S10)
    grid = np.array([0.25, 0.5, 0.75])
    groups = views.net_benefit_groups(ranked, grid)
    nb = views.net_benefit(c, groups, grid)[0]
    # pt 0.25: 8 rows score above (0.3 ... 0.95): TP 4, FP 4; odds 1/3.
    # pt 0.5: 5 rows above 0.5 (0.6 ... 0.95): TP 3, FP 2; odds 1.
    # pt 0.75: 3 rows above (0.8, 0.9, 0.95): TP 2, FP 1; odds 3.
    expected = [4 / 10 - 4 / 10 / 3, 3 / 10 - 2 / 10, 2 / 10 - 1 / 10 * 3]
    np.testing.assert_allclose(nb, expected)
    np.testing.assert_allclose(views.treat_all(c, grid)[0], 0.4 - 0.6 * grid / (1 - grid))


def test_cost_curve_by_hand():
    # Two rows, perfectly ranked: the best classifier has no cost at any PC.
    _, c = _counts([1, 0], [0.9, 0.1])
    cost, _, _ = views.cost_curve(c.pos[0], c.total[0])
    np.testing.assert_allclose(cost, 0.0, atol=1e-15)
    # Reversed: best of "no one" (cost PC) and "everyone" (cost 1 - PC).
    _, c = _counts([0, 1], [0.9, 0.1])
    cost, _, _ = views.cost_curve(c.pos[0], c.total[0])
    np.testing.assert_allclose(cost, np.minimum(views.COST_GRID, 1 - views.COST_GRID))


def test_ties_give_the_diagonal_gain_and_stay_in_one_decile():
    y = np.array([1, 0, 1, 0, 0, 1, 0, 0])
    ranked, c = _counts(y, np.full(8, 0.5))
    gain = views.gain_on_grid(c)[0]
    np.testing.assert_allclose(gain, views.GAIN_GRID)  # one tie group: random targeting
    ks, _ = views.ks_statistic(c)
    assert ks[0] == 0.0
    table = views.decile_table(ranked, c)
    assert table["rows"].sum() == 8 and np.count_nonzero(table["rows"]) == 1
    # Two tie groups of 5 and 5 rows: parts end at group ends only.
    ranked, c = _counts([1, 1, 0, 1, 0, 0, 0, 1, 0, 0], [0.9] * 5 + [0.1] * 5)
    table = views.decile_table(ranked, c)
    assert set(table["rows"]) <= {0.0, 5.0} and table["rows"].sum() == 10


# --------------------------------------------------------------------------------------
# Against direct formulas on random data
# --------------------------------------------------------------------------------------


def test_gain_matches_the_sorted_cumulative_sum():
    y, p = _data(n=100, seed=1)
    _, c = _counts(y, p)
    grid = np.arange(101) / 100
    gain = views.gain_on_grid(c, grid)[0]
    order = np.argsort(-p, kind="stable")
    direct = np.concatenate([[0], np.cumsum(y[order])]) / y.sum()
    np.testing.assert_allclose(gain, direct, atol=1e-12)


def test_ks_matches_scipy_two_sample_statistic():
    y, p = _data(n=600, seed=2)
    _, c = _counts(y, p)
    ks, _ = views.ks_statistic(c)
    ref = stats.ks_2samp(p[y == 1], p[y == 0]).statistic
    assert ks[0] == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("seed", [3, 4])
def test_net_benefit_matches_the_direct_formula(seed):
    y, p = _data(n=300, seed=seed)
    p = np.round(p, 2)  # ties, and scores on the grid itself
    ranked, c = _counts(y, p)
    groups = views.net_benefit_groups(ranked)
    nb = views.net_benefit(c, groups)[0]
    n = y.size
    for pt, value in zip(views.NET_BENEFIT_GRID, nb, strict=True):
        treated = p > pt
        tp = np.sum(treated & (y == 1))
        fp = np.sum(treated & (y == 0))
        assert value == pytest.approx(tp / n - fp / n * pt / (1 - pt), abs=1e-12)


def test_cost_curve_is_the_minimum_over_every_threshold():
    y, p = _data(n=200, seed=5)
    _, c = _counts(y, p)
    cost, _, _ = views.cost_curve(c.pos[0], c.total[0])
    P, N = y.sum(), (1 - y).sum()
    cuts = np.concatenate([[np.inf], np.unique(p)[::-1], [-np.inf]])
    best = np.full(views.COST_GRID.size, np.inf)
    for t in cuts:
        pred = p >= t
        tpr, fpr = np.sum(pred & (y == 1)) / P, np.sum(pred & (y == 0)) / N
        best = np.minimum(best, (1 - tpr) * views.COST_GRID + fpr * (1 - views.COST_GRID))
    np.testing.assert_allclose(cost, best, atol=1e-12)


def test_weights_act_as_repeated_rows():
    y, p = _data(n=80, seed=6)
    w = np.random.default_rng(6).integers(1, 4, y.size)
    ranked_w, cw = _counts(y, p, w.astype(float))
    ranked_r, cr = _counts(np.repeat(y, w), np.repeat(p, w))
    np.testing.assert_allclose(views.gain_on_grid(cw), views.gain_on_grid(cr), atol=1e-12)
    assert views.ks_statistic(cw)[0][0] == pytest.approx(views.ks_statistic(cr)[0][0])
    g_w = views.net_benefit_groups(ranked_w)
    g_r = views.net_benefit_groups(ranked_r)
    np.testing.assert_allclose(views.net_benefit(cw, g_w), views.net_benefit(cr, g_r), atol=1e-12)


# --------------------------------------------------------------------------------------
# In evaluate's result: bands, KS interval, results.json
# --------------------------------------------------------------------------------------


def test_evaluate_carries_the_views_with_bands():
    y, p = _data(n=400, seed=7)
    ev = evaluate_predictions(y, p, n_resamples=200, random_state=0)
    v = ev.views
    _, c = _counts(y, p)
    assert v.ks.value == pytest.approx(views.ks_statistic(c)[0][0])
    assert v.ks.ci_low <= v.ks.value <= v.ks.ci_high and "bootstrap" in v.ks.method
    assert 0 < v.ks_share < 1 and v.ks_score in p
    band = v.gain_band
    assert band is not None and np.all(band.low <= v.gain + 1e-12)
    assert np.all(v.gain <= band.high + 1e-12)
    assert v.net_benefit_band is not None and v.net_benefit is not None
    inside = (v.net_benefit_band.low <= v.net_benefit + 1e-12) & (
        v.net_benefit <= v.net_benefit_band.high + 1e-12
    )
    assert inside.mean() > 0.9
    low, _ = v.lift_band()
    np.testing.assert_allclose(low[1:], band.low[1:] / v.gain_grid[1:])
    decision = v.frame("decision")
    assert list(decision.columns[:4]) == ["threshold_probability", "net_benefit", "treat_all",
                                          "treat_none"]  # fmt: skip
    assert (decision["treat_none"] == 0).all()
    assert v.frame("deciles")["rows"].sum() == y.size
    doc = ev.to_dict()["views"]
    json.dumps(doc, allow_nan=False)
    assert doc["ks"]["metric"] == "ks" and len(doc["deciles"]["part"]) == 10
    assert doc["decision_curve"]["treat_none"] == 0.0


def test_views_without_intervals_and_for_decision_scores():
    y, p = _data(n=200, seed=8)
    ev = evaluate_predictions(y, p, ci="none")
    assert ev.views.gain_band is None and ev.views.ks.method == "none"
    assert math.isnan(ev.views.ks.ci_low)
    scores = (p - 0.5) * 4  # decision scores: no decision curve (no probabilities)
    ev = evaluate_predictions(y, scores, scores_are_probabilities=False, ci="none")
    assert ev.views.net_benefit is None and ev.to_dict()["views"]["decision_curve"] is None
    assert ev.views.frame("decision").empty
    with pytest.raises(InvalidInputError, match="view must be"):
        ev.views.frame("roc")


def test_views_only_for_binary():
    rng = np.random.default_rng(9)
    y = rng.normal(size=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AfterfitWarning)
        ev = evaluate_predictions(y, y + rng.normal(size=50), task="regression", ci="none")
    assert ev.views is None and ev.to_dict()["views"] is None


def test_bootstrap_bands_of_views_come_from_the_suite():
    y, p = _data(n=120, seed=10)
    suite = BinarySuite(y, p, threshold=0.5, probabilities=True)
    out = suite.compute(bands=True)
    assert out[("curve:gain", None)].shape == (1, views.GAIN_GRID.size)
    assert out[("curve:net_benefit", None)].shape == (1, views.NET_BENEFIT_GRID.size)
    assert out[("ks", None)].shape == (1,)
    assert ("ks", None) not in suite.compute()  # the metric table is unchanged
