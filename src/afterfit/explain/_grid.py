"""Grids of feature values, and the model's output on stacked copies of the rows.

The machinery of partial dependence (:mod:`afterfit.explain.dependence`) and the
H-statistic (:mod:`afterfit.explain.interactions`): scikit-learn's grid of a column, and
copies of the rows with some columns set to grid values, stacked into few model calls, in
every column's own dtype (pandas categoricals keep their categories, integer columns stay
integers where the grid allows).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from afterfit.errors import InvalidInputError
from afterfit.explain._threads import single_threaded

#: Levels of a categorical feature drawn; the rest are named in ``other_levels``.
MAX_LEVELS = 20
#: Tables smaller than this are predicted on one thread. Waking OpenMP's pool costs more
#: than it saves here: scikit-learn's HistGradientBoosting predicted 30,000 rows of breast
#: cancer in 0.19 s on one thread and 0.40 s on its default threads (two busy cores; 3,000
#: rows: 0.029 s and 0.037 s). Larger tables keep the library's own threading.
SINGLE_THREAD_ROWS = 50_000


def is_categorical(s: pd.Series) -> bool:
    """Text, category and boolean columns: their levels are the grid."""
    return not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)


def is_datetime(s: pd.Series) -> bool:
    """Dates and durations: neither a numeric grid nor levels fit them."""
    return pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_timedelta64_dtype(s)


def _uniques(s: pd.Series) -> np.ndarray:
    """Sorted distinct non-missing values, as ``np.unique`` gives them (scikit-learn)."""
    values = s.to_numpy()
    present = ~pd.isna(values)
    return np.unique(values[present])


def feature_grid(
    s: pd.Series,
    *,
    categorical: bool,
    grid_resolution: int,
    percentiles: tuple[float, float],
    max_levels: int = MAX_LEVELS,
) -> tuple[np.ndarray, tuple[Any, ...], list[str]]:
    """scikit-learn's grid of one column (``_grid_from_X``), without its missing values.

    An integer column's evenly spaced points are rounded to whole numbers (scikit-learn
    has no grid for integer columns).

    Returns the grid, the levels beyond ``max_levels`` (the rarest, left out) and notes.
    """
    from scipy.stats.mstats import mquantiles

    notes: list[str] = []
    uniques = _uniques(s)
    if len(uniques) == 0:
        raise InvalidInputError(
            f"The column {s.name!r} has no values (all missing).",
            fix="leave it out of the features.",
        )
    if categorical or len(uniques) < grid_resolution:
        if categorical and len(uniques) > max_levels:
            # The most frequent levels, kept in their sorted order: the rest are named.
            counts = s.value_counts(dropna=True)
            keep = set(counts.index[:max_levels].tolist())
            kept = np.array([u for u in uniques if u in keep], dtype=uniques.dtype)
            others = tuple(u for u in uniques if u not in keep)
            return kept, others, notes
        return uniques, (), notes
    values = s.to_numpy(dtype=np.float64, na_value=np.nan)
    values = values[np.isfinite(values)]
    low, high = mquantiles(values, prob=percentiles, axis=0)
    if np.allclose(low, high):
        # scikit-learn refuses here; the column's whole range still says something
        low, high = float(values.min()), float(values.max())
        notes.append(
            f"{s.name}: its {percentiles[0]:g} and {percentiles[1]:g} quantiles coincide; "
            "the grid spans its whole range."
        )
    grid = np.linspace(low, high, num=grid_resolution, endpoint=True)
    if pd.api.types.is_integer_dtype(s.dtype):
        # scikit-learn refuses integer columns; whole numbers keep the column's dtype, which
        # models with typed inputs (ONNX int64) need
        grid = np.unique(np.round(grid)).astype(np.int64)
    return grid, (), notes


def _repeat_column(s: pd.Series, values: Sequence[Any], n: int) -> Any:
    """``values[0]`` n times, then ``values[1]`` n times, ... in the column's own dtype."""
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        # the same categories as the data: LightGBM and encoders check them
        codes = dtype.categories.get_indexer(pd.Index(list(values), dtype=object))
        return pd.Categorical.from_codes(np.repeat(codes, n), dtype=dtype)
    if pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        arr = np.asarray(list(values))
        whole = arr.dtype.kind in "biu" or (arr.dtype.kind == "f" and np.all(arr == np.round(arr)))
        if not whole:
            # a grid between integers: the column becomes float (scikit-learn refuses
            # integer columns for this reason; models of numbers take floats)
            float_dtype = np.float64 if isinstance(dtype, np.dtype) else "Float64"
            return pd.array(np.repeat(arr.astype(np.float64), n), dtype=float_dtype)
    if isinstance(dtype, np.dtype):
        target = object if dtype.kind in "OUS" else dtype
        return np.repeat(np.asarray(list(values), dtype=target), n)
    return pd.array(np.repeat(np.asarray(list(values), dtype=object), n), dtype=dtype)


def stacked(frame: pd.DataFrame, assign: dict[str, Sequence[Any]]) -> pd.DataFrame:
    """``g`` copies of ``frame`` on top of each other; in copy ``j`` each column of
    ``assign`` holds ``assign[column][j]`` in every row."""
    n = len(frame)
    g = len(next(iter(assign.values())))
    index = np.tile(np.arange(n), g)
    data: dict[Any, Any] = {}
    for name in frame.columns:
        if name in assign:
            data[name] = _repeat_column(frame[name], assign[name], n)
        else:
            data[name] = pd.Series(frame[name].array.take(index), copy=False)
    return pd.DataFrame(data, copy=False)


class ModelOutput:
    """The model's output the curves show: a class's score column, or the prediction."""

    def __init__(self, m: Any, frame: pd.DataFrame, class_: Any):
        self.m = m
        self.column: int | None = None
        self.class_ = None
        if m.task == "regression":
            if class_ is not None:
                raise InvalidInputError(
                    f"class_={class_!r} was given, but the model is a regression model.",
                    fix="leave class_ out for a regression model.",
                )
            self.label = "prediction"
            return
        classes = list(np.asarray(m.classes_).tolist())
        if class_ is None:
            if len(classes) == 2:
                chosen = 1
            else:
                # the class the model predicts most often on these rows
                scores = np.asarray(m.predict_scores(frame))
                chosen = int(np.bincount(scores.argmax(axis=1), minlength=len(classes)).argmax())
        else:
            matches = [i for i, c in enumerate(classes) if c == class_ or str(c) == str(class_)]
            if not matches:
                raise InvalidInputError(
                    f"class_={class_!r} is not a class of the model; its classes are "
                    f"{', '.join(map(repr, classes))}.",
                    fix="pass one of the model's classes as class_.",
                )
            chosen = matches[0]
        self.column = chosen
        self.class_ = classes[chosen]
        proba = bool(getattr(m, "scores_are_probabilities", True))
        self.label = f"P(y = {self.class_})" if proba else f"decision score of {self.class_}"

    def __call__(self, table: pd.DataFrame) -> np.ndarray:
        if len(table) < SINGLE_THREAD_ROWS:
            with single_threaded():
                raw = np.asarray(self.m.predict_scores(table), dtype=np.float64)
        else:
            raw = np.asarray(self.m.predict_scores(table), dtype=np.float64)
        if self.column is not None and raw.ndim == 2:
            return raw[:, self.column]
        return raw.reshape(-1)


def predict_copies(
    output: ModelOutput, frame: pd.DataFrame, assign: dict[str, Sequence[Any]], batch_rows: int
) -> np.ndarray:
    """The output of every row in every copy: shape ``(n_rows, n_copies)``, the copies
    stacked into calls of at most ``batch_rows`` rows."""
    n = len(frame)
    g = len(next(iter(assign.values())))
    per_call = max(1, batch_rows // max(n, 1))
    out = np.empty((n, g))
    for start in range(0, g, per_call):
        stop = min(g, start + per_call)
        part = {c: list(v[start:stop]) for c, v in assign.items()}
        pred = output(stacked(frame, part))
        out[:, start:stop] = pred.reshape(stop - start, n).T
    return out
