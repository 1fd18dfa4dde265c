"""Statistical comparison of models scored on the same rows.

:func:`compare_models` scores each model on the same test data; :func:`compare_predictions`
compares saved scores. Both give a :class:`Comparison`: one row per (pair of models,
metric) with the difference, its interval, a paired test's p-value, the Holm-adjusted
p-value and a verdict; each model's metrics with intervals; figures.
"""

from afterfit.comparison.core import DEFAULT_METRICS, compare_models, compare_predictions
from afterfit.comparison.files import comparison_document, write_comparison
from afterfit.comparison.results import Comparison, ComparisonRow, ComparisonSettings, ModelMetric
from afterfit.comparison.stats import (
    PairTest,
    bootstrap_p_value,
    delong_test,
    holm,
    mcnemar_test,
    paired_t_test,
)

__all__ = [
    "DEFAULT_METRICS",
    "Comparison",
    "ComparisonRow",
    "ComparisonSettings",
    "ModelMetric",
    "PairTest",
    "bootstrap_p_value",
    "compare_models",
    "compare_predictions",
    "comparison_document",
    "delong_test",
    "holm",
    "mcnemar_test",
    "paired_t_test",
    "write_comparison",
]
