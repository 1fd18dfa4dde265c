"""Leakage suspects, each backed by evidence that can be checked.

A near-perfect score alone is not evidence of leakage: wine, digits and breast cancer are
easy problems, and an honest model scores near 1 on them. What leakage leaves behind is
more specific, and each check here fires on one such trace and says what it saw:

- **shared rows**: test rows whose feature values appear, identically, in the training
  rows (row hashes): the model's score on them measures memory;
- **one feature alone**: a single feature whose univariate ranking quality (ROC AUC, one
  class against the rest for multiclass) or fit (R², the larger of Pearson's and
  Spearman's squared correlation) is near perfect *and* at least the model's own, and on
  which the model rests (half its skill goes when the feature is permuted): a copy of the
  target, or a field known only after the outcome;
- **an identifier the model relies on**: a column that is a unique integer per row, in row
  order or densely numbered, whose permutation importance is a real share of the model's
  skill: row numbers carry signal only when the rows were sorted by the outcome;
- **collapse**: permuting one feature takes away nearly all of a near-perfect model's skill
  above chance; named so that someone who knows the data can say whether it is plausible.

Thresholds were set on a corpus of honest models (every bundled scikit-learn dataset, 3-4
model kinds each: no finding) and planted leaks (each found); ``tests/test_leakage_findings.py``
holds it and prints both rates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["LEAK_AUC", "LEAK_R2", "Suspect", "leakage_suspects", "univariate_scores"]

#: A single feature whose univariate ROC AUC reaches this is near-perfect on its own.
LEAK_AUC = 0.99
#: A single feature whose univariate R² reaches this is near-perfect on its own.
LEAK_R2 = 0.95
#: ... and the model must rest on it: its permutation importance this share of the skill.
RELIANCE_SHARE = 0.75
#: A univariate score this high counts alone, whatever the model's reliance on it.
LEAK_AUC_ALONE = 0.999
LEAK_R2_ALONE = 0.99
#: ... and it must be at least the model's score minus this margin.
MODEL_MARGIN = 0.02
#: Share of the test rows found in the training rows that counts as shared rows ...
SHARED_SHARE = 0.1
#: ... and at least this many rows (a few duplicates occur in honest data: iris has some).
SHARED_MIN_ROWS = 5
#: An identifier is relied on when its permutation importance is this share of the skill.
ID_SHARE = 0.1
#: Collapse: permuting one feature removes this share of the skill above chance ...
COLLAPSE_SHARE = 0.9
#: ... of a model whose score is at least this (ROC AUC; R² uses LEAK_R2).
COLLAPSE_AUC = 0.995
#: Categorical columns with more levels than this have no univariate score (ordering many
#: levels by their target means would be perfect by construction).
MAX_LEVELS = 20


@dataclass(frozen=True)
class Suspect:
    """One leakage suspect: the feature (None for shared rows), the check, the text."""

    check: str
    feature: str | None
    text: str
    evidence: dict[str, Any]


def _auc(x: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC of ``x`` ranking ``positive`` first, either direction (max(auc, 1 - auc))."""
    from scipy.stats import rankdata

    n1 = int(positive.sum())
    n0 = len(positive) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(x)
    auc = (r[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)
    return float(max(auc, 1.0 - auc))


def _as_numbers(col: pd.Series, y: np.ndarray, task: str) -> np.ndarray | None:
    """A column as numbers for a univariate score; categories are ordered by their mean
    target (None for many levels, where that order would fit noise)."""
    if pd.api.types.is_bool_dtype(col):
        return col.astype(float).to_numpy()
    if pd.api.types.is_numeric_dtype(col) and not isinstance(col.dtype, pd.CategoricalDtype):
        return col.to_numpy(dtype=np.float64)
    if pd.api.types.is_datetime64_any_dtype(col):
        return col.astype("int64").to_numpy(dtype=np.float64)
    codes, levels = pd.factorize(col, use_na_sentinel=False)
    if len(levels) > MAX_LEVELS:
        return None
    if task == "multiclass":
        return codes.astype(np.float64)  # each class-vs-rest AUC orders itself
    # binary labels may be text ('yes'/'no'): the share of one class orders the levels
    target = (y == np.unique(y)[-1]).astype(float) if task == "binary" else y.astype(float)
    means = pd.Series(target).groupby(codes).mean()
    return means.reindex(codes).to_numpy(dtype=np.float64)


def univariate_scores(X: pd.DataFrame, y: Any, task: str) -> dict[str, float]:
    """Each feature's score alone: ROC AUC (binary; multiclass: macro one-vs-rest) or R².

    Missing values are left out per feature. R² is the larger of Pearson's and Spearman's
    squared correlations (a linear or monotone fit).
    """
    y = np.asarray(y)
    out: dict[str, float] = {}
    for c in X.columns:
        col = X[c]
        keep = ~col.isna().to_numpy()
        if keep.sum() < 10:
            continue
        x = _as_numbers(col[keep], y[keep], task)
        if x is None or np.nanstd(x) == 0:
            continue
        yk = y[keep]
        if task == "regression":
            yf = yk.astype(np.float64)
            if np.std(yf) == 0:
                continue
            pearson = np.corrcoef(x, yf)[0, 1]
            spearman = pd.Series(x).rank().corr(pd.Series(yf).rank())
            out[str(c)] = float(np.nanmax([pearson**2, spearman**2]))
        else:
            classes = np.unique(yk)
            if len(classes) < 2:
                continue
            if len(classes) == 2:
                out[str(c)] = _auc(x, yk == classes[1])
            else:
                if not pd.api.types.is_numeric_dtype(col):
                    # categories: each class's own ordering (share of that class per level)
                    codes = pd.factorize(col[keep], use_na_sentinel=False)[0]
                    aucs = [
                        _auc(pd.Series(yk == k).groupby(codes).transform("mean").to_numpy(),
                             yk == k)
                        for k in classes
                    ]  # fmt: skip
                else:
                    # a class in the middle of the range is found by its distance to the
                    # class's mean (a one-dimensional nearest centroid), not by x itself
                    aucs = [
                        max(_auc(x, yk == k), _auc(-np.abs(x - x[yk == k].mean()), yk == k))
                        for k in classes
                    ]
                out[str(c)] = float(np.nanmean(aucs))
    return out


def _model_score(scores: np.ndarray, y: np.ndarray, task: str, classes: Sequence[Any]) -> float:
    from sklearn.metrics import r2_score, roc_auc_score

    try:
        if task == "regression":
            return float(r2_score(y, np.asarray(scores).reshape(-1)))
        if task == "binary":
            s = np.asarray(scores)
            return float(roc_auc_score(y == classes[1], s[:, -1] if s.ndim == 2 else s))
        return float(roc_auc_score(y, scores, multi_class="ovr", average="macro", labels=classes))
    except ValueError:
        return float("nan")


def _reliance(permutation: Any, chance: float | None) -> dict[str, float]:
    """Each feature's permutation importance as a share of the skill above chance."""
    p = permutation
    if p is None or chance is None or not p.higher_is_better:
        return {}
    skill = float(p.baseline) - float(chance)
    if skill <= 0:
        return {}
    imp = np.asarray(p.importance, dtype=np.float64)
    return {str(f): float(imp[j] / skill) for j, f in enumerate(p.features) if np.isfinite(imp[j])}


def _row_hashes(frame: pd.DataFrame) -> np.ndarray:
    return pd.util.hash_pandas_object(frame.reset_index(drop=True), index=False).to_numpy()


def _id_like(col: pd.Series, other: pd.Series | None = None) -> bool:
    """A unique integer per row, in row order or densely numbered (over the test rows and,
    when given, the training rows: a random split leaves gaps in each part's numbers)."""
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return False
    x = col.to_numpy(dtype=np.float64)
    if other is not None and pd.api.types.is_numeric_dtype(other):
        x = np.concatenate([x, other.to_numpy(dtype=np.float64)])
    n = len(x)
    if n < 20 or np.isnan(x).any() or not np.all(x == np.round(x)):
        return False
    if len(np.unique(x)) != n:
        return False
    in_order = bool(np.all(np.diff(x) > 0) or np.all(np.diff(x) < 0))
    dense = (x.max() - x.min() + 1) <= 2 * n
    return in_order or dense


def leakage_suspects(
    X: pd.DataFrame,
    y: Any,
    *,
    task: str,
    scores: np.ndarray,
    classes: Sequence[Any] | None,
    train: pd.DataFrame | None = None,
    permutation: Any = None,
    chance: float | None = None,
) -> tuple[Suspect, ...]:
    """Every leakage suspect in ``X`` (the test rows), with its evidence.

    Parameters
    ----------
    X : pandas.DataFrame
        The explained rows, in the model's columns.
    y : array-like
        Their true values.
    task : {"binary", "multiclass", "regression"}
    scores : numpy.ndarray
        The model's ``predict_scores`` on ``X``.
    classes : sequence, optional
        The model's classes (classifiers).
    train : pandas.DataFrame, optional
        The training rows (for shared rows).
    permutation : PermutationImportance, optional
        For the identifier and collapse checks (its metric must have a known chance level).
    chance : float, optional
        The permutation metric's chance level.

    Returns
    -------
    tuple of Suspect
        Empty when nothing points at leakage.
    """
    y = np.asarray(y)
    out: list[Suspect] = []
    metric = "r2" if task == "regression" else "roc_auc"
    model = _model_score(scores, y, task, list(classes) if classes is not None else [])

    if train is not None and len(X):
        shared = np.isin(_row_hashes(X), _row_hashes(train[list(X.columns)]))
        k = int(shared.sum())
        if k >= SHARED_MIN_ROWS and k >= SHARED_SHARE * len(X):
            out.append(
                Suspect(
                    "shared rows",
                    None,
                    f"leakage suspect: {k:,} of the {len(X):,} test rows ({k / len(X):.0%}) "
                    "also appear in the training rows with identical feature values; the "
                    "score on them measures memory, not generalisation (remove duplicates "
                    "before splitting, or split by entity).",
                    {"shared_rows": k, "test_rows": len(X)},
                )
            )

    limit = LEAK_R2 if task == "regression" else LEAK_AUC
    uni = univariate_scores(X, y, task)
    reliance = _reliance(permutation, chance)
    for c, s in sorted(uni.items(), key=lambda t: -t[1]):
        # An honest feature can be near-perfect alone (iris' petal length: AUC 0.998, the
        # model resting 60% on it), so a near-perfect one counts only when the model rests
        # on it (75% of its skill). A flawless one (AUC 0.999, R² 0.99) counts whatever the
        # reliance: a leak among strong honest features (breast cancer) leaves the others
        # to carry the score when it is permuted.
        relied = reliance.get(c)
        flawless = s >= (LEAK_R2_ALONE if task == "regression" else LEAK_AUC_ALONE)
        strong = flawless or (relied is not None and s >= limit and relied >= RELIANCE_SHARE)
        if strong and (not np.isfinite(model) or s >= model - MODEL_MARGIN):
            out.append(
                Suspect(
                    "one feature alone",
                    c,
                    f"leakage suspect: feature {c!r} alone reaches {metric} {s:.3f} (the "
                    f"model: {model:.3f}); a single column this close to the target is "
                    "usually derived from it or known only after the outcome: check how it "
                    "is recorded.",
                    {
                        "univariate": s,
                        "model": model,
                        "metric": metric,
                        "reliance": relied,
                    },
                )
            )

    p = permutation
    if p is not None and chance is not None and p.higher_is_better:
        skill = float(p.baseline) - float(chance)
        imp = np.asarray(p.importance, dtype=np.float64)
        named = {s.feature for s in out}
        if skill > 0:
            for j, feature in enumerate(p.features):
                if feature in named or feature not in X.columns or not np.isfinite(imp[j]):
                    continue
                share = imp[j] / skill
                other = None if train is None or feature not in train else train[feature]
                if _id_like(X[feature], other) and share >= ID_SHARE:
                    out.append(
                        Suspect(
                            "identifier",
                            feature,
                            f"leakage suspect: feature {feature!r} looks like a row "
                            "identifier (a unique integer per row) and the model relies on "
                            f"it (permutation importance {imp[j]:.3g}, {share:.0%} of its "
                            f"{p.metric} above chance); row numbers predict only when rows "
                            "were ordered by the outcome.",
                            {"importance": float(imp[j]), "share": float(share)},
                        )
                    )
                    named.add(feature)
            near_perfect = (
                p.baseline >= LEAK_R2 if task == "regression" else p.baseline >= COLLAPSE_AUC
            )
            if near_perfect and p.metric in ("r2", "roc_auc", "roc_auc_ovr_macro"):
                j = int(np.nanargmax(imp))
                feature = p.features[j]
                if feature not in named and imp[j] >= COLLAPSE_SHARE * skill:
                    out.append(
                        Suspect(
                            "collapse",
                            feature,
                            f"leakage suspect: feature {feature!r}: permuting it takes away "
                            f"{min(imp[j] / skill, 1.0):.0%} of the model's {p.metric} above "
                            f"chance ({p.baseline:.3g} − {chance:.3g}), so this near-perfect "
                            "model rests on it alone; is that plausible for this column?",
                            {"importance": float(imp[j]), "skill": skill},
                        )
                    )
    return tuple(out)
