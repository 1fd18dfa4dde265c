"""Tests of LIME for tables (afterfit.explain.lime)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from afterfit.errors import AfterfitError, InvalidInputError, SchemaError
from afterfit.explain.lime import (
    LimeExplanation,
    LimeTabular,
    QuartileDiscretizer,
    explain_rows,
    forward_selection,
    highest_weights,
    lime_kernel,
    weighted_r2,
)


@pytest.fixture(scope="module")
def diabetes() -> tuple[pd.DataFrame, LinearRegression]:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return X, LinearRegression().fit(X, y)


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, LogisticRegression]:
    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, LogisticRegression(max_iter=1000).fit(X, y)


# --- the algorithm's pieces -------------------------------------------------------------------


def test_discretizer_bins_are_training_quartiles(diabetes):
    X, _ = diabetes
    disc = QuartileDiscretizer(X, list(X.columns))
    for c in X.columns:
        expected = np.unique(np.percentile(X[c].to_numpy(), [25, 50, 75]))
        np.testing.assert_array_equal(disc.edges[c], expected)
        bins = disc.discretize(c, X[c].to_numpy())
        np.testing.assert_array_equal(bins, np.searchsorted(expected, X[c].to_numpy()))
        np.testing.assert_allclose(disc.frequencies[c].sum(), 1.0)
    q = disc.edges["bmi"]
    assert disc.rule("bmi", 0) == f"bmi <= {q[0]:.2f}"
    assert disc.rule("bmi", 1) == f"{q[0]:.2f} < bmi <= {q[1]:.2f}"
    assert disc.rule("bmi", 3) == f"bmi > {q[2]:.2f}"


def test_undiscretize_stays_inside_the_bin(diabetes):
    X, _ = diabetes
    disc = QuartileDiscretizer(X, ["bmi"])
    rng = np.random.default_rng(0)
    bins = rng.integers(0, 4, size=2000)
    values = disc.undiscretize("bmi", bins, rng)
    assert np.all(values >= disc.mins["bmi"][bins] - 1e-12)
    assert np.all(values <= disc.maxs["bmi"][bins] + 1e-12)
    np.testing.assert_array_equal(disc.discretize("bmi", values), bins)


def test_kernel():
    d = np.array([0.0, 1.0, 2.0, 3.5])
    width = 0.75 * math.sqrt(10)
    np.testing.assert_allclose(lime_kernel(d, width), np.sqrt(np.exp(-(d**2) / width**2)))
    assert lime_kernel(np.array([0.0]), 1.0)[0] == 1.0


def test_default_kernel_width_and_binary_distances(diabetes):
    X, _ = diabetes
    ex = LimeTabular(X)
    assert ex.kernel_width == pytest.approx(0.75 * math.sqrt(X.shape[1]))
    row = X.iloc[3]
    perturbed, data, distances, rules = ex._sample(row, 500, np.random.default_rng(1))
    assert perturbed.shape == (500, X.shape[1])
    assert set(np.unique(data)) <= {0.0, 1.0}
    np.testing.assert_array_equal(data[0], 1.0)
    pd.testing.assert_series_equal(perturbed.iloc[0], row, check_names=False)
    # Euclidean distance on the binary representation: sqrt(number of differing features).
    np.testing.assert_allclose(distances, np.sqrt((1.0 - data).sum(axis=1)))
    assert len(rules) == X.shape[1]


def test_fidelity_is_weighted_r2(diabetes):
    X, model = diabetes
    ex = LimeTabular(X, random_state=3)
    row = X.iloc[5]
    exp = ex.explain(model, row, num_features=4, num_samples=1000)
    # Recompute the samples with the same seed and refit the surrogate.
    _, data, distances, _ = ex._sample(ex._row(row), 1000, np.random.default_rng(3))
    perturbed, _, _, _ = ex._sample(ex._row(row), 1000, np.random.default_rng(3))
    y = model.predict(perturbed)
    w = lime_kernel(distances, ex.kernel_width)
    cols = [list(X.columns).index(c) for c in exp.columns]
    from sklearn.linear_model import Ridge

    ridge = Ridge(alpha=1.0).fit(data[:, cols], y, sample_weight=w)
    np.testing.assert_allclose(ridge.coef_, exp.weights, rtol=1e-8)
    expected = r2_score(y, ridge.predict(data[:, cols]), sample_weight=w)
    assert exp.fidelity == pytest.approx(expected, rel=1e-10)
    assert weighted_r2(y, ridge.predict(data[:, cols]), w) == pytest.approx(expected, rel=1e-12)
    assert exp.prediction_model == pytest.approx(model.predict(X.iloc[[5]])[0])
    assert exp.prediction_local == pytest.approx(exp.intercept + exp.weights.sum())


def test_feature_selection_finds_the_informative_columns():
    rng = np.random.default_rng(0)
    data = rng.integers(0, 2, size=(400, 8)).astype(float)
    data[0] = 1.0
    y = 3.0 * data[:, 2] - 2.0 * data[:, 5] + 0.5 * data[:, 7] + rng.normal(0, 0.01, 400)
    w = np.ones(400)
    assert set(forward_selection(data, y, w, 2)) == {2, 5}
    assert list(forward_selection(data, y, w, 3)) == [2, 5, 7]
    assert set(highest_weights(data, y, w, 2)) == {2, 5}


# --- behaviour on models ---------------------------------------------------------------------


def test_linear_regression_top_features_have_largest_coef_times_spread(diabetes):
    X, model = diabetes
    contribution = pd.Series(np.abs(model.coef_ * X.std().to_numpy()), index=X.columns)
    top = contribution.sort_values(ascending=False).index
    ex = LimeTabular(X, random_state=0)
    disc = ex.discretizer
    for i in range(8):
        row = X.iloc[i]
        exp = ex.explain(model, row, num_features=5)
        assert top[0] in exp.columns, (i, exp.columns)
        assert len(set(top[:3]) & set(exp.columns)) >= 2, (i, exp.columns)
        # With quartile bins a feature's spread, seen from the row, is the gap between the
        # mean of the row's bin and the mean outside it: coef x that gap is what LIME's
        # weight estimates, so the 3 largest are in LIME's top 5.
        gap = {}
        for j, c in enumerate(X.columns):
            b0 = int(disc.discretize(c, [row[c]])[0])
            f, m = disc.frequencies[c], disc.means[c]
            out = np.arange(len(f)) != b0
            gap[c] = abs(model.coef_[j] * (m[b0] - np.sum(f[out] * m[out]) / f[out].sum()))
        expected = sorted(gap, key=gap.get, reverse=True)[:3]
        assert set(expected) <= set(exp.columns), (i, expected, exp.columns)
        for c, w in zip(exp.columns, exp.weights, strict=True):
            if c in expected:
                assert abs(w) == pytest.approx(gap[c], rel=0.25)
        assert list(np.abs(exp.weights)) == sorted(np.abs(exp.weights), reverse=True)


def test_undiscretized_weights_are_coef_times_std(diabetes):
    X, model = diabetes
    exp = LimeTabular(X, discretize=False, random_state=0).explain(
        model, X.iloc[0], num_features=10, num_samples=3000
    )
    expected = pd.Series(model.coef_ * X.std(ddof=0).to_numpy(), index=X.columns)
    got = pd.Series(exp.weights, index=list(exp.columns))[X.columns]
    np.testing.assert_allclose(got, expected, rtol=0.01, atol=0.05)
    assert exp.fidelity == pytest.approx(1.0, abs=1e-4)
    assert exp.features == exp.columns


def test_classification_explains_predicted_class_probability(iris):
    X, model = iris
    row = X.iloc[120]
    exp = LimeTabular(X).explain(model, row, num_features=3, num_samples=2000)
    predicted = model.predict(X.iloc[[120]])[0]
    assert exp.label == predicted
    assert exp.target == f"P(class={predicted})"
    k = list(model.classes_).index(predicted)
    assert exp.prediction_model == pytest.approx(model.predict_proba(X.iloc[[120]])[0, k])
    both = LimeTabular(X).explain(model, row, num_features=3, num_samples=2000, labels=[0, 2])
    assert isinstance(both, tuple) and [e.label for e in both] == [0, 2]
    assert "petal" in both[0].columns[0]
    with pytest.raises(InvalidInputError, match="not one of the model's classes"):
        LimeTabular(X).explain(model, row, labels=7)


def test_reproducible_with_a_seed(diabetes):
    X, model = diabetes
    a = LimeTabular(X, random_state=7).explain(model, X.iloc[2], num_samples=1000)
    ex = LimeTabular(X, random_state=7)
    ex.explain(model, X.iloc[9], num_samples=1000)  # an earlier call changes nothing
    b = ex.explain(model, X.iloc[2], num_samples=1000)
    pd.testing.assert_frame_equal(a.frame(), b.frame())
    assert a.fidelity == b.fidelity
    c = LimeTabular(X, random_state=8).explain(model, X.iloc[2], num_samples=1000)
    assert not np.array_equal(a.weights, c.weights)


def test_one_batched_model_call(diabetes):
    X, model = diabetes
    calls: list[int] = []

    class Counting:
        task = "regression"
        classes_ = None
        scores_are_probabilities = False

        def __init__(self):
            self.feature_names = list(X.columns)

        def predict_scores(self, rows):
            calls.append(len(rows))
            return model.predict(rows)

        def predict(self, rows):
            return self.predict_scores(rows)

    LimeTabular(X).explain(Counting(), X.iloc[0], num_samples=1234)
    assert calls == [1234]


def test_row_formats_and_categorical_features():
    rng = np.random.default_rng(0)
    n = 600
    X = pd.DataFrame(
        {
            "color": rng.choice(["red", "green", "blue"], size=n),
            "size": rng.normal(size=n),
            "noise": rng.normal(size=n),
        }
    )
    y = 2.0 * (X["color"] == "red") + X["size"]
    pre = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["color"]), remainder="passthrough"),
        LinearRegression(),
    ).fit(X, y)
    ex = LimeTabular(X, random_state=0)
    assert ex.categorical == ["color"]
    row = X.iloc[np.flatnonzero(X["color"] == "red")[0]]
    exp = ex.explain(pre, row, num_features=2, num_samples=2000)
    assert set(exp.columns) == {"color", "size"}
    assert "color = red" in exp.features
    weight = dict(zip(exp.columns, exp.weights, strict=True))["color"]
    assert weight == pytest.approx(2.0, rel=0.1)
    same_frame = ex.explain(pre, row.to_frame().T, num_features=2, num_samples=2000)
    same_array = ex.explain(pre, row.to_numpy(), num_features=2, num_samples=2000)
    pd.testing.assert_frame_equal(exp.frame(), same_frame.frame())
    pd.testing.assert_frame_equal(exp.frame(), same_array.frame())
    # categorical_features by position gives the same explainer
    assert LimeTabular(X, categorical_features=[0]).categorical == ["color"]


def test_result_frame_dict_plot(diabetes):
    X, model = diabetes
    exp = LimeTabular(X).explain(model, X.iloc[0], num_features=4, num_samples=500)
    assert isinstance(exp, LimeExplanation)
    frame = exp.frame()
    assert list(frame.columns) == ["feature", "column", "weight", "value"]
    assert len(frame) == 4
    assert frame["value"].tolist() == [X.iloc[0][c] for c in exp.columns]
    d = exp.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["method"] == "lime" and len(d["features"]) == 4
    fig = exp.plot()
    assert fig.axes and len(fig.axes[0].patches) == 4
    with pytest.raises(AttributeError):
        exp.fidelity = 0.0  # frozen


def test_explain_rows(diabetes):
    X, model = diabetes
    out = explain_rows(model, X.iloc[:3], train=X, num_features=3, num_samples=500)
    assert len(out) == 3 and all(isinstance(e, LimeExplanation) for e in out)
    again = explain_rows(model, X.iloc[:3], train=X, num_features=3, num_samples=500)
    for a, b in zip(out, again, strict=True):
        pd.testing.assert_frame_equal(a.frame(), b.frame())
    with pytest.raises(InvalidInputError, match="training data"):
        explain_rows(model, X.iloc[:3], train=None)


# --- errors -----------------------------------------------------------------------------------


def test_categorical_feature_without_training_data(diabetes):
    X, _ = diabetes
    with pytest.raises(InvalidInputError, match="'color' is not a column of the training") as e:
        LimeTabular(X, categorical_features=["color"])
    assert isinstance(e.value, AfterfitError) and "Fix:" in str(e.value)
    with pytest.raises(InvalidInputError, match="position 99"):
        LimeTabular(X, categorical_features=[99])
    with pytest.raises(InvalidInputError, match="needs training data"):
        LimeTabular(None)


def test_row_with_columns_the_training_data_lacks(diabetes):
    X, model = diabetes
    ex = LimeTabular(X)
    row = X.iloc[0].copy()
    row["extra"] = 1.0
    with pytest.raises(SchemaError, match="training data lacks: 'extra'"):
        ex.explain(model, row)
    with pytest.raises(SchemaError, match="lacks 1 training column"):
        ex.explain(model, X.iloc[0].drop("bmi"))
    with pytest.raises(SchemaError, match="training data has 10 columns"):
        ex.explain(model, np.zeros(3))
    with pytest.raises(InvalidInputError, match="one row"):
        ex.explain(model, X.iloc[:2])
    bad = X.iloc[0].copy()
    bad["bmi"] = np.nan
    with pytest.raises(InvalidInputError, match="finite number"):
        ex.explain(model, bad)
    with pytest.raises(InvalidInputError, match="num_features"):
        ex.explain(model, X.iloc[0], num_features=0)


def test_nan_in_training_data():
    X = pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0], "b": [1.0, 2.0, 3.0, 4.0]})
    # discretised (the default), missing values are a bin of their own; undiscretised,
    # LIME needs a mean and spread (tests/test_explain_pipelines.py covers the bin)
    with pytest.raises(InvalidInputError, match="missing values"):
        LimeTabular(X, discretize=False)


# --- oracle: the lime package -----------------------------------------------------------------


def test_top_features_agree_with_lime_package():
    """Top-5 features agree with the ``lime`` package's on three rows (overlap >= 3 of 5).

    ``lime`` is the oracle, installed by the test extras only (it is unmaintained; afterfit
    does not depend on it).
    """
    from lime import lime_tabular

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    reg = LinearRegression().fit(X, y)
    Xb, yb = load_breast_cancer(return_X_y=True, as_frame=True)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(Xb, yb)
    cases = [(X, reg, "regression"), (Xb, clf, "classification")]
    for data, model, mode in cases:
        theirs_explainer = lime_tabular.LimeTabularExplainer(
            data.to_numpy(),
            feature_names=list(data.columns),
            mode=mode,
            discretize_continuous=True,
            random_state=0,
        )
        ours_explainer = LimeTabular(data, random_state=0)
        for i in (0, 1, 2):
            row = data.iloc[i]
            ours = ours_explainer.explain(model, row, num_features=5, num_samples=5000)
            if mode == "regression":

                def predict(a, model=model, columns=data.columns):
                    return model.predict(pd.DataFrame(a, columns=columns))

                exp = theirs_explainer.explain_instance(
                    row.to_numpy(), predict, num_features=5, num_samples=5000
                )
                pairs = exp.as_map()[1]
            else:
                k = list(model.classes_).index(ours.label)

                def predict_proba(a, model=model, columns=data.columns):
                    return model.predict_proba(pd.DataFrame(a, columns=columns))

                exp = theirs_explainer.explain_instance(
                    row.to_numpy(), predict_proba, labels=(k,), num_features=5, num_samples=5000
                )
                pairs = exp.as_map()[k]
            theirs = {data.columns[j] for j, _ in pairs}
            overlap = len(theirs & set(ours.columns))
            assert overlap >= 3, (mode, i, sorted(theirs), ours.columns)
