"""Fixtures of the system test: one moto server per test session (per xdist worker), IAM authentication on."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass(frozen=True)
class MotoServer:
    """A moto server in its own process (its settings and backends are not shared with other tests)."""

    endpoint: str

    def post(self, path: str, data: bytes = b"") -> None:
        request = urllib.request.Request(
            f"{self.endpoint}{path}", data=data, method="POST", headers={"Content-Type": "application/octet-stream"}
        )
        urllib.request.urlopen(request, timeout=30).close()

    def reset(self) -> None:
        """Empty every backend (one stack is deployed at a time: the plans share their mock names)."""
        self.post("/moto-api/reset")

    def allow_unauthenticated(self, requests: int) -> None:
        """The next ``requests`` AWS requests are not authenticated; every later one is (IAM enforced).

        moto's server-mode switch for ``INITIAL_NO_AUTH_ACTION_COUNT`` (``POST /moto-api/reset-auth``).
        """
        self.post("/moto-api/reset-auth", str(requests).encode())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _started(endpoint: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=2).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto server for the session, on a free loopback port (each xdist worker starts its own)."""
    env = {
        **os.environ,
        "INITIAL_NO_AUTH_ACTION_COUNT": "0",
        # AWS managed policies exist, so the planned attachments resolve (moto loads them on request)
        "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
    }
    for attempt in range(3):
        port = _free_port()
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("moto_server.py")), "-H", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        endpoint = f"http://127.0.0.1:{port}"
        if _started(endpoint, proc):
            break
        proc.kill()
        proc.wait()
        if attempt == 2:
            raise RuntimeError("moto server did not start")
    try:
        yield MotoServer(endpoint)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def pytest_collection_modifyitems(items: list[Any]) -> None:
    """Every test of this folder carries the ``system`` marker, and runs on one xdist worker (``--dist
    loadgroup``): one moto server, each stack deployed once, the plans synthesized once."""
    for item in items:
        if "tests/system/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.system)
            item.add_marker(pytest.mark.xdist_group("system"))
