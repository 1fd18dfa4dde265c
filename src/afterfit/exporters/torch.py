"""PyTorch modules to ONNX with ``torch.onnx.export``.

The TorchScript-based exporter (``dynamo=False``) is used: the dynamo exporter, torch's
default since 2.9, needs the ``onnxscript`` package, which afterfit does not require; the
older exporter handles the feed-forward networks afterfit serves. The batch axis is
dynamic. The graph ends in the same softmax (or sigmoid for a single binary logit) that
:class:`~afterfit.models.torch.TorchModel` applies, so it outputs probabilities.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import pandas as pd

__all__ = ["torch_to_onnx"]


def torch_to_onnx(
    adapter: Any, X: pd.DataFrame, *, precision: str, target_opset: int | None
) -> Any:
    """Export the module of a :class:`~afterfit.models.torch.TorchModel` to a ModelProto.

    Parameters
    ----------
    adapter : TorchModel
        The module with its task and output kind (logits or probabilities).
    X : pandas.DataFrame
        Rows with the module's input columns; two of them trace the graph.
    precision : {"float32", "float64"}
        The input dtype (the module's parameter dtype).
    target_opset : int or None
        The opset; None for the exporter's default.

    Returns
    -------
    onnx.ModelProto
    """
    import onnx
    import torch

    from afterfit.models._common import numeric_matrix

    module = adapter.module

    class _Head(torch.nn.Module):
        """The module followed by the adapter's link to probabilities."""

        def __init__(self, inner: Any, task: str, output: str) -> None:
            super().__init__()
            self.inner = inner
            self.task = task
            self.output = output

        def forward(self, x: Any) -> Any:
            z = self.inner(x)
            if self.task == "regression" or self.output == "probabilities":
                return z
            if z.shape[-1] == 1:
                return torch.sigmoid(z)
            return torch.softmax(z, dim=-1)

    head = _Head(module, adapter.task, adapter.output)
    cols = adapter.feature_names if adapter.feature_names is not None else list(X.columns)
    sample = numeric_matrix(X[cols].head(2), precision, what="the torch module").copy()
    dummy = torch.from_numpy(sample)
    was_training = module.training
    module.eval()
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():
            # The TorchScript exporter announces its deprecation on every call.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", UserWarning)
            torch.onnx.export(
                head,
                (dummy,),
                buf,
                dynamo=False,
                input_names=["X"],
                output_names=["output"],
                dynamic_axes={"X": {0: "batch"}, "output": {0: "batch"}},
                opset_version=target_opset,
            )
    finally:
        module.train(was_training)
    return onnx.load_from_string(buf.getvalue())
