"""Deadlines and a connection limit for the server's HTTP connections.

uvicorn closes idle keep-alive connections (``--keep-alive-s``) but sets no deadline for a
client to *finish* a request: a client that sends its headers a byte at a time
("slowloris"), or its body a byte at a time, holds a connection, a file descriptor and (for
a body) a request task for as long as it likes, and a few hundred such clients exhaust the
process' file descriptors. :class:`GuardedH11Protocol` is uvicorn's h11 protocol with:

- a header deadline: the request line and headers must arrive within ``header_timeout_s``
  of the connection opening or of the request's first byte (an idle keep-alive
  connection is left to uvicorn's keep-alive timeout);
- a body deadline: the whole body must arrive within ``body_timeout_s`` of the headers;
- a write deadline: a client that stops reading its answer (the server's send buffer full)
  is disconnected after ``body_timeout_s``, instead of holding the request task forever;
- a connection limit: beyond ``max_connections`` open connections, an idle one (a
  keep-alive connection between requests, or one that has sent nothing yet) is closed to
  make room; when none is idle, the new one is answered 503 with ``Retry-After`` and
  closed before its request is read. Idle connections cannot crowd out requests.

A client over a deadline gets ``408 Request Timeout`` (when it sent anything) and the
connection is closed; a request task waiting for that body sees the client disconnect.
Both are counted in ``afterfit_connections_closed_total{reason}`` and written to the
access log. Headers are also capped in size by h11 (uvicorn's
``h11_max_incomplete_event_size``, 16 KiB by default).

The settings are class attributes, set once per process by :meth:`configure` (``afterfit
serve`` does it, in each worker process too): uvicorn creates the protocol itself, one per
connection, and passes it only uvicorn's own configuration.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from afterfit.serving.access_log import log_access
from afterfit.serving.middleware import error_body

__all__ = ["GuardedH11Protocol"]

DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_BODY_TIMEOUT_S = 60.0
DEFAULT_MAX_CONNECTIONS = 1000


def _raw_answer(status: int, reason: str, detail: str, request_id: str, extra: str = "") -> bytes:
    """A complete HTTP/1.1 answer that closes the connection, written outside h11 (the
    connection is closed right after, so h11's state no longer matters)."""
    body = error_body(status, detail, request_id)
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n{extra}connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with header and body deadlines and a connection limit
    (see the module docstring). Pass the class as uvicorn's ``http``."""

    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    metrics: Any = None  # the app's ServerMetrics, for afterfit_connections_closed_total

    @classmethod
    def configure(
        cls,
        *,
        header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S,
        body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        metrics: Any = None,
    ) -> type[GuardedH11Protocol]:
        """Set this process' deadlines (seconds) and connection limit; returns the class.

        Parameters
        ----------
        header_timeout_s : float, default 10
            Time for the request line and headers.
        body_timeout_s : float, default 60
            Time for the whole body, from the end of the headers.
        max_connections : int, default 1000
            Open connections at most; keep it under the process' file descriptor limit
            (``ulimit -n``).
        metrics : ServerMetrics, optional
            Where closed connections are counted.
        """
        if header_timeout_s <= 0 or body_timeout_s <= 0 or max_connections < 1:
            from afterfit.errors import InvalidInputError

            raise InvalidInputError(
                f"the header and body timeouts must be positive and the connection limit at "
                f"least 1; got {header_timeout_s}, {body_timeout_s} and {max_connections}.",
                fix="pass e.g. --header-timeout-s 10 --body-timeout-s 60 --max-connections 1000.",
            )
        cls.header_timeout_s = float(header_timeout_s)
        cls.body_timeout_s = float(body_timeout_s)
        cls.max_connections = int(max_connections)
        cls.metrics = metrics
        return cls

    # -- uvicorn's protocol hooks ---------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._guard: asyncio.TimerHandle | None = None
        self._write_guard: asyncio.TimerHandle | None = None
        self._phase: str | None = None
        self._since = time.perf_counter()
        self._bytes_seen = False
        if len(self.connections) > self.max_connections and not self._evict_idle():
            # Refused before its request is read: the file descriptor is released at once.
            transport.write(
                _raw_answer(
                    503,
                    "Service Unavailable",
                    f"the server holds its limit of {self.max_connections} connections; "
                    "retry in a moment.",
                    "",
                    "retry-after: 1\r\n",
                )
            )
            transport.close()
            self._count("over_limit")
            return
        # A client that connects and sends nothing is held to the header deadline too.
        self._arm("header_timeout", self.header_timeout_s)

    def data_received(self, data: bytes) -> None:
        self._bytes_seen = True
        super().data_received(data)
        self._advance()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start a pipelined request already buffered
        self._advance()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        self._cancel_write()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        """The send buffer is full: the client must read within the deadline."""
        super().pause_writing()
        if getattr(self, "_write_guard", None) is None:
            self._write_guard = self.loop.call_later(self.body_timeout_s, self._write_expired)

    def resume_writing(self) -> None:
        self._cancel_write()
        super().resume_writing()

    def _cancel_write(self) -> None:
        guard = getattr(self, "_write_guard", None)
        if guard is not None:
            guard.cancel()
        self._write_guard = None

    def _write_expired(self) -> None:
        self._write_guard = None
        if not self.transport.is_closing():
            self.transport.abort()  # nothing more can be written to it anyway
            self._count("write_timeout")

    # -- the connection limit -------------------------------------------------------------
    def _idle(self) -> bool:
        """Between requests (or before the first) with nothing of a request received."""
        cycle = self.cycle
        return (
            (cycle is None or cycle.response_complete)
            and self.conn.their_state is h11.IDLE
            and not self.transport.is_closing()
            and not self.conn.trailing_data[0]
        )

    def _evict_idle(self) -> bool:
        """Close one idle connection to make room for this one; False when none is."""
        for other in list(self.connections):
            if other is not self and isinstance(other, GuardedH11Protocol) and other._idle():
                other._cancel()
                other.timeout_keep_alive_handler()  # uvicorn's own way to close an idle one
                self._count("idle_closed")
                return True
        return False

    # -- the deadlines --------------------------------------------------------------------
    def _advance(self) -> None:
        """Arm the deadline that fits the connection's state now."""
        if self.transport is None or self.transport.is_closing():
            self._cancel()
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # A request in the app: its body must arrive in time; then the app's own time
            # is not the client's to answer for.
            if cycle.more_body:
                self._arm("body_timeout", self.body_timeout_s)
            else:
                self._cancel()
            return
        their = self.conn.their_state
        if their is h11.SEND_BODY:  # answered already (e.g. 413), the body still coming
            self._arm("body_timeout", self.body_timeout_s)
        elif their is h11.IDLE and self.conn.trailing_data[0]:  # part of the next request
            self._arm("header_timeout", self.header_timeout_s)
        else:  # idle between requests: uvicorn's keep-alive timeout applies
            self._cancel()

    def _arm(self, phase: str, seconds: float) -> None:
        if self._phase == phase:
            return  # a deadline counts from the phase's start, not from the last byte
        self._cancel()
        self._phase = phase
        self._since = time.perf_counter()
        self._guard = self.loop.call_later(seconds, self._expired)

    def _cancel(self) -> None:
        guard = getattr(self, "_guard", None)
        if guard is not None:
            guard.cancel()
        self._guard = None
        self._phase = None

    def _expired(self) -> None:
        reason = self._phase or "header_timeout"
        self._guard = None
        self._phase = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        active = cycle is not None and not cycle.response_complete
        request_id = ""
        if active:
            state = cycle.scope.get("state")
            if isinstance(state, dict):
                state["timed_out"] = True  # the route answers 408 in the metrics and log
                request_id = str(state.get("request_id", ""))
        if self._bytes_seen and not (active and cycle.response_started):
            what = "headers" if reason == "header_timeout" else "body"
            limit = self.header_timeout_s if reason == "header_timeout" else self.body_timeout_s
            self.transport.write(
                _raw_answer(
                    408,
                    "Request Timeout",
                    f"the request {what} did not arrive within {limit:g} s.",
                    request_id,
                )
            )
        if active:
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()
        self._count(reason)
        if not active:  # a request in the app is logged by the app
            log_access(
                ts=time.time(),
                method="-",
                path="-",
                status=408 if self._bytes_seen else 0,
                latency_ms=(time.perf_counter() - self._since) * 1000.0,
                request_id=request_id,
                n_rows=0,
                error=reason,
            )

    def _count(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.observe_closed(reason)
