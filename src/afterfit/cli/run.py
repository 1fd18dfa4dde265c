"""``afterfit run``: every applicable step, one self-contained HTML report.

Options come from the command line, from a TOML file (``--config``), or both: a value
typed on the command line wins over the file, the file over the defaults. The file uses
the options' names (``n_resamples`` or ``n-resamples``); relative paths in it are relative
to the file.
"""

from __future__ import annotations

import contextlib
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from afterfit.cli._app import app, clear_errors, err_console, out_console
from afterfit.cli._options import (
    BetaOpt,
    ConfidenceOpt,
    DataOpt,
    DropOpt,
    FiguresOpt,
    FnCostOpt,
    FpCostOpt,
    MinPrecisionOpt,
    MinRecallOpt,
    ModelOpt,
    NResamplesOpt,
    OptionalTargetOpt,
    OverwriteOpt,
    PositiveRateOpt,
    PosLabelOpt,
    QuietOpt,
    ThresholdOpt,
    TnGainOpt,
    TopKOpt,
    TpGainOpt,
    TrustedTypeOpt,
    TrustOpt,
)
from afterfit.errors import DataError, InvalidInputError

#: Options whose values are file paths: relative ones in a config file are resolved
#: against the file's folder.
PATH_OPTIONS = ("model", "data", "train", "valid", "out", "history", "images")
#: Threshold objective parameters passed to RunOptions as they are (None: not given).
OBJECTIVE_OPTIONS = (
    "beta", "fp_cost", "fn_cost", "tp_gain", "tn_gain", "min_precision", "min_recall",
    "positive_rate", "top_k",
)  # fmt: skip
DEFAULT_MLFLOW = "sqlite:///mlflow.db"


@app.command()
def run(
    ctx: typer.Context,
    model: ModelOpt = None,
    data: DataOpt = None,
    target: OptionalTargetOpt = None,
    train: Annotated[
        Path | None,
        typer.Option(help="Training data: LIME/anchors sample from it; learning curve refits."),
    ] = None,
    valid: Annotated[
        Path | None,
        typer.Option(
            help="Validation data to choose the threshold on (else: the test data, with a warning)."
        ),
    ] = None,
    images: Annotated[
        Path | None,
        typer.Option(
            help="Image model (PyTorch): labelled test images instead of --data: a "
            "folder with one subfolder per class, or an .npz with images and labels."
        ),
    ] = None,
    module_class: Annotated[
        str | None,
        typer.Option(help="Image model saved as a state dict: its class, package.module:Class."),
    ] = None,
    module_kwargs: Annotated[
        str | None, typer.Option(help="Constructor arguments of --module-class, as JSON.")
    ] = None,
    saliency_methods: Annotated[
        str,
        typer.Option(
            help="Image models: gradients,gradient_x_input,integrated_gradients,"
            "smoothgrad,gradcam,occlusion (or all)."
        ),
    ] = "gradients,integrated_gradients,smoothgrad,gradcam",
    compare: Annotated[
        list[str] | None,
        typer.Option(help="Another model to compare, as path or name=path; repeat."),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Report folder (its files replaced when the report is complete).")
    ] = Path("report"),
    overwrite: OverwriteOpt = False,
    config: Annotated[
        Path | None, typer.Option(help="TOML file with any of these options.")
    ] = None,
    steps: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated steps to run (default: all that apply): "
            "evaluation,thresholds,calibration,comparison,slices,explanations,training."
        ),
    ] = None,
    history: Annotated[
        Path | None,
        typer.Option(
            help="Training log to plot: Keras History JSON/CSVLogger, Lightning metrics.csv."
        ),
    ] = None,
    slices: Annotated[
        list[str] | None,
        typer.Option(
            "--slice",
            help="Slices section: a column to slice by (COL, COL:quantiles=4, "
            "COL:edges=0,18,65, A*B); repeat. It need not be a model feature.",
        ),
    ] = None,
    sensitive: Annotated[
        str | None,
        typer.Option(help="Slices section: column whose groups fairness metrics compare."),
    ] = None,
    threshold_objective: Annotated[
        str,
        typer.Option(
            help="Objective of the threshold step: f1, fbeta (--beta), youden, "
            "balanced-accuracy, cost (--fp-cost/--fn-cost, --tp-gain/--tn-gain; multiclass "
            "--cost-matrix), precision-at (--min-precision), recall-at (--min-recall), "
            "positive-rate (--positive-rate), top-k (--top-k)."
        ),
    ] = "f1",
    beta: BetaOpt = None,
    fp_cost: FpCostOpt = None,
    fn_cost: FnCostOpt = None,
    tp_gain: TpGainOpt = None,
    tn_gain: TnGainOpt = None,
    cost_matrix: Annotated[
        str | None,
        typer.Option(
            help="Costs [true][predicted]: '0,1;5,0', or a CSV/TOML/JSON file of the matrix."
        ),
    ] = None,
    min_precision: MinPrecisionOpt = None,
    min_recall: MinRecallOpt = None,
    positive_rate: PositiveRateOpt = None,
    top_k: TopKOpt = None,
    explain_methods: Annotated[
        str,
        typer.Option(
            help="Explanation methods: permutation,shap,lime,anchors,pdp (partial dependence)."
        ),
    ] = "permutation,shap,lime,anchors,pdp",
    pdp_features: Annotated[
        str | None,
        typer.Option(
            help="Columns whose partial dependence to draw, a,b (before the 5 most important)."
        ),
    ] = None,
    explain_time_budget: Annotated[
        float, typer.Option(help="Seconds the slow explanation methods may take.")
    ] = 60.0,
    learning_curve: Annotated[
        bool, typer.Option(help="With --train: refit on growing subsets (learning curve).")
    ] = True,
    confidence: ConfidenceOpt = 0.95,
    n_resamples: NResamplesOpt = 1000,
    seed: Annotated[int, typer.Option(help="Random seed of every step.", min=0)] = 0,
    pos_label: PosLabelOpt = None,
    threshold: ThresholdOpt = None,
    drop: DropOpt = None,
    trust: TrustOpt = False,
    trusted_type: TrustedTypeOpt = None,
    title: Annotated[str | None, typer.Option(help="Title of the page.")] = None,
    figures: FiguresOpt = True,
    mlflow: Annotated[
        bool,
        typer.Option(
            help="Log metrics (with interval ends), parameters and every file of the "
            "report to MLflow."
        ),
    ] = False,
    mlflow_uri: Annotated[
        str | None,
        typer.Option(help=f"MLflow tracking URI (implies --mlflow; default {DEFAULT_MLFLOW})."),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Run every step that applies and write a self-contained HTML report.

    Writes index.html (opens offline), results.json, tables/*.csv and figures/*.png under
    --out. Steps that do not apply (thresholds for a regression model, ...) are listed on
    the page with the reason.
    """
    with clear_errors(quiet=quiet):
        values = _merge_config(ctx, config)
        _run(values, quiet=quiet)


def _merge_config(ctx: typer.Context, config: Path | None) -> dict[str, Any]:
    """The command line's values, with the config file's where the command line has none."""
    values = dict(ctx.params)
    if config is None:
        return values
    try:
        raw = tomllib.loads(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"--config {config} does not exist.", fix="pass a TOML file.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DataError(
            f"--config {config} is not valid TOML: {exc}.", fix="fix the file's syntax."
        ) from None
    known = set(values) - {"config"}
    params = {p.name: p for p in ctx.command.params}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name == "trusted_types":
            name = "trusted_type"
        if name not in known:
            raise InvalidInputError(
                f"--config {config}: unknown option {key!r}.",
                fix=f"use the names of `afterfit run --help`: {', '.join(sorted(known))}.",
            )
        source = ctx.get_parameter_source(name)
        # Compared by name: Typer may bring its own copy of click's ParameterSource enum.
        if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
            continue  # typed on the command line: it wins
        if name in PATH_OPTIONS and isinstance(value, str):
            value = config.parent / value
        if name == "compare" and isinstance(value, dict):
            value = [f"{k}={config.parent / v}" for k, v in value.items()]
        if name in ("steps", "explain_methods", "pdp_features") and isinstance(value, list):
            value = ",".join(value)
        if name == "cost_matrix" and isinstance(value, list):
            value = ";".join(",".join(str(v) for v in row) for row in value)
        elif name == "cost_matrix" and isinstance(value, str) and Path(value).suffix:
            value = str(config.parent / value)
        values[name] = _config_value(ctx, config, key, params[name], value)
    return values


def _config_value(ctx: typer.Context, config: Path, key: str, param: Any, value: Any) -> Any:
    """A config file's value, checked and converted as the command line's would be.

    A flag takes only a TOML boolean: the string ``"false"`` is not false (it turned
    ``trust`` on and unpickled the model), and a list where one value is expected, or a
    value of the wrong type, is refused naming the key.
    """
    where = f"--config {config}: {key!r}"
    if param.is_flag:
        if not isinstance(value, bool):
            raise InvalidInputError(
                f"{where} must be true or false (a TOML boolean); received {value!r}.",
                fix=f"write {key} = true or {key} = false, without quotes.",
            )
        return value
    items = value if param.multiple and isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, list | dict):
            raise InvalidInputError(
                f"{where} takes one value; received {item!r}.",
                fix=f"write one value for {key} (see `afterfit run --help`).",
            )
    try:
        return param.process_value(ctx, tuple(items) if param.multiple else items[0])
    except Exception as exc:  # the parser's BadParameter, or a converter's TypeError
        problem = getattr(exc, "message", None) or str(exc)
        raise InvalidInputError(
            f"{where} is not valid: {problem} (received {value!r}).",
            fix=f"write a valid value for {key} (see `afterfit run --help`).",
        ) from None


def _split(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    return tuple(p.strip() for p in str(text).split(",") if p.strip())


def _others(specs: list[str] | None, trust: bool, trusted: list[str]) -> dict[str, Any]:
    from afterfit.models import load_model

    others: dict[str, Any] = {}
    for spec in specs or []:
        name, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        name = name or Path(path).stem
        if name in others or name == "model":
            raise InvalidInputError(
                f"--compare: two models are named {name!r}.",
                fix="name them: --compare other=path/to/other.skops.",
            )
        others[name] = load_model(Path(path), trust=trust, trusted_types=trusted)
    return others


@contextlib.contextmanager
def _progress(quiet: bool) -> Iterator[Any]:
    """A factory of per-step progress (a bar each on a terminal, plain lines when piped)."""
    from afterfit.cli._app import progress_display

    with progress_display(quiet, transient=False, spinner=True) as shown:
        yield shown.step


def _check_pdp_features(v: dict[str, Any], columns: list[str]) -> None:
    """--pdp-features: columns of the data, with pdp among the methods (before any step runs)."""
    names = _split(v.get("pdp_features"))
    if not names:
        return
    from afterfit.explain.dependence import check_feature_names

    check_feature_names(names, columns, "--pdp-features")
    if "pdp" not in (_split(v["explain_methods"]) or ()):
        raise InvalidInputError(
            "--pdp-features names columns for the partial dependence, but pdp is not among "
            f"--explain-methods ({v['explain_methods']}).",
            fix="add pdp to --explain-methods, or leave --pdp-features out.",
        )


def _run(v: dict[str, Any], *, quiet: bool) -> None:
    from afterfit.data import load_dataset
    from afterfit.models import load_model
    from afterfit.report.run import RunOptions, run_report, write_report

    images = v.get("images")
    needed = ("model",) if images else ("model", "data", "target")
    missing = [f"--{n}" for n in needed if not v.get(n)]
    if missing:
        raise InvalidInputError(
            f"afterfit run needs {', '.join(missing)}.",
            fix="afterfit run --model model.skops --data test.parquet --target y (or --images "
            "for an image model), or put them in a TOML file passed with --config.",
        )
    if images and v.get("data"):
        raise InvalidInputError(
            "--images and --data both give test data; pass one.",
            fix="--data for a tabular model, --images for a PyTorch image classifier.",
        )
    from afterfit.outdir import prepare_out

    # Checked before the steps run: a folder that cannot be written fails in a second, not
    # after minutes of work.
    prepare_out(Path(v["out"]), command="run", overwrite=bool(v.get("overwrite")))
    start = time.perf_counter()
    trusted = list(v.get("trusted_type") or [])
    drop = list(v.get("drop") or [])
    test = image_set = None
    if images:
        from afterfit.saliency import load_images, load_torch_module

        model = load_torch_module(
            Path(v["model"]),
            module_class=v.get("module_class"),
            module_kwargs=v.get("module_kwargs"),
            trust=v["trust"],
        )
        image_set = load_images(Path(images))
    else:
        model = load_model(Path(v["model"]), trust=v["trust"], trusted_types=trusted)
        test = load_dataset(Path(v["data"]), target=v["target"], drop=drop)
        _check_pdp_features(v, [str(c) for c in test.X.columns])
    target = v.get("target")
    train = load_dataset(Path(v["train"]), target=target, drop=drop) if v["train"] else None
    valid = load_dataset(Path(v["valid"]), target=target, drop=drop) if v["valid"] else None
    others = _others(v.get("compare"), v["trust"], trusted)
    from afterfit.cli._inputs import match_label
    from afterfit.cli.threshold import read_cost_matrix

    options = RunOptions(
        steps=_split(v["steps"]) or RunOptions().steps,
        require_steps=bool(_split(v["steps"])),
        threshold_objective=str(v["threshold_objective"]).replace("-", "_"),
        cost_matrix=read_cost_matrix(v.get("cost_matrix")),
        **{k: v.get(k) for k in OBJECTIVE_OPTIONS},
        confidence=float(v["confidence"]),
        n_resamples=int(v["n_resamples"]),
        seed=int(v["seed"]),
        explain_methods=_split(v["explain_methods"]) or (),
        pdp_features=_split(v.get("pdp_features")) or (),
        explain_time_budget=float(v["explain_time_budget"]),
        learning_curve=bool(v["learning_curve"]),
        history=str(v["history"]) if v["history"] else None,
        model_name=Path(v["model"]).stem,
        saliency_methods=_split(v["saliency_methods"]) or (),
        title=v["title"],
        figures=bool(v["figures"]),
        slices=tuple(v.get("slices") or ()),
        sensitive=v.get("sensitive"),
    )
    source = {"model": str(v["model"])}
    source.update({"images": str(images)} if images else {"data": str(v["data"]), "target": target})
    if train is not None:
        source["train"] = str(v["train"])
    with _progress(quiet) as progress:
        classes = getattr(model, "classes_", None)
        report = run_report(
            model, test, images=image_set, options=options, train=train, valid=valid,
            others=others, source=source, progress=progress,
            pos_label=match_label(v["pos_label"], classes), threshold=v["threshold"],
        )  # fmt: skip
    out = Path(v["out"])
    data_name = Path(images or v["data"]).name
    title = v["title"] or f"afterfit report: {Path(v['model']).name} on {data_name}"
    write_report(
        report, out, title=title, figures=options.figures, overwrite=bool(v.get("overwrite"))
    )
    run_id, uri = None, v.get("mlflow_uri") or (DEFAULT_MLFLOW if v.get("mlflow") else None)
    if uri:
        from afterfit.report.mlflow_log import log_to_mlflow

        params = report.doc["report"]["options"]
        run_id = log_to_mlflow(out, report.doc, uri=uri, params=params, files=report.written)
    if not quiet:
        _print_summary(report, out, time.perf_counter() - start, run_id, uri)


def _print_summary(report: Any, out: Path, seconds: float, run_id: str | None, uri: str | None):
    from rich.table import Table

    table = Table(title="headline", title_justify="left", show_header=False)
    for h in report.doc["report"]["headline"]:
        ci = ""
        if h["ci_low"] is not None:
            ci = f"[{h['ci_low']:.4g}, {h['ci_high']:.4g}]"
        table.add_row(h["name"], f"{h['value']:.4g}", ci)
    out_console.print(table)
    op = (report.doc.get("thresholds") or {}).get("operating_point")
    if op and not op.get("optimistic"):  # an optimistic one is printed as a finding
        out_console.print(op["summary"], highlight=False, soft_wrap=True)
    for f in report.doc["report"]["findings"]:
        err_console.print(f"[yellow]finding:[/] {f['text']}", highlight=False, soft_wrap=True)
    for s in report.skipped:
        out_console.print(f"[dim]not run: {s}[/]", highlight=False, soft_wrap=True)
    size = (out / "index.html").stat().st_size / 1e6
    n_findings = len(report.doc["report"]["findings"])
    out_console.print(
        f"Report: {out / 'index.html'} ({size:.1f} MB) · {len(report.sections)} sections · "
        f"{n_findings} finding{'s' if n_findings != 1 else ''} · {len(report.written)} files · "
        f"{seconds:.1f} s",
        highlight=False,
    )
    if run_id:
        out_console.print(f"MLflow run {run_id} logged to {uri}.", highlight=False)
