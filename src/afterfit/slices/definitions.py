"""Slice definitions: which rows belong to which slice.

A *slicing* is one way of cutting the rows into disjoint slices: the levels of a
categorical column, a numeric column cut into bins (``age:quantiles=4``,
``age:edges=0,18,65``), or the crossing of two of those (``region*plan``). Each slicing is
turned once into an integer code per row (``-1``: the row is in no slice), so everything
downstream works on codes and never on the table again.

Bad slicings stop here with an error that names the column and the fix (a column that is
missing, all missing, or an identifier with one value per row); legal but lossy ones (bins
left empty, quantiles that collapse on ties) go on with a named note.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from afterfit.errors import InvalidInputError

#: A column with at most this many distinct values is sliced by its values; a numeric
#: column with more is cut into quartiles unless told otherwise.
MAX_LEVELS = 50
#: Quantile bins of a numeric column with many values and no spec.
DEFAULT_QUANTILES = 4
#: The name of the slice of rows whose value is missing.
MISSING = "(missing)"


@dataclass(frozen=True)
class SliceSpec:
    """How to cut one column: by its values, into quantile bins, or at given edges."""

    column: str
    quantiles: int | None = None
    edges: tuple[float, ...] | None = None

    @property
    def text(self) -> str:
        if self.quantiles is not None:
            return f"{self.column}:quantiles={self.quantiles}"
        if self.edges is not None:
            return f"{self.column}:edges={','.join(f'{e:g}' for e in self.edges)}"
        return self.column


@dataclass(frozen=True)
class Slicing:
    """One slicing of the rows: a code per row and the name of each code's slice.

    Attributes
    ----------
    name : str
        What was asked for (``"age:quantiles=4"``, ``"region*plan"``).
    columns : tuple of str
        The column(s) it reads.
    codes : ndarray of int64
        Slice of each row (``-1``: in no slice, e.g. outside every bin).
    levels : tuple of str
        ``levels[k]`` names the slice of code ``k`` (``"north"``, ``"(18, 65]"``).
    notes : tuple of str
        What the user should know (bins left empty, quantiles merged by ties).
    """

    name: str
    columns: tuple[str, ...]
    codes: np.ndarray
    levels: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def label(self, k: int) -> str:
        """The slice's name as a condition: ``region = north``."""
        return f"{' × '.join(self.columns)} = {self.levels[k]}"

    def counts(self) -> np.ndarray:
        kept = self.codes[self.codes >= 0]
        return np.bincount(kept, minlength=len(self.levels))


_SPEC = re.compile(r"^(?P<col>.+?):(?P<kind>quantiles|edges)=(?P<arg>.*)$")


def parse_spec(text: str | SliceSpec) -> SliceSpec:
    """``"col"``, ``"col:quantiles=4"`` or ``"col:edges=0,10,20"`` as a :class:`SliceSpec`.

    Examples
    --------
    >>> parse_spec("age:edges=0,18,65").edges
    (0.0, 18.0, 65.0)
    """
    if isinstance(text, SliceSpec):
        return text
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(
            f"a slice must be a column name or 'column:spec'; got {text!r}.",
            fix="pass e.g. 'region', 'age:quantiles=4' or 'age:edges=0,18,65'.",
        )
    match = _SPEC.match(text.strip())
    if match is None:
        return SliceSpec(text.strip())
    col, kind, arg = match["col"].strip(), match["kind"], match["arg"].strip()
    if kind == "quantiles":
        try:
            q = int(arg)
        except ValueError:
            q = 0
        if q < 2:
            raise InvalidInputError(
                f"slice {text!r}: quantiles must be a whole number of at least 2; got {arg!r}.",
                fix=f"pass e.g. '{col}:quantiles=4' for quartiles.",
            )
        return SliceSpec(col, quantiles=q)
    try:
        edges = tuple(float(e) for e in arg.split(",") if e.strip())
    except ValueError:
        edges = ()
    if (
        len(edges) < 2
        or any(not math.isfinite(e) for e in edges)
        or list(edges) != sorted(set(edges))
    ):
        raise InvalidInputError(
            f"slice {text!r}: edges must be at least two increasing finite numbers; got {arg!r}.",
            fix=f"pass e.g. '{col}:edges=0,18,65' (bins (0, 18] and (18, 65]).",
        )
    return SliceSpec(col, edges=edges)


def _crossing(text: str, columns: Sequence[str]) -> tuple[str, str] | None:
    """``"a*b"`` as the crossing of two columns, unless a column is named ``"a*b"``."""
    if not isinstance(text, str) or "*" not in text or text in columns:
        return None
    parts = [p.strip() for p in text.split("*")]
    if len(parts) != 2 or not all(parts):
        raise InvalidInputError(
            f"slice {text!r}: a crossing joins exactly two slicings with '*'.",
            fix="pass e.g. 'region*plan' or 'region*age:quantiles=4'.",
        )
    return parts[0], parts[1]


def columns_of(items: Sequence[Any]) -> list[str]:
    """The columns slice items read (``"region*age:quantiles=4"``: region and age)."""
    out: list[str] = []
    for item in items:
        if item is None:
            continue
        parts = item if isinstance(item, list | tuple) else str(item).split("*")
        for part in [*parts, item]:
            if isinstance(part, list | tuple):
                continue
            match = _SPEC.match(str(part).strip())
            out.append(match["col"].strip() if match else str(part).strip())
    return list(dict.fromkeys(out))


def build_slicings(
    frame: pd.DataFrame, by: Sequence[Any], *, max_levels: int = MAX_LEVELS
) -> list[Slicing]:
    """Turn each item of ``by`` into a :class:`Slicing` of the rows of ``frame``.

    An item is a column name, a spec string (``"age:quantiles=4"``), a
    :class:`SliceSpec`, ``"a*b"`` or a pair ``("a", "b")`` for a crossing of two.
    """
    if isinstance(by, str | SliceSpec):
        by = [by]
    out: list[Slicing] = []
    columns = [str(c) for c in frame.columns]
    for item in by:
        pair = tuple(item) if isinstance(item, list | tuple) else _crossing(item, columns)
        if pair:
            if len(pair) != 2:
                raise InvalidInputError(
                    f"a crossing joins exactly two slicings; got {list(pair)!r}.",
                    fix="pass a pair such as ('region', 'plan').",
                )
            first, second = (one_slicing(frame, p, max_levels=max_levels) for p in pair)
            out.append(cross(first, second))
        else:
            out.append(one_slicing(frame, item, max_levels=max_levels))
    names = [s.name for s in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInputError(
            f"slice(s) {', '.join(map(repr, dupes))} are asked for twice.",
            fix="name each slicing once.",
        )
    return out


def one_slicing(
    frame: pd.DataFrame, item: Any, *, max_levels: int = MAX_LEVELS, role: str = "slice"
) -> Slicing:
    """One column's slicing (see :func:`build_slicings`); ``role`` names the column in
    messages ("slice", "sensitive")."""
    spec = parse_spec(item)
    column = _column(frame, spec.column, role)
    missing = column.isna().to_numpy()
    if missing.all():
        raise InvalidInputError(
            f"slice column {spec.column!r} holds no values: every row is missing.",
            fix="slice by a column that has values, or fill this one first.",
        )
    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    if pd.api.types.is_datetime64_any_dtype(column) and spec.quantiles is not None:
        # Dates cut at their quantiles, shown as dates (as nanoseconds since the epoch).
        stamps = column.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(float)
        return _binned(spec, stamps, missing, show=_date_text)
    if spec.quantiles is not None or spec.edges is not None:
        if pd.api.types.is_datetime64_any_dtype(column):
            raise InvalidInputError(
                f"slice {spec.text!r}: column {spec.column!r} holds dates; edges are numbers.",
                fix=f"cut it at its quantiles: '{spec.column}:quantiles=4'.",
            )
        if not numeric:
            raise InvalidInputError(
                f"slice {spec.text!r}: column {spec.column!r} is not numeric "
                f"({column.dtype}), so it cannot be cut into bins.",
                fix=f"slice it by its values: pass '{spec.column}' alone.",
            )
        return _binned(spec, column.to_numpy(dtype=float), missing)
    values = column[~missing]
    n_distinct = int(values.nunique())
    whole = not numeric or bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))
    # A float measurement differs in every row as a rule; text or whole numbers that do
    # are row identifiers.
    if whole and n_distinct == len(values) and len(values) > min(20, max_levels):
        raise InvalidInputError(
            f"slice column {spec.column!r} has a different value in every row "
            f"({n_distinct:,} values): it looks like an identifier, and every slice would "
            "hold one row.",
            fix=f"slice by a column that groups rows; if {spec.column!r} is a number, "
            f"bin it: '{spec.column}:quantiles=4'.",
        )
    if n_distinct > max_levels:
        if numeric:
            auto = SliceSpec(spec.column, quantiles=DEFAULT_QUANTILES)
            binned = _binned(auto, column.to_numpy(dtype=float), missing)
            note = (
                f"{spec.column}: {n_distinct:,} distinct values, cut into "
                f"{DEFAULT_QUANTILES} quantile bins (pass '{spec.column}:edges=...' to choose)."
            )
            return Slicing(spec.column, binned.columns, binned.codes, binned.levels,
                           (note, *binned.notes))  # fmt: skip
        raise InvalidInputError(
            f"slice column {spec.column!r} has {n_distinct:,} distinct values; at most "
            f"{max_levels} slices per column are compared.",
            fix="group its rare values into fewer levels first, or slice by another column.",
        )
    codes, uniques = pd.factorize(column, sort=True)
    levels = [str(u) for u in uniques]
    codes = codes.astype(np.int64)
    if missing.any():
        codes[missing] = len(levels)
        levels.append(MISSING)
    return Slicing(spec.column, (spec.column,), codes, tuple(levels))


def _column(frame: pd.DataFrame, name: str, role: str = "slice") -> pd.Series:
    columns = [str(c) for c in frame.columns]
    if name not in columns:
        shown = ", ".join(columns[:20]) + (" …" if len(columns) > 20 else "")
        raise InvalidInputError(
            f"{role} column {name!r} is not in the data; its columns are: {shown}.",
            fix="pass the name of a column of the data (it need not be a model feature).",
        )
    return frame.iloc[:, columns.index(name)]


def _date_text(value: float) -> str:
    stamp = pd.Timestamp(round(value)).round("s")
    return stamp.date().isoformat() if stamp == stamp.normalize() else stamp.isoformat()


def _binned(spec: SliceSpec, x: np.ndarray, missing: np.ndarray, *, show: Any = None) -> Slicing:
    notes: list[str] = []
    finite = x[~missing]
    if spec.quantiles is not None:
        edges = np.quantile(finite, np.linspace(0.0, 1.0, spec.quantiles + 1))
        unique = np.unique(edges)
        if unique.size < edges.size:
            notes.append(
                f"{spec.text}: tied values merge the {spec.quantiles} quantile bins into "
                f"{max(unique.size - 1, 1)}."
            )
        edges = unique
        if edges.size < 2:
            raise InvalidInputError(
                f"slice {spec.text!r}: column {spec.column!r} holds one value "
                f"({edges[0]:g}), so there is nothing to bin.",
                fix="slice by a column whose values differ.",
            )
        # The lowest quantile is the minimum: its bin is closed on the left so it is kept.
        inner = edges[1:-1]
        codes = np.searchsorted(inner, x, side="left").astype(np.int64)
        levels = [_interval(lo, hi, first=i == 0, show=show) for i, (lo, hi) in
                  enumerate(itertools.pairwise(edges))]  # fmt: skip
    else:
        edges = np.asarray(spec.edges, dtype=float)
        # Right-closed bins (a, b], as pandas.cut: rows outside every bin are in no slice.
        codes = np.searchsorted(edges, x, side="left").astype(np.int64) - 1
        codes[(x <= edges[0]) | (x > edges[-1])] = -1
        levels = [_interval(lo, hi) for lo, hi in itertools.pairwise(edges)]
        outside = int(np.count_nonzero((codes < 0) & ~missing))
        if outside:
            notes.append(
                f"{spec.text}: {outside:,} row(s) lie outside ({edges[0]:g}, {edges[-1]:g}] "
                "and are in no slice."
            )
    codes[missing] = -1
    counts = np.bincount(codes[codes >= 0], minlength=len(levels))
    empty = [levels[k] for k in np.flatnonzero(counts == 0)]
    if empty:
        notes.append(f"{spec.text}: bin(s) {', '.join(empty)} hold no rows and are not listed.")
    if missing.any():
        codes[missing] = len(levels)
        levels.append(MISSING)
    codes, levels = _drop_empty(codes, levels)
    if not levels:
        raise InvalidInputError(
            f"slice {spec.text!r}: no row falls in any bin.",
            fix="choose edges that cover the column's values "
            f"(from {np.min(finite):g} to {np.max(finite):g}).",
        )
    return Slicing(spec.text, (spec.column,), codes, tuple(levels), tuple(notes))


def _interval(lo: float, hi: float, *, first: bool = False, show: Any = None) -> str:
    text = show or (lambda v: f"{v:.4g}")
    return f"{'[' if first else '('}{text(lo)}, {text(hi)}]"


def _drop_empty(codes: np.ndarray, levels: list[str]) -> tuple[np.ndarray, list[str]]:
    counts = np.bincount(codes[codes >= 0], minlength=len(levels))
    kept = np.flatnonzero(counts > 0)
    if kept.size == len(levels):
        return codes, levels
    remap = np.full(len(levels) + 1, -1, dtype=np.int64)
    remap[kept] = np.arange(kept.size)
    return remap[codes], [levels[k] for k in kept]


def cross(a: Slicing, b: Slicing) -> Slicing:
    """The crossing of two slicings: one slice per pair of levels that holds rows."""
    both = (a.codes >= 0) & (b.codes >= 0)
    joint = np.where(both, a.codes * len(b.levels) + b.codes, -1)
    levels = [f"{la} × {lb}" for la in a.levels for lb in b.levels]
    codes, kept = _drop_empty(joint, levels)
    return Slicing(f"{a.name}*{b.name}", (*a.columns, *b.columns), codes, tuple(kept),
                   (*a.notes, *b.notes))  # fmt: skip
