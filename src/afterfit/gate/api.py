"""``check``: judge rules on an existing results.json, or on a model and data (running
only the steps the rules need, and the paired comparison with a baseline)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from afterfit.errors import InvalidInputError
from afterfit.gate.judge import RUN_STEP, Verdict, check_document
from afterfit.gate.rules import Rule


@dataclass(frozen=True)
class GateResult:
    """Every rule's verdict; ``passed`` when all hold."""

    verdicts: tuple[Verdict, ...]
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(v.holds for v in self.verdicts)

    @property
    def failed(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if not v.holds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "n_rules": len(self.verdicts),
            "n_failed": len(self.failed),
            "rules": [v.to_dict() for v in self.verdicts],
            "source": self.source,
        }


def read_results(path: str | Path) -> dict[str, Any]:
    """A report's ``results.json`` (read with afterfit's capped JSON reader)."""
    from afterfit import jsonsafe
    from afterfit.bundle.model_card import MAX_RESULTS_BYTES

    p = Path(path)
    try:
        with open(p, "rb") as fh:
            data = fh.read(MAX_RESULTS_BYTES + 1)
        doc = jsonsafe.loads(data, what=f"The file '{p}'", max_bytes=MAX_RESULTS_BYTES)
    except FileNotFoundError:
        raise InvalidInputError(
            f"--results {p} does not exist.",
            fix="pass the results.json of afterfit run (or evaluate).",
        ) from None
    if not isinstance(doc, dict):
        raise InvalidInputError(f"--results {p} is not a results document.",
                                fix="pass the results.json of afterfit run.")  # fmt: skip
    from afterfit.documents import SCHEMA_VERSION
    from afterfit.report.files import SCHEMA_NAME

    schema, version = doc.get("schema"), doc.get("schema_version")
    major = SCHEMA_VERSION.split(".")[0]
    if schema != SCHEMA_NAME or not (isinstance(version, str) and version.split(".")[0] == major):
        raise InvalidInputError(
            f"--results {p} has schema {schema!r} version {version!r}; afterfit check reads "
            f"{SCHEMA_NAME!r} version {major}.x.",
            fix="pass the results.json that afterfit run or evaluate wrote.",
        )
    return doc


def steps_needed(rules: Sequence[Rule]) -> tuple[str, ...]:
    """The ``afterfit run`` steps whose sections the rules read (evaluation always)."""
    wanted = {"evaluation"} | {RUN_STEP[r.step] for r in rules}
    from afterfit.report.steps import STEP_NAMES

    return tuple(s for s in STEP_NAMES if s in wanted)


def check(
    rules: Sequence[Rule],
    *,
    results: str | Path | dict[str, Any] | None = None,
    model: Any = None,
    test: Any = None,
    baseline: Any = None,
    alpha: float = 0.05,
    options: Any = None,
    pos_label: Any = None,
    valid: Any = None,
) -> GateResult:
    """Judge ``rules`` on ``results`` (a results.json path or document) or on ``model``
    and ``test`` (a :class:`~afterfit.data.Dataset`), with ``baseline`` for rules against
    a baseline.

    Examples
    --------
    >>> from afterfit.gate import check, parse_rule
    >>> rules = [parse_rule("roc_auc >= 0.8")]
    >>> check(rules, results="report/results.json").passed  # doctest: +SKIP
    """
    if not rules:
        raise InvalidInputError(
            "no rules to check.", fix="pass --rule 'roc_auc >= 0.85' or --rules gate.toml."
        )
    if not 0 < alpha < 0.5:
        raise InvalidInputError(f"alpha must lie in (0, 0.5); got {alpha}.", fix="pass 0.05.")
    needs_baseline = any(r.non_inferiority for r in rules)
    if needs_baseline and (baseline is None or model is None):
        raise InvalidInputError(
            "a rule against the baseline needs the candidate and the baseline models and "
            "the data (a paired test on the same rows).",
            fix="pass --model candidate.skops --baseline baseline.skops --data test.parquet "
            "--target y.",
        )
    comparison = None
    source: dict[str, Any] = {}
    if model is None:
        if results is None:
            raise InvalidInputError(
                "nothing to check: give an existing results.json or a model and data.",
                fix="pass --results report/results.json, or --model, --data and --target.",
            )
        doc = results if isinstance(results, dict) else read_results(results)
        source["results"] = str(results) if not isinstance(results, dict) else "document"
    else:
        from afterfit.report.run import RunOptions, run_report

        if test is None:
            raise InvalidInputError(
                "--model needs --data and --target.",
                fix="pass the test rows: --data test.parquet --target y.",
            )
        import dataclasses

        opts = options or RunOptions()
        opts = dataclasses.replace(opts, steps=steps_needed(rules), require_steps=True)
        report = run_report(model, test, options=opts, valid=valid, pos_label=pos_label)
        doc = report.doc
        if needs_baseline:
            comparison = _paired(model, baseline, test, rules, alpha, opts, pos_label)
    verdicts = check_document(rules, doc, comparison=comparison, alpha=alpha)
    return GateResult(tuple(verdicts), source)


def _paired(model: Any, baseline: Any, test: Any, rules: Sequence[Rule], alpha: float,
            opts: Any, pos_label: Any) -> Any:  # fmt: skip
    """The paired comparison candidate vs baseline on the same rows (afterfit.comparison:
    DeLong for ROC AUC, McNemar/paired bootstrap otherwise) at level ``1 - 2 alpha``."""
    from afterfit.comparison import compare_models
    from afterfit.models import as_model

    cand, base = as_model(model), as_model(baseline)
    if cand.task != base.task:
        raise InvalidInputError(
            f"the baseline is a {base.task} model, the candidate a {cand.task} one.",
            fix="compare with a baseline of the same task.",
        )
    cc, bc = getattr(cand, "classes_", None), getattr(base, "classes_", None)
    if cc is not None and bc is not None and [str(c) for c in cc] != [str(c) for c in bc]:
        raise InvalidInputError(
            f"the baseline has the classes {list(map(str, bc))}, the candidate "
            f"{list(map(str, cc))}; a paired test needs the same classes.",
            fix="compare with a baseline trained on the same classes.",
        )
    metrics = sorted({r.metric for r in rules if r.non_inferiority})
    return compare_models(
        {"baseline": base, "candidate": cand}, test.X, test.y, metrics=metrics,
        baseline="baseline", confidence=1 - 2 * alpha, n_resamples=max(opts.n_resamples, 200),
        random_state=opts.seed, pos_label=pos_label,
    )  # fmt: skip


def write_outputs(
    result: GateResult, *, junit: Path | None, markdown_path: Path | None
) -> list[Path]:
    """Write the JUnit XML and the Markdown summary (atomically)."""
    from afterfit.gate.outputs import junit_xml, markdown
    from afterfit.io import atomic_write_text

    written = []
    if junit is not None:
        written.append(atomic_write_text(junit, junit_xml(result.verdicts)))
    if markdown_path is not None:
        written.append(atomic_write_text(markdown_path, markdown(result.verdicts)))
    return written


def dumps(result: GateResult) -> str:
    return json.dumps(result.to_dict(), indent=1, allow_nan=False)
