"""LIME's own work made cheap (issue 14, speed): the vectorised truncated-normal sampler
draws scipy's ``truncnorm`` distribution, the bins keep their training frequencies, and the
Gram-matrix least squares are scikit-learn's weighted ``Ridge``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score

from afterfit.explain.lime import (
    QuartileDiscretizer,
    _WeightedLeastSquares,
    forward_selection,
    highest_weights,
)


def _skewed_frame(n: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    income = rng.lognormal(3.0, 1.0, size=n)  # a long upper tail: the last bin is skewed
    income[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "income": income,
            "age": rng.normal(40, 12, size=n),
            "count": rng.poisson(2.0, size=n).astype(float),  # ties: merged quartiles
            "flat": np.r_[np.full(n - 1, 5.0), 6.0],  # a bin whose values are all equal
        }
    )


@pytest.mark.parametrize("column", ["income", "age", "count"])
def test_draws_follow_scipy_truncnorm_in_every_bin(column: str) -> None:
    X = _skewed_frame()
    disc = QuartileDiscretizer(X, list(X.columns))
    rng = np.random.default_rng(1)
    for b in range(len(disc.edges[column]) + 1):
        lo, hi = disc.mins[column][b], disc.maxs[column][b]
        mean, std = disc.means[column][b], disc.stds[column][b]
        if not lo < hi:
            continue
        drawn = disc.undiscretize(column, np.full(4000, b), rng)
        assert np.all((drawn >= lo) & (drawn <= hi))
        reference = stats.truncnorm((lo - mean) / std, (hi - mean) / std, loc=mean, scale=std)
        # the oracle: scipy's truncated normal with the same parameters
        assert stats.kstest(drawn, reference.cdf).pvalue > 1e-3, (column, b)


def test_extreme_tail_bin_stays_finite_and_inside() -> None:
    X = pd.DataFrame({"x": np.r_[np.zeros(300), 1e6]})
    disc = QuartileDiscretizer(X, ["x"])
    last = len(disc.edges["x"])
    drawn = disc.undiscretize("x", np.full(500, last), np.random.default_rng(0))
    assert np.all(np.isfinite(drawn))
    assert np.all((drawn >= disc.mins["x"][last]) & (drawn <= disc.maxs["x"][last]))


def test_missing_bin_draws_nan_and_constant_bin_its_value() -> None:
    X = _skewed_frame()
    disc = QuartileDiscretizer(X, ["income", "flat"])
    rng = np.random.default_rng(2)
    missing = disc.missing_bin("income")
    assert np.isnan(disc.undiscretize("income", np.full(50, missing), rng)).all()
    flat_bins = disc.discretize("flat", X["flat"].to_numpy())
    b = int(flat_bins[0])
    np.testing.assert_array_equal(disc.undiscretize("flat", np.full(20, b), rng), 5.0)


def test_bins_are_drawn_with_training_frequencies() -> None:
    X = _skewed_frame()
    columns = ["income", "age", "count"]
    disc = QuartileDiscretizer(X, columns)
    bins = disc.sample(columns, 40_000, np.random.default_rng(3))
    for k, c in enumerate(columns):
        freqs = disc.frequencies[c]
        counts = np.bincount(bins[:, k], minlength=len(freqs))
        assert len(counts) == len(freqs)
        # a chi-square test against the training shares (empty bins never drawn)
        assert counts[freqs == 0].sum() == 0
        keep = freqs > 0
        assert stats.chisquare(counts[keep], 40_000 * freqs[keep]).pvalue > 1e-3, c


@pytest.mark.parametrize("alpha", [1.0, 0.01])
def test_weighted_least_squares_is_sklearn_ridge(alpha: float) -> None:
    rng = np.random.default_rng(4)
    data = (rng.random((3000, 8)) < 0.5).astype(float)
    y = data @ rng.normal(size=8) + rng.normal(scale=0.3, size=3000)
    w = rng.random(3000)
    cols = [0, 3, 5, 6]
    fits = _WeightedLeastSquares(data, y, w)
    coef = fits.coef(cols, alpha)
    ridge = Ridge(alpha=alpha).fit(data[:, cols], y, sample_weight=w)
    np.testing.assert_allclose(coef, ridge.coef_, rtol=1e-9, atol=1e-12)
    assert fits.intercept(cols, coef) == pytest.approx(ridge.intercept_, rel=1e-9)
    expected = r2_score(y, ridge.predict(data[:, cols]), sample_weight=w)
    assert fits.r2(cols, coef) == pytest.approx(expected, rel=1e-9)


def _sklearn_forward(data: np.ndarray, y: np.ndarray, w: np.ndarray, k: int) -> list[int]:
    """lime's forward selection with scikit-learn's Ridge(alpha=0) fits (the oracle)."""
    chosen: list[int] = []
    for _ in range(k):
        scores = {}
        for j in range(data.shape[1]):
            if j not in chosen:
                cols = [*chosen, j]
                fit = Ridge(alpha=0.0).fit(data[:, cols], y, sample_weight=w)
                scores[j] = fit.score(data[:, cols], y, sample_weight=w)
        chosen.append(max(scores, key=scores.get))
    return chosen


def test_forward_selection_and_highest_weights_match_sklearn_fits() -> None:
    rng = np.random.default_rng(5)
    data = (rng.random((2000, 10)) < 0.5).astype(float)
    y = 3 * data[:, 2] - 2 * data[:, 4] + data[:, 9] + rng.normal(scale=0.1, size=2000)
    w = rng.random(2000)
    assert forward_selection(data, y, w, 4).tolist() == _sklearn_forward(data, y, w, 4)
    ridge = Ridge(alpha=0.01).fit(data, y, sample_weight=w)
    order = np.argsort(-np.abs(ridge.coef_ * data[0]), kind="stable")[:4]
    assert highest_weights(data, y, w, 4).tolist() == order.tolist()


def test_forward_selection_with_singular_columns() -> None:
    """A constant and a duplicated column make the unpenalised fits singular: the
    minimum-norm solution still scores them, and the informative columns come first."""
    rng = np.random.default_rng(6)
    data = (rng.random((2000, 6)) < 0.5).astype(float)
    data[:, 3] = 1.0
    data[:, 5] = data[:, 1]
    y = 3 * data[:, 1] - 2 * data[:, 4] + rng.normal(scale=0.1, size=2000)
    w = rng.random(2000)
    chosen = forward_selection(data, y, w, 2).tolist()
    assert chosen[0] in (1, 5) and chosen[1] == 4
