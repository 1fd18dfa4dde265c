"""``afterfit check``: a quality gate for CI pipelines.

    afterfit check --results report/results.json --rule "roc_auc >= 0.85"
    afterfit check --model m.skops --data test.parquet --target y --rules gate.toml \\
        --baseline prod.skops --junit gate.xml --markdown gate.md

Exit 0 when every rule holds, 1 when one fails, 2 when a rule cannot be judged (an unknown
metric or step, a metric the task lacks, a baseline of other classes). An existing --junit
or --markdown file that is not empty is replaced only with --overwrite, an input never
(checked before any work).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from afterfit.cli._app import app, clear_errors, out_console
from afterfit.cli._options import (
    ConfidenceOpt,
    DropOpt,
    NResamplesOpt,
    OptionalTargetOpt,
    OverwriteOpt,
    PosLabelOpt,
    QuietOpt,
    TrustedTypeOpt,
    TrustOpt,
)


@app.command()
def check(
    rule: Annotated[
        list[str] | None,
        typer.Option(
            help="A rule, '[STEP.]METRIC OP BOUND [point]': 'roc_auc >= 0.85', "
            "'calibration.ece_quantile <= 0.05', 'fairness.equalized_odds_difference <= 0.1', "
            "'candidate.roc_auc >= baseline.roc_auc - 0.01'; repeat."
        ),
    ] = None,
    rules: Annotated[
        Path | None, typer.Option(help="TOML file of rules (rules = [...], [[rule]], alpha).")
    ] = None,
    results: Annotated[
        Path | None, typer.Option(help="An existing results.json (of afterfit run) to judge.")
    ] = None,
    model: Annotated[
        Path | None, typer.Option(help="Or a model to evaluate (with --data, --target).")
    ] = None,
    data: Annotated[Path | None, typer.Option(help="Test data with the target.")] = None,
    target: OptionalTargetOpt = None,
    valid: Annotated[
        Path | None, typer.Option(help="Validation data to choose the threshold on.")
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(help="Baseline model for 'candidate.M >= baseline.M - margin' rules."),
    ] = None,
    alpha: Annotated[
        float | None,
        typer.Option(help="One-sided level of the non-inferiority tests (default 0.05)."),
    ] = None,
    slices: Annotated[
        list[str] | None,
        typer.Option("--slice", help="With --model: a column to slice by (slices.* rules)."),
    ] = None,
    sensitive: Annotated[
        str | None, typer.Option(help="With --model: the column fairness.* rules compare.")
    ] = None,
    n_resamples: NResamplesOpt = 1000,
    confidence: ConfidenceOpt = 0.95,
    seed: Annotated[int, typer.Option(help="Random seed.", min=0)] = 0,
    pos_label: PosLabelOpt = None,
    drop: DropOpt = None,
    trust: TrustOpt = False,
    trusted_type: TrustedTypeOpt = None,
    junit: Annotated[
        Path | None,
        typer.Option(
            help="Write a JUnit XML report here (CI test view). An existing file that is "
            "not empty needs --overwrite."
        ),
    ] = None,
    markdown: Annotated[
        Path | None,
        typer.Option(
            help="Write a Markdown summary here (e.g. $GITHUB_STEP_SUMMARY, created empty). "
            "An existing file that is not empty needs --overwrite."
        ),
    ] = None,
    overwrite: OverwriteOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Judge quality rules on a model (or an existing results.json) and exit 1 if one
    fails.

    A rule holds when its interval's far end meets the bound (lower end for >=, upper for
    <=), unless marked 'point'. Rules against a baseline use the paired test (DeLong for
    ROC AUC, else McNemar or a paired bootstrap) at one-sided level --alpha. Exit 0: all
    hold; 1: a rule fails; 2: a rule cannot be judged.
    """
    with clear_errors(quiet=quiet):
        from afterfit.errors import InvalidInputError
        from afterfit.gate import check as run_check
        from afterfit.gate import load_rules, parse_rule, write_outputs
        from afterfit.outdir import prepare_file

        inputs = {"--results": results, "--rules": rules, "--model": model, "--data": data,
                  "--valid": valid, "--baseline": baseline}  # fmt: skip
        if (
            junit is not None
            and markdown is not None
            and Path(junit).resolve() == Path(markdown).resolve()
        ):
            raise InvalidInputError(
                f"--junit and --markdown name the same file, {junit}: one would overwrite "
                "the other.",
                fix="give them two files, e.g. --junit gate.xml --markdown gate.md.",
            )
        for option, path in (("--junit", junit), ("--markdown", markdown)):
            if path is not None:
                prepare_file(path, overwrite=overwrite, inputs=inputs, option=option)
        parsed, settings = ([], {}) if rules is None else load_rules(rules)
        parsed += [parse_rule(r) for r in rule or []]
        if not parsed:
            raise InvalidInputError(
                "no rules to check.", fix="pass --rule 'roc_auc >= 0.85' or --rules gate.toml."
            )
        level = alpha if alpha is not None else float(settings.get("alpha", 0.05))
        if (model is None) == (results is None):
            raise InvalidInputError(
                "pass either --results (an existing results.json) or --model with --data.",
                fix="afterfit check --results report/results.json --rule 'roc_auc >= 0.85'.",
            )
        kwargs: dict = {"alpha": level}
        if results is not None:
            kwargs["results"] = results
        else:
            kwargs.update(_model_inputs(model, data, target, valid, baseline, drop, trust,
                                        trusted_type, pos_label))  # fmt: skip
            from afterfit.report.run import RunOptions

            kwargs["options"] = RunOptions(
                n_resamples=n_resamples, confidence=confidence, seed=seed,
                slices=tuple(slices or ()), sensitive=sensitive,
            )  # fmt: skip
        result = run_check(parsed, **kwargs)
        write_outputs(result, junit=junit, markdown_path=markdown)
        if not quiet:
            _print(result)
    raise typer.Exit(0 if result.passed else 1)


def _model_inputs(model, data, target, valid, baseline, drop, trust, trusted, pos_label):
    from afterfit.cli._inputs import match_label
    from afterfit.data import load_dataset
    from afterfit.errors import InvalidInputError
    from afterfit.models import load_model

    if data is None or target is None:
        raise InvalidInputError(
            "--model needs --data and --target: the rows to judge it on.",
            fix="afterfit check --model m.skops --data test.parquet --target y --rule ...",
        )
    loaded = load_model(model, trust=trust, trusted_types=list(trusted or []))
    columns = list(drop or [])
    out = {
        "model": loaded,
        "test": load_dataset(data, target=target, drop=columns),
        "pos_label": match_label(pos_label, getattr(loaded, "classes_", None)),
    }
    if valid is not None:
        out["valid"] = load_dataset(valid, target=target, drop=columns)
    if baseline is not None:
        out["baseline"] = load_model(baseline, trust=trust, trusted_types=list(trusted or []))
    return out


def _print(result) -> None:
    from afterfit.gate.outputs import interval

    table = Table(title="afterfit check", title_justify="left")
    for column in ("rule", "value", "interval", "verdict", "evidence"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for v in result.verdicts:
        verdict = "[green]pass[/]" if v.holds else "[bold red]FAIL[/]"
        table.add_row(v.rule.text, f"{v.value:.4g}", interval(v), verdict, v.evidence)
    out_console.print(table)
    from afterfit.gate.outputs import outcome

    out_console.print(outcome(len(result.failed), len(result.verdicts)), highlight=False)
