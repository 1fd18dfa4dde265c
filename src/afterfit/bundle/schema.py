"""The input schema of a deployed model, learned from its training data, and validation.

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

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from afterfit.errors import InvalidInputError

__all__ = [
    "KINDS",
    "MAX_CATEGORIES",
    "MAX_ERRORS",
    "Field",
    "InputSchema",
    "SchemaValidationError",
]

Kind = Literal["number", "integer", "boolean", "category", "string"]
KINDS: tuple[str, ...] = ("number", "integer", "boolean", "category", "string")

#: Text columns with at most this many distinct values in training are categories; more
#: make them free ``string`` fields (identifiers, text).
MAX_CATEGORIES = 100
#: Field-level errors listed at most (the message gives the total).
MAX_ERRORS = 100

SCHEMA_FORMAT = "afterfit-input-schema"
SCHEMA_FORMAT_VERSION = 1

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
        never required (see :func:`afterfit.bundle.used_columns.used_columns`).

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
    afterfit.bundle.schema.SchemaValidationError: The input does not fit ... (2 problems): ...
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
        columns = self.validate_columns(records, unseen=unseen, max_errors=max_errors)
        return self.to_frame(columns)

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
        unseen = self.unseen if unseen is None else unseen
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
        names, nameset = self.names, self._nameset
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
                if key not in nameset and key not in self._ignored:
                    errors.add(i, str(key), "extra", "unknown field (not in the schema)")
        columns: dict[str, np.ndarray] = {}
        for field in self.fields:
            name = field.name
            values = [rec.get(name, _MISSING) for rec in good]
            columns[name] = self._column(field, values, errors, unseen)
        errors.raise_if_any()
        return columns

    def _column(self, field: Field, values: list[Any], errors: _Errors, unseen: str) -> np.ndarray:
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
        elif kind == "category" and types == {str} and field.name in self._str_cats:
            cats = self._str_cats[field.name]
            if unseen == "allow" or all(v in cats for v in values):
                arr = np.empty(len(values), dtype=object)
                arr[:] = values
                return arr
        return self._column_slow(field, values, errors, unseen)

    def _column_slow(
        self, field: Field, values: list[Any], errors: _Errors, unseen: str
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
                    known = key in self._keys[name]
                except TypeError:  # an unhashable value: not a category
                    errors.add(i, name, "type", f"expected a category; got {_type_name(v)}")
                    continue
                if not known:
                    kinds = {k for k, _ in self._keys[name]}
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
        from afterfit.data import as_frame

        unseen = self.unseen if unseen is None else unseen
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
        for name in self.names:
            if name not in present:
                errors.add(None, name, "missing", "column required")
        for key in present:
            if key not in self._nameset and key not in self._ignored:
                errors.add(None, key, "extra", "unknown column (not in the schema)")
        if errors.count:
            errors.raise_if_any()
        data: dict[str, Any] = {}
        for field in self.fields:
            data[field.name] = self._series(
                field, df[present[field.name]], errors, unseen, row_offset
            )
        errors.raise_if_any()
        frame = pd.DataFrame(data, copy=False)
        frame.index = df.index
        frame.attrs["out_of_range"] = self.out_of_range(
            {k: frame[k] for k in self._numeric_names()}
        )
        return frame

    def _numeric_names(self) -> list[str]:
        return [f.name for f in self.fields if f.kind in ("number", "integer")]

    def _series(
        self, field: Field, col: pd.Series, errors: _Errors, unseen: str, offset: int
    ) -> Any:
        kind, name = field.kind, field.name
        dtype = col.dtype
        if kind in ("string", "category") and isinstance(dtype, pd.StringDtype):
            fast = self._text_series(field, col, errors, offset)
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
                self._report(errors, name, inf, offset, "not_finite", "expected a finite number")
                if not field.nullable:
                    self._report(errors, name, nan, offset, "null", "null is not allowed")
                if kind == "integer":
                    frac = ~nan & ~inf & (arr != np.floor(np.where(nan | inf, 0, arr)))
                    self._report(errors, name, frac, offset, "type", "expected an integer")
            return _cast(field, arr)
        if kind == "boolean" and values.dtype == bool:
            return values
        if kind == "number" and values.dtype == bool:
            self._report(errors, name, np.ones(len(values), bool), offset, "type",
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
            self._report(errors, name, null, offset, "null", "null is not allowed")
        inferred = pd.api.types.infer_dtype(obj, skipna=True)
        if kind == "string" and inferred in ("string", "empty"):
            return _with_none(obj, null, any_null)
        if kind == "boolean" and inferred in ("boolean", "empty"):
            return obj.astype(bool) if not any_null else _with_none(obj, null, any_null)
        numeric = ("integer", "floating", "mixed-integer-float")
        if kind in ("number", "integer") and inferred in numeric:
            arr = np.where(null, np.nan, obj).astype(np.float64)
            return self._numeric_with_nulls(field, arr, errors, offset)
        if kind == "category":
            if name in self._str_cats and inferred in ("string", "empty"):
                member = pd.Series(obj).isin(self._str_cats[name]).to_numpy()
            elif is_cat_dtype:
                keys = self._keys[name]
                ok = np.array([_category_key(_plain(c)) in keys for c in cats], dtype=bool)
                member = np.zeros(len(obj), dtype=bool)
                member[present] = ok[codes[present]]
            else:
                keys = self._keys[name]
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
            checked = self._column_slow(field, [obj[i] for i in todo], sub_errors, unseen)
            _shift(errors, sub_errors, todo, offset)
            if sub_errors.count:
                return out  # the errors are raised; the column is not used
            out = out.copy() if out is obj else out
            out[todo] = checked
        if kind == "category":
            return _cast(field, out)
        return _typed_array(field, list(out), any_null)

    def _text_series(self, field: Field, col: pd.Series, errors: _Errors, offset: int) -> Any:
        """A pandas string column (Arrow-backed, as Parquet and CSV give) checked without
        converting it to Python objects; None when some value needs a closer look."""
        null = col.isna().to_numpy()
        if field.kind == "category":
            cats = self._str_cats.get(field.name)
            if cats is None:
                return None
            member = col.isin(cats).to_numpy()
            if not (member | null).all():
                return None  # unseen categories: the element path words their errors
        if not field.nullable and null.any():
            self._report(errors, field.name, null, offset, "null", "null is not allowed")
        if field.dtype == "category":
            return pd.Categorical(col.array, dtype=_categorical_dtype(field))
        return col.array

    def _numeric_with_nulls(
        self, field: Field, arr: np.ndarray, errors: _Errors, offset: int
    ) -> Any:
        """A float column (nulls as NaN, already reported) through the numeric checks."""
        sub = _Errors(errors.cap)
        out = self._series(
            Field(field.name, field.kind, True, field.minimum, field.maximum, None, field.dtype),
            pd.Series(arr),
            sub,
            "error",
            offset,
        )
        for e in sub.items:
            errors.add(e["loc"][0], e["loc"][1], e["type"], e["msg"])
        errors.count += sub.count - len(sub.items)
        return out

    @staticmethod
    def _report(
        errors: _Errors, name: str, mask: np.ndarray, offset: int, kind: str, msg: str
    ) -> None:
        rows = np.flatnonzero(mask)
        if rows.size == 0:
            return
        room = max(errors.cap - len(errors.items), 0)
        for r in rows[:room]:
            errors.add(int(r) + offset, name, kind, msg)
        errors.count += rows.size - min(rows.size, room)  # counted, not listed


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
