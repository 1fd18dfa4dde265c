"""The whole explanation step: global importance, chosen rows explained, agreement, flags.

:func:`explain_model` is what ``afterfit explain`` and the report run:

- **global**: permutation importance with t-intervals over repeats
  (:func:`~afterfit.explain.permutation.permutation_importance`), and SHAP values of a
  seeded sample of the rows with the mean ``|SHAP|`` of each feature and a bootstrap
  interval over the rows (the :class:`~afterfit.explain.shap_values.ShapValues` are kept for
  the beeswarm and dependence plots);
- **local**: the rows of :func:`~afterfit.explain.rows.select_rows` (the user's, the most
  confident errors, the least confident predictions or largest residuals, a few random
  ones), each explained by SHAP, LIME and anchors side by side
  (:func:`~afterfit.explain.local.explain_local`), with the SHAP-LIME agreement;
- **flags**: leakage suspects (one feature carries nearly all of the model's skill above
  chance, or nearly all of the mean ``|SHAP|``), rows where SHAP and LIME disagree, SHAP
  values that do not add up.

Slow work runs under ``time_budget``: LIME, anchors and model-agnostic SHAP on the rows,
and model-agnostic SHAP for the global summary, each stop starting new rows once they have
spent the budget; :attr:`Explanations.skipped` says what was left out and why.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from afterfit.errors import InvalidInputError
from afterfit.explain.dependence import PartialDependence
from afterfit.explain.leakage import leakage_suspects
from afterfit.explain.local import (
    SLOW_SHAP,
    LocalExplanations,
    Progress,
    Skipped,
    _check_budget,
    _check_methods,
    _frame_of,
    _json_value,
    _num,
    explain_local,
    failure,
    quiet_shap_import,
)
from afterfit.explain.permutation import PermutationImportance
from afterfit.explain.rows import RowSelection, select_rows
from afterfit.explain.shap_values import ADDITIVITY_RTOL, Additivity, ShapValues

__all__ = [
    "DEFAULT_METRICS",
    "METHODS",
    "Explanations",
    "Flag",
    "chance_level",
    "explain",
    "explain_model",
    "write_explanations",
]

#: Every method :func:`explain_model` runs, in order.
METHODS: tuple[str, ...] = ("permutation", "shap", "lime", "anchors", "pdp")
#: Features of the partial dependence when none are named: the most important ones.
PDP_TOP = 5
#: The permutation importance metric when none is given: ranking quality, whose chance level
#: is known, so a leakage suspect can be measured against it.
DEFAULT_METRICS: dict[str, str] = {
    "binary": "roc_auc",
    "multiclass": "roc_auc_ovr_macro",
    "regression": "r2",
}
#: Rows of the global SHAP summary: exact explainers (tree, linear), model-agnostic ones.
SHAP_ROWS_FAST = 1000
SHAP_ROWS_SLOW = 100
#: Rows per call of a model-agnostic global SHAP run (the budget is checked between calls).
SHAP_CHUNK = 10


@dataclass(frozen=True)
class Flag:
    """Something the summary shows first.

    Attributes
    ----------
    kind : {"leakage", "disagreement", "additivity"}
    text : str
    feature : str or None
    positions : tuple of int
        Rows concerned (disagreement).
    evidence : dict
        What the flag fired on: the check and its figures (leakage: the check's
        measurements; disagreement: each row's Jaccard index and Kendall's tau against the
        thresholds, both top lists and LIME's fidelity; additivity: the largest error, the
        tolerance, the explainer and the rows).
    """

    kind: str
    text: str
    feature: str | None = None
    positions: tuple[int, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe fields (``evidence``: what the flag fired on)."""
        return {
            "kind": self.kind,
            "text": self.text,
            "feature": self.feature,
            "positions": [int(p) for p in self.positions],
            "evidence": {k: _settings_value(v) for k, v in self.evidence.items()},
        }


def chance_level(metric: str, y_true: np.ndarray, task: str, weights: Any = None) -> float | None:
    """The metric's value for a model that knows nothing (None where not defined here).

    ROC AUC: 0.5; average precision: the positive share; accuracy: the majority share;
    balanced accuracy: ``1 / n_classes``; R²: 0.
    """
    if metric.startswith("roc_auc"):
        return 0.5
    if metric == "r2":
        return 0.0
    if task == "regression":
        return None
    y = np.asarray(y_true)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    _, codes = np.unique(y, return_inverse=True)
    shares = np.bincount(codes, weights=w) / w.sum()
    if metric == "accuracy":
        return float(shares.max())
    if metric == "balanced_accuracy":
        return 1.0 / len(shares)
    if metric == "average_precision" and task == "binary" and len(shares) == 2:
        return float(shares[1])
    return None


@dataclass(frozen=True, eq=False)
class Explanations:
    """Everything :func:`explain_model` computed.

    Attributes
    ----------
    task : str
    n_rows : int
        Rows of the data.
    feature_names : tuple of str
    methods : tuple of str
        The methods run.
    permutation : PermutationImportance or None
    shap : ShapValues or None
        SHAP values of the global sample (beeswarm, dependence).
    shap_importance : pandas.DataFrame or None
        Mean ``|SHAP|`` per feature with its bootstrap interval over the sampled rows
        (:meth:`ShapValues.global_frame`).
    selection : RowSelection
    local : LocalExplanations
    chance : float or None
        The permutation metric's chance level (:func:`chance_level`).
    skipped : tuple of Skipped
        Every piece of work not done, with why (time budget, inapplicable method, a
        method that failed: ``failed=True``).
    notes : tuple of str
    settings : dict
    leakage : tuple of Flag
        Leakage suspects, each with the evidence it fired on
        (:func:`~afterfit.explain.leakage.leakage_suspects`).
    dependence : PartialDependence or None
        Partial dependence and ICE of the top features, and the strongest pair
        (:func:`~afterfit.explain.dependence.partial_dependence`).
    """

    task: str
    n_rows: int
    feature_names: tuple[str, ...]
    methods: tuple[str, ...]
    permutation: PermutationImportance | None
    shap: ShapValues | None
    shap_importance: pd.DataFrame | None
    selection: RowSelection
    local: LocalExplanations
    chance: float | None = None
    skipped: tuple[Skipped, ...] = ()
    notes: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    leakage: tuple[Flag, ...] = ()
    dependence: PartialDependence | None = None

    # --- what ran ------------------------------------------------------------------------

    def failed(self) -> dict[str, str]:
        """Methods that failed as a whole, with the reason (the others still ran)."""
        return _failed_methods(self.skipped)

    def worked(self) -> tuple[str, ...]:
        """Methods that gave a result (on at least one row, for the local methods)."""
        out = []
        for x in self.methods:
            if x == "permutation":
                ok = self.permutation is not None
            elif x == "shap":
                ok = self.shap is not None or any(r.shap is not None for r in self.local.rows)
            elif x == "lime":
                ok = any(r.lime is not None for r in self.local.rows)
            elif x == "pdp":
                ok = self.dependence is not None and len(self.dependence.features) > 0
            else:
                ok = any(r.anchor is not None for r in self.local.rows)
            if ok:
                out.append(x)
        return tuple(out)

    def __repr__(self) -> str:
        from afterfit.display import one_line, with_interval

        top = None
        if self.permutation is not None or self.shap_importance is not None:
            f = self.frame()
            by_permutation = "permutation" in f
            col = "permutation" if by_permutation else "mean_abs_shap"
            ci = "permutation_ci" if by_permutation else "shap_ci"
            if len(f) and col in f:
                r = f.iloc[0]
                name, value = f"top {r['feature']!r} ({col})", float(r[col])
                top = with_interval(name, value, float(r[f"{ci}_low"]), float(r[f"{ci}_high"]))
        methods = f"methods={list(self.worked())}"
        return one_line("Explanations", self.task, methods, top, f"{self.n_rows:,} rows")

    def _repr_html_(self) -> str:
        """Jupyter's display: headline with intervals, main figure, findings, tables."""
        from afterfit.display import html

        return html(self)

    # --- tables --------------------------------------------------------------------------

    def frame(self) -> pd.DataFrame:
        """Global importance, one line per feature: permutation and SHAP side by side.

        Columns ``feature``, then ``permutation, permutation_ci_low, permutation_ci_high,
        permutation_rank`` and ``mean_abs_shap, shap_ci_low, shap_ci_high, shap_rank`` for
        the methods that ran; sorted by permutation rank, else SHAP rank.
        """
        df = pd.DataFrame({"feature": list(self.feature_names)})
        if self.permutation is not None:
            p = self.permutation.frame().rename(
                columns={
                    "importance": "permutation",
                    "std": "permutation_std",
                    "ci_low": "permutation_ci_low",
                    "ci_high": "permutation_ci_high",
                    "rank": "permutation_rank",
                }
            )
            # groups of columns are their own lines
            df = df.merge(p, on="feature", how="outer", sort=False)
        if self.shap_importance is not None:
            s = self.shap_importance.rename(
                columns={"ci_low": "shap_ci_low", "ci_high": "shap_ci_high", "rank": "shap_rank"}
            )
            df = df.merge(s, on="feature", how="outer", sort=False)
        key = next((k for k in ("permutation_rank", "shap_rank") if k in df), None)
        if key is not None:
            df = df.sort_values([key, "feature"], kind="stable", na_position="last")
        return df.reset_index(drop=True)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table, by file name (``tables/<name>.csv``)."""
        out: dict[str, pd.DataFrame] = {"importance": self.frame()}
        if self.permutation is not None:
            out["permutation_importance"] = self.permutation.frame()
            out["permutation_repeats"] = self.permutation.repeats_frame()
        if self.shap_importance is not None:
            out["shap_importance"] = self.shap_importance
        out["rows"] = self.local.frame()
        out["row_selection"] = self.selection.frame()
        if len(self.local.agreement_frame()):
            out["agreement"] = self.local.agreement_frame()
        if len(self.local.anchors_frame()):
            out["anchors"] = self.local.anchors_frame()
        for r in self.local.rows:
            out[f"row_{r.position}"] = r.frame()
        if self.dependence is not None:
            out["pdp"] = self.dependence.frame()
            out["pdp_ice"] = self.dependence.ice_frame()
            if self.dependence.interactions:
                out["pdp_interactions"] = self.dependence.interactions_frame()
            if self.dependence.pair is not None:
                out["pdp_pair"] = self.dependence.pair.frame()
        if self.skipped:
            out["skipped"] = pd.DataFrame(
                [s.to_dict() for s in self.skipped],
                columns=["method", "position", "reason", "failed"],
            )
        return out

    # --- flags ---------------------------------------------------------------------------

    def flags(self) -> tuple[Flag, ...]:
        """Leakage suspects, SHAP-LIME disagreements and SHAP additivity failures."""
        # leakage: evidence (shared rows, one feature alone, an identifier, a collapse),
        # never a near-perfect score alone (honest models on easy data score near 1)
        out: list[Flag] = list(self.leakage)
        disagree = [r for r in self.local.disagreements() if r.agreement is not None]
        if disagree:

            def tau(r: Any) -> str:
                t = r.agreement.kendall_tau
                return f"{t:.2f}" if math.isfinite(t) else "n/a"

            k = disagree[0].agreement.k
            if len(disagree) == 1:
                r = disagree[0]
                where = (
                    f"{r.name} (top-{k} Jaccard {r.agreement.jaccard:.2f}, Kendall's tau {tau(r)})"
                )
            else:
                ids = ", ".join(str(r.position) for r in disagree)
                details = "; ".join(
                    f"{r.position}: {r.agreement.jaccard:.2f}/{tau(r)}" for r in disagree
                )
                where = f"rows {ids} (top-{k} Jaccard/Kendall's tau: {details})"
            first = disagree[0].agreement
            evidence = {
                "check": "shap_lime_rank_agreement",
                "k": k,
                "min_jaccard": first.min_jaccard,
                "min_tau": first.min_tau,
                "rows": [
                    {
                        "position": r.position,
                        "jaccard": r.agreement.jaccard,
                        "kendall_tau": r.agreement.kendall_tau,
                        "shap_top": list(r.agreement.shap_top),
                        "lime_top": list(r.agreement.lime_top),
                        "lime_fidelity": getattr(r.lime, "fidelity", None),
                    }
                    for r in disagree
                ],
            }
            out.append(
                Flag(
                    "disagreement",
                    f"SHAP and LIME disagree on {where}, below the agreement thresholds "
                    f"(Jaccard {first.min_jaccard:g}, Kendall's tau {first.min_tau:g}): read "
                    "those explanations with care (LIME's fidelity says how well its "
                    "surrogate fits).",
                    positions=tuple(r.position for r in disagree if r.position is not None),
                    evidence=evidence,
                )
            )
        if self.shap is not None and not self.shap.additivity.within_tolerance:
            a = self.shap.additivity
            out.append(
                Flag(
                    "additivity",
                    f"SHAP values do not add up to the model's output: the largest error is "
                    f"{a.max_abs_error:.3g} (tolerance {a.tolerance:.3g}, {self.shap.algorithm} "
                    f"explainer, compared with {a.compared_with}, over {self.shap.n_rows} "
                    "rows).",
                    evidence={
                        "check": "shap_additivity",
                        "max_abs_error": a.max_abs_error,
                        "tolerance": a.tolerance,
                        "algorithm": self.shap.algorithm,
                        "compared_with": a.compared_with,
                        "n_rows": self.shap.n_rows,
                    },
                )
            )
        return tuple(out)

    # --- output --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: settings, global importance, rows, agreement, flags, skipped work."""
        shap_global = None
        if self.shap is not None:
            shap_global = self.shap.to_dict()
            shap_global["features"] = [
                {
                    "feature": r.feature,
                    "mean_abs_shap": _num(r.mean_abs_shap),
                    "ci_low": _num(r.ci_low),
                    "ci_high": _num(r.ci_high),
                    "rank": int(r.rank),
                }
                for r in self.shap_importance.itertuples(index=False)
            ]
            shap_global["interval"] = "bootstrap percentile over the explained rows"
        return {
            "task": self.task,
            "n_rows": int(self.n_rows),
            "n_features": len(self.feature_names),
            "methods": list(self.methods),
            "worked": list(self.worked()),
            "failed": [{"method": k, "reason": v} for k, v in self.failed().items()],
            "settings": {k: _settings_value(v) for k, v in self.settings.items()},
            "notes": list(self.notes),
            "flags": [f.to_dict() for f in self.flags()],
            "chance": _num(self.chance) if self.chance is not None else None,
            "permutation": None if self.permutation is None else self.permutation.to_dict(),
            "shap": shap_global,
            "row_selection": self.selection.to_dict(),
            "local": self.local.to_dict(),
            "skipped": [s.to_dict() for s in self.skipped],
            "dependence": None if self.dependence is None else self.dependence.to_dict(),
        }

    def plot(self, *, top: int = 15) -> Any:
        """Global importance: permutation and mean ``|SHAP|`` side by side, with intervals
        (matplotlib figure)."""
        from matplotlib.figure import Figure

        panels = [x for x in (self.permutation, self.shap_importance) if x is not None]
        n = max(len(panels), 1)
        k = min(top, len(self.feature_names))
        fig = Figure(figsize=(6.0 * n, 1.4 + 0.3 * max(k, 3)), layout="constrained")
        axes = fig.subplots(1, n, squeeze=False)[0]
        i = 0
        if self.permutation is not None:
            self.permutation.plot(top=top, ax=axes[i])
            i += 1
        if self.shap_importance is not None:
            plot_shap_importance(self.shap_importance, self.shap, top=top, ax=axes[i])
            i += 1
        if i == 0:
            axes[0].axis("off")
        return fig

    def figures(self) -> dict[str, Any]:
        """Every matplotlib figure, by file name (``figures/<name>.png``)."""
        out: dict[str, Any] = {}
        if self.permutation is not None:
            out["permutation_importance"] = self.permutation.plot()
        if self.shap is not None and self.shap_importance is not None:
            out["shap_importance"] = plot_shap_importance(self.shap_importance, self.shap)
            out["shap_beeswarm"] = self.shap.plot_beeswarm()
            out["shap_dependence"] = self.shap.plot_dependence(
                str(self.shap_importance["feature"].iloc[0])
            )
        if len(self.local.agreement_frame()):
            out["agreement"] = self.local.plot()
        for r in self.local.rows:
            out[f"row_{r.position}"] = r.plot()
        if self.dependence is not None:
            out.update(self.dependence.figures())
        return out


def _settings_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _settings_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_settings_value(v) for v in value]
    return _json_value(value)


def plot_shap_importance(
    frame: pd.DataFrame, sv: ShapValues | None = None, *, top: int = 20, ax: Any = None
) -> Any:
    """Bars of the mean ``|SHAP|`` per feature with their bootstrap intervals."""
    from afterfit.plots import OKABE_ITO, _axes

    df = frame.head(top).iloc[::-1]
    k = len(df)
    fig, ax = _axes(ax, (6.0, 1.2 + 0.3 * max(k, 3)))
    y = np.arange(k)
    mean = df["mean_abs_shap"].to_numpy(dtype=np.float64)
    low = df["ci_low"].to_numpy(dtype=np.float64)
    high = df["ci_high"].to_numpy(dtype=np.float64)
    err = np.vstack([mean - low, high - mean]) if np.isfinite(low).any() else None
    ax.barh(y, mean, xerr=err, color=OKABE_ITO[2], alpha=0.85,
            error_kw={"ecolor": "black", "capsize": 3, "linewidth": 1})  # fmt: skip
    ax.set_yticks(y, df["feature"].tolist())
    scale = "" if sv is None else f" ({sv.output})"
    ax.set_xlabel(f"mean |SHAP value|{scale}")
    rows = "" if sv is None else f", {sv.n_rows:,} rows"
    ax.set_title(f"Mean |SHAP| (95% bootstrap interval{rows})", fontsize="medium")
    return fig


# --- running -----------------------------------------------------------------------------------


def _accepts(func: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def _concat_shap(parts: list[ShapValues]) -> ShapValues:
    """One ShapValues from several calls on disjoint rows (same model, background, seed)."""
    if len(parts) == 1:
        return parts[0]
    values = np.concatenate([p.values for p in parts])
    base = np.concatenate([p.base_values for p in parts])
    output = np.concatenate([p.model_output for p in parts])
    data = pd.concat([p.data for p in parts], ignore_index=True)
    total = base + (values.sum(axis=1))
    error = float(np.max(np.abs(total - output))) if output.size else 0.0
    tol = ADDITIVITY_RTOL * max(1.0, float(np.max(np.abs(output))) if output.size else 1.0)
    first = parts[0]
    additivity = Additivity(error, tol, bool(error <= tol), first.additivity.compared_with)
    return dataclasses.replace(
        first, values=values, base_values=base, model_output=output, data=data,
        additivity=additivity,
    )  # fmt: skip


def _global_shap(
    m: Any,
    frame: pd.DataFrame,
    background: pd.DataFrame,
    *,
    algorithm_hint: str | None,
    max_rows: int | None,
    options: Mapping[str, Any],
    budget: float | None,
    random_state: int | None,
    progress: Progress | None,
    skipped: list[Skipped],
    notes: list[str],
) -> ShapValues | None:
    from afterfit.explain.shap_values import shap_values

    slow = algorithm_hint in SLOW_SHAP
    limit = max_rows if max_rows is not None else (SHAP_ROWS_SLOW if slow else SHAP_ROWS_FAST)
    n = len(frame)
    rng = np.random.default_rng(random_state)
    rows = np.arange(n) if n <= limit else np.sort(rng.choice(n, size=limit, replace=False))
    if len(rows) < n:
        notes.append(
            f"Global SHAP values were computed on {len(rows):,} of {n:,} rows, sampled at "
            "random (set shap_max_rows to change)."
        )
    if not slow:
        sv = shap_values(m, frame.iloc[rows], background=background, **options)
        if progress is not None:
            progress("shap (global)", 1, 1)
        return sv
    chunks = [rows[i : i + SHAP_CHUNK] for i in range(0, len(rows), SHAP_CHUNK)]
    parts: list[ShapValues] = []
    spent = 0.0
    done = 0
    for c, chunk in enumerate(chunks):
        if budget is not None and c > 0 and spent >= budget:
            skipped.append(
                Skipped(
                    "shap (global)",
                    None,
                    f"time budget: global SHAP had spent {spent:.1f} s of its {budget:g} s "
                    f"after {done} of {len(rows)} sampled rows; the summary uses those rows",
                )
            )
            break
        start = time.perf_counter()
        parts.append(shap_values(m, frame.iloc[chunk], background=background, **options))
        spent += time.perf_counter() - start
        done += len(chunk)
        if progress is not None:
            progress("shap (global)", c + 1, len(chunks))
    return _concat_shap(parts)


def explain_model(
    model: Any,
    X: Any,
    y: Any,
    *,
    train: Any = None,
    background: Any = None,
    rows: Any = None,
    by: str = "auto",
    methods: Sequence[str] | str | None = None,
    metric: str | None = None,
    n_repeats: int = 5,
    permutation_max_rows: int | None = None,
    groups: Any = None,
    sample_weight: Any = None,
    shap_max_rows: int | None = None,
    n_bootstrap: int = 200,
    n_errors: int = 3,
    n_uncertain: int = 3,
    n_random: int = 2,
    categorical_features: Sequence[str | int] | None = None,
    num_features: int = 10,
    num_samples: int = 5000,
    top_k: int = 5,
    min_jaccard: float = 0.25,
    min_tau: float = -0.2,
    shap_options: Mapping[str, Any] | None = None,
    lime_options: Mapping[str, Any] | None = None,
    anchor_options: Mapping[str, Any] | None = None,
    pdp_features: Sequence[str] | str | None = None,
    pdp_options: Mapping[str, Any] | None = None,
    time_budget: float | None = None,
    random_state: int | None = 0,
    progress: Progress | None = None,
    n_jobs: int | None = None,
) -> Explanations:
    """Explain a model: global importance, the rows worth a look, agreement, flags.

    Parameters
    ----------
    model : object
        Anything :func:`afterfit.models.as_model` takes.
    X : table
        The data to explain (usually the test set), with the model's features.
    y : array-like
        True labels or values of ``X`` (for permutation importance and the row selection).
    train : table, optional
        Training rows: LIME and anchors sample perturbations from them and SHAP compares
        with them. Without them, numeric data is sampled from ``X`` (a note says so);
        categorical features are then an error for LIME and anchors.
    background : table, optional
        SHAP's background (default ``train``, else ``X``).
    rows : sequence, optional
        Rows to explain first: positions or index labels of ``X`` (``by``).
    by : {"auto", "position", "label"}, default "auto"
        How ``rows`` are read (:func:`~afterfit.explain.rows.resolve_rows`).
    methods : sequence of str or comma-separated str, optional
        Some of ``"permutation", "shap", "lime", "anchors", "pdp"``. Default: all that
        apply (anchors need a classifier, SHAP numeric features).
    metric : str, optional
        Permutation importance metric (default :data:`DEFAULT_METRICS`; any metric of
        :func:`afterfit.evaluate`'s table; ``log_loss`` and ``brier`` need probabilities).
    n_repeats : int, default 5
        Permutation repeats (intervals need 2 or more).
    permutation_max_rows : int, optional
        Permutation importance on a seeded sample of this many rows.
    groups : optional
        Permutation feature groups (see
        :func:`~afterfit.explain.permutation.permutation_importance`).
    sample_weight : array-like, optional
        Row weights of the permutation metric.
    shap_max_rows : int, optional
        Rows of the global SHAP summary: a seeded sample (default 1,000 for the exact tree
        and linear explainers, 100 for the model-agnostic ones).
    n_bootstrap : int, default 200
        Bootstrap resamples of the mean ``|SHAP|`` intervals.
    n_errors, n_uncertain, n_random : int
        Rows selected per reason (:func:`~afterfit.explain.rows.select_rows`).
    categorical_features : sequence of str or int, optional
        Columns LIME and anchors treat as categories.
    num_features, num_samples, top_k, min_jaccard, min_tau
        LIME's size and the agreement settings (:func:`~afterfit.explain.local.explain_row`).
    shap_options, lime_options, anchor_options : mapping, optional
        More arguments of each method (:func:`~afterfit.explain.local.explain_row`).
    pdp_features : sequence of str or comma-separated str, optional
        Columns whose partial dependence is drawn first; the :data:`PDP_TOP` most important
        features (permutation importance, else mean ``|SHAP|``, else the first columns)
        follow.
    pdp_options : mapping, optional
        More arguments of :func:`~afterfit.explain.dependence.partial_dependence`
        (``grid_resolution``, ``sample_rows``, ``class_``, ``interactions``, ...).
    time_budget : float, optional
        Seconds each slow method may spend before it stops starting new rows: LIME,
        anchors and model-agnostic SHAP on the selected rows (each explains at least one
        row), and model-agnostic SHAP on the global sample. Exact SHAP and permutation
        importance are not limited.
    random_state : int, optional
        Seed of every sample, permutation and method: the same seed gives the same result.
    progress : callable, optional
        ``progress(step, done, total)`` after each unit of work; steps are
        ``"permutation"``, ``"shap (global)"``, ``"shap"``, ``"lime"``, ``"anchors"``,
        ``"pdp"``.
    n_jobs : int, optional
        Parallel workers, passed to permutation importance and SHAP where they take it.

    Returns
    -------
    Explanations
        ``frame()``, ``tables()``, ``figures()``, ``flags()``, ``to_dict()``, ``plot()``.

    Raises
    ------
    InvalidInputError
        An unknown method (or one that cannot apply, asked for explicitly), rows out of
        range or not in the index, a metric that needs probabilities of a model without
        them, categorical features without training data for LIME or anchors, a
        ``pdp_features`` name that is not a column.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    >>> model = RandomForestClassifier(n_estimators=20, random_state=0).fit(X[:400], y[:400])
    >>> ex = explain_model(model, X[400:], y[400:], train=X[:400], rows=[0],
    ...                    methods="permutation,shap", random_state=0)  # doctest: +SKIP
    >>> ex.frame().columns[:2].tolist()  # doctest: +SKIP
    ['feature', 'permutation']
    """
    from afterfit.data import as_frame, check_features
    from afterfit.explain.permutation import permutation_importance
    from afterfit.models import as_model
    from afterfit.predictions import Predictions

    m = as_model(model)
    budget = _check_budget(time_budget)
    notes: list[str] = []
    skipped: list[Skipped] = []
    raw = as_frame(X, feature_names=m.feature_names)
    index = raw.index
    frame = check_features(raw, m)
    if len(frame) == 0:
        raise InvalidInputError("X has no rows to explain.", fix="pass at least one row.")
    if y is None:
        raise InvalidInputError(
            "explain_model needs the true values y of X (for permutation importance and to "
            "find the model's errors); received None.",
            fix="pass y, or use explain_local(model, X, rows=[...]) for chosen rows alone.",
        )

    if methods is None:
        chosen = list(METHODS)
        if m.task == "regression":
            chosen.remove("anchors")
            notes.append("Anchors explain a classifier's label; left out for a regression model.")
        chosen_t = tuple(chosen)
    else:
        chosen_t = _check_methods(methods, METHODS)
        if m.task == "regression" and "anchors" in chosen_t:
            raise InvalidInputError(
                "Anchors explain a classifier's predicted label; the model is a regression model.",
                fix="leave 'anchors' out of the methods for a regression model.",
            )
    local_methods = tuple(x for x in chosen_t if x not in ("permutation", "pdp"))
    # named columns are checked now: a typo fails before minutes of work, not after
    named = _pdp_features(pdp_features, frame, chosen_t)
    if "shap" in chosen_t:
        quiet_shap_import()

    preds = Predictions.from_model(m, frame, y, sample_weight=sample_weight)
    y_arr = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
    if y_arr.ndim == 2 and y_arr.shape[1] == 1:
        y_arr = y_arr[:, 0]
    selection = select_rows(
        preds, rows=rows, index=index, by=by, n_errors=n_errors, n_uncertain=n_uncertain,
        n_random=n_random, random_state=random_state,
    )  # fmt: skip
    train_frame = _frame_of(train, m, "train")
    bg_frame = _frame_of(background, m, "background")
    shap_bg = bg_frame if bg_frame is not None else train_frame
    shap_opts = dict(shap_options or {})
    if n_jobs is not None:
        from afterfit.explain.shap_values import shap_values as _sv

        if _accepts(_sv, "n_jobs"):
            shap_opts.setdefault("n_jobs", n_jobs)
    shap_opts.setdefault("random_state", random_state)

    # Global: permutation importance.
    permutation = None
    chance = None
    if "permutation" in chosen_t:
        metric = metric or DEFAULT_METRICS[m.task]
        kwargs: dict[str, Any] = {}
        if n_jobs is not None and _accepts(permutation_importance, "n_jobs"):
            kwargs["n_jobs"] = n_jobs
        if progress is not None:
            progress("permutation", 0, 1)
        try:
            permutation = permutation_importance(
                m, frame, y_arr, metric=metric, n_repeats=n_repeats, random_state=random_state,
                groups=groups, max_rows=permutation_max_rows, sample_weight=sample_weight,
                **kwargs,
            )  # fmt: skip
        except Exception as exc:  # named in skipped; the other methods go on
            skipped.append(failure("permutation", None, exc))
        else:
            chance = chance_level(metric, y_arr, m.task, sample_weight)
        if progress is not None:
            progress("permutation", 1, 1)

    # Local: the selected rows, every method (this also tells which SHAP explainer fits).
    if local_methods:
        local = explain_local(
            m, frame, y_arr, methods=local_methods, train=train_frame,
            background=shap_bg if shap_bg is not None else frame,
            categorical_features=categorical_features, num_features=num_features,
            num_samples=num_samples, top_k=top_k, min_jaccard=min_jaccard, min_tau=min_tau,
            shap_options=shap_opts, lime_options=lime_options, anchor_options=anchor_options,
            time_budget=budget, random_state=random_state, progress=progress,
            selection=selection,
        )  # fmt: skip
        notes.extend(n for n in local.notes if n not in notes)
        skipped.extend(local.skipped)
    else:
        local = LocalExplanations(rows=(), methods=(), settings={})

    # Global: SHAP on a sample of the rows.
    sv = None
    shap_importance = None
    shap_failed = any(x.method == "shap" and x.failed and x.position is None for x in skipped)
    if "shap" in chosen_t and not shap_failed:
        if shap_bg is None:
            message = (
                "No training data was given: SHAP's background is a sample of the explained data X."
            )
            if message not in notes:
                notes.append(message)
        hint = next((r.shap.algorithm for r in local.rows if r.shap is not None), None)
        try:
            sv = _global_shap(
                m, frame, shap_bg if shap_bg is not None else frame, algorithm_hint=hint,
                max_rows=shap_max_rows, options=shap_opts, budget=budget,
                random_state=random_state, progress=progress, skipped=skipped, notes=notes,
            )  # fmt: skip
        except Exception as exc:  # named in skipped; the other methods go on
            skipped.append(failure("shap (global)", None, exc))
        if sv is not None:
            shap_importance = sv.global_frame(n_bootstrap=n_bootstrap, random_state=random_state)
            notes.extend(n for n in sv.notes if n not in notes)

    # Partial dependence of the named and the most important features.
    dependence = None
    if "pdp" in chosen_t:
        try:
            dependence = _dependence(
                m, frame, named, permutation, shap_importance, pdp_options, budget,
                random_state, progress,
            )  # fmt: skip
        except Exception as exc:  # named in skipped; the other methods go on
            skipped.append(failure("pdp", None, exc))
        else:
            notes.extend(n for n in dependence.notes if n not in notes)
            skipped.extend(Skipped("pdp", None, f"{f}: {r}") for f, r in dependence.skipped)

    leakage: tuple[Flag, ...] = ()
    try:
        suspects = leakage_suspects(
            frame, y_arr, task=m.task, scores=np.asarray(preds.scores), classes=m.classes_,
            train=train_frame, permutation=permutation, chance=chance,
        )  # fmt: skip
        leakage = tuple(
            Flag("leakage", x.text, feature=x.feature, evidence={"check": x.check, **x.evidence})
            for x in suspects
        )
    except Exception as exc:  # a check that cannot run says so; the explanations stand
        notes.append(f"The leakage checks did not run: {type(exc).__name__}: {exc}")
    failed = _failed_methods(skipped)
    if failed and all(x in failed for x in chosen_t):
        # nothing worked: an explanation with no method in it is an error, not a result
        first = next(x for x in skipped if x.failed and x.position is None)
        if len(chosen_t) == 1 and first.error is not None:
            raise first.error  # one method chosen: its own message and fix, as it is
        raise InvalidInputError(
            "Every explanation method failed: "
            + "; ".join(f"{k}: {v}" for k, v in failed.items())
            + ".",
            fix="follow the fix of the first failure ("
            + first.method
            + "), or choose other methods with --methods.",
        )
    settings = {
        "methods": list(chosen_t),
        "metric": None if permutation is None else permutation.metric,
        "n_repeats": int(n_repeats),
        "permutation_max_rows": permutation_max_rows,
        "shap_max_rows": shap_max_rows,
        "n_bootstrap": int(n_bootstrap),
        "n_errors": int(n_errors),
        "n_uncertain": int(n_uncertain),
        "n_random": int(n_random),
        "num_features": int(num_features),
        "num_samples": int(num_samples),
        "top_k": int(top_k),
        "min_jaccard": float(min_jaccard),
        "min_tau": float(min_tau),
        "time_budget": budget,
        "random_state": random_state,
        "train_rows": None if train_frame is None else len(train_frame),
        "n_jobs": n_jobs,
        "pdp_features": list(named),
    }
    return Explanations(
        task=m.task,
        n_rows=len(frame),
        feature_names=tuple(str(c) for c in frame.columns),
        methods=chosen_t,
        permutation=permutation,
        shap=sv,
        shap_importance=shap_importance,
        selection=selection,
        local=local,
        chance=chance,
        skipped=tuple(skipped),
        notes=tuple(notes),
        settings=settings,
        leakage=leakage,
        dependence=dependence,
    )


def _pdp_features(
    features: Sequence[str] | str | None, frame: pd.DataFrame, methods: Sequence[str]
) -> list[str]:
    """The columns named for the partial dependence, checked against the data."""
    from afterfit.explain.dependence import check_feature_names

    if features is None or (isinstance(features, str | list | tuple) and not features):
        return []
    if "pdp" not in methods:
        raise InvalidInputError(
            "pdp_features names columns for the partial dependence, but 'pdp' is not among "
            f"the methods ({', '.join(methods)}).",
            fix="add pdp to the methods, or leave pdp_features out.",
        )
    return check_feature_names(features, [str(c) for c in frame.columns], "pdp_features")


def _dependence(
    m: Any,
    frame: pd.DataFrame,
    named: list[str],
    permutation: PermutationImportance | None,
    shap_importance: pd.DataFrame | None,
    options: Mapping[str, Any] | None,
    budget: float | None,
    random_state: int | None,
    progress: Progress | None,
) -> PartialDependence:
    """Partial dependence of the named features, then the :data:`PDP_TOP` most important
    (permutation importance, else mean ``|SHAP|``, else the first columns)."""
    from afterfit.explain.dependence import partial_dependence

    columns = [str(c) for c in frame.columns]
    if permutation is not None:
        ranked = permutation.frame()["feature"].tolist()
    elif shap_importance is not None:
        ranked = shap_importance["feature"].tolist()
    else:
        ranked = columns
    known = set(columns)
    # permutation groups are not columns: only columns are drawn
    top = [f for f in ranked if f in known and f not in named][:PDP_TOP]
    opts = dict(options or {})
    opts.setdefault("random_state", random_state)
    opts.setdefault("time_budget", budget)
    return partial_dependence(m, frame, [*named, *top], progress=progress, **opts)


def _failed_methods(skipped: Sequence[Skipped]) -> dict[str, str]:
    """Methods that failed as a whole (not on one row), by name, with the reason.

    ``"shap (global)"`` counts as ``"shap"`` only when the local SHAP failed too: local
    values without the global summary are still SHAP that worked.
    """
    out: dict[str, str] = {}
    for x in skipped:
        if x.failed and x.position is None and x.method != "shap (global)":
            out.setdefault(x.method, x.reason.removeprefix("failed: "))
    return out


#: The same function under its short name (``afterfit.explain`` itself is the package).
explain = explain_model


def write_explanations(
    explanations: Explanations,
    out: str | Path,
    *,
    source: dict[str, Any] | None = None,
    figures: bool = True,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write ``explanations.json``, ``tables/*.csv`` and ``figures/*.png`` under ``out``.

    The files are published together once all are written; the JSON document has
    afterfit's versioned header (schema ``afterfit.explanations``). Returns what was
    written, by relative path.
    ``out`` must be new, empty or written by afterfit before, unless ``overwrite``; files
    afterfit did not write are kept (:func:`afterfit.outdir.prepare_out`).
    """
    from afterfit.documents import document, write_folder

    doc = document("afterfit.explanations", {"explanations": explanations.to_dict()}, source=source)
    figs = explanations.figures() if figures else {}
    return write_folder(
        out, "explanations.json", doc, explanations.tables(), figs,
        command="explain", overwrite=overwrite,
    )  # fmt: skip
