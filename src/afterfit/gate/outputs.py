"""The gate's reports: JUnit XML (a CI system's test view) and a Markdown summary (a CI
step summary, a pull-request comment)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from xml.sax.saxutils import quoteattr

from afterfit.gate.judge import Verdict


def _fmt(v: float) -> str:
    return f"{v:.4g}".replace("-", "\u2212") if math.isfinite(v) else "—"


def interval(v: Verdict) -> str:
    if math.isfinite(v.ci_low) and math.isfinite(v.ci_high):
        return f"[{_fmt(v.ci_low)}, {_fmt(v.ci_high)}]"
    return "—"


def junit_xml(verdicts: Sequence[Verdict], *, suite: str = "afterfit check") -> str:
    """One ``testcase`` per rule; a failing rule carries a ``failure`` with the evidence."""
    failures = sum(not v.holds for v in verdicts)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuites name={quoteattr(suite)} tests="{len(verdicts)}" failures="{failures}">',
        f'  <testsuite name={quoteattr(suite)} tests="{len(verdicts)}" '
        f'failures="{failures}" errors="0" skipped="0">',
    ]
    for v in verdicts:
        case = f'    <testcase classname="afterfit.check" name={quoteattr(v.rule.name)}'
        if v.holds:
            lines.append(case + ">")
            lines.append(f"      <system-out>{_escape(v.evidence)}</system-out>")
            lines.append("    </testcase>")
        else:
            lines.append(case + ">")
            lines.append(
                f"      <failure message={quoteattr('rule fails: ' + v.rule.text)} "
                f'type="QualityGate">{_escape(v.evidence)}</failure>'
            )
            lines.append("    </testcase>")
    lines += ["  </testsuite>", "</testsuites>", ""]
    return "\n".join(lines)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def outcome(failed: int, total: int) -> str:
    """ "All 3 rules hold.", "The rule holds.", "1 of 2 rules fails."..."""
    if total == 1:
        return "The rule fails." if failed else "The rule holds."
    if not failed:
        return f"All {total} rules hold."
    return f"{failed} of {total} rules {'fails' if failed == 1 else 'fail'}."


def markdown(verdicts: Sequence[Verdict], *, title: str = "afterfit quality gate") -> str:
    """A Markdown table: rule, value, interval, verdict, evidence; the outcome first."""
    failed = [v for v in verdicts if not v.holds]
    head = f"**{outcome(len(failed), len(verdicts))}**"
    lines = [f"## {title}", "", head, "", "| rule | value | interval | verdict | evidence |",
             "|---|---:|---|---|---|"]  # fmt: skip
    for v in verdicts:
        cells = [
            f"`{v.rule.text}`", _fmt(v.value), interval(v),
            "✅ pass" if v.holds else "❌ fail", v.evidence,
        ]  # fmt: skip
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += [
        "",
        "Rules are judged on the interval's far end (lower for >=, upper for <=) unless "
        "marked `point`; rules against a baseline use the paired test's one-sided interval.",
        "",
    ]
    return "\n".join(lines)


__all__ = ["interval", "junit_xml", "markdown", "outcome"]
