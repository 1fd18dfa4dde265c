"""The Explanations report section: figure specs with data, unique ids, JSON-safe data,
findings for leakage suspects and SHAP-LIME disagreements, matplotlib twins."""

from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib.figure import Figure as MplFigure
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import Ridge

from afterfit.explain import explain_model
from afterfit.explain.local import Agreement
from afterfit.report.page import Figure, Note, Section, Table
from afterfit.report.sections.explanations import explanations_section
from afterfit.report.specs import MAX_SCATTER

FAST_ANCHORS = {"max_anchor_size": 2, "coverage_samples": 500, "batch_size": 100, "tau": 0.5}


@pytest.fixture(scope="module")
def cancer_expl():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = RandomForestClassifier(n_estimators=15, max_depth=4, random_state=0)
    model.fit(X[:400], y[:400])
    return explain_model(model, X[400:], y[400:], train=X[:400], rows=[0], n_repeats=3,
                         n_errors=1, n_uncertain=1, n_random=0, num_samples=400,
                         anchor_options=FAST_ANCHORS, random_state=0)  # fmt: skip


def _xy(trace):
    return [v for v in trace.get("x", []) if v is not None], trace.get("y", [])


def test_section_blocks_specs_and_ids(cancer_expl):
    section = explanations_section(cancer_expl)
    assert isinstance(section, Section) and section.id == "explanations"
    ids = [b.id for b in section.blocks if isinstance(b, Figure | Table)]
    assert len(ids) == len(set(ids))
    assert all(i.startswith("explanations-") for i in ids)
    figures = {f.id: f for f in section.figures()}
    assert {"explanations-permutation", "explanations-shap-importance",
            "explanations-beeswarm", "explanations-dependence",
            "explanations-row-0"} <= set(figures)  # fmt: skip
    for fig in figures.values():
        assert fig.spec["data"], fig.id
        for trace in fig.spec["data"]:
            x, y = _xy(trace)
            assert len(x) > 0 and len(y) > 0, fig.id
        json.dumps(fig.spec, allow_nan=False)
        assert "plotly" not in type(fig.spec).__module__
    # importance bars carry their intervals as error bars
    bars = figures["explanations-permutation"].spec["data"][0]
    assert bars["error_x"]["array"] and bars["error_x"]["arrayminus"]
    # a row's figure: SHAP and LIME side by side, on two x axes
    row = figures["explanations-row-0"].spec
    assert [t["name"] for t in row["data"]] == ["SHAP", "LIME"]
    assert {t["xaxis"] for t in row["data"]} == {"x", "x2"}
    assert "xaxis2" in row["layout"] and "Anchor: IF" in figures["explanations-row-0"].caption
    tables = {t.id for t in section.tables()}
    assert {"explanations-importance", "explanations-rows", "explanations-agreement",
            "explanations-anchors", "explanations-row-0-methods"} <= tables  # fmt: skip
    for t in section.tables():
        assert "<NA>" not in t.frame.astype(str).to_string()
    json.dumps(section.data, allow_nan=False)
    assert section.data["local"]["rows"][0]["position"] == 0


def test_png_twins_are_matplotlib_figures(cancer_expl):
    section = explanations_section(cancer_expl)
    for fig in section.figures():
        assert fig.png is not None
    drawn = [f.png() for f in section.figures() if f.id in
             ("explanations-shap-importance", "explanations-row-0")]  # fmt: skip
    assert all(isinstance(d, MplFigure) for d in drawn)


def test_beeswarm_is_sampled_and_says_so():
    rng = np.random.default_rng(0)
    X = load_diabetes(as_frame=True).data
    big = X.sample(3000, replace=True, random_state=0).reset_index(drop=True)
    big = big + rng.normal(scale=1e-3, size=big.shape)
    target = big @ rng.normal(size=big.shape[1])
    model = Ridge().fit(big, target)
    expl = explain_model(model, big, target, methods="shap", n_errors=1, n_random=0,
                         shap_max_rows=3000, random_state=0)  # fmt: skip
    section = explanations_section(expl)
    swarm = next(f for f in section.figures() if f.id == "explanations-beeswarm")
    points = len(swarm.spec["data"][0]["x"])
    assert 0 < points <= MAX_SCATTER
    assert "sampled at random" in swarm.caption
    assert len(swarm.spec["data"][0]["marker"]["color"]) == points
    dep = next(f for f in section.figures() if f.id == "explanations-dependence")
    assert len(dep.spec["data"][0]["x"]) == MAX_SCATTER and "sampled" in dep.caption
    # regression: no anchors, so no anchors table
    assert not any(t.id == "explanations-anchors" for t in section.tables())


def test_leakage_finding():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    noise = 0.01 * np.random.default_rng(0).normal(size=len(y))
    X = X.iloc[:, :6].assign(leak=y.to_numpy() + noise)
    model = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X[:400], y[:400])
    expl = explain_model(model, X[400:], y[400:], train=X[:400], methods="permutation,shap",
                         n_repeats=3, random_state=0)  # fmt: skip
    section = explanations_section(expl)
    texts = [w.text for w in section.warnings]
    assert any(t.startswith("leakage suspect: feature 'leak'") for t in texts)
    assert all(w.section == "explanations" and w.severity == "warning" for w in section.warnings)


def test_disagreement_finding(cancer_expl):
    import dataclasses

    row = cancer_expl.local.rows[0]
    bad = Agreement(k=5, shap_top=("a",), lime_top=("b",), overlap=0, jaccard=0.0,
                    kendall_tau=-0.5, sign_agreement=float("nan"), agree=False)  # fmt: skip
    local = dataclasses.replace(cancer_expl.local, rows=(dataclasses.replace(row, agreement=bad),))
    expl = dataclasses.replace(cancer_expl, local=local)
    section = explanations_section(expl)
    texts = [w.text for w in section.warnings]
    assert any(t.startswith("SHAP and LIME disagree on row 0") for t in texts)
    json.dumps(section.data, allow_nan=False)


def test_skipped_work_is_shown():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = RandomForestClassifier(n_estimators=10, max_depth=3, random_state=0)
    model.fit(X[:400], y[:400])
    expl = explain_model(model, X[400:], y[400:], train=X[:400], methods="lime",
                         n_errors=2, n_uncertain=1, n_random=0, num_samples=300,
                         time_budget=0, random_state=0)  # fmt: skip
    section = explanations_section(expl)
    notes = " ".join(b.text for b in section.blocks if isinstance(b, Note))
    assert "Not run: lime (2 times)" in notes
    skipped = next(t for t in section.tables() if t.id == "explanations-skipped")
    assert len(skipped.frame) == 2 and skipped.frame["reason"].str.contains("time budget").all()
    # no SHAP: the rows' figures hold LIME alone
    row_fig = next(f for f in section.figures() if f.id.startswith("explanations-row-"))
    assert [t["name"] for t in row_fig.spec["data"]] == ["LIME"]
