"""Matplotlib figures of saliency results: overlays, faithfulness curves, sanity checks.

Every function returns a bare ``matplotlib.figure.Figure`` (no pyplot state, works
headless) and never shows it. Lines use the Okabe-Ito palette; heatmaps use ``inferno``,
perceptually uniform and readable with the common colour-vision deficiencies. Maps are
drawn as absolute values scaled to their maximum per image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from afterfit.plots import OKABE_ITO
from afterfit.saliency.results import spread_rows

if TYPE_CHECKING:
    from afterfit.saliency.results import Faithfulness, SaliencyMaps, SanityCheck

HEATMAP = "inferno"
#: Opacity of a heatmap drawn over its image.
OVERLAY_ALPHA = 0.55
LABELS = {
    "gradients": "gradients",
    "gradient_x_input": "gradient x input",
    "integrated_gradients": "integrated gradients",
    "smoothgrad": "SmoothGrad",
    "gradcam": "Grad-CAM",
    "occlusion": "occlusion",
    "random": "random order",
}


def label(method: str) -> str:
    return LABELS.get(method, method)


def heat(m: np.ndarray) -> np.ndarray:
    """A map as drawn: absolute values divided by their maximum (zeros stay zeros)."""
    a = np.abs(np.asarray(m, dtype=np.float64))
    top = a.max() if a.size else 0.0
    return a / top if top > 0 else a


def picture(image: np.ndarray) -> tuple[np.ndarray, str | None]:
    """An ``(H, W, C)`` image scaled to ``[0, 1]`` for imshow, and its colour map."""
    x = np.asarray(image, dtype=np.float64)
    lo, hi = x.min(), x.max()
    if lo < 0 or hi > 1:  # normalised inputs drawn as they are: min-max to [0, 1]
        x = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    if x.shape[-1] == 1:
        return x[..., 0], "gray"
    return x, None


def _overlay(ax: Any, image: np.ndarray, m: np.ndarray | None) -> None:
    pic, cmap = picture(image)
    ax.imshow(pic, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    if m is not None:
        ax.imshow(
            heat(m), cmap=HEATMAP, vmin=0, vmax=1, alpha=OVERLAY_ALPHA, interpolation="nearest"
        )
    ax.set_xticks([])
    ax.set_yticks([])


def _image_title(result: SaliencyMaps, i: int) -> str:
    p = result.probabilities[i, result.targets[i]]
    title = f"target {result.class_name(int(result.targets[i]))} ({p:.2f})"
    if result.labels is not None:
        title = f"label {result.class_name(int(result.labels[i]))}\n" + title
    return title


def plot_overview(result: SaliencyMaps, *, n: int = 8, methods: Sequence[str] | None = None) -> Any:
    """``n`` images spread through the set in the first row, then a row of overlays per
    method."""
    methods = list(methods) if methods is not None else list(result.methods)
    for m in methods:
        result.map(m, 0)  # checks the name
    shown = spread_rows(result.n_images, max(1, int(n)))
    n = len(shown)
    rows = 1 + len(methods)
    fig = Figure(figsize=(1.45 * n + 1.2, 1.5 * rows + 0.4), layout="constrained")
    axes = np.atleast_2d(fig.subplots(rows, n, squeeze=False))
    for c, i in enumerate(shown):
        _overlay(axes[0, c], result.images[i], None)
        axes[0, c].set_title(_image_title(result, i), fontsize=7)
        for r, m in enumerate(methods, start=1):
            _overlay(axes[r, c], result.images[i], result.maps[m][i])
    axes[0, 0].set_ylabel("image", fontsize=8)
    for r, m in enumerate(methods, start=1):
        axes[r, 0].set_ylabel(label(m), fontsize=8)
    fig.suptitle("Saliency maps (absolute value, scaled per image)", fontsize=10)
    return fig


def plot_method_grid(result: SaliencyMaps, method: str, *, n: int = 16, columns: int = 8) -> Any:
    """One method's overlays on ``n`` images spread through the set, ``columns`` per row."""
    shown = spread_rows(result.n_images, max(1, int(n)))
    n = len(shown)
    columns = max(1, min(int(columns), n))
    rows = -(-n // columns)
    fig = Figure(figsize=(1.45 * columns + 0.4, 1.6 * rows + 0.5), layout="constrained")
    axes = np.atleast_2d(fig.subplots(rows, columns, squeeze=False))
    for k, ax in enumerate(axes.ravel()):
        if k >= n:
            ax.set_axis_off()
            continue
        i = shown[k]
        _overlay(ax, result.images[i], result.maps[method][i])
        ax.set_title(_image_title(result, i), fontsize=7)
    fig.suptitle(f"{label(method)}: saliency over the image", fontsize=10)
    return fig


def plot_faithfulness(result: Faithfulness, *, ax: Any = None) -> Any:
    """Mean deletion (left) and insertion (right) curves, random order dashed grey."""
    from afterfit.saliency.results import RANDOM

    if ax is not None:
        axes = list(np.ravel(ax))
        fig = axes[0].figure
    else:
        fig = Figure(figsize=(10, 4.2), layout="constrained")
        axes = list(fig.subplots(1, 2))
    for a, kind, store in (
        (axes[0], "deletion", result.deletion),
        (axes[1], "insertion", result.insertion),
    ):
        for k, m in enumerate((*result.methods, RANDOM)):
            area = float(result.area(m, kind).mean())
            style = (
                {"color": "grey", "linestyle": "--"}
                if m == RANDOM
                else {"color": OKABE_ITO[k % len(OKABE_ITO)]}
            )
            a.plot(
                result.fractions,
                store[m].mean(axis=0),
                label=f"{label(m)} (AUC {area:.3f})",
                **style,
            )
        a.set_xlim(0, 1)
        a.set_ylim(-0.01, 1.01)
        a.set_xlabel(f"fraction of pixels {'removed' if kind == 'deletion' else 'inserted'}")
        a.set_ylabel("probability of the target class")
        better = "lower" if kind == "deletion" else "higher"
        a.set_title(f"{kind.capitalize()} ({better} area is better)", fontsize=10)
        a.legend(fontsize=7, loc="upper right" if kind == "deletion" else "lower right")
    return fig


def plot_sanity(result: SanityCheck, *, ax: Any = None) -> Any:
    """Rank correlation (left) and SSIM (right) with the trained model's maps, along the
    cascade; the dotted line is the pass threshold."""
    if ax is not None:
        axes = list(np.ravel(ax))
        fig = axes[0].figure
    else:
        fig = Figure(figsize=(10, 4.4), layout="constrained")
        axes = list(fig.subplots(1, 2))
    labels = result.step_labels()
    x = np.arange(len(labels))
    for a, what, store in (
        (axes[0], "Spearman rank correlation", result.spearman),
        (axes[1], "SSIM", result.ssim),
    ):
        for k, m in enumerate(result.methods):
            verdict = "passes" if result.passed(m) else "FAILS"
            a.plot(
                x,
                store[m].mean(axis=1),
                marker="o",
                color=OKABE_ITO[k % len(OKABE_ITO)],
                label=f"{label(m)} ({verdict})",
            )
        a.axhline(result.threshold, color="grey", linestyle=":", linewidth=1)
        a.set_xticks(x, labels, rotation=45, ha="right", fontsize=7)
        a.set_ylim(min(-0.05, a.get_ylim()[0]), 1.05)
        a.set_xlabel("layers randomised (cumulative, from the top)")
        a.set_ylabel(f"{what} with the trained model")
        a.set_title(what, fontsize=10)
        a.legend(fontsize=7)
    return fig


def plot_sanity_maps(result: SanityCheck, *, image: np.ndarray | None = None) -> Any:
    """The first image's maps as the layers are randomised: a row per method."""
    labels = result.step_labels()
    rows, cols = len(result.methods), len(labels) + (image is not None)
    fig = Figure(figsize=(1.35 * cols + 1.0, 1.45 * rows + 0.6), layout="constrained")
    axes = np.atleast_2d(fig.subplots(rows, cols, squeeze=False))
    for r, m in enumerate(result.methods):
        c0 = 0
        if image is not None:
            _overlay(axes[r, 0], image, None)
            if r == 0:
                axes[r, 0].set_title("image", fontsize=7)
            c0 = 1
        for j, lab in enumerate(labels):
            a = axes[r, c0 + j]
            a.imshow(
                heat(result.example_maps[m][j]),
                cmap=HEATMAP,
                vmin=0,
                vmax=1,
                interpolation="nearest",
            )
            a.set_xticks([])
            a.set_yticks([])
            if r == 0:
                a.set_title(lab, fontsize=7)
        axes[r, 0].set_ylabel(label(m), fontsize=8)
    fig.suptitle("Maps of the first image as the layers are randomised (from the top)", fontsize=10)
    return fig
