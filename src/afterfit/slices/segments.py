"""Weak segments that survive confirmation: searched on one half, confirmed on the other.

Searching many segments for the highest loss always finds one that looks bad: the search
itself is the multiple-testing problem. (The loss is :func:`row_loss`: for class
probabilities the log loss *above what the model itself expects*, so rows that are merely
hard, near the decision boundary, do not make a segment weak.) So the rows are split in two
at random. On the *search* half, a beam over conditions (``column = level``, ``column <= cut``,
``column > cut``, and pairs of them on two columns) ranks segments by the Welch statistic of
their mean per-row loss against the other rows, and keeps a few candidates. On the
*confirmation* half, which the search never saw, each candidate is tested once (one-sided
Welch test: its loss is higher) and the p-values are Holm-adjusted over the candidates.
A segment is reported as *confirmed* only when its adjusted p-value is below
``1 - confidence``; its gap and interval are those of the confirmation half, so they are
not inflated by the selection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from afterfit.errors import InvalidInputError
from afterfit.jsonsafe import number
from afterfit.predictions import Predictions
from afterfit.slices.stats import holm, welch

#: Cut points of a numeric column: its quintiles on the search half.
CUT_QUANTILES = (0.2, 0.4, 0.6, 0.8)
#: Single conditions kept in the beam before pairs are formed.
BEAM_WIDTH = 10
#: Candidates sharing more than this share of their rows (Jaccard) count as one.
MAX_OVERLAP = 0.5
#: Most rows the search and confirmation use (a seeded sample above it).
MAX_ROWS = 200_000


@dataclass(frozen=True)
class Condition:
    column: str
    op: str  # "=", "<=", ">"
    value: Any

    @property
    def text(self) -> str:
        v = f"{self.value:.4g}" if isinstance(self.value, float) else str(self.value)
        return f"{self.column} {self.op} {v}"


@dataclass(frozen=True)
class Segment:
    """A candidate segment, with its gap measured on the confirmation half."""

    conditions: tuple[Condition, ...]
    n_search: int
    search_gap: float
    n: int
    loss: float
    rest_loss: float
    gap: float
    ci_low: float
    ci_high: float
    p_value: float
    p_holm: float
    confirmed: bool

    @property
    def rule(self) -> str:
        return " and ".join(c.text for c in self.conditions)


@dataclass(frozen=True)
class SegmentResult:
    """Candidates from the search half and which of them the confirmation half confirmed."""

    loss_name: str
    candidates: tuple[Segment, ...]
    confidence: float
    n_search: int
    n_confirm: int
    notes: tuple[str, ...] = ()

    @property
    def confirmed(self) -> tuple[Segment, ...]:
        return tuple(s for s in self.candidates if s.confirmed)

    def frame(self) -> pd.DataFrame:
        """One row per candidate: ``rule, n, loss, rest_loss, gap, ci_low, ci_high,
        p_value, p_holm, confirmed`` (on the confirmation half), ``n_search, search_gap``."""
        cols = ["rule", "n", "loss", "rest_loss", "gap", "ci_low", "ci_high", "p_value",
                "p_holm", "confirmed", "n_search", "search_gap"]  # fmt: skip
        return pd.DataFrame(
            [[s.rule if c == "rule" else getattr(s, c) for c in cols] for s in self.candidates],
            columns=cols,
        )

    def findings(self) -> list[str]:
        conf = self.confidence
        return [
            f"Weak segment {s.rule} (n={s.n:,} confirmation rows): mean {self.loss_name} "
            f"{s.loss:.4g} vs {s.rest_loss:.4g} elsewhere, gap {s.gap:.3g} ({conf:.0%} CI "
            f"[{s.ci_low:.3g}, {s.ci_high:.3g}], Holm-adjusted p={s.p_holm:.2g})."
            for s in self.confirmed
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "loss": self.loss_name,
            "confidence": self.confidence,
            "n_search": self.n_search,
            "n_confirm": self.n_confirm,
            "notes": list(self.notes),
            "candidates": [
                {
                    "rule": s.rule,
                    "conditions": [
                        {"column": c.column, "op": c.op, "value": _value(c.value)}
                        for c in s.conditions
                    ],
                    "n_search": s.n_search,
                    "search_gap": number(s.search_gap),
                    "n": s.n,
                    "loss": number(s.loss),
                    "rest_loss": number(s.rest_loss),
                    "gap": number(s.gap),
                    "ci_low": number(s.ci_low),
                    "ci_high": number(s.ci_high),
                    "p_value": number(s.p_value),
                    "p_holm": number(s.p_holm),
                    "confirmed": s.confirmed,
                }
                for s in self.candidates
            ],
        }


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 1.0


def _value(v: Any) -> Any:
    if isinstance(v, float):
        return number(v)
    if isinstance(v, np.generic):
        return v.item()
    return v if isinstance(v, int | str | bool) else str(v)


def row_loss(preds: Predictions) -> tuple[np.ndarray, str]:
    """Each row's loss and its name.

    With class probabilities: the *excess* log loss, the row's log loss less the loss the
    model itself expects there (the entropy of its predicted distribution). A calibrated
    model's excess loss averages zero on every segment, however hard its rows are, so a
    segment with a positive mean is one where the model is worse than it claims (label
    noise, a shifted subgroup, a missed interaction), not merely one near the boundary.
    Without probabilities: the 0/1 error; regression: the absolute error.
    """
    if preds.task == "regression":
        return np.abs(preds.y_true - preds.scores), "absolute error"
    if not preds.scores_are_probabilities:
        return (preds.y_pred != preds.y_true).astype(float), "error rate"
    eps = np.finfo(np.float64).eps
    if preds.task == "binary":
        p = np.clip(preds.scores, eps, 1 - eps)
        loss = -np.where(preds.y_true == 1, np.log(p), np.log1p(-p))
        expected = -(p * np.log(p) + (1 - p) * np.log1p(-p))
    else:
        proba = np.clip(preds.scores, eps, 1)
        loss = -np.log(proba[np.arange(preds.n), preds.y_true])
        expected = -(proba * np.log(proba)).sum(axis=1)
    return loss - expected, "excess log loss"


def _conditions(
    frame: pd.DataFrame, columns: Sequence[str], search: np.ndarray, max_levels: int
) -> tuple[list[Condition], np.ndarray]:
    """Every single condition and its row mask ``(n, C)``; cuts come from the search rows."""
    conds: list[Condition] = []
    masks: list[np.ndarray] = []
    for col in columns:
        s = frame[col]
        numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        values = s.to_numpy()
        if numeric and s.iloc[search].nunique() > max_levels // 2:
            x = values.astype(float)
            finite = x[search][np.isfinite(x[search])]
            if finite.size == 0:
                continue
            for cut in np.unique(np.quantile(finite, CUT_QUANTILES)):
                for op, mask in (("<=", x <= cut), (">", x > cut)):
                    conds.append(Condition(col, op, float(cut)))
                    masks.append(mask)
            continue
        levels = pd.unique(s.iloc[search].dropna())
        if len(levels) > max_levels or len(levels) < 2:
            continue
        for level in levels:
            conds.append(Condition(col, "=", level))
            masks.append((values == level) & s.notna().to_numpy())
    if not masks:
        return conds, np.zeros((len(frame), 0), dtype=bool)
    return conds, np.column_stack(masks)


def _z(loss: np.ndarray, masks: np.ndarray, min_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Welch statistic and gap of mean loss inside each mask column against outside."""
    m = masks.astype(float)
    n_in = m.sum(axis=0)
    n = loss.size
    n_out = n - n_in
    s1, s2 = loss @ m, (loss**2) @ m
    t1, t2 = loss.sum(), (loss**2).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_in, mean_out = s1 / n_in, (t1 - s1) / n_out
        var_in = (s2 - n_in * mean_in**2) / (n_in - 1)
        var_out = (t2 - s2 - n_out * mean_out**2) / (n_out - 1)
        gap = mean_in - mean_out
        z = gap / np.sqrt(var_in / n_in + var_out / n_out)
    z[(n_in < min_size) | (n_out < min_size) | ~np.isfinite(z)] = -np.inf
    return z, gap


def weak_segments(
    frame: pd.DataFrame,
    loss: np.ndarray,
    *,
    loss_name: str = "loss",
    columns: Sequence[str] | None = None,
    max_conditions: int = 2,
    n_candidates: int = 5,
    min_size: int = 30,
    max_levels: int = 20,
    confidence: float = 0.95,
    random_state: int | np.random.SeedSequence | None = None,
) -> SegmentResult:
    """Segments of 1 or 2 conditions where the per-row loss is highest, confirmed on
    held-out rows (see the module docstring).

    Parameters
    ----------
    frame : pandas.DataFrame
        The columns conditions are drawn from (rows aligned with ``loss``).
    loss : ndarray
        Per-row loss (:func:`row_loss`).
    columns : sequence of str, optional
        Columns to search (default: every column of ``frame``).
    max_conditions : {1, 2}
    n_candidates : int
        Candidates carried to the confirmation half (the Holm family).
    min_size : int
        Fewest rows of a segment, on each half.
    """
    if max_conditions not in (1, 2):
        raise InvalidInputError(
            f"max_conditions must be 1 or 2; got {max_conditions}.", fix="pass max_conditions=2."
        )
    loss = np.asarray(loss, dtype=float)
    columns = [str(c) for c in frame.columns] if columns is None else list(columns)
    rng = np.random.default_rng(random_state)
    n = loss.size
    notes: list[str] = []
    rows = np.arange(n)
    if n > MAX_ROWS:
        rows = np.sort(rng.choice(n, MAX_ROWS, replace=False))
        notes.append(f"searched and confirmed on a seeded sample of {MAX_ROWS:,} of {n:,} rows.")
    half = rng.permutation(rows.size) < rows.size // 2
    search, confirm = rows[half], rows[~half]
    conds, masks = _conditions(frame, columns, search, max_levels)
    if not conds:
        return SegmentResult(loss_name, (), confidence, search.size, confirm.size,
                             ("no column gives conditions to search.",))  # fmt: skip
    ms = masks[search]
    z1, gap1 = _z(loss[search], ms, min_size)
    found: dict[tuple[int, ...], tuple[float, float, int]] = {}
    for c in np.flatnonzero(np.isfinite(z1)):
        found[(int(c),)] = (float(z1[c]), float(gap1[c]), int(ms[:, c].sum()))
    if max_conditions == 2 and len(found):
        beam = [c for c in np.argsort(-z1)[:BEAM_WIDTH] if np.isfinite(z1[c])]
        for a in beam:
            others = [b for b in range(len(conds)) if conds[b].column != conds[a].column]
            if not others:
                continue
            both = ms[:, [a]] & ms[:, others]
            z2, gap2 = _z(loss[search], both, min_size)
            for j, b in enumerate(others):
                # A second condition must sharpen the first: at least its statistic.
                if np.isfinite(z2[j]) and z2[j] > z1[a]:
                    key = tuple(sorted((int(a), int(b))))
                    found[key] = (float(z2[j]), float(gap2[j]), int(both[:, j].sum()))
    ranked = sorted(found.items(), key=lambda kv: -kv[1][0])
    picked: list[tuple[tuple[int, ...], tuple[float, float, int]]] = []
    chosen: list[np.ndarray] = []
    for key, value in ranked:
        if value[1] <= 0:
            break
        rows_in = np.logical_and.reduce([ms[:, c] for c in key])
        # Near-copies of a candidate (most rows shared) test the same thing again and only
        # cost the others power under Holm: the best of them stands for all.
        if any(_jaccard(rows_in, other) > MAX_OVERLAP for other in chosen):
            continue
        picked.append((key, value))
        chosen.append(rows_in)
        if len(picked) == n_candidates:
            break
    tested = []
    lc = loss[confirm]
    for key, (_, search_gap, n_search) in picked:
        inside = np.logical_and.reduce([masks[confirm, c] for c in key])
        a, b = lc[inside], lc[~inside]
        if a.size < min_size or b.size < min_size:
            gap, lo, hi, p = np.nan, np.nan, np.nan, np.nan
        else:
            gap, lo, hi, p = welch(a, b, confidence, one_sided=True)
        tested.append((key, n_search, search_gap, int(a.size), a, b, gap, lo, hi, p))
    adjusted = holm(np.array([t[-1] for t in tested], dtype=float))
    alpha = 1 - confidence
    segments = tuple(
        Segment(
            tuple(conds[c] for c in key),
            n_search,
            search_gap,
            n_in,
            float(a.mean()) if a.size else np.nan,
            float(b.mean()) if b.size else np.nan,
            gap,
            lo,
            hi,
            p,
            float(ph),
            bool(np.isfinite(ph) and ph < alpha),
        )
        for (key, n_search, search_gap, n_in, a, b, gap, lo, hi, p), ph in zip(
            tested, adjusted, strict=True
        )
    )
    return SegmentResult(loss_name, segments, confidence, search.size, confirm.size, tuple(notes))
