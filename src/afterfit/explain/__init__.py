"""Explanations of a trained model: permutation importance, LIME and anchors (SHAP to come,
issue 5)."""

from afterfit.explain.anchors import AnchorExplanation, AnchorTabular
from afterfit.explain.lime import LimeExplanation, LimeTabular, explain_rows
from afterfit.explain.permutation import (
    PermutationImportance,
    group_by_prefix,
    permutation_importance,
)

__all__ = [
    "AnchorExplanation",
    "AnchorTabular",
    "LimeExplanation",
    "LimeTabular",
    "PermutationImportance",
    "explain_rows",
    "group_by_prefix",
    "permutation_importance",
]
