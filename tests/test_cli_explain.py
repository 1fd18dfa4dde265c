"""The `afterfit explain` command, end to end: files, summary, time budget, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import skops.io as sio
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.naive_bayes import GaussianNB
from typer.testing import CliRunner

from afterfit.cli import app
from afterfit.documents import SCHEMA_VERSION

runner = CliRunner()
TREE = "sklearn.tree._tree.Tree"  # a type skops asks the user to trust


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def text(result) -> str:
    return " ".join(result.output.split())


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("explain")
    frame = load_breast_cancer(as_frame=True).frame.sample(frac=1, random_state=0)
    frame = frame.reset_index(drop=True)
    train, test = frame.iloc[:400], frame.iloc[400:]
    model = RandomForestClassifier(n_estimators=15, max_depth=4, random_state=0)
    model.fit(train.drop(columns="target"), train["target"])
    sio.dump(model, d / "model.skops")
    train.to_parquet(d / "train.parquet", index=False)
    test.to_parquet(d / "test.parquet", index=False)
    iris = load_iris(as_frame=True).frame
    sio.dump(GaussianNB().fit(iris.drop(columns="target"), iris["target"]), d / "iris.skops")
    iris.to_csv(d / "iris.csv", index=False)
    (d / "broken.skops").write_bytes(b"this is not a model")
    return {"dir": d, "model": d / "model.skops", "train": d / "train.parquet",
            "test": d / "test.parquet", "iris_model": d / "iris.skops",
            "iris": d / "iris.csv", "broken": d / "broken.skops"}  # fmt: skip


@pytest.mark.slow
def test_writes_json_tables_figures(files, tmp_path):
    out = tmp_path / "expl"
    result = run("explain", "--model", files["model"], "--data", files["test"], "--target",
                 "target", "--train", files["train"], "--rows", "17,42", "--methods",
                 "permutation,shap,lime", "--n-repeats", "3", "--n-errors", "1",
                 "--n-uncertain", "1", "--n-random", "1", "--seed", "3", "--out", out,
                 "--trusted-type", TREE)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "mean |SHAP|" in result.output and "Explained rows" in result.output
    doc = json.loads((out / "explanations.json").read_text())
    assert doc["schema"] == "afterfit.explanations" and doc["schema_version"] == SCHEMA_VERSION
    assert doc["source"]["train"] == str(files["train"])
    ex = doc["explanations"]
    assert ex["methods"] == ["permutation", "shap", "lime"]
    assert ex["settings"]["random_state"] == 3
    rows = ex["local"]["rows"]
    assert [r["position"] for r in rows][:2] == [17, 42]
    assert [r["reason"] for r in rows] == ["user", "user", "confident error",
                                           "least confident", "random"]  # fmt: skip
    assert all(r["shap"]["additivity"]["within_tolerance"] for r in rows)
    assert all(r["agreement"] is not None for r in rows)
    assert ex["permutation"]["metric"] == "roc_auc"
    for name in ("importance", "permutation_importance", "shap_importance", "rows",
                 "agreement", "row_17"):  # fmt: skip
        assert (out / "tables" / f"{name}.csv").stat().st_size > 0
    for name in ("permutation_importance", "shap_beeswarm", "shap_dependence", "row_42"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 0
    importance = pd.read_csv(out / "tables" / "importance.csv")
    assert len(importance) == 30 and "mean_abs_shap" in importance


def test_time_budget_and_quiet(files, tmp_path):
    out = tmp_path / "expl"
    args = ("explain", "--model", files["iris_model"], "--data", files["iris"], "--target",
            "target", "--methods", "lime,anchors", "--time-budget", "0", "--no-figures",
            "--out", out)  # fmt: skip
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "skipped: lime on" in text(result) and "time budget" in text(result)
    # without --train, LIME samples from the data, and says so
    assert "sampled perturbations from the explained data" in text(result)
    ex = json.loads((out / "explanations.json").read_text())["explanations"]
    rows = ex["local"]["rows"]
    assert rows[0]["lime"] is not None and rows[0]["anchors"] is not None
    assert all(r["lime"] is None and r["anchors"] is None for r in rows[1:])
    assert len(ex["skipped"]) == 2 * (len(rows) - 1)
    assert all(s["reason"].startswith("time budget") for s in ex["skipped"])
    assert (out / "tables" / "skipped.csv").exists() and not (out / "figures").exists()
    quiet = run(*args[:-1], tmp_path / "quiet", "--quiet")
    assert quiet.exit_code == 0 and quiet.output == ""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--rows", "999"), "row 999 is out of range"),
        (("--rows", "abc"), "row label 'abc' is not in the data's index"),
        (("--methods", "shap,magic"), "unknown explanation method(s) 'magic'"),
        (("--time-budget", "-1"), "time_budget"),
    ],
)
def test_bad_options_exit_2_nothing_written(files, tmp_path, extra, message):
    out = tmp_path / "expl"
    result = run("explain", "--model", files["model"], "--data", files["test"], "--target",
                 "target", "--methods", "shap", "--out", out, "--trust", *extra)  # fmt: skip
    assert result.exit_code == 2, result.output
    assert message in text(result).lower()
    assert "Traceback" not in result.output
    assert not out.exists()


def test_missing_target_unreadable_model_missing_data(files, tmp_path):
    out = tmp_path / "expl"
    result = run("explain", "--model", files["model"], "--data", files["test"], "--target",
                 "label", "--out", out, "--trust")  # fmt: skip
    assert result.exit_code == 2 and "target column 'label'" in text(result)
    result = run("explain", "--model", files["broken"], "--data", files["test"], "--target",
                 "target", "--out", out)  # fmt: skip
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "error:" in result.output
    result = run("explain", "--model", files["model"], "--target", "target", "--out", out)
    assert result.exit_code == 2 and "needs --model and --data" in text(result)
    assert not out.exists()


def test_categorical_without_train_is_a_clear_error(files, tmp_path):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = load_iris(as_frame=True).frame
    frame["size"] = pd.cut(frame["petal length (cm)"], 3, labels=["s", "m", "l"]).astype(str)
    model = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["size"]), remainder="passthrough"),
        LogisticRegression(max_iter=500),
    ).fit(frame.drop(columns="target"), frame["target"])
    path = tmp_path / "cat.skops"
    sio.dump(model, path)
    frame.to_csv(tmp_path / "cat.csv", index=False)
    out = tmp_path / "expl"
    result = run("explain", "--model", path, "--data", tmp_path / "cat.csv", "--target",
                 "target", "--methods", "lime", "--out", out, "--trust")  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "categorical column(s) are 'size'" in text(result) and "--train" in text(result)
    assert not out.exists()


def test_backend_threads(files, tmp_path):
    out = tmp_path / "expl"
    result = run("explain", "--model", files["iris_model"], "--data", files["iris"], "--target",
                 "target", "--methods", "permutation", "--backend", "threads", "--no-figures",
                 "--out", out, "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    ex = json.loads((out / "explanations.json").read_text())["explanations"]
    assert ex["permutation"]["metric"] == "roc_auc_ovr_macro"
    assert ex["local"]["rows"] == []


@pytest.mark.slow
def test_backend_dask_local_cluster_same_numbers(files, tmp_path):
    distributed = pytest.importorskip("distributed")
    common = ("explain", "--model", files["model"], "--data", files["test"], "--target",
              "target", "--methods", "permutation", "--n-repeats", "3", "--no-figures",
              "--quiet", "--trusted-type", TREE)  # fmt: skip
    local = run(*common, "--out", tmp_path / "local")
    assert local.exit_code == 0, local.output
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:  # fmt: skip
        result = run(*common, "--backend", "dask", "--scheduler", cluster.scheduler_address,
                     "--out", tmp_path / "dask")  # fmt: skip
    assert result.exit_code == 0, result.output

    def importances(folder):
        doc = json.loads((folder / "explanations.json").read_text())
        return {
            f["feature"]: f["importance"] for f in doc["explanations"]["permutation"]["features"]
        }

    assert importances(tmp_path / "dask") == importances(tmp_path / "local")
    bad = run(*common, "--backend", "dask", "--scheduler", "tcp://127.0.0.1:1",
              "--out", tmp_path / "bad")  # fmt: skip
    assert bad.exit_code == 2 and "Dask scheduler" in text(bad)
    assert not (tmp_path / "bad").exists()
