"""Evaluation: every metric with a confidence interval, the confusion matrix and curves."""

from afterfit.evaluation.evaluate import Evaluation, evaluate, evaluate_predictions
from afterfit.evaluation.results import (
    CalibrationResult,
    ConfusionResult,
    CurveResult,
    MetricTable,
    MetricValue,
    ResidualsResult,
)
from afterfit.evaluation.streaming import evaluate_dataset

__all__ = [
    "CalibrationResult",
    "ConfusionResult",
    "CurveResult",
    "Evaluation",
    "MetricTable",
    "MetricValue",
    "ResidualsResult",
    "evaluate",
    "evaluate_dataset",
    "evaluate_predictions",
]
