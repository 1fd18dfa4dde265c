"""The deployment bundle: build, verify (tampering refused), load, predict."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_iris, make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import LinearSVC
from typer.testing import CliRunner

from afterfit.bundle.core import Bundle, BundleError, build_bundle, load_bundle
from afterfit.bundle.decision import apply_calibrator, calibrator_params
from afterfit.bundle.manifest import manifest_digest
from afterfit.calibration import calibrate
from afterfit.cli import app
from afterfit.errors import InvalidInputError, ModelError
from afterfit.thresholds import ThresholdedModel

runner = CliRunner()


def make_data(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    X, y = make_classification(n, 5, n_informative=3, random_state=seed)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    frame["plan"] = np.random.default_rng(seed).choice(["basic", "pro", "team"], n)
    return frame, y


def pipeline(X: pd.DataFrame, y: np.ndarray):
    ct = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["plan"]), remainder=StandardScaler()
    )
    return make_pipeline(ct, LogisticRegression(max_iter=1000)).fit(X, y)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return make_data()


@pytest.fixture(scope="module")
def model(data):
    return pipeline(*data)


@pytest.fixture(scope="module")
def onnx_bundle(tmp_path_factory, data, model) -> Bundle:
    X, y = data
    out = tmp_path_factory.mktemp("b") / "churn-1.0"
    return build_bundle(model, X, y, out=out, name="churn", version="1.0", threshold=0.3, zip=True)


def test_onnx_round_trip(onnx_bundle: Bundle, data, model) -> None:
    X, _ = data
    b = load_bundle(onnx_bundle.path)
    assert b.manifest["model_file"] == "model.onnx" and b.manifest["model_format"] == "onnx"
    assert (b.name, b.version, b.task, b.classes) == ("churn", "1.0", "binary", [0, 1])
    assert b.threshold == 0.3 and b.positive_class == 1
    preds = b.predict_frame(X)
    expected = model.predict_proba(X)
    assert np.max(np.abs(preds.proba - expected)) <= 1e-5
    # Decisions follow the bundle's threshold, not the model's 0.5.
    flagged = preds.proba[:, 1] > 0.3
    assert np.array_equal(preds.decision, np.where(flagged, 1, 0))
    assert (preds.decision != model.predict(X)).any()
    assert b.manifest["bundle_parity"]["max_abs_diff"] <= 1e-5
    expected_files = {
        "model.onnx",
        "schema.json",
        "decision.json",
        "reference.json",
        "MODEL_CARD.md",
        ".afterfit.json",  # afterfit's marker of the folders it writes, hashed too
    }
    assert set(b.manifest["files"]) == expected_files
    assert b.manifest["format"] == "afterfit-bundle" and b.manifest["format_version"] == 1
    assert "scikit-learn" in b.manifest["libraries"]
    assert [f.name for f in b.schema.fields] == list(X.columns)
    assert {f["name"] for f in b.reference["features"]} == set(X.columns)
    assert "0.3" in b.model_card and "optimistic" in b.model_card


def test_zip_loads_the_same(onnx_bundle: Bundle, data) -> None:
    X, _ = data
    zipped = onnx_bundle.path.with_name("churn-1.0.zip")
    b = load_bundle(zipped)
    assert np.array_equal(b.predict_frame(X).proba, onnx_bundle.predict_frame(X).proba)


def test_output_records(onnx_bundle: Bundle, data) -> None:
    X, _ = data
    records = X.head(3).to_dict("records")
    out = onnx_bundle.predict_records(records)
    assert len(out) == 3 and set(out[0]) == {"probabilities", "decision"}
    assert set(out[0]["probabilities"]) == {"0", "1"}
    assert abs(sum(out[0]["probabilities"].values()) - 1) < 1e-6
    json.dumps(out)  # JSON-ready
    preds = onnx_bundle.predict_frame(X.head(3))
    assert [r["decision"] for r in out] == preds.decision.tolist()


def test_skops_round_trip_is_exact(tmp_path: Path, data, model) -> None:
    X, y = data
    b = build_bundle(model, X, y, out=tmp_path / "m-2", name="m", version="2", export="skops")
    assert b.manifest["model_file"] == "model.skops"
    assert np.max(np.abs(b.predict_frame(X).proba - model.predict_proba(X))) <= 1e-12
    assert np.array_equal(b.predict_frame(X).decision, model.predict(X))


# --- tampering --------------------------------------------------------------------------------


@pytest.fixture()
def copy(onnx_bundle: Bundle, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(onnx_bundle.path, target)
    return target


@pytest.mark.parametrize(
    "name", ["model.onnx", "schema.json", "decision.json", "reference.json", "MODEL_CARD.md"]
)
def test_one_changed_byte_is_refused(copy: Path, name: str) -> None:
    raw = bytearray((copy / name).read_bytes())
    raw[len(raw) // 2] ^= 0x01
    (copy / name).write_bytes(bytes(raw))
    with pytest.raises(BundleError, match=f"'{name}'") as info:
        load_bundle(copy)
    assert isinstance(info.value, InvalidInputError) and "altered" in str(info.value)


def test_missing_and_unlisted_files_are_refused(copy: Path, tmp_path: Path) -> None:
    (copy / "decision.json").unlink()
    with pytest.raises(BundleError, match=r"missing the file 'decision\.json'"):
        load_bundle(copy)
    other = tmp_path / "other"
    shutil.copytree(copy.parent / "copy", other)
    shutil.copy(copy / "schema.json", other / "decision.json")
    with pytest.raises(BundleError, match=r"decision\.json"):
        load_bundle(other)


def test_unlisted_file_is_refused(copy: Path) -> None:
    (copy / "extra.py").write_text("print('hi')")
    with pytest.raises(BundleError, match=r"'extra\.py'.*does not\s+list"):
        load_bundle(copy)


def test_edited_manifest_is_refused(copy: Path) -> None:
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["threshold"] = 0.9
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"manifest\.json"):
        load_bundle(copy)


def test_manifest_listing_a_new_hash_is_still_checked(copy: Path) -> None:
    # Someone swaps the schema and updates its hash *and* the manifest digest: the hashes
    # then agree, which is why the manifest documents that it is no signature. A manifest
    # pointing outside the bundle is refused whatever its digest.
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["files"]["../escape.json"] = "0" * 64
    manifest["manifest_sha256"] = manifest_digest(manifest)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="leaves the bundle"):
        load_bundle(copy)


def test_verify_false_skips_hashes(copy: Path) -> None:
    (copy / "MODEL_CARD.md").write_text("edited")
    with pytest.raises(BundleError):
        load_bundle(copy)
    assert load_bundle(copy, verify=False).model_card == "edited"


def test_tampered_zip_is_refused(onnx_bundle: Bundle, tmp_path: Path) -> None:
    src = onnx_bundle.path.with_name("churn-1.0.zip")
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(bad, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.endswith("schema.json"):
                data = data.replace(b'"nullable": false', b'"nullable": true', 1)
            zout.writestr(item, data)
    with pytest.raises(BundleError, match=r"schema\.json"):
        load_bundle(bad)


def test_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match=r"no manifest\.json"):
        load_bundle(tmp_path / "empty")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(BundleError, match="neither a folder nor a zip"):
        load_bundle(tmp_path / "file.txt")


# --- decisions: thresholds and calibrators unwrapped -------------------------------------------


def test_thresholded_model_is_unwrapped(tmp_path: Path, data, model) -> None:
    X, y = data
    wrapped = ThresholdedModel(model, threshold=0.7)
    b = build_bundle(wrapped, X, y, out=tmp_path / "t-1", name="t", version="1")
    assert b.manifest["model_format"] == "onnx" and b.threshold == 0.7
    assert np.array_equal(b.predict_frame(X).decision, wrapped.predict(X))


@pytest.mark.filterwarnings("ignore:Isotonic calibration on")
@pytest.mark.parametrize("method", ["sigmoid", "isotonic", "temperature"])
def test_calibrated_model_matches_bit_for_bit_params(method: str) -> None:
    X, y = make_data(900, seed=1)
    est = GaussianNB().fit(X.drop(columns="plan")[:300], y[:300])
    Xn = X.drop(columns="plan")
    cal = calibrate(est, Xn[300:600], y[300:600], method=method)
    params = calibrator_params(cal)
    json.dumps(params)  # plain numbers
    raw = est.predict_proba(Xn[600:])
    assert np.array_equal(apply_calibrator(params, raw, 2), cal.predict_proba(Xn[600:]))


def test_calibrated_multiclass_decision_function(tmp_path: Path) -> None:
    X, y = load_iris(return_X_y=True, as_frame=True)
    est = LogisticRegression(max_iter=1000).fit(X[::2], y[::2])
    cal = calibrate(est, X[1::2], y[1::2], method="sigmoid")
    assert cal.response_method_ == "decision_function"
    b = build_bundle(cal, X, y, out=tmp_path / "iris-1", name="iris", version="1")
    # The map reads the decision function, which ONNX does not give: skops, and it says so.
    assert b.manifest["model_format"] == "skops"
    assert "decision function" in b.manifest["export"]["reason"]
    preds = b.predict_frame(X)
    assert np.max(np.abs(preds.proba - cal.predict_proba(X))) <= 1e-12
    assert np.array_equal(preds.decision, cal.predict(X))
    with pytest.raises(InvalidInputError, match="decision function"):
        build_bundle(cal, X, y, out=tmp_path / "iris-2", name="i", version="2", export="onnx")


@pytest.mark.filterwarnings("ignore:Isotonic calibration on")
def test_calibrator_given_separately_onnx(tmp_path: Path) -> None:
    X, y = make_data(900, seed=2)
    est = RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0)
    est = make_pipeline(
        make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["plan"]),
                                remainder="passthrough"),
        est,
    ).fit(X[:300], y[:300])  # fmt: skip
    cal = calibrate(est, X[300:600], y[300:600], method="isotonic")
    nested = ThresholdedModel(cal, threshold=0.4)
    b = build_bundle(nested, X[:600], y[:600], out=tmp_path / "rf-1", name="rf", version="1")
    assert b.manifest["model_format"] == "onnx" and b.decision.calibrator["method"] == "isotonic"
    preds = b.predict_frame(X[600:])
    assert np.max(np.abs(preds.proba - cal.predict_proba(X[600:]))) <= 1e-5
    agree = np.mean(preds.decision == nested.predict(X[600:]))
    assert agree >= 0.99  # float32 ONNX scores may flip a row sitting on the threshold


def test_decision_function_threshold_exports_scores(tmp_path: Path) -> None:
    X, y = make_data(400, seed=3)
    Xn = X.drop(columns="plan")
    svc = ThresholdedModel(LinearSVC().fit(Xn, y), threshold=0.25)
    b = build_bundle(svc, Xn, y, out=tmp_path / "svc-1", name="svc", version="1")
    assert b.decision.threshold_score == "decision_function"
    # Issue 18: a LinearSVC's ONNX graph gives its decision scores, so no skops is needed.
    assert b.manifest["model_format"] == "onnx"
    preds = b.predict_frame(Xn)
    assert preds.proba is None and preds.scores is not None
    assert np.array_equal(preds.decision, svc.predict(Xn))
    assert set(b.output_records(preds)[0]) == {"scores", "decision"}


def test_regression_and_multiclass(tmp_path: Path) -> None:
    X, y = load_iris(return_X_y=True, as_frame=True)
    reg = Ridge().fit(X.iloc[:, :3], X.iloc[:, 3])
    b = build_bundle(reg, X.iloc[:, :3], X.iloc[:, 3], out=tmp_path / "r-1", name="r",
                     version="1")  # fmt: skip
    preds = b.predict_frame(X.iloc[:, :3])
    assert np.max(np.abs(preds.prediction - reg.predict(X.iloc[:, :3]))) <= 1e-4
    assert set(b.output_records(preds)[0]) == {"prediction"}
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    m = build_bundle(clf, X, y, out=tmp_path / "c-1", name="c", version="1")
    assert m.task == "multiclass" and np.array_equal(m.predict_frame(X).decision, clf.predict(X))
    with pytest.raises(InvalidInputError, match="binary"):
        build_bundle(clf, X, y, out=tmp_path / "c-2", name="c", version="2", threshold=0.5)


def test_build_errors(tmp_path: Path, data, model, onnx_bundle: Bundle) -> None:
    X, y = data
    with pytest.raises(InvalidInputError, match="exists already"):
        build_bundle(model, X, y, out=onnx_bundle.path, name="churn", version="1.0")
    with pytest.raises(InvalidInputError, match="name"):
        build_bundle(model, X, y, out=tmp_path / "x", name="bad name", version="1")
    with pytest.raises(InvalidInputError, match="outside \\[0, 1\\]"):
        build_bundle(model, X, y, out=tmp_path / "x", name="x", version="1", threshold=1.5)
    with pytest.raises(ModelError, match="calibrator"):
        build_bundle(model, X, y, out=tmp_path / "x", name="x", version="1", calibrator=model)
    assert not (tmp_path / "x").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".x.tmp")]


def test_predict_frame_validates(onnx_bundle: Bundle, data) -> None:
    X, _ = data
    from afterfit.bundle.validation import SchemaValidationError

    with pytest.raises(SchemaValidationError):
        onnx_bundle.predict_frame(X.assign(plan="gold"))


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_bundle(tmp_path: Path, data, model) -> None:
    import skops.io as sio

    X, y = data
    sio.dump(model, tmp_path / "model.skops")
    X.assign(y=y).to_parquet(tmp_path / "train.parquet")
    doc = {"schema": "afterfit.threshold", "threshold": {"kind": "binary_threshold",
           "threshold": 0.35, "positive_label": "1"}}  # fmt: skip
    (tmp_path / "threshold.json").write_text(json.dumps(doc))
    args = ["bundle", "--model", tmp_path / "model.skops", "--data", tmp_path / "train.parquet",
            "--target", "y", "--threshold", tmp_path / "threshold.json",
            "--out", tmp_path / "churn-2.1", "--zip"]  # fmt: skip
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert "churn 2.1" in result.output
    b = load_bundle(tmp_path / "churn-2.1.zip")
    assert (b.name, b.version, b.threshold) == ("churn", "2.1", 0.35)
    # Again: the folder exists -> exit 2, no traceback.
    again = runner.invoke(app, [str(a) for a in args])
    assert again.exit_code == 2 and "exists already" in again.output
    assert "Traceback" not in again.output
    bad = [str(a) for a in args[:-3]] + ["--threshold", "half", "--out", str(tmp_path / "z-1")]
    result = runner.invoke(app, bad)
    assert result.exit_code == 2 and "neither a number nor" in result.output


def test_report_is_included_and_gives_the_metrics(tmp_path: Path, data, model) -> None:
    X, y = data
    report = tmp_path / "report"
    (report / "tables").mkdir(parents=True)
    doc = {
        "schema": "afterfit.results",
        "source": {"data": "valid.parquet"},
        "evaluation": {
            "n_rows": 1234,
            "metrics": [
                {"metric": "roc_auc", "class": None, "value": 0.8765, "ci_low": 0.85,
                 "ci_high": 0.9, "method": "delong"},
                {"metric": "recall", "class": "1", "value": 0.5, "ci_low": 0.4,
                 "ci_high": 0.6, "method": "wilson"},
            ],
        },
    }  # fmt: skip
    (report / "results.json").write_text(json.dumps(doc))
    (report / "tables" / "metrics.csv").write_text("metric,value\nroc_auc,0.8765\n")
    b = build_bundle(model, X, y, out=tmp_path / "r-1", name="r", version="1", report=report)
    assert {"report/results.json", "report/tables/metrics.csv"} <= set(b.manifest["files"])
    assert "0.8765" in b.model_card and "[0.85, 0.9]" in b.model_card
    assert "1,234 rows" in b.model_card and "optimistic" not in b.model_card
    (b.path / "report" / "tables" / "metrics.csv").write_text("changed")
    with pytest.raises(BundleError, match=r"report/tables/metrics\.csv"):
        load_bundle(b.path)


def test_cli_bundle_with_calibration(tmp_path: Path) -> None:
    import skops.io as sio

    X, y = make_data(900, seed=1)  # linearly separable enough for a logistic regression
    base = pipeline(X[:300], y[:300])
    cal = calibrate(base, X[300:600], y[300:600], method="temperature")
    assert 0.2 < cal.temperature_ < 5
    sio.dump(base, tmp_path / "base.skops")
    sio.dump(cal, tmp_path / "cal.skops")
    X[600:].assign(y=y[600:]).to_parquet(tmp_path / "train.parquet")
    args = ["bundle", "--model", tmp_path / "base.skops", "--data", tmp_path / "train.parquet",
            "--target", "y", "--calibration", tmp_path / "cal.skops", "--out",
            tmp_path / "cal-1", "-q"]  # fmt: skip
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    b = load_bundle(tmp_path / "cal-1")
    assert b.decision.calibrator["method"] == "temperature"
    assert b.manifest["model_format"] == "onnx"  # temperature reads probabilities
    got = b.predict_frame(X[600:]).proba
    assert np.max(np.abs(got - cal.predict_proba(X[600:]))) <= 1e-5
    # A plain model is not a calibrator.
    bad = [str(a) for a in args[:7]] + ["--calibration", str(tmp_path / "base.skops"),
                                        "--out", str(tmp_path / "cal-2")]  # fmt: skip
    result = runner.invoke(app, bad)
    assert result.exit_code == 2 and "not a calibrated model" in result.output
