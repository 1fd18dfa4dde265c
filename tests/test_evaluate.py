"""evaluate_predictions: bad input, results frames, JSON and the interval methods."""

from __future__ import annotations

import json
import math
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from afterfit.errors import AfterfitError, DataError, InvalidInputError, MetricError
from afterfit.evaluation import evaluate_predictions

BINARY_Y = np.array([0, 1, 0, 1, 1, 0, 1, 0, 0, 1])
BINARY_S = np.array([0.1, 0.8, 0.35, 0.6, 0.9, 0.2, 0.45, 0.7, 0.05, 0.55])

DOCUMENTED_METHODS = {
    "delong", "wilson", "bootstrap BCa", "bootstrap percentile",
    "stratified bootstrap BCa", "stratified bootstrap percentile", "none",
}  # fmt: skip


def binary_data(n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    s = np.round(1 / (1 + np.exp(-(rng.normal(size=n) + 1.5 * y - 0.5))), 3)
    return y, s


def multiclass_data(n: int = 300, K: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, n)
    logits = rng.normal(size=(n, K)) + 1.5 * np.eye(K)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return np.array(["ant", "bee", "cat", "dog", "eel"])[:K][y], proba


def regression_data(n: int = 200, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.normal(10, 3, n)
    return y, y + rng.normal(0, 1, n)


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------


def raises(error, *words, call):
    """``call()`` raises ``error``; its message holds every word (case-insensitive)."""
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, AfterfitError)
    message = str(info.value).lower()
    for word in words:
        assert word.lower() in message, f"{word!r} not in {message!r}"
    assert info.value.fix, "every error says how to fix it"
    return info.value


def test_nan_in_scores():
    s = BINARY_S.copy()
    s[3] = np.nan
    raises(DataError, "y_score", "nan", "row 3", call=lambda: evaluate_predictions(BINARY_Y, s))


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_inf_in_scores(value):
    s = BINARY_S.copy()
    s[7] = value
    raises(
        DataError, "y_score", "infinite", "row 7",
        call=lambda: evaluate_predictions(BINARY_Y, s, scores_are_probabilities=False),
    )  # fmt: skip


def test_nan_in_multiclass_scores():
    y, proba = multiclass_data(20)
    proba[5, 1] = np.nan
    raises(DataError, "nan", call=lambda: evaluate_predictions(y, proba))


@pytest.mark.parametrize(
    "y_true",
    [
        np.array([0, 1, np.nan, 1, 1, 0, 1, 0, 0, 1]),
        np.array(["a", "b", None, "b", "b", "a", "b", "a", "a", "b"], dtype=object),
        pd.Series([0, 1, None, 1, 1, 0, 1, 0, 0, 1], dtype="Int64"),
    ],
    ids=["float-nan", "object-none", "pandas-NA"],
)
def test_missing_in_y_true(y_true):
    raises(DataError, "y_true", "missing", call=lambda: evaluate_predictions(y_true, BINARY_S))


def test_nan_in_regression_target():
    y, p = regression_data(20)
    y[4] = np.nan
    raises(DataError, "y_true", call=lambda: evaluate_predictions(y, p, task="regression"))


@pytest.mark.parametrize("bad", [1.2, -0.1])
def test_probabilities_outside_unit_interval(bad):
    s = BINARY_S.copy()
    s[0] = bad
    raises(
        DataError, "outside [0, 1]",
        call=lambda: evaluate_predictions(BINARY_Y, s, scores_are_probabilities=True),
    )  # fmt: skip


def test_scores_outside_unit_interval_are_decision_scores_when_not_told():
    s = BINARY_S * 4 - 2
    ev = evaluate_predictions(BINARY_Y, s, ci="none")
    assert not ev.predictions.scores_are_probabilities
    assert ev.predictions.threshold == 0.0
    assert "log_loss" not in ev.metrics and "brier" not in ev.metrics
    assert ev.calibration is None


@pytest.mark.parametrize("explicit", [None, True])
def test_multiclass_rows_not_summing_to_one(explicit):
    y, proba = multiclass_data(30)
    proba[4] *= 0.9
    raises(
        DataError, "sum to 1", "row 4",
        call=lambda: evaluate_predictions(y, proba, scores_are_probabilities=explicit),
    )  # fmt: skip


def test_multiclass_rows_within_float32_tolerance_are_fine():
    y, proba = multiclass_data(30)
    ev = evaluate_predictions(y, proba.astype(np.float32), ci="none")
    assert ev.predictions.scores_are_probabilities


def test_multiclass_one_vs_rest_scores_need_not_sum_to_one():
    y, proba = multiclass_data(30)
    ev = evaluate_predictions(y, proba * 0.5, scores_are_probabilities=False, ci="none")
    assert "log_loss" not in ev.metrics


def test_single_class_inferred():
    raises(MetricError, "two classes", call=lambda: evaluate_predictions(np.ones(10), BINARY_S))


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_single_class_with_classes_given(task):
    y = np.array(["b"] * 6)
    if task == "binary":
        classes, scores = ["a", "b"], BINARY_S[:6]
    else:
        classes, scores = ["a", "b", "c"], np.full((6, 3), 1 / 3)
    raises(
        MetricError, "only one class",
        call=lambda: evaluate_predictions(y, scores, task=task, classes=classes),
    )  # fmt: skip


@pytest.mark.parametrize("which", ["one-class", "pos_label", "unknown-label"])
def test_error_messages_name_labels_plainly(which):
    """Regression: messages printed numpy reprs such as np.int64(1) and np.str_('c')."""
    two = np.column_stack([1 - BINARY_S[:4], BINARY_S[:4]])
    calls = {
        "one-class": lambda: evaluate_predictions(np.ones(4, int), BINARY_S[:4], classes=[0, 1]),
        "pos_label": lambda: evaluate_predictions(BINARY_Y, BINARY_S, pos_label=5),
        "unknown-label": lambda: evaluate_predictions(
            np.array(["a", "b", "c", "a"]), two, classes=["a", "b"]
        ),
    }
    with pytest.raises(InvalidInputError) as info:
        calls[which]()
    assert "np." not in str(info.value)


@pytest.mark.parametrize(
    ("y", "s"),
    [
        (BINARY_Y, BINARY_S[:-1]),
        (BINARY_Y[:-2], BINARY_S),
        (BINARY_Y, np.full((9, 3), 1 / 3)),
    ],
)
def test_length_mismatch(y, s):
    raises(InvalidInputError, "rows", call=lambda: evaluate_predictions(y, s))


def test_sample_weight_length_mismatch():
    raises(
        InvalidInputError, "sample_weight",
        call=lambda: evaluate_predictions(BINARY_Y, BINARY_S, sample_weight=np.ones(9)),
    )  # fmt: skip


@pytest.mark.parametrize("w", [[-1.0] + [1.0] * 9, [0.0] * 10])
def test_bad_sample_weights(w):
    raises(
        InvalidInputError, "sample_weight", "non-negative",
        call=lambda: evaluate_predictions(BINARY_Y, BINARY_S, sample_weight=w),
    )  # fmt: skip


def test_nan_sample_weight_message_is_about_weights():
    """Regression: a NaN weight got the fix for a missing target ("drop or fill the rows
    without a target")."""
    w = np.ones(10)
    w[2] = np.nan
    err = raises(
        DataError, "sample_weight",
        call=lambda: evaluate_predictions(BINARY_Y, BINARY_S, sample_weight=w),
    )  # fmt: skip
    assert "target" not in str(err).lower()


def test_unknown_labels_binary():
    y = np.array(["a", "b", "c", "a", "b", "a"])
    two = np.column_stack([1 - BINARY_S[:6], BINARY_S[:6]])
    raises(
        DataError, "'c'", "classes",
        call=lambda: evaluate_predictions(y, two, classes=["a", "b"]),
    )  # fmt: skip


def test_unknown_labels_multiclass():
    y, proba = multiclass_data(40, K=4)
    raises(
        DataError, "'dog'",
        call=lambda: evaluate_predictions(y, proba[:, :3] / proba[:, :3].sum(1, keepdims=True),
                                          classes=["ant", "bee", "cat"]),
    )  # fmt: skip


def test_wrong_number_of_score_columns():
    y, proba = multiclass_data(40, K=3)
    raises(
        InvalidInputError, "columns",
        call=lambda: evaluate_predictions(y, proba, classes=["ant", "bee", "cat", "dog"]),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("y", "s"),
    [([], []), (np.array([], dtype=int), np.empty((0, 3))), (np.array([]), np.array([]))],
)
def test_empty_input(y, s):
    raises(DataError, "empty", call=lambda: evaluate_predictions(y, s))


def test_missing_scores():
    raises(InvalidInputError, "y_score", call=lambda: evaluate_predictions(BINARY_Y))


def test_non_numeric_scores():
    raises(
        InvalidInputError, "numeric",
        call=lambda: evaluate_predictions(BINARY_Y, np.array(list("abcdefghij"))),
    )  # fmt: skip


@pytest.mark.parametrize("ci", ["delong", "BOOTSTRAP", "", 0.95])
def test_bad_ci_option(ci):
    raises(InvalidInputError, "ci", call=lambda: evaluate_predictions(BINARY_Y, BINARY_S, ci=ci))


@pytest.mark.parametrize("confidence", [0.0, 1.0, 95, -0.5, 1.5])
def test_confidence_out_of_range(confidence):
    raises(
        InvalidInputError, "confidence",
        call=lambda: evaluate_predictions(BINARY_Y, BINARY_S, confidence=confidence),
    )  # fmt: skip


def test_bad_bootstrap_options():
    raises(
        InvalidInputError, "bootstrap_method",
        call=lambda: evaluate_predictions(BINARY_Y, BINARY_S, bootstrap_method="bc"),
    )  # fmt: skip
    raises(
        InvalidInputError, "n_resamples",
        call=lambda: evaluate_predictions(BINARY_Y, BINARY_S, n_resamples=1),
    )  # fmt: skip
    raises(
        InvalidInputError, "n_bins",
        call=lambda: evaluate_predictions(BINARY_Y, BINARY_S, n_bins=0),
    )  # fmt: skip


def test_bad_task_and_pos_label():
    raises(
        InvalidInputError, "task",
        call=lambda: evaluate_predictions(BINARY_Y, BINARY_S, task="ranking"),
    )  # fmt: skip
    raises(
        InvalidInputError, "pos_label",
        call=lambda: evaluate_predictions(BINARY_Y, BINARY_S, pos_label=5),
    )  # fmt: skip


def test_errors_are_value_errors():
    """InvalidInputError subclasses ValueError, so generic handlers still catch it."""
    with pytest.raises(ValueError):
        evaluate_predictions(BINARY_Y, BINARY_S, ci="nope")


def test_pos_label_given_as_text_matches_class():
    """A label typed as text (CLI) names the class whose text it is: "False" -> False."""
    y = BINARY_Y.astype(bool)
    ev = evaluate_predictions(y, 1 - BINARY_S, pos_label="False", ci="none")
    assert not ev.predictions.positive_label
    assert ev.confusion.labels == ("True", "False")
    expected = roc_auc_score(~y, 1 - BINARY_S)
    assert ev.metrics["roc_auc"].value == pytest.approx(expected, abs=1e-12)


# --------------------------------------------------------------------------------------
# Results: frames, JSON
# --------------------------------------------------------------------------------------


METRIC_COLUMNS = ["metric", "value", "ci_low", "ci_high", "method"]


def test_binary_frames_have_documented_columns():
    y, s = binary_data()
    ev = evaluate_predictions(y, s, n_resamples=200, random_state=0)
    assert list(ev.metrics.frame().columns) == METRIC_COLUMNS
    assert ev.metrics.frame(per_class=True).empty
    assert list(ev.roc.frame().columns) == ["fpr", "tpr", "threshold"]
    assert list(ev.pr.frame().columns) == ["recall", "precision", "threshold"]
    cal = ev.calibration.frame()
    assert list(cal.columns) == [
        "bin_low", "bin_high", "mean_predicted", "fraction_positive", "weight",
        "ci_low", "ci_high",
    ]  # fmt: skip
    assert cal["weight"].sum() == pytest.approx(len(y))
    conf = ev.confusion.frame()
    assert list(conf.columns) == ["true", "predicted", "count", "normalized"]
    assert conf["count"].sum() == len(y)
    assert ev.confusion.counts.shape == (2, 2)
    assert ev.residuals is None and ev.roc_per_class == ()
    roc = ev.roc.frame()
    assert roc["fpr"].iloc[0] == 0 and roc["tpr"].iloc[0] == 0
    assert roc["fpr"].iloc[-1] == 1 and roc["tpr"].iloc[-1] == 1
    assert np.all(np.diff(roc["fpr"]) >= 0) and np.all(np.diff(roc["tpr"]) >= 0)
    # The ROC band is drawn with ci != "none".
    assert ev.roc.band is not None and ev.roc.band.low.shape == ev.roc.band.grid.shape


def test_multiclass_frames_have_documented_columns():
    y, proba = multiclass_data()
    ev = evaluate_predictions(y, proba, n_resamples=200, random_state=0)
    assert list(ev.metrics.frame().columns) == METRIC_COLUMNS
    per_class = ev.metrics.frame(per_class=True)
    assert list(per_class.columns) == ["class", *METRIC_COLUMNS]
    assert sorted(set(per_class["class"])) == ["ant", "bee", "cat"]
    assert len(ev.roc_per_class) == 3 and len(ev.pr_per_class) == 3
    for curve in ev.roc_per_class:
        assert list(curve.frame().columns) == ["fpr", "tpr", "threshold"]
    assert ev.confusion.counts.shape == (3, 3)
    assert ev.roc is None and ev.calibration is None


def test_regression_frames_have_documented_columns():
    y, p = regression_data()
    ev = evaluate_predictions(y, p, task="regression", n_resamples=200, random_state=0)
    assert list(ev.metrics.frame().columns) == METRIC_COLUMNS
    assert list(ev.residuals.frame().columns) == ["y_true", "y_pred", "residual"]
    np.testing.assert_allclose(ev.residuals.frame()["residual"], y - p)
    assert ev.confusion is None and ev.roc is None


def json_roundtrip(ev) -> dict:
    text = json.dumps(ev.to_dict(), allow_nan=False)
    return json.loads(text)


def evaluation_schema():
    jsonschema = pytest.importorskip("jsonschema")
    full = json.loads(
        resources.files("afterfit").joinpath("schemas/results.schema.json").read_text()
    )
    return jsonschema, {"$defs": full["$defs"], "$ref": "#/$defs/evaluation"}


@pytest.mark.parametrize(
    "case",
    ["binary", "binary-weighted", "binary-decision", "binary-nan", "bool-labels",
     "multiclass", "multiclass-int-labels", "regression", "ci-none"],
)  # fmt: skip
def test_to_dict_is_strict_json(case):
    y, s = binary_data(120)
    kw: dict = {"n_resamples": 100, "random_state": 0}
    if case == "binary":
        ev = evaluate_predictions(y, s, **kw)
    elif case == "binary-weighted":
        ev = evaluate_predictions(y, s, sample_weight=np.linspace(0, 2, y.size), **kw)
    elif case == "binary-decision":
        ev = evaluate_predictions(y, 4 * s - 2, scores_are_probabilities=False, **kw)
    elif case == "binary-nan":
        # No predicted positives at threshold 0.99: precision (and F1's relatives) are NaN.
        ev = evaluate_predictions(y, s * 0.9, threshold=0.99, **kw)
        assert math.isnan(ev.metrics["precision"].value)
    elif case == "bool-labels":
        ev = evaluate_predictions(y.astype(bool), s, **kw)
    elif case == "multiclass":
        ev = evaluate_predictions(*multiclass_data(150), **kw)
    elif case == "multiclass-int-labels":
        yk, proba = multiclass_data(150, K=4)
        codes = np.unique(yk, return_inverse=True)[1]
        ev = evaluate_predictions(np.array([3, 5, 7, 11])[codes], proba, **kw)
    elif case == "regression":
        ev = evaluate_predictions(*regression_data(), task="regression", **kw)
    else:
        ev = evaluate_predictions(y, s, ci="none")
    doc = json_roundtrip(ev)
    assert doc["task"] == ev.task
    assert doc["n_rows"] == ev.predictions.n
    assert len(doc["metrics"]) == len(ev.metrics.rows)
    for row, value in zip(doc["metrics"], ev.metrics.rows, strict=True):
        assert set(row) == {"metric", "class", "value", "ci_low", "ci_high", "method"}
        assert row["value"] is None if math.isnan(value.value) else row["value"] == value.value
    if ev.task != "regression":
        assert all(isinstance(c, str) for c in doc["classes"])
    jsonschema, schema = evaluation_schema()
    jsonschema.validate(doc, schema)


# --------------------------------------------------------------------------------------
# Interval methods
# --------------------------------------------------------------------------------------


def methods(ev, per_class: bool = False) -> dict:
    frame = ev.metrics.frame(per_class=per_class)
    if per_class:
        return {(r["class"], r["metric"]): r["method"] for _, r in frame.iterrows()}
    return dict(zip(frame["metric"], frame["method"], strict=True))


def test_binary_auto_unweighted_methods():
    y, s = binary_data()
    ev = evaluate_predictions(y, s, ci="auto", n_resamples=300, random_state=0)
    m = methods(ev)
    assert m["roc_auc"] == "delong"
    for name in ("accuracy", "precision", "recall", "specificity"):
        assert m[name] == "wilson", name
    for name in ("balanced_accuracy", "f1", "f2", "mcc", "cohen_kappa", "average_precision",
                 "log_loss", "brier"):  # fmt: skip
        assert m[name].startswith("stratified bootstrap"), name
    assert set(m.values()) <= DOCUMENTED_METHODS
    for row in ev.metrics.rows:
        assert row.ci_low <= row.value <= row.ci_high, row


def test_binary_auto_unstratified_methods():
    y, s = binary_data()
    ev = evaluate_predictions(y, s, n_resamples=300, stratify=False, random_state=0)
    m = methods(ev)
    assert m["roc_auc"] == "delong" and m["accuracy"] == "wilson"
    assert m["f1"] in {"bootstrap BCa", "bootstrap percentile"}


@pytest.mark.parametrize("ci", ["auto", "bootstrap"])
def test_weighted_data_always_bootstraps(ci):
    y, s = binary_data()
    w = np.random.default_rng(1).uniform(0.5, 2, y.size)
    ev = evaluate_predictions(y, s, sample_weight=w, ci=ci, n_resamples=300, random_state=0)
    for name, method in methods(ev).items():
        assert "bootstrap" in method, (name, method)
        assert method in DOCUMENTED_METHODS
    yk, proba = multiclass_data()
    ev = evaluate_predictions(yk, proba, sample_weight=w, ci=ci, n_resamples=100, random_state=0)
    assert all("bootstrap" in m for m in methods(ev).values())
    per_class = methods(ev, per_class=True)
    for (c, name), method in per_class.items():
        expected = "none" if name == "support" else "stratified bootstrap"
        assert method.startswith(expected), (c, name, method)


def test_bootstrap_option_never_uses_analytic_intervals():
    y, s = binary_data()
    ev = evaluate_predictions(y, s, ci="bootstrap", n_resamples=300, random_state=0)
    assert all(m.startswith("stratified bootstrap") for m in methods(ev).values())


def test_ci_none_gives_no_intervals():
    y, s = binary_data()
    ev = evaluate_predictions(y, s, ci="none")
    for row in ev.metrics.rows:
        assert row.method == "none"
        assert math.isnan(row.ci_low) and math.isnan(row.ci_high)
    assert ev.roc.band is None
    assert "ci_low" not in ev.calibration.frame().columns


def test_multiclass_auto_methods():
    y, proba = multiclass_data()
    ev = evaluate_predictions(y, proba, ci="auto", n_resamples=200, random_state=0)
    m = methods(ev)
    assert m["accuracy"] == "wilson"
    for name, method in m.items():
        if name != "accuracy":
            assert method.startswith("stratified bootstrap"), name
    per_class = methods(ev, per_class=True)
    for (c, name), method in per_class.items():
        expected = {"roc_auc": "delong", "precision": "wilson", "recall": "wilson",
                    "support": "none"}.get(name, "stratified bootstrap")  # fmt: skip
        assert method.startswith(expected), (c, name, method)


def test_regression_methods():
    y, p = regression_data()
    ev = evaluate_predictions(y, p, task="regression", n_resamples=200, random_state=0)
    assert set(methods(ev).values()) <= {"bootstrap BCa", "bootstrap percentile"}
    ev = evaluate_predictions(
        y, p, task="regression", n_resamples=200, bootstrap_method="percentile", random_state=0
    )
    assert set(methods(ev).values()) == {"bootstrap percentile"}


def test_confidence_widens_intervals():
    y, s = binary_data()
    narrow = evaluate_predictions(y, s, confidence=0.8, n_resamples=400, random_state=0)
    wide = evaluate_predictions(y, s, confidence=0.99, n_resamples=400, random_state=0)
    for name in ("roc_auc", "accuracy", "f1", "brier"):
        a, b = narrow.metrics[name], wide.metrics[name]
        assert b.ci_low <= a.ci_low and a.ci_high <= b.ci_high, name
    assert narrow.metrics.confidence == 0.8


@pytest.mark.parametrize("threshold", [math.nan, math.inf, 2.0, -0.5])
def test_a_threshold_that_cannot_split_probabilities_is_refused(threshold):
    # nan crashed while writing results.json; 2 and -0.5 put every row on one side
    y = np.array([0, 1, 0, 1, 1, 0])
    p = np.array([0.1, 0.8, 0.3, 0.6, 0.9, 0.2])
    with pytest.raises(InvalidInputError, match="threshold"):
        evaluate_predictions(y, p, threshold=threshold)
    # decision scores have no range: any finite threshold is theirs to choose
    if math.isfinite(threshold):
        ev = evaluate_predictions(y, p * 10 - 5, threshold=threshold, ci="none",
                                  scores_are_probabilities=False)  # fmt: skip
        assert ev.predictions.threshold == threshold


def test_a_class_named_twice_is_refused():
    y = np.array([0, 1, 2, 1])
    p = np.full((4, 3), 1 / 3)
    with pytest.raises(InvalidInputError, match="more than once"):
        evaluate_predictions(y, p, classes=[0, 0, 1])
