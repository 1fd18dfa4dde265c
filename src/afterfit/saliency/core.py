"""``compute_saliency()``: maps of every method, then their faithfulness and sanity checks."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from afterfit.errors import InvalidInputError
from afterfit.models._common import softmax
from afterfit.saliency.images import ImageSet, Preprocess, load_images
from afterfit.saliency.loading import as_torch_module, import_captum
from afterfit.saliency.methods import (
    MethodSettings,
    attribute,
    canonical_methods,
    check_inputs,
    find_layer,
    predict_logits,
    resolve_targets,
)
from afterfit.saliency.results import SaliencyMaps, spread_rows

__all__ = ["DEFAULT_METHODS", "Progress", "compute_saliency"]

#: Methods computed when none are named.
DEFAULT_METHODS: tuple[str, ...] = ("gradients", "integrated_gradients", "smoothgrad", "gradcam")

#: ``progress(stage, done, total)``: ``stage`` is "maps", "faithfulness" or "sanity";
#: ``done`` the images just finished; ``total`` the stage's images in all.
Progress = Callable[[str, int, int], None]


def _stage(progress: Progress | None, stage: str, total: int) -> Callable[[int], None] | None:
    if progress is None:
        return None
    return lambda done: progress(stage, done, total)


def _positive_int(value: Any, name: str, default: int) -> int:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
        raise InvalidInputError(
            f"The argument '{name}' must be a positive integer; received {value!r}.",
            fix=f"pass {name}={default} or another positive integer.",
        )
    return int(value)


def compute_saliency(
    model: Any,
    images: Any,
    targets: Any = None,
    methods: str | Sequence[str] = DEFAULT_METHODS,
    *,
    labels: Any = None,
    preprocess: Preprocess | None = None,
    gradcam_layer: str | None = None,
    n_steps: int = 50,
    nt_samples: int = 10,
    noise: float = 0.15,
    occlusion_window: int | None = None,
    occlusion_stride: int | None = None,
    batch_size: int | None = None,
    max_images: int | None = None,
    faithfulness: bool = True,
    faithfulness_steps: int = 16,
    baseline: str | float = "zero",
    sanity: bool = True,
    sanity_images: int = 8,
    sanity_steps: int | None = 8,
    sanity_threshold: float = 0.5,
    confidence: float = 0.95,
    random_state: int = 0,
    progress: Progress | None = None,
    module_class: str | type | None = None,
    module_kwargs: Mapping[str, Any] | str | None = None,
    trust: bool = False,
) -> SaliencyMaps:
    """Saliency maps of a PyTorch image classifier, with faithfulness and sanity checks.

    Parameters
    ----------
    model : torch.nn.Module or path
        The classifier (its forward returns ``(n, n_classes)`` logits), or a ``.pt`` file:
        TorchScript, or a state dict with ``module_class`` (see
        :func:`afterfit.saliency.load_torch_module`).
    images : path, array, tensor or ImageSet
        A folder (class subfolders), an ``.npz`` (``images``/``labels``), or an array of
        ``(n, H, W)``, ``(n, H, W, C)`` or ``(n, C, H, W)`` images
        (:func:`afterfit.saliency.load_images`).
    targets : None, "predicted", "labels", int or sequence of int, optional
        The class each map explains: by default the class the model predicts.
    methods : str or sequence of str, default ("gradients", "integrated_gradients", \
"smoothgrad", "gradcam")
        Among ``gradients``, ``gradient_x_input``, ``integrated_gradients``,
        ``smoothgrad``, ``gradcam``, ``occlusion`` (aliases ``ig``, ``sg``, ``gxi``,
        ``saliency``; ``"all"``); a comma-separated string works too.
    labels : array-like, optional
        True labels of array images.
    preprocess : Preprocess, optional
        Scaling, channels, resizing and normalisation of the images, applied the same way
        everywhere.
    gradcam_layer : str, optional
        Grad-CAM's layer (a name in ``model.named_modules()``); default the last ``Conv2d``.
    n_steps : int, default 50
        Integrated Gradients' steps.
    nt_samples : int, default 10
        SmoothGrad's noisy copies per image.
    noise : float, default 0.15
        SmoothGrad's noise standard deviation, as a fraction of the inputs' range.
    occlusion_window, occlusion_stride : int, optional
        Occlusion's square patch side and step; default ``max(2, side // 8)`` and half.
    batch_size : int, optional
        Most rows per forward pass (IG steps, noisy copies and occluded copies count);
        default: what holds 1M input floats, at most 512.
    max_images : int, optional
        Explain at most this many images, evenly spaced through the set (so a folder
        sorted by class keeps every class).
    faithfulness : bool, default True
        Compute deletion and insertion curves (:attr:`SaliencyMaps.faithfulness`).
    faithfulness_steps : int, default 16
        Points per curve after the first.
    baseline : {"zero", "mean", "blur"} or float, default "zero"
        What deleted pixels become (and where insertion starts).
    sanity : bool, default True
        Run the cascading randomisation check (:attr:`SaliencyMaps.sanity`).
    sanity_images : int, default 8
        Images used by the sanity check, evenly spaced through the set.
    sanity_steps : int or None, default 8
        Most cascade steps; deeper networks are randomised in blocks.
    sanity_threshold : float, default 0.5
        A method fails the sanity check when its maps keep a mean rank correlation or SSIM
        of at least this with every layer randomised.
    confidence : float, default 0.95
        Level of the intervals of the faithfulness gains.
    random_state : int, default 0
        Seed of SmoothGrad's noise, the random pixel orders and the randomised weights.
    progress : callable, optional
        ``progress(stage, done, total)``, called as images are done in each stage
        (``"maps"``, ``"faithfulness"``, ``"sanity"``).
    module_class, module_kwargs, trust
        For a state-dict file: see :func:`afterfit.saliency.load_torch_module`.

    Returns
    -------
    SaliencyMaps
        ``.maps``, ``.plot(n=8)``, ``.frame()``, ``.to_dict()``, ``.faithfulness.frame()``,
        ``.sanity.frame()``.

    Raises
    ------
    SchemaError
        The images' size or channel count does not fit the model.
    InvalidInputError
        An unknown method or layer, a target class out of range, a bad option.
    ModelLoadError, UntrustedModelError
        A model file that is not a module or state dict, or that needs ``trust``.
    MissingDependencyError
        torch or captum is not installed (``pip install 'afterfit[saliency]'``).

    Examples
    --------
    >>> from afterfit.saliency import compute_saliency, train_digits_cnn
    >>> module, X_test, y_test = train_digits_cnn(random_state=0)  # doctest: +SKIP
    >>> maps = compute_saliency(module, X_test[:32], methods=("gradcam", "ig"))  # doctest: +SKIP
    >>> maps.faithfulness.frame()  # doctest: +SKIP
    >>> maps.sanity.frame()  # doctest: +SKIP
    >>> maps.plot(n=8)  # doctest: +SKIP
    """
    import_captum("Saliency maps")
    names = canonical_methods(methods)
    settings = MethodSettings(
        n_steps=n_steps,
        nt_samples=nt_samples,
        noise=noise,
        gradcam_layer=gradcam_layer,
        occlusion_window=occlusion_window,
        occlusion_stride=occlusion_stride,
        batch_size=batch_size,
        random_state=random_state,
    )
    sanity_images = _positive_int(sanity_images, "sanity_images", 8)
    faithfulness_steps = _positive_int(faithfulness_steps, "faithfulness_steps", 16)
    if max_images is not None:
        max_images = _positive_int(max_images, "max_images", 64)
    module = as_torch_module(
        model, module_class=module_class, module_kwargs=module_kwargs, trust=trust
    )
    image_set: ImageSet = load_images(images, labels, preprocess=preprocess)
    if max_images is not None and len(image_set) > max_images:
        # Evenly spaced rather than the first ones: a class-per-folder set stays mixed.
        keep = np.unique(np.rint(np.linspace(0, len(image_set) - 1, max_images)).astype(int))
        image_set = image_set.subset(keep)
    n_classes = check_inputs(module, image_set.inputs)
    layer_name = None
    if "gradcam" in names:
        from afterfit.saliency.methods import _layer_for

        _layer_for(module, "gradcam", settings)  # TorchScript or unknown layer: fail early
        layer_name = find_layer(module, gradcam_layer)[0]
    inputs = image_set.inputs
    rows = settings.rows(inputs.shape[1:])
    logits = predict_logits(module, inputs, rows)
    probabilities = softmax(logits)
    predicted = logits.argmax(axis=1)
    t = resolve_targets(
        targets, len(inputs), n_classes, labels=image_set.labels, predicted=predicted
    )
    # SmoothGrad's noise scale comes from the whole set, so chunks and subsets agree.
    noise_std = settings.noise * float(inputs.max() - inputs.min() or 1.0)
    timings: dict[str, float] = {}
    maps: dict[str, np.ndarray] = {}
    advance = _stage(progress, "maps", len(inputs) * len(names))
    for m in names:
        start = time.perf_counter()
        maps[m] = attribute(module, inputs, t, m, settings, noise_std=noise_std, progress=advance)
        timings[m] = time.perf_counter() - start
    faith = None
    if faithfulness:
        from afterfit.saliency.faithfulness import faithfulness as run_faithfulness

        start = time.perf_counter()
        faith = run_faithfulness(
            module,
            inputs,
            maps,
            t,
            steps=faithfulness_steps,
            baseline=baseline,
            confidence=confidence,
            random_state=random_state,
            batch_size=max(rows, 64),
            progress=_stage(progress, "faithfulness", len(inputs) * (len(names) + 1)),
        )
        timings["faithfulness"] = time.perf_counter() - start
    sane = None
    if sanity:
        from afterfit.saliency.sanity import cascade_layers, sanity_check

        start = time.perf_counter()
        rows_used = spread_rows(len(inputs), sanity_images)
        k = len(rows_used)
        n_steps_cascade = len(cascade_layers(module, sanity_steps))
        sane = sanity_check(
            module,
            inputs[rows_used],
            t[rows_used],
            names,
            settings,
            # SmoothGrad's reference is recomputed on the subset so that the trained and
            # randomised models see the same noise draws.
            reference={m: maps[m][rows_used] for m in names if m != "smoothgrad"},
            max_steps=sanity_steps,
            threshold=sanity_threshold,
            random_state=random_state,
            noise_std=noise_std,
            progress=_stage(progress, "sanity", k * len(names) * n_steps_cascade),
        )
        # spread_rows starts at 0: the sanity check's example image is the set's first.
        sane = dataclasses.replace(sane, rows=tuple(int(r) for r in rows_used))
        timings["sanity"] = time.perf_counter() - start
    record = {
        "methods": list(names),
        "targets": "predicted"
        if targets is None
        else (targets if isinstance(targets, str) else "given"),
        "gradcam_layer": layer_name,
        **{k: v for k, v in settings.to_dict().items() if k != "gradcam_layer"},
        "occlusion_window_used": settings.window(inputs.shape[1:])[0]
        if "occlusion" in names
        else None,
        "rows_per_forward": rows,
        "faithfulness_steps": faithfulness_steps if faithfulness else None,
        "baseline": baseline if faithfulness else None,
        "sanity_images": min(sanity_images, len(inputs)) if sanity else None,
        "sanity_threshold": sanity_threshold if sanity else None,
        "images": image_set.to_dict(),
        "model": type(module).__name__
        if not hasattr(module, "original_name")
        else str(module.original_name),
    }
    return SaliencyMaps(
        methods=names,
        maps=maps,
        images=image_set.display,
        targets=t,
        predicted=predicted.astype(np.int64),
        probabilities=probabilities,
        labels=image_set.labels,
        classes=image_set.classes,
        names=list(image_set.names),
        faithfulness=faith,
        sanity=sane,
        settings=record,
        timings=timings,
    )
