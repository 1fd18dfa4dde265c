"""Bootstrap and jackknife over a metric suite, without re-sorting anything.

A suite computes every metric from a ``(B, n)`` matrix of row weights. A bootstrap
resample is a row of integer multiplicities (how often each row was drawn); a jackknife
replicate is a row with zeros on the left-out rows. Both go through the same
``suite.compute``. Resamples are drawn in fixed-size chunks, each from its own child of one
``SeedSequence``, so the same seed gives the same numbers however the chunks are run.

Large data (more than :data:`LARGE_N` rows): an *m-out-of-n rescaled bootstrap*. A seeded
(stratified) subsample ``S`` of ``m`` rows is drawn without replacement, ``S`` is bootstrapped
at its own size, and every replicate is put back on the scale of ``n`` rows around the
full-data estimate: ``rep = est_n + (m/n)**rate * (rep_S - est_S)``. ``rate`` is the
exponent of the statistic's rate of convergence: 1/2 for smooth (root-n) statistics, 1/3 for
an argmax such as a re-optimised threshold (Kim & Pollard 1990), -1/2 for a sum that grows
with ``n`` (a count). Politis & Romano (1994), Bickel, Götze & van Zwet (1997). The point
estimate always uses every row; the cost falls from ``B x n`` to ``B x m`` cells.

Large data, a suite with ``cells`` (unweighted binary metrics, binary calibration): the
*bootstrap of grouped counts* instead. Rows are merged into cells of one class and one of
about :data:`CELL_BINS` score bins (whole tie groups, cut wherever a metric reads a fixed
threshold); a resample's multiplicities summed per cell are one multinomial draw per class,
so the resampled cell counts are those of the row bootstrap of every row, at a cost of
``B x cells``, and no rescaling is needed. Each cell stands for its rows by their mean
values; replicates are recentred on the full-data estimate (``est_n + rep - est_cells``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.special import ndtr, ndtri

from afterfit.errors import AfterfitWarning, InvalidInputError
from afterfit.metrics.binary import MetricKey
from afterfit.metrics.ranges import clip, key_bounds

#: Cells (resamples x rows) per chunk: bounds memory at a few hundred MB for any n.
CHUNK_CELLS = 4_000_000
#: Groups in the grouped jackknife that estimates the BCa acceleration.
JACKKNIFE_GROUPS = 200
#: Above this many rows, :func:`bootstrap` resamples a subsample of this many rows
#: (m-out-of-n, rescaled); see the module docstring.
LARGE_N = 100_000
#: Score bins of the bootstrap of grouped counts that a suite with ``cells`` uses above
#: ``LARGE_N`` rows instead of the m-out-of-n bootstrap (module docstring). The cost is
#: ``B x 2 x CELL_BINS``; the spread of per-row losses inside a cell, which the cells leave
#: out, was below 2e-4 of their variance at 1,000,000 rows (benchmarks/bench_report.py's
#: data and a 5%-positive one), and the exact cuts keep every threshold metric exact.
CELL_BINS = 1024
#: Chunks of resamples the bootstrap of grouped counts draws (their seeds fixed by count).
CELL_CHUNKS = 4
#: Rate exponent of a smooth (root-n consistent) statistic.
ROOT_N = 0.5

#: The rate exponent of each metric: a mapping (missing keys: 1/2) or a function of the key.
Rates = Mapping[MetricKey, float] | Callable[[MetricKey], float]


class Suite(Protocol):
    """What resampling needs of a metric suite.

    A suite may also have ``subset(rows) -> Suite``: the same metrics on the rows at the
    given (ascending) positions of its own row order, with the same definitions (decision
    threshold, bin edges...). Without it, :func:`bootstrap` always resamples every row.
    """

    @property
    def n(self) -> int: ...
    @property
    def strata(self) -> np.ndarray | None: ...

    weight: np.ndarray | None

    def compute(
        self, W: np.ndarray | None = None, *, bands: bool = False
    ) -> dict[MetricKey, np.ndarray]: ...


def check_interval_options(
    *,
    confidence: float,
    n_resamples: int | None = None,
    bootstrap_method: str | None = None,
    no_intervals: str | None = None,
) -> None:
    """Check the options every step with intervals shares.

    ``no_intervals`` says how the caller turns intervals off (``"ci='none'"``,
    ``"n_resamples=0"``); ``n_resamples`` of 0 is then allowed when that is the way.
    """
    if not 0 < confidence < 1:
        raise InvalidInputError(
            f"confidence must be between 0 and 1; got {confidence}.",
            fix="pass confidence=0.95 for 95% intervals.",
        )
    if n_resamples is not None:
        zero_ok = no_intervals == "n_resamples=0" and n_resamples == 0
        if int(n_resamples) != n_resamples or (n_resamples < 2 and not zero_ok):
            also = f", or {no_intervals} for no intervals" if no_intervals else ""
            raise InvalidInputError(
                f"n_resamples must be at least 2 for bootstrap intervals; got {n_resamples}.",
                fix=f"pass n_resamples=1000 (the default){also}.",
            )
    if bootstrap_method is not None and bootstrap_method not in ("bca", "percentile"):
        raise InvalidInputError(
            f"bootstrap_method must be 'bca' or 'percentile'; got {bootstrap_method!r}.",
            fix="pass bootstrap_method='bca' (the default) or 'percentile'.",
        )


def resample_counts(
    n: int,
    size: int,
    rng: np.random.Generator,
    strata: np.ndarray | None = None,
) -> np.ndarray:
    """``size`` bootstrap resamples of ``n`` rows as multiplicities, shape ``(size, n)``.

    With ``strata``, each stratum is resampled on its own so its size never changes.
    """
    if strata is None:
        draws = rng.integers(0, n, size=(size, n))
    else:
        parts = []
        for s in np.unique(strata):
            members = np.flatnonzero(strata == s)
            parts.append(members[rng.integers(0, members.size, size=(size, members.size))])
        draws = np.concatenate(parts, axis=1)
    counts = np.empty((size, n))
    # Row by row: each row's counts fit in cache, so this is twice as fast as one
    # bincount over the whole chunk.
    for row, drawn in zip(counts, draws, strict=True):
        row[:] = np.bincount(drawn, minlength=n)
    return counts


def subsample_rows(
    n: int, m: int, rng: np.random.Generator, strata: np.ndarray | None = None
) -> np.ndarray:
    """Positions of ``m`` of ``n`` rows drawn without replacement, ascending.

    With ``strata``, each stratum gives its share ``m * n_s / n`` (rounded by largest
    remainder, at least one row), so the subsample keeps the class proportions.
    """
    if strata is None:
        return np.sort(rng.choice(n, size=m, replace=False))
    _, inverse, counts = np.unique(strata, return_inverse=True, return_counts=True)
    quota = counts * (m / n)
    take = np.floor(quota).astype(np.int64)
    short = m - int(take.sum())
    take[np.argsort(take - quota, kind="stable")[:short]] += 1
    take = np.minimum(np.maximum(take, 1), counts)
    parts = [
        rng.choice(np.flatnonzero(inverse == i), size=int(k), replace=False)
        for i, k in enumerate(take)
    ]
    return np.sort(np.concatenate(parts))


@dataclass(frozen=True)
class BootstrapDraws:
    """Point estimates, bootstrap replicates and jackknife replicates of every metric.

    With an m-out-of-n bootstrap, ``subsample`` is ``m``; the replicates are already on the
    scale of all rows, while the jackknife replicates are those of the subsample, so the BCa
    acceleration they give is multiplied by ``acceleration_scale`` (``sqrt(m / n)``).
    """

    estimate: dict[MetricKey, np.ndarray]
    replicates: dict[MetricKey, np.ndarray]
    jackknife: dict[MetricKey, np.ndarray] | None
    n_resamples: int
    stratified: bool
    subsample: int | None = None
    acceleration_scale: float = 1.0
    #: With :func:`bootstrap_grouped` over merged score bins: how many bins (None: the
    #: groups were the tie groups themselves, so the resampling was exact).
    bins: int | None = None
    #: Resampled as counts of cells (class x score bin) of a whole suite (large data).
    cells: bool = False

    def method(self, kind: str) -> str:
        """The text of an interval's method: ``"stratified bootstrap BCa"``..."""
        tag = "stratified " if self.stratified else ""
        size = f", m-out-of-n (m={self.subsample:,})" if self.subsample else ""
        if self.bins:
            size += f", grouped counts in {self.bins:,} score bins"
        elif self.cells:
            size += ", grouped counts per class and score"
        return f"{tag}bootstrap {kind}{size}"


def chunk_sizes(n: int, total: int, min_chunks: int = 1) -> list[int]:
    per = max(1, min(total, CHUNK_CELLS // max(n, 1), -(-total // min_chunks)))
    sizes = [per] * (total // per)
    if total % per:
        sizes.append(total % per)
    return sizes


def bootstrap(
    suite: Suite,
    *,
    n_resamples: int = 1000,
    stratify: bool = True,
    jackknife: bool = True,
    bands: bool = False,
    random_state: int | np.random.SeedSequence | None = None,
    progress: Callable[[int], None] | None = None,
    n_jobs: int | None = None,
    max_rows: int | None = LARGE_N,
    rates: Rates | None = None,
    by_cells: bool = True,
    cell_bins: int = CELL_BINS,
) -> BootstrapDraws:
    """Draw ``n_resamples`` bootstrap replicates of every metric of ``suite``.

    ``n_jobs`` threads (default: one per core) work on chunks of resamples at once.

    When the suite has more than ``max_rows`` rows (and a ``subset`` method), the bootstrap
    is m-out-of-n with ``m = max_rows``: resamples of a seeded subsample, rescaled to all
    rows (module docstring). ``rates`` gives each metric's rate exponent there (default
    1/2). ``max_rows=None`` or ``0``: always every row.

    Above ``max_rows`` rows, a suite that can merge its rows into cells of one class and
    nearly equal scores (``suite.cells``: unweighted binary metrics and calibration) is
    resampled instead by the bootstrap of grouped counts over those cells, at every row's
    scale and without rescaling (module docstring); ``by_cells=False`` keeps the
    m-out-of-n bootstrap for it. ``cell_bins`` is how many score bins the cells aim at
    (1: only the suite's own cuts, for a caller that reads only the metrics at those cuts).
    """
    check_interval_options(confidence=0.5, n_resamples=n_resamples)
    if max_rows is not None and (
        isinstance(max_rows, bool) or not isinstance(max_rows, int | np.integer) or max_rows < 0
    ):
        raise InvalidInputError(
            f"max_rows must be a whole number >= 0 or None; got {max_rows!r}.",
            fix=f"pass max_rows={LARGE_N} (the default), or None to resample every row.",
        )
    point = {k: v[0] for k, v in suite.compute(bands=bands).items()}
    seed = (
        random_state
        if isinstance(random_state, np.random.SeedSequence)
        else np.random.SeedSequence(random_state)
    )
    strata = suite.strata if stratify else None
    large = bool(max_rows) and suite.n > max_rows  # type: ignore[operator]
    cells = suite.cells(cell_bins) if large and by_cells and hasattr(suite, "cells") else None
    if cells is not None:
        return _by_cells(
            suite, point, cells, seed, n_resamples=n_resamples, stratify=stratify,
            jackknife=jackknife, bands=bands, progress=progress, n_jobs=n_jobs,
        )  # fmt: skip
    if max_rows and suite.n > max_rows and hasattr(suite, "subset"):
        return _m_out_of_n(
            suite, point, int(max_rows), seed, strata,
            n_resamples=n_resamples, stratify=stratify, jackknife=jackknife, bands=bands,
            progress=progress, n_jobs=n_jobs, rates=rates,
        )  # fmt: skip
    sizes = chunk_sizes(suite.n, n_resamples)
    children = seed.spawn(len(sizes))

    def replicate(size: int, child: np.random.SeedSequence) -> dict[MetricKey, np.ndarray]:
        W = resample_counts(suite.n, size, np.random.default_rng(child), strata)
        if suite.weight is not None:
            W *= suite.weight
        return suite.compute(W, bands=bands)

    parts = _run_chunks(replicate, sizes, children, point, n_jobs, progress)
    replicates = {k: np.concatenate(v) for k, v in parts.items()}
    jack = grouped_jackknife(suite) if jackknife else None
    return BootstrapDraws(point, replicates, jack, n_resamples, strata is not None)


class GroupedSuite(Protocol):
    """What :func:`bootstrap_grouped` needs: per-class counts of rows in each score group,
    and every metric as a function of a batch of such counts."""

    @property
    def cells(self) -> np.ndarray: ...  # (K, G) row counts of class k in group g

    @property
    def bins(self) -> int | None: ...  # groups merged into bins: how many (else None)

    def compute_cells(self, C: np.ndarray) -> dict[MetricKey, np.ndarray]: ...


def resample_cells(
    cells: np.ndarray, size: int, rng: np.random.Generator, *, stratify: bool
) -> np.ndarray:
    """``size`` bootstrap resamples of the rows behind ``cells`` (``(K, G)`` counts of
    class ``k`` in score group ``g``), as resampled counts ``(size, K, G)``.

    Drawing ``n`` rows with replacement and counting them per cell is one multinomial draw
    over the cells with probabilities ``cells / n``; stratified, one per class (its size
    fixed). So this is the row bootstrap itself, in ``K x G`` draws instead of ``n``.
    """
    cells = np.asarray(cells, dtype=np.int64)
    K, G = cells.shape
    out = np.empty((size, K, G))
    if stratify:
        for k in range(K):
            n_k = int(cells[k].sum())
            if n_k:
                out[:, k, :] = rng.multinomial(n_k, cells[k] / n_k, size=size)
            else:
                out[:, k, :] = 0.0
        return out
    n = int(cells.sum())
    out[:] = rng.multinomial(n, cells.ravel() / n, size=size).reshape(size, K, G)
    return out


def bootstrap_grouped(
    suite: GroupedSuite,
    *,
    n_resamples: int = 1000,
    stratify: bool = True,
    random_state: int | np.random.SeedSequence | None = None,
    progress: Callable[[int], None] | None = None,
    n_jobs: int | None = None,
) -> BootstrapDraws:
    """The bootstrap of grouped counts: resample the per-class counts of the score groups
    (:func:`resample_cells`) instead of the rows, for a suite whose metrics depend on the
    rows only through those counts (a threshold search over cumulative sums).

    With the tie groups as groups the replicates have exactly the row bootstrap's
    distribution, at a cost of ``B x K x G`` instead of ``B x n``; with merged bins
    (``suite.bins``) the thresholds a replicate can pick are the bin boundaries. No
    jackknife (percentile intervals only). Same seeds, same numbers, for any ``n_jobs``.
    """
    check_interval_options(confidence=0.5, n_resamples=n_resamples)
    point = {k: v[0] for k, v in suite.compute_cells(np.asarray(suite.cells)[None]).items()}
    seed = (
        random_state
        if isinstance(random_state, np.random.SeedSequence)
        else np.random.SeedSequence(random_state)
    )
    sizes = chunk_sizes(int(np.asarray(suite.cells).size), n_resamples)
    children = seed.spawn(len(sizes))

    def replicate(size: int, child: np.random.SeedSequence) -> dict[MetricKey, np.ndarray]:
        C = resample_cells(suite.cells, size, np.random.default_rng(child), stratify=stratify)
        return suite.compute_cells(C)

    parts = _run_chunks(replicate, sizes, children, point, n_jobs, progress)
    replicates = {k: np.concatenate(v) for k, v in parts.items()}
    return BootstrapDraws(point, replicates, None, n_resamples, stratify, bins=suite.bins)


def _by_cells(
    suite: Suite,
    point: dict[MetricKey, np.ndarray],
    cells: tuple[np.ndarray, Suite, int | None],
    seed: np.random.SeedSequence,
    *,
    n_resamples: int,
    stratify: bool,
    jackknife: bool,
    bands: bool,
    progress: Callable[[int], None] | None,
    n_jobs: int | None,
) -> BootstrapDraws:
    """The bootstrap of grouped counts for a whole suite (module docstring).

    ``cells`` is ``suite.cells(...)``: the cell of each row and a suite with one row per
    cell. A resample's multiplicities summed per cell are one multinomial draw over the
    cells (per class when stratified), so only ``B x cells`` counts are drawn and computed
    on. Replicates are recentred on the full-data estimate,
    ``rep = est_n + (rep_cells - est_cells)``: where the cells keep a statistic exact
    (confusion counts, calibration bins) the two estimates are equal; elsewhere (ranking
    metrics with bin-mates tied) this removes the binning's small bias from the interval.
    The jackknife leaves out the same interleaved row groups as :func:`grouped_jackknife`,
    as counts per cell.
    """
    cell, by_cell, bins = cells
    n_cells = by_cell.n
    counts = np.bincount(cell, minlength=n_cells).astype(np.float64)
    estimate = {k: v[0] for k, v in by_cell.compute(counts[None], bands=bands).items()}
    strata = by_cell.strata if stratify else None
    # A few cells fit many resamples in one chunk; four chunks (a fixed number, so the
    # draws do not depend on the machine) let the threads share the work.
    sizes = chunk_sizes(n_cells, n_resamples, min_chunks=CELL_CHUNKS)
    children = seed.spawn(len(sizes))

    def replicate(size: int, child: np.random.SeedSequence) -> dict[MetricKey, np.ndarray]:
        W = resample_cell_counts(counts, size, np.random.default_rng(child), strata)
        return by_cell.compute(W, bands=bands)

    parts = _run_chunks(replicate, sizes, children, point, n_jobs, progress)
    replicates = {}
    for key, v in parts.items():
        with np.errstate(invalid="ignore"):
            rescaled = point[key] + (np.concatenate(v) - estimate[key])
        lo, hi = key_bounds(key)
        replicates[key] = np.clip(rescaled, lo, hi) if lo > -np.inf or hi < np.inf else rescaled
    jack = None
    if jackknife:
        groups = min(suite.n, JACKKNIFE_GROUPS)
        label = np.arange(suite.n) % groups
        left_out = np.bincount(label * n_cells + cell, minlength=groups * n_cells)
        jack = {}
        W_jack = counts[None, :] - left_out.reshape(groups, n_cells)
        for start in range(0, groups, max(1, CHUNK_CELLS // n_cells)):
            W = W_jack[start : start + max(1, CHUNK_CELLS // n_cells)]
            for k, v in by_cell.compute(W).items():
                jack.setdefault(k, []).append(v)
        jack = {k: np.concatenate(v) for k, v in jack.items()}
    return BootstrapDraws(
        point, replicates, jack, n_resamples, strata is not None, bins=bins, cells=True
    )


def resample_cell_counts(
    counts: np.ndarray, size: int, rng: np.random.Generator, strata: np.ndarray | None
) -> np.ndarray:
    """``size`` bootstrap resamples of the rows behind ``counts`` (rows per cell), as
    resampled counts per cell, ``(size, cells)``: one multinomial draw over the cells, or
    one per stratum (its size fixed) when ``strata`` gives each cell's stratum."""
    out = np.zeros((size, counts.size))
    groups = [np.arange(counts.size)] if strata is None else [
        np.flatnonzero(strata == s) for s in np.unique(strata)
    ]  # fmt: skip
    for members in groups:
        n_s = int(np.rint(counts[members].sum()))
        if n_s:
            out[:, members] = rng.multinomial(n_s, counts[members] / n_s, size=size)
    return out


def _rate(rates: Rates | None, key: MetricKey) -> float:
    if rates is None:
        return ROOT_N
    if isinstance(rates, Mapping):
        return float(rates.get(key, ROOT_N))
    return float(rates(key))


def _m_out_of_n(
    suite: Suite,
    point: dict[MetricKey, np.ndarray],
    m: int,
    seed: np.random.SeedSequence,
    strata: np.ndarray | None,
    *,
    rates: Rates | None,
    **options,
) -> BootstrapDraws:
    """Bootstrap a subsample of ``m`` rows and rescale its replicates to all rows."""
    n = suite.n
    pick, resample = seed.spawn(2)
    rows = subsample_rows(n, m, np.random.default_rng(pick), strata)
    sub = suite.subset(rows)  # type: ignore[attr-defined]
    inner = bootstrap(sub, random_state=resample, max_rows=None, **options)
    m = int(rows.size)  # a stratum too small for its share may add a row or two
    replicates = {}
    for key, reps in inner.replicates.items():
        factor = (m / n) ** _rate(rates, key)
        with np.errstate(invalid="ignore"):
            rescaled = point[key] + factor * (reps - inner.estimate[key])
        # Rescaling can carry a replicate past an edge the statistic cannot cross (an
        # accuracy above 1); the statistic's range holds it (bands included).
        lo, hi = key_bounds(key)
        replicates[key] = np.clip(rescaled, lo, hi) if lo > -np.inf or hi < np.inf else rescaled
    return BootstrapDraws(
        point, replicates, inner.jackknife, inner.n_resamples, inner.stratified,
        subsample=m, acceleration_scale=float(np.sqrt(m / n)),
    )  # fmt: skip


def _jackknife_weights(n: int, weight: np.ndarray | None) -> Iterator[np.ndarray]:
    groups = min(n, JACKKNIFE_GROUPS)
    # Interleaved over the suite's (sorted) order, so each group spans the score range.
    label = np.arange(n) % groups
    per = max(1, CHUNK_CELLS // max(n, 1))
    for start in range(0, groups, per):
        g = np.arange(start, min(groups, start + per))
        W = (label[None, :] != g[:, None]).astype(np.float64)
        if weight is not None:
            W *= weight
        yield W


def grouped_jackknife(suite: Suite) -> dict[MetricKey, np.ndarray]:
    """Leave-one-group-out replicates (exact jackknife when ``n <= JACKKNIFE_GROUPS``).

    The BCa acceleration only needs the jackknife's skewness; a few hundred groups
    estimate it well and cost a fifth of the bootstrap instead of ``n`` evaluations.
    """
    parts: dict[MetricKey, list[np.ndarray]] = {}
    for W in _jackknife_weights(suite.n, suite.weight):
        for k, v in suite.compute(W).items():
            parts.setdefault(k, []).append(v)
    return {k: np.concatenate(v) for k, v in parts.items()}


def percentile_interval(replicates: np.ndarray, confidence: float) -> tuple[float, float]:
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return (np.nan, np.nan)
    alpha = 1 - confidence
    lo, hi = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def pointwise_band(replicates: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile band of a curve drawn on a grid, column by column (``(B, m)`` in)."""
    alpha = 1 - confidence
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
        lo, hi = np.nanquantile(replicates, [alpha / 2, 1 - alpha / 2], axis=0)
    return lo, hi


def bca_interval(
    estimate: float,
    replicates: np.ndarray,
    jackknife: np.ndarray,
    confidence: float,
    *,
    acceleration_scale: float = 1.0,
) -> tuple[float, float] | None:
    """Efron's bias-corrected and accelerated interval; ``None`` where it is undefined or
    degenerate.

    Degenerate: the estimate outside the bootstrap distribution (no bias correction), a
    jackknife without spread (the acceleration is 0 / 0: the statistic does not move when
    rows are left out, as a maximum or a median often does not), an acceleration so large
    that the adjusted levels stop increasing, or an interval that leaves out the estimate
    itself. The caller then falls back to the percentile interval and says so.

    ``acceleration_scale`` multiplies the acceleration: ``sqrt(m / n)`` when the jackknife
    ran on a subsample of ``m`` of the ``n`` rows (the acceleration falls as ``1/sqrt(n)``).
    """
    finite = replicates[np.isfinite(replicates)]
    jack = jackknife[np.isfinite(jackknife)]
    if finite.size == 0 or not np.isfinite(estimate) or jack.size < 2:
        return None
    estimate = float(estimate)
    below = np.mean(finite < estimate) + 0.5 * np.mean(finite == estimate)
    if below <= 0 or below >= 1:
        return None
    z0 = ndtri(below)
    d = jack.mean() - jack
    den = 6.0 * np.sum(d**2) ** 1.5
    if not den > 0:
        return None
    a = float(np.sum(d**3) / den) * acceleration_scale
    alpha = 1 - confidence
    z = ndtri(np.array([alpha / 2, 1 - alpha / 2]))
    # 1 - a (z0 + z) <= 0 folds the adjusted level back on itself: not monotone in z.
    if np.any(1 - a * (z0 + z) <= 0):
        return None
    adjusted = ndtr(z0 + (z0 + z) / (1 - a * (z0 + z)))
    if not np.all(np.isfinite(adjusted)) or adjusted[0] >= adjusted[1]:
        return None
    lo, hi = np.quantile(finite, adjusted)
    if not lo <= estimate <= hi:
        return None
    return float(lo), float(hi)


#: Kinds of interval :func:`replicate_interval` gives, for the ``method`` text.
BCA, PERCENTILE, BCA_DEGENERATE = "BCa", "percentile", "percentile (BCa degenerate)"


def no_spread(finite: np.ndarray, estimate: float) -> bool:
    """Whether resampled values are all the same (up to round-off of their sums)."""
    if finite.size == 0:
        return False
    scale = max(1.0, abs(float(estimate))) if np.isfinite(estimate) else 1.0
    return bool(np.ptp(finite) <= 1e-12 * scale)


def replicate_interval(
    estimate: float,
    replicates: np.ndarray,
    jackknife: np.ndarray | None,
    *,
    confidence: float,
    method: str,
    describe: Callable[[str], str],
    limits: tuple[float, float] = (-np.inf, np.inf),
    acceleration_scale: float = 1.0,
) -> tuple[float, float, str]:
    """The interval of one statistic from its resampled values, and the method text.

    Every resampling interval of afterfit goes through here, so all follow the same rules:

    * no finite replicate, or replicates without spread (every resample gave the same
      value): no interval (NaN ends) and ``method`` says why, rather than a zero-width
      interval that claims certainty the data do not give;
    * ``method="bca"`` with jackknife values: BCa, or the percentile interval with
      ``"percentile (BCa degenerate)"`` where BCa is undefined or degenerate
      (:func:`bca_interval`);
    * a percentile interval that leaves out the estimate says so in ``method``: the
      statistic is biased at these data, which BCa would have corrected;
    * the ends are clipped to ``limits``, the statistic's range
      (:func:`afterfit.metrics.ranges.key_bounds`): rescaled m-out-of-n replicates can
      cross an edge that the statistic itself cannot.

    ``describe(kind)`` turns a kind (``"BCa"``, ``"percentile"``...) into the full text,
    e.g. ``"stratified bootstrap BCa"``.
    """
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return np.nan, np.nan, f"none ({describe('resamples')}: none gave a value)"
    if no_spread(finite, estimate):
        return (
            np.nan,
            np.nan,
            f"none ({describe('resamples')}: every one gave {float(finite[0]):.6g}; "
            "no spread, so no interval)",
        )
    kind = PERCENTILE
    if method == "bca" and jackknife is not None:
        ci = bca_interval(
            estimate, finite, jackknife, confidence, acceleration_scale=acceleration_scale
        )
        if ci is not None:
            lo, hi = clip(*ci, limits)
            return lo, hi, describe(BCA)
        kind = BCA_DEGENERATE
    lo, hi = clip(*percentile_interval(finite, confidence), limits)
    if np.isfinite(estimate) and not lo <= estimate <= hi:
        # The resamples sit on one side of the estimate: the statistic is biased there
        # (an ECE of well-calibrated forecasts; a maximum). Said, not hidden.
        kind = f"{kind}, excluding the estimate: a biased statistic"
    return lo, hi, describe(kind)


def bootstrap_interval(
    draws: BootstrapDraws, key: MetricKey, *, confidence: float, method: str
) -> tuple[float, float, str]:
    """The interval of one metric and the method that produced it
    (:func:`replicate_interval`, within the range of ``key``'s metric)."""
    reps = draws.replicates[key]
    bad = int(np.count_nonzero(~np.isfinite(reps)))
    if bad and np.isfinite(draws.estimate[key]):
        warnings.warn(
            f"{key[0]}{'' if key[1] is None else f' [{key[1]}]'}: {bad} of {reps.size} "
            "bootstrap resamples gave no value (e.g. one class only); the interval uses "
            "the rest. Stratified resampling (stratify=True) avoids most of these.",
            AfterfitWarning,
            stacklevel=3,
        )
    # Statistics drawn only with the bands (the KS) have no jackknife: percentile.
    jack = None if draws.jackknife is None else draws.jackknife.get(key)
    return replicate_interval(
        float(draws.estimate[key]), reps, jack, confidence=confidence, method=method,
        describe=draws.method, limits=key_bounds(key),
        acceleration_scale=draws.acceleration_scale,
    )  # fmt: skip


def _run_chunks(
    replicate: Callable[[int, np.random.SeedSequence], dict[MetricKey, np.ndarray]],
    sizes: list[int],
    children: list[np.random.SeedSequence],
    point: dict[MetricKey, np.ndarray],
    n_jobs: int | None,
    progress: Callable[[int], None] | None,
) -> dict[MetricKey, list[np.ndarray]]:
    """Each chunk's replicates, per metric, in chunk order.

    NumPy releases the GIL in its loops, so threads share the cores; each chunk has its own
    seed, so the numbers do not depend on how many threads ran.
    """
    parts: dict[MetricKey, list[np.ndarray]] = {k: [] for k in point}
    workers = max(1, min(len(sizes), n_jobs or os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for size, values in zip(sizes, pool.map(replicate, sizes, children), strict=True):
            for k, v in values.items():
                parts[k].append(v)
            if progress is not None:
                progress(size)
    return parts
