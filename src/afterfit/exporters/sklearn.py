"""scikit-learn, XGBoost and LightGBM models to ONNX (skl2onnx, onnxmltools).

The graph's inputs follow the training frame: a model whose columns are all numeric and
that selects no columns by name takes one ``(n, n_features)`` matrix named ``X``; a
pipeline with a ``ColumnTransformer`` or with text/category columns takes one ``(n, 1)``
input per column (numbers as float or double tensors, text as string tensors), the form
:class:`~afterfit.models.onnx.OnnxModel` feeds from a DataFrame.

Missing text values are fed as the string ``"nan"`` (``str(numpy.nan)``, which is also how
skl2onnx writes a ``NaN`` category of a ``OneHotEncoder``); a ``SimpleImputer`` on text
columns with ``missing_values=np.nan`` (scikit-learn's default, which skl2onnx does not
convert) is converted here to replace that string.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = [
    "MISSING_TEXT",
    "Precision",
    "find_unconvertible",
    "input_layout",
    "register_boosters",
    "sklearn_to_onnx",
]

Precision = Literal["float32", "float64"]

#: The string a missing text value is fed as (``str(np.nan)``).
MISSING_TEXT = "nan"

_REGISTERED = False


def is_text_column(col: pd.Series) -> bool:
    """Whether a column goes into the graph as a string tensor."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return not pd.api.types.is_numeric_dtype(col.dtype.categories.dtype)
    return not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col))


def _walk(est: Any) -> list[Any]:
    """``est`` and every estimator nested in it (pipelines, column transformers, unions)."""
    found = [est]
    for attr in ("steps", "transformers_", "transformer_list"):
        for item in getattr(est, attr, None) or []:
            sub = item[1] if isinstance(item, tuple) else item
            if sub is None or isinstance(sub, str):
                continue
            found.extend(_walk(sub))
    for attr in ("estimator", "base_estimator", "regressor_", "estimators_"):
        sub = getattr(est, attr, None)
        if attr == "estimators_":
            continue  # ensembles' members are converted by their parent's converter
        if sub is not None and hasattr(sub, "fit"):
            found.extend(_walk(sub))
    return found


def input_layout(estimator: Any, X: pd.DataFrame) -> Literal["matrix", "columns"]:
    """``"columns"`` (one input per column) when the model selects columns by name or
    takes text; ``"matrix"`` (one numeric matrix) otherwise."""
    from sklearn.compose import ColumnTransformer

    if any(is_text_column(X[c]) for c in X.columns):
        return "columns"
    if any(isinstance(e, ColumnTransformer) for e in _walk(estimator)):
        return "columns"
    return "matrix"


def register_boosters() -> None:
    """Register onnxmltools' XGBoost and LightGBM converters with skl2onnx (once), so
    that they convert on their own and inside pipelines."""
    global _REGISTERED
    if _REGISTERED:
        return
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    try:
        import xgboost as xgb
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    except ImportError:  # pragma: no cover - xgboost is an optional extra
        pass
    else:
        update_registered_converter(
            xgb.XGBClassifier, "XGBoostXGBClassifier",
            calculate_linear_classifier_output_shapes, convert_xgboost,
            options=classifier_options,
        )  # fmt: skip
        update_registered_converter(
            xgb.XGBRegressor, "XGBoostXGBRegressor",
            calculate_linear_regressor_output_shapes, convert_xgboost,
        )  # fmt: skip
    try:
        import lightgbm as lgb
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    except ImportError:  # pragma: no cover - lightgbm is an optional extra
        pass
    else:
        update_registered_converter(
            lgb.LGBMClassifier, "LightGbmLGBMClassifier",
            calculate_linear_classifier_output_shapes, convert_lightgbm,
            options=classifier_options,
        )  # fmt: skip
        update_registered_converter(
            lgb.LGBMRegressor, "LightGbmLGBMRegressor",
            calculate_linear_regressor_output_shapes, convert_lightgbm,
            options={"split": None},
        )  # fmt: skip
    _register_imputers()
    _patch_hgb_missing_flags()
    _REGISTERED = True


def _patch_hgb_missing_flags() -> None:
    """skl2onnx 1.20 writes ``missing_go_to_left`` of HistGradientBoosting leaves as a
    Python bool, which onnx >= 1.17 refuses in an integer attribute; pass it as an int."""
    from skl2onnx.common import tree_ensemble

    add_node = tree_ensemble.add_node
    if getattr(add_node, "_afterfit", False):
        return

    def patched(*args: Any, **kwargs: Any) -> Any:
        flag = kwargs.get("nodes_missing_value_tracks_true")
        if flag is not None:
            kwargs["nodes_missing_value_tracks_true"] = int(flag)
        return add_node(*args, **kwargs)

    patched._afterfit = True  # type: ignore[attr-defined]
    tree_ensemble.add_node = patched


def _register_imputers() -> None:
    """Let skl2onnx convert two ``SimpleImputer`` cases it refuses.

    - Text with ``missing_values=np.nan`` (scikit-learn's default): skl2onnx converts
      text imputers only when the missing value is a string. Text reaches the graph with
      missing values as :data:`MISSING_TEXT`, so the imputer is converted as if fitted
      with ``missing_values="nan"``.
    - Double inputs: the ONNX ``Imputer`` operator has no double kernel in ONNX Runtime,
      so ``IsNaN`` + ``Where`` replace missing values with the statistics in double.

    Every other imputer goes to skl2onnx's own converter unchanged.
    """
    from skl2onnx.common._registration import _converter_pool
    from skl2onnx.common.data_types import DoubleTensorType, StringTensorType

    for alias in ("SklearnSimpleImputer", "SklearnImputer"):
        registered = _converter_pool.get(alias)
        if registered is None or getattr(registered._fct, "_afterfit", False):
            continue
        original = registered._fct

        def convert(scope: Any, operator: Any, container: Any, _orig: Any = original) -> Any:
            op = operator.raw_operator
            missing = getattr(op, "missing_values", None)
            nan_missing = not isinstance(missing, str) and missing is not None and pd.isna(missing)
            kind = operator.inputs[0].type
            if isinstance(kind, StringTensorType) and nan_missing:
                import copy

                patched = copy.copy(op)
                patched.missing_values = MISSING_TEXT
                operator.raw_operator = patched
                try:
                    return _orig(scope, operator, container)
                finally:
                    operator.raw_operator = op
            if (
                isinstance(kind, DoubleTensorType)
                and nan_missing
                and not getattr(op, "add_indicator", False)
            ):
                return _double_imputer(scope, operator, container)
            return _orig(scope, operator, container)

        convert._afterfit = True  # type: ignore[attr-defined]
        registered._fct = convert


def _double_imputer(scope: Any, operator: Any, container: Any) -> None:
    from onnx import TensorProto
    from skl2onnx.operator_converters.common import concatenate_variables

    op = operator.raw_operator
    stats = np.asarray(op.statistics_, dtype=np.float64)
    keep = ~np.isnan(stats) if not getattr(op, "keep_empty_features", False) else None
    x = concatenate_variables(scope, operator.inputs, container)
    if keep is not None and not keep.all():
        # scikit-learn drops columns that were all missing in training.
        idx = scope.get_unique_variable_name("kept")
        container.add_initializer(idx, TensorProto.INT64, [int(keep.sum())],
                                  np.flatnonzero(keep).tolist())  # fmt: skip
        gathered = scope.get_unique_variable_name("gathered")
        container.add_node("Gather", [x, idx], [gathered], axis=1)
        x, stats = gathered, stats[keep]
    fill = scope.get_unique_variable_name("fill")
    container.add_initializer(fill, TensorProto.DOUBLE, [1, len(stats)], stats.tolist())
    isnan = scope.get_unique_variable_name("isnan")
    container.add_node("IsNaN", [x], [isnan])
    container.add_node("Where", [isnan, fill, x], [operator.outputs[0].full_name])


def find_unconvertible(estimator: Any) -> list[str]:
    """Names of nested estimators skl2onnx has no converter for (after registration)."""
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from skl2onnx.common._registration import _converter_pool

    missing = []
    for est in _walk(estimator):
        if type(est).__name__ in ("Pipeline", "ColumnTransformer", "FeatureUnion"):
            continue
        alias = sklearn_operator_name_map.get(type(est))
        if alias is None or alias not in _converter_pool:
            missing.append(f"{type(est).__module__}.{type(est).__qualname__}")
    return missing


def _allows(estimator: Any, option: str) -> bool:
    """Whether the converter registered for ``estimator`` accepts ``option`` (unknown
    converters are assumed to, as before)."""
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from skl2onnx.common._registration import _converter_pool

    alias = sklearn_operator_name_map.get(type(estimator))
    registered = _converter_pool.get(alias) if alias is not None else None
    if registered is None:
        return True
    try:
        allowed = registered.get_allowed_options()
    except Exception:  # pragma: no cover - older skl2onnx without the method
        return True
    return allowed is None or option in allowed


def _classifier_options(estimator: Any) -> dict[int, dict[str, Any]]:
    from sklearn.base import is_classifier

    options: dict[int, dict[str, Any]] = {}
    for est in _walk(estimator):
        try:
            classifier = is_classifier(est)
        except Exception:
            classifier = getattr(est, "_estimator_type", None) == "classifier"
        if classifier and type(est).__name__ != "Pipeline":
            # Probabilities as one tensor, not a list of dicts (ZipMap). Converters of
            # decision-score models (LinearSVC) have no ZipMap and refuse the option; they
            # still need an entry, or skl2onnx's pipeline parser gives them zipmap=True.
            options[id(est)] = {"zipmap": False} if _allows(est, "zipmap") else {"nocl": False}
        if type(est).__name__ == "LGBMRegressor":
            # Sums trees in groups of 100 in double: float32 sums of thousands of trees
            # drift by more than 1e-5.
            options[id(est)] = {"split": 100}
    return options


def _initial_types(X: pd.DataFrame, layout: str, precision: Precision) -> list[tuple[str, Any]]:
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType

    number = FloatTensorType if precision == "float32" else DoubleTensorType
    if layout == "matrix":
        return [("X", number([None, X.shape[1]]))]
    return [
        (str(c), StringTensorType([None, 1]) if is_text_column(X[c]) else number([None, 1]))
        for c in X.columns
    ]


def uses_boosters(estimator: Any) -> bool:
    """Whether an XGBoost or LightGBM model is part of ``estimator``."""
    return any(
        type(e).__module__.split(".")[0] in ("xgboost", "lightgbm") for e in _walk(estimator)
    )


def _unnamed_xgboost(estimator: Any) -> Any:
    """A copy whose XGBoost boosters forget their feature names: onnxmltools reads the
    feature of each split from names of the form ``f0, f1...`` only."""
    if not any(type(e).__module__.split(".")[0] == "xgboost" for e in _walk(estimator)):
        return estimator
    import copy

    clone = copy.deepcopy(estimator)
    for est in _walk(clone):
        if type(est).__module__.split(".")[0] == "xgboost":
            est.get_booster().feature_names = None
    return clone


_TREE_WORDS = ("Tree", "Forest", "Boost", "XGB", "LGBM")


def is_tree_model(estimator: Any) -> bool:
    """Whether ``estimator`` is a tree ensemble or tree (scikit-learn, XGBoost, LightGBM)."""
    name = type(estimator).__name__
    return any(w in name for w in _TREE_WORDS)


def double_then_float_trees(estimator: Any) -> Any | None:
    """For a pipeline ending in a tree model: the same pipeline with a cast to float32
    before the trees, or None when ``estimator`` is not such a pipeline.

    scikit-learn's trees, forests and XGBoost compare float32 features; their
    preprocessing (scalers, imputers) runs in float64. A graph with double inputs that
    casts just before the trees computes exactly what they do; one that runs the scaler
    in float32 moves values across split thresholds.
    """
    steps = getattr(estimator, "steps", None)
    if not steps or len(steps) < 2 or not is_tree_model(steps[-1][1]):
        return None
    from skl2onnx.sklapi import CastTransformer
    from sklearn.pipeline import Pipeline

    cast = CastTransformer(dtype=np.float32)
    return Pipeline([*steps[:-1], ("afterfit_cast", cast), steps[-1]])


def sklearn_to_onnx(
    estimator: Any,
    X: pd.DataFrame,
    *,
    precision: Precision,
    target_opset: int | None,
) -> tuple[Any, Literal["matrix", "columns"]]:
    """Convert a fitted estimator to an ONNX ``ModelProto``.

    Parameters
    ----------
    estimator : object
        A fitted scikit-learn estimator or pipeline, or an XGBoost/LightGBM scikit-learn
        wrapper (alone or inside a pipeline).
    X : pandas.DataFrame
        Rows with the training columns: their dtypes give the graph's input types.
    precision : {"float32", "float64"}
        Type of the numeric inputs (and of the computation where the converters allow).
    target_opset : int or None
        The ONNX opset; None for the newest the converters support.

    Returns
    -------
    (onnx.ModelProto, layout)
        ``layout`` is ``"matrix"`` (one input ``X``) or ``"columns"`` (one per column).

    Raises
    ------
    Exception
        Whatever skl2onnx raises when a part of the model has no converter or a converter
        fails; the caller turns it into a fallback reason.
    """
    from skl2onnx import convert_sklearn

    register_boosters()
    layout = input_layout(estimator, X)
    if precision == "float64":
        estimator = double_then_float_trees(estimator) or estimator
    options = _classifier_options(estimator)
    opset: Any = target_opset
    if uses_boosters(estimator):
        from skl2onnx import get_latest_tested_opset_version

        # onnxmltools writes tree ensembles of ai.onnx.ml version 3 only.
        opset = {"": target_opset or get_latest_tested_opset_version(), "ai.onnx.ml": 3}
        estimator = _unnamed_xgboost(estimator)
    onx = convert_sklearn(
        estimator,
        initial_types=_initial_types(X, layout, precision),
        options=options or None,
        target_opset=opset,
    )
    return onx, layout
