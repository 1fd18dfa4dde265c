"""Safe loading of model files, and wrapping of in-memory models.

Loading is safe by default: ``.skops`` files load only the types the user trusts,
``.onnx`` and the native XGBoost/LightGBM formats hold no code at all, and pickle or
joblib files — whose loading runs arbitrary code — load only with ``trust=True``.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np

from afterfit.errors import ModelError, ModelLoadError, UntrustedModelError
from afterfit.models.base import Model, Task

__all__ = ["SUPPORTED_EXTENSIONS", "as_model", "load_model"]

#: File extensions :func:`load_model` reads, with the format each one means.
SUPPORTED_EXTENSIONS: dict[str, str] = {
    ".skops": "skops (scikit-learn, loaded without running code)",
    ".onnx": "ONNX",
    ".json": "XGBoost JSON model",
    ".ubj": "XGBoost UBJSON model",
    ".xgb": "XGBoost binary model",
    ".txt": "LightGBM text model",
    ".lgb": "LightGBM text model",
    ".pkl": "pickle (only with trust=True)",
    ".pickle": "pickle (only with trust=True)",
    ".joblib": "joblib (only with trust=True)",
}
_PICKLE_EXTENSIONS = (".pkl", ".pickle", ".joblib")
_XGB_JSON_HEAD = re.compile(rb'"learner"\s*:')


#: afterfit's own model wrappers, trusted in skops files by exact class name: plain
#: containers whose loading runs no code of the file's. Only these classes: a module
#: prefix would also trust the plain functions of those modules, which a crafted file
#: could make run at predict time. The estimators they wrap are still checked type by type.
AFTERFIT_WRAPPERS: frozenset[str] = frozenset(
    (
        "afterfit.thresholds.ThresholdedModel",
        "afterfit.thresholds.CostSensitiveModel",
        "afterfit.calibration.model.CalibratedModel",
        "afterfit.selection.ensemble_estimator.EnsembleClassifier",
        "afterfit.selection.ensemble_estimator.EnsembleRegressor",
        "afterfit.selection.ensemble_members.StoredModel",
    )
)

#: Types that skops rebuilds as plain data and that its default list leaves out: a dtype
#: is read back as the dtype of an empty array loaded without pickle (skops' DTypeNode).
#: Every fitted SimpleImputer holds two (``_fit_dtype``, ``_fill_dtype``), so without this
#: the most common pipeline needed ``--trusted-type numpy.dtype``.
DATA_TYPES: frozenset[str] = frozenset(("numpy.dtype",))

# Who hears which types were accepted after validation (the CLI prints one line, unless
# --quiet); a context variable, so that a library caller hears nothing unless it asks.
_accepted_listener: ContextVar[Callable[[Path, dict[str, int]], None] | None] = ContextVar(
    "afterfit_accepted_listener", default=None
)


@contextlib.contextmanager
def on_accepted_types(listener: Callable[[Path, dict[str, int]], None] | None) -> Iterator[None]:
    """Call ``listener(path, {type name: count})`` each time a skops file is loaded with
    scikit-learn internal types accepted after validation (see
    :mod:`afterfit.models.skops_checks`). ``None`` silences it."""
    token = _accepted_listener.set(listener)
    try:
        yield
    finally:
        _accepted_listener.reset(token)


def types_needing_trust(types: Sequence[str]) -> list[str]:
    """Of the untrusted type names skops reports for a file, those :func:`load_model`
    still needs named in ``trusted_types`` (the others it accepts by name, or after
    validation)."""
    from afterfit.models.skops_checks import VALIDATED_TYPES

    by_name = AFTERFIT_WRAPPERS | DATA_TYPES
    return [t for t in types if t not in by_name and t not in VALIDATED_TYPES]


def _extensions_text() -> str:
    return ", ".join(SUPPORTED_EXTENSIONS)


def load_model(
    path: str | os.PathLike[str],
    *,
    trust: bool = False,
    trusted_types: Sequence[str] = (),
    task: Task | None = None,
    classes: Sequence[Any] | np.ndarray | None = None,
) -> Model:
    """Load a model file, safely, as a :class:`~afterfit.models.base.Model`.

    The format is chosen by the file extension:

    - ``.skops``: loaded with ``skops.io.load``; types skops does not trust by default must
      be listed in ``trusted_types`` (or ``trust=True``).
    - ``.onnx``: run with ONNX Runtime (:class:`~afterfit.models.onnx.OnnxModel`).
    - ``.json`` (an XGBoost model, recognised by its ``"learner"`` key), ``.ubj``, ``.xgb``:
      an XGBoost booster saved with ``save_model``.
    - ``.txt``, ``.lgb``: a LightGBM text model (its first line is ``tree``).
    - ``.pkl``, ``.pickle``, ``.joblib``: only with ``trust=True``, because unpickling runs
      whatever code the file contains.

    Parameters
    ----------
    path : str or os.PathLike
        The model file.
    trust : bool, default False
        Trust the file's source: load every type in a skops file, and allow pickle/joblib.
    trusted_types : sequence of str, default ()
        Fully qualified type names a skops file may load beyond skops' defaults, for
        example ``["mypackage.MyTransformer"]``.
    task : {"binary", "multiclass", "regression"}, optional
        Overrides the task inferred from the model.
    classes : sequence, optional
        Class labels in the order of the model's score columns, overriding those found.

    Returns
    -------
    Model

    Raises
    ------
    ModelLoadError
        The file is missing, unreadable, or of an unsupported type.
    UntrustedModelError
        Loading would run code or load types that were not trusted.

    Examples
    --------
    >>> model = load_model("model.skops")  # doctest: +SKIP
    >>> model = load_model("model.skops", trusted_types=["mypkg.MyScaler"])  # doctest: +SKIP
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        raise ModelLoadError(
            f"The model file '{path}' has the extension {ext or '(none)'!r}, which afterfit "
            f"cannot load; supported extensions: {_extensions_text()}.",
            fix="save the model as .skops (scikit-learn) or .onnx, or with the native "
            "save_model of XGBoost (.json/.ubj) or LightGBM (.txt).",
        )
    if not path.exists():
        raise ModelLoadError(
            f"The model file '{path}' does not exist.",
            fix=f"check the path (relative paths start from the working directory '{Path.cwd()}').",
        )
    if not path.is_file():
        raise ModelLoadError(
            f"The model path '{path}' is not a file.",
            fix="pass the path of the model file itself.",
        )
    if ext in _PICKLE_EXTENSIONS:
        return _load_pickle(path, trust=trust, task=task, classes=classes)
    if ext == ".skops":
        return _load_skops(
            path, trust=trust, trusted_types=trusted_types, task=task, classes=classes
        )
    if ext == ".onnx":
        from afterfit.models.onnx import OnnxModel

        return OnnxModel(path, task=task, classes=classes)
    if ext == ".json":
        if not _looks_like_xgboost_json(path):
            raise ModelLoadError(
                f"The file '{path}' is not an XGBoost JSON model (no \"learner\" key near the "
                "start); it is the only JSON model format afterfit reads.",
                fix="pass a file written by XGBoost's save_model('model.json'), or save the "
                "model as .skops or .onnx.",
            )
        return _load_xgboost(path, task=task, classes=classes)
    if ext in (".ubj", ".xgb"):
        return _load_xgboost(path, task=task, classes=classes)
    return _load_lightgbm(path, task=task, classes=classes)


def _load_pickle(path: Path, *, trust: bool, task: Task | None, classes: Any) -> Model:
    if not trust:
        raise UntrustedModelError(
            f"The model file '{path}' is a {path.suffix} (pickle) file, and unpickling runs "
            "arbitrary code stored in the file, so afterfit does not load it by default.",
            fix="pass --trust (trust=True) only if the file comes from a source you trust, "
            "or convert the model to .skops (skops.io.dump) or .onnx, which load without "
            "running code.",
        )
    import joblib

    try:
        obj = joblib.load(path)
    except Exception as exc:  # unpickling can raise anything
        raise ModelLoadError(
            f"The file '{path}' could not be read as a {path.suffix} (pickle/joblib) file: "
            f"{type(exc).__name__}: {exc}",
            fix="check that the file is complete and was written with pickle or joblib, with "
            "the same library versions as installed here.",
        ) from exc
    return as_model(obj, task=task, classes=classes)


def _load_skops(
    path: Path,
    *,
    trust: bool,
    trusted_types: Sequence[str],
    task: Task | None,
    classes: Any,
) -> Model:
    import skops.io as sio

    if isinstance(trusted_types, str):
        trusted_types = [trusted_types]
    try:
        untrusted = list(sio.get_untrusted_types(file=path))
    except Exception as exc:  # skops raises zip, json and its own errors
        raise ModelLoadError(
            f"The file '{path}' could not be read as a skops file: {type(exc).__name__}: {exc}",
            fix="check that the file is complete and was written with skops.io.dump.",
        ) from exc
    from afterfit.models.skops_checks import VALIDATED_TYPES, declared_counts, validate_loaded

    allowed = set(trusted_types) | AFTERFIT_WRAPPERS | DATA_TYPES
    # scikit-learn's array-backed internal types load without a flag, but only to be
    # validated below before anything predicts with them (also when named by the user).
    validated = [t for t in untrusted if t in VALIDATED_TYPES]
    not_trusted = [t for t in untrusted if t not in allowed and t not in VALIDATED_TYPES]
    if not_trusted and not trust:
        listed = ", ".join(not_trusted)
        flags = " ".join(f"--trusted-type {t}" for t in not_trusted)
        raise UntrustedModelError(
            f"The skops file '{path}' contains types that are not trusted by default: "
            f"{listed}. Loading them could run their code.",
            fix=f"if you know these types, pass each with --trusted-type NAME (repeatable), "
            f"here {flags} (trusted_types=[...] in Python), or pass --trust (trust=True) if "
            "you trust the file's source.",
        )
    trusted = untrusted if trust else [t for t in untrusted if t in allowed or t in validated]
    try:
        declared = declared_counts(path) if validated and not trust else {}
        obj = sio.load(path, trusted=trusted)
    except Exception as exc:
        raise ModelLoadError(
            f"The file '{path}' could not be loaded as a skops file: {type(exc).__name__}: {exc}",
            fix="check that the file is complete and that the packages of the model's types "
            "are installed.",
        ) from exc
    accepted = validate_loaded(obj, path, declared=declared) if validated and not trust else {}
    model = as_model(obj, task=task, classes=classes)
    if accepted:
        with contextlib.suppress(AttributeError):
            model.accepted_types = tuple(sorted(accepted))  # type: ignore[attr-defined]
        listener = _accepted_listener.get()
        if listener is not None:
            listener(path, accepted)
    return model


def _looks_like_xgboost_json(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(64 * 1024)
    except OSError:
        return False
    return head.lstrip().startswith(b"{") and _XGB_JSON_HEAD.search(head) is not None


def _load_xgboost(path: Path, *, task: Task | None, classes: Any) -> Model:
    from afterfit.models.boosters import XGBoostModel, import_xgboost

    xgb = import_xgboost(f"Loading the XGBoost model file '{path}'")
    try:
        booster = xgb.Booster(model_file=str(path))
    except Exception as exc:  # XGBoostError and friends
        raise ModelLoadError(
            f"The file '{path}' could not be read as an XGBoost model ({path.suffix}): "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}",
            fix="check that the file is complete and was written by XGBoost's save_model.",
        ) from exc
    return XGBoostModel(booster, task=task, classes=classes)


def _load_lightgbm(path: Path, *, task: Task | None, classes: Any) -> Model:
    from afterfit.models.boosters import LightGBMModel, import_lightgbm

    try:
        with path.open("rb") as fh:
            first = fh.readline(64).strip()
    except OSError as exc:
        raise ModelLoadError(
            f"The file '{path}' could not be read: {exc}.",
            fix="check the file's permissions.",
        ) from exc
    if first != b"tree":
        raise ModelLoadError(
            f"The file '{path}' is not a LightGBM text model: its first line is "
            f"{first[:40]!r}, not 'tree'.",
            fix="pass a file written by LightGBM's Booster.save_model('model.txt'), or save "
            "the model as .skops or .onnx.",
        )
    lgb = import_lightgbm(f"Loading the LightGBM model file '{path}'")
    try:
        booster = lgb.Booster(model_file=str(path))
    except Exception as exc:  # LightGBMError
        raise ModelLoadError(
            f"The file '{path}' could not be read as a LightGBM text model: {exc}",
            fix="check that the file is complete and was written by LightGBM's save_model.",
        ) from exc
    return LightGBMModel(booster, task=task, classes=classes)


def as_model(
    obj: Any,
    *,
    task: Task | None = None,
    classes: Sequence[Any] | np.ndarray | None = None,
) -> Model:
    """Wrap an in-memory model in the adapter that fits it.

    Parameters
    ----------
    obj : object
        A :class:`~afterfit.models.base.Model` (returned as is), a fitted scikit-learn
        estimator or pipeline or anything with their API (XGBoost, LightGBM, CatBoost
        wrappers), an ``onnxruntime.InferenceSession``, a native ``xgboost.Booster`` or
        ``lightgbm.Booster``, or a ``torch.nn.Module``.
    task : {"binary", "multiclass", "regression"}, optional
        Overrides the task inferred from the model.
    classes : sequence, optional
        Class labels in the order of the model's score columns.

    Returns
    -------
    Model

    Raises
    ------
    ModelError
        ``obj`` is of a kind afterfit cannot use, or an estimator that is not fitted.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> as_model(DecisionTreeClassifier(max_depth=2).fit(X, y)).task
    'binary'
    """
    if isinstance(obj, Model):
        if task is not None or classes is not None:
            raise ModelError(
                f"The model, a {type(obj).__name__}, is already an afterfit Model, so "
                "task= and classes= cannot be applied to it.",
                fix="leave task and classes out, or pass the underlying model instead.",
            )
        return obj
    from afterfit.models.boosters import (
        LightGBMModel,
        XGBoostModel,
        is_lightgbm_booster,
        is_xgboost_booster,
    )
    from afterfit.models.onnx import OnnxModel, _is_session
    from afterfit.models.torch import TorchModel, is_torch_module

    if is_torch_module(obj):
        return TorchModel(obj, task=task, classes=classes)
    if _is_session(obj):
        return OnnxModel(obj, task=task, classes=classes)
    if is_xgboost_booster(obj):
        return XGBoostModel(obj, task=task, classes=classes)
    if is_lightgbm_booster(obj):
        return LightGBMModel(obj, task=task, classes=classes)
    if callable(getattr(obj, "predict", None)) and callable(getattr(obj, "fit", None)):
        from afterfit.models.sklearn import SklearnModel

        return SklearnModel(obj, task=task, classes=classes)
    raise ModelError(
        f"afterfit cannot use an object of type {type(obj).__module__}.{type(obj).__qualname__} "
        "as a model.",
        fix="pass a fitted scikit-learn estimator or pipeline (or an XGBoost, LightGBM or "
        "CatBoost model with the scikit-learn API), an onnxruntime.InferenceSession, an "
        "xgboost or lightgbm Booster, a torch.nn.Module, or an afterfit Model.",
    )
