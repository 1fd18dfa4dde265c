"""Cross-validation: fold metrics and out-of-fold predictions against scikit-learn, the
corrected resampled t interval and paired test by hand, determinism across backends."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn import model_selection as ms
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from afterfit.errors import InvalidInputError, ModelError
from afterfit.models import as_model
from afterfit.parallel import parallel_backend
from afterfit.selection.corrected import corrected_resampled_t, corrected_t_stats
from afterfit.selection.cv import (
    compare_cv,
    compare_cv_models,
    cross_validate,
    cv_metric_names,
    fit_and_score,
)
from afterfit.selection.splitters import make_splitter, split_indices

TOL = 1e-10


def _logreg():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y.to_numpy()


def _sk(est, X, y, splits, scoring):
    return ms.cross_validate(est, X, y, cv=splits, scoring=scoring)


def test_binary_fold_metrics_equal_sklearn(cancer):
    X, y = cancer
    splits = list(ms.StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
    metrics = ["accuracy", "roc_auc", "log_loss", "f1", "balanced_accuracy",
               "average_precision", "brier", "precision", "recall", "mcc"]  # fmt: skip
    res = cross_validate(_logreg(), X, y, cv=splits, metrics=metrics)
    sk = _sk(_logreg(), X, y, splits, {
        "accuracy": "accuracy", "roc_auc": "roc_auc", "log_loss": "neg_log_loss", "f1": "f1",
        "balanced_accuracy": "balanced_accuracy", "average_precision": "average_precision",
        "brier": "neg_brier_score", "precision": "precision", "recall": "recall",
        "mcc": "matthews_corrcoef",
    })  # fmt: skip
    for m in metrics:
        expected = sk[f"test_{m}"]
        if m in ("log_loss", "brier"):
            expected = -expected
        np.testing.assert_allclose(res.fold_values(m), expected, rtol=0, atol=TOL, err_msg=m)
    assert res.task == "binary" and res.n_folds == 5
    assert list(res.folds.columns) == ["repeat", "fold", "n_train", "n_test", "metric", "value",
                                       "fit_time", "score_time"]  # fmt: skip
    assert res.folds["n_test"].sum() == len(metrics) * len(y)


def test_binary_decision_function_model_equals_sklearn(cancer):
    X, y = cancer
    splits = list(ms.KFold(4, shuffle=True, random_state=1).split(X))
    est = make_pipeline(StandardScaler(), LinearSVC())
    res = cross_validate(est, X, y, cv=splits, metrics=["roc_auc", "accuracy", "f1"])
    sk = _sk(est, X, y, splits, ["roc_auc", "accuracy", "f1"])
    for m in ("roc_auc", "accuracy", "f1"):
        np.testing.assert_allclose(res.fold_values(m), sk[f"test_{m}"], atol=TOL, rtol=0)
    assert not res.scores_are_probabilities
    with pytest.raises(InvalidInputError, match="log_loss and brier need"):
        cross_validate(est, X, y, cv=splits, metrics=["log_loss"])


def test_multiclass_fold_metrics_equal_sklearn():
    X, y = load_iris(return_X_y=True)
    splits = list(ms.StratifiedKFold(5, shuffle=True, random_state=2).split(X, y))
    metrics = ["accuracy", "log_loss", "f1_macro", "roc_auc_ovr_macro", "balanced_accuracy"]
    res = cross_validate(_logreg(), X, y, cv=splits, metrics=metrics)
    sk = _sk(_logreg(), X, y, splits, {
        "accuracy": "accuracy", "log_loss": "neg_log_loss", "f1_macro": "f1_macro",
        "roc_auc_ovr_macro": "roc_auc_ovr", "balanced_accuracy": "balanced_accuracy",
    })  # fmt: skip
    for m in metrics:
        expected = -sk[f"test_{m}"] if m == "log_loss" else sk[f"test_{m}"]
        np.testing.assert_allclose(res.fold_values(m), expected, atol=TOL, rtol=0, err_msg=m)
    assert res.oof_scores.shape == (150, 3)


def test_regression_fold_metrics_equal_sklearn():
    X, y = load_diabetes(return_X_y=True)
    splits = list(ms.KFold(5, shuffle=True, random_state=3).split(X))
    res = cross_validate(Ridge(alpha=0.5), X, y, cv=splits, metrics=["r2", "mae", "rmse", "mse"])
    sk = _sk(Ridge(alpha=0.5), X, y, splits, ["r2", "neg_mean_absolute_error",
                                               "neg_root_mean_squared_error",
                                               "neg_mean_squared_error"])  # fmt: skip
    np.testing.assert_allclose(res.fold_values("r2"), sk["test_r2"], atol=TOL, rtol=0)
    np.testing.assert_allclose(res.fold_values("mae"), -sk["test_neg_mean_absolute_error"],
                               atol=1e-9, rtol=0)  # fmt: skip
    np.testing.assert_allclose(res.fold_values("rmse"), -sk["test_neg_root_mean_squared_error"],
                               atol=1e-9, rtol=0)  # fmt: skip
    np.testing.assert_allclose(res.fold_values("mse"), -sk["test_neg_mean_squared_error"],
                               rtol=1e-12)  # fmt: skip
    assert res.task == "regression"


def test_oof_equal_cross_val_predict(cancer):
    X, y = cancer
    splits = list(ms.StratifiedKFold(5, shuffle=True, random_state=4).split(X, y))
    res = cross_validate(_logreg(), X, y, cv=splits, metrics=["accuracy"])
    proba = ms.cross_val_predict(_logreg(), X, y, cv=splits, method="predict_proba")
    labels = ms.cross_val_predict(_logreg(), X, y, cv=splits)
    np.testing.assert_allclose(res.oof_scores, proba, atol=1e-12, rtol=0)
    np.testing.assert_array_equal(res.oof_predictions, labels)
    assert (res.oof_counts == 1).all()
    Xr, yr = load_diabetes(return_X_y=True)
    rsplits = list(ms.KFold(5, shuffle=True, random_state=4).split(Xr))
    reg = cross_validate(Ridge(), Xr, yr, cv=rsplits, metrics=["r2"])
    np.testing.assert_allclose(reg.oof_scores, ms.cross_val_predict(Ridge(), Xr, yr, cv=rsplits),
                               atol=1e-9, rtol=0)  # fmt: skip
    frame = reg.oof_frame()
    assert list(frame.columns) == ["row", "y_true", "prediction", "n_folds", "score"]


def test_repeats_average_oof_and_label_folds(cancer):
    X, y = cancer
    res = cross_validate(_logreg(), X, y, cv=3, n_repeats=2, random_state=0,
                         metrics=["roc_auc"])  # fmt: skip
    assert res.n_folds == 6 and res.n_repeats == 2 and res.splitter == "stratified"
    assert res.folds["repeat"].tolist() == [0, 0, 0, 1, 1, 1]
    assert res.folds["fold"].tolist() == [0, 1, 2, 0, 1, 2]
    assert (res.oof_counts == 2).all()
    # The mean over the repeats of each repeat's out-of-fold probabilities.
    by_repeat = np.zeros((2, len(y), 2))
    for i, (train, test) in enumerate(res.splits):
        fold = fit_and_score(_logreg(), X, y, train, test, metrics=["roc_auc"])
        by_repeat[i // 3, test] = fold.scores
        assert fold.metrics["roc_auc"] == pytest.approx(res.fold_values("roc_auc")[i], abs=TOL)
    np.testing.assert_allclose(res.oof_scores, by_repeat.mean(axis=0), atol=1e-12)


def test_afterfit_model_is_unwrapped_and_refitted(cancer):
    X, y = cancer
    fitted = _logreg().fit(X[:100], y[:100])
    res = cross_validate(as_model(fitted), X, y, cv=3, random_state=0, metrics=["accuracy"],
                         return_estimators=True)  # fmt: skip
    assert len(res.estimators) == 3
    assert all(e is not fitted for e in res.estimators)
    # Each clone was fitted on its own training rows, not left as the given model.
    tr0 = res.splits[0][0]
    ref = _logreg().fit(X.iloc[tr0], y[tr0])
    np.testing.assert_allclose(res.estimators[0][-1].coef_, ref[-1].coef_)


def test_unrefittable_model_and_bad_inputs(cancer):
    X, y = cancer

    class Opaque:
        def predict(self, X):
            return np.zeros(len(X))

    with pytest.raises(ModelError, match="cannot be refitted"):
        cross_validate(Opaque(), X, y)
    with pytest.raises(InvalidInputError, match="unknown metric"):
        cross_validate(_logreg(), X, y, metrics=["r2"])
    with pytest.raises(InvalidInputError, match="rows but y has"):
        cross_validate(_logreg(), X, y[:-1])
    with pytest.raises(InvalidInputError, match="sample_weight"):
        cross_validate(_logreg(), X, y, sample_weight=np.ones(3))
    assert "f2" in cv_metric_names("binary") and "log_loss" not in cv_metric_names(
        "binary", probabilities=False
    )


def test_sample_weight_weights_fit_and_metrics(cancer):
    X, y = cancer
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    splits = list(ms.KFold(3, shuffle=True, random_state=0).split(X))
    est = LogisticRegression(max_iter=5000)
    Xs = StandardScaler().fit_transform(X)
    res = cross_validate(est, Xs, y, cv=splits, sample_weight=w, metrics=["accuracy", "log_loss"])
    from sklearn.metrics import accuracy_score, log_loss

    for i, (tr, te) in enumerate(splits):
        m = LogisticRegression(max_iter=5000).fit(Xs[tr], y[tr], sample_weight=w[tr])
        acc = accuracy_score(y[te], m.predict(Xs[te]), sample_weight=w[te])
        ll = log_loss(y[te], m.predict_proba(Xs[te]), sample_weight=w[te])
        assert res.fold_values("accuracy")[i] == pytest.approx(acc, abs=TOL)
        assert res.fold_values("log_loss")[i] == pytest.approx(ll, abs=1e-9)


def test_missing_class_in_training_fold_is_widened():
    X = np.arange(12, dtype=float).reshape(-1, 1)
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    splits = [(np.arange(8), np.arange(8, 12)), (np.arange(4, 12), np.arange(4))]
    res = cross_validate(LogisticRegression(), X, y, cv=splits, metrics=["accuracy"])
    assert res.oof_scores.shape == (12, 3)
    np.testing.assert_array_equal(res.oof_scores[8:, 2], 0.0)  # class 2 never seen in fold 0
    assert res.fold_values("accuracy")[0] == 0.0


# ----- corrected resampled t ---------------------------------------------------------


def test_corrected_t_by_hand_and_wider_than_naive():
    x = np.array([0.81, 0.84, 0.79, 0.83, 0.80, 0.82, 0.85, 0.78, 0.80, 0.83])
    n_train, n_test = 400, 100
    mean, lo, hi = corrected_resampled_t(x, n_train, n_test, confidence=0.9)
    J = x.size
    s2 = x.var(ddof=1)
    se = math.sqrt((1 / J + n_test / n_train) * s2)
    q = stats.t.ppf(0.95, J - 1)
    assert mean == pytest.approx(x.mean(), abs=1e-15)
    assert lo == pytest.approx(x.mean() - q * se, abs=1e-14)
    assert hi == pytest.approx(x.mean() + q * se, abs=1e-14)
    s = corrected_t_stats(x, n_train, n_test, confidence=0.9)
    assert s.naive_high - s.naive_low == pytest.approx(2 * q * math.sqrt(s2 / J), abs=1e-14)
    assert (s.high - s.low) > (s.naive_high - s.naive_low)
    assert s.df == J - 1 and s.test_train_ratio == 0.25
    # Per-fold sizes: the ratio of the mean sizes.
    s2_ = corrected_t_stats(x, [400, 402] * 5, [100, 98] * 5)
    assert s2_.test_train_ratio == pytest.approx(99 / 401)


def test_corrected_t_degenerate_cases():
    one = corrected_t_stats([0.5], 10, 5)
    assert one.mean == 0.5 and math.isnan(one.low)
    same = corrected_t_stats([0.2, 0.2, 0.2], 10, 5)
    # No spread: no interval (and the reason), not a zero-width one.
    assert same.mean == 0.2 and math.isnan(same.low) and math.isnan(same.high)
    assert "no spread" in same.method and same.p_value == 0.0
    assert corrected_t_stats([0.0, 0.0], 10, 5).p_value == 1.0
    with pytest.raises(InvalidInputError, match="n_train and n_test"):
        corrected_t_stats([1, 2], 0, 5)
    with pytest.raises(InvalidInputError, match="confidence"):
        corrected_t_stats([1, 2], 10, 5, confidence=95)


def test_cv_summary_uses_corrected_interval(cancer):
    X, y = cancer
    res = cross_validate(_logreg(), X, y, cv=5, n_repeats=2, random_state=0,
                         metrics=["accuracy"], confidence=0.95)  # fmt: skip
    values = res.fold_values("accuracy")
    n_train, n_test = res.n_train_test()
    # On the logit scale: the plain mean ± t se reaches past 1 here.
    m, lo, hi = corrected_resampled_t(values, n_train, n_test, metric="accuracy")
    row = res.summary.iloc[0]
    assert 0 < row["ci_low"] < row["mean"] < row["ci_high"] < 1 and "logit" in row["method"]
    assert (row["mean"], row["ci_low"], row["ci_high"]) == pytest.approx((m, lo, hi), abs=1e-15)
    assert row["ci_high"] - row["ci_low"] > row["naive_high"] - row["naive_low"]
    doc = res.to_dict()
    assert doc["metrics"]["accuracy"]["low"] == pytest.approx(lo)
    assert len(doc["metrics"]["accuracy"]["values"]) == 10


def test_paired_comparison_equals_hand_computation(cancer):
    X, y = cancer
    comp = compare_cv_models(
        {"logreg": _logreg(), "forest": RandomForestClassifier(n_estimators=20)},
        X, y, cv=5, n_repeats=2, random_state=0, metrics=["roc_auc", "log_loss"],
    )  # fmt: skip
    a, b = comp.results["logreg"], comp.results["forest"]
    assert all(np.array_equal(s[1], t[1]) for s, t in zip(a.splits, b.splits, strict=True))
    for metric in ("roc_auc", "log_loss"):
        d = b.fold_values(metric) - a.fold_values(metric)
        J = d.size
        n_train, n_test = a.n_train_test()
        se = math.sqrt((1 / J + n_test.mean() / n_train.mean()) * d.var(ddof=1))
        t = d.mean() / se
        p = 2 * stats.t.sf(abs(t), J - 1)
        row = comp.frame().set_index("metric").loc[metric]
        assert row["difference"] == pytest.approx(d.mean(), abs=1e-15)
        assert row["t"] == pytest.approx(t, rel=1e-12)
        assert row["p_value"] == pytest.approx(p, rel=1e-10)
        q = stats.t.ppf(0.975, J - 1)
        assert row["ci_low"] == pytest.approx(d.mean() - q * se, abs=1e-14)
    assert set(comp.frame()["model"]) == {"forest"}
    assert comp.to_dict()["rows"][0]["baseline"] == "logreg"


def test_compare_cv_rejects_different_splits(cancer):
    X, y = cancer
    a = cross_validate(_logreg(), X, y, cv=3, random_state=0, metrics=["accuracy"])
    b = cross_validate(_logreg(), X, y, cv=3, random_state=1, metrics=["accuracy"])
    with pytest.raises(InvalidInputError, match="different folds"):
        compare_cv({"a": a, "b": b})
    c = cross_validate(_logreg(), X, y, cv=a.splits, metrics=["accuracy"])
    out = compare_cv({"a": a, "c": c})
    assert out.frame()["difference"].iloc[0] == 0.0
    assert out.frame()["better"].iloc[0] == "no difference"
    with pytest.raises(InvalidInputError, match="at least two"):
        compare_cv({"a": a})


# ----- determinism and backends --------------------------------------------------------


def _forest_cv(X, y, **kw):
    return cross_validate(RandomForestClassifier(n_estimators=10), X, y, cv=4, n_repeats=2,
                          random_state=7, metrics=["roc_auc", "log_loss"], **kw)  # fmt: skip


@pytest.fixture(scope="module")
def small():
    X, y = make_classification(400, 8, random_state=0)
    return X, y


def test_same_numbers_for_any_n_jobs(small):
    X, y = small
    one = _forest_cv(X, y, n_jobs=1)
    again = _forest_cv(X, y, n_jobs=1)
    with parallel_backend("threads", n_jobs=2):
        threads = _forest_cv(X, y)
    two = _forest_cv(X, y, n_jobs=2)  # loky processes
    for other in (again, threads, two):
        pd.testing.assert_series_equal(one.folds["value"], other.folds["value"])
        np.testing.assert_array_equal(one.oof_scores, other.oof_scores)


@pytest.mark.slow
def test_dask_local_cluster_equals_local(small):
    distributed = pytest.importorskip("distributed")
    X, y = small
    local = _forest_cv(X, y)
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                 dashboard_address=None) as cluster,
        parallel_backend("dask", scheduler=cluster.scheduler_address, n_jobs=2),
    ):  # fmt: skip
        remote = _forest_cv(X, y)
    pd.testing.assert_series_equal(local.folds["value"], remote.folds["value"])
    np.testing.assert_array_equal(local.oof_scores, remote.oof_scores)


def test_group_and_timeseries_cv(small):
    X, y = small
    groups = np.repeat(np.arange(40), 10)
    res = cross_validate(LogisticRegression(), X, y, cv=4, groups=groups, random_state=0,
                         metrics=["accuracy"])  # fmt: skip
    assert res.splitter == "group"
    for train, test in res.splits:
        assert not set(groups[train]) & set(groups[test])
    ts = cross_validate(LogisticRegression(), X, y, cv=4, splitter="timeseries", gap=5,
                        metrics=["accuracy"])  # fmt: skip
    for train, test in ts.splits:
        assert train.max() + 5 < test.min()
    assert (ts.oof_counts[:80] == 0).all() and np.isnan(ts.oof_scores[:80]).all()
    assert ts.oof_predictions[0] is None
    with pytest.raises(InvalidInputError, match="no training rows"):
        cross_validate(LogisticRegression(), X, y, cv=4, splitter="timeseries", gap=80)


def test_split_indices_accepts_pairs_and_checks_them(small):
    X, y = small
    sp = make_splitter("kfold", 4, random_state=0)
    pairs = split_indices(sp, X, y)
    assert len(pairs) == 4 and pairs[0][0].dtype == np.int64
    assert len(split_indices(pairs, X, y)) == 4
    with pytest.raises(InvalidInputError, match="both training and testing"):
        split_indices([(np.arange(10), np.arange(5, 15))], X, y)
    with pytest.raises(InvalidInputError, match="outside"):
        split_indices([(np.arange(10), np.array([1000]))], X, y)
    with pytest.raises(InvalidInputError, match="number of folds"):
        cross_validate(LogisticRegression(), X, y, cv="five")


def test_meta_estimator_with_estimator_param_is_not_unwrapped(small):
    from sklearn.ensemble import BaggingClassifier

    X, y = small
    bag = BaggingClassifier(LogisticRegression(), n_estimators=3, random_state=0)
    splits = list(ms.KFold(3, shuffle=True, random_state=0).split(X))
    res = cross_validate(bag, X, y, cv=splits, metrics=["roc_auc"], return_estimators=True)
    assert all(isinstance(e, BaggingClassifier) for e in res.estimators)
    from sklearn.metrics import make_scorer, roc_auc_score

    # afterfit scores probabilities (scikit-learn's roc_auc scorer would take the bagged
    # decision_function first, a different average).
    scorer = make_scorer(roc_auc_score, response_method="predict_proba")
    sk = ms.cross_validate(bag, X, y, cv=splits, scoring=scorer)
    np.testing.assert_allclose(res.fold_values("roc_auc"), sk["test_score"], atol=TOL, rtol=0)


def test_thresholded_classifier_is_scored_at_its_threshold(cancer):
    from sklearn.model_selection import FixedThresholdClassifier

    X, y = cancer
    est = FixedThresholdClassifier(_logreg(), threshold=0.8)
    splits = list(ms.StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    res = cross_validate(est, X, y, cv=splits, metrics=["accuracy", "recall", "roc_auc"])
    sk = _sk(est, X, y, splits, ["accuracy", "recall", "roc_auc"])
    for m in ("accuracy", "recall", "roc_auc"):
        np.testing.assert_allclose(res.fold_values(m), sk[f"test_{m}"], atol=TOL, rtol=0)
    plain = cross_validate(_logreg(), X, y, cv=splits, metrics=["recall"])
    assert (res.fold_values("recall") < plain.fold_values("recall")).any()
