"""False discoveries and power of afterfit's weak-segment search, by simulation.

Run from the repository root::

    .venv/bin/python benchmarks/slices_simulation.py               # R = 300 per scenario
    .venv/bin/python benchmarks/slices_simulation.py --reps 100    # quicker, noisier

Design. Each replicate draws a training set and a test set of ``n`` rows (default 8,000)
with columns ``a, b`` (standard normal, the model's features), ``region`` (4 levels),
``plan`` (2 levels) and ``tenure`` (uniform 0-60 months). The label follows a logistic
model of ``a`` and ``b`` (``P(y=1) = sigmoid(1.5 a + b)``), and a logistic regression on
``a, b`` is fitted to the training set. :func:`afterfit.slices.weak_segments` then searches
every column of the test set (1-2 conditions; the per-row loss is the excess log loss of
:func:`afterfit.slices.segments.row_loss`) on one half and confirms on the other.

* **Null** (no planted segment): the model is right everywhere. A run that reports any
  confirmed segment is a false discovery; the goal is at most 5% of runs.
* **Planted** (a weak segment): in ``region = north and tenure < 12`` (about 5% of the rows)
  a share ``--noise`` (default 0.3) of the labels is flipped, in training and test data
  alike, so the model, which sees neither column, cannot learn it. A run *finds* it when a
  confirmed segment has at least half of its rows in the planted segment and holds at least
  half of the planted rows. The goal is at least 90% of runs.

Each rate is printed with its binomial standard error. The power depends on the planted
segment's rows: at ``--n 4000`` (about 100 planted rows per half) it is about 0.83, at the
default 8,000 about 0.99 (R = 100 each; see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from afterfit.predictions import Predictions
from afterfit.slices.segments import row_loss, weak_segments


def draw(
    rng: np.random.Generator, n: int, noise: float
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "region": rng.choice(["north", "south", "east", "west"], n),
            "plan": rng.choice(["basic", "pro"], n, p=[0.7, 0.3]),
            "tenure": rng.uniform(0, 60, n),
        }
    )
    p = 1 / (1 + np.exp(-(1.5 * frame.a.to_numpy() + frame.b.to_numpy())))
    y = (rng.uniform(size=n) < p).astype(int)
    planted = (frame.region == "north").to_numpy() & (frame.tenure < 12).to_numpy()
    if noise:
        flip = planted & (rng.uniform(size=n) < noise)
        y[flip] = 1 - y[flip]
    return frame, y, planted


def one_run(seed: int, n: int, noise: float) -> tuple[bool, bool]:
    """(any segment confirmed, the planted one found) for one replicate."""
    rng = np.random.default_rng(seed)
    train, y_train, _ = draw(rng, n, noise)
    test, y_test, planted = draw(rng, n, noise)
    model = LogisticRegression().fit(train[["a", "b"]], y_train)
    preds = Predictions.from_arrays(y_test, model.predict_proba(test[["a", "b"]])[:, 1])
    loss, name = row_loss(preds)
    result = weak_segments(test, loss, loss_name=name, random_state=seed)
    found = False
    for seg in result.confirmed:
        inside = np.ones(n, dtype=bool)
        for c in seg.conditions:
            col = test[c.column].to_numpy()
            inside &= {"=": col == c.value, "<=": col <= c.value, ">": col > c.value}[c.op]
        overlap = np.count_nonzero(inside & planted)
        if overlap >= 0.5 * inside.sum() and overlap >= 0.5 * planted.sum():
            found = True
    return bool(result.confirmed), found


def rate(hits: int, reps: int) -> str:
    p = hits / reps
    return f"{p:.3f} (SE {math.sqrt(max(p * (1 - p), 0.05 * 0.95) / reps):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument("--n", type=int, default=8000)
    parser.add_argument("--noise", type=float, default=0.3)
    args = parser.parse_args()
    start = time.perf_counter()
    null = [one_run(10_000 + r, args.n, 0.0) for r in range(args.reps)]
    planted = [one_run(20_000 + r, args.n, args.noise) for r in range(args.reps)]
    false_runs = sum(any_ for any_, _ in null)
    found = sum(f for _, f in planted)
    print(f"weak segments, n = {args.n:,} rows, R = {args.reps} runs per scenario")
    print(
        f"  no planted segment: runs reporting one     {rate(false_runs, args.reps)}  goal <= 0.05"
    )
    found_rate = rate(found, args.reps)
    print(f"  planted (noise {args.noise:g}): runs finding it   {found_rate}  goal >= 0.90")
    print(f"  ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
