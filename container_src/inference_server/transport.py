"""uvicorn's httptools HTTP/1.1 protocol, writing each response with one ``send`` instead of two.

An ASGI response is two messages, ``http.response.start`` and ``http.response.body``, and uvicorn writes
each to the socket as it comes: two system calls per response, and on loopback or a fast network two
wake-ups of the client, which first gets the status line and headers alone. For a small inference response
that is most of the server's time per request (``bench/bench_server_floor.py``).

:class:`CoalescingHttpToolsProtocol` hands uvicorn's request cycle a transport that gathers the writes made
until the response is complete (uvicorn's ``on_response_complete``) and sends them together; anything else
gathered during an event-loop turn (a ``100 Continue``, an unfinished response) is sent at the start of
the next turn (``loop.call_soon``; no timer). So every response leaves in one ``send``, with no delay.
Closing, ``write_eof`` and ``abort`` flush or drop what is gathered first, so bytes are never reordered or
lost; flow control (``pause_writing``) still comes from the real transport, which the protocol's
``FlowControl`` watches.

Used by ``python -m inference_server`` when httptools is installed (a server dependency); uvicorn selects
the protocol class through ``uvicorn.Config(http=...)``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """A transport proxy whose writes within one event-loop turn leave as one write of the real transport."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._chunks: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Gather ``data``; it is written, with the rest of this turn's writes, in the next turn."""
        if not data:
            return
        if not self._chunks:
            self._loop.call_soon(self.flush)
        self._chunks.append(bytes(data))

    def flush(self) -> None:
        """Write what has been gathered (no-op when nothing is)."""
        if not self._chunks:
            return
        chunks, self._chunks = self._chunks, []
        if not self._transport.is_closing():
            self._transport.write(chunks[0] if len(chunks) == 1 else b"".join(chunks))

    def close(self) -> None:
        """Flush, then close the real transport."""
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        """Flush, then half-close the real transport."""
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        """Drop what is gathered and abort the real transport."""
        self._chunks = []
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        """Bytes gathered here plus the real transport's buffer."""
        return sum(map(len, self._chunks)) + self._transport.get_write_buffer_size()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol whose request cycles write through a :class:`CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Set the connection up as uvicorn does, then route the cycle's writes through the proxy."""
        super().connection_made(transport)
        self._coalescing = CoalescingTransport(transport, self.loop)
        self.transport = self._coalescing  # type: ignore[assignment]

    def on_response_complete(self) -> None:
        """A response is complete: send it now (one write), then carry on as uvicorn does."""
        self._coalescing.flush()
        super().on_response_complete()
