"""The batching policy: no waiting when the model is idle, batches from what queues while it is busy.

The model is gated (its run blocks on a threading.Event the test opens), so "busy" is a state the test
controls, not a timing: the windows are an hour long and nothing here waits for one.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from inference_server.batcher import Batcher
from inference_server.metrics import Metrics
from inference_server.model import LoadedModel
from inference_server.protocol import InferRequest

HOUR = 3600.0
POISON = -999.0  # a row holding this value makes the gated model raise


class GatedModel:
    """A LoadedModel whose runs are recorded, can be held at a gate, and fail on a poisoned row."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.runs: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def __getattr__(self, name: str):
        return getattr(self.model, name)

    def run(self, feeds, output_names):
        x = feeds["INPUT0"]
        self.runs.append(int(x.shape[0]))
        self.entered.set()
        assert self.gate.wait(60), "test gate never opened"
        if bool((x == POISON).any()):
            raise ValueError("poisoned row")
        return self.model.run(feeds, output_names)


@pytest.fixture
def gated(tmp_path: Path, classifier_bytes: bytes) -> GatedModel:
    path = tmp_path / "model.onnx"
    path.write_bytes(classifier_bytes)
    return GatedModel(LoadedModel.load(path, "classifier", "1"))


def _request(seed: int, rows: int = 1) -> InferRequest:
    x = np.random.default_rng(seed).standard_normal((rows, 4)).astype(np.float32)
    return InferRequest(id=None, inputs={"INPUT0": x}, outputs=["PROBS"])


def _expected(classifier_bytes: bytes, request: InferRequest) -> np.ndarray:
    session = ort.InferenceSession(classifier_bytes, providers=["CPUExecutionProvider"])
    return session.run(["PROBS"], {"INPUT0": request.inputs["INPUT0"]})[0]


async def _turns(n: int) -> None:
    """Let the event loop run ``n`` turns (no time passes)."""
    for _ in range(n):
        await asyncio.sleep(0)


def test_a_lone_request_on_an_idle_model_is_dispatched_at_once_despite_an_hour_long_window(
    gated: GatedModel,
) -> None:
    # GIVEN a batcher whose window is an hour, on an idle model whose run time is not known yet
    async def scenario() -> list[int]:
        with ThreadPoolExecutor(2) as pool:
            batcher = Batcher(gated, pool, Metrics(), max_batch_size=32, max_queue_delay_s=HOUR)  # type: ignore[arg-type]
            batcher.start()
            gated.gate.clear()
            # WHEN one request arrives
            pending = asyncio.ensure_future(batcher.submit(_request(1)))
            # THEN its run starts (in the thread pool) without waiting for the window
            await asyncio.get_running_loop().run_in_executor(None, gated.entered.wait, 60)
            runs = list(gated.runs)
            gated.gate.set()
            await asyncio.wait_for(pending, 60)
            await batcher.stop()
            return runs

    assert asyncio.run(scenario()) == [1]


def test_a_lone_request_on_a_fast_idle_model_runs_inline(gated: GatedModel) -> None:
    # GIVEN an idle model whose runs take 0.1 ms (well under INLINE_RUN_S) and an hour-long window
    async def scenario() -> bool:
        with ThreadPoolExecutor(2) as pool:
            batcher = Batcher(gated, pool, Metrics(), max_batch_size=32, max_queue_delay_s=HOUR)  # type: ignore[arg-type]
            batcher.run_seconds = 0.0001
            # WHEN a request arrives
            pending = asyncio.ensure_future(batcher.submit(_request(2)))
            await _turns(4)
            # THEN it is answered within four event-loop turns (submit, two to let concurrent requests queue,
            # the run): no window, no thread hand-off
            done = pending.done()
            await batcher.stop()
            return done

    assert asyncio.run(scenario())
    assert gated.runs == [1]


def test_requests_queued_while_a_run_is_in_flight_go_as_one_batch_with_their_own_answers(
    gated: GatedModel, classifier_bytes: bytes
) -> None:
    # GIVEN a run in flight (held at the gate) and an hour-long window
    async def scenario() -> list[list[np.ndarray]]:
        with ThreadPoolExecutor(2) as pool:
            batcher = Batcher(gated, pool, Metrics(), max_batch_size=32, max_queue_delay_s=HOUR, instances=2)  # type: ignore[arg-type]
            gated.gate.clear()
            first = asyncio.ensure_future(batcher.submit(_request(0)))
            await asyncio.get_running_loop().run_in_executor(None, gated.entered.wait, 60)
            # WHEN five requests (1 to 3 rows) arrive meanwhile; a slot is free, but the model is busy
            rest = [asyncio.ensure_future(batcher.submit(_request(seed, rows=1 + seed % 3))) for seed in range(1, 6)]
            await _turns(5)
            assert gated.runs == [1]  # held: neither run alone nor waiting out the window
            # AND the running batch finishes
            gated.gate.set()
            answers = await asyncio.wait_for(asyncio.gather(first, *rest), 60)
            await batcher.stop()
            return [list(a) for a in answers]

    answers = asyncio.run(scenario())
    # THEN the five went as one run of their 2+3+1+2+3 = 11 rows, right after the first
    assert gated.runs == [1, 11]
    # AND each request got exactly its own rows, in order
    for seed, got in enumerate(answers):
        want = _expected(classifier_bytes, _request(seed, rows=1 if seed == 0 else 1 + seed % 3))
        np.testing.assert_allclose(got[0], want, rtol=1e-6, atol=1e-7)


def test_a_failing_request_in_a_batch_fails_alone(gated: GatedModel, classifier_bytes: bytes) -> None:
    # GIVEN a run in flight and three requests queued behind it, the middle one poisoned
    async def scenario() -> list[object]:
        with ThreadPoolExecutor(2) as pool:
            batcher = Batcher(gated, pool, Metrics(), max_batch_size=32, max_queue_delay_s=HOUR, instances=1)  # type: ignore[arg-type]
            gated.gate.clear()
            first = asyncio.ensure_future(batcher.submit(_request(0)))
            await asyncio.get_running_loop().run_in_executor(None, gated.entered.wait, 60)
            poisoned = _request(2)
            poisoned.inputs["INPUT0"][0, 1] = POISON
            queued = [asyncio.ensure_future(batcher.submit(r)) for r in (_request(1), poisoned, _request(3))]
            await _turns(3)
            gated.gate.set()
            # WHEN they are served
            results = await asyncio.wait_for(asyncio.gather(first, *queued, return_exceptions=True), 60)
            await batcher.stop()
            return list(results)

    results = asyncio.run(scenario())
    # THEN the batch of three failed, each was retried alone, and only the poisoned one failed
    assert gated.runs == [1, 3, 1, 1, 1]
    assert isinstance(results[2], ValueError)
    for seed in (0, 1, 3):
        got = results[seed if seed < 2 else 3]
        assert isinstance(got, list)
        np.testing.assert_allclose(got[0], _expected(classifier_bytes, _request(seed)), rtol=1e-6, atol=1e-7)


def test_when_the_model_is_busy_a_full_batch_takes_a_free_slot_without_waiting(gated: GatedModel) -> None:
    # GIVEN two slots, one run in flight, MAX_BATCH_SIZE 4 and an hour-long window
    async def scenario() -> list[int]:
        with ThreadPoolExecutor(2) as pool:
            batcher = Batcher(gated, pool, Metrics(), max_batch_size=4, max_queue_delay_s=HOUR, instances=2)  # type: ignore[arg-type]
            gated.gate.clear()
            first = asyncio.ensure_future(batcher.submit(_request(0)))
            await asyncio.get_running_loop().run_in_executor(None, gated.entered.wait, 60)
            gated.entered.clear()
            # WHEN four 1-row requests queue (a full batch)
            rest = [asyncio.ensure_future(batcher.submit(_request(seed))) for seed in range(1, 5)]
            # THEN they start on the free slot while the first run is still held
            await asyncio.get_running_loop().run_in_executor(None, gated.entered.wait, 60)
            runs = list(gated.runs)
            gated.gate.set()
            await asyncio.wait_for(asyncio.gather(first, *rest), 60)
            await batcher.stop()
            return runs

    assert asyncio.run(scenario()) == [1, 4]
