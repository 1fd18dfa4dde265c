"""Streaming ``evaluate`` and ``monitor`` on a partitioned Parquet dataset past memory.

Run from the repository root::

    .venv/bin/python benchmarks/bench_streaming.py                        # 100,000,000 x 20
    .venv/bin/python benchmarks/bench_streaming.py --rows 10000000        # a tenth
    .venv/bin/python benchmarks/bench_streaming.py --rows 2000000 --quick # a smoke run

Data (generated once, in chunks of 1,000,000 rows, never held whole; reused when the
folder already holds a dataset of the same shape): ``--rows`` rows in Parquet files of
``--part-rows`` rows each: ``ts`` over seven days, ``--features`` float32 features (normal;
from day four the first five shift by 0.3 standard deviations), the label ``y`` (int8) and
the model's ``proba_yes`` / ``proba_no`` (float32, as a server logs them). The monitor's
reference comes from 50,000 rows drawn like the first days.

Timed, each in a fresh process (so that its peak RSS is its own):

- **evaluate, local**: ``evaluate_dataset(folder, target="y", score=["proba_yes"])``, the
  API behind ``afterfit evaluate --predictions FOLDER``: exact counts and sums, the score
  histogram (its AUC error bound printed), Wilson/DeLong and the m-out-of-n bootstrap on
  the sample drawn in the pass;
- **evaluate, dask**: the same on a 2-worker ``LocalCluster`` (processes, one thread each);
- **monitor, local / dask**: ``monitor(reference, folder, window="1d")``, the drift pass
  behind ``afterfit monitor`` (no CBPE or report: those read the probabilities only).

Prints rows/s and peak RSS (the process; with Dask also the largest worker's), and checks
that the Dask numbers equal the local ones. The generated data is deleted at the end
unless ``--keep``. Check the disk first: 100,000,000 x 20 is about 9 GB of Parquet.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DAY = 86_400.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
CHUNK = 1_000_000


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _chunk(rng: np.random.Generator, start: int, n: int, rows: int, features: int) -> dict:
    ts = T0 + 7 * DAY * (np.arange(start, start + n) / rows)
    X = rng.standard_normal((n, features), dtype=np.float32)
    late = ts >= T0 + 3 * DAY
    X[late, : min(5, features)] += np.float32(0.3)
    z = X[:, 0] + 0.5 * X[:, 1 % features] + rng.standard_normal(n, dtype=np.float32) * 0.5
    proba = (1 / (1 + np.exp(-z))).astype(np.float32)
    y = (rng.random(n, dtype=np.float32) < proba).astype(np.int8)
    cols = {"ts": ts}
    cols.update({f"x{j}": X[:, j] for j in range(features)})
    cols.update({"y": y, "proba_yes": proba, "proba_no": (1 - proba).astype(np.float32)})
    return cols


def generate(folder: Path, rows: int, features: int, part_rows: int) -> None:
    """Write the dataset in chunks; skipped when a dataset of this shape is there."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    manifest = folder / "_shape.json"
    shape = {"rows": rows, "features": features, "part_rows": part_rows}
    if manifest.exists() and json.loads(manifest.read_text()) == shape:
        print(f"data: reusing {folder}")
        return
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "log").mkdir(parents=True)
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    done = 0
    part = 0
    while done < rows:
        n_part = min(part_rows, rows - done)
        writer = None
        for a in range(0, n_part, CHUNK):
            cols = _chunk(rng, done + a, min(CHUNK, n_part - a), rows, features)
            table = pa.table(cols)
            if writer is None:
                writer = pq.ParquetWriter(folder / "log" / f"part-{part:04d}.parquet", table.schema)
            writer.write_table(table)
        assert writer is not None
        writer.close()
        done += n_part
        part += 1
        print(f"data: {done:,} / {rows:,} rows ({time.perf_counter() - t:.0f} s)", flush=True)
    # The reference: rows drawn as on the first days (before the shift).
    ref = _chunk(np.random.default_rng(1), 0, 50_000, 10**12, features)
    import pandas as pd

    from afterfit.bundle.reference import ReferenceStats

    frame = pd.DataFrame({f"x{j}": ref[f"x{j}"] for j in range(features)})
    stats = ReferenceStats.from_frame(frame, scores=ref["proba_yes"], classes=["no", "yes"])
    (folder / "reference.json").write_text(json.dumps(stats.to_dict()))
    manifest.write_text(json.dumps(shape))


def _run_one(step: str, backend: str, folder: Path, n_resamples: int) -> dict:
    """One timed step in this (fresh) process; returns its figures."""
    cluster = None
    scheduler = None
    if backend == "dask":
        import distributed

        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
            memory_limit=0,
        )  # fmt: skip
        scheduler = cluster.scheduler_address
        client = distributed.Client(scheduler)
        client.run(lambda: __import__("afterfit.evaluation.streaming"))  # imports untimed
    t = time.perf_counter()
    out: dict = {"step": step, "backend": backend}
    if step == "evaluate":
        from afterfit.evaluation.streaming import evaluate_dataset

        ev = evaluate_dataset(
            folder / "log", target="y", score=["proba_yes"], random_state=0,
            n_resamples=n_resamples, backend=backend, scheduler=scheduler,
        )  # fmt: skip
        out["rows"] = ev.predictions.n
        out["numbers"] = [[r.metric, r.value, r.ci_low, r.ci_high] for r in ev.metrics.rows]
        out["auc_method"] = ev.metrics["roc_auc"].method
    else:
        from afterfit.bundle.reference import ReferenceStats
        from afterfit.monitoring.core import monitor

        ref = ReferenceStats.from_dict(json.loads((folder / "reference.json").read_text()))
        result = monitor(
            ref, folder / "log", window="1d", task="binary", classes=["no", "yes"],
            backend=backend, scheduler=scheduler,
        )  # fmt: skip
        out["rows"] = result.n_rows
        out["numbers"] = [[c.name, c.psi, c.ks] for c in (*result.features, *result.predictions)]
        out["drifted"] = list(result.drifted)
    out["seconds"] = time.perf_counter() - t
    out["peak_mb"] = _peak_mb()
    if cluster is not None:
        peaks = client.run(lambda: __import__("resource").getrusage(0).ru_maxrss / 1024)
        out["worker_peak_mb"] = max(peaks.values())
        client.close()
        cluster.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--part-rows", type=int, default=5_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/afterfit-bench-streaming"))
    parser.add_argument("--n-resamples", type=int, default=1000)
    parser.add_argument("--skip-dask", action="store_true", help="Only the local runs.")
    parser.add_argument("--skip-monitor", action="store_true")
    parser.add_argument("--keep", action="store_true", help="Keep the generated data.")
    parser.add_argument("--quick", action="store_true", help="100 resamples (a smoke run).")
    parser.add_argument("--one", nargs=2, metavar=("STEP", "BACKEND"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_run_one(args.one[0], args.one[1], args.dir, args.n_resamples)))
        return
    free = shutil.disk_usage(args.dir.parent if not args.dir.exists() else args.dir).free
    need = args.rows * (args.features * 4 + 8 + 1 + 8) * 1.05
    if free < need * 1.2:
        sys.exit(
            f"Not enough disk at {args.dir}: about {need / 1e9:.1f} GB needed, "
            f"{free / 1e9:.1f} GB free. Pass --rows smaller or --dir elsewhere."
        )
    generate(args.dir, args.rows, args.features, args.part_rows)
    n_resamples = 100 if args.quick else args.n_resamples
    results = []
    steps = ["evaluate"] + ([] if args.skip_monitor else ["monitor"])
    backends = ["local"] + ([] if args.skip_dask else ["dask"])
    try:
        for step in steps:
            for backend in backends:
                cmd = [sys.executable, __file__, "--one", step, backend, "--dir", str(args.dir),
                       "--n-resamples", str(n_resamples)]  # fmt: skip
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if proc.returncode != 0:
                    print(proc.stderr[-3000:])
                    sys.exit(f"{step} on {backend} failed")
                res = json.loads(proc.stdout.strip().splitlines()[-1])
                results.append(res)
                worker = res.get("worker_peak_mb")
                print(
                    f"{step:9s} {backend:6s} {res['rows']:>13,} rows  {res['seconds']:7.1f} s  "
                    f"{res['rows'] / res['seconds']:>11,.0f} rows/s  peak RSS "
                    f"{res['peak_mb']:,.0f} MB"
                    + ("" if worker is None else f" (largest worker {worker:,.0f} MB)"),
                    flush=True,
                )
                if step == "evaluate":
                    print(f"          ROC AUC: {res['auc_method']}")
        for step in steps:
            pair = [r for r in results if r["step"] == step]
            if len(pair) == 2:
                same = pair[0]["numbers"] == pair[1]["numbers"]
                print(f"{step}: dask numbers equal the local ones: {same}")
    finally:
        if not args.keep:
            shutil.rmtree(args.dir, ignore_errors=True)
            print(f"deleted {args.dir}")


if __name__ == "__main__":
    main()
