"""Training logs the user passes: Keras ``History.history`` saved as JSON, Keras or PyTorch
Lightning ``CSVLogger`` files, a JSON list of records.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from afterfit.errors import DataError
from afterfit.training.names import _direction, _split_metric
from afterfit.training.results import Curve, TrainingCurves

# Columns that index the log rather than measure the model.
_INDEX_COLUMNS = ("epoch", "step", "iteration", "iter", "round", "global_step")
_META_COLUMNS = {"time", "timestamp", "wall_time", "created_at", "duration", "elapsed"}


_HISTORY_FIX = (
    "pass a training log as --history: Keras History.history saved as JSON "
    '({"loss": [...], "val_loss": [...]}), a Keras or PyTorch Lightning CSVLogger file '
    '(epoch,loss,val_loss,...), or a JSON list of records ([{"epoch": 0, "loss": ...}]).'
)


def read_history(path: str | os.PathLike[str]) -> TrainingCurves:
    """Read a training log: loss and metrics per epoch (or step).

    Parameters
    ----------
    path : str or path-like
        One of:

        - Keras ``History.history`` saved as JSON: ``{"loss": [...], "val_loss": [...]}``
          (also under a ``"history"`` key); lists may differ in length;
        - a Keras ``CSVLogger`` file: ``epoch,loss,val_loss,...``;
        - a PyTorch Lightning ``CSVLogger`` ``metrics.csv`` (or its folder): training and
          validation rows alternate with empty cells; rows are grouped by epoch and
          metrics logged per step are averaged within the epoch;
        - a JSON list of records ``[{"epoch": 0, "loss": ...}, ...]``, JSON Lines, or a
          Hugging Face ``trainer_state.json`` (its ``log_history``).

        ``train_`` / ``val_`` / ``test_`` prefixes (or ``/`` and suffix forms such as
        ``loss/val``) name the split; curves of one metric share a panel.

    Returns
    -------
    TrainingCurves
        ``kind="history"``; ``x_label`` is the index column used (``epoch``, ``step``...),
        ``"epoch"`` for a Keras dict of lists, or ``"row"`` when the log has none.

    Raises
    ------
    DataError
        The file does not exist, is not CSV or JSON, is empty, or has no numeric column.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "history.json"
    >>> _ = p.write_text(json.dumps({"loss": [0.9, 0.5, 0.4], "val_loss": [1.0, 0.7, 0.8]}))
    >>> read_history(p).names
    ('train loss', 'validation loss')
    """
    p = Path(path)
    if p.is_dir():
        found = p / "metrics.csv"  # a Lightning log folder
        if not found.is_file():
            raise DataError(
                f"The training history path '{p}' is a folder without a metrics.csv file.",
                fix="pass the log file itself. " + _HISTORY_FIX,
            )
        p = found
    if not p.exists():
        raise DataError(
            f"The training history file '{p}' does not exist.",
            fix="check the path given to --history (relative paths start in the current folder).",
        )
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DataError(f"The training history file '{p}' could not be read: {exc}.",
                        fix="check that the file is readable.") from exc  # fmt: skip
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"The training history file '{p}' is not a text file (CSV or JSON); it may be "
            "a binary log (TensorBoard events, a pickle).",
            fix=_HISTORY_FIX,
        ) from exc
    if not text.strip():
        raise DataError(f"The training history file '{p}' is empty.", fix=_HISTORY_FIX)
    suffix = p.suffix.lower()
    is_json = suffix in (".json", ".jsonl", ".ndjson") or (
        suffix not in (".csv", ".tsv", ".txt", ".log") and text.lstrip()[:1] in ("{", "[")
    )
    source = str(p)
    result = _read_json(text, source) if is_json else _read_csv(p, source)
    return result


def _read_json(text: str, source: str) -> TrainingCurves:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as first:
        try:  # JSON Lines: one record a line
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError:
            raise DataError(
                f"The training history file '{source}' is not valid JSON ({first.msg} at "
                f"line {first.lineno}, column {first.colno}).",
                fix=_HISTORY_FIX,
            ) from first
    if isinstance(data, dict):
        if isinstance(data.get("log_history"), list):  # Hugging Face trainer_state.json
            data = data["log_history"]
        elif isinstance(data.get("history"), dict):  # {"history": History.history, ...}
            data = data["history"]
    if isinstance(data, dict):
        return _from_mapping(data, source=source)
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        return _from_frame(pd.DataFrame.from_records(data), source=source)
    what = "an empty list" if data == [] else f"a JSON {type(data).__name__}"
    raise DataError(
        f"The training history file '{source}' holds {what}, not a dict of lists or a list "
        "of records.",
        fix=_HISTORY_FIX,
    )


def _delimiter(path: Path) -> str:
    """Comma, semicolon, tab or bar, sniffed from the first lines (comma when unsure);
    pandas' own sniffing (``sep=None``) can pick a letter in a one-column file."""
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        sample = "".join(f.readline() for _ in range(20))
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _read_csv(path: Path, source: str) -> TrainingCurves:
    try:
        frame = pd.read_csv(path, sep=_delimiter(path))
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"The training history file '{source}' is empty.",
                        fix=_HISTORY_FIX) from exc  # fmt: skip
    except (pd.errors.ParserError, csv.Error, ValueError) as exc:
        raise DataError(
            f"The training history file '{source}' could not be read as CSV: {exc}",
            fix=_HISTORY_FIX,
        ) from exc
    if frame.empty:
        raise DataError(
            f"The training history file '{source}' has a header but no rows.",
            fix="pass the log after at least one epoch was written.",
        )
    return _from_frame(frame, source=source)


def _label_columns(keys: Sequence[str]) -> dict[str, tuple[str, str | None, str]]:
    """Name, split and metric of each log column.

    An unprefixed key is the training curve when another key has the same metric with a
    split (Keras: ``loss`` beside ``val_loss``). Lightning's ``_epoch`` / ``_step``
    suffixes share the panel of their metric; a name that two columns would share falls
    back to the column names.
    """
    parsed: dict[str, tuple[str | None, str, str]] = {}
    for key in keys:
        split, metric = _split_metric(key)
        m = re.match(r"^(.+?)[_/](epoch|step)$", metric)
        # Lightning's train_loss_epoch is the epoch's loss; train_loss_step the loss of
        # single steps (averaged per epoch below): both on the loss panel
        suffix = " (steps)" if m and m.group(2) == "step" else ""
        parsed[key] = (split, m.group(1) if m else metric, suffix)
    with_split = {m for s, m, _ in parsed.values() if s is not None}
    out: dict[str, tuple[str, str | None, str]] = {}
    for key, (split, metric, suffix) in parsed.items():
        if split is None and metric in with_split:
            split = "train"
        name = (metric if split is None else f"{split} {metric}") + suffix
        out[key] = (name, split, metric)
    names = [n for n, _, _ in out.values()]
    return {k: (k if names.count(n) > 1 else n, s, m) for k, (n, s, m) in out.items()}


def _from_mapping(data: dict[str, Any], *, source: str) -> TrainingCurves:
    """Keras ``History.history``: ``{metric: [value per epoch]}``; lists may differ."""
    series: dict[str, np.ndarray] = {}
    skipped = []
    for key, values in data.items():
        if not isinstance(values, list | tuple) or not values:
            skipped.append(str(key))
            continue
        try:
            a = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        except (TypeError, ValueError):
            skipped.append(str(key))
            continue
        if np.isfinite(a).any():
            series[str(key)] = a
        else:
            skipped.append(str(key))
    if not series:
        raise DataError(
            f"The training history file '{source}' has no list of numbers (keys: "
            f"{', '.join(map(str, data)) or 'none'}).",
            fix=_HISTORY_FIX,
        )
    x_key = next((k for k in _INDEX_COLUMNS if k in series), None)
    labels = _label_columns([k for k in series if k != x_key])
    curves = []
    for key, (name, split, metric) in labels.items():
        y = series[key]
        x = (series[x_key][: y.size] if x_key and series[x_key].size >= y.size
             else np.arange(y.size, dtype=np.float64))  # fmt: skip
        keep = np.isfinite(y) & np.isfinite(x)
        curves.append(Curve(name, x[keep], y[keep], metric, split, _direction(metric)))
    notes = [f"skipped keys without numbers: {', '.join(skipped)}"] if skipped else []
    if x_key is None:
        notes.append("epochs counted from 0, as Keras does")
    return TrainingCurves(tuple(curves), source, "history", x_key or "epoch", notes=tuple(notes))


def _from_frame(frame: pd.DataFrame, *, source: str) -> TrainingCurves:
    """A log table: one row per epoch (Keras) or sparse rows grouped by epoch (Lightning)."""
    frame = frame.rename(columns=lambda c: str(c).strip())
    numeric: dict[str, pd.Series] = {}
    for col in frame.columns:
        values = pd.to_numeric(frame[col], errors="coerce")
        if col.lower() not in _META_COLUMNS and values.notna().any():
            numeric[col] = values.astype(float)
    lower = {c.lower(): c for c in numeric}
    x_col = next((lower[k] for k in _INDEX_COLUMNS if k in lower), None)
    metric_cols = [c for c in numeric if c != x_col and c.lower() not in _INDEX_COLUMNS]
    if not metric_cols:
        raise DataError(
            f"The training history file '{source}' has no numeric column besides its index "
            f"(columns: {', '.join(map(str, frame.columns))}).",
            fix=_HISTORY_FIX,
        )
    table = pd.DataFrame(numeric)
    notes: list[str] = []
    if x_col is None:
        x_label = "row"
        table.index = pd.RangeIndex(len(table), name=x_label)
    else:
        x_label = x_col
        dropped = int(table[x_col].isna().sum())
        table = table[table[x_col].notna()]
        if dropped:
            notes.append(f"{dropped} rows without a {x_col} value left out")
        counts = table.groupby(x_col)[metric_cols].count()
        per_step = [c for c in metric_cols if (counts[c] > 1).any()]
        if table[x_col].duplicated().any():
            # Lightning writes training and validation rows apart (sparse cells), and
            # per-step metrics several times an epoch: one value per epoch, the mean.
            table = table.groupby(x_col, sort=True)[metric_cols].mean()
            if per_step:
                notes.append(f"logged more than once per {x_col}, averaged within each: "
                             + ", ".join(per_step))  # fmt: skip
        else:
            table = table.set_index(x_col).sort_index()
    labels = _label_columns(metric_cols)
    curves = []
    for col in metric_cols:
        y = table[col].to_numpy(float)
        x = table.index.to_numpy(float)
        keep = np.isfinite(y) & np.isfinite(x)
        if not keep.any():
            continue
        name, split, metric = labels[col]
        curves.append(Curve(name, x[keep], y[keep], metric, split, _direction(metric)))
    if not curves:
        raise DataError(
            f"The training history file '{source}' has no finite values in its metric "
            f"columns ({', '.join(metric_cols)}).",
            fix=_HISTORY_FIX,
        )
    return TrainingCurves(tuple(curves), source, "history", x_label, notes=tuple(notes))
