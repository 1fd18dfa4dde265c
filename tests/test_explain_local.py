"""Per-row explanations side by side, SHAP-LIME agreement, time budgets and explain_model."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from afterfit.errors import InvalidInputError, MetricError
from afterfit.explain import (
    explain_local,
    explain_model,
    explain_row,
    rank_agreement,
    write_explanations,
)

FAST_ANCHORS = {"max_anchor_size": 2, "coverage_samples": 500, "batch_size": 100, "tau": 0.5}


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    Xtr, Xte, ytr, yte = X.iloc[:400], X.iloc[400:], y.iloc[:400], y.iloc[400:]
    model = RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0).fit(Xtr, ytr)
    return model, Xtr, Xte, yte


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True, as_frame=True)
    return LogisticRegression(max_iter=1000).fit(X, y), X, y


# --- agreement -------------------------------------------------------------------------------


def test_agreement_is_one_when_rankings_match():
    shap = {"a": 0.5, "b": -0.3, "c": 0.2, "d": 0.1, "e": 0.05, "f": 0.01}
    lime = {"a": 0.05, "b": -0.03, "c": 0.02, "d": 0.01, "e": 0.004}
    a = rank_agreement(shap, lime, k=5)
    assert a.overlap == 5 and a.jaccard == 1.0 and a.kendall_tau == pytest.approx(1.0)
    assert a.sign_agreement == 1.0 and a.agree
    assert a.shap_top == ("a", "b", "c", "d", "e")


def test_agreement_low_on_constructed_disagreement():
    shap = {"a": 0.5, "b": 0.4, "c": 0.3, "d": 0.2, "e": 0.1, "f": 0.0, "g": 0.0}
    lime = {"f": 0.5, "g": 0.4, "e": 0.01}
    a = rank_agreement(shap, lime, k=3)
    assert a.overlap == 0 and a.jaccard == 0.0 and not a.agree
    assert a.kendall_tau < 0  # SHAP's top are LIME's zeros and the reverse
    # same features, reversed order: Jaccard 1 but tau -1 flags it
    rev = rank_agreement({"a": 3, "b": 2, "c": 1}, {"a": 1, "b": 2, "c": 3}, k=3)
    assert rev.jaccard == 1.0 and rev.kendall_tau == pytest.approx(-1.0) and not rev.agree
    # opposite signs on shared features
    signs = rank_agreement({"a": 3, "b": -2}, {"a": -3, "b": 2}, k=2)
    assert signs.sign_agreement == 0.0
    json.dumps(a.to_dict(), allow_nan=False)
    with pytest.raises(InvalidInputError, match="'k'"):
        rank_agreement(shap, lime, k=0)


# --- one row ---------------------------------------------------------------------------------


def test_explain_row_breast_cancer_side_by_side(cancer):
    model, Xtr, Xte, _ = cancer
    ex = explain_row(model, Xte.iloc[3], train=Xtr, random_state=0, num_samples=1000,
                     anchor_options=FAST_ANCHORS)  # fmt: skip
    assert ex.shap.additivity.within_tolerance
    assert abs(ex.shap.base_value + ex.shap.contributions.sum() - ex.shap.output) < 1e-6
    # SHAP explains the probability of the positive class, and so does LIME
    p1 = model.predict_proba(Xte.iloc[[3]])[0, 1]
    assert ex.shap.output == pytest.approx(p1) and ex.lime.prediction_model == pytest.approx(p1)
    assert ex.explained == "P(class=1)" and ex.lime.target == "P(class=1)"
    assert np.isfinite(ex.lime.fidelity)
    assert ex.anchor.label == model.predict(Xte.iloc[[3]])[0]
    assert ex.agreement is not None and 0 <= ex.agreement.jaccard <= 1
    assert ex.label == Xte.index[3] and ex.position is None
    df = ex.frame()
    assert {"feature", "value", "shap", "shap_rank", "lime_rule", "lime_weight",
            "in_anchor"} <= set(df.columns)  # fmt: skip
    assert df["shap_rank"].iloc[0] == 1
    # the LIME rules map back to feature names
    assert set(ex.lime.columns) <= set(df["feature"])
    json.dumps(ex.to_dict(), allow_nan=False)
    fig = ex.plot()
    assert len(fig.axes) == 2
    # reproducible
    again = explain_row(model, Xte.iloc[3], train=Xtr, random_state=0, num_samples=1000,
                        anchor_options=FAST_ANCHORS)  # fmt: skip
    np.testing.assert_array_equal(again.lime.weights, ex.lime.weights)
    assert again.anchor.rule == ex.anchor.rule


def test_explain_row_multiclass_explains_the_predicted_class(iris):
    model, X, _ = iris
    row = X.iloc[120]
    ex = explain_row(model, row, methods=("shap", "lime"), train=X, random_state=0,
                     num_samples=500)  # fmt: skip
    k = int(np.argmax(model.predict_proba(X.iloc[[120]])[0]))
    assert ex.explained_class == model.classes_[k]
    assert ex.shap.target == f"class {model.classes_[k]}"
    assert ex.shap.additivity.within_tolerance
    assert ex.lime.label == model.classes_[k]


def test_explain_row_array_and_errors(cancer):
    model, Xtr, Xte, _ = cancer
    ex = explain_row(model, Xte.iloc[0].to_numpy(), methods=["shap"], train=Xtr)
    assert ex.position is None and ex.label is None and ex.lime is None
    with pytest.raises(InvalidInputError, match="LIME need training rows"):
        explain_row(model, Xte.iloc[0], methods=["lime"])
    with pytest.raises(InvalidInputError, match="SHAP needs background"):
        explain_row(model, Xte.iloc[0], methods=["shap"])
    with pytest.raises(InvalidInputError, match="Unknown explanation method"):
        explain_row(model, Xte.iloc[0], methods=["shapley"], train=Xtr)
    with pytest.raises(InvalidInputError, match="one row"):
        explain_row(model, Xte.iloc[:2], methods=["shap"], train=Xtr)
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    reg = LinearRegression().fit(X, y)
    with pytest.raises(InvalidInputError, match="regression model"):
        explain_row(reg, X.iloc[0], methods=["anchors"], train=X)
    # by default anchors are left out for regression
    ex = explain_row(reg, X.iloc[0], methods=None, train=X, num_samples=500, random_state=0)
    assert ex.anchor is None and ex.shap is not None and ex.explained == "prediction"


def test_linear_model_shap_and_lime_agree():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(600, 6)), columns=list("abcdef"))
    y = 8 * X["a"] - 4 * X["b"] + 2 * X["c"] + 0.1 * rng.normal(size=600)
    model = LinearRegression().fit(X, y)
    # a row far from the centre on a, b, c, so their contributions are large
    row = pd.Series({"a": 2.0, "b": -1.8, "c": 1.5, "d": 0.1, "e": -0.1, "f": 0.05})
    ex = explain_row(model, row, methods=("shap", "lime"), train=X, random_state=0,
                     num_samples=2000, top_k=3)  # fmt: skip
    assert ex.shap.frame()["feature"].tolist()[:3] == ["a", "b", "c"]
    assert ex.agreement.shap_top == ex.agreement.lime_top == ("a", "b", "c")
    assert ex.agreement.jaccard == 1.0 and ex.agreement.agree
    assert ex.agreement.sign_agreement == 1.0


# --- several rows ----------------------------------------------------------------------------


def test_explain_local_selection_and_reasons(cancer):
    model, Xtr, Xte, yte = cancer
    loc = explain_local(model, Xte, yte, rows=[5], methods=("shap", "lime"), train=Xtr,
                        n_errors=2, n_uncertain=1, n_random=1, num_samples=500,
                        random_state=0)  # fmt: skip
    assert [r.reason for r in loc.rows] == ["user", "confident error", "confident error",
                                            "least confident", "random"]  # fmt: skip
    assert loc.rows[0].position == 5 and loc.rows[0].label == Xte.index[5]
    assert all(r.shap.additivity.within_tolerance for r in loc.rows)
    assert all(r.true_value is not None for r in loc.rows)
    assert len(loc.agreement_frame()) == len(loc)
    assert {"position", "reason", "lime_fidelity", "jaccard", "agree"} <= set(loc.frame())
    json.dumps(loc.to_dict(), allow_nan=False)
    loc.plot()
    assert loc.row(5) is loc.rows[0]
    # each row's explanation is its own: the same seed gives the same weights alone
    alone = explain_local(model, Xte, rows=[5], methods=("lime",), train=Xtr,
                          num_samples=500, random_state=0)  # fmt: skip
    np.testing.assert_array_equal(alone.rows[0].lime.weights, loc.rows[0].lime.weights)


def test_explain_local_needs_rows_without_y(cancer):
    model, Xtr, Xte, _ = cancer
    with pytest.raises(InvalidInputError, match="needs the rows to explain"):
        explain_local(model, Xte, methods=("shap",), train=Xtr)
    with pytest.raises(InvalidInputError, match="out of range"):
        explain_local(model, Xte, rows=[10_000], methods=("shap",), train=Xtr)
    with pytest.raises(InvalidInputError, match="not in the data's index"):
        explain_local(model, Xte, rows=["nope"], methods=("shap",), train=Xtr)


def test_time_budget_skips_rows_and_says_so(iris):
    model, X, y = iris
    loc = explain_local(model, X, y, methods=("shap", "lime", "anchors"), num_samples=300,
                        anchor_options=FAST_ANCHORS, time_budget=0, random_state=0)  # fmt: skip
    n = len(loc)
    assert n > 3
    # each slow method explains the first row, then the budget (0 s) is spent
    assert loc.rows[0].lime is not None and loc.rows[0].anchor is not None
    assert all(r.lime is None and r.anchor is None for r in loc.rows[1:])
    # SHAP of a linear model is exact and fast: not under the budget
    assert all(r.shap is not None for r in loc.rows)
    assert len(loc.skipped) == 2 * (n - 1)
    assert all("time budget" in s.reason for s in loc.skipped)
    assert {s.method for s in loc.rows[1].skipped} == {"lime", "anchors"}
    assert "lime, anchors" in loc.frame()["skipped"].iloc[1]
    d = loc.to_dict()
    assert len(d["skipped"]) == 2 * (n - 1) and d["skipped"][0]["position"] is not None
    # no training data: numeric features are sampled from X, and a note says so
    assert any("sampled perturbations from the explained data" in t for t in loc.notes)
    with pytest.raises(InvalidInputError, match="time_budget"):
        explain_local(model, X, y, time_budget=-1)


def test_categorical_features_without_train_are_an_error():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=200), "colour": rng.choice(["red", "blue"], 200)})
    y = (X["x"] > 0).astype(int)
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import OneHotEncoder

    model = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["colour"]), remainder="passthrough"),
        LogisticRegression(),
    ).fit(X, y)
    # a failing method is named with its reason and fix, never raised past the others
    loc = explain_local(model, X, y, methods=("lime",), n_errors=0, n_uncertain=0, n_random=1)
    (skip,) = loc.skipped
    assert skip.failed and skip.method == "lime"
    assert "categorical column(s) are 'colour'" in skip.reason and "--train" in skip.reason
    loc = explain_local(model, X, y, methods=("lime",), train=X, n_errors=1, n_uncertain=1,
                        n_random=0, num_samples=300, random_state=0)  # fmt: skip
    assert all(r.lime is not None for r in loc.rows)


# --- the whole step --------------------------------------------------------------------------


@pytest.mark.slow
def test_explain_model_global_and_local(cancer, tmp_path):
    model, Xtr, Xte, yte = cancer
    calls = []
    ex = explain_model(model, Xte, yte, train=Xtr, rows=[0], n_repeats=3, n_errors=1,
                       n_uncertain=1, n_random=1, num_samples=500, shap_max_rows=60,
                       anchor_options=FAST_ANCHORS, random_state=0,
                       progress=lambda *a: calls.append(a))  # fmt: skip
    assert ex.methods == ("permutation", "shap", "lime", "anchors", "pdp")
    assert ex.permutation.metric == "roc_auc" and ex.chance == 0.5
    assert ex.shap.n_rows == 60 and ex.shap.additivity.within_tolerance
    df = ex.frame()
    assert {"permutation", "permutation_ci_low", "mean_abs_shap", "shap_ci_high"} <= set(df)
    assert len(df) == Xte.shape[1]
    assert (df["shap_ci_low"] <= df["mean_abs_shap"] + 1e-12).all()
    assert [r.reason for r in ex.local.rows] == ["user", "confident error", "least confident",
                                                 "random"]  # fmt: skip
    steps = {"permutation", "shap", "lime", "anchors", "shap (global)", "pdp"}
    assert {c[0] for c in calls} == steps
    d = ex.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert '"interval": "bootstrap percentile over the explained rows"' in text
    written = write_explanations(ex, tmp_path / "out", source={"model": "rf"})
    doc = json.loads((tmp_path / "out" / "explanations.json").read_text())
    assert doc["schema"] == "afterfit.explanations" and doc["source"] == {"model": "rf"}
    assert len(doc["explanations"]["local"]["rows"]) == 4
    assert "tables/importance.csv" in written and "figures/shap_beeswarm.png" in written
    assert "figures/row_0.png" in written and "tables/agreement.csv" in written


def test_explain_model_is_reproducible(iris):
    model, X, y = iris
    kwargs = dict(methods="permutation,shap,lime", n_repeats=3, num_samples=300,
                  n_errors=1, n_uncertain=1, n_random=2, random_state=7)  # fmt: skip
    a = explain_model(model, X, y, **kwargs)
    b = explain_model(model, X, y, **kwargs)
    pd.testing.assert_frame_equal(a.frame(), b.frame())
    pd.testing.assert_frame_equal(a.local.frame(), b.local.frame())
    assert a.permutation.metric == "roc_auc_ovr_macro" and a.chance == 0.5
    c = explain_model(model, X, y, **{**kwargs, "random_state": 8})
    assert not np.array_equal(c.permutation.importances, a.permutation.importances)


def test_explain_model_flags_a_leak():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    noise = 0.01 * np.random.default_rng(0).normal(size=len(y))
    X = X.iloc[:, :6].assign(leak=y.to_numpy() + noise)
    model = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X[:400], y[:400])
    ex = explain_model(model, X[400:], y[400:], train=X[:400], methods="permutation,shap",
                       n_repeats=3, random_state=0)  # fmt: skip
    flags = ex.flags()
    assert [f.kind for f in flags] == ["leakage"] and flags[0].feature == "leak"
    assert "leakage suspect: feature 'leak'" in flags[0].text


def test_explain_model_metric_needs_probabilities():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    svm = make_pipeline(StandardScaler(), LinearSVC()).fit(X, y)
    with pytest.raises(MetricError, match="needs class probabilities"):
        explain_model(svm, X, y, methods=["permutation"], metric="log_loss")
    # the default metric (ROC AUC) works on decision scores, and so does LIME
    ex = explain_model(svm, X[:100], y[:100], methods=["permutation", "lime"], n_repeats=2,
                       train=X, n_errors=1, n_uncertain=0, n_random=0, num_samples=300)  # fmt: skip
    assert ex.local.rows[0].explained.startswith("score(class=")


def test_explain_model_bad_input(cancer):
    model, _, Xte, yte = cancer
    with pytest.raises(InvalidInputError, match="Unknown explanation method"):
        explain_model(model, Xte, yte, methods="permutation,magic")
    with pytest.raises(InvalidInputError, match="needs the true values"):
        explain_model(model, Xte, None)
    with pytest.raises(InvalidInputError, match="out of range"):
        explain_model(model, Xte, yte, rows=[999], methods="permutation")
