"""Windows of the prediction log: ``WindowSpec`` (``1d``, ``15min``, ``1000rows``) cuts the log,
``Window`` holds one window's drift."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from afterfit.bundle.drift import ColumnDrift
from afterfit.errors import DataError, InvalidInputError

__all__ = ["MAX_WINDOWS", "Window", "WindowSpec", "format_window"]

#: Most windows one run may have; a finer ``window`` is refused with a fix.
MAX_WINDOWS = 5000

_UNITS = {
    "s": 1,
    "sec": 1,
    "m": 60,
    "min": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
}
_WINDOW_RE = re.compile(r"^\s*(\d+)\s*(s|sec|m|min|h|d|w|rows?)\s*$", re.IGNORECASE)


# -- windows ---------------------------------------------------------------------------
@dataclass(frozen=True)
class WindowSpec:
    """How the log is cut into windows: by time (``1h``, ``1d``, ``15min``) or by rows
    (``1000rows``). Time windows are aligned to multiples of their length since the Unix
    epoch (UTC), so a day window runs from midnight to midnight UTC."""

    text: str
    seconds: float | None = None
    rows: int | None = None

    @classmethod
    def parse(cls, text: str) -> WindowSpec:
        """Read ``1h``, ``6h``, ``1d``, ``15min``, ``30s``, ``1w`` or ``1000rows``."""
        match = _WINDOW_RE.match(str(text))
        if match is None or int(match.group(1)) <= 0:
            raise InvalidInputError(
                f"--window {text!r} is not a window length.",
                fix="give a positive number and a unit: 30s, 15min, 1h, 1d, 1w, or a row "
                "count such as 1000rows.",
            )
        size, unit = int(match.group(1)), match.group(2).lower()
        if unit.startswith("row"):
            return cls(text=f"{size}rows", rows=size)
        return cls(text=f"{size}{unit}", seconds=float(size * _UNITS[unit]))

    def ids(self, ts: np.ndarray | None, first_row: int, n: int) -> np.ndarray:
        """Window number of each of ``n`` rows (``first_row`` is the first one's position)."""
        if self.rows is not None:
            return (np.arange(first_row, first_row + n, dtype=np.int64)) // self.rows
        assert self.seconds is not None
        if ts is None:
            raise DataError(
                "The log has no 'ts' column, so it cannot be cut into time windows.",
                fix="log with afterfit serve (it writes ts), or use a row window (1000rows).",
            )
        t = np.asarray(ts, dtype=np.float64)
        if not np.isfinite(t).all():
            raise DataError(
                "The log's 'ts' column has missing or non-finite timestamps.",
                fix="drop those rows, or use a row window (1000rows).",
            )
        return np.floor(t / self.seconds).astype(np.int64)

    def bounds(self, window: int) -> tuple[float, float]:
        """Start and end of a window: unix seconds, or row positions for row windows."""
        size = self.rows if self.rows is not None else self.seconds
        assert size is not None
        return float(window * size), float((window + 1) * size)


@dataclass(frozen=True)
class Window:
    """One window of the log and its drift."""

    index: int
    start: float
    end: float
    n_rows: int
    ts_min: float
    ts_max: float
    features: tuple[ColumnDrift, ...]
    predictions: tuple[ColumnDrift, ...]


def format_window(start: float, end: float, index: int, *, by_rows: bool) -> str:
    if by_rows:
        return f"rows {int(start):,}-{int(end) - 1:,}"
    stamp = pd.Timestamp(start, unit="s", tz="UTC")
    if (end - start) % 86400 == 0:
        return stamp.strftime("%Y-%m-%d")
    return stamp.strftime("%Y-%m-%d %H:%M")
