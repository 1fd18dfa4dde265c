"""Which rows to explain: the user's rows, plus the rows a reviewer should look at first.

:func:`select_rows` reads :class:`~afterfit.predictions.Predictions` (it never calls the
model) and returns a :class:`RowSelection`, each row with the reason it was chosen:

- ``"user"``: rows the user asked for, as positions (``17``) or index labels (``"a17"``);
- ``"confident error"`` (classification): wrong predictions where the model gave a wrong
  class the highest probability (or decision score);
- ``"least confident"`` (classification): binary, the scores closest to the decision
  threshold; multiclass, the smallest margin between the two highest class scores;
- ``"large residual"`` (regression): the largest absolute residuals;
- ``"random"``: a few rows drawn with ``random_state``, as a baseline of typical rows.

A row is selected once, under the first reason that picks it (in the order above); the
next candidate of a later reason takes its place. Ties are broken by position, so the same
predictions and seed give the same rows.

Examples
--------
>>> import numpy as np
>>> from afterfit.predictions import Predictions
>>> p = Predictions.from_arrays([0, 1, 1, 0], [0.9, 0.45, 0.8, 0.1])
>>> sel = select_rows(p, rows=[2], n_errors=1, n_uncertain=1, n_random=0)
>>> [(r.position, r.reason) for r in sel.rows]
[(2, 'user'), (0, 'confident error'), (1, 'least confident')]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from afterfit.errors import InvalidInputError
from afterfit.jsonsafe import scalar as _json_value
from afterfit.predictions import Predictions

__all__ = ["REASONS", "RowSelection", "SelectedRow", "parse_rows", "resolve_rows", "select_rows"]

#: Every reason a row can be selected for, in the order rows are taken.
REASONS: tuple[str, ...] = (
    "user",
    "confident error",
    "least confident",
    "large residual",
    "random",
)


@dataclass(frozen=True)
class SelectedRow:
    """One row chosen for explanation.

    Attributes
    ----------
    position : int
        Position of the row in the data (0-based).
    label : object
        The row's index label (equal to ``position`` for a default index).
    reason : str
        One of :data:`REASONS`.
    detail : str
        Why, in words: ``"true 0, predicted 1 with P=0.97"``.
    """

    position: int
    label: Any
    reason: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe fields."""
        return {
            "position": int(self.position),
            "label": _json_value(self.label),
            "reason": self.reason,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class RowSelection:
    """The rows to explain, in order: the user's first, then each reason in turn.

    Attributes
    ----------
    rows : tuple of SelectedRow
    n_rows_total : int
        Rows of the data the selection was made from.
    random_state : int or None
    """

    rows: tuple[SelectedRow, ...]
    n_rows_total: int
    random_state: int | None = None

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def positions(self) -> np.ndarray:
        """Positions of the selected rows, in selection order."""
        return np.asarray([r.position for r in self.rows], dtype=np.int64)

    def frame(self) -> pd.DataFrame:
        """One line per row: ``position, label, reason, detail``."""
        return pd.DataFrame(
            {
                "position": [r.position for r in self.rows],
                "label": [r.label for r in self.rows],
                "reason": [r.reason for r in self.rows],
                "detail": [r.detail for r in self.rows],
            },
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary."""
        return {
            "n_rows_total": int(self.n_rows_total),
            "random_state": self.random_state,
            "rows": [r.to_dict() for r in self.rows],
        }


# --- the user's rows -------------------------------------------------------------------------


def parse_rows(text: str | None) -> list[int | str] | None:
    """Rows typed on the command line (``"17,42"``, ``"a,b"``): integers stay integers.

    Parameters
    ----------
    text : str or None
        Comma-separated positions or index labels.

    Returns
    -------
    list of int or str, or None
        ``None`` for ``None``.

    Raises
    ------
    InvalidInputError
        The text holds no row at all (``","``).
    """
    if text is None:
        return None
    items = [t.strip() for t in str(text).split(",")]
    items = [t for t in items if t]
    if not items:
        raise InvalidInputError(
            f"--rows must list at least one row; received {text!r}.",
            fix="pass positions or index labels separated by commas, such as --rows 17,42.",
        )
    out: list[int | str] = []
    for item in items:
        try:
            out.append(int(item))
        except ValueError:
            out.append(item)
    return out


def _is_position(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def resolve_rows(
    rows: Iterable[Any],
    index: pd.Index | Sequence[Any] | None,
    n: int,
    *,
    by: Literal["auto", "position", "label"] = "auto",
) -> list[int]:
    """Positions of the rows the user named.

    Parameters
    ----------
    rows : iterable
        Positions (integers) or index labels.
    index : pandas.Index or sequence, optional
        The data's index labels (default: positions ``0..n-1``).
    n : int
        Number of rows in the data.
    by : {"auto", "position", "label"}, default "auto"
        ``"auto"``: integers are positions and anything else an index label;
        ``"position"``: every item is a position; ``"label"``: every item is an index label
        (an integer index such as ``[100, 101, ...]`` then matches by label).

    Returns
    -------
    list of int
        Positions, in the order given, without repeats.

    Raises
    ------
    InvalidInputError
        A position outside ``0..n-1``, a label not in the index, a label that names several
        rows, or a bad ``by``.
    """
    if by not in ("auto", "position", "label"):
        raise InvalidInputError(
            f"The argument 'by' must be 'auto', 'position' or 'label'; received {by!r}.",
            fix="pass by='position' for 0-based positions or by='label' for index labels.",
        )
    if isinstance(rows, str | int | np.integer):
        rows = [rows]
    idx = pd.RangeIndex(n) if index is None else pd.Index(index)
    out: list[int] = []
    for item in rows:
        if isinstance(item, np.generic):
            item = item.item()
        if by == "position" or (by == "auto" and _is_position(item)):
            if not _is_position(item) or not 0 <= int(item) < n:
                raise InvalidInputError(
                    f"Row {item!r} is out of range: the data has {n} rows, so positions run "
                    f"from 0 to {n - 1}.",
                    fix="pass 0-based row positions below the number of rows (--rows 0,17), "
                    "or index labels of the data.",
                )
            pos = int(item)
        else:
            pos = _label_position(item, idx)
        if pos not in out:
            out.append(pos)
    return out


def _label_position(label: Any, idx: pd.Index) -> int:
    matches = np.flatnonzero(idx == label) if label in idx else np.array([], dtype=int)
    if len(matches) == 0:
        # labels typed as text ("17" for an integer index, "True") match by their text
        text = np.asarray([str(v) for v in idx], dtype=object)
        matches = np.flatnonzero(text == str(label))
    if len(matches) == 0:
        shown = ", ".join(repr(v.item() if isinstance(v, np.generic) else v) for v in idx[:5])
        more = ", ..." if len(idx) > 5 else ""
        raise InvalidInputError(
            f"Row label {label!r} is not in the data's index (labels: {shown}{more}).",
            fix="pass index labels of the data, or 0-based integer positions.",
        )
    if len(matches) > 1:
        raise InvalidInputError(
            f"Row label {label!r} names {len(matches)} rows of the data (the index has "
            "repeated labels).",
            fix="pass 0-based integer positions instead, or give the data a unique index.",
        )
    return int(matches[0])


# --- the default rows ------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _class_text(preds: Predictions, k: int) -> str:
    return str(preds.classes[k]) if preds.classes is not None else str(k)


def _candidates(preds: Predictions) -> dict[str, tuple[np.ndarray, list[str]]]:
    """For each automatic reason: candidate positions, best first, and their details."""
    n = preds.n
    out: dict[str, tuple[np.ndarray, list[str]]] = {}
    if preds.task == "regression":
        residual = preds.y_true - preds.scores
        order = np.argsort(-np.abs(residual), kind="stable")
        out["large residual"] = (
            order,
            [
                f"true {_fmt(preds.y_true[i])}, predicted {_fmt(preds.scores[i])} "
                f"(residual {_fmt(residual[i])})"
                for i in order
            ],
        )
        return out
    y = preds.y_true.astype(np.int64)
    pred = np.asarray(preds.y_pred, dtype=np.int64)
    kind = "P" if preds.scores_are_probabilities else "score"
    if preds.task == "binary":
        s = preds.scores
        if preds.scores_are_probabilities:  # the probability given to the wrong class
            wrong_score = np.where(y == 1, 1.0 - s, s)
        else:  # decision scores: how far past the threshold, on the wrong side
            wrong_score = np.where(y == 1, preds.threshold - s, s - preds.threshold)
        distance = np.abs(s - preds.threshold)
        uncertain_detail = [
            f"{kind}({_class_text(preds, 1)})={_fmt(s[i])}, threshold {_fmt(preds.threshold)}"
            for i in range(n)
        ]
    else:
        s = preds.scores
        others = np.where(np.eye(s.shape[1], dtype=bool)[y], -np.inf, s)
        wrong_score = others.max(axis=1)
        top2 = np.sort(s, axis=1)[:, -2:]
        distance = top2[:, 1] - top2[:, 0]
        uncertain_detail = [
            f"top two {kind}s {_fmt(top2[i, 1])} and {_fmt(top2[i, 0])} "
            f"(margin {_fmt(distance[i])})"
            for i in range(n)
        ]
    errors = np.flatnonzero(pred != y)
    errors = errors[np.argsort(-wrong_score[errors], kind="stable")]
    out["confident error"] = (
        errors,
        [
            f"true {_class_text(preds, y[i])}, predicted {_class_text(preds, pred[i])} "
            f"(wrong class {kind}={_fmt(_wrong_value(preds, i))})"
            for i in errors
        ],
    )
    order = np.argsort(distance, kind="stable")
    out["least confident"] = (order, [uncertain_detail[i] for i in order])
    return out


def _wrong_value(preds: Predictions, i: int) -> float:
    """The score of the predicted (wrong) class, as users read it."""
    s = preds.scores
    if preds.task == "binary":
        if preds.scores_are_probabilities:
            return float(s[i] if preds.y_pred[i] == 1 else 1.0 - s[i])
        return float(s[i])
    return float(s[i, int(preds.y_pred[i])])


def _check_count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise InvalidInputError(
            f"The argument {name!r} must be an integer >= 0; received {value!r}.",
            fix=f"pass {name}=0 to select no such rows, or a small count such as 3.",
        )
    return int(value)


def select_rows(
    predictions: Predictions,
    *,
    rows: Iterable[Any] | None = None,
    index: pd.Index | Sequence[Any] | None = None,
    by: Literal["auto", "position", "label"] = "auto",
    n_errors: int = 3,
    n_uncertain: int = 3,
    n_random: int = 2,
    random_state: int | None = 0,
) -> RowSelection:
    """The rows worth explaining, each with the reason it was chosen.

    Parameters
    ----------
    predictions : Predictions
        The model's predictions on the data (:meth:`Predictions.from_model`).
    rows : iterable, optional
        The user's rows, first in the selection: positions or index labels (see ``by``).
    index : pandas.Index or sequence, optional
        The data's index labels, for ``rows`` given as labels (default positions).
    by : {"auto", "position", "label"}, default "auto"
        How ``rows`` are read; see :func:`resolve_rows`.
    n_errors : int, default 3
        Classification: the most confident errors. Regression: the largest absolute
        residuals.
    n_uncertain : int, default 3
        Classification: the least confident predictions (ignored for regression).
    n_random : int, default 2
        Rows drawn at random with ``random_state`` among those not yet selected.
    random_state : int, optional
        Seed of the random rows.

    Returns
    -------
    RowSelection
        ``rows`` (position, label, reason, detail), ``positions``, ``frame()``,
        ``to_dict()``.

    Raises
    ------
    InvalidInputError
        A user row out of range or not in the index, a negative count, or an index of the
        wrong length.
    """
    n = predictions.n
    n_errors = _check_count(n_errors, "n_errors")
    n_uncertain = _check_count(n_uncertain, "n_uncertain")
    n_random = _check_count(n_random, "n_random")
    if index is not None and len(index) != n:
        raise InvalidInputError(
            f"The index has {len(index)} labels but the predictions have {n} rows.",
            fix="pass the index of the data the predictions were made on (X.index).",
        )
    labels = pd.RangeIndex(n) if index is None else pd.Index(index)
    chosen: list[SelectedRow] = []
    taken: set[int] = set()

    def take(pos: int, reason: str, detail: str) -> None:
        taken.add(pos)
        label = labels[pos]
        chosen.append(SelectedRow(pos, label.item() if isinstance(label, np.generic) else label,
                                  reason, detail))  # fmt: skip

    if rows is not None:
        for pos in resolve_rows(rows, labels, n, by=by):
            take(pos, "user", "asked for")

    wanted = {"confident error": n_errors, "least confident": n_uncertain,
              "large residual": n_errors}  # fmt: skip
    for reason, (order, details) in _candidates(predictions).items():
        count = 0
        for pos, detail in zip(order.tolist(), details, strict=True):
            if count >= wanted[reason]:
                break
            if pos not in taken:
                take(int(pos), reason, detail)
                count += 1

    if n_random:
        rest = np.setdiff1d(np.arange(n), np.fromiter(taken, dtype=np.int64, count=len(taken)))
        if len(rest):
            rng = np.random.default_rng(random_state)
            drawn = rng.choice(rest, size=min(n_random, len(rest)), replace=False)
            for pos in drawn.tolist():
                take(int(pos), "random", f"drawn with seed {random_state}")
    return RowSelection(tuple(chosen), n, random_state)
