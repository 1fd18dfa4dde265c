"""afterfit: everything after ``model.fit()``.

>>> import afterfit
>>> ev = afterfit.evaluate(model, X_test, y_test, random_state=0)  # doctest: +SKIP
>>> ev.metrics.frame()  # doctest: +SKIP

The public API follows one naming rule (docs/architecture.md):

- **Functions are verbs**: one per step, named for what it does (``evaluate``,
  ``calibrate``, ``evaluate_calibration``, ``select_threshold``, ``compare_models``,
  ``explain_model``, ``compute_saliency``, ``evaluate_slices``, ``cross_validate``,
  ``tune``, ``build_ensemble``, ``export_model``, ``build_bundle``, ``monitor``); a
  function that works on ready predictions adds ``_predictions``
  (``evaluate_predictions``).
- **Results are nouns**: frozen classes named for what they hold (``Evaluation``,
  ``CalibrationReport``, ``Comparison``, ``Explanations``, ``SaliencyMaps``,
  ``SliceResult``, ``CVResult``, ``TuningResult``, ``MonitorResult``...); errors end in
  ``Error``.
- **Modules are nouns and are never shadowed**: no name exported here is also the name of
  a module or subpackage of afterfit (importing ``afterfit.saliency`` sets that attribute
  to the subpackage, so a function of that name would flip between the two). Helpers stay
  in their packages (``afterfit.selection.corrected_resampled_t``).

One subpackage still carries a verb name, ``afterfit.explain``; it is renamed in the second
phase of issue 19 (docs/architecture.md).
"""

from afterfit import display as _display
from afterfit import notebook as _notebook
from afterfit._version import __version__
from afterfit.bundle import (
    Bundle,
    BundleError,
    InputSchema,
    ReferenceStats,
    SchemaValidationError,
    build_bundle,
    load_bundle,
)
from afterfit.calibration import (
    CalibratedModel,
    CalibrationComparison,
    CalibrationReport,
    calibrate,
    compare_calibration,
    evaluate_calibration,
)
from afterfit.comparison import Comparison, compare_models, compare_predictions
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
from afterfit.evaluation import Evaluation, evaluate, evaluate_dataset, evaluate_predictions
from afterfit.explain import (
    AnchorTabular,
    Explanations,
    LimeTabular,
    LocalExplanations,
    PartialDependence,
    PermutationImportance,
    RowExplanation,
    explain_local,
    explain_model,
    explain_row,
)
from afterfit.explain import partial_dependence as compute_partial_dependence
from afterfit.explain import permutation_importance as compute_permutation_importance
from afterfit.explain import shap_values as compute_shap_values
from afterfit.exporters import ExportResult, export_model
from afterfit.models import Model, as_model, load_model
from afterfit.monitoring import MonitorResult, monitor, monitor_bundle
from afterfit.predictions import Predictions
from afterfit.report.files import write_results
from afterfit.saliency import SaliencyMaps, compute_saliency
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
    cross_validate,
    make_splitter,
    nested_tune,
    train_ensemble,
)
from afterfit.selection.tune import tune
from afterfit.serving import predict_file
from afterfit.slices import SliceResult, evaluate_slices
from afterfit.thresholds import (
    CostSensitiveModel,
    ThresholdedModel,
    select_threshold,
    select_threshold_predictions,
)

# Results show in notebooks through afterfit.display, which the steps may import; the
# renderer lives above them (it draws with the report's sections) and is plugged in here.
_display.register_html(_notebook.result_html)

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
    "PartialDependence",
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
    "compare_calibration",
    "compare_cv",
    "compare_cv_models",
    "compare_models",
    "compare_predictions",
    "compute_partial_dependence",
    "compute_permutation_importance",
    "compute_saliency",
    "compute_shap_values",
    "cross_validate",
    "evaluate",
    "evaluate_calibration",
    "evaluate_dataset",
    "evaluate_predictions",
    "evaluate_slices",
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
    "predict_file",
    "read_table",
    "select_threshold",
    "select_threshold_predictions",
    "train_ensemble",
    "tune",
    "write_results",
]
