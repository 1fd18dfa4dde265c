"""``afterfit serve``: serve a bundle over HTTP (FastAPI on uvicorn).

::

    afterfit serve churn-1.0/ --host 127.0.0.1 --port 8000 \\
        [--log sqlite:///preds.db | --log postgresql+psycopg://user@host/db] \\
        [--api-key-file key.txt] [--workers 1] [--max-body-mb 32] \\
        [--header-timeout-s 10] [--body-timeout-s 60] [--max-connections 1000]

The bundle is loaded and verified, and the prediction log reached, before the server
starts: a tampered bundle, an unreachable log, a bad API key file or a port in use exit
with code 2 and a message. Access logs go to stderr as JSON lines. SIGTERM or Ctrl-C stop
the server cleanly (the prediction log is flushed first).
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Annotated, Any

import typer

from afterfit.cli._app import app, clear_errors, err_console
from afterfit.cli._options import BundleArg, TrustedTypeOpt, TrustOpt
from afterfit.errors import InvalidInputError

_ENV = "AFTERFIT_SERVE_OPTIONS"


def _read_key(path: Path) -> str:
    try:
        key = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            f"cannot read the API key file '{path}': {exc}.",
            fix="pass --api-key-file a readable text file holding the key on one line.",
        ) from exc
    if not key or any(c.isspace() for c in key):
        raise InvalidInputError(
            f"the API key file '{path}' is empty or the key holds spaces.",
            fix="write the key (letters, digits, punctuation; no spaces) on one line.",
        )
    return key


def _check_port(host: str, port: int) -> None:
    """Fail early, with exit code 2, when the address cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise InvalidInputError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}.",
                fix="choose a free --port (or stop the process using it) and a local --host.",
            ) from None


def _build(options: dict[str, Any]) -> Any:
    """The app from plain options (the parent process and uvicorn's workers both call it)."""
    from afterfit.bundle.core import load_bundle
    from afterfit.serving.app import create_app

    bundle = load_bundle(
        options["bundle"],
        trust=options["trust"],
        trusted_types=options["trusted_types"],
    )
    return create_app(
        bundle,
        log_url=options["log"],
        api_key=options["api_key"],
        max_body_bytes=options["max_body_bytes"],
        max_batch_rows=options["max_batch_rows"],
        max_decoded_bytes=options["max_decoded_bytes"],
        microbatch_max_rows=options["microbatch_rows"],
        microbatch_wait_ms=options["microbatch_wait_ms"],
    )


def worker_app() -> Any:
    """uvicorn's app factory in worker processes (``--workers`` > 1): options from the
    environment the parent set."""
    from afterfit.serving.access_log import configure_access_log

    options = json.loads(os.environ[_ENV])
    if not options.get("quiet"):
        configure_access_log()
    application = _build(options)
    _guard(options, application.state.afterfit.metrics)
    _freeze()
    return application


def _guard(options: dict[str, Any], metrics: Any) -> type:
    """This process' connection deadlines and limit (uvicorn's ``http`` protocol class)."""
    from afterfit.serving.connection_guard import GuardedH11Protocol

    return GuardedH11Protocol.configure(
        header_timeout_s=options["header_timeout_s"],
        body_timeout_s=options["body_timeout_s"],
        max_connections=options["max_connections"],
        metrics=metrics,
    )


def _freeze() -> None:
    """Everything loaded so far (pandas, scikit-learn, the model) lives as long as the
    server: moved out of the garbage collector's sight, a full collection no longer walks
    it and stalls every request in flight (~0.1 s, the p99 at concurrency 32)."""
    import gc

    gc.collect()
    gc.freeze()


@app.command()
def serve(
    bundle: BundleArg,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    log: Annotated[
        str | None,
        typer.Option(
            help="Prediction log: sqlite:///preds.db or postgresql+psycopg://user@host/db "
            "(several replicas). Off when not given."
        ),
    ] = None,
    api_key_file: Annotated[
        Path | None,
        typer.Option(help="File holding an API key that /predict, /schema, /metrics need."),
    ] = None,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    max_body_mb: Annotated[float, typer.Option(help="Largest request body, MiB (413).")] = 32.0,
    max_decoded_mb: Annotated[
        float | None,
        typer.Option(
            help="Largest decoded size of an Arrow body, compressed buffers counted "
            "decompressed, MiB (413, refused before decoding). Default: 4 x --max-body-mb."
        ),
    ] = None,
    max_batch_rows: Annotated[
        int, typer.Option(help="Most rows per request (413 beyond).", min=1)
    ] = 100_000,
    microbatch_rows: Annotated[
        int, typer.Option(help="Most rows per gathered model call.", min=1)
    ] = 256,
    microbatch_wait_ms: Annotated[
        float, typer.Option(help="How long a micro-batch waits for more requests.", min=0)
    ] = 0.0,
    keep_alive_s: Annotated[
        int,
        typer.Option(
            help="Seconds an idle keep-alive connection stays open; keep it above the idle "
            "timeout of any load balancer or client pool in front (a server closing first "
            "races with a request sent on the closing connection).",
            min=1,
        ),
    ] = 75,
    header_timeout_s: Annotated[
        float,
        typer.Option(
            help="Seconds a client has to send the request line and headers (from the "
            "connection or the request's first byte); slower clients get 408 and are "
            "disconnected."
        ),
    ] = 10.0,
    body_timeout_s: Annotated[
        float,
        typer.Option(
            help="Seconds a client has to send the whole body once the headers arrived "
            "(408 and disconnected beyond). Allow for your largest body on your slowest link."
        ),
    ] = 60.0,
    max_connections: Annotated[
        int,
        typer.Option(
            help="Open connections at most (per worker). At the limit an idle one is closed "
            "to make room; if none is idle, new ones get 503 with Retry-After. Keep it under "
            "the file descriptor limit (ulimit -n).",
            min=1,
        ),
    ] = 1000,
    trust: TrustOpt = False,
    trusted_type: TrustedTypeOpt = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No access log; only errors.")
    ] = False,
) -> None:
    """Serve BUNDLE: POST /predict, GET /health, /ready, /schema, /metrics, /docs.

    Every request is checked against the bundle's input schema (422 with field-level
    errors), and every prediction is written to --log off the request path.
    """
    with clear_errors(quiet=quiet):
        if max_body_mb <= 0:
            raise InvalidInputError(
                f"--max-body-mb must be positive; got {max_body_mb}.",
                fix="pass a size in MiB, e.g. --max-body-mb 32.",
            )
        if max_decoded_mb is not None and max_decoded_mb <= 0:
            raise InvalidInputError(
                f"--max-decoded-mb must be positive; got {max_decoded_mb}.",
                fix="pass a size in MiB, e.g. --max-decoded-mb 128, or leave it out.",
            )
        for name, value in (
            ("--header-timeout-s", header_timeout_s),
            ("--body-timeout-s", body_timeout_s),
        ):
            if not value > 0:  # also NaN
                raise InvalidInputError(
                    f"{name} must be a positive number of seconds; got {value}.",
                    fix=f"pass e.g. {name} 10.",
                )
        options: dict[str, Any] = {
            "bundle": str(bundle),
            "trust": bool(trust),
            "trusted_types": list(trusted_type or []),
            "log": log,
            "api_key": _read_key(api_key_file) if api_key_file is not None else None,
            "max_body_bytes": int(max_body_mb * 1024 * 1024),
            "max_decoded_bytes": None
            if max_decoded_mb is None
            else int(max_decoded_mb * 1024 * 1024),
            "header_timeout_s": header_timeout_s,
            "body_timeout_s": body_timeout_s,
            "max_connections": max_connections,
            "max_batch_rows": max_batch_rows,
            "microbatch_rows": microbatch_rows,
            "microbatch_wait_ms": microbatch_wait_ms,
            "quiet": quiet,
        }
        _check_port(host, port)
        # Load, verify and reach the log here, so every failure is an exit code 2.
        application = _build(options)
        server = application.state.afterfit
        protocol = _guard(options, server.metrics)
        if not quiet:
            where = f"http://{host}:{port}"
            err_console.print(
                f"Serving {server.model.name} {server.model.version} ({server.model.task}) on "
                f"{where} (docs: {where}/docs); prediction log: {log or 'off'}"
                f"{'; API key required' if options['api_key'] else ''}.",
                highlight=False,
                soft_wrap=True,
            )
    import uvicorn

    from afterfit.serving.access_log import configure_access_log

    if not quiet:
        configure_access_log()
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": 10,
        "timeout_keep_alive": keep_alive_s,
        # The h11 protocol with deadlines and a connection limit, whatever else is
        # installed (uvicorn would pick httptools when present, which has no header size
        # limit of its own).
        "http": protocol,
        # No WebSocket routes: an Upgrade request stays a plain (guarded) HTTP request
        # whatever WebSocket library happens to be installed.
        "ws": "none",
    }
    if workers > 1:
        if server.writer is not None:
            server.writer.close()
        os.environ[_ENV] = json.dumps(options)
        uvicorn.run("afterfit.cli.serve:worker_app", factory=True, workers=workers, **common)
    else:
        _freeze()
        uvicorn.run(application, **common)
