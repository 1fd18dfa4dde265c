"""Search spaces for tuning: read from TOML/YAML or a dict, checked against the estimator,
or the built-in default space of a common estimator.

A space file holds one table per parameter::

    [C]
    type = "float"      # "float", "int" or "categorical"
    low = 1e-3
    high = 100.0
    log = true          # optional: sample on a log scale (low > 0)

    [l1_ratio]          # LogisticRegression(solver="saga"): 0 is l2, 1 is l1
    type = "categorical"
    choices = [0.0, 1.0]

    [clf__max_depth]    # a pipeline's step parameter: <step>__<param>
    type = "int"
    low = 2
    high = 12
    step = 2            # optional: a grid of low, low+step, ...

YAML takes the same keys (``C: {type: float, low: 0.001, high: 100, log: true}``). Every
parameter is checked against ``estimator.get_params()``: a name the estimator does not have,
``low >= high``, a log scale with ``low <= 0`` or an empty list of choices stop with an
:class:`~afterfit.errors.InvalidInputError` that names the parameter.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from afterfit.errors import InvalidInputError

__all__ = [
    "DEFAULT_SPACES",
    "Param",
    "SearchSpace",
    "default_space",
    "load_space",
    "resolve_space",
]

TYPES = ("float", "int", "categorical")
#: Largest grid ``sampler="grid"`` builds from an integer range without a step.
MAX_INT_GRID = 100


@dataclass(frozen=True)
class Param:
    """One searched parameter.

    Attributes
    ----------
    name : str
        The estimator's parameter (``C``, or ``clf__C`` inside a pipeline).
    type : {"float", "int", "categorical"}
    low, high : float or int, optional
        The range of a numeric parameter, both ends included.
    log : bool
        Sample on a log scale.
    step : float or int, optional
        Sample only ``low, low + step, ...``.
    choices : tuple, optional
        The values of a categorical parameter.
    """

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] | None = None

    def suggest(self, trial: Any) -> Any:
        """Ask an Optuna trial for this parameter's value."""
        if self.type == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices or ()))
        if self.type == "int":
            step = 1 if self.step is None else int(self.step)
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=step,
                                     log=self.log)  # fmt: skip
        return trial.suggest_float(self.name, float(self.low), float(self.high), step=self.step,
                                   log=self.log)  # fmt: skip

    def grid(self) -> list[Any]:
        """The values ``sampler="grid"`` tries: the choices, or the range by its step."""
        if self.type == "categorical":
            return list(self.choices or ())
        if self.type == "int":
            step = 1 if self.step is None else int(self.step)
            values = list(range(int(self.low), int(self.high) + 1, step))
            if self.step is None and len(values) > MAX_INT_GRID:
                raise InvalidInputError(
                    f"The grid sampler cannot enumerate parameter '{self.name}': an integer "
                    f"range of {len(values)} values without a step.",
                    fix=f"give '{self.name}' a step, or make it categorical with choices.",
                )
            return values
        if self.step is None:
            raise InvalidInputError(
                f"The grid sampler cannot enumerate parameter '{self.name}': a float range "
                "without a step.",
                fix=f"give '{self.name}' a step, or make it categorical with the values to try.",
            )
        n = math.floor((float(self.high) - float(self.low)) / float(self.step) + 1e-9)
        return [float(self.low) + i * float(self.step) for i in range(n + 1)]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.type == "categorical":
            out["choices"] = list(self.choices or ())
        else:
            out.update(low=self.low, high=self.high, log=self.log)
            if self.step is not None:
                out["step"] = self.step
        return out


@dataclass(frozen=True)
class SearchSpace:
    """The parameters a study searches, in order."""

    params: tuple[Param, ...]
    source: str = "dict"

    def __len__(self) -> int:
        return len(self.params)

    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Every parameter's value for one Optuna trial."""
        return {p.name: p.suggest(trial) for p in self.params}

    def grid(self) -> dict[str, list[Any]]:
        """The search space of :class:`optuna.samplers.GridSampler`."""
        return {p.name: p.grid() for p in self.params}

    def grid_size(self) -> int:
        return math.prod(len(v) for v in self.grid().values())

    def to_dict(self) -> dict[str, Any]:
        return {p.name: p.to_dict() for p in self.params}


# --- built-in defaults -------------------------------------------------------------------


def _f(low: float, high: float, log: bool = False) -> dict[str, Any]:
    return {"type": "float", "low": low, "high": high, "log": log}


def _i(low: int, high: int, log: bool = False) -> dict[str, Any]:
    return {"type": "int", "low": low, "high": high, "log": log}


def _c(*choices: Any) -> dict[str, Any]:
    return {"type": "categorical", "choices": list(choices)}


_FORESTS = {
    "n_estimators": _i(50, 400, log=True),
    "max_depth": _i(2, 32, log=True),
    "min_samples_leaf": _i(1, 20, log=True),
    "max_features": _f(0.1, 1.0),
}
_HGB = {
    "learning_rate": _f(0.01, 0.3, log=True),
    "max_iter": _i(50, 500, log=True),
    "max_leaf_nodes": _i(8, 128, log=True),
    "min_samples_leaf": _i(5, 100, log=True),
    "l2_regularization": _f(1e-6, 10.0, log=True),
}
_XGB = {
    "n_estimators": _i(50, 500, log=True),
    "max_depth": _i(2, 10),
    "learning_rate": _f(0.01, 0.3, log=True),
    "subsample": _f(0.5, 1.0),
    "colsample_bytree": _f(0.5, 1.0),
    "min_child_weight": _f(1.0, 20.0, log=True),
    "reg_lambda": _f(1e-3, 10.0, log=True),
}
_LGBM = {
    "n_estimators": _i(50, 500, log=True),
    "learning_rate": _f(0.01, 0.3, log=True),
    "num_leaves": _i(8, 128, log=True),
    "min_child_samples": _i(5, 100, log=True),
    "colsample_bytree": _f(0.5, 1.0),
    "reg_lambda": _f(1e-3, 10.0, log=True),
}

#: Built-in spaces by estimator class name: ranges that work for most tabular data.
DEFAULT_SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "LogisticRegression": {"C": _f(1e-4, 1e4, log=True), "class_weight": _c(None, "balanced")},
    "Ridge": {"alpha": _f(1e-4, 1e4, log=True)},
    "RandomForestClassifier": _FORESTS,
    "RandomForestRegressor": _FORESTS,
    "ExtraTreesClassifier": _FORESTS,
    "ExtraTreesRegressor": _FORESTS,
    "HistGradientBoostingClassifier": _HGB,
    "HistGradientBoostingRegressor": _HGB,
    "SVC": {"C": _f(1e-3, 1e3, log=True), "gamma": _f(1e-4, 10.0, log=True)},
    "SVR": {
        "C": _f(1e-3, 1e3, log=True),
        "gamma": _f(1e-4, 10.0, log=True),
        "epsilon": _f(1e-3, 1.0, log=True),
    },
    "XGBClassifier": _XGB,
    "XGBRegressor": _XGB,
    "LGBMClassifier": _LGBM,
    "LGBMRegressor": _LGBM,
}


def _final_step(estimator: Any) -> tuple[str, Any]:
    """The estimator the default space is for, and the prefix of its parameters: a
    pipeline's last step is ``<name>__``."""
    prefix = ""
    while hasattr(estimator, "steps") and getattr(estimator, "steps", None):
        name, estimator = estimator.steps[-1]
        prefix += f"{name}__"
    return prefix, estimator


def default_space(estimator: Any) -> SearchSpace:
    """The built-in search space of ``estimator`` (a pipeline's: its last step's).

    Raises
    ------
    InvalidInputError
        No built-in space for the estimator's class.
    """
    prefix, final = _final_step(estimator)
    name = type(final).__name__
    if name not in DEFAULT_SPACES:
        raise InvalidInputError(
            f"There is no built-in search space for a {name}; built-in spaces exist for "
            f"{', '.join(sorted(DEFAULT_SPACES))}.",
            fix="pass a search space: space='space.toml' (--space space.toml) or a dict "
            "{'param': {'type': 'float', 'low': ..., 'high': ...}}.",
        )
    spec = {prefix + k: v for k, v in DEFAULT_SPACES[name].items()}
    return _build(spec, estimator, source=f"built-in ({name})")


# --- reading and checking ----------------------------------------------------------------


def load_space(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a space file (``.toml``, ``.yaml``/``.yml`` or ``.json``) into a dict."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(
            f"The search space file {path} does not exist.",
            fix="pass the path of a .toml or .yaml file with one table per parameter.",
        )
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
        if suffix == ".toml":
            import tomllib

            data: Any = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        elif suffix == ".json":
            import json

            data = json.loads(text)
        else:
            raise InvalidInputError(
                f"The search space file {path} has the extension '{suffix}'; afterfit reads "
                ".toml, .yaml, .yml and .json.",
                fix="save the space as space.toml or space.yaml.",
            )
    except InvalidInputError:
        raise
    except Exception as exc:  # tomllib.TOMLDecodeError, yaml.YAMLError, JSONDecodeError
        raise InvalidInputError(
            f"Cannot read the search space file {path}: {exc}.",
            fix="check the file's syntax; each parameter is a table with type, low, high "
            "(or choices).",
        ) from exc
    if not isinstance(data, dict) or not data:
        raise InvalidInputError(
            f"The search space file {path} holds no parameters.",
            fix="add one table per parameter, such as [C] type = 'float' low = 0.001 high = 100.",
        )
    return data


def resolve_space(space: Any, estimator: Any) -> SearchSpace:
    """A checked :class:`SearchSpace` from a file path, a dict, a SearchSpace or None.

    Parameters
    ----------
    space : str, os.PathLike, dict, SearchSpace or None
        None: the built-in space of the estimator's class (:func:`default_space`).
    estimator : object
        The (unfitted or fitted) scikit-learn estimator or pipeline whose ``get_params()``
        the names are checked against.

    Raises
    ------
    InvalidInputError
        An unknown parameter name, an invalid range or type, empty choices, or an unreadable
        file; the message names the parameter.
    """
    if space is None:
        return default_space(estimator)
    if isinstance(space, SearchSpace):
        return _build({p.name: p.to_dict() for p in space.params}, estimator, source=space.source)
    if isinstance(space, str | os.PathLike):
        return _build(load_space(space), estimator, source=str(space))
    if isinstance(space, Mapping):
        return _build(dict(space), estimator, source="dict")
    raise InvalidInputError(
        f"The argument 'space' must be a file path, a dict or None; received "
        f"{type(space).__name__}.",
        fix="pass space='space.toml', a dict of parameter tables, or leave it out for the "
        "built-in space.",
    )


def _build(spec: dict[str, Any], estimator: Any, *, source: str) -> SearchSpace:
    try:
        known = dict(estimator.get_params(deep=True))
    except Exception as exc:
        raise InvalidInputError(
            f"The model, a {type(estimator).__name__}, has no get_params(): afterfit tunes "
            "scikit-learn compatible estimators.",
            fix="pass a scikit-learn estimator or pipeline (XGBoost and LightGBM's "
            "scikit-learn wrappers work).",
        ) from exc
    if not spec:
        raise InvalidInputError(
            "The search space is empty.", fix="add at least one parameter to search."
        )
    params = []
    for name, table in spec.items():
        params.append(_param(str(name), table, known, type(estimator).__name__))
    return SearchSpace(tuple(params), source=source)


def _number(name: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInputError(
            f"Search space parameter '{name}': '{key}' must be a finite number; received "
            f"{value!r}.",
            fix=f"write e.g. {key} = 0.1 in the '{name}' table.",
        )
    return value


def _tunable(known: Mapping[str, Any]) -> list[str]:
    """The names worth listing: every setting, nested ones (``lr__C``) included, but not
    the steps themselves (an estimator, a list of steps), which no search samples."""

    def is_step(value: Any) -> bool:
        if hasattr(value, "get_params"):
            return True
        return isinstance(value, list | tuple) and any(
            isinstance(v, tuple) and len(v) >= 2 and hasattr(v[1], "get_params") for v in value
        )

    return sorted((k for k, v in known.items() if not is_step(v)), key=lambda k: (k.count("__"), k))


def _param(name: str, table: Any, known: Mapping[str, Any], owner: str) -> Param:
    if name not in known:
        import difflib

        close = sorted(k for k in known if k.split("__")[-1] == name.split("__")[-1])
        close += [c for c in difflib.get_close_matches(name, list(known), n=3) if c not in close]
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        tunable = _tunable(known)
        shown = ", ".join(tunable[:60]) + (
            f" (and {len(tunable) - 60} more)" if len(tunable) > 60 else ""
        )
        raise InvalidInputError(
            f"Search space parameter '{name}' is not a parameter of the {owner}.{hint} Its "
            f"parameters include: {shown}.",
            fix="use the names get_params() lists; a pipeline step's parameter is "
            "written <step>__<param>.",
        )
    if not isinstance(table, Mapping):
        raise InvalidInputError(
            f"Search space parameter '{name}' must be a table (type, low, high or choices); "
            f"received {table!r}.",
            fix=f"write [{name}] type = 'float' low = ... high = ... (TOML).",
        )
    unknown_keys = set(table) - {"type", "low", "high", "log", "step", "choices"}
    if unknown_keys:
        raise InvalidInputError(
            f"Search space parameter '{name}' has unknown key(s) "
            f"{', '.join(map(repr, sorted(unknown_keys)))}.",
            fix="use type, low, high, log, step and choices.",
        )
    kind = table.get("type", "categorical" if "choices" in table else None)
    if kind not in TYPES:
        raise InvalidInputError(
            f"Search space parameter '{name}' has type {kind!r}; it must be one of "
            f"{', '.join(map(repr, TYPES))}.",
            fix=f"set type = 'float', 'int' or 'categorical' in the '{name}' table.",
        )
    if kind == "categorical":
        choices = table.get("choices")
        if not isinstance(choices, list | tuple) or len(choices) == 0:
            raise InvalidInputError(
                f"Search space parameter '{name}' is categorical with no choices "
                f"(received {choices!r}).",
                fix=f"list at least one value: choices = [...] in the '{name}' table.",
            )
        bad = [c for c in choices if not isinstance(c, str | int | float | bool | type(None))]
        if bad:
            raise InvalidInputError(
                f"Search space parameter '{name}': choices must be strings, numbers, "
                f"booleans or null; received {bad[0]!r}.",
                fix="list plain values as choices.",
            )
        return Param(name, "categorical", choices=tuple(choices))
    for key in ("low", "high"):
        if key not in table:
            raise InvalidInputError(
                f"Search space parameter '{name}' ({kind}) has no '{key}'.",
                fix=f"give '{name}' both low and high.",
            )
    low = _number(name, "low", table["low"])
    high = _number(name, "high", table["high"])
    log = bool(table.get("log", False))
    step = table.get("step")
    if kind == "int" and (low != int(low) or high != int(high)):
        raise InvalidInputError(
            f"Search space parameter '{name}' is an int with low={low!r}, high={high!r}.",
            fix=f"give '{name}' whole-number bounds, or make it a float.",
        )
    if low >= high:
        raise InvalidInputError(
            f"Search space parameter '{name}' has low={low!r} >= high={high!r}.",
            fix=f"give '{name}' a low below its high (for a fixed value, set it on the model).",
        )
    if log and low <= 0:
        raise InvalidInputError(
            f"Search space parameter '{name}' is on a log scale with low={low!r} <= 0.",
            fix=f"give '{name}' a positive low, or set log = false.",
        )
    if step is not None:
        step = _number(name, "step", step)
        if step <= 0 or (kind == "int" and step != int(step)):
            raise InvalidInputError(
                f"Search space parameter '{name}' has step={step!r}; it must be positive"
                + (" and whole." if kind == "int" else "."),
                fix=f"give '{name}' a positive step, or leave it out.",
            )
        if log:
            raise InvalidInputError(
                f"Search space parameter '{name}' has both a step and a log scale, which "
                "Optuna cannot sample.",
                fix=f"drop either step or log from '{name}'.",
            )
    if kind == "int":
        return Param(name, "int", int(low), int(high), log, None if step is None else int(step))
    return Param(name, "float", float(low), float(high), log,
                 None if step is None else float(step))  # fmt: skip
