"""Partial dependence and ICE curves on the model's raw columns, with bootstrap bands, and
the strongest two-way interaction.

One idea: set a feature to each value of a grid in every row, ask the model, and average.

- **Grid**: scikit-learn's (:func:`sklearn.inspection.partial_dependence`, ``_grid_from_X``):
  the distinct values of a feature that has fewer than ``grid_resolution`` of them (or is
  categorical), else ``grid_resolution`` evenly spaced points between its ``percentiles``
  (``scipy.stats.mstats.mquantiles``). Missing values are left out of the grid (scikit-learn
  gives a grid of NaN then), but the rows holding them still count in the averages.
- **Model calls**: the rows with every grid value of one feature are stacked into one table
  of up to ``batch_rows`` rows, so a feature costs one or a few ``predict_scores`` calls.
  The stacked copies keep every column's dtype (pandas categoricals keep their categories),
  so pipelines with text columns and missing values, and LightGBM on ``category`` columns,
  see the table they were trained on.
- **ICE and the band**: the rows' individual curves (ICE) are what the average is made of,
  so the band of the average is a bootstrap over the rows' curves: resample rows, average
  their curves, take percentiles. No extra model calls.
- **Two-way**: Friedman and Popescu's H-statistic (:mod:`afterfit.explain.interactions`) on
  a seeded subsample of rows, for every pair among the top few features; the pair with the
  largest interaction gets a two-way partial dependence on a coarser grid, drawn as a
  heatmap.

The grids and the stacked model calls are in :mod:`afterfit.explain._grid`.
"""

from __future__ import annotations

import difflib
import math
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from afterfit.errors import InvalidInputError
from afterfit.explain._grid import (
    MAX_LEVELS,
    ModelOutput,
    feature_grid,
    is_categorical,
    is_datetime,
    predict_copies,
)
from afterfit.explain.interactions import Interaction, h_statistics
from afterfit.explain.permutation import BATCH_ROWS
from afterfit.jsonsafe import number as _num

__all__ = [
    "FeatureDependence",
    "Interaction",
    "PairDependence",
    "PartialDependence",
    "partial_dependence",
]

#: Rows the averages are taken over: a seeded sample beyond this (the result says so).
SAMPLE_ROWS = 1_000
#: ICE curves kept for drawing and ``ice_frame`` (a seeded subsample of the rows).
ICE_ROWS = 50
#: A numeric feature with at most this many distinct values is drawn as bars.
DISCRETE_MAX = 10
#: Rows of the H-statistic: each pair costs ``H_ROWS ** 2`` predictions.
H_ROWS = 200
#: The strongest pair is searched among this many of the first features.
H_FEATURES = 4
#: Grid points per axis of the two-way partial dependence.
PAIR_RESOLUTION = 10
#: The strongest pair gets its two-way plot when at least this share of its joint effect is
#: interaction (H²): below it, the heatmap would show two additive effects (rounding
#: errors give an additive model H² near 1e-30, not 0).
MIN_H2 = 0.01
Progress = Callable[[str, int, int], None]


def _kind_label(categorical: bool) -> str:
    return "categorical" if categorical else "numeric"


def _value(v: Any) -> Any:
    """A grid value as JSON takes it."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float):
        return _num(v)
    if isinstance(v, int | bool | str) or v is None:
        return v
    return str(v)


# --- results ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FeatureDependence:
    """Partial dependence and ICE curves of one feature.

    Attributes
    ----------
    feature : str
    categorical : bool
        Drawn as bars (a text, category or boolean column, or a number with at most
        :data:`DISCRETE_MAX` distinct values).
    grid : tuple
        The values the feature was set to (scikit-learn's grid).
    average : ndarray of shape (n_grid,)
        The partial dependence: the mean model output over the rows at each grid value.
    ci_low, ci_high : ndarray of shape (n_grid,)
        Bootstrap percentile band of the average over the rows' ICE curves.
    ice : ndarray of shape (n_ice, n_grid)
        ICE curves of a seeded subsample of the rows.
    ice_positions : tuple of int
        Positions, in the data passed in, of the rows of ``ice``.
    other_levels : tuple
        Levels beyond the cap of :data:`MAX_LEVELS`, not on the grid (the rarest).
    """

    feature: str
    categorical: bool
    grid: tuple[Any, ...]
    average: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    ice: np.ndarray
    ice_positions: tuple[int, ...]
    other_levels: tuple[Any, ...] = ()

    def centered_ice(self) -> np.ndarray:
        """ICE curves minus their value at the first grid point (c-ICE): the shapes, without
        the rows' levels."""
        return self.ice - self.ice[:, :1]

    def frame(self) -> pd.DataFrame:
        """One line per grid value: ``feature, value, average, ci_low, ci_high``."""
        return pd.DataFrame(
            {
                "feature": self.feature,
                "value": pd.Series(list(self.grid), dtype=object),
                "average": self.average,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
            }
        )

    def ice_frame(self, *, centered: bool = False) -> pd.DataFrame:
        """Long table of the ICE curves: ``feature, row, value, prediction``."""
        ice = self.centered_ice() if centered else self.ice
        k, g = ice.shape
        return pd.DataFrame(
            {
                "feature": self.feature,
                "row": np.repeat(np.asarray(self.ice_positions, dtype=np.int64), g),
                "value": pd.Series(list(self.grid) * k, dtype=object),
                "prediction": ice.ravel(),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: the grid, the average with its band, the ICE curves."""
        return {
            "feature": self.feature,
            "kind": _kind_label(self.categorical),
            "grid": [_value(v) for v in self.grid],
            "average": [_num(v) for v in self.average],
            "ci_low": [_num(v) for v in self.ci_low],
            "ci_high": [_num(v) for v in self.ci_high],
            "ice_rows": [int(p) for p in self.ice_positions],
            "ice": [[_num(v) for v in curve] for curve in self.ice],
            "other_levels": [_value(v) for v in self.other_levels],
        }

    def plot(self, *, centered: bool = False, output: str = "", ax: Any = None) -> Any:
        """The average with its band and the ICE curves, or bars with error bars for a
        categorical feature (matplotlib figure)."""
        from afterfit.plots import OKABE_ITO, _axes

        fig, ax = _axes(ax, (5.0, 3.6))
        avg, low, high = self.average, self.ci_low, self.ci_high
        if centered:
            ref = avg[0]
            avg, low, high = avg - ref, low - ref, high - ref
        if self.categorical:
            x = np.arange(len(self.grid))
            err = np.vstack([avg - low, high - avg])
            ax.bar(x, avg, yerr=err, color=OKABE_ITO[0], alpha=0.85,
                   error_kw={"ecolor": "black", "capsize": 3, "linewidth": 1})  # fmt: skip
            ax.set_xticks(x, [str(v) for v in self.grid], rotation=45 if len(x) > 5 else 0,
                          ha="right" if len(x) > 5 else "center")  # fmt: skip
            if not centered:
                lo = float(np.nanmin(low)) if np.isfinite(low).any() else 0.0
                hi = float(np.nanmax(high)) if np.isfinite(high).any() else 1.0
                pad = 0.1 * max(hi - lo, 1e-12)
                ax.set_ylim(lo - pad, hi + pad)  # bars from the axis, not from zero
        else:
            x = np.asarray(self.grid, dtype=float)
            ice = self.centered_ice() if centered else self.ice
            for curve in ice:
                ax.plot(x, curve, color="grey", alpha=0.25, linewidth=0.7)
            ax.fill_between(x, low, high, color=OKABE_ITO[0], alpha=0.25, linewidth=0)
            ax.plot(x, avg, color=OKABE_ITO[0], linewidth=2.2)
        ax.set_xlabel(self.feature)
        ax.set_ylabel(("centred " if centered else "") + (output or "model output"))
        return fig


@dataclass(frozen=True, eq=False)
class PairDependence:
    """Two-way partial dependence of the strongest pair, on a coarser grid.

    Attributes
    ----------
    features : tuple of str
    grids : tuple of two tuples
    categorical : tuple of two bool
    average : ndarray of shape (n_grid_a, n_grid_b)
    """

    features: tuple[str, str]
    grids: tuple[tuple[Any, ...], tuple[Any, ...]]
    categorical: tuple[bool, bool]
    average: np.ndarray

    def frame(self) -> pd.DataFrame:
        """One line per grid point: ``feature_a, value_a, feature_b, value_b, average``."""
        ga, gb = self.grids
        return pd.DataFrame(
            {
                "feature_a": self.features[0],
                "value_a": pd.Series([a for a in ga for _ in gb], dtype=object),
                "feature_b": self.features[1],
                "value_b": pd.Series([b for _ in ga for b in gb], dtype=object),
                "average": self.average.ravel(),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "kinds": [_kind_label(c) for c in self.categorical],
            "grids": [[_value(v) for v in g] for g in self.grids],
            "average": [[_num(v) for v in row] for row in self.average],
        }

    def plot(self, *, output: str = "", ax: Any = None) -> Any:
        """Heatmap of the two-way partial dependence (matplotlib figure)."""
        from afterfit.plots import _axes

        fig, ax = _axes(ax, (5.6, 4.4))
        ga, gb = self.grids
        image = ax.imshow(self.average.T, origin="lower", aspect="auto", cmap="viridis")
        # at most 5 labels per axis: grid values are long numbers
        step_a = max(1, math.ceil(len(ga) / 5))
        step_b = max(1, math.ceil(len(gb) / 5))
        ax.set_xticks(range(0, len(ga), step_a), [_tick(v) for v in ga[::step_a]])
        ax.set_yticks(range(0, len(gb), step_b), [_tick(v) for v in gb[::step_b]])
        ax.set_xlabel(self.features[0])
        ax.set_ylabel(self.features[1])
        fig.colorbar(image, ax=ax, label=output or "model output")
        ax.set_title("Two-way partial dependence", fontsize="medium")
        return fig


def _tick(v: Any) -> str:
    if isinstance(v, float | np.floating):
        return f"{float(v):.3g}"
    return str(v)


@dataclass(frozen=True, eq=False)
class PartialDependence:
    """Partial dependence and ICE of several features, and the strongest interaction.

    Attributes
    ----------
    features : tuple of FeatureDependence
    pair : PairDependence or None
        Two-way partial dependence of the strongest pair (None: fewer than two features,
        or interactions not asked for).
    interactions : tuple of Interaction
        Every pair searched, strongest first.
    task : str
    output : str
        What the curves show: ``"P(y = c)"``, ``"decision score of c"`` or ``"prediction"``.
    class_ : object or None
        The class whose score is shown (classification).
    n_rows, n_rows_total : int
        Rows averaged over, rows passed in.
    sampled : bool
        Whether ``n_rows`` were sampled (seeded) from ``n_rows_total``.
    settings : dict
        Grid resolution, percentiles, bootstrap resamples, confidence, H-statistic rows, seed.
    skipped : tuple of (str, str)
        Features or work left out, with why.
    notes : tuple of str
    """

    features: tuple[FeatureDependence, ...]
    pair: PairDependence | None
    interactions: tuple[Interaction, ...]
    task: str
    output: str
    class_: Any
    n_rows: int
    n_rows_total: int
    sampled: bool
    settings: dict[str, Any]
    skipped: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()

    #: How the curves and the band are computed (said in ``to_dict``).
    method = "brute force: the model's output with the feature set to each grid value in every row"
    band = "bootstrap percentile over the rows' ICE curves"
    interaction_method = "Friedman-Popescu H-statistic"

    def __repr__(self) -> str:
        from afterfit.display import one_line

        strongest = (
            f"strongest pair {self.interactions[0].features[0]} x "
            f"{self.interactions[0].features[1]} (H² {self.interactions[0].h2:.3g})"
            if self.interactions
            else None
        )
        return one_line(
            "PartialDependence",
            self.output,
            ", ".join(self.feature_names),
            strongest,
            f"{self.n_rows:,} rows",
        )

    def _repr_html_(self) -> str:
        """Jupyter's display: the curves table and the figure (``.frame()``, ``.plot()``)."""
        from afterfit.display import html

        return html(self)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.feature for f in self.features)

    def __getitem__(self, feature: str) -> FeatureDependence:
        for f in self.features:
            if f.feature == feature:
                return f
        raise KeyError(feature)

    def frame(self) -> pd.DataFrame:
        """Every feature's grid: ``feature, value, average, ci_low, ci_high``."""
        parts = [f.frame() for f in self.features]
        if not parts:
            return pd.DataFrame(columns=["feature", "value", "average", "ci_low", "ci_high"])
        return pd.concat(parts, ignore_index=True)

    def ice_frame(self, *, centered: bool = False) -> pd.DataFrame:
        """Every feature's ICE curves: ``feature, row, value, prediction``."""
        parts = [f.ice_frame(centered=centered) for f in self.features]
        if not parts:
            return pd.DataFrame(columns=["feature", "row", "value", "prediction"])
        return pd.concat(parts, ignore_index=True)

    def interactions_frame(self) -> pd.DataFrame:
        """Every pair searched: ``feature_a, feature_b, h2, strength``, strongest first."""
        return pd.DataFrame(
            [(i.features[0], i.features[1], i.h2, i.strength) for i in self.interactions],
            columns=["feature_a", "feature_b", "h2", "strength"],
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: the method, settings, each feature's curves, the pairs, the heatmap."""
        return {
            "method": self.method,
            "band": self.band,
            "interaction_method": self.interaction_method if self.interactions else None,
            "task": self.task,
            "output": self.output,
            "class": _value(self.class_),
            "n_rows": int(self.n_rows),
            "n_rows_total": int(self.n_rows_total),
            "sampled": bool(self.sampled),
            "settings": {k: _setting(v) for k, v in self.settings.items()},
            "features": [f.to_dict() for f in self.features],
            "interactions": [i.to_dict() for i in self.interactions],
            "pair": None if self.pair is None else self.pair.to_dict(),
            "skipped": [{"feature": f, "reason": r} for f, r in self.skipped],
            "notes": list(self.notes),
        }

    def plot(self, *, centered: bool = False, columns: int = 3) -> Any:
        """Every feature's curve (or bars) in a grid of panels (matplotlib figure)."""
        from matplotlib.figure import Figure

        k = max(len(self.features), 1)
        cols = min(columns, k)
        rows = math.ceil(k / cols)
        fig = Figure(figsize=(4.2 * cols, 3.3 * rows), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for ax, f in zip(axes, self.features, strict=False):
            f.plot(centered=centered, output=self.output, ax=ax)
        for ax in axes[len(self.features) :]:
            ax.axis("off")
        sample = f", {self.n_rows:,} of {self.n_rows_total:,} rows" if self.sampled else ""
        level = self.settings.get("confidence", 0.95)
        fig.suptitle(
            f"Partial dependence ({level:.0%} bootstrap band, grey: ICE curves{sample})",
            fontsize="medium",
        )
        return fig

    def figures(self) -> dict[str, Any]:
        """The matplotlib figures, by file name: ``pdp`` and ``pdp_pair``."""
        out: dict[str, Any] = {}
        if self.features:
            out["pdp"] = self.plot()
        if self.pair is not None:
            out["pdp_pair"] = self.pair.plot(output=self.output)
        return out


def _setting(v: Any) -> Any:
    if isinstance(v, list | tuple):
        return [_setting(x) for x in v]
    return _value(v)


def _band(
    ice: np.ndarray, n_bootstrap: int, confidence: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile band of the mean ICE curve over bootstrap resamples of the rows."""
    n, g = ice.shape
    if n_bootstrap < 1 or n < 2:
        nan = np.full(g, np.nan)
        return nan, nan.copy()
    # Resample counts instead of indices: a (resamples x rows) weight matrix times the curves.
    chunk = max(1, 2_000_000 // n)
    means = np.empty((n_bootstrap, g))
    p = np.full(n, 1.0 / n)
    for s in range(0, n_bootstrap, chunk):
        b = min(n_bootstrap, s + chunk) - s
        weights = rng.multinomial(n, p, size=b).astype(np.float64)
        means[s : s + b] = weights @ ice / n
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha], axis=0)
    return low, high


def _rng(random_state: int | None, *keys: str) -> np.random.Generator:
    """A generator per piece of work: one feature's numbers do not depend on the others."""
    if random_state is None:
        return np.random.default_rng()
    return np.random.default_rng([int(random_state), *(zlib.crc32(k.encode()) for k in keys)])


# --- the function ------------------------------------------------------------------------------


def check_feature_names(features: Any, columns: list[str], what: str = "features") -> list[str]:
    if features is None:
        return []
    if isinstance(features, str):
        features = [f.strip() for f in features.split(",") if f.strip()]
    names = [str(f) for f in features]
    for name in names:
        if name not in columns:
            close = difflib.get_close_matches(name, columns, n=3, cutoff=0.5)
            hint = f" Close names: {', '.join(map(repr, close))}." if close else ""
            raise InvalidInputError(
                f"The feature {name!r} named in {what} is not a column of the data.{hint}",
                fix="name columns of the data (it has: "
                + ", ".join(map(repr, columns[:12]))
                + (", ..." if len(columns) > 12 else "")
                + ").",
            )
    return list(dict.fromkeys(names))


def _check_number(value: Any, name: str, low: float, fix: str, *, integer: bool = True) -> None:
    bad = isinstance(value, bool) or not isinstance(
        value, (int, np.integer) if integer else (int, float, np.integer, np.floating)
    )
    if bad or not value >= low:
        kind = "an integer" if integer else "a number"
        raise InvalidInputError(
            f"The argument '{name}' must be {kind} >= {low}; received {value!r}.", fix=fix
        )


def partial_dependence(
    model: Any,
    X: Any,
    features: Sequence[str] | str,
    *,
    grid_resolution: int = 20,
    percentiles: tuple[float, float] = (0.05, 0.95),
    kind: str = "both",
    n_bootstrap: int = 200,
    confidence: float = 0.95,
    sample_rows: int | None = SAMPLE_ROWS,
    ice_rows: int = ICE_ROWS,
    categorical_features: Sequence[str] | None = None,
    max_levels: int = MAX_LEVELS,
    class_: Any = None,
    interactions: bool = True,
    h_features: int = H_FEATURES,
    h_rows: int = H_ROWS,
    pair_resolution: int = PAIR_RESOLUTION,
    batch_rows: int = BATCH_ROWS,
    time_budget: float | None = None,
    random_state: int | None = 0,
    progress: Progress | None = None,
) -> PartialDependence:
    """Partial dependence and ICE curves of ``features``, with bootstrap bands, and the
    two-way partial dependence of the most interacting pair.

    Parameters
    ----------
    model : object
        Anything :func:`afterfit.models.as_model` takes (a pipeline on raw columns, a
        LightGBM model on pandas categoricals, ...).
    X : table
        Rows the curves average over, in the model's raw columns (pandas, polars, pyarrow).
    features : sequence of str or comma-separated str
        Columns to draw, in this order.
    grid_resolution : int, default 20
        Grid points of a numeric feature (scikit-learn's grid: its distinct values when it
        has fewer).
    percentiles : (float, float), default (0.05, 0.95)
        Ends of a numeric feature's grid.
    kind : {"both", "average", "individual"}, default "both"
        "average" keeps no ICE curves (the band is still computed from them).
    n_bootstrap : int, default 200
        Resamples of the rows for the band of the average (0: no band).
    confidence : float, default 0.95
        Level of the band.
    sample_rows : int or None, default 1,000
        Average over a seeded sample of this many rows (None: all rows).
    ice_rows : int, default 50
        ICE curves kept (a seeded subsample of the rows).
    categorical_features : sequence of str, optional
        Numeric columns to treat as categories (text, category and boolean columns are).
    max_levels : int, default 20
        Levels of a categorical feature on the grid: the most frequent; the rest are named
        in ``other_levels``.
    class_ : object, optional
        Classification: the class whose score is shown (default: the positive class of a
        binary model, the class predicted most often for a multiclass one).
    interactions : bool, default True
        Search the strongest pair among the first ``h_features`` features (H-statistic on
        ``h_rows`` rows) and compute its two-way partial dependence.
    h_features, h_rows, pair_resolution : int
        Features searched, rows of the H-statistic, grid points per axis of the pair.
    batch_rows : int, default 100,000
        Rows of one ``predict_scores`` call (grid copies are stacked up to it).
    time_budget : float, optional
        Seconds after which no new feature or pair is started (the result says what was
        left out).
    random_state : int, optional
        Seed of the samples and the bootstrap.
    progress : callable, optional
        ``progress("pdp", done, total)`` after each feature and pair.

    Returns
    -------
    PartialDependence
        ``frame()``, ``ice_frame()``, ``interactions_frame()``, ``to_dict()``, ``plot()``.

    Raises
    ------
    InvalidInputError
        A feature that is not a column, or a bad option.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.linear_model import Ridge
    >>> X, y = load_diabetes(return_X_y=True, as_frame=True)
    >>> pdp = partial_dependence(Ridge().fit(X, y), X, ["bmi", "s5"], n_bootstrap=50)
    >>> pdp.frame().columns.tolist()
    ['feature', 'value', 'average', 'ci_low', 'ci_high']
    """
    from afterfit.data import as_frame, check_features
    from afterfit.metrics.resampling import check_interval_options
    from afterfit.models import as_model

    _check_number(grid_resolution, "grid_resolution", 2, "pass 20 grid points, or more.")
    _check_number(n_bootstrap, "n_bootstrap", 0, "pass 200, or 0 for no band.")
    _check_number(ice_rows, "ice_rows", 0, "pass 50, or 0 for no ICE curves.")
    _check_number(max_levels, "max_levels", 1, "pass 20.")
    _check_number(h_features, "h_features", 2, "pass 4.")
    _check_number(h_rows, "h_rows", 2, "pass 200.")
    _check_number(pair_resolution, "pair_resolution", 2, "pass 10.")
    _check_number(batch_rows, "batch_rows", 1, "pass 100_000.")
    if sample_rows is not None:
        _check_number(sample_rows, "sample_rows", 2, "pass 1000, or None for every row.")
    check_interval_options(confidence=confidence)
    try:
        lo_p, hi_p = (float(p) for p in percentiles)
    except (TypeError, ValueError):
        lo_p, hi_p = math.nan, math.nan
    if not (0 <= lo_p < hi_p <= 1):
        raise InvalidInputError(
            f"The argument 'percentiles' must be two numbers 0 <= low < high <= 1; received "
            f"{percentiles!r}.",
            fix="pass percentiles=(0.05, 0.95).",
        )
    if kind not in ("both", "average", "individual"):
        raise InvalidInputError(
            f"The argument 'kind' must be 'both', 'average' or 'individual'; received {kind!r}.",
            fix="pass kind='both'.",
        )
    m = as_model(model)
    frame = check_features(as_frame(X, feature_names=m.feature_names), m)
    columns = [str(c) for c in frame.columns]
    names = check_feature_names(features, columns)
    if not names:
        raise InvalidInputError(
            "The argument 'features' names no column.", fix="name at least one column of X."
        )
    as_categories = set(check_feature_names(categorical_features, columns, "categorical_features"))
    n_total = len(frame)
    if n_total < 2:
        raise InvalidInputError(
            f"Partial dependence needs at least 2 rows; X has {n_total}.",
            fix="pass more rows (the test set).",
        )
    start = time.perf_counter()
    deadline = None if time_budget is None else start + float(time_budget)
    notes: list[str] = []
    skipped: list[tuple[str, str]] = []

    sampled = sample_rows is not None and sample_rows < n_total
    positions = np.arange(n_total)
    if sampled:
        positions = np.sort(_rng(random_state, "rows").choice(n_total, sample_rows, replace=False))
        notes.append(
            f"Partial dependence averages over {len(positions):,} of {n_total:,} rows, "
            "sampled at random (sample_rows)."
        )
    rows = frame.iloc[positions].reset_index(drop=True)
    n = len(rows)
    output = ModelOutput(m, rows, class_)

    # one unit per feature, per feature and pair of the H-statistic, and the two-way grid
    k = min(len(names), h_features)
    pair_work = k + math.comb(k, 2) + 1 if interactions and k >= 2 else 0
    total = len(names) + pair_work
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress("pdp", done, total)

    results: list[FeatureDependence] = []
    errors: list[Exception] = []
    for name in names:
        s = rows[name]
        if deadline is not None and results and time.perf_counter() > deadline:
            skipped.append((name, f"time budget: {time_budget:g} s spent"))
            tick()
            continue
        if is_datetime(s):
            reason = (
                "a date or time column: partial dependence needs numbers or categories "
                "(a pipeline that drops it does not use it)"
            )
            skipped.append((name, reason))
            tick()
            continue
        categorical = name in as_categories or is_categorical(s)
        if is_categorical(s) and s.nunique(dropna=True) > max(max_levels, n // 2):
            reason = (
                "text with a different value in most rows (free text or an identifier): "
                "no levels to set it to"
            )
            skipped.append((name, reason))
            tick()
            continue
        try:
            grid, others, grid_notes = feature_grid(
                s, categorical=categorical, grid_resolution=grid_resolution,
                percentiles=(lo_p, hi_p), max_levels=max_levels,
            )  # fmt: skip
        except InvalidInputError as exc:
            skipped.append((name, str(exc)))
            tick()
            continue
        notes.extend(grid_notes)
        if not categorical and len(grid) <= DISCRETE_MAX and len(grid) < grid_resolution:
            categorical = True  # a handful of values: bars read better than a line
        try:
            ice = predict_copies(output, rows, {name: list(grid)}, batch_rows)
        except Exception as exc:  # one feature the model cannot take never hides the others
            errors.append(exc)
            skipped.append((name, f"the model failed on its grid: {type(exc).__name__}: {exc}"))
            tick()
            continue
        rng = _rng(random_state, "feature", name)
        low, high = _band(ice, n_bootstrap, float(confidence), rng)
        keep = np.arange(n)
        if kind == "average":
            keep = keep[:0]
        elif n > ice_rows:
            keep = np.sort(rng.choice(n, ice_rows, replace=False))
        if others:
            notes.append(
                f"{name}: the {len(grid)} most frequent of {len(grid) + len(others)} levels are "
                "drawn; the others are listed in other_levels."
            )
        results.append(
            FeatureDependence(
                feature=name,
                categorical=bool(categorical),
                grid=tuple(grid.tolist()),
                average=ice.mean(axis=0),
                ci_low=low,
                ci_high=high,
                ice=ice[keep],
                ice_positions=tuple(int(p) for p in positions[keep]),
                other_levels=tuple(others),
            )
        )
        tick()

    if errors and not results:
        raise errors[0]  # the model failed on every feature: a failure, not a result
    found: list[Interaction] = []
    pair = None
    searched = [f.feature for f in results][:h_features]
    if interactions and len(searched) >= 2:
        h_n = min(h_rows, n)
        h_pos = np.sort(_rng(random_state, "h").choice(n, h_n, replace=False))
        try:
            found, cut = h_statistics(
                output, rows.iloc[h_pos].reset_index(drop=True), searched,
                batch_rows=batch_rows, progress=tick, deadline=deadline,
            )  # fmt: skip
        except Exception as exc:  # the curves stand without the interactions
            found, cut = [], False
            skipped.append(("interactions", f"failed: {type(exc).__name__}: {exc}"))
        if cut:
            skipped.append(("interactions", f"time budget: {time_budget:g} s spent"))
        if found:
            notes.append(
                f"The H-statistic of each pair among {', '.join(searched)} was computed on "
                f"{h_n:,} rows{' sampled at random' if h_n < n else ''}."
            )
        best = next((i for i in found if math.isfinite(i.strength) and i.strength > 0), None)
        if best is not None and not (math.isfinite(best.h2) and best.h2 >= MIN_H2):
            notes.append(
                f"No pair interacts: the strongest, {' and '.join(best.features)}, has H² "
                f"{best.h2:.2g} (below {MIN_H2:g}); the features' effects add up, so no "
                "two-way plot is drawn."
            )
            best = None
        if best is not None and not (deadline is not None and time.perf_counter() > deadline):
            pair = _pair(output, rows, best.features, results, pair_resolution, (lo_p, hi_p),
                         max_levels, as_categories, batch_rows)  # fmt: skip
            tick()
    if progress is not None and done < total:
        progress("pdp", total, total)
    flat = [f.feature for f in results if np.ptp(f.average) == 0]
    if flat:
        notes.append(
            f"The model's output does not change with {', '.join(flat)} on these rows: the "
            "model does not use it (a pipeline may drop it)."
        )
    settings = {
        "grid_resolution": int(grid_resolution),
        "percentiles": [lo_p, hi_p],
        "kind": kind,
        "n_bootstrap": int(n_bootstrap),
        "confidence": float(confidence),
        "sample_rows": sample_rows,
        "ice_rows": int(ice_rows),
        "max_levels": int(max_levels),
        "h_features": int(h_features),
        "h_rows": int(h_rows),
        "pair_resolution": int(pair_resolution),
        "random_state": random_state,
    }
    return PartialDependence(
        features=tuple(results),
        pair=pair,
        interactions=tuple(found),
        task=m.task,
        output=output.label,
        class_=output.class_,
        n_rows=n,
        n_rows_total=n_total,
        sampled=bool(sampled),
        settings=settings,
        skipped=tuple(skipped),
        notes=tuple(notes),
    )


def _pair(
    output: ModelOutput,
    rows: pd.DataFrame,
    features: tuple[str, str],
    results: list[FeatureDependence],
    resolution: int,
    percentiles: tuple[float, float],
    max_levels: int,
    as_categories: set[str],
    batch_rows: int,
) -> PairDependence:
    """Two-way partial dependence on a ``resolution`` x ``resolution`` grid."""
    kinds = {f.feature: f.categorical for f in results}
    grids = []
    for name in features:
        s = rows[name]
        categorical = name in as_categories or is_categorical(s)
        grid, _, _ = feature_grid(s, categorical=categorical, grid_resolution=resolution,
                                  percentiles=percentiles, max_levels=max_levels)  # fmt: skip
        grids.append(grid.tolist())
    ga, gb = grids
    assign = {features[0]: [a for a in ga for _ in gb], features[1]: [b for _ in ga for b in gb]}
    average = predict_copies(output, rows, assign, batch_rows).mean(axis=0)
    return PairDependence(
        features=features,
        grids=(tuple(ga), tuple(gb)),
        categorical=(kinds[features[0]], kinds[features[1]]),
        average=average.reshape(len(ga), len(gb)),
    )
