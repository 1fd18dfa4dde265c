"""Small model calls run single-threaded.

Anchors and model-agnostic SHAP ask the model for a few hundred rows at a time, hundreds of
times per explained row. OpenMP and BLAS wake their thread pools on every call, which costs
more than the threads save on batches this small: a HistGradientBoosting pipeline predicts
900 rows five times faster on one thread than on two busy cores (and 2.5 times faster for
200 rows of the bare model). Large single calls (LIME's 5,000 samples, permutation
importance) keep the library's own threading.
"""

from __future__ import annotations

import contextlib
from typing import Any

__all__ = ["single_threaded"]


def single_threaded() -> Any:
    """A context in which OpenMP and BLAS use one thread (a no-op without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn depends on threadpoolctl
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)
