"""The prediction log: every prediction the server makes, in SQLite or PostgreSQL.

One table, ``afterfit_predictions``, written through SQLAlchemy Core::

    id             INTEGER  primary key, autoincrement
    ts             DOUBLE   unix seconds (UTC) when the request was answered
    request_id     TEXT     the request id (also in the response and the access log)
    model_name     TEXT
    model_version  TEXT
    features       TEXT     one JSON object per row: the input record as received
    outputs        TEXT     one JSON object per row: {"proba_<class>": ..., "decision": ...}
                            (classification) or {"prediction": ...} (regression)
    latency_ms     DOUBLE   time the server spent on the request

SQLite is the default (``sqlite:///preds.db``; WAL journal, ``synchronous=NORMAL``, so a
reader never blocks the writer). PostgreSQL (``postgresql+psycopg://user@host/db``) lets
several replicas write one log.

Writing is off the request path: :class:`PredictionLogWriter` owns a background thread that
takes rows from a queue and inserts them in batches (every ``flush_interval`` seconds or
``batch_rows`` rows, whichever comes first). The durability contract: a request is
acknowledged once its rows are *enqueued*, and rows are enqueued only while the writer
runs and its last insert succeeded (otherwise :meth:`PredictionLogWriter.submit` refuses
and the server answers 503); rows are *durable* once their batch is committed. At
startup the table's columns are checked and one row is inserted and rolled back, so a
table of another shape or a read-only database stops the server before it answers. A
clean shutdown (SIGTERM, Ctrl-C) flushes the queue; a SIGKILL or a power cut loses at
most the rows not yet committed, i.e. roughly the last ``flush_interval`` seconds
(with SQLite's ``synchronous=NORMAL`` in WAL mode a power cut, but not a process kill, may
also lose the last committed transactions). Committed rows are never lost or half-written.

:func:`read_log` reads the log back as a table for monitoring.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import queue
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from afterfit.errors import InvalidInputError

__all__ = [
    "TABLE_NAME",
    "LogRow",
    "PredictionLogError",
    "PredictionLogWriter",
    "connect_log",
    "normalize_log_url",
    "read_log",
]

TABLE_NAME = "afterfit_predictions"

logger = logging.getLogger("afterfit.predlog")


class PredictionLogError(InvalidInputError):
    """The prediction log cannot be reached, created or written."""


@dataclass(frozen=True, slots=True)
class LogRow:
    """One logged prediction, before it is serialised (the writer thread does that)."""

    ts: float
    request_id: str
    features: Mapping[str, Any]
    outputs: Mapping[str, Any]
    latency_ms: float


def _table(metadata: Any) -> Any:
    from sqlalchemy import Column, Double, Index, Integer, Table, Text

    table = Table(
        TABLE_NAME,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("ts", Double, nullable=False),
        Column("request_id", Text, nullable=False),
        Column("model_name", Text, nullable=False),
        Column("model_version", Text, nullable=False),
        Column("features", Text, nullable=False),
        Column("outputs", Text, nullable=False),
        Column("latency_ms", Double, nullable=False),
    )
    # Monitoring reads time windows; one index on ts keeps that cheap on big logs.
    Index(f"ix_{TABLE_NAME}_ts", table.c.ts)
    return table


def normalize_log_url(url: str) -> str:
    """The SQLAlchemy URL for ``url``: a bare ``postgresql://`` gets the psycopg 3 driver
    (SQLAlchemy would pick psycopg2, which afterfit does not install); a plain path
    becomes ``sqlite:///path``."""
    if "://" not in url:
        return f"sqlite:///{url}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # a URL SQLAlchemy cannot parse is shown as given
        return url


def connect_log(url: str, *, create: bool = True) -> tuple[Any, Any]:
    """An engine on the log at ``url`` and its table, checked by a round trip.

    Parameters
    ----------
    url : str
        ``sqlite:///preds.db`` (or a file path), ``postgresql+psycopg://user@host/db``.
    create : bool, default True
        Create the table (and its index) if it does not exist.

    Returns
    -------
    (engine, table)

    Raises
    ------
    PredictionLogError
        The database cannot be reached or the table cannot be created.
    """
    try:
        from sqlalchemy import MetaData, create_engine, event, inspect
    except ImportError as exc:  # pragma: no cover - a declared dependency of deploy
        from afterfit.errors import MissingDependencyError

        raise MissingDependencyError("sqlalchemy", "deploy", purpose="The prediction log") from exc
    url = normalize_log_url(url)
    if not create and url.startswith("sqlite"):
        from sqlalchemy.engine import make_url

        database = make_url(url).database
        if database and database != ":memory:" and not os.path.exists(database):
            raise PredictionLogError(
                f"there is no prediction log at {url!r}: the file {database!r} does not exist.",
                fix="point --log at the database the server wrote (afterfit serve --log).",
            )
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30})

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_connection: Any, _record: Any) -> None:
                # WAL: readers (afterfit monitor) never block the writer, and vice versa.
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.close()

        else:
            engine = create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2)
    except Exception as exc:
        raise PredictionLogError(
            f"the prediction log URL {_shown(url)!r} is not usable: {exc}",
            fix="give --log as sqlite:///preds.db or postgresql+psycopg://user@host:5432/db.",
        ) from exc
    metadata = MetaData()
    table = _table(metadata)
    try:
        with engine.begin() as conn:
            if create:
                metadata.create_all(conn, checkfirst=True)
            elif not inspect(conn).has_table(TABLE_NAME):
                raise PredictionLogError(
                    f"the database at {_shown(url)!r} has no table {TABLE_NAME!r}.",
                    fix="point --log at the database the server wrote (afterfit serve --log).",
                )
            # create_all skips a table that exists, whatever its shape: a table of another
            # shape (an older layout, another tool's table of the same name) would then
            # refuse every insert while the server answered 200. Check it now.
            _check_columns(inspect(conn).get_columns(TABLE_NAME), url)
        if create:
            _probe_insert(engine, table, url)
    except PredictionLogError:
        engine.dispose()
        raise
    except Exception as exc:
        engine.dispose()
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PredictionLogError(
            f"could not reach the prediction log at {_shown(url)!r}: {first_line}",
            fix="check that the database server is running and the URL, user and password "
            "are right; for SQLite, that the folder exists and is writable.",
        ) from exc
    return engine, table


#: The columns the writer fills, and the SQLAlchemy type family each must belong to.
_COLUMN_KINDS = {
    "id": "integer",
    "ts": "number",
    "request_id": "text",
    "model_name": "text",
    "model_version": "text",
    "features": "text",
    "outputs": "text",
    "latency_ms": "number",
}


def _kind_fits(sql_type: Any, kind: str) -> bool:
    from sqlalchemy import types

    if isinstance(sql_type, types.NullType):  # SQLite: a column declared without a type
        return True
    if kind == "integer":
        return isinstance(sql_type, types.Integer)
    if kind == "number":
        return isinstance(sql_type, types.Float | types.Numeric | types.Integer)
    return isinstance(sql_type, types.String)


def _check_columns(columns: list[dict[str, Any]], url: str) -> None:
    """Refuse a log table whose columns differ from the writer's: missing columns, columns
    of another type family, and extra columns an insert cannot leave empty."""
    found = {str(c["name"]): c for c in columns}
    problems: list[str] = []
    missing = [name for name in _COLUMN_KINDS if name not in found]
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    for name, kind in _COLUMN_KINDS.items():
        if name in found and not _kind_fits(found[name]["type"], kind):
            problems.append(f"column {name} is {found[name]['type']}, expected {kind}")
    required_extra = [
        name
        for name, c in found.items()
        if name not in _COLUMN_KINDS
        and not c.get("nullable", True)
        and c.get("default") is None
        and not c.get("autoincrement")
    ]
    if required_extra:
        problems.append(f"extra NOT NULL column(s) without a default: {', '.join(required_extra)}")
    if problems:
        raise PredictionLogError(
            f"the table {TABLE_NAME!r} at {_shown(url)!r} exists with another shape: "
            f"{'; '.join(problems)}. afterfit would not be able to write a row to it.",
            fix=f"point --log at another database, or rename the existing table "
            f"{TABLE_NAME!r} so that afterfit creates its own.",
        )


def _probe_insert(engine: Any, table: Any, url: str) -> None:
    """Insert one row and roll it back: constraints, triggers, a read-only file or a user
    without INSERT rights show up now, at startup, instead of on the first request."""
    probe = {
        "ts": 0.0,
        "request_id": "afterfit-startup-check",
        "model_name": "",
        "model_version": "",
        "features": "{}",
        "outputs": "{}",
        "latency_ms": 0.0,
    }
    try:
        with engine.connect() as conn:
            transaction = conn.begin()
            try:
                conn.execute(table.insert(), [probe])
            finally:
                transaction.rollback()
    except Exception as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PredictionLogError(
            f"the prediction log at {_shown(url)!r} cannot be written: {first_line}",
            fix="check that the database (or the SQLite file and its folder) is writable by "
            f"this user and that the table {TABLE_NAME!r} accepts afterfit's rows.",
        ) from exc


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    return str(value)


def _dumps(value: Mapping[str, Any]) -> str:
    try:
        return json.dumps(value, default=_json_default, allow_nan=False, separators=(",", ":"))
    except ValueError:
        # NaN or infinity somewhere (a missing numeric value from an Arrow batch): null.
        clean = {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in value.items()
        }
        return json.dumps(clean, default=_json_default, separators=(",", ":"))


class PredictionLogWriter:
    """Writes :class:`LogRow` batches to the log from a background thread.

    Parameters
    ----------
    url : str
        The log's database URL (see :func:`connect_log`). It is reached (and the table
        created) in the constructor, so a bad URL fails at startup.
    model_name, model_version : str
        Written on every row.
    flush_interval : float, default 0.05
        Seconds between inserts while rows are waiting.
    batch_rows : int, default 500
        Rows per insert at most.
    max_pending_rows : int, default 200_000
        Rows the queue may hold while the database is slow or down; beyond that
        :meth:`submit` refuses (the server answers 503) instead of growing without bound.

    Examples
    --------
    >>> writer = PredictionLogWriter("sqlite:///preds.db", model_name="m", model_version="1")
    >>> writer.start()
    >>> writer.submit([LogRow(time.time(), "req-1", {"x": 1.0}, {"prediction": 2.0}, 0.4)])
    >>> writer.close()  # flushes
    """

    def __init__(
        self,
        url: str,
        *,
        model_name: str,
        model_version: str,
        flush_interval: float = 0.05,
        batch_rows: int = 500,
        max_pending_rows: int = 200_000,
    ) -> None:
        self.url = normalize_log_url(url)
        self.model_name = str(model_name)
        self.model_version = str(model_version)
        self.flush_interval = float(flush_interval)
        self.batch_rows = int(batch_rows)
        self.max_pending_rows = int(max_pending_rows)
        self._engine, self._table = connect_log(self.url)
        self._queue: queue.SimpleQueue[list[LogRow] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._committed_cv = threading.Condition(self._lock)
        self._submitted = 0  # rows handed to submit()
        self._committed = 0  # rows in committed transactions
        self._dropped = 0  # rows that could not be serialised (never expected)
        self._pending = 0
        self._last_error: str | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- state ------------------------------------------------------------------------
    @property
    def healthy(self) -> bool:
        """True while the thread runs and the last insert (if any) succeeded."""
        return (
            self._thread is not None
            and self._thread.is_alive()
            and self._last_error is None
            and not self._closed
        )

    @property
    def last_error(self) -> str | None:
        """The message of the last failed insert, None after a success."""
        return self._last_error

    @property
    def committed_rows(self) -> int:
        """Rows committed by this writer so far."""
        return self._committed

    @property
    def pending_rows(self) -> int:
        """Rows enqueued and not yet committed."""
        return self._pending

    # -- life cycle -------------------------------------------------------------------
    def start(self) -> PredictionLogWriter:
        """Start the background thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="afterfit-predlog", daemon=True)
            self._thread.start()
        return self

    def submit(self, rows: Sequence[LogRow]) -> None:
        """Enqueue rows; returns at once. Raises :class:`PredictionLogError` when the
        writer is closed or more than ``max_pending_rows`` rows are waiting."""
        if not rows:
            return
        if self._closed or self._thread is None or not self._thread.is_alive():
            raise PredictionLogError(
                "the prediction log writer is not running.",
                fix="start it (the server does so at startup) before submitting rows.",
            )
        if self._last_error is not None:
            # The last insert failed: a row submitted now might never be written, so the
            # caller must not acknowledge it (the server answers 503). Rows already queued
            # are kept and retried; new ones are taken again once an insert succeeds.
            raise PredictionLogError(
                f"the prediction log cannot be written (last error: {self._last_error}).",
                fix="check the log database; requests are refused until a write succeeds.",
            )
        with self._lock:
            if self._pending + len(rows) > self.max_pending_rows:
                raise PredictionLogError(
                    f"the prediction log is {self._pending} rows behind "
                    f"(last error: {self._last_error}).",
                    fix="check the log database; requests are refused until it catches up.",
                )
            self._pending += len(rows)
            self._submitted += len(rows)
        self._queue.put(list(rows))

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until every row submitted so far is committed; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._committed_cv:
            target = self._submitted
            while self._committed + self._dropped < target:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._committed_cv.wait(remaining if remaining is not None else 1.0)
        return True

    def close(self, timeout: float | None = 30.0) -> bool:
        """Flush, stop the thread and release the database; True if everything was
        committed."""
        if self._closed:
            return self._pending == 0
        done = self.flush(timeout) if self._thread is not None else True
        self._closed = True
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._engine.dispose()
        if not done:
            logger.error("prediction log: %d rows were not committed at shutdown", self._pending)
        return done

    # -- the thread -------------------------------------------------------------------
    def _rows(self, batch: Iterable[LogRow]) -> list[dict[str, Any]]:
        name, version = self.model_name, self.model_version
        return [
            {
                "ts": r.ts,
                "request_id": r.request_id,
                "model_name": name,
                "model_version": version,
                "features": _dumps(r.features),
                "outputs": _dumps(r.outputs),
                "latency_ms": r.latency_ms,
            }
            for r in batch
        ]

    def _insert(self, batch: list[LogRow]) -> None:
        """Insert ``batch`` in one transaction, retrying with back-off while the database
        is down (rows are never dropped; ``submit`` refuses new ones meanwhile)."""
        try:
            params = self._rows(batch)
        except Exception as exc:
            # Unreachable in practice (_dumps falls back to str()); if it ever happens the
            # thread must survive it, or every later row would wait forever.
            logger.error(
                "prediction log: %d rows cannot be serialised and are lost: %s: %s",
                len(batch),
                type(exc).__name__,
                str(exc)[:300],
            )
            with self._committed_cv:
                self._dropped += len(batch)
                self._pending -= len(batch)
                self._committed_cv.notify_all()
            return
        delay = 0.05
        while True:
            try:
                with self._engine.begin() as conn:
                    conn.execute(self._table.insert(), params)
            except Exception as exc:
                self._last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
                logger.warning("prediction log insert failed, retrying: %s", self._last_error)
                if self._closed:
                    return
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            self._last_error = None
            with self._committed_cv:
                self._committed += len(batch)
                self._pending -= len(batch)
                self._committed_cv.notify_all()
            return

    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            if item is None:
                break
            batch = item
            deadline = time.monotonic() + self.flush_interval
            # Gather more rows until the batch is full or the interval has passed.
            while len(batch) < self.batch_rows:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    more = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.extend(more)
            for start in range(0, len(batch), self.batch_rows):
                self._insert(batch[start : start + self.batch_rows])


# -- reading ---------------------------------------------------------------------------
def unix_seconds(value: float | int | str | datetime | pd.Timestamp | None) -> float | None:
    """``start``/``end`` as unix seconds: a number, a datetime or an ISO date (UTC if naive)."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(
            f"start/end must be unix seconds, a datetime or an ISO date; got {value!r}.",
            fix="pass e.g. '2026-01-31T00:00:00Z' or a float of unix seconds.",
        ) from exc
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.timestamp()


def _expand(texts: pd.Series) -> pd.DataFrame:
    """One column per key of the JSON objects in ``texts`` (nested objects flattened with
    ``_``). pyarrow's multithreaded JSON reader parses big logs; the standard library is
    the fallback when a column's type changes between rows in a way it refuses."""
    if texts.empty:
        return pd.DataFrame(index=range(0))
    raw = "\n".join(texts.tolist()).encode()
    try:
        import pyarrow.json as pj

        table = pj.read_json(
            io.BytesIO(raw), read_options=pj.ReadOptions(block_size=max(len(raw) + 1, 1 << 20))
        )
        flat = table.flatten()
        while any(str(t).startswith("struct") for t in flat.schema.types):
            flat = flat.flatten()
        frame = flat.to_pandas()
        frame.columns = [c.replace(".", "_") for c in frame.columns]
        return frame
    except Exception:
        return pd.json_normalize([json.loads(t) for t in texts], sep="_")


def read_log(
    url: str,
    *,
    start: float | str | datetime | None = None,
    end: float | str | datetime | None = None,
    model_version: str | None = None,
    model_name: str | None = None,
) -> pd.DataFrame:
    """The prediction log as a table, one row per logged prediction, oldest first.

    Parameters
    ----------
    url : str
        The log's database URL (``sqlite:///preds.db``, ``postgresql+psycopg://...``).
    start, end : float, str or datetime, optional
        Keep rows with ``start <= ts < end`` (unix seconds, or a date; naive dates are UTC).
    model_version, model_name : str, optional
        Keep only this model version / name.

    Returns
    -------
    pandas.DataFrame
        Columns ``id, ts`` (unix seconds, float), ``request_id, model_name, model_version,
        latency_ms``, then one column per input feature, then the outputs:
        ``proba_<class>`` and ``decision`` (classification) or ``prediction``
        (regression). A feature that collides with those names keeps a ``feature_``
        prefix.

    Raises
    ------
    PredictionLogError
        The database cannot be reached or has no prediction log.
    """
    from sqlalchemy import select

    engine, table = connect_log(url, create=False)
    query = select(
        table.c.id,
        table.c.ts,
        table.c.request_id,
        table.c.model_name,
        table.c.model_version,
        table.c.latency_ms,
        table.c.features,
        table.c.outputs,
    ).order_by(table.c.id)
    lo, hi = unix_seconds(start), unix_seconds(end)
    if lo is not None:
        query = query.where(table.c.ts >= lo)
    if hi is not None:
        query = query.where(table.c.ts < hi)
    if model_version is not None:
        query = query.where(table.c.model_version == str(model_version))
    if model_name is not None:
        query = query.where(table.c.model_name == str(model_name))
    try:
        with engine.connect() as conn:
            result = conn.execute(query)
            base = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    finally:
        engine.dispose()
    meta_cols = ["id", "ts", "request_id", "model_name", "model_version", "latency_ms"]
    if base.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in meta_cols})
    base["ts"] = base["ts"].astype(float)
    base["latency_ms"] = base["latency_ms"].astype(float)
    features = _expand(base["features"])
    outputs = _expand(base["outputs"])
    taken = set(meta_cols) | set(outputs.columns)
    features.columns = [f"feature_{c}" if c in taken else c for c in features.columns]
    frame = pd.concat(
        [
            base[meta_cols].reset_index(drop=True),
            features.reset_index(drop=True),
            outputs.reset_index(drop=True),
        ],
        axis=1,
    )
    return frame
