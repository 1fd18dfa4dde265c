"""Every explanation method on native categorical boosters and polars frames (issue 14,
item 3): XGBoost with ``enable_categorical`` on pandas ``category`` columns (binary and
multiclass), LightGBM on a polars frame with ``Categorical`` columns, and a LightGBM
regressor (anchors explain labels, so they are left out with a note). Each method gives
output on every row, LIME and anchors speak in the raw categories, and the SHAP values add
up to the model's output. (LightGBM on pandas categories and a polars pipeline:
tests/test_explain_pipelines.py.)"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from afterfit.explain import explain_model

SMALL = {
    "n_errors": 1,
    "n_uncertain": 1,
    "n_random": 0,
    "n_repeats": 2,
    "shap_max_rows": 4,
    "num_samples": 300,
    "shap_options": {"max_background": 20},
    "anchor_options": {"max_anchor_size": 2, "coverage_samples": 500, "tau": 0.5},
    "random_state": 0,
}
CLASSIFIER = ("permutation", "shap", "lime", "anchors")


def _table(n: int = 300, seed: int = 1, classes: int = 2) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east", "west"], size=n)
    plan = rng.choice(["basic", "pro"], size=n, p=[0.7, 0.3])
    age = rng.normal(40, 10, n)
    income = rng.lognormal(10, 0.5, n)
    income[rng.random(n) < 0.1] = np.nan
    score = 0.12 * (age - 40) + 2.0 * (region == "north") - 1.5 * (plan == "pro")
    score = score + rng.normal(scale=0.5, size=n)
    if classes == 2:
        y = (score > 0).astype(int)
    else:
        y = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))
    X = pd.DataFrame(
        {
            "region": pd.Categorical(region),
            "plan": pd.Categorical(plan),
            "age": age,
            "income": income,
        }
    )
    return X, y


def _explain(model, X, y, train, methods=CLASSIFIER):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return explain_model(model, X, y, train=train, methods=methods, **SMALL)


def _check(ex, methods=CLASSIFIER) -> None:
    assert ex.worked() == methods, ex.failed()
    assert ex.failed() == {}
    assert ex.permutation is not None and len(ex.permutation.features) == 4
    assert ex.shap is not None and ex.shap.additivity.within_tolerance
    assert ex.shap.additivity.max_abs_error <= ex.shap.additivity.tolerance
    for r in ex.local.rows:
        assert r.shap is not None and r.lime is not None
        assert ("anchors" in methods) == (r.anchor is not None)
        # the rules read in the raw categories, not in codes
        region = [f for f in r.lime.features if f.startswith("region")]
        assert all(f == f"region = {r.row['region']}" for f in region)
        if r.anchor is not None:
            assert r.anchor.predicates or r.anchor.rule == ""
            for p, c in zip(r.anchor.predicates, r.anchor.columns, strict=True):
                if c in ("region", "plan"):
                    assert p == f"{c} = {r.row[c]}"
    # region carries the label: LIME names it (by its category) on some row
    assert any(f.startswith("region = ") for r in ex.local.rows for f in r.lime.features)
    assert ex.to_dict()["worked"] == list(methods)


@pytest.mark.parametrize("classes", [2, 3])
def test_xgboost_enable_categorical(classes: int) -> None:
    xgb = pytest.importorskip("xgboost")
    X, y = _table(classes=classes)
    model = xgb.XGBClassifier(n_estimators=30, max_depth=3, enable_categorical=True,
                              tree_method="hist", n_jobs=1)  # fmt: skip
    model.fit(X[:220], y[:220])
    ex = _explain(model, X[220:].reset_index(drop=True), y[220:], X[:220])
    _check(ex)
    # the note says what kept the tree explainer out, naming the columns
    why = " ".join(ex.shap.notes)
    assert (
        "pandas category columns ('region', 'plan')" in why and "missing values ('income')" in why
    )
    if classes == 3:
        assert ex.shap.values.ndim == 3 and ex.shap.values.shape[2] == 3


def test_lightgbm_on_polars_categoricals() -> None:
    lgb = pytest.importorskip("lightgbm")
    pl = pytest.importorskip("polars")
    X, y = _table()
    model = lgb.LGBMClassifier(n_estimators=30, min_child_samples=5, verbose=-1, n_jobs=1)
    model.fit(X[:220], y[:220])
    frame = pl.from_pandas(X)
    assert frame.schema["region"] == pl.Categorical
    ex = _explain(model, frame[220:], pl.Series(y[220:]), frame[:220])
    _check(ex)


def test_lightgbm_regressor_on_categories() -> None:
    lgb = pytest.importorskip("lightgbm")
    X, _ = _table()
    y = 0.1 * X["age"].to_numpy() + 2.0 * (X["region"] == "north").to_numpy()
    model = lgb.LGBMRegressor(n_estimators=30, min_child_samples=5, verbose=-1, n_jobs=1)
    model.fit(X[:220], y[:220])
    ex = _explain(model, X[220:].reset_index(drop=True), y[220:], X[:220],
                  methods=("permutation", "shap", "lime"))  # fmt: skip
    _check(ex, methods=("permutation", "shap", "lime"))


def test_lightgbm_on_category_columns_reads_the_same_rows_from_csv(tmp_path):
    """A CSV file gives text where the model was trained on pandas categories: LightGBM
    refused it ("categorical_feature do not match"); the text columns now take the
    model's categories, and the scores equal those of the frame with categories."""
    import lightgbm as lgb

    from afterfit.data import load_dataset
    from afterfit.evaluation import evaluate

    rng = np.random.default_rng(4)
    n = 600
    frame = pd.DataFrame({
        "color": pd.Categorical(rng.choice(["red", "green", "blue"], n)),
        "x": rng.normal(size=n),
        "size": pd.Categorical(rng.choice(["S", "M", "L", "XL"], n)),
    })  # fmt: skip
    y = ((frame["color"] == "red") ^ (frame["x"] > 0.3)).astype(int)
    model = lgb.LGBMClassifier(n_estimators=30, verbose=-1).fit(frame, y)
    booster = model.booster_
    path = tmp_path / "test.csv"
    frame.assign(y=y).iloc[:200].to_csv(path, index=False)
    from_csv = load_dataset(path, target="y")
    assert not isinstance(from_csv.X["color"].dtype, pd.CategoricalDtype)  # text from CSV
    for m in (model, booster):
        a = evaluate(m, frame.iloc[:200], y.iloc[:200], ci="none")
        b = evaluate(m, from_csv.X, from_csv.y, ci="none")
        np.testing.assert_allclose(b.predictions.scores, a.predictions.scores, atol=1e-12)
