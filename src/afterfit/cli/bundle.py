"""``afterfit bundle``: a verified deployment bundle from a model and its training data."""

from __future__ import annotations

import json
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from afterfit.cli._app import app, clear_errors, out_console
from afterfit.cli._inputs import match_label
from afterfit.cli._options import DropOpt, PosLabelOpt, QuietOpt, TrustedTypeOpt, TrustOpt
from afterfit.errors import InvalidInputError


class ExportOption(StrEnum):
    auto = "auto"
    onnx = "onnx"
    skops = "skops"


_NAME_VERSION = re.compile(r"^(?P<name>.+?)-(?P<version>\d[A-Za-z0-9_.+-]*)$")


def name_and_version(out: Path, name: str | None, version: str | None) -> tuple[str, str]:
    """--name/--version, defaulting to the parts of an --out folder named ``name-1.0``."""
    m = _NAME_VERSION.match(out.name)
    if name is None:
        name = m.group("name") if m else out.name
    if version is None:
        if not m:
            raise InvalidInputError(
                f"--version is missing, and the --out folder name {out.name!r} does not end "
                "in one (such as churn-1.0).",
                fix="pass --version 1.0 (and --name churn), or name the folder churn-1.0.",
            )
        version = m.group("version")
    return name, version


def parse_threshold(text: str | None) -> tuple[float | None, str | None, dict[str, Any]]:
    """``--threshold 0.42`` or ``--threshold threshold.json`` (from afterfit threshold):
    the threshold, the positive label it was chosen for (text, or None), the source."""
    if text is None:
        return None, None, {}
    try:
        return float(text), None, {"threshold": float(text)}
    except ValueError:
        pass
    path = Path(text)
    if not path.is_file():
        raise InvalidInputError(
            f"--threshold {text!r} is neither a number nor an existing file.",
            fix="pass a number such as --threshold 0.42, or the threshold.json written by "
            "afterfit threshold.",
        )
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        section = doc["threshold"]
        value = float(section["threshold"])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise InvalidInputError(
            f"--threshold {path} is not a threshold.json with a binary threshold (no "
            "threshold.threshold number in it).",
            fix="pass the threshold.json written by afterfit threshold for a binary model, or "
            "a number.",
        ) from None
    if section.get("kind") not in (None, "binary_threshold"):
        raise InvalidInputError(
            f"--threshold {path} holds a {section.get('kind')!r} decision, not one binary "
            "threshold.",
            fix="pass the threshold.json of a binary model, or a number.",
        )
    pos = section.get("positive_label")
    return value, None if pos is None else str(pos), {"threshold_file": str(path)}


def load_calibrator(path: Path | None, *, trust: bool, trusted_types: list[str]) -> Any:
    """The CalibratedModel in a .skops file, or the one calibration.json saved."""
    if path is None:
        return None
    from afterfit.calibration import CalibratedModel
    from afterfit.models import load_model

    if path.suffix.lower() == ".json":
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInputError(
                f"--calibration {path} cannot be read as JSON: {exc}.",
                fix="pass the calibration.json written by afterfit calibrate, or the "
                "calibrated model (.skops) it saved.",
            ) from exc
        saved = doc.get("saved_model") if isinstance(doc, dict) else None
        if not saved:
            raise InvalidInputError(
                f"--calibration {path} records no saved calibrated model (saved_model is "
                "null), and the map's parameters are in that model.",
                fix="run afterfit calibrate with --save-model calibrated.skops and pass that "
                "file (or its calibration.json). A native booster file cannot be saved "
                "calibrated: use its scikit-learn wrapper (XGBoost: XGBClassifier()."
                "load_model(file); LightGBM: a model trained with LGBMClassifier), saved "
                "with skops, and calibrate that.",
            )
        model_path = Path(saved)
        if not model_path.is_absolute() and not model_path.exists():
            model_path = path.parent / model_path
        path = model_path
    loaded = load_model(path, trust=trust, trusted_types=trusted_types)
    estimator = getattr(loaded, "estimator", None)
    if not isinstance(estimator, CalibratedModel):
        raise InvalidInputError(
            f"--calibration {path} is not a calibrated model (it holds a "
            f"{type(estimator if estimator is not None else loaded).__name__}).",
            fix="pass the file written by afterfit calibrate --save-model.",
        )
    return estimator


@app.command()
def bundle(
    model: Annotated[
        Path,
        typer.Option(help="Model file: .skops, .onnx, XGBoost/LightGBM, .pkl (with --trust)."),
    ],
    data: Annotated[
        Path,
        typer.Option(help="Training data (CSV or Parquet): the schema and drift reference."),
    ],
    out: Annotated[Path, typer.Option(help="The bundle folder to write (name-version).")],
    target: Annotated[
        str | None, typer.Option(help="Target column of --data (left out of the features).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Bundle name (default: from --out).")] = None,
    version: Annotated[
        str | None, typer.Option(help="Bundle version (default: from --out, name-1.0).")
    ] = None,
    threshold: Annotated[
        str | None,
        typer.Option(help="Binary decision threshold: a number, or threshold.json."),
    ] = None,
    pos_label: PosLabelOpt = None,
    calibration: Annotated[
        Path | None,
        typer.Option(
            help="Calibration map: the calibrated model (.skops) or calibration.json of "
            "afterfit calibrate --save-model."
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(help="Report folder (afterfit run/evaluate) to include; gives metrics."),
    ] = None,
    eval_data: Annotated[
        Path | None,
        typer.Option(help="Held-out data with --target for the model card's metrics."),
    ] = None,
    parity_data: Annotated[
        Path | None, typer.Option(help="Rows for the ONNX parity check (default: --data).")
    ] = None,
    export: Annotated[
        ExportOption,
        typer.Option(help="Model format: ONNX when it matches (auto), ONNX, or skops."),
    ] = ExportOption.auto,
    zip_: Annotated[bool, typer.Option("--zip", help="Also write <out>.zip.")] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace a bundle afterfit wrote at --out (and <out>.zip). A folder or zip "
            "holding anything else is refused, naming it: afterfit never deletes files it "
            "did not write.",
        ),
    ] = False,
    allow_unseen: Annotated[
        bool, typer.Option(help="Accept categories not seen in training (default: reject).")
    ] = False,
    max_categories: Annotated[
        int, typer.Option(help="Text columns with more distinct values are free text.", min=1)
    ] = 100,
    drop: DropOpt = None,
    trust: TrustOpt = False,
    trusted_type: TrustedTypeOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Build a deployment bundle: the model (ONNX, or skops), its input schema, decision
    threshold and calibration, drift reference, model card, and a manifest with the
    SHA-256 of every file.

    Serve it with afterfit serve, predict files with afterfit predict.
    """
    with clear_errors(quiet=quiet):
        bundle_name, bundle_version = name_and_version(out, name, version)
        value, file_pos, _ = parse_threshold(threshold)
        from afterfit.bundle.core import build_bundle
        from afterfit.data import load_dataset
        from afterfit.models import load_model

        types = trusted_type or []
        loaded = load_model(model, trust=trust, trusted_types=types)
        calibrator = load_calibrator(calibration, trust=trust, trusted_types=types)
        train = load_dataset(data, target=target, drop=drop or [])
        positive = pos_label if pos_label is not None else file_pos
        evaluation = None
        if eval_data is not None:
            if target is None:
                raise InvalidInputError(
                    "--eval-data needs --target: the labels to measure the metrics against.",
                    fix="pass --target y.",
                )
            ev = load_dataset(eval_data, target=target, drop=drop or [])
            evaluation = (ev.X, ev.y)
        parity = None
        if parity_data is not None:
            parity = load_dataset(parity_data, target=target, drop=drop or []).X
        result = build_bundle(
            loaded, train.X, train.y, out=out, name=bundle_name, version=bundle_version,
            threshold=value, positive_class=match_label(positive, loaded.classes_),
            calibrator=calibrator, report=report, export=export.value, zip=zip_,
            X_parity=parity, eval_data=evaluation, unseen="allow" if allow_unseen else "error",
            max_categories=max_categories, overwrite=overwrite, train_source=str(data),
        )  # fmt: skip
        if quiet:
            return
        m = result.manifest
        ex = m.get("export") or {}
        parity_info = m["bundle_parity"]
        out_console.print(
            f"Wrote the bundle {result.name} {result.version} to {out}/ "
            f"({len(m['files']) + 1} files{', and ' + out.name + '.zip' if zip_ else ''}): "
            f"{m['model_file']}, {len(result.schema.fields)} input fields, task {result.task}"
            + (f", threshold {result.threshold:.6g}" if result.threshold is not None else "")
            + ("" if result.decision.calibrator is None else ", calibrated")
            + ".",
            highlight=False,
            soft_wrap=True,
        )
        if ex.get("reason"):
            from afterfit.bundle.core import skops_note

            note = skops_note(ex["reason"], m.get("trusted_types") or [])
            out_console.print(note, highlight=False, soft_wrap=True)
        agree = parity_info["decision_agreement"]
        out_console.print(
            f"Bundle parity on {parity_info['n_rows']:,} rows: max |diff| "
            f"{parity_info['max_abs_diff']:.3g}"
            + ("." if agree is None else f", decisions agree {agree:.2%}."),
            highlight=False,
        )
