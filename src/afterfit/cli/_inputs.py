"""Turning command-line inputs (files, column names, labels as text) into Predictions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from afterfit.cli._options import ScoreKind, TaskOption
from afterfit.errors import InvalidInputError


def parse_classes(text: str | None) -> list[str] | None:
    return None if text is None else [c.strip() for c in text.split(",") if c.strip()]


def load_predictions(
    *,
    target: str,
    model: Path | None,
    data: Path | None,
    predictions: Path | None,
    score: list[str] | None,
    score_kind: ScoreKind,
    classes: str | None,
    task: TaskOption | None,
    pos_label: str | None,
    threshold: float | None,
    weight: str | None,
    drop: list[str],
    trust: bool,
    trusted_types: list[str],
    model_name: str | None = None,
) -> tuple[Any, dict[str, Any]]:
    from afterfit.data import load_dataset
    from afterfit.predictions import Predictions

    if (model is None) == (predictions is None):
        raise InvalidInputError(
            "pass either --model (with --data) or --predictions, not both and not neither.",
            fix="evaluate a model: --model model.skops --data test.parquet --target y; or "
            "saved scores: --predictions preds.parquet --target y --score proba.",
        )
    task_value = None if task is None else task.value
    if model is not None:
        if data is None:
            raise InvalidInputError(
                "--model needs --data: the test rows to score.",
                fix="add --data test.parquet (CSV or Parquet with the target column).",
            )
        if score:
            raise InvalidInputError(
                "--score names columns of --predictions; with --model the model scores.",
                fix="drop --score, or evaluate saved predictions with --predictions.",
            )
        from afterfit.models import load_model

        loaded = load_model(model, trust=trust, trusted_types=trusted_types, task=task_value)
        sample_weight = weight_column(data, weight) if weight else None
        columns = [*drop, *([weight] if weight else [])]
        ds = load_dataset(data, target=target, drop=columns)
        preds = Predictions.from_model(
            loaded, ds.X, ds.y, sample_weight=sample_weight,
            pos_label=match_label(pos_label, loaded.classes_), threshold=threshold,
        )  # fmt: skip
        return preds, {"model": str(model), "data": str(data), "target": target}

    if not score:
        raise InvalidInputError(
            "--predictions needs --score: the column(s) holding the scores.",
            fix="add --score proba (binary/regression), or one --score per class.",
        )
    ds = load_dataset(predictions, target=target)
    from afterfit.selection.cv_files import model_rows

    # A file of several models' out-of-fold rows: one model's rows, or a clear refusal.
    rows = model_rows(ds.X, model_name, source=str(predictions))
    if rows is not None:
        ds = type(ds)(ds.X.loc[rows].reset_index(drop=True), ds.y[rows], ds.target, ds.source)
    missing = [c for c in score if c not in ds.X.columns]
    if missing:
        raise InvalidInputError(
            f"--score column(s) {', '.join(map(repr, missing))} are not in {predictions}; "
            f"its columns are: {', '.join(map(str, ds.X.columns[:20]))}.",
            fix="pass the names of the score columns with --score.",
        )
    y_score = ds.X[score[0]].to_numpy() if len(score) == 1 else ds.X[score].to_numpy()
    class_list = parse_classes(classes)
    probabilities = {"auto": None, "proba": True, "decision": False}[score_kind.value]
    sample_weight = ds.X[weight].to_numpy() if weight else None
    y = ds.y
    if class_list is not None:
        # Labels typed on the command line are text: compare as text.
        y = y.astype(str)
    preds = Predictions.from_arrays(
        y, y_score, task=task_value, classes=class_list, pos_label=pos_label,
        sample_weight=sample_weight, scores_are_probabilities=probabilities,
        threshold=threshold,
    )  # fmt: skip
    source = {"predictions": str(predictions), "target": target, "score": score}
    if model_name is not None:
        source["model_name"] = model_name
    return preds, source


def weight_column(path: Path, column: str) -> Any:
    """The ``--weight`` column of ``path`` (read first, so a wrong name is named as the
    weight, not as a column to drop or a target)."""
    from afterfit.data import load_dataset
    from afterfit.errors import DataError

    try:
        return load_dataset(path, target=column).y
    except DataError as exc:
        if not exc.problem.startswith("The target column"):
            raise
        raise DataError(
            exc.problem.replace("The target column", "The weight column", 1),
            fix="pass the name of the column holding the row weights (--weight NAME).",
        ) from None


def match_label(text: str | None, classes: Any) -> Any:
    """A label typed on the command line, as the model's own label (1, True, 'yes')."""
    if text is None or classes is None:
        return text
    for c in classes:
        if str(c) == text:
            return c
    return text
