"""The ``afterfit`` command. Thin: it parses options, calls the Python API, prints.

One module per command; each registers itself on the shared Typer ``app``. Every
:class:`~afterfit.errors.AfterfitError` becomes a one-paragraph message on stderr and exit
code 2, without a traceback.
"""

from __future__ import annotations

from afterfit.cli import (
    bundle,  # noqa: F401  (registers the command)
    calibrate,  # noqa: F401  (registers the command)
    check,  # noqa: F401  (registers the command)
    compare,  # noqa: F401  (registers the command)
    cv,  # noqa: F401  (registers the command)
    ensemble,  # noqa: F401  (registers the command)
    evaluate,  # noqa: F401  (registers the command)
    explain,  # noqa: F401  (registers the command)
    export,  # noqa: F401  (registers the command)
    monitor,  # noqa: F401  (registers the command)
    predict,  # noqa: F401  (registers the command)
    run,  # noqa: F401  (registers the command)
    saliency,  # noqa: F401  (registers the command)
    serve,  # noqa: F401  (registers the command)
    slices,  # noqa: F401  (registers the command)
    threshold,  # noqa: F401  (registers the command)
    tune,  # noqa: F401  (registers the command)
)
from afterfit.cli._app import app

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``afterfit`` console script."""
    app(prog_name="afterfit")
