"""Shared test settings and fixtures: one thread per numeric library, and a real PostgreSQL
server on loopback for the tests that need one.

OpenMP and BLAS thread pools get one thread, set before any test module imports numpy or
scikit-learn and, through the environment, in every process a test starts (the CLI, servers,
Dask workers). The suite runs on two pytest-xdist workers (pyproject.toml), and OpenMP threads
spinning against each other on a busy machine made small fits and predictions several times
slower (a HistGradientBoosting permutation test: 17 s of CPU with two threads, 6 s with one).
A value already set in the environment is kept.

The server is a private cluster (``initdb`` in a temporary folder, ``pg_ctl start`` on a free
loopback port), started once per test session and stopped at its end. Under pytest-xdist each
worker is a session of its own, with its own server, folder and port; a port another process
takes between choosing it and starting the server is retried with a fresh one. PostgreSQL
refuses to run as root, so as root it runs as the ``postgres`` user that Debian's package
creates. Outside CI a machine without PostgreSQL skips these tests; in CI (``CI=true``) that
is a failure, since ``make test`` installs it (``scripts/system-deps.sh``).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

for _threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")

# A pytest-xdist worker started with COLUMNS=80 and LINES=24 in its environment that the pytest
# process starting it did not have. rich reads COLUMNS once, when the CLI console is built, so
# the CLI tests could not widen it (CliRunner(env={"COLUMNS": ...})); a worker drops both, as a
# run in one process has neither.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _size in ("COLUMNS", "LINES"):
        os.environ.pop(_size, None)


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_pg_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL (``postgresql+psycopg://postgres@127.0.0.1:PORT/afterfit``) of a
    fresh PostgreSQL server that lives for the test session."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        message = "PostgreSQL is not installed (apt-get install -y postgresql)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    root = tempfile.mkdtemp(prefix="afterfit-pg-")
    os.chmod(root, 0o755)
    data = os.path.join(root, "data")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    subprocess.run(
        _as_pg_user([initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    for attempt in range(5):
        port = _free_port()
        options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root}"
        started = subprocess.run(
            _as_pg_user([pg_ctl, "-D", data, "-o", options, "-l", f"{root}/log", "-w", "start"]),
            capture_output=True,
        )
        if started.returncode == 0:
            break
        if attempt == 4:  # not a port race: say what PostgreSQL said
            log_file = os.path.join(root, "log")
            log = open(log_file).read() if os.path.exists(log_file) else ""
            shutil.rmtree(root, ignore_errors=True)
            raise RuntimeError(f"pg_ctl start failed: {started.stderr.decode()}\n{log}")
    try:
        psql = _pg_bin("psql") or "psql"
        for _ in range(50):
            done = subprocess.run(
                [
                    psql,
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-U",
                    "postgres",
                    "-c",
                    "CREATE DATABASE afterfit",
                ],
                capture_output=True,
            )
            if done.returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"could not create the test database: {done.stderr.decode()}")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/afterfit"
    finally:
        subprocess.run(
            _as_pg_user([pg_ctl, "-D", data, "-m", "fast", "-w", "stop"]), capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)
