"""Benchmark the inference server: throughput and p50/p99 latency at 1, 8 and 32 concurrent clients.

Starts a moto S3 on 127.0.0.1, uploads an MLP (64 -> 256 -> 256 -> 10, dynamic batch dim), and runs
``python -m inference_server`` as a subprocess twice: with dynamic batching (MAX_QUEUE_DELAY_MS=2,
MAX_BATCH_SIZE=32) and without (MAX_QUEUE_DELAY_MS=0). Clients are threads in this process, each with
a keep-alive http.client connection, sending 1-row binary-tensor V2 requests (what tritonclient
sends). The floor is a bare onnxruntime ``session.run`` loop on the same model. Loopback only;
bounded request counts; stops by itself (well under 2 minutes).

    .venv/bin/python bench/bench_inference.py [--requests-per-client 400]
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import boto3
import httpx
import numpy as np
import onnx
import onnxruntime as ort
from moto.server import ThreadedMotoServer
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
CONCURRENCY = (1, 8, 32)
FEATURES = 64


def build_mlp() -> bytes:
    rng = np.random.default_rng(0)
    sizes = [FEATURES, 256, 256, 10]
    nodes, inits = [], []
    prev = "INPUT0"
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        inits += [
            numpy_helper.from_array((rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32), f"W{i}"),
            numpy_helper.from_array(np.zeros(b, np.float32), f"B{i}"),
        ]
        nodes += [helper.make_node("Gemm", [prev, f"W{i}", f"B{i}"], [f"H{i}"])]
        prev = f"H{i}"
        if i < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [prev], [f"R{i}"]))
            prev = f"R{i}"
    nodes.append(helper.make_node("Softmax", [prev], ["PROBS"], axis=-1))
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("INPUT0", TensorProto.FLOAT, ["N", FEATURES])],
        [helper.make_tensor_value_info("PROBS", TensorProto.FLOAT, ["N", 10])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return model.SerializeToString()


def summarize(label: str, clients: int, latencies: list[float], wall: float) -> dict[str, object]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "mode": label,
        "clients": clients,
        "requests": len(latencies),
        "throughput_rps": len(latencies) / wall,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": p99 * 1000,
    }


def bare_ort(model: bytes, iterations: int) -> list[dict[str, object]]:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    rows = []
    for batch in (1, 32):
        x = np.random.default_rng(1).standard_normal((batch, FEATURES)).astype(np.float32)
        for _ in range(50):
            session.run(["PROBS"], {"INPUT0": x})
        latencies = []
        started = time.perf_counter()
        for _ in range(iterations):
            t0 = time.perf_counter()
            session.run(["PROBS"], {"INPUT0": x})
            latencies.append(time.perf_counter() - t0)
        wall = time.perf_counter() - started
        row = summarize(f"bare ORT, batch {batch}", 1, latencies, wall)
        row["throughput_rps"] = float(row["throughput_rps"]) * batch  # rows per second
        rows.append(row)
    return rows


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(endpoint: str, cache: str, delay_ms: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "MODEL_REPOSITORY": "s3://bench-models/models",
        "MODEL_NAME": "mlp",
        "MODEL_VERSION": "1",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "MODEL_CACHE_DIR": cache,
        "MAX_BATCH_SIZE": "32",
        "MAX_QUEUE_DELAY_MS": delay_ms,
        "LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "inference_server"], cwd=ROOT / "container_src", env=env, stdout=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not become ready")


def load(url: str, clients: int, per_client: int) -> tuple[list[float], float, float]:
    """Closed-loop clients: one thread and one keep-alive ``http.client`` connection per client.

    (The stdlib client is used because httpx's async pool became the bottleneck at 32 clients.)
    """
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "INPUT0",
                    "shape": [1, FEATURES],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": FEATURES * 4},
                }
            ],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    x = np.random.default_rng(2).standard_normal((1, FEATURES)).astype(np.float32)
    body = header + x.tobytes()
    headers = {"Inference-Header-Content-Length": str(len(header))}
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def worker() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        mine: list[float] = []
        for i in range(10 + per_client):  # the first 10 are warm-up
            if i == 10:
                barrier.wait()
            t0 = time.perf_counter()
            conn.request("POST", "/v2/models/mlp/infer", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")
            if i >= 10:
                mine.append(time.perf_counter() - t0)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    metrics = httpx.get(f"{url}/metrics").text
    count = total = 0.0
    for line in metrics.splitlines():
        if line.startswith("inference_batch_requests_count"):
            count = float(line.split()[-1])
        elif line.startswith("inference_batch_requests_sum"):
            total = float(line.split()[-1])
    return latencies, wall, (total / count if count else 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests-per-client", type=int, default=400, help="per concurrency level (400)")
    parser.add_argument("--max-requests", type=int, default=6400, help="cap per level (6400)")
    args = parser.parse_args()
    started = time.monotonic()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    model = build_mlp()
    onnx.checker.check_model(onnx.load_from_string(model))
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket="bench-models")
    s3.put_object(Bucket="bench-models", Key="models/mlp/1/model.onnx", Body=model)

    rows = bare_ort(model, 2000)
    try:
        with tempfile.TemporaryDirectory() as cache:
            for label, delay in (("server, batching (2 ms)", "2"), ("server, no batching", "0")):
                proc, url = start_server(endpoint, cache, delay)
                try:
                    for clients in CONCURRENCY:
                        per_client = max(1, min(args.requests_per_client, args.max_requests // clients))
                        latencies, wall, mean_batch = load(url, clients, per_client)
                        row = summarize(label, clients, latencies, wall)
                        row["mean_requests_per_run"] = mean_batch
                        rows.append(row)
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
    finally:
        moto.stop()

    print(f"\nMLP {FEATURES}->256->256->10, 1-row binary V2 requests, CPU ({os.cpu_count()} cores), loopback")
    print(f"{'mode':<26}{'clients':>8}{'requests':>10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'req/run':>9}")
    for r in rows:
        per_run = r.get("mean_requests_per_run")
        print(
            f"{r['mode']:<26}{r['clients']:>8}{r['requests']:>10}{float(r['throughput_rps']):>10.0f}"  # type: ignore[arg-type]
            f"{float(r['p50_ms']):>9.3f}{float(r['p99_ms']):>9.3f}"  # type: ignore[arg-type]
            f"{'' if per_run is None else f'{float(per_run):.1f}':>9}"  # type: ignore[arg-type]
        )
    print("(bare ORT rows: throughput in rows/s; req/run = cumulative mean requests per session run)")
    print(f"total bench time {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()
