"""Threshold selection: every objective against a brute-force search, the threshold
convention, ties, the batched bootstrap, multiclass decisions, the decision wrappers and
bad input.

The oracle loops over every distinct score ``t`` (and one value below the lowest),
predicts ``score > t``, takes scikit-learn's weighted confusion matrix and computes the
objective from it; at the chosen threshold the value is checked again with scikit-learn's
own metric functions.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure
from sklearn import metrics as skm
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

import afterfit
from afterfit.errors import AfterfitWarning, InvalidInputError, MetricError
from afterfit.metrics.kernel import RankedScores
from afterfit.metrics.resampling import resample_counts
from afterfit.predictions import Predictions
from afterfit.thresholds import (
    CostDecision,
    CostSensitiveModel,
    PerClassThresholds,
    ThresholdedModel,
    ThresholdSelection,
    make_objective,
    select_threshold,
    select_threshold_predictions,
)
from afterfit.thresholds._core import candidate_thresholds
from afterfit.thresholds._select import MAX_CURVE_POINTS, _SelectionSuite

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TIE = 1e-9

#: Every binary objective with the parameters the property test gives it.
OBJECTIVES: dict[str, dict] = {
    "f1": {},
    "fbeta": {"beta": 2.0},
    "fbeta_half": {"beta": 0.5},
    "youden": {},
    "balanced_accuracy": {},
    "cost": {"fp_cost": 1.0, "fn_cost": 4.0},
    "cost_gains": {"fp_cost": 2.0, "fn_cost": 3.0, "tp_gain": 1.0, "tn_gain": 0.5},
    "recall_at_precision": {"min_precision": 0.6},
    "precision_at_recall": {"min_recall": 0.7},
    "positive_rate": {"positive_rate": 0.3},
    "top_k": {"top_k": 5},
}


def objective_name(key: str) -> str:
    return {"fbeta_half": "fbeta", "cost_gains": "cost"}.get(key, key)


def brute_value(key: str, cm: np.ndarray, params: dict) -> float:
    """The objective (higher is better; -inf where a constraint fails) from a weighted
    scikit-learn confusion matrix ``[[tn, fp], [fn, tp]]``."""
    (tn, fp), (fn, tp) = cm
    P, N = tp + fn, tn + fp
    prec = tp / (tp + fp) if tp + fp > 0 else math.nan
    rec = tp / P
    spec = tn / N
    name = objective_name(key)
    if name in ("f1", "fbeta"):
        b2 = params.get("beta", 1.0) ** 2
        return (1 + b2) * tp / (b2 * P + tp + fp)
    if name == "youden":
        return rec + spec - 1
    if name == "balanced_accuracy":
        return (rec + spec) / 2
    if name == "cost":
        c = {"tp_gain": 0.0, "tn_gain": 0.0, **params}
        cost = c["fp_cost"] * fp + c["fn_cost"] * fn - c["tp_gain"] * tp - c["tn_gain"] * tn
        return -cost / (P + N)
    if name == "recall_at_precision":
        return rec if prec >= params["min_precision"] - 1e-12 else -math.inf
    if name == "precision_at_recall":
        ok = rec >= params["min_recall"] - 1e-12 and not math.isnan(prec)
        return prec if ok else -math.inf
    if name == "positive_rate":
        rate = (tp + fp) / (P + N)
        return rate if rate <= params["positive_rate"] + 1e-12 else -math.inf
    flagged = tp + fp
    return flagged if flagged <= params["top_k"] * (1 + 1e-12) else -math.inf


def sklearn_value(key: str, y: np.ndarray, pred: np.ndarray, w, params: dict) -> float:
    """The objective's metric with scikit-learn's own functions (natural sign)."""
    name = objective_name(key)
    kw = {"sample_weight": w}
    if name in ("f1", "fbeta"):
        return skm.fbeta_score(y, pred, beta=params.get("beta", 1.0), zero_division=np.nan, **kw)
    if name == "youden":
        return skm.recall_score(y, pred, **kw) + skm.recall_score(y, pred, pos_label=0, **kw) - 1
    if name == "balanced_accuracy":
        return skm.balanced_accuracy_score(y, pred, **kw)
    if name == "cost":
        cm = skm.confusion_matrix(y, pred, labels=[0, 1], **kw)
        return -brute_value(key, cm, params)
    if name == "recall_at_precision":
        return skm.recall_score(y, pred, **kw)
    if name == "precision_at_recall":
        return skm.precision_score(y, pred, zero_division=np.nan, **kw)
    weight = np.ones(y.size) if w is None else w
    if name == "positive_rate":
        return float(weight @ pred / weight.sum())
    return float(weight @ pred)


@st.composite
def binary_data(draw):
    n = draw(st.integers(4, 60))
    n_distinct = draw(st.integers(1, 25))
    weighted = draw(st.booleans())
    decision = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    levels = rng.normal(size=n_distinct) * (3 if decision else 1)
    if not decision:
        levels = np.round(1 / (1 + np.exp(-levels)), 6)
    s = levels[rng.integers(0, n_distinct, n)]
    y = (rng.random(n) < 0.4).astype(int)
    y[0], y[1] = 1, 0
    w = rng.choice([0.0, 0.5, 1.0, 2.0], n) if weighted else None
    if w is not None:
        w[0], w[1] = 1.0, 2.0
    return y, s, w


def brute_force(key, y, s, w, params):
    """(best value, tied candidate thresholds, their row counts) over every threshold."""
    cands = np.append(np.unique(s), np.nextafter(s.min(), -np.inf))
    values = []
    for t in cands:
        cm = skm.confusion_matrix(y, (s > t).astype(int), labels=[0, 1], sample_weight=w)
        values.append(brute_value(key, cm.astype(float), params))
    values = np.array(values, dtype=float)
    values[np.isnan(values)] = -np.inf
    best = values.max()
    tied = cands[values >= best - TIE * max(1.0, abs(best))] if np.isfinite(best) else cands[:0]
    return best, tied


@SETTINGS
@given(binary_data())
def test_every_objective_matches_brute_force(data):
    y, s, w = data
    for key, params in OBJECTIVES.items():
        name = objective_name(key)
        best, tied = brute_force(key, y, s, w, params)
        if not np.isfinite(best):
            with pytest.raises(MetricError, match="highest precision reachable"):
                select_threshold_predictions(y, s, sample_weight=w, objective=name,
                                             n_resamples=0, **params)  # fmt: skip
            continue
        sel = select_threshold_predictions(
            y, s, sample_weight=w, objective=name, n_resamples=0, **params
        )
        natural = -best if name == "cost" else best
        assert sel.value == pytest.approx(natural, abs=1e-9), key
        pred = (s > sel.threshold).astype(int)
        assert sklearn_value(key, y, pred, w, params) == pytest.approx(natural, abs=1e-9), key
        # Ties: the highest threshold, i.e. the fewest rows flagged among tied candidates.
        flagged = [int((s > t).sum()) for t in tied]
        assert int(pred.sum()) == min(flagged), key


@SETTINGS
@given(binary_data())
def test_thresholds_reproduce_counts_of_every_candidate(data):
    y, s, w = data
    sel = select_threshold_predictions(y, s, sample_weight=w, n_resamples=0)
    frame = sel.curve.frame()
    weight = np.ones(y.size) if w is None else w
    assert len(frame) == np.unique(s).size + 1  # every candidate: no thinning here
    for t, tp, fp in frame[["threshold", "tp", "fp"]].itertuples(index=False):
        pred = s > t
        assert weight @ (pred & (y == 1)) == pytest.approx(tp, abs=1e-9)
        assert weight @ (pred & (y == 0)) == pytest.approx(fp, abs=1e-9)
    # Candidates are strictly ordered and every threshold lies between observed scores.
    assert np.all(np.diff(frame["threshold"]) > 0)


def test_threshold_is_the_midpoint_with_documented_ends():
    y = np.array([0, 0, 1, 1, 0, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    sel = select_threshold_predictions(y, s, objective="f1", n_resamples=0)
    # F1 is best flagging {0.9, 0.8, 0.4, 0.35}: halfway between 0.35 and 0.2.
    assert sel.threshold == pytest.approx(0.275)
    assert sel.value == pytest.approx(6 / 7)
    t = candidate_thresholds(np.array([0.9, 0.8, 0.4, 0.35, 0.2, 0.1]))
    assert t[0] == 0.9  # nothing flagged: the highest score
    assert t[-1] == np.nextafter(0.1, -np.inf)  # everything flagged: just below the lowest
    np.testing.assert_allclose(t[1:-1], [0.85, 0.6, 0.375, 0.275, 0.15])


def test_adjacent_floats_fall_back_to_the_lower_score():
    hi = 0.5
    lo = np.nextafter(hi, 0.0)
    t = candidate_thresholds(np.array([hi, lo]))
    assert t[1] == lo  # the midpoint would round onto hi
    s = np.array([hi, lo, lo])
    y = np.array([1, 0, 0])
    sel = select_threshold_predictions(y, s, n_resamples=0)
    assert sel.threshold == lo and sel.value == 1.0
    assert np.array_equal(s > sel.threshold, y == 1)


def test_ties_in_the_objective_go_to_the_highest_threshold():
    # Flagging the top row or the top four gives F1 = 2/3 (and Youden's J = 1/2) both
    # times: the fewest rows flagged win.
    y = np.array([1, 0, 0, 1, 0, 0])
    s = np.array([0.9, 0.6, 0.5, 0.3, 0.2, 0.1])
    f1 = {t: skm.f1_score(y, (s > t).astype(int)) for t in np.append(s, 0.0)}
    assert f1[0.6] == pytest.approx(f1[0.2]) == pytest.approx(max(f1.values()))
    sel = select_threshold_predictions(y, s, n_resamples=0)
    assert sel.value == pytest.approx(2 / 3)
    assert sel.threshold == pytest.approx(0.75)
    # Youden's J and balanced accuracy have the same optimum.
    j = select_threshold_predictions(y, s, objective="youden", n_resamples=0)
    ba = select_threshold_predictions(y, s, objective="balanced-accuracy", n_resamples=0)
    assert j.threshold == ba.threshold == pytest.approx(0.75)
    assert ba.value == pytest.approx((j.value + 1) / 2)


@pytest.mark.parametrize("key", ["f1", "cost", "recall_at_precision", "top_k"])
def test_batched_bootstrap_equals_one_selection_per_resample(key):
    rng = np.random.default_rng(1)
    n = 300
    s = np.round(rng.random(n), 2)
    y = (rng.random(n) < s).astype(int)
    w = rng.choice([0.5, 1.0, 2.0], n)
    name, params = objective_name(key), OBJECTIVES[key]
    obj = make_objective(name, **params)
    ranked = RankedScores.from_arrays(y, s, w, keep_order=False)
    suite = _SelectionSuite(ranked, obj, candidate_thresholds(ranked.thresholds))
    W = resample_counts(n, 25, rng, ranked.y) * ranked.weight
    batch = suite.compute(W)
    for b in range(W.shape[0]):
        try:
            one = select_threshold_predictions(
                ranked.y, ranked.scores, sample_weight=W[b], objective=name,
                n_resamples=0, **params,
            )  # fmt: skip
        except MetricError:  # the precision target is not reachable in this resample
            assert math.isnan(batch[("threshold", None)][b])
            continue
        assert batch[("threshold", None)][b] == one.threshold
        assert batch[("optimum", None)][b] == pytest.approx(one.value, abs=1e-12)


def _data(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    s = np.round(rng.random(n), 3)
    y = (rng.random(n) < s).astype(int)
    return y, s


def test_intervals_are_seeded_and_cover_the_estimate():
    y, s = _data()
    a = select_threshold_predictions(y, s, n_resamples=200, random_state=3)
    b = select_threshold_predictions(y, s, n_resamples=200, random_state=3, n_jobs=1)
    c = select_threshold_predictions(y, s, n_resamples=200, random_state=4)
    assert a.ci == b.ci and a.value_ci == b.value_ci and a.optimum_ci == b.optimum_ci
    assert a.ci != c.ci or a.value_ci != c.value_ci
    assert a.ci[0] <= a.threshold <= a.ci[1]
    assert a.value_ci[0] <= a.value <= a.value_ci[1]
    assert a.optimum_ci[0] <= a.optimum_ci[1]
    table = a.metrics.frame()
    assert (table["method"] == "stratified bootstrap percentile").all()
    assert ((table.ci_low <= table.value + 1e-12) & (table.value <= table.ci_high + 1e-12)).all()


def test_frame_dict_plot_and_thinned_curve():
    y, s = _data(20_000, seed=2)
    s = s + np.random.default_rng(0).random(s.size) * 1e-4  # ~20,000 distinct scores
    sel = select_threshold_predictions(y, s, objective="cost", fp_cost=1, fn_cost=3,
                                       n_resamples=50, random_state=0)  # fmt: skip
    frame = sel.curve.frame()
    assert len(frame) <= MAX_CURVE_POINTS
    assert sel.curve.n_points_full == np.unique(s).size + 1
    assert sel.threshold in frame["threshold"].to_numpy()
    expected = {"threshold", "tp", "fp", "fn", "tn", "precision", "recall", "specificity",
                "f1", "balanced_accuracy", "youden", "accuracy", "expected_cost",
                "positive_rate", "predicted_positive"}  # fmt: skip
    assert expected == set(frame.columns)
    # The optimum on the thinned curve is the global one (computed on every candidate).
    assert frame["expected_cost"].min() == pytest.approx(sel.value)
    top = sel.frame()
    assert list(top.columns) == ["metric", "value", "ci_low", "ci_high", "method"]
    assert top.metric.iloc[0] == "threshold" and top.value.iloc[0] == sel.threshold
    doc = sel.to_dict()
    json.dumps(doc, allow_nan=False)
    assert doc["threshold"] == sel.threshold and doc["split"] == "validation"
    assert doc["warning"] is None and doc["parameters"]["costs"]["fn_cost"] == 3
    assert isinstance(sel.plot(), Figure)
    assert "threshold" in repr(sel)


def test_test_split_is_flagged():
    y, s = _data(500)
    sel = select_threshold_predictions(y, s, split="test", n_resamples=0)
    assert sel.split == "test" and "optimistic" in sel.warning
    assert sel.to_dict()["warning"] == sel.warning
    assert select_threshold_predictions(y, s, split="oof", n_resamples=0).warning is None
    with pytest.raises(InvalidInputError, match="split must be one of"):
        select_threshold_predictions(y, s, split="train", n_resamples=0)


def test_binary_cost_matrix_equals_scalar_costs():
    y, s = _data(800)
    a = select_threshold_predictions(y, s, objective="cost", fp_cost=2, fn_cost=7,
                                     tp_gain=1, n_resamples=0)  # fmt: skip
    b = select_threshold_predictions(y, s, objective="cost", cost_matrix=[[0, 2], [7, 0]],
                                     gain_matrix=[[0, 0], [0, 1]], n_resamples=0)  # fmt: skip
    assert a.threshold == b.threshold and a.value == pytest.approx(b.value)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"objective": "cost", "fp_cost": -1, "fn_cost": 5}, InvalidInputError, "tp_gain"),
        ({"objective": "cost", "fp_cost": 1}, InvalidInputError, "fn_cost is missing"),
        ({"objective": "cost", "fp_cost": 0, "fn_cost": 0}, InvalidInputError, "zero"),
        ({"objective": "fbeta"}, InvalidInputError, "needs beta"),
        ({"objective": "f1", "beta": 2}, InvalidInputError, "objective='fbeta'"),
        ({"objective": "recall_at_precision"}, InvalidInputError, "needs min_precision"),
        ({"objective": "precision-at", "min_precision": 1.5}, InvalidInputError, r"\(0, 1\]"),
        ({"objective": "recall-at", "min_recall": 1.2}, InvalidInputError, "best reachable"),
        ({"objective": "f1", "min_precision": 0.9}, InvalidInputError, "only used by"),
        ({"objective": "top_k", "top_k": 2.5}, InvalidInputError, "whole number"),
        ({"objective": "positive_rate", "positive_rate": 2}, InvalidInputError, "between"),
        ({"objective": "accuracy"}, InvalidInputError, "objective must be one of"),
        ({"n_resamples": 1}, InvalidInputError, "n_resamples"),
    ],
)
def test_bad_parameters(kwargs, error, match):
    y, s = _data(200)
    kwargs = {"n_resamples": 0, **kwargs}
    with pytest.raises(error, match=match):
        select_threshold_predictions(y, s, **kwargs)


def test_unreachable_precision_names_the_best_reachable():
    y = np.array([1, 0, 1, 0, 1, 0])
    s = np.array([0.9, 0.9, 0.7, 0.7, 0.2, 0.1])
    with pytest.raises(MetricError, match=r"highest precision reachable on these data is 0.6") as e:
        select_threshold_predictions(y, s, objective="precision-at", min_precision=0.9,
                                     n_resamples=0)  # fmt: skip
    assert "lower min_precision" in str(e.value)


def test_failed_resamples_warn_and_are_counted():
    rng = np.random.default_rng(0)
    s = rng.random(60)
    y = (rng.random(60) < s).astype(int)
    best = max(skm.precision_score(y, (s > t).astype(int), zero_division=0) for t in s)
    with pytest.warns(AfterfitWarning, match="no threshold met the objective"):
        sel = select_threshold_predictions(y, s, objective="precision-at",
                                           min_precision=best, n_resamples=200,
                                           random_state=0)  # fmt: skip
    assert 0 < sel.n_failed_resamples < 200


def test_one_class_and_regression_are_errors():
    with pytest.raises(MetricError, match="no rows of class"):
        select_threshold_predictions([1, 1, 1], [0.2, 0.5, 0.7], classes=[0, 1], n_resamples=0)
    with pytest.raises(MetricError, match="regression"):
        select_threshold_predictions([1.5, 2.5, 3.0], [1.0, 2.0, 3.0], n_resamples=0)


# --- multiclass ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True, as_frame=True)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(y))
    train, valid = idx[:75], idx[75:]
    model = LogisticRegression(max_iter=2000, C=0.1).fit(X.iloc[train], y.iloc[train])
    return model, X.iloc[valid], y.iloc[valid]


def test_multiclass_cost_decisions(iris):
    model, X, y = iris
    C = np.array([[0, 1, 1], [3, 0, 1], [1, 2, 0]], dtype=float)
    res = select_threshold(model, X, y, objective="cost", cost_matrix=C, n_resamples=200,
                           random_state=0)  # fmt: skip
    assert isinstance(res, CostDecision)
    proba = model.predict_proba(X)
    yv = y.to_numpy()
    decisions = np.argmin(proba @ C, axis=1)
    assert res.expected_cost.value == pytest.approx(C[yv, decisions].mean())
    argmax = C[yv, proba.argmax(1)].mean()
    assert res.argmax_cost.value == pytest.approx(argmax)
    assert res.cost_reduction.value == pytest.approx(argmax - res.expected_cost.value)
    assert not np.array_equal(decisions, proba.argmax(1))  # the costs change decisions
    lo, hi = res.expected_cost.ci_low, res.expected_cost.ci_high
    assert lo <= res.expected_cost.value <= hi
    np.testing.assert_allclose(res.confusion.counts,
                               skm.confusion_matrix(yv, decisions, labels=[0, 1, 2]))  # fmt: skip
    json.dumps(res.to_dict(), allow_nan=False)
    assert isinstance(res.plot(), Figure) and res.frame().metric.iloc[0] == "expected_cost"
    wrapped = res.apply(model)
    assert isinstance(wrapped, CostSensitiveModel)
    np.testing.assert_array_equal(wrapped.predict(X), model.classes_[decisions])
    np.testing.assert_allclose(wrapped.predict_proba(X), proba)


def test_multiclass_per_class_thresholds_are_one_vs_rest(iris):
    model, X, y = iris
    res = select_threshold(model, X, y, objective="f1", n_resamples=0)
    assert isinstance(res, PerClassThresholds)
    proba = model.predict_proba(X)
    for k, c in enumerate(model.classes_):
        one = select_threshold_predictions((y == c).astype(int), proba[:, k], n_resamples=0)
        assert res[c].threshold == one.threshold and res[c].value == pytest.approx(one.value)
    frame = res.frame()
    assert list(frame["class"]) == [str(c) for c in model.classes_]
    json.dumps(res.to_dict(), allow_nan=False)
    assert isinstance(res.plot(), Figure)
    with pytest.raises(InvalidInputError, match="no single multiclass decision rule"):
        res.apply(model)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"objective": "top_k", "top_k": 3}, MetricError, "not available for multiclass"),
        ({"objective": "positive-rate", "positive_rate": 0.1}, MetricError, "not available"),
        ({"objective": "cost"}, InvalidInputError, "needs a 3x3 cost_matrix"),
        ({"objective": "cost", "fp_cost": 1, "fn_cost": 2}, InvalidInputError, "binary errors"),
        ({"objective": "cost", "cost_matrix": [[0, 1], [1, 0]]}, InvalidInputError, "3x3"),
        ({"objective": "cost", "cost_matrix": [[0, -1, 1], [1, 0, 1], [1, 1, 0]]},
         InvalidInputError, "gain_matrix"),
        ({"objective": "f1", "cost_matrix": np.ones((3, 3))}, InvalidInputError, "used by"),
    ],
)  # fmt: skip
def test_multiclass_bad_input(iris, kwargs, error, match):
    model, X, y = iris
    with pytest.raises(error, match=match):
        select_threshold(model, X, y, n_resamples=0, **kwargs)


# --- the decision wrappers ------------------------------------------------------------


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(X.iloc[::2], y.iloc[::2])
    return model, X.iloc[1::2], y.iloc[1::2]


def test_select_threshold_on_a_model_and_apply(cancer):
    model, X, y = cancer
    sel = select_threshold(model, X, y, objective="cost", fp_cost=1, fn_cost=5,
                           n_resamples=100, random_state=0)  # fmt: skip
    assert isinstance(sel, ThresholdSelection) and sel.scores_are_probabilities
    tm = sel.apply(model)
    assert isinstance(tm, ThresholdedModel) and tm.threshold == sel.threshold
    proba = model.predict_proba(X)
    np.testing.assert_array_equal(tm.predict(X), (proba[:, 1] > sel.threshold).astype(int))
    np.testing.assert_allclose(tm.predict_proba(X), proba)
    np.testing.assert_array_equal(tm.classes_, model.classes_)
    check_is_fitted(tm)
    coef = model[-1].coef_.copy()
    assert tm.fit(X.iloc[:50], y.iloc[:50]) is tm  # a fitted estimator is never refitted
    np.testing.assert_array_equal(model[-1].coef_, coef)
    # A clone is unfitted: fit fits it, and the decision rule stays.
    refit = clone(tm).fit(X, y)
    assert refit.threshold == sel.threshold and refit.estimator is not model
    expected = (refit.estimator.predict_proba(X)[:, 1] > sel.threshold).astype(int)
    np.testing.assert_array_equal(refit.predict(X), expected)
    # The applied model's errors are those the selection reports.
    cm = skm.confusion_matrix(y, tm.predict(X))
    assert (cm[0, 1] + 5 * cm[1, 0]) / len(y) == pytest.approx(sel.value)


def test_thresholded_model_skops_round_trip_without_trust(cancer, tmp_path):
    pipeline, X, _ = cancer
    model, X = pipeline[-1], pipeline[:-1].transform(X)  # a plain LogisticRegression
    assert type(model) is LogisticRegression
    tm = ThresholdedModel(model, threshold=0.7)
    path = tmp_path / "tm.skops"
    sio.dump(tm, path)
    assert sio.get_untrusted_types(file=path) == ["afterfit.thresholds.ThresholdedModel"]
    loaded = afterfit.load_model(path)  # no trust needed
    assert isinstance(loaded.estimator, ThresholdedModel)
    np.testing.assert_array_equal(loaded.predict(X), tm.predict(X))
    np.testing.assert_array_equal(loaded.estimator.predict(X),
                                  (model.predict_proba(X)[:, 1] > 0.7).astype(int))  # fmt: skip
    cs = CostSensitiveModel(model, cost_matrix=[[0.0, 1.0], [5.0, 0.0]])
    sio.dump(cs, tmp_path / "cs.skops")
    loaded = afterfit.load_model(tmp_path / "cs.skops")
    np.testing.assert_array_equal(loaded.predict(X), cs.predict(X))


def test_as_model_wraps_a_thresholded_model(cancer):
    model, X, y = cancer
    tm = ThresholdedModel(model, threshold=0.8)
    m = afterfit.as_model(tm)
    assert m.task == "binary" and m.scores_are_probabilities
    np.testing.assert_allclose(m.predict_scores(X), model.predict_proba(X))
    np.testing.assert_array_equal(m.predict(X), tm.predict(X))
    # With the threshold passed explicitly, evaluation uses it.
    preds = Predictions.from_model(tm, X, y, threshold=tm.threshold)
    np.testing.assert_array_equal(preds.y_pred, tm.predict(X))


def test_predictions_from_model_use_the_wrappers_threshold(cancer):
    model, X, y = cancer
    tm = ThresholdedModel(model, threshold=0.8)
    preds = Predictions.from_model(tm, X, y)
    np.testing.assert_array_equal(preds.y_pred, tm.predict(X))


def test_decision_function_models_and_pos_label(cancer, tmp_path):
    model, X, y = cancer
    svc = LinearSVC(C=0.01, max_iter=20_000).fit(X.iloc[:100], y.iloc[:100])
    sel = select_threshold(svc, X, y, objective="youden", n_resamples=0)
    assert not sel.scores_are_probabilities
    tm = sel.apply(svc)
    assert tm.response_method == "decision_function" and not hasattr(tm, "predict_proba")
    np.testing.assert_array_equal(tm.predict(X), (svc.decision_function(X) > sel.threshold))
    with pytest.raises(InvalidInputError, match="decision scores"):
        sel.apply(model)  # a model with predict_proba
    sio.dump(tm, tmp_path / "svc.skops")
    np.testing.assert_array_equal(afterfit.load_model(tmp_path / "svc.skops").predict(X),
                                  tm.predict(X))  # fmt: skip
    # The negative class as the positive one: scores and labels flip together.
    sel0 = select_threshold(model, X, y, pos_label=0, objective="f1", n_resamples=0)
    tm0 = sel0.apply(model)
    assert tm0.pos_label == 0
    flagged = model.predict_proba(X)[:, 0] > sel0.threshold
    np.testing.assert_array_equal(tm0.predict(X), np.where(flagged, 0, 1))
    pred0 = (tm0.predict(X) == 0).astype(int)
    assert skm.f1_score((y == 0).astype(int), pred0) == pytest.approx(sel0.value)


def test_wrapper_errors(cancer):
    model, X, _ = cancer
    with pytest.raises(InvalidInputError, match="pos_label"):
        ThresholdedModel(model, 0.5, pos_label=7).predict(X)
    with pytest.raises(afterfit.ModelError, match="not fitted"):
        ThresholdedModel(LogisticRegression(), 0.5).fit()
    with pytest.raises(afterfit.ModelError, match="has not been fitted"):
        afterfit.as_model(ThresholdedModel(LogisticRegression(), 0.5))
    iris_X, iris_y = load_iris(return_X_y=True)
    multi = LogisticRegression(max_iter=1000).fit(iris_X, iris_y)
    with pytest.raises(afterfit.ModelError, match="binary"):
        ThresholdedModel(multi, 0.5).predict(iris_X)
    with pytest.raises(InvalidInputError, match="3x3"):
        CostSensitiveModel(multi, cost_matrix=[[0, 1], [1, 0]]).predict(iris_X)


def test_public_api_and_weights_frames():
    assert afterfit.select_threshold is select_threshold
    assert afterfit.ThresholdedModel is ThresholdedModel
    y, s = _data(300)
    frame = pd.DataFrame({"y": y, "s": s})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sel = select_threshold_predictions(
            frame["y"], frame["s"], n_resamples=20, sample_weight=np.full(300, 2.0), random_state=0
        )
    assert sel.weighted and sel.n_rows == 300  # fmt: skip
    same = select_threshold_predictions(y, s, n_resamples=0)
    assert same.threshold == sel.threshold and same.value == pytest.approx(sel.value)


def test_sklearn_fixed_threshold_classifier_is_evaluated_at_its_threshold(cancer):
    from sklearn.model_selection import FixedThresholdClassifier

    model, X, y = cancer
    fixed = FixedThresholdClassifier(model, threshold=0.3).fit(X, y)
    preds = Predictions.from_model(fixed, X, y)
    assert preds.threshold == 0.3
    np.testing.assert_array_equal(preds.classes[preds.y_pred], fixed.predict(X))


def test_cost_sensitive_model_is_evaluated_with_its_decisions():
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    base = LogisticRegression(max_iter=2000).fit(X, y)
    costs = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 20.0], [1.0, 1.0, 0.0]])
    model = CostSensitiveModel(base, costs)
    preds = Predictions.from_model(model, X, y)
    np.testing.assert_array_equal(preds.classes[preds.y_pred], model.predict(X))
    assert not np.array_equal(model.predict(X), base.predict(X))
