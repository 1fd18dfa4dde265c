"""Decision thresholds: the exact optimum of an objective over every distinct score.

>>> import afterfit
>>> sel = afterfit.select_threshold(model, X_val, y_val, objective="f1")  # doctest: +SKIP
>>> sel.threshold, sel.ci, sel.value                                     # doctest: +SKIP
>>> sel.curve.plot(); thresholded = sel.apply(model)                     # doctest: +SKIP

Binary objectives: ``f1``, ``fbeta``, ``youden``, ``balanced_accuracy``, ``cost``,
``recall_at_precision``, ``precision_at_recall``, ``positive_rate``, ``top_k``. Multiclass:
minimum expected cost under a ``K x K`` cost matrix (:class:`CostDecision`), or each class's
one-vs-rest threshold for any other objective but the budgets (:class:`PerClassThresholds`).

Convention: a row is predicted positive iff ``score > threshold``; the threshold of a
candidate is the midpoint between the lowest score it flags and the highest it does not
(the highest score when it flags nothing, just below the lowest when it flags everything).
Ties in the objective go to the highest threshold.
"""

from afterfit.thresholds._core import OBJECTIVES, Costs, Objective, make_objective
from afterfit.thresholds._files import write_threshold_results
from afterfit.thresholds._models import CostSensitiveModel, ThresholdedModel
from afterfit.thresholds._operating import OperatingPoint, cross_fitted, operating_point
from afterfit.thresholds._results import (
    SPLITS,
    CostDecision,
    PerClassThresholds,
    ThresholdCurve,
    ThresholdSelection,
)
from afterfit.thresholds._select import select_threshold, select_threshold_predictions

__all__ = [
    "OBJECTIVES",
    "SPLITS",
    "CostDecision",
    "CostSensitiveModel",
    "Costs",
    "Objective",
    "OperatingPoint",
    "PerClassThresholds",
    "ThresholdCurve",
    "ThresholdSelection",
    "ThresholdedModel",
    "cross_fitted",
    "make_objective",
    "operating_point",
    "select_threshold",
    "select_threshold_predictions",
    "write_threshold_results",
]
