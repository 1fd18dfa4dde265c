"""Issue 18, item 4 (and 3, 6): performance without labels (CBPE).

Oracles: scikit-learn's metrics on the real labels (realised values), the exact
expectation of the confusion counts (sums of probabilities), and a simulation with known
``P(y | x)`` under covariate shift, where the interval must cover the realised metric in
at least 90% of windows. The monitor runs end to end on a calibrated bundle, with the
realised metrics beside the estimates, ``--model-version`` defaulting to the bundle's,
and ``--fail-on performance`` exiting 1 on a planted drop.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from typer.testing import CliRunner

from afterfit.bundle.core import build_bundle
from afterfit.calibration import calibrate
from afterfit.cli import app
from afterfit.errors import InvalidInputError
from afterfit.monitoring.cbpe import estimate_performance, realised_performance
from afterfit.monitoring.core import monitor_bundle

runner = CliRunner()


def _window(n: int, shift: float, rng: np.random.Generator):
    """Covariate shift: x moves, P(y | x) stays (so calibrated probabilities stay right)."""
    x = rng.normal(shift, 1.0, n)
    p = 1.0 / (1.0 + np.exp(-(1.4 * x - 0.3)))
    y = (rng.random(n) < p).astype(int)
    return p, y


def test_expected_counts_and_realised_metrics_against_sklearn():
    rng = np.random.default_rng(3)
    p, y = _window(3000, 0.0, rng)
    dec = (p >= 0.5).astype(int)
    est = estimate_performance(p, dec, classes=[0, 1], y_true=y)
    # Expected accuracy: mean probability of the decided class (exact).
    assert est.estimated["accuracy"] == pytest.approx(np.mean(np.where(dec == 1, p, 1 - p)))
    tp = p[dec == 1].sum()
    assert est.estimated["precision"] == pytest.approx(tp / (dec == 1).sum())
    assert est.estimated["recall"] == pytest.approx(tp / p.sum())
    # Realised metrics: scikit-learn on the labels.
    r = est.realised
    assert r["accuracy"] == pytest.approx(accuracy_score(y, dec))
    assert r["precision"] == pytest.approx(precision_score(y, dec))
    assert r["recall"] == pytest.approx(recall_score(y, dec))
    assert r["f1"] == pytest.approx(f1_score(y, dec))
    assert r["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert est.n_labelled == 3000
    # The expected AUC equals the mean realised AUC over label draws (Monte Carlo oracle).
    draws = [roc_auc_score(rng.random(p.size) < p, p) for _ in range(300)]
    assert est.estimated["roc_auc"] == pytest.approx(np.mean(draws), abs=3e-3)


def test_interval_covers_realised_metric_under_covariate_shift():
    rng = np.random.default_rng(18)
    metrics = ("accuracy", "precision", "recall", "f1", "roc_auc")
    covered = {m: [] for m in metrics}
    for w in range(40):
        p, y = _window(800, shift=-0.8 + 0.04 * w, rng=rng)
        est = estimate_performance(p, (p >= 0.5).astype(int), classes=[0, 1], y_true=y,
                                   n_draws=100, random_state=w)  # fmt: skip
        for m in metrics:
            covered[m].append(est.covered(m))
    for m in metrics:
        assert np.mean(covered[m]) >= 0.85, (m, np.mean(covered[m]))  # 90% in the benchmark


def test_miscalibrated_probabilities_are_caught_by_the_realised_column():
    # Overconfident probabilities: the estimate is too high and the realised metric shows it.
    rng = np.random.default_rng(5)
    p, y = _window(4000, 0.0, rng)
    sharp = 1 / (1 + np.exp(-4 * np.log(p / (1 - p))))
    est = estimate_performance(sharp, (sharp >= 0.5).astype(int), classes=[0, 1], y_true=y)
    assert est.estimated["accuracy"] > est.realised["accuracy"] + 0.05
    assert est.covered("accuracy") is False


def test_multiclass_estimates_and_one_class_windows():
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(2000, 3)) * 1.5
    P = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in P])
    labels = np.array(["a", "b", "c"])
    dec = labels[P.argmax(axis=1)]
    est = estimate_performance(P, dec, classes=list(labels), y_true=labels[y])
    assert est.estimated["accuracy"] == pytest.approx(P.max(axis=1).mean())
    assert est.realised["accuracy"] == pytest.approx(accuracy_score(labels[y], dec))
    assert est.realised["macro_f1"] == pytest.approx(f1_score(labels[y], dec, average="macro"))
    assert est.covered("accuracy") is True
    # A window whose labels are all one class: no realised AUC (named), never 0 or 1.
    p, _ = _window(200, 0.0, rng)
    one = estimate_performance(p, (p > 0.5).astype(int), classes=[0, 1], y_true=np.ones(200))
    assert np.isnan(one.realised["roc_auc"]) and one.covered("roc_auc") is None
    assert any("one class" in n for n in one.notes)
    with pytest.raises(InvalidInputError, match="not classes of the model"):
        estimate_performance(p, (p > 0.5).astype(int), classes=[0, 1], y_true=np.full(200, 7))
    assert realised_performance(np.ones(5, bool), np.ones(5, bool), np.linspace(0, 1, 5))[
        "precision"
    ] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("proba", "decision", "match"),
    [
        (np.array([0.2, 1.3]), [0, 1], "outside"),
        (np.array([0.2, np.nan]), [0, 1], "outside"),
        (np.array([0.2, 0.9]), [0, 2], "not one of the classes"),
        (np.array([0.2, 0.9]), [0], "rows"),
        (np.ones((2, 3)) / 3, [0, 1], "one column per class"),
    ],
)
def test_bad_inputs_are_named(proba, decision, match):
    with pytest.raises(InvalidInputError, match=match):
        estimate_performance(proba, decision, classes=[0, 1])


# --- the monitor, end to end -----------------------------------------------------------------


@pytest.fixture(scope="module")
def calibrated_bundle(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 1500
    X = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n)})
    p = 1 / (1 + np.exp(-(1.4 * X["x"] - 0.3)))
    y = (rng.random(n) < p).astype(int).to_numpy()
    model = LogisticRegression(C=0.01).fit(X[:700], y[:700])  # shrunk: miscalibrated
    cal = calibrate(model, X[700:1100], y[700:1100], method="sigmoid")
    d = tmp_path_factory.mktemp("cbpe")
    bundle = build_bundle(cal, X[:1100], y[:1100], out=d / "cbpe-1.0", name="cbpe", version="1.0")
    uncal = build_bundle(model, X[:1100], y[:1100], out=d / "raw-1.0", name="raw", version="1.0")
    return bundle, uncal, d


def _server_log(bundle, n_windows: int, rows: int, shift: float, rng, version="1.0"):
    """A log as the server writes it: ts, request_id, model_version, inputs, outputs."""
    frames, labels = [], []
    for w in range(n_windows):
        X = pd.DataFrame({"x": rng.normal(shift * w, 1, rows), "z": rng.normal(size=rows)})
        preds = bundle.predict_frame(X)
        p_true = 1 / (1 + np.exp(-(1.4 * X["x"] - 0.3)))
        y = (rng.random(rows) < p_true).astype(int)
        ids = [f"w{w}-{i}" for i in range(rows)]
        frames.append(
            X.assign(
                ts=1_700_000_000.0 + w * 86400 + np.arange(rows),
                request_id=ids,
                model_name=bundle.name,
                model_version=version,
                proba_0=preds.proba[:, 0],
                proba_1=preds.proba[:, 1],
                decision=preds.decision,
            )
        )
        labels.append(pd.DataFrame({"request_id": ids, "label": y}))
    return pd.concat(frames, ignore_index=True), pd.concat(labels, ignore_index=True)


def test_monitor_shows_estimates_beside_realised_metrics(calibrated_bundle, tmp_path):
    bundle, _, _ = calibrated_bundle
    rng = np.random.default_rng(1)
    log, labels = _server_log(bundle, 4, 600, 0.3, rng)
    other, _ = _server_log(bundle, 1, 50, 0.0, rng, version="0.9")  # another version's rows
    log_path = tmp_path / "log.parquet"
    pd.concat([log, other], ignore_index=True).to_parquet(log_path, index=False)
    res = monitor_bundle(bundle, str(log_path), window="1d", labels=labels)
    assert res.n_rows == 2400  # --model-version defaulted to the bundle's 1.0
    est = res.estimated
    assert est is not None and est.overall is not None and len(est.windows) == 4
    assert "calibration map" in est.calibration and set(est.baseline) >= {"roc_auc"}
    frame = est.frame()
    assert {"estimated", "low", "high", "realised", "covered"} <= set(frame.columns)
    assert frame["realised"].notna().all()
    assert frame["covered"].mean() >= 0.75
    doc = res.to_dict()["estimated_performance"]
    assert doc["windows"][0]["metrics"][0]["metric"] == "accuracy"
    json.dumps(doc, allow_nan=False)
    every = monitor_bundle(bundle, str(log_path), window="1d", model_version="*")
    assert every.n_rows == 2450


def test_uncalibrated_bundle_gets_a_named_note(calibrated_bundle, tmp_path):
    _, uncal, _ = calibrated_bundle
    log, _ = _server_log(uncal, 2, 200, 0.0, np.random.default_rng(2))
    res = monitor_bundle(uncal, log, window="1d")
    assert res.estimated.overall is None
    assert "calibration map" in res.estimated.notes[0]
    forced = monitor_bundle(uncal, log, window="1d", assume_calibrated=True)
    assert forced.estimated.overall is not None


def test_cli_fail_on_performance_exits_1_on_a_drop(calibrated_bundle, tmp_path):
    bundle, _, d = calibrated_bundle
    rng = np.random.default_rng(4)
    steady, _ = _server_log(bundle, 2, 500, 0.0, rng)
    steady.to_parquet(tmp_path / "steady.parquet", index=False)
    # Rows piled up near the decision boundary: the expected AUC and accuracy drop.
    X = pd.DataFrame({"x": rng.normal(0.2, 0.1, 800), "z": rng.normal(size=800)})
    preds = bundle.predict_frame(X)
    bad = X.assign(
        ts=1_700_000_000.0 + np.arange(800), request_id=[f"b{i}" for i in range(800)],
        model_name="cbpe", model_version="1.0", proba_0=preds.proba[:, 0],
        proba_1=preds.proba[:, 1], decision=preds.decision,
    )  # fmt: skip
    bad.to_parquet(tmp_path / "bad.parquet", index=False)
    args = ["monitor", str(d / "cbpe-1.0"), "--window", "1d", "--fail-on", "performance"]
    ok = runner.invoke(app, [*args, "--log", str(tmp_path / "steady.parquet"),
                             "--out", str(tmp_path / "m1")])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert "Estimated performance" in ok.output
    drop = runner.invoke(app, [*args, "--log", str(tmp_path / "bad.parquet"),
                               "--out", str(tmp_path / "m2")])  # fmt: skip
    assert drop.exit_code == 1, drop.output
    assert "alert" in drop.output and "roc_auc" in drop.output
    wrong = runner.invoke(app, [*args[:-1], "speed", "--log", str(tmp_path / "bad.parquet"),
                                "--out", str(tmp_path / "m3")])  # fmt: skip
    assert wrong.exit_code == 2 and "--fail-on" in wrong.output


@pytest.mark.slow
def test_benchmark_runs_small(capsys):
    """benchmarks/bench_monitor_cbpe.py on a small log: it runs and prints its figures."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_monitor_cbpe

    assert bench_monitor_cbpe.main(["--rows", "20000", "--runs", "4"]) == 0
    out = capsys.readouterr().out
    assert "monitor with CBPE and multivariate drift" in out and "CBPE coverage" in out
    assert "DRIFT" in out  # the planted correlation change from day three
