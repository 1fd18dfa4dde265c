"""Permutation importance against scikit-learn's, on a gradient-boosting classifier.

Run from the repository root::

    .venv/bin/python benchmarks/bench_permutation.py          # 100,000 rows x 30 features
    .venv/bin/python benchmarks/bench_permutation.py --quick  # 20,000 rows

Data: ``make_classification`` with 30 features (8 informative, 4 redundant), a
``HistGradientBoostingClassifier`` trained on 20,000 other rows. Both libraries compute
the drop of ROC AUC over ``n_repeats=5`` permutations of each feature, in one process:

- afterfit: ``permutation_importance(model, X, y, metric="roc_auc", n_repeats=5)``, which
  stacks permuted copies into batched ``predict_proba`` calls;
- scikit-learn: ``sklearn.inspection.permutation_importance(model, X, y,
  scoring="roc_auc", n_repeats=5, n_jobs=1)``, one call per feature and repeat.

Prints both times, the ratio (goal: afterfit at least 3x faster) and whether the
importances agree: for each feature, scikit-learn's mean lies within afterfit's interval
widened by scikit-learn's own (the two use different permutations, so both vary).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.inspection import permutation_importance as sk_permutation_importance

from afterfit.explain import permutation_importance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 rows")
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n = args.n or (20_000 if args.quick else 100_000)
    p, n_train, r = 30, 20_000, args.repeats
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    Xa, ya = make_classification(
        n_samples=n + n_train, n_features=p, n_informative=8, n_redundant=4,
        flip_y=0.05, random_state=0,
    )  # fmt: skip
    X = pd.DataFrame(Xa, columns=[f"x_{i:02d}" for i in range(p)])
    X_train, y_train = X.iloc[:n_train], ya[:n_train]
    X_test, y_test = X.iloc[n_train:].reset_index(drop=True), ya[n_train:]
    model = HistGradientBoostingClassifier(random_state=0).fit(X_train, y_train)
    print(f"rows: {n:,} x {p} features, n_repeats={r}, metric roc_auc")

    t0 = time.perf_counter()
    imp = permutation_importance(
        model, X_test, y_test, metric="roc_auc", n_repeats=r, random_state=0
    )
    t_af = time.perf_counter() - t0
    t0 = time.perf_counter()
    sk = sk_permutation_importance(
        model, X_test, y_test, scoring="roc_auc", n_repeats=r, n_jobs=1, random_state=0
    )
    t_sk = time.perf_counter() - t0

    ratio = t_sk / t_af
    print(f"afterfit permutation_importance: {t_af:8.2f} s")
    print(f"sklearn permutation_importance:  {t_sk:8.2f} s")
    print(f"speed-up: {ratio:.1f}x")

    low, high = imp.interval()
    # Both estimates vary with their permutations: widen afterfit's interval by sklearn's.
    from scipy import stats

    t = stats.t.ppf(0.975, r - 1)
    sk_half = t * sk.importances.std(axis=1, ddof=1) / np.sqrt(r)
    inside = (sk.importances_mean >= low - sk_half) & (sk.importances_mean <= high + sk_half)
    top_af = np.argsort(-imp.importance)[:5]
    top_sk = np.argsort(-sk.importances_mean)[:5]
    print(f"max |difference| of mean importances: "
          f"{np.max(np.abs(imp.importance - sk.importances_mean)):.5f}")  # fmt: skip
    print(f"features agreeing within intervals: {int(inside.sum())}/{p}")
    print(f"top-5 features, afterfit: {[imp.features[i] for i in top_af]}")
    print(f"top-5 features, sklearn:  {[X.columns[i] for i in top_sk]}")
    small = small_data(r)
    print(f"{'PASS' if ratio >= 3 else 'FAIL'}: afterfit >= 3x faster ({ratio:.1f}x)")
    print(f"(small data, 569 rows: afterfit {small:.1f}x faster)")
    print(f"{'PASS' if inside.all() else 'FAIL'}: importances agree within intervals")


def small_data(r: int) -> float:
    """Where the model's per-call overhead dominates: breast cancer, a scaled logistic
    regression, 569 rows x 30 features; returns sklearn's time over afterfit's."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(X, y)
    t0 = time.perf_counter()
    permutation_importance(model, X, y, metric="roc_auc", n_repeats=r, random_state=0)
    t_af = time.perf_counter() - t0
    t0 = time.perf_counter()
    sk_permutation_importance(model, X, y, scoring="roc_auc", n_repeats=r, n_jobs=1, random_state=0)
    t_sk = time.perf_counter() - t0
    print(f"small data (569 rows): afterfit {t_af:.2f} s, sklearn {t_sk:.2f} s")
    return t_sk / t_af


if __name__ == "__main__":
    main()
