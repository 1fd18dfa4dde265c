"""Saliency methods through Captum, batched so that memory stays bounded.

Every method gives one map per image, ``(H, W)``, summed over the input channels:

=========================  ================================  ================================
name (aliases)             Captum                            map
=========================  ================================  ================================
``gradients``              ``Saliency`` (Simonyan et al.,    ``sum_c |d score / d x|``
(saliency, vanilla)        2014)
``gradient_x_input``       ``InputXGradient``                ``sum_c x * d score / d x``
(gxi, input_x_gradient)                                      (signed)
``integrated_gradients``   ``IntegratedGradients``           signed, zero baseline,
(ig)                       (Sundararajan et al., 2017)       Gauss-Legendre ``n_steps``
``smoothgrad`` (sg)        ``NoiseTunnel(Saliency)``         mean of ``|gradient|`` over
                           (Smilkov et al., 2017)            ``nt_samples`` noisy copies
``gradcam`` (grad_cam)     ``LayerGradCam`` + bilinear       ReLU of the class-weighted
                           upsampling (Selvaraju et al.)     activations of a conv layer
``occlusion``              ``Occlusion``                     score drop when a square patch
                                                             is set to 0 (signed)
=========================  ================================  ================================

The score explained is the model's output (logit) for the target class. Grad-CAM uses the
last ``torch.nn.Conv2d`` in the module's registration order unless a layer is named.

Batching: one forward pass holds at most ``batch_size`` rows, counting every expanded copy
(an image's IG steps, SmoothGrad samples and occlusion windows). Images are sent to Captum
in chunks and Captum's own internal batching splits the expanded copies, so a chunked run
gives the same maps as a per-image run (SmoothGrad aside: its noise is drawn per chunk,
seeded from ``random_state`` and the chunk).
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from afterfit.errors import InvalidInputError, ModelError, SchemaError
from afterfit.saliency.loading import import_captum, import_torch, is_torchscript

__all__ = [
    "ALIASES",
    "METHODS",
    "SIGNED_METHODS",
    "MethodSettings",
    "attribute",
    "canonical_methods",
    "check_inputs",
    "conv_layers",
    "find_layer",
    "predict_logits",
    "resolve_targets",
]

#: The methods, in the order results list them.
METHODS: tuple[str, ...] = (
    "gradients",
    "gradient_x_input",
    "integrated_gradients",
    "smoothgrad",
    "gradcam",
    "occlusion",
)
#: Other names accepted for each method.
ALIASES: dict[str, str] = {
    "saliency": "gradients",
    "vanilla": "gradients",
    "vanilla_gradients": "gradients",
    "grad": "gradients",
    "gxi": "gradient_x_input",
    "input_x_gradient": "gradient_x_input",
    "inputxgradient": "gradient_x_input",
    "gradient_input": "gradient_x_input",
    "ig": "integrated_gradients",
    "integratedgradients": "integrated_gradients",
    "sg": "smoothgrad",
    "smooth_grad": "smoothgrad",
    "noise_tunnel": "smoothgrad",
    "grad_cam": "gradcam",
    "layergradcam": "gradcam",
    "occ": "occlusion",
}
#: Methods whose maps are signed (positive: evidence for the target class).
SIGNED_METHODS: frozenset[str] = frozenset(
    {"gradient_x_input", "integrated_gradients", "occlusion"}
)
#: Pixel-gradient methods: the ones the patch test and the sanity check expect to react.
GRADIENT_METHODS: tuple[str, ...] = (
    "gradients",
    "gradient_x_input",
    "integrated_gradients",
    "smoothgrad",
)
#: Input floats per forward pass when ``batch_size`` is not given (4 MB of float32 inputs;
#: activations are usually tens of times more).
AUTO_BATCH_ELEMENTS = 1 << 20
#: Most rows per forward pass when ``batch_size`` is not given. On the digits CNN, 512 rows
#: run as fast as 3,200 with a fifth of the memory (benchmarks/bench_saliency.py).
_MAX_AUTO_ROWS = 512


@dataclass(frozen=True)
class MethodSettings:
    """The settings of every method, validated once.

    Parameters
    ----------
    n_steps : int, default 50
        Integrated Gradients: Gauss-Legendre points along the path from the baseline.
    nt_samples : int, default 10
        SmoothGrad: noisy copies per image.
    noise : float, default 0.15
        SmoothGrad: standard deviation of the noise as a fraction of the inputs' range
        (``max - min`` over all images; Smilkov et al. recommend 10-20%).
    gradcam_layer : str, optional
        Grad-CAM: the layer's name in ``module.named_modules()``; default the last
        ``Conv2d``.
    occlusion_window : int, optional
        Occlusion: side of the square patch; default ``max(2, min(H, W) // 8)``.
    occlusion_stride : int, optional
        Occlusion: step between patches; default half the window (at least 1).
    batch_size : int, optional
        Most rows per forward pass; default: as many as hold 1M input floats (at most
        512).
    random_state : int, default 0
        Seed of SmoothGrad's noise.
    """

    n_steps: int = 50
    nt_samples: int = 10
    noise: float = 0.15
    gradcam_layer: str | None = None
    occlusion_window: int | None = None
    occlusion_stride: int | None = None
    batch_size: int | None = None
    random_state: int = 0

    def __post_init__(self) -> None:
        for name in ("n_steps", "nt_samples"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
                raise InvalidInputError(
                    f"The argument '{name}' must be a positive integer; received {value!r}.",
                    fix=f"pass for example {name}={50 if name == 'n_steps' else 10}.",
                )
        for name in ("occlusion_window", "occlusion_stride", "batch_size"):
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1
            ):
                raise InvalidInputError(
                    f"The argument '{name}' must be a positive integer or None; received "
                    f"{value!r}.",
                    fix=f"pass a positive integer, or leave '{name}' out for the default.",
                )
        if not (isinstance(self.noise, int | float) and 0 < self.noise < 10):
            raise InvalidInputError(
                f"The argument 'noise' must be a positive fraction of the input range; "
                f"received {self.noise!r}.",
                fix="pass noise=0.15 (SmoothGrad works best between 0.1 and 0.2).",
            )
        if not isinstance(self.random_state, int | np.integer):
            raise InvalidInputError(
                f"The argument 'random_state' must be an integer; received {self.random_state!r}.",
                fix="pass random_state=0 or another integer.",
            )

    def rows(self, shape: Sequence[int]) -> int:
        """Rows per forward pass for inputs of ``shape`` ``(C, H, W)``."""
        if self.batch_size is not None:
            return int(self.batch_size)
        per_row = int(np.prod(shape))
        return int(max(1, min(_MAX_AUTO_ROWS, AUTO_BATCH_ELEMENTS // max(per_row, 1))))

    def window(self, shape: Sequence[int]) -> tuple[int, int]:
        """(window, stride) of occlusion for inputs of ``shape`` ``(C, H, W)``."""
        side = min(shape[1], shape[2])
        window = self.occlusion_window or max(2, side // 8)
        window = min(window, side)
        stride = self.occlusion_stride or max(1, window // 2)
        return int(window), int(stride)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_steps": int(self.n_steps),
            "nt_samples": int(self.nt_samples),
            "noise": float(self.noise),
            "gradcam_layer": self.gradcam_layer,
            "occlusion_window": self.occlusion_window,
            "occlusion_stride": self.occlusion_stride,
            "batch_size": self.batch_size,
            "random_state": int(self.random_state),
        }


def canonical_methods(methods: str | Sequence[str]) -> tuple[str, ...]:
    """Method names (aliases, any case, ``-`` or ``_``) as canonical names, in order given.

    ``"all"`` means every method.
    """
    if isinstance(methods, str):
        methods = [m for m in methods.split(",") if m.strip()]
    out: list[str] = []
    for raw in methods:
        if not isinstance(raw, str):
            raise InvalidInputError(
                f"Method names must be strings; received {raw!r}.",
                fix=f"pass names among {', '.join(METHODS)}.",
            )
        key = raw.strip().lower().replace("-", "_").replace(" ", "_")
        if key == "all":
            out.extend(METHODS)
            continue
        name = key if key in METHODS else ALIASES.get(key)
        if name is None:
            close = difflib.get_close_matches(key, [*METHODS, *ALIASES], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise InvalidInputError(
                f"Unknown saliency method {raw!r}{hint}.",
                fix=f"choose among {', '.join(METHODS)} (or ig, sg, gxi, all).",
            )
        out.append(name)
    out = list(dict.fromkeys(out))
    if not out:
        raise InvalidInputError(
            "No saliency method was given.",
            fix=f"pass at least one of {', '.join(METHODS)}.",
        )
    return tuple(out)


@contextlib.contextmanager
def eval_mode(module: Any) -> Iterator[None]:
    """The module in eval mode (dropout off, batch-norm statistics fixed), then restored."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def _layer_kind(layer: Any) -> str:
    return str(getattr(layer, "original_name", type(layer).__name__))


def conv_layers(module: Any) -> list[str]:
    """Names of the module's 2-D convolutions, in registration order."""
    return [
        name for name, layer in module.named_modules() if name and _layer_kind(layer) == "Conv2d"
    ]


def find_layer(module: Any, name: str | None) -> tuple[str, Any]:
    """The Grad-CAM layer: ``name`` in ``module.named_modules()``, or the last ``Conv2d``.

    Raises
    ------
    InvalidInputError
        ``name`` is not a layer of the module, or the module has no ``Conv2d`` to choose.
    """
    layers = dict(module.named_modules())
    convs = conv_layers(module)
    if name is None:
        if not convs:
            raise InvalidInputError(
                f"Grad-CAM needs a convolutional layer and {type(module).__name__} has no "
                "torch.nn.Conv2d.",
                fix="name the layer to use (gradcam_layer='...', --layer) or leave Grad-CAM "
                "out of the methods.",
            )
        return convs[-1], layers[convs[-1]]
    if name not in layers or name == "":
        close = difflib.get_close_matches(name, [n for n in layers if n], n=3)
        hint = f" Closest names: {', '.join(close)}." if close else ""
        listed = ", ".join(convs[-8:]) if convs else "(none)"
        raise InvalidInputError(
            f"The layer {name!r} is not in the model.{hint} Its convolutional layers: {listed}.",
            fix="pass a name from model.named_modules() (for example the last "
            "convolutional layer), or leave the layer out to use the last Conv2d.",
        )
    return name, layers[name]


def predict_logits(module: Any, inputs: np.ndarray, rows: int) -> np.ndarray:
    """The module's outputs for ``(n, C, H, W)`` inputs, in batches, as float64."""
    torch = import_torch()
    chunks = []
    with eval_mode(module), torch.no_grad():
        for start in range(0, len(inputs), rows):
            batch = torch.from_numpy(np.ascontiguousarray(inputs[start : start + rows]))
            out = module(to_model(batch, module))
            chunks.append(out.detach().to("cpu", torch.float64).numpy())
    return np.concatenate(chunks) if chunks else np.empty((0, 0))


def _device(module: Any) -> Any:
    param = next(iter(module.parameters()), None)
    torch = import_torch()
    return param.device if param is not None else torch.device("cpu")


def to_model(x: Any, module: Any) -> Any:
    """A float tensor on the module's device, in the dtype of its floating parameters
    (float32 images for a float64 or float16 network)."""
    param = next((p for p in module.parameters() if p.is_floating_point()), None)
    if param is None:
        return x
    return x.to(param.device, param.dtype)


def _brief(exc: BaseException, limit: int = 200) -> str:
    text = str(exc)
    if "Traceback of TorchScript" in text:
        # TorchScript wraps the error in its own traceback; its last line is the error.
        lines = [line for line in text.splitlines() if line.strip()]
        text = lines[-1] if lines else text
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_inputs(module: Any, inputs: np.ndarray) -> int:
    """Check that the module takes these images; return its number of classes.

    Raises
    ------
    SchemaError
        The channel count differs from the first convolution's, or a forward pass on one
        image fails (wrong size) or does not give one row of class scores per image.
    """
    c, h, w = inputs.shape[1:]
    first = next(
        (layer for _, layer in module.named_modules() if _layer_kind(layer) == "Conv2d"), None
    )
    expected = getattr(first, "in_channels", None)
    if isinstance(expected, int) and expected != c:
        raise SchemaError(
            f"The images have {c} channel{'s' if c != 1 else ''} but the model's first "
            f"convolution takes {expected}.",
            fix=f"declare channels={expected} in the preprocessing (--channels {expected}).",
        )
    probe = inputs[:2]
    try:
        out = predict_logits(module, probe, len(probe))
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        raise SchemaError(
            f"The model fails on images of shape ({c}, {h}, {w}) (channels, height, width): "
            f"{_brief(exc)}.",
            fix="resize the images to the size the model was trained on (size=(H, W), "
            "--resize HxW) and give them its channel count (channels=, --channels).",
        ) from None
    if out.ndim != 2 or out.shape[0] != len(probe) or out.shape[1] < 2:
        raise ModelError(
            f"The model returns an output of shape {tuple(out.shape)} for {len(probe)} "
            "images; saliency maps need one row of class scores (logits) per image, with at "
            "least 2 classes.",
            fix="pass an image classifier whose forward returns (n, n_classes) logits.",
        )
    return int(out.shape[1])


def resolve_targets(
    targets: Any, n: int, n_classes: int, *, labels: np.ndarray | None, predicted: np.ndarray
) -> np.ndarray:
    """The class explained for each image.

    ``None`` or ``"predicted"``: the class the model scores highest; ``"labels"``: the
    images' labels; an int: that class for every image; a sequence: one class per image.
    """
    if targets is None or (isinstance(targets, str) and targets == "predicted"):
        return predicted.astype(np.int64)
    if isinstance(targets, str):
        if targets != "labels":
            raise InvalidInputError(
                f"The argument 'targets' must be None, 'predicted', 'labels', a class index "
                f"or one index per image; received {targets!r}.",
                fix="pass targets='predicted' (default) or targets='labels'.",
            )
        if labels is None:
            raise InvalidInputError(
                "targets='labels' needs labelled images, and these images have no labels.",
                fix="use a class-per-subfolder folder or an .npz with 'labels', or pass "
                "targets='predicted'.",
            )
        t = np.asarray(labels)
        what = "A label"
    elif isinstance(targets, int | np.integer) and not isinstance(targets, bool):
        t = np.full(n, int(targets), dtype=np.int64)
        what = "The target class"
    else:
        if type(targets).__module__.startswith("torch"):
            targets = targets.detach().cpu().numpy()
        t = np.asarray(targets)
        if t.ndim != 1 or len(t) != n:
            raise InvalidInputError(
                f"The argument 'targets' has shape {t.shape}; one class index per image "
                f"({n}) is needed.",
                fix="pass one integer per image, a single integer, or targets=None.",
            )
        if not np.issubdtype(t.dtype, np.integer):
            raise InvalidInputError(
                f"The argument 'targets' holds {t.dtype} values, not class indices.",
                fix=f"pass integers 0..{n_classes - 1} (the model's output columns).",
            )
        what = "A target class"
    bad = (t < 0) | (t >= n_classes)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(
            f"{what} is out of range: {int(t[first])} (image {first}); the model has "
            f"{n_classes} classes, 0..{n_classes - 1}.",
            fix="pass class indices in the order of the model's outputs (folder names that "
            "are integers are used as indices).",
        )
    return t.astype(np.int64)


@contextlib.contextmanager
def _seeded(torch: Any, seed: int, device: Any = None) -> Iterator[None]:
    """Seed torch's global generators (Captum draws its noise from them, on the inputs'
    device) and restore them afterwards."""
    cuda = [device.index or 0] if device is not None and device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        yield


def _layer_for(module: Any, method: str, settings: MethodSettings) -> Any:
    if method != "gradcam":
        return None
    if is_torchscript(module):
        raise ModelError(
            "Grad-CAM reads a layer's activations through forward hooks, which TorchScript "
            "modules do not support.",
            fix="load the weights as a state dict with the module class (--module-class), "
            "pass the in-memory nn.Module, or leave gradcam out of the methods.",
        )
    return find_layer(module, settings.gradcam_layer)[1]


def attribute(
    module: Any,
    inputs: np.ndarray,
    targets: np.ndarray,
    method: str,
    settings: MethodSettings,
    *,
    noise_std: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Maps of one method for every image, ``(n, H, W)`` float32.

    Parameters
    ----------
    module : torch.nn.Module
        The classifier; it runs in eval mode, restored afterwards.
    inputs : numpy.ndarray
        ``(n, C, H, W)`` float32 model inputs.
    targets : numpy.ndarray
        ``(n,)`` class indices explained.
    method : str
        A canonical method name (:data:`METHODS`).
    settings : MethodSettings
    noise_std : float, optional
        SmoothGrad's absolute noise standard deviation; default ``settings.noise`` times the
        range of ``inputs``.
    progress : callable, optional
        Called with the number of images done after each chunk.
    """
    torch = import_torch()
    attr = import_captum()
    if method not in METHODS:
        raise InvalidInputError(
            f"Unknown saliency method {method!r}.", fix=f"choose among {', '.join(METHODS)}."
        )
    n, c, h, w = inputs.shape
    rows = settings.rows((c, h, w))
    layer = _layer_for(module, method, settings)
    window, stride = settings.window((c, h, w))
    n_windows = ((h - window) // stride + 1) * ((w - window) // stride + 1)
    expansion = {
        "integrated_gradients": settings.n_steps,
        "smoothgrad": settings.nt_samples,
        "occlusion": n_windows,
    }.get(method, 1)
    per_call = max(1, min(n, rows // expansion))
    inner = max(1, rows // per_call)
    if noise_std is None:
        noise_std = settings.noise * float(inputs.max() - inputs.min() or 1.0)
    device = _device(module)
    out = np.empty((n, h, w), dtype=np.float32)
    with eval_mode(module):
        for start in range(0, n, per_call):
            stop = min(n, start + per_call)
            x = to_model(torch.from_numpy(np.ascontiguousarray(inputs[start:stop])), module)
            if method != "occlusion":  # Captum warns when it has to switch gradients on
                x.requires_grad_(True)
            t = torch.from_numpy(targets[start:stop]).to(device)
            if method == "gradients":
                a = attr.Saliency(module).attribute(x, target=t, abs=True)
            elif method == "gradient_x_input":
                a = attr.InputXGradient(module).attribute(x, target=t)
            elif method == "integrated_gradients":
                a = attr.IntegratedGradients(module).attribute(
                    x,
                    baselines=torch.zeros_like(x),
                    target=t,
                    n_steps=settings.n_steps,
                    internal_batch_size=max(inner * (stop - start), stop - start),
                )
            elif method == "smoothgrad":
                with _seeded(torch, settings.random_state * 1_000_003 + start, device):
                    a = attr.NoiseTunnel(attr.Saliency(module)).attribute(
                        x,
                        nt_type="smoothgrad",
                        nt_samples=settings.nt_samples,
                        nt_samples_batch_size=min(inner, settings.nt_samples),
                        stdevs=float(noise_std),
                        target=t,
                        abs=True,
                    )
            elif method == "gradcam":
                cam = attr.LayerGradCam(module, layer).attribute(
                    x, target=t, relu_attributions=True
                )
                a = attr.LayerAttribution.interpolate(cam, (h, w), interpolate_mode="bilinear")
            else:  # occlusion
                a = attr.Occlusion(module).attribute(
                    x,
                    sliding_window_shapes=(c, window, window),
                    strides=(c, stride, stride),
                    baselines=0.0,
                    target=t,
                    perturbations_per_eval=min(inner, n_windows),
                )
            out[start:stop] = a.detach().sum(dim=1).to("cpu", torch.float32).numpy()
            if progress is not None:
                progress(stop - start)
    return out
