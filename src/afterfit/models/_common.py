"""Helpers shared by the model adapters (private).

Besides the :class:`~afterfit.models.base.Model` protocol, every adapter in this package
sets three optional attributes that :func:`afterfit.data.check_features` reads:

``n_features`` : int or None
    How many input columns the model takes, when known.
``feature_dtypes`` : dict of str to str, or None
    The dtype the model expects for each named input column, when it declares one, in
    the vocabulary of :data:`DTYPES` (``"float32"``, ``"int64"``, ``"str"``, ...).
``input_dtype`` : str or None
    The dtype of the single numeric matrix the model takes (an ONNX float tensor, a
    PyTorch module), when it takes one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from afterfit.errors import ModelError, SchemaError
from afterfit.models.base import TASKS, Task

#: dtypes a model may declare for its inputs.
NUMERIC_DTYPES: frozenset[str] = frozenset(
    {"float16", "float32", "float64", "int8", "int16", "int32", "int64"}
    | {"uint8", "uint16", "uint32", "uint64", "bool"}
)
DTYPES: frozenset[str] = NUMERIC_DTYPES | {"str", "category", "any"}


def check_task(task: str | None, *, argument: str = "task") -> Task | None:
    """Return ``task`` unchanged after checking it is one of :data:`TASKS` (or None)."""
    if task is None:
        return None
    if task not in TASKS:
        raise ModelError(
            f"The argument '{argument}' must be one of {', '.join(map(repr, TASKS))}; "
            f"received {task!r}.",
            fix=f"pass {argument}='binary', 'multiclass' or 'regression'.",
        )
    return task  # type: ignore[return-value]


def as_classes(classes: Sequence[Any] | np.ndarray | None) -> np.ndarray | None:
    """Return ``classes`` as a 1-D array of unique labels, or None."""
    if classes is None:
        return None
    arr = np.asarray(classes)
    if arr.ndim != 1 or arr.size < 2:
        raise ModelError(
            f"The argument 'classes' must be a 1-D sequence of at least two class labels; "
            f"received {classes!r}.",
            fix="pass the labels in the order of the model's score columns, "
            "for example classes=['no', 'yes'].",
        )
    if len(pd.unique(arr)) != arr.size:
        raise ModelError(
            f"The argument 'classes' must not repeat a label; received {arr.tolist()!r}.",
            fix="pass each class label once, in the order of the model's score columns.",
        )
    return arr


def task_from_n_classes(n_classes: int) -> Task:
    """``"binary"`` for two classes, ``"multiclass"`` for more."""
    return "binary" if n_classes == 2 else "multiclass"


def check_task_classes(task: Task, classes: np.ndarray | None, *, what: str) -> None:
    """Check that a classification task agrees with the number of classes."""
    if task == "regression" or classes is None:
        return
    n = len(classes)
    if task == "binary" and n != 2:
        raise ModelError(
            f"{what} has {n} classes ({_short(classes)}), but the task given is 'binary'.",
            fix="pass task='multiclass', or leave task out to infer it.",
        )
    if task == "multiclass" and n < 3:
        raise ModelError(
            f"{what} has {n} classes ({_short(classes)}), but the task given is 'multiclass'.",
            fix="pass task='binary', or leave task out to infer it.",
        )


def _short(values: Any, limit: int = 10) -> str:
    items = list(np.asarray(values).tolist())
    text = ", ".join(repr(v) for v in items[:limit])
    if len(items) > limit:
        text += f", ... ({len(items)} in all)"
    return text


def short_list(values: Any, limit: int = 10) -> str:
    """A comma-separated, truncated rendering of ``values`` for error messages."""
    return _short(values, limit)


def to_frame(X: Any) -> pd.DataFrame | np.ndarray:
    """Pass numpy arrays and pandas frames through; convert anything else with ``as_frame``."""
    if isinstance(X, pd.DataFrame | np.ndarray):
        return X
    from afterfit.data import as_frame

    return as_frame(X)


def lightgbm_categories(booster: Any, X: Any) -> Any:
    """``X`` with its text columns as the pandas categories a LightGBM model was trained on.

    LightGBM maps ``category`` columns to the training categories itself, but refuses text
    ("categorical_feature do not match"), which is what a CSV file gives. When the frame
    has no ``category`` column and exactly as many text columns as the model has
    categorical ones, they are those (in the model's column order, which the caller's frame
    follows), and are cast as LightGBM casts them: a value it never saw becomes missing.
    """
    categories = getattr(booster, "pandas_categorical", None)
    if not categories or not isinstance(X, pd.DataFrame):
        return X
    if any(isinstance(t, pd.CategoricalDtype) for t in X.dtypes):
        return X  # categories given: LightGBM aligns them
    text = [
        c for c in X.columns if X[c].dtype == object or pd.api.types.is_string_dtype(X[c].dtype)
    ]
    if len(text) != len(categories):
        return X
    return X.assign(
        **{
            c: pd.Categorical(X[c], categories=list(levels))
            for c, levels in zip(text, categories, strict=True)
        }
    )


def numeric_matrix(X: Any, dtype: str, *, what: str) -> np.ndarray:
    """``X`` as a 2-D numeric array of ``dtype``, with a SchemaError naming a bad column.

    Text columns whose every value reads as a number are converted; missing values of
    nullable pandas columns become NaN (for float dtypes).
    """
    X = to_frame(X)
    if isinstance(X, np.ndarray):
        arr = X
    else:
        converted: dict[Any, pd.Series] = {}
        for name in X.columns:
            col = X[name]
            if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
                continue
            as_num = pd.to_numeric(col.astype(object), errors="coerce")
            bad = col[as_num.isna() & col.notna()]
            if len(bad):
                raise SchemaError(
                    f"Column {name!r} holds text such as {bad.iloc[0]!r}, but {what} "
                    f"takes a numeric matrix of {dtype}.",
                    fix=f"encode column {name!r} as numbers, or drop it, before evaluating.",
                )
            converted[name] = as_num
        if converted:
            X = X.copy()
            for name, values in converted.items():
                X[name] = values
        try:
            if np.dtype(dtype).kind == "f":
                arr = X.to_numpy(dtype=dtype, na_value=np.nan)
            else:
                arr = X.to_numpy(dtype=dtype)
        except (TypeError, ValueError) as exc:
            raise SchemaError(
                f"The input cannot be converted to a numeric matrix of {dtype} for {what}: {exc}.",
                fix="fill or drop missing values and encode text columns as numbers.",
            ) from exc
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    try:
        return np.ascontiguousarray(arr, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise SchemaError(
            f"The input cannot be converted to a numeric matrix of {dtype} for {what}: {exc}.",
            fix="encode text columns as numbers, or drop them, before evaluating.",
        ) from exc


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function."""
    return 1.0 / (1.0 + np.exp(-z))


def two_columns(p: np.ndarray) -> np.ndarray:
    """Probability of the positive class ``p`` as ``[1 - p, p]`` columns."""
    p = np.asarray(p, dtype=np.float64).reshape(-1)
    return np.column_stack([1.0 - p, p])


def labels_from_scores(scores: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The class with the highest score in each row."""
    return classes[np.argmax(scores, axis=1)]
