"""A quality gate for CI pipelines: rules judged on intervals, not point values.

>>> from afterfit.gate import check, parse_rule                    # doctest: +SKIP
>>> result = check([parse_rule("roc_auc >= 0.85")], results="report/results.json")
>>> result.passed, [v.evidence for v in result.verdicts]          # doctest: +SKIP

``afterfit check`` is the command (exit 1 when a rule fails, 0 when all hold, 2 on a rule
that cannot be judged). See :mod:`afterfit.gate.rules` for the rule language and
``docs/decisions.md`` for why the lower bound is judged.
"""

from afterfit.gate.api import GateResult, check, read_results, steps_needed, write_outputs
from afterfit.gate.judge import Verdict, check_document, judge
from afterfit.gate.outputs import junit_xml, markdown
from afterfit.gate.rules import Rule, load_rules, parse_rule

__all__ = [
    "GateResult",
    "Rule",
    "Verdict",
    "check",
    "check_document",
    "judge",
    "junit_xml",
    "load_rules",
    "markdown",
    "parse_rule",
    "read_results",
    "steps_needed",
    "write_outputs",
]
