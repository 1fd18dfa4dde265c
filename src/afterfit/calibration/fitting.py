"""The :func:`calibrate` step: fit a calibration map on a split the model never saw and
return a :class:`~afterfit.calibration.CalibratedModel`.

Kept apart from the maps (:mod:`afterfit.calibration.calibrators`, plain numbers) and the
model (:mod:`afterfit.calibration.model`, which imports scikit-learn): importing
:mod:`afterfit.calibration` imports neither scikit-learn nor the model class; the model is
imported when :func:`calibrate` runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from afterfit.calibration.calibrators import Method, check_method

if TYPE_CHECKING:
    from afterfit.calibration.model import CalibratedModel

__all__ = ["calibrate"]


def calibrate(
    model: Any,
    X_cal: Any,
    y_cal: Any,
    *,
    method: Method = "sigmoid",
    sample_weight: Any = None,
) -> CalibratedModel:
    """Fit a calibration map for an already trained classifier on a calibration split.

    Parameters
    ----------
    model : classifier
        A fitted scikit-learn classifier or pipeline (or anything with its API), an
        afterfit :class:`~afterfit.Model` (as returned by :func:`afterfit.load_model`) or
        another adapter's model. It is never refit.
    X_cal : table
        Calibration features: rows the model was not trained on, and that will not be
        used to evaluate the calibrated model either.
    y_cal : array-like
        Their true labels, in the model's label set.
    method : {"sigmoid", "isotonic", "temperature"}
        See :mod:`afterfit.calibration.calibrators`. ``"temperature"`` needs a model with
        probabilities (``predict_proba``).
    sample_weight : array-like, optional
        Weights of the calibration rows.

    Returns
    -------
    CalibratedModel
        A scikit-learn classifier: ``predict_proba`` gives the calibrated probabilities,
        ``predict`` the class of highest calibrated probability. Save it with
        ``skops.io.dump``; :func:`afterfit.load_model` loads it without ``trust``.

    Raises
    ------
    InvalidInputError
        An unknown method, or X and y of different lengths.
    MetricError
        A calibration split with one class only (or, one-vs-rest, without some class).
    DataError
        Labels the model does not know.
    ModelError
        A model that is not a fitted classifier, or without probabilities for
        ``method="temperature"``.

    Warns
    -----
    AfterfitWarning
        Isotonic calibration on fewer than :data:`~afterfit.calibration.ISOTONIC_MIN_ROWS` rows.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.naive_bayes import GaussianNB
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = GaussianNB().fit(X[:250], y[:250])
    >>> calibrated = calibrate(model, X[250:400], y[250:400], method="sigmoid")
    >>> calibrated.predict_proba(X[400:]).shape
    (169, 2)
    """
    from afterfit.calibration.model import CalibratedModel, unwrap
    from afterfit.data import as_frame, check_features
    from afterfit.models import SklearnModel, as_model

    check_method(method)
    estimator = unwrap(model)
    adapter = as_model(estimator)
    frame = check_features(as_frame(X_cal, feature_names=adapter.feature_names), adapter)
    # What the model takes: scikit-learn estimators fitted on arrays get an array.
    X = (
        frame.to_numpy()
        if isinstance(adapter, SklearnModel) and adapter.feature_names is None
        else frame
    )
    return CalibratedModel(estimator, method=method).fit(X, y_cal, sample_weight=sample_weight)
