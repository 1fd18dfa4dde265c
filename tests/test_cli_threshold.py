"""The `afterfit threshold` command, end to end: files, the saved model, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner

import afterfit
from afterfit.cli import app
from afterfit.thresholds import ThresholdedModel, select_threshold

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("threshold")
    frame = load_breast_cancer(as_frame=True).frame
    train, valid = frame.iloc[::2], frame.iloc[1::2]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.05))
    model.fit(train.drop(columns="target"), train["target"])
    sio.dump(model, d / "model.skops")
    valid.to_parquet(d / "valid.parquet", index=False)
    proba = model.predict_proba(valid.drop(columns="target"))[:, 1]
    pd.DataFrame({"y": valid["target"].to_numpy(), "p": proba}).to_csv(d / "preds.csv", index=False)
    iris = load_iris(as_frame=True).frame
    multi = LogisticRegression(max_iter=2000).fit(iris.iloc[::2, :4], iris["target"].iloc[::2])
    sio.dump(multi, d / "iris.skops")
    iris.iloc[1::2].to_parquet(d / "iris.parquet", index=False)
    return {"dir": d, "model": d / "model.skops", "data": d / "valid.parquet", "est": model,
            "valid": valid, "preds": d / "preds.csv", "iris_model": d / "iris.skops",
            "iris": d / "iris.parquet"}  # fmt: skip


def test_cost_objective_writes_files_and_saves_the_model(files, tmp_path):
    out, saved = tmp_path / "out", tmp_path / "tm.skops"
    result = run("threshold", "--model", files["model"], "--data", files["data"],
                 "--target", "target", "--objective", "cost", "--fp-cost", 1, "--fn-cost", 5,
                 "--n-resamples", 100, "--out", out, "--save-model", saved)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "threshold (score >)" in result.output and "expected_cost" in result.output
    doc = json.loads((out / "threshold.json").read_text())
    assert doc["schema"] == "afterfit.threshold"
    sel = doc["threshold"]
    assert sel["objective"] == "cost" and sel["split"] == "validation"
    assert sel["parameters"]["costs"] == {"fp_cost": 1.0, "fn_cost": 5.0, "tp_gain": 0.0,
                                          "tn_gain": 0.0}  # fmt: skip
    assert doc["source"]["model"] == str(files["model"])
    # The command computes what the Python API computes.
    valid = files["valid"]
    X, y = valid.drop(columns="target"), valid["target"]
    api = select_threshold(files["est"], X, y, objective="cost", fp_cost=1, fn_cost=5,
                           n_resamples=100, random_state=0)  # fmt: skip
    assert sel["threshold"] == api.threshold and sel["value"] == pytest.approx(api.value)
    assert sel["threshold_ci"] == pytest.approx(list(api.ci))
    curve = pd.read_csv(out / "tables" / "threshold_curve.csv")
    assert {"threshold", "precision", "recall", "expected_cost"} <= set(curve.columns)
    metrics = pd.read_csv(out / "tables" / "threshold_metrics.csv")
    assert metrics.metric.iloc[0] == "threshold"
    assert (out / "figures" / "threshold_curve.png").read_bytes().startswith(b"\x89PNG")
    # The saved model loads without --trust and predicts with the chosen threshold.
    loaded = afterfit.load_model(saved)
    assert isinstance(loaded.estimator, ThresholdedModel)
    expected = (files["est"].predict_proba(X)[:, 1] > api.threshold).astype(int)
    np.testing.assert_array_equal(loaded.predict(X), expected)
    evaluated = run("evaluate", "--model", saved, "--data", files["data"], "--target",
                    "target", "--out", tmp_path / "ev", "--ci", "none", "--quiet")  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output


def test_predictions_precision_at_and_test_split(files, tmp_path):
    result = run("threshold", "--predictions", files["preds"], "--target", "y", "--score",
                 "p", "--objective", "precision-at", "--min-precision", 0.95, "--split",
                 "test", "--n-resamples", 50, "--out", tmp_path, "--no-figures")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "optimistic" in result.output
    sel = json.loads((tmp_path / "threshold.json").read_text())["threshold"]
    assert sel["objective"] == "recall_at_precision" and sel["split"] == "test"
    assert "optimistic" in sel["warning"]
    metrics = {m["metric"]: m["value"] for m in sel["metrics"]}
    assert metrics["precision"] >= 0.95
    assert not (tmp_path / "figures").exists()


def test_quiet_prints_nothing(files, tmp_path):
    result = run("threshold", "--predictions", files["preds"], "--target", "y", "--score",
                 "p", "--objective", "top-k", "--top-k", 50, "--n-resamples", 0, "--out",
                 tmp_path, "--quiet")  # fmt: skip
    assert result.exit_code == 0 and result.output == ""
    sel = json.loads((tmp_path / "threshold.json").read_text())["threshold"]
    assert sel["value"] <= 50 and sel["threshold_ci"] == [None, None]


def test_multiclass_cost_and_per_class(files, tmp_path):
    result = run("threshold", "--model", files["iris_model"], "--data", files["iris"],
                 "--target", "target", "--objective", "cost", "--cost-matrix",
                 "0,1,1;2,0,1;1,3,0", "--n-resamples", 50, "--out", tmp_path / "cost",
                 "--save-model", tmp_path / "cs.skops")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "expected_cost" in result.output and "argmax_cost" in result.output
    doc = json.loads((tmp_path / "cost" / "threshold.json").read_text())["threshold"]
    assert doc["kind"] == "multiclass_cost"
    loaded = afterfit.load_model(tmp_path / "cs.skops")
    assert type(loaded.estimator).__name__ == "CostSensitiveModel"
    result = run("threshold", "--model", files["iris_model"], "--data", files["iris"],
                 "--target", "target", "--objective", "youden", "--n-resamples", 20,
                 "--out", tmp_path / "ovr")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ovr" / "tables" / "thresholds_per_class.csv").exists()
    assert (tmp_path / "ovr" / "figures" / "threshold_curves.png").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--objective", "cost", "--fp-cost", "-1", "--fn-cost", "5"], "gain"),
        (["--objective", "cost", "--fp-cost", "1"], "fn_cost is missing"),
        (["--objective", "precision-at"], "needs min_precision"),
        (["--objective", "fbeta"], "needs beta"),
        (["--objective", "f1", "--min-recall", "0.5"], "only used by"),
        (["--save-model", "x.skops"], "--save-model needs --model"),
        (["--n-resamples", "1"], "n_resamples"),
    ],
)
def test_bad_input_exits_2_without_traceback(files, tmp_path, args, message):
    result = run("threshold", "--predictions", files["preds"], "--target", "y", "--score",
                 "p", "--n-resamples", 0, "--out", tmp_path, *args)  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "threshold.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--objective", "top-k", "--top-k", "3"], "not available for multiclass"),
        (["--objective", "cost"], "needs a 3x3 cost_matrix"),
        (["--objective", "cost", "--cost-matrix", "0,1;1,0"], "3x3"),
        (["--objective", "cost", "--cost-matrix", "0,1,x"], "not a matrix"),
        (["--objective", "f1", "--save-model", "m.skops"], "no single multiclass"),
    ],
)
def test_multiclass_bad_input(files, tmp_path, args, message):
    args = [a if a != "m.skops" else str(tmp_path / "m.skops") for a in args]
    result = run("threshold", "--model", files["iris_model"], "--data", files["iris"],
                 "--target", "target", "--n-resamples", 0, "--out", tmp_path, *args)  # fmt: skip
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_unreachable_precision_names_the_best_reachable(tmp_path):
    path = tmp_path / "hard.csv"
    pd.DataFrame({"y": [0, 1, 1, 0, 1, 0], "p": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]}).to_csv(path)
    result = run(
        "threshold",
        "--predictions",
        path,
        "--target",
        "y",
        "--score",
        "p",
        "--objective",
        "precision-at",
        "--min-precision",
        0.9,
        "--out",
        tmp_path / "out",  # a new folder: tmp_path holds the data (not afterfit's)
    )
    assert result.exit_code == 2
    assert "highest precision reachable on these data is 0.6667" in result.output
    assert "Traceback" not in result.output


def test_save_model_needs_a_skops_path(files, tmp_path):
    result = run("threshold", "--model", files["model"], "--data", files["data"], "--target",
                 "target", "--n-resamples", 0, "--out", tmp_path, "--save-model",
                 tmp_path / "m.pkl")  # fmt: skip
    assert result.exit_code == 2 and "must end in .skops" in result.output
