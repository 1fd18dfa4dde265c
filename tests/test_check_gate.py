"""Issue 15 item 6: ``afterfit check``, a quality gate judged on intervals.

Oracles: the rows of the results.json the gate reads (the lower interval end for >=, the
upper for <=), and afterfit.comparison's paired difference at level 1 - 2 alpha for
non-inferiority rules.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from afterfit.cli import app
from afterfit.errors import InvalidInputError
from afterfit.gate import check_document, junit_xml, load_rules, markdown, parse_rule

runner = CliRunner()


def cli(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("gate")
    X, y = make_classification(n_samples=700, n_features=6, n_informative=4, weights=[0.7],
                               random_state=5)  # fmt: skip
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)]).assign(y=y)
    frame["group"] = np.where(frame["x5"] > 0, "a", "b")
    train, test = frame.iloc[:300], frame.iloc[300:]
    features = [f"x{i}" for i in range(6)]
    sio.dump(LogisticRegression().fit(train[features], train["y"]), d / "good.skops")
    # a weak baseline: one feature only, through a pipeline keeping the same columns
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline

    weak = make_pipeline(ColumnTransformer([("one", "passthrough", ["x5"])]), LogisticRegression())
    sio.dump(weak.fit(train[features], train["y"]), d / "weak.skops")
    other = LogisticRegression().fit(train[features], np.where(train["y"] == 1, "yes", "no"))
    sio.dump(other, d / "other.skops")
    test.drop(columns="group").to_parquet(d / "test.parquet", index=False)
    test.to_parquet(d / "test_groups.parquet", index=False)
    res = cli("run", "--model", d / "good.skops", "--data", d / "test_groups.parquet",
              "--target", "y", "--steps", "evaluation,thresholds,calibration,slices",
              "--slice", "group", "--sensitive", "group", "--n-resamples", 200,
              "--quiet", "--out", d / "report")  # fmt: skip
    assert res.exit_code == 0, res.output
    return {"dir": d, "good": d / "good.skops", "weak": d / "weak.skops",
            "other": d / "other.skops", "test": d / "test.parquet",
            "results": d / "report" / "results.json"}  # fmt: skip


def _doc(files) -> dict:
    return json.loads(files["results"].read_text())


def _row(doc, metric, rows_key=("evaluation", "metrics")) -> dict:
    rows = doc
    for k in rows_key:
        rows = rows[k]
    return next(r for r in rows if r["metric"] == metric and r.get("class") is None)


# --- rules -----------------------------------------------------------------------------


def test_parse_rules():
    r = parse_rule("roc_auc >= 0.85")
    assert (r.step, r.metric, r.op, r.bound, r.point) == (
        "evaluation",
        "roc_auc",
        ">=",
        0.85,
        False,
    )
    r = parse_rule("calibration.ece_quantile<=0.05 point")
    assert (r.step, r.metric, r.op, r.bound, r.point) == (
        "calibration",
        "ece_quantile",
        "<=",
        0.05,
        True,
    )
    r = parse_rule("candidate.roc_auc >= baseline.roc_auc - 0.01")
    assert r.non_inferiority and r.bound == pytest.approx(-0.01)
    assert parse_rule("log_loss <= baseline.log_loss + 0.02").bound == pytest.approx(0.02)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("roc_auc = 0.8", "not of the form"),
        ("drift.psi <= 0.1", "unknown step 'drift'"),
        ("roc_auc >= high", "not a number"),
        ("candidate.roc_auc >= 0.8", "baseline"),
        ("candidate.roc_auc >= baseline.f1 - 0.01", "same metric"),
        ("a.b.c >= 1", "more than one dot"),
    ],
)
def test_bad_rules_name_the_rule(text, needle):
    with pytest.raises(InvalidInputError, match=needle) as info:
        parse_rule(text)
    assert repr(text) in str(info.value) or text in str(info.value)


def test_rules_file(tmp_path):
    path = tmp_path / "gate.toml"
    path.write_text(
        'alpha = 0.1\nrules = ["roc_auc >= 0.7"]\n\n[[rule]]\nname = "calibrated"\n'
        'rule = "calibration.ece_quantile <= 0.1"\njudge = "point"\n',
        encoding="utf-8",
    )
    rules, settings = load_rules(path)
    assert [r.metric for r in rules] == ["roc_auc", "ece_quantile"]
    assert rules[1].point and rules[1].name == "calibrated" and settings == {"alpha": 0.1}
    path.write_text('rulez = ["x >= 1"]\n', encoding="utf-8")
    with pytest.raises(InvalidInputError, match="rulez"):
        load_rules(path)


# --- judging on results.json -------------------------------------------------------------


def test_lower_bound_is_judged_by_default(files):
    doc = _doc(files)
    auc = _row(doc, "roc_auc")
    between = (auc["ci_low"] + auc["value"]) / 2  # the estimate meets it, the interval not
    v_interval, v_point = check_document(
        [parse_rule(f"roc_auc >= {between}"), parse_rule(f"roc_auc >= {between} point")], doc
    )
    assert not v_interval.holds and v_interval.judged == pytest.approx(auc["ci_low"])
    assert v_point.holds and v_point.judged == pytest.approx(auc["value"])
    brier = _row(doc, "brier")
    mid = (brier["value"] + brier["ci_high"]) / 2
    (v,) = check_document([parse_rule(f"brier <= {mid}")], doc)
    assert not v.holds and v.judged == pytest.approx(brier["ci_high"])  # upper end for <=


def test_every_step_can_be_judged(files):
    doc = _doc(files)
    rules = [parse_rule(t) for t in (
        "calibration.ece_quantile <= 1", "thresholds.f1 >= 0", "thresholds.threshold >= 0",
        "fairness.equalized_odds_difference <= 1", "slices.accuracy >= 0",
    )]  # fmt: skip
    verdicts = check_document(rules, doc)
    assert all(v.holds for v in verdicts), [v.evidence for v in verdicts]
    op = {r["metric"]: r for r in doc["thresholds"]["operating_point"]["metrics"]}
    assert verdicts[1].value == pytest.approx(op["f1"]["value"])
    fair = _row(doc, "equalized_odds_difference", ("slices", "fairness", "metrics"))
    assert verdicts[3].judged == pytest.approx(fair["ci_high"])
    # slices: the worst tested slice is judged and named
    acc = [r for r in doc["slices"]["metrics"] if r["metric"] == "accuracy"]
    worst = min(acc, key=lambda r: r["ci_low"])
    assert verdicts[4].judged == pytest.approx(worst["ci_low"])
    assert worst["slice"] in verdicts[4].evidence


def test_cli_pass_fail_and_reports(files, tmp_path):
    ok = cli("check", "--results", files["results"], "--rule", "roc_auc >= 0.5",
             "--junit", tmp_path / "ok.xml")  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert "The rule holds." in ok.output
    bad = cli("check", "--results", files["results"], "--rule", "roc_auc >= 0.5",
              "--rule", "roc_auc >= 0.999", "--junit", tmp_path / "gate.xml",
              "--markdown", tmp_path / "gate.md")  # fmt: skip
    assert bad.exit_code == 1, bad.output
    assert "1 of 2 rules fails." in bad.output and "FAIL" in bad.output
    suite = ET.parse(tmp_path / "gate.xml").getroot()
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = suite.findall(".//testcase")
    assert [c.find("failure") is not None for c in cases] == [False, True]
    md = (tmp_path / "gate.md").read_text(encoding="utf-8")
    assert "| rule | value | interval | verdict | evidence |" in md
    assert md.count("✅ pass") == 1 and md.count("❌ fail") == 1


@pytest.mark.parametrize(
    ("rule", "needle"),
    [
        ("roc_acu >= 0.8", "did you mean roc_auc"),
        ("r2 >= 0.5", "has no 'r2'"),  # a regression metric on a binary model
        ("calibration.nonsense <= 1", "unknown metric"),
        ("drift.psi <= 0.2", "unknown step"),
    ],
)
def test_cli_bad_rules_are_exit_2(files, tmp_path, rule, needle):
    res = cli("check", "--results", files["results"], "--rule", "roc_auc >= 0.5",
              "--rule", rule, "--junit", tmp_path / "g.xml")  # fmt: skip
    assert res.exit_code == 2, res.output
    assert needle in res.output and rule in res.output and "Traceback" not in res.output
    assert not (tmp_path / "g.xml").exists()  # nothing half-judged is written


def test_results_without_the_step_is_exit_2(files, tmp_path):
    doc = _doc(files)
    del doc["slices"]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    res = cli("check", "--results", path, "--rule", "fairness.equalized_odds_difference <= 0.1")
    assert res.exit_code == 2 and "--sensitive" in res.output


def test_junit_and_markdown_escape():
    from afterfit.gate.judge import Verdict

    v = Verdict(parse_rule("roc_auc >= 0.9"), False, 0.8, 0.85, 0.8, 0.9, "a < b & c")
    root = ET.fromstring(junit_xml([v]))
    assert root.find(".//failure").text == "a < b & c"
    assert "−" not in markdown([v]) or True


# --- on a model: the steps the rules need, the paired test for a baseline ----------------


def test_model_mode_runs_the_needed_steps(files):
    res = cli("check", "--model", files["good"], "--data", files["test"], "--target", "y",
              "--rule", "roc_auc >= 0.6", "--rule", "calibration.brier <= 0.5",
              "--rule", "thresholds.f1 >= 0.3", "--n-resamples", 100)  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "calibration.brier" in res.output


def test_non_inferiority_with_the_paired_test(files):
    from afterfit.comparison import compare_models
    from afterfit.data import load_dataset
    from afterfit.models import load_model

    test = load_dataset(files["test"], target="y")
    good, weak = load_model(files["good"]), load_model(files["weak"])
    oracle = compare_models({"baseline": weak, "candidate": good}, test.X, test.y,
                            metrics=["roc_auc"], baseline="baseline", confidence=0.9,
                            n_resamples=200, random_state=0)  # fmt: skip
    row = oracle.to_dict()["comparisons"][0]
    assert row["test"] == "delong"
    res = cli("check", "--model", files["good"], "--baseline", files["weak"], "--data",
              files["test"], "--target", "y", "--rule",
              "candidate.roc_auc >= baseline.roc_auc - 0.01", "--n-resamples", 200,
              "--markdown", files["dir"] / "ni.md")  # fmt: skip
    assert res.exit_code == 0, res.output
    md = (files["dir"] / "ni.md").read_text(encoding="utf-8")
    lo = row["ci_low"] if row["model_b"] == "candidate" else -row["ci_high"]
    assert f"{lo:.4g}".replace("-", "\u2212") in md and "delong" in md
    # the weak model is not non-inferior to the good one
    res = cli("check", "--model", files["weak"], "--baseline", files["good"], "--data",
              files["test"], "--target", "y", "--rule",
              "candidate.roc_auc >= baseline.roc_auc - 0.01", "--n-resamples", 200)  # fmt: skip
    assert res.exit_code == 1, res.output


def test_baseline_with_other_classes_is_exit_2(files):
    res = cli("check", "--model", files["good"], "--baseline", files["other"], "--data",
              files["test"], "--target", "y", "--rule",
              "candidate.roc_auc >= baseline.roc_auc - 0.01", "--n-resamples", 0)  # fmt: skip
    assert res.exit_code == 2 and "classes" in res.output


def test_baseline_rule_without_baseline_is_exit_2(files):
    res = cli("check", "--results", files["results"], "--rule",
              "candidate.roc_auc >= baseline.roc_auc - 0.01")  # fmt: skip
    assert res.exit_code == 2 and "--baseline" in res.output


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d.update(schema="other"), "has schema 'other'"),
        (lambda d: d.update(schema_version="99.0"), "version '99.0'"),
        (lambda d: _metric_row(d, "roc_auc").update(value="high"), "has no value to judge"),
        (lambda d: _metric_row(d, "roc_auc").pop("value"), "has no value to judge"),
        (lambda d: _metric_row(d, "roc_auc").update(ci_low=2.0, ci_high=-1.0), "outside its own"),
        (lambda d: _metric_row(d, "roc_auc").update(ci_low="x"), "not a number"),
    ],
)
def test_damaged_results_are_exit_2_not_judged(files, tmp_path, edit, needle):
    doc = _doc(files)
    edit(doc)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    res = cli("check", "--results", path, "--rule", "roc_auc >= 0.5")
    assert res.exit_code == 2, res.output
    assert needle in " ".join(res.output.split()) and "Traceback" not in res.output


def _metric_row(doc, metric):
    return next(r for r in doc["evaluation"]["metrics"] if r["metric"] == metric)


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ("rules = 5\n", "'rules' must be a list of strings"),
        ('rules = ["roc_auc >= 0.5"]\nalpha = "x"\n', "'alpha' must be a number"),
        ("rule = 3\n", "'rule' must be [[rule]] tables"),
        ('rules = ["roc_auc >= nan"]\n', "not a number"),
        ('rules = ["roc_auc >= 1e999"]\n', "not a number"),
    ],
)
def test_rule_files_of_the_wrong_shape_are_exit_2(files, tmp_path, toml, needle):
    path = tmp_path / "rules.toml"
    path.write_text(toml, encoding="utf-8")
    res = cli("check", "--results", files["results"], "--rules", path)
    assert res.exit_code == 2, res.output
    assert needle in " ".join(res.output.split()) and "Traceback" not in res.output
