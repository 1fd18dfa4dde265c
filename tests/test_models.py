"""The model adapters, on real trained models: scikit-learn, ONNX Runtime, PyTorch,
XGBoost and LightGBM. Each adapter's scores must equal the original model's."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import LinearSVC

from afterfit.errors import MissingDependencyError, ModelError, ModelLoadError, SchemaError
from afterfit.models import (
    LightGBMModel,
    Model,
    OnnxModel,
    SklearnModel,
    TorchModel,
    XGBoostModel,
)
from afterfit.models.onnx import onnx_class_labels

# --- data ----------------------------------------------------------------------------------


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
def mixed() -> tuple[pd.DataFrame, np.ndarray]:
    """Breast cancer with five numeric columns and one text column."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :5].copy()
    X["grade"] = pd.cut(X["mean radius"], 3, labels=["low", "mid", "high"]).astype(str)
    return X, y.to_numpy()


def _mixed_pipeline(X: pd.DataFrame, y: np.ndarray):
    numeric = [c for c in X.columns if c != "grade"]
    ct = ColumnTransformer(
        [
            ("num", StandardScaler(), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["grade"]),
        ]
    )
    return make_pipeline(ct, LogisticRegression(max_iter=2000)).fit(X, y)


# --- scikit-learn --------------------------------------------------------------------------


def test_sklearn_binary_logistic_regression(cancer):
    X, y = cancer
    est = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    model = SklearnModel(est)
    assert isinstance(model, Model)
    assert model.task == "binary"
    assert model.classes_.tolist() == [0, 1]
    assert model.scores_are_probabilities
    assert model.feature_names == list(X.columns)
    assert model.n_features == 30
    np.testing.assert_array_equal(model.predict_scores(X), est.predict_proba(X))
    np.testing.assert_array_equal(model.predict(X), est.predict(X))


def test_sklearn_multiclass_string_labels(iris):
    X, y = iris
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    est = LogisticRegression(max_iter=1000).fit(X, labels)
    model = SklearnModel(est)
    assert model.task == "multiclass"
    assert model.classes_.tolist() == ["setosa", "versicolor", "virginica"]
    np.testing.assert_array_equal(model.predict_scores(X), est.predict_proba(X))
    np.testing.assert_array_equal(model.predict(X), est.predict(X))


def test_sklearn_pipeline_with_column_transformer(mixed):
    X, y = mixed
    est = _mixed_pipeline(X, y)
    model = SklearnModel(est)
    assert model.task == "binary"
    assert model.feature_names == list(X.columns)
    np.testing.assert_array_equal(model.predict_scores(X), est.predict_proba(X))


def test_sklearn_hist_gradient_boosting_regressor(diabetes):
    X, y = diabetes
    est = HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(X, y)
    model = SklearnModel(est)
    assert model.task == "regression"
    assert model.classes_ is None
    assert not model.scores_are_probabilities
    scores = model.predict_scores(X)
    assert scores.shape == (len(X),)
    np.testing.assert_array_equal(scores, est.predict(X))
    np.testing.assert_array_equal(model.predict(X), est.predict(X))


def test_sklearn_decision_function_binary_gives_two_columns(cancer):
    X, y = cancer
    est = make_pipeline(StandardScaler(), LinearSVC()).fit(X, y)
    model = SklearnModel(est)
    assert model.task == "binary"
    assert not model.scores_are_probabilities
    d = est.decision_function(X)
    np.testing.assert_array_equal(model.predict_scores(X), np.column_stack([-d, d]))


def test_sklearn_decision_function_multiclass(iris):
    X, y = iris
    est = make_pipeline(StandardScaler(), LinearSVC()).fit(X, y)
    model = SklearnModel(est)
    assert model.task == "multiclass"
    assert not model.scores_are_probabilities
    np.testing.assert_array_equal(model.predict_scores(X), est.decision_function(X))


def test_sklearn_fitted_on_numpy_has_no_names_and_takes_frames_silently(iris):
    X, y = iris
    est = LogisticRegression(max_iter=1000).fit(X.to_numpy(), y)
    model = SklearnModel(est)
    assert model.feature_names is None
    assert model.n_features == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X has feature names" warning
        scores = model.predict_scores(X)
    np.testing.assert_array_equal(scores, est.predict_proba(X.to_numpy()))


def test_sklearn_fitted_on_frame_takes_numpy(iris):
    X, y = iris
    est = LogisticRegression(max_iter=1000).fit(X, y)
    model = SklearnModel(est)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = model.predict_scores(X.to_numpy())
    np.testing.assert_array_equal(scores, est.predict_proba(X))
    with pytest.raises(SchemaError, match="4 columns"):
        model.predict_scores(X.to_numpy()[:, :3])


def test_sklearn_classes_override_relabels_predictions(iris):
    X, y = iris
    est = LogisticRegression(max_iter=1000).fit(X, y)
    model = SklearnModel(est, classes=["setosa", "versicolor", "virginica"])
    assert model.classes_.tolist() == ["setosa", "versicolor", "virginica"]
    expected = np.array(["setosa", "versicolor", "virginica"])[est.predict(X)]
    np.testing.assert_array_equal(model.predict(X), expected)
    with pytest.raises(ModelError, match="3 classes"):
        SklearnModel(est, classes=["a", "b"])


def test_sklearn_task_override_errors(iris, diabetes):
    X, y = iris
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    with pytest.raises(ModelError, match="'binary'") as info:
        SklearnModel(clf, task="binary")
    assert "multiclass" in str(info.value)
    with pytest.raises(ModelError, match="classifier"):
        SklearnModel(clf, task="regression")
    Xd, yd = diabetes
    reg = LinearRegression().fit(Xd, yd)
    with pytest.raises(ModelError, match="regressor"):
        SklearnModel(reg, task="binary")
    with pytest.raises(ModelError, match="must be one of"):
        SklearnModel(reg, task="ranking")  # type: ignore[arg-type]


def test_sklearn_unfitted_and_non_estimators():
    with pytest.raises(ModelError, match="fit it first"):
        SklearnModel(LogisticRegression())
    with pytest.raises(ModelError, match="no 'predict' method"):
        SklearnModel(object())


def test_sklearn_api_xgboost_and_lightgbm_wrappers(iris):
    import lightgbm as lgb
    import xgboost as xgb

    X, y = iris
    xgb_clf = xgb.XGBClassifier(n_estimators=10, max_depth=2).fit(X, y)
    model = SklearnModel(xgb_clf)
    assert model.task == "multiclass"
    assert model.feature_names == list(X.columns)
    assert model.feature_dtypes == dict.fromkeys(X.columns, "float32")
    np.testing.assert_array_equal(model.predict_scores(X), xgb_clf.predict_proba(X))

    lgb_clf = lgb.LGBMClassifier(n_estimators=10, verbose=-1, n_jobs=1).fit(X.to_numpy(), y)
    model = SklearnModel(lgb_clf)
    assert model.feature_names is None  # Column_0.. placeholders are not names
    assert model.n_features == 4
    np.testing.assert_array_equal(model.predict_scores(X), lgb_clf.predict_proba(X.to_numpy()))


# --- ONNX ----------------------------------------------------------------------------------


def _to_onnx(est, X: pd.DataFrame, **options) -> bytes:
    from skl2onnx import to_onnx

    opts = {id(est): options} if options else None
    return to_onnx(est, X.to_numpy()[:1].astype(np.float32), options=opts).SerializeToString()


def test_onnx_binary_zipmap_from_path(cancer, tmp_path):
    X, y = cancer
    est = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    path = tmp_path / "model.onnx"
    path.write_bytes(_to_onnx(est, X))
    model = OnnxModel(path)
    assert model.task == "binary"
    assert model.classes_.tolist() == [0, 1]
    assert model.feature_names is None
    assert model.n_features == 30
    assert model.input_dtype == "float32"
    assert model._zipmap
    np.testing.assert_allclose(model.predict_scores(X), est.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(model.predict(X), est.predict(X))


def test_onnx_multiclass_tensor_output_string_labels(iris):
    X, y = iris
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    est = RandomForestClassifier(n_estimators=10, random_state=0).fit(X.to_numpy(), labels)
    model = OnnxModel(_to_onnx(est, X, zipmap=False))
    assert not model._zipmap
    assert model.task == "multiclass"
    assert model.classes_.tolist() == ["setosa", "versicolor", "virginica"]
    np.testing.assert_allclose(model.predict_scores(X), est.predict_proba(X.to_numpy()), atol=1e-5)
    np.testing.assert_array_equal(model.predict(X), est.predict(X.to_numpy()))


def test_onnx_zipmap_string_labels_order(iris):
    X, y = iris
    labels = np.array(["c", "a", "b"])[y]  # sorted order differs from first-seen order
    est = LogisticRegression(max_iter=1000).fit(X.to_numpy(), labels)
    model = OnnxModel(_to_onnx(est, X))
    assert model.classes_.tolist() == est.classes_.tolist() == ["a", "b", "c"]
    np.testing.assert_allclose(model.predict_scores(X), est.predict_proba(X.to_numpy()), atol=1e-5)


def test_onnx_regression(diabetes):
    X, y = diabetes
    est = make_pipeline(StandardScaler(), Ridge()).fit(X, y)
    model = OnnxModel(_to_onnx(est, X))
    assert model.task == "regression"
    assert model.classes_ is None
    scores = model.predict_scores(X)
    assert scores.shape == (len(X),)
    np.testing.assert_allclose(scores, est.predict(X), rtol=1e-5)
    np.testing.assert_allclose(model.predict(X), est.predict(X), rtol=1e-5)


def test_onnx_multi_input_column_transformer(mixed):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    X, y = mixed
    est = _mixed_pipeline(X, y)
    types = [
        (c, StringTensorType([None, 1]) if c == "grade" else FloatTensorType([None, 1]))
        for c in X.columns
    ]
    onx = convert_sklearn(est, initial_types=types, options={id(est): {"zipmap": False}})
    model = OnnxModel(onx.SerializeToString())
    # skl2onnx turns "mean radius" into the input name "mean_radius"
    assert model.feature_names == [c.replace(" ", "_") for c in X.columns]
    assert model.feature_dtypes["grade"] == "str"
    assert model.feature_dtypes["mean_radius"] == "float32"
    assert model.input_dtype is None
    assert model.task == "binary"
    np.testing.assert_allclose(model.predict_scores(X), est.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(model.predict(X), est.predict(X))
    with pytest.raises(SchemaError, match="grade"):
        model.predict_scores(X.drop(columns="grade"))


def test_onnx_from_session_and_overrides(iris):
    import onnxruntime as ort

    X, y = iris
    est = LogisticRegression(max_iter=1000).fit(X.to_numpy(), y)
    session = ort.InferenceSession(_to_onnx(est, X), providers=["CPUExecutionProvider"])
    model = OnnxModel(session)
    assert model.session is session
    assert model.classes_.tolist() == [0, 1, 2]
    relabelled = OnnxModel(session, classes=["setosa", "versicolor", "virginica"])
    expected = np.array(["setosa", "versicolor", "virginica"])[est.predict(X.to_numpy())]
    np.testing.assert_array_equal(relabelled.predict(X), expected)
    with pytest.raises(ModelError, match="'binary'"):
        OnnxModel(session, task="binary")
    with pytest.raises(ModelError, match="4 labels"):
        OnnxModel(session, classes=["a", "b", "c", "d"])


def test_onnx_class_labels_reader_agrees_with_onnx_package(iris):
    import onnx

    X, y = iris
    est = RandomForestClassifier(n_estimators=5, random_state=0).fit(X.to_numpy(), y + 3)
    data = _to_onnx(est, X, zipmap=False)
    graph = onnx.load_from_string(data).graph
    expected = next(
        list(a.ints)
        for n in graph.node
        if n.op_type == "TreeEnsembleClassifier"
        for a in n.attribute
        if a.name == "classlabels_int64s"
    )
    assert onnx_class_labels(data) == expected == [3, 4, 5]
    assert onnx_class_labels(b"not a protobuf at all") is None


def test_onnx_bad_inputs(tmp_path):
    with pytest.raises(ModelLoadError, match="ONNX"):
        OnnxModel(b"\x00\x01garbage")
    with pytest.raises(ModelLoadError, match="does not exist"):
        OnnxModel(tmp_path / "nope.onnx")
    with pytest.raises(ModelError, match="InferenceSession"):
        OnnxModel(42)


# --- PyTorch -------------------------------------------------------------------------------


def _train(net, X: np.ndarray, y: np.ndarray, loss_fn, epochs: int = 30):
    import torch

    torch.manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    xt = torch.from_numpy(X.astype(np.float32))
    yt = torch.from_numpy(np.array(y))
    for _ in range(epochs):
        opt.zero_grad()
        loss_fn(net(xt), yt).backward()
        opt.step()
    return net


@pytest.fixture(scope="module")
def torch_iris(iris):
    import torch

    X, y = iris
    Xs = StandardScaler().fit_transform(X)
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Linear(16, 3)
    )
    return _train(net, Xs, y, torch.nn.CrossEntropyLoss()), Xs, y


def test_torch_multiclass_softmax(torch_iris):
    import torch

    net, Xs, y = torch_iris
    net.train()  # the adapter must switch to eval mode (dropout off) and back
    model = TorchModel(net)
    assert isinstance(model, Model)
    assert model.task == "multiclass"
    assert model.classes_.tolist() == [0, 1, 2]
    assert model.n_features == 4
    assert model.input_dtype == "float32"
    scores = model.predict_scores(Xs)
    assert net.training  # mode restored
    net.eval()
    with torch.no_grad():
        expected = torch.softmax(net(torch.from_numpy(Xs.astype(np.float32))), dim=1).numpy()
    net.train()
    np.testing.assert_allclose(scores, expected, atol=1e-6)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0)
    assert (model.predict(Xs) == y).mean() > 0.9
    # batching does not change the result
    np.testing.assert_allclose(TorchModel(net, batch_size=7).predict_scores(Xs), scores, atol=1e-6)


def test_torch_binary_single_logit_and_probability_output(cancer):
    import torch

    X, y = cancer
    Xs = StandardScaler().fit_transform(X).astype(np.float32)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(30, 1))
    _train(net, Xs, y.astype(np.float32).reshape(-1, 1), torch.nn.BCEWithLogitsLoss())
    model = TorchModel(net, task="binary", classes=["benign", "malignant"])
    assert model.task == "binary"
    scores = model.predict_scores(Xs)
    with torch.no_grad():
        p = torch.sigmoid(net(torch.from_numpy(Xs))).numpy().ravel()
    np.testing.assert_allclose(scores, np.column_stack([1 - p, p]), atol=1e-6)
    assert set(model.predict(Xs)) <= {"benign", "malignant"}

    with_sigmoid = torch.nn.Sequential(net, torch.nn.Sigmoid())
    model = TorchModel(with_sigmoid, task="binary", output="probabilities")
    np.testing.assert_allclose(model.predict_scores(Xs)[:, 1], p, atol=1e-6)


def test_torch_regression_and_feature_names(diabetes):
    import torch

    X, _ = diabetes
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(10, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    model = TorchModel(net, feature_names=list(X.columns))
    assert model.task == "regression"
    assert model.feature_names == list(X.columns)
    shuffled = X[list(reversed(X.columns))]
    with torch.no_grad():
        expected = net(torch.tensor(X.to_numpy(np.float32))).numpy().ravel()
    np.testing.assert_allclose(model.predict_scores(shuffled), expected, rtol=1e-6)


def test_torch_errors(monkeypatch):
    import torch

    with pytest.raises(ModelError, match="task"):
        TorchModel(torch.nn.ReLU())
    with pytest.raises(ModelError, match="3 outputs"):
        TorchModel(torch.nn.Linear(4, 3), classes=["a", "b"])
    with pytest.raises(ModelError, match=r"nn\.Module"):
        TorchModel("not a module")
    with pytest.raises(ModelError, match="output"):
        TorchModel(torch.nn.Linear(4, 3), output="scores")  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="takes 4"):
        TorchModel(torch.nn.Linear(4, 3)).predict_scores(np.zeros((2, 5)))
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    with pytest.raises(MissingDependencyError, match=r"afterfit\[torch\]"):
        TorchModel(object())


# --- native boosters -----------------------------------------------------------------------


def test_xgboost_booster_objectives(cancer, iris, diabetes):
    import xgboost as xgb

    X, y = cancer
    clf = xgb.XGBClassifier(n_estimators=10, max_depth=2).fit(X, y)
    model = XGBoostModel(clf.get_booster())
    assert (model.task, model.objective) == ("binary", "binary:logistic")
    np.testing.assert_allclose(model.predict_scores(X), clf.predict_proba(X), rtol=1e-6)

    Xi, yi = iris
    dtrain = xgb.DMatrix(Xi, label=yi)
    softmax = xgb.train({"objective": "multi:softmax", "num_class": 3}, dtrain, 5)
    softprob = xgb.train({"objective": "multi:softprob", "num_class": 3}, dtrain, 5)
    model = XGBoostModel(softmax)
    assert model.task == "multiclass"
    np.testing.assert_allclose(
        model.predict_scores(Xi), softprob.predict(xgb.DMatrix(Xi)), rtol=1e-5
    )

    Xd, yd = diabetes
    reg = xgb.XGBRegressor(n_estimators=10).fit(Xd, yd)
    model = XGBoostModel(reg.get_booster())
    assert model.task == "regression"
    np.testing.assert_allclose(model.predict_scores(Xd), reg.predict(Xd), rtol=1e-6)


def test_lightgbm_booster_objectives(cancer, diabetes):
    import lightgbm as lgb

    X, y = cancer
    clf = lgb.LGBMClassifier(n_estimators=10, verbose=-1, n_jobs=1).fit(X, y)
    model = LightGBMModel(clf.booster_)
    assert (model.task, model.objective) == ("binary", "binary")
    np.testing.assert_array_equal(model.predict_scores(X), clf.predict_proba(X))
    Xd, yd = diabetes
    reg = lgb.LGBMRegressor(n_estimators=10, verbose=-1, n_jobs=1).fit(Xd, yd)
    model = LightGBMModel(reg.booster_)
    assert model.task == "regression"
    np.testing.assert_array_equal(model.predict_scores(Xd), reg.predict(Xd))


# --- import hygiene ------------------------------------------------------------------------


def test_importing_afterfit_does_not_import_heavy_optional_packages():
    code = (
        "import sys, afterfit, afterfit.models, afterfit.data\n"
        "heavy = [m for m in ('torch', 'xgboost', 'lightgbm', 'polars') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_booster_objective_variants_and_errors(cancer):
    import lightgbm as lgb
    import xgboost as xgb

    X, y = cancer
    dtrain = xgb.DMatrix(X, label=y)
    logitraw = xgb.train({"objective": "binary:logitraw", "max_depth": 2}, dtrain, 5)
    logistic = xgb.train({"objective": "binary:logistic", "max_depth": 2}, dtrain, 5)
    model = XGBoostModel(logitraw)
    assert model.task == "binary" and model.scores_are_probabilities
    margin = logitraw.predict(xgb.DMatrix(X)).astype(np.float64)
    np.testing.assert_allclose(model.predict_scores(X)[:, 1], 1 / (1 + np.exp(-margin)))
    with pytest.raises(ModelError, match="does not fit the task"):
        XGBoostModel(logistic, task="regression")
    with pytest.raises(ModelError, match="'multiclass'"):
        XGBoostModel(logistic, task="multiclass")
    ranker = xgb.train({"objective": "rank:pairwise"}, xgb.DMatrix(X, label=y), 2)
    with pytest.raises(ModelError, match="rank:pairwise"):
        XGBoostModel(ranker)

    params = {"objective": "xentropy", "verbose": -1, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(X, y), num_boost_round=3)
    model = LightGBMModel(booster)
    assert (model.objective, model.task) == ("cross_entropy", "binary")
    np.testing.assert_allclose(model.predict_scores(X)[:, 1], booster.predict(X))
    params = {"objective": "lambdarank", "verbose": -1, "num_threads": 1}
    ranker = lgb.train(params, lgb.Dataset(X, y, group=[len(X)]), num_boost_round=2)
    with pytest.raises(ModelError, match="lambdarank"):
        LightGBMModel(ranker)


def test_numeric_inputs_with_nullable_missing_values(iris):
    import torch

    X, _ = iris
    nullable = X.astype("Float64")
    nullable.iloc[0, 0] = pd.NA
    model = TorchModel(torch.nn.Linear(4, 3))
    scores = model.predict_scores(nullable)
    assert np.isnan(scores[0]).all() and np.isfinite(scores[1:]).all()


def test_sklearn_column_names_like_f00_are_kept():
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from afterfit.models import SklearnModel

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["f00", "f01", "f02"])
    y = (X["f00"] > 0).astype(int)
    model = SklearnModel(LogisticRegression().fit(X, y))
    assert model.feature_names == ["f00", "f01", "f02"]
