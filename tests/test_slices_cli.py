"""`afterfit slices` end to end, `afterfit run --slice`, and bad input (exit 2, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from afterfit.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("slices")
    rng = np.random.default_rng(0)
    n = 1200
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "region": rng.choice(["north", "south", "east"], n),
            "age": rng.uniform(18, 80, n).round(1),
            "gender": rng.choice(["f", "m"], n),
            "user_id": np.arange(n),
        }
    )
    y = (frame.a + 0.5 * frame.b + rng.normal(size=n) > 0).astype(int).to_numpy().copy()
    flip = (frame.region == "north").to_numpy() & (rng.uniform(size=n) < 0.35)
    y[flip] = 1 - y[flip]
    frame["churn"] = y
    model = LogisticRegression().fit(frame[["a", "b"]], y)
    sio.dump(model, d / "model.skops")
    frame.to_parquet(d / "test.parquet", index=False)
    frame.assign(solo="x").to_parquet(d / "solo.parquet", index=False)
    frame.assign(empty=np.nan).to_parquet(d / "empty.parquet", index=False)
    return {"dir": d, "model": d / "model.skops", "data": d / "test.parquet",
            "solo": d / "solo.parquet", "empty": d / "empty.parquet"}  # fmt: skip


def test_slices_command_writes_json_tables_and_figure(files, tmp_path):
    out = tmp_path / "slices"
    result = run(
        "slices", "--model", files["model"], "--data", files["data"], "--target", "churn",
        "--slice", "region", "--slice", "age:quantiles=4", "--slice", "region*gender",
        "--sensitive", "gender", "--out", out, "--n-resamples", 100,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "slices.json").read_text())
    s = doc["slices"]
    assert s["slicings"] == ["region", "age:quantiles=4", "region*gender"]
    north = [m for m in s["metrics"] if m["slice"] == "region = north" and m["metric"] == "roc_auc"]
    assert north[0]["flag"] == "worse"
    assert s["fairness"]["sensitive"] == "gender"
    assert {"tables/slices-metrics.csv", "tables/slices-fairness.csv",
            "tables/slices-sizes.csv", "figures/slices-forest.png"} <= {
        str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()
    }  # fmt: skip
    table = pd.read_csv(out / "tables" / "slices-metrics.csv")
    assert list(table.columns[:9]) == ["slice", "n", "metric", "value", "ci_low", "ci_high",
                                       "diff_vs_rest", "p_holm", "flag"]  # fmt: skip
    assert "worse" in result.output and "fairness across gender" in result.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--slice", "nope"), "not in the data"),
        (("--slice", "user_id"), "identifier"),
        (("--slice", "age:quantiles=1"), "at least 2"),
        (("--slice", "region:edges=0,1"), "not numeric"),
        (("--sensitive", "solo"), "one group"),
        (("--slice", "empty"), "every row is missing"),
        ((), "nothing to slice by"),
        (("--slice", "region", "--min-size", "0"), "min_size"),
    ],
)
def test_bad_input_exits_2_with_a_named_message(files, tmp_path, args, words):
    data = files["solo"] if "solo" in args else files["empty"] if "empty" in args else files["data"]
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["slices", "--model", str(files["model"]), "--data", str(data), "--target", "churn",
         "--out", str(out), "--n-resamples", "20", *map(str, args)],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert "Traceback" not in result.output
    assert not (out / "slices.json").exists()


def test_empty_bins_are_a_named_note(files, tmp_path):
    result = run(
        "slices", "--model", files["model"], "--data", files["data"], "--target", "churn",
        "--slice", "age:edges=0,10,50,90", "--out", tmp_path / "o", "--n-resamples", 30,
        "--no-segments", "--no-figures",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "(0, 10] hold no rows" in result.output
    doc = json.loads((tmp_path / "o" / "slices.json").read_text())
    assert any("(0, 10]" in n for n in doc["slices"]["notes"])


def test_run_with_slice_adds_the_section(files, tmp_path):
    out = tmp_path / "report"
    result = run(
        "run", "--model", files["model"], "--data", files["data"], "--target", "churn",
        "--slice", "region", "--slice", "gender", "--out", out, "--n-resamples", 50,
        "--steps", "evaluation,slices", "--drop", "user_id", "--drop", "age",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    assert "slices" in doc["report"]["sections"]
    assert doc["slices"]["slicings"] == ["region", "gender"]
    assert (out / "tables" / "slices-metrics.csv").exists()
    assert (out / "figures" / "slices-forest.png").exists()
    html = (out / "index.html").read_text()
    assert "Slices" in html and "slices-forest" in html
    assert any("region = north" in f["text"] for f in doc["report"]["findings"])


def test_run_report_api_validates_against_the_schema(files):
    jsonschema = pytest.importorskip("jsonschema")
    import importlib.resources

    from afterfit.data import load_dataset
    from afterfit.models import load_model
    from afterfit.report.run import RunOptions, run_report

    model = load_model(files["model"])
    test = load_dataset(files["data"], target="churn", drop=["user_id"])
    options = RunOptions(steps=("evaluation", "slices"), n_resamples=40,
                         slices=("region", "age:quantiles=3"), sensitive="gender")  # fmt: skip
    report = run_report(model, test, options=options)
    schema = json.loads(
        importlib.resources.files("afterfit.schemas").joinpath("results.schema.json").read_text()
    )
    doc = json.loads(json.dumps(report.doc, allow_nan=False))
    jsonschema.validate(doc, schema)
    assert doc["slices"]["fairness"]["sensitive"] == "gender"
    # The set-aside columns reach the Slices step only; the other steps see the features.
    assert report.results["slices"].slicings == ("region", "age:quantiles=3")


def test_run_without_slice_says_how_to_get_the_section(files, tmp_path):
    from afterfit.data import load_dataset
    from afterfit.models import load_model
    from afterfit.report.run import RunOptions, run_report

    model = load_model(files["model"])
    test = load_dataset(files["data"], target="churn", drop=["user_id", "region", "age",
                                                               "gender"])  # fmt: skip
    report = run_report(model, test, options=RunOptions(steps=("evaluation", "slices"),
                                                         n_resamples=0))  # fmt: skip
    assert any(s.startswith("slices: pass --slice") for s in report.skipped)
    # A bad slice in a run: the step is not run, saying why; the report goes on.
    options = RunOptions(steps=("evaluation", "slices"), n_resamples=0, slices=("nope",))
    report = run_report(model, test, options=options)
    assert any("slices:" in s and "'nope' is not in the data" in s for s in report.skipped)
    full = load_dataset(files["data"], target="churn", drop=["user_id", "gender"])
    options = RunOptions(
        steps=("evaluation", "slices"), n_resamples=0, slices=("region", "age:quantiles=1")
    )
    report = run_report(model, full, options=options)
    assert any("slices:" in s and "at least 2" in s for s in report.skipped)
    assert [s.id for s in report.sections] == ["evaluation"]
