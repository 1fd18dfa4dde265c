"""afterfit: everything after ``model.fit()``.

>>> import afterfit
>>> ev = afterfit.evaluate(model, X_test, y_test, random_state=0)  # doctest: +SKIP
>>> ev.metrics.frame()  # doctest: +SKIP
"""

from afterfit.calibration import (
    CalibratedModel,
    CalibrationComparison,
    CalibrationReport,
    calibrate,
    calibration_report,
    compare_calibration,
)
from afterfit.compare import Comparison, compare_models, compare_predictions
from afterfit.data import Dataset, load_dataset, read_table
from afterfit.errors import (
    AfterfitError,
    AfterfitWarning,
    DataError,
    InvalidInputError,
    MetricError,
    MissingDependencyError,
    ModelError,
    ModelLoadError,
    SchemaError,
    UntrustedModelError,
)
from afterfit.evaluation import Evaluation, evaluate, evaluate_predictions
from afterfit.explain import (
    AnchorTabular,
    Explanations,
    LimeTabular,
    LocalExplanations,
    PermutationImportance,
    RowExplanation,
    explain_local,
    explain_model,
    explain_row,
    permutation_importance,
    shap_values,
)
from afterfit.models import Model, as_model, load_model
from afterfit.predictions import Predictions
from afterfit.report.files import write_results

# The function shadows the subpackage's name on purpose: ``afterfit.saliency(model, images)``.
# Submodules still import as usual: ``from afterfit.saliency import load_images``.
from afterfit.saliency import SaliencyMaps, saliency
from afterfit.thresholds import (
    CostSensitiveModel,
    ThresholdedModel,
    select_threshold,
    select_threshold_predictions,
)

__version__ = "0.1.0"
__all__ = [
    "AfterfitError",
    "AfterfitWarning",
    "AnchorTabular",
    "CalibratedModel",
    "CalibrationComparison",
    "CalibrationReport",
    "Comparison",
    "CostSensitiveModel",
    "DataError",
    "Dataset",
    "Evaluation",
    "Explanations",
    "InvalidInputError",
    "LimeTabular",
    "LocalExplanations",
    "MetricError",
    "MissingDependencyError",
    "Model",
    "ModelError",
    "ModelLoadError",
    "PermutationImportance",
    "Predictions",
    "RowExplanation",
    "SaliencyMaps",
    "SchemaError",
    "ThresholdedModel",
    "UntrustedModelError",
    "__version__",
    "as_model",
    "calibrate",
    "calibration_report",
    "compare_calibration",
    "compare_models",
    "compare_predictions",
    "evaluate",
    "evaluate_predictions",
    "explain_local",
    "explain_model",
    "explain_row",
    "load_dataset",
    "load_model",
    "permutation_importance",
    "read_table",
    "saliency",
    "select_threshold",
    "select_threshold_predictions",
    "shap_values",
    "write_results",
]
