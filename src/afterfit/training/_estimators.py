"""Unwrapping a model down to the estimator that recorded curves, or to the one a learning
curve can clone and refit: pipelines, scikit-learn meta-estimators, searches, afterfit's
adapters and wrappers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Attributes that hold a wrapped, fitted estimator: a search's ``best_estimator_``,
# ``estimator_`` of FixedThresholdClassifier / TunedThresholdClassifierCV, ``regressor_`` of
# TransformedTargetRegressor; then what afterfit's adapters and wrappers hold.
_INNER_FITTED = ("best_estimator_", "estimator_", "regressor_")
_INNER_AFTERFIT = ("estimator", "booster", "module", "model")
# afterfit wrappers that refit their inner estimator when cloned, the decision rule fixed;
# the others (adapters, CalibratedModel) only wrap a fitted model and cannot be refitted.
_REFITTABLE_AFTERFIT = ("ThresholdedModel", "CostSensitiveModel")
_CURVE_ATTRS = ("loss_curve_", "train_score_", "evals_result_", "evals_result",
                "get_evals_result", "validation_scores_")  # fmt: skip


def _is_afterfit(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] == "afterfit"


def _is_pipeline(obj: Any) -> bool:
    steps = getattr(obj, "steps", None)
    return (
        isinstance(steps, list)
        and bool(steps)
        and callable(getattr(obj, "fit", None))
        and all(isinstance(s, tuple) and len(s) == 2 for s in steps)
    )


def _held(obj: Any, attrs: Sequence[str]) -> Any:
    for attr in attrs:
        candidate = getattr(obj, attr, None)
        if candidate is not None and not isinstance(candidate, str | bytes | type):
            return candidate
    return None


def _inner_for_curves(obj: Any) -> Any:
    """The estimator one level inside ``obj``, down to the one that fitted (or None)."""
    if _is_pipeline(obj):
        return obj.steps[-1][1]
    inner = _held(obj, _INNER_FITTED)
    if inner is None and _is_afterfit(obj):
        inner = _held(obj, _INNER_AFTERFIT)
    if inner is None:
        # CalibratedClassifierCV: the first fold's fitted estimator recorded the curves
        calibrated = getattr(obj, "calibrated_classifiers_", None)
        if calibrated:
            inner = getattr(calibrated[0], "estimator", None)
    return inner


def _inner_for_refit(obj: Any) -> Any:
    """The object to clone one level inside ``obj``, or None to clone ``obj`` itself.

    Pipelines and scikit-learn meta-estimators refit as a whole (preprocessing and
    decision rule included); a search gives its best configuration (refitting the search
    would nest cross-validation); afterfit adapters and CalibratedModel give the model they
    wrap.
    """
    if _is_pipeline(obj):
        return None
    best = getattr(obj, "best_estimator_", None)
    if best is not None:
        return best
    if _is_afterfit(obj) and type(obj).__name__ not in _REFITTABLE_AFTERFIT:
        return _held(obj, _INNER_AFTERFIT)
    return None


def _unwrap(model: Any, *, into_pipelines: bool) -> tuple[Any, tuple[str, ...]]:
    """The estimator inside ``model`` and the class names of the wrappers removed.

    ``into_pipelines=True`` goes down to the estimator that recorded curves (a pipeline's
    last step); ``False`` stops at what a learning curve can clone and refit.
    """
    path: list[str] = []
    seen: set[int] = set()
    obj = model
    while id(obj) not in seen and len(path) < 20:
        seen.add(id(obj))
        if into_pipelines:
            if any(hasattr(obj, a) for a in _CURVE_ATTRS):
                break
            inner = _inner_for_curves(obj)
        else:
            inner = _inner_for_refit(obj)
        if inner is None or inner is obj:
            break
        path.append(type(obj).__name__)
        obj = inner
    return obj, tuple(path)


def _is_classifier(est: Any) -> bool:
    try:
        from sklearn.base import is_classifier

        if is_classifier(est):
            return True
    except Exception:  # objects without scikit-learn tags
        pass
    return getattr(est, "classes_", None) is not None
