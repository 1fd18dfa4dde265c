"""ONNX export: parity per model kind, and the cost of one-row and batch predictions
through afterfit's ONNX Runtime adapter versus the original model in process.

    python benchmarks/bench_export.py            # 20,000 rows
    python benchmarks/bench_export.py --quick    # 2,000 rows, fewer repeats

For each model (a ColumnTransformer pipeline with numeric, text and missing values, or a
bare numeric model) it prints: the precision chosen, the maximum absolute difference of
probabilities (values for regressors) and label agreement on the validation rows, then the
median latency of a one-row call (afterfit OnnxModel from a DataFrame, from a record dict,
and the original ``predict_proba``/``predict``) and batch time; ratio = original / ONNX.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def _data(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(8)})
    X["visits"] = rng.integers(0, 20, n)
    X["plan"] = rng.choice(["basic", "plus", "pro", "team"], n)
    X["region"] = rng.choice(list("abcdefg"), n)
    X.loc[rng.random(n) < 0.05, "x0"] = np.nan
    X.loc[rng.random(n) < 0.05, "plan"] = np.nan
    s = X["x0"].fillna(0) + X["x1"] * X["x2"] + (X["plan"] == "pro") + rng.normal(0, 0.5, n)
    return X, (s > 0.5).to_numpy().astype(int), s.to_numpy()


def _models(quick: bool) -> list[tuple[str, object, bool]]:
    import lightgbm as lgb
    import torch
    import xgboost as xgb
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
    )
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from afterfit.models import TorchModel

    trees = 50 if quick else 200

    def pre() -> ColumnTransformer:
        num = [f"x{i}" for i in range(8)] + ["visits"]
        return ColumnTransformer(
            [
                ("num", make_pipeline(SimpleImputer(), StandardScaler()), num),
                ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                      OneHotEncoder(handle_unknown="ignore")),
                 ["plan", "region"]),
            ]
        )  # fmt: skip

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(9, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    return [
        ("pipeline + LogisticRegression", make_pipeline(pre(), LogisticRegression()), True),
        ("pipeline + HistGradientBoosting",
         make_pipeline(pre(), HistGradientBoostingClassifier(max_iter=trees)), True),
        ("pipeline + RandomForest",
         make_pipeline(pre(), RandomForestClassifier(n_estimators=trees // 2,
                                                     min_samples_leaf=5)), True),
        ("pipeline + XGBoost", make_pipeline(pre(), xgb.XGBClassifier(n_estimators=trees)), True),
        ("pipeline + LightGBM",
         make_pipeline(pre(), lgb.LGBMClassifier(n_estimators=trees, verbose=-1)), True),
        ("pipeline + HGB regressor",
         make_pipeline(pre(), HistGradientBoostingRegressor(max_iter=trees)), True),
        ("torch MLP (numeric)", TorchModel(net), False),
    ]  # fmt: skip


def _median_us(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 rows, fewer repeats")
    parser.add_argument("--rows", type=int, default=None, help="rows (default 20,000)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    n = args.rows or (2_000 if args.quick else 20_000)
    repeats = 50 if args.quick else 300

    from afterfit.exporters.core import export_model
    from afterfit.models import OnnxModel, as_model

    X, y, s = _data(n)
    numeric = X[[f"x{i}" for i in range(8)] + ["visits"]].fillna(0.0)
    print(f"rows={n}; latency = median of {repeats} one-row calls; ratio = original / onnx")
    header = (f"{'model':34s} {'prec':7s} {'max|dp|':>9s} {'labels':>7s} "
              f"{'onnx df us':>10s} {'onnx rec us':>11s} {'orig us':>9s} {'ratio':>6s} "
              f"{'batch onnx s':>12s} {'batch orig s':>12s}")  # fmt: skip
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for name, model, mixed in _models(args.quick):
            XX = X if mixed else numeric
            target = s if "regressor" in name else y
            if hasattr(model, "fit"):
                model.fit(XX, target)
            else:  # the torch module: a few steps of training are enough here
                _train(model, XX, target)
            result = export_model(model, XX, path=Path(tmp) / "m.onnx")
            p = result.parity
            agree = "n/a" if p.label_agreement is None else f"{p.label_agreement:.2%}"
            if result.format != "onnx":
                print(f"{name:34s} skops  ({result.reason})")
                continue
            onnx = OnnxModel(result.path)
            original = as_model(model)
            row = XX.iloc[[7]]
            record = row.astype(object).where(row.notna(), None).to_dict("records")[0]
            t_df = _median_us(lambda: onnx.predict_scores(row), repeats)  # noqa: B023
            t_rec = _median_us(lambda: onnx.predict_scores(record), repeats)  # noqa: B023
            t_orig = _median_us(lambda: original.predict_scores(row), repeats)  # noqa: B023
            b_onnx = _median_us(lambda: onnx.predict_scores(XX), 3) / 1e6  # noqa: B023
            b_orig = _median_us(lambda: original.predict_scores(XX), 3) / 1e6  # noqa: B023
            print(f"{name:34s} {result.precision:7s} {p.max_abs_diff:9.2e} {agree:>7s} "
                  f"{t_df:10.0f} {t_rec:11.0f} {t_orig:9.0f} {t_orig / t_df:6.1f} "
                  f"{b_onnx:12.3f} {b_orig:12.3f}")  # fmt: skip


def _train(model, X: pd.DataFrame, y: np.ndarray) -> None:
    import torch

    net = model.module
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    xt = torch.tensor(X.to_numpy(dtype=np.float32))
    yt = torch.tensor(y, dtype=torch.long)
    for _ in range(50):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(xt), yt)
        loss.backward()
        opt.step()


if __name__ == "__main__":
    main()
