"""Equivalence: the direct inference route answers exactly what the Starlette route does, and the orjson
codec reads and writes what json does."""

from __future__ import annotations

import gzip
import json
import math
import re
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from inference_server.app import create_app
from inference_server.config import Settings
from inference_server.datatypes import BY_V2
from inference_server.model import TensorSpec
from inference_server.protocol import InferRequest, _loads, encode_infer_response
from starlette.applications import Starlette

with warnings.catch_warnings():  # starlette 1.x deprecates its httpx-based test client; it still works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

ROUTE = "x-test-route"


class _LocalRepository:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fetch(self, model: str, version: str) -> Path:
        return self.path


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, classifier_bytes: bytes) -> Iterator[TestClient]:
    """The classifier app; requests with the x-test-route header go through Starlette's router instead."""
    path = tmp_path_factory.mktemp("model") / "model.onnx"
    path.write_bytes(classifier_bytes)
    settings = Settings.from_env(
        {
            "MODEL_REPOSITORY": "s3://acme-models/models",
            "MODEL_NAME": "classifier",
            "MODEL_VERSION": "1",
            "MAX_REQUEST_BYTES": "1024",
        }
    )
    app = create_app(settings, repository=_LocalRepository(path))  # type: ignore[arg-type]

    async def either(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (ROUTE.encode(), b"router") in scope["headers"]:
            await Starlette.__call__(app, scope, receive, send)  # the router, bypassing the direct route
        else:
            await app(scope, receive, send)

    with TestClient(either) as test_client:
        deadline = time.monotonic() + 30
        while test_client.get("/v2/health/ready").status_code != 200:
            assert time.monotonic() < deadline, "model did not load"
            time.sleep(0.01)
        yield test_client


def _binary_body() -> tuple[bytes, dict[str, str]]:
    header = json.dumps(
        {
            "id": "b1",
            "inputs": [{"name": "INPUT0", "shape": [2, 4], "datatype": "FP32", "parameters": {"binary_data_size": 32}}],
            "outputs": [{"name": "PROBS", "parameters": {"binary_data": True}}, {"name": "LOGITS"}],
        }
    ).encode()
    return header + np.arange(8, dtype=np.float32).tobytes(), {"Inference-Header-Content-Length": str(len(header))}


def _json(data: Any, **extra: Any) -> bytes:
    return json.dumps(
        {"inputs": [{"name": "INPUT0", "shape": [1, 4], "datatype": "FP32", "data": data}], **extra}
    ).encode()


CASES: dict[str, tuple[str, bytes, dict[str, str]]] = {
    "json": ("/v2/models/classifier/infer", _json([0.5, 1, -2, 3e-7], id="r-1"), {}),
    "versioned": ("/v2/models/classifier/versions/1/infer", _json([[1, 2, 3, 4]]), {}),
    "binary": ("/v2/models/classifier/infer", *_binary_body()),
    "gzip": ("/v2/models/classifier/infer", gzip.compress(_json([1, 2, 3, 4])), {"Content-Encoding": "gzip"}),
    "non-ascii id": ("/v2/models/classifier/infer", _json([1, 2, 3, 4], id="é\u2028"), {}),
    "unknown model": ("/v2/models/other/infer", _json([1, 2, 3, 4]), {}),
    "unknown version": ("/v2/models/classifier/versions/9/infer", _json([1, 2, 3, 4]), {}),
    "not json": ("/v2/models/classifier/infer", b"{nope", {}),
    "NaN literal": (
        "/v2/models/classifier/infer",
        b'{"inputs":[{"name":"INPUT0","shape":[1,4],"datatype":"FP32","data":[NaN,1,2,3]}]}',
        {},
    ),
    "wrong shape": ("/v2/models/classifier/infer", _json([1, 2, 3]), {}),
    "bad encoding": ("/v2/models/classifier/infer", b"{}", {"Content-Encoding": "br"}),
    "too large": ("/v2/models/classifier/infer", _json([1.0] * 300), {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_direct_route_answers_like_the_router(client: TestClient, case: str) -> None:
    # GIVEN one request, sent once through the direct route and once through Starlette's router
    path, body, headers = CASES[case]
    direct = client.post(path, content=body, headers=headers)
    routed = client.post(path, content=body, headers={**headers, ROUTE: "router"})
    # THEN status, headers (in order) and body are the same
    assert direct.status_code == routed.status_code
    assert direct.headers.multi_items() == routed.headers.multi_items()
    assert direct.content == routed.content


def test_the_direct_route_counts_requests_like_the_router(client: TestClient) -> None:
    def counted() -> dict[str, float]:
        text = client.get("/metrics").text
        pattern = (
            r'^inference_requests_total\{endpoint="/v2/models/\{model\}/infer",method="POST",status="(\d+)"\} (\S+)$'
        )
        return {m[1]: float(m[2]) for m in re.finditer(pattern, text, re.M)}

    # GIVEN the counters before
    before = counted()
    # WHEN a good and a bad request go each way
    for headers in ({}, {ROUTE: "router"}):
        client.post("/v2/models/classifier/infer", content=_json([1, 2, 3, 4]), headers=headers)
        client.post("/v2/models/other/infer", content=_json([1, 2, 3, 4]), headers=headers)
    after = counted()
    # THEN each way counted one 200 and one 404 under the same labels
    assert after.get("200", 0) - before.get("200", 0) == 2
    assert after.get("404", 0) - before.get("404", 0) == 2


@pytest.mark.parametrize(
    "document",
    [
        b'{"a": [1, 2.5, -3e-7, true, null, "x"]}',
        b'{"a": 1, "a": 2}',
        b"[NaN, Infinity, -Infinity]",
        b"[1e400]",
        b"[18446744073709551615]",
        b"[18446744073709551616]",
        b"[-123456789012345678901234567890]",
        b"\xef\xbb\xbf{}",
        b'"\\ud800"',
        b'{"a": "\\u00e9\\ud83d\\ude00"}',
        b"{nope",
        b"[1,]",
        b"",
        b"\xff",
    ],
)
def test_loads_reads_what_json_reads_or_fails_with_its_message(document: bytes) -> None:
    try:
        want: Any = json.loads(document)
    except (UnicodeDecodeError, ValueError) as exc:
        with pytest.raises(type(exc)) as got:
            _loads(document)
        assert str(got.value) == str(exc)
        return
    got_value = _loads(document)
    assert repr(got_value) == repr(want)  # repr: NaN compares unequal, and int vs float must match too
    assert type(got_value) is type(want)


def _spec(name: str, v2: str, shape: tuple[int, ...]) -> TensorSpec:
    return TensorSpec(name, BY_V2[v2], shape)


@pytest.mark.parametrize(
    ("values", "request_id"),
    [
        ([0.1, 1e-05, 1.5e20, -0.0, 123456789.125], None),
        ([math.nan, 1.0, math.inf, -math.inf, 2.0], "a"),
        ([1.0, 2.0, 3.0, 4.0, 5.0], "é"),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 'quote" backslash\\ tab\t del\x7f'),
    ],
)
def test_encoded_responses_hold_the_values_json_writes(values: list[float], request_id: str | None) -> None:
    # GIVEN outputs of several datatypes and a request id
    array = np.array([values], dtype=np.float64)
    results = [array, np.arange(5, dtype=np.int64).reshape(1, 5) - 2, array > 1]
    specs = {
        "F": _spec("F", "FP64", (-1, 5)),
        "I": _spec("I", "INT64", (-1, 5)),
        "B": _spec("B", "BOOL", (-1, 5)),
    }
    request = InferRequest(id=request_id, inputs={}, outputs=["F", "I", "B"])
    # WHEN the response is encoded
    body, headers = encode_infer_response("m", "1", request, results, specs)
    # THEN it holds what json.dumps writes: the same values, and byte for byte where json's spelling differs
    reference = {
        "model_name": "m",
        "model_version": "1",
        "outputs": [
            {"name": n, "datatype": specs[n].datatype.v2, "shape": [1, 5], "data": r.reshape(-1).tolist()}
            for n, r in zip(request.outputs, results, strict=True)
        ],
    }
    if request_id is not None:
        reference["id"] = request_id
    expected = json.dumps(reference, separators=(",", ":")).encode()
    if not all(math.isfinite(v) for v in values) or not (request_id or "").isascii() or "\x7f" in (request_id or ""):
        assert body == expected
    else:
        assert json.loads(body) == json.loads(expected)
    assert headers == {"content-type": "application/json"}
