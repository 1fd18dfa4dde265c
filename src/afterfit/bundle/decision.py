"""A bundle's decision rule as plain JSON: the threshold, the positive class and the
calibration map, so that serving needs no pickle and no afterfit wrapper class.

``decision.json``::

    format             "afterfit-decision"
    format_version     1
    task               "binary" | "multiclass" | "regression"
    classes            class labels in the order of the model's score columns (null for
                       regression)
    positive_class     binary: the class predicted when its score > threshold
    threshold          binary: the threshold (null: the class of highest score)
    threshold_score    what the threshold is compared with: "probability" (the positive
                       class's probability, calibrated when there is a calibrator) or
                       "decision_function" (the model's decision score for it)
    calibrator         null, or the map of :mod:`afterfit.calibration.calibrators` as numbers:
                       method ("sigmoid" | "isotonic" | "temperature"), response (the model
                       output it reads: "predict_proba", "decision_function",
                       "predict_scores"), response_is_proba, and per map
                       {"class", "slope", "intercept"} (sigmoid) or {"class", "x", "y"}
                       (isotonic knots), or "temperature"

:func:`split_model` takes a model that may be wrapped (afterfit's
:class:`~afterfit.thresholds.ThresholdedModel`, :class:`~afterfit.calibration.CalibratedModel`,
either inside the other) and returns the inner estimator (what gets exported) and the
:class:`Decision` that reproduces the wrapper's ``predict_proba`` and ``predict``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from afterfit import jsonsafe
from afterfit.calibration.calibrators import (
    clip_rounding,
    isotonic_map,
    log_probabilities,
    logit,
    probabilities_from_maps,
    sigmoid_map,
    temperature_map,
)
from afterfit.errors import InvalidInputError, ModelError

__all__ = ["DECISION_FORMAT", "Decision", "apply_calibrator", "calibrator_params", "split_model"]

DECISION_FORMAT = "afterfit-decision"
DECISION_FORMAT_VERSION = 1
RESPONSES = ("predict_proba", "decision_function", "predict_scores")


@dataclass(frozen=True)
class Decision:
    """How a bundle turns model outputs into probabilities and decisions.

    Attributes
    ----------
    task : {"binary", "multiclass", "regression"}
    classes : tuple or None
    positive_class : object or None
        Binary: the class predicted when its score exceeds ``threshold``.
    threshold : float or None
        Binary: the decision threshold; None decides by the highest score.
    threshold_score : {"probability", "decision_function"}
    calibrator : dict or None
        Plain parameters (see the module docstring).
    """

    task: str
    classes: tuple[Any, ...] | None = None
    positive_class: Any = None
    threshold: float | None = None
    threshold_score: str = "probability"
    calibrator: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.threshold is not None:
            if self.task != "binary":
                raise InvalidInputError(
                    f"A decision threshold applies to binary classifiers; this model's task "
                    f"is {self.task!r}.",
                    fix="leave the threshold out (multiclass models decide by the highest "
                    "probability).",
                )
            t = float(self.threshold)
            if not np.isfinite(t):
                raise InvalidInputError(
                    f"The decision threshold must be a finite number; got {self.threshold!r}.",
                    fix="pass the threshold chosen by afterfit threshold (threshold.json).",
                )
            if self.threshold_score == "probability" and not 0.0 <= t <= 1.0:
                raise InvalidInputError(
                    f"The threshold {t} is compared with a probability but is outside [0, 1].",
                    fix="pass a threshold between 0 and 1 (or a model that thresholds its "
                    "decision function).",
                )
        if self.threshold_score not in ("probability", "decision_function"):
            raise InvalidInputError(
                f"threshold_score must be 'probability' or 'decision_function'; got "
                f"{self.threshold_score!r}.",
                fix="write decision.json with afterfit bundle.",
            )

    @property
    def positive_index(self) -> int:
        """Binary: the column of the positive class."""
        classes = list(self.classes or ())
        if self.positive_class is None:
            return 1
        for i, c in enumerate(classes):
            if c == self.positive_class or str(c) == str(self.positive_class):
                return i
        raise InvalidInputError(
            f"The positive class {self.positive_class!r} is not one of the classes {classes}.",
            fix="pass one of the model's classes as the positive class.",
        )

    @property
    def needs_decision_function(self) -> bool:
        """Whether the model's raw decision function is needed (an ONNX graph gives
        probabilities, so such models are bundled with skops)."""
        if self.task == "regression":
            return False
        return self.threshold_score == "decision_function" or (
            self.calibrator is not None and self.calibrator["response"] == "decision_function"
        )

    def to_dict(self) -> dict[str, Any]:
        """``decision.json`` (JSON-safe)."""
        return {
            "format": DECISION_FORMAT,
            "format_version": DECISION_FORMAT_VERSION,
            "task": self.task,
            "classes": None if self.classes is None else [jsonsafe.scalar(c) for c in self.classes],
            "positive_class": jsonsafe.scalar(self.positive_class),
            "threshold": None if self.threshold is None else float(self.threshold),
            "threshold_score": self.threshold_score,
            "calibrator": self.calibrator,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Decision:
        """The decision written by :meth:`to_dict`."""
        if not isinstance(d, Mapping) or d.get("format") != DECISION_FORMAT:
            raise InvalidInputError(
                f"The document is not an afterfit decision (its 'format' is not "
                f"{DECISION_FORMAT!r}).",
                fix="pass the decision.json written by afterfit bundle.",
            )
        version = d.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise InvalidInputError(
                "decision.json's 'format_version' must be a positive integer; got "
                f"{jsonsafe.describe(version)}.",
                fix="rebuild the bundle with afterfit bundle.",
            )
        if version > DECISION_FORMAT_VERSION:
            raise InvalidInputError(
                f"decision.json has format_version {version!r}; this afterfit reads "
                f"version {DECISION_FORMAT_VERSION} and older.",
                fix="upgrade afterfit.",
            )
        what = "decision.json"
        d = dict(d)
        task = jsonsafe.field(d, "task", "text", what=what)
        if task not in ("binary", "multiclass", "regression"):
            raise InvalidInputError(
                f"decision.json has the task {task[:40]!r}; the tasks are binary, multiclass "
                "and regression.",
                fix="rebuild the bundle with afterfit bundle.",
            )
        classes = jsonsafe.field(d, "classes", "list", what=what, required=False, nullable=True)
        if task == "regression":
            classes = None
        elif classes is None or len(classes) < 2 or not all(jsonsafe.is_label(c) for c in classes):
            raise InvalidInputError(
                f"decision.json of a {task} model must list its classes (two or more labels: "
                "text, numbers or booleans).",
                fix="rebuild the bundle with afterfit bundle.",
            )
        elif (task == "binary") != (len(classes) == 2):
            raise InvalidInputError(
                f"decision.json says {task} but lists {len(classes)} classes.",
                fix="rebuild the bundle with afterfit bundle.",
            )
        positive = jsonsafe.field(d, "positive_class", "scalar", what=what, required=False)
        threshold = jsonsafe.field(
            d, "threshold", "number", what=what, required=False, nullable=True
        )
        threshold_score = jsonsafe.field(
            d, "threshold_score", "text", what=what, required=False, default="probability"
        )
        calibrator = jsonsafe.field(
            d, "calibrator", "object", what=what, required=False, nullable=True
        )
        if calibrator is not None:
            _check_calibrator(calibrator, n_classes=len(classes or ()))
        out = cls(
            task=task,
            classes=None if classes is None else tuple(classes),
            positive_class=positive,
            threshold=threshold,
            threshold_score=threshold_score,
            calibrator=calibrator,
        )
        if task == "binary":
            out.positive_index  # noqa: B018 - raises for a positive class not among the classes
        return out

    def decide(self, proba: np.ndarray | None, scores: np.ndarray | None) -> np.ndarray:
        """Labels from (calibrated) probabilities, or decision scores without them.

        Parameters
        ----------
        proba : ndarray (n, k) or None
        scores : ndarray (n, k) or None
            The model's decision scores (read when ``threshold_score`` is
            ``"decision_function"`` or when there are no probabilities).

        Returns
        -------
        ndarray of labels, in the type of ``classes``.
        """
        classes = np.asarray(self.classes)
        basis = proba if (proba is not None and self.threshold_score == "probability") else scores
        if basis is None:
            raise ModelError(
                "The bundle's decision needs the model's decision scores, which it did not give.",
                fix="rebuild the bundle (afterfit bundle) with this afterfit version.",
            )
        basis = np.asarray(basis)
        if basis.dtype.kind in "fc" and not np.isfinite(basis).all():
            # NaN > threshold is False and argmax of NaN is 0: either would decide silently.
            rows = np.flatnonzero(~np.isfinite(basis.reshape(len(basis), -1)).all(axis=1))
            raise ModelError(
                f"The model's output is NaN or infinite for {rows.size} row(s) (first: row "
                f"{int(rows[0])}); such rows get no decision.",
                fix="check those rows' values, correct or drop them, and predict again.",
            )
        if self.task == "binary" and self.threshold is not None:
            pos = self.positive_index
            # Decision scores come as two columns [-d, d]: each class's column is its score.
            score = basis[:, pos]
            return np.where(score > self.threshold, classes[pos], classes[1 - pos])
        return classes[np.argmax(basis, axis=1)]


def _numbers(values: Any) -> bool:
    return isinstance(values, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) for v in values
    )


def _check_calibrator(c: Any, n_classes: int | None = None) -> None:
    """Check a calibration map's parameters: the method, the response, and per map finite
    numbers of the right shape (one map for binary, one per class for multiclass)."""

    def finite(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool) and bool(np.isfinite(v))

    problem = None
    if not isinstance(c, Mapping) or c.get("method") not in ("sigmoid", "isotonic", "temperature"):
        problem = "its method is not sigmoid, isotonic or temperature"
    elif c.get("response") not in RESPONSES:
        problem = f"its response is not one of {', '.join(RESPONSES)}"
    elif "response_is_proba" in c and not isinstance(c["response_is_proba"], bool):
        problem = "response_is_proba is not true or false"
    elif c["method"] == "temperature":
        if not finite(c.get("temperature")) or c["temperature"] <= 0:
            problem = "its temperature is not a positive number"
    else:
        maps = c.get("maps")
        want = None if not n_classes else (1 if n_classes == 2 else n_classes)
        if not isinstance(maps, list) or not maps or (want is not None and len(maps) != want):
            problem = f"it needs {want or 'one or more'} map(s)"
        else:
            for m in maps:
                if not isinstance(m, Mapping):
                    problem = "a map is not an object"
                elif c["method"] == "sigmoid" and not (
                    finite(m.get("slope")) and finite(m.get("intercept"))
                ):
                    problem = "a sigmoid map lacks a finite slope and intercept"
                elif c["method"] == "isotonic" and not (
                    _numbers(m.get("x")) and _numbers(m.get("y")) and 0 < len(m["x"]) == len(m["y"])
                ):
                    problem = "an isotonic map lacks knots x and y: equal-length lists of numbers"
                elif c["method"] == "isotonic" and (
                    np.any(np.diff(np.asarray(m["x"], dtype=np.float64)) < 0)
                    or not all(0.0 <= v <= 1.0 for v in m["y"])
                ):
                    problem = "an isotonic map needs ascending knots x and probabilities y"
                if problem:
                    break
    if problem:
        raise InvalidInputError(
            f"The calibrator in decision.json is not a valid set of parameters: {problem}.",
            fix="rebuild the bundle with afterfit bundle.",
        )


def calibrator_params(calibrated: Any) -> dict[str, Any]:
    """The plain parameters of a fitted :class:`~afterfit.calibration.CalibratedModel`."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(calibrated, "calibration_fingerprint_")
    names = [jsonsafe.scalar(c) for c in calibrated.classes_]
    per_map = [names[1]] if len(names) == 2 else names
    out: dict[str, Any] = {
        "method": calibrated.method,
        "response": calibrated.response_method_,
        "response_is_proba": bool(calibrated.response_is_proba_),
        "n_calibration_rows": int(calibrated.n_calibration_rows_),
    }
    if calibrated.method == "sigmoid":
        out["maps"] = [
            {"class": c, "slope": float(a), "intercept": float(b)}
            for c, a, b in zip(per_map, calibrated.slope_, calibrated.intercept_, strict=True)
        ]
    elif calibrated.method == "isotonic":
        off = calibrated.isotonic_offsets_
        out["maps"] = [
            {
                "class": c,
                "x": [float(v) for v in calibrated.isotonic_x_[off[j] : off[j + 1]]],
                "y": [float(v) for v in calibrated.isotonic_y_[off[j] : off[j + 1]]],
            }
            for j, c in enumerate(per_map)
        ]
    else:
        out["temperature"] = float(calibrated.temperature_)
    return out


def apply_calibrator(params: Mapping[str, Any], raw: np.ndarray, n_classes: int) -> np.ndarray:
    """Calibrated probabilities from the model output the map reads.

    The same arithmetic as :meth:`afterfit.calibration.CalibratedModel.predict_proba`
    (the tests check they agree to the last bit), from plain numbers.

    Parameters
    ----------
    params : dict
        :func:`calibrator_params`.
    raw : ndarray
        The model's ``params["response"]`` output: ``(n, k)``, or ``(n,)`` for a binary
        decision function.
    n_classes : int

    Returns
    -------
    ndarray (n, n_classes)
    """
    raw = np.asarray(raw, dtype=np.float64)
    method = params["method"]
    is_proba = bool(params["response_is_proba"])
    K = n_classes
    if method == "temperature":
        proba_in = np.column_stack([1.0 - raw, raw]) if raw.ndim == 1 else raw
        proba = temperature_map(log_probabilities(proba_in), float(params["temperature"]))
    else:
        if K == 2:
            if is_proba:
                f = raw[:, 1] if raw.ndim == 2 else raw
                f = logit(f) if method == "sigmoid" else f
            elif raw.ndim == 1:
                f = raw
            else:
                f = raw[:, 0] if raw.shape[1] == 1 else raw[:, 1] - raw[:, 0]
            scores = f.reshape(-1, 1)
        else:
            scores = logit(raw) if (is_proba and method == "sigmoid") else raw
        cols = []
        for j, m in enumerate(params["maps"]):
            if method == "sigmoid":
                cols.append(sigmoid_map(scores[:, j], float(m["slope"]), float(m["intercept"])))
            else:
                x = np.asarray(m["x"], dtype=np.float64)
                y = np.asarray(m["y"], dtype=np.float64)
                cols.append(isotonic_map(scores[:, j], x, y))
        proba = probabilities_from_maps(cols, K)
    return clip_rounding(proba)


# --- unwrapping ---------------------------------------------------------------------------


def _is_thresholded(obj: Any) -> bool:
    from afterfit.thresholds import ThresholdedModel

    return isinstance(obj, ThresholdedModel)


def _is_calibrated(obj: Any) -> bool:
    from afterfit.calibration import CalibratedModel

    return isinstance(obj, CalibratedModel)


def split_model(
    model: Any,
    *,
    threshold: float | None = None,
    positive_class: Any = None,
    calibrator: Any = None,
) -> tuple[Any, Decision]:
    """Separate the estimator to export from its decision rule.

    Parameters
    ----------
    model : estimator, afterfit Model, ThresholdedModel or CalibratedModel
        A wrapper is unwrapped: its inner estimator is returned and its threshold or
        calibration map goes into the :class:`Decision`.
    threshold : float, optional
        Overrides a wrapper's threshold (binary models).
    positive_class : optional
        The positive class (default: a wrapper's, else the second class).
    calibrator : CalibratedModel or dict, optional
        A fitted calibrated model (of this same estimator) whose map is used, or its
        :func:`calibrator_params`.

    Returns
    -------
    estimator, Decision

    Raises
    ------
    ModelError
        Two calibration maps, or a calibrator fitted for other classes.
    """
    from afterfit.models import as_model
    from afterfit.models.sklearn import SklearnModel

    inner = model.estimator if isinstance(model, SklearnModel) else model
    wrapper_threshold: float | None = None
    wrapper_pos: Any = None
    threshold_method = "auto"
    cal_params: dict[str, Any] | None = None
    cal_classes: Any = None
    calibrated_inside_threshold = False
    for _ in range(8):  # wrappers nest a level or two; a loop guards against cycles
        if _is_thresholded(inner):
            wrapper_threshold = float(inner.threshold)
            wrapper_pos = inner.pos_label
            threshold_method = inner.response_method
            calibrated_inside_threshold = _is_calibrated(inner.estimator)
            inner = inner.estimator
        elif _is_calibrated(inner):
            if cal_params is not None:
                raise ModelError(
                    "The model holds two calibration maps, one inside the other.",
                    fix="calibrate the uncalibrated model once.",
                )
            cal_params = calibrator_params(inner)
            cal_classes = inner.classes_
            inner = inner.estimator
        else:
            break
    if isinstance(inner, SklearnModel):
        inner = inner.estimator
    if calibrator is not None:
        if cal_params is not None:
            raise ModelError(
                "The model is already calibrated (a CalibratedModel) and a calibrator was "
                "given as well.",
                fix="pass the calibrated model alone, or the uncalibrated model and the "
                "calibrator.",
            )
        if isinstance(calibrator, Mapping):
            _check_calibrator(calibrator)
            cal_params = dict(calibrator)
        else:
            if not _is_calibrated(calibrator):
                raise ModelError(
                    f"calibrator must be a fitted afterfit CalibratedModel (from "
                    f"afterfit.calibrate); got a {type(calibrator).__name__}.",
                    fix="pass the result of afterfit.calibrate(model, X_cal, y_cal).",
                )
            cal_params = calibrator_params(calibrator)
            cal_classes = calibrator.classes_
    adapter = as_model(inner)
    classes = None if adapter.classes_ is None else tuple(adapter.classes_.tolist())
    if cal_params is not None:
        if adapter.task == "regression":
            raise ModelError(
                "A calibration map was given for a regression model.",
                fix="leave the calibrator out for regressors.",
            )
        if cal_classes is not None and list(np.asarray(cal_classes).tolist()) != list(classes):
            raise ModelError(
                f"The calibrator was fitted for the classes {list(cal_classes)}, but the model "
                f"has {list(classes)}.",
                fix="pass the calibrator fitted on this model.",
            )
        if cal_params["response"] == "predict_proba" and not adapter.scores_are_probabilities:
            raise ModelError(
                "The calibrator reads predict_proba, but the model gives no probabilities.",
                fix="pass the calibrator fitted on this model.",
            )
    threshold_score = "probability"
    has_proba = cal_params is not None or adapter.scores_are_probabilities
    if adapter.task == "regression":
        pass
    elif threshold_method == "decision_function" and not calibrated_inside_threshold:
        threshold_score = "decision_function"
    elif not has_proba:
        threshold_score = "decision_function"
    final_threshold = wrapper_threshold if threshold is None else float(threshold)
    final_pos = positive_class if positive_class is not None else wrapper_pos
    if adapter.task == "binary" and final_pos is not None:
        final_pos = _match_class(final_pos, classes)
    if adapter.task != "binary":
        final_pos = None
    elif final_pos is None:
        final_pos = classes[1]
    decision = Decision(
        task=adapter.task,
        classes=classes,
        positive_class=final_pos,
        threshold=final_threshold,
        threshold_score=threshold_score,
        calibrator=cal_params,
    )
    return inner, decision


def _match_class(label: Any, classes: Sequence[Any] | None) -> Any:
    for c in classes or ():
        if c == label or str(c) == str(label):
            return c
    raise InvalidInputError(
        f"The positive class {label!r} is not one of the model's classes {list(classes or ())}.",
        fix="pass one of the model's classes as the positive class.",
    )
