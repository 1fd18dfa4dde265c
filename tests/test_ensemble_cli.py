"""``afterfit ensemble``: report folder, saved model, bad input exits 2 with nothing written."""

from __future__ import annotations

import json

import numpy as np
import pytest
import skops.io as sio
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from typer.testing import CliRunner

from afterfit.cli import app
from afterfit.models import load_model

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, ["ensemble", *[str(a) for a in args]], catch_exceptions=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from skl2onnx import to_onnx

    d = tmp_path_factory.mktemp("ensemble")
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X.columns = [c.replace(" ", "_") for c in X.columns]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    X, y = X.iloc[order].reset_index(drop=True), y.iloc[order].reset_index(drop=True)
    frame = X.assign(y=y)
    frame[:250].to_parquet(d / "train.parquet")
    frame[250:420].to_parquet(d / "valid.parquet")
    frame[420:].to_parquet(d / "test.parquet")
    X_tr, y_tr = X[:250], y[:250]
    lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X_tr, y_tr)
    sio.dump(lr, d / "a.skops")
    sio.dump(GaussianNB().fit(X_tr, y_tr), d / "b.skops")
    tree = DecisionTreeClassifier(max_depth=4, random_state=0)
    tree.fit(X_tr.to_numpy(np.float32), y_tr)
    proto = to_onnx(tree, X_tr[:1].to_numpy(np.float32), options={"zipmap": False})
    (d / "c.onnx").write_bytes(proto.SerializeToString())
    sio.dump(GaussianNB().fit(X_tr.iloc[:, :10], y_tr), d / "narrow.skops")
    sio.dump(GaussianNB().fit(X_tr, y_tr), d / "base.skops")
    return d


def test_post_hoc_with_onnx_member_test_rows_and_saved_model(files, tmp_path):
    out, saved = tmp_path / "out", tmp_path / "ensemble.skops"
    r = _run("--model", files / "a.skops", "--model", files / "b.skops",
             "--model", f"tree={files / 'c.onnx'}", "--data", files / "valid.parquet",
             "--target", "y", "--test", files / "test.parquet", "--out", out,
             "--save-model", saved, "--n-resamples", 200, "--no-figures")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "positive = ensemble better" in r.output
    doc = json.loads((out / "results.json").read_text())
    ens = doc["ensemble"]
    assert ens["method"] == "greedy" and ens["metric"] == "log_loss"
    assert [m["member"] for m in ens["members"]] == ["a", "b", "tree"]
    assert sum(m["weight"] for m in ens["members"]) == pytest.approx(1.0)
    assert ens["gain"]["evaluated_on"] == "test" and ens["gain"]["n_rows"] == 149
    assert ens["curve"][ens["best_step"]] == min(ens["curve"])
    assert doc["comparison"]["models"] == ["best_single", "ensemble"]
    html = (out / "index.html").read_text()
    for text in ("Ensemble", "Members and weights", "Selection curve", "Gain over the best"):
        assert text in html
    for table in ("ensemble-members", "ensemble-gain-table", "ensemble-curve-table"):
        assert (out / "tables" / f"{table}.csv").exists()
    model = load_model(saved)  # no --trust: afterfit's own classes, sklearn members
    import pandas as pd

    test = pd.read_parquet(files / "test.parquet")
    scores = model.predict_scores(test.drop(columns="y"))
    assert scores.shape == (149, 2)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0)


def test_cross_fitted_gain_and_stacking(files, tmp_path):
    out = tmp_path / "out"
    r = _run("--model", files / "a.skops", "--model", files / "b.skops", "--data",
             files / "valid.parquet", "--target", "y", "--method", "weights", "--out", out,
             "--n-resamples", 200, "-q")  # fmt: skip
    assert r.exit_code == 0, r.output
    for name in ("ensemble-weights", "ensemble-gain", "comparison-models"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 1000
    doc = json.loads((out / "results.json").read_text())
    assert doc["ensemble"]["gain"]["evaluated_on"] == "cross-fitted validation"
    assert doc["ensemble"]["gain"]["n_rows"] == 170


def test_bagging_from_training_data(files, tmp_path):
    out = tmp_path / "out"
    r = _run("--train", files / "train.parquet", "--base", files / "base.skops", "--target",
             "y", "--method", "bagging", "--n-estimators", 5, "--test", files / "test.parquet",
             "--out", out, "--n-resamples", 200, "--no-figures", "-q",
             "--save-model", tmp_path / "bag.skops")  # fmt: skip
    assert r.exit_code == 0, r.output
    doc = json.loads((out / "results.json").read_text())
    assert doc["ensemble"]["method"] == "bagging"
    assert doc["ensemble"]["gain"]["evaluated_on"] == "test"
    assert load_model(tmp_path / "bag.skops").task == "binary"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "a.skops", "--model", "narrow.skops", "--data", "valid.parquet"],
         "different feature sets"),
        (["--model", "a.skops", "--model", "b.skops", "--data", "valid.parquet",
          "--train", "train.parquet"], "not both"),
        (["--model", "a.skops", "--model", "b.skops", "--data", "valid.parquet",
          "--method", "bagging"], "needs --train"),
        (["--model", "a.skops", "--model", "b.skops"], "needs --data"),
        (["--model", "a.skops", "--data", "valid.parquet"], "at least two"),
        (["--model", "a.skops", "--model", "b.skops", "--data", "valid.parquet",
          "--metric", "rmse"], "metric 'rmse'"),
        (["--model", "a.skops", "--model", "b.skops", "--data", "valid.parquet",
          "--save-model", "ens.pkl"], "must end in .skops"),
        (["--train", "train.parquet", "--base", "base.skops", "--method", "greedy"],
         "combines trained models"),
        (["--train", "train.parquet"], "needs --base"),
        (["--model", "a.skops", "--model", "b.skops", "--data", "valid.parquet",
          "--folds", "1"], "folds"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_and_writes_nothing(files, tmp_path, args, message):
    out = tmp_path / "out"
    full = [files / a if str(a).endswith((".skops", ".parquet", ".onnx")) and "ens.pkl" != a
            else a for a in args]  # fmt: skip
    r = _run(*full, "--target", "y", "--out", out, "--n-resamples", 50)
    assert r.exit_code == 2, r.output
    assert message in r.output.replace("\n", " ")
    assert "Traceback" not in r.output
    assert not out.exists()
