"""MLflow logging against real MLflow tracking stores, read back with MlflowClient."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import afterfit
from afterfit.errors import InvalidInputError, MissingDependencyError
from afterfit.report.files import write_results
from afterfit.report.mlflow_log import (
    DEFAULT_URI,
    collect_metrics,
    log_to_mlflow,
    tracking_uri_for,
)

# found, not imported: importing mlflow takes seconds, so only the tests that log do it
HAVE_MLFLOW = all(importlib.util.find_spec(m) for m in ("mlflow", "sqlalchemy", "alembic"))
needs_mlflow = pytest.mark.skipif(not HAVE_MLFLOW, reason="the mlflow extra is not installed")

# MLflow's rule for metric and parameter names (mlflow.utils.validation), without the
# ':' that Windows refuses
MLFLOW_NAME = re.compile(r"^[/\w.\- ]*$")
#: Class labels with characters MLflow refuses in names.
LABELS = np.array(["setosa", "versi:color?", "virginica/β"])


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _client(uri: str):
    """A client to read a store back; MLflow 3 opens a file store only with
    MLFLOW_ALLOW_FILE_STORE, set while the store is created."""
    from mlflow.tracking import MlflowClient

    saved = os.environ.get("MLFLOW_ALLOW_FILE_STORE")
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        client = MlflowClient(tracking_uri=uri)
        client._tracking_client.store  # noqa: B018 (created here, then cached)
    finally:
        if saved is None:
            del os.environ["MLFLOW_ALLOW_FILE_STORE"]
        else:
            os.environ["MLFLOW_ALLOW_FILE_STORE"] = saved
    return client


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def _artifacts(client, run_id: str, path: str | None = None) -> set[str]:
    out: set[str] = set()
    for item in client.list_artifacts(run_id, path):
        out |= _artifacts(client, run_id, item.path) if item.is_dir else {item.path}
    return out


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A real multiclass evaluation written to a folder, and a real binary threshold
    selection added to its document, as `afterfit run` does."""
    tmp = tmp_path_factory.mktemp("report")
    X, y = load_iris(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, LABELS[y])
    evaluation = afterfit.evaluate(model, X, LABELS[y], n_resamples=60, random_state=0)
    out = tmp / "report"
    write_results(evaluation, out, source={"model": "iris.skops", "data": "iris.csv"})
    doc = json.loads((out / "results.json").read_text())
    Xb, yb = load_breast_cancer(return_X_y=True)
    binary = make_pipeline(StandardScaler(), LogisticRegression()).fit(Xb[:300], yb[:300])
    selection = afterfit.select_threshold(
        binary, Xb[300:], yb[300:], objective="f1", n_resamples=40, random_state=0
    )
    doc["thresholds"] = selection.to_dict()
    doc["report"] = {
        "model": "Pipeline(StandardScaler, LogisticRegression)",
        "headline": [{"name": "accuracy", "value": 0.97, "ci_low": 0.93, "ci_high": 0.99}],
        "findings": [{"text": "Rare class.", "severity": "warning"}],
    }
    return {"doc": doc, "out": out, "selection": selection}


@pytest.fixture(scope="module", params=["file", pytest.param("sqlite", marks=pytest.mark.slow)])
def logged(request, report, tmp_path_factory):
    """The report logged to a fresh store: a file store (fast), and a SQLite store (its
    creation runs MLflow's database migrations: several seconds)."""
    if not HAVE_MLFLOW:
        pytest.skip("the mlflow extra is not installed")
    import mlflow  # noqa: F401 (its import sets its loggers' levels: compare after it)

    tmp = tmp_path_factory.mktemp(f"mlflow-{request.param}")
    given = f"sqlite:///{tmp}/mlflow.db" if request.param == "sqlite" else str(tmp / "store")
    names = ("mlflow", "alembic", "sqlalchemy")
    levels = {n: logging.getLogger(n).level for n in names}
    records = _Records()
    logging.getLogger("mlflow").addHandler(records)
    try:
        run_id = log_to_mlflow(
            report["out"],
            report["doc"],
            uri=given,
            run_name="iris run",
            params={"seed": 0, "steps": ["evaluation", "thresholds"], "history": None},
        )
    finally:
        logging.getLogger("mlflow").removeHandler(records)
    restored = {n: logging.getLogger(n).level for n in names} == levels
    uri = tracking_uri_for(given)
    return {
        **report,
        "uri": uri,
        "run": _client(uri).get_run(run_id),
        "run_id": run_id,
        "tmp": tmp,
        "records": records.records,
        "restored": restored,
    }


def test_run_is_finished_and_named(logged):
    run = logged["run"]
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "iris run"
    experiment = _client(logged["uri"]).get_experiment(run.info.experiment_id)
    assert experiment.name == "afterfit"
    # artifacts in the store's folder (beside the database), not in the current folder
    assert experiment.artifact_location.startswith(logged["tmp"].as_uri())


def test_every_evaluation_metric_with_its_interval(logged):
    metrics = logged["run"].data.metrics
    rows = logged["doc"]["evaluation"]["metrics"]
    per_class = 0
    for row in rows:
        name = row["metric"]
        if row["class"] is not None:
            per_class += 1
            name += "." + re.sub(r"[^\w\-. ]", "_", row["class"])
        if row["value"] is None:
            assert name not in metrics
            continue
        assert metrics[name] == pytest.approx(row["value"])
        if row["ci_low"] is not None:
            assert metrics[f"{name}.ci_low"] == pytest.approx(row["ci_low"])
            assert metrics[f"{name}.ci_high"] == pytest.approx(row["ci_high"])
    assert per_class > 0
    recall = next(r for r in rows if r["metric"] == "recall" and r["class"] == "versi:color?")
    assert metrics["recall.versi_color_"] == pytest.approx(recall["value"])
    assert metrics["recall.virginica_β.ci_low"] is not None
    assert all(MLFLOW_NAME.match(name) for name in metrics)
    # what collect_metrics gives, nothing more
    assert metrics == pytest.approx(collect_metrics(logged["doc"]))


def test_other_sections_metrics(logged):
    metrics = logged["run"].data.metrics
    selection = logged["selection"]
    assert metrics["thresholds.threshold"] == pytest.approx(selection.threshold)
    assert metrics["thresholds.threshold.ci_low"] == pytest.approx(selection.ci[0])
    assert metrics["thresholds.threshold.ci_high"] == pytest.approx(selection.ci[1])
    f1 = selection.metrics["f1"]
    assert metrics["thresholds.f1"] == pytest.approx(f1.value)
    assert metrics["thresholds.f1.ci_high"] == pytest.approx(f1.ci_high)


def test_params_and_tags(logged):
    params = logged["run"].data.params
    evaluation = logged["doc"]["evaluation"]
    assert params["task"] == "multiclass"
    assert params["n_rows"] == str(evaluation["n_rows"])
    assert params["model_type"] == "Pipeline(StandardScaler, LogisticRegression)"
    assert params["settings.n_resamples"] == "60"
    assert json.loads(params["classes"]) == list(LABELS)
    assert params["source.model"] == "iris.skops"
    assert params["seed"] == "0"
    assert json.loads(params["steps"]) == ["evaluation", "thresholds"]
    assert "history" not in params  # None: an option left out
    tags = logged["run"].data.tags
    assert tags["afterfit.version"] == afterfit.__version__
    assert tags["afterfit.schema"] == "afterfit.results"
    assert "accuracy: 0.97 [0.93, 0.99]" in tags["mlflow.note.content"]
    assert "Rare class." in tags["mlflow.note.content"]


def test_artifacts_are_the_report_files(logged):
    client = _client(logged["uri"])
    written = _files(logged["out"])
    assert {"results.json", "tables/metrics.csv", "figures/metrics.png"} <= written
    assert _artifacts(client, logged["run_id"]) == written
    local = Path(client.download_artifacts(logged["run_id"], "results.json", str(logged["tmp"])))
    assert local.read_bytes() == (logged["out"] / "results.json").read_bytes()


def test_mlflow_info_lines_are_quiet(logged):
    # a new SQLite database logs its creation and migrations at INFO
    assert not [r for r in logged["records"] if r.levelno < logging.WARNING]
    assert logged["restored"]  # the loggers' levels are given back


@needs_mlflow
def test_file_store_env_is_set_only_during_the_call(report, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    run_id = log_to_mlflow(report["out"], report["doc"], uri=(tmp_path / "store").as_uri())
    assert len(run_id) == 32
    # MLflow 3 refuses a file store without it; afterfit sets it for its call only
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ


def test_tracking_uri_for(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = tmp_path.resolve().as_posix()
    assert tracking_uri_for(None) == f"sqlite:///{root}/mlflow.db"
    assert DEFAULT_URI == "sqlite:///mlflow.db"
    assert tracking_uri_for("runs/m.sqlite") == f"sqlite:///{root}/runs/m.sqlite"
    assert tracking_uri_for("sqlite:///a.db?timeout=5") == f"sqlite:///{root}/a.db?timeout=5"
    assert tracking_uri_for("store") == (tmp_path / "store").resolve().as_uri()
    assert tracking_uri_for("http://localhost:5000") == "http://localhost:5000"
    assert tracking_uri_for("databricks") == "databricks"
    assert tracking_uri_for("databricks://profile") == "databricks://profile"
    with pytest.raises(InvalidInputError, match="empty"):
        tracking_uri_for("  ")


def test_bad_arguments_are_refused_first(report, tmp_path):
    out, doc = report["out"], report["doc"]
    with pytest.raises(InvalidInputError, match="not a folder"):
        log_to_mlflow(tmp_path / "missing", doc, uri=f"sqlite:///{tmp_path}/m.db")
    with pytest.raises(InvalidInputError, match="inside the report folder") as info:
        log_to_mlflow(out, doc, uri=f"sqlite:///{out}/mlflow.db")
    assert info.value.fix
    with pytest.raises(InvalidInputError, match="inside the report folder"):
        log_to_mlflow(out, doc, uri=out / "mlruns")
    with pytest.raises(InvalidInputError, match=r"results\.json document"):
        log_to_mlflow(out, ["not", "a", "dict"], uri=f"sqlite:///{tmp_path}/m.db")
    assert not (tmp_path / "m.db").exists()


@needs_mlflow
def test_unusable_uri(report):
    with pytest.raises(InvalidInputError, match="cannot be used") as info:
        log_to_mlflow(report["out"], report["doc"], uri="nosuchscheme://x")
    assert "nosuchscheme://x" in str(info.value) and info.value.fix


def test_missing_mlflow_names_the_extra(report, tmp_path, monkeypatch):
    # None in sys.modules makes an import fail as it does when the package is missing
    for name in [m for m in sys.modules if m == "mlflow" or m.startswith("mlflow.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(MissingDependencyError, match="mlflow-skinny") as info:
        log_to_mlflow(report["out"], report["doc"], uri=f"sqlite:///{tmp_path}/m.db")
    assert "afterfit[mlflow]" in info.value.fix
    assert not (tmp_path / "m.db").exists()


def test_metric_names_are_sanitised_and_unique():
    doc = {
        "evaluation": {
            "metrics": [
                {"metric": "recall", "class": "a/b", "value": 0.5, "ci_low": None,
                 "ci_high": None},
                {"metric": "recall", "class": "a?b", "value": 0.7, "ci_low": 0.6,
                 "ci_high": 0.8},
                {"metric": "f1", "class": None, "value": None, "ci_low": None, "ci_high": None},
            ]
        },
        "comparison": {
            "model_metrics": [{"model": "gb v2", "metric": "roc_auc", "value": 0.9,
                               "ci_low": 0.85, "ci_high": 0.95}],
            "comparisons": [{"model_a": "lr", "model_b": "gb v2", "metric": "roc_auc",
                             "difference": 0.05, "ci_low": 0.01, "ci_high": 0.09,
                             "p_holm": 0.02}],
        },
    }  # fmt: skip
    metrics = collect_metrics(doc)
    assert metrics == {
        "recall.a_b": 0.5,
        "recall.a_b_2": 0.7,
        "recall.a_b_2.ci_low": 0.6,
        "recall.a_b_2.ci_high": 0.8,
        "comparison.gb v2.roc_auc": 0.9,
        "comparison.gb v2.roc_auc.ci_low": 0.85,
        "comparison.gb v2.roc_auc.ci_high": 0.95,
        "comparison.gb v2_vs_lr.roc_auc.difference": 0.05,
        "comparison.gb v2_vs_lr.roc_auc.difference.ci_low": 0.01,
        "comparison.gb v2_vs_lr.roc_auc.difference.ci_high": 0.09,
        "comparison.gb v2_vs_lr.roc_auc.p_holm": 0.02,
    }
    assert all(MLFLOW_NAME.match(k) and len(k) <= 250 for k in metrics)
