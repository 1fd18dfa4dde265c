"""Explanations of a trained model: permutation importance (and, later, LIME, SHAP...)."""

from afterfit.explain.permutation import (
    PermutationImportance,
    group_by_prefix,
    permutation_importance,
)

__all__ = ["PermutationImportance", "group_by_prefix", "permutation_importance"]
