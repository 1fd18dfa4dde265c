"""Issue 18, item 1: native XGBoost/LightGBM boosters and decision-score models go to
ONNX with the parity check; what cannot says why and what loading it needs; messages
that make sense per task (no decision agreement for regression, no nan%, integer counts).

The oracle of every parity check is the original library's own prediction on the same
rows (``Booster.predict``/``inplace_predict``, ``decision_function``, ``predict_proba``).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import LinearSVC
from typer.testing import CliRunner

from afterfit.bundle.core import build_bundle, load_bundle
from afterfit.cli import app
from afterfit.exporters.core import export_model
from afterfit.models import load_model
from afterfit.models.onnx import OnnxModel

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")

runner = CliRunner()
N = 300


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(18)
    X = pd.DataFrame(rng.normal(size=(N, 5)), columns=["a", "b", "c", "d", "e"])
    z = X["a"] - 0.7 * X["b"] + 0.5 * X["c"] * X["d"] + rng.normal(0, 0.5, N)
    y_bin = (z > 0).astype(int).to_numpy()
    y_multi = np.digitize(z, [-0.7, 0.7])  # 3 classes
    y_reg = (3 * z + 10).to_numpy()
    return X, y_bin, y_multi, y_reg


def _onnx_scores(path, X) -> np.ndarray:
    return OnnxModel(path).predict_scores(X)


# --- XGBoost -------------------------------------------------------------------------------


XGB_CASES = [
    ("binary:logistic", "bin", {}),
    ("multi:softprob", "multi", {"num_class": 3}),
    ("reg:squarederror", "reg", {}),
    ("count:poisson", "count", {}),
]


@pytest.mark.parametrize(("objective", "target", "extra"), XGB_CASES)
def test_xgboost_booster_from_train_exports_with_parity(data, tmp_path, objective, target, extra):
    X, y_bin, y_multi, y_reg = data
    y = {"bin": y_bin, "multi": y_multi, "reg": y_reg, "count": np.round(np.abs(y_reg))}[target]
    booster = xgb.train({"objective": objective, "max_depth": 3, **extra},
                        xgb.DMatrix(X, label=y), num_boost_round=25)  # fmt: skip
    res = export_model(booster, X, path=tmp_path / "m.onnx")
    assert res.format == "onnx", res.reason
    assert res.converter == "onnxmltools" and res.precision == "float32"
    assert res.parity.passed
    # Oracle: xgboost's own prediction.
    ref = booster.predict(xgb.DMatrix(X))
    got = _onnx_scores(res.path, X)
    if target in ("reg", "count"):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
        assert res.parity.label_agreement is None
    else:
        ref = np.column_stack([1 - ref, ref]) if ref.ndim == 1 else ref
        np.testing.assert_allclose(got, ref, atol=1e-5)
        assert res.parity.label_agreement == 1.0
        labels = OnnxModel(res.path).predict(X)
        np.testing.assert_array_equal(labels, ref.argmax(axis=1))


@pytest.mark.parametrize("suffix", [".json", ".ubj"])
def test_xgboost_booster_files_export_with_feature_names(data, tmp_path, suffix):
    X, y_bin, _, _ = data
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(X, label=y_bin), 15)
    path = tmp_path / f"model{suffix}"
    booster.save_model(path)
    model = load_model(path)
    assert model.feature_names == list(X.columns)
    # Columns in another order: the export puts them in the booster's order.
    res = export_model(model, X[["e", "d", "c", "b", "a"]], path=tmp_path / "m.onnx")
    assert res.format == "onnx" and res.parity.passed, res.reason
    onnx_model = OnnxModel(res.path)
    assert onnx_model.feature_names == list(X.columns)
    np.testing.assert_allclose(
        onnx_model.predict_scores(X)[:, 1], booster.predict(xgb.DMatrix(X)), atol=1e-5
    )


def test_xgboost_booster_without_feature_names(data, tmp_path):
    X, _, y_multi, _ = data
    booster = xgb.train({"objective": "multi:softprob", "num_class": 3},
                        xgb.DMatrix(X.to_numpy(), label=y_multi), 10)  # fmt: skip
    assert booster.feature_names is None
    res = export_model(booster, X, path=tmp_path / "m.onnx")
    assert res.format == "onnx" and res.parity.passed, res.reason
    np.testing.assert_allclose(
        _onnx_scores(res.path, X), booster.predict(xgb.DMatrix(X.to_numpy())), atol=1e-5
    )


def test_xgboost_objective_converted_differently_falls_back_with_reason(data, tmp_path):
    X, _, y_multi, _ = data
    # multi:softmax predicts labels; the ONNX graph gives another score: parity misses,
    # so the file is skops and the reason names the difference, not a silent fallback.
    booster = xgb.train({"objective": "multi:softmax", "num_class": 3},
                        xgb.DMatrix(X, label=y_multi), 10)  # fmt: skip
    res = export_model(booster, X, path=tmp_path / "m.onnx")
    assert res.format == "skops" and res.fell_back
    assert "differs from the original" in res.reason
    assert "xgboost.core.Booster" in res.trusted_types
    assert not (tmp_path / "m.onnx").exists()


# --- LightGBM ------------------------------------------------------------------------------


LGB_CASES = [
    ("binary", "bin", 20),
    ("multiclass", "multi", 20),
    ("regression", "reg", 20),
    ("regression", "reg", 150),  # more than one group of 100 trees summed in double
]


@pytest.mark.parametrize(("objective", "target", "rounds"), LGB_CASES)
def test_lightgbm_booster_text_file_exports_with_parity(data, tmp_path, objective, target, rounds):
    X, y_bin, y_multi, y_reg = data
    y = {"bin": y_bin, "multi": y_multi, "reg": y_reg}[target]
    params = {"objective": objective, "verbose": -1, "num_leaves": 7, "num_threads": 1}
    if objective == "multiclass":
        params["num_class"] = 3
    booster = lgb.train(params, lgb.Dataset(X, label=y), num_boost_round=rounds)
    path = tmp_path / "model.txt"
    booster.save_model(path)
    model = load_model(path)
    res = export_model(model, X, path=tmp_path / "m.onnx")
    assert res.format == "onnx", res.reason
    assert res.parity.passed and res.parity.n_rows == N
    ref = booster.predict(X)
    got = _onnx_scores(res.path, X)
    if target == "reg":
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    else:
        ref = np.column_stack([1 - ref, ref]) if ref.ndim == 1 else ref
        np.testing.assert_allclose(got, ref, atol=1e-5)
        np.testing.assert_array_equal(OnnxModel(res.path).predict(X), ref.argmax(axis=1))


# --- decision-score models -----------------------------------------------------------------


@pytest.mark.parametrize("target", ["bin", "multi"])
@pytest.mark.parametrize("wrap", ["bare", "pipeline", "column_transformer"])
def test_linear_svc_and_pipelines_export_decision_scores(data, tmp_path, target, wrap):
    X, y_bin, y_multi, _ = data
    y = y_bin if target == "bin" else y_multi
    Xw = X.assign(plan=np.where(X["e"] > 0, "pro", "basic"))
    if wrap == "bare":
        model, rows = LinearSVC().fit(X, y), X
    elif wrap == "pipeline":
        model, rows = make_pipeline(StandardScaler(), LinearSVC()).fit(X, y), X
    else:
        ct = ColumnTransformer(
            [("num", StandardScaler(), ["a", "b", "c", "d"]), ("cat", OneHotEncoder(), ["plan"])]
        )
        model, rows = make_pipeline(ct, LinearSVC()).fit(Xw, y), Xw
    res = export_model(model, rows, path=tmp_path / "svc.onnx")
    assert res.format == "onnx", res.reason
    assert res.parity.output == "scores" and res.parity.passed
    dec = model.decision_function(rows)
    ref = np.column_stack([-dec, dec]) if dec.ndim == 1 else dec
    np.testing.assert_allclose(_onnx_scores(res.path, rows), ref, atol=1e-5)
    np.testing.assert_array_equal(OnnxModel(res.path).predict(rows), model.predict(rows))


def test_calibrated_linear_svc_exports_probabilities(data, tmp_path):
    X, y_bin, _, _ = data
    model = CalibratedClassifierCV(LinearSVC(), cv=3).fit(X, y_bin)
    res = export_model(model, X, path=tmp_path / "cal.onnx")
    assert res.format == "onnx" and res.parity.output == "probabilities", res.reason
    np.testing.assert_allclose(_onnx_scores(res.path, X), model.predict_proba(X), atol=1e-5)


# --- bundles -------------------------------------------------------------------------------


def test_bundle_of_a_native_booster_is_onnx_and_loads_without_trust(data, tmp_path):
    X, y_bin, _, _ = data
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(X, label=y_bin), 10)
    path = tmp_path / "model.json"
    booster.save_model(path)
    bundle = build_bundle(load_model(path), X, y_bin, out=tmp_path / "b", name="churn",
                          version="1.0")  # fmt: skip
    m = bundle.manifest
    assert m["model_format"] == "onnx" and m["trusted_types"] == []
    assert m["export"]["converter"] == "onnxmltools"
    again = load_bundle(tmp_path / "b")  # no trusted types needed
    np.testing.assert_allclose(
        again.model.predict_scores(X)[:, 1], booster.predict(xgb.DMatrix(X)), atol=1e-5
    )


def test_bundle_that_falls_back_says_what_loading_needs(data, tmp_path):
    X, _, y_multi, _ = data
    booster = xgb.train({"objective": "multi:softmax", "num_class": 3},
                        xgb.DMatrix(X, label=y_multi), 5)  # fmt: skip
    path = tmp_path / "model.json"
    booster.save_model(path)
    out = tmp_path / "churn-1.0"
    data_path = tmp_path / "train.parquet"
    X.assign(y=y_multi).to_parquet(data_path, index=False)
    result = runner.invoke(app, ["bundle", "--model", str(path), "--data", str(data_path),
                                 "--target", "y", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "Stored with skops rather than ONNX" in said and "differs from the original" in said
    assert "--trusted-type xgboost.core.Booster" in said
    card = (out / "MODEL_CARD.md").read_text()
    assert "--trusted-type xgboost.core.Booster" in " ".join(card.split())


def test_regression_bundle_reports_no_decision_agreement(data, tmp_path):
    X, _, _, y_reg = data
    booster = lgb.train({"objective": "regression", "verbose": -1, "num_threads": 1},
                        lgb.Dataset(X, label=y_reg), 20)  # fmt: skip
    path = tmp_path / "model.txt"
    booster.save_model(path)
    data_path = tmp_path / "train.parquet"
    X.assign(y=y_reg).to_parquet(data_path, index=False)
    out = tmp_path / "churn-1.0"
    result = runner.invoke(app, ["bundle", "--model", str(path), "--data", str(data_path),
                                 "--target", "y", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "decisions agree" not in said and "Bundle parity on 300 rows" in said
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["bundle_parity"]["decision_agreement"] is None
    assert manifest["model_format"] == "onnx"
    assert "decisions agree" not in (out / "MODEL_CARD.md").read_text()


def test_classification_bundle_still_reports_decision_agreement(data, tmp_path):
    X, y_bin, _, _ = data
    model = make_pipeline(StandardScaler(), LinearSVC()).fit(X, y_bin)
    bundle = build_bundle(model, X, y_bin, out=tmp_path / "b", name="svc", version="2")
    assert bundle.manifest["model_format"] == "onnx"
    assert bundle.manifest["bundle_parity"]["decision_agreement"] == 1.0


# --- the export table ----------------------------------------------------------------------


def test_export_table_has_integer_rows_and_no_nan(data, tmp_path):
    X, _, _, y_reg = data
    big = pd.concat([X] * 100, ignore_index=True)  # 30,000 rows: printed as 30,000
    booster = lgb.train({"objective": "regression", "verbose": -1, "num_threads": 1},
                        lgb.Dataset(X, label=y_reg), 10)  # fmt: skip
    path = tmp_path / "model.txt"
    booster.save_model(path)
    data_path = tmp_path / "valid.parquet"
    big.assign(y=np.tile(y_reg, 100)).to_parquet(data_path, index=False)
    out = tmp_path / "m.onnx"
    result = runner.invoke(app, ["export", "--model", str(path), "--data", str(data_path),
                                 "--target", "y", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "30,000" in said and "3e+04" not in said
    assert "nan" not in said.lower()
    assert "onnxmltools" in said


# --- ensembles: a member without probabilities gets no log loss ----------------------------


def test_stacking_member_without_probabilities_has_no_log_loss(data):
    from sklearn.linear_model import LogisticRegression

    from afterfit.selection.ensemble import build_ensemble

    X, y_bin, _, _ = data
    svc, lr = LinearSVC().fit(X, y_bin), LogisticRegression().fit(X, y_bin)
    res = build_ensemble({"svc": svc, "lr": lr}, X, y_bin, method="stacking",
                         metric="log_loss", n_resamples=50)  # fmt: skip
    values = dict(zip(res.members["member"], res.members["selection_value"], strict=True))
    assert np.isnan(values["svc"]) and np.isfinite(values["lr"])
    assert res.selection["best_single"] == "lr"
    assert any("svc" in n and "log_loss" in n for n in res.selection["notes"])
    doc = res.to_dict()
    json.dumps(doc, allow_nan=False)
    # Accuracy needs no probabilities: the member keeps its value.
    acc = build_ensemble({"svc": svc, "lr": lr}, X, y_bin, method="stacking",
                         metric="accuracy", n_resamples=50)  # fmt: skip
    assert acc.members["selection_value"].notna().all() and acc.selection["notes"] == []


def test_lightgbm_categorical_splits_convert_and_xgboost_ones_say_why(tmp_path):
    rng = np.random.default_rng(1)
    n = 600
    X = pd.DataFrame({"c": rng.integers(0, 8, n).astype(float), "x": rng.normal(size=n)})
    y = (X["c"].isin([1, 3, 6]) ^ (X["x"] > 1)).astype(int)
    booster = lgb.train({"objective": "binary", "verbose": -1, "min_data_per_group": 5,
                         "cat_smooth": 1, "num_threads": 1},
                        lgb.Dataset(X, label=y, categorical_feature=["c"]), 20)  # fmt: skip
    assert "cat_threshold" in booster.model_to_string()  # real categorical splits
    res = export_model(booster, X, path=tmp_path / "cat.onnx")
    assert res.format == "onnx" and res.parity.passed, res.reason
    np.testing.assert_allclose(_onnx_scores(res.path, X)[:, 1], booster.predict(X), atol=1e-5)
    # XGBoost's categorical splits: no converter; the reason says so plainly.
    Xc = X.assign(c=pd.Categorical(X["c"].astype(int).astype(str)))
    xb = xgb.train({"objective": "binary:logistic"},
                   xgb.DMatrix(Xc, label=y, enable_categorical=True), 5)  # fmt: skip
    res = export_model(xb, Xc, path=tmp_path / "xcat.onnx")
    assert res.format == "skops" and "categorical splits" in res.reason
    assert res.trusted_types == ("xgboost.core.Booster",)
