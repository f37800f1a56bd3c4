"""signature.json: the pydantic model, its published JSON Schema and the reference example."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pyarrow as pa
import pytest
from inference_server.signature import ContractError, ModelSignature, arrow_type, json_schema_text

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_published_json_schema_is_generated_from_the_model() -> None:
    stale = "docs/model-signature.schema.json is stale: regenerate it (see inference_server.signature.json_schema_text)"
    assert (DOCS / "model-signature.schema.json").read_text() == json_schema_text(), stale


def test_reference_example_is_valid_for_the_model_and_the_json_schema() -> None:
    raw = (DOCS / "examples" / "fraud-scorer.signature.json").read_bytes()
    jsonschema.validate(json.loads(raw), json.loads((DOCS / "model-signature.schema.json").read_text()))
    signature = ModelSignature.parse(raw, "example")
    assert signature.key_names == ("transaction_id", "account_id", "event_timestamp")
    assert len(signature.inputs[0].columns) == 13


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("float64", pa.float64()),
        ("double", pa.float64()),
        ("float32", pa.float32()),
        ("int8", pa.int8()),
        ("bool", pa.bool_()),
        ("string", pa.string()),
        ("timestamp[us, tz=UTC]", pa.timestamp("us", tz="UTC")),
        ("timestamp[ms]", pa.timestamp("ms")),
        ("date32[day]", pa.date32()),
    ],
)
def test_arrow_type_names_are_parsed_as_pyarrow_prints_them(text: str, expected: pa.DataType) -> None:
    assert arrow_type(text) == expected
    assert str(arrow_type(str(expected))) == str(expected)


def test_types_are_normalised_so_the_file_schema_comparison_is_exact() -> None:
    document = {
        "signature_version": 1,
        "inputs": [{"name": "X", "datatype": "FP32", "columns": [{"name": "a", "type": "float64"}]}],
        "keys": [{"name": "id", "type": "utf8"}],
    }
    signature = ModelSignature.parse(json.dumps(document).encode(), "s")
    assert signature.columns == {"id": "string", "a": "double"}
    assert signature.schema_problems(pa.schema([("a", pa.float64()), ("id", pa.string())])) == []
    assert signature.schema_problems(pa.schema([("a", pa.float32()), ("x", pa.string())])) == [
        "column 'id' (string) is missing",
        "column 'a' is float, the signature says double",
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"inputs": [{"name": "X", "datatype": "FP33", "columns": [{"name": "a", "type": "double"}]}]}, "FP33"),
        ({"inputs": [{"name": "X", "datatype": "FP32", "columns": []}]}, "inputs.0.columns: List should have"),
        (
            {"inputs": [{"name": "X", "datatype": "FP32", "columns": [{"name": "a", "type": "double"}] * 2}]},
            "lists column.s. a more than once",
        ),
        ({"keys": [{"name": "a", "type": "string"}]}, "column 'a' is declared with two types"),
        ({"keys": [{"name": "id", "type": "string"}] * 2}, "keys: column.s. id listed more than once"),
    ],
)
def test_invalid_documents_are_refused_naming_the_field(change: dict[str, object], message: str) -> None:
    document = {
        "signature_version": 1,
        "inputs": [{"name": "X", "datatype": "FP32", "columns": [{"name": "a", "type": "double"}]}],
        "keys": [{"name": "id", "type": "string"}],
        **change,
    }
    with pytest.raises(ContractError, match=message):
        ModelSignature.parse(json.dumps(document).encode(), "s3://m/models/x/1/signature.json")
