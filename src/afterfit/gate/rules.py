"""Quality-gate rules: ``roc_auc >= 0.85``, ``calibration.ece_quantile <= 0.05 point``,
``candidate.roc_auc >= baseline.roc_auc - 0.01``.

A rule is ``[STEP.]METRIC OP BOUND [point]``:

- ``STEP`` is where the metric lives in ``results.json``: ``evaluation`` (the default),
  ``thresholds`` (the test metrics at the operating threshold, and ``threshold`` itself),
  ``calibration``, ``slices`` (every tested slice must hold: the worst one is judged) or
  ``fairness`` (the gaps across ``--sensitive`` groups);
- ``OP`` is ``>=``, ``>``, ``<=`` or ``<``;
- ``BOUND`` is a number, or ``baseline.METRIC [+|- margin]`` for non-inferiority against a
  baseline model (then the left side is the candidate: ``candidate.METRIC`` or ``METRIC``);
- a rule holds when the interval's *far* end meets the bound (the lower end for ``>=``,
  the upper end for ``<=``): the data must show the model is good enough, not merely fail
  to show it is bad. ``point`` judges the estimate instead.

Rules come from repeated ``--rule`` options or a TOML file::

    alpha = 0.05                       # non-inferiority tests (one-sided)
    rules = ["roc_auc >= 0.85", "calibration.ece_quantile <= 0.05 point"]

    [[rule]]                           # or one table per rule, with a name
    name = "no worse than production"
    rule = "candidate.roc_auc >= baseline.roc_auc - 0.01"
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from afterfit.errors import DataError, InvalidInputError

#: Where a rule's metric can live (the sections of results.json a rule may name).
STEPS = ("evaluation", "thresholds", "calibration", "slices", "fairness")
OPS = (">=", "<=", ">", "<")

_RULE = re.compile(
    r"^\s*(?P<lhs>[A-Za-z_][A-Za-z0-9_.]*)\s*(?P<op>>=|<=|>|<)\s*(?P<rhs>.+?)"
    r"(?:\s+(?P<point>point))?\s*$"
)
_BASELINE = re.compile(
    r"^baseline\.(?P<metric>[A-Za-z_][A-Za-z0-9_]*)\s*(?:(?P<sign>[+-])\s*(?P<margin>[0-9.eE+-]+))?$"
)


@dataclass(frozen=True)
class Rule:
    """One parsed rule.

    Attributes
    ----------
    text : str
        As written.
    step : str
        The section of results.json (``evaluation``, ``thresholds``, ...), or ``"baseline"``
        for a non-inferiority rule.
    metric : str
    op : str
    bound : float
        The number to meet; for non-inferiority, the signed margin (``-0.01`` in
        ``>= baseline.roc_auc - 0.01``).
    point : bool
        Judge the estimate rather than the interval's far end.
    name : str
    """

    text: str
    step: str
    metric: str
    op: str
    bound: float
    point: bool = False
    name: str = ""

    @property
    def higher(self) -> bool:
        """The metric must be high (``>=``/``>``)."""
        return self.op in (">=", ">")

    @property
    def non_inferiority(self) -> bool:
        return self.step == "baseline"

    def holds(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        return {
            ">=": value >= self.bound,
            ">": value > self.bound,
            "<=": value <= self.bound,
            "<": value < self.bound,
        }[self.op]


def _bad(text: str, problem: str, fix: str) -> InvalidInputError:
    return InvalidInputError(f"rule {text!r}: {problem}", fix=fix)


def parse_rule(text: str, *, name: str = "") -> Rule:
    """Parse one rule (see the module docstring); a malformed one is an
    :class:`~afterfit.errors.InvalidInputError` naming it."""
    m = _RULE.match(str(text))
    if m is None:
        raise _bad(
            text,
            "not of the form '[STEP.]METRIC OP BOUND [point]'.",
            "write e.g. 'roc_auc >= 0.85', 'calibration.ece_quantile <= 0.05 point' or "
            "'candidate.roc_auc >= baseline.roc_auc - 0.01'.",
        )
    lhs, op, rhs, point = m["lhs"], m["op"], m["rhs"].strip(), bool(m["point"])
    parts = lhs.split(".")
    if len(parts) > 2:
        raise _bad(text, f"{lhs!r} has more than one dot.", "write STEP.METRIC or METRIC.")
    step, metric = (parts[0], parts[1]) if len(parts) == 2 else ("evaluation", parts[0])
    base = _BASELINE.match(rhs)
    if base is not None:
        if step not in ("candidate", "evaluation") or (len(parts) == 2 and step != "candidate"):
            raise _bad(
                text,
                "a rule against baseline compares the candidate's metric with the baseline's.",
                "write 'candidate.METRIC >= baseline.METRIC - MARGIN'.",
            )
        if base["metric"] != metric:
            raise _bad(
                text,
                f"compares {metric!r} with the baseline's {base['metric']!r}.",
                "compare the same metric on both sides.",
            )
        margin = 0.0
        if base["margin"] is not None:
            try:
                margin = float(base["margin"]) * (-1 if base["sign"] == "-" else 1)
            except ValueError:
                margin = math.nan
            if not math.isfinite(margin):
                raise _bad(text, f"margin {base['margin']!r} is not a finite number.",
                           "write e.g. '- 0.01'.") from None  # fmt: skip
        return Rule(str(text), "baseline", metric, op, margin, point, name or str(text))
    if step == "candidate":
        raise _bad(
            text,
            "'candidate.' is for rules against a baseline; the bound is a number.",
            f"write '{metric} {op} {rhs}', or compare with 'baseline.{metric}'.",
        )
    if rhs.startswith("baseline"):
        raise _bad(text, f"cannot read {rhs!r}.", "write 'baseline.METRIC - MARGIN'.")
    try:
        bound = float(rhs)
    except ValueError:
        bound = math.nan
    if not math.isfinite(bound):  # "nan" and "1e999" parse as floats, but judge nothing
        raise _bad(
            text,
            f"the bound {rhs!r} is not a number (a finite one).",
            "write a number (0.85) or baseline.METRIC [- margin].",
        ) from None
    if step not in STEPS:
        raise _bad(
            text,
            f"unknown step {step!r}.",
            f"name one of {', '.join(STEPS)} (or no step: evaluation).",
        )
    return Rule(str(text), step, metric, op, bound, point, name or str(text))


def load_rules(path: str | Path) -> tuple[list[Rule], dict[str, Any]]:
    """Rules and settings (``alpha``) from a TOML file."""
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"--rules {p} does not exist.", fix="pass a TOML file of rules.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"--rules {p} is not valid TOML: {exc}.", fix="fix its syntax.") from None
    known = {"rules", "rule", "alpha"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InvalidInputError(
            f"--rules {p}: unknown key(s) {', '.join(map(repr, unknown))}.",
            fix="use 'rules = [\"roc_auc >= 0.85\"]', [[rule]] tables (rule, name, judge) "
            "and 'alpha'.",
        )
    listed, tables = raw.get("rules", []), raw.get("rule", [])
    if not isinstance(listed, list) or not all(isinstance(t, str) for t in listed):
        raise InvalidInputError(
            f"--rules {p}: 'rules' must be a list of strings; received {listed!r}.",
            fix='write rules = ["roc_auc >= 0.85", "brier <= 0.1"].',
        )
    if not isinstance(tables, list):
        raise InvalidInputError(
            f"--rules {p}: 'rule' must be [[rule]] tables; received {tables!r}.",
            fix='write [[rule]] tables with rule = "roc_auc >= 0.85".',
        )
    alpha = raw.get("alpha", 0.05)
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise InvalidInputError(
            f"--rules {p}: 'alpha' must be a number between 0 and 1; received {alpha!r}.",
            fix="write alpha = 0.05.",
        )
    rules = [parse_rule(t) for t in listed]
    for table in tables:
        if not isinstance(table, dict) or not isinstance(table.get("rule"), str):
            raise InvalidInputError(
                f"--rules {p}: a [[rule]] table has no 'rule' key.",
                fix='write rule = "roc_auc >= 0.85" in every [[rule]] table.',
            )
        rule = parse_rule(table["rule"], name=str(table.get("name", "")))
        judge = table.get("judge", "interval")
        if judge not in ("interval", "point"):
            raise InvalidInputError(
                f"--rules {p}: judge = {judge!r} in rule {table['rule']!r}.",
                fix="judge = 'interval' (the default) or 'point'.",
            )
        if judge == "point":
            rule = Rule(rule.text, rule.step, rule.metric, rule.op, rule.bound, True, rule.name)
        rules.append(rule)
    settings = {k: raw[k] for k in ("alpha",) if k in raw}
    return rules, settings


__all__ = ["OPS", "STEPS", "Rule", "load_rules", "parse_rule"]
