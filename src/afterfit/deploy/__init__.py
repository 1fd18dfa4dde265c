"""Getting a model into production and watching it: ONNX export with parity checks, a
verified bundle, the model server and drift monitoring.

Modules: ``schema`` (the input schema learned from training data, record validation),
``export`` (ONNX with parity, skops fallback), ``bundle`` (build, verify, load),
``server`` (FastAPI app), ``predlog`` (the prediction log in SQLite or PostgreSQL),
``reference`` and ``drift`` (reference statistics and drift measures), ``monitor``.
"""

from afterfit.deploy.batch import BatchSummary, predict_file
from afterfit.deploy.bundle import Bundle, BundlePredictions, build_bundle, load_bundle
from afterfit.deploy.drift import DriftThresholds
from afterfit.deploy.export import ExportResult, Parity, export_model
from afterfit.deploy.manifest import BundleError

# ``monitor`` (the function) is exported by ``afterfit`` itself: here it would shadow the module.
from afterfit.deploy.monitor import MonitorResult, monitor_bundle, write_monitor_report
from afterfit.deploy.reference import ReferenceStats
from afterfit.deploy.schema import InputSchema, SchemaValidationError

__all__ = [
    "BatchSummary",
    "Bundle",
    "BundleError",
    "BundlePredictions",
    "DriftThresholds",
    "ExportResult",
    "InputSchema",
    "MonitorResult",
    "Parity",
    "ReferenceStats",
    "SchemaValidationError",
    "build_bundle",
    "export_model",
    "load_bundle",
    "monitor_bundle",
    "predict_file",
    "write_monitor_report",
]
