"""A model with everything needed to serve it safely, verified on load.

Owns ``Bundle``, ``build_bundle`` and ``load_bundle`` (``core``), ``manifest.json`` and the
SHA-256 of every file (``manifest``), ``MODEL_CARD.md`` (``model_card``), the decision rule
as plain JSON (``decision``), the input schema (``schema``), the reference statistics for
drift (``reference``) and their count measures (``drift``). Which input columns a model
reads is the model's (:mod:`afterfit.models.used_columns`).

May import layers 0-3 and ``exporters``; never serving, monitoring, the report or the CLI.
"""

from afterfit.bundle.core import Bundle, BundlePredictions, build_bundle, load_bundle
from afterfit.bundle.drift import DriftThresholds
from afterfit.bundle.manifest import BundleError
from afterfit.bundle.reference import ReferenceStats
from afterfit.bundle.schema import InputSchema
from afterfit.bundle.validation import SchemaValidationError

__all__ = [
    "Bundle",
    "BundleError",
    "BundlePredictions",
    "DriftThresholds",
    "InputSchema",
    "ReferenceStats",
    "SchemaValidationError",
    "build_bundle",
    "load_bundle",
]
