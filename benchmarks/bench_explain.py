"""Explanations on the models people have: anchors per row, LIME against the ``lime``
package, SHAP on a pipeline with text columns (issue 14).

Wall time on a shared machine mostly measures its neighbours: every figure is printed
with the CPU time of the process beside it (``time.process_time``, all threads).

Run from the repository root::

    .venv/bin/python benchmarks/bench_explain.py            # 20 anchor rows, 10 LIME rows
    .venv/bin/python benchmarks/bench_explain.py --quick    # 5 anchor rows, 3 LIME rows

- **Anchors** (goal: at most 5 s per row, target 1 s): ``AnchorTabular(X_train).explain(
  model, row)`` on the breast-cancer table (30 numeric features) with a
  ``HistGradientBoostingClassifier`` (400 training rows), default settings (threshold 0.95,
  the 5 s in-row limit on), on the first ``--rows`` test rows. Prints each row's wall and
  CPU time, whether it converged (a row the limit stops is not converged), its precision
  and lower bound, then the median and the max of both times.
- **LIME vs lime** (goal: at least 3x faster at the same number of samples and the same
  fidelity): 5,000 samples and 10 features per row, quartile discretisation in both;
  afterfit's ``LimeTabular.explain`` and ``lime.lime_tabular.LimeTabularExplainer.
  explain_instance`` alternately on the same rows, on the HistGradientBoosting model above
  and on a scaled logistic regression (a model whose predictions cost little, so the
  explainers' own work shows). Both run with the model single-threaded (OpenMP threads
  on a shared machine mostly wait for each other: 5,000 rows took ten times longer on two
  busy cores than on one), so the ratio compares the explainers, not thread contention.
  Prints the median wall and CPU time per row of each, the ratios, and the median
  fidelity (weighted R² of the surrogate; lime's ``score``) of each. Both explainers call
  the model once on the 5,000 samples, so that call is a floor neither can go below: the
  script measures it and prints the most any explainer could gain over lime on that model
  and the ratio of the explainers' own work beyond it.
- **SHAP on a pipeline**: a 20-column table (5 text columns with missing values, 15
  numbers), ``ColumnTransformer`` (imputer + one-hot, imputer + scaler) and
  ``LogisticRegression``; ``shap_values`` on 100 rows with 100 background rows (the
  permutation explainer over the raw columns). Prints the time (the first call includes
  shap's one-off numba compilation, printed apart).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from afterfit.explain import AnchorTabular, LimeTabular, shap_values


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def anchors(rows: int) -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = HistGradientBoostingClassifier(random_state=0).fit(X[:400], y[:400])
    explainer = AnchorTabular(X[:400], random_state=0)
    walls, cpus, converged = [], [], 0
    for i in range(400, 400 + rows):
        start = _clock()
        a = explainer.explain(model, X.iloc[i])
        wall, cpu = _since(start)
        walls.append(wall)
        cpus.append(cpu)
        converged += bool(a.converged)
        print(
            f"  anchors row {i}: {wall:5.2f} s (CPU {cpu:5.2f} s)  converged={a.converged!s:5}  "
            f"precision {a.precision:.3f} (lower bound {a.precision_lower_bound:.3f})  "
            f"{len(a.predicates)} predicates"
        )
    print(
        f"anchors (breast cancer, HGB) over {rows} rows: median {statistics.median(walls):.2f} s"
        f" (CPU {statistics.median(cpus):.2f} s), max {max(walls):.2f} s (CPU {max(cpus):.2f} s)"
        f" per row; {converged}/{rows} converged (goal <= 5 s: "
        f"{'PASS' if max(walls) <= 5.0 and converged == rows else 'FAIL'}; CPU time "
        f"{'PASS' if max(cpus) <= 5.0 else 'FAIL'})"
    )


def _lime_pair(name: str, model: object, X: pd.DataFrame, rows: int, theirs_cls: object) -> None:
    ours = LimeTabular(X[:400], random_state=0)
    theirs = (
        None
        if theirs_cls is None
        else theirs_cls(
            X[:400].to_numpy(), feature_names=list(X.columns), discretize_continuous=True,
            discretizer="quartile", random_state=0, mode="classification",
        )
    )  # fmt: skip
    w_ours, c_ours, w_theirs, c_theirs, f_ours, f_theirs = [], [], [], [], [], []

    def predict(z: np.ndarray) -> np.ndarray:
        return model.predict_proba(pd.DataFrame(z, columns=X.columns))

    with threadpool_limits(limits=1):
        for i in range(400, 400 + rows):
            row = X.iloc[i]
            start = _clock()
            e = ours.explain(model, row, num_features=10, num_samples=5000, labels=1)
            wall, cpu = _since(start)
            w_ours.append(wall)
            c_ours.append(cpu)
            f_ours.append(e.fidelity)
            if theirs is not None:
                start = _clock()
                ex = theirs.explain_instance(
                    row.to_numpy(), predict, labels=(1,), num_features=10, num_samples=5000
                )
                wall, cpu = _since(start)
                w_theirs.append(wall)
                c_theirs.append(cpu)
                f_theirs.append(ex.score[1] if isinstance(ex.score, dict) else ex.score)
        # The model's own predict_proba on 5,000 rows: a cost both explainers pay in full.
        floor = []
        for k in range(5):
            batch = X.sample(5000, replace=True, random_state=k)
            start = _clock()
            model.predict_proba(batch)
            floor.append(_since(start)[1])
    med = statistics.median
    predict_cpu = med(floor)
    line = (
        f"LIME per row, {name} (5,000 samples, 10 features): afterfit {med(w_ours):.3f} s "
        f"(CPU {med(c_ours):.3f} s, fidelity {med(f_ours):.3f})"
    )
    if w_theirs:
        ratio, cpu_ratio = med(w_theirs) / med(w_ours), med(c_theirs) / med(c_ours)
        line += (
            f", lime {med(w_theirs):.3f} s (CPU {med(c_theirs):.3f} s, fidelity "
            f"{med(f_theirs):.3f}): {ratio:.1f}x wall, {cpu_ratio:.1f}x CPU (goal >= 3x: "
            f"{'PASS' if cpu_ratio >= 3 else 'FAIL'} on CPU time)"
        )
    print(line)
    ceiling = med(c_theirs) / predict_cpu if c_theirs else math.nan
    own_ours, own_theirs = med(c_ours) - predict_cpu, med(c_theirs) - predict_cpu
    print(
        f"  the model's predict_proba on 5,000 rows: CPU {predict_cpu:.3f} s, the floor of any "
        f"LIME at 5,000 samples"
        + (
            f" (no explainer can be more than {ceiling:.1f}x lime here); the explainers' own "
            f"work beyond it: afterfit {own_ours:.3f} s, lime {own_theirs:.3f} s = "
            f"{own_theirs / max(own_ours, 1e-9):.1f}x"
            if c_theirs
            else ""
        )
    )


def lime(rows: int) -> None:
    try:
        from lime.lime_tabular import LimeTabularExplainer
    except ImportError:
        print("lime is not installed (pip install lime): afterfit's LIME alone")
        LimeTabularExplainer = None
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    hgb = HistGradientBoostingClassifier(random_state=0).fit(X[:400], y[:400])
    _lime_pair("HistGradientBoosting", hgb, X, rows, LimeTabularExplainer)
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    logistic.fit(X[:400], y[:400])
    _lime_pair("scaled logistic regression", logistic, X, rows, LimeTabularExplainer)


def shap_pipeline() -> None:
    rng = np.random.default_rng(0)
    n = 600
    data = {}
    for k in range(5):
        col = rng.choice([f"level {j}" for j in range(6)], size=n).astype(object)
        col[rng.random(n) < 0.05] = None
        data[f"text_{k}"] = col
    for k in range(15):
        col = rng.normal(size=n)
        col[rng.random(n) < 0.05] = np.nan
        data[f"num_{k}"] = col
    X = pd.DataFrame(data)
    logit = np.nan_to_num(X["num_0"]) + (X["text_0"] == "level 1") - np.nan_to_num(X["num_1"])
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    text = [f"text_{k}" for k in range(5)]
    numbers = [f"num_{k}" for k in range(15)]
    pre = ColumnTransformer(
        [
            ("t", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                OneHotEncoder(handle_unknown="ignore")), text),
            ("n", make_pipeline(SimpleImputer(), StandardScaler()), numbers),
        ]
    )  # fmt: skip
    model = Pipeline([("pre", pre), ("lr", LogisticRegression(max_iter=1000))]).fit(X, y)
    start = _clock()
    shap_values(model, X.iloc[:1], background=X, random_state=0)
    first, first_cpu = _since(start)
    start = _clock()
    sv = shap_values(model, X.iloc[:100], background=X, random_state=0)
    took, cpu = _since(start)
    print(
        f"SHAP on a 20-column pipeline with text columns, 100 rows: {took:.1f} s (CPU "
        f"{cpu:.1f} s; {took / 100:.2f} s per row; explainer: {sv.algorithm}; additivity within "
        f"tolerance: {sv.additivity.within_tolerance}; first call with numba compilation "
        f"{first:.1f} s, CPU {first_cpu:.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rows")
    parser.add_argument("--rows", type=int, default=None, help="anchor rows (default 20)")
    args = parser.parse_args()
    rows = args.rows or (5 if args.quick else 20)
    warnings.simplefilter("ignore")
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    anchors(rows)
    lime(3 if args.quick else 10)
    shap_pipeline()


if __name__ == "__main__":
    main()
