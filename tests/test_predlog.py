"""The prediction log: batched background writes, flush on close, reading back (SQLite and
PostgreSQL), clear errors for unreachable or missing logs."""

from __future__ import annotations

import sqlite3
import threading
import time

import pandas as pd
import pytest

from afterfit.serving.predlog import (
    TABLE_NAME,
    LogRow,
    PredictionLogError,
    PredictionLogWriter,
    connect_log,
    normalize_log_url,
    read_log,
)


def _rows(n: int, start: int = 0, ts: float | None = None) -> list[LogRow]:
    now = time.time() if ts is None else ts
    return [
        LogRow(
            now,
            f"req-{i}",
            {"age": i, "city": "paris" if i % 2 else None, "income": 1.5 * i},
            {"proba_no": 0.25, "proba_yes": 0.75, "decision": "yes"},
            0.5,
        )
        for i in range(start, start + n)
    ]


def _write(url: str, rows: list[LogRow], version: str = "1.0") -> PredictionLogWriter:
    writer = PredictionLogWriter(url, model_name="churn", model_version=version).start()
    for row in rows:
        writer.submit([row])
    assert writer.close()
    return writer


def test_sqlite_round_trip_wal_and_columns(tmp_path):
    url = f"sqlite:///{tmp_path / 'preds.db'}"
    writer = _write(url, _rows(1200))
    assert writer.committed_rows == 1200 and writer.pending_rows == 0
    with sqlite3.connect(tmp_path / "preds.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        count = conn.execute(f"SELECT count(*) FROM {TABLE_NAME}").fetchone()[0]
    assert count == 1200
    frame = read_log(url)
    assert list(frame.columns[:6]) == [
        "id",
        "ts",
        "request_id",
        "model_name",
        "model_version",
        "latency_ms",
    ]
    assert {"age", "city", "income", "proba_no", "proba_yes", "decision"} <= set(frame.columns)
    assert frame["request_id"].tolist() == [f"req-{i}" for i in range(1200)]
    assert frame["age"].tolist() == list(range(1200))
    assert frame["city"].isna().sum() == 600
    assert frame["proba_yes"].eq(0.75).all() and frame["decision"].eq("yes").all()
    assert frame["model_version"].eq("1.0").all()


def test_batches_are_bounded_and_written_off_the_caller_thread(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    writer = PredictionLogWriter(
        url, model_name="m", model_version="1", flush_interval=0.02, batch_rows=100
    ).start()
    threads: set[str] = set()
    real_insert = writer._insert

    def spy(batch):
        assert len(batch) <= 100
        threads.add(threading.current_thread().name)
        real_insert(batch)

    writer._insert = spy  # type: ignore[method-assign]
    writer.submit(_rows(350))
    assert writer.flush(10)
    writer.close()
    assert threads == {"afterfit-predlog"}
    assert len(read_log(url)) == 350


def test_filters_by_time_and_version(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    writer = PredictionLogWriter(url, model_name="m", model_version="1").start()
    writer.submit(_rows(5, 0, ts=1000.0))
    writer.submit(_rows(5, 5, ts=2000.0))
    writer.close()
    _write(url, _rows(3, 10, ts=2000.0), version="2")
    assert len(read_log(url)) == 13
    assert len(read_log(url, start=1500)) == 8
    assert len(read_log(url, end=1500)) == 5
    assert len(read_log(url, model_version="2")) == 3
    assert len(read_log(url, model_name="nope")) == 0
    iso = pd.Timestamp(1500, unit="s", tz="UTC").isoformat()
    assert len(read_log(url, start=iso)) == 8
    with pytest.raises(Exception, match="start/end"):
        read_log(url, start="not a date")


def test_postgresql_round_trip(postgres_url):
    _write(postgres_url, _rows(700), version="pg-test")
    frame = read_log(postgres_url, model_version="pg-test")
    assert len(frame) == 700
    assert frame["request_id"].tolist() == [f"req-{i}" for i in range(700)]
    assert frame["income"].tolist() == pytest.approx([1.5 * i for i in range(700)])
    # a bare postgresql:// URL gets the psycopg 3 driver
    bare = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    assert len(read_log(bare, model_version="pg-test")) == 700


def test_unreachable_and_missing_logs_are_clear_errors(tmp_path):
    with pytest.raises(PredictionLogError, match="could not reach"):
        connect_log(f"sqlite:///{tmp_path / 'no-such-dir' / 'p.db'}")
    with pytest.raises(PredictionLogError, match=r"could not reach.*127\.0\.0\.1"):
        connect_log("postgresql+psycopg://u:secret@127.0.0.1:1/db")
    try:
        connect_log("postgresql+psycopg://u:secret@127.0.0.1:1/db")
    except PredictionLogError as exc:
        assert "secret" not in str(exc)  # the password is never printed
    with pytest.raises(PredictionLogError, match="does not exist"):
        read_log(f"sqlite:///{tmp_path / 'missing.db'}")
    assert not (tmp_path / "missing.db").exists()
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with pytest.raises(PredictionLogError, match="no table"):
        read_log(f"sqlite:///{empty}")


def test_submit_refuses_when_closed_or_too_far_behind(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    writer = PredictionLogWriter(url, model_name="m", model_version="1", max_pending_rows=10)
    with pytest.raises(PredictionLogError, match="not running"):
        writer.submit(_rows(1))
    writer.start()
    with pytest.raises(PredictionLogError, match="behind"):
        writer.submit(_rows(11))
    writer.submit(_rows(10))
    assert writer.close()
    with pytest.raises(PredictionLogError, match="not running"):
        writer.submit(_rows(1))
    assert normalize_log_url("preds.db") == "sqlite:///preds.db"
    assert normalize_log_url("postgres://a@b/c") == "postgresql+psycopg://a@b/c"


def test_empty_log_reads_as_empty_frame(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    connect_log(url)[0].dispose()
    frame = read_log(url)
    assert frame.empty and "request_id" in frame.columns
