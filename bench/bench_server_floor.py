"""The inference server against the floor (issue 17, goal 3), side by side in one run.

The floor (``bench/floor_server.py``) is a bare uvicorn + starlette + onnxruntime endpoint: the same model,
the same V2 JSON request and response, no batching, the session run inline. The server runs as a
subprocess with its DEFAULT configuration (only the required variables set; the model comes from a moto
S3 on 127.0.0.1). The load generator is ``wrk`` (one thread, keep-alive, closed loop) when installed,
else ``bench/loadgen.py``; either way a process of its own, sharing no GIL with either server.

The floor runs twice: with ONNX Runtime's defaults (idle intra-op threads spin: a lone request is faster,
load on a small machine slower) and with spinning off, as in the server; each ratio is against the better
of the two for that load. For each model (the bench MLP 64->256->256->10 and a tiny 4->3 classifier), at
1 and 32 clients, the floors and the server are measured alternately for ``--rounds`` rounds; the goals:

* 1-client p50 latency of the server <= 1.5x the floor's (a lone request must not wait for anything);
* 32-client throughput of the server >= 1.5x the floor's (batching must pay for itself under load).

The verdict uses the median ratio over the rounds; the range is printed too. About 90 s in all.

    .venv/bin/python bench/bench_server_floor.py [--seconds 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import numpy as np
from bench_inference import FEATURES, build_mlp
from moto.server import ThreadedMotoServer
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
LATENCY_GOAL = 1.5  # server 1-client p50 <= 1.5x the floor's
THROUGHPUT_GOAL = 1.5  # server 32-client req/s >= 1.5x the floor's
WRK = shutil.which("wrk")
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[{body}]==]
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{{"requests": %d, "seconds": %f, "p50_us": %f, "p99_us": %f, "errors": %d}}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    e.status + e.connect + e.read + e.write + e.timeout))
end
"""


def build_tiny() -> bytes:
    """MatMul + Add + Softmax, 4 features -> 3 classes, dynamic batch dimension."""
    rng = np.random.default_rng(7)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["INPUT0", "W"], ["XW"]),
            helper.make_node("Add", ["XW", "B"], ["LOGITS"]),
            helper.make_node("Softmax", ["LOGITS"], ["PROBS"], axis=-1),
        ],
        "tiny",
        [helper.make_tensor_value_info("INPUT0", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("PROBS", TensorProto.FLOAT, ["N", 3])],
        initializer=[
            numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), "W"),
            numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "B"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return model.SerializeToString()


_TAKEN: set[int] = set()


def free_port() -> int:
    """A free loopback port not handed out before in this run (the servers bind theirs a moment later)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _TAKEN:
            _TAKEN.add(port)
            return port


def wait_ready(proc: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: server exited with status {proc.returncode}")
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url}: not ready after 60 s")


def start_floor(model_file: Path, name: str, spin: bool) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    command = [sys.executable, str(ROOT / "bench" / "floor_server.py"), str(model_file), str(port), name]
    proc = subprocess.Popen(command if spin else [*command, "--no-spin"], stdout=subprocess.DEVNULL)
    return proc, port


def start_server(endpoint: str, cache: str, name: str) -> tuple[subprocess.Popen[bytes], int]:
    """The server with its default configuration: only the required settings (and where to listen)."""
    port = free_port()
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "MODEL_REPOSITORY": "s3://bench-models/models",
        "MODEL_NAME": name,
        "MODEL_VERSION": "1",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "MODEL_CACHE_DIR": cache,
    }
    for tuning in ("MAX_BATCH_SIZE", "MAX_QUEUE_DELAY_MS", "SESSION_WORKERS", "LOG_LEVEL"):
        env.pop(tuning, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "inference_server"], cwd=ROOT / "container_src", env=env, stdout=subprocess.DEVNULL
    )
    return proc, port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux ``/proc``; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    port: int, path: str, body: bytes, clients: int, seconds: float, work: Path, pid: int = 0
) -> dict[str, float]:
    """One closed-loop run: ``clients`` keep-alive connections for ``seconds``; JSON summary, with the CPU
    time the server process ``pid`` spent per request (``cpu_us``): unlike req/s, it does not depend on
    the share of the cores the server got on a machine shared with other jobs."""
    cpu_before = cpu_seconds(pid)
    if WRK:
        script = work / "post.lua"
        script.write_text(WRK_SCRIPT.format(body=body.decode()))
        command = [WRK, "-t1", f"-c{clients}", f"-d{seconds:g}s", "-s", str(script), f"http://127.0.0.1:{port}{path}"]
    else:
        body_file = work / "body.json"
        body_file.write_bytes(body)
        command = [
            sys.executable,
            str(ROOT / "bench" / "loadgen.py"),
            "127.0.0.1",
            str(port),
            path,
            str(body_file),
            str(clients),
            str(seconds),
        ]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    summary: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    if summary["errors"]:
        raise RuntimeError(f"{summary['errors']} failed requests against port {port}")
    summary["rps"] = summary["requests"] / summary["seconds"]
    summary["cpu_us"] = (cpu_seconds(pid) - cpu_before) * 1e6 / max(summary["requests"], 1)
    return summary


@dataclass
class Row:
    model: str
    clients: int
    floor: list[dict[str, float]]  # ONNX Runtime defaults (idle threads spin)
    floor_nospin: list[dict[str, float]]  # spinning off, as in the server
    server: list[dict[str, float]]

    def best_floor(self) -> list[dict[str, float]]:
        """Per round, the better floor for this load: lower p50 at 1 client, more req/s under load."""
        if self.clients == 1:
            return [min(a, b, key=lambda r: r["p50_us"]) for a, b in zip(self.floor, self.floor_nospin, strict=True)]
        return [max(a, b, key=lambda r: r["rps"]) for a, b in zip(self.floor, self.floor_nospin, strict=True)]


def bench_model(
    name: str, model: bytes, features: int, endpoint: str, args: argparse.Namespace, work: Path
) -> list[Row]:
    model_file = work / f"{name}.onnx"
    model_file.write_bytes(model)
    x = np.random.default_rng(2).standard_normal((1, features)).astype(np.float32)
    body = json.dumps(
        {"inputs": [{"name": "INPUT0", "shape": [1, features], "datatype": "FP32", "data": x.ravel().tolist()}]}
    ).encode()
    path = f"/v2/models/{name}/infer"
    floor, floor_port = start_floor(model_file, name, spin=True)
    nospin, nospin_port = start_floor(model_file, name, spin=False)
    server, server_port = start_server(endpoint, str(work / f"cache-{name}"), name)
    ports = {"floor": floor_port, "floor_nospin": nospin_port, "server": server_port}
    pids = {"floor": floor.pid, "floor_nospin": nospin.pid, "server": server.pid}
    rows = []
    try:
        for proc, port in zip((floor, nospin, server), ports.values(), strict=True):
            wait_ready(proc, f"http://127.0.0.1:{port}")
            measure(port, path, body, 32, 1, work)  # warm-up (first requests, allocator, code paths)
        for clients in (1, 32):
            row = Row(name, clients, [], [], [])
            for round_ in range(args.rounds):
                order = list(ports.items())
                for label, port in order if round_ % 2 == 0 else order[::-1]:
                    getattr(row, label).append(measure(port, path, body, clients, args.seconds, work, pids[label]))
            rows.append(row)
    finally:
        for proc in (floor, nospin, server):
            proc.terminate()
            proc.wait(timeout=30)
    return rows


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def report(rows: list[Row]) -> None:
    print(f"\nserver (default configuration) vs floor; CPU ({os.cpu_count()} cores), loopback, 1-row V2 JSON requests")
    print(f"load generator: {'wrk -t1 (keep-alive, closed loop)' if WRK else 'bench/loadgen.py (asyncio)'}")
    print(f"load average (1 min) at the start: {os.getloadavg()[0]:.1f}")
    header = f"{'model':<6}{'clients':>8}   {'':<14}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'CPU us/req':>12}"
    print(f"{header}   (median of rounds)")
    for row in rows:
        for label in ("floor", "floor_nospin", "server"):
            runs = getattr(row, label)
            rps = statistics.median(r["rps"] for r in runs)
            p50 = statistics.median(r["p50_us"] for r in runs) / 1000
            p99 = statistics.median(r["p99_us"] for r in runs) / 1000
            cpu = statistics.median(r["cpu_us"] for r in runs)
            print(f"{row.model:<6}{row.clients:>8}   {label:<14}{rps:>9.0f}{p50:>9.3f}{p99:>9.3f}{cpu:>12.1f}")
    print("(floor: ONNX Runtime defaults; floor_nospin: idle-thread spinning off as in the server; each ratio")
    print(" is against the better of the two in the same round)")
    for row in rows:
        floors = row.best_floor()
        if row.clients == 1:
            ratios = [s["p50_us"] / f["p50_us"] for f, s in zip(floors, row.server, strict=True)]
            what, goal, ok = "1-client p50", f"<= {LATENCY_GOAL}x", statistics.median(ratios) <= LATENCY_GOAL
        else:
            ratios = [s["rps"] / f["rps"] for f, s in zip(floors, row.server, strict=True)]
            what, goal, ok = "32-client req/s", f">= {THROUGHPUT_GOAL}x", statistics.median(ratios) >= THROUGHPUT_GOAL
        print(
            f"ratio {row.model} {what}: {statistics.median(ratios):.2f}x the floor's "
            f"(rounds {min(ratios):.2f}-{max(ratios):.2f}; goal {goal}: {verdict(ok)})"
        )
        if row.clients > 1:  # the same comparison in CPU per request, which the machine's load does not skew
            cpu = [f["cpu_us"] / s["cpu_us"] for f, s in zip(floors, row.server, strict=True) if s["cpu_us"]]
            if cpu:
                print(
                    f"      {row.model} floor CPU per request / server's: {statistics.median(cpu):.2f}x "
                    f"(rounds {min(cpu):.2f}-{max(cpu):.2f})"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2, help="seconds per measurement (2)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per load level (3)")
    parser.add_argument("--models", default="mlp,tiny", help="comma-separated subset of mlp,tiny")
    args = parser.parse_args()
    started = time.monotonic()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    models = {"mlp": (build_mlp(), FEATURES), "tiny": (build_tiny(), 4)}
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket="bench-models")
    rows: list[Row] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name in args.models.split(","):
                model, features = models[name]
                s3.put_object(Bucket="bench-models", Key=f"models/{name}/1/model.onnx", Body=model)
                rows += bench_model(name, model, features, endpoint, args, Path(tmp))
    finally:
        moto.stop()
    report(rows)
    print(f"total bench time {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()
