"""Threshold selection over every distinct score against scikit-learn.

Run from the repository root::

    .venv/bin/python benchmarks/bench_thresholds.py          # n = 1,000,000
    .venv/bin/python benchmarks/bench_thresholds.py --quick  # n = 100,000

Data: ``n`` random probabilities (half of them rounded to 4 decimals, so with many ties)
and labels drawn as Bernoulli(score), as in ``bench_metrics.py``. Objective: max F1.

- afterfit: ``select_threshold_predictions(y, s, objective="f1", n_resamples=0)``: every
  distinct score is a candidate, the optimum is exact (best of 3 runs).
- scikit-learn: ``TunedThresholdClassifierCV(scoring="f1", cv="prefit", refit=False)`` on an
  already fitted classifier whose ``predict_proba`` returns the scores (scikit-learn 1.9
  still has ``cv="prefit"``; it is the no-cross-validation use), with its default grid of
  100 thresholds: one ``f1_score`` call per threshold (one run).
- The closest equivalent of afterfit's search in scikit-learn, a loop of ``f1_score`` over
  every distinct score, timed on 200 thresholds and scaled to all of them.

The last lines say PASS or FAIL for each goal: afterfit at least 20x faster than
``TunedThresholdClassifierCV``, and afterfit's optimum at least as good as scikit-learn's
(checked with scikit-learn's ``f1_score`` at afterfit's threshold).
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import f1_score
from sklearn.model_selection import TunedThresholdClassifierCV

from afterfit.thresholds import select_threshold_predictions

LOOP_TIMED = 50


class ScoreColumn(ClassifierMixin, BaseEstimator):
    """A fitted 'classifier' whose positive-class probability is its one input column."""

    def fit(self, X: Any, y: Any) -> ScoreColumn:
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        p = np.asarray(X, dtype=np.float64)[:, 0]
        return np.column_stack([1 - p, p])


def best_of(fn: Callable[[], Any], repeats: int = 3) -> tuple[float, Any]:
    best, out = np.inf, None
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    s = rng.random(n)
    s[: n // 2] = np.round(s[: n // 2], 4)
    y = (rng.random(n) < s).astype(np.int64)
    return y, s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="n = 100,000")
    parser.add_argument("--n", type=int, default=None)
    args = parser.parse_args()
    n = args.n or (100_000 if args.quick else 1_000_000)
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    y, s = make_data(n)
    distinct = np.unique(s).size
    print(f"n = {n:,} rows, {distinct:,} distinct scores, objective max F1\n")

    t_af, sel = best_of(lambda: select_threshold_predictions(y, s, objective="f1", n_resamples=0))
    f1_af_sklearn = f1_score(y, (s > sel.threshold).astype(int))

    X = s.reshape(-1, 1)
    clf = ScoreColumn().fit(X, y)
    tuned = TunedThresholdClassifierCV(clf, scoring="f1", cv="prefit", refit=False)
    gc.collect()
    t0 = time.perf_counter()
    tuned.fit(X, y)
    t_sk = time.perf_counter() - t0

    grid = np.unique(s)[:: max(1, distinct // LOOP_TIMED)][:LOOP_TIMED]
    t0 = time.perf_counter()
    for t in grid:
        f1_score(y, (s > t).astype(int))
    t_loop = (time.perf_counter() - t0) / grid.size * (distinct + 1)

    rows = [
        ("afterfit select_threshold_predictions (all "
         f"{distinct + 1:,} candidates)", t_af, sel.value, sel.threshold),
        ("sklearn TunedThresholdClassifierCV (100-point grid)", t_sk, tuned.best_score_,
         tuned.best_threshold_),
        (f"sklearn f1_score loop over all {distinct + 1:,} candidates (scaled from "
         f"{grid.size})", t_loop, float("nan"), float("nan")),
    ]  # fmt: skip
    print(f"{'method':<78} {'time (s)':>10} {'best F1':>10} {'threshold':>10}")
    for name, t, v, thr in rows:
        print(f"{name:<78} {t:>10.3f} {v:>10.6f} {thr:>10.6f}")
    ratio = t_sk / t_af
    print(f"\nTunedThresholdClassifierCV / afterfit: {ratio:,.1f}x")
    print(f"f1_score loop over every candidate / afterfit: {t_loop / t_af:,.0f}x (extrapolated)")
    print(
        f"afterfit F1 {sel.value:.9f}; scikit-learn f1_score at afterfit's threshold "
        f"{f1_af_sklearn:.9f}; TunedThresholdClassifierCV best {tuned.best_score_:.9f}"
    )
    print(f"load average at end: {os.getloadavg()[0]:.2f}\n")
    exact = abs(f1_af_sklearn - sel.value) < 1e-12 and sel.value >= tuned.best_score_ - 1e-12
    for goal, ok, text in [
        ("speed", ratio >= 20, f"TunedThresholdClassifierCV / afterfit = {ratio:.1f}x (>= 20x)"),
        ("exact", exact, "afterfit's F1 (checked by sklearn) >= TunedThresholdClassifierCV's"),
    ]:
        print(f"{'PASS' if ok else 'FAIL'} {goal}: {text}")


if __name__ == "__main__":
    main()
