"""Issue 18, item 2: the input schema lists the columns the model reads.

A pipeline whose ColumnTransformer drops an identifier and a date (``remainder="drop"``
or an explicit ``"drop"``) bundles from Parquet, its schema has only the columns read,
the dropped ones are ``ignored``: accepted and dropped in requests, never required; a
misspelt field is still refused. Oracle: the scikit-learn pipeline itself on the full rows.
"""

from __future__ import annotations

import json

import httpx
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from typer.testing import CliRunner

from afterfit.bundle.core import build_bundle, load_bundle
from afterfit.bundle.schema import InputSchema
from afterfit.bundle.validation import SchemaValidationError
from afterfit.cli import app
from afterfit.errors import InvalidInputError
from afterfit.exporters.core import export_model
from afterfit.models.onnx import OnnxModel
from afterfit.models.used_columns import used_columns
from afterfit.serving.app import create_app
from test_server_support import running

runner = CliRunner()
N = 240


def _table(n: int = N, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "customer_id": np.arange(1000, 1000 + n),
            "age": rng.normal(40, 10, n),
            "plan": rng.choice(["basic", "plus", "pro"], n),
            "spend": rng.gamma(2.0, 50.0, n),
            "signup_date": pd.date_range("2021-01-01", periods=n, freq="D"),
        }
    )
    z = (X["age"] - 40) / 10 + (X["plan"] == "pro") + rng.normal(0, 0.7, n)
    return X, (z > 0.4).astype(int).to_numpy()


def _pipeline(remainder: str = "drop", explicit_drop: bool = False) -> Pipeline:
    parts = [("num", StandardScaler(), ["age", "spend"]), ("cat", OneHotEncoder(), ["plan"])]
    if explicit_drop:
        parts.append(("ids", "drop", ["customer_id", "signup_date"]))
    return make_pipeline(ColumnTransformer(parts, remainder=remainder), LogisticRegression())


@pytest.fixture(scope="module")
def fitted():
    X, y = _table()
    return X, y, _pipeline().fit(X, y)


# --- used_columns ------------------------------------------------------------------------


def test_used_columns_of_column_transformers():
    X, y = _table()
    cols = list(X.columns)
    assert used_columns(_pipeline().fit(X, y), cols) == ["age", "plan", "spend"]
    assert used_columns(_pipeline(explicit_drop=True).fit(X, y), cols) == ["age", "plan", "spend"]
    # remainder="passthrough" reads every column.
    num = X.drop(columns=["plan", "signup_date"])
    ct = ColumnTransformer([("num", StandardScaler(), ["age"])], remainder="passthrough")
    assert used_columns(make_pipeline(ct, LogisticRegression()).fit(num, y), list(num.columns)) == [
        "customer_id",
        "age",
        "spend",
    ]
    # A ColumnTransformer nested as the first step of a pipeline inside a pipeline.
    inner = Pipeline([("prep", Pipeline([("ct", _pipeline().steps[0][1])]))])
    outer = Pipeline([("inner", inner), ("clf", LogisticRegression())]).fit(X, y)
    assert used_columns(outer, cols) == ["age", "plan", "spend"]
    # No column transformer: every column.
    plain = LogisticRegression().fit(X[["age", "spend"]], y)
    assert used_columns(plain, ["age", "spend"]) == ["age", "spend"]


# --- the schema's ignored columns --------------------------------------------------------


def test_schema_ignored_columns_are_accepted_dropped_and_never_required():
    X, _ = _table(20)
    schema = InputSchema.from_frame(X, ignored=["customer_id", "signup_date"])
    assert schema.names == ("age", "plan", "spend")
    assert schema.ignored == ("customer_id", "signup_date")
    rec = {"age": 41.0, "plan": "pro", "spend": 10.0}
    # Omitted: fine; present (any value, even a date string): accepted and dropped.
    for extra in ({}, {"customer_id": 7}, {"signup_date": "2024-01-31", "customer_id": None}):
        out = schema.validate_records({**rec, **extra})
        assert list(out.columns) == ["age", "plan", "spend"]
    frame = schema.validate_frame(X)  # the training table, dates included
    assert list(frame.columns) == ["age", "plan", "spend"] and len(frame) == 20
    # A misspelt field is still an error, and a read field still required.
    with pytest.raises(SchemaValidationError) as err:
        schema.validate_records({**rec, "custmer_id": 7})
    assert err.value.errors[0]["type"] == "extra" and err.value.errors[0]["loc"][1] == "custmer_id"
    with pytest.raises(SchemaValidationError) as err:
        schema.validate_records({"plan": "pro", "spend": 1.0, "customer_id": 3})
    assert err.value.errors[0]["type"] == "missing" and err.value.errors[0]["loc"][1] == "age"
    # Round trip, and the JSON schema allows the ignored names without requiring them.
    again = InputSchema.from_dict(json.loads(json.dumps(schema.to_dict())))
    assert again == schema and again.ignored == schema.ignored
    js = schema.json_schema()
    assert "customer_id" in js["properties"] and "customer_id" not in js["required"]
    assert js["additionalProperties"] is False


def test_schema_documents_without_ignored_still_load_and_bad_ones_are_refused():
    X, _ = _table(10)
    doc = InputSchema.from_frame(X[["age", "spend"]]).to_dict()
    del doc["ignored"]  # a schema.json written before issue 18
    assert InputSchema.from_dict(doc).ignored == ()
    with pytest.raises(InvalidInputError, match="ignored"):
        InputSchema.from_dict({**doc, "ignored": "customer_id"})
    with pytest.raises(InvalidInputError, match="both fields and ignored"):
        InputSchema.from_frame(X[["age"]]).__class__(
            InputSchema.from_frame(X[["age"]]).fields, ignored=["age"]
        )


def test_date_the_model_reads_is_still_refused_with_a_fix():
    X, _ = _table(10)
    with pytest.raises(InvalidInputError, match="signup_date"):
        InputSchema.from_frame(X)  # nothing says the date is ignored: it is a field


# --- export and bundle -------------------------------------------------------------------


def test_export_graph_takes_only_the_columns_read(fitted, tmp_path):
    X, _, model = fitted
    res = export_model(model, X, path=tmp_path / "m.onnx")
    assert res.format == "onnx" and res.parity.passed, res.reason
    onnx_model = OnnxModel(res.path)
    assert onnx_model.feature_names == ["age", "plan", "spend"]
    used = X[["age", "plan", "spend"]]
    np.testing.assert_allclose(onnx_model.predict_scores(used), model.predict_proba(X), atol=1e-5)


@pytest.mark.parametrize("explicit_drop", [False, True])
def test_bundle_from_parquet_with_id_and_date_serves_requests_without_them(tmp_path, explicit_drop):
    X, y = _table()
    model = _pipeline(explicit_drop=explicit_drop).fit(X, y)
    sio.dump(model, tmp_path / "m.skops")
    data = tmp_path / "train.parquet"
    X.assign(churn=y).to_parquet(data, index=False)
    out = tmp_path / "churn-1.0"
    result = runner.invoke(app, ["bundle", "--model", str(tmp_path / "m.skops"),
                                 "--data", str(data), "--target", "churn", "--out", str(out),
                                 "--trusted-type", "numpy.dtype"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "3 input fields" in " ".join(result.output.split())
    schema = json.loads((out / "schema.json").read_text())
    assert [f["name"] for f in schema["fields"]] == ["age", "plan", "spend"]
    assert schema["ignored"] == ["customer_id", "signup_date"]
    bundle = load_bundle(out)
    oracle = model.predict_proba(X)
    recs = X[["age", "plan", "spend"]].head(4).to_dict("records")
    got = bundle.predict_records(recs)
    np.testing.assert_allclose(
        [[g["probabilities"]["0"], g["probabilities"]["1"]] for g in got], oracle[:4], atol=1e-5
    )
    # The same rows with the ignored columns: accepted, dropped, same answers.
    with_ids = [{**r, "customer_id": 5, "signup_date": "2024-02-01"} for r in recs]
    assert bundle.predict_records(with_ids) == got


def test_served_bundle_accepts_requests_that_omit_unused_columns(fitted, tmp_path):
    X, y, model = fitted
    bundle = build_bundle(model, X, y, out=tmp_path / "churn-2", name="churn", version="2")
    assert bundle.schema.ignored == ("customer_id", "signup_date")
    oracle = model.predict_proba(X)
    app_ = create_app(bundle)
    with running(app_) as base, httpx.Client(base_url=base, timeout=30) as client:
        rec = X[["age", "plan", "spend"]].iloc[0].to_dict()
        r = client.post("/predict", json=rec)
        assert r.status_code == 200, r.text
        probs = r.json()["predictions"][0]["probabilities"]
        assert [probs["0"], probs["1"]] == pytest.approx(oracle[0], abs=1e-5)
        r = client.post("/predict", json={**rec, "customer_id": 1, "signup_date": "2024-01-01"})
        assert r.status_code == 200, r.text
        r = client.post("/predict", json={**rec, "custmer_id": 1})
        assert r.status_code == 422 and "custmer_id" in r.text


def test_evaluate_accepts_data_without_the_columns_the_model_never_reads(fitted, tmp_path):
    # "The features lack 1 column(s) the model expects: 'notes'" for a column the
    # pipeline's ColumnTransformer drops (scikit-learn predicts without it)
    from afterfit.evaluation import evaluate

    X, y, model = fitted
    unread = [c for c in X.columns if c not in used_columns(model, list(X.columns))]
    assert unread
    full = evaluate(model, X, y, ci="none")
    without = evaluate(model, X.drop(columns=unread), y, ci="none")
    assert without.metrics["roc_auc"].value == full.metrics["roc_auc"].value
