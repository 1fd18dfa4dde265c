"""Permutation importance: how much a metric drops when a feature's values are shuffled.

The model is called on many permuted copies of the data at once: copies for several
features and repeats are stacked into one table of up to ``batch_rows`` rows, and the
model scores each table in a single ``predict_scores`` call. Each copy is then scored by
the metric suites of the evaluation engine (:mod:`afterfit.metrics`), so every metric that
:func:`afterfit.evaluate` reports can be used.

For scikit-learn's ``HistGradientBoostingClassifier`` / ``Regressor`` (numeric features)
an exact fast path gives the same scores without predicting every copy from scratch: the
data are binned once, and only the (tree, row) pairs whose path reads the permuted column
are traversed again (:mod:`afterfit.explain._fast_hgb`). Its results are bit for bit those
of the generic path; ``fast=False`` forces the generic path.

The copies are independent tasks: with ``n_jobs`` or inside
:func:`afterfit.parallel.parallel_backend` they run through joblib (processes, threads or
a Dask cluster). The permutations are drawn up front, so the numbers do not depend on
where the tasks run.

Importance is signed so that a positive value means the feature matters:

- metrics where higher is better (ROC AUC, accuracy, R², ...): baseline score minus
  permuted score;
- losses (:data:`LOSS_METRICS`: log loss, Brier score, MAE, RMSE, ...): permuted score
  minus baseline score.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from afterfit.errors import InvalidInputError, MetricError
from afterfit.jsonsafe import number as _num
from afterfit.metrics.binary import BinarySuite
from afterfit.metrics.multiclass import MulticlassSuite
from afterfit.metrics.regression import RegressionSuite
from afterfit.metrics.resampling import check_interval_options
from afterfit.parallel import effective_n_jobs, run_tasks, split_evenly
from afterfit.predictions import Predictions

__all__ = [
    "LOSS_METRICS",
    "PROBABILITY_METRICS",
    "PermutationImportance",
    "group_by_prefix",
    "permutation_importance",
]

#: Metrics where lower is better: importance is permuted minus baseline.
LOSS_METRICS: frozenset[str] = frozenset(
    {"log_loss", "brier", "mae", "rmse", "mse", "mape", "median_ae"}
)
#: Metrics that need class probabilities (a model with ``predict_proba``).
PROBABILITY_METRICS: frozenset[str] = frozenset({"log_loss", "brier"})

#: Default row budget of one batched ``predict_scores`` call. Stacking copies saves the
#: per-call overhead of a model (validation, thread start-up, a session round trip), which
#: dominates on small data; on large data the prediction itself dominates, and tables far
#: larger than the CPU caches made tree ensembles slower per row (scikit-learn's
#: HistGradientBoosting: 2.1 us/row at 50,000 rows, 2.8 at 400,000, about 3 at 2,000,000).
BATCH_ROWS = 100_000


# --- result ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PermutationImportance:
    """Permutation importances of features (or feature groups), with repeat intervals.

    Attributes
    ----------
    features : tuple of str
        Names of the features or groups, in the order of the data's columns.
    columns : tuple of tuple of str
        The columns permuted together for each feature (one column unless grouped).
    metric : str
        The metric, as named in :func:`afterfit.evaluate`'s table.
    higher_is_better : bool
        False for losses; importance is then permuted minus baseline score.
    baseline : float
        The metric on the unpermuted rows used.
    permuted_scores : ndarray of shape (n_features, n_repeats)
        The metric on each permuted copy.
    importances : ndarray of shape (n_features, n_repeats)
        Drop of the metric for each repeat (positive: the feature matters).
    confidence : float
        Level of the t-intervals of the mean importance over repeats.
    task : str
    n_rows : int
        Rows scored (after the ``max_rows`` sample).
    n_rows_total : int
        Rows of the data passed in.
    sampled : bool
        Whether ``n_rows`` rows were sampled without replacement from ``n_rows_total``.
    random_state : int or None
    """

    features: tuple[str, ...]
    columns: tuple[tuple[str, ...], ...]
    metric: str
    higher_is_better: bool
    baseline: float
    permuted_scores: np.ndarray
    importances: np.ndarray
    confidence: float
    task: str
    n_rows: int
    n_rows_total: int
    sampled: bool
    random_state: int | None

    @property
    def n_repeats(self) -> int:
        return int(self.importances.shape[1])

    @property
    def importance(self) -> np.ndarray:
        """Mean importance over repeats, per feature."""
        return self.importances.mean(axis=1)

    @property
    def std(self) -> np.ndarray:
        """Standard deviation of the importance across repeats (ddof=1; NaN for 1 repeat)."""
        if self.n_repeats < 2:
            return np.full(len(self.features), np.nan)
        return self.importances.std(axis=1, ddof=1)

    def interval(self) -> tuple[np.ndarray, np.ndarray]:
        """t-interval of the mean importance over repeats: ``mean ± t * std / sqrt(R)``.

        The interval reflects the randomness of the permutations on these rows, not the
        sampling of the rows themselves. NaN with one repeat.
        """
        from scipy import stats

        r = self.n_repeats
        if r < 2:
            nan = np.full(len(self.features), np.nan)
            return nan, nan.copy()
        half = stats.t.ppf(0.5 + self.confidence / 2, r - 1) * self.std / math.sqrt(r)
        return self.importance - half, self.importance + half

    def frame(self) -> pd.DataFrame:
        """One row per feature, most important first.

        Columns ``feature, importance, std, ci_low, ci_high, rank`` (rank 1 is the most
        important; ties share the lowest rank).
        """
        low, high = self.interval()
        df = pd.DataFrame(
            {
                "feature": list(self.features),
                "importance": self.importance,
                "std": self.std,
                "ci_low": low,
                "ci_high": high,
            }
        )
        df["rank"] = df["importance"].rank(ascending=False, method="min").astype(np.int64)
        return df.sort_values(["rank", "feature"], kind="stable").reset_index(drop=True)

    def repeats_frame(self) -> pd.DataFrame:
        """Long table of the raw repeats: ``feature, repeat, permuted_score, importance``."""
        f, r = self.importances.shape
        return pd.DataFrame(
            {
                "feature": np.repeat(list(self.features), r),
                "repeat": np.tile(np.arange(r), f),
                "permuted_score": self.permuted_scores.ravel(),
                "importance": self.importances.ravel(),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary, with the raw repeat values (NaN becomes null)."""
        frame = self.frame()
        index = {name: i for i, name in enumerate(self.features)}
        rows = []
        for rec in frame.itertuples(index=False):
            i = index[rec.feature]
            rows.append(
                {
                    "feature": rec.feature,
                    "columns": list(self.columns[i]),
                    "importance": _num(rec.importance),
                    "std": _num(rec.std),
                    "ci_low": _num(rec.ci_low),
                    "ci_high": _num(rec.ci_high),
                    "rank": int(rec.rank),
                    "repeats": [_num(v) for v in self.importances[i]],
                }
            )
        return {
            "method": "permutation",
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "importance_definition": "baseline - permuted"
            if self.higher_is_better
            else "permuted - baseline",
            "baseline": _num(self.baseline),
            "task": self.task,
            "n_repeats": self.n_repeats,
            "confidence": self.confidence,
            "interval": "t-interval of the mean over repeats",
            "n_rows": self.n_rows,
            "n_rows_total": self.n_rows_total,
            "sampled": self.sampled,
            "random_state": self.random_state,
            "features": rows,
        }

    def plot(self, *, top: int | None = 20, ax: Any = None) -> Any:
        """Horizontal bars of the mean importance with their intervals (matplotlib Figure).

        Parameters
        ----------
        top : int or None, default 20
            Draw the ``top`` most important features only (None: all).
        ax : matplotlib Axes, optional
            Draw on these axes instead of a new figure.
        """
        from afterfit.plots import OKABE_ITO, _axes

        df = self.frame()
        if top is not None:
            df = df.head(top)
        df = df.iloc[::-1]  # most important at the top
        k = len(df)
        fig, ax = _axes(ax, (6.0, 1.2 + 0.3 * max(k, 3)))
        y = np.arange(k)
        has_ci = bool(np.isfinite(df["ci_low"]).any())
        err = (
            np.vstack([df["importance"] - df["ci_low"], df["ci_high"] - df["importance"]])
            if has_ci
            else None
        )
        ax.barh(y, df["importance"], xerr=err, color=OKABE_ITO[0], alpha=0.85,
                error_kw={"ecolor": "black", "capsize": 3, "linewidth": 1})  # fmt: skip
        ax.axvline(0.0, color="grey", linewidth=1)
        ax.set_yticks(y, df["feature"].tolist())
        sign = "baseline − permuted" if self.higher_is_better else "permuted − baseline"
        ax.set_xlabel(f"drop in {self.metric} ({sign})")
        note = f", {self.confidence:.0%} t-interval" if has_ci else ""
        sample = f", {self.n_rows:,} of {self.n_rows_total:,} rows" if self.sampled else ""
        ax.set_title(
            f"Permutation importance ({self.n_repeats} repeats{note}{sample})", fontsize="medium"
        )
        return fig


# --- groups ---------------------------------------------------------------------------------


def group_by_prefix(columns: Sequence[str], *, separator: str = "_") -> dict[str, list[str]]:
    """Group columns that share the prefix before ``separator`` (one-hot blocks).

    Parameters
    ----------
    columns : sequence of str
        Column names, such as ``["age", "color_red", "color_blue"]``.
    separator : str, default "_"
        The prefix is the text before the first ``separator``.

    Returns
    -------
    dict of str to list of str
        Groups of two or more columns sharing a prefix, named by the prefix; every other
        column is its own group, named by itself. In the order of first appearance.

    Examples
    --------
    >>> group_by_prefix(["age", "color_red", "color_blue", "size_s"])
    {'age': ['age'], 'color': ['color_red', 'color_blue'], 'size_s': ['size_s']}
    """
    if not isinstance(separator, str) or not separator:
        raise InvalidInputError(
            f"The argument 'separator' must be a non-empty string; received {separator!r}.",
            fix="pass the text between a one-hot prefix and its value, such as '_'.",
        )
    blocks: dict[str, list[str]] = {}
    for col in columns:
        col = str(col)
        prefix = col.split(separator, 1)[0] if separator in col else col
        blocks.setdefault(prefix, []).append(col)
    out: dict[str, list[str]] = {}
    for prefix, cols in blocks.items():
        if len(cols) > 1:
            out[prefix] = cols
        else:
            out[cols[0]] = cols
    return out


def _resolve_groups(
    groups: Mapping[str, Sequence[str]] | Literal["prefix"] | None,
    columns: list[str],
    separator: str,
) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """Names and column lists of the features to permute, in column order."""
    if groups is None:
        return tuple(columns), tuple((c,) for c in columns)
    if isinstance(groups, str):
        if groups != "prefix":
            raise InvalidInputError(
                f"The argument 'groups' must be None, 'prefix' or a dict of group name to "
                f"columns; received {groups!r}.",
                fix="pass groups='prefix' to group one-hot columns, or a dict such as "
                "{'color': ['color_red', 'color_blue']}.",
            )
        mapping = group_by_prefix(columns, separator=separator)
        return tuple(mapping), tuple(tuple(v) for v in mapping.values())
    if not isinstance(groups, Mapping):
        raise InvalidInputError(
            f"The argument 'groups' must be None, 'prefix' or a dict of group name to "
            f"columns; received a {type(groups).__name__}.",
            fix="pass a dict such as {'color': ['color_red', 'color_blue']}.",
        )
    known = set(columns)
    owner: dict[str, str] = {}
    for name, cols in groups.items():
        if isinstance(cols, str):
            cols = [cols]
        cols = [str(c) for c in cols]
        if not cols:
            raise InvalidInputError(
                f"The group {name!r} in 'groups' has no columns.",
                fix="list at least one column for each group, or leave the group out.",
            )
        for c in cols:
            if c not in known:
                close = difflib.get_close_matches(c, columns, n=3)
                hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
                raise InvalidInputError(
                    f"The group {name!r} in 'groups' names the column {c!r}, which is not "
                    f"in X.{hint}",
                    fix="list only columns of X in groups (X has: "
                    + ", ".join(map(repr, columns[:10]))
                    + (", ..." if len(columns) > 10 else "")
                    + ").",
                )
            if c in owner and owner[c] != str(name):
                raise InvalidInputError(
                    f"The column {c!r} is in two groups: {owner[c]!r} and {str(name)!r}.",
                    fix="put each column in one group at most.",
                )
            owner[c] = str(name)
    # Groups in the order of their first column; ungrouped columns stay on their own.
    names: list[str] = []
    members: list[tuple[str, ...]] = []
    seen: set[str] = set()
    grouped = {
        str(k): [str(c) for c in ([v] if isinstance(v, str) else v)] for k, v in groups.items()
    }
    for col in columns:
        if col not in owner:
            names.append(col)
            members.append((col,))
        elif owner[col] not in seen:
            seen.add(owner[col])
            names.append(owner[col])
            members.append(tuple(dict.fromkeys(grouped[owner[col]])))
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise InvalidInputError(
            f"The group name(s) {', '.join(map(repr, dupes))} are also names of ungrouped columns.",
            fix="give each group a name that is not a column of X.",
        )
    return tuple(names), tuple(members)


# --- scoring --------------------------------------------------------------------------------


class _Scorer:
    """Turns raw ``predict_scores`` output into the metric, through the metric suites."""

    def __init__(self, preds: Predictions, model_classes: np.ndarray | None, metric: str):
        self.preds = preds
        self.metric = metric
        self.column: int | None = None
        if preds.task == "binary":
            # The positive class's score column in the model's output.
            self.column = int(pd.Index(model_classes).get_indexer([preds.classes[1]])[0])
            self.y01 = preds.y_true.astype(np.int8)

    def available(self) -> list[str]:
        return [name for name, label in self._suite(self.preds.scores).keys() if label is None]

    def _suite(self, scores: np.ndarray) -> Any:
        p = self.preds
        if p.task == "binary":
            return BinarySuite(
                self.y01, scores, p.sample_weight, threshold=p.threshold,
                probabilities=p.scores_are_probabilities,
            )  # fmt: skip
        if p.task == "multiclass":
            if p.cost_matrix is not None:
                labels = np.argmin(scores @ p.cost_matrix, axis=1)
            else:
                labels = np.argmax(scores, axis=1)
            return MulticlassSuite(
                p.y_true, scores, p.sample_weight, labels=labels, class_names=p.class_names,
                probabilities=p.scores_are_probabilities,
            )  # fmt: skip
        return RegressionSuite(p.y_true, scores, p.sample_weight)

    def score_raw(self, raw: np.ndarray) -> float:
        """The metric for one copy's raw model output."""
        raw = np.asarray(raw, dtype=np.float64)
        if self.column is not None and raw.ndim == 2:
            raw = raw[:, self.column]
        elif raw.ndim == 2 and self.preds.task == "regression":
            raw = raw.reshape(-1)
        return float(self._suite(raw).compute()[(self.metric, None)][0])

    def baseline(self) -> float:
        return float(self._suite(self.preds.scores).compute()[(self.metric, None)][0])


# --- permuted copies ------------------------------------------------------------------------


class _Copies:
    """Builds stacked permuted copies of the data, keeping every column's dtype."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.n = len(frame)
        self.columns = [str(c) for c in frame.columns]
        self.position = {c: i for i, c in enumerate(self.columns)}
        dtypes = set(frame.dtypes)
        # One plain numpy dtype for every column: stack as a 2-D array (block copies).
        self.matrix: np.ndarray | None = None
        if len(dtypes) == 1:
            dtype = next(iter(dtypes))
            if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
                self.matrix = np.ascontiguousarray(frame.to_numpy())

    def build(self, jobs: list[tuple[tuple[str, ...], np.ndarray]]) -> pd.DataFrame:
        """One table of ``len(jobs)`` copies; copy j has the columns ``jobs[j][0]``
        reordered by the row permutation ``jobs[j][1]``."""
        n, k = self.n, len(jobs)
        if self.matrix is not None:
            base = self.matrix
            out = np.empty((n * k, base.shape[1]), dtype=base.dtype)
            for j, (cols, perm) in enumerate(jobs):
                block = out[j * n : (j + 1) * n]
                block[...] = base
                idx = [self.position[c] for c in cols]
                block[:, idx] = base[perm][:, idx] if len(idx) > 1 else base[perm, idx[0]][:, None]
            return pd.DataFrame(out, columns=self.frame.columns, copy=False)
        identity = np.arange(n)
        data: dict[Any, Any] = {}
        for name, col in zip(self.frame.columns, self.columns, strict=True):
            index = np.concatenate([perm if col in cols else identity for cols, perm in jobs])
            data[name] = pd.Series(self.frame[name].array.take(index), copy=False)
        return pd.DataFrame(data, copy=False)


# --- the function ---------------------------------------------------------------------------


def permutation_importance(
    model: Any,
    X: Any,
    y: Any,
    *,
    metric: str = "roc_auc",
    n_repeats: int = 5,
    random_state: int | None = None,
    groups: Mapping[str, Sequence[str]] | Literal["prefix"] | None = None,
    separator: str = "_",
    max_rows: int | None = None,
    batch_rows: int = BATCH_ROWS,
    sample_weight: Any = None,
    pos_label: Any = None,
    threshold: float | None = None,
    confidence: float = 0.95,
    n_jobs: int | None = None,
    fast: bool = True,
) -> PermutationImportance:
    """Permutation importance of each feature (or group of features) for any metric.

    For each feature and each repeat, the feature's values are shuffled across rows (a
    group's columns with the same row permutation, so they stay together), the model
    scores the copy, and the metric is compared with its baseline on the original rows.

    Parameters
    ----------
    model : object
        Anything :func:`afterfit.models.as_model` takes.
    X : table
        Feature rows (pandas or polars frame, pyarrow table, 2-D array). Column dtypes,
        categoricals included, are kept in the permuted copies.
    y : array-like of shape (n,)
        True labels or targets.
    metric : str, default "roc_auc"
        A metric of :func:`afterfit.evaluate`'s table for the model's task, such as
        binary ``roc_auc``, ``average_precision``, ``accuracy``, ``f1``, ``log_loss``,
        ``brier``; multiclass ``accuracy``, ``log_loss``, ``roc_auc_ovr_macro``;
        regression ``r2``, ``mae``, ``rmse``.
    n_repeats : int, default 5
        Permutations per feature. The same ``n_repeats`` row permutations are used for
        every feature (as scikit-learn does), so features are compared on equal terms.
    random_state : int, optional
        Seed of the row sample and the permutations: the same seed gives the same result,
        whatever ``batch_rows``.
    groups : dict of str to list of str, or "prefix", optional
        Columns permuted together, reported under the group's name; columns in no group
        are reported on their own. ``"prefix"`` groups one-hot blocks that share the text
        before ``separator`` (see :func:`group_by_prefix`).
    separator : str, default "_"
        The separator of ``groups="prefix"``.
    max_rows : int, optional
        Score a sample of this many rows, drawn without replacement with
        ``random_state`` (the result says so: ``sampled``, ``n_rows``).
    batch_rows : int, default 100,000
        Row budget of one ``predict_scores`` call: permuted copies (of several features
        and repeats) are stacked up to this many rows. Memory grows with
        ``batch_rows x n_features``; a copy larger than the budget is scored on its own.
        Raise it for models with a large cost per call (a GPU network, a remote model).
        The HistGradientBoosting fast path keeps its leaf cache, and the raw outputs of the
        copies it holds at once, within ``batch_rows x n_columns x 8`` bytes each.
    sample_weight : array-like of shape (n,), optional
    pos_label : optional
        Binary: the positive class (default: the model's second class).
    threshold : float, optional
        Binary decision threshold for label metrics (default: the model's own, else 0.5
        for probabilities).
    confidence : float, default 0.95
        Level of the t-intervals of the mean importance over repeats.
    n_jobs : int, optional
        Workers for the permuted copies, through joblib: -1 for every core (or every core
        of the Dask cluster). Default: that of the active
        :func:`afterfit.parallel.parallel_backend`, else 1 (this process, no joblib). The
        results are the same whatever the workers.
    fast : bool, default True
        Use the exact fast path for scikit-learn's HistGradientBoosting models when it
        applies (same numbers as the generic path); False forces the generic path.

    Returns
    -------
    PermutationImportance
        ``frame()`` (feature, importance, std, ci_low, ci_high, rank), ``to_dict()`` and
        ``plot()``. Importance is baseline − permuted score for metrics where higher is
        better, permuted − baseline for losses (:data:`LOSS_METRICS`): positive means the
        feature matters, near zero that the model does not rely on it, negative that the
        permuted copy scored better (noise, or a feature that hurts).

    Raises
    ------
    MetricError
        ``metric`` is not a metric of the task (the message lists those available), or
        it needs probabilities the model does not give.
    InvalidInputError
        ``n_repeats`` < 1, a bad ``max_rows``, ``batch_rows`` or ``confidence``, or
        ``groups`` naming a column not in ``X``.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    >>> model = LogisticRegression(max_iter=5000).fit(X, y)
    >>> imp = permutation_importance(model, X, y, metric="roc_auc", random_state=0)
    >>> imp.frame().columns.tolist()
    ['feature', 'importance', 'std', 'ci_low', 'ci_high', 'rank']
    """
    from afterfit.data import as_frame, check_features
    from afterfit.models import as_model

    _check_int(n_repeats, "n_repeats", 1, "pass n_repeats=5 or more for useful intervals.")
    _check_int(batch_rows, "batch_rows", 1, "pass a row budget such as 2_000_000.")
    if max_rows is not None:
        _check_int(max_rows, "max_rows", 1, "pass a positive row count, or None for all.")
    check_interval_options(confidence=confidence)
    if not isinstance(metric, str):
        raise MetricError(
            f"The argument 'metric' must be a metric name; received {metric!r}.",
            fix="pass a name such as 'roc_auc', 'accuracy', 'log_loss' or 'r2'.",
        )

    m = as_model(model)
    frame = check_features(as_frame(X, feature_names=m.feature_names), m)
    n_total = len(frame)
    y_arr = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
    if y_arr.ndim == 2 and y_arr.shape[1] == 1:
        y_arr = y_arr[:, 0]
    if y_arr.shape[0] != n_total:
        raise InvalidInputError(
            f"X has {n_total} rows but y has {y_arr.shape[0]}.",
            fix="pass the target of the same rows as X, in the same order.",
        )
    w_arr = None if sample_weight is None else np.asarray(sample_weight)
    if w_arr is not None and w_arr.shape[0] != n_total:
        raise InvalidInputError(
            f"sample_weight has {w_arr.shape[0]} values for {n_total} rows.",
            fix="pass one weight per row.",
        )

    columns = [str(c) for c in frame.columns]
    names, members = _resolve_groups(groups, columns, separator)

    rng = np.random.default_rng(random_state)
    sampled = max_rows is not None and max_rows < n_total
    if sampled:
        rows = np.sort(rng.choice(n_total, size=max_rows, replace=False))
        frame = frame.iloc[rows].reset_index(drop=True)
        y_arr = y_arr[rows]
        w_arr = None if w_arr is None else w_arr[rows]
    n = len(frame)

    budget = batch_rows * max(len(frame.columns), 1) * 8
    workers = effective_n_jobs(n_jobs)
    engine = None
    if fast:
        from afterfit.explain._fast_hgb import hgb_engine

        # With several joblib workers the parallelism is theirs: one thread per task.
        engine = hgb_engine(m, frame, budget_bytes=budget, threads=1 if workers > 1 else None)
    # The fast engine gives exactly predict_scores' output, from its cached leaves.
    raw_base = engine.original_scores() if engine is not None else m.predict_scores(frame)
    raw_base = np.asarray(raw_base)
    preds = Predictions.from_model_scores(
        m, y_arr, raw_base, sample_weight=w_arr, pos_label=pos_label, threshold=threshold
    )
    scorer = _Scorer(preds, m.classes_, metric)
    available = scorer.available()
    if metric not in available:
        if metric in PROBABILITY_METRICS and preds.task != "regression":
            raise MetricError(
                f"The metric {metric!r} needs class probabilities, but the model gives "
                "decision scores (it has no predict_proba).",
                fix="use a ranking or label metric (roc_auc, accuracy, ...), or a model "
                "with probabilities (a calibrated model, SVC(probability=True)).",
            )
        close = difflib.get_close_matches(metric, available, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise MetricError(
            f"The metric {metric!r} is not a {preds.task} metric.{hint} Available: "
            f"{', '.join(available)}.",
            fix="pass one of the available metric names as metric=.",
        )
    higher = metric not in LOSS_METRICS
    baseline = scorer.baseline()

    # The same n_repeats permutations for every feature; drawn before any batching or task
    # split, so the numbers depend on neither batch_rows nor where the tasks run.
    perms = [rng.permutation(n) for _ in range(n_repeats)]
    permuted = np.empty((len(names), n_repeats))
    if engine is not None:
        # One unit per feature and group of repeats whose raw outputs fit the budget.
        per_group = max(1, budget // (engine.K * max(n, 1) * 8))
        position = {c: i for i, c in enumerate(columns)}
        units = [
            (
                f,
                tuple(position[c] for c in members[f]),
                tuple(range(r, min(r + per_group, n_repeats))),
            )
            for f in range(len(names))
            for r in range(0, n_repeats, per_group)
        ]
        parts = split_evenly(units, 1 if workers == 1 else 4 * workers)
        results = run_tasks(
            _fast_task, [(engine, scorer, perms, part) for part in parts], n_jobs=n_jobs
        )
        for part, scores in zip(parts, results, strict=True):
            for (f, _, repeats), values in zip(part, scores, strict=True):
                permuted[f, list(repeats)] = values
    else:
        jobs = [(f, r) for f in range(len(names)) for r in range(n_repeats)]
        per_batch = max(1, batch_rows // max(n, 1))
        # Tasks are runs of whole batches, the same batches whatever the workers: a model
        # whose output depends on what else is in its batch still gives the same numbers.
        batches = [jobs[s : s + per_batch] for s in range(0, len(jobs), per_batch)]
        parts = split_evenly(batches, 1 if workers == 1 else 4 * workers)
        results = run_tasks(
            _generic_task,
            [(m, frame, scorer, perms, members, part) for part in parts],
            n_jobs=n_jobs,
        )
        for part, scores in zip(parts, results, strict=True):
            for batch, values in zip(part, scores, strict=True):
                for (f, r), value in zip(batch, values, strict=True):
                    permuted[f, r] = value
    importances = baseline - permuted if higher else permuted - baseline
    return PermutationImportance(
        features=names,
        columns=members,
        metric=metric,
        higher_is_better=higher,
        baseline=baseline,
        permuted_scores=permuted,
        importances=importances,
        confidence=float(confidence),
        task=preds.task,
        n_rows=n,
        n_rows_total=n_total,
        sampled=bool(sampled),
        random_state=random_state,
    )


def _generic_task(
    m: Any,
    frame: pd.DataFrame,
    scorer: _Scorer,
    perms: list[np.ndarray],
    members: tuple[tuple[str, ...], ...],
    batches: list[list[tuple[int, int]]],
) -> list[list[float]]:
    """The metric on each copy of each batch: one stacked ``predict_scores`` per batch."""
    copies = _Copies(frame)
    n = len(frame)
    out = []
    for batch in batches:
        table = copies.build([(members[f], perms[r]) for f, r in batch])
        raw = np.asarray(m.predict_scores(table))
        del table
        out.append([scorer.score_raw(raw[j * n : (j + 1) * n]) for j in range(len(batch))])
    return out


def _fast_task(
    engine: Any,
    scorer: _Scorer,
    perms: list[np.ndarray],
    units: list[tuple[int, tuple[int, ...], tuple[int, ...]]],
) -> list[list[float]]:
    """The metric on each copy of each unit (feature, its column positions, repeats)."""

    def one(unit: tuple[int, tuple[int, ...], tuple[int, ...]]) -> list[float]:
        _, cols, repeats = unit
        return [scorer.score_raw(s) for s in engine.scores(cols, [perms[r] for r in repeats])]

    threads = engine.threads
    if threads > 1 and len(units) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(one, units))
    return [one(unit) for unit in units]


def _check_int(value: Any, name: str, low: int, fix: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise InvalidInputError(
            f"The argument '{name}' must be an integer >= {low}; received {value!r}.",
            fix=fix,
        )
