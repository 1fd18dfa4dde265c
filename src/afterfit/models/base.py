"""The one protocol every model adapter follows.

Steps see a model only through this protocol, so a scikit-learn pipeline, an ONNX Runtime
session and a PyTorch module are interchangeable everywhere afterfit uses a model.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[Task, ...] = ("binary", "multiclass", "regression")


@runtime_checkable
class Model(Protocol):
    """A trained model, as afterfit sees it.

    Attributes
    ----------
    task : {"binary", "multiclass", "regression"}
    classes_ : numpy.ndarray or None
        Class labels in the order of the columns of :meth:`predict_scores`; ``None`` for
        regression.
    feature_names : list of str or None
        Input columns in the order the model expects, when the model records them.
    scores_are_probabilities : bool
        Whether :meth:`predict_scores` returns class probabilities (rows sum to 1) rather
        than decision scores.
    """

    task: Task
    classes_: np.ndarray | None
    feature_names: list[str] | None
    scores_are_probabilities: bool

    def predict_scores(self, X: Any) -> np.ndarray:
        """Classification: an ``(n, n_classes)`` array in ``classes_`` order (probabilities,
        or decision scores when the model has none). Regression: ``(n,)`` predictions."""
        ...

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels (classification, in the original label type) or values."""
        ...
