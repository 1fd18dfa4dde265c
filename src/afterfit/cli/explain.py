"""``afterfit explain``: global importance, chosen rows explained side by side, agreement.

::

    afterfit explain --model model.skops --data test.parquet --target y \
                     [--train train.parquet] [--rows 17,42] \
                     [--methods permutation,shap,lime,anchors,pdp] [--pdp-features age,income] \
                     [--time-budget 60] --out expl/

Writes ``explanations.json`` (afterfit's versioned header, schema
``afterfit.explanations``), ``tables/*.csv`` and ``figures/*.png`` under ``--out``; nothing
is written until everything is computed, and each file is written atomically.
"""

from __future__ import annotations

import contextlib
import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from afterfit.cli._app import app, clear_errors, err_console, fmt, out_console, stage_progress
from afterfit.cli._options import (
    DataOpt,
    DropOpt,
    FiguresOpt,
    ModelOpt,
    OverwriteOpt,
    QuietOpt,
    SchedulerOpt,
    TargetOpt,
    TrustedTypeOpt,
    TrustOpt,
    out_folder,
)
from afterfit.errors import InvalidInputError

OutOpt = out_folder("explanations.json, tables and figures")


class BackendOption(StrEnum):
    local = "local"
    threads = "threads"
    dask = "dask"


def _parallel(backend: BackendOption | None, scheduler: str | None) -> Any:
    """The parallel backend block, when one is asked for."""
    if backend is None and scheduler is None:
        return contextlib.nullcontext()
    try:
        from afterfit.parallel import parallel_backend
    except ImportError:  # pragma: no cover - the module ships with afterfit
        raise InvalidInputError(
            "--backend and --scheduler need afterfit.parallel, which this installation lacks.",
            fix="upgrade afterfit, or leave --backend and --scheduler out.",
        ) from None
    name = None if backend is None else backend.value
    if name is None and scheduler is not None:
        name = "dask"  # a scheduler address only makes sense for dask
    return parallel_backend(name, scheduler)


def _training_frame(path: Path, target: str, drop: list[str]) -> Any:
    """Training features: the file without the target and the dropped columns."""
    from afterfit.data import read_table

    frame = read_table(path)
    columns = [c for c in (*drop, target) if c in frame.columns]
    return frame.drop(columns=columns)


def _ci(low: float, high: float) -> str:
    return f"[{fmt(low)}, {fmt(high)}]" if math.isfinite(low) and math.isfinite(high) else ""


def _print_summary(expl: Any, top: int = 10) -> None:
    df = expl.frame().head(top)
    title = f"{expl.task} · {expl.n_rows:,} rows · {len(expl.feature_names)} features"
    if expl.permutation is not None:
        title += f" · permutation metric {expl.permutation.metric}"
    table = Table(title=title, title_justify="left")
    table.add_column("feature")
    if expl.permutation is not None:
        table.add_column("permutation", justify="right")
        table.add_column(f"{expl.permutation.confidence:.0%} CI", justify="right")
    if expl.shap_importance is not None:
        table.add_column("mean |SHAP|", justify="right")
        table.add_column("95% CI", justify="right")
    for rec in df.to_dict("records"):
        cells = [str(rec["feature"])]
        if expl.permutation is not None:
            low, high = float(rec["permutation_ci_low"]), float(rec["permutation_ci_high"])
            cells += [fmt(float(rec["permutation"])), _ci(low, high)]
        if expl.shap_importance is not None:
            low, high = float(rec["shap_ci_low"]), float(rec["shap_ci_high"])
            cells += [fmt(float(rec["mean_abs_shap"])), _ci(low, high)]
        table.add_row(*cells)
    out_console.print(table)

    if not len(expl.local):
        return
    methods = expl.local.methods
    columns = ["row", "reason", "true → predicted"]
    columns += ["SHAP top"] if "shap" in methods else []
    columns += ["LIME top (fidelity)"] if "lime" in methods else []
    columns += ["anchor (precision, coverage)"] if "anchors" in methods else []
    columns += ["agree"] if {"shap", "lime"} <= set(methods) else []
    columns += ["skipped"] if expl.local.skipped else []
    rows = Table(title="Explained rows", title_justify="left")
    for name in columns:
        rows.add_column(name)
    for r in expl.local.rows:
        cells = {
            "row": str(r.position) if r.label == r.position else f"{r.position} ({r.label})",
            "reason": r.reason,
            "true → predicted": f"{r.true_value} → {r.prediction}",
            "SHAP top": "" if r.shap is None else ", ".join(r.shap.frame()["feature"].head(3)),
            "LIME top (fidelity)": "",
            "anchor (precision, coverage)": "",
            "agree": "" if r.agreement is None else ("yes" if r.agreement.agree else "[red]no[/]"),
            "skipped": ", ".join(s.method for s in r.skipped),
        }
        if r.lime is not None:
            fid = "n/a" if not math.isfinite(r.lime.fidelity) else f"{r.lime.fidelity:.2f}"
            cells["LIME top (fidelity)"] = f"{', '.join(r.lime.columns[:3])} ({fid})"
        if r.anchor is not None:
            preds = r.anchor.predicates
            rule = " AND ".join(preds[:3]) or "(empty)"
            if len(preds) > 3:  # the whole rule is in explanations.json and anchors.csv
                rule += f" AND {len(preds) - 3} more"
            cells["anchor (precision, coverage)"] = (
                f"{rule} ({r.anchor.precision:.2f}, {r.anchor.coverage:.2f})"
            )
        rows.add_row(*(cells[c] for c in columns))
    out_console.print(rows)


def _print_dependence(dependence: Any) -> None:
    """Which features got partial dependence curves, and the most interacting pair."""
    if dependence is None or not dependence.features:
        return
    text = f"Partial dependence ({dependence.output}): {', '.join(dependence.feature_names)}"
    if dependence.interactions:
        best = dependence.interactions[0]
        h2 = "n/a" if not math.isfinite(best.h2) else f"{best.h2:.2f}"
        text += f"; most interacting pair: {' × '.join(best.features)} (H² {h2})"
    out_console.print(text + " (tables/pdp.csv).", highlight=False, soft_wrap=True)


def _print_skipped(skipped: Any) -> None:
    """One line per method: rows skipped (time budget), or why it did not run at all."""
    per_row: dict[str, int] = {}
    failed_rows: dict[str, int] = {}
    for s in skipped:
        if s.failed and s.position is None:
            # one failing method never hides the others: named, with why, as a warning
            err_console.print(f"[yellow]failed:[/] {s.method}: {s.reason.removeprefix('failed: ')}",
                              highlight=False, soft_wrap=True)  # fmt: skip
        elif s.failed:
            failed_rows[s.method] = failed_rows.get(s.method, 0) + 1
        elif s.position is None:
            err_console.print(f"[dim]skipped:[/] {s.method}: {s.reason}.", highlight=False,
                              soft_wrap=True)  # fmt: skip
        else:
            per_row[s.method] = per_row.get(s.method, 0) + 1
    if failed_rows:
        text = ", ".join(f"{m} on {k} row(s)" for m, k in failed_rows.items())
        err_console.print(f"[yellow]failed:[/] {text} (the reasons are in tables/skipped.csv).",
                          highlight=False, soft_wrap=True)  # fmt: skip
    if per_row:
        text = ", ".join(f"{m} on {k} row(s)" for m, k in per_row.items())
        err_console.print(f"[dim]skipped:[/] {text} (time budget; see tables/skipped.csv).",
                          highlight=False, soft_wrap=True)  # fmt: skip


@app.command()
def explain(
    target: TargetOpt,
    model: ModelOpt = None,
    data: DataOpt = None,
    train: Annotated[
        Path | None,
        typer.Option(help="Training data: LIME and anchors sample from it; SHAP's background."),
    ] = None,
    rows: Annotated[
        str | None,
        typer.Option(help="Rows to explain first: 0-based positions or index labels, 17,42."),
    ] = None,
    methods: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated methods (default: all that apply): "
            "permutation,shap,lime,anchors,pdp (partial dependence)."
        ),
    ] = None,
    pdp_features: Annotated[
        str | None,
        typer.Option(
            help="Columns whose partial dependence and ICE curves to draw, a,b (drawn "
            "before the 5 most important features)."
        ),
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option(
            help="Permutation importance metric (default roc_auc, roc_auc_ovr_macro, r2)."
        ),
    ] = None,
    n_repeats: Annotated[int, typer.Option(help="Permutation importance repeats.")] = 5,
    n_errors: Annotated[int, typer.Option(help="Most confident errors to explain.")] = 3,
    n_uncertain: Annotated[int, typer.Option(help="Least confident rows to explain.")] = 3,
    n_random: Annotated[int, typer.Option(help="Random rows to explain.")] = 2,
    time_budget: Annotated[
        float | None,
        typer.Option(
            help="Seconds each slow method (LIME, anchors, model-agnostic SHAP) may spend "
            "before it stops starting new rows."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of every method.", min=0)] = 0,
    drop: DropOpt = None,
    trust: TrustOpt = False,
    trusted_type: TrustedTypeOpt = None,
    backend: Annotated[
        BackendOption | None,
        typer.Option(help="Where permutation importance and SHAP run: local, threads, dask."),
    ] = None,
    scheduler: SchedulerOpt = None,
    out: OutOpt = Path("explanations"),
    overwrite: OverwriteOpt = False,
    figures: FiguresOpt = True,
    quiet: QuietOpt = False,
) -> None:
    """Explain a model: permutation importance and SHAP with intervals, the rows worth a
    look (confident errors, least confident, random, yours) with SHAP, LIME and anchors side
    by side, where SHAP and LIME disagree, and partial dependence with ICE curves of the top
    features and the most interacting pair.

    Writes explanations.json, tables/*.csv and figures/*.png under --out.
    """
    with clear_errors(quiet=quiet):
        from afterfit.outdir import prepare_out

        prepare_out(out, command="explain", overwrite=overwrite)
        if model is None or data is None:
            raise InvalidInputError(
                "afterfit explain needs --model and --data (the rows to explain, with the "
                "target column).",
                fix="pass --model model.skops --data test.parquet --target y.",
            )
        from afterfit.data import load_dataset
        from afterfit.explain.explain import explain_model, write_explanations
        from afterfit.explain.rows import parse_rows
        from afterfit.models import load_model

        user_rows = parse_rows(rows)
        loaded = load_model(model, trust=trust, trusted_types=trusted_type or [])
        ds = load_dataset(data, target=target, drop=drop or [])
        if pdp_features:
            from afterfit.explain.dependence import check_feature_names

            # a typo fails now, named as the option the user typed
            check_feature_names(pdp_features, [str(c) for c in ds.X.columns], "--pdp-features")
        train_X = None if train is None else _training_frame(train, target, drop or [])
        with _parallel(backend, scheduler), stage_progress(quiet, cumulative=True) as progress:
            expl = explain_model(
                loaded, ds.X, ds.y, train=train_X, rows=user_rows, methods=methods,
                metric=metric, n_repeats=n_repeats, n_errors=n_errors,
                n_uncertain=n_uncertain, n_random=n_random, time_budget=time_budget,
                random_state=seed, progress=progress, pdp_features=pdp_features,
            )  # fmt: skip
        source = {
            "model": str(model),
            "data": str(data),
            "target": target,
            "train": None if train is None else str(train),
        }
        written = write_explanations(expl, out, source=source, figures=figures, overwrite=overwrite)
        if not quiet:
            _print_summary(expl)
            for flag in expl.flags():
                err_console.print(f"[yellow]warning:[/] {flag.text}", highlight=False,
                                  soft_wrap=True)  # fmt: skip
            for note in expl.notes:
                err_console.print(f"[dim]note:[/] {note}", highlight=False, soft_wrap=True)
            _print_dependence(expl.dependence)
            _print_skipped(expl.skipped)
            out_console.print(
                f"Wrote {len(written)} files to {out}/ (explanations.json, tables/, "
                f"{'figures/' if figures else 'no figures'})."
            )
