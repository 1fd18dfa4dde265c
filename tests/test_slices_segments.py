"""Weak segments: search on one half, confirm on the other; the loss; false discoveries."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from afterfit.errors import InvalidInputError
from afterfit.predictions import Predictions
from afterfit.slices.segments import row_loss, weak_segments


def _draw(rng, n, noise):
    """As benchmarks/slices_simulation.py: a logistic truth in a, b; label noise planted in
    region = north and tenure < 12, which the model cannot see."""
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "region": rng.choice(["north", "south", "east", "west"], n),
            "plan": rng.choice(["basic", "pro"], n, p=[0.7, 0.3]),
            "tenure": rng.uniform(0, 60, n),
        }
    )
    p = 1 / (1 + np.exp(-(1.5 * frame.a.to_numpy() + frame.b.to_numpy())))
    y = (rng.uniform(size=n) < p).astype(int)
    planted = (frame.region == "north").to_numpy() & (frame.tenure < 12).to_numpy()
    flip = planted & (rng.uniform(size=n) < noise)
    y[flip] = 1 - y[flip]
    return frame, y, planted


def _run(seed, n, noise):
    rng = np.random.default_rng(seed)
    train, y_train, _ = _draw(rng, n, noise)
    test, y_test, planted = _draw(rng, n, noise)
    model = LogisticRegression().fit(train[["a", "b"]], y_train)
    preds = Predictions.from_arrays(y_test, model.predict_proba(test[["a", "b"]])[:, 1])
    loss, name = row_loss(preds)
    return test, planted, weak_segments(test, loss, loss_name=name, random_state=seed)


def _rows(frame, segment):
    inside = np.ones(len(frame), dtype=bool)
    for c in segment.conditions:
        col = frame[c.column].to_numpy()
        inside &= {"=": col == c.value, "<=": col <= c.value, ">": col > c.value}[c.op]
    return inside


def test_planted_segment_is_found_with_its_rule_and_an_interval():
    frame, planted, res = _run(20_001, 8000, 0.35)
    assert res.confirmed
    best = res.confirmed[0]
    rows = _rows(frame, best)
    assert np.count_nonzero(rows & planted) >= 0.5 * rows.sum()
    assert "region = north" in best.rule and "tenure <=" in best.rule
    assert best.ci_low > 0 and best.p_holm < 0.05 and best.gap > 0
    assert res.n_search + res.n_confirm == 8000
    json.dumps(res.to_dict(), allow_nan=False)
    df = res.frame()
    assert list(df.columns[:3]) == ["rule", "n", "loss"]
    assert res.findings()[0].startswith(f"Weak segment {best.rule}")


def test_holm_over_candidates_and_confirmation_numbers_are_the_held_out_half():
    _, _, res = _run(5, 4000, 0.3)
    p = np.array([s.p_value for s in res.candidates])
    finite = np.isfinite(p)
    order = np.argsort(p[finite])
    m = finite.sum()
    expected = np.minimum(np.maximum.accumulate(p[finite][order] * (m - np.arange(m))), 1)
    np.testing.assert_allclose(np.array([s.p_holm for s in res.candidates])[finite][order],
                               expected)  # fmt: skip
    for s in res.candidates:
        assert s.n != s.n_search or s.search_gap != s.gap  # measured on other rows


def test_excess_log_loss_has_mean_zero_for_a_calibrated_model():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.02, 0.98, 200_000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    loss, name = row_loss(Predictions.from_arrays(y, p))
    assert name == "excess log loss"
    assert abs(loss.mean()) < 4 * loss.std() / np.sqrt(p.size)
    # Near the boundary rows are hard (high log loss) but not worse than promised.
    near = np.abs(p - 0.5) < 0.1
    assert abs(loss[near].mean()) < 4 * loss[near].std() / np.sqrt(near.sum())


def test_row_loss_of_other_tasks():
    reg = Predictions.from_arrays(np.array([1.0, 2.0, 4.0]), np.array([1.5, 2.0, 3.0]),
                                  task="regression")  # fmt: skip
    loss, name = row_loss(reg)
    np.testing.assert_allclose(loss, [0.5, 0.0, 1.0])
    assert name == "absolute error"
    dec = Predictions.from_arrays(np.array([0, 1, 1]), np.array([-1.0, 2.0, -0.5]),
                                  scores_are_probabilities=False, threshold=0.0)  # fmt: skip
    loss, name = row_loss(dec)
    np.testing.assert_allclose(loss, [0, 0, 1])
    assert name == "error rate"


def test_one_condition_only_and_bad_options():
    frame, _, _ = _run(1, 2000, 0.3)
    loss = np.random.default_rng(0).normal(size=len(frame))
    res = weak_segments(frame, loss, max_conditions=1, random_state=0)
    assert all(len(s.conditions) == 1 for s in res.candidates)
    with pytest.raises(InvalidInputError, match="max_conditions"):
        weak_segments(frame, loss, max_conditions=3)
    empty = weak_segments(pd.DataFrame({"id": [f"u{i}" for i in range(len(frame))]}), loss)
    assert not empty.candidates and empty.notes


@pytest.mark.slow
def test_false_discoveries_and_power_by_simulation():
    """No planted segment: few runs report one (goal <= 5%); planted: found (goal >= 90%).
    Cheap version of benchmarks/slices_simulation.py (R = 40 per scenario, n = 8000)."""
    reps = 40
    false_runs = sum(bool(_run(10_000 + r, 8000, 0.0)[2].confirmed) for r in range(reps))
    found = 0
    for r in range(reps):
        frame, planted, res = _run(20_000 + r, 8000, 0.3)
        for s in res.confirmed:
            rows = _rows(frame, s)
            overlap = np.count_nonzero(rows & planted)
            if overlap >= 0.5 * rows.sum() and overlap >= 0.5 * planted.sum():
                found += 1
                break
    print(f"false discovery runs {false_runs}/{reps}, planted found {found}/{reps}")
    # Binomial slack at R = 40: 5% expects 2 false runs; 5 or more has probability ~5%.
    assert false_runs <= 4
    assert found >= 0.9 * reps
