"""Faithfulness of saliency maps: deletion and insertion curves (Petsiuk et al., 2018).

For each image and method, pixels are ranked by the map (largest value first: the most
positive evidence for the target class; ties broken at random, seeded). Then:

- **deletion** replaces the top ``k`` pixels (all channels) with the baseline, for ``k``
  from 0 to every pixel, and records the model's probability of the target class (softmax
  of its outputs). A faithful map makes it fall fast: a *low* area under the curve.
- **insertion** starts from the baseline and puts back the top ``k`` pixels of the image:
  a faithful map makes the probability rise fast, a *high* area.

The same curves for a uniformly random pixel order are the reference. Each method's gain
over it is computed per image (deletion: random area minus the method's; insertion: the
method's minus random) and averaged with a Student t interval across images; a method is
*better than random on deletion* when the interval's lower end is above zero.

The baseline is, by default, zeros of the model's input (black for images in ``[0, 1]``,
the normalisation mean for normalised images; also Integrated Gradients' baseline); or the
per-channel mean of the images (``"mean"``), a Gaussian blur of each image (``"blur"``,
sigma = max(1, side / 16)), or a number.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from afterfit.errors import InvalidInputError
from afterfit.saliency.loading import import_torch
from afterfit.saliency.methods import eval_mode, to_model
from afterfit.saliency.results import RANDOM, Faithfulness

__all__ = ["baseline_inputs", "faithfulness", "pixel_ranks"]


def baseline_inputs(inputs: np.ndarray, baseline: str | float) -> np.ndarray:
    """The ``(n, C, H, W)`` images that removed pixels take their values from."""
    if isinstance(baseline, int | float) and not isinstance(baseline, bool):
        return np.full_like(inputs, float(baseline))
    if baseline == "zero":
        return np.zeros_like(inputs)
    if baseline == "mean":
        mean = inputs.mean(axis=(0, 2, 3), keepdims=True)
        return np.broadcast_to(mean, inputs.shape).astype(inputs.dtype)
    if baseline == "blur":
        from scipy.ndimage import gaussian_filter

        sigma = max(1.0, min(inputs.shape[2:]) / 16)
        return gaussian_filter(inputs, sigma=(0, 0, sigma, sigma), mode="nearest").astype(
            inputs.dtype
        )
    raise InvalidInputError(
        f"The argument 'baseline' must be 'zero', 'mean', 'blur' or a number; received "
        f"{baseline!r}.",
        fix="pass baseline='zero' (the default), 'mean' or 'blur'.",
    )


def pixel_ranks(maps: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(n, H*W)`` rank of each pixel, 0 for the largest map value; ties at random."""
    flat = maps.reshape(len(maps), -1).astype(np.float64)
    tiebreak = rng.random(flat.shape)
    # lexsort sorts by the last key first: by -value, then by the random key.
    order = np.lexsort((tiebreak, -flat), axis=1)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(flat.shape[1])[None, :], axis=1)
    return ranks


def _softmax_at(logits: np.ndarray, target: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    return p[np.arange(len(target)), target]


def _curves(
    module: Any,
    inputs: np.ndarray,
    base: np.ndarray,
    ranks: np.ndarray,
    targets: np.ndarray,
    counts: np.ndarray,
    rows: int,
    progress: Callable[[int], None] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Deletion and insertion curves, ``(n, len(counts))`` each."""
    torch = import_torch()
    n, c, h, w = inputs.shape
    s = len(counts)
    per_chunk = max(1, rows // (2 * s))
    deletion = np.empty((n, s))
    insertion = np.empty((n, s))
    for start in range(0, n, per_chunk):
        stop = min(n, start + per_chunk)
        m = stop - start
        # (m, s, 1, H, W): pixel in the top counts[j] of image i.
        top = (ranks[start:stop, None, :] < counts[None, :, None]).reshape(m, s, 1, h, w)
        x = inputs[start:stop, None]
        b = base[start:stop, None]
        batch = np.concatenate(
            [
                np.where(top, b, x).reshape(m * s, c, h, w),
                np.where(top, x, b).reshape(m * s, c, h, w),
            ]
        ).astype(np.float32)
        t = np.tile(np.repeat(targets[start:stop], s), 2)
        with torch.no_grad():
            out = module(to_model(torch.from_numpy(np.ascontiguousarray(batch)), module))
        p = _softmax_at(out.detach().to("cpu", torch.float64).numpy(), t)
        deletion[start:stop] = p[: m * s].reshape(m, s)
        insertion[start:stop] = p[m * s :].reshape(m, s)
        if progress is not None:
            progress(m)
    return deletion, insertion


def faithfulness(
    module: Any,
    inputs: np.ndarray,
    maps: Mapping[str, np.ndarray],
    targets: np.ndarray,
    *,
    steps: int = 16,
    baseline: str | float = "zero",
    n_random: int = 1,
    confidence: float = 0.95,
    random_state: int = 0,
    batch_size: int = 1024,
    progress: Callable[[int], None] | None = None,
) -> Faithfulness:
    """Deletion and insertion curves of each method's maps, and of random pixel orders.

    Parameters
    ----------
    module : torch.nn.Module
        The classifier.
    inputs : numpy.ndarray
        ``(n, C, H, W)`` model inputs.
    maps : mapping of str to numpy.ndarray
        ``(n, H, W)`` maps by method.
    targets : numpy.ndarray
        ``(n,)`` class explained per image.
    steps : int, default 16
        Points of each curve after the first: fractions ``0, 1/steps, ..., 1`` of the
        pixels (capped at the number of pixels).
    baseline : {"zero", "mean", "blur"} or float, default "zero"
        What removed pixels become (see the module docstring).
    n_random : int, default 1
        Random pixel orders per image; their curves are averaged.
    confidence : float, default 0.95
        Level of the t intervals of the gains over random.
    random_state : int, default 0
        Seed of the random orders and of tie-breaking.
    batch_size : int, default 1024
        Most rows per forward pass.
    progress : callable, optional
        Called with the number of images done, per method (and random order).

    Returns
    -------
    Faithfulness
    """
    for name, value, low in (
        ("steps", steps, 1),
        ("n_random", n_random, 1),
        ("batch_size", batch_size, 1),
    ):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
            raise InvalidInputError(
                f"The argument '{name}' must be a positive integer; received {value!r}.",
                fix=f"pass {name}={low} or more.",
            )
    if not 0 < confidence < 1:
        raise InvalidInputError(
            f"The argument 'confidence' must be in (0, 1); received {confidence!r}.",
            fix="pass confidence=0.95.",
        )
    n, _, h, w = inputs.shape
    n_pixels = h * w
    steps = int(min(steps, n_pixels))
    fractions = np.linspace(0.0, 1.0, steps + 1)
    counts = np.rint(fractions * n_pixels).astype(np.int64)
    base = baseline_inputs(inputs, baseline)
    rng = np.random.default_rng(random_state)
    deletion: dict[str, np.ndarray] = {}
    insertion: dict[str, np.ndarray] = {}
    with eval_mode(module):
        for method, m in maps.items():
            ranks = pixel_ranks(np.asarray(m), rng)
            deletion[method], insertion[method] = _curves(
                module, inputs, base, ranks, targets, counts, batch_size, progress
            )
        runs = []
        for _ in range(n_random):
            ranks = pixel_ranks(rng.random((n, h, w)), rng)
            runs.append(_curves(module, inputs, base, ranks, targets, counts, batch_size, progress))
        deletion[RANDOM] = np.mean([d for d, _ in runs], axis=0)
        insertion[RANDOM] = np.mean([i for _, i in runs], axis=0)
    return Faithfulness(
        methods=tuple(maps),
        fractions=fractions,
        deletion=deletion,
        insertion=insertion,
        baseline=baseline if isinstance(baseline, str) else float(baseline),
        n_random=int(n_random),
        confidence=float(confidence),
    )
