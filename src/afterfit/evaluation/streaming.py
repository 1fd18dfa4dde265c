"""Evaluation of predictions past one machine's memory: one pass, mergeable statistics.

``evaluate_dataset("preds/", target="y", score=["proba"])`` reads a partitioned Parquet
dataset (a folder or glob of files, :mod:`afterfit.partitions`) batch by batch and keeps,
per partition, statistics that add up:

- **exact counts**: the confusion matrix at the decision threshold (multiclass: at the
  predicted class), and so every threshold metric (accuracy, precision, recall, F1, MCC,
  kappa..., per class and averaged);
- **exact sums**: log loss and Brier score (classification), the weighted moments behind MAE, RMSE,
  R², explained variance and MAPE (regression, merged with Chan's update so large means do
  not cancel), the calibration bins' weights, positives and score sums;
- **score histograms per class** (:class:`~afterfit.evaluation.histogram.ScoreHistogram`;
  multiclass: one per class, that class against the rest) for ROC AUC, average precision
  and the curves: exact while the scores have at most
  ``max_bins`` distinct values, otherwise fine bins with the bound on the error reported
  next to the value (in its ``method``): one pass, bounded, no second pass;
- a **uniform sample** drawn in the same pass (Bernoulli per row, each partition with its
  own seeded generator), on which the intervals are the m-out-of-n rescaled bootstrap of
  :mod:`afterfit.metrics.resampling` around the full-data estimates.

Partitions are counted apart and merged in partition order, in this process or on a Dask
cluster (``backend="dask"``): the same seed gives the same numbers, bit for bit, both ways.
The result is the :class:`~afterfit.evaluation.evaluate.Evaluation` that
:func:`~afterfit.evaluation.evaluate_predictions` returns; its ``predictions`` hold the
sample (their ``n`` is every row).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from afterfit.errors import AfterfitError, DataError, InvalidInputError, MetricError
from afterfit.evaluation.evaluate import (
    MAX_RESIDUAL_POINTS,
    Evaluation,
    EvaluationSettings,
    _check_options,
    binary_evaluation,
    multiclass_evaluation,
)
from afterfit.evaluation.histogram import MAX_BINS, ScoreHistogram
from afterfit.evaluation.results import (
    MetricTable,
    MetricValue,
    ResidualsResult,
)
from afterfit.metrics import intervals
from afterfit.metrics.binary import (
    PROPORTIONS,
    BinarySuite,
    MetricKey,
    _row_losses,
)
from afterfit.metrics.kernel import RankedScores
from afterfit.metrics.multiclass import MulticlassSuite, multiclass_metrics
from afterfit.metrics.ranges import key_bounds
from afterfit.metrics.regression import RegressionSuite, _score
from afterfit.metrics.resampling import LARGE_N, BootstrapDraws, bootstrap, bootstrap_interval
from afterfit.predictions import Predictions, label_text

__all__ = ["SAMPLE_ROWS", "StreamSpec", "StreamedPredictions", "evaluate_dataset"]

#: Rows of the uniform sample the intervals resample (m of m-out-of-n), as in memory.
SAMPLE_ROWS = LARGE_N


@dataclass(frozen=True, eq=False)
class StreamedPredictions(Predictions):
    """Predictions of a streamed dataset: the arrays are the uniform sample drawn in the
    pass (for residual plots and resampling), ``n`` counts every row."""

    n_total: int = 0

    @property
    def n(self) -> int:
        return self.n_total


@dataclass(frozen=True)
class StreamSpec:
    """What to read from each partition and how to encode it (sent to every worker)."""

    target: str
    score: tuple[str, ...]
    weight: str | None = None
    task: str | None = None
    classes: tuple[Any, ...] | None = None
    pos_label: Any = None
    probabilities: bool | None = None
    threshold: float | None = None
    labels_as_text: bool = False
    n_bins: int = 10
    max_bins: int = MAX_BINS
    sample_rate: float = 1.0
    seed: int = 0
    batch_rows: int = 1 << 20

    @property
    def columns(self) -> list[str]:
        extra = [] if self.weight is None else [self.weight]
        return list(dict.fromkeys([self.target, *self.score, *extra]))

    def encode(self, batch: Any, path: Path) -> Predictions:
        """One record batch as checked :class:`Predictions` (the in-memory checks)."""
        y = batch.column(self.target).to_numpy(zero_copy_only=False)
        if self.labels_as_text:
            y = y.astype(str)
        cols = [batch.column(c).to_numpy(zero_copy_only=False) for c in self.score]
        scores = cols[0] if len(cols) == 1 else np.column_stack(cols)
        weight = None
        if self.weight is not None:
            weight = batch.column(self.weight).to_numpy(zero_copy_only=False)
        classes = None if self.classes is None else list(self.classes)
        try:
            return Predictions.from_arrays(
                y, scores, task=self.task, classes=classes,  # type: ignore[arg-type]
                pos_label=self.pos_label, sample_weight=weight,
                scores_are_probabilities=self.probabilities, threshold=self.threshold,
            )  # fmt: skip
        except AfterfitError as exc:
            raise DataError(
                f"The partition '{path}': {exc.problem}",
                fix=(exc.fix or "check this file's rows.")
                + " (Classes and the score kind are taken from the first partition unless "
                "given: pass --classes and --score-kind to fix them.)",
            ) from exc


# -- per-task statistics ------------------------------------------------------------------
@dataclass
class _Sample:
    y: list[np.ndarray] = field(default_factory=list)
    scores: list[np.ndarray] = field(default_factory=list)
    weight: list[np.ndarray] = field(default_factory=list)

    def add(self, preds: Predictions, keep: np.ndarray) -> None:
        self.y.append(preds.y_true[keep])
        self.scores.append(preds.scores[keep])
        if preds.sample_weight is not None:
            self.weight.append(preds.sample_weight[keep])

    def merge(self, other: _Sample) -> None:
        self.y += other.y
        self.scores += other.scores
        self.weight += other.weight

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        y = np.concatenate(self.y)
        s = np.concatenate(self.scores)
        return y, s, (np.concatenate(self.weight) if self.weight else None)


@dataclass
class BinaryStats:
    """Mergeable statistics of binary predictions (see the module docstring)."""

    threshold: float
    probabilities: bool
    n_bins: int
    hist: ScoreHistogram
    rows: int = 0
    cells: np.ndarray = field(default_factory=lambda: np.zeros(4))  # tn, fp, fn, tp
    losses: np.ndarray = field(default_factory=lambda: np.zeros(2))  # log loss, Brier sums
    calib: np.ndarray | None = None  # (3, n_bins): weight, positive weight, score sum
    sample: _Sample = field(default_factory=_Sample)

    def update(self, p: Predictions, keep: np.ndarray) -> None:
        y, s, w = p.y_true, p.scores, p.sample_weight
        self.rows += p.n
        self.hist.add(s, y, w)
        cell = 2 * y.astype(np.int64) + (s > self.threshold)
        self.cells += np.bincount(cell, weights=w, minlength=4)
        if self.probabilities:
            rows = _row_losses(y, s)
            self.losses += rows.sum(axis=0) if w is None else w @ rows
            inner = np.linspace(0.0, 1.0, self.n_bins + 1)[1:-1]
            # A score on an inner edge falls in the lower bin, as calibration_curve.
            b = np.searchsorted(inner, s, side="left")
            ww = np.ones(s.size) if w is None else w
            part = np.stack(
                [np.bincount(b, weights=v, minlength=self.n_bins) for v in (ww, ww * y, ww * s)]
            )
            self.calib = part if self.calib is None else self.calib + part
        self.sample.add(p, keep)

    def merge(self, other: BinaryStats) -> BinaryStats:
        self.rows += other.rows
        self.hist.merge(other.hist)
        self.cells = self.cells + other.cells
        self.losses = self.losses + other.losses
        if other.calib is not None:
            self.calib = other.calib.copy() if self.calib is None else self.calib + other.calib
        self.sample.merge(other.sample)
        return self


@dataclass
class MulticlassStats:
    """Mergeable statistics of multiclass predictions: the confusion matrix at the
    predicted class, log loss and Brier sums, one score histogram per class (that class
    against the rest), and the sample."""

    probabilities: bool
    hists: list[ScoreHistogram]
    rows: int = 0
    cm: np.ndarray | None = None  # (K, K): true class x predicted class, weighted
    losses: np.ndarray = field(default_factory=lambda: np.zeros(2))  # log loss, Brier sums
    sample: _Sample = field(default_factory=_Sample)

    def update(self, p: Predictions, keep: np.ndarray) -> None:
        y, s, w = p.y_true.astype(np.int64), p.scores, p.sample_weight
        K = len(self.hists)
        self.rows += p.n
        for k, hist in enumerate(self.hists):
            hist.add(s[:, k], (y == k).astype(np.int8), w)
        cells = np.bincount(y * K + p.y_pred, weights=w, minlength=K * K).reshape(K, K)
        self.cm = cells if self.cm is None else self.cm + cells
        if self.probabilities:
            eps = np.finfo(np.float64).eps
            rows = np.arange(y.size)
            log_loss = -np.log(np.clip(s[rows, y], eps, 1 - eps))
            onehot = np.zeros_like(s, dtype=np.float64)
            onehot[rows, y] = 1.0
            brier = ((onehot - s) ** 2).sum(axis=1)
            both = np.stack([log_loss, brier])
            self.losses += both.sum(axis=1) if w is None else both @ w
        self.sample.add(p, keep)

    def merge(self, other: MulticlassStats) -> MulticlassStats:
        self.rows += other.rows
        for mine, theirs in zip(self.hists, other.hists, strict=True):
            mine.merge(theirs)
        if other.cm is not None:
            self.cm = other.cm.copy() if self.cm is None else self.cm + other.cm
        self.losses = self.losses + other.losses
        self.sample.merge(other.sample)
        return self


@dataclass
class _Moments:
    """Weighted count, mean and sum of squared deviations, merged by Chan et al. (1979)."""

    w: float = 0.0
    mean: float = 0.0
    m2: float = 0.0

    @classmethod
    def of(cls, x: np.ndarray, w: np.ndarray) -> _Moments:
        total = float(w.sum())
        if total <= 0:
            return cls()
        mean = float(w @ x) / total
        d = x - mean
        return cls(total, mean, float(w @ (d * d)))

    def merge(self, o: _Moments) -> None:
        if o.w <= 0:
            return
        if self.w <= 0:
            self.w, self.mean, self.m2 = o.w, o.mean, o.m2
            return
        total = self.w + o.w
        delta = o.mean - self.mean
        self.mean += delta * o.w / total
        self.m2 += o.m2 + delta * delta * self.w * o.w / total
        self.w = total


@dataclass
class RegressionStats:
    """Mergeable statistics of regression predictions."""

    hist: ScoreHistogram  # of |error|, for the median absolute error
    rows: int = 0
    y: _Moments = field(default_factory=_Moments)
    err: _Moments = field(default_factory=_Moments)
    sums: np.ndarray = field(default_factory=lambda: np.zeros(3))  # |e|, e^2, APE
    max_abs_y: float = 0.0
    sample: _Sample = field(default_factory=_Sample)

    def update(self, p: Predictions, keep: np.ndarray) -> None:
        y, pred = p.y_true, p.scores
        w = np.ones(y.size) if p.sample_weight is None else p.sample_weight
        self.rows += p.n
        err = pred - y
        abs_err = np.abs(err)
        eps = np.finfo(np.float64).eps
        self.y.merge(_Moments.of(y, w))
        self.err.merge(_Moments.of(err, w))
        cols = np.stack([abs_err, err * err, abs_err / np.maximum(np.abs(y), eps)])
        self.sums = self.sums + cols @ w
        self.max_abs_y = max(self.max_abs_y, float(np.max(np.abs(y))))
        self.hist.add(abs_err, np.ones(y.size, np.int8), p.sample_weight)
        self.sample.add(p, keep)

    def merge(self, other: RegressionStats) -> RegressionStats:
        self.rows += other.rows
        self.hist.merge(other.hist)
        self.y.merge(other.y)
        self.err.merge(other.err)
        self.sums = self.sums + other.sums
        self.max_abs_y = max(self.max_abs_y, other.max_abs_y)
        self.sample.merge(other.sample)
        return self


Stats = BinaryStats | MulticlassStats | RegressionStats


def _empty(spec: StreamSpec) -> Stats:
    hist = ScoreHistogram(max_bins=spec.max_bins)
    if spec.task == "regression":
        return RegressionStats(hist)
    if spec.task == "multiclass":
        assert spec.classes is not None and spec.probabilities is not None
        hists = [ScoreHistogram(max_bins=spec.max_bins) for _ in spec.classes]
        return MulticlassStats(spec.probabilities, hists)
    assert spec.threshold is not None and spec.probabilities is not None
    return BinaryStats(spec.threshold, spec.probabilities, spec.n_bins, hist)


def partition_stats(path: Path, spec: StreamSpec, index: int) -> Stats:
    """The statistics of one partition (run in this process or on a worker).

    The sample's generator is the partition's own child of ``spec.seed``, so which rows
    are drawn does not depend on which worker reads the file.
    """
    from afterfit.partitions import iter_batches

    rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(index,)))
    stats = _empty(spec)
    for batch in iter_batches(path, spec.columns, spec.batch_rows):
        if batch.num_rows == 0:
            continue
        preds = spec.encode(batch, path)
        keep = rng.random(preds.n) < spec.sample_rate
        stats.update(preds, keep)
    return stats


# -- the pass and the result ----------------------------------------------------------------
def evaluate_dataset(
    source: str | Path | Sequence[str | Path],
    *,
    target: str,
    score: Sequence[str],
    weight: str | None = None,
    task: Literal["binary", "multiclass", "regression"] | None = None,
    classes: Sequence[Any] | None = None,
    pos_label: Any = None,
    scores_are_probabilities: bool | None = None,
    threshold: float | None = None,
    ci: Literal["auto", "bootstrap", "none"] | None = "auto",
    confidence: float = 0.95,
    n_resamples: int = 1000,
    bootstrap_method: Literal["bca", "percentile"] = "bca",
    stratify: bool = True,
    beta: float = 2.0,
    n_bins: int = 10,
    sample_rows: int = SAMPLE_ROWS,
    max_bins: int = MAX_BINS,
    backend: str = "local",
    scheduler: str | None = None,
    random_state: int | None = None,
    batch_rows: int = 1 << 20,
    progress: Callable[..., None] | None = None,
) -> Evaluation:
    """Evaluate saved predictions in a partitioned Parquet dataset, in one streaming pass.

    Parameters
    ----------
    source : str, Path or list of them
        A Parquet file, a folder of Parquet files or a glob (``"preds/*.parquet"``); or
        the list of files. Every partition must have the first one's columns and types.
    target, score, weight : str
        Columns: the true label, the score(s) (binary: the positive class's score;
        multiclass: one column per class, in the order of the classes; regression: the
        prediction), the optional sample weight.
    task : {"binary", "multiclass", "regression"}, optional
        Inferred from the first partition when omitted, as :meth:`Predictions.from_arrays`
        infers it.
    classes, pos_label, scores_are_probabilities, threshold : optional
        As :func:`~afterfit.evaluation.evaluate_predictions`; when omitted they are taken
        from the first partition and held for the others (a label the first partition
        lacks is then an error that says to pass ``classes``).
    ci, confidence, n_resamples, bootstrap_method, stratify, beta, n_bins
        As :func:`~afterfit.evaluation.evaluate_predictions`. ``ci="auto"`` gives Wilson
        intervals from the exact counts and DeLong's from the score histogram on
        unweighted data, the bootstrap for the rest.
    sample_rows : int
        Expected size ``m`` of the uniform sample the bootstrap resamples (m-out-of-n,
        rescaled to all rows). With fewer rows than that, every row is kept and the
        bootstrap is the ordinary one.
    max_bins : int
        Most score bins per histogram (:mod:`afterfit.evaluation.histogram`): the scores
        are exact below it; above, the area metrics carry an error bound.
    backend : {"local", "dask"}
        ``"local"``: partitions one after the other in this process. ``"dask"``: one task
        per partition on the cluster at ``scheduler``; the numbers equal the local ones.
    scheduler : str, optional
        The Dask scheduler's address (``"tcp://host:8786"``).
    random_state : int, optional
        Seed of the sample and of the bootstrap.
    batch_rows : int
        Rows per record batch read.
    progress : callable, optional
        ``progress(1)`` after each partition.

    Returns
    -------
    Evaluation
        Methods say what is exact: ``"streamed: exact"`` for counts and sums, the
        histogram's error bound for ROC AUC and average precision when it is not 0.
    """
    from afterfit.partitions import check_schemas, map_partitions, resolve_partitions, row_counts

    files = _files(source, resolve_partitions)
    ci = "none" if ci is None else ci
    _check_options(ci, confidence, n_resamples, bootstrap_method, n_bins)
    if not isinstance(sample_rows, int) or sample_rows < 1:
        raise InvalidInputError(
            f"sample_rows must be a positive whole number; got {sample_rows!r}.",
            fix=f"pass sample_rows={SAMPLE_ROWS}.",
        )
    if not isinstance(max_bins, int) or max_bins < 2:
        raise InvalidInputError(
            f"max_bins must be a whole number of at least 2; got {max_bins!r}.",
            fix=f"pass max_bins={MAX_BINS}.",
        )
    score = tuple(score)
    spec = StreamSpec(
        target=target, score=score, weight=weight, task=task,
        classes=None if classes is None else tuple(classes), pos_label=pos_label,
        probabilities=scores_are_probabilities, threshold=threshold, n_bins=n_bins,
        max_bins=max_bins, batch_rows=batch_rows,
        labels_as_text=classes is not None and all(isinstance(c, str) for c in classes),
    )  # fmt: skip
    check_schemas(files, spec.columns)
    counts = row_counts(files)
    n_rows = sum(counts)
    if n_rows == 0:
        raise DataError(
            f"The dataset ({len(files)} partition(s), first '{files[0]}') has no rows.",
            fix="pass a dataset with at least one row.",
        )
    seed = (
        int(np.random.SeedSequence().entropy % (1 << 63))  # type: ignore[operator]
        if random_state is None
        else int(random_state)
    )
    spec = _resolve(spec, files, counts, seed, min(1.0, sample_rows / n_rows))
    stats: Stats | None = None
    tasks = [(path, spec, i) for i, path in enumerate(files)]
    for part in map_partitions(
        partition_stats, tasks, backend=backend, scheduler=scheduler, on_done=progress
    ):
        stats = part if stats is None else stats.merge(part)
    assert stats is not None
    settings = EvaluationSettings(
        confidence, ci, n_resamples, bootstrap_method, stratify, random_state, beta, n_bins
    )
    if isinstance(stats, RegressionStats):
        return _finish_regression(stats, spec, settings)
    if isinstance(stats, MulticlassStats):
        return _finish_multiclass(stats, spec, settings)
    return _finish_binary(stats, spec, settings)


def _files(source: Any, resolve: Callable[[Any], list[Path]]) -> list[Path]:
    if isinstance(source, list | tuple):
        files: list[Path] = []
        for s in source:
            files += resolve(s)
        if not files:
            raise InvalidInputError(
                "source is an empty list.", fix="pass a folder, a glob or a list of files."
            )
        return files
    return resolve(source)


def _resolve(
    spec: StreamSpec, files: list[Path], counts: list[int], seed: int, rate: float
) -> StreamSpec:
    """The spec with task, classes, score kind and threshold fixed from the first batch
    of the first partition with rows, so that every partition is encoded alike."""
    from dataclasses import replace

    from afterfit.partitions import iter_batches

    first = next(f for f, n in zip(files, counts, strict=True) if n > 0)
    batch = next(iter(iter_batches(first, spec.columns, spec.batch_rows)))
    p = spec.encode(batch, first)
    if p.task == "multiclass":
        return replace(
            spec, task="multiclass", classes=tuple(p.classes),
            probabilities=bool(p.scores_are_probabilities), seed=seed, sample_rate=rate,
        )  # fmt: skip
    if p.task == "regression":
        return replace(spec, task="regression", seed=seed, sample_rate=rate)
    return replace(
        spec, task="binary", classes=tuple(p.classes), pos_label=p.classes[1],
        probabilities=bool(p.scores_are_probabilities), threshold=float(p.threshold),
        seed=seed, sample_rate=rate,
    )  # fmt: skip


class _StreamDraws(BootstrapDraws):
    """Draws of the sample bootstrap; the method says where the sample came from."""

    def method(self, kind: str) -> str:
        text = super().method(kind)
        if self.subsample:
            text += ", uniform sample drawn in the stream (Bernoulli per row)"
        return text


def _sample_draws(
    suite: Any, point: dict[MetricKey, np.ndarray], n: int, s: EvaluationSettings, bands: bool
) -> BootstrapDraws | None:
    """The m-out-of-n rescaled bootstrap of the in-memory large-data path, on the sample
    drawn in the pass: replicates ``est_n + sqrt(m/n) (rep_m - est_m)``, held in range."""
    if s.ci == "none":
        return None
    point = {k: v[0] for k, v in point.items()}  # a batch of one: its only row
    inner = bootstrap(
        suite, n_resamples=s.n_resamples, stratify=s.stratify and suite.strata is not None,
        jackknife=s.bootstrap_method == "bca", bands=bands, random_state=s.random_state,
        max_rows=None,
    )  # fmt: skip
    m = suite.n
    if m >= n:  # every row is in the sample: the ordinary bootstrap
        return _StreamDraws(
            point, inner.replicates, inner.jackknife, inner.n_resamples, inner.stratified
        )
    factor = math.sqrt(m / n)
    replicates = {}
    for key, reps in inner.replicates.items():
        with np.errstate(invalid="ignore"):
            rescaled = point[key] + factor * (reps - inner.estimate[key])
        lo, hi = key_bounds(key)
        replicates[key] = np.clip(rescaled, lo, hi) if lo > -np.inf or hi < np.inf else rescaled
    return _StreamDraws(
        point, replicates, inner.jackknife, inner.n_resamples, inner.stratified,
        subsample=m, acceleration_scale=factor,
    )  # fmt: skip


def _table(
    keys: list[MetricKey],
    point: dict[MetricKey, np.ndarray],
    draws: BootstrapDraws | None,
    s: EvaluationSettings,
    analytic: dict[MetricKey, tuple[float, float, str]],
    notes: dict[str, str],
) -> MetricTable:
    rows = []
    for key in keys:
        value = float(point[key][0])
        if key in analytic:
            lo, hi, method = analytic[key]
        elif draws is not None:
            lo, hi, method = bootstrap_interval(
                draws, key, confidence=s.confidence, method=s.bootstrap_method
            )
        else:
            lo, hi, method = math.nan, math.nan, "none"
        rows.append(MetricValue(key[0], value, lo, hi, f"{method}; {notes[key[0]]}", key[1]))
    return MetricTable(tuple(rows), s.confidence)


def _bin_rows(hist: ScoreHistogram) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A histogram as weighted rows: one per bin and side (positives, negatives) with
    weight, at the bin's edge; empty ones left out."""
    edges, pos, neg = hist.descending()
    y = np.concatenate([np.ones(edges.size, np.int8), np.zeros(edges.size, np.int8)])
    scores = np.concatenate([edges, edges])
    weight = np.concatenate([pos, neg])
    keep = weight > 0
    return y[keep], scores[keep], weight[keep]


def _group_sizes(counts: Any) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative weight of each tie group, from counts at the group ends."""
    d_pos = np.diff(counts.pos[0], prepend=0.0)
    return d_pos, np.diff(counts.total[0], prepend=0.0) - d_pos


class _HistogramSuite(BinarySuite):
    """A :class:`BinarySuite` over the score bins (one weighted row per bin and class),
    whose point estimates take the exact counts and sums where the bins would blur them."""

    def __init__(self, stats: BinaryStats, beta: float) -> None:
        y, scores, weight = _bin_rows(stats.hist)
        super().__init__(
            y, scores, weight, threshold=stats.threshold,
            probabilities=stats.probabilities, beta=beta, n_bins=stats.n_bins,
        )  # fmt: skip
        self.stats = stats

    def _confusion(self, c: Any) -> np.ndarray:
        tn, fp, fn, tp = self.stats.cells
        return np.array([[[tn, fp], [fn, tp]]], dtype=np.float64)

    def _mean_losses(self, W: Any, total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sums = self.stats.losses
        with np.errstate(invalid="ignore", divide="ignore"):
            return sums[0:1] / total, sums[1:2] / total

    def _bin_sums(self, c: Any) -> tuple[np.ndarray, np.ndarray]:
        weight, positives, _ = self.stats.calib  # type: ignore[misc]
        with np.errstate(invalid="ignore", divide="ignore"):
            return weight[None, :], (positives / weight)[None, :]

    def grouped_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Positive and negative weight of each bin, highest scores first."""
        return _group_sizes(self.point_counts())

    def calibration(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        weight, positives, score_sums = self.stats.calib  # type: ignore[misc]
        with np.errstate(invalid="ignore", divide="ignore"):
            return score_sums / weight, positives / weight, weight


def _delong_grouped(
    pos: np.ndarray, neg: np.ndarray, confidence: float
) -> tuple[float, float, str]:
    """DeLong's interval from counts per tie group (descending scores): the placement
    values of :func:`afterfit.metrics.intervals.placement_values`, weighted by the group
    sizes instead of repeated row by row."""
    from afterfit.metrics.ranges import t_interval

    P, N = pos.sum(), neg.sum()
    if P < 2 or N < 2:
        return math.nan, math.nan, "none (DeLong needs two positives and two negatives)"
    pos_cum, neg_cum = np.cumsum(pos), np.cumsum(neg)
    v10 = (N - neg_cum + 0.5 * neg) / N  # per group: negatives a positive outranks
    v01 = (pos_cum - pos + 0.5 * pos) / P  # per group: positives that outrank a negative
    auc = float(pos @ v10 / P)
    var10 = float(pos @ (v10 - auc) ** 2) / (P - 1)
    var01 = float(neg @ (v01 - float(neg @ v01 / N)) ** 2) / (N - 1)
    se = math.sqrt(var10 / P + var01 / N)
    if se == 0:
        return math.nan, math.nan, "none (DeLong variance is 0)"
    lo, hi, _ = t_interval(auc, se, intervals.z_value(confidence), (0.0, 1.0))
    return lo, hi, "delong"


def _upper(bound: float) -> str:
    """A bound as two significant digits, rounded up (a printed bound must still hold)."""
    if not math.isfinite(bound) or bound <= 0:
        return f"{bound:g}"
    text = f"{bound:.1e}"
    if float(text) < bound:
        mantissa, exponent = text.split("e")
        text = f"{float(mantissa) + 0.1:.1f}e{exponent}"
    return text


def _finish_binary(stats: BinaryStats, spec: StreamSpec, s: EvaluationSettings) -> Evaluation:
    y, sc, w = stats.sample.arrays()
    classes = np.asarray(spec.classes)
    preds = StreamedPredictions(
        "binary", y, sc, classes, w, stats.probabilities, stats.threshold, n_total=stats.rows
    )
    tn, fp, fn, tp = stats.cells
    if (tp + fn) <= 0 or (tn + fp) <= 0:
        only = classes[1] if tp + fn > 0 else classes[0]
        raise MetricError(
            f"The dataset's target holds only one class ({label_text(only)}); ROC AUC, "
            "average precision and most other metrics need both classes.",
            fix="evaluate data that holds both classes.",
        )
    suite = _HistogramSuite(stats, s.beta)
    point = suite.compute(bands=True)
    hist = stats.hist
    exact_rank = "streamed: exact (every distinct score counted)"
    where = f"{hist.n_bins:,} score bins of relative width 2^{hist.shift - 52}"
    notes = {k[0]: "streamed: exact counts" for k in suite.keys()}
    for name in ("log_loss", "brier"):
        notes[name] = "streamed: exact sums"
    notes["roc_auc"] = (
        exact_rank if hist.exact else (f"streamed: {where}, |error| <= {_upper(hist.auc_bound())}")
    )
    notes["average_precision"] = (
        exact_rank if hist.exact else (f"streamed: {where}, |error| <= {_upper(hist.ap_bound())}")
    )
    sample_suite = None
    draws = None
    if s.ci != "none" and y.size:
        sample_suite = BinarySuite(
            y, sc, w, threshold=stats.threshold, probabilities=stats.probabilities,
            beta=s.beta, n_bins=spec.n_bins,
        )  # fmt: skip
        draws = _sample_draws(sample_suite, point, stats.rows, s, bands=True)
    analytic: dict[MetricKey, tuple[float, float, str]] = {}
    if s.ci == "auto" and spec.weight is None:
        analytic[("roc_auc", None)] = _delong_grouped(*suite.grouped_counts(), s.confidence)
        totals = {
            "accuracy": (tp + tn, tn + fp + fn + tp),
            "precision": (tp, tp + fp),
            "recall": (tp, tp + fn),
            "specificity": (tn, tn + fp),
        }
        for name in PROPORTIONS:
            analytic[(name, None)] = intervals.wilson_method(*totals[name], s.confidence)
    table = _table(suite.keys(), point, draws, s, analytic, notes)
    cm = np.array([[tn, fp], [fn, tp]])
    return binary_evaluation(
        preds, suite, table, draws, s, cm, stats.threshold,
        bool(stats.probabilities and stats.calib is not None),
    )  # fmt: skip


def _finish_multiclass(
    stats: MulticlassStats, spec: StreamSpec, s: EvaluationSettings
) -> Evaluation:
    y, sc, w = stats.sample.arrays()
    classes = np.asarray(spec.classes)
    preds = StreamedPredictions(
        "multiclass", y, sc, classes, w, stats.probabilities, 0.5, n_total=stats.rows
    )
    assert stats.cm is not None
    cm = stats.cm
    support = cm.sum(axis=1)
    if np.count_nonzero(support) < 2:
        only = classes[int(np.argmax(support))]
        raise MetricError(
            f"The dataset's target holds only one class ({label_text(only)}); ROC AUC, "
            "average precision and most other metrics need two classes or more.",
            fix="evaluate data that holds several classes.",
        )
    # Each class against the rest, ranked over its histogram's bins (one weighted row per
    # bin and side): exact while every bin holds one distinct score.
    ranked = [RankedScores.from_arrays(*_bin_rows(hist)) for hist in stats.hists]
    counts = [r.counts_at_ends() for r in ranked]
    losses = None
    if stats.probabilities:
        total = cm.sum()
        losses = (stats.losses[0:1] / total, stats.losses[1:2] / total)
    class_names = preds.class_names
    point = multiclass_metrics(cm[None], counts, losses, class_names, s.beta)
    keys = MulticlassSuite.metric_keys(class_names, s.beta, stats.probabilities)
    notes = {k[0]: "streamed: exact counts" for k in keys}
    notes["log_loss"] = notes["brier"] = "streamed: exact sums"
    exact = all(h.exact for h in stats.hists)
    where = f"{max(h.n_bins for h in stats.hists):,} score bins per class"
    for name, bound in (
        ("roc_auc", max(h.auc_bound() for h in stats.hists)),
        ("average_precision", max(h.ap_bound() for h in stats.hists)),
    ):
        text = (
            "streamed: exact (every distinct score counted)"
            if exact
            else f"streamed: {where}, |error| <= {_upper(bound)}"
        )
        # a mean of per-class values errs by at most the largest per-class bound
        for key in (k[0] for k in keys if k[0].startswith(name)):
            notes[key] = text
    draws = None
    if s.ci != "none" and y.size:
        labels = np.argmax(sc, axis=1)
        sample_suite = MulticlassSuite(
            y, sc, w, labels=labels, class_names=class_names,
            probabilities=stats.probabilities, beta=s.beta,
        )  # fmt: skip
        draws = _sample_draws(sample_suite, point, stats.rows, s, bands=False)
    analytic: dict[MetricKey, tuple[float, float, str]] = {}
    if s.ci == "auto" and spec.weight is None:
        # Wilson from the exact counts, DeLong from each class's grouped counts.
        analytic[("accuracy", None)] = intervals.wilson_method(
            float(np.trace(cm)), float(cm.sum()), s.confidence
        )
        for k, c in enumerate(class_names):
            if 0 < support[k] < cm.sum():
                analytic[("roc_auc", c)] = _delong_grouped(*_group_sizes(counts[k]), s.confidence)
            tp = cm[k, k]
            analytic[("precision", c)] = intervals.wilson_method(tp, cm[:, k].sum(), s.confidence)
            analytic[("recall", c)] = intervals.wilson_method(tp, support[k], s.confidence)
    table = _table(keys, point, draws, s, analytic, notes)
    return multiclass_evaluation(preds, table, s, cm, ranked)


def _finish_regression(
    stats: RegressionStats, spec: StreamSpec, s: EvaluationSettings
) -> Evaluation:
    y, pred, w = stats.sample.arrays()
    preds = StreamedPredictions("regression", y, pred, None, w, False, 0.0, n_total=stats.rows)
    total = stats.y.w
    sabs, ssq, sape = stats.sums
    eps = np.finfo(np.float64).eps
    constant_var = (64 * eps * stats.max_abs_y) ** 2
    mse = ssq / total
    var_y = stats.y.m2 / total
    var_e = stats.err.m2 / total
    median, median_bound = stats.hist.weighted_median()
    one = np.ones(1)
    point = {
        ("mae", None): one * (sabs / total),
        ("rmse", None): one * math.sqrt(mse),
        ("mse", None): one * mse,
        ("r2", None): _score(one * (1 - mse / var_y) if var_y > 0 else one * -np.inf,
                             one * mse, one * var_y, constant_var),
        ("explained_variance", None): _score(
            one * (1 - var_e / var_y) if var_y > 0 else one * -np.inf, one * var_e,
            one * var_y, constant_var,
        ),
        ("mape", None): one * (sape / total),
        ("median_ae", None): one * median,
    }  # fmt: skip
    keys = [
        (name, None)
        for name in ("mae", "rmse", "mse", "r2", "explained_variance", "mape", "median_ae")
    ]
    notes = {k[0]: "streamed: exact sums" for k in keys}
    notes["median_ae"] = (
        "streamed: exact (every distinct error counted)"
        if stats.hist.exact
        else f"streamed: {stats.hist.n_bins:,} error bins, |error| <= {_upper(median_bound)}"
    )
    draws = None
    if s.ci != "none" and y.size > 1:
        draws = _sample_draws(RegressionSuite(y, pred, w), point, stats.rows, s, bands=False)
    table = _table(keys, point, draws, s, {}, notes)
    res = y - pred
    quantiles = dict(zip(("q05", "q25", "q50", "q75", "q95"),
                         np.quantile(res, [0.05, 0.25, 0.5, 0.75, 0.95]), strict=True))  # fmt: skip
    if y.size > MAX_RESIDUAL_POINTS:
        rows = np.sort(
            np.random.default_rng(s.random_state).choice(y.size, MAX_RESIDUAL_POINTS, False)
        )
        y, pred = y[rows], pred[rows]
    residuals = ResidualsResult(y, pred, True, stats.rows, quantiles)
    return Evaluation(preds, table, s, residuals=residuals)
