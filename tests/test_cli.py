"""The `afterfit evaluate` command, end to end: files written, errors with exit code 2."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner

import afterfit
from afterfit.cli import app
from afterfit.io import atomic_write

SCHEMA = json.loads(
    (Path(afterfit.__file__).parent / "schemas" / "results.schema.json").read_text()
)
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def binary_files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("binary")
    frame = load_breast_cancer(as_frame=True).frame
    train, test = frame.iloc[::2], frame.iloc[1::2]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(train.drop(columns="target"), train["target"])
    sio.dump(model, d / "model.skops")
    test.to_parquet(d / "test.parquet", index=False)
    test.to_csv(d / "test.csv", index=False)
    with open(d / "model.pkl", "wb") as f:
        pickle.dump(model, f)
    return {"dir": d, "model": d / "model.skops", "data": d / "test.parquet", "est": model}


def test_evaluate_model_writes_results_tables_and_figures(binary_files, tmp_path):
    out = tmp_path / "out"
    result = run("evaluate", "--model", binary_files["model"], "--data",
                 binary_files["data"], "--target", "target", "--out", out,
                 "--n-resamples", "200")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "roc_auc" in result.output and "delong" in result.output
    doc = json.loads((out / "results.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["evaluation"]["task"] == "binary"
    for name in ("metrics", "confusion_matrix", "roc", "pr", "calibration"):
        assert (out / "tables" / f"{name}.csv").stat().st_size > 0
    for name in ("roc", "pr", "calibration", "confusion_matrix", "metrics"):
        png = (out / "figures" / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG")
    # The command computes what the Python API computes.
    test = pd.read_parquet(binary_files["data"])
    ev = afterfit.evaluate(binary_files["est"], test.drop(columns="target"), test["target"],
                           n_resamples=200, random_state=0)  # fmt: skip
    rows = {r["metric"]: r for r in doc["evaluation"]["metrics"]}
    for row in ev.metrics.overall():
        assert rows[row.metric]["value"] == pytest.approx(row.value, abs=1e-12)
        assert rows[row.metric]["ci_low"] == pytest.approx(row.ci_low, abs=1e-12)
    table = pd.read_csv(out / "tables" / "metrics.csv")
    assert list(table.columns) == ["metric", "value", "ci_low", "ci_high", "method"]


def test_evaluate_csv_and_pos_label(binary_files, tmp_path):
    result = run("evaluate", "--model", binary_files["model"], "--data",
                 binary_files["dir"] / "test.csv", "--target", "target", "--out", tmp_path,
                 "--pos-label", "0", "--ci", "none", "--no-figures")  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["evaluation"]["positive_label"] == "0"
    assert not (tmp_path / "figures").exists()


def test_evaluate_saved_predictions_binary(tmp_path):
    rng = np.random.default_rng(0)
    s = rng.random(300)
    frame = pd.DataFrame({"label": np.where(rng.random(300) < s, "churn", "stay"), "p": s})
    frame.to_parquet(tmp_path / "preds.parquet")
    out = tmp_path / "out"
    result = run("evaluate", "--predictions", tmp_path / "preds.parquet", "--target",
                 "label", "--score", "p", "--pos-label", "churn", "--out", out,
                 "--n-resamples", "100")  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    from sklearn.metrics import roc_auc_score

    auc = next(r for r in doc["evaluation"]["metrics"] if r["metric"] == "roc_auc")
    assert auc["value"] == pytest.approx(roc_auc_score(frame.label == "churn", s), abs=1e-12)


def test_evaluate_saved_predictions_multiclass(tmp_path):
    X, y = load_iris(return_X_y=True)
    proba = LogisticRegression(max_iter=1000).fit(X, y).predict_proba(X)
    frame = pd.DataFrame(proba, columns=["p0", "p1", "p2"]).assign(y=y)
    frame.to_csv(tmp_path / "preds.csv", index=False)
    out = tmp_path / "out"
    result = run("evaluate", "--predictions", tmp_path / "preds.csv", "--target", "y",
                 "--score", "p0", "--score", "p1", "--score", "p2", "--out", out,
                 "--n-resamples", "100")  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["evaluation"]["task"] == "multiclass"
    assert len(doc["evaluation"]["curves"]["roc_per_class"]) == 3
    assert (out / "tables" / "metrics_per_class.csv").exists()


def test_evaluate_regression_model(tmp_path):
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = Ridge().fit(X[:300], y[:300])
    sio.dump(model, tmp_path / "ridge.skops")
    X[300:].assign(target=y[300:]).to_parquet(tmp_path / "test.parquet")
    out = tmp_path / "out"
    result = run("evaluate", "--model", tmp_path / "ridge.skops", "--data",
                 tmp_path / "test.parquet", "--target", "target", "--out", out,
                 "--n-resamples", "100")  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    assert {r["metric"] for r in doc["evaluation"]["metrics"]} >= {"mae", "rmse", "r2"}
    assert (out / "figures" / "residuals.png").exists()
    assert (out / "figures" / "predicted_vs_actual.png").exists()


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("missing_model", ["does not exist", "model file"]),
        ("missing_data", ["data"]),
        ("no_target", ["target", "columns"]),
        ("pickle_untrusted", ["--trust", "arbitrary code"]),
        ("neither", ["--model", "--predictions"]),
        ("extra_column", ["customer_id", "--drop"]),
        ("missing_score_column", ["--score"]),
        ("nan_scores", ["NaN"]),
        ("single_class", ["one class"]),
        ("unknown_pos_label", ["pos_label"]),
        ("bad_confidence", ["confidence"]),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(binary_files, tmp_path, case, words):
    d = binary_files["dir"]
    test = pd.read_parquet(binary_files["data"])
    base = ["evaluate", "--out", tmp_path / "out", "--ci", "none", "--no-figures"]
    if case == "missing_model":
        args = [*base, "--model", d / "nope.skops", "--data", binary_files["data"],
                "--target", "target"]  # fmt: skip
    elif case == "missing_data":
        args = [*base, "--model", binary_files["model"], "--data", d / "nope.parquet",
                "--target", "target"]  # fmt: skip
    elif case == "no_target":
        args = [*base, "--model", binary_files["model"], "--data", binary_files["data"],
                "--target", "label"]  # fmt: skip
    elif case == "pickle_untrusted":
        args = [*base, "--model", d / "model.pkl", "--data", binary_files["data"],
                "--target", "target"]  # fmt: skip
    elif case == "neither":
        args = [*base, "--target", "target"]
    elif case == "extra_column":
        test.assign(customer_id=1).to_parquet(tmp_path / "extra.parquet")
        args = [*base, "--model", binary_files["model"], "--data", tmp_path / "extra.parquet",
                "--target", "target"]  # fmt: skip
    elif case == "missing_score_column":
        pd.DataFrame({"y": [0, 1], "p": [0.2, 0.8]}).to_csv(tmp_path / "p.csv", index=False)
        args = [*base, "--predictions", tmp_path / "p.csv", "--target", "y", "--score", "q"]
    elif case == "nan_scores":
        pd.DataFrame({"y": [0, 1, 1], "p": [0.2, np.nan, 0.7]}).to_csv(tmp_path / "p.csv")
        args = [*base, "--predictions", tmp_path / "p.csv", "--target", "y", "--score", "p"]
    elif case == "single_class":
        one = test[test.target == 1]
        one.to_parquet(tmp_path / "one.parquet")
        args = [*base, "--model", binary_files["model"], "--data", tmp_path / "one.parquet",
                "--target", "target"]  # fmt: skip
    elif case == "unknown_pos_label":
        args = [*base, "--model", binary_files["model"], "--data", binary_files["data"],
                "--target", "target", "--pos-label", "maybe"]  # fmt: skip
    else:
        args = [*base, "--model", binary_files["model"], "--data", binary_files["data"],
                "--target", "target", "--confidence", "95"]  # fmt: skip
    result = run(*args)
    assert result.exit_code == 2, result.output
    text = result.output
    assert "Traceback" not in text
    assert "error:" in text and "Fix:" in text, text
    for word in words:
        assert word.lower() in text.lower(), (word, text)
    assert not (tmp_path / "out" / "results.json").exists()


def test_a_failed_run_keeps_previous_results(binary_files, tmp_path):
    out = tmp_path / "out"
    ok = run("evaluate", "--model", binary_files["model"], "--data", binary_files["data"],
             "--target", "target", "--out", out, "--ci", "none", "--no-figures")  # fmt: skip
    assert ok.exit_code == 0
    before = (out / "results.json").read_bytes()
    bad = run("evaluate", "--model", binary_files["model"], "--data", binary_files["data"],
              "--target", "nope", "--out", out)  # fmt: skip
    assert bad.exit_code == 2
    assert (out / "results.json").read_bytes() == before


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "results.json"
    target.write_text("old")

    def fail(tmp: Path) -> None:
        tmp.write_text("half of the new")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, fail)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_console_script_errors_have_no_traceback(tmp_path):
    afterfit_bin = Path(sys.executable).parent / "afterfit"
    proc = subprocess.run(
        [str(afterfit_bin), "evaluate", "--model", str(tmp_path / "m.pkl"), "--data",
         str(tmp_path / "d.csv"), "--target", "y"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "error:" in proc.stderr


def test_version_and_help():
    assert afterfit.__version__ in run("--version").output
    help_text = run("evaluate", "--help").output
    for option in ("--model", "--predictions", "--trust", "--trusted-type", "--ci"):
        assert option in help_text


def test_warnings_are_one_clean_line_each(tmp_path):
    frame = pd.DataFrame({"y": [0, 1] * 3 + [0] * 6, "p": np.linspace(0.05, 0.95, 12)})
    frame.to_csv(tmp_path / "p.csv", index=False)
    args = ["evaluate", "--predictions", tmp_path / "p.csv", "--target", "y", "--score",
            "p", "--out", tmp_path / "out", "--no-stratify", "--n-resamples", "200",
            "--no-figures"]  # fmt: skip
    result = run(*args)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert lines and any("resamples gave no value" in line for line in lines)
    assert "AfterfitWarning" not in result.output
    assert len(lines) == len(set(lines))
    quiet = run(*args, "--quiet")
    assert quiet.exit_code == 0 and "warning:" not in quiet.output


def test_a_model_that_fails_on_the_data_is_a_clear_error(binary_files, tmp_path):
    test = pd.read_parquet(binary_files["data"])
    column = test.columns[0]
    test[column] = "not a number"
    test.to_parquet(tmp_path / "text.parquet")
    result = run("evaluate", "--model", binary_files["model"], "--data",
                 tmp_path / "text.parquet", "--target", "target", "--out", tmp_path / "o",
                 "--ci", "none")  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "error:" in result.output and "Fix:" in result.output


def test_a_wrong_weight_column_is_named_as_the_weight(tmp_path):
    # it was reported as "The columns to drop 'nope' ... (--drop NAME)"
    import skops.io as sio
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    frame = load_breast_cancer(as_frame=True).frame.iloc[:200]
    X, y = frame.drop(columns="target"), frame["target"]
    sio.dump(LogisticRegression(max_iter=3000).fit(X, y), tmp_path / "m.skops")
    frame.to_parquet(tmp_path / "d.parquet", index=False)
    result = CliRunner().invoke(app, ["evaluate", "--model", str(tmp_path / "m.skops"),
                                      "--data", str(tmp_path / "d.parquet"), "--target",
                                      "target", "--weight", "nope", "--out",
                                      str(tmp_path / "o")])  # fmt: skip
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "The weight column 'nope'" in text and "--weight NAME" in text and "--drop" not in text
