"""Dynamic batching: combine concurrent requests into one ONNX Runtime run.

Requests wait in an in-memory queue. An execution slot (``instances`` runs may be in flight; default 2,
``SESSION_WORKERS``) picks the oldest request and, for at most ``max_queue_delay`` seconds, gathers
further *compatible* requests - same non-batch input shapes and the same requested outputs - until
``max_batch_size`` rows (dim 0) are reached. The batch's inputs are concatenated along dim 0, the
session runs in a thread pool (the event loop stays responsive), and each request receives its own
slice of every output. While all slots are busy the queue keeps growing, so batches also form under
load. Requests larger than ``max_batch_size`` run on their own.

On shutdown, :meth:`Batcher.drain` stops waiting for batches to fill and :meth:`Batcher.stop` runs
everything still queued before returning.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np

from inference_server.metrics import Metrics
from inference_server.model import LoadedModel
from inference_server.protocol import InferRequest

LOG = logging.getLogger(__name__)


@dataclass
class _Item:
    request: InferRequest
    future: asyncio.Future[list[np.ndarray]]
    rows: int
    key: tuple[object, ...]


class Batcher:
    """Runs inference requests for one model, batching them when ``max_queue_delay_s > 0``.

    Args:
        model: the loaded model; batching needs a dynamic first dimension on every input and output.
        executor: thread pool running ``model.run``.
        metrics: where batch sizes, compute time and queue depth are recorded.
        max_batch_size: most rows per run (default 32).
        max_queue_delay_s: longest wait for a batch to fill (default 0.005; 0 disables batching).
        instances: concurrent session runs (default 2).
    """

    def __init__(
        self,
        model: LoadedModel,
        executor: Executor,
        metrics: Metrics,
        max_batch_size: int = 32,
        max_queue_delay_s: float = 0.005,
        instances: int = 2,
    ) -> None:
        self.model = model
        self.executor = executor
        self.metrics = metrics
        self.max_batch_size = max_batch_size
        self.max_queue_delay_s = max_queue_delay_s
        self.enabled = model.batchable and max_queue_delay_s > 0 and max_batch_size > 1
        self._slots = asyncio.Semaphore(instances)
        self._pending: collections.deque[_Item] = collections.deque()
        self._arrived = asyncio.Event()
        self._draining = False
        self._stopping = False
        self._collector: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Start the collector task (no-op when batching is disabled)."""
        if self.enabled and self._collector is None:
            self._collector = asyncio.get_running_loop().create_task(self._collect(), name="batcher")

    def drain(self) -> None:
        """Dispatch queued requests immediately from now on (called when SIGTERM arrives)."""
        self._draining = True
        self._arrived.set()

    async def stop(self) -> None:
        """Run every queued request, wait for running batches, then stop the collector."""
        self._draining = True
        self._stopping = True
        self._arrived.set()
        if self._collector is not None:
            await self._collector
            self._collector = None
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def submit(self, request: InferRequest) -> list[np.ndarray]:
        """Run ``request``; returns its outputs in ``request.outputs`` order."""
        if not self.enabled or self._stopping:
            return await self._run_direct(request)
        future: asyncio.Future[list[np.ndarray]] = asyncio.get_running_loop().create_future()
        self._pending.append(_Item(request, future, request.rows, request.group_key()))
        self.metrics.queue_depth.set(len(self._pending))
        self._arrived.set()
        return await future

    async def _run_direct(self, request: InferRequest) -> list[np.ndarray]:
        loop = asyncio.get_running_loop()
        async with self._slots:
            return await loop.run_in_executor(
                self.executor, self._timed_run, request.inputs, request.outputs, request.rows, 1
            )

    def _timed_run(
        self, feeds: dict[str, np.ndarray], outputs: list[str], rows: int, requests: int
    ) -> list[np.ndarray]:
        started = time.perf_counter()
        results = self.model.run(feeds, outputs)
        self.metrics.compute.observe(time.perf_counter() - started)
        self.metrics.batch_size.observe(rows)
        self.metrics.batch_requests.observe(requests)
        return results

    def _select(self, key: tuple[object, ...]) -> tuple[list[_Item], int]:
        batch: list[_Item] = []
        rows = 0
        for item in self._pending:
            if item.key != key:
                continue
            if batch and rows + item.rows > self.max_batch_size:
                break
            batch.append(item)
            rows += item.rows
        return batch, rows

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._slots.acquire()
            while not self._pending:
                if self._stopping:
                    self._slots.release()
                    return
                self._arrived.clear()
                await self._arrived.wait()
            key = self._pending[0].key
            deadline = loop.time() + self.max_queue_delay_s
            while True:
                batch, rows = self._select(key)
                remaining = deadline - loop.time()
                if rows >= self.max_batch_size or self._draining or remaining <= 0:
                    break
                self._arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), remaining)
            chosen = {id(item) for item in batch}
            self._pending = collections.deque(i for i in self._pending if id(i) not in chosen)
            self.metrics.queue_depth.set(len(self._pending))
            task = loop.create_task(self._execute(batch, rows))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _execute(self, batch: list[_Item], rows: int) -> None:
        loop = asyncio.get_running_loop()
        outputs = batch[0].request.outputs
        try:
            if len(batch) == 1:
                feeds = batch[0].request.inputs
            else:
                feeds = {
                    name: np.concatenate([item.request.inputs[name] for item in batch], axis=0)
                    for name in batch[0].request.inputs
                }
            results = await loop.run_in_executor(self.executor, self._timed_run, feeds, outputs, rows, len(batch))
            if len(batch) > 1 and any(r.ndim == 0 or r.shape[0] != rows for r in results):
                # The model's outputs are not row-aligned with its inputs: answer each request alone.
                LOG.warning("batch outputs of %d rows are not split along dim 0; running unbatched", rows)
                for item in batch:
                    single = await loop.run_in_executor(
                        self.executor, self._timed_run, item.request.inputs, outputs, item.rows, 1
                    )
                    _resolve(item.future, single)
                return
            if len(batch) == 1:
                _resolve(batch[0].future, results)
                return
            offset = 0
            for item in batch:
                _resolve(item.future, [r[offset : offset + item.rows] for r in results])
                offset += item.rows
        except Exception as exc:
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
        finally:
            self._slots.release()


def _resolve(future: asyncio.Future[list[np.ndarray]], value: list[np.ndarray]) -> None:
    if not future.done():
        future.set_result(value)
