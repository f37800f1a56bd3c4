"""Starlette application implementing the Open Inference Protocol (KServe V2) REST API.

Endpoints (``{model}`` must be ``MODEL_NAME``; ``/versions/{version}`` is optional and must be
``MODEL_VERSION``):

* ``GET /v2/health/live`` - 200 while the process serves HTTP.
* ``GET /v2/health/ready`` - 200 once the model is loaded, 503 before that and while shutting down.
* ``GET /v2`` - server metadata (name, version, extensions).
* ``GET /v2/models/{model}[/versions/{version}]`` - model metadata; ``parameters`` names the
  execution provider in use.
* ``GET /v2/models/{model}[/versions/{version}]/ready`` - 200 when ready, 503 when not (yet) loaded.
* ``POST /v2/models/{model}[/versions/{version}]/infer`` - inference (JSON and binary tensor data).
* ``GET /v2/models/{model}[/versions/{version}]/stats`` - request/execution counts and provider.
* ``GET /metrics`` - Prometheus metrics.

Status codes: bad input is 400, an unknown model, version or route 404, a body over MAX_REQUEST_BYTES
413, a model that is not loaded yet
503 (a server state, not a client error - clients and load balancers retry it), unexpected failures 500.
Every error body is ``{"error": "<message>"}``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import re
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import onnxruntime as ort
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from inference_server import SERVER_NAME, __version__, emf
from inference_server.batcher import Batcher
from inference_server.config import Settings
from inference_server.emf import INFER_ENDPOINT
from inference_server.metrics import Metrics
from inference_server.model import LoadedModel, ModelLoadError
from inference_server.protocol import HEADER_LENGTH, ApiError, encode_infer_response, parse_infer_request
from inference_server.repository import ModelNotFoundError, ModelRepository, VerificationError

LOG = logging.getLogger(__name__)
EXTENSIONS = ["binary_tensor_data", "statistics"]
_ORT_BAD_INPUT = getattr(ort.capi.onnxruntime_pybind11_state, "InvalidArgument", ValueError)
_OFFLOAD_PARSE_BYTES = 256 * 1024
# The inference routes: what Starlette's "{model}" and "{version}" path parameters match ([^/]+).
_INFER_PATH = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?/infer")
_HEADER_LENGTH_LOWER = HEADER_LENGTH.lower()
_INFER_HEADERS = ("content-length", "content-encoding", _HEADER_LENGTH_LOWER)
_INFER_HEADER_BYTES = frozenset(h.encode() for h in _INFER_HEADERS)

Handler = Callable[[Request], Awaitable[Response]]


class ServerState:
    """Everything the handlers share: settings, metrics, the model (once loaded) and its batcher."""

    def __init__(self, settings: Settings, repository: ModelRepository, metrics: Metrics) -> None:
        self.settings = settings
        self.repository = repository
        self.metrics = metrics
        self.model: LoadedModel | None = None
        self.batcher: Batcher | None = None
        self.executor: ThreadPoolExecutor | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.loader: asyncio.Task[None] | None = None
        self.run_seconds: float | None = None
        self.shutting_down = False
        self.inference_count = 0
        self.request_success = 0
        self.request_failure = 0
        self._infer_latency = metrics.latency.labels(INFER_ENDPOINT)
        self._infer_requests: dict[int, Any] = {}

    def observe_infer(self, status: int, seconds: float) -> None:
        """Count one inference request (by status) and record its latency, as :func:`instrumented` does."""
        counter = self._infer_requests.get(status)
        if counter is None:
            counter = self._infer_requests[status] = self.metrics.requests.labels(INFER_ENDPOINT, "POST", str(status))
        counter.inc()
        self._infer_latency.observe(seconds)

    @property
    def ready(self) -> bool:
        """True when the model is loaded and the server is not shutting down."""
        return self.model is not None and not self.shutting_down

    def begin_shutdown(self) -> None:
        """Called (on the event loop) when SIGTERM/SIGINT arrives: report not-ready, flush the batcher."""
        self.shutting_down = True
        if self.batcher is not None:
            self.batcher.drain()

    def request_shutdown_threadsafe(self) -> None:
        """Schedule :meth:`begin_shutdown` on the event loop; safe to call from a signal handler."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.begin_shutdown)

    async def load_forever(self) -> None:
        """Load the model, retrying with capped exponential backoff and jitter until it succeeds.

        The first occurrence of each distinct error is logged at ERROR with the model's S3 URI; repeats
        are logged at DEBUG so a missing model produces one clear line rather than a flood.
        """
        settings = self.settings
        delay = min(1.0, settings.load_retry_max_s)
        last_error = ""
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                path = await asyncio.to_thread(self.repository.fetch, settings.model_name, settings.model_version)
                # The session, and what a run costs measured before any request (no GIL contention), so the
                # batcher knows from the first request whether the model runs inline (inference_server/batcher.py)
                model, self.run_seconds = await asyncio.to_thread(
                    LoadedModel.load_for_serving,
                    path,
                    settings.model_name,
                    settings.model_version,
                    settings.execution_providers,
                )
            except Exception as exc:
                reason = {
                    ModelNotFoundError: "not_found",
                    VerificationError: "verification",
                    ModelLoadError: "invalid_model",
                }.get(type(exc), "error")
                self.metrics.load_failures.labels(reason).inc()
                message = f"{type(exc).__name__}: {exc}"
                if message != last_error:
                    LOG.error(
                        "model %r version %r from %s is not loaded (%s); server stays live but not ready, "
                        "retrying with backoff",
                        settings.model_name,
                        settings.model_version,
                        settings.model_uri,
                        message,
                    )
                    last_error = message
                else:
                    LOG.debug("model load attempt %d failed again: %s", attempt, message)
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter only
                delay = min(delay * 2, settings.load_retry_max_s)
                continue
            self._install(model, time.perf_counter() - started)
            return

    def _install(self, model: LoadedModel, seconds: float) -> None:
        assert self.executor is not None
        batcher = Batcher(
            model,
            self.executor,
            self.metrics,
            max_batch_size=self.settings.max_batch_size,
            max_queue_delay_s=self.settings.max_queue_delay_ms / 1000.0,
            instances=self.settings.session_workers,
            run_seconds=self.run_seconds,
        )
        batcher.start()
        if self.shutting_down:
            batcher.drain()
        self.batcher = batcher
        self.model = model
        self.metrics.load_seconds.set(seconds)
        self.metrics.model_ready.set(1)
        self.metrics.provider.info(
            {
                "model": model.name,
                "version": model.version,
                "provider": model.provider,
                "providers": ",".join(model.providers),
            }
        )
        LOG.info(
            "model %r version %r ready in %.2fs on %s (session providers %s); dynamic batching %s",
            model.name,
            model.version,
            seconds,
            model.provider,
            model.providers,
            (
                f"on (max {self.settings.max_batch_size} rows; no wait while the model is idle, partial batches "
                f"held up to {self.settings.max_queue_delay_ms:g} ms while it is busy)"
                if batcher.enabled
                else "off"
            ),
        )

    def resolve(self, request: Request, need_ready: bool = True) -> LoadedModel | None:
        """Check ``{model}``/``{version}`` path parameters; returns the model (None if not ready)."""
        return self.resolve_names(request.path_params["model"], request.path_params.get("version"), need_ready)

    def resolve_names(self, name: str, version: str | None, need_ready: bool = True) -> LoadedModel | None:
        """Check a model name and optional version against the served ones; returns the model."""
        if name != self.settings.model_name:
            raise ApiError(f"unknown model {name!r}; this server serves {self.settings.model_name!r}", 404)
        if version is not None and version != self.settings.model_version:
            raise ApiError(
                f"unknown version {version!r} of model {name!r}; this server serves version "
                f"{self.settings.model_version!r}",
                404,
            )
        if self.model is None and need_ready:
            raise ApiError(
                f"model {name!r} version {self.settings.model_version!r} is not ready "
                f"(loading from {self.settings.model_uri})",
                503,
            )
        return self.model


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.server
    return state


def error_response(message: str, status: int) -> JSONResponse:
    """A V2 error body ``{"error": message}``."""
    return JSONResponse({"error": message}, status_code=status)


def instrumented(endpoint: str) -> Callable[[Handler], Handler]:
    """Turn ApiError/unexpected exceptions into V2 errors and record count and latency for ``endpoint``."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: Request) -> Response:
            started = time.perf_counter()
            try:
                response = await handler(request)
            except ApiError as exc:
                response = error_response(exc.message, exc.status)
            except Exception as exc:
                LOG.exception("unexpected error serving %s %s", request.method, request.url.path)
                response = error_response(f"internal server error: {type(exc).__name__}: {exc}", 500)
            metrics = _state(request).metrics
            metrics.requests.labels(endpoint, request.method, str(response.status_code)).inc()
            metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
            return response

        return wrapper

    return decorate


@instrumented("/v2/health/live")
async def health_live(request: Request) -> Response:
    """Liveness: 200 ``{"live": true}`` while the process serves HTTP."""
    return JSONResponse({"live": True})


@instrumented("/v2/health/ready")
async def health_ready(request: Request) -> Response:
    """Readiness: 200 ``{"ready": true}`` once the model is loaded, else 503 ``{"ready": false}``."""
    ready = _state(request).ready
    return JSONResponse({"ready": ready}, status_code=200 if ready else 503)


@instrumented("/v2")
async def server_metadata(request: Request) -> Response:
    """Server metadata: name, version, extensions."""
    return JSONResponse({"name": SERVER_NAME, "version": __version__, "extensions": EXTENSIONS})


@instrumented("/v2/models/{model}")
async def model_metadata(request: Request) -> Response:
    """Model metadata (503 until the model is loaded: inputs and outputs come from the ONNX file)."""
    state = _state(request)
    model = state.resolve(request)
    assert model is not None
    metadata = model.metadata()
    metadata["parameters"]["dynamic_batching"] = state.batcher is not None and state.batcher.enabled
    return JSONResponse(metadata)


@instrumented("/v2/models/{model}/ready")
async def model_ready(request: Request) -> Response:
    """Model readiness: 200 ``{"name", "ready": true}`` when loaded, else 503 with ``ready: false``."""
    state = _state(request)
    state.resolve(request, need_ready=False)
    ready = state.ready
    body = {"name": state.settings.model_name, "ready": ready}
    return JSONResponse(body, status_code=200 if ready else 503)


@instrumented("/v2/models/{model}/stats")
async def model_stats(request: Request) -> Response:
    """Triton-style statistics: inference/execution counts plus the execution provider in use."""
    state = _state(request)
    model = state.resolve(request)
    assert model is not None
    return JSONResponse(
        {
            "model_stats": [
                {
                    "name": model.name,
                    "version": model.version,
                    "inference_count": state.inference_count,
                    "inference_stats": {
                        "success": {"count": state.request_success},
                        "fail": {"count": state.request_failure},
                    },
                    "execution_provider": model.provider,
                    "execution_providers": model.providers,
                    "load_seconds": model.load_seconds,
                }
            ]
        }
    )


async def _read_body(receive: Receive, declared: str, encoding: str, limit: int) -> bytes:
    """Read (and gunzip/inflate) the body; 413 beyond ``limit`` bytes, 400/415 for bad encodings."""
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(f"request body of {declared} bytes exceeds MAX_REQUEST_BYTES ({limit})", 413)
    chunks: list[bytes] = []
    size = 0
    while True:  # what Request.stream() does, without building a Request
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        if message["type"] != "http.request":
            continue
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise ApiError(f"request body exceeds MAX_REQUEST_BYTES ({limit})", 413)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise ApiError(f"unsupported Content-Encoding {encoding!r} (use gzip, deflate or none)", 415)
    inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        data = inflater.decompress(body, limit + 1)
        if len(data) > limit or inflater.unconsumed_tail:
            raise ApiError(f"decompressed request body exceeds MAX_REQUEST_BYTES ({limit})", 413)
        data += inflater.flush()
    except zlib.error as exc:
        raise ApiError(f"request body is not valid {encoding} data: {exc}") from None
    if not inflater.eof:
        raise ApiError(f"request body is truncated {encoding} data")
    return data


async def _infer(
    state: ServerState, name: str, version: str | None, headers: Mapping[str, str], receive: Receive
) -> tuple[bytes, dict[str, str]]:
    """Inference: validates the request, runs it through the batcher, encodes JSON or binary outputs.

    ``headers`` holds the request's content-length, content-encoding and inference-header-content-length
    (lower-case names, first occurrence). Returns the response body and its headers.
    """
    model = state.resolve_names(name, version)
    assert model is not None and state.batcher is not None
    body = await _read_body(
        receive,
        headers.get("content-length", ""),
        headers.get("content-encoding", "identity"),
        state.settings.max_request_bytes,
    )
    header_length = headers.get(_HEADER_LENGTH_LOWER)
    in_flight = state.metrics.in_flight
    in_flight.inc()
    try:
        if len(body) > _OFFLOAD_PARSE_BYTES:
            parsed = await asyncio.to_thread(parse_infer_request, body, header_length, model.inputs, model.outputs)
        else:
            parsed = parse_infer_request(body, header_length, model.inputs, model.outputs)
        try:
            results = await state.batcher.submit(parsed)
        except _ORT_BAD_INPUT as exc:
            raise ApiError(f"onnxruntime rejected the inputs: {exc}") from None
        payload, response_headers = encode_infer_response(
            model.name, model.version, parsed, results, model.output_by_name
        )
    except Exception:
        state.request_failure += 1
        raise
    finally:
        in_flight.dec()
    state.request_success += 1
    state.inference_count += parsed.rows
    return payload, response_headers


@instrumented(INFER_ENDPOINT)
async def infer(request: Request) -> Response:
    """Inference through Starlette's router (:class:`InferenceApp` serves POSTs without it)."""
    headers = {k: request.headers[k] for k in _INFER_HEADERS if k in request.headers}
    payload, response_headers = await _infer(
        _state(request),
        request.path_params["model"],
        request.path_params.get("version"),
        headers,
        request.receive,
    )
    return Response(payload, headers=response_headers)


class InferenceApp(Starlette):
    """The Starlette application, with its hot path - ``POST .../infer`` - served directly.

    The inference route skips the router, the middleware stack and the Request/Response objects: the same
    checks, status codes, bodies, headers and metrics as :func:`infer` under :func:`instrumented`, at a
    fraction of the per-request cost. Every other request goes through Starlette.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve ``POST /v2/models/{model}[/versions/{version}]/infer`` directly, the rest via Starlette."""
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            match = _INFER_PATH.fullmatch(scope["path"])
            if match is not None:
                await self._infer(scope, receive, send, match[1], match[2])
                return
        await super().__call__(scope, receive, send)

    async def _infer(self, scope: Scope, receive: Receive, send: Send, name: str, version: str | None) -> None:
        started = time.perf_counter()
        state: ServerState = self.state.server
        headers: dict[str, str] = {}
        for key, value in scope["headers"]:
            if key in _INFER_HEADER_BYTES:
                headers.setdefault(key.decode("latin-1"), value.decode("latin-1"))
        try:
            body, response_headers = await _infer(state, name, version, headers, receive)
            status = 200
            raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response_headers.items()]
        except Exception as exc:
            if isinstance(exc, ApiError):
                message, status = exc.message, exc.status
            else:
                LOG.exception("unexpected error serving %s %s", scope["method"], scope["path"])
                message, status = f"internal server error: {type(exc).__name__}: {exc}", 500
            error = error_response(message, status)
            body, raw_headers = bytes(error.body), error.raw_headers
        else:
            raw_headers.append((b"content-length", str(len(body)).encode()))
        state.observe_infer(status, time.perf_counter() - started)
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text exposition of this server's registry."""
    registry = _state(request).metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "internal server error"
    return error_response(f"{detail}: {request.method} {request.url.path}", status)


def _model_routes(suffix: str, endpoint: Handler, methods: list[str]) -> list[Route]:
    return [
        Route(f"/v2/models/{{model}}{suffix}", endpoint, methods=methods),
        Route(f"/v2/models/{{model}}/versions/{{version}}{suffix}", endpoint, methods=methods),
    ]


def create_app(
    settings: Settings,
    *,
    repository: ModelRepository | None = None,
    metrics: Metrics | None = None,
) -> Starlette:
    """Build the application. The model loads in the background once the app starts (lifespan)."""
    state = ServerState(
        settings,
        repository or ModelRepository(settings.model_repository, settings.model_cache_dir),
        metrics or Metrics(),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.loop = asyncio.get_running_loop()
        state.executor = ThreadPoolExecutor(max_workers=settings.session_workers, thread_name_prefix="ort")
        state.loader = asyncio.create_task(state.load_forever(), name="model-loader")
        stop_emf = emf.start_from_env(state.metrics)  # CloudWatch EMF (METRICS_CLUSTER_NAME set in the cluster)
        try:
            yield
        finally:
            if stop_emf is not None:
                stop_emf()
            state.begin_shutdown()
            state.loader.cancel()
            await asyncio.gather(state.loader, return_exceptions=True)
            if state.batcher is not None:
                await state.batcher.stop()
            state.executor.shutdown(wait=True)
            state.metrics.model_ready.set(0)
            LOG.info("inference server stopped")

    routes: list[Any] = [
        Route("/v2/health/live", health_live, methods=["GET"]),
        Route("/v2/health/ready", health_ready, methods=["GET"]),
        Route("/v2", server_metadata, methods=["GET"]),
        *_model_routes("", model_metadata, ["GET"]),
        *_model_routes("/ready", model_ready, ["GET"]),
        *_model_routes("/stats", model_stats, ["GET"]),
        *_model_routes("/infer", infer, ["POST"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    app = InferenceApp(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error})
    app.state.server = state
    return app
