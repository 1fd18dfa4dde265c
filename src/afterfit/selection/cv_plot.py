"""Matplotlib figure of cross-validation results: fold values and the corrected interval."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from afterfit.plots import OKABE_ITO


def plot_cv_folds(results: Mapping[str, Any], metric: str, *, ax: Any = None) -> Any:
    """Every fold's ``metric`` per model (dots, jittered), with the mean and its corrected
    resampled t interval (thick bar) beside the naive interval (thin bar).

    Parameters
    ----------
    results : mapping of name to CVResult
    metric : str
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    if ax is None:
        fig = Figure(figsize=(1.6 + 1.3 * max(len(results), 2), 3.8), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    rng = np.random.default_rng(0)  # jitter only: a fixed seed keeps the picture stable
    conf = 0.95
    for i, res in enumerate(results.values()):
        color = OKABE_ITO[i % len(OKABE_ITO)]
        values = res.fold_values(metric)
        x = i + rng.uniform(-0.15, 0.15, values.size)
        ax.scatter(x, values, s=14, color=color, alpha=0.6, linewidths=0)
        s = res.stats[metric]
        conf = s.confidence
        ax.errorbar(i + 0.3, s.mean, yerr=[[s.mean - s.low], [s.high - s.mean]], fmt="o",
                    color=color, elinewidth=2.5, capsize=4)  # fmt: skip
        ax.errorbar(i + 0.42, s.mean, yerr=[[s.mean - s.naive_low], [s.naive_high - s.mean]],
                    fmt="none", ecolor="#6b6b6b", elinewidth=1, capsize=2)  # fmt: skip
    ax.set_xticks(range(len(results)), [str(n) for n in results])
    ax.set_xlim(-0.5, len(results) - 0.3)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric}: folds, mean with {conf:.0%} corrected (thick) and naive (thin) "
                 "interval", fontsize=9)  # fmt: skip
    return fig
