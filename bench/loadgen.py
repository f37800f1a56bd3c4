"""Closed-loop HTTP/1.1 load generator for when ``wrk`` is not installed (run as its own process).

Each client holds one keep-alive connection and sends the same POST again as soon as the answer is in;
prints one JSON line: requests, seconds, p50/p99 latency in microseconds and non-200 answers.

    python bench/loadgen.py HOST PORT PATH BODY_FILE CLIENTS SECONDS
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


async def _client(host: str, port: int, request: bytes, stop: float, latencies: list[float]) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    errors = 0
    try:
        while time.perf_counter() < stop:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
    finally:
        writer.close()
    return errors


async def _run(host: str, port: int, path: str, body: bytes, clients: int, seconds: float) -> dict[str, float]:
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    started = time.perf_counter()
    errors = await asyncio.gather(*(_client(host, port, request, started + seconds, latencies) for _ in range(clients)))
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "seconds": wall,
        "p50_us": ordered[len(ordered) // 2] * 1e6,
        "p99_us": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1e6,
        "errors": sum(errors),
    }


def main() -> None:
    """Parse the command line, run the load, print the JSON summary."""
    host, port, path, body_file, clients, seconds = sys.argv[1:7]
    with open(body_file, "rb") as f:
        body = f.read()
    print(json.dumps(asyncio.run(_run(host, int(port), path, body, int(clients), float(seconds)))))


if __name__ == "__main__":
    main()
