"""Batch prediction with a bundle, streaming: big files in chunks, never whole in memory.

:func:`predict_file` reads a Parquet file batch by batch (``pyarrow.parquet.ParquetFile.
iter_batches``) or a CSV file in chunks, validates each chunk against the bundle's schema,
predicts it, and appends the outputs to a Parquet (``ParquetWriter``) or CSV file. The
output is written to a temporary file renamed at the end: a bad chunk stops the run with
an error naming the row, and leaves no output file (an older one at the same path is kept).

Output columns: the ``keep`` columns copied from the input, then, for classifiers,
``proba_<class>`` per class (``score_<class>`` for models without probabilities) and
``decision``; for regressors, ``prediction``.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from afterfit.bundle.core import Bundle, BundlePredictions, model_outputs
from afterfit.bundle.schema import InputSchema
from afterfit.bundle.validation import SchemaValidationError
from afterfit.data import guarded_batches, numbers_from_text, pandas_index_columns, unreadable_file
from afterfit.errors import DataError, InvalidInputError

__all__ = ["BatchSummary", "iter_chunks", "output_table", "predict_file"]

CHUNK_ROWS = 100_000
INPUT_EXTENSIONS = (".parquet", ".pq", ".csv", ".tsv")
OUTPUT_EXTENSIONS = (".parquet", ".pq", ".csv")


@dataclass(frozen=True)
class BatchSummary:
    """What :func:`predict_file` did.

    Attributes
    ----------
    n_rows, n_chunks : int
    out : pathlib.Path
    seconds : float
    columns : list of str
        The output's columns.
    out_of_range : dict of str to int
        Per numeric field, values outside the training range (drift, not errors).
    decisions : dict of str to int
        Classifiers: how many rows were decided for each class.
    """

    n_rows: int
    n_chunks: int
    out: Path
    seconds: float
    columns: list[str]
    out_of_range: dict[str, int] = field(default_factory=dict)
    decisions: dict[str, int] = field(default_factory=dict)


def _kind(path: Path, allowed: Sequence[str], what: str) -> str:
    ext = path.suffix.lower()
    if ext not in allowed:
        raise InvalidInputError(
            f"The {what} file '{path}' has the extension {ext or '(none)'!r}; afterfit "
            f"predict reads and writes {', '.join(allowed)}.",
            fix=f"pass a {what} file ending in one of {', '.join(allowed)}.",
        )
    return "parquet" if ext in (".parquet", ".pq") else "csv"


def _check_columns(
    schema: InputSchema, columns: Sequence[str], keep: Sequence[str], drop: Sequence[str]
) -> None:
    """Column-level errors before anything is read or written."""
    present = [str(c) for c in columns]
    errors = []
    for name in keep:
        if name not in present:
            errors.append(
                {"loc": [None, name], "msg": "--keep column not in the input", "type": "missing"}
            )
    for name in schema.names:
        if name not in present:
            errors.append({"loc": [None, name], "msg": "column required", "type": "missing"})
    # The schema's ignored columns (not read by the model) are accepted and dropped.
    allowed = set(schema.names) | set(getattr(schema, "ignored", ())) | set(keep) | set(drop)
    for name in present:
        if name not in allowed:
            errors.append(
                {
                    "loc": [None, name],
                    "msg": "unknown column (not in the schema; pass --drop to ignore it or "
                    "--keep to copy it to the output)",
                    "type": "extra",
                }
            )
    if errors:
        raise SchemaValidationError(errors)


def iter_chunks(
    path: str | os.PathLike[str],
    schema: InputSchema,
    *,
    chunk_rows: int = CHUNK_ROWS,
    keep: Sequence[str] = (),
    drop: Sequence[str] = (),
) -> Iterator[pd.DataFrame]:
    """The rows of a Parquet or CSV file, ``chunk_rows`` at a time, schema and ``keep``
    columns only (column names checked before the first chunk).

    Raises
    ------
    SchemaValidationError
        Missing or unknown columns.
    DataError
        An unreadable file.
    """
    path = Path(path)
    kind = _kind(path, INPUT_EXTENSIONS, "input")
    if not path.is_file():
        raise DataError(
            f"The input file '{path}' does not exist.",
            fix="check the path (relative paths start from the working directory).",
        )
    wanted = list(dict.fromkeys([*keep, *schema.names]))
    # The column rules of every reader (afterfit.data): numbers written as text (or as
    # huge integers, decimals) are numbers; a pandas index is not a column.
    numeric = [f.name for f in schema.fields if f.kind in ("number", "integer")]
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
            names = pf.schema_arrow.names
        except Exception as exc:  # pyarrow raises ArrowInvalid, OSError...
            raise unreadable_file(path, "Parquet", exc) from exc
        index = set(pandas_index_columns(pf.schema_arrow)) - set(wanted)
        _check_columns(schema, [n for n in names if n not in index], keep, drop)
        batches = pf.iter_batches(batch_size=chunk_rows, columns=wanted)
        for batch in guarded_batches(batches, path):
            yield numbers_from_text(batch.to_pandas(), numeric)[0]
        return
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        header = pd.read_csv(path, sep=sep, nrows=0).columns
    except Exception as exc:  # pandas raises EmptyDataError, ParserError, UnicodeError...
        raise unreadable_file(path, "CSV", exc) from exc
    _check_columns(schema, header, keep, drop)
    # Text fields are read as text: "007" stays "007", not 7.
    dtypes = {
        f.name: str
        for f in schema.fields
        if f.kind == "string"
        or (f.kind == "category" and all(isinstance(c, str) for c in f.categories or ()))
    }
    try:
        # Every column is parsed, then the wanted ones kept: with usecols, pandas silently
        # accepts a row with more fields than the header, which read_table refuses.
        reader = pd.read_csv(path, sep=sep, dtype=dtypes, chunksize=chunk_rows)
    except Exception as exc:
        raise unreadable_file(path, "CSV", exc) from exc
    for chunk in guarded_batches(reader, path, kind="CSV"):
        yield numbers_from_text(chunk[wanted], numeric)[0]


def output_table(bundle: Bundle, preds: BundlePredictions, kept: pd.DataFrame | None) -> Any:
    """The output rows of one chunk as a ``pyarrow.Table``."""
    import pyarrow as pa

    columns: dict[str, Any] = {}
    if kept is not None:
        for name in kept.columns:
            columns[str(name)] = pa.Array.from_pandas(kept[name])
    if bundle.task == "regression":
        columns["prediction"] = pa.array(preds.prediction, type=pa.float64())
    else:
        prefix, matrix = ("proba_", preds.proba)
        if matrix is None:
            prefix, matrix = ("score_", preds.scores)
        for j, c in enumerate(bundle.classes or []):
            columns[f"{prefix}{c}"] = pa.array(matrix[:, j], type=pa.float64())
        columns["decision"] = pa.array(preds.decision)
    return pa.table(columns)


class _Writer:
    """Appends tables to a Parquet or CSV file, every chunk cast to the first one's types."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path = path
        self.kind = kind
        self._writer: Any = None
        self.schema: Any = None

    def write(self, table: Any) -> None:
        if self._writer is None:
            self.schema = table.schema
            if self.kind == "parquet":
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(self.path, table.schema)
            else:
                import pyarrow.csv as pacsv

                self._writer = pacsv.CSVWriter(self.path, table.schema)
        elif table.schema != self.schema:
            try:
                table = table.cast(self.schema)
            except Exception as exc:  # ArrowInvalid, ArrowNotImplementedError
                raise DataError(
                    f"A chunk's --keep columns have other types than in the first chunk ({exc}).",
                    fix="keep columns of one type throughout the file (in a CSV, a column "
                    "that is whole numbers in some rows and empty or decimal in others), or "
                    "convert the file to Parquet.",
                ) from exc
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


_END = object()


def _prefetch(items: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """``items``, produced by a background thread up to ``depth`` ahead.

    Reading and decoding the next chunk (pyarrow releases the GIL) overlaps with
    validating and predicting the current one. The producer's errors are raised here, in
    order; closing the generator stops the producer.
    """
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(("item", item)):
                    return
            put(("end", None))
        except BaseException as exc:  # handed to the consumer, raised there
            put(("error", exc))

    thread = threading.Thread(target=produce, name="afterfit-read", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = q.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


class _BackgroundWriter:
    """Writes tables in order in a background thread (Parquet encoding releases the GIL),
    so that writing one chunk overlaps with predicting the next."""

    def __init__(self, writer: _Writer, depth: int = 2) -> None:
        self._writer = writer
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="afterfit-write", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            table = self._queue.get()
            if table is _END:
                return
            if self._error is None:
                try:
                    self._writer.write(table)
                except BaseException as exc:  # raised in the caller's thread
                    self._error = exc

    def write(self, table: Any) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(table)

    def close(self, *, abort: bool = False) -> None:
        """Finish writing (or, with ``abort``, drop what is queued) and close the file."""
        if abort:
            while True:  # drop queued tables: the output is discarded anyway
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
        self._queue.put(_END)
        self._thread.join()
        self._writer.close()
        if self._error is not None and not abort:
            raise self._error


def predict_file(
    bundle: Bundle,
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    chunk_rows: int = CHUNK_ROWS,
    keep: Sequence[str] = (),
    drop: Sequence[str] = (),
    progress: Callable[[int], None] | None = None,
) -> BatchSummary:
    """Predict every row of a Parquet or CSV file with a bundle, in chunks.

    Parameters
    ----------
    bundle : Bundle
        From :func:`~afterfit.bundle.core.load_bundle`.
    source : path
        ``.parquet``/``.pq`` or ``.csv``/``.tsv`` with the schema's columns.
    out : path
        ``.parquet``/``.pq`` or ``.csv``; written whole at the end (temporary file renamed),
        or not at all.
    chunk_rows : int, default 100_000
        Rows per chunk: memory stays bounded by a few chunks.
    keep : sequence of str
        Input columns copied to the output (identifiers), outside the schema.
    drop : sequence of str
        Input columns ignored (a target column, say).
    progress : callable, optional
        Called with the number of rows done after each chunk.

    Returns
    -------
    BatchSummary

    Raises
    ------
    SchemaValidationError
        A chunk that does not fit the schema: its errors name the rows, counted from 0 over
        the whole file (header excluded).
    DataError
        An unreadable input.
    """
    from afterfit.io import atomic_write
    from afterfit.outdir import prepare_file

    if not isinstance(chunk_rows, int) or isinstance(chunk_rows, bool) or chunk_rows < 1:
        raise InvalidInputError(
            f"chunk_rows must be a positive integer; got {chunk_rows!r}.",
            fix="pass --chunk-rows 100000 (rows held in memory at once).",
        )
    out = Path(out)
    out_kind = _kind(out, OUTPUT_EXTENSIONS, "output")
    source = Path(source)
    # The input is never the output, be it the same path, a link or a hard link to it
    # (``afterfit predict`` also refuses an existing --out without --overwrite).
    prepare_file(out, overwrite=True, inputs={"source": source}, option="The output")
    keep = list(dict.fromkeys(keep))
    start = time.perf_counter()
    state = {"rows": 0, "chunks": 0, "columns": []}
    out_of_range: dict[str, int] = {}
    decisions: dict[str, int] = {}
    schema = bundle.schema

    def write(tmp: Path) -> None:
        writer = _BackgroundWriter(_Writer(tmp, out_kind))
        chunks = _prefetch(iter_chunks(source, schema, chunk_rows=chunk_rows, keep=keep, drop=drop))
        failed = True
        try:
            for chunk in chunks:
                X = schema.validate_frame(chunk[list(schema.names)], row_offset=state["rows"])
                for k, v in X.attrs.get("out_of_range", {}).items():
                    out_of_range[k] = out_of_range.get(k, 0) + v
                preds = model_outputs(bundle.model, bundle.decision, X, row_offset=state["rows"])
                kept = chunk[list(keep)] if keep else None
                table = output_table(bundle, preds, kept)
                writer.write(table)
                if bundle.task != "regression":
                    # Hash counts: a sort of a million labels costs more than the model.
                    for lab, cnt in pd.Series(preds.decision).value_counts(sort=False).items():
                        decisions[str(lab)] = decisions.get(str(lab), 0) + int(cnt)
                state["rows"] += len(X)
                state["chunks"] += 1
                state["columns"] = table.column_names
                if progress is not None:
                    progress(len(X))
            if state["rows"] == 0:
                raise SchemaValidationError(
                    [{"loc": [None, None], "msg": "the input holds no rows", "type": "empty"}]
                )
            failed = False
        finally:
            chunks.close()
            writer.close(abort=failed)

    atomic_write(out, write)
    return BatchSummary(
        n_rows=int(state["rows"]),
        n_chunks=int(state["chunks"]),
        out=out,
        seconds=time.perf_counter() - start,
        columns=list(state["columns"]),
        out_of_range=out_of_range,
        decisions=decisions,
    )


def count_rows(path: str | os.PathLike[str]) -> int | None:
    """Rows of a Parquet file from its footer (None for CSV: unknown without reading)."""
    path = Path(path)
    if path.suffix.lower() not in (".parquet", ".pq") or not path.is_file():
        return None
    try:
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    except Exception:
        return None
