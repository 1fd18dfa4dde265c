"""What ``evaluate`` and ``monitor`` share to read a partitioned dataset in a stream."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from afterfit.errors import InvalidInputError


class StreamBackend(StrEnum):
    local = "local"
    dask = "dask"


BackendOpt = Annotated[
    StreamBackend | None,
    typer.Option(
        help="Stream a partitioned Parquet dataset (a folder or glob) here (local) or one "
        "partition per task on a Dask cluster (dask, with --scheduler)."
    ),
]


def backend_name(backend: StreamBackend | None, scheduler: str | None) -> str:
    """The backend asked for: a scheduler address alone means Dask."""
    if backend is None:
        return "dask" if scheduler else "local"
    if scheduler is not None and backend != StreamBackend.dask:
        raise InvalidInputError(
            f"--scheduler {scheduler!r} was given with --backend {backend.value}; only the "
            "dask backend has a scheduler.",
            fix="pass --backend dask with --scheduler, or leave --scheduler out.",
        )
    return backend.value


def is_partitioned(path: Path | str | None) -> bool:
    """A folder or a glob: read as a partitioned dataset, in a stream."""
    if path is None:
        return False
    text = str(path)
    return Path(text).is_dir() or any(c in text for c in "*?[")


def evaluate_stream(
    *,
    predictions: Path,
    target: str,
    score: list[str] | None,
    score_kind: str,
    classes: list[str] | None,
    task: str | None,
    pos_label: str | None,
    threshold: float | None,
    weight: str | None,
    backend: str,
    scheduler: str | None,
    options: dict[str, Any],
    progress: Any,
) -> tuple[Any, dict[str, Any]]:
    """``afterfit evaluate --predictions FOLDER``: the streamed evaluation and its source."""
    from afterfit.evaluation.streaming import evaluate_dataset

    if not score:
        raise InvalidInputError(
            "--predictions needs --score: the column(s) holding the scores.",
            fix="add --score proba (binary) or --score prediction (regression).",
        )
    evaluation = evaluate_dataset(
        str(predictions), target=target, score=score, weight=weight,
        task=task,  # type: ignore[arg-type]
        classes=classes, pos_label=pos_label,
        scores_are_probabilities={"auto": None, "proba": True, "decision": False}[score_kind],
        threshold=threshold, backend=backend, scheduler=scheduler, progress=progress,
        **options,
    )  # fmt: skip
    source = {
        "predictions": str(predictions),
        "target": target,
        "score": score,
        "streamed": True,
        "backend": backend,
    }
    return evaluation, source
