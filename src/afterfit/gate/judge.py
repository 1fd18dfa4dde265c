"""Judging gate rules on a ``results.json`` document (and a paired comparison).

Each rule gets a :class:`Verdict`: the value judged (the interval's far end by default),
the estimate and interval, whether it holds, and the evidence in words. A rule that cannot
be judged (a metric the task lacks, a step the results do not have) is an
:class:`~afterfit.errors.InvalidInputError` naming the rule and the fix: a gate must not
pass because a rule was silently skipped.
"""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from afterfit.errors import InvalidInputError
from afterfit.gate.rules import Rule

#: Fairness gaps (``fairness.*``); the slices step computes them with ``--sensitive``.
FAIRNESS_METRICS = (
    "demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
    "equal_opportunity_difference", "predictive_parity_difference", "ece_difference",
)  # fmt: skip
#: Where each step's rows are in results.json, and the step ``afterfit run`` runs for it.
RUN_STEP = {
    "evaluation": "evaluation",
    "thresholds": "thresholds",
    "calibration": "calibration",
    "slices": "slices",
    "fairness": "slices",
    "baseline": "evaluation",
}


@dataclass(frozen=True)
class Verdict:
    """How one rule fared."""

    rule: Rule
    holds: bool
    judged: float  # the number compared with the bound
    value: float  # the estimate
    ci_low: float
    ci_high: float
    evidence: str

    def to_dict(self) -> dict[str, Any]:
        from afterfit.jsonsafe import number

        return {
            "rule": self.rule.text,
            "name": self.rule.name,
            "verdict": "pass" if self.holds else "fail",
            "judged_on": "estimate" if self.rule.point else "interval",
            "judged": number(self.judged),
            "value": number(self.value),
            "ci_low": number(self.ci_low),
            "ci_high": number(self.ci_high),
            "evidence": self.evidence,
        }


@functools.cache
def known_metrics() -> dict[str, frozenset[str]]:
    """Every metric name each step can report, for any task (from tiny evaluations, so the
    list never goes stale): tells "unknown metric" from "a metric this task lacks"."""
    import numpy as np

    from afterfit.calibration import evaluate_calibration
    from afterfit.evaluation import evaluate_predictions
    from afterfit.predictions import Predictions
    from afterfit.thresholds._operating import THRESHOLD_METRICS

    y2 = np.array([0, 1, 0, 1, 1, 0, 1, 0])
    s2 = np.array([0.1, 0.8, 0.3, 0.6, 0.9, 0.4, 0.7, 0.2])
    y3 = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2])
    s3 = np.tile(np.eye(3) * 0.7 + 0.1, (3, 1))
    yr = np.arange(8.0)
    evaluation: set[str] = set()
    for y, s, task in ((y2, s2, "binary"), (y3, s3, "multiclass"), (yr, yr + 0.5, "regression")):
        ev = evaluate_predictions(y, s, ci="none", task=task)
        evaluation |= {r.metric for r in ev.metrics.rows}
    calibration = {r.metric for r in evaluate_calibration(Predictions.from_arrays(y2, s2),
                                                         n_resamples=0).metrics.rows}  # fmt: skip
    calibration |= {r.metric for r in evaluate_calibration(Predictions.from_arrays(y3, s3),
                                                          n_resamples=0).metrics.rows}  # fmt: skip
    return {
        "evaluation": frozenset(evaluation),
        "thresholds": frozenset((*THRESHOLD_METRICS, "threshold")),
        "calibration": frozenset(calibration),
        "slices": frozenset(evaluation),
        "fairness": frozenset(FAIRNESS_METRICS),
        "baseline": frozenset(evaluation),
    }


def _overall(rows: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for r in rows if isinstance(rows, list) else []:
        if isinstance(r, dict) and r.get("class") is None and r.get("group") is None:
            out.setdefault(str(r.get("metric")), r)
    return out


def _num(v: Any) -> float:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else math.nan


def _fmt(v: float) -> str:
    return f"{v:.4g}".replace("-", "\u2212") if math.isfinite(v) else "—"


def _missing_metric(rule: Rule, available: Sequence[str], task: str | None) -> InvalidInputError:
    known = known_metrics().get(rule.step, frozenset())
    if rule.metric in known:
        return InvalidInputError(
            f"rule {rule.text!r}: the {task or 'given'} model's {rule.step} has no "
            f"{rule.metric!r}.",
            fix=f"use a metric this task has: {', '.join(sorted(available))}.",
        )
    close = difflib.get_close_matches(rule.metric, sorted(known), n=3)
    return InvalidInputError(
        f"rule {rule.text!r}: unknown metric {rule.metric!r} for step {rule.step!r}.",
        fix=(f"did you mean {' or '.join(close)}? " if close else "")
        + f"{rule.step} metrics: {', '.join(sorted(available or known))}.",
    )


def _no_step(rule: Rule, step: str) -> InvalidInputError:
    extra = " with --slice COL (and --sensitive COL for fairness)" if step == "slices" else ""
    return InvalidInputError(
        f"rule {rule.text!r}: the results have no {step!r} section.",
        fix=f"run the {step} step{extra} (afterfit run --steps ...,{step}), or give "
        "afterfit check --model and --data so that it runs what the rules need.",
    )


def _interval_verdict(rule: Rule, row: dict[str, Any], where: str = "") -> Verdict:
    value, lo, hi = _num(row.get("value")), _num(row.get("ci_low")), _num(row.get("ci_high"))
    if not math.isfinite(value):
        raise InvalidInputError(
            f"rule {rule.text!r}: {where}{rule.metric} has no value to judge "
            f"(the results give {row.get('value')!r}).",
            fix="judge a metric the results hold a number for, or rerun afterfit run.",
        )
    for end, name in ((lo, "ci_low"), (hi, "ci_high")):
        if row.get(name) is not None and not math.isfinite(end):
            raise InvalidInputError(
                f"rule {rule.text!r}: {where}{rule.metric}'s {name} is "
                f"{row.get(name)!r}, not a number.",
                fix="pass the results.json that afterfit wrote, unedited.",
            )
    slack = 1e-9 * max(1.0, abs(value))
    if math.isfinite(lo) and math.isfinite(hi) and not lo - slack <= value <= hi + slack:
        raise InvalidInputError(
            f"rule {rule.text!r}: {where}{rule.metric} {value:g} lies outside its own "
            f"interval [{lo:g}, {hi:g}]; the results are damaged.",
            fix="pass the results.json that afterfit wrote, unedited.",
        )
    far = lo if rule.higher else hi
    if rule.point:
        judged, how = value, "estimate"
    elif math.isfinite(far):
        judged, how = far, ("lower" if rule.higher else "upper") + " interval end"
    else:
        # No interval (0 resamples, or none with a reason): the estimate, said plainly.
        judged, how = value, "estimate (no interval available)"
    ci = f" [{_fmt(lo)}, {_fmt(hi)}]" if math.isfinite(lo) and math.isfinite(hi) else ""
    method = row.get("method")
    holds = rule.holds(judged)
    evidence = (
        f"{where}{rule.metric} {_fmt(value)}{ci}" + (f" ({method})" if method else "")
        + f"; judged on the {how}: {_fmt(judged)} {'meets' if holds else 'misses'} "
        f"{rule.op} {rule.bound:g}"
    )  # fmt: skip
    return Verdict(rule, holds, judged, value, lo, hi, evidence)


def judge(rule: Rule, doc: dict[str, Any], comparison: Any = None, alpha: float = 0.05) -> Verdict:
    """The verdict of ``rule`` on a ``results.json`` document (``comparison``: the paired
    comparison of candidate and baseline, for non-inferiority rules)."""
    task = (doc.get("report") or {}).get("task") or (doc.get("evaluation") or {}).get("task")
    if rule.non_inferiority:
        return _non_inferiority(rule, comparison, alpha, task)
    step = "slices" if rule.step == "fairness" else rule.step
    section = doc.get(step)
    if not isinstance(section, dict):
        raise _no_step(rule, step)
    if rule.step == "evaluation":
        rows = _overall(section.get("metrics"))
    elif rule.step == "calibration":
        rows = _overall(section.get("metrics"))
    elif rule.step == "thresholds":
        op = section.get("operating_point")
        if not isinstance(op, dict):
            raise InvalidInputError(
                f"rule {rule.text!r}: the thresholds section has no operating point (test "
                "metrics at the chosen threshold).",
                fix="rerun afterfit run with this version (binary models), or judge "
                "evaluation metrics.",
            )
        rows = _overall(op.get("metrics"))
        rows["threshold"] = {"value": op.get("threshold"), "method": "chosen threshold"}
    elif rule.step == "fairness":
        fairness = section.get("fairness")
        if not isinstance(fairness, dict):
            raise InvalidInputError(
                f"rule {rule.text!r}: the slices have no fairness metrics.",
                fix="run the slices step with --sensitive COL.",
            )
        rows = _overall(fairness.get("metrics"))
    else:
        return _worst_slice(rule, section, task)
    if rule.metric not in rows:
        raise _missing_metric(rule, list(rows), task)
    return _interval_verdict(rule, rows[rule.metric])


def _worst_slice(rule: Rule, section: dict[str, Any], task: str | None) -> Verdict:
    """``slices.METRIC``: every tested slice must hold; the one furthest from holding is
    judged (and named)."""
    rows = [
        r
        for r in section.get("metrics") or []
        if isinstance(r, dict) and r.get("metric") == rule.metric and r.get("class") is None
    ]
    if not rows:
        available = sorted({str(r.get("metric")) for r in section.get("metrics") or []})
        raise _missing_metric(rule, available, task)
    verdicts = [_interval_verdict(rule, r, where=f"slice {r.get('slice')}: ") for r in rows]
    finite = [v for v in verdicts if math.isfinite(v.judged)]
    if not finite:
        return verdicts[0]
    worst = (
        min(finite, key=lambda v: v.judged) if rule.higher else max(finite, key=lambda v: v.judged)
    )
    failing = sum(not v.holds for v in verdicts)
    tail = (
        f" ({failing} of {len(verdicts)} slices fail)"
        if failing
        else f" (all {len(verdicts)} slices hold)"
    )
    return Verdict(rule, failing == 0, worst.judged, worst.value, worst.ci_low, worst.ci_high,
                   worst.evidence + tail)  # fmt: skip


def _non_inferiority(rule: Rule, comparison: Any, alpha: float, task: str | None) -> Verdict:
    """``candidate.M >= baseline.M - margin``: the paired difference (candidate − baseline)
    must exceed ``-margin`` with one-sided level ``alpha`` (its ``1 - 2 alpha`` two-sided
    interval's lower end above it); ``point`` judges the estimated difference."""
    if comparison is None:
        raise InvalidInputError(
            f"rule {rule.text!r} compares with a baseline, and no baseline was given.",
            fix="pass --baseline baseline.skops (with --model and --data).",
        )
    rows = [r for r in comparison.to_dict()["comparisons"] if r["metric"] == rule.metric]
    if not rows:
        available = (
            [m for m in comparison.model_metrics] if hasattr(comparison, "model_metrics") else []
        )
        raise _missing_metric(rule, [str(a) for a in available], task)
    r = rows[0]
    sign = 1.0 if r["model_b"] == "candidate" else -1.0
    diff = sign * _num(r["difference"])
    lo, hi = sorted((sign * _num(r["ci_low"]), sign * _num(r["ci_high"])))
    far = lo if rule.higher else hi
    judged = diff if rule.point or not math.isfinite(far) else far
    test = r.get("test") or "paired test"
    level = 1 - 2 * alpha
    evidence = (
        f"candidate − baseline {rule.metric}: {_fmt(diff)} [{_fmt(lo)}, {_fmt(hi)}] "
        f"({test}, {level:.0%} two-sided = one-sided alpha {alpha:g}); candidate "
        f"{_fmt(_num(r['value_b' if sign > 0 else 'value_a']))}, baseline "
        f"{_fmt(_num(r['value_a' if sign > 0 else 'value_b']))}; judged on the "
        + ("estimate" if rule.point else ("lower" if rule.higher else "upper") + " end")
        + f": {_fmt(judged)} {rule.op} {rule.bound:+g}"
    )
    # Non-inferiority is shown, not assumed: the far end must clear the margin strictly.
    holds = judged > rule.bound if rule.higher else judged < rule.bound
    if rule.op in (">", "<") or rule.point:
        holds = rule.holds(judged)
    return Verdict(rule, bool(holds and math.isfinite(judged)), judged, diff, lo, hi, evidence)


def check_document(
    rules: Sequence[Rule], doc: dict[str, Any], *, comparison: Any = None, alpha: float = 0.05
) -> list[Verdict]:
    """Every rule's verdict; a rule that cannot be judged raises before any verdict."""
    return [judge(rule, doc, comparison, alpha) for rule in rules]


__all__ = ["FAIRNESS_METRICS", "Verdict", "check_document", "judge", "known_metrics"]
