"""Output folders: afterfit writes only where it may, and never deletes what it did not write.

Every folder afterfit writes carries a marker file, ``.afterfit.json``, that lists, per
command, the files that command wrote there. The rule, for every command that writes a
folder (``run``, ``evaluate``, ``cv``, ``bundle``...):

- it writes into a folder that does not exist, or is empty, or carries the marker (a folder
  afterfit wrote before: ``evaluate`` and ``threshold`` share ``results/``, say);
- any other folder is refused, naming it, unless ``overwrite`` (``--overwrite``) is given;
- even then, and in a marked folder too, afterfit replaces only files its marker lists
  (another command's file of the same name is taken over) and removes only those it lists
  for the same command. Every other file stays where it is; a file afterfit did not write
  but whose name afterfit is about to write stops the command, naming it, before anything
  is changed.

A bundle is stricter (``exclusive``): it holds only its own files, so an existing bundle is
replaced only with ``overwrite``, and a folder holding anything else is refused, naming it.

Everything is first written to a staging folder beside the target (``.NAME.XXXX.tmp``,
which carries a marker naming the process that owns it); only a complete result is
published. When the target holds nothing but this command's earlier files it is swapped
whole (two renames), so an interrupted run leaves the old folder or the new one; otherwise
the new files are moved in one by one (each rename is atomic) and the marker always lists
every afterfit file present, so an interrupted publish never orphans a file. A killed run
leaves its staging folder behind; the next run into the same target removes it, and only
such folders: named like a staging folder *and* holding afterfit's marker of a process that
is gone.

Output files (``export --out model.onnx``, ``--save-model``, ``predict --out``) follow one
rule too, :func:`prepare_file`, checked before any work is done:

- a file that exists is refused, naming it, unless ``overwrite`` (``--overwrite``): a single
  file carries no marker, so afterfit cannot tell its own earlier file from the user's. An
  empty regular file is written as a new one, like an empty folder: nothing is lost (CI
  creates ``$GITHUB_STEP_SUMMARY`` empty for ``check --markdown``);
- a path that is one of the command's input files (the same path, a link to it, or a hard
  link: the same inode), or lies inside an input folder (a bundle), is refused always, even
  with ``overwrite``, naming both: the run would destroy what it reads;
- the file is then written atomically (:func:`afterfit.io.atomic_write`): an interrupted
  run leaves the old file or the new one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from afterfit.errors import InvalidInputError
from afterfit.io import atomic_write_text, current_umask

__all__ = [
    "MARKER",
    "Staging",
    "adopt",
    "owned_files",
    "prepare_file",
    "prepare_out",
    "read_marker",
    "remove_stale_staging",
    "writing",
]

#: The marker file afterfit writes into every folder it writes.
MARKER = ".afterfit.json"
_TOOL = "afterfit"
_MARKER_VERSION = 1
_STAGING_SUFFIXES = (".tmp", ".old")
#: A staging folder of another machine (a shared file system) is left alone this long: its
#: process cannot be asked whether it still runs.
_FOREIGN_HOST_AGE_S = 24 * 3600
_OVERWRITE_HINT = (
    "pass --overwrite (overwrite=True) to write into it anyway: afterfit then adds its "
    "files and keeps every file it did not write"
)


def read_marker(folder: str | Path) -> dict[str, Any] | None:
    """The marker of ``folder`` when it holds a valid one, else None.

    File names the marker lists are checked: one that is absolute, climbs out with ``..``
    or names the marker itself makes the whole marker invalid, so a hand-edited marker can
    never make afterfit delete a file outside the folder.
    """
    path = Path(folder) / MARKER
    try:
        if path.is_symlink() or not path.is_file():
            return None
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(marker, dict) or marker.get("tool") != _TOOL:
        return None
    commands = marker.get("commands")
    if not isinstance(commands, dict):
        return None
    for entry in commands.values():
        files = entry.get("files") if isinstance(entry, dict) else None
        if not isinstance(files, list) or not all(_safe_name(f) for f in files):
            return None
    return marker


def owned_files(marker: dict[str, Any] | None) -> dict[str, str]:
    """Each file a marker lists, with the command that wrote it."""
    if not marker:
        return {}
    return {f: cmd for cmd, entry in marker["commands"].items() for f in entry["files"]}


def prepare_out(
    out: str | Path,
    *,
    command: str,
    overwrite: bool = False,
    exclusive: bool = False,
    claim: bool = False,
) -> Path:
    """Check that ``command`` may write the folder ``out`` and clean up after killed runs.

    Parameters
    ----------
    out : path
        The output folder.
    command : str
        The command writing it (``"evaluate"``, ``"run"``...): the marker records files
        per command, so commands that share a folder never remove each other's files.
    overwrite : bool, default False
        Allow a folder that holds files afterfit did not write (they are kept).
    exclusive : bool, default False
        The folder must hold this command's files alone (a bundle): an existing non-empty
        folder needs ``overwrite``, and files of anyone else are refused by name.
    claim : bool, default False
        Create the folder with an empty marker now, for a command whose work writes into
        it before the result is published (``tune`` keeps its study database there).

    Returns
    -------
    Path
        ``out`` as a path.

    Raises
    ------
    InvalidInputError
        ``out`` is a file, or a folder afterfit may not write (named, with the fix).
    """
    target = Path(out)
    if os.path.lexists(target) and not target.is_dir():
        raise InvalidInputError(
            f"--out '{out}' is a file, not a folder.",
            fix="pass a folder path for the output (it is created if missing).",
        )
    for parent in Path(os.path.abspath(target)).parents:
        if os.path.lexists(parent):
            if not parent.is_dir():
                raise InvalidInputError(
                    f"--out '{out}' lies inside '{parent}', which is a file, not a folder.",
                    fix="pass a folder path whose parents are folders.",
                )
            break
    remove_stale_staging(target)
    if not target.exists():
        if claim:
            target.mkdir(parents=True)
            _write_marker(target, _final_marker({}, command, []))
        return target
    marker = read_marker(target)
    if marker is None:
        present = sorted(os.listdir(target))
        if present and exclusive and not overwrite:
            raise _exists_error(out)
        if present and not overwrite:
            raise InvalidInputError(
                f"The output folder '{out}' holds files afterfit did not write "
                f"({_some(present)}); afterfit writes only into a new or empty folder, or one "
                "it wrote before, so that nothing of yours is lost.",
                fix=f"choose a new or empty --out folder, or {_OVERWRITE_HINT}.",
            )
        if present and exclusive:
            raise _foreign_error(out, present)
        if claim:
            _write_marker(target, _final_marker({}, command, []))
        return target
    if exclusive:
        owned = owned_files(marker)
        present_files = _tree(target) - {MARKER}
        if present_files and not overwrite:
            raise _exists_error(out)
        others = sorted(f for f in present_files if owned.get(f) != command)
        if others:
            raise _foreign_error(out, others)
    return target


#: A command's inputs by option name: a path, several paths (repeated options) or None.
Inputs = Mapping[str, str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None]


def prepare_file(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    inputs: Inputs | None = None,
    option: str = "--out",
) -> Path:
    """Check that a command may write the single file ``path`` (see the module docstring).

    Parameters
    ----------
    path : path
        The file to write.
    overwrite : bool, default False
        Allow replacing an existing file (``--overwrite``); an empty one needs none.
    inputs : mapping of str to path, list of paths or None, optional
        The command's inputs by option name (``{"--model": "model.skops", "--data": ...}``):
        ``path`` may never be one of them, nor lie inside one that is a folder, even with
        ``overwrite``. None values are skipped.
    option : str, default "--out"
        What names ``path`` in the messages: the option (``"--save-model"``) or words.

    Returns
    -------
    Path
        ``path`` as a path.

    Raises
    ------
    InvalidInputError
        ``path`` is a folder, is (or lies inside) an input, or exists without ``overwrite``.

    Examples
    --------
    >>> prepare_file("model.onnx", inputs={"--model": "model.skops"})  # doctest: +SKIP
    PosixPath('model.onnx')
    """
    target = Path(path)
    if target.is_dir():
        raise InvalidInputError(
            f"{option} '{path}' is a folder; it names a file to write.",
            fix="pass a file path, not a folder.",
        )
    for label, source in _input_paths(inputs):
        if _same_file(target, source):
            raise InvalidInputError(
                f"{option} '{path}' is the input {label} '{source}' (the same file); writing "
                "it would destroy what the command reads, so afterfit refuses it even with "
                "--overwrite.",
                fix="write to another file name.",
            )
        if _inside(target, source):
            raise InvalidInputError(
                f"{option} '{path}' lies inside the input {label} '{source}'; afterfit never "
                "writes into what a command reads, even with --overwrite.",
                fix=f"write to a file outside '{source}'.",
            )
    if os.path.lexists(target) and not overwrite and not _empty_file(target):
        raise InvalidInputError(
            f"{option} '{path}' exists already; afterfit replaces an existing file only "
            "when asked to, so that nothing of yours is lost.",
            fix="choose a new file name, or pass --overwrite (overwrite=True) to replace it.",
        )
    return target


def _empty_file(path: Path) -> bool:
    """A regular file holding nothing (not a link: what it points to is not ours to judge)."""
    try:
        return not path.is_symlink() and path.is_file() and path.stat().st_size == 0
    except OSError:
        return False


def _input_paths(inputs: Inputs | None) -> Iterator[tuple[str, Path]]:
    for label, value in (inputs or {}).items():
        if value is None:
            continue
        values = [value] if isinstance(value, str | os.PathLike) else list(value)
        for v in values:
            if v is not None:
                yield label, Path(v)


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` are one file: the same path, a link, or the same inode."""
    try:
        if os.path.samefile(a, b):
            return True
    except OSError:
        pass  # one of them does not exist (yet): compare the paths
    # A dangling link or a missing input: the paths themselves, links resolved, decide.
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def _inside(a: Path, folder: Path) -> bool:
    """Whether the file ``a`` lies inside the existing folder ``folder``."""
    if not folder.is_dir():
        return False
    real = Path(os.path.realpath(a))
    top = os.path.realpath(folder)
    return any(os.path.normcase(str(p)) == os.path.normcase(top) for p in real.parents)


def adopt(folder: str | Path, *, command: str, files: Iterable[str]) -> None:
    """Mark ``folder`` as written by ``command`` with ``files``: for output of an older
    afterfit (before markers) that the caller has recognised beyond doubt (a bundle whose
    manifest lists and hashes every file in it)."""
    names = sorted(set(files))
    if not all(_safe_name(n) for n in names):
        raise ValueError(f"unsafe file names in {names!r}")
    _write_marker(Path(folder), _final_marker({}, command, names))


def remove_stale_staging(target: str | Path) -> list[Path]:
    """Remove the staging folders that killed runs left beside ``target``; returns them.

    Only folders named like afterfit's staging folders of ``target``
    (``.NAME.XXXX.tmp`` / ``.NAME.XXXX.old``) *and* holding afterfit's marker are removed,
    and only when the process named in the marker is gone: a run writing the same folder
    right now keeps its own.
    """
    target = Path(os.path.abspath(target))
    prefix = f".{target.name}."
    try:
        names = os.listdir(target.parent)
    except OSError:
        return []
    removed = []
    for name in names:
        if not name.startswith(prefix) or not name.endswith(_STAGING_SUFFIXES):
            continue
        path = target.parent / name
        if path.is_symlink() or not path.is_dir():
            continue
        marker = read_marker(path)
        if marker is None or _owner_alive(marker):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


class Staging:
    """The folder a result is built in before it is published at ``target``.

    Writers fill :attr:`path`; :func:`writing` publishes it when the block ends without
    an error, and removes it otherwise.
    """

    def __init__(self, target: Path, *, command: str, exclusive: bool = False) -> None:
        self.target = target
        self.command = command
        self.exclusive = exclusive
        self._sealed = False
        # Beside the target, named after it: absolute, so that ``--out .`` builds in the
        # parent folder rather than inside the folder it is about to publish.
        self._where = Path(os.path.abspath(target))
        self._where.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(
            tempfile.mkdtemp(prefix=f".{self._where.name}.", suffix=".tmp", dir=self._where.parent)
        )
        # mkdtemp makes the folder private (0700); the published folder gets the usual mode.
        os.chmod(self.path, 0o777 & ~current_umask())
        _write_marker(self.path, {**_header(), "staging": command, **_owner(), "commands": {}})

    def files(self) -> list[str]:
        """The files written so far, relative POSIX paths (the marker left out)."""
        return sorted(_tree(self.path) - {MARKER})

    def seal(self, extra: Iterable[str] = ()) -> None:
        """Write the final marker now, listing the files written and ``extra`` (files
        still to come), and keep it as it is when publishing: a bundle hashes every file,
        the marker included, before it writes its manifest."""
        files = sorted({*self.files(), *extra})
        _write_marker(self.path, _final_marker({}, self.command, files))
        self._sealed = True

    def publish(self) -> list[str]:
        """Move the finished files to :attr:`target` (see the module docstring)."""
        new = self.files()
        target = self.target
        if not os.path.lexists(target):
            if not self._sealed:
                _write_marker(self.path, _final_marker({}, self.command, new))
            os.rename(self.path, target)
            return new
        marker = read_marker(target)
        commands = dict(marker["commands"]) if marker else {}
        owned = owned_files(marker)
        present = _tree(target) - {MARKER}
        foreign = present - owned.keys()
        if self.exclusive:
            others = sorted(f for f in present if owned.get(f) != self.command)
            if others:
                raise _foreign_error(target, others)
        folded = {f.casefold() for f in foreign}
        clashes = sorted(f for f in new if _clashes(f, folded, target))
        if clashes:
            raise InvalidInputError(
                f"The output folder '{target}' holds {_some(clashes)}, which afterfit did "
                "not write, under the name of a file it writes; afterfit never replaces a "
                "file it did not write.",
                fix="move or rename that file, or choose another --out folder (output of an "
                "afterfit older than its .afterfit.json markers counts as not afterfit's: "
                "remove such a folder yourself).",
            )
        new_set = set(new)
        mine_old = set(commands.get(self.command, {}).get("files", []))
        others_kept = {
            cmd: {**entry, "files": [f for f in entry["files"] if f not in new_set]}
            for cmd, entry in commands.items()
            if cmd != self.command
        }
        others_kept = {c: e for c, e in others_kept.items() if e["files"]}
        # Swapped whole only when the folder is this command's alone; a folder of the user
        # (even an empty one) stays the same folder, written into.
        if (
            marker is not None
            and not foreign
            and all(owned[f] == self.command for f in present)
            and not target.is_symlink()
            and not _is_cwd(target)
            and not os.path.ismount(target)
            and self._swap(_final_marker(others_kept, self.command, new))
        ):
            return new
        self._move_in(new, mine_old, others_kept)
        return new

    def _swap(self, final: dict[str, Any]) -> bool:
        """Replace a folder holding only this command's earlier output, whole; False when
        the folder cannot be moved (a mounted volume, say), which changes nothing."""
        if not self._sealed:
            _write_marker(self.path, final)
        trash = Path(
            tempfile.mkdtemp(prefix=f".{self._where.name}.", suffix=".old", dir=self._where.parent)
        )
        os.rmdir(trash)
        try:
            os.rename(self.target, trash)
        except OSError:
            return False
        try:
            os.rename(self.path, self.target)
        except BaseException:
            os.rename(trash, self.target)
            raise
        shutil.rmtree(trash, ignore_errors=True)
        return True

    def _move_in(
        self, new: list[str], mine_old: set[str], others: dict[str, dict[str, Any]]
    ) -> None:
        """Move the new files into a folder that also holds files to keep, one by one."""
        target = self.target
        # The marker lists the old and the new files while both may be present, so an
        # interruption anywhere below leaves no afterfit file that no marker names.
        _write_marker(target, _final_marker(others, self.command, sorted(mine_old | set(new))))
        for name in new:
            dst = target / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.path / name, dst)
        for name in sorted(mine_old - set(new)):
            _remove_owned(target, name)
        if self._sealed:
            os.replace(self.path / MARKER, target / MARKER)
        else:
            _write_marker(target, _final_marker(others, self.command, new))
        shutil.rmtree(self.path, ignore_errors=True)

    def discard(self) -> None:
        """Remove the staging folder (a failed or interrupted write)."""
        shutil.rmtree(self.path, ignore_errors=True)


@contextlib.contextmanager
def writing(
    out: str | Path | Staging,
    *,
    command: str,
    overwrite: bool = False,
    exclusive: bool = False,
) -> Iterator[Staging]:
    """Build a folder's files in a :class:`Staging` and publish them at ``out`` at the end.

    ``out`` may itself be a :class:`Staging` (a writer called by a bigger writer, as
    ``write_page`` by ``write_cv``): its files then join that one, published by its owner.

    Examples
    --------
    >>> with writing("report", command="run") as stage:  # doctest: +SKIP
    ...     (stage.path / "index.html").write_text("...")
    """
    if isinstance(out, Staging):
        yield out
        return
    target = prepare_out(out, command=command, overwrite=overwrite, exclusive=exclusive)
    stage = Staging(target, command=command, exclusive=exclusive)
    try:
        yield stage
        stage.publish()
    except BaseException:
        stage.discard()
        raise


def _header() -> dict[str, Any]:
    return {
        "tool": _TOOL,
        "marker_version": _MARKER_VERSION,
        "about": "afterfit wrote the files listed here; it replaces or removes only these, "
        "never any other file in this folder.",
    }


def _final_marker(others: dict[str, Any], command: str, files: list[str]) -> dict[str, Any]:
    from afterfit._version import __version__

    entry = {
        "afterfit_version": __version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "files": files,
    }
    return {**_header(), "commands": {**others, command: entry}}


def _owner() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": dt.datetime.now(dt.UTC).timestamp(),
    }


def _owner_alive(marker: dict[str, Any]) -> bool:
    """Whether the process that owns a staging folder may still be running."""
    pid, host = marker.get("pid"), marker.get("host")
    if not isinstance(pid, int) or isinstance(pid, bool) or not isinstance(host, str):
        return False  # a published marker (a swapped-out old folder): nobody owns it
    # Another machine's process cannot be asked; nor can one on Windows, where os.kill
    # with signal 0 would terminate it. Their staging folders are left a day.
    if host != socket.gethostname() or os.name == "nt":
        started = marker.get("started")
        if not isinstance(started, int | float):
            return False
        return dt.datetime.now(dt.UTC).timestamp() - started < _FOREIGN_HOST_AGE_S
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _write_marker(folder: Path, marker: dict[str, Any]) -> None:
    atomic_write_text(folder / MARKER, json.dumps(marker, indent=1) + "\n")


def _safe_name(name: Any) -> bool:
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name:
        return False
    p = PurePosixPath(name)
    return not p.is_absolute() and ".." not in p.parts and p.as_posix() == name and name != MARKER


def _tree(folder: Path) -> set[str]:
    """Every entry of ``folder`` that is not a real directory (files, links), relative."""
    found: set[str] = set()
    for root, dirs, files in os.walk(folder, followlinks=False):
        base = Path(root).relative_to(folder)
        for d in dirs:
            if os.path.islink(os.path.join(root, d)):
                found.add((base / d).as_posix())
        found.update((base / f).as_posix() for f in files)
    return found


def _clashes(name: str, foreign: set[str], target: Path) -> bool:
    """Whether writing ``name`` would replace (or write through) something not afterfit's.

    ``foreign`` holds case-folded names: on a case-insensitive file system (macOS,
    Windows) the user's ``Index.html`` is the file ``index.html`` would replace.
    """
    parts = PurePosixPath(name.casefold()).parts
    if any("/".join(parts[:i]) in foreign for i in range(1, len(parts) + 1)):
        return True
    path = target / name
    return path.is_dir() and not path.is_symlink()


def _remove_owned(target: Path, name: str) -> None:
    """Remove a file afterfit wrote, then the folders it leaves empty; never through a link."""
    path = target
    for part in PurePosixPath(name).parts[:-1]:
        path = path / part
        if path.is_symlink() or not path.is_dir():
            return
    path = target / name
    if path.is_symlink() or path.is_file():
        path.unlink()
    parent = path.parent
    while parent != target:
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent


def _is_cwd(path: Path) -> bool:
    try:
        return os.path.samefile(path, os.getcwd())
    except OSError:
        return False


def _some(names: list[str], n: int = 5) -> str:
    shown = ", ".join(repr(x) for x in names[:n])
    return shown + (f" and {len(names) - n} more" if len(names) > n else "")


def _exists_error(out: str | Path) -> InvalidInputError:
    return InvalidInputError(
        f"The folder '{out}' exists already and is not empty.",
        fix="choose a new --out folder (a new version), or pass --overwrite "
        "(overwrite=True) to replace what afterfit wrote there.",
    )


def _foreign_error(out: str | Path, names: list[str]) -> InvalidInputError:
    return InvalidInputError(
        f"The folder '{out}' holds files this command did not write ({_some(names)}); it "
        "must hold its own files alone, and afterfit never deletes files it did not write, "
        "even with --overwrite.",
        fix="move those files elsewhere, or choose a new --out folder.",
    )
