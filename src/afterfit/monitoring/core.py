"""Drift monitoring: the prediction log against the bundle's reference, in one streaming pass.

::

    result = monitor(reference, "preds.parquet", window="1d")
    result = monitor_bundle("churn-1.0/", "sqlite:///preds.db", labels="labels.parquet")

(the page is written by :func:`afterfit.report.monitor_folder.write_monitor_report`)

How it stays fast on big logs (10,000,000 rows x 100 features): Parquet is read with
pyarrow in record batches (never the whole log at once, numbers in the file's own
precision); per batch and column the values are **sorted** (numpy's vectorised sort) and
the reference's sketch points are looked up in the sorted values, which gives the number
of values at or below each point: exactly what the Kolmogorov-Smirnov statistic and, at
the PSI edges (points of the sketch), the PSI need. Columns run on threads (numpy
releases the GIL while sorting); windows come from digitising ``ts`` once per batch.

Per window the counts are kept at a coarser grid (about :data:`WINDOW_POINTS` sketch
points, always including the PSI edges): PSI is exact per window, the KS statistic
within about ``1 / WINDOW_POINTS``; over the whole log it is within the reference
sketch's resolution (about ``1 / n_quantiles``).

SQL logs (SQLite, PostgreSQL) are read with :func:`afterfit.serving.predlog.read_log`.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from afterfit import jsonsafe
from afterfit.bundle.drift import (
    ColumnDrift,
    DriftThresholds,
    categorical_drift,
    flag,
    numeric_drift,
)
from afterfit.bundle.reference import CategoricalStats, NumericStats, ReferenceStats
from afterfit.errors import AfterfitError, DataError, InvalidInputError

__all__ = [
    "MAX_WINDOWS",
    "WINDOW_POINTS",
    "MonitorResult",
    "Window",
    "WindowSpec",
    "monitor",
    "monitor_bundle",
]

#: Sketch points kept per window (plus the PSI edges): the per-window KS resolution.
WINDOW_POINTS = 100
#: Most windows one run may have; a finer ``window`` is refused with a fix.
MAX_WINDOWS = 5000
#: Rows per record batch read from Parquet.
BATCH_ROWS = 262_144
#: Values (rows x columns) per record batch the monitor counts: a wide log gets shorter
#: batches. The counting's temporaries grow with the batch, so at 100 features 262,144-row
#: batches peaked at 1.8 GB where about 80,000 rows peak at 1.1 GB, and run no slower.
BATCH_VALUES = 8_000_000
#: Columns of the log that are never features.
META_COLUMNS = ("id", "ts", "request_id", "model_name", "model_version", "latency_ms")

_UNITS = {
    "s": 1,
    "sec": 1,
    "m": 60,
    "min": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
}
_WINDOW_RE = re.compile(r"^\s*(\d+)\s*(s|sec|m|min|h|d|w|rows?)\s*$", re.IGNORECASE)


# -- windows ---------------------------------------------------------------------------
@dataclass(frozen=True)
class WindowSpec:
    """How the log is cut into windows: by time (``1h``, ``1d``, ``15min``) or by rows
    (``1000rows``). Time windows are aligned to multiples of their length since the Unix
    epoch (UTC), so a day window runs from midnight to midnight UTC."""

    text: str
    seconds: float | None = None
    rows: int | None = None

    @classmethod
    def parse(cls, text: str) -> WindowSpec:
        """Read ``1h``, ``6h``, ``1d``, ``15min``, ``30s``, ``1w`` or ``1000rows``."""
        match = _WINDOW_RE.match(str(text))
        if match is None or int(match.group(1)) <= 0:
            raise InvalidInputError(
                f"--window {text!r} is not a window length.",
                fix="give a positive number and a unit: 30s, 15min, 1h, 1d, 1w, or a row "
                "count such as 1000rows.",
            )
        size, unit = int(match.group(1)), match.group(2).lower()
        if unit.startswith("row"):
            return cls(text=f"{size}rows", rows=size)
        return cls(text=f"{size}{unit}", seconds=float(size * _UNITS[unit]))

    def ids(self, ts: np.ndarray | None, first_row: int, n: int) -> np.ndarray:
        """Window number of each of ``n`` rows (``first_row`` is the first one's position)."""
        if self.rows is not None:
            return (np.arange(first_row, first_row + n, dtype=np.int64)) // self.rows
        assert self.seconds is not None
        if ts is None:
            raise DataError(
                "The log has no 'ts' column, so it cannot be cut into time windows.",
                fix="log with afterfit serve (it writes ts), or use a row window (1000rows).",
            )
        t = np.asarray(ts, dtype=np.float64)
        if not np.isfinite(t).all():
            raise DataError(
                "The log's 'ts' column has missing or non-finite timestamps.",
                fix="drop those rows, or use a row window (1000rows).",
            )
        return np.floor(t / self.seconds).astype(np.int64)

    def bounds(self, window: int) -> tuple[float, float]:
        """Start and end of a window: unix seconds, or row positions for row windows."""
        size = self.rows if self.rows is not None else self.seconds
        assert size is not None
        return float(window * size), float((window + 1) * size)


@dataclass(frozen=True)
class Window:
    """One window of the log and its drift."""

    index: int
    start: float
    end: float
    n_rows: int
    ts_min: float
    ts_max: float
    features: tuple[ColumnDrift, ...]
    predictions: tuple[ColumnDrift, ...]


def _window_label(start: float, end: float, index: int, *, by_rows: bool) -> str:
    if by_rows:
        return f"rows {int(start):,}-{int(end) - 1:,}"
    stamp = pd.Timestamp(start, unit="s", tz="UTC")
    if (end - start) % 86400 == 0:
        return stamp.strftime("%Y-%m-%d")
    return stamp.strftime("%Y-%m-%d %H:%M")


# -- counting --------------------------------------------------------------------------
class _NumericCounter:
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


Counter = _NumericCounter | _CategoricalCounter


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


# -- reading the log -------------------------------------------------------------------
def _is_sql(log: str) -> bool:
    return "://" in log or log.endswith((".db", ".sqlite", ".sqlite3"))


def _log_batches(
    log: Any,
    columns: Sequence[str],
    *,
    start: float | None,
    end: float | None,
    model_version: str | None,
    batch_rows: int,
) -> tuple[Iterator[Any], list[str], str]:
    """Record batches of the log with the wanted columns that exist, and a description."""
    import pyarrow as pa

    if isinstance(log, pd.DataFrame):
        frame = _filter_frame(log, start, end, model_version)
        if frame.empty:
            raise DataError(_no_rows("DataFrame", start, end, model_version), fix=_NO_ROWS_FIX)
        table = pa.Table.from_pandas(
            frame[[c for c in columns if c in frame]], preserve_index=False
        )
        return iter(table.to_batches(max_chunksize=batch_rows)), table.column_names, "DataFrame"
    text = str(log)
    if _is_sql(text) and not Path(text).is_dir():
        from afterfit.serving.predlog import read_log

        frame = read_log(text, start=start, end=end, model_version=model_version)
        if frame.empty:
            raise DataError(_no_rows(_shown(text), start, end, model_version), fix=_NO_ROWS_FIX)
        frame = frame[[c for c in columns if c in frame.columns]]
        table = pa.Table.from_pandas(frame, preserve_index=False)
        return iter(table.to_batches(max_chunksize=batch_rows)), table.column_names, _shown(text)
    return _parquet_batches(Path(text), columns, start, end, model_version, batch_rows)


_NO_ROWS_FIX = (
    "check the log URL, --start/--end and --model-version; run the server so that it logs "
    "predictions first."
)


def _no_rows(source: str, start: Any, end: Any, model_version: Any) -> str:
    narrowed = start is not None or end is not None or model_version is not None
    return f"The prediction log {source!r} has no rows" + (
        " in the time range or model version asked for." if narrowed else "."
    )


def _shown(url: str) -> str:
    """A database URL without its password, for messages and the report."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: shown as given
        return url


def _filter_frame(
    frame: pd.DataFrame, start: float | None, end: float | None, model_version: str | None
) -> pd.DataFrame:
    keep = np.ones(len(frame), dtype=bool)
    if start is not None and "ts" in frame:
        keep &= frame["ts"].to_numpy(dtype=float) >= start
    if end is not None and "ts" in frame:
        keep &= frame["ts"].to_numpy(dtype=float) < end
    if model_version is not None and "model_version" in frame:
        keep &= frame["model_version"].astype(str).to_numpy() == str(model_version)
    return frame if keep.all() else frame.loc[keep]


def _parquet_batches(
    path: Path,
    columns: Sequence[str],
    start: float | None,
    end: float | None,
    model_version: str | None,
    batch_rows: int,
) -> tuple[Iterator[Any], list[str], str]:
    import pyarrow.dataset as ds

    from afterfit.data import guarded_batches
    from afterfit.monitoring.streaming import log_files

    files = log_files(path)  # a folder or glob: every partition's schema checked first
    if files is None and not path.exists():
        raise DataError(
            f"The prediction log {str(path)!r} does not exist.",
            fix="pass --log as a Parquet file or folder of Parquet files, sqlite:///preds.db "
            "or postgresql+psycopg://user@host/db.",
        )
    try:
        dataset = ds.dataset(
            str(path) if files is None else [str(f) for f in files],
            format="parquet",
            exclude_invalid_files=False,
        )
        names = dataset.schema.names
    except Exception as exc:
        raise DataError(
            f"Cannot read the prediction log {str(path)!r} as Parquet: {exc}",
            fix="pass a Parquet file or a folder of Parquet files (or a database URL).",
        ) from exc
    wanted = [c for c in columns if c in names]
    expr = _filter_expression(names, start, end, model_version)
    try:
        scanner = dataset.scanner(
            columns=wanted,
            filter=expr,
            batch_size=batch_rows,
            use_threads=True,
            # Bounded read-ahead: memory stays flat whatever the size of the log. Without
            # pre-buffering (whole row groups fetched ahead) and with one batch and no
            # file read ahead, scanning 10,000,000 x 100 float32 peaks at 0.75 GB instead
            # of 1.6 GB, and runs faster on a local disk.
            batch_readahead=1,
            fragment_readahead=0,
            fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=False),
        )
        # A damaged page midway is the log's fault, named as every reader names it.
        batches = guarded_batches(scanner.to_batches(), path, what="The prediction log")
    except Exception as exc:
        raise DataError(
            f"Cannot scan the prediction log {str(path)!r}: {exc}",
            fix="check that every Parquet file of the log has the same columns.",
        ) from exc
    return batches, wanted, str(path)


def _filter_expression(
    names: Sequence[str], start: float | None, end: float | None, model_version: str | None
) -> Any:
    """The pyarrow filter of ``start <= ts < end`` and the model version (None: none)."""
    import pyarrow.dataset as ds

    expr = None
    if start is not None and "ts" in names:
        expr = ds.field("ts") >= start
    if end is not None and "ts" in names:
        e = ds.field("ts") < end
        expr = e if expr is None else expr & e
    if model_version is not None and "model_version" in names:
        e = ds.field("model_version") == str(model_version)
        expr = e if expr is None else expr & e
    return expr


# -- labels ----------------------------------------------------------------------------
def _read_labels(labels: Any, label_column: str | None) -> tuple[pd.DataFrame, str]:
    if isinstance(labels, pd.DataFrame):
        frame = labels
    else:
        from afterfit.data import read_table

        frame = read_table(labels)
    if "request_id" not in frame.columns:
        raise DataError(
            f"The labels table has no 'request_id' column (columns: {list(frame.columns)}).",
            fix="give the labels as a table with request_id (as returned by the server and "
            "logged) and the true label.",
        )
    if label_column is None:
        others = [c for c in frame.columns if c != "request_id"]
        if "label" in others:
            label_column = "label"
        elif len(others) == 1:
            label_column = others[0]
        else:
            raise DataError(
                f"Cannot tell which column of the labels table is the label: {others}.",
                fix="name it with --label-column (or call it 'label').",
            )
    if label_column not in frame.columns:
        raise DataError(
            f"The labels table has no column {label_column!r} (columns: {list(frame.columns)}).",
            fix="pass the name of the label column with --label-column.",
        )
    frame = frame[["request_id", label_column]].dropna()
    frame = frame.assign(request_id=frame["request_id"].astype(str))
    if frame.empty:
        raise DataError(
            "The labels table has no rows with both a request_id and a label.",
            fix="fill in the labels of logged requests.",
        )
    dupes = frame["request_id"].duplicated()
    if dupes.any():
        raise DataError(
            f"The labels table has {int(dupes.sum())} repeated request_id values.",
            fix="keep one label per request_id.",
        )
    return frame, label_column


# -- the result ------------------------------------------------------------------------
@dataclass(frozen=True)
class Performance:
    """Model performance on the labelled rows, over the whole log and per window."""

    task: str
    n_labeled: int
    overall: Any  # afterfit Evaluation
    windows: tuple[tuple[int, str, int, Any], ...]  # (index, label, n, Evaluation | None)
    notes: tuple[str, ...] = ()

    def frame(self) -> pd.DataFrame:
        """One row per window and metric: ``window, start, n_labeled, metric, value,
        ci_low, ci_high, method`` (window ``all`` for the whole log)."""
        rows = []
        parts = [(-1, "all", self.n_labeled, self.overall), *self.windows]
        for _index, label, n, ev in parts:
            if ev is None:
                continue
            for r in ev.metrics.overall():
                rows.append((label, n, r.metric, r.value, r.ci_low, r.ci_high, r.method))
        return pd.DataFrame(
            rows, columns=["window", "n_labeled", "metric", "value", "ci_low", "ci_high", "method"]
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "n_labeled": int(self.n_labeled),
            "overall": [r.to_dict() for r in self.overall.metrics.overall()],
            "windows": [
                {
                    "window": label,
                    "n_labeled": int(n),
                    "metrics": None if ev is None else [r.to_dict() for r in ev.metrics.overall()],
                }
                for _i, label, n, ev in self.windows
            ],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class MonitorResult:
    """Drift of a prediction log against a reference (and performance, with labels).

    Attributes
    ----------
    features, predictions : tuple of ColumnDrift
        Over the whole log, flagged with ``thresholds`` (Holm over the features; the
        score columns are tested as their own family).
    windows : tuple of Window
        Per window (empty without ``window``).
    performance : Performance or None
        With labels.
    """

    reference: ReferenceStats
    features: tuple[ColumnDrift, ...]
    predictions: tuple[ColumnDrift, ...]
    windows: tuple[Window, ...]
    window: WindowSpec | None
    thresholds: DriftThresholds
    n_rows: int
    ts_min: float
    ts_max: float
    source: str
    absent: tuple[str, ...] = ()
    performance: Performance | None = None
    counts: dict[str, tuple[np.ndarray, int, int]] = field(default_factory=dict, repr=False)
    model: dict[str, Any] = field(default_factory=dict)
    # monitor_estimates.EstimatedPerformance and MultivariateResult (monitor_bundle).
    estimated: Any = None
    multivariate: Any = None

    def __repr__(self) -> str:
        from afterfit.notebook import one_line

        psi = [c.psi for c in self.features if math.isfinite(c.psi)]
        drifted = f"{len(self.drifted)} of {len(self.features)} features drifted"
        top = f"max PSI {max(psi):.3g}" if psi else None
        return one_line("MonitorResult", drifted, top, f"{self.n_rows:,} rows")

    def _repr_html_(self) -> str:
        """Jupyter's display: headline with intervals, main figure, findings, tables."""
        from afterfit.notebook import result_html

        return result_html(self)

    @property
    def drifted(self) -> list[str]:
        """Names of the drifted features, most drifted first."""
        return [c.name for c in _sorted(self.features) if c.drifted]

    def frame(self) -> pd.DataFrame:
        """One row per feature, most drifted first (drifted, then by PSI)."""
        return _columns_frame(_sorted(self.features))

    def predictions_frame(self) -> pd.DataFrame:
        """One row per score column."""
        return _columns_frame(self.predictions)

    def windows_frame(self) -> pd.DataFrame:
        """One row per window and column: ``window, start, end, n_rows, column, role,
        psi, ks, js, p_value, p_value_holm, missing_current, drifted``."""
        rows = []
        for w in self.windows:
            label = self.window_label(w)
            for role, cols in (("feature", w.features), ("prediction", w.predictions)):
                for c in cols:
                    rows.append(
                        {
                            "window": label,
                            "start": w.start,
                            "end": w.end,
                            "n_rows": w.n_rows,
                            "column": c.name,
                            "role": role,
                            "psi": c.psi,
                            "ks": c.ks,
                            "js": c.js,
                            "p_value": c.p_value,
                            "p_value_holm": c.p_value_holm,
                            "missing_current": c.missing_current,
                            "drifted": c.drifted,
                        }
                    )
        return pd.DataFrame(rows)

    def window_label(self, w: Window) -> str:
        by_rows = self.window is not None and self.window.rows is not None
        return _window_label(w.start, w.end, w.index, by_rows=by_rows)

    def summary(self) -> dict[str, Any]:
        tested = [c for c in self.features if math.isfinite(c.p_value)]
        psis = [c.psi for c in self.features if math.isfinite(c.psi)]
        return {
            "n_features": len(self.features),
            "n_drifted": len(self.drifted),
            "drifted": self.drifted,
            "max_psi": jsonsafe.number(max(psis)) if psis else None,
            "mean_psi": jsonsafe.number(float(np.mean(psis))) if psis else None,
            "predictions_drifted": [c.name for c in self.predictions if c.drifted],
            "n_windows": len(self.windows),
            "n_windows_with_drift": sum(any(c.drifted for c in w.features) for w in self.windows),
            "multiple_testing": f"Holm over the {len(tested)} features tested (family-wise "
            f"level {self.thresholds.p_value:g}); per window, Holm within the window",
        }

    def to_dict(self) -> dict[str, Any]:
        """The ``monitor`` section of ``results.json``."""
        return {
            "model": self.model,
            "log": {
                "source": self.source,
                "n_rows": int(self.n_rows),
                "ts_min": jsonsafe.number(self.ts_min),
                "ts_max": jsonsafe.number(self.ts_max),
            },
            "reference": {
                "n_rows": int(self.reference.n_rows),
                "n_bins": int(self.reference.n_bins),
                "n_quantiles": int(self.reference.n_quantiles),
            },
            "window": None if self.window is None else self.window.text,
            "thresholds": self.thresholds.to_dict(),
            "summary": self.summary(),
            "features": [c.to_dict() for c in _sorted(self.features)],
            "absent_features": list(self.absent),
            "predictions": [c.to_dict() for c in self.predictions],
            "windows": [
                {
                    "window": self.window_label(w),
                    "start": w.start,
                    "end": w.end,
                    "n_rows": int(w.n_rows),
                    "ts_min": jsonsafe.number(w.ts_min),
                    "ts_max": jsonsafe.number(w.ts_max),
                    "features": [c.to_dict() for c in w.features],
                    "predictions": [c.to_dict() for c in w.predictions],
                }
                for w in self.windows
            ],
            "performance": None if self.performance is None else self.performance.to_dict(),
            "estimated_performance": None if self.estimated is None else self.estimated.to_dict(),
            "multivariate": None if self.multivariate is None else self.multivariate.to_dict(),
        }


def _sorted(cols: Sequence[ColumnDrift]) -> list[ColumnDrift]:
    def key(c: ColumnDrift) -> tuple[int, float, float]:
        psi = c.psi if math.isfinite(c.psi) else -1.0
        effect = c.effect if math.isfinite(c.effect) else -1.0
        return (0 if c.drifted else 1, -psi, -effect)

    return sorted(cols, key=key)


def _columns_frame(cols: Sequence[ColumnDrift]) -> pd.DataFrame:
    columns = [
        "name",
        "kind",
        "drifted",
        "psi",
        "psi_reading",
        "ks",
        "js",
        "p_value",
        "p_value_holm",
        "missing_reference",
        "missing_current",
        "n_reference",
        "n_current",
        "reasons",
    ]
    records = []
    for c in cols:
        d = c.to_dict()
        records.append({k: d[k] for k in columns})
    return pd.DataFrame(records, columns=columns).rename(columns={"name": "feature"})


# -- the pass --------------------------------------------------------------------------
def _positive(classes: Sequence[Any] | None, positive_class: Any) -> Any:
    if positive_class is not None:
        return positive_class
    return None if not classes else classes[-1]


def _prediction_columns(
    reference: ReferenceStats,
    task: str | None,
    classes: Sequence[Any] | None,
    positive_class: Any = None,
) -> dict[str, NumericStats | CategoricalStats]:
    """Log column -> reference stats of the model's outputs.

    ``score`` (a 1-D reference score) is the positive-class probability of a binary
    classifier or the value of a regressor. A binary classifier's two probability columns
    carry the same information, so only the positive class's is compared.
    """
    out: dict[str, NumericStats | CategoricalStats] = {}
    positive = _positive(classes, positive_class)
    for name, stats in reference.predictions.items():
        column = name
        if name == "score":
            if task == "regression":
                column = "prediction"
            elif positive is not None:
                column = f"proba_{positive}"
        out[column] = stats
    if task == "binary" and positive is not None and f"proba_{positive}" in out:
        out = {f"proba_{positive}": out[f"proba_{positive}"]}
    return out


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
class _Scan:
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
    ) -> _Scan:
        counters: dict[str, Counter] = {}
        roles: dict[str, str] = {}
        for name, stats in [*reference.features.items(), *outputs.items()]:
            if name not in present or name in counters:
                continue
            counters[name] = (
                _NumericCounter(stats, name)
                if isinstance(stats, NumericStats)
                else _CategoricalCounter(stats, name)
            )
            roles[name] = "feature" if name in reference.features else "prediction"
        return cls(counters, roles)


def _scan_batches(
    scan: _Scan,
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


def monitor(
    reference: ReferenceStats | dict[str, Any],
    log: Any,
    *,
    window: str | WindowSpec | None = None,
    labels: Any = None,
    label_column: str | None = None,
    thresholds: DriftThresholds | None = None,
    task: str | None = None,
    classes: Sequence[Any] | None = None,
    threshold: float | None = None,
    positive_class: Any = None,
    model_version: str | None = None,
    start: Any = None,
    end: Any = None,
    n_jobs: int | None = None,
    n_resamples: int = 500,
    random_state: int = 0,
    batch_rows: int | None = None,
    progress: Callable[..., None] | None = None,
    backend: str = "local",
    scheduler: str | None = None,
) -> MonitorResult:
    """Drift of a prediction log against a reference, per feature, over time windows.

    Parameters
    ----------
    reference : ReferenceStats or dict
        The reference (a bundle's ``reference.json`` as a dict is read with
        :meth:`ReferenceStats.from_dict`).
    log : str, Path or DataFrame
        A Parquet file or folder of Parquet files with the columns of
        :func:`afterfit.serving.predlog.read_log` (``ts``, ``request_id``, the features,
        ``proba_<class>`` / ``prediction``), a database URL (``sqlite:///preds.db``,
        ``postgresql+psycopg://...``), or such a DataFrame.
    window : str or WindowSpec, optional
        ``1h``, ``1d``, ``15min``, ``1000rows``... Without it, only the whole log.
    labels : str, Path or DataFrame, optional
        Labels that arrived later: ``request_id`` and a label column; joined on
        ``request_id`` and evaluated with :func:`afterfit.evaluate_predictions`.
    label_column : str, optional
        The label column of ``labels`` (default ``label``, or its only other column).
    thresholds : DriftThresholds, optional
        When a column counts as drifted.
    task, classes, threshold, positive_class : optional
        The model's task, class labels (score column order), decision threshold and
        positive class (binary; default the last class), from the bundle; needed to map
        the reference's scores to the log's columns and to evaluate labels.
    model_version : str, optional
        Keep only the rows of this model version.
    start, end : optional
        Keep rows with ``start <= ts < end`` (unix seconds or dates, UTC).
    n_jobs : int, optional
        Threads over columns (default: every core).
    n_resamples : int
        Bootstrap resamples of the performance intervals.
    random_state : int
        Seed of the performance intervals.
    batch_rows : int, optional
        Rows per record batch (default: :data:`BATCH_VALUES` values a batch, at most
        :data:`BATCH_ROWS` rows).
    progress : callable, optional
        ``progress(rows)`` after each batch is counted (see :mod:`afterfit.progress`).
    backend : {"local", "dask"}
        ``"dask"``: a Parquet log's partitions are counted on the Dask cluster at
        ``scheduler``, one task per file, and merged: the same numbers as ``"local"``
        (:mod:`afterfit.monitoring.streaming`).
    scheduler : str, optional
        The Dask scheduler's address.

    Returns
    -------
    MonitorResult
    """
    if isinstance(reference, dict):
        reference = ReferenceStats.from_dict(reference)
    if not isinstance(reference, ReferenceStats):
        raise InvalidInputError(
            f"reference must be ReferenceStats or its dict; got {type(reference).__name__}.",
            fix="pass the bundle's reference (ReferenceStats.from_dict(bundle.reference)).",
        )
    thresholds = thresholds or DriftThresholds()
    spec = WindowSpec.parse(window) if isinstance(window, str) else window
    from afterfit.serving.predlog import unix_seconds

    lo, hi = unix_seconds(start), unix_seconds(end)
    label_frame = None
    if labels is not None:
        label_frame, label_column = _read_labels(labels, label_column)
        if task is None:
            raise InvalidInputError(
                "Evaluating labels needs the model's task.",
                fix="pass task= (and classes=, threshold=), or use monitor_bundle.",
            )

    outputs = _prediction_columns(reference, task, classes, positive_class)
    eval_columns: list[str] = []
    if label_frame is not None:
        if task == "regression":
            eval_columns = ["prediction"]
        elif task == "binary" and classes:
            eval_columns = [f"proba_{_positive(classes, positive_class)}"]
        elif classes is not None:
            eval_columns = [f"proba_{c}" for c in classes]
    wanted = list(
        dict.fromkeys(
            [
                "ts",
                *(["request_id"] if label_frame is not None else []),
                *reference.features,
                *outputs,
                *eval_columns,
            ]
        )
    )
    if backend != "local" or scheduler is not None:
        from afterfit.monitoring.streaming import check_parquet_log

        check_parquet_log(log)  # before anything is read: a cluster reads Parquet files
    if batch_rows is None:
        batch_rows = max(16_384, min(BATCH_ROWS, BATCH_VALUES // max(1, len(wanted))))
    batches, present, source = _log_batches(
        log, wanted, start=lo, end=hi, model_version=model_version, batch_rows=batch_rows
    )
    scan = _Scan.start(reference, outputs, present)
    counters, roles = scan.counters, scan.roles
    absent = tuple(n for n in reference.features if n not in present)
    if not any(r == "feature" for r in roles.values()):
        raise DataError(
            f"The log {source!r} has none of the reference's {len(reference.features)} "
            f"features (columns found: {present}).",
            fix="check that --log is this model's prediction log (features as columns).",
        )
    if label_frame is not None:
        missing_eval = [c for c in ["request_id", *eval_columns] if c not in present]
        if missing_eval or not eval_columns:
            raise DataError(
                f"The log lacks the columns needed to evaluate labels: "
                f"{missing_eval or 'the model outputs'}.",
                fix="log with afterfit serve (it records request_id and the outputs), and "
                "pass the bundle so that the task and classes are known.",
            )

    workers = max(1, n_jobs or os.cpu_count() or 1)
    label_ids = None
    if label_frame is not None:
        import pyarrow as pa

        label_ids = pa.array(label_frame["request_id"].to_numpy(dtype=object), type=pa.string())
    if backend == "local" and scheduler is None:
        _scan_batches(scan, batches, present, spec, workers, label_ids, eval_columns, progress)
    else:
        # One task per partition on a Dask cluster, merged in partition order.
        from afterfit.monitoring.streaming import scan_partitions

        scan = scan_partitions(
            scan, log, wanted, present, spec, label_ids, eval_columns,
            start=lo, end=hi, model_version=model_version, batch_rows=batch_rows,
            backend=backend, scheduler=scheduler, progress=progress,
        )  # fmt: skip
        counters = scan.counters
    n_rows, window_rows, labeled_parts = scan.n_rows, scan.window_rows, scan.labeled_parts
    ts_min, ts_max = scan.ts_min, scan.ts_max
    if n_rows == 0:
        raise DataError(_no_rows(source, lo, hi, model_version), fix=_NO_ROWS_FIX)

    features = flag([c.overall() for n, c in counters.items() if roles[n] == "feature"], thresholds)
    predictions = flag(
        [c.overall() for n, c in counters.items() if roles[n] == "prediction"], thresholds
    )
    windows: list[Window] = []
    for w in sorted(window_rows):
        rows, w_min, w_max = window_rows[w]
        lo_w, hi_w = spec.bounds(w) if spec is not None else (0.0, 0.0)
        windows.append(
            Window(
                index=w,
                start=lo_w,
                end=hi_w,
                n_rows=int(rows),
                ts_min=w_min,
                ts_max=w_max,
                features=tuple(
                    flag(
                        [c.window(w) for n, c in counters.items() if roles[n] == "feature"],
                        thresholds,
                    )
                ),
                predictions=tuple(
                    flag(
                        [c.window(w) for n, c in counters.items() if roles[n] == "prediction"],
                        thresholds,
                    )
                ),
            )
        )
    performance = None
    if label_frame is not None:
        performance = _performance(
            labeled_parts,
            label_frame,
            label_column or "label",
            eval_columns,
            task=str(task),
            classes=classes,
            threshold=threshold,
            positive_class=_positive(classes, positive_class),
            spec=spec,
            n_resamples=n_resamples,
            random_state=random_state,
        )
    # Kept for the report's histograms: cumulative counts at the sketch points (numeric)
    # or counts per category, with the numbers of values and of missing ones.
    counts = {
        name: (c.cum if isinstance(c, _NumericCounter) else c.counts, c.n, c.n_missing)
        for name, c in counters.items()
    }
    return MonitorResult(
        reference=reference,
        features=tuple(features),
        predictions=tuple(predictions),
        windows=tuple(windows),
        window=spec,
        thresholds=thresholds,
        n_rows=n_rows,
        ts_min=ts_min if math.isfinite(ts_min) else float("nan"),
        ts_max=ts_max if math.isfinite(ts_max) else float("nan"),
        source=source,
        absent=absent,
        performance=performance,
        counts=counts,
        model={
            "task": task,
            "classes": None if classes is None else [jsonsafe.scalar(c) for c in classes],
            "threshold": None if threshold is None else jsonsafe.number(threshold),
            "prediction_columns": {k: v.name for k, v in outputs.items()},
        },
    )


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


def _performance(
    parts: list[pd.DataFrame],
    label_frame: pd.DataFrame,
    label_column: str,
    eval_columns: Sequence[str],
    *,
    task: str,
    classes: Sequence[Any] | None,
    threshold: float | None,
    positive_class: Any,
    spec: WindowSpec | None,
    n_resamples: int,
    random_state: int,
) -> Performance:
    from afterfit.evaluation import evaluate_predictions

    logged = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if logged.empty:
        raise DataError(
            f"None of the {len(label_frame):,} labels' request_id values is in the log.",
            fix="check that the labels belong to this log (request_id as the server returned it).",
        )
    logged = logged.drop_duplicates("request_id", keep="last")
    joined = logged.merge(label_frame, on="request_id", how="inner")
    notes: list[str] = []
    unmatched = len(label_frame) - len(joined)
    if unmatched:
        notes.append(f"{unmatched:,} labels have no logged request and were left out.")

    def evaluate(frame: pd.DataFrame) -> Any:
        y = frame[label_column].to_numpy()
        if task == "regression":
            scores = frame["prediction"].to_numpy()
        elif task == "binary":
            scores = frame[eval_columns[0]].to_numpy()
        else:
            scores = frame[list(eval_columns)].to_numpy()
        if classes is not None and task != "regression":
            # Labels read from a file may be text while the classes are numbers.
            y = _align_labels(y, classes)
        return evaluate_predictions(
            y,
            scores,
            task=task,  # type: ignore[arg-type]
            classes=None if task == "regression" else list(classes or []) or None,
            threshold=threshold if task == "binary" else None,
            pos_label=positive_class if task == "binary" else None,
            n_resamples=n_resamples,
            random_state=random_state,
        )

    try:
        overall = evaluate(joined)
    except AfterfitError as exc:
        raise DataError(
            f"The labels could not be evaluated against the logged predictions: {exc}",
            fix="check that the label column holds the model's classes (or targets).",
        ) from exc
    windows: list[tuple[int, str, int, Any]] = []
    if spec is not None:
        by_rows = spec.rows is not None
        for w, frame in joined.groupby("__window__", sort=True):
            lo_w, hi_w = spec.bounds(int(w))
            label = _window_label(lo_w, hi_w, int(w), by_rows=by_rows)
            ev = None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    ev = evaluate(frame)
                except AfterfitError as exc:
                    notes.append(f"window {label}: not evaluated ({exc.problem})")
            windows.append((int(w), label, len(frame), ev))
    return Performance(
        task=task,
        n_labeled=len(joined),
        overall=overall,
        windows=tuple(windows),
        notes=tuple(notes),
    )


def _align_labels(y: np.ndarray, classes: Sequence[Any]) -> np.ndarray:
    """Labels as the class objects they name (``"1"`` read from CSV -> the class ``1``)."""
    by_text = {str(c): c for c in classes}
    if all(v in set(classes) for v in pd.unique(y)):
        return y
    return np.asarray([by_text.get(str(v), v) for v in y], dtype=object)


# -- bundles and the report ------------------------------------------------------------
def monitor_bundle(
    bundle: Any,
    log: Any,
    *,
    trust: bool = False,
    trusted_types: Sequence[str] = (),
    estimate: bool = True,
    assume_calibrated: bool = False,
    multivariate: bool = False,
    reference_data: Any = None,
    multivariate_rows: int | None = None,
    **options: Any,
) -> MonitorResult:
    """:func:`monitor` with the reference, task, classes and threshold of a bundle, and
    the estimated performance and multivariate drift of :mod:`afterfit.monitoring.estimates`.

    ``bundle`` is a bundle folder or ``.zip`` (loaded and verified with
    :func:`afterfit.bundle.core.load_bundle`; a tampered bundle is refused; ``trust``
    and ``trusted_types`` are passed on for a ``.skops`` model) or a loaded bundle.
    ``options`` are those of :func:`monitor`; ``model_version`` defaults to the bundle's
    version (``"*"``: every version in the log).

    ``estimate``: CBPE per window for classifiers (with the realised metrics beside it
    when ``labels`` arrived); it needs calibrated probabilities, which a bundle with a
    calibration map logs; without one a named note stands in its place unless
    ``assume_calibrated``. ``multivariate``: the domain classifier against
    ``reference_data`` rows (a table or file), else against the log's first window;
    ``multivariate_rows`` rows of each side at most (default 10,000).
    """
    if isinstance(bundle, str | os.PathLike):
        from afterfit.bundle.core import load_bundle

        bundle = load_bundle(bundle, trust=trust, trusted_types=trusted_types)
    version = options.get("model_version")
    if version is None:
        # The log of a server holds the rows of every version it served; the bundle's
        # own are the ones its reference describes.
        options["model_version"] = getattr(bundle, "version", None)
    elif str(version) == "*":
        options["model_version"] = None
    reference = getattr(bundle, "reference", None)
    if not reference:
        raise InvalidInputError(
            "The bundle has no reference statistics, so there is nothing to compare with.",
            fix="rebuild the bundle with training data (afterfit bundle --data ...).",
        )
    options.setdefault("task", getattr(bundle, "task", None))
    classes = getattr(bundle, "classes", None)
    options.setdefault("classes", None if classes is None else list(classes))
    options.setdefault("threshold", getattr(bundle, "threshold", None))
    options.setdefault("positive_class", getattr(bundle, "positive_class", None))
    # The estimates below reread the log with these options; the progress is the scan's.
    progress = options.pop("progress", None)
    result = monitor(reference, log, progress=progress, **options)
    model = dict(result.model)
    model.update(
        {"name": getattr(bundle, "name", None), "version": getattr(bundle, "version", None)}
    )
    object.__setattr__(result, "model", model)
    if estimate or multivariate:
        from afterfit.monitoring.estimates import add_estimates

        add_estimates(
            result, bundle, log, options, estimate=estimate,
            assume_calibrated=assume_calibrated, multivariate=multivariate,
            reference_data=reference_data, multivariate_rows=multivariate_rows,
        )  # fmt: skip
    return result
