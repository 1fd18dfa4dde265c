"""Loss and learning curves: read from real estimators and real log formats, checked
against the estimators' own attributes and scikit-learn's learning_curve."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure as MplFigure
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.model_selection import learning_curve as sk_learning_curve
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

from afterfit.calibration import CalibratedModel
from afterfit.errors import DataError, InvalidInputError, ModelError
from afterfit.models.sklearn import SklearnModel
from afterfit.report.page import Figure, Section, Table
from afterfit.report.sections.training import MAX_POINTS, curves_spec, training_section
from afterfit.thresholds import ThresholdedModel
from afterfit.training import (
    Curve,
    LearningCurve,
    TrainingCurves,
    learning_curve,
    read_history,
    training_curves,
)
from afterfit.training.names import _direction


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return X, y


@pytest.fixture(scope="module")
def mlp_pipeline(cancer):
    X, y = cancer
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: a short fit on purpose
        return make_pipeline(
            StandardScaler(), MLPClassifier(max_iter=40, early_stopping=True, random_state=0)
        ).fit(X, y)


def _json_safe(obj):
    return json.loads(json.dumps(obj, allow_nan=False))


# --- curves recorded by estimators --------------------------------------------------------


def test_mlp_curves_are_its_attributes(mlp_pipeline):
    mlp = mlp_pipeline[-1]
    curves = training_curves(mlp_pipeline)
    assert curves.names == ("train loss", "validation accuracy")
    loss, val = curves["train loss"], curves["validation accuracy"]
    np.testing.assert_array_equal(loss.y, mlp.loss_curve_)
    np.testing.assert_array_equal(val.y, mlp.validation_scores_)
    np.testing.assert_array_equal(loss.x, np.arange(1, len(mlp.loss_curve_) + 1))
    assert loss.higher_is_better is False and val.higher_is_better is True
    assert curves.x_label == "epoch"
    # MLP restores the weights of the best validation score
    assert curves.best_iteration == np.argmax(mlp.validation_scores_) + 1
    assert curves.unwrapped == ("Pipeline",)
    assert curves.source == "MLPClassifier"


def test_wrappers_are_unwrapped(mlp_pipeline, cancer):
    X, y = cancer
    mlp = mlp_pipeline[-1]
    thresholded = ThresholdedModel(mlp_pipeline, threshold=0.3)
    calibrated = CalibratedModel(mlp_pipeline, method="sigmoid").fit(X[::2], y[::2])
    for wrapped, path in [
        (SklearnModel(mlp_pipeline), ("SklearnModel", "Pipeline")),
        (thresholded, ("ThresholdedModel", "Pipeline")),
        (SklearnModel(thresholded), ("SklearnModel", "ThresholdedModel", "Pipeline")),
        (calibrated, ("CalibratedModel", "Pipeline")),
    ]:
        curves = training_curves(wrapped)
        assert curves.unwrapped == path
        np.testing.assert_array_equal(curves["train loss"].y, mlp.loss_curve_)


def test_gradient_boosting_curves_are_its_attributes(cancer):
    X, y = cancer
    gb = GradientBoostingClassifier(n_estimators=15, subsample=0.7, max_depth=2, random_state=0)
    curves = training_curves(gb.fit(X, y))
    assert curves.names == ("train loss (in-bag)", "out-of-bag loss", "out-of-bag improvement")
    np.testing.assert_array_equal(curves["train loss (in-bag)"].y, gb.train_score_)
    np.testing.assert_array_equal(curves["out-of-bag loss"].y, gb.oob_scores_)
    np.testing.assert_array_equal(curves["out-of-bag improvement"].y, gb.oob_improvement_)
    np.testing.assert_array_equal(curves["out-of-bag loss"].x, np.arange(1, 16))
    assert curves["out-of-bag loss"].higher_is_better is False
    assert curves["out-of-bag improvement"].higher_is_better is None
    # without subsampling there is no out-of-bag curve
    plain = GradientBoostingClassifier(n_estimators=5, max_depth=1, random_state=0).fit(X, y)
    assert training_curves(plain).names == ("train loss",)


def test_hist_gradient_boosting_curves(cancer):
    X, y = cancer
    # one thread: OpenMP threads make small fits slow on a busy machine
    with threadpool_limits(limits=1):
        hgb = HistGradientBoostingClassifier(early_stopping=True, max_iter=25, random_state=0)
        hgb.fit(X, y)
        scored = HistGradientBoostingClassifier(
            early_stopping=True, scoring="roc_auc", max_iter=10, random_state=0
        ).fit(X, y)
        no_es = HistGradientBoostingClassifier(early_stopping=False, max_iter=5).fit(X, y)
    curves = training_curves(hgb)
    assert curves.names == ("train loss", "validation loss")
    # HistGradientBoosting records negative losses, from iteration 0 (the baseline)
    np.testing.assert_array_equal(curves["train loss"].y, -hgb.train_score_)
    np.testing.assert_array_equal(curves["validation loss"].y, -hgb.validation_score_)
    np.testing.assert_array_equal(curves["validation loss"].x, np.arange(hgb.n_iter_ + 1))
    auc = training_curves(scored)["validation roc_auc"]
    np.testing.assert_array_equal(auc.y, scored.validation_score_)
    assert auc.higher_is_better is True
    assert training_curves(no_es) is None


def test_xgboost_evals_result(cancer):
    xgb = pytest.importorskip("xgboost")
    X, y = cancer
    model = xgb.XGBClassifier(
        n_estimators=60,
        max_depth=2,
        eval_metric=["logloss", "auc"],
        early_stopping_rounds=5,
        n_jobs=1,
    )
    model.fit(X[:400], y[:400], eval_set=[(X[:400], y[:400]), (X[400:], y[400:])], verbose=False)
    curves = training_curves(model)
    evals = model.evals_result()
    assert curves.names == (
        "validation_0 logloss",
        "validation_0 auc",
        "validation_1 logloss",
        "validation_1 auc",
    )
    for split, metrics in evals.items():
        for metric, values in metrics.items():
            curve = curves[f"{split} {metric}"]
            np.testing.assert_allclose(curve.y, values)
            np.testing.assert_array_equal(curve.x, np.arange(1, len(values) + 1))
    assert curves["validation_1 auc"].higher_is_better is True
    assert curves["validation_1 logloss"].higher_is_better is False
    assert curves.best_iteration == model.best_iteration + 1


def test_lightgbm_evals_result(cancer):
    lgb = pytest.importorskip("lightgbm")
    X, y = cancer
    model = lgb.LGBMClassifier(n_estimators=40, num_leaves=4, verbose=-1, n_jobs=1)
    model.fit(
        X[:400],
        y[:400],
        eval_X=(X[:400], X[400:]),
        eval_y=(y[:400], y[400:]),
        eval_names=["training", "holdout"],
        eval_metric="auc",
        callbacks=[lgb.early_stopping(5, verbose=False)],
    )
    curves = training_curves(model)
    assert len(curves) == 4
    for split, metrics in model.evals_result_.items():
        for metric, values in metrics.items():
            np.testing.assert_allclose(curves[f"{split} {metric}"].y, values)
    assert curves.best_iteration == model.best_iteration_
    assert curves["holdout binary_logloss"].higher_is_better is False


def test_keras_model_history():
    from types import SimpleNamespace

    # what a fitted Keras model exposes: model.history.history, a dict of lists
    model = SimpleNamespace(history=SimpleNamespace(history={"loss": [0.7, 0.5],
                                                             "val_loss": [0.8, 0.6]}))  # fmt: skip
    curves = training_curves(model)
    assert curves.kind == "estimator" and curves.names == ("train loss", "validation loss")
    np.testing.assert_array_equal(curves["validation loss"].y, [0.8, 0.6])


def test_models_without_curves(cancer):
    X, y = cancer
    assert training_curves(LogisticRegression(max_iter=50).fit(X[:, :3], y)) is None
    assert training_curves(DecisionTreeClassifier(max_depth=1).fit(X, y)) is None
    assert training_curves(object()) is None


def test_training_curves_results(mlp_pipeline):
    curves = training_curves(mlp_pipeline)
    tidy = curves.frame()
    assert list(tidy.columns) == ["curve", "metric", "split", "higher_is_better", "epoch", "value"]
    assert len(tidy) == sum(c.x.size for c in curves.curves)
    wide = curves.frame(wide=True)
    assert list(wide.columns) == ["epoch", "train loss", "validation accuracy"]
    summary = curves.summary()
    mlp = mlp_pipeline[-1]
    row = summary.set_index("curve").loc["validation accuracy"]
    assert row["best"] == max(mlp.validation_scores_)
    assert row["best_epoch"] == np.argmax(mlp.validation_scores_) + 1
    data = _json_safe(curves.to_dict())
    assert data["curves"][0]["y"] == pytest.approx(list(mlp.loss_curve_))
    assert isinstance(curves.plot(), MplFigure)
    with pytest.raises(KeyError, match="train loss"):
        curves["nope"]


@pytest.mark.parametrize(
    ("name", "higher"),
    [
        ("loss", False), ("val_loss", False), ("binary_logloss", False), ("merror", False),
        ("rmse", False), ("error@0.7", False), ("mean_absolute_percentage_error", False),
        ("MultiClass", False), ("sparse_categorical_crossentropy", False),
        ("auc", True), ("aucpr", True), ("ndcg@5", True), ("accuracy", True), ("acc", True),
        ("Accuracy", True), ("f1", True), ("r2", True), ("neg_log_loss", True),
        ("average_precision", True), ("map@3", True),
        ("lr", None), ("lr-Adam", None), ("learning_rate", None), ("something", None),
    ],
)  # fmt: skip
def test_direction_from_metric_name(name, higher):
    assert _direction(name) is higher


# --- training logs ------------------------------------------------------------------------


def test_keras_history_json(tmp_path):
    history = {
        "loss": [0.9, 0.6, 0.5, 0.45],
        "accuracy": [0.6, 0.7, 0.75, 0.8],
        "val_loss": [1.0, 0.7, 0.65, 0.7],
        "val_accuracy": [0.55, 0.65, 0.7, 0.69],
        "learning_rate": [0.001, 0.001, 0.0005, 0.0005],
    }
    path = tmp_path / "history.json"
    path.write_text(json.dumps(history))
    curves = read_history(path)
    assert curves.kind == "history" and curves.x_label == "epoch"
    assert curves.names == (
        "train loss",
        "train accuracy",
        "validation loss",
        "validation accuracy",
        "learning_rate",
    )
    np.testing.assert_array_equal(curves["validation loss"].y, history["val_loss"])
    np.testing.assert_array_equal(curves["train loss"].x, [0, 1, 2, 3])  # Keras counts from 0
    assert [c.metric for c in curves.curves] == [
        "loss",
        "accuracy",
        "loss",
        "accuracy",
        "learning_rate",
    ]
    assert curves["learning_rate"].higher_is_better is None
    # the same, saved with its params under "history"; lists may differ in length
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"history": {"loss": [1, 0.5, None, 0.2], "val_loss": [2]},
                                   "params": {"epochs": 4}}))  # fmt: skip
    again = read_history(wrapped)
    np.testing.assert_array_equal(again["train loss"].x, [0, 1, 3])  # null left out
    np.testing.assert_array_equal(again["validation loss"].y, [2])


def test_keras_csv_logger(tmp_path):
    frame = pd.DataFrame(
        {
            "epoch": [0, 1, 2],
            "accuracy": [0.6, 0.7, 0.8],
            "loss": [0.9, 0.6, 0.4],
            "val_accuracy": [0.55, 0.66, 0.7],
            "val_loss": [1.0, 0.8, 0.7],
        }
    )
    path = tmp_path / "training.log"  # CSVLogger's usual file name
    frame.to_csv(path, index=False)
    curves = read_history(path)
    assert set(curves.names) == {"train accuracy", "train loss", "validation accuracy",
                                 "validation loss"}  # fmt: skip
    np.testing.assert_array_equal(curves["validation loss"].y, frame["val_loss"])
    np.testing.assert_array_equal(curves["validation loss"].x, frame["epoch"])
    # semicolon-separated CSV works too
    semi = tmp_path / "semi.csv"
    frame.to_csv(semi, index=False, sep=";")
    np.testing.assert_array_equal(read_history(semi)["train loss"].y, frame["loss"])


LIGHTNING = """epoch,step,train_loss_step,train_loss_epoch,val_loss,val_acc,lr-Adam
0,49,0.90,,,,0.001
0,99,0.70,,,,
0,99,,,0.85,0.60,
0,99,,0.80,,,
1,149,0.60,,,,0.0005
1,199,0.40,,,,
1,199,,,0.70,0.72,
1,199,,0.50,,,
2,249,0.35,,,,0.0005
2,299,0.25,,,,
2,299,,,0.72,0.74,
2,299,,0.30,,,
"""


def test_lightning_metrics_csv(tmp_path):
    folder = tmp_path / "lightning_logs" / "version_0"
    folder.mkdir(parents=True)
    (folder / "metrics.csv").write_text(LIGHTNING)
    curves = read_history(folder)  # the folder finds its metrics.csv
    assert curves.x_label == "epoch"
    assert curves.names == (
        "train loss (steps)",
        "train loss",
        "validation loss",
        "validation acc",
        "lr-Adam",
    )
    # train and validation rows alternate: grouped by epoch
    np.testing.assert_array_equal(curves["validation loss"].x, [0, 1, 2])
    np.testing.assert_allclose(curves["validation loss"].y, [0.85, 0.70, 0.72])
    np.testing.assert_allclose(curves["train loss"].y, [0.80, 0.50, 0.30])
    # per-step values are averaged within each epoch, and the note says so
    np.testing.assert_allclose(curves["train loss (steps)"].y, [0.80, 0.50, 0.30])
    assert any("train_loss_step" in note for note in curves.notes)
    assert {c.metric for c in curves.curves} == {"loss", "acc", "lr-Adam"}
    assert curves["validation acc"].higher_is_better is True


def test_json_records_and_lines(tmp_path):
    records = [
        {"epoch": 1, "loss": 0.5, "val_loss": 0.6},
        {"epoch": 2, "loss": 0.4, "val_loss": None},
        {"epoch": 3, "loss": 0.3, "val_loss": 0.5},
    ]
    path = tmp_path / "log.json"
    path.write_text(json.dumps(records))
    curves = read_history(path)
    np.testing.assert_array_equal(curves["validation loss"].x, [1, 3])
    np.testing.assert_array_equal(curves["train loss"].y, [0.5, 0.4, 0.3])
    lines = tmp_path / "log.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in records))
    np.testing.assert_array_equal(read_history(lines)["train loss"].y, [0.5, 0.4, 0.3])
    # a log without an index column counts rows
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps([{"loss": 1.0}, {"loss": 0.5}]))
    assert read_history(bare).x_label == "row"


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("missing.csv", None, "does not exist"),
        ("empty.csv", "", "is empty"),
        ("blank.json", "  \n", "is empty"),
        ("bad.json", "{not json", "not valid JSON"),
        ("scalar.json", "42", "not a dict of lists"),
        ("strings.json", '{"model": "mlp", "loss": ["a", "b"]}', "no list of numbers"),
        ("text.csv", "name,kind\nmlp,net\n", "no numeric column"),
        ("header.csv", "epoch,loss\n", "no rows"),
        ("events.bin", b"\x80\x81\xff\x00", "not a text file"),
    ],
)
def test_bad_history_files(tmp_path, name, content, match):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=match) as info:
        read_history(path)
    assert name in str(info.value)
    assert info.value.fix


def test_folder_without_metrics(tmp_path):
    with pytest.raises(DataError, match=r"metrics\.csv"):
        read_history(tmp_path)


# --- learning curve -----------------------------------------------------------------------


def test_learning_curve_matches_scikit_learn(cancer):
    X, y = cancer
    model = DecisionTreeClassifier(max_depth=3, random_state=0)
    sizes = (0.2, 0.6, 1.0)
    lc = learning_curve(model, X, y, train_sizes=sizes, cv=4, random_state=3)
    cv = StratifiedKFold(n_splits=4, shuffle=True, random_state=3)
    n, train, val = sk_learning_curve(model, X, y, train_sizes=sizes, cv=cv, scoring="accuracy",
                                      shuffle=True, random_state=3)  # fmt: skip
    np.testing.assert_array_equal(lc.train_sizes, n)
    np.testing.assert_array_equal(lc.train_scores, train)
    np.testing.assert_array_equal(lc.validation_scores, val)
    assert lc.metric == "accuracy" and lc.higher_is_better
    assert "StratifiedKFold" in lc.cv and lc.n_rows == lc.n_rows_total == len(y)
    # the interval: mean ± t(0.975, k-1) sd / sqrt(k) over the folds, on the logit scale
    from scipy import stats
    from scipy.special import expit, logit

    s = lc.stats("validation")
    mean = val.mean(axis=1)
    se = val.std(axis=1, ddof=1) / 2
    half = stats.t.ppf(0.975, 3) * se / (mean * (1 - mean))  # the delta method
    np.testing.assert_allclose(s["mean"], mean)
    np.testing.assert_allclose(s["ci_low"], expit(logit(mean) - half))
    np.testing.assert_allclose(s["ci_high"], expit(logit(mean) + half))
    assert (s["n_folds"] == 4).all()
    # near 1 with a wide spread, the plain interval would pass 1: this one stays inside
    near_one = lc.__class__(
        lc.train_sizes, lc.train_scores, np.array([[0.944, 1.0, 0.85, 1.0]] * 3),
        "accuracy", True, "x", "cv",
    )  # fmt: skip
    t = near_one.stats("validation")
    assert (t["ci_high"] < 1).all() and (t["ci_low"] < t["mean"]).all()


def test_learning_curve_regression_and_negated_metric():
    X, y = load_diabetes(return_X_y=True)
    lc = learning_curve(Ridge(), X, y, cv=3, metric="mean_squared_error", train_sizes=(0.5, 1.0))
    cv = KFold(n_splits=3, shuffle=True, random_state=0)
    _, train, val = sk_learning_curve(Ridge(), X, y, train_sizes=(0.5, 1.0), cv=cv,
                                      scoring="neg_mean_squared_error", shuffle=True,
                                      random_state=0)  # fmt: skip
    # scikit-learn's negated loss is shown as the loss
    assert lc.metric == "mean_squared_error" and lc.higher_is_better is False
    np.testing.assert_allclose(lc.validation_scores, -val)
    np.testing.assert_allclose(lc.train_scores, -train)
    assert "KFold" in lc.cv


def test_learning_curve_caps_rows_and_unwraps(cancer):
    X, y = cancer
    frame = pd.DataFrame(X).add_prefix("f")
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, y)
    model = SklearnModel(pipeline)
    lc = learning_curve(model, frame, pd.Series(y), cv=3, max_rows=200, train_sizes=(0.5, 1.0))
    assert lc.n_rows == 200 and lc.n_rows_total == len(y) and lc.sampled
    # the adapter is removed, the pipeline refitted whole
    assert lc.estimator == "Pipeline" and lc.unwrapped == ("SklearnModel",)
    assert any("200 of 569" in note for note in lc.notes)
    # the same seed draws the same rows: same scores
    again = learning_curve(model, frame, y, cv=3, max_rows=200, train_sizes=(0.5, 1.0))
    np.testing.assert_array_equal(lc.validation_scores, again.validation_scores)
    # afterfit's threshold wrapper refits with its decision rule fixed: kept whole
    tree = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
    kept = learning_curve(ThresholdedModel(tree, threshold=0.9), X, y, cv=3, train_sizes=(1.0,))
    assert kept.estimator == "ThresholdedModel" and kept.unwrapped == ()


def test_learning_curve_results(cancer):
    X, y = cancer
    lc = learning_curve(DecisionTreeClassifier(max_depth=2, random_state=0), X, y, cv=3,
                        train_sizes=(0.3, 1.0))  # fmt: skip
    frame = lc.frame()
    assert list(frame.columns) == ["train_size", "split", "mean", "sd", "ci_low", "ci_high",
                                   "n_folds"]  # fmt: skip
    assert len(frame) == 4 and len(lc.folds_frame()) == 12
    data = _json_safe(lc.to_dict())
    assert data["validation"]["folds"][1] == pytest.approx(list(lc.validation_scores[1]))
    assert data["interval"].startswith("mean ± t(")
    assert isinstance(lc.plot(), MplFigure)


def test_learning_curve_refuses_what_it_cannot_refit(cancer):
    X, y = cancer

    class Scorer:  # predicts, but cannot be refitted
        def predict(self, X):
            return np.zeros(len(X))

    with pytest.raises(ModelError, match="scikit-learn API") as info:
        learning_curve(Scorer(), X, y)
    assert info.value.fix
    with pytest.raises(InvalidInputError, match="not a scikit-learn scorer"):
        learning_curve(DecisionTreeClassifier(), X, y, metric="accuracyy")
    with pytest.raises(InvalidInputError, match="rows"):
        learning_curve(DecisionTreeClassifier(), X, y[:-1])


# --- the section --------------------------------------------------------------------------


def _overfit_curves(best_iteration=None) -> TrainingCurves:
    x = np.arange(1, 41)
    train = 1 / x
    val = np.r_[1 / x[:15], 1 / 15 + 0.02 * (x[15:] - 15)]
    return TrainingCurves(
        (
            Curve("train loss", x, train, "loss", "train", False),
            Curve("validation loss", x, val, "loss", "validation", False),
        ),
        "log.csv",
        "history",
        "epoch",
        best_iteration=best_iteration,
    )


def _blocks_ok(section: Section) -> None:
    ids = [b.id for b in section.blocks]
    assert len(ids) == len(set(ids))
    assert all(i.startswith("training-") for i in ids)
    _json_safe(section.data)
    for fig in section.figures():
        spec = _json_safe(fig.spec)
        assert spec["data"] and all(len(t["x"]) > 0 for t in spec["data"])
        assert isinstance(fig.png(), MplFigure)
    for table in section.tables():
        assert isinstance(table, Table) and len(table.frame) > 0


def test_section_from_every_source(mlp_pipeline, cancer):
    X, y = cancer
    lc = learning_curve(DecisionTreeClassifier(max_depth=2, random_state=0), X, y, cv=3,
                        train_sizes=(0.3, 1.0))  # fmt: skip
    section = training_section(training_curves(mlp_pipeline), _overfit_curves(), lc)
    assert section.id == "training" and section.title == "Training"
    _blocks_ok(section)
    assert [f.id for f in section.figures()] == [
        "training-model",
        "training-history",
        "training-learning-curve",
    ]
    assert set(section.data) == {"model", "history", "learning_curve"}
    # the stacked panels: one per metric, matching x axes
    spec = section.figures()[0].spec
    assert {t["yaxis"] for t in spec["data"]} == {"y", "y2"}
    assert spec["layout"]["xaxis2"]["matches"] == "x"
    # the learning curve draws a band and a mean line per split
    lc_spec = section.figures()[2].spec
    assert sum(t.get("fill") == "tonexty" for t in lc_spec["data"]) == 2
    assert any("overfits after epoch 15" in w.text for w in section.warnings)


def test_section_specs_are_valid_plotly(mlp_pipeline, cancer):
    go = pytest.importorskip("plotly.graph_objects")
    X, y = cancer
    lc = learning_curve(DecisionTreeClassifier(max_depth=2), X, y, cv=3, train_sizes=(0.5, 1.0))
    section = training_section(training_curves(mlp_pipeline), None, lc)
    for fig in section.figures():
        go.Figure(fig.spec)  # raises on an unknown property


def test_section_none_and_single_parts(cancer):
    assert training_section() is None
    only = training_section(history=_overfit_curves())
    assert [b.id for b in only.blocks] == [
        "training-history",
        "training-history-summary",
        "training-history-curves",
    ]
    assert isinstance(only.blocks[0], Figure)


def test_long_curves_are_reduced_for_the_page():
    n = 5_000
    x = np.arange(n, dtype=float)
    curves = TrainingCurves((Curve("train loss", x, np.exp(-x / 1000), "loss", "train", False),),
                            "MLP", "estimator", "iteration")  # fmt: skip
    trace = curves_spec(curves)["data"][0]
    assert len(trace["x"]) == MAX_POINTS
    assert trace["x"][0] == 0 and trace["x"][-1] == n - 1
    section = training_section(curves)
    assert "2,000 evenly spaced" in section.figures()[0].caption
    assert len(section.data["model"]["curves"][0]["x"]) == n  # results.json keeps all


def test_overfitting_finding_respects_early_stopping():
    assert training_section(history=_overfit_curves()).warnings
    assert not training_section(history=_overfit_curves(best_iteration=15)).warnings
    # a validation curve that only wobbles at its best is not overfitting
    x = np.arange(1, 41)
    flat = TrainingCurves(
        (
            Curve("train loss", x, 1 / x, "loss", "train", False),
            Curve("validation loss", x, 1 / x + 0.001 * (x % 2), "loss", "validation", False),
        ),
        "log.csv",
        "history",
        "epoch",
    )
    assert not training_section(history=flat).warnings


def test_learning_curve_gap_finding():
    sizes = np.array([50, 100, 200])
    train = np.full((3, 5), 1.0)
    val = np.array([[0.70, 0.72, 0.71, 0.69, 0.70], [0.75, 0.76, 0.74, 0.75, 0.76],
                    [0.80, 0.81, 0.79, 0.80, 0.82]])  # fmt: skip
    lc = LearningCurve(sizes, train, val, "accuracy", True, "Tree", "KFold", n_rows=250,
                       n_rows_total=250)  # fmt: skip
    findings = training_section(learning=lc).warnings
    assert [f.severity for f in findings] == ["warning", "info"]
    assert "large gap" in findings[0].text and "still improving" in findings[1].text
    close = LearningCurve(sizes, train, np.full((3, 5), 0.97), "accuracy", True, "Tree", "KFold")
    assert not training_section(learning=close).warnings
