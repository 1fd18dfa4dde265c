"""Errors and warnings raised by afterfit.

Every error names what was wrong and how to fix it; the CLI prints the message and exits
with code 2, without a traceback.

Hierarchy::

    AfterfitError                       base of everything afterfit raises on purpose
    ├── InvalidInputError (ValueError)  arguments or data that cannot be used
    │   ├── DataError                   files and tables: unreadable, empty, NaN, bad target
    │   │   └── SchemaError             feature columns differ from what the model expects
    │   └── MetricError                 data legal in general but not for this metric
    ├── ModelError                      a model that cannot be used
    │   ├── ModelLoadError              a model file that cannot be loaded
    │   └── UntrustedModelError         loading would run code the user has not trusted
    └── MissingDependencyError (ImportError)  an optional extra is not installed

    AfterfitWarning (UserWarning)       degenerate but legal data; the value becomes NaN
"""

from __future__ import annotations


class AfterfitError(Exception):
    """Base class of afterfit's errors: a problem and, where one exists, its fix."""

    def __init__(self, problem: str, *, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(problem if fix is None else f"{problem} Fix: {fix}")


class InvalidInputError(AfterfitError, ValueError):
    """Arguments or data that cannot be used."""


class DataError(InvalidInputError):
    """A data file or table that cannot be used (unreadable, empty, NaN, bad target...)."""


class SchemaError(DataError):
    """Feature columns that differ from those the model expects."""


class MetricError(InvalidInputError):
    """Data that is legal in general but not for the metric asked for."""


class ModelError(AfterfitError):
    """A model that cannot be used."""


class ModelLoadError(ModelError):
    """A model file that cannot be loaded."""


class UntrustedModelError(ModelLoadError):
    """Loading the file would run code or types the user has not trusted."""


class MissingDependencyError(AfterfitError, ImportError):
    """An optional extra is needed and not installed."""

    def __init__(self, package: str, extra: str, *, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the package '{package}', which is not installed.",
            fix=f"install it with: pip install 'afterfit[{extra}]'",
        )


class AfterfitWarning(UserWarning):
    """Degenerate but legal data: the affected value is NaN, the rest goes on."""
