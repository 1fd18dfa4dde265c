"""The results of a saliency run: frozen objects with ``frame``, ``to_dict`` and ``plot``.

They hold numbers only (numpy arrays); drawing lives in :mod:`afterfit.saliency.plots`.
Nothing here imports torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from afterfit.errors import InvalidInputError
from afterfit.jsonsafe import number as _num
from afterfit.saliency._common import RANDOM, spread_rows

__all__ = ["RANDOM", "Faithfulness", "SaliencyMaps", "SanityCheck", "spread_rows"]


def _numbers(values: Any, digits: int = 6) -> list[Any]:
    """A JSON-safe (nested) list, rounded, NaN as None."""
    a = np.round(np.asarray(values, dtype=np.float64), digits)
    if a.ndim == 0:
        return _num(a)  # type: ignore[return-value]
    return [_numbers(v, digits) if a.ndim > 1 else _num(v) for v in a]


def _t_interval(x: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """Mean of ``x`` and its Student t interval (NaN ends with fewer than 2 values)."""
    from scipy import stats

    x = np.asarray(x, dtype=np.float64)
    mean = float(x.mean()) if len(x) else math.nan
    if len(x) < 2:
        return mean, math.nan, math.nan
    se = float(x.std(ddof=1) / math.sqrt(len(x)))
    half = float(stats.t.ppf(0.5 + confidence / 2, len(x) - 1)) * se
    return mean, mean - half, mean + half


def _check_method(name: str, methods: tuple[str, ...]) -> str:
    if name not in methods:
        raise InvalidInputError(
            f"The method {name!r} is not in these results; they hold {', '.join(methods)}.",
            fix="pass one of the methods the maps were computed with.",
        )
    return name


@dataclass(frozen=True, eq=False)
class Faithfulness:
    """Deletion and insertion curves per method, with a random-order reference.

    Attributes
    ----------
    methods : tuple of str
        The methods (the random reference is stored under ``"random"`` besides them).
    fractions : numpy.ndarray
        Fraction of pixels removed (deletion) or inserted (insertion) at each point.
    deletion, insertion : dict of str to numpy.ndarray
        ``(n_images, n_points)`` probability of the target class, per method and
        ``"random"``.
    baseline : str or float
        What removed pixels became.
    n_random : int
        Random orders averaged per image.
    confidence : float
        Level of the intervals of :meth:`frame`.
    """

    methods: tuple[str, ...]
    fractions: np.ndarray
    deletion: dict[str, np.ndarray]
    insertion: dict[str, np.ndarray]
    baseline: str | float = "zero"
    n_random: int = 1
    confidence: float = 0.95

    @property
    def n_images(self) -> int:
        return int(self.deletion[RANDOM].shape[0])

    def area(self, method: str, kind: str = "deletion") -> np.ndarray:
        """Area under each image's curve (trapezoid over the fractions)."""
        curves = (self.deletion if kind == "deletion" else self.insertion)[method]
        return np.trapezoid(curves, self.fractions, axis=1)

    def frame(self) -> pd.DataFrame:
        """One row per method and one for random order.

        Columns: ``deletion_auc`` (lower is better), ``insertion_auc`` (higher is better),
        ``deletion_gain`` (random's deletion area minus the method's, mean over images) and
        ``insertion_gain`` (the method's insertion area minus random's), each gain with its
        t interval (``_low``, ``_high``), ``better_than_random`` (the deletion gain's
        interval lies above 0) and ``n_images``.
        """
        rows = []
        del_random = self.area(RANDOM, "deletion")
        ins_random = self.area(RANDOM, "insertion")
        for method in (*self.methods, RANDOM):
            d = self.area(method, "deletion")
            i = self.area(method, "insertion")
            row: dict[str, Any] = {
                "method": method,
                "deletion_auc": float(d.mean()),
                "insertion_auc": float(i.mean()),
            }
            if method == RANDOM:
                gains = (
                    "deletion_gain",
                    "deletion_gain_low",
                    "deletion_gain_high",
                    "insertion_gain",
                    "insertion_gain_low",
                    "insertion_gain_high",
                )
                row.update(dict.fromkeys(gains, math.nan))
                row["better_than_random"] = None
            else:
                dg = _t_interval(del_random - d, self.confidence)
                ig = _t_interval(i - ins_random, self.confidence)
                row.update(
                    deletion_gain=dg[0],
                    deletion_gain_low=dg[1],
                    deletion_gain_high=dg[2],
                    insertion_gain=ig[0],
                    insertion_gain_low=ig[1],
                    insertion_gain_high=ig[2],
                    better_than_random=bool(dg[1] > 0) if math.isfinite(dg[1]) else bool(dg[0] > 0),
                )
            row["n_images"] = self.n_images
            rows.append(row)
        return pd.DataFrame(rows)

    def curves_frame(self) -> pd.DataFrame:
        """Mean curves, long: ``method``, ``curve`` (deletion/insertion), ``fraction``,
        ``score`` (mean probability of the target class) and ``sem`` (its standard error)."""
        parts = []
        n = self.n_images
        for kind, store in (("deletion", self.deletion), ("insertion", self.insertion)):
            for method in (*self.methods, RANDOM):
                c = store[method]
                sem = c.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else np.full(c.shape[1], np.nan)
                parts.append(
                    pd.DataFrame(
                        {
                            "method": method,
                            "curve": kind,
                            "fraction": self.fractions,
                            "score": c.mean(axis=0),
                            "sem": sem,
                        }
                    )
                )
        return pd.concat(parts, ignore_index=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: the summary rows and the mean curves."""
        rows = self.frame().to_dict(orient="records")
        return {
            "baseline": self.baseline,
            "n_random": self.n_random,
            "confidence": self.confidence,
            "n_images": self.n_images,
            "fractions": _numbers(self.fractions),
            "methods": [
                {k: (_num(v) if isinstance(v, float) else v) for k, v in r.items()} for r in rows
            ],
            "mean_curves": {
                kind: {m: _numbers(store[m].mean(axis=0)) for m in (*self.methods, RANDOM)}
                for kind, store in (("deletion", self.deletion), ("insertion", self.insertion))
            },
        }

    def plot(self, *, ax: Any = None) -> Any:
        """Mean deletion and insertion curves per method (matplotlib figure)."""
        from afterfit.saliency.plots import plot_faithfulness

        return plot_faithfulness(self, ax=ax)


@dataclass(frozen=True, eq=False)
class SanityCheck:
    """Cascading randomisation: similarity of each method's maps to the trained model's.

    Attributes
    ----------
    methods : tuple of str
    steps : tuple of tuple of str
        Layers randomised at each step, top first; randomisation is cumulative.
    spearman, ssim : dict of str to numpy.ndarray
        ``(n_steps + 1, n_images)``: row 0 is the trained model (1 by definition), row
        ``j`` the model with the layers of steps ``1..j`` randomised.
    threshold : float
        A method fails when its final mean rank correlation or SSIM is at least this.
    example_maps : dict of str to numpy.ndarray
        ``(n_steps + 1, H, W)`` absolute maps of the first image along the cascade.
    n_images : int
    rows : tuple of int
        Positions of the images used in the explained set (when run by
        :func:`afterfit.saliency.compute_saliency`; the first is the example image).
    """

    methods: tuple[str, ...]
    steps: tuple[tuple[str, ...], ...]
    spearman: dict[str, np.ndarray]
    ssim: dict[str, np.ndarray]
    threshold: float = 0.5
    example_maps: dict[str, np.ndarray] = field(default_factory=dict)
    n_images: int = 0
    rows: tuple[int, ...] = ()

    def step_labels(self) -> list[str]:
        """A short label per cascade step: ``trained``, then the layers randomised."""
        labels = ["trained"]
        for block in self.steps:
            labels.append(block[0] if len(block) == 1 else f"{block[0]}..{block[-1]}")
        return labels

    def passed(self, method: str) -> bool:
        """Whether the method's maps changed: final mean rank correlation and SSIM below
        the threshold."""
        _check_method(method, self.methods)
        rho = float(self.spearman[method][-1].mean())
        s = float(self.ssim[method][-1].mean())
        return rho < self.threshold and s < self.threshold

    def failing(self) -> list[str]:
        """The methods whose maps did not change enough."""
        return [m for m in self.methods if not self.passed(m)]

    def frame(self) -> pd.DataFrame:
        """One row per method and cascade step: ``method``, ``step`` (0 = trained),
        ``layers`` (randomised at this step), ``spearman`` and ``ssim`` (means over images)
        with their standard deviations, ``passed`` (the method's verdict)."""
        rows = []
        labels = self.step_labels()
        for m in self.methods:
            ok = self.passed(m)
            for j in range(len(self.steps) + 1):
                rows.append(
                    {
                        "method": m,
                        "step": j,
                        "layers": labels[j],
                        "spearman": float(self.spearman[m][j].mean()),
                        "spearman_sd": float(self.spearman[m][j].std()),
                        "ssim": float(self.ssim[m][j].mean()),
                        "ssim_sd": float(self.ssim[m][j].std()),
                        "passed": ok,
                    }
                )
        return pd.DataFrame(rows)

    def summary_frame(self) -> pd.DataFrame:
        """One row per method: final ``spearman`` and ``ssim`` (every layer randomised),
        ``passed``."""
        return pd.DataFrame(
            [
                {
                    "method": m,
                    "spearman": float(self.spearman[m][-1].mean()),
                    "ssim": float(self.ssim[m][-1].mean()),
                    "passed": self.passed(m),
                }
                for m in self.methods
            ]
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: the steps, the mean similarities per step and the verdicts."""
        return {
            "threshold": self.threshold,
            "n_images": self.n_images,
            "images": [int(r) for r in self.rows],
            "steps": [list(b) for b in self.steps],
            "methods": {
                m: {
                    "passed": self.passed(m),
                    "spearman": _numbers(self.spearman[m].mean(axis=1)),
                    "ssim": _numbers(self.ssim[m].mean(axis=1)),
                }
                for m in self.methods
            },
        }

    def plot(self, *, ax: Any = None) -> Any:
        """Rank correlation and SSIM along the cascade, per method (matplotlib figure)."""
        from afterfit.saliency.plots import plot_sanity

        return plot_sanity(self, ax=ax)

    def plot_maps(self, *, image: Any = None) -> Any:
        """The first image's maps along the cascade, one row per method."""
        from afterfit.saliency.plots import plot_sanity_maps

        return plot_sanity_maps(self, image=image)


@dataclass(frozen=True, eq=False)
class SaliencyMaps:
    """Saliency maps of a set of images, with their faithfulness and sanity checks.

    Attributes
    ----------
    methods : tuple of str
        Canonical method names, in the order computed.
    maps : dict of str to numpy.ndarray
        ``(n, H, W)`` float32 map per method (summed over channels; see
        :data:`~afterfit.saliency.methods.SIGNED_METHODS` for the signed ones).
    images : numpy.ndarray
        ``(n, H, W, C)`` the images as drawn (before normalisation).
    targets : numpy.ndarray
        Class explained per image.
    predicted : numpy.ndarray
        The model's top class per image.
    probabilities : numpy.ndarray
        ``(n, n_classes)`` softmax of the model's outputs.
    labels : numpy.ndarray or None
        True labels, when known.
    classes : list of str or None
        Class names by index, when known.
    names : list of str
        Image names (file paths relative to the folder, or ``#i``).
    faithfulness : Faithfulness or None
    sanity : SanityCheck or None
    settings : dict
        Every setting of the run (methods, preprocessing, layer, seeds...).
    timings : dict of str to float
        Seconds spent per method and check.
    """

    methods: tuple[str, ...]
    maps: dict[str, np.ndarray]
    images: np.ndarray
    targets: np.ndarray
    predicted: np.ndarray
    probabilities: np.ndarray
    labels: np.ndarray | None = None
    classes: list[str] | None = None
    names: list[str] = field(default_factory=list)
    faithfulness: Faithfulness | None = None
    sanity: SanityCheck | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def n_images(self) -> int:
        return len(self.targets)

    def __len__(self) -> int:
        return self.n_images

    def __repr__(self) -> str:
        checks = [c for c in ("faithfulness", "sanity") if getattr(self, c) is not None]
        return (
            f"SaliencyMaps({self.n_images} images, methods={list(self.methods)}, checks={checks})"
        )

    def _repr_html_(self) -> str:
        """Jupyter's display: headline with intervals, main figure, findings, tables."""
        from afterfit.display import html

        return html(self)

    def class_name(self, k: int) -> str:
        """The name of class index ``k``."""
        if self.classes is not None and 0 <= k < len(self.classes):
            return str(self.classes[k])
        return str(k)

    def map(self, method: str, i: int) -> np.ndarray:
        """The ``(H, W)`` map of image ``i`` by ``method``."""
        return self.maps[_check_method(method, self.methods)][i]

    def frame(self) -> pd.DataFrame:
        """One row per image: ``image`` (position), ``name``, ``label`` (if known),
        ``target``, ``predicted``, ``target_probability``, ``correct`` (if labels)."""
        n = self.n_images
        data: dict[str, Any] = {
            "image": np.arange(n),
            "name": self.names or [f"#{i}" for i in range(n)],
        }
        if self.labels is not None:
            data["label"] = self.labels
        data["target"] = self.targets
        data["predicted"] = self.predicted
        data["target_probability"] = self.probabilities[np.arange(n), self.targets]
        if self.labels is not None:
            data["correct"] = self.labels == self.predicted
        return pd.DataFrame(data)

    def to_dict(self, *, include_maps: bool = False) -> dict[str, Any]:
        """JSON-safe summary; ``include_maps`` adds every map (rounded, can be large)."""
        out: dict[str, Any] = {
            "methods": list(self.methods),
            "n_images": self.n_images,
            "image_shape": list(self.images.shape[1:]),
            "settings": self.settings,
            "accuracy": (
                _num(np.mean(self.labels == self.predicted)) if self.labels is not None else None
            ),
            "images": [
                {k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
                for r in self.frame().to_dict(orient="records")
            ],
            "faithfulness": self.faithfulness.to_dict() if self.faithfulness else None,
            "sanity": self.sanity.to_dict() if self.sanity else None,
            "timings": {k: round(float(v), 4) for k, v in self.timings.items()},
        }
        for row in out["images"]:
            row["target_probability"] = _num(row["target_probability"])
        if include_maps:
            out["maps"] = {m: _numbers(self.maps[m]) for m in self.methods}
        return out

    def plot(self, n: int = 8, *, methods: Any = None) -> Any:
        """Overlays: a row of images, then a row of heatmaps over them per method.

        Parameters
        ----------
        n : int, default 8
            Images drawn, evenly spaced through the set (all when there are fewer).
        methods : sequence of str, optional
            Methods drawn; default all.
        """
        from afterfit.saliency.plots import plot_overview

        return plot_overview(self, n=n, methods=methods)

    def plot_method(self, method: str, n: int = 16, *, columns: int = 8) -> Any:
        """A grid of one method's overlays on ``n`` images spread through the set."""
        from afterfit.saliency.plots import plot_method_grid

        return plot_method_grid(self, _check_method(method, self.methods), n=n, columns=columns)
