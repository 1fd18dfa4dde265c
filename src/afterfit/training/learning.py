"""Learning curves: score against the number of training rows, refitting a clone of a
scikit-learn-API model on growing parts of the training data, with an interval across the
cross-validation folds.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from afterfit.errors import InvalidInputError, ModelError
from afterfit.training._estimators import _is_classifier, _unwrap
from afterfit.training.results import LearningCurve


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
