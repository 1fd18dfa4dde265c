"""Models: the :class:`Model` protocol, its adapters, and safe loading.

``import afterfit.models`` imports neither torch, xgboost nor lightgbm; each adapter
imports its library when a model of that kind is made.
"""

from afterfit.models.base import TASKS, Model, Task
from afterfit.models.boosters import LightGBMModel, XGBoostModel
from afterfit.models.loading import SUPPORTED_EXTENSIONS, as_model, load_model
from afterfit.models.onnx import OnnxModel
from afterfit.models.sklearn import SklearnModel
from afterfit.models.torch import TorchModel

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "TASKS",
    "LightGBMModel",
    "Model",
    "OnnxModel",
    "SklearnModel",
    "Task",
    "TorchModel",
    "XGBoostModel",
    "as_model",
    "load_model",
]
