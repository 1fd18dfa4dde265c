"""Hostile bundles: links, zip-slip, malformed JSON and oversized files are refused by name.

Every variant must raise a :class:`BundleError` (an InvalidInputError) that names the
offending file, and the CLI (``predict``, ``serve``) must exit 2 with that message and
no traceback. Documents are edited and then re-hashed (manifest included), so that the
structural checks, not the hash check, are what refuses them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import stat
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from afterfit.bundle import manifest as manifest_module
from afterfit.bundle.core import Bundle, BundleError, build_bundle, load_bundle
from afterfit.bundle.manifest import MANIFEST, manifest_digest
from afterfit.cli import app
from afterfit.errors import InvalidInputError

runner = CliRunner()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Bundle:
    X, y = make_classification(200, 3, n_informative=3, n_redundant=0, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    frame["plan"] = np.random.default_rng(0).choice(["basic", "pro"], len(frame))
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    model = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["plan"]), remainder="passthrough"),
        LogisticRegression(),
    ).fit(frame, y)
    out = tmp_path_factory.mktemp("hostile") / "b-1"
    return build_bundle(model, frame, y, out=out, name="b", version="1", threshold=0.4)


@pytest.fixture()
def bundle(built: Bundle, tmp_path: Path) -> Path:
    """A fresh copy of the bundle folder, to damage."""
    target = tmp_path / "bundle"
    shutil.copytree(built.path, target)
    return target


@pytest.fixture()
def rows(tmp_path: Path) -> Path:
    path = tmp_path / "rows.csv"
    pd.DataFrame({"a": [0.1], "b": [0.2], "c": [0.3], "plan": ["pro"]}).to_csv(path, index=False)
    return path


def rehash(folder: Path) -> None:
    """Record every file's current hash and the manifest's digest, as a forger would."""
    doc = json.loads((folder / MANIFEST).read_text())
    for name in list(doc["files"]) if isinstance(doc.get("files"), dict) else []:
        doc["files"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    doc["manifest_sha256"] = manifest_digest(doc)
    (folder / MANIFEST).write_text(json.dumps(doc))


def edit(folder: Path, name: str, change) -> None:
    """Apply ``change`` to the parsed document ``name`` and re-hash the bundle."""
    doc = json.loads((folder / name).read_text())
    change(doc)
    (folder / name).write_text(json.dumps(doc))
    rehash(folder)


def refused(path: Path, *names: str, verify: bool = True) -> str:
    with pytest.raises(BundleError) as info:
        load_bundle(path, verify=verify)
    message = str(info.value)
    assert isinstance(info.value, InvalidInputError)
    for name in names:
        assert name in message, message
    return message


def cli_refuses(args: list[str], *names: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    for name in names:
        assert name in result.output, result.output


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- links ------------------------------------------------------------------------------


def test_model_card_linked_to_etc_passwd(bundle: Path, rows: Path, tmp_path: Path) -> None:
    target = Path("/etc/passwd")
    (bundle / "MODEL_CARD.md").unlink()
    (bundle / "MODEL_CARD.md").symlink_to(target)
    rehash(bundle)  # the forger even records the hash of what the link points to
    message = refused(bundle, "MODEL_CARD.md", "symbolic link")
    assert "root:" not in message
    refused(bundle, "MODEL_CARD.md", verify=False)
    cli_refuses(["predict", str(bundle), str(rows), "--out", str(tmp_path / "p.csv")],
                "MODEL_CARD.md", "symbolic link")  # fmt: skip
    assert not (tmp_path / "p.csv").exists()


def test_model_file_living_outside(bundle: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.onnx"
    shutil.move(bundle / "model.onnx", outside)
    (bundle / "model.onnx").symlink_to(outside)  # same bytes: the hash check alone passes
    refused(bundle, "model.onnx", "symbolic link")
    refused(bundle, "model.onnx", verify=False)


@pytest.mark.parametrize("name", ["schema.json", "decision.json", "reference.json", MANIFEST])
def test_relative_escape_of_each_document(bundle: Path, tmp_path: Path, name: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.move(bundle / name, outside / name)
    (bundle / name).symlink_to(Path("..") / "outside" / name)
    refused(bundle, name, "symbolic link")


def test_link_inside_the_bundle_is_refused_too(bundle: Path) -> None:
    (bundle / "reference.json").unlink()
    (bundle / "reference.json").symlink_to("schema.json")
    refused(bundle, "reference.json", "symbolic link", verify=False)


def test_linked_subfolder(bundle: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secrets"
    outside.mkdir()
    (outside / "id_rsa").write_text("KEY")
    (bundle / "report").symlink_to(outside, target_is_directory=True)
    refused(bundle, "report", "symbolic link", verify=False)


def test_fifo_member_is_refused_without_blocking(bundle: Path) -> None:
    os.mkfifo(bundle / "notes.md")
    refused(bundle, "notes.md", "not a plain file", verify=False)


def test_serve_refuses_a_linked_bundle(bundle: Path) -> None:
    (bundle / "MODEL_CARD.md").unlink()
    (bundle / "MODEL_CARD.md").symlink_to("/etc/hostname")
    cli_refuses(["serve", str(bundle), "--port", str(free_port()), "--quiet"], "MODEL_CARD.md")


# --- zips -------------------------------------------------------------------------------


def zipped(bundle: Path, target: Path, extra: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(target, "w") as zf:
        for p in sorted(bundle.rglob("*")):
            if p.is_file():
                zf.write(p, f"b-1/{p.relative_to(bundle).as_posix()}")
        for info, data in extra:
            zf.writestr(info, data)
    return target


@pytest.mark.parametrize("entry", ["b-1/../../evil.txt", "/etc/cron.d/evil", "b-1/..\\evil"])
def test_zip_slip_entries(bundle: Path, tmp_path: Path, entry: str) -> None:
    path = zipped(bundle, tmp_path / "b.zip", [(entry, b"x")])
    refused(path, "zip-slip", verify=False)


def test_zip_symlink_entry(bundle: Path, tmp_path: Path) -> None:
    (bundle / "MODEL_CARD.md").unlink()
    info = zipfile.ZipInfo("b-1/MODEL_CARD.md")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    path = zipped(bundle, tmp_path / "b.zip", [(info, b"/etc/passwd")])
    refused(path, "MODEL_CARD.md", "symbolic link", verify=False)


def test_zip_duplicate_entry(bundle: Path, tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="Duplicate name"):
        path = zipped(bundle, tmp_path / "b.zip", [("b-1/schema.json", b"{}")])
    refused(path, "schema.json", "twice", verify=False)


def test_zip_built_by_afterfit_still_loads(built: Bundle, tmp_path: Path) -> None:
    from afterfit.bundle.core import write_zip

    path = write_zip(built.path, tmp_path / "b-1.zip")
    assert load_bundle(path).schema == built.schema


# --- malformed manifest -----------------------------------------------------------------


def write_manifest(bundle: Path, text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    (bundle / MANIFEST).write_bytes(data)


def test_manifest_nested_100k_deep(bundle: Path, rows: Path, tmp_path: Path) -> None:
    write_manifest(bundle, '{"format": ' + "[" * 100_000 + "]" * 100_000 + "}")
    refused(bundle, MANIFEST, "nested")
    cli_refuses(["predict", str(bundle), str(rows), "--out", str(tmp_path / "p.csv")], MANIFEST)


def test_manifest_nested_under_the_parser_limit(bundle: Path) -> None:
    doc = json.loads((bundle / MANIFEST).read_text())
    doc["export"] = json.loads("[" * 500 + "]" * 500)
    write_manifest(bundle, json.dumps(doc))
    refused(bundle, MANIFEST, "levels deep")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_manifest_non_finite_literals(bundle: Path, literal: str) -> None:
    doc = json.loads((bundle / MANIFEST).read_text())
    text = json.dumps({**doc, "threshold": "X"}).replace('"X"', literal)
    write_manifest(bundle, text)
    refused(bundle, MANIFEST, "not valid JSON")


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("format_version", True, "format_version"),
        ("format_version", "1", "format_version"),
        ("format_version", 0, "format_version"),
        ("name", ["x"], "'name'"),
        ("model_file", 7, "'model_file'"),
        ("model_file", "../model.onnx", "leaves the bundle"),
        ("files", ["model.onnx"], "'files'"),
        ("files", {}, "lists no files"),
        ("threshold", "0.5", "'threshold'"),
        ("n_train_rows", 1.5, "'n_train_rows'"),
        ("libraries", "numpy", "'libraries'"),
    ],
)
def test_manifest_wrong_types(bundle: Path, key: str, value, words: str) -> None:
    edit(bundle, MANIFEST, lambda d: d.__setitem__(key, value))
    refused(bundle, MANIFEST, words)


@pytest.mark.parametrize("key", ["model_file", "name", "files"])
def test_manifest_missing_keys(bundle: Path, key: str) -> None:
    edit(bundle, MANIFEST, lambda d: d.pop(key))
    refused(bundle, MANIFEST, repr(key))


def test_manifest_hash_that_is_not_a_digest(bundle: Path) -> None:
    doc = json.loads((bundle / MANIFEST).read_text())
    doc["files"]["schema.json"] = {"sha256": "x"}
    doc["manifest_sha256"] = manifest_digest(doc)
    write_manifest(bundle, json.dumps(doc))
    refused(bundle, MANIFEST, "schema.json", "SHA-256")


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xfe{\x00}\x00",  # UTF-16
        '{"format": "afterfit-bundle", "name": "caf\xe9"}'.encode("latin-1"),
        b'{"format": "afterfit-bundle", "format": "afterfit-bundle"}',  # a key twice
        b"",
        b"[1, 2",
        b'"' + b"9" * 5000 + b'"',
    ],
)
def test_manifest_not_json(bundle: Path, data: bytes) -> None:
    write_manifest(bundle, data)
    refused(bundle, MANIFEST)


def test_huge_manifest_is_not_read_whole(bundle: Path, monkeypatch) -> None:
    monkeypatch.setattr(manifest_module, "MAX_MANIFEST_BYTES", 1000)
    doc = json.loads((bundle / MANIFEST).read_text())
    doc["padding"] = "x" * 5000
    write_manifest(bundle, json.dumps(doc))
    refused(bundle, MANIFEST, "larger than")


# --- malformed schema, decision, reference, model card ----------------------------------


def field0(change):
    def apply(doc):
        change(doc["fields"][0])

    return apply


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d.__setitem__("format_version", True), "format_version"),
        (lambda d: d.__setitem__("fields", {"a": 1}), "fields"),
        (lambda d: d.__setitem__("unseen_categories", 3), "unseen_categories"),
        (field0(lambda f: f.__setitem__("kind", 5)), "'kind'"),
        (field0(lambda f: f.__setitem__("kind", "tensor")), "kind"),
        (field0(lambda f: f.__setitem__("name", ["a"])), "'name'"),
        (field0(lambda f: f.__setitem__("nullable", "no")), "'nullable'"),
        (field0(lambda f: f.__setitem__("minimum", "low")), "'minimum'"),
        (field0(lambda f: f.__setitem__("dtype", "datetime64[ns]")), "dtype"),
        (field0(lambda f: f.pop("name")), "'name'"),
        (field0(lambda f: f.update(kind="category", dtype="object")), "no categories"),
        (
            field0(lambda f: f.update(kind="category", categories=[{"x": 1}], dtype="object")),
            "category",
        ),
    ],
)
def test_schema_malformed(bundle: Path, change, words: str) -> None:
    edit(bundle, "schema.json", change)
    refused(bundle, "schema.json", words)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d.__setitem__("threshold", "0.4"), "'threshold'"),
        (lambda d: d.__setitem__("threshold", True), "'threshold'"),
        (lambda d: d.__setitem__("threshold", 7.0), "outside [0, 1]"),
        (lambda d: d.__setitem__("task", "ranking"), "task"),
        (lambda d: d.__setitem__("task", ["binary"]), "'task'"),
        (lambda d: d.__setitem__("classes", {"0": 1}), "'classes'"),
        (lambda d: d.__setitem__("classes", [0, [1]]), "classes"),
        (lambda d: d.__setitem__("classes", [0, 1, 2]), "classes"),
        (lambda d: d.__setitem__("positive_class", 9), "positive class"),
        (lambda d: d.__setitem__("threshold_score", "logit"), "threshold_score"),
        (
            lambda d: d.__setitem__(
                "calibrator",
                {
                    "method": "sigmoid",
                    "response": "predict_proba",
                    "maps": [{"slope": "1", "intercept": 0}],
                },
            ),
            "calibrator",
        ),
        (
            lambda d: d.__setitem__(
                "calibrator",
                {
                    "method": "isotonic",
                    "response": "predict_proba",
                    "maps": [{"x": [0, 1], "y": [0]}],
                },
            ),
            "calibrator",
        ),
        (
            lambda d: d.__setitem__(
                "calibrator",
                {
                    "method": "isotonic",
                    "response": "predict_proba",
                    "response_is_proba": True,
                    "maps": [{"class": 1, "x": [1, 0, 0.5], "y": [0, 0.5, 1]}],
                },
            ),
            "ascending",
        ),
        (
            lambda d: d.__setitem__(
                "calibrator",
                {
                    "method": "isotonic",
                    "response": "predict_proba",
                    "response_is_proba": True,
                    "maps": [{"class": 1, "x": [0, 0.5, 1], "y": [0, 5, -3]}],
                },
            ),
            "probabilities",
        ),
        (
            lambda d: d.__setitem__(
                "calibrator",
                {"method": "temperature", "response": "predict_proba", "temperature": -1},
            ),
            "temperature",
        ),
        (lambda d: d.__setitem__("calibrator", "sigmoid"), "'calibrator'"),
        (lambda d: d.pop("task"), "'task'"),
        (lambda d: d.__setitem__("format_version", True), "format_version"),
    ],
)
def test_decision_malformed(bundle: Path, change, words: str) -> None:
    edit(bundle, "decision.json", change)
    refused(bundle, "decision.json", words)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d.__setitem__("n_rows", "many"), "'n_rows'"),
        (lambda d: d.__setitem__("features", {"a": 1}), "'features'"),
        (lambda d: d["features"][0].__setitem__("counts", ["1", "2"]), "counts"),
        (lambda d: d["features"][0].__setitem__("sketch", [3.0, 1.0]), "inconsistent"),
        (lambda d: d["features"][0].__setitem__("counts", [1]), "inconsistent"),
        (lambda d: d["features"][0].__setitem__("n", -4), "negative"),
        (lambda d: d["features"][0].pop("name"), "'name'"),
        (lambda d: d["features"].append(d["features"][0]), "twice"),
        (lambda d: d["features"][3].__setitem__("counts", [1]), "counts"),  # categorical
        (lambda d: d.__setitem__("format", "x"), "format"),
    ],
)
def test_reference_malformed(bundle: Path, change, words: str) -> None:
    edit(bundle, "reference.json", change)
    refused(bundle, "reference.json", words)


@pytest.mark.parametrize("name", ["schema.json", "decision.json", "reference.json"])
def test_documents_with_nan_or_deep_nesting(bundle: Path, name: str) -> None:
    text = (bundle / name).read_text()
    (bundle / name).write_text(text[: text.rindex("}")] + ', "x": NaN}')
    rehash(bundle)
    refused(bundle, name, "NaN")
    (bundle / name).write_text("[" * 100_000 + "]" * 100_000)
    rehash(bundle)
    refused(bundle, name, "nested")


@pytest.mark.parametrize("name", ["schema.json", "decision.json", "reference.json"])
def test_documents_that_are_not_objects(bundle: Path, name: str) -> None:
    (bundle / name).write_text("[1, 2, 3]")
    rehash(bundle)
    refused(bundle, name)


def test_model_card_not_utf8(bundle: Path, rows: Path, tmp_path: Path) -> None:
    (bundle / "MODEL_CARD.md").write_bytes("# Mod\xe8le\n".encode("latin-1"))
    rehash(bundle)
    refused(bundle, "MODEL_CARD.md", "UTF-8")
    cli_refuses(["predict", str(bundle), str(rows), "--out", str(tmp_path / "p.csv")],
                "MODEL_CARD.md")  # fmt: skip
    cli_refuses(["serve", str(bundle), "--port", str(free_port()), "--quiet"], "MODEL_CARD.md")


def test_huge_model_card(bundle: Path, monkeypatch) -> None:
    monkeypatch.setattr(manifest_module, "MAX_TEXT_BYTES", 100)
    (bundle / "MODEL_CARD.md").write_text("x" * 1000)
    rehash(bundle)
    refused(bundle, "MODEL_CARD.md", "larger than")


def test_huge_schema(bundle: Path, monkeypatch) -> None:
    monkeypatch.setattr(manifest_module, "MAX_JSON_BYTES", 100)
    refused(bundle, "larger than")


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: edit(b, "schema.json", field0(lambda f: f.__setitem__("kind", "tensor"))),
        lambda b: edit(b, "decision.json", lambda d: d.__setitem__("threshold", "high")),
        lambda b: write_manifest(b, '{"format": "afterfit-bundle", "format_version": true}'),
    ],
)
def test_cli_exit_2_without_traceback(bundle: Path, rows: Path, tmp_path: Path, damage) -> None:
    damage(bundle)
    out = tmp_path / "p.csv"
    out.write_text("old predictions\n")
    # --overwrite: the old file may be replaced, yet a refused bundle leaves it.
    cli_refuses(["predict", str(bundle), str(rows), "--out", str(out), "--overwrite"], "bundle")
    assert out.read_text() == "old predictions\n"  # nothing already written is lost
    cli_refuses(["serve", str(bundle), "--port", str(free_port()), "--quiet"], "bundle")


def test_intact_bundle_still_loads(bundle: Path) -> None:
    loaded = load_bundle(bundle)
    assert loaded.model_card.startswith("#")
    assert loaded.reference["format"]


@pytest.mark.parametrize(
    "text",
    [
        '{"evaluation": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"evaluation": {"metrics": [{"metric": "roc_auc", "value": NaN}]}}',
        '{"evaluation": {"metrics": [{"metric": ["x"], "value": {"a": 1}}], "n_rows": "many"}}',
    ],
)
def test_hostile_report_results_do_not_break_the_model_card(tmp_path: Path, text: str) -> None:
    from afterfit.bundle.model_card import metrics_from_results

    report = tmp_path / "report"
    report.mkdir()
    (report / "results.json").write_text(text)
    rows, facts = metrics_from_results(report / "results.json")
    assert rows == [] or all(isinstance(r["metric"], str) for r in rows)
    assert facts.get("n_rows") is None


def test_zip_bomb_by_declared_size(built: Bundle, tmp_path: Path, monkeypatch) -> None:
    from afterfit.bundle.core import write_zip

    path = write_zip(built.path, tmp_path / "b-1.zip")
    monkeypatch.setattr(manifest_module, "MAX_UNZIPPED_BYTES", 1000)
    refused(path, "unpacks to more than", verify=False)


def test_too_many_members(bundle: Path, monkeypatch) -> None:
    monkeypatch.setattr(manifest_module, "MAX_MEMBERS", 3)
    refused(bundle, "more than 3 files", verify=False)


def test_damaged_zip_entry_is_named(built: Bundle, tmp_path: Path) -> None:
    from afterfit.bundle.core import write_zip

    path = write_zip(built.path, tmp_path / "b-1.zip")
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("b-1/schema.json")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + 5 : start + 25] = bytes(20)  # corrupt the compressed stream
    path.write_bytes(bytes(data))
    refused(path, "schema.json")
