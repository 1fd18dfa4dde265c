"""Coverage of every metric's default 95% interval, at small and large n and near the edges.

Run from the repository root::

    .venv/bin/python benchmarks/coverage_ranges.py                 # R = 400, ~15-30 minutes
    .venv/bin/python benchmarks/coverage_ranges.py --reps 100      # quicker, noisier
    .venv/bin/python benchmarks/coverage_ranges.py --only binary --n 200

Each cell (a scenario at one n) draws R data sets from a model with known truth, calls
``evaluate_predictions`` with its defaults (``ci="auto"``: Wilson for proportions, DeLong
for ROC AUC, the stratified BCa bootstrap for the rest), and counts how often each
interval holds the true value. An interval that is not given (no spread, e.g. every
resample perfect) counts as a miss and is shown in ``no CI``. Every interval is also
checked to lie in the metric's range (:mod:`afterfit.metrics.ranges`); ``out`` counts
those that do not (it must be 0).

Binary (as ``coverage_simulation.py``, binormal, with calibrated probabilities so that log
loss and Brier score have a truth): ``n_pos = 0.4 n`` positives with a score ~ N(mu, 1),
negatives ~ N(0, 1); the probability is ``P(y = 1 | score)``, thresholded at 0.5. The
class counts are fixed, as the stratified bootstrap assumes; ``--iid`` draws each row's
class instead (a random test sample), the design Wilson's interval assumes: with fixed
counts the variance of an accuracy is smaller than binomial and Wilson over-covers.
Scenarios: ``mu = 1`` (AUC 0.76), ``AUC 0.98`` and ``accuracy 0.99`` (mu chosen so). True
values:

* TPR = Phi(mu - t), TNR = Phi(t) at the score threshold t where the probability is 0.5;
  accuracy, precision, balanced accuracy, F1, F2, MCC and Cohen's kappa from the
  population confusion matrix (pi TPR, pi (1 - TPR), (1 - pi) TNR, (1 - pi)(1 - TNR));
* ROC AUC = Phi(mu / sqrt 2); average precision, log loss and Brier score by quadrature.

Regression: ``y = x + e``, ``x ~ N(0, 1)``, ``e ~ N(0, s^2)``, prediction ``x``; true MAE
``s sqrt(2/pi)``, MSE ``s^2``, RMSE ``s``, median |e| ``s Phi^-1(0.75)``, R² and explained
variance ``1 / (1 + s^2)``. Scenarios ``R² 0.5`` and ``R² 0.99``. MAPE has no finite
truth here (``|e| / |y|`` with y near 0) and is left out.

Goal: coverage within 93-97% (the binomial SE at R = 400 is about 1.1 points).
"""

from __future__ import annotations

import argparse
import math
import os
import time
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize
from scipy.special import expit, ndtr, ndtri
from scipy.stats import norm

from afterfit.evaluation import evaluate_predictions
from afterfit.metrics.binary import BinarySuite
from afterfit.metrics.intervals import analytic_intervals
from afterfit.metrics.ranges import bounds

CONFIDENCE = 0.95
GOAL = (0.93, 0.97)
PREVALENCE = 0.4
SIZES = (50, 200, 1000)

BINARY_METRICS = (
    "accuracy", "balanced_accuracy", "precision", "recall", "specificity", "f1", "f2",
    "mcc", "cohen_kappa", "roc_auc", "average_precision", "log_loss", "brier",
)  # fmt: skip
REGRESSION_METRICS = ("mae", "rmse", "mse", "r2", "explained_variance", "median_ae")


# --------------------------------------------------------------------------------------
# Binary: binormal scores, calibrated probabilities
# --------------------------------------------------------------------------------------


def score_threshold(mu: float, pi: float) -> float:
    """The score where P(y = 1 | score) = 0.5: log-odds ``logit(pi) + mu s - mu^2 / 2``."""
    return mu / 2 - math.log(pi / (1 - pi)) / mu


def probability(s: np.ndarray | float, mu: float, pi: float) -> np.ndarray | float:
    return expit(math.log(pi / (1 - pi)) + mu * np.asarray(s) - mu * mu / 2)


def binary_truth(mu: float, pi: float = PREVALENCE) -> dict[str, float]:
    t = score_threshold(mu, pi)
    tpr, tnr = float(ndtr(mu - t)), float(ndtr(t))
    tp, fn, tn, fp = pi * tpr, pi * (1 - tpr), (1 - pi) * tnr, (1 - pi) * (1 - tnr)
    pe = (tp + fp) * (tp + fn) + (tn + fn) * (tn + fp)
    acc = tp + tn

    def fbeta(beta: float) -> float:
        b2 = beta * beta
        return (1 + b2) * tp / ((1 + b2) * tp + b2 * fn + fp)

    def precision_at(c: float) -> float:  # precision of "score > c"
        a, b = pi * ndtr(mu - c), (1 - pi) * ndtr(-c)
        return a / (a + b) if a + b > 0 else 1.0

    # AP = integral of precision over recall = E[precision(score of a positive)].
    lo, hi = -12.0, 12.0 + mu
    ap = integrate.quad(lambda c: precision_at(c) * norm.pdf(c - mu), lo, hi, limit=400)[0]

    def expect(f, centre: float) -> float:  # E[f(s)], s ~ N(centre, 1)
        return integrate.quad(lambda s: f(s) * norm.pdf(s - centre), lo, hi, limit=400)[0]

    eps = np.finfo(np.float64).eps

    def p(s):
        return float(np.clip(probability(s, mu, pi), eps, 1 - eps))

    log_loss = pi * expect(lambda s: -math.log(p(s)), mu) + (1 - pi) * expect(
        lambda s: -math.log1p(-p(s)), 0.0
    )
    brier = pi * expect(lambda s: (1 - p(s)) ** 2, mu) + (1 - pi) * expect(lambda s: p(s) ** 2, 0.0)
    return {
        "accuracy": acc,
        "balanced_accuracy": (tpr + tnr) / 2,
        "precision": tp / (tp + fp),
        "recall": tpr,
        "specificity": tnr,
        "f1": fbeta(1.0),
        "f2": fbeta(2.0),
        "mcc": (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)),
        "cohen_kappa": (acc - pe) / (1 - pe),
        "roc_auc": float(ndtr(mu / math.sqrt(2))),
        "average_precision": ap,
        "log_loss": log_loss,
        "brier": brier,
    }


def mu_for_accuracy(target: float, pi: float = PREVALENCE) -> float:
    return optimize.brentq(lambda m: binary_truth(m, pi)["accuracy"] - target, 0.5, 8.0)


def draw_binary(
    rng: np.random.Generator, n: int, mu: float, pi: float = PREVALENCE, iid: bool = False
):
    """``round(pi n)`` positives, or (``iid``) each row positive with probability ``pi``."""
    n_pos = int(rng.binomial(n, pi)) if iid else round(pi * n)
    y = np.zeros(n, dtype=np.int64)
    y[:n_pos] = 1
    s = rng.standard_normal(n)
    s[:n_pos] += mu
    perm = rng.permutation(n)
    return y[perm], np.asarray(probability(s[perm], mu, pi))


# --------------------------------------------------------------------------------------
# Regression
# --------------------------------------------------------------------------------------


def regression_truth(noise: float) -> dict[str, float]:
    r2 = 1.0 / (1.0 + noise * noise)
    return {
        "mae": noise * math.sqrt(2 / math.pi),
        "rmse": noise,
        "mse": noise * noise,
        "r2": r2,
        "explained_variance": r2,
        "median_ae": noise * float(ndtri(0.75)),
    }


def draw_regression(rng: np.random.Generator, n: int, noise: float):
    x = rng.standard_normal(n)
    return x + noise * rng.standard_normal(n), x


# --------------------------------------------------------------------------------------
# The simulation
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    task: str
    name: str
    parameter: float  # mu (binary) or the noise sd (regression)
    iid: bool = False  # binary: class counts drawn too (default: fixed, as stratified)

    def truth(self) -> dict[str, float]:
        if self.task == "binary":
            return binary_truth(self.parameter)
        return regression_truth(self.parameter)

    def draw(self, rng: np.random.Generator, n: int):
        if self.task == "binary":
            return draw_binary(rng, n, self.parameter, iid=self.iid)
        return draw_regression(rng, n, self.parameter)


def scenarios(iid: bool = False) -> list[Scenario]:
    tag = ", iid" if iid else ""
    return [
        Scenario("binary", f"mu=1 (AUC 0.76){tag}", 1.0, iid),
        Scenario("binary", f"AUC 0.98{tag}", math.sqrt(2) * float(ndtri(0.98)), iid),
        Scenario("binary", f"accuracy 0.99{tag}", mu_for_accuracy(0.99), iid),
        Scenario("regression", "R2 0.5", 1.0),
        Scenario("regression", "R2 0.99", math.sqrt(1 / 0.99 - 1)),
    ]


@dataclass
class Cell:
    """Intervals of every metric over R replicates of one scenario at one n."""

    scenario: Scenario
    n: int
    truth: dict[str, float]
    low: dict[str, np.ndarray]
    high: dict[str, np.ndarray]
    methods: dict[str, dict[str, int]]
    seconds: float

    def row(self, metric: str) -> dict[str, float | str | int]:
        lo, hi, t = self.low[metric], self.high[metric], self.truth[metric]
        given = np.isfinite(lo) & np.isfinite(hi)
        covered = given & (lo <= t) & (t <= hi)
        reps = lo.size
        c = float(covered.mean())
        a, b = bounds(metric)
        out = int(np.count_nonzero(given & ((lo < a) | (hi > b))))
        top = max(self.methods[metric].items(), key=lambda kv: kv[1])[0]
        return {
            "metric": metric, "truth": t, "coverage": c,
            "given_coverage": float(covered.sum() / given.sum()) if given.any() else math.nan,
            "se": math.sqrt(max(c * (1 - c), 1e-12) / reps),
            "miss_low": float(np.mean(given & (hi < t))),
            "miss_high": float(np.mean(given & (lo > t))),
            "no_ci": int(np.count_nonzero(~given)), "out": out,
            "width": float(np.mean((hi - lo)[given])) if given.any() else math.nan,
            "method": _short(top), "reps": reps,
        }  # fmt: skip


def _short(method: str) -> str:
    """The method without its reason: ``none (...)`` -> ``none``."""
    return method.split(" (")[0] if method.startswith("none") else method


def simulate(
    scenario: Scenario,
    n: int,
    reps: int,
    *,
    n_resamples: int = 500,
    seed: int = 20261207,
    metrics: tuple[str, ...] | None = None,
    ci: str = "auto",
    analytic_only: bool = False,
) -> Cell:
    """R seeded replicates of ``scenario`` at ``n`` rows, evaluated with ``ci``.

    ``analytic_only`` (binary): only the Wilson and DeLong intervals, straight from
    :func:`afterfit.metrics.intervals.analytic_intervals` (what ``evaluate`` uses for
    them), without the bootstrap of the rest: the cheap part, for the test suite.
    """
    names = metrics or (BINARY_METRICS if scenario.task == "binary" else REGRESSION_METRICS)
    truth = scenario.truth()
    low = {m: np.full(reps, np.nan) for m in names}
    high = {m: np.full(reps, np.nan) for m in names}
    methods: dict[str, dict[str, int]] = {m: {} for m in names}
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate resamples warn; still counted
        for r in range(reps):
            rng = np.random.default_rng(np.random.SeedSequence([seed, n, r]))
            y, s = scenario.draw(rng, n)
            task = scenario.task
            if analytic_only:
                suite = BinarySuite(y, s, threshold=0.5, probabilities=True)
                found = analytic_intervals(suite, CONFIDENCE)
                for m in names:
                    low[m][r], high[m][r], method = found[(m, None)]
                    methods[m][method] = methods[m].get(method, 0) + 1
                continue
            ev = evaluate_predictions(
                y, s, task=task, ci=ci, n_resamples=n_resamples, confidence=CONFIDENCE,
                random_state=r, **({"threshold": 0.5} if task == "binary" else {}),
            )  # fmt: skip
            for m in names:
                row = ev.metrics[m]
                low[m][r], high[m][r] = row.ci_low, row.ci_high
                methods[m][row.method] = methods[m].get(row.method, 0) + 1
    return Cell(scenario, n, truth, low, high, methods, time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=400, help="replicates per cell (400)")
    parser.add_argument("--n-resamples", type=int, default=500, help="bootstrap resamples")
    parser.add_argument("--n", type=int, nargs="*", default=list(SIZES), help="row counts")
    parser.add_argument("--only", choices=("binary", "regression"), default=None)
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument(
        "--iid", action="store_true",
        help="binary: draw the class of each row (default: fixed class counts)",
    )  # fmt: skip
    args = parser.parse_args()

    print(
        f"{CONFIDENCE:.0%} intervals, ci='auto' (Wilson, DeLong, stratified BCa bootstrap "
        f"B={args.n_resamples}); R={args.reps} per cell; seed {args.seed}; "
        f"{os.cpu_count()} CPUs. Goal: coverage {GOAL[0]:.0%}-{GOAL[1]:.0%}."
    )
    header = ("scenario", "n", "metric", "truth", "coverage", "SE", "cov|CI", "miss low",
              "miss high", "no CI", "out", "width", "method", "")  # fmt: skip
    rows, misses = [], []
    for sc in scenarios(args.iid):
        if args.only and sc.task != args.only:
            continue
        for n in args.n:
            cell = simulate(sc, n, args.reps, n_resamples=args.n_resamples, seed=args.seed)
            for m in cell.low:
                r = cell.row(m)
                ok = GOAL[0] <= r["coverage"] <= GOAL[1]
                flag = "" if ok else ("LOW" if r["coverage"] < GOAL[0] else "HIGH")
                if not ok:
                    misses.append(f"{sc.name}, n={n}, {m}: {r['coverage']:.1%} ({r['method']})")
                rows.append(
                    (sc.name, str(n), m, f"{r['truth']:.4f}", f"{r['coverage']:.1%}",
                     f"{r['se']:.1%}", f"{r['given_coverage']:.1%}", f"{r['miss_low']:.1%}",
                     f"{r['miss_high']:.1%}",
                     str(r["no_ci"]), str(r["out"]), f"{r['width']:.4f}", r["method"], flag)
                )  # fmt: skip
            print(f"  {sc.name}, n={n}: {cell.seconds:.0f} s", flush=True)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:{'<' if i in (0, 2, 12) else '>'}{w}}}" for i, w in enumerate(widths))
    print()
    print(fmt.format(*header))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(fmt.format(*r))
    print(
        "\n'cov|CI': coverage among the samples that got an interval; 'miss low': interval "
        "entirely below the truth; 'miss high': entirely above; "
        "'no CI': no interval given (counted as a miss); 'out': an end outside the metric's "
        "range (must be 0); 'method': the most frequent one."
    )
    print(f"\n== Summary: {len(rows) - len(misses)} of {len(rows)} cells within the goal ==")
    for line in misses:
        print(f"OUTSIDE GOAL {line}")


if __name__ == "__main__":
    main()
