"""``evaluate_slices`` and ``evaluate_slices_predictions``: how a model does *for whom*."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from afterfit.errors import InvalidInputError
from afterfit.metrics.resampling import check_interval_options
from afterfit.predictions import Predictions
from afterfit.slices.definitions import MAX_LEVELS, build_slicings, columns_of, one_slicing
from afterfit.slices.fairness import fairness_predictions
from afterfit.slices.metrics import SliceSettings, slice_metrics
from afterfit.slices.results import SliceResult
from afterfit.slices.segments import row_loss, weak_segments


def evaluate_slices(
    model: Any,
    X: Any,
    y: Any,
    *,
    by: Sequence[Any] = (),
    sensitive: Any = None,
    sample_weight: Any = None,
    pos_label: Any = None,
    threshold: float | None = None,
    **options: Any,
) -> SliceResult:
    """Every metric per slice with intervals, gaps to the rest, fairness, weak segments.

    Parameters
    ----------
    model : estimator, ONNX session, torch module or :class:`afterfit.models.Model`
    X : DataFrame (pandas or polars)
        The rows: the model's features, and the slice and sensitive columns. Columns the
        model does not take are set aside for slicing (and the segment search).
    y : array-like
        True labels or targets.
    by : sequence
        Slicings: column names (``"region"``), binned numeric columns
        (``"age:quantiles=4"``, ``"age:edges=0,18,65"``) and crossings of two
        (``"region*plan"`` or ``("region", "plan")``).
    sensitive : str, optional
        A column (or binned spec) whose groups fairness metrics compare (binary models).
    sample_weight, pos_label, threshold
        As in :func:`afterfit.evaluate`.
    **options
        Those of :func:`evaluate_slices_predictions`.

    Returns
    -------
    SliceResult

    Examples
    --------
    >>> sl = afterfit.evaluate_slices(model, X, y, by=["region"], sensitive="sex")  # doctest: +SKIP
    >>> sl.frame()  # doctest: +SKIP
    >>> sl.fairness.frame()  # doctest: +SKIP
    """
    from afterfit.data import as_frame
    from afterfit.models import as_model

    m = as_model(model)
    frame = as_frame(X, feature_names=m.feature_names)
    names = getattr(m, "feature_names", None)
    features = frame
    if names is not None:
        # Columns the model does not take (a sensitive attribute kept out of training, a
        # region) are there to slice by; missing features are still the schema error.
        wanted = {str(n) for n in names}
        features = frame[[c for c in frame.columns if str(c) in wanted]]
    preds = Predictions.from_model(
        m, features, y, sample_weight=sample_weight, pos_label=pos_label, threshold=threshold
    )
    return evaluate_slices_predictions(preds, frame, by=by, sensitive=sensitive, **options)


def set_aside(frame: pd.DataFrame, model: Any, items: Sequence[Any]) -> pd.DataFrame:
    """``frame`` without the columns named by slice ``items`` that ``model`` does not take
    (the features a report's other steps see); every other column is left for the
    model's own schema check."""
    names = getattr(model, "feature_names", None)
    if names is None:
        return frame
    wanted = {str(n) for n in names}
    named = set(columns_of(items))
    extra = [c for c in frame.columns if str(c) not in wanted and str(c) in named]
    return frame.drop(columns=extra) if extra else frame


def evaluate_slices_predictions(
    preds: Predictions,
    frame: Any,
    *,
    by: Sequence[Any] = (),
    sensitive: Any = None,
    metrics: Sequence[str] | None = None,
    ci: Literal["auto", "bootstrap", "none"] = "auto",
    confidence: float = 0.95,
    n_resamples: int = 1000,
    bootstrap_method: Literal["bca", "percentile"] = "bca",
    min_size: int = 30,
    min_class_count: int = 5,
    max_levels: int = MAX_LEVELS,
    max_rows: int | None = None,
    segments: bool = True,
    segment_columns: Sequence[str] | None = None,
    beta: float = 2.0,
    n_bins: int = 10,
    random_state: int | None = None,
    n_jobs: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> SliceResult:
    """Slices of predictions already made; ``frame`` holds the slice columns, row for row.

    Parameters
    ----------
    preds : Predictions
    frame : DataFrame
        Columns to slice by (and, for weak segments, to search), aligned with ``preds``.
    by, sensitive
        See :func:`evaluate_slices`.
    metrics : sequence of str, optional
        The metrics to compare (default: every whole-data metric of the task). Fewer
        metrics: a smaller Holm family, so more power for those asked about.
    ci : {"auto", "bootstrap", "none"}
        ``"auto"``: Wilson and DeLong intervals where exact (unweighted), the bootstrap for
        the rest; ``"none"``: values only, nothing tested.
    confidence : float
        Level of the intervals; gaps are flagged where the Holm-adjusted p-value is below
        ``1 - confidence``.
    n_resamples, bootstrap_method
        Of the bootstrap (per slice, per rest, and of the fairness metrics).
    min_size : int
        Slices (or rests) with fewer rows are listed with their values but not tested.
    min_class_count : int
        Classification: fewer rows of a class (binary), or fewer than two classes with this
        many rows (multiclass), and the slice is not tested.
    max_levels : int
        Most slices of one categorical column.
    max_rows : int, optional
        Most rows each slice's (and each rest's) bootstrap resamples, m-out-of-n above it.
        Default: ``max(1000, 100000 / (2 x slices tested))``, which keeps the cost of all
        slices and rests near that of one whole-data bootstrap.
    segments : bool
        Also search for weak segments and confirm them on held-out rows.
    segment_columns : sequence of str, optional
        Columns the segment search draws conditions from (default: every column of
        ``frame``).
    random_state : int, optional
        The same seed gives the same numbers.
    n_jobs : int, optional
        Threads over slices (default: one per core).
    progress : callable, optional
        Called with resamples done.
    """
    from afterfit.data import as_frame

    frame = as_frame(frame)
    if len(frame) != preds.n:
        raise InvalidInputError(
            f"the slice table has {len(frame):,} rows but the predictions have {preds.n:,}.",
            fix="pass the table of the same rows as the predictions, in the same order.",
        )
    if ci not in ("auto", "bootstrap", "none"):
        raise InvalidInputError(
            f"ci must be 'auto', 'bootstrap' or 'none'; got {ci!r}.", fix="pass ci='auto'."
        )
    check_interval_options(
        confidence=confidence,
        n_resamples=None if ci == "none" else n_resamples,
        bootstrap_method=bootstrap_method,
        no_intervals="ci='none'",
    )
    for name, value, least in (("min_size", min_size, 2), ("min_class_count", min_class_count, 1)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
            raise InvalidInputError(
                f"{name} must be a whole number of at least {least}; got {value!r}.",
                fix=f"pass {name}={30 if name == 'min_size' else 5} (the default).",
            )
    frame = frame.reset_index(drop=True)
    if isinstance(by, str):
        by = [by]
    if not by and sensitive is None:
        raise InvalidInputError(
            "slices needs something to slice by: by=[...] or sensitive=...",
            fix="pass by=['region'] (column names, 'age:quantiles=4', 'region*plan').",
        )
    slicings = build_slicings(frame, by, max_levels=max_levels) if by else []
    settings = SliceSettings(
        confidence, ci, 0 if ci == "none" else n_resamples, bootstrap_method, min_size,
        min_class_count, random_state, max_rows,
    )  # fmt: skip
    infos, records, overall = slice_metrics(
        preds, slicings, settings, metrics=metrics, beta=beta, n_jobs=n_jobs, progress=progress
    )
    notes = [note for s in slicings for note in s.notes]
    seeds = np.random.SeedSequence(random_state).spawn(3)[1:]
    fair = None
    if sensitive is not None:
        group = one_slicing(frame, sensitive, max_levels=max_levels, role="sensitive")
        fair = fairness_predictions(
            preds, group, confidence=confidence, n_resamples=settings.n_resamples,
            bootstrap_method=bootstrap_method, n_bins=n_bins, random_state=seeds[0],
        )  # fmt: skip
    found = None
    if segments:
        if preds.n < 4 * min_size:
            notes.append(
                f"weak segments: {preds.n} rows are too few to search on one half and confirm "
                f"on the other (need {4 * min_size})."
            )
        else:
            loss, loss_name = row_loss(preds)
            found = weak_segments(
                _searchable(frame, segment_columns), loss, loss_name=loss_name,
                min_size=min_size, confidence=confidence,
                random_state=seeds[1],
            )  # fmt: skip
    return SliceResult(
        task=preds.task, n_rows=preds.n, slicings=tuple(s.name for s in slicings),
        slices=tuple(infos), metrics=tuple(records), overall=tuple(overall.items()),
        settings=settings, fairness=fair, segments=found, notes=tuple(notes),
    )  # fmt: skip


def _searchable(frame: pd.DataFrame, columns: Sequence[str] | None) -> pd.DataFrame:
    if columns is None:
        return frame
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"segment column(s) {', '.join(map(repr, missing))} are not in the data.",
            fix=f"choose among: {', '.join(map(str, frame.columns[:20]))}.",
        )
    return frame[list(columns)]
