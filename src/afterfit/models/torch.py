"""Adapter for in-memory PyTorch modules.

torch is imported only when a :class:`TorchModel` is made, never on ``import afterfit``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from afterfit.errors import MissingDependencyError, ModelError, SchemaError
from afterfit.models._common import (
    as_classes,
    check_task,
    check_task_classes,
    labels_from_scores,
    numeric_matrix,
    short_list,
    softmax,
    task_from_n_classes,
    to_frame,
)
from afterfit.models.base import Task

__all__ = ["TorchModel", "import_torch", "is_torch_module"]


def import_torch(purpose: str = "Using a PyTorch model") -> Any:
    """Import and return torch, or raise :class:`MissingDependencyError`."""
    try:
        import torch
    except ImportError as exc:
        raise MissingDependencyError("torch", "torch", purpose=purpose) from exc
    return torch


def is_torch_module(obj: Any) -> bool:
    """Whether ``obj`` is a ``torch.nn.Module``, checked without importing torch."""
    return any(
        c.__name__ == "Module" and c.__module__.startswith("torch.nn") for c in type(obj).__mro__
    )


def _dims(module: Any) -> tuple[int | None, int | None]:
    """(input features of the first layer, output features of the last layer), if known."""
    first_in = last_out = None
    for sub in module.modules():
        if first_in is None and isinstance(getattr(sub, "in_features", None), int):
            first_in = sub.in_features
        if isinstance(getattr(sub, "out_features", None), int):
            last_out = sub.out_features
    return first_in, last_out


class TorchModel:
    """A ``torch.nn.Module`` seen through the ``Model`` protocol.

    The module runs in eval mode (its previous mode is restored afterwards), under
    ``torch.no_grad()``, in batches, on float32 inputs (or the dtype of its parameters).

    Parameters
    ----------
    module : torch.nn.Module
        The trained network; it maps an ``(n, n_features)`` tensor to ``(n, k)`` outputs.
    task : {"binary", "multiclass", "regression"}, optional
        By default inferred from the output width of the last linear layer: 1 means
        ``"regression"``, 2 ``"binary"``, more ``"multiclass"``. A binary classifier with a
        single output logit needs ``task="binary"``.
    classes : sequence, optional
        Class labels in the order of the output columns; default ``0..k-1``.
    output : {"logits", "probabilities"}, default "logits"
        What the module returns for classification. Logits go through a softmax (a single
        binary logit through a sigmoid, giving two columns); probabilities are used as is.
    batch_size : int, default 4096
        Rows per forward pass.
    feature_names : sequence of str, optional
        Input columns in the order the module expects them; frames are reordered to it.

    Attributes
    ----------
    task, classes_, feature_names, scores_are_probabilities
        As in :class:`~afterfit.models.base.Model`; scores are always probabilities.
    n_features : int or None
        Input width of the first linear layer, when there is one.
    feature_dtypes : None
    input_dtype : str
        The dtype inputs are converted to (``"float32"`` unless the module's parameters
        are of another floating type).
    module : torch.nn.Module

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    >>> TorchModel(net).task
    'multiclass'
    """

    def __init__(
        self,
        module: Any,
        *,
        task: Task | None = None,
        classes: Sequence[Any] | np.ndarray | None = None,
        output: Literal["logits", "probabilities"] = "logits",
        batch_size: int = 4096,
        feature_names: Sequence[str] | None = None,
    ) -> None:
        torch = import_torch()
        if not isinstance(module, torch.nn.Module):
            raise ModelError(
                f"TorchModel takes a torch.nn.Module; received a {type(module).__name__}.",
                fix="pass the trained network itself (an nn.Module instance).",
            )
        if output not in ("logits", "probabilities"):
            raise ModelError(
                f"The argument 'output' must be 'logits' or 'probabilities'; received {output!r}.",
                fix="pass output='logits' when the module ends in a linear layer, "
                "output='probabilities' when it ends in a softmax or sigmoid.",
            )
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ModelError(
                f"The argument 'batch_size' must be a positive integer; received {batch_size!r}.",
                fix="pass batch_size=4096 or another positive integer.",
            )
        task = check_task(task)
        classes_arg = as_classes(classes)
        n_in, n_out = _dims(module)
        if task is None:
            if classes_arg is not None:
                task = task_from_n_classes(len(classes_arg))
            elif n_out is None:
                raise ModelError(
                    "The task of the torch module cannot be inferred: it has no final layer "
                    "with an out_features attribute.",
                    fix="pass task='binary', 'multiclass' or 'regression' (and classes=[...]).",
                )
            elif n_out == 1:
                task = "regression"
            else:
                task = task_from_n_classes(n_out)
        self.task: Task = task
        if task == "regression":
            if n_out not in (None, 1):
                raise ModelError(
                    f"The torch module has {n_out} outputs, but the task given is "
                    "'regression', which needs one.",
                    fix="pass task='binary' or 'multiclass', or a module with one output.",
                )
            self.classes_: np.ndarray | None = None
            self.scores_are_probabilities = False
        else:
            if classes_arg is None:
                k = 2 if task == "binary" else n_out
                if k is None:
                    raise ModelError(
                        "The number of classes of the torch module cannot be read from it.",
                        fix="pass classes=[...] in the order of its output columns.",
                    )
                classes_arg = np.arange(k)
            if n_out is not None and n_out != len(classes_arg):
                if not (task == "binary" and n_out == 1):
                    raise ModelError(
                        f"The torch module has {n_out} outputs but {len(classes_arg)} classes "
                        f"are given ({short_list(classes_arg)}).",
                        fix="pass one class label per output column.",
                    )
            check_task_classes(task, classes_arg, what="The torch module")
            self.classes_ = classes_arg
            self.scores_are_probabilities = True
        self.module = module
        self.output = output
        self.batch_size = batch_size
        self.feature_names: list[str] | None = (
            [str(n) for n in feature_names] if feature_names is not None else None
        )
        if self.feature_names is not None and n_in is not None and len(self.feature_names) != n_in:
            raise ModelError(
                f"The argument 'feature_names' has {len(self.feature_names)} names but the "
                f"torch module's first layer takes {n_in} inputs.",
                fix="pass one name per input column, in the module's order.",
            )
        self.n_features: int | None = n_in
        if self.n_features is None and self.feature_names is not None:
            self.n_features = len(self.feature_names)
        self.feature_dtypes: dict[str, str] | None = None
        param = next((p for p in module.parameters() if p.is_floating_point()), None)
        self._dtype = param.dtype if param is not None else torch.float32
        self._device = param.device if param is not None else torch.device("cpu")
        self.input_dtype: str | None = str(self._dtype).removeprefix("torch.")

    def __repr__(self) -> str:
        return f"TorchModel({type(self.module).__name__}, task={self.task!r})"

    def _outputs(self, X: Any) -> np.ndarray:
        torch = import_torch()
        X = to_frame(X)
        if self.feature_names is not None and isinstance(X, pd.DataFrame):
            missing = [c for c in self.feature_names if c not in X.columns]
            if missing:
                raise SchemaError(
                    f"The input lacks the columns {short_list(missing)} that the torch "
                    "module takes.",
                    fix="pass a frame with every column named in feature_names.",
                )
            X = X[self.feature_names]
        arr = numeric_matrix(X, self.input_dtype, what="the torch module")
        arr = np.require(arr, requirements=["C", "W"])  # torch wants writable memory
        if self.n_features is not None and arr.shape[1] != self.n_features:
            raise SchemaError(
                f"The input has {arr.shape[1]} columns, but the torch module takes "
                f"{self.n_features}.",
                fix="pass one column per input feature, in the module's order.",
            )
        was_training = self.module.training
        self.module.eval()
        chunks = []
        try:
            with torch.no_grad():
                for start in range(0, len(arr), self.batch_size):
                    batch = torch.from_numpy(arr[start : start + self.batch_size])
                    out = self.module(batch.to(self._device))
                    chunks.append(out.detach().to("cpu", torch.float64).numpy())
        finally:
            self.module.train(was_training)
        if not chunks:
            return np.empty((0, 1 if self.classes_ is None else len(self.classes_)))
        out = np.concatenate(chunks, axis=0)
        return out.reshape(-1, 1) if out.ndim == 1 else out

    def predict_scores(self, X: Any) -> np.ndarray:
        """Scores for ``X``.

        Parameters
        ----------
        X : pandas.DataFrame, numpy.ndarray or polars.DataFrame
            Feature rows, numeric.

        Returns
        -------
        numpy.ndarray
            Classification: ``(n, n_classes)`` probabilities. Regression: ``(n,)``.
        """
        out = self._outputs(X)
        if self.task == "regression":
            if out.shape[1] != 1:
                raise ModelError(
                    f"The torch module returned {out.shape[1]} columns for a regression task.",
                    fix="pass task='binary' or 'multiclass', or a module with one output.",
                )
            return out.reshape(-1)
        if out.shape[1] == 1:  # one binary logit or probability
            p = out[:, 0]
            if self.output == "logits":
                p = 1.0 / (1.0 + np.exp(-p))
            return np.column_stack([1.0 - p, p])
        if out.shape[1] != len(self.classes_):
            raise ModelError(
                f"The torch module returned {out.shape[1]} columns but it has "
                f"{len(self.classes_)} classes.",
                fix="pass classes=[...] with one label per output column.",
            )
        return softmax(out) if self.output == "logits" else out

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels (the most probable class) or values."""
        scores = self.predict_scores(X)
        if self.task == "regression":
            return scores
        return labels_from_scores(scores, self.classes_)
