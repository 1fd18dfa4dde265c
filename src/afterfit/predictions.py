"""Predictions: the frozen object every evaluation step reads.

Built once from a model and data (:meth:`Predictions.from_model`) or from saved scores
(:meth:`Predictions.from_arrays`), after every check on the inputs. Steps never call the
model again unless their method needs it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from afterfit.errors import AfterfitError, DataError, InvalidInputError, MetricError, ModelError
from afterfit.models.base import TASKS, Task

#: How far a row of class probabilities may sum from 1 (float32 models round off).
SUM_TOLERANCE = 1e-4
#: The largest float32: inputs beyond it overflow a float32 graph (ONNX, most torch
#: models) to infinity, and the model's output to NaN, although they are finite here.
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True, eq=False)
class Predictions:
    """Everything evaluation needs, checked and encoded.

    Attributes
    ----------
    task : {"binary", "multiclass", "regression"}
    y_true : ndarray
        Classification: index into ``classes`` (a small integer type). Regression: float
        target.
    scores : ndarray
        Binary: ``(n,)`` score of the positive class ``classes[1]``. Multiclass: ``(n, K)``
        in ``classes`` order. Regression: ``(n,)`` predictions.
    classes : ndarray or None
        Original class labels; for binary, ``classes[1]`` is the positive class.
    sample_weight : ndarray or None
    scores_are_probabilities : bool
    threshold : float
        Binary only: rows with ``score > threshold`` are predicted positive.
    cost_matrix : ndarray or None
        Multiclass only: ``C[true, predicted]``; the predicted class is the one of minimum
        expected cost instead of the most probable one.
    """

    task: Task
    y_true: np.ndarray
    scores: np.ndarray
    classes: np.ndarray | None = None
    sample_weight: np.ndarray | None = None
    scores_are_probabilities: bool = True
    threshold: float = 0.5
    cost_matrix: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.y_true.shape[0])

    @property
    def positive_label(self) -> Any:
        return None if self.task != "binary" else self.classes[1]

    @property
    def y_pred(self) -> np.ndarray:
        """Predicted class indices (classification) or values (regression)."""
        if self.task == "binary":
            return (self.scores > self.threshold).astype(np.int64)
        if self.task == "multiclass":
            if self.cost_matrix is not None:  # minimum expected cost, ties to the first
                return np.argmin(self.scores @ self.cost_matrix, axis=1)
            return np.argmax(self.scores, axis=1)
        return self.scores

    @property
    def class_names(self) -> list[str]:
        return [] if self.classes is None else [str(c) for c in self.classes]

    @classmethod
    def from_arrays(
        cls,
        y_true: Any,
        y_score: Any,
        *,
        task: Task | None = None,
        classes: Any = None,
        pos_label: Any = None,
        sample_weight: Any = None,
        scores_are_probabilities: bool | None = None,
        threshold: float | None = None,
    ) -> Predictions:
        """Check and encode true values and scores.

        Parameters
        ----------
        y_true : array-like of shape (n,)
            True labels (ints, strings or bools) or regression targets.
        y_score : array-like of shape (n,) or (n, K)
            Binary: score of the positive class (``pos_label``), or two columns in
            ``classes`` order.
            Multiclass: one column per class. Regression: predicted values.
        task : {"binary", "multiclass", "regression"}, optional
            Inferred when omitted: two score columns or two labels make ``binary``, more
            columns ``multiclass``, a non-integer target ``regression``.
        classes : array-like, optional
            Class labels in score-column order (default: sorted labels of ``y_true``).
        pos_label : optional
            Binary: the positive class (default: the second of ``classes``).
        sample_weight : array-like of shape (n,), optional
        scores_are_probabilities : bool, optional
            Inferred when omitted: scores in [0, 1] (and rows summing to 1) are taken as
            probabilities. When ``True``, scores outside [0, 1] are an error.
        threshold : float, optional
            Binary decision threshold (default 0.5 for probabilities, 0 for decision scores).
        """
        y = _as_1d(y_true, "y_true")
        s = np.asarray(y_score)
        n = y.shape[0]
        if n == 0:
            raise DataError(
                "y_true is empty: there are no rows to evaluate.",
                fix="pass data with at least one row (check filters that drop rows).",
            )
        if s.ndim not in (1, 2) or s.shape[0] != n:
            raise InvalidInputError(
                f"y_true has {n} rows but y_score has shape {s.shape}; they must have the "
                "same number of rows.",
                fix="pass one score (or one row of class scores) per true value, in the "
                "same order.",
            )
        s = _finite_floats(s, "y_score")
        weight = _check_weight(sample_weight, n)
        task = task or _infer_task(y, s)
        if task not in TASKS:
            raise InvalidInputError(
                f"task must be one of {', '.join(TASKS)}; got {task!r}.",
                fix="pass task='binary', 'multiclass' or 'regression'.",
            )
        if task == "regression":
            y_float = _finite_floats(y, "y_true")
            if s.ndim != 1:
                raise InvalidInputError(
                    f"regression needs one prediction per row; y_score has shape {s.shape}.",
                    fix="pass a 1-D array of predicted values.",
                )
            return cls("regression", y_float, s, None, weight, False, 0.0)
        return _classification(
            cls, y, s, task, classes, pos_label, weight, scores_are_probabilities, threshold
        )

    @classmethod
    def from_model(
        cls,
        model: Any,
        X: Any,
        y: Any,
        *,
        sample_weight: Any = None,
        pos_label: Any = None,
        threshold: float | None = None,
    ) -> Predictions:
        """Score ``X`` with ``model`` (any object :func:`afterfit.models.as_model` takes).

        A model that decides at its own threshold (a ``ThresholdedModel``, scikit-learn's
        ``FixedThresholdClassifier``) is evaluated at it unless ``threshold`` is given; a
        ``CostSensitiveModel`` with its minimum-expected-cost decisions.
        """
        from afterfit.data import as_frame, check_features
        from afterfit.models import as_model

        m = as_model(model)
        frame = check_features(as_frame(X, feature_names=m.feature_names), m)
        if len(frame) == 0:
            raise DataError(
                "the data is empty: there are no rows to evaluate.",
                fix="pass data with at least one row.",
            )
        try:
            scores = np.asarray(m.predict_scores(frame))
        except AfterfitError:
            raise
        except Exception as exc:  # the model's own code: any error type
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            fix = (
                "check that the data has the columns, types and categories the model "
                "was trained on (and that the model file matches its library versions)."
            )
            text_columns = [
                str(c)
                for c in getattr(frame, "columns", [])
                if pd.api.types.is_string_dtype(frame[c].dtype) or frame[c].dtype == object
            ]
            if text_columns and ("categorical" in str(exc) or "enable_categorical" in str(exc)):
                # A booster trained on pandas 'category' columns, given text (a CSV file).
                fix = (
                    f"the model was trained on pandas 'category' columns, and "
                    f"{', '.join(map(repr, text_columns[:10]))} hold text here (a CSV file "
                    "gives text): read the data from Parquet, which keeps the categories, or "
                    "pass a frame whose columns have the training categories "
                    "(df[c].astype(pd.CategoricalDtype(categories)))."
                )
            raise ModelError(
                f"the model ({type(m).__name__}) failed to score the data: "
                f"{type(exc).__name__}: {first}",
                fix=fix,
            ) from exc
        bad = nonfinite_rows(scores)
        if bad.size:
            raise ModelError(
                f"The model's scores are NaN or infinite on {bad.size} row(s) of the data: "
                f"{describe_rows(frame, bad)}. Metrics of such scores would be NaN, silently.",
                fix="check those rows (values far outside the training range overflow "
                "float32 models), drop or correct them, and evaluate again.",
            )
        y_arr = _as_1d(y, "y")
        if y_arr.shape[0] != scores.shape[0]:
            raise InvalidInputError(
                f"X has {scores.shape[0]} rows but y has {y_arr.shape[0]}.",
                fix="pass the target of the same rows as X, in the same order.",
            )
        return cls.from_model_scores(
            m, y_arr, scores, sample_weight=sample_weight, pos_label=pos_label,
            threshold=threshold,
        )  # fmt: skip

    @classmethod
    def from_model_scores(
        cls,
        model: Any,
        y: Any,
        scores: np.ndarray,
        *,
        sample_weight: Any = None,
        pos_label: Any = None,
        threshold: float | None = None,
    ) -> Predictions:
        """Encode scores an adapted model (:class:`afterfit.models.Model`) already gave,
        with the model's task, classes and decision rule: its own threshold and positive
        class (a thresholding wrapper) unless given, its cost matrix (a cost-sensitive
        wrapper)."""
        if threshold is None:
            threshold = getattr(model, "decision_threshold", None)
        if pos_label is None:
            pos_label = getattr(model, "decision_pos_label", None)
        regression = model.task == "regression"
        preds = cls.from_arrays(
            y,
            scores,
            task=model.task,
            classes=model.classes_,
            pos_label=pos_label,
            sample_weight=sample_weight,
            scores_are_probabilities=None if regression else model.scores_are_probabilities,
            threshold=threshold,
        )
        costs = getattr(model, "decision_costs", None)
        if costs is not None and preds.task == "multiclass":
            preds = dataclasses.replace(preds, cost_matrix=costs)
        return preds


def nonfinite_rows(*outputs: Any) -> np.ndarray:
    """Positions of the rows where any of ``outputs`` (arrays of n rows, or None) is NaN
    or infinite: the rows that must get no decision and no metric."""
    bad: np.ndarray | None = None
    for out in outputs:
        if out is None:
            continue
        arr = np.asarray(out)
        if arr.dtype.kind not in "fc":
            continue  # integers, booleans and labels are always finite
        if np.isfinite(arr.sum()):
            continue  # one pass: a finite sum has no NaN or infinity (the common case)
        row_bad = ~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1)
        bad = row_bad if bad is None else bad | row_bad
    return np.empty(0, dtype=np.int64) if bad is None else np.flatnonzero(bad)


def overflowing_fields(X: pd.DataFrame, row: int) -> list[str]:
    """The numeric columns of ``X`` whose value at position ``row`` is beyond float32's
    range: the likely cause of a float32 model's NaN output."""
    out = []
    for name in X.columns:
        value = X[name].iloc[row]
        if isinstance(value, int | float | np.integer | np.floating) and not isinstance(
            value, bool | np.bool_
        ):
            try:
                beyond = abs(float(value)) > FLOAT32_MAX
            except OverflowError:  # an integer beyond even float64
                beyond = True
            if beyond:
                out.append(str(name))
    return out


def describe_rows(X: pd.DataFrame, rows: np.ndarray, *, offset: int = 0, limit: int = 5) -> str:
    """``rows`` (positions in ``X``) in words, counted from ``offset``, with the fields
    that overflow float32 in each: "row 3 (fields 'a', 'b' beyond the float32 range)"."""
    parts = []
    for row in rows[:limit]:
        fields = overflowing_fields(X, int(row))
        text = f"row {int(row) + offset}"
        if fields:
            text += (
                f" (field{'s' if len(fields) > 1 else ''} "
                f"{', '.join(repr(f) for f in fields[:5])} beyond the float32 range, "
                f"±{FLOAT32_MAX:.3g})"
            )
        parts.append(text)
    more = len(rows) - min(len(rows), limit)
    return ", ".join(parts) + (f" and {more} more" if more > 0 else "")


def _as_1d(values: Any, name: str) -> np.ndarray:
    if isinstance(values, pd.DataFrame):
        if values.shape[1] != 1:
            raise InvalidInputError(
                f"{name} must be one column; got a table with {values.shape[1]} columns.",
                fix=f"pass the target column alone as {name}.",
            )
        values = values.iloc[:, 0]
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InvalidInputError(
            f"{name} must be one-dimensional; got shape {arr.shape}.",
            fix=f"pass {name} as a single column or 1-D array.",
        )
    if arr.dtype == object or arr.dtype.kind in "fcUS":
        missing = pd.isna(arr)
        if missing.any():
            raise DataError(
                f"{name} has {int(missing.sum())} missing value(s) (NaN or None), first at "
                f"row {int(np.flatnonzero(missing)[0])}.",
                fix="drop or fill the rows without a target before evaluating."
                if name in ("y", "y_true")
                else f"fill the missing {name} values, or drop those rows.",
            )
    return arr


def _finite_floats(values: np.ndarray, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{name} must be numeric; got values of type {np.asarray(values).dtype}.",
            fix=f"pass numbers in {name} (scores or predicted values).",
        ) from None
    bad = ~np.isfinite(arr)
    if bad.any():
        where = np.argwhere(bad)[0]
        raise DataError(
            f"{name} has {int(bad.sum())} NaN or infinite value(s), first at row {where[0]}.",
            fix="fix the model or data that produced them, or drop those rows.",
        )
    return arr


def _check_weight(sample_weight: Any, n: int) -> np.ndarray | None:
    if sample_weight is None:
        return None
    w = _finite_floats(_as_1d(sample_weight, "sample_weight"), "sample_weight")
    if w.shape[0] != n:
        raise InvalidInputError(
            f"sample_weight has {w.shape[0]} values for {n} rows.",
            fix="pass one weight per row.",
        )
    if (w < 0).any() or w.sum() <= 0:
        raise InvalidInputError(
            "sample_weight must be non-negative with a positive sum.",
            fix="pass weights >= 0, not all zero.",
        )
    return w


def _infer_task(y: np.ndarray, s: np.ndarray) -> Task:
    if s.ndim == 2 and s.shape[1] > 2:
        return "multiclass"
    if s.ndim == 2 and s.shape[1] == 2:
        return "binary"
    if y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0):
        return "regression"
    n_labels = len(distinct(y))
    if n_labels <= 2 and (y.dtype.kind in "biuOUS" or np.all((s >= 0) & (s <= 1))):
        return "binary"
    raise InvalidInputError(
        f"cannot tell the task from the data: y_true has {n_labels} distinct values and "
        f"y_score has shape {s.shape}.",
        fix="pass task='binary', 'multiclass' or 'regression'.",
    )


def _classification(
    cls: type[Predictions],
    y: np.ndarray,
    s: np.ndarray,
    task: Task,
    classes: Any,
    pos_label: Any,
    weight: np.ndarray | None,
    probabilities: bool | None,
    threshold: float | None,
) -> Predictions:
    if classes is None:
        classes = np.asarray(sorted(distinct(y), key=_sort_key))
    classes = np.asarray(classes)
    K = classes.size
    repeated = sorted({str(c) for c in classes.tolist() if classes.tolist().count(c) > 1})
    if repeated:
        raise InvalidInputError(
            f"The classes {label_list(classes)} name {', '.join(map(repr, repeated))} more "
            "than once.",
            fix="list each class once, in the order of the score columns.",
        )
    if s.ndim == 2 and s.shape[1] != K:
        raise InvalidInputError(
            f"y_score has {s.shape[1]} columns but there are {K} classes ({label_list(classes)}).",
            fix="pass one score column per class, in the order of `classes`.",
        )
    if task == "binary" and K != 2:
        raise MetricError(
            f"binary evaluation needs two classes; found {K}: {label_list(classes)}.",
            fix="evaluate data that holds both classes, or pass classes=[negative, "
            "positive] (and task='multiclass' if there are more than two).",
        )
    codes = _encode(y, classes)
    if (codes < 0).any():
        unknown = pd.unique(y[codes < 0])
        raise DataError(
            f"y_true holds label(s) the model does not know: "
            f"{label_list(unknown)}; the classes are {label_list(classes)}.",
            fix="check the target column (a different encoding, such as 'yes'/'no' "
            "against 1/0?) or drop rows of classes the model was not trained on.",
        )
    if probabilities is None:
        probabilities = _looks_like_probabilities(s)
    if probabilities:
        _check_probabilities(s)
    if task == "multiclass":
        if s.ndim != 2:
            raise InvalidInputError(
                f"multiclass evaluation needs one score column per class; y_score has "
                f"shape {s.shape}.",
                fix="pass the (n, n_classes) output of predict_proba.",
            )
        return cls("multiclass", codes.astype(np.int64), s, classes, weight, probabilities, 0.0)
    positive = 1
    if pos_label is not None:
        matches = pd.Index(classes).get_indexer([pos_label])
        if matches[0] < 0:
            # A label typed as text ("1", "True") names the class whose text it is.
            as_text = [str(c) for c in classes]
            if str(pos_label) in as_text:
                matches = [as_text.index(str(pos_label))]
        if matches[0] < 0:
            raise InvalidInputError(
                f"pos_label {label_text(pos_label)} is not one of the classes "
                f"{label_list(classes)}.",
                fix="pass one of the classes as pos_label.",
            )
        positive = int(matches[0])
    # A single score column is, as in scikit-learn, the score of the positive class.
    score = s[:, positive] if s.ndim == 2 else s
    if positive == 0:
        classes = classes[::-1]
        codes = 1 - codes
    if threshold is None:
        threshold = 0.5 if probabilities else 0.0
    elif not (isinstance(threshold, int | float | np.number) and np.isfinite(threshold)):
        raise InvalidInputError(
            f"The decision threshold must be a finite number; received {threshold!r}.",
            fix="pass a threshold such as 0.5 (probabilities) or 0 (decision scores).",
        )
    elif probabilities and not 0.0 <= float(threshold) <= 1.0:
        raise InvalidInputError(
            f"The threshold {threshold} is compared with probabilities but is outside [0, 1].",
            fix="pass a threshold between 0 and 1 (or --score-kind decision for decision scores).",
        )
    return cls("binary", codes, score, classes, weight, probabilities, float(threshold))


def distinct(y: np.ndarray) -> np.ndarray:
    """The distinct labels of ``y``.

    Small non-negative integer labels (and bools) are counted with ``bincount``: a hash
    table sized for the whole column (``pd.unique``) would cost more memory than the column.
    """
    if y.size and y.dtype.kind in "biu":
        values = y.view(np.uint8) if y.dtype.kind == "b" else y
        lo, hi = int(values.min()), int(values.max())
        if lo >= 0 and hi < 1 << 16:
            present = np.flatnonzero(np.bincount(values, minlength=hi + 1))
            return present.astype(bool) if y.dtype.kind == "b" else present.astype(y.dtype)
    return pd.unique(y)


def _encode(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Index of each label in ``classes`` (-1 if unknown), in the smallest integer type.

    Two numeric classes are compared directly, which avoids an int64 copy of a large
    binary target; anything else goes through a pandas index.
    """
    small = np.int8 if classes.size < 127 else np.int32
    if classes.size == 2 and y.dtype.kind in "biuf" and classes.dtype.kind in "biuf":
        codes = (y == classes[1]).astype(small)
        codes[(codes == 0) & (y != classes[0])] = -1
        return codes
    return pd.Index(classes).get_indexer(y).astype(small)


def label_text(value: Any) -> str:
    """A label as users wrote it: 1, 'yes', True (not np.int64(1) or np.str_('yes'))."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def label_list(values: Any, limit: int = 10) -> str:
    values = list(values)
    text = ", ".join(label_text(v) for v in values[:limit])
    return text + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _sort_key(value: Any) -> tuple[str, Any]:
    # Mixed label types sort by type name first instead of failing.
    return (type(value).__name__, value)


def _looks_like_probabilities(s: np.ndarray) -> bool:
    if s.min() < 0 or s.max() > 1:
        return False
    if s.ndim == 1:
        return True
    sums = s.sum(axis=1)
    if np.all(np.abs(sums - 1) <= SUM_TOLERANCE):
        return True
    row = int(np.argmax(np.abs(sums - 1)))
    raise DataError(
        f"y_score looks like class probabilities (all values in [0, 1]) but its rows do "
        f"not sum to 1: row {row} sums to {sums[row]:.6g}.",
        fix="pass predict_proba output (rows summing to 1), or pass "
        "scores_are_probabilities=False for one-vs-rest scores.",
    )


def _check_probabilities(s: np.ndarray) -> None:
    lo, hi = float(s.min()), float(s.max())
    if lo < 0 or hi > 1:
        raise DataError(
            f"probabilities are required but y_score ranges over [{lo:.6g}, {hi:.6g}], "
            "outside [0, 1].",
            fix="pass probabilities (predict_proba), or mark the scores as decision "
            "scores (scores_are_probabilities=False, CLI --score-kind decision).",
        )
    if s.ndim == 2:
        sums = s.sum(axis=1)
        bad = np.abs(sums - 1) > SUM_TOLERANCE
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"class probabilities must sum to 1 in every row; {int(bad.sum())} row(s) "
                f"do not (row {row} sums to {sums[row]:.6g}).",
                fix="normalise the rows, or pass scores_are_probabilities=False.",
            )
