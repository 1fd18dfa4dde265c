"""The deployment bundle: a model with everything needed to serve it safely, verified on load.

A bundle is a folder (and optionally a ``.zip`` of it)::

    manifest.json     format "afterfit-bundle", format_version 1, name, version, created,
                      afterfit and library versions, task, classes, the model file, the
                      export's parity, and the SHA-256 of every other file
    model.onnx        the model (or model.skops when ONNX is not possible; the manifest
                      says why)
    schema.json       the input schema learned from the training data
                      (:class:`~afterfit.bundle.schema.InputSchema`)
    decision.json     threshold, positive class, calibration map as plain numbers
                      (:mod:`afterfit.bundle.decision`)
    reference.json    reference statistics for drift (:mod:`afterfit.bundle.reference`)
    MODEL_CARD.md     intended use, data, metrics with intervals, decision, caveats
    report/           the report folder, when one was given
    .afterfit.json    afterfit's marker of the folders it writes (:mod:`afterfit.outdir`),
                      hashed like every other file

:func:`build_bundle` writes it (to a temporary folder renamed at the end: a bundle is
complete or absent); :func:`load_bundle` verifies every hash and refuses a bundle with a
missing, unlisted or altered file, naming it, then loads the model through
:func:`afterfit.models.load_model` (safe by default). Before any of that, it trusts no
byte of the bundle: links, special files, zip-slip entries and malformed or oversized
documents are refused by name (:mod:`afterfit.bundle.manifest`).

Every prediction goes through :func:`model_outputs`, which refuses rows whose output is
NaN or infinite (:class:`NonFiniteOutputError`, naming them) before any decision: a float32
graph given 1e39 never answers NaN with a decision.

Example
-------
>>> bundle = build_bundle(model, X_train, y_train, out="churn-1.0", name="churn",
...                       version="1.0", threshold=0.42)            # doctest: +SKIP
>>> bundle = load_bundle("churn-1.0")                               # doctest: +SKIP
>>> preds = bundle.predict_frame(bundle.schema.validate_records(records))  # doctest: +SKIP
>>> bundle.output_records(preds)                                    # doctest: +SKIP
[{'probabilities': {'no': 0.81, 'yes': 0.19}, 'decision': 'no'}, ...]
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from afterfit import jsonsafe
from afterfit.bundle.decision import Decision, apply_calibrator, split_model
from afterfit.bundle.manifest import (
    BUNDLE_FORMAT,
    BUNDLE_FORMAT_VERSION,
    MANIFEST,
    BundleError,
    BundleFiles,
    file_sha256,
    manifest_digest,
    open_bundle_files,
    read_manifest,
    verify_manifest,
)
from afterfit.bundle.schema import MAX_CATEGORIES, InputSchema
from afterfit.bundle.validation import MAX_ERRORS, SchemaValidationError
from afterfit.errors import InvalidInputError, ModelError
from afterfit.models.base import Model
from afterfit.outdir import MARKER, Staging, adopt, owned_files, prepare_out, read_marker

__all__ = [
    "Bundle",
    "BundleError",
    "BundlePredictions",
    "NonFiniteOutputError",
    "build_bundle",
    "check_finite_outputs",
    "load_bundle",
]

#: Rows of the training data used for the reference statistics and the training-data
#: evaluation (a seeded random subset of larger data).
REFERENCE_ROWS = 200_000
EVALUATION_ROWS = 50_000
#: Rows on which the bundle's predictions are checked against the model in memory.
PARITY_ROWS = 10_000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_LIBRARIES = (
    "numpy", "pandas", "scikit-learn", "scipy", "skops", "onnx", "onnxruntime", "skl2onnx",
    "onnxmltools", "xgboost", "lightgbm", "torch",
)  # fmt: skip


@dataclass(frozen=True)
class BundlePredictions:
    """What a bundle predicts for a batch of rows.

    Attributes
    ----------
    proba : ndarray (n, k) or None
        Class probabilities (calibrated when the bundle has a calibrator), in the order of
        ``Bundle.classes``; None for regression and for classifiers without probabilities.
    decision : ndarray (n,)
        The decided class (at the bundle's threshold), or the regression value.
    prediction : ndarray (n,) or None
        Regression: the predicted values; None for classifiers.
    scores : ndarray (n, k) or None
        Classifiers without probabilities: their decision scores.
    """

    proba: np.ndarray | None
    decision: np.ndarray
    prediction: np.ndarray | None = None
    scores: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.decision)


class Bundle:
    """A loaded, verified bundle (see :func:`load_bundle`).

    Attributes
    ----------
    path : pathlib.Path
        The bundle folder or zip.
    name, version : str
    task : {"binary", "multiclass", "regression"}
    classes : list or None
    positive_class : object or None
    threshold : float or None
    schema : InputSchema
    reference : dict
        ``reference.json`` (:class:`~afterfit.bundle.reference.ReferenceStats` as a dict).
    manifest : dict
    model : Model
        The model, loaded through :func:`afterfit.models.load_model`.
    decision : Decision
    model_card : str
        The text of ``MODEL_CARD.md``.
    """

    def __init__(
        self,
        *,
        path: Path,
        manifest: dict[str, Any],
        schema: InputSchema,
        decision: Decision,
        reference: dict[str, Any],
        model: Model,
        model_card: str = "",
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.name: str = str(manifest.get("name"))
        self.version: str = str(manifest.get("version"))
        self.task: str = decision.task
        self.classes: list[Any] | None = (
            None if decision.classes is None else list(decision.classes)
        )
        self.positive_class = decision.positive_class
        self.threshold: float | None = decision.threshold
        self.schema = schema
        self.decision = decision
        self.reference = reference
        self.model = model
        self.model_card = model_card
        self._class_keys = None if self.classes is None else [str(c) for c in self.classes]
        self._labels = None if self.classes is None else np.asarray(self.classes)

    def __repr__(self) -> str:
        return (
            f"Bundle({self.name!r}, version={self.version!r}, task={self.task!r}, "
            f"model={self.manifest.get('model_file')!r})"
        )

    # -- prediction ----------------------------------------------------------------------

    def predict_frame(self, X: pd.DataFrame, *, validate: bool = True) -> BundlePredictions:
        """Predict a batch of rows.

        Parameters
        ----------
        X : pandas.DataFrame
            Rows with the schema's fields.
        validate : bool, default True
            Check ``X`` against the schema first. Pass False for a frame that
            :meth:`InputSchema.validate_records` or ``validate_frame`` returned already.

        Returns
        -------
        BundlePredictions

        Raises
        ------
        SchemaValidationError
            ``X`` does not fit the schema (with ``validate=True``).
        NonFiniteOutputError
            Rows whose model output is NaN or infinite (named, with the fields beyond
            float32): no decision is given for them.
        """
        if validate:
            X = self.schema.validate_frame(X)
        return model_outputs(self.model, self.decision, X)

    def predict_records(self, records: Any) -> list[dict[str, Any]]:
        """Validate JSON records, predict, and return JSON-ready outputs (one per record)."""
        X = self.schema.validate_records(records)
        return self.output_records(self.predict_frame(X, validate=False))

    def output_records(self, preds: BundlePredictions) -> list[dict[str, Any]]:
        """JSON-ready outputs, one dict per row.

        Classification: ``{"probabilities": {class: p, ...}, "decision": label}`` (with
        ``"scores"`` instead of probabilities for models without them); regression:
        ``{"prediction": value}``. Class keys are the labels as text.
        """
        if self.task == "regression":
            assert preds.prediction is not None
            return [{"prediction": v} for v in _json_floats(preds.prediction)]
        keys = self._class_keys or []
        labels = [jsonsafe.scalar(v) for v in preds.decision.tolist()]
        field, matrix = ("probabilities", preds.proba)
        if matrix is None:
            field, matrix = ("scores", preds.scores)
        rows = matrix.tolist() if matrix is not None else [[] for _ in labels]
        return [
            {field: dict(zip(keys, _clean(row), strict=True)), "decision": label}
            for row, label in zip(rows, labels, strict=True)
        ]


def _json_floats(values: np.ndarray) -> list[float | None]:
    arr = np.asarray(values, dtype=np.float64)
    out = arr.tolist()
    if not np.isfinite(arr).all():
        out = [v if np.isfinite(v) else None for v in out]
    return out


def _clean(row: list[float]) -> list[float | None]:
    return [v if v == v and v not in (float("inf"), float("-inf")) else None for v in row]


def _decision_scores(model: Model, X: pd.DataFrame) -> np.ndarray:
    """The model's decision function as ``(n, k)`` columns (``[-d, d]`` for binary)."""
    estimator = getattr(model, "estimator", None)
    fn = getattr(estimator, "decision_function", None)
    if fn is None and not model.scores_are_probabilities:
        # A model whose scores are its decision function (an ONNX graph of a LinearSVC):
        # the same [-d, d] columns, checked against the original by the export's parity.
        return np.asarray(model.predict_scores(X), dtype=np.float64)
    if fn is None:
        raise ModelError(
            f"The bundle's decision reads the model's decision function, which the loaded "
            f"model (a {type(model).__name__}) does not have.",
            fix="rebuild the bundle with export='skops'.",
        )
    Xp = X if getattr(model, "feature_names", None) is not None else X.to_numpy()
    d = np.asarray(fn(Xp), dtype=np.float64)
    return np.column_stack([-d, d]) if d.ndim == 1 else d


class NonFiniteOutputError(SchemaValidationError):
    """Rows whose model output is NaN or infinite: they get no probability and no decision.

    A :class:`~afterfit.bundle.validation.SchemaValidationError` (a server answers it with 422
    as it does schema errors), with one error per row and suspect field::

        {"loc": [row, field or None], "msg": "...", "type": "not_finite_output"}

    The field is one whose value overflows float32 (the usual cause: an ONNX graph computes
    in float32, where 1e39 is infinite); None when no field is to blame.
    """

    def __init__(self, X: pd.DataFrame, rows: np.ndarray, *, row_offset: int = 0) -> None:
        from afterfit.predictions import describe_rows, overflowing_fields

        errors: list[dict[str, Any]] = []
        for row in rows[:MAX_ERRORS]:
            fields = overflowing_fields(X, int(row)) or [None]
            for name in fields:
                msg = "the model's output is not finite (NaN or infinite) for this row" + (
                    "; the value is beyond the float32 range the model computes in"
                    if name is not None
                    else ""
                )
                errors.append(
                    {"loc": [int(row) + row_offset, name], "msg": msg, "type": "not_finite_output"}
                )
        self.errors = errors[:MAX_ERRORS]
        self.n_errors = len(errors) + max(len(rows) - MAX_ERRORS, 0)
        self.rows = [int(r) + row_offset for r in rows]
        InvalidInputError.__init__(
            self,
            f"The model's output is NaN or infinite for {len(rows)} row(s): "
            f"{describe_rows(X, rows, offset=row_offset)}; such rows get no decision.",
            fix="check those rows' values (far outside the training range, they overflow the "
            "model's arithmetic), correct or drop them, and predict again.",
        )


def check_finite_outputs(
    preds: BundlePredictions, X: pd.DataFrame, *, row_offset: int = 0
) -> BundlePredictions:
    """``preds`` if every row's outputs (probabilities, scores, prediction) are finite.

    Every path that turns model outputs into decisions goes through here
    (:func:`model_outputs`: ``Bundle.predict_frame``, the server, ``afterfit predict``), so
    no NaN ever leaves paired with a decision.

    Raises
    ------
    NonFiniteOutputError
        Naming the rows (counted from ``row_offset``) and the fields beyond float32.
    """
    from afterfit.predictions import nonfinite_rows

    bad = nonfinite_rows(preds.proba, preds.scores, preds.prediction)
    if bad.size:
        raise NonFiniteOutputError(X, bad, row_offset=row_offset)
    return preds


def model_outputs(
    model: Model, decision: Decision, X: pd.DataFrame, *, row_offset: int = 0
) -> BundlePredictions:
    """Probabilities and decisions of ``model`` under ``decision`` (no validation).

    Raises :class:`NonFiniteOutputError` (rows counted from ``row_offset``) when a row's
    output is NaN or infinite, before any decision is made.
    """
    if decision.task == "regression":
        pred = np.asarray(model.predict_scores(X), dtype=np.float64).reshape(-1)
        out = BundlePredictions(proba=None, decision=pred, prediction=pred)
        return check_finite_outputs(out, X, row_offset=row_offset)
    cal = decision.calibrator
    proba: np.ndarray | None = None
    scores: np.ndarray | None = None
    k = len(decision.classes or ())
    if cal is not None:
        if cal["response"] == "decision_function":
            raw = _decision_scores(model, X)
            if k == 2:
                raw = raw[:, 1]
        else:
            raw = np.asarray(model.predict_scores(X), dtype=np.float64)
        proba = apply_calibrator(cal, raw, k)
    else:
        out = np.asarray(model.predict_scores(X), dtype=np.float64)
        if model.scores_are_probabilities:
            proba = out
        else:
            scores = out
    if decision.threshold_score == "decision_function" and scores is None:
        scores = _decision_scores(model, X)
    empty = np.empty(0, dtype=object)
    check_finite_outputs(
        BundlePredictions(proba=proba, decision=empty, scores=scores), X, row_offset=row_offset
    )
    return BundlePredictions(proba=proba, decision=decision.decide(proba, scores), scores=scores)


# --- loading ------------------------------------------------------------------------------


def _read_document(files: BundleFiles, name: str, parse: Any) -> Any:
    """A JSON document of the bundle, read strictly and checked by ``parse``; every error
    names the file."""
    where = f"The file {name} of the bundle '{files.path}'"
    fix = "restore the bundle from its source, or rebuild it with afterfit bundle."
    if not files.exists(name):
        raise BundleError(
            f"The bundle '{files.path}' has no {name}.",
            fix="rebuild the bundle with afterfit bundle.",
        )
    doc = files.read_json(name)
    try:
        return parse(doc)
    except BundleError:
        raise
    except InvalidInputError as exc:
        raise BundleError(f"{where} is not valid: {exc.problem}", fix=fix) from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
        # A shape the structural checks did not anticipate: still the file's fault.
        raise BundleError(
            f"{where} has an unexpected structure ({type(exc).__name__}: {exc}).", fix=fix
        ) from None


def _reference_doc(doc: Any) -> dict[str, Any]:
    """``reference.json``, checked by reading it (kept as the dict the server and monitor
    read)."""
    from afterfit.bundle.reference import ReferenceStats

    ReferenceStats.from_dict(doc)
    return doc


def load_bundle(
    path: str | os.PathLike[str],
    *,
    verify: bool = True,
    trust: bool = False,
    trusted_types: Sequence[str] = (),
) -> Bundle:
    """Load a bundle folder or ``.zip``, verifying every file first.

    Parameters
    ----------
    path : str or os.PathLike
        The folder written by :func:`build_bundle`, or its ``.zip``.
    verify : bool, default True
        Check the SHA-256 of every file against ``manifest.json`` (and the manifest's own
        digest). Leave it on: off, a damaged or altered bundle loads silently.
    trust : bool, default False
        Passed to :func:`afterfit.models.load_model`: load every type of a ``.skops``
        model (only for bundles from a source you trust).
    trusted_types : sequence of str
        Types a ``.skops`` model may load beyond skops' defaults.

    Returns
    -------
    Bundle

    Raises
    ------
    BundleError
        Missing, unlisted or altered files (named), a bad manifest, or a model whose
        classes differ from the bundle's. Whatever ``verify`` says: a member that is a
        link or a special file, a zip entry that leaves the bundle or is a link, a JSON
        document that is malformed (not UTF-8, NaN constants, nested too deep, too large,
        a field of the wrong type) or a model card that is not UTF-8, each named.
    UntrustedModelError
        A ``.skops`` model holding types that were not trusted.
    """
    from afterfit.models import load_model

    path = Path(path)
    files = open_bundle_files(path)
    try:
        manifest = read_manifest(files)
        if verify:
            verify_manifest(files, manifest)
        model_file = manifest["model_file"]  # text, inside the bundle (read_manifest)
        if (
            model_file not in manifest["files"]
            or not files.exists(model_file)
            or Path(model_file).suffix not in (".onnx", ".skops")
        ):
            raise BundleError(
                f"The manifest of '{path}' names the model file {model_file!r}, which is not "
                "one of its .onnx or .skops files.",
                fix="rebuild the bundle with afterfit bundle.",
            )
        schema = _read_document(files, "schema.json", InputSchema.from_dict)
        decision = _read_document(files, "decision.json", Decision.from_dict)
        reference = (
            _read_document(files, "reference.json", _reference_doc)
            if files.exists("reference.json")
            else {}
        )
        card = files.read_text("MODEL_CARD.md") if files.exists("MODEL_CARD.md") else ""
        if path.is_dir():
            # A plain file inside the folder: BundleFiles refused links and special files.
            model = load_model(path / model_file, trust=trust, trusted_types=trusted_types)
        else:
            # load_model reads files: the model alone is extracted (streamed), then removed.
            with tempfile.TemporaryDirectory(prefix="afterfit-bundle-") as tmp:
                target = Path(tmp) / Path(model_file).name
                files.copy_to(model_file, target)
                model = load_model(target, trust=trust, trusted_types=trusted_types)
    finally:
        files.close()
    if model.task != decision.task:
        raise BundleError(
            f"The model in '{path}' is a {model.task} model, but decision.json says "
            f"{decision.task}.",
            fix="rebuild the bundle with afterfit bundle.",
        )
    if decision.classes is not None:
        got = [str(c) for c in np.asarray(model.classes_).tolist()]
        if got != [str(c) for c in decision.classes]:
            raise BundleError(
                f"The model in '{path}' has the classes {got}, but decision.json lists "
                f"{list(decision.classes)}.",
                fix="rebuild the bundle with afterfit bundle.",
            )
    return Bundle(
        path=path,
        manifest=manifest,
        schema=schema,
        decision=decision,
        reference=reference,
        model=model,
        model_card=card,
    )


# --- building -----------------------------------------------------------------------------


def _check_name(what: str, value: Any) -> str:
    text = str(value)
    if not _NAME.match(text) or len(text) > 100:
        raise InvalidInputError(
            f"The bundle {what} {value!r} must be 1-100 letters, digits, '.', '_', '+' or "
            "'-', starting with a letter or digit.",
            fix=f"pass a {what} such as " + ("'churn'" if what == "name" else "'1.0'") + ".",
        )
    return text


def _versions() -> dict[str, str]:
    import platform

    out = {"python": platform.python_version()}
    for lib in _LIBRARIES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[lib] = metadata.version(lib)
    return out


def _sample(X: pd.DataFrame, n: int, seed: int = 0) -> np.ndarray:
    if len(X) <= n:
        return np.arange(len(X))
    return np.sort(np.random.default_rng(seed).choice(len(X), size=n, replace=False))


def _write_json(path: Path, doc: Any) -> None:
    path.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def _export(
    inner: Any, adapter: Model, X_sample: pd.DataFrame, folder: Path, export: str
) -> tuple[Path, dict[str, Any], tuple[str, ...]]:
    """Write the model into ``folder``; returns its path, the export record, trusted types."""
    from afterfit.models.onnx import OnnxModel

    if isinstance(adapter, OnnxModel):
        source = getattr(adapter, "source_path", None) or getattr(
            adapter.session, "_model_path", None
        )
        if not source or not Path(source).is_file():
            raise InvalidInputError(
                "The model is an ONNX model in memory; the bundle needs its file.",
                fix="pass the path of the .onnx file as the model.",
            )
        target = folder / "model.onnx"
        shutil.copyfile(source, target)
        return target, {"format": "onnx", "converter": "given", "reason": None}, ()
    from afterfit.exporters.core import export_model

    prefer = "skops" if export == "skops" else "onnx"
    result = export_model(inner, X_sample, path=folder / "model.onnx", prefer=prefer)
    record = result.to_dict()
    record["path"] = result.path.name
    return result.path, record, tuple(result.trusted_types)


def _copy_report(report: Path, target: Path) -> None:
    if not report.is_dir():
        raise InvalidInputError(
            f"The report '{report}' is not a folder.",
            fix="pass the folder written by afterfit run or afterfit evaluate (--out).",
        )
    marker = read_marker(report)
    if marker is None:
        # Links are copied as the files they point to: a bundle holds plain files only.
        shutil.copytree(report, target, symlinks=False)
        return
    # A folder afterfit marked: only the files it wrote there go into the bundle; what the
    # user keeps beside them (notes, data, links) is not afterfit's to ship.
    root = report.resolve()
    for name in sorted(owned_files(marker)):
        source = report / name
        if source.is_symlink() or not source.is_file() or root not in source.resolve().parents:
            continue
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target / name)


def _metrics(
    report: Path | None,
    bundled: Model,
    decision: Decision,
    schema: InputSchema,
    X: pd.DataFrame,
    y: Any,
    eval_data: tuple[Any, Any] | None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The model card's metrics: the report's, else the bundle's own predictions evaluated
    (on ``eval_data``, else on a sample of the training data, marked optimistic)."""
    from afterfit.bundle.model_card import metrics_from_evaluation, metrics_from_results

    if report is not None and (report / "results.json").is_file():
        rows, facts = metrics_from_results(report / "results.json")
        if rows:
            return rows, facts
    if eval_data is not None:
        from afterfit.data import as_frame

        Xe = schema.validate_frame(as_frame(eval_data[0]))
        ye = np.asarray(eval_data[1])
        facts: dict[str, Any] = {"source": "evaluation data", "n_rows": len(ye)}
    elif y is not None:
        rows = _sample(X, EVALUATION_ROWS, seed=1)
        Xe, ye = X.iloc[rows], np.asarray(y)[rows]
        facts = {"source": "the training data", "n_rows": len(rows), "optimistic": True}
    else:
        return [], {}
    from afterfit.evaluation.evaluate import evaluate_predictions

    out = model_outputs(bundled, decision, Xe)
    if decision.task == "regression":
        score, proba_flag = out.prediction, None
    elif out.proba is not None:
        score, proba_flag = out.proba, True
    else:
        score, proba_flag = out.scores, False
    ev = evaluate_predictions(
        ye, score, task=decision.task,
        classes=None if decision.classes is None else list(decision.classes),
        pos_label=decision.positive_class if decision.task == "binary" else None,
        scores_are_probabilities=proba_flag, threshold=decision.threshold,
        n_resamples=200, random_state=0,
    )  # fmt: skip
    return metrics_from_evaluation(ev), facts


def skops_note(reason: str, trusted: Sequence[str]) -> str:
    """What a bundle stored with skops says: why not ONNX, and what loading it needs."""
    from afterfit.models.skops_checks import VALIDATED_TYPES

    text = f"Stored with skops rather than ONNX: {reason}."
    # Types afterfit validates before loading (tree internals...) need no flag.
    trusted = [t for t in trusted if t not in VALIDATED_TYPES]
    if trusted:
        flags = " ".join(f"--trusted-type {t}" for t in trusted)
        text += (
            f" Loading it needs the types {', '.join(trusted)} trusted: afterfit predict and "
            f"serve need {flags} (load_bundle(..., trusted_types=[...]))."
        )
    return text


def _parity(original: BundlePredictions, bundled: BundlePredictions) -> dict[str, Any]:
    a = original.proba if original.proba is not None else original.prediction
    b = bundled.proba if bundled.proba is not None else bundled.prediction
    if a is None:
        a, b = original.scores, bundled.scores
    diff = float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) if a is not None and len(a) else 0.0
    if original.proba is None and original.scores is None:
        # Regression: the decision is the value itself, compared above with a tolerance;
        # an exact agreement of floats would say nothing (issue 18).
        n = len(a) if a is not None else 0
        return {"n_rows": n, "max_abs_diff": jsonsafe.number(diff), "decision_agreement": None}
    same = [
        x == y or str(x) == str(y)
        for x, y in zip(original.decision.tolist(), bundled.decision.tolist(), strict=True)
    ]
    return {
        "n_rows": len(same),
        "max_abs_diff": jsonsafe.number(diff),
        "decision_agreement": float(np.mean(same)) if same else 1.0,
    }


def build_bundle(
    model: Any,
    X_train: Any,
    y_train: Any = None,
    *,
    out: str | os.PathLike[str],
    name: str,
    version: str,
    threshold: float | None = None,
    positive_class: Any = None,
    calibrator: Any = None,
    report: str | os.PathLike[str] | None = None,
    export: str = "auto",
    zip: bool = False,
    X_parity: Any = None,
    eval_data: tuple[Any, Any] | None = None,
    intended_use: str | None = None,
    max_categories: int = MAX_CATEGORIES,
    unseen: str = "error",
    overwrite: bool = False,
    train_source: str | None = None,
) -> Bundle:
    """Build a deployment bundle from a trained model and its training data.

    Parameters
    ----------
    model : estimator, afterfit Model, ThresholdedModel, CalibratedModel, or a path
        The trained model. A :class:`~afterfit.thresholds.ThresholdedModel` or
        :class:`~afterfit.calibration.CalibratedModel` is unwrapped: the inner estimator is
        exported and the threshold or calibration map stored in ``decision.json``. A path
        to a ``.onnx`` file is bundled as it is.
    X_train : DataFrame
        The training features (target excluded): the schema and the reference statistics
        are learned from them.
    y_train : array-like, optional
        The training target: without a report or ``eval_data``, the model card's metrics
        are measured on (a sample of) the training data, labelled optimistic.
    out : path
        The bundle folder to write (must not exist, or be empty, unless ``overwrite``).
    name, version : str
        Letters, digits, ``.``, ``_``, ``+``, ``-``.
    threshold : float, optional
        Binary decision threshold (predict the positive class iff its probability >
        threshold); overrides a ThresholdedModel's.
    positive_class : optional
        Binary: the positive class (default: a wrapper's, else the second class).
    calibrator : CalibratedModel, optional
        A calibration map fitted on this model (its map is stored, not the object).
    report : path, optional
        A report folder (``afterfit run`` / ``evaluate`` output) copied into the bundle;
        its ``results.json`` gives the model card's metrics.
    export : {"auto", "onnx", "skops"}
        ``"auto"``/``"onnx"``: ONNX with a parity check, skops when that is not possible
        (the manifest says why); ``"skops"``: skops. A decision that reads the model's
        decision function needs skops.
    zip : bool, default False
        Also write ``<out>.zip`` holding the same files.
    X_parity : DataFrame, optional
        Rows for the export's parity check (default: the training rows, sampled).
    eval_data : (X, y), optional
        Held-out data for the model card's metrics, when no report is given.
    intended_use : str, optional
        A paragraph for the model card.
    max_categories : int, default 100
        See :meth:`InputSchema.from_frame`.
    unseen : {"error", "allow"}
        Whether the schema rejects categories not seen in training.
    overwrite : bool, default False
        Replace an existing bundle at ``out`` (and ``<out>.zip``, when it is a bundle zip).
        A folder holding files afterfit did not write is refused, naming them, even then:
        a bundle holds its own files alone, and afterfit never deletes anyone else's.
    train_source : str, optional
        Where the training data came from (for the model card).

    Returns
    -------
    Bundle
        The bundle, loaded back from ``out`` and verified.

    Raises
    ------
    InvalidInputError
        Bad arguments, an existing ``out``, training data the schema cannot describe.
    ModelError
        A model that cannot be used or exported.
    """
    from afterfit.bundle.model_card import model_card
    from afterfit.data import as_frame, check_features
    from afterfit.models import as_model, load_model

    name = _check_name("name", name)
    version = _check_name("version", version)
    if export not in ("auto", "onnx", "skops"):
        raise InvalidInputError(
            f"export must be 'auto', 'onnx' or 'skops'; got {export!r}.",
            fix="pass export='auto' (ONNX when it matches the model, else skops).",
        )
    out = Path(out)
    if out.suffix.lower() == ".zip":
        raise InvalidInputError(
            f"out={str(out)!r} ends in .zip; out is the bundle folder.",
            fix=f"pass out={str(out.with_suffix(''))!r} and zip=True.",
        )
    # A bundle holds its own files alone: an existing one is replaced only with overwrite,
    # and a folder holding anything else is refused by name (afterfit never deletes it).
    if overwrite:
        _adopt_unmarked_bundle(out)
    prepare_out(out, command="bundle", overwrite=overwrite, exclusive=True)
    if zip:
        _check_zip_target(out.with_name(out.name + ".zip"), overwrite)
    report_path = None if report is None else Path(report)
    if report_path is not None and not report_path.is_dir():
        raise InvalidInputError(
            f"The report '{report_path}' is not a folder.",
            fix="pass the folder written by afterfit run or afterfit evaluate (--out).",
        )
    if isinstance(model, str | os.PathLike):
        model = load_model(model)
    inner, decision = split_model(
        model, threshold=threshold, positive_class=positive_class, calibrator=calibrator
    )
    adapter = as_model(inner)
    # A model without probabilities exports its decision function itself (the ONNX graph
    # of a LinearSVC gives its scores); one with probabilities exports those only.
    needs_skops = decision.needs_decision_function and adapter.scores_are_probabilities
    if export == "onnx" and needs_skops:
        raise InvalidInputError(
            "The bundle's decision reads the model's decision function (its threshold or "
            "calibrator was fitted on it), which an ONNX graph does not give.",
            fix="pass export='auto' or 'skops'.",
        )
    X = check_features(as_frame(X_train), adapter)
    X = X.set_axis([str(c) for c in X.columns], axis=1)
    if len(X) == 0:
        raise InvalidInputError(
            "X_train has no rows.", fix="pass the training features the model was fitted on."
        )
    if y_train is not None and len(np.asarray(y_train)) != len(X):
        raise InvalidInputError(
            f"X_train has {len(X)} rows but y_train has {len(np.asarray(y_train))}.",
            fix="pass the target of the same rows.",
        )
    # The schema lists the columns the model reads; the others (an identifier, a date a
    # ColumnTransformer drops) are "ignored": accepted in requests, dropped, not required.
    from afterfit.models.used_columns import used_columns

    used = used_columns(inner, list(X.columns))
    ignored = [c for c in X.columns if c not in set(used)]
    schema = InputSchema.from_frame(
        X, max_categories=max_categories, unseen=unseen, ignored=ignored
    )
    X_model = X  # every column, as the model in memory takes them
    X = X[used]
    X = schema.validate_frame(X, unseen="allow") if _finite_ok(X) else X
    if X_parity is not None:
        X_sample = check_features(as_frame(X_parity), adapter)
    else:
        X_sample = X_model if ignored else X

    created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    stage = Staging(out, command="bundle", exclusive=True)
    tmp = stage.path
    try:
        prefer = "skops" if (export == "skops" or needs_skops) else export
        model_path, export_record, trusted = _export(inner, adapter, X_sample, tmp, prefer)
        if needs_skops and export == "auto":
            export_record["reason"] = export_record.get("reason") or (
                "the decision reads the model's decision function, which an ONNX graph "
                "does not give"
            )
        bundled_model = load_model(model_path, trusted_types=list(trusted))
        # The bundle's own predictions (exported model + decision.json) against the model
        # in memory, on real rows.
        rows = X_sample.iloc[_sample(X_sample, PARITY_ROWS)]
        parity = _parity(
            model_outputs(adapter, decision, rows), model_outputs(bundled_model, decision, rows)
        )
        ref_rows = X.iloc[_sample(X, REFERENCE_ROWS)]
        ref_out = model_outputs(bundled_model, decision, ref_rows)
        reference = _reference(ref_rows, ref_out, schema, decision)
        _write_json(tmp / "schema.json", schema.to_dict())
        _write_json(tmp / "decision.json", decision.to_dict())
        _write_json(tmp / "reference.json", reference)
        if report_path is not None:
            _copy_report(report_path, tmp / "report")
        metrics, facts = _metrics(
            report_path, bundled_model, decision, schema, X, y_train, eval_data
        )
        fmt = "onnx" if model_path.suffix == ".onnx" else "skops"
        note = None
        if export_record.get("reason"):
            note = skops_note(export_record["reason"], trusted)
        agree = parity["decision_agreement"]
        note = (note + " " if note else "") + (
            f"The bundle's predictions match the model in memory on {parity['n_rows']:,} rows: "
            f"largest difference {parity['max_abs_diff']:.3g}"
            + ("." if agree is None else f", decisions agree on {agree:.2%}.")
        )
        card = model_card(
            name=name, version=version, created=created, task=decision.task,
            model_type=type(inner).__name__, model_file=model_path.name, model_format=fmt,
            export_note=note, schema=schema, decision=decision, n_train_rows=len(X),
            train_source=train_source, metrics=metrics, metrics_facts=facts,
            intended_use=intended_use,
        )  # fmt: skip
        (tmp / "MODEL_CARD.md").write_text(card, encoding="utf-8")
        # The folder's afterfit marker is final before hashing: the manifest covers it.
        stage.seal(extra=[MANIFEST])
        files = {
            p.relative_to(tmp).as_posix(): file_sha256(p)
            for p in sorted(tmp.rglob("*"))
            if p.is_file()
        }
        manifest: dict[str, Any] = {
            "format": BUNDLE_FORMAT,
            "format_version": BUNDLE_FORMAT_VERSION,
            "name": name,
            "version": version,
            "created": created,
            "afterfit_version": _afterfit_version(),
            "libraries": _versions(),
            "task": decision.task,
            "classes": None
            if decision.classes is None
            else [jsonsafe.scalar(c) for c in decision.classes],
            "positive_class": jsonsafe.scalar(decision.positive_class),
            "threshold": decision.threshold,
            "model_file": model_path.name,
            "model_format": fmt,
            "model_type": f"{type(inner).__module__}.{type(inner).__qualname__}",
            "trusted_types": list(trusted),
            "export": export_record,
            "bundle_parity": parity,
            "n_train_rows": len(X),
            "n_features": len(schema.fields),
            "files": files,
        }
        manifest["manifest_sha256"] = manifest_digest(manifest)
        _write_json(tmp / MANIFEST, manifest)
        stage.publish()
    except BaseException:
        stage.discard()
        raise
    if zip:
        write_zip(out, out.with_name(out.name + ".zip"))
    return load_bundle(out, trusted_types=trusted)


def _finite_ok(X: pd.DataFrame) -> bool:
    """Whether the training frame holds no infinities (the schema would reject them)."""
    num = X.select_dtypes(include="number")
    return (
        bool(np.isfinite(num.to_numpy(dtype=np.float64, na_value=0.0)).all()) if num.size else True
    )


def _afterfit_version() -> str:
    from afterfit._version import __version__

    return __version__


def _reference(
    X: pd.DataFrame, outputs: BundlePredictions, schema: InputSchema, decision: Decision
) -> dict[str, Any]:
    from afterfit.bundle.reference import ReferenceStats

    if outputs.proba is not None:
        scores = outputs.proba
    elif outputs.prediction is not None:
        scores = outputs.prediction
    else:
        scores = outputs.scores
    classes = None if decision.classes is None else list(decision.classes)
    ref = ReferenceStats.from_frame(X, scores=scores, schema=schema, classes=classes)
    return ref.to_dict()


def _adopt_unmarked_bundle(out: Path) -> None:
    """Mark a bundle built before afterfit marked its folders as afterfit's, so that
    ``overwrite`` can replace it: only when its verified manifest lists and hashes every
    file in the folder, so nothing in it is anyone else's."""
    if not out.is_dir() or out.is_symlink() or os.path.lexists(out / MARKER):
        return
    try:
        files = open_bundle_files(out)
        try:
            manifest = read_manifest(files)
            verify_manifest(files, manifest)
        finally:
            files.close()
    except Exception:
        return  # not a whole bundle: the folder rule decides (and names its files)
    adopt(out, command="bundle", files=[*manifest["files"], MANIFEST])


def _check_zip_target(target: Path, overwrite: bool) -> None:
    """Refuse to replace a ``<out>.zip`` unless ``overwrite`` and it is a bundle zip."""
    if not os.path.lexists(target):
        return
    if not overwrite:
        raise InvalidInputError(
            f"The zip '{target}' exists already.",
            fix="choose a new --out folder (a new version), or pass --overwrite "
            "(overwrite=True) to replace that zip (only a bundle zip afterfit wrote is "
            "replaced).",
        )
    try:
        if target.is_symlink() or not target.is_file():
            raise BundleError(f"'{target}' is not a regular file.")
        files = open_bundle_files(target)
        try:
            read_manifest(files)
        finally:
            files.close()
    except Exception as exc:
        raise InvalidInputError(
            f"The file '{target}' is not a bundle zip afterfit wrote ({exc}), so --overwrite "
            "does not replace it: afterfit never replaces a file it did not write.",
            fix="move that file elsewhere, or choose another --out folder.",
        ) from exc


def write_zip(folder: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Write a bundle folder as a zip (its files under one top-level folder), atomically."""
    from afterfit.io import atomic_write

    folder = Path(folder)
    top = folder.name

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for p in sorted(folder.rglob("*")):
                if p.is_file():
                    zf.write(p, f"{top}/{p.relative_to(folder).as_posix()}")

    return atomic_write(Path(target), write)
