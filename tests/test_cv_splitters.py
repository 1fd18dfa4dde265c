"""Splitters: the kinds, their repeats, and the up-front checks of the data."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn import model_selection as ms

from afterfit.errors import InvalidInputError
from afterfit.selection.splitters import (
    RepeatedSplitter,
    make_splitter,
    n_repeats_of,
    split_indices,
    splitter_kind,
)

Y = np.array([0] * 30 + [1] * 12 + [2] * 6)
X = np.zeros((Y.size, 2))


def test_auto_picks_by_task_and_groups():
    assert splitter_kind(make_splitter(y=Y)) == "stratified"
    assert splitter_kind(make_splitter(y=np.linspace(0, 1, 48))) == "kfold"
    assert splitter_kind(make_splitter(task="regression")) == "kfold"
    assert splitter_kind(make_splitter(task="binary")) == "stratified"
    assert splitter_kind(make_splitter(groups=np.arange(48) // 4)) == "group"


@pytest.mark.parametrize(
    ("kind", "cls"),
    [("kfold", ms.RepeatedKFold), ("stratified", ms.RepeatedStratifiedKFold)],
)
def test_repeated_variants_are_sklearns(kind, cls):
    sp = make_splitter(kind, 3, 4, random_state=0, y=Y)
    assert isinstance(sp, cls) and n_repeats_of(sp) == 4
    pairs = split_indices(sp, X, Y)
    ref = list(cls(n_splits=3, n_repeats=4, random_state=0).split(X, Y))
    assert len(pairs) == 12
    for (a, b), (c, d) in zip(pairs, ref, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


def test_plain_kinds_match_sklearn_and_seed_is_reproducible():
    sp = make_splitter("stratified", 4, random_state=3, y=Y)
    ref = ms.StratifiedKFold(4, shuffle=True, random_state=3)
    for (a, b), (c, d) in zip(split_indices(sp, X, Y), ref.split(X, Y), strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    unshuffled = make_splitter("kfold", 4, shuffle=False)
    assert split_indices(unshuffled, X)[0][1].tolist() == list(range(12))


def test_repeated_group_splits_keep_groups_whole_and_differ_by_repeat():
    groups = np.arange(48) // 3  # 16 groups
    sp = make_splitter("group", 4, 3, random_state=0, groups=groups)
    assert isinstance(sp, RepeatedSplitter) and sp.get_n_splits() == 12
    pairs = split_indices(sp, X, Y, groups)
    assert len(pairs) == 12
    for train, test in pairs:
        assert not set(groups[train]) & set(groups[test])
    for r in range(3):  # each repeat is a partition of the rows
        tests = np.concatenate([te for _, te in pairs[r * 4 : (r + 1) * 4]])
        assert np.array_equal(np.sort(tests), np.arange(48))
    assert not np.array_equal(pairs[0][1], pairs[4][1])
    again = split_indices(make_splitter("group", 4, 3, random_state=0, groups=groups), X, Y, groups)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(pairs, again, strict=True))
    pickle.loads(pickle.dumps(sp))  # travels to worker processes and Dask


def test_stratified_group_kind():
    groups = np.arange(48) // 2
    sp = make_splitter("stratified-group", 3, random_state=0, y=Y, groups=groups)
    assert splitter_kind(sp) == "stratified-group"
    for train, test in split_indices(sp, X, Y, groups):
        assert not set(groups[train]) & set(groups[test])


def test_timeseries_gap():
    sp = make_splitter("timeseries", 3, gap=4)
    pairs = split_indices(sp, X)
    assert len(pairs) == 3
    for train, test in pairs:
        assert train.max() + 4 < test.min()
        assert test.min() - train.max() == 5


def test_more_folds_than_smallest_class_names_it():
    with pytest.raises(InvalidInputError, match=r"smallest class, 2, has only 6 row") as err:
        make_splitter("stratified", 7, y=Y)
    assert "--folds 6" in err.value.fix
    sp = ms.StratifiedKFold(7)  # a scikit-learn splitter is checked the same way
    with pytest.raises(InvalidInputError, match="smallest class"):
        split_indices(sp, X, Y)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "group", "n_splits": 5, "groups": np.arange(48) % 4}, "only 4 distinct group"),
        ({"kind": "kfold", "n_splits": 60, "y": Y}, "only 48 rows"),
        ({"kind": "timeseries", "n_splits": 5, "gap": 40, "y": Y}, "leaves no training rows"),
        ({"kind": "timeseries", "n_repeats": 2}, "every repeat would be the same"),
        ({"kind": "kfold", "gap": 2}, "only the 'timeseries' splitter"),
        ({"kind": "kfold", "groups": np.arange(48)}, "ignores them"),
        ({"kind": "group"}, "needs the group of every row"),
        ({"kind": "bogus"}, "must be one of"),
        ({"n_splits": 1}, "at least 2"),
        ({"n_repeats": 0}, "at least 1"),
    ],
)
def test_bad_splitters(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        make_splitter(**kwargs)
