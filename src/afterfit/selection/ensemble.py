"""Ensembles: combine trained models, or bag and boost one, and say what it gained.

Two entry points, one result:

- :func:`build_ensemble` — post hoc, from already-trained models scored on validation
  rows: greedy selection with replacement (Caruana et al. 2004), soft voting with
  optimised weights, or stacking with a cross-validated linear meta-model.
- :func:`train_ensemble` — from training data: bagging or boosting of a base estimator
  (scikit-learn's ``BaggingClassifier``/``AdaBoostClassifier`` and their regressors), or
  stacking of several base estimators on their out-of-fold predictions.

Either way the gain over the best single model is a paired interval (afterfit's paired
comparison, :func:`afterfit.compare_predictions`) on rows neither the ensemble nor the
choice of the best single model saw: the test rows when given, else cross-fitted rows
(``EnsembleResult.gain.evaluated_on`` says which).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from afterfit.errors import InvalidInputError, ModelError
from afterfit.jsonsafe import number, numbers, scalar
from afterfit.progress import StageProgress, renamed, stage_advance
from afterfit.selection.ensemble_estimator import METHODS, make_ensemble
from afterfit.selection.ensemble_metrics import best_index, lower_is_better, score

__all__ = [
    "TRAINING_METHODS",
    "EnsembleResult",
    "Gain",
    "build_ensemble",
    "train_ensemble",
]

#: Methods of :func:`train_ensemble`.
TRAINING_METHODS = ("bagging", "boosting", "stacking")
ENSEMBLE = "ensemble"
BEST = "best_single"


@dataclass(frozen=True)
class Gain:
    """The ensemble against the best single model, on held-out rows.

    Attributes
    ----------
    metric : str
    ensemble_value, best_value : float
        The metric of the ensemble and of the best single model on the held-out rows.
    difference, ci_low, ci_high : float
        ``ensemble - best`` and its paired interval.
    gain, gain_low, gain_high : float
        The improvement (positive: the ensemble is better; ``-difference`` for metrics
        where lower is better) and its interval.
    p_value : float
    test : str
        The paired test (``"paired bootstrap"``, ``"delong"``, ...).
    evaluated_on : str
        ``"test"`` or ``"cross-fitted validation"`` / ``"cross-fitted training"``.
    n_rows : int
    best_model : str
        The best single model (chosen on the selection rows; with cross-fitting, the one
        chosen most often).
    confidence : float
    """

    metric: str
    ensemble_value: float
    best_value: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str
    evaluated_on: str
    n_rows: int
    best_model: str
    confidence: float

    @property
    def higher_is_better(self) -> bool:
        return not lower_is_better(self.metric)

    @property
    def gain(self) -> float:
        return self.difference if self.higher_is_better else -self.difference

    @property
    def gain_low(self) -> float:
        return self.ci_low if self.higher_is_better else -self.ci_high

    @property
    def gain_high(self) -> float:
        return self.ci_high if self.higher_is_better else -self.ci_low

    def beats_or_ties(self, tolerance: float = 0.0) -> bool:
        """Whether the ensemble is at least as good as the best single model, up to
        ``tolerance`` in the metric's units, on the held-out rows."""
        return bool(self.gain >= -tolerance)

    def sentence(self) -> str:
        """The gain in words, naming the rows it was measured on."""
        conf = f"{self.confidence:.0%}"
        return (
            f"Ensemble {self.metric} {self.ensemble_value:.4f} vs best single model "
            f"({self.best_model}) {self.best_value:.4f}: gain {self.gain:+.4f} "
            f"[{self.gain_low:+.4f}, {self.gain_high:+.4f}] ({conf} paired interval, "
            f"{self.test}; positive = ensemble better) on {self.n_rows:,} "
            f"{self.evaluated_on} rows."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "ensemble_value": number(self.ensemble_value),
            "best_value": number(self.best_value),
            "difference": number(self.difference),
            "ci_low": number(self.ci_low),
            "ci_high": number(self.ci_high),
            "gain": number(self.gain),
            "gain_low": number(self.gain_low),
            "gain_high": number(self.gain_high),
            "higher_is_better": self.higher_is_better,
            "p_value": number(self.p_value),
            "test": self.test,
            "evaluated_on": self.evaluated_on,
            "n_rows": self.n_rows,
            "best_model": self.best_model,
            "confidence": self.confidence,
            "sentence": self.sentence(),
        }


@dataclass(frozen=True, eq=False)
class EnsembleResult:
    """An ensemble and what it gained.

    Attributes
    ----------
    method : str
        ``"greedy"``, ``"weights"``, ``"stacking"``, ``"bagging"`` or ``"boosting"``.
    task : str
    metric : str
        The selection metric (and the metric of the headline gain).
    estimator : estimator
        The fitted ensemble (:class:`~afterfit.selection.ensemble_estimator.EnsembleClassifier`
        or ``EnsembleRegressor``; scikit-learn's bagging/boosting estimator), skops-savable.
    members : DataFrame
        One row per model: ``member, weight, count, selection_value, best``.
    selection : dict
        Metric of the ensemble and of each single model on the selection rows, and how
        honest the ensemble's value there is.
    gain : Gain
    comparison : Comparison
        The paired comparison (every default metric of the task) behind ``gain``.
    curve : ndarray or None
        Greedy: the metric on the selection rows after each step.
    best_step : int or None
    classes : list or None
    settings : dict
    """

    method: str
    task: str
    metric: str
    estimator: Any
    members: pd.DataFrame
    selection: dict[str, Any]
    gain: Gain
    comparison: Any
    curve: np.ndarray | None = None
    best_step: int | None = None
    classes: list[Any] | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        from afterfit.display import one_line, with_interval

        g = self.gain
        gain = with_interval(f"gain in {g.metric}", g.gain, g.gain_low, g.gain_high)
        members = f"{len(self.members)} members"
        return one_line("EnsembleResult", self.method, gain, members, f"{g.n_rows:,} rows")

    def _repr_html_(self) -> str:
        """Jupyter's display: headline with intervals, main figure, findings, tables."""
        from afterfit.display import html

        return html(self)

    def beats_or_ties(self, tolerance: float = 0.0) -> bool:
        """``gain.beats_or_ties``: the ensemble is at least as good on held-out rows."""
        return self.gain.beats_or_ties(tolerance)

    def frame(self) -> pd.DataFrame:
        """The members table."""
        return self.members.copy()

    def curve_frame(self) -> pd.DataFrame:
        """Greedy: ``step, metric, kept`` (empty for other methods)."""
        if self.curve is None:
            return pd.DataFrame(columns=["step", self.metric, "kept"])
        steps = np.arange(self.curve.size)
        return pd.DataFrame(
            {"step": steps, self.metric: self.curve, "kept": steps == self.best_step}
        )

    def gain_frame(self) -> pd.DataFrame:
        """One row per compared metric: ``metric, ensemble, best_single, gain, gain_low,
        gain_high, p_value, test`` (gain positive: the ensemble is better)."""
        rows = []
        for r in self.comparison.rows:
            sign = -1.0 if lower_is_better(r.metric) else 1.0
            lo, hi = sorted((sign * r.ci_low, sign * r.ci_high))
            rows.append(
                {"metric": r.metric, "ensemble": r.value_b, "best_single": r.value_a,
                 "gain": sign * r.difference, "gain_low": lo, "gain_high": hi,
                 "p_value": r.p_value, "test": r.test}
            )  # fmt: skip
        return pd.DataFrame(rows)

    def plot(self, *, kind: str = "weights") -> Any:
        """A matplotlib figure: ``kind="weights"`` (members and weights), ``"curve"``
        (greedy selection curve) or ``"gain"`` (gain by metric with intervals)."""
        from afterfit.selection import ensemble_plots

        draw = {"weights": ensemble_plots.plot_weights, "curve": ensemble_plots.plot_curve,
                "gain": ensemble_plots.plot_gain}.get(kind)  # fmt: skip
        if draw is None:
            raise InvalidInputError(
                f"kind must be 'weights', 'curve' or 'gain'; got {kind!r}.",
                fix="pass kind='weights', 'curve' or 'gain'.",
            )
        return draw(self)

    def to_dict(self) -> dict[str, Any]:
        members = [
            {k: scalar(v) if not isinstance(v, bool | np.bool_) else bool(v) for k, v in r.items()}
            for r in self.members.to_dict(orient="records")
        ]
        return {
            "method": self.method,
            "task": self.task,
            "metric": self.metric,
            "higher_is_better": not lower_is_better(self.metric),
            "estimator": type(self.estimator).__name__,
            "classes": None if self.classes is None else [scalar(c) for c in self.classes],
            "members": members,
            "selection": {
                k: number(v) if isinstance(v, float) else v for k, v in self.selection.items()
            },
            "curve": numbers(self.curve),
            "best_step": self.best_step,
            "gain": self.gain.to_dict(),
            "comparison": self.comparison.to_dict(),
            "settings": self.settings,
        }


# --- post hoc ------------------------------------------------------------------------------


def build_ensemble(
    models: Mapping[str, Any] | Sequence[Any],
    X: Any,
    y: Any,
    *,
    method: str = "greedy",
    metric: str | None = None,
    X_test: Any = None,
    y_test: Any = None,
    n_iterations: int = 50,
    n_init: int = 1,
    n_bags: int = 0,
    bag_fraction: float = 0.5,
    meta_model: Any = None,
    cv: int = 5,
    folds: int = 5,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    random_state: int | None = 0,
    n_jobs: int | None = None,
    progress: StageProgress | None = None,
) -> EnsembleResult:
    """Combine trained models on selection rows; report the gain over the best one.

    Parameters
    ----------
    models : mapping of name to model, or sequence of models
        Two or more trained models of one task, with the same classes and features:
        fitted scikit-learn estimators, or afterfit Models from :func:`afterfit.load_model`
        (scikit-learn, XGBoost, LightGBM, ONNX).
    X, y : DataFrame or array, array-like
        Selection rows (a validation split none of the models trained on).
    method : {"greedy", "weights", "stacking"}
    metric : str, optional
        Selection metric: any afterfit metric of the task (default log loss; RMSE for
        regression).
    X_test, y_test : optional
        Held-out rows for the gain. Without them the gain is cross-fitted on the selection
        rows: in each of ``folds`` folds, the combination and the choice of the best single
        model are fitted on the other folds and scored on this one.
    n_iterations, n_init, n_bags, bag_fraction
        Greedy selection.
    meta_model : estimator, optional
        Stacking: replaces the cross-validated logistic/ridge meta-model.
    cv : int
        Stacking: folds choosing the meta-model's regularisation.
    folds : int
        Folds of the cross-fitted gain (without test rows) and of the honest stacking score.
    confidence, n_resamples : float, int
        Paired interval of the gain.
    random_state : int, optional
    n_jobs : int, optional
        Bootstrap threads.
    progress : callable, optional
        ``progress(stage, done, total)`` (cumulative), stages such as the bootstrap of
        the gain; see :mod:`afterfit.progress`.

    Returns
    -------
    EnsembleResult

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.naive_bayes import GaussianNB
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> a = LogisticRegression(max_iter=5000).fit(X[:250], y[:250])
    >>> b = GaussianNB().fit(X[:250], y[:250])
    >>> res = build_ensemble({"lr": a, "nb": b}, X[250:420], y[250:420],
    ...                      X_test=X[420:], y_test=y[420:], n_resamples=200)
    >>> res.gain.evaluated_on, res.gain.metric
    ('test', 'log_loss')
    """
    if method not in METHODS:
        raise InvalidInputError(
            f"method must be one of {', '.join(map(repr, METHODS))}; got {method!r}.",
            fix="pass method='greedy', 'weights' or 'stacking' (bagging and boosting train "
            "from data: use train_ensemble).",
        )
    if (X_test is None) != (y_test is None):
        raise InvalidInputError(
            "pass both X_test and y_test, or neither.",
            fix="give the held-out rows with their labels, or leave both out for a "
            "cross-fitted gain.",
        )
    named = _named(models)
    ens = make_ensemble(
        list(named.values()), names=list(named), method=method, metric=metric,
        n_iterations=n_iterations, n_init=n_init, n_bags=n_bags, bag_fraction=bag_fraction,
        meta_model=meta_model, cv=cv, random_state=random_state,
    )  # fmt: skip
    ens._prepare_members()
    S = ens.member_scores(X)
    codes = ens._codes(y)
    _check_rows(S.shape[1], codes, "X", "y")
    ens._fit_scores(S, codes)
    task, metric = ens.task_, ens.metric_
    K = 0 if task == "regression" else len(ens.classes_)
    singles = score(metric, task, codes, S, n_classes=K)
    notes = _without_probabilities(ens, metric, singles)
    best = best_index(singles, metric)
    selection: dict[str, Any] = {
        "n_rows": int(S.shape[1]),
        "ensemble_value": float(score(metric, task, codes, ens.combine(S), n_classes=K)),
        "best_single_value": float(singles[best]),
        "best_single": ens.member_names_[best],
        "ensemble_value_is": "in-sample (fitted on these rows: optimistic)",
        "notes": notes,
    }
    crossed = None
    if X_test is None or method == "stacking":
        crossed = _cross_fit(ens, S, codes, folds, random_state)
    if method == "stacking":
        # The cross-fitted meta-model (its strength chosen inside each fold) is the honest
        # stacking score on these rows.
        assert crossed is not None
        honest = float(score(metric, task, codes, crossed[0], n_classes=K))
        selection["ensemble_cv_value"] = honest
        selection["ensemble_cv_value_is"] = (
            f"cross-fitted meta-model ({folds} folds, regularisation chosen inside each)"
        )
    if X_test is not None:
        S_test = ens.member_scores(X_test)
        codes_test = ens._codes(y_test)
        _check_rows(S_test.shape[1], codes_test, "X_test", "y_test")
        ens_scores, best_scores = ens.combine(S_test), S_test[best]
        evaluated_on, best_name, y_eval = "test", ens.member_names_[best], codes_test
    else:
        assert crossed is not None
        ens_scores, best_scores, best_name = crossed
        evaluated_on, y_eval = "cross-fitted validation", codes
    comparison, gain = _gain(
        y_eval, ens_scores, best_scores, task=task, metric=metric,
        classes=None if K == 0 else ens.classes_, evaluated_on=evaluated_on,
        best_name=best_name, confidence=confidence, n_resamples=n_resamples,
        random_state=random_state, n_jobs=n_jobs, progress=progress,
    )  # fmt: skip
    members = pd.DataFrame(
        {
            "member": ens.member_names_,
            "weight": _member_weights(ens),
            "count": getattr(ens, "counts_", np.zeros(len(ens.members_), dtype=np.int64)),
            "selection_value": singles,
            "best": np.arange(len(ens.members_)) == best,
        }
    )
    settings = {
        "n_iterations": n_iterations, "n_init": n_init, "n_bags": n_bags,
        "bag_fraction": bag_fraction, "cv": cv, "folds": folds, "confidence": confidence,
        "n_resamples": n_resamples, "random_state": random_state,
        "weights_are": _weights_meaning(method, task, metric),
    }  # fmt: skip
    return EnsembleResult(
        method=method, task=task, metric=metric, estimator=ens, members=members,
        selection=selection, gain=gain, comparison=comparison,
        curve=getattr(ens, "curve_", None), best_step=getattr(ens, "best_step_", None),
        classes=None if K == 0 else ens.classes_.tolist(), settings=settings,
    )  # fmt: skip


def _weights_meaning(method: str, task: str, metric: str) -> str:
    if method == "greedy":
        return "times each model was added / all additions (Caruana selection)"
    if method == "weights":
        if task == "regression":
            return "non-negative least squares weights"
        from afterfit.selection.ensemble_weights import weights_objective

        return f"soft-voting weights on the simplex minimising {weights_objective(task, metric)}"
    return "share of the meta-model's absolute coefficients"


def _without_probabilities(ens: Any, metric: str, singles: np.ndarray) -> list[str]:
    """Blank the log loss / Brier score of members whose scores are not probabilities
    (a LinearSVC's decision scores), in place, and name them: such a value is a number
    about nothing (issue 18: "a log loss of 4.65 for a LinearSVC")."""
    if metric not in ("log_loss", "brier"):
        return []
    notes = []
    for j, adapter in enumerate(ens._member_adapters()):
        if not getattr(adapter, "scores_are_probabilities", True):
            singles[j] = np.nan
            notes.append(
                f"{ens.member_names_[j]} gives decision scores, not probabilities: no "
                f"{metric} (it cannot be the best single model by {metric})"
            )
    return notes


def _member_weights(ens: Any) -> np.ndarray:
    weights = getattr(ens, "weights_", None)
    if weights is not None:
        return np.asarray(weights, dtype=np.float64)
    coef = np.atleast_2d(np.abs(np.asarray(getattr(ens.meta_model_, "coef_", np.nan))))
    m = len(ens.members_)
    if coef.shape[-1] % m:
        return np.full(m, np.nan)
    per = coef.reshape(coef.shape[0], m, -1).sum(axis=(0, 2))
    return per / per.sum() if per.sum() > 0 else per


def _named(models: Mapping[str, Any] | Sequence[Any]) -> dict[str, Any]:
    if isinstance(models, Mapping):
        named = {str(k): v for k, v in models.items()}
    elif isinstance(models, Sequence) and not isinstance(models, str | bytes):
        named = {f"model_{i + 1}": m for i, m in enumerate(models)}
    else:
        raise InvalidInputError(
            f"models must be a mapping {{name: model}} or a list; got {type(models).__name__}.",
            fix="pass models={'a': model_a, 'b': model_b}.",
        )
    if len(named) < 2:
        raise InvalidInputError(
            f"an ensemble needs at least two models; got {len(named)}.",
            fix="pass two or more trained models.",
        )
    return named


def _check_rows(n: int, codes: np.ndarray, x_name: str, y_name: str) -> None:
    if codes.shape[0] != n:
        raise InvalidInputError(
            f"{x_name} has {n} rows but {y_name} has {codes.shape[0]}.",
            fix=f"pass the labels of the rows of {x_name}, in the same order.",
        )


def _splitter(task: str, codes: np.ndarray, folds: int, random_state: int | None) -> Any:
    from sklearn.model_selection import KFold, StratifiedKFold

    if folds < 2:
        raise InvalidInputError(
            f"folds must be at least 2; got {folds}.", fix="pass folds=5 (the default)."
        )
    if task == "regression":
        return KFold(folds, shuffle=True, random_state=random_state)
    smallest = int(np.bincount(codes).min()) if codes.size else 0
    if smallest < folds:
        raise InvalidInputError(
            f"the cross-fitted gain needs every class in each of {folds} folds, but the "
            f"smallest class has {smallest} row(s).",
            fix="pass fewer folds (folds=...), more selection rows, or test rows "
            "(X_test/y_test, --test) for the gain.",
        )
    return StratifiedKFold(folds, shuffle=True, random_state=random_state)


def _cross_fit(
    ens: Any, S: np.ndarray, codes: np.ndarray, folds: int, random_state: int | None
) -> tuple[np.ndarray, np.ndarray, str]:
    """Cross-fitted ensemble and best-single predictions on the selection rows."""
    task, metric = ens.task_, ens.metric_
    K = 0 if task == "regression" else len(ens.classes_)
    out_ens = np.zeros(S.shape[1:])
    out_best = np.zeros(S.shape[1:])
    chosen: list[int] = []
    for train, test in _splitter(task, codes, folds, random_state).split(S[0], codes):
        fold = ens.spawn()
        fold._prepare_members()
        fold._fit_scores(S[:, train], codes[train])
        out_ens[test] = fold.combine(S[:, test])
        b = best_index(score(metric, task, codes[train], S[:, train], n_classes=K), metric)
        out_best[test] = S[b, test]
        chosen.append(b)
    most = max(set(chosen), key=chosen.count)
    name = ens.member_names_[most]
    if len(set(chosen)) > 1:
        name += f" (chosen in {chosen.count(most)} of {folds} folds)"
    return out_ens, out_best, name


def _gain(
    y: np.ndarray,
    ens_scores: np.ndarray,
    best_scores: np.ndarray,
    *,
    task: str,
    metric: str,
    classes: np.ndarray | None,
    evaluated_on: str,
    best_name: str,
    confidence: float,
    n_resamples: int,
    random_state: int | None,
    n_jobs: int | None,
    progress: StageProgress | None = None,
) -> tuple[Any, Gain]:
    from afterfit.comparison import DEFAULT_METRICS, compare_predictions

    advance = stage_advance(progress, "bootstrap of the gain", n_resamples)

    metrics = [metric] + [m for m in DEFAULT_METRICS[task] if m != metric]
    if classes is not None:
        labels = np.asarray(classes)[y]
        if task == "binary":
            ens_scores, best_scores = ens_scores[:, 1], best_scores[:, 1]
        # Stacked scores of a custom meta-model may not be probabilities: leave out the
        # probability metrics then.
        probabilities = bool(
            np.all((ens_scores >= 0) & (ens_scores <= 1))
            and (task == "binary" or np.allclose(ens_scores.sum(axis=1), 1, atol=1e-6))
        )
        if not probabilities:
            metrics = [m for m in metrics if m not in ("log_loss", "brier")]
            if metric in ("log_loss", "brier"):
                raise ModelError(
                    f"the ensemble's scores are not probabilities, so its {metric} "
                    "cannot be compared.",
                    fix="use a meta-model with predict_proba, or another metric.",
                )
        comparison = compare_predictions(
            labels, {BEST: best_scores, ENSEMBLE: ens_scores}, task=task,  # type: ignore[arg-type]
            classes=list(classes), pos_label=classes[1] if task == "binary" else None,
            scores_are_probabilities=probabilities, metrics=metrics, baseline=BEST,
            confidence=confidence, n_resamples=n_resamples, random_state=random_state,
            n_jobs=n_jobs, progress=advance,
        )  # fmt: skip
    else:
        comparison = compare_predictions(
            y, {BEST: best_scores, ENSEMBLE: ens_scores}, task="regression", metrics=metrics,
            baseline=BEST, confidence=confidence, n_resamples=n_resamples,
            random_state=random_state, n_jobs=n_jobs, progress=advance,
        )  # fmt: skip
    row = next(r for r in comparison.rows if r.metric == metric)
    gain = Gain(
        metric=metric, ensemble_value=row.value_b, best_value=row.value_a,
        difference=row.difference, ci_low=row.ci_low, ci_high=row.ci_high,
        p_value=row.p_value, test=row.test, evaluated_on=evaluated_on, n_rows=int(y.shape[0]),
        best_model=best_name, confidence=confidence,
    )  # fmt: skip
    return comparison, gain


# --- from training data --------------------------------------------------------------------


def train_ensemble(
    base: Any,
    X: Any,
    y: Any,
    *,
    method: str = "bagging",
    n_estimators: int | None = None,
    metric: str | None = None,
    X_test: Any = None,
    y_test: Any = None,
    folds: int = 5,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    random_state: int | None = 0,
    n_jobs: int | None = None,
    progress: StageProgress | None = None,
) -> EnsembleResult:
    """Train an ensemble from training data and compare it with its base model.

    Parameters
    ----------
    base : estimator, afterfit Model, or mapping/sequence of them
        Bagging and boosting: one scikit-learn-API estimator (fitted or not: it is cloned
        and refitted). Stacking: two or more, stacked on their out-of-fold predictions
        (members refitted on all of ``X``).
    X, y : training rows.
    method : {"bagging", "boosting", "stacking"}
        ``BaggingClassifier``/``Regressor``, ``AdaBoostClassifier``/``Regressor`` (the
        base must accept ``sample_weight``), or stacking.
    n_estimators : int, optional
        Bagging: default 10; boosting: default 50.
    metric : str, optional
        Metric of the headline gain (default log loss / RMSE).
    X_test, y_test : optional
        Held-out rows for the gain: the ensemble against the base refitted on all of
        ``X``. Without them the gain is cross-fitted on the training rows: both are
        cross-validated on the same ``folds`` folds and their out-of-fold predictions
        compared (stacking: the meta-model cross-fitted on the out-of-fold predictions,
        against the best base).
    folds, confidence, n_resamples, random_state, n_jobs, progress
        As :func:`build_ensemble`; ``progress`` also sees each cross-validation's folds.

    Returns
    -------
    EnsembleResult
    """
    from sklearn.base import clone

    from afterfit.selection.cv import cross_validate, refittable_estimator

    if method not in TRAINING_METHODS:
        raise InvalidInputError(
            f"method must be one of {', '.join(map(repr, TRAINING_METHODS))}; got {method!r}.",
            fix="pass method='bagging', 'boosting' or 'stacking' (greedy and weights combine "
            "trained models: use build_ensemble).",
        )
    if (X_test is None) != (y_test is None):
        raise InvalidInputError(
            "pass both X_test and y_test, or neither.",
            fix="give the held-out rows with their labels, or leave both out.",
        )
    if method == "stacking":
        return _train_stacking(base, X, y, metric=metric, X_test=X_test, y_test=y_test,
                               folds=folds, confidence=confidence, n_resamples=n_resamples,
                               random_state=random_state, n_jobs=n_jobs,
                               progress=progress)  # fmt: skip
    if isinstance(base, Mapping) or (isinstance(base, Sequence) and not isinstance(base, str)):
        raise InvalidInputError(
            f"{method} trains copies of one base estimator; got several.",
            fix="pass one base model (several are combined with method='stacking').",
        )
    est = refittable_estimator(base)
    from afterfit.models.sklearn import estimator_kind

    kind = estimator_kind(est)
    if kind is None:
        raise ModelError(
            f"the base model, a {type(est).__name__}, is neither a classifier nor a regressor.",
            fix="pass a scikit-learn classifier or regressor (or a pipeline ending in one).",
        )
    ensemble = _sklearn_ensemble(method, kind, clone(est), n_estimators, random_state)
    from afterfit.selection.ensemble_metrics import check_metric

    cv_base = cross_validate(est, X, y, cv=folds, random_state=random_state, metrics=None,
                             progress=renamed(progress, "base model folds"))  # fmt: skip
    task = cv_base.task
    metric = check_metric(metric, task)  # type: ignore[arg-type]
    classes = cv_base.classes
    base_name = type(est).__name__
    if X_test is None:
        cv_ens = _cv_ensemble(ensemble, X, y, cv_base.splits, random_state, method,
                              renamed(progress, f"{method} folds"))  # fmt: skip
        ens_scores, base_scores, y_eval = cv_ens.oof_scores, cv_base.oof_scores, cv_base.y
        evaluated_on = "cross-fitted training"
        fitted = _fit_ensemble(clone(ensemble), X, y, method)
    else:
        fitted = _fit_ensemble(clone(ensemble), X, y, method)
        base_fit = clone(est).fit(X, y)
        from afterfit.models import as_model

        ens_scores = as_model(fitted).predict_scores(X_test)
        base_scores = as_model(base_fit).predict_scores(X_test)
        y_eval = np.asarray(y_test.to_numpy() if hasattr(y_test, "to_numpy") else y_test)
        evaluated_on = "test"
    codes = _encode(y_eval, classes)
    comparison, gain = _gain(
        codes, np.asarray(ens_scores, dtype=np.float64), np.asarray(base_scores, np.float64),
        task=task, metric=metric, classes=classes, evaluated_on=evaluated_on,
        best_name=base_name, confidence=confidence, n_resamples=n_resamples,
        random_state=random_state, n_jobs=n_jobs, progress=progress,
    )  # fmt: skip
    members = pd.DataFrame(
        {"member": [f"{base_name} ({method}, {_n_members(fitted)} estimators)", base_name],
         "weight": [np.nan, np.nan], "count": [_n_members(fitted), 1],
         "selection_value": [gain.ensemble_value, gain.best_value], "best": [False, True]}
    )  # fmt: skip
    selection = {
        "n_rows": int(codes.shape[0]),
        "ensemble_value": gain.ensemble_value,
        "best_single_value": gain.best_value,
        "best_single": base_name,
        "ensemble_value_is": evaluated_on,
    }
    return EnsembleResult(
        method=method, task=task, metric=metric, estimator=fitted, members=members,
        selection=selection, gain=gain, comparison=comparison,
        classes=None if classes is None else list(classes),
        settings={"n_estimators": _n_members(fitted), "folds": folds, "confidence": confidence,
                  "n_resamples": n_resamples, "random_state": random_state},
    )  # fmt: skip


def _n_members(est: Any) -> int:
    return int(len(getattr(est, "estimators_", [])) or getattr(est, "n_estimators", 0))


def _encode(y: np.ndarray, classes: Any) -> np.ndarray:
    if classes is None:
        return np.asarray(y, dtype=np.float64)
    index = pd.Index(list(classes))
    codes = index.get_indexer(list(np.asarray(y)))
    if (codes < 0).any():
        codes = pd.Index([str(c) for c in classes]).get_indexer([str(v) for v in y])
    if (codes < 0).any():
        raise InvalidInputError(
            "the test target holds labels the training data does not.",
            fix="pass test rows with the training data's classes.",
        )
    return codes.astype(np.int64)


def _sklearn_ensemble(
    method: str, kind: str, base: Any, n_estimators: int | None, random_state: int | None
) -> Any:
    from sklearn.ensemble import (
        AdaBoostClassifier,
        AdaBoostRegressor,
        BaggingClassifier,
        BaggingRegressor,
    )

    if method == "bagging":
        cls = BaggingClassifier if kind == "classifier" else BaggingRegressor
        return cls(estimator=base, n_estimators=n_estimators or 10, random_state=random_state)
    from sklearn.utils.validation import has_fit_parameter

    if not has_fit_parameter(base, "sample_weight"):
        raise ModelError(
            f"boosting reweights the training rows, but the base model, a "
            f"{type(base).__name__}, takes no sample_weight in fit.",
            fix="boost an estimator whose fit takes sample_weight (a decision tree, "
            "logistic regression...), or use method='bagging'.",
        )
    cls = AdaBoostClassifier if kind == "classifier" else AdaBoostRegressor
    return cls(estimator=base, n_estimators=n_estimators or 50, random_state=random_state)


def _fit_ensemble(est: Any, X: Any, y: Any, method: str) -> Any:
    try:
        return est.fit(X, y)
    except (ValueError, TypeError) as exc:
        raise ModelError(
            f"{method} of the base model failed in scikit-learn: {exc}",
            fix="check that the base model can be refitted on this data.",
        ) from exc


def _cv_ensemble(
    ensemble: Any, X: Any, y: Any, splits: Any, random_state: int | None, method: str,
    progress: StageProgress | None = None,
) -> Any:  # fmt: skip
    from afterfit.selection.cv import cross_validate

    try:
        return cross_validate(
            ensemble, X, y, cv=splits, random_state=random_state, progress=progress
        )
    except (ValueError, TypeError) as exc:
        raise ModelError(
            f"{method} of the base model failed in scikit-learn: {exc}",
            fix="check that the base model can be refitted on this data.",
        ) from exc


def _train_stacking(
    bases: Any, X: Any, y: Any, *, metric: str | None, X_test: Any, y_test: Any, folds: int,
    confidence: float, n_resamples: int, random_state: int | None, n_jobs: int | None,
    progress: StageProgress | None = None,
) -> EnsembleResult:  # fmt: skip
    from sklearn.base import clone

    from afterfit.selection.cv import cross_validate, refittable_estimator
    from afterfit.selection.ensemble_estimator import make_ensemble as _make
    from afterfit.selection.ensemble_stacking import (
        cross_fitted_meta_predictions,
        meta_features,
    )

    named = _named(bases if not hasattr(bases, "fit") else [bases])
    ests = {name: refittable_estimator(b) for name, b in named.items()}
    results = {}
    splits = None
    for name, est in ests.items():
        results[name] = cross_validate(est, X, y, cv=splits or folds, random_state=random_state,
                                       progress=renamed(progress, f"{name} folds"))  # fmt: skip
        splits = splits or results[name].splits
    fitted = [clone(est).fit(X, y) for est in ests.values()]
    ens = _make(fitted, names=list(ests), method="stacking", metric=metric,
                random_state=random_state)  # fmt: skip
    first = next(iter(results.values()))
    oof = [r.oof_scores for r in results.values()]
    ens.fit_from_scores(oof, first.y)
    task, metric = ens.task_, ens.metric_
    K = 0 if task == "regression" else len(ens.classes_)
    codes = ens._codes(first.y)
    S = np.stack([_reorder(r, ens) for r in results.values()])
    singles = score(metric, task, codes, S, n_classes=K)
    notes = _without_probabilities(ens, metric, singles)
    best = best_index(singles, metric)
    if X_test is None:
        ens_scores = cross_fitted_meta_predictions(
            meta_features(S, task), codes, task=task, n_classes=K, cv=folds,
            random_state=random_state,
        )  # fmt: skip
        best_scores, y_eval, evaluated_on = S[best], codes, "cross-fitted training"
    else:
        S_test = ens.member_scores(X_test)
        ens_scores, best_scores = ens.combine(S_test), S_test[best]
        y_eval, evaluated_on = ens._codes(y_test), "test"
    comparison, gain = _gain(
        y_eval, ens_scores, best_scores, task=task, metric=metric,
        classes=None if K == 0 else ens.classes_, evaluated_on=evaluated_on,
        best_name=ens.member_names_[best], confidence=confidence, n_resamples=n_resamples,
        random_state=random_state, n_jobs=n_jobs, progress=progress,
    )  # fmt: skip
    members = pd.DataFrame(
        {"member": ens.member_names_, "weight": _member_weights(ens),
         "count": np.ones(len(ests), dtype=np.int64), "selection_value": singles,
         "best": np.arange(len(ests)) == best}
    )  # fmt: skip
    selection = {
        "notes": notes,
        "n_rows": int(codes.shape[0]),
        "ensemble_value": gain.ensemble_value if X_test is None else math.nan,
        "best_single_value": float(singles[best]),
        "best_single": ens.member_names_[best],
        "ensemble_value_is": "out-of-fold members, cross-fitted meta-model",
    }
    return EnsembleResult(
        method="stacking", task=task, metric=metric, estimator=ens, members=members,
        selection=selection, gain=gain, comparison=comparison,
        classes=None if K == 0 else ens.classes_.tolist(),
        settings={"folds": folds, "confidence": confidence, "n_resamples": n_resamples,
                  "random_state": random_state, "weights_are": _weights_meaning(
                      "stacking", task, metric)},
    )  # fmt: skip


def _reorder(result: Any, ens: Any) -> np.ndarray:
    """A CV result's out-of-fold scores in the ensemble's class order."""
    s = np.asarray(result.oof_scores, dtype=np.float64)
    if ens.task_ == "regression":
        return s
    index = pd.Index(list(result.classes)).get_indexer(ens.classes_.tolist())
    return s[:, index]
