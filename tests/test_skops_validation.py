"""skops files: scikit-learn's array-backed internal types load without flags only after
validation, crafted files are refused by node and field, and afterfit trusts its own
wrapper classes by exact name only.

The crafted files are real skops files edited the way an attacker would: the zip's
schema.json or its .npy members are rewritten, so the tests go through the real loader.
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    StackingClassifier,
    VotingRegressor,
)
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils import all_estimators
from typer.testing import CliRunner

from afterfit.cli import app
from afterfit.errors import ModelLoadError, UntrustedModelError
from afterfit.models import load_model
from afterfit.models.loading import AFTERFIT_WRAPPERS, on_accepted_types
from afterfit.models.skops_checks import VALIDATED_TYPES, validate_loaded

TREE = "sklearn.tree._tree.Tree"
PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
# HistGradientBoosting with categorical features keeps a preprocessing function that skops
# does not trust by default (skops' rules, unchanged by afterfit).
HGB_CATEGORICAL_FLAGS = ["functools.partial", "sklearn.utils.validation.check_array"]

RNG = np.random.RandomState(0)
X = RNG.rand(120, 4)
Y_CLASS = (X[:, 0] + 0.3 * X[:, 1] > 0.7).astype(int) + (X[:, 2] > 0.8).astype(int)
Y_REG = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * RNG.rand(120)


# ---------------------------------------------------------------- helpers


def _dump(est: Any, path: Path) -> Path:
    sio.dump(est, path)
    return path


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _nodes(schema: Any, cls: str) -> list[dict[str, Any]]:
    """Every schema node of class ``cls`` (its __class__ name)."""
    found, stack = [], [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("__class__") == cls:
                found.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _load_npy(members: dict[str, bytes], name: str) -> np.ndarray:
    return np.load(io.BytesIO(members[name]), allow_pickle=False)


def _save_npy(members: dict[str, bytes], name: str, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    members[name] = buffer.getvalue()


def _fresh_id(node: dict[str, Any]) -> None:
    # skops reuses the object of an __id__ it has seen: an edited value needs its own.
    node["__id__"] = 7_000_000_000 + id(node) % 1_000_000


def craft(src: Path, dst: Path, cls: str, edit: Any, index: int = 0) -> Path:
    """Copy ``src`` to ``dst`` with ``edit(node, members)`` applied to the ``index``-th
    schema node of class ``cls``."""
    members = _members(src)
    schema = json.loads(members["schema.json"])
    edit(_nodes(schema, cls)[index], members)
    members["schema.json"] = json.dumps(schema).encode()
    return _write(dst, members)


def edit_array(field: str, change: Any) -> Any:
    """An edit that rewrites the .npy member behind ``content[field]`` of a node."""

    def edit(node: dict[str, Any], members: dict[str, bytes]) -> None:
        content = node["content"]["content"]
        name = content[field]["file"]
        array = _load_npy(members, name).copy()
        array = change(array)
        _save_npy(members, name, array)

    return edit


def edit_tuple_array(position: int, change: Any) -> Any:
    """The same for objects whose state is a tuple (KDTree, BallTree)."""

    def edit(node: dict[str, Any], members: dict[str, bytes]) -> None:
        name = node["content"]["content"][position]["file"]
        _save_npy(members, name, change(_load_npy(members, name).copy()))

    return edit


def set_field(array: np.ndarray, field: str, node: int, value: Any) -> np.ndarray:
    array[field][node] = value
    return array


def internal_node(array: np.ndarray) -> int:
    return int(np.flatnonzero(array["left_child"] != -1)[0])


# ----------------------------------------------- every tree-based estimator, no flags


def _validated_estimators() -> list[tuple[str, Any]]:
    """Every scikit-learn estimator whose skops file holds a validated type and that has
    predict, fitted on tiny data (classifier if it can, else regressor)."""
    out = []
    # The survey of every estimator (all_estimators, fit, skops.io.get_untrusted_types)
    # found the validated types only in these modules; fitting the rest costs minutes.
    modules = ("sklearn.tree.", "sklearn.ensemble.", "sklearn.neighbors.", "sklearn.calibration")
    for name, cls in all_estimators():
        if not cls.__module__.startswith(modules) and name not in (
            "MLPClassifier",
            "TweedieRegressor",
        ):
            continue
        try:
            est = cls()
        except TypeError:
            continue
        if not hasattr(est, "predict"):
            continue
        for y in (Y_CLASS, Y_REG):
            try:
                est = cls()
                if "random_state" in est.get_params():
                    est.set_params(random_state=0)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    est.fit(X, y)
                break
            except Exception:  # estimators that need other data or parameters
                est = None
        if est is None:
            continue
        try:
            untrusted = sio.get_untrusted_types(data=sio.dumps(est))
        except Exception:  # not serialisable by skops
            continue
        if any(t in VALIDATED_TYPES for t in untrusted):
            out.append((name, est))
    return out


VALIDATED_ESTIMATORS = _validated_estimators()


def test_the_survey_covers_the_tree_and_neighbour_models():
    names = {name for name, _ in VALIDATED_ESTIMATORS}
    expected = {
        "DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier",
        "ExtraTreesClassifier", "ExtraTreesRegressor", "RandomForestClassifier",
        "RandomForestRegressor", "GradientBoostingClassifier", "GradientBoostingRegressor",
        "HistGradientBoostingClassifier", "HistGradientBoostingRegressor",
        "AdaBoostClassifier", "BaggingClassifier", "IsolationForest",
        "KNeighborsClassifier", "KNeighborsRegressor", "RadiusNeighborsRegressor",
    }  # fmt: skip
    assert expected <= names


@pytest.mark.parametrize(
    ("name", "est"), VALIDATED_ESTIMATORS, ids=[n for n, _ in VALIDATED_ESTIMATORS]
)
def test_every_validated_estimator_loads_without_flags_and_predicts_the_same(name, est, tmp_path):
    path = _dump(est, tmp_path / "m.skops")
    heard: list[dict[str, int]] = []
    with on_accepted_types(lambda p, counts: heard.append(counts)):
        model = load_model(path)
    untrusted = set(sio.get_untrusted_types(file=path))
    assert set(model.accepted_types) == untrusted & VALIDATED_TYPES
    assert heard and set(heard[0]) == set(model.accepted_types)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = est.predict(X)
        got = model.predict(X) if hasattr(model, "predict") else None
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


COMPOSITES = {
    "pipeline-forest": make_pipeline(StandardScaler(), RandomForestClassifier(5, random_state=0)),
    "columns-hgb": make_pipeline(
        ColumnTransformer([("s", StandardScaler(), [0, 1])], remainder="passthrough"),
        HistGradientBoostingClassifier(max_iter=10, random_state=0),
    ),
    "stacking": StackingClassifier(
        [
            ("t", DecisionTreeClassifier(max_depth=3, random_state=0)),
            ("k", KNeighborsClassifier(algorithm="ball_tree")),
        ],
        final_estimator=LogisticRegression(),
    ),
    "voting": VotingRegressor(
        [
            ("t", DecisionTreeRegressor(random_state=0)),
            ("h", HistGradientBoostingRegressor(max_iter=5)),
        ]
    ),
    "calibrated-forest": CalibratedClassifierCV(RandomForestClassifier(5, random_state=0)),
    "best-first-tree": DecisionTreeClassifier(max_leaf_nodes=7, random_state=0),
    "pruned-tree": DecisionTreeClassifier(ccp_alpha=0.01, random_state=0),
    "gb-multiclass": GradientBoostingClassifier(n_estimators=5, random_state=0),
    "knn-ball-manhattan": KNeighborsClassifier(algorithm="ball_tree", metric="manhattan"),
    "knn-kd-chebyshev": KNeighborsRegressor(algorithm="kd_tree", metric="chebyshev"),
    "knn-minkowski-w": KNeighborsClassifier(
        algorithm="ball_tree", metric="minkowski", p=3, metric_params={"w": np.ones(4)}
    ),
}


@pytest.mark.parametrize("name", sorted(COMPOSITES))
def test_composites_load_without_flags_and_predict_the_same(name, tmp_path):
    est = COMPOSITES[name]
    y = Y_REG if name in ("voting", "knn-kd-chebyshev") else Y_CLASS
    est.fit(X, y)
    model = load_model(_dump(est, tmp_path / "m.skops"))
    np.testing.assert_array_equal(model.predict(X), est.predict(X))


def test_hgb_with_categorical_splits_and_missing_values_loads(tmp_path):
    Xc = X.copy()
    Xc[:, 3] = RNG.randint(0, 6, size=len(Xc))
    Xc[::7, 1] = np.nan
    y = ((Xc[:, 3] % 2 == 0) ^ (Xc[:, 0] > 0.5)).astype(int)
    est = HistGradientBoostingClassifier(categorical_features=[3], max_iter=10, random_state=0).fit(
        Xc, y
    )
    nodes = np.concatenate([p.nodes for it in est._predictors for p in it])
    assert nodes["is_categorical"].any()  # the file really has categorical splits
    model = load_model(_dump(est, tmp_path / "m.skops"), trusted_types=HGB_CATEGORICAL_FLAGS)
    np.testing.assert_array_equal(model.predict(Xc), est.predict(Xc))


def test_the_trusted_type_flag_is_still_accepted(tmp_path):
    est = RandomForestClassifier(3, random_state=0).fit(X, Y_CLASS)
    path = _dump(est, tmp_path / "m.skops")
    model = load_model(path, trusted_types=[TREE])
    np.testing.assert_array_equal(model.predict(X), est.predict(X))
    assert model.accepted_types == (TREE,)  # validated all the same


# --------------------------------------------------------------- crafted trees


@pytest.fixture(scope="module")
def tree_file(tmp_path_factory):
    est = DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, Y_CLASS)
    return _dump(est, tmp_path_factory.mktemp("tree") / "tree.skops")


def _nodes_of_tree(members: dict[str, bytes], node: dict[str, Any]) -> np.ndarray:
    return _load_npy(members, node["content"]["content"]["nodes"]["file"])


TREE_CASES = {
    # name: (change to the node array, words the message must hold)
    "left child out of range": (
        lambda a: set_field(a, "left_child", internal_node(a), 10_000),
        ["children_left is 10000", "outside"],
    ),
    "right child negative": (
        lambda a: set_field(a, "right_child", internal_node(a), -7),
        ["children_right", "-7"],
    ),
    "cycle to the root": (
        lambda a: set_field(a, "right_child", int(a["left_child"][0]), 0),
        ["children_right is 0"],
    ),
    "self loop": (
        lambda a: set_field(a, "left_child", 0, 0),
        ["node 0", "children_left is 0"],
    ),
    "shared child": (
        lambda a: set_field(a, "right_child", 0, int(a["left_child"][0])),
        ["child of 2 nodes"],
    ),
    "half a leaf": (
        lambda a: set_field(a, "right_child", int(np.flatnonzero(a["left_child"] == -1)[0]), 1),
        ["children_left is -1 but children_right is 1"],
    ),
    "feature too large": (
        lambda a: set_field(a, "feature", 0, 4),
        ["node 0", "feature is 4", "outside 0..3"],
    ),
    "feature negative": (
        lambda a: set_field(a, "feature", internal_node(a), -1),
        ["feature is -1"],
    ),
    "NaN threshold": (
        lambda a: set_field(a, "threshold", 0, np.nan),
        ["node 0", "threshold is NaN"],
    ),
    "missing_go_to_left not boolean": (
        lambda a: set_field(a, "missing_go_to_left", 0, 9),
        ["missing_go_to_left is 9"],
    ),
}


@pytest.mark.parametrize("case", sorted(TREE_CASES))
def test_crafted_tree_node_arrays_are_refused_naming_node_and_field(case, tree_file, tmp_path):
    change, words = TREE_CASES[case]
    bad = craft(tree_file, tmp_path / "bad.skops", "Tree", edit_array("nodes", change))
    with pytest.raises(ModelLoadError) as info:
        load_model(bad)
    message = str(info.value)
    assert "refused" in message and "tree_" in message
    for word in words:
        assert word in message


def _set_json(path: list[Any], value: str) -> Any:
    def edit(node: dict[str, Any], members: dict[str, bytes]) -> None:
        target = node
        for key in path:
            target = target[key]
        target["content"] = value
        _fresh_id(target)

    return edit


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        # (A node_count above the array's length is clamped by scikit-learn's own
        # Tree._resize_c; one below it would hide nodes that predict still follows.)
        (_set_json(["content", "content", "node_count"], "5"), ["node_count is 5", "holds"]),
        (_set_json(["content", "content", "max_depth"], "1"), ["max_depth is 1"]),
        (_set_json(["__reduce__", "args", "content", 0], "9"), ["n_features is 9", "takes 4"]),
    ],
    ids=["node_count short of the array", "max_depth", "n_features"],
)
def test_crafted_tree_counts_are_refused(edit, words, tree_file, tmp_path):
    bad = craft(tree_file, tmp_path / "bad.skops", "Tree", edit)
    with pytest.raises(ModelLoadError) as info:
        load_model(bad)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(
    "change",
    [
        lambda v: v[:-1],  # one node short
        lambda v: v[:, :, :1].copy(),  # one class short
        lambda v: v.astype(np.float32),  # wrong dtype
    ],
    ids=["rows", "classes", "dtype"],
)
def test_crafted_tree_value_arrays_of_the_wrong_shape_are_refused(change, tree_file, tmp_path):
    # scikit-learn's own Tree.__setstate__ checks the value array's shape and dtype: the
    # file is refused while skops rebuilds it, before afterfit's checks.
    bad = craft(tree_file, tmp_path / "bad.skops", "Tree", edit_array("values", change))
    with pytest.raises(ModelLoadError, match="value array"):
        load_model(bad)


def test_crafted_tree_with_nan_values_is_refused(tree_file, tmp_path):
    def change(v: np.ndarray) -> np.ndarray:
        v[3, 0, 0] = np.nan
        return v

    bad = craft(tree_file, tmp_path / "bad.skops", "Tree", edit_array("values", change))
    with pytest.raises(ModelLoadError, match="node 3: value is not finite"):
        load_model(bad)


def test_a_crafted_tree_inside_a_forest_is_refused_by_its_place(tmp_path):
    est = RandomForestClassifier(4, max_depth=3, random_state=0).fit(X, Y_CLASS)
    src = _dump(est, tmp_path / "rf.skops")
    bad = craft(
        src, tmp_path / "bad.skops", "Tree",
        edit_array("nodes", lambda a: set_field(a, "left_child", 0, 99_999)), index=2,
    )  # fmt: skip
    with pytest.raises(ModelLoadError) as info:
        load_model(bad)
    assert "estimators_[" in str(info.value) and "children_left is 99999" in str(info.value)


def test_a_crafted_file_never_reaches_predict_in_the_cli(tree_file, tmp_path):
    bad = craft(
        tree_file, tmp_path / "bad.skops", "Tree",
        edit_array("nodes", lambda a: set_field(a, "feature", 0, 1_000_000)),
    )  # fmt: skip
    import pandas as pd

    data = tmp_path / "d.csv"
    pd.DataFrame(X, columns=list("abcd")).assign(y=Y_CLASS).to_csv(data, index=False)
    result = CliRunner().invoke(
        app, ["evaluate", "--model", str(bad), "--data", str(data), "--target", "y"]
    )
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "feature is 1000000" in " ".join(result.output.split())


def test_the_cli_prints_the_accepted_types_once_unless_quiet(tree_file, tmp_path):
    import pandas as pd

    data = tmp_path / "d.csv"
    pd.DataFrame(X, columns=[f"x{i}" for i in range(4)]).assign(y=Y_CLASS).to_csv(data, index=False)
    est = DecisionTreeClassifier(max_depth=3, random_state=0).fit(
        pd.read_csv(data).drop(columns="y"), Y_CLASS
    )
    model = _dump(est, tmp_path / "m.skops")
    args = ["evaluate", "--model", str(model), "--data", str(data), "--target", "y"]
    loud = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert loud.exit_code == 0, loud.output
    lines = [ln for ln in loud.output.splitlines() if "accepted after validation" in ln]
    assert len(lines) == 1 and TREE in lines[0]
    quiet = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "b"), "--quiet"])
    assert quiet.exit_code == 0, quiet.output
    assert "accepted after validation" not in quiet.output


# ----------------------------------------------------------------- crafted HGB


@pytest.fixture(scope="module")
def hgb_file(tmp_path_factory):
    Xc = X.copy()
    Xc[:, 3] = RNG.randint(0, 6, size=len(Xc))
    y = ((Xc[:, 3] % 2 == 0) ^ (Xc[:, 0] > 0.5)).astype(int)
    est = HistGradientBoostingClassifier(categorical_features=[3], max_iter=5, random_state=0).fit(
        Xc, y
    )
    return _dump(est, tmp_path_factory.mktemp("hgb") / "hgb.skops")


def _first_categorical(a: np.ndarray) -> int:
    return int(np.flatnonzero(a["is_categorical"] == 1)[0])


def _predictor_with_categorical(path: Path) -> int:
    members = _members(path)
    schema = json.loads(members["schema.json"])
    for i, node in enumerate(_nodes(schema, "TreePredictor")):
        nodes = _load_npy(members, node["content"]["content"]["nodes"]["file"])
        if nodes["is_categorical"].any():
            return i
    raise AssertionError("no categorical split")


HGB_CASES = {
    "left out of range": (
        lambda a: set_field(a, "left", internal_node_hgb(a), 70_000),
        ["left is 70000"],
    ),
    "right back to the root": (
        lambda a: set_field(a, "right", 0, 0),
        ["node 0", "right is 0"],
    ),
    "feature_idx too large": (
        lambda a: set_field(a, "feature_idx", 0, 12),
        ["feature_idx is 12", "outside 0..3"],
    ),
    "NaN num_threshold": (
        lambda a: set_field(
            a,
            "num_threshold",
            int(np.flatnonzero((a["is_leaf"] == 0) & (a["is_categorical"] == 0))[0]),
            np.nan,
        ),
        ["num_threshold is NaN"],
    ),
    "bitset_idx out of range": (
        lambda a: set_field(a, "bitset_idx", _first_categorical(a), 500),
        ["bitset_idx 500"],
    ),
    "categorical split on a numeric feature": (
        # HistGradientBoosting moves categorical columns first: column 3 is numeric here.
        lambda a: set_field(a, "feature_idx", _first_categorical(a), 3),
        ["categorical split", "feature 3"],
    ),
    "is_leaf not boolean": (
        lambda a: set_field(a, "is_leaf", 0, 3),
        ["is_leaf is 3"],
    ),
}


def internal_node_hgb(a: np.ndarray) -> int:
    return int(np.flatnonzero(a["is_leaf"] == 0)[0])


@pytest.mark.parametrize("case", sorted(HGB_CASES))
def test_crafted_hgb_predictors_are_refused_naming_node_and_field(case, hgb_file, tmp_path):
    change, words = HGB_CASES[case]
    index = _predictor_with_categorical(hgb_file)
    bad = craft(
        hgb_file, tmp_path / "bad.skops", "TreePredictor", edit_array("nodes", change), index
    )
    with pytest.raises(ModelLoadError) as info:
        load_model(bad, trusted_types=HGB_CATEGORICAL_FLAGS)
    message = str(info.value)
    assert "TreePredictor at _predictors[" in message
    for word in words:
        assert word in message


def test_crafted_hgb_nodes_with_another_dtype_are_refused(hgb_file, tmp_path):
    def change(a: np.ndarray) -> np.ndarray:
        names = [n for n in a.dtype.names if n != "gain"]
        return a[names].copy()

    bad = craft(hgb_file, tmp_path / "bad.skops", "TreePredictor", edit_array("nodes", change))
    # TreePredictor's own __setstate__ casts the nodes to its dtype and fails first.
    with pytest.raises(ModelLoadError, match="dtype"):
        load_model(bad, trusted_types=HGB_CATEGORICAL_FLAGS)


# ---------------------------------------------------------- crafted KD/Ball trees


@pytest.fixture(scope="module", params=["kd_tree", "ball_tree"])
def knn_file(request, tmp_path_factory):
    est = KNeighborsClassifier(algorithm=request.param).fit(X, Y_CLASS)
    cls = "KDTree" if request.param == "kd_tree" else "BallTree"
    return _dump(est, tmp_path_factory.mktemp("knn") / "knn.skops"), cls


def _idx_out_of_range(a: np.ndarray) -> np.ndarray:
    a[5] = 1_000_000
    return a


def _end_beyond(a: np.ndarray) -> np.ndarray:
    a["idx_end"][0] = 10_000
    return a


def _leaf_root_children(a: np.ndarray) -> np.ndarray:
    a["is_leaf"][len(a) - 1] = 0
    return a


KNN_CASES = {
    "idx_array out of range": (1, _idx_out_of_range, "idx_array is not a permutation"),
    "idx_end beyond the data": (2, _end_beyond, "node 0: idx_start 0, idx_end 10000"),
    "last node not a leaf": (2, _leaf_root_children, "has no children"),
    "node_bounds shape": (3, lambda a: a[:, :-1].copy(), "node_bounds has shape"),
    "data too wide": (0, lambda a: np.hstack([a, a]), "data has shape"),
}


@pytest.mark.parametrize("case", sorted(KNN_CASES))
def test_crafted_neighbour_trees_are_refused(case, knn_file, tmp_path):
    path, cls = knn_file
    position, change, words = KNN_CASES[case]
    bad = craft(path, tmp_path / "bad.skops", cls, edit_tuple_array(position, change))
    with pytest.raises(ModelLoadError) as info:
        load_model(bad)
    assert words in str(info.value) and f"{cls} at _tree" in str(info.value)


def test_crafted_minkowski_weights_of_the_wrong_length_are_refused(tmp_path):
    est = KNeighborsClassifier(
        algorithm="ball_tree", metric="minkowski", p=3, metric_params={"w": np.ones(4)}
    ).fit(X, Y_CLASS)
    src = _dump(est, tmp_path / "m.skops")
    bad = craft(
        src, tmp_path / "bad.skops", "MinkowskiDistance64", edit_tuple_array(1, lambda w: w[:2])
    )
    with pytest.raises(ModelLoadError, match=r"w has shape \(2,\); expected 4"):
        load_model(bad)


def test_a_validated_type_the_walk_cannot_reach_is_refused(tmp_path):
    est = DecisionTreeClassifier(max_depth=2).fit(X, Y_CLASS)
    declared = {TREE: 2}  # the file says two trees; the model holds one
    with pytest.raises(ModelLoadError, match="declares 2 object"):
        validate_loaded(est, tmp_path / "m.skops", declared=declared)


def test_a_tree_outside_any_estimator_is_refused(tmp_path):
    est = DecisionTreeClassifier(max_depth=2).fit(X, Y_CLASS)
    with pytest.raises(ModelLoadError, match="not held by a fitted estimator"):
        validate_loaded([est.tree_], tmp_path / "m.skops", declared={TREE: 1})


# ------------------------------------------------------- afterfit's own wrappers


def test_afterfit_wrappers_are_named_classes_that_exist():
    import importlib

    for name in AFTERFIT_WRAPPERS:
        module, _, attr = name.rpartition(".")
        assert isinstance(getattr(importlib.import_module(module), attr), type), name


def test_thresholded_and_calibrated_models_load_without_flags(tmp_path):
    from afterfit.thresholds import ThresholdedModel

    yb = (Y_CLASS > 0).astype(int)
    base = RandomForestClassifier(5, random_state=0).fit(X, yb)
    wrapped = ThresholdedModel(base, threshold=0.3).fit(X, yb)
    model = load_model(_dump(wrapped, tmp_path / "t.skops"))
    np.testing.assert_array_equal(model.predict(X), wrapped.predict(X))


@pytest.mark.parametrize(
    "function",
    [
        "afterfit.thresholds._core",
        "afterfit.calibration.model",
        "afterfit.selection.ensemble_estimator",
    ],
)
def test_plain_functions_of_afterfit_modules_are_no_longer_trusted(function, tmp_path):
    import importlib
    import inspect

    from afterfit.thresholds import ThresholdedModel

    module = importlib.import_module(function)
    func = next(
        f for _, f in inspect.getmembers(module, inspect.isfunction)
        if f.__module__ == module.__name__
    )  # fmt: skip
    yb = (Y_CLASS > 0).astype(int)
    wrapped = ThresholdedModel(LogisticRegression(), threshold=0.3).fit(X, yb)
    wrapped.response_method = func  # a file can put a function where a string belongs
    path = _dump(wrapped, tmp_path / "t.skops")
    name = f"{func.__module__}.{func.__qualname__}"
    assert name in sio.get_untrusted_types(file=path)
    with pytest.raises(UntrustedModelError) as info:
        load_model(path)
    assert name in str(info.value)


# ------------------------------------------------ ensembles that trust their members


def _forest_with_a_wider_tree() -> Any:
    # RandomForest validates X once, then hands it to every tree unchecked: a tree fitted
    # on wider data would read columns that are not there.
    forest = RandomForestClassifier(3, max_depth=3, random_state=0).fit(X, Y_CLASS)
    wide = DecisionTreeClassifier(max_depth=3, random_state=0).fit(np.hstack([X, X]), Y_CLASS)
    forest.estimators_[1] = wide
    return forest


def _boosting_with_a_wider_tree() -> Any:
    # GradientBoosting checks X against its first tree only.
    gb = GradientBoostingClassifier(n_estimators=3, random_state=0).fit(X, Y_CLASS)
    wide = DecisionTreeRegressor(max_depth=2, random_state=0).fit(np.hstack([X, X]), Y_REG)
    gb.estimators_[2, 1] = wide
    return gb


def _boosting_with_extra_columns() -> Any:
    # Each stage writes column k of an array as wide as the loss says: extra columns of
    # trees write past its end.
    yb = (Y_CLASS > 0).astype(int)
    gb = GradientBoostingClassifier(n_estimators=3, random_state=0).fit(X, yb)
    gb.estimators_ = np.hstack([gb.estimators_, gb.estimators_])
    return gb


def _isolation_forest_with_wrong_subsets() -> Any:
    iso = IsolationForest(n_estimators=3, max_features=2, random_state=0).fit(X)
    iso.estimators_features_[0] = np.array([0, 1, 2])
    return iso


def _hgb_whose_preprocessor_drops_a_column() -> Any:
    Xc = X.copy()
    Xc[:, 3] = RNG.randint(0, 6, size=len(Xc))
    y = ((Xc[:, 3] % 2 == 0) ^ (Xc[:, 0] > 0.5)).astype(int)
    est = HistGradientBoostingClassifier(categorical_features=[3], max_iter=5, random_state=0).fit(
        Xc, y
    )
    before = est._preprocessor.transformers_
    est._preprocessor.transformers_ = [
        (name, trans, np.array([True, True, False, False]) if name == "numerical" else cols)
        for name, trans, cols in before
    ]
    assert [name for name, _, _ in before][:2] == ["encoder", "numerical"]
    return est


ENSEMBLE_CASES = {
    "forest with a wider tree": (_forest_with_a_wider_tree, "estimators_[1] takes 8 features"),
    "boosting with a wider tree": (_boosting_with_a_wider_tree, "takes 8 features"),
    "boosting with extra columns": (_boosting_with_extra_columns, "2 trees per stage"),
    "isolation forest subsets": (_isolation_forest_with_wrong_subsets, "is passed 3"),
    "hgb preprocessor drops a column": (_hgb_whose_preprocessor_drops_a_column, "gives 3"),
}


@pytest.mark.parametrize("case", sorted(ENSEMBLE_CASES))
def test_ensembles_whose_members_disagree_are_refused(case, tmp_path):
    make, words = ENSEMBLE_CASES[case]
    path = _dump(make(), tmp_path / "bad.skops")
    with pytest.raises(ModelLoadError) as info:
        load_model(path, trusted_types=HGB_CATEGORICAL_FLAGS)
    assert "refused" in str(info.value) and words in str(info.value)


# ------------------------------------------------ the refusals matter, and come first


def test_the_crafted_cycle_really_hangs_predict_without_validation(tree_file, tmp_path):
    # The oracle: scikit-learn itself, trusting the type blindly, loops forever on the
    # crafted file; afterfit refuses the same file (test above) before predict.
    import subprocess
    import sys

    bad = craft(
        tree_file, tmp_path / "bad.skops", "Tree",
        edit_array("nodes", lambda a: set_field(a, "left_child", int(a["left_child"][0]), 0)),
    )  # fmt: skip
    script = (
        "import numpy as np, skops.io as sio\n"
        f"m = sio.load({str(bad)!r}, trusted=sio.get_untrusted_types(file={str(bad)!r}))\n"
        "m.predict(np.zeros((1, 4)) - 10.0); m.predict(np.zeros((1, 4)) + 10.0)\n"
    )
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run([sys.executable, "-c", script], timeout=4, capture_output=True)
    with pytest.raises(ModelLoadError, match="children_left is 0"):
        load_model(bad)


@pytest.mark.parametrize("family", ["tree", "hgb", "knn"])
def test_refused_files_never_reach_predict(family, tree_file, hgb_file, tmp_path, monkeypatch):
    import pandas as pd

    calls: list[str] = []
    for cls in (DecisionTreeClassifier, HistGradientBoostingClassifier, KNeighborsClassifier):
        for method in ("predict", "predict_proba"):
            original = getattr(cls, method)

            def spy(self, *args, _original=original, _name=method, **kwargs):
                calls.append(_name)
                return _original(self, *args, **kwargs)

            monkeypatch.setattr(cls, method, spy)
    if family == "tree":
        bad = craft(
            tree_file, tmp_path / "bad.skops", "Tree",
            edit_array("nodes", lambda a: set_field(a, "right_child", 0, 10**6)),
        )  # fmt: skip
        flags: list[str] = []
    elif family == "hgb":
        bad = craft(
            hgb_file, tmp_path / "bad.skops", "TreePredictor",
            edit_array("nodes", lambda a: set_field(a, "feature_idx", 0, 10**6)),
        )  # fmt: skip
        flags = [f for t in HGB_CATEGORICAL_FLAGS for f in ("--trusted-type", t)]
    else:
        src = _dump(KNeighborsClassifier(algorithm="kd_tree").fit(X, Y_CLASS), tmp_path / "k.skops")
        bad = craft(src, tmp_path / "bad.skops", "KDTree", edit_tuple_array(1, _idx_out_of_range))
        flags = []
    data = tmp_path / "d.csv"
    pd.DataFrame(X, columns=list("abcd")).assign(y=Y_CLASS).to_csv(data, index=False)
    result = CliRunner().invoke(
        app, ["evaluate", "--model", str(bad), "--data", str(data), "--target", "y", *flags]
    )
    assert result.exit_code == 2, result.output
    assert "refused" in result.output and "Traceback" not in result.output
    assert calls == []


def test_only_types_outside_the_accepted_sets_still_need_a_flag():
    from afterfit.models.loading import types_needing_trust

    # numpy.dtype is plain data (skops rebuilds it from an empty array, without pickle)
    names = [TREE, PREDICTOR, "afterfit.thresholds.ThresholdedModel", "numpy.dtype", "x.f"]
    assert types_needing_trust(names) == ["x.f"]
    # A plain function of an afterfit module is not a wrapper class.
    assert types_needing_trust(["afterfit.thresholds._core.costs"]) == [
        "afterfit.thresholds._core.costs"
    ]


def test_models_without_validated_types_accept_none(tmp_path):
    model = load_model(_dump(LogisticRegression().fit(X, Y_CLASS), tmp_path / "lr.skops"))
    assert model.accepted_types == ()
