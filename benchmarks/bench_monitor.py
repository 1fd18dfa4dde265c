"""``afterfit monitor`` on a big prediction log against a naive pandas + scipy drift check.

Run from the repository root::

    .venv/bin/python benchmarks/bench_monitor.py                              # 1,000,000 x 100
    .venv/bin/python benchmarks/bench_monitor.py --rows 10000000 --features 100
    .venv/bin/python benchmarks/bench_monitor.py --quick                      # 200,000 x 20

Data (generated first, not timed): a reference of 50,000 rows, ``--features`` columns of
which 95% numeric (normal, a few with missing values) and 5% categorical (text, five
categories), a logistic-regression model trained on it and bundled with ``afterfit
bundle``'s Python API (the bundle's reference.json comes from those rows). The log is a
Parquet file of ``--rows`` rows written in row groups of 500,000: the features (numbers
as float32 by default, ``--dtype float64`` for doubles; text dictionary-encoded, as
pyarrow writes it), ``ts`` over seven days, ``request_id``, ``proba_no`` / ``proba_yes``
and ``decision``. From day four, five features shift by 0.3 standard deviations and one
category gains share: the drift to find.

Timed:

- **afterfit**: ``afterfit monitor BUNDLE --log log.parquet --out drift/ --window 1d`` in
  a fresh process (import, bundle verification, the streaming pass, per-day windows, the
  HTML page, results.json and tables: everything a user waits for);
- **peer**: the usual hand-written check, run in this process on the first
  ``--peer-rows`` rows (all of them by default up to 1,000,000): ``pandas.read_parquet``
  of the feature columns, then per numeric feature ``scipy.stats.ks_2samp`` against the
  raw reference values and a decile PSI (``np.quantile`` + ``np.histogram``), per
  categorical feature ``value_counts`` + ``scipy.stats.chi2_contingency``. No windows
  (afterfit does seven per-day windows on top). Evidently is not installed here (and
  not installed by this script); if it is importable, the script says so and still
  times the pandas + scipy peer.

Prints the wall and CPU times (CPU time is steadier on a shared machine), rows per
second and the ratios, afterfit's peak memory, and, when both saw the same rows,
the largest difference between the two KS statistics (afterfit's comes from the
1,000-point reference sketch, so it may be below the exact one by about 0.001).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

DAY = 86_400.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
GROUP_ROWS = 500_000
N_REFERENCE = 50_000
CATEGORIES = np.array(["a", "b", "c", "d", "e"])


def _columns(n_features: int) -> tuple[list[str], list[str]]:
    n_cat = max(1, n_features // 20)
    numeric = [f"x{i}" for i in range(n_features - n_cat)]
    categorical = [f"c{i}" for i in range(n_cat)]
    return numeric, categorical


def _frame(rng, n: int, numeric, categorical, *, drift: bool) -> pd.DataFrame:
    data = rng.standard_normal((n, len(numeric)), dtype=np.float32)
    if drift:
        data[:, :5] += 0.3
    frame = pd.DataFrame(data, columns=numeric)
    frame.iloc[: n // 50, 5] = np.nan  # 2% missing in one feature
    p = (
        np.array([0.4, 0.25, 0.15, 0.1, 0.1])
        if not drift
        else np.array([0.3, 0.2, 0.15, 0.1, 0.25])
    )
    for c in categorical:
        frame[c] = pd.Categorical(CATEGORIES[rng.choice(5, n, p=p)], categories=CATEGORIES)
    return frame


def _build_bundle(folder: Path, numeric, categorical) -> tuple[Path, pd.DataFrame, object]:
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from afterfit.bundle.core import build_bundle

    rng = np.random.default_rng(0)
    X = _frame(rng, N_REFERENCE, numeric, categorical, drift=False)
    X[categorical] = X[categorical].astype(str)
    X[numeric] = X[numeric].astype(np.float64)
    z = X[numeric[:5]].fillna(0).sum(axis=1).to_numpy() + (X[categorical[0]] == "e").to_numpy()
    y = np.where(rng.random(N_REFERENCE) < 1 / (1 + np.exp(-z)), "yes", "no")
    model = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), categorical), remainder="passthrough"
        ),
        LogisticRegression(max_iter=300),
    ).fit(X.fillna(0), y)
    out = folder / "bundle"
    build_bundle(model, X.fillna(0), y, out=out, name="bench", version="1.0", threshold=0.5)
    return out, X.fillna(0), model


def _write_log(path: Path, rows: int, numeric, categorical, model, dtype: str) -> None:
    rng = np.random.default_rng(1)
    writer = None
    ts_all = T0 + np.sort(rng.random(rows)) * 7 * DAY
    done = 0
    while done < rows:
        n = min(GROUP_ROWS, rows - done)
        ts = ts_all[done : done + n]
        # Drift from day four on: rows past the middle of the week.
        drift_rows = ts >= T0 + 3 * DAY
        frame = _frame(rng, n, numeric, categorical, drift=False)
        shifted = _frame(rng, n, numeric, categorical, drift=True)
        frame.loc[drift_rows] = shifted.loc[drift_rows]
        X = frame.copy()
        X[categorical] = X[categorical].astype(str)
        proba = model.predict_proba(X.fillna(0))[:, 1]
        if dtype == "float64":
            frame[numeric] = frame[numeric].astype(np.float64)
        frame["ts"] = ts
        frame["request_id"] = [f"r{i}" for i in range(done, done + n)]
        frame["proba_no"] = 1 - proba
        frame["proba_yes"] = proba
        frame["decision"] = np.where(proba > 0.5, "yes", "no")
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=GROUP_ROWS)
        done += n
    assert writer is not None
    writer.close()


def _peer(path: Path, reference: pd.DataFrame, numeric, categorical, rows: int) -> dict:
    """The naive check: read the columns with pandas, one scipy test per feature."""
    from scipy import stats

    start = time.perf_counter()
    table = pq.ParquetFile(path)
    parts, got = [], 0
    for batch in table.iter_batches(batch_size=GROUP_ROWS, columns=[*numeric, *categorical]):
        parts.append(batch.to_pandas())
        got += batch.num_rows
        if got >= rows:
            break
    current = pd.concat(parts, ignore_index=True).iloc[:rows]
    read = time.perf_counter() - start
    ks = {}
    for c in numeric:
        ref = reference[c].dropna().to_numpy()
        cur = current[c].dropna().to_numpy()
        ks[c] = stats.ks_2samp(ref, cur).statistic
        edges = np.quantile(ref, np.linspace(0, 1, 11))
        edges[0], edges[-1] = -np.inf, np.inf
        r = np.histogram(ref, edges)[0] / ref.size
        q = np.histogram(cur, edges)[0] / cur.size
        r, q = np.maximum(r, 1e-4), np.maximum(q, 1e-4)
        float(np.sum((q - r) * np.log(q / r)))
    for c in categorical:
        table_ = pd.concat(
            [reference[c].value_counts(), current[c].astype(str).value_counts()], axis=1
        ).fillna(0)
        stats.chi2_contingency(table_.to_numpy().T)
    return {"seconds": time.perf_counter() - start, "read": read, "rows": len(current), "ks": ks}


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=None, help="log rows (default 1,000,000)")
    parser.add_argument("--features", type=int, default=None, help="features (default 100)")
    parser.add_argument("--quick", action="store_true", help="200,000 rows x 20 features")
    parser.add_argument(
        "--peer-rows", type=int, default=None, help="rows the peer reads (default min(rows, 1e6))"
    )
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()
    rows = args.rows or (200_000 if args.quick else 1_000_000)
    n_features = args.features or (20 if args.quick else 100)
    peer_rows = min(rows, args.peer_rows or 1_000_000)
    numeric, categorical = _columns(n_features)
    folder = Path(tempfile.mkdtemp(prefix="bench-monitor-", dir=args.dir))
    print(f"load average at start: {_load()} ({os.cpu_count()} CPUs)")
    try:
        t = time.perf_counter()
        bundle, reference, model = _build_bundle(folder, numeric, categorical)
        log = folder / "log.parquet"
        _write_log(log, rows, numeric, categorical, model, args.dtype)
        size = log.stat().st_size / 2**30
        print(
            f"generated (not timed, {time.perf_counter() - t:.0f} s): log {rows:,} rows x "
            f"{n_features} features ({len(categorical)} categorical, numbers {args.dtype}), "
            f"{size:.2f} GiB Parquet; reference {N_REFERENCE:,} rows"
        )

        out = folder / "drift"
        command = [sys.executable, "-m", "afterfit.cli", "monitor", str(bundle), "--log",
                   str(log), "--out", str(out), "--window", "1d", "--quiet"]  # fmt: skip
        if importlib.util.find_spec("afterfit.cli.__main__") is None:
            command[1:3] = ["-c", "from afterfit.cli import main; main()"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        ours = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        ours_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        peak = after.ru_maxrss / 2**20  # KiB -> GiB (the largest child so far)
        if done.returncode != 0:
            raise SystemExit(f"afterfit monitor failed:\n{done.stdout}\n{done.stderr}")
        import json

        doc = json.loads((out / "results.json").read_text())["monitor"]
        drifted = doc["summary"]["drifted"]
        print(
            f"afterfit monitor (--window 1d, page + results.json + tables): {ours:.1f} s "
            f"({ours_cpu:.1f} s CPU, peak {peak:.2f} GiB), {rows / ours:,.0f} rows/s, "
            f"{rows * n_features / ours / 1e6:,.0f} M values/s; {len(doc['windows'])} windows, "
            f"drifted: {', '.join(drifted)}"
        )
        if rows >= 10_000_000 and n_features >= 100:
            verdict = "PASS" if ours < 60 else "FAIL"
            print(f"goal 10,000,000 x 100 in under 60 s: {verdict} ({ours:.1f} s)")

        if importlib.util.find_spec("evidently") is not None:
            print("Evidently is importable, but this script times the pandas + scipy peer.")
        else:
            print(
                "Evidently is not installed (not installed here on purpose); peer: pandas + scipy."
            )
        cpu = time.process_time()
        peer = _peer(log, reference, numeric, categorical, peer_rows)
        peer_cpu = time.process_time() - cpu
        peer_rate = peer["rows"] / peer["seconds"]
        print(
            f"pandas + scipy (ks_2samp + PSI per feature, no windows) on {peer['rows']:,} rows: "
            f"{peer['seconds']:.1f} s ({peer_cpu:.1f} s CPU; read {peer['read']:.1f} s), "
            f"{peer_rate:,.0f} rows/s"
        )
        print(
            f"ratio afterfit / peer: {rows / ours / peer_rate:.1f}x in rows per wall second, "
            f"{rows / ours_cpu / (peer['rows'] / peer_cpu):.1f}x in rows per CPU second"
        )
        if peer["rows"] == rows:
            ks = {f["name"]: f["ks"] for f in doc["features"] if f["kind"] == "numeric"}
            diff = max(abs(ks[c] - peer["ks"][c]) for c in numeric if ks.get(c) is not None)
            print(f"largest |KS afterfit - KS scipy| over numeric features: {diff:.5f}")
        print(f"load average at end: {_load()}")
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
