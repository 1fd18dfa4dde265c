"""Validation against an :class:`~afterfit.bundle.schema.InputSchema`: the records path (the
server: JSON records to numpy columns, without pandas) and the table path (batch: Arrow,
Parquet, CSV chunks, vectorised), the value tests both share, and
:class:`SchemaValidationError` with its field-level errors. The rules are stated in
:mod:`afterfit.bundle.schema`; ``InputSchema.validate_*`` call the functions here.

Imports the schema only for type checking: the schema imports this module, never the
other way round.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from afterfit.errors import InvalidInputError

if TYPE_CHECKING:
    from afterfit.bundle.schema import Field, InputSchema

__all__ = [
    "MAX_ERRORS",
    "SchemaValidationError",
    "validate_columns",
    "validate_frame",
    "validate_records",
]

#: Field-level errors listed at most (the message gives the total).
MAX_ERRORS = 100

_MISSING = object()


class SchemaValidationError(InvalidInputError):
    """Rows that do not fit the input schema.

    Attributes
    ----------
    errors : list of dict
        ``{"loc": [row_index or None, field or None], "msg": str, "type": str}``, at most
        ``max_errors`` of them, in row order.
    n_errors : int
        How many problems were found in all (``len(errors)`` or more).
    """

    def __init__(self, errors: list[dict[str, Any]], n_errors: int | None = None) -> None:
        self.errors = errors
        self.n_errors = len(errors) if n_errors is None else int(n_errors)
        shown = "; ".join(_describe(e) for e in errors[:5])
        more = self.n_errors - min(len(errors), 5)
        tail = f"; and {more} more" if more > 0 else ""
        super().__init__(
            f"The input does not fit the model's schema ({self.n_errors} problem"
            f"{'s' if self.n_errors != 1 else ''}): {shown}{tail}.",
            fix="send every field of the schema (GET /schema, or schema.json in the bundle) "
            "with a value of its type, and no other fields.",
        )


def _describe(error: dict[str, Any]) -> str:
    row, field = error["loc"]
    where = []
    if row is not None:
        where.append(f"row {row}")
    if field is not None:
        where.append(f"field {field!r}")
    return f"{', '.join(where) or 'input'}: {error['msg']}"


# --- value tests shared by the record and frame paths ------------------------------------


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones (records built in-process may hold them)."""
    return value.item() if isinstance(value, np.generic) else value


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)  # NaN


def _category_key(value: Any) -> tuple[str, Any]:
    """A key that keeps True apart from 1 (equal and of equal hash in Python)."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", value)
    return ("s", value)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


_EXPECTED = {
    "number": "a number",
    "integer": "an integer",
    "boolean": "true or false",
    "category": "one of the training categories",
    "string": "text",
}


class _Errors:
    """Collects field errors up to a cap, counting the rest."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.items: list[dict[str, Any]] = []
        self.count = 0

    def add(self, row: int | None, field: str | None, kind: str, msg: str) -> None:
        self.count += 1
        if len(self.items) < self.cap:
            self.items.append({"loc": [row, field], "msg": msg, "type": kind})

    @property
    def full(self) -> bool:
        return len(self.items) >= self.cap

    def raise_if_any(self) -> None:
        if self.count:
            # Row order, column-level (None) first, whatever order the checks ran in.
            self.items.sort(key=lambda e: -1 if e["loc"][0] is None else e["loc"][0])
            raise SchemaValidationError(self.items, self.count)


def _with_none(obj: np.ndarray, null: np.ndarray, any_null: bool) -> np.ndarray:
    """``obj`` with every null (NaN, NA, NaT) as None."""
    if not any_null:
        return obj
    out = obj.copy()
    out[null] = None
    return out


def _shift(errors: _Errors, sub: _Errors, rows: np.ndarray, offset: int) -> None:
    """Move errors found in a subset of rows to ``errors``, with the rows' real indices."""
    for e in sub.items:
        r, f = e["loc"]
        errors.add(int(rows[r]) + offset, f, e["type"], e["msg"])
    errors.count += sub.count - len(sub.items)


def _category_type_text(kinds: set[str]) -> str:
    names = {"b": "true or false", "n": "a number", "s": "text"}
    return " or ".join(names[k] for k in sorted(kinds)) + " (a training category)"


def _short(values: Sequence[Any], limit: int = 10) -> str:
    items = [repr(v) for v in list(values)[:limit]]
    more = f", ... ({len(values)} in all)" if len(values) > limit else ""
    return ", ".join(items) + more


_CATEGORICAL_DTYPES: dict[tuple[Any, ...], tuple[pd.CategoricalDtype, dict[Any, int]]] = {}


def _categorical_dtype(field: Field) -> pd.CategoricalDtype:
    return pd.CategoricalDtype(pd.Index(list(field.categories or ()), dtype=object))


def _categorical(field: Field, arr: np.ndarray) -> pd.Categorical:
    """``arr`` as a pandas Categorical of the field's categories.

    ``from_codes`` with a cached dtype and code map: building the categories index for
    every single-record request would cost more than the rest of the validation.
    """
    cats = tuple(field.categories or ())
    cached = _CATEGORICAL_DTYPES.get(cats)
    if cached is None:
        dtype = pd.CategoricalDtype(pd.Index(list(cats), dtype=object))
        cached = (dtype, {_category_key(c): i for i, c in enumerate(cats)})
        if len(_CATEGORICAL_DTYPES) < 1024:
            _CATEGORICAL_DTYPES[cats] = cached
    dtype, codes_of = cached
    if len(arr) > 64:
        # Validated values are categories of the right type: pandas' hashing is exact here.
        return pd.Categorical(arr, dtype=dtype)
    codes = np.fromiter(
        (-1 if _is_null(v) else codes_of.get(_category_key(v), -1) for v in arr),
        dtype=np.int64 if len(cats) > 32000 else np.int16,
        count=len(arr),
    )
    return pd.Categorical.from_codes(codes, dtype=dtype)


def _typed_array(field: Field, values: list[Any], has_null: bool) -> np.ndarray:
    """Checked Python values as the numpy column of their field."""
    kind = field.kind
    if kind == "number":
        arr = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        return (
            arr
            if field.dtype == "float64" or not field.dtype.startswith("float")
            else arr.astype(field.dtype)
        )
    if kind == "integer":
        if has_null or any(v is None for v in values):
            return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        return np.array(values, dtype=np.int64)
    if kind == "boolean" and not has_null and all(v is not None for v in values):
        return np.array(values, dtype=bool)
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def _cast(field: Field, arr: np.ndarray) -> Any:
    """A checked column in its field's training dtype, where that dtype can hold it."""
    if field.dtype == "category":
        return _categorical(field, arr)
    kind = field.kind
    if kind == "number":
        return arr.astype(
            field.dtype if field.dtype.startswith("float") else np.float64, copy=False
        )
    if kind == "integer":
        if field.dtype.startswith("float") or (arr.dtype.kind == "f" and np.isnan(arr).any()):
            return arr.astype(np.float64, copy=False)
        target = np.dtype(field.dtype if field.dtype.startswith(("int", "uint")) else "int64")
        if arr.size and arr.dtype != target:
            # Values the training dtype cannot hold (300 for uint8) stay int64, not wrapped.
            info, wide = np.iinfo(target), np.iinfo(np.int64)
            lo, hi = arr.min(), arr.max()
            if lo < info.min or hi > info.max:
                # Beyond int64 (1e30) a cast would wrap to a wrong number: float64 holds it.
                fits = lo >= wide.min and hi <= wide.max
                target = np.dtype(np.int64) if fits else np.dtype(np.float64)
        return arr.astype(target, copy=False)
    return arr


def validate_records(
    schema: InputSchema,
    records: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    unseen: str | None = None,
    max_errors: int = MAX_ERRORS,
) -> pd.DataFrame:
    """:meth:`InputSchema.validate_records` (documented there) for ``schema``."""
    columns = validate_columns(schema, records, unseen=unseen, max_errors=max_errors)
    return schema.to_frame(columns)


def validate_columns(
    schema: InputSchema,
    records: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    unseen: str | None = None,
    max_errors: int = MAX_ERRORS,
) -> dict[str, np.ndarray]:
    """:meth:`InputSchema.validate_columns` (documented there) for ``schema``."""
    unseen = schema.unseen if unseen is None else unseen
    if isinstance(records, Mapping):
        records = [records]
    elif not isinstance(records, list | tuple):
        raise SchemaValidationError(
            [{"loc": [None, None], "msg": "expected a record (an object) or a list of "
              f"records; got {_type_name(records)}", "type": "record"}]
        )  # fmt: skip
    errors = _Errors(max_errors)
    n = len(records)
    if n == 0:
        errors.add(None, None, "empty", "the batch holds no records")
        errors.raise_if_any()
    names, nameset = schema.names, schema._nameset
    width = len(names)
    good: list[Mapping[str, Any]] = []
    for i, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            errors.add(i, None, "record", f"expected an object; got {_type_name(rec)}")
            good.append({})
            continue
        good.append(rec)
        # The common case (exactly the fields) costs one length test and a set test.
        if len(rec) == width and nameset.issuperset(rec):
            continue
        for name in names:
            if name not in rec:
                errors.add(i, name, "missing", "field required")
        for key in rec:
            if key not in nameset and key not in schema._ignored:
                errors.add(i, str(key), "extra", "unknown field (not in the schema)")
    columns: dict[str, np.ndarray] = {}
    for field in schema.fields:
        name = field.name
        values = [rec.get(name, _MISSING) for rec in good]
        columns[name] = _column(schema, field, values, errors, unseen)
    errors.raise_if_any()
    return columns


def _column(
    schema: InputSchema, field: Field, values: list[Any], errors: _Errors, unseen: str
) -> np.ndarray:
    kind = field.kind
    types = set(map(type, values))
    # Fast paths: every value already of the right Python type, no nulls.
    if kind == "number" and types <= {float, int}:
        try:
            arr = np.array(values, dtype=np.float64)
        except OverflowError:
            arr = None
        if arr is not None and np.isfinite(arr).all():
            return arr.astype(field.dtype, copy=False) if field.dtype != "float64" else arr
    elif kind == "integer" and types == {int}:
        try:
            return np.array(values, dtype=np.int64)
        except OverflowError:
            pass
    elif kind == "boolean" and types == {bool}:
        return np.array(values, dtype=bool)
    elif kind == "string" and types == {str}:
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
        return arr
    elif kind == "category" and types == {str} and field.name in schema._str_cats:
        cats = schema._str_cats[field.name]
        if unseen == "allow" or all(v in cats for v in values):
            arr = np.empty(len(values), dtype=object)
            arr[:] = values
            return arr
    return _column_slow(schema, field, values, errors, unseen)


def _column_slow(
    schema: InputSchema, field: Field, values: list[Any], errors: _Errors, unseen: str
) -> np.ndarray:
    kind, name = field.kind, field.name
    n = len(values)
    out: list[Any] = [None] * n
    has_null = False
    for i, raw in enumerate(values):
        if raw is _MISSING:  # reported as a missing field already
            continue
        v = _plain(raw)
        if _is_null(v):
            if not field.nullable:
                errors.add(i, name, "null", f"null is not allowed (expected {_EXPECTED[kind]})")
            has_null = True
            continue
        if kind in ("number", "integer"):
            if isinstance(v, bool) or not isinstance(v, int | float):
                errors.add(i, name, "type", f"expected {_EXPECTED[kind]}; got {_type_name(v)}")
                continue
            if isinstance(v, float) and not math.isfinite(v):
                errors.add(i, name, "not_finite", f"expected a finite number; got {v}")
                continue
            if kind == "integer":
                if isinstance(v, float):
                    if not v.is_integer():
                        errors.add(i, name, "type", f"expected an integer; got {v!r}")
                        continue
                    v = int(v)
                if not -(2**63) <= v < 2**63:
                    errors.add(i, name, "type", f"integer {v} is out of the 64-bit range")
                    continue
            elif abs(v) > 1.7976931348623157e308:
                errors.add(i, name, "not_finite", f"number {v} is too large for a float")
                continue
        elif kind == "boolean":
            if not isinstance(v, bool):
                errors.add(i, name, "type", f"expected true or false; got {_type_name(v)}")
                continue
        elif kind == "string":
            if not isinstance(v, str):
                errors.add(i, name, "type", f"expected text; got {_type_name(v)}")
                continue
        else:  # category
            if isinstance(v, list | tuple | dict):
                errors.add(i, name, "type", f"expected a category; got {_type_name(v)}")
                continue
            key = _category_key(v)
            try:
                known = key in schema._keys[name]
            except TypeError:  # an unhashable value: not a category
                errors.add(i, name, "type", f"expected a category; got {_type_name(v)}")
                continue
            if not known:
                kinds = {k for k, _ in schema._keys[name]}
                if key[0] not in kinds:
                    errors.add(
                        i, name, "type",
                        f"expected {_category_type_text(kinds)}; got {_type_name(v)}",
                    )  # fmt: skip
                    continue
                if unseen != "allow":
                    errors.add(
                        i, name, "category",
                        f"unseen category {v!r}; known: {_short(field.categories or ())}",
                    )  # fmt: skip
                    continue
        out[i] = v
    return _typed_array(field, out, has_null)


def validate_frame(
    schema: InputSchema,
    df: Any,
    *,
    unseen: str | None = None,
    max_errors: int = MAX_ERRORS,
    row_offset: int = 0,
) -> pd.DataFrame:
    """:meth:`InputSchema.validate_frame` (documented there) for ``schema``."""
    from afterfit.data import as_frame

    unseen = schema.unseen if unseen is None else unseen
    df = as_frame(df)
    errors = _Errors(max_errors)
    if len(df) == 0:
        errors.add(None, None, "empty", "the batch holds no rows")
        errors.raise_if_any()
    present = {str(c): c for c in df.columns}
    if len(present) != df.shape[1]:
        seen: set[str] = set()
        for c in map(str, df.columns):
            if c in seen:
                errors.add(None, c, "duplicate", "the column appears more than once")
            seen.add(c)
        errors.raise_if_any()
    for name in schema.names:
        if name not in present:
            errors.add(None, name, "missing", "column required")
    for key in present:
        if key not in schema._nameset and key not in schema._ignored:
            errors.add(None, key, "extra", "unknown column (not in the schema)")
    if errors.count:
        errors.raise_if_any()
    data: dict[str, Any] = {}
    for field in schema.fields:
        data[field.name] = _series(
            schema, field, df[present[field.name]], errors, unseen, row_offset
        )
    errors.raise_if_any()
    frame = pd.DataFrame(data, copy=False)
    frame.index = df.index
    frame.attrs["out_of_range"] = schema.out_of_range({k: frame[k] for k in _numeric_names(schema)})
    return frame


def _numeric_names(schema: InputSchema) -> list[str]:
    return [f.name for f in schema.fields if f.kind in ("number", "integer")]


def _series(
    schema: InputSchema, field: Field, col: pd.Series, errors: _Errors, unseen: str, offset: int
) -> Any:
    kind, name = field.kind, field.name
    dtype = col.dtype
    if kind in ("string", "category") and isinstance(dtype, pd.StringDtype):
        fast = _text_series(schema, field, col, errors, offset)
        if fast is not None:
            return fast
    is_cat_dtype = isinstance(dtype, pd.CategoricalDtype)
    # Categorical columns are read through their codes below, never as objects here.
    values = col.to_numpy() if not is_cat_dtype else np.empty(0, dtype=object)
    if kind in ("number", "integer") and values.dtype.kind in "iuf":
        arr = values
        if arr.dtype.kind == "f":
            nan = np.isnan(arr)
            inf = np.isinf(arr)
            _report(errors, name, inf, offset, "not_finite", "expected a finite number")
            if not field.nullable:
                _report(errors, name, nan, offset, "null", "null is not allowed")
            if kind == "integer":
                frac = ~nan & ~inf & (arr != np.floor(np.where(nan | inf, 0, arr)))
                _report(errors, name, frac, offset, "type", "expected an integer")
        return _cast(field, arr)
    if kind == "boolean" and values.dtype == bool:
        return values
    if kind == "number" and values.dtype == bool:
        _report(errors, name, np.ones(len(values), bool), offset, "type",
                     "expected a number; got a boolean")  # fmt: skip
        return values
    # Object, string and categorical columns: pandas' type inference (one pass in C)
    # and a membership test decide most rows at once; element by element only the
    # rows that fail them, for their error messages.
    if is_cat_dtype:
        cats = np.asarray(dtype.categories, dtype=object)
        codes = col.cat.codes.to_numpy()
        obj = np.empty(len(codes), dtype=object)
        present = codes >= 0
        obj[present] = cats[codes[present]]
    else:
        obj = values if values.dtype == object else values.astype(object)
    null = pd.isna(obj)
    any_null = bool(null.any())
    if any_null and not field.nullable:
        _report(errors, name, null, offset, "null", "null is not allowed")
    inferred = pd.api.types.infer_dtype(obj, skipna=True)
    if kind == "string" and inferred in ("string", "empty"):
        return _with_none(obj, null, any_null)
    if kind == "boolean" and inferred in ("boolean", "empty"):
        return obj.astype(bool) if not any_null else _with_none(obj, null, any_null)
    numeric = ("integer", "floating", "mixed-integer-float")
    if kind in ("number", "integer") and inferred in numeric:
        arr = np.where(null, np.nan, obj).astype(np.float64)
        return _numeric_with_nulls(schema, field, arr, errors, offset)
    if kind == "category":
        if name in schema._str_cats and inferred in ("string", "empty"):
            member = pd.Series(obj).isin(schema._str_cats[name]).to_numpy()
        elif is_cat_dtype:
            keys = schema._keys[name]
            ok = np.array([_category_key(_plain(c)) in keys for c in cats], dtype=bool)
            member = np.zeros(len(obj), dtype=bool)
            member[present] = ok[codes[present]]
        else:
            keys = schema._keys[name]
            pairs = zip(obj, null, strict=True)
            member = np.fromiter(
                (not n and _category_key(_plain(v)) in keys for v, n in pairs),
                dtype=bool,
                count=len(obj),
            )
        todo = np.flatnonzero(~member & ~null)
    else:
        todo = np.flatnonzero(~null)
    out = _with_none(obj, null, any_null)
    if todo.size:
        sub_errors = _Errors(errors.cap)
        checked = _column_slow(schema, field, [obj[i] for i in todo], sub_errors, unseen)
        _shift(errors, sub_errors, todo, offset)
        if sub_errors.count:
            return out  # the errors are raised; the column is not used
        out = out.copy() if out is obj else out
        out[todo] = checked
    if kind == "category":
        return _cast(field, out)
    return _typed_array(field, list(out), any_null)


def _text_series(
    schema: InputSchema, field: Field, col: pd.Series, errors: _Errors, offset: int
) -> Any:
    """A pandas string column (Arrow-backed, as Parquet and CSV give) checked without
    converting it to Python objects; None when some value needs a closer look."""
    null = col.isna().to_numpy()
    if field.kind == "category":
        cats = schema._str_cats.get(field.name)
        if cats is None:
            return None
        member = col.isin(cats).to_numpy()
        if not (member | null).all():
            return None  # unseen categories: the element path words their errors
    if not field.nullable and null.any():
        _report(errors, field.name, null, offset, "null", "null is not allowed")
    if field.dtype == "category":
        return pd.Categorical(col.array, dtype=_categorical_dtype(field))
    return col.array


def _numeric_with_nulls(
    schema: InputSchema, field: Field, arr: np.ndarray, errors: _Errors, offset: int
) -> Any:
    """A float column (nulls as NaN, already reported) through the numeric checks."""
    sub = _Errors(errors.cap)
    out = _series(
        schema,
        replace(field, nullable=True, categories=None),
        pd.Series(arr),
        sub,
        "error",
        offset,
    )
    for e in sub.items:
        errors.add(e["loc"][0], e["loc"][1], e["type"], e["msg"])
    errors.count += sub.count - len(sub.items)
    return out


def _report(errors: _Errors, name: str, mask: np.ndarray, offset: int, kind: str, msg: str) -> None:
    rows = np.flatnonzero(mask)
    if rows.size == 0:
        return
    room = max(errors.cap - len(errors.items), 0)
    for r in rows[:room]:
        errors.add(int(r) + offset, name, kind, msg)
    errors.count += rows.size - min(rows.size, room)  # counted, not listed
