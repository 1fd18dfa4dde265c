"""Every metric, curve and confusion matrix against scikit-learn, on random data.

Property tests: hypothesis draws the shape of the data (size, class balance, label type,
ties, weights, pos_label) and a seed for the values; scikit-learn is the oracle and the two
must agree to 1e-9. Intervals are off (``ci="none"``): this file checks point values only.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from afterfit.evaluation import evaluate_predictions

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TOL = {"abs": 1e-9, "rel": 1e-9}

BINARY_METRICS = (
    "accuracy", "balanced_accuracy", "precision", "recall", "specificity", "f1", "f2",
    "mcc", "cohen_kappa", "roc_auc", "average_precision", "log_loss", "brier",
)  # fmt: skip
MULTICLASS_METRICS = (
    "accuracy", "balanced_accuracy",
    *(f"{m}_{a}" for m in ("precision", "recall", "f1", "f2")
      for a in ("macro", "weighted", "micro")),
    "mcc", "cohen_kappa", "roc_auc_ovr_macro", "roc_auc_ovr_weighted",
    "average_precision_macro", "log_loss", "brier",
)  # fmt: skip
PER_CLASS_METRICS = ("precision", "recall", "f1", "f2", "roc_auc", "average_precision", "support")
REGRESSION_METRICS = ("mae", "rmse", "mse", "r2", "explained_variance", "mape", "median_ae")

LABEL_SETS = {
    "int01": [0, 1],
    "int": [-3, 7],
    "str": ["cat", "dog"],
    "bool": [False, True],
}


def assert_same(actual: float, expected: float, what: str) -> None:
    """Equal to 1e-9, with NaN equal to NaN."""
    actual, expected = float(actual), float(expected)
    if math.isnan(expected):
        assert math.isnan(actual), f"{what}: expected NaN, got {actual}"
        return
    assert actual == pytest.approx(expected, **TOL), f"{what}: {actual} != {expected}"


def assert_arrays(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=what)


def sk(fn, *args, **kwargs):
    """Call scikit-learn without its warnings about undefined values."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def metric_values(ev) -> dict[tuple[str, str | None], float]:
    return {(r.metric, r.label): r.value for r in ev.metrics.rows}


def draw_weights(rng: np.random.Generator, kind: str, y_codes: np.ndarray) -> np.ndarray | None:
    """Sample weights of a kind; every class keeps a positive total weight."""
    n = y_codes.size
    if kind == "none":
        return None
    if kind == "int":
        w = rng.integers(0, 5, size=n).astype(float)
    elif kind == "float":
        w = rng.exponential(1.0, size=n)
    else:  # "zeros": continuous weights, about a third of them zero
        w = rng.uniform(0.1, 3.0, size=n) * (rng.random(n) > 0.35)
    for c in np.unique(y_codes):
        members = np.flatnonzero(y_codes == c)
        if w[members].sum() <= 0:
            w[members[0]] = 1.0
    return w


# --------------------------------------------------------------------------------------
# Binary
# --------------------------------------------------------------------------------------


@st.composite
def binary_cases(draw):
    n = draw(st.integers(2, 80))
    pos_rate = draw(st.sampled_from([0.03, 0.1, 0.3, 0.5, 0.7, 0.9, 0.97]))
    labels = draw(st.sampled_from(sorted(LABEL_SETS)))
    decimals = draw(st.sampled_from([0, 1, 2, 12]))
    weight_kind = draw(st.sampled_from(["none", "none", "int", "float", "zeros"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    y01 = (rng.random(n) < pos_rate).astype(int)
    y01[rng.choice(n, 2, replace=False)] = [0, 1]  # both classes present
    # Scores that carry signal, rounded so that many rows tie.
    raw = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.2 * (y01 - 0.5))))
    scores = np.round(raw, decimals)
    classes = np.asarray(LABEL_SETS[labels])
    y = classes[y01]
    w = draw_weights(rng, weight_kind, y01)
    return y, scores, w, classes


def binary_oracle(y, s, w, pos, neg, threshold, probabilities):
    """Every binary metric from scikit-learn; ``s`` is the score of ``pos``."""
    y_pos = y == pos
    pred = np.where(s > threshold, pos, neg)
    kw = {"sample_weight": w}
    prf = {"pos_label": pos, "zero_division": np.nan, **kw}
    out = {
        "accuracy": sk(skm.accuracy_score, y, pred, **kw),
        "balanced_accuracy": sk(skm.balanced_accuracy_score, y, pred, **kw),
        "precision": sk(skm.precision_score, y, pred, **prf),
        "recall": sk(skm.recall_score, y, pred, **prf),
        "specificity": sk(skm.recall_score, y, pred, **{**prf, "pos_label": neg}),
        "f1": sk(skm.f1_score, y, pred, **prf),
        "f2": sk(skm.fbeta_score, y, pred, beta=2, **prf),
        "mcc": sk(skm.matthews_corrcoef, y, pred, **kw),
        "cohen_kappa": sk(skm.cohen_kappa_score, y, pred, **kw),
        "roc_auc": sk(skm.roc_auc_score, y_pos, s, **kw),
        "average_precision": sk(skm.average_precision_score, y, s, pos_label=pos, **kw),
    }
    if probabilities:
        out["log_loss"] = sk(skm.log_loss, y_pos, s, labels=[False, True], **kw)
        out["brier"] = sk(skm.brier_score_loss, y, s, pos_label=pos, **kw)
    return out


def check_binary(ev, y, s, w, pos, neg, threshold=0.5, probabilities=True):
    expected = binary_oracle(y, s, w, pos, neg, threshold, probabilities)
    got = metric_values(ev)
    names = BINARY_METRICS if probabilities else BINARY_METRICS[:-2]
    assert [r.metric for r in ev.metrics.overall()] == list(names)
    for name in names:
        assert_same(got[(name, None)], expected[name], name)
    pred = np.where(s > threshold, pos, neg)
    cm = sk(skm.confusion_matrix, y, pred, labels=[neg, pos], sample_weight=w)
    assert_arrays(ev.confusion.counts, cm, "confusion matrix")
    assert list(ev.confusion.labels) == [str(neg), str(pos)]


@SETTINGS
@given(binary_cases())
def test_binary_metrics_match_sklearn(case):
    y, s, w, classes = case
    ev = evaluate_predictions(y, s, sample_weight=w, ci="none")
    assert ev.task == "binary"
    assert ev.predictions.positive_label == classes[1]
    check_binary(ev, y, s, w, pos=classes[1], neg=classes[0])


@SETTINGS
@given(binary_cases())
def test_binary_pos_label_first_class_two_columns(case):
    """pos_label = classes[0] with two score columns (in classes order)."""
    y, s, w, classes = case
    two = np.column_stack([1 - s, s])
    pos, neg = classes[0], classes[1]
    ev = evaluate_predictions(y, two, pos_label=pos, sample_weight=w, ci="none")
    assert ev.predictions.positive_label == pos
    check_binary(ev, y, two[:, 0], w, pos=pos, neg=neg)


@SETTINGS
@given(binary_cases())
def test_binary_string_pos_label_first_class(case):
    """String labels, pos_label the *first* sorted label, two score columns."""
    y, s, w, _ = case
    labels = np.where(y == np.sort(np.unique(y))[1], "yes", "no")  # sorted: no < yes
    two = np.column_stack([s, 1 - s])  # column 0 is the score of "no", the positive class
    ev = evaluate_predictions(labels, two, pos_label="no", sample_weight=w, ci="none")
    assert ev.predictions.positive_label == "no"
    check_binary(ev, labels, s, w, pos="no", neg="yes")


@SETTINGS
@given(binary_cases())
def test_binary_string_pos_label_first_class_one_column(case):
    """String labels, pos_label the first sorted label, one column: its score."""
    y, s, w, _ = case
    labels = np.where(y == np.sort(np.unique(y))[1], "yes", "no")
    ev = evaluate_predictions(labels, s, pos_label="no", sample_weight=w, ci="none")
    assert ev.predictions.positive_label == "no"
    check_binary(ev, labels, s, w, pos="no", neg="yes")


@SETTINGS
@given(binary_cases(), st.sampled_from([0.0, -0.5, 0.7]))
def test_binary_decision_scores_match_sklearn(case, threshold):
    """Decision scores (not probabilities): no log loss or Brier, any threshold."""
    y, s, w, classes = case
    d = np.round(6 * s - 3, 1)
    ev = evaluate_predictions(
        y, d, sample_weight=w, scores_are_probabilities=False, threshold=threshold, ci="none"
    )
    check_binary(ev, y, d, w, classes[1], classes[0], threshold=threshold, probabilities=False)


@SETTINGS
@given(binary_cases())
def test_binary_curves_match_sklearn(case):
    """ROC, PR and calibration curves, point by point (unweighted)."""
    y, s, _, classes = case
    ev = evaluate_predictions(y, s, ci="none")
    y_pos = y == classes[1]

    fpr, tpr, thr = skm.roc_curve(y_pos, s, drop_intermediate=False)
    roc = ev.roc.frame()
    assert list(roc.columns) == ["fpr", "tpr", "threshold"]
    assert_arrays(roc["fpr"], fpr, "roc fpr")
    assert_arrays(roc["tpr"], tpr, "roc tpr")
    assert_arrays(roc["threshold"], thr, "roc thresholds")
    # The area of the curve is the trapezoid of these points.
    assert_same(ev.metrics["roc_auc"].value, skm.auc(fpr, tpr), "auc of the curve")

    precision, recall, thr = skm.precision_recall_curve(y_pos, s)
    pr = ev.pr.frame()
    assert list(pr.columns) == ["recall", "precision", "threshold"]
    assert_arrays(pr["recall"], recall, "pr recall")
    assert_arrays(pr["precision"], precision, "pr precision")
    assert_arrays(pr["threshold"].to_numpy()[:-1], thr, "pr thresholds")
    assert np.isinf(pr["threshold"].iloc[-1])

    prob_true, prob_pred = calibration_curve(y_pos, s, n_bins=10)
    cal = ev.calibration.frame()
    assert_arrays(cal["fraction_positive"], prob_true, "calibration fraction")
    assert_arrays(cal["mean_predicted"], prob_pred, "calibration mean score")
    counts = np.bincount(np.searchsorted(np.linspace(0, 1, 11)[1:-1], s), minlength=10)
    assert_arrays(cal["weight"], counts[counts > 0], "calibration bin counts")


@SETTINGS
@given(binary_cases())
def test_binary_weighted_curves_match_sklearn(case):
    """Weighted ROC and PR: same points as scikit-learn, once zero-weight rows are gone
    (scikit-learn drops them before building the curve)."""
    y, s, w, classes = case
    if w is None:
        w = np.ones(y.size)
    ev = evaluate_predictions(y, s, sample_weight=w, ci="none")
    keep = w > 0
    y_pos = (y == classes[1])[keep]
    fpr, tpr, _ = skm.roc_curve(y_pos, s[keep], sample_weight=w[keep], drop_intermediate=False)
    roc = ev.roc.frame()
    # Tie groups of zero-weight rows only repeat the previous point.
    pts = np.unique(np.round(np.column_stack([roc["fpr"], roc["tpr"]]), 12), axis=0)
    ref = np.unique(np.round(np.column_stack([fpr, tpr]), 12), axis=0)
    assert_arrays(pts, ref, "weighted roc points")
    cal = ev.calibration.frame()
    bins = np.searchsorted(np.linspace(0, 1, 11)[1:-1], s)
    for row in cal.itertuples():
        in_bin = bins == round(row.bin_low * 10)
        assert_same(row.weight, w[in_bin].sum(), "calibration bin weight")
        assert_same(row.mean_predicted, np.average(s[in_bin], weights=w[in_bin]), "bin mean")
        frac = np.average(y[in_bin] == classes[1], weights=w[in_bin])
        assert_same(row.fraction_positive, frac, "bin fraction")


def test_binary_pos_label_flips_orientation():
    """Swapping the positive class with the same two columns mirrors the recall pair."""
    y = np.array(["a", "b", "b", "a", "b", "a", "a", "b"])
    s = np.array([0.1, 0.8, 0.4, 0.3, 0.9, 0.6, 0.2, 0.7])
    two = np.column_stack([1 - s, s])
    ev_b = evaluate_predictions(y, two, ci="none")
    ev_a = evaluate_predictions(y, two, pos_label="a", ci="none")
    assert ev_b.metrics["recall"].value == pytest.approx(ev_a.metrics["specificity"].value)
    assert ev_b.metrics["roc_auc"].value == pytest.approx(ev_a.metrics["roc_auc"].value)
    assert ev_a.confusion.labels == ("b", "a")


def test_binary_one_column_score_is_positive_class_score():
    """A 1-D y_score is the score of the positive class (``pos_label``), as in sklearn."""
    y = np.array(["a", "b", "b", "a", "b", "a", "a", "b"])
    p_a = np.array([0.9, 0.2, 0.6, 0.7, 0.1, 0.4, 0.8, 0.3])  # score of "a"
    ev = evaluate_predictions(y, p_a, pos_label="a", ci="none")
    assert ev.metrics["roc_auc"].value == pytest.approx(skm.roc_auc_score(y == "a", p_a))


# --------------------------------------------------------------------------------------
# Multiclass
# --------------------------------------------------------------------------------------


@st.composite
def multiclass_cases(draw):
    K = draw(st.integers(3, 5))
    n = draw(st.integers(K, 90))
    labels = draw(st.sampled_from(["int", "str"]))
    alpha = draw(st.sampled_from([0.3, 1.0, 5.0]))
    grid = draw(st.sampled_from([0, 4, 10, 20]))  # 0: continuous; else multiples of 1/grid
    imbalance = draw(st.sampled_from([0.0, 1.0, 2.5]))
    weight_kind = draw(st.sampled_from(["none", "none", "int", "float", "zeros"]))
    shuffle_classes = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    prior = np.exp(-imbalance * np.arange(K))
    codes = rng.choice(K, size=n, p=prior / prior.sum())
    codes[rng.choice(n, K, replace=False)] = np.arange(K)  # every class present
    # Class probabilities from a Dirichlet, tilted towards the true class.
    conc = np.full((n, K), alpha)
    conc[np.arange(n), codes] += 2 * alpha
    proba = np.vstack([rng.dirichlet(c) for c in conc])
    if grid:
        proba = np.vstack([rng.multinomial(grid, p) for p in proba]) / grid  # ties
    names = np.array([f"c{k}" if labels == "str" else 10 * k - 5 for k in range(K)])
    # Score columns in the order of `classes`, shuffled or not.
    order = rng.permutation(K) if shuffle_classes else np.arange(K)
    classes = names[order]
    y = names[codes]
    proba_cols = proba[:, order]
    w = draw_weights(rng, weight_kind, codes)
    return y, proba_cols, w, classes, shuffle_classes


@SETTINGS
@given(multiclass_cases())
def test_multiclass_metrics_match_sklearn(case):
    y, proba, w, classes, pass_classes = case
    ev = evaluate_predictions(
        y, proba, classes=classes if pass_classes else None, sample_weight=w, ci="none"
    )
    assert ev.task == "multiclass"
    if not pass_classes:
        assert list(ev.predictions.classes) == sorted(classes)
    cls = np.asarray(ev.predictions.classes)
    np.testing.assert_array_equal(np.sort(cls), np.sort(classes))
    # Oracle inputs: columns in sorted label order, as scikit-learn requires.
    sorted_classes = np.sort(classes)
    col = {c: j for j, c in enumerate(classes)}
    proba_sorted = proba[:, [col[c] for c in sorted_classes]]
    pred = classes[np.argmax(proba, axis=1)]
    kw = {"sample_weight": w}
    prf = {"zero_division": np.nan, "labels": sorted_classes, **kw}
    expected = {
        "accuracy": sk(skm.accuracy_score, y, pred, **kw),
        "balanced_accuracy": sk(skm.balanced_accuracy_score, y, pred, **kw),
        "mcc": sk(skm.matthews_corrcoef, y, pred, **kw),
        "cohen_kappa": sk(skm.cohen_kappa_score, y, pred, **kw),
        "log_loss": sk(skm.log_loss, y, proba_sorted, labels=sorted_classes, **kw),
        "brier": sk(skm.brier_score_loss, y, proba_sorted, labels=sorted_classes, **kw),
    }
    for avg in ("macro", "weighted"):
        expected[f"roc_auc_ovr_{avg}"] = sk(
            skm.roc_auc_score, y, proba_sorted, multi_class="ovr", average=avg,
            labels=sorted_classes, **kw,
        )  # fmt: skip
    onehot = (y[:, None] == sorted_classes[None, :]).astype(int)
    expected["average_precision_macro"] = sk(
        skm.average_precision_score, onehot, proba_sorted, average="macro", **kw
    )
    for avg in ("macro", "weighted", "micro"):
        expected[f"precision_{avg}"] = sk(skm.precision_score, y, pred, average=avg, **prf)
        expected[f"recall_{avg}"] = sk(skm.recall_score, y, pred, average=avg, **prf)
        expected[f"f1_{avg}"] = sk(skm.f1_score, y, pred, average=avg, **prf)
        expected[f"f2_{avg}"] = sk(skm.fbeta_score, y, pred, beta=2, average=avg, **prf)

    got = metric_values(ev)
    assert [r.metric for r in ev.metrics.overall()] == list(MULTICLASS_METRICS)
    for name in MULTICLASS_METRICS:
        assert_same(got[(name, None)], expected[name], name)

    # Per class, labelled str(class).
    p, r, f1, support = sk(skm.precision_recall_fscore_support, y, pred, average=None, **prf)
    f2 = sk(skm.fbeta_score, y, pred, beta=2, average=None, **prf)
    per_class = ev.metrics.frame(per_class=True)
    assert set(per_class["class"]) == {str(c) for c in classes}
    assert set(per_class["metric"]) == set(PER_CLASS_METRICS)
    for k, c in enumerate(sorted_classes):
        label = str(c)
        j = col[c]
        assert_same(got[("precision", label)], p[k], f"precision[{label}]")
        assert_same(got[("recall", label)], r[k], f"recall[{label}]")
        assert_same(got[("f1", label)], f1[k], f"f1[{label}]")
        assert_same(got[("f2", label)], f2[k], f"f2[{label}]")
        assert_same(got[("support", label)], support[k], f"support[{label}]")
        auc = sk(skm.roc_auc_score, y == c, proba[:, j], **kw)
        assert_same(got[("roc_auc", label)], auc, f"roc_auc[{label}]")
        ap = sk(skm.average_precision_score, y == c, proba[:, j], **kw)
        assert_same(got[("average_precision", label)], ap, f"average_precision[{label}]")

    cm = sk(skm.confusion_matrix, y, pred, labels=cls, sample_weight=w)
    assert_arrays(ev.confusion.counts, cm, "confusion matrix")


@SETTINGS
@given(multiclass_cases())
def test_multiclass_curves_match_sklearn(case):
    """One-vs-rest ROC and PR curves of each class (unweighted)."""
    y, proba, _, classes, _ = case
    ev = evaluate_predictions(y, proba, classes=classes, ci="none")
    assert [c.label for c in ev.roc_per_class] == [str(c) for c in classes]
    for j, c in enumerate(classes):
        fpr, tpr, thr = skm.roc_curve(y == c, proba[:, j], drop_intermediate=False)
        roc = ev.roc_per_class[j].frame()
        assert_arrays(roc["fpr"], fpr, f"roc fpr [{c}]")
        assert_arrays(roc["tpr"], tpr, f"roc tpr [{c}]")
        assert_arrays(roc["threshold"], thr, f"roc thresholds [{c}]")
        precision, recall, _ = skm.precision_recall_curve(y == c, proba[:, j])
        pr = ev.pr_per_class[j].frame()
        assert_arrays(pr["recall"], recall, f"pr recall [{c}]")
        assert_arrays(pr["precision"], precision, f"pr precision [{c}]")


# --------------------------------------------------------------------------------------
# Regression
# --------------------------------------------------------------------------------------


@st.composite
def regression_cases(draw):
    n = draw(st.integers(2, 120))
    mean = draw(st.sampled_from([0.0, 3.0, -50.0, 1e6, 1e8]))
    scale = draw(st.sampled_from([0.01, 1.0, 100.0]))
    decimals = draw(st.sampled_from([None, 0, 1, 3]))
    weight_kind = draw(st.sampled_from(["none", "none", "int", "dyadic"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    y = mean + scale * rng.normal(size=n)
    pred = y + scale * rng.normal(0.2, 0.7, size=n)
    if decimals is not None:  # ties in the targets and in the absolute errors
        unit = scale * 10.0**-decimals
        y = mean + np.round((y - mean) / unit) * unit
        pred = mean + np.round((pred - mean) / unit) * unit
    if weight_kind == "none":
        w = None
    elif weight_kind == "int":  # zero weights included
        w = rng.integers(0, 4, size=n).astype(float)
        w[rng.integers(n)] = 1.0
    else:  # exact binary fractions: the weighted median's ties are exact
        w = rng.integers(0, 8, size=n) / 4.0
        w[rng.integers(n)] = 0.75
    return y, pred, w


def regression_oracle(y, pred, w):
    kw = {"sample_weight": w}
    return {
        "mae": skm.mean_absolute_error(y, pred, **kw),
        "rmse": skm.root_mean_squared_error(y, pred, **kw),
        "mse": skm.mean_squared_error(y, pred, **kw),
        "r2": skm.r2_score(y, pred, **kw),
        "explained_variance": skm.explained_variance_score(y, pred, **kw),
        "mape": skm.mean_absolute_percentage_error(y, pred, **kw),
        "median_ae": skm.median_absolute_error(y, pred, **kw),
    }


@SETTINGS
@given(regression_cases())
def test_regression_metrics_match_sklearn(case):
    y, pred, w = case
    ev = evaluate_predictions(y, pred, task="regression", sample_weight=w, ci="none")
    expected = regression_oracle(y, pred, w)
    assert [r.metric for r in ev.metrics.overall()] == list(REGRESSION_METRICS)
    got = metric_values(ev)
    kept = y if w is None else y[w > 0]
    if np.unique(kept).size == 1:
        # A constant target (zero weights aside): scikit-learn's force_finite convention,
        # 1 for perfect predictions and 0 otherwise. (scikit-learn itself can return
        # -1e29 here, dividing by the round-off of a weighted mean.)
        perfect = np.all((pred == y)[w > 0] if w is not None else pred == y)
        expected["r2"] = 1.0 if perfect else 0.0
        residual = (y - pred) if w is None else (y - pred)[w > 0]
        expected["explained_variance"] = 1.0 if np.unique(residual).size == 1 else 0.0
    for name in REGRESSION_METRICS:
        assert_same(got[(name, None)], expected[name], name)


@pytest.mark.parametrize("mean", [1e6, 1e9])
def test_regression_large_mean_no_cancellation(mean):
    """Sums of squares around a large mean do not cancel: R² matches the small-mean R²."""
    rng = np.random.default_rng(1)
    noise = rng.normal(size=500)
    pred_noise = noise + rng.normal(0.1, 0.5, size=500)
    small = evaluate_predictions(noise, pred_noise, task="regression", ci="none")
    ev = evaluate_predictions(mean + noise, mean + pred_noise, task="regression", ci="none")
    y, pred = mean + noise, mean + pred_noise
    for name in ("r2", "explained_variance", "mse", "mae"):
        expected = regression_oracle(y, pred, None)[name]
        assert_same(ev.metrics[name].value, expected, name)
        # The shift itself changes the data by float rounding only (~1e-7 at 1e9).
        assert ev.metrics[name].value == pytest.approx(small.metrics[name].value, rel=1e-5)


def test_regression_weighted_median_zero_weights_and_exact_half():
    y = np.zeros(6)
    pred = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    for w in ([1, 1, 1, 1, 1, 1], [1, 0, 1, 1, 0, 1], [0, 0, 1, 1, 1, 1], [3, 0, 0, 1, 1, 1]):
        w = np.asarray(w, dtype=float)
        ev = evaluate_predictions(y, pred, task="regression", sample_weight=w, ci="none")
        expected = skm.median_absolute_error(y, pred, sample_weight=w)
        assert_same(ev.metrics["median_ae"].value, expected, f"median_ae w={w}")


@pytest.mark.parametrize("scale", [1e-8, 1e-10])
def test_regression_r2_is_scale_invariant(scale):
    """Regression: y counted as constant below an absolute variance of 16 eps, so R² of
    targets on a 1e-8 scale came out 0."""
    rng = np.random.default_rng(0)
    y = rng.normal(size=50)
    pred = y + 0.5 * rng.normal(size=50)
    ev = evaluate_predictions(y * scale, pred * scale, task="regression", ci="none")
    assert_same(ev.metrics["r2"].value, skm.r2_score(y * scale, pred * scale), "r2")
    assert_same(
        ev.metrics["explained_variance"].value,
        skm.explained_variance_score(y * scale, pred * scale),
        "explained_variance",
    )


def absent_class_case(seed: int):
    """The model knows four classes; the test rows hold three of them."""
    rng = np.random.default_rng(seed)
    n = 60
    y = rng.integers(0, 3, n)
    proba = rng.dirichlet(np.ones(4), n)
    return y, proba, np.arange(4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_multiclass_class_absent_from_y_true(seed):
    """Label metrics over all four classes, as scikit-learn with ``labels=classes``."""
    y, proba, classes = absent_class_case(seed)
    ev = evaluate_predictions(y, proba, classes=classes, ci="none")
    got = metric_values(ev)
    pred = proba.argmax(axis=1)
    prf = {"zero_division": np.nan, "labels": classes}
    for avg in ("macro", "weighted", "micro"):
        for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score),
                         ("f1", skm.f1_score)):  # fmt: skip
            expected = sk(fn, y, pred, average=avg, **prf)
            assert_same(got[(f"{name}_{avg}", None)], expected, f"{name}_{avg}")
    assert_same(got[("balanced_accuracy", None)], sk(skm.balanced_accuracy_score, y, pred), "ba")
    p, r, f1, support = sk(skm.precision_recall_fscore_support, y, pred, average=None, **prf)
    for k in classes:
        assert_same(got[("precision", str(k))], p[k], f"precision[{k}]")
        assert_same(got[("recall", str(k))], r[k], f"recall[{k}]")
        assert_same(got[("f1", str(k))], f1[k], f"f1[{k}]")
        assert_same(got[("support", str(k))], support[k], f"support[{k}]")
    # The absent class has no ROC AUC; its macro average is undefined (NaN in both).
    assert math.isnan(got[("roc_auc", "3")])
    macro = sk(skm.roc_auc_score, y, proba, multi_class="ovr", average="macro", labels=classes)
    assert_same(got[("roc_auc_ovr_macro", None)], macro, "roc_auc_ovr_macro")


@pytest.mark.parametrize("seed", [0, 1])
def test_multiclass_weighted_auc_ignores_class_without_support(seed):
    """Regression: a class without rows has weight 0, but NaN * 0 made the weighted
    one-vs-rest AUC NaN; scikit-learn leaves the class out."""
    y, proba, classes = absent_class_case(seed)
    ev = evaluate_predictions(y, proba, classes=classes, ci="none")
    expected = sk(
        skm.roc_auc_score, y, proba, multi_class="ovr", average="weighted", labels=classes
    )
    assert math.isfinite(expected)
    assert_same(ev.metrics["roc_auc_ovr_weighted"].value, expected, "roc_auc_ovr_weighted")
