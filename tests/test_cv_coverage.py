"""A coverage sanity check of the corrected resampled t interval (slow).

Data from a known logistic model; the target of a cross-validated mean is the expected
accuracy of the model trained on ``n_train`` rows (estimated once from 300 independent
training sets, each scored on 100,000 fresh rows). Across 150 data sets, the corrected 90%
interval should cover it about 90% of the time; the naive interval, which ignores the
training rows the folds share, clearly less often.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from afterfit.selection.cv import cross_validate

BETA = np.array([1.0, -0.8, 0.5, 0.0, 0.3])


def _sample(n, rng):
    X = rng.normal(size=(n, BETA.size))
    p = 1.0 / (1.0 + np.exp(-(X @ BETA)))
    return X, (rng.uniform(size=n) < p).astype(int)


@pytest.mark.slow
def test_corrected_interval_covers_about_nominal():
    rng = np.random.default_rng(0)
    n, n_train = 150, 120  # 5 folds: 120 training rows each
    X_big, y_big = _sample(100_000, rng)
    truth = np.mean([
        (LinearDiscriminantAnalysis().fit(*_sample(n_train, rng)).predict(X_big) == y_big).mean()
        for _ in range(300)
    ])  # fmt: skip
    corrected = naive = 0
    reps = 150
    for r in range(reps):
        X, y = _sample(n, rng)
        res = cross_validate(LinearDiscriminantAnalysis(), X, y, cv=5, n_repeats=2,
                             random_state=r, metrics=["accuracy"], confidence=0.9)  # fmt: skip
        s = res.stats["accuracy"]
        corrected += s.low <= truth <= s.high
        naive += s.naive_low <= truth <= s.naive_high
    # Binomial sd of a 90% coverage over 150 reps is 2.4 points: allow about 2 sd.
    assert 0.85 <= corrected / reps <= 0.97
    assert naive / reps < corrected / reps - 0.08
