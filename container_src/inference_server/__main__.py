"""Entry point: ``python -m inference_server`` (run from ``container_src/`` or with it on ``PYTHONPATH``).

Exit status 2 means the configuration is invalid (the message names the variable).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from types import FrameType

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


def main() -> int:
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
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=int(settings.graceful_shutdown_s),
        lifespan="on",
    )
    server = GracefulServer(config, app.state.server.request_shutdown_threadsafe)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
