"""Explanations show progress per method and per row (issue 14, item 4): the library
reports every row of every method through ``progress(stage, done, total)``; the CLI shows
a plain line per running method when piped (e.g. CI logs), and nothing with ``--quiet``."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from afterfit.explain import explain_local, explain_model

FAST_ANCHORS = {"max_anchor_size": 2, "coverage_samples": 500, "tau": 0.5}


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :8]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(X[:300], y[:300])
    return model, X[:300], X[300:400].reset_index(drop=True), y[300:400]


def _by_stage(calls: list[tuple[str, int, int]]) -> dict[str, list[tuple[int, int]]]:
    out: dict[str, list[tuple[int, int]]] = {}
    for stage, done, total in calls:
        out.setdefault(stage, []).append((done, total))
    return out


def test_every_row_of_every_local_method_is_reported(cancer) -> None:
    model, train, X, y = cancer
    calls: list[tuple[str, int, int]] = []
    loc = explain_local(model, X, y, train=train, methods=("shap", "lime", "anchors"),
                        n_errors=2, n_uncertain=2, n_random=1, num_samples=300,
                        anchor_options=FAST_ANCHORS, random_state=0,
                        progress=lambda *a: calls.append(a))  # fmt: skip
    n = len(loc.rows)
    assert n == 5
    stages = _by_stage(calls)
    assert set(stages) == {"shap", "lime", "anchors"}
    for method in ("lime", "anchors"):
        # one report per row, counting up to the rows explained, total = rows
        assert stages[method] == [(k, n) for k in range(1, n + 1)], (method, stages[method])
    # exact SHAP does every row at once: its last report says all rows are done
    assert stages["shap"][-1] == (n, n)
    assert all(total == n for _, total in stages["shap"])


def test_explain_model_reports_global_steps_and_rows(cancer) -> None:
    model, train, X, y = cancer
    calls: list[tuple[str, int, int]] = []
    explain_model(model, X, y, train=train, methods=("permutation", "lime"), n_repeats=2,
                  n_errors=1, n_uncertain=1, n_random=0, num_samples=300, random_state=0,
                  progress=lambda *a: calls.append(a))  # fmt: skip
    stages = _by_stage(calls)
    assert stages["permutation"][0] == (0, 1) and stages["permutation"][-1] == (1, 1)
    assert stages["lime"] == [(1, 2), (2, 2)]


@pytest.fixture(scope="module")
def files(tmp_path_factory, cancer):
    model, train, X, y = cancer
    d = tmp_path_factory.mktemp("explain-progress")
    sio.dump(model, d / "model.skops")
    X.assign(target=np.asarray(y)).to_parquet(d / "test.parquet")
    pd.DataFrame(train).assign(target=0).to_parquet(d / "train.parquet")
    return d


def _args(d, out, *extra):
    return [sys.executable, "-m", "afterfit.cli", "explain", "--model", str(d / "model.skops"),
            "--data", str(d / "test.parquet"), "--train", str(d / "train.parquet"),
            "--target", "target", "--methods", "lime,anchors", "--n-errors", "2",
            "--n-uncertain", "1", "--n-random", "0", "--no-figures", "--out", str(out),
            *extra]  # fmt: skip


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update({"COLUMNS": "120"}, **extra)
    return env


def test_cli_prints_a_plain_line_per_method_when_piped(files, tmp_path) -> None:
    env = _env(AFTERFIT_PROGRESS_INTERVAL="0.01")
    proc = subprocess.run(_args(files, tmp_path / "out"), capture_output=True, text=True,
                          env=env, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.startswith("progress:")]
    assert lines, proc.stderr
    text = "\n".join(lines)
    one = r"(lime|anchors): [0-3]/3 \(\d+%\), \d+ s elapsed"
    assert all(re.fullmatch(f"progress: {one}(; {one})?", x) for x in lines), lines
    for method in ("lime", "anchors"):
        # every row counts: the method's line reaches all rows, each with its own line
        assert f"{method}: 3/3 (100%)" in text, text
    assert re.search(r"lime: [12]/3", text), text  # a row at a time, not one jump
    assert "━" not in proc.stderr and "\x1b[" not in proc.stderr  # no bar, no escapes


def test_cli_quiet_prints_no_progress(files, tmp_path) -> None:
    env = _env(AFTERFIT_PROGRESS_INTERVAL="0.01")
    proc = subprocess.run(_args(files, tmp_path / "out", "--quiet"), capture_output=True,
                          text=True, env=env, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "progress:" not in proc.stderr and "progress:" not in proc.stdout
