"""The server under pressure: Schemathesis against its OpenAPI spec, a bounded load run
whose every acknowledged prediction must be in the log, a SIGKILL mid-run that must keep
every committed row, and ``afterfit serve``'s exit code 2 for bad setups."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from afterfit.cli import app as cli_app
from afterfit.serving.app import create_app
from afterfit.serving.predlog import TABLE_NAME, read_log
from test_server_support import (
    build_cancer_bundle,
    build_mixed_bundle,
    cancer_data,
    free_port,
    running,
)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundles")
    return {
        "cancer": build_cancer_bundle(root / "cancer"),
        "mixed": build_mixed_bundle(root / "mixed"),
        "root": root,
    }


# -- Schemathesis -------------------------------------------------------------------------


def _fuzz(base: str, *, headers: dict[str, str], max_examples: int) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/predict", "/health", "/ready", "/schema"}
    for op in operations:
        modes = [GenerationMode.POSITIVE]
        if op.path == "/predict":
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:

            @given(case=op.as_strategy(generation_mode=mode))
            @settings(
                max_examples=max_examples if op.path == "/predict" else 5,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case) -> None:
                case.call_and_validate(base_url=base, headers=headers, checks=checks)

            run()


def test_schemathesis_finds_no_server_error_or_schema_violation(bundles):
    app = create_app(bundles["mixed"], api_key="k3y")
    with running(app) as base:
        _fuzz(base, headers={"X-API-Key": "k3y"}, max_examples=150)
        with httpx.Client(base_url=base) as client:
            metrics = client.get("/metrics", headers={"X-API-Key": "k3y"}).text
    # the fuzzing did reach the model, and never produced a 500
    assert 'afterfit_requests_total{method="POST",route="/predict",status="200"}' in metrics
    assert 'status="500"' not in metrics


# -- load ---------------------------------------------------------------------------------


async def _load(base: str, bodies: list[bytes], n: int, concurrency: int) -> tuple[dict, int]:
    acknowledged: dict[str, int] = {}
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        it = iter(range(n))

        async def worker() -> None:
            nonlocal errors
            for i in it:
                r = await client.post(
                    "/predict",
                    content=bodies[i % len(bodies)],
                    headers={"content-type": "application/json"},
                )
                if r.status_code == 200:
                    acknowledged[r.json()["request_id"]] = i
                else:
                    errors += 1

        await asyncio.gather(*[worker() for _ in range(concurrency)])
    return acknowledged, errors


@pytest.mark.slow
def test_load_10000_requests_at_concurrency_32_all_logged(bundles, tmp_path):
    import json

    X, _ = cancer_data()
    bodies = [json.dumps(r).encode() for r in X.to_dict("records")]
    url = f"sqlite:///{tmp_path / 'preds.db'}"
    port = free_port()
    # The server in its own process: the client must not share its GIL.
    proc = _serve(bundles["root"] / "cancer", port, url)
    try:
        acknowledged, errors = asyncio.run(_load(f"http://127.0.0.1:{port}", bodies, 10_000, 32))
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        proc.send_signal(signal.SIGTERM)  # a clean stop flushes the log
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert errors == 0
    assert len(acknowledged) == 10_000
    log = read_log(url)
    assert len(log) == 10_000
    assert set(log["request_id"]) == set(acknowledged)
    # every logged row holds the features of the request it answered
    sent = log["request_id"].map(acknowledged) % len(bodies)
    assert (log["mean_radius"].to_numpy() == X["mean_radius"].to_numpy()[sent]).all()
    assert "afterfit_microbatch_rows_count" in metrics


# -- SIGKILL --------------------------------------------------------------------------------


def _serve(bundle: Path, port: int, log: str) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "afterfit.cli",
        "serve",
        str(bundle),
        "--port",
        str(port),
        "--log",
        log,
        "--quiet",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"afterfit serve exited: {proc.stderr.read().decode()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("afterfit serve did not become ready")


def _committed(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute(f"SELECT request_id FROM {TABLE_NAME}")}


@pytest.mark.slow
def test_sigkill_keeps_committed_rows_and_restarts_cleanly(bundles, tmp_path):
    X, _ = cancer_data()
    records = X.head(50).to_dict("records")
    db = tmp_path / "preds.db"
    log = f"sqlite:///{db}"
    bundle = bundles["root"] / "cancer"
    port = free_port()
    proc = _serve(bundle, port, log)
    acknowledged: list[str] = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for i in range(300):
                r = client.post("/predict", json=records[i % 50])
                assert r.status_code == 200
                acknowledged.append(r.json()["request_id"])
            time.sleep(0.5)  # several flush intervals: these rows are committed
            committed_before = _committed(db)
            assert committed_before == set(acknowledged)
            # keep sending, and kill the server in the middle of it
            for i in range(100):
                r = client.post("/predict", json=records[i % 50])
                acknowledged.append(r.json()["request_id"])
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    after_kill = _committed(db)
    assert committed_before <= after_kill  # nothing committed was lost
    assert after_kill <= set(acknowledged)  # nothing unacknowledged appeared
    # the database is consistent and the server starts again on it
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    port = free_port()
    proc = _serve(bundle, port, log)
    try:
        r = httpx.post(f"http://127.0.0.1:{port}/predict", json=records[0], timeout=10)
        assert r.status_code == 200
        new_id = r.json()["request_id"]
        proc.send_signal(signal.SIGTERM)  # a clean stop flushes the log
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # uvicorn stops gracefully, then re-raises the signal it caught
    assert proc.returncode in (0, -signal.SIGTERM)
    final = _committed(db)
    assert new_id in final and after_kill <= final


# -- the CLI's exit code 2 ------------------------------------------------------------------


def test_cli_refuses_bad_setups_with_exit_2(bundles, tmp_path):
    import shutil

    runner = CliRunner()
    good = bundles["root"] / "cancer"

    def serve(*args: str):
        return runner.invoke(cli_app, ["serve", *args], catch_exceptions=False)

    r = serve(str(tmp_path / "nope"))
    assert r.exit_code == 2 and "does not exist" in r.output
    tampered = tmp_path / "tampered"
    shutil.copytree(good, tampered)
    schema_file = tampered / "schema.json"
    schema_file.write_text(schema_file.read_text().replace('"mean_radius"', '"mean_radiux"'))
    r = serve(str(tampered), "--port", str(free_port()))
    assert r.exit_code == 2 and "schema.json" in r.output
    r = serve(str(good), "--port", str(free_port()), "--log", "postgresql://x@127.0.0.1:1/db")
    assert r.exit_code == 2 and "could not reach the prediction log" in r.output
    missing_dir = f"sqlite:///{tmp_path / 'no-dir' / 'p.db'}"
    r = serve(str(good), "--port", str(free_port()), "--log", missing_dir)
    assert r.exit_code == 2 and "could not reach the prediction log" in r.output
    r = serve(str(good), "--api-key-file", str(tmp_path / "no-key"))
    assert r.exit_code == 2 and "API key file" in r.output
    empty = tmp_path / "empty-key"
    empty.write_text("  \n")
    r = serve(str(good), "--api-key-file", str(empty))
    assert r.exit_code == 2 and "empty" in r.output
    r = serve(str(good), "--max-body-mb", "0")
    assert r.exit_code == 2 and "--max-body-mb" in r.output
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        r = serve(str(good), "--port", str(busy.getsockname()[1]))
    assert r.exit_code == 2 and "cannot listen" in r.output
    assert "Traceback" not in r.output
    assert not os.path.exists(tmp_path / "no-dir")
