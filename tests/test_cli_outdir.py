"""Every command that writes a folder follows one rule (issue 13, "lost user data").

For each of run, cv, tune, ensemble, explain, saliency, calibrate, compare, threshold,
monitor, bundle and evaluate: an --out folder holding a user's file is refused (exit 2,
naming the folder and --overwrite, the file untouched); an empty folder is written; a rerun
into afterfit's own folder works and keeps a file the user added; --overwrite writes into
the user's folder and keeps the user's file. A bundle is stricter: it holds its own files
alone. Also: ``bundle --zip`` and an existing zip, and messages that name the real cause of
an operating-system error.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from afterfit.cli import app
from afterfit.outdir import MARKER, owned_files, read_marker

runner = CliRunner()
TARGET = "target"


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Breast cancer (6 features, 240 rows), two logistic regressions saved with skops, a
    bundle and its prediction log, and a tiny image classifier."""
    d = tmp_path_factory.mktemp("outdir-cli")
    frame = load_breast_cancer(as_frame=True).frame.sample(n=240, random_state=0)
    frame = frame.iloc[:, [*range(6), -1]].reset_index(drop=True)
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    X, y = frame.drop(columns=TARGET), frame[TARGET]
    train, test = frame.iloc[:160], frame.iloc[160:]
    train.to_parquet(d / "train.parquet", index=False)
    test.to_csv(d / "test.csv", index=False)
    a = LogisticRegression(solver="liblinear").fit(train.drop(columns=TARGET), train[TARGET])
    b = LogisticRegression(solver="liblinear", C=0.01).fit(X.iloc[:160], y.iloc[:160])
    sio.dump(a, d / "a.skops")
    sio.dump(b, d / "b.skops")

    from afterfit.bundle.core import build_bundle

    bundle = build_bundle(a, X.iloc[:160], y.iloc[:160], out=d / "m-1", name="m", version="1")
    log = X.iloc[160:].copy()
    preds = bundle.predict_frame(log)
    log["ts"] = 1_767_225_600.0 + np.arange(len(log)) * 60.0
    log["request_id"] = [f"r{i}" for i in range(len(log))]
    for j, c in enumerate(bundle.classes):
        log[f"proba_{c}"] = preds.proba[:, j]
    log["decision"] = preds.decision
    log.to_parquet(d / "log.parquet", index=False)

    import warnings

    import torch

    from afterfit.saliency.example import DigitsCNN

    torch.manual_seed(0)
    torch.save(DigitsCNN(channels=4).eval().state_dict(), d / "cnn.pt")
    pixels = np.random.default_rng(0).random((4, 8, 8), dtype=np.float32)
    np.savez(d / "images.npz", images=pixels, labels=np.arange(4) % 3)
    warnings.simplefilter("default")
    return {"dir": d}


def _args(command: str, d: Path, out: Path) -> list:
    """The fastest call of each command that writes a folder."""
    model = ["--model", d / "a.skops"]
    test = ["--data", d / "test.csv", "--target", TARGET]
    train = ["--data", d / "train.parquet", "--target", TARGET]
    quick = {
        "evaluate": [*model, *test, "--ci", "none", "--no-figures"],
        "threshold": [*model, *test, "--n-resamples", 20, "--no-figures"],
        "calibrate": [*model, *test, "--n-resamples", 20, "--no-figures"],
        "compare": ["--model", d / "a.skops", "--model", d / "b.skops", *test,
                    "--n-resamples", 20, "--no-figures"],
        "explain": [*model, *test, "--methods", "permutation", "--n-repeats", 1,
                    "--n-errors", 0, "--n-uncertain", 0, "--n-random", 0, "--no-figures"],
        "run": [*model, *test, "--steps", "evaluation", "--n-resamples", 0, "--no-figures"],
        "cv": [*model, *train, "--folds", 2, "--no-figures"],
        "tune": [*model, *train, "--trials", 2, "--folds", 2, "--sampler", "random",
                 "--no-save-model"],
        "ensemble": ["--model", d / "a.skops", "--model", d / "b.skops", *test,
                     "--n-resamples", 20, "--no-figures"],
        "monitor": [d / "m-1", "--log", d / "log.parquet"],
        "saliency": ["--model", d / "cnn.pt", "--module-class",
                     "afterfit.saliency.example:DigitsCNN", "--module-kwargs",
                     '{"channels": 4}', "--images", d / "images.npz", "--methods", "gradients",
                     "--no-sanity", "--no-figures", "--faithfulness-steps", 4],
        "bundle": [*model, *train, "--name", "churn", "--version", "1"],
    }  # fmt: skip
    return [command, *quick[command], "--out", out, "--quiet"]


FOLDER_COMMANDS = [
    "evaluate", "threshold", "calibrate", "compare", "explain", "run", "cv", "tune",
    "ensemble", "monitor", "saliency", "bundle",
]  # fmt: skip


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _no_staging_left(folder: Path) -> None:
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}.")] == []


def _refused(result, *names: object) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    text = " ".join(result.output.split())  # wrapped lines joined
    for name in names:
        assert str(name) in text, (name, result.output)


@pytest.mark.parametrize("command", FOLDER_COMMANDS)
def test_a_users_folder_is_refused_and_left_untouched(files, tmp_path, command):
    out = tmp_path / "mine"
    (out / "data").mkdir(parents=True)
    (out / "notes.md").write_text("my notes")
    (out / "data" / "raw.csv").write_text("1,2,3")
    before = _snapshot(out)
    result = invoke(*_args(command, files["dir"], out))
    _refused(result, out, "--overwrite")
    assert _snapshot(out) == before
    _no_staging_left(out)


@pytest.mark.parametrize("command", [c for c in FOLDER_COMMANDS if c != "bundle"])
def test_empty_folder_rerun_and_overwrite(files, tmp_path, command):
    d = files["dir"]
    # An empty folder is written, and marked as afterfit's.
    out = tmp_path / "empty"
    out.mkdir()
    first = invoke(*_args(command, d, out))
    assert first.exit_code == 0, first.output
    owned = owned_files(read_marker(out))
    assert owned and set(owned.values()) == {command}
    assert set(owned) <= set(_snapshot(out))
    # A rerun into afterfit's own folder needs no flag and keeps a file the user added.
    (out / "notes.md").write_text("my notes")
    again = invoke(*_args(command, d, out))
    assert again.exit_code == 0, again.output
    assert (out / "notes.md").read_text() == "my notes"
    assert "notes.md" not in owned_files(read_marker(out))
    _no_staging_left(out)
    # --overwrite writes into the user's folder and keeps the user's files.
    mine = tmp_path / "mine"
    (mine / "data").mkdir(parents=True)
    (mine / "notes.md").write_text("my notes")
    (mine / "data" / "raw.csv").write_text("1,2,3")
    third = invoke(*_args(command, d, mine), "--overwrite")
    assert third.exit_code == 0, third.output
    assert (mine / "notes.md").read_text() == "my notes"
    assert (mine / "data" / "raw.csv").read_text() == "1,2,3"
    assert set(owned_files(read_marker(mine))) == set(owned_files(read_marker(out)))
    _no_staging_left(mine)


@pytest.mark.parametrize("command", ["evaluate", "run", "cv"])
def test_a_users_file_named_like_an_output_stops_overwrite(files, tmp_path, command):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "results.json").write_text("my results")
    result = invoke(*_args(command, files["dir"], out), "--overwrite")
    _refused(result, "results.json", out)
    assert sorted(os.listdir(out)) == ["results.json"]
    assert (out / "results.json").read_text() == "my results"
    _no_staging_left(out)


def test_commands_sharing_the_results_folder_keep_each_others_files(files, tmp_path):
    d, out = files["dir"], tmp_path / "results"
    for command in ("evaluate", "threshold", "calibrate", "compare", "evaluate"):
        result = invoke(*_args(command, d, out))
        assert result.exit_code == 0, (command, result.output)
    owned = owned_files(read_marker(out))
    expected = {"results.json": "evaluate", "threshold.json": "threshold",
                "calibration.json": "calibrate", "comparison.json": "compare"}  # fmt: skip
    for name, command in expected.items():
        assert owned[name] == command and (out / name).is_file()


def test_bundle_is_replaced_only_with_overwrite_and_holds_its_own_files(files, tmp_path):
    d = files["dir"]
    out = tmp_path / "churn-1"
    empty = invoke(*_args("bundle", d, out))
    assert empty.exit_code == 0, empty.output
    again = invoke(*_args("bundle", d, out))
    _refused(again, out, "--overwrite", "exists already")
    replaced = invoke(*_args("bundle", d, out), "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    (out / "notes.md").write_text("my notes")
    refused = invoke(*_args("bundle", d, out), "--overwrite")
    _refused(refused, out, "notes.md")
    assert (out / "notes.md").read_text() == "my notes"
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.md").write_text("my notes")
    _refused(invoke(*_args("bundle", d, mine), "--overwrite"), mine, "notes.md")
    assert sorted(os.listdir(mine)) == ["notes.md"]
    from afterfit.bundle.core import load_bundle

    (out / "notes.md").unlink()
    assert load_bundle(out).manifest["files"][MARKER]  # the marker is hashed with the rest
    _no_staging_left(out)


@pytest.mark.parametrize(
    "existing",
    ["a zip of someone else", "not a zip at all", "a folder"],
)
def test_bundle_zip_never_replaces_a_file_afterfit_did_not_write(files, tmp_path, existing):
    import zipfile

    d = files["dir"]
    out = tmp_path / "churn-2"
    target = tmp_path / "churn-2.zip"
    if existing == "a zip of someone else":
        with zipfile.ZipFile(target, "w") as zf:
            zf.writestr("holiday/photo.txt", "precious")
    elif existing == "a folder":
        target.mkdir()
        (target / "x.txt").write_text("precious")
    else:
        target.write_text("precious")
    before = target.read_bytes() if target.is_file() else (target / "x.txt").read_bytes()
    for extra in ([], ["--overwrite"]):
        result = invoke(*_args("bundle", d, out), "--zip", *extra)
        _refused(result, target)
        assert "--overwrite" in result.output or extra
        now = target.read_bytes() if target.is_file() else (target / "x.txt").read_bytes()
        assert now == before
        assert not out.exists()  # refused before anything was built


def test_bundle_zip_replaces_its_own_zip_with_overwrite(files, tmp_path):
    from afterfit.bundle.core import load_bundle

    d = files["dir"]
    out = tmp_path / "churn-3"
    assert invoke(*_args("bundle", d, out), "--zip").exit_code == 0
    zip_path = tmp_path / "churn-3.zip"
    assert load_bundle(zip_path).name == "churn"
    # A new --out folder, but the same zip beside it: refused without --overwrite.
    mtime = zip_path.stat().st_mtime_ns
    import shutil

    shutil.rmtree(out)
    refused = invoke(*_args("bundle", d, out), "--zip")
    _refused(refused, zip_path, "--overwrite")
    assert zip_path.stat().st_mtime_ns == mtime
    ok = invoke(*_args("bundle", d, out), "--zip", "--overwrite")
    assert ok.exit_code == 0, ok.output
    assert load_bundle(zip_path).name == "churn"


# --- messages: the real cause of an operating-system error --------------------------------


@pytest.mark.parametrize("command", ["evaluate", "run", "threshold"])
def test_out_that_is_a_file_says_so(files, tmp_path, command):
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    result = invoke(*_args(command, files["dir"], target))
    _refused(result, target, "is a file, not a folder")
    assert "free space" not in result.output
    assert target.read_text() == "keep me"
    inside = invoke(*_args(command, files["dir"], target / "sub"))
    _refused(inside, target, "is a file, not a folder")
    assert "free space" not in inside.output


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, "the disk is full"),
        (errno.EACCES, "permission denied"),
        (errno.EROFS, "read-only"),
        (errno.EDQUOT, "quota"),
        (errno.ENAMETOOLONG, "too long"),
    ],
)
def test_evaluate_names_the_real_cause_of_a_failed_write(files, tmp_path, monkeypatch, code, words):
    import afterfit.documents as documents

    def failing(path, text):
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(documents, "atomic_write_text", failing)
    out = tmp_path / "results"
    result = invoke(*_args("evaluate", files["dir"], out))
    _refused(result, words, "results.json")
    if code != errno.ENOSPC:
        assert "disk is full" not in result.output and "free space" not in result.output
    assert not out.exists()  # nothing half-written
    _no_staging_left(out)


def test_os_error_message_names_path_and_cause():
    from afterfit.cli._app import os_error_message

    assert os_error_message(OSError(errno.ENOSPC, "No space left on device", "/d/x")) == (
        "could not use '/d/x': the disk is full (No space left on device). "
        "Fix: free some space, or write to another disk."
    )
    msg = os_error_message(OSError(errno.ENOTDIR, "Not a directory", "/a/f/b"))
    assert "'/a/f/b'" in msg and "is a file, not a folder" in msg
    msg = os_error_message(OSError(errno.EXDEV, "Invalid cross-device link", "/a", None, "/b"))
    assert "'/a' and '/b'" in msg and "Invalid cross-device link" in msg
    assert "could not use a file" in os_error_message(OSError("odd"))


def test_brackets_in_a_path_survive_the_error_message(files, tmp_path):
    out = tmp_path / "[red]mine"
    out.mkdir()
    (out / "notes.md").write_text("mine")
    result = invoke(*_args("evaluate", files["dir"], out))
    _refused(result, "[red]mine")


def test_every_folder_command_offers_overwrite():
    for command in FOLDER_COMMANDS:
        result = invoke(command, "--help")
        assert result.exit_code == 0
        assert "--overwrite" in result.output, command
        assert "--no-overwrite" not in result.output, command


def test_stale_staging_of_a_killed_run_is_removed_by_the_next_run(files, tmp_path):
    import socket
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    stale = tmp_path / ".report.x1y2z3.tmp"
    stale.mkdir()
    (stale / "index.html").write_text("half")
    marker = {"tool": "afterfit", "commands": {}, "staging": "run", "pid": proc.pid,
              "host": socket.gethostname()}  # fmt: skip
    (stale / MARKER).write_text(json.dumps(marker))
    users = tmp_path / ".report.backup.tmp"  # named alike, but no marker: the user's
    users.mkdir()
    (users / "keep.txt").write_text("keep")
    result = invoke(*_args("run", files["dir"], tmp_path / "report"))
    assert result.exit_code == 0, result.output
    assert not stale.exists()
    assert (users / "keep.txt").read_text() == "keep"
    assert pd.read_json(tmp_path / "report" / "results.json", typ="series") is not None


def test_mlflow_uploads_afterfits_files_and_none_of_the_users(files, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "rep"
    out.mkdir()
    (out / "private.txt").write_text("not for the tracking server")
    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    result = invoke(*_args("run", files["dir"], out), "--overwrite", "--mlflow-uri", uri)
    assert result.exit_code == 0, result.output
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])

    def listed(path=None):
        for item in client.list_artifacts(run.info.run_id, path):
            yield from listed(item.path) if item.is_dir else [item.path]

    artifacts = set(listed())
    assert {"index.html", "results.json"} <= artifacts
    assert "private.txt" not in artifacts and MARKER not in artifacts
    assert artifacts == set(owned_files(read_marker(out)))
    assert (out / "private.txt").read_text() == "not for the tracking server"


def _unmark(bundle: Path) -> None:
    """Make ``bundle`` look like one built before afterfit marked its folders."""
    from afterfit.bundle.manifest import manifest_digest

    (bundle / MARKER).unlink()
    manifest = json.loads((bundle / "manifest.json").read_text())
    del manifest["files"][MARKER]
    manifest["manifest_sha256"] = manifest_digest(manifest)
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def test_a_bundle_from_before_markers_is_replaced_with_overwrite_when_whole(files, tmp_path):
    from afterfit.bundle.core import load_bundle

    d = files["dir"]
    out = tmp_path / "churn-1"
    assert invoke(*_args("bundle", d, out)).exit_code == 0
    _unmark(out)
    assert load_bundle(out).name == "churn"  # a valid bundle, without a marker
    _refused(invoke(*_args("bundle", d, out)), out, "--overwrite")
    ok = invoke(*_args("bundle", d, out), "--overwrite")
    assert ok.exit_code == 0, ok.output
    assert read_marker(out) is not None and load_bundle(out).name == "churn"
    # Not whole (a file of the user's inside, or an altered file): not recognised.
    _unmark(out)
    (out / "notes.md").write_text("mine")
    _refused(invoke(*_args("bundle", d, out), "--overwrite"), out, "notes.md")
    (out / "notes.md").unlink()
    (out / "MODEL_CARD.md").write_text("edited by hand")
    _refused(invoke(*_args("bundle", d, out), "--overwrite"), out, "MODEL_CARD.md")
    assert (out / "MODEL_CARD.md").read_text() == "edited by hand"


def test_a_bundled_report_ships_afterfits_files_and_none_of_the_users(files, tmp_path):
    from afterfit.bundle.core import load_bundle

    d = files["dir"]
    report = tmp_path / "report"
    report.mkdir()
    (report / "private.txt").write_text("not for the bundle")
    (report / "link.txt").symlink_to(d / "test.csv")
    assert invoke(*_args("run", d, report), "--overwrite").exit_code == 0
    out = tmp_path / "churn-1"
    result = invoke(*_args("bundle", d, out), "--report", report)
    assert result.exit_code == 0, result.output
    shipped = {n for n in load_bundle(out).manifest["files"] if n.startswith("report/")}
    assert shipped == {f"report/{n}" for n in owned_files(read_marker(report))}
    assert "report/results.json" in shipped
    assert (report / "private.txt").read_text() == "not for the bundle"
