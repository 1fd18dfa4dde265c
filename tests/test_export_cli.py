"""The `afterfit export` command: parity table, files written, the skops fallback, and
exit code 2 with nothing written on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from typer.testing import CliRunner

from afterfit.cli import app
from afterfit.models import load_model
from test_export import Doubler

# wide enough that a pytest tmp_path (longer under pytest-xdist: .../popen-gw0/...) is
# printed on one line, not broken inside a word by rich
runner = CliRunner(env={"COLUMNS": "250"})
DTYPE = "numpy.dtype"  # a type skops asks the user to trust in these pipelines


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def text(result) -> str:
    return " ".join(result.output.split())


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("export")
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 12, n),
            "plan": rng.choice(["basic", "plus", "pro"], n),
            "spend": rng.gamma(2.0, 50.0, n),
        }
    )
    frame.loc[rng.random(n) < 0.1, "age"] = np.nan
    frame["churn"] = ((frame["age"].fillna(40) - 40) / 12 + (frame["plan"] == "pro")
                      + rng.normal(0, 0.5, n) > 0.5).astype(int)  # fmt: skip
    X = frame.drop(columns="churn")
    ct = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "spend"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
        ]
    )
    sio.dump(make_pipeline(ct, LogisticRegression()).fit(X, frame["churn"]), d / "lr.skops")
    num = frame[["spend"]]
    custom = make_pipeline(Doubler(), LogisticRegression()).fit(num, frame["churn"])
    sio.dump(custom, d / "custom.skops")
    frame.to_parquet(d / "valid.parquet", index=False)
    (d / "broken.skops").write_bytes(b"not a model")
    return {"dir": d, "lr": d / "lr.skops", "custom": d / "custom.skops",
            "valid": d / "valid.parquet", "broken": d / "broken.skops"}  # fmt: skip


def test_export_onnx_prints_parity_and_writes_files(files, tmp_path):
    out = tmp_path / "model.onnx"
    result = run("export", "--model", files["lr"], "--data", files["valid"],
                 "--target", "churn", "--out", out, "--trusted-type", DTYPE)  # fmt: skip
    assert result.exit_code == 0, result.output
    said = text(result)
    assert "Parity on real rows" in said and "pass" in said and "300" in said
    assert "onnx (float32)" in said and "fell back" not in said
    assert out.is_file()
    doc = json.loads((tmp_path / "model.onnx.parity.json").read_text())
    assert doc["schema"] == "afterfit.export" and doc["source"]["target"] == "churn"
    parity = doc["export"]["parity"]
    assert doc["export"]["format"] == "onnx" and parity["passed"] is True
    assert parity["n_rows"] == 300 and parity["max_abs_diff"] <= 1e-5
    # The file serves: same probabilities as the original from a DataFrame.
    frame = pd.read_parquet(files["valid"]).drop(columns="churn")
    original = sio.load(files["lr"], trusted=sio.get_untrusted_types(file=files["lr"]))
    scores = load_model(out).predict_scores(frame)
    assert np.abs(scores - original.predict_proba(frame)).max() <= 1e-5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "model.onnx.parity.json"]


def test_fallback_to_skops_says_why(files, tmp_path):
    out = tmp_path / "model.onnx"
    result = run("export", "--model", files["custom"], "--data", files["valid"],
                 "--target", "churn", "--out", out, "--drop", "age", "--drop", "plan",
                 "--trust")  # fmt: skip
    assert result.exit_code == 0, result.output
    said = text(result)
    assert "fell back to skops" in said and "Doubler" in said
    assert "model.skops" in said and "--trusted-type" in said
    assert not out.exists() and (tmp_path / "model.skops").is_file()
    doc = json.loads((tmp_path / "model.onnx.parity.json").read_text())
    assert doc["export"]["format"] == "skops" and doc["export"]["fell_back"] is True
    assert "no ONNX converter" in doc["export"]["reason"]


def test_prefer_skops(files, tmp_path):
    result = run("export", "--model", files["lr"], "--data", files["valid"], "--target",
                 "churn", "--out", tmp_path / "m.onnx", "--prefer", "skops",
                 "--trusted-type", DTYPE)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m.skops").is_file() and not (tmp_path / "m.onnx").exists()
    assert "fell back" not in text(result)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--target", "nope"], "target column 'nope'"),
        (["--target", "churn", "--drop", "plan"], "lack"),
        (["--target", "churn", "--model-key", "broken"], "could not be read"),
        (["--target", "churn", "--model-key", "missing"], "does not exist"),
        (["--target", "churn", "--model-key", "custom"], "not trusted"),
        (["--target", "churn", "--out-name", "model.bin"], ".onnx or .skops"),
        (["--target", "churn", "--tolerance", "-1"], "tolerance"),
        (["--target", "churn", "--no-data"], "needs --model and --data"),
    ],
)
def test_bad_input_exit_2_nothing_written(files, tmp_path, args, message):
    args = list(args)
    model = files["lr"]
    data: Path | None = files["valid"]
    name = "model.onnx"
    if "--model-key" in args:
        i = args.index("--model-key")
        key = args[i + 1]
        model = files["dir"] / "nothere.skops" if key == "missing" else files[key]
        del args[i : i + 2]
    if "--out-name" in args:
        i = args.index("--out-name")
        name = args[i + 1]
        del args[i : i + 2]
    if "--no-data" in args:
        args.remove("--no-data")
        data = None
    out_dir = tmp_path / "out"
    cmd = ["export", "--model", model, *args, "--out", out_dir / name]
    if model == files["lr"]:
        cmd += ["--trusted-type", DTYPE]
    if data is not None:
        cmd += ["--data", data]
    result = run(*cmd)
    assert result.exit_code == 2, result.output
    assert message in text(result)
    assert "Traceback" not in result.output
    assert not out_dir.exists() or not any(out_dir.iterdir())
