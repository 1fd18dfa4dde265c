"""Every result's notebook display (``_repr_html_``) and plain repr.

The display shows the headline numbers with their intervals, the main figure as an inline
PNG, the findings and the first tables; user strings (feature, class and model names) are
escaped; its size is bounded; a figure or a section that fails leaves the rest and a note.
The plain repr is one short line.
"""

from __future__ import annotations

import base64
import re
import struct

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

import afterfit
from afterfit import display, notebook
from afterfit.bundle.reference import ReferenceStats

EVIL = "<script>alert(1)</script>"
#: A display bigger than this is a bug: a notebook cell is a glance, not the report.
MAX_HTML = 300_000


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 300
    X = pd.DataFrame({EVIL: rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n)})
    logit = 1.5 * X[EVIL] - X["b"]
    # a class label that is markup too: escaped wherever it is shown
    y = pd.Series(np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "<b>yes</b>", "no"))
    lr = LogisticRegression().fit(X[:200], y[:200])
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X[:200], y[:200])
    return X, y, lr, tree


def _saliency():
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(2, 2),
    ).eval()  # fmt: skip
    images = np.random.default_rng(0).random((4, 1, 8, 8)).astype("float32")
    return afterfit.compute_saliency(
        net, images, methods="gradients", faithfulness_steps=4, sanity=False, random_state=0
    )


def _monitor(X, y, lr):
    classes = list(lr.classes_)
    ref = ReferenceStats.from_frame(
        X[:200], scores=lr.predict_proba(X[:200])[:, 1], classes=classes
    )
    log = X[200:].copy()
    proba = lr.predict_proba(X[200:])
    for k, name in enumerate(classes):
        log[f"proba_{name}"] = proba[:, k]
    first = X.columns[0]  # a planted drift, for the findings
    log[first] = log[first] + 2 * X[first].std()
    # labels that arrived later: the performance part, with intervals
    log["request_id"] = [f"r{i}" for i in range(len(log))]
    labels = pd.DataFrame({"request_id": log["request_id"], "label": y[200:].to_numpy()})
    return afterfit.monitor(ref, log, task="binary", classes=classes, labels=labels, n_resamples=20)


@pytest.fixture(scope="module")
def results(data):
    X, y, lr, tree = data
    Xte, yte = X[200:], y[200:]
    small = {"n_resamples": 50, "random_state": 0}
    grid = {"C": {"type": "categorical", "choices": [0.1, 1.0]}}
    return {
        "Evaluation": afterfit.evaluate(lr, Xte, yte, **small),
        "ThresholdSelection": afterfit.select_threshold(lr, Xte, yte, objective="f1", **small),
        "CalibrationReport": afterfit.evaluate_calibration(lr, Xte, yte, **small),
        "Comparison": afterfit.compare_models({EVIL: lr, "tree": tree}, Xte, yte, **small),
        "Explanations": afterfit.explain_model(
            lr, Xte, yte, methods=["permutation"], n_repeats=3, random_state=0
        ),
        "CVResult": afterfit.cross_validate(LogisticRegression(), X, y, cv=3, random_state=0),
        "CVComparison": afterfit.compare_cv_models(
            {"lr": LogisticRegression(), "tree": DecisionTreeClassifier(max_depth=2)},
            X,
            y,
            cv=3,
            random_state=0,
        ),
        "TuningResult": afterfit.tune(
            LogisticRegression(),
            X,
            y,
            space=grid,
            sampler="grid",
            pruner="none",
            cv=3,
            n_trials=2,
        ),
        "EnsembleResult": afterfit.build_ensemble(
            {"lr": lr, "tree": tree}, Xte, yte, n_resamples=50, n_iterations=5
        ),
        "SliceResult": afterfit.evaluate_slices(
            lr, Xte.assign(g=np.where(Xte["b"] > 0, EVIL, "b")), yte, by=["g"], **small
        ),
        "MonitorResult": _monitor(X, y, lr),
        "SaliencyMaps": _saliency(),
    }


@pytest.fixture(scope="module")
def htmls(results):
    """Each result's display, rendered once."""
    return {kind: result._repr_html_() for kind, result in results.items()}


KINDS = [
    "Evaluation", "ThresholdSelection", "CalibrationReport", "Comparison", "Explanations",
    "CVResult", "CVComparison", "TuningResult", "EnsembleResult", "SliceResult",
    "MonitorResult", "SaliencyMaps",
]  # fmt: skip


def _png_size(html: str) -> tuple[int, int]:
    found = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    assert found, "no inline PNG"
    png = base64.b64decode(found.group(1))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return struct.unpack(">II", png[16:24])  # the IHDR chunk: width, height


def test_every_kind_is_covered(results):
    assert sorted(results) == sorted(KINDS)
    assert set(KINDS) <= set(notebook._builders())


@pytest.mark.parametrize("kind", KINDS)
def test_html_has_headline_figure_and_is_bounded(results, htmls, kind):
    assert type(results[kind]).__name__ == kind
    html = htmls[kind]
    assert html.startswith("<div class='afterfit-result'><h3>" + kind)
    # the headline with its interval: the summary table, or a first table with the interval
    # ends as columns (ci_low, deletion_gain_low, ...)
    interval = r"<td>\[-?[0-9.]+(e-?\d+)?, -?[0-9.]+(e-?\d+)?\]</td>"
    assert re.search(interval, html) or "_low</th>" in html, html[:1500]
    width, height = _png_size(html)
    assert 50 <= max(width, height) <= notebook.MAX_PIXELS
    assert len(html) < MAX_HTML
    assert "could not" not in html
    # every table is capped
    for table in re.findall(r"<tbody>.*?</tbody>", html, flags=re.S):
        assert table.count("<tr>") <= notebook.MAX_ROWS


@pytest.mark.parametrize("kind", KINDS)
def test_user_strings_are_escaped(htmls, kind):
    html = htmls[kind]
    assert "<script" not in html.lower()
    assert "<b>yes</b>" not in html


@pytest.mark.parametrize("kind", ["Comparison", "Explanations", "SliceResult", "MonitorResult"])
def test_user_strings_are_shown_as_text(htmls, kind):
    # the hostile name is there, as text: escaped, not dropped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in htmls[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_plain_repr_is_one_short_line(results, kind):
    text = repr(results[kind])
    assert "\n" not in text
    assert text.startswith(f"{kind}(") and text.endswith(")")
    assert len(text) <= len(kind) + 2 + display.MAX_REPR


def test_repr_carries_the_headline_with_its_interval(results):
    ev = results["Evaluation"]
    auc = ev.metrics["roc_auc"]
    assert repr(ev) == (
        f"Evaluation(binary, roc_auc {auc.value:.4g} [{auc.ci_low:.4g}, {auc.ci_high:.4g}], "
        "100 rows)"
    )
    tuned = results["TuningResult"]
    assert f"best roc_auc {tuned.best_score:.4g} [" in repr(tuned)
    mon = results["MonitorResult"]
    assert f"{len(mon.drifted)} of 3 features drifted" in repr(mon)


def test_findings_are_shown(results, htmls):
    assert results["MonitorResult"].drifted, "the test data should drift"
    html = htmls["MonitorResult"]
    assert "<b>Findings</b>" in html and "features drifted" in html


def test_a_figure_that_fails_leaves_the_tables_and_a_note(results, monkeypatch):
    from afterfit.evaluation.results import ConfusionResult

    def broken(self, **kwargs):
        raise RuntimeError("no canvas")

    monkeypatch.setattr(ConfusionResult, "plot", broken)
    html = results["Evaluation"]._repr_html_()
    assert "data:image/png" not in html
    assert "could not be drawn: RuntimeError: no canvas" in html
    assert "<td>roc_auc</td>" in html


def test_a_section_that_fails_falls_back_to_the_frame(results, monkeypatch):
    builders = notebook._builders()

    def broken(report):
        raise AttributeError("no section today")

    builders["CalibrationReport"] = broken
    monkeypatch.setattr(notebook, "_builders", lambda: builders)
    report = results["CalibrationReport"]
    html = report._repr_html_()
    assert "could not be built" in html
    assert repr(report).replace("'", "&#x27;") in html
    assert "<td>ece_uniform</td>" in html


def test_a_result_without_a_builder_uses_frame_and_plot():
    class Plain:
        def frame(self):
            return pd.DataFrame({EVIL: [1.0, 2.0]})

        def plot(self):
            from matplotlib.figure import Figure

            fig = Figure(figsize=(40, 10))  # huge: the PNG is still bounded
            fig.subplots().plot([0, 1], [1, 0])
            return fig

    html = notebook.result_html(Plain())
    assert "&lt;script&gt;" in html and "<script" not in html
    width, height = _png_size(html)
    assert max(width, height) <= notebook.MAX_PIXELS


def test_large_results_stay_small():
    rng = np.random.default_rng(1)
    n, k = 600, 25
    y = rng.integers(0, k, n)
    scores = rng.dirichlet(np.ones(k), n)
    ev = afterfit.evaluate_predictions(y, scores, task="multiclass", ci="none")
    html = ev._repr_html_()
    assert len(html) < MAX_HTML
    assert "first 12 of" in html
    long = "x" * 500
    assert len(display.one_line("Kind", long, "a\nb")) <= len("Kind()") + display.MAX_REPR
    assert "\n" not in display.one_line("Kind", "a\nb")


def test_a_section_without_a_figure_shows_the_results_plot():
    # the multiclass cost decision's section has tables only: its own .plot() is drawn
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    costs = np.array([[0, 1, 1], [5, 0, 1], [1, 1, 0]])
    decision = afterfit.select_threshold(
        model, X, y, objective="cost", cost_matrix=costs, n_resamples=20, random_state=0
    )
    assert type(decision).__name__ == "CostDecision"
    html = decision._repr_html_()
    assert "<b>CostDecision.plot()</b>" in html
    _png_size(html)
    assert re.search(r"<td>expected cost</td><td class=num>[0-9.]+</td><td>\[", html)


def test_partial_dependence_displays_its_curves_and_figure():
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import HistGradientBoostingRegressor

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(X, y)
    pdp = afterfit.compute_partial_dependence(
        model, X.iloc[:120], ["bmi", "s5"], n_bootstrap=20, grid_resolution=8
    )
    text = repr(pdp)
    assert "\n" not in text and text.startswith("PartialDependence(") and "bmi, s5" in text
    html = pdp._repr_html_()
    assert "afterfit-result" in html and "<td>bmi</td>" in html
    width, height = _png_size(html)
    assert max(width, height) <= notebook.MAX_PIXELS
