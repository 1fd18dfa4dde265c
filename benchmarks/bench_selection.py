"""Tuning: tuned versus default on held-out rows, trials, wall time, the speed-up of two
worker processes over one, and an ensemble of the best trials.

Run from the repository root::

    .venv/bin/python benchmarks/bench_selection.py            # full: 100,000 synthetic rows
    .venv/bin/python benchmarks/bench_selection.py --quick    # 20,000 rows, fewer trials

Data (each split 75/25 into training and test rows, stratified, seeded):

- scikit-learn's breast cancer (569 rows, binary, ROC AUC) and digits (1,797 rows, 10
  classes, accuracy): ``StandardScaler + SVC(probability=True)``, its built-in space (C,
  gamma);
- ``make_classification`` with 100,000 rows (``--quick``: 20,000), 20 features (8
  informative): ``HistGradientBoostingClassifier`` (built-in space: learning rate,
  iterations, leaves, leaf size, L2), ROC AUC.

For each: ``afterfit.selection.tune.tune`` (TPE, median pruning, 5 folds; 3 on the large
data) on the training rows; the default and the tuned model refitted on all training rows
are compared on the test rows with afterfit's paired comparison (``compare_models``,
bootstrap interval of the difference). Prints the test score of each with its interval,
the difference with its interval, trials complete/pruned and wall time.

Speed-up: the same study (random sampler, no pruning, so both do identical work) run with
1 and with 2 worker processes on a SQLite file, after an untimed warm-up that starts the
workers. Estimators are single-threaded (``OMP_NUM_THREADS=1``) so the processes are the
only parallelism; goal >= 1.7x on a 2-core machine.

Ensemble: greedy ensemble selection (``afterfit.selection.ensemble.build_ensemble``,
Caruana et al. 2004) over the 5 best trials of breast cancer and digits, refitted on 80%
of the training rows and selected on the other 20%; its gain over the best single one on
the test rows, with the paired interval (goal: beats or ties).
"""

from __future__ import annotations

import os

# Single-threaded estimators: the worker processes are the parallelism being measured.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_digits, make_classification  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.svm import SVC  # noqa: E402

from afterfit.comparison import compare_models  # noqa: E402
from afterfit.selection.tune import tune  # noqa: E402


def datasets(n_large: int) -> list[tuple[str, object, object, object, str, int]]:
    svc = make_pipeline(StandardScaler(), SVC(probability=True, random_state=0))
    X1, y1 = load_breast_cancer(return_X_y=True)
    X2, y2 = load_digits(return_X_y=True)
    X3, y3 = make_classification(n_large, 20, n_informative=8, random_state=0)
    hgb = HistGradientBoostingClassifier(random_state=0)
    return [
        ("breast cancer", svc, X1, y1, "roc_auc", 5),
        ("digits", svc, X2, y2, "accuracy", 5),
        (f"synthetic {n_large:,}", hgb, X3, y3, "roc_auc", 3),
    ]


def interval(low: float, high: float) -> str:
    return f"[{low:.4f}, {high:.4f}]"


def tuned_vs_default(name, est, X, y, metric, folds, n_trials, resamples) -> dict:
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    start = time.perf_counter()
    res = tune(est, X_tr, y_tr, n_trials=n_trials, cv=folds, metric=metric, random_state=0)
    wall = time.perf_counter() - start
    default = clone(est).fit(X_tr, y_tr)
    cmp = compare_models({"default": default, "tuned": res.best_estimator}, X_te, y_te,
                         metrics=[metric], n_resamples=resamples, random_state=0)  # fmt: skip
    row = cmp.rows[0]
    by_model = {m.model: m for m in cmp.model_metrics if m.metric == metric}
    d, t = by_model["default"], by_model["tuned"]
    sign = "tuned - default" if row.model_a == "default" else "default - tuned"
    print(f"{name:>18}  {metric:>8}  default {d.value:.4f} {interval(d.ci_low, d.ci_high)}"
          f"  tuned {t.value:.4f} {interval(t.ci_low, t.ci_high)}  {sign} {row.difference:+.4f}"
          f" {interval(row.ci_low, row.ci_high)}  CV best {res.best_score:.4f} "
          f"{interval(res.ci_low, res.ci_high)}  trials {res.n_complete}+{res.n_pruned}"
          f" pruned  {wall:.1f} s")  # fmt: skip
    return {"result": res, "split": (X_tr, X_te, y_tr, y_te)}


def speedup(X, y, n_trials: int, rounds: int) -> None:
    est = HistGradientBoostingClassifier(max_iter=100, random_state=0)
    space = {"learning_rate": {"type": "float", "low": 0.02, "high": 0.3, "log": True},
             "max_leaf_nodes": {"type": "int", "low": 8, "high": 64, "log": True}}  # fmt: skip
    folder = tempfile.mkdtemp(prefix="bench-tune-")

    def once(workers: int, tag: str) -> float:
        url = f"sqlite:///{folder}/{tag}.db"
        start = time.perf_counter()
        tune(est, X, y, space=space, n_trials=n_trials, cv=3, sampler="random", pruner="none",
             storage=url, workers=workers, random_state=0, refit=False)  # fmt: skip
        return time.perf_counter() - start

    once(2, "warmup")  # starts the worker processes and their imports
    best = {1: np.inf, 2: np.inf}
    for r in range(rounds):
        for w in (1, 2):
            best[w] = min(best[w], once(w, f"w{w}-r{r}"))
    ratio = best[1] / best[2]
    verdict = "PASS" if ratio >= 1.7 else "below goal"
    print(f"speed-up, {n_trials} trials x 3 folds on {len(y):,} rows: 1 worker "
          f"{best[1]:.1f} s, 2 workers {best[2]:.1f} s -> {ratio:.2f}x (goal >= 1.7x: "
          f"{verdict}; best of {rounds})")  # fmt: skip


def ensemble_line(name: str, out: dict, k: int, resamples: int) -> None:
    from afterfit.selection.ensemble import build_ensemble

    res = out["result"]
    X_tr, X_te, y_tr, y_te = out["split"]
    X_fit, X_sel, y_fit, y_sel = train_test_split(X_tr, y_tr, test_size=0.2, stratify=y_tr,
                                                  random_state=1)  # fmt: skip
    done = res.trials[res.trials["state"] == "COMPLETE"]
    top = done.sort_values("value", ascending=res.direction == "minimize").head(k)
    base = res.best_estimator
    models = {}
    for _, row in top.iterrows():
        params = {p: row[f"param_{p}"] for p in res.space.names()}
        models[f"trial {int(row['number'])}"] = clone(base).set_params(**params).fit(X_fit, y_fit)
    start = time.perf_counter()
    ens = build_ensemble(models, X_sel, y_sel, method="greedy", X_test=X_te, y_test=y_te,
                         n_resamples=resamples, random_state=0)  # fmt: skip
    g = ens.gain
    verdict = "beats or ties" if ens.beats_or_ties() else "worse"
    print(f"{name:>18}  ensemble of the {len(models)} best trials ({g.metric}): ensemble "
          f"{g.ensemble_value:.4f}, best single ({g.best_model}) {g.best_value:.4f}, gain "
          f"{g.gain:+.4f} {interval(g.gain_low, g.gain_high)} on {g.evaluated_on} rows -> "
          f"{verdict}  {time.perf_counter() - start:.1f} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 rows, fewer trials")
    parser.add_argument("--n", type=int, default=None, help="synthetic rows (default 100,000)")
    parser.add_argument("--trials", type=int, default=None, help="trials per study")
    parser.add_argument("--rounds", type=int, default=None, help="speed-up rounds")
    args = parser.parse_args()
    n_large = args.n or (20_000 if args.quick else 100_000)
    n_trials = args.trials or (10 if args.quick else 40)
    rounds = args.rounds or (1 if args.quick else 3)
    resamples = 300 if args.quick else 1000
    warnings.filterwarnings("ignore")
    print(f"tuning: TPE, median pruning, {n_trials} trials; test rows: 25%; 95% intervals; "
          f"{os.cpu_count()} cores")  # fmt: skip
    outs = {}
    for name, est, X, y, metric, folds in datasets(n_large):
        trials = n_trials if "synthetic" not in name else max(4, n_trials // 2)
        outs[name] = tuned_vs_default(name, est, X, y, metric, folds, trials, resamples)
    X, y = make_classification(n_large // 2, 20, n_informative=8, random_state=1)
    speedup(X, y, n_trials=8 if args.quick else 16, rounds=rounds)
    for name in ("breast cancer", "digits"):
        ensemble_line(name, outs[name], 5, resamples)


if __name__ == "__main__":
    main()
