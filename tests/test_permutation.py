"""Permutation importance: agreement with scikit-learn, groups, sampling, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import stats
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.inspection import permutation_importance as sk_permutation_importance
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from afterfit.errors import AfterfitError, InvalidInputError, MetricError
from afterfit.explain import PermutationImportance, group_by_prefix, permutation_importance


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(X, y)
    return model, X, y


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return Ridge(alpha=0.1).fit(X, y), X, y


def _half_width(values: np.ndarray) -> np.ndarray:
    r = values.shape[1]
    return stats.t.ppf(0.995, r - 1) * values.std(axis=1, ddof=1) / np.sqrt(r)


def _agree(imp: PermutationImportance, sk, floor: float) -> None:
    """Mean importances agree within both 99% intervals (different permutations)."""
    tol = _half_width(imp.importances) + _half_width(sk.importances) + floor
    diff = np.abs(imp.importance - sk.importances_mean)
    assert np.all(diff <= tol), (diff - tol).max()
    # The most important features are the same.
    assert np.argmax(imp.importance) in set(np.argsort(-sk.importances_mean)[:5])


@pytest.mark.parametrize(("metric", "scoring"), [("roc_auc", "roc_auc"), ("accuracy", "accuracy")])
def test_binary_agrees_with_sklearn(cancer, metric, scoring):
    model, X, y = cancer
    imp = permutation_importance(model, X, y, metric=metric, n_repeats=10, random_state=0)
    sk = sk_permutation_importance(model, X, y, scoring=scoring, n_repeats=10, random_state=0)
    assert imp.features == tuple(X.columns)
    assert imp.importances.shape == (30, 10)
    scorer = {"roc_auc": roc_auc_score, "accuracy": accuracy_score}[metric]
    reference = model.predict_proba(X)[:, 1] if metric == "roc_auc" else model.predict(X)
    assert imp.baseline == pytest.approx(scorer(y, reference), abs=1e-12)
    _agree(imp, sk, floor=2e-3 if metric == "roc_auc" else 5e-3)


def test_loss_metric_sign_matches_sklearn_neg_loss(cancer):
    model, X, y = cancer
    imp = permutation_importance(model, X, y, metric="log_loss", n_repeats=10, random_state=1)
    sk = sk_permutation_importance(model, X, y, scoring="neg_log_loss", n_repeats=10,
                                   random_state=1)  # fmt: skip
    assert not imp.higher_is_better
    # Shuffling an important feature raises the loss: importance = permuted - baseline > 0.
    assert imp.importance.max() > 0.01
    np.testing.assert_allclose(imp.importances, imp.permuted_scores - imp.baseline)
    _agree(imp, sk, floor=5e-3)


@pytest.mark.parametrize(("metric", "scoring"), [("r2", "r2"), ("mae", "neg_mean_absolute_error")])
def test_regression_agrees_with_sklearn(diabetes, metric, scoring):
    model, X, y = diabetes
    imp = permutation_importance(model, X, y, metric=metric, n_repeats=10, random_state=0)
    sk = sk_permutation_importance(model, X, y, scoring=scoring, n_repeats=10, random_state=0)
    assert imp.task == "regression"
    floor = 0.01 if metric == "r2" else 0.5
    _agree(imp, sk, floor=floor)
    assert imp.frame()["feature"].iloc[0] in {"bmi", "s5"}


def test_multiclass_agrees_with_sklearn():
    X, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=2000).fit(X, y)
    imp = permutation_importance(model, X, y, metric="accuracy", n_repeats=10, random_state=0)
    sk = sk_permutation_importance(model, X, y, scoring="accuracy", n_repeats=10, random_state=0)
    _agree(imp, sk, floor=0.02)
    other = permutation_importance(model, X, y, metric="roc_auc_ovr_macro", n_repeats=3,
                                   random_state=0)  # fmt: skip
    assert other.importance.max() > 0


class OneColumnModel:
    """A binary model that reads one column and checks the dtypes it receives."""

    task = "binary"
    classes_ = np.array([0, 1])
    feature_names = ("signal", "color", "noise")
    scores_are_probabilities = True

    def predict_scores(self, X):
        assert isinstance(X.dtypes["color"], pd.CategoricalDtype)
        p = 1 / (1 + np.exp(-X["signal"].to_numpy()))
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return (self.predict_scores(X)[:, 1] > 0.5).astype(int)


def _mixed(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "signal": rng.normal(size=n),
        "color": pd.Categorical(rng.choice(["red", "blue"], n)),
        "noise": rng.normal(size=n),
    })  # fmt: skip
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * X["signal"]))).astype(int)
    return X, y


def test_unused_features_score_exactly_zero_and_dtypes_are_kept():
    X, y = _mixed()
    imp = permutation_importance(OneColumnModel(), X, y, n_repeats=4, random_state=0,
                                 batch_rows=1000)  # fmt: skip
    frame = imp.frame().set_index("feature")
    assert frame.loc["signal", "importance"] > 0.1
    assert frame.loc["color", "importance"] == 0.0
    assert frame.loc["noise", "importance"] == 0.0
    assert frame.loc["signal", "rank"] == 1


def test_result_frame_dict_and_plot(cancer):
    model, X, y = cancer
    imp = permutation_importance(model, X, y, n_repeats=5, random_state=0)
    frame = imp.frame()
    assert frame.columns.tolist() == ["feature", "importance", "std", "ci_low", "ci_high", "rank"]
    assert frame["importance"].is_monotonic_decreasing
    assert (frame["ci_low"] <= frame["importance"]).all()
    assert (frame["importance"] <= frame["ci_high"]).all()
    # t-interval of the mean over repeats.
    i = imp.features.index(frame["feature"].iloc[0])
    vals = imp.importances[i]
    half = stats.t.ppf(0.975, 4) * vals.std(ddof=1) / np.sqrt(5)
    assert frame["ci_high"].iloc[0] == pytest.approx(vals.mean() + half)
    d = json.loads(json.dumps(imp.to_dict()))
    assert d["metric"] == "roc_auc" and d["importance_definition"] == "baseline - permuted"
    assert len(d["features"]) == 30 and len(d["features"][0]["repeats"]) == 5
    assert imp.repeats_frame().shape == (150, 4)
    assert isinstance(imp.plot(top=10), Figure)
    one = permutation_importance(model, X, y, n_repeats=1, random_state=0)
    assert one.frame()["std"].isna().all()
    assert json.dumps(one.to_dict())
    assert isinstance(one.plot(), Figure)


def test_reproducible_and_independent_of_batch_size(cancer):
    model, X, y = cancer
    a = permutation_importance(model, X, y, n_repeats=3, random_state=7)
    b = permutation_importance(model, X, y, n_repeats=3, random_state=7, batch_rows=600)
    c = permutation_importance(model, X, y, n_repeats=3, random_state=7, batch_rows=1)
    np.testing.assert_array_equal(a.importances, b.importances)
    np.testing.assert_array_equal(a.importances, c.importances)
    d = permutation_importance(model, X, y, n_repeats=3, random_state=8)
    assert not np.array_equal(a.importances, d.importances)


def test_max_rows_samples_without_replacement(cancer):
    model, X, y = cancer
    imp = permutation_importance(model, X, y, n_repeats=3, random_state=0, max_rows=200)
    assert imp.sampled and imp.n_rows == 200 and imp.n_rows_total == len(X)
    assert imp.to_dict()["sampled"] is True
    again = permutation_importance(model, X, y, n_repeats=3, random_state=0, max_rows=200)
    np.testing.assert_array_equal(imp.importances, again.importances)
    full = permutation_importance(model, X, y, n_repeats=3, random_state=0, max_rows=10_000)
    assert not full.sampled and full.n_rows == len(X)


def test_groups_dict_and_prefix():
    X, y = _mixed()
    X = pd.get_dummies(X, columns=["color"], dtype=float)
    X["signal_sq"] = X["signal"] ** 2
    cols = X.columns.tolist()

    class Lin:
        task = "binary"
        classes_ = np.array([0, 1])
        feature_names = cols
        scores_are_probabilities = True

        def predict_scores(self, X):
            z = X["signal"].to_numpy() + X["color_red"].to_numpy()
            p = 1 / (1 + np.exp(-z))
            return np.column_stack([1 - p, p])

        def predict(self, X):
            return (self.predict_scores(X)[:, 1] > 0.5).astype(int)

    assert group_by_prefix(cols) == {
        "signal": ["signal", "signal_sq"], "noise": ["noise"],
        "color": ["color_blue", "color_red"],
    }  # fmt: skip
    imp = permutation_importance(Lin(), X, y, n_repeats=3, random_state=0, groups="prefix")
    assert set(imp.features) == {"signal", "noise", "color"}
    assert dict(zip(imp.features, imp.columns, strict=True))["color"] == ("color_blue", "color_red")
    user = permutation_importance(Lin(), X, y, n_repeats=3, random_state=0,
                                  groups={"colour": ["color_red", "color_blue"]})  # fmt: skip
    assert user.features == ("signal", "noise", "colour", "signal_sq")
    row = user.frame().set_index("feature")
    assert row.loc["colour", "importance"] > 0
    assert row.loc["noise", "importance"] == 0.0
    # Permuting a group moves its columns together: a one-hot row stays one-hot.
    assert user.to_dict()["features"][0]["columns"]


def test_bad_inputs(cancer):
    model, X, y = cancer
    with pytest.raises(MetricError, match=r"Available: .*roc_auc.*average_precision"):
        permutation_importance(model, X, y, metric="auc_roc")
    with pytest.raises(MetricError, match="not a binary metric"):
        permutation_importance(model, X, y, metric="r2")
    with pytest.raises(InvalidInputError, match="n_repeats"):
        permutation_importance(model, X, y, n_repeats=0)
    with pytest.raises(InvalidInputError, match="max_rows"):
        permutation_importance(model, X, y, max_rows=0)
    with pytest.raises(InvalidInputError, match="batch_rows"):
        permutation_importance(model, X, y, batch_rows=0)
    with pytest.raises(InvalidInputError, match=r"'mean radiuss'.*not in X.*'mean radius'"):
        permutation_importance(model, X, y, groups={"size": ["mean radiuss", "mean area"]})
    with pytest.raises(InvalidInputError, match="two groups"):
        permutation_importance(model, X, y, groups={"a": ["mean area"], "b": ["mean area"]})
    with pytest.raises(InvalidInputError, match="groups"):
        permutation_importance(model, X, y, groups="suffix")
    with pytest.raises(InvalidInputError, match="rows"):
        permutation_importance(model, X, y[:10])
    svm = make_pipeline(StandardScaler(), LinearSVC()).fit(X, y)
    with pytest.raises(MetricError, match="needs class probabilities"):
        permutation_importance(svm, X, y, metric="log_loss")
    # Decision scores work for ranking metrics.
    ok = permutation_importance(svm, X, y, metric="roc_auc", n_repeats=2, random_state=0)
    assert ok.importance.max() > 0
    for exc in (MetricError, InvalidInputError):
        assert issubclass(exc, AfterfitError)


def test_sample_weight_and_confidence(cancer):
    model, X, y = cancer
    plain = permutation_importance(model, X, y, n_repeats=3, random_state=0)
    ones = permutation_importance(model, X, y, n_repeats=3, random_state=0,
                                  sample_weight=np.ones(len(y)))  # fmt: skip
    np.testing.assert_allclose(plain.importances, ones.importances, atol=1e-12)
    wide = permutation_importance(model, X, y, n_repeats=3, random_state=0, confidence=0.99)
    assert (wide.frame()["ci_high"].to_numpy() >= wide.frame()["importance"].to_numpy()).all()
    narrow, broad = plain.interval(), wide.interval()
    assert np.all(broad[1] - broad[0] >= narrow[1] - narrow[0])
    with pytest.raises(InvalidInputError, match="confidence"):
        permutation_importance(model, X, y, confidence=1.5)
    with pytest.raises(InvalidInputError, match="sample_weight"):
        permutation_importance(model, X, y, sample_weight=np.ones(3))


# --- the exact fast path for HistGradientBoosting -------------------------------------------


def _boosting_data(n=1500, seed=0):
    """Numeric features with missing values (in training and scoring) and a few-valued
    column, so splits on NaN and ties between bins are exercised."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 6)), columns=list("abcdef"))
    X.loc[rng.random(n) < 0.1, "b"] = np.nan
    X["c"] = np.round(X["c"])
    signal = X["a"] + np.nan_to_num(X["b"]) + 0.5 * X["c"] + 0.3 * X["d"]
    y = (signal + rng.normal(size=n) > 0).astype(int)
    X_score = X.copy()
    X_score.loc[rng.random(n) < 0.05, "a"] = np.nan  # NaN where training had none
    return X, y, X_score


@pytest.fixture
def engine_calls(monkeypatch):
    """Records whether the fast engine was built (and not None) in each call."""
    import afterfit.explain._fast_hgb as fast

    built: list[bool] = []
    original = fast.hgb_engine

    def spy(*args, **kwargs):
        engine = original(*args, **kwargs)
        built.append(engine is not None)
        return engine

    monkeypatch.setattr(fast, "hgb_engine", spy)
    return built


def _assert_same(a: PermutationImportance, b: PermutationImportance) -> None:
    assert a.baseline == b.baseline
    np.testing.assert_array_equal(a.permuted_scores, b.permuted_scores)
    np.testing.assert_array_equal(a.importances, b.importances)


@pytest.mark.parametrize(
    ("params", "metric"),
    [
        ({"max_iter": 30}, "roc_auc"),
        ({"max_iter": 30}, "log_loss"),
        # Deep trees: more than 256 nodes (uint16 leaf ids), many split bins per column.
        ({"max_iter": 8, "max_leaf_nodes": 300, "min_samples_leaf": 2}, "accuracy"),
    ],
)
def test_fast_path_equals_generic_binary(engine_calls, params, metric):
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y, X_score = _boosting_data()
    model = HistGradientBoostingClassifier(random_state=0, **params).fit(X, y)
    kw = dict(metric=metric, n_repeats=4, random_state=1)
    fast = permutation_importance(model, X_score, y, **kw)
    assert engine_calls == [True]
    generic = permutation_importance(model, X_score, y, fast=False, **kw)
    assert engine_calls == [True]  # fast=False never builds the engine
    _assert_same(fast, generic)
    assert fast.importance.max() > 0
    # Tiny budget: leaves recomputed by row chunks, one repeat per unit (direct traversal).
    _assert_same(fast, permutation_importance(model, X_score, y, batch_rows=40, **kw))
    # Groups: columns permuted together, several columns read by one tree.
    groups = {"ab": ["a", "b"], "rest": ["c", "d", "e", "f"]}
    _assert_same(
        permutation_importance(model, X_score, y, groups=groups, **kw),
        permutation_importance(model, X_score, y, groups=groups, fast=False, **kw),
    )


def test_fast_path_equals_generic_multiclass_and_regression(engine_calls):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    X, _, X_score = _boosting_data(n=700, seed=1)
    classes = np.digitize(X["a"].fillna(0) + X["d"], [-1.0, 0.0, 1.0])
    clf = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(X, classes)
    for metric in ("accuracy", "log_loss"):
        kw = dict(metric=metric, n_repeats=3, random_state=2)
        _assert_same(
            permutation_importance(clf, X_score, classes, **kw),
            permutation_importance(clf, X_score, classes, fast=False, **kw),
        )
    target = np.exp(0.3 * X["a"].fillna(0)) + np.random.default_rng(0).random(len(X))
    for loss in ("squared_error", "poisson"):  # identity and log links
        reg = HistGradientBoostingRegressor(loss=loss, max_iter=10, random_state=0)
        reg.fit(X, target)
        kw = dict(metric="r2", n_repeats=3, random_state=2)
        fast = permutation_importance(reg, X_score, target, **kw)
        _assert_same(fast, permutation_importance(reg, X_score, target, fast=False, **kw))
        assert fast.frame()["feature"].iloc[0] == "a"
    assert engine_calls == [True] * 4


def test_fast_engine_scores_equal_predict_proba_bit_for_bit():
    from sklearn.ensemble import HistGradientBoostingClassifier

    from afterfit.explain._fast_hgb import hgb_engine
    from afterfit.models import as_model

    X, y, X_score = _boosting_data(n=800, seed=3)
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y)
    engine = hgb_engine(as_model(model), X_score, budget_bytes=10**8)
    assert engine is not None
    np.testing.assert_array_equal(engine.original_scores(), model.predict_proba(X_score))
    perm = np.random.default_rng(0).permutation(len(X_score))
    copy = X_score.copy()
    copy["b"] = X_score["b"].to_numpy()[perm]
    (scores,) = engine.scores([1], [perm])
    np.testing.assert_array_equal(scores, model.predict_proba(copy))


def test_fast_path_falls_back_for_other_models(engine_calls):
    from sklearn.ensemble import HistGradientBoostingClassifier

    from afterfit.explain._fast_hgb import hgb_engine
    from afterfit.models import as_model

    X, y, _ = _boosting_data(n=600, seed=4)

    class MyBoosting(HistGradientBoostingClassifier):
        """A subclass could change predict: not handled."""

    mixed = X.assign(color=pd.Categorical(np.where(X["a"] > 0, "red", "blue")))
    models = [
        (MyBoosting(max_iter=5, random_state=0).fit(X, y), X),
        (make_pipeline(StandardScaler(), HistGradientBoostingClassifier(max_iter=5)).fit(X, y), X),
        # categorical features (from the pandas dtype) go through a preprocessor
        (HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(mixed, y), mixed),
    ]
    for model, data in models:
        assert hgb_engine(as_model(model), data, budget_bytes=10**8) is None
        imp = permutation_importance(model, data, y, n_repeats=2, random_state=0)
        assert np.isfinite(imp.importances).all()
    assert engine_calls == [False] * 6  # the direct calls above go through the spy too
