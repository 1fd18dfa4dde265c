"""How the model got where it is: loss curves, training logs and learning curves.

Owns the curves an estimator records while it fits (:func:`training_curves`), the
training logs a user passes (:func:`read_history`) and learning curves refitted on growing
parts of the training data (:func:`learning_curve`), with their results
(:class:`TrainingCurves`, :class:`LearningCurve`, :class:`Curve`).

Modules, one idea each: ``names`` (what a metric's name says: direction, split),
``results`` (the frozen results), ``recorded`` (curves estimators record), ``logs``
(training logs), ``learning`` (learning curves), ``plots`` (matplotlib; results call it),
``_estimators`` (unwrapping pipelines, wrappers and adapters).

May import the ground floor (errors, jsonsafe, plots), :mod:`afterfit.models`, numpy,
pandas, scikit-learn; never :mod:`afterfit.report`, :mod:`afterfit.cli` or the serving
modules. The report's Training section is built in :mod:`afterfit.report.sections.training`.
"""

from afterfit.training.learning import learning_curve
from afterfit.training.logs import read_history
from afterfit.training.recorded import training_curves
from afterfit.training.results import Curve, LearningCurve, TrainingCurves

__all__ = [
    "Curve",
    "LearningCurve",
    "TrainingCurves",
    "learning_curve",
    "read_history",
    "training_curves",
]
