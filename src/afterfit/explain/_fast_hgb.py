"""Exact permuted-copy scores for scikit-learn's HistGradientBoosting models, fast.

Permutation importance asks a model for its scores on many copies of the data that differ
from the original in one feature (or group) only. For a fitted ``HistGradientBoosting``
model, most of that work can be skipped, and the scores stay bit for bit what
``predict_proba`` / ``predict`` gives on the permuted copy:

1. **Bin once.** The model bins every feature with its fitted ``_bin_mapper`` (a monotone
   elementwise map) and a split ``x <= threshold`` is the same as ``bin(x) <= bin_threshold``
   (NaN goes to the missing-values bin, which follows ``missing_go_to_left`` in both).
   Binning commutes with permuting rows, so the data are binned once (uint8) and copies
   permute binned columns.
2. **Only the paths that read the feature.** The leaf each row reaches in each tree is cached
   for the original rows. A row's leaf in a tree can change only if its path in that tree
   splits on a permuted column; other (tree, row) pairs keep their cached leaf value.
3. **Only the intervals that matter.** In one tree, a column's split thresholds cut its bins
   into a few intervals, and every bin in an interval takes the same branches. The affected
   rows are traversed once per interval (scikit-learn's own ``predict_binned``), and each
   permuted copy looks its leaf values up by the interval of its new bin. With more
   interval combinations than copies, the copies are traversed directly.
4. **The same sums.** Each copy's raw prediction is summed tree by tree in the model's own
   order, starting from ``zeros + baseline``, exactly as ``_raw_predict`` does, and goes
   through the model's own loss link (``_loss.predict_proba`` / ``_loss.link.inverse``). So
   the floating-point result is identical, not merely close.

Only plain ``HistGradientBoostingClassifier`` / ``HistGradientBoostingRegressor`` objects
(exactly those classes, inside afterfit's scikit-learn adapter) with numeric features are
handled; anything else (categorical features, subclasses, pipelines, other adapters) gets
``None`` from :func:`hgb_engine` and the caller's generic path.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["HGBEngine", "hgb_engine"]


def hgb_engine(
    model: Any, frame: pd.DataFrame, *, budget_bytes: int, threads: int | None = None
) -> HGBEngine | None:
    """The fast engine for ``model`` on ``frame``, or None when it does not apply.

    Parameters
    ----------
    model : afterfit.models.sklearn.SklearnModel
        The adapter; anything else gives None.
    frame : pandas.DataFrame
        The rows, as checked against the model's features.
    budget_bytes : int
        Memory for the leaf cache: over it, leaves are recomputed per call by row chunks.
    threads : int, optional
        Threads the engine may use (default: as many as the model's own predict would,
        scikit-learn's OpenMP default).
    """
    try:
        from sklearn.ensemble import (
            HistGradientBoostingClassifier,
            HistGradientBoostingRegressor,
        )

        from afterfit.models.sklearn import SklearnModel
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        return None
    if type(model) is not SklearnModel:
        return None
    est = model.estimator
    kind = type(est)
    if kind is HistGradientBoostingClassifier:
        # predict_scores must be predict_proba, on the model's own class columns.
        if model.task == "regression" or not model.scores_are_probabilities:
            return None
    elif kind is HistGradientBoostingRegressor:
        if model.task != "regression":
            return None
    else:
        return None
    needed = ("_bin_mapper", "_predictors", "_baseline_prediction", "_loss", "_preprocess_X")
    if any(not hasattr(est, name) for name in needed):
        return None  # another scikit-learn version's internals: stay generic
    if getattr(est, "_preprocessor", None) is not None:
        return None  # categorical features are encoded by a preprocessor
    is_cat = getattr(est, "is_categorical_", None)
    if is_cat is not None and np.any(is_cat):
        return None
    try:
        # Exactly what predict does to its input, on the unpermuted rows: permuting rows
        # afterwards commutes with this elementwise conversion to float64.
        X = est._preprocess_X(model._prepare(frame), reset=False)
        X = np.asarray(X, dtype=np.float64)
        binned = est._bin_mapper.transform(X)
        missing = int(est._bin_mapper.missing_values_bin_idx_)
    except Exception:
        return None  # the generic path raises the model's own error, if any
    if X.ndim != 2 or X.shape[0] != len(frame):
        return None
    if any(any(p.nodes["is_categorical"].any() for p in it) for it in est._predictors):
        return None
    return HGBEngine(
        est,
        binned,
        missing,
        classifier=kind is HistGradientBoostingClassifier,
        budget_bytes=budget_bytes,
        threads=threads,
    )


@dataclass
class _Tree:
    """One fitted tree: its predictors, leaf values and, per column it splits on, the leaves
    whose path reads the column and the column's split bins."""

    k: int  # the raw-prediction column (class) the tree adds to
    values: Any  # TreePredictor of the leaf values
    leaves: Any  # TreePredictor whose leaf "values" are the leaves' node indices
    leaf_value: np.ndarray  # node index -> value
    reads: dict[int, np.ndarray] = field(default_factory=dict)  # column -> bool per node
    cuts: dict[int, np.ndarray] = field(default_factory=dict)  # column -> sorted bin splits
    reps: dict[int, np.ndarray] = field(default_factory=dict)  # column -> bin per interval
    lut: dict[int, np.ndarray] = field(default_factory=dict)  # column -> bin -> interval


class HGBEngine:
    """Raw predictions of permuted copies for a fitted HistGradientBoosting model.

    Built by :func:`hgb_engine`; picklable, so tasks can run it on other processes.
    """

    def __init__(
        self,
        est: Any,
        binned: np.ndarray,
        missing: int,
        *,
        classifier: bool,
        budget_bytes: int,
        threads: int | None,
    ) -> None:
        from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

        self.B = np.ascontiguousarray(binned)  # rows gathered whole for traversal
        self.BF = np.asfortranarray(binned)  # columns gathered for the permuted values
        self.n, self.p = self.B.shape
        self.missing = np.uint8(missing)
        self.has_missing = (self.BF == missing).any(axis=0)
        self.baseline = np.asarray(est._baseline_prediction)
        self.K = int(est.n_trees_per_iteration_)
        self.loss = est._loss
        self.classifier = classifier
        if threads is None:
            from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

            threads = _openmp_effective_n_threads()
        # Units (a feature's copies) run side by side on this many threads, each tree
        # traversal on one OpenMP thread: many small parallel regions with barriers
        # collapse on a busy machine, coarse threads do not.
        self.threads = max(1, int(threads))
        trees: list[_Tree] = []
        for iteration in est._predictors:
            for k, predictor in enumerate(iteration):
                nodes = np.array(predictor.nodes, copy=True)  # writable, as Cython wants
                leaf_nodes = nodes.copy()
                leaf_nodes["value"] = np.arange(len(nodes), dtype=np.float64)
                tree = _Tree(
                    k=k,
                    values=TreePredictor(
                        nodes, predictor.binned_left_cat_bitsets, predictor.raw_left_cat_bitsets
                    ),
                    leaves=TreePredictor(
                        leaf_nodes,
                        predictor.binned_left_cat_bitsets,
                        predictor.raw_left_cat_bitsets,
                    ),
                    leaf_value=np.ascontiguousarray(nodes["value"], dtype=np.float64),
                )
                _index_paths(tree, nodes)
                for c, cuts in tree.cuts.items():
                    tree.reps[c], tree.lut[c] = _intervals(cuts, missing, bool(self.has_missing[c]))
                trees.append(tree)
        self.trees = trees
        n_nodes = max((len(t.leaf_value) for t in trees), default=1)
        self.leaf_dtype = np.dtype(
            np.uint8 if n_nodes <= 2**8 else np.uint16 if n_nodes <= 2**16 else np.uint32
        )
        per_row = max(1, len(trees) * self.leaf_dtype.itemsize)
        self.chunk_rows = max(1, int(budget_bytes) // per_row)
        # The leaf of every (tree, row), computed once when it fits the memory budget.
        self.leaf_cache: np.ndarray | None = (
            self._leaf_ids(0, self.n) if self.chunk_rows >= self.n else None
        )

    # --- public -------------------------------------------------------------------------

    def scores(self, columns: Sequence[int], perms: Sequence[np.ndarray]) -> Iterator[np.ndarray]:
        """What the adapter's ``predict_scores`` gives on each permuted copy, in turn.

        Parameters
        ----------
        columns : sequence of int
            Positions of the columns permuted together.
        perms : sequence of ndarray
            One row permutation per copy: copy ``r`` has ``columns`` taken from rows
            ``perms[r]``.

        Yields
        ------
        ndarray
            ``(n, n_classes)`` probabilities (classifier) or ``(n,)`` predictions.
        """
        raw = self._raw(list(columns), list(perms))
        for r in range(len(perms)):
            # (n, K), Fortran-ordered as _raw_predict makes it: column k is raw[k, r].
            block = np.asfortranarray(raw[:, r, :].T)
            if self.classifier:
                out = self.loss.predict_proba(block)
            else:
                out = self.loss.link.inverse(block.ravel(order="F"))
            yield np.asarray(out, dtype=np.float64)

    def original_scores(self) -> np.ndarray:
        """``predict_scores`` on the unpermuted rows, from the cached leaves."""
        return next(self.scores([], [np.arange(self.n)]))

    # --- internals ----------------------------------------------------------------------

    def _leaf_ids(self, start: int, stop: int) -> np.ndarray:
        """``(n_trees, stop - start)`` leaf node indices of the unpermuted rows."""
        rows = self.B[start:stop]
        out = np.empty((len(self.trees), stop - start), dtype=self.leaf_dtype)

        def fill(i: int) -> None:
            out[i] = self.trees[i].leaves.predict_binned(rows, self.missing, 1)

        if self.threads > 1 and len(self.trees) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(self.threads) as pool:
                list(pool.map(fill, range(len(self.trees))))
        else:
            for i in range(len(self.trees)):
                fill(i)
        return out

    def _raw(self, columns: list[int], perms: list[np.ndarray]) -> np.ndarray:
        """``(K, R, n)`` raw predictions of the R copies (sum of leaves, in tree order)."""
        R, K, n = len(perms), self.K, self.n
        raw = np.zeros((K, R, n), dtype=self.baseline.dtype)
        raw += self.baseline.reshape(K, 1, 1)  # zeros + baseline, as _raw_predict starts
        # The permuted bins of each column, (R, n): row i of copy r has bin[perms[r][i]].
        new_bins = {c: np.stack([self.BF[:, c].take(perm) for perm in perms]) for c in columns}
        for start in range(0, n, self.chunk_rows):
            stop = min(n, start + self.chunk_rows)
            leaves = self.leaf_cache if self.leaf_cache is not None else self._leaf_ids(start, stop)
            self._accumulate(raw, leaves, start, stop, columns, new_bins)
        return raw

    def _accumulate(
        self,
        raw: np.ndarray,
        leaves: np.ndarray,
        start: int,
        stop: int,
        columns: list[int],
        new_bins: dict[int, np.ndarray],
    ) -> None:
        threads = 1  # see __init__: parallel over units, not within a traversal
        for t, tree in enumerate(self.trees):
            leaf = leaves[t]
            base = tree.leaf_value.take(leaf)  # this tree's value for every original row
            target = raw[tree.k]  # (R, n)
            read = [c for c in columns if c in tree.reads]
            local = None
            if read:
                mask = tree.reads[read[0]]
                for c in read[1:]:
                    mask = mask | tree.reads[c]
                local = np.flatnonzero(mask.take(leaf))  # rows whose path reads a column
            if local is None or len(local) == 0:
                target[:, start:stop] += base
                continue
            rows = local + start
            values = self._new_values(tree, read, rows, base.take(local), new_bins, threads)
            before = target.take(rows, axis=1)  # (R, m)
            target[:, start:stop] += base
            # The addition the model does, with the leaf value the permuted row reaches.
            before += values
            target[:, rows] = before

    def _new_values(
        self,
        tree: _Tree,
        read: list[int],
        rows: np.ndarray,
        own_values: np.ndarray,
        new_bins: dict[int, np.ndarray],
        threads: int,
    ) -> np.ndarray:
        """``(R, m)`` leaf values that ``rows`` reach in each permuted copy."""
        m = len(rows)
        reps = [tree.reps[c] for c in read]
        combos = int(np.prod([len(r) for r in reps]))
        if combos > 64:
            # Many interval combinations (a large group): traverse every copy directly.
            R = new_bins[read[0]].shape[0]
            X = np.tile(self.B.take(rows, axis=0), (R, 1))  # (R * m, p), copy by copy
            for c in read:
                X[:, c] = new_bins[c].take(rows, axis=1).reshape(-1)
            return tree.values.predict_binned(X, self.missing, threads).reshape(R, m)
        # Interval (combination) of the original bins and of each copy's bins.
        own = np.zeros(m, dtype=np.intp)
        which: np.ndarray | int = 0
        for c, rep in zip(read, reps, strict=True):
            lut = tree.lut[c]
            own = own * len(rep) + lut.take(self.BF[:, c].take(rows))
            which = which * len(rep) + lut.take(new_bins[c].take(rows, axis=1))
        # W[b, i]: the leaf value row i reaches with bins in combination b. A row's own
        # combination gives its cached value; the others are traversed once each, and
        # only where some copy lands in them.
        positions = np.arange(m, dtype=np.intp)
        index = np.asarray(which, dtype=np.intp) * m + positions  # (R, m)
        own_index = own * m + positions
        W = np.empty(combos * m, dtype=np.float64)
        need = np.zeros(combos * m, dtype=bool)
        need[index] = True
        need[own_index] = False
        todo = np.flatnonzero(need)
        if len(todo):
            b_idx, i_idx = np.divmod(todo, m)
            X = self.B.take(rows.take(i_idx), axis=0)
            if len(read) == 1:
                X[:, read[0]] = reps[0].take(b_idx)
            else:
                grid = np.array(list(itertools.product(*reps)), dtype=np.uint8)
                for j, c in enumerate(read):
                    X[:, c] = grid[:, j].take(b_idx)
            W[todo] = tree.values.predict_binned(X, self.missing, threads)
        W[own_index] = own_values
        return W.take(index)


def _index_paths(tree: _Tree, nodes: np.ndarray) -> None:
    """Fill ``tree.reads`` (leaves whose path splits on each column) and ``tree.cuts``."""
    inner = ~nodes["is_leaf"].astype(bool)
    feature = nodes["feature_idx"]
    used = np.unique(feature[inner]).tolist()
    if not used:
        return
    pos = {int(c): j for j, c in enumerate(used)}
    on_path = np.zeros((len(nodes), len(used)), dtype=bool)
    # Parents come before their children in the node array (filled depth-first).
    order = np.argsort(nodes["depth"], kind="stable")
    for i in order:
        if inner[i]:
            row = on_path[i].copy()
            row[pos[int(feature[i])]] = True
            on_path[nodes["left"][i]] = row
            on_path[nodes["right"][i]] = row
    for c, j in pos.items():
        tree.reads[c] = on_path[:, j].copy()
        tree.cuts[c] = np.unique(nodes["bin_threshold"][inner & (feature == c)]).astype(np.int64)


def _intervals(cuts: np.ndarray, missing: int, has_missing: bool) -> tuple[np.ndarray, np.ndarray]:
    """A representative bin of each interval the splits ``bin <= cut`` make, and a lookup
    table from bin (0..255) to interval.

    Interval j holds the bins in ``(cuts[j-1], cuts[j]]``; the last, ``(cuts[-1], missing)``,
    only if not empty; the missing-values bin is its own interval when the column has any.
    Every bin of an interval takes the same branch at every split on the column.
    """
    reps = [int(c) for c in cuts]
    if int(cuts[-1]) + 1 < int(missing):
        reps.append(int(cuts[-1]) + 1)
    lut = np.searchsorted(cuts, np.arange(256), side="left").astype(np.uint16)
    if has_missing:
        reps.append(int(missing))
        lut[int(missing)] = len(reps) - 1
    return np.asarray(reps, dtype=np.uint8), lut
