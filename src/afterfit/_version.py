"""The version of afterfit, in a module of its own so that any module can read it without
importing the package's public API (and every step with it)."""

__version__ = "0.1.0"
