"""Cross-validation splitters, checked before any model is fitted.

:func:`make_splitter` builds a scikit-learn splitter (k-fold, stratified, group,
stratified-group, time-series with a gap; repeated variants) and checks up front that the
data allows it: a stratified splitter asking for more folds than the smallest class has
rows, a group splitter asking for more folds than there are groups, a time-series split
whose gap leaves no training rows, all stop with an :class:`~afterfit.errors.InvalidInputError`
that names the class, the count and the fix. :func:`split_indices` runs a splitter (or
checks a ready list of ``(train, test)`` index pairs) and returns the pairs as ``int64``
arrays.

Repeats: scikit-learn's ``RepeatedKFold`` and ``RepeatedStratifiedKFold`` for the plain and
stratified kinds; :class:`RepeatedSplitter` (one shuffled splitter per repeat, seeds spawned
from ``random_state``) for the group kinds, which scikit-learn does not repeat.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from afterfit.errors import InvalidInputError
from afterfit.predictions import label_text

__all__ = [
    "SPLITTERS",
    "RepeatedSplitter",
    "check_splitter",
    "make_splitter",
    "n_repeats_of",
    "split_indices",
    "splitter_kind",
]

#: The kinds :func:`make_splitter` accepts.
SPLITTERS: tuple[str, ...] = (
    "auto",
    "kfold",
    "stratified",
    "group",
    "stratified-group",
    "timeseries",
)
_GROUPED = ("group", "stratified-group")
_CLASSIFICATION = ("binary", "multiclass", "classification")


class RepeatedSplitter:
    """``n_repeats`` runs of a shuffling splitter, each seeded differently.

    scikit-learn repeats only k-fold and stratified k-fold; this repeats any splitter made
    by ``factory(seed)`` (group and stratified-group k-fold). Folds come repeat by repeat,
    as scikit-learn's repeated splitters give them.

    Parameters
    ----------
    factory : callable
        ``factory(seed)`` returns a splitter shuffled with that seed.
    n_repeats : int
    seeds : sequence of int
        One seed per repeat.
    """

    def __init__(self, factory: Callable[[int], Any], n_repeats: int, seeds: Sequence[int]) -> None:
        self.factory = factory
        self.n_repeats = int(n_repeats)
        self.seeds = list(seeds)
        self._splitters = [factory(s) for s in self.seeds]
        self.base = self._splitters[0]

    @property
    def n_splits(self) -> int:
        """Folds per repeat."""
        return int(self.base.get_n_splits())

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """Folds in all: folds per repeat times repeats."""
        return self.n_splits * self.n_repeats

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Train and test indices of every fold, repeat by repeat."""
        for splitter in self._splitters:
            yield from splitter.split(X, y, groups)

    def __repr__(self) -> str:
        return f"RepeatedSplitter({self.base!r}, n_repeats={self.n_repeats})"


def make_splitter(
    kind: str = "auto",
    n_splits: int = 5,
    n_repeats: int = 1,
    *,
    shuffle: bool = True,
    gap: int = 0,
    random_state: int | None = None,
    task: str | None = None,
    y: Any = None,
    groups: Any = None,
) -> Any:
    """A cross-validation splitter, checked against the data when it is given.

    Parameters
    ----------
    kind : {"auto", "kfold", "stratified", "group", "stratified-group", "timeseries"}
        ``"auto"``: ``"group"`` when ``groups`` is given, else ``"stratified"`` for
        classification (``task`` binary or multiclass, or a ``y`` of class labels) and
        ``"kfold"`` for regression.
    n_splits : int
        Folds per repeat (at least 2).
    n_repeats : int
        Repeats with different shuffles (not for ``"timeseries"``).
    shuffle : bool
        Shuffle rows (or groups) before cutting folds; repeats always shuffle.
    gap : int
        ``"timeseries"`` only: rows left out between the end of each training set and its
        test set (scikit-learn's ``TimeSeriesSplit(gap=...)``).
    random_state : int, optional
        Seed of the shuffles: the same seed gives the same folds.
    task : {"binary", "multiclass", "regression"}, optional
        Decides ``"auto"``; inferred from ``y`` when omitted.
    y : array-like, optional
        Target; checked against stratified splitters (each class needs ``n_splits`` rows).
    groups : array-like, optional
        Group of each row; needed by the group kinds, checked against ``n_splits``.

    Returns
    -------
    splitter
        A scikit-learn splitter (``split``, ``get_n_splits``) or a
        :class:`RepeatedSplitter`; ``n_repeats_of(splitter)`` gives its repeats.

    Raises
    ------
    InvalidInputError
        An unknown kind, fewer than 2 folds, more folds than the smallest class, than the
        groups or than the rows, a gap that leaves no training rows, groups given to a kind
        that ignores them (or missing for one that needs them).

    Examples
    --------
    >>> sp = make_splitter("stratified", 5, 2, random_state=0, y=[0, 1] * 10)
    >>> sp.get_n_splits()
    10
    """
    from sklearn import model_selection as ms

    kind = resolve_kind(kind, task=task, y=y, groups=groups)
    n_splits = _positive_int(n_splits, "n_splits", minimum=2)
    n_repeats = _positive_int(n_repeats, "n_repeats", minimum=1)
    gap = _positive_int(gap, "gap", minimum=0)
    if gap and kind != "timeseries":
        raise InvalidInputError(
            f"gap={gap} was given with the {kind!r} splitter; only the 'timeseries' splitter "
            "leaves a gap between training and test rows.",
            fix="pass kind='timeseries' (--splitter timeseries), or leave the gap out.",
        )
    if groups is not None and kind not in _GROUPED:
        raise InvalidInputError(
            f"groups were given, but the {kind!r} splitter ignores them, so rows of one group "
            "would land in both the training and the test folds.",
            fix="use kind='group' or 'stratified-group' (or 'auto'), or leave the groups out.",
        )
    if kind in _GROUPED and groups is None:
        raise InvalidInputError(
            f"the {kind!r} splitter needs the group of every row; no groups were given.",
            fix="pass groups=... (CLI: --groups COLUMN), or use kind='kfold'/'stratified'.",
        )
    seed = None if random_state is None else int(random_state)
    if kind == "timeseries":
        if n_repeats > 1:
            raise InvalidInputError(
                f"n_repeats={n_repeats} with the 'timeseries' splitter: its folds follow the "
                "row order, so every repeat would be the same.",
                fix="pass n_repeats=1 (--repeats 1) with --splitter timeseries.",
            )
        splitter: Any = ms.TimeSeriesSplit(n_splits=n_splits, gap=gap)
    elif kind == "kfold":
        if n_repeats > 1:
            splitter = ms.RepeatedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
        else:
            splitter = ms.KFold(n_splits, shuffle=shuffle, random_state=seed if shuffle else None)
    elif kind == "stratified":
        if n_repeats > 1:
            splitter = ms.RepeatedStratifiedKFold(
                n_splits=n_splits, n_repeats=n_repeats, random_state=seed
            )
        else:
            splitter = ms.StratifiedKFold(
                n_splits, shuffle=shuffle, random_state=seed if shuffle else None
            )
    else:
        cls = ms.GroupKFold if kind == "group" else ms.StratifiedGroupKFold
        if n_repeats > 1:
            splitter = RepeatedSplitter(
                _GroupFactory(cls, n_splits), n_repeats, _repeat_seeds(seed, n_repeats)
            )
        else:
            splitter = cls(n_splits, shuffle=shuffle, random_state=seed if shuffle else None)
    check_splitter(splitter, y=y, groups=groups)
    return splitter


class _GroupFactory:
    """``factory(seed)`` for :class:`RepeatedSplitter` (a class, so it pickles)."""

    def __init__(self, cls: type, n_splits: int) -> None:
        self.cls, self.n_splits = cls, n_splits

    def __call__(self, seed: int) -> Any:
        return self.cls(self.n_splits, shuffle=True, random_state=seed)


def _repeat_seeds(seed: int | None, n: int) -> list[int]:
    from afterfit.parallel import spawn_seeds

    if seed is None:  # as scikit-learn: no seed, fresh shuffles
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    return spawn_seeds(seed, n)


def resolve_kind(kind: str, *, task: str | None = None, y: Any = None, groups: Any = None) -> str:
    """The concrete splitter kind ``"auto"`` stands for (others are checked and returned)."""
    if not isinstance(kind, str) or kind not in SPLITTERS:
        raise InvalidInputError(
            f"The splitter kind must be one of {', '.join(map(repr, SPLITTERS))}; received "
            f"{kind!r}.",
            fix="pass kind='auto' (stratified for classification, k-fold for regression, "
            "group k-fold when groups are given) or one of the others.",
        )
    if kind != "auto":
        return kind
    if groups is not None:
        return "group"
    if task is None and y is not None:
        task = _task_of_target(y)
    return "stratified" if task in _CLASSIFICATION else "kfold"


def _task_of_target(y: Any) -> str:
    from sklearn.utils.multiclass import type_of_target

    try:
        kind = type_of_target(_as_array(y))
    except ValueError:
        return "regression"
    return "classification" if kind in ("binary", "multiclass") else "regression"


def _positive_int(value: Any, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidInputError(
            f"The argument {name!r} must be an integer of at least {minimum}; received {value!r}.",
            fix=f"pass {name}={max(minimum, 5) if name == 'n_splits' else minimum} or more.",
        )
    return int(value)


def _as_array(values: Any) -> np.ndarray:
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    return np.asarray(values).reshape(-1)


def n_repeats_of(splitter: Any) -> int:
    """Repeats of a splitter (1 for a plain one)."""
    return int(getattr(splitter, "n_repeats", 1) or 1)


def splitter_kind(splitter: Any) -> str:
    """The :data:`SPLITTERS` kind of a splitter, or its class name for others."""
    from sklearn import model_selection as ms

    base = splitter.base if isinstance(splitter, RepeatedSplitter) else splitter
    kinds = (
        ((ms.StratifiedGroupKFold,), "stratified-group"),
        ((ms.GroupKFold,), "group"),
        ((ms.StratifiedKFold, ms.RepeatedStratifiedKFold), "stratified"),
        ((ms.KFold, ms.RepeatedKFold), "kfold"),
        ((ms.TimeSeriesSplit,), "timeseries"),
    )
    for classes, name in kinds:
        if isinstance(base, classes):
            return name
    return type(base).__name__


def _folds_per_repeat(splitter: Any) -> int | None:
    if isinstance(splitter, RepeatedSplitter):
        return splitter.n_splits
    cvargs = getattr(splitter, "cvargs", None)  # scikit-learn's Repeated* splitters
    if isinstance(cvargs, dict) and "n_splits" in cvargs:
        return int(cvargs["n_splits"])
    n = getattr(splitter, "n_splits", None)
    return None if n is None else int(n)


def check_splitter(
    splitter: Any, *, n_rows: int | None = None, y: Any = None, groups: Any = None
) -> None:
    """Check that the data allows ``splitter``'s folds; raise :class:`InvalidInputError`.

    Knows afterfit's kinds (:func:`splitter_kind`); other splitters pass unchecked.
    """
    kind = splitter_kind(splitter)
    k = _folds_per_repeat(splitter)
    if k is None:
        return
    if y is not None:
        n_rows = _as_array(y).shape[0]
    elif groups is not None:
        n_rows = _as_array(groups).shape[0]
    if n_rows is not None and kind != "timeseries" and k > n_rows:
        raise InvalidInputError(
            f"{k} folds were asked for, but the data has only {n_rows} rows.",
            fix=f"pass at most {n_rows} folds (--folds), or use more data.",
        )
    if kind in ("stratified", "stratified-group") and y is not None:
        labels, counts = np.unique(_as_array(y), return_counts=True)
        i = int(np.argmin(counts))
        if counts[i] < k:
            raise InvalidInputError(
                f"{k} stratified folds were asked for, but the smallest class, "
                f"{label_text(labels[i])}, has only {int(counts[i])} row(s): every fold needs "
                "at least one row of each class.",
                fix=f"pass at most {int(counts[i])} folds (--folds {max(2, int(counts[i]))}), "
                "or use kind='kfold' (--splitter kfold) to split without stratifying.",
            )
    if kind in ("group", "stratified-group") and groups is not None:
        n_groups = np.unique(_as_array(groups)).size
        if n_groups < k:
            raise InvalidInputError(
                f"{k} group folds were asked for, but the data has only {n_groups} distinct "
                "group(s): each fold needs at least one whole group.",
                fix=f"pass at most {n_groups} folds (--folds {max(2, n_groups)}), or a group "
                "column with more groups.",
            )
    if kind == "timeseries" and n_rows is not None:
        gap = int(getattr(splitter, "gap", 0) or 0)
        test_size = getattr(splitter, "test_size", None) or n_rows // (k + 1)
        first_train = n_rows - k * test_size - gap
        if test_size < 1 or first_train < 1:
            raise InvalidInputError(
                f"a time-series split into {k} folds with gap={gap} leaves no training rows "
                f"for the first fold ({n_rows} rows: {k} test blocks of {test_size} rows and "
                f"the gap of {gap} leave {first_train}).",
                fix=f"pass a smaller gap (at most {max(0, n_rows - k * test_size - 1)}) or "
                "fewer folds.",
            )


def split_indices(
    splitter: Any, X: Any, y: Any = None, groups: Any = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``(train, test)`` index pairs of every fold, as ``int64`` arrays.

    Parameters
    ----------
    splitter : splitter or sequence of (train, test)
        A scikit-learn splitter (from :func:`make_splitter` or any other), or ready
        index pairs (checked: integers in range, train and test disjoint, both non-empty).
    X : DataFrame or array
        Features (only their number of rows is read).
    y, groups : array-like, optional

    Returns
    -------
    list of (ndarray, ndarray)
    """
    n = _n_rows(X)
    if isinstance(splitter, list | tuple):
        pairs = [_check_pair(pair, i, n) for i, pair in enumerate(splitter)]
    else:
        if isinstance(splitter, str | bytes) or not callable(getattr(splitter, "split", None)):
            raise InvalidInputError(
                f"cv must be a number of folds, a splitter with a split method, or a list of "
                f"(train, test) index pairs; received a {type(splitter).__name__}.",
                fix="pass cv=5, cv=make_splitter(...), or cv=[(train_idx, test_idx), ...].",
            )
        check_splitter(splitter, n_rows=n, y=y, groups=groups)
        y_arr = None if y is None else _as_array(y)
        g_arr = None if groups is None else _as_array(groups)
        # Splitters read only the number of rows of X: no copy of the features.
        pairs = [
            (np.asarray(tr, dtype=np.int64), np.asarray(te, dtype=np.int64))
            for tr, te in splitter.split(np.empty((n, 0)), y_arr, g_arr)
        ]
    if not pairs:
        raise InvalidInputError(
            "the splitter gave no folds.", fix="pass a splitter with at least one fold."
        )
    return pairs


def _n_rows(X: Any) -> int:
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) >= 1:
        return int(shape[0])
    return len(X)


def _check_pair(pair: Any, i: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        train, test = pair
        train = np.asarray(train).reshape(-1)
        test = np.asarray(test).reshape(-1)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"fold {i} of cv is not a (train, test) pair of index arrays.",
            fix="pass cv=[(train_idx, test_idx), ...] with integer row positions.",
        ) from None
    for name, idx in (("train", train), ("test", test)):
        if idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
            raise InvalidInputError(
                f"fold {i} of cv has {'no' if idx.size == 0 else 'non-integer'} {name} indices.",
                fix="pass non-empty integer row positions for both training and test rows.",
            )
        if idx.min() < 0 or idx.max() >= n:
            raise InvalidInputError(
                f"fold {i} of cv has {name} indices outside 0..{n - 1} (the data has {n} rows).",
                fix="pass row positions (0-based) of the data given.",
            )
    if np.intersect1d(train, test).size:
        raise InvalidInputError(
            f"fold {i} of cv uses some rows for both training and testing.",
            fix="pass disjoint training and test indices in every fold.",
        )
    return train.astype(np.int64, copy=False), test.astype(np.int64, copy=False)
