"""Members of an ensemble: serialisable, checked to agree, scored in one class order.

A member is kept in the ensemble as what skops can save without running code:

- a scikit-learn estimator (or anything with its API: XGBoost/LightGBM wrappers, afterfit's
  calibrated or thresholded models) as itself;
- an ONNX model, or a native XGBoost/LightGBM booster, as a :class:`StoredModel`: its bytes
  (the ONNX graph, the booster's JSON, the LightGBM text model) and its task and classes.
  The ONNX Runtime session or booster is rebuilt from the bytes on first use and never
  saved.

Every member must solve the same task, know the same classes (in any order: scores are
put in the ensemble's order) and take the same features.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from afterfit.errors import InvalidInputError, ModelError
from afterfit.models.base import Model
from afterfit.predictions import label_list

__all__ = ["StoredModel", "adapter", "as_member", "check_members", "member_name"]


class StoredModel:
    """A model kept as bytes: an ONNX graph or a native XGBoost/LightGBM booster.

    Parameters
    ----------
    kind : {"onnx", "xgboost", "lightgbm"}
    data : bytes
        The ONNX ``ModelProto``, the booster's raw JSON, or the LightGBM text model.
    task : {"binary", "multiclass", "regression"}
    classes : list or None
        Class labels in the order of the model's score columns.

    Notes
    -----
    Only the bytes and plain values are saved (``__getstate__`` drops the session), so
    ``skops.io.dump`` writes it and :func:`afterfit.load_model` reads it back without
    ``trust``.
    """

    def __init__(self, kind: str, data: bytes, task: str, classes: list[Any] | None) -> None:
        if kind not in ("onnx", "xgboost", "lightgbm"):
            raise ModelError(
                f"StoredModel kind must be 'onnx', 'xgboost' or 'lightgbm'; got {kind!r}.",
                fix="build members with afterfit.selection.ensemble_members.as_member(model).",
            )
        self.kind = kind
        self.data = bytes(data)
        self.task = task
        self.classes = None if classes is None else list(classes)
        self._model: Model | None = None

    def __repr__(self) -> str:
        return f"StoredModel({self.kind!r}, {len(self.data):,} bytes, task={self.task!r})"

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_model"] = None  # a session or booster holds native handles: rebuilt on load
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._model = None

    def model(self) -> Model:
        """The afterfit Model the bytes describe (built once, then cached)."""
        if getattr(self, "_model", None) is None:
            task: Any = self.task
            classes = self.classes
            if self.kind == "onnx":
                from afterfit.models.onnx import OnnxModel

                self._model = OnnxModel(self.data, task=task, classes=classes)
            elif self.kind == "xgboost":
                from afterfit.models.boosters import XGBoostModel, import_xgboost

                xgb = import_xgboost("An ensemble member (an XGBoost booster)")
                booster = xgb.Booster()
                booster.load_model(bytearray(self.data))
                self._model = XGBoostModel(booster, task=task, classes=classes)
            else:
                from afterfit.models.boosters import LightGBMModel, import_lightgbm

                lgb = import_lightgbm("An ensemble member (a LightGBM booster)")
                booster = lgb.Booster(model_str=self.data.decode("utf-8"))
                self._model = LightGBMModel(booster, task=task, classes=classes)
        return self._model  # type: ignore[return-value]


def as_member(model: Any) -> Any:
    """A model as an ensemble keeps it: an estimator as is, bytes for ONNX and boosters.

    Parameters
    ----------
    model : object
        A fitted scikit-learn estimator (or an afterfit Model of one), an afterfit
        ``OnnxModel``/``XGBoostModel``/``LightGBMModel`` (or what :func:`afterfit.as_model`
        turns into one), or a :class:`StoredModel`.

    Returns
    -------
    object
        The estimator, or a :class:`StoredModel`.

    Raises
    ------
    ModelError
        A model that cannot be saved inside an ensemble (a PyTorch module, an ONNX session
        whose bytes are unknown).
    """
    from afterfit.models import as_model
    from afterfit.models.boosters import LightGBMModel, XGBoostModel
    from afterfit.models.onnx import OnnxModel
    from afterfit.models.sklearn import SklearnModel

    if isinstance(model, StoredModel):
        return model
    if not isinstance(model, Model):
        model = as_model(model)
    classes = None if model.classes_ is None else np.asarray(model.classes_).tolist()
    if isinstance(model, SklearnModel):
        return model.estimator
    if isinstance(model, OnnxModel):
        data = _onnx_bytes(model)
        return StoredModel("onnx", data, model.task, classes)
    if isinstance(model, XGBoostModel):
        return StoredModel("xgboost", bytes(model.booster.save_raw("json")), model.task, classes)
    if isinstance(model, LightGBMModel):
        text = model.booster.model_to_string()
        return StoredModel("lightgbm", text.encode("utf-8"), model.task, classes)
    raise ModelError(
        f"An ensemble cannot keep a {type(model).__name__}: afterfit saves ensembles of "
        "scikit-learn estimators (and their XGBoost/LightGBM wrappers), ONNX models and "
        "native XGBoost/LightGBM boosters.",
        fix="export the model to ONNX (torch.onnx.export) and load the .onnx file.",
    )


def _onnx_bytes(model: Any) -> bytes:
    session = model.session
    data = getattr(session, "_model_bytes", None)
    path = getattr(session, "_model_path", None)
    if data is None and path:
        from pathlib import Path

        data = Path(path).read_bytes()
    if data is None:
        raise ModelError(
            "The ONNX model's bytes cannot be read back from its InferenceSession, so the "
            "ensemble could not be saved with it.",
            fix="load the model from its .onnx file (afterfit.load_model('model.onnx')) or "
            "from its bytes (OnnxModel(onnx_bytes)).",
        )
    return bytes(data)


def adapter(member: Any, classes: Sequence[Any] | None = None) -> Model:
    """The afterfit Model of a member (``classes`` relabels a scikit-learn estimator)."""
    if isinstance(member, StoredModel):
        return member.model()
    from afterfit.models.sklearn import SklearnModel

    return SklearnModel(member, classes=classes)


def member_name(member: Any, index: int) -> str:
    """A default name: the estimator's class name, or the stored kind, and its position."""
    if isinstance(member, StoredModel):
        return f"{member.kind}_{index + 1}"
    return f"{type(member).__name__}_{index + 1}"


def check_members(models: dict[str, Model]) -> tuple[str, np.ndarray | None, dict[str, Any]]:
    """Check that members agree; return the task, the classes and the feature set.

    Returns
    -------
    task : str
    classes : ndarray or None
        The first member's classes (every member has the same set).
    features : dict
        ``{"names": [...] or None, "n": int or None}``: the common feature set.

    Raises
    ------
    InvalidInputError
        Fewer than two members, different tasks, class sets or feature sets.
    """
    if len(models) < 2:
        raise InvalidInputError(
            f"an ensemble needs at least two models; got {len(models)}.",
            fix="pass two or more trained models (--model a.skops --model b.onnx ...).",
        )
    names = list(models)
    first = models[names[0]]
    kinds = {n: ("regression" if m.task == "regression" else "classification")
             for n, m in models.items()}  # fmt: skip
    if len(set(kinds.values())) > 1:
        listed = ", ".join(f"{n} ({models[n].task})" for n in names)
        raise InvalidInputError(
            f"the models solve different tasks: {listed}; an ensemble combines models of one task.",
            fix="pass only classifiers, or only regressors.",
        )
    classes = None if first.classes_ is None else np.asarray(first.classes_)
    if classes is not None:
        own = set(classes.tolist())
        for name in names[1:]:
            theirs = set(np.asarray(models[name].classes_).tolist())
            if theirs != own:
                raise InvalidInputError(
                    f"the models know different classes: {names[0]} has {label_list(classes)}"
                    f", {name} has {label_list(models[name].classes_)}.",
                    fix="combine models trained on the same classes (the same target, "
                    "encoded the same way).",
                )
    features = _common_features(models)
    return first.task, classes, features


def _common_features(models: dict[str, Model]) -> dict[str, Any]:
    named = {n: list(m.feature_names) for n, m in models.items() if m.feature_names is not None}
    counts = {n: getattr(m, "n_features", None) for n, m in models.items()}
    counts = {n: int(c) for n, c in counts.items() if c is not None}
    names: list[str] | None = None
    if named:
        ref_name, names = next(iter(named.items()))
        for n, cols in named.items():
            if set(cols) != set(names):
                only_a = [c for c in names if c not in set(cols)]
                only_b = [c for c in cols if c not in set(names)]
                raise InvalidInputError(
                    f"the models were trained on different feature sets: {ref_name} takes "
                    f"{len(names)} columns, {n} takes {len(cols)}; only in {ref_name}: "
                    f"{label_list(only_a) if only_a else 'none'}; only in {n}: "
                    f"{label_list(only_b) if only_b else 'none'}.",
                    fix="combine models trained on the same feature columns (retrain or "
                    "drop the odd one out).",
                )
    if counts:
        ref_name, n_ref = next(iter(counts.items()))
        if names is not None:
            ref_name, n_ref = "the named models", len(names)
        for n, c in counts.items():
            if c != n_ref:
                raise InvalidInputError(
                    f"the models were trained on different feature sets: {ref_name} take(s) "
                    f"{n_ref} columns, {n} takes {c}.",
                    fix="combine models trained on the same feature columns.",
                )
    n = len(names) if names is not None else (next(iter(counts.values())) if counts else None)
    return {"names": names, "n": n}
