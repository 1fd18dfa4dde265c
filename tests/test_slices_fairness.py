"""Fairness metrics against fairlearn (the oracle, to 1e-9), their intervals, bad input."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_score

import afterfit
from afterfit.errors import InvalidInputError
from afterfit.predictions import Predictions
from afterfit.slices import build_slicings, fairness_predictions


def _case(seed: int, n: int = 1200, groups: tuple[str, ...] = ("f", "m")):
    rng = np.random.default_rng(seed)
    g = rng.choice(
        groups, n, p=np.linspace(1, 2, len(groups)) / np.linspace(1, 2, len(groups)).sum()
    )
    shift = (np.asarray(g) == groups[0]) * 0.4
    x = rng.normal(size=n) + shift
    y = (x + rng.normal(size=n) > 0.2).astype(int)
    score = 1 / (1 + np.exp(-(1.3 * x - 0.1 + rng.normal(scale=0.3, size=n))))
    return pd.DataFrame({"g": g}), y, score


def _ece(y, s, bins=10):
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.searchsorted(edges[1:-1], s, side="left"), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            total += m.sum() / y.size * abs(s[m].mean() - y[m].mean())
    return total


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("groups", [("f", "m"), ("a", "b", "c", "d")])
@pytest.mark.parametrize("threshold", [0.5, 0.35])
def test_point_values_equal_fairlearn(seed, groups, threshold):
    frame, y, score = _case(seed, groups=groups)
    preds = Predictions.from_arrays(y, score, threshold=threshold)
    (sens,) = build_slicings(frame, ["g"])
    res = fairness_predictions(preds, sens, n_resamples=0)
    yhat = (score > threshold).astype(int)
    g = frame["g"].to_numpy()
    kw = {"sensitive_features": g}
    assert res["demographic_parity_difference"].value == pytest.approx(
        demographic_parity_difference(y, yhat, **kw), abs=1e-9
    )
    assert res["demographic_parity_ratio"].value == pytest.approx(
        demographic_parity_ratio(y, yhat, **kw), abs=1e-9
    )
    assert res["equalized_odds_difference"].value == pytest.approx(
        equalized_odds_difference(y, yhat, **kw), abs=1e-9
    )
    assert res["equal_opportunity_difference"].value == pytest.approx(
        equal_opportunity_difference(y, yhat, **kw), abs=1e-9
    )
    mf = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "true_positive_rate": true_positive_rate,
            "false_positive_rate": false_positive_rate,
            "precision": lambda a, b: precision_score(a, b, zero_division=np.nan),
        },
        y_true=y,
        y_pred=yhat,
        sensitive_features=g,
    )
    assert res["predictive_parity_difference"].value == pytest.approx(
        mf.difference()["precision"], abs=1e-9
    )
    per_group = res.frame().dropna(subset=["group"]).set_index(["metric", "group"])["value"]
    for metric in ("selection_rate", "true_positive_rate", "false_positive_rate", "precision"):
        for group, expected in mf.by_group[metric].items():
            assert per_group[(metric, str(group))] == pytest.approx(expected, abs=1e-9)
    eces = {k: _ece(y[g == k], score[g == k]) for k in groups}
    for group, expected in eces.items():
        assert per_group[("ece", group)] == pytest.approx(expected, abs=1e-9)
    assert res["ece_difference"].value == pytest.approx(
        max(eces.values()) - min(eces.values()), abs=1e-9
    )


def test_weighted_point_values_equal_fairlearn_metricframe():
    frame, y, score = _case(5, groups=("x", "y", "z"))
    w = np.random.default_rng(0).uniform(0.2, 3, y.size)
    preds = Predictions.from_arrays(y, score, sample_weight=w)
    (sens,) = build_slicings(frame, ["g"])
    res = fairness_predictions(preds, sens, n_resamples=0)
    yhat = (score > 0.5).astype(int)
    g = frame["g"].to_numpy()
    mf = MetricFrame(
        metrics={"sel": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=y,
        y_pred=yhat,
        sensitive_features=g,
        sample_params={
            "sel": {"sample_weight": w},
            "tpr": {"sample_weight": w},
            "fpr": {"sample_weight": w},
        },
    )
    diff = mf.difference()
    assert res["demographic_parity_difference"].value == pytest.approx(diff["sel"], abs=1e-9)
    assert res["demographic_parity_ratio"].value == pytest.approx(mf.ratio()["sel"], abs=1e-9)
    assert res["equalized_odds_difference"].value == pytest.approx(
        max(diff["tpr"], diff["fpr"]), abs=1e-9
    )
    assert res["equalized_odds_difference"].value == pytest.approx(
        equalized_odds_difference(y, yhat, sensitive_features=g, sample_weight=w), abs=1e-9
    )


def test_intervals_cover_and_narrow_with_more_rows():
    widths = []
    for n in (600, 4800):
        frame, y, score = _case(3, n=n)
        preds = Predictions.from_arrays(y, score)
        (sens,) = build_slicings(frame, ["g"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = fairness_predictions(preds, sens, n_resamples=300, random_state=0)
        v = res["demographic_parity_difference"]
        assert v.ci_low <= v.value <= v.ci_high
        assert "bootstrap" in v.method and "stratified" in v.method
        widths.append(v.ci_high - v.ci_low)
    # Four times the rows: about half the width.
    assert 0.3 < widths[1] / widths[0] < 0.75


def test_bootstrap_interval_covers_true_gap():
    """Coverage: a 90% interval of the TPR gap holds the population gap in most runs."""
    rng = np.random.default_rng(11)
    hits = dp_hits = 0
    runs = 40
    for r in range(runs):
        n = 800
        g = rng.choice(["a", "b"], n)
        y = rng.uniform(size=n) < 0.5
        # Population TPR: 0.7 in a, 0.6 in b: gap 0.1.
        yhat = np.where(y, rng.uniform(size=n) < np.where(g == "a", 0.7, 0.6),
                        rng.uniform(size=n) < 0.2)  # fmt: skip
        score = np.where(yhat, 0.75, 0.25)
        preds = Predictions.from_arrays(y.astype(int), score)
        (sens,) = build_slicings(pd.DataFrame({"g": g}), ["g"])
        res = fairness_predictions(preds, sens, n_resamples=200, confidence=0.9,
                                   bootstrap_method="percentile", random_state=r)  # fmt: skip
        v = res["equal_opportunity_difference"]
        hits += v.ci_low <= 0.1 <= v.ci_high
        # Selection rates: 0.5 * (0.7 or 0.6) + 0.5 * 0.2, a gap of 0.05.
        d = res["demographic_parity_difference"]
        dp_hits += d.ci_low <= 0.05 <= d.ci_high
    assert hits / runs >= 0.75
    assert dp_hits / runs >= 0.75


def test_fairness_through_slices_api_and_json():
    frame, y, score = _case(0)
    frame["x"] = np.log(score / (1 - score))
    model = LogisticRegression().fit(frame[["x"]], y)
    res = afterfit.evaluate_slices(model, frame, y, by=["g"], sensitive="g", n_resamples=100,
                          random_state=0, segments=False)  # fmt: skip
    df = res.fairness.frame()
    assert list(df.columns) == ["metric", "group", "value", "ci_low", "ci_high", "method",
                                "groups compared"]  # fmt: skip
    assert df.metric.iloc[0] == "demographic_parity_difference"
    assert "max:" in df["groups compared"].iloc[0]
    json.dumps(res.to_dict()["fairness"], allow_nan=False)


def test_sensitive_with_one_group_or_non_binary_is_refused():
    frame, y, score = _case(0)
    preds = Predictions.from_arrays(y, score)
    (one,) = build_slicings(pd.DataFrame({"g": ["f"] * y.size}), ["g"])
    with pytest.raises(InvalidInputError, match="one group") as info:
        fairness_predictions(preds, one)
    assert info.value.fix
    reg = Predictions.from_arrays(score * 3, score, task="regression")
    (sens,) = build_slicings(frame, ["g"])
    with pytest.raises(InvalidInputError, match="binary"):
        fairness_predictions(reg, sens)


def test_group_without_positives_gives_nan_rate_and_a_note():
    n = 400
    g = np.array(["a"] * 200 + ["b"] * 200)
    y = np.r_[np.random.default_rng(0).integers(0, 2, 200), np.zeros(200, int)]
    score = np.random.default_rng(1).uniform(size=n)
    preds = Predictions.from_arrays(y, score)
    (sens,) = build_slicings(pd.DataFrame({"g": g}), ["g"])
    res = fairness_predictions(preds, sens, n_resamples=50, random_state=0)
    per = res.frame().dropna(subset=["group"]).set_index(["metric", "group"])["value"]
    assert np.isnan(per[("true_positive_rate", "b")])
    assert np.isnan(res["equal_opportunity_difference"].value)
    # FPR is defined in both groups, so equalized odds still has a value (fairlearn's nan
    # handling differs; the definition is max over the defined gaps).
    assert np.isfinite(res["equalized_odds_difference"].value)
    assert any("true_positive_rate is undefined" in note for note in res.notes)


def test_decision_scores_have_no_calibration_error_but_the_rest():
    frame, y, score = _case(4)
    logit = np.log(score / (1 - score))
    preds = Predictions.from_arrays(y, logit, scores_are_probabilities=False, threshold=0.0)
    (sens,) = build_slicings(frame, ["g"])
    res = fairness_predictions(preds, sens, n_resamples=0)
    metrics = set(res.frame().metric)
    assert "ece_difference" not in metrics and "ece" not in metrics
    yhat = (logit > 0).astype(int)
    assert res["demographic_parity_difference"].value == pytest.approx(
        demographic_parity_difference(y, yhat, sensitive_features=frame["g"]), abs=1e-9
    )
