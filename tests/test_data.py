"""Data in: read_table, as_frame, load_dataset and check_features, with their errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from afterfit.data import Dataset, as_frame, check_features, load_dataset, read_table
from afterfit.errors import DataError, SchemaError
from afterfit.models import OnnxModel, SklearnModel


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    X, y = load_iris(return_X_y=True, as_frame=True)
    X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    return X.assign(species=np.array(["setosa", "versicolor", "virginica"])[y])


@pytest.fixture(scope="module")
def model(frame) -> SklearnModel:
    X = frame.drop(columns="species")
    return SklearnModel(LogisticRegression(max_iter=1000).fit(X, frame["species"]))


# --- read_table ----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".pq"])
def test_read_table_round_trip(tmp_path, frame, suffix):
    path = tmp_path / f"data{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, index=False, sep="\t")
    else:
        frame.to_parquet(path, index=False)
    read = read_table(path)
    assert read.columns.tolist() == frame.columns.tolist()
    np.testing.assert_allclose(read["petal_length"], frame["petal_length"])
    assert read["species"].tolist() == frame["species"].tolist()


def test_read_table_missing_file_names_the_path(tmp_path):
    path = tmp_path / "absent.csv"
    with pytest.raises(DataError, match="does not exist") as info:
        read_table(path)
    assert str(path) in str(info.value)


def test_read_table_unknown_extension_lists_supported(tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(DataError) as info:
        read_table(path)
    message = str(info.value)
    assert "'.xlsx'" in message
    for ext in (".csv", ".tsv", ".parquet", ".pq"):
        assert ext in message


def test_read_table_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="empty") as info:
        read_table(path)
    assert str(path) in str(info.value)


def test_read_table_blank_csv(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("\n\n")
    with pytest.raises(DataError, match="no table"):
        read_table(path)


def test_read_table_header_only(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("a,b,target\n")
    with pytest.raises(DataError, match="no rows") as info:
        read_table(path)
    assert "'target'" in str(info.value)


def test_read_table_corrupt_parquet(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(DataError, match="could not be read as Parquet") as info:
        read_table(path)
    assert "Fix:" in str(info.value)


def test_read_table_directory(tmp_path):
    path = tmp_path / "data.csv"
    path.mkdir()
    with pytest.raises(DataError, match="not a file"):
        read_table(path)


# --- as_frame ------------------------------------------------------------------------------


def test_as_frame_pandas_is_returned_as_is(frame):
    assert as_frame(frame) is frame


def test_as_frame_polars(frame):
    import polars as pl

    converted = as_frame(pl.from_pandas(frame))
    assert isinstance(converted, pd.DataFrame)
    assert converted.columns.tolist() == frame.columns.tolist()
    np.testing.assert_allclose(converted["sepal_width"], frame["sepal_width"])
    assert isinstance(as_frame(pl.from_pandas(frame).lazy()), pd.DataFrame)


def test_as_frame_numpy_and_lists():
    arr = np.arange(6.0).reshape(3, 2)
    assert as_frame(arr).columns.tolist() == ["x0", "x1"]
    named = as_frame(arr, feature_names=["a", "b"])
    assert named.columns.tolist() == ["a", "b"]
    np.testing.assert_array_equal(named.to_numpy(), arr)
    rows = as_frame([[1, "u"], [2, "v"]])
    assert rows["x0"].tolist() == [1, 2] and pd.api.types.is_integer_dtype(rows["x0"])
    assert as_frame([{"a": 1, "b": 2}, {"a": 3, "b": 4}]).columns.tolist() == ["a", "b"]


def test_as_frame_pyarrow(frame):
    import pyarrow as pa

    assert as_frame(pa.Table.from_pandas(frame)).columns.tolist()[:5] == frame.columns.tolist()


@pytest.mark.parametrize(
    "bad",
    [np.arange(5.0), [1.0, 2.0, 3.0], np.zeros((2, 2, 2))],
    ids=["numpy-1d", "list-1d", "numpy-3d"],
)
def test_as_frame_refuses_non_2d(bad):
    with pytest.raises(DataError, match="2-D") as info:
        as_frame(bad)
    assert "reshape" in str(info.value)


def test_as_frame_refuses_series_ragged_and_unknown():
    with pytest.raises(DataError, match="1-D series"):
        as_frame(pd.Series([1, 2, 3], name="age"))
    with pytest.raises(DataError, match="different lengths"):
        as_frame([[1, 2], [3]])
    with pytest.raises(DataError, match=r"builtins\.str"):
        as_frame("data.csv")
    with pytest.raises(DataError, match="'feature_names' has 3 names"):
        as_frame(np.zeros((2, 2)), feature_names=["a", "b", "c"])


# --- load_dataset --------------------------------------------------------------------------


def test_load_dataset_from_file(tmp_path, frame):
    path = tmp_path / "iris.csv"
    frame.to_csv(path, index=False)
    ds = load_dataset(path, target="species")
    assert isinstance(ds, Dataset)
    assert ds.source == str(path)
    assert ds.target == "species"
    assert "species" not in ds.X.columns
    assert ds.y.tolist() == frame["species"].tolist()
    assert len(ds) == 150
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.target = "other"  # type: ignore[misc]


def test_load_dataset_from_frames_with_drop(frame):
    import polars as pl

    ds = load_dataset(pl.from_pandas(frame), target="species", drop=["sepal_width"])
    assert ds.source is None
    assert ds.feature_names == ["sepal_length", "petal_length", "petal_width"]
    unlabelled = load_dataset(frame, target=None)
    assert unlabelled.y is None
    assert unlabelled.X.shape == (150, 5)


def test_load_dataset_target_absent_suggests_closest(frame):
    with pytest.raises(DataError) as info:
        load_dataset(frame, target="specie")
    message = str(info.value)
    assert "'specie'" in message
    assert "sepal_length" in message  # the available columns are listed
    assert "did you mean 'species'" in message


def test_load_dataset_target_with_missing_values(frame):
    broken = frame.copy()
    broken.loc[[3, 7, 11], "species"] = None
    with pytest.raises(DataError) as info:
        load_dataset(broken, target="species")
    message = str(info.value)
    assert "3 missing value(s)" in message
    assert "drop those rows" in message and "impute" in message


def test_load_dataset_empty(frame, tmp_path):
    with pytest.raises(DataError, match="empty"):
        load_dataset(frame.iloc[:0], target="species")
    path = tmp_path / "header.csv"
    path.write_text("a,species\n")
    with pytest.raises(DataError, match="no rows"):
        load_dataset(path, target="species")


def test_load_dataset_drop_absent_and_nothing_left(frame):
    with pytest.raises(DataError, match="'colour'") as info:
        load_dataset(frame, target="species", drop=["colour"])
    assert "sepal_length" in str(info.value)
    with pytest.raises(DataError, match="No feature columns"):
        load_dataset(frame[["species"]], target="species")


# --- check_features ------------------------------------------------------------------------


def test_check_features_reorders_silently(frame, model):
    X = frame.drop(columns="species")
    shuffled = X[["petal_width", "sepal_length", "petal_length", "sepal_width"]]
    checked = check_features(shuffled, model)
    assert checked.columns.tolist() == X.columns.tolist()
    np.testing.assert_array_equal(model.predict_scores(checked), model.predict_scores(X))


def test_check_features_missing_columns(frame, model):
    X = frame.drop(columns=["species", "petal_width", "sepal_width"])
    with pytest.raises(SchemaError) as info:
        check_features(X, model)
    message = str(info.value)
    assert "lack 2 column(s)" in message
    assert "'sepal_width'" in message and "'petal_width'" in message


def test_check_features_extra_columns(frame, model):
    with pytest.raises(SchemaError) as info:
        check_features(frame.assign(row_id=range(len(frame))), model)
    message = str(info.value)
    assert "'species'" in message and "'row_id'" in message
    assert "drop" in message


def test_check_features_count_when_model_has_no_names(frame):
    X = frame.drop(columns="species")
    est = LogisticRegression(max_iter=1000).fit(X.to_numpy(), frame["species"])
    model = SklearnModel(est)
    assert model.feature_names is None
    assert check_features(X, model) is not None
    with pytest.raises(SchemaError, match="5 columns, but the model takes 4"):
        check_features(X.assign(extra=1.0), model)


def test_check_features_text_where_model_declares_numbers(frame):
    import xgboost as xgb

    X = frame.drop(columns="species")
    est = xgb.XGBClassifier(n_estimators=3, max_depth=2, n_jobs=1)
    model = SklearnModel(est.fit(X, pd.factorize(frame["species"])[0]))
    assert model.feature_dtypes["petal_length"] == "float32"
    bad = X.astype({"petal_length": object})
    bad.loc[5, "petal_length"] = "n/a"
    with pytest.raises(SchemaError) as info:
        check_features(bad, model)
    message = str(info.value)
    assert "'petal_length'" in message and "'n/a'" in message


def test_check_features_onnx_float_matrix(frame):
    from skl2onnx import to_onnx

    X = frame.drop(columns="species")
    est = LogisticRegression(max_iter=1000).fit(X.to_numpy(), frame["species"])
    model = OnnxModel(to_onnx(est, X.to_numpy()[:1].astype(np.float32)).SerializeToString())
    assert model.input_dtype == "float32" and model.feature_names is None
    texty = X.astype(str)  # numbers as text: converted
    checked = check_features(texty, model)
    assert pd.api.types.is_numeric_dtype(checked["sepal_length"])
    np.testing.assert_allclose(model.predict_scores(checked), model.predict_scores(X), atol=1e-6)
    bad = X.astype({"sepal_width": object})
    bad.loc[0, "sepal_width"] = "wide"
    with pytest.raises(SchemaError) as info:
        check_features(bad, model)
    assert "'sepal_width'" in str(info.value) and "'wide'" in str(info.value)
    with pytest.raises(SchemaError, match="takes 4"):
        check_features(X.iloc[:, :3], model)


def test_check_features_matches_names_changed_by_the_model(frame):
    import lightgbm as lgb

    X = frame.drop(columns="species").rename(columns=lambda c: c.replace("_", " "))
    est = lgb.LGBMClassifier(n_estimators=3, verbose=-1, n_jobs=1).fit(X, frame["species"])
    model = SklearnModel(est)
    assert model.feature_names == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    checked = check_features(X, model)
    assert checked.columns.tolist() == model.feature_names


def test_check_features_duplicate_columns(frame, model):
    X = frame.drop(columns="species")
    dup = pd.concat([X, X[["sepal_length"]]], axis=1)
    with pytest.raises(SchemaError, match="duplicated"):
        check_features(dup, model)


def test_a_parquet_file_with_a_column_name_twice_says_so(tmp_path):
    # pyarrow's "Multiple matches for FieldRef" was reported as a damaged file
    import pyarrow as pa
    import pyarrow.parquet as pq

    from afterfit.data import read_table

    table = pa.Table.from_arrays([pa.array([1.0, 2.0]), pa.array([3.0, 4.0]),
                                  pa.array([0, 1])], names=["x", "x", "y"])  # fmt: skip
    pq.write_table(table, tmp_path / "dup.parquet")
    with pytest.raises(DataError, match="duplicated column names: 'x'"):
        read_table(tmp_path / "dup.parquet")
