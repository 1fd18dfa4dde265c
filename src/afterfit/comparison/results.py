"""Frozen results of a comparison: one row per (pair of models, metric), verdicts, figures."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from afterfit.errors import InvalidInputError
from afterfit.evaluation.results import _num
from afterfit.metrics.binary import MetricKey
from afterfit.models.base import Task

#: Metrics where a smaller value is better; every other metric is better when larger.
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "mae", "rmse", "mse", "mape", "median_ae"})

#: Columns of :meth:`Comparison.frame`, in order.
FRAME_COLUMNS = [
    "model_a", "model_b", "metric", "value_a", "value_b", "difference", "ci_low", "ci_high",
    "p_value", "p_holm", "test", "verdict", "ci_method",
]  # fmt: skip

NO_DIFFERENCE = "no significant difference"
NOT_TESTED = "not tested"


@dataclass(frozen=True)
class ComparisonSettings:
    """How a comparison was computed (``settings`` in ``comparison.json``)."""

    metrics: tuple[str, ...]
    tests: str
    family: str
    alpha: float
    confidence: float
    n_resamples: int
    bootstrap_method: str
    stratify: bool
    random_state: int | None
    baseline: str | None
    beta: float

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["metrics"] = list(self.metrics)
        return d


@dataclass(frozen=True)
class ModelMetric:
    """One model's value of one metric, with its interval."""

    model: str
    metric: str
    value: float
    ci_low: float
    ci_high: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "metric": self.metric,
            "value": _num(self.value),
            "ci_low": _num(self.ci_low),
            "ci_high": _num(self.ci_high),
            "method": self.method,
        }


def _decimals(*values: float) -> int:
    """Decimals that show the spread of ``values`` (a difference and its interval) with
    two significant digits: at least 3, at most 8."""
    finite = [v for v in values if math.isfinite(v)]
    spread = max(finite) - min(finite) if len(finite) > 1 else abs(finite[0]) if finite else 0
    if spread <= 0:
        return 3
    return int(min(8, max(3, 1 - math.floor(math.log10(spread)))))


def _fmt(value: float, decimals: int | None, sign: bool = False) -> str:
    """Fixed decimals on a 0-1 scale; four significant digits (``decimals=None``) on wide
    scales such as regression errors."""
    if not math.isfinite(value):
        return "nan"
    spec = ("+" if sign else "") + (".4g" if decimals is None else f".{decimals}f")
    return format(value, spec)


def _fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return "nan"
    return "< 0.001" if p < 0.001 else f"= {p:.2g}" if p < 0.01 else f"= {p:.3g}"


@dataclass(frozen=True)
class ComparisonRow:
    """The test of ``model_b - model_a`` on one metric.

    ``difference``, ``ci_low`` and ``ci_high`` are always ``value_b - value_a``; ``better``
    names the model judged better (``None`` when ``p_holm >= alpha`` or untested).
    """

    model_a: str
    model_b: str
    metric: str
    value_a: float
    value_b: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    p_holm: float
    test: str
    ci_method: str
    better: str | None
    higher_is_better: bool
    statistic: float = math.nan
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """``"<model> better"``, ``"no significant difference"`` or ``"not tested"``."""
        if self.better is not None:
            return f"{self.better} better"
        return NOT_TESTED if not math.isfinite(self.p_holm) else NO_DIFFERENCE

    def sentence(self) -> str:
        """The verdict as a sentence, e.g. ``"b better than a on roc_auc: +0.012 [0.004,
        0.020], p = 0.003, Holm p = 0.006 (delong)"``.

        A significant difference is shown as *better minus worse* (negative for metrics
        where lower is better); otherwise as ``b - a``.
        """
        d, lo, hi = self.difference, self.ci_low, self.ci_high
        if self.better is not None and self.better == self.model_a:
            d, lo, hi = -d, -hi, -lo
        wide = not math.isfinite(self.value_a + self.value_b) or (
            max(abs(self.value_a), abs(self.value_b)) >= 10
        )
        digits = None if wide else _decimals(d, lo, hi)
        interval = f" [{_fmt(lo, digits)}, {_fmt(hi, digits)}]" if math.isfinite(lo) else ""
        numbers = f"{_fmt(d, digits, sign=True)}{interval}"
        stats = f"p {_fmt_p(self.p_value)}, Holm p {_fmt_p(self.p_holm)} ({self.test})"
        if self.better is not None:
            worse = self.model_a if self.better == self.model_b else self.model_b
            return f"{self.better} better than {worse} on {self.metric}: {numbers}, {stats}"
        if not math.isfinite(self.p_holm):
            return (
                f"{self.metric}: {self.model_b} vs {self.model_a} could not be tested "
                f"(difference {numbers})"
            )
        return (
            f"no significant difference between {self.model_a} and {self.model_b} on "
            f"{self.metric}: {numbers} ({self.model_b} - {self.model_a}), {stats}"
        )

    def record(self) -> tuple[Any, ...]:
        return (
            self.model_a, self.model_b, self.metric, self.value_a, self.value_b,
            self.difference, self.ci_low, self.ci_high, self.p_value, self.p_holm,
            self.test, self.verdict, self.ci_method,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_a": self.model_a,
            "model_b": self.model_b,
            "metric": self.metric,
            "value_a": _num(self.value_a),
            "value_b": _num(self.value_b),
            "difference": _num(self.difference),
            "ci_low": _num(self.ci_low),
            "ci_high": _num(self.ci_high),
            "p_value": _num(self.p_value),
            "p_holm": _num(self.p_holm),
            "test": self.test,
            "ci_method": self.ci_method,
            "statistic": _num(self.statistic),
            "higher_is_better": self.higher_is_better,
            "better": self.better,
            "verdict": self.verdict,
            "sentence": self.sentence(),
            "details": {k: _json(v) for k, v in self.details.items()},
        }


def _json(value: Any) -> Any:
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    return _num(value)


@dataclass(frozen=True, eq=False)
class Comparison:
    """Paired statistical comparison of models scored on the same rows.

    Made by :func:`afterfit.compare_models` or :func:`afterfit.compare_predictions`.

    Attributes
    ----------
    task : {"binary", "multiclass", "regression"}
    models : tuple of str
        Model names, in the order given.
    rows : tuple of ComparisonRow
        One per (pair, metric); pairs ``(a, b)`` in the order given (``a`` first), or
        ``(baseline, other)`` with a baseline.
    model_metrics : tuple of ModelMetric
        Each model's value of each metric, with an interval.
    settings : ComparisonSettings
    n_rows : int
    weighted : bool
    classes : list of str or None
    positive_label : str or None
    thresholds : dict or None
        Binary: each model's decision threshold.
    replicates : dict
        ``replicates[model][metric]``: the paired bootstrap replicates (entry ``b`` of
        every model from the same resample).
    """

    task: Task
    models: tuple[str, ...]
    rows: tuple[ComparisonRow, ...]
    model_metrics: tuple[ModelMetric, ...]
    settings: ComparisonSettings
    n_rows: int
    weighted: bool = False
    classes: list[str] | None = None
    positive_label: str | None = None
    thresholds: dict[str, float] | None = None
    replicates: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        from afterfit.display import one_line, with_interval

        head = None
        if self.rows:
            r = self.rows[0]
            name = f"{r.metric} {r.model_b} - {r.model_a}"
            head = with_interval(name, r.difference, r.ci_low, r.ci_high)
        models = f"{len(self.models)} models"
        return one_line("Comparison", self.task, models, head, f"{self.n_rows:,} rows")

    def _repr_html_(self) -> str:
        """Jupyter's display: headline with intervals, main figure, findings, tables."""
        from afterfit.display import html

        return html(self)

    @property
    def metrics(self) -> tuple[str, ...]:
        return self.settings.metrics

    def _check_model(self, name: str, argument: str = "model") -> None:
        if name not in self.models:
            raise InvalidInputError(
                f"{argument} {name!r} is not one of the compared models: "
                f"{', '.join(map(repr, self.models))}.",
                fix="pass one of those names.",
            )

    def _check_metric(self, metric: str) -> None:
        if metric not in self.metrics:
            raise InvalidInputError(
                f"metric {metric!r} was not compared; the metrics are: {', '.join(self.metrics)}.",
                fix="pass one of those metrics (or compare again with metrics=[...]).",
            )

    def frame(self, *, metric: str | None = None, model: str | None = None) -> pd.DataFrame:
        """One row per (pair, metric).

        Columns: ``model_a, model_b, metric, value_a, value_b, difference`` (``b - a``),
        ``ci_low, ci_high`` (interval of the difference), ``p_value``, ``p_holm`` (Holm
        adjusted within its family), ``test``, ``verdict`` and ``ci_method``.

        Parameters
        ----------
        metric : str, optional
            Only this metric's rows.
        model : str, optional
            Only the pairs that involve this model.
        """
        if metric is not None:
            self._check_metric(metric)
        if model is not None:
            self._check_model(model)
        rows = [
            r
            for r in self.rows
            if (metric is None or r.metric == metric)
            and (model is None or model in (r.model_a, r.model_b))
        ]
        return pd.DataFrame([r.record() for r in rows], columns=FRAME_COLUMNS)

    def pair(self, a: str, b: str) -> pd.DataFrame:
        """The rows comparing models ``a`` and ``b`` (in either order as computed)."""
        self._check_model(a, "model a")
        self._check_model(b, "model b")
        if a == b:
            raise InvalidInputError(
                f"a model is not compared with itself; got {a!r} twice.",
                fix="pass two different model names.",
            )
        df = self.frame()
        hit = ((df.model_a == a) & (df.model_b == b)) | ((df.model_a == b) & (df.model_b == a))
        if not hit.any():
            raise InvalidInputError(
                f"the pair ({a!r}, {b!r}) was not compared (baseline "
                f"{self.settings.baseline!r} compares every model with the baseline only).",
                fix="compare again without baseline=, or ask for a pair with the baseline.",
            )
        return df[hit].reset_index(drop=True)

    def models_frame(self) -> pd.DataFrame:
        """Each model's value of each metric: ``model, metric, value, ci_low, ci_high,
        method``."""
        columns = ["model", "metric", "value", "ci_low", "ci_high", "method"]
        records = [
            (m.model, m.metric, m.value, m.ci_low, m.ci_high, m.method) for m in self.model_metrics
        ]
        return pd.DataFrame(records, columns=columns)

    def verdicts(self, *, significant_only: bool = False) -> list[str]:
        """The verdict of every row as a sentence, e.g. ``"b better than a on roc_auc:
        +0.012 [0.004, 0.020], p = 0.003, Holm p = 0.006 (delong)"``, or ``"no significant
        difference between a and b on ..."`` when ``p_holm >= alpha``."""
        return [r.sentence() for r in self.rows if not significant_only or r.better is not None]

    def to_dict(self) -> dict[str, Any]:
        """The ``comparison`` section of ``comparison.json`` (JSON-safe: NaN is null)."""
        return {
            "task": self.task,
            "n_rows": self.n_rows,
            "weighted": self.weighted,
            "classes": self.classes,
            "positive_label": self.positive_label,
            "thresholds": None
            if self.thresholds is None
            else {k: _num(v) for k, v in self.thresholds.items()},
            "models": list(self.models),
            "settings": self.settings.to_dict(),
            "model_metrics": [m.to_dict() for m in self.model_metrics],
            "comparisons": [r.to_dict() for r in self.rows],
            "verdicts": self.verdicts(),
        }

    def plot(self, *, kind: str = "models", **kwargs: Any) -> Any:
        """A matplotlib figure.

        ``kind="models"``: one panel per metric, each model's value with its interval.
        ``kind="differences"``: one panel per metric, each pair's difference ``b - a`` with
        its interval, coloured by verdict.
        """
        from afterfit import plots

        if kind == "models":
            return plots.plot_comparison(self, **kwargs)
        if kind == "differences":
            return plots.plot_comparison_differences(self, **kwargs)
        raise InvalidInputError(
            f"kind must be 'models' or 'differences'; got {kind!r}.",
            fix="pass kind='models' (the default) or kind='differences'.",
        )


def metric_key(name: str) -> MetricKey:
    return (name, None)
