"""One reader, one behaviour: ``predict``, ``evaluate`` and ``monitor`` treat the same file
the same way.

- A Parquet file written with its pandas index (``__index_level_0__``, or a named index)
  is accepted by all three: the index is not a data column.
- Numbers written as text, as huge integers or as decimals are numbers for all three (the
  predictions equal those of the plain numeric file); text that is not a number is refused
  by both predict and evaluate.
- A Parquet file damaged in the middle (or truncated) is named as the unreadable *input*,
  with pyarrow's reason, by all three: never "could not write the output".
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import skops.io as sio
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from afterfit.bundle.core import Bundle, build_bundle
from afterfit.cli import app
from afterfit.data import (
    load_dataset,
    numbers_from_text,
    pandas_index_columns,
    read_table,
)
from afterfit.errors import DataError
from afterfit.monitoring.core import monitor_bundle
from afterfit.serving.batch import predict_file

runner = CliRunner()


def frame(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    X, y = make_classification(n, 3, n_informative=3, n_redundant=0, random_state=seed)
    out = pd.DataFrame(X, columns=["a", "b", "c"])
    out["visits"] = np.random.default_rng(seed).integers(0, 50, n)
    return out, y


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Bundle, Path, LogisticRegression]:
    X, y = frame(300)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    root = tmp_path_factory.mktemp("readers")
    bundle = build_bundle(
        model, X, y, out=root / "b-1", name="b", version="1", export="skops", threshold=0.5
    )
    model_path = root / "model.skops"
    sio.dump(model, model_path)
    return bundle, model_path, model


@pytest.fixture(scope="module")
def rows() -> tuple[pd.DataFrame, np.ndarray]:
    return frame(60, seed=1)


def predict(bundle: Bundle, src: Path, out: Path, *extra: str):
    return runner.invoke(
        app, ["predict", str(bundle.path), str(src), "--out", str(out), "--drop", "y", *extra]
    )


def evaluate(model_path: Path, src: Path, out: Path):
    return runner.invoke(
        app,
        ["evaluate", "--model", str(model_path), "--data", str(src), "--target", "y",
         "--out", str(out), "--ci", "none", "--no-figures", "--quiet"],
    )  # fmt: skip


def baseline(bundle: Bundle, X: pd.DataFrame, tmp_path: Path) -> pd.DataFrame:
    src = tmp_path / "plain.parquet"
    X.reset_index(drop=True).to_parquet(src)
    predict_file(bundle, src, tmp_path / "plain-out.parquet")
    return pd.read_parquet(tmp_path / "plain-out.parquet")


# --- the pandas index ---------------------------------------------------------------------


@pytest.mark.parametrize("index", ["shuffled", "named", "text"])
def test_parquet_with_pandas_index(setup, rows, tmp_path: Path, index: str) -> None:
    bundle, model_path, model = setup
    X, y = rows
    data = X.assign(y=y)
    if index == "shuffled":
        data.index = np.arange(len(data))[::-1]
    elif index == "named":
        data.index = pd.Index(np.arange(len(data)) * 7, name="row_id")
    else:
        data.index = [f"r{i}" for i in range(len(data))]
    src = tmp_path / "indexed.parquet"
    data.to_parquet(src)
    index_cols = pandas_index_columns(pq.ParquetFile(src).schema_arrow)
    assert index_cols == (["row_id"] if index == "named" else ["__index_level_0__"])
    # evaluate's reader (read_table) takes the index as the index, not as data...
    assert list(read_table(src).columns) == ["a", "b", "c", "visits", "y"]
    # ...and so does predict's streaming reader: the same predictions as without it.
    result = predict(setup[0], src, tmp_path / "p.parquet", "--chunk-rows", "7")
    assert result.exit_code == 0, result.output
    got = pd.read_parquet(tmp_path / "p.parquet")
    expected = baseline(bundle, X, tmp_path)
    pd.testing.assert_frame_equal(got, expected)
    np.testing.assert_allclose(got["proba_1"], model.predict_proba(X)[:, 1], atol=1e-12)
    result = evaluate(model_path, src, tmp_path / "ev")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("variant", ["indexed", "text-numbers"])
def test_monitor_reads_the_same_log_alike(setup, rows, tmp_path: Path, variant: str) -> None:
    bundle = setup[0]
    X, _ = rows
    preds = bundle.predict_frame(X)
    log = X.assign(ts=time.time() - np.arange(len(X)), proba_0=preds.proba[:, 0],
                   proba_1=preds.proba[:, 1], decision=preds.decision)  # fmt: skip
    plain, indexed = tmp_path / "plain.parquet", tmp_path / "indexed.parquet"
    log.to_parquet(plain)
    if variant == "indexed":
        log.set_axis(np.arange(len(log))[::-1], axis=0).to_parquet(indexed)
    else:
        log.astype({"visits": str}).to_parquet(indexed)
    a = monitor_bundle(bundle.path, str(plain))
    b = monitor_bundle(bundle.path, str(indexed))
    assert a.n_rows == b.n_rows == len(X)
    assert [f.psi for f in a.features] == [f.psi for f in b.features]


# --- numbers as text, huge integers, decimals ------------------------------------------


def numbers_as(kind: str, X: pd.DataFrame, y: np.ndarray, path: Path) -> pd.DataFrame:
    """Write ``X`` (and y) with the ``visits`` column as ``kind``; returns the numbers."""
    visits = X["visits"].astype(object).copy()
    visits.iloc[4] = 10**30  # one huge integer
    numbers = X.assign(visits=visits.astype(float))
    if kind == "csv-huge-int":
        X.assign(visits=visits, y=y).to_csv(path, index=False)
    elif kind == "parquet-text":
        X.assign(visits=visits.astype(str), y=y).to_parquet(path)
    elif kind == "parquet-decimal":
        table = pa.Table.from_pandas(X.drop(columns="visits").assign(y=y), preserve_index=False)
        dec = pa.array([Decimal(int(v)) for v in visits], type=pa.decimal128(38, 0))
        pq.write_table(table.append_column("visits", dec), path)
    else:  # csv-text: quoted numbers with spaces are still numbers to pandas
        X.assign(visits=[f" {v} " for v in visits], y=y).to_csv(path, index=False)
    return numbers


@pytest.mark.parametrize(
    ("kind", "ext"),
    [
        ("csv-huge-int", "csv"),
        ("parquet-text", "parquet"),
        ("parquet-decimal", "parquet"),
        ("csv-text", "csv"),
    ],
)
def test_numbers_as_text_or_huge_ints(setup, rows, tmp_path: Path, kind: str, ext: str) -> None:
    bundle, model_path, model = setup
    X, y = rows
    src = tmp_path / f"rows.{ext}"
    numbers = numbers_as(kind, X, y, src)
    result = predict(bundle, src, tmp_path / "p.parquet", "--chunk-rows", "25")
    assert result.exit_code == 0, result.output
    got = pd.read_parquet(tmp_path / "p.parquet")
    np.testing.assert_allclose(got["proba_1"], model.predict_proba(numbers)[:, 1], atol=1e-12)
    assert got["proba_1"].iloc[4] == pytest.approx(model.predict_proba(numbers)[4, 1])
    result = evaluate(model_path, src, tmp_path / "ev")
    assert result.exit_code == 0, result.output
    ds = load_dataset(src, target="y")
    from afterfit.predictions import Predictions

    preds = Predictions.from_model(model, ds.X, ds.y)
    np.testing.assert_allclose(preds.scores, got["proba_1"], atol=1e-12)


def test_text_that_is_not_a_number_is_refused_by_both(setup, rows, tmp_path: Path) -> None:
    bundle, model_path, _ = setup
    X, y = rows
    src = tmp_path / "rows.parquet"
    X.assign(visits=X["visits"].astype(str).where(X.index != 9, "many"), y=y).to_parquet(src)
    result = predict(bundle, src, tmp_path / "p.parquet")
    assert result.exit_code == 2 and "row 9" in result.output and "visits" in result.output
    assert "(1 problem)" in result.output  # the other rows' numbers are numbers
    result = evaluate(model_path, src, tmp_path / "ev")
    assert result.exit_code == 2 and "'many'" in result.output
    assert "Traceback" not in result.output


def test_numbers_from_text_unit() -> None:
    f = pd.DataFrame({"a": ["1", "2.5", None], "b": ["x", "1", "2"], "c": [1, 2, 3]})
    out, bad = numbers_from_text(f, ["a", "b", "c", "absent"])
    assert out["a"].dtype == np.float64 and out["a"].iloc[1] == 2.5
    assert np.isnan(out["a"].iloc[2])
    assert out["b"].tolist() == ["x", 1.0, 2.0] and bad["b"].tolist() == ["x"]
    assert out["c"].tolist() == [1, 2, 3] and "c" not in bad


# --- damaged files ------------------------------------------------------------------------


def damaged(tmp_path: Path, how: str) -> Path:
    X, y = frame(40_000, seed=2)
    path = tmp_path / f"{how}.parquet"
    X.assign(y=y).to_parquet(path, row_group_size=4_000)
    data = bytearray(path.read_bytes())
    if how == "truncated":
        data = data[: len(data) // 2]
    else:  # garbage over pages in the middle; the footer stays intact
        rng = np.random.default_rng(1)
        n = len(data)
        for off in range(n // 3, 2 * n // 3, 5_000):
            data[off : off + 300] = rng.integers(0, 256, 300, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("how", ["middle", "truncated"])
def test_damaged_parquet_names_the_input(setup, tmp_path: Path, how: str) -> None:
    bundle, model_path, _ = setup
    src = damaged(tmp_path, how)
    out = tmp_path / "p.csv"
    out.write_text("earlier\n")
    outputs = []
    # --overwrite: the earlier file may be replaced, yet a failed run keeps it.
    result = predict(bundle, src, out, "--chunk-rows", "4000", "--overwrite")
    outputs.append(result)
    assert out.read_text() == "earlier\n"
    outputs.append(evaluate(model_path, src, tmp_path / "ev"))
    for r in outputs:
        assert r.exit_code == 2, r.output
        assert "Traceback" not in r.output
        assert f"'{src}' could not be read as Parquet" in r.output.replace("\n", ""), r.output
        assert "output" not in r.output and "could not use" not in r.output
    with pytest.raises(DataError, match="could not be read as Parquet"):
        read_table(src)


def test_monitor_names_a_damaged_log(setup, rows, tmp_path: Path) -> None:
    bundle = setup[0]
    X, _ = rows
    preds = bundle.predict_frame(X)
    log = X.assign(ts=time.time() - np.arange(len(X)), proba_0=preds.proba[:, 0],
                   proba_1=preds.proba[:, 1], decision=preds.decision)  # fmt: skip
    log = pd.concat([log] * 700, ignore_index=True)
    path = tmp_path / "log.parquet"
    log.to_parquet(path, row_group_size=4_000)
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(3)
    for off in range(len(data) // 3, 2 * len(data) // 3, 5_000):
        data[off : off + 300] = rng.integers(0, 256, 300, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"prediction log .* could not be read as Parquet"):
        monitor_bundle(bundle.path, str(path))
    result = runner.invoke(
        app, ["monitor", str(bundle.path), "--log", str(path), "--out", str(tmp_path / "m"), "-q"]
    )
    assert result.exit_code == 2, result.output
    assert "could not be read as Parquet" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("value", [10**30, -(10**30), 2**63, 1e19])
def test_huge_integer_is_never_wrapped(setup, value) -> None:
    """An integer field's value beyond int64 stays that number (as a float), never a
    wrapped int64: the schema's cast once turned 1e30 into -9.2e18."""
    bundle = setup[0]
    X = pd.DataFrame({"a": [0.0, 0.1], "b": [0.0, 0.2], "c": [0.0, 0.3], "visits": [3, value]})
    out = bundle.schema.validate_frame(X)
    assert out["visits"].iloc[1] == pytest.approx(float(value))
    assert out["visits"].iloc[0] == 3


@pytest.mark.parametrize("damage", [b"1,2,3,4,5,6,7\n", b"\xff\xfe,\x80,1,2,0\n"])
def test_damaged_csv_names_the_input(setup, tmp_path: Path, damage: bytes) -> None:
    bundle, model_path, _ = setup
    X, y = frame(3_000, seed=2)
    src = tmp_path / "rows.csv"
    X.assign(y=y).to_csv(src, index=False)
    lines = src.read_bytes().splitlines(keepends=True)
    src.write_bytes(b"".join(lines[:2_000]) + damage + b"".join(lines[2_000:]))
    out = tmp_path / "p.csv"
    for result in (
        predict(bundle, src, out, "--chunk-rows", "500"),
        evaluate(model_path, src, tmp_path / "ev"),
    ):
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        assert f"'{src}' could not be read as CSV" in result.output.replace("\n", "")
    assert not out.exists()
