"""Helpers shared by the inference server tests (models, moto S3, a server in a thread)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import numpy as np
import onnx
import uvicorn
from inference_server.app import create_app
from inference_server.config import Settings
from inference_server.repository import ModelRepository
from onnx import TensorProto, helper, numpy_helper

logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log

BUCKET = "acme-models"
PREFIX = "models"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def build_classifier(features: int = 4, classes: int = 3, seed: int = 7) -> bytes:
    """MatMul + Add + Softmax classifier with a dynamic batch dimension "N" (FP32 in, FP32 out)."""
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal((features, classes)).astype(np.float32)
    bias = rng.standard_normal(classes).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["INPUT0", "W"], ["XW"]),
            helper.make_node("Add", ["XW", "B"], ["LOGITS"]),
            helper.make_node("Softmax", ["LOGITS"], ["PROBS"], axis=-1),
        ],
        "classifier",
        [helper.make_tensor_value_info("INPUT0", TensorProto.FLOAT, ["N", features])],
        [
            helper.make_tensor_value_info("LOGITS", TensorProto.FLOAT, ["N", classes]),
            helper.make_tensor_value_info("PROBS", TensorProto.FLOAT, ["N", classes]),
        ],
        initializer=[numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model.SerializeToString()


ECHO_TYPES = {
    "BOOL": TensorProto.BOOL,
    "UINT8": TensorProto.UINT8,
    "UINT16": TensorProto.UINT16,
    "UINT32": TensorProto.UINT32,
    "UINT64": TensorProto.UINT64,
    "INT8": TensorProto.INT8,
    "INT16": TensorProto.INT16,
    "INT32": TensorProto.INT32,
    "INT64": TensorProto.INT64,
    "FP16": TensorProto.FLOAT16,
    "FP64": TensorProto.DOUBLE,
    "BYTES": TensorProto.STRING,
}


def build_echo() -> bytes:
    """One Identity per V2 datatype: input ``IN_<TYPE>`` [N, 2] -> output ``OUT_<TYPE>`` [N, 2]."""
    nodes = [helper.make_node("Identity", [f"IN_{t}"], [f"OUT_{t}"]) for t in ECHO_TYPES]
    graph = helper.make_graph(
        nodes,
        "echo",
        [helper.make_tensor_value_info(f"IN_{t}", e, ["N", 2]) for t, e in ECHO_TYPES.items()],
        [helper.make_tensor_value_info(f"OUT_{t}", e, ["N", 2]) for t, e in ECHO_TYPES.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model.SerializeToString()


@dataclass
class S3:
    endpoint: str
    client: object

    def put_model(self, model: str, version: str, body: bytes) -> str:
        key = f"{PREFIX}/{model}/{version}/model.onnx"
        self.client.put_object(Bucket=BUCKET, Key=key, Body=body)  # type: ignore[attr-defined]
        return key


@dataclass
class RunningServer:
    url: str
    app: object
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def host_port(self) -> str:
        return self.url.removeprefix("http://")

    def metrics_text(self) -> str:
        return httpx.get(f"{self.url}/metrics").text

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def start_server(s3: S3, cache_dir: Path, model: str, version: str = "1", **env: str) -> RunningServer:
    """Start the inference server (uvicorn, background thread) against the moto S3 and wait until live."""
    settings = Settings.from_env(
        {
            "MODEL_REPOSITORY": f"s3://{BUCKET}/{PREFIX}",
            "MODEL_NAME": model,
            "MODEL_VERSION": version,
            "MODEL_CACHE_DIR": str(cache_dir),
            "MODEL_LOAD_RETRY_MAX_S": "0.3",
            **env,
        }
    )
    client = boto3.client("s3", endpoint_url=s3.endpoint, region_name="us-east-1")
    repository = ModelRepository(settings.model_repository, settings.model_cache_dir, client=client)
    app = create_app(settings, repository=repository)
    sock = free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    assert wait_until(lambda: server.started), "uvicorn did not start"
    return RunningServer(url, app, server, thread)


def wait_ready(server: RunningServer, timeout: float = 10.0) -> None:
    assert wait_until(lambda: httpx.get(f"{server.url}/v2/health/ready").status_code == 200, timeout=timeout), (
        "model did not become ready"
    )
