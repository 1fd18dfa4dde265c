"""The model server: a FastAPI app serving one bundle.

Routes::

    POST /predict   one record, a batch of records (JSON), or an Arrow IPC stream
    GET  /health    the process is alive (always 200)
    GET  /ready     the model is loaded and the prediction log writer is healthy (200/503)
    GET  /schema    the input schema: the JSON Schema of one record and the fields
    GET  /metrics   Prometheus metrics (see :mod:`afterfit.serving.prometheus`)
    GET  /docs      OpenAPI docs (the spec at /openapi.json)

``POST /predict`` takes, with ``Content-Type: application/json``:

- one record, an object with every field of the schema: ``{"age": 41, "plan": "pro"}``;
- a batch: ``{"records": [{...}, {...}]}`` (an object whose only key is ``records``), or a
  plain list ``[{...}, {...}]``;

or, with ``Content-Type: application/vnd.apache.arrow.stream``, an Arrow IPC stream of one
table with the schema's columns (for big batches: no JSON parsing, and the log writer
serialises it column-wise). It answers::

    {"request_id": "...", "model_name": "churn", "model_version": "1.0", "n_rows": 1,
     "predictions": [{...one object per row, as the bundle writes them...}]}

Bad input is answered with a 4xx and a message, never a 500: 422 with field-level errors
``{"detail": [{"loc": [row, field], "msg": ..., "type": ...}], "request_id": ...}``
(``row`` is the row's position in the request, ``null`` for the request as a whole), 413
for a body or batch over the limits, 415 for another content type, 401 without the API
key. A 500 means a fault of the server, logged with its traceback. A row whose model
output is NaN or infinite (a float32 model given 1e39) gets no decision: its request is
answered 422 naming the row and the fields beyond float32's range.

Bodies are read with bounded memory and time (:mod:`.request_body`): big JSON bodies
record by record in a thread of their own, Arrow streams checked from their message
headers (rows, decoded bytes, trailing bytes) before anything is decoded. Slow clients
and connection counts are the protocol's business (:mod:`.connection_guard`, which
``afterfit serve`` installs).

Concurrent small requests are gathered into one model call (:mod:`.microbatch`); every
prediction is logged off the request path (:mod:`.predlog`), and a request is answered
only after its rows are enqueued for the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.requests import ClientDisconnect

from afterfit.serving.microbatch import MicroBatcher
from afterfit.serving.middleware import ServingMiddleware, error_body
from afterfit.serving.predlog import LogRow, PredictionLogError, PredictionLogWriter
from afterfit.serving.prometheus import CONTENT_TYPE as METRICS_CONTENT_TYPE
from afterfit.serving.prometheus import ServerMetrics
from afterfit.serving.request_body import (
    SMALL_JSON_BYTES,
    RequestError,
    check_charset,
    err,
    parse_arrow,
    parse_json,
)

__all__ = [
    "ARROW_STREAM",
    "DEFAULT_MAX_BATCH_ROWS",
    "DEFAULT_MAX_BODY_BYTES",
    "create_app",
]

logger = logging.getLogger("afterfit.server")

ARROW_STREAM = "application/vnd.apache.arrow.stream"
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_BATCH_ROWS = 100_000
#: Requests with more rows than this validate and predict in a worker thread on their own
#: instead of joining a micro-batch (and instead of blocking the event loop).
_INLINE_ROWS = 64
_DRIFT_WINDOW_ROWS = 2_000
_DRIFT_EVERY_S = 5.0

_PUBLIC = {"/health", "/ready", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}


_RequestError = RequestError
_err = err


# --- the bundle, as the server uses it ----------------------------------------------------


@dataclass
class _Outputs:
    """One model call's outputs for its requests: the response rows and the log rows."""

    rows: list[Any]  # response objects, one per row
    logged: list[dict[str, Any]]  # flat log outputs, one per row
    scores: np.ndarray | None
    decisions: np.ndarray | None


class _Model:
    """The bundle's prediction interface, normalised for the server: one call gives the
    response rows, the flat log outputs (``proba_<class>``, ``decision`` or
    ``prediction``) and the values for the metrics."""

    def __init__(self, bundle: Any) -> None:
        self.bundle = bundle
        self.name = str(getattr(bundle, "name", "model"))
        self.version = str(getattr(bundle, "version", "0"))
        self.task = str(getattr(bundle, "task", "binary"))
        classes = getattr(bundle, "classes", None)
        self.classes = None if classes is None else list(classes)
        self.schema = bundle.schema
        self.names = tuple(f.name for f in self.schema.fields)
        self.positive = -1  # column of the positive class (binary), for the metrics
        positive = getattr(bundle, "positive_class", None)
        if self.classes and positive is not None:
            for i, c in enumerate(self.classes):
                if c == positive or str(c) == str(positive):
                    self.positive = i
        try:  # the rows are validated already; the bundle need not check them again
            self._predict_kw = (
                {"validate": False}
                if "validate" in inspect.signature(bundle.predict_frame).parameters
                else {}
            )
        except (TypeError, ValueError):
            self._predict_kw = {}

    def predict(self, frame: pd.DataFrame) -> _Outputs:
        preds = self.bundle.predict_frame(frame, **self._predict_kw)
        n = len(frame)
        proba = getattr(preds, "proba", None)
        if proba is None:  # a classifier without probabilities: its decision scores
            proba, prefix = getattr(preds, "scores", None), "score_"
        else:
            prefix = "proba_"
        decision = getattr(preds, "decision", None)
        prediction = getattr(preds, "prediction", None)
        logged: list[dict[str, Any]]
        scores: np.ndarray | None = None
        decisions = None if decision is None else np.asarray(decision)
        if self.task != "regression" and self.classes and proba is not None:
            p = np.asarray(proba, dtype=float)
            if p.ndim == 1:  # a binary model's positive-class column
                p = np.column_stack([1.0 - p, p])
            keys = [f"{prefix}{c}" for c in self.classes]
            dec = (
                decisions
                if decisions is not None
                else np.asarray(self.classes, dtype=object)[p.argmax(axis=1)]
            )
            dec_list = [_plain(v) for v in dec.tolist()]
            logged = [
                {**dict(zip(keys, [_plain(v) for v in row], strict=True)), "decision": d}
                for row, d in zip(p.tolist(), dec_list, strict=True)
            ]
            if prefix == "proba_":
                scores = p[:, self.positive] if p.shape[1] == 2 else p.max(axis=1)
            decisions = dec
        else:
            values = np.asarray(prediction if prediction is not None else decision)
            logged = [{"prediction": _plain(v)} for v in values.tolist()]
            if values.dtype.kind in "fiu":
                scores = values.astype(float)
            decisions = None
        output_records = getattr(self.bundle, "output_records", None)
        rows = list(output_records(preds)) if output_records is not None else logged
        if len(rows) != n:
            raise RuntimeError(f"the bundle returned {len(rows)} output rows for {n} rows")
        return _Outputs(rows, logged, scores, decisions)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return _plain(value)
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    return str(value)


def _dumps(doc: Any) -> bytes:
    try:
        return json.dumps(doc, default=_json_default, allow_nan=False).encode()
    except ValueError:  # a non-finite number in an output: null (JSON has no NaN)
        return json.dumps(_finite(doc), default=_json_default).encode()


def _finite(doc: Any) -> Any:
    if isinstance(doc, float):
        return doc if math.isfinite(doc) else None
    if isinstance(doc, dict):
        return {k: _finite(v) for k, v in doc.items()}
    if isinstance(doc, list | tuple):
        return [_finite(v) for v in doc]
    return doc


# --- the app ------------------------------------------------------------------------------


@dataclass
class _Work:
    """One request's validated rows, waiting for the model."""

    columns: dict[str, np.ndarray]
    n_rows: int


class _Server:
    """The state behind one app: model, batcher, log writer, metrics, drift window."""

    def __init__(
        self,
        bundle: Any,
        *,
        log_url: str | None,
        api_key: str | None,
        max_body_bytes: int,
        max_batch_rows: int,
        max_decoded_bytes: int,
        microbatch_max_rows: int,
        microbatch_wait_ms: float,
        model_threads: int,
    ) -> None:
        self.model = _Model(bundle)
        self.max_body_bytes = int(max_body_bytes)
        self.max_batch_rows = int(max_batch_rows)
        self.max_decoded_bytes = int(max_decoded_bytes)
        self.api_key = api_key
        self.metrics = ServerMetrics(
            model_name=self.model.name,
            model_version=self.model.version,
            task=self.model.task,
            classes=self.model.classes,
        )
        # Connects (and creates the table) now: an unreachable log fails at startup.
        self.writer = (
            None
            if log_url is None
            else PredictionLogWriter(
                log_url, model_name=self.model.name, model_version=self.model.version
            )
        )
        self.executor = ThreadPoolExecutor(
            max_workers=max(int(model_threads), 1), thread_name_prefix="afterfit-model"
        )
        # Big bodies are decoded here, one at a time: the event loop stays free (/health
        # answers), the model threads stay free for small requests, and at most one big
        # body's objects exist at once.
        self.parse_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="afterfit-parse")
        self.batcher: MicroBatcher[_Work, _Outputs | BaseException] = MicroBatcher(
            self._run_batch,
            self.executor,
            max_rows=microbatch_max_rows,
            wait_ms=microbatch_wait_ms,
        )
        self.reference = _reference(bundle)
        self._all_float = all(
            f.kind == "number" and f.dtype == "float64" for f in self.model.schema.fields
        )
        self._recent: deque[pd.DataFrame] = deque()
        self._recent_rows = 0
        self._recent_lock = threading.Lock()
        self._drift_at = 0.0
        self.started = False

    # -- validation (schema fast path) ---------------------------------------------------
    def validate_records(self, records: list[Any]) -> dict[str, np.ndarray]:
        from afterfit.bundle.validation import SchemaValidationError

        try:
            return self.model.schema.validate_columns(records)
        except SchemaValidationError as exc:
            raise _RequestError(422, exc.errors) from None
        except RecursionError:
            raise _RequestError(422, _err("the records are nested too deeply", "json")) from None
        except (ValueError, TypeError, OverflowError) as exc:
            # Input the schema's checks did not anticipate (a 400-digit integer...).
            raise _RequestError(422, _err(f"invalid value: {exc}", "value")) from None

    def validate_frame(self, frame: Any) -> pd.DataFrame:
        from afterfit.bundle.validation import SchemaValidationError

        try:
            return self.model.schema.validate_frame(frame)
        except SchemaValidationError as exc:
            raise _RequestError(422, exc.errors) from None
        except Exception as exc:  # a column type no schema check anticipated
            raise _RequestError(
                422, _err(f"the Arrow table cannot be read as the model's input: {exc}", "arrow")
            ) from None

    # -- the model, in a worker thread ---------------------------------------------------
    def _frame(self, works: Sequence[_Work]) -> pd.DataFrame:
        names = self.model.names
        if self._all_float:
            # All-float schemas (the common case; validate_columns gives float64 columns):
            # one 2-D block instead of a pandas column per field, several times cheaper
            # for the few rows of a micro-batch.
            if len(works) == 1:
                cols = [works[0].columns[n] for n in names]
            else:
                cols = [np.concatenate([w.columns[n] for w in works]) for n in names]
            return pd.DataFrame(np.column_stack(cols), columns=list(names), copy=False)
        if len(works) == 1:
            return self.model.schema.to_frame(works[0].columns)
        columns = {n: _concat([w.columns[n] for w in works]) for n in names}
        return self.model.schema.to_frame(columns)

    def _run_batch(self, works: Sequence[_Work]) -> list[_Outputs | BaseException]:
        frame = self._frame(works)
        try:
            outputs = self._predict(frame)
        except RequestError as exc:
            if len(works) == 1:
                return [exc]
            # A row of one request has no finite output (the bundle refuses to decide it):
            # each request runs alone, so only the one holding that row gets the 422.
            return [self._run_batch([w])[0] for w in works]
        out: list[_Outputs | BaseException] = []
        start = 0
        for w in works:
            stop = start + w.n_rows
            out.append(
                _Outputs(
                    outputs.rows[start:stop],
                    outputs.logged[start:stop],
                    None,
                    None,
                )
            )
            start = stop
        return out

    def _predict(self, frame: pd.DataFrame) -> _Outputs:
        from afterfit.bundle.validation import SchemaValidationError

        try:
            outputs = self.model.predict(frame)
        except SchemaValidationError as exc:
            # The bundle's NonFiniteOutputError: rows whose output is NaN or infinite (a
            # float32 model overflowing on 1e39) get no decision; the errors name the row
            # (counted in this frame) and the fields beyond float32's range.
            raise RequestError(422, exc.errors) from None
        self.metrics.observe_predictions(outputs.scores, outputs.decisions)
        if self.reference is not None:
            self._remember(frame)
        return outputs

    def run_frame(self, frame: pd.DataFrame) -> _Outputs:
        """A big request on its own (no micro-batch)."""
        return self._predict(frame)

    # -- drift -----------------------------------------------------------------------------
    def _remember(self, frame: pd.DataFrame) -> None:
        with self._recent_lock:
            self._recent.append(frame.tail(_DRIFT_WINDOW_ROWS))
            self._recent_rows += min(len(frame), _DRIFT_WINDOW_ROWS)
            while self._recent_rows - len(self._recent[0]) >= _DRIFT_WINDOW_ROWS:
                self._recent_rows -= len(self._recent.popleft())

    def update_drift(self) -> None:
        """Recompute the drift gauge (at most every few seconds; called on a scrape)."""
        if self.reference is None or time.monotonic() - self._drift_at < _DRIFT_EVERY_S:
            return
        with self._recent_lock:
            frames = list(self._recent)
        if not frames:
            return
        self._drift_at = time.monotonic()
        try:
            window = pd.concat(frames, ignore_index=True).tail(_DRIFT_WINDOW_ROWS)
            self.metrics.drift.set(self.reference.drift_score(window))
        except Exception:  # the gauge is advisory: never fail a scrape over it
            logger.warning("could not compute the live drift score", exc_info=True)

    # -- logging -----------------------------------------------------------------------------
    def enqueue_log(
        self,
        request_id: str,
        features: Sequence[Any],
        outputs: _Outputs,
        latency_ms: float,
    ) -> None:
        if self.writer is None:
            return
        ts = time.time()
        rows = [
            LogRow(ts, request_id, f, o, latency_ms)
            for f, o in zip(features, outputs.logged, strict=True)
        ]
        try:
            self.writer.submit(rows)
        except PredictionLogError as exc:
            raise _RequestError(503, f"the prediction log is not accepting rows: {exc}") from None

    def ready(self) -> tuple[bool, dict[str, Any]]:
        log: dict[str, Any] = {"configured": self.writer is not None}
        ok = self.started
        if self.writer is not None:
            log.update(
                healthy=self.writer.healthy,
                pending_rows=self.writer.pending_rows,
                committed_rows=self.writer.committed_rows,
                last_error=self.writer.last_error,
            )
            ok = ok and self.writer.healthy
        return ok, {"model_loaded": True, "prediction_log": log}


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    if all(p.dtype == parts[0].dtype for p in parts):
        return np.concatenate(parts)
    if any(p.dtype == object for p in parts):
        return np.concatenate([p.astype(object) for p in parts])
    return np.concatenate(parts)  # numpy's promotion (int64 and float64 -> float64)


def _reference(bundle: Any) -> Any:
    """The bundle's reference statistics for the live drift gauge, or None."""
    ref = getattr(bundle, "reference", None)
    if not ref:
        return None
    try:
        from afterfit.bundle.reference import ReferenceStats

        return ref if hasattr(ref, "drift_score") else ReferenceStats.from_dict(ref)
    except Exception:
        logger.warning("the bundle's reference statistics cannot be read; no drift gauge")
        return None


def _openapi_extra(record_schema: dict[str, Any], max_rows: int) -> dict[str, Any]:
    batch = {"type": "array", "items": record_schema, "minItems": 1, "maxItems": max_rows}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "anyOf": [
                            record_schema,
                            {
                                "type": "object",
                                "title": "Batch",
                                "properties": {"records": batch},
                                "required": ["records"],
                                "additionalProperties": False,
                            },
                            {**batch, "title": "RecordList"},
                        ]
                    }
                },
                ARROW_STREAM: {
                    "schema": {
                        "type": "string",
                        "format": "binary",
                        "description": "An Arrow IPC stream of one table with the "
                        "schema's columns.",
                    }
                },
            },
        }
    }


def _error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        "description": "An error, with a message.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    what = {
        401: "Missing or wrong API key.",
        413: "Body or batch over the limits.",
        415: "A content type other than JSON or Arrow IPC.",
        422: "Input that does not fit the schema (field-level errors).",
        503: "Not ready: the prediction log is not accepting rows.",
    }
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        out[code] = {**text, "description": what[code]}
    return out


def create_app(
    bundle: Any,
    *,
    log_url: str | None = None,
    api_key: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS,
    max_decoded_bytes: int | None = None,
    microbatch_max_rows: int = 256,
    microbatch_wait_ms: float = 0.0,
    model_threads: int = 2,
) -> Any:
    """A FastAPI app serving ``bundle``.

    Parameters
    ----------
    bundle : afterfit.bundle.core.Bundle
        A loaded (verified) bundle: ``name``, ``version``, ``task``, ``classes``,
        ``schema``, ``reference``, ``predict_frame``, ``output_records``.
    log_url : str, optional
        The prediction log (``sqlite:///preds.db``, ``postgresql+psycopg://...``). It is
        reached now, so an unreachable log raises here, before the server starts.
        None: predictions are not logged.
    api_key : str, optional
        Required on ``/predict``, ``/schema`` and ``/metrics`` when given, as
        ``X-API-Key`` or ``Authorization: Bearer``. ``/health``, ``/ready`` and the docs
        stay open (for probes).
    max_body_bytes : int, default 32 MiB
        Bodies over this are refused with 413 (before they are read when the client
        declares their length).
    max_batch_rows : int, default 100,000
        Rows per request at most (413 beyond; for big JSON bodies and Arrow streams,
        found before the rest of the body is decoded).
    max_decoded_bytes : int, optional
        The most bytes an Arrow body may decode to, compressed buffers counted at their
        decompressed size (413 beyond, before anything is decompressed). Default: four
        times ``max_body_bytes``.
    microbatch_max_rows : int, default 256
        Rows per gathered model call at most.
    microbatch_wait_ms : float, default 0
        How long a micro-batch waits for more requests; 0 batches only what queues up
        while the model is busy (no added latency at low load).
    model_threads : int, default 2
        Worker threads running the model (ONNX Runtime releases the GIL while it runs).

    Returns
    -------
    fastapi.FastAPI

    Raises
    ------
    PredictionLogError
        The prediction log cannot be reached.
    """
    if max_decoded_bytes is None:
        max_decoded_bytes = 4 * max_body_bytes
    if max_body_bytes <= 0 or max_batch_rows <= 0 or max_decoded_bytes <= 0:
        from afterfit.errors import InvalidInputError

        raise InvalidInputError(
            f"max_body_bytes, max_batch_rows and max_decoded_bytes must be positive; got "
            f"{max_body_bytes}, {max_batch_rows} and {max_decoded_bytes}.",
            fix="pass positive limits.",
        )
    server = _Server(
        bundle,
        log_url=log_url,
        api_key=api_key,
        max_body_bytes=max_body_bytes,
        max_batch_rows=max_batch_rows,
        max_decoded_bytes=max_decoded_bytes,
        microbatch_max_rows=microbatch_max_rows,
        microbatch_wait_ms=microbatch_wait_ms,
        model_threads=model_threads,
    )
    model = server.model
    record_schema = model.schema.json_schema()

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        if server.writer is not None:
            server.writer.start()
        server.started = True
        try:
            yield
        finally:
            server.started = False
            if server.writer is not None:
                # Flush off the loop: committing the last rows may take a moment.
                await asyncio.get_running_loop().run_in_executor(None, server.writer.close)
            server.executor.shutdown(wait=True)
            server.parse_executor.shutdown(wait=True)

    app = FastAPI(
        title=f"afterfit · {model.name} {model.version}",
        version=model.version,
        description=(
            f"Predictions of the {model.task} model **{model.name}** version "
            f"{model.version}, served by afterfit. POST one record (an object with every "
            'field of the schema), `{"records": [...]}` or a list of records as JSON, or '
            f"an Arrow IPC stream (`{ARROW_STREAM}`) for big batches."
        ),
        lifespan=lifespan,
        **_no_telemetry(),
    )
    app.state.afterfit = server

    def reply(status: int, doc: Any) -> Response:
        return Response(_dumps(doc), status_code=status, media_type="application/json")

    def reply_error(request: Request, exc: _RequestError) -> Response:
        state = request.scope["state"]
        state["error"] = (
            exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail[:3])
        )[:300]
        return Response(
            error_body(exc.status, exc.detail, state["request_id"]),
            status_code=exc.status,
            media_type="application/json",
        )

    @app.post(
        "/predict",
        summary="Predict one record or a batch",
        openapi_extra=_openapi_extra(record_schema, max_batch_rows),
        responses={
            200: {
                "description": "The predictions, one object per row, in order.",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/PredictResponse"}}
                },
            },
            **_error_responses(401, 413, 415, 422, 503),
        },
    )
    async def predict(request: Request) -> Response:
        state = request.scope["state"]
        request_id: str = state["request_id"]
        t0: float = state["t0"]
        try:
            ctype = request.headers.get("content-type", "application/json")
            media = ctype.split(";", 1)[0].strip().lower()
            is_json = media in ("application/json", "text/json", "") or media.endswith("+json")
            if media != ARROW_STREAM and not is_json:  # refused before the body is read
                raise _RequestError(
                    415,
                    f"the content type {media!r} is not accepted; send application/json or "
                    f"{ARROW_STREAM}.",
                )
            if is_json:
                check_charset(ctype)
            try:
                chunks = await _read_body(request)
            except ClientDisconnect:
                # Nobody reads this answer; its status is for the metrics and access log
                # (408 when the connection guard closed a body sent too slowly).
                return Response(status_code=408 if state.get("timed_out") else 400)
            loop = asyncio.get_running_loop()
            if media == ARROW_STREAM:
                table = await loop.run_in_executor(
                    server.parse_executor,
                    _in_thread,
                    parse_arrow,
                    chunks,
                    server.max_batch_rows,
                    server.max_decoded_bytes,
                )
                n = table.num_rows
                _check_rows(n, server.max_batch_rows)
                frame = await loop.run_in_executor(server.executor, server.validate_frame, table)
                outputs = await loop.run_in_executor(server.executor, server.run_frame, frame)
                features: Sequence[Any] = _FrameRecords(frame)
            else:
                if sum(map(len, chunks)) <= SMALL_JSON_BYTES:
                    records, _single = parse_json(b"".join(chunks), server.max_batch_rows)
                else:
                    records, _single = await loop.run_in_executor(
                        server.parse_executor,
                        _in_thread,
                        parse_json,
                        chunks,
                        server.max_batch_rows,
                    )
                del chunks  # the records are what remains of the body
                n = len(records)
                _check_rows(n, server.max_batch_rows)
                if n <= _INLINE_ROWS:
                    columns = server.validate_records(records)
                    outputs = await server.batcher.submit(_Work(columns, n), n)
                else:
                    columns = await loop.run_in_executor(
                        server.executor, server.validate_records, records
                    )
                    frame = await loop.run_in_executor(
                        server.executor, model.schema.to_frame, columns
                    )
                    outputs = await loop.run_in_executor(server.executor, server.run_frame, frame)
                features = records
            state["n_rows"] = n
            latency_ms = (time.perf_counter() - t0) * 1000.0
            if n <= _INLINE_ROWS:
                server.enqueue_log(request_id, features, outputs, latency_ms)
            else:  # building many log rows would hold up the event loop
                await loop.run_in_executor(
                    server.executor, server.enqueue_log, request_id, features, outputs, latency_ms
                )
            return reply(
                200,
                {
                    "request_id": request_id,
                    "model_name": model.name,
                    "model_version": model.version,
                    "n_rows": n,
                    "predictions": outputs.rows,
                },
            )
        except _RequestError as exc:
            return reply_error(request, exc)

    @app.get("/health", summary="The process is alive")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/ready",
        summary="Ready to serve: model loaded, prediction log healthy",
        responses={503: {"description": "Not ready (the body says why)."}},
    )
    async def ready() -> Response:
        ok, detail = server.ready()
        return reply(200 if ok else 503, {"status": "ready" if ok else "not ready", **detail})

    @app.get(
        "/schema",
        summary="The input schema",
        responses=_error_responses(401),
    )
    async def schema() -> dict[str, Any]:
        return {
            "model_name": model.name,
            "model_version": model.version,
            "task": model.task,
            "classes": None if model.classes is None else [_plain(c) for c in model.classes],
            "threshold": _plain(getattr(bundle, "threshold", None)),
            "record": record_schema,
            "fields": [f.to_dict() for f in model.schema.fields],
        }

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={
            200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
            **_error_responses(401),
        },
    )
    async def metrics() -> Response:
        if server.writer is not None:
            server.metrics.log_pending.set(server.writer.pending_rows)
        await asyncio.get_running_loop().run_in_executor(server.executor, server.update_drift)
        return Response(server.metrics.render(), media_type=METRICS_CONTENT_TYPE)

    _add_components(app)
    routes = {"/predict", "/health", "/ready", "/schema", "/metrics", "/docs", "/openapi.json"}
    app.add_middleware(
        ServingMiddleware,
        metrics=server.metrics,
        routes=routes,
        protected={"/predict", "/schema", "/metrics"},
        api_key=api_key,
        max_body_bytes=max_body_bytes,
    )
    return app


def _no_telemetry() -> dict[str, Any]:
    """FastAPI's native OpenTelemetry off (it checks its providers on every request, about
    0.1 ms): the server has its own Prometheus metrics. Older FastAPI has no such option."""
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    return {}


async def _read_body(request: Request) -> list[bytes]:
    """The body's chunks as they arrived. Joined where they are parsed: a big body in the
    parse thread, not on the event loop (Starlette's ``request.body()`` joins up to
    32 MiB in one step of the loop)."""
    return [chunk async for chunk in request.stream() if chunk]


def _in_thread(parse: Any, chunks: list[bytes], *limits: int) -> Any:
    """``parse(body, *limits)`` for a worker thread. A refusal is raised without its
    traceback: the frames would keep what was parsed so far (up to ``max_batch_rows``
    records) alive until the event loop drops the exception, and free it there."""
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    chunks.clear()  # the request is done with them: one copy of the body is enough
    try:
        return parse(body, *limits)
    except RequestError as exc:
        refusal = exc
    raise refusal.with_traceback(None)


def _check_rows(n: int, limit: int) -> None:
    if n == 0:
        raise _RequestError(422, _err("the batch holds no records", "empty"))
    if n > limit:
        raise _RequestError(
            413, f"the batch has {n} rows; the limit is {limit} rows per request. Split it."
        )


class _FrameRecords(Sequence[Any]):
    """The rows of a validated frame as records, built lazily for the log writer."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._records: list[dict[str, Any]] | None = None
        self._frame = frame

    def _all(self) -> list[dict[str, Any]]:
        if self._records is None:
            self._records = self._frame.to_dict("records")
        return self._records

    def __len__(self) -> int:
        return len(self._frame)

    def __getitem__(self, i: Any) -> Any:
        return self._all()[i]

    def __iter__(self) -> Any:
        return iter(self._all())


def _add_components(app: Any) -> None:
    """Response schemas the routes reference, added to FastAPI's generated spec."""
    base_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = base_openapi()
        components = spec.setdefault("components", {}).setdefault("schemas", {})
        components["Error"] = {
            "type": "object",
            "properties": {
                "detail": {
                    "anyOf": [
                        {"type": "string"},
                        {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "loc": {
                                        "type": "array",
                                        "items": {"type": ["integer", "string", "null"]},
                                    },
                                    "msg": {"type": "string"},
                                    "type": {"type": "string"},
                                },
                                "required": ["loc", "msg", "type"],
                            },
                        },
                    ]
                },
                "request_id": {"type": "string"},
            },
            "required": ["detail", "request_id"],
        }
        components["PredictResponse"] = {
            "type": "object",
            "properties": {
                "request_id": {"type": "string"},
                "model_name": {"type": "string"},
                "model_version": {"type": "string"},
                "n_rows": {"type": "integer", "minimum": 1},
                "predictions": {
                    "type": "array",
                    "items": {"type": "object"},
                    "description": "One object per row: class probabilities and the "
                    "decision at the bundle's threshold (classification), or the "
                    "predicted value (regression).",
                },
            },
            "required": ["request_id", "model_name", "model_version", "n_rows", "predictions"],
        }
        spec.setdefault("components", {})["securitySchemes"] = {
            "APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "Bearer": {"type": "http", "scheme": "bearer"},
        }
        app.openapi_schema = spec
        return spec

    app.openapi = openapi
