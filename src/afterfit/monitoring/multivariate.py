"""Multivariate drift: a domain classifier told to tell the reference rows from a window's.

Per-feature tests (PSI, KS, chi-square) compare marginals; a change in how features go
together (a correlation that flips, a segment that moves) leaves every marginal alone.
A classifier that learns to separate "reference" from "current" rows sees the joint
distribution: when it cannot do better than chance (ROC AUC 0.5) the two samples are
exchangeable for it; an AUC clearly above 0.5 is drift.

::

    result = multivariate_drift(reference_rows, window_rows)
    result.auc, result.ci_low, result.ci_high, result.p_value, result.drifted
    result.features  # (name, AUC lost when the feature is shuffled), largest first

How the AUC is made honest:

- **Cross-fitted**: the rows are split into ``folds`` stratified folds; each row is scored
  by the classifier fitted on the other folds (out-of-fold), so the AUC is not the
  classifier's fit to its own training rows.
- **Balanced subsample**: at most ``max_rows`` rows of each side are used (seeded), so a
  1,000,000-row log costs what 2 x ``max_rows`` rows cost; the interval is that of the
  subsample (wider than the full log would give), and the result says how many rows.
- **The AUC of each fold, averaged, with the folds' dependence accounted for**: each
  fold's held-out rows are ranked by their own fold's classifier only, and the ``folds``
  AUCs are averaged. The folds are not independent (each classifier trained on the other
  folds' rows), so the standard error of the mean, ``sqrt(sum se_k^2) / folds`` from each
  fold's DeLong variance, is multiplied by Nadeau & Bengio's correction
  ``sqrt(1 + folds * n_test / n_train)`` (1.5 for 5 folds). Without it, the pooled
  out-of-fold AUC (the earlier method) flagged 10% of no-drift runs at alpha 5%, and the
  plain mean of fold AUCs 10% too (the spread of the mean under no drift is 1.3 times the
  independent-folds standard error; benchmarks/bench_monitor_cbpe.py, 200 runs). A
  one-sided test of AUC > 0.5: ``z = (AUC - 0.5) / se``; the
  interval is built on the logit scale (:func:`afterfit.metrics.ranges.t_interval`).
  Drift is flagged when ``p_value < alpha`` *and* the AUC is at least ``0.5 + min_effect``
  (a tiny but significant separation on a huge sample is not worth an alert). The
  false-alarm rate on exchangeable samples is measured in benchmarks/bench_monitor_cbpe.py
  and tests/test_multivariate_drift.py.
- **Driving features**: for each feature, the out-of-fold AUC lost when that feature is
  shuffled in the held-out rows (permutation importance of the domain classifier),
  measured when drift is flagged (``explain="always"``: every time).

The classifier is scikit-learn's ``HistGradientBoostingClassifier`` (missing values and
categories handled natively; fast on many rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr

from afterfit import jsonsafe
from afterfit.errors import InvalidInputError

__all__ = ["MAX_ROWS", "MultivariateDrift", "multivariate_drift"]

#: Rows of each side (reference, current) used at most by default.
MAX_ROWS = 10_000
#: Held-out rows per fold on which the driving features are measured at most.
IMPORTANCE_ROWS = 2_000
#: Fewest rows of each side the test runs with.
MIN_ROWS = 50


@dataclass(frozen=True)
class MultivariateDrift:
    """The domain classifier's verdict on one reference/current pair.

    Attributes
    ----------
    auc : float
        Out-of-fold ROC AUC of telling current rows (positive) from reference rows.
    ci_low, ci_high : float
        Its DeLong interval at ``confidence``.
    p_value : float
        One-sided p-value of AUC > 0.5 (DeLong standard error).
    drifted : bool
        ``p_value < alpha`` and ``auc >= 0.5 + min_effect``.
    features : tuple of (str, float)
        AUC lost when each feature is shuffled, largest first; empty when no drift was
        flagged (not measured, unless ``explain="always"``).
    n_reference, n_current : int
        Rows available on each side; ``n_used_reference``, ``n_used_current`` the rows
        used (the subsample).
    alpha, min_effect, confidence : float
    folds : int
    method : str
    """

    auc: float
    ci_low: float
    ci_high: float
    p_value: float
    drifted: bool
    features: tuple[tuple[str, float], ...]
    n_reference: int
    n_current: int
    n_used_reference: int
    n_used_current: int
    alpha: float
    min_effect: float
    confidence: float
    folds: int
    method: str = (
        "domain classifier (HistGradientBoosting), mean of per-fold AUCs, DeLong with "
        "Nadeau-Bengio correction"
    )

    @property
    def top_features(self) -> list[str]:
        """The features that drive the drift, largest first (at most five): shuffling
        each costs at least a tenth of the largest loss (and 0.002 AUC), so noise-level
        losses are not named."""
        if not self.features:
            return []
        cut = max(0.002, 0.1 * self.features[0][1])
        return [name for name, loss in self.features[:5] if loss >= cut]

    def frame(self) -> pd.DataFrame:
        """One row per feature: the AUC lost when it is shuffled."""
        return pd.DataFrame(self.features, columns=["feature", "auc_drop"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe fields."""
        return {
            "auc": jsonsafe.number(self.auc),
            "ci_low": jsonsafe.number(self.ci_low),
            "ci_high": jsonsafe.number(self.ci_high),
            "p_value": jsonsafe.number(self.p_value),
            "drifted": bool(self.drifted),
            "features": [
                {"feature": name, "auc_drop": jsonsafe.number(loss)} for name, loss in self.features
            ],
            "n_reference": int(self.n_reference),
            "n_current": int(self.n_current),
            "n_used_reference": int(self.n_used_reference),
            "n_used_current": int(self.n_used_current),
            "alpha": float(self.alpha),
            "min_effect": float(self.min_effect),
            "confidence": float(self.confidence),
            "folds": int(self.folds),
            "method": self.method,
        }


def _encode(reference: pd.DataFrame, current: pd.DataFrame) -> tuple[np.ndarray, list[bool]]:
    """Both sides as one float matrix: numbers as they are, everything else as codes of
    the categories seen on either side (NaN stays missing)."""
    columns, categorical = [], []
    for name in reference.columns:
        a, b = reference[name], current[name]
        numeric = pd.api.types.is_numeric_dtype(a.dtype) and pd.api.types.is_numeric_dtype(b.dtype)
        numeric = numeric and not pd.api.types.is_bool_dtype(a.dtype)
        if numeric:
            col = np.concatenate([a.to_numpy(np.float64, na_value=np.nan),
                                  b.to_numpy(np.float64, na_value=np.nan)])  # fmt: skip
            categorical.append(False)
        else:
            both = pd.concat([a.astype(object), b.astype(object)], ignore_index=True)
            codes, _ = pd.factorize(both.astype(str).where(both.notna()), sort=True)
            col = np.where(codes < 0, np.nan, codes).astype(np.float64)
            # HistGradientBoosting takes at most 255 categories; more are left numeric.
            categorical.append(bool(np.nanmax(col, initial=0) < 255))
        columns.append(col)
    return np.column_stack(columns), categorical


def _subsample(n: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    if n <= cap:
        return np.arange(n)
    return np.sort(rng.choice(n, size=cap, replace=False))


def _check(frame: Any, what: str) -> pd.DataFrame:
    from afterfit.data import as_frame

    try:
        frame = as_frame(frame)
    except Exception as exc:
        raise InvalidInputError(
            f"{what} must be a table of feature rows; received a {type(frame).__name__}.",
            fix="pass a pandas DataFrame with the model's input columns.",
        ) from exc
    return frame.set_axis([str(c) for c in frame.columns], axis=1)


def multivariate_drift(
    reference: Any,
    current: Any,
    *,
    features: list[str] | None = None,
    max_rows: int = MAX_ROWS,
    folds: int = 5,
    alpha: float = 0.05,
    min_effect: float = 0.02,
    confidence: float = 0.95,
    explain: str = "drift",
    random_state: int = 0,
) -> MultivariateDrift:
    """Test whether ``current`` rows come from the distribution of ``reference`` rows.

    Parameters
    ----------
    reference, current : pandas.DataFrame
        Feature rows (the model's input columns); extra columns are ignored when
        ``features`` names the ones to use.
    features : list of str, optional
        Columns to compare; default the columns of ``reference``.
    max_rows : int, default 10_000
        Rows of each side used at most (a seeded random subsample).
    folds : int, default 5
        Cross-fitting folds (2 or more).
    alpha : float, default 0.05
        Level of the one-sided test of AUC > 0.5.
    min_effect : float, default 0.02
        AUC above 0.5 a flag needs besides significance.
    confidence : float, default 0.95
        Of the DeLong interval.
    explain : {"drift", "always"}, default "drift"
        When to measure the driving features (AUC lost per shuffled feature): only when
        drift is flagged, or always.
    random_state : int, default 0
        Seeds the subsample, the folds and the classifier.

    Returns
    -------
    MultivariateDrift

    Raises
    ------
    InvalidInputError
        Fewer than 50 rows on a side, a feature missing on a side, bad options.
    """
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    from afterfit.metrics.intervals import placement_values, z_value
    from afterfit.metrics.kernel import RankedScores
    from afterfit.metrics.ranges import t_interval

    ref = _check(reference, "reference")
    cur = _check(current, "current")
    names = [str(c) for c in (features if features is not None else ref.columns)]
    missing = [(what, c) for what, f in (("reference", ref), ("current", cur))
               for c in names if c not in f.columns]  # fmt: skip
    if missing:
        what, col = missing[0]
        raise InvalidInputError(
            f"The {what} rows lack the feature {col!r} that multivariate drift compares.",
            fix="pass both sides with the same feature columns (the model's inputs).",
        )
    if not names:
        raise InvalidInputError(
            "Multivariate drift needs at least one feature column.",
            fix="pass the model's input columns.",
        )
    if explain not in ("drift", "always"):
        raise InvalidInputError(
            f"explain must be 'drift' or 'always'; received {explain!r}.",
            fix="pass explain='drift' (features measured when drift is flagged).",
        )
    if not (isinstance(folds, int) and folds >= 2):
        raise InvalidInputError(
            f"folds must be an integer of 2 or more; received {folds!r}.", fix="pass folds=5."
        )
    if not (isinstance(max_rows, int) and max_rows >= MIN_ROWS):
        raise InvalidInputError(
            f"max_rows must be an integer of at least {MIN_ROWS}; received {max_rows!r}.",
            fix="pass max_rows=10000.",
        )
    for what, frame in (("reference", ref), ("current", cur)):
        if len(frame) < MIN_ROWS:
            raise InvalidInputError(
                f"Multivariate drift needs at least {MIN_ROWS} {what} rows; there are "
                f"{len(frame)}.",
                fix="use a longer window (--window) or more reference rows.",
            )
    rng = np.random.default_rng(random_state)
    ir = _subsample(len(ref), max_rows, rng)
    ic = _subsample(len(cur), max_rows, rng)
    X, categorical = _encode(ref[names].iloc[ir], cur[names].iloc[ic])
    y = np.concatenate([np.zeros(ir.size, dtype=np.int8), np.ones(ic.size, dtype=np.int8)])
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state)
    # One OpenMP thread: on these few thousand rows the gradient boosting's threads cost
    # more in start-up than they save, and oversubscribe cores shared with other work
    # (measured 12x slower with all threads on a busy 2-core machine).
    with threadpool_limits(limits=1, user_api="openmp"):
        oof, fitted = _cross_fit(X, y, categorical, splitter, random_state)
    aucs, variances = [], []
    for _, test in fitted:  # each fold ranked by its own classifier (see the docstring)
        v10, v01 = placement_values(RankedScores.from_arrays(y[test], oof[test]))
        aucs.append(float(v10.mean()))
        variances.append(v10.var(ddof=1) / v10.size + v01.var(ddof=1) / v01.size)
    auc = float(np.mean(aucs))
    k = len(aucs)
    se = float(np.sqrt(np.sum(variances)) / k * np.sqrt(1.0 + k / (k - 1)))
    if se > 0:
        low, high, _ = t_interval(auc, se, z_value(confidence), (0.0, 1.0))
    else:
        low = high = auc
    p_value = float(1.0 - ndtr((auc - 0.5) / se)) if se > 0 else (0.0 if auc > 0.5 else 1.0)
    drifted = bool(p_value < alpha and auc >= 0.5 + min_effect)
    features: tuple[tuple[str, float], ...] = ()
    if drifted or explain == "always":
        # Which features drive it matters once there is drift: shuffling costs one
        # prediction per feature and fold, more than the test itself on wide tables.
        with threadpool_limits(limits=1, user_api="openmp"):
            drops = _importance(fitted, X, y, oof, rng, len(names))
        order = np.argsort(-drops, kind="stable")
        features = tuple((names[j], float(drops[j])) for j in order)
    return MultivariateDrift(
        auc=float(auc), ci_low=float(low), ci_high=float(high), p_value=p_value,
        drifted=drifted, features=features,
        n_reference=len(ref), n_current=len(cur), n_used_reference=int(ir.size),
        n_used_current=int(ic.size), alpha=float(alpha), min_effect=float(min_effect),
        confidence=float(confidence), folds=folds,
    )  # fmt: skip


def _auc(y: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the rank sum (ties averaged)."""
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    pos = y == 1
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _cross_fit(
    X: np.ndarray,
    y: np.ndarray,
    categorical: list[bool],
    splitter: Any,
    random_state: int,
) -> tuple[np.ndarray, list[tuple[Any, np.ndarray]]]:
    """Out-of-fold scores, and each fold's classifier with its held-out rows."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    oof = np.empty(y.size, dtype=np.float64)
    fitted = []
    for train, test in splitter.split(X, y):
        clf = HistGradientBoostingClassifier(
            max_iter=50,
            learning_rate=0.1,
            max_leaf_nodes=15,
            categorical_features=np.asarray(categorical, dtype=bool),
            early_stopping=False,
            random_state=random_state,
        ).fit(X[train], y[train])
        oof[test] = clf.predict_proba(X[test])[:, 1]
        fitted.append((clf, test))
    return oof, fitted


def _importance(
    fitted: list[tuple[Any, np.ndarray]],
    X: np.ndarray,
    y: np.ndarray,
    oof: np.ndarray,
    rng: np.random.Generator,
    n_features: int,
) -> np.ndarray:
    """Mean AUC lost on each fold's held-out rows when one feature is shuffled."""
    drops = np.zeros(n_features)
    for clf, test in fitted:
        if test.size > IMPORTANCE_ROWS:
            # A seeded subset of the held-out rows: the loss of a driving feature is
            # large, and this many rows measure it to about 0.01 AUC.
            test = np.sort(rng.choice(test, size=IMPORTANCE_ROWS, replace=False))
        Xt, yt = X[test], y[test]
        base = _auc(yt, oof[test])
        for j in range(n_features):
            shuffled = Xt.copy()
            shuffled[:, j] = rng.permutation(shuffled[:, j])
            drops[j] += (base - _auc(yt, clf.predict_proba(shuffled)[:, 1])) / len(fitted)
    return drops
