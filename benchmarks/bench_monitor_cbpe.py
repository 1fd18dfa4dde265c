"""Monitor with CBPE and multivariate drift on a big log, and the two simulations behind
their claims.

Run from the repository root::

    .venv/bin/python benchmarks/bench_monitor_cbpe.py                 # 1,000,000 x 20
    .venv/bin/python benchmarks/bench_monitor_cbpe.py --quick         # 100,000 x 20, fewer runs
    .venv/bin/python benchmarks/bench_monitor_cbpe.py --skip-simulations

Data (generated first, not timed): 20 numeric features, a logistic model with a sigmoid
calibration map (afterfit.calibration.calibrate), bundled with the Python API. The log
is a Parquet file of ``--rows`` rows over five days as the server writes it (``ts``,
``request_id``, ``model_version``, features, ``proba_0``/``proba_1``, ``decision``);
from day three, features f0 and f1 become correlated (no marginal changes) and the
inputs shift along f0 (covariate shift: P(y | x) unchanged).

Timed: ``monitor_bundle(bundle, log, window="1d", estimate=True, multivariate=True,
reference_data=train_rows)`` in this process: the streaming per-feature drift, CBPE per
window (200 label draws per interval) and the domain classifier on the whole log and on
each day, each on a seeded subsample of at most 10,000 rows per side (the interval is
the subsample's, and the result says how many rows were used).

Simulations (``--runs``):

- **CBPE coverage**: windows of 2,000 rows under growing covariate shift with the true
  ``P(y | x)`` as the calibrated model; the share of windows whose realised metric lies
  in the 95% interval, per metric (claimed: at least 90%).
- **Multivariate false alarms**: reference and current drawn from the same distribution
  (1,000 rows each, 20 features with correlations); the share flagged at alpha 0.05
  (claimed: at most 5%, plus simulation error).
- **Multivariate power**: the same with the correlation of f0 and f1 changed from 0 to
  0.6 while KS on every marginal stays quiet: the share found.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

DAY = 86_400.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
N_FEATURES = 20


def _features(n: int, rng: np.random.Generator, *, rho: float = 0.0, shift: float = 0.0):
    X = rng.normal(size=(n, N_FEATURES))
    X[:, 1] = rho * X[:, 0] + np.sqrt(1 - rho**2) * X[:, 1]
    X[:, 0] += shift
    return pd.DataFrame(X.astype(np.float32), columns=[f"f{i}" for i in range(N_FEATURES)])


def _p_true(X: pd.DataFrame) -> np.ndarray:
    z = 1.2 * X["f0"] - 0.8 * X["f2"] + 0.5 * X["f3"] - 0.2
    return 1.0 / (1.0 + np.exp(-z.to_numpy(np.float64)))


def _build(tmp: Path, rows: int, rng: np.random.Generator):
    from sklearn.linear_model import LogisticRegression

    from afterfit.bundle.core import build_bundle
    from afterfit.calibration import calibrate

    train = _features(20_000, rng)
    y = (rng.random(len(train)) < _p_true(train)).astype(int)
    model = LogisticRegression(C=0.001, max_iter=500).fit(train[:10_000], y[:10_000])
    cal = calibrate(model, train[10_000:], y[10_000:], method="sigmoid")
    bundle = build_bundle(cal, train, y, out=tmp / "bench-1.0", name="bench", version="1.0")
    parts = []
    per_day = rows // 5
    for day in range(5):
        drift = day >= 2
        X = _features(per_day, rng, rho=0.6 if drift else 0.0, shift=0.3 if drift else 0.0)
        preds = bundle.predict_frame(X, validate=False)
        parts.append(
            X.assign(
                ts=T0 + day * DAY + np.sort(rng.random(per_day)) * (DAY - 1),
                request_id=[f"{day}-{i}" for i in range(per_day)],
                model_version="1.0",
                proba_0=preds.proba[:, 0],
                proba_1=preds.proba[:, 1],
                decision=preds.decision,
            )
        )
    log = pd.concat(parts, ignore_index=True)
    log.to_parquet(tmp / "log.parquet", index=False, row_group_size=250_000)
    return bundle, train


def bench(rows: int) -> float:
    from afterfit.monitoring.core import monitor_bundle

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="afterfit-bench-cbpe-") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        bundle, train = _build(tmp, rows, rng)
        print(f"data: {rows:,} logged rows x {N_FEATURES} features "
              f"({time.perf_counter() - t:.1f} s to generate, not timed)")  # fmt: skip
        t = time.perf_counter()
        res = monitor_bundle(
            bundle, str(tmp / "log.parquet"), window="1d", estimate=True, multivariate=True,
            reference_data=train,
        )  # fmt: skip
        wall = time.perf_counter() - t
    est, mv = res.estimated, res.multivariate
    print(f"monitor with CBPE and multivariate drift: {wall:.1f} s "
          f"({rows / wall:,.0f} rows/s)")  # fmt: skip
    print(f"  per-feature drift flagged: {', '.join(res.drifted) or 'none'}")
    for label, e in est.windows:
        print(f"  CBPE {label}: roc_auc {e.estimated['roc_auc']:.3f} "
              f"[{e.low['roc_auc']:.3f}, {e.high['roc_auc']:.3f}], accuracy "
              f"{e.estimated['accuracy']:.3f}")  # fmt: skip
    for label, r, _ in mv.windows:
        if r is not None:
            print(f"  multivariate {label}: AUC {r.auc:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}] "
                  f"on {r.n_used_reference:,}+{r.n_used_current:,} rows, p {r.p_value:.2g}, "
                  f"top {', '.join(r.top_features[:3])}"
                  + (" DRIFT" if label in mv.flagged else ""))  # fmt: skip
    return wall


def coverage(runs: int) -> dict[str, float]:
    from afterfit.monitoring.cbpe import BINARY_METRICS, estimate_performance

    rng = np.random.default_rng(1)
    hits = {m: [] for m in BINARY_METRICS}
    for w in range(runs):
        X = _features(2000, rng, shift=-1.0 + 2.0 * w / max(runs - 1, 1))
        p = _p_true(X)
        y = (rng.random(p.size) < p).astype(int)
        est = estimate_performance(p, (p >= 0.5).astype(int), classes=[0, 1], y_true=y,
                                   random_state=w)  # fmt: skip
        for m in BINARY_METRICS:
            c = est.covered(m)
            if c is not None:
                hits[m].append(c)
    return {m: float(np.mean(v)) for m, v in hits.items()}


def multivariate_rates(runs: int) -> tuple[float, float]:
    from scipy import stats

    from afterfit.monitoring.multivariate import multivariate_drift

    rng = np.random.default_rng(2)
    false_alarms, found, ks_found = 0, 0, 0
    for r in range(runs):
        a, b = _features(1000, rng, rho=0.3), _features(1000, rng, rho=0.3)
        false_alarms += multivariate_drift(a, b, random_state=r).drifted
        c = _features(1000, rng, rho=0.6)
        a0 = _features(1000, rng, rho=0.0)
        found += multivariate_drift(a0, c, random_state=r).drifted
        ks_found += any(stats.ks_2samp(a0[f], c[f]).pvalue < 0.05 / N_FEATURES for f in a0)
    print(f"  per-feature KS (Bonferroni) found the correlation change in {ks_found}/{runs}")
    return false_alarms / runs, found / runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-simulations", action="store_true")
    args = parser.parse_args(argv)
    rows, runs = (100_000, 20) if args.quick else (args.rows, args.runs)
    wall = bench(rows)
    if not args.skip_simulations:
        cov = coverage(runs)
        print(f"CBPE coverage of the 95% interval over {runs} windows: "
              + ", ".join(f"{m} {v:.1%}" for m, v in cov.items()))  # fmt: skip
        fa, power = multivariate_rates(runs)
        print(f"multivariate drift over {runs} runs: false alarms {fa:.1%} (alpha 5%), "
              f"correlation change found {power:.1%}")  # fmt: skip
    return 0 if wall < 60 else 1


if __name__ == "__main__":
    sys.exit(main())
