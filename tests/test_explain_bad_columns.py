"""Columns no perturbation can use (issue 14, bad input).

Rule: LIME and anchors hold such a column at the explained row's value in every sample and
name it, with the reason, in a note per method; every method still runs. Dropping the
column is no fix: a pipeline fitted on a frame expects every column it was fitted with,
read or not (its input check refuses data without it), and one that reads the column needs
it. Variants: free text with a unique value per row (dropped by the pipeline, or read by
it), a column missing everywhere (numbers or text), cells that are lists or dicts, and a
datetime the pipeline drops (not held: its values are drawn from the training rows). A
table where *every* column is like this is refused per method, naming the columns.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from afterfit.errors import InvalidInputError
from afterfit.explain import AnchorTabular, LimeTabular, explain_model
from afterfit.models import as_model

METHODS = ("permutation", "shap", "lime", "anchors")
SMALL = {
    "methods": METHODS,
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


def _table(n: int = 240, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east"], size=n).astype(object)
    age = rng.normal(40, 10, n)
    logit = 0.15 * (age - 40) + 2.0 * (region == "north") - 0.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"region": region, "age": age}), y


def _pipeline(extra: list[tuple[str, object, list[str]]] | None = None) -> Pipeline:
    parts = [
        ("text", make_pipeline(SimpleImputer(strategy="most_frequent"),
                               OneHotEncoder(handle_unknown="ignore")), ["region"]),
        ("num", StandardScaler(), ["age"]),
        *(extra or []),
    ]  # fmt: skip
    return Pipeline([("pre", ColumnTransformer(parts)), ("model", LogisticRegression())])


def _variant(kind: str) -> tuple[pd.DataFrame, np.ndarray, str]:
    X, y = _table()
    n = len(X)
    if kind == "unique text":
        col = np.array([f"customer wrote {i}" for i in range(n)], dtype=object)
    elif kind == "missing numbers":
        col = np.full(n, np.nan)
    elif kind == "missing text":
        col = np.array([None] * n, dtype=object)
    elif kind == "lists":
        col = np.empty(n, dtype=object)
        col[:] = [[i, i + 1] for i in range(n)]
    elif kind == "dicts":
        col = np.empty(n, dtype=object)
        col[:] = [{"clicks": i % 5} for i in range(n)]
    else:  # pragma: no cover
        raise AssertionError(kind)
    return X.assign(extra=col), y, kind


KINDS = ["unique text", "missing numbers", "missing text", "lists", "dicts"]
REASONS = {
    "unique text": "its own value",
    "missing numbers": "missing in every training row",
    "missing text": "missing in every training row",
    "lists": "lists, dicts or arrays",
    "dicts": "lists, dicts or arrays",
}


@pytest.mark.parametrize("kind", KINDS)
def test_column_is_held_at_the_row_value(kind: str) -> None:
    X, y, _ = _variant(kind)
    model = _pipeline().fit(X[:180], y[:180])  # the pipeline drops 'extra'
    lime = LimeTabular(X[:180], random_state=0)
    assert list(lime.fixed) == ["extra"] and REASONS[kind] in lime.fixed["extra"]
    assert "extra" not in lime.features
    row = X.iloc[200]
    perturbed, data, _, rules = lime._sample(lime._row(row), 300, np.random.default_rng(0))
    # every sample keeps the row's value (the model gets the column it was fitted with)
    for value in perturbed["extra"]:
        assert value == row["extra"] or (pd.isna(value) and pd.isna(row["extra"]))
    assert perturbed["extra"].dtype == X["extra"].dtype
    assert data.shape[1] == len(lime.features) == 2 and not any("extra" in r for r in rules)
    exp = lime.explain(model, row, num_features=5, num_samples=300)
    assert "extra" not in exp.columns and set(exp.columns) == {"region", "age"}
    # the model saw the row itself as the first sample
    assert exp.prediction_model == pytest.approx(
        as_model(model).predict_scores(X.iloc[[200]])[0, 1]
    )

    anchors = AnchorTabular(X[:180], random_state=0)
    assert list(anchors.fixed) == ["extra"]
    a = anchors.explain(model, row, max_anchor_size=2, coverage_samples=500, tau=0.5)
    assert "extra" not in a.columns
    samples = anchors.sample(row, ["age"], 200)
    for value in samples["extra"]:
        assert value == row["extra"] or (pd.isna(value) and pd.isna(row["extra"]))


@pytest.mark.parametrize("kind", ["unique text", "lists"])
def test_every_method_runs_and_each_names_the_column(kind: str) -> None:
    X, y, _ = _variant(kind)
    model = _pipeline().fit(X[:180], y[:180])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = explain_model(model, X[180:], y[180:], train=X[:180], **SMALL)
    assert ex.failed() == {} and ex.worked() == METHODS
    for method in ("LIME", "Anchors"):
        (note,) = [n for n in ex.notes if n.startswith(f"{method} held")]
        assert "'extra'" in note and REASONS[kind] in note
    assert ex.to_dict()["notes"] == list(ex.notes)


def test_free_text_the_model_reads_is_held_not_dropped() -> None:
    """The pipeline reads the text (its length): holding it keeps the row's prediction
    (dropping the column would change what the model sees, or fail)."""
    X, y = _table()
    X = X.assign(note=[("x" * (i % 40)) + f" {i}" for i in range(len(X))])
    length = FunctionTransformer(lambda d: d.apply(lambda s: s.str.len()))
    model = _pipeline([("note", length, ["note"])]).fit(X[:180], y[:180])
    lime = LimeTabular(X[:180], random_state=0)
    assert "note" in lime.fixed
    row = X.iloc[190]
    perturbed, *_ = lime._sample(lime._row(row), 200, np.random.default_rng(0))
    scores = as_model(model).predict_scores(perturbed)[:, 1]
    # only region and age move: the samples that keep the row's region and age predict as it
    keep = (perturbed["region"] == row["region"]) & (perturbed["age"] == row["age"])
    assert keep.iloc[0] and np.allclose(scores[keep.to_numpy()], scores[0])
    exp = lime.explain(model, row, num_samples=300)
    assert "note" not in exp.columns


def test_datetime_the_pipeline_drops_is_drawn_not_held() -> None:
    X, y = _table()
    X = X.assign(when=pd.date_range("2024-01-01", periods=len(X), freq="h"))
    model = _pipeline().fit(X[:180], y[:180])
    lime = LimeTabular(X[:180], random_state=0)
    assert lime.fixed == {} and "when" in lime.categorical
    perturbed, *_ = lime._sample(lime._row(X.iloc[200]), 300, np.random.default_rng(0))
    assert perturbed["when"].nunique() > 50  # drawn from the training dates
    assert set(perturbed["when"].iloc[1:]) <= set(X["when"][:180])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = explain_model(model, X[180:], y[180:], train=X[:180], **SMALL)
    assert ex.failed() == {} and ex.worked() == METHODS
    assert not [n for n in ex.notes if " held " in n]


@pytest.mark.parametrize("cls, name", [(LimeTabular, "LIME"), (AnchorTabular, "anchors")])
def test_nothing_to_perturb_is_refused_naming_columns(cls: type, name: str) -> None:
    n = 60
    X = pd.DataFrame({"note": [f"text {i}" for i in range(n)], "empty": np.full(n, np.nan)})
    with pytest.raises(InvalidInputError) as info:
        cls(X)
    message = str(info.value)
    assert f"{name} has no column it can perturb" in message
    assert "'note'" in message and "'empty'" in message
    assert "the others still run" in message


def test_few_rows_keep_text_as_categories() -> None:
    """Below 20 rows, distinct text is not called free text: it is drawn as categories."""
    X = pd.DataFrame({"kind": [f"k{i}" for i in range(10)], "x": np.arange(10.0)})
    assert LimeTabular(X).fixed == {}
