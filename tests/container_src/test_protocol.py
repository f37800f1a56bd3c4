"""V2 request parsing / response encoding, property-tested over datatypes and shapes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from inference_server.datatypes import BY_V2
from inference_server.model import TensorSpec
from inference_server.protocol import ApiError, InferRequest, encode_infer_response, parse_infer_request
from tritonclient.http import InferResult

NUMERIC = [t for t in BY_V2 if t != "BYTES"]


@st.composite
def tensors(draw):
    v2 = draw(st.sampled_from(NUMERIC))
    shape = draw(st.lists(st.integers(0, 4), min_size=1, max_size=3))
    dtype = BY_V2[v2].numpy
    elements = st.booleans() if v2 == "BOOL" else None
    if dtype.kind == "f":
        elements = st.floats(width=dtype.itemsize * 8, allow_nan=False, allow_infinity=False)
    array = draw(arrays(dtype, shape, elements=elements))
    return v2, array


@settings(max_examples=150, deadline=None)
@given(tensors(), st.booleans())
def test_any_numeric_tensor_round_trips_through_request_and_response(tensor, binary: bool) -> None:
    # GIVEN a tensor of any numeric V2 datatype and shape, sent as binary or JSON
    v2, array = tensor
    spec = TensorSpec("X", BY_V2[v2], tuple(-1 for _ in array.shape))
    entry: dict = {"name": "X", "shape": list(array.shape), "datatype": v2}
    payload = b""
    if binary:
        payload = array.tobytes()
        entry["parameters"] = {"binary_data_size": len(payload)}
    else:
        entry["data"] = array.ravel().tolist()
    header = json.dumps({"inputs": [entry], "parameters": {"binary_data_output": binary}}).encode()
    # WHEN parsed and echoed back through the response encoder
    request = parse_infer_request(header + payload, str(len(header)) if binary else None, [spec], [spec])
    body, headers = encode_infer_response("m", "1", request, [request.inputs["X"]], {"X": spec})
    length = headers.get("Inference-Header-Content-Length")
    result = InferResult.from_response_body(body, header_length=int(length) if length else None)
    # THEN tritonclient decodes exactly the original tensor
    np.testing.assert_array_equal(request.inputs["X"], array)
    got = result.as_numpy("X").reshape(array.shape)
    assert got.dtype == array.dtype
    np.testing.assert_array_equal(got, array)


SPEC = [TensorSpec("X", BY_V2["INT8"], (-1, 2))]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2, 3, 200], "out of range for INT8"),
        ([1, 2, 3, 4.5], "must be JSON integers"),
        ([1, 2, True, 4], "must be JSON integers"),
    ],
)
def test_json_values_must_fit_the_datatype(data, message) -> None:
    body = json.dumps({"inputs": [{"name": "X", "shape": [2, 2], "datatype": "INT8", "data": data}]}).encode()
    with pytest.raises(ApiError, match=message) as info:
        parse_infer_request(body, None, SPEC, SPEC)
    assert info.value.status == 400


def test_fp16_overflow_is_rejected() -> None:
    spec = [TensorSpec("X", BY_V2["FP16"], (1,))]
    body = json.dumps({"inputs": [{"name": "X", "shape": [1], "datatype": "FP16", "data": [1e6]}]}).encode()
    with pytest.raises(ApiError, match="out of range for FP16"):
        parse_infer_request(body, None, spec, spec)


def test_rows_and_group_key_describe_the_batch_dimension() -> None:
    a = InferRequest(None, {"X": np.zeros((3, 2), np.int8)}, ["X"])
    b = InferRequest(None, {"X": np.zeros((5, 2), np.int8)}, ["X"])
    c = InferRequest(None, {"X": np.zeros((5, 3), np.int8)}, ["X"])
    assert a.rows == 3 and a.group_key() == b.group_key() != c.group_key()
