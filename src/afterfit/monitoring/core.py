"""Drift monitoring: the prediction log against the bundle's reference, in one streaming pass.

::

    result = monitor(reference, "preds.parquet", window="1d")
    result = monitor_bundle("churn-1.0/", "sqlite:///preds.db", labels="labels.parquet")

(the page is written by :func:`afterfit.report.monitor_folder.write_monitor_report`)

How it stays fast on big logs (10,000,000 rows x 100 features): Parquet is read with
pyarrow in record batches (never the whole log at once, numbers in the file's own
precision); per batch and column the values are **sorted** (numpy's vectorised sort) and
the reference's sketch points are looked up in the sorted values, which gives the number
of values at or below each point: exactly what the Kolmogorov-Smirnov statistic and, at
the PSI edges (points of the sketch), the PSI need. Columns run on threads (numpy
releases the GIL while sorting); windows come from digitising ``ts`` once per batch.

Per window the counts are kept at a coarser grid (about :data:`WINDOW_POINTS` sketch
points, always including the PSI edges): PSI is exact per window, the KS statistic
within about ``1 / WINDOW_POINTS``; over the whole log it is within the reference
sketch's resolution (about ``1 / n_quantiles``).

The pieces: :mod:`~afterfit.monitoring.windows` cuts the log into windows,
:mod:`~afterfit.monitoring.logs` reads it in batches (Parquet, or SQLite and PostgreSQL
through :func:`afterfit.serving.predlog.read_log`), :mod:`~afterfit.monitoring.scan` counts
in one pass, :mod:`~afterfit.monitoring.results` holds what comes out; this module runs them
and adds the labelled performance.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from afterfit import jsonsafe
from afterfit.bundle.drift import DriftThresholds, flag
from afterfit.bundle.reference import CategoricalStats, NumericStats, ReferenceStats
from afterfit.errors import AfterfitError, DataError, InvalidInputError
from afterfit.monitoring.logs import (
    BATCH_ROWS,
    BATCH_VALUES,
    NO_ROWS_FIX,
    ROW,
    log_batches,
    no_rows,
    read_labels,
)
from afterfit.monitoring.results import MonitorResult, Performance
from afterfit.monitoring.scan import NumericCounter, Scan, scan_batches
from afterfit.monitoring.windows import Window, WindowSpec, format_window

__all__ = ["monitor", "monitor_bundle"]


# -- the pass --------------------------------------------------------------------------
def _positive(classes: Sequence[Any] | None, positive_class: Any) -> Any:
    if positive_class is not None:
        return positive_class
    return None if not classes else classes[-1]


def _prediction_columns(
    reference: ReferenceStats,
    task: str | None,
    classes: Sequence[Any] | None,
    positive_class: Any = None,
) -> dict[str, NumericStats | CategoricalStats]:
    """Log column -> reference stats of the model's outputs.

    ``score`` (a 1-D reference score) is the positive-class probability of a binary
    classifier or the value of a regressor. A binary classifier's two probability columns
    carry the same information, so only the positive class's is compared.
    """
    out: dict[str, NumericStats | CategoricalStats] = {}
    positive = _positive(classes, positive_class)
    for name, stats in reference.predictions.items():
        column = name
        if name == "score":
            if task == "regression":
                column = "prediction"
            elif positive is not None:
                column = f"proba_{positive}"
        out[column] = stats
    if task == "binary" and positive is not None and f"proba_{positive}" in out:
        out = {f"proba_{positive}": out[f"proba_{positive}"]}
    return out


def monitor(
    reference: ReferenceStats | dict[str, Any],
    log: Any,
    *,
    window: str | WindowSpec | None = None,
    labels: Any = None,
    label_column: str | None = None,
    thresholds: DriftThresholds | None = None,
    task: str | None = None,
    classes: Sequence[Any] | None = None,
    threshold: float | None = None,
    positive_class: Any = None,
    model_version: str | None = None,
    start: Any = None,
    end: Any = None,
    n_jobs: int | None = None,
    n_resamples: int = 500,
    random_state: int = 0,
    batch_rows: int | None = None,
    progress: Callable[..., None] | None = None,
    backend: str = "local",
    scheduler: str | None = None,
) -> MonitorResult:
    """Drift of a prediction log against a reference, per feature, over time windows.

    Parameters
    ----------
    reference : ReferenceStats or dict
        The reference (a bundle's ``reference.json`` as a dict is read with
        :meth:`ReferenceStats.from_dict`).
    log : str, Path or DataFrame
        A Parquet file or folder of Parquet files with the columns of
        :func:`afterfit.serving.predlog.read_log` (``ts``, ``request_id``, the features,
        ``proba_<class>`` / ``prediction``), a database URL (``sqlite:///preds.db``,
        ``postgresql+psycopg://...``), or such a DataFrame.
    window : str or WindowSpec, optional
        ``1h``, ``1d``, ``15min``, ``1000rows``... Without it, only the whole log.
    labels : str, Path or DataFrame, optional
        Labels that arrived later: ``request_id`` and a label column; joined on
        ``request_id`` and evaluated with :func:`afterfit.evaluate_predictions`.
    label_column : str, optional
        The label column of ``labels`` (default ``label``, or its only other column).
    thresholds : DriftThresholds, optional
        When a column counts as drifted.
    task, classes, threshold, positive_class : optional
        The model's task, class labels (score column order), decision threshold and
        positive class (binary; default the last class), from the bundle; needed to map
        the reference's scores to the log's columns and to evaluate labels.
    model_version : str, optional
        Keep only the rows of this model version.
    start, end : optional
        Keep rows with ``start <= ts < end`` (unix seconds or dates, UTC).
    n_jobs : int, optional
        Threads over columns (default: every core).
    n_resamples : int
        Bootstrap resamples of the performance intervals.
    random_state : int
        Seed of the performance intervals.
    batch_rows : int, optional
        Rows per record batch (default: :data:`BATCH_VALUES` values a batch, at most
        :data:`BATCH_ROWS` rows).
    progress : callable, optional
        ``progress(rows)`` after each batch is counted (see :mod:`afterfit.progress`).
    backend : {"local", "dask"}
        ``"dask"``: a Parquet log's partitions are counted on the Dask cluster at
        ``scheduler``, one task per file, and merged: the same numbers as ``"local"``
        (:mod:`afterfit.monitoring.streaming`).
    scheduler : str, optional
        The Dask scheduler's address.

    Returns
    -------
    MonitorResult
    """
    if isinstance(reference, dict):
        reference = ReferenceStats.from_dict(reference)
    if not isinstance(reference, ReferenceStats):
        raise InvalidInputError(
            f"reference must be ReferenceStats or its dict; got {type(reference).__name__}.",
            fix="pass the bundle's reference (ReferenceStats.from_dict(bundle.reference)).",
        )
    thresholds = thresholds or DriftThresholds()
    spec = WindowSpec.parse(window) if isinstance(window, str) else window
    from afterfit.serving.predlog import unix_seconds

    lo, hi = unix_seconds(start), unix_seconds(end)
    label_frame = None
    if labels is not None:
        label_frame, label_column = read_labels(labels, label_column)
        if task is None:
            raise InvalidInputError(
                "Evaluating labels needs the model's task.",
                fix="pass task= (and classes=, threshold=), or use monitor_bundle.",
            )

    outputs = _prediction_columns(reference, task, classes, positive_class)
    eval_columns: list[str] = []
    if label_frame is not None:
        if task == "regression":
            eval_columns = ["prediction"]
        elif task == "binary" and classes:
            eval_columns = [f"proba_{_positive(classes, positive_class)}"]
        elif classes is not None:
            eval_columns = [f"proba_{c}" for c in classes]
    wanted = list(
        dict.fromkeys(
            [
                "ts",
                *(["request_id"] if label_frame is not None else []),
                *reference.features,
                *outputs,
                *eval_columns,
            ]
        )
    )
    if backend != "local" or scheduler is not None:
        from afterfit.monitoring.logs import check_parquet_log

        check_parquet_log(log)  # before anything is read: a cluster reads Parquet files
    if batch_rows is None:
        batch_rows = max(16_384, min(BATCH_ROWS, BATCH_VALUES // max(1, len(wanted))))
    batches, present, source = log_batches(
        log, wanted, start=lo, end=hi, model_version=model_version, batch_rows=batch_rows
    )
    scan = Scan.start(reference, outputs, present)
    counters, roles = scan.counters, scan.roles
    absent = tuple(n for n in reference.features if n not in present)
    if not any(r == "feature" for r in roles.values()):
        raise DataError(
            f"The log {source!r} has none of the reference's {len(reference.features)} "
            f"features (columns found: {present}).",
            fix="check that --log is this model's prediction log (features as columns).",
        )
    if label_frame is not None:
        missing_eval = [c for c in ["request_id", *eval_columns] if c not in present]
        if missing_eval or not eval_columns:
            raise DataError(
                f"The log lacks the columns needed to evaluate labels: "
                f"{missing_eval or 'the model outputs'}.",
                fix="log with afterfit serve (it records request_id and the outputs), and "
                "pass the bundle so that the task and classes are known.",
            )

    workers = max(1, n_jobs or os.cpu_count() or 1)
    label_ids = None
    if label_frame is not None:
        import pyarrow as pa

        label_ids = pa.array(label_frame["request_id"].to_numpy(dtype=object), type=pa.string())
    if backend == "local" and scheduler is None:
        scan_batches(scan, batches, present, spec, workers, label_ids, eval_columns, progress)
    else:
        # One task per partition on a Dask cluster, merged in partition order.
        from afterfit.monitoring.streaming import scan_partitions

        scan = scan_partitions(
            scan, log, wanted, present, spec, label_ids, eval_columns,
            start=lo, end=hi, model_version=model_version, batch_rows=batch_rows,
            backend=backend, scheduler=scheduler, progress=progress,
        )  # fmt: skip
        counters = scan.counters
    n_rows, window_rows, labeled_parts = scan.n_rows, scan.window_rows, scan.labeled_parts
    ts_min, ts_max = scan.ts_min, scan.ts_max
    if n_rows == 0:
        raise DataError(no_rows(source, lo, hi, model_version), fix=NO_ROWS_FIX)

    features = flag([c.overall() for n, c in counters.items() if roles[n] == "feature"], thresholds)
    predictions = flag(
        [c.overall() for n, c in counters.items() if roles[n] == "prediction"], thresholds
    )
    windows: list[Window] = []
    for w in sorted(window_rows):
        rows, w_min, w_max = window_rows[w]
        lo_w, hi_w = spec.bounds(w) if spec is not None else (0.0, 0.0)
        windows.append(
            Window(
                index=w,
                start=lo_w,
                end=hi_w,
                n_rows=int(rows),
                ts_min=w_min,
                ts_max=w_max,
                features=tuple(
                    flag(
                        [c.window(w) for n, c in counters.items() if roles[n] == "feature"],
                        thresholds,
                    )
                ),
                predictions=tuple(
                    flag(
                        [c.window(w) for n, c in counters.items() if roles[n] == "prediction"],
                        thresholds,
                    )
                ),
            )
        )
    performance = None
    if label_frame is not None:
        performance = _performance(
            labeled_parts,
            label_frame,
            label_column or "label",
            eval_columns,
            task=str(task),
            classes=classes,
            threshold=threshold,
            positive_class=_positive(classes, positive_class),
            spec=spec,
            n_resamples=n_resamples,
            random_state=random_state,
        )
    # Kept for the report's histograms: cumulative counts at the sketch points (numeric)
    # or counts per category, with the numbers of values and of missing ones.
    counts = {
        name: (c.cum if isinstance(c, NumericCounter) else c.counts, c.n, c.n_missing)
        for name, c in counters.items()
    }
    return MonitorResult(
        reference=reference,
        features=tuple(features),
        predictions=tuple(predictions),
        windows=tuple(windows),
        window=spec,
        thresholds=thresholds,
        n_rows=n_rows,
        ts_min=ts_min if math.isfinite(ts_min) else float("nan"),
        ts_max=ts_max if math.isfinite(ts_max) else float("nan"),
        source=source,
        absent=absent,
        performance=performance,
        counts=counts,
        model={
            "task": task,
            "classes": None if classes is None else [jsonsafe.scalar(c) for c in classes],
            "threshold": None if threshold is None else jsonsafe.number(threshold),
            "prediction_columns": {k: v.name for k, v in outputs.items()},
        },
    )


def _performance(
    parts: list[pd.DataFrame],
    label_frame: pd.DataFrame,
    label_column: str,
    eval_columns: Sequence[str],
    *,
    task: str,
    classes: Sequence[Any] | None,
    threshold: float | None,
    positive_class: Any,
    spec: WindowSpec | None,
    n_resamples: int,
    random_state: int,
) -> Performance:
    from afterfit.evaluation import evaluate_predictions

    logged = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if logged.empty:
        raise DataError(
            f"None of the {len(label_frame):,} labels' request_id values is in the log.",
            fix="check that the labels belong to this log (request_id as the server returned it).",
        )
    notes: list[str] = []
    # A request of several rows logs them in the order sent: each row's position in it.
    logged = logged.assign(**{ROW: logged.groupby("request_id", sort=False).cumcount()})
    if ROW in label_frame.columns:
        joined = logged.merge(label_frame, on=["request_id", ROW], how="inner")
    else:
        several = int(logged.loc[logged[ROW] > 0, "request_id"].nunique())
        if several:
            notes.append(
                f"{several:,} logged requests hold several rows; the labels name requests "
                f"only, so each was matched by its last row. Add a {ROW!r} column to the "
                "labels (the row's position in its request, 0 for the first) to label them all."
            )
        logged = logged.drop_duplicates("request_id", keep="last")
        joined = logged.merge(label_frame, on="request_id", how="inner")
    unmatched = len(label_frame) - len(joined)
    if unmatched:
        notes.append(f"{unmatched:,} labels have no logged request and were left out.")

    def evaluate(frame: pd.DataFrame) -> Any:
        y = frame[label_column].to_numpy()
        if task == "regression":
            scores = frame["prediction"].to_numpy()
        elif task == "binary":
            scores = frame[eval_columns[0]].to_numpy()
        else:
            scores = frame[list(eval_columns)].to_numpy()
        if classes is not None and task != "regression":
            # Labels read from a file may be text while the classes are numbers.
            y = _align_labels(y, classes)
        return evaluate_predictions(
            y,
            scores,
            task=task,  # type: ignore[arg-type]
            classes=None if task == "regression" else list(classes or []) or None,
            threshold=threshold if task == "binary" else None,
            pos_label=positive_class if task == "binary" else None,
            n_resamples=n_resamples,
            random_state=random_state,
        )

    try:
        overall = evaluate(joined)
    except AfterfitError as exc:
        raise DataError(
            f"The labels could not be evaluated against the logged predictions: {exc}",
            fix="check that the label column holds the model's classes (or targets).",
        ) from exc
    windows: list[tuple[int, str, int, Any]] = []
    if spec is not None:
        by_rows = spec.rows is not None
        for w, frame in joined.groupby("__window__", sort=True):
            lo_w, hi_w = spec.bounds(int(w))
            label = format_window(lo_w, hi_w, int(w), by_rows=by_rows)
            ev = None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    ev = evaluate(frame)
                except AfterfitError as exc:
                    notes.append(f"window {label}: not evaluated ({exc.problem})")
            windows.append((int(w), label, len(frame), ev))
    return Performance(
        task=task,
        n_labeled=len(joined),
        overall=overall,
        windows=tuple(windows),
        notes=tuple(notes),
    )


def _align_labels(y: np.ndarray, classes: Sequence[Any]) -> np.ndarray:
    """Labels as the class objects they name (``"1"`` read from CSV -> the class ``1``)."""
    by_text = {str(c): c for c in classes}
    if all(v in set(classes) for v in pd.unique(y)):
        return y
    return np.asarray([by_text.get(str(v), v) for v in y], dtype=object)


# -- bundles and the report ------------------------------------------------------------
def monitor_bundle(
    bundle: Any,
    log: Any,
    *,
    trust: bool = False,
    trusted_types: Sequence[str] = (),
    estimate: bool = True,
    assume_calibrated: bool = False,
    multivariate: bool = False,
    reference_data: Any = None,
    multivariate_rows: int | None = None,
    **options: Any,
) -> MonitorResult:
    """:func:`monitor` with the reference, task, classes and threshold of a bundle, and
    the estimated performance and multivariate drift of :mod:`afterfit.monitoring.estimates`.

    ``bundle`` is a bundle folder or ``.zip`` (loaded and verified with
    :func:`afterfit.bundle.core.load_bundle`; a tampered bundle is refused; ``trust``
    and ``trusted_types`` are passed on for a ``.skops`` model) or a loaded bundle.
    ``options`` are those of :func:`monitor`; ``model_version`` defaults to the bundle's
    version (``"*"``: every version in the log).

    ``estimate``: CBPE per window for classifiers (with the realised metrics beside it
    when ``labels`` arrived); it needs calibrated probabilities, which a bundle with a
    calibration map logs; without one a named note stands in its place unless
    ``assume_calibrated``. ``multivariate``: the domain classifier against
    ``reference_data`` rows (a table or file), else against the log's first window;
    ``multivariate_rows`` rows of each side at most (default 10,000).
    """
    if isinstance(bundle, str | os.PathLike):
        from afterfit.bundle.core import load_bundle

        bundle = load_bundle(bundle, trust=trust, trusted_types=trusted_types)
    version = options.get("model_version")
    if version is None:
        # The log of a server holds the rows of every version it served; the bundle's
        # own are the ones its reference describes.
        options["model_version"] = getattr(bundle, "version", None)
    elif str(version) == "*":
        options["model_version"] = None
    reference = getattr(bundle, "reference", None)
    if not reference:
        raise InvalidInputError(
            "The bundle has no reference statistics, so there is nothing to compare with.",
            fix="rebuild the bundle with training data (afterfit bundle --data ...).",
        )
    options.setdefault("task", getattr(bundle, "task", None))
    classes = getattr(bundle, "classes", None)
    options.setdefault("classes", None if classes is None else list(classes))
    options.setdefault("threshold", getattr(bundle, "threshold", None))
    options.setdefault("positive_class", getattr(bundle, "positive_class", None))
    # The estimates below reread the log with these options; the progress is the scan's.
    progress = options.pop("progress", None)
    result = monitor(reference, log, progress=progress, **options)
    model = dict(result.model)
    model.update(
        {"name": getattr(bundle, "name", None), "version": getattr(bundle, "version", None)}
    )
    object.__setattr__(result, "model", model)
    if estimate or multivariate:
        from afterfit.monitoring.estimates import add_estimates

        add_estimates(
            result, bundle, log, options, estimate=estimate,
            assume_calibrated=assume_calibrated, multivariate=multivariate,
            reference_data=reference_data, multivariate_rows=multivariate_rows,
        )  # fmt: skip
    return result
