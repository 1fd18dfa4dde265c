"""The monitor's pass over a partitioned Parquet log, on this machine or a Dask cluster.

:func:`afterfit.monitoring.core.monitor` counts, per feature and window, the values at the
reference's sketch points (integer counts) and the rows and time range of each window.
Those counts add up: a partition counted on its own merges with the others into exactly
the counts of the whole log. So on a cluster (``backend="dask"``) each partition is one
task, counted on a worker by the monitor's own scan, and the scans come back in partition
order and are merged here; the result equals the local run's, number for number.

Row windows (``1000rows``) need each row's position in the whole log: with a filter
(``start``, ``end``, model version) a first, cheap pass counts each partition's kept rows
(only the filter's columns are read) to give every partition its first row.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["scan_partitions"]


def _kept_rows(path: Path, start: Any, end: Any, model_version: Any) -> int:
    import pyarrow.dataset as ds

    from afterfit.monitoring.logs import _filter_expression

    dataset = ds.dataset(str(path), format="parquet")
    expr = _filter_expression(dataset.schema.names, start, end, model_version)
    return int(dataset.count_rows(filter=expr))


def _scan_one(
    path: Path,
    first_row: int,
    template: Any,
    wanted: Sequence[str],
    present: Sequence[str],
    spec: Any,
    label_ids: Any,
    eval_columns: Sequence[str],
    options: dict[str, Any],
) -> Any:
    """One partition's scan (runs on a worker): fresh counters, the monitor's own loop."""
    import copy

    from afterfit.monitoring.logs import _parquet_batches
    from afterfit.monitoring.scan import scan_batches

    scan = copy.deepcopy(template)  # empty counters of the same reference
    batches, names, _ = _parquet_batches(path, wanted, batch_rows=options["batch_rows"], **{
        k: options[k] for k in ("start", "end", "model_version")
    })  # fmt: skip
    if list(names) != list(present):
        from afterfit.errors import DataError

        raise DataError(
            f"The partition '{path}' has columns {names}, where the log's first has {present}.",
            fix="write every partition of the log with the same columns.",
        )
    workers = max(1, os.cpu_count() or 1)
    scan_batches(scan, batches, present, spec, workers, label_ids, eval_columns, None, first_row)
    return scan


def _merge(into: Any, part: Any) -> None:
    """Add ``part``'s counts to ``into`` (both :class:`~afterfit.monitoring.scan.Scan`)."""
    from afterfit.monitoring.scan import NumericCounter

    for name, counter in into.counters.items():
        other = part.counters[name]
        if isinstance(counter, NumericCounter):
            counter.cum += other.cum
            counter.n += other.n
        else:
            counter.counts += other.counts
        counter.n_missing += other.n_missing
        # Per window, a list added entry by entry (numeric: counts at points, n, missing;
        # categorical: counts, missing).
        for w, slot in other.windows.items():
            mine = counter.windows.get(w)
            if mine is None:
                counter.windows[w] = slot
            else:
                for i, value in enumerate(slot):
                    mine[i] += value
    for w, (rows, lo, hi) in part.window_rows.items():
        slot = into.window_rows.setdefault(w, [0, float("inf"), float("-inf")])
        slot[0] += rows
        slot[1] = min(slot[1], lo)
        slot[2] = max(slot[2], hi)
    into.n_rows += part.n_rows
    into.ts_min = min(into.ts_min, part.ts_min)
    into.ts_max = max(into.ts_max, part.ts_max)
    into.labeled_parts += part.labeled_parts


def scan_partitions(
    template: Any,
    log: Any,
    wanted: Sequence[str],
    present: Sequence[str],
    spec: Any,
    label_ids: Any,
    eval_columns: Sequence[str],
    *,
    start: Any,
    end: Any,
    model_version: Any,
    batch_rows: int,
    backend: str,
    scheduler: str | None,
    progress: Callable[..., None] | None,
) -> Any:
    """The monitor's scan of a Parquet log, one task per partition (see the module
    docstring); returns the merged scan."""
    from afterfit.errors import InvalidInputError
    from afterfit.monitoring.logs import check_parquet_log, log_files
    from afterfit.monitoring.windows import MAX_WINDOWS
    from afterfit.partitions import map_partitions, resolve_partitions, row_counts

    check_parquet_log(log)
    text = str(log)
    files = log_files(Path(text)) or resolve_partitions(text)
    options = {"start": start, "end": end, "model_version": model_version,
               "batch_rows": batch_rows}  # fmt: skip
    offsets = [0] * len(files)
    if spec is not None and spec.rows is not None:
        filtered = start is not None or end is not None or model_version is not None
        counts = (
            list(
                map_partitions(
                    _kept_rows,
                    [(f, start, end, model_version) for f in files],
                    backend=backend,
                    scheduler=scheduler,
                )
            )
            if filtered
            else row_counts(files)
        )
        total = 0
        for i, c in enumerate(counts):
            offsets[i], total = total, total + c
    tasks = [
        (f, offsets[i], template, wanted, present, spec, label_ids, eval_columns, options)
        for i, f in enumerate(files)
    ]
    merged = None
    for part in map_partitions(_scan_one, tasks, backend=backend, scheduler=scheduler):
        if progress is not None:
            progress(part.n_rows)
        if merged is None:
            merged = part
        else:
            _merge(merged, part)
        if spec is not None and len(merged.window_rows) > MAX_WINDOWS:
            raise InvalidInputError(
                f"--window {spec.text} cuts the log into more than {MAX_WINDOWS:,} windows.",
                fix="choose a longer window (e.g. 1d instead of 1h, or more rows).",
            )
    return merged
