"""The model server over real HTTP: a uvicorn server on a loopback port, httpx requests.

Oracles: the scikit-learn model the bundle was built from (probabilities), the bundle's own
``predict_frame`` (decisions), Prometheus' own text parser, the prediction log read back.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging

import httpx
import numpy as np
import pyarrow as pa
import pytest
from prometheus_client.parser import text_string_to_metric_families

from afterfit.serving.access_log import ACCESS_LOGGER, configure_access_log
from afterfit.serving.app import ARROW_STREAM, create_app
from afterfit.serving.predlog import read_log
from test_server_support import (
    build_cancer_bundle,
    build_mixed_bundle,
    cancer_data,
    cancer_model,
    mixed_data,
    mixed_model,
    running,
)

ARROW = {"content-type": ARROW_STREAM}


@pytest.fixture(scope="module")
def cancer(tmp_path_factory):
    return build_cancer_bundle(tmp_path_factory.mktemp("bundles") / "cancer")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    return build_mixed_bundle(tmp_path_factory.mktemp("bundles") / "mixed")


@pytest.fixture(scope="module")
def cancer_server(cancer, tmp_path_factory):
    """One shared server (with a SQLite log) for the read-only checks."""
    url = f"sqlite:///{tmp_path_factory.mktemp('log') / 'preds.db'}"
    app = create_app(cancer, log_url=url, microbatch_wait_ms=5)
    with running(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client, app, url


def _arrow(frame) -> bytes:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _metrics(client: httpx.Client, **kw) -> dict[str, list]:
    r = client.get("/metrics", **kw)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    return {f.name: f.samples for f in text_string_to_metric_families(r.text)}


def _value(samples, name, **labels) -> float:
    found = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    return float(sum(found))


# -- the routes -----------------------------------------------------------------------------


def test_health_ready_schema_docs(cancer_server, cancer):
    client, _, _ = cancer_server
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and body["prediction_log"]["healthy"] is True
    schema = client.get("/schema").json()
    assert schema["model_name"] == "cancer" and schema["model_version"] == "1.0"
    assert schema["threshold"] == pytest.approx(0.4)
    assert schema["record"]["required"] == [f.name for f in cancer.schema.fields]
    assert schema["record"]["additionalProperties"] is False
    assert len(schema["fields"]) == 30
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    body_schema = spec["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert {"application/json", ARROW_STREAM} <= set(body_schema)
    assert {"200", "401", "413", "415", "422"} <= set(
        spec["paths"]["/predict"]["post"]["responses"]
    )


def test_predict_single_batch_and_list_match_the_model(cancer_server):
    client, _, _ = cancer_server
    X, _ = cancer_data()
    oracle = cancer_model().predict_proba(X)
    recs = X.head(5).to_dict("records")
    one = client.post("/predict", json=recs[0])
    assert one.status_code == 200
    doc = one.json()
    assert doc["model_name"] == "cancer" and doc["model_version"] == "1.0"
    assert doc["n_rows"] == 1 and doc["request_id"] == one.headers["x-request-id"]
    probs = doc["predictions"][0]["probabilities"]
    assert [probs["0"], probs["1"]] == pytest.approx(oracle[0], abs=1e-5)
    for body in ({"records": recs}, recs):
        r = client.post("/predict", json=body)
        assert r.status_code == 200
        rows = r.json()["predictions"]
        got = np.array([[p["probabilities"]["0"], p["probabilities"]["1"]] for p in rows])
        np.testing.assert_allclose(got, oracle[:5], atol=1e-5)
        # the decision is taken at the bundle's threshold (0.4), not at 0.5
        assert [p["decision"] for p in rows] == [int(p1 > 0.4) for p1 in got[:, 1]]
    # a client's request id is kept
    r = client.post("/predict", json=recs[0], headers={"X-Request-ID": "abc-123"})
    assert r.json()["request_id"] == "abc-123" == r.headers["x-request-id"]


def test_threshold_decision_differs_from_argmax(cancer_server):
    client, _, _ = cancer_server
    X, _ = cancer_data()
    p1 = cancer_model().predict_proba(X)[:, 1]
    between = np.flatnonzero((p1 > 0.4 + 1e-4) & (p1 < 0.5 - 1e-4))
    assert between.size > 0  # four rows of the data set score there
    r = client.post("/predict", json=X.iloc[between[:3]].to_dict("records"))
    assert all(p["decision"] == 1 for p in r.json()["predictions"])


def test_arrow_ipc_batch(cancer_server):
    client, _, _ = cancer_server
    X, _ = cancer_data()
    r = client.post("/predict", content=_arrow(X.head(300)), headers=ARROW)
    assert r.status_code == 200 and r.json()["n_rows"] == 300
    got = np.array([p["probabilities"]["1"] for p in r.json()["predictions"]])
    np.testing.assert_allclose(got, cancer_model().predict_proba(X.head(300))[:, 1], atol=1e-5)
    bad = client.post("/predict", content=b"not arrow at all", headers=ARROW)
    assert bad.status_code == 422 and bad.json()["detail"][0]["type"] == "arrow"
    missing = client.post(
        "/predict", content=_arrow(X.head(3).drop(columns=["mean_radius"])), headers=ARROW
    )
    assert missing.status_code == 422
    assert {
        "loc": [None, "mean_radius"],
        "msg": "column required",
        "type": "missing",
    } in missing.json()["detail"]


@pytest.mark.parametrize(
    ("body", "kind", "text"),
    [
        (b"{not json", "json", "not valid JSON"),
        (b'{"a": NaN}', "json", "NaN is not valid JSON"),
        (b"[Infinity]", "json", "Infinity is not valid JSON"),
        (b"", "json", "body is empty"),
        (b"[]", "empty", "no records"),
        (b'{"records": []}', "empty", "no records"),
        (b'{"records": 5}', "records", "must be a list"),
        (b"42", "json", "got a JSON int"),
        (b"[1, 2]", "record", "expected an object"),
        # under the small-body size, so json.loads itself meets the depth (bigger bodies:
        # tests/test_server_hostile.py)
        (b"[" * 20_000 + b"]" * 20_000, "json", "nested too deeply"),
        (b"\xff\xfe\x00garbage", "json", ""),
    ],
)
def test_bad_json_is_422_never_500(cancer_server, body, kind, text):
    client, _, _ = cancer_server
    r = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail[0]["type"] == kind and text in detail[0]["msg"]
    assert r.json()["request_id"] == r.headers["x-request-id"]


def test_field_level_errors(mixed):
    X, _ = mixed_data()
    rec = {k: (v.item() if hasattr(v, "item") else v) for k, v in X.iloc[0].items()}
    rec["income"] = 1.0 if rec["income"] != rec["income"] else rec["income"]
    app = create_app(mixed)
    with running(app) as base, httpx.Client(base_url=base) as client:
        ok = client.post("/predict", json={**rec, "income": None})  # nullable field
        assert ok.status_code == 200, ok.text
        probs = ok.json()["predictions"][0]["probabilities"]
        assert set(probs) == {"churn", "stay"}
        cases = [
            ({k: v for k, v in rec.items() if k != "age"}, [0, "age"], "missing"),
            ({**rec, "zip": "123"}, [0, "zip"], "extra"),
            ({**rec, "age": "forty"}, [0, "age"], "type"),
            ({**rec, "age": 41.5}, [0, "age"], "type"),
            ({**rec, "age": None}, [0, "age"], "null"),
            ({**rec, "plan": "gold"}, [0, "plan"], "category"),
            ({**rec, "active": 1}, [0, "active"], "type"),
        ]
        for record, loc, kind in cases:
            r = client.post("/predict", json=record)
            assert r.status_code == 422, (record, r.text)
            errors = r.json()["detail"]
            assert any(e["loc"] == loc and e["type"] == kind and e["msg"] for e in errors), errors
        # errors name the row within a batch
        r = client.post("/predict", json={"records": [rec, {**rec, "plan": 3}, rec]})
        assert r.status_code == 422
        assert [e["loc"] for e in r.json()["detail"]] == [[1, "plan"]]
        # the mixed bundle's probabilities equal scikit-learn's
        r = client.post("/predict", json={"records": X.head(20).to_dict("records")})
        got = [p["probabilities"]["churn"] for p in r.json()["predictions"]]
        np.testing.assert_allclose(got, mixed_model().predict_proba(X.head(20))[:, 0], atol=1e-5)


def test_content_type_and_limits(cancer):
    X, _ = cancer_data()
    rec = X.iloc[0].to_dict()
    app = create_app(cancer, max_body_bytes=20_000, max_batch_rows=10)
    with running(app) as base, httpx.Client(base_url=base) as client:
        r = client.post("/predict", content=b"a=1", headers={"content-type": "text/plain"})
        assert r.status_code == 415 and "text/plain" in r.json()["detail"]
        big = json.dumps([rec] * 40).encode()
        assert len(big) > 20_000
        r = client.post("/predict", content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413 and "limit is 20000 bytes" in r.json()["detail"]

        def chunks():  # no Content-Length: counted as it streams in
            for _ in range(10):
                yield b" " * 5_000

        r = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413 and "over the limit" in r.json()["detail"]
        r = client.post("/predict", json=[rec] * 11)
        assert r.status_code == 413 and "limit is 10 rows" in r.json()["detail"]
        assert client.post("/predict", json=[rec] * 10).status_code == 200
        samples = _metrics(client)["afterfit_request_errors"]
        assert _value(samples, "afterfit_request_errors_total", status="413") == 3
        assert _value(samples, "afterfit_request_errors_total", status="415") == 1


def test_api_key(cancer):
    X, _ = cancer_data()
    rec = X.iloc[0].to_dict()
    app = create_app(cancer, api_key="s3cret-key")
    with running(app) as base, httpx.Client(base_url=base) as client:
        r = client.post("/predict", json=rec)
        assert r.status_code == 401 and "API key" in r.json()["detail"]
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert client.post("/predict", json=rec, headers={"X-API-Key": "wrong"}).status_code == 401
        bad_bearer = {"Authorization": "Basic s3cret-key"}
        assert client.post("/predict", json=rec, headers=bad_bearer).status_code == 401
        assert (
            client.post("/predict", json=rec, headers={"X-API-Key": "s3cret-key"}).status_code
            == 200
        )
        bearer = {"Authorization": "Bearer s3cret-key"}
        assert client.post("/predict", json=rec, headers=bearer).status_code == 200
        assert client.get("/schema").status_code == 401
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers=bearer).status_code == 200
        # probes and docs stay open
        assert client.get("/health").status_code == 200
        assert client.get("/ready").status_code == 200
        assert client.get("/openapi.json").status_code == 200


def test_metrics_count_requests_predictions_and_drift(cancer):
    X, _ = cancer_data()
    app = create_app(cancer)
    with running(app) as base, httpx.Client(base_url=base) as client:
        for i in range(7):
            assert client.post("/predict", json=X.iloc[i].to_dict()).status_code == 200
        assert (
            client.post("/predict", json={"records": X.head(50).to_dict("records")}).status_code
            == 200
        )
        assert client.post("/predict", json={"bad": 1}).status_code == 422
        families = _metrics(client)
        req = families["afterfit_requests"]
        assert _value(req, "afterfit_requests_total", route="/predict", status="200") == 8
        assert _value(req, "afterfit_requests_total", route="/predict", status="422") == 1
        lat = families["afterfit_request_latency_seconds"]
        assert _value(lat, "afterfit_request_latency_seconds_count", route="/predict") == 9
        pred = families["afterfit_prediction"]
        assert _value(pred, "afterfit_prediction_count") == 57
        # buckets are cumulative and end at the count
        buckets = [s for s in pred if s.name == "afterfit_prediction_bucket"]
        values = [s.value for s in buckets]
        assert values == sorted(values) and values[-1] == 57
        p1 = cancer_model().predict_proba(X.head(50))[:, 1]
        p1 = np.concatenate([cancer_model().predict_proba(X.head(7))[:, 1], p1])
        assert _value(pred, "afterfit_prediction_sum") == pytest.approx(p1.sum(), abs=1e-3)
        half = next(s.value for s in buckets if s.labels["le"] == "0.5")
        assert half == int((p1 <= 0.5).sum())
        classes = families["afterfit_predicted_class"]
        assert _value(classes, "afterfit_predicted_class_total") == 57
        assert _value(classes, "afterfit_predicted_class_total", **{"class": "1"}) == int(
            (p1 > 0.4).sum()
        )
        drift = families["afterfit_drift_score"][0].value
        assert np.isfinite(drift) and drift >= 0
        rows = families["afterfit_predicted_rows"]
        assert _value(rows, "afterfit_predicted_rows_total") == 57
        info = families["afterfit_model_info"][0]
        assert info.labels == {"name": "cancer", "version": "1.0", "task": "binary"}


def test_prediction_log_holds_every_answer_sqlite(cancer, tmp_path):
    url = f"sqlite:///{tmp_path / 'preds.db'}"
    X, _ = cancer_data()
    answers = {}
    with running(create_app(cancer, log_url=url)) as base, httpx.Client(base_url=base) as client:
        for i in range(5):
            r = client.post("/predict", json=X.iloc[i].to_dict())
            answers[r.json()["request_id"]] = r.json()["predictions"]
        r = client.post("/predict", json={"records": X.iloc[5:9].to_dict("records")})
        answers[r.json()["request_id"]] = r.json()["predictions"]
        r = client.post("/predict", content=_arrow(X.iloc[9:12]), headers=ARROW)
        answers[r.json()["request_id"]] = r.json()["predictions"]
        assert client.post("/predict", json={"nope": 1}).status_code == 422
    # the server has shut down: the log is flushed
    log = read_log(url)
    assert len(log) == 12
    assert set(log["request_id"]) == set(answers)
    np.testing.assert_allclose(log["mean_radius"], X["mean_radius"].iloc[:12])
    for rid, preds in answers.items():
        rows = log[log["request_id"] == rid]
        assert len(rows) == len(preds)
        np.testing.assert_allclose(rows["proba_1"], [p["probabilities"]["1"] for p in preds])
        assert rows["decision"].tolist() == [p["decision"] for p in preds]
    assert (log["model_name"] == "cancer").all() and (log["model_version"] == "1.0").all()
    assert (log["latency_ms"] > 0).all()


def test_prediction_log_postgresql(mixed, postgres_url):
    X, _ = mixed_data()
    recs = X.head(6).to_dict("records")
    with (
        running(create_app(mixed, log_url=postgres_url)) as base,
        httpx.Client(base_url=base) as client,
    ):
        ids = [client.post("/predict", json=r).json()["request_id"] for r in recs]
    log = read_log(postgres_url, model_version="2.1")
    log = log[log["request_id"].isin(ids)]
    assert len(log) == 6
    assert log["plan"].tolist() == X["plan"].head(6).tolist()
    assert log["age"].tolist() == X["age"].head(6).tolist()
    assert {"proba_churn", "proba_stay", "decision"} <= set(log.columns)


def test_unreachable_log_fails_at_creation(cancer, tmp_path):
    from afterfit.serving.predlog import PredictionLogError

    with pytest.raises(PredictionLogError, match="could not reach"):
        create_app(cancer, log_url=f"sqlite:///{tmp_path / 'missing-dir' / 'p.db'}")
    with pytest.raises(PredictionLogError, match="could not reach"):
        create_app(cancer, log_url="postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_access_log_lines_are_json(cancer):
    X, _ = cancer_data()
    stream = io.StringIO()
    configure_access_log(stream)
    try:
        with running(create_app(cancer)) as base, httpx.Client(base_url=base) as client:
            ok = client.post("/predict", json={"records": X.head(3).to_dict("records")})
            bad = client.post(
                "/predict", content=b"{", headers={"content-type": "application/json"}
            )
    finally:
        for name in (ACCESS_LOGGER, "afterfit.server", "afterfit.predlog"):
            logger = logging.getLogger(name)
            logger.handlers = [h for h in logger.handlers if h.get_name() != "afterfit-json"]
            logger.propagate = True
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    by_id = {line.get("request_id"): line for line in lines}
    first = by_id[ok.headers["x-request-id"]]
    assert first["method"] == "POST" and first["path"] == "/predict"
    assert first["status"] == 200 and first["n_rows"] == 3 and first["latency_ms"] > 0
    assert first["ts"].endswith("Z")
    second = by_id[bad.headers["x-request-id"]]
    assert second["status"] == 422 and second["n_rows"] == 0 and "not valid JSON" in second["error"]


def test_concurrent_single_rows_are_micro_batched(cancer):
    X, _ = cancer_data()
    oracle = cancer_model().predict_proba(X)[:, 1]
    app = create_app(cancer, microbatch_wait_ms=30, microbatch_max_rows=64)
    server = app.state.afterfit

    async def fire(base: str) -> list[dict]:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            rs = await asyncio.gather(
                *[client.post("/predict", json=X.iloc[i].to_dict()) for i in range(48)]
            )
        return [r.json() for r in rs]

    with running(app) as base:
        docs = asyncio.run(fire(base))
    assert server.batcher.batches < 48  # gathered, not one model call per request
    got = [d["predictions"][0]["probabilities"]["1"] for d in docs]
    np.testing.assert_allclose(got, oracle[:48], atol=1e-5)  # each got its own row back


def test_a_real_fault_is_500_and_logged(cancer, caplog):
    X, _ = cancer_data()

    class Broken:
        def __init__(self, inner):
            self._inner = inner

        def __getattr__(self, name):
            return getattr(self._inner, name)

        def predict_frame(self, X, validate=True):
            raise RuntimeError("the model file vanished")

    app = create_app(Broken(cancer))
    with caplog.at_level(logging.ERROR, logger="afterfit.server"):
        with running(app) as base, httpx.Client(base_url=base) as client:
            r = client.post("/predict", json=X.iloc[0].to_dict())
            assert client.post("/predict", json={"x": 1}).status_code == 422
            assert client.get("/health").status_code == 200
    assert r.status_code == 500
    assert r.json()["detail"].startswith("internal server error")
    assert r.json()["request_id"] == r.headers["x-request-id"]
    assert "the model file vanished" in caplog.text


def test_ready_and_predict_answer_503_when_the_log_writer_stops(cancer, tmp_path):
    X, _ = cancer_data()
    app = create_app(cancer, log_url=f"sqlite:///{tmp_path / 'p.db'}")
    with running(app) as base, httpx.Client(base_url=base) as client:
        assert client.get("/ready").status_code == 200
        assert client.post("/predict", json=X.iloc[0].to_dict()).status_code == 200
        app.state.afterfit.writer.close()  # as if its database went away for good
        r = client.get("/ready")
        assert r.status_code == 503 and r.json()["prediction_log"]["healthy"] is False
        r = client.post("/predict", json=X.iloc[0].to_dict())
        assert r.status_code == 503 and "prediction log" in r.json()["detail"]
        assert client.get("/health").status_code == 200  # alive, just not ready
    assert len(read_log(f"sqlite:///{tmp_path / 'p.db'}")) == 1


def test_multiclass_and_regression_bundles(tmp_path):
    from sklearn.datasets import load_diabetes, load_iris
    from sklearn.linear_model import LinearRegression, LogisticRegression

    from afterfit.bundle.core import build_bundle, load_bundle

    Xi, yi = load_iris(return_X_y=True, as_frame=True)
    Xi.columns = ["sl", "sw", "pl", "pw"]
    yi = yi.map({0: "setosa", 1: "versicolor", 2: "virginica"})
    iris_model = LogisticRegression(max_iter=1000).fit(Xi, yi)
    build_bundle(iris_model, Xi, yi, out=tmp_path / "iris", name="iris", version="3")
    Xd, yd = load_diabetes(return_X_y=True, as_frame=True)
    reg = LinearRegression().fit(Xd, yd)
    build_bundle(reg, Xd, yd, out=tmp_path / "diab", name="diabetes", version="1")

    url = f"sqlite:///{tmp_path / 'p.db'}"
    iris = create_app(load_bundle(tmp_path / "iris"), log_url=url)
    with running(iris) as base, httpx.Client(base_url=base) as client:
        r = client.post("/predict", json=Xi.iloc[[0, 60, 120]].to_dict("records"))
        rows = r.json()["predictions"]
        got = np.array([[p["probabilities"][c] for c in iris_model.classes_] for p in rows])
        np.testing.assert_allclose(got, iris_model.predict_proba(Xi.iloc[[0, 60, 120]]), atol=1e-5)
        assert [p["decision"] for p in rows] == list(iris_model.predict(Xi.iloc[[0, 60, 120]]))
        families = _metrics(client)
        assert _value(families["afterfit_prediction"], "afterfit_prediction_sum") == (
            pytest.approx(got.max(axis=1).sum(), abs=1e-4)  # the top-class probability
        )
        assert _value(families["afterfit_predicted_class"], "afterfit_predicted_class_total") == 3
    log = read_log(url, model_name="iris")
    assert {"proba_setosa", "proba_versicolor", "proba_virginica", "decision"} <= set(log.columns)
    assert log["decision"].tolist() == [p["decision"] for p in rows]

    diab = create_app(load_bundle(tmp_path / "diab"), log_url=url)
    with running(diab) as base, httpx.Client(base_url=base) as client:
        r = client.post("/predict", json={"records": Xd.head(4).to_dict("records")})
        values = [p["prediction"] for p in r.json()["predictions"]]
        np.testing.assert_allclose(values, reg.predict(Xd.head(4)), rtol=1e-4)
        families = _metrics(client)
        assert _value(families["afterfit_prediction"], "afterfit_prediction_sum") == (
            pytest.approx(sum(values), rel=1e-6)
        )
        assert (
            "afterfit_predicted_class" not in families or not families["afterfit_predicted_class"]
        )
    log = read_log(url, model_name="diabetes")
    np.testing.assert_allclose(log["prediction"], values)
