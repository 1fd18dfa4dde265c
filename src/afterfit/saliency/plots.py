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
from afterfit.saliency._common import RANDOM, spread_rows

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


def composite(image: np.ndarray | None, m: np.ndarray | None) -> np.ndarray:
    """One cell of a grid as ``(H, W, 3)`` RGB in ``[0, 1]``: the image (grey or colour),
    the map's heat colours over it with opacity :data:`OVERLAY_ALPHA`, or the map alone."""
    from matplotlib import colormaps

    rgb = None
    if image is not None:
        pic, _ = picture(image)
        rgb = np.repeat(pic[..., None], 3, axis=2) if pic.ndim == 2 else pic
    if m is not None:
        colours = colormaps[HEATMAP](heat(m))[..., :3]
        rgb = colours if rgb is None else (1 - OVERLAY_ALPHA) * rgb + OVERLAY_ALPHA * colours
    if rgb is None:
        raise ValueError("a grid cell needs an image or a map")
    return rgb


def mosaic(
    cells: list[list[np.ndarray]],
    *,
    titles: list[list[str]] | None = None,
    row_labels: Sequence[str] = (),
    suptitle: str = "",
    cell_inches: float = 1.45,
) -> Any:
    """A grid of equal-size RGB cells drawn as one image, with a title over each cell and a
    label left of each row.

    One ``imshow`` instead of an axes per cell: a grid of 60 cells draws in a fraction of
    the time, and small maps stay sharp (nearest-neighbour when enlarged).
    """
    rows, cols = len(cells), len(cells[0])
    h, w = cells[0][0].shape[:2]
    gap = max(1, round(0.06 * max(h, w)))
    # Each row gets room above it for its cells' titles (if any), in pixels of the cells.
    heads = []
    for r in range(rows):
        lines = max((t.count("\n") + 1 for t in (titles[r] if titles else []) if t), default=0)
        heads.append(gap + round(0.17 * h * lines) if lines else gap)
    tops = np.cumsum([0] + [hd + h for hd in heads])  # row r's cells start at tops[r] + heads[r]
    canvas = np.ones((int(tops[-1]), cols * (w + gap) - gap, 3))
    for r, row in enumerate(cells):
        for c, cell in enumerate(row):
            y, x = tops[r] + heads[r], c * (w + gap)
            canvas[y : y + h, x : x + w] = cell
    per_px = cell_inches / w
    # Row labels at 8 points: about 0.07 inch a character.
    left = 0.2 + 0.07 * max((len(t) for t in row_labels), default=0) if row_labels else 0.1
    top = 0.45 if suptitle else 0.1
    width = left + canvas.shape[1] * per_px + 0.1
    height = top + canvas.shape[0] * per_px + 0.1
    fig = Figure(figsize=(width, height))
    box = (left / width, 0.1 / height, 1 - (left + 0.1) / width, 1 - (top + 0.1) / height)
    ax = fig.add_axes(box)
    ax.imshow(canvas, extent=(0, canvas.shape[1], canvas.shape[0], 0))
    ax.set_axis_off()
    for r in range(rows):
        y0 = tops[r] + heads[r]
        if r < len(row_labels):
            ax.text(-gap, y0 + h / 2, row_labels[r], ha="right", va="center", fontsize=8)
        for c in range(cols):
            if titles and titles[r][c]:
                ax.text(
                    c * (w + gap) + w / 2,
                    y0 - gap / 2,
                    titles[r][c],
                    ha="center",
                    va="bottom",
                    fontsize=7,
                )
    if suptitle:
        fig.suptitle(suptitle, fontsize=10, y=1 - 0.08 / height, va="top")
    return fig


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
    cells = [[composite(result.images[i], None) for i in shown]]
    cells += [[composite(result.images[i], result.maps[m][i]) for i in shown] for m in methods]
    titles = [[_image_title(result, i) for i in shown]] + [[""] * len(shown)] * len(methods)
    return mosaic(
        cells,
        titles=titles,
        row_labels=["image", *(label(m) for m in methods)],
        suptitle="Saliency maps (absolute value, scaled per image)",
    )


def plot_method_grid(result: SaliencyMaps, method: str, *, n: int = 16, columns: int = 8) -> Any:
    """One method's overlays on ``n`` images spread through the set, ``columns`` per row."""
    shown = spread_rows(result.n_images, max(1, int(n)))
    columns = max(1, min(int(columns), len(shown)))
    cells, titles = [], []
    for start in range(0, len(shown), columns):
        part = shown[start : start + columns]
        row = [composite(result.images[i], result.maps[method][i]) for i in part]
        blank = np.ones_like(row[0])
        cells.append(row + [blank] * (columns - len(part)))
        titles.append([_image_title(result, i) for i in part] + [""] * (columns - len(part)))
    return mosaic(cells, titles=titles, suptitle=f"{label(method)}: saliency over the image")


def plot_faithfulness(result: Faithfulness, *, ax: Any = None) -> Any:
    """Mean deletion (left) and insertion (right) curves, random order dashed grey."""
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
    cells = []
    for m in result.methods:
        row = [composite(image, None)] if image is not None else []
        row += [composite(None, result.example_maps[m][j]) for j in range(len(labels))]
        cells.append(row)
    first = (["image"] if image is not None else []) + labels
    titles = [first] + [[""] * len(first)] * (len(cells) - 1)
    return mosaic(
        cells,
        titles=titles,
        row_labels=[label(m) for m in result.methods],
        suptitle="Maps of the first image as the layers are randomised (from the top)",
        cell_inches=1.3,
    )
