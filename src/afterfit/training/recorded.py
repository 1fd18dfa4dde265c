"""The curves an estimator records while it fits: MLP ``loss_curve_`` and
``validation_scores_``, gradient boosting ``train_score_`` and ``oob_scores_``, histogram
gradient boosting ``train_score_`` and ``validation_score_``, XGBoost / LightGBM / CatBoost
evaluation results, a Keras model's last ``History``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from afterfit.errors import DataError
from afterfit.training._estimators import _is_classifier, _unwrap
from afterfit.training.logs import _from_mapping
from afterfit.training.names import _direction
from afterfit.training.results import Curve, TrainingCurves


def _arr(values: Any) -> np.ndarray | None:
    try:
        a = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        return None
    return a if a.size else None


def _curve(name: str, y: Any, metric: str, split: str | None, higher: bool | None,
           *, start: int = 1) -> Curve | None:  # fmt: skip
    a = _arr(y)
    if a is None:
        return None
    x = np.arange(start, start + a.size, dtype=np.float64)
    keep = np.isfinite(a)
    if not keep.any():
        return None
    return Curve(name, x[keep], a[keep], metric, split, higher)


def _from_loss_curve(est: Any) -> tuple[list[Curve | None], str, float | None, list[str]]:
    """MLP (and any estimator with ``loss_curve_``): loss per epoch, validation score."""
    curves = [_curve("train loss", est.loss_curve_, "loss", "train", False)]
    best = None
    notes = []
    val = getattr(est, "validation_scores_", None)
    if val is not None and len(val):
        metric = "accuracy" if _is_classifier(est) else "r2"
        curves.append(_curve(f"validation {metric}", val, metric, "validation", True))
        if getattr(est, "early_stopping", False):
            # MLP keeps the weights of the best validation score
            best = float(np.nanargmax(np.asarray(val, dtype=float)) + 1)
        notes.append(f"the validation score is {type(est).__name__}.score ({metric}) on the "
                     "early-stopping validation split")  # fmt: skip
    return curves, "epoch", best, notes


def _from_gradient_boosting(est: Any) -> tuple[list[Curve | None], str, float | None, list[str]]:
    """scikit-learn GradientBoosting*: loss after each stage, out-of-bag loss."""
    subsample = float(getattr(est, "subsample", 1.0) or 1.0)
    oob = getattr(est, "oob_scores_", None)
    in_bag = " (in-bag)" if subsample < 1 else ""
    curves = [_curve(f"train loss{in_bag}", est.train_score_, "loss", "train", False)]
    if oob is not None:
        curves.append(_curve("out-of-bag loss", oob, "loss", "out-of-bag", False))
    improvement = getattr(est, "oob_improvement_", None)
    if improvement is not None:
        # a per-stage change, not a level: its own panel; stages past its zero crossing
        # no longer help on out-of-bag rows
        curves.append(_curve("out-of-bag improvement", improvement, "out-of-bag improvement",
                             "out-of-bag", None))  # fmt: skip
    notes = []
    if subsample < 1:
        notes.append(f"subsample={subsample:g}: the train loss is on each stage's in-bag rows")
    return curves, "iteration", None, notes


def _from_hist_gradient_boosting(
    est: Any,
) -> tuple[list[Curve | None], str, float | None, list[str]]:
    """HistGradientBoosting*: scores before the first and after each iteration (early
    stopping only). With ``scoring="loss"`` they are negative losses: shown as losses."""
    scoring = getattr(est, "scoring", "loss")
    notes = ["iteration 0 is the model before the first tree (the baseline prediction)"]
    if scoring == "loss":
        sign, metric, higher = -1.0, "loss", False
        notes.append("HistGradientBoosting records the negative loss; shown as the loss")
    else:
        sign, higher = 1.0, True
        if isinstance(scoring, str):
            metric = scoring
        elif scoring is None:  # the estimator's own score method
            metric = "accuracy" if _is_classifier(est) else "r2"
        else:
            metric = getattr(scoring, "__name__", "score")
        if metric.startswith("neg_"):
            sign, metric, higher = -1.0, metric[4:], False
            notes.append(f"scores of '{scoring}' are negated; shown as '{metric}'")
    curves = []
    for attr, split in (("train_score_", "train"), ("validation_score_", "validation")):
        a = _arr(getattr(est, attr, None))
        if a is not None:
            curves.append(_curve(f"{split} {metric}", sign * a, metric, split, higher, start=0))
    return curves, "iteration", None, notes


def _from_evals(est: Any) -> tuple[list[Curve | None], str, float | None, list[str]]:
    """XGBoost / LightGBM ``evals_result_`` and CatBoost ``get_evals_result()``: every
    evaluation set and metric, one value per boosting round."""
    evals = getattr(est, "evals_result_", None)
    for method in ("evals_result", "get_evals_result"):
        if evals is None and callable(getattr(est, method, None)):
            try:
                evals = getattr(est, method)()
            except Exception:  # XGBoost raises when fit had no eval_set
                evals = None
    curves: list[Curve | None] = []
    if isinstance(evals, dict):
        for split, metrics in evals.items():
            if not isinstance(metrics, dict):
                continue
            for metric, values in metrics.items():
                name = f"{split} {metric}"
                curves.append(_curve(name, values, str(metric), str(split), _direction(metric)))
    best = None
    # LightGBM's best_iteration_ counts from 1 (0: no early stopping); XGBoost's and
    # CatBoost's count from 0.
    lgb_best = getattr(est, "best_iteration_", None)
    if isinstance(lgb_best, int | np.integer) and lgb_best > 0:
        best = float(lgb_best)
    elif type(est).__module__.startswith("xgboost"):
        xgb_best = getattr(est, "best_iteration", None)  # AttributeError without early stop
        if isinstance(xgb_best, int | np.integer):
            best = float(xgb_best) + 1
    elif callable(getattr(est, "get_best_iteration", None)):
        try:
            cb_best = est.get_best_iteration()
        except Exception:
            cb_best = None
        if isinstance(cb_best, int | np.integer):
            best = float(cb_best) + 1
    return curves, "iteration", best, []


def training_curves(model: Any) -> TrainingCurves | None:
    """The curves an estimator recorded while it was fitted.

    Parameters
    ----------
    model : object
        A fitted model: a scikit-learn estimator or pipeline (the last step is read), an
        XGBoost / LightGBM / CatBoost scikit-learn wrapper, an afterfit adapter
        (:class:`~afterfit.models.sklearn.SklearnModel`...) or wrapper
        (:class:`~afterfit.thresholds.ThresholdedModel`,
        :class:`~afterfit.thresholds.CostSensitiveModel`,
        :class:`~afterfit.calibration.CalibratedModel`), a fitted search
        (``best_estimator_``), or a Keras model (``model.history.history``).

    Returns
    -------
    TrainingCurves or None
        None when the estimator recorded nothing (most models; boosting with no
        ``eval_set``; HistGradientBoosting without early stopping).

    Notes
    -----
    Read, per estimator:

    - ``loss_curve_`` (MLP): train loss per epoch; ``validation_scores_`` (MLP with
      ``early_stopping=True``): accuracy or R² on the held-out split;
    - ``train_score_``, ``oob_scores_``, ``oob_improvement_`` (GradientBoosting): loss
      after each stage, in-bag when ``subsample < 1``, and on the out-of-bag rows;
    - ``train_score_``, ``validation_score_`` (HistGradientBoosting with early stopping):
      from iteration 0, the baseline; negative losses are shown as losses;
    - ``evals_result_`` / ``evals_result()`` (XGBoost, LightGBM) and
      ``get_evals_result()`` (CatBoost): every evaluation set and metric per round.
    """
    est, path = _unwrap(model, into_pipelines=True)
    if getattr(est, "loss_curve_", None) is not None:
        parts = _from_loss_curve(est)
    elif getattr(est, "validation_score_", None) is not None and hasattr(est, "train_score_"):
        parts = _from_hist_gradient_boosting(est)
    elif getattr(est, "train_score_", None) is not None:
        parts = _from_gradient_boosting(est)
    elif any(hasattr(est, a) for a in ("evals_result_", "evals_result", "get_evals_result")):
        parts = _from_evals(est)
    else:
        history = getattr(getattr(est, "history", None), "history", None)
        if not isinstance(history, dict) or not history:
            return None
        # a Keras model keeps the History of its last fit
        try:
            result = _from_mapping(history, source=type(est).__name__)
        except DataError:
            return None
        return TrainingCurves(result.curves, type(est).__name__, "estimator", result.x_label,
                              unwrapped=path, notes=result.notes)  # fmt: skip
    curves, x_label, best, notes = parts
    kept = tuple(c for c in curves if c is not None)
    if not kept:
        return None
    return TrainingCurves(kept, type(est).__name__, "estimator", x_label, best, path,
                          tuple(notes))  # fmt: skip
