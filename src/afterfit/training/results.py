"""The results of :mod:`afterfit.training`: :class:`Curve`, :class:`TrainingCurves`,
:class:`LearningCurve`.

Frozen, with ``frame()``, ``to_dict()`` (JSON-safe) and ``plot()`` (matplotlib; drawn by
:mod:`afterfit.training.plots`, which imports this module's types only for type checking).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from afterfit.jsonsafe import number as _num
from afterfit.jsonsafe import numbers as _nums


@dataclass(frozen=True)
class Curve:
    """One recorded curve: ``y`` against ``x`` (iteration or epoch).

    Attributes
    ----------
    name : str
        What the legend says, e.g. ``"train loss"`` or ``"validation_1 auc"``.
    x, y : numpy.ndarray
        The points, NaN-free, in recording order.
    metric : str
        The quantity (``"loss"``, ``"accuracy"``, ``"logloss"``); curves of one metric share
        a panel.
    split : str or None
        The data it was computed on, as the source names it (``"train"``,
        ``"validation"``, ``"out-of-bag"``, ``"validation_0"``).
    higher_is_better : bool or None
        None when the direction is not known (a learning rate, an unknown metric).
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    metric: str
    split: str | None = None
    higher_is_better: bool | None = None

    def __post_init__(self) -> None:
        x = np.asarray(self.x, dtype=np.float64).ravel()
        y = np.asarray(self.y, dtype=np.float64).ravel()
        if x.shape != y.shape:
            raise ValueError(f"curve {self.name!r}: x has {x.size} points, y {y.size}")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)

    def best(self) -> tuple[float, float] | None:
        """``(x, y)`` of the best point, or None when the direction is unknown."""
        if self.higher_is_better is None or self.y.size == 0:
            return None
        i = int(np.argmax(self.y) if self.higher_is_better else np.argmin(self.y))
        return float(self.x[i]), float(self.y[i])

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "metric": self.metric,
            "split": self.split,
            "higher_is_better": self.higher_is_better,
            "x": _nums(self.x),
            "y": _nums(self.y),
        }


@dataclass(frozen=True)
class TrainingCurves:
    """Curves recorded while a model was trained, by the estimator or in a log file.

    Attributes
    ----------
    curves : tuple of Curve
    source : str
        The estimator's class (``"MLPClassifier"``) or the log file's path.
    kind : {"estimator", "history"}
    x_label : str
        ``"epoch"``, ``"iteration"``, ``"step"`` or ``"row"`` (a log without an index
        column).
    best_iteration : float or None
        The iteration the fitted model uses when early stopping kept an earlier one than
        the last (MLP with ``early_stopping``, XGBoost ``best_iteration`` + 1, LightGBM
        ``best_iteration_``, CatBoost ``get_best_iteration()`` + 1), on the ``x`` scale.
    unwrapped : tuple of str
        The wrappers removed to reach the estimator, outermost first.
    notes : tuple of str
        How the numbers were read (sign flips, per-step values averaged per epoch...).

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.ensemble import GradientBoostingClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = GradientBoostingClassifier(n_estimators=20, subsample=0.8, random_state=0)
    >>> curves = training_curves(model.fit(X, y))
    >>> curves.names
    ('train loss (in-bag)', 'out-of-bag loss', 'out-of-bag improvement')
    """

    curves: tuple[Curve, ...]
    source: str
    kind: str = "estimator"
    x_label: str = "iteration"
    best_iteration: float | None = None
    unwrapped: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.curves)

    def __getitem__(self, name: str) -> Curve:
        for curve in self.curves:
            if curve.name == name:
                return curve
        raise KeyError(f"no curve {name!r}; the curves are: {', '.join(self.names)}")

    def __len__(self) -> int:
        return len(self.curves)

    def by_metric(self) -> dict[str, list[Curve]]:
        """Curves grouped by metric, in order of first appearance: one panel each."""
        groups: dict[str, list[Curve]] = {}
        for curve in self.curves:
            groups.setdefault(curve.metric, []).append(curve)
        return groups

    def splits(self) -> list[str]:
        """Split names in order of first appearance (``None`` as ``""``): colours follow it."""
        seen: list[str] = []
        for curve in self.curves:
            if (curve.split or "") not in seen:
                seen.append(curve.split or "")
        return seen

    def frame(self, *, wide: bool = False) -> pd.DataFrame:
        """Tidy: ``curve, metric, split, higher_is_better, <x_label>, value``, one row per
        point. ``wide=True``: one row per ``x`` and one column per curve (NaN where a
        curve has no point)."""
        if wide:
            out: pd.DataFrame | None = None
            for curve in self.curves:
                col = pd.DataFrame({self.x_label: curve.x, curve.name: curve.y})
                col = col.groupby(self.x_label, sort=False).last()  # one value per x
                out = col if out is None else out.join(col, how="outer")
            assert out is not None
            return out.sort_index().reset_index()
        parts = [
            pd.DataFrame(
                {
                    "curve": curve.name,
                    "metric": curve.metric,
                    "split": curve.split,
                    "higher_is_better": curve.higher_is_better,
                    self.x_label: curve.x,
                    "value": curve.y,
                }
            )
            for curve in self.curves
        ]
        return pd.concat(parts, ignore_index=True)

    def summary(self) -> pd.DataFrame:
        """One row per curve: points, first, last and best value (and where)."""
        rows = []
        for c in self.curves:
            best = c.best()
            rows.append(
                {
                    "curve": c.name,
                    "metric": c.metric,
                    "split": c.split,
                    "points": int(c.y.size),
                    "first": float(c.y[0]),
                    "last": float(c.y[-1]),
                    "best": np.nan if best is None else best[1],
                    f"best_{self.x_label}": np.nan if best is None else best[0],
                    "higher_is_better": c.higher_is_better,
                }
            )
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind,
            "x_label": self.x_label,
            "best_iteration": None if self.best_iteration is None else _num(self.best_iteration),
            "unwrapped": list(self.unwrapped),
            "notes": list(self.notes),
            "curves": [c.to_dict() for c in self.curves],
        }

    def plot(self, *, max_panels: int = 6) -> Any:
        """One panel per metric (at most ``max_panels``), one colour per split; the
        iteration early stopping kept is a dashed line."""
        from afterfit.training.plots import plot_curves

        return plot_curves(self, max_panels=max_panels)


@dataclass(frozen=True)
class LearningCurve:
    """Cross-validated score against the number of training rows.

    Scores are oriented for reading: scikit-learn's negated losses (``neg_log_loss``) are
    turned back into losses (``log_loss``, lower is better).

    The interval at each size is ``mean ± t(q, k-1) · sd / sqrt(k)`` over the ``k`` folds
    with a score, ``q = (1 + confidence) / 2``, built on the metric's scale (logit for a
    proportion, as :func:`afterfit.metrics.ranges.t_interval`) so that it stays in range.
    The folds share training rows, so the scores are not independent and the interval is an
    approximation that tends to be too narrow; read it as fold-to-fold spread, not as an
    exact confidence interval.

    Attributes
    ----------
    train_sizes : numpy.ndarray
        Training rows at each point (absolute).
    train_scores, validation_scores : numpy.ndarray
        ``(n_sizes, n_folds)``; NaN where a fit failed.
    metric : str
    higher_is_better : bool
    estimator : str
        The class of the model refitted (after unwrapping afterfit's wrappers).
    cv : str
        The splitter, e.g. ``"StratifiedKFold(n_splits=5, shuffle=True, random_state=0)"``.
    confidence : float
    n_rows, n_rows_total : int
        Rows used and rows given; rows above ``max_rows`` are left out at random.
    random_state : int or None
    fit_times : numpy.ndarray or None
        Seconds per fit, ``(n_sizes, n_folds)``.
    unwrapped : tuple of str
    notes : tuple of str
    """

    train_sizes: np.ndarray
    train_scores: np.ndarray
    validation_scores: np.ndarray
    metric: str
    higher_is_better: bool
    estimator: str
    cv: str
    confidence: float = 0.95
    n_rows: int = 0
    n_rows_total: int = 0
    random_state: int | None = 0
    fit_times: np.ndarray | None = None
    unwrapped: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def sampled(self) -> bool:
        return self.n_rows < self.n_rows_total

    @property
    def interval(self) -> str:
        return (
            f"mean ± t({(1 + self.confidence) / 2:.3g}, k-1) × sd/√k over the k folds, on "
            "the metric's scale (logit for a proportion) so it stays in range (folds share "
            "training rows: approximate)"
        )

    def stats(self, split: str) -> dict[str, np.ndarray]:
        """``mean``, ``sd``, ``ci_low``, ``ci_high`` and ``n_folds`` per training size, for
        ``split`` ``"train"`` or ``"validation"``."""
        if split not in ("train", "validation"):
            raise ValueError(f"split must be 'train' or 'validation', not {split!r}")
        return _fold_stats(
            self.train_scores if split == "train" else self.validation_scores,
            self.confidence,
            self.metric,
        )

    def frame(self) -> pd.DataFrame:
        """Tidy: ``train_size, split, mean, sd, ci_low, ci_high, n_folds``."""
        parts = []
        for split in ("train", "validation"):
            s = self.stats(split)
            parts.append(
                pd.DataFrame({"train_size": self.train_sizes.astype(int), "split": split, **s})
            )
        return pd.concat(parts, ignore_index=True)

    def folds_frame(self) -> pd.DataFrame:
        """Every fold's score: ``train_size, fold, split, score``."""
        n_sizes, k = self.train_scores.shape
        both = (("train", self.train_scores), ("validation", self.validation_scores))
        parts = [
            pd.DataFrame(
                {
                    "train_size": np.repeat(self.train_sizes.astype(int), k),
                    "fold": np.tile(np.arange(k), n_sizes),
                    "split": split,
                    "score": scores.ravel(),
                }
            )
            for split, scores in both
        ]
        return pd.concat(parts, ignore_index=True)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "estimator": self.estimator,
            "unwrapped": list(self.unwrapped),
            "cv": self.cv,
            "confidence": self.confidence,
            "interval": self.interval,
            "n_rows": self.n_rows,
            "n_rows_total": self.n_rows_total,
            "sampled": self.sampled,
            "random_state": self.random_state,
            "train_sizes": [int(n) for n in self.train_sizes],
            "notes": list(self.notes),
        }
        for split, folds in (("train", self.train_scores), ("validation", self.validation_scores)):
            s = self.stats(split)
            out[split] = {
                "mean": _nums(s["mean"]),
                "sd": _nums(s["sd"]),
                "ci_low": _nums(s["ci_low"]),
                "ci_high": _nums(s["ci_high"]),
                "n_folds": [int(n) for n in s["n_folds"]],
                "folds": [_nums(row) for row in folds],
            }
        out["fit_times"] = (
            None if self.fit_times is None else [_nums(row) for row in self.fit_times]
        )
        return out

    def plot(self, *, ax: Any = None) -> Any:
        """Train and validation score against training rows, with interval bands."""
        from afterfit.training.plots import plot_learning_curve

        return plot_learning_curve(self, ax=ax)


def _fold_stats(scores: np.ndarray, confidence: float, metric: str) -> dict[str, np.ndarray]:
    from scipy import stats

    from afterfit.metrics.ranges import bounds, t_interval

    scores = np.asarray(scores, dtype=float)
    ok = np.isfinite(scores)
    k = ok.sum(axis=1)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # sizes where every fit failed
        mean = np.nanmean(np.where(ok, scores, np.nan), axis=1)
        sd = np.nanstd(np.where(ok, scores, np.nan), axis=1, ddof=1)
        t = stats.t.ppf((1 + confidence) / 2, np.maximum(k - 1, 1))
    sd = np.where(k >= 2, sd, np.nan)
    # Built on the metric's scale (logit for a proportion), so no end leaves its range.
    limits = bounds(metric)
    ends = [
        t_interval(float(m), float(e), float(q), limits)[:2] if n >= 2 else (np.nan, np.nan)
        for m, e, q, n in zip(mean, sd / np.sqrt(np.maximum(k, 1)), t, k, strict=True)
    ]
    low = np.array([e[0] for e in ends], dtype=float)
    high = np.array([e[1] for e in ends], dtype=float)
    return {"mean": mean, "sd": sd, "ci_low": low, "ci_high": high, "n_folds": k}
