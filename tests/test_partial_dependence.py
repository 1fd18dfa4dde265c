"""Partial dependence and ICE (issue 14, item 5).

scikit-learn's ``partial_dependence(..., method="brute")`` is the oracle: on the same grid
the averages agree to 1e-9, and where scikit-learn builds the grid itself the grids are
equal. The bootstrap band, the H-statistic (a planted interaction is found, an additive
pair is not), the explain and run integration and the CLI's bad input are checked too.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.inspection import partial_dependence as sk_partial_dependence
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from typer.testing import CliRunner

from afterfit.cli import app
from afterfit.errors import InvalidInputError
from afterfit.explain import explain_model
from afterfit.explain._threads import single_threaded
from afterfit.explain.dependence import partial_dependence

TOL = 1e-9
runner = CliRunner()


def _oracle(model, X, feature, **kwargs):
    # one thread: scikit-learn calls the model once per grid point, on few rows
    with single_threaded():
        out = sk_partial_dependence(model, X, [feature], method="brute", kind="average",
                                    **kwargs)  # fmt: skip
    return np.asarray(out["grid_values"][0]), np.asarray(out["average"])


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X, y = X.iloc[::3].reset_index(drop=True), y.iloc[::3].reset_index(drop=True)
    model = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(X, y)
    return model, X, y


# --- the oracle ----------------------------------------------------------------------------


@pytest.mark.parametrize("feature", ["mean radius", "worst texture", "mean concave points"])
def test_hgb_classifier_matches_sklearn(cancer, feature):
    model, X, _ = cancer
    pdp = partial_dependence(model, X, [feature], interactions=False, n_bootstrap=20)
    grid, average = _oracle(model, X, feature, grid_resolution=20)
    f = pdp[feature]
    np.testing.assert_array_equal(np.asarray(f.grid), grid)
    np.testing.assert_allclose(f.average, average[0], rtol=0, atol=TOL)  # positive class
    assert pdp.output == "P(y = 1)" and pdp.class_ == 1 and not pdp.sampled


@pytest.mark.parametrize(
    ("resolution", "percentiles"), [(20, (0.05, 0.95)), (7, (0.1, 0.9)), (50, (0.0, 1.0))]
)
def test_ridge_regression_matches_sklearn(resolution, percentiles):
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = Ridge(alpha=0.5).fit(X, y)
    pdp = partial_dependence(model, X, ["bmi", "s5", "sex"], grid_resolution=resolution,
                             percentiles=percentiles, interactions=False)  # fmt: skip
    for name in ("bmi", "s5", "sex"):
        grid, average = _oracle(model, X, name, grid_resolution=resolution,
                                percentiles=percentiles)  # fmt: skip
        np.testing.assert_array_equal(np.asarray(pdp[name].grid), grid)
        np.testing.assert_allclose(pdp[name].average, average[0], rtol=0, atol=TOL)
    # sex has two values: its grid is the two values, drawn as bars
    assert len(pdp["sex"].grid) == 2 and pdp["sex"].categorical
    assert not pdp["bmi"].categorical and pdp.output == "prediction"


def _mixed_table(n=240, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "region": rng.choice(["north", "south", "east", "west"], n).astype(object),
            "plan": rng.choice(["basic", "pro"], n, p=[0.7, 0.3]).astype(object),
            "age": rng.normal(40, 10, n),
            "income": rng.lognormal(10, 0.5, n),
        }
    )
    logit = 0.1 * (X["age"] - 40) + 1.5 * (X["plan"] == "pro") - (X["region"] == "east")
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X.loc[rng.random(n) < 0.15, "income"] = np.nan
    X.loc[rng.random(n) < 0.1, "region"] = None
    return X, y


@pytest.fixture(scope="module")
def pipeline():
    X, y = _mixed_table()
    text = make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                         OneHotEncoder(handle_unknown="ignore"))  # fmt: skip
    prep = ColumnTransformer(
        [("text", text, ["region", "plan"]), ("num", SimpleImputer(), ["age", "income"])]
    )
    return make_pipeline(prep, LogisticRegression(max_iter=1000)).fit(X, y), X, y


def test_pipeline_text_column_and_nan_match_sklearn(pipeline):
    model, X, _ = pipeline
    pdp = partial_dependence(model, X, ["income", "plan", "age", "region"], interactions=False)
    # income has missing values: scikit-learn's own grid is NaN then, so the grid is
    # checked against scikit-learn's on the rows with a value, and the averages (over
    # every row, missing ones included) on that same grid
    income = pdp["income"]
    grid, _ = _oracle(model, X.dropna(subset=["income"]), "income", grid_resolution=20)
    np.testing.assert_array_equal(np.asarray(income.grid), grid)
    _, average = _oracle(model, X, "income", custom_values={"income": grid})
    np.testing.assert_allclose(income.average, average[0], rtol=0, atol=TOL)
    # a text column: its levels, as scikit-learn's categorical grid
    grid, average = _oracle(model, X, "plan", categorical_features=["plan"])
    assert list(pdp["plan"].grid) == list(grid) == ["basic", "pro"]
    np.testing.assert_allclose(pdp["plan"].average, average[0], rtol=0, atol=TOL)
    assert pdp["plan"].categorical
    grid, average = _oracle(model, X, "age", grid_resolution=20)
    np.testing.assert_allclose(pdp["age"].average, average[0], rtol=0, atol=TOL)
    # a text column with missing values: its non-missing levels, every row averaged
    levels = ["east", "north", "south", "west"]
    assert list(pdp["region"].grid) == levels
    _, average = _oracle(model, X, "region", custom_values={"region": levels})
    np.testing.assert_allclose(pdp["region"].average, average[0], rtol=0, atol=TOL)


def test_lightgbm_pandas_category_matches_sklearn():
    lgb = pytest.importorskip("lightgbm")
    X, y = _mixed_table(n=300, seed=1)
    X["region"] = X["region"].astype("category")
    X["plan"] = X["plan"].astype("category")
    model = lgb.LGBMClassifier(n_estimators=20, min_child_samples=5, verbose=-1).fit(X, y)
    pdp = partial_dependence(model, X, ["plan", "age", "region"], interactions=False)
    grid, average = _oracle(model, X, "plan", categorical_features=["plan"])
    assert list(pdp["plan"].grid) == list(grid)
    np.testing.assert_allclose(pdp["plan"].average, average[0], rtol=0, atol=TOL)
    grid, average = _oracle(model, X, "age", grid_resolution=20)
    np.testing.assert_array_equal(np.asarray(pdp["age"].grid), grid)
    np.testing.assert_allclose(pdp["age"].average, average[0], rtol=0, atol=TOL)
    levels = list(pdp["region"].grid)
    _, average = _oracle(model, X, "region", custom_values={"region": levels})
    np.testing.assert_allclose(pdp["region"].average, average[0], rtol=0, atol=TOL)


def test_polars_frame_gives_the_same_curves(pipeline):
    pl = pytest.importorskip("polars")
    model, X, _ = pipeline
    a = partial_dependence(model, X, ["age"], interactions=False)
    b = partial_dependence(model, pl.from_pandas(X), ["age"], interactions=False)
    np.testing.assert_allclose(a["age"].average, b["age"].average, rtol=0, atol=TOL)


def test_multiclass_class_choice():
    X, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    _, average = _oracle(model, X, "petal length (cm)", grid_resolution=20)
    for k in (0, 2):
        pdp = partial_dependence(model, X, ["petal length (cm)"], class_=k, interactions=False)
        np.testing.assert_allclose(pdp["petal length (cm)"].average, average[k], atol=TOL)
        assert pdp.output == f"P(y = {k})"
    with pytest.raises(InvalidInputError, match="not a class"):
        partial_dependence(model, X, ["petal length (cm)"], class_=7)


def test_many_levels_are_capped_and_named():
    rng = np.random.default_rng(0)
    n = 400
    X = pd.DataFrame({"city": rng.choice([f"c{i:02d}" for i in range(30)], n).astype(object),
                      "x": rng.normal(size=n)})  # fmt: skip
    y = (X["x"] > 0).astype(int)
    enc = ColumnTransformer([("c", OneHotEncoder(handle_unknown="ignore"), ["city"])],
                            remainder="passthrough")  # fmt: skip
    model = make_pipeline(enc, LogisticRegression()).fit(X, y)
    pdp = partial_dependence(model, X, ["city"], max_levels=5, interactions=False)
    f = pdp["city"]
    counts = X["city"].value_counts()
    assert set(f.grid) == set(counts.index[:5]) and len(f.other_levels) == 25
    assert list(f.grid) == sorted(f.grid)  # kept in sorted order, as scikit-learn's grid
    assert any("most frequent" in n for n in pdp.notes)


def test_integer_boolean_and_nullable_columns():
    rng = np.random.default_rng(0)
    n = 200
    X = pd.DataFrame({"age": rng.integers(18, 80, n),
                      "visits": pd.array(rng.integers(0, 100, n), dtype="Int64"),
                      "score": pd.array(rng.normal(size=n), dtype="Float64"),
                      "flag": rng.random(n) < 0.5,
                      "plan": pd.Series(rng.choice(["a", "b"], n), dtype="str")})  # fmt: skip
    y = 0.1 * X["age"] + X["flag"] + 0.01 * X["visits"].astype(float)
    enc = ColumnTransformer([("o", OneHotEncoder(), ["plan"])], remainder="passthrough")
    model = make_pipeline(enc, LinearRegression()).fit(X.astype({"visits": float}), y)
    pdp = partial_dependence(model, X, list(X.columns), interactions=False)
    # integer columns: whole numbers on the grid, the column's dtype kept
    for name in ("age", "visits"):
        grid = np.asarray(pdp[name].grid)
        assert grid.dtype.kind == "i" and len(grid) > 10 and np.all(np.diff(grid) > 0)
    # the averages agree with scikit-learn on the same grid (the data as floats: it
    # refuses integer columns)
    Xf = X.astype({"age": float, "visits": float, "score": float})
    for name in ("age", "visits", "score", "flag", "plan"):
        values = list(pdp[name].grid)
        _, average = _oracle(model, Xf, name, custom_values={name: values})
        np.testing.assert_allclose(pdp[name].average, average[0], rtol=0, atol=1e-9)
    assert pdp["flag"].grid == (False, True) and pdp["flag"].categorical
    assert pdp["plan"].grid == ("a", "b") and pdp["plan"].categorical
    assert not pdp["score"].categorical


class _Lookup:
    """A model that knows only the codes it was fitted on (a lookup table, a typed service)."""

    def fit(self, X, y):
        self.known_ = set(X["code"].tolist())
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.array(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X):
        if not set(X["code"].tolist()) <= self.known_:
            raise ValueError("unknown code")
        p = 1 / (1 + np.exp(-np.asarray(X["x"], dtype=float)))
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)


def test_a_feature_the_model_fails_on_is_skipped_and_the_others_stand():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"code": rng.normal(size=100), "x": rng.normal(size=100)})
    model = _Lookup().fit(X, (X["x"] > 0).astype(int))
    pdp = partial_dependence(model, X, ["code", "x"])
    assert pdp.feature_names == ("x",)
    assert pdp.skipped[0][0] == "code" and "unknown code" in pdp.skipped[0][1]
    with pytest.raises(ValueError, match="unknown code"):  # every feature: a failure
        partial_dependence(model, X, ["code"])


# --- bands and ICE -------------------------------------------------------------------------


def test_band_contains_estimate_and_narrows_with_rows():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(X, y)
    widths = []
    for n in (60, 400):
        pdp = partial_dependence(model, X.iloc[:n], ["bmi"], interactions=False,
                                 n_bootstrap=300, random_state=1)  # fmt: skip
        f = pdp["bmi"]
        assert np.all(f.ci_low <= f.average + 1e-12) and np.all(f.average <= f.ci_high + 1e-12)
        widths.append(float(np.mean(f.ci_high - f.ci_low)))
    assert widths[1] < 0.7 * widths[0]
    assert pdp.to_dict()["band"].startswith("bootstrap")


def test_ice_curves_average_and_centering():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = LinearRegression().fit(X, y)
    pdp = partial_dependence(model, X, ["bmi"], ice_rows=442, interactions=False)
    f = pdp["bmi"]
    assert f.ice.shape == (442, 20)
    np.testing.assert_allclose(f.ice.mean(axis=0), f.average, atol=TOL)
    # a linear model: every centred ICE curve is the same line
    c = f.centered_ice()
    np.testing.assert_allclose(c, np.broadcast_to(c[0], c.shape), atol=1e-9)
    assert np.all(c[:, 0] == 0)
    few = partial_dependence(model, X, ["bmi"], ice_rows=10, interactions=False)["bmi"]
    assert few.ice.shape == (10, 20) and len(set(few.ice_positions)) == 10
    np.testing.assert_allclose(few.ice, f.ice[list(few.ice_positions)], atol=TOL)
    frame = few.ice_frame(centered=True)
    assert list(frame.columns) == ["feature", "row", "value", "prediction"] and len(frame) == 200


def test_same_seed_same_result_and_sample(cancer):
    model, X, _ = cancer
    a = partial_dependence(model, X, ["mean radius"], sample_rows=100, random_state=3,
                           interactions=False)  # fmt: skip
    b = partial_dependence(model, X, ["mean radius"], sample_rows=100, random_state=3,
                           interactions=False)  # fmt: skip
    assert a.sampled and a.n_rows == 100 and a.n_rows_total == len(X)
    np.testing.assert_array_equal(a["mean radius"].ci_low, b["mean radius"].ci_low)
    np.testing.assert_array_equal(a["mean radius"].average, b["mean radius"].average)


def test_progress_and_time_budget(cancer):
    model, X, _ = cancer
    calls = []
    features = ["mean radius", "worst texture", "worst area"]
    pdp = partial_dependence(model, X, features, h_rows=20, progress=lambda *a: calls.append(a))
    # 3 features, then 3 features and 3 pairs of the H-statistic, then the two-way grid
    assert {c[0] for c in calls} == {"pdp"} and calls[-1] == ("pdp", 10, 10)
    assert [c[1] for c in calls] == list(range(1, 11))
    assert len(pdp.interactions) == 3
    # a spent budget: the first feature is drawn, the rest are named as left out
    pdp = partial_dependence(model, X, features, time_budget=0.0)
    assert pdp.feature_names == ("mean radius",)
    assert [f for f, _ in pdp.skipped] == ["worst texture", "worst area"]
    assert all("time budget" in r for _, r in pdp.skipped) and pdp.pair is None


# --- interactions ----------------------------------------------------------------------------


def _planted(n=500, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.uniform(-1, 1, size=(n, 4)), columns=["x1", "x2", "x3", "x4"])
    y = X["x1"] * X["x2"] + X["x3"] + 0.5 * X["x4"] + 0.05 * rng.normal(size=n)
    return X, y


def test_h_statistic_finds_a_planted_interaction():
    X, y = _planted()
    model = HistGradientBoostingRegressor(max_iter=60, random_state=0).fit(X, y)
    pdp = partial_dependence(model, X, ["x3", "x1", "x4", "x2"], h_rows=80, sample_rows=200)
    frame = pdp.interactions_frame()
    top = frame.iloc[0]
    assert {top["feature_a"], top["feature_b"]} == {"x1", "x2"}
    assert top["h2"] > 0.5
    additive = frame[frame.apply(lambda r: {r.feature_a, r.feature_b} == {"x3", "x4"}, axis=1)]
    assert float(additive["h2"].iloc[0]) < 0.05
    assert set(pdp.pair.features) == {"x1", "x2"} and pdp.pair.average.shape == (10, 10)


class _Product:
    """y = x1 * x2 + x3: the H-statistic has a closed form on any rows."""

    def fit(self, X, y=None):
        self.feature_names_in_ = np.array(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        return np.asarray(X["x1"] * X["x2"] + X["x3"], dtype=float)


def test_h_statistic_equals_its_closed_form():
    X, _ = _planted(n=150, seed=3)
    X = X[["x1", "x2", "x3"]]
    pdp = partial_dependence(_Product().fit(X), X, ["x1", "x2", "x3"], h_rows=150)
    x1, x2 = X["x1"].to_numpy(), X["x2"].to_numpy()
    m1, m2 = x1.mean(), x2.mean()
    # partial dependences at the rows' values, averaged over the same rows, centred
    joint = x1 * x2 - np.mean(x1 * x2)
    pd1 = x1 * m2 - np.mean(x1 * m2)
    pd2 = m1 * x2 - np.mean(m1 * x2)
    h2 = np.sum((joint - pd1 - pd2) ** 2) / np.sum(joint**2)
    found = {frozenset(i.features): i for i in pdp.interactions}
    assert found[frozenset({"x1", "x2"})].h2 == pytest.approx(h2, abs=1e-12)
    assert found[frozenset({"x1", "x3"})].h2 == pytest.approx(0.0, abs=1e-20)
    strength = np.sqrt(np.mean((joint - pd1 - pd2) ** 2))
    assert found[frozenset({"x1", "x2"})].strength == pytest.approx(strength, abs=1e-12)


def test_h_statistic_is_zero_for_an_additive_model():
    X, y = _planted()
    model = LinearRegression().fit(X, y)  # additive by construction
    pdp = partial_dependence(model, X, ["x1", "x2", "x3"], h_rows=50)
    assert all(i.h2 < 1e-20 for i in pdp.interactions)
    assert pdp.pair is None and any("No pair interacts" in n for n in pdp.notes)


def test_pair_heatmap_matches_sklearn_two_way(cancer):
    model, X, _ = cancer
    pdp = partial_dependence(model, X, ["mean concave points", "worst concave points"], h_rows=60)
    pair = pdp.pair
    a, b = pair.features
    with single_threaded():
        out = sk_partial_dependence(model, X, [a, b], method="brute", grid_resolution=10,
                                    kind="average")  # fmt: skip
    np.testing.assert_array_equal(np.asarray(pair.grids[0]), out["grid_values"][0])
    np.testing.assert_array_equal(np.asarray(pair.grids[1]), out["grid_values"][1])
    np.testing.assert_allclose(pair.average, out["average"][0], rtol=0, atol=TOL)


# --- results, bad input --------------------------------------------------------------------


def test_to_dict_is_json_safe_and_plots(pipeline):
    model, X, _ = pipeline
    pdp = partial_dependence(model, X, ["age", "plan"], h_rows=30, n_bootstrap=30)
    doc = json.loads(json.dumps(pdp.to_dict(), allow_nan=False))
    assert doc["interaction_method"] == "Friedman-Popescu H-statistic"
    assert [f["kind"] for f in doc["features"]] == ["numeric", "categorical"]
    assert doc["pair"]["features"] == ["age", "plan"]
    assert set(pdp.figures()) == {"pdp", "pdp_pair"}
    assert list(pdp.frame().columns) == ["feature", "value", "average", "ci_low", "ci_high"]


def test_unknown_feature_names_close_ones(cancer):
    model, X, _ = cancer
    with pytest.raises(InvalidInputError, match=r"'mean radis'.*mean radius"):
        partial_dependence(model, X, ["mean radis"])
    with pytest.raises(InvalidInputError, match="percentiles"):
        partial_dependence(model, X, ["mean radius"], percentiles=(0.9, 0.1))
    with pytest.raises(InvalidInputError, match="grid_resolution"):
        partial_dependence(model, X, ["mean radius"], grid_resolution=1)


def test_datetime_column_the_pipeline_drops_is_skipped():
    rng = np.random.default_rng(0)
    n = 120
    X = pd.DataFrame({"when": pd.date_range("2024-01-01", periods=n, freq="D"),
                      "x": rng.normal(size=n)})  # fmt: skip
    y = (X["x"] > 0).astype(int)
    prep = ColumnTransformer([("x", "passthrough", ["x"])], remainder="drop")
    model = make_pipeline(prep, LogisticRegression()).fit(X, y)
    pdp = partial_dependence(model, X, ["when", "x"])
    assert pdp.feature_names == ("x",)
    assert pdp.skipped[0][0] == "when" and "date" in pdp.skipped[0][1]


def test_free_text_and_unused_columns():
    rng = np.random.default_rng(0)
    n = 120
    X = pd.DataFrame({"note": [f"wrote {i}" for i in range(n)], "x": rng.normal(size=n),
                      "unused": rng.normal(size=n)})  # fmt: skip
    y = (X["x"] > 0).astype(int)
    prep = ColumnTransformer([("x", "passthrough", ["x"])], remainder="drop")
    model = make_pipeline(prep, LogisticRegression()).fit(X, y)
    pdp = partial_dependence(model, X, ["note", "x", "unused"], interactions=False)
    assert pdp.feature_names == ("x", "unused")
    assert pdp.skipped[0][0] == "note" and "free text" in pdp.skipped[0][1]
    assert np.ptp(pdp["unused"].average) == 0
    assert any("does not change with unused" in n for n in pdp.notes)


# --- explain, CLI, run ---------------------------------------------------------------------


def test_explain_model_pdp_of_top_and_named_features(cancer):
    model, X, y = cancer
    expl = explain_model(model, X, y, methods="permutation,pdp", n_repeats=2,
                         pdp_features=["mean smoothness"],
                         pdp_options={"h_rows": 30, "n_bootstrap": 20})  # fmt: skip
    names = expl.dependence.feature_names
    top = expl.permutation.frame()["feature"].head(5).tolist()
    assert (
        names[0] == "mean smoothness"
        and list(names[1:]) == [f for f in top if f != "mean smoothness"][: len(names) - 1]
    )
    assert "pdp" in expl.worked() and "pdp" in expl.tables()
    assert json.loads(json.dumps(expl.to_dict()["dependence"], allow_nan=False))["features"]
    with pytest.raises(InvalidInputError, match="mean smoothnes"):
        explain_model(model, X, y, methods="pdp", pdp_features="mean smoothnes")
    with pytest.raises(InvalidInputError, match="'pdp' is not among"):
        explain_model(model, X, y, methods="permutation", pdp_features="mean radius")


@pytest.fixture(scope="module")
def files(tmp_path_factory, cancer):
    model, X, y = cancer
    d = tmp_path_factory.mktemp("pdp")
    sio.dump(model, d / "model.skops")
    X.assign(target=y).to_parquet(d / "test.parquet", index=False)
    return d


def _trusted(path: Path) -> list[str]:
    return [a for t in sio.get_untrusted_types(file=path) for a in ("--trusted-type", t)]


def test_cli_explain_writes_pdp_csv(files, tmp_path):
    out = tmp_path / "expl"
    args = ["explain", "--model", files / "model.skops", "--data", files / "test.parquet",
            "--target", "target", "--methods", "pdp", "--pdp-features", "mean radius,mean area",
            "--out", out, *_trusted(files / "model.skops")]  # fmt: skip
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    printed = " ".join(result.output.split())
    assert "Partial dependence (P(y = 1)): mean radius, mean area," in printed
    assert "most interacting pair:" in printed
    table = pd.read_csv(out / "tables" / "pdp.csv")
    assert list(table.columns) == ["feature", "value", "average", "ci_low", "ci_high"]
    assert table["feature"].iloc[0] == "mean radius"
    assert (out / "figures" / "pdp.png").stat().st_size > 0
    doc = json.loads((out / "explanations.json").read_text())
    assert doc["explanations"]["dependence"]["features"][1]["feature"] == "mean area"


def test_cli_explain_bad_feature_exits_2(files, tmp_path):
    out = tmp_path / "expl"
    args = ["explain", "--model", files / "model.skops", "--data", files / "test.parquet",
            "--target", "target", "--pdp-features", "mean radiuss", "--out", out,
            *_trusted(files / "model.skops")]  # fmt: skip
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "'mean radiuss'" in text and "'mean radius'" in text
    assert "Traceback" not in result.output and not (out / "explanations.json").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--pdp-features", "worst aera"], "'worst area'"),
        (["CONFIG"], "'worst area'"),
        (["--pdp-features", "mean radius", "--explain-methods", "permutation,shap"],
         "pdp is not among --explain-methods"),
    ],
)  # fmt: skip
def test_cli_run_bad_pdp_features_exit_2_before_any_step(files, tmp_path, extra, message):
    out = tmp_path / "report"
    if extra == ["CONFIG"]:  # the names from a --config file
        config = tmp_path / "run.toml"
        config.write_text('pdp_features = ["mean radius", "worst aera"]\n')
        extra = ["--config", config]
    model = files / "model.skops"
    args = ["run", "--model", model, "--data", files / "test.parquet", "--target", "target",
            "--out", out, *extra, *_trusted(model)]  # fmt: skip
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output
    assert not (out / "results.json").exists()


def test_run_report_has_partial_dependence(cancer, tmp_path):
    from afterfit.data import load_dataset
    from afterfit.report.run import RunOptions, run_report

    model, X, y = cancer
    test = load_dataset(X.assign(target=y), target="target")
    options = RunOptions(steps=("explanations",), explain_methods=("permutation", "pdp"),
                         n_repeats=2, pdp_features=("mean texture",))  # fmt: skip
    report = run_report(model, test, options=options)
    section = report.section("explanations")
    figures = {f.id: f for f in section.figures()}
    assert "explanations-pdp-1-mean-texture" in figures and "explanations-pdp-pair" in figures
    pdp_ids = [i for i in figures if i.startswith("explanations-pdp-")]
    assert len(pdp_ids) == 7  # the named feature, the 5 most important, the pair
    for i in pdp_ids:
        json.dumps(figures[i].spec, allow_nan=False)
        assert figures[i].png().get_axes()  # the matplotlib twin draws
    assert re.fullmatch(r"[a-z0-9_.-]+", "".join(pdp_ids))  # file-name safe
    notes = " ".join(getattr(b, "text", "") for b in section.blocks)
    assert "Partial dependence" in notes
    tables = {t.id: t for t in section.tables()}
    assert "explanations-pdp-interactions" in tables
    assert tables["explanations-pdp"].frame["feature"].iloc[0] == "mean texture"
    data = json.loads(json.dumps(section.data, allow_nan=False))
    assert data["dependence"]["features"][0]["feature"] == "mean texture"
    assert not math.isnan(data["dependence"]["features"][0]["average"][0])
