"""Slices and fairness: how the model does *for whom*, with honest intervals.

- :func:`evaluate_slices` / :func:`evaluate_slices_predictions`: every metric per slice (categorical
  columns, binned numeric columns, crossings of two) with its interval, its gap to the
  rest of the rows and a Holm-adjusted test; fairness metrics for a sensitive column; weak
  segments searched on one half of the rows and confirmed on the other.
- :mod:`~afterfit.slices.definitions`: slice specs (``"age:quantiles=4"``) to row codes.
- :mod:`~afterfit.slices.metrics`: per-slice metrics through the one-sort kernel.
- :mod:`~afterfit.slices.fairness`: fairness metrics and their bootstrap.
- :mod:`~afterfit.slices.segments`: weak segments that survive confirmation.
"""

from afterfit.slices.api import evaluate_slices, evaluate_slices_predictions
from afterfit.slices.definitions import SliceSpec, Slicing, build_slicings, parse_spec
from afterfit.slices.fairness import FairnessResult, fairness_predictions
from afterfit.slices.results import SliceResult
from afterfit.slices.segments import SegmentResult, weak_segments

__all__ = [
    "FairnessResult",
    "SegmentResult",
    "SliceResult",
    "SliceSpec",
    "Slicing",
    "build_slicings",
    "evaluate_slices",
    "evaluate_slices_predictions",
    "fairness_predictions",
    "parse_spec",
    "weak_segments",
]
