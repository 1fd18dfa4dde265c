"""Progress of long work: library code reports through a callback, the CLI renders it.

Library functions never print. A long function takes an optional callback in one of two
shapes, and calls it as work finishes:

- ``advance(n)`` (:data:`Advance`): ``n`` more units are done (resamples, rows, trials);
  a caller with news may add a short note, ``advance(1, info="best roc_auc 0.91")``;
- ``progress(stage, done, total)`` (:data:`StageProgress`): per named stage (a model's
  folds, an explanation method's rows, a saliency stage); ``done`` is all of that stage's
  work so far, or only the work just finished, as the function documents.

A callback of None means nobody is watching, so the function may skip the bookkeeping.

:class:`ProgressDisplay` is the one renderer behind every command: a rich bar per task on
a terminal; elsewhere (CI logs, ``| tee``) a plain line at most every ``interval`` seconds
with each running task's done/total and elapsed time, so a log shows the run is alive
without drowning in redraws; nothing at all when quiet (then the callbacks it hands out
are None).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Advance",
    "ProgressDisplay",
    "StageProgress",
    "display_mode",
    "plain_interval",
    "renamed",
    "stage_advance",
]

Advance = Callable[..., None]
StageProgress = Callable[[str, int, int], None]
Mode = Literal["bar", "plain", "off"]

#: Seconds between plain progress lines; the environment variable overrides (tests use a
#: small value, a CI job may want a larger one).
INTERVAL_ENV = "AFTERFIT_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 10.0


def plain_interval() -> float:
    """Seconds between two plain progress lines: ``$AFTERFIT_PROGRESS_INTERVAL`` or 10."""
    raw = os.environ.get(INTERVAL_ENV, "")
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_INTERVAL
    return value if value >= 0 else DEFAULT_INTERVAL


def display_mode(quiet: bool, console: Any) -> Mode:
    """``"off"`` when quiet, ``"bar"`` on a terminal, else ``"plain"``."""
    if quiet:
        return "off"
    return "bar" if console.is_terminal else "plain"


def _elapsed(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass
class _Task:
    description: str
    total: int | None
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    info: str = ""
    finished: bool = False
    bar_id: Any = None

    def line(self, now: float) -> str:
        count = f"{self.done:,}/{self.total:,}" if self.total else f"{self.done:,}"
        share = f" ({self.done / self.total:.0%})" if self.total else ""
        info = f", {self.info}" if self.info else ""
        return f"{self.description}: {count}{share}{info}, {_elapsed(now - self.started)} elapsed"


class ProgressDisplay:
    """Renders the progress of one command's tasks (see the module docstring).

    Parameters
    ----------
    console : rich.console.Console
        Where bars and lines go (the CLI's stderr console).
    mode : {"bar", "plain", "off"}
        :func:`display_mode` picks it from ``--quiet`` and the console.
    interval : float, optional
        Plain mode: seconds between lines (default :func:`plain_interval`).
    transient : bool
        Bar mode: erase the bars at the end (a command's own summary follows).
    spinner : bool
        Bar mode: a spinner before each bar (``afterfit run``'s list of steps).

    Examples
    --------
    >>> from rich.console import Console
    >>> with ProgressDisplay(Console(), mode="off") as shown:
    ...     shown.advancer("bootstrap", 100) is None
    True
    """

    def __init__(
        self,
        console: Any,
        *,
        mode: Mode,
        interval: float | None = None,
        transient: bool = True,
        spinner: bool = False,
    ) -> None:
        self.console = console
        self.mode: Mode = mode
        self.interval = plain_interval() if interval is None else float(interval)
        self.transient = transient
        self.spinner = spinner
        self._tasks: list[_Task] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._printed = False
        self._bar: Any = None

    # -- lifetime -------------------------------------------------------------------------
    def __enter__(self) -> ProgressDisplay:
        if self.mode == "bar":
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            columns: list[Any] = [SpinnerColumn()] if self.spinner else []
            columns += [
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[info]}"),
            ]
            self._bar = Progress(*columns, console=self.console, transient=self.transient)
            self._bar.start()
        elif self.mode == "plain":
            # A thread, not the callbacks, prints: a fold or a trial may run for minutes
            # without reporting, and the log should still show the run is alive.
            self._ticker = threading.Thread(target=self._tick, name="afterfit-progress")
            self._ticker.daemon = True
            self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            if self._printed:
                # the log's last line is the final state, not whatever the last tick saw
                # (a run too short for one tick stays silent)
                self._print_plain()
        if self._bar is not None:
            self._bar.stop()

    def _tick(self) -> None:
        while not self._stop.wait(self.interval if self.interval > 0 else 0.05):
            self._print_plain()

    def _print_plain(self) -> None:
        now = time.monotonic()
        with self._lock:
            running = [t.line(now) for t in self._tasks if not t.finished]
        if running:
            self._printed = True
            self.console.print(
                "progress: " + "; ".join(running), highlight=False, soft_wrap=True, markup=False
            )

    # -- tasks ----------------------------------------------------------------------------
    def add(self, description: str, total: int | None) -> _Task | None:
        """Start a task of ``total`` units (None or 0: unknown); None when off."""
        if self.mode == "off":
            return None
        task = _Task(description, int(total) if total else None)
        with self._lock:
            self._tasks.append(task)
        if self._bar is not None:
            task.bar_id = self._bar.add_task(description, total=task.total, info="")
        return task

    def update(
        self,
        task: _Task | None,
        *,
        advance: int = 0,
        completed: int | None = None,
        total: int | None = None,
        info: str | None = None,
    ) -> None:
        """Move a task on: by ``advance`` units, to ``completed``, or set its note."""
        if task is None:
            return
        with self._lock:
            if total is not None:
                task.total = int(total) or None
            task.done = int(completed) if completed is not None else task.done + int(advance)
            if info is not None:
                task.info = info
        if self._bar is not None:
            self._bar.update(task.bar_id, completed=task.done, total=task.total, info=task.info)

    def finish(self, task: _Task | None) -> None:
        """Mark a task done (its bar full; no more plain lines for it)."""
        if task is None:
            return
        with self._lock:
            task.finished = True
            if task.total is None or task.done < task.total:
                task.total = task.total or max(task.done, 1)
                task.done = task.total
        if self._bar is not None:
            self._bar.update(task.bar_id, completed=task.done, total=task.total)

    # -- callbacks for library code -------------------------------------------------------
    def advancer(self, description: str, total: int | None) -> Advance | None:
        """An :data:`Advance` callback over one new task; None when off."""
        task = self.add(description, total)
        if task is None:
            return None
        return self._advance(task)

    def _advance(self, task: _Task) -> Advance:
        def advance(n: int, info: str | None = None) -> None:
            self.update(task, advance=n, info=info)

        return advance

    def stages(
        self,
        *,
        cumulative: bool,
        names: dict[str, str] | None = None,
        prefix: str = "",
    ) -> StageProgress | None:
        """A :data:`StageProgress` callback opening one task per stage; None when off.

        ``names`` renames stages for display; ``prefix`` goes before each name.
        """
        if self.mode == "off":
            return None
        tasks: dict[str, _Task | None] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = self.add(prefix + (names or {}).get(stage, stage), total)
            task = tasks[stage]
            if cumulative:
                self.update(task, completed=done, total=total)
            else:
                self.update(task, advance=done, total=total)

        return progress

    @contextlib.contextmanager
    def step(self, title: str, total: int) -> Iterator[Advance | None]:
        """One step of a run: a task (a spinner when ``total`` is 0), full at the end.

        Shaped as ``afterfit.report.steps.ProgressFactory``.
        """
        task = self.add(title, total)
        try:
            yield None if task is None else self._advance(task)
        finally:
            self.finish(task)


def renamed(progress: StageProgress | None, stage: str) -> StageProgress | None:
    """``progress`` with every stage reported as ``stage`` (a step that runs a function
    reporting its own stage names, such as one model's cross-validation)."""
    if progress is None:
        return None
    return lambda _stage, done, total: progress(stage, done, total)


def stage_advance(progress: StageProgress | None, stage: str, total: int) -> Advance | None:
    """An :data:`Advance` callback that reports into one stage of ``progress`` (cumulative
    counts), for a function taking the advance shape inside a staged one."""
    if progress is None:
        return None
    done = [0]

    def advance(n: int, info: str | None = None) -> None:
        done[0] += n
        progress(stage, done[0], total)

    return advance
