"""How results show themselves: the one-line ``repr`` and the notebook's HTML hook.

Every result class's ``__repr__`` is built with :func:`one_line` and :func:`with_interval`,
and its ``_repr_html_`` calls :func:`html`. The HTML itself is drawn by
:mod:`afterfit.notebook` with the report's section builders, which sit above the steps;
``afterfit/__init__`` registers that renderer (:func:`register_html`) when the package is
imported, so a result never imports the report or the notebook module (see
docs/architecture.md). Without a renderer a result still displays, as its plain repr.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from html import escape
from typing import Any

__all__ = ["html", "one_line", "register_html", "with_interval"]

#: Characters of a plain repr.
MAX_REPR = 160

_renderer: Callable[[Any], str] | None = None


def register_html(renderer: Callable[[Any], str]) -> None:
    """Make ``renderer(result) -> str`` the HTML every result shows in a notebook."""
    global _renderer
    _renderer = renderer


def html(result: Any) -> str:
    """The notebook HTML of ``result``: the registered renderer's, else the plain repr."""
    if _renderer is not None:
        return _renderer(result)
    return f"<pre>{escape(repr(result))}</pre>"


def one_line(kind: str, *parts: str | None) -> str:
    """A result's plain repr: ``Kind(part, part, ...)`` on one short line.

    Parts that are None or empty are left out; the text is clipped to :data:`MAX_REPR`
    characters, and line breaks (a model name may hold one) become spaces.
    """
    text = " ".join(", ".join(p for p in parts if p).split())
    if len(text) > MAX_REPR:
        text = text[: MAX_REPR - 1] + "…"
    return f"{kind}({text})"


def with_interval(name: str, value: float, low: float = math.nan, high: float = math.nan) -> str:
    """``"name 0.9192 [0.8705, 0.9506]"``; the interval left out when it is not finite."""
    text = f"{name} {value:.4g}"
    if math.isfinite(low) and math.isfinite(high):
        text += f" [{low:.4g}, {high:.4g}]"
    return text
