"""Reading the out-of-fold file ``afterfit cv`` writes (``oof.parquet``): the models it
holds, and one model's rows as predictions. The folder itself is written by
:func:`afterfit.report.cv_folder.write_cv`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: The column of an out-of-fold file that says which model a row's scores are from.
MODEL_COLUMN = "model"


def model_names(frame: pd.DataFrame) -> list[str]:
    """The models whose rows ``frame`` holds (its ``model`` column), in order of first
    appearance; empty when it has no such column."""
    if MODEL_COLUMN not in frame.columns:
        return []
    return [str(v) for v in pd.unique(frame[MODEL_COLUMN].astype(str))]


def model_rows(frame: pd.DataFrame, model_name: str | None, *, source: str) -> Any:
    """A boolean mask of the rows of one model in a file of several (``oof.parquet`` of
    ``afterfit cv --compare``), or None when the file holds one model's rows.

    Scores of different models must never be pooled: one model's probabilities mixed with
    another's decision scores give a threshold, a calibration map or a metric of no model
    at all. So a file with several models needs ``--model-name``.
    """
    from afterfit.errors import InvalidInputError

    names = model_names(frame)
    if model_name is None:
        if len(names) > 1:
            shown = ", ".join(names[:10]) + (" …" if len(names) > 10 else "")
            raise InvalidInputError(
                f"{source} holds the predictions of {len(names)} models ({shown}) in its "
                f"'{MODEL_COLUMN}' column; pooling their scores mixes models.",
                fix=f"pick one with --model-name {names[0]} (or compare them all with "
                f"afterfit compare --predictions {source}).",
            )
        return None
    if not names:
        raise InvalidInputError(
            f"--model-name {model_name!r}: {source} has no '{MODEL_COLUMN}' column.",
            fix="leave --model-name out (the file holds one model's predictions).",
        )
    if model_name not in names:
        raise InvalidInputError(
            f"--model-name {model_name!r} is not in {source}; its models are: {', '.join(names)}.",
            fix="pass one of those names.",
        )
    return (frame[MODEL_COLUMN].astype(str) == model_name).to_numpy()


def oof_predictions_by_model(
    frame: pd.DataFrame,
    y: Any,
    *,
    source: str,
    pos_label: Any = None,
    classes: Any = None,
) -> dict[str, Any]:
    """One :class:`~afterfit.predictions.Predictions` per model of an out-of-fold file
    (``afterfit cv --compare``): each model's ``score_<class>`` columns, rows aligned on
    ``row``. Every model must hold the same rows with the same labels."""
    from afterfit.errors import InvalidInputError
    from afterfit.predictions import Predictions

    y = np.asarray(y)
    score_cols = [c for c in frame.columns if str(c).startswith("score")]
    if not score_cols:
        raise InvalidInputError(
            f"{source} has a '{MODEL_COLUMN}' column but no score_<class> columns.",
            fix="pass the oof.parquet written by afterfit cv, or name the columns with --score.",
        )
    out: dict[str, Any] = {}
    reference = None
    for name in model_names(frame):
        mask = (frame[MODEL_COLUMN].astype(str) == name).to_numpy()
        part = frame.loc[mask]
        order = np.argsort(part["row"].to_numpy(), kind="stable") if "row" in part else None
        rows = part["row"].to_numpy()[order] if order is not None else np.arange(mask.sum())
        yk = y[mask] if order is None else y[mask][order]
        if reference is None:
            reference = (rows, yk)
        elif len(rows) != len(reference[0]) or not (
            np.array_equal(rows, reference[0]) and np.array_equal(yk, reference[1])
        ):
            raise InvalidInputError(
                f"model {name!r} in {source} holds other rows (or labels) than the first "
                "model; a paired comparison needs the same rows.",
                fix="cross-validate the models on the same folds (afterfit cv --compare).",
            )
        cols = [c for c in score_cols if part[c].notna().all()]
        scores = part[cols].to_numpy(dtype=float)
        if order is not None:
            scores = scores[order]
        if scores.shape[1] == 1 or cols == ["score"]:
            score = scores[:, 0]
        elif scores.shape[1] == 2:
            score = scores[:, 1]  # the positive class is the second (classes sorted)
        else:
            score = scores
        class_list = [c.removeprefix("score_") for c in cols] if len(cols) > 1 else classes
        out[name] = Predictions.from_arrays(
            np.asarray(yk).astype(str) if len(cols) > 1 else yk, score,
            classes=class_list, pos_label=pos_label,
        )  # fmt: skip
    return out
