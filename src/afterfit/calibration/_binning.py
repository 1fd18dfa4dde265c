"""Binned probability forecasts: bin edges, per-bin sums and a bootstrap suite over them.

A *forecast* is a probability ``p_i`` of an event ``o_i`` in {0, 1}: the positive class of a
binary model, one class against the rest, or "the top-label prediction is right" with its
confidence. Each row falls in one bin (equal-width or equal-mass). Five weighted sums per
bin -- weight ``n_b``, events ``O_b``, forecasts ``F_b``, squared forecasts ``Q_b`` and
forecast times event ``C_b`` -- give every calibration number: the reliability curve, ECE,
MCE and Murphy's Brier decomposition with Stephenson's two within-bin terms.

A batch of bootstrap resamples is a weight matrix ``W`` of shape ``(B, n)`` (see
:mod:`afterfit.metrics.resampling`); the sums of every bin of every forecast for the whole
batch are one sparse product ``W @ S``, so no resample is binned again.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from afterfit.metrics.binary import MetricKey
from afterfit.metrics.kernel import descending_order

#: The two binnings: equal-width bins on [0, 1], or equal-mass bins (quantiles of ``p``).
STRATEGIES: tuple[str, ...] = ("uniform", "quantile")


def bin_edges(
    p: np.ndarray, n_bins: int, strategy: str, weight: np.ndarray | None = None
) -> np.ndarray:
    """Edges of ``n_bins`` bins, ascending, shape ``(n_bins + 1,)``.

    ``"uniform"``: ``linspace(0, 1, n_bins + 1)``. ``"quantile"``: the quantiles of ``p`` at
    ``0, 1/n_bins, ..., 1``, as :func:`sklearn.calibration.calibration_curve` computes them
    (``np.percentile``, linear interpolation); with sample weights, weighted quantiles
    (inverse of the weighted empirical distribution). Repeated values of ``p`` can make two
    edges equal; the bin between them is then empty.
    """
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    q = np.linspace(0.0, 1.0, n_bins + 1)
    if weight is None:
        return np.percentile(p, q * 100)
    order = np.argsort(p, kind="stable")
    ps = p[order]
    cw = np.cumsum(weight[order])
    idx = np.minimum(np.searchsorted(cw, q * cw[-1], side="left"), ps.size - 1)
    edges = ps[idx]
    edges[0], edges[-1] = ps[0], ps[-1]
    return edges


def bin_ids(p: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each forecast; a forecast on an inner edge falls in the lower bin (as
    scikit-learn's ``calibration_curve``), values beyond the outer edges in the end bins."""
    return np.searchsorted(edges[1:-1], p, side="left")


@dataclass(frozen=True)
class Forecast:
    """Probabilities ``p`` of an event ``o`` (0/1), with the bin edges of each binning."""

    name: str
    p: np.ndarray
    o: np.ndarray
    edges: Mapping[str, np.ndarray]


@dataclass(frozen=True)
class BinSums:
    """Weighted sums per bin, each of shape ``(B, n_bins)`` (one row per weight vector).

    ``forecast_sq`` and ``cross`` (sums of ``p**2`` and ``p * o``) are kept only where the
    Brier decomposition is needed.
    """

    weight: np.ndarray
    events: np.ndarray
    forecast: np.ndarray
    forecast_sq: np.ndarray | None = None
    cross: np.ndarray | None = None

    @property
    def total(self) -> np.ndarray:
        return self.weight.sum(axis=1)

    def fraction(self) -> np.ndarray:
        """Observed frequency of the event per bin; NaN for empty bins."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.weight > 0, self.events / self.weight, np.nan)

    def mean_forecast(self) -> np.ndarray:
        """Mean forecast per bin; NaN for empty bins."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.weight > 0, self.forecast / self.weight, np.nan)

    def ece(self) -> np.ndarray:
        """Expected calibration error: ``sum_b (n_b / N) |o_b - f_b|``."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.abs(self.events - self.forecast).sum(axis=1) / self.total

    def mce(self) -> np.ndarray:
        """Maximum calibration error: the largest ``|o_b - f_b|`` over non-empty bins."""
        safe = np.where(self.weight > 0, self.weight, 1.0)
        gap = np.where(self.weight > 0, np.abs(self.events - self.forecast) / safe, 0.0)
        return gap.max(axis=1)

    def decomposition(self) -> dict[str, np.ndarray]:
        """Murphy's (1973) decomposition of the Brier score, with the binned forecasts.

        With ``w_b = n_b / N``, bin mean forecast ``f_b``, bin event frequency ``o_b`` and
        overall frequency ``o``:

        - reliability ``REL = sum_b w_b (f_b - o_b)**2``
        - resolution ``RES = sum_b w_b (o_b - o)**2``
        - uncertainty ``UNC = o (1 - o)``
        - ``brier_binned = REL - RES + UNC``: exactly the Brier score of the forecasts
          replaced by their bin means.
        - ``residual = brier - brier_binned = WBV - 2 WBC``, where ``WBV`` is the
          within-bin variance of the forecasts and ``WBC`` their within-bin covariance
          with the events (Stephenson, Coelho & Jolliffe 2008).
        """
        if self.forecast_sq is None or self.cross is None:
            raise ValueError("the decomposition needs the second-moment sums")
        n_b, events, F = self.weight, self.events, self.forecast
        N = self.total
        safe = np.where(n_b > 0, n_b, 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            o = events.sum(axis=1) / N
            rel = ((F - events) ** 2 / safe).sum(axis=1) / N
            res = ((events - n_b * o[:, None]) ** 2 / safe).sum(axis=1) / N
            unc = o * (1.0 - o)
            wbv = (self.forecast_sq - F**2 / safe).sum(axis=1) / N
            wbc = (self.cross - F * events / safe).sum(axis=1) / N
            brier = (self.forecast_sq - 2.0 * self.cross + events).sum(axis=1) / N
        return {
            "brier": brier,
            "reliability": rel,
            "resolution": res,
            "uncertainty": unc,
            "brier_binned": rel - res + unc,
            "residual": wbv - 2.0 * wbc,
            "within_bin_variance": wbv,
            "within_bin_covariance": wbc,
        }


#: ``derive(sums, means, bands)``: metrics from the bin sums and the weighted row means.
Derive = Callable[
    [dict[tuple[str, str], BinSums], dict[str, np.ndarray], bool], dict[MetricKey, np.ndarray]
]


class BinnedSuite:
    """A metric suite (see :class:`afterfit.metrics.resampling.Suite`) over binned forecasts.

    Parameters
    ----------
    forecasts : sequence of Forecast
        Each is binned with every binning in its ``edges``.
    moments : set of (name, strategy)
        The (forecast, binning) pairs whose second-moment sums are kept (for the Brier
        decomposition).
    rows : mapping of str to ndarray
        Per-row values whose weighted means are wanted too (log loss, Brier score...).
    derive : callable
        Turns the sums into metrics: ``derive(sums, means, bands)``.
    strata : ndarray
        Class of each row: the bootstrap resamples within each class.
    weight : ndarray, optional
        Sample weights.
    """

    def __init__(
        self,
        forecasts: Sequence[Forecast],
        *,
        moments: set[tuple[str, str]],
        rows: Mapping[str, np.ndarray],
        derive: Derive,
        strata: np.ndarray,
        weight: np.ndarray | None = None,
        cells_by: str | None = None,
    ) -> None:
        n = strata.shape[0]
        self._n = n
        self._strata = strata
        self.weight = weight
        self._derive = derive
        self._blocks: list[tuple[tuple[str, str], int, int, bool]] = []
        # Each part is one value per row in one column per row: (column of each row, value).
        self._parts: list[tuple[np.ndarray, np.ndarray]] = []
        start = 0
        for f in forecasts:
            p = np.asarray(f.p, dtype=np.float64)
            o = np.asarray(f.o, dtype=np.float64)
            for strategy, edges in f.edges.items():
                nb = edges.size - 1
                ids = bin_ids(p, edges)
                keep = (f.name, strategy) in moments
                parts = [np.ones(n), o, p] + ([p * p, p * o] if keep else [])
                for j, values in enumerate(parts):
                    self._parts.append((start + j * nb + ids, values))
                self._blocks.append(((f.name, strategy), start, nb, keep))
                start += len(parts) * nb
        self._row_names = list(rows)
        for j, name in enumerate(self._row_names):
            self._parts.append((np.full(n, start + j), np.asarray(rows[name], dtype=np.float64)))
        self._n_cols = start + len(self._row_names)
        self._cells_by = None
        if cells_by is not None:
            f = next(f for f in forecasts if f.name == cells_by)
            self._cells_by = (np.asarray(f.p, dtype=np.float64), list(f.edges.values()))
        self._matrix: sp.csr_matrix | None = None

    @property
    def _ST(self) -> sp.csr_matrix:
        """The rows' values as a sparse ``(columns, n)`` matrix, built when first needed
        (resampling rows): ``S.T @ W.T`` walks each column's rows once."""
        if self._matrix is None:
            n = self._n
            matrix = sp.coo_matrix(
                (
                    np.concatenate([v for _, v in self._parts]),
                    (
                        np.concatenate([c for c, _ in self._parts]),
                        np.tile(np.arange(n), len(self._parts)),
                    ),
                ),
                shape=(self._n_cols, n),
            )
            self._matrix = matrix.tocsr()
            self._matrix.sum_duplicates()
        return self._matrix

    @property
    def n(self) -> int:
        return self._n

    @property
    def strata(self) -> np.ndarray:
        return self._strata

    def subset(self, rows: np.ndarray) -> BinnedSuite:
        """The same metrics on the rows at ``rows``: the bins keep their edges."""
        sub = copy.copy(self)
        sub._n = int(rows.size)
        sub._strata = self._strata[rows]
        sub.weight = None if self.weight is None else self.weight[rows]
        sub._matrix = self._ST[:, rows]
        sub._parts = [(c[rows], v[rows]) for c, v in self._parts]
        sub._cells_by = None
        return sub

    def cells(self, max_bins: int) -> tuple[np.ndarray, BinnedSuite, int | None] | None:
        """The rows merged into cells for the bootstrap of grouped counts at large ``n``
        (:func:`afterfit.metrics.resampling.bootstrap`): one stratum inside one fine bin of
        the ``cells_by`` forecast (about ``max_bins`` quantile bins, cut also at every edge
        of its binnings, so each cell lies in one bin of each). The cell's row carries the
        means of its rows' values, so every bin sum of a resample is exact in expectation
        and at the full data exactly. Returns the cell of each row, the suite over the
        cells and the number of fine bins; ``None`` without ``cells_by`` or with sample
        weights.
        """
        if self._cells_by is None or self.weight is not None:
            return None
        p, edges = self._cells_by
        # Row quantiles from the one sort of these scores (the evaluation's, reused).
        ascending = descending_order(p)[1][::-1]
        at = (np.arange(1, max_bins, dtype=np.int64) * self._n) // max_bins
        inner = np.unique(np.concatenate([ascending[at], *(e[1:-1] for e in edges)]))
        fine = np.searchsorted(inner, p, side="left")  # an edge falls in the lower bin
        labels, stratum = _codes(self._strata)
        key = fine * labels.size + stratum
        present = np.bincount(key, minlength=(inner.size + 1) * labels.size) > 0
        used = np.flatnonzero(present)
        cell = (np.cumsum(present) - 1)[key]  # cells numbered without the empty ones
        n_cells = used.size
        counts = np.bincount(cell, minlength=n_cells).astype(np.float64)
        first = np.zeros(n_cells, dtype=np.int64)
        first[cell[::-1]] = np.arange(self._n - 1, -1, -1)  # the first row of each cell
        parts = [
            (c[first], np.bincount(cell, v, minlength=n_cells) / counts) for c, v in self._parts
        ]
        sub = copy.copy(self)
        sub._n = n_cells
        sub._strata = labels[used % labels.size]
        sub.weight = None
        sub._parts = parts
        sub._matrix = None
        sub._cells_by = None
        return cell, sub, int(inner.size + 1)

    def sums(
        self, W: np.ndarray | None = None
    ) -> tuple[dict[tuple[str, str], BinSums], dict[str, np.ndarray]]:
        """Bin sums of every (forecast, binning) and weighted means of the row values."""
        if W is None:
            # One weighted count per column: no matrix needed for the point estimate.
            w = self.weight
            flat = np.zeros((1, self._n_cols))
            for c, v in self._parts:
                flat[0] += np.bincount(c, v if w is None else v * w, minlength=self._n_cols)
            total = np.array([float(self._n) if w is None else float(w.sum())])
        else:
            flat = np.asarray(self._ST @ W.T).T
            total = W.sum(axis=1)
        out: dict[tuple[str, str], BinSums] = {}
        for key, start, nb, keep in self._blocks:
            parts = [
                flat[:, start + j * nb : start + (j + 1) * nb] for j in range(5 if keep else 3)
            ]
            out[key] = BinSums(*parts)
        base = self._n_cols - len(self._row_names)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = {name: flat[:, base + j] / total for j, name in enumerate(self._row_names)}
        return out, means

    def compute(
        self, W: np.ndarray | None = None, *, bands: bool = False
    ) -> dict[MetricKey, np.ndarray]:
        sums, means = self.sums(W)
        return self._derive(sums, means, bands)


def _codes(strata: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct strata and each row's index among them (``np.unique``'s), without a
    sort when the strata are small non-negative integers (class codes)."""
    if strata.dtype.kind in "iub" and strata.size and strata.min() >= 0 and strata.max() < 1 << 16:
        present = np.bincount(strata.astype(np.int64, copy=False)) > 0
        labels = np.flatnonzero(present).astype(strata.dtype)
        return labels, (np.cumsum(present) - 1)[strata]
    return np.unique(strata, return_inverse=True)


def log_loss_rows(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Per-row log loss, clipped at machine epsilon as afterfit's evaluation computes it.

    ``proba`` is the positive-class probability (1-D, binary) or ``(n, K)`` probabilities
    with ``y`` the class index (multiclass).
    """
    eps = np.finfo(np.float64).eps
    if proba.ndim == 1:
        pc = np.clip(proba, eps, 1 - eps)
        return -np.where(y == 1, np.log(pc), np.log1p(-pc))
    p_true = np.clip(proba[np.arange(y.size), y], eps, 1 - eps)
    return -np.log(p_true)


def brier_rows(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Per-row Brier score: ``(p - y)**2`` (binary) or ``sum_k (p_k - [y = k])**2``."""
    if proba.ndim == 1:
        return (proba - y) ** 2
    onehot = np.zeros_like(proba)
    onehot[np.arange(y.size), y] = 1.0
    return ((proba - onehot) ** 2).sum(axis=1)
