"""Issue 15 item 1: the chosen threshold judged on the test rows, beside the default.

Oracles: the test metrics at a fixed threshold are recomputed with scikit-learn from the
labels and ``score > threshold``; the cross-fitted estimate is recomputed by hand from the
folds it reports.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_score, recall_score
from typer.testing import CliRunner

from afterfit.cli import app
from afterfit.predictions import Predictions
from afterfit.report.run import RunOptions, run_report
from afterfit.thresholds import operating_point, select_threshold_predictions
from afterfit.thresholds._operating import interval_text

runner = CliRunner()


def cli(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """An imbalanced problem where the F1-optimal threshold is far from 0.5."""
    import pandas as pd

    d = tmp_path_factory.mktemp("op")
    X, y = make_classification(n_samples=1500, n_features=6, n_informative=3, weights=[0.88],
                               flip_y=0.05, random_state=3)  # fmt: skip
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)]).assign(y=y)
    train, valid, test = frame.iloc[:600], frame.iloc[600:1000], frame.iloc[1000:]
    model = LogisticRegression(max_iter=1000).fit(train.drop(columns="y"), train["y"])
    sio.dump(model, d / "model.skops")
    for name, part in (("train", train), ("valid", valid), ("test", test)):
        part.to_parquet(d / f"{name}.parquet", index=False)
    return {"dir": d, "model": d / "model.skops", "valid": d / "valid.parquet",
            "test": d / "test.parquet", "estimator": model, "frame": test}  # fmt: skip


def _scores(files, part: str = "test") -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    frame = pd.read_parquet(files[part])
    return frame["y"].to_numpy(), files["estimator"].predict_proba(frame.drop(columns="y"))[:, 1]


def test_metrics_at_chosen_threshold_match_sklearn(files):
    yv, sv = _scores(files, "valid")
    yt, st = _scores(files, "test")
    sel = select_threshold_predictions(yv, sv, n_resamples=0)
    op = operating_point(Predictions.from_arrays(yt, st), sel, n_resamples=0)
    pred = (st > sel.threshold).astype(int)
    assert op.threshold == sel.threshold != 0.5
    assert op.at_threshold["f1"].value == pytest.approx(f1_score(yt, pred))
    assert op.at_threshold["precision"].value == pytest.approx(precision_score(yt, pred))
    assert op.at_threshold["recall"].value == pytest.approx(recall_score(yt, pred))
    default = (st > 0.5).astype(int)
    assert op.at_default["f1"].value == pytest.approx(f1_score(yt, default))
    assert op.cross_fitted is None and not op.optimistic
    # the validation figure is not the test figure
    assert op.at_threshold["f1"].value != pytest.approx(sel.value)


def test_intervals_contain_the_estimate(files):
    yv, sv = _scores(files, "valid")
    yt, st = _scores(files, "test")
    sel = select_threshold_predictions(yv, sv, n_resamples=0)
    op = operating_point(Predictions.from_arrays(yt, st), sel, n_resamples=200, random_state=1)
    for row in op.at_threshold.rows:
        assert row.ci_low <= row.value <= row.ci_high, row
    d = op.to_dict()
    assert d["chosen_on"] == "validation" and d["evaluated_on"] == "test"
    assert {r["metric"] for r in d["metrics"]} >= {"f1", "precision", "recall", "accuracy"}
    json.dumps(d, allow_nan=False)


def test_cross_fitted_on_test_is_recomputable_and_stated(files):
    yt, st = _scores(files, "test")
    preds = Predictions.from_arrays(yt, st)
    sel = select_threshold_predictions(preds, n_resamples=0, split="test")
    op = operating_point(preds, sel, n_resamples=0, random_state=4)
    cf = op.cross_fitted
    assert op.optimistic and cf is not None and cf.n_folds == 5
    # Recompute the folds as documented: stratified, seeded permutation per class.
    rng = np.random.default_rng(4)
    fold = np.empty(yt.size, dtype=int)
    for c in (0, 1):
        rows = np.flatnonzero(yt == c)
        fold[rng.permutation(rows)] = np.arange(rows.size) % 5
    pred = np.zeros(yt.size, dtype=int)
    for j in range(5):
        t = select_threshold_predictions(yt[fold != j], st[fold != j], n_resamples=0).threshold
        assert t == pytest.approx(cf.fold_thresholds[j])
        pred[fold == j] = st[fold == j] > t
    assert cf.metrics["f1"] == pytest.approx(f1_score(yt, pred))
    assert cf.in_sample["f1"] == pytest.approx(sel.value)
    # Choosing on the rows you score is optimistic: in-sample F1 is the maximum over
    # thresholds, so no single fixed threshold (hence no mixture of fold thresholds
    # evaluated fold by fold... on average) beats it by much; here it is strictly above.
    assert cf.optimism["f1"] > 0
    assert "optimistic" in op.summary() and "cross-fitted" in op.summary()


def test_cross_fitted_gives_none_with_too_few_positives():
    y = np.array([0] * 20 + [1] * 3)
    s = np.linspace(0, 1, 23)
    preds = Predictions.from_arrays(y, s)
    sel = select_threshold_predictions(preds, n_resamples=0, split="test")
    assert operating_point(preds, sel, n_resamples=0).cross_fitted is None


def test_interval_text_uses_true_minus():
    assert interval_text(-0.0126, -0.0001) == "[\u22120.0126, \u22120.0001]"
    assert interval_text(float("nan"), 1.0) == ""


def test_run_report_headline_uses_operating_threshold(files):
    from afterfit.data import load_dataset

    test = load_dataset(files["test"], target="y")
    valid = load_dataset(files["valid"], target="y")
    opts = RunOptions(steps=("evaluation", "thresholds"), n_resamples=50)
    report = run_report(files["estimator"], test, valid=valid, options=opts)
    op = report.doc["thresholds"]["operating_point"]
    assert op["chosen_on"] == "validation"
    t = report.doc["thresholds"]["threshold"]
    assert op["threshold"] == t
    yt, st = _scores(files, "test")
    f1_at_t = f1_score(yt, (st > t).astype(int))
    headline = {h["name"]: h for h in report.doc["report"]["headline"]}
    name = f"f1 at threshold {t:.4g}"
    assert headline[name]["value"] == pytest.approx(f1_at_t)
    assert "f1" not in headline  # the default-threshold F1 no longer leads
    assert headline["roc_auc"]["value"] > 0.5  # threshold-free metrics stay
    at = {r["metric"]: r for r in op["metrics"]}
    assert at["f1"]["value"] == pytest.approx(f1_at_t)
    # validation metrics stay in the thresholds table; they differ from test
    assert report.doc["thresholds"]["value"] != pytest.approx(f1_at_t)


def test_cli_run_page_terminal_and_card(files, tmp_path):
    out = tmp_path / "r"
    res = cli("run", "--model", files["model"], "--data", files["test"], "--target", "y",
              "--valid", files["valid"], "--steps", "evaluation,thresholds",
              "--n-resamples", 50, "--out", out)  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "results.json").read_text())
    t = doc["thresholds"]["threshold"]
    assert f"at threshold {t:.4g}" in res.output  # the terminal headline
    assert "(chosen on validation)" in res.output  # and the operating point's sentence
    html = (out / "index.html").read_text()
    assert "Test metrics at the operating point" in html
    assert "chosen on validation" in html
    assert (out / "tables" / "thresholds-operating.csv").exists()
    # the bundle's model card reads the operating point from the report
    from afterfit.bundle.model_card import metrics_from_results

    rows, facts = metrics_from_results(out / "results.json")
    f1 = next(r for r in rows if r["metric"] == "f1")
    at = {r["metric"]: r for r in doc["thresholds"]["operating_point"]["metrics"]}
    assert f1["value"] == pytest.approx(at["f1"]["value"])
    assert facts["threshold"] == pytest.approx(t)
    from afterfit.bundle.core import build_bundle

    frame = files["frame"]
    build_bundle(files["estimator"], frame.drop(columns="y"), frame["y"], out=tmp_path / "b",
                 name="m", version="1", threshold=t, report=out, export="skops")  # fmt: skip
    card = (tmp_path / "b" / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert f"| f1 | {at['f1']['value']:.4g} |" in card
    assert f"operating threshold {t:.6g}, chosen on the validation rows" in card
    assert "not at the report's threshold" not in card


def test_cli_run_chosen_on_test_says_optimistic(files, tmp_path):
    out = tmp_path / "r"
    res = cli("run", "--model", files["model"], "--data", files["test"], "--target", "y",
              "--steps", "evaluation,thresholds", "--n-resamples", 0, "--out", out)  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "results.json").read_text())
    op = doc["thresholds"]["operating_point"]
    assert op["optimistic"] and op["cross_fitted"]["n_folds"] == 5
    assert "cross-fitted" in op["summary"]
    assert any("cross-fitted" in f["text"] for f in doc["report"]["findings"])
    assert "cross-fitted" in (out / "index.html").read_text()


def test_cli_threshold_with_test_data(files, tmp_path):
    out = tmp_path / "t"
    res = cli("threshold", "--model", files["model"], "--data", files["valid"], "--target", "y",
              "--test-data", files["test"], "--n-resamples", 0, "--out", out)  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "threshold.json").read_text())
    op = doc["operating_point"]
    yt, st = _scores(files, "test")
    at = {r["metric"]: r for r in op["metrics"]}
    assert at["f1"]["value"] == pytest.approx(
        f1_score(yt, (st > doc["threshold"]["threshold"]).astype(int))
    )
    assert "test rows" in res.output


# --- item 7: page polish ------------------------------------------------------------------


def test_legends_hang_below_the_plot_and_labels_are_not_cut():
    from afterfit.report import specs

    layout = specs.layout(x="threshold", y="metric")
    # plotly anchors a legend at y < 1/3 by its bottom unless told: it then covers curves
    assert layout["legend"]["yanchor"] == "top" and layout["legend"]["y"] < 0
    assert layout["xaxis"]["automargin"] and layout["yaxis"]["automargin"]


def test_reliability_histogram_ticks_are_short():
    from afterfit.calibration import evaluate_calibration
    from afterfit.report.sections.calibration import calibration_section

    r = np.random.default_rng(0)
    y = r.integers(0, 2, 300)
    s = np.clip(y * 0.3 + r.random(300) * 0.7, 0, 1)
    section = calibration_section(
        evaluate_calibration(Predictions.from_arrays(y, s), n_resamples=0)
    )
    axes = [f.spec["layout"].get("yaxis2") for f in section.figures()]
    formats = {a["tickformat"] for a in axes if a and "tickformat" in a}
    assert formats == {".3~s"}


def test_cv_terminal_intervals_are_bracketed():
    from afterfit.cli.cv import _ci

    assert _ci(-0.0126, -0.0001) == "[-0.0126, -0.0001]"
    assert "–" not in _ci(0.1, 0.2)


def test_cli_threshold_on_test_split_states_the_optimism(files, tmp_path):
    out = tmp_path / "t"
    res = cli("threshold", "--model", files["model"], "--data", files["test"], "--target", "y",
              "--split", "test", "--n-resamples", 0, "--out", out)  # fmt: skip
    assert res.exit_code == 0, res.output
    op = json.loads((out / "threshold.json").read_text())["operating_point"]
    assert op["optimistic"] and op["cross_fitted"]["n_folds"] == 5
    assert "cross-fitted" in res.output
    assert (out / "tables" / "threshold_operating_point.csv").exists()
