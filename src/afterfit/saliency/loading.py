"""Safe loading of PyTorch image classifiers for saliency maps.

Three ways in, none of which runs code from the file unless the user trusts it:

- a **TorchScript** file (``torch.jit.save``), read with ``torch.jit.load``: the archive
  holds tensors and TorchScript code, which torch's interpreter runs; without ``trust``
  the code is checked first (:mod:`afterfit.models.torchscript_checks`: no
  ``__setstate__``, and only pure tensor operations in every method and hook);
- a **state dict** read with ``torch.load(path, weights_only=True)`` (only tensors and
  plain containers are unpickled) into the module class the user names
  (``package.module:Class``, constructed with keyword arguments);
- an in-memory ``torch.nn.Module``.

A whole pickled module (``torch.save(model)``) loads only with ``trust=True``, because
unpickling it runs whatever code the file names.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from afterfit.errors import (
    InvalidInputError,
    MissingDependencyError,
    ModelError,
    ModelLoadError,
    UntrustedModelError,
)

__all__ = ["import_captum", "import_torch", "is_torchscript", "load_torch_module"]

_STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model")


def import_torch(purpose: str = "Saliency maps") -> Any:
    """Import and return torch, or raise :class:`MissingDependencyError` (extra 'saliency')."""
    try:
        import torch
    except ImportError as exc:
        raise MissingDependencyError("torch", "saliency", purpose=purpose) from exc
    return torch


def import_captum(purpose: str = "Saliency maps") -> Any:
    """Import and return ``captum.attr``, or raise :class:`MissingDependencyError`."""
    import_torch(purpose)
    try:
        import captum.attr
    except ImportError as exc:
        raise MissingDependencyError("captum", "saliency", purpose=purpose) from exc
    return captum.attr


def is_torchscript(module: Any) -> bool:
    """Whether ``module`` is a TorchScript module (no Python forward, no hooks)."""
    torch = import_torch()
    return isinstance(module, torch.jit.ScriptModule)


def _zip_names(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return []


def _starts_as_pickle(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(1) == b"\x80"


def _brief(exc: BaseException, limit: int = 240) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _import_module(name: str) -> Any:
    """Import ``name``; when its top-level package is not found, look in the working
    directory too, as ``python -m`` would (the ``afterfit`` script does not put it on the
    path, and the error message tells the user to run from the module's folder). The
    folder goes last on the path, so it never shadows an installed package."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        top = name.split(".")[0]
        cwd = os.getcwd()
        if exc.name != top or cwd in sys.path or "" in sys.path:
            raise
        sys.path.append(cwd)
        try:
            return importlib.import_module(name)
        except ImportError:
            sys.path.remove(cwd)
            raise


def _import_class(spec: str) -> Any:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise InvalidInputError(
            f"The module class must be given as 'package.module:Class'; received {spec!r}.",
            fix="pass for example --module-class afterfit.saliency.example:DigitsCNN.",
        )
    try:
        mod = _import_module(module_name)
    except ImportError as exc:
        raise ModelLoadError(
            f"The module '{module_name}' of the module class {spec!r} cannot be imported: "
            f"{_brief(exc)}.",
            fix="install the package that defines the network, or run from the folder "
            "that holds its module (it must be importable).",
        ) from None
    obj: Any = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ModelLoadError(
                f"The module '{module_name}' has no attribute '{attr}'.",
                fix="check the class name after the colon (package.module:Class).",
            )
        obj = getattr(obj, part)
    if not isinstance(obj, type):
        raise ModelLoadError(
            f"{spec!r} is a {type(obj).__name__}, not a class.",
            fix="name the nn.Module subclass whose state dict the file holds.",
        )
    return obj


def _as_state_dict(obj: Any, torch: Any) -> dict[str, Any] | None:
    """The state dict in ``obj`` (itself, or under a usual checkpoint key), or None."""
    if isinstance(obj, Mapping):
        if obj and all(isinstance(k, str) and torch.is_tensor(v) for k, v in obj.items()):
            return dict(obj)
        for key in _STATE_DICT_KEYS:
            inner = obj.get(key)
            if isinstance(inner, Mapping):
                found = _as_state_dict(inner, torch)
                if found is not None:
                    return found
    return None


def load_torch_module(
    path: str | os.PathLike[str],
    *,
    module_class: str | type | None = None,
    module_kwargs: Mapping[str, Any] | str | None = None,
    trust: bool = False,
) -> Any:
    """Load a PyTorch image classifier from a file, safely.

    Parameters
    ----------
    path : str or os.PathLike
        A TorchScript file (``torch.jit.save``), or a state dict (``torch.save(
        model.state_dict())``, also inside a checkpoint dict under ``"state_dict"``,
        ``"model_state_dict"`` or ``"model"``) together with ``module_class``.
    module_class : str or type, optional
        The network's class, ``"package.module:Class"`` or the class itself; needed for a
        state dict.
    module_kwargs : mapping or JSON str, optional
        Keyword arguments of the class's constructor.
    trust : bool, default False
        Allow ``torch.load(weights_only=False)`` for a whole pickled module, and a
        TorchScript file whose code does more than compute on tensors (files, printing,
        RPC...). Both run code from the file: use only for files you trust.

    Returns
    -------
    torch.nn.Module
        In eval mode, on the CPU.

    Raises
    ------
    ModelLoadError
        The file is missing or is neither a TorchScript module nor a state dict of the
        class; the class cannot be imported or built; the state dict does not fit it.
    UntrustedModelError
        ``trust`` is False and the file is a pickled module, or a TorchScript module whose
        code defines ``__setstate__`` or runs an operation outside the allowlist (the
        message names it and the method it sits in).
    """
    torch = import_torch("Loading a PyTorch model")
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(
            f"The model file '{path}' does not exist.",
            fix=f"check the path (relative paths start from '{Path.cwd()}').",
        )
    if not path.is_file():
        raise ModelLoadError(
            f"The model path '{path}' is not a file.", fix="pass the .pt file itself."
        )
    kwargs = _kwargs(module_kwargs)
    names = _zip_names(path)
    torchscript = any(n.endswith("constants.pkl") or "/code/" in n for n in names)
    if torchscript:
        if module_class is not None:
            raise ModelLoadError(
                f"The model file '{path}' is a TorchScript module; a module class is only "
                "for state dicts.",
                fix="leave out --module-class (module_class) for TorchScript files.",
            )
        from afterfit.models.torchscript_checks import load_checked

        try:
            with warnings.catch_warnings():
                # torch 2.13 deprecates TorchScript; it still is the pickle-free format.
                warnings.simplefilter("ignore", DeprecationWarning)
                if trust:
                    module = torch.jit.load(str(path), map_location="cpu")
                else:
                    # TorchScript is code: without trust, only pure tensor operations.
                    module = load_checked(path, torch)
        except RuntimeError as exc:
            raise ModelLoadError(
                f"The TorchScript file '{path}' cannot be loaded: {_brief(exc)}.",
                fix="save the module again with torch.jit.save(torch.jit.script(model), path).",
            ) from None
        return module.eval()
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError...
        # A torch.save archive (zip with data.pkl) or a bare pickle (starts with the
        # PROTO opcode) that the weights-only unpickler refused holds Python objects.
        is_archive = any(n.endswith("data.pkl") for n in names)
        pickled_objects = "Weights only" in str(exc) and (is_archive or _starts_as_pickle(path))
        if pickled_objects and not trust:
            raise UntrustedModelError(
                f"The model file '{path}' holds pickled Python objects (a whole module "
                "saved with torch.save(model)); loading it runs code named in the file, so "
                "afterfit does not load it by default.",
                fix="save the weights with torch.save(model.state_dict(), path) and pass "
                "--module-class package.module:Class, or save a TorchScript file "
                "(torch.jit.save(torch.jit.script(model), path)); pass --trust only for "
                "files from a source you trust.",
            ) from None
        if not pickled_objects:
            raise ModelLoadError(
                f"The file '{path}' is not a PyTorch model: neither a TorchScript module nor "
                f"a file written by torch.save ({_brief(exc, 160)}).",
                fix="pass a TorchScript file, or a state dict with --module-class.",
            ) from None
        obj = None
    if obj is None:  # trusted: a whole pickled module
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise ModelLoadError(
                f"The model file '{path}' cannot be unpickled: {_brief(exc)}.",
                fix="make the module's class importable, or save a TorchScript file.",
            ) from None
    if isinstance(obj, torch.nn.Module):
        if module_class is not None:
            raise ModelLoadError(
                f"The model file '{path}' holds a whole module; a module class is only for "
                "state dicts.",
                fix="leave out --module-class (module_class).",
            )
        return obj.eval()
    state = _as_state_dict(obj, torch)
    if state is None:
        raise ModelLoadError(
            f"The model file '{path}' holds a {type(obj).__name__}, neither a module nor a "
            "state dict (a mapping of parameter names to tensors).",
            fix="save torch.save(model.state_dict(), path) or a TorchScript file.",
        )
    if module_class is None:
        raise ModelLoadError(
            f"The model file '{path}' is a state dict ({len(state)} tensors): it holds "
            "weights but not the network's code.",
            fix="name the network's class with --module-class package.module:Class "
            "(module_class=...), and its constructor arguments with --module-kwargs JSON.",
        )
    cls = _import_class(module_class) if isinstance(module_class, str) else module_class
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise ModelLoadError(
            f"The module class {getattr(cls, '__name__', cls)!r} is not a torch.nn.Module.",
            fix="name the nn.Module subclass whose state dict the file holds.",
        )
    try:
        module = cls(**kwargs)
    except Exception as exc:
        raise ModelLoadError(
            f"The module class {cls.__name__} cannot be built with {kwargs or 'no arguments'}: "
            f"{_brief(exc)}.",
            fix="pass its constructor arguments with --module-kwargs '{\"name\": value}'.",
        ) from None
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelLoadError(
            f"The state dict in '{path}' does not fit {cls.__name__}"
            f"({', '.join(f'{k}={v!r}' for k, v in kwargs.items())}): {_brief(exc, 400)}.",
            fix="pass the class and constructor arguments the weights were trained with.",
        ) from None
    return module.eval()


def _kwargs(module_kwargs: Mapping[str, Any] | str | None) -> dict[str, Any]:
    if module_kwargs is None:
        return {}
    if isinstance(module_kwargs, str):
        try:
            module_kwargs = json.loads(module_kwargs)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(
                f"The module arguments are not valid JSON: {exc.msg} (in {module_kwargs!r}).",
                fix="pass a JSON object, for example --module-kwargs '{\"channels\": 8}'.",
            ) from None
    if not isinstance(module_kwargs, Mapping):
        raise InvalidInputError(
            f"The module arguments must be a JSON object (name: value); received "
            f"{type(module_kwargs).__name__}.",
            fix="pass for example --module-kwargs '{\"channels\": 8}'.",
        )
    return dict(module_kwargs)


def as_torch_module(model: Any, **load_options: Any) -> Any:
    """An in-memory ``torch.nn.Module`` as it is, a path through :func:`load_torch_module`."""
    torch = import_torch()
    if isinstance(model, str | os.PathLike):
        return load_torch_module(model, **load_options)
    inner = getattr(model, "module", None)  # afterfit's TorchModel adapter
    if not isinstance(model, torch.nn.Module) and isinstance(inner, torch.nn.Module):
        model = inner
    if not isinstance(model, torch.nn.Module):
        raise ModelError(
            f"Saliency maps need a PyTorch image classifier (a torch.nn.Module or a .pt "
            f"file); received a {type(model).__name__}.",
            fix="pass the trained network, or the path of a TorchScript or state-dict file.",
        )
    return model
