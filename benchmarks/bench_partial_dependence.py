"""Partial dependence: agreement with scikit-learn, and what it adds to an explanation.

Prints, for breast cancer with HistGradientBoosting and diabetes with Ridge, whether the
grids equal scikit-learn's and the largest difference of the averages
(``sklearn.inspection.partial_dependence(..., method="brute")`` on 20 grid points), then the
time the ``pdp`` method adds to ``explain_model`` (permutation importance alone, then with
pdp: the 5 most important features, the H-statistic of 4 on 200 rows at most, the two-way
grid), as CPU seconds on one thread (steadier than wall time on a shared machine) and wall
seconds.

    python benchmarks/bench_partial_dependence.py
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.inspection import partial_dependence as sk_partial_dependence
from sklearn.linear_model import Ridge
from threadpoolctl import threadpool_limits

from afterfit.explain import explain_model, partial_dependence


def agreement(name: str, model, X) -> None:
    ours = partial_dependence(model, X, list(X.columns), interactions=False, n_bootstrap=0)
    equal, worst = True, 0.0
    for c in X.columns:
        ref = sk_partial_dependence(model, X, [c], method="brute", grid_resolution=20)
        equal &= bool(np.array_equal(ref["grid_values"][0], np.asarray(ours[c].grid)))
        worst = max(worst, float(np.max(np.abs(ref["average"][0] - ours[c].average))))
    print(f"{name}: grids equal to scikit-learn's: {equal}; max |difference| {worst:.1e}")


def cost(name: str, model, X, y) -> None:
    best: dict[str, tuple[float, float]] = {}
    with threadpool_limits(1):
        explain_model(model, X, y, methods="permutation")  # imports, caches
        for methods in ("permutation", "permutation,pdp"):
            for _ in range(3):
                wall, cpu = time.perf_counter(), time.process_time()
                explain_model(model, X, y, methods=methods)
                took = (time.process_time() - cpu, time.perf_counter() - wall)
                best[methods] = min(best.get(methods, took), took)
    a, b = best["permutation"], best["permutation,pdp"]
    print(f"{name}: pdp adds {b[0] - a[0]:.2f} s CPU ({b[1] - a[1]:.2f} s wall), one thread")


def main() -> None:
    warnings.filterwarnings("ignore")
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.sample(frac=1, random_state=0)
    y = y.loc[X.index]
    hgb = HistGradientBoostingClassifier(random_state=0).fit(X[:400], y[:400])
    with threadpool_limits(1):
        agreement("breast cancer, HistGradientBoosting, 30 features", hgb, X)
    d, t = load_diabetes(return_X_y=True, as_frame=True)
    agreement("diabetes, Ridge, 10 features", Ridge().fit(d, t), d)
    cost(f"breast cancer HGB, explain on {len(X) - 400} test rows", hgb, X[400:], y[400:])
    cost(f"breast cancer HGB, explain on all {len(X)} rows", hgb, X, y)


if __name__ == "__main__":
    main()
