"""What the monitor adds to per-feature drift: estimated performance (CBPE) and
multivariate drift, over the whole log and per window.

Both need the logged rows themselves, not the streaming counts of
:mod:`afterfit.monitoring.core`: the log's feature, probability, decision, ``ts`` and
``request_id`` columns are read once (1,000,000 rows x 20 features is about 200 MB), cut
into the monitor's windows, and handed to :func:`afterfit.monitoring.cbpe.estimate_performance`
and :func:`afterfit.monitoring.multivariate.multivariate_drift`.

- **CBPE** needs calibrated probabilities. A bundle with a calibration map logs calibrated
  probabilities; a bundle without one gets a named note instead of estimates unless the
  caller says its model is calibrated (``assume_calibrated``). Regression bundles get a
  note (CBPE estimates classification metrics). The baseline is the estimate on the
  bundle's reference: its probability sketch, read back as quantiles.
- **Multivariate drift** compares reference rows with each window's rows. The bundle keeps
  statistics, not rows, so the reference rows are ``reference_data`` (the training or
  validation table) when given, else the first window of the log (said in the result).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from afterfit import jsonsafe
from afterfit.errors import InvalidInputError
from afterfit.monitoring.cbpe import PerformanceEstimate, estimate_performance
from afterfit.monitoring.multivariate import (
    MAX_ROWS,
    MIN_ROWS,
    MultivariateDrift,
    multivariate_drift,
)

__all__ = [
    "EstimatedPerformance",
    "MultivariateResult",
    "estimate_windows",
    "multivariate_windows",
    "performance_drops",
    "read_log_frame",
]


def _number(value: Any) -> float | None:
    """A JSON number, or None for a missing or non-finite one."""
    return None if value is None else jsonsafe.number(value)


#: Metric a performance alert reads by default, per task.
ALERT_METRIC = {"binary": "roc_auc", "multiclass": "accuracy"}


@dataclass(frozen=True)
class EstimatedPerformance:
    """CBPE over the whole log and per window (with realised metrics where labelled)."""

    task: str
    overall: PerformanceEstimate | None
    windows: tuple[tuple[str, PerformanceEstimate], ...]
    baseline: dict[str, float] = field(default_factory=dict)
    calibration: str = ""
    notes: tuple[str, ...] = ()

    def frame(self) -> pd.DataFrame:
        """One row per window and metric: estimate, interval, realised, covered,
        baseline."""
        rows = []
        parts = ([("all", self.overall)] if self.overall is not None else []) + list(self.windows)
        for label, est in parts:
            for r in est.rows():
                rows.append(
                    {
                        "window": label,
                        "n_rows": est.n_rows,
                        "n_labelled": est.n_labelled,
                        **r,
                        "baseline": _number(self.baseline.get(r["metric"])),
                    }
                )
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe fields."""
        return {
            "method": "CBPE (expected metrics from calibrated probabilities; interval of "
            "the realised metric from labels drawn from them)",
            "task": self.task,
            "calibration": self.calibration,
            "baseline": {k: _number(v) for k, v in self.baseline.items()},
            "overall": None if self.overall is None else self.overall.to_dict(),
            "windows": [{"window": label, **est.to_dict()} for label, est in self.windows],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class MultivariateResult:
    """The domain classifier over the whole log and per window."""

    reference: str
    overall: MultivariateDrift | None
    windows: tuple[tuple[str, MultivariateDrift | None, str], ...]
    notes: tuple[str, ...] = ()

    @property
    def drifted(self) -> bool:
        """Whether the whole log or a window is flagged after Holm's adjustment across
        all of them (each test's own flag also needs its AUC past ``min_effect``)."""
        return bool(self.flagged)

    @property
    def flagged(self) -> list[str]:
        """Labels (``all`` or windows) flagged after Holm's adjustment across the tests."""
        parts = [("all", self.overall)] + [(label, r) for label, r, _ in self.windows]
        tested = [(label, r) for label, r in parts if r is not None]
        if not tested:
            return []
        order = sorted(range(len(tested)), key=lambda i: tested[i][1].p_value)
        m, out = len(tested), []
        for rank, i in enumerate(order):
            label, r = tested[i]
            if r.p_value >= r.alpha / (m - rank):
                break  # Holm stops at the first test it cannot reject
            if r.auc >= 0.5 + r.min_effect:
                out.append(label)
        return out

    def frame(self) -> pd.DataFrame:
        """One row per window (``all`` first): AUC, interval, p-value, flag, top features."""
        rows = []
        parts = [("all", self.overall, ""), *self.windows]
        for label, r, note in parts:
            if r is None:
                rows.append({"window": label, "note": note})
                continue
            rows.append(
                {
                    "window": label,
                    "auc": r.auc,
                    "ci_low": r.ci_low,
                    "ci_high": r.ci_high,
                    "p_value": r.p_value,
                    "drifted": r.drifted,
                    "rows_used": f"{r.n_used_reference}+{r.n_used_current}",
                    "top_features": ", ".join(r.top_features),
                    "note": note,
                }
            )
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe fields."""
        return {
            "method": "domain classifier (HistGradientBoosting, 5-fold cross-fitted), "
            "out-of-fold ROC AUC with DeLong interval, one-sided test of AUC > 0.5",
            "reference": self.reference,
            "drifted": self.drifted,
            "flagged_holm": self.flagged,
            "overall": None if self.overall is None else self.overall.to_dict(),
            "windows": [
                {"window": label, "result": None if r is None else r.to_dict(), "note": note}
                for label, r, note in self.windows
            ],
            "notes": list(self.notes),
        }


def read_log_frame(
    log: Any,
    columns: Sequence[str],
    *,
    start: float | None = None,
    end: float | None = None,
    model_version: str | None = None,
) -> pd.DataFrame:
    """The wanted columns of the log that exist, as one frame (the monitor's readers)."""
    from afterfit.monitoring.logs import BATCH_ROWS, log_batches

    batches, names, _ = log_batches(
        log, columns, start=start, end=end, model_version=model_version, batch_rows=BATCH_ROWS
    )
    import pyarrow as pa

    parts = list(batches)
    if not parts:
        return pd.DataFrame(columns=names)
    return pa.Table.from_batches(parts).to_pandas()


def _window_parts(
    frame: pd.DataFrame, spec: Any, labels: dict[int, str]
) -> list[tuple[str, np.ndarray]]:
    if spec is None:
        return []
    ts = frame["ts"].to_numpy() if "ts" in frame.columns else None
    ids = spec.ids(ts, 0, len(frame))
    out = []
    for w in np.unique(ids):
        out.append((labels.get(int(w), str(int(w))), np.flatnonzero(ids == w)))
    return out


def _sketch_probabilities(stats: Any, n: int = 1000) -> np.ndarray | None:
    """Reference probabilities read back from a numeric sketch: ``n`` quantiles."""
    sketch = np.asarray(getattr(stats, "sketch", []), dtype=np.float64)
    cdf = np.asarray(getattr(stats, "cdf", []), dtype=np.float64)
    if sketch.size < 2 or cdf.size != sketch.size:
        return None
    u = (np.arange(n) + 0.5) / n
    return np.clip(np.interp(u, cdf, sketch), 0.0, 1.0)


def estimate_windows(
    frame: pd.DataFrame,
    *,
    task: str,
    classes: Sequence[Any] | None,
    positive_class: Any,
    threshold: float | None,
    calibrated: bool,
    calibration: str,
    windows: list[tuple[str, np.ndarray]],
    y_true: np.ndarray | None = None,
    reference: Any = None,
    random_state: int = 0,
) -> EstimatedPerformance:
    """CBPE on the log frame (its ``proba_<class>`` and ``decision`` columns)."""
    if task == "regression" or not classes:
        return EstimatedPerformance(
            task, None, (), calibration=calibration,
            notes=("CBPE estimates classification metrics; this is a regression model "
                   "(its performance needs labels)",),
        )  # fmt: skip
    if not calibrated:
        return EstimatedPerformance(
            task, None, (), calibration=calibration,
            notes=("no performance estimate: CBPE needs calibrated probabilities and the "
                   "bundle has no calibration map (rebuild it with afterfit bundle "
                   "--calibration, or pass --assume-calibrated for a calibrated model)",),
        )  # fmt: skip
    cols = [f"proba_{c}" for c in classes]
    absent = [c for c in [*cols, "decision"] if c not in frame.columns]
    if absent:
        return EstimatedPerformance(
            task, None, (), calibration=calibration,
            notes=(f"no performance estimate: the log has no {', '.join(absent)} column",),
        )  # fmt: skip
    P = frame[cols].to_numpy(dtype=np.float64)
    decision = frame["decision"].to_numpy()
    keep = np.isfinite(P).all(axis=1) & pd.notna(decision)
    notes = []
    if not keep.all():
        notes.append(f"{int((~keep).sum()):,} logged rows without probabilities are left out")

    def one(rows: np.ndarray, seed: int) -> PerformanceEstimate:
        rows = rows[keep[rows]]
        return estimate_performance(
            P[rows], decision[rows], classes=classes, positive_class=positive_class,
            y_true=None if y_true is None else y_true[rows], random_state=seed,
        )  # fmt: skip

    overall = one(np.arange(len(frame)), random_state)
    parts = tuple(
        (label, one(rows, random_state + 1 + i))
        for i, (label, rows) in enumerate(windows)
        if keep[rows].sum() > 0
    )
    baseline = _baseline(reference, classes, positive_class, threshold, task)
    if not baseline:
        notes.append("no baseline: the reference holds no probability sketch to estimate from")
    return EstimatedPerformance(
        task, overall, parts, baseline=baseline, calibration=calibration, notes=tuple(notes)
    )


def _baseline(
    reference: Any, classes: Sequence[Any], positive: Any, threshold: float | None, task: str
) -> dict[str, float]:
    """Binary: the expected metrics on the reference rows, from their probability sketch."""
    if reference is None or task != "binary":
        return {}
    from afterfit.monitoring.cbpe import _binary_point

    preds = getattr(reference, "predictions", {}) or {}
    pos = classes[-1] if positive is None else positive
    stats = preds.get("score") or preds.get(f"proba_{pos}")
    p = None if stats is None else _sketch_probabilities(stats)
    if p is None:
        return {}
    t = 0.5 if threshold is None else float(threshold)
    return _binary_point(p, p >= t)


def performance_drops(est: EstimatedPerformance, *, metric: str, margin: float) -> list[str]:
    """Windows (or ``all``) whose estimated ``metric`` is below the baseline by more than
    ``margin``."""
    base = est.baseline.get(metric)
    if base is None or not math.isfinite(base):
        return []
    out = []
    parts = ([("all", est.overall)] if est.overall is not None else []) + list(est.windows)
    for label, e in parts:
        value = e.estimated.get(metric)
        if value is not None and math.isfinite(value) and value < base - margin:
            out.append(label)
    return out


def multivariate_windows(
    frame: pd.DataFrame,
    *,
    features: Sequence[str],
    windows: list[tuple[str, np.ndarray]],
    reference_rows: pd.DataFrame | None = None,
    max_rows: int = MAX_ROWS,
    alpha: float = 0.05,
    random_state: int = 0,
) -> MultivariateResult:
    """The domain classifier: reference rows against the whole log and each window."""
    features = [f for f in features if f in frame.columns]
    if not features:
        return MultivariateResult(
            "none", None, (), notes=("no multivariate drift: the log holds no feature columns",)
        )
    notes = []
    if reference_rows is not None:
        missing = [f for f in features if f not in reference_rows.columns]
        if missing:
            raise InvalidInputError(
                f"The reference data lacks the model's input columns {missing[:5]}.",
                fix="pass the training or validation table of the bundle's model "
                "(--reference-data).",
            )
        ref, source, skip = reference_rows[features], "reference data", None
    elif len(windows) >= 2:
        first_label, first_rows = windows[0]
        ref = frame.iloc[first_rows][features]
        source, skip = f"the log's first window ({first_label})", first_label
        notes.append(
            "the bundle keeps statistics, not rows: the first window is the reference "
            "(pass --reference-data for the training rows)"
        )
    else:
        return MultivariateResult(
            "none", None, (),
            notes=("no multivariate drift: it needs reference rows (--reference-data) or at "
                   "least two windows (--window)",),
        )  # fmt: skip

    def one(rows: pd.DataFrame, seed: int) -> tuple[MultivariateDrift | None, str]:
        if len(rows) < MIN_ROWS or len(ref) < MIN_ROWS:
            return None, f"fewer than {MIN_ROWS} rows: not tested"
        res = multivariate_drift(
            ref, rows[features], max_rows=max_rows, alpha=alpha, random_state=seed
        )
        return res, ""

    overall = None
    if skip is None:
        overall, note = one(frame, random_state)
        if note:
            notes.append(f"whole log: {note}")
    parts = []
    for i, (label, rows) in enumerate(windows):
        if label == skip:
            continue
        res, note = one(frame.iloc[rows], random_state + 1 + i)
        parts.append((label, res, note))
    return MultivariateResult(source, overall, tuple(parts), notes=tuple(notes))


def add_estimates(
    result: Any,
    bundle: Any,
    log: Any,
    options: dict[str, Any],
    *,
    estimate: bool,
    assume_calibrated: bool,
    multivariate: bool,
    reference_data: Any,
    multivariate_rows: int | None,
) -> None:
    """Compute CBPE and multivariate drift for a :class:`MonitorResult` of
    :func:`afterfit.monitoring.core.monitor_bundle`, and set them on it."""
    from afterfit.monitoring.logs import read_labels
    from afterfit.serving.predlog import unix_seconds

    task = str(getattr(bundle, "task", "") or result.model.get("task") or "")
    classes = getattr(bundle, "classes", None)
    classes = None if classes is None else list(classes)
    features = list(bundle.schema.names)
    outputs = [] if not classes else [f"proba_{c}" for c in classes] + ["decision"]
    # Only what is used: the features for the domain classifier, request_id to join
    # labels. Reading all of them for CBPE alone held the whole log in memory (6.5 GB at
    # 10,000,000 rows x 100 features).
    columns = [
        "ts",
        *(["request_id"] if options.get("labels") is not None else []),
        *(features if multivariate else []),
        *outputs,
    ]
    frame = read_log_frame(
        log, columns, start=unix_seconds(options.get("start")),
        end=unix_seconds(options.get("end")), model_version=options.get("model_version"),
    )  # fmt: skip
    labels = {w.index: result.window_label(w) for w in result.windows}
    parts = _window_parts(frame, result.window, labels)
    if estimate:
        y_true = None
        if options.get("labels") is not None and "request_id" in frame.columns:
            label_frame, column = read_labels(options["labels"], options.get("label_column"))
            lookup = dict(zip(label_frame["request_id"], label_frame[column], strict=True))
            ids = frame["request_id"].astype(str)
            y_true = np.asarray([lookup.get(i) for i in ids.tolist()], dtype=object)
        decision = bundle.decision
        calibrated = decision.calibrator is not None or assume_calibrated
        calibration = (
            f"the bundle's calibration map ({decision.calibrator.get('method', 'fitted')})"
            if decision.calibrator is not None
            else "assumed calibrated (--assume-calibrated)"
            if assume_calibrated
            else "none"
        )
        est = estimate_windows(
            frame, task=task, classes=classes, positive_class=bundle.positive_class,
            threshold=bundle.threshold, calibrated=calibrated, calibration=calibration,
            windows=parts, y_true=y_true, reference=result.reference,
        )  # fmt: skip
        object.__setattr__(result, "estimated", est)
    if multivariate:
        ref_rows = None
        if reference_data is not None:
            from afterfit.data import as_frame, read_table

            if isinstance(reference_data, pd.DataFrame):
                ref_rows = as_frame(reference_data)
            else:
                ref_rows = read_table(reference_data)
            ref_rows = ref_rows.set_axis([str(c) for c in ref_rows.columns], axis=1)
        mv = multivariate_windows(
            frame, features=features, windows=parts, reference_rows=ref_rows,
            max_rows=multivariate_rows or MAX_ROWS,
        )  # fmt: skip
        object.__setattr__(result, "multivariate", mv)
