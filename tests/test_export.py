"""export_model: ONNX for scikit-learn pipelines, XGBoost, LightGBM and torch, parity on
real rows measured against the original model, the skops fallback, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC

from afterfit.errors import InvalidInputError, ModelError, SchemaError
from afterfit.exporters.core import ExportResult, Parity, export_document, export_model
from afterfit.models import OnnxModel, SklearnModel, TorchModel, as_model, load_model

TOL = 1e-5


class Doubler(BaseEstimator, TransformerMixin):
    """A custom transformer: skl2onnx has no converter for it."""

    def fit(self, X, y=None):
        self.fitted_ = True
        return self

    def transform(self, X):
        return np.asarray(X, dtype=float) * 2.0


def _frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "age": rng.normal(40, 12, n),
            "visits": rng.integers(0, 10, n),
            "plan": rng.choice(["basic", "plus", "pro"], n),
            "spend": rng.gamma(2.0, 50.0, n),
        }
    )
    X.loc[rng.random(n) < 0.1, "age"] = np.nan
    X.loc[rng.random(n) < 0.1, "plan"] = np.nan
    return X


def _signal(X: pd.DataFrame, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (
        (X["age"].fillna(40) - 40) / 12
        + (X["plan"] == "pro") * 1.0
        + X["spend"] / 100
        + rng.normal(0, 0.7, len(X))
    ).to_numpy()


def _preprocess() -> ColumnTransformer:
    numeric = make_pipeline(SimpleImputer(), StandardScaler())
    categorical = make_pipeline(
        SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
    )
    return ColumnTransformer(
        [("num", numeric, ["age", "visits", "spend"]), ("cat", categorical, ["plan"])]
    )


@pytest.fixture(scope="module")
def data():
    X = _frame()
    s = _signal(X)
    y_bin = (s > 1.0).astype(int)
    y_multi = np.array(["low", "mid", "high"])[np.digitize(s, [0.5, 1.5])]
    return X, y_bin, y_multi, s


def _check(result: ExportResult, model, X: pd.DataFrame, *, tol: float = TOL) -> OnnxModel:
    """The file is ONNX, parity passed and is true: reloading it through load_model gives
    the original's scores and labels from a DataFrame (columns in another order too)."""
    assert result.format == "onnx", result.reason
    assert result.reason is None and not result.fell_back
    assert result.path.suffix == ".onnx" and result.path.is_file()
    assert result.parity is not None and result.parity.passed
    assert result.parity.n_rows == len(X)
    loaded = load_model(result.path)
    assert isinstance(loaded, OnnxModel)
    original = as_model(model)
    shuffled = X[list(X.columns[::-1])]
    a, b = original.predict_scores(X), loaded.predict_scores(shuffled)
    diff = float(np.max(np.abs(a - b)))
    # The reported figure is the one measured here, independently, or larger: it also
    # covers the copies set on split thresholds.
    if result.parity.n_threshold_rows:
        assert diff <= result.parity.max_abs_diff * (1 + 1e-6) + 1e-12
    else:
        assert diff == pytest.approx(result.parity.max_abs_diff, rel=1e-6, abs=1e-12)
    if original.task == "regression":
        assert np.all(np.abs(a - b) <= tol * np.maximum(1.0, np.abs(a)))
        assert result.parity.label_agreement is None
    else:
        assert diff <= tol
        same = original.predict(X) == loaded.predict(shuffled)
        if not result.parity.n_threshold_rows:  # else it counts the copies too
            assert result.parity.label_agreement == pytest.approx(same.mean())
        # Labels differ only where the original's two best scores tie (a forest's 0.5).
        top2 = np.sort(a, axis=1)[:, -2:]
        assert np.all(same | (top2[:, 1] - top2[:, 0] <= 2 * tol))
        assert list(loaded.classes_) == list(original.classes_)
    return loaded


def test_column_transformer_pipeline_logistic(data, tmp_path):
    X, y, _, _ = data
    model = make_pipeline(_preprocess(), LogisticRegression(max_iter=500)).fit(X, y)
    result = export_model(model, X, path=tmp_path / "lr.onnx")
    loaded = _check(result, model, X)
    assert result.converter == "skl2onnx" and result.precision == "float32"
    # One input per column: numbers as float, text as string tensors.
    assert loaded.feature_dtypes == {
        "age": "float32", "visits": "float32", "plan": "str", "spend": "float32"
    }  # fmt: skip
    assert result.parity.max_abs_diff < 1e-6
    # One row at a time works (the server's case), with missing values.
    row = X.iloc[[int(np.flatnonzero(X["plan"].isna())[0])]]
    assert np.allclose(loaded.predict_scores(row), model.predict_proba(row), atol=TOL)


@pytest.mark.parametrize(
    "name",
    ["hgb", "rf", "svc"],
)
def test_pipelines_with_other_classifiers(data, tmp_path, name):
    X, y, _, _ = data
    est = {
        "hgb": HistGradientBoostingClassifier(max_iter=30, random_state=0),
        "rf": RandomForestClassifier(n_estimators=20, min_samples_leaf=3, random_state=0),
        "svc": SVC(probability=True, random_state=0),
    }[name]
    model = make_pipeline(_preprocess(), est).fit(X, y)
    result = export_model(model, X, path=tmp_path / f"{name}.onnx")
    _check(result, model, X)
    if name in ("hgb", "rf"):
        # Trees after a scaler: float32 preprocessing moves rows across splits, so the
        # graph takes doubles and casts just before the trees, as scikit-learn does.
        assert result.precision == "float64"


def test_float32_scaler_before_trees_misses_parity(data, tmp_path):
    """The documented reason for double inputs: the same pipeline with float32 inputs
    differs by far more than the tolerance."""
    from afterfit.exporters.core import measure_parity
    from afterfit.exporters.sklearn import sklearn_to_onnx

    X, y, _, _ = data
    model = make_pipeline(
        _preprocess(), HistGradientBoostingClassifier(max_iter=30, random_state=0)
    ).fit(X, y)
    onx, layout = sklearn_to_onnx(model, X, precision="float32", target_opset=None)
    assert layout == "columns"
    parity = measure_parity(as_model(model), OnnxModel(onx.SerializeToString()), X)
    assert parity.max_abs_diff > 1e-3 and not parity.passed


@pytest.mark.slow
def test_multiclass_string_labels(data, tmp_path):
    X, _, y3, _ = data
    for est in (LogisticRegression(max_iter=500), HistGradientBoostingClassifier(max_iter=20)):
        model = make_pipeline(_preprocess(), est).fit(X, y3)
        result = export_model(model, X, path=tmp_path / "multi.onnx")
        loaded = _check(result, model, X)
        assert loaded.task == "multiclass" and set(loaded.classes_) == {"low", "mid", "high"}


def test_regression(data, tmp_path):
    X, _, _, s = data
    target = s * 10
    for model in (
        make_pipeline(_preprocess(), Ridge()).fit(X, target),
        make_pipeline(_preprocess(), HistGradientBoostingRegressor(max_iter=30)).fit(X, target),
        RandomForestRegressor(n_estimators=15, random_state=0).fit(X[["visits", "spend"]], target),
    ):
        cols = list(getattr(model, "feature_names_in_", X.columns))
        result = export_model(model, X[cols], path=tmp_path / "reg.onnx")
        loaded = _check(result, model, X[cols])
        assert loaded.task == "regression" and result.parity.output == "values"


def test_bare_numeric_model_takes_one_matrix_by_name(data, tmp_path):
    X, y, _, _ = data
    Xn = X[["visits", "spend"]]
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(Xn, y)
    result = export_model(model, Xn, path=tmp_path / "rf.onnx")
    loaded = _check(result, model, Xn)
    assert loaded.input_dtype == "float32" and loaded.feature_names == ["visits", "spend"]
    # A bare tree model compares float32 features: float32 is exact, no double attempt.
    assert [a["precision"] for a in result.attempts] == ["float32"]


def test_svc_without_probabilities_decision_scores(data, tmp_path):
    X, y, _, _ = data
    model = make_pipeline(_preprocess(), SVC()).fit(X, y)
    result = export_model(model, X, path=tmp_path / "svc.onnx")
    loaded = _check(result, model, X)
    assert not loaded.scores_are_probabilities and result.parity.output == "scores"


def test_bool_and_category_columns_bool_labels(tmp_path):
    rng = np.random.default_rng(3)
    X = pd.DataFrame(
        {
            "x": rng.normal(size=300),
            "kind": pd.Categorical(rng.choice(["u", "v", "w"], 300)),
            "flag": rng.random(300) > 0.5,
        }
    )
    y = (X["x"] + X["flag"] + (X["kind"] == "u") > 0.8).to_numpy()  # bool labels
    ct = ColumnTransformer([("cat", OneHotEncoder(), ["kind"])], remainder="passthrough")
    model = make_pipeline(ct, LogisticRegression()).fit(X, y)
    result = export_model(model, X, path=tmp_path / "b.onnx")
    loaded = _check(result, model, X)
    assert loaded.classes_.dtype == bool and loaded.predict(X[:5]).dtype == bool


@pytest.mark.slow
def test_xgboost_and_lightgbm(data, tmp_path):
    import lightgbm as lgb
    import xgboost as xgb

    X, y, y3, s = data
    Xn = X[["age", "visits", "spend"]]
    models = [
        (xgb.XGBClassifier(n_estimators=30, max_depth=3), Xn, y),
        (xgb.XGBClassifier(n_estimators=20, max_depth=3), Xn, pd.factorize(y3)[0]),
        (xgb.XGBRegressor(n_estimators=30, max_depth=3), Xn, s),
        (lgb.LGBMClassifier(n_estimators=30, verbose=-1), Xn, y),
        (lgb.LGBMClassifier(n_estimators=20, verbose=-1), Xn, y3),
        (lgb.LGBMRegressor(n_estimators=30, verbose=-1), Xn, s),
        # Registered with skl2onnx: they convert inside pipelines too.
        (make_pipeline(_preprocess(), xgb.XGBClassifier(n_estimators=20, max_depth=3)), X, y),
    ]
    for i, (model, XX, target) in enumerate(models):
        model.fit(XX, target)
        result = export_model(model, XX, path=tmp_path / f"boost{i}.onnx")
        _check(result, model, XX)
        assert result.converter == "onnxmltools"
    # LightGBM compares doubles; behind a scaler its thresholds fall between scaled values
    # that a float32 graph cannot tell apart. The training rows agree, the copies set on
    # the split thresholds do not: skops, with the reason.
    model = make_pipeline(_preprocess(), lgb.LGBMClassifier(n_estimators=20, verbose=-1))
    model.fit(X, y)
    result = export_model(model, X, path=tmp_path / "lgb-pipeline.onnx")
    assert result.format == "skops" and "copies set on split thresholds" in result.reason
    float32 = result.attempts[-1]["parity"]
    assert float32["n_rows"] == len(X) and float32["n_threshold_rows"] > 0


def _mlp(n_out: int, seed: int = 0):
    import torch

    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.ReLU(), torch.nn.Linear(16, n_out))


def test_torch_mlp(data, tmp_path):
    X, _, _, _ = data
    Xn = X[["visits", "spend", "age"]].fillna(0.0)
    cases = [
        TorchModel(_mlp(3), classes=["a", "b", "c"]),
        TorchModel(_mlp(1), task="binary"),  # one logit, sigmoid in the graph
        TorchModel(_mlp(1), task="regression"),
    ]
    for i, model in enumerate(cases):
        result = export_model(model, Xn, path=tmp_path / f"net{i}.onnx")
        loaded = _check(result, model, Xn)
        assert result.converter == "torch.onnx" and result.precision == "float32"
        assert loaded.task == model.task
        # A dynamic batch axis: one row and many rows through the same graph.
        assert loaded.predict_scores(Xn.iloc[:1]).shape[0] == 1
        assert loaded.predict_scores(Xn).shape[0] == len(Xn)
    assert list(load_model(tmp_path / "net0.onnx").classes_) == ["a", "b", "c"]


def test_raw_torch_module(data, tmp_path):
    X, _, _, _ = data
    Xn = X[["visits", "spend", "age"]].fillna(0.0)
    net = _mlp(2)
    result = export_model(net, Xn, path=tmp_path / "raw.onnx")
    _check(result, net, Xn)


def test_fallback_custom_transformer(data, tmp_path):
    X, y, _, _ = data
    Xn = X[["visits", "spend"]]
    model = make_pipeline(Doubler(), LogisticRegression()).fit(Xn, y)
    result = export_model(model, Xn, path=tmp_path / "custom.onnx")
    assert result.format == "skops" and result.converter == "skops" and result.fell_back
    assert result.path == tmp_path / "custom.skops" and result.path.is_file()
    assert not (tmp_path / "custom.onnx").exists()
    assert "Doubler" in result.reason and "no ONNX converter" in result.reason
    assert any("Doubler" in t for t in result.trusted_types)
    # The skops file was reloaded and checked: it is the same model.
    assert result.parity is not None and result.parity.passed
    assert result.parity.max_abs_diff == 0.0
    reloaded = load_model(result.path, trusted_types=list(result.trusted_types))
    assert np.array_equal(reloaded.predict(Xn), model.predict(Xn))
    frame = result.frame()
    assert frame["file"].tolist()[-1] == "skops"
    doc = export_document(result, source={"model": "m"})
    assert doc["schema"] == "afterfit.export" and doc["export"]["fell_back"] is True
    json.dumps(doc, allow_nan=False)


def test_fallback_when_parity_misses_tolerance(data, tmp_path):
    X, y, _, _ = data
    Xn = X[["visits", "spend"]]
    model = RandomForestClassifier(n_estimators=20, min_samples_leaf=3, random_state=0)
    model.fit(Xn, y)
    # float32 sums of leaf probabilities are off by ~1e-7: a tolerance of 0 refuses them.
    result = export_model(model, Xn, path=tmp_path / "rf.onnx", tolerance=0.0)
    assert result.format == "skops" and result.path.suffix == ".skops"
    assert "differs from the original" in result.reason and "tolerance 0" in result.reason
    tried = result.attempts[0]["parity"]
    assert tried["passed"] is False and 0 < tried["max_abs_diff"] < 1e-5
    assert not (tmp_path / "rf.onnx").exists()


def test_prefer_skops(data, tmp_path):
    X, y, _, _ = data
    model = make_pipeline(_preprocess(), LogisticRegression(max_iter=500)).fit(X, y)
    result = export_model(model, X, path=tmp_path / "m.onnx", prefer="skops")
    assert result.format == "skops" and result.reason is None and not result.fell_back
    assert result.path == tmp_path / "m.skops" and not (tmp_path / "m.onnx").exists()
    assert result.parity is not None and result.parity.max_abs_diff == 0.0
    # A .skops path asks for skops.
    again = export_model(model, X, path=tmp_path / "n.skops")
    assert again.format == "skops" and again.path == tmp_path / "n.skops"
    assert not (tmp_path / "n.onnx").exists()


def test_afterfit_model_in_and_opset(data, tmp_path):
    X, y, _, _ = data
    model = make_pipeline(_preprocess(), LogisticRegression(max_iter=500)).fit(X, y)
    result = export_model(SklearnModel(model), X, path=tmp_path / "m.onnx", target_opset=15)
    assert result.format == "onnx" and result.opset == 15
    assert result.to_dict()["opset"] == 15


def test_max_rows_subset(data, tmp_path):
    X, y, _, _ = data
    model = make_pipeline(_preprocess(), LogisticRegression(max_iter=500)).fit(X, y)
    result = export_model(model, X, path=tmp_path / "m.onnx", max_rows=50)
    assert result.parity.n_rows == 50


def test_measure_parity_against_numpy(data):
    from afterfit.exporters.core import measure_parity

    X, y, _, _ = data
    Xn = X[["visits", "spend"]]
    a = LogisticRegression().fit(Xn, y)
    b = LogisticRegression(C=0.01).fit(Xn, y)
    parity = measure_parity(as_model(a), as_model(b), Xn, tolerance=1e-3)
    pa, pb = a.predict_proba(Xn), b.predict_proba(Xn)
    assert parity.max_abs_diff == pytest.approx(np.abs(pa - pb).max())
    assert parity.mean_abs_diff == pytest.approx(np.abs(pa - pb).mean())
    assert parity.label_agreement == pytest.approx(np.mean(a.predict(Xn) == b.predict(Xn)))
    assert parity.passed == (np.abs(pa - pb).max() <= 1e-3 and parity.label_agreement == 1.0)
    assert isinstance(parity, Parity) and parity.to_dict()["n_rows"] == len(Xn)


def test_bad_input(data, tmp_path):
    X, y, _, _ = data
    model = make_pipeline(_preprocess(), LogisticRegression(max_iter=500)).fit(X, y)
    with pytest.raises(InvalidInputError, match="empty"):
        export_model(model, X.iloc[:0], path=tmp_path / "m.onnx")
    with pytest.raises(InvalidInputError, match=r"\.onnx or \.skops"):
        export_model(model, X, path=tmp_path / "m.bin")
    with pytest.raises(InvalidInputError, match="prefer"):
        export_model(model, X, path=tmp_path / "m.onnx", prefer="pickle")
    with pytest.raises(InvalidInputError, match="tolerance"):
        export_model(model, X, path=tmp_path / "m.onnx", tolerance=-1)
    with pytest.raises(InvalidInputError, match="target_opset"):
        export_model(model, X, path=tmp_path / "m.onnx", target_opset=2)
    with pytest.raises(SchemaError):
        export_model(model, X.drop(columns="plan"), path=tmp_path / "m.onnx")
    with pytest.raises(ModelError):
        export_model(object(), X, path=tmp_path / "m.onnx")
    onnx_file = export_model(model, X, path=tmp_path / "ok.onnx").path
    with pytest.raises(InvalidInputError, match="already an ONNX"):
        export_model(load_model(onnx_file), X, path=tmp_path / "again.onnx")
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["ok.onnx"]  # nothing half-written by the failures


def test_onnx_session_options_and_single_row_feed(data, tmp_path):
    X, y, _, _ = data
    model = make_pipeline(_preprocess(), LogisticRegression(max_iter=500)).fit(X, y)
    path = export_model(model, X, path=tmp_path / "m.onnx").path
    one = OnnxModel(path, threads=1)
    opts = one.session.get_session_options()
    assert opts.intra_op_num_threads == 1 and opts.inter_op_num_threads == 1
    # Missing text as None, NaN or pd.NA all mean the same missing category.
    row = X.iloc[[0]].copy()
    variants = []
    for missing in (None, np.nan, pd.NA):
        r = row.astype({"plan": object})
        r.loc[r.index[0], "plan"] = missing
        variants.append(one.predict_scores(r))
    assert np.allclose(variants[0], variants[1]) and np.allclose(variants[1], variants[2])
    r = row.astype({"plan": object})
    r.loc[r.index[0], "plan"] = np.nan
    assert np.allclose(variants[0], model.predict_proba(r), atol=TOL)


def test_onnx_records_feed_equals_frame_feed(data, tmp_path):
    X, y, _, _ = data
    model = make_pipeline(_preprocess(), LogisticRegression(max_iter=500)).fit(X, y)
    loaded = load_model(export_model(model, X, path=tmp_path / "m.onnx").path)
    rows = X.iloc[:5]
    expected = model.predict_proba(rows)
    records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    assert np.allclose(loaded.predict_scores(records[0]), expected[:1], atol=TOL)
    assert np.allclose(loaded.predict_scores(records), expected, atol=TOL)
    columns = {c: rows[c].tolist() for c in rows.columns}
    assert np.allclose(loaded.predict_scores(columns), expected, atol=TOL)
    # Numbers written as text are read; other text in a numeric column is an error.
    as_text = dict(records[0], spend=str(records[0]["spend"]))
    assert np.allclose(loaded.predict_scores(as_text), expected[:1], atol=TOL)
    with pytest.raises(SchemaError, match="spend"):
        loaded.predict_scores(dict(records[0], spend="lots"))
    with pytest.raises(SchemaError, match="lack"):
        loaded.predict_scores({k: v for k, v in records[0].items() if k != "age"})
    with pytest.raises(SchemaError, match="spend"):
        loaded.predict_scores(rows.assign(spend="lots"))


def test_onnx_records_single_matrix_input(data, tmp_path):
    X, y, _, _ = data
    Xn = X[["visits", "spend"]]
    model = LogisticRegression().fit(Xn, y)
    loaded = load_model(export_model(model, Xn, path=tmp_path / "m.onnx").path)
    rows = Xn.iloc[:4]
    records = rows.to_dict("records")
    expected = model.predict_proba(rows)
    assert np.allclose(loaded.predict_scores(records[0]), expected[:1], atol=TOL)
    assert np.allclose(loaded.predict_scores(records[::-1]), expected[::-1], atol=TOL)
    assert np.allclose(loaded.predict_scores(rows.to_dict("list")), expected, atol=TOL)
    with pytest.raises(SchemaError, match="visits"):
        loaded.predict_scores({"spend": 1.0})


def test_onnx_source_path(data, tmp_path):
    import onnxruntime as ort

    X, y, _, _ = data
    Xn = X[["visits", "spend"]]
    path = export_model(LogisticRegression().fit(Xn, y), Xn, path=tmp_path / "m.onnx").path
    assert load_model(path).source_path == path
    assert OnnxModel(path.read_bytes()).source_path is None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert OnnxModel(session).source_path == path


def test_a_float32_graph_that_flips_on_split_thresholds_falls_back(tmp_path):
    """An HGB regressor compares doubles. Its float32 graph agreed to 6e-5 on the training
    rows and changed leaf on held-out rows that sat on a threshold (diabetes' values lie on
    a lattice): parity now checks copies set on the thresholds, and falls back to skops."""
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import HistGradientBoostingRegressor

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = HistGradientBoostingRegressor(random_state=0).fit(X[:300], y[:300])
    held_out = np.abs(
        model.predict(X[300:]) - _onnx_float32_predictions(model, X[:300], X[300:], tmp_path)
    )
    assert held_out.max() > 0.5  # the defect is real on rows the model did not see
    result = export_model(model, X[:300], path=tmp_path / "hgb.onnx")
    assert result.format == "skops" and "split thresholds" in result.reason
    assert result.parity.passed and result.parity.max_abs_diff == 0.0  # skops is exact


def _onnx_float32_predictions(model, X_train, X_new, tmp_path):
    from afterfit.exporters.sklearn import sklearn_to_onnx

    onx, _ = sklearn_to_onnx(model, X_train, precision="float32", target_opset=None)
    path = tmp_path / "forced.onnx"
    path.write_bytes(onx.SerializeToString())
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: X_new.to_numpy(dtype=np.float32)})[0].ravel()
