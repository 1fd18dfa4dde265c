"""Sanity check of saliency maps: cascading model-parameter randomisation.

Adebayo et al. (2018), "Sanity Checks for Saliency Maps": a map that explains the *model*
must change when the model's learned weights are destroyed. Starting from the top (the
output layer), layers are re-initialised one after another, cumulatively, and at each step
the maps of the randomised model are compared with those of the trained model:

- **Spearman rank correlation** of the absolute maps, per image;
- **SSIM** (structural similarity) of the absolute maps scaled to ``[0, 1]`` by their
  maximum, per image (:func:`ssim`: Gaussian window, sigma 1.5, as in Wang et al. 2004).

Layers are the modules that own parameters, in registration order (the order of
``module.named_modules()``), which is the forward order of usual networks. A network with
more layers than ``max_steps`` is randomised in ``max_steps`` contiguous blocks. Every
parameter of a layer is redrawn from a normal with mean 0 and the standard deviation of
its trained values (a seeded generator), so scales stay comparable; buffers (batch-norm
statistics) are kept.

A method **fails** when, with every layer randomised, its maps still look like the trained
model's: the mean rank correlation or the mean SSIM is at least ``threshold`` (0.5).
Methods that multiply by the input (gradient x input, Integrated Gradients) often fail
on images with a constant background: their maps keep the input's outline whatever the
weights (the paper's finding), and the report says so.

When a map is constant (a Grad-CAM map that the ReLU set to zero everywhere), the rank
correlation is undefined; it counts as 1 when both maps are constant and 0 when only one
is (the map changed).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from afterfit.errors import InvalidInputError, ModelError
from afterfit.saliency.loading import import_torch
from afterfit.saliency.methods import MethodSettings, attribute
from afterfit.saliency.results import SanityCheck

__all__ = ["cascade_layers", "rank_correlation", "sanity_check", "ssim"]


def ssim(
    a: np.ndarray,
    b: np.ndarray,
    *,
    data_range: float = 1.0,
    sigma: float = 1.5,
    truncate: float = 3.5,
) -> np.ndarray:
    """Structural similarity of pairs of 2-D maps, ``(n, H, W)`` each, one value per pair.

    The Gaussian-weighted SSIM of Wang et al. (2004) with ``K1 = 0.01``, ``K2 = 0.03`` and
    population covariances; it equals ``skimage.metrics.structural_similarity(a, b,
    data_range=data_range, gaussian_weights=True, sigma=sigma, use_sample_covariance=False)``.
    The mean is taken, as there, away from the edges (``(window - 1) / 2`` pixels) unless
    that would leave fewer than half the rows or columns; then over the whole map.
    """
    from scipy.ndimage import gaussian_filter

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim == 2:
        a, b = a[None], b[None]
    if a.shape != b.shape or a.ndim != 3:
        raise InvalidInputError(
            f"ssim compares maps of the same shape (n, H, W); received {a.shape} and {b.shape}.",
            fix="pass two arrays of the same shape.",
        )

    def blur(x: np.ndarray) -> np.ndarray:
        return gaussian_filter(x, sigma=(0, sigma, sigma), truncate=truncate, mode="reflect")

    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    ua, ub = blur(a), blur(b)
    va = blur(a * a) - ua * ua
    vb = blur(b * b) - ub * ub
    cov = blur(a * b) - ua * ub
    s = ((2 * ua * ub + c1) * (2 * cov + c2)) / ((ua**2 + ub**2 + c1) * (va + vb + c2))
    pad = (2 * int(truncate * sigma + 0.5)) // 2
    h, w = a.shape[1:]
    if h - 2 * pad >= h / 2 and w - 2 * pad >= w / 2:
        s = s[:, pad : h - pad, pad : w - pad]
    return s.mean(axis=(1, 2))


def rank_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of pairs of maps, ``(n, ...)`` each, one value per pair.

    Average ranks for ties (as ``scipy.stats.spearmanr``). A constant map has no ranks: the
    value is 1 when both maps of a pair are constant, 0 when one is.
    """
    from scipy.stats import rankdata

    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    b = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    ra = rankdata(a, axis=1)
    rb = rankdata(b, axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    na = np.sqrt((ra * ra).sum(axis=1))
    nb = np.sqrt((rb * rb).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (ra * rb).sum(axis=1) / (na * nb)
    const_a, const_b = na == 0, nb == 0
    r[const_a & const_b] = 1.0
    r[const_a ^ const_b] = 0.0
    return np.clip(r, -1.0, 1.0)


def _scaled(maps: np.ndarray) -> np.ndarray:
    """Absolute maps divided by their maximum (all-zero maps stay zero)."""
    a = np.abs(maps).astype(np.float64)
    top = a.reshape(len(a), -1).max(axis=1)
    top[top == 0] = 1.0
    return a / top[:, None, None]


def cascade_layers(module: Any, max_steps: int | None = 8) -> list[list[str]]:
    """The layers randomised at each step, top (output) first.

    Returns one list of layer names per step (cumulative randomisation adds each step's
    layers to those of the steps before). Layers are the modules owning parameters.
    """
    names = [
        name
        for name, layer in module.named_modules()
        if next(iter(layer.parameters(recurse=False)), None) is not None
    ]
    names.reverse()
    if not names:
        raise ModelError(
            f"The model {type(module).__name__} has no parameters to randomise.",
            fix="pass a trained network, or run without the sanity check (sanity=False).",
        )
    if max_steps is None or len(names) <= max_steps:
        return [[n] for n in names]
    return [list(block) for block in np.array_split(np.array(names, dtype=object), max_steps)]


def _randomise(layer: Any, generator: Any, torch: Any) -> None:
    with torch.no_grad():
        for p in layer.parameters(recurse=False):
            std = float(p.detach().float().std()) if p.numel() > 1 else 0.0
            if not std > 0:
                std = float(p.detach().float().abs().mean()) or 0.01
            noise = torch.randn(p.shape, generator=generator, dtype=torch.float32)
            p.copy_((noise * std).to(p.device, p.dtype))


def sanity_check(
    module: Any,
    inputs: np.ndarray,
    targets: np.ndarray,
    methods: Sequence[str],
    settings: MethodSettings,
    *,
    reference: Mapping[str, np.ndarray] | None = None,
    max_steps: int | None = 8,
    threshold: float = 0.5,
    random_state: int = 0,
    noise_std: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> SanityCheck:
    """Cascading randomisation of the model's layers, and how much each method's maps move.

    Parameters
    ----------
    module : torch.nn.Module
        The trained classifier (left unchanged: a copy is randomised).
    inputs : numpy.ndarray
        ``(n, C, H, W)`` model inputs (a few images suffice: 8 by default in
        :func:`afterfit.saliency.compute_saliency`).
    targets : numpy.ndarray
        ``(n,)`` class explained per image (the same for the trained and random models).
    methods : sequence of str
        Canonical method names.
    settings : MethodSettings
        As for the maps of the trained model.
    reference : mapping of str to numpy.ndarray, optional
        The trained model's maps of these images, for the methods already computed (the
        others are computed here).
    max_steps : int or None, default 8
        Most cascade steps; deeper networks are randomised in blocks.
    threshold : float, default 0.5
        A method fails when its final mean rank correlation or SSIM is at least this.
    random_state : int, default 0
        Seed of the new weights.
    noise_std : float, optional
        SmoothGrad's absolute noise level (default from the range of ``inputs``); the
        trained and randomised models see the same noise.
    progress : callable, optional
        Called with the number of images done, per method and step.

    Returns
    -------
    SanityCheck
    """
    torch = import_torch()
    if not (isinstance(threshold, int | float) and 0 < threshold <= 1):
        raise InvalidInputError(
            f"The argument 'threshold' must be in (0, 1]; received {threshold!r}.",
            fix="pass threshold=0.5.",
        )
    steps = cascade_layers(module, max_steps)
    reference = dict(reference or {})
    for m in methods:
        if m not in reference:
            reference[m] = attribute(module, inputs, targets, m, settings, noise_std=noise_std)
    ref_abs = {m: np.abs(reference[m]) for m in methods}
    ref_scaled = {m: _scaled(reference[m]) for m in methods}
    try:
        randomised = copy.deepcopy(module)
    except Exception as exc:  # modules holding un-copyable state (open files, locks...)
        raise ModelError(
            f"The model cannot be copied for the sanity check: {exc}.",
            fix="run without the sanity check (sanity=False, --no-sanity).",
        ) from None
    layers = dict(randomised.named_modules())
    generator = torch.Generator().manual_seed(int(random_state))
    n, _, h, w = inputs.shape
    k = len(steps)
    spearman = {m: np.ones((k + 1, n)) for m in methods}
    similarity = {m: np.ones((k + 1, n)) for m in methods}
    examples = {m: np.empty((k + 1, h, w), dtype=np.float32) for m in methods}
    for m in methods:
        examples[m][0] = ref_abs[m][0]
    for j, block in enumerate(steps, start=1):
        for name in block:
            _randomise(layers[name], generator, torch)
        for m in methods:
            maps = attribute(
                randomised, inputs, targets, m, settings, noise_std=noise_std, progress=progress
            )
            spearman[m][j] = rank_correlation(ref_abs[m], np.abs(maps))
            similarity[m][j] = ssim(ref_scaled[m], _scaled(maps))
            examples[m][j] = np.abs(maps[0])
    return SanityCheck(
        methods=tuple(methods),
        steps=tuple(tuple(b) for b in steps),
        spearman=spearman,
        ssim=similarity,
        threshold=float(threshold),
        example_maps=examples,
        n_images=int(n),
    )
