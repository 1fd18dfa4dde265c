"""Calibration: how far to trust a classifier's probabilities, and how to fix them.

- :func:`evaluate_calibration`: reliability diagrams with bootstrap bands (binary; multiclass
  top-label and one-vs-rest), ECE and MCE with equal-width and equal-mass bins, and the
  Brier score decomposition (reliability, resolution, uncertainty), all with intervals.
- :func:`calibrate`: fit a sigmoid (Platt), isotonic or temperature map on a calibration
  split; returns a :class:`CalibratedModel`, a scikit-learn classifier savable with skops.
- :func:`compare_calibration`: two models (before and after) on the same held-out rows,
  with paired bootstrap intervals of the differences, and both curves on one figure.

``import afterfit.calibration`` does not import scikit-learn; :class:`CalibratedModel`
(a scikit-learn estimator) is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from afterfit.calibration.calibrators import ISOTONIC_MIN_ROWS, METHODS
from afterfit.calibration.comparison import compare_calibration
from afterfit.calibration.files import write_calibration
from afterfit.calibration.fitting import calibrate
from afterfit.calibration.report import evaluate_calibration
from afterfit.calibration.results import (
    BrierDecomposition,
    CalibrationComparison,
    CalibrationReport,
    CalibrationSettings,
    ComparisonRow,
    ReliabilityCurve,
)

if TYPE_CHECKING:
    from afterfit.calibration.model import CalibratedModel

__all__ = [
    "ISOTONIC_MIN_ROWS",
    "METHODS",
    "BrierDecomposition",
    "CalibratedModel",
    "CalibrationComparison",
    "CalibrationReport",
    "CalibrationSettings",
    "ComparisonRow",
    "ReliabilityCurve",
    "calibrate",
    "compare_calibration",
    "evaluate_calibration",
    "write_calibration",
]


def __getattr__(name: str) -> Any:
    if name == "CalibratedModel":
        from afterfit.calibration.model import CalibratedModel

        return CalibratedModel
    raise AttributeError(f"module 'afterfit.calibration' has no attribute {name!r}")
