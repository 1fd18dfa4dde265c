"""afterfit: everything after ``model.fit()``.

>>> import afterfit
>>> ev = afterfit.evaluate(model, X_test, y_test, random_state=0)  # doctest: +SKIP
>>> ev.metrics.frame()  # doctest: +SKIP
"""

from afterfit._version import __version__
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
from afterfit.deploy import (
    Bundle,
    BundleError,
    ExportResult,
    InputSchema,
    MonitorResult,
    ReferenceStats,
    SchemaValidationError,
    build_bundle,
    export_model,
    load_bundle,
    monitor_bundle,
    predict_file,
)
from afterfit.deploy.monitor import monitor
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
from afterfit.selection import (
    CVComparison,
    CVResult,
    EnsembleClassifier,
    EnsembleRegressor,
    EnsembleResult,
    NestedResult,
    TuningResult,
    build_ensemble,
    compare_cv,
    compare_cv_models,
    corrected_resampled_t,
    cross_validate,
    make_splitter,
    nested_tune,
    train_ensemble,
)
from afterfit.selection.tune import tune

# As saliency: ``afterfit.slices(model, X, y, by=[...])``; submodules import as usual.
from afterfit.slices import SliceResult, slices
from afterfit.thresholds import (
    CostSensitiveModel,
    ThresholdedModel,
    select_threshold,
    select_threshold_predictions,
)

__all__ = [
    "AfterfitError",
    "AfterfitWarning",
    "AnchorTabular",
    "Bundle",
    "BundleError",
    "CVComparison",
    "CVResult",
    "CalibratedModel",
    "CalibrationComparison",
    "CalibrationReport",
    "Comparison",
    "CostSensitiveModel",
    "DataError",
    "Dataset",
    "EnsembleClassifier",
    "EnsembleRegressor",
    "EnsembleResult",
    "Evaluation",
    "Explanations",
    "ExportResult",
    "InputSchema",
    "InvalidInputError",
    "LimeTabular",
    "LocalExplanations",
    "MetricError",
    "MissingDependencyError",
    "Model",
    "ModelError",
    "ModelLoadError",
    "MonitorResult",
    "NestedResult",
    "PermutationImportance",
    "Predictions",
    "ReferenceStats",
    "RowExplanation",
    "SaliencyMaps",
    "SchemaError",
    "SchemaValidationError",
    "SliceResult",
    "ThresholdedModel",
    "TuningResult",
    "UntrustedModelError",
    "__version__",
    "as_model",
    "build_bundle",
    "build_ensemble",
    "calibrate",
    "calibration_report",
    "compare_calibration",
    "compare_cv",
    "compare_cv_models",
    "compare_models",
    "compare_predictions",
    "corrected_resampled_t",
    "cross_validate",
    "evaluate",
    "evaluate_predictions",
    "explain_local",
    "explain_model",
    "explain_row",
    "export_model",
    "load_bundle",
    "load_dataset",
    "load_model",
    "make_splitter",
    "monitor",
    "monitor_bundle",
    "nested_tune",
    "permutation_importance",
    "predict_file",
    "read_table",
    "saliency",
    "select_threshold",
    "select_threshold_predictions",
    "shap_values",
    "slices",
    "train_ensemble",
    "tune",
    "write_results",
]
