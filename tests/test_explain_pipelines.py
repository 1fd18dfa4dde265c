"""Every explanation method on the models people have (issue 14, items 1 and 3).

A scikit-learn pipeline that imputes and one-hot encodes text columns and scales numbers,
fitted on a table with text columns and missing values; LightGBM on pandas ``category``
columns; a polars frame. Each is explained by permutation importance, SHAP, LIME and
anchors in the user's raw columns. A column no perturbation can use (free text, one value
per row) is held at the row's value by LIME and anchors and named in a note; every method
runs.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from afterfit.errors import InvalidInputError
from afterfit.explain import AnchorTabular, LimeTabular, explain_model, shap_values

METHODS = ("permutation", "shap", "lime", "anchors", "pdp")
SMALL = {
    "n_errors": 1,
    "n_uncertain": 1,
    "n_random": 0,
    "n_repeats": 2,
    "shap_max_rows": 4,
    "num_samples": 400,
    "shap_options": {"max_background": 20},
    "random_state": 0,
}


def _table(n: int = 360, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Text columns, numbers, missing values in both; the label depends on all of them."""
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east", "west"], size=n).astype(object)
    plan = rng.choice(["basic", "pro"], size=n, p=[0.7, 0.3])
    age = rng.normal(40, 10, n)
    income = rng.lognormal(10, 0.5, n)
    logit = (
        0.12 * (age - 40)
        + 2.0 * (region == "north")
        - 1.5 * (plan == "pro")
        + 1.0 * np.log(income / 22000)
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = pd.DataFrame({"region": region, "plan": plan, "age": age, "income": income})
    X.loc[rng.random(n) < 0.15, "income"] = np.nan
    X.loc[rng.random(n) < 0.1, "region"] = None
    return X, y


def _pipeline(final: object) -> Pipeline:
    pre = ColumnTransformer(
        [
            (
                "text",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                ["region", "plan"],
            ),
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "income"]),
        ]
    )
    return Pipeline([("pre", pre), ("model", final)])


@pytest.fixture(scope="module")
def table() -> tuple[pd.DataFrame, np.ndarray]:
    return _table()


@pytest.fixture(scope="module", params=["logistic", "hgb"])
def fitted(request, table) -> tuple[Pipeline, pd.DataFrame, np.ndarray, pd.DataFrame]:
    X, y = table
    final = (
        LogisticRegression(max_iter=1000)
        if request.param == "logistic"
        else HistGradientBoostingClassifier(max_iter=40, random_state=0)
    )
    model = _pipeline(final).fit(X[:260], y[:260])
    return model, X[260:].reset_index(drop=True), y[260:], X[:260]


@pytest.fixture(scope="module")
def explained(fitted):
    model, X, y, train = fitted
    # a row whose income is missing, so the missing bin is explained as well
    nan_row = int(np.flatnonzero(X["income"].isna().to_numpy())[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = explain_model(model, X, y, train=train, rows=[nan_row], **SMALL)
    return ex, nan_row


def test_pipeline_every_method_runs(explained) -> None:
    ex, _ = explained
    assert ex.methods == METHODS
    assert ex.worked() == METHODS
    assert ex.failed() == {}
    assert not [s for s in ex.skipped if s.failed]
    # permutation importance and SHAP name the raw columns, not the one-hot columns
    assert set(ex.permutation.features) == {"region", "plan", "age", "income"}
    assert ex.shap.feature_names == ("region", "plan", "age", "income")
    assert ex.shap.algorithm == "permutation"
    assert ex.shap.additivity.within_tolerance
    assert any("raw columns" in n for n in ex.notes)  # which SHAP path ran
    for r in ex.local.rows:
        assert r.shap is not None and r.lime is not None and r.anchor is not None
        assert r.shap.to_dict()  # JSON-safe
    d = ex.to_dict()
    assert d["worked"] == list(METHODS) and d["failed"] == []


def test_pipeline_rules_read_in_raw_columns(explained) -> None:
    ex, nan_row = explained
    row = ex.local.row(nan_row)
    assert math.isnan(row.row["income"])
    rules = set(row.lime.features)
    # every column is explained, by its own kind of rule
    assert "income is missing" in rules
    region = row.row["region"]
    expected = "region is missing" if region is None else f"region = {region}"
    assert expected in rules
    assert f"plan = {row.row['plan']}" in rules
    assert any(r.startswith("age") or " < age <= " in r for r in rules)
    anchor_rules = {
        "income is missing",
        expected,
        f"plan = {row.row['plan']}",
    }
    # an anchor predicate on a raw column reads like the LIME rules
    for p in row.anchor.predicates:
        assert p in anchor_rules or "age" in p, p


def test_shap_over_raw_columns_adds_up_and_matches_brute_force(fitted) -> None:
    """Exact interventional SHAP by brute force (all 2^4 coalitions over whole background
    rows) is the oracle; the permutation explainer with its antithetic permutations must
    add up exactly and agree within sampling error."""
    from itertools import combinations

    model, X, _, train = fitted
    bg = train.iloc[:15].reset_index(drop=True)
    x = X.iloc[[0]]
    sv = shap_values(model, x, background=bg, max_background=15, random_state=0)
    assert sv.additivity.within_tolerance
    cols = list(X.columns)
    d = len(cols)

    def value(subset: tuple[int, ...]) -> float:
        z = bg.copy()
        for j in subset:
            z[cols[j]] = x.iloc[0, j]
        return float(model.predict_proba(z)[:, 1].mean())

    cache = {s: value(s) for k in range(d + 1) for s in combinations(range(d), k)}
    exact = np.zeros(d)
    for j in range(d):
        others = [i for i in range(d) if i != j]
        for k in range(d):
            for s in combinations(others, k):
                w = math.factorial(k) * math.factorial(d - k - 1) / math.factorial(d)
                exact[j] += w * (cache[tuple(sorted((*s, j)))] - cache[s])
    got = np.asarray(sv.values[0], dtype=float)
    assert got.shape == (d,)
    assert float(sv.base_values[0]) == pytest.approx(cache[()], abs=1e-9)
    # both add up to f(x) - E[f(background)] exactly; each value within sampling error
    assert got.sum() == pytest.approx(exact.sum(), abs=1e-9)
    np.testing.assert_allclose(got, exact, atol=2e-3)
    assert np.abs(exact).max() > 0.02  # far from 0: the tolerance means something


def test_lime_missing_bin_and_categories_by_frequency(table) -> None:
    X, _ = table
    lime = LimeTabular(X, random_state=0)
    disc = lime.discretizer
    income = X["income"]
    # quartiles without NaN, and a missing bin with the training share of NaN
    np.testing.assert_allclose(
        disc.edges["income"], np.unique(np.percentile(income.dropna(), [25, 50, 75]))
    )
    assert disc.frequencies["income"][-1] == pytest.approx(income.isna().mean())
    assert disc.rule("income", disc.missing_bin("income")) == "income is missing"
    assert disc.discretize("income", [np.nan])[0] == disc.missing_bin("income")
    # draws: the missing bin gives NaN at about its training share
    rng = np.random.default_rng(0)
    bins = rng.choice(len(disc.frequencies["income"]), size=20_000, p=disc.frequencies["income"])
    drawn = disc.undiscretize("income", bins, rng)
    assert np.isnan(drawn).mean() == pytest.approx(income.isna().mean(), abs=0.01)
    assert not np.isnan(drawn[bins != disc.missing_bin("income")]).any()
    # categories by frequency, None included as a category of its own
    values, freqs = lime.categories["region"]
    shares = X["region"].value_counts(dropna=False, normalize=True)
    assert sum(freqs) == pytest.approx(1.0)
    assert len(values) == len(shares) == 5


def test_lightgbm_native_categories() -> None:
    lgb = pytest.importorskip("lightgbm")
    X, y = _table(300, seed=1)
    X = X.assign(region=X["region"].astype("category"), plan=X["plan"].astype("category"))
    model = lgb.LGBMClassifier(n_estimators=30, min_child_samples=5, verbose=-1)
    model.fit(X[:220], y[:220])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = explain_model(model, X[220:], y[220:], train=X[:220], methods=METHODS, **SMALL)
    assert ex.worked() == METHODS, ex.failed()
    assert ex.shap.additivity.within_tolerance
    assert any("raw columns" in n for n in ex.notes)
    for r in ex.local.rows:
        assert r.lime is not None and r.anchor is not None
        assert any(f.startswith("region") for f in r.lime.features)


def test_polars_frame(table) -> None:
    pl = pytest.importorskip("polars")
    X, y = table
    model = _pipeline(LogisticRegression(max_iter=1000)).fit(X[:260], y[:260])
    X, y, train = X[260:].reset_index(drop=True), y[260:], X[:260]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = explain_model(
            model, pl.from_pandas(X), pl.Series(y), train=pl.from_pandas(train), **SMALL
        )
    assert ex.worked() == METHODS, ex.failed()
    assert ex.shap.additivity.within_tolerance


def test_free_text_column_is_held_and_named_per_method(table) -> None:
    """A column no perturbation can use is held at the row's value and named in a note by
    LIME and anchors; every method runs (the model still gets the column it may read).
    More variants: tests/test_explain_bad_columns.py."""
    X, y = table
    X = X.assign(note=[f"customer wrote {i}" for i in range(len(X))])
    # the pipeline drops the free text; LIME and anchors cannot perturb it
    model = _pipeline(LogisticRegression(max_iter=1000)).fit(X[:260], y[:260])
    assert "note" in LimeTabular(X[:260]).fixed
    assert "note" in AnchorTabular(X[:260]).fixed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = explain_model(model, X[260:], y[260:], train=X[:260], **SMALL)
    assert ex.failed() == {}
    assert ex.worked() == METHODS
    for method in ("LIME", "Anchors"):
        assert any(n.startswith(f"{method} held 1 column") and "'note'" in n for n in ex.notes)
    for r in ex.local.rows:
        assert "note" not in r.lime.columns and "note" not in r.anchor.columns


def test_every_method_failing_is_an_error(table) -> None:
    from sklearn.preprocessing import FunctionTransformer

    X, y = table
    # only columns no perturbation can use: free text and a column missing everywhere
    X = pd.DataFrame({"note": [f"customer wrote {i} {'!' * (i % 7)}" for i in range(len(X))],
                      "empty": np.full(len(X), np.nan)})  # fmt: skip
    length = FunctionTransformer(lambda d: d[["note"]].apply(lambda s: s.str.len()))
    model = make_pipeline(length, LogisticRegression(max_iter=1000)).fit(X[:260], y[:260])
    with pytest.raises(InvalidInputError, match="Every explanation method failed"):
        explain_model(model, X[260:], y[260:], train=X[:260], methods="lime,anchors", **SMALL)


def test_cli_explain_names_held_column_and_failed_method_and_exits_0(tmp_path, table) -> None:
    import json

    import joblib
    from typer.testing import CliRunner

    from afterfit.cli import app

    X, y = table
    X = X.assign(note=[f"customer wrote {i}" for i in range(len(X))])
    model = _pipeline(LogisticRegression(max_iter=1000)).fit(X[:260], y[:260])
    joblib.dump(model, tmp_path / "model.joblib")
    X.assign(y=y)[260:].to_csv(tmp_path / "test.csv", index=False)
    X.assign(y=y)[:260].to_csv(tmp_path / "train.csv", index=False)
    # training rows where every column is empty: LIME has nothing to draw from
    empty = X.assign(y=y)[:260].astype(object)
    empty.loc[:, list(X.columns)] = None
    empty.to_csv(tmp_path / "empty.csv", index=False)

    def run(train: str, out: str) -> object:
        return CliRunner().invoke(
            app,
            [
                "explain", "--model", str(tmp_path / "model.joblib"), "--trust", "--data",
                str(tmp_path / "test.csv"), "--train", str(tmp_path / train), "--target",
                "y", "--methods", "permutation,lime", "--n-errors", "1", "--n-uncertain",
                "0", "--n-random", "0", "--n-repeats", "2", "--no-figures", "--out",
                str(tmp_path / out),
            ],
            catch_exceptions=False,
        )  # fmt: skip

    result = run("train.csv", "out")
    assert result.exit_code == 0, result.output
    assert "LIME held 1 column" in result.output and "'note'" in result.output
    body = json.loads((tmp_path / "out" / "explanations.json").read_text())["explanations"]
    assert body["worked"] == ["permutation", "lime"]
    assert any("'note'" in n for n in body["notes"])

    result = run("empty.csv", "out-empty")
    assert result.exit_code == 0, result.output
    assert "failed" in result.output and "no column it can perturb" in result.output
    body = json.loads((tmp_path / "out-empty" / "explanations.json").read_text())
    body = body["explanations"]
    assert body["worked"] == ["permutation"]
    assert body["failed"][0]["method"] == "lime"
