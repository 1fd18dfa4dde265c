"""The input schema of a deployed model, learned from its training data, and the rules rows
are validated by (the code is in :mod:`afterfit.bundle.validation`).

An :class:`InputSchema` lists the model's input fields in order, each with a kind
(``number``, ``integer``, ``boolean``, ``category``, ``string``), whether it may be null,
the range seen in training (numbers) and the categories seen (categories). It checks
incoming rows before they reach the model:

- :meth:`InputSchema.validate_records` for JSON records (one ``dict`` or a list of them),
  the server's path. Single records are checked without pandas: each field becomes a numpy
  column directly (:meth:`InputSchema.validate_columns`), the frame is built once at the end.
- :meth:`InputSchema.validate_frame` for tables (Arrow, Parquet, CSV chunks), vectorised.

Both raise :class:`SchemaValidationError` with field-level ``errors``::

    [{"loc": [row_index, field], "msg": "...", "type": "missing"}, ...]

``row_index`` is the 0-based position of the row in the batch, or ``None`` when a whole
column is wrong (a missing or extra column of a table, an empty batch). The types are
``missing``, ``extra``, ``type``, ``null``, ``not_finite``, ``category``, ``record`` (a
record that is not an object), ``duplicate`` (a column twice in a table) and ``empty``.
At most ``max_errors`` (100) are listed; the message says how many there were.

Numbers outside the training range are *not* errors (that is drift, for monitoring), but
they are counted: the validated frame carries ``frame.attrs["out_of_range"]`` =
``{field: count}`` for the fields with any.

Rules, stated once:

- ``number`` takes JSON numbers (``int`` or ``float``), never ``bool`` or text;
  ``integer`` takes integers and integral floats (``3.0``); ``boolean`` takes ``true`` /
  ``false`` only; ``category`` takes one of the categories seen in training (an unseen one
  is an error unless ``unseen="allow"``; a value of another type, such as a number for a
  text category, is a ``type`` error); ``string`` takes text.
- ``None`` (and NaN) is allowed only in fields that had missing values in training
  (``nullable``); infinities are never allowed in numeric fields (``not_finite``).
- Every field must be present (send ``null`` for a missing value of a nullable field), and
  no other field may be, with one exception: the schema's ``ignored`` columns, columns of
  the training table that the model does not read (an identifier or a date beside a
  pipeline whose ``ColumnTransformer`` drops them), are accepted and dropped when present
  and never required. A misspelt field is still an ``extra`` error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from afterfit.bundle.validation import (
    MAX_ERRORS,
    _cast,
    _category_key,
    _plain,
    validate_columns,
    validate_frame,
    validate_records,
)
from afterfit.errors import InvalidInputError

__all__ = [
    "KINDS",
    "MAX_CATEGORIES",
    "Field",
    "InputSchema",
]

Kind = Literal["number", "integer", "boolean", "category", "string"]
KINDS: tuple[str, ...] = ("number", "integer", "boolean", "category", "string")

#: Text columns with at most this many distinct values in training are categories; more
#: make them free ``string`` fields (identifiers, text).
MAX_CATEGORIES = 100

SCHEMA_FORMAT = "afterfit-input-schema"
SCHEMA_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Field:
    """One input field of a model.

    Attributes
    ----------
    name : str
    kind : {"number", "integer", "boolean", "category", "string"}
    nullable : bool
        Whether the field may be null (it had missing values in training).
    minimum, maximum : float or None
        The range of finite values seen in training (numbers and integers); values outside
        it are allowed, and counted as out of range.
    categories : tuple or None
        The categories seen in training (``category`` fields), in a stable order.
    dtype : str
        The training column's dtype, which validated columns are given
        (``"float64"``, ``"int64"``, ``"bool"``, ``"object"``, ``"category"``...).
    """

    name: str
    kind: Kind
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[Any, ...] | None = None
    dtype: str = "float64"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidInputError(
                f"Field {self.name!r} has the kind {self.kind!r}; the kinds are {KINDS}.",
                fix="use one of the kinds listed.",
            )
        if self.kind == "category" and self.categories is None:
            raise InvalidInputError(
                f"The category field {self.name!r} has no categories.",
                fix="pass categories=(...) for a category field, or make it a string field.",
            )

    def to_dict(self) -> dict[str, Any]:
        """The field as JSON-safe values."""
        return {
            "name": self.name,
            "kind": self.kind,
            "nullable": self.nullable,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "categories": None if self.categories is None else list(self.categories),
            "dtype": self.dtype,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Field:
        """The field written by :meth:`to_dict`, every value checked for its type.

        Raises
        ------
        InvalidInputError
            Naming the field and the key of the wrong type.
        """
        from afterfit.jsonsafe import field as get
        from afterfit.jsonsafe import is_label

        what = "A field of the input schema"
        if isinstance(d, Mapping) and isinstance(d.get("name"), str):
            what = f"The schema field {d['name'][:100]!r}"
        d = dict(d) if isinstance(d, Mapping) else d
        name = get(d, "name", "text", what=what)
        kind = get(d, "kind", "text", what=what)
        if kind not in KINDS:
            raise InvalidInputError(
                f"{what} has the kind {kind[:40]!r}; the kinds are {', '.join(KINDS)}.",
                fix="write schemas with InputSchema.to_dict().",
            )
        nullable = get(d, "nullable", "boolean", what=what, required=False, default=False)
        lo = get(d, "minimum", "number", what=what, required=False, nullable=True)
        hi = get(d, "maximum", "number", what=what, required=False, nullable=True)
        cats = get(d, "categories", "list", what=what, required=False, nullable=True)
        if cats is not None:
            bad = [c for c in cats if not is_label(c)]
            if bad:
                raise InvalidInputError(
                    f"{what} lists a category that is not text, a number or a boolean "
                    f"({type(bad[0]).__name__}).",
                    fix="write schemas with InputSchema.to_dict().",
                )
        dtype = get(d, "dtype", "text", what=what, required=False, nullable=True)
        dtype = dtype or _DEFAULT_DTYPE[kind]
        if dtype not in _DTYPES[kind]:
            raise InvalidInputError(
                f"{what} of kind {kind!r} has the dtype {dtype[:40]!r}; a {kind} field takes "
                f"{', '.join(sorted(_DTYPES[kind]))}.",
                fix="write schemas with InputSchema.to_dict().",
            )
        return cls(
            name=name,
            kind=kind,
            nullable=nullable,
            minimum=None if lo is None else float(lo),
            maximum=None if hi is None else float(hi),
            categories=None if cats is None else tuple(cats),
            dtype=dtype,
        )

    def json_schema(self, *, unseen: str = "error") -> dict[str, Any]:
        """The JSON Schema of this field's value.

        Training ranges go in the description, not ``minimum``/``maximum``: values out of
        range are accepted (they are drift, not errors).
        """
        out: dict[str, Any]
        if self.kind == "category" and unseen == "error":
            values = list(self.categories or ())
            if self.nullable:
                values.append(None)
            out = {"enum": values}
        else:
            json_type = {
                "number": "number",
                "integer": "integer",
                "boolean": "boolean",
                "category": _category_json_type(self.categories or ()),
                "string": "string",
            }[self.kind]
            types: Any = json_type
            if self.nullable:
                types = [*json_type, "null"] if isinstance(json_type, list) else [json_type, "null"]
            out = {"type": types}
        description = f"{self.kind} ({self.dtype})"
        if self.minimum is not None and self.maximum is not None:
            description += f"; training range [{self.minimum:.6g}, {self.maximum:.6g}]"
        if self.nullable:
            description += "; may be null"
        out["title"] = self.name
        out["description"] = description
        return out


_DEFAULT_DTYPE = {
    "number": "float64",
    "integer": "int64",
    "boolean": "bool",
    "category": "object",
    "string": "object",
}
_FLOATS = frozenset({"float16", "float32", "float64"})
_INTS = frozenset(f"{u}int{b}" for u in ("", "u") for b in (8, 16, 32, 64))
#: The dtypes a field of each kind may carry (what :meth:`InputSchema.from_frame` writes):
#: a schema read from a file names no other, since validated columns are cast to it.
_DTYPES: dict[str, frozenset[str]] = {
    "number": _FLOATS,
    "integer": _INTS | _FLOATS,
    "boolean": frozenset({"bool", "boolean", "object"}),
    "category": frozenset({"category", "object"}),
    "string": frozenset({"object", "str", "string"}),
}


def _category_json_type(categories: Iterable[Any]) -> Any:
    types = []
    for c in categories:
        t = (
            "boolean" if isinstance(c, bool)
            else "integer" if isinstance(c, int)
            else "number" if isinstance(c, float)
            else "string"
        )  # fmt: skip
        if t not in types:
            types.append(t)
    if "number" in types and "integer" in types:
        types.remove("integer")
    return types[0] if len(types) == 1 else (types or "string")


class InputSchema:
    """The input fields of a model, in order; validates records and tables against them.

    Parameters
    ----------
    fields : sequence of Field
        In the order the model takes them.
    unseen : {"error", "allow"}, default "error"
        What an unseen category is: an error, or allowed (the model's encoder must then
        handle it, as ``OneHotEncoder(handle_unknown="ignore")`` does).
    ignored : sequence of str, default ()
        Training columns the model does not read: accepted in records and tables, dropped,
        never required (see :func:`afterfit.models.used_columns.used_columns`).

    Examples
    --------
    >>> X = pd.DataFrame({"age": [31, 45], "plan": ["basic", "pro"]})
    >>> schema = InputSchema.from_frame(X)
    >>> [(f.name, f.kind) for f in schema.fields]
    [('age', 'integer'), ('plan', 'category')]
    >>> schema.validate_records({"age": 52, "plan": "pro"})["age"].dtype
    dtype('int64')
    >>> schema.validate_records({"age": "52", "plan": "gold"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    afterfit.bundle.validation.SchemaValidationError: The input does not fit ... (2 problems): ...
    """

    def __init__(
        self, fields: Sequence[Field], *, unseen: str = "error", ignored: Sequence[str] = ()
    ) -> None:
        fields = tuple(fields)
        if not fields:
            raise InvalidInputError(
                "An input schema needs at least one field.",
                fix="learn it from the training features with InputSchema.from_frame(X).",
            )
        names = [f.name for f in fields]
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise InvalidInputError(
                f"The schema has duplicated field names: {dupes}.",
                fix="give every input column its own name.",
            )
        if unseen not in ("error", "allow"):
            raise InvalidInputError(
                f"unseen must be 'error' or 'allow'; got {unseen!r}.",
                fix="pass unseen='error' (default) or unseen='allow'.",
            )
        ignored = tuple(dict.fromkeys(str(c) for c in ignored))
        both = sorted(set(ignored) & set(names))
        if both:
            raise InvalidInputError(
                f"The columns {both} are both fields and ignored columns of the schema.",
                fix="list each column once: as a field the model reads, or as ignored.",
            )
        self.fields: tuple[Field, ...] = fields
        self.unseen = unseen
        self.ignored: tuple[str, ...] = ignored
        self._ignored = frozenset(ignored)
        self.names: tuple[str, ...] = tuple(names)
        self._by_name = {f.name: f for f in fields}
        self._nameset = frozenset(names)
        # Per category field: the set of keys of its categories, for membership tests.
        self._keys = {
            f.name: frozenset(_category_key(c) for c in f.categories)
            for f in fields
            if f.kind == "category"
        }
        self._str_cats = {
            f.name: frozenset(f.categories)
            for f in fields
            if f.kind == "category" and all(isinstance(c, str) for c in f.categories or ())
        }

    def __repr__(self) -> str:
        more = "..." if len(self.names) > 8 else ""
        return f"InputSchema({len(self.fields)} fields: {', '.join(self.names[:8])}{more})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, InputSchema)
            and self.fields == other.fields
            and self.unseen == other.unseen
            and self.ignored == other.ignored
        )

    def __hash__(self) -> int:
        return hash((self.fields, self.unseen, self.ignored))

    def __getitem__(self, name: str) -> Field:
        return self._by_name[name]

    # -- learning ------------------------------------------------------------------------

    @classmethod
    def from_frame(
        cls,
        X: Any,
        *,
        max_categories: int = MAX_CATEGORIES,
        unseen: str = "error",
        ignored: Sequence[str] = (),
    ) -> InputSchema:
        """Learn the schema from the training features.

        Parameters
        ----------
        X : pandas.DataFrame (or anything :func:`afterfit.data.as_frame` takes)
            The training features, target excluded.
        max_categories : int, default 100
            Text columns with at most this many distinct values are ``category`` fields;
            others are ``string`` fields. Pandas ``category`` columns are always categories.
        unseen : {"error", "allow"}
            See :class:`InputSchema`.
        ignored : sequence of str, default ()
            Columns of ``X`` the model does not read: not learned (they may hold dates,
            identifiers, anything), listed as ignored. See :class:`InputSchema`.

        Returns
        -------
        InputSchema

        Raises
        ------
        InvalidInputError
            No rows or columns, duplicated column names, or a column the model reads of
            a type a schema cannot describe (dates, complex numbers, nested values).
        """
        from afterfit.data import as_frame

        X = as_frame(X)
        ignored = [str(c) for c in ignored]
        if ignored:
            X = X[[c for c in X.columns if str(c) not in set(ignored)]]
        if X.shape[1] == 0 or X.shape[0] == 0:
            raise InvalidInputError(
                f"The schema is learned from the training features, but they have shape {X.shape}.",
                fix="pass the training features (rows and columns, target excluded).",
            )
        return cls(
            [
                _learn_field(str(name), X.iloc[:, j], max_categories)
                for j, name in enumerate(X.columns)
            ],
            unseen=unseen,
            ignored=ignored,
        )

    # -- serialisation -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The schema as a JSON-safe document (``schema.json`` of a bundle)."""
        return {
            "format": SCHEMA_FORMAT,
            "format_version": SCHEMA_FORMAT_VERSION,
            "unseen_categories": self.unseen,
            "fields": [f.to_dict() for f in self.fields],
            "ignored": list(self.ignored),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InputSchema:
        """The schema written by :meth:`to_dict`.

        Raises
        ------
        InvalidInputError
            Not a schema document, or of a newer format version.
        """
        if not isinstance(d, Mapping) or d.get("format") != SCHEMA_FORMAT:
            raise InvalidInputError(
                "The document is not an afterfit input schema (its 'format' is not "
                f"{SCHEMA_FORMAT!r}).",
                fix="pass the schema.json written by afterfit (InputSchema.to_dict()).",
            )
        version = d.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise InvalidInputError(
                "The input schema's 'format_version' must be a positive integer; got "
                f"{str(version)[:40]!r}.",
                fix="pass the schema.json written by afterfit (InputSchema.to_dict()).",
            )
        if version > SCHEMA_FORMAT_VERSION:
            raise InvalidInputError(
                f"The input schema has format_version {version!r}; this afterfit reads "
                f"version {SCHEMA_FORMAT_VERSION} and older.",
                fix="upgrade afterfit to read this schema.",
            )
        fields = d.get("fields")
        if not isinstance(fields, list) or not fields:
            raise InvalidInputError(
                "The input schema has no list of fields.",
                fix="pass the schema.json written by afterfit (InputSchema.to_dict()).",
            )
        unseen = d.get("unseen_categories", "error")
        if unseen not in ("error", "allow"):
            raise InvalidInputError(
                "The input schema's 'unseen_categories' must be 'error' or 'allow'; got "
                f"{str(unseen)[:40]!r}.",
                fix="pass the schema.json written by afterfit (InputSchema.to_dict()).",
            )
        ignored = d.get("ignored", [])
        if not isinstance(ignored, list) or not all(isinstance(c, str) for c in ignored):
            raise InvalidInputError(
                "The input schema's 'ignored' must be a list of column names.",
                fix="pass the schema.json written by afterfit (InputSchema.to_dict()).",
            )
        return cls([Field.from_dict(f) for f in fields], unseen=unseen, ignored=ignored)

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema (draft 2020-12) of one record: every field required, the
        ignored columns allowed (any value, dropped), no others.

        Returns
        -------
        dict
        """
        properties = {f.name: f.json_schema(unseen=self.unseen) for f in self.fields}
        for name in self.ignored:
            properties[name] = {"description": "not read by the model: accepted and dropped"}
        return {
            "type": "object",
            "title": "Record",
            "properties": properties,
            "required": list(self.names),
            "additionalProperties": False,
        }

    # -- records (the server's path) -----------------------------------------------------

    def validate_records(
        self,
        records: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        unseen: str | None = None,
        max_errors: int = MAX_ERRORS,
    ) -> pd.DataFrame:
        """Check JSON records and return them as a typed frame.

        Parameters
        ----------
        records : dict or list of dict
            One record, or a batch of them.
        unseen : {"error", "allow"}, optional
            Overrides the schema's handling of unseen categories.
        max_errors : int, default 100
            Errors listed at most.

        Returns
        -------
        pandas.DataFrame
            One row per record, the schema's columns in order, each of its field's dtype;
            ``attrs["out_of_range"]`` counts values outside the training range per field.

        Raises
        ------
        SchemaValidationError
            Field-level errors (see the module docstring).
        """
        return validate_records(self, records, unseen=unseen, max_errors=max_errors)

    def validate_columns(
        self,
        records: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        unseen: str | None = None,
        max_errors: int = MAX_ERRORS,
    ) -> dict[str, np.ndarray]:
        """Check JSON records and return one numpy column per field, without pandas.

        The fast core of :meth:`validate_records`: a server batching single records can
        validate each, ``np.concatenate`` the columns of several, and build one frame with
        :meth:`to_frame`.

        Returns
        -------
        dict of str to numpy.ndarray
            Numbers as ``float64`` (or the field's float dtype), integers as ``int64``
            (``float64`` with NaN where a nullable field is null), booleans as ``bool``
            (``object`` with None where nullable), categories and text as ``object``.
        """
        return validate_columns(self, records, unseen=unseen, max_errors=max_errors)

    def to_frame(self, columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
        """A frame of validated columns (from :meth:`validate_columns`), dtypes fixed.

        ``attrs["out_of_range"]`` counts values outside each numeric field's training range.
        """
        data: dict[str, Any] = {}
        for field in self.fields:
            arr = columns[field.name]
            data[field.name] = _cast(field, arr)
        frame = pd.DataFrame(data, copy=False)
        frame.attrs["out_of_range"] = self.out_of_range(columns)
        return frame

    def out_of_range(self, columns: Mapping[str, Any]) -> dict[str, int]:
        """Per numeric field, how many values lie outside the training range (only fields
        with any)."""
        counts: dict[str, int] = {}
        for field in self.fields:
            if field.kind not in ("number", "integer") or field.minimum is None:
                continue
            arr = np.asarray(columns[field.name])
            if arr.dtype == object:
                arr = pd.to_numeric(pd.Series(arr), errors="coerce").to_numpy(dtype=np.float64)
            with np.errstate(invalid="ignore"):
                k = int(np.count_nonzero((arr < field.minimum) | (arr > field.maximum)))
            if k:
                counts[field.name] = k
        return counts

    # -- tables (batch, Arrow, Parquet) --------------------------------------------------

    def validate_frame(
        self,
        df: Any,
        *,
        unseen: str | None = None,
        max_errors: int = MAX_ERRORS,
        row_offset: int = 0,
    ) -> pd.DataFrame:
        """Check a table and return it with the schema's columns, in order, dtypes fixed.

        Parameters
        ----------
        df : pandas.DataFrame, pyarrow.Table, polars.DataFrame
            The rows.
        unseen : {"error", "allow"}, optional
            Overrides the schema's handling of unseen categories.
        max_errors : int, default 100
        row_offset : int, default 0
            Added to row indices in errors (the position of this chunk in a larger file).

        Returns
        -------
        pandas.DataFrame
            ``attrs["out_of_range"]`` counts values outside the training range per field.

        Raises
        ------
        SchemaValidationError
        """
        return validate_frame(self, df, unseen=unseen, max_errors=max_errors, row_offset=row_offset)


# --- learning ---------------------------------------------------------------------------


def _finite_range(values: np.ndarray) -> tuple[float | None, float | None]:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return None, None
    return float(v.min()), float(v.max())


def _learn_field(name: str, col: pd.Series, max_categories: int) -> Field:
    dtype = col.dtype
    nullable = bool(col.isna().any())
    if isinstance(dtype, pd.CategoricalDtype):
        cats = tuple(_plain(c) for c in dtype.categories)
        return Field(name, "category", nullable, categories=cats, dtype="category")
    if pd.api.types.is_bool_dtype(dtype):
        return Field(
            name, "boolean", nullable, dtype="bool" if str(dtype) == "bool" else str(dtype)
        )
    if pd.api.types.is_integer_dtype(dtype):
        values = col.dropna().to_numpy(dtype=np.float64)
        lo, hi = _finite_range(values)
        # A nullable pandas integer column is fed as float64 (numpy ints hold no NaN).
        out_dtype = str(dtype).lower() if not nullable else "float64"
        return Field(name, "integer", nullable, lo, hi, dtype=out_dtype)
    if pd.api.types.is_float_dtype(dtype):
        values = col.to_numpy(dtype=np.float64, na_value=np.nan)
        lo, hi = _finite_range(values)
        nullable = bool(np.isnan(values).any())
        return Field(name, "number", nullable, lo, hi, dtype=str(dtype).lower())
    if str(dtype) == "object" or pd.api.types.is_string_dtype(dtype):
        present = [_plain(v) for v in col.dropna().tolist()]
        types = {type(v) for v in present}
        if present and types <= {bool}:
            return Field(name, "boolean", nullable, dtype="object" if nullable else "bool")
        if present and types <= {int, float}:
            values = np.asarray(present, dtype=np.float64)
            lo, hi = _finite_range(values)
            return Field(name, "number", nullable, lo, hi, dtype="float64")
        bad = [v for v in present if not isinstance(v, str | int | float | bool)]
        if bad:
            raise InvalidInputError(
                f"Column {name!r} holds values a schema cannot describe (for example "
                f"{bad[0]!r}, a {type(bad[0]).__name__}).",
                fix=f"convert column {name!r} to numbers or text before training.",
            )
        distinct = list(dict.fromkeys(present))
        if len(distinct) <= max_categories:
            try:
                distinct = sorted(distinct, key=lambda v: (str(type(v)), v))
            except TypeError:
                pass
            return Field(name, "category", nullable, categories=tuple(distinct), dtype="object")
        return Field(name, "string", nullable, dtype="object")
    raise InvalidInputError(
        f"Column {name!r} has the dtype {dtype}, which an input schema cannot describe "
        "(numbers, booleans, categories and text can be).",
        fix=f"convert column {name!r} to numbers (dates: a timestamp or parts such as the "
        "day of week) before training.",
    )
