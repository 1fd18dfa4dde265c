"""Names and helpers the saliency results and their plots share.

Kept below both: :mod:`afterfit.saliency.plots` imports these at run time and the results'
types only for type checking, so the results can delegate their ``plot()`` to it without an
import circle.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RANDOM", "spread_rows"]

#: The name of the random-order reference in faithfulness results.
RANDOM = "random"


def spread_rows(n_total: int, k: int) -> np.ndarray:
    """``k`` positions evenly spaced over ``n_total`` (all of them when ``k >= n_total``).

    Figures and the sanity check take images this way rather than the first ``k``, so a set
    sorted by class (a class-per-folder layout) shows every class.
    """
    if k >= n_total:
        return np.arange(n_total)
    return np.unique(np.rint(np.linspace(0, n_total - 1, max(k, 1))).astype(np.int64))
