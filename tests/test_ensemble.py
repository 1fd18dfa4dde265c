"""Ensembles: greedy selection, optimised weights, stacking, bagging/boosting, skops."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris
from sklearn.ensemble import (
    BaggingClassifier,
    RandomForestClassifier,
    StackingClassifier,
    StackingRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import KFold, cross_val_predict, train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from afterfit.errors import InvalidInputError, ModelError
from afterfit.metrics.binary import BinarySuite
from afterfit.metrics.multiclass import MulticlassSuite
from afterfit.metrics.regression import RegressionSuite
from afterfit.models import load_model
from afterfit.selection.ensemble import build_ensemble, train_ensemble
from afterfit.selection.ensemble_estimator import EnsembleClassifier, EnsembleRegressor
from afterfit.selection.ensemble_greedy import greedy_selection
from afterfit.selection.ensemble_metrics import score
from afterfit.selection.ensemble_weights import optimize_weights

SEED = 0


def _split(X, y, seed=SEED, stratify=True):
    """Train / selection / test thirds."""
    s = y if stratify else None
    X_tr, X_rest, y_tr, y_rest = train_test_split(X, y, test_size=0.6, random_state=seed,
                                                  stratify=s)  # fmt: skip
    s = y_rest if stratify else None
    X_va, X_te, y_va, y_te = train_test_split(X_rest, y_rest, test_size=0.5, random_state=seed,
                                              stratify=s)  # fmt: skip
    return X_tr, y_tr, X_va, y_va, X_te, y_te


def _classifiers(X, y):
    """A small, sensible library: a strong linear model and three different others."""
    return {
        "logistic": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y),
        "nb": GaussianNB().fit(X, y),
        "knn": make_pipeline(StandardScaler(), KNeighborsClassifier(10)).fit(X, y),
        "forest": RandomForestClassifier(50, random_state=SEED, n_jobs=1).fit(X, y),
    }


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_tr, y_tr, X_va, y_va, X_te, y_te = _split(X, y)
    return _classifiers(X_tr, y_tr), X_va, y_va, X_te, y_te


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X_tr, y_tr, X_va, y_va, X_te, y_te = _split(X, y)
    return _classifiers(X_tr, y_tr), X_va, y_va, X_te, y_te


# --- greedy selection -------------------------------------------------------------------


def test_greedy_matches_hand_computed_example():
    # y = (0, 0); A = (1, 1) MSE 1, B = (-2, -2) MSE 4, C = (3, -3) MSE 9.
    # Start: A (best single), MSE 1.
    # Step 1: A+A -> (1, 1) 1; A+B -> (-.5, -.5) .25; A+C -> (2, -1) 2.5  => add B, .25
    # Step 2: +A -> (0, 0) 0; +B -> (-4/3, -4/3) 16/9; +C -> (2/3, -4/3) 10/9 => add A, 0
    # Step 3: +A -> (.25, .25) .0625; +B -> (-.5, -.5) .25; +C -> (.75, -.75) .5625 => A
    # Best step is 2: A twice, B once.
    y = np.zeros(2)
    preds = np.array([[1.0, 1.0], [-2.0, -2.0], [3.0, -3.0]])
    sel = greedy_selection(preds, y, task="regression", metric="mse", n_iterations=3)
    np.testing.assert_allclose(sel.curve, [1.0, 0.25, 0.0, 0.0625])
    assert sel.best_step == 2
    assert sel.order == [0, 1, 0]
    assert sel.counts.tolist() == [2, 1, 0]
    np.testing.assert_allclose(sel.weights, [2 / 3, 1 / 3, 0.0])


def test_greedy_sorted_initialisation_and_bagging():
    y = np.zeros(2)
    preds = np.array([[1.0, 1.0], [-2.0, -2.0], [3.0, -3.0]])
    # n_init=2 starts from the two best (A, B): mean (-.5, -.5), MSE .25; then +A gives 0.
    sel = greedy_selection(preds, y, task="regression", metric="mse", n_iterations=1, n_init=2)
    np.testing.assert_allclose(sel.curve, [0.25, 0.0])
    assert sel.counts.tolist() == [2, 1, 0]
    bagged = greedy_selection(preds, y, task="regression", metric="mse", n_iterations=3,
                              n_bags=10, bag_fraction=0.67, random_state=1)  # fmt: skip
    assert bagged.weights.sum() == pytest.approx(1.0)
    again = greedy_selection(preds, y, task="regression", metric="mse", n_iterations=3,
                             n_bags=10, bag_fraction=0.67, random_state=1)  # fmt: skip
    np.testing.assert_array_equal(bagged.weights, again.weights)


def test_greedy_higher_is_better_metric_uses_suite(cancer):
    models, X_va, y_va, _, _ = cancer
    ens = EnsembleClassifier(list(models.values()), method="greedy", metric="roc_auc",
                             n_iterations=10).fit(X_va, y_va)  # fmt: skip
    # The kept step is the best of the curve, and AUC is higher-is-better.
    assert ens.curve_[ens.best_step_] == pytest.approx(ens.curve_.max())
    S = ens.member_scores(X_va)
    codes = ens._codes(y_va)
    assert ens.curve_[ens.best_step_] == pytest.approx(
        float(score("roc_auc", "binary", codes, ens.combine(S)))
    )


def test_fast_metrics_equal_the_suites():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), 200)
    y = rng.integers(0, 3, 200)
    suite = MulticlassSuite(y, p, labels=p.argmax(1), class_names=["a", "b", "c"],
                            probabilities=True).compute()  # fmt: skip
    for name in ("log_loss", "brier"):
        assert score(name, "multiclass", y, p) == pytest.approx(suite[(name, None)][0])
    pb = rng.dirichlet(np.ones(2), 200)
    yb = rng.integers(0, 2, 200)
    suite = BinarySuite(yb, pb[:, 1], threshold=0.5, probabilities=True).compute()
    for name in ("log_loss", "brier"):
        assert score(name, "binary", yb, pb) == pytest.approx(suite[(name, None)][0])
    yr, pr = rng.normal(size=100), rng.normal(size=100)
    suite = RegressionSuite(yr, pr).compute()
    for name in ("rmse", "mse", "mae"):
        assert score(name, "regression", yr, pr) == pytest.approx(suite[(name, None)][0])


# --- optimised weights ------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["log_loss", "brier"])
def test_optimised_weights_beat_or_tie_uniform(digits, metric):
    models, X_va, y_va, _, _ = digits
    ens = EnsembleClassifier(list(models.values()), method="weights", metric=metric)
    ens.fit(X_va, y_va)
    S, codes = ens.member_scores(X_va), ens._codes(y_va)
    uniform = S.mean(axis=0)
    chosen = ens.combine(S)
    assert ens.weights_.min() >= 0 and ens.weights_.sum() == pytest.approx(1.0)
    assert (
        score(metric, "multiclass", codes, chosen)
        <= score(metric, "multiclass", codes, uniform) + 1e-12
    )
    # Strictly better here: the members differ a lot.
    assert score(metric, "multiclass", codes, chosen) < score(metric, "multiclass", codes, uniform)


def test_nnls_weights_beat_or_tie_uniform():
    X, y = load_diabetes(return_X_y=True)
    X_tr, y_tr, X_va, y_va, _, _ = _split(X, y, stratify=False)
    members = [Ridge().fit(X_tr, y_tr), KNeighborsRegressor(5).fit(X_tr, y_tr),
               DecisionTreeRegressor(max_depth=3, random_state=0).fit(X_tr, y_tr)]  # fmt: skip
    S = np.stack([m.predict(X_va) for m in members])
    w = optimize_weights(S, y_va, task="regression", metric="rmse")
    assert (w >= 0).all()
    mse = ((w @ S - y_va) ** 2).mean()
    assert mse <= ((S.mean(0) - y_va) ** 2).mean()
    # NNLS oracle: scipy's solution is optimal, so no random non-negative w does better.
    rng = np.random.default_rng(0)
    for _ in range(200):
        v = rng.uniform(0, 1.5, 3)
        assert mse <= ((v @ S - y_va) ** 2).mean() + 1e-9


# --- held-out gain ----------------------------------------------------------------------


@pytest.mark.parametrize("data", ["cancer", "digits"])
def test_greedy_ties_or_beats_best_single_on_test(request, data):
    models, X_va, y_va, X_te, y_te = request.getfixturevalue(data)
    res = build_ensemble(models, X_va, y_va, X_test=X_te, y_test=y_te, n_resamples=200,
                         random_state=SEED)  # fmt: skip
    assert res.gain.evaluated_on == "test"
    assert res.gain.n_rows == len(y_te)
    assert res.beats_or_ties(tolerance=0.005), res.gain.sentence()
    # The gain is the comparison's paired difference, signed so positive is better.
    row = next(r for r in res.comparison.rows if r.metric == "log_loss")
    assert (row.model_a, row.model_b) == ("best_single", "ensemble")
    assert res.gain.gain == pytest.approx(-row.difference)
    # NaN when the ensemble is the best single model itself: no spread, no interval.
    assert res.gain.gain_low == pytest.approx(-row.ci_high, nan_ok=True)
    # Best single chosen on the selection rows, and recomputed by hand on the test rows.
    best = res.members.loc[res.members["best"], "member"].item()
    assert best == res.selection["best_single"]
    p = models[best].predict_proba(X_te)
    assert res.gain.best_value == pytest.approx(
        score("log_loss", res.task, res.estimator._codes(y_te), p)
    )
    assert res.gain.ensemble_value == pytest.approx(
        score("log_loss", res.task, res.estimator._codes(y_te), res.estimator.predict_proba(X_te))
    )


def test_cross_fitted_gain_without_test(cancer):
    models, X_va, y_va, _, _ = cancer
    res = build_ensemble(models, X_va, y_va, method="weights", n_resamples=200)
    assert res.gain.evaluated_on == "cross-fitted validation"
    assert res.gain.n_rows == len(y_va)
    d = res.to_dict()
    assert d["gain"]["evaluated_on"] == "cross-fitted validation"
    assert set(d["members"][0]) == {"member", "weight", "count", "selection_value", "best"}


def test_regression_methods():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X_tr, y_tr, X_va, y_va, X_te, y_te = _split(X, y, stratify=False)
    tree = DecisionTreeRegressor(max_depth=3, random_state=0)
    models = {"ridge": Ridge().fit(X_tr, y_tr), "knn": KNeighborsRegressor().fit(X_tr, y_tr),
              "tree": tree.fit(X_tr, y_tr)}  # fmt: skip
    for method in ("greedy", "weights", "stacking"):
        res = build_ensemble(models, X_va, y_va, method=method, X_test=X_te, y_test=y_te,
                             n_resamples=200)  # fmt: skip
        assert isinstance(res.estimator, EnsembleRegressor)
        assert res.metric == "rmse"
        assert res.estimator.predict(X_te).shape == (len(y_te),)
        assert np.isfinite(res.gain.ci_low)
    bag = train_ensemble(tree, X_tr, y_tr, method="bagging", n_estimators=5, n_resamples=100)
    assert type(bag.estimator).__name__ == "BaggingRegressor"
    assert bag.gain.metric == "rmse" and bag.gain.evaluated_on == "cross-fitted training"


# --- stacking ---------------------------------------------------------------------------


def test_stacking_equals_sklearn_stacking_classifier_given_same_oof():
    X, y = load_iris(return_X_y=True)
    X_tr, X_te, y_tr, _y_te = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    bases = [("nb", GaussianNB()), ("tree", DecisionTreeClassifier(max_depth=2, random_state=0))]
    cv = KFold(5)
    final = LogisticRegression(C=0.7, max_iter=5000)
    stack = StackingClassifier(bases, final_estimator=final, cv=cv).fit(X_tr, y_tr)
    oof = [cross_val_predict(est, X_tr, y_tr, cv=cv, method="predict_proba") for _, est in bases]
    ens = EnsembleClassifier(stack.estimators_, method="stacking", meta_model=final)
    ens.fit_from_scores(oof, y_tr)
    np.testing.assert_allclose(ens.meta_model_.coef_, stack.final_estimator_.coef_, rtol=1e-6)
    np.testing.assert_allclose(ens.predict_proba(X_te), stack.predict_proba(X_te), atol=1e-8)
    np.testing.assert_array_equal(ens.predict(X_te), stack.predict(X_te))


def test_stacking_binary_and_regression_oracles(cancer):
    X, y = load_breast_cancer(return_X_y=True)
    X_tr, X_te, y_tr, _y_te = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    bases = [("nb", GaussianNB()), ("tree", DecisionTreeClassifier(max_depth=3, random_state=0))]
    final = LogisticRegression(max_iter=5000)
    stack = StackingClassifier(bases, final_estimator=final, cv=KFold(4)).fit(X_tr, y_tr)
    oof = [cross_val_predict(e, X_tr, y_tr, cv=KFold(4), method="predict_proba")
           for _, e in bases]  # fmt: skip
    ens = EnsembleClassifier(stack.estimators_, method="stacking", meta_model=final)
    ens.fit_from_scores([o[:, 1] for o in oof], y_tr)  # binary: positive-class columns
    np.testing.assert_allclose(ens.predict_proba(X_te), stack.predict_proba(X_te), atol=1e-8)

    Xr, yr = load_diabetes(return_X_y=True)
    rbases = [("ridge", Ridge()), ("tree", DecisionTreeRegressor(max_depth=3, random_state=0))]
    rstack = StackingRegressor(rbases, final_estimator=LinearRegression(), cv=KFold(5))
    rstack.fit(Xr[:300], yr[:300])
    roof = [cross_val_predict(e, Xr[:300], yr[:300], cv=KFold(5)) for _, e in rbases]
    rens = EnsembleRegressor(rstack.estimators_, method="stacking", meta_model=LinearRegression())
    rens.fit_from_scores(roof, yr[:300])
    np.testing.assert_allclose(rens.predict(Xr[300:]), rstack.predict(Xr[300:]), rtol=1e-9)


def test_default_stacking_meta_model_is_cross_validated(cancer):
    models, X_va, y_va, _, _ = cancer
    res = build_ensemble(models, X_va, y_va, method="stacking", n_resamples=100, cv=3, folds=3)
    meta = res.estimator.meta_model_
    assert type(meta).__name__ == "LogisticRegression"
    assert meta.coef_.shape == (1, len(models))
    # The honest (cross-fitted) score is reported beside the in-sample one.
    assert res.selection["ensemble_cv_value"] >= res.selection["ensemble_value"] - 1e-12


# --- from training data -----------------------------------------------------------------


def test_bagging_and_boosting_from_training_data(cancer):
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    base = DecisionTreeClassifier(max_depth=3, random_state=0)
    bag = train_ensemble(base, X_tr, y_tr, method="bagging", n_estimators=10, X_test=X_te,
                         y_test=y_te, n_resamples=200)  # fmt: skip
    assert isinstance(bag.estimator, BaggingClassifier)
    assert len(bag.estimator.estimators_) == 10
    assert bag.gain.evaluated_on == "test"
    # The baseline is the base refitted on the training rows.
    ref = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X_tr, y_tr)
    codes = np.asarray(y_te)
    assert bag.gain.best_value == pytest.approx(
        score("log_loss", "binary", codes, ref.predict_proba(X_te))
    )
    boost = train_ensemble(base, X_tr, y_tr, method="boosting", n_estimators=10,
                           n_resamples=200)  # fmt: skip
    assert boost.gain.evaluated_on == "cross-fitted training"
    assert boost.gain.n_rows == len(y_tr)
    # The cross-validated ensemble is the boosted model, not its base refitted.
    assert boost.gain.ensemble_value != pytest.approx(boost.gain.best_value)
    with pytest.raises(ModelError, match="sample_weight"):
        train_ensemble(KNeighborsClassifier(), X_tr, y_tr, method="boosting")


def test_stacking_from_training_data(cancer):
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    bases = {"nb": GaussianNB(), "tree": DecisionTreeClassifier(max_depth=3, random_state=0)}
    res = train_ensemble(bases, X_tr, y_tr, method="stacking", X_test=X_te, y_test=y_te,
                         n_resamples=200)  # fmt: skip
    assert isinstance(res.estimator, EnsembleClassifier)
    assert res.estimator.predict_proba(X_te).shape == (len(y_te), 2)
    assert res.gain.evaluated_on == "test"
    crossed = train_ensemble(bases, X_tr, y_tr, method="stacking", n_resamples=100, folds=3)
    assert crossed.gain.evaluated_on == "cross-fitted training"
    assert crossed.gain.n_rows == len(y_tr)


# --- skops ------------------------------------------------------------------------------


def _onnx_tree(X, y):
    from skl2onnx import to_onnx

    from afterfit.models.onnx import OnnxModel

    tree = DecisionTreeClassifier(max_depth=4, random_state=0).fit(X.astype(np.float32), y)
    proto = to_onnx(tree, X[:1].astype(np.float32), options={"zipmap": False})
    return OnnxModel(proto.SerializeToString())


@pytest.mark.parametrize("method", ["greedy", "stacking"])
def test_skops_round_trip_without_trust_keeps_onnx_bytes(tmp_path, method):
    X, y = load_breast_cancer(return_X_y=True)
    X_tr, y_tr, X_va, y_va, X_te, y_te = _split(X, y)
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    members = {"logistic": logistic.fit(X_tr, y_tr), "nb": GaussianNB().fit(X_tr, y_tr),
               "onnx_tree": _onnx_tree(X_tr, y_tr)}  # fmt: skip
    res = build_ensemble(members, X_va, y_va, method=method, n_iterations=20, n_resamples=100,
                         X_test=X_te, y_test=y_te, cv=3, folds=3)  # fmt: skip
    expected = res.estimator.predict_proba(X_te)
    path = tmp_path / "ensemble.skops"
    sio.dump(res.estimator, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert untrusted and all(t.startswith("afterfit.selection.") for t in untrusted), untrusted
    assert not any("onnxruntime" in t or "InferenceSession" in t for t in untrusted)
    loaded = load_model(path)  # no trust
    assert loaded.task == "binary"
    np.testing.assert_allclose(loaded.predict_scores(X_te), expected, atol=1e-12)
    stored = [m for m in loaded.estimator.members_ if type(m).__name__ == "StoredModel"]
    assert len(stored) == 1 and stored[0].kind == "onnx" and stored[0].data[:2]


def test_native_booster_members_are_kept_as_bytes(tmp_path):
    import lightgbm as lgb
    import xgboost as xgb

    from afterfit.models import LightGBMModel, XGBoostModel

    X, y = load_breast_cancer(return_X_y=True)
    X_tr, y_tr, X_va, y_va, X_te, y_te = _split(X, y)
    params = {"objective": "binary:logistic", "max_depth": 3, "nthread": 1}
    booster = xgb.train(params, xgb.DMatrix(X_tr, label=y_tr), num_boost_round=20)
    light = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1},
                      lgb.Dataset(X_tr, label=y_tr), num_boost_round=20)  # fmt: skip
    members = {"xgb": XGBoostModel(booster), "lgb": LightGBMModel(light),
               "nb": GaussianNB().fit(X_tr, y_tr)}  # fmt: skip
    res = build_ensemble(members, X_va, y_va, method="weights", X_test=X_te, y_test=y_te,
                         n_resamples=100)  # fmt: skip
    path = tmp_path / "boosters.skops"
    sio.dump(res.estimator, path)
    loaded = load_model(path)
    kinds = sorted(type(m).__name__ + ":" + getattr(m, "kind", "") for m in
                   loaded.estimator.members_)  # fmt: skip
    assert kinds == ["GaussianNB:", "StoredModel:lightgbm", "StoredModel:xgboost"]
    np.testing.assert_allclose(loaded.predict_scores(X_te), res.estimator.predict_proba(X_te),
                               atol=1e-12)  # fmt: skip


def test_members_with_classes_in_another_order_are_aligned(tmp_path):
    from afterfit.models import as_model

    X, y = load_iris(return_X_y=True)
    a = GaussianNB().fit(X, y)
    # b learns codes (y + 1) % 3: its column j is the original class [2, 0, 1][j].
    b = LogisticRegression(max_iter=2000).fit(X, (y + 1) % 3)
    ens = EnsembleClassifier([a, as_model(b, classes=[2, 0, 1])], method="weights")
    ens.fit(X, y)
    S = ens.member_scores(X)
    pb = b.predict_proba(X)
    for j, label in enumerate([2, 0, 1]):
        np.testing.assert_allclose(S[1][:, label], pb[:, j])
    assert ens.score(X, y) > 0.9
    path = tmp_path / "aligned.skops"
    sio.dump(ens, path)
    np.testing.assert_allclose(load_model(path).predict_scores(X), ens.predict_proba(X))


def test_estimator_api():
    X, y = load_iris(return_X_y=True, as_frame=True)
    y = y.map({0: "setosa", 1: "versicolor", 2: "virginica"})
    X_tr, y_tr, X_va, y_va, X_te, y_te = _split(X, y)
    ens = EnsembleClassifier([GaussianNB().fit(X_tr, y_tr), LogisticRegression(max_iter=2000)
                              .fit(X_tr, y_tr)], method="greedy", n_iterations=5)  # fmt: skip
    ens.fit(X_va, y_va)
    assert ens.classes_.tolist() == ["setosa", "versicolor", "virginica"]
    assert set(ens.predict(X_te)) <= set(ens.classes_)
    assert ens.get_params()["method"] == "greedy"
    assert ens.score(X_te, y_te) > 0.8
    assert ens.feature_names_in_.tolist() == X.columns.tolist()
    # Columns in another order are put back in the members' order.
    np.testing.assert_allclose(ens.predict_proba(X_te[X_te.columns[::-1]]),
                               ens.predict_proba(X_te))  # fmt: skip
    copy = ens.spawn().fit(X_va, y_va)
    np.testing.assert_allclose(copy.weights_, ens.weights_)


# --- bad input --------------------------------------------------------------------------


def test_different_feature_sets_are_refused(cancer):
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    a = GaussianNB().fit(X, y)
    b = GaussianNB().fit(X.iloc[:, :10], y)
    with pytest.raises(InvalidInputError, match="different feature sets"):
        build_ensemble({"a": a, "b": b}, X, y)
    c = GaussianNB().fit(X.to_numpy()[:, :10], y)  # no names: the count differs
    with pytest.raises(InvalidInputError, match="different feature sets"):
        build_ensemble({"a": a, "c": c}, X, y)


def test_different_class_sets_and_tasks_are_refused():
    X, y = load_iris(return_X_y=True)
    a = GaussianNB().fit(X, y)
    b = GaussianNB().fit(X[y < 2], y[y < 2])
    with pytest.raises(InvalidInputError, match="different classes"):
        build_ensemble([a, b], X, y)
    r = LinearRegression().fit(X, y)
    with pytest.raises(InvalidInputError, match="different tasks"):
        build_ensemble([a, r], X, y)


def test_other_bad_inputs(cancer):
    models, X_va, y_va, X_te, _y_te = cancer
    with pytest.raises(InvalidInputError, match="at least two"):
        build_ensemble({"a": models["nb"]}, X_va, y_va)
    with pytest.raises(InvalidInputError, match="method"):
        build_ensemble(models, X_va, y_va, method="bagging")
    with pytest.raises(InvalidInputError, match="metric 'r2'"):
        build_ensemble(models, X_va, y_va, metric="r2")
    with pytest.raises(InvalidInputError, match="both X_test and y_test"):
        build_ensemble(models, X_va, y_va, X_test=X_te)
    with pytest.raises(InvalidInputError, match="n_init"):
        build_ensemble(models, X_va, y_va, n_init=9)
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    svc = LinearSVC().fit(X, y)  # decision scores only
    with pytest.raises(ModelError, match="decision scores"):
        build_ensemble({"svc": svc, "nb": models["nb"]}, X_va, y_va, method="greedy")
    with pytest.raises(Exception, match="label"):
        build_ensemble(models, X_va, pd.Series(["x"] * len(y_va)))
    with pytest.raises(InvalidInputError, match="one base"):
        train_ensemble([GaussianNB(), GaussianNB()], X, y, method="bagging")
