"""`afterfit run` end to end: the report folder, --config TOML, clear errors (exit code 2)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import skops.io as sio
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner

import afterfit
from afterfit.cli import app

SCHEMA = json.loads(
    (Path(afterfit.__file__).parent / "schemas" / "results.schema.json").read_text()
)
# wide enough that a pytest tmp_path (longer under pytest-xdist: .../popen-gw0/...) is
# printed on one line, not broken inside a word by rich
runner = CliRunner(env={"COLUMNS": "250"})
STEPS = "evaluation,thresholds,calibration,comparison"


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("run")
    frame = load_breast_cancer(as_frame=True).frame
    train, test = frame.iloc[::2], frame.iloc[1::2]
    X, y = train.drop(columns="target"), train["target"]
    sio.dump(make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y),
             d / "model.skops")  # fmt: skip
    sio.dump(LogisticRegression(C=0.01, max_iter=5000).fit(X, y), d / "weak.skops")
    test.to_parquet(d / "test.parquet", index=False)
    train.to_parquet(d / "train.parquet", index=False)
    return {"dir": d, "model": d / "model.skops", "weak": d / "weak.skops",
            "data": d / "test.parquet", "train": d / "train.parquet"}  # fmt: skip


def test_run_writes_the_report(files, tmp_path):
    out = tmp_path / "report"
    result = run("run", "--model", files["model"], "--data", files["data"], "--target", "target",
                 "--compare", f"weak={files['weak']}", "--steps", STEPS, "--n-resamples", 100,
                 "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Report: " in result.output and "index.html" in result.output
    assert "4 sections" in result.output
    doc = json.loads((out / "results.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["report"]["sections"] == STEPS.split(",")
    assert doc["report"]["model"] == "Pipeline(StandardScaler → LogisticRegression)"
    assert doc["source"]["model"] == str(files["model"])
    assert set(doc["comparison"]["models"]) == {"model", "weak"}
    assert (out / "figures" / "evaluation-roc.png").stat().st_size > 1000
    assert (out / "tables" / "comparison-tests.csv").exists()


def test_config_file_and_command_line_override(files, tmp_path):
    config = files["dir"] / "afterfit.toml"
    config.write_text(
        'model = "model.skops"\ndata = "test.parquet"\ntarget = "target"\n'
        'steps = ["evaluation", "thresholds"]\nn-resamples = 50\nthreshold_objective = "youden"\n'
        "seed = 3\n",
        encoding="utf-8",
    )
    out = tmp_path / "from-config"
    result = run("run", "--config", config, "--out", out, "--seed", 7)
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    options = doc["report"]["options"]
    assert doc["report"]["sections"] == ["evaluation", "thresholds"]
    assert options["n_resamples"] == 50 and options["threshold_objective"] == "youden"
    assert options["seed"] == 7  # the command line wins over the file
    assert doc["thresholds"]["objective"] == "youden"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--data", "{data}", "--target", "target"), "needs --model"),
        (("--model", "{model}", "--data", "{data}", "--target", "nope"), "nope"),
        (("--model", "{model}", "--data", "{dir}/missing.parquet", "--target", "target"),
         "missing.parquet"),
        (("--model", "{model}", "--data", "{data}", "--target", "target", "--steps", "evalution"),
         "unknown step"),
        (("--config", "{dir}/bad.toml",), "unknown option 'n_resample'"),
        (("--model", "{model}", "--data", "{data}", "--target", "target", "--compare",
          "model={weak}"), "two models are named 'model'"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_and_keeps_the_old_report(files, tmp_path, args, message):
    (files["dir"] / "bad.toml").write_text("n_resample = 5\n", encoding="utf-8")
    out = tmp_path / "report"
    ok = run("run", "--model", files["model"], "--data", files["data"], "--target", "target",
             "--steps", "evaluation", "--n-resamples", 20, "--out", out)  # fmt: skip
    assert ok.exit_code == 0, ok.output
    before = (out / "results.json").read_bytes()
    filled = [a.format(**{k: str(v) for k, v in files.items()}) for a in args]
    result = run("run", *filled, "--out", out, "--n-resamples", 20)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert (out / "results.json").read_bytes() == before


def test_mlflow_flag_logs_the_run(files, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    result = run("run", "--model", files["model"], "--data", files["data"], "--target", "target",
                 "--steps", "evaluation", "--n-resamples", 20, "--out", "rep",
                 "--mlflow-uri", uri)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "MLflow run" in result.output
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 1
    assert "roc_auc" in runs[0].data.metrics


def test_run_on_an_image_model(tmp_path):
    pytest.importorskip("captum")
    from afterfit.saliency.example import write_digits_example

    files = write_digits_example(tmp_path / "digits")
    out = tmp_path / "report"
    result = run("run", "--model", files["state_dict"], "--module-class",
                 "afterfit.saliency.example:DigitsCNN", "--images", files["images"],
                 "--saliency-methods", "gradients,gradcam", "--n-resamples", 20,
                 "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    assert doc["report"]["sections"] == ["evaluation", "calibration", "saliency"]
    assert doc["source"]["images"] == str(files["images"])
    bad = run("run", "--model", files["state_dict"], "--images", files["images"], "--out", out)
    assert bad.exit_code == 2 and "module-class" in bad.output


class _Payload:
    """Unpickling it creates a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('trust = "false"', "'trust' must be true or false"),
        ("trust = 1", "'trust' must be true or false"),
        ('overwrite = "false"', "'overwrite' must be true or false"),
        ('n-resamples = "abc"', "'n-resamples' is not valid"),
        ('confidence = "high"', "'confidence' is not valid"),
        ('target = ["target"]', "'target' takes one value"),
    ],
)
def test_config_values_are_checked_as_the_command_line_checks_them(files, tmp_path, line, message):
    # A string "false" once turned trust on: the pickle was loaded and its code ran.
    import pickle

    marker = tmp_path / "PWNED"
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(_Payload(marker)))
    config = tmp_path / "bad.toml"
    base = {"model": '"evil.pkl"', "data": f'"{files["data"]}"', "target": '"target"'}
    key = line.split("=")[0].strip()
    text = "".join(f"{k} = {v}\n" for k, v in base.items() if k != key) + line + "\n"
    config.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["run", "--config", str(config), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output
    assert not marker.exists()
    assert not (tmp_path / "o").exists()
