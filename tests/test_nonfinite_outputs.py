"""No NaN ever leaves paired with a decision.

Inputs finite in float64 but beyond float32 (1e39) overflow an ONNX graph to NaN
probabilities; huge inputs overflow a float64 linear model to infinity. Every such row is
refused by name (``Bundle.predict_frame``, ``afterfit predict``, ``evaluate``), never
decided; a float64 model that computes them correctly still predicts, matching
scikit-learn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris, make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.svm import LinearSVC
from typer.testing import CliRunner

from afterfit.bundle.core import (
    Bundle,
    BundlePredictions,
    NonFiniteOutputError,
    build_bundle,
    check_finite_outputs,
)
from afterfit.bundle.decision import Decision
from afterfit.bundle.validation import SchemaValidationError
from afterfit.cli import app
from afterfit.errors import ModelError
from afterfit.evaluation import evaluate
from afterfit.models import load_model

runner = CliRunner()
COLS = ["a", "b", "c"]


def data(n: int = 200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    X, y = make_classification(n, 3, n_informative=3, n_redundant=0, random_state=seed)
    return pd.DataFrame(X, columns=COLS), y


@pytest.fixture(scope="module")
def onnx_bundle(tmp_path_factory) -> Bundle:
    X, y = data()
    model = LogisticRegression().fit(X, y)
    out = tmp_path_factory.mktemp("nf") / "onnx-1"
    bundle = build_bundle(model, X, y, out=out, name="nf", version="1", threshold=0.5)
    assert bundle.manifest["model_file"] == "model.onnx"
    return bundle


@pytest.fixture(scope="module")
def skops_bundle(tmp_path_factory) -> tuple[Bundle, LogisticRegression]:
    X, y = data()
    model = LogisticRegression().fit(X, y)
    out = tmp_path_factory.mktemp("nf") / "skops-1"
    bundle = build_bundle(model, X, y, out=out, name="nf", version="1", export="skops")
    assert bundle.manifest["model_file"] == "model.skops"
    return bundle, model


def with_rows(values: dict[int, dict[str, float]], n: int = 6) -> pd.DataFrame:
    X, _ = data(n, seed=3)
    for row, fields in values.items():
        for name, v in fields.items():
            X.loc[row, name] = v
    return X


@pytest.mark.parametrize(
    ("bad", "fields"),
    [
        ({1: dict.fromkeys(COLS, 1e39)}, {1: COLS}),
        ({2: dict.fromkeys(COLS, -1e39)}, {2: COLS}),
        ({0: dict.fromkeys(COLS, 1e39), 4: dict.fromkeys(COLS, 3e38 * 10)}, {0: COLS, 4: COLS}),
    ],
)
def test_onnx_float32_overflow_is_refused_naming_rows_and_fields(
    onnx_bundle: Bundle, bad, fields
) -> None:
    X = with_rows(bad)
    with pytest.raises(NonFiniteOutputError) as info:
        onnx_bundle.predict_frame(X)
    err = info.value
    assert isinstance(err, SchemaValidationError)  # a server answers it with 422
    assert err.rows == sorted(bad)
    named = {}
    for e in err.errors:
        assert e["type"] == "not_finite_output"
        named.setdefault(e["loc"][0], []).append(e["loc"][1])
    assert named == fields
    for row in bad:
        assert f"row {row}" in str(err)
    with pytest.raises(NonFiniteOutputError):
        onnx_bundle.predict_records(X.to_dict(orient="records"))


def test_onnx_good_rows_still_predict(onnx_bundle: Bundle) -> None:
    X = with_rows({1: {"a": 1e30}})  # large, but inside float32: finite output
    preds = onnx_bundle.predict_frame(X)
    assert np.isfinite(preds.proba).all()


def test_float64_model_computes_1e39_correctly(skops_bundle) -> None:
    bundle, model = skops_bundle
    X = with_rows({1: dict.fromkeys(COLS, 1e39), 3: {"b": -1e39}})
    preds = bundle.predict_frame(X)
    expected = model.predict_proba(X)
    np.testing.assert_allclose(preds.proba, expected, rtol=0, atol=1e-12)
    assert preds.decision.tolist() == model.predict(X).tolist()


def test_float64_overflow_to_infinity_is_refused(tmp_path: Path) -> None:
    X, y = make_regression(100, 3, random_state=0)
    X = pd.DataFrame(X, columns=COLS)
    model = LinearRegression().fit(X, np.abs(y) * 1e3)
    bundle = build_bundle(
        model, X, y, out=tmp_path / "reg-1", name="reg", version="1", export="skops"
    )
    bad = with_rows({2: dict.fromkeys(COLS, 1.7e308)})
    assert not np.isfinite(model.predict(bad)).all()  # the oracle overflows too
    with pytest.raises(NonFiniteOutputError) as info:
        bundle.predict_frame(bad)
    assert info.value.rows == [2]
    assert info.value.errors[0]["loc"][1] in COLS


def test_decision_scores_overflow_is_refused(tmp_path: Path) -> None:
    X, y = data()
    model = LinearSVC().fit(X, y)  # no probabilities: decided on decision scores
    model.coef_ = model.coef_ * 100  # large weights: 1.7e308 inputs overflow float64
    bundle = build_bundle(model, X, y, out=tmp_path / "svc-1", name="svc", version="1")
    signs = np.sign(model.coef_[0])
    bad = with_rows({5: {c: 1.7e308 * s for c, s in zip(COLS, signs, strict=True)}})
    scores = model.decision_function(bad)
    assert not np.isfinite(scores).all()
    with pytest.raises(NonFiniteOutputError) as info:
        bundle.predict_frame(bad)
    assert info.value.rows == [5]


def test_multiclass_onnx_overflow(tmp_path: Path) -> None:
    iris = load_iris(as_frame=True)
    X = iris.data.set_axis(["sl", "sw", "pl", "pw"], axis=1)
    model = LogisticRegression(max_iter=1000).fit(X, iris.target)
    bundle = build_bundle(model, X, iris.target, out=tmp_path / "iris-1", name="i", version="1")
    bad = X.head(4).copy()
    bad.iloc[3] = 1e39
    with pytest.raises(NonFiniteOutputError) as info:
        bundle.predict_frame(bad)
    assert info.value.rows == [3]


def test_check_finite_outputs_and_decide_guard() -> None:
    X = pd.DataFrame({"a": [1.0, 2.0]})
    good = BundlePredictions(proba=np.array([[0.2, 0.8], [0.6, 0.4]]), decision=np.array([1, 0]))
    assert check_finite_outputs(good, X) is good
    bad = BundlePredictions(
        proba=np.array([[0.2, 0.8], [np.nan, np.nan]]), decision=np.array([1, 0])
    )
    with pytest.raises(NonFiniteOutputError) as info:
        check_finite_outputs(bad, X, row_offset=100)
    assert info.value.rows == [101]
    assert info.value.errors[0]["loc"] == [101, None]  # no field to blame
    decision = Decision(task="binary", classes=(0, 1), positive_class=1, threshold=0.5)
    for proba in ([[np.nan, np.nan]], [[0.1, np.inf]]):
        with pytest.raises(ModelError, match="NaN or infinite"):
            decision.decide(np.array(proba), None)


# --- afterfit predict ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_cli_predict_exits_2_naming_the_row_across_chunks(
    onnx_bundle: Bundle, tmp_path: Path, fmt: str
) -> None:
    X, _ = data(50, seed=4)
    X.loc[37, COLS] = 1e39
    src = tmp_path / f"rows.{fmt}"
    X.to_csv(src, index=False) if fmt == "csv" else X.to_parquet(src)
    out = tmp_path / "preds.csv"
    out.write_text("earlier predictions\n")
    result = runner.invoke(
        app,
        ["predict", str(onnx_bundle.path), str(src), "--out", str(out), "--chunk-rows", "10",
         "--overwrite"],  # the earlier file may be replaced, yet a failed run keeps it
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "row 37" in result.output and "'a'" in result.output
    assert out.read_text() == "earlier predictions\n"


def test_cli_predict_never_writes_nan_with_a_decision(onnx_bundle: Bundle, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(40, 3)) * 10.0 ** rng.integers(0, 40, (40, 3)), columns=COLS)
    src = tmp_path / "rows.parquet"
    X.to_parquet(src)
    out = tmp_path / "preds.parquet"
    result = runner.invoke(app, ["predict", str(onnx_bundle.path), str(src), "--out", str(out)])
    if result.exit_code == 0:
        got = pd.read_parquet(out)
        assert np.isfinite(got[["proba_0", "proba_1"]].to_numpy()).all()
    else:
        assert result.exit_code == 2 and "NaN or infinite" in result.output
        assert not out.exists()
    # The rows under float32's range alone predict, every one finite.
    ok = X[(X.abs() < 1e38).all(axis=1)]
    ok.to_parquet(src)
    args = ["predict", str(onnx_bundle.path), str(src), "--out", str(out), "--overwrite"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    got = pd.read_parquet(out)
    assert len(got) == len(ok) and np.isfinite(got[["proba_0", "proba_1"]].to_numpy()).all()


# --- evaluate -----------------------------------------------------------------------------


def test_evaluate_names_the_rows_of_non_finite_scores(onnx_bundle: Bundle) -> None:
    model = load_model(onnx_bundle.path / "model.onnx")
    X, y = data(30, seed=5)
    X.loc[[3, 11], COLS] = 1e39
    with pytest.raises(ModelError) as info:
        evaluate(model, X, y, n_resamples=10)
    message = str(info.value)
    assert "2 row(s)" in message and "row 3" in message and "row 11" in message


def test_evaluate_float64_model_matches_sklearn(skops_bundle) -> None:
    _, model = skops_bundle
    X, y = data(60, seed=5)
    X.loc[[3, 11], COLS] = 1e39
    ev = evaluate(model, X, y, ci="none")
    assert ev.predictions.n == 60
    np.testing.assert_allclose(ev.predictions.scores, model.predict_proba(X)[:, 1])


def test_cli_evaluate_exits_2_naming_rows(onnx_bundle: Bundle, tmp_path: Path) -> None:
    X, y = data(30, seed=5)
    X.loc[7, COLS] = 1e39
    src = tmp_path / "test.csv"
    X.assign(y=y).to_csv(src, index=False)
    result = runner.invoke(
        app,
        ["evaluate", "--model", str(onnx_bundle.path / "model.onnx"), "--data", str(src),
         "--target", "y", "--out", str(tmp_path / "ev"), "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "row 7" in result.output
    assert not (tmp_path / "ev" / "results.json").exists()
