"""Safe loading of model files (load_model) and wrapping of in-memory models (as_model)."""

from __future__ import annotations

import os
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from afterfit.errors import ModelError, ModelLoadError, UntrustedModelError
from afterfit.models import (
    LightGBMModel,
    OnnxModel,
    SklearnModel,
    TorchModel,
    XGBoostModel,
    as_model,
    load_model,
)


class ClippedLogisticRegression(LogisticRegression):
    """A custom estimator type: skops does not trust it by default."""


class MarkerPayload:
    """Unpickling this object creates a directory: proof that unpickling ran code."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


@pytest.fixture(scope="module")
def cancer() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y.to_numpy()


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, y.to_numpy()


@pytest.fixture(scope="module")
def diabetes() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return X, y.to_numpy()


@pytest.fixture(scope="module")
def pipeline(cancer):
    X, y = cancer
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)


# --- pickle / joblib -----------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".pkl", ".pickle", ".joblib"])
def test_pickle_without_trust_is_refused(tmp_path, pipeline, suffix):
    path = tmp_path / f"model{suffix}"
    joblib.dump(pipeline, path)
    with pytest.raises(UntrustedModelError) as info:
        load_model(path)
    message = str(info.value)
    assert "arbitrary code" in message
    assert "--trust" in message
    assert ".skops" in message and ".onnx" in message
    assert str(path) in message


def test_pickle_without_trust_runs_no_code(tmp_path):
    marker = tmp_path / "unpickling-ran-code"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(MarkerPayload(str(marker))))
    with pytest.raises(UntrustedModelError):
        load_model(path)
    assert not marker.exists()
    # The payload is real: with trust, unpickling runs it (and the result is no model).
    with pytest.raises(ModelError, match="NoneType"):
        load_model(path, trust=True)
    assert marker.exists()


def test_pickle_and_joblib_load_with_trust(tmp_path, pipeline, cancer):
    X, _ = cancer
    for suffix in (".pkl", ".joblib"):
        path = tmp_path / f"model{suffix}"
        joblib.dump(pipeline, path)
        model = load_model(path, trust=True)
        assert isinstance(model, SklearnModel)
        np.testing.assert_array_equal(model.predict_scores(X), pipeline.predict_proba(X))


def test_corrupt_pickle_with_trust(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(b"\x80\x05this is not a pickle")
    with pytest.raises(ModelLoadError, match="pickle"):
        load_model(path, trust=True)


# --- skops ---------------------------------------------------------------------------------


def test_skops_loads_default_trusted_model(tmp_path, pipeline, cancer):
    X, _ = cancer
    path = tmp_path / "model.skops"
    sio.dump(pipeline, path)
    model = load_model(path)
    assert isinstance(model, SklearnModel)
    assert model.task == "binary"
    np.testing.assert_array_equal(model.predict_scores(X), pipeline.predict_proba(X))


def test_skops_untrusted_type_is_refused_then_trusted(tmp_path, iris):
    X, y = iris
    est = ClippedLogisticRegression(max_iter=1000).fit(X, y)
    path = tmp_path / "custom.skops"
    sio.dump(est, path)
    type_name = f"{ClippedLogisticRegression.__module__}.ClippedLogisticRegression"
    with pytest.raises(UntrustedModelError) as info:
        load_model(path)
    message = str(info.value)
    assert type_name in message
    assert "--trusted-type" in message and "--trust" in message
    with pytest.raises(UntrustedModelError):
        load_model(path, trusted_types=["some.OtherType"])

    model = load_model(path, trusted_types=[type_name])
    assert isinstance(model, SklearnModel)
    np.testing.assert_array_equal(model.predict_scores(X), est.predict_proba(X))
    assert isinstance(load_model(path, trust=True), SklearnModel)


def test_corrupt_skops(tmp_path):
    path = tmp_path / "model.skops"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ModelLoadError, match="skops"):
        load_model(path)


# --- ONNX ----------------------------------------------------------------------------------


def test_onnx_file(tmp_path, iris):
    from skl2onnx import to_onnx

    X, y = iris
    est = LogisticRegression(max_iter=1000).fit(X.to_numpy(), y)
    path = tmp_path / "model.onnx"
    path.write_bytes(to_onnx(est, X.to_numpy()[:1].astype(np.float32)).SerializeToString())
    model = load_model(path)
    assert isinstance(model, OnnxModel)
    assert model.task == "multiclass"
    np.testing.assert_allclose(model.predict_scores(X), est.predict_proba(X.to_numpy()), atol=1e-5)
    relabelled = load_model(path, classes=["setosa", "versicolor", "virginica"])
    assert relabelled.classes_.tolist() == ["setosa", "versicolor", "virginica"]


def test_corrupt_onnx(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\x07garbage that is not a model")
    with pytest.raises(ModelLoadError, match="ONNX"):
        load_model(path)


# --- XGBoost -------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".json", ".ubj"])
def test_xgboost_native_binary(tmp_path, cancer, suffix):
    import xgboost as xgb

    X, y = cancer
    clf = xgb.XGBClassifier(n_estimators=10, max_depth=3).fit(X, y)
    path = tmp_path / f"model{suffix}"
    clf.save_model(path)
    model = load_model(path)
    assert isinstance(model, XGBoostModel)
    assert model.task == "binary"
    assert model.classes_.tolist() == [0, 1]
    assert model.feature_names == list(X.columns)
    np.testing.assert_allclose(model.predict_scores(X), clf.predict_proba(X), rtol=1e-6)
    np.testing.assert_array_equal(model.predict(X), clf.predict(X))


def test_xgboost_native_multiclass_and_regression(tmp_path, iris, diabetes):
    import xgboost as xgb

    X, y = iris
    clf = xgb.XGBClassifier(n_estimators=10, max_depth=2).fit(X.to_numpy(), y)
    path = tmp_path / "multi.json"
    clf.save_model(path)
    model = load_model(path, classes=["setosa", "versicolor", "virginica"])
    assert model.task == "multiclass"
    assert model.feature_names is None
    assert model.n_features == 4
    np.testing.assert_allclose(model.predict_scores(X), clf.predict_proba(X.to_numpy()), rtol=1e-6)
    assert set(model.predict(X)) <= {"setosa", "versicolor", "virginica"}

    Xd, yd = diabetes
    reg = xgb.XGBRegressor(n_estimators=10).fit(Xd, yd)
    path = tmp_path / "reg.ubj"
    reg.save_model(path)
    model = load_model(path)
    assert model.task == "regression"
    np.testing.assert_allclose(model.predict_scores(Xd), reg.predict(Xd), rtol=1e-6)


def test_json_that_is_not_xgboost(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"name": "not a model"}')
    with pytest.raises(ModelLoadError, match="not an XGBoost JSON model"):
        load_model(path)


def test_corrupt_xgboost(tmp_path):
    path = tmp_path / "model.ubj"
    path.write_bytes(b"{garbage")
    with pytest.raises(ModelLoadError, match="XGBoost"):
        load_model(path)


# --- LightGBM ------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".txt", ".lgb"])
def test_lightgbm_native_binary(tmp_path, cancer, suffix):
    import lightgbm as lgb

    X, y = cancer
    clf = lgb.LGBMClassifier(n_estimators=10, verbose=-1, n_jobs=1).fit(X, y)
    path = tmp_path / f"model{suffix}"
    clf.booster_.save_model(path)
    model = load_model(path)
    assert isinstance(model, LightGBMModel)
    assert model.task == "binary"
    # LightGBM stores "mean radius" as "mean_radius"
    assert model.feature_names == [c.replace(" ", "_") for c in X.columns]
    np.testing.assert_allclose(model.predict_scores(X), clf.predict_proba(X), rtol=1e-12)


def test_lightgbm_native_multiclass_and_regression(tmp_path, iris, diabetes):
    import lightgbm as lgb

    X, y = iris
    clf = lgb.LGBMClassifier(n_estimators=10, verbose=-1, n_jobs=1).fit(X, y)
    path = tmp_path / "multi.txt"
    clf.booster_.save_model(path)
    model = load_model(path)
    assert model.task == "multiclass"
    assert model.classes_.tolist() == [0, 1, 2]
    np.testing.assert_allclose(model.predict_scores(X), clf.predict_proba(X), rtol=1e-12)

    Xd, yd = diabetes
    reg = lgb.LGBMRegressor(n_estimators=10, verbose=-1, n_jobs=1).fit(Xd, yd)
    path = tmp_path / "reg.txt"
    reg.booster_.save_model(path)
    model = load_model(path)
    assert model.task == "regression"
    np.testing.assert_allclose(model.predict_scores(Xd), reg.predict(Xd), rtol=1e-12)


def test_txt_that_is_not_lightgbm(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    with pytest.raises(ModelLoadError, match="not a LightGBM text model"):
        load_model(path)


def test_corrupt_lightgbm(tmp_path):
    path = tmp_path / "model.txt"
    path.write_text("tree\nversion=v4\nnum_class=oops\n")
    with pytest.raises(ModelLoadError, match="LightGBM"):
        load_model(path)


# --- paths ---------------------------------------------------------------------------------


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "absent.skops"
    with pytest.raises(ModelLoadError, match="does not exist") as info:
        load_model(path)
    assert str(path) in str(info.value)


def test_unknown_extension_lists_supported(tmp_path):
    path = tmp_path / "model.h5"
    path.write_bytes(b"")
    with pytest.raises(ModelLoadError) as info:
        load_model(path)
    message = str(info.value)
    assert "'.h5'" in message
    for ext in (".skops", ".onnx", ".json", ".ubj", ".txt", ".pkl", ".joblib"):
        assert ext in message


def test_directory_is_not_a_model(tmp_path):
    path = tmp_path / "model.onnx"
    path.mkdir()
    with pytest.raises(ModelLoadError, match="not a file"):
        load_model(path)


# --- as_model ------------------------------------------------------------------------------


def test_as_model_dispatch(iris, diabetes):
    import lightgbm as lgb
    import onnxruntime as ort
    import torch
    import xgboost as xgb
    from skl2onnx import to_onnx

    X, y = iris
    est = LogisticRegression(max_iter=1000).fit(X, y)
    model = as_model(est)
    assert isinstance(model, SklearnModel)
    assert as_model(model) is model

    onx = to_onnx(est, X.to_numpy()[:1].astype(np.float32)).SerializeToString()
    session = ort.InferenceSession(onx, providers=["CPUExecutionProvider"])
    assert isinstance(as_model(session), OnnxModel)

    assert isinstance(as_model(torch.nn.Linear(4, 3)), TorchModel)

    booster = xgb.train({"objective": "multi:softprob", "num_class": 3}, xgb.DMatrix(X, y), 2)
    assert isinstance(as_model(booster), XGBoostModel)

    Xd, yd = diabetes
    lgb_booster = lgb.train(
        {"verbose": -1, "num_threads": 1}, lgb.Dataset(Xd, yd), num_boost_round=2
    )
    assert as_model(lgb_booster).task == "regression"
    assert isinstance(
        as_model(lgb.LGBMRegressor(n_estimators=2, verbose=-1, n_jobs=1).fit(Xd, yd)), SklearnModel
    )

    assert as_model(LinearRegression().fit(Xd, yd), task="regression").task == "regression"


def test_as_model_refuses_unknown_and_unfitted():
    with pytest.raises(ModelError) as info:
        as_model({"weights": [1, 2, 3]})
    assert "builtins.dict" in str(info.value)
    assert "scikit-learn" in str(info.value) and "torch" in str(info.value)
    with pytest.raises(ModelError, match="fit it first"):
        as_model(LogisticRegression())


def test_as_model_refuses_overrides_on_a_model(iris):
    X, y = iris
    model = as_model(LogisticRegression(max_iter=1000).fit(X, y))
    with pytest.raises(ModelError, match="already an afterfit Model"):
        as_model(model, task="multiclass")
