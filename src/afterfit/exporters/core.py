"""Export a trained model to ONNX, checked against the original on real rows; skops when
ONNX cannot be had.

::

    result = export_model(model, X_valid, path="model.onnx")
    result.format, result.path, result.parity.max_abs_diff, result.reason

The parity check runs the exported graph with ONNX Runtime (through
:class:`~afterfit.models.onnx.OnnxModel`, exactly as the bundle and the server will) and
the original model on the same rows, and compares probabilities (or regression values)
and labels. Numeric inputs are float32 first (the smaller, usual graph); when float32
misses the tolerance the model is converted again with float64 inputs; when that misses
too, or no converter exists, the model is written with skops instead and the result says
why.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from afterfit.errors import InvalidInputError, ModelError
from afterfit.jsonsafe import number, scalar
from afterfit.models.base import Model
from afterfit.outdir import Inputs, prepare_file

__all__ = [
    "METADATA_KEY",
    "ExportResult",
    "Parity",
    "export_document",
    "export_model",
    "measure_parity",
]

#: Key of the ONNX metadata entry where afterfit records task, classes and feature names.
METADATA_KEY = "afterfit"

Format = Literal["onnx", "skops"]


@dataclass(frozen=True)
class Parity:
    """How closely an exported model reproduces the original on real rows.

    Attributes
    ----------
    n_rows : int
        Rows compared.
    max_abs_diff : float
        Largest absolute difference of probabilities (classification; of decision scores
        for classifiers without probabilities) or of predicted values (regression).
    mean_abs_diff : float
        Mean absolute difference over the same cells.
    label_agreement : float or None
        Fraction of rows whose predicted label is the same; None for regression.
    tolerance : float
        The bound ``max_abs_diff`` is held to (for regression: relative to the size of
        the value when it exceeds 1, as in ``numpy.isclose(rtol=atol=tolerance)``).
    passed : bool
        Every difference within the tolerance, and every label the same except on rows
        where the original's two best scores are themselves within the tolerance (a tie
        that float rounding may break either way).
    output : {"probabilities", "scores", "values"}
        What was compared.
    n_threshold_rows : int
        Copies of the rows whose float columns sit half-way between neighbouring values
        (where trees split, and float32 rounding picks the side), checked as well; every
        difference above counts them too.
    """

    n_rows: int
    max_abs_diff: float
    mean_abs_diff: float
    label_agreement: float | None
    tolerance: float
    passed: bool
    output: str
    n_threshold_rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe fields."""
        return {
            "n_rows": int(self.n_rows),
            "n_threshold_rows": int(self.n_threshold_rows),
            "max_abs_diff": number(self.max_abs_diff),
            "mean_abs_diff": number(self.mean_abs_diff),
            "label_agreement": None
            if self.label_agreement is None
            else number(self.label_agreement),
            "tolerance": number(self.tolerance),
            "tolerance_rule": (
                "|difference| <= tolerance * max(1, |value|)"
                if self.output == "values"
                else "|difference| <= tolerance"
            ),
            "passed": bool(self.passed),
            "output": self.output,
        }


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_model` wrote.

    Attributes
    ----------
    format : {"onnx", "skops"}
    path : pathlib.Path
        The file written (``.onnx``, or ``.skops`` beside it after a fallback).
    parity : Parity or None
        The written file checked against the original (for skops: after reloading it);
        None when the skops file could not be reloaded here to check.
    reason : str or None
        Why the model was written as skops although ONNX was preferred; None otherwise.
    converter : {"skl2onnx", "onnxmltools", "torch.onnx", "skops"}
    precision : {"float32", "float64"} or None
        Type of the ONNX graph's numeric inputs.
    opset : int or None
        The ONNX opset of the graph (default domain).
    attempts : tuple of dict
        Each conversion tried, in order: precision, and the parity or the error.
    trusted_types : tuple of str
        For a skops file: the types a loader must trust (``load_model(...,
        trusted_types=...)``).
    """

    format: Format
    path: Path
    parity: Parity | None
    reason: str | None
    converter: str
    precision: str | None = None
    opset: int | None = None
    attempts: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    trusted_types: tuple[str, ...] = ()

    @property
    def fell_back(self) -> bool:
        """Whether the model was written as skops instead of the ONNX asked for."""
        return self.reason is not None

    def frame(self) -> pd.DataFrame:
        """The parity table: one row per conversion tried, then the file written."""
        rows = []
        for a in self.attempts:
            p = a.get("parity") or {}
            rows.append(
                {
                    "file": "onnx (" + str(a.get("precision")) + ")",
                    "rows": p.get("n_rows"),
                    "max_abs_diff": p.get("max_abs_diff"),
                    "label_agreement": p.get("label_agreement"),
                    "passed": p.get("passed") if p else False,
                    "note": a.get("error", ""),
                }
            )
        if self.format == "skops":
            p = self.parity.to_dict() if self.parity is not None else {}
            rows.append(
                {
                    "file": "skops",
                    "rows": p.get("n_rows"),
                    "max_abs_diff": p.get("max_abs_diff"),
                    "label_agreement": p.get("label_agreement"),
                    "passed": p.get("passed"),
                    "note": "" if self.parity is not None else "not reloaded here",
                }
            )
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe fields."""
        return {
            "format": self.format,
            "path": str(self.path),
            "converter": self.converter,
            "precision": self.precision,
            "opset": self.opset,
            "parity": None if self.parity is None else self.parity.to_dict(),
            "fell_back": self.fell_back,
            "reason": self.reason,
            "attempts": [dict(a) for a in self.attempts],
            "trusted_types": list(self.trusted_types),
        }


def export_document(result: ExportResult, *, source: dict[str, Any] | None = None) -> dict:
    """The ``<out>.parity.json`` document of an export (schema ``afterfit.export``)."""
    from afterfit.documents import document

    return document("afterfit.export", {"export": result.to_dict()}, source=source)


# --- parity ----------------------------------------------------------------------------------


def measure_parity(
    original: Model, exported: Model, X: pd.DataFrame, *, tolerance: float = 1e-5
) -> Parity:
    """Compare two models' scores and labels on the rows ``X``.

    Parameters
    ----------
    original, exported : Model
        The reference and the model to check.
    X : pandas.DataFrame
        Real rows (validation data).
    tolerance : float, default 1e-5
        Largest acceptable absolute difference of probabilities; for regression values
        ``|a - b| <= tolerance * max(1, |a|)``.

    Returns
    -------
    Parity
    """
    a = np.asarray(original.predict_scores(X), dtype=np.float64)
    b = np.asarray(exported.predict_scores(X), dtype=np.float64)
    if a.shape != b.shape:
        raise ModelError(
            f"The exported model gives scores of shape {b.shape}, the original {a.shape}.",
            fix="this is a converter problem; export with prefer='skops'.",
        )
    n = len(X)
    diff = np.abs(a - b)
    both_nan = np.isnan(a) & np.isnan(b)
    diff = np.where(both_nan, 0.0, diff)
    diff = np.where(np.isnan(diff), np.inf, diff)  # NaN on one side only: a failure
    max_diff = float(diff.max()) if diff.size else 0.0
    mean_diff = float(diff.mean()) if diff.size else 0.0
    if original.task == "regression":
        within = bool(np.all(diff <= tolerance * np.maximum(1.0, np.abs(a))))
        return Parity(n, max_diff, mean_diff, None, float(tolerance), within, "values")
    la, lb = np.asarray(original.predict(X)), np.asarray(exported.predict(X))
    same = np.array([_same_label(x, y) for x, y in zip(la.tolist(), lb.tolist(), strict=True)])
    agreement = float(same.mean()) if n else 1.0
    # A disagreement is forgiven only where the original's two best scores tie within
    # the tolerance: rounding may then pick either class.
    if a.shape[1] >= 2 and n:
        top2 = np.sort(a, axis=1)[:, -2:]
        tie = (top2[:, 1] - top2[:, 0]) <= 2 * tolerance
    else:
        tie = np.zeros(n, dtype=bool)
    labels_ok = bool(np.all(same | tie))
    passed = max_diff <= tolerance and labels_ok
    output = "probabilities" if original.scores_are_probabilities else "scores"
    return Parity(n, max_diff, mean_diff, agreement, float(tolerance), passed, output)


def _same_label(x: Any, y: Any) -> bool:
    if x == y:
        return True
    return str(x) == str(y)  # 1 vs "1", True vs "True" from string-labelled graphs


# --- helpers ---------------------------------------------------------------------------------


def _check_paths(path: str | os.PathLike[str], prefer: str) -> tuple[Path, Path]:
    if prefer not in ("onnx", "skops"):
        raise InvalidInputError(
            f"The argument 'prefer' must be 'onnx' or 'skops'; received {prefer!r}.",
            fix="pass prefer='onnx' (ONNX with a skops fallback) or prefer='skops'.",
        )
    path = Path(path)
    if path.suffix.lower() not in (".onnx", ".skops"):
        raise InvalidInputError(
            f"The output path '{path}' must end in .onnx or .skops; it ends in "
            f"{path.suffix or '(nothing)'!r}.",
            fix="pass a path such as model.onnx (a skops fallback is written as model.skops "
            "beside it).",
        )
    if path.exists() and path.is_dir():
        raise InvalidInputError(
            f"The output path '{path}' is a folder.",
            fix="pass a file path such as model.onnx.",
        )
    return path.with_suffix(".onnx"), path.with_suffix(".skops")


def _check_sample(X_sample: Any) -> pd.DataFrame:
    from afterfit.data import as_frame

    try:
        X = as_frame(X_sample)
    except Exception as exc:
        raise InvalidInputError(
            f"X_sample must be a table of feature rows; received a {type(X_sample).__name__}.",
            fix="pass a pandas DataFrame with the model's feature columns (validation rows).",
        ) from exc
    if len(X) == 0 or X.shape[1] == 0:
        raise InvalidInputError(
            f"X_sample is empty ({X.shape[0]} rows, {X.shape[1]} columns); the export needs "
            "real rows to derive input types and to check parity.",
            fix="pass validation rows with the model's feature columns.",
        )
    return X.set_axis([str(c) for c in X.columns], axis=1)


def _unwrap(model: Any) -> tuple[Model, Any]:
    """(afterfit Model, the raw object to convert)."""
    from afterfit.models import as_model
    from afterfit.models.sklearn import SklearnModel
    from afterfit.models.torch import TorchModel

    adapter = as_model(model)
    if isinstance(adapter, SklearnModel):
        return adapter, adapter.estimator
    if isinstance(adapter, TorchModel):
        return adapter, adapter.module
    return adapter, getattr(adapter, "booster", model)


def _kind(adapter: Model) -> str:
    from afterfit.exporters.boosters import is_booster_adapter
    from afterfit.models.onnx import OnnxModel
    from afterfit.models.sklearn import SklearnModel
    from afterfit.models.torch import TorchModel

    if isinstance(adapter, SklearnModel):
        return "sklearn"
    if isinstance(adapter, TorchModel):
        return "torch"
    if isinstance(adapter, OnnxModel):
        return "onnx"
    if is_booster_adapter(adapter):
        return "booster"
    return "other"


def _metadata(adapter: Model, X: pd.DataFrame, layout: str, precision: str) -> dict:
    classes = None if adapter.classes_ is None else [scalar(c) for c in adapter.classes_]
    return {
        "task": adapter.task,
        "classes": classes,
        "feature_names": [str(c) for c in X.columns],
        "layout": layout,
        "precision": precision,
        "scores_are_probabilities": bool(adapter.scores_are_probabilities),
    }


def _set_metadata(onx: Any, meta: dict[str, Any]) -> None:
    text = json.dumps(meta)
    entry = next((p for p in onx.metadata_props if p.key == METADATA_KEY), None)
    if entry is None:
        entry = onx.metadata_props.add()
        entry.key = METADATA_KEY
    entry.value = text


def _opset(onx: Any) -> int | None:
    return next((int(o.version) for o in onx.opset_import if o.domain in ("", "ai.onnx")), None)


def _short_error(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _convert(
    kind: str, raw: Any, adapter: Model, X: pd.DataFrame, precision: str, target_opset: int | None
) -> tuple[Any, str, str]:
    """(ModelProto, layout, converter name)."""
    if kind == "sklearn":
        from afterfit.exporters.sklearn import sklearn_to_onnx, uses_boosters

        onx, layout = sklearn_to_onnx(
            raw,
            X,
            precision=precision,
            target_opset=target_opset,  # type: ignore[arg-type]
        )
        return onx, layout, "onnxmltools" if uses_boosters(raw) else "skl2onnx"
    if kind == "torch":
        from afterfit.exporters.torch import torch_to_onnx

        onx = torch_to_onnx(adapter, X, precision=precision, target_opset=target_opset)
        return onx, "matrix", "torch.onnx"
    if kind == "booster":
        from afterfit.exporters.boosters import booster_to_onnx

        return booster_to_onnx(adapter, X, target_opset=target_opset), "matrix", "onnxmltools"
    raise ModelError(
        f"afterfit converts scikit-learn estimators and pipelines, native XGBoost and "
        f"LightGBM boosters and torch modules to ONNX; this model is a {type(raw).__name__}.",
        fix="pass one of those, or export with prefer='skops'.",
    )


def _precisions(kind: str, adapter: Model) -> tuple[str, ...]:
    if kind == "torch":
        # The graph runs in the module's own dtype; its input follows.
        return ("float64",) if adapter.input_dtype == "float64" else ("float32",)
    if kind == "booster":
        # Boosters compare float32 features with their thresholds: a double graph would
        # compute the same thing again.
        return ("float32",)
    if kind == "sklearn":
        from afterfit.exporters.sklearn import double_then_float_trees, is_tree_model

        raw = getattr(adapter, "estimator", None)
        if is_tree_model(raw):
            # A bare tree model takes float32 features whatever the input type: a double
            # graph would compute the same thing again.
            return ("float32",)
        if double_then_float_trees(raw) is not None:
            # Preprocessing in double, then float32 trees: what scikit-learn computes.
            return ("float64", "float32")
    return ("float32", "float64")


def _sample_rows(X: pd.DataFrame, max_rows: int | None, random_state: int) -> pd.DataFrame:
    if max_rows is None or len(X) <= max_rows:
        return X
    rng = np.random.default_rng(random_state)
    idx = np.sort(rng.choice(len(X), size=max_rows, replace=False))
    return X.iloc[idx]


#: Copies of rows with values on split thresholds added to the parity check, at most.
UNSEEN_ROWS = 2000


def _with_unseen_values(adapter: Any, rows: pd.DataFrame, random_state: int) -> pd.DataFrame:
    """``rows`` and up to :data:`UNSEEN_ROWS` copies whose float columns (other than whole
    numbers) take values half-way between two neighbouring values of the column, for the
    parity check.

    Trees put their split thresholds half-way between neighbouring training values, so
    rows from the training data are never near a split, and they hide the rows where
    float32 rounding decides the side: an HGB regressor agreed to 6e-5 on its training rows
    and changed leaf (by 1.0) on 3 of 142 held-out rows that sat on a threshold. The copies
    sit on the thresholds on purpose. A model that cannot score them (an encoder that
    refuses unseen values) is checked on ``rows`` alone.
    """
    floats = [c for c in rows.columns if pd.api.types.is_float_dtype(rows[c])]
    if not floats or len(rows) == 0:
        return rows
    rng = np.random.default_rng(random_state)
    pick = np.sort(rng.choice(len(rows), size=min(len(rows), UNSEEN_ROWS), replace=False))
    copies = rows.iloc[pick].copy()
    for c in floats:
        values = np.unique(rows[c].to_numpy(dtype=np.float64))
        values = values[np.isfinite(values)]
        if values.size < 2 or np.all(values == np.round(values)):
            continue  # whole numbers (counts, category codes): a half is no real input
        middles = values[:-1] + (values[1:] - values[:-1]) / 2
        copies[c] = rng.choice(middles, size=len(copies)).astype(rows[c].dtype)
    try:
        scores = np.asarray(adapter.predict_scores(copies), dtype=np.float64)
    except Exception:  # the model refuses values it has not seen: real rows only
        return rows
    if not np.all(np.isfinite(scores)):
        return rows
    return pd.concat([rows, copies], ignore_index=True)


def _write_skops(raw: Any, path: Path) -> tuple[str, ...]:
    import skops.io as sio

    from afterfit.io import atomic_write

    def write(tmp: Path) -> None:
        sio.dump(raw, tmp)

    atomic_write(path, write)
    try:
        return tuple(sio.get_untrusted_types(file=path))
    except Exception:  # pragma: no cover - we just wrote it
        return ()


def _skops_parity(
    adapter: Model, path: Path, trusted: tuple[str, ...], X: pd.DataFrame, tolerance: float
) -> Parity | None:
    from afterfit.models import load_model

    try:
        # The file was written here from the model in memory, so its types are trusted.
        reloaded = load_model(path, trusted_types=list(trusted))
        return measure_parity(adapter, reloaded, X, tolerance=tolerance)
    except Exception:  # a type defined in __main__ cannot be re-imported, for one
        return None


# --- the export --------------------------------------------------------------------------------


def export_model(
    model: Any,
    X_sample: pd.DataFrame,
    *,
    path: str | os.PathLike[str],
    prefer: str = "onnx",
    target_opset: int | None = None,
    tolerance: float = 1e-5,
    max_rows: int | None = 100_000,
    random_state: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
    overwrite: bool = True,
    inputs: Inputs | None = None,
) -> ExportResult:
    """Export ``model`` to ONNX with a parity check on real rows, or to skops.

    Parameters
    ----------
    model : object
        An afterfit :class:`~afterfit.models.base.Model` (from ``load_model`` or
        ``as_model``), a fitted scikit-learn estimator or pipeline (XGBoost and LightGBM
        scikit-learn wrappers included, alone or in a pipeline), or a ``torch.nn.Module``.
    X_sample : pandas.DataFrame
        Real feature rows (validation data, no target): their dtypes give the graph's
        inputs (numbers as float tensors, text and categories as string tensors) and the
        parity check runs on them.
    path : str or os.PathLike
        The ONNX file to write (``model.onnx``); a skops fallback goes beside it with the
        suffix ``.skops``. With ``prefer="skops"``, or a path ending in ``.skops``, the
        ``.skops`` file is written.
    prefer : {"onnx", "skops"}, default "onnx"
        ``"onnx"``: convert and check; when no converter exists, conversion fails, or
        parity misses ``tolerance`` at float32 and at float64, write skops and say why.
        ``"skops"``: write skops only.
    target_opset : int, optional
        The ONNX opset; default the newest the converters support.
    tolerance : float, default 1e-5
        Largest acceptable difference of probabilities (or, for regression, of values
        relative to their size above 1).
    max_rows : int or None, default 100_000
        Parity runs on at most this many rows of ``X_sample`` (a seeded random subset);
        None for all.
    random_state : int, default 0
        Seed of that subset.

    progress : callable, optional
        ``progress(stage, done, total)`` per conversion tried: 1 of 2 once converted,
        2 of 2 once its parity is measured (see :mod:`afterfit.progress`).
    overwrite : bool, default True
        Replace an existing file at the path written. ``afterfit export`` passes False
        unless ``--overwrite``: the file asked for is checked before any work, a skops
        fallback beside it when ONNX turns out impossible (before anything is written).
    inputs : mapping, optional
        The files the export reads, by name (``{"--model": "model.skops"}``): the file
        written may never be one of them, even with ``overwrite``
        (:func:`afterfit.outdir.prepare_file`).

    Returns
    -------
    ExportResult

    Raises
    ------
    InvalidInputError
        Bad arguments: empty ``X_sample``, a path not ending in ``.onnx``/``.skops``; a
        file to write that exists (without ``overwrite``) or is one of ``inputs``.
    ModelError
        The model cannot be used, or neither ONNX nor skops can hold it (a torch module
        that the ONNX exporter rejects).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = load_iris(return_X_y=True, as_frame=True)
    >>> clf = LogisticRegression(max_iter=500).fit(X, y)
    >>> res = export_model(clf, X, path="iris.onnx")  # doctest: +SKIP
    >>> res.format, res.parity.passed  # doctest: +SKIP
    ('onnx', True)
    """
    onnx_path, skops_path = _check_paths(path, prefer)
    if Path(path).suffix.lower() == ".skops":
        prefer = "skops"  # a .skops path asks for skops: never write a .onnx beside it

    def may_write(target: Path, what: str) -> Path:
        return prepare_file(target, overwrite=overwrite, inputs=inputs, option=what)

    # The file asked for is checked now, before any work; the skops fallback only when
    # ONNX turns out impossible: `--model model.skops --out model.onnx` is the usual call,
    # and its fallback would be the model itself.
    may_write(skops_path if prefer == "skops" else onnx_path, "The output file")
    if not (isinstance(tolerance, int | float) and math.isfinite(tolerance) and tolerance >= 0):
        raise InvalidInputError(
            f"The argument 'tolerance' must be a non-negative number; received {tolerance!r}.",
            fix="pass tolerance=1e-5, or a looser bound such as 1e-4.",
        )
    if target_opset is not None and (not isinstance(target_opset, int) or target_opset < 7):
        raise InvalidInputError(
            f"The argument 'target_opset' must be an ONNX opset number (7 or more); "
            f"received {target_opset!r}.",
            fix="leave target_opset out for the newest opset the converters support.",
        )
    if target_opset is not None:
        from onnx.defs import onnx_opset_version

        newest = onnx_opset_version()
        if target_opset > newest:
            # Asked for by number: an impossible one is an error, not a skops fallback.
            raise InvalidInputError(
                f"The ONNX opset {target_opset} does not exist yet; the installed onnx "
                f"knows opsets up to {newest}.",
                fix=f"pass an opset from 7 to {newest}, or leave it out for the newest the "
                "converters support.",
            )
    X = _check_sample(X_sample)
    adapter, raw = _unwrap(model)
    from afterfit.data import check_features

    X = check_features(X, adapter)
    rows = _sample_rows(X, max_rows, random_state)
    # ONNX graphs are also checked on rows that sit on split thresholds (skops is exact).
    check_rows = _with_unseen_values(adapter, rows, random_state)
    n_extra = len(check_rows) - len(rows)

    def onnx_parity(exported: Any) -> Parity:
        found = measure_parity(adapter, exported, check_rows, tolerance=tolerance)
        return dataclasses.replace(found, n_rows=len(rows), n_threshold_rows=n_extra)

    kind = _kind(adapter)
    # The graph takes the columns the model reads: a ColumnTransformer's dropped columns
    # (an identifier, a date) are no inputs. Parity runs on full rows; the ONNX model
    # picks its inputs by name.
    X_graph = X
    if kind == "sklearn":
        from afterfit.models.used_columns import used_columns

        X_graph = X[used_columns(raw, list(X.columns))]

    if prefer == "skops" or kind == "onnx":
        if kind == "onnx":
            raise InvalidInputError(
                "The model is already an ONNX model; there is nothing to export.",
                fix="use the .onnx file as it is.",
            )
        return _skops_result(adapter, raw, kind, skops_path, rows, tolerance, None, ())
    fallback = functools.partial(may_write, skops_path, "The skops fallback")

    attempts: list[dict[str, Any]] = []
    reason: str | None = None
    if kind == "sklearn":
        from afterfit.exporters.sklearn import find_unconvertible, register_boosters

        register_boosters()
        missing = find_unconvertible(raw)
        if missing:
            reason = (
                f"skl2onnx has no ONNX converter for {', '.join(missing)} (a custom or "
                "unsupported estimator)"
            )
            attempts.append({"precision": None, "error": reason})
            _may_fall_back(fallback, reason)
            return _skops_result(
                adapter, raw, kind, skops_path, rows, tolerance, reason, tuple(attempts)
            )
    for precision in _precisions(kind, adapter):
        stage = f"ONNX ({precision} inputs): convert, parity on {len(rows):,} rows"
        if progress is not None:
            progress(stage, 0, 2)
        try:
            onx, layout, converter = _convert(kind, raw, adapter, X_graph, precision, target_opset)
            if progress is not None:
                progress(stage, 1, 2)
            meta = _metadata(adapter, X_graph, layout, precision)
            _set_metadata(onx, meta)
            data = onx.SerializeToString()
            from afterfit.models.onnx import OnnxModel

            exported = OnnxModel(data)
            parity = onnx_parity(exported)
            if (
                not parity.passed
                and adapter.task == "binary"
                and not adapter.scores_are_probabilities
            ):
                # skl2onnx writes a binary decision score d as the columns [d, -d];
                # afterfit's adapters give [-d, d]. Record the swap for OnnxModel.
                _set_metadata(onx, {**meta, "reverse_binary_scores": True})
                swapped = OnnxModel(onx.SerializeToString())
                again = onnx_parity(swapped)
                if again.max_abs_diff < parity.max_abs_diff:
                    data, parity = onx.SerializeToString(), again
                else:
                    _set_metadata(onx, meta)
        except ModelError as exc:
            reason = exc.problem
            attempts.append({"precision": precision, "error": reason})
            break
        except Exception as exc:  # converters raise anything: RuntimeError, KeyError...
            reason = f"the ONNX conversion failed: {_short_error(exc)}"
            attempts.append({"precision": precision, "error": reason})
            if _no_converter(exc):
                break  # the other precision cannot help
            continue
        attempts.append({"precision": precision, "parity": parity.to_dict()})
        if progress is not None:
            progress(stage, 2, 2)
        if parity.passed:
            from afterfit.io import atomic_write

            atomic_write(onnx_path, lambda tmp, data=data: tmp.write_bytes(data))
            return ExportResult(
                format="onnx", path=onnx_path, parity=parity, reason=None,
                converter=converter, precision=precision, opset=_opset(onx),
                attempts=tuple(attempts),
            )  # fmt: skip
        labels = (
            ""
            if parity.label_agreement is None
            else f", label agreement {_pct(parity.label_agreement)}"
        )
        on_splits = (
            f" and {parity.n_threshold_rows:,} copies set on split thresholds"
            if parity.n_threshold_rows
            else ""
        )
        reason = (
            f"the ONNX graph ({precision} inputs) differs from the original by up to "
            f"{parity.max_abs_diff:.3g} (tolerance {tolerance:g}){labels} on "
            f"{parity.n_rows:,} rows{on_splits}"
        )
    if kind == "torch":
        raise ModelError(
            f"The torch module could not be exported to ONNX: {reason}.",
            fix="check that the module runs on a 2-D float tensor and uses operators the "
            "ONNX exporter supports; save its state_dict for PyTorch instead.",
        )
    _may_fall_back(fallback, reason)
    return _skops_result(adapter, raw, kind, skops_path, rows, tolerance, reason, tuple(attempts))


def _may_fall_back(check: Callable[[], Path], reason: str | None) -> None:
    """Check the skops fallback file, saying why it is needed when it may not be written."""
    try:
        check()
    except InvalidInputError as exc:
        raise InvalidInputError(
            f"ONNX is not possible ({reason}), and {exc.problem[0].lower()}{exc.problem[1:]}",
            fix=f"{exc.fix} The fallback is named after the output (suffix .skops): "
            "another name, such as --out exported.onnx, gives another fallback.",
        ) from None


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def _no_converter(exc: BaseException) -> bool:
    text = str(exc)
    return "MissingShapeCalculator" in type(exc).__name__ or "Unable to find a shape" in text


def _skops_result(
    adapter: Model,
    raw: Any,
    kind: str,
    skops_path: Path,
    rows: pd.DataFrame,
    tolerance: float,
    reason: str | None,
    attempts: tuple[dict[str, Any], ...],
) -> ExportResult:
    if kind == "torch":
        raise InvalidInputError(
            "A torch module cannot be written with skops (it holds scikit-learn models).",
            fix="export torch modules with prefer='onnx'.",
        )
    try:
        trusted = _write_skops(raw, skops_path)
    except Exception as exc:
        raise ModelError(
            f"The model, a {type(raw).__name__}, could not be written with skops: "
            f"{_short_error(exc)}" + (f" (ONNX was not possible: {reason})" if reason else ""),
            fix="save the model with its library's own format (save_model) instead.",
        ) from exc
    parity = _skops_parity(adapter, skops_path, trusted, rows, tolerance)
    return ExportResult(
        format="skops", path=skops_path, parity=parity, reason=reason, converter="skops",
        attempts=attempts, trusted_types=trusted,
    )  # fmt: skip
