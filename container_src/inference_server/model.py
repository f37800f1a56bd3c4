"""ONNX Runtime session wrapper: execution-provider choice, tensor metadata and thread-safe runs."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from inference_server.datatypes import DataType, from_ort

LOG = logging.getLogger(__name__)

INLINE_RUN_S = 0.0005
"""Models whose recent session runs took at most this long (0.5 ms) run on the event loop when no other run
is in flight; about what handing a run to a thread and back costs in latency
(:mod:`inference_server.batcher`)."""

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
PLATFORM = "onnxruntime_onnx"


class ModelLoadError(RuntimeError):
    """The model file could not be turned into an ONNX Runtime session (or uses unsupported types)."""


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output: name, V2 datatype and shape (``-1`` marks a dynamic dimension)."""

    name: str
    datatype: DataType
    shape: tuple[int, ...]

    def metadata(self) -> dict[str, Any]:
        """V2 tensor metadata: ``{"name", "datatype", "shape"}``."""
        return {"name": self.name, "datatype": self.datatype.v2, "shape": list(self.shape)}

    @property
    def batch_dynamic(self) -> bool:
        """True when the first dimension is dynamic, i.e. requests can be stacked along dim 0."""
        return len(self.shape) >= 1 and self.shape[0] == -1


def choose_providers(requested: tuple[str, ...] | None, available: list[str]) -> list[str]:
    """Return the execution providers to request, in priority order.

    Default (``requested`` is None): ``CUDAExecutionProvider`` then ``CPUExecutionProvider`` when CUDA is
    available, otherwise CPU only. An explicit request must name only available providers (else
    :class:`ModelLoadError`); CPU is appended as the fallback if missing.
    """
    if requested is None:
        return [CUDA, CPU] if CUDA in available else [CPU]
    missing = [p for p in requested if p not in available]
    if missing:
        raise ModelLoadError(
            f"ORT_EXECUTION_PROVIDERS asks for {', '.join(missing)} but this onnxruntime build only has "
            f"{', '.join(available)}"
        )
    chosen = list(requested)
    if CPU not in chosen:
        chosen.append(CPU)
    return chosen


def _dim(value: object) -> int:
    return value if isinstance(value, int) and value >= 0 else -1


def _specs(args: list[Any]) -> tuple[TensorSpec, ...]:
    specs = []
    for arg in args:
        try:
            dtype = from_ort(arg.type)
        except KeyError:
            raise ModelLoadError(f"tensor {arg.name!r} has unsupported type {arg.type}") from None
        specs.append(TensorSpec(arg.name, dtype, tuple(_dim(d) for d in arg.shape)))
    return tuple(specs)


class LoadedModel:
    """A loaded model version. ``run`` is safe to call from several threads at once (ORT sessions are)."""

    def __init__(
        self,
        name: str,
        version: str,
        session: ort.InferenceSession,
        load_seconds: float,
    ) -> None:
        self.name = name
        self.version = version
        self.session = session
        self.load_seconds = load_seconds
        self.inputs = _specs(session.get_inputs())
        self.outputs = _specs(session.get_outputs())
        self.input_by_name = {s.name: s for s in self.inputs}
        self.output_by_name = {s.name: s for s in self.outputs}
        self.providers: list[str] = list(session.get_providers())
        self.batchable = all(s.batch_dynamic for s in (*self.inputs, *self.outputs))

    @property
    def provider(self) -> str:
        """The highest-priority execution provider the session actually uses."""
        return self.providers[0]

    @classmethod
    def load(
        cls,
        path: Path,
        name: str,
        version: str,
        requested: tuple[str, ...] | None = None,
        intra_op_threads: int = 0,
    ) -> LoadedModel:
        """Create the ONNX Runtime session for ``path`` (see :func:`choose_providers` for the providers).

        ``intra_op_threads``: ONNX Runtime's ``intra_op_num_threads``; defaults to 0, ONNX Runtime's default
        (one thread per physical core)."""
        started = time.perf_counter()
        providers = choose_providers(requested, ort.get_available_providers())
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = intra_op_threads
        # Idle ORT worker threads must not busy-spin: they share the cores with the HTTP event loop.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        try:
            session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        except Exception as exc:  # ORT raises several pybind exception types
            raise ModelLoadError(f"onnxruntime could not load {path}: {exc}") from exc
        model = cls(name, version, session, time.perf_counter() - started)
        if providers[0] != model.provider:
            LOG.warning(
                "requested execution provider %s is not usable (missing CUDA/cuDNN libraries or GPU?); running on %s",
                providers[0],
                model.provider,
            )
        return model

    def calibrate(self, runs: int = 3) -> float | None:
        """Seconds one 1-row session run takes, measured at load time; None when it cannot be measured.

        Runs the session ``runs`` times on zeros (empty strings for BYTES) shaped like one row of every
        input (dynamic dimensions 1) and returns the fastest run after the first (which warms the session
        up). Called by the server in its loader thread before the model serves anything, so no request
        competes for the GIL; the batcher starts from this cost instead of learning it from the first
        requests (:attr:`inference_server.batcher.Batcher.run_seconds`). A model that rejects such input
        returns None and the batcher learns from real requests.
        """
        feeds = {
            spec.name: np.full(
                tuple(1 if d < 0 else d for d in spec.shape),
                "" if spec.datatype.is_bytes else 0,
                dtype=spec.datatype.numpy,
            )
            for spec in self.inputs
        }
        outputs = [spec.name for spec in self.outputs]
        seconds: list[float] = []
        try:
            for _ in range(max(runs, 2)):
                started = time.perf_counter()
                self.session.run(outputs, feeds)
                seconds.append(time.perf_counter() - started)
        except Exception as exc:  # ORT raises several pybind exception types
            LOG.info(
                "model %r: no load-time run on zeros (%s); the batcher learns its cost from requests", self.name, exc
            )
            return None
        return min(seconds[1:])

    @classmethod
    def load_for_serving(
        cls, path: Path, name: str, version: str, requested: tuple[str, ...] | None = None
    ) -> tuple[LoadedModel, float | None]:
        """The session to serve ``path`` with, and what a 1-row run of it costs (:meth:`calibrate`).

        A model cheap enough to run inline (a 1-row run within :data:`INLINE_RUN_S`) on the CPU provider is
        also loaded with one intra-op thread, and the faster of the two is kept: for such a model, waking the
        intra-op thread pool (its threads do not spin) costs more than the parallel math saves, and the run
        blocks the event loop either way. Larger models keep ONNX Runtime's default thread pool. Measured on
        this model at load time, so it needs no setting.
        """
        model = cls.load(path, name, version, requested)
        cost = model.calibrate()
        if cost is None or cost > INLINE_RUN_S or model.provider != CPU:
            return model, cost
        single = cls.load(path, name, version, requested, intra_op_threads=1)
        single_cost = single.calibrate()
        if single_cost is not None and single_cost <= cost:
            LOG.info("model %r runs inline: one intra-op thread (%.1f us a run, %.1f us with the pool)",
                     name, single_cost * 1e6, cost * 1e6)  # fmt: skip
            return single, single_cost
        return model, cost

    def run(self, feeds: dict[str, np.ndarray], output_names: list[str]) -> list[np.ndarray]:
        """Run the session; returns the outputs in ``output_names`` order."""
        results = self.session.run(output_names, feeds)
        return [np.asarray(r) for r in results]

    def metadata(self) -> dict[str, Any]:
        """V2 model metadata, plus ``parameters`` naming the execution provider(s) in use."""
        return {
            "name": self.name,
            "versions": [self.version],
            "platform": PLATFORM,
            "inputs": [s.metadata() for s in self.inputs],
            "outputs": [s.metadata() for s in self.outputs],
            "parameters": {
                "execution_provider": self.provider,
                "execution_providers": ",".join(self.providers),
                "dynamic_batching": self.batchable,
            },
        }
