"""Progress of long work: one renderer (rich bars on a terminal, a plain line at most every
interval otherwise, nothing with --quiet), and the library callbacks that feed it."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from rich.console import Console
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from afterfit.parallel import run_tasks
from afterfit.progress import ProgressDisplay, display_mode, plain_interval, stage_advance
from afterfit.selection.cv import compare_cv_models, cross_validate


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=terminal, width=120), buf


# --- the renderer ------------------------------------------------------------------------


def test_mode_follows_quiet_and_terminal():
    assert display_mode(True, _console(True)[0]) == "off"
    assert display_mode(False, _console(True)[0]) == "bar"
    assert display_mode(False, _console(False)[0]) == "plain"


def test_plain_lines_show_done_total_and_elapsed():
    console, buf = _console(False)
    with ProgressDisplay(console, mode="plain", interval=0.05) as shown:
        advance = shown.advancer("bootstrap", 10)
        advance(3)
        time.sleep(0.3)
    lines = [x for x in buf.getvalue().splitlines() if x]
    assert lines, "no plain progress line"
    assert all(x == "progress: bootstrap: 3/10 (30%), 0 s elapsed" for x in lines), lines
    # At most one line per interval: 0.3 s at 0.05 s gives about 6, never dozens.
    assert len(lines) <= 8


def test_plain_lines_are_rate_limited():
    console, buf = _console(False)
    with ProgressDisplay(console, mode="plain", interval=10) as shown:
        advance = shown.advancer("rows", 1000)
        for _ in range(1000):
            advance(1)
        time.sleep(0.2)
    assert buf.getvalue() == ""  # under the interval: nothing, however many updates


def test_plain_line_names_every_running_stage_and_the_note():
    console, buf = _console(False)
    with ProgressDisplay(console, mode="plain", interval=0.05) as shown:
        progress = shown.stages(cumulative=True, prefix="cv folds: ")
        progress("lr", 2, 4)
        progress("tree", 1, 4)
        trials = shown.advancer("tune trials", 5)
        trials(1, info="best roc_auc 0.91")
        time.sleep(0.2)
    last = buf.getvalue().strip().splitlines()[-1]
    assert "cv folds: lr: 2/4 (50%)" in last
    assert "cv folds: tree: 1/4 (25%)" in last
    assert "tune trials: 1/5 (20%), best roc_auc 0.91" in last


def test_finished_steps_stop_printing():
    console, buf = _console(False)
    with ProgressDisplay(console, mode="plain", interval=0.05) as shown:
        with shown.step("evaluation", 4) as advance:
            advance(4)
        buf.truncate(0)
        buf.seek(0)
        time.sleep(0.2)
    assert buf.getvalue() == ""


def test_bar_mode_draws_a_bar_with_counts():
    console, buf = _console(True)
    with ProgressDisplay(console, mode="bar", transient=False) as shown:
        progress = shown.stages(cumulative=False, names={"maps": "saliency maps"})
        progress("maps", 2, 5)
        progress("maps", 3, 5)
    text = buf.getvalue()
    assert "saliency maps" in text
    assert "5/5" in text
    assert "━" in text


def test_quiet_hands_out_no_callbacks():
    console, buf = _console(True)
    with ProgressDisplay(console, mode="off") as shown:
        assert shown.advancer("x", 3) is None
        assert shown.stages(cumulative=True) is None
        with shown.step("evaluation", 3) as advance:
            assert advance is None
    assert buf.getvalue() == ""


def test_interval_from_environment(monkeypatch):
    monkeypatch.setenv("AFTERFIT_PROGRESS_INTERVAL", "2.5")
    assert plain_interval() == 2.5
    for bad in ("soon", "-1"):
        monkeypatch.setenv("AFTERFIT_PROGRESS_INTERVAL", bad)
        assert plain_interval() == 10.0


def test_stage_advance_counts_cumulatively():
    seen = []
    advance = stage_advance(lambda *a: seen.append(a), "bootstrap", 6)
    advance(2)
    advance(4)
    assert seen == [("bootstrap", 2, 6), ("bootstrap", 6, 6)]
    assert stage_advance(None, "x", 1) is None


# --- library callbacks -------------------------------------------------------------------


def _square(x):
    return x * x


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_run_tasks_reports_each_task_in_order(n_jobs):
    done = []
    out = run_tasks(_square, [(i,) for i in range(6)], n_jobs=n_jobs, on_done=done.append)
    assert out == [i * i for i in range(6)]
    assert done == list(range(6))


@pytest.fixture(scope="module")
def small():
    X, y = make_classification(120, 4, random_state=0)
    return pd.DataFrame(X, columns=list("abcd")), y


def test_cv_reports_every_fold_of_every_model(small):
    X, y = small
    seen = []
    cross_validate(LogisticRegression(), X, y, cv=3, random_state=0, metrics=["accuracy"],
                   progress=lambda *a: seen.append(a))  # fmt: skip
    assert seen == [("model", 1, 3), ("model", 2, 3), ("model", 3, 3)]
    seen.clear()
    models = {"a": LogisticRegression(), "b": LogisticRegression(C=0.1)}
    compare_cv_models(models, X, y, cv=2, n_repeats=2, random_state=0, metrics=["accuracy"],
                      progress=lambda *a: seen.append(a))  # fmt: skip
    assert seen == [("a", i, 4) for i in range(1, 5)] + [("b", i, 4) for i in range(1, 5)]


def test_tune_reports_trials_with_best_so_far(small):
    pytest.importorskip("optuna")
    from afterfit.selection.tune import tune

    X, y = small
    calls = []
    tune(LogisticRegression(), X, y, space={"C": {"type": "float", "low": 0.01, "high": 10,
         "log": True}}, n_trials=3, cv=2, metric="accuracy", random_state=0, refit=False,
         progress=lambda n, info=None: calls.append((n, info)))  # fmt: skip
    assert [n for n, _ in calls] == [1, 1, 1]
    assert all(re.fullmatch(r"best accuracy \d\.\d+", info) for _, info in calls), calls


# --- a command, with and without a terminal ----------------------------------------------


@pytest.fixture(scope="module")
def cv_files(tmp_path_factory, small):
    d = tmp_path_factory.mktemp("progress")
    X, y = small
    X.assign(y=y).to_parquet(d / "train.parquet")
    sio.dump(LogisticRegression().fit(X, y), d / "lr.skops")
    return d


def _cv_args(d, out, *extra):
    return [sys.executable, "-m", "afterfit.cli", "cv", "--model", str(d / "lr.skops"),
            "--data", str(d / "train.parquet"), "--target", "y", "--folds", "3",
            "--metrics", "accuracy", "--n-jobs", "1", "--no-figures", "--out", str(out),
            *extra]  # fmt: skip


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update({"TERM": "xterm-256color", "COLUMNS": "120"}, **extra)
    return env


def _run_in_pty(args, env) -> tuple[int, str]:
    """Run with stdout and stderr on a pseudo-terminal; everything it wrote."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, stdout=follower, stderr=follower, stdin=subprocess.DEVNULL,
                            env=env, close_fds=True)  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


def test_cv_shows_a_bar_on_a_terminal(cv_files, tmp_path):
    code, text = _run_in_pty(_cv_args(cv_files, tmp_path / "out"), _env())
    assert code == 0, text
    assert "cv folds: lr" in text
    assert "3/3" in text
    assert "━" in text  # rich's bar
    assert "progress:" not in text  # no plain lines on a terminal


def test_cv_prints_plain_lines_when_piped(cv_files, tmp_path):
    # A small interval stands for the 10 s of a long run; 0 would still print per tick.
    env = _env(AFTERFIT_PROGRESS_INTERVAL="0.01")
    proc = subprocess.run(_cv_args(cv_files, tmp_path / "out"), capture_output=True,
                          text=True, env=env, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.startswith("progress:")]
    assert lines, proc.stderr
    pattern = r"progress: cv folds: lr: [0-3]/3 \(\d+%\), \d+ s elapsed"
    assert all(re.fullmatch(pattern, x) for x in lines), lines
    assert "━" not in proc.stderr and "\x1b[" not in proc.stderr  # no bar, no escapes
    assert "Wrote" in proc.stdout


def test_cv_quick_and_piped_prints_no_progress_at_the_default_interval(cv_files, tmp_path):
    env = _env()
    env.pop("AFTERFIT_PROGRESS_INTERVAL", None)
    proc = subprocess.run(_cv_args(cv_files, tmp_path / "out"), capture_output=True,
                          text=True, env=env, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "progress:" not in proc.stderr  # done well within 10 s


@pytest.mark.parametrize("terminal", [True, False])
def test_quiet_silences_progress(cv_files, tmp_path, terminal):
    args = _cv_args(cv_files, tmp_path / "out", "--quiet")
    env = _env(AFTERFIT_PROGRESS_INTERVAL="0.01")
    if terminal:
        code, text = _run_in_pty(args, env)
    else:
        proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
        code, text = proc.returncode, proc.stdout + proc.stderr
    assert code == 0, text
    assert "cv folds" not in text and "progress" not in text


def test_monitor_reports_rows_per_batch():
    from afterfit.bundle.reference import ReferenceStats
    from afterfit.monitoring.core import monitor

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(size=500)})
    ref = ReferenceStats.from_frame(X)
    log = X.assign(ts=1_767_225_600.0 + np.arange(500.0))
    seen = []
    monitor(ref, log, batch_rows=200, progress=seen.append)
    assert seen == [200, 200, 100]


def test_export_reports_each_conversion_and_its_parity(small, tmp_path):
    pytest.importorskip("skl2onnx")
    from afterfit.exporters.core import export_model

    X, y = small
    seen = []
    result = export_model(LogisticRegression().fit(X, y), X, path=tmp_path / "m.onnx",
                          progress=lambda *a: seen.append(a))  # fmt: skip
    assert result.format == "onnx"
    stage = seen[0][0]
    assert "float32" in stage and "120 rows" in stage
    assert seen == [(stage, 0, 2), (stage, 1, 2), (stage, 2, 2)]


# --- the selection commands' words -------------------------------------------------------


def test_a_wrong_space_name_lists_the_pipeline_s_nested_parameters():
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from afterfit.errors import InvalidInputError
    from afterfit.selection.spaces import resolve_space

    pipe = Pipeline([("sc", StandardScaler()), ("lr", LogisticRegression())])
    for wrong, meant in [("lr__c", "'lr__C'"), ("C", "'lr__C'"), ("lr__max_iterations", None)]:
        with pytest.raises(InvalidInputError) as info:
            resolve_space({wrong: {"type": "float", "low": 0.1, "high": 1.0}}, pipe)
        text = str(info.value)
        listed = text.split("include: ")[1]
        assert "lr__C" in listed and "lr__max_iter" in listed and "sc__with_mean" in listed
        assert "steps" not in listed.split(".")[0].split(", ")  # a step is not a setting
        if meant:
            assert f"Did you mean {meant}" in text


def test_tune_help_calls_data_the_training_data():
    from typer.testing import CliRunner

    import afterfit.cli.tune  # noqa: F401
    from afterfit.cli._app import app

    text = CliRunner().invoke(app, ["tune", "--help"], env={"COLUMNS": "200"}).output
    line = next(x for x in text.splitlines() if "--data" in x)
    assert "Training data" in line and "Test data" not in line
