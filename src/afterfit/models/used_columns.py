"""Which input columns a fitted model actually reads.

A scikit-learn pipeline that starts with a ``ColumnTransformer`` reads only the columns
its transformers select: columns of ``"drop"`` transformers and, with
``remainder="drop"`` (the default), columns no transformer names are never looked at
(scikit-learn's own ``transform`` accepts a frame without them). An identifier or a date
kept beside the features in the training table is such a column. The input schema, the
ONNX graph's inputs and a deployed model's requests follow the columns read, so a request
need not carry them.

Every other model (a bare estimator, a pipeline without a leading column transformer, a
booster, a torch module) reads all its columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["used_columns"]


def _leading_column_transformer(estimator: Any) -> Any | None:
    """The ``ColumnTransformer`` that first sees the input, or None."""
    from sklearn.compose import ColumnTransformer

    seen = 0
    while estimator is not None and seen < 32:  # nested pipelines; a cycle cannot occur
        seen += 1
        if isinstance(estimator, ColumnTransformer):
            return estimator
        steps = getattr(estimator, "steps", None)
        if not steps:
            return None
        first = steps[0][1]
        if first is None or first == "passthrough":
            if len(steps) < 2:
                return None
            first = steps[1][1]
        estimator = first
    return None


def used_columns(estimator: Any, columns: Sequence[str]) -> list[str]:
    """The columns of ``columns`` that ``estimator`` reads, in their order.

    Parameters
    ----------
    estimator : object
        The raw model (a scikit-learn estimator or pipeline, a booster...), fitted.
    columns : sequence of str
        The training columns, in the model's order.

    Returns
    -------
    list of str
        ``columns`` itself unless the model starts with a fitted ``ColumnTransformer``
        fitted on named columns; then the columns its non-dropped transformers select
        (the remainder included when it is not ``"drop"``).

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.compose import ColumnTransformer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> X = pd.DataFrame({"id": [1, 2, 3, 4], "age": [20, 30, 40, 50]})
    >>> ct = ColumnTransformer([("num", StandardScaler(), ["age"])])
    >>> model = make_pipeline(ct, LogisticRegression()).fit(X, [0, 0, 1, 1])
    >>> used_columns(model, list(X.columns))
    ['age']
    """
    columns = [str(c) for c in columns]
    ct = _leading_column_transformer(estimator)
    names_in = getattr(ct, "feature_names_in_", None)
    indices = getattr(ct, "_transformer_to_input_indices", None)
    fitted = getattr(ct, "transformers_", None)
    if ct is None or names_in is None or indices is None or fitted is None:
        return columns
    names_in = [str(c) for c in names_in]
    if set(names_in) != set(columns):
        return columns  # not the frame it was fitted on: keep every column
    read: set[str] = set()
    for name, transformer, _ in fitted:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        for i in indices.get(name, ()):
            read.add(names_in[int(i)])
    if not read:
        return columns  # a model that reads nothing is not one to narrow down
    return [c for c in columns if c in read]
