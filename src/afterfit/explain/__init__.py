"""Explanations of a trained model: permutation importance, SHAP, LIME, anchors and
partial dependence."""

from afterfit.explain.anchors import AnchorExplanation, AnchorTabular
from afterfit.explain.dependence import (
    FeatureDependence,
    PairDependence,
    PartialDependence,
    partial_dependence,
)
from afterfit.explain.explain import Explanations, explain_model, write_explanations
from afterfit.explain.interactions import Interaction, h_statistics
from afterfit.explain.lime import LimeExplanation, LimeTabular, explain_rows
from afterfit.explain.local import (
    Agreement,
    LocalExplanations,
    RowExplanation,
    explain_local,
    explain_row,
    rank_agreement,
)
from afterfit.explain.permutation import (
    PermutationImportance,
    group_by_prefix,
    permutation_importance,
)
from afterfit.explain.rows import RowSelection, select_rows
from afterfit.explain.shap_values import Additivity, ShapValues, shap_values

__all__ = [
    "Additivity",
    "Agreement",
    "AnchorExplanation",
    "AnchorTabular",
    "Explanations",
    "FeatureDependence",
    "Interaction",
    "LimeExplanation",
    "LimeTabular",
    "LocalExplanations",
    "PairDependence",
    "PartialDependence",
    "PermutationImportance",
    "RowExplanation",
    "RowSelection",
    "ShapValues",
    "explain_local",
    "explain_model",
    "explain_row",
    "explain_rows",
    "group_by_prefix",
    "h_statistics",
    "partial_dependence",
    "permutation_importance",
    "rank_agreement",
    "select_rows",
    "shap_values",
    "write_explanations",
]
