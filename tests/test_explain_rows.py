"""Row selection: the user's rows, confident errors, least confident, residuals, random."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from afterfit.errors import InvalidInputError
from afterfit.explain.rows import REASONS, parse_rows, resolve_rows, select_rows
from afterfit.predictions import Predictions


@pytest.fixture
def binary() -> Predictions:
    # positions:        0     1     2     3     4     5     6     7
    y = np.array([0, 0, 1, 1, 0, 1, 0, 1])
    s = np.array([0.95, 0.52, 0.10, 0.48, 0.70, 0.90, 0.05, 0.60])
    # errors: 0 (P(1)=.95 for a 0), 2 (P(0)=.90 for a 1), 4 (P(1)=.70), 3 (P(0)=.52), 1 (.52)
    return Predictions.from_arrays(y, s)


def reasons(sel):
    return [(r.position, r.reason) for r in sel.rows]


def test_binary_confident_errors_then_least_confident(binary):
    sel = select_rows(binary, n_errors=2, n_uncertain=2, n_random=0)
    # errors by the probability given to the wrong class: row 0 (0.95), row 2 (0.90)
    # least confident, |score - 0.5|: row 3 (0.02) ties row 1 (0.02): position order
    assert reasons(sel) == [
        (0, "confident error"),
        (2, "confident error"),
        (1, "least confident"),
        (3, "least confident"),
    ]
    assert "predicted 1" in sel.rows[0].detail and "0.95" in sel.rows[0].detail


def test_no_duplicates_next_candidate_takes_the_place(binary):
    # row 1 is both an error and the least confident: taken once, as the user's row
    sel = select_rows(binary, rows=[1], n_errors=5, n_uncertain=2, n_random=0)
    positions = [r.position for r in sel.rows]
    assert len(positions) == len(set(positions))
    assert sel.rows[0].position == 1 and sel.rows[0].reason == "user"
    errors = [p for p, r in reasons(sel) if r == "confident error"]
    assert errors == [0, 2, 4, 3]  # all other errors, by confidence
    uncertain = [p for p, r in reasons(sel) if r == "least confident"]
    assert uncertain == [7, 5]  # 1 and 3 taken already: next by |score - 0.5|


def test_threshold_moves_least_confident():
    y = np.array([0, 1, 0, 1])
    s = np.array([0.1, 0.3, 0.5, 0.9])
    p = Predictions.from_arrays(y, s, threshold=0.3)
    sel = select_rows(p, n_errors=0, n_uncertain=1, n_random=0)
    assert reasons(sel) == [(1, "least confident")]


def test_decision_scores():
    y = np.array([0, 1, 0, 1])
    s = np.array([-3.0, -2.0, 4.0, 0.1])
    p = Predictions.from_arrays(y, s, scores_are_probabilities=False)
    sel = select_rows(p, n_errors=2, n_uncertain=1, n_random=0)
    # errors: row 2 (4 past the threshold 0), row 1 (2 below it)
    assert reasons(sel) == [(2, "confident error"), (1, "confident error"),
                            (3, "least confident")]  # fmt: skip


def test_multiclass_margin_and_wrong_class():
    y = np.array([0, 1, 2, 0])
    s = np.array(
        [
            [0.10, 0.85, 0.05],  # error, wrong class gets 0.85
            [0.30, 0.35, 0.35],  # correct-ish tie, margin 0
            [0.60, 0.10, 0.30],  # error, wrong class 0.60
            [0.80, 0.15, 0.05],  # correct, margin 0.65
        ]
    )
    p = Predictions.from_arrays(y, s)
    sel = select_rows(p, n_errors=2, n_uncertain=1, n_random=0)
    assert reasons(sel) == [(0, "confident error"), (2, "confident error"),
                            (1, "least confident")]  # fmt: skip
    assert "margin 0" in sel.rows[2].detail


def test_regression_residuals_and_random_seeded():
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    s = np.array([1.1, 5.0, 3.0, 3.0, 5.2, 6.0])
    p = Predictions.from_arrays(y, s, task="regression")
    sel = select_rows(p, n_errors=2, n_uncertain=3, n_random=2, random_state=3)
    assert reasons(sel)[:2] == [(1, "large residual"), (3, "large residual")]
    assert [r for _, r in reasons(sel)[2:]] == ["random", "random"]
    again = select_rows(p, n_errors=2, n_random=2, random_state=3)
    assert reasons(again) == reasons(sel)
    assert {r.reason for r in sel.rows} <= set(REASONS)


def test_random_rows_exclude_selected(binary):
    sel = select_rows(binary, n_errors=5, n_uncertain=0, n_random=10, random_state=0)
    positions = [r.position for r in sel.rows]
    assert sorted(positions) == list(range(8))  # 5 errors + the 3 remaining rows


def test_user_rows_positions_and_labels(binary):
    index = pd.Index([f"r{i}" for i in range(8)])
    sel = select_rows(binary, rows=["r5", 2], index=index, n_errors=0, n_uncertain=0,
                      n_random=0)  # fmt: skip
    assert reasons(sel) == [(5, "user"), (2, "user")]
    assert sel.rows[0].label == "r5"
    # an integer index: by="label" reads 105 as a label, "auto" as a position
    index = pd.Index(range(100, 108))
    assert resolve_rows([105], index, 8, by="label") == [5]
    assert resolve_rows(["105"], index, 8) == [5]  # text typed on the command line
    with pytest.raises(InvalidInputError, match="out of range"):
        resolve_rows([105], index, 8)


def test_bad_rows_are_clear_errors(binary):
    with pytest.raises(InvalidInputError, match=r"Row 8 is out of range.*0 to 7"):
        select_rows(binary, rows=[8])
    with pytest.raises(InvalidInputError, match="out of range"):
        select_rows(binary, rows=[-1])
    with pytest.raises(InvalidInputError, match="'zzz' is not in the data's index"):
        select_rows(binary, rows=["zzz"])
    with pytest.raises(InvalidInputError, match="names 2 rows"):
        resolve_rows(["a"], pd.Index(["a", "a", "b"]), 3)
    with pytest.raises(InvalidInputError, match="n_errors"):
        select_rows(binary, n_errors=-1)
    with pytest.raises(InvalidInputError, match="index has 3 labels"):
        select_rows(binary, index=["a", "b", "c"])


def test_parse_rows():
    assert parse_rows("17, 42,a") == [17, 42, "a"]
    assert parse_rows(None) is None
    with pytest.raises(InvalidInputError, match="at least one row"):
        parse_rows(" , ")


def test_frame_and_dict(binary):
    import json

    sel = select_rows(binary, rows=[6], n_errors=1, n_uncertain=1, n_random=1)
    df = sel.frame()
    assert df.columns.tolist() == ["position", "label", "reason", "detail"]
    assert df["reason"].tolist()[:3] == ["user", "confident error", "least confident"]
    json.dumps(sel.to_dict(), allow_nan=False)
