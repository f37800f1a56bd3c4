"""Dynamic batching: combine requests that queue while the model is busy into one ONNX Runtime run.

The policy needs no tuning for either load:

* **Idle model, no waiting.** A request that arrives while no session run is in flight is dispatched at
  once: two event-loop turns later, so that requests parsed in the same turn, and those already waiting in
  socket buffers, go with it (microseconds; no timer).
* **Busy model, batches form from the queue.** Requests arriving while a run is in flight queue. When a run
  finishes, everything queued that is *compatible* - same non-batch input shapes and the same requested
  outputs - goes as one batch, up to ``max_batch_size`` rows (dim 0). While a run is in flight and
  another execution slot is free (``instances``, ``SESSION_WORKERS``, default 2), a partial batch is
  held open until it fills or its oldest request has waited ``max_queue_delay`` (``MAX_QUEUE_DELAY_MS``):
  the delay is an upper bound that only applies while the model is busy.
* **Small models run inline.** When the run about to start would cost at most ``INLINE_RUN_S`` (its rows times
  a per-row estimate that follows the fastest recent runs, :attr:`Batcher.run_seconds`, so a busy machine does
  not inflate it, and a cheap 1-row run does not make a large batch look cheap) and no other run is in flight,
  the batch runs on the event loop itself: a thread hand-off costs more than such a run.
  Slower models run in the thread pool, so the event loop keeps accepting and parsing requests meanwhile.

A batch's inputs are concatenated along dim 0 and each request receives its own slice of every output.
If a batched run fails, each of its requests is run alone, so an error reaches only the request that
causes it. Requests larger than ``max_batch_size`` run on their own.

On shutdown, :meth:`Batcher.drain` stops holding partial batches and :meth:`Batcher.stop` runs everything
still queued before returning.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np

from inference_server.metrics import Metrics
from inference_server.model import INLINE_RUN_S, LoadedModel
from inference_server.protocol import InferRequest

LOG = logging.getLogger(__name__)

_RISE = 1.25
"""How fast the run-time estimate may rise per run (see :attr:`Batcher.run_seconds`)."""


@dataclass
class _Item:
    request: InferRequest
    future: asyncio.Future[list[np.ndarray]]
    rows: int
    key: tuple[object, ...]
    queued_at: float


class Batcher:
    """Runs inference requests for one model, batching them when ``max_queue_delay_s > 0``.

    Args:
        model: the loaded model; batching needs a dynamic first dimension on every input and output.
        executor: thread pool running ``model.run`` for models slower than :data:`INLINE_RUN_S`.
        metrics: where batch sizes, compute time and queue depth are recorded.
        max_batch_size: most rows per run (default 32).
        max_queue_delay_s: longest a partial batch is held open while a run is in flight and a slot is free
            (default 0.005); 0 disables batching. A request never waits while the model is idle.
        instances: concurrent session runs (default 2).
        run_seconds: what a session run is known to cost per row (seconds), e.g. :meth:`LoadedModel.calibrate`'s
            load-time 1-row measurement; defaults to None: learnt from the first runs (the first in the pool).
    """

    def __init__(
        self,
        model: LoadedModel,
        executor: Executor,
        metrics: Metrics,
        max_batch_size: int = 32,
        max_queue_delay_s: float = 0.005,
        instances: int = 2,
        run_seconds: float | None = None,
    ) -> None:
        self.model = model
        self.executor = executor
        self.metrics = metrics
        self.max_batch_size = max_batch_size
        self.max_queue_delay_s = max_queue_delay_s
        self.instances = instances
        self.enabled = model.batchable and max_queue_delay_s > 0 and max_batch_size > 1
        self._slots = asyncio.Semaphore(instances)
        self._pending: collections.deque[_Item] = collections.deque()
        self._in_flight = 0
        self._scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._draining = False
        self._stopping = False
        self._running: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.run_seconds: float | None = run_seconds
        """What a session run costs per row (seconds; None until the first run finishes): a run of ``n`` rows
        is estimated at ``n`` times it. It falls at once to a faster run's cost per row, and rises at most 25% a
        run towards a slower one. A run is only ever slowed by the machine (preemption, or a GIL wait when it
        returns on a worker thread), never sped up, so load on a busy machine does not push a small model onto
        the thread pool (where GIL waits would keep it), while a model that is really slower gets there
        within a few runs (100x in 21). Per row, because runs differ in rows: a 1-row run's cost says little
        about a 32-row batch's, and a run's fixed cost spread over a batch's rows only errs towards the pool."""
        self._observe_compute = metrics.compute.observe
        self._observe_rows = metrics.batch_size.observe
        self._observe_requests = metrics.batch_requests.observe

    def start(self) -> None:
        """Kept for the callers that start a batcher; dispatching needs no background task."""

    def drain(self) -> None:
        """Dispatch queued requests immediately from now on (called when SIGTERM arrives)."""
        self._draining = True
        if self._pending:
            self._wake()

    async def stop(self) -> None:
        """Run every queued request, wait for running batches, then return."""
        self._draining = True
        self._stopping = True
        while self._pending or self._in_flight:
            self._idle.clear()
            self._wake()
            await self._idle.wait()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def submit(self, request: InferRequest) -> list[np.ndarray]:
        """Run ``request``; returns its outputs in ``request.outputs`` order."""
        if not self.enabled or self._stopping:
            return await self._run_direct(request)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[np.ndarray]] = loop.create_future()
        self._pending.append(_Item(request, future, request.rows, request.group_key(), loop.time()))
        self._wake()
        return await future

    def _inline(self, rows: int) -> bool:
        return self._in_flight == 0 and self.run_seconds is not None and self.run_seconds * rows <= INLINE_RUN_S

    async def _run_direct(self, request: InferRequest) -> list[np.ndarray]:
        async with self._slots:
            if self._inline(request.rows):
                return self._timed_run(request.inputs, request.outputs, request.rows, 1)
            self._in_flight += 1
            try:
                return await asyncio.get_running_loop().run_in_executor(
                    self.executor, self._timed_run, request.inputs, request.outputs, request.rows, 1
                )
            finally:
                self._in_flight -= 1

    def _timed_run(
        self, feeds: dict[str, np.ndarray], outputs: list[str], rows: int, requests: int
    ) -> list[np.ndarray]:
        started = time.perf_counter()
        results = self.model.run(feeds, outputs)
        seconds = time.perf_counter() - started
        per_row = seconds / max(rows, 1)
        previous = self.run_seconds
        self.run_seconds = per_row if previous is None or per_row < previous else min(per_row, previous * _RISE)
        self._observe_compute(seconds)
        self._observe_rows(rows)
        self._observe_requests(requests)
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

    def _wake(self) -> None:
        """Dispatch two event-loop turns from now: after the requests parsed in this turn and those already
        waiting in socket buffers (read at the next poll, parsed in the next turn) have queued."""
        if not self._scheduled:
            self._scheduled = True
            loop = asyncio.get_running_loop()
            loop.call_soon(loop.call_soon, self._dispatch, False)

    def _on_timer(self) -> None:
        self._timer = None
        self._dispatch(False)

    def _dispatch(self, finished: bool) -> None:
        """Start batches while execution slots are free; ``finished``: a run just freed its slot."""
        if not finished:
            self._scheduled = False
        loop = asyncio.get_running_loop()
        pending = self._pending
        while pending and self._in_flight < self.instances:
            batch, rows = self._select(pending[0].key)
            if self._in_flight and not finished and not self._draining and rows < self.max_batch_size:
                # The model is busy and a slot is free: hold the partial batch until it fills, a run
                # finishes, or its oldest request has waited max_queue_delay.
                deadline = pending[0].queued_at + self.max_queue_delay_s
                if loop.time() < deadline:
                    if self._timer is None or self._timer.when() > deadline:
                        if self._timer is not None:
                            self._timer.cancel()
                        self._timer = loop.call_at(deadline, self._on_timer)
                    break
            finished = False
            if len(batch) == len(pending):
                pending.clear()
            else:
                chosen = {id(item) for item in batch}
                self._pending = pending = collections.deque(i for i in pending if id(i) not in chosen)
            if self._inline(rows):
                self._execute_inline(batch, rows)
            else:
                self._in_flight += 1
                task = loop.create_task(self._execute(batch, rows))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
        self.metrics.queue_depth.set(len(pending))
        if not pending and self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not pending and not self._in_flight:
            self._idle.set()

    def _feeds(self, batch: list[_Item]) -> dict[str, np.ndarray]:
        if len(batch) == 1:
            return batch[0].request.inputs
        return {
            name: np.concatenate([item.request.inputs[name] for item in batch], axis=0)
            for name in batch[0].request.inputs
        }

    def _split(self, batch: list[_Item], rows: int, results: list[np.ndarray]) -> bool:
        """Resolve every request with its rows; False when the outputs are not row-aligned."""
        if len(batch) == 1:
            _resolve(batch[0].future, results)
            return True
        if any(r.ndim == 0 or r.shape[0] != rows for r in results):
            LOG.warning("batch outputs of %d rows are not split along dim 0; running unbatched", rows)
            return False
        offset = 0
        for item in batch:
            _resolve(item.future, [r[offset : offset + item.rows] for r in results])
            offset += item.rows
        return True

    def _execute_inline(self, batch: list[_Item], rows: int) -> None:
        outputs = batch[0].request.outputs
        try:
            results = self._timed_run(self._feeds(batch), outputs, rows, len(batch))
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch[0].future, exc)
                return
            results = None
        if results is not None and self._split(batch, rows, results):
            return
        for item in batch:  # alone: each request gets its own result or its own error
            try:
                _resolve(item.future, self._timed_run(item.request.inputs, outputs, item.rows, 1))
            except Exception as exc:
                _fail(item.future, exc)

    async def _execute(self, batch: list[_Item], rows: int) -> None:
        loop = asyncio.get_running_loop()
        outputs = batch[0].request.outputs
        try:
            try:
                results = await loop.run_in_executor(
                    self.executor, self._timed_run, self._feeds(batch), outputs, rows, len(batch)
                )
            except Exception as exc:
                if len(batch) == 1:
                    _fail(batch[0].future, exc)
                    return
                results = None
            if results is not None and self._split(batch, rows, results):
                return
            for item in batch:  # alone: each request gets its own result or its own error
                try:
                    single = await loop.run_in_executor(
                        self.executor, self._timed_run, item.request.inputs, outputs, item.rows, 1
                    )
                    _resolve(item.future, single)
                except Exception as exc:
                    _fail(item.future, exc)
        finally:
            self._in_flight -= 1
            self._dispatch(True)


def _resolve(future: asyncio.Future[list[np.ndarray]], value: list[np.ndarray]) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future[list[np.ndarray]], exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)
