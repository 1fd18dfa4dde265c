"""Tests of Anchors for tables (afterfit.explain.anchors)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.tree import DecisionTreeClassifier

from afterfit.errors import AfterfitError, InvalidInputError, SchemaError
from afterfit.explain.anchors import (
    AnchorExplanation,
    AnchorTabular,
    compute_beta,
    dlow_bernoulli,
    dup_bernoulli,
    kl_bernoulli,
    kl_lucb,
)
from afterfit.explain.lime import QuartileDiscretizer

PETAL_WIDTH = "petal width (cm)"


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, y


@pytest.fixture(scope="module")
def stump(iris: tuple[pd.DataFrame, pd.Series]) -> Any:
    """A depth-1 tree on petal width alone (setosa below 0.8), fed the whole frame."""
    X, y = iris
    return make_pipeline(
        make_column_transformer(("passthrough", [PETAL_WIDTH])),
        DecisionTreeClassifier(max_depth=1, random_state=0),
    ).fit(X, y)


@pytest.fixture(scope="module")
def forest(iris: tuple[pd.DataFrame, pd.Series]) -> RandomForestClassifier:
    X, y = iris
    return RandomForestClassifier(n_estimators=30, random_state=0).fit(X, y)


def _satisfies(X: pd.DataFrame, row: pd.Series, columns: list[str]) -> np.ndarray:
    """Direct check of the anchor's predicates (rows in the row's quartile bin)."""
    disc = QuartileDiscretizer(X, list(X.columns))
    ok = np.ones(len(X), dtype=bool)
    for c in columns:
        b0 = disc.discretize(c, [row[c]])[0]
        ok &= disc.discretize(c, X[c].to_numpy()) == b0
    return ok


# --- KL bounds -------------------------------------------------------------------------------


def test_kl_bernoulli_matches_formula() -> None:
    for p, q in [(0.3, 0.5), (0.9, 0.6), (0.5, 0.5), (0.01, 0.2)]:
        direct = p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))
        assert kl_bernoulli(p, q) == pytest.approx(direct, abs=1e-12)
    assert kl_bernoulli(0.4, 0.4) == pytest.approx(0.0, abs=1e-15)
    assert math.isfinite(kl_bernoulli(1.0, 0.0))


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.8, 0.95])
@pytest.mark.parametrize("n", [20, 200, 5000])
def test_kl_bounds_solve_n_kl_equals_beta(p: float, n: int) -> None:
    beta = math.log(1 / 0.1) + 2.0
    ub = dup_bernoulli(p, beta / n)
    lb = dlow_bernoulli(p, beta / n)
    assert lb <= p <= ub
    if ub < 1.0:
        assert n * kl_bernoulli(p, ub) == pytest.approx(beta, rel=1e-6)
    else:
        assert n * kl_bernoulli(p, 1.0 - 1e-12) <= beta * (1 + 1e-6)
    if lb > 0.0:
        assert n * kl_bernoulli(p, lb) == pytest.approx(beta, rel=1e-6)
    else:
        assert n * kl_bernoulli(p, 1e-12) <= beta * (1 + 1e-6)
    # every q strictly inside the bounds is closer than beta / n
    for q in np.linspace(lb, ub, 7)[1:-1]:
        assert n * kl_bernoulli(p, q) < beta


def test_kl_bounds_shrink_with_samples() -> None:
    widths = [dup_bernoulli(0.7, 3.0 / n) - dlow_bernoulli(0.7, 3.0 / n) for n in (10, 100, 1000)]
    assert widths[0] > widths[1] > widths[2] > 0
    # precision 1: the lower bound is exp(-level), solving KL(1 || q) = -log(q) = level
    assert dlow_bernoulli(1.0, 0.05) == pytest.approx(math.exp(-0.05), abs=1e-6)


def test_compute_beta_formula() -> None:
    temp = math.log(405.5 * 6 * 3**1.1 / 0.1)
    assert compute_beta(6, 3, 0.1) == pytest.approx(temp + math.log(temp))
    assert compute_beta(6, 4, 0.1) > compute_beta(6, 3, 0.1)


def test_kl_lucb_finds_the_best_arms() -> None:
    rng = np.random.default_rng(0)
    means = np.array([0.2, 0.9, 0.5, 0.85, 0.1])
    n = np.zeros(5)
    pos = np.zeros(5)

    def sample(arm: int, k: int) -> None:
        n[arm] += k
        pos[arm] += rng.binomial(k, means[arm])

    chosen = kl_lucb(sample, n, pos, top_n=2, epsilon=0.1, delta=0.05, batch_size=50)
    assert sorted(chosen.tolist()) == [1, 3]
    assert (n > 0).all()


# --- anchors ---------------------------------------------------------------------------------


def test_single_feature_model_gives_single_predicate(iris, stump) -> None:
    X, _ = iris
    explainer = AnchorTabular(X, random_state=0)
    anchor = explainer.explain(stump, X.iloc[0])
    assert isinstance(anchor, AnchorExplanation)
    assert anchor.predicates == ["petal width (cm) <= 0.30"]
    assert anchor.rule == "petal width (cm) <= 0.30"
    assert anchor.columns == [PETAL_WIDTH]
    assert anchor.label == 0
    assert anchor.valid
    assert anchor.precision >= 0.95
    # the other side of the split: petal width > 1.80 fixes "not setosa"
    other = explainer.explain(stump, X.iloc[120])
    assert other.predicates == ["petal width (cm) > 1.80"]
    assert other.label == stump.predict(X.iloc[[120]])[0]
    assert other.precision >= 0.95


def test_synthetic_rule_on_one_feature() -> None:
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(800, 4)), columns=["a", "b", "c", "d"])
    q3 = float(np.percentile(X["c"], 75))
    y = (X["c"] > q3).astype(int)
    model = DecisionTreeClassifier(max_depth=1, random_state=0).fit(X, y)
    row = X[X["c"] > q3 + 0.3].iloc[0]
    anchor = AnchorTabular(X, random_state=3).explain(model, row)
    assert anchor.columns == ["c"]
    assert anchor.rule == f"c > {q3:.2f}"
    assert anchor.label == 1
    assert anchor.precision >= 0.95
    assert anchor.coverage == pytest.approx(0.25, abs=0.03)


@pytest.mark.parametrize("i", [0, 100, 130])
def test_precision_holds_on_fresh_samples(iris, forest, i: int) -> None:
    X, _ = iris
    explainer = AnchorTabular(X, random_state=0)
    anchor = explainer.explain(forest, X.iloc[i])
    assert anchor.valid
    n = 5000
    fresh = explainer.sample(X.iloc[i], anchor.columns, n, random_state=20_261_122)
    assert fresh.shape == (n, X.shape[1])
    # every fresh sample satisfies the anchor
    disc = QuartileDiscretizer(X, list(X.columns))
    for c in anchor.columns:
        b0 = disc.discretize(c, [X.iloc[i][c]])[0]
        assert (disc.discretize(c, fresh[c].to_numpy()) == b0).all()
    precision = float(np.mean(forest.predict(fresh) == anchor.label))
    assert precision >= 0.95 - 3 * math.sqrt(0.95 * 0.05 / n)


def test_fresh_precision_of_invalid_anchor_is_reported_honestly(iris, forest) -> None:
    X, _ = iris
    explainer = AnchorTabular(X, random_state=0)
    anchor = explainer.explain(forest, X.iloc[60])
    fresh = explainer.sample(X.iloc[60], anchor.columns, 5000, random_state=7)
    precision = float(np.mean(forest.predict(fresh) == anchor.label))
    # reported precision (from its own samples) agrees with fresh samples of D(.|A)
    se = math.sqrt(max(precision * (1 - precision), 0.01) / anchor.num_samples)
    assert abs(anchor.precision - precision) <= 4 * se + 3 * math.sqrt(0.25 / 5000)
    assert not anchor.valid or anchor.precision >= 0.95


def test_coverage_matches_direct_computation(iris, forest) -> None:
    X, _ = iris
    for i in (0, 120):
        anchor = AnchorTabular(X, random_state=1).explain(forest, X.iloc[i])
        direct = float(_satisfies(X, X.iloc[i], anchor.columns).mean())
        se = math.sqrt(direct * (1 - direct) / 10_000)
        assert abs(anchor.coverage - direct) <= 4 * se + 1e-9
        # the prefixes' coverage shrinks as predicates are added
        assert all(a >= b for a, b in zip(anchor.coverages, anchor.coverages[1:], strict=False))
        assert anchor.coverages[-1] == anchor.coverage


def test_reproducible(iris, forest) -> None:
    X, _ = iris
    a = AnchorTabular(X, random_state=5).explain(forest, X.iloc[70])
    b = AnchorTabular(X, random_state=5).explain(forest, X.iloc[70])
    explainer = AnchorTabular(X, random_state=5)
    explainer.explain(forest, X.iloc[3])  # an earlier call does not change the next one
    c = explainer.explain(forest, X.iloc[70])
    assert a.to_dict() == b.to_dict() == c.to_dict()
    s1 = explainer.sample(X.iloc[70], [PETAL_WIDTH], 50, random_state=3)
    s2 = explainer.sample(X.iloc[70], [PETAL_WIDTH], 50, random_state=3)
    pd.testing.assert_frame_equal(s1, s2)


def test_predictions_are_batched(iris, stump) -> None:
    X, _ = iris
    sizes: list[int] = []

    class Counting:
        task = "multiclass"
        classes_ = np.array([0, 1, 2])
        scores_are_probabilities = True

        def __init__(self) -> None:
            self.feature_names = list(X.columns)

        def predict_scores(self, data: Any) -> np.ndarray:
            sizes.append(len(data))
            return stump.predict_proba(data)

        def predict(self, data: Any) -> np.ndarray:
            return stump.predict(data)

    anchor = AnchorTabular(X, random_state=0).explain(Counting(), X.iloc[0], batch_size=64)
    assert sizes[0] == 1  # the explained row
    # several anchors' batches share one model call: every call is whole batches
    assert all(s % 64 == 0 for s in sizes[1:])
    assert anchor.num_samples % 64 == 0


def test_categorical_predicate() -> None:
    rng = np.random.default_rng(2)
    n = 600
    X = pd.DataFrame(
        {
            "color": rng.choice(["red", "green", "blue"], size=n),
            "size": rng.normal(size=n),
            "weight": rng.normal(size=n),
        }
    )
    y = (X["color"] == "red").astype(int)
    model = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["color"]), remainder="passthrough"),
        DecisionTreeClassifier(max_depth=2, random_state=0),
    ).fit(X, y)
    row = X[X["color"] == "red"].iloc[0]
    anchor = AnchorTabular(X, random_state=0).explain(model, row)
    assert anchor.rule == "color = red"
    assert anchor.values == ["red"]
    assert anchor.precision >= 0.95
    assert anchor.coverage == pytest.approx(float((X["color"] == "red").mean()), abs=0.03)
    # listing a numeric column as categorical turns its predicate into equality
    by_value = AnchorTabular(X, categorical_features=["color"], random_state=0)
    assert by_value.categorical == ["color"]


def test_frame_to_dict_and_plot(iris, forest) -> None:
    X, _ = iris
    anchor = AnchorTabular(X, random_state=0).explain(forest, X.iloc[120])
    frame = anchor.frame()
    assert frame.columns.tolist() == ["predicate", "column", "value", "precision", "coverage"]
    assert frame["predicate"].tolist() == anchor.predicates
    assert " AND ".join(frame["predicate"]) == anchor.rule
    assert frame["precision"].iloc[-1] == pytest.approx(anchor.precision)
    d = json.loads(json.dumps(anchor.to_dict()))
    assert d["method"] == "anchors"
    assert d["rule"] == anchor.rule
    assert d["label"] == 2
    assert len(d["predicates"]) == len(anchor.predicates)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = anchor.plot()
    assert fig is not None
    plt.close(fig)


def test_max_anchor_size_limits_the_rule(iris, forest) -> None:
    X, _ = iris
    anchor = AnchorTabular(X, random_state=0).explain(forest, X.iloc[60], max_anchor_size=1)
    assert len(anchor.predicates) <= 1


def test_array_row_in_training_order(iris, stump) -> None:
    X, _ = iris
    a = AnchorTabular(X, random_state=0).explain(stump, X.iloc[0].to_numpy())
    assert a.predicates == ["petal width (cm) <= 0.30"]


# --- bad input -------------------------------------------------------------------------------


def test_regression_model_is_refused() -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = LinearRegression().fit(X, y)
    with pytest.raises(InvalidInputError, match="regression"):
        AnchorTabular(X).explain(model, X.iloc[0])


def test_unknown_categorical_feature(iris) -> None:
    X, _ = iris
    with pytest.raises(InvalidInputError, match="not a column"):
        AnchorTabular(X, categorical_features=["colour"])
    with pytest.raises(AfterfitError):
        AnchorTabular(X, categorical_features=[17])


def test_row_with_missing_columns(iris, stump) -> None:
    X, _ = iris
    with pytest.raises(SchemaError, match="lacks"):
        AnchorTabular(X).explain(stump, X.iloc[0].drop(PETAL_WIDTH))
    with pytest.raises(SchemaError):
        AnchorTabular(X).explain(stump, X.iloc[0].to_numpy()[:3])


@pytest.mark.parametrize(
    "option",
    [
        {"threshold": 1.5},
        {"delta": 0.0},
        {"tau": -0.1},
        {"batch_size": 0},
        {"beam_size": 0},
        {"max_anchor_size": 0},
        {"coverage_samples": 0},
    ],
)
def test_bad_options(iris, stump, option: dict[str, Any]) -> None:
    X, _ = iris
    with pytest.raises(InvalidInputError):
        AnchorTabular(X).explain(stump, X.iloc[0], **option)


def test_sample_with_unknown_anchor_column(iris) -> None:
    X, _ = iris
    with pytest.raises(InvalidInputError, match="lacks"):
        AnchorTabular(X).sample(X.iloc[0], ["colour"], 10)


def test_no_training_data() -> None:
    with pytest.raises(AfterfitError):
        AnchorTabular(None)


def test_constant_model_gives_the_empty_anchor(iris) -> None:
    from sklearn.dummy import DummyClassifier

    X, y = iris
    model = DummyClassifier(strategy="constant", constant=1).fit(X, y)
    anchor = AnchorTabular(X, random_state=0).explain(model, X.iloc[0])
    assert anchor.rule == ""
    assert anchor.predicates == []
    assert anchor.precision == 1.0
    assert anchor.coverage == 1.0
    assert anchor.label == 1
    assert anchor.valid
    assert anchor.frame().empty
    assert anchor.to_dict()["predicates"] == []


def test_vectorised_bounds_match_scalar() -> None:
    from afterfit.explain.anchors import _bounds_many

    p = np.array([0.0, 0.05, 0.5, 0.93, 1.0])
    level = np.array([0.3, 0.01, 0.002, 0.05, 0.1])
    up = _bounds_many(p, level, upper=True)
    low = _bounds_many(p, level, upper=False)
    for k in range(len(p)):
        assert up[k] == pytest.approx(dup_bernoulli(p[k], level[k]), abs=1e-12)
        assert low[k] == pytest.approx(dlow_bernoulli(p[k], level[k]), abs=1e-12)


def test_mixed_dtypes_keep_their_dtypes() -> None:
    rng = np.random.default_rng(4)
    n = 300
    X = pd.DataFrame(
        {
            "kind": pd.Categorical(rng.choice(["a", "b"], size=n)),
            "count": rng.integers(0, 10, size=n),
            "level": rng.normal(size=n),
        }
    )
    explainer = AnchorTabular(X, random_state=0)
    samples = explainer.sample(X.iloc[0], ["kind", "count"], 200)
    assert samples.dtypes.equals(X.dtypes)
    assert (samples["kind"] == X.iloc[0]["kind"]).all()
