"""The report pipeline: sections per task, results.json, files, atomic replacement, size."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression

import afterfit
from afterfit.data import load_dataset
from afterfit.errors import InvalidInputError
from afterfit.report import specs
from afterfit.report.page import Figure, Section
from afterfit.report.run import RunOptions, run_report, write_report

SCHEMA = json.loads(
    (Path(afterfit.__file__).parent / "schemas" / "results.schema.json").read_text()
)
CORE = ("evaluation", "thresholds", "calibration", "comparison")
HEADER = {"schema", "schema_version", "afterfit_version", "created", "source", "report"}


def _split(frame: pd.DataFrame, n_train: int):
    frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    return frame.iloc[:n_train], frame.iloc[n_train:]


@pytest.fixture(scope="module")
def binary():
    train, test = _split(load_breast_cancer(as_frame=True).frame, 350)
    X, y = train.drop(columns="target"), train["target"]
    hgb = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(X, y)
    logreg = LogisticRegression(max_iter=5000).fit(X, y)
    return hgb, logreg, load_dataset(test, target="target")


def _run(model, test, steps=CORE, **kwargs):
    options = RunOptions(steps=steps, n_resamples=60, seed=0)
    return run_report(model, test, options=options, **kwargs)


def test_binary_sections_keys_and_schema(binary):
    hgb, logreg, test = binary
    report = _run(hgb, test, others={"logreg": logreg})
    doc = report.doc
    assert doc["report"]["sections"] == list(CORE)
    assert set(doc) == HEADER | set(CORE)
    jsonschema.validate(doc, SCHEMA)
    json.dumps(doc, allow_nan=False)
    summary = doc["report"]
    assert summary["task"] == "binary" and summary["n_rows"] == len(test.y)
    assert summary["model"] == "HistGradientBoostingClassifier"
    names = [h["name"] for h in summary["headline"]]
    assert names[:2] == ["roc_auc", "average_precision"] and "threshold" in names
    assert set(summary["timings_s"]) == set(CORE)
    # The same numbers as the step run on its own.
    auc = afterfit.evaluate(hgb, test.X, test.y, n_resamples=0, ci="none").metrics["roc_auc"]
    assert summary["headline"][0]["value"] == pytest.approx(auc.value)
    # The comparison names both models.
    assert set(doc["comparison"]["models"]) == {"model", "logreg"}


def test_threshold_on_test_rows_warns_and_validation_does_not(binary):
    hgb, _, test = binary
    warned = _run(hgb, test, steps=("evaluation", "thresholds"))
    texts = [f["text"] for f in warned.doc["report"]["findings"]]
    assert any("chosen on the test" in t for t in texts)
    assert warned.doc["thresholds"]["split"] == "test"
    half = len(test.y) // 2
    valid = load_dataset(test.X.iloc[:half].assign(target=np.asarray(test.y)[:half]),
                         target="target")  # fmt: skip
    clean = _run(hgb, test, steps=("evaluation", "thresholds"), valid=valid)
    assert clean.doc["thresholds"]["split"] == "validation"
    assert not any("chosen on the test" in f["text"] for f in clean.doc["report"]["findings"])


def test_multiclass_keys():
    train, test = _split(load_iris(as_frame=True).frame, 90)
    model = LogisticRegression(max_iter=2000).fit(train.drop(columns="target"), train["target"])
    report = _run(model, load_dataset(test, target="target"))
    doc = report.doc
    assert doc["report"]["sections"] == ["evaluation", "calibration"]
    assert any(s.startswith("thresholds:") for s in doc["report"]["skipped"])
    assert any(s.startswith("comparison:") for s in doc["report"]["skipped"])
    jsonschema.validate(doc, SCHEMA)
    ids = [f.id for s in report.sections for f in s.figures()]
    assert {"evaluation-confusion-matrix", "evaluation-roc-ovr", "evaluation-pr-ovr"} <= set(ids)
    assert "calibration-reliability" in ids and "evaluation-calibration" not in ids


def test_regression_keys_and_skips():
    train, test = _split(load_diabetes(as_frame=True).frame, 300)
    model = LinearRegression().fit(train.drop(columns="target"), train["target"])
    report = _run(model, load_dataset(test, target="target"))
    doc = report.doc
    assert doc["report"]["sections"] == ["evaluation"]
    skipped = " ".join(doc["report"]["skipped"])
    assert "thresholds:" in skipped and "calibration:" in skipped
    assert [h["name"] for h in doc["report"]["headline"]] == ["r2", "rmse", "mae"]
    ids = {f.id for f in report.sections[0].figures()}
    assert {"evaluation-residuals", "evaluation-predicted-vs-actual"} <= ids
    jsonschema.validate(doc, SCHEMA)


def test_class_imbalance_is_a_finding():
    rng = np.random.default_rng(0)
    n = 2000
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    y = (X["a"] + rng.normal(size=n) > 2.2).astype(int)
    assert 0.01 < y.mean() < 0.08
    model = LogisticRegression().fit(X, y)
    report = _run(model, load_dataset(X.assign(y=y), target="y"), steps=("evaluation",))
    texts = [f["text"] for f in report.doc["report"]["findings"]]
    assert any(t.startswith("Class imbalance: '1' is") for t in texts)


def test_written_folder(binary, tmp_path):
    hgb, logreg, test = binary
    report = _run(hgb, test, others={"logreg": logreg})
    out = tmp_path / "report"
    write_report(report, out, title="breast cancer")
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    tables = {f"tables/{t.id}.csv" for s in report.sections for t in s.tables()}
    pngs = {f"figures/{f.id}.png" for s in report.sections for f in s.figures() if f.png}
    # .afterfit.json: the marker that makes the folder afterfit's (afterfit.outdir).
    assert files == {"index.html", "results.json", ".afterfit.json"} | tables | pngs
    assert set(report.written) == files - {".afterfit.json"}
    metrics = pd.read_csv(out / "tables" / "evaluation-metrics.csv")
    pd.testing.assert_frame_equal(metrics, report.section("evaluation").tables()[0].frame,
                                  check_dtype=False)  # fmt: skip
    assert json.loads((out / "results.json").read_text()) == report.doc
    html = (out / "index.html").read_text()
    # Self-contained: no external script, stylesheet or image.
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"https?:", html)
    assert "<title>breast cancer</title>" in html
    assert 'id="afterfit-plotly-gz">H4sI' in html  # gzip magic, base64-encoded
    # The text and tables are plain HTML: readable without JavaScript.
    assert "<td>roc_auc</td>" in html and "Findings" in html
    specs_json = re.search(r'id="afterfit-figures">(.*?)</script>', html, re.S).group(1)
    figures = json.loads(specs_json)
    assert set(figures) == {f.id for s in report.sections for f in s.figures()}
    # Permissions of a normal file, not mkstemp's private 0600.
    assert (out / "index.html").stat().st_mode & 0o044 == 0o044


def test_failed_write_keeps_previous_report(binary, tmp_path):
    hgb, _, test = binary
    report = _run(hgb, test, steps=("evaluation",))
    out = tmp_path / "report"
    write_report(report, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def broken():
        raise RuntimeError("interrupted while drawing")

    bad = Section("broken", "Broken", blocks=(Figure("broken-fig", "x", {"data": []}, png=broken),))
    report.sections.append(bad)
    with pytest.raises(RuntimeError, match="interrupted"):
        write_report(report, out)
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no staging folder left


def test_out_must_be_a_folder(binary, tmp_path):
    hgb, _, test = binary
    report = _run(hgb, test, steps=("evaluation",))
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    with pytest.raises(InvalidInputError, match="is a file"):
        write_report(report, target)
    assert target.read_text() == "keep me"


def test_unknown_step_is_a_clear_error():
    with pytest.raises(InvalidInputError, match=r"unknown step.*'evalution'"):
        RunOptions(steps=("evalution",))


def test_numbers_are_rounded_and_json_safe():
    out = specs.numbers([1 / 3, np.nan, np.inf, 0.0, -123456789.123, 1e-12])
    assert out[0] == pytest.approx(1 / 3, rel=1e-6) and len(repr(out[0])) <= 11
    assert out[1] is None and out[2] is None and out[3] == 0.0
    assert out[4] == pytest.approx(-123456789.123, rel=1e-6) and out[5] == pytest.approx(1e-12)


@pytest.mark.slow
def test_a_large_test_set_keeps_the_page_small(tmp_path):
    """300,000 rows: curves are reduced (area error < 1e-4), the page stays far below 5 MB."""
    rng = np.random.default_rng(1)
    n = 300_000
    y = rng.integers(0, 2, n)
    score = 1 / (1 + np.exp(-(1.2 * y - 0.6 + rng.normal(size=n))))
    preds = afterfit.Predictions.from_arrays(y, score)
    ev = afterfit.evaluate_predictions(preds, n_resamples=20, random_state=0)
    from afterfit.report.sections.evaluation import evaluation_section

    section = evaluation_section(ev)
    roc = next(f for f in section.figures() if f.id == "evaluation-roc")
    curve = roc.spec["data"][-2]  # the curve itself: after the band, before the diagonal
    x, t = np.array(curve["x"], dtype=float), np.array(curve["y"], dtype=float)
    assert ev.roc.n_points_full > 100_000 and len(x) <= 20_000
    assert abs(np.trapezoid(t, x) - ev.metrics["roc_auc"].value) < 1e-4
    from afterfit.report.run import Report

    report = Report([section], {"report": {}, "created": ""}, [], {})
    from afterfit.report.html import render_page

    html = render_page(report.sections)
    assert len(html.encode()) < 5_000_000


def test_near_perfect_score_alone_is_no_leakage_finding():
    # issue 14: a near-perfect score is no evidence (honest models on easy data score near
    # 1); the leak is found by the Explanations section, with its evidence
    rng = np.random.default_rng(0)
    n = 500
    y = rng.integers(0, 2, n)
    X = pd.DataFrame({"noise": rng.normal(size=n), "leak": y + rng.normal(0, 0.01, n)})
    model = LogisticRegression().fit(X, y)
    report = _run(model, load_dataset(X.assign(y=y), target="y"), steps=("evaluation",))
    texts = [f["text"] for f in report.doc["report"]["findings"]]
    assert not any("leakage" in t.lower() for t in texts)


def test_zero_resamples_means_no_bootstrap(binary):
    hgb, _, test = binary
    options = RunOptions(steps=("evaluation", "thresholds", "calibration"), n_resamples=0)
    report = run_report(hgb, test, options=options)
    methods = {m["method"] for m in report.doc["evaluation"]["metrics"]}
    assert methods == {"none"}
    assert report.doc["report"]["sections"] == ["evaluation", "thresholds", "calibration"]


def test_image_model_gets_saliency_and_no_tabular_steps(tmp_path):
    pytest.importorskip("captum")
    from afterfit.saliency import load_images
    from afterfit.saliency.example import train_digits_cnn

    module, X_test, y_test = train_digits_cnn(random_state=0, epochs=4)
    images = load_images(X_test[:120], labels=y_test[:120])
    options = RunOptions(n_resamples=40, saliency_methods=("gradients", "gradcam"),
                         saliency_max_images=16)  # fmt: skip
    report = run_report(module, images=images, options=options)
    summary = report.doc["report"]
    assert summary["data"] == "images" and summary["task"] == "multiclass"
    assert summary["sections"] == ["evaluation", "calibration", "saliency"]
    skipped = " ".join(summary["skipped"])
    assert "explanations: for tabular models" in skipped and "comparison:" in skipped
    # The evaluation reads the module's own predictions.
    acc = report.doc["evaluation"]["metrics"][0]
    assert acc["metric"] == "accuracy" and acc["value"] > 0.8
    jsonschema.validate(report.doc, SCHEMA)
    write_report(report, tmp_path / "r", figures=False, inline_plotly=False)
    assert "saliency-" in (tmp_path / "r" / "index.html").read_text()


def test_images_without_labels_are_a_clear_error():
    pytest.importorskip("captum")
    from afterfit.saliency import load_images
    from afterfit.saliency.example import train_digits_cnn

    module, X_test, _ = train_digits_cnn(random_state=0, epochs=1)
    with pytest.raises(InvalidInputError, match="no labels"):
        run_report(module, images=load_images(X_test[:10]))
    with pytest.raises(InvalidInputError, match="one of the two"):
        run_report(module)
