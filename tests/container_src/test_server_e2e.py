"""End-to-end: the inference server on loopback, a moto S3 model repository, V2 clients."""

from __future__ import annotations

import gzip
import json
import struct

import httpx
import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as triton
from inference_helpers import ECHO_TYPES, RunningServer, start_server, wait_ready, wait_until
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def reference(classifier_bytes: bytes) -> ort.InferenceSession:
    return ort.InferenceSession(classifier_bytes, providers=["CPUExecutionProvider"])


def test_tritonclient_binary_infer_matches_direct_onnxruntime(
    classifier_server: RunningServer, reference: ort.InferenceSession
) -> None:
    # GIVEN a batch of 5 feature rows sent the way tritonclient does by default (binary tensor data)
    client = triton.InferenceServerClient(classifier_server.host_port)
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    tensor = triton.InferInput("INPUT0", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    # WHEN inferring without naming outputs (tritonclient then asks for binary outputs)
    result = client.infer("classifier", [tensor], request_id="req-1")
    # THEN both outputs equal a direct onnxruntime run bit for bit, and the id is echoed
    logits, probs = reference.run(["LOGITS", "PROBS"], {"INPUT0": x})
    np.testing.assert_array_equal(result.as_numpy("LOGITS"), logits)
    np.testing.assert_array_equal(result.as_numpy("PROBS"), probs)
    response = result.get_response()
    assert response["id"] == "req-1"
    assert response["model_name"] == "classifier" and response["model_version"] == "1"
    assert response["outputs"][0]["parameters"]["binary_data_size"] == 5 * 3 * 4


def test_tritonclient_json_infer_with_requested_output_and_version(
    classifier_server: RunningServer, reference: ort.InferenceSession
) -> None:
    # GIVEN JSON (non-binary) input data and one requested output, on the explicit version path
    client = triton.InferenceServerClient(classifier_server.host_port)
    x = np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32)
    tensor = triton.InferInput("INPUT0", [3, 4], "FP32")
    tensor.set_data_from_numpy(x, binary_data=False)
    requested = [triton.InferRequestedOutput("PROBS", binary_data=False)]
    # WHEN inferring
    result = client.infer("classifier", [tensor], model_version="1", outputs=requested)
    # THEN only PROBS comes back, as JSON data, matching onnxruntime within float32 round-trip
    response = result.get_response()
    assert [o["name"] for o in response["outputs"]] == ["PROBS"]
    assert "data" in response["outputs"][0]
    np.testing.assert_allclose(result.as_numpy("PROBS"), reference.run(["PROBS"], {"INPUT0": x})[0], rtol=1e-6)


def test_tritonclient_health_and_metadata_calls(classifier_server: RunningServer) -> None:
    # GIVEN a server whose model is loaded
    client = triton.InferenceServerClient(classifier_server.host_port)
    # WHEN tritonclient's common calls are made
    # THEN they report live/ready and V2 metadata with dynamic dims as -1 and the provider used
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("classifier") and client.is_model_ready("classifier", "1")
    assert not client.is_model_ready("classifier", "2")
    server_meta = client.get_server_metadata()
    assert server_meta["name"] and "binary_tensor_data" in server_meta["extensions"]
    meta = client.get_model_metadata("classifier", "1")
    assert meta["platform"] == "onnxruntime_onnx" and meta["versions"] == ["1"]
    assert meta["inputs"] == [{"name": "INPUT0", "datatype": "FP32", "shape": [-1, 4]}]
    assert {o["name"]: o["shape"] for o in meta["outputs"]} == {"LOGITS": [-1, 3], "PROBS": [-1, 3]}
    assert meta["parameters"]["execution_provider"] == "CPUExecutionProvider"
    stats = client.get_inference_statistics("classifier")
    assert stats["model_stats"][0]["execution_provider"] == "CPUExecutionProvider"


def test_plain_http_json_with_nested_data(classifier_server: RunningServer, reference: ort.InferenceSession) -> None:
    # GIVEN a hand-written V2 JSON request with nested (not flattened) data
    x = [[0.1, 0.2, 0.3, 0.4], [1.0, -1.0, 0.5, 2.0]]
    body = {"id": "n1", "inputs": [{"name": "INPUT0", "shape": [2, 4], "datatype": "FP32", "data": x}]}
    # WHEN posting it with httpx
    response = httpx.post(f"{classifier_server.url}/v2/models/classifier/infer", json=body)
    # THEN the JSON response has every output, flattened, matching onnxruntime
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    payload = response.json()
    assert payload["id"] == "n1"
    outputs = {o["name"]: o for o in payload["outputs"]}
    assert outputs["PROBS"]["shape"] == [2, 3] and outputs["PROBS"]["datatype"] == "FP32"
    expected = reference.run(["PROBS"], {"INPUT0": np.array(x, dtype=np.float32)})[0]
    np.testing.assert_allclose(np.array(outputs["PROBS"]["data"]).reshape(2, 3), expected, rtol=1e-6)


def test_plain_http_binary_and_gzip_request(classifier_server: RunningServer, reference: ort.InferenceSession) -> None:
    # GIVEN a binary-extension request body, gzip-compressed as tritonclient can send it
    x = np.arange(8, dtype=np.float32).reshape(2, 4) / 10
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "INPUT0",
                    "shape": [2, 4],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 32},
                }
            ],
            "outputs": [{"name": "LOGITS", "parameters": {"binary_data": True}}],
        }
    ).encode()
    body = gzip.compress(header + x.tobytes())
    # WHEN posting it
    response = httpx.post(
        f"{classifier_server.url}/v2/models/classifier/versions/1/infer",
        content=body,
        headers={"Inference-Header-Content-Length": str(len(header)), "Content-Encoding": "gzip"},
    )
    # THEN the response carries the JSON header length and the raw FP32 output bytes after it
    assert response.status_code == 200
    length = int(response.headers["Inference-Header-Content-Length"])
    meta = json.loads(response.content[:length])
    assert meta["outputs"][0]["parameters"]["binary_data_size"] == 2 * 3 * 4
    got = np.frombuffer(response.content[length:], dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(got, reference.run(["LOGITS"], {"INPUT0": x})[0])


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_every_v2_datatype_round_trips(echo_server: RunningServer, binary: bool) -> None:
    # GIVEN one [2, 2] tensor per V2 datatype (incl. BYTES) for an Identity model
    rng = np.random.default_rng(3)
    arrays: dict[str, np.ndarray] = {}
    for name in ECHO_TYPES:
        if name == "BOOL":
            arrays[name] = rng.integers(0, 2, (2, 2)).astype(bool)
        elif name == "BYTES":
            arrays[name] = np.array([["a", "héllo"], ["", "xyz"]], dtype=object)
        else:
            dtype = triton.triton_to_np_dtype(name)
            arrays[name] = (rng.standard_normal((2, 2)) * 50).astype(dtype)
    inputs = []
    for name, array in arrays.items():
        tensor = triton.InferInput(f"IN_{name}", [2, 2], name)
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    outputs = [triton.InferRequestedOutput(f"OUT_{n}", binary_data=binary) for n in arrays]
    # WHEN the echo model runs
    result = triton.InferenceServerClient(echo_server.host_port).infer(
        "echo", inputs, model_version="3", outputs=outputs
    )
    # THEN every output equals its input with the same datatype
    for name, array in arrays.items():
        got = result.as_numpy(f"OUT_{name}")
        if name == "BYTES":
            decoded = [v.decode() if isinstance(v, bytes) else v for v in got.reshape(-1)]
            assert decoded == list(array.reshape(-1))
        else:
            assert got.dtype == array.dtype
            np.testing.assert_array_equal(got, array)


def test_readiness_before_and_after_load_and_missing_model(s3, classifier_bytes, tmp_path) -> None:
    # GIVEN a server pointed at a model version that does not exist yet
    server = start_server(s3, tmp_path, "late-model", version="7")
    try:
        # WHEN it has tried to load it
        assert wait_until(lambda: "inference_model_load_failures_total" in server.metrics_text())
        # THEN it is live but not ready, and model calls answer 503 with a V2 error naming the S3 URI
        assert httpx.get(f"{server.url}/v2/health/live").status_code == 200
        ready = httpx.get(f"{server.url}/v2/health/ready")
        assert ready.status_code == 503 and ready.json() == {"ready": False}
        assert httpx.get(f"{server.url}/v2/models/late-model/ready").status_code == 503
        infer = httpx.post(f"{server.url}/v2/models/late-model/infer", json={"inputs": []})
        assert infer.status_code == 503
        assert "s3://acme-models/models/late-model/7/model.onnx" in infer.json()["error"]
        assert 'reason="not_found"' in server.metrics_text()
        # WHEN the model is uploaded afterwards
        s3.put_model("late-model", "7", classifier_bytes)
        # THEN the background retry loads it and the server becomes ready
        wait_ready(server, timeout=10)
        assert httpx.get(f"{server.url}/v2/models/late-model/versions/7/ready").status_code == 200
        assert "inference_model_load_seconds" in server.metrics_text()
    finally:
        server.stop()


def test_missing_model_logs_one_clear_line_with_the_s3_uri(s3, tmp_path, caplog) -> None:
    # GIVEN a server whose model never appears
    caplog.set_level("DEBUG", logger="inference_server")
    server = start_server(s3, tmp_path, "ghost", version="1")
    try:
        # WHEN several load attempts fail
        assert wait_until(lambda: server.metrics_text().count("not_found") and _failures(server) >= 3)
    finally:
        server.stop()
    # THEN exactly one ERROR line names the model's S3 URI; the repeats are DEBUG
    errors = [r for r in caplog.records if r.levelname == "ERROR" and r.name.startswith("inference_server")]
    assert len(errors) == 1
    assert "s3://acme-models/models/ghost/1/model.onnx" in errors[0].getMessage()


def _failures(server: RunningServer) -> float:
    for line in server.metrics_text().splitlines():
        if line.startswith('inference_model_load_failures_total{reason="not_found"}'):
            return float(line.split()[-1])
    return 0.0


def _binary_body(header: dict, payload: bytes) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(header).encode()
    return raw + payload, {"Inference-Header-Content-Length": str(len(raw))}


def _inp(**overrides):
    tensor = {"name": "INPUT0", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}
    tensor.update(overrides)
    return {"inputs": [tensor]}


BAD_JSON_REQUESTS = {
    "wrong_shape_rank": _inp(shape=[4]),
    "wrong_fixed_dim": _inp(shape=[1, 5], data=[1, 2, 3, 4, 5]),
    "negative_dim": _inp(shape=[-1, 4]),
    "shape_not_ints": _inp(shape=["1", 4]),
    "wrong_datatype": _inp(datatype="FP64"),
    "unknown_datatype": _inp(datatype="FLOAT"),
    "data_count_mismatch": _inp(data=[1, 2, 3]),
    "data_not_numbers": _inp(data=["a", "b", "c", "d"]),
    "data_null": _inp(data=[1, None, 3, 4]),
    "unknown_input": {"inputs": [{"name": "NOPE", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]},
    "duplicate_input": {"inputs": [_inp()["inputs"][0], _inp()["inputs"][0]]},
    "missing_inputs_field": {"id": "x"},
    "empty_inputs": {"inputs": []},
    "inputs_not_list": {"inputs": {"name": "INPUT0"}},
    "missing_name": {"inputs": [{"shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]},
    "missing_shape": {"inputs": [{"name": "INPUT0", "datatype": "FP32", "data": [1, 2, 3, 4]}]},
    "missing_data": {"inputs": [{"name": "INPUT0", "shape": [1, 4], "datatype": "FP32"}]},
    "unknown_output": {**_inp(), "outputs": [{"name": "NOPE"}]},
    "binary_flag_not_bool": {**_inp(), "outputs": [{"name": "PROBS", "parameters": {"binary_data": "yes"}}]},
    "id_not_string": {**_inp(), "id": 5},
    "body_is_list": [1, 2],
}


@pytest.mark.parametrize("body", BAD_JSON_REQUESTS.values(), ids=BAD_JSON_REQUESTS.keys())
def test_bad_json_requests_get_400_with_v2_error(classifier_server: RunningServer, body) -> None:
    # GIVEN an invalid inference request
    # WHEN it is posted
    response = httpx.post(f"{classifier_server.url}/v2/models/classifier/infer", json=body)
    # THEN the server answers 400 with {"error": "..."} and keeps serving
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"error"} and response.json()["error"]
    assert httpx.get(f"{classifier_server.url}/v2/health/ready").status_code == 200


def _binary_input(size: int) -> dict:
    return {
        "inputs": [{"name": "INPUT0", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": size}}]
    }


BAD_RAW_REQUESTS = {
    "not_json": (b"this is not json", {}),
    "empty_body": (b"", {}),
    "invalid_utf8": (b"\xff\xfe{", {}),
    "header_length_not_int": (b'{"inputs": []}', {"Inference-Header-Content-Length": "abc"}),
    "header_length_past_body": (b'{"inputs": []}', {"Inference-Header-Content-Length": "999"}),
    "binary_size_too_small": _binary_body(_binary_input(12), np.zeros(3, np.float32).tobytes()),
    "binary_size_past_body": _binary_body(_binary_input(16), np.zeros(2, np.float32).tobytes()),
    "unclaimed_binary_bytes": _binary_body(_binary_input(16), np.zeros(5, np.float32).tobytes()),
    "binary_without_header": (json.dumps(_binary_input(16)).encode() + b"\0" * 16, {}),
    "bad_gzip": (b"not gzip", {"Content-Encoding": "gzip"}),
    "truncated_gzip": (gzip.compress(b"{}" * 100)[:20], {"Content-Encoding": "gzip"}),
}


@pytest.mark.parametrize("case", BAD_RAW_REQUESTS.values(), ids=BAD_RAW_REQUESTS.keys())
def test_malformed_bodies_get_400_with_v2_error(classifier_server: RunningServer, case) -> None:
    # GIVEN a body that is not JSON or whose binary sections do not add up
    body, headers = case
    # WHEN it is posted
    response = httpx.post(f"{classifier_server.url}/v2/models/classifier/infer", content=body, headers=headers)
    # THEN 400 and a V2 error
    assert response.status_code == 400, response.text
    assert "error" in response.json()


def test_bytes_binary_data_with_bad_length_prefix_gets_400(echo_server: RunningServer) -> None:
    # GIVEN a BYTES tensor whose length prefix claims more bytes than sent
    raw = struct.pack("<I", 50) + b"abc"
    header = {
        "inputs": [
            {
                "name": "IN_BYTES",
                "shape": [1, 2],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": len(raw)},
            }
        ]
    }
    body, headers = _binary_body(header, raw)
    # WHEN posted
    response = httpx.post(f"{echo_server.url}/v2/models/echo/infer", content=body, headers=headers)
    # THEN 400 (never a 5xx)
    assert response.status_code == 400 and "error" in response.json()


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/v2/models/unknown/infer", 404),
        ("POST", "/v2/models/classifier/versions/9/infer", 404),
        ("GET", "/v2/models/unknown", 404),
        ("GET", "/v2/models/classifier/versions/9/ready", 404),
        ("GET", "/v2/no/such/route", 404),
        ("GET", "/v2/models/classifier/infer", 405),
    ],
)
def test_unknown_model_version_or_route_gets_v2_error(classifier_server: RunningServer, method, path, status) -> None:
    # GIVEN a request for something this server does not serve
    # WHEN sent
    response = httpx.request(method, f"{classifier_server.url}{path}", json=_inp())
    # THEN a 4xx with {"error": ...}
    assert response.status_code == status
    assert "error" in response.json()


def test_tritonclient_surfaces_server_error_message(classifier_server: RunningServer) -> None:
    # GIVEN a tritonclient request with the wrong non-batch dimension
    tensor = triton.InferInput("INPUT0", [1, 3], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 3), np.float32))
    # WHEN inferring THEN tritonclient raises with the server's message
    with pytest.raises(InferenceServerException, match="does not match the model's shape"):
        triton.InferenceServerClient(classifier_server.host_port).infer("classifier", [tensor])


def test_metrics_endpoint_exposes_requests_latency_batches_and_provider(
    classifier_server: RunningServer,
) -> None:
    # GIVEN one successful and one failed inference
    httpx.post(f"{classifier_server.url}/v2/models/classifier/infer", json=_inp())
    httpx.post(f"{classifier_server.url}/v2/models/classifier/infer", json=_inp(shape=[4]))
    # WHEN scraping /metrics
    text = classifier_server.metrics_text()
    # THEN counts by endpoint/status, latency and batch histograms, queue depth, load time and provider exist
    assert 'inference_requests_total{endpoint="/v2/models/{model}/infer",method="POST",status="200"}' in text
    assert 'inference_requests_total{endpoint="/v2/models/{model}/infer",method="POST",status="400"}' in text
    assert 'inference_request_duration_seconds_bucket{endpoint="/v2/models/{model}/infer"' in text
    assert "inference_batch_size_bucket" in text and "inference_queue_depth" in text
    assert "inference_model_load_seconds" in text and "inference_model_ready 1.0" in text
    assert 'inference_execution_provider_info{model="classifier",provider="CPUExecutionProvider"' in text


def test_oversized_and_decompression_bomb_bodies_get_413(s3, classifier_bytes, tmp_path) -> None:
    # GIVEN a server limited to 4 KiB request bodies
    s3.put_model("small", "1", classifier_bytes)
    server = start_server(s3, tmp_path, "small", MAX_REQUEST_BYTES="4096")
    try:
        wait_ready(server)
        url = f"{server.url}/v2/models/small/infer"
        # WHEN a 10 KB body or a tiny gzip that inflates to 1 MB is posted
        big = httpx.post(url, content=b" " * 10_000)
        bomb = httpx.post(url, content=gzip.compress(b" " * 1_000_000), headers={"Content-Encoding": "gzip"})
        small = httpx.post(url, json=_inp())
    finally:
        server.stop()
    # THEN both are refused with 413 and a V2 error, while a normal request still works
    assert big.status_code == 413 and "MAX_REQUEST_BYTES" in big.json()["error"]
    assert bomb.status_code == 413 and "decompressed" in bomb.json()["error"]
    assert small.status_code == 200
