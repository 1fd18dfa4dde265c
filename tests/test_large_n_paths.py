"""Issue 16: the fast paths of large data equal (or, for resampling, agree with) the slow ones.

* the bootstrap of grouped counts over class x score-bin cells (``suite.cells``) against
  the row bootstrap of every row, and its cells' exactness at the full data;
* the calibration suite's point sums without the sparse matrix;
* ``threshold_metrics`` against the rows of ``evaluate_predictions``;
* the vectorised ROC hull against the monotone chain;
* a presorted ``RankedScores`` against a sorted one.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from afterfit.calibration import report as calibration_module
from afterfit.calibration._binning import BinnedSuite, Forecast, bin_edges
from afterfit.evaluation import evaluate_predictions
from afterfit.evaluation.evaluate import threshold_metrics
from afterfit.metrics import views
from afterfit.metrics.binary import BinarySuite
from afterfit.metrics.kernel import RankedScores
from afterfit.metrics.resampling import (
    LARGE_N,
    bootstrap,
    bootstrap_interval,
    resample_cell_counts,
)
from afterfit.predictions import Predictions

THRESHOLD_KEYS = ["accuracy", "balanced_accuracy", "precision", "recall", "specificity",
                  "f1", "f2", "mcc", "cohen_kappa"]  # fmt: skip


def scores(n: int, seed: int = 0, pi: float = 0.3, decimals: int | None = None):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < pi).astype(np.int64)
    s = expit(rng.normal(size=n) + 1.2 * y - 0.8)
    if decimals is not None:
        s = np.round(s, decimals)
    return y, s


def test_cells_keep_threshold_calibration_and_decision_curve_exact():
    """Merged into 64 bins, the cells still give the full data's confusion matrix,
    calibration bins and net benefit exactly (the bins are cut at those thresholds)."""
    y, s = scores(5_000, seed=1)
    suite = BinarySuite(y, s, threshold=0.37, probabilities=True)
    cell, by_cell, bins = suite.cells(64)
    assert bins is not None and bins < 200  # merged: far fewer bins than distinct scores
    counts = np.bincount(cell, minlength=by_cell.n).astype(float)
    assert counts.sum() == y.size
    full = suite.compute(bands=True)
    merged = by_cell.compute(counts[None], bands=True)
    for name in THRESHOLD_KEYS:
        np.testing.assert_allclose(merged[(name, None)], full[(name, None)], rtol=1e-12)
    for key in [("curve:calibration", None), ("curve:net_benefit", None)]:
        np.testing.assert_allclose(merged[key], full[key], rtol=1e-12, atol=1e-15)
    # Mean losses per cell: the cells' log loss and Brier score are the rows' exactly.
    for name in ("log_loss", "brier"):
        np.testing.assert_allclose(merged[(name, None)], full[(name, None)], rtol=1e-12)
    # Ranking metrics see bin-mates as ties: close, not equal (the bootstrap recentres).
    assert merged[("roc_auc", None)][0] != full[("roc_auc", None)][0]
    assert abs(merged[("roc_auc", None)][0] - full[("roc_auc", None)][0]) < 5e-3


def test_cells_without_merging_equal_every_metric():
    """Fewer distinct scores than bins: every tie group is its own bin and the cells give
    every metric and curve of the rows."""
    y, s = scores(3_000, seed=2, decimals=2)
    suite = BinarySuite(y, s, threshold=0.5, probabilities=True)
    cell, by_cell, bins = suite.cells(4096)
    assert bins is None
    counts = np.bincount(cell, minlength=by_cell.n).astype(float)
    full = suite.compute(bands=True)
    merged = by_cell.compute(counts[None], bands=True)
    for key, value in full.items():
        np.testing.assert_allclose(merged[key], value, rtol=1e-10, atol=1e-12, err_msg=str(key))


def test_resampled_cell_counts_keep_each_class_and_have_multinomial_moments():
    counts = np.array([5.0, 0.0, 3.0, 12.0, 7.0, 1.0])
    strata = np.array([1, 0, 1, 0, 1, 0])
    W = resample_cell_counts(counts, 4000, np.random.default_rng(0), strata)
    np.testing.assert_array_equal(W[:, strata == 1].sum(axis=1), 15)
    np.testing.assert_array_equal(W[:, strata == 0].sum(axis=1), 13)
    assert (W[:, 1] == 0).all()  # an empty cell stays empty
    # Multinomial(n_k, counts / n_k) per class: mean counts, variance n p (1 - p).
    n_k = np.where(strata == 1, 15.0, 13.0)
    p = counts / n_k
    np.testing.assert_allclose(W.mean(axis=0), counts, atol=0.15)
    np.testing.assert_allclose(W.var(axis=0), n_k * p * (1 - p), rtol=0.08, atol=0.02)
    plain = resample_cell_counts(counts, 10, np.random.default_rng(0), None)
    np.testing.assert_array_equal(plain.sum(axis=1), counts.sum())


def test_cell_bootstrap_agrees_with_the_row_bootstrap():
    """n = 20,000 above max_rows = 5,000: intervals from the cells agree with the
    bootstrap of every row within Monte Carlo error, and the estimate is every row's."""
    y, s = scores(20_000, seed=3)
    suite = BinarySuite(y, s, threshold=0.5, probabilities=True)
    rows = bootstrap(suite, n_resamples=400, random_state=1, max_rows=None, bands=True)
    cells = bootstrap(suite, n_resamples=400, random_state=1, max_rows=5_000, bands=True)
    assert cells.subsample is None and cells.cells and cells.bins is not None
    for name in ["roc_auc", "average_precision", "log_loss", "brier", "f1", "mcc", "ks"]:
        key = (name, None)
        assert cells.estimate[key] == rows.estimate[key]
        lo, hi, _ = bootstrap_interval(rows, key, confidence=0.95, method="percentile")
        lo_c, hi_c, label = bootstrap_interval(cells, key, confidence=0.95, method="percentile")
        width = hi - lo
        assert abs(lo_c - lo) < 0.15 * width and abs(hi_c - hi) < 0.15 * width, (name, label)
        assert label.endswith(" score bins")
        ratio = np.std(cells.replicates[key]) / np.std(rows.replicates[key])
        assert 0.85 < ratio < 1.15, (name, ratio)
    # Bands: the pointwise spread of the ROC curve agrees too.
    sd_rows = np.nanstd(rows.replicates[("curve:roc", None)][:, 10:90], axis=0)
    sd_cells = np.nanstd(cells.replicates[("curve:roc", None)][:, 10:90], axis=0)
    assert 0.8 < np.median(sd_cells / sd_rows) < 1.2
    # BCa from the cells' jackknife: defined and close to the percentile interval.
    lo, hi, method = bootstrap_interval(cells, ("roc_auc", None), confidence=0.95, method="bca")
    assert method.startswith("stratified bootstrap BCa, grouped counts in ")
    assert lo < cells.estimate[("roc_auc", None)] < hi


def test_cell_bootstrap_is_seeded_and_thread_independent():
    y, s = scores(12_000, seed=4)
    suite = BinarySuite(y, s, threshold=0.5, probabilities=True)
    a, b, c = (bootstrap(suite, n_resamples=300, random_state=r, max_rows=2_000, n_jobs=j)
               for r, j in ((7, 1), (7, 2), (8, 1)))  # fmt: skip
    for key in a.replicates:
        np.testing.assert_array_equal(a.replicates[key], b.replicates[key])
    assert not np.array_equal(a.replicates[("f1", None)], c.replicates[("f1", None)])


def test_weighted_rows_and_by_cells_false_keep_m_out_of_n():
    y, s = scores(6_000, seed=5)
    w = np.random.default_rng(0).uniform(0.5, 2.0, y.size)
    weighted = BinarySuite(y, s, w, threshold=0.5, probabilities=True)
    assert weighted.cells(256) is None
    draws = bootstrap(weighted, n_resamples=50, random_state=0, max_rows=2_000)
    assert draws.subsample == 2_000 and not draws.cells
    plain = BinarySuite(y, s, threshold=0.5, probabilities=True)
    draws = bootstrap(plain, n_resamples=50, random_state=0, max_rows=2_000, by_cells=False)
    assert draws.subsample == 2_000 and not draws.cells


def calibration_suite(p, o, weight=None, cells_by="event"):
    def derive(sums, means, bands):
        out = {}
        for strategy in ("uniform", "quantile"):
            b = sums[("event", strategy)]
            out[(f"ece_{strategy}", None)] = b.ece()
            out[(f"curve_{strategy}", None)] = b.fraction()
        for comp, v in sums[("event", "quantile")].decomposition().items():
            out[(comp, None)] = v
        out[("brier", None)] = means["brier"]
        return out

    edges = {st: bin_edges(p, 10, st, weight) for st in ("uniform", "quantile")}
    event = Forecast("event", p, o.astype(float), edges)
    return BinnedSuite([event], moments={("event", "quantile")}, rows={"brier": (p - o) ** 2},
                       derive=derive, strata=o, weight=weight, cells_by=cells_by)  # fmt: skip


def test_calibration_point_sums_without_the_matrix_equal_the_matrix():
    y, s = scores(4_000, seed=6)
    w = np.random.default_rng(1).exponential(size=y.size)
    for weight in (None, w):
        suite = calibration_suite(s, y, weight)
        point = suite.compute()
        W = np.ones((1, y.size)) if weight is None else weight[None, :]
        via_matrix = suite.compute(W)  # builds the sparse matrix
        for key, value in point.items():
            np.testing.assert_allclose(value, via_matrix[key], rtol=1e-12, err_msg=str(key))


def test_calibration_cells_are_exact_at_the_data_and_agree_when_resampled():
    y, s = scores(20_000, seed=7)
    suite = calibration_suite(s, y)
    cell, by_cell, bins = suite.cells(128)
    assert bins is not None and by_cell.n <= 2 * bins
    counts = np.bincount(cell, minlength=by_cell.n).astype(float)
    point = suite.compute()
    merged = by_cell.compute(counts[None])
    for key, value in point.items():  # each cell lies in one bin of both binnings
        np.testing.assert_allclose(merged[key], value, rtol=1e-9, atol=1e-13, err_msg=str(key))
    rows = bootstrap(suite, n_resamples=300, random_state=2, max_rows=None, bands=True)
    cells = bootstrap(suite, n_resamples=300, random_state=2, max_rows=5_000, bands=True)
    assert cells.cells
    for name in ("ece_uniform", "brier", "reliability", "resolution"):
        ratio = np.std(cells.replicates[(name, None)]) / np.std(rows.replicates[(name, None)])
        assert 0.85 < ratio < 1.15, (name, ratio)
    assert calibration_suite(s, y, cells_by=None).cells(128) is None
    assert calibration_suite(s, y, np.ones(y.size)).cells(128) is None


def test_calibration_report_above_large_n_says_grouped_counts():
    y, s = scores(LARGE_N + 2_000, seed=8)
    # The step's function (being renamed evaluate_calibration from calibration_report).
    run = getattr(calibration_module, "evaluate_calibration", None)
    run = run or getattr(calibration_module, "calibration_report", None)
    report = run(Predictions.from_arrays(y, s), n_resamples=60, random_state=0)
    row = report.metrics["brier"]
    assert "grouped counts in " in row.method and row.ci_low < row.value < row.ci_high


def test_threshold_metrics_equal_the_evaluation_rows():
    """Small data: the same values, intervals and methods as evaluate_predictions (the
    same row resamples), at another threshold than 0.5 too."""
    y, s = scores(3_000, seed=9)
    preds = Predictions.from_arrays(y, s, threshold=0.42)
    ev = evaluate_predictions(preds, n_resamples=200, random_state=3)
    table = threshold_metrics(preds, n_resamples=200, random_state=3)
    assert [r.metric for r in table.rows] == THRESHOLD_KEYS
    for row in table.rows:
        want = ev.metrics[row.metric]
        assert (row.value, row.ci_low, row.ci_high, row.method) == (
            want.value, want.ci_low, want.ci_high, want.method,
        )  # fmt: skip


def test_threshold_metrics_on_large_data_resample_only_the_threshold_cells():
    """Above LARGE_N: the same values and Wilson intervals as evaluate_predictions; the
    bootstrap ones come from the cells the threshold defines (other draws of the same
    distribution), so they agree within Monte Carlo error."""
    y, s = scores(LARGE_N + 3_000, seed=9)
    preds = Predictions.from_arrays(y, s, threshold=0.42)
    ev = evaluate_predictions(preds, n_resamples=300, random_state=3)
    table = threshold_metrics(preds, n_resamples=300, random_state=3)
    for row in table.rows:
        want = ev.metrics[row.metric]
        assert row.value == want.value
        if want.method == "wilson":
            assert (row.ci_low, row.ci_high, row.method) == (want.ci_low, want.ci_high, "wilson")
            continue
        assert row.method.startswith("stratified bootstrap BCa, grouped counts in ")
        width = want.ci_high - want.ci_low
        assert abs(row.ci_low - want.ci_low) < 0.15 * width, row.metric
        assert abs(row.ci_high - want.ci_high) < 0.15 * width, row.metric


def test_vectorised_hull_equals_the_monotone_chain():
    rng = np.random.default_rng(10)
    for n, decimals in ((50, None), (30_000, None), (30_000, 2), (60_000, 3)):
        y = rng.random(n) < 0.4
        s = rng.normal(size=n) + y * rng.uniform(0.2, 2)
        if decimals is not None:
            s = np.round(s, decimals)
        order = np.argsort(-s)
        ys, ss = y[order], s[order]
        ends = np.flatnonzero(np.r_[ss[1:] != ss[:-1], True])
        pos = np.cumsum(ys)[ends].astype(float)
        tot = (ends + 1).astype(float)
        fpr = np.r_[0.0, (tot - pos) / (tot[-1] - pos[-1])]
        tpr = np.r_[0.0, pos / pos[-1]]
        np.testing.assert_array_equal(views._roc_hull(fpr, tpr), views._monotone_chain(fpr, tpr))


def test_presorted_ranked_scores_equal_sorted_ones():
    y, s = scores(5_000, seed=11, decimals=3)
    w = np.random.default_rng(2).uniform(size=y.size)
    order = np.argsort(s)[::-1]
    a = RankedScores.from_arrays(y, s, w, keep_order=False)
    b = RankedScores.from_arrays(y[order], s[order], w[order], keep_order=False, presorted=True)
    for field in ("y", "scores", "group_end", "last_positive"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    c_a, c_b = a.counts_at_ends(), b.counts_at_ends()
    np.testing.assert_allclose(c_a.pos, c_b.pos)
    np.testing.assert_allclose(c_a.total, c_b.total)


@pytest.mark.parametrize("decimals", [None, 4, 2, 0])
def test_positives_first_few_ties_path_equals_the_walk_over_every_row(decimals, monkeypatch):
    """Continuous scores take the path over the tied rows only; forcing the walk over
    every row (as with many ties) gives the same reordering."""
    import afterfit.metrics.kernel as kernel

    y, s = scores(20_000, seed=12, decimals=decimals)
    if decimals is None:
        s[::50] = s[1::50]  # a few ties
    order = np.argsort(s)[::-1]
    ys, ss = y[order].astype(np.int8), s[order]
    ends = np.flatnonzero(np.r_[ss[1:] != ss[:-1], True]).astype(np.int32)
    source, last = kernel._positives_first(ys, ends)
    monkeypatch.setattr(kernel, "ROW_BLOCK", 4_096)  # the walk, in several blocks
    monkeypatch.setattr(kernel, "TIED_SHARE", 10**12)  # ... taken whatever the ties
    walk_source, walk_last = kernel._positives_first(ys, ends)
    np.testing.assert_array_equal(source, walk_source)
    np.testing.assert_array_equal(last, walk_last)


def test_the_same_scores_are_sorted_once_and_a_changed_array_again(monkeypatch):
    import afterfit.metrics.kernel as kernel

    y, s = scores(kernel.SORT_REUSE_ROWS + 100, seed=13)
    calls = []
    real = np.argsort

    def counted(a, *args, **kwargs):
        calls.append(1)
        return real(a, *args, **kwargs)

    monkeypatch.setattr(kernel.np, "argsort", counted)
    first = RankedScores.from_arrays(y, s)
    again = RankedScores.from_arrays(y, s, keep_order=False)
    assert len(calls) == 1
    np.testing.assert_array_equal(first.scores, again.scores)
    s[10] = 2.0  # changed in place: the cached order no longer sorts it
    moved = RankedScores.from_arrays(y, s)
    assert len(calls) == 2 and moved.scores[0] == 2.0
    np.testing.assert_array_equal(moved.scores, np.sort(s)[::-1])
    small = RankedScores.from_arrays(y[:100], s[:100])  # small sorts are not kept...
    again = RankedScores.from_arrays(y, s)  # ... so the large one is still reused
    assert len(calls) == 3 and small.n == 100
    np.testing.assert_array_equal(again.scores, moved.scores)


def _selection(y, s, **options):
    from afterfit.thresholds import select_threshold_predictions

    return select_threshold_predictions(y, s, n_resamples=300, random_state=5, n_jobs=1,
                                        **options)  # fmt: skip


def test_threshold_window_keeps_the_fine_bins_around_the_interval(monkeypatch):
    """Above WINDOW_ROWS the fine bins cover only the rows near the chosen threshold: they
    are the uniform binning's bins there, coarse ones beyond, and the interval lies inside
    the fine region."""
    import afterfit.thresholds._select as select
    from afterfit.thresholds._core import candidate_thresholds, make_objective

    y, s = scores(60_000, seed=14)
    ranked = RankedScores.from_arrays(y, s, keep_order=False)
    suite = select._SelectionSuite(
        ranked, make_objective("f1"), candidate_thresholds(ranked.thresholds)
    )
    suite.chosen = int(suite.search()[-1][0])
    uniform = select._GroupedSelection(suite)
    windowed = select._GroupedSelection(suite, window=0.125)
    assert uniform.fine is None and windowed.bins < uniform.bins / 2
    low, high = windowed.fine
    assert low < suite.thresholds[suite.chosen] < high

    def boundaries(g, inside):
        t = g.thresholds
        return set(t[(t >= low) & (t <= high)]) if inside else set(t[(t < low) | (t > high)])

    assert boundaries(windowed, True) == boundaries(uniform, True)
    assert boundaries(windowed, False) < boundaries(uniform, False)
    monkeypatch.setattr(select, "WINDOW_ROWS", 50_000)
    r = _selection(y, s)
    assert r.threshold == suite.thresholds[suite.chosen]
    assert low < r.ci[0] <= r.ci[1] < high
    assert f"in {windowed.bins:,} score bins" in r.metrics.rows[0].method


def test_threshold_window_falls_back_to_fine_bins_everywhere(monkeypatch):
    """An interval reaching past the fine region: the bins become fine everywhere, with the
    same seed, so the numbers are those of the uniform binning exactly."""
    import afterfit.thresholds._select as select

    y, s = scores(60_000, seed=15)
    monkeypatch.setattr(select, "WINDOW_ROWS", 50_000)
    monkeypatch.setattr(select, "FINE_WINDOW", 0.0005)  # far narrower than the interval
    fallback = _selection(y, s, objective="youden")
    monkeypatch.setattr(select, "WINDOW_ROWS", 10**12)
    uniform = _selection(y, s, objective="youden")
    assert fallback.ci == uniform.ci and fallback.optimum_ci == uniform.optimum_ci
    assert fallback.metrics.rows[0].method == uniform.metrics.rows[0].method
