"""Data in: file readers (CSV, TSV, Parquet), tables, the :class:`Dataset`, schema checks.

Bad input stops here, with an error that names the file or column, what was expected,
what was found and how to fix it.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from afterfit.errors import AfterfitError, DataError, SchemaError

if TYPE_CHECKING:
    from afterfit.models.base import Model

__all__ = [
    "SUPPORTED_DATA_EXTENSIONS",
    "Dataset",
    "as_frame",
    "check_features",
    "guarded_batches",
    "load_dataset",
    "numbers_from_text",
    "pandas_index_columns",
    "read_table",
    "renamed_columns",
    "unreadable_file",
]

#: File extensions :func:`read_table` reads.
SUPPORTED_DATA_EXTENSIONS: tuple[str, ...] = (".csv", ".tsv", ".parquet", ".pq")

_NUMERIC = frozenset(
    {"float16", "float32", "float64", "int8", "int16", "int32", "int64"}
    | {"uint8", "uint16", "uint32", "uint64", "bool"}
)


def _names(values: Sequence[Any], limit: int = 10) -> str:
    items = [str(v) for v in values]
    text = ", ".join(repr(v) for v in items[:limit])
    if len(items) > limit:
        text += f", ... ({len(items)} in all)"
    return text


# --- reading --------------------------------------------------------------------------------


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet file into a DataFrame.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.csv``, ``.tsv``, ``.parquet`` or ``.pq`` file.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    DataError
        The file is missing, unreadable, of an unsupported type, or has no rows.

    Examples
    --------
    >>> frame = read_table("test.csv")  # doctest: +SKIP
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in SUPPORTED_DATA_EXTENSIONS:
        raise DataError(
            f"The data file '{path}' has the extension {ext or '(none)'!r}, which afterfit "
            f"cannot read; supported extensions: {', '.join(SUPPORTED_DATA_EXTENSIONS)}.",
            fix="save the table as CSV (.csv), TSV (.tsv) or Parquet (.parquet).",
        )
    if not path.exists():
        raise DataError(
            f"The data file '{path}' does not exist.",
            fix=f"check the path (relative paths start from the working directory '{Path.cwd()}').",
        )
    if not path.is_file():
        raise DataError(
            f"The data path '{path}' is not a file.",
            fix="pass the path of the data file itself.",
        )
    kind = "Parquet" if ext in (".parquet", ".pq") else ext[1:].upper()
    if path.stat().st_size == 0:
        raise DataError(
            f"The data file '{path}' is empty (0 bytes); expected a {kind} table with a "
            "header and at least one row.",
            fix="check that the file was written completely.",
        )
    try:
        if kind == "Parquet":
            frame = pd.read_parquet(path, engine="pyarrow")
        else:
            frame = pd.read_csv(path, sep="\t" if ext == ".tsv" else ",")
    except pd.errors.EmptyDataError as exc:
        raise DataError(
            f"The data file '{path}' holds no table (no header, no rows); expected a {kind} "
            "table with a header and at least one row.",
            fix="check that the file was written completely.",
        ) from exc
    except Exception as exc:  # parsers raise many error types
        raise unreadable_file(path, kind, exc) from exc
    if len(frame) == 0:
        raise DataError(
            f"The data file '{path}' has no rows (columns: {_names(frame.columns)}).",
            fix="pass a file with at least one data row.",
        )
    return frame


def _duplicated_parquet_columns(path: str | os.PathLike[str]) -> list[str]:
    """The column names a Parquet file's schema holds more than once (none if unreadable)."""
    try:
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
    except Exception:  # the file's own damage: the caller says so
        return []
    return sorted({n for n in names if names.count(n) > 1})


def unreadable_file(
    path: str | os.PathLike[str],
    kind: str,
    exc: BaseException,
    *,
    rows_read: int | None = None,
    what: str = "The data file",
) -> DataError:
    """The error of an input file its parser failed on, naming the file and the parser's
    reason (never mistaken for a problem writing the output, as an ``OSError`` would be)."""
    text = str(exc).strip()
    duplicated = _duplicated_parquet_columns(path) if kind == "Parquet" else []
    if duplicated:  # pyarrow's "Multiple matches for FieldRef" reads like damage
        return DataError(
            f"{what} '{path}' has duplicated column names: {_names(duplicated)}.",
            fix="write the table again with each column name once.",
        )
    reason = f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".rstrip(" .:")
    where = f" after {rows_read:,} row(s)" if rows_read else ""
    return DataError(
        f"{what} '{path}' could not be read as {kind}{where}: {reason}.",
        fix=f"check that the file is a complete, valid {kind} file (a truncated or damaged "
        "file must be written again from its source; a file with another format needs the "
        "matching extension).",
    )


def guarded_batches(
    batches: Iterable[Any],
    path: str | os.PathLike[str],
    *,
    kind: str = "Parquet",
    what: str = "The data file",
) -> Iterator[Any]:
    """``batches`` (Arrow record batches or frames) as they come; a read failure midway (a
    damaged page of a Parquet file) becomes :func:`unreadable_file`, naming the file.

    Streaming readers (``afterfit predict``, the monitor) share it with :func:`read_table`,
    so that every command names the same cause for the same damaged file.
    """
    rows = 0
    iterator = iter(batches)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except AfterfitError:
            raise
        except Exception as exc:  # pyarrow raises OSError, ArrowInvalid...; pandas others
            raise unreadable_file(path, kind, exc, rows_read=rows, what=what) from exc
        rows += len(batch) if hasattr(batch, "__len__") else int(batch.num_rows)
        yield batch


def pandas_index_columns(arrow_schema: Any) -> list[str]:
    """The columns of a Parquet file that hold a pandas index (``__index_level_0__``, or
    the index's name), from the file's pandas metadata.

    :func:`read_table` (``pandas.read_parquet``) reads them back as the index, not as
    data; streaming readers leave them out the same way.
    """
    try:
        meta = arrow_schema.pandas_metadata or {}
        index = meta.get("index_columns", []) if isinstance(meta, dict) else []
    except Exception:  # metadata that is not JSON: no index recorded
        return []
    # A RangeIndex is stored as a description (a dict), not as a column.
    return [c for c in index if isinstance(c, str)] if isinstance(index, list) else []


def numbers_from_text(
    frame: pd.DataFrame, columns: Iterable[str]
) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """Convert the columns among ``columns`` that hold numbers as text (or as objects:
    huge integers, decimals) to numbers, the one rule every reader applies.

    Returns
    -------
    frame : pandas.DataFrame
        ``frame`` with each such column converted: to floats where every value reads as a
        number; else to objects, numbers where they read as numbers and the other values
        as they were.
    bad : dict of str to pandas.Series
        Per column, its values that are not numbers (for the caller's error:
        :func:`check_features` raises, a schema names the rows).
    """
    converted: dict[str, pd.Series] = {}
    bad: dict[str, pd.Series] = {}
    for col in columns:
        if col not in frame.columns:
            continue
        series = frame[col]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            continue
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype(object)
        as_num = pd.to_numeric(series.astype(object), errors="coerce")
        wrong_mask = as_num.isna() & series.notna()
        if wrong_mask.any():
            bad[col] = series[wrong_mask]
            # The numbers converted, the rest kept: a schema then names only those rows.
            converted[col] = as_num.astype(object).where(~wrong_mask, series.astype(object))
        else:
            converted[col] = as_num
    if converted:
        frame = frame.assign(**converted)
    return frame, bad


def _is_polars(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] == "polars"


def as_frame(X: Any, *, feature_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Turn a table-like object into a pandas DataFrame.

    Parameters
    ----------
    X : pandas.DataFrame, polars.DataFrame, pyarrow.Table, numpy.ndarray or list
        The rows. 2-D arrays and lists of rows get the columns ``feature_names``, or
        ``x0..x{n-1}``.
    feature_names : sequence of str, optional
        Column names for arrays and lists (ignored for frames, which have their own).

    Returns
    -------
    pandas.DataFrame
        A pandas frame is returned as is, not copied.

    Raises
    ------
    DataError
        ``X`` is 1-D, of an unsupported type, or ``feature_names`` does not match its width.

    Examples
    --------
    >>> as_frame([[1, 2], [3, 4]]).columns.tolist()
    ['x0', 'x1']
    """
    if isinstance(X, pd.DataFrame):
        return X
    if _is_polars(X):
        import polars as pl

        if isinstance(X, pl.LazyFrame):
            X = X.collect()
        if isinstance(X, pl.DataFrame):
            try:
                return X.to_pandas()
            except ModuleNotFoundError:
                return X.to_arrow().to_pandas()
    if type(X).__module__.split(".")[0] == "pyarrow" and hasattr(X, "to_pandas"):
        frame = X.to_pandas()
        if isinstance(frame, pd.DataFrame):
            return frame
    if isinstance(X, pd.Series) or (_is_polars(X) and type(X).__name__ == "Series"):
        name = getattr(X, "name", None)
        raise DataError(
            f"The features must be a 2-D table; received a 1-D series ({name!r}).",
            fix="pass a frame: X.to_frame() for one feature, or the whole table of features.",
        )
    if isinstance(X, list | tuple) and X and all(isinstance(r, dict) for r in X):
        return pd.DataFrame(list(X))
    if isinstance(X, np.ndarray | list | tuple):
        if isinstance(X, np.ndarray):
            ndim, shape = X.ndim, X.shape
        else:
            rows = list(X)
            row_like = [isinstance(r, list | tuple | np.ndarray) for r in rows]
            ndim = 2 if rows and all(row_like) else (1 if not any(row_like) else 0)
            lengths = {len(r) for r in rows} if ndim == 2 else set()
            if len(lengths) > 1:
                raise DataError(
                    f"The rows of the features have different lengths ({sorted(lengths)}); "
                    "a table needs the same number of columns in every row.",
                    fix="fix the short rows, or pass a frame.",
                )
            shape = (len(rows), lengths.pop()) if ndim == 2 else (len(rows),)
        if ndim != 2:
            raise DataError(
                f"The features must be a 2-D table (rows x columns); received a "
                f"{ndim}-D {type(X).__name__} of shape {shape}.",
                fix="pass a 2-D array or a frame; reshape one feature with X.reshape(-1, 1).",
            )
        n = shape[1]
        if feature_names is None:
            names = [f"x{i}" for i in range(n)]
        else:
            names = [str(c) for c in feature_names]
            if len(names) != n:
                raise DataError(
                    f"The argument 'feature_names' has {len(names)} names, but the table has "
                    f"{n} columns.",
                    fix="pass one name per column, in the table's column order.",
                )
        if isinstance(X, np.ndarray):
            return pd.DataFrame(X, columns=names)
        return pd.DataFrame([list(r) for r in X], columns=names)
    raise DataError(
        f"The features must be a table; received a {type(X).__module__}.{type(X).__name__}.",
        fix="pass a pandas or polars DataFrame, a pyarrow Table, a 2-D numpy array or a "
        "list of rows.",
    )


# --- datasets -------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Dataset:
    """Features and target, ready for a model.

    Attributes
    ----------
    X : pandas.DataFrame
        Feature columns (the target and dropped columns removed).
    y : numpy.ndarray or None
        Target values, None when no target was named.
    target : str or None
        Name of the target column.
    source : str or None
        The file the data came from, None for in-memory data.
    """

    X: pd.DataFrame
    y: np.ndarray | None
    target: str | None
    source: str | None

    def __len__(self) -> int:
        return len(self.X)

    @property
    def feature_names(self) -> list[str]:
        """Names of the feature columns, in order."""
        return [str(c) for c in self.X.columns]


def _where(source: str | None) -> str:
    return f"the data file '{source}'" if source else "the data"


def load_dataset(
    data: str | os.PathLike[str] | Any,
    *,
    target: str | None,
    drop: Sequence[str] = (),
) -> Dataset:
    """Read data and split it into features and target.

    Parameters
    ----------
    data : str, os.PathLike or table
        A file for :func:`read_table`, or a table for :func:`as_frame`.
    target : str or None
        The target column; None for data without labels.
    drop : sequence of str, default ()
        Columns to leave out of the features (identifiers, timestamps, leaks...).

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        The data is empty, the target or a dropped column is absent, or the target has
        missing values.

    Examples
    --------
    >>> import pandas as pd
    >>> ds = load_dataset(pd.DataFrame({"a": [1, 2], "y": [0, 1]}), target="y")
    >>> ds.X.columns.tolist(), ds.y.tolist()
    (['a'], [0, 1])
    """
    if isinstance(data, str | os.PathLike):
        source: str | None = str(data)
        frame = read_table(data)
    else:
        source = None
        frame = as_frame(data)
    where = _where(source)
    if isinstance(drop, str):
        drop = [drop]
    if len(frame) == 0 or len(frame.columns) == 0:
        raise DataError(
            f"{where[0].upper()}{where[1:]} is empty ({len(frame)} rows, "
            f"{len(frame.columns)} columns); expected at least one row of features.",
            fix="pass a table with a header and at least one row.",
        )
    columns = [str(c) for c in frame.columns]
    if target is not None and target not in frame.columns:
        close = difflib.get_close_matches(str(target), columns, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise DataError(
            f"The target column {target!r} is not in {where}; available columns: "
            f"{_names(columns, 20)}.",
            fix=f"{hint}pass the name of the target column exactly as it is spelt in the "
            "header (--target NAME).",
        )
    absent = [c for c in drop if c not in frame.columns]
    if absent:
        raise DataError(
            f"The columns to drop {_names(absent)} are not in {where}; available columns: "
            f"{_names(columns, 20)}.",
            fix="pass only existing column names to drop (--drop NAME).",
        )
    to_drop = list(dict.fromkeys([*drop, *([target] if target is not None else [])]))
    X = frame.drop(columns=to_drop)
    if len(X.columns) == 0:
        raise DataError(
            f"No feature columns are left in {where} after removing the target and the "
            f"dropped columns ({_names(to_drop)}).",
            fix="keep at least one feature column.",
        )
    y: np.ndarray | None = None
    if target is not None:
        col = frame[target]
        n_missing = int(col.isna().sum())
        if n_missing:
            raise DataError(
                f"The target column {target!r} in {where} has {n_missing} missing value(s) "
                f"(NaN/None) out of {len(col)} rows; every row needs a label to be evaluated.",
                fix="drop those rows (frame.dropna(subset=[target])) or impute their target "
                "before evaluating.",
            )
        y = col.to_numpy()
    return Dataset(X=X, y=y, target=target, source=source)


# --- schema checks --------------------------------------------------------------------------


def _normalise(name: str) -> str:
    return re.sub(r"\W", "_", name)


def renamed_columns(missing: Sequence[str], extra: Sequence[str]) -> dict[str, str]:
    """Map data columns to the model's names where the model changed them in a known way.

    LightGBM and skl2onnx replace spaces and punctuation in feature names by underscores
    (``"mean radius"`` becomes ``"mean_radius"``). Given the model's names missing from the
    data and the data's names the model does not know, return ``{data_name: model_name}``
    for the pairs that agree once every non-word character is an underscore.
    """
    by_norm: dict[str, list[str]] = {}
    for col in extra:
        by_norm.setdefault(_normalise(col), []).append(col)
    renames: dict[str, str] = {}
    for name in missing:
        candidates = by_norm.get(_normalise(name), [])
        if len(candidates) == 1:
            renames[candidates[0]] = name
    return renames


def check_features(X: pd.DataFrame, model: Model) -> pd.DataFrame:
    """Check the feature columns against what ``model`` expects, and order them.

    Parameters
    ----------
    X : pandas.DataFrame
        The feature table.
    model : Model
        Its ``feature_names`` and, when set, its ``n_features``, ``feature_dtypes`` (dtype
        per column) and ``input_dtype`` (dtype of a single numeric input matrix) are read.

    Returns
    -------
    pandas.DataFrame
        ``X`` with its columns in the model's order; text columns holding numbers are
        converted when the model needs numbers.

    Raises
    ------
    SchemaError
        Columns are missing or extra, their count is wrong, or a column holds text where
        the model needs numbers.
    """
    X = as_frame(X)
    names = getattr(model, "feature_names", None)
    n_features = getattr(model, "n_features", None)
    dtypes: dict[str, str] = dict(getattr(model, "feature_dtypes", None) or {})
    input_dtype = getattr(model, "input_dtype", None)
    columns = [str(c) for c in X.columns]
    if list(X.columns) != columns:
        X = X.set_axis(columns, axis=1)
    if len(set(columns)) != len(columns):
        dupes = sorted({c for c in columns if columns.count(c) > 1})
        raise SchemaError(
            f"The features have duplicated column names: {_names(dupes)}.",
            fix="rename or drop the duplicates so each column name appears once.",
        )
    if names is not None:
        names = [str(n) for n in names]
        missing = [n for n in names if n not in X.columns]
        extra = [c for c in columns if c not in set(names)]
        if missing and extra:
            # Names the model changed in a known way (spaces to underscores...).
            renames = renamed_columns(missing, extra)
            if renames:
                X = X.rename(columns=renames)
                missing = [n for n in missing if n not in renames.values()]
                extra = [c for c in extra if c not in renames]
        unread = {str(c) for c in getattr(model, "unread_features", ()) or ()}
        if missing and set(missing) <= unread:
            # Columns the model takes but never reads (dropped by its ColumnTransformer):
            # an empty placeholder keeps the column order the model checks.
            X = X.assign(**{c: np.nan for c in missing})
            missing = []
        if missing:
            raise SchemaError(
                f"The features lack {len(missing)} column(s) the model expects: "
                f"{_names(missing)} (the model takes {len(names)} columns; the data has "
                f"{len(columns)}).",
                fix="add the missing columns to the data, or pass the data the model was "
                "trained on.",
            )
        if extra:
            raise SchemaError(
                f"The features have {len(extra)} column(s) the model does not take: "
                f"{_names(extra)}.",
                fix="drop them from the data, or name them with drop=[...] (--drop NAME) when "
                "loading it; if one is the target, pass it as target=.",
            )
        if list(X.columns) != names:
            X = X[names]
    elif n_features is not None and len(columns) != n_features:
        raise SchemaError(
            f"The features have {len(columns)} columns, but the model takes {n_features} "
            "(it records no column names, so the columns are matched by position).",
            fix="pass exactly the feature columns the model was trained on, in the same "
            "order; drop any others with drop=[...] (--drop NAME).",
        )
    if input_dtype in _NUMERIC:
        dtypes = {c: input_dtype for c in X.columns}
    numeric_cols = [c for c in X.columns if dtypes.get(c) in _NUMERIC]
    X, text = numbers_from_text(X, numeric_cols)
    for col, bad in text.items():
        raise SchemaError(
            f"Column {col!r} holds text (for example {bad.iloc[0]!r}, in {len(bad)} "
            f"row(s)), but the model expects numbers ({dtypes[col]}) there.",
            fix=f"encode column {col!r} as numbers the way it was encoded for training, "
            "or pass the data in the form the model was trained on.",
        )
    return X
