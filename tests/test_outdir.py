"""Output folders (issue 13): afterfit writes only into new, empty or its own folders, and
never replaces or removes a file it did not write (``afterfit.outdir``).

Each class of defect is tried in several variants: a user's folder (files, sub-folders,
links, a forged marker), a rerun into afterfit's own folder, two commands sharing one
folder, interruptions while building and while publishing, and stale staging folders.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from afterfit.errors import InvalidInputError
from afterfit.outdir import (
    MARKER,
    Staging,
    owned_files,
    prepare_out,
    read_marker,
    remove_stale_staging,
    writing,
)


def _write(out, files: dict[str, str], command: str = "run", **kw) -> None:
    with writing(out, command=command, **kw) as stage:
        for name, text in files.items():
            path = stage.path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (links as their target text), by relative path."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_symlink():
            out[rel] = os.readlink(p).encode()
        elif p.is_file():
            out[rel] = p.read_bytes()
    return out


def _siblings(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir())


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --- the marker ---------------------------------------------------------------------------


def test_new_folder_gets_a_marker_listing_the_files_per_command(tmp_path):
    out = tmp_path / "report"
    _write(out, {"index.html": "a", "tables/t.csv": "x,y\n"})
    marker = json.loads((out / MARKER).read_text())
    assert marker["tool"] == "afterfit" and marker["marker_version"] == 1
    entry = marker["commands"]["run"]
    assert entry["files"] == ["index.html", "tables/t.csv"]
    from afterfit import __version__

    assert entry["afterfit_version"] == __version__ and entry["created"]
    assert owned_files(read_marker(out)) == {"index.html": "run", "tables/t.csv": "run"}
    # Published with the usual permissions, not mkdtemp's private 0700.
    assert out.stat().st_mode & 0o055 == 0o055 & ~_umask()
    assert _siblings(out) == ["report"]  # no staging folder left


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        json.dumps({"tool": "other", "commands": {}}),
        json.dumps({"tool": "afterfit", "commands": {"run": {"files": ["../victim.txt"]}}}),
        json.dumps({"tool": "afterfit", "commands": {"run": {"files": ["/etc/passwd"]}}}),
        json.dumps({"tool": "afterfit", "commands": {"run": {"files": ["a\\..\\..\\b"]}}}),
        json.dumps({"tool": "afterfit", "commands": {"run": {"files": [MARKER]}}}),
        json.dumps({"tool": "afterfit", "commands": {"run": {"files": "index.html"}}}),
        json.dumps({"tool": "afterfit", "commands": []}),
        "[" * 100_000,
    ],
    ids=["garbage", "other-tool", "dotdot", "absolute", "backslash", "self", "str", "list", "deep"],
)
def test_a_forged_or_broken_marker_does_not_make_a_folder_afterfits(tmp_path, text):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    out = tmp_path / "out"
    out.mkdir()
    (out / MARKER).write_text(text)
    (out / "index.html").write_text("mine")
    assert read_marker(out) is None
    with pytest.raises(InvalidInputError, match="--overwrite"):
        prepare_out(out, command="run")
    # Even with overwrite: the forged marker is the user's file, so afterfit will not
    # replace it (its own marker has that name) and deletes nothing.
    with pytest.raises(InvalidInputError, match=r"\.afterfit\.json|index\.html"):
        _write(out, {"index.html": "new"}, overwrite=True)
    assert victim.read_text() == "keep"
    assert (out / "index.html").read_text() == "mine"
    assert (out / MARKER).read_text() == text


# --- the rule -----------------------------------------------------------------------------


def test_missing_and_empty_folders_are_written(tmp_path):
    _write(tmp_path / "a" / "b" / "new", {"x.json": "1"})
    assert (tmp_path / "a" / "b" / "new" / "x.json").read_text() == "1"
    empty = tmp_path / "empty"
    empty.mkdir()
    inode = empty.stat().st_ino
    _write(empty, {"x.json": "1"})
    assert (empty / "x.json").read_text() == "1"
    # The user's own (empty) folder stays the same folder: written into, not replaced.
    assert empty.stat().st_ino == inode


@pytest.mark.parametrize(
    "layout",
    [
        {"notes.md": "mine"},
        {"sub/deep/data.csv": "1,2"},
        {".hidden": "secret"},
        {"index.html": "my own page"},
    ],
    ids=["file", "subfolder", "hidden", "same-name"],
)
def test_a_folder_afterfit_did_not_write_is_refused_and_untouched(tmp_path, layout):
    out = tmp_path / "mine"
    for name, text in layout.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    before = _snapshot(out)
    with pytest.raises(InvalidInputError) as err:
        _write(out, {"index.html": "new"})
    message = str(err.value)
    assert str(out) in message and "--overwrite" in message
    assert _snapshot(out) == before
    assert _siblings(out) == ["mine"]


def test_a_file_or_a_link_at_out_is_refused(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    with pytest.raises(InvalidInputError, match="is a file, not a folder"):
        _write(target, {"a": "1"})
    assert target.read_text() == "keep me"
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(InvalidInputError, match="not a folder"):
        prepare_out(dangling, command="run")
    assert not (tmp_path / "nowhere").exists()


def test_overwrite_keeps_every_file_afterfit_did_not_write(tmp_path):
    out = tmp_path / "mine"
    (out / "sub").mkdir(parents=True)
    (out / "notes.md").write_text("mine")
    (out / "sub" / "data.csv").write_text("1,2")
    _write(out, {"index.html": "v1", "tables/t.csv": "t"}, overwrite=True)
    assert (out / "notes.md").read_text() == "mine"
    assert (out / "sub" / "data.csv").read_text() == "1,2"
    assert (out / "index.html").read_text() == "v1"
    assert owned_files(read_marker(out)) == {"index.html": "run", "tables/t.csv": "run"}
    # The folder is afterfit's now: a rerun needs no --overwrite and still keeps them.
    _write(out, {"index.html": "v2"})
    assert (out / "index.html").read_text() == "v2"
    assert not (out / "tables").exists()  # afterfit's own file (and folder) went
    assert (out / "notes.md").read_text() == "mine"
    assert (out / "sub" / "data.csv").read_text() == "1,2"


@pytest.mark.parametrize(
    ("user", "written"),
    [
        ({"index.html": "my page"}, {"index.html": "new"}),
        ({"tables": "a file where afterfit puts a folder"}, {"tables/t.csv": "t"}),
        ({"figures/roc.png": "my picture"}, {"figures/roc.png": "png"}),
    ],
    ids=["same-file", "file-at-folder", "nested-same-file"],
)
def test_overwrite_refuses_a_name_clash_before_changing_anything(tmp_path, user, written):
    out = tmp_path / "mine"
    for name, text in user.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    before = _snapshot(out)
    with pytest.raises(InvalidInputError) as err:
        _write(out, {"other.json": "1", **written}, overwrite=True)
    assert repr(next(iter(user))) in str(err.value) or next(iter(user)) in str(err.value)
    assert "did not write" in str(err.value)
    assert _snapshot(out) == before  # not even the non-clashing file was published
    assert _siblings(out) == ["mine"]


def test_a_link_of_the_user_is_never_written_through(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("keep")
    out = tmp_path / "out"
    out.mkdir()
    (out / "figures").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(InvalidInputError, match="figures"):
        _write(out, {"figures/roc.png": "png"}, overwrite=True)
    assert sorted(os.listdir(elsewhere)) == ["keep.txt"]
    # An afterfit folder where the user replaced a sub-folder by a link: the old files
    # afterfit listed there are not deleted through the link.
    mine = tmp_path / "mine"
    _write(mine, {"index.html": "1", "tables/keep.txt": "x"})
    (mine / "tables" / "keep.txt").unlink()
    (mine / "tables").rmdir()
    (mine / "tables").symlink_to(elsewhere, target_is_directory=True)
    _write(mine, {"index.html": "2"})
    assert (elsewhere / "keep.txt").read_text() == "keep"
    assert (mine / "tables").is_symlink()


# --- afterfit's own folder ----------------------------------------------------------------


def test_rerun_replaces_its_own_files_and_removes_those_it_no_longer_writes(tmp_path):
    out = tmp_path / "report"
    _write(out, {"index.html": "1", "figures/a.png": "a", "tables/a.csv": "a"})
    _write(out, {"index.html": "2", "tables/b.csv": "b"})
    assert _snapshot(out).keys() == {MARKER, "index.html", "tables/b.csv"}
    assert (out / "index.html").read_text() == "2"
    assert not (out / "figures").exists()
    assert _siblings(out) == ["report"]


def test_user_files_added_to_an_afterfit_folder_survive_a_rerun(tmp_path):
    out = tmp_path / "report"
    _write(out, {"index.html": "1", "tables/a.csv": "a"})
    (out / "notes.md").write_text("mine")
    (out / "tables" / "my.csv").write_text("mine too")
    _write(out, {"index.html": "2"})
    assert (out / "notes.md").read_text() == "mine"
    assert (out / "tables" / "my.csv").read_text() == "mine too"
    assert not (out / "tables" / "a.csv").exists()
    assert owned_files(read_marker(out)) == {"index.html": "run"}


def test_commands_sharing_a_folder_keep_each_others_files(tmp_path):
    out = tmp_path / "results"
    _write(out, {"results.json": "e1", "tables/metrics.csv": "m"}, command="evaluate")
    _write(out, {"threshold.json": "t1", "tables/threshold.csv": "t"}, command="threshold")
    _write(out, {"results.json": "e2"}, command="evaluate")
    assert (out / "threshold.json").read_text() == "t1"
    assert (out / "tables" / "threshold.csv").read_text() == "t"
    assert (out / "results.json").read_text() == "e2"
    assert not (out / "tables" / "metrics.csv").exists()
    assert owned_files(read_marker(out)) == {
        "results.json": "evaluate",
        "threshold.json": "threshold",
        "tables/threshold.csv": "threshold",
    }
    # A file another command wrote may be taken over (it is afterfit's): it then belongs
    # to the later command, and the earlier one no longer removes it.
    _write(out, {"results.json": "run"}, command="run")
    _write(out, {"other.json": "e3"}, command="evaluate")
    assert (out / "results.json").read_text() == "run"
    assert owned_files(read_marker(out))["results.json"] == "run"


# --- interruptions ------------------------------------------------------------------------


@pytest.mark.parametrize("user_file", [False, True], ids=["own-folder", "with-user-file"])
def test_an_interrupted_write_leaves_the_old_folder_as_it_was(tmp_path, user_file):
    out = tmp_path / "report"
    _write(out, {"index.html": "old", "tables/a.csv": "a"})
    if user_file:
        (out / "notes.md").write_text("mine")
    before = _snapshot(out)
    for exc in (RuntimeError("drawing failed"), KeyboardInterrupt()):
        with pytest.raises(type(exc)), writing(out, command="run") as stage:
            (stage.path / "index.html").write_text("half")
            raise exc
        assert _snapshot(out) == before
        assert _siblings(out) == ["report"]


def test_an_interrupted_publish_leaves_no_file_that_no_marker_names(tmp_path, monkeypatch):
    out = tmp_path / "report"
    _write(out, {"index.html": "old", "old.csv": "o"})
    (out / "notes.md").write_text("mine")  # forces the file-by-file publish
    real_replace = os.replace
    calls = []

    def flaky(src, dst, *a, **kw):
        if Path(dst).parent == out and Path(dst).name != MARKER:
            calls.append(dst)
            if len(calls) == 2:
                raise OSError(28, "No space left on device", str(dst))
        return real_replace(src, dst, *a, **kw)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(OSError):
        _write(out, {"a.json": "new", "b.json": "new", "index.html": "new"})
    monkeypatch.setattr(os, "replace", real_replace)
    owned = owned_files(read_marker(out))
    present = set(_snapshot(out)) - {MARKER, "notes.md"}
    assert present <= owned.keys()  # every afterfit file is listed: nothing orphaned
    assert (out / "notes.md").read_text() == "mine"
    # The next run cleans up the half-published state: only its own files remain.
    _write(out, {"index.html": "v3"})
    assert set(_snapshot(out)) == {MARKER, "notes.md", "index.html"}
    assert _siblings(out) == ["report"]


# --- stale staging folders ----------------------------------------------------------------


def _staging(parent: Path, name: str, marker: dict | None) -> Path:
    path = parent / name
    path.mkdir()
    (path / "index.html").write_text("half")
    if marker is not None:
        (path / MARKER).write_text(json.dumps(marker))
    return path


def test_stale_staging_folders_of_killed_runs_are_removed_and_only_those(tmp_path):
    import socket

    host = socket.gethostname()
    staging = {"tool": "afterfit", "commands": {}, "staging": "run", "host": host}
    dead = _staging(tmp_path, ".report.abc123.tmp", {**staging, "pid": _dead_pid()})
    swapped = _staging(tmp_path, ".report.def456.old", {"tool": "afterfit", "commands": {}})
    alive = _staging(tmp_path, ".report.ghi789.tmp", {**staging, "pid": os.getpid()})
    remote = _staging(
        tmp_path, ".report.jkl012.tmp", {**staging, "pid": 1, "host": "x", "started": 4e9}
    )
    no_marker = _staging(tmp_path, ".report.mno345.tmp", None)
    other_target = _staging(tmp_path, ".results.pqr678.tmp", {**staging, "pid": _dead_pid()})
    not_staging = _staging(tmp_path, ".report.backup", {**staging, "pid": _dead_pid()})
    a_file = tmp_path / ".report.stu901.tmp"
    a_file.write_text("a file, not a folder")
    out = tmp_path / "report"
    # A real killed run: the staging folder of a process that is gone.
    killed = subprocess.run(
        [sys.executable, "-c", (
            "import os; from afterfit.outdir import Staging; from pathlib import Path; "
            f"s = Staging(Path({str(out)!r}), command='run'); "
            "(s.path / 'index.html').write_text('half'); os._exit(9)"
        )],
        check=False,
    )  # fmt: skip
    assert killed.returncode == 9
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".report.") and p.is_dir()]
    assert len(leftovers) == 7

    _write(out, {"index.html": "new"})

    for gone in (dead, swapped):
        assert not gone.exists()
    for kept in (alive, remote, no_marker, other_target, not_staging):
        assert (kept / "index.html").read_text() == "half"
    assert a_file.read_text() == "a file, not a folder"
    left = {p.name for p in tmp_path.iterdir() if p.name.startswith(".report.")}
    assert left == {alive.name, remote.name, no_marker.name, not_staging.name, a_file.name}
    assert remove_stale_staging(out) == []  # nothing more to remove


def test_a_staging_folder_carries_its_owner_and_goes_on_failure(tmp_path):
    out = tmp_path / "report"
    stage = Staging(out, command="run")
    marker = json.loads((stage.path / MARKER).read_text())
    assert marker["pid"] == os.getpid() and marker["staging"] == "run"
    assert stage.path.name.startswith(".report.") and stage.path.name.endswith(".tmp")
    assert remove_stale_staging(out) == []  # its owner is alive: kept
    stage.discard()
    assert not stage.path.exists()


# --- exclusive folders (bundles) and claimed folders (tune) ---------------------------------


def test_exclusive_folder_needs_overwrite_and_refuses_foreign_files(tmp_path):
    out = tmp_path / "churn-1.0"
    _write(out, {"manifest.json": "{}", "model.onnx": "m"}, command="bundle", exclusive=True)
    with pytest.raises(InvalidInputError, match="exists already"):
        prepare_out(out, command="bundle", exclusive=True)
    _write(out, {"manifest.json": "{2}"}, command="bundle", exclusive=True, overwrite=True)
    assert set(_snapshot(out)) == {MARKER, "manifest.json"}
    (out / "notes.md").write_text("mine")
    with pytest.raises(InvalidInputError, match=r"notes\.md"):
        prepare_out(out, command="bundle", exclusive=True, overwrite=True)
    assert (out / "notes.md").read_text() == "mine"
    # Files another afterfit command wrote there do not belong in a bundle either.
    other = tmp_path / "results"
    _write(other, {"results.json": "e"}, command="evaluate")
    with pytest.raises(InvalidInputError, match=r"results\.json"):
        prepare_out(other, command="bundle", exclusive=True, overwrite=True)
    user = tmp_path / "user"
    user.mkdir()
    (user / "a.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match=r"a\.txt"):
        prepare_out(user, command="bundle", exclusive=True, overwrite=True)


def test_sealed_marker_is_published_as_it_was_hashed(tmp_path):
    out = tmp_path / "b-1"
    with writing(out, command="bundle", exclusive=True) as stage:
        (stage.path / "model.onnx").write_text("m")
        stage.seal(extra=["manifest.json"])
        sealed = (stage.path / MARKER).read_bytes()
        (stage.path / "manifest.json").write_text("{}")
    assert (out / MARKER).read_bytes() == sealed
    assert read_marker(out)["commands"]["bundle"]["files"] == ["manifest.json", "model.onnx"]
    assert "pid" not in json.loads(sealed)  # no host or process id in a shipped bundle


def test_claim_marks_a_folder_whose_work_writes_into_it(tmp_path):
    out = tmp_path / "tune"
    prepare_out(out, command="tune", claim=True)
    assert read_marker(out) is not None
    (out / "study.db").write_text("trials so far")  # written while the work runs
    _write(out, {"index.html": "1"}, command="tune")
    _write(out, {"index.html": "2"}, command="tune")
    assert (out / "study.db").read_text() == "trials so far"  # kept, never replaced
    assert (out / "index.html").read_text() == "2"


# --- a writer of the library ----------------------------------------------------------------


def test_write_folder_follows_the_rule(tmp_path):
    from afterfit.documents import write_folder

    out = tmp_path / "results"
    out.mkdir()
    (out / "data.csv").write_text("mine")
    frame = pd.DataFrame({"a": [1, 2]})
    with pytest.raises(InvalidInputError, match="--overwrite"):
        write_folder(out, "x.json", {"k": 1}, {"t": frame}, {}, command="evaluate")
    assert sorted(os.listdir(out)) == ["data.csv"]
    written = write_folder(
        out, "x.json", {"k": 1}, {"t": frame}, {}, command="evaluate", overwrite=True
    )
    assert set(written) == {"x.json", "tables/t.csv"}
    assert written["tables/t.csv"] == out / "tables" / "t.csv"
    assert pd.read_csv(written["tables/t.csv"]).equals(frame)
    assert (out / "data.csv").read_text() == "mine"


def test_the_current_folder_is_written_into_never_swapped(tmp_path, monkeypatch):
    here = tmp_path / "project"
    here.mkdir()
    (here / "train.csv").write_text("a,b\n1,2\n")
    monkeypatch.chdir(here)
    with pytest.raises(InvalidInputError, match="--overwrite"):
        _write(".", {"index.html": "1"})
    _write(".", {"index.html": "1"}, overwrite=True)
    _write(".", {"index.html": "2"})  # afterfit's folder now: no flag needed
    assert Path.cwd() == here and here.is_dir()
    assert sorted(os.listdir(here)) == [MARKER, "index.html", "train.csv"]
    assert (here / "index.html").read_text() == "2"
    assert sorted(os.listdir(tmp_path)) == ["project"]  # staging was beside, and is gone


@pytest.mark.parametrize("code", [16, 18], ids=["EBUSY-mount-point", "EXDEV"])
def test_a_folder_that_cannot_be_moved_is_written_into(tmp_path, monkeypatch, code):
    out = tmp_path / "volume"
    _write(out, {"index.html": "1", "old.csv": "o"})
    real_rename = os.rename

    def pinned(src, dst, *a, **kw):
        if Path(src) == out:
            raise OSError(code, os.strerror(code), str(src))
        return real_rename(src, dst, *a, **kw)

    monkeypatch.setattr(os, "rename", pinned)
    inode = out.stat().st_ino
    _write(out, {"index.html": "2"})
    assert out.stat().st_ino == inode
    assert set(_snapshot(out)) == {MARKER, "index.html"}
    assert (out / "index.html").read_text() == "2"
    assert _siblings(out) == ["volume"]


def test_a_clash_is_found_whatever_the_case_of_the_users_file(tmp_path):
    # On macOS and Windows, Index.html and index.html are one file.
    out = tmp_path / "mine"
    (out / "Tables").mkdir(parents=True)
    (out / "Index.HTML").write_text("my page")
    (out / "Tables" / "T.csv").write_text("mine")
    for written in ({"index.html": "new"}, {"tables/t.csv": "new"}):
        with pytest.raises(InvalidInputError, match="did not write"):
            _write(out, written, overwrite=True)
    assert (out / "Index.HTML").read_text() == "my page"
    assert (out / "Tables" / "T.csv").read_text() == "mine"
