"""``CalibratedModel``: a fitted classifier and the calibration map fitted on top of it.

A scikit-learn classifier (``BaseEstimator``, ``ClassifierMixin``): ``predict_proba`` gives
calibrated probabilities, ``predict`` the class of highest calibrated probability and
``classes_`` is the wrapped model's. The map is stored as plain numbers, so
``skops.io.dump`` saves it and :func:`afterfit.load_model` loads it without ``trust``
(afterfit trusts the classes of ``afterfit.calibration``; the wrapped estimator's types
are checked as usual).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from afterfit.calibration._common import fingerprint
from afterfit.calibration.calibrators import (
    ISOTONIC_MIN_ROWS,
    check_method,
    clip_rounding,
    fit_isotonic,
    fit_sigmoid,
    fit_temperature,
    isotonic_map,
    log_probabilities,
    logit,
    probabilities_from_maps,
    sigmoid_map,
    temperature_map,
)
from afterfit.errors import (
    AfterfitWarning,
    DataError,
    InvalidInputError,
    MetricError,
    ModelError,
)
from afterfit.models.base import Model
from afterfit.predictions import label_list, label_text

__all__ = ["CalibratedModel", "unwrap"]


def unwrap(model: Any) -> Any:
    """The estimator inside afterfit's scikit-learn adapter; anything else as is.

    Wrapping the estimator itself (not the adapter) keeps a calibrated model savable with
    skops and usable wherever scikit-learn classifiers are.
    """
    from afterfit.models.sklearn import SklearnModel

    return model.estimator if isinstance(model, SklearnModel) else model


def _adapter(estimator: Any) -> Model:
    from afterfit.models import as_model

    if estimator is None:
        raise InvalidInputError(
            "CalibratedModel needs the fitted classifier to calibrate; estimator is None.",
            fix="pass CalibratedModel(fitted_classifier, method=...), or use "
            "afterfit.calibrate(model, X_cal, y_cal).",
        )
    adapter = as_model(estimator)
    if adapter.task == "regression":
        raise ModelError(
            f"The model, a {type(estimator).__name__}, is a regressor; calibration maps "
            "class scores to probabilities, so it needs a classifier.",
            fix="pass a fitted classifier.",
        )
    return adapter


def _target(y: Any, n: int) -> np.ndarray:
    if isinstance(y, pd.DataFrame) and y.shape[1] == 1:
        y = y.iloc[:, 0]
    if hasattr(y, "to_numpy"):
        y = y.to_numpy()
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InvalidInputError(
            f"y must be one column of labels; got shape {arr.shape}.",
            fix="pass the target column alone.",
        )
    if arr.shape[0] != n:
        raise InvalidInputError(
            f"X has {n} rows but y has {arr.shape[0]}.",
            fix="pass the labels of the same rows as X, in the same order.",
        )
    missing = pd.isna(arr) if arr.dtype == object or arr.dtype.kind in "fcUS" else None
    if missing is not None and missing.any():
        raise DataError(
            f"y has {int(missing.sum())} missing label(s), first at row "
            f"{int(np.flatnonzero(missing)[0])}.",
            fix="drop the rows without a label from the calibration data.",
        )
    return arr


def _weights(sample_weight: Any, n: int) -> np.ndarray | None:
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    if w.shape[0] != n or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
        raise InvalidInputError(
            f"sample_weight must hold {n} finite, non-negative weights with a positive sum.",
            fix="pass one weight >= 0 per calibration row.",
        )
    return w


class CalibratedModel(ClassifierMixin, BaseEstimator):
    """A fitted classifier whose probabilities go through a calibration map.

    Parameters
    ----------
    estimator : classifier
        An already fitted classifier: a scikit-learn estimator or pipeline (or anything
        with its API), or an afterfit :class:`~afterfit.Model`. :meth:`fit` never refits
        it; it fits only the map, on the calibration rows it is given.
    method : {"sigmoid", "isotonic", "temperature"}
        The map (see :mod:`afterfit.calibration.calibrators`).

    Attributes
    ----------
    classes_ : ndarray
        The wrapped model's classes, in its column order.
    response_method_ : {"decision_function", "predict_proba", "predict_scores"}
        Which output of the wrapped model the map reads.
    slope_, intercept_ : ndarray
        Sigmoid: one pair per map (one map for binary models, one per class otherwise);
        ``p = expit(slope * score + intercept)``.
    isotonic_x_, isotonic_y_, isotonic_offsets_ : ndarray
        Isotonic: the interpolation points of every map, concatenated; map ``j`` is
        ``isotonic_x_[isotonic_offsets_[j]:isotonic_offsets_[j + 1]]``.
    temperature_ : float
        Temperature: ``p = softmax(log(p_model) / temperature_)``.
    n_calibration_rows_ : int
    calibration_fingerprint_ : str
        Row count and hash of the calibration rows: evaluating the calibrated model on the
        same rows is refused by :func:`afterfit.compare_calibration`.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = load_iris(return_X_y=True)
    >>> model = LogisticRegression(max_iter=1000).fit(X[::2], y[::2])
    >>> calibrated = CalibratedModel(model, method="temperature").fit(X[1::4], y[1::4])
    >>> calibrated.predict_proba(X[3::4]).sum(axis=1).round(6).tolist()[:3]
    [1.0, 1.0, 1.0]
    """

    def __init__(self, estimator: Any = None, *, method: str = "sigmoid") -> None:
        self.estimator = estimator
        self.method = method

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> CalibratedModel:
        """Fit the calibration map on calibration rows ``X``, ``y`` (the model stays as is).

        Raises
        ------
        MetricError
            One class only in ``y`` (or, for one-vs-rest maps, a class missing).
        DataError
            Labels the model does not know.
        ModelError
            Not a fitted classifier, or no probabilities for ``method="temperature"``.
        """
        method = check_method(self.method)
        estimator = unwrap(self.estimator)
        adapter = _adapter(estimator)
        classes = np.asarray(adapter.classes_)
        K = classes.size
        response, is_proba = self._choose_response(estimator, adapter, method)
        n = _n_rows(X)
        labels = _target(y, n)
        codes = pd.Index(classes).get_indexer(labels)
        if (codes < 0).any():
            unknown = pd.unique(labels[codes < 0])
            raise DataError(
                f"The calibration labels hold class(es) the model does not know: "
                f"{label_list(unknown)}; the model's classes are {label_list(classes)}.",
                fix="check the target column of the calibration data (the same encoding as "
                "in training, such as 1/0 rather than 'yes'/'no'?), or drop rows of classes "
                "the model was not trained on.",
            )
        w = _weights(sample_weight, n)
        counts = np.bincount(codes, weights=w, minlength=K)
        if np.count_nonzero(counts) < 2:
            only = classes[int(np.argmax(counts))]
            raise MetricError(
                f"The calibration split holds only one class ({label_text(only)}) of the "
                f"model's {K}: no calibration map can be fitted from it.",
                fix="use a calibration split that holds every class (a larger or "
                "stratified split, e.g. train_test_split(..., stratify=y)).",
            )
        if method != "temperature" and K > 2 and (counts == 0).any():
            absent = classes[counts == 0]
            raise MetricError(
                f"The calibration split has no rows of class(es) {label_list(absent)}; "
                f"one-vs-rest {method} calibration fits one map per class and needs every "
                "class.",
                fix="use a calibration split that holds every class, or "
                "method='temperature' (one parameter for all classes).",
            )
        if method == "isotonic" and n < ISOTONIC_MIN_ROWS:
            warnings.warn(
                f"Isotonic calibration on {n} rows: isotonic regression overfits small "
                f"calibration splits (scikit-learn advises against it well below "
                f"{ISOTONIC_MIN_ROWS} rows). Consider method='sigmoid', or a larger split.",
                AfterfitWarning,
                stacklevel=2,
            )
        raw = self._raw(estimator, adapter, X, response)
        self.classes_ = classes
        self.response_method_ = response
        self.response_is_proba_ = is_proba
        if method == "temperature":
            self.temperature_ = fit_temperature(self._logits(raw), codes, w)
        else:
            scores = self._scores(raw)
            columns = [codes == 1] if K == 2 else [codes == k for k in range(K)]
            if method == "sigmoid":
                fitted = [fit_sigmoid(scores[:, j], t, w) for j, t in enumerate(columns)]
                self.slope_ = np.array([a for a, _ in fitted])
                self.intercept_ = np.array([b for _, b in fitted])
            else:
                points = [fit_isotonic(scores[:, j], t, w) for j, t in enumerate(columns)]
                self.isotonic_x_ = np.concatenate([x for x, _ in points])
                self.isotonic_y_ = np.concatenate([v for _, v in points])
                self.isotonic_offsets_ = np.cumsum([0] + [x.size for x, _ in points])
        self.n_calibration_rows_ = int(n)
        self.calibration_fingerprint_ = fingerprint(X)
        if adapter.feature_names is not None:
            self.feature_names_in_ = np.asarray(adapter.feature_names, dtype=object)
        n_features = getattr(adapter, "n_features", None)
        if n_features is not None:
            self.n_features_in_ = int(n_features)
        return self

    def _choose_response(self, estimator: Any, adapter: Model, method: str) -> tuple[str, bool]:
        name = type(estimator).__name__
        if isinstance(estimator, Model):  # ONNX, torch, boosters: their one score output
            if method == "temperature" and not adapter.scores_are_probabilities:
                raise _no_probabilities(name)
            return "predict_scores", bool(adapter.scores_are_probabilities)
        has_proba = callable(getattr(estimator, "predict_proba", None))
        has_decision = callable(getattr(estimator, "decision_function", None))
        if method == "temperature":
            if not has_proba:
                raise _no_probabilities(name)
            return "predict_proba", True
        # As scikit-learn's CalibratedClassifierCV: the decision function where there is one.
        if has_decision:
            return "decision_function", False
        return "predict_proba", True

    # -- prediction ------------------------------------------------------------------------

    @staticmethod
    def _raw(estimator: Any, adapter: Model, X: Any, response: str) -> np.ndarray:
        if response == "predict_scores":
            raw = adapter.predict_scores(X)
        else:
            raw = getattr(estimator, response)(X)
        raw = np.asarray(raw, dtype=np.float64)
        if not np.all(np.isfinite(raw)):
            raise DataError(
                f"The model's {response} output holds NaN or infinite values.",
                fix="check the input rows (missing values?) or the model.",
            )
        return raw

    def _scores(self, raw: np.ndarray) -> np.ndarray:
        """The score each map reads, ``(n, 1)`` for binary models, ``(n, K)`` otherwise."""
        K = self.classes_.size
        if K == 2:
            if self.response_is_proba_:
                f = raw[:, 1] if raw.ndim == 2 else raw
                f = logit(f) if self.method == "sigmoid" else f
            elif raw.ndim == 1:
                f = raw
            else:  # two score columns: their difference, a log-odds like score
                f = raw[:, 0] if raw.shape[1] == 1 else raw[:, 1] - raw[:, 0]
            return f.reshape(-1, 1)
        if self.response_is_proba_ and self.method == "sigmoid":
            return logit(raw)
        return raw

    def _logits(self, raw: np.ndarray) -> np.ndarray:
        proba = np.column_stack([1.0 - raw, raw]) if raw.ndim == 1 else raw
        return log_probabilities(proba)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated class probabilities, ``(n, n_classes)`` in ``classes_`` order."""
        check_is_fitted(self, "calibration_fingerprint_")
        estimator = unwrap(self.estimator)
        adapter = _adapter(estimator) if self.response_method_ == "predict_scores" else None
        raw = self._raw(estimator, adapter, X, self.response_method_)
        K = self.classes_.size
        if self.method == "temperature":
            proba = temperature_map(self._logits(raw), self.temperature_)
        else:
            scores = self._scores(raw)
            cols = []
            for j in range(scores.shape[1]):
                if self.method == "sigmoid":
                    cols.append(sigmoid_map(scores[:, j], self.slope_[j], self.intercept_[j]))
                else:
                    a, b = self.isotonic_offsets_[j], self.isotonic_offsets_[j + 1]
                    cols.append(
                        isotonic_map(scores[:, j], self.isotonic_x_[a:b], self.isotonic_y_[a:b])
                    )
            proba = probabilities_from_maps(cols, K)
        return clip_rounding(proba)

    def predict(self, X: Any) -> np.ndarray:
        """The class of highest calibrated probability."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    # -- description -----------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """The fitted map as JSON-safe numbers (the ``calibrator`` of calibration.json)."""
        check_is_fitted(self, "calibration_fingerprint_")
        names = [str(c) for c in self.classes_]
        per_map = [names[1]] if len(names) == 2 else names
        out: dict[str, Any] = {
            "method": self.method,
            "estimator": type(unwrap(self.estimator)).__name__,
            "response_method": self.response_method_,
            "classes": names,
            "n_calibration_rows": self.n_calibration_rows_,
        }
        if self.method == "sigmoid":
            out["maps"] = [
                {"class": c, "slope": float(a), "intercept": float(b)}
                for c, a, b in zip(per_map, self.slope_, self.intercept_, strict=True)
            ]
        elif self.method == "isotonic":
            sizes = np.diff(self.isotonic_offsets_)
            out["maps"] = [
                {"class": c, "n_points": int(k)} for c, k in zip(per_map, sizes, strict=True)
            ]
        else:
            out["temperature"] = float(self.temperature_)
        return out


def _n_rows(X: Any) -> int:
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) >= 1:
        return int(shape[0])
    return len(X)


def _no_probabilities(name: str) -> ModelError:
    return ModelError(
        f"Temperature scaling rescales the logarithms of class probabilities, but the model, "
        f"a {name}, gives no probabilities (no predict_proba), only decision scores.",
        fix="use method='sigmoid' or method='isotonic', which calibrate decision scores "
        "(for SVC, fitting it with probability=True also gives predict_proba).",
    )
