"""The server under hostile traffic: ``afterfit serve`` (its own process, loopback only)
while slow clients, a normal load and hostile bodies hit it at once.

- 300 slow clients ("slowloris"): half send their headers a line a second and never
  finish, half send complete headers and then their body a byte a second; each reconnects
  as soon as the server closes it, until the run ends;
- 5,000 single-record ``POST /predict`` requests at concurrency 32 (keep-alive);
- hostile bodies, each several times: an Arrow stream of ~44 KB that decodes to 1.1 GiB,
  an Arrow null column of 10^9 rows, an Arrow stream with bytes after its end, 32 MiB of
  empty JSON objects, a deeply nested JSON list, UTF-16 and UTF-32 JSON, a JSON body
  declared ``charset=utf-16``, a record of 1e39 in every field (NaN in the float32 model),
  a declared body over the limit, and requests with made-up methods and paths;
- a ``/health`` probe every 20 ms on its own connection, timed.

It prints requests answered, the 5xx count, the server's RSS growth (peak during the run
minus the value after warm-up, from /proc), ``/health`` p50/p99/max during the attack, the
log rows against the 200 answers (after a clean stop), what the metrics' label sets look
like, and one PASS/FAIL line per goal:

    5xx answers == 0;  RSS growth < 300 MB;  /health p99 < 100 ms;  log rows == 200 answers

    python benchmarks/bench_hostile.py               # the full run (~1 min on 2 CPUs)
    python benchmarks/bench_hostile.py --quick       # 30 slow clients, 500 requests

The load comes from a small asyncio HTTP/1.1 client in this process (raw sockets: the
hostile requests are not valid for a regular client). Everything stays on 127.0.0.1 and
every loop is bounded; the server is stopped (SIGTERM, which flushes its log) at the end.
Exit code 1 when a goal fails.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HOST = "127.0.0.1"
GOAL_RSS_MB = 300.0
GOAL_HEALTH_P99_MS = 100.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def build_bundle(root: Path) -> tuple[Path, list[dict[str, float]]]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from afterfit.bundle.core import build_bundle as build

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X.columns = [c.replace(" ", "_") for c in X.columns]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    out = root / "cancer"
    build(model, X, y, out=out, name="cancer", version="1.0", threshold=0.4)
    return out, X.to_dict("records")


# -- a raw asyncio HTTP/1.1 client ---------------------------------------------------------


class Conn:
    """One keep-alive connection; reconnects when the server closed it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        timeout: float = 60.0,
    ) -> tuple[int, bytes]:
        """(status, body); status 0 when the connection failed."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        assert self.reader is not None
        headers = {"Content-Length": str(len(body)), **(headers or {})}
        head = [f"{method} {path} HTTP/1.1", f"Host: {HOST}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        try:
            await self.writer.drain()
            raw = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            await self.close()
            return 0, b""
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        length = int(fields.get("content-length", "0"))
        try:
            data = await asyncio.wait_for(self.reader.readexactly(length), timeout)
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            await self.close()
            return status, b""
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, data


async def one_shot(port: int, method: str, path: str, body: bytes, headers: dict[str, str]):
    conn = Conn(port)
    try:
        return await conn.request(method, path, body, headers)
    finally:
        await conn.close()


# -- the hostile bodies --------------------------------------------------------------------


def _stream(table: Any, **options: Any) -> bytes:
    import pyarrow as pa

    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(**options)) as w:
        w.write_table(table)
    return sink.getvalue()


def hostile_requests(records: list[dict[str, float]]) -> list[tuple[str, str, str, bytes, dict]]:
    """(name, method, path, body, headers): each must be answered 4xx."""
    import pyarrow as pa

    json_h = {"Content-Type": "application/json"}
    arrow_h = {"Content-Type": "application/vnd.apache.arrow.stream"}
    # 1.1 GiB of float64 zeros (np.zeros maps the zero page: no memory of ours is used)
    zeros = np.zeros(int(1.1 * 2**30) // 8)
    bomb = _stream(pa.table({"mean_radius": zeros}), compression="zstd")
    del zeros
    ok_stream = _stream(pa.Table.from_pylist(records[:3]))
    one = json.dumps(records[:3])
    limit = 32 * 1024 * 1024
    empty_objects = b"[" + b"{}," * ((limit - 5) // 3) + b"{}]"
    assert len(empty_objects) <= limit
    return [
        ("arrow: 1.1 GiB zstd bomb", "POST", "/predict", bomb, arrow_h),
        (
            "arrow: 10^9-row null column",
            "POST",
            "/predict",
            _stream(pa.table({"n": pa.nulls(10**9)})),
            arrow_h,
        ),
        ("arrow: bytes after the stream", "POST", "/predict", ok_stream + ok_stream, arrow_h),
        ("json: 32 MiB of empty objects", "POST", "/predict", empty_objects, json_h),
        ("json: nested lists, 1 MB", "POST", "/predict", b"[" * 500_000 + b"]" * 500_000, json_h),
        ("json: UTF-16", "POST", "/predict", one.encode("utf-16"), json_h),
        ("json: UTF-32", "POST", "/predict", one.encode("utf-32"), json_h),
        (
            "json: charset=utf-16",
            "POST",
            "/predict",
            one.encode(),
            {"Content-Type": "application/json; charset=utf-16"},
        ),
        (
            "json: 1e39 in every field",
            "POST",
            "/predict",
            json.dumps({k: 1e39 for k in records[0]}).encode(),
            json_h,
        ),
        (
            "declared body over the limit",
            "POST",
            "/predict",
            b"",
            {**json_h, "Content-Length": str(limit + 1)},
        ),
    ]


# -- the attack ----------------------------------------------------------------------------


async def slow_client(i: int, port: int, stop: asyncio.Event, stats: dict[str, int]) -> None:
    """Reconnects whenever the server closes it, until ``stop``."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            stats["slow_connect_failed"] += 1
            await asyncio.sleep(0.5)
            continue
        stats["slow_connections"] += 1
        if i % 2 == 0:  # headers that never end
            writer.write(b"POST /predict HTTP/1.1\r\nHost: x\r\n")
            trickle = b"X-Slow: 1\r\n"
        else:  # complete headers, then the body a byte at a time
            writer.write(
                b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100000\r\n\r\n["
            )
            trickle = b" "
        try:
            while not stop.is_set():
                try:
                    data = await asyncio.wait_for(reader.read(65536), 1.0)
                except TimeoutError:
                    writer.write(trickle)
                    await writer.drain()
                    continue
                if data.startswith(b"HTTP/1.1 "):
                    code = int(data.split()[1])
                    stats[f"slow_answered_{code}"] += 1
                    stats["answered"] += 1
                    if code >= 500:
                        stats["5xx"] += 1
                stats["slow_closed_by_server"] += 1
                break
        except OSError:
            stats["slow_closed_by_server"] += 1
        finally:
            writer.close()


def health_probe(port: int, stop: Any, out: Any) -> None:
    """GET /health every 20 ms on one keep-alive connection, in a process of its own (so
    that the attacking client's own event loop does not add to the times); sends
    ``(latencies_s, failed, answered, n_5xx)`` to ``out`` once ``stop`` is set."""
    latencies: list[float] = []
    failed = answered = n5xx = 0
    sock: socket.socket | None = None
    request = f"GET /health HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            if sock is None:
                sock = socket.create_connection((HOST, port), timeout=10)
            sock.sendall(request)
            data = b""
            while b"\r\n\r\n" not in data or not data.endswith(b"}"):
                chunk = sock.recv(4096)
                if not chunk:
                    raise ConnectionError("closed")
                data += chunk
            status = int(data.split()[1])
        except OSError:
            status = 0
            if sock is not None:
                sock.close()
            sock = None
        latencies.append(time.perf_counter() - t0)
        answered += status != 0
        failed += status != 200
        n5xx += status >= 500
        time.sleep(0.02)
    if sock is not None:
        sock.close()
    out.send((latencies, failed, answered, n5xx))


async def load(port: int, bodies: list[bytes], n: int, concurrency: int, stats) -> None:
    it = iter(range(n))

    async def worker() -> None:
        conn = Conn(port)
        for i in it:
            status, data = await conn.request(
                "POST", "/predict", bodies[i % len(bodies)], {"Content-Type": "application/json"}
            )
            stats["answered"] += status != 0
            stats["load_failed"] += status != 200
            stats["5xx"] += status >= 500
            if status == 200:
                stats["ok_200"] += 1
                stats["ok_rows"] += json.loads(data)["n_rows"]
        await conn.close()

    await asyncio.gather(*[worker() for _ in range(concurrency)])


async def hostile(port: int, requests: list, repeats: int, stats, seen: dict) -> None:
    rng = np.random.default_rng(0)
    for _ in range(repeats):
        for name, method, path, body, headers in requests:
            status, _ = await one_shot(port, method, path, body, headers)
            seen.setdefault(name, []).append(status)
            stats["answered"] += status != 0
            stats["5xx"] += status >= 500
            stats["ok_200"] += status == 200
            await asyncio.sleep(0.05)
        for _ in range(50):  # made-up methods and paths: 405/404, bounded metrics
            method = "".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), 8))
            path = f"/scan/{rng.integers(1 << 30)}"
            for m, p in ((method, "/predict"), ("GET", path), (method, path)):
                status, _ = await one_shot(port, m, p, b"", {})
                seen.setdefault("made-up methods and paths", []).append(status)
                stats["answered"] += status != 0
                stats["5xx"] += status >= 500


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


async def sample_rss(pid: int, stop: asyncio.Event, peak: list[float]) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], rss_mb(pid))
        await asyncio.sleep(0.1)


async def attack(port: int, pid: int, args: argparse.Namespace, records, requests) -> dict:
    import multiprocessing
    from collections import Counter

    stats: Counter[str] = Counter()
    seen: dict[str, list[int]] = {}
    stop = asyncio.Event()
    bodies = [json.dumps(r).encode() for r in records]
    # warm-up: the first requests load what the model path needs (their rows are logged
    # too, so they count among the 200 answers)
    await load(port, bodies, 200, 8, stats)
    baseline = rss_mb(pid)
    peak = [baseline]
    spawn = multiprocessing.get_context("spawn")
    probe_stop = spawn.Event()
    receive, send = spawn.Pipe(duplex=False)
    probe = spawn.Process(target=health_probe, args=(port, probe_stop, send), daemon=True)
    probe.start()
    background = [
        asyncio.create_task(sample_rss(pid, stop, peak)),
        *[asyncio.create_task(slow_client(i, port, stop, stats)) for i in range(args.slow)],
    ]
    t0 = time.monotonic()
    await asyncio.sleep(1.0)  # the slow clients are connected
    await asyncio.gather(
        load(port, bodies, args.requests, args.concurrency, stats),
        hostile(port, requests, args.repeats, stats, seen),
    )
    # keep the slow clients on long enough for the deadlines to fire a few times
    remaining = args.min_seconds - (time.monotonic() - t0)
    if remaining > 0:
        await asyncio.sleep(remaining)
    stop.set()
    probe_stop.set()
    latencies, failed, answered, n5xx = await asyncio.to_thread(receive.recv)
    probe.join(timeout=10)
    stats["health_failed"] += failed
    stats["answered"] += answered
    stats["5xx"] += n5xx
    await asyncio.wait(background, timeout=15)
    elapsed = time.monotonic() - t0
    conn = Conn(port)
    _, text = await conn.request("GET", "/metrics")
    await conn.close()
    return {
        "stats": stats,
        "latencies": latencies,
        "seen": seen,
        "baseline_mb": baseline,
        "peak_mb": peak[0],
        "elapsed_s": elapsed,
        "metrics": text.decode(),
    }


def run(args: argparse.Namespace) -> dict:
    """Start the server, attack it, stop it; the figures (see the module docstring)."""
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="afterfit-hostile-") as tmp:
        root = Path(tmp)
        bundle, records = build_bundle(root)
        requests = hostile_requests(records)
        db = root / "preds.db"
        port = free_port()
        cmd = [
            sys.executable, "-m", "afterfit.cli", "serve", str(bundle), "--host", HOST,
            "--port", str(port), "--log", f"sqlite:///{db}", "--quiet",
            "--header-timeout-s", str(args.header_timeout), "--body-timeout-s",
            str(args.body_timeout),
        ]  # fmt: skip
        with open(root / "server.err", "wb") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
            try:
                _wait_ready(proc, port, root / "server.err")
                result = asyncio.run(attack(port, proc.pid, args, records, requests))
                proc.send_signal(signal.SIGTERM)  # a clean stop commits every queued row
                result["exit_code"] = proc.wait(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        with sqlite3.connect(db) as conn:
            result["log_rows"] = conn.execute(
                "SELECT COUNT(*) FROM afterfit_predictions"
            ).fetchone()[0]
        result["server_stderr"] = (root / "server.err").read_text(errors="replace")[-2000:]
        result["bomb_bytes"] = len(requests[0][3])
    result["load_average"] = (load_before, os.getloadavg()[0])
    return result


def _wait_ready(proc: subprocess.Popen, port: int, err: Path, timeout: float = 120) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"afterfit serve exited:\n{err.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/ready", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("afterfit serve did not become ready")


def goals(result: dict) -> list[tuple[str, bool, str]]:
    stats = result["stats"]
    lat = np.asarray(result["latencies"]) * 1000.0
    p99 = float(np.percentile(lat, 99)) if lat.size else float("inf")
    growth = result["peak_mb"] - result["baseline_mb"]
    return [
        ("5xx answers == 0", stats["5xx"] == 0, f"{stats['5xx']}"),
        (f"server RSS growth < {GOAL_RSS_MB:.0f} MB", growth < GOAL_RSS_MB, f"{growth:.1f} MB"),
        (f"/health p99 < {GOAL_HEALTH_P99_MS:.0f} ms", p99 < GOAL_HEALTH_P99_MS, f"{p99:.1f} ms"),
        (
            "log rows == rows answered 200",
            result["log_rows"] == stats["ok_rows"] and stats["load_failed"] == 0,
            f"{result['log_rows']} vs {stats['ok_rows']} ({stats['ok_200']} answers)",
        ),
    ]


def report(result: dict, args: argparse.Namespace) -> bool:
    from prometheus_client.parser import text_string_to_metric_families

    stats = result["stats"]
    lat = np.asarray(result["latencies"]) * 1000.0
    print(
        f"afterfit serve under attack for {result['elapsed_s']:.1f} s: {args.slow} slow clients, "
        f"{args.requests} requests at concurrency {args.concurrency}, hostile bodies x"
        f"{args.repeats} (Arrow bomb: {result['bomb_bytes']:,} bytes -> 1.1 GiB)"
    )
    print(
        f"  machine: {os.cpu_count()} CPUs, load average {result['load_average'][0]:.1f} before, "
        f"{result['load_average'][1]:.1f} after (the client runs on the same CPUs)"
    )
    print(f"  requests answered           {stats['answered']:>10,}")
    print(f"  load requests not 200       {stats['load_failed']:>10,}")
    print(f"  5xx answers                 {stats['5xx']:>10,}")
    print(
        f"  server RSS                  {result['baseline_mb']:>10.1f} MB after warm-up, peak "
        f"{result['peak_mb']:.1f} MB (growth {result['peak_mb'] - result['baseline_mb']:.1f} MB)"
    )
    print(
        f"  /health during the attack   {lat.size:>10,} probes: p50 {np.percentile(lat, 50):.1f} "
        f"ms, p99 {np.percentile(lat, 99):.1f} ms, max {lat.max():.1f} ms, failed "
        f"{stats['health_failed']}"
    )
    print(f"  log rows / rows answered 200 {result['log_rows']:>9,} / {stats['ok_rows']:,}")
    print(
        f"  slow connections opened     {stats['slow_connections']:>10,}; closed by the server "
        f"{stats['slow_closed_by_server']:,} (answers: "
        + ", ".join(
            f"{k[14:]}: {v}" for k, v in sorted(stats.items()) if k.startswith("slow_answered_")
        )
        + ")"
    )
    print("  hostile requests (status codes seen):")
    for name, codes in result["seen"].items():
        counts = {c: codes.count(c) for c in sorted(set(codes))}
        print(f"    {name:<34} {counts}")
    families = {f.name: f for f in text_string_to_metric_families(result["metrics"])}
    requests = families["afterfit_requests"].samples
    methods = sorted({s.labels["method"] for s in requests})
    routes = sorted({s.labels["route"] for s in requests})
    closed = {
        s.labels["reason"]: int(s.value)
        for s in families["afterfit_connections_closed"].samples
        if s.name.endswith("_total")
    }
    print(f"  metrics: {len(requests)} request series; methods {methods}; routes {routes}")
    print(f"  connections closed by the server: {closed}")
    print(f"  server exit code after SIGTERM: {result['exit_code']}")
    ok = True
    for name, passed, value in goals(result):
        print(f"{'PASS' if passed else 'FAIL'}  {name}: {value}")
        ok = ok and passed
    if not ok:
        print(result["server_stderr"])
    return ok


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="30 slow clients, 500 requests")
    parser.add_argument("--slow", type=int, default=300, help="slow clients")
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="rounds of hostile bodies")
    parser.add_argument("--min-seconds", type=float, default=25.0, help="shortest attack")
    parser.add_argument("--header-timeout", type=float, default=5.0, help="server option")
    parser.add_argument("--body-timeout", type=float, default=10.0, help="server option")
    args = parser.parse_args(argv)
    if args.quick:
        args.slow, args.requests, args.repeats, args.min_seconds = 30, 500, 1, 8.0
        args.header_timeout, args.body_timeout = 2.0, 4.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return 0 if report(run(args), args) else 1


if __name__ == "__main__":
    sys.exit(main())
