"""The threshold interval from the bootstrap of grouped counts: bins, the resampled counts,
the search on them against the exact search, against the row bootstrap, and coverage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from afterfit.metrics.kernel import RankedScores, quantile_group_ends
from afterfit.metrics.resampling import bootstrap, bootstrap_grouped, resample_cells
from afterfit.thresholds import select_threshold_predictions
from afterfit.thresholds._core import candidate_thresholds, make_objective
from afterfit.thresholds._select import _GroupedSelection, _SelectionSuite

ROOT = Path(__file__).resolve().parents[1]


def _data(n: int, seed: int = 0, *, decimals: int | None = None):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int8)
    s = 1 / (1 + np.exp(-(rng.normal(size=n) + y)))
    return y, (np.round(s, decimals) if decimals is not None else s)


def _suite(y, s, objective="f1", **options):
    ranked = RankedScores.from_arrays(y, s, None, keep_order=False)
    obj = make_objective(objective, **options)
    suite = _SelectionSuite(ranked, obj, candidate_thresholds(ranked.thresholds))
    *_, best = suite.search()
    suite.chosen = int(best[0])
    return suite


# --- bins --------------------------------------------------------------------------------


def test_bins_are_whole_tie_groups_of_about_equal_rows():
    sizes = np.random.default_rng(1).integers(1, 20, 5000)  # rows per tie group
    total = np.cumsum(sizes).astype(float)
    ends = quantile_group_ends(total, 100, keep=np.array([1234]))
    assert np.all(np.diff(ends) > 0) and ends[-1] == total.size - 1
    assert 1234 in ends
    rows = np.diff(total[ends], prepend=0.0)
    assert len(ends) <= 102
    assert rows.max() <= total[-1] / 100 + sizes.max()  # a quantile step plus one group
    # No more groups than bins: every group is its own bin.
    assert np.array_equal(quantile_group_ends(total[:50], 100), np.arange(50))


# --- resampled counts --------------------------------------------------------------------


@pytest.mark.parametrize("stratify", [True, False])
def test_resampled_cells_are_the_row_bootstrap_s_counts(stratify):
    cells = np.array([[5, 0, 30, 65], [40, 10, 0, 50]])
    C = resample_cells(cells, 20_000, np.random.default_rng(0), stratify=stratify)
    assert C.shape == (20_000, 2, 4)
    if stratify:  # each class keeps its size
        assert np.all(C.sum(axis=2) == cells.sum(axis=1))
    else:
        assert np.all(C.sum(axis=(1, 2)) == cells.sum())
        assert np.var(C[:, 1].sum(axis=1)) > 0  # class sizes vary
    assert np.all(C[:, cells == 0] == 0)  # an empty cell is never drawn
    # Mean n p, variance n p (1 - p), as counting rows drawn with replacement gives.
    n = cells.sum(axis=1, keepdims=True) if stratify else cells.sum()
    p = cells / n
    np.testing.assert_allclose(C.mean(axis=0), cells, rtol=0.02, atol=0.05)
    np.testing.assert_allclose(C.var(axis=0), n * p * (1 - p), rtol=0.06, atol=0.05)


def test_resampled_cells_match_counted_rows():
    """The oracle: draw rows with replacement and count them per cell."""
    cells = np.array([[3, 7, 0], [2, 1, 7]])
    rows_cell = np.repeat(np.arange(6), cells.ravel())
    rng = np.random.default_rng(3)
    draws = rng.integers(0, rows_cell.size, size=(40_000, rows_cell.size))
    counted = np.stack([np.bincount(rows_cell[d], minlength=6) for d in draws])
    ours = resample_cells(cells, 40_000, np.random.default_rng(4), stratify=False)
    ours = ours.reshape(40_000, 6)
    for c in range(6):
        a = np.bincount(counted[:, c], minlength=21)
        b = np.bincount(ours[:, c].astype(int), minlength=21)
        # Two samples of one distribution: a chi-square test of homogeneity.
        assert stats.chi2_contingency(np.stack([a, b])[:, (a + b) > 0]).pvalue > 1e-4


# --- the search on grouped counts --------------------------------------------------------


@pytest.mark.parametrize(
    ("objective", "options"),
    [("f1", {}), ("youden", {}), ("recall_at_precision", {"min_precision": 0.6}),
     ("top_k", {"top_k": 300}), ("cost", {"fp_cost": 1.0, "fn_cost": 4.0})],
)  # fmt: skip
@pytest.mark.parametrize("decimals", [None, 2])
def test_unbinned_counts_give_the_exact_search(objective, options, decimals):
    suite = _suite(*_data(3000, decimals=decimals), objective, **options)
    grouped = _GroupedSelection(suite)
    assert grouped.bins is None
    exact, ours = suite.compute(), grouped.compute_cells(grouped.cells[None])
    assert set(exact) == set(ours)
    for key in exact:
        np.testing.assert_allclose(ours[key], exact[key], rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("objective", ["f1", "youden", "balanced_accuracy"])
def test_bins_keep_the_chosen_threshold_and_its_metrics_exact(objective):
    suite = _suite(*_data(50_000, 1), objective)
    grouped = _GroupedSelection(suite, max_bins=64)
    assert grouped.bins is not None and grouped.bins <= 66
    exact, ours = suite.compute(), grouped.compute_cells(grouped.cells[None])
    for key in exact:  # the exact optimum is a bin boundary, so the binned argmax finds it
        np.testing.assert_allclose(ours[key], exact[key], rtol=1e-12)
    assert np.all(np.isin(grouped.thresholds, suite.thresholds))  # boundaries are candidates


def _replicates(draws):
    return draws.replicates[("threshold", None)]


@pytest.mark.parametrize("objective", ["f1", "recall_at_precision"])
def test_grouped_and_row_bootstrap_agree_in_distribution(objective):
    options = {"min_precision": 0.6} if objective == "recall_at_precision" else {}
    suite = _suite(*_data(2000, 5), objective, **options)
    rows = bootstrap(suite, n_resamples=3000, jackknife=False, random_state=1, max_rows=None)
    grouped = bootstrap_grouped(_GroupedSelection(suite), n_resamples=3000, random_state=2)
    a, b = _replicates(rows), _replicates(grouped)
    assert stats.ks_2samp(a, b).pvalue > 1e-3
    for q in (0.025, 0.5, 0.975):
        assert abs(np.quantile(a, q) - np.quantile(b, q)) < 0.25 * (np.ptp(a) / 2)
    opt = ("optimum", None)
    assert stats.ks_2samp(rows.replicates[opt], grouped.replicates[opt]).pvalue > 1e-3


def test_bins_move_the_interval_less_than_a_bin():
    suite = _suite(*_data(200_000, 2), "f1")
    fine = bootstrap_grouped(_GroupedSelection(suite, max_bins=10**9), n_resamples=600,
                             random_state=0)  # fmt: skip
    binned_suite = _GroupedSelection(suite, max_bins=512)
    coarse = bootstrap_grouped(binned_suite, n_resamples=600, random_state=0)
    lo_f, hi_f = np.quantile(_replicates(fine), [0.025, 0.975])
    lo_c, hi_c = np.quantile(_replicates(coarse), [0.025, 0.975])
    width = binned_suite.widest_bin(lo_c, hi_c)
    assert 0 < width < (hi_c - lo_c) / 10
    # Different bins, same seed stream: the ends move by sampling noise and a bin at most.
    noise = 0.15 * (hi_f - lo_f)
    assert abs(lo_c - lo_f) < width + noise and abs(hi_c - hi_f) < width + noise


def test_same_seed_same_numbers_whatever_the_threads():
    suite = _GroupedSelection(_suite(*_data(20_000, 3), "f1"), max_bins=256)
    a = bootstrap_grouped(suite, n_resamples=700, random_state=9, n_jobs=1)
    b = bootstrap_grouped(suite, n_resamples=700, random_state=9, n_jobs=3)
    for key in a.replicates:
        np.testing.assert_array_equal(a.replicates[key], b.replicates[key])


# --- through the public function ---------------------------------------------------------


def test_large_data_reports_the_bins_and_their_width():
    y, s = _data(30_000, 4)
    seen = []
    r = select_threshold_predictions(y, s, objective="f1", n_resamples=300, random_state=0,
                                     progress=seen.append)  # fmt: skip
    method = r.metrics.rows[0].method
    assert "grouped counts in" in method and "score bins" in method
    width = float(method.split("interval: ")[1].rstrip(")"))
    assert 0 < width < (r.ci[1] - r.ci[0]) / 10
    assert r.ci[0] <= r.threshold <= r.ci[1]
    assert sum(seen) == 300


def test_small_data_is_not_binned_and_says_nothing_new():
    y, s = _data(1500, 6)
    r = select_threshold_predictions(y, s, objective="youden", n_resamples=200, random_state=0)
    assert r.metrics.rows[0].method == "stratified bootstrap percentile"
    assert r.ci[0] <= r.threshold <= r.ci[1]


def test_weighted_rows_still_resample_rows():
    y, s = _data(1500, 7)
    w = np.random.default_rng(0).uniform(0.5, 2, y.size)
    r = select_threshold_predictions(y, s, objective="f1", n_resamples=200, random_state=0,
                                     sample_weight=w)  # fmt: skip
    assert "grouped" not in r.metrics.rows[0].method
    assert r.ci[0] <= r.threshold <= r.ci[1]


@pytest.mark.slow
def test_coverage_simulation_quick():
    """benchmarks/coverage_grouped.py at a small size: R = 100 gives a Monte Carlo s.e. of
    about 2.2 points, so the band is wider than the benchmark's 93-97%."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "coverage_grouped.py"), "--n", "20000",
         "--reps", "100", "--resamples", "400"],
        capture_output=True, text=True, timeout=1500, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = {}
    for line in proc.stdout.splitlines():
        parts = line.rsplit(None, 4)
        if len(parts) == 5 and parts[1].endswith("%") and parts[2].endswith("%"):
            rows[parts[0].strip()] = (float(parts[1][:-1]) / 100, float(parts[4]))
    assert set(rows) == {"f1 threshold", "f1 optimum", "youden threshold",
                         "precision>=0.7 threshold"}, proc.stdout  # fmt: skip
    for coverage, ratio in rows.values():
        assert 0.88 <= coverage <= 0.99, proc.stdout
        assert ratio < 0.1, proc.stdout
