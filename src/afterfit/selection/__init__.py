"""Model selection after training: cross-validation with honest intervals, hyperparameter
tuning (Optuna) and ensembles of trained models.

Modules: ``splitters`` and ``cv`` (cross-validation, the corrected resampled t interval),
``tune`` (the step), ``nested`` (nested cross-validation), ``study`` (one Optuna study),
``spaces`` and ``storage``, ``ensemble`` (greedy selection, weighted soft voting, stacking,
bagging and boosting). Imports point one way: ``tune`` -> ``nested`` -> ``study``.
"""

from afterfit.selection.corrected import corrected_resampled_t
from afterfit.selection.cv import (
    CVComparison,
    CVResult,
    FoldResult,
    compare_cv,
    compare_cv_models,
    cross_validate,
    fit_and_score,
)
from afterfit.selection.ensemble import EnsembleResult, Gain, build_ensemble, train_ensemble
from afterfit.selection.ensemble_estimator import EnsembleClassifier, EnsembleRegressor
from afterfit.selection.nested import NestedResult, nested_tune
from afterfit.selection.spaces import SearchSpace, default_space, resolve_space
from afterfit.selection.splitters import make_splitter, split_indices

# ``tune`` (the function) is exported by ``afterfit`` itself: here it would shadow the module.
from afterfit.selection.study import TuningResult

__all__ = [
    "CVComparison",
    "CVResult",
    "EnsembleClassifier",
    "EnsembleRegressor",
    "EnsembleResult",
    "FoldResult",
    "Gain",
    "NestedResult",
    "SearchSpace",
    "TuningResult",
    "build_ensemble",
    "compare_cv",
    "compare_cv_models",
    "corrected_resampled_t",
    "cross_validate",
    "default_space",
    "fit_and_score",
    "make_splitter",
    "nested_tune",
    "resolve_space",
    "split_indices",
    "train_ensemble",
]
