"""Adapter for ONNX models run with ONNX Runtime.

Handles what skl2onnx produces: classifiers with a label output and a probability output
(a tensor, or the list of dicts a ``ZipMap`` node gives), regressors with one output,
and graphs with either one float matrix input or one input per column (what skl2onnx
makes of a DataFrame pipeline with a ``ColumnTransformer``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from afterfit.errors import ModelError, ModelLoadError, SchemaError
from afterfit.models._common import (
    NUMERIC_DTYPES,
    as_classes,
    check_task,
    check_task_classes,
    labels_from_scores,
    numeric_matrix,
    short_list,
    task_from_n_classes,
    to_frame,
    two_columns,
)
from afterfit.models.base import Task

__all__ = ["OnnxModel", "onnx_class_labels"]

_ONNX_DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int16)": "int16",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
    "tensor(string)": "str",
}
_LABEL_ATTRS = ("classlabels_strings", "classlabels_int64s", "classlabels_ints")


# --- a minimal protobuf reader: enough of ModelProto to find class labels -----------------
# ONNX files are protobuf ModelProto messages. Reading the few fields we need here keeps
# the `onnx` package an optional dependency. Field numbers are from onnx.proto:
# ModelProto.graph = 7; GraphProto.node = 1; NodeProto.op_type = 4, .attribute = 5;
# AttributeProto.name = 1, .ints = 8, .strings = 9.


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("malformed varint")


def _fields(buf: memoryview):  # private generator
    """Yield ``(field_number, wire_type, value)``; LEN values as memoryview slices."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = None, pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = None, pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if pos > end:
            raise ValueError("truncated protobuf message")
        yield field, wire, value


def _attribute_labels(attr: memoryview) -> tuple[str, list[Any]] | None:
    name: str | None = None
    values: list[Any] = []
    for field, wire, value in _fields(attr):
        if field == 1 and wire == 2:
            name = bytes(value).decode("utf-8", "replace")
            if name not in _LABEL_ATTRS:
                return None  # skip the (possibly huge) rest of this attribute
        elif field == 8 and name is not None:
            if wire == 0:
                values.append(value - (1 << 64) if value >= 1 << 63 else value)
            elif wire == 2:  # packed
                pos = 0
                while pos < len(value):
                    v, pos = _varint(value, pos)
                    values.append(v - (1 << 64) if v >= 1 << 63 else v)
        elif field == 9 and wire == 2 and name is not None:
            values.append(bytes(value).decode("utf-8", "replace"))
    if name is None or not values:
        return None
    return name, values


def onnx_class_labels(model_bytes: bytes) -> list[Any] | None:
    """Class labels recorded in an ONNX graph, or None when it records none.

    Reads the ``classlabels_*`` attribute of the ``ZipMap`` node when there is one, else
    of the last node carrying such an attribute (``LinearClassifier``,
    ``TreeEnsembleClassifier``, ``SVMClassifier``...).

    Parameters
    ----------
    model_bytes : bytes
        A serialized ``ModelProto``.

    Returns
    -------
    list or None
        The labels (str or int), in the order of the probability columns.
    """
    buf = memoryview(model_bytes)
    found: list[Any] | None = None
    try:
        graph = next((v for f, w, v in _fields(buf) if f == 7 and w == 2), None)
        if graph is None:
            return None
        for field, wire, node in _fields(graph):
            if field != 1 or wire != 2:
                continue
            op_type = ""
            attrs: list[memoryview] = []
            for f, w, v in _fields(node):
                if f == 4 and w == 2:
                    op_type = bytes(v).decode("utf-8", "replace")
                elif f == 5 and w == 2:
                    attrs.append(v)
            if not (op_type == "ZipMap" or op_type.endswith("Classifier")):
                continue
            for attr in attrs:
                labels = _attribute_labels(attr)
                if labels is not None:
                    found = labels[1]
                    if op_type == "ZipMap":
                        return found
    except (ValueError, IndexError):
        return found
    return found


# --- the adapter ---------------------------------------------------------------------------


def _is_records(X: Any) -> bool:
    """A dict (one record, or columns of values) or a non-empty list of dicts."""
    return isinstance(X, Mapping) or (
        isinstance(X, list) and bool(X) and all(isinstance(r, Mapping) for r in X)
    )


def _column_values(X: pd.DataFrame, j: int) -> Any:
    """The values of column ``j``: a numpy array or a pandas ExtensionArray."""
    get = getattr(X, "_get_column_array", None)  # no Series built: ~2 us instead of ~50
    if get is not None:
        try:
            return get(j)
        except Exception:  # a pandas without it, or a frame subclass
            pass
    return X.iloc[:, j].array


def _input_column(X: pd.DataFrame, j: int, name: str, dtype: str) -> np.ndarray:
    """Column ``j`` of ``X`` as the 1-D array the graph input ``name`` takes."""
    values = _column_values(X, j)
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf" and dtype != "str":
        return values.astype(dtype, copy=False)
    if dtype in NUMERIC_DTYPES and not isinstance(values, np.ndarray):
        # Nullable integers, Arrow numbers, categories of numbers.
        try:
            na = np.nan if np.dtype(dtype).kind == "f" else None
            return np.asarray(values.to_numpy(dtype=dtype, na_value=na))
        except (TypeError, ValueError):
            pass
    if isinstance(values, np.ndarray):
        arr = values.astype(object, copy=False)
    else:
        arr = np.asarray(values.to_numpy(dtype=object))
    return _input_column_array(arr, name, dtype)


def _input_column_array(arr: np.ndarray, name: str, dtype: str) -> np.ndarray:
    """An object array of one column's values as the graph input takes them."""
    if dtype == "str":
        missing = pd.isna(arr)
        if missing.any():
            arr = arr.copy()
            arr[missing] = "nan"
        if not all(type(v) is str for v in arr):
            arr = np.array([v if type(v) is str else str(v) for v in arr], dtype=object)
        return arr
    if dtype in NUMERIC_DTYPES:
        try:
            if np.dtype(dtype).kind == "f":
                arr = np.where(pd.isna(arr), np.nan, arr)
            return arr.astype(dtype)
        except (TypeError, ValueError):
            # Text holding numbers is converted; other text gets a clear error.
            frame = pd.DataFrame({name: arr})
            return numeric_matrix(frame, dtype, what="the ONNX model").reshape(-1)
    return arr


def _afterfit_metadata(session: Any) -> dict[str, Any]:
    """The JSON afterfit's exporter stores under the metadata key ``afterfit``, or {}."""
    import json

    try:
        text = session.get_modelmeta().custom_metadata_map.get("afterfit")
        meta = json.loads(text) if text else {}
    except Exception:  # no metadata, or not ours
        return {}
    return meta if isinstance(meta, dict) else {}


def _text_values(col: pd.Series) -> np.ndarray:
    """A column as the object array of str a string input takes; missing values become
    ``"nan"`` (``str(numpy.nan)``, the category skl2onnx writes for NaN)."""
    out = np.array(col.to_numpy(dtype=object), dtype=object, copy=True)
    missing = pd.isna(out)
    if missing.any():
        out[missing] = "nan"
    if not all(type(v) is str for v in out):
        out = np.array([v if type(v) is str else str(v) for v in out], dtype=object)
    return out


def _is_session(obj: Any) -> bool:
    return any(
        c.__name__ == "InferenceSession" and c.__module__.startswith("onnxruntime")
        for c in type(obj).__mro__
    )


def session_options(threads: int | None = None) -> Any:
    """ONNX Runtime session options tuned for serving.

    ``threads`` intra-op threads (default: half the CPUs, at most 4, at least 1) and one
    inter-op thread. ONNX Runtime's own default takes every core and spins them between
    calls, which costs more than it gains for the small batches a model server runs and
    starves concurrent requests; a few threads keep one-row calls cheap and still split
    big batches.
    """
    import onnxruntime as ort

    if threads is None:
        threads = max(1, min(4, (os.cpu_count() or 2) // 2))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning threads answer the next call sooner but burn a core each while idle.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def _make_session(
    model: bytes | str, providers: Sequence[str] | None, what: str, threads: int | None = None
) -> Any:
    import onnxruntime as ort

    try:
        return ort.InferenceSession(
            model,
            sess_options=session_options(threads),
            providers=list(providers) if providers else ["CPUExecutionProvider"],
        )
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelLoadError(
            f"{what} could not be read as an ONNX model by ONNX Runtime: {exc}",
            fix="check that the file is a complete .onnx model (re-export it if it was cut "
            "short or written by another tool).",
        ) from exc


class OnnxModel:
    """An ONNX model, run with ONNX Runtime, seen through the ``Model`` protocol.

    Parameters
    ----------
    source : str, os.PathLike, bytes or onnxruntime.InferenceSession
        A ``.onnx`` file, its bytes, or a session already made.
    task : {"binary", "multiclass", "regression"}, optional
        Overrides the task inferred from the outputs (a probability output means
        classification, one output regression).
    classes : sequence, optional
        Class labels in the order of the probability columns. By default they are read
        from the graph (``ZipMap`` or classifier node attributes), or are ``0..k-1`` when
        the graph has an integer label output and records no labels.
    scores_are_probabilities : bool, optional
        Whether the score output holds probabilities; default True for classifiers
        (skl2onnx writes probabilities, or decision scores for models without them).
    providers : sequence of str, optional
        ONNX Runtime execution providers; default ``["CPUExecutionProvider"]``.
    threads : int, optional
        Intra-op threads of the session (see :func:`session_options`); ignored for a
        session made by the caller.

    Attributes
    ----------
    task, classes_, feature_names, scores_are_probabilities
        As in :class:`~afterfit.models.base.Model`. ``feature_names`` are the input names
        of a graph with one input per column; for a single matrix input, the columns
        recorded by :func:`afterfit.exporters.core.export_model` (frames are then
        reordered to them), else None.
    n_features : int or None
        Number of input columns, when the graph fixes it.
    feature_dtypes : dict or None
        Dtype of each per-column input (``"float32"``, ``"int64"``, ``"str"``...).
    input_dtype : str or None
        Dtype of the single matrix input.
    session : onnxruntime.InferenceSession
    source_path : pathlib.Path or None
        The ``.onnx`` file the model was read from; None for bytes or a session.
    metadata : dict
        What afterfit's exporter recorded in the graph (task, classes with their original
        types, feature names); empty for other graphs.
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | bytes | Any,
        *,
        task: Task | None = None,
        classes: Sequence[Any] | np.ndarray | None = None,
        scores_are_probabilities: bool | None = None,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
    ) -> None:
        task = check_task(task)
        classes_arg = as_classes(classes)
        self._relabelled = False
        self._reverse = False
        self.source_path: Path | None = None
        self._position_cache: dict[tuple[Any, ...], dict[str, int]] = {}
        model_bytes: bytes | None
        if _is_session(source):
            self.session = source
            model_bytes = getattr(source, "_model_bytes", None)
            path = getattr(source, "_model_path", None)
            if path and Path(path).is_file():
                self.source_path = Path(path)
            if model_bytes is None and path:
                try:
                    model_bytes = Path(path).read_bytes()
                except OSError:
                    model_bytes = None
        elif isinstance(source, bytes | bytearray | memoryview):
            model_bytes = bytes(source)
            self.session = _make_session(model_bytes, providers, "The bytes given", threads)
        elif isinstance(source, str | os.PathLike):
            path = Path(source)
            if not path.is_file():
                raise ModelLoadError(
                    f"The ONNX model file '{path}' does not exist.",
                    fix="check the path and the working directory.",
                )
            self.source_path = path
            # From the path, so that ONNX Runtime finds external weight files beside it.
            self.session = _make_session(str(path), providers, f"The file '{path}'", threads)
            model_bytes = path.read_bytes()
        else:
            raise ModelError(
                f"OnnxModel takes a path, bytes or an onnxruntime.InferenceSession; received "
                f"a {type(source).__name__}.",
                fix="pass the .onnx file path, its bytes, or an InferenceSession.",
            )

        inputs = self.session.get_inputs()
        outputs = self.session.get_outputs()
        self.metadata: dict[str, Any] = _afterfit_metadata(self.session)
        meta_names = self.metadata.get("feature_names")
        self._inputs = [(i.name, _ONNX_DTYPES.get(i.type, "any"), i.shape) for i in inputs]
        if len(inputs) == 1:
            _, dtype, shape = self._inputs[0]
            self.feature_names: list[str] | None = None
            self.feature_dtypes: dict[str, str] | None = None
            self.input_dtype: str | None = dtype
            n = shape[-1] if shape is not None and len(shape) == 2 else None
            self.n_features: int | None = n if isinstance(n, int) else None
            if isinstance(meta_names, list) and (n is None or len(meta_names) == n):
                self.feature_names = [str(c) for c in meta_names]
                self.n_features = len(self.feature_names)
        else:
            self.feature_names = [name for name, _, _ in self._inputs]
            self.feature_dtypes = {name: dtype for name, dtype, _ in self._inputs}
            self.input_dtype = None
            self.n_features = len(self._inputs)

        # Which output holds scores, which labels.
        self._zipmap = False
        self._score_output: str | None = None
        self._label_output: str | None = None
        self._label_is_int = False
        n_cols: int | None = None
        for out in outputs:
            if out.type.startswith("seq(map("):
                self._score_output, self._zipmap = out.name, True
        if len(outputs) >= 2:
            for out in outputs:
                shape = out.shape or []
                if self._score_output is None and out.type in (
                    "tensor(float)",
                    "tensor(double)",
                ):
                    if len(shape) == 2:
                        self._score_output = out.name
                        n_cols = shape[1] if isinstance(shape[1], int) else None
                elif self._label_output is None and out.type in (
                    "tensor(int64)",
                    "tensor(int32)",
                    "tensor(string)",
                ):
                    self._label_output = out.name
                    self._label_is_int = out.type != "tensor(string)"
        self._value_output = outputs[0].name

        graph_classes = onnx_class_labels(model_bytes) if model_bytes is not None else None
        self._zipmap_keys: list[Any] | None = graph_classes
        self._label_map: dict[Any, Any] | None = None
        meta_task = self.metadata.get("task")
        if task is None and meta_task in ("binary", "multiclass", "regression"):
            task = meta_task
        meta_classes = self.metadata.get("classes")
        if (
            classes_arg is None
            and isinstance(meta_classes, list)
            and len(meta_classes) >= 2
            and task != "regression"
        ):
            if graph_classes is not None and len(graph_classes) == len(meta_classes):
                # The graph stores labels as int64 or strings; the exporter recorded the
                # original ones (bools, floats...). Same order: map one onto the other.
                if [type(c) for c in graph_classes] != [type(c) for c in meta_classes] or (
                    graph_classes != meta_classes
                ):
                    self._label_map = dict(zip(graph_classes, meta_classes, strict=True))
                classes_arg = as_classes(meta_classes)
            elif graph_classes is None:
                classes_arg = as_classes(meta_classes)
        if task is None:
            if self._score_output is None:
                task = "regression"
            else:
                known = classes_arg if classes_arg is not None else graph_classes
                n = len(known) if known is not None else n_cols
                if n is None:
                    raise ModelError(
                        "The ONNX model has a score output but the number of classes cannot "
                        "be read from it.",
                        fix="pass task='binary' or 'multiclass' and classes=[...].",
                    )
                task = task_from_n_classes(max(n, 2))

        self.task: Task = task
        if task == "regression":
            self.classes_: np.ndarray | None = None
            self.scores_are_probabilities = False
            if self._score_output is not None and len(outputs) >= 2:
                raise ModelError(
                    "The ONNX model has classifier outputs (labels and scores), but the task "
                    "given is 'regression'.",
                    fix="leave task out, or pass task='binary' or 'multiclass'.",
                )
            if self._score_output is None and len(outputs) != 1:
                names = [o.name for o in outputs]
                raise ModelError(
                    f"The ONNX model has {len(outputs)} outputs ({short_list(names)}); a "
                    "regression model must have one.",
                    fix="export the regressor with a single output variable.",
                )
            return
        if self._score_output is None:
            # A classifier exported with a single score tensor (from PyTorch, say).
            self._score_output = outputs[0].name
            shape = outputs[0].shape or []
            n_cols = shape[-1] if len(shape) == 2 and isinstance(shape[-1], int) else None
        if classes_arg is not None:
            classes_ = classes_arg
        elif graph_classes is not None:
            classes_ = np.asarray(graph_classes)
        elif self._label_output is None or self._label_is_int:
            k = n_cols if n_cols is not None else (2 if task == "binary" else None)
            if k is None:
                raise ModelError(
                    "The ONNX model's classes cannot be read from the graph, and the number "
                    "of score columns is not fixed.",
                    fix="pass classes=[...] in the order of the score columns.",
                )
            classes_ = np.arange(max(k, 2))
        else:
            raise ModelError(
                "The ONNX model has string labels, but the graph does not record them in "
                "the order of the score columns.",
                fix="pass classes=[...] in the order of the score columns.",
            )
        if (
            classes_arg is not None
            and graph_classes is not None
            and len(classes_arg) != len(graph_classes)
        ):
            raise ModelError(
                f"The argument 'classes' has {len(classes_arg)} labels, but the ONNX model "
                f"has {len(graph_classes)} classes ({short_list(graph_classes)}).",
                fix="pass one label per class, in the order of the model's score columns.",
            )
        if n_cols is not None and n_cols not in (1, len(classes_)):
            raise ModelError(
                f"The ONNX model's score output has {n_cols} columns but {len(classes_)} "
                f"classes are known ({short_list(classes_)}).",
                fix="pass classes=[...] with one label per score column.",
            )
        check_task_classes(task, classes_, what="The ONNX model")
        self.classes_ = classes_
        # With classes given by the caller, labels come from the scores, not the graph
        # (labels recorded by the exporter are mapped from the graph's instead).
        self._relabelled = classes_arg is not None and self._label_map is None
        if self._label_map is None and classes_arg is not None and graph_classes is not None:
            self._relabelled = classes_arg.tolist() != list(graph_classes)
        if scores_are_probabilities is None:
            scores_are_probabilities = bool(self.metadata.get("scores_are_probabilities", True))
        self.scores_are_probabilities = bool(scores_are_probabilities)
        # skl2onnx writes binary decision scores d as [d, -d]; the exporter notes it.
        self._reverse = task == "binary" and bool(self.metadata.get("reverse_binary_scores"))

    def __repr__(self) -> str:
        return f"OnnxModel(task={self.task!r}, inputs={[n for n, _, _ in self._inputs]})"

    def _feed(self, X: Any) -> dict[str, np.ndarray]:
        if len(self._inputs) == 1:
            name, dtype, _ = self._inputs[0]
            if _is_records(X) and self.feature_names is not None:
                rows = [X] if isinstance(X, Mapping) else X
                if isinstance(X, Mapping) and any(
                    isinstance(v, list | tuple | np.ndarray) for v in X.values()
                ):
                    X = pd.DataFrame(X)  # a dict of columns
                else:
                    absent = [c for c in self.feature_names if all(c not in r for r in rows)]
                    if absent:
                        raise SchemaError(
                            f"The records lack the columns {short_list(absent)} that the "
                            "ONNX model takes.",
                            fix="give every record a value for each input column.",
                        )
                    cells = [[r.get(c) for c in self.feature_names] for r in rows]
                    if dtype in NUMERIC_DTYPES and np.dtype(dtype).kind == "f":
                        try:  # numbers and None (NaN): straight to the matrix
                            return {name: np.array(cells, dtype=dtype)}
                        except (TypeError, ValueError):
                            pass
                    X = pd.DataFrame(cells, columns=self.feature_names)
            X = to_frame(X)
            if self.feature_names is not None and isinstance(X, pd.DataFrame):
                # Columns recorded at export: take them by name, in the graph's order.
                if list(X.columns) != self.feature_names:
                    missing = [c for c in self.feature_names if c not in X.columns]
                    if missing:
                        raise SchemaError(
                            f"The input lacks the columns {short_list(missing)} that the "
                            "ONNX model takes.",
                            fix="pass a frame with every input column of the model.",
                        )
                    X = X[self.feature_names]
            if dtype in NUMERIC_DTYPES:
                return {name: numeric_matrix(X, dtype, what="the ONNX model")}
            if dtype == "str":
                frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
                cols = [_text_values(frame[c]) for c in frame.columns]
                return {name: np.column_stack(cols) if cols else np.empty((len(frame), 0))}
            arr = X.to_numpy() if isinstance(X, pd.DataFrame) else np.asarray(X)
            return {name: arr}
        if _is_records(X):
            return self._feed_records(X)
        X = to_frame(X)
        if isinstance(X, np.ndarray):
            if X.ndim != 2 or X.shape[1] != len(self._inputs):
                raise SchemaError(
                    f"The input has shape {X.shape}, but the ONNX model takes "
                    f"{len(self._inputs)} columns ({short_list(self.feature_names)}).",
                    fix="pass a frame with the model's columns.",
                )
            X = pd.DataFrame(X, columns=self.feature_names)
        present = set(X.columns.tolist())
        missing = [n for n, _, _ in self._inputs if n not in present]
        if missing:
            from afterfit.data import renamed_columns

            extra = [c for c in X.columns if c not in set(self.feature_names)]
            renames = renamed_columns(missing, [str(c) for c in extra])
            if renames:
                X = X.rename(columns=renames)
                missing = [n for n in missing if n not in renames.values()]
        if missing:
            raise SchemaError(
                f"The input lacks the columns {short_list(missing)} that the ONNX model "
                "takes as inputs.",
                fix="pass a frame with every input column of the model.",
            )
        # Columns by position, each converted once: pandas' label-based access (X[name],
        # X[names]) costs ~0.1 ms a call with pandas 3's Arrow-backed column labels, which
        # would dominate a one-row call.
        position = self._positions(X)
        feed: dict[str, np.ndarray] = {}
        for name, dtype, _ in self._inputs:
            feed[name] = _input_column(X, position[name], name, dtype).reshape(-1, 1)
        return feed

    def _positions(self, X: pd.DataFrame) -> dict[str, int]:
        key = tuple(X.columns.tolist())
        cached = self._position_cache.get(key)
        if cached is None:
            index = {c: j for j, c in enumerate(key)}
            cached = {name: index[name] for name, _, _ in self._inputs}
            if len(self._position_cache) > 16:
                self._position_cache.clear()
            self._position_cache[key] = cached
        return cached

    def _feed_records(self, records: Any) -> dict[str, np.ndarray]:
        """A feed straight from records, without building a DataFrame: a dict of column
        to value (one row) or to a list of values, or a list of such one-row dicts."""
        rows = [records] if isinstance(records, Mapping) else list(records)
        if rows and all(isinstance(r, Mapping) for r in rows):
            single = len(rows) == 1 and not any(
                isinstance(v, list | tuple | np.ndarray | pd.Series) for v in rows[0].values()
            )
            if single or len(rows) > 1:
                columns = {n: [r.get(n, np.nan) for r in rows] for n, _, _ in self._inputs}
            else:
                columns = {n: list(np.ravel(rows[0].get(n, []))) for n, _, _ in self._inputs}
        else:
            raise SchemaError(
                "Records must be a dict of column to value(s) or a list of such dicts.",
                fix="pass {'col': value, ...}, {'col': [values], ...} or [{'col': value}, ...].",
            )
        absent = [n for n, _, _ in self._inputs if all(n not in r for r in rows)]
        if absent:
            raise SchemaError(
                f"The records lack the columns {short_list(absent)} that the ONNX model "
                "takes as inputs.",
                fix="give every record a value for each input column of the model.",
            )
        feed: dict[str, np.ndarray] = {}
        for name, dtype, _ in self._inputs:
            values = columns[name]
            if dtype in NUMERIC_DTYPES and np.dtype(dtype).kind == "f":
                try:  # numbers and None (which becomes NaN): one conversion
                    feed[name] = np.array(values, dtype=dtype).reshape(-1, 1)
                    continue
                except (TypeError, ValueError):
                    pass
            elif dtype == "str" and all(type(v) is str for v in values):
                feed[name] = np.array(values, dtype=object).reshape(-1, 1)
                continue
            arr = np.array(values, dtype=object)
            feed[name] = _input_column_array(arr, name, dtype).reshape(-1, 1)
        return feed

    def _run(self, names: list[str], X: Any) -> list[Any]:
        return self.session.run(names, self._feed(X))

    def predict_scores(self, X: Any) -> np.ndarray:
        """Scores for ``X``.

        Parameters
        ----------
        X : pandas.DataFrame, numpy.ndarray or polars.DataFrame
            Feature rows: a matrix for a single-input graph, a frame with one column per
            input for a multi-input graph.

        Returns
        -------
        numpy.ndarray
            Classification: ``(n, n_classes)`` scores in ``classes_`` order.
            Regression: ``(n,)`` predictions.
        """
        if self.task == "regression":
            (out,) = self._run([self._value_output], X)
            return np.asarray(out, dtype=np.float64).reshape(-1)
        (out,) = self._run([self._score_output], X)
        if self._zipmap:
            # Keys are the graph's labels (classes_ may relabel them, in the same order).
            keys = (
                self._zipmap_keys if self._zipmap_keys is not None else list(out[0]) if out else []
            )
            return np.array([[row[k] for k in keys] for row in out], dtype=np.float64)
        scores = np.asarray(out, dtype=np.float64)
        if scores.ndim == 1 or scores.shape[1] == 1:
            if not self.scores_are_probabilities:
                # One decision score d (LinearSVC): [-d, d], as the scikit-learn adapter.
                d = scores.reshape(-1)
                return np.column_stack([-d, d])
            return two_columns(scores)
        if self._reverse:
            return scores[:, ::-1]
        return scores

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels (from the label output when there is one) or values."""
        if self.task == "regression":
            return self.predict_scores(X)
        if self._label_output is not None and not self._relabelled:
            (labels,) = self._run([self._label_output], X)
            labels = np.asarray(labels).reshape(-1)
            if self._label_map is not None:
                mapped = [self._label_map.get(v, v) for v in labels.tolist()]
                return np.asarray(mapped, dtype=self.classes_.dtype)
            return labels
        return labels_from_scores(self.predict_scores(X), self.classes_)
