"""Calibration: reliability, ECE/MCE, Brier decomposition, calibrators, comparison, skops."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from matplotlib.figure import Figure
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV, calibration_curve
from sklearn.datasets import load_breast_cancer, load_iris, make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

import afterfit
from afterfit.calibration import (
    CalibratedModel,
    calibrate,
    compare_calibration,
    evaluate_calibration,
)
from afterfit.calibration._binning import bin_edges
from afterfit.calibration.calibrators import (
    fit_isotonic,
    fit_temperature,
    isotonic_map,
    nll,
)
from afterfit.errors import (
    AfterfitError,
    AfterfitWarning,
    DataError,
    InvalidInputError,
    MetricError,
    ModelError,
)
from afterfit.predictions import Predictions

# ----------------------------------------------------------------------------------------
# Data and direct (loop) implementations used as oracles
# ----------------------------------------------------------------------------------------


def binary_data(n: int = 400, seed: int = 0, power: float = 1.0):
    """Labels drawn from known probabilities; the model reports ``p ** power``."""
    rng = np.random.default_rng(seed)
    p_true = rng.beta(1.2, 1.2, n)
    y = (rng.random(n) < p_true).astype(int)
    return y, np.round(p_true**power, 4)


def multiclass_data(n: int = 600, K: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, K)) * 1.5
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(K, p=row) for row in p])
    sharp = np.exp(2.0 * logits)
    return y, sharp / sharp.sum(axis=1, keepdims=True)


def loop_bins(p, o, edges, w=None):
    """Per-bin weight, mean forecast, frequency, and sums, by a plain loop over bins."""
    w = np.ones_like(p) if w is None else w
    nb = edges.size - 1
    out = []
    for b in range(nb):
        lo, hi = edges[b], edges[b + 1]
        # scikit-learn's convention: a value on an inner edge goes to the lower bin.
        inside = (p <= hi if b < nb - 1 else np.ones_like(p, bool)) & (
            p > lo if b > 0 else np.ones_like(p, bool)
        )
        out.append((w[inside].sum(), p[inside], o[inside], w[inside]))
    return out


def loop_ece_mce(p, o, edges, w=None):
    bins = loop_bins(p, o, edges, w)
    total = sum(b[0] for b in bins)
    ece, mce = 0.0, 0.0
    for n_b, pb, ob, wb in bins:
        if n_b == 0:
            continue
        gap = abs(np.average(ob, weights=wb) - np.average(pb, weights=wb))
        ece += n_b / total * gap
        mce = max(mce, gap)
    return ece, mce


def loop_decomposition(p, o, edges):
    bins = loop_bins(p, o, edges)
    N = p.size
    obar = o.mean()
    rel = res = wbv = wbc = binned = 0.0
    for n_b, pb, ob, _ in bins:
        if n_b == 0:
            continue
        fb, ab = pb.mean(), ob.mean()
        rel += n_b / N * (fb - ab) ** 2
        res += n_b / N * (ab - obar) ** 2
        wbv += ((pb - fb) ** 2).sum() / N
        wbc += ((pb - fb) * (ob - ab)).sum() / N
        binned += ((fb - ob) ** 2).sum() / N
    return {"reliability": rel, "resolution": res, "uncertainty": obar * (1 - obar),
            "within_bin_variance": wbv, "within_bin_covariance": wbc, "binned": binned}  # fmt: skip


def raises(error, *words, call):
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, AfterfitError)
    message = str(info.value).lower()
    for word in words:
        assert word.lower() in message, f"{word!r} not in {message!r}"
    assert info.value.fix
    return info.value


class Cubed(ClassifierMixin, BaseEstimator):
    """A deliberately over-confident model: a logistic regression's p pushed through p**3
    (renormalised), with predict_proba only."""

    def __init__(self, power: float = 3.0):
        self.power = power

    def fit(self, X, y):
        self.inner_ = LogisticRegression(max_iter=5000).fit(X, y)
        self.classes_ = self.inner_.classes_
        return self

    def predict_proba(self, X):
        p = self.inner_.predict_proba(X) ** self.power
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class LogitScore(ClassifierMixin, BaseEstimator):
    """A probability-only model seen through decision_function = logit(p): what afterfit's
    sigmoid reads for models without a decision function."""

    def __init__(self, model=None):
        self.model = model

    def fit(self, X, y):
        self.classes_ = self.model.classes_
        return self

    def decision_function(self, X):
        from afterfit.calibration.calibrators import logit

        p = self.model.predict_proba(X)
        return logit(p[:, 1]) if p.shape[1] == 2 else logit(p)

    def predict(self, X):
        return self.model.predict(X)


@pytest.fixture(scope="module")
def splits():
    X, y = make_classification(n_samples=6000, n_features=8, n_informative=5, random_state=0)
    return (X[:2000], y[:2000]), (X[2000:4000], y[2000:4000]), (X[4000:], y[4000:])


@pytest.fixture(scope="module")
def multi_splits():
    X, y = make_classification(n_samples=4500, n_features=10, n_informative=6, n_classes=4,
                               n_clusters_per_class=1, random_state=1)  # fmt: skip
    return (X[:1500], y[:1500]), (X[1500:3000], y[1500:3000]), (X[3000:], y[3000:])


# ----------------------------------------------------------------------------------------
# ECE, MCE, reliability curve, Brier decomposition against direct implementations
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("n_bins", [1, 5, 10, 15])
def test_ece_mce_match_a_direct_loop(strategy, n_bins):
    y, p = binary_data(500, seed=n_bins, power=2.0)
    report = evaluate_calibration(Predictions.from_arrays(y, p), n_bins=n_bins,
                                strategy=strategy, n_resamples=0)  # fmt: skip
    for s in ("uniform", "quantile"):
        edges = bin_edges(p, n_bins, s)
        ece, mce = loop_ece_mce(p, y.astype(float), edges)
        assert report[f"ece_{s}"].value == pytest.approx(ece, abs=1e-12)
        assert report[f"mce_{s}"].value == pytest.approx(mce, abs=1e-12)
        assert report[f"ece_{s}"].method == "none"


def test_weighted_ece_matches_loop_and_row_duplication():
    y, p = binary_data(300, seed=3)
    w = np.random.default_rng(0).integers(1, 4, y.size).astype(float)
    weighted = evaluate_calibration(Predictions.from_arrays(y, p, sample_weight=w), n_resamples=0)
    ece, mce = loop_ece_mce(p, y.astype(float), np.linspace(0, 1, 11), w)
    assert weighted["ece_uniform"].value == pytest.approx(ece, abs=1e-12)
    assert weighted["mce_uniform"].value == pytest.approx(mce, abs=1e-12)
    rows = np.repeat(np.arange(y.size), w.astype(int))
    duplicated = evaluate_calibration(Predictions.from_arrays(y[rows], p[rows]), n_resamples=0)
    for name in ("ece_uniform", "mce_uniform", "brier", "log_loss"):
        assert weighted[name].value == pytest.approx(duplicated[name].value, abs=1e-12)
    for a, b in zip(weighted.decomposition.components(),
                    duplicated.decomposition.components(), strict=True):  # fmt: skip
        assert a.value == pytest.approx(b.value, abs=1e-12)
    # Weighted equal-mass edges are the inverse of the weighted distribution.
    edges = bin_edges(p, 10, "quantile", w)
    expected = np.percentile(p[rows], np.linspace(0, 100, 11), method="inverted_cdf")
    np.testing.assert_allclose(edges[1:-1], expected[1:-1])


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_reliability_curve_matches_sklearn_calibration_curve(strategy):
    y, p = binary_data(800, seed=5, power=1.5)
    report = evaluate_calibration(Predictions.from_arrays(y, p), n_bins=8, strategy=strategy,
                                n_resamples=0)  # fmt: skip
    prob_true, prob_pred = calibration_curve(y, p, n_bins=8, strategy=strategy)
    frame = report.reliability.frame()
    np.testing.assert_allclose(frame["fraction_positive"], prob_true, rtol=0, atol=1e-12)
    np.testing.assert_allclose(frame["mean_predicted"], prob_pred, rtol=0, atol=1e-12)
    assert frame["weight"].sum() == y.size
    # Values exactly on an inner edge go to the lower bin, as in scikit-learn.
    y2 = np.array([0, 1, 1, 0, 1, 0])
    p2 = np.array([0.1, 0.2, 0.5, 0.5, 0.9, 0.3])
    r2 = evaluate_calibration(Predictions.from_arrays(y2, p2), n_bins=5, n_resamples=0)
    t2, q2 = calibration_curve(y2, p2, n_bins=5)
    np.testing.assert_allclose(r2.reliability.frame()["fraction_positive"], t2)
    np.testing.assert_allclose(r2.reliability.frame()["mean_predicted"], q2)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_brier_decomposition_identity(strategy):
    y, p = binary_data(700, seed=7, power=2.5)
    report = evaluate_calibration(Predictions.from_arrays(y, p), strategy=strategy,
                                n_resamples=0)  # fmt: skip
    d = {m.metric: m.value for m in report.decomposition.components()}
    ref = loop_decomposition(p, y.astype(float), bin_edges(p, 10, strategy))
    brier = brier_score_loss(y, p)
    assert d["brier"] == pytest.approx(brier, abs=1e-12)
    assert report["brier"].value == pytest.approx(brier, abs=1e-12)
    for name in ("reliability", "resolution", "uncertainty", "within_bin_variance",
                 "within_bin_covariance"):  # fmt: skip
        assert d[name] == pytest.approx(ref[name], abs=1e-12), name
    # Exact for the binned forecasts...
    assert d["brier_binned"] == pytest.approx(ref["binned"], abs=1e-12)
    assert d["brier_binned"] == pytest.approx(
        d["reliability"] - d["resolution"] + d["uncertainty"], abs=1e-12
    )
    # ...and the raw Brier score up to the within-bin residual.
    assert brier == pytest.approx(d["brier_binned"] + d["residual"], abs=1e-12)
    assert d["residual"] == pytest.approx(
        d["within_bin_variance"] - 2 * d["within_bin_covariance"], abs=1e-12
    )
    assert "exactly" in report.decomposition.to_dict()["identity"]


def test_multiclass_top_label_classwise_and_summed_decomposition():
    y, proba = multiclass_data()
    report = evaluate_calibration(Predictions.from_arrays(y, proba), n_resamples=0)
    pred = proba.argmax(axis=1)
    conf, correct = proba.max(axis=1), (pred == y).astype(float)
    for s in ("uniform", "quantile"):
        ece, mce = loop_ece_mce(conf, correct, bin_edges(conf, 10, s))
        assert report[f"ece_{s}"].value == pytest.approx(ece, abs=1e-12)
        assert report[f"mce_{s}"].value == pytest.approx(mce, abs=1e-12)
        per = [loop_ece_mce(proba[:, k], (y == k).astype(float),
                            bin_edges(proba[:, k], 10, s))[0] for k in range(4)]  # fmt: skip
        assert report[f"classwise_ece_{s}"].value == pytest.approx(np.mean(per), abs=1e-12)
    onehot = np.eye(4)[y]
    assert report["brier"].value == pytest.approx(((proba - onehot) ** 2).sum(1).mean())
    assert report["log_loss"].value == pytest.approx(log_loss(y, proba), abs=1e-12)
    parts = {m.metric: m.value for m in report.decomposition.components()}
    assert parts["brier"] == pytest.approx(report["brier"].value, abs=1e-12)
    summed = sum(d.reliability.value for d in report.decomposition_per_class)
    assert parts["reliability"] == pytest.approx(summed, abs=1e-12)
    assert parts["brier"] == pytest.approx(parts["brier_binned"] + parts["residual"], abs=1e-12)
    assert len(report.reliability_per_class) == 4
    assert report.reliability.kind == "top_label"
    curve = report.reliability.frame()
    t, q = calibration_curve(correct, conf, n_bins=10)
    np.testing.assert_allclose(curve["fraction_positive"], t, atol=1e-12)
    np.testing.assert_allclose(curve["mean_predicted"], q, atol=1e-12)
    per_class = report.frame(per_class=True)
    assert set(per_class["class"]) == {"0", "1", "2", "3"}


def test_bootstrap_intervals_bands_and_reproducibility():
    y, p = binary_data(400, seed=11, power=2.0)
    preds = Predictions.from_arrays(y, p)
    a = evaluate_calibration(preds, n_resamples=300, random_state=4)
    b = evaluate_calibration(preds, n_resamples=300, random_state=4)
    pd.testing.assert_frame_equal(a.frame(), b.frame())
    for row in a.metrics.overall():
        assert "bootstrap" in row.method
        assert row.ci_low < row.ci_high
        if not row.metric.startswith("mce"):  # a maximum: its interval may end at the value
            assert row.ci_low <= row.value <= row.ci_high
    frame = a.reliability.frame()
    assert {"ci_low", "ci_high"} <= set(frame.columns)
    assert (frame["ci_low"] <= frame["ci_high"] + 1e-12).all()
    # Stratified resampling keeps the class shares, so the uncertainty term is fixed.
    unc = a.decomposition.uncertainty
    # No spread: no interval, and the method says why (not a zero-width interval).
    assert math.isnan(unc.ci_low) and math.isnan(unc.ci_high) and "no spread" in unc.method
    perc = evaluate_calibration(preds, n_resamples=300, random_state=4,
                              bootstrap_method="percentile")  # fmt: skip
    assert perc["ece_uniform"].method == "stratified bootstrap percentile"


def test_results_frames_json_and_figures():
    y, proba = multiclass_data(300)
    multi = evaluate_calibration(Predictions.from_arrays(y, proba), n_resamples=50,
                               random_state=0)  # fmt: skip
    yb, pb = binary_data(200)
    binary = evaluate_calibration(Predictions.from_arrays(yb, pb), n_resamples=50, random_state=0)
    for report in (binary, multi):
        doc = report.to_dict()
        json.dumps(doc, allow_nan=False)
        assert {"metrics", "reliability", "brier_decomposition", "settings"} <= set(doc)
        assert list(report.decomposition.frame().columns) == [
            "component", "value", "ci_low", "ci_high", "method"]  # fmt: skip
        for fig in (report.plot(), report.plot("decomposition"),
                    report.reliability.plot(histogram=False)):  # fmt: skip
            assert isinstance(fig, Figure)
    assert isinstance(multi.plot("per_class"), Figure)
    with pytest.raises(ValueError):
        binary.plot("per_class")
    assert binary.positive_label == "1" and binary.reliability.kind == "binary"


# ----------------------------------------------------------------------------------------
# Calibrators against scikit-learn's CalibratedClassifierCV on a FrozenEstimator
# ----------------------------------------------------------------------------------------


def oracle(model, method, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CalibratedClassifierCV(FrozenEstimator(model), method=method).fit(X, y)


def fit_quietly(model, X, y, method):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AfterfitWarning)
        return calibrate(model, X, y, method=method)


@pytest.mark.parametrize("multiclass", [False, True])
def test_sigmoid_matches_sklearn_platt(splits, multi_splits, multiclass):
    (Xt, yt), (Xc, yc), (Xe, _) = multi_splits if multiclass else splits
    model = LogisticRegression(C=0.05, max_iter=5000).fit(Xt, yt)
    ours = calibrate(model, Xc, yc, method="sigmoid")
    ref = oracle(model, "sigmoid", Xc, yc)
    assert ours.response_method_ == "decision_function"
    np.testing.assert_allclose(ours.predict_proba(Xe), ref.predict_proba(Xe), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(ours.classes_, model.classes_)


def test_sigmoid_on_probabilities_fits_the_logit(splits):
    (Xt, yt), (Xc, yc), (Xe, _) = splits
    model = GaussianNB().fit(Xt, yt)
    ours = calibrate(model, Xc, yc, method="sigmoid")
    assert ours.response_method_ == "predict_proba"
    ref = oracle(LogitScore(model).fit(Xt, yt), "sigmoid", Xc, yc)
    np.testing.assert_allclose(ours.predict_proba(Xe), ref.predict_proba(Xe), rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", ["decision", "proba", "multiclass"])
def test_isotonic_matches_sklearn(splits, multi_splits, kind):
    (Xt, yt), (Xc, yc), (Xe, _) = multi_splits if kind == "multiclass" else splits
    model = GaussianNB() if kind == "proba" else LogisticRegression(max_iter=5000)
    model.fit(Xt, yt)
    ours = fit_quietly(model, Xc, yc, "isotonic")
    ref = oracle(model, "isotonic", Xc, yc)
    # scikit-learn scores the calibration rows fold by fold, which moves the last bit of
    # some scores; on the same scores the map is bit-for-bit scikit-learn's (next test).
    np.testing.assert_allclose(ours.predict_proba(Xe), ref.predict_proba(Xe), rtol=0, atol=1e-9)


def test_isotonic_equals_sklearn_exactly_on_row_wise_scores(splits):
    # A forest scores each row on its own, so scikit-learn's fold-by-fold scoring gives the
    # very same calibration scores: the calibrated probabilities are equal bit for bit.
    (Xt, yt), (Xc, yc), (Xe, _) = splits
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(Xt, yt)
    ours = fit_quietly(model, Xc, yc, "isotonic")
    np.testing.assert_array_equal(ours.predict_proba(Xe),
                                  oracle(model, "isotonic", Xc, yc).predict_proba(Xe))  # fmt: skip


def test_isotonic_map_is_sklearn_isotonic_regression_exactly():
    rng = np.random.default_rng(0)
    f = rng.normal(size=500)
    y = (rng.random(500) < 1 / (1 + np.exp(-2 * f))).astype(float)
    w = rng.uniform(0.5, 2, 500)
    x_pts, y_pts = fit_isotonic(f, y, w)
    iso = IsotonicRegression(out_of_bounds="clip").fit(f, y, sample_weight=w)
    new = np.concatenate([rng.normal(size=300) * 2, [f.min() - 1, f.max() + 1], f[:10]])
    np.testing.assert_array_equal(isotonic_map(new, x_pts, y_pts), iso.predict(new))


def test_temperature_recovers_a_known_temperature():
    rng = np.random.default_rng(42)
    n, K, T = 20_000, 5, 2.5
    z = rng.normal(size=(n, K)) * 2
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    y = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    # The model is over-confident: its logits are T times the true ones.
    logits = np.log(np.exp(T * z) / np.exp(T * z).sum(axis=1, keepdims=True))
    fitted = fit_temperature(logits, y)
    assert fitted == pytest.approx(T, rel=0.05)
    assert nll(logits, y, fitted) < nll(logits, y, 1.0)


def test_temperature_matches_sklearn_and_keeps_predictions(multi_splits, splits):
    (Xt, yt), (Xc, yc), (Xe, _) = multi_splits
    model = GaussianNB().fit(Xt, yt)
    ours = calibrate(model, Xc, yc, method="temperature")
    ref = oracle(model, "temperature", Xc, yc)
    np.testing.assert_allclose(ours.predict_proba(Xe), ref.predict_proba(Xe), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(ours.predict(Xe), model.predict(Xe))
    assert ours.temperature_ > 1  # naive Bayes is over-confident
    # Binary models too: softmax(log p / T) is sigmoid(logit(p) / T).
    (Xt, yt), (Xc, yc), (Xe, _) = splits
    binary = Cubed().fit(Xt, yt)
    cal = calibrate(binary, Xc, yc, method="temperature")
    proba = binary.predict_proba(Xe) + 1e-12  # the logits are log(p + 1e-12)
    expected = 1 / (1 + np.exp(-np.log(proba[:, 1] / proba[:, 0]) / cal.temperature_))
    np.testing.assert_allclose(cal.predict_proba(Xe)[:, 1], expected, rtol=1e-9, atol=1e-12)
    assert cal.temperature_ == pytest.approx(3.0, rel=0.15)  # undoes p**3 near p = 1/2


@pytest.mark.parametrize("method", ["sigmoid", "isotonic", "temperature"])
def test_calibration_improves_held_out_log_loss(splits, method):
    (Xt, yt), (Xc, yc), (Xe, ye) = splits
    model = Cubed().fit(Xt, yt)
    calibrated = fit_quietly(model, Xc, yc, method)
    result = compare_calibration(model, calibrated, Xe, ye, n_resamples=200, random_state=0)
    for metric in ("log_loss", "brier", "ece_uniform", "ece_quantile"):
        row = result[metric]
        assert row.difference.value == pytest.approx(row.after.value - row.before.value)
        assert row.difference.value < 0, metric
        assert row.difference.ci_high < 0, metric  # paired interval excludes no change
    assert result["log_loss"].before.value == pytest.approx(
        log_loss(ye, model.predict_proba(Xe)), abs=1e-9
    )
    frame = result.frame()
    assert list(frame["metric"])[:2] == ["log_loss", "brier"]
    json.dumps(result.to_dict(), allow_nan=False)
    assert isinstance(result.plot(), Figure)


def test_gaussian_nb_on_breast_cancer_improves():
    X, y = load_breast_cancer(return_X_y=True)
    order = np.random.default_rng(0).permutation(y.size)
    X, y = X[order], y[order]
    model = GaussianNB().fit(X[:190], y[:190])
    calibrated = calibrate(model, X[190:380], y[190:380], method="sigmoid")
    result = compare_calibration(model, calibrated, X[380:], y[380:], n_resamples=200,
                                 random_state=0)  # fmt: skip
    assert result["log_loss"].after.value < result["log_loss"].before.value
    assert result["mce_uniform"].after.value < result["mce_uniform"].before.value


def test_multiclass_comparison_has_classwise_rows(multi_splits):
    (Xt, yt), (Xc, yc), (Xe, ye) = multi_splits
    model = GaussianNB().fit(Xt, yt)
    calibrated = calibrate(model, Xc, yc, method="temperature")
    result = compare_calibration(model, calibrated, Xe, ye, n_resamples=100, random_state=0,
                                 strategy="quantile")  # fmt: skip
    assert "classwise_ece_uniform" in result.metrics
    assert result["accuracy"].difference.value == 0  # temperature keeps the argmax
    assert result["log_loss"].difference.value < 0
    assert result.before.kind == "top_label" and result.after.label == "calibrated"


# ----------------------------------------------------------------------------------------
# CalibratedModel: scikit-learn API and skops round trip
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["sigmoid", "isotonic", "temperature"])
@pytest.mark.parametrize("dataset", ["binary", "multiclass"])
def test_skops_round_trip_loads_without_trust(tmp_path, method, dataset):
    if dataset == "binary":
        X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    else:
        X, y = load_iris(return_X_y=True, as_frame=True)
        y = pd.Series(np.array(["setosa", "versicolor", "virginica"])[y])
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X.iloc[order].reset_index(drop=True), y.iloc[order].reset_index(drop=True)
    third = len(y) // 3
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    model.fit(X[:third], y[:third])
    calibrated = fit_quietly(model, X[third : 2 * third], y[third : 2 * third], method)
    path = tmp_path / "calibrated.skops"
    sio.dump(calibrated, path)
    loaded = afterfit.load_model(path)  # no trust, no trusted types
    test = X[2 * third :]
    np.testing.assert_array_equal(loaded.predict_scores(test), calibrated.predict_proba(test))
    np.testing.assert_array_equal(loaded.predict(test), calibrated.predict(test))
    np.testing.assert_array_equal(loaded.classes_, model.classes_)
    assert loaded.feature_names == list(X.columns)
    # The loaded model evaluates like any other.
    ev = afterfit.evaluate(loaded, test, y[2 * third :], ci="none")
    assert "log_loss" in ev.metrics


def test_sklearn_api_of_calibrated_model(splits):
    (Xt, yt), (Xc, yc), (Xe, _) = splits
    labels = np.array(["no", "yes"])
    model = LogisticRegression(max_iter=5000).fit(Xt, labels[yt])
    calibrated = CalibratedModel(model, method="sigmoid").fit(Xc, labels[yc])
    assert calibrated.get_params()["method"] == "sigmoid"
    assert set(calibrated.predict(Xe)) <= {"no", "yes"}
    proba = calibrated.predict_proba(Xe)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(calibrated.predict(Xe), labels[proba.argmax(axis=1)])
    assert 0 <= calibrated.score(Xe, labels[splits[2][1]]) <= 1
    assert clone(calibrated).get_params()["method"] == "sigmoid"
    summary = calibrated.summary()
    assert summary["maps"][0]["class"] == "yes" and summary["n_calibration_rows"] == 2000
    # Calibrating an afterfit adapter wraps the estimator inside it (savable with skops).
    wrapped = calibrate(afterfit.as_model(model), Xc, labels[yc])
    assert wrapped.estimator is model
    unfitted = CalibratedModel(model)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        unfitted.predict_proba(Xe)


def test_report_on_a_calibrated_model_and_with_a_model(splits):
    (Xt, yt), (Xc, yc), (Xe, ye) = splits
    model = Cubed().fit(Xt, yt)
    calibrated = calibrate(model, Xc, yc)
    before = evaluate_calibration(model, Xe, ye, n_resamples=0)
    after = evaluate_calibration(calibrated, Xe, ye, n_resamples=0)
    assert after["ece_uniform"].value < before["ece_uniform"].value
    assert after.decomposition.reliability.value < before.decomposition.reliability.value


# ----------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------


def test_one_class_in_the_calibration_split(splits):
    (Xt, yt), (Xc, yc), _ = splits
    model = LogisticRegression(max_iter=5000).fit(Xt, yt)
    only = yc == 1
    raises(MetricError, "only one class", "calibration split",
           call=lambda: calibrate(model, Xc[only], yc[only]))  # fmt: skip


def test_missing_class_for_one_vs_rest(multi_splits):
    (Xt, yt), (Xc, yc), _ = multi_splits
    model = LogisticRegression(max_iter=5000).fit(Xt, yt)
    keep = yc != 2
    raises(MetricError, "no rows of class", "temperature",
           call=lambda: calibrate(model, Xc[keep], yc[keep], method="sigmoid"))  # fmt: skip
    # One parameter for all classes: temperature scaling still works.
    calibrate(model, Xc[keep], yc[keep], method="temperature")


def test_temperature_needs_probabilities(splits):
    (Xt, yt), (Xc, yc), _ = splits
    svm = LinearSVC().fit(Xt, yt)
    raises(ModelError, "temperature", "predict_proba", "sigmoid",
           call=lambda: calibrate(svm, Xc, yc, method="temperature"))  # fmt: skip
    # Decision scores are fine for the sigmoid and isotonic maps.
    assert calibrate(svm, Xc, yc).response_method_ == "decision_function"


def test_isotonic_on_a_small_split_warns(splits):
    (Xt, yt), (Xc, yc), _ = splits
    model = LogisticRegression(max_iter=5000).fit(Xt, yt)
    with pytest.warns(AfterfitWarning, match="overfits"):
        calibrate(model, Xc[:300], yc[:300], method="isotonic")
    with warnings.catch_warnings():
        warnings.simplefilter("error", AfterfitWarning)
        calibrate(model, Xc, yc, method="isotonic")  # 2000 rows: no warning


def test_labels_the_model_does_not_know(splits):
    (Xt, yt), (Xc, yc), _ = splits
    model = LogisticRegression(max_iter=5000).fit(Xt, yt)
    text = np.where(yc == 1, "yes", "no")
    raises(DataError, "does not know", "'yes'", call=lambda: calibrate(model, Xc, text))
    raises(InvalidInputError, "rows", call=lambda: calibrate(model, Xc, yc[:-5]))


def test_other_bad_input(splits):
    (Xt, yt), (Xc, yc), (Xe, ye) = splits
    model = LogisticRegression(max_iter=5000).fit(Xt, yt)
    raises(InvalidInputError, "method", call=lambda: calibrate(model, Xc, yc, method="beta"))
    raises(ModelError, "regressor", call=lambda: calibrate(LinearRegression().fit(Xt, yt), Xc, yc))
    raises(ModelError, "not been fitted", call=lambda: calibrate(LogisticRegression(), Xc, yc))
    svm = LinearSVC().fit(Xt, yt)
    raises(MetricError, "decision scores",
           call=lambda: evaluate_calibration(svm, Xe, ye))  # fmt: skip
    preds = Predictions.from_model(model, Xe, ye)
    raises(InvalidInputError, "x and y", call=lambda: evaluate_calibration(preds, Xe, ye))
    raises(InvalidInputError, "X and y are needed", call=lambda: evaluate_calibration(model))
    raises(InvalidInputError, "n_bins", call=lambda: evaluate_calibration(preds, n_bins=0))
    raises(InvalidInputError, "strategy", call=lambda: evaluate_calibration(preds, strategy="x"))
    raises(
        InvalidInputError, "n_resamples", call=lambda: evaluate_calibration(preds, n_resamples=1)
    )
    one = Predictions.from_arrays(np.ones(20, int), np.linspace(0.1, 0.9, 20), classes=[0, 1])
    raises(MetricError, "only one class", call=lambda: evaluate_calibration(one))
    regression = Predictions.from_arrays(np.linspace(0, 1, 20) + 0.5, np.linspace(0, 1, 20))
    raises(MetricError, "classifiers", call=lambda: evaluate_calibration(regression))


def test_comparison_refuses_the_calibration_split(splits):
    (Xt, yt), (Xc, yc), (Xe, ye) = splits
    model = LogisticRegression(max_iter=5000).fit(Xt, yt)
    calibrated = calibrate(model, Xc, yc)
    raises(InvalidInputError, "calibrated on", "held-out",
           call=lambda: compare_calibration(model, calibrated, Xc, yc))  # fmt: skip
    # Shuffled rows are still the same rows.
    order = np.random.default_rng(0).permutation(yc.size)
    raises(InvalidInputError, "calibrated on",
           call=lambda: compare_calibration(model, calibrated, Xc[order], yc[order]))  # fmt: skip
    a = Predictions.from_model(model, Xe, ye)
    b = Predictions.from_model(calibrated, Xe[:-1], ye[:-1])
    raises(InvalidInputError, "same rows", call=lambda: compare_calibration(a, b))
    raises(InvalidInputError, "both", call=lambda: compare_calibration(a, calibrated, Xe, ye))
