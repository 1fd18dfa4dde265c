"""Anchors for tables: a high-precision rule that "anchors" a classifier's prediction.

The algorithm follows Ribeiro, Singh and Guestrin (2018), "Anchors: High-Precision
Model-Agnostic Explanations", and the reference implementation (``anchor`` and alibi's
``AnchorBaseBeam``):

1. **Predicates.** Numeric features are discretised into the training quartiles (the
   :class:`~afterfit.explain.lime.QuartileDiscretizer` of LIME); the predicate of a numeric
   feature is "the feature lies in the explained row's bin" (``"petal width <= 0.30"``), of
   a categorical feature "the feature equals the row's value" (``"color = red"``).
2. **Perturbation distribution** ``D(.|A)``, as the reference ``sample_from_train``: draw
   training rows uniformly with replacement; for every predicate of the anchor ``A``, each
   drawn value that breaks it is replaced by a training value drawn among those that satisfy
   it (categorical: the row's value). The other features keep the drawn row's values.
3. **Precision** of ``A``: the share of samples from ``D(.|A)`` on which the model predicts
   the row's label. **Coverage**: the share of ``coverage_samples`` unconditioned samples
   (training rows drawn with replacement) that satisfy ``A``.
4. **Search.** First the empty anchor is checked: when the model predicts the row's label on
   (nearly) all of ``D``, with a lower bound above ``threshold``, the anchor is empty
   (``rule == ""``, coverage 1). Otherwise a beam search grows the anchors one predicate at
   a time. At every size the ``beam_size`` candidates of highest precision are chosen with
   the KL-LUCB bandit (Kaufmann and Kalyanakrishnan, 2013): bounds from the Bernoulli KL
   divergence (:func:`kl_bernoulli`, :func:`dup_bernoulli`, :func:`dlow_bernoulli`),
   confidence level :func:`compute_beta`, sampling in batches until the gap between the best
   rejected candidate's upper bound and the worst chosen one's lower bound is at most
   ``tau``. A chosen candidate is then sampled until its precision is known to within
   ``epsilon_stop`` (0.05) at confidence ``1 - delta`` (divided among the ``1 + (beam_size -
   1) * n_features`` candidates that can be chosen); it is a valid anchor when its mean
   precision is at least ``threshold`` and its lower bound above ``threshold -
   epsilon_stop``. Among valid anchors the one of highest coverage wins; larger anchors are
   only considered when their coverage beats it. When no anchor is valid, the candidate of
   highest precision among all the beams is returned (and :attr:`AnchorExplanation.valid` is
   False).

Unlike the reference implementation, the samples drawn for an anchor are *not* reused for
the larger anchors: under this ``D(.|A)`` the samples of ``A`` that happen to satisfy a
further predicate are not draws of ``D(.|A + predicate)`` (they lack the rows whose value
was replaced), and reusing them overstated precision. A new candidate starts with one batch
of its own samples. Every model call is batched: a KL-LUCB round samples *every* contested
candidate (each whose bound alone keeps the gap above ``tau``, the reference's two among
them) in one ``predict_scores`` call, so a row takes tens of calls rather than hundreds;
the bounds read only the counts, so this changes the cost, not the guarantee. The same
``random_state`` gives the same anchor. A column no perturbation can use
(:func:`~afterfit.explain.lime.unperturbable`) is held at the row's value and never
anchored. Regression models are not supported (an anchor explains a predicted label).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from afterfit.errors import InvalidInputError
from afterfit.explain._threads import single_threaded
from afterfit.explain.lime import (
    LimeTabular,
    _json_value,
    _num,
    as_float,
    category_rule,
    same_value,
)
from afterfit.models.base import Model

__all__ = [
    "AnchorExplanation",
    "AnchorTabular",
    "compute_beta",
    "dlow_bernoulli",
    "dup_bernoulli",
    "kl_bernoulli",
    "kl_lucb",
]

_EPSILON_STOP = 0.05  # the reference implementation's tolerance of the validity check
_BISECTION_STEPS = 60  # halvings of the bracket: far below float resolution of a precision
_MAX_SAMPLES_PER_ANCHOR = 20_000  # guarantees termination of every sampling loop
_MAX_BATCH_GROWTH = 8  # a KL-LUCB round samples at most this many batches per arm
_BOUND_STEPS = 42  # vectorised bounds: the bracket (at most 1 wide) shrinks below 1e-12


# --- KL-LUCB ---------------------------------------------------------------------------------


def kl_bernoulli(p: float, q: float) -> float:
    """KL divergence ``KL(Bernoulli(p) || Bernoulli(q))``.

    Both arguments are clipped to ``[1e-7, 1 - 1e-16]`` (as the reference implementation),
    so the divergence is finite.

    Parameters
    ----------
    p, q : float
        Bernoulli means.

    Returns
    -------
    float
    """
    p = min(1.0 - 1e-16, max(1e-7, float(p)))
    q = min(1.0 - 1e-16, max(1e-7, float(q)))
    return p * math.log(p / q) + (1.0 - p) * math.log((1.0 - p) / (1.0 - q))


def dup_bernoulli(p: float, level: float) -> float:
    """Upper confidence bound: the largest ``q >= p`` with ``KL(p || q) <= level``.

    Found by bisection on ``[p, min(1, p + sqrt(level / 2))]`` (Pinsker's inequality
    brackets the root). With ``level = beta / n`` this is the KL-LUCB upper bound after
    ``n`` samples of mean ``p``: ``n * KL(p || q) = beta``.

    Parameters
    ----------
    p : float
        Observed mean.
    level : float
        The divergence allowed (``beta / n``).

    Returns
    -------
    float
    """
    lm = float(p)
    um = min(1.0, float(p) + math.sqrt(level / 2.0))
    for _ in range(_BISECTION_STEPS):
        qm = (um + lm) / 2.0
        if kl_bernoulli(p, qm) > level:
            um = qm
        else:
            lm = qm
    return um


def dlow_bernoulli(p: float, level: float) -> float:
    """Lower confidence bound: the smallest ``q <= p`` with ``KL(p || q) <= level``.

    The mirror of :func:`dup_bernoulli`, by bisection on ``[max(0, p - sqrt(level / 2)), p]``.

    Parameters
    ----------
    p : float
        Observed mean.
    level : float
        The divergence allowed (``beta / n``).

    Returns
    -------
    float
    """
    um = float(p)
    lm = max(0.0, float(p) - math.sqrt(level / 2.0))
    for _ in range(_BISECTION_STEPS):
        qm = (um + lm) / 2.0
        if kl_bernoulli(p, qm) > level:
            lm = qm
        else:
            um = qm
    return lm


def _kl_many(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-7, 1.0 - 1e-16)
    q = np.clip(q, 1e-7, 1.0 - 1e-16)
    return p * np.log(p / q) + (1.0 - p) * np.log((1.0 - p) / (1.0 - q))


def _bounds_many(p: np.ndarray, level: np.ndarray, *, upper: bool) -> np.ndarray:
    """:func:`dup_bernoulli` (``upper``) or :func:`dlow_bernoulli` of many arms at once."""
    p = np.asarray(p, dtype=np.float64)
    level = np.asarray(level, dtype=np.float64)
    width = np.sqrt(level / 2.0)
    if upper:
        lm, um = p.copy(), np.minimum(1.0, p + width)
    else:
        lm, um = np.maximum(0.0, p - width), p.copy()
    for _ in range(_BOUND_STEPS):
        qm = (um + lm) / 2.0
        beyond = _kl_many(p, qm) > level
        if upper:
            um, lm = np.where(beyond, qm, um), np.where(beyond, lm, qm)
        else:
            lm, um = np.where(beyond, qm, lm), np.where(beyond, um, qm)
    return um if upper else lm


def compute_beta(n_arms: int, t: int, delta: float) -> float:
    """KL-LUCB's exploration rate ``beta(t, delta)`` (reference implementation's constants).

    ``beta = log(k * n * t**alpha / delta) + log(log(k * n * t**alpha / delta))`` with
    ``k = 405.5`` and ``alpha = 1.1`` (Kaufmann and Kalyanakrishnan, 2013).

    Parameters
    ----------
    n_arms : int
        Number of candidates.
    t : int
        Round of the bandit (from 1).
    delta : float
        Allowed error probability.

    Returns
    -------
    float
    """
    temp = math.log(405.5 * n_arms * float(t) ** 1.1 / delta)
    return temp + math.log(temp)


def kl_lucb(
    sample: Callable[[int, int], None],
    n_samples: np.ndarray,
    positives: np.ndarray,
    *,
    top_n: int,
    epsilon: float,
    delta: float,
    batch_size: int,
    max_rounds: int = 10_000,
    sample_many: Callable[[list[tuple[int, int]]], None] | None = None,
) -> np.ndarray:
    """KL-LUCB: the ``top_n`` arms of highest mean, to within ``epsilon``.

    Parameters
    ----------
    sample : callable
        ``sample(arm, n)`` draws ``n`` more samples of ``arm`` and updates ``n_samples`` and
        ``positives`` in place.
    n_samples, positives : numpy.ndarray
        Current counts per arm (updated in place through ``sample``); an arm without
        samples first gets ``batch_size`` of them.
    top_n : int
        Number of arms to choose.
    epsilon : float
        Tolerance: stop when the best rejected arm's upper bound exceeds the worst chosen
        arm's lower bound by at most ``epsilon``.
    delta : float
        Allowed error probability.
    batch_size : int
        Samples per arm and round.
    max_rounds : int, default 10000
        Safety cap on rounds.
    sample_many : callable, optional
        ``sample_many([(arm, n), ...])``: the draws of several arms at once (one model
        call instead of one per arm); default one ``sample`` call per arm.

    Returns
    -------
    numpy.ndarray
        Indices of the chosen arms (increasing mean).
    """
    if sample_many is None:

        def sample_many(requests: list[tuple[int, int]]) -> None:
            for arm, n in requests:
                sample(arm, n)

    n_arms = len(n_samples)
    fresh = [(int(arm), batch_size) for arm in np.flatnonzero(n_samples == 0)]
    if fresh:
        sample_many(fresh)
    if top_n >= n_arms:
        return np.arange(n_arms)

    def bounds(t: int) -> tuple[int, int, float, list[int]]:
        means = positives / n_samples
        order = np.argsort(means, kind="stable")
        beta = compute_beta(n_arms, t, delta)
        chosen, rest = order[-top_n:], order[:-top_n]
        ub = _bounds_many(means[rest], beta / n_samples[rest], upper=True)
        lb = _bounds_many(means[chosen], beta / n_samples[chosen], upper=False)
        ut, lt = int(rest[np.argmax(ub)]), int(chosen[np.argmin(lb)])
        # Every arm whose bound alone keeps the gap above epsilon (ut and lt among them)
        lo, hi = float(lb.min()), float(ub.max())
        contested = [*rest[ub > lo + epsilon].tolist(), *chosen[lb < hi - epsilon].tolist()]
        return ut, lt, hi - lo, contested

    t = 1
    ut, lt, gap, contested = bounds(t)
    while gap > epsilon and t < max_rounds:
        # One model call per round samples every contested arm, not only ut and lt: with
        # dozens of candidates of similar precision, the reference's two arms a round took
        # hundreds of calls, each costing more than the samples in it. ut and lt double
        # their samples (from one batch, at most _MAX_BATCH_GROWTH batches a round), the
        # others get one batch. The bounds read only the counts, and beta grows with the
        # rounds actually checked, so this changes how many calls and samples the evidence
        # costs, not what the bounds guarantee.
        grow = int(_MAX_BATCH_GROWTH * batch_size)
        leaders = (ut, lt)
        requests = [
            (arm, min(max(int(n_samples[arm]), batch_size), grow) if arm in leaders else batch_size)
            for arm in contested
            if n_samples[arm] < _MAX_SAMPLES_PER_ANCHOR
        ]
        if not requests:
            break
        sample_many(requests)
        t += 1
        ut, lt, gap, contested = bounds(t)
    means = positives / n_samples
    return np.argsort(means, kind="stable")[-top_n:]


# --- the result ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnchorExplanation:
    """An anchor: a rule under which the model keeps its prediction for the row.

    Attributes
    ----------
    rule : str
        The predicates joined by ``" AND "``; ``""`` for the empty anchor (the model
        predicts the label nearly everywhere).
    predicates : list of str
        The predicates, in the order the search added them.
    columns : list of str
        The column of each predicate.
    values : list
        The explained row's value of each anchored column.
    precision : float
        Share of the samples from ``D(.|anchor)`` on which the model predicts ``label``.
    coverage : float
        Share of unconditioned samples that satisfy the anchor.
    label : object
        The explained prediction (the model's label for the row).
    precisions, coverages : list of float
        Precision and coverage of the anchor's prefixes (the first ``k`` predicates).
    num_samples : int
        Samples of the anchor behind ``precision``.
    valid : bool
        Whether the anchor reached the precision threshold; ``False`` when the search found
        none and returned the most precise candidate.
    threshold, delta, tau : float
        The search's settings.
    converged : bool
        ``False`` when the time limit stopped the search: the anchor is the best found so
        far (a valid one if any, else the candidate of highest precision lower bound).
    precision_lower_bound : float
        KL lower confidence bound of ``precision`` at level ``1 - delta`` (from
        ``num_samples`` samples).
    seconds : float
        Time the search took (not in :meth:`to_dict`, which the same seed reproduces).
    """

    rule: str
    predicates: list[str]
    columns: list[str]
    values: list[Any]
    precision: float
    coverage: float
    label: Any
    precisions: list[float] = field(default_factory=list)
    coverages: list[float] = field(default_factory=list)
    num_samples: int = 0
    valid: bool = True
    threshold: float = 0.95
    delta: float = 0.1
    tau: float = 0.15
    converged: bool = True
    precision_lower_bound: float = math.nan
    seconds: float = math.nan

    def frame(self) -> pd.DataFrame:
        """One row per predicate: ``predicate``, ``column``, ``value`` and the ``precision``
        and ``coverage`` of the anchor up to and including it."""
        return pd.DataFrame(
            {
                "predicate": list(self.predicates),
                "column": list(self.columns),
                "value": list(self.values),
                "precision": np.asarray(self.precisions, dtype=np.float64),
                "coverage": np.asarray(self.coverages, dtype=np.float64),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (NaN becomes null)."""
        return {
            "method": "anchors",
            "rule": self.rule,
            "label": _json_value(self.label),
            "precision": _num(self.precision),
            "coverage": _num(self.coverage),
            "valid": bool(self.valid),
            "converged": bool(self.converged),
            "precision_lower_bound": _num(self.precision_lower_bound),
            "num_samples": int(self.num_samples),
            "threshold": _num(self.threshold),
            "delta": _num(self.delta),
            "tau": _num(self.tau),
            "predicates": [
                {
                    "predicate": p,
                    "column": c,
                    "value": _json_value(v),
                    "precision": _num(pr),
                    "coverage": _num(cv),
                }
                for p, c, v, pr, cv in zip(
                    self.predicates,
                    self.columns,
                    self.values,
                    self.precisions,
                    self.coverages,
                    strict=True,
                )
            ],
        }

    def plot(self, *, ax: Any = None) -> Any:
        """Precision and coverage as predicates are added (matplotlib figure)."""
        from afterfit.plots import OKABE_ITO, _axes

        k = len(self.predicates)
        fig, ax = _axes(ax, (6.5, 4.0))
        steps = np.arange(1, k + 1)
        ax.plot(steps, self.precisions, marker="o", color=OKABE_ITO[0], label="precision")
        ax.plot(steps, self.coverages, marker="s", color=OKABE_ITO[1], label="coverage")
        ax.axhline(self.threshold, color="grey", linestyle="--", linewidth=1)
        ax.set_xticks(steps, [f"+ {p}" for p in self.predicates], rotation=20, ha="right")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"Anchor of label {self.label}: precision {self.precision:.2f}")
        ax.legend()
        return fig


# --- the explainer ---------------------------------------------------------------------------


class _OutOfTime(Exception):
    """The search's time limit ran out (caught by :meth:`AnchorTabular.explain`)."""


class _Search:
    """State of one search: samples per anchor, the sampler and the coverage sample."""

    def __init__(
        self,
        explainer: AnchorTabular,
        model: Model | None,
        row: pd.Series,
        label_index: int,
        rng: np.random.Generator,
        coverage_samples: int,
    ) -> None:
        from afterfit.data import check_features

        self.explainer = explainer
        self.model = model
        self.label_index = label_index
        self.rng = rng
        self.check_features = check_features
        train = explainer.train
        n_train = len(train)
        # which training values satisfy each feature's predicate
        sat = np.empty((n_train, len(explainer.columns)), dtype=bool)
        for j, c in enumerate(explainer.columns):
            sat[:, j] = explainer._satisfies(c, train[c], row)
        self.train_sat = sat
        self.pools = [np.flatnonzero(sat[:, j]) for j in range(sat.shape[1])]
        self.row = row
        idx = rng.integers(0, n_train, size=int(coverage_samples))
        self.coverage_sat = sat[idx]
        # per anchor (sorted tuple of feature indices): satisfied-predicates matrix and hits
        self.n: dict[tuple[int, ...], int] = {}
        self.pos: dict[tuple[int, ...], int] = {}
        self.order: dict[tuple[int, ...], list[int]] = {(): []}
        self.total_samples = 0
        self.model_calls = 0
        self.deadline: float | None = None
        self.seconds_per_sample = 0.0
        # the best valid anchor so far, kept for a search the time limit stops
        self.best: tuple[int, ...] | None = None

    def coverage(self, anchor: Sequence[int]) -> float:
        """Share of the coverage sample satisfying every predicate of ``anchor``."""
        if not anchor:
            return 1.0
        return float(np.mean(np.all(self.coverage_sat[:, list(anchor)], axis=1)))

    def sample(self, anchor: tuple[int, ...], n: int) -> None:
        """Draw ``n`` samples of ``D(.|anchor)`` and count the model's hits (one call)."""
        self.sample_many([(anchor, n)])

    def sample_many(self, requests: Sequence[tuple[tuple[int, ...], int]]) -> None:
        """Samples of several anchors, predicted in one model call.

        Raises :class:`_OutOfTime` before drawing when the search's deadline has passed, or
        would pass during this call at the pace of the calls so far: the time limit holds
        inside a row, not only between rows, and a large last call does not overrun it.
        """
        if not requests:
            return
        started = time.perf_counter()
        rows = sum(n for _, n in requests)
        if self.deadline is not None and started + rows * self.seconds_per_sample > self.deadline:
            raise _OutOfTime
        explainer = self.explainer
        if explainer._matrix is not None:  # every column float64: one matrix, one frame
            parts = [explainer._draw_matrix(self, a, n, self.rng)[0] for a, n in requests]
            frame = pd.DataFrame(np.concatenate(parts), columns=explainer.columns)
        else:
            parts = [explainer._draw(self, a, n, self.rng)[0] for a, n in requests]
            frame = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
        hits = self.predict_hits(frame)
        # wall time per sample of the latest call (drawing included): the machine's pace now
        self.seconds_per_sample = (time.perf_counter() - started) / max(rows, 1)
        start = 0
        for (anchor, n), part in zip(requests, parts, strict=True):
            h = hits[start : start + len(part)]
            start += len(part)
            self.total_samples += n
            self.n[anchor] = self.n.get(anchor, 0) + len(h)
            self.pos[anchor] = self.pos.get(anchor, 0) + int(h.sum())

    def predict_hits(self, frame: pd.DataFrame) -> np.ndarray:
        """Whether the model predicts the row's label on each sample (one model call)."""
        assert self.model is not None
        self.model_calls += 1
        scores = np.asarray(
            self.model.predict_scores(self.check_features(frame, self.model)), dtype=np.float64
        )
        return np.argmax(scores, axis=1) == self.label_index

    def child(self, parent: tuple[int, ...], feature: int) -> tuple[int, ...]:
        """Register the anchor ``parent + feature`` (its predicates keep their order)."""
        key = tuple(sorted((*parent, feature)))
        if key not in self.order:
            self.order[key] = [*self.order[parent], feature]
        return key

    def precision(self, anchor: tuple[int, ...]) -> float:
        n = self.n.get(anchor, 0)
        return self.pos.get(anchor, 0) / n if n else math.nan


class AnchorTabular:
    """Anchors for tabular classifiers, fitted on training rows.

    Parameters
    ----------
    train : table
        Training rows (pandas/polars frame, 2-D array...): perturbations are drawn from
        them, so they are required.
    feature_names : sequence of str, optional
        Column names for an array ``train``.
    categorical_features : sequence of str or int, optional
        Columns (names or positions) to treat as categories (predicate: equality). Columns
        that are not numeric are categorical whether listed or not.
    random_state : int or numpy.random.Generator, optional
        Seed of the search. An int gives the same anchor on every call.

    Raises
    ------
    InvalidInputError
        No training rows, a categorical feature not among the training columns, or NaN in a
        numeric training column.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> X, y = load_iris(return_X_y=True, as_frame=True)
    >>> model = DecisionTreeClassifier(max_depth=1, random_state=0).fit(X, y)
    >>> anchor = AnchorTabular(X, random_state=0).explain(model, X.iloc[0])
    >>> anchor.precision >= 0.95
    True
    """

    def __init__(
        self,
        train: Any,
        *,
        feature_names: Sequence[str] | None = None,
        categorical_features: Sequence[str | int] | None = None,
        random_state: int | np.random.Generator | None = 0,
    ) -> None:
        # LIME's explainer does the checks, the quartiles and the row parsing we need
        self._lime = LimeTabular(
            train,
            feature_names=feature_names,
            categorical_features=categorical_features,
            discretize=True,
            random_state=random_state,
            _method="anchors",
        )
        self.train: pd.DataFrame = self._lime.train.reset_index(drop=True)
        self.columns: list[str] = self._lime.columns
        self.categorical: list[str] = self._lime.categorical
        self.numeric: list[str] = self._lime.numeric
        #: columns held at the explained row's value, with why (never in an anchor)
        self.fixed: dict[str, str] = self._lime.fixed
        self._fixed_idx = [j for j, c in enumerate(self.columns) if c in self.fixed]
        self.discretizer = self._lime.discretizer
        self.random_state = random_state
        self._values = {c: self.train[c].to_numpy() for c in self.columns}
        # columns whose numpy values lose the pandas dtype (category, nullable...)
        self._recast = [
            c
            for c in self.columns
            if isinstance(self.train[c].dtype, pd.api.extensions.ExtensionDtype)
        ]
        self._matrix: np.ndarray | None = None
        if all(self.train[c].dtype == np.float64 for c in self.columns):
            self._matrix = self.train.to_numpy(dtype=np.float64)

    # -- predicates -----------------------------------------------------------------------

    def _satisfies(self, column: str, values: Any, row: pd.Series) -> np.ndarray:
        """Whether each value satisfies the row's predicate on ``column``."""
        if column in self.fixed:  # held at the row's value in every sample
            return np.ones(len(values), dtype=bool)
        if column in self.categorical:
            return same_value(values, row[column])
        assert self.discretizer is not None
        b0 = int(self.discretizer.discretize(column, [as_float(row[column])])[0])
        numbers = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)
        return self.discretizer.discretize(column, numbers) == b0

    def _predicate(self, column: str, row: pd.Series) -> str:
        if column in self.categorical:
            return category_rule(column, row[column])
        assert self.discretizer is not None
        b0 = int(self.discretizer.discretize(column, [as_float(row[column])])[0])
        return self.discretizer.rule(column, b0)

    # -- sampling -------------------------------------------------------------------------

    def _draw(
        self, search: _Search, anchor: tuple[int, ...], n: int, rng: np.random.Generator
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """``n`` samples of ``D(.|anchor)`` (model space) and their satisfied predicates."""
        if self._matrix is not None:  # every column float64: one matrix, one frame
            data, sat = self._draw_matrix(search, anchor, n, rng)
            return pd.DataFrame(data, columns=self.columns), sat
        idx = rng.integers(0, len(self.train), size=n)
        sat = search.train_sat[idx].copy()
        columns = {c: self._values[c][idx] for c in self.columns}
        recast = set(self._recast)
        for j in self._fixed_idx:
            c = self.columns[j]
            held = np.empty(n, dtype=object)
            held[:] = [search.row[c]] * n
            columns[c] = held
            if self.train[c].dtype != object:
                recast.add(c)
        for j in anchor:
            c = self.columns[j]
            broken = np.flatnonzero(~sat[:, j])
            if len(broken):
                col = columns[c]
                pool = search.pools[j]
                if len(pool):
                    col[broken] = self._values[c][pool[rng.integers(0, len(pool), len(broken))]]
                else:  # no training value satisfies it: use the row's own value
                    col = col.astype(object)
                    col[broken] = search.row[c]
                    recast.add(c)
                columns[c] = col
            sat[:, j] = True
        frame = pd.DataFrame(columns, columns=self.columns)
        for c in recast:
            try:
                frame[c] = frame[c].astype(self.train[c].dtype)
            except (TypeError, ValueError):
                pass
        return frame, sat

    def _draw_matrix(
        self, search: _Search, anchor: tuple[int, ...], n: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_draw` as a float64 matrix, when every training column is float64 (the
        samples of several anchors then make one frame, not one each)."""
        assert self._matrix is not None
        idx = rng.integers(0, len(self.train), size=n)
        sat = search.train_sat[idx].copy()
        data = self._matrix[idx]
        for j in self._fixed_idx:
            data[:, j] = as_float(search.row[self.columns[j]])
        for j in anchor:
            broken = np.flatnonzero(~sat[:, j])
            if len(broken):
                pool = search.pools[j]
                if len(pool):
                    data[broken, j] = self._matrix[pool[rng.integers(0, len(pool), len(broken))], j]
                else:  # no training value satisfies it: use the row's own value
                    data[broken, j] = as_float(search.row[self.columns[j]])
            sat[:, j] = True
        return data, sat

    def sample(
        self,
        row: Any,
        anchor: Sequence[str],
        n: int,
        *,
        random_state: int | np.random.Generator | None = None,
    ) -> pd.DataFrame:
        """``n`` samples of the perturbation distribution ``D(.|anchor)`` around ``row``.

        Parameters
        ----------
        row : pandas.Series, one-row frame or 1-D array
            The explained row.
        anchor : sequence of str
            The anchored columns (their predicates: the row's bin or category).
        n : int
            Number of samples.
        random_state : int or numpy.random.Generator, optional
            Seed; default the explainer's.

        Returns
        -------
        pandas.DataFrame
            The samples, with the training columns; every anchored predicate holds.
        """
        series = self._lime._row(row)
        unknown = [c for c in anchor if str(c) not in self.columns]
        if unknown:
            raise InvalidInputError(
                f"The anchor names column(s) the training data lacks: "
                f"{', '.join(map(repr, unknown[:10]))}.",
                fix="name training columns, as in AnchorExplanation.columns.",
            )
        seed = self.random_state if random_state is None else random_state
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        search = _Search(self, None, series, -1, rng, 0)
        key = tuple(sorted(self.columns.index(str(c)) for c in anchor))
        return self._draw(search, key, int(n), rng)[0]

    # -- explaining -----------------------------------------------------------------------

    def explain(
        self,
        model: Any,
        row: Any,
        *,
        threshold: float = 0.95,
        delta: float = 0.1,
        tau: float = 0.15,
        batch_size: int = 100,
        beam_size: int = 2,
        max_anchor_size: int | None = None,
        coverage_samples: int = 10_000,
        random_state: int | np.random.Generator | None = None,
        time_limit: float | None = 5.0,
    ) -> AnchorExplanation:
        """The anchor of ``model``'s prediction at ``row``.

        Parameters
        ----------
        model : Model or fitted classifier
            Anything :func:`afterfit.models.as_model` accepts; classifiers only.
        row : pandas.Series, one-row frame or 1-D array
            The row, with the training data's columns (an array in their order).
        threshold : float, default 0.95
            Precision the anchor must reach.
        delta : float, default 0.1
            Allowed error probability of the precision bounds (confidence ``1 - delta``).
        tau : float, default 0.15
            KL-LUCB tolerance when choosing the beam (the paper's epsilon).
        batch_size : int, default 100
            Samples per model call.
        beam_size : int, default 2
            Candidates kept at every anchor size.
        max_anchor_size : int, optional
            Most predicates in an anchor; default the number of features.
        coverage_samples : int, default 10000
            Unconditioned samples behind the coverage estimates.
        random_state : int or numpy.random.Generator, optional
            Overrides the explainer's seed for this call.
        time_limit : float or None, default 5.0
            Seconds the search may take. When it runs out, the search stops before its next
            model call and returns the best anchor so far with ``converged=False`` and its
            precision lower bound (never nothing). ``None``: no limit. Within the limit the
            same seed gives the same anchor; a search the limit stops depends on the speed
            of the machine.

        Returns
        -------
        AnchorExplanation

        Raises
        ------
        SchemaError
            The row has columns the training data lacks, or lacks some of its columns.
        InvalidInputError
            A regression model or a bad option.
        """
        from afterfit.models import as_model

        threshold, delta, tau = float(threshold), float(delta), float(tau)
        for name, value in (("threshold", threshold), ("delta", delta), ("tau", tau)):
            if not 0.0 < value < 1.0:
                raise InvalidInputError(
                    f"The argument {name!r} must lie strictly between 0 and 1; received {value!r}.",
                    fix="use the defaults threshold=0.95, delta=0.1, tau=0.15.",
                )
        for name, value in (
            ("batch_size", batch_size),
            ("beam_size", beam_size),
            ("coverage_samples", coverage_samples),
        ):
            if int(value) < 1:
                raise InvalidInputError(
                    f"The argument {name!r} must be at least 1; received {value!r}.",
                    fix="use a positive integer (defaults: batch_size=100, beam_size=2, "
                    "coverage_samples=10000).",
                )
        n_features = len(self.columns)
        if max_anchor_size is None:
            max_anchor_size = n_features
        elif int(max_anchor_size) < 1:
            raise InvalidInputError(
                f"The argument 'max_anchor_size' must be at least 1; received {max_anchor_size!r}.",
                fix="leave it out to allow up to every feature.",
            )
        max_anchor_size = min(int(max_anchor_size), n_features)
        batch_size, beam_size = int(batch_size), int(beam_size)

        m: Model = as_model(model)
        if m.task == "regression":
            raise InvalidInputError(
                "Anchors explain a classifier's predicted label; the model is a regression model.",
                fix="explain a classifier, or use LimeTabular or permutation importance for "
                "a regression model.",
            )
        series = self._lime._row(row)
        seed = self.random_state if random_state is None else random_state
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

        from afterfit.data import check_features

        row_frame = pd.DataFrame([series.to_list()], columns=self.columns)
        for c in self.columns:
            try:
                row_frame[c] = row_frame[c].astype(self.train[c].dtype)
            except (TypeError, ValueError):
                pass
        row_scores = np.asarray(m.predict_scores(check_features(row_frame, m)), dtype=np.float64)
        label_index = int(np.argmax(row_scores[0]))
        classes = list(m.classes_) if m.classes_ is not None else list(range(row_scores.shape[1]))
        label = classes[label_index]
        if isinstance(label, np.generic):
            label = label.item()

        if time_limit is not None and not (float(time_limit) > 0):
            raise InvalidInputError(
                f"The argument 'time_limit' must be a positive number of seconds or None; "
                f"received {time_limit!r}.",
                fix="use the default 5.0, or None for no limit.",
            )
        started = time.perf_counter()
        search = _Search(self, m, series, label_index, rng, int(coverage_samples))
        if time_limit is not None:
            search.deadline = started + float(time_limit)
        converged = True
        with single_threaded():  # hundreds of small model calls
            try:
                anchor, valid = self._beam(
                    search,
                    threshold=threshold,
                    delta=delta,
                    tau=tau,
                    batch_size=batch_size,
                    beam_size=beam_size,
                    max_anchor_size=max_anchor_size,
                )
            except _OutOfTime:
                converged = False
                anchor, valid = self._best_so_far(search, delta)
            search.deadline = None  # the prefixes below need a few samples at most
            return self._result(
                search, series, anchor, valid, converged, label, threshold, delta, tau,
                batch_size, time.perf_counter() - started,
            )  # fmt: skip

    @staticmethod
    def _best_so_far(search: _Search, delta: float) -> tuple[tuple[int, ...], bool]:
        """The anchor of a search the time limit stopped: the best valid one found, else
        the sampled candidate of highest precision lower bound."""
        if search.best is not None:
            return search.best, True
        beta = math.log(1.0 / delta)
        scored = [
            (dlow_bernoulli(search.pos[k] / n, beta / n), len(k), k)
            for k, n in search.n.items()
            if n > 0 and k
        ]
        if not scored:
            return (), False
        # highest lower bound; among ties the shorter anchor (it covers more)
        scored.sort(key=lambda t: (-t[0], t[1]))
        return scored[0][2], False

    def _result(
        self,
        search: _Search,
        series: pd.Series,
        anchor: tuple[int, ...],
        valid: bool,
        converged: bool,
        label: Any,
        threshold: float,
        delta: float,
        tau: float,
        batch_size: int,
        seconds: float,
    ) -> AnchorExplanation:
        order = search.order[anchor]
        prefixes = [tuple(sorted(order[: k + 1])) for k in range(len(order))]
        wanted = [p for p in prefixes if search.n.get(p, 0) == 0]
        if anchor == () and search.n.get((), 0) == 0:
            wanted.append(())
        search.sample_many([(p, batch_size) for p in wanted])
        precisions = [search.precision(p) for p in prefixes]
        predicates = [self._predicate(self.columns[j], series) for j in order]
        values = [
            series[self.columns[j]].item()
            if isinstance(series[self.columns[j]], np.generic)
            else series[self.columns[j]]
            for j in order
        ]
        n_anchor = int(search.n.get(anchor, 0))
        mean = float(search.precision(anchor))
        lower = dlow_bernoulli(mean, math.log(1.0 / delta) / n_anchor) if n_anchor else math.nan
        return AnchorExplanation(
            rule=" AND ".join(predicates),
            predicates=predicates,
            columns=[self.columns[j] for j in order],
            values=values,
            precision=float(search.precision(anchor)),
            coverage=search.coverage(anchor),
            label=label,
            precisions=[float(p) for p in precisions],
            coverages=[search.coverage(p) for p in prefixes],
            num_samples=int(search.n.get(anchor, 0)),
            valid=valid,
            threshold=threshold,
            delta=delta,
            tau=tau,
            converged=converged,
            precision_lower_bound=float(lower),
            seconds=float(seconds),
        )

    def _beam(
        self,
        search: _Search,
        *,
        threshold: float,
        delta: float,
        tau: float,
        batch_size: int,
        beam_size: int,
        max_anchor_size: int,
    ) -> tuple[tuple[int, ...], bool]:
        """The beam search of the reference ``anchor_beam``: (anchor, valid)."""
        n_features = len(self.columns)
        # the empty anchor: is the label predicted nearly everywhere?
        search.sample((), max(1, batch_size))
        beta = math.log(1.0 / delta)
        mean = search.precision(())
        lb = dlow_bernoulli(mean, beta / search.n[()])
        while mean > threshold and lb < threshold - tau and search.n[()] < _MAX_SAMPLES_PER_ANCHOR:
            search.sample((), batch_size)
            mean = search.precision(())
            lb = dlow_bernoulli(mean, beta / search.n[()])
        if lb > threshold:
            return (), True

        best_of_size: dict[int, list[tuple[int, ...]]] = {0: [()]}
        best_coverage = -1.0
        best: tuple[int, ...] | None = None
        size = 1
        beta_stop = math.log(1.0 / (delta / (1 + (beam_size - 1) * n_features)))
        while size <= max_anchor_size:
            candidates: list[tuple[int, ...]] = []
            for parent in best_of_size[size - 1]:
                for j in range(n_features):
                    if j in parent or self.columns[j] in self.fixed:
                        continue
                    key = search.child(parent, j)
                    if key not in candidates and search.coverage(key) > best_coverage:
                        candidates.append(key)
            if not candidates:
                break
            chosen = self._choose(search, candidates, beam_size, tau, delta, batch_size)
            best_of_size[size] = chosen
            stop = False
            for key in chosen:
                mean, lb, ub = self._bounds(search, key, beta_stop)
                while (
                    (mean >= threshold and lb < threshold - _EPSILON_STOP)
                    or (mean < threshold and ub >= threshold + _EPSILON_STOP)
                ) and search.n[key] < _MAX_SAMPLES_PER_ANCHOR:
                    search.sample(key, batch_size)
                    mean, lb, ub = self._bounds(search, key, beta_stop)
                coverage = search.coverage(key)
                if mean >= threshold and lb > threshold - _EPSILON_STOP:
                    if coverage > best_coverage:
                        best_coverage, best = coverage, key
                        search.best = key
                        if best_coverage == 1.0:
                            stop = True
            if stop:
                break
            size += 1
        if best is not None:
            return best, True
        # no valid anchor: the most precise candidate among every beam
        pool = [k for s in range(1, size) for k in best_of_size.get(s, [])]
        if not pool:
            return (), False
        chosen = self._choose(search, pool, 1, tau, delta, batch_size)
        return chosen[0], False

    @staticmethod
    def _bounds(search: _Search, key: tuple[int, ...], beta: float) -> tuple[float, float, float]:
        n = search.n[key]
        mean = search.precision(key)
        return mean, dlow_bernoulli(mean, beta / n), dup_bernoulli(mean, beta / n)

    @staticmethod
    def _choose(
        search: _Search,
        candidates: list[tuple[int, ...]],
        top_n: int,
        tau: float,
        delta: float,
        batch_size: int,
    ) -> list[tuple[int, ...]]:
        n_samples = np.array([search.n.get(k, 0) for k in candidates], dtype=np.float64)
        positives = np.array([search.pos.get(k, 0) for k in candidates], dtype=np.float64)

        def sample(arm: int, n: int) -> None:
            sample_many([(arm, n)])

        def sample_many(requests: list[tuple[int, int]]) -> None:
            search.sample_many([(candidates[arm], n) for arm, n in requests])
            for arm, _ in requests:
                n_samples[arm] = search.n[candidates[arm]]
                positives[arm] = search.pos[candidates[arm]]

        arms = kl_lucb(
            sample,
            n_samples,
            positives,
            top_n=min(top_n, len(candidates)),
            epsilon=tau,
            delta=delta,
            batch_size=batch_size,
            sample_many=sample_many,
        )
        # best first
        return [candidates[int(a)] for a in arms[::-1]]
