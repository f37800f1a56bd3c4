"""Dynamic batching: concurrent requests are combined, kept apart when incompatible, and split back."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pytest
from inference_helpers import RunningServer
from inference_server.batcher import Batcher
from inference_server.metrics import Metrics
from inference_server.model import LoadedModel
from inference_server.protocol import InferRequest


def _histogram(text: str, name: str) -> tuple[float, float]:
    """(observations, observations with value <= 1) of a Prometheus histogram."""
    count = float(re.search(rf"^{name}_count (\S+)$", text, re.M).group(1))  # type: ignore[union-attr]
    ones = float(re.search(rf'^{name}_bucket{{le="1.0"}} (\S+)$', text, re.M).group(1))  # type: ignore[union-attr]
    return count, ones


def _concurrent_infer(server: RunningServer, rows: list[np.ndarray]) -> list[np.ndarray]:
    barrier = threading.Barrier(len(rows))

    def one(x: np.ndarray) -> np.ndarray:
        body = {
            "inputs": [{"name": "INPUT0", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}],
            "outputs": [{"name": "PROBS"}],
        }
        with httpx.Client() as client:
            barrier.wait()
            response = client.post(f"{server.url}/v2/models/classifier/infer", json=body)
        assert response.status_code == 200, response.text
        out = response.json()["outputs"][0]
        return np.array(out["data"], dtype=np.float32).reshape(out["shape"])

    with ThreadPoolExecutor(len(rows)) as pool:
        return list(pool.map(one, rows))


@pytest.mark.e2e
def test_concurrent_requests_are_batched_and_answers_match_per_request(
    classifier_server: RunningServer, classifier_bytes: bytes
) -> None:
    # GIVEN 24 distinct requests (1 or 2 rows each) fired at once at a server batching with a 20 ms window
    rng = np.random.default_rng(11)
    rows = [rng.standard_normal((1 + i % 2, 4)).astype(np.float32) for i in range(24)]
    before = _histogram(classifier_server.metrics_text(), "inference_batch_requests")
    # WHEN they are served
    answers = _concurrent_infer(classifier_server, rows)
    after = _histogram(classifier_server.metrics_text(), "inference_batch_requests")
    # THEN fewer session runs than requests happened, some combining several requests ...
    runs = after[0] - before[0]
    multi_request_runs = runs - (after[1] - before[1])
    assert runs < len(rows)
    assert multi_request_runs >= 1
    # ... and every request still got exactly its own rows' results
    reference = ort.InferenceSession(classifier_bytes, providers=["CPUExecutionProvider"])
    for x, got in zip(rows, answers, strict=True):
        np.testing.assert_allclose(got, reference.run(["PROBS"], {"INPUT0": x})[0], rtol=1e-5, atol=1e-7)


@pytest.mark.e2e
def test_without_queue_delay_every_request_runs_alone(unbatched_server: RunningServer) -> None:
    # GIVEN a server with MAX_QUEUE_DELAY_MS=0
    rows = [np.full((1, 4), i, dtype=np.float32) for i in range(8)]
    # WHEN 8 requests arrive at once
    _concurrent_infer(unbatched_server, rows)
    # THEN every session run served exactly one request
    count, ones = _histogram(unbatched_server.metrics_text(), "inference_batch_requests")
    assert count >= 8 and count == ones
    meta = httpx.get(f"{unbatched_server.url}/v2/models/classifier").json()
    assert meta["parameters"]["dynamic_batching"] is False


class RecordingModel:
    """Wraps a LoadedModel and records (rows, outputs) of each session run."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.runs: list[tuple[int, tuple[str, ...]]] = []
        self.lock = threading.Lock()

    def __getattr__(self, name: str):
        return getattr(self.model, name)

    def run(self, feeds, output_names):
        with self.lock:
            self.runs.append((int(feeds["INPUT0"].shape[0]), tuple(output_names)))
        return self.model.run(feeds, output_names)


@pytest.fixture
def loaded(tmp_path: Path, classifier_bytes: bytes) -> RecordingModel:
    path = tmp_path / "model.onnx"
    path.write_bytes(classifier_bytes)
    return RecordingModel(LoadedModel.load(path, "classifier", "1"))


def _request(rows: int, outputs: list[str], seed: int) -> InferRequest:
    x = np.random.default_rng(seed).standard_normal((rows, 4)).astype(np.float32)
    return InferRequest(id=None, inputs={"INPUT0": x}, outputs=outputs)


def test_requests_for_different_outputs_are_not_mixed(loaded: RecordingModel) -> None:
    # GIVEN a batcher with a 50 ms window and requests asking for different output sets
    async def scenario() -> list[list[np.ndarray]]:
        with ThreadPoolExecutor(2) as pool:
            batcher = Batcher(loaded, pool, Metrics(), max_batch_size=32, max_queue_delay_s=0.05, instances=1)  # type: ignore[arg-type]
            batcher.start()
            requests = [_request(1, ["PROBS"] if i % 2 else ["LOGITS", "PROBS"], i) for i in range(6)]
            # WHEN they are submitted together
            results = await asyncio.gather(*(batcher.submit(r) for r in requests))
            await batcher.stop()
            return [list(r) for r in results]

    results = asyncio.run(scenario())
    # THEN one run per output set, each combining the three compatible requests
    assert sorted(loaded.runs) == [(3, ("LOGITS", "PROBS")), (3, ("PROBS",))]
    assert [len(r) for r in results] == [2, 1, 2, 1, 2, 1]


def test_batches_never_exceed_max_batch_size(loaded: RecordingModel) -> None:
    # GIVEN MAX_BATCH_SIZE=4 and ten 1-row requests plus one 6-row request
    async def scenario() -> list[list[np.ndarray]]:
        with ThreadPoolExecutor(2) as pool:
            batcher = Batcher(loaded, pool, Metrics(), max_batch_size=4, max_queue_delay_s=0.05, instances=1)  # type: ignore[arg-type]
            batcher.start()
            requests = [_request(1, ["LOGITS"], i) for i in range(10)] + [_request(6, ["LOGITS"], 99)]
            results = await asyncio.gather(*(batcher.submit(r) for r in requests))
            await batcher.stop()
            return [list(r) for r in results]

    # WHEN they are served
    results = asyncio.run(scenario())
    # THEN runs hold at most 4 rows, except the oversized request which runs alone, and shapes split back
    sizes = sorted(rows for rows, _ in loaded.runs)
    assert sizes == [2, 4, 4, 6]
    assert [r[0].shape for r in results] == [(1, 3)] * 10 + [(6, 3)]


def test_drain_dispatches_queued_requests_without_waiting_for_the_window(loaded: RecordingModel) -> None:
    # GIVEN a batcher whose window is 10 s and a queued request
    async def scenario() -> float:
        with ThreadPoolExecutor(1) as pool:
            batcher = Batcher(loaded, pool, Metrics(), max_batch_size=32, max_queue_delay_s=10, instances=1)  # type: ignore[arg-type]
            batcher.start()
            started = time.perf_counter()
            pending = asyncio.ensure_future(batcher.submit(_request(1, ["PROBS"], 1)))
            await asyncio.sleep(0.05)
            # WHEN shutdown begins
            batcher.drain()
            await pending
            await batcher.stop()
            return time.perf_counter() - started

    # THEN the request is answered right away instead of after the 10 s window
    assert asyncio.run(scenario()) < 2
    assert loaded.runs == [(1, ("PROBS",))]
