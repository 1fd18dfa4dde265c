"""The server's Prometheus metrics, in a registry of its own (one per app, so two apps in
one process, as in the tests, never share counters).

Exported families (``GET /metrics``)::

    afterfit_requests_total{route,method,status}     requests answered
    afterfit_connections_closed_total{reason}        connections the server closed:
                                                     header_timeout, body_timeout,
                                                     write_timeout, idle_closed (to make
                                                     room under the limit), over_limit
    afterfit_request_errors_total{route,status}      4xx and 5xx answers
    afterfit_request_latency_seconds{route}          histogram of time in the server
    afterfit_predicted_rows_total                    rows predicted
    afterfit_microbatch_rows                         histogram of rows per model call
    afterfit_prediction                              histogram of the positive-class
                                                     probability (binary), the top-class
                                                     probability (multiclass) or the
                                                     predicted value (regression)
    afterfit_predicted_class_total{class}            predicted classes (classification)
    afterfit_drift_score                             mean PSI of recent inputs against the
                                                     bundle's reference (NaN until known)
    afterfit_prediction_log_pending_rows             rows waiting for the log writer
    afterfit_model_info{name,version,task}           constant 1
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

__all__ = ["CLOSE_REASONS", "CONTENT_TYPE", "METHODS", "ServerMetrics"]

#: The media type of the text exposition format.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: HTTP methods counted under their own name; any other method string a client sends is
#: counted as "other", so a scanner cannot create one time series per made-up method.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Why the server closed a connection itself (a fixed label set, as for methods).
CLOSE_REASONS = ("header_timeout", "body_timeout", "write_timeout", "idle_closed", "over_limit")

_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.5,
    1.0,
    2.0,
    5.0,
    10.0,
)
_PROBA_BUCKETS = tuple(round(x, 2) for x in np.arange(0.05, 1.0001, 0.05))
_VALUE_BUCKETS = tuple(sorted({s * 10.0**e for s in (-1, 1) for e in range(-2, 7)} | {0.0}))


class _ArrayHistogram:
    """A histogram fed whole arrays at once (a batch of 10,000 predictions is one
    ``searchsorted``, not 10,000 ``observe`` calls), exposed by a custom collector."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = np.asarray(sorted(buckets), dtype=float)
        self._counts = np.zeros(len(self.bounds) + 1, dtype=np.int64)  # last: +Inf only
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe_many(self, values: Any) -> None:
        v = np.asarray(values, dtype=float).ravel()
        v = v[np.isfinite(v)]
        if v.size == 0:
            return
        idx = np.searchsorted(self.bounds, v, side="left")  # value <= bound goes in bound
        counts = np.bincount(idx, minlength=len(self.bounds) + 1)
        with self._lock:
            self._counts += counts
            self._sum += float(v.sum())

    def collect(self) -> Iterator[Any]:
        from prometheus_client.metrics_core import Metric

        with self._lock:
            cumulative = np.cumsum(self._counts)
            total = float(self._sum)
        # Samples written out by hand: prometheus_client's HistogramMetricFamily drops
        # _sum and _count when a bucket is negative (an OpenMetrics rule), and regression
        # values can be.
        family = Metric(self.name, self.documentation, "histogram")
        for bound, count in zip(self.bounds, cumulative, strict=False):
            family.add_sample(f"{self.name}_bucket", {"le": repr(float(bound))}, float(count))
        family.add_sample(f"{self.name}_bucket", {"le": "+Inf"}, float(cumulative[-1]))
        family.add_sample(f"{self.name}_count", {}, float(cumulative[-1]))
        family.add_sample(f"{self.name}_sum", {}, total)
        yield family


class ServerMetrics:
    """Counters, histograms and gauges of one server app.

    Parameters
    ----------
    model_name, model_version, task : str
    classes : sequence, optional
        The classes of a classifier (labels of ``afterfit_predicted_class_total``).
    """

    def __init__(
        self,
        *,
        model_name: str,
        model_version: str,
        task: str,
        classes: Sequence[Any] | None = None,
    ) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "afterfit_requests",
            "Requests answered, by route, method and status code.",
            ["route", "method", "status"],
            registry=r,
        )
        self.errors = Counter(
            "afterfit_request_errors",
            "Requests answered with a 4xx or 5xx status, by route and status code.",
            ["route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "afterfit_request_latency_seconds",
            "Time from the request's arrival to the end of its answer, by route.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.closed = Counter(
            "afterfit_connections_closed",
            "Connections the server closed itself: a client too slow to send its request "
            "line and headers (header_timeout) or its body (body_timeout), one that stopped "
            "reading its answer (write_timeout), an idle one closed to make room under the "
            "connection limit (idle_closed), or a new one refused over it (over_limit).",
            ["reason"],
            registry=r,
        )
        for reason in CLOSE_REASONS:  # exported at 0 from the start, for rate() queries
            self.closed.labels(reason)
        self.rows = Counter("afterfit_predicted_rows", "Rows predicted.", registry=r)
        self.batch_rows = Histogram(
            "afterfit_microbatch_rows",
            "Rows per model call (micro-batches of concurrent requests, or one batch).",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096, 16384, 65536),
            registry=r,
        )
        self.task = task
        what = {
            "binary": "the positive-class probability",
            "multiclass": "the top-class probability",
        }.get(task, "the predicted value")
        self.prediction = _ArrayHistogram(
            "afterfit_prediction",
            f"Distribution of predictions: {what}.",
            _PROBA_BUCKETS if task in ("binary", "multiclass") else _VALUE_BUCKETS,
        )
        r.register(self.prediction)
        self.classes = None if classes is None else [str(c) for c in classes]
        self.predicted_class = (
            Counter(
                "afterfit_predicted_class",
                "Predicted classes (the decision at the bundle's threshold).",
                ["class"],
                registry=r,
            )
            if self.classes
            else None
        )
        self.drift = Gauge(
            "afterfit_drift_score",
            "Mean PSI of the recent inputs against the bundle's reference statistics "
            "(NaN until enough rows arrived, or without reference statistics).",
            registry=r,
        )
        self.drift.set(float("nan"))
        self.log_pending = Gauge(
            "afterfit_prediction_log_pending_rows",
            "Rows enqueued for the prediction log and not yet committed.",
            registry=r,
        )
        info = Gauge(
            "afterfit_model_info",
            "The model being served (constant 1).",
            ["name", "version", "task"],
            registry=r,
        )
        info.labels(str(model_name), str(model_version), str(task)).set(1)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request. ``route`` must come from a fixed set (the caller
        maps unknown paths to ``other``); a method outside :data:`METHODS` is counted as
        ``other`` here."""
        code = str(status)
        self.requests.labels(route, method if method in METHODS else "other", code).inc()
        if status >= 400:
            self.errors.labels(route, code).inc()
        self.latency.labels(route).observe(seconds)

    def observe_closed(self, reason: str) -> None:
        """Count a connection the server closed (``reason`` from :data:`CLOSE_REASONS`)."""
        self.closed.labels(reason if reason in CLOSE_REASONS else "other").inc()

    def observe_predictions(self, scores: Any, decisions: Any | None) -> None:
        """Record a model call's outputs: ``scores`` (see the module docstring) and the
        decided classes (classification)."""
        n = int(np.asarray(scores).shape[0]) if scores is not None else 0
        self.rows.inc(n)
        self.batch_rows.observe(n)
        if scores is not None:
            self.prediction.observe_many(scores)
        if decisions is not None and self.predicted_class is not None:
            labels, counts = np.unique(np.asarray(decisions).astype(str), return_counts=True)
            for label, count in zip(labels, counts, strict=True):
                self.predicted_class.labels(str(label)).inc(int(count))

    def render(self) -> bytes:
        """The registry in Prometheus' text format."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)
