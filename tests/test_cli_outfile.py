"""Commands that write a single FILE never replace what they did not write (issue 13).

For export --out (and its skops fallback), predict --out, the --save-model of calibrate,
threshold and ensemble, and check --junit/--markdown: an existing file is refused (exit 2,
naming it and --overwrite, the file byte-identical, nothing else written: the check comes
before any work); --overwrite replaces it; a path that is an input of the command (the
same path, a symbolic or a hard link to it, a file inside an input folder) is refused even
with --overwrite, the input intact; a new path is written. Also
:func:`afterfit.outdir.prepare_file` itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import skops.io as sio
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from typer.testing import CliRunner

from afterfit.cli import app
from afterfit.errors import InvalidInputError
from afterfit.outdir import prepare_file
from test_export import Doubler

runner = CliRunner()
TARGET = "target"
USER = b"the user's own file, not afterfit's\n"


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def said(result) -> str:
    return " ".join(result.output.split())


def refused(result, *names: object) -> None:
    """Exit 2 with one clear message naming every one of ``names``, no traceback."""
    assert result.exit_code == 2, result.output
    text = said(result)
    assert "Traceback" not in result.output
    for name in names:
        assert str(name) in text, (name, text)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Breast cancer (6 features; 120 train, 60 calibration, 60 test rows), two logistic
    regressions and a pipeline ONNX cannot hold saved with skops, and a bundle."""
    d = tmp_path_factory.mktemp("outfile-cli")
    frame = load_breast_cancer(as_frame=True).frame.sample(n=240, random_state=0)
    frame = frame.iloc[:, [*range(6), -1]].reset_index(drop=True)
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    train, cal, test = frame.iloc[:120], frame.iloc[120:180], frame.iloc[180:]
    train.to_parquet(d / "train.parquet", index=False)
    cal.to_parquet(d / "cal.parquet", index=False)
    test.to_parquet(d / "test.parquet", index=False)
    X, y = train.drop(columns=TARGET), train[TARGET]
    a = LogisticRegression(solver="liblinear").fit(X, y)
    sio.dump(a, d / "a.skops")
    sio.dump(LogisticRegression(solver="liblinear", C=0.01).fit(X, y), d / "b.skops")
    # Doubler has no ONNX converter: export falls back to skops (loading needs --trust).
    sio.dump(make_pipeline(Doubler(), LogisticRegression(solver="liblinear")).fit(X, y),
             d / "custom.skops")  # fmt: skip

    from afterfit.bundle.core import build_bundle

    build_bundle(a, X, y, out=d / "m-1", name="m", version="1", export="skops")
    return {"dir": d}


def user_file(path: Path) -> Path:
    path.write_bytes(USER)
    return path


def fingerprint(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_ino


# --- every command with a file output: how it is run ----------------------------------------


def export_cmd(f, out: Path, model: str = "a.skops") -> list:
    d = f["dir"]
    extra = ["--trust"] if model == "custom.skops" else []
    return ["export", "--model", d / model, "--data", d / "test.parquet", "--target", TARGET,
            "--out", out, *extra, "--quiet"]  # fmt: skip


def predict_cmd(f, out: Path) -> list:
    d = f["dir"]
    return ["predict", d / "m-1", d / "test.parquet", "--out", out, "--drop", TARGET, "--quiet"]


def calibrate_cmd(f, out: Path) -> list:
    d = f["dir"]
    return ["calibrate", "--model", d / "a.skops", "--data", d / "test.parquet",
            "--calibration-data", d / "cal.parquet", "--target", TARGET, "--save-model", out,
            "--out", out.parent / "results", "--n-resamples", "0", "--no-figures",
            "--quiet"]  # fmt: skip


def threshold_cmd(f, out: Path) -> list:
    d = f["dir"]
    return ["threshold", "--model", d / "a.skops", "--data", d / "test.parquet",
            "--target", TARGET, "--save-model", out, "--out", out.parent / "results",
            "--n-resamples", "0", "--no-figures", "--quiet"]  # fmt: skip


def ensemble_cmd(f, out: Path) -> list:
    d = f["dir"]
    return ["ensemble", "--model", d / "a.skops", "--model", f"b={d / 'b.skops'}",
            "--data", d / "cal.parquet", "--test", d / "test.parquet", "--target", TARGET,
            "--iterations", "3", "--folds", "2", "--n-resamples", "10", "--save-model", out,
            "--out", out.parent / "results", "--no-figures", "--quiet"]  # fmt: skip


def check_cmd(f, out: Path) -> list:
    d = f["dir"]
    return ["check", "--model", d / "a.skops", "--data", d / "test.parquet", "--target", TARGET,
            "--rule", "roc_auc >= 0.5", "--n-resamples", "20", "--junit", out,
            "--quiet"]  # fmt: skip


# (command, the file name it writes, the option that names it)
COMMANDS = {
    "check": (check_cmd, "gate.xml", "--junit"),
    "export": (export_cmd, "model.onnx", "--out"),
    "predict": (predict_cmd, "preds.parquet", "--out"),
    "calibrate": (calibrate_cmd, "calibrated.skops", "--save-model"),
    "threshold": (threshold_cmd, "thresholded.skops", "--save-model"),
    "ensemble": (ensemble_cmd, "ensemble.skops", "--save-model"),
}


def loads(path: Path) -> bool:
    """Whether afterfit wrote ``path``: a model that loads, or a Parquet table of rows."""
    if path.suffix == ".xml":
        return "<testsuite" in path.read_text()
    if path.suffix == ".parquet":
        import pandas as pd

        return len(pd.read_parquet(path)) == 60
    from afterfit.models import load_model

    return load_model(path, trust=True) is not None


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_existing_file_refused_unless_overwrite(files, tmp_path, command):
    build, name, option = COMMANDS[command]
    out = user_file(tmp_path / name)
    before = fingerprint(out)
    result = invoke(*build(files, out))
    refused(result, f"{option} '{out}' exists already", "--overwrite")
    assert fingerprint(out) == before
    # Refused before any work: nothing else was written (no report folder, no parity file).
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]

    result = invoke(*build(files, out), "--overwrite")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() != USER and loads(out)
    assert "--overwrite" in said(invoke(command, "--help"))


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_new_file_written(files, tmp_path, command):
    build, name, _ = COMMANDS[command]
    out = tmp_path / "new" / name
    result = invoke(*build(files, out))
    assert result.exit_code == 0, result.output
    assert loads(out)
    # Written atomically: no temporary file is left beside it.
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


def input_model_cmd(command: str, f, link: Path) -> list:
    """The command with ``link`` passed as its --model (or, for predict, as DATA) and as
    its output: the output is then the input under another name."""
    build, _, _ = COMMANDS[command]
    cmd = build(f, link)
    if command == "predict":
        cmd[2] = link
        return cmd
    i = cmd.index("--model")
    cmd[i + 1] = link
    return cmd


INPUTS = {"check": "a.skops", "export": "a.skops", "predict": "test.parquet",
          "calibrate": "a.skops", "threshold": "a.skops", "ensemble": "a.skops"}  # fmt: skip


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_output_equal_to_input_refused_even_with_overwrite(files, tmp_path, command, overwrite):
    source = files["dir"] / INPUTS[command]
    # A copy of the input under the suffix the output must have: the same path for both.
    suffix = ".parquet" if command == "predict" else ".skops"
    same = tmp_path / f"input{suffix}"
    same.write_bytes(source.read_bytes())
    if command == "export":
        cmd = export_cmd(files, same)
        cmd[cmd.index("--model") + 1] = same
    else:
        cmd = input_model_cmd(command, files, same)
    before = fingerprint(same)
    result = invoke(*cmd, *(["--overwrite"] if overwrite else []))
    label = "DATA" if command == "predict" else "--model"
    refused(result, same, "is the input", label, "even with --overwrite")
    assert fingerprint(same) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [same.name]


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "dotted"])
@pytest.mark.parametrize("command", ["calibrate", "export", "predict"])
def test_output_linked_to_input_refused(files, tmp_path, command, kind):
    """Another name of the input file: a symbolic link, a hard link (the same inode), or
    a path spelt with ``./`` and ``..``."""
    source = tmp_path / f"input{'.parquet' if command == 'predict' else '.skops'}"
    source.write_bytes((files["dir"] / INPUTS[command]).read_bytes())
    other = tmp_path / f"other{source.suffix}"
    if kind == "symlink":
        other.symlink_to(source)
    elif kind == "hardlink":
        os.link(source, other)
    else:
        (tmp_path / "sub").mkdir()
        other = tmp_path / "sub" / ".." / "." / source.name
    cmd = input_model_cmd(command, files, source)
    cmd[cmd.index("--save-model" if command == "calibrate" else "--out") + 1] = other
    before = fingerprint(source)
    result = invoke(*cmd, "--overwrite")
    refused(result, "is the input", "even with --overwrite")
    assert fingerprint(source) == before


def test_predict_out_inside_the_bundle_refused(files, tmp_path):
    """A file inside the bundle folder would make it a bundle with a foreign file."""
    bundle = files["dir"] / "m-1"
    before = sorted(p.name for p in bundle.iterdir())
    out = bundle / "preds.parquet"
    result = invoke(*predict_cmd(files, out), "--overwrite")
    refused(result, "lies inside the input BUNDLE", "even with --overwrite")
    assert sorted(p.name for p in bundle.iterdir()) == before


def test_export_data_hard_link_refused(files, tmp_path):
    """--out may not be --data either, whatever its name: a hard link to the data file."""
    data = tmp_path / "valid.parquet"
    data.write_bytes((files["dir"] / "test.parquet").read_bytes())
    out = tmp_path / "model.onnx"
    os.link(data, out)
    cmd = export_cmd(files, out)
    cmd[cmd.index("--data") + 1] = data
    result = invoke(*cmd, "--overwrite")
    refused(result, "is the input --data")
    assert fingerprint(data)[0] == (files["dir"] / "test.parquet").read_bytes()


def test_export_parity_file_refused_before_work(files, tmp_path):
    out = tmp_path / "model.onnx"
    parity = user_file(tmp_path / "model.onnx.parity.json")
    result = invoke(*export_cmd(files, out))
    refused(result, parity, "--overwrite")
    assert parity.read_bytes() == USER and not out.exists()
    result = invoke(*export_cmd(files, out), "--overwrite")
    assert result.exit_code == 0, result.output
    assert out.is_file() and b'"afterfit.export"' in parity.read_bytes()


def test_export_skops_fallback_never_replaces_the_model(files, tmp_path):
    """`--model custom.skops --out custom.onnx`: ONNX is impossible and the fallback would
    be the model itself. Refused, even with --overwrite, saying why; nothing written."""
    model = tmp_path / "custom.skops"
    model.write_bytes((files["dir"] / "custom.skops").read_bytes())
    before = fingerprint(model)
    for extra in ([], ["--overwrite"]):
        cmd = export_cmd(files, tmp_path / "custom.onnx", model="custom.skops")
        cmd[cmd.index("--model") + 1] = model
        result = invoke(*cmd, *extra)
        refused(result, "ONNX is not possible", "Doubler", model, "is the input --model")
        assert fingerprint(model) == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["custom.skops"]


def test_export_skops_fallback_existing_file(files, tmp_path):
    """The fallback beside --out is a user's file: refused unless --overwrite."""
    fallback = user_file(tmp_path / "model.skops")
    out = tmp_path / "model.onnx"
    result = invoke(*export_cmd(files, out, model="custom.skops"))
    refused(result, "ONNX is not possible", fallback, "exists already", "--overwrite")
    assert fallback.read_bytes() == USER
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.skops"]
    result = invoke(*export_cmd(files, out, model="custom.skops"), "--overwrite")
    assert result.exit_code == 0, result.output
    assert loads(fallback) and not out.exists()


def test_export_onnx_leaves_an_unused_fallback_name_alone(files, tmp_path):
    """ONNX works: a user's model.skops beside --out model.onnx is not in the way."""
    fallback = user_file(tmp_path / "model.skops")
    result = invoke(*export_cmd(files, tmp_path / "model.onnx"))
    assert result.exit_code == 0, result.output
    assert fallback.read_bytes() == USER and (tmp_path / "model.onnx").is_file()


def test_save_model_refused_before_the_report_folder(files, tmp_path):
    """The --out folder is not written when --save-model is refused: one rule, before work,
    for every output of the command."""
    out = user_file(tmp_path / "calibrated.skops")
    result = invoke(*calibrate_cmd(files, out))
    refused(result, "--save-model", out)
    assert not (tmp_path / "results").exists()


def test_threshold_save_model_suffix_checked_before_work(files, tmp_path):
    result = invoke(*threshold_cmd(files, tmp_path / "thresholded.pkl"))
    refused(result, "must end in .skops")
    assert list(tmp_path.iterdir()) == []


def test_check_markdown_into_an_empty_step_summary(files, tmp_path):
    """CI creates $GITHUB_STEP_SUMMARY empty: written without --overwrite (nothing to lose);
    a summary that holds text is refused before --junit is written."""
    summary = tmp_path / "summary.md"
    summary.touch()
    result = invoke(*check_cmd(files, tmp_path / "gate.xml"), "--markdown", summary)
    assert result.exit_code == 0, result.output
    assert "roc_auc" in summary.read_text()
    (tmp_path / "gate.xml").unlink()
    result = invoke(*check_cmd(files, tmp_path / "gate.xml"), "--markdown", summary)
    refused(result, f"--markdown '{summary}' exists already")
    assert not (tmp_path / "gate.xml").exists()


# --- prepare_file itself ----------------------------------------------------------------------


def test_prepare_file_rules(tmp_path):
    model = user_file(tmp_path / "model.skops")
    assert prepare_file(tmp_path / "new.onnx", inputs={"--model": model}) == tmp_path / "new.onnx"
    with pytest.raises(InvalidInputError, match="exists already"):
        prepare_file(model)
    assert prepare_file(model, overwrite=True) == model
    with pytest.raises(InvalidInputError, match=r"is the input --model .*even with --overwrite"):
        prepare_file(model, overwrite=True, inputs={"--model": model, "--data": None})
    # Several files under one option (a repeated --model), None skipped.
    with pytest.raises(InvalidInputError, match="is the input --model"):
        prepare_file(model, overwrite=True, inputs={"--model": [tmp_path / "x", model, None]})
    with pytest.raises(InvalidInputError, match="is a folder"):
        prepare_file(tmp_path, overwrite=True)
    folder = tmp_path / "bundle"
    folder.mkdir()
    with pytest.raises(InvalidInputError, match="lies inside the input BUNDLE"):
        prepare_file(folder / "deep" / "p.csv", overwrite=True, inputs={"BUNDLE": folder})
    # A dangling link is an existing entry: replacing it needs --overwrite.
    dangling = tmp_path / "dangling.onnx"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(InvalidInputError, match=r"--save-model .*exists already"):
        prepare_file(dangling, option="--save-model")
    # An empty file holds nothing to lose (CI's $GITHUB_STEP_SUMMARY): written as a new one;
    # but an empty input is still the input.
    empty = tmp_path / "summary.md"
    empty.touch()
    assert prepare_file(empty) == empty
    with pytest.raises(InvalidInputError, match="is the input --rules"):
        prepare_file(empty, inputs={"--rules": empty})
    # A sibling whose name only starts like the input folder is not inside it.
    assert prepare_file(tmp_path / "bundle-2.csv", inputs={"BUNDLE": folder})
