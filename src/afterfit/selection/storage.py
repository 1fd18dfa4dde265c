"""Where a tuning study lives: a SQLite file by default, or any SQLAlchemy URL.

:func:`storage_url` turns what the user wrote (None, a file path, ``sqlite:///...``,
``postgresql://...``) into a SQLAlchemy URL; :func:`open_storage` checks that the database
can be reached within :data:`CONNECT_TIMEOUT` seconds and returns an Optuna
:class:`~optuna.storages.RDBStorage`. An unreachable or malformed URL, or a missing database
driver, stops with an :class:`~afterfit.errors.InvalidInputError` whose message shows the
URL without its password.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any

from afterfit.errors import InvalidInputError

__all__ = ["CONNECT_TIMEOUT", "DEFAULT_FILE", "open_storage", "redact", "storage_url"]

#: Seconds to wait for a database server before calling it unreachable.
CONNECT_TIMEOUT = 5
#: The SQLite file a study is kept in when no storage is given (in the output folder).
DEFAULT_FILE = "study.db"
#: Attempts at opening a storage whose tables another worker may be creating.
TABLE_RETRIES = 4
#: Seconds a SQLite writer waits for another process's lock (parallel workers).
SQLITE_BUSY_TIMEOUT = 60


def storage_url(storage: str | os.PathLike[str] | None, *, folder: str | Path | None = None) -> str:
    """The SQLAlchemy URL of a study's storage.

    Parameters
    ----------
    storage : str, os.PathLike or None
        None: ``<folder>/study.db``. A path without ``://``: that SQLite file. Anything
        else: a SQLAlchemy URL (``postgresql+psycopg://user@host/db``); a bare
        ``postgresql://`` uses the psycopg 3 driver.
    folder : str or Path, optional
        The output folder of the default SQLite file.
    """
    if storage is None:
        if folder is None:
            raise InvalidInputError(
                "No storage and no output folder to keep the study's SQLite file in.",
                fix="pass storage='sqlite:///study.db' (or a PostgreSQL URL), or an out folder.",
            )
        storage = Path(folder) / DEFAULT_FILE
    text = os.fspath(storage)
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(
            f"The storage {storage!r} is empty.",
            fix="pass a SQLite file path or a SQLAlchemy URL such as postgresql://user@host/db.",
        )
    if "://" not in text:
        return f"sqlite:///{Path(text).expanduser().resolve()}"
    from sqlalchemy.engine import make_url

    try:
        url = make_url(text)
    except Exception as exc:
        raise InvalidInputError(
            f"The storage URL {redact(text)!r} is not a valid SQLAlchemy URL ({exc}).",
            fix="write it as dialect+driver://user:password@host:port/database, such as "
            "postgresql+psycopg://afterfit@db.example.org/studies, or a SQLite file path.",
        ) from exc
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***``."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1] if "@" in url else url


def _engine_kwargs(url: Any) -> dict[str, Any]:
    backend = url.get_backend_name()
    if backend == "sqlite":
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT}}
    if backend in ("postgresql", "mysql", "mariadb"):
        return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT}, "pool_pre_ping": True}
    return {"pool_pre_ping": True}


def check_reachable(url: str) -> dict[str, Any]:
    """Connect once to ``url`` (within :data:`CONNECT_TIMEOUT` s); the engine keywords to use.

    Raises
    ------
    InvalidInputError
        The driver is missing, the server does not answer, or it refuses the connection.
    """
    import sqlalchemy
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    kwargs = _engine_kwargs(parsed)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidInputError(
                f"Cannot create the folder {folder} for the study's SQLite file ({exc}).",
                fix="pass a writable --out folder or another --storage.",
            ) from exc
    try:
        engine = sqlalchemy.create_engine(url, **kwargs)
    except ModuleNotFoundError as exc:
        raise InvalidInputError(
            f"The storage URL {redact(url)!r} needs the database driver '{exc.name}', which "
            "is not installed.",
            fix=f"install it (pip install {exc.name}), or use postgresql+psycopg:// or sqlite.",
        ) from exc
    except Exception as exc:
        raise InvalidInputError(
            f"The storage URL {redact(url)!r} cannot be used: {exc}.",
            fix="check the URL's dialect and driver (postgresql+psycopg://, mysql+pymysql://, "
            "sqlite:///path.db).",
        ) from exc
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    except Exception as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise InvalidInputError(
            f"Cannot reach the study storage {redact(url)!r} within {CONNECT_TIMEOUT} s: "
            f"{reason[0] if reason else type(exc).__name__}.",
            fix="check that the database server is running and reachable from this machine, "
            "and the URL's host, port, user, password and database name; or leave --storage "
            "out to keep the study in a SQLite file.",
        ) from exc
    finally:
        engine.dispose()
    return kwargs


def open_storage(url: str, *, check: bool = True, heartbeat: int | None = None) -> Any:
    """An Optuna ``RDBStorage`` on ``url`` (checked to be reachable first).

    SQLite writers wait up to a minute for each other's locks, so several worker processes
    can share one file; servers get a short connection timeout. With ``heartbeat`` (seconds),
    running trials send heartbeats, and a trial silent for twice that long (its worker
    died) is marked failed by the next trial that starts.
    """
    import optuna
    from sqlalchemy.engine import make_url

    kwargs = check_reachable(url) if check else _engine_kwargs(make_url(url))
    error: Exception | None = None
    for attempt in range(TABLE_RETRIES):
        try:
            with warnings.catch_warnings():
                # heartbeat_interval is experimental; it fails a dead worker's trials
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = optuna.storages.RDBStorage(
                    url, engine_kwargs=kwargs, heartbeat_interval=heartbeat
                )
            break
        except Exception as exc:
            # Workers starting together on a new database race to create Optuna's tables;
            # the losers find them made when they try again.
            error = exc
            time.sleep(0.5 * (attempt + 1))
    else:
        raise InvalidInputError(
            f"Cannot open an Optuna study storage at {redact(url)!r}: {error}.",
            fix="check that the database is writable by this user, and that its Optuna "
            "tables (if any) come from a compatible Optuna version.",
        ) from error
    if make_url(url).get_backend_name() == "sqlite":
        _fast_sqlite(storage.engine)
    return storage


def _fast_sqlite(engine: Any) -> None:
    """Write-ahead logging without an fsync per commit: a trial commits a dozen times, and
    on a busy disk each fsync costs ~10 ms. A killed process loses nothing it committed
    (only a power cut may lose the last commits, never corrupting the file), and the
    readers and the writer of several worker processes do not block each other."""
    from sqlalchemy import event

    def pragmas(conn: Any, _record: Any) -> None:
        cursor = conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(engine, "connect", pragmas)
    engine.dispose()  # connections opened before the listener get it on reconnect
