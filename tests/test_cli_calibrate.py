"""The `afterfit calibrate` command, end to end: files, saved model, bad input (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from typer.testing import CliRunner

import afterfit
from afterfit.cli import app
from afterfit.documents import SCHEMA_VERSION

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("calibrate")
    frame = load_breast_cancer(as_frame=True).frame.sample(frac=1, random_state=0)
    frame = frame.reset_index(drop=True)
    train, cal, test = frame.iloc[:190], frame.iloc[190:380], frame.iloc[380:]
    model = GaussianNB().fit(train.drop(columns="target"), train["target"])
    sio.dump(model, d / "model.skops")
    cal.to_parquet(d / "cal.parquet", index=False)
    test.to_parquet(d / "test.parquet", index=False)
    cal[cal["target"] == 1].to_parquet(d / "cal_one_class.parquet", index=False)
    relabelled = cal.assign(target=np.where(cal["target"] == 1, "yes", "no"))
    relabelled.to_parquet(d / "cal_text.parquet", index=False)
    svm = make_pipeline(StandardScaler(), LinearSVC()).fit(
        train.drop(columns="target"), train["target"]
    )
    sio.dump(svm, d / "svm.skops")
    iris = load_iris(as_frame=True).frame.sample(frac=1, random_state=0).reset_index(drop=True)
    iris_model = GaussianNB().fit(iris.drop(columns="target")[:50], iris["target"][:50])
    sio.dump(iris_model, d / "iris.skops")
    iris[50:100].to_csv(d / "iris_cal.csv", index=False)
    iris[100:].to_csv(d / "iris_test.csv", index=False)
    return {"dir": d, "model": d / "model.skops", "cal": d / "cal.parquet",
            "test": d / "test.parquet", "est": model, "test_frame": test,
            "cal_frame": cal}  # fmt: skip


def test_report_only(files, tmp_path):
    out = tmp_path / "out"
    result = run("calibrate", "--model", files["model"], "--data", files["test"], "--target",
                 "target", "--out", out, "--n-resamples", "100", "--seed", "3")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "ece_uniform" in result.output and "resolution" in result.output
    doc = json.loads((out / "calibration.json").read_text())
    assert doc["schema"] == "afterfit.calibration" and doc["schema_version"] == SCHEMA_VERSION
    assert doc["calibrator"] is None and doc["calibrated"] is None and doc["comparison"] is None
    assert doc["source"]["calibration_data"] is None
    report = doc["model"]
    assert report["task"] == "binary" and report["settings"]["random_state"] == 3
    assert set(report["brier_decomposition"]["components"]) >= {
        "reliability", "resolution", "uncertainty", "brier_binned", "residual"}  # fmt: skip
    # The command computes what the Python API computes.
    test = files["test_frame"]
    api = afterfit.evaluate_calibration(files["est"], test.drop(columns="target"),
                                      test["target"], n_resamples=100, random_state=3)  # fmt: skip
    rows = {r["metric"]: r for r in report["metrics"]}
    for row in api.metrics.overall():
        assert rows[row.metric]["value"] == pytest.approx(row.value, abs=1e-12)
        assert rows[row.metric]["ci_low"] == pytest.approx(row.ci_low, abs=1e-12)
    for name in ("calibration_metrics", "calibration_reliability",
                 "calibration_brier_decomposition"):  # fmt: skip
        assert (out / "tables" / f"{name}.csv").stat().st_size > 0
    assert not (out / "tables" / "calibration_comparison.csv").exists()
    for name in ("calibration_reliability", "calibration_brier_decomposition"):
        assert (out / "figures" / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    table = pd.read_csv(out / "tables" / "calibration_metrics.csv")
    assert list(table.columns) == ["model", "class", "metric", "value", "ci_low", "ci_high",
                                   "method"]  # fmt: skip


def test_calibrate_compare_and_save(files, tmp_path):
    out, saved = tmp_path / "out", tmp_path / "calibrated.skops"
    result = run("calibrate", "--model", files["model"], "--calibration-data", files["cal"],
                 "--data", files["test"], "--target", "target", "--method", "sigmoid",
                 "--out", out, "--save-model", saved, "--n-resamples", "100",
                 "--strategy", "quantile")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "log_loss" in result.output and "paired" in result.output
    doc = json.loads((out / "calibration.json").read_text())
    assert doc["calibrator"]["method"] == "sigmoid"
    assert doc["calibrator"]["n_calibration_rows"] == len(files["cal_frame"])
    assert doc["saved_model"] == str(saved)
    assert doc["calibrated"]["settings"]["strategy"] == "quantile"
    rows = {r["metric"]: r for r in doc["comparison"]["metrics"]}
    assert rows["log_loss"]["difference"]["value"] < 0
    assert rows["log_loss"]["difference"]["value"] == pytest.approx(
        rows["log_loss"]["after"]["value"] - rows["log_loss"]["before"]["value"]
    )
    comparison = pd.read_csv(out / "tables" / "calibration_comparison.csv")
    assert "difference_ci_high" in comparison.columns
    metrics = pd.read_csv(out / "tables" / "calibration_metrics.csv")
    assert set(metrics["model"]) == {"model", "calibrated"}
    for name in ("calibration_before_after", "calibration_reliability_calibrated"):
        assert (out / "figures" / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    # The saved model loads without --trust and equals the API's calibrated model.
    cal, test = files["cal_frame"], files["test_frame"]
    api = afterfit.calibrate(files["est"], cal.drop(columns="target"), cal["target"])
    loaded = afterfit.load_model(saved)
    X = test.drop(columns="target")
    np.testing.assert_allclose(loaded.predict_scores(X), api.predict_proba(X), rtol=0, atol=1e-12)
    evaluated = run("evaluate", "--model", saved, "--data", files["test"], "--target",
                    "target", "--out", tmp_path / "eval", "--ci", "none")  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output


def test_multiclass_temperature_from_csv(files, tmp_path):
    d = files["dir"]
    result = run("calibrate", "--model", d / "iris.skops", "--calibration-data",
                 d / "iris_cal.csv", "--data", d / "iris_test.csv", "--target", "target",
                 "--method", "temperature", "--out", tmp_path, "--n-resamples", "50",
                 "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output == ""
    doc = json.loads((tmp_path / "calibration.json").read_text())
    assert doc["calibrator"]["temperature"] > 0
    assert doc["model"]["task"] == "multiclass"
    assert len(doc["model"]["reliability_per_class"]) == 3
    assert doc["model"]["reliability"]["kind"] == "top_label"
    assert (tmp_path / "figures" / "calibration_reliability_per_class.png").exists()


def test_isotonic_small_split_warns_and_goes_on(files, tmp_path):
    result = run("calibrate", "--model", files["model"], "--calibration-data", files["cal"],
                 "--data", files["test"], "--target", "target", "--method", "isotonic",
                 "--out", tmp_path, "--n-resamples", "0", "--no-figures")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "warning" in result.output and "overfits" in result.output
    assert not (tmp_path / "figures").exists()


def bad(*args, words=()):
    result = run("calibrate", *args)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split()).lower()
    assert "error:" in text and "fix:" in text
    assert "traceback" not in text
    for word in words:
        assert word.lower() in text, f"{word!r} not in {text!r}"
    return result


def test_bad_input_exits_2(files, tmp_path):
    d, out = files["dir"], tmp_path / "out"
    base = ("--model", files["model"], "--data", files["test"], "--target", "target",
            "--out", out, "--n-resamples", "0")  # fmt: skip
    bad(*base, "--method", "isotonic", words=["--calibration-data"])
    bad(*base, "--save-model", tmp_path / "m.skops", words=["--calibration-data"])
    bad(*base, "--calibration-data", files["test"], words=["same file"])
    bad(*base, "--calibration-data", files["cal"], "--save-model", tmp_path / "m.pkl",
        words=[".skops"])  # fmt: skip
    bad(*base, "--calibration-data", d / "cal_one_class.parquet", words=["only one class"])
    bad(*base, "--calibration-data", d / "cal_text.parquet", words=["does not know", "'yes'"])
    bad("--model", d / "svm.skops", "--data", files["test"], "--target", "target",
        "--out", out, "--calibration-data", files["cal"], "--method", "temperature",
        words=["predict_proba"])  # fmt: skip
    bad("--model", d / "svm.skops", "--data", files["test"], "--target", "target",
        "--out", out, words=["probabilities"])  # fmt: skip
    bad(*base[:-2], "--n-resamples", "1", words=["n_resamples"])
    bad("--model", d / "missing.skops", "--data", files["test"], "--target", "target",
        words=["does not exist"])  # fmt: skip
    bad("--model", files["model"], "--data", files["test"], "--target", "nope",
        words=["nope"])  # fmt: skip
    assert not (out / "calibration.json").exists()


def test_decision_scores_model_calibrates_with_sigmoid(files, tmp_path):
    d = files["dir"]
    result = run("calibrate", "--model", d / "svm.skops", "--calibration-data", files["cal"],
                 "--data", files["test"], "--target", "target", "--out", tmp_path,
                 "--n-resamples", "0", "--no-figures")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "decision scores" in " ".join(result.output.split())
    doc = json.loads((tmp_path / "calibration.json").read_text())
    assert doc["model"] is None and doc["comparison"] is None and doc["notes"]
    assert doc["calibrator"]["response_method"] == "decision_function"
    assert doc["calibrated"]["metrics"][0]["metric"] == "ece_uniform"
