"""SHAP values: each feature's additive contribution to one prediction.

:func:`shap_values` picks the explainer of the ``shap`` package that fits the model
(``algorithm="auto"``):

- **tree** (``shap.TreeExplainer``, exact) for scikit-learn decision trees, random forests,
  extra trees and gradient boosting, XGBoost and LightGBM (scikit-learn wrappers or native
  boosters). It runs in the interventional mode on the background rows, which lets
  classifiers be explained in **probability** space (``model_output="probability"``);
  where shap cannot do that, or gets it wrong, the next setting is tried: the
  path-dependent algorithm on the raw output, then interventional on the raw output (raw
  is the probability for scikit-learn forests and trees, the margin for boosting:
  ``"log_odds"`` for binary, ``"raw"`` per-class margins for multiclass). Each setting is
  kept only if its values add up to the model's output: shap 0.51 on scikit-learn 1.9
  misses it by 0.15 for interventional multiclass random forests and by 0.2 for
  interventional ``HistGradientBoosting``. If no setting adds up, ``"auto"`` uses the
  permutation explainer (``notes`` says why).
- **linear** (``shap.LinearExplainer``, exact, interventional) for scikit-learn linear
  models (``LinearRegression``, ``Ridge``, ``Lasso``, ``LogisticRegression``, ...): it
  explains the linear function, so classifiers are in log-odds (binary) or per-class
  logits (multiclass).
- **permutation** (``shap.PermutationExplainer``) for everything else, pipelines included
  (a tree or linear model inside a pipeline sees transformed columns, not ``X``): it
  explains :meth:`~afterfit.models.base.Model.predict_scores`, the probability of the
  positive class (binary) or of each class (multiclass), against a seeded sample of at most
  ``max_background`` background rows. Its antithetic permutations make the values additive
  exactly, up to rounding.
- **kernel** (``shap.KernelExplainer``), only when asked for, against a ``shap.kmeans``
  summary of the background.

The permutation and kernel explainers run on chunks of :data:`CHUNK_ROWS` rows, each a
task of :func:`afterfit.parallel.run_tasks`: with ``n_jobs`` or inside
:func:`afterfit.parallel.parallel_backend` they run in processes, threads or on a Dask
cluster. The first chunk draws from ``random_state`` itself (so up to ``CHUNK_ROWS`` rows
give what ``shap`` gives with that seed), the others from seeds spawned from it; the
chunking is fixed, so the values are the same wherever the chunks run.

Whatever the algorithm, ``base_values + values.sum(features)`` should equal the explained
model output; :attr:`ShapValues.additivity` reports how far it is, without raising.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from afterfit.errors import InvalidInputError, MissingDependencyError
from afterfit.explain._threads import single_threaded
from afterfit.jsonsafe import number as _num
from afterfit.jsonsafe import scalar as _json_value
from afterfit.parallel import run_tasks, spawn_seeds

__all__ = ["ALGORITHMS", "Additivity", "ShapValues", "shap_values"]

#: The algorithms :func:`shap_values` accepts.
ALGORITHMS: tuple[str, ...] = ("auto", "tree", "linear", "permutation", "kernel")

Algorithm = Literal["auto", "tree", "linear", "permutation", "kernel"]
Output = Literal["probability", "log_odds", "raw"]

#: Relative tolerance of the additivity check: ``1e-6 * max(1, max |model output|)``.
ADDITIVITY_RTOL = 1e-6

#: Rows per task of the permutation and kernel explainers. A constant, not derived from
#: the number of workers: each chunk has its own seed, so the values depend on the
#: chunking, and must not depend on where the chunks run.
CHUNK_ROWS = 16

_SKLEARN_TREES = frozenset(
    {
        "DecisionTreeClassifier",
        "DecisionTreeRegressor",
        "ExtraTreeClassifier",
        "ExtraTreeRegressor",
        "RandomForestClassifier",
        "RandomForestRegressor",
        "ExtraTreesClassifier",
        "ExtraTreesRegressor",
        "GradientBoostingClassifier",
        "GradientBoostingRegressor",
        "HistGradientBoostingClassifier",
        "HistGradientBoostingRegressor",
    }
)
_XGB_TREES = frozenset({"XGBClassifier", "XGBRegressor", "XGBRFClassifier", "XGBRFRegressor"})
_LGB_TREES = frozenset({"LGBMClassifier", "LGBMRegressor"})


def _import_shap() -> Any:
    try:
        import shap
    except ImportError as exc:
        raise MissingDependencyError("shap", "shap", purpose="SHAP values") from exc
    return shap


# --- the result ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Additivity:
    """How well ``base value + sum of contributions`` matches the explained model output.

    Attributes
    ----------
    max_abs_error : float
        ``max |base_values + values.sum(features) - output|`` over rows (and classes).
    tolerance : float
        ``1e-6 * max(1, max |output|)``.
    within_tolerance : bool
        ``max_abs_error <= tolerance``.
    compared_with : str
        The model output the sums were compared with.
    """

    max_abs_error: float
    tolerance: float
    within_tolerance: bool
    compared_with: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe fields."""
        return {
            "max_abs_error": _num(self.max_abs_error),
            "tolerance": _num(self.tolerance),
            "within_tolerance": bool(self.within_tolerance),
            "compared_with": self.compared_with,
        }


@dataclass(frozen=True, eq=False)
class ShapValues:
    """SHAP values of rows of ``X``, with their base values and an additivity check.

    Attributes
    ----------
    values : numpy.ndarray
        ``(n, n_features)`` for regression and binary classification (the positive class,
        the model's second class), ``(n, n_features, n_classes)`` for multiclass.
    base_values : numpy.ndarray
        The expected output over the background: ``(n,)`` or ``(n, n_classes)``.
    feature_names : tuple of str
    data : pandas.DataFrame
        The explained rows (checked against the model's features).
    algorithm : {"tree", "linear", "permutation", "kernel"}
    output : {"probability", "log_odds", "raw"}
        The scale explained: class probabilities, the log-odds of the positive class, or
        raw outputs (regression predictions, decision scores, per-class margins).
    task : {"binary", "multiclass", "regression"}
    classes : tuple or None
        The model's classes (the last axis of a multiclass ``values``).
    model_output : numpy.ndarray
        The model output on ``output``'s scale that the values add up to.
    additivity : Additivity
    background : pandas.DataFrame
        The background rows used (after sampling or summarising).
    n_background_total : int
        Background rows passed in.
    random_state : int or None
    notes : tuple of str
        Why ``"auto"`` fell back from the tree or linear explainer, when it did.
    background_weights : numpy.ndarray or None
        Kernel explainer: the share of background rows each ``shap.kmeans`` centre stands
        for (None: the background rows weigh the same).
    """

    values: np.ndarray
    base_values: np.ndarray
    feature_names: tuple[str, ...]
    data: pd.DataFrame
    algorithm: str
    output: str
    task: str
    classes: tuple[Any, ...] | None
    model_output: np.ndarray
    additivity: Additivity
    background: pd.DataFrame
    n_background_total: int
    random_state: int | None
    notes: tuple[str, ...] = field(default=())
    background_weights: np.ndarray | None = None

    # --- helpers ---------------------------------------------------------------------------

    @property
    def n_rows(self) -> int:
        return int(self.values.shape[0])

    def _class_index(self, class_: Any) -> int | None:
        """Index of ``class_`` on the class axis (None when values are 2-D)."""
        if self.values.ndim == 2:
            if class_ is not None and self.task == "binary" and self.classes is not None:
                if not any(c == class_ or str(c) == str(class_) for c in self.classes[1:]):
                    raise InvalidInputError(
                        f"The values of a binary model explain the positive class "
                        f"{self.classes[1]!r}; received class_={class_!r}.",
                        fix="leave class_ out, or pass the positive class.",
                    )
            return None
        if class_ is None:
            return 0
        classes = list(self.classes or range(self.values.shape[2]))
        for k, c in enumerate(classes):
            if c == class_ or str(c) == str(class_):
                return k
        raise InvalidInputError(
            f"The argument 'class_' must be one of the model's classes "
            f"({', '.join(map(repr, classes[:10]))}); received {class_!r}.",
            fix="pass one of the model's classes.",
        )

    def _slice(self, class_: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
        """Values ``(n, f)``, base ``(n,)``, output ``(n,)`` and a label for one class."""
        k = self._class_index(class_)
        if k is None:
            label = (
                f"class {self.classes[1]}"
                if self.task == "binary" and self.classes is not None
                else "prediction"
            )
            return self.values, self.base_values, self.model_output, label
        classes = list(self.classes or range(self.values.shape[2]))
        return (
            self.values[:, :, k],
            self.base_values[:, k],
            self.model_output[:, k],
            f"class {classes[k]}",
        )

    def _feature_index(self, feature: str | int) -> int:
        if isinstance(feature, int | np.integer) and not isinstance(feature, bool):
            if 0 <= int(feature) < len(self.feature_names):
                return int(feature)
        elif str(feature) in self.feature_names:
            return self.feature_names.index(str(feature))
        raise InvalidInputError(
            f"The argument 'feature' must name a feature of X; received {feature!r}.",
            fix="pass one of: "
            + ", ".join(map(repr, self.feature_names[:10]))
            + (", ..." if len(self.feature_names) > 10 else "")
            + ".",
        )

    def _row_index(self, i: int) -> int:
        if (
            isinstance(i, bool)
            or not isinstance(i, int | np.integer)
            or not -self.n_rows <= i < (self.n_rows)
        ):
            raise InvalidInputError(
                f"The argument 'i' must be a row position in 0..{self.n_rows - 1}; received {i!r}.",
                fix="pass the position of an explained row.",
            )
        return int(i) % self.n_rows

    def _mean_abs(self) -> np.ndarray:
        """Per row and feature: |value|, summed over classes for multiclass."""
        a = np.abs(self.values)
        return a.sum(axis=2) if a.ndim == 3 else a

    # --- tables ----------------------------------------------------------------------------

    def global_frame(
        self,
        *,
        n_bootstrap: int = 200,
        confidence: float = 0.95,
        random_state: int | None = None,
    ) -> pd.DataFrame:
        """Global importance: the mean absolute SHAP value of each feature.

        Parameters
        ----------
        n_bootstrap : int, default 200
            Bootstrap resamples of the explained rows for the interval (0: no interval).
        confidence : float, default 0.95
            Level of the percentile interval.
        random_state : int, optional
            Seed of the resamples; default the result's ``random_state``.

        Returns
        -------
        pandas.DataFrame
            ``feature, mean_abs_shap, ci_low, ci_high, rank``, most important first (rank 1;
            ties share the lowest rank). For multiclass, ``mean_abs_shap`` is the sum over
            classes of the mean ``|SHAP|`` (the length of shap's stacked bar).
        """
        if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int) or n_bootstrap < 0:
            raise InvalidInputError(
                f"The argument 'n_bootstrap' must be an integer >= 0; received {n_bootstrap!r}.",
                fix="pass n_bootstrap=200, or 0 for no interval.",
            )
        if not (isinstance(confidence, float | int) and 0 < confidence < 1):
            raise InvalidInputError(
                f"The argument 'confidence' must be in (0, 1); received {confidence!r}.",
                fix="pass confidence=0.95, for example.",
            )
        a = self._mean_abs()
        n, f = a.shape
        mean = a.mean(axis=0)
        low = np.full(f, np.nan)
        high = np.full(f, np.nan)
        if n_bootstrap > 0 and n > 1:
            seed = self.random_state if random_state is None else random_state
            rng = np.random.default_rng(seed)
            # Resampled means through multinomial row counts: (B, n) @ (n, f).
            counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_bootstrap)
            boot = counts.astype(np.float64) @ a / n
            alpha = (1.0 - confidence) / 2
            low, high = np.quantile(boot, [alpha, 1.0 - alpha], axis=0)
        df = pd.DataFrame(
            {
                "feature": list(self.feature_names),
                "mean_abs_shap": mean,
                "ci_low": low,
                "ci_high": high,
            }
        )
        df["rank"] = df["mean_abs_shap"].rank(ascending=False, method="min").astype(np.int64)
        return df.sort_values(["rank", "feature"], kind="stable").reset_index(drop=True)

    def local_frame(self, i: int, *, class_: Any = None) -> pd.DataFrame:
        """One row's contributions, largest ``|shap|`` first.

        Parameters
        ----------
        i : int
            Position of the row among the explained rows.
        class_ : optional
            Multiclass: the class explained (default: the class the model scores highest
            for that row).

        Returns
        -------
        pandas.DataFrame
            ``feature, value, shap``.
        """
        i = self._row_index(i)
        if class_ is None and self.values.ndim == 3 and self.classes is not None:
            class_ = self.classes[int(np.argmax(self.model_output[i]))]
        values, _, _, _ = self._slice(class_)
        df = pd.DataFrame(
            {
                "feature": list(self.feature_names),
                "value": list(self.data.iloc[i].tolist()),
                "shap": values[i].astype(np.float64),
            }
        )
        order = np.argsort(-np.abs(df["shap"].to_numpy()), kind="stable")
        return df.iloc[order].reset_index(drop=True)

    def to_dict(self, *, include_values: bool = False) -> dict[str, Any]:
        """JSON-safe summary (NaN becomes null).

        Parameters
        ----------
        include_values : bool, default False
            Add the full ``values`` and ``base_values`` arrays (nested lists).
        """
        frame = self.global_frame()
        out: dict[str, Any] = {
            "method": "shap",
            "algorithm": self.algorithm,
            "output": self.output,
            "task": self.task,
            "classes": None if self.classes is None else [_json_value(c) for c in self.classes],
            "n_rows": self.n_rows,
            "n_features": len(self.feature_names),
            "n_background": len(self.background),
            "n_background_total": self.n_background_total,
            "random_state": self.random_state,
            "base_value": _json_value(np.mean(self.base_values))
            if self.base_values.ndim == 1
            else [_num(v) for v in np.mean(self.base_values, axis=0)],
            "additivity": self.additivity.to_dict(),
            "notes": list(self.notes),
            "features": [
                {
                    "feature": rec.feature,
                    "mean_abs_shap": _num(rec.mean_abs_shap),
                    "ci_low": _num(rec.ci_low),
                    "ci_high": _num(rec.ci_high),
                    "rank": int(rec.rank),
                }
                for rec in frame.itertuples(index=False)
            ],
        }
        if include_values:
            out["values"] = np.where(np.isfinite(self.values), self.values, None).tolist()
            out["base_values"] = np.where(
                np.isfinite(self.base_values), self.base_values, None
            ).tolist()
        return out

    # --- figures ---------------------------------------------------------------------------

    def plot_beeswarm(self, *, top: int | None = 20, class_: Any = None, ax: Any = None) -> Any:
        """Beeswarm: every row's SHAP value per feature, coloured by the feature's value.

        Parameters
        ----------
        top : int or None, default 20
            The ``top`` features by mean ``|SHAP|`` (None: all), most important at the top.
        class_ : optional
            Multiclass: the class drawn (default: the first).
        ax : matplotlib Axes, optional

        Returns
        -------
        matplotlib.figure.Figure
        """
        from afterfit.plots import _axes

        values, _, _, label = self._slice(class_)
        order = np.argsort(-np.abs(values).mean(axis=0), kind="stable")
        if top is not None:
            order = order[:top]
        k = len(order)
        fig, ax = _axes(ax, (7.0, 1.2 + 0.4 * max(k, 3)))
        rng = np.random.default_rng(0)  # jitter only: fixed so the figure is reproducible
        image = None
        for pos, j in enumerate(order[::-1]):
            x = values[:, j]
            raw = pd.to_numeric(self.data.iloc[:, j], errors="coerce").to_numpy(dtype=float)
            finite = np.isfinite(raw)
            color = np.full(len(raw), 0.5)
            if finite.any():
                lo, hi = np.nanpercentile(raw[finite], [5, 95])
                if hi > lo:
                    color = np.clip((raw - lo) / (hi - lo), 0.0, 1.0)
            color = np.where(finite, color, 0.5)
            y = pos + _swarm_offsets(x, rng)
            image = ax.scatter(x, y, c=color, cmap="coolwarm", vmin=0.0, vmax=1.0, s=10,
                               linewidths=0, alpha=0.8)  # fmt: skip
        ax.axvline(0.0, color="grey", linewidth=1)
        ax.set_yticks(range(k), [self.feature_names[j] for j in order[::-1]])
        ax.set_xlabel(f"SHAP value ({self.output}, {label})")
        ax.set_title(f"SHAP values ({self.algorithm} explainer, {self.n_rows:,} rows)")
        if image is not None:
            bar = fig.colorbar(image, ax=ax, ticks=[0, 1], aspect=40)
            bar.ax.set_yticklabels(["low", "high"])
            bar.set_label("feature value")
        return fig

    def plot_dependence(self, feature: str | int, *, class_: Any = None, ax: Any = None) -> Any:
        """The SHAP value of one feature against the feature's value, one dot per row.

        Parameters
        ----------
        feature : str or int
            The feature's name or position.
        class_ : optional
            Multiclass: the class drawn (default: the first).
        ax : matplotlib Axes, optional

        Returns
        -------
        matplotlib.figure.Figure
        """
        from afterfit.plots import OKABE_ITO, _axes

        j = self._feature_index(feature)
        values, _, _, label = self._slice(class_)
        fig, ax = _axes(ax, (6.0, 4.5))
        column = self.data.iloc[:, j]
        x = pd.to_numeric(column, errors="coerce")
        if x.notna().sum() == 0:  # categories: one position per category
            codes, uniques = pd.factorize(column.astype(str))
            x = pd.Series(codes, dtype=float)
            ax.set_xticks(range(len(uniques)), list(uniques))
        ax.scatter(x.to_numpy(dtype=float), values[:, j], s=12, color=OKABE_ITO[0], alpha=0.7,
                   linewidths=0)  # fmt: skip
        ax.axhline(0.0, color="grey", linewidth=1)
        name = self.feature_names[j]
        ax.set_xlabel(name)
        ax.set_ylabel(f"SHAP value of {name} ({self.output}, {label})")
        ax.set_title(f"SHAP dependence: {name}")
        return fig

    def plot_waterfall(self, i: int, *, top: int = 10, class_: Any = None, ax: Any = None) -> Any:
        """Waterfall of one row: from the base value, each contribution, to the output.

        Parameters
        ----------
        i : int
            Position of the row.
        top : int, default 10
            Features drawn one by one; the rest are summed into one bar.
        class_ : optional
            Multiclass: the class drawn (default: the class scored highest for the row).
        ax : matplotlib Axes, optional

        Returns
        -------
        matplotlib.figure.Figure
        """
        from afterfit.plots import OKABE_ITO, _axes

        i = self._row_index(i)
        if class_ is None and self.values.ndim == 3 and self.classes is not None:
            class_ = self.classes[int(np.argmax(self.model_output[i]))]
        values, base, _, label = self._slice(class_)
        phi = values[i].astype(np.float64)
        order = np.argsort(-np.abs(phi), kind="stable")
        shown = order[:top]
        rest = order[top:]
        labels = [f"{self.feature_names[j]} = {_short(self.data.iloc[i, j])}" for j in shown]
        steps = list(phi[shown])
        if len(rest):
            labels.append(f"{len(rest)} other features")
            steps.append(float(phi[rest].sum()))
        k = len(steps)
        fig, ax = _axes(ax, (7.0, 1.6 + 0.4 * max(k, 3)))
        start = float(base[i])
        left = start
        for pos, step in enumerate(steps):
            y = k - 1 - pos  # first (largest) at the top
            color = OKABE_ITO[3] if step >= 0 else OKABE_ITO[0]
            ax.barh(y, step, left=left, color=color, height=0.7)
            ax.text(left + step, y, f" {step:+.3g} ", va="center",
                    ha="left" if step >= 0 else "right", fontsize="small")  # fmt: skip
            left += step
        ax.axvline(start, color="grey", linewidth=1, linestyle=":")
        ax.axvline(left, color="black", linewidth=1)
        path = np.concatenate([[start], start + np.cumsum(steps)])
        span = float(path.max() - path.min()) or max(abs(start), 1.0)
        ax.set_xlim(path.min() - 0.2 * span, path.max() + 0.2 * span)  # room for the labels
        ax.set_yticks(range(k), labels[::-1])
        ax.set_xlabel(f"{self.output} ({label}): base {start:.3g} → f(x) {left:.3g}")
        ax.set_title(f"SHAP waterfall, row {i}")
        return fig


def _swarm_offsets(x: np.ndarray, rng: np.random.Generator, width: float = 0.35) -> np.ndarray:
    """Vertical offsets that spread dots where values are dense (a cheap beeswarm)."""
    n = len(x)
    if n < 2:
        return np.zeros(n)
    span = float(np.ptp(x)) or 1.0
    bins = np.floor((x - x.min()) / span * 60).astype(int)
    counts = np.bincount(bins)
    density = counts[bins] / counts.max()
    return rng.uniform(-1.0, 1.0, n) * width * density


def _short(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:.3g}"
    text = str(value)
    return text if len(text) <= 20 else text[:19] + "…"


# --- choosing the explainer -------------------------------------------------------------------


def _unwrap(m: Any) -> Any:
    """The underlying estimator or booster of an adapter (None when there is none)."""
    est = getattr(m, "estimator", None)
    if est is None:
        est = getattr(m, "booster", None)
    return est


def _tree_kind(est: Any) -> str | None:
    """ "sklearn", "xgboost" or "lightgbm" for tree models shap's TreeExplainer handles."""
    if est is None:
        return None
    name = type(est).__name__
    module = type(est).__module__
    if module.startswith("sklearn.") and name in _SKLEARN_TREES:
        return "sklearn"
    if module.startswith("xgboost") and (name in _XGB_TREES or name == "Booster"):
        return "xgboost"
    if module.startswith("lightgbm") and (name in _LGB_TREES or name == "Booster"):
        return "lightgbm"
    return None


def _is_linear(est: Any) -> bool:
    if est is None or not type(est).__module__.startswith("sklearn.linear_model"):
        return False
    return hasattr(est, "coef_") and hasattr(est, "intercept_")


def _margin(est: Any, kind: str | None, frame: pd.DataFrame, task: str) -> np.ndarray:
    """Raw margins of a classifier: ``(n,)`` binary log-odds or ``(n, K)`` per-class."""
    if kind == "xgboost":
        booster = est.get_booster() if hasattr(est, "get_booster") else est
        out = booster.inplace_predict(frame, predict_type="margin")
    elif kind == "lightgbm":
        out = est.predict(frame, raw_score=True)
    else:
        Xp = frame if getattr(est, "feature_names_in_", None) is not None else frame.to_numpy()
        out = est.decision_function(Xp)
    out = np.asarray(out, dtype=np.float64)
    if task == "binary":
        return out.reshape(len(frame), -1)[:, -1]
    return out.reshape(len(frame), -1)


def _numeric_matrix(frame: pd.DataFrame, what: str) -> np.ndarray:
    bad = [str(c) for c, t in frame.dtypes.items() if not pd.api.types.is_numeric_dtype(t)]
    if bad:
        raise InvalidInputError(
            f"SHAP values need numeric features, but {what} has non-numeric columns: "
            + ", ".join(map(repr, bad[:5]))
            + ".",
            fix="encode the columns as numbers (and explain the model on the encoded data), "
            "or explain a pipeline that encodes them with algorithm='permutation' on "
            "numeric inputs.",
        )
    return frame.to_numpy(dtype=np.float64)


def _check_options(algorithm: Any, max_background: Any, random_state: Any) -> None:
    if algorithm not in ALGORITHMS:
        raise InvalidInputError(
            f"The argument 'algorithm' must be one of {', '.join(map(repr, ALGORITHMS))}; "
            f"received {algorithm!r}.",
            fix="pass algorithm='auto' to let afterfit choose.",
        )
    if (
        isinstance(max_background, bool)
        or not isinstance(max_background, int | np.integer)
        or max_background < 1
    ):
        raise InvalidInputError(
            f"The argument 'max_background' must be an integer >= 1; received {max_background!r}.",
            fix="pass max_background=100, for example.",
        )
    if random_state is not None and (
        isinstance(random_state, bool) or not isinstance(random_state, int | np.integer)
    ):
        raise InvalidInputError(
            f"The argument 'random_state' must be an integer or None; received {random_state!r}.",
            fix="pass an integer seed such as random_state=0.",
        )


# --- the function ---------------------------------------------------------------------------


def shap_values(
    model: Any,
    X: Any,
    *,
    background: Any = None,
    max_background: int = 100,
    random_state: int | None = None,
    algorithm: Algorithm = "auto",
    max_evals: int | Literal["auto"] = "auto",
    n_jobs: int | None = None,
) -> ShapValues:
    """SHAP values of the rows of ``X``, with the explainer that fits the model.

    Parameters
    ----------
    model : object
        Anything :func:`afterfit.models.as_model` takes.
    X : table
        The rows to explain (pandas or polars frame, pyarrow table, 2-D array); checked
        against the model's features.
    background : table, optional
        Rows that stand for "a feature is absent" (typically training rows); default ``X``.
    max_background : int, default 100
        At most this many background rows are used: a seeded sample without replacement
        (tree, linear, permutation), or ``shap.kmeans`` centres (kernel).
    random_state : int, optional
        Seed of the background sample and of the permutation and kernel explainers: the same
        seed gives the same values. shap draws from numpy's global generator; its state is
        restored afterwards.
    algorithm : {"auto", "tree", "linear", "permutation", "kernel"}, default "auto"
        See the module documentation. ``"auto"`` falls back to ``"permutation"`` when the
        tree or linear explainer refuses the model (the reason is in ``notes``).
    max_evals : int or "auto", default "auto"
        Permutation explainer: model evaluations per row (``"auto"``: ``max(500,
        2 * n_features + 1)``, rounded up so each permutation is complete). Kernel:
        ``nsamples``.
    n_jobs : int, optional
        Permutation and kernel explainers: workers for the chunks of :data:`CHUNK_ROWS`
        rows, through joblib (-1: every core, or every core of the Dask cluster). Default:
        that of the active :func:`afterfit.parallel.parallel_backend`, else 1 (this
        process). The values are the same whatever the workers.

    Returns
    -------
    ShapValues
        ``values``, ``base_values``, ``feature_names``, ``algorithm``, ``output``,
        ``additivity``, ``global_frame()``, ``local_frame(i)``, ``plot_beeswarm()``,
        ``plot_dependence(feature)``, ``plot_waterfall(i)``, ``to_dict()``.

    Raises
    ------
    MissingDependencyError
        The ``shap`` package is not installed (``pip install 'afterfit[shap]'``).
    InvalidInputError
        An unknown ``algorithm``, a bad ``max_background`` or ``random_state``, ``"tree"``
        or ``"linear"`` asked of a model they do not apply to, or non-numeric features.
    SchemaError
        ``X`` or ``background`` lacks columns the model expects, or has others.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.ensemble import RandomForestRegressor
    >>> X, y = load_diabetes(return_X_y=True, as_frame=True)
    >>> model = RandomForestRegressor(n_estimators=20, random_state=0).fit(X, y)
    >>> sv = shap_values(model, X.iloc[:50], background=X, random_state=0)
    >>> sv.algorithm, sv.output, sv.values.shape, sv.additivity.within_tolerance
    ('tree', 'raw', (50, 10), True)
    """
    from afterfit.data import as_frame, check_features
    from afterfit.models import as_model

    _check_options(algorithm, max_background, random_state)
    shap = _import_shap()

    m = as_model(model)
    frame = check_features(as_frame(X, feature_names=m.feature_names), m)
    if len(frame) == 0:
        raise InvalidInputError(
            "X has no rows to explain.", fix="pass at least one row of features."
        )
    bg_full = (
        frame
        if background is None
        else check_features(as_frame(background, feature_names=m.feature_names), m)
    )
    if len(bg_full) == 0:
        raise InvalidInputError(
            "The background has no rows.",
            fix="pass training rows as background=, or leave it out to use X.",
        )
    names = tuple(str(c) for c in frame.columns)
    task = m.task
    classes = None if m.classes_ is None else tuple(np.asarray(m.classes_).tolist())
    seed = (
        int(random_state)
        if random_state is not None
        else int(np.random.default_rng().integers(2**31 - 1))
    )
    rng = np.random.default_rng(seed)
    if len(bg_full) > max_background:
        rows = np.sort(rng.choice(len(bg_full), size=int(max_background), replace=False))
        bg = bg_full.iloc[rows].reset_index(drop=True)
    else:
        bg = bg_full.reset_index(drop=True)

    est = _unwrap(m)
    kind = _tree_kind(est)
    notes: list[str] = []
    chosen = algorithm
    if algorithm == "tree" and kind is None:
        raise InvalidInputError(
            f"algorithm='tree' needs a tree model (scikit-learn trees, forests and gradient "
            f"boosting, XGBoost, LightGBM); the model is a {type(est or m).__name__}.",
            fix="pass algorithm='auto' or 'permutation'.",
        )
    if algorithm == "linear" and not _is_linear(est):
        raise InvalidInputError(
            f"algorithm='linear' needs a scikit-learn linear model; the model is a "
            f"{type(est or m).__name__}.",
            fix="pass algorithm='auto' or 'permutation'.",
        )
    raw_columns = _needs_codes(frame) or _needs_codes(bg)
    if algorithm == "auto":
        chosen = "tree" if kind is not None else "linear" if _is_linear(est) else "permutation"
        if raw_columns and chosen != "permutation":
            # shap's tree and linear explainers read a numeric matrix; text, pandas
            # categories or missing values would have to be encoded first, which is the
            # model's business (a pipeline, LightGBM's own category handling), not ours.
            notes.append(
                f"the {chosen} explainer reads a numeric matrix without missing values, and "
                f"the data has {_raw_reasons(frame, bg)}; used permutation over the raw columns"
            )
            chosen = "permutation"
    if raw_columns and chosen == "kernel":
        raise InvalidInputError(
            "algorithm='kernel' summarises the background with k-means, which needs numeric "
            "features without missing values; X or the background has text, categories or "
            "missing values.",
            fix="pass algorithm='auto' or 'permutation' (it draws whole background rows).",
        )
    if raw_columns and chosen == "permutation":
        notes.append(
            "SHAP ran the permutation explainer over the raw columns: a feature left out of a "
            "coalition takes its value from a whole background row, so text, categories and "
            "missing values go to the model as they are"
        )

    result: tuple[np.ndarray, np.ndarray, str, np.ndarray, str] | None = None
    bg_weights: np.ndarray | None = None
    if chosen == "tree":
        try:
            result = _run_tree(shap, est, kind, m, frame, bg, task)
            if algorithm == "auto" and not _additivity(*result[:2], *result[3:]).within_tolerance:
                notes.append(
                    "the tree explainer's values did not add up to the model's output in any "
                    "setting; used permutation"
                )
                chosen = "permutation"
        except Exception as exc:
            if algorithm == "tree":
                raise InvalidInputError(
                    f"shap's tree explainer cannot explain this {type(est).__name__}: {exc}",
                    fix="pass algorithm='auto' or 'permutation'.",
                ) from exc
            notes.append(f"tree explainer refused the model ({_brief(exc)}); used permutation")
            chosen = "permutation"
    if chosen == "linear":
        try:
            result = _run_linear(shap, est, m, frame, bg, task)
        except Exception as exc:
            if algorithm == "linear":
                raise InvalidInputError(
                    f"shap's linear explainer cannot explain this {type(est).__name__}: {exc}",
                    fix="pass algorithm='auto' or 'permutation'.",
                ) from exc
            notes.append(f"linear explainer refused the model ({_brief(exc)}); used permutation")
            chosen = "permutation"
    if chosen in ("permutation", "kernel"):
        summary = None
        if chosen == "kernel":
            bg, bg_weights, summary = _kmeans_background(shap, bg_full, int(max_background))
        result = _run_model_agnostic(
            chosen, m, frame, bg, task, seed, max_evals, summary=summary, n_jobs=n_jobs
        )
    assert result is not None
    values, base, output, target, compared_with = result

    if task == "multiclass" and target.ndim == 1:  # pragma: no cover - defensive
        target = target[:, None]
    additivity = _additivity(values, base, target, compared_with)
    return ShapValues(
        values=values,
        base_values=base,
        feature_names=names,
        data=frame.reset_index(drop=True),
        algorithm=chosen,
        output=output,
        task=task,
        classes=classes,
        model_output=target,
        additivity=additivity,
        background=bg,
        n_background_total=len(bg_full),
        random_state=random_state,
        notes=tuple(notes),
        background_weights=bg_weights,
    )


def _brief(exc: Exception, limit: int = 200) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kmeans_background(
    shap: Any, bg_full: pd.DataFrame, k: int
) -> tuple[pd.DataFrame, np.ndarray | None, Any]:
    """``shap.kmeans`` centres of the background (each rounded to an observed value), their
    weights (the share of rows each stands for) and shap's summary object; the rows
    themselves (no weights, no summary) when there are ``k`` or fewer."""
    B = _numeric_matrix(bg_full, "the background")
    if len(B) <= k:
        return bg_full.reset_index(drop=True), None, None
    summary = shap.kmeans(B, k)
    frame = pd.DataFrame(np.asarray(summary.data), columns=bg_full.columns).astype(
        bg_full.dtypes.to_dict()
    )
    return frame, np.asarray(summary.weights, dtype=np.float64), summary


def _shape(values: np.ndarray, base: Any, n: int, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Values ``(n, f)`` / ``(n, f, K)`` and base values ``(n,)`` / ``(n, K)``; binary keeps
    the positive class."""
    values = np.asarray(values, dtype=np.float64)
    base = np.asarray(base, dtype=np.float64)
    if task == "binary" and values.ndim == 3:
        values = values[:, :, -1]
        base = base.reshape(n, -1)[:, -1] if base.size >= n else np.full(n, base.ravel()[-1])
    elif values.ndim == 2:
        base = np.broadcast_to(base.reshape(-1)[:n] if base.size >= n else base, (n,)).copy()
    else:
        k = values.shape[2]
        base = np.broadcast_to(base.reshape(-1, k) if base.size >= k else base, (n, k)).copy()
    return values, base


def _additivity(
    values: np.ndarray, base: np.ndarray, target: np.ndarray, compared_with: str
) -> Additivity:
    error = float(np.max(np.abs(base + values.sum(axis=1) - target)))
    tolerance = ADDITIVITY_RTOL * max(1.0, float(np.max(np.abs(target))))
    return Additivity(
        max_abs_error=error,
        tolerance=tolerance,
        within_tolerance=bool(error <= tolerance),
        compared_with=compared_with,
    )


def _run_tree(
    shap: Any,
    est: Any,
    kind: str | None,
    m: Any,
    frame: pd.DataFrame,
    bg: pd.DataFrame,
    task: str,
) -> tuple[np.ndarray, np.ndarray, str, np.ndarray, str]:
    """TreeExplainer: the first setting whose values add up to the model's output.

    In order: interventional on ``bg`` in probability space (classifiers) or raw
    (regression); path-dependent raw output (no background: shap's own tree statistics);
    interventional raw output. shap 0.51 refuses some settings (probability for multiclass
    XGBoost, any multiclass GradientBoostingClassifier) and gets others wrong (interventional
    multiclass random forests miss the probabilities by 0.15 on iris), so each is checked.
    The last result is returned when none adds up (``additivity`` then says so).
    """
    X = _numeric_matrix(frame, "X")
    B = _numeric_matrix(bg, "the background")
    # scikit-learn's forests and trees (not gradient boosting) output probabilities raw.
    raw_is_probability = kind == "sklearn" and "GradientBoosting" not in type(est).__name__
    if task == "regression":
        settings = [("interventional", "raw"), ("tree_path_dependent", "raw")]
    else:
        settings = [
            ("interventional", "probability"),
            ("tree_path_dependent", "raw"),
            ("interventional", "raw"),
        ]
    last: tuple[np.ndarray, np.ndarray, str, np.ndarray, str] | None = None
    error: Exception | None = None
    for perturbation, model_output in settings:
        try:
            explainer = shap.TreeExplainer(
                est,
                data=B if perturbation == "interventional" else None,
                model_output=model_output,
                feature_perturbation=perturbation,
            )
            ex = explainer(X, check_additivity=False)
        except Exception as exc:  # shap refuses this setting: try the next
            error = exc
            continue
        values, base = _shape(ex.values, ex.base_values, len(frame), task)
        if task == "regression" or model_output == "probability" or raw_is_probability:
            output = "raw" if task == "regression" else "probability"
            target = _scores(m, frame, task)
            compared = "predict_scores"
        else:
            output = "log_odds" if task == "binary" else "raw"
            target = _margin(est, kind, frame, task)
            compared = "raw margin (log-odds)" if task == "binary" else "raw per-class margins"
        last = (values, base, output, target, compared)
        if _additivity(values, base, target, compared).within_tolerance:
            return last
    if last is None:
        assert error is not None
        raise error
    return last


def _run_linear(
    shap: Any, est: Any, m: Any, frame: pd.DataFrame, bg: pd.DataFrame, task: str
) -> tuple[np.ndarray, np.ndarray, str, np.ndarray, str]:
    """LinearExplainer (interventional) on ``bg``: the linear function itself."""
    X = _numeric_matrix(frame, "X")
    B = _numeric_matrix(bg, "the background")
    explainer = shap.LinearExplainer(est, B)
    ex = explainer(X)
    values, base = _shape(ex.values, ex.base_values, len(frame), task)
    if task == "regression":
        return values, base, "raw", _scores(m, frame, task), "predict_scores"
    target = _margin(est, "sklearn", frame, task)
    if task == "binary" and "Logistic" in type(est).__name__:
        return values, base, "log_odds", target, "decision_function (log-odds)"
    if task == "binary":  # a margin that is not a log-odds (hinge loss, ridge classifier)
        return values, base, "raw", target, "decision_function"
    return values, base, "raw", target, "decision_function (per-class logits)"


def _scores(m: Any, frame: pd.DataFrame, task: str) -> np.ndarray:
    """The explained column(s) of ``predict_scores``: positive class, every class, or y."""
    s = np.asarray(m.predict_scores(frame), dtype=np.float64)
    if task == "binary":
        return s[:, 1]
    if task == "regression":
        return s.reshape(-1)
    return s


def _run_model_agnostic(
    algorithm: str,
    m: Any,
    frame: pd.DataFrame,
    bg: pd.DataFrame,
    task: str,
    seed: int,
    max_evals: int | Literal["auto"],
    *,
    summary: Any = None,
    n_jobs: int | None = None,
) -> tuple[np.ndarray, np.ndarray, str, np.ndarray, str]:
    """Permutation or kernel explainer on ``predict_scores`` (kernel: on ``summary``, a
    weighted ``shap.kmeans`` summary, when given, else on ``bg``), by chunks of rows."""
    codec = _RawCodes(frame, bg) if _needs_codes(frame) or _needs_codes(bg) else None
    if codec is not None:
        X, B = codec.encode(frame), codec.encode(bg)
    else:
        X = _numeric_matrix(frame, "X")
        B = _numeric_matrix(bg, "the background")
    fn = _ModelFunction(m, frame.columns, frame.dtypes, task, codec=codec)
    p = X.shape[1]
    if algorithm == "permutation":
        evals: int | str = (
            max(500, 2 * p + 1) if max_evals == "auto" else max(int(max_evals), 2 * p + 1)
        )
    else:
        evals = "auto" if max_evals == "auto" else int(max_evals)
    starts = list(range(0, len(X), CHUNK_ROWS))
    # Chunk 0 keeps the seed itself: up to CHUNK_ROWS rows give exactly shap's values.
    seeds = [seed, *spawn_seeds(seed, len(starts))[1:]]
    background = B if summary is None else summary
    state = np.random.get_state()  # noqa: NPY002 - shap draws from numpy's global generator
    try:
        parts = run_tasks(
            _explain_chunk,
            [
                (algorithm, fn, X[a : a + CHUNK_ROWS], background, s, evals)
                for a, s in zip(starts, seeds, strict=True)
            ],
            n_jobs=n_jobs,
        )
    finally:
        # Chunks on threads hand the generator's state to each other; leave it as it was.
        np.random.set_state(state)  # noqa: NPY002 - shap draws from numpy's global generator
    raw_values = np.concatenate([v for v, _ in parts], axis=0)
    if algorithm == "permutation":
        base_raw: Any = np.concatenate([np.asarray(b, dtype=np.float64) for _, b in parts])
    else:
        base_raw = parts[0][1]  # the kernel's expected value, the same for every chunk
    values, base = _shape(raw_values, base_raw, len(frame), task)
    output = "probability" if task != "regression" and m.scores_are_probabilities else "raw"
    return values, base, output, _scores(m, frame, task), "predict_scores"


def _raw_kind(col: pd.Series) -> str | None:
    """Why a column cannot go to shap's maskers as floats (None when it can)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return "pandas category columns"
    if pd.api.types.is_bool_dtype(col):
        return "boolean columns"
    if not pd.api.types.is_numeric_dtype(col):
        return "text columns"
    if bool(col.isna().any()):
        return "missing values"
    return None


def _raw_reasons(*frames: pd.DataFrame) -> str:
    """What keeps ``frames`` from being a float matrix, with the columns: "pandas category
    columns ('color', 'size')", "missing values ('age')"..."""
    kinds: dict[str, list[str]] = {}
    for frame in frames:
        for c in frame.columns:
            kind = _raw_kind(frame[c])
            if kind is None:
                continue
            names = kinds.setdefault(kind, [])
            if str(c) not in names:
                names.append(str(c))
    return "; ".join(
        f"{kind} ({', '.join(map(repr, names[:5]))}{', ...' if len(names) > 5 else ''})"
        for kind, names in kinds.items()
    )


def _needs_codes(frame: pd.DataFrame) -> bool:
    """Whether ``frame`` cannot go to shap's maskers as a float matrix: a non-numeric (or
    boolean, or pandas category) column, or a missing value. shap's ``Independent`` masker
    blends ``x * mask + background * ~mask``, so one NaN would spread to masked cells."""
    return any(_raw_kind(frame[c]) is not None for c in frame.columns)


def _hashable(values: pd.Series) -> pd.Series:
    """``values``, with cells that cannot be hashed (lists, dicts, arrays) replaced by a key
    of their type and ``repr``: equal cells get one code, and the codes still decode to the
    original cells."""
    if values.dtype != object:
        return values
    unhashable = (list, dict, set, np.ndarray)
    if not values.map(lambda v: isinstance(v, unhashable)).any():
        return values
    return values.map(lambda v: f"\x00{type(v).__name__}:{v!r}" if isinstance(v, unhashable) else v)


class _RawCodes:
    """Raw columns as integer codes, so shap masks whole values of any type.

    Each column's distinct values among the explained rows and the background (missing
    values included, as one value) get the codes ``0, 1, ...``; shap's masker then swaps
    codes, which swaps whole cells, and :meth:`decode` gives the model the original values
    with their dtypes. Picklable, for the chunks that run in other processes.
    """

    def __init__(self, frame: pd.DataFrame, bg: pd.DataFrame) -> None:
        self.columns = list(frame.columns)
        self.lookup: dict[Any, pd.Series] = {}
        for c in self.columns:
            both = pd.concat([frame[c], bg[c]], ignore_index=True)
            codes, _ = pd.factorize(_hashable(both), use_na_sentinel=False)
            first = np.unique(codes, return_index=True)[1]
            self.lookup[c] = both.iloc[first].reset_index(drop=True)

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(frame), len(self.columns)), dtype=np.float64)
        for j, c in enumerate(self.columns):
            lookup = self.lookup[c]
            both = pd.concat([lookup, frame[c]], ignore_index=True)
            codes, _ = pd.factorize(_hashable(both), use_na_sentinel=False)
            # the lookup's own values come first, so their codes are 0..k-1 in its order
            out[:, j] = codes[len(lookup) :]
        return out

    def decode(self, z: np.ndarray) -> pd.DataFrame:
        z = np.asarray(z, dtype=np.float64)
        return pd.DataFrame(
            {
                c: self.lookup[c].iloc[z[:, j].astype(np.int64)].reset_index(drop=True)
                for j, c in enumerate(self.columns)
            },
            columns=self.columns,
        )


class _ModelFunction:
    """``predict_scores`` on a numeric matrix, as shap calls it (picklable for workers)."""

    def __init__(
        self,
        m: Any,
        columns: pd.Index,
        dtypes: pd.Series,
        task: str,
        *,
        codec: _RawCodes | None = None,
    ) -> None:
        self.m = m
        self.columns = columns
        self.dtypes = dtypes.to_dict()
        self.task = task
        self.codec = codec

    def __call__(self, z: np.ndarray) -> np.ndarray:
        if self.codec is not None:
            return _scores(self.m, self.codec.decode(z), self.task)
        table = pd.DataFrame(np.asarray(z, dtype=np.float64), columns=self.columns)
        return _scores(self.m, table.astype(self.dtypes), self.task)


#: shap draws from numpy's global generator, which the threads of a process share. A chunk
#: holds this lock while shap runs and releases it only around model calls (saving and
#: restoring its generator's state), so chunks on threads keep their own random streams.
_RNG_LOCK = threading.Lock()


class _Unlocked:
    """Calls the model with :data:`_RNG_LOCK` released, keeping this chunk's RNG state."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def __call__(self, z: np.ndarray) -> np.ndarray:
        state = np.random.get_state()  # noqa: NPY002 - shap draws from numpy's global generator
        _RNG_LOCK.release()
        try:
            return self.fn(z)
        finally:
            _RNG_LOCK.acquire()
            np.random.set_state(state)  # noqa: NPY002 - shap draws from numpy's global generator


def _explain_chunk(
    algorithm: str, fn: Any, X: np.ndarray, background: Any, seed: int, evals: int | str
) -> tuple[np.ndarray, Any]:
    """SHAP values of the rows ``X`` (rows first) and their base value(s), seeded."""
    shap = _import_shap()
    model = _Unlocked(fn)
    with _RNG_LOCK:
        state = np.random.get_state()  # noqa: NPY002 - shap draws from numpy's global generator
        np.random.seed(seed)  # noqa: NPY002 - shap draws from numpy's global generator
        try:
            if algorithm == "permutation":
                masker = shap.maskers.Independent(background, max_samples=len(background))
                explainer = shap.PermutationExplainer(model, masker, seed=seed)
                with single_threaded():  # many calls of a few hundred rows each
                    ex = explainer(X, max_evals=evals, silent=True)
                return np.asarray(ex.values, dtype=np.float64), ex.base_values
            explainer = shap.KernelExplainer(model, background)
            raw = explainer.shap_values(X, nsamples=evals, silent=True)
            values = np.asarray(raw, dtype=np.float64)
            if values.ndim == 3 and values.shape[0] != len(X):
                values = np.moveaxis(values, 0, -1)  # old shap: a list per class
            return values, explainer.expected_value
        finally:
            np.random.set_state(state)  # noqa: NPY002 - shap draws from numpy's global generator
