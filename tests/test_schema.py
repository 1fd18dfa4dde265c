"""The input schema: learning from training data, and every validation error."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pandas as pd
import pytest

from afterfit.bundle.schema import Field, InputSchema
from afterfit.bundle.validation import SchemaValidationError
from afterfit.errors import InvalidInputError


@pytest.fixture()
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": np.array([31, 45, 60, 22], dtype=np.int64),
            "income": [1.5, np.nan, 3.0, 2.5],
            "plan": ["basic", "pro", "basic", "team"],
            "active": [True, False, True, True],
            "note": ["x1", "x2", "x3", "x4"],
            "tier": pd.Categorical(["a", "b", "a", None], categories=["a", "b", "c"]),
            "score32": np.array([0.5, 0.25, 1.0, 2.0], dtype=np.float32),
        }
    )


@pytest.fixture()
def schema(frame: pd.DataFrame) -> InputSchema:
    return InputSchema.from_frame(frame, max_categories=3)


def good_record() -> dict:
    return {
        "age": 40,
        "income": 2.0,
        "plan": "pro",
        "active": False,
        "note": "free text",
        "tier": "b",
        "score32": 0.75,
    }


def errors_of(fn, *args, **kwargs) -> list[dict]:
    with pytest.raises(SchemaValidationError) as info:
        fn(*args, **kwargs)
    assert isinstance(info.value, InvalidInputError)
    return info.value.errors


# --- learning -------------------------------------------------------------------------------


def test_learns_kinds_ranges_categories_nullability(schema: InputSchema) -> None:
    f = {x.name: x for x in schema.fields}
    assert list(f) == ["age", "income", "plan", "active", "note", "tier", "score32"]
    assert (f["age"].kind, f["age"].nullable, f["age"].dtype) == ("integer", False, "int64")
    assert (f["age"].minimum, f["age"].maximum) == (22.0, 60.0)
    assert (f["income"].kind, f["income"].nullable) == ("number", True)
    assert (f["income"].minimum, f["income"].maximum) == (1.5, 3.0)
    assert f["plan"].kind == "category" and f["plan"].categories == ("basic", "pro", "team")
    assert f["active"].kind == "boolean" and not f["active"].nullable
    # 4 distinct texts > max_categories=3: free text.
    assert f["note"].kind == "string"
    # A pandas categorical keeps all its categories (even unused ones) and its dtype.
    assert f["tier"].kind == "category" and f["tier"].categories == ("a", "b", "c")
    assert f["tier"].nullable and f["tier"].dtype == "category"
    assert f["score32"].dtype == "float32"


def test_object_columns_of_numbers_or_booleans() -> None:
    X = pd.DataFrame(
        {
            "n": pd.Series([1, 2.5, None], dtype=object),
            "b": pd.Series([True, None, False], dtype=object),
            "i": pd.array([1, None, 3], dtype="Int64"),
        }
    )
    s = InputSchema.from_frame(X)
    assert [(f.kind, f.nullable) for f in s.fields] == [
        ("number", True),
        ("boolean", True),
        ("integer", True),
    ]
    out = s.validate_records({"n": 3, "b": None, "i": None})
    assert out["i"].dtype == np.float64 and np.isnan(out["i"][0])


def test_unsupported_dtype_is_refused() -> None:
    X = pd.DataFrame({"when": pd.to_datetime(["2024-01-01", "2024-02-01"])})
    with pytest.raises(InvalidInputError, match="when"):
        InputSchema.from_frame(X)
    with pytest.raises(InvalidInputError):
        InputSchema.from_frame(pd.DataFrame())


def test_round_trip_through_json(schema: InputSchema) -> None:
    text = json.dumps(schema.to_dict())
    back = InputSchema.from_dict(json.loads(text))
    assert back == schema
    assert back.validate_records(good_record()).equals(schema.validate_records(good_record()))
    with pytest.raises(InvalidInputError, match="not an afterfit input schema"):
        InputSchema.from_dict({"fields": []})
    with pytest.raises(InvalidInputError, match="format_version"):
        InputSchema.from_dict({**schema.to_dict(), "format_version": 99})


def test_field_checks() -> None:
    with pytest.raises(InvalidInputError):
        Field("x", "date")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        Field("x", "category")
    with pytest.raises(InvalidInputError, match="duplicated"):
        InputSchema([Field("x", "number"), Field("x", "number")])


# --- records --------------------------------------------------------------------------------


def test_valid_record_gives_typed_frame_in_order(schema: InputSchema) -> None:
    rec = dict(reversed(list(good_record().items())))  # field order does not matter
    out = schema.validate_records(rec)
    assert list(out.columns) == list(schema.names)
    assert out["age"].dtype == np.int64
    assert out["score32"].dtype == np.float32
    assert out["active"].dtype == bool
    assert isinstance(out["tier"].dtype, pd.CategoricalDtype)
    assert list(out["tier"].cat.categories) == ["a", "b", "c"]
    assert out.attrs["out_of_range"] == {}
    # A batch, with a null where allowed and an integral float for an integer.
    rows = [good_record(), {**good_record(), "income": None, "tier": None, "age": 41.0}]
    out = schema.validate_records(rows)
    assert len(out) == 2 and np.isnan(out["income"][1]) and out["age"].tolist() == [40, 41]
    assert out["age"].dtype == np.int64 and pd.isna(out["tier"][1])


@pytest.mark.parametrize(
    ("change", "field", "kind"),
    [
        ({"age": "40"}, "age", "type"),  # text for a number
        ({"age": True}, "age", "type"),  # bool is not a number
        ({"age": 40.5}, "age", "type"),  # not an integer
        ({"income": "2.0"}, "income", "type"),
        ({"income": float("inf")}, "income", "not_finite"),
        ({"income": [1.0]}, "income", "type"),
        ({"age": None}, "age", "null"),  # never null in training
        ({"age": float("nan")}, "age", "null"),
        ({"plan": "gold"}, "plan", "category"),  # unseen category
        ({"plan": 3}, "plan", "type"),  # number for a text category
        ({"plan": None}, "plan", "null"),
        ({"active": 1}, "active", "type"),  # 1 is not a boolean
        ({"active": "true"}, "active", "type"),
        ({"note": 5}, "note", "type"),
        ({"tier": "z"}, "tier", "category"),
    ],
)
def test_each_record_error(schema: InputSchema, change: dict, field: str, kind: str) -> None:
    errors = errors_of(schema.validate_records, [good_record(), {**good_record(), **change}])
    assert errors == [{"loc": [1, field], "msg": errors[0]["msg"], "type": kind}]
    assert field in str(errors) and errors[0]["msg"]


def test_missing_extra_and_non_object(schema: InputSchema) -> None:
    rec = good_record()
    del rec["plan"]
    rec["surprise"] = 1
    errors = errors_of(schema.validate_records, [rec, "not a record"])
    assert {"loc": [0, "plan"], "msg": "field required", "type": "missing"} in errors
    assert any(e["loc"] == [0, "surprise"] and e["type"] == "extra" for e in errors)
    assert any(e["loc"] == [1, None] and e["type"] == "record" for e in errors)
    assert errors_of(schema.validate_records, [])[0]["type"] == "empty"
    assert errors_of(schema.validate_records, "text")[0]["type"] == "record"


def test_unseen_categories_can_be_allowed(frame: pd.DataFrame) -> None:
    s = InputSchema.from_frame(frame, max_categories=3, unseen="allow")
    out = s.validate_records({**good_record(), "plan": "gold"})
    assert out["plan"][0] == "gold"
    # Still a type error for a number.
    assert errors_of(s.validate_records, {**good_record(), "plan": 1})[0]["type"] == "type"
    strict = InputSchema.from_frame(frame, max_categories=3)
    assert strict.validate_records({**good_record(), "plan": "gold"}, unseen="allow") is not None


def test_errors_are_capped_and_counted(schema: InputSchema) -> None:
    rows = [{**good_record(), "age": "x"} for _ in range(250)]
    with pytest.raises(SchemaValidationError) as info:
        schema.validate_records(rows, max_errors=100)
    assert len(info.value.errors) == 100 and info.value.n_errors == 250
    assert "250 problems" in str(info.value)


def test_out_of_range_is_counted_not_refused(schema: InputSchema) -> None:
    rows = [{**good_record(), "age": 99, "income": -1.0}, {**good_record(), "age": 30}]
    out = schema.validate_records(rows)
    assert out.attrs["out_of_range"] == {"age": 1, "income": 1}


def test_numpy_scalars_take_the_checked_path(schema: InputSchema) -> None:
    rec = {
        **good_record(),
        "age": np.int64(40),
        "income": np.float64(2.0),
        "active": np.bool_(False),
    }
    assert schema.validate_records(rec).equals(schema.validate_records(good_record()))
    assert (
        errors_of(schema.validate_records, {**good_record(), "age": np.bool_(True)})[0]["type"]
        == "type"
    )


def test_true_is_not_the_category_one() -> None:
    s = InputSchema([Field("c", "category", categories=(0, 1), dtype="object")])
    assert s.validate_records({"c": 1})["c"][0] == 1
    assert errors_of(s.validate_records, {"c": True})[0]["type"] == "type"
    assert errors_of(s.validate_records, {"c": 2})[0]["type"] == "category"


# --- JSON Schema ----------------------------------------------------------------------------


def test_json_schema_agrees_with_validation(schema: InputSchema) -> None:
    js = schema.json_schema()
    jsonschema.Draft202012Validator.check_schema(js)
    validator = jsonschema.Draft202012Validator(js)
    cases = [
        good_record(),
        {**good_record(), "income": None},
        {**good_record(), "age": "40"},
        {**good_record(), "age": None},
        {**good_record(), "plan": "gold"},
        {**good_record(), "active": 1},
        {**good_record(), "note": 3},
        {**good_record(), "extra": 1},
        {k: v for k, v in good_record().items() if k != "age"},
        {**good_record(), "age": 10_000},  # out of range: valid for both
    ]
    for rec in cases:
        ok_json = validator.is_valid(rec)
        try:
            schema.validate_records(rec)
            ok_ours = True
        except SchemaValidationError:
            ok_ours = False
        assert ok_json == ok_ours, rec


# --- frames ---------------------------------------------------------------------------------


def test_frame_validation_equals_records(schema: InputSchema, frame: pd.DataFrame) -> None:
    out = schema.validate_frame(frame[list(reversed(frame.columns))])
    assert list(out.columns) == list(schema.names)
    pd.testing.assert_frame_equal(
        out.reset_index(drop=True),
        schema.validate_records(
            [
                {k: (None if pd.isna(v) else v) for k, v in r.items()}
                for r in frame.to_dict("records")
            ]
        ),
        check_dtype=False,
    )
    assert out["age"].dtype == np.int64 and out["score32"].dtype == np.float32


def test_frame_errors_with_row_offset(schema: InputSchema, frame: pd.DataFrame) -> None:
    bad = frame.copy()
    bad["plan"] = bad["plan"].astype(object)
    bad.loc[2, "plan"] = "gold"
    bad["age"] = bad["age"].astype(float)
    bad.loc[1, "age"] = np.nan
    bad.loc[3, "age"] = 2.5
    bad.loc[0, "income"] = np.inf
    errors = errors_of(schema.validate_frame, bad, row_offset=1000)
    got = {(e["loc"][0], e["loc"][1], e["type"]) for e in errors}
    assert got == {
        (1002, "plan", "category"),
        (1001, "age", "null"),
        (1003, "age", "type"),
        (1000, "income", "not_finite"),
    }


def test_frame_column_errors(schema: InputSchema, frame: pd.DataFrame) -> None:
    errors = errors_of(schema.validate_frame, frame.drop(columns="plan").assign(extra=1))
    assert {"loc": [None, "plan"], "msg": "column required", "type": "missing"} in errors
    assert any(e["loc"] == [None, "extra"] and e["type"] == "extra" for e in errors)
    assert errors_of(schema.validate_frame, frame.iloc[:0])[0]["type"] == "empty"
    wrong = frame.assign(age=frame["age"].astype(str), active=frame["age"])
    kinds = {(e["loc"][1], e["type"]) for e in errors_of(schema.validate_frame, wrong)}
    assert kinds == {("age", "type"), ("active", "type")}


def test_frame_from_arrow(schema: InputSchema, frame: pd.DataFrame) -> None:
    import pyarrow as pa

    out = schema.validate_frame(pa.Table.from_pandas(frame, preserve_index=False))
    assert out["age"].tolist() == frame["age"].tolist()


def test_many_rows_are_validated_quickly(schema: InputSchema, frame: pd.DataFrame) -> None:
    import time

    big = frame.iloc[np.arange(100_000) % 4].reset_index(drop=True)
    start = time.perf_counter()
    out = schema.validate_frame(big)
    assert len(out) == len(big)
    # Vectorised: well under a second on a busy machine (a per-row loop takes several).
    assert time.perf_counter() - start < 5.0


def test_odd_values_are_field_errors_not_crashes(schema: InputSchema) -> None:
    cases = [
        ({"plan": {"a": 1}}, "type"),
        ({"plan": [1, 2]}, "type"),
        ({"age": 10**400}, "type"),  # beyond 64 bits
        ({"income": 10**400}, "not_finite"),  # beyond a float
        ({"note": {"x": 1}}, "type"),
    ]
    for change, kind in cases:
        errors = errors_of(schema.validate_records, {**good_record(), **change})
        assert [e["type"] for e in errors] == [kind], change
    dup = pd.DataFrame([[1, 2]], columns=["age", "age"])
    assert errors_of(schema.validate_frame, dup)[0]["type"] == "duplicate"
