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
