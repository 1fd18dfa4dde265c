"""One streaming pass over the log's batches: per column and window, the counts at the
reference's sketch points (numeric) or per category, and the labelled rows kept for
performance. :mod:`afterfit.monitoring.streaming` runs it per partition and merges."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from afterfit.bundle.drift import ColumnDrift, categorical_drift, numeric_drift
from afterfit.bundle.reference import CategoricalStats, NumericStats, ReferenceStats
from afterfit.errors import InvalidInputError
from afterfit.monitoring.windows import MAX_WINDOWS, WindowSpec

__all__ = ["WINDOW_POINTS", "NumericCounter", "Scan", "scan_batches"]

#: Sketch points kept per window (plus the PSI edges): the per-window KS resolution.
WINDOW_POINTS = 100


# -- counting --------------------------------------------------------------------------
class NumericCounter:
    """Cumulative counts of one numeric column at the reference's sketch points."""

    def __init__(self, stats: NumericStats, column: str) -> None:
        self.stats = stats
        self.column = column
        self.points = {
            np.dtype(np.float64): stats.sketch,
            np.dtype(np.float32): stats.sketch.astype(np.float32),
        }
        k = stats.sketch.size
        # The per-window grid: about WINDOW_POINTS evenly spread sketch points + the edges.
        step = max(1, math.ceil(k / WINDOW_POINTS))
        grid = np.unique(np.concatenate([np.arange(0, k, step), [k - 1], stats.edge_index]))
        self.window_points = grid[(grid >= 0) & (grid < k)].astype(np.int64)
        self.cum = np.zeros(k, dtype=np.int64)
        self.n = 0
        self.n_missing = 0
        self.windows: dict[int, list[Any]] = {}

    def add(self, values: Any, segments: Sequence[tuple[int, int, int]] | None) -> None:
        x = _as_float(values)
        points = self.points.get(x.dtype, self.stats.sketch)
        if points.size == 0:  # an all-missing reference column: count rows only
            missing = int(np.count_nonzero(np.isnan(x)))
            self.n += x.size - missing
            self.n_missing += missing
            return
        for window, a, b in segments or [(0, 0, x.size)]:
            part = np.sort(x[a:b])  # NaN sorts last and is at or below no point
            missing = 0
            if part.size and np.isnan(part[-1]):
                missing = int(part.size - np.searchsorted(part, part[-1], side="left"))
            cum = np.searchsorted(part, points, side="right")
            n = part.size - missing
            self.cum += cum
            self.n += n
            self.n_missing += missing
            if segments is not None:
                slot = self.windows.get(window)
                if slot is None:
                    slot = self.windows[window] = [
                        np.zeros(self.window_points.size, np.int64),
                        0,
                        0,
                    ]
                slot[0] += cum[self.window_points]
                slot[1] += n
                slot[2] += missing

    def overall(self) -> ColumnDrift:
        # Named after the log's column (a reference "score" is logged as proba_<class>).
        return replace(
            numeric_drift(self.stats, self.cum, self.n, self.n_missing), name=self.column
        )

    def window(self, window: int) -> ColumnDrift:
        slot = self.windows.get(window)
        if slot is None:
            drift = numeric_drift(self.stats, np.zeros(self.window_points.size), 0, 0)
        else:
            drift = numeric_drift(self.stats, slot[0], slot[1], slot[2], points=self.window_points)
        return replace(drift, name=self.column)


class _CategoricalCounter:
    """Counts of one categorical column per reference category (+ other)."""

    def __init__(self, stats: CategoricalStats, column: str) -> None:
        self.stats = stats
        self.column = column
        self.k = len(stats.categories) + 1
        self.counts = np.zeros(self.k, dtype=np.int64)
        self.n_missing = 0
        self.windows: dict[int, list[Any]] = {}

    def add(self, values: Any, segments: Sequence[tuple[int, int, int]] | None) -> None:
        pos = _category_positions(self.stats, values)
        for window, a, b in segments or [(0, 0, pos.size)]:
            part = pos[a:b]
            counts = np.bincount(part[part >= 0], minlength=self.k).astype(np.int64)
            missing = int(part.size - counts.sum())
            self.counts += counts
            self.n_missing += missing
            if segments is not None:
                slot = self.windows.get(window)
                if slot is None:
                    slot = self.windows[window] = [np.zeros(self.k, np.int64), 0]
                slot[0] += counts
                slot[1] += missing

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def overall(self) -> ColumnDrift:
        return replace(categorical_drift(self.stats, self.counts, self.n_missing), name=self.column)

    def window(self, window: int) -> ColumnDrift:
        slot = self.windows.get(window, [np.zeros(self.k, np.int64), 0])
        return replace(categorical_drift(self.stats, slot[0], slot[1]), name=self.column)


Counter = NumericCounter | _CategoricalCounter


def _as_float(values: Any) -> np.ndarray:
    """A numeric column as float32/float64 numpy (NaN for nulls), without copying floats."""
    if hasattr(values, "to_numpy") and not isinstance(values, pd.Series | np.ndarray):
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = values
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        if pa.types.is_floating(arr.type) and arr.type.bit_width in (32, 64):
            return np.asarray(arr.to_numpy(zero_copy_only=False))
        if pa.types.is_integer(arr.type) or pa.types.is_boolean(arr.type):
            return np.asarray(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False))
        values = arr.to_pandas()
    x = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
    if x.dtype in (np.float32, np.float64):
        return x
    if x.dtype.kind in "iub":
        return x.astype(np.float64)
    return pd.to_numeric(pd.Series(x), errors="coerce").to_numpy(dtype=np.float64)


def _category_positions(stats: CategoricalStats, values: Any) -> np.ndarray:
    """Per row: the index of its category in ``stats.categories``, ``len(categories)``
    for "other", -1 for missing. Distinct values are mapped once, not every row."""
    other = len(stats.categories)
    index = pd.Index(stats.categories, dtype=object)
    if hasattr(values, "type") and hasattr(values, "to_numpy"):
        import pyarrow as pa
        import pyarrow.compute as pc

        try:
            arr = values if pa.types.is_dictionary(values.type) else pc.dictionary_encode(values)
            keys = pd.Series(arr.dictionary.to_pandas(), dtype=object)
            lut = index.get_indexer(pd.Index(_keys(keys), dtype=object))
            lut = np.where(lut < 0, other, lut)
            codes = pc.fill_null(arr.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
            out = np.full(codes.shape, -1, dtype=np.int64)
            seen = codes >= 0
            out[seen] = lut[codes[seen]]
            # A null-valued dictionary entry is missing too.
            missing_keys = np.flatnonzero(keys.isna().to_numpy())
            if missing_keys.size:
                out[np.isin(codes, missing_keys)] = -1
            return out
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, TypeError):
            values = values.to_pandas()
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    codes, uniques = pd.factorize(_keys(series), use_na_sentinel=True)
    lut = index.get_indexer(pd.Index(uniques, dtype=object))
    lut = np.where(lut < 0, other, lut)
    out = np.full(codes.shape, -1, dtype=np.int64)
    out[codes >= 0] = lut[codes[codes >= 0]]
    return out


def _keys(series: pd.Series) -> pd.Series:
    from afterfit.bundle.reference import category_keys

    return category_keys(series)


def _segments(ids: np.ndarray) -> tuple[np.ndarray | None, list[tuple[int, int, int]]]:
    """Contiguous runs of equal window ids (after a stable sort when not in order)."""
    order = None
    if ids.size > 1 and np.any(ids[1:] < ids[:-1]):
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
    if ids.size == 0:
        return order, []
    cuts = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    starts = np.concatenate([[0], cuts])
    stops = np.concatenate([cuts, [ids.size]])
    return order, [(int(ids[a]), int(a), int(b)) for a, b in zip(starts, stops, strict=True)]


@dataclass
class Scan:
    """What one pass over (part of) the log counts: merged across partitions by
    :mod:`afterfit.monitoring.streaming`."""

    counters: dict[str, Counter]
    roles: dict[str, str]
    n_rows: int = 0
    ts_min: float = math.inf
    ts_max: float = -math.inf
    window_rows: dict[int, list[float]] = field(default_factory=dict)
    labeled_parts: list[pd.DataFrame] = field(default_factory=list)

    @classmethod
    def start(
        cls, reference: ReferenceStats, outputs: dict[str, Any], present: Sequence[str]
    ) -> Scan:
        counters: dict[str, Counter] = {}
        roles: dict[str, str] = {}
        for name, stats in [*reference.features.items(), *outputs.items()]:
            if name not in present or name in counters:
                continue
            counters[name] = (
                NumericCounter(stats, name)
                if isinstance(stats, NumericStats)
                else _CategoricalCounter(stats, name)
            )
            roles[name] = "feature" if name in reference.features else "prediction"
        return cls(counters, roles)


def scan_batches(
    scan: Scan,
    batches: Any,
    present: Sequence[str],
    spec: WindowSpec | None,
    workers: int,
    label_ids: Any,
    eval_columns: Sequence[str],
    progress: Callable[..., None] | None,
    first_row: int = 0,
) -> None:
    """Count ``batches`` into ``scan``; ``first_row`` is the position of their first row
    in the whole log (row windows of a partition counted apart)."""
    counters = scan.counters
    window_rows = scan.window_rows
    labeled_parts = scan.labeled_parts
    ts_min, ts_max = scan.ts_min, scan.ts_max
    n_rows = scan.n_rows

    def count(name: str, column: Any, segments: Any, order: Any) -> None:
        values = column
        if order is not None:
            values = column.take(order) if hasattr(column, "take") else np.asarray(column)[order]
        counters[name].add(values, segments)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for batch in batches:
            m = batch.num_rows
            if m == 0:
                continue
            if progress is not None:
                progress(m)
            ts = None
            if "ts" in present:
                ts = _as_float(batch.column("ts"))
                finite = ts[np.isfinite(ts)]
                if finite.size:
                    ts_min = min(ts_min, float(finite.min()))
                    ts_max = max(ts_max, float(finite.max()))
            order, segments = None, None
            ids = None
            if spec is not None:
                ids = spec.ids(ts, first_row + n_rows, m)
                order, segments = _segments(ids)
                sorted_ts = None if ts is None else (ts if order is None else ts[order])
                for w, a, b in segments:
                    slot = window_rows.setdefault(w, [0, math.inf, -math.inf])
                    slot[0] += b - a
                    if sorted_ts is not None:
                        slot[1] = min(slot[1], float(np.min(sorted_ts[a:b])))
                        slot[2] = max(slot[2], float(np.max(sorted_ts[a:b])))
                if len(window_rows) > MAX_WINDOWS:
                    raise InvalidInputError(
                        f"--window {spec.text} cuts the log into more than {MAX_WINDOWS:,} "
                        "windows.",
                        fix="choose a longer window (e.g. 1d instead of 1h, or more rows).",
                    )
            arrow_order = None
            if order is not None:
                import pyarrow as pa

                arrow_order = pa.array(order)
            futures = [
                pool.submit(count, name, batch.column(name), segments, arrow_order)
                for name in counters
            ]
            if label_ids is not None:
                _collect_labeled(batch, label_ids, eval_columns, ids, labeled_parts)
            for f in futures:
                f.result()
            n_rows += m
    scan.n_rows, scan.ts_min, scan.ts_max = n_rows, ts_min, ts_max


def _collect_labeled(
    batch: Any,
    label_ids: Any,
    eval_columns: Sequence[str],
    ids: np.ndarray | None,
    parts: list[pd.DataFrame],
) -> None:
    import pyarrow.compute as pc

    request = batch.column("request_id")
    mask = pc.is_in(pc.cast(request, "string"), value_set=label_ids)
    keep = np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)
    if not keep.any():
        return
    part = {"request_id": np.asarray(request.to_pandas().astype(str))[keep]}
    for c in eval_columns:
        part[c] = _as_float(batch.column(c))[keep]
    part["__window__"] = ids[keep] if ids is not None else np.zeros(int(keep.sum()), np.int64)
    parts.append(pd.DataFrame(part))
