"""``select_threshold`` and ``select_threshold_predictions``.

Binary: one sort of the scores (:class:`~afterfit.metrics.kernel.RankedScores`), the
objective evaluated at every distinct score from the cumulative counts, the exact optimum
picked (see :mod:`afterfit.thresholds._core` for the threshold convention and ties). The
bootstrap resamples rows as multiplicity vectors over the same sorted order
(:func:`~afterfit.metrics.resampling.bootstrap`), so a batch of resamples is one weight
matrix and the optimum of every resample is found at once, without sorting again.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from afterfit.errors import AfterfitWarning, InvalidInputError, MetricError
from afterfit.evaluation.results import ConfusionResult, MetricTable, MetricValue
from afterfit.metrics.binary import MetricKey, weighted_mean
from afterfit.metrics.kernel import (
    GroupCounts,
    RankedScores,
    keep_shape_points,
    quantile_group_ends,
)
from afterfit.metrics.resampling import (
    LARGE_N,
    bootstrap,
    bootstrap_grouped,
    check_interval_options,
    percentile_interval,
)
from afterfit.predictions import Predictions, label_list, label_text
from afterfit.thresholds._core import (
    Costs,
    Objective,
    all_metrics,
    candidate_thresholds,
    candidates,
    canonical_objective,
    make_objective,
    pick,
    precision,
    recall,
)
from afterfit.thresholds._results import (
    SPLITS,
    TEST_SPLIT_WARNING,
    CostDecision,
    PerClassThresholds,
    ThresholdCurve,
    ThresholdSelection,
)

#: Threshold curves keep at most this many points for tables and figures.
MAX_CURVE_POINTS = 2000
#: Objectives that are one budget over all rows: binary only.
BINARY_ONLY = ("positive_rate", "top_k")

Selection = ThresholdSelection | PerClassThresholds | CostDecision

NAN2 = (math.nan, math.nan)


class _SelectionSuite:
    """The optimum (and the metrics at a fixed candidate) as a function of row weights.

    Follows the suite protocol of :func:`~afterfit.metrics.resampling.bootstrap`: rows in
    sorted order, strata the classes.
    """

    def __init__(self, ranked: RankedScores, objective: Objective, thresholds: np.ndarray):
        self.ranked = ranked
        self.objective = objective
        self.thresholds = thresholds
        self.chosen: int | None = None
        self._point: GroupCounts | None = None

    @property
    def n(self) -> int:
        return self.ranked.n

    @property
    def strata(self) -> np.ndarray:
        return self.ranked.y

    @property
    def weight(self) -> np.ndarray | None:
        return self.ranked.weight

    def subset(self, rows: np.ndarray) -> _SelectionSuite:
        """The search on the rows at ``rows`` (ascending positions in sorted order): its own
        candidates, the metrics at the threshold chosen on all rows, ``top_k`` scaled."""
        r, w = self.ranked, self.ranked.weight
        ranked = RankedScores.from_arrays(
            r.y[rows], r.scores[rows], None if w is None else w[rows], keep_order=False
        )
        objective = self.objective
        if objective.top_k is not None:
            objective = dataclasses.replace(objective, top_k=objective.top_k * rows.size / r.n)
        sub = _SelectionSuite(ranked, objective, candidate_thresholds(ranked.thresholds))
        if self.chosen is not None:
            # Candidate j flags the top j tie groups: those scoring above the threshold.
            sub.chosen = int(np.count_nonzero(ranked.thresholds > self.thresholds[self.chosen]))
        return sub

    def counts(self, W: np.ndarray | None) -> GroupCounts:
        if W is not None:
            return self.ranked.cumulative(W)
        if self._point is None:
            self._point = self.ranked.counts_at_ends()
        return self._point

    def search(self, W: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """``tp, fp, P, N`` of every candidate, the search scores and the best index."""
        tp, fp, P, N = candidates(self.counts(W))
        scores = self.objective.scores(tp, fp, P, N)
        return tp, fp, P, N, scores, pick(scores)

    def compute(
        self, W: np.ndarray | None = None, *, bands: bool = False
    ) -> dict[MetricKey, np.ndarray]:
        return _optimum_and_metrics(self.counts(W), self.objective, self.thresholds, self.chosen)


def _optimum_and_metrics(
    counts: GroupCounts, objective: Objective, thresholds: np.ndarray, chosen: int | None
) -> dict[MetricKey, np.ndarray]:
    """Per row of ``counts``: the re-optimised threshold, the optimum, and every metric at
    the fixed candidate ``chosen``."""
    tp, fp, P, N = candidates(counts)
    scores = objective.scores(tp, fp, P, N)
    best = pick(scores)
    rows = np.arange(best.size)
    found = best >= 0
    at = np.maximum(best, 0)
    out: dict[MetricKey, np.ndarray] = {
        ("threshold", None): np.where(found, thresholds[at], np.nan),
        ("optimum", None): np.where(found, objective.natural(scores[rows, at]), np.nan),
    }
    if chosen is not None:
        metrics = all_metrics(tp[:, chosen], fp[:, chosen], P[:, 0], N[:, 0], objective)
        out.update({(name, None): values for name, values in metrics.items()})
    return out


#: Score bins of the grouped bootstrap when the distinct scores are more: the replicates'
#: threshold then moves in steps of a bin, far below its interval's width (the bin width
#: at the threshold is reported; benchmarks/coverage_grouped.py checks the coverage).
MAX_BINS = 4096
#: Above this many rows, the fine bins cover only ``FINE_WINDOW`` of the rows on each side
#: of the chosen threshold, and ``MAX_BINS // COARSE_FACTOR`` bins the rest (the interval
#: is checked to lie inside the fine region, else the bins are fine everywhere).
WINDOW_ROWS = 200_000
FINE_WINDOW = 0.125
COARSE_FACTOR = 16


class _GroupedSelection:
    """The threshold search as a function of per-class counts of score groups, for
    :func:`~afterfit.metrics.resampling.bootstrap_grouped`.

    The groups are the tie groups, or (more than ``max_bins`` of them) about ``max_bins``
    bins of equal row count made of whole tie groups, one of them ending at the chosen
    threshold, so the metrics at the chosen threshold stay exact and every bin boundary is
    one of the exact search's candidates. With ``window`` (large data), those bins only
    where the rows lie within ``window`` of all rows of the chosen threshold, and
    ``max_bins // COARSE_FACTOR`` bins elsewhere: a quarter of the cells to resample, the
    same bins wherever the interval lies (``fine``; the caller checks).
    """

    def __init__(
        self, suite: _SelectionSuite, max_bins: int = MAX_BINS, window: float | None = None
    ):
        point = suite.counts(None)
        pos, total = point.pos[0], point.total[0]
        keep = np.array([suite.chosen - 1] if suite.chosen else [], dtype=np.int64)
        ends = quantile_group_ends(total, max_bins, keep=keep)
        #: (lowest, highest) score of the region of fine bins (None: fine everywhere).
        self.fine: tuple[float, float] | None = None
        if window is not None and ends.size < total.size and suite.chosen:
            # Fine bins only within ``window`` of the rows on each side of the chosen
            # threshold, where the replicates' thresholds fall, coarse ones beyond: the
            # fine bins are those of the uniform binning, so inside the region nothing
            # changes, and the caller checks that the interval stays inside it.
            near = np.abs(total[ends] - total[suite.chosen - 1]) <= window * total[-1]
            first, last = np.flatnonzero(near)[[0, -1]]
            t = suite.thresholds  # the boundary after group g is the candidate g + 1
            self.fine = (float(t[ends[last] + 1]), float(t[ends[first] + 1]))
            coarse = quantile_group_ends(total, max(2, max_bins // COARSE_FACTOR), keep=keep)
            ends = np.union1d(ends[near], coarse)
        d_pos = np.diff(pos[ends], prepend=0.0)
        d_total = np.diff(total[ends], prepend=0.0)
        self.cells = np.rint(np.stack([d_total - d_pos, d_pos])).astype(np.int64)
        self.bins = int(ends.size) if ends.size < total.size else None
        #: The exact search's candidate index of each candidate here (bin boundaries).
        self.candidate = np.concatenate([[0], ends + 1])
        self.thresholds = suite.thresholds[self.candidate]
        self.objective = suite.objective
        self.chosen = (
            None if suite.chosen is None
            else int(np.searchsorted(self.candidate, suite.chosen))
        )  # fmt: skip

    def compute_cells(self, C: np.ndarray) -> dict[MetricKey, np.ndarray]:
        d_pos = C[:, 1, :]
        d_total = C[:, 0, :] + d_pos
        counts = GroupCounts(np.cumsum(d_pos, axis=1), np.cumsum(d_total, axis=1), d_pos, d_total)
        return _optimum_and_metrics(counts, self.objective, self.thresholds, self.chosen)

    def widest_bin(self, lo: float, hi: float) -> float:
        """Score width of the widest bin that meets ``[lo, hi]``: how far apart two
        thresholds a replicate can pick are, inside the interval (0 without bins)."""
        if self.bins is None or not (np.isfinite(lo) and np.isfinite(hi)):
            return 0.0
        t = self.thresholds  # descending; bin b lies between t[b] and t[b + 1]
        upper, lower = t[:-1], t[1:]
        meets = (lower <= hi) & (upper >= lo)
        return float(np.max(upper[meets] - lower[meets])) if meets.any() else 0.0


#: Objectives whose threshold is the argmax of a smooth curve: cube-root asymptotics (Kim &
#: Pollard 1990), so the m-out-of-n bootstrap rescales it with rate 1/3. The others put the
#: threshold where a constraint binds (a quantile or a root): root-n, rate 1/2.
ARGMAX_OBJECTIVES = ("f1", "fbeta", "youden", "balanced_accuracy", "cost")


def _inside(draws: Any, confidence: float, fine: tuple[float, float]) -> bool:
    """Whether the threshold's interval lies strictly inside the region of fine bins."""
    lo, hi = percentile_interval(draws.replicates[("threshold", None)], confidence)
    return not (np.isfinite(lo) and np.isfinite(hi)) or fine[0] < lo <= hi < fine[1]


def _rates(objective: Objective) -> dict[MetricKey, float]:
    """Rate exponents of the large-data bootstrap that differ from 1/2 (smooth)."""
    rates: dict[MetricKey, float] = {("predicted_positive", None): -0.5}  # a count: ~ n
    if objective.name in ARGMAX_OBJECTIVES:
        rates[("threshold", None)] = 1 / 3
    # The optimum itself is root-n whatever the objective (the value at the argmax moves
    # only to second order); with top_k it is a count of rows.
    if objective.name == "top_k":
        rates[("optimum", None)] = -0.5
    return rates


def _settings(n_resamples: int, confidence: float, split: str) -> None:
    check_interval_options(
        confidence=confidence, n_resamples=n_resamples, no_intervals="n_resamples=0"
    )
    if split not in SPLITS:
        raise InvalidInputError(
            f"split must be one of {', '.join(SPLITS)}; got {split!r}.",
            fix="pass split='validation' (held-out rows), 'oof' (out-of-fold predictions) "
            "or 'test' (flagged: the metrics at the threshold become optimistic).",
        )


def _warn_failed(failed: int, total: int, objective: Objective, label: str | None) -> None:
    if failed:
        where = "" if label is None else f" (class {label})"
        warnings.warn(
            f"threshold selection{where}: in {failed} of {total} bootstrap resamples no "
            f"threshold met the objective ({objective.describe()}); the intervals use the "
            "rest.",
            AfterfitWarning,
            stacklevel=4,
        )


def _infeasible(objective: Objective, tp, fp, P, thresholds) -> MetricError:
    prec = precision(tp, fp)[0]
    best = int(np.nanargmax(prec))
    rec = float(recall(tp, P)[0, best])
    return MetricError(
        f"no threshold reaches precision >= {objective.min_precision:g}: the highest "
        f"precision reachable on these data is {prec[best]:.4g} (recall {rec:.4g}, at "
        f"threshold {thresholds[best]:.6g}).",
        fix=f"lower min_precision to at most {prec[best]:.4g} (CLI --min-precision), or "
        "choose the threshold with more data or a better model.",
    )


def _curve(tp, fp, P, N, thresholds, chosen, objective, label) -> ThresholdCurve:
    t, f = tp[0], fp[0]
    p, n = float(P[0, 0]), float(N[0, 0])

    def xy(rows: Any) -> tuple[np.ndarray, np.ndarray]:
        return t[rows] / p, f[rows] / n

    keep = keep_shape_points(xy, t.size, MAX_CURVE_POINTS - 1)
    keep = np.union1d(keep, [chosen])[::-1]  # ascending thresholds
    return ThresholdCurve(
        thresholds[keep], t[keep], f[keep], p, n, objective,
        float(thresholds[chosen]), int(t.size), label,
    )  # fmt: skip


def _select_binary(
    y01: np.ndarray,
    scores: np.ndarray,
    weight: np.ndarray | None,
    objective: Objective,
    *,
    classes: tuple[Any, ...],
    probabilities: bool,
    split: str,
    n_resamples: int,
    confidence: float,
    stratify: bool,
    random_state: int | np.random.SeedSequence | None,
    progress: Callable[[int], None] | None,
    n_jobs: int | None,
    label: str | None = None,
    presorted: bool = False,
) -> ThresholdSelection:
    ranked = RankedScores.from_arrays(y01, scores, weight, keep_order=False, presorted=presorted)
    suite = _SelectionSuite(ranked, objective, candidate_thresholds(ranked.thresholds))
    tp, fp, P, N, search_scores, best = suite.search()
    if P[0, 0] <= 0 or N[0, 0] <= 0:
        missing = classes[1] if P[0, 0] <= 0 else classes[0]
        raise MetricError(
            f"y_true holds no rows of class {label_text(missing)} (or only zero weights); "
            "a threshold is chosen by trading errors on both classes.",
            fix="select the threshold on data holding both classes (a larger or stratified "
            "validation split).",
        )
    j = int(best[0])
    if j < 0:
        raise _infeasible(objective, tp, fp, P, suite.thresholds)
    suite.chosen = j
    point = all_metrics(tp[:, j], fp[:, j], P[:, 0], N[:, 0], objective)
    threshold = float(suite.thresholds[j])
    value = float(objective.natural(search_scores[0, j]))
    ci, value_ci, optimum_ci = NAN2, NAN2, NAN2
    intervals: dict[str, tuple[float, float]] = {}
    failed = 0
    method = "none"
    grouped: _GroupedSelection | None = None
    if n_resamples and weight is None:
        # The search reads the rows only through per-class counts of the score groups, so
        # resampling those counts is the row bootstrap itself (every row, no rescaling,
        # which an argmax threshold does not survive: the m-out-of-n interval covered 82%,
        # benchmarks/coverage_large_n.py), at a cost of groups instead of rows.
        window = FINE_WINDOW if y01.shape[0] > WINDOW_ROWS else None
        grouped = _GroupedSelection(suite, window=window)
        draws = bootstrap_grouped(
            grouped, n_resamples=n_resamples, stratify=stratify, random_state=random_state,
            progress=progress, n_jobs=n_jobs,
        )  # fmt: skip
        if grouped.fine is not None and not _inside(draws, confidence, grouped.fine):
            # The interval reaches the coarse bins: fine bins everywhere, as without a
            # window (the same seed, so the same numbers as that binning gives).
            grouped = _GroupedSelection(suite)
            draws = bootstrap_grouped(
                grouped, n_resamples=n_resamples, stratify=stratify,
                random_state=random_state, progress=None, n_jobs=n_jobs,
            )  # fmt: skip
    elif n_resamples:
        # Sample weights: resample rows. An argmax threshold is not rescaled well from a
        # subsample, so those objectives resample every row, however many.
        large = None if objective.name in ARGMAX_OBJECTIVES else LARGE_N
        draws = bootstrap(
            suite, n_resamples=n_resamples, stratify=stratify, jackknife=False,
            random_state=random_state, progress=progress, n_jobs=n_jobs,
            rates=_rates(objective), max_rows=large,
        )  # fmt: skip
    if n_resamples:
        reps = draws.replicates
        thresholds_rep = reps[("threshold", None)]
        failed = int(np.count_nonzero(~np.isfinite(thresholds_rep)))
        _warn_failed(failed, n_resamples, objective, label)
        ci = percentile_interval(thresholds_rep, confidence)
        optimum_ci = _basic_interval(reps[("optimum", None)], value, confidence, objective)
        intervals = {name: percentile_interval(reps[(name, None)], confidence) for name in point}
        value_ci = intervals[objective.metric]
        method = draws.method("percentile")
        if grouped is not None and grouped.bins:
            method += f" (widest bin in the threshold's interval: {grouped.widest_bin(*ci):.3g})"
    rows = tuple(
        MetricValue(name, float(v[0]), *intervals.get(name, NAN2), method, None)
        for name, v in point.items()
    )
    return ThresholdSelection(
        objective=objective,
        threshold=threshold,
        ci=ci,
        value=value,
        value_ci=value_ci,
        optimum_ci=optimum_ci,
        metrics=MetricTable(rows, confidence),
        curve=_curve(tp, fp, P, N, suite.thresholds, j, objective, label),
        split=split,
        warning=TEST_SPLIT_WARNING if split == "test" else None,
        positive_label=classes[1],
        classes=classes,
        scores_are_probabilities=probabilities,
        n_rows=int(y01.shape[0]),
        weighted=weight is not None,
        n_resamples=int(n_resamples),
        n_failed_resamples=failed,
        confidence=confidence,
        random_state=random_state if not isinstance(random_state, np.random.SeedSequence)
        else None,
        label=label,
    )  # fmt: skip


class _CostSuite:
    """Mean cost of the cost-sensitive and of the argmax decisions, per row of weights."""

    def __init__(self, y: np.ndarray, rows: np.ndarray, weight: np.ndarray | None):
        self.y = y
        self.rows = rows  # (n, 3): cost, argmax cost, their difference
        self.weight = weight

    @property
    def n(self) -> int:
        return self.y.size

    def subset(self, rows: np.ndarray) -> _CostSuite:
        w = self.weight
        return _CostSuite(self.y[rows], self.rows[rows], None if w is None else w[rows])

    @property
    def strata(self) -> np.ndarray:
        return self.y

    def compute(
        self, W: np.ndarray | None = None, *, bands: bool = False
    ) -> dict[MetricKey, np.ndarray]:
        means = weighted_mean(self.rows, W, self.weight)
        names = ("expected_cost", "argmax_cost", "cost_reduction")
        return {(name, None): means[:, i] for i, name in enumerate(names)}


def _matrix(name: str, value: Any, K: int, classes: np.ndarray) -> np.ndarray:
    try:
        M = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{name} must be a {K}x{K} matrix of numbers.",
            fix=f"pass {name}[true][predicted] in the order of the classes "
            f"({label_list(classes)}).",
        ) from None
    if M.shape != (K, K):
        raise InvalidInputError(
            f"{name} must be {K}x{K} (one row and one column per class: "
            f"{label_list(classes)}); got shape {M.shape}.",
            fix=f"pass {name}[true][predicted] in the order of the classes.",
        )
    if not np.isfinite(M).all():
        raise InvalidInputError(f"{name} has NaN or infinite entries.", fix="pass finite costs.")
    if (M < 0).any():
        i, j = np.argwhere(M < 0)[0]
        fix = (
            "pass costs as non-negative numbers; to reward a decision, pass its value in "
            "gain_matrix instead."
            if name == "cost_matrix"
            else "pass gains as non-negative numbers (a negative gain is a cost: put it in "
            "cost_matrix)."
        )
        raise InvalidInputError(
            f"{name}[{i}][{j}] is negative ({M[i, j]:g}); {name} entries must be >= 0.",
            fix=fix,
        )
    return M


def _select_cost_multiclass(
    preds: Predictions,
    C: np.ndarray,
    *,
    split: str,
    n_resamples: int,
    confidence: float,
    stratify: bool,
    random_state: Any,
    progress: Callable[[int], None] | None,
    n_jobs: int | None,
) -> CostDecision:
    if not preds.scores_are_probabilities:
        raise MetricError(
            "minimum expected cost decisions need class probabilities; these scores are "
            "decision scores.",
            fix="use a model with predict_proba (or pass probabilities with "
            "scores_are_probabilities=True), or choose per-class thresholds with another "
            "objective.",
        )
    K = len(preds.classes)
    y = np.asarray(preds.y_true, dtype=np.int64)
    proba = preds.scores
    decisions = np.argmin(proba @ C, axis=1)
    argmax = np.argmax(proba, axis=1)
    cost = C[y, decisions]
    base = C[y, argmax]
    rows = np.column_stack([cost, base, base - cost])
    suite = _CostSuite(y, rows, preds.sample_weight)
    point = suite.compute()
    method = "none"
    intervals: dict[str, tuple[float, float]] = {}
    if n_resamples:
        draws = bootstrap(
            suite, n_resamples=n_resamples, stratify=stratify, jackknife=False,
            random_state=random_state, progress=progress, n_jobs=n_jobs,
        )  # fmt: skip
        intervals = {k[0]: percentile_interval(v, confidence) for k, v in draws.replicates.items()}
        method = draws.method("percentile")

    def value(name: str) -> MetricValue:
        return MetricValue(name, float(point[(name, None)][0]),
                           *intervals.get(name, NAN2), method)  # fmt: skip

    w = np.ones(y.size) if preds.sample_weight is None else preds.sample_weight
    counts = np.bincount(y * K + decisions, weights=w, minlength=K * K).reshape(K, K)
    return CostDecision(
        cost_matrix=C,
        classes=tuple(preds.classes.tolist()),
        expected_cost=value("expected_cost"),
        argmax_cost=value("argmax_cost"),
        cost_reduction=value("cost_reduction"),
        confusion=ConfusionResult(counts, tuple(preds.class_names)),
        split=split,
        warning=TEST_SPLIT_WARNING if split == "test" else None,
        n_rows=preds.n,
        weighted=preds.sample_weight is not None,
        n_resamples=int(n_resamples),
        confidence=confidence,
        random_state=random_state,
    )


def select_threshold(
    model: Any,
    X: Any,
    y: Any,
    *,
    sample_weight: Any = None,
    pos_label: Any = None,
    **options: Any,
) -> Selection:
    """Choose the decision threshold of a trained classifier for an objective.

    Scores ``X`` once with ``model`` and calls :func:`select_threshold_predictions`; the
    options are the same. ``X`` and ``y`` should be held-out rows (``split="validation"``)
    or out-of-fold predictions (``"oof"``), not the test set.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    >>> model = LogisticRegression(max_iter=5000).fit(X[:300], y[:300])
    >>> sel = select_threshold(model, X[300:], y[300:], objective="f1", random_state=0,
    ...                        n_resamples=200)
    >>> thresholded = sel.apply(model)  # a ThresholdedModel: predicts score > threshold
    """
    preds = Predictions.from_model(model, X, y, sample_weight=sample_weight, pos_label=pos_label)
    return select_threshold_predictions(preds, **options)


def select_threshold_predictions(
    y_true: Any,
    y_score: Any = None,
    *,
    objective: str = "f1",
    beta: float | None = None,
    fp_cost: float | None = None,
    fn_cost: float | None = None,
    tp_gain: float | None = None,
    tn_gain: float | None = None,
    min_precision: float | None = None,
    min_recall: float | None = None,
    positive_rate: float | None = None,
    top_k: int | None = None,
    cost_matrix: Any = None,
    gain_matrix: Any = None,
    split: str = "validation",
    task: str | None = None,
    classes: Any = None,
    pos_label: Any = None,
    sample_weight: Any = None,
    scores_are_probabilities: bool | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    stratify: bool = True,
    random_state: int | None = None,
    progress: Callable[[int], None] | None = None,
    n_jobs: int | None = None,
) -> Selection:
    """Choose a decision threshold (or multiclass decision rule) from saved scores.

    Every distinct score is a candidate and the optimum is exact. A row is predicted
    positive iff ``score > threshold``; the threshold returned lies halfway between the
    lowest score predicted positive and the highest predicted negative, so it reproduces
    the counts it was chosen on. Among tied candidates the highest threshold (fewest rows
    flagged) wins.

    Parameters
    ----------
    y_true : array-like or Predictions
        True labels, or a ready :class:`~afterfit.predictions.Predictions` (then leave
        ``y_score`` and the encoding options out).
    y_score : array-like, optional
        Scores, as :meth:`Predictions.from_arrays` takes them.
    objective : str
        ``"f1"``; ``"fbeta"`` (with ``beta``); ``"youden"`` (TPR - FPR);
        ``"balanced_accuracy"``; ``"cost"`` (minimum expected cost: ``fp_cost`` and
        ``fn_cost``, optional ``tp_gain``/``tn_gain``; multiclass: ``cost_matrix``);
        ``"recall_at_precision"`` (max recall with precision >= ``min_precision``; alias
        ``"precision_at"``); ``"precision_at_recall"`` (max precision with recall >=
        ``min_recall``; alias ``"recall_at"``); ``"positive_rate"`` (flag at most a share
        ``positive_rate`` of the weight, as many as possible); ``"top_k"`` (flag at most
        ``top_k`` rows — weight, with sample weights — as many as possible). Hyphens work
        as underscores.
    beta : float, optional
        F-beta's beta (the ``fbeta`` objective, and the F-beta column of the curve).
    fp_cost, fn_cost : float, optional
        Cost of a false positive and of a false negative (>= 0). Without the ``cost``
        objective they only set the curve's expected-cost column (default 1 and 1: the
        error rate).
    tp_gain, tn_gain : float, optional
        Gain of a true positive / true negative, subtracted from the cost (default 0).
    min_precision, min_recall, positive_rate, top_k : optional
        The parameter of the objective of that name.
    cost_matrix, gain_matrix : array-like of shape (K, K), optional
        ``[true][predicted]`` costs and gains (>= 0) in class order. Multiclass ``cost``:
        the decision is ``argmin_j sum_i p_i (C - G)[i, j]``. Binary: equivalent to the four
        scalar costs.
    split : {"validation", "oof", "test"}
        The data the threshold is chosen on, recorded in the result; ``"test"`` sets the
        result's ``warning`` (metrics at a threshold chosen on the test set are optimistic).
    task, classes, pos_label, sample_weight, scores_are_probabilities
        As in :meth:`Predictions.from_arrays`.
    n_resamples : int
        Bootstrap resamples for the intervals (0: none).
    confidence : float
    stratify : bool
        Resample within each class.
    random_state : int, optional
        Seed: the same seed gives the same intervals.
    progress : callable, optional
        Called with the number of resamples done after each chunk.
    n_jobs : int, optional
        Threads for the bootstrap (default: one per core; results do not depend on it).

    Returns
    -------
    ThresholdSelection
        Binary.
    PerClassThresholds
        Multiclass, any objective but ``cost``: each class against the rest.
    CostDecision
        Multiclass ``cost`` with a cost matrix.

    Raises
    ------
    InvalidInputError
        An unknown objective, a missing or misplaced parameter, a negative cost.
    MetricError
        A precision target no threshold reaches (the message gives the best reachable),
        one class only, an objective the task does not have.

    Examples
    --------
    >>> sel = select_threshold_predictions([0, 0, 1, 1, 0, 1], [.1, .4, .35, .8, .2, .9],
    ...                                    objective="f1", n_resamples=0)
    >>> sel.threshold, round(sel.value, 3)
    (0.275, 0.857)
    """
    if isinstance(y_true, Predictions):
        if y_score is not None:
            raise InvalidInputError(
                "y_true is a Predictions object, so y_score must be left out.",
                fix="pass the Predictions alone, or y_true and y_score as arrays.",
            )
        preds = y_true
    else:
        if y_score is None:
            raise InvalidInputError(
                "y_score is missing.", fix="pass the scores of the rows as y_score."
            )
        preds = Predictions.from_arrays(
            y_true, y_score, task=task, classes=classes, pos_label=pos_label,
            sample_weight=sample_weight, scores_are_probabilities=scores_are_probabilities,
        )  # fmt: skip
    _settings(n_resamples, confidence, split)
    name = canonical_objective(objective)
    common = {
        "split": split, "n_resamples": int(n_resamples), "confidence": confidence,
        "stratify": stratify, "progress": progress, "n_jobs": n_jobs,
    }  # fmt: skip
    if preds.task == "regression":
        raise MetricError(
            "threshold selection needs a classifier; these predictions are a regression.",
            fix="pass the scores of a binary or multiclass classifier.",
        )
    if preds.task == "binary":
        if cost_matrix is not None or gain_matrix is not None:
            if any(v is not None for v in (fp_cost, fn_cost, tp_gain, tn_gain)):
                raise InvalidInputError(
                    "pass either cost_matrix/gain_matrix or fp_cost/fn_cost/tp_gain/tn_gain, "
                    "not both.",
                    fix="describe the binary costs once.",
                )
            E = _matrix("cost_matrix", 0 if cost_matrix is None else cost_matrix, 2,
                        preds.classes)  # fmt: skip
            if gain_matrix is not None:
                E = E - _matrix("gain_matrix", gain_matrix, 2, preds.classes)
            fp_cost, fn_cost, tn_gain, tp_gain = E[0, 1], E[1, 0], -E[0, 0], -E[1, 1]
        obj = make_objective(
            name, beta=beta, fp_cost=fp_cost, fn_cost=fn_cost, tp_gain=tp_gain,
            tn_gain=tn_gain, min_precision=min_precision, min_recall=min_recall,
            positive_rate=positive_rate, top_k=top_k,
        )  # fmt: skip
        return _select_binary(
            preds.y_true, preds.scores, preds.sample_weight, obj,
            classes=tuple(preds.classes.tolist()),
            probabilities=preds.scores_are_probabilities,
            random_state=random_state, **common,
        )  # fmt: skip
    # Multiclass.
    classes_arr = preds.classes
    if name in BINARY_ONLY:
        raise MetricError(
            f"objective {name!r} is a budget over all rows of a binary decision; it is not "
            f"available for multiclass predictions ({len(classes_arr)} classes).",
            fix="use objective='cost' with a cost_matrix, or a per-class objective such as "
            "'f1' or 'recall_at_precision'.",
        )
    if name == "cost":
        if any(v is not None for v in (fp_cost, fn_cost, tp_gain, tn_gain)):
            raise InvalidInputError(
                "fp_cost/fn_cost/tp_gain/tn_gain describe binary errors; these predictions "
                f"have {len(classes_arr)} classes.",
                fix="pass a KxK cost_matrix[true][predicted] (CLI --cost-matrix '0,1,2;...').",
            )
        if cost_matrix is None:
            raise InvalidInputError(
                f"objective 'cost' on multiclass predictions needs a {len(classes_arr)}x"
                f"{len(classes_arr)} cost_matrix.",
                fix="pass cost_matrix[true][predicted] in the order of the classes "
                f"({label_list(classes_arr)}); CLI --cost-matrix '0,1,...;1,0,...'.",
            )
        K = len(classes_arr)
        C = _matrix("cost_matrix", cost_matrix, K, classes_arr)
        if gain_matrix is not None:
            C = C - _matrix("gain_matrix", gain_matrix, K, classes_arr)
        _require_classes(preds)
        return _select_cost_multiclass(preds, C, random_state=random_state, **common)
    if cost_matrix is not None or gain_matrix is not None:
        raise InvalidInputError(
            f"cost_matrix and gain_matrix are used by objective 'cost'; the objective is {name!r}.",
            fix="pass objective='cost', or leave the matrices out.",
        )
    obj = make_objective(
        name, beta=beta, fp_cost=fp_cost, fn_cost=fn_cost, tp_gain=tp_gain, tn_gain=tn_gain,
        min_precision=min_precision, min_recall=min_recall,
    )  # fmt: skip
    seeds = np.random.SeedSequence(random_state).spawn(len(classes_arr))
    selections = []
    y = np.asarray(preds.y_true)
    for k, c in enumerate(classes_arr.tolist()):
        rest = f"not {c}"
        selection = _select_binary(
            (y == k).astype(np.int8), preds.scores[:, k], preds.sample_weight, obj,
            classes=(rest, c), probabilities=preds.scores_are_probabilities,
            random_state=seeds[k], label=str(c), **common,
        )  # fmt: skip
        selections.append(dataclasses.replace(selection, random_state=random_state))
    return PerClassThresholds(
        tuple(selections), tuple(classes_arr.tolist()), split,
        TEST_SPLIT_WARNING if split == "test" else None,
    )  # fmt: skip


def _require_classes(preds: Predictions) -> None:
    counts = np.bincount(np.asarray(preds.y_true, dtype=np.int64), minlength=len(preds.classes))
    if np.count_nonzero(counts) < 2:
        raise MetricError(
            f"y_true holds only one class ({label_text(preds.classes[int(np.argmax(counts))])}).",
            fix="choose decisions on data that holds several classes.",
        )


__all__ = ["Costs", "select_threshold", "select_threshold_predictions"]


def _basic_interval(
    reps: np.ndarray, estimate: float, confidence: float, objective: Objective
) -> tuple[float, float]:
    """The basic (reflected) bootstrap interval of the best objective value.

    A maximum found again in each resample sits above the data's maximum by about as much
    as the data's sits above the truth, so the percentile interval is shifted the wrong way
    (the F1 optimum's covered 84% at n = 20,000 in benchmarks/coverage_grouped.py); the
    reflection ``2 * estimate - quantiles`` takes that bias off. Kept inside the metric's
    range and around its estimate.
    """
    from afterfit.metrics.ranges import bounds

    low, high = percentile_interval(reps, confidence)
    if not (np.isfinite(low) and np.isfinite(high) and np.isfinite(estimate)):
        return (low, high)
    lo, hi = bounds(objective.metric)
    low, high = 2.0 * estimate - high, 2.0 * estimate - low
    low, high = max(min(low, estimate), lo), min(max(high, estimate), hi)
    return (float(low), float(high))
