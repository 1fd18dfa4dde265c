"""The exact search: objectives evaluated at every distinct score, from the cumulative counts.

Scores are sorted once (descending) by :class:`~afterfit.metrics.kernel.RankedScores`; the
cumulative weight of positives (``tp``) and of all rows at each tie-group end gives the
confusion counts of every threshold that can matter. With ``d`` distinct scores there are
``d + 1`` *candidates*, indexed ``j = 0..d``: candidate ``j`` predicts the ``j`` highest
tie groups positive (``j = 0``: nothing; ``j = d``: everything).

Threshold convention
--------------------
A row is predicted positive iff ``score > threshold`` (strict). Candidate ``j`` gets the
threshold

- ``j = 0``: the highest score (no row is above it);
- ``0 < j < d``: the midpoint between the lowest score predicted positive, ``s[j-1]``, and
  the highest score predicted negative, ``s[j]`` (where the two are adjacent floats and the
  midpoint rounds up onto ``s[j-1]``, the lower score ``s[j]`` itself, which gives the
  same counts);
- ``j = d``: the largest float below the lowest score.

So ``score > threshold`` reproduces the candidate's counts exactly on the data it was chosen
on, and new scores that fall between two observed ones are split halfway.

Ties in the objective
---------------------
Among candidates whose objective is within ``TIE_RTOL`` (relative) of the best, the one
with the *highest threshold* (the fewest rows predicted positive) is chosen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from afterfit.errors import InvalidInputError
from afterfit.metrics.binary import fbeta_name
from afterfit.metrics.kernel import GroupCounts

#: Objective values within this relative distance of the best count as tied.
TIE_RTOL = 1e-12
#: Slack on the precision / recall / budget constraints, absorbing float rounding only.
CONSTRAINT_TOL = 1e-12

#: Canonical objective names, in the order the documentation lists them.
OBJECTIVES = (
    "f1",
    "fbeta",
    "youden",
    "balanced_accuracy",
    "cost",
    "recall_at_precision",
    "precision_at_recall",
    "positive_rate",
    "top_k",
)
_ALIASES = {
    "f1": "f1",
    "fbeta": "fbeta",
    "f_beta": "fbeta",
    "youden": "youden",
    "youden_j": "youden",
    "j": "youden",
    "balanced_accuracy": "balanced_accuracy",
    "cost": "cost",
    "expected_cost": "cost",
    "min_cost": "cost",
    "recall_at_precision": "recall_at_precision",
    "precision_at": "recall_at_precision",
    "precision_at_recall": "precision_at_recall",
    "recall_at": "precision_at_recall",
    "positive_rate": "positive_rate",
    "top_k": "top_k",
}


@dataclass(frozen=True)
class Costs:
    """A binary cost (or gain) matrix, per row.

    ``expected cost = (fp_cost * FP + fn_cost * FN - tp_gain * TP - tn_gain * TN) / total``
    (weighted counts). Costs must be non-negative; a reward for a correct decision is a
    gain. A negative gain is a cost of a correct decision (say, of treating a true positive).
    """

    fp_cost: float = 1.0
    fn_cost: float = 1.0
    tp_gain: float = 0.0
    tn_gain: float = 0.0

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Objective:
    """A checked objective and its parameters.

    Build it with :func:`make_objective`; ``name`` is canonical (one of
    :data:`OBJECTIVES`).
    """

    name: str
    beta: float = 1.0
    costs: Costs = field(default_factory=Costs)
    min_precision: float | None = None
    min_recall: float | None = None
    positive_rate: float | None = None
    top_k: float | None = None

    @property
    def fbeta_column(self) -> str:
        """Name of the F-beta metric: ``f1``, ``f2``, ``f0_5``..."""
        return fbeta_name(self.beta)

    @property
    def metric(self) -> str:
        """The metric the objective maximises (or, for ``cost``, minimises)."""
        return {
            "f1": self.fbeta_column,
            "fbeta": self.fbeta_column,
            "youden": "youden",
            "balanced_accuracy": "balanced_accuracy",
            "cost": "expected_cost",
            "recall_at_precision": "recall",
            "precision_at_recall": "precision",
            "positive_rate": "positive_rate",
            "top_k": "predicted_positive",
        }[self.name]

    @property
    def minimise(self) -> bool:
        return self.name == "cost"

    def describe(self) -> str:
        """The objective in words, for tables and messages."""
        if self.name in ("f1", "fbeta"):
            return f"max F{self.beta:g}"
        if self.name == "youden":
            return "max Youden's J"
        if self.name == "balanced_accuracy":
            return "max balanced accuracy"
        if self.name == "cost":
            c = self.costs
            text = f"min expected cost (FP {c.fp_cost:g}, FN {c.fn_cost:g}"
            if c.tp_gain:
                text += f", TP gain {c.tp_gain:g}"
            if c.tn_gain:
                text += f", TN gain {c.tn_gain:g}"
            return text + ")"
        if self.name == "recall_at_precision":
            return f"max recall with precision >= {self.min_precision:g}"
        if self.name == "precision_at_recall":
            return f"max precision with recall >= {self.min_recall:g}"
        if self.name == "positive_rate":
            return f"positive rate <= {self.positive_rate:g}"
        return f"top {self.top_k:g} rows"

    def params(self) -> dict[str, Any]:
        """The parameters that define the objective (JSON-safe)."""
        out: dict[str, Any] = {"beta": self.beta, "costs": self.costs.to_dict()}
        for name in ("min_precision", "min_recall", "positive_rate", "top_k"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def scores(self, tp: np.ndarray, fp: np.ndarray, P: np.ndarray, N: np.ndarray) -> np.ndarray:
        """What the search maximises at each candidate: ``-inf`` where a constraint fails,
        NaN where the objective is undefined. ``P``/``N`` broadcast against ``tp``/``fp``."""
        name = self.name
        if name in ("f1", "fbeta"):
            return fbeta(tp, fp, P, self.beta)
        if name == "youden":
            return youden(tp, fp, P, N)
        if name == "balanced_accuracy":
            return 0.5 * (youden(tp, fp, P, N) + 1.0)
        if name == "cost":
            return -expected_cost(tp, fp, P, N, self.costs)
        if name == "recall_at_precision":
            ok = precision(tp, fp) >= self.min_precision - CONSTRAINT_TOL
            return np.where(ok, recall(tp, P), -np.inf)
        if name == "precision_at_recall":
            ok = recall(tp, P) >= self.min_recall - CONSTRAINT_TOL
            return np.where(ok, precision(tp, fp), -np.inf)
        flagged = tp + fp
        if name == "positive_rate":
            rate = _ratio(flagged, P + N)
            return np.where(rate <= self.positive_rate + CONSTRAINT_TOL, rate, -np.inf)
        # top_k: the weight of rows flagged (their number, without sample weights).
        limit = self.top_k * (1 + CONSTRAINT_TOL)
        return np.where(flagged <= limit, flagged, -np.inf)

    def natural(self, scores: np.ndarray) -> np.ndarray:
        """Search scores back to the objective's own sign (the expected cost, not minus it)."""
        return -scores if self.minimise else scores


def canonical_objective(objective: str) -> str:
    key = str(objective).strip().lower().replace("-", "_").replace(" ", "_")
    if key not in _ALIASES:
        raise InvalidInputError(
            f"objective must be one of {', '.join(OBJECTIVES)}; got {objective!r}.",
            fix="pass objective='f1' (max F1), 'cost' with fp_cost and fn_cost, "
            "'recall_at_precision' with min_precision, ...",
        )
    return _ALIASES[key]


def _finite(name: str, value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{name} must be a number; got {value!r}.", fix=f"pass a number as {name}."
        ) from None
    if not math.isfinite(out):
        raise InvalidInputError(
            f"{name} must be finite; got {value!r}.", fix=f"pass a finite {name}."
        )
    return out


def make_costs(
    fp_cost: float | None,
    fn_cost: float | None,
    tp_gain: float | None,
    tn_gain: float | None,
    *,
    required: bool,
) -> Costs:
    """Check a cost specification; defaults (1, 1, 0, 0) count errors."""
    if required and (fp_cost is None or fn_cost is None):
        missing = " and ".join(
            n for n, v in (("fp_cost", fp_cost), ("fn_cost", fn_cost)) if v is None
        )
        raise InvalidInputError(
            f"objective 'cost' needs both fp_cost and fn_cost; {missing} is missing.",
            fix="pass the cost of a false positive and of a false negative, for example "
            "fp_cost=1, fn_cost=5 (CLI: --fp-cost 1 --fn-cost 5).",
        )
    values = {
        "fp_cost": 1.0 if fp_cost is None else _finite("fp_cost", fp_cost),
        "fn_cost": 1.0 if fn_cost is None else _finite("fn_cost", fn_cost),
        "tp_gain": 0.0 if tp_gain is None else _finite("tp_gain", tp_gain),
        "tn_gain": 0.0 if tn_gain is None else _finite("tn_gain", tn_gain),
    }
    for name in ("fp_cost", "fn_cost"):
        if values[name] < 0:
            raise InvalidInputError(
                f"{name} is negative ({values[name]:g}); costs must be >= 0.",
                fix="give the cost of an error as a non-negative number; to reward a correct "
                "decision, pass it as a gain (tp_gain / tn_gain, CLI --tp-gain / --tn-gain).",
            )
    if not any(values.values()):
        raise InvalidInputError(
            "every cost and gain is zero, so every threshold is equally good.",
            fix="pass the cost of a false positive and of a false negative, e.g. "
            "fp_cost=1, fn_cost=5.",
        )
    return Costs(**values)


def make_objective(
    objective: str,
    *,
    beta: float | None = None,
    fp_cost: float | None = None,
    fn_cost: float | None = None,
    tp_gain: float | None = None,
    tn_gain: float | None = None,
    min_precision: float | None = None,
    min_recall: float | None = None,
    positive_rate: float | None = None,
    top_k: float | None = None,
) -> Objective:
    """Check an objective and its parameters; every problem is an :class:`InvalidInputError`.

    ``beta`` (the F-beta column) and the costs (the expected-cost column) may be given with
    any objective; ``min_precision``, ``min_recall``, ``positive_rate`` and ``top_k`` only
    with the objective that uses them.
    """
    name = canonical_objective(objective)
    if name == "fbeta" and beta is None:
        raise InvalidInputError(
            "objective 'fbeta' needs beta (the weight of recall against precision).",
            fix="pass beta=2 (recall twice as important), or objective='f1'.",
        )
    b = 1.0 if beta is None else _finite("beta", beta)
    if b <= 0:
        raise InvalidInputError(f"beta must be positive; got {beta!r}.", fix="pass beta=2, say.")
    if name == "f1" and b != 1.0:
        raise InvalidInputError(
            f"objective 'f1' has beta 1; got beta={beta!r}.",
            fix=f"pass objective='fbeta' with beta={beta!r}, or leave beta out.",
        )
    costs = make_costs(fp_cost, fn_cost, tp_gain, tn_gain, required=name == "cost")
    needs = {
        "min_precision": ("recall_at_precision", min_precision),
        "min_recall": ("precision_at_recall", min_recall),
        "positive_rate": ("positive_rate", positive_rate),
        "top_k": ("top_k", top_k),
    }
    for param, (owner, value) in needs.items():
        if value is not None and name != owner:
            raise InvalidInputError(
                f"{param} is only used by objective {owner!r}; the objective is {name!r}.",
                fix=f"pass objective={owner!r}, or leave {param} out.",
            )
        if value is None and name == owner:
            example = {"min_precision": 0.9, "min_recall": 0.8, "positive_rate": 0.1,
                       "top_k": 100}[param]  # fmt: skip
            raise InvalidInputError(
                f"objective {owner!r} needs {param}.",
                fix=f"pass {param}={example} (CLI --{param.replace('_', '-')} {example}).",
            )
    kwargs: dict[str, Any] = {}
    if name == "recall_at_precision":
        kwargs["min_precision"] = _unit("min_precision", min_precision, "precision")
    elif name == "precision_at_recall":
        kwargs["min_recall"] = _unit("min_recall", min_recall, "recall")
    elif name == "positive_rate":
        rate = _finite("positive_rate", positive_rate)
        if not 0 <= rate <= 1:
            raise InvalidInputError(
                f"positive_rate must be between 0 and 1; got {positive_rate!r}.",
                fix="pass the share of rows to flag, e.g. positive_rate=0.1 for 10%.",
            )
        kwargs["positive_rate"] = rate
    elif name == "top_k":
        k = _finite("top_k", top_k)
        if k < 0 or k != int(k):
            raise InvalidInputError(
                f"top_k must be a whole number >= 0; got {top_k!r}.",
                fix="pass the number of rows to flag, e.g. top_k=100.",
            )
        kwargs["top_k"] = float(k)
    return Objective(name, b, costs, **kwargs)


def _unit(name: str, value: Any, what: str) -> float:
    v = _finite(name, value)
    if not 0 < v <= 1:
        raise InvalidInputError(
            f"{name} must be in (0, 1]; got {value!r}. The best reachable {what} is at most 1.",
            fix=f"pass a {what} target such as {name}=0.9.",
        )
    return v


# --- metrics of counts (any broadcastable shapes) -------------------------------------


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den``, NaN where ``den <= 0``."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast_shapes(num.shape, den.shape), np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def precision(tp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """NaN where nothing is predicted positive (scikit-learn's ``zero_division=np.nan``)."""
    return _ratio(tp, tp + fp)


def recall(tp: np.ndarray, P: np.ndarray) -> np.ndarray:
    return _ratio(tp, P + np.zeros_like(tp))


def specificity(fp: np.ndarray, N: np.ndarray) -> np.ndarray:
    return _ratio(N - fp, N + np.zeros_like(fp))


def fbeta(tp: np.ndarray, fp: np.ndarray, P: np.ndarray, beta: float) -> np.ndarray:
    """F-beta from counts: ``(1 + b^2) TP / (b^2 P + TP + FP)``, as scikit-learn."""
    b2 = beta * beta
    return _ratio((1 + b2) * tp, b2 * P + tp + fp)


def youden(tp: np.ndarray, fp: np.ndarray, P: np.ndarray, N: np.ndarray) -> np.ndarray:
    return recall(tp, P) + specificity(fp, N) - 1.0


def expected_cost(
    tp: np.ndarray, fp: np.ndarray, P: np.ndarray, N: np.ndarray, costs: Costs
) -> np.ndarray:
    """Mean cost per unit of weight; gains count negative."""
    fn = P - tp
    tn = N - fp
    total = costs.fp_cost * fp + costs.fn_cost * fn - costs.tp_gain * tp - costs.tn_gain * tn
    return _ratio(total, P + N + np.zeros_like(tp))


def all_metrics(
    tp: np.ndarray, fp: np.ndarray, P: np.ndarray, N: np.ndarray, objective: Objective
) -> dict[str, np.ndarray]:
    """Every threshold metric at the given counts, in display order."""
    T = P + N + np.zeros_like(tp)
    return {
        "precision": precision(tp, fp),
        "recall": recall(tp, P),
        "specificity": specificity(fp, N),
        objective.fbeta_column: fbeta(tp, fp, P, objective.beta),
        "balanced_accuracy": 0.5 * (youden(tp, fp, P, N) + 1.0),
        "youden": youden(tp, fp, P, N),
        "accuracy": _ratio(tp + (N - fp), T),
        "expected_cost": expected_cost(tp, fp, P, N, objective.costs),
        "positive_rate": _ratio(tp + fp, T),
        "predicted_positive": tp + fp,
    }


# --- candidates and the search ----------------------------------------------------------


def candidates(counts: GroupCounts) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``tp``, ``fp`` of the ``d + 1`` candidates (``(B, d + 1)``), and ``P``, ``N`` as
    ``(B, 1)`` columns."""
    B = counts.pos.shape[0]
    tp = np.empty((B, counts.pos.shape[1] + 1))
    tp[:, 0] = 0.0
    tp[:, 1:] = counts.pos
    fp = np.empty_like(tp)
    fp[:, 0] = 0.0
    np.subtract(counts.total, counts.pos, out=fp[:, 1:])
    return tp, fp, tp[:, -1:].copy(), fp[:, -1:].copy()


def pick(scores: np.ndarray) -> np.ndarray:
    """Index of the best candidate in each row (highest threshold among ties), -1 where no
    candidate is valid (all NaN or ``-inf``)."""
    s = np.where(np.isnan(scores), -np.inf, scores)
    best = s.max(axis=1)
    valid = np.isfinite(best)
    slack = TIE_RTOL * np.maximum(1.0, np.abs(np.where(valid, best, 0.0)))
    index = np.argmax(s >= (best - slack)[:, None], axis=1)
    return np.where(valid, index, -1)


def candidate_thresholds(distinct: np.ndarray) -> np.ndarray:
    """The threshold of each of the ``d + 1`` candidates, from the distinct scores in
    descending order (see the module docstring for the convention)."""
    d = distinct.size
    out = np.empty(d + 1)
    out[0] = distinct[0]
    hi, lo = distinct[:-1], distinct[1:]
    with np.errstate(over="ignore", invalid="ignore"):
        mid = lo + (hi - lo) / 2
        mid = np.where(np.isfinite(mid), mid, lo / 2 + hi / 2)
    ok = (mid >= lo) & (mid < hi)
    out[1:d] = np.where(ok, mid, lo)
    out[d] = np.nextafter(distinct[-1], -np.inf)
    return out
