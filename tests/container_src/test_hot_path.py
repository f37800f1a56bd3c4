"""The per-request shortcuts answer exactly what the general code does: the plain-request parse, the float
range check without errstate, the finite check of outputs by their sum, and the run-cost estimate that
decides inline runs."""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from inference_server import batcher, protocol
from inference_server.app import create_app
from inference_server.batcher import INLINE_RUN_S
from inference_server.config import Settings
from inference_server.datatypes import BY_V2
from inference_server.metrics import Metrics
from inference_server.model import LoadedModel, TensorSpec
from inference_server.protocol import ApiError, InferRequest, _json_array, encode_infer_response, parse_infer_request

with warnings.catch_warnings():  # starlette 1.x deprecates its httpx-based test client; it still works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

X = TensorSpec("X", BY_V2["FP32"], (-1, 3))
Y = TensorSpec("Y", BY_V2["INT64"], (-1,))
H = TensorSpec("H", BY_V2["FP16"], (-1,))
OUT = [TensorSpec("P", BY_V2["FP32"], (-1, 2)), TensorSpec("Q", BY_V2["INT64"], (-1,))]
F32_MAX = float(np.finfo(np.float32).max)


def _x(data: Any = (0.5, 1, -2.0), shape: Any = (1, 3), **extra: Any) -> dict[str, Any]:
    return {"name": "X", "shape": list(shape), "datatype": "FP32", "data": list(data), **extra}


def _y(data: Any = (7,), shape: Any = (1,)) -> dict[str, Any]:
    return {"name": "Y", "shape": list(shape), "datatype": "INT64", "data": list(data)}


BODIES: list[Any] = [
    {"inputs": [_x(), _y()]},  # the plain shape ...
    {"inputs": [_y(), _x()]},
    {"id": "req-1", "inputs": [_x(), _y()]},
    {"inputs": [_x(shape=(0, 3), data=()), _y(shape=(0,), data=())]},
    {"inputs": [_x(data=(F32_MAX * 0.999, -F32_MAX * 0.999, 1e-45)), _y()]},
    {"inputs": [_x(shape=(2, 3), data=(1, 2, 3, 4, 5, 6)), _y(shape=(2,), data=(7, 8))]},  # ... valid
    {"inputs": [_x(data=(F32_MAX, 1e39, 1)), _y()]},  # out of range for FP32
    {"inputs": [_x(data=(10**400, 1, 2)), _y()]},  # beyond float64
    {"inputs": [_x(data=(1, "a", 2)), _y()]},
    {"inputs": [_x(data=(1, True, 2)), _y()]},
    {"inputs": [_x(data=(1, 2)), _y()]},  # count mismatch
    {"inputs": [_x(shape=(True, 3)), _y()]},  # a bool is not a dimension
    {"inputs": [_x(shape=(-1, 3)), _y()]},
    {"inputs": [_x(shape=(1, 4), data=(1, 2, 3, 4)), _y()]},
    {"inputs": [_x(shape=(3,)), _y()]},
    {"inputs": [_x(shape=(2, 3), data=(1, 2, 3, 4, 5, 6)), _y(shape=(1,))]},  # batch dims disagree
    {"inputs": [_x(), _x()]},  # given twice
    {"inputs": [_x()]},  # missing Y
    {"inputs": [_x(), _y(), {**_y(), "name": "Z"}]},
    {"inputs": [{**_x(), "datatype": "FP64"}, _y()]},
    {"inputs": [{**_x(), "datatype": ["FP32"]}, _y()]},
    {"inputs": [{**_x(), "name": ["X"]}, _y()]},
    {"inputs": [_x(parameters={}), _y()]},
    {"inputs": [_x(parameters={"binary_data_size": 12}), _y()]},
    {"inputs": [_x(), _y()], "outputs": [{"name": "Q"}]},
    {"inputs": [_x(), _y()], "parameters": {"binary_data_output": True}},
    {"id": 5, "inputs": [_x(), _y()]},
    {"id": None, "inputs": [_x(), _y()]},
    {"inputs": {"X": _x()}},
    {"inputs": []},
    {"inputs": [_x(), "Y"]},
    {"outputs": [], "inputs": [_x(), _y()]},
]


def _outcome(body: bytes) -> Any:
    try:
        request = parse_infer_request(body, None, [X, Y], OUT)
    except ApiError as exc:
        return ("error", exc.status, exc.message)
    inputs = {n: (a.dtype.str, a.shape, a.tobytes()) for n, a in request.inputs.items()}
    return (request.id, inputs, request.outputs, request.binary_outputs, request.rows, request.group_key())


@pytest.mark.parametrize("payload", BODIES, ids=range(len(BODIES)))
def test_the_plain_request_parse_answers_what_the_general_one_does(
    payload: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a request body WHEN it is parsed with and without the plain-request shortcut
    body = json.dumps(payload).encode()
    fast = _outcome(body)
    monkeypatch.setattr(protocol, "_plain_request", lambda payload, inputs, outputs: None)
    general = _outcome(body)
    # THEN the result (arrays byte for byte, outputs, id, batch key) or the error is the same
    assert fast == general


def test_the_plain_shape_takes_the_shortcut() -> None:
    # GIVEN requests in the plain shape (with and without an id) THEN the shortcut answers them itself
    for payload in BODIES[:6]:
        assert protocol._plain_request(payload, [X, Y], OUT) is not None, payload
    # AND a request in another shape is left to the general path
    assert protocol._plain_request(BODIES[22], [X, Y], OUT) is None


def _reference_floats(name: str, flat: list[Any], spec: TensorSpec) -> Any:
    """The general float conversion: widen, cast under errstate, reject a finite value that became inf."""
    try:
        wide = np.array(flat, dtype=np.float64)
    except OverflowError:
        return "error"
    with np.errstate(over="ignore"):
        converted = wide.astype(spec.datatype.numpy)
    if not np.isfinite(converted).all() and (np.isinf(converted) & np.isfinite(wide)).any():
        return "error"
    return converted


@pytest.mark.parametrize(
    "flat",
    [
        [1.0, 2, -3.5],
        [F32_MAX, -F32_MAX],
        [F32_MAX * 1.0000001, 0.0],  # still rounds to FLT_MAX
        [3.5e38],
        [0.0, -1e39],
        [math.nan, 1e39],  # NaN first: min/max cannot vouch for the rest
        [1.0, math.nan, 1e39],
        [math.nan, 2.0],
        [math.inf, 1.0],
        [-math.inf],
        [2**200, 1],
        [65504.0, 65519.0, 65520.0],  # FP16: the last rounds to inf
        [10**400],
    ],
)
@pytest.mark.parametrize("spec", [X, H, TensorSpec("D", BY_V2["FP64"], (-1,))], ids=["FP32", "FP16", "FP64"])
def test_float_inputs_convert_and_overflow_as_the_general_cast_does(
    flat: list[Any], spec: TensorSpec, recwarn: pytest.WarningsRecorder
) -> None:
    # GIVEN JSON numbers for a float input WHEN they are converted
    expected = _reference_floats("X", flat, spec)
    try:
        got: Any = _json_array("X", flat, spec.datatype, len(flat))
    except ApiError as exc:
        assert "out of range" in exc.message
        got = "error"
    # THEN the values (NaN in place) or the out-of-range error are the reference's, and no warning escapes
    if isinstance(expected, str):
        assert got == expected
    else:
        assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes()
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize(
    ("values", "fast"),
    [([0.25, -1.5], True), ([1e308, 1e308], True), ([1.0, math.inf], False), ([math.nan, 0.0], False)],
)
def test_outputs_keep_json_spelling_for_non_finite_values_only(values: list[float], fast: bool) -> None:
    # GIVEN an output whose values are finite (even when their sum overflows) or not
    request = InferRequest(None, {"X": np.zeros((1, 3), np.float32)}, ["D"])
    spec = {"D": TensorSpec("D", BY_V2["FP64"], (-1,))}
    body, _ = encode_infer_response("m", "1", request, [np.array(values)], spec)
    # THEN finite values are written as numbers and non-finite ones as json spells them (NaN, Infinity)
    assert body == json.dumps(
        {"model_name": "m", "model_version": "1", "outputs": [
            {"name": "D", "datatype": "FP64", "shape": [2], "data": values}]}, separators=(",", ":")
    ).encode()  # fmt: skip
    assert (b"NaN" not in body and b"Infinity" not in body) == fast


def _estimate(runs: list[float], rows: list[int] | None = None) -> float:
    """The batcher's per-row run-cost estimate after runs taking ``runs`` seconds (of ``rows`` rows each,
    default 1), through its real bookkeeping."""

    class Model:
        batchable = True

        def run(self, feeds: Any, outputs: Any) -> list[np.ndarray]:
            return []

    clock = iter(t for run in runs for t in (0.0, run))
    b = batcher.Batcher(Model(), None, Metrics())  # type: ignore[arg-type]
    original = batcher.time.perf_counter
    batcher.time.perf_counter = lambda: next(clock)  # type: ignore[assignment]
    try:
        for n in rows or [1] * len(runs):
            b._timed_run({}, [], n, 1)
    finally:
        batcher.time.perf_counter = original  # type: ignore[assignment]
    assert b.run_seconds is not None
    return b.run_seconds


def test_a_run_slowed_by_the_machine_does_not_move_a_small_model_off_the_event_loop() -> None:
    # GIVEN a model whose runs take 5 us, WHEN a few runs are slowed to 5 ms (preemption, GIL waits)
    estimate = _estimate([5e-6] * 3 + [5e-3] * 3)
    # THEN the estimate rises by at most 25% a run and the model still runs inline
    assert estimate == pytest.approx(5e-6 * 1.25**3) and estimate <= INLINE_RUN_S
    # AND one fast run brings it straight back
    assert _estimate([5e-6, 5e-3, 5e-3, 6e-6]) == pytest.approx(6e-6)


def test_a_model_that_really_is_slow_moves_to_the_thread_pool_within_a_few_dozen_runs() -> None:
    # GIVEN a model whose first run took 5 us and every later one 5 ms
    runs = [5e-6] + [5e-3] * 40
    crossed = next(n for n in range(1, len(runs) + 1) if _estimate(runs[:n]) > INLINE_RUN_S)
    # THEN the estimate passes INLINE_RUN_S after about 21 runs (1.25**21 > 100) and reaches the real cost
    assert crossed == 1 + math.ceil(math.log(INLINE_RUN_S / 5e-6, 1.25))
    assert _estimate(runs) == pytest.approx(5e-3)


def test_a_cheap_one_row_run_does_not_make_a_large_batch_look_cheap() -> None:
    # GIVEN a model whose 32-row batches take 50 ms (1.6 ms a row) and whose 1-row runs take 0.1 ms, idle
    b = batcher.Batcher(SimpleNamespace(batchable=True), None, Metrics())  # type: ignore[arg-type]
    b.run_seconds = _estimate([5e-2, 1e-4], rows=[32, 1])
    # THEN after a 1-row run a lone row may run inline, but a 32-row batch goes to the thread pool
    assert b._inline(1) and not b._inline(32)
    # AND a batch's cost per row lowers the estimate only as far as its rows justify
    assert _estimate([1e-4, 3.2e-3], rows=[1, 32]) == pytest.approx(1e-4)


class _LocalRepository:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fetch(self, model: str, version: str) -> Path:
        return self.path


def test_the_server_measures_a_run_at_load_time_so_a_small_model_runs_inline_from_the_first_request(
    tmp_path: Path, classifier_bytes: bytes
) -> None:
    # GIVEN the server loading a small model (the 4-feature classifier)
    path = tmp_path / "model.onnx"
    path.write_bytes(classifier_bytes)
    settings = Settings.from_env({"MODEL_REPOSITORY": "s3://acme-models/m", "MODEL_NAME": "c", "MODEL_VERSION": "1"})
    app = create_app(settings, repository=_LocalRepository(path))  # type: ignore[arg-type]
    with TestClient(app) as client:
        deadline = time.monotonic() + 30
        while client.get("/v2/health/ready").status_code != 200:
            assert time.monotonic() < deadline, "model did not load"
            time.sleep(0.01)
        # WHEN it is ready, before any inference request
        state = app.state.server
        # THEN its batcher already knows what a run costs, well under INLINE_RUN_S, and no request was counted
        assert state.batcher.run_seconds is not None and 0 < state.batcher.run_seconds <= INLINE_RUN_S
        assert state.inference_count == 0 and state.batcher._inline(1)


def test_a_model_that_rejects_zeros_is_left_to_learn_its_cost_from_requests(
    tmp_path: Path, classifier_bytes: bytes
) -> None:
    # GIVEN a loaded model whose session rejects the load-time input
    path = tmp_path / "model.onnx"
    path.write_bytes(classifier_bytes)
    model = LoadedModel.load(path, "c", "1")
    calls: list[dict[str, np.ndarray]] = []

    class Rejecting:
        def run(self, outputs: list[str], feeds: dict[str, np.ndarray]) -> None:
            calls.append(feeds)
            raise ValueError("indices out of range")

    model.session = Rejecting()  # type: ignore[assignment]
    # WHEN it is calibrated THEN there is no estimate, after one try on one row of zeros
    assert model.calibrate() is None
    assert len(calls) == 1 and calls[0]["INPUT0"].shape == (1, 4) and not calls[0]["INPUT0"].any()


@pytest.mark.parametrize(
    ("pool_cost", "single_cost", "threads"),
    [
        (2e-5, 1e-5, 1),  # cheap, and faster on one thread: the pool's wake-ups cost more than the math
        (1e-5, 2e-5, 0),  # cheap, but the pool is faster: kept
        (1e-3, 1e-6, 0),  # a model that does not run inline keeps the pool, without a second session
    ],
)
def test_a_model_that_runs_inline_is_served_by_the_faster_of_the_pool_and_one_intra_op_thread(
    tmp_path: Path, classifier_bytes: bytes, monkeypatch: pytest.MonkeyPatch, pool_cost: float, single_cost: float,
    threads: int,
) -> None:  # fmt: skip
    # GIVEN a real ONNX Runtime session of the classifier whose measured 1-row costs are the given ones
    path = tmp_path / "model.onnx"
    path.write_bytes(classifier_bytes)
    loads: list[int] = []
    original = LoadedModel.load

    def load(*args: Any, **kwargs: Any) -> LoadedModel:
        loads.append(kwargs.get("intra_op_threads", 0))
        return original(*args, **kwargs)

    def calibrate(self: LoadedModel, runs: int = 3) -> float:
        return single_cost if self.session.get_session_options().intra_op_num_threads == 1 else pool_cost

    monkeypatch.setattr(LoadedModel, "load", load)
    monkeypatch.setattr(LoadedModel, "calibrate", calibrate)
    # WHEN it is loaded for serving
    model, cost = LoadedModel.load_for_serving(path, "c", "1")
    # THEN the session kept has the cheaper measured run, and a second session is made only for a cheap model
    assert model.session.get_session_options().intra_op_num_threads == threads
    assert cost == (single_cost if threads == 1 else pool_cost)
    assert loads == ([0, 1] if pool_cost <= INLINE_RUN_S else [0])
