"""Paired resampling: the same bootstrap resamples of the rows for every model.

A resample is drawn once, as row multiplicities over the *original* rows
(:func:`~afterfit.metrics.resampling.resample_counts`), and handed to every model's
metric suite. A binary suite keeps its rows in its own sorted order, so its weight matrix
is the same counts mapped through that order, ``W[:, order]``; multiclass and regression
suites keep the original order. The differences of the replicates are therefore paired:
model ``a`` and model ``b`` are scored on exactly the same resampled rows.

Chunks of resamples are seeded from children of one ``SeedSequence`` (as in
:func:`~afterfit.metrics.resampling.bootstrap`), so the same seed gives the same numbers
however many threads run them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from afterfit.metrics.binary import MetricKey
from afterfit.metrics.kernel import RankedScores
from afterfit.metrics.resampling import (
    CHUNK_CELLS,
    JACKKNIFE_GROUPS,
    Suite,
    chunk_sizes,
    resample_counts,
)


@dataclass(frozen=True, eq=False)
class Scoring:
    """One model's metric suite and how original rows map onto the suite's rows.

    Attributes
    ----------
    name : str
    suite : Suite
        Binary, multiclass or regression metric suite of the model's predictions.
    order : ndarray or None
        ``suite`` row ``p`` is original row ``order[p]`` (binary suites keep the rows in
        sorted order); ``None`` when the suite keeps the original order.
    ranked : RankedScores or None
        Binary: the model's one sort, with its order (for DeLong's test).
    """

    name: str
    suite: Suite
    order: np.ndarray | None = None
    ranked: RankedScores | None = None

    def weights(self, W: np.ndarray) -> np.ndarray:
        """Row weights over the original rows, put in the suite's row order."""
        return W if self.order is None else W[:, self.order]


Replicates = dict[str, dict[MetricKey, np.ndarray]]


def paired_bootstrap(
    scorings: Sequence[Scoring],
    keys: Sequence[MetricKey],
    *,
    n: int,
    weight: np.ndarray | None = None,
    strata: np.ndarray | None = None,
    n_resamples: int = 1000,
    random_state: int | np.random.SeedSequence | None = None,
    progress: Callable[[int], None] | None = None,
    n_jobs: int | None = None,
) -> Replicates:
    """Bootstrap replicates of the metrics ``keys`` of every model, on shared resamples.

    Parameters
    ----------
    scorings : sequence of Scoring
        The models, all scored on the same ``n`` rows.
    keys : sequence of MetricKey
        The metrics to keep.
    n : int
        Number of rows.
    weight : ndarray, optional
        Sample weights in original row order (multiply the multiplicities).
    strata : ndarray, optional
        Resample within each stratum (the classes) in original row order.
    n_resamples : int
    random_state : int or SeedSequence, optional
    progress : callable, optional
        Called with the number of resamples done after each chunk.
    n_jobs : int, optional
        Threads (default: one per core); the numbers do not depend on it.

    Returns
    -------
    dict
        ``replicates[model][key]``: array of shape ``(n_resamples,)``; entry ``b`` of
        every model comes from the same resample ``b``.
    """
    seed = (
        random_state
        if isinstance(random_state, np.random.SeedSequence)
        else np.random.SeedSequence(random_state)
    )
    sizes = chunk_sizes(n, n_resamples)
    children = seed.spawn(len(sizes))

    def replicate(size: int, child: np.random.SeedSequence) -> list[dict[MetricKey, np.ndarray]]:
        C = resample_counts(n, size, np.random.default_rng(child), strata)
        if weight is not None:
            C *= weight
        out = []
        for s in scorings:
            values = s.suite.compute(s.weights(C))
            out.append({k: values[k] for k in keys})
        return out

    parts: dict[str, dict[MetricKey, list[np.ndarray]]] = {
        s.name: {k: [] for k in keys} for s in scorings
    }
    workers = max(1, min(len(sizes), n_jobs or os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for size, chunk in zip(sizes, pool.map(replicate, sizes, children), strict=True):
            for s, values in zip(scorings, chunk, strict=True):
                for k in keys:
                    parts[s.name][k].append(values[k])
            if progress is not None:
                progress(size)
    return {name: {k: np.concatenate(v) for k, v in d.items()} for name, d in parts.items()}


def paired_jackknife(
    scorings: Sequence[Scoring],
    keys: Sequence[MetricKey],
    *,
    n: int,
    weight: np.ndarray | None = None,
) -> Replicates:
    """Grouped leave-one-group-out replicates on the same groups for every model.

    Rows are dealt into ``min(n, 200)`` groups in turn (row ``i`` to group ``i % groups``,
    original order); the BCa acceleration of a difference reads the skewness of the
    jackknife differences.
    """
    groups = min(n, JACKKNIFE_GROUPS)
    label = np.arange(n) % groups
    per = max(1, CHUNK_CELLS // max(n, 1))
    parts: dict[str, dict[MetricKey, list[np.ndarray]]] = {
        s.name: {k: [] for k in keys} for s in scorings
    }
    for start in range(0, groups, per):
        g = np.arange(start, min(groups, start + per))
        W = (label[None, :] != g[:, None]).astype(np.float64)
        if weight is not None:
            W *= weight
        for s in scorings:
            values = s.suite.compute(s.weights(W))
            for k in keys:
                parts[s.name][k].append(values[k])
    return {name: {k: np.concatenate(v) for k, v in d.items()} for name, d in parts.items()}
