"""The `afterfit compare` command end to end: files written, numbers as the Python API,
bad input with exit code 2 and no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from typer.testing import CliRunner

import afterfit
from afterfit.cli import app
from afterfit.comparison.results import FRAME_COLUMNS
from afterfit.documents import SCHEMA_VERSION

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("compare")
    frame = load_breast_cancer(as_frame=True).frame
    train, test = frame.iloc[::2], frame.iloc[1::2]
    X, y = train.drop(columns="target"), train["target"]
    logit = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)
    tree = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
    other = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, np.where(y, "b", "m"))
    sio.dump(logit, d / "logit.skops")
    sio.dump(tree, d / "tree.skops")
    sio.dump(other, d / "other.skops")
    test.to_parquet(d / "test.parquet", index=False)
    Xt = test.drop(columns="target")
    preds = pd.DataFrame(
        {
            "y": test["target"].to_numpy(),
            "p_logit": logit.predict_proba(Xt)[:, 1],
            "p_tree": tree.predict_proba(Xt)[:, 1],
        }
    )
    preds.to_csv(d / "preds.csv", index=False)
    return {"dir": d, "logit": logit, "tree": tree, "test": test}


def test_compare_models_writes_json_tables_figures(files, tmp_path):
    d, out = files["dir"], tmp_path / "out"
    result = run("compare", "--model", d / "logit.skops", "--model", f"stump={d / 'tree.skops'}",
                 "--data", d / "test.parquet", "--target", "target", "--out", out,
                 "--n-resamples", "200", "--trust")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "delong" in result.output and "better than" in result.output
    doc = json.loads((out / "comparison.json").read_text())
    assert doc["schema"] == "afterfit.comparison" and doc["schema_version"] == SCHEMA_VERSION
    assert doc["source"]["models"] == {"logit": str(d / "logit.skops"),
                                       "stump": str(d / "tree.skops")}  # fmt: skip
    c = doc["comparison"]
    assert c["models"] == ["logit", "stump"] and c["task"] == "binary"
    assert {"model_a", "model_b", "metric", "difference", "ci_low", "ci_high", "p_value",
            "p_holm", "test", "verdict", "sentence"} <= set(c["comparisons"][0])  # fmt: skip
    table = pd.read_csv(out / "tables" / "comparison.csv")
    assert list(table.columns) == FRAME_COLUMNS
    for name in ("comparison", "comparison_differences"):
        assert (out / "figures" / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    # The command computes what the Python API computes.
    test = files["test"]
    cmp = afterfit.compare_models({"logit": files["logit"], "stump": files["tree"]},
                                  test.drop(columns="target"), test["target"], n_resamples=200,
                                  random_state=0)  # fmt: skip
    for row, ref in zip(c["comparisons"], cmp.rows, strict=True):
        assert row["metric"] == ref.metric
        assert row["difference"] == pytest.approx(ref.difference, abs=1e-12)
        assert row["p_holm"] == pytest.approx(ref.p_holm, abs=1e-12)
        assert row["verdict"] == ref.verdict


def test_compare_saved_predictions(files, tmp_path):
    d = files["dir"]
    result = run("compare", "--predictions", d / "preds.csv", "--target", "y",
                 "--score", "logit=p_logit", "--score", "tree=p_tree", "--metric", "roc_auc",
                 "--metric", "accuracy", "--threshold", "tree=0.4", "--out", tmp_path,
                 "--n-resamples", "100", "--no-figures")  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "comparison.json").read_text())["comparison"]
    assert doc["settings"]["metrics"] == ["roc_auc", "accuracy"]
    assert doc["thresholds"] == {"logit": 0.5, "tree": 0.4}
    assert not (tmp_path / "figures").exists()


def test_compare_multiclass_and_regression_predictions(tmp_path):
    rng = np.random.default_rng(0)
    n = 150
    y = rng.choice(["x", "y", "z"], n)
    cols = {}
    for model, sharp in (("a", 1.0), ("b", 2.0)):
        logits = rng.normal(size=(n, 3))
        logits[np.arange(n), pd.Index(["x", "y", "z"]).get_indexer(y)] += sharp
        p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        for k, c in enumerate("xyz"):
            cols[f"{model}_{c}"] = p[:, k]
    pd.DataFrame({"label": y, **cols}).to_parquet(tmp_path / "multi.parquet")
    result = run("compare", "--predictions", tmp_path / "multi.parquet", "--target", "label",
                 "--score", "a=a_x,a_y,a_z", "--score", "b=b_x,b_y,b_z", "--classes", "x,y,z",
                 "--out", tmp_path / "m", "--n-resamples", "100", "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output == ""
    doc = json.loads((tmp_path / "m" / "comparison.json").read_text())["comparison"]
    assert doc["task"] == "multiclass" and doc["classes"] == ["x", "y", "z"]
    assert any(r["verdict"] == "b better" for r in doc["comparisons"])

    target = rng.normal(size=n)
    frame = pd.DataFrame({"t": target, "p1": target + rng.normal(size=n),
                          "p2": target + rng.normal(scale=0.5, size=n)})  # fmt: skip
    frame.to_csv(tmp_path / "reg.csv", index=False)
    result = run("compare", "--predictions", tmp_path / "reg.csv", "--target", "t",
                 "--score", "p1", "--score", "p2", "--out", tmp_path / "r",
                 "--n-resamples", "100", "--tests", "bootstrap", "--family", "all")  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "r" / "comparison.json").read_text())["comparison"]
    assert doc["task"] == "regression" and doc["models"] == ["p1", "p2"]
    assert {r["test"] for r in doc["comparisons"]} == {"paired bootstrap"}


@pytest.mark.parametrize(
    "args, words",
    [
        (["--model", "{d}/logit.skops", "--data", "{d}/test.parquet"], ["at least two models"]),
        (["--model", "{d}/logit.skops", "--model", "{d}/other.skops", "--data",
          "{d}/test.parquet"], ["different classes"]),
        (["--model", "{d}/logit.skops", "--model", "{d}/tree.skops", "--data",
          "{d}/test.parquet", "--baseline", "forest"], ["baseline", "forest"]),
        (["--model", "{d}/logit.skops", "--model", "{d}/tree.skops", "--data",
          "{d}/test.parquet", "--predictions", "{d}/preds.csv"], ["either --model"]),
        (["--model", "{d}/logit.skops", "--model", "{d}/tree.skops"], ["--data"]),
        (["--model", "{d}/logit.skops", "--model", "x={d}/logit.skops", "--model",
          "{d}/logit.skops", "--data", "{d}/test.parquet"], ["two models are named"]),
        (["--predictions", "{d}/preds.csv", "--score", "a=p_logit", "--score", "b=nope"],
         ["nope", "not in"]),
        (["--predictions", "{d}/preds.csv", "--score", "=p_logit", "--score", "b=p_tree"],
         ["NAME=VALUE"]),
        (["--predictions", "{d}/preds.csv", "--score", "a=p_logit", "--score", "b=p_tree",
          "--metric", "mae"], ["mae"]),
        (["--predictions", "{d}/preds.csv", "--score", "a=p_logit", "--score", "b=p_tree",
          "--threshold", "c=0.3"], ["unknown model"]),
        (["--predictions", "{d}/preds.csv", "--score", "a=p_logit"], ["at least two models"]),
    ],
)  # fmt: skip
def test_compare_bad_input_exit_2_without_traceback(files, tmp_path, args, words):
    d = files["dir"]
    target = "y" if "--predictions" in args and "--model" not in args else "target"
    argv = ["compare", *[a.format(d=d) for a in args], "--target", target,
            "--out", tmp_path / "out", "--trust", "--n-resamples", "20"]  # fmt: skip
    result = run(*argv)
    assert result.exit_code == 2, result.output
    text = result.output
    assert "Traceback" not in text
    assert "error:" in text and "Fix:" in text, text
    for word in words:
        assert word.lower() in text.lower(), (word, text)
    assert not (tmp_path / "out" / "comparison.json").exists()
