"""Loss and learning curves: how the model got where it is.

Three sources, one shape of result:

- :func:`training_curves` reads the curves an estimator records while it fits (MLP
  ``loss_curve_`` and ``validation_scores_``, gradient boosting ``train_score_`` and
  ``oob_scores_``, histogram gradient boosting ``train_score_`` and ``validation_score_``,
  XGBoost / LightGBM / CatBoost evaluation results), after unwrapping pipelines, afterfit's
  adapters and wrappers, and scikit-learn meta-estimators;
- :func:`read_history` reads a training log the user passes (Keras ``History.history`` as
  JSON, Keras or PyTorch Lightning ``CSVLogger`` files, a JSON list of records);
- :func:`learning_curve` refits a clone of a scikit-learn-API model on growing parts of the
  training data (:func:`sklearn.model_selection.learning_curve`), with an interval across
  the cross-validation folds.

:class:`TrainingCurves` and :class:`LearningCurve` are frozen results with ``frame()``,
``to_dict()`` (JSON-safe) and ``plot()`` (matplotlib); :mod:`afterfit.report.sections.training`
turns them into the report's Training section.
"""

from __future__ import annotations

import csv
import json
import os
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from afterfit.errors import DataError, InvalidInputError, ModelError
from afterfit.jsonsafe import number as _num
from afterfit.jsonsafe import numbers as _nums
from afterfit.plots import OKABE_ITO

__all__ = [
    "Curve",
    "LearningCurve",
    "TrainingCurves",
    "learning_curve",
    "read_history",
    "training_curves",
]


# --- what a metric name says about its direction -----------------------------------------

# Tokens of names where lower is better (losses and errors); checked before the scores,
# because a name with "loss" in it is a loss whatever else it says.
_LOWER = {
    "loss", "logloss", "mlogloss", "nll", "nloglik", "error", "err", "merror", "mse", "rmse",
    "mae", "mape", "msle", "rmsle", "l1", "l2", "huber", "fair", "poisson", "gamma", "tweedie",
    "deviance", "crossentropy", "cross", "entropy", "kullback", "kl", "perplexity", "brier",
    "multiclass", "logcosh", "quantile", "wer", "cer", "hinge",
}  # fmt: skip
_HIGHER = {
    "auc", "aucpr", "auroc", "ap", "map", "ndcg", "acc", "accuracy", "f1", "fbeta",
    "precision", "pre", "recall", "r2", "r²", "score", "iou", "dice", "mcc", "kappa", "bleu",
    "rouge", "match", "hit", "hits", "jaccard", "auprc",
}  # fmt: skip
# Columns that index the log rather than measure the model.
_INDEX_COLUMNS = ("epoch", "step", "iteration", "iter", "round", "global_step")
_META_COLUMNS = {"time", "timestamp", "wall_time", "created_at", "duration", "elapsed"}


def _direction(metric: str) -> bool | None:
    """Whether higher values of ``metric`` are better, from its name; None if unknown."""
    name = metric.strip().lower()
    if name.startswith("neg_"):  # scikit-learn scorers: negated losses, higher is better
        return True
    tokens = [t for t in re.split(r"[^a-z0-9²]+", name) if t]
    if not tokens or tokens[0] in ("lr", "learning") or name.startswith("lr"):
        return None
    if any(t in _LOWER or t.endswith(("loss", "error")) for t in tokens):
        return False
    if any(t in _HIGHER or t.endswith("accuracy") for t in tokens):
        return True
    return None


_SPLIT_PREFIX = re.compile(
    r"^(train|training|val|valid|validation|test|eval|evaluation)[_/.\- ]+(.+)$", re.I
)
_SPLIT_SUFFIX = re.compile(r"^(.+?)[_/.\- ]+(train|training|val|valid|validation|test)$", re.I)
_SPLIT_NAMES = {"train": "train", "training": "train", "val": "validation",
                "valid": "validation", "validation": "validation", "eval": "validation",
                "evaluation": "validation", "test": "test"}  # fmt: skip


def _split_metric(key: str) -> tuple[str | None, str]:
    """``"val_loss"`` -> ``("validation", "loss")``; ``"loss"`` -> ``(None, "loss")``.

    Lightning's per-step and per-epoch suffixes (``train_loss_step``) stay in the metric
    name: they are different quantities.
    """
    m = _SPLIT_PREFIX.match(key)
    if m:
        return _SPLIT_NAMES[m.group(1).lower()], m.group(2)
    m = _SPLIT_SUFFIX.match(key)
    if m:
        return _SPLIT_NAMES[m.group(2).lower()], m.group(1)
    return None, key


def split_kind(split: str | None) -> str | None:
    """``"train"``, ``"validation"`` or None for a split name as estimators write them
    (``"training"``, ``"learn"``, ``"valid_1"``, ``"validation_0"``, ``"out-of-bag"``...).

    XGBoost names every evaluation set ``validation_<i>``, even the training data passed
    as one, so ``validation_0`` counts as validation.
    """
    if split is None:
        return None
    s = split.lower()
    if s in ("train", "training", "learn", "in-bag"):
        return "train"
    if s.startswith(("val", "valid", "eval", "test", "out-of-bag", "oob")):
        return "validation"
    return None


# --- results ------------------------------------------------------------------------------


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
        return _plot_curves(self, max_panels=max_panels)


@dataclass(frozen=True)
class LearningCurve:
    """Cross-validated score against the number of training rows.

    Scores are oriented for reading: scikit-learn's negated losses (``neg_log_loss``) are
    turned back into losses (``log_loss``, lower is better).

    The interval at each size is ``mean ± t(q, k-1) · sd / sqrt(k)`` over the ``k`` folds
    with a score, ``q = (1 + confidence) / 2``. The folds share training rows, so the
    scores are not independent and the interval is an approximation that tends to be too
    narrow; read it as fold-to-fold spread, not as an exact confidence interval.

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
            f"mean ± t({(1 + self.confidence) / 2:.3g}, k-1) × sd/√k over the k folds "
            "(folds share training rows: approximate)"
        )

    def stats(self, split: str) -> dict[str, np.ndarray]:
        """``mean``, ``sd``, ``ci_low``, ``ci_high`` and ``n_folds`` per training size, for
        ``split`` ``"train"`` or ``"validation"``."""
        if split not in ("train", "validation"):
            raise ValueError(f"split must be 'train' or 'validation', not {split!r}")
        return _fold_stats(
            self.train_scores if split == "train" else self.validation_scores, self.confidence
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
        return _plot_learning_curve(self, ax=ax)


def _fold_stats(scores: np.ndarray, confidence: float) -> dict[str, np.ndarray]:
    from scipy import stats

    scores = np.asarray(scores, dtype=float)
    ok = np.isfinite(scores)
    k = ok.sum(axis=1)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # sizes where every fit failed
        mean = np.nanmean(np.where(ok, scores, np.nan), axis=1)
        sd = np.nanstd(np.where(ok, scores, np.nan), axis=1, ddof=1)
        t = stats.t.ppf((1 + confidence) / 2, np.maximum(k - 1, 1))
        half = np.where(k >= 2, t * sd / np.sqrt(np.maximum(k, 1)), np.nan)
    sd = np.where(k >= 2, sd, np.nan)
    return {"mean": mean, "sd": sd, "ci_low": mean - half, "ci_high": mean + half, "n_folds": k}


# --- unwrapping ---------------------------------------------------------------------------

# Attributes that hold a wrapped, fitted estimator: a search's ``best_estimator_``,
# ``estimator_`` of FixedThresholdClassifier / TunedThresholdClassifierCV, ``regressor_`` of
# TransformedTargetRegressor; then what afterfit's adapters and wrappers hold.
_INNER_FITTED = ("best_estimator_", "estimator_", "regressor_")
_INNER_AFTERFIT = ("estimator", "booster", "module", "model")
# afterfit wrappers that refit their inner estimator when cloned, the decision rule fixed;
# the others (adapters, CalibratedModel) only wrap a fitted model and cannot be refitted.
_REFITTABLE_AFTERFIT = ("ThresholdedModel", "CostSensitiveModel")
_CURVE_ATTRS = ("loss_curve_", "train_score_", "evals_result_", "evals_result",
                "get_evals_result", "validation_scores_")  # fmt: skip


def _is_afterfit(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] == "afterfit"


def _is_pipeline(obj: Any) -> bool:
    steps = getattr(obj, "steps", None)
    return (
        isinstance(steps, list)
        and bool(steps)
        and callable(getattr(obj, "fit", None))
        and all(isinstance(s, tuple) and len(s) == 2 for s in steps)
    )


def _held(obj: Any, attrs: Sequence[str]) -> Any:
    for attr in attrs:
        candidate = getattr(obj, attr, None)
        if candidate is not None and not isinstance(candidate, str | bytes | type):
            return candidate
    return None


def _inner_for_curves(obj: Any) -> Any:
    """The estimator one level inside ``obj``, down to the one that fitted (or None)."""
    if _is_pipeline(obj):
        return obj.steps[-1][1]
    inner = _held(obj, _INNER_FITTED)
    if inner is None and _is_afterfit(obj):
        inner = _held(obj, _INNER_AFTERFIT)
    if inner is None:
        # CalibratedClassifierCV: the first fold's fitted estimator recorded the curves
        calibrated = getattr(obj, "calibrated_classifiers_", None)
        if calibrated:
            inner = getattr(calibrated[0], "estimator", None)
    return inner


def _inner_for_refit(obj: Any) -> Any:
    """The object to clone one level inside ``obj``, or None to clone ``obj`` itself.

    Pipelines and scikit-learn meta-estimators refit as a whole (preprocessing and
    decision rule included); a search gives its best configuration (refitting the search
    would nest cross-validation); afterfit adapters and CalibratedModel give the model they
    wrap.
    """
    if _is_pipeline(obj):
        return None
    best = getattr(obj, "best_estimator_", None)
    if best is not None:
        return best
    if _is_afterfit(obj) and type(obj).__name__ not in _REFITTABLE_AFTERFIT:
        return _held(obj, _INNER_AFTERFIT)
    return None


def _unwrap(model: Any, *, into_pipelines: bool) -> tuple[Any, tuple[str, ...]]:
    """The estimator inside ``model`` and the class names of the wrappers removed.

    ``into_pipelines=True`` goes down to the estimator that recorded curves (a pipeline's
    last step); ``False`` stops at what a learning curve can clone and refit.
    """
    path: list[str] = []
    seen: set[int] = set()
    obj = model
    while id(obj) not in seen and len(path) < 20:
        seen.add(id(obj))
        if into_pipelines:
            if any(hasattr(obj, a) for a in _CURVE_ATTRS):
                break
            inner = _inner_for_curves(obj)
        else:
            inner = _inner_for_refit(obj)
        if inner is None or inner is obj:
            break
        path.append(type(obj).__name__)
        obj = inner
    return obj, tuple(path)


# --- curves recorded by estimators --------------------------------------------------------


def _arr(values: Any) -> np.ndarray | None:
    try:
        a = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        return None
    return a if a.size else None


def _curve(name: str, y: Any, metric: str, split: str | None, higher: bool | None,
           *, start: int = 1) -> Curve | None:  # fmt: skip
    a = _arr(y)
    if a is None:
        return None
    x = np.arange(start, start + a.size, dtype=np.float64)
    keep = np.isfinite(a)
    if not keep.any():
        return None
    return Curve(name, x[keep], a[keep], metric, split, higher)


def _is_classifier(est: Any) -> bool:
    try:
        from sklearn.base import is_classifier

        if is_classifier(est):
            return True
    except Exception:  # objects without scikit-learn tags
        pass
    return getattr(est, "classes_", None) is not None


def _from_loss_curve(est: Any) -> tuple[list[Curve | None], str, float | None, list[str]]:
    """MLP (and any estimator with ``loss_curve_``): loss per epoch, validation score."""
    curves = [_curve("train loss", est.loss_curve_, "loss", "train", False)]
    best = None
    notes = []
    val = getattr(est, "validation_scores_", None)
    if val is not None and len(val):
        metric = "accuracy" if _is_classifier(est) else "r2"
        curves.append(_curve(f"validation {metric}", val, metric, "validation", True))
        if getattr(est, "early_stopping", False):
            # MLP keeps the weights of the best validation score
            best = float(np.nanargmax(np.asarray(val, dtype=float)) + 1)
        notes.append(f"the validation score is {type(est).__name__}.score ({metric}) on the "
                     "early-stopping validation split")  # fmt: skip
    return curves, "epoch", best, notes


def _from_gradient_boosting(est: Any) -> tuple[list[Curve | None], str, float | None, list[str]]:
    """scikit-learn GradientBoosting*: loss after each stage, out-of-bag loss."""
    subsample = float(getattr(est, "subsample", 1.0) or 1.0)
    oob = getattr(est, "oob_scores_", None)
    in_bag = " (in-bag)" if subsample < 1 else ""
    curves = [_curve(f"train loss{in_bag}", est.train_score_, "loss", "train", False)]
    if oob is not None:
        curves.append(_curve("out-of-bag loss", oob, "loss", "out-of-bag", False))
    improvement = getattr(est, "oob_improvement_", None)
    if improvement is not None:
        # a per-stage change, not a level: its own panel; stages past its zero crossing
        # no longer help on out-of-bag rows
        curves.append(_curve("out-of-bag improvement", improvement, "out-of-bag improvement",
                             "out-of-bag", None))  # fmt: skip
    notes = []
    if subsample < 1:
        notes.append(f"subsample={subsample:g}: the train loss is on each stage's in-bag rows")
    return curves, "iteration", None, notes


def _from_hist_gradient_boosting(
    est: Any,
) -> tuple[list[Curve | None], str, float | None, list[str]]:
    """HistGradientBoosting*: scores before the first and after each iteration (early
    stopping only). With ``scoring="loss"`` they are negative losses: shown as losses."""
    scoring = getattr(est, "scoring", "loss")
    notes = ["iteration 0 is the model before the first tree (the baseline prediction)"]
    if scoring == "loss":
        sign, metric, higher = -1.0, "loss", False
        notes.append("HistGradientBoosting records the negative loss; shown as the loss")
    else:
        sign, higher = 1.0, True
        if isinstance(scoring, str):
            metric = scoring
        elif scoring is None:  # the estimator's own score method
            metric = "accuracy" if _is_classifier(est) else "r2"
        else:
            metric = getattr(scoring, "__name__", "score")
        if metric.startswith("neg_"):
            sign, metric, higher = -1.0, metric[4:], False
            notes.append(f"scores of '{scoring}' are negated; shown as '{metric}'")
    curves = []
    for attr, split in (("train_score_", "train"), ("validation_score_", "validation")):
        a = _arr(getattr(est, attr, None))
        if a is not None:
            curves.append(_curve(f"{split} {metric}", sign * a, metric, split, higher, start=0))
    return curves, "iteration", None, notes


def _from_evals(est: Any) -> tuple[list[Curve | None], str, float | None, list[str]]:
    """XGBoost / LightGBM ``evals_result_`` and CatBoost ``get_evals_result()``: every
    evaluation set and metric, one value per boosting round."""
    evals = getattr(est, "evals_result_", None)
    for method in ("evals_result", "get_evals_result"):
        if evals is None and callable(getattr(est, method, None)):
            try:
                evals = getattr(est, method)()
            except Exception:  # XGBoost raises when fit had no eval_set
                evals = None
    curves: list[Curve | None] = []
    if isinstance(evals, dict):
        for split, metrics in evals.items():
            if not isinstance(metrics, dict):
                continue
            for metric, values in metrics.items():
                name = f"{split} {metric}"
                curves.append(_curve(name, values, str(metric), str(split), _direction(metric)))
    best = None
    # LightGBM's best_iteration_ counts from 1 (0: no early stopping); XGBoost's and
    # CatBoost's count from 0.
    lgb_best = getattr(est, "best_iteration_", None)
    if isinstance(lgb_best, int | np.integer) and lgb_best > 0:
        best = float(lgb_best)
    elif type(est).__module__.startswith("xgboost"):
        xgb_best = getattr(est, "best_iteration", None)  # AttributeError without early stop
        if isinstance(xgb_best, int | np.integer):
            best = float(xgb_best) + 1
    elif callable(getattr(est, "get_best_iteration", None)):
        try:
            cb_best = est.get_best_iteration()
        except Exception:
            cb_best = None
        if isinstance(cb_best, int | np.integer):
            best = float(cb_best) + 1
    return curves, "iteration", best, []


def training_curves(model: Any) -> TrainingCurves | None:
    """The curves an estimator recorded while it was fitted.

    Parameters
    ----------
    model : object
        A fitted model: a scikit-learn estimator or pipeline (the last step is read), an
        XGBoost / LightGBM / CatBoost scikit-learn wrapper, an afterfit adapter
        (:class:`~afterfit.models.sklearn.SklearnModel`...) or wrapper
        (:class:`~afterfit.thresholds.ThresholdedModel`,
        :class:`~afterfit.thresholds.CostSensitiveModel`,
        :class:`~afterfit.calibration.CalibratedModel`), a fitted search
        (``best_estimator_``), or a Keras model (``model.history.history``).

    Returns
    -------
    TrainingCurves or None
        None when the estimator recorded nothing (most models; boosting with no
        ``eval_set``; HistGradientBoosting without early stopping).

    Notes
    -----
    Read, per estimator:

    - ``loss_curve_`` (MLP): train loss per epoch; ``validation_scores_`` (MLP with
      ``early_stopping=True``): accuracy or R² on the held-out split;
    - ``train_score_``, ``oob_scores_``, ``oob_improvement_`` (GradientBoosting): loss
      after each stage, in-bag when ``subsample < 1``, and on the out-of-bag rows;
    - ``train_score_``, ``validation_score_`` (HistGradientBoosting with early stopping):
      from iteration 0, the baseline; negative losses are shown as losses;
    - ``evals_result_`` / ``evals_result()`` (XGBoost, LightGBM) and
      ``get_evals_result()`` (CatBoost): every evaluation set and metric per round.
    """
    est, path = _unwrap(model, into_pipelines=True)
    if getattr(est, "loss_curve_", None) is not None:
        parts = _from_loss_curve(est)
    elif getattr(est, "validation_score_", None) is not None and hasattr(est, "train_score_"):
        parts = _from_hist_gradient_boosting(est)
    elif getattr(est, "train_score_", None) is not None:
        parts = _from_gradient_boosting(est)
    elif any(hasattr(est, a) for a in ("evals_result_", "evals_result", "get_evals_result")):
        parts = _from_evals(est)
    else:
        history = getattr(getattr(est, "history", None), "history", None)
        if not isinstance(history, dict) or not history:
            return None
        # a Keras model keeps the History of its last fit
        try:
            result = _from_mapping(history, source=type(est).__name__)
        except DataError:
            return None
        return TrainingCurves(result.curves, type(est).__name__, "estimator", result.x_label,
                              unwrapped=path, notes=result.notes)  # fmt: skip
    curves, x_label, best, notes = parts
    kept = tuple(c for c in curves if c is not None)
    if not kept:
        return None
    return TrainingCurves(kept, type(est).__name__, "estimator", x_label, best, path,
                          tuple(notes))  # fmt: skip


# --- training logs ------------------------------------------------------------------------

_HISTORY_FIX = (
    "pass a training log as --history: Keras History.history saved as JSON "
    '({"loss": [...], "val_loss": [...]}), a Keras or PyTorch Lightning CSVLogger file '
    '(epoch,loss,val_loss,...), or a JSON list of records ([{"epoch": 0, "loss": ...}]).'
)


def read_history(path: str | os.PathLike[str]) -> TrainingCurves:
    """Read a training log: loss and metrics per epoch (or step).

    Parameters
    ----------
    path : str or path-like
        One of:

        - Keras ``History.history`` saved as JSON: ``{"loss": [...], "val_loss": [...]}``
          (also under a ``"history"`` key); lists may differ in length;
        - a Keras ``CSVLogger`` file: ``epoch,loss,val_loss,...``;
        - a PyTorch Lightning ``CSVLogger`` ``metrics.csv`` (or its folder): training and
          validation rows alternate with empty cells; rows are grouped by epoch and
          metrics logged per step are averaged within the epoch;
        - a JSON list of records ``[{"epoch": 0, "loss": ...}, ...]``, JSON Lines, or a
          Hugging Face ``trainer_state.json`` (its ``log_history``).

        ``train_`` / ``val_`` / ``test_`` prefixes (or ``/`` and suffix forms such as
        ``loss/val``) name the split; curves of one metric share a panel.

    Returns
    -------
    TrainingCurves
        ``kind="history"``; ``x_label`` is the index column used (``epoch``, ``step``...),
        ``"epoch"`` for a Keras dict of lists, or ``"row"`` when the log has none.

    Raises
    ------
    DataError
        The file does not exist, is not CSV or JSON, is empty, or has no numeric column.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "history.json"
    >>> _ = p.write_text(json.dumps({"loss": [0.9, 0.5, 0.4], "val_loss": [1.0, 0.7, 0.8]}))
    >>> read_history(p).names
    ('train loss', 'validation loss')
    """
    p = Path(path)
    if p.is_dir():
        found = p / "metrics.csv"  # a Lightning log folder
        if not found.is_file():
            raise DataError(
                f"The training history path '{p}' is a folder without a metrics.csv file.",
                fix="pass the log file itself. " + _HISTORY_FIX,
            )
        p = found
    if not p.exists():
        raise DataError(
            f"The training history file '{p}' does not exist.",
            fix="check the path given to --history (relative paths start in the current folder).",
        )
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DataError(f"The training history file '{p}' could not be read: {exc}.",
                        fix="check that the file is readable.") from exc  # fmt: skip
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"The training history file '{p}' is not a text file (CSV or JSON); it may be "
            "a binary log (TensorBoard events, a pickle).",
            fix=_HISTORY_FIX,
        ) from exc
    if not text.strip():
        raise DataError(f"The training history file '{p}' is empty.", fix=_HISTORY_FIX)
    suffix = p.suffix.lower()
    is_json = suffix in (".json", ".jsonl", ".ndjson") or (
        suffix not in (".csv", ".tsv", ".txt", ".log") and text.lstrip()[:1] in ("{", "[")
    )
    source = str(p)
    result = _read_json(text, source) if is_json else _read_csv(p, source)
    return result


def _read_json(text: str, source: str) -> TrainingCurves:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as first:
        try:  # JSON Lines: one record a line
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError:
            raise DataError(
                f"The training history file '{source}' is not valid JSON ({first.msg} at "
                f"line {first.lineno}, column {first.colno}).",
                fix=_HISTORY_FIX,
            ) from first
    if isinstance(data, dict):
        if isinstance(data.get("log_history"), list):  # Hugging Face trainer_state.json
            data = data["log_history"]
        elif isinstance(data.get("history"), dict):  # {"history": History.history, ...}
            data = data["history"]
    if isinstance(data, dict):
        return _from_mapping(data, source=source)
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        return _from_frame(pd.DataFrame.from_records(data), source=source)
    what = "an empty list" if data == [] else f"a JSON {type(data).__name__}"
    raise DataError(
        f"The training history file '{source}' holds {what}, not a dict of lists or a list "
        "of records.",
        fix=_HISTORY_FIX,
    )


def _delimiter(path: Path) -> str:
    """Comma, semicolon, tab or bar, sniffed from the first lines (comma when unsure);
    pandas' own sniffing (``sep=None``) can pick a letter in a one-column file."""
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        sample = "".join(f.readline() for _ in range(20))
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _read_csv(path: Path, source: str) -> TrainingCurves:
    try:
        frame = pd.read_csv(path, sep=_delimiter(path))
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"The training history file '{source}' is empty.",
                        fix=_HISTORY_FIX) from exc  # fmt: skip
    except (pd.errors.ParserError, csv.Error, ValueError) as exc:
        raise DataError(
            f"The training history file '{source}' could not be read as CSV: {exc}",
            fix=_HISTORY_FIX,
        ) from exc
    if frame.empty:
        raise DataError(
            f"The training history file '{source}' has a header but no rows.",
            fix="pass the log after at least one epoch was written.",
        )
    return _from_frame(frame, source=source)


def _label_columns(keys: Sequence[str]) -> dict[str, tuple[str, str | None, str]]:
    """Name, split and metric of each log column.

    An unprefixed key is the training curve when another key has the same metric with a
    split (Keras: ``loss`` beside ``val_loss``). Lightning's ``_epoch`` / ``_step``
    suffixes share the panel of their metric; a name that two columns would share falls
    back to the column names.
    """
    parsed: dict[str, tuple[str | None, str, str]] = {}
    for key in keys:
        split, metric = _split_metric(key)
        m = re.match(r"^(.+?)[_/](epoch|step)$", metric)
        # Lightning's train_loss_epoch is the epoch's loss; train_loss_step the loss of
        # single steps (averaged per epoch below): both on the loss panel
        suffix = " (steps)" if m and m.group(2) == "step" else ""
        parsed[key] = (split, m.group(1) if m else metric, suffix)
    with_split = {m for s, m, _ in parsed.values() if s is not None}
    out: dict[str, tuple[str, str | None, str]] = {}
    for key, (split, metric, suffix) in parsed.items():
        if split is None and metric in with_split:
            split = "train"
        name = (metric if split is None else f"{split} {metric}") + suffix
        out[key] = (name, split, metric)
    names = [n for n, _, _ in out.values()]
    return {k: (k if names.count(n) > 1 else n, s, m) for k, (n, s, m) in out.items()}


def _from_mapping(data: dict[str, Any], *, source: str) -> TrainingCurves:
    """Keras ``History.history``: ``{metric: [value per epoch]}``; lists may differ."""
    series: dict[str, np.ndarray] = {}
    skipped = []
    for key, values in data.items():
        if not isinstance(values, list | tuple) or not values:
            skipped.append(str(key))
            continue
        try:
            a = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        except (TypeError, ValueError):
            skipped.append(str(key))
            continue
        if np.isfinite(a).any():
            series[str(key)] = a
        else:
            skipped.append(str(key))
    if not series:
        raise DataError(
            f"The training history file '{source}' has no list of numbers (keys: "
            f"{', '.join(map(str, data)) or 'none'}).",
            fix=_HISTORY_FIX,
        )
    x_key = next((k for k in _INDEX_COLUMNS if k in series), None)
    labels = _label_columns([k for k in series if k != x_key])
    curves = []
    for key, (name, split, metric) in labels.items():
        y = series[key]
        x = (series[x_key][: y.size] if x_key and series[x_key].size >= y.size
             else np.arange(y.size, dtype=np.float64))  # fmt: skip
        keep = np.isfinite(y) & np.isfinite(x)
        curves.append(Curve(name, x[keep], y[keep], metric, split, _direction(metric)))
    notes = [f"skipped keys without numbers: {', '.join(skipped)}"] if skipped else []
    if x_key is None:
        notes.append("epochs counted from 0, as Keras does")
    return TrainingCurves(tuple(curves), source, "history", x_key or "epoch", notes=tuple(notes))


def _from_frame(frame: pd.DataFrame, *, source: str) -> TrainingCurves:
    """A log table: one row per epoch (Keras) or sparse rows grouped by epoch (Lightning)."""
    frame = frame.rename(columns=lambda c: str(c).strip())
    numeric: dict[str, pd.Series] = {}
    for col in frame.columns:
        values = pd.to_numeric(frame[col], errors="coerce")
        if col.lower() not in _META_COLUMNS and values.notna().any():
            numeric[col] = values.astype(float)
    lower = {c.lower(): c for c in numeric}
    x_col = next((lower[k] for k in _INDEX_COLUMNS if k in lower), None)
    metric_cols = [c for c in numeric if c != x_col and c.lower() not in _INDEX_COLUMNS]
    if not metric_cols:
        raise DataError(
            f"The training history file '{source}' has no numeric column besides its index "
            f"(columns: {', '.join(map(str, frame.columns))}).",
            fix=_HISTORY_FIX,
        )
    table = pd.DataFrame(numeric)
    notes: list[str] = []
    if x_col is None:
        x_label = "row"
        table.index = pd.RangeIndex(len(table), name=x_label)
    else:
        x_label = x_col
        dropped = int(table[x_col].isna().sum())
        table = table[table[x_col].notna()]
        if dropped:
            notes.append(f"{dropped} rows without a {x_col} value left out")
        counts = table.groupby(x_col)[metric_cols].count()
        per_step = [c for c in metric_cols if (counts[c] > 1).any()]
        if table[x_col].duplicated().any():
            # Lightning writes training and validation rows apart (sparse cells), and
            # per-step metrics several times an epoch: one value per epoch, the mean.
            table = table.groupby(x_col, sort=True)[metric_cols].mean()
            if per_step:
                notes.append(f"logged more than once per {x_col}, averaged within each: "
                             + ", ".join(per_step))  # fmt: skip
        else:
            table = table.set_index(x_col).sort_index()
    labels = _label_columns(metric_cols)
    curves = []
    for col in metric_cols:
        y = table[col].to_numpy(float)
        x = table.index.to_numpy(float)
        keep = np.isfinite(y) & np.isfinite(x)
        if not keep.any():
            continue
        name, split, metric = labels[col]
        curves.append(Curve(name, x[keep], y[keep], metric, split, _direction(metric)))
    if not curves:
        raise DataError(
            f"The training history file '{source}' has no finite values in its metric "
            f"columns ({', '.join(metric_cols)}).",
            fix=_HISTORY_FIX,
        )
    return TrainingCurves(tuple(curves), source, "history", x_label, notes=tuple(notes))


# --- learning curve -----------------------------------------------------------------------


def _scoring(metric: str | Callable[..., float] | None, classifier: bool) -> tuple[Any, str, int]:
    """The scikit-learn ``scoring`` argument, the name to show and the sign that orients
    the scores (-1 for negated losses)."""
    from sklearn.metrics import get_scorer, get_scorer_names

    if metric is None:
        return ("accuracy" if classifier else "r2"), ("accuracy" if classifier else "r2"), 1
    if callable(metric):
        return metric, getattr(metric, "__name__", "score"), 1
    names = set(get_scorer_names())
    name = str(metric)
    if name not in names and f"neg_{name}" in names:
        name = f"neg_{name}"  # afterfit's "log_loss" is scikit-learn's "neg_log_loss"
    try:
        get_scorer(name)
    except ValueError as exc:
        close = sorted(n for n in names if str(metric).lower() in n)[:8]
        raise InvalidInputError(
            f"The argument 'metric' is {metric!r}, which is not a scikit-learn scorer name.",
            fix="pass a name such as 'accuracy', 'roc_auc', 'log_loss', 'r2' or "
            "'neg_root_mean_squared_error'"
            + (f" (close: {', '.join(close)})" if close else "")
            + ", or a scorer callable(estimator, X, y).",
        ) from exc
    if name.startswith("neg_"):
        return name, name[4:], -1
    return name, name, 1


def learning_curve(
    model: Any,
    X_train: Any,
    y_train: Any,
    *,
    train_sizes: Sequence[float] = (0.1, 0.25, 0.5, 0.75, 1.0),
    cv: int | Any = 5,
    metric: str | Callable[..., float] | None = None,
    random_state: int | None = 0,
    n_jobs: int | None = None,
    max_rows: int | None = 20_000,
    confidence: float = 0.95,
    threads: int | None = 1,
) -> LearningCurve:
    """Score against the number of training rows, cross-validated, on a clone of ``model``.

    Parameters
    ----------
    model : object
        A scikit-learn-API estimator or pipeline (XGBoost and LightGBM wrappers too), or
        an afterfit adapter or wrapper around one; the clone is of the estimator inside
        afterfit's wrappers (thresholds and calibrators are fitted around a fitted model
        and are not refitted), of the whole pipeline, and of a search's
        ``best_estimator_``.
    X_train, y_train : array-like
        Training data (pandas, numpy or polars).
    train_sizes : sequence of float or int
        Fractions of the training folds (in ``(0, 1]``) or absolute row counts.
    cv : int or splitter
        Folds: ``StratifiedKFold`` for classifiers, ``KFold`` otherwise, both shuffled with
        ``random_state``; or any scikit-learn splitter.
    metric : str or callable, optional
        A scikit-learn scorer name (``"roc_auc"``, ``"log_loss"`` or ``"neg_log_loss"``,
        ``"r2"``...) or a scorer ``f(estimator, X, y)``; default accuracy (classifiers) or
        R² (regressors). Negated losses are shown as losses (lower is better).
    random_state : int or None
        Seeds the folds, the rows each size takes, and the row sample.
    n_jobs : int, optional
        Parallel fits (joblib).
    max_rows : int or None
        At most this many rows are used, drawn at random with ``random_state`` (recorded
        in the result); None uses every row.
    confidence : float
        Level of the interval across folds.
    threads : int or None
        OpenMP / BLAS threads per fit (through threadpoolctl). One by default: fits on at
        most ``max_rows`` rows are short, and threads cost more than they give there (a
        HistGradientBoosting fit on 20,000 rows took 14 s with threads on a busy 2-core
        machine, 1 s without); run fits side by side with ``n_jobs`` instead. None keeps
        the libraries' defaults.

    Returns
    -------
    LearningCurve

    Raises
    ------
    ModelError
        The model does not follow the scikit-learn API (an ONNX session, a native booster,
        a torch module) or cannot be cloned, or every fit failed.
    InvalidInputError
        Bad ``metric``, ``train_sizes``, ``cv``, or ``X_train``/``y_train`` of different
        lengths.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> lc = learning_curve(DecisionTreeClassifier(max_depth=3), X, y, cv=3)
    >>> lc.frame().columns.tolist()
    ['train_size', 'split', 'mean', 'sd', 'ci_low', 'ci_high', 'n_folds']
    """
    from sklearn import model_selection
    from sklearn.base import clone

    est, path = _unwrap(model, into_pipelines=False)
    name = type(est).__name__
    if not (callable(getattr(est, "fit", None)) and callable(getattr(est, "get_params", None))):
        raise ModelError(
            f"The model, a {name}, does not follow the scikit-learn API (fit and "
            "get_params), so it cannot be refitted for a learning curve.",
            fix="pass a scikit-learn-API estimator or pipeline, or leave the learning curve "
            "out (it needs to refit the model on parts of the training data).",
        )
    try:
        fresh = clone(est)
    except Exception as exc:
        raise ModelError(
            f"The model, a {name}, could not be cloned for a learning curve: {exc}",
            fix="pass an estimator whose get_params() gives back its constructor arguments.",
        ) from exc
    if not (0 < confidence < 1):
        raise InvalidInputError(f"The argument 'confidence' must be in (0, 1); got {confidence}.",
                                fix="pass a level such as 0.95.")  # fmt: skip
    if max_rows is not None and int(max_rows) < 2:
        raise InvalidInputError(f"The argument 'max_rows' must be at least 2; got {max_rows}.",
                                fix="pass a larger number, or None for every row.")  # fmt: skip
    from afterfit.models._common import to_frame

    X = to_frame(X_train)
    y = np.asarray(y_train.to_numpy() if hasattr(y_train, "to_numpy") else y_train)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    n_total = len(y)
    if X.shape[0] != n_total:
        raise InvalidInputError(
            f"X_train has {X.shape[0]:,} rows but y_train has {n_total:,}.",
            fix="pass the training features and target of the same rows.",
        )
    classifier = _is_classifier(est)
    scoring, metric_name, sign = _scoring(metric, classifier)
    notes: list[str] = []
    if path:
        notes.append(f"refitted the {name} inside {' > '.join(path)}; the wrappers are not "
                     "refitted")  # fmt: skip
    if max_rows is not None and n_total > max_rows:
        rng = np.random.default_rng(random_state)
        rows = np.sort(rng.choice(n_total, size=int(max_rows), replace=False))
        X = X.iloc[rows] if isinstance(X, pd.DataFrame) else X[rows]
        y = y[rows]
        notes.append(f"{int(max_rows):,} of {n_total:,} rows, drawn at random (seed "
                     f"{random_state})")  # fmt: skip
    if isinstance(cv, int | np.integer) and not isinstance(cv, bool):
        kind = model_selection.StratifiedKFold if classifier else model_selection.KFold
        splitter: Any = kind(n_splits=int(cv), shuffle=True, random_state=random_state)
    else:
        splitter = cv
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(record=True) as caught, threadpool_limits(limits=threads):
        warnings.simplefilter("always")
        try:
            sizes, train, val, fit_times, _ = model_selection.learning_curve(
                fresh, X, y, train_sizes=np.asarray(train_sizes), cv=splitter,
                scoring=scoring, n_jobs=n_jobs, shuffle=True, random_state=random_state,
                error_score=np.nan, return_times=True,
            )  # fmt: skip
        except ValueError as exc:
            raise InvalidInputError(
                f"The learning curve could not be computed: {exc}",
                fix="check train_sizes (fractions in (0, 1] or row counts smaller than a "
                "training fold), cv (at most as many folds as the rarest class has rows) "
                "and metric.",
            ) from exc
    kinds = {type(w.message).__name__ for w in caught}
    train = sign * np.asarray(train, dtype=float)
    val = sign * np.asarray(val, dtype=float)
    failed = int(np.isnan(val).sum())
    if failed == val.size:
        messages = "; ".join(sorted({str(w.message).splitlines()[0][:200] for w in caught}))
        raise ModelError(
            f"Every fit of the {name} for the learning curve failed ({messages or 'no score'}).",
            fix="check that the model can be refitted on part of the data (an early-stopping "
            "model fitted with an eval_set cannot), or leave the learning curve out.",
        )
    if failed:
        notes.append(f"{failed} of {val.size} fits failed and are left out (e.g. a small "
                     "training size with a class missing)")  # fmt: skip
    if "ConvergenceWarning" in kinds:
        notes.append("some fits stopped before converging (ConvergenceWarning)")
    return LearningCurve(
        train_sizes=np.asarray(sizes),
        train_scores=train,
        validation_scores=val,
        metric=metric_name,
        higher_is_better=sign > 0,
        estimator=name,
        cv=repr(splitter),
        confidence=float(confidence),
        n_rows=len(y),
        n_rows_total=n_total,
        random_state=random_state,
        fit_times=np.asarray(fit_times, dtype=float),
        unwrapped=path,
        notes=tuple(notes),
    )


# --- matplotlib ---------------------------------------------------------------------------


def split_colours(splits: list[str]) -> dict[str, str]:
    """A colour per split name: train blue, validation orange where the names say so,
    the others in Okabe-Ito order."""
    out: dict[str, str] = {}
    rest = iter(OKABE_ITO[2:] + OKABE_ITO[:2])
    for s in splits:
        kind = split_kind(s or None)
        if kind == "train" and OKABE_ITO[0] not in out.values():
            out[s] = OKABE_ITO[0]
        elif kind == "validation" and OKABE_ITO[1] not in out.values():
            out[s] = OKABE_ITO[1]
    for s in splits:
        if s not in out:
            out[s] = next(rest, OKABE_ITO[len(out) % len(OKABE_ITO)])
    return out


def line_dashes(members: Sequence[Curve]) -> list[str]:
    """``"solid"``, then ``"dash"`` and ``"dot"`` for further curves of the same split in
    one panel (Lightning's per-step and per-epoch train loss share a colour)."""
    seen: dict[str, int] = {}
    out = []
    for c in members:
        k = seen.get(c.split or "", 0)
        seen[c.split or ""] = k + 1
        out.append(("solid", "dash", "dot")[min(k, 2)])
    return out


def _plot_curves(curves: TrainingCurves, *, max_panels: int = 6) -> Any:
    from matplotlib.figure import Figure

    groups = list(curves.by_metric().items())[:max_panels]
    cols = 1 if len(groups) == 1 else 2
    rows = -(-len(groups) // cols)
    fig = Figure(figsize=(5.5 * cols, 3.2 * rows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    colours = split_colours(curves.splits())
    for ax, (metric, members) in zip(axes, groups, strict=False):
        for c, dash in zip(members, line_dashes(members), strict=True):
            ax.plot(c.x, c.y, color=colours[c.split or ""], label=c.name,
                    linestyle={"solid": "-", "dash": "--", "dot": ":"}[dash],
                    marker="o" if c.x.size <= 30 else None, markersize=3)  # fmt: skip
        if curves.best_iteration is not None:
            ax.axvline(curves.best_iteration, color="grey", linestyle="--", linewidth=1,
                       label=f"kept: {curves.x_label} {curves.best_iteration:g}")  # fmt: skip
        direction = members[0].higher_is_better
        hint = (
            ""
            if direction is None
            else " (higher is better)"
            if direction
            else " (lower is better)"
        )
        ax.set_ylabel(metric + hint)
        ax.set_xlabel(curves.x_label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    for ax in axes[len(groups) :]:
        ax.set_visible(False)
    what = "Training log" if curves.kind == "history" else f"Training curves: {curves.source}"
    fig.suptitle(what if len(what) < 70 else what[:67] + "...")
    return fig


def _plot_learning_curve(lc: LearningCurve, *, ax: Any = None) -> Any:
    from matplotlib.figure import Figure

    if ax is None:
        fig = Figure(figsize=(5.5, 4.2), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    for split, colour in (("train", OKABE_ITO[0]), ("validation", OKABE_ITO[1])):
        s = lc.stats(split)
        ax.fill_between(lc.train_sizes, s["ci_low"], s["ci_high"], color=colour, alpha=0.2,
                        label=f"{split} {lc.confidence:.0%} band")  # fmt: skip
        ax.plot(lc.train_sizes, s["mean"], marker="o", color=colour, label=split)
    direction = " (higher is better)" if lc.higher_is_better else " (lower is better)"
    ax.set_xlabel("training rows")
    ax.set_ylabel(lc.metric + direction)
    ax.set_title(f"Learning curve: {lc.estimator}")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    return fig
