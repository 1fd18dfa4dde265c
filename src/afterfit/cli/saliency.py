"""``afterfit saliency``: saliency maps of a PyTorch image classifier, checked.

::

    afterfit saliency --model cnn.pt --images images/ --out sal/ --methods gradcam,ig,smoothgrad
    afterfit saliency --model weights.pt --module-class mypkg.nets:Net \\
                      --module-kwargs '{"width": 32}' --images test.npz --resize 32x32 \\
                      --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225

The model is a TorchScript file, or a state dict (``torch.load(weights_only=True)``) with
its class given as ``package.module:Class``; a whole pickled module needs ``--trust``, and so
does a TorchScript file whose code does more than compute on tensors (files, printing...).
Images are a folder (``images/<class>/<file>.png``), an ``.npz`` with ``images`` and
``labels``, or one image file. Preprocessing options are applied the same way to every
image.

Writes under --out (atomically):

- ``saliency.json``: schema ``afterfit.saliency``; ``source`` (model, images), then
  ``saliency``: methods, settings, per-image rows, ``faithfulness`` (areas, gains over
  random order with intervals, mean curves), ``sanity`` (cascade steps, similarities,
  verdicts), timings;
- ``maps.npz``: every map (``<method>``, ``(n, H, W)`` float32), ``targets``, ``names``;
- ``tables/``: ``images.csv``, ``faithfulness.csv``, ``faithfulness_curves.csv``,
  ``sanity.csv`` (per method and step), ``sanity_summary.csv``;
- ``figures/``: ``overview.png`` (a row per method), ``maps_<method>.png`` (a grid per
  method), ``faithfulness.png``, ``sanity.png``, ``sanity_maps.png``.

Errors (a model file that is not a module, images of the wrong size or channel count, a
target out of range, an empty folder, an unknown layer) are one paragraph on stderr with
exit code 2.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from afterfit.cli._app import app, clear_errors, fmt, out_console, stage_progress
from afterfit.cli._options import FiguresOpt, OverwriteOpt, QuietOpt, out_folder
from afterfit.errors import AfterfitWarning, InvalidInputError

OutOpt = out_folder("saliency.json, maps.npz, tables and figures")

TorchTrustOpt = Annotated[
    bool,
    typer.Option(
        "--trust",
        help="Load a whole pickled module (torch.load with weights_only=False), or a "
        "TorchScript file whose code does more than compute on tensors. Both run code from "
        "the file: use only for files you trust.",
    ),
]

_STAGES = {"maps": "saliency maps", "faithfulness": "faithfulness", "sanity": "sanity check"}


def _numbers(text: str | None, name: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InvalidInputError(
            f"--{name} must be numbers separated by commas; received {text!r}.",
            fix=f"pass for example --{name} 0.485,0.456,0.406 (one per channel).",
        ) from None


def _size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    parts = text.lower().replace("*", "x").split("x")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) == 1:
        numbers *= 2
    if len(numbers) != 2 or min(numbers) < 1:
        raise InvalidInputError(
            f"--resize must be HEIGHTxWIDTH or one side; received {text!r}.",
            fix="pass for example --resize 32x32 or --resize 224.",
        )
    return numbers[0], numbers[1]


def _scale(text: str) -> float | str:
    if text == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise InvalidInputError(
            f"--scale must be 'auto' or a number; received {text!r}.",
            fix="pass --scale 255 for 8-bit values, --scale 1 to keep values as they are.",
        ) from None


def _targets(text: str) -> str | int:
    if text in ("predicted", "labels"):
        return text
    try:
        return int(text)
    except ValueError:
        raise InvalidInputError(
            f"--targets must be 'predicted', 'labels' or a class index; received {text!r}.",
            fix="pass --targets predicted (default), --targets labels or --targets 3.",
        ) from None


def _print_summary(result: Any) -> None:
    from afterfit.saliency.plots import label

    faith = result.faithfulness.frame().set_index("method") if result.faithfulness else None
    sanity = result.sanity.summary_frame().set_index("method") if result.sanity else None
    title = f"{result.n_images} images"
    if faith is not None:
        title += " · deletion/insertion areas, gain over random order"
    table = Table(title=title, title_justify="left")
    table.add_column("method")
    if faith is not None:
        table.add_column("deletion ↓", justify="right")
        table.add_column("insertion ↑", justify="right")
        table.add_column("gain", justify="right")
    if sanity is not None:
        table.add_column("sanity")
    table.add_column("seconds", justify="right")
    for m in result.methods:
        cells = [label(m)]
        if faith is not None:
            row = faith.loc[m]
            cells += [fmt(row.deletion_auc), fmt(row.insertion_auc), fmt(row.deletion_gain)]
        if sanity is not None:
            cells.append("passes" if sanity.loc[m].passed else "[bold red]FAILS[/]")
        cells.append(f"{result.timings.get(m, math.nan):.2f}")
        table.add_row(*cells)
    if faith is not None:
        r = faith.loc["random"]
        blanks = [""] * (2 + (sanity is not None))
        table.add_row("random order", fmt(r.deletion_auc), fmt(r.insertion_auc), *blanks)
    out_console.print(table)


def _write_maps(path: Path, result: Any) -> None:
    # An open file: np.savez would append ".npz" to the temporary file's name.
    with open(path, "wb") as f:
        np.savez_compressed(
            f,
            targets=result.targets,
            names=np.asarray(result.names, dtype=str),
            **{m: result.maps[m] for m in result.methods},
        )


def write_saliency(
    result: Any,
    out: Path,
    *,
    source: dict[str, Any],
    figures: bool = True,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write ``saliency.json``, ``maps.npz``, tables and figures of ``result`` under ``out``,
    published together (``overwrite``: see :func:`afterfit.outdir.prepare_out`)."""
    from afterfit.documents import document, write_folder
    from afterfit.io import atomic_write
    from afterfit.outdir import writing

    tables: dict[str, Any] = {"images": result.frame()}
    figs: dict[str, Any] = {}
    if figures:
        figs["overview"] = result.plot(n=8)
        for m in result.methods:
            figs[f"maps_{m}"] = result.plot_method(m, n=16)
    if result.faithfulness is not None:
        tables["faithfulness"] = result.faithfulness.frame()
        tables["faithfulness_curves"] = result.faithfulness.curves_frame()
        if figures:
            figs["faithfulness"] = result.faithfulness.plot()
    if result.sanity is not None:
        tables["sanity"] = result.sanity.frame()
        tables["sanity_summary"] = result.sanity.summary_frame()
        if figures:
            figs["sanity"] = result.sanity.plot()
            figs["sanity_maps"] = result.sanity.plot_maps(image=result.images[0])
    doc = document("afterfit.saliency", {"saliency": result.to_dict()}, source=source)
    with writing(out, command="saliency", overwrite=overwrite) as stage:
        written = write_folder(stage, "saliency.json", doc, tables, figs, command="saliency")
        atomic_write(stage.path / "maps.npz", lambda tmp: _write_maps(tmp, result))
    written["maps.npz"] = stage.target / "maps.npz"
    return written


@app.command()
def saliency(
    model: Annotated[
        Path,
        typer.Option(
            help="PyTorch classifier: a TorchScript .pt, or a state dict with --module-class."
        ),
    ],
    images: Annotated[
        Path,
        typer.Option(
            help="Images: a folder (one subfolder per class; PNG, JPEG, NPY), an .npz with "
            "'images' and 'labels', or one image file."
        ),
    ],
    out: OutOpt = Path("saliency"),
    overwrite: OverwriteOpt = False,
    methods: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated: gradients, gradient_x_input (gxi), integrated_gradients "
            "(ig), smoothgrad (sg), gradcam, occlusion, or all. Default: gradients, ig, "
            "smoothgrad, gradcam (gradcam left out for TorchScript)."
        ),
    ] = None,
    module_class: Annotated[
        str | None,
        typer.Option(help="The network's class for a state dict: package.module:Class."),
    ] = None,
    module_kwargs: Annotated[
        str | None, typer.Option(help="Constructor arguments as JSON, e.g. '{\"width\": 32}'.")
    ] = None,
    trust: TorchTrustOpt = False,
    resize: Annotated[
        str | None, typer.Option(help="Resize every image to HEIGHTxWIDTH (or one side).")
    ] = None,
    mean: Annotated[
        str | None, typer.Option(help="Normalisation mean per channel, comma-separated.")
    ] = None,
    std: Annotated[
        str | None, typer.Option(help="Normalisation standard deviation per channel.")
    ] = None,
    channels: Annotated[
        int | None, typer.Option(help="Convert images to 1 (grey) or 3 (RGB) channels.")
    ] = None,
    scale: Annotated[
        str, typer.Option(help="Divide raw values by this; auto: 8-bit images by 255.")
    ] = "auto",
    targets: Annotated[
        str, typer.Option(help="Class explained: predicted, labels, or a class index.")
    ] = "predicted",
    layer: Annotated[
        str | None, typer.Option(help="Grad-CAM layer name (default: the last Conv2d).")
    ] = None,
    steps: Annotated[int, typer.Option(help="Integrated Gradients steps.")] = 50,
    samples: Annotated[int, typer.Option(help="SmoothGrad noisy samples per image.")] = 10,
    noise: Annotated[
        float, typer.Option(help="SmoothGrad noise, as a fraction of the input range.")
    ] = 0.15,
    occlusion_window: Annotated[
        int | None, typer.Option(help="Occlusion patch side (default: side / 8).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Most rows per forward pass (default: automatic).")
    ] = None,
    max_images: Annotated[
        int, typer.Option(help="Most images explained, evenly spaced; 0 for all.")
    ] = 64,
    faithfulness: Annotated[
        bool, typer.Option(help="Deletion and insertion curves against random order.")
    ] = True,
    faithfulness_steps: Annotated[int, typer.Option(help="Points per curve.")] = 16,
    baseline: Annotated[
        str, typer.Option(help="Deleted pixels become: zero, mean, blur, or a number.")
    ] = "zero",
    sanity: Annotated[
        bool, typer.Option(help="Cascading model-randomisation sanity check.")
    ] = True,
    sanity_images: Annotated[int, typer.Option(help="Images used by the sanity check.")] = 8,
    seed: Annotated[
        int, typer.Option(help="Random seed (noise, random orders, weights).", min=0)
    ] = 0,
    figures: FiguresOpt = True,
    quiet: QuietOpt = False,
) -> None:
    """Saliency maps of a PyTorch image classifier, with faithfulness and sanity checks.

    Writes saliency.json, maps.npz, tables/*.csv and figures/*.png under --out.
    """
    with clear_errors(quiet=quiet):
        from afterfit.outdir import prepare_out

        prepare_out(out, command="saliency", overwrite=overwrite)
        from afterfit.saliency import DEFAULT_METHODS, Preprocess
        from afterfit.saliency import compute_saliency as compute
        from afterfit.saliency.loading import is_torchscript, load_torch_module
        from afterfit.saliency.methods import canonical_methods

        names = canonical_methods(methods) if methods is not None else DEFAULT_METHODS
        preprocess = Preprocess(
            size=_size(resize),
            mean=_numbers(mean, "mean"),
            std=_numbers(std, "std"),
            channels=channels,
            scale=_scale(scale),
        )
        baseline_value: str | float = baseline
        if baseline not in ("zero", "mean", "blur"):
            baseline_value = _numbers(baseline, "baseline")[0]  # type: ignore[index]
        module = load_torch_module(
            model, module_class=module_class, module_kwargs=module_kwargs, trust=trust
        )
        if methods is None and is_torchscript(module):
            names = tuple(m for m in names if m != "gradcam")
            warnings.warn(
                "Grad-CAM is left out: it needs forward hooks, which TorchScript modules do "
                "not support (load a state dict with --module-class to include it).",
                AfterfitWarning,
                stacklevel=1,
            )
        with stage_progress(quiet, cumulative=False, names=_STAGES) as progress:
            result = compute(
                module, images, _targets(targets), names, preprocess=preprocess,
                gradcam_layer=layer, n_steps=steps, nt_samples=samples, noise=noise,
                occlusion_window=occlusion_window, batch_size=batch_size,
                max_images=max_images or None, faithfulness=faithfulness,
                faithfulness_steps=faithfulness_steps, baseline=baseline_value,
                sanity=sanity, sanity_images=sanity_images, random_state=seed,
                progress=progress,
            )  # fmt: skip
        source = {"model": str(model), "images": str(images), "module_class": module_class}
        written = write_saliency(result, out, source=source, figures=figures, overwrite=overwrite)
        if not quiet:
            _print_summary(result)
            out_console.print(
                f"Wrote {len(written)} files to {out}/ (saliency.json, maps.npz, tables/, "
                f"{'figures/' if figures else 'no figures'})."
            )
