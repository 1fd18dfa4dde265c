"""LIME for tables: a local linear surrogate of a model around one row.

The algorithm follows ``lime.lime_tabular.LimeTabularExplainer`` with its defaults
(Ribeiro et al., 2016), rewritten on numpy and scikit-learn:

1. **Discretise** every numeric feature into quartile bins computed from the *training*
   data: the edges are ``np.percentile(column, [25, 50, 75])`` (duplicates removed), a
   value ``x`` falls in bin ``searchsorted(edges, x)`` so the rules read ``a <= q1``,
   ``q1 < a <= q2``, ``q2 < a <= q3`` and ``a > q3``. Categorical features keep their
   categories.
2. **Sample** ``num_samples - 1`` perturbations, each feature independently: a bin (or a
   category) is drawn with its training frequency; a numeric value is then drawn inside
   the bin from a normal with the bin's training mean and standard deviation truncated to
   the bin's bounds (the distribution of ``scipy.stats.truncnorm``, as in lime, drawn by
   inverting its CDF; a bin whose values are all equal gives that value). The first
   sample is the explained row itself.
3. **Represent** each sample in binary: feature ``j`` is 1 where the sample lies in the
   row's bin (or has the row's category), 0 otherwise.
4. **Weigh** each sample by its proximity to the row: the Euclidean distance ``d`` between
   the binary representations (that is, the square root of the number of features that
   differ), through the exponential kernel ``sqrt(exp(-d**2 / width**2))`` with
   ``width = 0.75 * sqrt(n_features)`` unless ``kernel_width`` is given.
5. **Select** ``num_features`` features as lime's ``feature_selection="auto"`` does:
   forward selection (greedy, by weighted R² of an unpenalised weighted least squares) when
   ``num_features <= 6``, otherwise the largest ``|coef * x_row|`` of a weighted
   ``Ridge(alpha=0.01)`` on all features.
6. **Fit** a weighted ``Ridge(alpha=1)`` of the model's output (the probability of a class,
   or the regression prediction) on the selected binary features. Its coefficients are the
   explanation's weights; its weighted R² on the samples is the local **fidelity**.

With ``discretize=False`` numeric features are sampled from a normal with their training
mean and standard deviation (lime's ``sample_around_instance=False``) and enter the
surrogate and the distances standardised, so their weights are "per training standard
deviation"; categorical features are handled as above.

Every model call is batched: the ``num_samples`` perturbations of a row go through one
``predict_scores`` call. The same ``random_state`` gives the same explanation, whatever was
explained before.

Examples
--------
>>> from sklearn.datasets import load_diabetes
>>> from sklearn.linear_model import LinearRegression
>>> X, y = load_diabetes(return_X_y=True, as_frame=True)
>>> model = LinearRegression().fit(X, y)
>>> exp = LimeTabular(X, random_state=0).explain(model, X.iloc[0], num_features=3)
>>> exp.frame().columns.tolist()
['feature', 'column', 'weight', 'value']
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from afterfit.data import as_frame
from afterfit.errors import InvalidInputError, SchemaError
from afterfit.jsonsafe import number as _num
from afterfit.jsonsafe import scalar as _json_value
from afterfit.models.base import Model

__all__ = [
    "LimeExplanation",
    "LimeTabular",
    "QuartileDiscretizer",
    "explain_rows",
    "forward_selection",
    "highest_weights",
    "lime_kernel",
    "weighted_r2",
]

_BIN_STD_FLOOR = 1e-11  # lime adds this to every bin's std so truncnorm never divides by 0


def _fmt(value: float) -> str:
    return f"{value:.2f}"


# --- the algorithm's pieces ----------------------------------------------------------------


def lime_kernel(distances: np.ndarray, width: float) -> np.ndarray:
    """LIME's exponential kernel: ``sqrt(exp(-d**2 / width**2))``.

    Parameters
    ----------
    distances : numpy.ndarray
        Distances of the samples to the explained row.
    width : float
        The kernel width (lime's default: ``0.75 * sqrt(n_features)``).

    Returns
    -------
    numpy.ndarray
        Sample weights in ``(0, 1]``; 1 at distance 0.
    """
    d = np.asarray(distances, dtype=np.float64)
    return np.sqrt(np.exp(-(d**2) / float(width) ** 2))


def weighted_r2(y: np.ndarray, prediction: np.ndarray, weights: np.ndarray) -> float:
    """Weighted coefficient of determination (``sklearn.metrics.r2_score`` with weights).

    Returns NaN when the weighted variance of ``y`` is 0 (a model constant around the row).
    """
    y = np.asarray(y, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    mean = np.average(y, weights=w)
    total = float(np.sum(w * (y - mean) ** 2))
    residual = float(np.sum(w * (y - np.asarray(prediction, dtype=np.float64)) ** 2))
    if total <= 0.0:
        return math.nan if residual > 0.0 else 1.0
    return 1.0 - residual / total


class _WeightedLeastSquares:
    """Weighted ridge fits of ``y`` on column subsets of ``data``, from one Gram matrix.

    The same fit as ``sklearn.linear_model.Ridge(alpha, fit_intercept=True)`` with
    ``sample_weight``: data and target centred on their weighted means, the penalty on the
    coefficients only. The surrogate has a few dozen binary columns and thousands of rows, so
    the weighted Gram matrix (computed once) makes every fit a tiny solve: lime's forward
    selection fits up to ``6 * n_features`` models, each a pass over the samples in
    scikit-learn.
    """

    def __init__(self, data: np.ndarray, y: np.ndarray, weights: np.ndarray) -> None:
        w = np.asarray(weights, dtype=np.float64)
        x = np.asarray(data, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        total = w.sum()
        self.x_mean = w @ x / total
        self.y_mean = float(w @ y / total)
        xc = x - self.x_mean
        yc = y - self.y_mean
        wx = xc * w[:, None]
        self.gram = xc.T @ wx
        self.xy = wx.T @ yc
        self.yy = float(yc @ (w * yc))

    def coef(self, cols: Sequence[int], alpha: float) -> np.ndarray:
        """Coefficients of the fit on ``cols``; with ``alpha=0`` the least-squares solution of
        smallest norm (a constant or duplicated column makes the Gram matrix singular)."""
        idx = np.asarray(cols, dtype=int)
        g = self.gram[np.ix_(idx, idx)] + alpha * np.eye(len(idx))
        b = self.xy[idx]
        if alpha > 0:
            try:
                return np.linalg.solve(g, b)
            except np.linalg.LinAlgError:  # pragma: no cover - alpha > 0 keeps g definite
                pass
        return np.linalg.lstsq(g, b, rcond=None)[0]

    def intercept(self, cols: Sequence[int], coef: np.ndarray) -> float:
        return self.y_mean - float(self.x_mean[np.asarray(cols, dtype=int)] @ coef)

    def r2(self, cols: Sequence[int], coef: np.ndarray) -> float:
        """Weighted R² of the fit on the samples (the residual from the Gram matrix)."""
        if self.yy <= 0.0:
            return -math.inf
        idx = np.asarray(cols, dtype=int)
        residual = self.yy - 2.0 * float(coef @ self.xy[idx])
        residual += float(coef @ self.gram[np.ix_(idx, idx)] @ coef)
        return 1.0 - residual / self.yy


def forward_selection(
    data: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    num_features: int,
    *,
    fits: _WeightedLeastSquares | None = None,
) -> np.ndarray:
    """Greedy forward selection, as lime's ``forward_selection``.

    Each round adds the feature whose addition gives the weighted least-squares fit (an
    unpenalised ``Ridge(alpha=0)``) with the highest weighted R².

    ``fits`` reuses the Gram matrix of ``(data, y, weights)`` when the caller has it.

    Returns
    -------
    numpy.ndarray
        Column indices, in the order they were chosen.
    """
    fits = fits if fits is not None else _WeightedLeastSquares(data, y, weights)
    chosen: list[int] = []
    for _ in range(min(num_features, data.shape[1])):
        best, best_score = -1, -math.inf
        for j in range(data.shape[1]):
            if j in chosen:
                continue
            cols = [*chosen, j]
            score = fits.r2(cols, fits.coef(cols, 0.0))
            if score > best_score:
                best, best_score = j, score
        if best < 0:
            break
        chosen.append(best)
    return np.asarray(chosen, dtype=int)


def highest_weights(
    data: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    num_features: int,
    *,
    fits: _WeightedLeastSquares | None = None,
) -> np.ndarray:
    """Features with the largest ``|coef * x_row|`` of a weighted ``Ridge(alpha=0.01)``.

    ``data[0]`` is the explained row, as in lime's ``highest_weights``; ``fits`` reuses the
    Gram matrix of ``(data, y, weights)`` when the caller has it.
    """
    cols = list(range(data.shape[1]))
    fits = fits if fits is not None else _WeightedLeastSquares(data, y, weights)
    coef = fits.coef(cols, 0.01)
    contribution = np.abs(coef * data[0])
    order = np.argsort(-contribution, kind="stable")
    return order[:num_features]


class QuartileDiscretizer:
    """Quartile bins of numeric columns, from training data (lime's ``QuartileDiscretizer``).

    Parameters
    ----------
    train : pandas.DataFrame
        Training rows.
    columns : sequence of str
        The numeric columns to discretise.

    Attributes
    ----------
    edges : dict of str to numpy.ndarray
        Bin edges per column: the unique values of ``np.percentile(column, [25, 50, 75])``.
    means, stds, mins, maxs : dict of str to numpy.ndarray
        Per bin: the training values' mean and standard deviation (plus 1e-11, as lime) and
        the bin's bounds (the training minimum and maximum for the outer bins).
    frequencies : dict of str to numpy.ndarray
        Share of the training rows in each bin.
    """

    def __init__(self, train: pd.DataFrame, columns: Sequence[str]) -> None:
        self.edges: dict[str, np.ndarray] = {}
        self.means: dict[str, np.ndarray] = {}
        self.stds: dict[str, np.ndarray] = {}
        self.mins: dict[str, np.ndarray] = {}
        self.maxs: dict[str, np.ndarray] = {}
        self.frequencies: dict[str, np.ndarray] = {}
        for column in columns:
            every = pd.to_numeric(train[column], errors="coerce").to_numpy(dtype=np.float64)
            missing = np.isnan(every)
            values = every[~missing]
            if len(values) == 0:
                raise InvalidInputError(
                    f"The training column {column!r} is missing in every row, so LIME and "
                    "anchors have no values to perturb it with.",
                    fix=f"drop the column (CLI: --drop {column}) or pass training rows where "
                    "it has values.",
                )
            # quartiles of the values present; the missing ones are a bin of their own
            edges = np.unique(np.percentile(values, [25, 50, 75]))
            bins = np.searchsorted(edges, values)
            k = len(edges) + 1
            counts = np.bincount(bins, minlength=k).astype(np.float64)
            means = np.array([values[bins == b].mean() if counts[b] else 0.0 for b in range(k)])
            stds = np.array([values[bins == b].std() if counts[b] else 0.0 for b in range(k)])
            # the last bin is "missing": drawn as NaN, with the training share of NaN (a
            # zero-probability entry at the end leaves the draws of the other bins as lime's)
            # (its mean and bounds are placeholders: undiscretize gives NaN there)
            self.edges[column] = edges
            self.means[column] = np.append(means, 0.0)
            self.stds[column] = np.append(stds, 0.0) + _BIN_STD_FLOOR
            self.mins[column] = np.concatenate([[values.min()], edges, [0.0]])
            self.maxs[column] = np.concatenate([edges, [values.max()], [0.0]])
            counts = np.append(counts, float(missing.sum()))
            self.frequencies[column] = counts / counts.sum()

    def missing_bin(self, column: str) -> int:
        """Index of the bin of missing values (the last one)."""
        return len(self.edges[column]) + 1

    def discretize(self, column: str, values: np.ndarray) -> np.ndarray:
        """Bin index of each value (``searchsorted(edges, x)``: ``x <= q1`` is bin 0; a
        missing value is in :meth:`missing_bin`)."""
        x = np.asarray(values, dtype=np.float64)
        bins = np.searchsorted(self.edges[column], x)
        return np.where(np.isnan(x), self.missing_bin(column), bins)

    def rule(self, column: str, bin_index: int) -> str:
        """The readable rule of a bin, such as ``"petal width <= 0.30"`` or
        ``"income is missing"``."""
        edges = self.edges[column]
        if bin_index == self.missing_bin(column):
            return f"{column} is missing"
        if bin_index == 0:
            return f"{column} <= {_fmt(edges[0])}"
        if bin_index == len(edges):
            return f"{column} > {_fmt(edges[-1])}"
        return f"{_fmt(edges[bin_index - 1])} < {column} <= {_fmt(edges[bin_index])}"

    def undiscretize(self, column: str, bins: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Values drawn inside the bins: a normal truncated to the bin's bounds."""
        bins = np.asarray(bins, dtype=int)
        return self.draw([column], bins.reshape(-1, 1), rng)[:, 0]

    def _tables(self, columns: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For :meth:`sample` and :meth:`draw`, per column and bin (padded to the most bins):
        the cumulative frequencies, and a table of what a draw in the bin needs, computed
        once per bin rather than per draw: the truncated normal's CDF at its lower bound and
        the mass between its bounds (on the mirrored side for a bin above the mean, where
        the CDF keeps its precision in the tail), the sign that undoes the mirror, mean,
        standard deviation (0 where the bin's values are all equal: the draw is the mean)
        and bounds; the bin of missing values has a NaN mean."""
        key = tuple(columns)
        cached = getattr(self, "_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        from scipy.special import ndtr

        width = max(len(self.frequencies[c]) for c in columns)

        def pad(values: dict[str, np.ndarray], fill: float) -> np.ndarray:
            out = np.full((len(columns), width), fill, dtype=np.float64)
            for j, c in enumerate(columns):
                out[j, : len(values[c])] = values[c]
            return out

        cum = pad({c: np.cumsum(self.frequencies[c]) for c in columns}, 2.0)
        means, stds = pad(self.means, 0.0), pad(self.stds, 1.0)
        mins, maxs = pad(self.mins, 0.0), pad(self.maxs, 0.0)
        low, high = (mins - means) / stds, (maxs - means) / stds
        flip = low > 0
        pa, pb = ndtr(np.where(flip, -high, low)), ndtr(np.where(flip, -low, high))
        constant = ~(low < high)
        missing = np.zeros_like(cum, dtype=bool)
        for j, c in enumerate(columns):
            missing[j, self.missing_bin(c)] = True
        cells = np.stack(
            [
                np.where(constant, 0.25, pa),
                np.where(constant, 0.5, pb - pa),
                np.where(flip, -1.0, 1.0),
                np.where(missing, np.nan, means),
                np.where(constant, 0.0, stds),
                mins,
                np.where(missing, 0.0, maxs),
            ],
            axis=-1,
        ).reshape(-1, 7)
        # the last bin that can be drawn (a cumulative sum a rounding below 1 must not
        # reach an empty bin of missing values)
        last = np.array([int(np.flatnonzero(self.frequencies[c] > 0)[-1]) for c in columns])
        tables = (cum, cells, last)
        self._cache = (key, tables)
        return tables

    def sample(self, columns: Sequence[str], n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, len(columns))`` bins drawn with their training frequencies."""
        cum, _, last = self._tables(columns)
        u = rng.random((n, len(columns)))
        # the first bin whose cumulative frequency exceeds u (rng.choice's rule), counted in
        # int8: a few bins per column, and adding booleans into intp is several times slower
        bins = np.zeros(u.shape, dtype=np.int8)
        for k in range(cum.shape[1]):
            bins += u >= cum[:, k]
        return np.minimum(bins, last).astype(np.intp)

    def draw(
        self, columns: Sequence[str], bins: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Values drawn inside ``bins`` (``(n, len(columns))``): for each, a normal with the
        bin's training mean and standard deviation truncated to the bin's bounds (the
        distribution of ``scipy.stats.truncnorm``, which lime uses, by inverting its CDF),
        NaN in the bin of missing values, the bin's mean where its values are all equal."""
        from scipy.special import ndtri

        cum, cells, _ = self._tables(columns)
        bins = np.asarray(bins, dtype=np.intp)
        # one gather of each draw's (column, bin) row of the table
        cell = cells.take(bins + np.arange(len(columns)) * cum.shape[1], axis=0)
        pa, mass, sign, mean, std, lo, hi = np.moveaxis(cell, -1, 0)
        z = ndtri(pa + rng.random(bins.shape) * mass)
        z *= sign
        z *= std
        z += mean
        return np.clip(z, lo, hi, out=z)


# --- the result ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LimeExplanation:
    """A LIME explanation of one row: the local surrogate's weights and its fidelity.

    Attributes
    ----------
    features : tuple of str
        The selected features as readable rules (``"petal width <= 0.30"``,
        ``"color = red"``; the bare column name for an undiscretised numeric feature),
        sorted by decreasing ``|weight|``.
    columns : tuple of str
        The column each feature refers to.
    weights : numpy.ndarray
        The surrogate's coefficients: the change of the explained output when the feature
        holds (1 in the binary representation) rather than not.
    values : tuple
        The explained row's value of each column.
    intercept : float
        The surrogate's intercept.
    prediction_local : float
        The surrogate's prediction at the row.
    prediction_model : float
        The model's output at the row (the class probability or the prediction).
    fidelity : float
        Weighted R² of the surrogate on the perturbation samples (lime's ``score``).
    target : str
        What was explained: ``"P(class=...)"``, ``"score(class=...)"`` or ``"prediction"``.
    label : object or None
        The class explained; ``None`` for regression.
    num_samples : int
    kernel_width : float
    """

    features: tuple[str, ...]
    columns: tuple[str, ...]
    weights: np.ndarray
    values: tuple[Any, ...]
    intercept: float
    prediction_local: float
    prediction_model: float
    fidelity: float
    target: str
    label: Any
    num_samples: int
    kernel_width: float

    def frame(self) -> pd.DataFrame:
        """One row per selected feature: ``feature`` (rule), ``column``, ``weight``, ``value``."""
        return pd.DataFrame(
            {
                "feature": list(self.features),
                "column": list(self.columns),
                "weight": np.asarray(self.weights, dtype=np.float64),
                "value": list(self.values),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (NaN becomes null)."""
        return {
            "method": "lime",
            "target": self.target,
            "label": _json_value(self.label),
            "intercept": _num(self.intercept),
            "prediction_local": _num(self.prediction_local),
            "prediction_model": _num(self.prediction_model),
            "fidelity": _num(self.fidelity),
            "num_samples": int(self.num_samples),
            "kernel_width": _num(self.kernel_width),
            "features": [
                {
                    "feature": f,
                    "column": c,
                    "weight": _num(w),
                    "value": _json_value(v),
                }
                for f, c, w, v in zip(
                    self.features, self.columns, self.weights, self.values, strict=True
                )
            ],
        }

    def plot(self, *, ax: Any = None) -> Any:
        """Horizontal bars of the weights (matplotlib figure; positive blue, negative orange)."""
        from afterfit.plots import OKABE_ITO, _axes

        k = len(self.features)
        fig, ax = _axes(ax, (6.5, 1.2 + 0.35 * max(k, 3)))
        weights = np.asarray(self.weights, dtype=np.float64)[::-1]
        colors = [OKABE_ITO[0] if w >= 0 else OKABE_ITO[3] for w in weights]
        ax.barh(range(k), weights, color=colors)
        ax.set_yticks(range(k), list(self.features)[::-1])
        ax.axvline(0.0, color="grey", linewidth=1)
        ax.set_xlabel(f"weight on {self.target}")
        fidelity = "n/a" if not math.isfinite(self.fidelity) else f"{self.fidelity:.2f}"
        ax.set_title(
            f"LIME: {self.target} = {self.prediction_model:.3g} "
            f"(local {self.prediction_local:.3g}, fidelity R² {fidelity})"
        )
        return fig


# --- the explainer ---------------------------------------------------------------------------


#: A text column whose training values are distinct in at least this share of the rows
#: (and at least :data:`_FREE_TEXT_MIN_ROWS` rows) is free text: drawing "another value" of
#: it says nothing a reader could use, and an explanation's predicate on it would match one
#: training row.
_FREE_TEXT_SHARE = 0.95
_FREE_TEXT_MIN_ROWS = 20


def same_value(values: Any, target: Any) -> np.ndarray:
    """Whether each value equals ``target``, a missing target matching missing values (NaN
    never equals itself, so ``==`` alone would call a missing value's category empty)."""
    values = np.asarray(values, dtype=object)
    if _is_missing(target):
        return np.asarray(pd.isna(values), dtype=bool)
    return np.array([(not _is_missing(v)) and bool(v == target) for v in values], dtype=bool)


def as_float(value: Any) -> float:
    """A cell as a float: NaN for any missing value (``None``, ``pd.NA``, ``NaT``)."""
    return math.nan if _is_missing(value) else float(value)


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # an array-like cell
        return False


def category_rule(column: str, value: Any) -> str:
    """``"region = north"``, or ``"region is missing"``."""
    return f"{column} is missing" if _is_missing(value) else f"{column} = {value}"


def unperturbable(frame: pd.DataFrame, categorical: Sequence[str]) -> dict[str, str]:
    """Columns no perturbation can use, each with the reason.

    - missing in every training row (no value to draw);
    - cells that are lists, dicts, sets or arrays (no categories to draw from);
    - text with (nearly) one value per row (free text or an identifier: drawing another
      value says nothing a reader could use, and a rule on it would match one row).

    LIME and anchors hold these columns at the explained row's value in every sample
    (:attr:`LimeTabular.fixed`): the model still gets every column it reads, and the
    explanation is of the other columns, given this row's value of these.
    """
    n = len(frame)
    out: dict[str, str] = {}
    for c in frame.columns:
        col = frame[c]
        if n and col.isna().all():
            out[str(c)] = "missing in every training row"
        elif col.dtype == object and col.map(_is_container).any():
            out[str(c)] = "holds lists, dicts or arrays, which have no categories to draw"
    if n < _FREE_TEXT_MIN_ROWS:
        return out
    for c in categorical:
        col = frame[c]
        if str(c) in out or isinstance(col.dtype, pd.CategoricalDtype):
            continue
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_datetime64_any_dtype(col):
            continue  # dates repeat rarely too, but their values are meaningful to draw
        if col.nunique(dropna=True) >= _FREE_TEXT_SHARE * n:
            out[str(c)] = (
                "(nearly) every training row has its own value (free text or an identifier)"
            )
    return out


def _is_container(value: Any) -> bool:
    return isinstance(value, list | dict | set | np.ndarray)


def held_note(method: str, fixed: Mapping[str, str]) -> str:
    """The note that names the columns ``method`` held at each row's value, and why."""
    parts = "; ".join(f"{c!r}: {why}" for c, why in fixed.items())
    return (
        f"{method} held {len(fixed)} column(s) at each explained row's value, as no "
        f"perturbation can use them ({parts}): its explanations are of the other columns, "
        "given the row's value of these (SHAP and permutation importance still measure them)."
    )


def _is_categorical_dtype(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


class LimeTabular:
    """LIME for tabular data, fitted on training rows.

    Parameters
    ----------
    train : table
        Training rows (pandas/polars frame, 2-D array...): LIME samples perturbations from
        their distribution, so they are required.
    feature_names : sequence of str, optional
        Column names for an array ``train``.
    categorical_features : sequence of str or int, optional
        Columns (names or positions) to treat as categories. Columns that are not numeric
        (text, category, boolean) are categorical whether listed or not.
    discretize : bool, default True
        Discretise numeric features into training quartiles (lime's
        ``discretize_continuous=True``).
    kernel_width : float, optional
        Width of the exponential kernel; default ``0.75 * sqrt(n_features)``.
    random_state : int or numpy.random.Generator, optional
        Seed of the perturbations. An int gives the same explanation on every call.

    Raises
    ------
    InvalidInputError
        No training rows, a categorical feature not among the training columns, NaN in a
        numeric training column without discretisation, no column that can be perturbed,
        or a bad option.

    Notes
    -----
    A column no perturbation can use (:func:`unperturbable`: free text with a value per
    row, missing in every row, lists or dicts) is held at the explained row's value in every
    sample and listed, with the reason, in :attr:`fixed`; the explanation is of the other
    columns (:attr:`features`).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = load_iris(return_X_y=True, as_frame=True)
    >>> model = LogisticRegression(max_iter=500).fit(X, y)
    >>> exp = LimeTabular(X, random_state=0).explain(model, X.iloc[0], num_features=2)
    >>> len(exp.frame())
    2
    """

    def __init__(
        self,
        train: Any,
        *,
        feature_names: Sequence[str] | None = None,
        categorical_features: Sequence[str | int] | None = None,
        discretize: bool = True,
        kernel_width: float | None = None,
        random_state: int | np.random.Generator | None = 0,
        _method: str = "LIME",
    ) -> None:
        if train is None:
            raise InvalidInputError(
                "LIME needs training data to sample perturbations from, and 'train' is None.",
                fix="pass the training rows (the data the model was fitted on, or a sample).",
            )
        frame = as_frame(train, feature_names=feature_names)
        frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
        if len(frame) < 2:
            raise InvalidInputError(
                f"LIME needs training rows to sample from; 'train' has {len(frame)}.",
                fix="pass the training data (at least a few hundred rows is best).",
            )
        if kernel_width is not None and not (kernel_width > 0 and math.isfinite(kernel_width)):
            raise InvalidInputError(
                f"The argument 'kernel_width' must be a positive number; received "
                f"{kernel_width!r}.",
                fix="leave it out for lime's default 0.75 * sqrt(n_features).",
            )
        columns = list(frame.columns)
        categorical: set[str] = set()
        for item in categorical_features or ():
            if isinstance(item, int | np.integer) and not isinstance(item, bool):
                if not 0 <= int(item) < len(columns):
                    raise InvalidInputError(
                        f"The categorical feature position {item} is outside the training "
                        f"data's {len(columns)} columns.",
                        fix="give positions from 0 to n_columns - 1, or column names.",
                    )
                categorical.add(columns[int(item)])
            elif str(item) in columns:
                categorical.add(str(item))
            else:
                raise InvalidInputError(
                    f"The categorical feature {item!r} is not a column of the training data, "
                    "so LIME has no training values to sample it from (training columns: "
                    f"{', '.join(columns[:10])}{', ...' if len(columns) > 10 else ''}).",
                    fix="pass training data that has this column, or drop it from "
                    "'categorical_features'.",
                )
        categorical |= {c for c in columns if _is_categorical_dtype(frame[c])}
        fixed = unperturbable(frame, [c for c in columns if c in categorical])
        if len(fixed) == len(columns):
            parts = "; ".join(f"{c!r}: {why}" for c, why in list(fixed.items())[:5])
            raise InvalidInputError(
                f"{_method} has no column it can perturb: every training column is held "
                f"fixed ({parts}).",
                fix="pass training rows with at least one column of numbers or categories "
                f"that varies, or leave {_method} out of the methods (the others still run).",
            )
        categorical -= set(fixed)
        numeric = [c for c in columns if c not in categorical and c not in fixed]
        for c in numeric:
            if not discretize and frame[c].isna().any():
                raise InvalidInputError(
                    f"The training column {c!r} has missing values; LIME without "
                    "discretisation cannot compute its mean and spread.",
                    fix="keep discretize=True (missing values get a bin of their own), or "
                    "impute them in the training data.",
                )
        self.train = frame
        self.columns: list[str] = columns
        #: columns held at the explained row's value (see :func:`unperturbable`), with why
        self.fixed: dict[str, str] = fixed
        #: the columns perturbed: the surrogate's (and the anchors') features
        self.features: list[str] = [c for c in columns if c not in fixed]
        self.categorical: list[str] = [c for c in columns if c in categorical]
        self.numeric: list[str] = numeric
        #: numeric columns with missing values in the training data (a bin of their own)
        self.with_missing: set[str] = (
            {c for c in numeric if frame[c].isna().any()} if discretize else set()
        )
        self.discretize = bool(discretize)
        self.kernel_width = (
            float(kernel_width)
            if kernel_width is not None
            else 0.75 * math.sqrt(len(self.features))
        )
        self.random_state = random_state
        self.discretizer = QuartileDiscretizer(frame, numeric) if self.discretize else None
        self.means = {c: float(frame[c].astype(np.float64).mean()) for c in numeric}
        stds = {c: float(frame[c].astype(np.float64).std(ddof=0)) for c in numeric}
        self.stds = {c: (s if s > 0 else 1.0) for c, s in stds.items()}
        self.categories: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for c in self.categorical:
            counts = frame[c].value_counts(dropna=False, sort=False)
            values = np.asarray(counts.index.to_list(), dtype=object)
            self.categories[c] = (values, counts.to_numpy(dtype=np.float64) / counts.sum())

    # -- input --------------------------------------------------------------------------

    def _row(self, row: Any) -> pd.Series:
        if isinstance(row, pd.DataFrame) or (
            type(row).__module__.split(".")[0] == "polars" and hasattr(row, "columns")
        ):
            frame = as_frame(row)
            if len(frame) != 1:
                raise InvalidInputError(
                    f"The row to explain must be one row; received a frame of {len(frame)}.",
                    fix="pass X.iloc[[i]] or X.iloc[i], or use explain_rows for several rows.",
                )
            series = frame.iloc[0]
        elif isinstance(row, pd.Series):
            series = row
        else:
            values = np.asarray(row, dtype=object)
            if values.ndim == 2 and values.shape[0] == 1:
                values = values[0]
            if values.ndim != 1 or len(values) != len(self.columns):
                raise SchemaError(
                    f"The row to explain has shape {np.shape(row)}, but the training data "
                    f"has {len(self.columns)} columns.",
                    fix="pass one value per training column, or a Series named by column.",
                )
            series = pd.Series(list(values), index=self.columns)
        series = series.set_axis([str(c) for c in series.index])
        extra = [c for c in series.index if c not in self.columns]
        missing = [c for c in self.columns if c not in series.index]
        if extra:
            raise SchemaError(
                f"The row to explain has {len(extra)} column(s) the training data lacks: "
                f"{', '.join(map(repr, extra[:10]))}; LIME cannot sample them.",
                fix="drop them from the row, or build the explainer on training data with "
                "the same columns.",
            )
        if missing:
            raise SchemaError(
                f"The row to explain lacks {len(missing)} training column(s): "
                f"{', '.join(map(repr, missing[:10]))}.",
                fix="pass a row with every column of the training data.",
            )
        series = series[self.columns]
        for c in self.numeric:
            try:
                value = as_float(series[c])
            except (TypeError, ValueError):
                value = math.inf
            # a missing value has its own bin when the training column has missing values
            # (the model was fitted with them); elsewhere it is a number the model never saw
            if math.isinf(value) or (math.isnan(value) and c not in self.with_missing):
                raise InvalidInputError(
                    f"The row's value of the numeric column {c!r} is {series[c]!r}; LIME "
                    "needs a finite number (the training column has no missing values).",
                    fix="impute the value before explaining the row.",
                )
        return series

    # -- sampling -----------------------------------------------------------------------

    def _sample(
        self, row: pd.Series, num_samples: int, rng: np.random.Generator
    ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[str]]:
        """Perturbations (model space), their surrogate representation, distances, rules."""
        n = num_samples
        data = np.empty((n, len(self.features)), dtype=np.float64)
        scaled = data if self.discretizer is not None else np.empty_like(data)
        inverse: dict[str, Any] = {}
        rules: dict[str, str] = {}
        cells = row.to_dict()
        position = {c: j for j, c in enumerate(self.features)}
        for c in self.fixed:  # held at the row's value (a list cell stays one object)
            held = np.empty(n, dtype=object)
            held[:] = [cells[c]] * n
            inverse[c] = held
        if self.discretizer is not None and self.numeric:
            # Every numeric column at once: a few array operations instead of a sampler call
            # per column (most of lime's own time per row).
            disc = self.discretizer
            x0 = np.array([as_float(cells[c]) for c in self.numeric])
            b0 = np.array(
                [disc.discretize(c, [x])[0] for c, x in zip(self.numeric, x0, strict=True)]
            )
            bins = disc.sample(self.numeric, n, rng)
            bins[0] = b0
            values = disc.draw(self.numeric, bins, rng)
            values[0] = x0
            data[:, [position[c] for c in self.numeric]] = bins == b0
            inverse.update({c: values[:, k] for k, c in enumerate(self.numeric)})
            rules.update({c: disc.rule(c, int(b)) for c, b in zip(self.numeric, b0, strict=True)})
        for c in self.features:
            j = position[c]
            if c in self.categories:
                values, freqs = self.categories[c]
                drawn = values[rng.choice(len(values), size=n, p=freqs)]
                drawn[0] = cells[c]
                same = same_value(drawn, cells[c]).astype(np.float64)
                same[0] = 1.0
                data[:, j] = scaled[:, j] = same
                inverse[c] = drawn
                rules[c] = category_rule(c, cells[c])
            elif self.discretizer is None:
                x = as_float(cells[c])
                values = rng.normal(0.0, 1.0, size=n) * self.stds[c] + self.means[c]
                values[0] = x
                data[:, j] = scaled[:, j] = (values - self.means[c]) / self.stds[c]
                inverse[c] = values
                rules[c] = c
        if scaled is data:
            # Discretised: every column is 1 where the sample keeps the row's bin or
            # category (all of them in sample 0), so the squared distance counts the 0s.
            distances = np.sqrt(data.shape[1] - data.sum(axis=1))
        else:
            distances = np.sqrt(np.sum((scaled - scaled[0]) ** 2, axis=1))
        if self.categorical or self.fixed:
            perturbed = pd.DataFrame(inverse, columns=self.columns)
        else:  # numbers only: one block, not a column at a time
            perturbed = pd.DataFrame(
                np.column_stack([inverse[c] for c in self.columns]), columns=self.columns
            )
        for c in self.categorical:
            if isinstance(self.train[c].dtype, pd.CategoricalDtype):
                perturbed[c] = perturbed[c].astype(self.train[c].dtype)
            elif pd.api.types.is_bool_dtype(self.train[c]):
                perturbed[c] = perturbed[c].astype(bool)
        for c in self.fixed:
            if self.train[c].dtype != object:
                try:  # the training dtype (an all-missing float column stays float)
                    perturbed[c] = perturbed[c].astype(self.train[c].dtype)
                except (TypeError, ValueError):
                    pass
        return perturbed, data, distances, [rules[c] for c in self.features]

    # -- explaining ---------------------------------------------------------------------

    def explain(
        self,
        model: Any,
        row: Any,
        *,
        num_features: int = 10,
        num_samples: int = 5000,
        labels: Any = None,
        random_state: int | np.random.Generator | None = None,
    ) -> Any:
        """Explain ``model``'s output at ``row`` with a local linear surrogate.

        Parameters
        ----------
        model : Model or fitted estimator
            Anything :func:`afterfit.models.as_model` accepts.
        row : pandas.Series, one-row frame or 1-D array
            The row, with the training data's columns (an array in their order).
        num_features : int, default 10
            Features in the explanation.
        num_samples : int, default 5000
            Perturbation samples (the row itself included), predicted in one batch.
        labels : class label or sequence of class labels, optional
            Classification: the class whose score (probability) to explain; default the
            class the model predicts for the row. A sequence gives one explanation per
            class, from the same samples. Ignored for regression, which explains the
            prediction.
        random_state : int or numpy.random.Generator, optional
            Overrides the explainer's seed for this call.

        Returns
        -------
        LimeExplanation
            Or a tuple of them, one per class, when ``labels`` is a sequence.

        Raises
        ------
        SchemaError
            The row has columns the training data lacks, or lacks some of its columns.
        InvalidInputError
            A bad option or a class the model does not know.
        """
        from afterfit.data import check_features
        from afterfit.models import as_model

        if int(num_features) < 1:
            raise InvalidInputError(
                f"The argument 'num_features' must be at least 1; received {num_features!r}.",
                fix="ask for 1 or more features (default 10).",
            )
        if int(num_samples) < 10:
            raise InvalidInputError(
                f"The argument 'num_samples' must be at least 10; received {num_samples!r}.",
                fix="use the default 5000, or at least a few hundred samples.",
            )
        num_features = min(int(num_features), len(self.features))
        m: Model = as_model(model)
        series = self._row(row)
        seed = self.random_state if random_state is None else random_state
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        perturbed, data, distances, rules = self._sample(series, int(num_samples), rng)
        scores = np.asarray(m.predict_scores(check_features(perturbed, m)), dtype=np.float64)
        weights = lime_kernel(distances, self.kernel_width)

        targets: list[tuple[np.ndarray, str, Any]] = []
        many = False
        if m.task == "regression":
            targets.append((scores.reshape(-1), "prediction", None))
        else:
            classes = list(m.classes_) if m.classes_ is not None else list(range(scores.shape[1]))
            if labels is None:
                wanted = [classes[int(np.argmax(scores[0]))]]
            elif isinstance(labels, list | tuple | np.ndarray | pd.Index):
                wanted, many = list(labels), True
            else:
                wanted = [labels]
            kind = "P" if getattr(m, "scores_are_probabilities", True) else "score"
            for label in wanted:
                matches = [k for k, c in enumerate(classes) if c == label or str(c) == str(label)]
                if not matches:
                    raise InvalidInputError(
                        f"The class {label!r} is not one of the model's classes "
                        f"({', '.join(map(str, classes[:10]))}).",
                        fix="pass one of the model's classes in 'labels', or leave it out to "
                        "explain the predicted class.",
                    )
                k = matches[0]
                targets.append((scores[:, k], f"{kind}(class={classes[k]})", classes[k]))

        results = tuple(
            self._surrogate(y, data, weights, rules, series, num_features, target, label)
            for y, target, label in targets
        )
        return results if many else results[0]

    def _surrogate(
        self,
        y: np.ndarray,
        data: np.ndarray,
        weights: np.ndarray,
        rules: list[str],
        row: pd.Series,
        num_features: int,
        target: str,
        label: Any,
    ) -> LimeExplanation:
        fits = _WeightedLeastSquares(data, y, weights)  # one Gram matrix for every fit
        if num_features <= 6:
            used = forward_selection(data, y, weights, num_features, fits=fits)
        else:
            used = highest_weights(data, y, weights, num_features, fits=fits)
        coef = fits.coef(used, 1.0)
        intercept = fits.intercept(used, coef)
        fitted = data[:, used] @ coef + intercept
        order = np.argsort(-np.abs(coef), kind="stable")
        used, coef = used[order], coef[order]
        return LimeExplanation(
            features=tuple(rules[j] for j in used),
            columns=tuple(self.features[j] for j in used),
            weights=coef,
            values=tuple(
                row[self.features[j]].item()
                if isinstance(row[self.features[j]], np.generic)
                else row[self.features[j]]
                for j in used
            ),
            intercept=float(intercept),
            prediction_local=float(fitted[0]),
            prediction_model=float(y[0]),
            fidelity=weighted_r2(y, fitted, weights),
            target=target,
            label=label,
            num_samples=len(y),
            kernel_width=self.kernel_width,
        )


def explain_rows(
    model: Any,
    X_rows: Any,
    *,
    train: Any,
    feature_names: Sequence[str] | None = None,
    categorical_features: Sequence[str | int] | None = None,
    discretize: bool = True,
    kernel_width: float | None = None,
    num_features: int = 10,
    num_samples: int = 5000,
    labels: Any = None,
    random_state: int | None = 0,
) -> tuple[LimeExplanation, ...]:
    """LIME explanations of several rows with one explainer.

    Parameters
    ----------
    model : Model or fitted estimator
    X_rows : table
        The rows to explain, with the training data's columns.
    train : table
        Training rows to sample perturbations from (required).
    feature_names, categorical_features, discretize, kernel_width
        As :class:`LimeTabular`.
    num_features, num_samples
        As :meth:`LimeTabular.explain`.
    labels : class label, optional
        The class to explain in every row; default each row's predicted class.
    random_state : int, optional
        Row ``i`` is explained with the seed ``random_state + i`` (reproducible, and
        independent of the other rows).

    Returns
    -------
    tuple of LimeExplanation
        One per row, in order.
    """
    if train is None:
        raise InvalidInputError(
            "LIME needs training data to sample perturbations from, and 'train' is None.",
            fix="pass train=X_train (the data the model was fitted on, or a sample of it).",
        )
    explainer = LimeTabular(
        train,
        feature_names=feature_names,
        categorical_features=categorical_features,
        discretize=discretize,
        kernel_width=kernel_width,
        random_state=random_state,
    )
    rows = as_frame(X_rows, feature_names=feature_names or explainer.columns)
    if isinstance(labels, list | tuple | np.ndarray):
        raise InvalidInputError(
            "explain_rows explains one class per row; 'labels' received a sequence.",
            fix="pass one class label, or call LimeTabular.explain per row for several.",
        )
    out = []
    for i in range(len(rows)):
        seed = None if random_state is None else int(random_state) + i
        out.append(
            explainer.explain(
                model,
                rows.iloc[i],
                num_features=num_features,
                num_samples=num_samples,
                labels=labels,
                random_state=seed,
            )
        )
    return tuple(out)
