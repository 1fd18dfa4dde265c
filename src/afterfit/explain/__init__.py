"""Explanations of a trained model: permutation importance and LIME (SHAP and anchors to
come, issue 5)."""

from afterfit.explain.lime import LimeExplanation, LimeTabular, explain_rows
from afterfit.explain.permutation import (
    PermutationImportance,
    group_by_prefix,
    permutation_importance,
)

__all__ = [
    "LimeExplanation",
    "LimeTabular",
    "PermutationImportance",
    "explain_rows",
    "group_by_prefix",
    "permutation_importance",
]
