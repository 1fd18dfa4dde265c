"""A trained model to ONNX, with parity checks on real rows (skops when ONNX cannot be had).

Owns ``export_model`` and ``ExportResult`` (``core``) and the converters: scikit-learn and the
boosters' scikit-learn API (``sklearn``), native XGBoost and LightGBM boosters
(``boosters``), PyTorch (``torch``).

May import layers 0-3 (models, data, documents); never the bundle's core, serving or
monitoring.
"""

from afterfit.exporters.core import ExportResult, Parity, export_model

__all__ = ["ExportResult", "Parity", "export_model"]
