"""SHAP values (issue 5): algorithm choice, additivity, shapes, shap as the oracle."""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

shap = pytest.importorskip("shap")

from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris  # noqa: E402
from sklearn.ensemble import (  # noqa: E402
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.svm import SVC  # noqa: E402

from afterfit.errors import (  # noqa: E402
    AfterfitError,
    InvalidInputError,
    MissingDependencyError,
    SchemaError,
)
from afterfit.explain.permutation import permutation_importance  # noqa: E402
from afterfit.explain.shap_values import ShapValues, shap_values  # noqa: E402


@pytest.fixture(scope="module")
def cancer() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y


@pytest.fixture(scope="module")
def forest(cancer):
    X, y = cancer
    return RandomForestClassifier(n_estimators=30, max_depth=5, random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, y


# --- additivity and algorithm choice -------------------------------------------------------


def test_random_forest_tree_probability_additive(cancer, forest):
    X, _ = cancer
    sv = shap_values(forest, X.iloc[:60], background=X, max_background=50, random_state=0)
    assert isinstance(sv, ShapValues)
    assert sv.algorithm == "tree"
    assert sv.output == "probability"
    assert sv.values.shape == (60, X.shape[1])
    assert sv.base_values.shape == (60,)
    assert sv.feature_names == tuple(X.columns)
    assert sv.additivity.max_abs_error < 1e-6
    assert sv.additivity.within_tolerance
    # The sums are probabilities of the positive class.
    p = forest.predict_proba(X.iloc[:60])[:, 1]
    np.testing.assert_allclose(sv.base_values + sv.values.sum(axis=1), p, atol=1e-6)
    assert len(sv.background) == 50 and sv.n_background_total == len(X)


def test_gradient_boosting_regressor_tree_raw_additive():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = GradientBoostingRegressor(n_estimators=50, max_depth=3, random_state=0).fit(X, y)
    sv = shap_values(model, X.iloc[:80], background=X, random_state=0)
    assert (sv.algorithm, sv.output, sv.task) == ("tree", "raw", "regression")
    assert sv.values.shape == (80, X.shape[1])
    assert sv.additivity.within_tolerance
    rel = sv.additivity.max_abs_error / max(1.0, np.abs(model.predict(X.iloc[:80])).max())
    assert rel < 1e-6


def test_logistic_regression_linear_log_odds(cancer):
    X, y = cancer
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(X, y)
    Xs = pd.DataFrame(model[0].transform(X), columns=X.columns)
    lr = model[-1]
    sv = shap_values(lr, Xs.iloc[:50], background=Xs, random_state=0)
    assert (sv.algorithm, sv.output) == ("linear", "log_odds")
    assert sv.additivity.max_abs_error < 1e-6
    np.testing.assert_allclose(
        sv.base_values + sv.values.sum(axis=1),
        lr.decision_function(Xs.iloc[:50].to_numpy()),
        atol=1e-6,
    )


def test_linear_regression_linear_raw():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = LinearRegression().fit(X, y)
    sv = shap_values(model, X.iloc[:30], background=X, random_state=0)
    assert (sv.algorithm, sv.output) == ("linear", "raw")
    assert sv.additivity.within_tolerance
    # A linear model's SHAP value is coef * (x - mean of the background).
    expected = model.coef_ * (X.iloc[:30].to_numpy() - sv.background.to_numpy().mean(axis=0))
    np.testing.assert_allclose(sv.values, expected, atol=1e-8)


def test_pipeline_svc_permutation_additive(cancer):
    X, y = cancer
    Xs = X.iloc[:, :4]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # probability= deprecated in 1.9
        model = make_pipeline(StandardScaler(), SVC(probability=True, random_state=0))
        model.fit(Xs, y)
    sv = shap_values(model, Xs.iloc[:3], background=Xs, max_background=10, random_state=0)
    assert (sv.algorithm, sv.output) == ("permutation", "probability")
    assert sv.values.shape == (3, 4)
    assert sv.additivity.within_tolerance
    assert sv.additivity.max_abs_error < 1e-6
    np.testing.assert_allclose(
        sv.base_values, model.predict_proba(sv.background)[:, 1].mean(), atol=1e-9
    )


def test_knn_permutation(cancer):
    X, y = cancer
    Xs = X.iloc[:, :5]
    model = KNeighborsClassifier().fit(Xs, y)
    sv = shap_values(model, Xs.iloc[:8], background=Xs, max_background=15, random_state=1)
    assert sv.algorithm == "permutation"
    assert sv.additivity.within_tolerance


def test_hist_gradient_boosting_tree_path_dependent(cancer):
    # shap 0.51's interventional values for HistGradientBoosting miss the model's output;
    # the path-dependent ones (raw margin) add up, and that is what is kept.
    X, y = cancer
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y)
    sv = shap_values(model, X.iloc[:30], background=X, max_background=30, random_state=0)
    assert (sv.algorithm, sv.output) == ("tree", "log_odds")
    assert sv.additivity.within_tolerance, sv.additivity
    np.testing.assert_allclose(
        sv.base_values + sv.values.sum(axis=1), model.decision_function(X.iloc[:30]), atol=1e-6
    )


def test_kernel_on_request(iris):
    X, y = iris
    model = LogisticRegression(max_iter=1000).fit(X, y == 2)
    sv = shap_values(model, X.iloc[:5], background=X, max_background=10, random_state=0,
                     algorithm="kernel")  # fmt: skip
    assert (sv.algorithm, sv.output) == ("kernel", "probability")
    assert sv.values.shape == (5, 4)
    assert len(sv.background) == 10
    assert sv.background_weights is not None
    np.testing.assert_allclose(sv.background_weights.sum(), 1.0)
    assert sv.additivity.within_tolerance
    # The base value is the weighted mean output over the k-means centres.
    p = model.predict_proba(sv.background)[:, 1]
    np.testing.assert_allclose(sv.base_values, np.average(p, weights=sv.background_weights))


def test_xgboost_and_lightgbm(cancer):
    X, y = cancer
    xgb = pytest.importorskip("xgboost")
    lgb = pytest.importorskip("lightgbm")
    for model in (
        xgb.XGBClassifier(n_estimators=20, max_depth=3).fit(X, y),
        lgb.LGBMClassifier(n_estimators=20, verbose=-1).fit(X, y),
    ):
        sv = shap_values(model, X.iloc[:40], background=X, max_background=40, random_state=0)
        assert (sv.algorithm, sv.output) == ("tree", "probability"), type(model)
        assert sv.additivity.within_tolerance, sv.additivity


def test_xgboost_multiclass_margins(iris):
    X, y = iris
    xgb = pytest.importorskip("xgboost")
    model = xgb.XGBClassifier(n_estimators=10, max_depth=3).fit(X, y)
    sv = shap_values(model, X, random_state=0)
    assert (sv.algorithm, sv.output) == ("tree", "raw")
    assert sv.values.shape == (150, 4, 3)
    assert sv.additivity.within_tolerance, sv.additivity


# --- multiclass ------------------------------------------------------------------------------


def test_multiclass_shapes(iris):
    X, y = iris
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    sv = shap_values(model, X, random_state=0)
    assert sv.values.shape == (150, 4, 3)
    assert sv.base_values.shape == (150, 3)
    assert sv.classes == (0, 1, 2)
    assert sv.additivity.within_tolerance
    np.testing.assert_allclose(
        sv.base_values + sv.values.sum(axis=1), model.predict_proba(X), atol=1e-6
    )
    g = sv.global_frame()
    np.testing.assert_allclose(
        g.set_index("feature").loc[list(X.columns), "mean_abs_shap"],
        np.abs(sv.values).mean(axis=0).sum(axis=1),
    )
    local = sv.local_frame(100)  # class 2 row: explains the predicted class by default
    np.testing.assert_allclose(
        local.set_index("feature").loc[list(X.columns), "shap"], sv.values[100, :, 2]
    )
    assert set(sv.local_frame(0, class_=1)["shap"]) == set(sv.values[0, :, 1])
    with pytest.raises(InvalidInputError, match="class_"):
        sv.local_frame(0, class_="nope")

    lin = shap_values(LogisticRegression(max_iter=1000).fit(X, y), X, random_state=0)
    assert (lin.algorithm, lin.output, lin.values.shape) == ("linear", "raw", (150, 4, 3))
    assert lin.additivity.within_tolerance


# --- global ranking, oracle, reproducibility --------------------------------------------------


def test_global_ranking_agrees_with_permutation_importance():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(400, 4)), columns=["a", "b", "c", "d"])
    y = (3 * X["c"] + 0.3 * X["a"] + rng.normal(scale=0.3, size=400) > 0).astype(int)
    model = RandomForestClassifier(n_estimators=40, max_depth=4, random_state=0).fit(X, y)
    sv = shap_values(model, X.iloc[:150], background=X, random_state=0)
    g = sv.global_frame(random_state=0)
    assert list(g.columns) == ["feature", "mean_abs_shap", "ci_low", "ci_high", "rank"]
    assert g.loc[0, "feature"] == "c" and g.loc[0, "rank"] == 1
    assert (g["ci_low"] <= g["mean_abs_shap"]).all() and (g["mean_abs_shap"] <= g["ci_high"]).all()
    imp = permutation_importance(model, X, y, metric="roc_auc", n_repeats=3, random_state=0)
    assert imp.frame().loc[0, "feature"] == g.loc[0, "feature"]


def test_values_equal_shap_oracle(cancer, forest):
    X, _ = cancer
    sv = shap_values(forest, X.iloc[:40], background=X, max_background=30, random_state=3)
    explainer = shap.TreeExplainer(forest, data=sv.background, model_output="probability")
    ex = explainer(X.iloc[:40], check_additivity=False)
    np.testing.assert_allclose(sv.values, ex.values[:, :, 1], atol=1e-12)
    np.testing.assert_allclose(sv.base_values, ex.base_values[:, 1], atol=1e-12)


def test_linear_values_equal_shap_oracle():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = LinearRegression().fit(X, y)
    sv = shap_values(model, X.iloc[:20], background=X, max_background=40, random_state=0)
    ex = shap.LinearExplainer(model, sv.background.to_numpy())(X.iloc[:20].to_numpy())
    np.testing.assert_allclose(sv.values, ex.values, atol=1e-10)


def test_permutation_equal_shap_oracle_and_reproducible(cancer):
    X, y = cancer
    Xs = X.iloc[:, :6]
    model = KNeighborsClassifier().fit(Xs, y)
    kw = dict(background=Xs, max_background=12, random_state=7)
    state = np.random.get_state()  # noqa: NPY002 - shap draws from numpy's global generator
    a = shap_values(model, Xs.iloc[:6], **kw)
    after = np.random.get_state()  # noqa: NPY002 - shap draws from numpy's global generator
    assert np.array_equal(state[1], after[1])  # numpy's global generator is left as it was
    b = shap_values(model, Xs.iloc[:6], **kw)
    np.testing.assert_array_equal(a.values, b.values)
    pd.testing.assert_frame_equal(a.background, b.background)
    pd.testing.assert_frame_equal(a.global_frame(), b.global_frame())
    c = shap_values(model, Xs.iloc[:6], **{**kw, "random_state": 8})
    assert not a.background.equals(c.background)

    def f(z):
        return model.predict_proba(pd.DataFrame(z, columns=Xs.columns))[:, 1]

    masker = shap.maskers.Independent(a.background.to_numpy(), max_samples=12)
    ex = shap.PermutationExplainer(f, masker, seed=7)(Xs.iloc[:6].to_numpy(), max_evals=500,
                                                      silent=True)  # fmt: skip
    np.testing.assert_allclose(a.values, ex.values, atol=1e-12)


def test_model_agnostic_chunks_are_seeded_and_equal_shap_per_chunk(cancer):
    # Rows are explained by chunks of CHUNK_ROWS (tasks for joblib/Dask): the first chunk
    # draws from random_state itself, the next ones from seeds spawned from it.
    from afterfit.explain.shap_values import CHUNK_ROWS
    from afterfit.parallel import spawn_seeds

    X, y = cancer
    Xs = X.iloc[:, :4]
    model = LogisticRegression(max_iter=5000).fit(Xs, y)
    rows = CHUNK_ROWS + 4
    kw = dict(background=Xs, max_background=10, random_state=5, algorithm="permutation",
              max_evals=18)  # fmt: skip
    sv = shap_values(model, Xs.iloc[:rows], **kw)
    assert sv.values.shape == (rows, 4) and sv.base_values.shape == (rows,)
    assert sv.additivity.within_tolerance
    np.testing.assert_array_equal(sv.values, shap_values(model, Xs.iloc[:rows], **kw).values)

    def f(z):
        return model.predict_proba(pd.DataFrame(z, columns=Xs.columns))[:, 1]

    masker = shap.maskers.Independent(sv.background.to_numpy(), max_samples=10)
    data = Xs.iloc[:rows].to_numpy()
    for seed, part in ((5, slice(0, CHUNK_ROWS)),
                       (spawn_seeds(5, 2)[1], slice(CHUNK_ROWS, rows))):  # fmt: skip
        ex = shap.PermutationExplainer(f, masker, seed=seed)(data[part], max_evals=18,
                                                             silent=True)  # fmt: skip
        np.testing.assert_allclose(sv.values[part], ex.values, atol=1e-12)


def test_threads_give_the_same_values(cancer):
    X, y = cancer
    Xs = X.iloc[:, :4]
    model = LogisticRegression(max_iter=5000).fit(Xs, y)
    kw = dict(background=Xs, max_background=8, random_state=1, algorithm="kernel",
              max_evals=40)  # fmt: skip
    one = shap_values(model, Xs.iloc[:36], **kw)
    from afterfit.parallel import parallel_backend

    with parallel_backend("threads"):  # processes and Dask: tests/test_parallel.py
        np.testing.assert_array_equal(one.values, shap_values(model, Xs.iloc[:36], **kw).values)


# --- results ----------------------------------------------------------------------------------


def test_frames_dict_and_plots(cancer, forest):
    from matplotlib.figure import Figure

    X, _ = cancer
    sv = shap_values(forest, X.iloc[:30], background=X, max_background=20, random_state=0)
    local = sv.local_frame(2)
    assert list(local.columns) == ["feature", "value", "shap"]
    assert np.all(np.diff(np.abs(local["shap"].to_numpy())) <= 1e-15)
    row = local.set_index("feature")
    assert row.loc["mean radius", "value"] == X.iloc[2]["mean radius"]
    with pytest.raises(InvalidInputError, match="'i'"):
        sv.local_frame(30)

    d = sv.to_dict()
    json.dumps(d)
    assert d["method"] == "shap" and d["algorithm"] == "tree" and d["output"] == "probability"
    assert d["additivity"]["within_tolerance"] is True
    assert len(d["features"]) == X.shape[1] and d["features"][0]["rank"] == 1
    full = sv.to_dict(include_values=True)
    assert np.asarray(full["values"]).shape == (30, X.shape[1])
    json.dumps(full)

    for fig in (
        sv.plot_beeswarm(top=8),
        sv.plot_dependence("mean radius"),
        sv.plot_dependence(0),
        sv.plot_waterfall(0, top=5),
    ):
        assert isinstance(fig, Figure)
    with pytest.raises(InvalidInputError, match="feature"):
        sv.plot_dependence("nope")


def test_multiclass_plots(iris):
    from matplotlib.figure import Figure

    X, y = iris
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    sv = shap_values(model, X.iloc[::10], random_state=0)
    assert isinstance(sv.plot_beeswarm(class_=2), Figure)
    assert isinstance(sv.plot_waterfall(3), Figure)
    assert isinstance(sv.plot_dependence("petal length (cm)", class_=1), Figure)


# --- bad inputs -------------------------------------------------------------------------------


def test_wrong_columns(cancer, forest):
    X, _ = cancer
    with pytest.raises(SchemaError):
        shap_values(forest, X.drop(columns=["mean radius"]).iloc[:5])
    with pytest.raises(AfterfitError):
        shap_values(forest, X.iloc[:5], background=X.rename(columns={"mean radius": "r"}))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"algorithm": "deep"}, "algorithm"),
        ({"max_background": 0}, "max_background"),
        ({"random_state": 1.5}, "random_state"),
        ({"algorithm": "linear"}, "linear"),
    ],
)
def test_bad_options(cancer, forest, kwargs, match):
    X, _ = cancer
    with pytest.raises(InvalidInputError, match=match):
        shap_values(forest, X.iloc[:5], **kwargs)


def test_tree_asked_of_non_tree(cancer):
    X, y = cancer
    model = KNeighborsClassifier().fit(X, y)
    with pytest.raises(InvalidInputError, match="tree"):
        shap_values(model, X.iloc[:5], algorithm="tree")


def test_missing_shap(monkeypatch, cancer, forest):
    X, _ = cancer
    monkeypatch.setitem(sys.modules, "shap", None)
    with pytest.raises(MissingDependencyError, match="pip install 'afterfit\\[shap\\]'"):
        shap_values(forest, X.iloc[:5])


def test_native_boosters(cancer):
    X, y = cancer
    xgb = pytest.importorskip("xgboost")
    lgb = pytest.importorskip("lightgbm")
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3}, xgb.DMatrix(X, label=y), 10
    )
    sv = shap_values(booster, X.iloc[:20], background=X, max_background=20, random_state=0)
    assert (sv.algorithm, sv.output) == ("tree", "probability")
    assert sv.additivity.within_tolerance, sv.additivity
    lbooster = lgb.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1},
        lgb.Dataset(X, label=np.arange(len(y)) % 3),
        num_boost_round=5,
    )
    sv = shap_values(lbooster, X.iloc[:20], background=X, max_background=20, random_state=0)
    assert sv.algorithm == "tree" and sv.values.shape == (20, X.shape[1], 3)
    assert sv.additivity.within_tolerance, sv.additivity


def test_refused_tree_falls_back_to_permutation(iris):
    from sklearn.ensemble import GradientBoostingClassifier

    X, y = iris
    model = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(X, y)
    sv = shap_values(model, X.iloc[:3], max_background=10, random_state=0)
    assert sv.algorithm == "permutation" and sv.values.shape == (3, 4, 3)
    assert sv.notes and "tree explainer" in sv.notes[0]
    assert sv.additivity.within_tolerance
    with pytest.raises(InvalidInputError, match="tree explainer"):
        shap_values(model, X.iloc[:3], algorithm="tree")


def test_non_numeric_features():
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import OneHotEncoder

    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0] * 5, "c": ["x", "y"] * 10})
    y = np.array([0, 1] * 10)
    model = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["c"]), remainder="passthrough"),
        LogisticRegression(),
    ).fit(X, y)
    # text columns: the permutation explainer over the raw columns, values that add up
    sv = shap_values(model, X.iloc[:4], background=X, random_state=0)
    assert sv.algorithm == "permutation"
    assert sv.additivity.within_tolerance
    assert any("raw columns" in n for n in sv.notes)
    # kernel SHAP summarises the background with k-means: numbers only
    with pytest.raises(InvalidInputError, match="numeric"):
        shap_values(model, X, algorithm="kernel")


def test_binary_class_argument(cancer, forest):
    X, _ = cancer
    sv = shap_values(forest, X.iloc[:5], max_background=5, random_state=0)
    np.testing.assert_array_equal(
        sv.local_frame(0, class_=1)["shap"].to_numpy(), sv.local_frame(0)["shap"].to_numpy()
    )
    with pytest.raises(InvalidInputError, match="positive class"):
        sv.local_frame(0, class_=0)
