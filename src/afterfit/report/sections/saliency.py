"""The Saliency section: maps over a few images per method, deletion and insertion curves,
and the cascading-randomisation sanity check, for PyTorch image classifiers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from afterfit.report import specs
from afterfit.report.page import Figure, Finding, Note, Section, Table

#: Images per method in the page's heatmap grid (the PNG overview draws 8).
PAGE_IMAGES = 6
#: Longest side of a map or image on the page; larger ones are block-averaged down to it
#: (the PNG figures and saliency maps in Python keep full resolution).
MAX_SIDE = 64
#: matplotlib's "inferno" as Plotly stops (plotly.js has no such named scale): the colours
#: of the PNG overlays, perceptually uniform and readable with colour-vision deficiencies.
HEATMAP = [
    [0.0, "#000004"],
    [0.125, "#210c4a"],
    [0.25, "#57106e"],
    [0.375, "#8a226a"],
    [0.5, "#bc3754"],
    [0.625, "#e45a31"],
    [0.75, "#f98e09"],
    [0.875, "#f9cb35"],
    [1.0, "#fcffa4"],
]


def _shrink(a: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """Block-average the first two axes by an integer factor so the longest is <= max_side."""
    h, w = a.shape[:2]
    f = math.ceil(max(h, w) / max_side)
    if f <= 1:
        return a
    hh, ww = -(-h // f) * f, -(-w // f) * f
    pad = [(0, hh - h), (0, ww - w)] + [(0, 0)] * (a.ndim - 2)
    p = np.pad(a.astype(np.float64), pad, mode="edge")
    return p.reshape(hh // f, f, ww // f, f, *a.shape[2:]).mean(axis=(1, 3))


def _label(method: str) -> str:
    from afterfit.saliency.plots import label

    return label(method)


def _axis(k: int) -> tuple[str, str]:
    return ("x", "y") if k == 1 else (f"x{k}", f"y{k}")


def grid_spec(
    cells: list[list[tuple[np.ndarray | None, np.ndarray | None]]],
    row_labels: list[str],
    column_titles: list[str],
    *,
    hover_names: list[str] | None = None,
) -> dict[str, Any]:
    """Plotly spec of a grid of pictures: each cell an ``(H, W, C)`` image, a map drawn as
    a heatmap, or a map over an image (``(image, map)``, either may be None)."""
    from afterfit.saliency.plots import heat, picture

    rows, cols = len(cells), len(cells[0])
    data: list[dict[str, Any]] = []
    layout = specs.layout(legend=False, height=int(min(150, 900 / max(cols, 1)) * rows + 60))
    layout["grid"] = {
        "rows": rows,
        "columns": cols,
        "pattern": "independent",
        "roworder": "top to bottom",
        "xgap": 0.04,
        "ygap": 0.06,
    }
    layout["margin"] = {"l": 130, "r": 10, "t": 40, "b": 10}
    hidden = {"showticklabels": False, "showgrid": False, "zeroline": False, "ticks": ""}
    annotations = []
    for r in range(rows):
        name = (hover_names or row_labels)[r]
        for c in range(cols):
            k = r * cols + c + 1
            xa, ya = _axis(k)
            image, m = cells[r][c]
            common = {"xaxis": xa, "yaxis": ya, "showscale": False}
            if image is not None:
                pic, cmap = picture(image)
                pic = _shrink(pic)
                if cmap is None:  # RGB: an image trace, 0-255
                    data.append(
                        {
                            "type": "image",
                            "z": np.rint(pic * 255).astype(int).tolist(),
                            "xaxis": xa,
                            "yaxis": ya,
                            "hoverinfo": "skip",
                        }
                    )
                else:
                    data.append(
                        {
                            "type": "heatmap",
                            "z": [specs.numbers(v) for v in pic],
                            "colorscale": "Greys",
                            "zmin": 0,
                            "zmax": 1,
                            "hoverinfo": "skip",
                            **common,
                        }
                    )
            if m is not None:
                data.append(
                    {
                        "type": "heatmap",
                        "z": [specs.numbers(v) for v in _shrink(heat(m))],
                        "colorscale": HEATMAP,
                        "zmin": 0,
                        "zmax": 1,
                        "opacity": 0.6 if image is not None else 1.0,
                        "name": name,
                        "hovertemplate": f"{name}<br>x %{{x}}, y %{{y}}<br>"
                        "saliency %{z:.2f}<extra></extra>",
                        **common,
                    }
                )
            layout[f"xaxis{'' if k == 1 else k}"] = {**hidden, "constrain": "domain"}
            layout[f"yaxis{'' if k == 1 else k}"] = {
                **hidden,
                "autorange": "reversed",
                "scaleanchor": xa,
                "constrain": "domain",
            }
            if r == 0 and column_titles[c]:
                annotations.append(
                    {
                        "text": column_titles[c],
                        "showarrow": False,
                        "xref": f"{xa} domain",
                        "yref": f"{ya} domain",
                        "x": 0.5,
                        "y": 1.0,
                        "yanchor": "bottom",
                        "font": {"size": 10},
                    }
                )
        xa, ya = _axis(r * cols + 1)
        annotations.append(
            {
                "text": row_labels[r],
                "showarrow": False,
                "xref": f"{xa} domain",
                "yref": f"{ya} domain",
                "x": -0.08,
                "y": 0.5,
                "xanchor": "right",
                "font": {"size": 11},
            }
        )
    layout["annotations"] = annotations
    return {"data": data, "layout": layout}


def maps_spec(result: Any, n: int = PAGE_IMAGES) -> dict[str, Any]:
    """Plotly spec: a row of images (spread through the set), then a row of heatmaps over
    them per method."""
    from afterfit.saliency.results import spread_rows

    shown = spread_rows(result.n_images, max(1, n))
    cells = [[(result.images[i], None) for i in shown]]
    cells += [[(result.images[i], result.maps[m][i]) for i in shown] for m in result.methods]
    titles = []
    for i in shown:
        t = int(result.targets[i])
        titles.append(f"target {result.class_name(t)} ({result.probabilities[i, t]:.2f})")
    return grid_spec(cells, ["image", *(_label(m) for m in result.methods)], titles)


def sanity_maps_spec(sanity: Any, image: np.ndarray | None = None) -> dict[str, Any]:
    """Plotly spec: the first image's maps along the cascade, one row per method."""
    labels = sanity.step_labels()
    cells = []
    for m in sanity.methods:
        row = [(image, None)] if image is not None else []
        row += [(None, sanity.example_maps[m][j]) for j in range(len(labels))]
        cells.append(row)
    titles = (["image"] if image is not None else []) + labels
    return grid_spec(cells, [_label(m) for m in sanity.methods], titles)


def curves_spec(faith: Any, kind: str) -> dict[str, Any]:
    """Plotly spec of the mean deletion or insertion curves, random order dashed grey."""
    from afterfit.saliency.results import RANDOM

    store = faith.deletion if kind == "deletion" else faith.insertion
    traces = []
    for k, m in enumerate((*faith.methods, RANDOM)):
        area = float(faith.area(m, kind).mean())
        traces.append(
            specs.line(
                faith.fractions,
                store[m].mean(axis=0),
                f"{_label(m)} (AUC {area:.3f})",
                color=specs.GREY if m == RANDOM else specs.colour(k),
                dash="dash" if m == RANDOM else None,
                hover=f"{_label(m)}<br>%{{x:.0%}} of pixels<br>p = %{{y:.3f}}<extra></extra>",
            )
        )
    x = f"fraction of pixels {'removed' if kind == 'deletion' else 'inserted'}"
    layout = specs.layout(x=x, y="probability of the target class", height=400)
    layout["xaxis"]["range"] = [0, 1]
    layout["yaxis"]["range"] = [-0.02, 1.02]
    return {"data": traces, "layout": layout}


def sanity_spec(sanity: Any, what: str = "spearman") -> dict[str, Any]:
    """Plotly spec: mean rank correlation (or SSIM) with the trained model's maps along the
    cascade, one line per method, the pass threshold dotted."""
    store = sanity.spearman if what == "spearman" else sanity.ssim
    labels = sanity.step_labels()
    traces = []
    for k, m in enumerate(sanity.methods):
        verdict = "passes" if sanity.passed(m) else "fails"
        t = specs.line(
            list(range(len(labels))),
            store[m].mean(axis=1),
            f"{_label(m)} ({verdict})",
            color=specs.colour(k),
            mode="lines+markers",
            text=labels,
            hover=f"{_label(m)}<br>%{{text}}<br>%{{y:.3f}}<extra></extra>",
        )
        traces.append(t)
    traces.append(
        specs.line(
            [0, len(labels) - 1], [sanity.threshold] * 2, "threshold", color=specs.GREY, dash="dot"
        )
    )
    name = "Spearman rank correlation" if what == "spearman" else "SSIM"
    layout = specs.layout(
        x="layers randomised (cumulative, from the top)",
        y=f"{name} with trained maps",
        height=400,
    )
    layout["xaxis"].update(tickmode="array", tickvals=list(range(len(labels))), ticktext=labels)
    low = min(float(store[m].mean(axis=1).min()) for m in sanity.methods)
    layout["yaxis"]["range"] = [min(-0.05, low - 0.05), 1.05]
    return {"data": traces, "layout": layout}


def saliency_findings(result: Any) -> tuple[Finding, ...]:
    """Warnings: methods failing the sanity check, methods no better than random order on
    deletion."""
    findings: list[Finding] = []
    if result.sanity is not None:
        for row in result.sanity.summary_frame().itertuples():
            if row.passed:
                continue
            findings.append(
                Finding(
                    f"Saliency: the {_label(row.method)} maps barely change when the model's "
                    f"weights are randomised (rank correlation {row.spearman:.2f}, SSIM "
                    f"{row.ssim:.2f} with every layer random; threshold "
                    f"{result.sanity.threshold:g}). They follow the image more than the model "
                    "(the sanity check of Adebayo et al., 2018): do not read them as this "
                    "model's reasons.",
                    section="saliency",
                )
            )
    if result.faithfulness is not None:
        for row in result.faithfulness.frame().itertuples():
            if row.method == "random" or row.better_than_random:
                continue
            interval = ""
            if math.isfinite(row.deletion_gain_low):
                interval = f", interval [{row.deletion_gain_low:.3f}, {row.deletion_gain_high:.3f}]"
            findings.append(
                Finding(
                    f"Saliency: deleting the pixels {_label(row.method)} ranks first lowers the "
                    f"predicted probability no faster than deleting random pixels (deletion gain "
                    f"{row.deletion_gain:+.3f}{interval}): its maps are not faithful to this "
                    "model on these images.",
                    section="saliency",
                )
            )
    return tuple(findings)


def saliency_section(result: Any) -> Section:
    """A :class:`~afterfit.saliency.SaliencyMaps` as a report section.

    Returns
    -------
    Section
        ``id="saliency"``: figure ``saliency-maps`` (heatmaps over the first images per
        method), ``saliency-deletion`` and ``saliency-insertion`` (if faithfulness was
        computed), ``saliency-sanity`` and ``saliency-sanity-ssim`` (if the sanity check
        ran), each with a matplotlib ``png``; tables ``saliency-faithfulness``,
        ``saliency-sanity`` (summary), ``saliency-sanity-cascade`` and ``saliency-images``;
        ``data`` is ``result.to_dict()``; warnings for methods that fail the sanity check
        or are no better than random on deletion.
    """
    n_page = min(PAGE_IMAGES, result.n_images)
    big = max(result.images.shape[1:3]) > MAX_SIDE
    blocks: list[Any] = [
        Figure(
            "saliency-maps",
            "Saliency maps",
            maps_spec(result, n_page),
            caption=f"{n_page} images spread through the set, then each method's map over them "
            "(absolute value, scaled to its maximum per image; brighter is more salient)."
            + (
                f" Shown at most {MAX_SIDE} pixels wide; the PNG has full resolution."
                if big
                else ""
            ),
            png=lambda: result.plot(n=8),
        )
    ]
    faith = result.faithfulness
    if faith is not None:
        baseline = faith.baseline if isinstance(faith.baseline, str) else f"{faith.baseline:g}"
        for kind, better in (("deletion", "lower"), ("insertion", "higher")):
            what = (
                "Pixels are removed (set to the baseline)"
                if kind == "deletion"
                else "Pixels are put back into the baseline image"
            )
            blocks.append(
                Figure(
                    f"saliency-{kind}",
                    f"{kind.capitalize()} curves",
                    curves_spec(faith, kind),
                    caption=f"{what} in each method's order, most salient first; the mean "
                    f"probability of the target class over {faith.n_images} images. Dashed: "
                    f"random order. A {better} area is better. Baseline: {baseline}.",
                    # one PNG holds both panels: deletion and insertion
                    png=(lambda: faith.plot()) if kind == "deletion" else None,
                )
            )
        blocks.append(
            Table(
                "saliency-faithfulness",
                "Faithfulness",
                faith.frame(),
                caption="Areas under the mean curves; gains over random order per image, "
                f"averaged, with {faith.confidence:.0%} t intervals. 'better_than_random': the "
                "deletion gain's interval lies above zero.",
            )
        )
    sanity = result.sanity
    if sanity is not None:
        blocks.append(
            Figure(
                "saliency-sanity",
                "Sanity check: rank correlation",
                sanity_spec(sanity, "spearman"),
                caption=f"Layers are re-initialised from the top, cumulatively; the mean "
                f"Spearman correlation of the absolute maps of {sanity.n_images} images with "
                "the trained model's. A method whose maps depend on the model falls towards 0.",
                png=lambda: sanity.plot(),  # both panels: rank correlation and SSIM
            )
        )
        blocks.append(
            Figure(
                "saliency-sanity-ssim",
                "Sanity check: structural similarity",
                sanity_spec(sanity, "ssim"),
                caption="Mean SSIM of the maps (absolute, scaled to [0, 1]) with the trained "
                "model's, along the same cascade.",
            )
        )
        blocks.append(
            Figure(
                "saliency-sanity-maps",
                "Sanity check: maps as the layers are randomised",
                sanity_maps_spec(sanity, result.images[0]),
                caption="The first image's maps for the trained model, then with the layers "
                "randomised from the top, cumulatively. Maps that keep their look while the "
                "model is destroyed do not explain the model.",
                png=lambda: sanity.plot_maps(image=result.images[0]),
            )
        )
        blocks.append(
            Table(
                "saliency-sanity",
                "Sanity check",
                sanity.summary_frame(),
                caption="With every layer randomised. A method passes when both "
                f"means are below {sanity.threshold:g}.",
            )
        )
        blocks.append(
            Table(
                "saliency-sanity-cascade", "Sanity check, step by step", sanity.frame(), max_rows=40
            )
        )
    blocks.append(
        Table(
            "saliency-images",
            "Images explained",
            result.frame(),
            caption="The class each map explains and the model's probability of it.",
        )
    )
    if faith is None and sanity is None:
        blocks.append(Note("Faithfulness and sanity checks were not run."))
    methods = ", ".join(_label(m) for m in result.methods)
    return Section(
        id="saliency",
        title="Saliency",
        blocks=tuple(blocks),
        data=result.to_dict(),
        intro=f"Which pixels drove the model's predictions on {result.n_images} images "
        f"({methods}), whether deleting them changes the prediction faster than deleting "
        "random pixels (faithfulness), and whether the maps change when the model's weights "
        "are randomised (sanity check).",
        warnings=saliency_findings(result),
    )
