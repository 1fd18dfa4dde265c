"""`afterfit tune` end to end: the report folder, a killed run resuming, two processes
sharing a PostgreSQL study, and bad input (exit code 2, nothing written)."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
import skops.io as sio
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from afterfit.cli import app

runner = CliRunner()
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
SPACE = '[C]\ntype = "float"\nlow = 0.001\nhigh = 10.0\nlog = true\n'


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def text(result) -> str:
    return " ".join(result.output.split())


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("tune")
    frame = load_breast_cancer(as_frame=True).frame.sample(n=300, random_state=0)
    frame = frame.iloc[:, [*range(6), -1]].reset_index(drop=True)
    X, y = frame.drop(columns="target"), frame["target"]
    sio.dump(LogisticRegression(solver="liblinear").fit(X, y), d / "model.skops")
    frame.to_csv(d / "train.csv", index=False)
    (d / "space.toml").write_text(SPACE)
    (d / "bad.toml").write_text('[gamma]\ntype = "float"\nlow = 0.1\nhigh = 1.0\n')
    return {"dir": d, "model": d / "model.skops", "data": d / "train.csv",
            "space": d / "space.toml", "bad": d / "bad.toml"}  # fmt: skip


def base_args(files) -> list:
    return ["tune", "--model", files["model"], "--data", files["data"], "--target", "target",
            "--space", files["space"], "--folds", "3"]  # fmt: skip


def finished(url: str, name: str = "afterfit") -> list:
    storage = optuna.storages.RDBStorage(url)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
        return study.get_trials(states=FINISHED)
    finally:
        storage.engine.dispose()  # no connection left open while the CLI swaps folders


def test_writes_report_results_trials_model(files, tmp_path):
    out = tmp_path / "tune"
    result = run(*base_args(files), "--trials", "8", "--out", out)
    assert result.exit_code == 0, result.output
    assert "best trial (CV)" in result.output
    names = {p.name for p in out.iterdir()}
    assert {"index.html", "results.json", "trials.csv", "best_model.skops", "study.db"} <= names
    doc = json.loads((out / "results.json").read_text())
    tuning = doc["tuning"]
    assert tuning["metric"] == "roc_auc" and tuning["n_complete"] + tuning["n_pruned"] == 8
    assert tuning["ci_low"] < tuning["best_score"] < tuning["ci_high"]
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 8 and "param_C" in trials
    html = (out / "index.html").read_text()
    for fig in ("tuning-history", "tuning-parallel", "tuning-importances"):
        assert fig in html
    best = sio.load(out / "best_model.skops", trusted=sio.get_untrusted_types(
        file=out / "best_model.skops"))  # fmt: skip
    assert best.C == pytest.approx(tuning["best_params"]["C"])
    # The same command again resumes the study kept in the folder: 8 more trials are asked
    # for, as the total; the study already has them.
    again = run(*base_args(files), "--trials", "12", "--out", out)
    assert again.exit_code == 0, again.output
    assert len(finished(f"sqlite:///{out / 'study.db'}")) == 12


@pytest.mark.slow
def test_killed_run_resumes_without_losing_finished_trials(files, tmp_path):
    out = tmp_path / "killed"
    url = f"sqlite:///{out / 'study.db'}"
    n = 40
    cmd = [sys.executable, "-m", "afterfit.cli", *map(str, base_args(files)), "--trials",
           str(n), "--pruner", "none", "--out", str(out), "--quiet"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    before: dict[int, float] = {}
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            if (out / "study.db").exists():
                try:
                    done = finished(url)
                except Exception:  # the study is being created
                    continue
                if len(done) >= 3:
                    # Wherever the kill lands (in a trial's folds, in the sampler, between
                    # trials), the resume must end with exactly n finished trials.
                    time.sleep(random.uniform(0, 0.3))
                    before = {t.number: t.value for t in finished(url)}
                    break
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert 3 <= len(before) < n
    assert not (out / "index.html").exists()  # killed before the report
    result = run(*base_args(files), "--trials", n, "--pruner", "none", "--out", out)
    assert result.exit_code == 0, result.output
    storage = optuna.storages.RDBStorage(url)
    study = optuna.load_study(study_name="afterfit", storage=storage)
    done = {t.number: t.value for t in study.get_trials(states=FINISHED)}
    assert len(done) == n
    for number, value in before.items():  # every trial finished before the kill is kept
        assert done[number] == value
    assert not study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
    storage.engine.dispose()


@pytest.mark.slow
def test_two_processes_share_a_postgres_study(files, tmp_path, postgres_url):
    n = 16
    procs = []
    for i in range(2):
        cmd = [sys.executable, "-m", "afterfit.cli", *map(str, base_args(files)), "--trials",
               str(n), "--storage", postgres_url, "--study", "shared", "--seed", str(i),
               "--out", str(tmp_path / f"w{i}"), "--quiet"]  # fmt: skip
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    study = optuna.load_study(study_name="shared", storage=postgres_url)
    done = study.get_trials(states=FINISHED)
    assert len(done) == n  # as asked, not 2n and not n+1
    assert len({t.number for t in done}) == n
    workers = {t.user_attrs["afterfit_worker"] for t in done}
    assert len(workers) == 2  # both processes contributed
    assert not study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
    # Both reports describe the same study.
    for i in range(2):
        doc = json.loads((tmp_path / f"w{i}" / "results.json").read_text())
        assert doc["tuning"]["study_name"] == "shared" and "***" not in doc["source"]["storage"]


@pytest.mark.slow
def test_workers_option_on_postgres(files, tmp_path, postgres_url):
    out = tmp_path / "pgw"
    result = run(*base_args(files), "--trials", "6", "--storage", postgres_url, "--study",
                 "workers2", "--workers", "2", "--out", out, "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    done = finished(postgres_url, "workers2")
    assert len(done) == 6
    assert not (out / "study.db").exists()


def test_unreachable_storage_is_exit_2(files, tmp_path):
    out = tmp_path / "never"
    start = time.monotonic()
    result = run(*base_args(files), "--trials", "3", "--storage",
                 "postgresql://user:secret@127.0.0.1:1/db", "--out", out)  # fmt: skip
    assert result.exit_code == 2
    assert "Cannot reach the study storage" in text(result)
    assert "secret" not in result.output  # the password is not printed
    assert "Traceback" not in result.output
    assert time.monotonic() - start < 30
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--space", "BAD"], ["'gamma' is not a parameter"]),
        (["--storage", "notadialect://x/y"], ["storage URL"]),
        (["--metric", "r2"], ["'r2' is not available"]),
        (["--folds", "1"], ["n_splits"]),
        (["--scheduler", "tcp://127.0.0.1:1"], ["--backend dask"]),
    ],
)
def test_bad_input_is_exit_2(files, tmp_path, extra, words):
    extra = [files["bad"] if e == "BAD" else e for e in extra]
    out = tmp_path / "bad"
    result = run(*base_args(files), "--trials", "2", *extra, "--out", out)
    assert result.exit_code == 2, result.output
    for w in words:
        assert w in text(result)
    assert "Traceback" not in result.output
    assert not (out / "index.html").exists()


def test_missing_model_is_exit_2(files):
    result = run("tune", "--data", files["data"], "--target", "target")
    assert result.exit_code == 2 and "needs --model" in text(result)


def test_a_run_that_fails_before_any_trial_leaves_no_folder(files, tmp_path):
    space = tmp_path / "space.toml"
    space.write_text('[C]\ntype = "float"\nlow = 0.01\nhigh = 10\nbogus = 1\n', encoding="utf-8")
    out = tmp_path / "never"
    result = run(*base_args(files), "--trials", 2, "--space", space, "--out", out)
    assert result.exit_code == 2, result.output
    assert not out.exists()  # the folder it created held only its marker: removed
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    result = run(*base_args(files), "--trials", 2, "--space", space, "--out", mine,
                 "--overwrite")  # fmt: skip
    assert result.exit_code == 2 and (mine / "notes.txt").read_text() == "mine"
