"""Size and power of afterfit's paired model comparisons, by simulation with known truth.

Run from the repository root::

    .venv/bin/python benchmarks/compare_simulation.py              # R = 1000, ~2 minutes
    .venv/bin/python benchmarks/compare_simulation.py --reps 200   # quicker, noisier

Design: ``n = 300`` rows, of which ``n_pos = 120`` positives (fixed, so the stratified
bootstrap targets a well-defined quantity). Every model sees one shared latent score and its
own noise::

    score_m = mu_m * y + shared + noise * e_m,    shared, e_m ~ N(0, 1) independent

so two models are correlated (correlation ``1 / (1 + noise^2)`` within a class, 0.5 with
``noise = 1``) and model ``m`` has true ROC AUC ``Phi(mu_m / sqrt(2 (1 + noise^2)))``. The
scores are decision scores (``scores_are_probabilities=False``) with threshold ``mu / 2``.

* **Null** (``mu_a = mu_b = 1.5``): the same true AUC (0.773) and the same true accuracy,
  different correlated noise. The share of replicates with ``p < 0.05`` is the false
  positive rate of DeLong's test (ROC AUC), McNemar's test (accuracy) and the paired
  bootstrap (ROC AUC, percentile p-value); with three such models, the share with *any*
  Holm-adjusted DeLong ``p < 0.05`` is the family-wise error rate.
* **Alternatives** (``mu_b = 1.9`` and ``2.3``: true AUC 0.829 and 0.875, differences
  0.056 and 0.102): the share with ``p < 0.05`` is the power.

Each rate is printed with its binomial standard error (at the nominal 5% for a false
positive rate, at the observed rate for power). Goals: DeLong false positive rate
within 3 SE of 5%; McNemar's (continuity corrected, so conservative) at most 5% + 3 SE;
Holm family-wise error at most 5% + 3 SE; DeLong power at the larger effect at least 80%.
The bootstrap rows are for information (``--boot-reps`` replicates, default R).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy.special import ndtr

from afterfit.comparison import compare_predictions

ALPHA = 0.05


def draw(rng: np.random.Generator, n: int, n_pos: int, mus: list[float], noise: float):
    y = np.zeros(n, dtype=np.int64)
    y[:n_pos] = 1
    shared = rng.standard_normal(n)
    scores = {f"m{k}": mu * y + shared + noise * rng.standard_normal(n) for k, mu in enumerate(mus)}
    return y, scores


def rate(hits: int, reps: int, null: bool) -> tuple[float, float]:
    """The share of rejections and its binomial standard error: at the nominal ``ALPHA``
    for a false positive rate (the SE the goal is judged by), at the observed rate for
    power."""
    p = hits / reps
    q = ALPHA if null else p
    return p, math.sqrt(q * (1 - q) / reps)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--boot-reps", type=int, default=None)
    parser.add_argument("--n-resamples", type=int, default=500)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--n-pos", type=int, default=120)
    parser.add_argument("--mu", type=float, default=1.5)
    parser.add_argument("--effects", type=str, default="1.9,2.3")
    parser.add_argument("--noise", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    reps = args.reps
    boot_reps = min(reps, args.boot_reps if args.boot_reps is not None else reps)
    effects = [float(e) for e in args.effects.split(",")]
    scale = math.sqrt(2 * (1 + args.noise**2))
    threshold = args.mu / 2

    def auc(mu: float) -> float:
        return float(ndtr(mu / scale))

    seeds = np.random.SeedSequence(args.seed).spawn(3 + len(effects))
    start = time.perf_counter()
    print(
        f"n = {args.n} ({args.n_pos} positives), noise = {args.noise}, R = {reps} "
        f"(bootstrap rows: R = {boot_reps}, {args.n_resamples} resamples), alpha = {ALPHA}"
    )
    print(f"true AUC: a = {auc(args.mu):.4f}; b = {auc(args.mu):.4f} under the null")
    print()
    rows: list[tuple[str, float, float, str]] = []

    def compare(y, scores, tests: str, metrics: list[str], n_resamples: int):
        return compare_predictions(
            y, scores, metrics=metrics, tests=tests, n_resamples=n_resamples,
            scores_are_probabilities=False, threshold=threshold, random_state=0,
        )  # fmt: skip

    # Null: two models with the same true AUC and accuracy.
    rng = np.random.default_rng(seeds[0])
    delong = mcnemar = boot = 0
    for r in range(reps):
        y, scores = draw(rng, args.n, args.n_pos, [args.mu, args.mu], args.noise)
        frame = compare(y, scores, "auto", ["roc_auc", "accuracy"], 2).frame()
        delong += frame.loc[frame.metric == "roc_auc", "p_value"].iloc[0] < ALPHA
        mcnemar += frame.loc[frame.metric == "accuracy", "p_value"].iloc[0] < ALPHA
        if r < boot_reps:
            b = compare(y, scores, "bootstrap", ["roc_auc"], args.n_resamples).frame()
            boot += b["p_value"].iloc[0] < ALPHA
    null_rows = [
        ("null: DeLong ROC AUC, false positive rate", delong, reps, "two"),
        ("null: McNemar accuracy, false positive rate", mcnemar, reps, "max"),
        ("null: paired bootstrap ROC AUC, false positive rate", boot, boot_reps, "info"),
    ]
    rows += [(name, *rate(hits, r, True), goal) for name, hits, r, goal in null_rows]

    # Null with three models: family-wise error of Holm-adjusted DeLong tests.
    rng = np.random.default_rng(seeds[1])
    any_hit = 0
    for _ in range(reps):
        y, scores = draw(rng, args.n, args.n_pos, [args.mu] * 3, args.noise)
        frame = compare(y, scores, "auto", ["roc_auc"], 2).frame()
        any_hit += (frame["p_holm"] < ALPHA).any()
    rows.append(
        ("null, 3 models: Holm DeLong family-wise error", *rate(any_hit, reps, True), "max")
    )

    # Alternatives: power.
    for k, mu_b in enumerate(effects):
        rng = np.random.default_rng(seeds[3 + k])
        delong = boot = 0
        for r in range(reps):
            y, scores = draw(rng, args.n, args.n_pos, [args.mu, mu_b], args.noise)
            frame = compare(y, scores, "auto", ["roc_auc"], 2).frame()
            delong += frame["p_value"].iloc[0] < ALPHA
            if r < boot_reps:
                b = compare(y, scores, "bootstrap", ["roc_auc"], args.n_resamples).frame()
                boot += b["p_value"].iloc[0] < ALPHA
        label = f"AUC {auc(args.mu):.3f} vs {auc(mu_b):.3f} (+{auc(mu_b) - auc(args.mu):.3f})"
        goal = "power" if k == len(effects) - 1 else "info"
        rows.append((f"{label}: DeLong power", *rate(delong, reps, False), goal))
        rows.append((f"{label}: paired bootstrap power", *rate(boot, boot_reps, False), "info"))

    width = max(len(r[0]) for r in rows)
    print(f"{'':<{width}}  {'rate':>7}  {'SE':>6}")
    failed = False
    verdicts = []
    for name, value, se, goal in rows:
        print(f"{name:<{width}}  {value:7.3f}  {se:6.3f}")
        if goal == "two":
            ok = abs(value - ALPHA) <= 3 * se
            verdicts.append((f"{name} within 3 SE of {ALPHA}", ok))
        elif goal == "max":
            ok = value <= ALPHA + 3 * se
            verdicts.append((f"{name} at most {ALPHA} + 3 SE", ok))
        elif goal == "power":
            ok = value >= 0.8
            verdicts.append((f"{name} at least 0.80", ok))
    print()
    for text, ok in verdicts:
        failed |= not ok
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    print(f"\n{time.perf_counter() - start:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
