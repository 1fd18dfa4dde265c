"""Explanations of a trained model: permutation importance, SHAP, LIME and anchors."""

from afterfit.explain.anchors import AnchorExplanation, AnchorTabular
from afterfit.explain.lime import LimeExplanation, LimeTabular, explain_rows
from afterfit.explain.permutation import (
    PermutationImportance,
    group_by_prefix,
    permutation_importance,
)
from afterfit.explain.shap_values import Additivity, ShapValues, shap_values

__all__ = [
    "Additivity",
    "AnchorExplanation",
    "AnchorTabular",
    "LimeExplanation",
    "LimeTabular",
    "PermutationImportance",
    "ShapValues",
    "explain_rows",
    "group_by_prefix",
    "permutation_importance",
    "shap_values",
]
