"""The ``MODEL_CARD.md`` of a bundle: intended use, data, metrics with intervals, the
decision rule and caveats, in Markdown.

Metrics come from the report given to the bundle (its ``results.json``), else from
afterfit's :func:`~afterfit.evaluate` on evaluation data given to the bundle, else from
the training data, labelled optimistic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from afterfit.bundle.decision import Decision
from afterfit.bundle.schema import InputSchema

__all__ = ["metrics_from_evaluation", "metrics_from_results", "model_card"]

#: Metrics shown in the card (overall rows), in this order, when present.
CARD_METRICS = (
    "roc_auc", "average_precision", "log_loss", "brier", "accuracy", "balanced_accuracy",
    "f1", "precision", "recall", "specificity", "macro_f1", "macro_roc_auc",
    "rmse", "mae", "r2",
)  # fmt: skip


#: A report's results.json larger than this is not read for the model card (the cap of a
#: bundle's own JSON documents).
MAX_RESULTS_BYTES = 256 * 2**20


def metrics_from_results(path: str | Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Overall metric rows and facts from a report's ``results.json`` (empty if unreadable).

    The file is read with :func:`afterfit.jsonsafe.loads` (a size cap, strict UTF-8, no
    NaN constants, a depth limit), and only rows of the expected shape are kept (a metric
    name, numbers or nulls), so a damaged or hostile report cannot break the card.
    """
    from afterfit import jsonsafe
    from afterfit.errors import InvalidInputError

    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_RESULTS_BYTES + 1)
        doc = jsonsafe.loads(data, what=f"The file '{path}'", max_bytes=MAX_RESULTS_BYTES)
    except (OSError, InvalidInputError):
        return [], {}
    ev = doc.get("evaluation") if isinstance(doc, dict) else None
    if not isinstance(ev, dict) or not isinstance(ev.get("metrics"), list):
        return [], {}

    def number(v: Any) -> bool:
        return v is None or (isinstance(v, int | float) and not isinstance(v, bool))

    rows = [
        r
        for r in ev["metrics"]
        if isinstance(r, dict)
        and r.get("class") is None
        and isinstance(r.get("metric"), str)
        and all(number(r.get(k)) for k in ("value", "ci_low", "ci_high"))
        and isinstance(r.get("method"), str | None)
    ]
    facts_op: dict[str, Any] = {}
    th = doc.get("thresholds")
    op = th.get("operating_point") if isinstance(th, dict) else None
    if isinstance(op, dict) and isinstance(op.get("metrics"), list) and number(op.get("threshold")):
        # The report chose a threshold and judged it on the test rows: the card shows the
        # threshold metrics there, not at the default (issue 15).
        at = {
            r["metric"]: r
            for r in op["metrics"]
            if isinstance(r, dict)
            and isinstance(r.get("metric"), str)
            and all(number(r.get(k)) for k in ("value", "ci_low", "ci_high"))
        }
        rows = [at.get(r["metric"], r) for r in rows]
        facts_op = {
            "threshold": op["threshold"],
            "default_threshold": op.get("default_threshold")
            if number(op.get("default_threshold"))
            else None,
            "chosen_on": op.get("chosen_on") if isinstance(op.get("chosen_on"), str) else None,
            "threshold_metrics": sorted(at),
            "optimistic": op.get("optimistic") is True,
        }
    source = doc.get("source")
    data_name = source.get("data") if isinstance(source, dict) else None
    n_rows = ev.get("n_rows")
    facts = {
        "source": f"report ({Path(path).name})",
        "n_rows": n_rows if isinstance(n_rows, int) and not isinstance(n_rows, bool) else None,
        "data": data_name if isinstance(data_name, str) else None,
        **facts_op,
    }
    return rows, facts


def metrics_from_evaluation(evaluation: Any) -> list[dict[str, Any]]:
    """Overall metric rows of an :class:`~afterfit.evaluation.Evaluation`."""
    return [r for r in evaluation.metrics.to_dict() if r.get("class") is None]


def _num(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return f"{float(v):.4g}"


def _metric_table(rows: Sequence[Mapping[str, Any]]) -> str:
    order = {m: i for i, m in enumerate(CARD_METRICS)}
    rows = sorted(rows, key=lambda r: order.get(str(r.get("metric")), len(order)))
    lines = ["| metric | value | 95% interval | method |", "|---|---:|---|---|"]
    for r in rows:
        lo, hi = r.get("ci_low"), r.get("ci_high")
        ci = f"[{_num(lo)}, {_num(hi)}]" if lo is not None and hi is not None else "—"
        lines.append(
            f"| {r.get('metric')} | {_num(r.get('value'))} | {ci} | {r.get('method') or '—'} |"
        )
    return "\n".join(lines)


def _schema_table(schema: InputSchema) -> str:
    lines = ["| field | kind | nullable | training range / categories |", "|---|---|---|---|"]
    for f in schema.fields:
        if f.kind in ("number", "integer") and f.minimum is not None:
            info = f"[{_num(f.minimum)}, {_num(f.maximum)}]"
        elif f.kind == "category":
            cats = list(f.categories or ())
            info = ", ".join(str(c) for c in cats[:8]) + (
                f", … ({len(cats)})" if len(cats) > 8 else ""
            )
        else:
            info = ""
        info = info.replace("|", "\\|")
        lines.append(f"| {f.name} | {f.kind} | {'yes' if f.nullable else 'no'} | {info} |")
    return "\n".join(lines)


def model_card(
    *,
    name: str,
    version: str,
    created: str,
    task: str,
    model_type: str,
    model_file: str,
    model_format: str,
    export_note: str | None,
    schema: InputSchema,
    decision: Decision,
    n_train_rows: int,
    train_source: str | None,
    metrics: Sequence[Mapping[str, Any]],
    metrics_facts: Mapping[str, Any],
    intended_use: str | None = None,
    caveats: Sequence[str] = (),
) -> str:
    """The Markdown text of the model card."""
    out: list[str] = [f"# Model card: {name} {version}", ""]
    out += [
        f"- **Task:** {task}"
        + (f" ({', '.join(str(c) for c in decision.classes or ())})" if decision.classes else ""),
        f"- **Model:** {model_type}, stored as `{model_file}` ({model_format})",
        f"- **Built:** {created} with afterfit",
        "",
        "## Intended use",
        "",
        intended_use
        or (
            f"Scores records with the {len(schema.fields)} input fields listed below, one "
            f"record or a batch at a time, for the {task} task the model was trained on. It is "
            "meant for data from the same population and period as its training data; check "
            "the drift report (afterfit monitor) before trusting it on data that has moved."
        ),
        "",
        "## Data",
        "",
        f"Trained on {n_train_rows:,} rows"
        + (f" from `{train_source}`" if train_source else "")
        + f". Input fields ({len(schema.fields)}), learned from the training data:",
        "",
        _schema_table(schema),
        "",
        "Requests are validated against these fields: unknown or missing fields, wrong types, "
        "nulls in fields that had none in training and "
        + (
            "unseen categories are rejected"
            if schema.unseen == "error"
            else "(allowed) unseen categories are reported"
        )
        + "; numbers outside the training range are accepted and counted as drift.",
        "",
        "## Metrics",
        "",
    ]
    if metrics:
        src = metrics_facts.get("source", "evaluation")
        n = metrics_facts.get("n_rows")
        out += [
            f"From {src}" + (f", {int(n):,} rows" if isinstance(n, int | float) else "") + ".",
            "",
            _metric_table(metrics),
            "",
        ]
        t = metrics_facts.get("threshold")
        if t is not None:
            dflt = metrics_facts.get("default_threshold")
            names = ", ".join(metrics_facts.get("threshold_metrics") or ())
            out += [
                f"Threshold metrics ({names}) are at the operating threshold {t:.6g}, chosen "
                f"on the {metrics_facts.get('chosen_on') or '?'} rows and measured on the "
                "evaluation rows" + (f" (not at the default {dflt:g})." if dflt is not None
                                      else "."),
                "",
            ]  # fmt: skip
            if decision.threshold is not None and abs(decision.threshold - t) > 1e-12:
                out += [
                    f"**The bundle decides at {decision.threshold:.6g}, not at the report's "
                    f"threshold {t:.6g}**: its threshold metrics differ from these.",
                    "",
                ]
        if metrics_facts.get("optimistic") and t is not None:
            out += [
                "The threshold was chosen on the evaluation rows themselves, so its metrics "
                "are optimistic (the report gives a cross-fitted estimate).",
                "",
            ]
        elif metrics_facts.get("optimistic"):
            out += [
                "**These metrics are measured on the training data and are optimistic.** "
                "Build the bundle with a report (`--report`) or evaluation data for honest "
                "figures.",
                "",
            ]
    else:
        out += [
            "No evaluation was given to the bundle (no report, no labelled data). Run "
            "`afterfit run` on held-out data and rebuild with `--report`.",
            "",
        ]
    out += ["## Decision", ""]
    if task == "regression":
        out.append("The prediction is the model's value.")
    elif decision.threshold is not None:
        score = (
            "calibrated probability" if decision.calibrator
            else "probability" if decision.threshold_score == "probability"
            else "decision score"
        )  # fmt: skip
        out.append(
            f"Predict **{decision.positive_class}** when its {score} is greater than "
            f"**{decision.threshold:.6g}**, the other class otherwise."
        )
    else:
        out.append("Predict the class of highest probability (score).")
    if decision.calibrator:
        out.append(
            f"Probabilities are calibrated ({decision.calibrator['method']} map, fitted on "
            f"{decision.calibrator.get('n_calibration_rows', '?')} rows)."
        )
    out += [""]
    if export_note:
        out += ["## Export", "", export_note, ""]
    out += ["## Caveats", ""]
    items = list(caveats) or []
    items += [
        "Performance holds for data like the training data; monitor input and prediction "
        "drift against reference.json.",
        "Metric intervals describe sampling uncertainty of the evaluation data only.",
    ]
    out += [f"- {c}" for c in items]
    out.append("")
    return "\n".join(out)
