"""Structured access logs: one JSON line per request on the ``afterfit.access`` logger.

Each line holds ``ts`` (ISO 8601, UTC), ``method``, ``path``, ``status``, ``latency_ms``,
``request_id``, ``n_rows`` (rows predicted; 0 for other routes) and, for errors, ``error``
(a short reason). ``afterfit serve`` sends the logger to stderr; an application embedding
the app routes it wherever its logging goes.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

__all__ = [
    "ACCESS_LOGGER",
    "MAX_METHOD_CHARS",
    "MAX_PATH_CHARS",
    "JsonLineFormatter",
    "access_line",
    "configure_access_log",
]

ACCESS_LOGGER = "afterfit.access"

_logger = logging.getLogger(ACCESS_LOGGER)

MAX_METHOD_CHARS = 32
MAX_PATH_CHARS = 512


def _iso(ts: float) -> str:
    whole = int(ts)
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((ts - whole) * 1000):03d}Z"
    )


def access_line(
    *,
    ts: float,
    method: str,
    path: str,
    status: int,
    latency_ms: float,
    request_id: str,
    n_rows: int,
    error: str | None = None,
) -> str:
    """The JSON line of one request. The method and path are the client's and are cut to
    :data:`MAX_METHOD_CHARS` / :data:`MAX_PATH_CHARS` characters: a scanner's 16 KB
    request line would otherwise become a 16 KB log line per request."""
    record: dict[str, Any] = {
        "ts": _iso(ts),
        "method": method[:MAX_METHOD_CHARS],
        "path": path[:MAX_PATH_CHARS],
        "status": status,
        "latency_ms": round(latency_ms, 3),
        "request_id": request_id,
        "n_rows": n_rows,
    }
    if error:
        record["error"] = error
    return json.dumps(record, separators=(",", ":"))


def log_access(**fields: Any) -> None:
    """Write one access line (at INFO) if the access logger is enabled."""
    if _logger.isEnabledFor(logging.INFO):
        _logger.info(access_line(**fields))


class JsonLineFormatter(logging.Formatter):
    """Access lines as they are; other records (errors, warnings of the server) as one JSON
    object with ``ts``, ``level``, ``logger``, ``msg`` and ``exc`` (a traceback), so the
    stream stays one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        if record.name == ACCESS_LOGGER:
            return record.getMessage()
        out: dict[str, Any] = {
            "ts": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, separators=(",", ":"))


def configure_access_log(stream: TextIO | None = None, *, level: int = logging.INFO) -> None:
    """Send afterfit's server loggers (``afterfit.access``, ``afterfit.server``,
    ``afterfit.predlog``) to ``stream`` (stderr) as JSON lines. Idempotent."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    handler.set_name("afterfit-json")
    for name in (ACCESS_LOGGER, "afterfit.server", "afterfit.predlog"):
        logger = logging.getLogger(name)
        logger.handlers = [h for h in logger.handlers if h.get_name() != "afterfit-json"]
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
