"""Per-slice metrics: definitions, values against scikit-learn on the slice's rows, the
one-pass weights against a re-sorted slice, intervals, Holm, gaps and bad input."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LinearRegression, LogisticRegression

import afterfit
from afterfit.errors import InvalidInputError
from afterfit.predictions import Predictions
from afterfit.slices import build_slicings, evaluate_slices_predictions, parse_spec
from afterfit.slices.metrics import task_suite, weighted_points
from afterfit.slices.stats import holm, wald


def _data(n: int = 1500, seed: int = 0, noisy_region: str | None = "n") -> tuple:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "region": rng.choice(["n", "s", "e", "w"], n),
            "age": rng.uniform(18, 80, n).round(1),
            "plan": rng.choice(["basic", "pro"], n, p=[0.7, 0.3]),
        }
    )
    y = (X.a + 0.5 * X.b + rng.normal(size=n) > 0).astype(int).to_numpy().copy()
    if noisy_region:
        flip = (X.region == noisy_region).to_numpy() & (rng.uniform(size=n) < 0.35)
        y[flip] = 1 - y[flip]
    return X, y


@pytest.fixture(scope="module")
def binary():
    X, y = _data()
    model = LogisticRegression().fit(X[["a", "b"]], y)
    return model, X, y


@pytest.fixture(scope="module")
def result(binary):
    model, X, y = binary
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return afterfit.evaluate_slices(
            model, X, y, by=["region", "age:quantiles=3", "region*plan"],
            n_resamples=200, random_state=0,
        )  # fmt: skip


# --- definitions -------------------------------------------------------------------------


def test_parse_spec_variants():
    assert parse_spec("region").column == "region"
    assert parse_spec("age:quantiles=4").quantiles == 4
    assert parse_spec("age:edges=0,18,65").edges == (0.0, 18.0, 65.0)
    assert parse_spec("age:edges=0, 18 ,65").text == "age:edges=0,18,65"
    for bad in ("age:quantiles=1", "age:quantiles=x", "age:edges=5", "age:edges=3,1",
                "age:edges=0,nan", ""):  # fmt: skip
        with pytest.raises(InvalidInputError):
            parse_spec(bad)


def test_quantile_bins_match_pandas_qcut():
    X, _ = _data(n=1000)
    (s,) = build_slicings(X, ["age:quantiles=4"])
    expected = pd.qcut(X["age"], 4, labels=False).to_numpy()
    np.testing.assert_array_equal(s.codes, expected)
    assert len(s.levels) == 4


def test_edges_bins_match_pandas_cut_and_name_outside_rows():
    X, _ = _data(n=1000)
    (s,) = build_slicings(X, ["age:edges=20,40,60"])
    expected = pd.cut(X["age"], [20, 40, 60], labels=False).to_numpy()
    np.testing.assert_array_equal(s.codes, np.where(np.isnan(expected), -1, expected))
    assert s.levels == ("(20, 40]", "(40, 60]")
    assert any("outside" in note for note in s.notes)


def test_empty_bins_are_named_and_dropped():
    X, _ = _data(n=500)
    (s,) = build_slicings(X, ["age:edges=0,10,20,50,100"])
    assert any("(0, 10]" in note and "no rows" in note for note in s.notes)
    assert "(0, 10]" not in s.levels
    assert s.counts().min() > 0


def test_quantiles_merged_by_ties_are_named():
    frame = pd.DataFrame({"x": [0] * 80 + list(range(20))})
    (s,) = build_slicings(frame, ["x:quantiles=4"])
    assert len(s.levels) < 4
    assert any("merge" in note for note in s.notes)


def test_crossing_of_two_columns():
    X, _ = _data(n=800)
    for spec in ("region*plan", ("region", "plan")):
        (s,) = build_slicings(X, [spec])
        joint = X["region"] + " × " + X["plan"]
        assert sorted(s.levels) == sorted(joint.unique())
        np.testing.assert_array_equal(np.asarray(s.levels)[s.codes], joint.to_numpy())


def test_missing_values_get_their_own_slice():
    frame = pd.DataFrame({"c": ["a", None, "b", "a", None]})
    (s,) = build_slicings(frame, ["c"])
    assert s.levels[-1] == "(missing)"
    assert (s.codes == len(s.levels) - 1).sum() == 2


@pytest.mark.parametrize(
    ("frame", "spec", "words"),
    [
        (pd.DataFrame({"x": [1, 2]}), "nope", "not in the data"),
        (pd.DataFrame({"x": [None, None]}), "x", "every row is missing"),
        (pd.DataFrame({"id": [f"u{i}" for i in range(200)]}), "id", "identifier"),
        (pd.DataFrame({"id": np.arange(200)}), "id", "identifier"),
        (pd.DataFrame({"c": [f"v{i % 80}" for i in range(400)]}), "c", "distinct values"),
        (pd.DataFrame({"c": ["a", "b"] * 5}), "c:quantiles=2", "not numeric"),
        (pd.DataFrame({"x": [1.0] * 10}), "x:quantiles=3", "one value"),
        (pd.DataFrame({"x": np.arange(10.0)}), "x:edges=100,200", "no row"),
    ],
)
def test_bad_slice_columns_are_named(frame, spec, words):
    with pytest.raises(InvalidInputError, match=words) as info:
        build_slicings(frame, [spec])
    assert info.value.fix


def test_continuous_numeric_column_is_binned_with_a_note():
    frame = pd.DataFrame({"x": np.random.default_rng(0).normal(size=300)})
    (s,) = build_slicings(frame, ["x"])
    assert len(s.levels) == 4
    assert "quantile bins" in s.notes[0]


# --- values: scikit-learn on the slice's rows is the oracle -------------------------------

SK_BINARY = {
    "accuracy": lambda y, p, s, w: skm.accuracy_score(y, p, sample_weight=w),
    "balanced_accuracy": lambda y, p, s, w: skm.balanced_accuracy_score(y, p, sample_weight=w),
    "precision": lambda y, p, s, w: skm.precision_score(y, p, sample_weight=w),
    "recall": lambda y, p, s, w: skm.recall_score(y, p, sample_weight=w),
    "f1": lambda y, p, s, w: skm.f1_score(y, p, sample_weight=w),
    "mcc": lambda y, p, s, w: skm.matthews_corrcoef(y, p, sample_weight=w),
    "cohen_kappa": lambda y, p, s, w: skm.cohen_kappa_score(y, p, sample_weight=w),
    "roc_auc": lambda y, p, s, w: skm.roc_auc_score(y, s, sample_weight=w),
    "average_precision": lambda y, p, s, w: skm.average_precision_score(y, s, sample_weight=w),
    "log_loss": lambda y, p, s, w: skm.log_loss(y, s, sample_weight=w),
    "brier": lambda y, p, s, w: skm.brier_score_loss(y, s, sample_weight=w),
}


@pytest.mark.parametrize("weighted", [False, True])
def test_binary_slice_and_rest_values_equal_sklearn(binary, weighted):
    model, X, y = binary
    w = np.random.default_rng(1).uniform(0.2, 3, len(y)) if weighted else None
    scores = model.predict_proba(X[["a", "b"]])[:, 1]
    preds = Predictions.from_arrays(y, scores, sample_weight=w)
    res = evaluate_slices_predictions(preds, X, by=["region", "age:edges=18,40,80"], ci="none",
                             segments=False)  # fmt: skip
    df = res.frame()
    yhat = (scores > 0.5).astype(int)
    slicings = build_slicings(X, ["region", "age:edges=18,40,80"])
    checked = 0
    for s in slicings:
        for k, level in enumerate(s.levels):
            inside = s.codes == k
            for name, fn in SK_BINARY.items():
                row = df[(df.slicing == s.name) & (df.level == level) & (df.metric == name)]
                for rows, col in ((inside, "value"), (~inside, "rest_value")):
                    ww = None if w is None else w[rows]
                    expected = fn(y[rows], yhat[rows], scores[rows], ww)
                    assert row[col].iloc[0] == pytest.approx(expected, abs=1e-9), (name, level)
                    checked += 1
    assert checked == 2 * len(SK_BINARY) * 6


def test_one_pass_equals_each_slice_sorted_on_its_own(binary):
    """The weighted pass over the one sort gives what a suite built on the slice gives."""
    model, X, y = binary
    scores = model.predict_proba(X[["a", "b"]])[:, 1]
    preds = Predictions.from_arrays(y, scores)
    suite = task_suite(preds)
    (s,) = build_slicings(X, ["region"])
    codes = s.codes[suite.ranked.order]
    points = weighted_points(suite, lambda i: (codes == i).astype(float), len(s.levels))
    for k in range(len(s.levels)):
        alone = task_suite(Predictions.from_arrays(y[s.codes == k], scores[s.codes == k])).compute()
        for key, v in alone.items():
            assert points[k][key][0] == pytest.approx(v[0], abs=1e-12, nan_ok=True), key


def test_multiclass_and_regression_values_equal_sklearn():
    rng = np.random.default_rng(3)
    n = 900
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                      "g": rng.choice(["x", "y", "z"], n)})  # fmt: skip
    y3 = np.digitize(X.a + rng.normal(size=n) * 0.7, [-0.5, 0.5])
    clf = LogisticRegression().fit(X[["a", "b"]], y3)
    res = afterfit.evaluate_slices(clf, X, y3, by=["g"], ci="none", segments=False)
    df = res.frame()
    proba = clf.predict_proba(X[["a", "b"]])
    for level in ("x", "y", "z"):
        rows = (X.g == level).to_numpy()
        got = df[df.level == level].set_index("metric")["value"]
        yt, pr = y3[rows], proba[rows]
        assert got["accuracy"] == pytest.approx(skm.accuracy_score(yt, pr.argmax(1)), abs=1e-9)
        assert got["f1_macro"] == pytest.approx(
            skm.f1_score(yt, pr.argmax(1), average="macro"), abs=1e-9
        )
        assert got["roc_auc_ovr_macro"] == pytest.approx(
            skm.roc_auc_score(yt, pr, multi_class="ovr"), abs=1e-9
        )
        assert got["log_loss"] == pytest.approx(skm.log_loss(yt, pr, labels=[0, 1, 2]), abs=1e-9)
    yr = 2 * X.a.to_numpy() + rng.normal(size=n)
    reg = LinearRegression().fit(X[["a", "b"]], yr)
    w = rng.uniform(0.5, 2, n)
    res = afterfit.evaluate_slices(reg, X, yr, by=["g"], sample_weight=w, ci="none", segments=False)
    pred = reg.predict(X[["a", "b"]])
    df = res.frame()
    for level in ("x", "y", "z"):
        rows = (X.g == level).to_numpy()
        got = df[df.level == level].set_index("metric")["value"]
        yt, pr, ww = yr[rows], pred[rows], w[rows]
        assert got["mae"] == pytest.approx(skm.mean_absolute_error(yt, pr, sample_weight=ww))
        assert got["r2"] == pytest.approx(skm.r2_score(yt, pr, sample_weight=ww), abs=1e-9)
        assert got["median_ae"] == pytest.approx(
            skm.median_absolute_error(yt, pr, sample_weight=ww), abs=1e-9
        )


# --- intervals, tests, Holm ---------------------------------------------------------------


def test_frame_columns_and_json(result):
    df = result.frame()
    assert list(df.columns[:9]) == ["slice", "n", "metric", "value", "ci_low", "ci_high",
                                    "diff_vs_rest", "p_holm", "flag"]  # fmt: skip
    doc = result.to_dict()
    json.dumps(doc, allow_nan=False)
    assert {m["slice"] for m in doc["metrics"]} >= {"region = n", "region × plan = n × pro"}
    with pytest.raises(Exception):  # noqa: B017  (frozen)
        result.n_rows = 3  # type: ignore[misc]


def test_intervals_cover_the_value_and_use_evaluate_methods(result):
    df = result.frame()
    tested = df[df.note == ""]
    assert (tested.ci_low <= tested.value + 1e-12).all()
    assert (tested.ci_high >= tested.value - 1e-12).all()
    methods = tested.set_index("metric")["method"]
    assert set(methods.loc["roc_auc"]) == {"delong"}
    assert set(methods.loc["accuracy"]) == {"wilson"}
    assert all("bootstrap" in m for m in methods.loc["f1"])


def test_slice_interval_matches_evaluate_on_the_slice(binary, result):
    """Same methods as the whole-data metrics: Wilson/DeLong equal evaluate's on the slice."""
    model, X, y = binary
    rows = (X.region == "e").to_numpy()
    ev = afterfit.evaluate(model, X.loc[rows, ["a", "b"]], y[rows], n_resamples=50,
                           random_state=0)  # fmt: skip
    df = result.frame()
    for name in ("roc_auc", "accuracy", "recall"):
        got = df[(df.slice == "region = e") & (df.metric == name)].iloc[0]
        assert got.ci_low == pytest.approx(ev.metrics[name].ci_low, abs=1e-12)
        assert got.ci_high == pytest.approx(ev.metrics[name].ci_high, abs=1e-12)


def test_noisy_region_is_flagged_worse_and_holm_is_applied(result):
    df = result.frame()
    auc = df[(df.slicing == "region") & (df.metric == "roc_auc")].set_index("level")
    assert auc.loc["n", "flag"] == "worse"
    assert auc.loc["n", "diff_vs_rest"] < 0
    assert auc.loc["n", "diff_ci_high"] < 0
    tested = df[np.isfinite(df.p_value)]
    np.testing.assert_allclose(tested.p_holm, holm(tested.p_value.to_numpy()))
    assert (tested.p_holm >= tested.p_value - 1e-15).all()
    assert set(df.flag) <= {"", "worse", "better", "not tested"}
    # Lower-is-better metrics point the other way: log loss up on the noisy region.
    ll = df[(df.slice == "region = n") & (df.metric == "log_loss")].iloc[0]
    assert ll.diff_vs_rest > 0 and ll.flag == "worse"


def test_small_slices_are_listed_not_tested_with_the_reason(binary):
    model, X, y = binary
    X = X.copy()
    X["tiny"] = np.where(np.arange(len(X)) < 20, "few", "many")
    res = afterfit.evaluate_slices(model, X, y, by=["tiny"], n_resamples=50, random_state=0,
                          segments=False)  # fmt: skip
    info = res.slices_frame().set_index("level")
    assert not info.loc["few", "tested"]
    assert "fewer than min_size=30" in info.loc["few", "reason"]
    # The big slice's rest is the small one: not tested either, saying so.
    assert "the rest of the rows" in info.loc["many", "reason"]
    df = res.frame()
    few = df[df.level == "few"]
    assert few.value.notna().all() and few.p_holm.isna().all()
    assert set(few.flag) == {"not tested"}


def test_too_few_of_a_class_is_a_reason(binary):
    model, X, y = binary
    X = X.copy()
    group = np.full(len(y), "big", dtype=object)
    group[np.flatnonzero(y == 1)[:3]] = "pos_poor"
    group[np.flatnonzero(y == 0)[:60]] = "pos_poor"
    X["grp"] = group
    res = afterfit.evaluate_slices(model, X, y, by=["grp"], n_resamples=50, random_state=0,
                          segments=False)  # fmt: skip
    reason = res.slices_frame().set_index("level").loc["pos_poor", "reason"]
    assert "row(s) of class 1" in reason and "min_class_count=5" in reason


def test_same_seed_same_numbers(binary):
    model, X, y = binary
    kw = dict(by=["region"], n_resamples=60, random_state=4, segments=False)
    a = afterfit.evaluate_slices(model, X, y, **kw).frame()
    b = afterfit.evaluate_slices(model, X, y, n_jobs=1, **kw).frame()
    pd.testing.assert_frame_equal(a, b)


def test_m_out_of_n_cap_keeps_intervals_close(binary):
    """A per-slice row cap (m-out-of-n, rescaled) gives about the same spread."""
    model, X, y = binary
    kw = dict(by=["region"], n_resamples=300, random_state=0, segments=False, ci="bootstrap",
              metrics=["roc_auc", "f1"])  # fmt: skip
    full = afterfit.evaluate_slices(model, X, y, **kw).frame()
    capped = afterfit.evaluate_slices(model, X, y, max_rows=200, **kw).frame()
    width_full = (full.ci_high - full.ci_low).to_numpy()
    width_cap = (capped.ci_high - capped.ci_low).to_numpy()
    assert np.all(np.abs(width_cap / width_full - 1) < 0.35)
    np.testing.assert_allclose(full.value, capped.value)


def test_holm_against_its_definition():
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = rng.uniform(0, 0.2, rng.integers(1, 12))
        p[rng.uniform(size=p.size) < 0.2] = np.nan
        got = holm(p)
        finite = np.flatnonzero(np.isfinite(p))
        m = finite.size
        order = finite[np.argsort(p[finite])]
        expected = np.full(p.size, np.nan)
        running = 0.0
        for i, j in enumerate(order):
            running = max(running, min(1.0, (m - i) * p[j]))
            expected[j] = running
        np.testing.assert_allclose(got, expected)


def test_wald_from_replicates():
    reps = np.random.default_rng(0).normal(0.1, 0.05, 4000)
    se, lo, _hi, p = wald(0.1, reps, 0.95)
    assert se == pytest.approx(0.05, rel=0.05)
    assert lo == pytest.approx(0.1 - 1.96 * se, rel=1e-3)
    assert p == pytest.approx(2 * 0.0227, rel=0.15)
    assert np.isnan(wald(0.1, np.full(10, 0.1), 0.95)[3])


# --- bad input -----------------------------------------------------------------------------


def test_bad_options_and_misaligned_frame(binary):
    model, X, y = binary
    scores = model.predict_proba(X[["a", "b"]])[:, 1]
    preds = Predictions.from_arrays(y, scores)
    with pytest.raises(InvalidInputError, match="rows"):
        evaluate_slices_predictions(preds, X.iloc[:10], by=["region"])
    with pytest.raises(InvalidInputError, match="something to slice by"):
        evaluate_slices_predictions(preds, X)
    with pytest.raises(InvalidInputError, match="min_size"):
        evaluate_slices_predictions(preds, X, by=["region"], min_size=1)
    with pytest.raises(InvalidInputError, match="unknown slice metric"):
        evaluate_slices_predictions(preds, X, by=["region"], metrics=["nope"])
    with pytest.raises(InvalidInputError, match="twice"):
        evaluate_slices_predictions(preds, X, by=["region", "region"])
    with pytest.raises(InvalidInputError, match="confidence"):
        evaluate_slices_predictions(preds, X, by=["region"], confidence=2)


def test_slice_columns_need_not_be_features_but_features_must_be_there(binary):
    model, X, y = binary
    res = afterfit.evaluate_slices(model, X[["a", "b", "plan"]], y, by=["plan"], ci="none",
                          segments=False)  # fmt: skip
    assert res.slicings == ("plan",)
    with pytest.raises(afterfit.SchemaError, match="lack"):
        afterfit.evaluate_slices(model, X[["a", "plan"]], y, by=["plan"], ci="none")


def test_plots_draw(result):
    fig = result.plot()
    assert fig.axes[0].get_xlabel() == "roc_auc"
    spec = result.figure("accuracy")
    assert spec["layout"]["shapes"][0]["x0"] == pytest.approx(dict(result.overall)["accuracy"])
    names = {t["name"] for t in spec["data"]}
    assert "worse than the rest" in names
    json.dumps(spec, allow_nan=False)
    with pytest.raises(KeyError):
        result.plot("nope")


@pytest.mark.slow
def test_gap_tests_hold_their_size_when_no_slice_differs():
    """Random slicings of homogeneous data: the gap statistics are standard normal (their
    spread about 1) and raw p-values fall below 0.05 about 5% of the time, with the full
    bootstrap and m-out-of-n alike."""
    frames = []
    for r in range(30):
        rng = np.random.default_rng(500 + r)
        n = 2000
        y = (rng.uniform(size=n) < 0.35).astype(int)
        s = 1 / (1 + np.exp(-(1.2 * (2 * y - 1) + rng.normal(size=n))))
        frame = pd.DataFrame({"g": rng.choice(list("abcd"), n),
                              "h": rng.choice(list("xyz"), n, p=[0.6, 0.3, 0.1])})  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = evaluate_slices_predictions(
                Predictions.from_arrays(y, s), frame, by=["g", "h"], n_resamples=300,
                random_state=r, segments=False, max_rows=None if r % 2 else 300,
                metrics=["accuracy", "roc_auc", "log_loss", "precision"],
            )  # fmt: skip
        frames.append(res.frame())
    df = pd.concat(frames)
    se = (df.diff_ci_high - df.diff_ci_low) / (2 * 1.959964)
    z = df.diff_vs_rest / se
    rate = float((df.p_value < 0.05).mean())
    print(f"raw rejection rate {rate:.3f} over {len(df)} tests; sd of z {z.std():.3f}")
    assert 0.85 < z.std() < 1.15
    # Tests of one run are strongly correlated (four metrics of the same rows), so the
    # effective number of tests is far below len(df): the slack is wide.
    assert 0.015 < rate < 0.085


def test_polars_input_gives_the_same_numbers(binary):
    pl = pytest.importorskip("polars")
    model, X, y = binary
    kw = dict(by=["region", "age:quantiles=3"], ci="none", segments=False)
    a = afterfit.evaluate_slices(model, X, y, **kw).frame()
    b = afterfit.evaluate_slices(model, pl.from_pandas(X), y, **kw).frame()
    pd.testing.assert_frame_equal(a, b)


def test_a_date_column_is_cut_at_its_quantiles_and_shown_as_dates():
    # 'signup:quantiles=4' said "not numeric, pass 'signup' alone"; 'signup' alone said
    # "an identifier, bin it with quantiles=4": the two messages sent the user in a circle.
    from afterfit.slices.definitions import one_slicing

    days = pd.Series(pd.date_range("2026-01-01", periods=400, freq="D"))
    frame = pd.DataFrame({"signup": days})
    slicing = one_slicing(frame, "signup:quantiles=4")
    assert len(slicing.levels) == 4
    assert slicing.levels[0].startswith("[2026-01-01,")
    assert np.bincount(slicing.codes).tolist() == [100, 100, 100, 100]
    with pytest.raises(InvalidInputError, match="quantiles=4"):
        one_slicing(frame, "signup:edges=1,2")
