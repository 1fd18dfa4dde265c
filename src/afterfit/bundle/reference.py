"""Reference statistics for drift: what the training data (and the model's scores on it)
looked like, stored as counts in a bundle's ``reference.json``.

Per numeric feature: a quantile sketch (``n_quantiles`` points of the sorted data, with
the exact fraction of the reference at or below each, for the Kolmogorov-Smirnov
statistic), the PSI bin edges (deciles by default; they are points of the sketch, so one
``searchsorted`` against the sketch gives both the PSI counts and the KS counts),
the reference counts per PSI bin, minimum, maximum, mean, standard deviation and the
missing fraction. Per categorical feature: the category frequencies, the rarest beyond
``max_categories`` pooled into an "other" bucket (which also takes categories never seen
in training). The model's scores on the reference rows get the same treatment: the
positive-class probability (``score``), each column of a class-probability matrix
(``proba_<class>``) or the regression values (``prediction``).

Bins are right-closed: bin ``j`` holds the values in ``(edge[j-1], edge[j]]``; NaN is
missing and counted apart; infinite values fall in the outer bins.

Example
-------
>>> ref = ReferenceStats.from_frame(X_train, scores=model.predict_proba(X_train)[:, 1])
>>> json.dumps(ref.to_dict())                      # reference.json
>>> ref.drift_score(recent_requests)               # mean PSI, for a live gauge
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from afterfit import jsonsafe
from afterfit.bundle.drift import psi
from afterfit.errors import InvalidInputError

__all__ = [
    "FORMAT",
    "CategoricalStats",
    "NumericStats",
    "ReferenceStats",
    "category_keys",
]

#: The ``format`` field of a reference document; bump on incompatible changes.
FORMAT = "afterfit.reference/1"
#: Label of the bucket that pools rare and unseen categories.
OTHER = "__other__"


def _finite_float(value: Any) -> float:
    return float("nan") if value is None else float(value)


@dataclass(frozen=True, eq=False)
class NumericStats:
    """Reference distribution of one numeric column.

    Attributes
    ----------
    name : str
        Column name.
    n, n_missing : int
        Non-missing and missing reference rows.
    sketch : ndarray
        Ascending unique points: reference quantiles (data values) and the PSI edges.
    cdf : ndarray
        Exact fraction of the non-missing reference at or below each sketch point.
    edges : ndarray
        PSI cut points (a subset of ``sketch``); ``len(edges) + 1`` bins.
    edge_index : ndarray
        Position of each edge in ``sketch``.
    counts : ndarray
        Reference counts per PSI bin.
    minimum, maximum, mean, std : float
        Of the non-missing reference.
    """

    name: str
    n: int
    n_missing: int
    sketch: np.ndarray
    cdf: np.ndarray
    edges: np.ndarray
    edge_index: np.ndarray
    counts: np.ndarray
    minimum: float
    maximum: float
    mean: float
    std: float
    kind: str = field(default="numeric", init=False)

    @classmethod
    def from_values(
        cls, name: str, values: Any, *, n_bins: int = 10, n_quantiles: int = 1000
    ) -> NumericStats:
        """Reference statistics of ``values`` (non-finite values count as missing)."""
        x = np.asarray(values, dtype=np.float64).ravel()
        finite = np.isfinite(x)
        xs = np.sort(x[finite])
        n = int(xs.size)
        n_missing = int(x.size - n)
        if n == 0:
            empty = np.empty(0)
            return cls(
                name=str(name),
                n=0,
                n_missing=n_missing,
                sketch=empty,
                cdf=empty,
                edges=empty,
                edge_index=np.empty(0, dtype=np.int64),
                counts=np.zeros(1, dtype=np.int64),
                minimum=float("nan"),
                maximum=float("nan"),
                mean=float("nan"),
                std=float("nan"),
            )
        # Data points, not interpolations: atoms of a discrete feature stay exact.
        at = np.rint(np.linspace(0, 1, max(int(n_quantiles), 2)) * (n - 1)).astype(np.int64)
        edges = np.unique(np.quantile(xs, np.arange(1, n_bins) / n_bins, method="lower"))
        sketch = np.unique(np.concatenate([xs[at], edges]))
        cdf = np.searchsorted(xs, sketch, side="right") / n
        edge_index = np.searchsorted(sketch, edges)
        stats = cls(
            name=str(name),
            n=n,
            n_missing=n_missing,
            sketch=sketch,
            cdf=cdf,
            edges=edges,
            edge_index=edge_index.astype(np.int64),
            counts=np.zeros(edges.size + 1, dtype=np.int64),
            minimum=float(xs[0]),
            maximum=float(xs[-1]),
            mean=float(xs.mean()),
            std=float(xs.std(ddof=1)) if n > 1 else 0.0,
        )
        object.__setattr__(stats, "counts", stats.psi_counts(stats.sketch_counts(xs)[0]))
        return stats

    @property
    def missing_rate(self) -> float:
        """Fraction of reference rows that are missing."""
        total = self.n + self.n_missing
        return self.n_missing / total if total else float("nan")

    def sketch_counts(self, values: Any) -> tuple[np.ndarray, int]:
        """Counts of ``values`` between consecutive sketch points, and the missing count.

        Entry ``j`` counts the values in ``(sketch[j-1], sketch[j]]``; the last entry
        those above the largest point. NaN is left out and counted as missing. Works on
        float32 as well as float64 arrays (no copy of the input beyond numpy's cast).
        """
        x = np.asarray(values)
        if x.dtype.kind not in "fiub":
            x = pd.to_numeric(pd.Series(x), errors="coerce").to_numpy(dtype=np.float64)
        idx = np.searchsorted(self.sketch, x, side="left")
        counts = np.bincount(idx, minlength=self.sketch.size + 1).astype(np.int64)
        n_missing = 0
        if x.dtype.kind == "f":
            # NaN sorts above everything: it landed in the last bin; take it out.
            n_missing = int(np.count_nonzero(np.isnan(x)))
            counts[-1] -= n_missing
        return counts, n_missing

    def psi_counts(self, sketch_counts: np.ndarray) -> np.ndarray:
        """PSI bin counts from :meth:`sketch_counts` (the edges are sketch points)."""
        sketch_counts = np.asarray(sketch_counts)
        starts = np.concatenate([[0], self.edge_index + 1])
        return np.add.reduceat(sketch_counts, starts)

    def bin_counts(self, values: Any) -> np.ndarray:
        """Counts of ``values`` in the PSI bins (missing left out)."""
        x = np.asarray(values)
        if x.dtype.kind not in "fiub":
            x = pd.to_numeric(pd.Series(x), errors="coerce").to_numpy(dtype=np.float64)
        idx = np.searchsorted(self.edges, x, side="left")
        counts = np.bincount(idx, minlength=self.edges.size + 1)
        if x.dtype.kind == "f":
            counts[-1] -= int(np.count_nonzero(np.isnan(x)))
        return counts

    def cdf_at(self, points: Any) -> np.ndarray:
        """The reference CDF at ``points``, interpolated linearly between sketch points."""
        points = np.asarray(points, dtype=float)
        if self.sketch.size == 0:
            return np.full(points.shape, np.nan)
        return np.interp(points, self.sketch, self.cdf, left=0.0, right=1.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (see :meth:`ReferenceStats.to_dict`)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "n": self.n,
            "n_missing": self.n_missing,
            "min": jsonsafe.number(self.minimum),
            "max": jsonsafe.number(self.maximum),
            "mean": jsonsafe.number(self.mean),
            "std": jsonsafe.number(self.std),
            "edges": [float(v) for v in self.edges],
            "counts": [int(v) for v in self.counts],
            "sketch": [float(v) for v in self.sketch],
            "cdf": [float(v) for v in self.cdf],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NumericStats:
        """Inverse of :meth:`to_dict` (every value checked: see :func:`_column_doc`)."""
        what, n, n_missing = _column_doc(d)
        sketch = _floats(d, "sketch", what)
        cdf = _floats(d, "cdf", what)
        edges = _floats(d, "edges", what)
        counts = _counts(d, what)
        if (
            cdf.size != sketch.size
            or counts.size != edges.size + 1
            or np.any(np.diff(sketch) <= 0)
            or np.any((cdf < 0) | (cdf > 1))
            or not np.isin(edges, sketch).all()
        ):
            raise InvalidInputError(
                f"{what} is inconsistent: the sketch must ascend, with one cdf value in "
                "[0, 1] per point, the edges among its points, and one count more than edges.",
                fix=_FIX,
            )
        stats = [
            jsonsafe.field(d, k, "number", what=what, required=False, nullable=True)
            for k in ("min", "max", "mean", "std")
        ]
        return cls(
            name=str(d["name"]),
            n=n,
            n_missing=n_missing,
            sketch=sketch,
            cdf=cdf,
            edges=edges,
            edge_index=np.searchsorted(sketch, edges).astype(np.int64),
            counts=counts,
            minimum=_finite_float(stats[0]),
            maximum=_finite_float(stats[1]),
            mean=_finite_float(stats[2]),
            std=_finite_float(stats[3]),
        )


_FIX = "rebuild the bundle (afterfit bundle) so that its reference.json is current."


def _column_doc(d: Any) -> tuple[str, int, int]:
    """The name and row counts of a column's document, checked."""
    what = "A column of reference.json"
    if isinstance(d, Mapping) and isinstance(d.get("name"), str):
        what = f"The column {d['name'][:100]!r} of reference.json"
    d = dict(d) if isinstance(d, Mapping) else d
    jsonsafe.field(d, "name", "text", what=what)
    n = jsonsafe.field(d, "n", "integer", what=what)
    n_missing = jsonsafe.field(d, "n_missing", "integer", what=what)
    if n < 0 or n_missing < 0:
        raise InvalidInputError(f"{what} has a negative row count.", fix=_FIX)
    return what, n, n_missing


def _floats(d: Mapping[str, Any], key: str, what: str) -> np.ndarray:
    values = jsonsafe.field(d, key, "list", what=what)
    if not all(
        isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) for v in values
    ):
        raise InvalidInputError(f"{what}: {key!r} must be a list of finite numbers.", fix=_FIX)
    return np.asarray(values, dtype=np.float64)


def _counts(d: Mapping[str, Any], what: str) -> np.ndarray:
    values = jsonsafe.field(d, "counts", "list", what=what)
    if not values or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**63 for v in values
    ):
        raise InvalidInputError(
            f"{what}: 'counts' must be a non-empty list of non-negative integers.", fix=_FIX
        )
    return np.asarray(values, dtype=np.int64)


def category_keys(values: Any) -> pd.Series:
    """Values as the text keys categories are stored under (missing stays missing).

    Text stays as it is; numbers, booleans and other values become ``str(value)``, so a
    category learned from integers matches the same integers read back from a log.
    """
    s = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values, dtype=object))
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    missing = s.isna()
    keys = s.astype(object).where(missing, s.astype(str))
    return keys.where(~missing, None)


@dataclass(frozen=True, eq=False)
class CategoricalStats:
    """Reference distribution of one categorical column.

    Attributes
    ----------
    name : str
        Column name.
    n, n_missing : int
        Non-missing and missing reference rows.
    categories : tuple of str
        The categories kept (most frequent first, or the schema's order).
    counts : ndarray
        Reference count per category, then one for "other" (rare or unseen).
    """

    name: str
    n: int
    n_missing: int
    categories: tuple[str, ...]
    counts: np.ndarray
    kind: str = field(default="categorical", init=False)

    @classmethod
    def from_values(
        cls,
        name: str,
        values: Any,
        *,
        categories: Sequence[Any] | None = None,
        max_categories: int = 50,
    ) -> CategoricalStats:
        """Reference statistics of ``values``; ``categories`` fixes the list to keep."""
        keys = category_keys(values)
        observed = keys.dropna()
        if categories is None:
            freq = observed.value_counts(sort=True)
            kept = tuple(str(c) for c in freq.index[: int(max_categories)])
        else:
            kept = tuple(dict.fromkeys(str(c) for c in categories))
        stats = cls(
            name=str(name),
            n=int(observed.size),
            n_missing=int(keys.size - observed.size),
            categories=kept,
            counts=np.zeros(len(kept) + 1, dtype=np.int64),
        )
        object.__setattr__(stats, "counts", stats.bin_counts(keys)[0])
        return stats

    @property
    def missing_rate(self) -> float:
        """Fraction of reference rows that are missing."""
        total = self.n + self.n_missing
        return self.n_missing / total if total else float("nan")

    @property
    def labels(self) -> list[str]:
        """Category labels of :attr:`counts` (the last one "other")."""
        return [*self.categories, OTHER]

    def bin_counts(self, values: Any) -> tuple[np.ndarray, int]:
        """Counts of ``values`` per category (+ other), and the missing count."""
        keys = category_keys(values)
        codes, uniques = pd.factorize(keys, use_na_sentinel=True)
        # Map the few distinct values, not the many rows.
        position = pd.Index(self.categories, dtype=object).get_indexer(
            pd.Index(uniques, dtype=object)
        )
        position = np.where(position < 0, len(self.categories), position)
        per_unique = np.bincount(codes[codes >= 0], minlength=len(uniques))
        counts = np.bincount(
            position, weights=per_unique, minlength=len(self.categories) + 1
        ).astype(np.int64)
        return counts, int(np.count_nonzero(codes < 0))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (see :meth:`ReferenceStats.to_dict`)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "n": self.n,
            "n_missing": self.n_missing,
            "categories": list(self.categories),
            "counts": [int(v) for v in self.counts],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CategoricalStats:
        """Inverse of :meth:`to_dict` (every value checked)."""
        what, n, n_missing = _column_doc(d)
        categories = jsonsafe.field(d, "categories", "list", what=what)
        counts = _counts(d, what)
        if not all(jsonsafe.is_label(c) for c in categories):
            raise InvalidInputError(f"{what}: a category is not a label.", fix=_FIX)
        if counts.size != len(categories) + 1:
            raise InvalidInputError(
                f"{what} has {counts.size} counts for {len(categories)} categories (one "
                "more, for 'other', expected).",
                fix=_FIX,
            )
        return cls(
            name=str(d["name"]),
            n=n,
            n_missing=n_missing,
            categories=tuple(str(c) for c in categories),
            counts=counts,
        )


ColumnStats = NumericStats | CategoricalStats

_CATEGORICAL_WORDS = {"categorical", "category", "string", "str", "object", "bool", "boolean"}


def _schema_columns(schema: Any) -> dict[str, dict[str, Any]]:
    """``{name: {"kind": ..., "categories": ...}}`` from a schema object or dict.

    Accepts an object with ``to_dict()``, a dict with a list under ``columns``,
    ``fields`` or ``features`` (or a ``{name: spec}`` mapping), each spec naming its
    type under ``kind``, ``type`` or ``dtype`` and optionally its ``categories``.
    """
    if schema is None:
        return {}
    if hasattr(schema, "to_dict"):
        schema = schema.to_dict()
    if not isinstance(schema, Mapping):
        return {}
    specs: Any = None
    for key in ("columns", "fields", "features"):
        if key in schema:
            specs = schema[key]
            break
    if specs is None:
        specs = schema
    if isinstance(specs, Mapping):
        specs = [{"name": k, **v} for k, v in specs.items() if isinstance(v, Mapping)]
    out: dict[str, dict[str, Any]] = {}
    for spec in specs if isinstance(specs, Iterable) else []:
        if not isinstance(spec, Mapping) or "name" not in spec:
            continue
        kind = str(spec.get("kind", spec.get("type", spec.get("dtype", "")))).lower()
        categories = spec.get("categories")
        is_cat = bool(categories) or kind in _CATEGORICAL_WORDS
        out[str(spec["name"])] = {
            "kind": "categorical" if is_cat else "numeric",
            "categories": list(categories) if categories else None,
        }
    return out


def _is_categorical_dtype(series: pd.Series) -> bool:
    return not (
        pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series)
    )


def _score_columns(
    scores: np.ndarray, classes: Sequence[Any] | None
) -> list[tuple[str, np.ndarray]]:
    s = np.asarray(scores)
    if s.ndim == 1 or (s.ndim == 2 and s.shape[1] == 1):
        s = s.reshape(-1)
        if classes is not None and len(classes) == 2:
            return [(f"proba_{classes[1]}", s)]
        # Without classes the task is unknown: the monitor reads "score" as the
        # positive-class probability of a classifier or the value of a regressor.
        return [("score", s)]
    if s.ndim == 2:
        names = list(classes) if classes is not None else list(range(s.shape[1]))
        if len(names) != s.shape[1]:
            raise InvalidInputError(
                f"scores has {s.shape[1]} columns but {len(names)} classes were given.",
                fix="pass one class per column of the probability matrix.",
            )
        return [(f"proba_{c}", s[:, j]) for j, c in enumerate(names)]
    raise InvalidInputError(
        f"scores must be 1-D or 2-D; got shape {s.shape}.",
        fix="pass the positive-class probability, the probability matrix or the regression values.",
    )


@dataclass(frozen=True, eq=False)
class ReferenceStats:
    """The reference for drift: per-column statistics of the training data and scores.

    Build it with :meth:`from_frame`; store it with :meth:`to_dict` (a bundle's
    ``reference.json``) and read it back with :meth:`from_dict`.

    Attributes
    ----------
    features : dict of str to NumericStats or CategoricalStats
        Per feature, in the frame's column order.
    predictions : dict of str to NumericStats
        Per score column: ``score`` (positive-class probability), ``proba_<class>``
        (columns of a probability matrix) or ``prediction`` (regression values).
    n_rows : int
        Reference rows.
    n_bins, n_quantiles : int
        PSI bins and sketch size asked for.
    """

    features: dict[str, ColumnStats]
    predictions: dict[str, ColumnStats]
    n_rows: int
    n_bins: int = 10
    n_quantiles: int = 1000

    @classmethod
    def from_frame(
        cls,
        X: pd.DataFrame,
        *,
        scores: np.ndarray | None = None,
        schema: Any = None,
        n_bins: int = 10,
        n_quantiles: int = 1000,
        classes: Sequence[Any] | None = None,
        max_categories: int = 50,
    ) -> ReferenceStats:
        """Reference statistics of a training frame and the model's scores on it.

        Parameters
        ----------
        X : DataFrame
            The reference rows (training or validation data), features only.
        scores : ndarray, optional
            The model's scores on ``X``: the positive-class probability (1-D), the
            class-probability matrix (2-D) or the regression values (1-D).
        schema : object or dict, optional
            The bundle's input schema; columns it calls categorical (or that have
            categories) are treated as categorical with its category list. Without it,
            numeric dtypes are numeric and everything else (text, bool, category) is
            categorical.
        n_bins : int
            PSI bins per numeric feature (quantile bins; 10 = deciles).
        n_quantiles : int
            Points of the quantile sketch used for the KS statistic.
        classes : sequence, optional
            Class labels, naming the score columns ``proba_<class>`` as the prediction
            log does (for a 1-D binary score, the positive class is ``classes[1]``).
        max_categories : int
            Most frequent categories kept per categorical feature; the rest is "other".

        Returns
        -------
        ReferenceStats
        """
        if not isinstance(X, pd.DataFrame):
            raise InvalidInputError(
                f"X must be a pandas DataFrame; got {type(X).__name__}.",
                fix="pass the reference rows as a DataFrame with the feature columns.",
            )
        if len(X) == 0:
            raise InvalidInputError(
                "The reference frame has no rows.",
                fix="build the reference from the training (or validation) data.",
            )
        for name, value, low in (
            ("n_bins", n_bins, 2),
            ("n_quantiles", n_quantiles, 2),
            ("max_categories", max_categories, 1),
        ):
            if not isinstance(value, int | np.integer) or value < low:
                raise InvalidInputError(
                    f"{name}={value!r} is not an integer >= {low}.",
                    fix=f"pass {name} as an integer of at least {low}.",
                )
        spec = _schema_columns(schema)
        features: dict[str, ColumnStats] = {}
        for name in X.columns:
            column = X[name]
            info = spec.get(str(name))
            categorical = info["kind"] == "categorical" if info else _is_categorical_dtype(column)
            if categorical:
                features[str(name)] = CategoricalStats.from_values(
                    str(name),
                    column,
                    categories=info["categories"] if info else None,
                    max_categories=max_categories,
                )
            else:
                features[str(name)] = NumericStats.from_values(
                    str(name), column, n_bins=n_bins, n_quantiles=n_quantiles
                )
        predictions: dict[str, ColumnStats] = {}
        if scores is not None:
            if np.asarray(scores).shape[0] != len(X):
                raise InvalidInputError(
                    f"scores has {np.asarray(scores).shape[0]} rows but X has {len(X)}.",
                    fix="pass the model's scores on exactly the rows of X.",
                )
            for name, values in _score_columns(scores, classes):
                predictions[name] = NumericStats.from_values(
                    name, values, n_bins=n_bins, n_quantiles=n_quantiles
                )
        return cls(
            features=features,
            predictions=predictions,
            n_rows=len(X),
            n_bins=int(n_bins),
            n_quantiles=int(n_quantiles),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: ``format``, ``n_rows``, ``n_bins``, ``n_quantiles`` and the
        lists ``features`` and ``predictions`` of per-column dicts (``name``, ``kind``,
        ``n``, ``n_missing`` and, numeric, ``edges``, ``counts``, ``sketch``, ``cdf``,
        ``min``, ``max``, ``mean``, ``std``; categorical, ``categories`` and ``counts``
        with the "other" count last)."""
        return {
            "format": FORMAT,
            "n_rows": int(self.n_rows),
            "n_bins": int(self.n_bins),
            "n_quantiles": int(self.n_quantiles),
            "features": [s.to_dict() for s in self.features.values()],
            "predictions": [s.to_dict() for s in self.predictions.values()],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReferenceStats:
        """Read a reference written by :meth:`to_dict`."""
        if not isinstance(d, Mapping) or d.get("format") != FORMAT:
            got = d.get("format") if isinstance(d, Mapping) else type(d).__name__
            raise InvalidInputError(
                f"Not an afterfit reference document (format {got!r}, expected {FORMAT!r}).",
                fix="rebuild the bundle with this afterfit version so that its "
                "reference.json is current.",
            )

        what = "reference.json"
        d = dict(d)

        def column(c: Any) -> ColumnStats:
            if isinstance(c, Mapping) and c.get("kind") == "categorical":
                return CategoricalStats.from_dict(c)
            return NumericStats.from_dict(c)

        def columns(key: str) -> dict[str, ColumnStats]:
            items = jsonsafe.field(d, key, "list", what=what, required=False, default=[])
            out = {s.name: s for s in map(column, items)}
            if len(out) != len(items):
                raise InvalidInputError(f"{what} lists a column twice in {key!r}.", fix=_FIX)
            return out

        counts = {
            key: jsonsafe.field(d, key, "integer", what=what, required=required, default=default)
            for key, required, default in (
                ("n_rows", True, None),
                ("n_bins", False, 10),
                ("n_quantiles", False, 1000),
            )
        }
        if counts["n_rows"] < 0 or counts["n_bins"] < 1 or counts["n_quantiles"] < 2:
            raise InvalidInputError(
                f"{what} has n_rows < 0, n_bins < 1 or n_quantiles < 2.", fix=_FIX
            )
        return cls(
            features=columns("features"),
            predictions=columns("predictions"),
            n_rows=counts["n_rows"],
            n_bins=counts["n_bins"],
            n_quantiles=counts["n_quantiles"],
        )

    def feature_psi(self, frame: pd.DataFrame) -> dict[str, float]:
        """PSI of each reference feature present in ``frame`` (missing values left out)."""
        out: dict[str, float] = {}
        for name, stats in self.features.items():
            if name not in frame.columns:
                continue
            if isinstance(stats, CategoricalStats):
                counts = stats.bin_counts(frame[name])[0]
            else:
                counts = stats.bin_counts(frame[name].to_numpy())
            out[name] = psi(stats.counts, counts)
        return out

    def drift_score(self, frame: pd.DataFrame) -> float:
        """Mean PSI over the features in ``frame``: a cheap live drift score.

        Meant for a server's gauge over its recent requests (a few hundred to a few
        thousand rows: well under a millisecond per feature). NaN when no feature of the
        reference is in ``frame`` or the frame is empty.
        """
        values = [v for v in self.feature_psi(frame).values() if np.isfinite(v)]
        return float(np.mean(values)) if values else float("nan")
