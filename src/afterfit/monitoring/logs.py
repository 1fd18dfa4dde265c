"""Reading the prediction log in batches: Parquet files (pyarrow record batches, filtered
by time and model version) or a SQL log (SQLite, PostgreSQL), and the labels joined to it.

Shared by the drift monitor (:mod:`afterfit.monitoring.core`), the streaming scan and the
estimates (:mod:`afterfit.monitoring.estimates`), which import it and not each other."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from afterfit.errors import DataError

__all__ = [
    "BATCH_ROWS",
    "BATCH_VALUES",
    "META_COLUMNS",
    "NO_ROWS_FIX",
    "ROW",
    "check_parquet_log",
    "log_batches",
    "log_files",
    "no_rows",
    "read_labels",
]

#: Column of a labels table giving a row's position in its request (0 for the first).
ROW = "row"

#: Rows per record batch read from Parquet.
BATCH_ROWS = 262_144
#: Values (rows x columns) per record batch the monitor counts: a wide log gets shorter
#: batches. The counting's temporaries grow with the batch, so at 100 features 262,144-row
#: batches peaked at 1.8 GB where about 80,000 rows peak at 1.1 GB, and run no slower.
BATCH_VALUES = 8_000_000
#: Columns of the log that are never features.
META_COLUMNS = ("id", "ts", "request_id", "model_name", "model_version", "latency_ms")


# -- reading the log -------------------------------------------------------------------
def log_files(path: Path) -> list[Path] | None:
    """The partitions of a folder or glob log, their schemas checked against the first
    (:func:`afterfit.partitions.check_schemas`); None for a single file."""
    from afterfit.partitions import check_schemas, resolve_partitions

    text = str(path)
    if not (path.is_dir() or any(c in text for c in "*?[")):
        return None
    files = resolve_partitions(path)
    check_schemas(files)
    return files


def check_parquet_log(log: Any) -> None:
    """Refuse a database or DataFrame log for a cluster run: workers read Parquet files."""
    from afterfit.errors import InvalidInputError

    text = str(log)
    if (
        not isinstance(log, str | os.PathLike)
        or "://" in text
        or text.endswith((".db", ".sqlite", ".sqlite3"))
    ):
        raise InvalidInputError(
            "--backend dask reads a Parquet log (a file, folder or glob); a database or a "
            "DataFrame is read here, without --backend.",
            fix="export the log to Parquet (one file per day, say), or leave --backend out.",
        )


def _is_sql(log: str) -> bool:
    return "://" in log or log.endswith((".db", ".sqlite", ".sqlite3"))


def log_batches(
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
            raise DataError(no_rows("DataFrame", start, end, model_version), fix=NO_ROWS_FIX)
        table = pa.Table.from_pandas(
            frame[[c for c in columns if c in frame]], preserve_index=False
        )
        return iter(table.to_batches(max_chunksize=batch_rows)), table.column_names, "DataFrame"
    text = str(log)
    if _is_sql(text) and not Path(text).is_dir():
        from afterfit.serving.predlog import read_log

        frame = read_log(text, start=start, end=end, model_version=model_version)
        if frame.empty:
            raise DataError(no_rows(_shown(text), start, end, model_version), fix=NO_ROWS_FIX)
        frame = frame[[c for c in columns if c in frame.columns]]
        table = pa.Table.from_pandas(frame, preserve_index=False)
        return iter(table.to_batches(max_chunksize=batch_rows)), table.column_names, _shown(text)
    return _parquet_batches(Path(text), columns, start, end, model_version, batch_rows)


NO_ROWS_FIX = (
    "check the log URL, --start/--end and --model-version; run the server so that it logs "
    "predictions first."
)


def no_rows(source: str, start: Any, end: Any, model_version: Any) -> str:
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
def read_labels(labels: Any, label_column: str | None) -> tuple[pd.DataFrame, str]:
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
        others = [c for c in frame.columns if c not in ("request_id", ROW)]
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
    keys = ["request_id", *([ROW] if ROW in frame.columns else [])]
    frame = frame[[*keys, label_column]].dropna()
    frame = frame.assign(request_id=frame["request_id"].astype(str))
    if ROW in keys:
        rows = pd.to_numeric(frame[ROW], errors="coerce")
        if rows.isna().any() or (rows < 0).any() or (rows % 1 != 0).any():
            raise DataError(
                f"The labels table's {ROW!r} column holds values that are not row positions "
                "(whole numbers from 0).",
                fix=f"give each label's position in its request: {ROW} = 0 for the first "
                "row sent, 1 for the second...",
            )
        frame = frame.assign(**{ROW: rows.astype(np.int64)})
    if frame.empty:
        raise DataError(
            "The labels table has no rows with both a request_id and a label.",
            fix="fill in the labels of logged requests.",
        )
    dupes = frame.duplicated(keys)
    if dupes.any():
        what = "request_id values" if ROW not in keys else f"(request_id, {ROW}) pairs"
        raise DataError(
            f"The labels table has {int(dupes.sum())} repeated {what}.",
            fix=f"keep one label per request; to label each row of a request of several "
            f"rows, add a {ROW!r} column: its position in the request (0 for the first).",
        )
    return frame, label_column
