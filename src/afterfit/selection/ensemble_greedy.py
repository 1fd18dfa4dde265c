"""Greedy ensemble selection with replacement (Caruana, Niculescu-Mizil, Crew & Ksikes 2004).

Start from the ``n_init`` best single models; at each step add the model (any model, again
if it is already in) whose addition gives the best metric of the averaged predictions on
the selection rows; keep the step whose ensemble scored best. A model added ``c`` times
weighs ``c / total``. Bagged selection repeats this on random subsets of the models and
averages the bags' weights, which guards against overfitting the selection rows when
there are many models.

Ties go to the model listed first, and the best step to the earliest (smallest) ensemble,
so the result is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from afterfit.errors import InvalidInputError
from afterfit.models.base import Task
from afterfit.selection.ensemble_metrics import best_index, lower_is_better, score

__all__ = ["GreedySelection", "greedy_selection"]


@dataclass(frozen=True)
class GreedySelection:
    """What greedy selection chose.

    Attributes
    ----------
    weights : ndarray
        ``(m,)`` weights of the models, summing to 1.
    counts : ndarray
        Times each model was added (summed over bags when bagged).
    curve : ndarray
        Metric of the ensemble after each step (step 0: the initial ensemble), of the
        first bag's run when bagged.
    order : list of int
        The model added at each step, from the start (the initial models first).
    best_step : int
        The step kept (index into ``curve``).
    """

    weights: np.ndarray
    counts: np.ndarray
    curve: np.ndarray
    order: list[int]
    best_step: int


def greedy_selection(
    scores: np.ndarray,
    y: np.ndarray,
    *,
    task: Task,
    metric: str,
    n_iterations: int = 50,
    n_init: int = 1,
    n_bags: int = 0,
    bag_fraction: float = 0.5,
    random_state: int | None = 0,
) -> GreedySelection:
    """Caruana's forward selection with replacement, optionally bagged.

    Parameters
    ----------
    scores : ndarray
        Member predictions on the selection rows: ``(m, n, K)`` class probabilities or
        ``(m, n)`` regression predictions.
    y : ndarray
        Class indices ``0..K-1``, or regression targets.
    task : {"binary", "multiclass", "regression"}
    metric : str
        Metric name (see :func:`afterfit.selection.ensemble_metrics.available_metrics`).
    n_iterations : int
        Models added after the initial ones.
    n_init : int
        Start from this many best single models (each once).
    n_bags : int
        0: plain selection; otherwise the number of bags, each selecting among a random
        ``bag_fraction`` of the models.
    bag_fraction : float
    random_state : int, optional
        Seed of the bags.

    Returns
    -------
    GreedySelection

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0.0, 1.0])
    >>> preds = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    >>> sel = greedy_selection(preds, y, task="regression", metric="mse", n_iterations=3)
    >>> sel.counts.tolist(), sel.best_step  # (0, 0) then (0, 2) average to the target
    ([1, 0, 1], 1)
    """
    m = scores.shape[0]
    if n_iterations < 0 or n_init < 1 or n_init > m:
        raise InvalidInputError(
            f"n_iterations must be >= 0 and n_init between 1 and the number of models ({m}); "
            f"got n_iterations={n_iterations}, n_init={n_init}.",
            fix="pass e.g. n_iterations=50, n_init=1.",
        )
    if n_bags < 0 or not 0 < bag_fraction <= 1:
        raise InvalidInputError(
            f"n_bags must be >= 0 and bag_fraction in (0, 1]; got {n_bags}, {bag_fraction}.",
            fix="pass n_bags=0 (no bagging) or e.g. n_bags=20, bag_fraction=0.5.",
        )
    K = scores.shape[2] if scores.ndim == 3 else 0
    if n_bags == 0:
        counts, curve, order, best = _select(scores, y, task, metric, n_iterations, n_init, K)
        return GreedySelection(counts / counts.sum(), counts, curve, order, best)
    rng = np.random.default_rng(random_state)
    size = max(1, min(m, round(bag_fraction * m)))
    weights = np.zeros(m)
    total = np.zeros(m, dtype=np.int64)
    first: tuple[np.ndarray, list[int], int] | None = None
    for _ in range(n_bags):
        bag = np.sort(rng.choice(m, size=size, replace=False))
        c, curve, order, best = _select(
            scores[bag], y, task, metric, n_iterations, min(n_init, size), K
        )
        weights[bag] += c / c.sum()
        total[bag] += c
        if first is None:
            first = (curve, [int(bag[i]) for i in order], best)
    assert first is not None
    return GreedySelection(weights / n_bags, total, first[0], first[1], first[2])


def _select(
    scores: np.ndarray, y: np.ndarray, task: Task, metric: str, n_iterations: int,
    n_init: int, K: int,
) -> tuple[np.ndarray, np.ndarray, list[int], int]:  # fmt: skip
    m = scores.shape[0]
    single = score(metric, task, y, scores, n_classes=K)
    ranked = sorted(range(m), key=lambda j: _key(single[j], metric))[:n_init]
    counts = np.zeros(m, dtype=np.int64)
    total = np.zeros(scores.shape[1:])
    order: list[int] = []
    for j in ranked:
        counts[j] += 1
        total += scores[j]
        order.append(j)
    curve = [float(score(metric, task, y, total / n_init, n_classes=K))]
    history = [counts.copy()]
    for step in range(n_iterations):
        size = n_init + step + 1
        candidates = (total[None] + scores) / size
        values = score(metric, task, y, candidates, n_classes=K)
        j = best_index(values, metric)
        counts[j] += 1
        total += scores[j]
        order.append(j)
        curve.append(float(values[j]))
        history.append(counts.copy())
    best = best_index(curve, metric)
    return history[best].astype(np.int64), np.array(curve), order[: n_init + best], best


def _key(value: float, metric: str) -> float:
    if not np.isfinite(value):
        return np.inf
    return value if lower_is_better(metric) else -value
