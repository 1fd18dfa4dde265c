"""The server's outer layer, as one plain ASGI middleware (no per-request task or copy of
the body, unlike Starlette's ``BaseHTTPMiddleware``): request ids, the API key, the body
size limit, metrics, the JSON access log and the last-resort error handler.

Order of checks on every HTTP request:

1. a request id: the client's ``X-Request-ID`` when it is short and plain, else a new one;
   it is answered in the ``X-Request-ID`` header and logged;
2. the API key, on protected paths: ``X-API-Key: <key>`` or ``Authorization: Bearer
   <key>``; otherwise 401;
3. ``Content-Length`` above the limit: 413 before a byte of the body is read; a body
   without a length (chunked) is counted as it streams in and cut off with 413 at the limit;
   both answers close the connection (``Connection: close``), so the rest of the body is
   not read at all;
4. the app; an exception that escapes it is logged with its traceback and answered 500
   (the only way to get a 500: input errors are answered by the routes with 4xx).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from afterfit.serving.access_log import log_access
from afterfit.serving.prometheus import ServerMetrics

__all__ = ["BodyTooLarge", "ServingMiddleware", "error_body"]

logger = logging.getLogger("afterfit.server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
#: On answers given before the body was read: the connection is not worth keeping (the
#: rest of a refused body would have to be read and thrown away first).
_CLOSE = (b"connection", b"close")


class BodyTooLarge(Exception):
    """The request body grew past the limit while it was read."""


def error_body(status: int, detail: Any, request_id: str) -> bytes:
    """The JSON body of an error answer: ``{"detail": ..., "request_id": ...}``."""
    return json.dumps({"detail": detail, "request_id": request_id}).encode()


class ServingMiddleware:
    """See the module docstring.

    Parameters
    ----------
    app : ASGI app
    metrics : ServerMetrics
    routes : set of str
        Paths counted under their own ``route`` label; anything else is ``other`` (so a
        scanner cannot blow up the metrics' label sets).
    protected : set of str
        Paths that need the API key (when one is set).
    api_key : str, optional
    max_body_bytes : int
    """

    def __init__(
        self,
        app: Any,
        *,
        metrics: ServerMetrics,
        routes: set[str],
        protected: set[str],
        api_key: str | None,
        max_body_bytes: int,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes
        self.protected = protected
        self.api_key = api_key.encode() if api_key else None
        self.max_body_bytes = int(max_body_bytes)

    def _authorized(self, headers: dict[bytes, bytes]) -> bool:
        assert self.api_key is not None
        given = headers.get(b"x-api-key")
        if given is None:
            auth = headers.get(b"authorization", b"")
            scheme, _, token = auth.partition(b" ")
            if scheme.lower() != b"bearer":
                return False
            given = token.strip()
        return hmac.compare_digest(given, self.api_key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        path: str = scope["path"]
        method: str = scope["method"]
        headers = dict(scope["headers"])
        client_id = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = client_id if _REQUEST_ID.match(client_id) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["n_rows"] = 0
        state["t0"] = t0
        status = 500
        started = False
        error: str | None = None
        rid_header = (b"x-request-id", request_id.encode())

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        async def answer(code: int, detail: Any, extra: list[tuple[bytes, bytes]] = ()) -> None:  # type: ignore[assignment]
            body = error_body(code, detail, request_id)
            await send_wrapper(
                {
                    "type": "http.response.start",
                    "status": code,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        *extra,
                    ],
                }
            )
            await send_wrapper({"type": "http.response.body", "body": body})

        limit = self.max_body_bytes
        seen = 0

        async def receive_limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        try:
            if (
                self.api_key is not None
                and path in self.protected
                and not self._authorized(headers)
            ):
                error = "unauthorized"
                await answer(
                    401,
                    "missing or wrong API key: send it as 'X-API-Key: <key>' or "
                    "'Authorization: Bearer <key>'.",
                    [(b"www-authenticate", b'Bearer realm="afterfit"')],
                )
                return
            length = headers.get(b"content-length")
            if length is not None:
                try:
                    declared = int(length)
                except ValueError:
                    declared = -1
                if declared < 0:
                    error = "bad content-length"
                    await answer(400, "the Content-Length header is not a number.", [_CLOSE])
                    return
                if declared > limit:
                    error = "body too large"
                    await answer(
                        413,
                        f"the request body has {declared} bytes; the limit is {limit} bytes. "
                        "Send fewer rows per request (or Arrow IPC for big batches).",
                        [_CLOSE],
                    )
                    return
            await self.app(scope, receive_limited, send_wrapper)
        except BodyTooLarge:
            error = "body too large"
            if not started:
                await answer(
                    413,
                    f"the request body is over the limit of {limit} bytes. Send fewer rows "
                    "per request (or Arrow IPC for big batches).",
                    [_CLOSE],
                )
        except Exception as exc:
            # A real server fault: input errors never get here (the routes answer 4xx).
            error = f"{type(exc).__name__}: {exc}"[:300]
            logger.exception("unhandled error in %s %s (request %s)", method, path, request_id)
            if not started:
                await answer(500, "internal server error; the server log has the details.")
        finally:
            elapsed = time.perf_counter() - t0
            route = path if path in self.routes else "other"
            self.metrics.observe_request(route, method, status, elapsed)
            log_access(
                ts=time.time(),
                method=method,
                path=path,
                status=status,
                latency_ms=elapsed * 1000.0,
                request_id=request_id,
                n_rows=int(state.get("n_rows", 0)),
                error=error or state.get("error"),
            )
