"""Adapters for native XGBoost and LightGBM boosters (``Booster`` objects and files).

Their scikit-learn wrappers go through :class:`~afterfit.models.sklearn.SklearnModel`;
these adapters serve the raw boosters that ``save_model`` files load into. xgboost and
lightgbm are imported only here, inside the functions that need them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from afterfit.errors import MissingDependencyError, ModelError
from afterfit.models._common import (
    as_classes,
    check_task,
    check_task_classes,
    labels_from_scores,
    lightgbm_categories,
    short_list,
    sigmoid,
    softmax,
    task_from_n_classes,
    to_frame,
    two_columns,
)
from afterfit.models.base import Task

__all__ = ["LightGBMModel", "XGBoostModel", "is_lightgbm_booster", "is_xgboost_booster"]

#: XGBoost feature types to the dtypes afterfit checks inputs against.
XGB_FEATURE_TYPES = {
    "float": "float32",
    "q": "float32",
    "int": "int64",
    "i": "int64",
    "c": "category",
}


def is_xgboost_booster(obj: Any) -> bool:
    """Whether ``obj`` is an ``xgboost.Booster`` (checked without importing xgboost)."""
    return any(
        c.__name__ == "Booster" and c.__module__.startswith("xgboost") for c in type(obj).__mro__
    )


def is_lightgbm_booster(obj: Any) -> bool:
    """Whether ``obj`` is a ``lightgbm.Booster`` (checked without importing lightgbm)."""
    return any(
        c.__name__ == "Booster" and c.__module__.startswith("lightgbm") for c in type(obj).__mro__
    )


def import_xgboost(purpose: str = "Using an XGBoost model") -> Any:
    """Import and return xgboost, or raise :class:`MissingDependencyError`."""
    try:
        import xgboost
    except ImportError as exc:
        raise MissingDependencyError("xgboost", "xgboost", purpose=purpose) from exc
    return xgboost


def import_lightgbm(purpose: str = "Using a LightGBM model") -> Any:
    """Import and return lightgbm, or raise :class:`MissingDependencyError`."""
    try:
        import lightgbm
    except ImportError as exc:
        raise MissingDependencyError("lightgbm", "lightgbm", purpose=purpose) from exc
    return lightgbm


def _resolve_classes(
    task: Task, n_classes: int, classes: np.ndarray | None, what: str
) -> np.ndarray | None:
    if task == "regression":
        return None
    if classes is None:
        classes = np.arange(n_classes)
        check_task_classes(task, classes, what=what[0].upper() + what[1:])
        return classes
    if len(classes) != n_classes:
        raise ModelError(
            f"The argument 'classes' has {len(classes)} labels, but {what} has {n_classes} "
            "classes.",
            fix="pass one label per class, in the order 0..k-1 the booster was trained on.",
        )
    check_task_classes(task, classes, what=what[0].upper() + what[1:])
    return classes


def _clean_names(names: Sequence[str] | None) -> list[str] | None:
    if not names:
        return None
    names = [str(n) for n in names]
    if all(n.startswith("Column_") and n[7:].isdigit() for n in names):
        return None  # LightGBM's placeholders for unnamed columns
    return names


class XGBoostModel:
    """A native ``xgboost.Booster`` seen through the ``Model`` protocol.

    The task comes from the booster's objective: ``binary:*`` is binary,
    ``multi:softprob`` / ``multi:softmax`` multiclass (``num_class`` classes), ``reg:*``,
    ``count:*`` and ``survival:*`` regression. Ranking objectives are not supported.

    Parameters
    ----------
    booster : xgboost.Booster
    task : {"binary", "multiclass", "regression"}, optional
        Overrides the task read from the objective.
    classes : sequence, optional
        Labels for the classes 0..k-1 the booster was trained on; default ``0..k-1``.

    Attributes
    ----------
    task, classes_, feature_names, scores_are_probabilities
        As in :class:`~afterfit.models.base.Model`.
    objective : str
    n_features : int or None
    feature_dtypes : dict or None
        From the booster's ``feature_types`` when it records feature names.
    input_dtype : None
    """

    def __init__(
        self,
        booster: Any,
        *,
        task: Task | None = None,
        classes: Sequence[Any] | np.ndarray | None = None,
    ) -> None:
        import_xgboost()
        task = check_task(task)
        classes_arg = as_classes(classes)
        config = json.loads(booster.save_config())
        learner = config["learner"]
        objective = str(learner["objective"]["name"])
        params = learner.get("learner_model_param", {})
        n_class = int(params.get("num_class", 0) or 0)
        n_feature = int(params.get("num_feature", 0) or 0)
        if objective.startswith("binary:"):
            inferred: Task = "binary"
        elif objective.startswith("multi:"):
            inferred = task_from_n_classes(max(n_class, 2))
        elif objective.startswith(("reg:", "count:", "survival:")):
            inferred = "regression"
        else:
            raise ModelError(
                f"The XGBoost model has the objective {objective!r}, which afterfit does not "
                "evaluate (it handles binary:*, multi:* and reg:* objectives).",
                fix="evaluate a classifier or regressor; ranking models are not supported.",
            )
        task = task or inferred
        if (task == "regression") != (inferred == "regression"):
            raise ModelError(
                f"The XGBoost model has the objective {objective!r}, which does not fit the "
                f"task given, {task!r}.",
                fix="leave task out to use the task of the objective.",
            )
        n_classes = 2 if inferred == "binary" else n_class
        self.booster = booster
        self.objective = objective
        self.task: Task = task
        self.classes_: np.ndarray | None = _resolve_classes(
            task, n_classes, classes_arg, "the XGBoost model"
        )
        self.scores_are_probabilities = task != "regression" and objective != "binary:hinge"
        self.feature_names: list[str] | None = _clean_names(booster.feature_names)
        types = booster.feature_types
        names = self.feature_names
        self.feature_dtypes: dict[str, str] | None = None
        if names is not None and types is not None and len(types) == len(names):
            self.feature_dtypes = {
                n: XGB_FEATURE_TYPES.get(t, "any") for n, t in zip(names, types, strict=True)
            }
        self.n_features: int | None = n_feature or (
            len(self.feature_names) if self.feature_names else None
        )
        self.input_dtype: str | None = None

    def __repr__(self) -> str:
        return f"XGBoostModel(objective={self.objective!r}, task={self.task!r})"

    def _prepare(self, X: Any) -> Any:
        X = to_frame(X)
        if isinstance(X, pd.DataFrame) and self.feature_names is None:
            return X.to_numpy()
        if isinstance(X, np.ndarray) and self.feature_names is not None:
            return pd.DataFrame(X, columns=self.feature_names)
        return X

    def predict_scores(self, X: Any) -> np.ndarray:
        """Probabilities ``(n, n_classes)`` (margins for ``binary:hinge``) or predictions."""
        Xp = self._prepare(X)
        obj = self.objective
        if self.task == "regression":
            return np.asarray(self.booster.inplace_predict(Xp), dtype=np.float64).reshape(-1)
        if obj in ("binary:logistic", "multi:softprob"):
            out = np.asarray(self.booster.inplace_predict(Xp), dtype=np.float64)
            return two_columns(out) if self.task == "binary" else out
        margin = np.asarray(
            self.booster.inplace_predict(Xp, predict_type="margin"), dtype=np.float64
        )
        if self.task == "binary":
            margin = margin.reshape(-1)
            if obj == "binary:hinge":
                return np.column_stack([-margin, margin])
            return two_columns(sigmoid(margin))
        return softmax(margin.reshape(len(margin), -1))

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels (the highest score) or values."""
        scores = self.predict_scores(X)
        if self.task == "regression":
            return scores
        return labels_from_scores(scores, self.classes_)


# LightGBM objective aliases, to their canonical names.
_LGB_ALIASES = {
    "regression_l2": "regression",
    "l2": "regression",
    "mean_squared_error": "regression",
    "mse": "regression",
    "l2_root": "regression",
    "root_mean_squared_error": "regression",
    "rmse": "regression",
    "l1": "regression_l1",
    "mean_absolute_error": "regression_l1",
    "mae": "regression_l1",
    "softmax": "multiclass",
    "multiclass_ova": "multiclassova",
    "ova": "multiclassova",
    "ovr": "multiclassova",
    "xentropy": "cross_entropy",
    "xentlambda": "cross_entropy_lambda",
    "xendcg": "rank_xendcg",
    "xe_ndcg": "rank_xendcg",
    "xe_ndcg_mart": "rank_xendcg",
    "xendcg_mart": "rank_xendcg",
}
_LGB_BINARY = ("binary", "cross_entropy", "cross_entropy_lambda")
_LGB_MULTI = ("multiclass", "multiclassova")
_LGB_REGRESSION = (
    "regression",
    "regression_l1",
    "huber",
    "fair",
    "poisson",
    "quantile",
    "mape",
    "gamma",
    "tweedie",
)


def _lightgbm_objective(booster: Any) -> str:
    params = getattr(booster, "params", None) or {}
    for key in ("objective", "objective_type", "app", "application", "loss"):
        objective = params.get(key)
        if objective is not None:
            break
    else:
        # Not in the parameters: LightGBM's default, unless the model header says more.
        try:
            header = booster.model_to_string(num_iteration=1).split("\nTree=", 1)[0]
        except Exception:
            header = ""
        line = next((ln for ln in header.splitlines() if ln.startswith("objective=")), "")
        objective = line.removeprefix("objective=") or "regression"
    if not isinstance(objective, str):
        return "custom"
    objective = objective.split(" ")[0].strip().lower()
    return _LGB_ALIASES.get(objective, objective)


class LightGBMModel:
    """A native ``lightgbm.Booster`` seen through the ``Model`` protocol.

    The task comes from the booster's objective: ``binary`` (and ``cross_entropy``) is
    binary, ``multiclass`` / ``multiclassova`` multiclass, the regression objectives
    (``regression``, ``huber``, ``poisson``, ``quantile``, ...) regression. Ranking
    objectives are not supported.

    Parameters
    ----------
    booster : lightgbm.Booster
    task : {"binary", "multiclass", "regression"}, optional
        Overrides the task read from the objective.
    classes : sequence, optional
        Labels for the classes 0..k-1 the booster was trained on; default ``0..k-1``.

    Attributes
    ----------
    task, classes_, feature_names, scores_are_probabilities
        As in :class:`~afterfit.models.base.Model`.
    objective : str
    n_features : int
    feature_dtypes : None
    input_dtype : None
    """

    def __init__(
        self,
        booster: Any,
        *,
        task: Task | None = None,
        classes: Sequence[Any] | np.ndarray | None = None,
    ) -> None:
        import_lightgbm()
        task = check_task(task)
        classes_arg = as_classes(classes)
        objective = _lightgbm_objective(booster)
        n_class = int(booster.num_model_per_iteration())
        if objective in _LGB_BINARY:
            inferred: Task = "binary"
        elif objective in _LGB_MULTI:
            inferred = task_from_n_classes(max(n_class, 2))
        elif objective in _LGB_REGRESSION:
            inferred = "regression"
        elif task is not None and objective == "custom":
            inferred = task
            n_class = n_class if task == "multiclass" else 2
        else:
            raise ModelError(
                f"The LightGBM model has the objective {objective!r}, which afterfit does not "
                "evaluate (it handles binary, multiclass and regression objectives).",
                fix="evaluate a classifier or regressor (ranking models are not supported); "
                "for a custom objective pass task=.",
            )
        task = task or inferred
        if (task == "regression") != (inferred == "regression"):
            raise ModelError(
                f"The LightGBM model has the objective {objective!r}, which does not fit the "
                f"task given, {task!r}.",
                fix="leave task out to use the task of the objective.",
            )
        n_classes = 2 if inferred == "binary" else n_class
        self.booster = booster
        self.objective = objective
        self.task: Task = task
        self.classes_: np.ndarray | None = _resolve_classes(
            task, n_classes, classes_arg, "the LightGBM model"
        )
        # multiclassova gives one sigmoid per class: scores, not a distribution; a custom
        # objective gives raw scores.
        self.scores_are_probabilities = objective in ("binary", "multiclass", "cross_entropy")
        self.feature_names: list[str] | None = _clean_names(booster.feature_name())
        self.n_features: int | None = int(booster.num_feature())
        self.feature_dtypes: dict[str, str] | None = None
        self.input_dtype: str | None = None

    def __repr__(self) -> str:
        return f"LightGBMModel(objective={self.objective!r}, task={self.task!r})"

    def _prepare(self, X: Any) -> Any:
        X = to_frame(X)
        if isinstance(X, pd.DataFrame) and self.feature_names is None:
            return X.to_numpy()
        return lightgbm_categories(self.booster, X)

    def predict_scores(self, X: Any) -> np.ndarray:
        """Probabilities ``(n, n_classes)`` or predictions ``(n,)``."""
        out = np.asarray(self.booster.predict(self._prepare(X)), dtype=np.float64)
        if self.task == "regression":
            return out.reshape(-1)
        if self.task == "binary" and (out.ndim == 1 or out.shape[1] == 1):
            return two_columns(out)
        if out.ndim != 2 or out.shape[1] != len(self.classes_):
            raise ModelError(
                f"The LightGBM model returned scores of shape {out.shape}, but it has "
                f"{len(self.classes_)} classes ({short_list(self.classes_)}).",
                fix="check that the model file is a classifier with these classes.",
            )
        return out

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels (the highest score) or values."""
        scores = self.predict_scores(X)
        if self.task == "regression":
            return scores
        return labels_from_scores(scores, self.classes_)
