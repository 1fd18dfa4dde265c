"""Coverage of afterfit's 95% intervals, by simulation from a model with known truth.

Run from the repository root::

    .venv/bin/python benchmarks/coverage_simulation.py              # R = 1000, ~2-3 minutes
    .venv/bin/python benchmarks/coverage_simulation.py --reps 200   # quicker, noisier

Binormal data: ``n_pos`` positives with score ~ N(mu, 1) and ``n - n_pos`` negatives with
score ~ N(0, 1). The score is the normal value itself (a decision score, not a
probability), so the evaluation is called with ``scores_are_probabilities=False`` and
``threshold = mu / 2``. The number of positives is fixed (120 of 300) so that a stratified
bootstrap, which keeps the class counts, estimates a well-defined quantity. Then:

* true ROC AUC = Phi(mu / sqrt(2));
* at threshold mu/2, recall = specificity = Phi(mu/2), so the true accuracy (prevalence-
  weighted: 0.4 recall + 0.6 specificity) and the balanced accuracy are Phi(mu/2) too;
* true precision = pi Phi(mu/2) / (pi Phi(mu/2) + (1 - pi) (1 - Phi(mu/2))), pi = n_pos / n.

Each replicate draws a fresh data set (seeded) and checks whether each 95% interval holds
the true value. Goal: coverage within 93-97% for the DeLong AUC interval and the Wilson
accuracy interval (``ci="auto"``) and the BCa bootstrap AUC interval (``ci="bootstrap"``,
500 resamples, stratified). Other rows are printed for information (no goal).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
from scipy.special import ndtr

from afterfit.evaluation import evaluate_predictions

CONFIDENCE = 0.95
GOAL = (0.93, 0.97)


def true_values(mu: float, prevalence: float) -> dict[str, float]:
    q = float(ndtr(mu / 2))  # recall = specificity at threshold mu/2
    return {
        "roc_auc": float(ndtr(mu / np.sqrt(2))),
        "accuracy": prevalence * q + (1 - prevalence) * q,
        "balanced_accuracy": q,
        "recall": q,
        "specificity": q,
        "precision": prevalence * q / (prevalence * q + (1 - prevalence) * (1 - q)),
    }


def draw(rng: np.random.Generator, n: int, n_pos: int, mu: float):
    y = np.zeros(n, dtype=np.int64)
    y[:n_pos] = 1
    s = rng.standard_normal(n)
    s[:n_pos] += mu
    perm = rng.permutation(n)
    return y[perm], s[perm]


def simulate(
    mode: str,
    metrics: list[str],
    reps: int,
    args: argparse.Namespace,
) -> tuple[dict[str, np.ndarray], float]:
    """Intervals of ``metrics`` for ``reps`` data sets: ``{metric: (reps, 2)}``, seconds."""
    out = {m: np.empty((reps, 2)) for m in metrics}
    kwargs: dict = {"ci": "auto"}
    if mode == "bootstrap":
        kwargs = {
            "ci": "bootstrap",
            "n_resamples": args.n_resamples,
            "bootstrap_method": "bca",
            "stratify": True,
        }
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a rare degenerate resample warns; still counted
        for r in range(reps):
            # The same data set for replicate r in both modes.
            rng = np.random.default_rng(np.random.SeedSequence([args.seed, r]))
            y, s = draw(rng, args.n, args.n_pos, args.mu)
            ev = evaluate_predictions(
                y, s, task="binary", scores_are_probabilities=False,
                threshold=args.mu / 2, confidence=CONFIDENCE, random_state=r, **kwargs,
            )  # fmt: skip
            for m in metrics:
                row = ev.metrics[m]
                out[m][r] = row.ci_low, row.ci_high
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000, help="replicates R (default 1000)")
    parser.add_argument(
        "--boot-reps", type=int, default=None, help="replicates for the bootstrap (default R)"
    )
    parser.add_argument("--n-resamples", type=int, default=500, help="bootstrap resamples")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--n-pos", type=int, default=120)
    parser.add_argument("--mu", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()
    boot_reps = args.reps if args.boot_reps is None else args.boot_reps
    truth = true_values(args.mu, args.n_pos / args.n)

    print(
        f"Binormal: {args.n_pos} positives ~ N({args.mu:g}, 1), {args.n - args.n_pos} "
        f"negatives ~ N(0, 1); threshold {args.mu / 2:g}; {CONFIDENCE:.0%} intervals; "
        f"seed {args.seed}; {os.cpu_count()} CPUs"
    )
    print("true values: " + ", ".join(f"{k} {v:.5f}" for k, v in truth.items()))

    auto_metrics = ["roc_auc", "accuracy", "recall", "specificity", "precision"]
    boot_metrics = ["roc_auc", "accuracy", "balanced_accuracy", "recall", "precision"]
    auto, t_auto = simulate("auto", auto_metrics, args.reps, args)
    boot, t_boot = simulate("bootstrap", boot_metrics, boot_reps, args)

    goals = {
        ("auto", "roc_auc"): "DeLong AUC",
        ("auto", "accuracy"): "Wilson accuracy",
        ("bootstrap", "roc_auc"): f"bootstrap BCa AUC (B={args.n_resamples}, stratified)",
    }
    rows, summary = [], []
    for mode, results in (("auto", auto), ("bootstrap", boot)):
        for m, ci in results.items():
            t = truth[m]
            ok = np.isfinite(ci).all(axis=1)
            reps = ci.shape[0]
            covered = ok & (ci[:, 0] <= t) & (t <= ci[:, 1])
            c = covered.mean()
            se = np.sqrt(c * (1 - c) / reps)
            below = np.mean(ok & (ci[:, 1] < t))  # interval entirely below the truth
            above = np.mean(ok & (ci[:, 0] > t))
            width = np.nanmean(ci[:, 1] - ci[:, 0])
            method = "ci='auto'" if mode == "auto" else "ci='bootstrap'"
            name = goals.get((mode, m))
            flag = ("goal" if name else "info") if ok.all() else f"{(~ok).sum()} undefined"
            rows.append(
                (method, m, f"{reps}", f"{c:.1%}", f"{se:.1%}", f"{below:.1%}",
                 f"{above:.1%}", f"{width:.4f}", flag)
            )  # fmt: skip
            if name:
                passed = GOAL[0] <= c <= GOAL[1]
                summary.append(
                    f"{'PASS' if passed else 'FAIL'} coverage {name}: {c:.1%} "
                    f"(binomial SE {se:.1%}, R={reps}) vs goal {GOAL[0]:.0%}-{GOAL[1]:.0%}"
                )

    header = ("mode", "metric", "R", "coverage", "SE", "miss low", "miss high", "width", "")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:{'<' if i < 2 else '>'}{w}}}" for i, w in enumerate(widths))
    print()
    print(fmt.format(*header))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(fmt.format(*r))
    print(
        "\n'miss low': interval entirely below the true value; 'miss high': entirely above. "
        "Only the 'goal' rows are judged."
    )
    print(
        f"time: ci='auto' {t_auto:.0f} s for {args.reps} reps (it also bootstraps the other "
        f"metrics, 1000 resamples); ci='bootstrap' {t_boot:.0f} s for {boot_reps} reps"
        + (f" (fewer bootstrap reps than R={args.reps})" if boot_reps < args.reps else "")
    )
    print("\n== Summary ==")
    for line in summary:
        print(line)


if __name__ == "__main__":
    main()
