"""Accepting scikit-learn's array-backed internal types in skops files, after validation.

Tree models (decision trees, forests, gradient boosting, histogram gradient boosting)
and neighbour searches keep their fitted state in types skops does not trust by default:
``sklearn.tree._tree.Tree``, HistGradientBoosting's ``TreePredictor``, ``KDTree`` and
``BallTree`` and their distance metrics. Loading them runs no code of the file's, but
their arrays hold raw node, child and feature indices that scikit-learn's compiled
``predict`` follows without bounds checks: a crafted file can make it read outside its
arrays or loop forever. Trusting the type names blindly is therefore not enough, and
asking for ``--trusted-type`` on every command for the most common models is no help.

So afterfit accepts exactly the types listed in :data:`VALIDATED_TYPES`, loads the file
with skops trusting them, and then walks the loaded object graph and checks every
instance before anything can predict with it: children in range and acyclic (a child
always follows its parent, every node but the root has exactly one parent), leaf markers
consistent, feature indices below the owning estimator's ``n_features_in_``, value arrays
of the right shape, dtype and finite, no NaN thresholds. A file that fails is refused,
naming the object, the node and the field. The number of instances found by the walk is
compared with the number the file declares, so an instance hidden where the walk does
not look is refused too.

What scikit-learn checks itself, when skops rebuilds a ``Tree`` through its
``__setstate__``: the node array's dtype, dimensions and contiguity and the value array's
shape and dtype. It does not check ``node_count`` against the node array (the views
``children_left`` etc. are ``node_count`` long, so that is checked here first), nor any
index inside the arrays. ``KDTree``/``BallTree`` and ``TreePredictor`` check only dtypes
(through typed memoryviews, at first use).
"""

from __future__ import annotations

import json
import math
import operator
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from afterfit.errors import ModelLoadError

__all__ = ["VALIDATED_TYPES", "accepted_summary", "declared_counts", "validate_loaded"]

_TREE = "sklearn.tree._tree.Tree"
_PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
_KD_TREE = "sklearn.neighbors._kd_tree.KDTree"
_BALL_TREE = "sklearn.neighbors._ball_tree.BallTree"
_METRICS = tuple(
    f"sklearn.metrics._dist_metrics.{name}Distance64"
    for name in ("Euclidean", "Manhattan", "Chebyshev", "Minkowski")
)
# Pure-Python scikit-learn objects with no raw indices (their methods index numpy arrays,
# which checks bounds); skops trusts most losses already, not these.
_LOSSES = ("sklearn._loss.loss.HalfTweedieLoss", "sklearn._loss.loss.HalfTweedieLossIdentity")
_CALIBRATION = (
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
)
# A dict with attribute access (Stacking's and Voting's named_estimators_).
_BUNCH = "sklearn.utils._bunch.Bunch"
_OPTIMIZERS = tuple(
    f"sklearn.neural_network._stochastic_optimizers.{name}"
    for name in ("AdamOptimizer", "SGDOptimizer")
)

#: The scikit-learn types a skops file may hold without ``--trusted-type``: each instance
#: is validated after loading and before any prediction (see the module docstring).
VALIDATED_TYPES: frozenset[str] = frozenset(
    (
        _TREE,
        _PREDICTOR,
        _KD_TREE,
        _BALL_TREE,
        *_METRICS,
        *_LOSSES,
        *_CALIBRATION,
        *_OPTIMIZERS,
        _BUNCH,
    )
)

# Markers scikit-learn writes into a Tree's leaves (sklearn.tree._tree._TREE_LEAF and
# _TREE_UNDEFINED).
_TREE_LEAF = -1
_TREE_UNDEFINED = -2


def _type_name(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


class _Refusal(Exception):
    """A validation failure inside one object: the field and what is wrong with it."""


def declared_counts(path: Path) -> dict[str, int]:
    """How many distinct instances of each validated type the skops file declares.

    skops rebuilds one object per ``__id__`` (later nodes with the same id are the same
    object), and one per node without an id.
    """
    with zipfile.ZipFile(path) as archive:
        schema = json.loads(archive.read("schema.json"))
    ids: dict[str, set[Any]] = {}
    anonymous: dict[str, int] = {}
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            name = f"{node.get('__module__')}.{node.get('__class__')}"
            if name in VALIDATED_TYPES:
                if "__id__" in node:
                    ids.setdefault(name, set()).add(node["__id__"])
                else:
                    anonymous[name] = anonymous.get(name, 0) + 1
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    names = set(ids) | set(anonymous)
    return {n: len(ids.get(n, ())) + anonymous.get(n, 0) for n in names}


def accepted_summary(counts: dict[str, int]) -> str:
    """``"sklearn.tree._tree.Tree (x100), ..."``: the accepted types, for one line."""
    return ", ".join(f"{name} (x{n})" for name, n in sorted(counts.items()))


def validate_loaded(obj: Any, path: Path, *, declared: dict[str, int]) -> dict[str, int]:
    """Validate every instance of :data:`VALIDATED_TYPES` reachable from ``obj``.

    Parameters
    ----------
    obj : object
        What ``skops.io.load`` returned.
    path : Path
        The file, for messages.
    declared : dict
        :func:`declared_counts` of the file.

    Returns
    -------
    dict
        Type name to the number of validated instances.

    Raises
    ------
    ModelLoadError
        An instance fails validation (the message names where, the node and the field),
        or the file declares instances the walk did not reach.
    """
    found: dict[str, int] = {}
    for name, item, where, owner in _walk(obj):
        try:
            _CHECKS[name](item, owner)
        except _Refusal as exc:
            what = type(item).__name__ if name == _ENSEMBLE else name.rsplit(".", 1)[-1]
            raise ModelLoadError(
                f"The skops file '{path}' was refused: its {what} at "
                f"{where} is not a valid scikit-learn object: {exc}. scikit-learn reads "
                "these arrays without bounds checks, so the file is not loaded.",
                fix="save the model again from the fitted estimator (skops.io.dump); do not "
                "use a file from a source you do not know.",
            ) from None
        if name != _ENSEMBLE:
            found[name] = found.get(name, 0) + 1
    for name, n in declared.items():
        if found.get(name, 0) != n:
            raise ModelLoadError(
                f"The skops file '{path}' was refused: it declares {n} object(s) of type "
                f"{name}, of which {found.get(name, 0)} sit where scikit-learn keeps them; "
                "the others could not be validated.",
                fix="save the model again from the fitted estimator (skops.io.dump).",
            )
    return found


def _walk(root: Any) -> Iterator[tuple[str, Any, str, Any]]:
    """(type name, object, path, owning estimator) of every validated object, once each.

    The owner is the nearest enclosing object with an integer ``n_features_in_`` in its
    ``__dict__``: the estimator whose input validation bounds the feature indices.
    """
    seen: set[int] = set()
    stack: list[tuple[Any, str, Any]] = [(root, "the model", None)]
    while stack:
        obj, where, owner = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, str | bytes | int | float):
            continue
        seen.add(id(obj))
        name = _type_name(obj)
        if name in VALIDATED_TYPES:
            yield name, obj, where, owner
            if name in (_KD_TREE, _BALL_TREE):
                stack.append((obj.__getstate__()[11], f"{where}.dist_metric", owner))
        if isinstance(obj, np.ndarray):
            if obj.dtype == object:
                for index, item in np.ndenumerate(obj):
                    stack.append((item, f"{where}[{', '.join(map(str, index))}]", owner))
            continue
        if isinstance(obj, list | tuple):
            stack.extend((item, f"{where}[{i}]", owner) for i, item in enumerate(obj))
            continue
        if isinstance(obj, set | frozenset):
            stack.extend((item, f"{where}{{...}}", owner) for item in obj)
            continue
        if isinstance(obj, dict):
            for key, value in obj.items():
                stack.append((key, f"{where} key", owner))
                stack.append((value, f"{where}[{key!r}]", owner))
            continue
        attributes = getattr(obj, "__dict__", None)
        if isinstance(attributes, dict):
            if _int_or_none(attributes.get("n_features_in_")) is not None:
                owner = obj
            if _is_ensemble(obj):
                yield _ENSEMBLE, obj, where, owner
            prefix = "" if where == "the model" else f"{where}."
            for key, value in attributes.items():
                stack.append((value, f"{prefix}{key}", owner))


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def _n_features(owner: Any, what: str) -> int:
    n = None if owner is None else _int_or_none(vars(owner).get("n_features_in_"))
    if n is None or n < 1:
        raise _Refusal(f"it is not held by a fitted estimator (no n_features_in_), so {what}")
    return n


def _array(value: Any, field: str, *, dtype: Any = None, ndim: int | None = None) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise _Refusal(f"{field} is a {type(value).__name__}, not an array")
    if dtype is not None and value.dtype != np.dtype(dtype):
        raise _Refusal(f"{field} has dtype {value.dtype}, expected {np.dtype(dtype)}")
    if ndim is not None and value.ndim != ndim:
        raise _Refusal(f"{field} has {value.ndim} dimensions, expected {ndim}")
    return value


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _check_children(
    left: np.ndarray, right: np.ndarray, internal: np.ndarray, names: tuple[str, str]
) -> np.ndarray:
    """Children of internal nodes follow their parent and lie inside the array, and every
    node but the root has exactly one parent: a tree, reachable from node 0, acyclic.
    Returns each node's depth."""
    n = len(left)
    index = np.arange(n)
    for child, field in ((left, names[0]), (right, names[1])):
        bad = internal & ((child <= index) | (child >= n))
        if bad.any():
            i = _first(bad)
            raise _Refusal(
                f"node {i}: {field} is {int(child[i])}, outside nodes {i + 1}..{n - 1} (a child "
                "must follow its parent inside the tree; anything else reads out of bounds or "
                "loops)"
            )
    children = np.concatenate([left[internal], right[internal]]).astype(np.int64)
    parents = np.bincount(children, minlength=n)
    parents[0] += 1  # the root is nobody's child
    if (parents != 1).any():
        i = _first(parents != 1)
        what = f"is the child of {int(parents[i])} nodes" if i else "the root is a child"
        raise _Refusal(f"node {i}: {what} ({names[0]}/{names[1]} must form a tree)")
    depth = np.zeros(n, dtype=np.int64)
    level = np.array([0])
    d = 0
    while level.size:
        depth[level] = d
        inner = level[internal[level]]
        level = np.concatenate([left[inner], right[inner]]).astype(np.int64)
        d += 1
    return depth


def _check_tree(tree: Any, owner: Any) -> None:
    node_count, capacity = int(tree.node_count), int(tree.capacity)
    # node_count sizes the views below; it must not exceed the nodes actually allocated.
    if node_count != capacity or node_count < 1:
        raise _Refusal(f"node_count is {node_count}, but the node array holds {capacity} nodes")
    n_features = _n_features(owner, "its feature indices cannot be bounded")
    if int(tree.n_features) != n_features:
        raise _Refusal(
            f"n_features is {int(tree.n_features)}, but its estimator takes {n_features} features"
        )
    n_outputs = int(tree.n_outputs)
    n_classes = np.asarray(tree.n_classes)
    if n_outputs < 1 or n_classes.shape != (n_outputs,) or (n_classes < 1).any():
        raise _Refusal(f"n_outputs {n_outputs} and n_classes {n_classes.tolist()} disagree")
    attrs = vars(owner)
    owner_outputs = _int_or_none(attrs.get("n_outputs_"))
    if owner_outputs is not None and owner_outputs != n_outputs:
        raise _Refusal(f"n_outputs is {n_outputs}, but its estimator has {owner_outputs}")
    if "n_classes_" in attrs and "classes_" in attrs:
        expected = np.atleast_1d(np.asarray(attrs["n_classes_"]))
        if expected.shape != n_classes.shape or (expected != n_classes).any():
            raise _Refusal(
                f"n_classes is {n_classes.tolist()}, but its estimator has {expected.tolist()}"
            )
    left = np.asarray(tree.children_left).astype(np.int64)
    right = np.asarray(tree.children_right).astype(np.int64)
    feature = np.asarray(tree.feature).astype(np.int64)
    threshold = np.asarray(tree.threshold)
    leaf = left == _TREE_LEAF
    if (leaf != (right == _TREE_LEAF)).any():
        i = _first(leaf != (right == _TREE_LEAF))
        raise _Refusal(
            f"node {i}: children_left is {int(left[i])} but children_right is {int(right[i])} "
            "(a leaf has both equal to -1)"
        )
    if (leaf & (feature != _TREE_UNDEFINED)).any():
        i = _first(leaf & (feature != _TREE_UNDEFINED))
        raise _Refusal(f"node {i}: a leaf with feature {int(feature[i])} (leaves have -2)")
    internal = ~leaf
    bad = internal & ((feature < 0) | (feature >= n_features))
    if bad.any():
        i = _first(bad)
        raise _Refusal(f"node {i}: feature is {int(feature[i])}, outside 0..{n_features - 1}")
    if (internal & np.isnan(threshold)).any():
        i = _first(internal & np.isnan(threshold))
        raise _Refusal(f"node {i}: threshold is NaN")
    depth = _check_children(left, right, internal, ("children_left", "children_right"))
    if int(tree.max_depth) != int(depth.max()):
        raise _Refusal(
            f"max_depth is {int(tree.max_depth)}, but the tree is {int(depth.max())} deep"
        )
    missing_left = np.asarray(tree.missing_go_to_left)
    if (missing_left > 1).any():
        i = _first(missing_left > 1)
        raise _Refusal(f"node {i}: missing_go_to_left is {int(missing_left[i])}, not 0 or 1")
    samples = np.asarray(tree.n_node_samples)
    weighted = np.asarray(tree.weighted_n_node_samples)
    if (samples < 0).any() or not np.isfinite(weighted).all() or (weighted < 0).any():
        i = _first((samples < 0) | ~np.isfinite(weighted) | (weighted < 0))
        raise _Refusal(f"node {i}: n_node_samples or weighted_n_node_samples is negative/NaN")
    value = np.asarray(tree.value)
    shape = (node_count, n_outputs, int(n_classes.max()))
    if value.shape != shape or value.dtype != np.float64:
        raise _Refusal(f"value has shape {value.shape} ({value.dtype}), expected {shape} float64")
    if not np.isfinite(value).all():
        i = _first(~np.isfinite(value).reshape(node_count, -1).all(axis=1))
        raise _Refusal(f"node {i}: value is not finite")


def _check_predictor(predictor: Any, owner: Any) -> None:
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
    from sklearn.ensemble._hist_gradient_boosting.gradient_boosting import (
        BaseHistGradientBoosting,
    )

    if not isinstance(owner, BaseHistGradientBoosting):
        raise _Refusal("it is not held by a HistGradientBoosting estimator")
    n_features = _n_features(owner, "its feature indices cannot be bounded")
    attrs = vars(predictor)
    nodes = _array(attrs.get("nodes"), "nodes", dtype=PREDICTOR_RECORD_DTYPE, ndim=1)
    bitsets = {}
    for field in ("binned_left_cat_bitsets", "raw_left_cat_bitsets"):
        bitsets[field] = _array(attrs.get(field), field, dtype=np.uint32, ndim=2)
        if bitsets[field].shape[1] != 8:
            raise _Refusal(f"{field} has shape {bitsets[field].shape}, expected (k, 8)")
    n_bitsets = min(len(b) for b in bitsets.values())
    if len(nodes) < 1:
        raise _Refusal("nodes is empty")
    mapper = vars(owner).get("_bin_mapper")
    categorical = getattr(mapper, "__dict__", {}).get("is_categorical_")
    if not isinstance(categorical, np.ndarray) or categorical.shape != (n_features,):
        raise _Refusal(
            f"its estimator's _bin_mapper.is_categorical_ is not an array of {n_features} flags"
        )
    for field in ("is_leaf", "missing_go_to_left", "is_categorical"):
        if (nodes[field] > 1).any():
            i = _first(nodes[field] > 1)
            raise _Refusal(f"node {i}: {field} is {int(nodes[field][i])}, not 0 or 1")
    internal = nodes["is_leaf"] == 0
    feature = nodes["feature_idx"].astype(np.int64)
    bad = internal & ((feature < 0) | (feature >= n_features))
    if bad.any():
        i = _first(bad)
        raise _Refusal(f"node {i}: feature_idx is {int(feature[i])}, outside 0..{n_features - 1}")
    is_cat = internal & (nodes["is_categorical"] == 1)
    not_categorical = categorical[np.where(is_cat, feature, 0)] == 0
    bad = is_cat & ((nodes["bitset_idx"] >= n_bitsets) | not_categorical)
    if bad.any():
        i = _first(bad)
        raise _Refusal(
            f"node {i}: a categorical split with bitset_idx {int(nodes['bitset_idx'][i])} on "
            f"feature {int(feature[i])} (there are {n_bitsets} bitsets, and the feature must "
            "be categorical)"
        )
    if (internal & ~is_cat & np.isnan(nodes["num_threshold"])).any():
        i = _first(internal & ~is_cat & np.isnan(nodes["num_threshold"]))
        raise _Refusal(f"node {i}: num_threshold is NaN")
    if not np.isfinite(nodes["value"][~internal]).all():
        i = _first(~internal & ~np.isfinite(nodes["value"]))
        raise _Refusal(f"node {i}: value is not finite")
    left = nodes["left"].astype(np.int64)
    right = nodes["right"].astype(np.int64)
    _check_children(left, right, internal, ("left", "right"))


def _check_binary_tree(tree: Any, owner: Any) -> None:
    state = tree.__getstate__()
    data, idx, node_data, bounds = state[0], state[1], state[2], state[3]
    leaf_size, n_levels, n_nodes = state[4], state[5], state[6]
    data = _array(data, "data", dtype=np.float64, ndim=2)
    n_samples, n_features = data.shape
    owner_features = _n_features(owner, "the width of its data cannot be checked")
    if n_features != owner_features or n_samples < 1:
        raise _Refusal(
            f"data has shape {data.shape}, but its estimator takes {owner_features} features"
        )
    if not np.isfinite(data).all():
        raise _Refusal("data holds values that are not finite")
    idx = _array(idx, "idx_array", dtype=np.intp, ndim=1)
    if idx.shape != (n_samples,) or not np.array_equal(np.sort(idx), np.arange(n_samples)):
        raise _Refusal(f"idx_array is not a permutation of the {n_samples} rows of data")
    if _int_or_none(leaf_size) is None or leaf_size < 1:
        raise _Refusal(f"leaf_size is {leaf_size!r}")
    if not (1 <= n_levels <= 62) or n_nodes != 2**n_levels - 1:
        raise _Refusal(f"n_nodes {n_nodes} is not 2**n_levels - 1 (n_levels {n_levels})")
    node_data = _array(node_data, "node_data", ndim=1)
    if node_data.shape != (n_nodes,) or set(node_data.dtype.names or ()) != {
        "idx_start", "idx_end", "is_leaf", "radius"
    }:  # fmt: skip
        raise _Refusal(f"node_data has shape {node_data.shape} and dtype {node_data.dtype}")
    rows = 2 if _type_name(tree) == _KD_TREE else 1
    bounds = _array(bounds, "node_bounds", dtype=np.float64, ndim=3)
    if bounds.shape != (rows, n_nodes, n_features) or not np.isfinite(bounds).all():
        raise _Refusal(
            f"node_bounds has shape {bounds.shape}, expected {(rows, n_nodes, n_features)} finite"
        )
    start = node_data["idx_start"].astype(np.int64)
    end = node_data["idx_end"].astype(np.int64)
    is_leaf = node_data["is_leaf"].astype(np.int64)
    radius = node_data["radius"]
    bad = (start < 0) | (end < start) | (end > n_samples) | (is_leaf < 0) | (is_leaf > 1)
    bad |= ~np.isfinite(radius) | (radius < 0)
    if bad.any():
        i = _first(bad)
        raise _Refusal(
            f"node {i}: idx_start {start[i]}, idx_end {end[i]}, is_leaf {is_leaf[i]}, radius "
            f"{radius[i]} (expected 0 <= idx_start <= idx_end <= {n_samples}, is_leaf 0 or 1)"
        )
    nodes = np.arange(n_nodes)
    internal = is_leaf == 0
    if (internal & (2 * nodes + 2 >= n_nodes)).any():
        i = _first(internal & (2 * nodes + 2 >= n_nodes))
        raise _Refusal(f"node {i}: is_leaf is 0 but the node has no children")
    inner = nodes[internal]
    lo, hi = 2 * inner + 1, 2 * inner + 2
    ok = (start[lo] == start[inner]) & (end[lo] == start[hi]) & (end[hi] == end[inner])
    if not ok.all():
        i = int(inner[~ok][0])
        raise _Refusal(f"node {i}: its children's idx_start/idx_end do not split its rows")
    weights = state[12]
    if weights is not None:
        weights = _array(weights, "sample_weight", dtype=np.float64, ndim=1)
        if weights.shape != (n_samples,):
            raise _Refusal(f"sample_weight has shape {weights.shape}, expected ({n_samples},)")
    if _type_name(state[11]) not in _METRICS:
        raise _Refusal(f"dist_metric is a {_type_name(state[11])}, not an accepted metric")


def _check_metric(metric: Any, owner: Any) -> None:
    p, vec, _ = metric.__getstate__()[:3]
    minkowski = _type_name(metric).endswith("MinkowskiDistance64")
    # Chebyshev keeps p = inf; Minkowski needs a finite p (its own __init__ says so).
    if not (isinstance(p, float) and p > 0 and (math.isfinite(p) or not minkowski)):
        raise _Refusal(f"p is {p!r}, expected a number above 0")
    vec = _array(vec, "vec", dtype=np.float64, ndim=1)
    if minkowski and vec.size:
        # Minkowski reads one weight per feature: fewer weights than features is out of bounds.
        n_features = _n_features(owner, "its weights cannot be checked")
        if vec.shape != (n_features,) or not np.isfinite(vec).all() or (vec < 0).any():
            raise _Refusal(f"w has shape {vec.shape}; expected {n_features} finite weights >= 0")


def _check_loss(loss: Any, owner: Any) -> None:
    from sklearn._loss import _loss, link

    attrs = vars(loss)
    if not isinstance(attrs.get("closs"), _loss.CyLossFunction):
        raise _Refusal("closs is not one of scikit-learn's compiled losses")
    if not isinstance(attrs.get("link"), link.BaseLink):
        raise _Refusal("link is not one of scikit-learn's link functions")
    power = getattr(attrs["closs"], "power", 0.0)
    if not math.isfinite(float(power)):
        raise _Refusal(f"power is {power!r}")


def _check_calibration(obj: Any, owner: Any) -> None:
    from sklearn.calibration import _SigmoidCalibration
    from sklearn.isotonic import IsotonicRegression

    attrs = vars(obj)
    if isinstance(obj, _SigmoidCalibration):
        for field in ("a_", "b_"):
            if field in attrs and not math.isfinite(float(attrs[field])):
                raise _Refusal(f"{field} is not finite")
        return
    calibrators = attrs.get("calibrators")
    if not isinstance(calibrators, list) or not all(
        isinstance(c, _SigmoidCalibration | IsotonicRegression) for c in calibrators
    ):
        raise _Refusal("calibrators is not a list of sigmoid or isotonic calibrators")


def _check_optimizer(optimizer: Any, owner: Any) -> None:
    # Used by partial_fit only, never by predict; its state is numbers and arrays.
    for key, value in vars(optimizer).items():
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(v, int | float | np.ndarray | np.number) for v in items):
            raise _Refusal(f"{key} holds a {type(items[0]).__name__}")


def _check_bunch(bunch: Any, owner: Any) -> None:
    # Its values are walked like any dict's; the keys must be names.
    if not all(isinstance(k, str) for k in bunch):
        raise _Refusal("a key is not a string")


# Ensembles whose compiled predict trusts its members: forests and gradient boosting pass
# X to the trees unchecked (only the ensemble or its first tree validates its width), and
# gradient boosting writes each tree's output into a column it does not bound.
_ENSEMBLE = "ensemble"


def _is_ensemble(obj: Any) -> bool:
    module = type(obj).__module__
    if not module.startswith("sklearn.ensemble."):
        return False
    from sklearn.ensemble import IsolationForest
    from sklearn.ensemble._forest import BaseForest
    from sklearn.ensemble._gb import BaseGradientBoosting
    from sklearn.ensemble._hist_gradient_boosting.gradient_boosting import (
        BaseHistGradientBoosting,
    )

    kinds = (BaseForest, BaseGradientBoosting, IsolationForest, BaseHistGradientBoosting)
    return isinstance(obj, kinds)


def _members_width(members: Any, n_features: int, what: str) -> None:
    for i, member in enumerate(members):
        width = _int_or_none(getattr(member, "__dict__", {}).get("n_features_in_"))
        if width != n_features:
            raise _Refusal(
                f"{what}[{i}] takes {width} features, but the ensemble passes it {n_features} "
                "unchecked"
            )


def _check_ensemble(obj: Any, owner: Any) -> None:
    from sklearn.base import is_classifier
    from sklearn.ensemble import IsolationForest
    from sklearn.ensemble._forest import BaseForest
    from sklearn.ensemble._gb import BaseGradientBoosting

    attrs = vars(obj)
    if "estimators_" not in attrs and "_predictors" not in attrs:
        return  # an unfitted template (a meta-estimator's parameter): it predicts nothing
    n_features = _n_features(obj, "its input width is unknown")
    members = attrs.get("estimators_")
    if isinstance(obj, BaseForest):
        if not isinstance(members, list):
            raise _Refusal("estimators_ is not a list")
        _members_width(members, n_features, "estimators_")
    elif isinstance(obj, IsolationForest):
        features = attrs.get("estimators_features_")
        if not isinstance(members, list) or not isinstance(features, list):
            raise _Refusal("estimators_ or estimators_features_ is not a list")
        if len(features) != len(members):
            raise _Refusal("estimators_features_ and estimators_ differ in length")
        for i, (member, cols) in enumerate(zip(members, features, strict=True)):
            cols = np.asarray(cols)
            if cols.ndim != 1 or cols.dtype.kind not in "iu":
                raise _Refusal(f"estimators_features_[{i}] is not a list of column numbers")
            if ((cols < 0) | (cols >= n_features)).any():
                raise _Refusal(f"estimators_features_[{i}] names a column outside the input")
            width = _int_or_none(getattr(member, "__dict__", {}).get("n_features_in_"))
            if _int_or_none(attrs.get("_max_features")) == n_features:
                cols = np.arange(n_features)  # it then passes X whole, not X[:, cols]
            if width != len(cols):
                raise _Refusal(
                    f"estimators_[{i}] takes {width} features, but is passed {len(cols)}"
                )
    elif isinstance(obj, BaseGradientBoosting):
        if not isinstance(members, np.ndarray) or members.ndim != 2 or members.size == 0:
            raise _Refusal("estimators_ is not a 2-d array of trees")
        _members_width(members.ravel(), n_features, "estimators_ (flattened)")
        k = members.shape[1]
        loss = attrs.get("_loss")
        if is_classifier(obj):
            n_classes = _int_or_none(attrs.get("n_classes_"))
            expected = 1 if n_classes == 2 else n_classes
        else:
            expected = 1
        if k != expected:
            raise _Refusal(f"estimators_ has {k} trees per stage, expected {expected}")
        init = attrs.get("init_")
        if k > 1:
            # Each stage writes column k of the initial predictions: the initial
            # estimator's probabilities must be at least that wide.
            classes = getattr(init, "__dict__", {}).get("classes_")
            multiclass = getattr(loss, "is_multiclass", False)
            if not multiclass or (
                init != "zero" and (classes is None or len(np.atleast_1d(classes)) < k)
            ):
                raise _Refusal(f"init_ or _loss gives fewer than the {k} columns the trees fill")
    else:  # HistGradientBoosting
        preprocessor = attrs.get("_preprocessor")
        mapper = vars(obj).get("_bin_mapper")
        width = getattr(getattr(mapper, "is_categorical_", None), "size", None)
        if preprocessor is not None:
            width_out = _probe_width(preprocessor, obj)
            if width_out != width:
                raise _Refusal(
                    f"its _preprocessor gives {width_out} columns, but the trees read {width}"
                )
        elif width != n_features:
            raise _Refusal(f"_bin_mapper knows {width} features, the estimator takes {n_features}")


def _probe_width(preprocessor: Any, owner: Any) -> int | None:
    """The number of columns the preprocessor makes of one row of missing values (its
    width does not depend on the values)."""
    import pandas as pd

    names = vars(owner).get("feature_names_in_")
    n = _int_or_none(vars(owner).get("n_features_in_")) or 0
    row: Any = np.full((1, n), np.nan)
    if names is not None:
        row = pd.DataFrame(row, columns=list(names))
    try:
        out = preprocessor.transform(row)
    except Exception as exc:  # a broken preprocessor: refused below by width
        raise _Refusal(f"its _preprocessor cannot transform a row ({type(exc).__name__})") from None
    shape = getattr(out, "shape", ())
    return int(shape[1]) if len(shape) == 2 and shape[0] == 1 else None


_CHECKS: dict[str, Any] = {
    _ENSEMBLE: _check_ensemble,
    _BUNCH: _check_bunch,
    _TREE: _check_tree,
    _PREDICTOR: _check_predictor,
    _KD_TREE: _check_binary_tree,
    _BALL_TREE: _check_binary_tree,
    **dict.fromkeys(_METRICS, _check_metric),
    **dict.fromkeys(_LOSSES, _check_loss),
    **dict.fromkeys(_CALIBRATION, _check_calibration),
    **dict.fromkeys(_OPTIMIZERS, _check_optimizer),
}
