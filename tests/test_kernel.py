"""The one-sort kernel: curve thinning and the sorted order."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import auc, roc_curve

from afterfit.evaluation import evaluate_predictions
from afterfit.metrics.kernel import RankedScores, keep_shape_points, roc_xy


def test_thinned_roc_keeps_its_area_within_5e_5():
    rng = np.random.default_rng(3)
    n = 400_000
    y = rng.random(n) < 0.3
    s = rng.normal(size=n) + y * 0.8
    ranked = RankedScores.from_arrays(y, s)
    counts = ranked.counts_at_ends()
    xy = roc_xy(counts.pos[0], counts.total[0])
    fpr, tpr = xy(slice(None))
    keep = keep_shape_points(xy, fpr.size, 20_000)
    assert keep.size <= 20_000
    assert keep[0] == 0 and keep[-1] == fpr.size - 1
    full = np.trapezoid(tpr, fpr)
    thin = np.trapezoid(tpr[keep], fpr[keep])
    assert abs(full - thin) <= 5e-5


def test_evaluation_reports_full_area_and_thinned_curve():
    rng = np.random.default_rng(4)
    n = 60_000
    y = rng.random(n) < 0.5
    s = rng.random(n) * 0.5 + y * 0.3
    ev = evaluate_predictions(y.astype(int), s, ci="none")
    fpr, tpr, _ = roc_curve(y, s)
    assert abs(ev.metrics["roc_auc"].value - auc(fpr, tpr)) < 1e-12
    assert ev.roc.n_points_full > 20_000 >= ev.roc.x.size
    assert abs(np.trapezoid(ev.roc.y, ev.roc.x) - auc(fpr, tpr)) <= 5e-5


def test_ties_form_one_group_each():
    ranked = RankedScores.from_arrays(np.array([1, 0, 1, 0]), np.array([0.5, 0.5, 0.9, 0.1]))
    assert ranked.thresholds.tolist() == [0.9, 0.5, 0.1]
    assert ranked.n_above(0.5) == 1
    assert ranked.n_above(0.05) == 4
