"""``afterfit slices``: metrics per slice with intervals, Holm-tested gaps, fairness."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from afterfit.cli._app import app, clear_errors, fmt, out_console, progress_bar
from afterfit.cli._options import (
    BootstrapMethod,
    BootstrapMethodOpt,
    CIOption,
    ConfidenceOpt,
    DataOpt,
    FiguresOpt,
    ModelOpt,
    NResamplesOpt,
    OverwriteOpt,
    PosLabelOpt,
    QuietOpt,
    TargetOpt,
    ThresholdOpt,
    TrustedTypeOpt,
    TrustOpt,
    WeightOpt,
    out_folder,
)
from afterfit.errors import InvalidInputError

OutOpt = out_folder("slices.json, tables and figures")


def _print(result: Any) -> None:
    conf = f"{result.settings.confidence:.0%} CI"
    flagged = result.flagged()
    table = Table(
        title=f"{len(result.slices)} slices · {len(flagged)} gap(s) confirmed (Holm)",
        title_justify="left",
    )
    for col in ("slice", "n", "metric", "value", conf, "vs rest", "p (Holm)", "flag"):
        table.add_column(col, justify="right" if col in ("n", "value", "p (Holm)") else "left")
    rows = flagged if len(flagged) else result.frame().query("metric == @result.primary_metric")
    for r in rows.head(30).itertuples(index=False):
        interval = f"[{fmt(r.ci_low)}, {fmt(r.ci_high)}]" if math.isfinite(r.ci_low) else ""
        p = f"{r.p_holm:.2g}" if math.isfinite(r.p_holm) else "—"
        table.add_row(r.slice, f"{r.n:,}", r.metric, fmt(r.value), interval,
                      f"{r.diff_vs_rest:+.4f}", p, r.flag or "")  # fmt: skip
    out_console.print(table)
    if result.fairness is not None:
        f = result.fairness
        ft = Table(title=f"fairness across {f.sensitive} ({', '.join(f.groups)})",
                   title_justify="left")  # fmt: skip
        for col in ("metric", "value", conf, "groups compared"):
            ft.add_column(col)
        for v in f.values:
            if v.group is None:
                interval = f"[{fmt(v.ci_low)}, {fmt(v.ci_high)}]" if math.isfinite(v.ci_low) else ""
                ft.add_row(v.metric, fmt(v.value), interval, v.compared)
        out_console.print(ft)
    if result.segments is not None:
        for text in result.segments.findings():
            out_console.print(text, highlight=False)


@app.command("slices")
def slices_command(
    target: TargetOpt,
    model: ModelOpt = None,
    data: DataOpt = None,
    slice_: Annotated[
        list[str] | None,
        typer.Option(
            "--slice",
            help="A slicing; repeat. COL (its values), COL:quantiles=4, COL:edges=0,18,65 "
            "or A*B (crossing of two). The column need not be a model feature.",
        ),
    ] = None,
    sensitive: Annotated[
        str | None,
        typer.Option(help="Column whose groups the fairness metrics compare (binary models)."),
    ] = None,
    metric: Annotated[
        list[str] | None,
        typer.Option(help="Only these metrics (repeat); fewer tests, more power. Default: all."),
    ] = None,
    pos_label: PosLabelOpt = None,
    threshold: ThresholdOpt = None,
    weight: WeightOpt = None,
    trust: TrustOpt = False,
    trusted_type: TrustedTypeOpt = None,
    out: OutOpt = Path("slices"),
    overwrite: OverwriteOpt = False,
    ci: Annotated[
        CIOption,
        typer.Option(help="auto: Wilson/DeLong where exact, else bootstrap; none: no tests."),
    ] = CIOption.auto,
    confidence: ConfidenceOpt = 0.95,
    n_resamples: NResamplesOpt = 1000,
    bootstrap_method: BootstrapMethodOpt = BootstrapMethod.bca,
    min_size: Annotated[int, typer.Option(help="Slices with fewer rows are not tested.")] = 30,
    min_class_count: Annotated[
        int, typer.Option(help="Slices with fewer rows of a class are not tested.")
    ] = 5,
    segments: Annotated[
        bool, typer.Option(help="Search weak segments on half the rows, confirm on the other.")
    ] = True,
    seed: Annotated[
        int, typer.Option(help="Random seed of the bootstrap and the split.", min=0)
    ] = 0,
    figures: FiguresOpt = True,
    quiet: QuietOpt = False,
) -> None:
    """Metrics on each slice of the rows, with intervals and Holm-adjusted gaps to the rest;
    fairness metrics across a sensitive column; weak segments confirmed on held-out rows.

    Writes slices.json, tables/*.csv and figures/*.png under --out.
    """
    with clear_errors(quiet=quiet):
        from afterfit.outdir import prepare_out

        prepare_out(out, command="slices", overwrite=overwrite)
        if model is None or data is None:
            raise InvalidInputError(
                "afterfit slices needs --model and --data.",
                fix="pass --model model.skops --data test.parquet --target y --slice region.",
            )
        if not slice_ and sensitive is None:
            raise InvalidInputError(
                "nothing to slice by: pass --slice COL (repeat) or --sensitive COL.",
                fix="add e.g. --slice region --slice age:quantiles=4.",
            )
        from afterfit.cli._inputs import match_label, weight_column
        from afterfit.data import load_dataset
        from afterfit.documents import document, write_folder
        from afterfit.models import load_model
        from afterfit.report.files import SCHEMA_NAME
        from afterfit.report.sections.slices import slices_section
        from afterfit.slices import evaluate_slices
        from afterfit.slices.definitions import parse_spec

        for option, item in [*(("--slice", s) for s in slice_ or []), ("--sensitive", sensitive)]:
            if item is not None and parse_spec(item).column == target:
                raise InvalidInputError(
                    f"{option} {item!r} names the target column: its slices would each hold "
                    "one class, where most metrics are undefined.",
                    fix="see the metrics per class in afterfit evaluate (per-class rows); "
                    "slice by a feature or another column of the data.",
                )
        loaded = load_model(model, trust=trust, trusted_types=trusted_type or [])
        ds = load_dataset(data, target=target, drop=[weight] if weight else [])
        sample_weight = weight_column(data, weight) if weight else None
        from afterfit.slices import build_slicings

        # Progress advances once per slice (tested or not) by n_resamples.
        n_slices = sum(len(s.levels) for s in build_slicings(ds.X, slice_ or []))
        total = 0 if ci == CIOption.none else n_resamples * n_slices
        with progress_bar(total, quiet) as progress:
            result = evaluate_slices(
                loaded, ds.X, ds.y, by=slice_ or [], sensitive=sensitive,
                sample_weight=sample_weight, pos_label=match_label(pos_label, loaded.classes_),
                threshold=threshold, metrics=metric or None, ci=ci.value,
                confidence=confidence, n_resamples=n_resamples,
                bootstrap_method=bootstrap_method.value, min_size=min_size,
                min_class_count=min_class_count, segments=segments, random_state=seed,
                progress=progress,
            )  # fmt: skip
        section = slices_section(result)
        source = {"model": str(model), "data": str(data), "target": target}
        doc = document(SCHEMA_NAME, {"slices": section.data}, source=source)
        tables = {t.id: t.frame for t in section.tables()}
        drawn = {f.id: f.png() for f in section.figures() if f.png is not None} if figures else {}
        written = write_folder(out, "slices.json", doc, tables, drawn, command="slices",
                               overwrite=overwrite)  # fmt: skip
        if not quiet:
            _print(result)
            for note in result.notes:
                out_console.print(f"note: {note}", highlight=False)
            out_console.print(f"Wrote {len(written)} files to {out}/ (slices.json, tables/"
                              f"{', figures/' if figures else ''}).")  # fmt: skip
