"""The coalescing transport: one turn's writes leave as one write, in order, and nothing is lost or reordered
by close, write_eof or abort; a real server answers through it byte for byte."""

from __future__ import annotations

import asyncio
import socket
import threading

import httpx
import uvicorn
from inference_helpers import wait_until
from inference_server.transport import CoalescingHttpToolsProtocol, CoalescingTransport
from starlette.types import Receive, Scope, Send


class RecordingTransport:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def close(self) -> None:
        self.calls.append(("close", b""))
        self.closing = True

    def write_eof(self) -> None:
        self.calls.append(("write_eof", b""))

    def abort(self) -> None:
        self.calls.append(("abort", b""))
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 7

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


def test_writes_of_one_turn_leave_together_at_the_next() -> None:
    async def scenario() -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]], int]:
        real = RecordingTransport()
        proxy = CoalescingTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
        # GIVEN a status line and a body written in the same turn (and an empty write)
        proxy.write(HEAD)
        proxy.write(b"")
        proxy.write(bytearray(b"ok"))
        before = list(real.calls)
        size = proxy.get_write_buffer_size()
        # WHEN the loop turns
        await asyncio.sleep(0)
        return before, real.calls, size

    before, after, size = asyncio.run(scenario())
    # THEN nothing was written during the turn, then one write with both, in order
    assert before == []
    assert after == [("write", HEAD + b"ok")]
    assert size == len(HEAD) + 2 + 7  # gathered plus the real transport's buffer


def test_close_and_write_eof_flush_first_and_abort_drops() -> None:
    async def scenario() -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]], str]:
        closing, aborting = RecordingTransport(), RecordingTransport()
        loop = asyncio.get_running_loop()
        proxy = CoalescingTransport(closing, loop)  # type: ignore[arg-type]
        proxy.write(b"a")
        proxy.write_eof()
        proxy.write(b"b")
        proxy.close()
        other = CoalescingTransport(aborting, loop)  # type: ignore[arg-type]
        other.write(b"lost")
        other.abort()
        await asyncio.sleep(0)  # the scheduled flushes find nothing left
        return closing.calls, aborting.calls, proxy.get_extra_info("peername")

    closing, aborting, info = asyncio.run(scenario())
    assert closing == [("write", b"a"), ("write_eof", b""), ("write", b"b"), ("close", b"")]
    assert aborting == [("abort", b"")]
    assert info == "info:peername"  # everything else reaches the real transport


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = body[::-1] * 1000
    await send({"type": "http.response.start", "status": 201, "headers": [(b"content-length", b"%d" % len(answer))]})
    await send({"type": "http.response.body", "body": answer})


def test_a_server_on_the_coalescing_protocol_answers_keep_alive_requests_intact() -> None:
    # GIVEN uvicorn with the coalescing protocol
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(_app, http=CoalescingHttpToolsProtocol, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
        assert wait_until(lambda: server.started), "server did not start"
        with httpx.Client() as client:
            # WHEN several requests go over one keep-alive connection
            answers = [client.post(url, content=b"abc%d" % i) for i in range(5)]
    finally:
        server.should_exit = True
        thread.join(10)
    # THEN each answer is complete and its own
    assert [(a.status_code, a.content) for a in answers] == [(201, (b"abc%d" % i)[::-1] * 1000) for i in range(5)]
