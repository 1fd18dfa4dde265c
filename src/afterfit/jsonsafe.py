"""JSON-safe values for ``to_dict()``: JSON has no NaN or infinity, and no numpy types.

Every result object's ``to_dict()`` goes through these, so undefined numbers are ``null``
in every document afterfit writes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def number(value: Any) -> float | None:
    """``value`` as a float; NaN and infinities become None."""
    value = float(value)
    return value if math.isfinite(value) else None


def numbers(values: Any) -> list[float | None] | None:
    """An array, flattened, as a list of :func:`number` (None stays None)."""
    if values is None:
        return None
    return [number(v) for v in np.asarray(values, dtype=float).ravel()]


def scalar(value: Any) -> Any:
    """A label or cell value: numpy scalars unwrapped, non-finite floats None, anything
    that is not a number, text, bool or None as its text."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return number(value)
    if isinstance(value, int | str | bool) or value is None:
        return value
    return str(value)


def tree(value: Any) -> Any:
    """Nested dicts, lists, tuples and arrays with :func:`scalar` leaves (keys as text)."""
    if isinstance(value, dict):
        return {str(k): tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [tree(v) for v in value]
    return scalar(value)


# --- reading -------------------------------------------------------------------------------

#: Nesting deeper than this is refused: afterfit's own documents nest a few levels, and a
#: hostile one 100,000 deep would exhaust the parser's (or the reader's) recursion.
MAX_DEPTH = 64


def loads(data: bytes, *, what: str, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """Parse a JSON document that arrives from outside, refusing what afterfit never writes.

    The one reader of every document afterfit reads back (a bundle's manifest, schema,
    decision and reference, a report's ``results.json``): strict UTF-8, at most
    ``max_bytes``, no ``NaN``/``Infinity`` constants (afterfit writes ``null``), no
    duplicate keys (two readers could pick different values), no integers of more than
    Python's digit limit, and at most ``max_depth`` levels of nesting.

    Parameters
    ----------
    data : bytes
        The document (read with a limit of ``max_bytes + 1`` so that a huge file is never
        read whole).
    what : str
        How to name the document in errors (``"the file schema.json of the bundle 'x'"``).
    max_bytes : int
    max_depth : int, default 64

    Returns
    -------
    The parsed document.

    Raises
    ------
    InvalidInputError
        Naming ``what`` and the problem.
    """
    import json

    from afterfit.errors import InvalidInputError

    fix = "restore the file from its source, or write it again with afterfit."
    if len(data) > max_bytes:
        raise InvalidInputError(
            f"{what} is larger than {max_bytes / 2**20:.0f} MiB, more than afterfit ever "
            "writes there.",
            fix=fix,
        )
    try:
        text = data.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"{what} is not UTF-8 text (byte {exc.start}: {exc.reason}).", fix=fix
        ) from None

    def constant(name: str) -> Any:
        raise ValueError(f"the constant {name} is not JSON (afterfit writes null)")

    def finite(token: str) -> float:
        value = float(token)
        if not math.isfinite(value):  # 1e999 parses as infinity
            raise ValueError(f"the number {token[:20]} is beyond the range of a float")
        return value

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(items)
        if len(out) != len(items):
            seen: set[str] = set()
            for key, _ in items:
                if key in seen:
                    raise ValueError(f"the key {key!r} appears twice in one object")
                seen.add(key)
        return out

    try:
        doc = json.loads(text, parse_constant=constant, parse_float=finite, object_pairs_hook=pairs)
    except RecursionError:
        raise InvalidInputError(f"{what} is nested too deeply to be read.", fix=fix) from None
    except ValueError as exc:  # JSONDecodeError, constants, duplicate keys, huge integers
        raise InvalidInputError(f"{what} is not valid JSON: {exc}.", fix=fix) from None
    # Depth, without recursion: what the parser accepted may still be too deep for code
    # that walks it recursively.
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > max_depth:
                raise InvalidInputError(
                    f"{what} nests more than {max_depth} levels deep; afterfit's documents "
                    "nest a few.",
                    fix=fix,
                )
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return doc


_KINDS: dict[str, tuple[str, Any]] = {
    "text": ("text", lambda v: isinstance(v, str)),
    "integer": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "number": (
        "a finite number",
        lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v),
    ),
    "boolean": ("true or false", lambda v: isinstance(v, bool)),
    "list": ("a list", lambda v: isinstance(v, list)),
    "object": ("an object", lambda v: isinstance(v, dict)),
    "scalar": (
        "text, a number, true/false or null",
        lambda v: (
            v is None
            or isinstance(v, str | bool | int)
            or (isinstance(v, float) and math.isfinite(v))
        ),
    ),
}


def is_label(value: Any) -> bool:
    """A class label or category a JSON document may hold: text, a finite number or a
    boolean (not null, not a list or object)."""
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str | int | bool)


def describe(value: Any) -> str:
    """The JSON type of ``value`` in words, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int | float):
        return f"the number {value!r}"[:60]
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def field(
    doc: Any,
    key: str,
    kind: str,
    *,
    what: str,
    required: bool = True,
    nullable: bool = False,
    default: Any = None,
) -> Any:
    """``doc[key]``, checked to be of the JSON ``kind`` a reader expects.

    ``kind`` is ``"text"``, ``"integer"`` (booleans are not integers), ``"number"``
    (finite, not boolean), ``"boolean"``, ``"list"``, ``"object"`` or ``"scalar"`` (a
    label: text, number, boolean or null). A document that is not an object, a missing
    required key or a value of another kind raises :class:`~afterfit.errors.InvalidInputError`
    naming ``what`` (the document), the key, what was expected and what was found.
    """
    from afterfit.errors import InvalidInputError

    fix = "restore the file from its source, or write it again with afterfit."
    if not isinstance(doc, dict):
        raise InvalidInputError(f"{what} must be a JSON object; got {describe(doc)}.", fix=fix)
    if key not in doc:
        if required:
            raise InvalidInputError(f"{what} lacks the field {key!r}.", fix=fix)
        return default
    value = doc[key]
    if value is None and nullable:
        return None
    expected, ok = _KINDS[kind]
    if not ok(value):
        raise InvalidInputError(
            f"{what}: the field {key!r} must be {expected}"
            f"{' or null' if nullable else ''}; got {describe(value)}.",
            fix=fix,
        )
    return value
