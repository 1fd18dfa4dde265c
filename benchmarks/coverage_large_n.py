"""Coverage of the m-out-of-n rescaled bootstrap that afterfit uses on large data.

Run from the repository root::

    .venv/bin/python benchmarks/coverage_large_n.py               # R = 200, ~5-10 minutes
    .venv/bin/python benchmarks/coverage_large_n.py --reps 50     # quicker, noisier

Binormal data as in ``coverage_simulation.py``, but large: ``n = 200,000`` rows of which
``n_pos = 60,000`` are positives (fixed, so the stratified bootstrap targets a well-defined
value), positive scores ~ N(mu, 1), negative scores ~ N(0, 1), mu = 1, threshold mu/2.
True values from the model:

* ROC AUC = Phi(mu / sqrt 2);
* average precision = integral of precision(t) over the positives' score density, with
  precision(t) = pi Phi(mu - t) / (pi Phi(mu - t) + (1 - pi) Phi(-t)), pi = n_pos / n
  (numerical quadrature);
* accuracy at mu/2 = Phi(mu / 2);
* the F1-optimal threshold t* and the optimal F1 (maximised numerically).

Each of R seeded replicates draws a fresh data set and bootstraps it the way afterfit does
above ``LARGE_N`` rows: a stratified subsample of ``m = 20,000`` rows, B = 1000 resamples of
it, replicates rescaled to the ``n`` rows (``rep = est_n + (m/n)**rate (rep_m - est_m)``),
BCa with the acceleration times sqrt(m/n). The threshold search is bootstrapped the same way
with rate 1/3 for the F1-optimal threshold (cube-root asymptotics) and 1/2 for the optimal
F1 (root-n); the other rate is printed beside each for comparison. Goal: coverage of the 95%
intervals of ROC AUC and average precision within 93-97%.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
from scipy import integrate, optimize
from scipy.special import ndtr
from scipy.stats import norm

from afterfit.metrics.binary import BinarySuite
from afterfit.metrics.kernel import RankedScores
from afterfit.metrics.resampling import bootstrap, bootstrap_interval, percentile_interval
from afterfit.thresholds._core import candidate_thresholds, make_objective
from afterfit.thresholds._select import _rates, _SelectionSuite

CONFIDENCE = 0.95
GOAL = (0.93, 0.97)


def true_values(mu: float, pi: float) -> dict[str, float]:
    def precision(t: float) -> float:
        tp, fp = pi * ndtr(mu - t), (1 - pi) * ndtr(-t)
        return tp / (tp + fp) if tp + fp > 0 else 1.0

    ap, _ = integrate.quad(lambda t: precision(t) * norm.pdf(t - mu), -12, 12 + mu, limit=200)

    def f1(t: float) -> float:  # 2 TP / (2 TP + FP + FN), per row
        tp, fp = pi * ndtr(mu - t), (1 - pi) * ndtr(-t)
        return 2 * tp / (tp + fp + pi)

    best = optimize.minimize_scalar(lambda t: -f1(t), bounds=(-5, 5 + mu), method="bounded",
                                    options={"xatol": 1e-10})  # fmt: skip
    return {
        "roc_auc": float(ndtr(mu / np.sqrt(2))),
        "average_precision": float(ap),
        "accuracy": float(ndtr(mu / 2)),
        "threshold": float(best.x),
        "optimum": float(-best.fun),
    }


def draw(rng: np.random.Generator, n: int, n_pos: int, mu: float):
    y = np.zeros(n, dtype=np.int64)
    y[:n_pos] = 1
    s = rng.standard_normal(n)
    s[:n_pos] += mu
    perm = rng.permutation(n)
    return y[perm], s[perm]


def rescaled(draws, key, rate: float, n: int) -> np.ndarray:
    """The replicates of ``key`` as another rate exponent would have rescaled them."""
    used = _rates(make_objective("f1")).get(key, 0.5)
    m = draws.subsample
    factor = (m / n) ** (rate - used)
    return draws.estimate[key] + factor * (draws.replicates[key] - draws.estimate[key])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200, help="replicates R (default 200)")
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--n-pos", type=int, default=60_000)
    parser.add_argument("--m", type=int, default=20_000, help="subsample size (max_rows)")
    parser.add_argument("--n-resamples", type=int, default=1000)
    parser.add_argument("--mu", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument(
        "--scheme", choices=("cells", "m-out-of-n"), default="m-out-of-n",
        help="how ROC AUC, AP and accuracy are resampled above m rows: the bootstrap of "
        "grouped counts over class x score-bin cells (what evaluate uses since issue 16), "
        "or the rescaled m-out-of-n bootstrap (default, as before)",
    )  # fmt: skip
    parser.add_argument("--no-threshold", action="store_true",
                        help="skip the m-out-of-n threshold search (slow)")  # fmt: skip
    args = parser.parse_args()
    n, m, B = args.n, args.m, args.n_resamples
    truth = true_values(args.mu, args.n_pos / n)
    print(
        f"Binormal: {args.n_pos:,} positives ~ N({args.mu:g}, 1), {n - args.n_pos:,} negatives "
        f"~ N(0, 1); n = {n:,}, m = {m:,} (m/n = {m / n:g}), B = {B}; {CONFIDENCE:.0%} "
        f"intervals; seed {args.seed}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"
    )
    print("true values: " + ", ".join(f"{k} {v:.5f}" for k, v in truth.items()))

    # (label, metric key, how the interval is made) -> (R, 2)
    rows: dict[tuple[str, str], np.ndarray] = {}
    objective = make_objective("f1")
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r in range(args.reps):
            rng = np.random.default_rng(np.random.SeedSequence([args.seed, r]))
            y, s = draw(rng, n, args.n_pos, args.mu)
            suite = BinarySuite(y, s, threshold=args.mu / 2, probabilities=False)
            draws = bootstrap(suite, n_resamples=B, random_state=r, max_rows=m,
                              by_cells=args.scheme == "cells")  # fmt: skip
            for metric in ("roc_auc", "average_precision", "accuracy"):
                for method in ("bca", "percentile"):
                    lo, hi, _ = bootstrap_interval(draws, (metric, None), confidence=CONFIDENCE,
                                                   method=method)  # fmt: skip
                    rows.setdefault((metric, method), np.empty((args.reps, 2)))[r] = lo, hi

            if args.no_threshold:
                continue
            ranked = RankedScores.from_arrays(y, s, keep_order=False)
            search = _SelectionSuite(ranked, objective, candidate_thresholds(ranked.thresholds))
            draws = bootstrap(search, n_resamples=B, random_state=r, max_rows=m,
                              jackknife=False, rates=_rates(objective))  # fmt: skip
            for metric, rate, label in (
                ("threshold", 1 / 3, "percentile, rate 1/3"),
                ("threshold", 1 / 2, "percentile, rate 1/2 (wrong)"),
                ("optimum", 1 / 2, "percentile, rate 1/2"),
                ("optimum", 1 / 3, "percentile, rate 1/3 (wrong)"),
            ):
                reps = rescaled(draws, (metric, None), rate, n)
                ci = percentile_interval(reps, CONFIDENCE)
                rows.setdefault((metric, label), np.empty((args.reps, 2)))[r] = ci
            if r == 0:
                print(f"first replicate: {time.perf_counter() - t0:.1f} s", flush=True)
    seconds = time.perf_counter() - t0

    scheme = (
        f"m-out-of-n m={m:,} of n={n:,}" if args.scheme == "m-out-of-n"
        else f"grouped counts in class x score-bin cells, n={n:,}"
    )  # fmt: skip
    header = ("metric", "interval", "R", "coverage", "SE", "miss low", "miss high", "width", "")
    table, summary = [], []
    for (metric, method), ci in rows.items():
        t = truth[metric]
        ok = np.isfinite(ci).all(axis=1)
        c = np.mean(ok & (ci[:, 0] <= t) & (t <= ci[:, 1]))
        se = np.sqrt(c * (1 - c) / args.reps)
        below, above = np.mean(ok & (ci[:, 1] < t)), np.mean(ok & (ci[:, 0] > t))
        goal = metric in ("roc_auc", "average_precision") and method == "bca"
        table.append(
            (metric, method, f"{args.reps}", f"{c:.1%}", f"{se:.1%}", f"{below:.1%}",
             f"{above:.1%}", f"{np.nanmean(ci[:, 1] - ci[:, 0]):.5f}", "goal" if goal else "info")
        )  # fmt: skip
        if goal:
            passed = GOAL[0] <= c <= GOAL[1]
            summary.append(
                f"{'PASS' if passed else 'FAIL'} coverage {metric} (BCa, {scheme}): "
                f"{c:.1%} (binomial SE {se:.1%}, R={args.reps}) vs goal "
                f"{GOAL[0]:.0%}-{GOAL[1]:.0%}"
            )
    widths = [max(len(str(row[i])) for row in [header, *table]) for i in range(len(header))]
    fmt = "  ".join(f"{{:{'<' if i < 2 else '>'}{w}}}" for i, w in enumerate(widths))
    print()
    print(fmt.format(*header))
    print("  ".join("-" * w for w in widths))
    for row in table:
        print(fmt.format(*row))
    print(f"\ntime: {seconds:.0f} s for {args.reps} replicates ({seconds / args.reps:.1f} s each)")
    print("\n== Summary ==")
    for line in summary:
        print(line)


if __name__ == "__main__":
    main()
