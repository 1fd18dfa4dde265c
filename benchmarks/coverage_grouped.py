"""Coverage of the threshold interval from the bootstrap of grouped counts.

Run from the repository root::

    .venv/bin/python benchmarks/coverage_grouped.py                 # n = 1,000,000, R = 200
    .venv/bin/python benchmarks/coverage_grouped.py --n 200000      # quicker
    .venv/bin/python benchmarks/coverage_grouped.py --quick         # what the slow test runs

Binormal data: ``n`` rows of which ``pi = 0.3`` are positives (a fixed count, so the
stratified bootstrap targets a well-defined value), positive scores ~ N(mu, 1), negative
scores ~ N(0, 1), mu = 1, passed through the logistic function. True values, from the
model:

* the F1-optimal threshold t* and the optimal F1 (maximised numerically over
  ``F1(t) = 2 pi Phi(mu - t) / (pi + pi Phi(mu - t) + (1 - pi) Phi(-t))``);
* the Youden-optimal threshold, mu / 2 (equal variances);
* the threshold of the highest recall at precision >= 0.7: where
  ``pi Phi(mu - t) / (pi Phi(mu - t) + (1 - pi) Phi(-t)) = 0.7``.

Each of R seeded replicates draws a fresh data set and calls
``select_threshold_predictions`` as a user would (B resamples, 95% percentile intervals):
one sort, then the bootstrap of the per-class counts of at most 4,096 score bins
(afterfit.thresholds._select.MAX_BINS). Printed per target: coverage with its Monte Carlo
standard error, the mean interval width, and the median ratio of the widest bin inside the
threshold's interval to that interval's width (the bins' effect on the threshold, which
must stay well below the interval's resolution). Goal: coverage within 93-97%.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np
from scipy import optimize
from scipy.special import expit, ndtr

from afterfit.thresholds import select_threshold_predictions

MU, PI, MIN_PRECISION = 1.0, 0.3, 0.7


def _f1(t: float) -> float:
    tp = PI * ndtr(MU - t)
    return 2 * tp / (PI + tp + (1 - PI) * ndtr(-t))


def _precision(t: float) -> float:
    tp = PI * ndtr(MU - t)
    return tp / (tp + (1 - PI) * ndtr(-t))


def truths() -> dict[str, float]:
    """True thresholds (on the probability scale of the logistic scores) and optimum."""
    best = optimize.minimize_scalar(lambda t: -_f1(t), bounds=(-3, 3), method="bounded",
                                    options={"xatol": 1e-10})  # fmt: skip
    t_prec = optimize.brentq(lambda t: _precision(t) - MIN_PRECISION, -5, 5, xtol=1e-12)
    return {
        "f1 threshold": float(expit(best.x)),
        "f1 optimum": float(-best.fun),
        "youden threshold": float(expit(MU / 2)),
        "precision>=0.7 threshold": float(expit(t_prec)),
    }


def one_replicate(n: int, seed: int, n_resamples: int) -> dict[str, tuple[float, ...]]:
    """(low, high, widest bin / width) of each target's interval on one fresh data set."""
    rng = np.random.default_rng(seed)
    n_pos = round(PI * n)
    y = np.zeros(n, dtype=np.int8)
    y[:n_pos] = 1
    s = expit(rng.normal(size=n) + MU * y)
    out = {}
    runs = [("f1", {}), ("youden", {}),
            ("recall_at_precision", {"min_precision": MIN_PRECISION})]  # fmt: skip
    for objective, extra in runs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = select_threshold_predictions(
                y, s, objective=objective, n_resamples=n_resamples, random_state=seed,
                scores_are_probabilities=True, n_jobs=1, **extra,
            )  # fmt: skip
        method = r.metrics.rows[0].method
        ratio = _bin_ratio(method, r.ci)
        if objective == "f1":
            out["f1 threshold"] = (*r.ci, ratio)
            out["f1 optimum"] = (*r.optimum_ci, math.nan)
        elif objective == "youden":
            out["youden threshold"] = (*r.ci, ratio)
        else:
            out["precision>=0.7 threshold"] = (*r.ci, ratio)
    return out


def _bin_ratio(method: str, ci: tuple[float, float]) -> float:
    """The widest bin in the interval (from the method text) over the interval's width."""
    mark = "widest bin in the threshold's interval: "
    if mark not in method:
        return 0.0  # no bins: every distinct score is a group
    width = float(method.split(mark)[1].rstrip(")"))
    return width / (ci[1] - ci[0]) if ci[1] > ci[0] else math.inf


def run(n: int, reps: int, n_resamples: int, seed: int) -> dict[str, dict[str, float]]:
    truth = truths()
    hits: dict[str, list[bool]] = {k: [] for k in truth}
    widths: dict[str, list[float]] = {k: [] for k in truth}
    ratios: dict[str, list[float]] = {k: [] for k in truth}
    for r in range(reps):
        for key, (lo, hi, ratio) in one_replicate(n, seed + r, n_resamples).items():
            hits[key].append(bool(lo <= truth[key] <= hi))
            widths[key].append(hi - lo)
            ratios[key].append(ratio)
    summary = {}
    for key in truth:
        cover = float(np.mean(hits[key]))
        summary[key] = {
            "coverage": cover,
            "se": math.sqrt(cover * (1 - cover) / reps),
            "width": float(np.mean(widths[key])),
            "bin_ratio": float(np.nanmedian(ratios[key])) if key.endswith("threshold") else 0,
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="n = 100,000, R = 100, B = 500")
    args = parser.parse_args()
    if args.quick:
        args.n, args.reps, args.resamples = 100_000, 100, 500
    start, cpu = time.perf_counter(), time.process_time()
    summary = run(args.n, args.reps, args.resamples, args.seed)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"n = {args.n:,}, R = {args.reps}, B = {args.resamples}, 95% percentile intervals")
    print(f"{'target':26s} {'coverage':>9s} {'MC s.e.':>8s} {'mean width':>11s} "
          f"{'bin/width':>10s}")  # fmt: skip
    for key, row in summary.items():
        print(f"{key:26s} {row['coverage']:9.1%} {row['se']:8.1%} {row['width']:11.5f} "
              f"{row['bin_ratio']:10.3f}")  # fmt: skip
    print(f"{wall:.0f} s wall, {cpu:.0f} s CPU ({cpu / args.reps:.2f} s CPU per replicate of "
          "three selections, data generation included)")  # fmt: skip
    ok = all(0.93 <= row["coverage"] <= 0.97 for row in summary.values())
    print("coverage 93-97%:", "PASS" if ok else "FAIL (see the MC s.e. for R)")


if __name__ == "__main__":
    main()
