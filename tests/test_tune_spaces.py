"""Search spaces: files (TOML, YAML), dicts, built-in defaults, and every bad space."""

from __future__ import annotations

import pytest
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from afterfit.errors import InvalidInputError
from afterfit.selection.spaces import DEFAULT_SPACES, Param, default_space, resolve_space

PIPE = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])


def test_toml_and_yaml_give_the_same_space(tmp_path):
    toml = tmp_path / "space.toml"
    toml.write_text(
        '[clf__C]\ntype = "float"\nlow = 0.001\nhigh = 100.0\nlog = true\n\n'
        '[clf__penalty]\ntype = "categorical"\nchoices = ["l2", "l1"]\n\n'
        '[clf__max_iter]\ntype = "int"\nlow = 100\nhigh = 500\nstep = 100\n'
    )
    yaml = tmp_path / "space.yaml"
    yaml.write_text(
        "clf__C: {type: float, low: 0.001, high: 100.0, log: true}\n"
        "clf__penalty: {type: categorical, choices: [l2, l1]}\n"
        "clf__max_iter: {type: int, low: 100, high: 500, step: 100}\n"
    )
    a, b = resolve_space(toml, PIPE), resolve_space(yaml, PIPE)
    assert a.to_dict() == b.to_dict()
    assert a.params[0] == Param("clf__C", "float", 0.001, 100.0, True, None)
    assert a.params[2].grid() == [100, 200, 300, 400, 500]
    assert a.params[1].grid() == ["l2", "l1"]


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"gamma": {"type": "float", "low": 0.1, "high": 1}}, ["'gamma'", "not a parameter"]),
        ({"C": {"type": "float", "low": 0.1, "high": 1}}, ["'C'", "clf__C"]),  # pipeline name
        ({"clf__C": {"type": "float", "low": 1.0, "high": 1.0}}, ["'clf__C'", "low=1.0 >= high"]),
        ({"clf__C": {"type": "float", "low": 5, "high": 1}}, ["'clf__C'", ">= high"]),
        ({"clf__C": {"type": "float", "low": 0, "high": 1, "log": True}}, ["'clf__C'", "log"]),
        ({"clf__C": {"type": "float", "low": -1, "high": 1, "log": True}}, ["'clf__C'", "<= 0"]),
        (
            {"clf__penalty": {"type": "categorical", "choices": []}},
            ["'clf__penalty'", "no choices"],
        ),
        ({"clf__C": {"type": "real", "low": 0.1, "high": 1}}, ["'clf__C'", "type 'real'"]),
        ({"clf__C": {"type": "float", "low": 0.1}}, ["'clf__C'", "no 'high'"]),
        ({"clf__C": {"type": "float", "low": "a", "high": 1}}, ["'clf__C'", "finite number"]),
        ({"clf__max_iter": {"type": "int", "low": 1.5, "high": 9}}, ["'clf__max_iter'", "int"]),
        ({"clf__C": {"type": "float", "low": 0.1, "high": 1, "step": 0}}, ["'clf__C'", "step"]),
        ({"clf__C": {"type": "float", "low": 0.1, "high": 1, "lo": 2}}, ["'clf__C'", "'lo'"]),
        ({"clf__C": 3}, ["'clf__C'", "must be a table"]),
        ({}, ["empty"]),
    ],
)
def test_bad_space_names_the_parameter(spec, words):
    with pytest.raises(InvalidInputError) as info:
        resolve_space(spec, PIPE)
    for word in words:
        assert word in str(info.value)
    assert "Fix:" in str(info.value)


def test_bad_files(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(InvalidInputError, match="does not exist"):
        resolve_space(missing, PIPE)
    broken = tmp_path / "broken.toml"
    broken.write_text("[clf__C\ntype=")
    with pytest.raises(InvalidInputError, match="Cannot read"):
        resolve_space(broken, PIPE)
    other = tmp_path / "space.ini"
    other.write_text("x")
    with pytest.raises(InvalidInputError, match="extension"):
        resolve_space(other, PIPE)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(InvalidInputError, match="no parameters"):
        resolve_space(empty, PIPE)
    bad_file = tmp_path / "bad.toml"
    bad_file.write_text('[clf__nope]\ntype = "int"\nlow = 1\nhigh = 3\n')
    with pytest.raises(InvalidInputError, match="'clf__nope' is not a parameter"):
        resolve_space(bad_file, PIPE)


@pytest.mark.parametrize(
    "estimator",
    [
        LogisticRegression(),
        RandomForestClassifier(),
        RandomForestRegressor(),
        ExtraTreesClassifier(),
        ExtraTreesRegressor(),
        HistGradientBoostingClassifier(),
        HistGradientBoostingRegressor(),
        SVC(),
    ],
)
def test_default_spaces_fit_their_estimators(estimator):
    space = default_space(estimator)
    assert space.names() == list(DEFAULT_SPACES[type(estimator).__name__])
    assert set(space.names()) <= set(estimator.get_params())


def test_default_spaces_of_boosters():
    from lightgbm import LGBMClassifier, LGBMRegressor
    from xgboost import XGBClassifier, XGBRegressor

    for est in (XGBClassifier(), XGBRegressor(), LGBMClassifier(), LGBMRegressor()):
        space = default_space(est)  # checked against get_params()
        assert len(space) >= 5


def test_default_space_of_a_pipeline_prefixes_the_last_step():
    space = default_space(PIPE)
    assert space.names() == ["clf__C", "clf__class_weight"]
    assert space.source == "built-in (LogisticRegression)"


def test_no_default_space_says_what_to_do():
    with pytest.raises(InvalidInputError, match="no built-in search space for a KNeighbors"):
        resolve_space(None, KNeighborsClassifier())


def test_grid_needs_a_finite_enumeration():
    space = resolve_space({"C": {"type": "float", "low": 0.1, "high": 0.5, "step": 0.1}},
                          LogisticRegression())  # fmt: skip
    assert space.grid()["C"] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    cont = resolve_space({"C": {"type": "float", "low": 0.1, "high": 1.0}}, LogisticRegression())
    with pytest.raises(InvalidInputError, match="without a step"):
        cont.grid()
