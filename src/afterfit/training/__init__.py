"""How the model got where it is: loss curves, training logs and learning curves.

Owns the curves an estimator records while it fits (:func:`training_curves`), the
training logs a user passes (:func:`read_history`) and learning curves refitted on growing
parts of the training data (:func:`learning_curve`), with their results
(:class:`TrainingCurves`, :class:`LearningCurve`, :class:`Curve`).

May import the ground floor (errors, jsonsafe, plots), :mod:`afterfit.models`, numpy,
pandas, scikit-learn; never :mod:`afterfit.report`, :mod:`afterfit.cli` or the serving
modules. The report's Training section is built in :mod:`afterfit.report.sections.training`.
"""

from afterfit.training.results import (
    Curve,
    LearningCurve,
    TrainingCurves,
    learning_curve,
    line_dashes,
    read_history,
    split_colours,
    split_kind,
    training_curves,
)

__all__ = [
    "Curve",
    "LearningCurve",
    "TrainingCurves",
    "learning_curve",
    "line_dashes",
    "read_history",
    "split_colours",
    "split_kind",
    "training_curves",
]
