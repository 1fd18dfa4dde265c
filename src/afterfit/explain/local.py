"""Explanations of single predictions, every method side by side, and whether they agree.

For each row, :func:`explain_row` (one row) and :func:`explain_local` (several rows of a
table) run:

- **SHAP** (:func:`~afterfit.explain.shap_values.shap_values`) against background rows
  (``background``, else ``train``): each feature's additive contribution, with the row's
  additivity check (base value + contributions = model output);
- **LIME** (:class:`~afterfit.explain.lime.LimeTabular`) on ``train``: a local linear
  surrogate's weights and its local fidelity (weighted R²);
- **anchors** (:class:`~afterfit.explain.anchors.AnchorTabular`) on ``train``, classifiers
  only: a rule that keeps the prediction, with its precision and coverage.

SHAP and LIME explain the same number: the probability (or score) of the positive class
for a binary classifier, of the predicted class for a multiclass one, the prediction for a
regression model. (SHAP may explain it on the log-odds or margin scale; see
:attr:`ShapRow.scale`.)

**Agreement.** LIME's features are rules on binned values (``"x <= 3.2"``), each on one
column, so its weights map back to column names. :func:`rank_agreement` compares the top
``k`` features of SHAP and LIME by absolute weight: the overlap and Jaccard index of the two
top-``k`` sets, Kendall's tau-b between the absolute weights on their union (a feature LIME
did not select weighs 0) and the share of shared features with the same sign. The methods
*disagree* when the Jaccard index is below ``min_jaccard`` (0.25: with ``k=5``, at most one
feature in common) or tau is below ``min_tau`` (-0.2: the orders are clearly reversed; tau
on a handful of features is noisy, so slightly negative values are not flagged).

**Time budget.** LIME, anchors and the model-agnostic SHAP explainers (permutation, kernel)
are slow. With ``time_budget=S`` each of them stops starting new rows once it has spent
``S`` seconds (it always explains the first row); the rows it did not start are listed in
``skipped`` with the reason. Rows are explained in order, so the first rows get every
method.

Examples
--------
>>> from sklearn.datasets import load_breast_cancer
>>> from sklearn.ensemble import RandomForestClassifier
>>> X, y = load_breast_cancer(return_X_y=True, as_frame=True)
>>> model = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
>>> ex = explain_row(model, X.iloc[0], methods=("shap", "lime"), train=X, random_state=0)
>>> ex.shap.additivity.within_tolerance, ex.agreement.k
(True, 5)
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from afterfit.errors import InvalidInputError, SchemaError
from afterfit.explain.anchors import AnchorExplanation
from afterfit.explain.lime import LimeExplanation
from afterfit.explain.rows import RowSelection, SelectedRow, select_rows
from afterfit.explain.shap_values import ADDITIVITY_RTOL, Additivity, ShapValues
from afterfit.jsonsafe import scalar as _json_value

__all__ = [
    "LOCAL_METHODS",
    "Agreement",
    "LocalExplanations",
    "RowExplanation",
    "ShapRow",
    "Skipped",
    "explain_local",
    "explain_row",
    "rank_agreement",
]

#: The per-row methods, in the order they run for a row.
LOCAL_METHODS: tuple[str, ...] = ("shap", "lime", "anchors")
#: SHAP explainers slow enough to fall under the time budget.
SLOW_SHAP: frozenset[str] = frozenset({"permutation", "kernel"})

Progress = Callable[[str, int, int], None]


def _num(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _short(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}"
    text = str(value)
    return text if len(text) <= 24 else text[:23] + "…"


# --- agreement -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Agreement:
    """How far SHAP and LIME agree on which features matter for one row.

    Attributes
    ----------
    k : int
        Top features compared from each method.
    shap_top, lime_top : tuple of str
        Each method's top ``k`` columns by absolute weight, largest first.
    overlap : int
        Columns in both top-``k`` sets.
    jaccard : float
        ``overlap / |union|`` (1: same sets; 0: disjoint).
    kendall_tau : float
        Kendall's tau-b between the absolute SHAP values and absolute LIME weights of the
        union's columns (1: same order); NaN when undefined (fewer than two columns, or one
        method weighs them all the same).
    sign_agreement : float
        Share of the shared columns whose SHAP value and LIME weight have the same sign
        (NaN without shared columns).
    agree : bool
        ``jaccard >= min_jaccard`` and tau (when defined) ``>= min_tau``.
    min_jaccard, min_tau : float
    """

    k: int
    shap_top: tuple[str, ...]
    lime_top: tuple[str, ...]
    overlap: int
    jaccard: float
    kendall_tau: float
    sign_agreement: float
    agree: bool
    min_jaccard: float = 0.25
    min_tau: float = -0.2

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe fields (NaN becomes null)."""
        return {
            "k": int(self.k),
            "shap_top": list(self.shap_top),
            "lime_top": list(self.lime_top),
            "overlap": int(self.overlap),
            "jaccard": _num(self.jaccard),
            "kendall_tau": _num(self.kendall_tau),
            "sign_agreement": _num(self.sign_agreement),
            "agree": bool(self.agree),
            "min_jaccard": _num(self.min_jaccard),
            "min_tau": _num(self.min_tau),
        }


def _top(weights: Mapping[str, float], k: int) -> list[str]:
    items = [(c, abs(float(w))) for c, w in weights.items() if float(w) != 0.0]
    # largest first; ties by name so the order does not depend on dict order
    items.sort(key=lambda cw: (-cw[1], cw[0]))
    return [c for c, _ in items[:k]]


def rank_agreement(
    shap_weights: Mapping[str, float],
    lime_weights: Mapping[str, float],
    *,
    k: int = 5,
    min_jaccard: float = 0.25,
    min_tau: float = -0.2,
) -> Agreement:
    """Rank agreement between two explanations of the same row.

    Parameters
    ----------
    shap_weights : mapping of str to float
        SHAP value of each column.
    lime_weights : mapping of str to float
        LIME weight of each column it selected (others count as 0).
    k : int, default 5
        Top features compared from each method.
    min_jaccard : float, default 0.25
        Below this Jaccard index of the top-``k`` sets the methods disagree.
    min_tau : float, default -0.2
        Below this Kendall's tau the methods disagree.

    Returns
    -------
    Agreement

    Examples
    --------
    >>> a = rank_agreement({"a": 3, "b": -2, "c": 1}, {"a": 0.3, "b": -0.2, "c": 0.1}, k=3)
    >>> a.jaccard, a.kendall_tau, a.agree
    (1.0, 1.0, True)
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InvalidInputError(
            f"The argument 'k' must be an integer >= 1; received {k!r}.",
            fix="compare the top 5 features (k=5), for example.",
        )
    if not 0.0 <= float(min_jaccard) <= 1.0:
        raise InvalidInputError(
            f"The argument 'min_jaccard' must be in [0, 1]; received {min_jaccard!r}.",
            fix="pass min_jaccard=0.25, for example.",
        )
    if not -1.0 <= float(min_tau) <= 1.0:
        raise InvalidInputError(
            f"The argument 'min_tau' must be in [-1, 1]; received {min_tau!r}.",
            fix="pass min_tau=-0.2, for example.",
        )
    from scipy.stats import kendalltau

    shap_top = _top(shap_weights, int(k))
    lime_top = _top(lime_weights, int(k))
    a, b = set(shap_top), set(lime_top)
    union = sorted(a | b)
    overlap = len(a & b)
    jaccard = overlap / len(union) if union else math.nan
    tau = math.nan
    if len(union) >= 2:
        x = np.array([abs(float(shap_weights.get(c, 0.0))) for c in union])
        y = np.array([abs(float(lime_weights.get(c, 0.0))) for c in union])
        if np.ptp(x) > 0 and np.ptp(y) > 0:
            tau = float(kendalltau(x, y).statistic)
    shared = sorted(a & b)
    signs = [np.sign(float(shap_weights[c])) == np.sign(float(lime_weights[c])) for c in shared]
    sign_share = float(np.mean(signs)) if signs else math.nan
    agree = bool(
        math.isfinite(jaccard)
        and jaccard >= min_jaccard
        and not (math.isfinite(tau) and tau < min_tau)
    )
    return Agreement(
        k=int(k),
        shap_top=tuple(shap_top),
        lime_top=tuple(lime_top),
        overlap=overlap,
        jaccard=float(jaccard),
        kendall_tau=tau,
        sign_agreement=sign_share,
        agree=agree,
        min_jaccard=float(min_jaccard),
        min_tau=float(min_tau),
    )


# --- one row's SHAP values -------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ShapRow:
    """One row's SHAP values, taken from a :class:`~afterfit.explain.shap_values.ShapValues`.

    Attributes
    ----------
    features : tuple of str
    values : tuple
        The row's feature values.
    contributions : numpy.ndarray
        SHAP value of each feature, in ``features`` order.
    base_value : float
        The expected output over the background.
    output : float
        The model output the contributions add up to.
    scale : {"probability", "log_odds", "raw"}
    target : str
        What is explained (``"class 1"``, ``"prediction"``).
    algorithm : str
    additivity : Additivity
        ``|base_value + sum(contributions) - output|`` against the tolerance.
    notes : tuple of str
    """

    features: tuple[str, ...]
    values: tuple[Any, ...]
    contributions: np.ndarray
    base_value: float
    output: float
    scale: str
    target: str
    algorithm: str
    additivity: Additivity
    notes: tuple[str, ...] = ()

    @classmethod
    def from_shap_values(cls, sv: ShapValues, i: int, *, class_: Any = None) -> ShapRow:
        """Row ``i`` of ``sv`` (multiclass: the class ``class_``, default the top-scored)."""
        if class_ is None and sv.values.ndim == 3 and sv.classes is not None:
            class_ = sv.classes[int(np.argmax(sv.model_output[i]))]
        values, base, output, label = sv._slice(class_)
        phi = np.asarray(values[i], dtype=np.float64)
        out = float(output[i])
        error = abs(float(base[i]) + float(phi.sum()) - out)
        tol = ADDITIVITY_RTOL * max(1.0, abs(out))
        return cls(
            features=tuple(sv.feature_names),
            values=tuple(sv.data.iloc[i].tolist()),
            contributions=phi,
            base_value=float(base[i]),
            output=out,
            scale=sv.output,
            target=label,
            algorithm=sv.algorithm,
            additivity=Additivity(error, tol, bool(error <= tol), sv.additivity.compared_with),
            notes=tuple(sv.notes),
        )

    def weights(self) -> dict[str, float]:
        """SHAP value by feature name."""
        return {f: float(v) for f, v in zip(self.features, self.contributions, strict=True)}

    def frame(self) -> pd.DataFrame:
        """``feature, value, shap``, largest ``|shap|`` first."""
        df = pd.DataFrame(
            {
                "feature": list(self.features),
                "value": list(self.values),
                "shap": self.contributions,
            }
        )
        order = np.argsort(-np.abs(self.contributions), kind="stable")
        return df.iloc[order].reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary, features by decreasing ``|shap|``."""
        return {
            "method": "shap",
            "algorithm": self.algorithm,
            "scale": self.scale,
            "target": self.target,
            "base_value": _num(self.base_value),
            "output": _num(self.output),
            "additivity": self.additivity.to_dict(),
            "notes": list(self.notes),
            "features": [
                {"feature": r.feature, "value": _json_value(r.value), "shap": _num(r.shap)}
                for r in self.frame().itertuples(index=False)
            ],
        }

    def plot(self, *, top: int = 10, ax: Any = None) -> Any:
        """Horizontal bars of the largest contributions (matplotlib figure; positive orange,
        negative blue, as the waterfall)."""
        from afterfit.plots import OKABE_ITO, _axes

        df = self.frame().head(top).iloc[::-1]
        k = len(df)
        fig, ax = _axes(ax, (6.5, 1.2 + 0.35 * max(k, 3)))
        phi = df["shap"].to_numpy(dtype=np.float64)
        ax.barh(range(k), phi, color=[OKABE_ITO[3] if v >= 0 else OKABE_ITO[0] for v in phi])
        names = [f"{f} = {_short(v)}" for f, v in zip(df["feature"], df["value"], strict=True)]
        ax.set_yticks(range(k), names)
        ax.axvline(0.0, color="grey", linewidth=1)
        ax.set_xlabel(f"SHAP value ({self.scale}, {self.target})")
        ax.set_title(f"SHAP: base {self.base_value:.3g} → f(x) {self.output:.3g}")
        return fig


# --- one row, every method -------------------------------------------------------------------


@dataclass(frozen=True)
class Skipped:
    """A method not run on a row, and why.

    Attributes
    ----------
    method : str
    position : int or None
        The row's position (None: the method was skipped for every row, or globally).
    reason : str
    """

    method: str
    position: int | None
    reason: str
    failed: bool = False
    #: afterfit's own error, kept so that a method chosen alone can raise it as it is.
    error: BaseException | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe fields (``failed``: the method raised, rather than being left out)."""
        return {
            "method": self.method,
            "position": self.position,
            "reason": self.reason,
            "failed": bool(self.failed),
        }


def failure(method: str, position: int | None, exc: BaseException) -> Skipped:
    """A method that raised, as a :class:`Skipped` entry: one failing method must never
    hide the others, so the caller records it and goes on.

    The reason is afterfit's message (what went wrong and the fix) for afterfit's own
    errors, else the exception's type and text (a model that raises on perturbed rows).
    """
    from afterfit.errors import AfterfitError

    if isinstance(exc, AfterfitError):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}"
    if len(text) > 600:
        text = text[:599] + "…"
    own = exc if isinstance(exc, AfterfitError) else None
    return Skipped(method, position, f"failed: {text}", failed=True, error=own)


@dataclass(frozen=True, eq=False)
class RowExplanation:
    """Every method's explanation of one row, side by side.

    Attributes
    ----------
    row : pandas.Series
        The row's feature values.
    position : int or None
        Position of the row in the data (None for a row passed alone).
    label : object
        The row's index label.
    reason : str
        Why the row was chosen (see :data:`afterfit.explain.rows.REASONS`).
    detail : str
    prediction : object
        The model's predicted label (classification) or value (regression).
    true_value : object
        The true label or value, when known.
    explained : str
        What SHAP and LIME explain: ``"P(class=1)"``, ``"score(class=b)"``, ``"prediction"``.
    explained_class : object
        The class explained (None for regression).
    shap : ShapRow or None
    lime : LimeExplanation or None
    anchor : AnchorExplanation or None
    agreement : Agreement or None
        SHAP against LIME, when both ran.
    skipped : tuple of Skipped
        Methods asked for but not run on this row.
    seconds : dict of str to float
        Time each method took on this row.
    notes : tuple of str
        What :func:`explain_row` chose (the data LIME and anchors sampled from...).
    """

    row: pd.Series
    position: int | None
    label: Any
    reason: str
    detail: str
    prediction: Any
    true_value: Any
    explained: str
    explained_class: Any
    shap: ShapRow | None = None
    lime: LimeExplanation | None = None
    anchor: AnchorExplanation | None = None
    agreement: Agreement | None = None
    skipped: tuple[Skipped, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """``"row 17"`` (position) or ``"row 'a17'"`` (an index label that differs)."""
        if self.position is None:
            return "the row" if self.label is None else f"row {_label(self.label)}"
        if self.label is None or self.label == self.position:
            return f"row {self.position}"
        return f"row {self.position} (label {_label(self.label)})"

    def frame(self) -> pd.DataFrame:
        """The methods side by side, one line per feature.

        Columns ``feature, value, shap, shap_rank, lime_rule, lime_weight, lime_rank,
        in_anchor``; ranks are by absolute weight (1 first; empty where a method did not
        weigh the feature). Sorted by SHAP rank when SHAP ran, else by LIME rank.
        """
        features = [str(c) for c in self.row.index]
        df = pd.DataFrame({"feature": features, "value": list(self.row.tolist())})
        if self.shap is not None:
            w = self.shap.weights()
            df["shap"] = [w.get(f, np.nan) for f in features]
            df["shap_rank"] = _ranks(df["shap"])
        if self.lime is not None:
            rule = dict(zip(self.lime.columns, self.lime.features, strict=True))
            weight = dict(zip(self.lime.columns, self.lime.weights, strict=True))
            df["lime_rule"] = [rule.get(f, "") for f in features]
            df["lime_weight"] = [float(weight.get(f, np.nan)) for f in features]
            df["lime_rank"] = _ranks(df["lime_weight"])
        if self.anchor is not None:
            anchored = set(self.anchor.columns)
            df["in_anchor"] = [f in anchored for f in features]
        key = "shap_rank" if "shap_rank" in df else "lime_rank" if "lime_rank" in df else None
        if key is not None:
            df = df.sort_values(key, kind="stable", na_position="last").reset_index(drop=True)
        return df

    def summary(self) -> dict[str, Any]:
        """One flat line (for :meth:`LocalExplanations.frame`)."""
        out: dict[str, Any] = {
            "position": self.position,
            "label": self.label,
            "reason": self.reason,
            "true": self.true_value,
            "prediction": self.prediction,
            "explained": self.explained,
        }
        if self.shap is not None:
            out["shap_top"] = ", ".join(self.shap.frame()["feature"].head(3))
            out["shap_additive"] = self.shap.additivity.within_tolerance
        if self.lime is not None:
            out["lime_top"] = ", ".join(self.lime.columns[:3])
            out["lime_fidelity"] = self.lime.fidelity
        if self.anchor is not None:
            out["anchor"] = self.anchor.rule or "(empty: the prediction holds everywhere)"
            out["anchor_precision"] = self.anchor.precision
            out["anchor_coverage"] = self.anchor.coverage
        if self.agreement is not None:
            out["jaccard"] = self.agreement.jaccard
            out["kendall_tau"] = self.agreement.kendall_tau
            out["agree"] = self.agreement.agree
        if self.skipped:
            out["skipped"] = ", ".join(s.method for s in self.skipped)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: the row, each method's explanation, the agreement, what was skipped."""
        return {
            "position": self.position,
            "label": _json_value(self.label),
            "reason": self.reason,
            "detail": self.detail,
            "prediction": _json_value(self.prediction),
            "true": _json_value(self.true_value),
            "explained": self.explained,
            "explained_class": _json_value(self.explained_class),
            "values": {str(k): _json_value(v) for k, v in self.row.items()},
            "shap": None if self.shap is None else self.shap.to_dict(),
            "lime": None if self.lime is None else self.lime.to_dict(),
            "anchors": None if self.anchor is None else self.anchor.to_dict(),
            "agreement": None if self.agreement is None else self.agreement.to_dict(),
            "skipped": [s.to_dict() for s in self.skipped],
            "seconds": {k: _num(v) for k, v in self.seconds.items()},
            "notes": list(self.notes),
        }

    def plot(self, *, top: int = 10) -> Any:
        """SHAP and LIME side by side, the anchor rule underneath (matplotlib figure)."""
        from matplotlib.figure import Figure

        panels = [p for p in (self.shap, self.lime) if p is not None]
        k = min(top, len(self.row))
        width = 6.5 * max(len(panels), 1)
        fig = Figure(figsize=(width, 1.8 + 0.35 * max(k, 3)), layout="constrained")
        axes = fig.subplots(1, max(len(panels), 1), squeeze=False)[0]
        for ax, panel in zip(axes, panels, strict=False):
            panel.plot(ax=ax) if isinstance(panel, LimeExplanation) else panel.plot(top=top, ax=ax)
        if not panels:
            axes[0].axis("off")
        title = f"{self.name} ({self.reason}): predicted {self.prediction}"
        if self.true_value is not None:
            title += f", true {self.true_value}"
        if self.agreement is not None:
            a = self.agreement
            tau = "n/a" if not math.isfinite(a.kendall_tau) else f"{a.kendall_tau:.2f}"
            verdict = "agree" if a.agree else "DISAGREE"
            title += f" · SHAP/LIME top-{a.k}: Jaccard {a.jaccard:.2f}, tau {tau} ({verdict})"
        fig.suptitle(title, fontsize="medium")
        if self.anchor is not None:
            rule = self.anchor.rule or "(empty anchor)"
            fig.supxlabel(
                f"Anchor: IF {rule} THEN {self.anchor.label} "
                f"(precision {self.anchor.precision:.2f}, coverage {self.anchor.coverage:.2f})",
                fontsize="small",
            )
        return fig


def _label(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _ranks(values: pd.Series) -> pd.Series:
    a = values.abs().where(values.notna() & (values != 0))
    return a.rank(ascending=False, method="min").astype("Int64")


# --- several rows ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LocalExplanations:
    """Explanations of several rows.

    Attributes
    ----------
    rows : tuple of RowExplanation
        In selection order.
    methods : tuple of str
        The methods asked for.
    skipped : tuple of Skipped
        Every method not run on a row (time budget, regression anchors...), with why.
    notes : tuple of str
        What the run chose for the user (sampling data, background...).
    settings : dict
    """

    rows: tuple[RowExplanation, ...]
    methods: tuple[str, ...]
    skipped: tuple[Skipped, ...] = ()
    notes: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[RowExplanation]:
        return iter(self.rows)

    def __getitem__(self, i: int) -> RowExplanation:
        return self.rows[i]

    def row(self, position: int) -> RowExplanation:
        """The explanation of the row at ``position`` in the data."""
        for r in self.rows:
            if r.position == position:
                return r
        raise InvalidInputError(
            f"Row {position!r} was not explained; explained rows: "
            f"{', '.join(str(r.position) for r in self.rows)}.",
            fix="pass the position of an explained row.",
        )

    def disagreements(self) -> tuple[RowExplanation, ...]:
        """Rows where SHAP and LIME disagree."""
        return tuple(r for r in self.rows if r.agreement is not None and not r.agreement.agree)

    def frame(self) -> pd.DataFrame:
        """One line per row: why it was chosen, prediction, each method's gist, agreement."""
        return pd.DataFrame([r.summary() for r in self.rows])

    def agreement_frame(self) -> pd.DataFrame:
        """One line per row with both SHAP and LIME: the top features and the agreement."""
        lines = []
        for r in self.rows:
            if r.agreement is None:
                continue
            a = r.agreement
            lines.append(
                {
                    "position": r.position,
                    "label": r.label,
                    "reason": r.reason,
                    "shap_top": ", ".join(a.shap_top),
                    "lime_top": ", ".join(a.lime_top),
                    "overlap": a.overlap,
                    "jaccard": a.jaccard,
                    "kendall_tau": a.kendall_tau,
                    "sign_agreement": a.sign_agreement,
                    "agree": a.agree,
                }
            )
        columns = ["position", "label", "reason", "shap_top", "lime_top", "overlap", "jaccard",
                   "kendall_tau", "sign_agreement", "agree"]  # fmt: skip
        return pd.DataFrame(lines, columns=columns)

    def anchors_frame(self) -> pd.DataFrame:
        """One line per row with an anchor: rule, label, precision, coverage, valid."""
        lines = [
            {
                "position": r.position,
                "label": r.label,
                "reason": r.reason,
                "rule": r.anchor.rule or "(empty)",
                "prediction": r.anchor.label,
                "precision": r.anchor.precision,
                "coverage": r.anchor.coverage,
                "valid": r.anchor.valid,
            }
            for r in self.rows
            if r.anchor is not None
        ]
        columns = ["position", "label", "reason", "rule", "prediction", "precision", "coverage",
                   "valid"]  # fmt: skip
        return pd.DataFrame(lines, columns=columns)

    def skipped_frame(self) -> pd.DataFrame:
        """``method, position, reason`` of everything not run."""
        return pd.DataFrame(
            [s.to_dict() for s in self.skipped], columns=["method", "position", "reason"]
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: settings, notes, every row, what was skipped."""
        return {
            "methods": list(self.methods),
            "settings": {
                k: _json_value(v) if not isinstance(v, list | tuple | dict) else v
                for k, v in self.settings.items()
            },
            "notes": list(self.notes),
            "n_rows": len(self.rows),
            "n_disagreements": len(self.disagreements()),
            "rows": [r.to_dict() for r in self.rows],
            "skipped": [s.to_dict() for s in self.skipped],
        }

    def plot(self, *, ax: Any = None) -> Any:
        """Agreement per row: the Jaccard index and Kendall's tau of SHAP against LIME."""
        from afterfit.plots import OKABE_ITO, _axes

        df = self.agreement_frame()
        k = len(df)
        fig, ax = _axes(ax, (7.0, 1.4 + 0.4 * max(k, 3)))
        if k == 0:
            ax.text(0.5, 0.5, "no row has both SHAP and LIME", ha="center", va="center")
            ax.axis("off")
            return fig
        y = np.arange(k)[::-1]
        names = [f"row {p} ({r})" for p, r in zip(df["position"], df["reason"], strict=True)]
        ax.barh(y + 0.2, df["jaccard"], height=0.4, color=OKABE_ITO[0], label="Jaccard (top-k)")
        tau = df["kendall_tau"].astype(float).fillna(0.0)
        ax.barh(y - 0.2, tau, height=0.4, color=OKABE_ITO[1], label="Kendall's tau")
        ax.axvline(0.0, color="grey", linewidth=1)
        ax.set_yticks(y, names)
        ax.set_xlim(-1.05, 1.05)
        ax.set_xlabel("agreement of SHAP and LIME (1: same features, same order)")
        ax.set_title("SHAP–LIME agreement per row")
        ax.legend(loc="lower left", fontsize="small")
        return fig


# --- running -----------------------------------------------------------------------------------


def _check_methods(methods: Any, allowed: Sequence[str], name: str = "methods") -> tuple[str, ...]:
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    try:
        items = [str(m).strip().lower() for m in methods]
    except TypeError:
        items = None
    if not items:
        raise InvalidInputError(
            f"The argument {name!r} must list at least one of {', '.join(allowed)}; "
            f"received {methods!r}.",
            fix=f"pass for example {name}=({', '.join(map(repr, allowed))}).",
        )
    unknown = [m for m in items if m not in allowed]
    if unknown:
        raise InvalidInputError(
            f"Unknown explanation method(s) {', '.join(map(repr, unknown))} in {name!r}; "
            f"the methods are {', '.join(allowed)}.",
            fix=f"pass some of: {', '.join(allowed)}.",
        )
    return tuple(m for m in allowed if m in items)


def _check_budget(time_budget: Any) -> float | None:
    if time_budget is None:
        return None
    try:
        value = float(time_budget)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(time_budget, bool) or not (value >= 0 and math.isfinite(value)):
        raise InvalidInputError(
            f"The argument 'time_budget' must be a number of seconds >= 0 or None; received "
            f"{time_budget!r}.",
            fix="pass time_budget=60 to give each slow method a minute, or None for no limit.",
        )
    return value


def _row_seed(random_state: int | None, position: int | None) -> int | None:
    """Each row's own seed: a row's explanation does not depend on the other rows."""
    if random_state is None:
        return None
    return (int(random_state) + (position or 0)) % (2**32)


def non_numeric_columns(frame: pd.DataFrame, extra: Sequence[Any] | None = None) -> list[str]:
    """Columns LIME and anchors treat as categories: non-numeric dtypes (and booleans),
    plus those listed in ``extra`` (names or positions)."""
    cols = [str(c) for c in frame.columns]
    out = {
        str(c)
        for c in frame.columns
        if not pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])
    }
    for item in extra or ():
        if (
            isinstance(item, int | np.integer)
            and not isinstance(item, bool)
            and 0 <= item < len(cols)
        ):
            out.add(cols[int(item)])
        elif str(item) in cols:
            out.add(str(item))
    return [c for c in cols if c in out]


def sampling_data(
    train: pd.DataFrame | None,
    fallback: pd.DataFrame | None,
    *,
    categorical_features: Sequence[Any] | None,
    methods: Sequence[str],
) -> tuple[pd.DataFrame, str | None]:
    """The rows LIME and anchors sample perturbations from, and a note when not ``train``.

    Without ``train``, the explained data stands in for numeric features (its quartiles and
    spread); categorical features need the training categories and their frequencies, so
    they are an error.
    """
    names = " and ".join(m if m != "lime" else "LIME" for m in methods)
    if train is not None:
        return train, None
    if fallback is None or len(fallback) < 2:
        raise InvalidInputError(
            f"{names} need training rows to sample perturbations from, and 'train' is None.",
            fix="pass train=X_train (the data the model was fitted on, or a sample of it; "
            "CLI: --train train.parquet), or leave out "
            + " and ".join(repr(m) for m in methods)
            + " from the methods.",
        )
    categorical = non_numeric_columns(fallback, categorical_features)
    if categorical:
        shown = ", ".join(map(repr, categorical[:10])) + (", ..." if len(categorical) > 10 else "")
        raise InvalidInputError(
            f"{names} sample categorical features from the training data's categories, "
            f"and 'train' is None; the categorical column(s) are {shown}.",
            fix="pass train=X_train (CLI: --train train.parquet), or leave out "
            + " and ".join(repr(m) for m in methods)
            + " from the methods.",
        )
    note = (
        f"No training data was given: {names} sampled perturbations from the explained data "
        f"({len(fallback):,} rows) instead; pass the training data for explanations faithful "
        "to the training distribution."
    )
    return fallback, note


def quiet_shap_import() -> None:
    """Import shap with its import-time warnings silenced (matplotlib colormap deprecations
    from shap's own plotting module: nothing the user can act on)."""
    import contextlib
    import warnings

    with warnings.catch_warnings(), contextlib.suppress(ImportError):
        warnings.simplefilter("ignore")
        import shap  # noqa: F401


@dataclass
class _Clock:
    """Time spent per method, against the budget."""

    budget: float | None
    spent: dict[str, float] = field(default_factory=dict)
    done: dict[str, int] = field(default_factory=dict)

    def exhausted(self, method: str) -> bool:
        if self.budget is None or self.done.get(method, 0) == 0:
            return False  # the first row of each method always runs
        return self.spent.get(method, 0.0) >= self.budget

    def add(self, method: str, seconds: float) -> None:
        self.spent[method] = self.spent.get(method, 0.0) + seconds
        self.done[method] = self.done.get(method, 0) + 1

    def reason(self, method: str, total: int) -> str:
        return (
            f"time budget: {method} had spent {self.spent.get(method, 0.0):.1f} s of its "
            f"{self.budget:g} s after {self.done.get(method, 0)} of {total} rows"
        )


def _row_frame(row: Any, feature_names: Sequence[str] | None, dtypes: Any) -> pd.DataFrame:
    """One row as a one-row frame with sensible dtypes."""
    from afterfit.data import as_frame

    if isinstance(row, pd.DataFrame) or (
        type(row).__module__.split(".")[0] == "polars" and hasattr(row, "columns")
    ):
        frame = as_frame(row, feature_names=feature_names)
    elif isinstance(row, pd.Series):
        # a Series of mixed types is object; one record per column gets each its own dtype
        frame = pd.DataFrame([dict(zip(map(str, row.index), row.tolist(), strict=True))])
    elif isinstance(row, Mapping):
        frame = pd.DataFrame([{str(k): v for k, v in row.items()}])
    else:
        values = np.asarray(row, dtype=object)
        if values.ndim == 2 and values.shape[0] == 1:
            values = values[0]
        if values.ndim != 1:
            raise InvalidInputError(
                f"The row to explain must be one row; received shape {np.shape(row)}.",
                fix="pass X.iloc[i] (a Series), X.iloc[[i]] or a 1-D array.",
            )
        if feature_names is None or len(feature_names) != len(values):
            raise InvalidInputError(
                f"The row to explain is an array of {len(values)} values, and the model does "
                "not record feature names to match them with"
                + ("" if feature_names is None else f" ({len(feature_names)} features)")
                + ".",
                fix="pass the row as a pandas Series (or one-row frame) named by column.",
            )
        frame = pd.DataFrame([values.tolist()], columns=list(feature_names))
        frame = frame.infer_objects()
    if len(frame) != 1:
        raise InvalidInputError(
            f"The row to explain must be one row; received a table of {len(frame)} rows.",
            fix="pass X.iloc[[i]], or use explain_local for several rows.",
        )
    if dtypes is not None:
        for c in frame.columns:
            if c in dtypes.index and frame[c].dtype != dtypes[c]:
                try:
                    frame[c] = frame[c].astype(dtypes[c])
                except (TypeError, ValueError):
                    pass
    return frame


def _classes(m: Any, n_cols: int) -> list[Any]:
    classes = list(m.classes_) if m.classes_ is not None else list(range(n_cols))
    return [c.item() if isinstance(c, np.generic) else c for c in classes]


def _run_rows(
    m: Any,
    frame: pd.DataFrame,
    selected: Sequence[SelectedRow | None],
    *,
    methods: tuple[str, ...],
    true_values: Sequence[Any] | None,
    train: pd.DataFrame | None,
    background: pd.DataFrame | None,
    fallback: pd.DataFrame | None,
    categorical_features: Sequence[Any] | None,
    num_features: int,
    num_samples: int,
    top_k: int,
    min_jaccard: float,
    min_tau: float,
    shap_options: Mapping[str, Any] | None,
    lime_options: Mapping[str, Any] | None,
    anchor_options: Mapping[str, Any] | None,
    time_budget: float | None,
    random_state: int | None,
    progress: Progress | None,
    notes: list[str],
) -> tuple[list[RowExplanation], list[Skipped]]:
    """Explain rows of ``frame`` (already checked against the model) with each method.

    ``selected[i]`` describes ``frame``'s row ``i`` (None for a row passed alone). SHAP
    compares with ``background``; LIME and anchors sample from ``train``, else from
    ``fallback`` when it is all numeric (see :func:`sampling_data`).
    """
    from afterfit.explain.anchors import AnchorTabular
    from afterfit.explain.lime import LimeTabular, held_note
    from afterfit.explain.shap_values import shap_values

    n = len(frame)
    clock = _Clock(time_budget)
    skipped: list[Skipped] = []
    seconds: list[dict[str, float]] = [{} for _ in range(n)]
    row_skips: list[list[Skipped]] = [[] for _ in range(n)]

    def tick(method: str) -> None:
        if progress is not None:
            progress(method, clock.done.get(method, 0), n)

    # What each row's prediction is, and which class SHAP and LIME explain.
    scores = np.asarray(m.predict_scores(frame), dtype=np.float64)
    predicted = np.asarray(m.predict(frame))
    task = m.task
    explained_class: list[Any] = [None] * n
    explained: list[str] = ["prediction"] * n
    if task != "regression":
        classes = _classes(m, scores.shape[1])
        kind = "P" if getattr(m, "scores_are_probabilities", True) else "score"
        for i in range(n):
            # binary: the positive class, as SHAP; multiclass: the top-scored class
            k = 1 if task == "binary" else int(np.argmax(scores[i]))
            explained_class[i] = classes[k]
            explained[i] = f"{kind}(class={classes[k]})"

    # SHAP
    shap_rows: list[ShapRow | None] = [None] * n
    sv = None
    if "shap" in methods:
        quiet_shap_import()
        options = dict(shap_options or {})
        options.setdefault("random_state", random_state)
        bg = background
        first = time.perf_counter()
        try:
            sv = shap_values(m, frame.iloc[[0]], background=bg, **options)
        except Exception as exc:  # named in skipped; the other methods go on
            sv = None
            skipped.append(failure("shap", None, exc))
    if "shap" in methods and sv is not None:
        clock.add("shap", time.perf_counter() - first)
        seconds[0]["shap"] = time.perf_counter() - first
        shap_rows[0] = ShapRow.from_shap_values(sv, 0, class_=explained_class[0])
        tick("shap")
        if sv.algorithm not in SLOW_SHAP and n > 1:  # exact and fast: every row at once
            start = time.perf_counter()
            rest = shap_values(m, frame.iloc[1:], background=bg, **options)
            per_row = (time.perf_counter() - start) / (n - 1)
            for i in range(1, n):
                shap_rows[i] = ShapRow.from_shap_values(rest, i - 1, class_=explained_class[i])
                seconds[i]["shap"] = per_row
                clock.done["shap"] = clock.done.get("shap", 0) + 1
            tick("shap")
        elif n > 1:
            notes.append(
                f"SHAP used the {sv.algorithm} explainer (model-agnostic, slow): one row at a "
                "time" + (", under the time budget" if time_budget is not None else "") + "."
            )
        slow_shap = sv.algorithm in SLOW_SHAP
    else:
        slow_shap = False

    lime_explainer = anchor_explainer = None
    needs_data = [x for x in ("lime", "anchors") if x in methods]
    data = None
    if needs_data:
        try:
            data, note = sampling_data(
                train, fallback, categorical_features=categorical_features, methods=needs_data,
            )  # fmt: skip
        except Exception as exc:  # named in skipped; the other methods go on
            skipped.extend(failure(x, None, exc) for x in needs_data)
        else:
            if note:
                notes.append(note)
    if data is not None and "lime" in methods:
        try:
            lime_explainer = LimeTabular(
                data, categorical_features=categorical_features, random_state=random_state,
                **dict(lime_options or {}),
            )  # fmt: skip
        except Exception as exc:  # named in skipped; the other methods go on
            skipped.append(failure("lime", None, exc))
        else:
            if lime_explainer.fixed:
                notes.append(held_note("LIME", lime_explainer.fixed))
    if data is not None and "anchors" in methods:
        try:
            anchor_explainer = AnchorTabular(
                data, categorical_features=categorical_features, random_state=random_state
            )
        except Exception as exc:  # named in skipped; the other methods go on
            skipped.append(failure("anchors", None, exc))
        else:
            if anchor_explainer.fixed:
                notes.append(held_note("Anchors", anchor_explainer.fixed))

    lime_rows: list[LimeExplanation | None] = [None] * n
    anchor_rows: list[AnchorExplanation | None] = [None] * n
    for i in range(n):
        sel = selected[i]
        position = None if sel is None else sel.position
        seed = _row_seed(random_state, position)
        row = frame.iloc[i]
        work: list[tuple[str, Callable[[], Any]]] = []
        if slow_shap and i > 0:
            work.append(("shap", lambda i=i: _one_shap(shap_values, m, frame, i, bg, options,
                                                     explained_class[i])))  # fmt: skip
        if lime_explainer is not None:
            work.append(("lime", lambda row=row, i=i, seed=seed: lime_explainer.explain(
                m, row, num_features=num_features, num_samples=num_samples,
                labels=explained_class[i], random_state=seed)))  # fmt: skip
        if anchor_explainer is not None:
            work.append(("anchors", lambda row=row, seed=seed: anchor_explainer.explain(
                m, row, random_state=seed, **dict(anchor_options or {}))))  # fmt: skip
        for method, run in work:
            if clock.exhausted(method):
                skip = Skipped(method, position, clock.reason(method, n))
                row_skips[i].append(skip)
                skipped.append(skip)
                continue
            start = time.perf_counter()
            try:
                result = run()
            except Exception as exc:  # named in skipped; the others go on
                skip = failure(method, position, exc)
                row_skips[i].append(skip)
                skipped.append(skip)
                clock.add(method, time.perf_counter() - start)
                continue
            took = time.perf_counter() - start
            clock.add(method, took)
            seconds[i][method] = took
            if method == "shap":
                shap_rows[i] = result
            elif method == "lime":
                lime_rows[i] = result
            else:
                anchor_rows[i] = result
            tick(method)

    out = []
    for i in range(n):
        sel = selected[i]
        agreement = None
        if shap_rows[i] is not None and lime_rows[i] is not None:
            lime = lime_rows[i]
            agreement = rank_agreement(
                shap_rows[i].weights(),
                {c: float(w) for c, w in zip(lime.columns, lime.weights, strict=True)},
                k=min(top_k, len(frame.columns)),
                min_jaccard=min_jaccard,
                min_tau=min_tau,
            )
        pred = predicted[i]
        out.append(
            RowExplanation(
                row=frame.iloc[i],
                position=None if sel is None else sel.position,
                label=None if sel is None else sel.label,
                reason="user" if sel is None else sel.reason,
                detail="" if sel is None else sel.detail,
                prediction=pred.item() if isinstance(pred, np.generic) else pred,
                true_value=None if true_values is None else _json_value(true_values[i]),
                explained=explained[i],
                explained_class=explained_class[i],
                shap=shap_rows[i],
                lime=lime_rows[i],
                anchor=anchor_rows[i],
                agreement=agreement,
                skipped=tuple(row_skips[i]),
                seconds=seconds[i],
            )
        )
    return out, skipped


def _one_shap(
    shap_values: Callable[..., ShapValues],
    m: Any,
    frame: pd.DataFrame,
    i: int,
    bg: pd.DataFrame | None,
    options: Mapping[str, Any],
    class_: Any,
) -> ShapRow:
    sv = shap_values(m, frame.iloc[[i]], background=bg, **options)
    return ShapRow.from_shap_values(sv, 0, class_=class_)


def _methods_for(
    m: Any, methods: Any, default: tuple[str, ...], notes: list[str]
) -> tuple[str, ...]:
    """The methods to run: explicit ones are checked; the default drops what cannot apply."""
    if methods is None:
        chosen = default
        if m.task == "regression" and "anchors" in chosen:
            chosen = tuple(x for x in chosen if x != "anchors")
            notes.append("anchors explain a classifier's label; left out for a regression model.")
        return chosen
    chosen = _check_methods(methods, LOCAL_METHODS)
    if m.task == "regression" and "anchors" in chosen:
        raise InvalidInputError(
            "Anchors explain a classifier's predicted label; the model is a regression model.",
            fix="leave 'anchors' out of the methods for a regression model.",
        )
    return chosen


def _frame_of(data: Any, m: Any, what: str) -> pd.DataFrame | None:
    from afterfit.data import as_frame, check_features

    if data is None:
        return None
    try:
        frame = check_features(as_frame(data, feature_names=m.feature_names), m)
    except SchemaError as exc:  # say which data: the rows explained are fine
        raise SchemaError(
            f"The {what} rows (argument {what!r}"
            + ("; --train on the command line" if what == "train" else "")
            + f"): {exc.problem}",
            fix=exc.fix,
        ) from None
    if len(frame) == 0:
        raise InvalidInputError(
            f"The argument {what!r} has no rows.",
            fix=f"pass rows in {what}, or leave it out.",
        )
    return frame


def explain_row(
    model: Any,
    row: Any,
    *,
    methods: Sequence[str] | None = LOCAL_METHODS,
    train: Any = None,
    background: Any = None,
    categorical_features: Sequence[str | int] | None = None,
    y_true: Any = None,
    num_features: int = 10,
    num_samples: int = 5000,
    top_k: int = 5,
    min_jaccard: float = 0.25,
    min_tau: float = -0.2,
    shap_options: Mapping[str, Any] | None = None,
    lime_options: Mapping[str, Any] | None = None,
    anchor_options: Mapping[str, Any] | None = None,
    random_state: int | None = None,
) -> RowExplanation:
    """Explain one prediction with SHAP, LIME and anchors, side by side.

    Parameters
    ----------
    model : object
        Anything :func:`afterfit.models.as_model` takes.
    row : pandas.Series, one-row frame, mapping or 1-D array
        The row, with the model's features (an array in the model's feature order).
    methods : sequence of {"shap", "lime", "anchors"}, default all three
        ``None``: every method that applies (no anchors for regression).
    train : table, optional
        Training rows: LIME and anchors sample perturbations from them, and SHAP uses them
        as background unless ``background`` is given. Required for LIME and anchors.
    background : table, optional
        SHAP's background rows (default ``train``).
    categorical_features : sequence of str or int, optional
        Columns LIME and anchors treat as categories (non-numeric columns always are).
    y_true : optional
        The row's true label or value, shown beside the prediction.
    num_features, num_samples : int
        LIME: features in the explanation and perturbation samples.
    top_k : int, default 5
        Features compared by the agreement (:func:`rank_agreement`).
    min_jaccard, min_tau : float, default 0.25 and -0.2
        Agreement thresholds (:func:`rank_agreement`).
    shap_options : mapping, optional
        More arguments of :func:`~afterfit.explain.shap_values.shap_values` (``algorithm``,
        ``max_background``, ``max_evals``...).
    lime_options : mapping, optional
        More arguments of :class:`~afterfit.explain.lime.LimeTabular` (``discretize``,
        ``kernel_width``).
    anchor_options : mapping, optional
        Arguments of :meth:`~afterfit.explain.anchors.AnchorTabular.explain`
        (``threshold``, ``max_anchor_size``, ``coverage_samples``...).
    random_state : int, optional
        Seed of every method: the same seed gives the same explanation.

    Returns
    -------
    RowExplanation
        ``shap`` (:class:`ShapRow`, with its additivity), ``lime``, ``anchor``,
        ``agreement``, ``frame()``, ``to_dict()``, ``plot()``.

    Raises
    ------
    InvalidInputError
        An unknown method, anchors for a regression model, SHAP without background or
        LIME/anchors without training rows, or a row that does not fit the model.
    """
    from afterfit.models import as_model

    m = as_model(model)
    notes: list[str] = []
    chosen = _methods_for(m, methods, LOCAL_METHODS, notes)
    train_frame = _frame_of(train, m, "train")
    bg_frame = _frame_of(background, m, "background")
    if "shap" in chosen and train_frame is None and bg_frame is None:
        raise InvalidInputError(
            "SHAP needs background rows to compare the row with, and neither 'background' "
            "nor 'train' was given.",
            fix="pass train=X_train (or background=), or leave 'shap' out of the methods.",
        )
    needs = [x for x in ("lime", "anchors") if x in chosen]
    if needs and train_frame is None:  # fail before any work when nothing can be sampled
        sampling_data(None, bg_frame, categorical_features=categorical_features, methods=needs)
    from afterfit.data import check_features

    dtypes = train_frame.dtypes if train_frame is not None else None
    frame = check_features(_row_frame(row, m.feature_names, dtypes), m)
    if isinstance(row, pd.Series) and row.name is not None:
        label = row.name.item() if isinstance(row.name, np.generic) else row.name
    else:
        label = None
    rows, _ = _run_rows(
        m, frame, [SelectedRow(0, label, "user", "")] if label is not None else [None],
        methods=chosen, true_values=None if y_true is None else [y_true], train=train_frame,
        background=bg_frame if bg_frame is not None else train_frame, fallback=bg_frame,
        categorical_features=categorical_features,
        num_features=num_features, num_samples=num_samples, top_k=top_k,
        min_jaccard=min_jaccard, min_tau=min_tau, shap_options=shap_options,
        lime_options=lime_options, anchor_options=anchor_options, time_budget=None,
        random_state=random_state, progress=None, notes=notes,
    )  # fmt: skip
    # a Series' name is its index label, not a position in any data the call knows
    return dataclasses.replace(rows[0], position=None, label=label, notes=tuple(notes))


def explain_local(
    model: Any,
    X: Any,
    y: Any = None,
    *,
    rows: Any = None,
    by: str = "auto",
    methods: Sequence[str] | None = None,
    train: Any = None,
    background: Any = None,
    categorical_features: Sequence[str | int] | None = None,
    n_errors: int = 3,
    n_uncertain: int = 3,
    n_random: int = 2,
    num_features: int = 10,
    num_samples: int = 5000,
    top_k: int = 5,
    min_jaccard: float = 0.25,
    min_tau: float = -0.2,
    shap_options: Mapping[str, Any] | None = None,
    lime_options: Mapping[str, Any] | None = None,
    anchor_options: Mapping[str, Any] | None = None,
    time_budget: float | None = None,
    random_state: int | None = 0,
    progress: Progress | None = None,
    selection: RowSelection | None = None,
) -> LocalExplanations:
    """Explain several rows of ``X``: the user's, and with ``y`` the rows worth a look.

    Parameters
    ----------
    model : object
        Anything :func:`afterfit.models.as_model` takes.
    X : table
        The data (pandas or polars frame, 2-D array).
    y : array-like, optional
        True labels or values. With ``y``, the most confident errors, least confident
        predictions (or largest residuals) and a few random rows are added to ``rows``
        (:func:`~afterfit.explain.rows.select_rows`); without it, ``rows`` is required.
    rows : sequence, optional
        Rows to explain first: positions or index labels of ``X`` (see ``by``).
    by : {"auto", "position", "label"}, default "auto"
        How ``rows`` are read (:func:`~afterfit.explain.rows.resolve_rows`).
    methods : sequence of {"shap", "lime", "anchors"}, optional
        Default: every method that applies (no anchors for regression).
    train : table, optional
        Training rows: LIME and anchors sample from them, SHAP uses them as background.
        Without them, numeric data is sampled from ``X`` (a note says so); categorical
        features are then an error.
    background : table, optional
        SHAP's background (default ``train``, else ``X``).
    categorical_features : sequence of str or int, optional
    n_errors, n_uncertain, n_random : int
        Rows selected per reason (with ``y``).
    num_features, num_samples, top_k, min_jaccard, min_tau
        As :func:`explain_row`.
    shap_options, lime_options, anchor_options : mapping, optional
        As :func:`explain_row`.
    time_budget : float, optional
        Seconds each slow method (LIME, anchors, permutation/kernel SHAP) may spend before
        it stops starting new rows (the first row always runs); skipped rows are listed in
        ``skipped``.
    random_state : int, optional
        Seed of the random rows and of every method; row ``p`` is explained with the seed
        ``random_state + p``, whatever else is explained.
    progress : callable, optional
        Called as ``progress(method, rows_done, rows_total)`` after each row of a method.
    selection : RowSelection, optional
        Rows already selected (overrides ``rows`` and the automatic selection).

    Returns
    -------
    LocalExplanations
        ``rows``, ``frame()``, ``agreement_frame()``, ``anchors_frame()``,
        ``disagreements()``, ``to_dict()``, ``plot()``.

    Raises
    ------
    InvalidInputError
        Rows out of range or not in the index, no rows to explain, an unknown method,
        missing training data for categorical features, or a bad option.
    """
    from afterfit.data import as_frame, check_features
    from afterfit.models import as_model
    from afterfit.predictions import Predictions

    m = as_model(model)
    notes: list[str] = []
    chosen = _methods_for(m, methods, LOCAL_METHODS, notes)
    budget = _check_budget(time_budget)
    raw = as_frame(X, feature_names=m.feature_names)
    index = raw.index
    frame = check_features(raw, m)
    if len(frame) == 0:
        raise InvalidInputError("X has no rows to explain.", fix="pass at least one row.")
    preds = None
    if y is not None and selection is None:
        preds = Predictions.from_model(m, frame, y)
    if selection is None:
        if preds is None:
            if rows is None:
                raise InvalidInputError(
                    "explain_local needs the rows to explain: pass rows=, or the true values "
                    "y so afterfit can pick the most confident errors and least confident "
                    "predictions.",
                    fix="pass rows=[17, 42] (positions or index labels), or y.",
                )
            selection = select_rows(
                Predictions.from_arrays(np.zeros(len(frame)), np.zeros(len(frame)),
                                        task="regression"),
                rows=rows, index=index, by=by, n_errors=0, n_uncertain=0, n_random=0,
            )  # fmt: skip
        else:
            selection = select_rows(
                preds, rows=rows, index=index, by=by, n_errors=n_errors,
                n_uncertain=n_uncertain, n_random=n_random, random_state=random_state,
            )  # fmt: skip
    if len(selection) == 0:
        raise InvalidInputError(
            "No rows were selected to explain.",
            fix="pass rows=, or counts n_errors/n_uncertain/n_random above 0.",
        )
    positions = selection.positions
    sub = frame.iloc[positions]
    true_values = None
    if y is not None:
        y_arr = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
        true_values = [y_arr[p] for p in positions]
    train_frame = _frame_of(train, m, "train")
    bg_frame = _frame_of(background, m, "background")
    if bg_frame is None:
        bg_frame = train_frame
    if "shap" in chosen and bg_frame is None:
        bg_frame = frame
        notes.append(
            "No training data was given: SHAP's background is a sample of the explained data X."
        )
    rows_out, skipped = _run_rows(
        m, sub, list(selection.rows), methods=chosen, true_values=true_values,
        train=train_frame, background=bg_frame, fallback=frame,
        categorical_features=categorical_features, num_features=num_features,
        num_samples=num_samples, top_k=top_k, min_jaccard=min_jaccard,
        min_tau=min_tau,
        shap_options=shap_options, lime_options=lime_options,
        anchor_options=anchor_options, time_budget=budget, random_state=random_state,
        progress=progress, notes=notes,
    )  # fmt: skip
    settings = {
        "methods": list(chosen),
        "num_features": int(num_features),
        "num_samples": int(num_samples),
        "top_k": int(top_k),
        "min_jaccard": float(min_jaccard),
        "min_tau": float(min_tau),
        "time_budget": budget,
        "random_state": random_state,
        "train_rows": None if train_frame is None else len(train_frame),
    }
    return LocalExplanations(
        rows=tuple(rows_out),
        methods=chosen,
        skipped=tuple(skipped),
        notes=tuple(notes),
        settings=settings,
    )
