"""Speed and memory of afterfit's binary metrics against scikit-learn.

Run from the repository root::

    .venv/bin/python benchmarks/bench_metrics.py          # full run, a few minutes
    .venv/bin/python benchmarks/bench_metrics.py --quick  # every size 10x smaller

Three figures, each measured in this one run, side by side:

a. the whole binary suite (13 metrics, ROC / PR / calibration curves, confusion matrix) at
   n = 2,000,000 against the equivalent scikit-learn calls, and against one stable
   ``np.argsort`` of the scores;
b. a 1000-resample bootstrap of 8 metrics at n = 100,000 against a loop of scikit-learn
   calls on resampled rows (and a check that the percentile intervals agree);
c. peak memory of the suite at n = 10,000,000 against the size of its input.

The last lines say PASS or FAIL for each goal (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from afterfit.evaluation import evaluate_predictions
from afterfit.metrics.binary import BinarySuite
from afterfit.metrics.resampling import bootstrap

REPEATS = 3
#: Bootstrap: resamples, and how many of them the (slow) scikit-learn loop is timed on.
N_RESAMPLES = 1000
SKLEARN_TIMED_RESAMPLES = 50
#: The 8 bootstrapped metrics: afterfit name -> scikit-learn call on (y, score, label).
BOOT_METRICS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], float]] = {
    "roc_auc": lambda y, s, p: skm.roc_auc_score(y, s),
    "average_precision": lambda y, s, p: skm.average_precision_score(y, s),
    "f1": lambda y, s, p: skm.f1_score(y, p),
    "accuracy": lambda y, s, p: skm.accuracy_score(y, p),
    "precision": lambda y, s, p: skm.precision_score(y, p),
    "recall": lambda y, s, p: skm.recall_score(y, p),
    "log_loss": lambda y, s, p: skm.log_loss(y, s),
    "brier": lambda y, s, p: skm.brier_score_loss(y, s),
}

GOALS: list[tuple[str, bool, str]] = []


def goal(name: str, ok: bool, text: str) -> None:
    GOALS.append((name, ok, text))


def best_of(fn: Callable[[], Any], repeats: int = REPEATS) -> tuple[float, Any]:
    """Best wall time of ``repeats`` calls, and the last result."""
    best, out = np.inf, None
    for _ in range(repeats):
        out = None
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random probabilities (half of them rounded to 4 decimals, so with many ties) and
    labels drawn as Bernoulli(score): int64 labels, float64 scores."""
    rng = np.random.default_rng(seed)
    s = rng.random(n)
    half = rng.random(n) < 0.5
    s[half] = np.round(s[half], 4)
    y = (rng.random(n) < s).astype(np.int64)
    return y, s


def table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*header), line, *(fmt.format(*r) for r in rows)])


def sec(t: float) -> str:
    return f"{t:.3f} s"


# --------------------------------------------------------------------------- a. suite


def sklearn_suite(y: np.ndarray, s: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """Everything ``evaluate_predictions(..., ci="none")`` reports, the scikit-learn way."""
    p = (s > threshold).astype(np.int64)
    return {
        "accuracy": skm.accuracy_score(y, p),
        "balanced_accuracy": skm.balanced_accuracy_score(y, p),
        "precision": skm.precision_score(y, p),
        "recall": skm.recall_score(y, p),
        "specificity": skm.recall_score(y, p, pos_label=0),
        "f1": skm.f1_score(y, p),
        "f2": skm.fbeta_score(y, p, beta=2),
        "mcc": skm.matthews_corrcoef(y, p),
        "cohen_kappa": skm.cohen_kappa_score(y, p),
        "roc_auc": skm.roc_auc_score(y, s),
        "average_precision": skm.average_precision_score(y, s),
        "log_loss": skm.log_loss(y, s),
        "brier": skm.brier_score_loss(y, s),
        "confusion": skm.confusion_matrix(y, p),
        "roc_curve": skm.roc_curve(y, s),
        "pr_curve": skm.precision_recall_curve(y, s),
        "calibration_curve": calibration_curve(y, s, n_bins=10),
    }


def bench_suite(n: int) -> None:
    print(f"\n== a. Full binary suite, n = {n:,} (ci='none'), best of {REPEATS} ==")
    y, s = make_data(n)
    t_sort, _ = best_of(lambda: np.argsort(s, kind="stable"))
    t_af, ev = best_of(lambda: evaluate_predictions(y, s, task="binary", ci="none"))
    t_sk, sk = best_of(lambda: sklearn_suite(y, s))

    # The two must agree, or the comparison means nothing.
    af = {r.metric: r.value for r in ev.metrics.overall()}
    worst = max(abs(af[k] - sk[k]) for k in af)
    cm_ok = np.array_equal(ev.confusion.counts, sk["confusion"])
    cal = ev.calibration
    nonempty = cal.weight > 0
    prob_true, prob_pred = sk["calibration_curve"]
    worst_cal = max(
        np.abs(cal.fraction_positive[nonempty] - prob_true).max(),
        np.abs(cal.mean_predicted[nonempty] - prob_pred).max(),
    )
    print(
        table(
            [
                ("afterfit evaluate_predictions", sec(t_af), "1.00"),
                ("scikit-learn (17 calls)", sec(t_sk), f"{t_sk / t_af:.2f}"),
                ('np.argsort(s, kind="stable")', sec(t_sort), f"{t_sort / t_af:.2f}"),
            ],
            ("", "time", "time / afterfit"),
        )
    )
    print(
        f"largest |afterfit - sklearn| over the 13 metrics: {worst:.2e}; "
        f"confusion matrices equal: {cm_ok}; calibration curve: {worst_cal:.2e}"
    )
    goal(
        "suite speed-up vs scikit-learn",
        t_sk / t_af >= 10,
        f"{t_sk / t_af:.1f}x vs goal >= 10x (n={n:,})",
    )
    goal(
        "suite time / stable argsort",
        t_af / t_sort <= 2,
        f"{t_af / t_sort:.2f}x vs goal <= 2x (n={n:,})",
    )
    goal(
        "suite agrees with scikit-learn",
        worst < 1e-9 and worst_cal < 1e-9 and cm_ok,
        f"max diff {max(worst, worst_cal):.1e} (13 metrics, calibration curve), "
        f"confusion matrix {'equal' if cm_ok else 'DIFFERS'}",
    )


# ----------------------------------------------------------------------- b. bootstrap


def sklearn_bootstrap(
    y: np.ndarray, s: np.ndarray, n_resamples: int, seed: int, names: list[str]
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = y.size
    out = {k: np.empty(n_resamples) for k in names}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for b in range(n_resamples):
            idx = rng.integers(0, n, n)
            yb, sb = y[idx], s[idx]
            pb = (sb > 0.5).astype(np.int64)
            for k in names:
                out[k][b] = BOOT_METRICS[k](yb, sb, pb)
    return out


def bench_bootstrap(n: int) -> None:
    B = N_RESAMPLES
    print(f"\n== b. Bootstrap, B = {B}, n = {n:,}, 8 metrics (percentile, unstratified) ==")
    y, s = make_data(n, seed=1)

    def full() -> Any:
        return evaluate_predictions(
            y, s, task="binary", ci="bootstrap", n_resamples=B,
            bootstrap_method="percentile", stratify=False, random_state=0,
        )  # fmt: skip

    def low_level() -> Any:
        suite = BinarySuite(y, s, None, threshold=0.5, probabilities=True)
        return bootstrap(
            suite, n_resamples=B, stratify=False, jackknife=False, bands=False, random_state=0
        )

    t_full, ev = best_of(full)
    t_low, draws = best_of(low_level)
    names = list(BOOT_METRICS)
    m = SKLEARN_TIMED_RESAMPLES
    t0 = time.perf_counter()
    sklearn_bootstrap(y, s, m, seed=12345, names=names)
    t_sk = (time.perf_counter() - t0) * (B / m)
    print(
        table(
            [
                ("afterfit evaluate_predictions(ci='bootstrap')", sec(t_full), "1.00"),
                ("afterfit bootstrap(suite, bands=False)", sec(t_low), f"{t_low / t_full:.2f}"),
                (f"scikit-learn loop, 8 calls x {B} *", sec(t_sk), f"{t_sk / t_full:.1f}"),
            ],
            ("", "time", "time / afterfit full"),
        )
    )
    print(
        f"* the scikit-learn loop was timed on {m} resamples and scaled x{B // m} "
        f"(one run; afterfit: best of {REPEATS})."
    )
    print(
        f"speed-up: {t_sk / t_full:.0f}x (whole evaluation, with curve bands), "
        f"{t_sk / t_low:.0f}x (bootstrap of the suite alone)"
    )

    # Intervals: afterfit's replicates against scikit-learn's own resampling loop over all
    # B resamples. That loop is long (about 40 ms a resample), so it runs for ROC AUC only.
    check = ["roc_auc"]
    t0 = time.perf_counter()
    sk_reps = sklearn_bootstrap(y, s, B, seed=2024, names=check)
    t_check = time.perf_counter() - t0
    rows = []
    agree = True
    for k in check:
        af_lo, af_hi = ev.metrics[k].ci_low, ev.metrics[k].ci_high
        sk_lo, sk_hi = np.quantile(sk_reps[k], [0.025, 0.975])
        sd = float(np.std(draws.replicates[(k, None)], ddof=1))
        # Monte Carlo SE of a 2.5% quantile from B normal draws is about 0.085 sd; the
        # difference of two independent ones about 0.12 sd. Allow 3 of those.
        tol = 3 * np.sqrt(2) * np.sqrt(0.025 * 0.975 / B) / 0.05845 * sd
        diff = max(abs(af_lo - sk_lo), abs(af_hi - sk_hi))
        agree &= diff <= tol
        rows.append(
            (
                k,
                f"[{af_lo:.5f}, {af_hi:.5f}]",
                f"[{sk_lo:.5f}, {sk_hi:.5f}]",
                f"{sd:.5f}",
                f"{diff:.5f}",
                f"{tol:.5f}",
            )
        )
    print(
        f"95% percentile intervals, B = {B} each, independent seeds "
        f"(the scikit-learn loop over all {B}: {t_check:.0f} s)"
    )
    print(table(rows, ("metric", "afterfit", "scikit-learn loop", "boot sd", "max |diff|", "tol")))
    goal(
        "bootstrap speed-up vs scikit-learn loop",
        t_sk / t_full >= 50,
        f"{t_sk / t_full:.0f}x (bootstrap alone {t_sk / t_low:.0f}x) vs goal >= 50x "
        f"(n={n:,}, B={B})",
    )
    goal(
        "bootstrap intervals agree with scikit-learn loop",
        bool(agree),
        "AUC endpoints within 3 Monte Carlo SE of each other",
    )


# -------------------------------------------------------------------------- c. memory


def rss_now() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_child(n: int) -> None:
    """Run in a fresh process: RSS first (no tracemalloc), then tracemalloc."""
    y, s = make_data(n, seed=2)
    gc.collect()
    before = rss_now()
    evaluate_predictions(y, s, task="binary", ci="none")
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    ev = evaluate_predictions(y, s, task="binary", ci="none")
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del ev
    out = {
        "input": y.nbytes + s.nbytes,
        "peak_new": peak - base,
        "retained": current - base,
        "rss_delta": peak_rss - before,
    }
    print(json.dumps(out))


def bench_memory(n: int) -> None:
    print(f"\n== c. Peak memory of the suite, n = {n:,} (ci='none') ==")
    res = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(n)],
        check=True,
        capture_output=True,
        text=True,
    )
    r = json.loads(res.stdout.strip().splitlines()[-1])
    mb = 2.0**20
    ratio = r["peak_new"] / r["input"]
    print(
        table(
            [
                ("input: y (int64) + s (float64)", f"{r['input'] / mb:,.0f} MiB", "1.00"),
                ("tracemalloc peak of new allocations", f"{r['peak_new'] / mb:,.0f} MiB",
                 f"{ratio:.2f}"),
                ("  of which held by the result", f"{r['retained'] / mb:,.0f} MiB",
                 f"{r['retained'] / r['input']:.2f}"),
                ("max RSS - RSS before the call", f"{r['rss_delta'] / mb:,.0f} MiB",
                 f"{r['rss_delta'] / r['input']:.2f}"),
            ],
            ("", "memory", "x input"),
        )
    )  # fmt: skip
    print("(measured in a fresh process; the RSS figure is from a call without tracemalloc)")
    goal("suite peak memory / input", ratio < 3, f"{ratio:.2f}x vs goal < 3x (n={n:,})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every n 10x smaller")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    scale = 10 if args.quick else 1
    t0 = time.perf_counter()
    import sklearn

    print(
        f"numpy {np.__version__}, scikit-learn {sklearn.__version__}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
        f"{', --quick (n / 10)' if args.quick else ''}"
    )
    bench_suite(2_000_000 // scale)
    bench_bootstrap(100_000 // scale)
    bench_memory(10_000_000 // scale)
    print(
        f"\n== Summary ({time.perf_counter() - t0:.0f} s; load average now "
        f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs: other processes skew timings) =="
    )
    for name, ok, text in GOALS:
        print(f"{'PASS' if ok else 'FAIL'} {name}: {text}")


if __name__ == "__main__":
    main()
