"""Issue 15 item 3: out-of-fold files keep models apart.

``afterfit cv --compare`` writes one block of rows per model (``model`` column); threshold,
evaluate and calibrate refuse such a file unless told which model; compare takes it
directly. Oracles: the same commands on the one model's rows cut out by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import skops.io as sio
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from typer.testing import CliRunner

from afterfit.cli import app
from afterfit.errors import InvalidInputError
from afterfit.selection.cv_files import model_names, model_rows, oof_predictions_by_model
from afterfit.thresholds import select_threshold_predictions

runner = CliRunner()


def cli(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def oof(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("oof")
    X, y = make_classification(n_samples=400, n_features=5, weights=[0.8], random_state=2)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)]).assign(y=y)
    frame.to_parquet(d / "train.parquet", index=False)
    Xf = frame.drop(columns="y")
    sio.dump(LogisticRegression().fit(Xf, y), d / "lr.skops")
    sio.dump(LinearSVC().fit(Xf, y), d / "svc.skops")
    res = cli("cv", "--model", d / "lr.skops", "--data", d / "train.parquet", "--target", "y",
              "--compare", f"svc={d / 'svc.skops'}", "--folds", 3, "--n-jobs", 1,
              "--backend", "threads", "--no-figures", "--quiet", "--out", d / "cv")  # fmt: skip
    assert res.exit_code == 0, res.output
    return {"dir": d, "oof": d / "cv" / "oof.parquet", "train": d / "train.parquet",
            "lr": d / "lr.skops"}  # fmt: skip


def test_cv_compare_keeps_models_apart(oof):
    table = pd.read_parquet(oof["oof"])
    assert model_names(table) == ["lr", "svc"]
    assert (table.groupby("model").size() == 400).all()
    # one model's probabilities, the other's decision scores: pooling would mix them
    assert table.loc[table["model"] == "lr", "score_1"].between(0, 1).all()
    assert (table.loc[table["model"] == "svc", "score_1"] < 0).any()


@pytest.mark.parametrize("command", ["threshold", "evaluate"])
def test_multi_model_file_is_refused_without_model_name(oof, tmp_path, command):
    res = cli(command, "--predictions", oof["oof"], "--target", "y_true", "--score", "score_1",
              "--out", tmp_path / "o")  # fmt: skip
    assert res.exit_code == 2, res.output
    assert "2 models" in res.output and "--model-name" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_threshold_with_model_name_uses_that_model_only(oof, tmp_path):
    res = cli("threshold", "--predictions", oof["oof"], "--target", "y_true", "--score",
              "score_1", "--model-name", "svc", "--split", "oof", "--n-resamples", 0,
              "--out", tmp_path / "t")  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "t" / "threshold.json").read_text())
    table = pd.read_parquet(oof["oof"])
    svc = table[table["model"] == "svc"]
    expected = select_threshold_predictions(svc["y_true"], svc["score_1"], n_resamples=0,
                                            split="oof")  # fmt: skip
    assert doc["threshold"]["threshold"] == pytest.approx(expected.threshold)
    assert doc["threshold"]["value"] == pytest.approx(expected.value)
    assert doc["source"]["model_name"] == "svc"
    pooled = select_threshold_predictions(table["y_true"], table["score_1"], n_resamples=0,
                                          scores_are_probabilities=False)  # fmt: skip
    assert pooled.threshold != pytest.approx(expected.threshold)


def test_evaluate_with_model_name(oof, tmp_path):
    from sklearn.metrics import roc_auc_score

    res = cli("evaluate", "--predictions", oof["oof"], "--target", "y_true", "--score",
              "score_1", "--model-name", "lr", "--ci", "none",
              "--out", tmp_path / "e")  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "e" / "results.json").read_text())
    auc = next(m for m in doc["evaluation"]["metrics"] if m["metric"] == "roc_auc")
    table = pd.read_parquet(oof["oof"])
    lr = table[table["model"] == "lr"]
    assert auc["value"] == pytest.approx(roc_auc_score(lr["y_true"], lr["score_1"]))


def test_unknown_model_name_names_the_models(oof, tmp_path):
    res = cli("threshold", "--predictions", oof["oof"], "--target", "y_true", "--score",
              "score_1", "--model-name", "rf", "--out", tmp_path / "t")  # fmt: skip
    assert res.exit_code == 2 and "lr, svc" in res.output


def test_model_name_on_a_single_model_file(tmp_path):
    frame = pd.DataFrame({"y": [0, 1, 0, 1], "s": [0.1, 0.9, 0.3, 0.6]})
    with pytest.raises(InvalidInputError, match="no 'model' column"):
        model_rows(frame, "lr", source="p.csv")
    assert model_rows(frame, None, source="p.csv") is None
    one = frame.assign(model="lr")
    assert model_rows(one, None, source="p.csv") is None  # one model: nothing to pick


def test_compare_takes_the_file_directly(oof, tmp_path):
    res = cli("compare", "--predictions", oof["oof"], "--target", "y_true",
              "--n-resamples", 100, "--out", tmp_path / "c", "--quiet")  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "c" / "comparison.json").read_text())
    assert set(doc["comparison"]["models"]) == {"lr", "svc"}
    table = pd.read_parquet(oof["oof"])
    preds = oof_predictions_by_model(table, table["y_true"], source="oof")
    assert preds["lr"].scores_are_probabilities and not preds["svc"].scores_are_probabilities
    assert preds["lr"].n == preds["svc"].n == 400


def test_compare_refuses_score_columns_on_a_multi_model_file(oof, tmp_path):
    res = cli("compare", "--predictions", oof["oof"], "--target", "y_true", "--score",
              "a=score_1", "--score", "b=score_0", "--out", tmp_path / "c")  # fmt: skip
    assert res.exit_code == 2 and "leave --score out" in res.output


def test_compare_refuses_models_on_other_rows(tmp_path):
    frame = pd.DataFrame({"model": ["a"] * 4 + ["b"] * 4, "row": [0, 1, 2, 3, 0, 1, 2, 4],
                          "y_true": [0, 1, 0, 1] * 2, "score_0": [.9, .1, .7, .4] * 2,
                          "score_1": [.1, .9, .3, .6] * 2})  # fmt: skip
    with pytest.raises(InvalidInputError, match="other rows"):
        oof_predictions_by_model(frame, frame["y_true"], source="x")


def test_calibrate_refuses_a_pooled_oof_file(oof, tmp_path):
    res = cli("calibrate", "--model", oof["lr"], "--data", oof["oof"], "--target", "y_true",
              "--out", tmp_path / "k")  # fmt: skip
    assert res.exit_code == 2, res.output
    assert "2 models" in res.output and "Traceback" not in res.output
