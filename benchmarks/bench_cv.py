"""Cross-validation against scikit-learn's ``cross_validate``, on the same splits.

Run from the repository root::

    .venv/bin/python benchmarks/bench_cv.py            # 100,000 rows x 20 features
    .venv/bin/python benchmarks/bench_cv.py --quick    # 10,000 rows

Data: ``make_classification`` (20 features, 8 informative), a ``LogisticRegression``
(lbfgs, one thread) cross-validated with 5 folds x 2 repeats (stratified, seeded), reporting
ROC AUC, accuracy, balanced accuracy, F1, log loss and Brier score:

- afterfit: ``cross_validate(model, X, y, cv=splits, metrics=[...], n_jobs=J)``: one
  ``predict_proba`` per fold, every metric from afterfit's suites, out-of-fold scores and
  the corrected intervals;
- scikit-learn: ``sklearn.model_selection.cross_validate(model, X, y, cv=splits,
  scoring={...}, n_jobs=J)``: scorers share one ``predict_proba`` per fold through its
  cache of responses.

Both run alternately ``--rounds`` times for 1 and for 2 workers (local processes, after an
untimed warm-up that starts the workers and imports both libraries in them); prints
each best time, the ratio scikit-learn / afterfit (goal: >= 0.9, i.e. afterfit no slower
for the extra intervals and OOF predictions) and afterfit's speed-up of 2 workers over 1,
and checks that the fold metrics agree to 1e-9.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn import model_selection as ms
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from afterfit.selection.cv import cross_validate

METRICS = {
    "roc_auc": "roc_auc",
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced_accuracy",
    "f1": "f1",
    "log_loss": "neg_log_loss",
    "brier": "neg_brier_score",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 rows")
    parser.add_argument("--n", type=int, default=None, help="rows (default 100,000)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n = args.n or (10_000 if args.quick else 100_000)
    X, y = make_classification(n, 20, n_informative=8, random_state=0)
    splits = list(ms.RepeatedStratifiedKFold(n_splits=5, n_repeats=2, random_state=0).split(X, y))
    model = LogisticRegression(max_iter=1000)
    print(f"{n:,} rows x 20 features, {len(splits)} folds, LogisticRegression")

    best: dict[tuple[str, int], float] = {}
    for jobs in (1, 2):
        # Untimed warm-up: worker processes start and import both libraries once (joblib
        # keeps the pool), so the rounds compare the work, not the start-up.
        cross_validate(model, X, y, cv=splits[:2], metrics=["roc_auc"], n_jobs=jobs)
        ms.cross_validate(model, X, y, cv=splits[:2], scoring="roc_auc", n_jobs=jobs)
        for _ in range(args.rounds):
            t = time.perf_counter()
            ours = cross_validate(model, X, y, cv=splits, metrics=list(METRICS), n_jobs=jobs)
            a = time.perf_counter() - t
            t = time.perf_counter()
            theirs = ms.cross_validate(model, X, y, cv=splits, scoring=METRICS, n_jobs=jobs)
            b = time.perf_counter() - t
            best[("afterfit", jobs)] = min(best.get(("afterfit", jobs), np.inf), a)
            best[("sklearn", jobs)] = min(best.get(("sklearn", jobs), np.inf), b)
        for m, scorer in METRICS.items():
            ref = theirs[f"test_{m}"] * (-1 if scorer.startswith("neg_") else 1)
            np.testing.assert_allclose(ours.fold_values(m), ref, atol=1e-9, rtol=0)
        ratio = best[("sklearn", jobs)] / best[("afterfit", jobs)]
        print(f"n_jobs={jobs}: afterfit {best[('afterfit', jobs)]:.2f} s, scikit-learn "
              f"{best[('sklearn', jobs)]:.2f} s, ratio sklearn/afterfit {ratio:.2f} "
              f"({'PASS' if ratio >= 0.9 else 'below goal'}); fold metrics agree")  # fmt: skip
    speedup = best[("afterfit", 1)] / best[("afterfit", 2)]
    print(f"afterfit 2 workers over 1: {speedup:.2f}x")


if __name__ == "__main__":
    main()
