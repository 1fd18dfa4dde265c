"""Messages found wrong by a careless user's sweep (exit 2, the real cause named)."""

from __future__ import annotations

import pytest
import skops.io as sio
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from afterfit.cli import app

runner = CliRunner(env={"COLUMNS": "250"})


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("messages")
    frame = load_breast_cancer(as_frame=True).frame.iloc[:300]
    X, y = frame.drop(columns="target"), frame["target"]
    sio.dump(LogisticRegression(max_iter=5000).fit(X, y), d / "m.skops")
    frame.to_parquet(d / "d.parquet", index=False)
    return d


def _run(command, files, *args):
    """``afterfit COMMAND --model m.skops --data d.parquet --target target ARGS``."""
    base = ["--model", files / "m.skops", "--data", files / "d.parquet", "--target", "target"]
    result = runner.invoke(app, [str(a) for a in (command, *base, *args)])
    return result.exit_code, " ".join(result.output.split())


def test_slicing_by_the_target_says_so(files, tmp_path):
    code, text = _run(
        "slices",
        files,
        "--slice",
        "target",
        "--out",
        tmp_path / "o",
    )
    assert code == 2 and "names the target column" in text  # was "not in the data"


def test_a_missing_sensitive_column_is_called_sensitive(files, tmp_path):
    code, text = _run(
        "slices",
        files,
        "--sensitive",
        "nope",
        "--out",
        tmp_path / "o",
    )
    assert code == 2 and "sensitive column 'nope'" in text


def test_an_opset_that_does_not_exist_is_an_error_not_a_fallback(files, tmp_path):
    code, text = _run(
        "export",
        files,
        "--out",
        tmp_path / "m.onnx",
        "--opset",
        999,
    )
    assert code == 2 and "opset 999 does not exist" in text
    assert not (tmp_path / "m.onnx").exists() and not (tmp_path / "m.skops").exists()


def test_junit_and_markdown_on_one_file_are_refused(files, tmp_path):
    same = tmp_path / "gate.out"
    code, text = _run(
        "check",
        files,
        "--rule",
        "roc_auc >= 0.5",
        "--junit",
        same,
        "--markdown",
        same,
    )
    assert code == 2 and "name the same file" in text and not same.exists()


def test_max_categories_must_be_positive(files, tmp_path):
    code, _ = _run(
        "bundle",
        files,
        "--out",
        tmp_path / "m-1.0",
        "--max-categories",
        -1,
    )
    assert code == 2 and not (tmp_path / "m-1.0").exists()


def test_a_bad_train_file_is_named_as_the_train_file(files, tmp_path):
    import pandas as pd

    train = pd.read_parquet(files / "d.parquet").drop(columns="mean radius")
    train.to_parquet(tmp_path / "train.parquet", index=False)
    code, text = _run("explain", files, "--train", tmp_path / "train.parquet", "--methods",
                      "lime", "--out", tmp_path / "o")  # fmt: skip
    assert code == 2 and "The train rows" in text and "--train" in text and "'mean radius'" in text
