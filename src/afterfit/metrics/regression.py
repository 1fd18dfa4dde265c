"""Every regression metric: :class:`RegressionSuite`.

All metrics but the median are closed forms of a few weighted sums, so a batch of resamples
costs one matrix product. Values are centred first so that sums of squares do not cancel
catastrophically when the target has a large mean.
"""

from __future__ import annotations

import numpy as np

from afterfit.metrics.binary import MetricKey


class RegressionSuite:
    """All regression metrics as a function of row weights (rows in original order)."""

    def __init__(self, y: np.ndarray, pred: np.ndarray, weight: np.ndarray | None = None):
        self.y = np.asarray(y, dtype=np.float64)
        self.pred = np.asarray(pred, dtype=np.float64)
        self.weight = weight
        err = self.pred - self.y
        abs_err = np.abs(err)
        w = np.ones_like(self.y) if weight is None else weight
        y_c = self.y - np.average(self.y, weights=w)
        e_c = err - np.average(err, weights=w)
        eps = np.finfo(np.float64).eps
        # Columns: 1, y_c, y_c^2, e_c, e_c^2, |e|, e^2, |e|/max(|y|, eps)
        self._columns = np.column_stack(
            [np.ones_like(y_c), y_c, y_c**2, e_c, e_c**2, abs_err, err**2,
             abs_err / np.maximum(np.abs(self.y), eps)]
        )  # fmt: skip
        # Below this variance y counts as constant: round-off of centring, relative to |y|.
        self._constant_var = (64 * eps * float(np.max(np.abs(self.y)))) ** 2
        self._abs_order = np.argsort(abs_err, kind="stable")
        self._abs_sorted = abs_err[self._abs_order]

    @property
    def n(self) -> int:
        return self.y.size

    @property
    def strata(self) -> None:
        return None

    def subset(self, rows: np.ndarray) -> RegressionSuite:
        """The same metrics on the rows at ``rows``."""
        w = self.weight
        return RegressionSuite(self.y[rows], self.pred[rows], None if w is None else w[rows])

    def keys(self) -> list[MetricKey]:
        names = ["mae", "rmse", "mse", "r2", "explained_variance", "mape", "median_ae"]
        return [(name, None) for name in names]

    def compute(
        self, W: np.ndarray | None = None, *, bands: bool = False
    ) -> dict[MetricKey, np.ndarray]:
        """Every metric for each row of ``W``; ``bands`` is accepted for the common protocol
        (no curves are banded for this task)."""
        if W is None:
            W = np.ones((1, self.n)) if self.weight is None else self.weight[None, :]
        s = W @ self._columns
        total, sy, syy, se, see, sabs, ssq, sape = (s[:, i] for i in range(8))
        with np.errstate(invalid="ignore", divide="ignore"):
            var_y = syy / total - (sy / total) ** 2
            var_e = see / total - (se / total) ** 2
            mse = ssq / total
            return {
                ("mae", None): sabs / total,
                ("rmse", None): np.sqrt(mse),
                ("mse", None): mse,
                # Constant y: scikit-learn's convention (1 if perfect, else 0).
                ("r2", None): _score(1 - mse / var_y, mse, var_y, self._constant_var),
                ("explained_variance", None): _score(
                    1 - var_e / var_y, var_e, var_y, self._constant_var
                ),
                ("mape", None): sape / total,
                ("median_ae", None): self._weighted_median(W),
            }

    def _weighted_median(self, W: np.ndarray) -> np.ndarray:
        """scikit-learn's averaged inverted-CDF weighted median of |error|, per row of W."""
        w = W[:, self._abs_order]
        cdf = np.cumsum(w, axis=1)
        half = 0.5 * cdf[:, -1:]
        last = self.n - 1
        i = np.minimum((cdf < half).sum(axis=1), last)
        rows = np.arange(W.shape[0])
        at = cdf[rows, i]
        # On the exact half point, average with the next value that carries weight.
        j = np.minimum((cdf <= at[:, None]).sum(axis=1), last)
        exact = (at - half[:, 0]) <= np.finfo(np.float64).eps
        lo, hi = self._abs_sorted[i], self._abs_sorted[j]
        return np.where(exact, (lo + hi) / 2, lo)


def _score(
    value: np.ndarray, num: np.ndarray, var_y: np.ndarray, constant_var: float
) -> np.ndarray:
    constant = var_y <= constant_var
    return np.where(constant, np.where(num <= constant_var, 1.0, 0.0), value)
