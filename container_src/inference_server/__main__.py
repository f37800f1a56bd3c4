"""Entry point (run from ``container_src/`` or with it on ``PYTHONPATH``):

* ``python -m inference_server`` (or ``... serve``): the Open Inference Protocol server;
* ``python -m inference_server batch [--date YYYY-MM-DD]``: batch scoring of a feature set's recent partitions
  (:mod:`inference_server.batch`).

Exit status 2 means the configuration is invalid (the message names the variable).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

import uvicorn

from inference_server.config import ConfigError, Settings


class GracefulServer(uvicorn.Server):
    """uvicorn server that also tells the app when SIGTERM/SIGINT arrives.

    uvicorn then stops accepting connections and waits up to ``GRACEFUL_SHUTDOWN_TIMEOUT_S`` for
    in-flight requests; the callback makes the batcher dispatch queued requests at once and the
    readiness endpoints report 503 meanwhile.
    """

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Record the signal (uvicorn) and notify the application."""
        super().handle_exit(sig, frame)
        self._on_exit()


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch on the command (default ``serve``); returns the exit status.

    ``argv`` defaults to ``sys.argv[1:]``. ``batch`` hands the remaining arguments to
    :func:`inference_server.batch.main` (imported only then, so the server does not load pyarrow).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["batch"]:
        from inference_server import batch

        return batch.main(args[1:])
    if args[:1] == ["profile"]:  # a model version's drift profile from its training data (inference_server/drift.py)
        from inference_server import drift

        return drift.profile_main(args[1:])
    parser = argparse.ArgumentParser(
        prog="python -m inference_server",
        description="Open Inference Protocol (KServe V2) server for one ONNX model, or batch scoring "
        "('batch [--date YYYY-MM-DD]', see 'python -m inference_server batch --help'), or a drift profile "
        "('profile --data ... --signature ... --output ...'). "
        "Configuration comes from environment variables (container_src/README.md).",
    )
    parser.add_argument(
        "command", nargs="?", choices=("serve", "batch", "profile"), default="serve", help="default: serve"
    )
    parser.parse_args(args)
    return serve()


def _http_protocol() -> Any:
    """uvicorn's httptools protocol writing each response in one send (inference_server/transport.py);
    uvicorn's own choice ("auto") when httptools is not installed."""
    try:
        from inference_server.transport import CoalescingHttpToolsProtocol
    except ImportError:
        return "auto"
    return CoalescingHttpToolsProtocol


def serve() -> int:
    """Validate the environment, then serve until SIGTERM/SIGINT; returns the exit status."""
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stdout,
    )
    # Imported after validation so a configuration error is reported fast.
    import onnxruntime as ort

    from inference_server.app import create_app
    from inference_server.model import ModelLoadError, choose_providers

    try:
        choose_providers(settings.execution_providers, ort.get_available_providers())
    except ModelLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=_http_protocol(),
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=int(settings.graceful_shutdown_s),
        lifespan="on",
        # The server reads neither the client address nor the scheme, so X-Forwarded-* headers have
        # nothing to rewrite: no proxy-headers middleware on every request.
        proxy_headers=False,
        server_header=False,  # no "server: uvicorn" banner (one header less on every response)
    )
    server = GracefulServer(config, app.state.server.request_shutdown_threadsafe)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
