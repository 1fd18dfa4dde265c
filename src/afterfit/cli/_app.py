"""The Typer application, its consoles, progress and error handling (the shared option
types are in :mod:`afterfit.cli._options`)."""

from __future__ import annotations

import contextlib
import errno
import math
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from afterfit import __version__
from afterfit.errors import AfterfitError
from afterfit.progress import ProgressDisplay, display_mode

app = typer.Typer(
    name="afterfit",
    help="Everything after model.fit(): evaluate, choose thresholds, calibrate and compare "
    "trained models, with confidence intervals.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out_console = Console()
err_console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        out_console.print(f"afterfit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Everything after model.fit(): evaluate a trained model with confidence intervals."""


@contextlib.contextmanager
def clear_errors(*, quiet: bool = False) -> Iterator[None]:
    """Run a command: its warnings become one clean line each on stderr (unless quiet),
    and afterfit's errors (and unwritable outputs) a message and exit code 2."""
    from afterfit.models.loading import on_accepted_types

    error: str | None = None
    _ACCEPTED_SHOWN.clear()  # each command says once what it accepted
    accepted = on_accepted_types(None if quiet else print_accepted_types)
    with warnings.catch_warnings(record=True) as caught, accepted:
        warnings.simplefilter("always")
        try:
            yield
        except AfterfitError as exc:
            error = str(exc)
        except OSError as exc:
            error = os_error_message(exc)
    if not quiet:
        for message in dict.fromkeys(str(w.message) for w in caught):
            err_console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)
    if error is not None:
        # Escaped: a path or a value in the message may hold [brackets] rich would eat.
        err_console.print(f"[bold red]error:[/] {escape(error)}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)


#: What an operating-system error means for the user, and what to do, by errno.
_OS_ERRORS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("the disk is full", "free some space, or write to another disk"),
    errno.EDQUOT: ("the disk quota is exceeded", "free some space, or write to another disk"),
    errno.EACCES: ("permission denied", "choose a path you may use, or change its permissions"),
    errno.EPERM: ("operation not permitted", "choose a path you may use"),
    errno.EROFS: ("the file system is read-only", "write to a writable disk"),
    errno.ENOTDIR: (
        "a part of the path is a file, not a folder",
        "choose a path whose folders are folders",
    ),
    errno.EISDIR: ("it is a folder, not a file", "pass the path of a file"),
    errno.EEXIST: ("it exists already", "choose another path, or move that one away"),
    errno.ENOENT: ("it does not exist", "check the path"),
    errno.ENOTEMPTY: ("the folder is not empty", "choose another path, or move that one away"),
    errno.ENAMETOOLONG: ("the name is too long", "choose a shorter path"),
    errno.EMFILE: ("too many open files", "raise the limit (ulimit -n) and try again"),
}


def os_error_message(exc: OSError) -> str:
    """An operating-system error as one line that names the path and the real cause
    (disk full, permission denied, a file where a folder belongs...), with a fix."""
    paths = [p for p in (exc.filename, exc.filename2) if p]
    where = " and ".join(f"'{os.fsdecode(p)}'" for p in paths) or "a file"
    cause, fix = _OS_ERRORS.get(
        exc.errno or -1, (exc.strerror or str(exc), "check the path and try again")
    )
    detail = f" ({exc.strerror})" if exc.strerror and exc.strerror.lower() != cause else ""
    return f"could not use {where}: {cause}{detail}. Fix: {fix}."


def progress_display(quiet: bool, **options: Any) -> ProgressDisplay:
    """The command's progress renderer on stderr: bars on a terminal, a plain line at most
    every 10 s otherwise, nothing when quiet (see :mod:`afterfit.progress`)."""
    return ProgressDisplay(err_console, mode=display_mode(quiet, err_console), **options)


@contextlib.contextmanager
def progress_bar(total: int, quiet: bool, description: str = "bootstrap") -> Iterator[Any]:
    """An ``advance(n)`` callback over one task of ``total`` units; None when quiet."""
    with progress_display(quiet) as shown:
        yield shown.advancer(description, total)


@contextlib.contextmanager
def stage_progress(
    quiet: bool, *, cumulative: bool, names: dict[str, str] | None = None, prefix: str = ""
) -> Iterator[Any]:
    """``progress(stage, done, total)`` showing one task per stage; None when quiet.
    ``done`` counts all work so far (``cumulative``) or the work just finished."""
    with progress_display(quiet) as shown:
        yield shown.stages(cumulative=cumulative, names=names, prefix=prefix)


def fmt(value: float) -> str:
    return "—" if not math.isfinite(value) else f"{value:.4f}"


_ACCEPTED_SHOWN: set[str] = set()


def print_accepted_types(path: Path, counts: dict[str, int]) -> None:
    """One stderr line naming the scikit-learn internal types a skops file was allowed to
    hold because they passed validation (``--quiet`` hides it); said once per command for
    the same types (a bundle reloads its own model several times while it checks it)."""
    from afterfit.models.skops_checks import accepted_summary

    summary = accepted_summary(counts)
    if summary in _ACCEPTED_SHOWN:
        return
    _ACCEPTED_SHOWN.add(summary)
    err_console.print(
        f"[dim]accepted after validation in {path}:[/] {summary}",
        highlight=False,
        soft_wrap=True,
    )
