"""``afterfit predict``: streaming batch prediction equals in-memory, bad input leaves nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from typer.testing import CliRunner

from afterfit.bundle.core import Bundle, build_bundle
from afterfit.bundle.validation import SchemaValidationError
from afterfit.cli import app
from afterfit.serving.batch import predict_file

runner = CliRunner()


def frame(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    X, y = make_classification(n, 4, n_informative=3, n_redundant=0, random_state=seed)
    out = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    rng = np.random.default_rng(seed)
    out["plan"] = rng.choice(["basic", "pro", "team"], n)
    out["visits"] = rng.integers(0, 50, n)
    return out, y


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Bundle:
    X, y = frame(800)
    ct = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["plan"]), remainder=StandardScaler()
    )
    model = make_pipeline(ct, LogisticRegression(max_iter=1000)).fit(X, y)
    out = tmp_path_factory.mktemp("pb") / "churn-1.0"
    return build_bundle(model, X, y, out=out, name="churn", version="1.0", threshold=0.4)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    X, _ = frame(5_000, seed=1)
    return X.assign(id=np.arange(len(X)) + 10_000)


def run(*args) -> object:
    return runner.invoke(app, ["predict", *[str(a) for a in args]])


def test_streaming_equals_in_memory_parquet(bundle: Bundle, rows: pd.DataFrame, tmp_path) -> None:
    src = tmp_path / "rows.parquet"
    rows.to_parquet(src, row_group_size=1_000)
    out = tmp_path / "preds.parquet"
    summary = predict_file(bundle, src, out, chunk_rows=700, keep=["id"])
    assert summary.n_rows == 5_000 and summary.n_chunks == 8
    got = pd.read_parquet(out)
    assert list(got.columns) == ["id", "proba_0", "proba_1", "decision"]
    whole = bundle.predict_frame(rows.drop(columns="id"))
    assert np.array_equal(got["id"].to_numpy(), rows["id"].to_numpy())
    assert np.allclose(got[["proba_0", "proba_1"]].to_numpy(), whole.proba, atol=0, rtol=0)
    assert np.array_equal(got["decision"].to_numpy(), whole.decision)
    assert np.array_equal(whole.decision, (whole.proba[:, 1] > 0.4).astype(int))
    assert summary.decisions == {
        "0": int((whole.decision == 0).sum()),
        "1": int((whole.decision == 1).sum()),
    }


def test_cli_csv_in_csv_out(bundle: Bundle, rows: pd.DataFrame, tmp_path) -> None:
    src = tmp_path / "rows.csv"
    rows.assign(y=0).to_csv(src, index=False)
    out = tmp_path / "preds.csv"
    result = run(bundle.path, src, "--out", out, "--chunk-rows", 1234, "--keep", "id",
                 "--drop", "y")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "5,000 rows" in result.output
    got = pd.read_csv(out)
    whole = bundle.predict_frame(rows.drop(columns="id"))
    assert len(got) == 5_000 and got["id"].tolist() == rows["id"].tolist()
    assert np.max(np.abs(got["proba_1"].to_numpy() - whole.proba[:, 1])) < 1e-12
    assert np.array_equal(got["decision"].to_numpy(), whole.decision)


def test_bad_row_exits_2_and_leaves_no_output(bundle: Bundle, rows: pd.DataFrame, tmp_path) -> None:
    bad = rows.copy()
    bad.loc[3456, "plan"] = "gold"
    src = tmp_path / "bad.parquet"
    bad.to_parquet(src)
    out = tmp_path / "preds.parquet"
    result = run(bundle.path, src, "--out", out, "--chunk-rows", 1000, "--keep", "id")
    assert result.exit_code == 2
    assert "row 3456" in result.output and "'plan'" in result.output and "gold" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.parquet"]  # no temporary left
    # An earlier output at the same path is kept as it was.
    out.write_text("old")
    assert run(bundle.path, src, "--out", out, "--keep", "id").exit_code == 2
    assert out.read_text() == "old"


def test_null_and_type_errors_name_rows(bundle: Bundle, rows: pd.DataFrame, tmp_path) -> None:
    bad = rows.drop(columns="id").astype({"visits": float})
    bad.loc[10, "a"] = np.nan
    bad.loc[2500, "visits"] = 2.5
    src = tmp_path / "bad.parquet"
    bad.to_parquet(src)
    with pytest.raises(SchemaValidationError) as info:
        predict_file(bundle, src, tmp_path / "p.parquet", chunk_rows=1000)
    # The first chunk fails first: the run stops there.
    assert [e["loc"] for e in info.value.errors] == [[10, "a"]]
    bad.loc[10, "a"] = 0.0
    bad.to_parquet(src)
    with pytest.raises(SchemaValidationError) as info:
        predict_file(bundle, src, tmp_path / "p.parquet", chunk_rows=1000)
    assert info.value.errors[0]["loc"] == [2500, "visits"]
    assert info.value.errors[0]["type"] == "type"
    assert not (tmp_path / "p.parquet").exists()


def test_column_errors(bundle: Bundle, rows: pd.DataFrame, tmp_path) -> None:
    src = tmp_path / "rows.parquet"
    rows.to_parquet(src)
    result = run(bundle.path, src, "--out", tmp_path / "p.parquet")
    assert result.exit_code == 2 and "'id'" in result.output and "--drop" in result.output
    rows.drop(columns=["plan"]).to_parquet(src)
    result = run(bundle.path, src, "--out", tmp_path / "p.parquet", "--drop", "id")
    assert result.exit_code == 2 and "'plan'" in result.output and "required" in result.output
    rows.iloc[:0].to_parquet(src)
    result = run(bundle.path, src, "--out", tmp_path / "p.parquet", "--drop", "id")
    assert result.exit_code == 2 and "no rows" in result.output
    assert not (tmp_path / "p.parquet").exists()


def test_bad_arguments(bundle: Bundle, rows: pd.DataFrame, tmp_path) -> None:
    src = tmp_path / "rows.parquet"
    rows.to_parquet(src)
    result = run(bundle.path, src, "--out", tmp_path / "p.json", "--drop", "id")
    assert result.exit_code == 2 and ".parquet" in result.output
    result = run(bundle.path, src, "--out", tmp_path / "p.parquet", "--chunk-rows", 0)
    assert result.exit_code == 2 and "chunk" in result.output
    result = run(bundle.path, tmp_path / "missing.parquet", "--out", tmp_path / "p.parquet")
    assert result.exit_code == 2 and "does not exist" in result.output
    (tmp_path / "junk.parquet").write_text("not parquet")
    result = run(bundle.path, tmp_path / "junk.parquet", "--out", tmp_path / "p.parquet")
    assert result.exit_code == 2 and "Parquet" in result.output
    result = run(tmp_path / "no-bundle", src, "--out", tmp_path / "p.parquet")
    assert result.exit_code == 2 and "does not exist" in result.output


def test_tampered_bundle_is_refused(bundle: Bundle, rows: pd.DataFrame, tmp_path) -> None:
    import shutil

    copy = tmp_path / "b"
    shutil.copytree(bundle.path, copy)
    (copy / "decision.json").write_text((copy / "decision.json").read_text().replace("0.4", "0.9"))
    src = tmp_path / "rows.parquet"
    rows.to_parquet(src)
    result = run(copy, src, "--out", tmp_path / "p.parquet", "--drop", "id")
    assert result.exit_code == 2 and "decision.json" in result.output
    assert not (tmp_path / "p.parquet").exists()


def test_regression_output(tmp_path) -> None:
    X, _ = frame(300)
    X = X.drop(columns="plan")
    y = X["a"] * 2 + X["visits"]
    model = Ridge().fit(X, y)
    b = build_bundle(model, X, y, out=tmp_path / "r-1", name="r", version="1")
    X.to_parquet(tmp_path / "x.parquet")
    summary = predict_file(b, tmp_path / "x.parquet", tmp_path / "p.parquet", chunk_rows=64)
    got = pd.read_parquet(tmp_path / "p.parquet")
    assert summary.n_chunks == 5 and list(got.columns) == ["prediction"]
    assert b.manifest["model_format"] == "onnx"  # a regressor needs no decision function
    assert np.max(np.abs(got["prediction"].to_numpy() - model.predict(X))) < 1e-4


def test_writer_error_in_background_leaves_no_output(
    bundle: Bundle, rows: pd.DataFrame, tmp_path
) -> None:
    # A CSV --keep column of whole numbers that holds a decimal in a later chunk: the
    # background writer cannot append it to the first chunk's int64 column.
    src = tmp_path / "rows.csv"
    data = rows.astype({"id": object})
    data.loc[4_500, "id"] = 2.5
    data.to_csv(src, index=False)
    out = tmp_path / "p.parquet"
    result = run(bundle.path, src, "--out", out, "--keep", "id", "--chunk-rows", 1000)
    assert result.exit_code == 2 and "--keep" in result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.csv"]
