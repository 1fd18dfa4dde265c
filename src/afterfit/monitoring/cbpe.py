"""Performance without labels: confidence-based performance estimation (CBPE).

A calibrated probability says how often the prediction is right: of the rows given
``P(y = 1) = 0.8``, 80% are positive. So the *expected* confusion matrix of a window
follows from its probabilities and decisions alone (NannyML's CBPE)::

    TP = sum(p_i for rows decided positive)      FP = sum(1 - p_i for those rows)
    FN = sum(p_i for rows decided negative)      TN = sum(1 - p_i for those rows)

and with it the expected accuracy, precision, recall and F1; the expected ROC AUC is the
AUC with each row counted as ``p_i`` of a positive and ``1 - p_i`` of a negative. This
holds under covariate shift (the inputs move, ``P(y | x)`` does not) as long as the
probabilities stay calibrated; it does not see concept drift, which only labels show.

The **interval** is that of the realised metric: labels are drawn ``y_i ~ Bernoulli(p_i)``
(``n_draws`` times, seeded) and the metric computed on each draw; the central
``confidence`` range of those values is where the metric the labels will give should fall.
On simulated covariate shift with a calibrated model it covers the realised metric in
at least 90% of windows (benchmarks/bench_monitor_cbpe.py; tests/test_monitor_cbpe.py).

Multiclass models get the expected accuracy and macro precision, recall and F1 (one
class against the rest), with the same simulation (``y_i ~ Categorical(p_i)``).

The probabilities must be calibrated. A bundle with a calibration map logs calibrated
probabilities; for one without, :func:`estimate_performance` is told so and the monitor
gives a named note instead of estimates (``assume_calibrated=True`` overrides).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from afterfit import jsonsafe
from afterfit.errors import InvalidInputError

__all__ = [
    "BINARY_METRICS",
    "MULTICLASS_METRICS",
    "PerformanceEstimate",
    "estimate_performance",
    "realised_performance",
]


def _number(value: Any) -> float | None:
    """A JSON number, or None for a missing or non-finite one."""
    return None if value is None else jsonsafe.number(value)


BINARY_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
MULTICLASS_METRICS = ("accuracy", "macro_precision", "macro_recall", "macro_f1")
#: Label draws behind each interval.
N_DRAWS = 200
#: Above this many rows a binary window's label draws go through the normal law of the
#: sums they enter (exact moments) instead of one Bernoulli draw per row.
EXACT_ROWS = 20_000
#: Label draws computed at once (bounds the memory of one block to ~rows x this x 8 B).
_BLOCK = 25


@dataclass(frozen=True)
class PerformanceEstimate:
    """Expected metrics of one window, with intervals, and the realised ones if labelled.

    Attributes
    ----------
    n_rows : int
        Rows the estimate is over.
    estimated : dict of str to float
        Expected value of each metric (NaN when undefined: no row decided positive for
        precision, for one).
    low, high : dict of str to float
        The interval of the realised metric at ``confidence``.
    realised : dict of str to float or None
        The metric on the labelled rows of the window; None without labels.
    n_labelled : int
    notes : tuple of str
        Why a metric has no estimate or no realised value (a window with one class).
    """

    n_rows: int
    estimated: dict[str, float]
    low: dict[str, float]
    high: dict[str, float]
    realised: dict[str, float] | None = None
    n_labelled: int = 0
    confidence: float = 0.95
    notes: tuple[str, ...] = field(default_factory=tuple)

    def covered(self, metric: str) -> bool | None:
        """Whether the realised ``metric`` lies in the interval; None when either is
        missing."""
        if self.realised is None:
            return None
        r, lo, hi = self.realised.get(metric), self.low.get(metric), self.high.get(metric)
        if r is None or lo is None or hi is None or not np.isfinite([r, lo, hi]).all():
            return None
        return bool(lo <= r <= hi)

    def rows(self) -> list[dict[str, Any]]:
        """One dict per metric: estimate, interval, realised, covered."""
        out = []
        for m, value in self.estimated.items():
            realised = None if self.realised is None else self.realised.get(m)
            out.append(
                {
                    "metric": m,
                    "estimated": _number(value),
                    "low": _number(self.low.get(m)),
                    "high": _number(self.high.get(m)),
                    "realised": _number(realised),
                    "covered": self.covered(m),
                }
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe fields."""
        return {
            "n_rows": int(self.n_rows),
            "n_labelled": int(self.n_labelled),
            "confidence": float(self.confidence),
            "metrics": self.rows(),
            "notes": list(self.notes),
        }


# --- the metrics from (simulated or real) labels ---------------------------------------------


def _binary_from_counts(tp: Any, fp: Any, fn: Any, tn: Any) -> dict[str, np.ndarray]:
    n = tp + fp + fn + tn
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "accuracy": (tp + tn) / n,
            "precision": np.where(tp + fp > 0, tp / (tp + fp), np.nan),
            "recall": np.where(tp + fn > 0, tp / (tp + fn), np.nan),
            "f1": np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan),
        }


def _auc_from_ranks(Y: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of the 0/1 label matrix ``Y`` against fixed score ranks."""
    n1 = Y.sum(axis=1)
    n0 = Y.shape[1] - n1
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (Y @ ranks - n1 * (n1 + 1) / 2) / (n1 * n0)
    return np.where((n1 > 0) & (n0 > 0), auc, np.nan)


def _multiclass_from_labels(Y: np.ndarray, pred: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Accuracy and macro precision/recall/F1 of each row of the label matrix ``Y``."""
    acc = (Y == pred[None, :]).mean(axis=1)
    prec, rec, f1 = [], [], []
    for c in range(k):
        is_pred = pred == c
        is_true = Y == c
        tp = (is_true & is_pred[None, :]).sum(axis=1).astype(np.float64)
        fp = is_pred.sum() - tp
        fn = is_true.sum(axis=1) - tp
        with np.errstate(divide="ignore", invalid="ignore"):
            prec.append(np.where(tp + fp > 0, tp / (tp + fp), np.nan))
            rec.append(np.where(tp + fn > 0, tp / (tp + fn), np.nan))
            f1.append(np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan))
    with np.errstate(invalid="ignore"):
        # scikit-learn's macro average counts an undefined class as 0 ("zero_division");
        # here it is left out, as the class cannot be judged.
        return {
            "accuracy": acc,
            "macro_precision": np.nanmean(np.array(prec), axis=0),
            "macro_recall": np.nanmean(np.array(rec), axis=0),
            "macro_f1": np.nanmean(np.array(f1), axis=0),
        }


def _binary_point(p: np.ndarray, decided: np.ndarray) -> dict[str, float]:
    tp, fp = float(p[decided].sum()), float((1 - p[decided]).sum())
    fn, tn = float(p[~decided].sum()), float((1 - p[~decided]).sum())
    out = {k: float(v) for k, v in _binary_from_counts(tp, fp, fn, tn).items()}
    # Expected AUC: every row is p of a positive and 1 - p of a negative; the ratio of
    # the expected count of (positive, negative) pairs ranked right (ties one half) to
    # the expected count of pairs, a row never paired with itself.
    order = np.argsort(p, kind="stable")
    ps = p[order]
    _, start = np.unique(ps, return_index=True)
    tie_neg = np.add.reduceat(1 - ps, start)  # negative mass per tie group
    group = np.repeat(np.arange(start.size), np.diff(np.append(start, ps.size)))
    below = np.cumsum(tie_neg) - tie_neg  # negative mass of the lower groups
    pairs = float(ps.sum() * (1 - ps).sum() - (ps * (1 - ps)).sum())
    right = float((ps * (below[group] + 0.5 * (tie_neg[group] - (1 - ps)))).sum())
    out["roc_auc"] = right / pairs if pairs > 0 else float("nan")
    return out


def _quantiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    v = values[np.isfinite(values)]
    if v.size < max(10, values.size // 2):
        return float("nan"), float("nan")
    a = (1 - confidence) / 2
    lo, hi = np.quantile(v, [a, 1 - a])
    return float(lo), float(hi)


def _check_inputs(proba: Any, decision: Any, classes: Sequence[Any]) -> tuple[np.ndarray, ...]:
    P = np.asarray(proba, dtype=np.float64)
    k = len(classes)
    if P.ndim == 1 and k == 2:
        P = np.column_stack([1 - P, P])
    if P.ndim != 2 or P.shape[1] != k:
        raise InvalidInputError(
            f"proba must have one column per class ({k}); it has shape {P.shape}.",
            fix="pass the logged probabilities (proba_<class> columns) in class order.",
        )
    if not np.isfinite(P).all() or (P < 0).any() or (P > 1).any():
        raise InvalidInputError(
            "proba holds values outside [0, 1] (or NaN): CBPE needs probabilities.",
            fix="estimate performance for models whose outputs are calibrated probabilities.",
        )
    lookup = {str(c): i for i, c in enumerate(classes)}
    dec = np.asarray(decision, dtype=object).reshape(-1)
    if dec.size != P.shape[0]:
        raise InvalidInputError(
            f"decision has {dec.size} rows, proba {P.shape[0]}.",
            fix="pass the decision of every row (the log's decision column).",
        )
    idx = np.array([lookup.get(str(d), -1) for d in dec.tolist()], dtype=np.int64)
    if (idx < 0).any():
        bad = dec[idx < 0][0]
        raise InvalidInputError(
            f"The decision {bad!r} is not one of the classes {list(classes)}.",
            fix="pass the decisions the bundle logged and its classes.",
        )
    return P, idx


def estimate_performance(
    proba: Any,
    decision: Any,
    *,
    classes: Sequence[Any],
    positive_class: Any = None,
    y_true: Any = None,
    confidence: float = 0.95,
    n_draws: int = N_DRAWS,
    random_state: int = 0,
) -> PerformanceEstimate:
    """Expected classification metrics of one window from calibrated probabilities.

    Parameters
    ----------
    proba : array (n, k)
        Calibrated class probabilities, in ``classes`` order (binary: ``(n,)`` of the
        positive class is accepted).
    decision : array (n,)
        The decision given for each row (the bundle's threshold applied).
    classes : sequence
        The class labels.
    positive_class : label, optional
        Binary: the positive class (default ``classes[1]``).
    y_true : array (n,), optional
        Labels where they arrived (None or NaN elsewhere): the realised metrics on the
        labelled rows are reported beside the estimate.
    confidence : float, default 0.95
    n_draws : int, default 200
        Label draws behind the interval.
    random_state : int, default 0

    Returns
    -------
    PerformanceEstimate

    Raises
    ------
    InvalidInputError
        Probabilities outside [0, 1], decisions that are not classes, mismatched lengths.
    """
    classes = list(classes)
    if len(classes) < 2:
        raise InvalidInputError(
            "CBPE needs a classifier with at least two classes.",
            fix="estimate performance for a binary or multiclass bundle.",
        )
    P, dec = _check_inputs(proba, decision, classes)
    n = P.shape[0]
    rng = np.random.default_rng(random_state)
    notes: list[str] = []
    if len(classes) == 2:
        pos = 1 if positive_class is None else _index(classes, positive_class)
        p = P[:, pos]
        decided = dec == pos
        estimated = _binary_point(p, decided)
        sims = _simulate_binary(p, decided, n_draws, rng)
        realised, n_lab, more = _realised_binary(y_true, p, decided, classes, pos)
    else:
        estimated, sims = _simulate_multiclass(P, dec, n_draws, rng)
        realised, n_lab, more = _realised_multiclass(y_true, dec, classes)
    notes.extend(more)
    low, high = {}, {}
    for m, values in sims.items():
        low[m], high[m] = _quantiles(values, confidence)
    for m, v in estimated.items():
        if not np.isfinite(v):
            notes.append(f"{m}: no estimate (undefined for this window's decisions)")
    return PerformanceEstimate(
        n_rows=n, estimated=estimated, low=low, high=high, realised=realised,
        n_labelled=n_lab, confidence=float(confidence), notes=tuple(notes),
    )  # fmt: skip


def _index(classes: list[Any], label: Any) -> int:
    for i, c in enumerate(classes):
        if c == label or str(c) == str(label):
            return i
    raise InvalidInputError(
        f"The positive class {label!r} is not one of the classes {classes}.",
        fix="pass one of the bundle's classes.",
    )


def _simulate_binary(
    p: np.ndarray, decided: np.ndarray, n_draws: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    from scipy.stats import rankdata

    ranks = rankdata(p)
    if p.size > EXACT_ROWS:
        return _normal_binary(p, decided, ranks, n_draws, rng)
    d = decided.astype(np.float64)
    out: dict[str, list[np.ndarray]] = {m: [] for m in BINARY_METRICS}
    n_pos_dec = d.sum()
    left = n_draws
    while left > 0:
        b = min(_BLOCK, left)
        left -= b
        Y = (rng.random((b, p.size)) < p[None, :]).astype(np.float64)
        tp = Y @ d
        n1 = Y.sum(axis=1)
        fp = n_pos_dec - tp
        fn = n1 - tp
        tn = p.size - tp - fp - fn
        for m, v in _binary_from_counts(tp, fp, fn, tn).items():
            out[m].append(v)
        out["roc_auc"].append(_auc_from_ranks(Y, ranks))
    return {m: np.concatenate(v) for m, v in out.items()}


def _normal_binary(
    p: np.ndarray, decided: np.ndarray, ranks: np.ndarray, n_draws: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """The label draws of a big window through the sums they enter.

    Every binary metric reads three sums of the independent ``y_i ~ Bernoulli(p_i)``:
    the positives among rows decided positive (TP) and negative (FN), and the rank sum of
    the positives (the ROC AUC's numerator). By the central limit theorem they are jointly
    normal with the means and covariances below (exact moments); drawing them costs
    ``n_draws`` instead of ``n_draws x rows``. Used above :data:`EXACT_ROWS` rows, where
    the normal approximation of a sum of that many terms is far finer than the interval.
    """
    v = p * (1 - p)
    d = decided
    mean = np.array([p[d].sum(), p[~d].sum(), (p * ranks).sum()])
    cov = np.array(
        [
            [v[d].sum(), 0.0, (v[d] * ranks[d]).sum()],
            [0.0, v[~d].sum(), (v[~d] * ranks[~d]).sum()],
            [(v[d] * ranks[d]).sum(), (v[~d] * ranks[~d]).sum(), (v * ranks**2).sum()],
        ]
    )
    # Draws are cheap here: enough that the interval's ends are not noisy.
    draws = rng.multivariate_normal(mean, cov, size=max(n_draws, 2000), method="cholesky")
    n, n_dec = float(p.size), float(d.sum())
    tp = np.clip(draws[:, 0], 0, n_dec)
    fn = np.clip(draws[:, 1], 0, n - n_dec)
    fp, tn = n_dec - tp, (n - n_dec) - fn
    out = _binary_from_counts(tp, fp, fn, tn)
    n1 = tp + fn
    with np.errstate(divide="ignore", invalid="ignore"):
        out["roc_auc"] = (draws[:, 2] - n1 * (n1 + 1) / 2) / (n1 * (n - n1))
    return out


def _simulate_multiclass(
    P: np.ndarray, pred: np.ndarray, n_draws: int, rng: np.random.Generator
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    k = P.shape[1]
    cum = np.cumsum(P, axis=1)
    cum[:, -1] = 1.0
    out: dict[str, list[np.ndarray]] = {m: [] for m in MULTICLASS_METRICS}
    left = n_draws
    while left > 0:
        b = min(_BLOCK, left)
        left -= b
        u = rng.random((b, P.shape[0], 1))
        Y = (u > cum[None, :, :]).sum(axis=2)
        for m, v in _multiclass_from_labels(Y, pred, k).items():
            out[m].append(v)
    sims = {m: np.concatenate(v) for m, v in out.items()}
    # Expected values: accuracy exactly (mean probability of the decided class); the
    # macro metrics as ratios of expected counts per class, as for binary.
    rows = np.arange(P.shape[0])
    est = {"accuracy": float(P[rows, pred].mean())}
    prec, rec, f1 = [], [], []
    for c in range(k):
        is_pred = pred == c
        tp = float(P[is_pred, c].sum())
        fp = float(is_pred.sum()) - tp
        fn = float(P[~is_pred, c].sum())
        prec.append(tp / (tp + fp) if tp + fp > 0 else np.nan)
        rec.append(tp / (tp + fn) if tp + fn > 0 else np.nan)
        f1.append(2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn > 0 else np.nan)
    est["macro_precision"] = float(np.nanmean(prec)) if np.isfinite(prec).any() else np.nan
    est["macro_recall"] = float(np.nanmean(rec)) if np.isfinite(rec).any() else np.nan
    est["macro_f1"] = float(np.nanmean(f1)) if np.isfinite(f1).any() else np.nan
    return est, sims


def _key(value: Any) -> Any:
    # 1, 1.0 and np.int64(1) are the same label; "1" (text) matches through str below.
    if isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_):
        return ("n", float(value))
    return ("s", str(value))


def _labelled(y_true: Any, classes: list[Any]) -> tuple[np.ndarray, np.ndarray] | None:
    if y_true is None:
        return None
    y = pd.Series(np.asarray(y_true, dtype=object).reshape(-1))
    has = y.notna().to_numpy()
    lookup = {_key(c): i for i, c in enumerate(classes)}
    text = {str(c): i for i, c in enumerate(classes)}
    values = y[has].tolist()
    idx = np.array([lookup.get(_key(v), text.get(str(v), -1)) for v in values], dtype=np.int64)
    mask = np.flatnonzero(has)
    keep = idx >= 0
    if not keep.all():
        bad = values[int(np.flatnonzero(~keep)[0])]
        raise InvalidInputError(
            f"{int((~keep).sum())} labels are not classes of the model (for example {bad!r}; "
            f"the classes are {classes}).",
            fix="give the labels with the model's class labels.",
        )
    return mask[keep], idx[keep]


def _realised_binary(
    y_true: Any, p: np.ndarray, decided: np.ndarray, classes: list[Any], pos: int
) -> tuple[dict[str, float] | None, int, list[str]]:
    lab = _labelled(y_true, classes)
    if lab is None:
        return None, 0, []
    rows, idx = lab
    if rows.size == 0:
        return None, 0, ["no labelled rows in this window: no realised metrics"]
    return (
        realised_performance(idx == pos, decided[rows], p[rows]),
        int(rows.size),
        (
            []
            if 0 < (idx == pos).sum() < rows.size
            else ["the labelled rows hold one class: no realised ROC AUC (named, not zero)"]
        ),
    )


def _realised_multiclass(
    y_true: Any, pred: np.ndarray, classes: list[Any]
) -> tuple[dict[str, float] | None, int, list[str]]:
    lab = _labelled(y_true, classes)
    if lab is None:
        return None, 0, []
    rows, idx = lab
    if rows.size == 0:
        return None, 0, ["no labelled rows in this window: no realised metrics"]
    vals = _multiclass_from_labels(idx[None, :], pred[rows], len(classes))
    notes = [] if np.unique(idx).size > 1 else ["the labelled rows hold one class"]
    return {m: float(v[0]) for m, v in vals.items()}, int(rows.size), notes


def realised_performance(
    y_positive: np.ndarray, decided: np.ndarray, p: np.ndarray
) -> dict[str, float]:
    """The binary metrics CBPE estimates, on real labels (NaN where undefined, such as the
    ROC AUC of a window with one class)."""
    y = np.asarray(y_positive, dtype=bool)
    d = np.asarray(decided, dtype=bool)
    tp = float((y & d).sum())
    fp = float((~y & d).sum())
    fn = float((y & ~d).sum())
    tn = float((~y & ~d).sum())
    out = {k: float(v) for k, v in _binary_from_counts(tp, fp, fn, tn).items()}
    from scipy.stats import rankdata

    out["roc_auc"] = float(_auc_from_ranks(y[None, :].astype(np.float64), rankdata(p))[0])
    return out
