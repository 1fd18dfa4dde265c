"""Serving: ``afterfit serve`` versus ``mlflow models serve --env-manager local`` on the same
model, single-row requests at concurrency 1 and 32 (p50/p99 latency, throughput).

Both servers run the same scikit-learn pipeline (StandardScaler + LogisticRegression on
the 30 breast-cancer features): afterfit from its bundle (ONNX, schema validation,
threshold, micro-batching, every prediction logged to SQLite unless ``--no-log``), MLflow
from ``mlflow.sklearn.save_model(..., pyfunc_predict_fn="predict_proba")`` (its
``/invocations`` with ``{"dataframe_records": [record]}``). Each server runs in its own
process with one worker; the load comes from a lean asyncio HTTP/1.1 client with keep-alive
connections in this process (not httpx, whose own cost would dominate). Rounds alternate
between the servers; the ratio is of the medians over rounds. Goal: afterfit >= 2x MLflow's
throughput at concurrency 32, with a lower p99.

    python benchmarks/bench_serve.py                 # 3 rounds, 3,000 requests each
    python benchmarks/bench_serve.py --quick         # 1 round, 600 requests
    python benchmarks/bench_serve.py --no-log        # afterfit without its prediction log
    python benchmarks/bench_serve.py --batch         # also run bench_predict.py (1,000,000 rows)

MLflow's server: with mlflow-skinny (no Flask), ``mlflow models serve`` runs
``uvicorn mlflow.pyfunc.scoring_server.app:app`` (FastAPI) as a shell command, so the
``uvicorn`` script must be on PATH; this script puts the interpreter's bin folder first on
PATH. If the peer cannot start, the script says why and reports afterfit alone.

Batch prediction (``afterfit predict`` on 1,000,000 rows versus an in-process
``predict_proba`` loop) is ``benchmarks/bench_predict.py``; ``--batch`` runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def data():
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X.columns = [c.replace(" ", "_") for c in X.columns]
    return X, y


def train(X, y):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)


# -- a lean HTTP/1.1 load client -----------------------------------------------------------


async def _connection(host, port, path, bodies, counter, latencies, statuses):
    reader, writer = await asyncio.open_connection(host, port)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/json\r\nContent-Length: "
    ).encode()
    try:
        while True:
            i = next(counter, None)
            if i is None:
                return
            body = bodies[i % len(bodies)]
            request = head + str(len(body)).encode() + b"\r\n\r\n" + body
            t0 = time.perf_counter()
            writer.write(request)
            header = await reader.readuntil(b"\r\n\r\n")
            status = int(header[9:12])
            length = None
            chunked = False
            for line in header.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
            if chunked:
                while True:
                    size = int((await reader.readline()).strip(), 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            else:
                await reader.readexactly(length or 0)
            latencies.append(time.perf_counter() - t0)
            statuses.append(status)
    finally:
        writer.close()


async def _load(url: str, bodies: list[bytes], n: int, concurrency: int) -> dict:
    hostport, _, path = url.removeprefix("http://").partition("/")
    host, _, port = hostport.partition(":")
    counter = iter(range(n))
    latencies: list[float] = []
    statuses: list[int] = []
    t0 = time.perf_counter()
    await asyncio.gather(
        *[
            _connection(host, int(port), "/" + path, bodies, counter, latencies, statuses)
            for _ in range(concurrency)
        ]
    )
    elapsed = time.perf_counter() - t0
    lat = np.asarray(latencies) * 1000.0
    return {
        "rps": n / elapsed,
        "p50": float(np.percentile(lat, 50)),
        "p99": float(np.percentile(lat, 99)),
        "errors": sum(s != 200 for s in statuses),
    }


def load(url: str, bodies: list[bytes], n: int, concurrency: int) -> dict:
    # The client's own garbage collections would show up as server latency: freeze what
    # is loaded, so a collection during a run has little to walk (same for both servers).
    gc.collect()
    gc.freeze()
    return asyncio.run(_load(url, bodies, n, concurrency))


# -- the servers ---------------------------------------------------------------------------


def _wait(proc: subprocess.Popen, url: str, timeout: float = 120) -> str | None:
    """None when ``url`` answers 200; else why not (the process's stderr tail)."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return (proc.stderr.read() or b"").decode(errors="replace")[-3000:]
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return None
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    return f"no answer from {url} within {timeout:.0f} s"


def start_afterfit(bundle: Path, log: str | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "afterfit.cli", "serve", str(bundle), "--port", str(port)]
    cmd += ["--quiet"] + (["--log", log] if log else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    why = _wait(proc, f"http://127.0.0.1:{port}/ready")
    if why is not None:
        raise SystemExit(f"afterfit serve did not start:\n{why}")
    return proc, f"http://127.0.0.1:{port}/predict"


def mlflow_missing() -> list[str]:
    """What ``mlflow models serve --env-manager local`` needs and this environment lacks."""
    missing = []
    for module in ("mlflow", "fastapi", "uvicorn"):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"the Python package {module!r}")
    try:
        import mlflow.pyfunc.scoring_server  # noqa: F401
    except Exception as exc:  # a skinny build may lack parts of the scoring server
        missing.append(f"mlflow.pyfunc.scoring_server ({type(exc).__name__}: {exc})")
    bin_dir = Path(sys.executable).parent
    if shutil.which("uvicorn", path=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}") is None:
        missing.append("the 'uvicorn' command on PATH")
    if shutil.which("mlflow", path=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}") is None:
        missing.append("the 'mlflow' command on PATH")
    return missing


def start_mlflow(model_dir: Path) -> tuple[subprocess.Popen | None, str | None, str | None]:
    missing = mlflow_missing()
    if missing:
        return None, None, "missing: " + "; ".join(missing)
    port = free_port()
    env = dict(os.environ)
    # mlflow starts `uvicorn ...` through a shell: the venv's bin must be on PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("MLFLOW_TRACKING_URI", f"file://{model_dir.parent / 'mlruns'}")
    mlflow_bin = shutil.which("mlflow", path=env["PATH"])
    cmd = [mlflow_bin, "models", "serve", "-m", str(model_dir), "--env-manager", "local"]
    cmd += ["-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    why = _wait(proc, f"http://127.0.0.1:{port}/ping")
    if why is not None:
        return None, None, f"mlflow models serve did not start:\n{why}"
    return proc, f"http://127.0.0.1:{port}/invocations", None


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def check_same_model(af_url: str, ml_url: str, records: list[dict]) -> float:
    """Max |difference| of the positive-class probability between the two servers."""
    import urllib.request

    def post(url, doc):
        req = urllib.request.Request(
            url, json.dumps(doc).encode(), {"content-type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    af = post(af_url, {"records": records})["predictions"]
    ml = post(ml_url, {"dataframe_records": records})["predictions"]
    p_af = np.array([p["probabilities"]["1"] for p in af])
    p_ml = np.array([row[1] if isinstance(row, list) else row["1"] for row in ml])
    return float(np.max(np.abs(p_af - p_ml)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="per run at concurrency 32")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 round of 600 requests")
    parser.add_argument("--no-log", action="store_true", help="afterfit without its log")
    parser.add_argument("--no-mlflow", action="store_true", help="afterfit alone")
    parser.add_argument("--batch", action="store_true", help="also run bench_predict.py")
    parser.add_argument("--batch-rows", type=int, default=1_000_000)
    args = parser.parse_args()
    if args.quick:
        args.requests, args.rounds = 600, 1
    n32, n1 = args.requests, max(args.requests // 6, 100)

    X, y = data()
    model = train(X, y)
    records = X.to_dict("records")
    work = Path(tempfile.mkdtemp(prefix="afterfit-bench-serve-"))
    procs: list[subprocess.Popen | None] = []
    try:
        from afterfit.bundle.core import build_bundle

        build_bundle(model, X, y, out=work / "bundle", name="cancer", version="1.0")
        log = None if args.no_log else f"sqlite:///{work / 'preds.db'}"
        af_proc, af_url = start_afterfit(work / "bundle", log)
        procs.append(af_proc)
        servers = {"afterfit": (af_url, [json.dumps(r).encode() for r in records])}
        note = None
        if not args.no_mlflow:
            import mlflow.sklearn

            mlflow.sklearn.save_model(
                model, str(work / "mlflow-model"), pyfunc_predict_fn="predict_proba"
            )
            ml_proc, ml_url, note = start_mlflow(work / "mlflow-model")
            procs.append(ml_proc)
            if ml_url is not None:
                bodies = [json.dumps({"dataframe_records": [r]}).encode() for r in records]
                servers["mlflow"] = (ml_url, bodies)
                diff = check_same_model(af_url, ml_url, records[:50])
                print(f"same model: max |p_afterfit - p_mlflow| = {diff:.2e} over 50 rows")
        if note:
            print(f"MLflow peer not run. {note}")
        print(
            f"afterfit serve: 1 worker, prediction log {'off' if args.no_log else 'SQLite'}; "
            f"mlflow models serve --env-manager local: 1 worker. Load avg "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs."
        )
        for url, bodies in servers.values():  # warm up both
            load(url, bodies, 200, 8)
        results: dict[tuple[str, int], list[dict]] = {}
        for _ in range(args.rounds):
            for name, (url, bodies) in servers.items():
                for conc, n in ((1, n1), (32, n32)):
                    results.setdefault((name, conc), []).append(load(url, bodies, n, conc))
        print(f"{'server':<10}{'conc':>5}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
        summary: dict[tuple[str, int], dict] = {}
        for (name, conc), runs in results.items():
            med = {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p99")}
            med["errors"] = sum(r["errors"] for r in runs)
            summary[(name, conc)] = med
            print(
                f"{name:<10}{conc:>5}{med['rps']:>10.0f}{med['p50']:>9.2f}{med['p99']:>9.2f}"
                f"{med['errors']:>8}"
            )
        if "mlflow" in servers:
            for conc in (1, 32):
                a, m = summary[("afterfit", conc)], summary[("mlflow", conc)]
                print(
                    f"concurrency {conc}: throughput afterfit/mlflow = {a['rps'] / m['rps']:.2f}x, "
                    f"p99 afterfit/mlflow = {a['p99'] / m['p99']:.2f}"
                )
            a, m = summary[("afterfit", 32)], summary[("mlflow", 32)]
            ok = a["rps"] >= 2 * m["rps"] and a["p99"] < m["p99"]
            verdict = "PASS" if ok else "MISS"
            print(f"goal (>= 2x throughput and lower p99 at concurrency 32): {verdict}")
    finally:
        for proc in procs:
            stop(proc)
        shutil.rmtree(work, ignore_errors=True)
    if args.batch:
        script = Path(__file__).with_name("bench_predict.py")
        print(f"\n$ {script.name} --rows {args.batch_rows}")
        subprocess.run([sys.executable, str(script), "--rows", str(args.batch_rows)], check=False)


if __name__ == "__main__":
    main()
