"""``python -m inference_server`` as a real process: env configuration, AWS_ENDPOINT_URL, SIGTERM drain."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from inference_helpers import AWS_ENV, BUCKET, PREFIX, free_socket, wait_until

pytestmark = pytest.mark.e2e

CONTAINER_SRC = Path(__file__).resolve().parents[2] / "container_src"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MODEL_", "MAX_"))}
    env.update(AWS_ENV)
    env.update(extra)
    return env


def test_invalid_configuration_exits_with_status_2_and_names_the_variable() -> None:
    # GIVEN no MODEL_* variables WHEN the server starts THEN it exits 2 with a clear message
    proc = subprocess.run(
        [sys.executable, "-m", "inference_server"],
        cwd=CONTAINER_SRC,
        env=_env(PORT="not-a-port"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "MODEL_REPOSITORY is required" in proc.stderr and "PORT must be an integer" in proc.stderr


def test_sigterm_drains_queued_requests_before_exiting(s3, classifier_bytes: bytes, tmp_path: Path) -> None:
    # GIVEN the server process reaching moto via AWS_ENDPOINT_URL, with a 3 s batching window
    s3.put_model("drain", "1", classifier_bytes)
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "inference_server"],
        cwd=CONTAINER_SRC,
        env=_env(
            AWS_ENDPOINT_URL=s3.endpoint,
            MODEL_REPOSITORY=f"s3://{BUCKET}/{PREFIX}",
            MODEL_NAME="drain",
            MODEL_VERSION="1",
            PORT=str(port),
            HOST="127.0.0.1",
            MODEL_CACHE_DIR=str(tmp_path),
            MAX_QUEUE_DELAY_MS="3000",
            GRACEFUL_SHUTDOWN_TIMEOUT_S="10",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            try:
                return httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        assert wait_until(ready, timeout=20), "server process did not become ready"
        assert (tmp_path / "drain" / "1" / "model.onnx").is_file()
        # WHEN a request is waiting in the batching window and SIGTERM arrives
        result: dict[str, object] = {}

        def call() -> None:
            body = {"inputs": [{"name": "INPUT0", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
            response = httpx.post(f"{url}/v2/models/drain/infer", json=body, timeout=10)
            result["status"] = response.status_code
            result["body"] = response.json()

        started = time.monotonic()
        caller = threading.Thread(target=call)
        caller.start()
        time.sleep(0.4)
        proc.send_signal(signal.SIGTERM)
        caller.join(timeout=10)
        elapsed = time.monotonic() - started
        output, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # THEN the queued request is answered at once (not after the 3 s window) and the process exits
    assert result["status"] == 200, result
    probs = next(o for o in result["body"]["outputs"] if o["name"] == "PROBS")  # type: ignore[index]
    assert np.isclose(sum(probs["data"]), 1.0, atol=1e-5)
    assert elapsed < 2.5
    assert proc.returncode in (0, -signal.SIGTERM)
    assert "ready in" in output and "CPUExecutionProvider" in output
    assert "inference server stopped" in output
