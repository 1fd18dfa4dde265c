"""Native XGBoost and LightGBM boosters to ONNX (onnxmltools).

A ``Booster`` (from ``xgb.train``/``lgb.train`` or a ``.json``, ``.ubj`` or LightGBM
``.txt`` file) is converted directly, without a scikit-learn wrapper. The graph takes one
float32 matrix ``X`` in the booster's feature order: boosters compare float32 feature
values with their split thresholds, so a double graph would compute the same thing again
(the export offers float32 only).

onnxmltools reads the feature of each XGBoost split from names of the form ``f0, f1...``;
a copy of the booster without feature names is converted, and afterfit's metadata keeps
the names for the schema and the server.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from afterfit.errors import ModelError
from afterfit.models.base import Model

__all__ = ["booster_to_onnx", "is_booster_adapter"]

#: Trees summed per group in double by LightGBM regression graphs.
_SPLIT = 100


def is_booster_adapter(adapter: Model) -> bool:
    """Whether ``adapter`` wraps a native XGBoost or LightGBM booster."""
    from afterfit.models.boosters import LightGBMModel, XGBoostModel

    return isinstance(adapter, XGBoostModel | LightGBMModel)


def _free_batch_dimension(onx: Any) -> None:
    """onnxmltools declares LightGBM's label output with a fixed length of 1; ONNX Runtime
    then warns on every batch of another size. The first dimension is the batch."""
    for out in onx.graph.output:
        dims = out.type.tensor_type.shape.dim
        if len(dims) >= 1 and dims[0].HasField("dim_value"):
            dims[0].dim_param = "N"


def booster_to_onnx(adapter: Model, X: pd.DataFrame, *, target_opset: int | None) -> Any:
    """Convert the booster of an :class:`~afterfit.models.boosters.XGBoostModel` or
    :class:`~afterfit.models.boosters.LightGBMModel` to an ONNX ``ModelProto``.

    Parameters
    ----------
    adapter : XGBoostModel or LightGBMModel
    X : pandas.DataFrame
        Rows with the booster's columns, in its order (only their number is read).
    target_opset : int or None
        The ONNX opset of the default domain; None for onnxmltools' default.

    Returns
    -------
    onnx.ModelProto
        One input ``X`` (float32 matrix); outputs ``label`` and ``probabilities`` for
        classifiers, ``variable`` for regression.

    Raises
    ------
    ModelError
        A model that is neither an XGBoost nor a LightGBM booster.
    Exception
        Whatever onnxmltools raises (an objective or split it has no converter for); the
        caller turns it into a fallback reason. Objectives it converts differently from
        the booster are caught by the caller's parity check.
    """
    from onnxmltools.convert.common.data_types import FloatTensorType

    from afterfit.models.boosters import LightGBMModel, XGBoostModel

    initial = [("X", FloatTensorType([None, X.shape[1]]))]
    if isinstance(adapter, XGBoostModel):
        from onnxmltools import convert_xgboost

        if "c" in (adapter.booster.feature_types or []):
            raise ModelError(
                "onnxmltools does not convert XGBoost's categorical splits "
                "(enable_categorical=True)",
                fix="one-hot or ordinal-encode the categories before training to export to "
                "ONNX, or bundle with skops (the server then needs --trusted-type "
                "xgboost.core.Booster).",
            )
        booster = adapter.booster.copy()
        booster.feature_names = None
        booster.feature_types = None
        onx = convert_xgboost(booster, initial_types=initial, target_opset=target_opset)
    elif isinstance(adapter, LightGBMModel):
        from onnxmltools import convert_lightgbm

        # Regression sums the trees in groups of 100 in double: float32 sums of thousands
        # of trees drift by more than 1e-5 (as for LGBMRegressor in export_sklearn). With
        # 100 trees or fewer there is one group, and onnxmltools refuses to split.
        many = adapter.booster.num_trees() > _SPLIT
        split = _SPLIT if adapter.task == "regression" and many else None
        onx = convert_lightgbm(
            adapter.booster,
            initial_types=initial,
            target_opset=target_opset,
            zipmap=False,
            split=split,
        )
    else:  # pragma: no cover - callers check is_booster_adapter first
        raise ModelError(
            f"{type(adapter).__name__} is not a native XGBoost or LightGBM booster.",
            fix="pass an xgboost.Booster or lightgbm.Booster.",
        )
    _free_batch_dimension(onx)
    return onx
