"""Speed of per-slice metrics with intervals against the unsliced evaluation.

Run from the repository root::

    .venv/bin/python benchmarks/bench_slices.py           # n = 1,000,000, 50 slices
    .venv/bin/python benchmarks/bench_slices.py --quick   # n = 100,000

One run, both timings on the same machine, same data: a binary model's predictions on
``n`` rows, evaluated with intervals (``evaluate_predictions``: every metric, Wilson and
DeLong where exact, a 1000-resample BCa bootstrap for the rest, m-out-of-n above 100,000
rows), then sliced into 50 slices (``region``: 10 levels, ``channel``: 20 levels,
``age:quantiles=20``) with ``evaluate_slices_predictions``: every metric on every slice with its
interval, its gap to the rest of the rows (bootstrap of the slice and of the rest) and the
Holm-adjusted tests. Goal (issue 17): the slices take at most 3x the unsliced evaluation.
Each timing is the best of ``--repeat`` runs; the last line says PASS or FAIL.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from afterfit.evaluation import evaluate_predictions
from afterfit.predictions import Predictions
from afterfit.slices import evaluate_slices_predictions


def data(n: int, seed: int = 0) -> tuple[Predictions, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "region": rng.integers(0, 10, n).astype(str),
            "channel": rng.integers(0, 20, n).astype(str),
            "age": rng.uniform(18, 90, n),
        }
    )
    region = frame["region"].astype(int).to_numpy()
    y = rng.uniform(size=n) < 0.3
    # The model is worse in two regions: slices have real gaps to find.
    signal = np.where(region < 2, 0.6, 1.4)
    score = 1 / (1 + np.exp(-(signal * (2 * y - 1) + rng.normal(size=n) - 0.8)))
    return Predictions.from_arrays(y.astype(int), score), frame


def best_of(repeat: int, fn) -> tuple[float, float, object]:
    """Best wall time and best CPU time (all threads) of ``repeat`` runs, and the result.

    CPU time is printed beside wall time because on a shared machine the wall clock
    mostly measures the neighbours."""
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 100,000")
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    n = args.n or (100_000 if args.quick else 1_000_000)
    preds, frame = data(n)
    by = ["region", "channel", "age:quantiles=20"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_eval, c_eval, _ = best_of(
            args.repeat,
            lambda: evaluate_predictions(preds, n_resamples=args.resamples, random_state=0),
        )
        t_slices, c_slices, result = best_of(
            args.repeat,
            lambda: evaluate_slices_predictions(
                preds, frame, by=by, n_resamples=args.resamples, random_state=0, segments=False
            ),
        )
    n_slices = len(result.slices)
    ratio = t_slices / t_eval
    flagged = result.flagged()
    print(f"n = {n:,} rows, {n_slices} slices, {len(result.metric_names)} metrics, "
          f"{args.resamples} resamples (best of {args.repeat})")  # fmt: skip
    print("                                                  wall s    CPU s")
    print(f"  evaluate_predictions (unsliced, with intervals)   {t_eval:7.2f}  {c_eval:7.2f}")
    print(f"  evaluate_slices_predictions ({n_slices} slices, intervals, tests) "
          f"{t_slices:7.2f}  {c_slices:7.2f}")  # fmt: skip
    print(f"  ratio {ratio:.2f}x wall, {c_slices / c_eval:.2f}x CPU   goal <= 3x   "
          f"{'PASS' if ratio <= 3 else 'FAIL'}")  # fmt: skip
    print(f"  ({len(flagged)} slice-metric gaps confirmed after Holm; "
          f"{sorted(set(flagged.slice))[:4]} ...)")  # fmt: skip


if __name__ == "__main__":
    main()
