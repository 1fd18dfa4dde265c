"""A partitioned Parquet dataset: a folder or glob of files, read one partition at a time.

Data past one machine's memory arrives as many Parquet files (``logs/2026-12-*.parquet``,
a Spark or Dask output folder). Streaming steps (:mod:`afterfit.evaluation.streaming`,
:mod:`afterfit.monitoring.streaming`) read it through this module:

- :func:`resolve_partitions` turns a file, a folder or a glob into the sorted list of files;
- :func:`check_schemas` reads every file's footer (no data) and refuses, before any work,
  a partition whose columns or types disagree with the first one's, naming the file and
  the column;
- :func:`map_partitions` runs one function per partition in this process, or on a Dask
  cluster (the :func:`afterfit.parallel.parallel_backend` switch), and hands the results
  back **in partition order** whatever order the workers finish in, so that a merge of
  per-partition statistics adds the same floats in the same order on a cluster as at home.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from afterfit.errors import DataError

__all__ = [
    "BATCH_ROWS",
    "check_schemas",
    "iter_batches",
    "map_partitions",
    "resolve_partitions",
    "row_counts",
]

#: Rows per record batch read from one partition: bounds memory whatever the file size.
BATCH_ROWS = 1 << 20

T = TypeVar("T")
_GLOB_CHARS = set("*?[")


def _is_data_file(path: Path) -> bool:
    # Spark and Dask write _SUCCESS, _metadata and .crc files beside the data: not rows.
    name = path.name
    return path.is_file() and not name.startswith(("_", ".")) and not name.endswith(".crc")


def resolve_partitions(source: str | os.PathLike[str]) -> list[Path]:
    """The Parquet files of ``source``: one file, every file under a folder, or a glob.

    Files are sorted by path, so the partition order (and the order in which their
    statistics are merged) is the same on every run.

    Raises
    ------
    DataError
        Nothing exists at ``source`` or the glob matches no file.
    """
    text = os.fspath(source)
    path = Path(text)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if _is_data_file(p))
        if not files:
            raise DataError(
                f"The folder '{text}' holds no data files.",
                fix="pass a folder of Parquet files (part-0.parquet, part-1.parquet...), a "
                "glob such as 'logs/*.parquet', or one Parquet file.",
            )
        return files
    if _GLOB_CHARS & set(text):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if _is_data_file(Path(p)))
        if not files:
            raise DataError(
                f"The pattern '{text}' matches no file.",
                fix="check the pattern (quote it so the shell does not expand it), or pass "
                "the folder that holds the Parquet files.",
            )
        return files
    raise DataError(
        f"The dataset '{text}' does not exist.",
        fix="pass a Parquet file, a folder of Parquet files or a glob such as 'logs/*.parquet'.",
    )


def _schema(path: Path) -> Any:
    import pyarrow.parquet as pq

    from afterfit.data import unreadable_file

    try:
        return pq.read_schema(path)
    except Exception as exc:  # ArrowInvalid, OSError: not Parquet, truncated footer
        raise unreadable_file(path, "Parquet", exc, what="The partition") from exc


def check_schemas(files: Sequence[Path], columns: Sequence[str] | None = None) -> Any:
    """The schema every partition shares (the first file's); reads footers only.

    Parameters
    ----------
    files : sequence of Path
        The partitions, as :func:`resolve_partitions` gives them.
    columns : sequence of str, optional
        Columns the caller needs: each must be in the first partition.

    Returns
    -------
    pyarrow.Schema

    Raises
    ------
    DataError
        A partition lacks a column of the first, has one the first lacks, or holds a
        column with another type; or a needed column is missing. The message names the
        file and the column.
    """
    first = _schema(files[0])
    if columns is not None:
        missing = [c for c in columns if c not in first.names]
        if missing:
            raise DataError(
                f"The partition '{files[0]}' has no column {missing[0]!r} "
                f"(its columns: {', '.join(first.names[:20])}).",
                fix="check the column names passed (--target, --score, --weight), or the "
                "dataset path.",
            )
    types = {f.name: f.type for f in first}
    for path in files[1:]:
        schema = _schema(path)
        for f in schema:
            if f.name not in types:
                raise DataError(
                    f"The partition '{path}' has a column {f.name!r} that '{files[0]}' "
                    "lacks: the partitions of one dataset must share their columns.",
                    fix="write every partition with the same columns (or move this file out "
                    "of the dataset).",
                )
            if not f.type.equals(types[f.name]):
                raise DataError(
                    f"The partition '{path}' stores column {f.name!r} as {f.type} where "
                    f"'{files[0]}' stores it as {types[f.name]}.",
                    fix="write every partition with the same column types (cast the column "
                    "when writing, e.g. to double), or move this file out of the dataset.",
                )
        absent = [n for n in types if n not in schema.names]
        if absent:
            raise DataError(
                f"The partition '{path}' lacks column {absent[0]!r}, which '{files[0]}' has.",
                fix="write every partition with the same columns (or move this file out of "
                "the dataset).",
            )
    return first


def row_counts(files: Sequence[Path]) -> list[int]:
    """Rows of each partition, from the Parquet footers (no data read)."""
    import pyarrow.parquet as pq

    from afterfit.data import unreadable_file

    out = []
    for path in files:
        try:
            out.append(int(pq.ParquetFile(path).metadata.num_rows))
        except Exception as exc:
            raise unreadable_file(path, "Parquet", exc, what="The partition") from exc
    return out


def iter_batches(path: Path, columns: Sequence[str], batch_rows: int = BATCH_ROWS) -> Iterator[Any]:
    """Arrow record batches of ``columns`` of one partition; a damaged page names the file."""
    import pyarrow.parquet as pq

    from afterfit.data import guarded_batches, unreadable_file

    try:
        reader = pq.ParquetFile(path)
    except Exception as exc:
        raise unreadable_file(path, "Parquet", exc, what="The partition") from exc
    yield from guarded_batches(
        reader.iter_batches(batch_size=batch_rows, columns=list(columns)),
        path,
        what="The partition",
    )


def map_partitions(
    func: Callable[..., T],
    tasks: Sequence[tuple[Any, ...]],
    *,
    backend: str = "local",
    scheduler: str | None = None,
    on_done: Callable[[int], None] | None = None,
) -> Iterator[T]:
    """``func(*task)`` for each task, yielded in task order.

    ``backend="local"`` runs them one after the other in this process (memory: one
    partition's worth at a time). ``backend="dask"`` submits them all to the cluster at
    ``scheduler`` (or the current client) and yields each result as soon as it and those
    before it are done, releasing it on the cluster once handed over. ``on_done(1)`` is
    called after each task.

    Raises
    ------
    InvalidInputError
        An unknown backend, or a scheduler that cannot be reached (as
        :func:`afterfit.parallel.parallel_backend`).
    """
    from afterfit.parallel import parallel_backend

    if backend in ("local", "threads") and scheduler is None:
        with parallel_backend(backend):  # validates the name like every other command
            pass
        for task in tasks:
            result = func(*task)
            if on_done is not None:
                on_done(1)
            yield result
        return
    with parallel_backend(backend, scheduler=scheduler) as config:
        client = config.client
        # pure=False: two partitions with equal arguments are still two tasks.
        futures = [client.submit(func, *task, pure=False) for task in tasks]
        try:
            for i, future in enumerate(futures):
                result = future.result()
                futures[i] = None  # type: ignore[call-overload]
                future.release()
                if on_done is not None:
                    on_done(1)
                yield result
        finally:
            remaining = [f for f in futures if f is not None]
            if remaining:
                client.cancel(remaining)
