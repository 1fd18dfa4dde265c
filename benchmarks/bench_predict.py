"""Batch prediction: ``afterfit predict`` (bundle, schema validation per chunk, Parquet out)
versus an in-process ``predict_proba`` loop over the same chunks.

Both read the same Parquet file with ``ParquetFile.iter_batches`` in chunks of the same
size. The loop only converts each chunk to pandas and calls the scikit-learn pipeline's
``predict_proba``; afterfit also validates every chunk against the bundle's schema, runs
the bundle's model (ONNX), applies the threshold and writes the predictions to Parquet.
Goal: afterfit "not much more" than the loop (ratio near 1 or below).

    python benchmarks/bench_predict.py --rows 1000000
    python benchmarks/bench_predict.py --quick          # 100,000 rows
    python benchmarks/bench_predict.py --rows 1000000 --cli   # also time the command line
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def make_data(n: int, n_num: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, n_num)), columns=[f"x{i}" for i in range(n_num)])
    X["plan"] = rng.choice(["basic", "pro", "team", "enterprise"], n)
    X["region"] = rng.choice([f"r{i}" for i in range(12)], n)
    X["visits"] = rng.integers(0, 100, n)
    logit = X["x0"] - 0.5 * X["x1"] + (X["plan"] == "pro") * 0.8 + 0.01 * X["visits"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def train(X: pd.DataFrame, y: np.ndarray):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    ct = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["plan", "region"]), remainder=StandardScaler()
    )
    return make_pipeline(ct, LogisticRegression(max_iter=1000)).fit(X, y)


def loop(model, path: Path, chunk_rows: int) -> float:
    import pyarrow.parquet as pq

    start = time.perf_counter()
    total = 0.0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
        total += float(model.predict_proba(batch.to_pandas())[:, 1].sum())
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 rows")
    parser.add_argument("--features", type=int, default=20, help="numeric features")
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds (best is reported)")
    parser.add_argument("--cli", action="store_true", help="also time `afterfit predict`")
    args = parser.parse_args()
    rows = 100_000 if args.quick else args.rows

    from afterfit.bundle.core import build_bundle
    from afterfit.serving.batch import predict_file

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        X_train, y_train = make_data(20_000, args.features, seed=0)
        model = train(X_train, y_train)
        bundle = build_bundle(
            model, X_train, y_train, out=tmp_path / "bench-1.0", name="bench", version="1.0",
            threshold=0.4,
        )  # fmt: skip
        X, _ = make_data(rows, args.features, seed=1)
        src = tmp_path / "rows.parquet"
        X.to_parquet(src, row_group_size=args.chunk_rows)
        print(
            f"{rows:,} rows x {X.shape[1]} columns, chunks of {args.chunk_rows:,}; bundle "
            f"model: {bundle.manifest['model_file']}"
        )
        times_af, times_loop = [], []
        for r in range(args.repeat):
            # Alternate the order so that neither side always runs on a warmer cache.
            order = ("afterfit", "loop") if r % 2 == 0 else ("loop", "afterfit")
            for side in order:
                if side == "loop":
                    times_loop.append(loop(model, src, args.chunk_rows))
                else:
                    out = tmp_path / "preds.parquet"
                    start = time.perf_counter()
                    predict_file(bundle, src, out, chunk_rows=args.chunk_rows)
                    times_af.append(time.perf_counter() - start)
        af, lp = min(times_af), min(times_loop)
        print(f"afterfit predict (in process): {af:8.3f} s  ({rows / af:,.0f} rows/s)")
        print(f"predict_proba loop:            {lp:8.3f} s  ({rows / lp:,.0f} rows/s)")
        print(f"ratio afterfit / loop:         {af / lp:8.2f}")
        if args.cli:
            exe = Path(sys.executable).with_name("afterfit")
            out_cli = str(tmp_path / "cli.parquet")
            cmd = [str(exe), "predict", str(bundle.path), str(src), "--out", out_cli,
                   "--chunk-rows", str(args.chunk_rows), "-q"]  # fmt: skip
            start = time.perf_counter()
            subprocess.run(cmd, check=True)
            cli = time.perf_counter() - start
            print(f"afterfit predict (command):    {cli:8.3f} s  (with start-up and loading)")


if __name__ == "__main__":
    main()
