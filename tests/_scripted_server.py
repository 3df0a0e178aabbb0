"""A scripted HTTP server on 127.0.0.1 for hostile answers, and clients of every kind to meet it.

Each connection is served by a thread, bounded in what it sends and how long. ``run`` makes a
client of one of ``KINDS`` (sync, async on httpx's transport, async on aiohttp) and runs a piece
of work on its ``service_api``; ``peak_of`` measures the traced memory it took.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any

import httpx

from kipu_hub_service import AsyncHubServiceClient, HubServiceClient
from kipu_hub_service._aiohttp import AiohttpTransport
from kipu_hub_service.testing import sdk_transport

MiB = 1024 * 1024
KINDS = ["sync", "httpx-async", "aiohttp-async"]

Script = Callable[[socket.socket, bytes], None]
"""Writes the answer to one request (its head given) on a socket."""


def compressed(size: int, wbits: int) -> bytes:
    """``size`` bytes of JSON whitespace, compressed (``wbits`` 31: gzip, -15: raw deflate)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = b" " * MiB
    parts = [packer.compress(block) for _ in range(size // MiB)]
    parts.append(packer.flush())
    return b"".join(parts)


class ScriptedServer:
    """Answers every request on 127.0.0.1 with ``script``; records request heads."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.heads: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> ScriptedServer:
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            worker = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            worker.start()
            self._threads.append(worker)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            head = b""
            try:
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    data = conn.recv(4096)
                    if not data:
                        return
                    head += data
                self.heads.append(head)
                self.script(conn, head)
            except OSError:
                pass  # the client went away: what these tests expect it to do

    def header(self, name: bytes, index: int = 0) -> bytes | None:
        """A header of the ``index``-th request, as sent."""
        for line in self.heads[index].split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


def head(status: int, *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status} X", "Connection: close", *headers, "", ""]
    return "\r\n".join(lines).encode()


def body_script(
    status: int, body: bytes, encoding: str = "gzip", content_type: str = "application/json"
) -> Script:
    def script(conn: socket.socket, _: bytes) -> None:
        conn.sendall(
            head(
                status,
                f"Content-Type: {content_type}",
                f"Content-Encoding: {encoding}",
                f"Content-Length: {len(body)}",
            )
            + body
        )

    return script


def trickle_script(pieces: int, pause: float) -> Script:
    """Announces 500 MB, then sends 1 KiB per ``pause`` seconds, at most ``pieces`` times."""

    def script(conn: socket.socket, _: bytes) -> None:
        conn.sendall(head(200, "Content-Type: application/json", "Content-Length: 500000000"))
        for _ in range(pieces):
            conn.sendall(b" " * 1024)
            time.sleep(pause)

    return script


def endless_script(pieces: int, pause: float) -> Script:
    """A chunked body of 1 KiB chunks every ``pause`` seconds that never ends (within bounds)."""

    def script(conn: socket.socket, _: bytes) -> None:
        conn.sendall(head(200, "Content-Type: application/json", "Transfer-Encoding: chunked"))
        for _ in range(pieces):
            conn.sendall(b"400\r\n" + b" " * 1024 + b"\r\n")
            time.sleep(pause)

    return script


def run(kind: str, base_url: str, work: Callable[[Any], Any], **options: Any) -> Any:
    """``work(client.service_api)`` on a client of ``kind`` (awaited on an async client)."""
    options.setdefault("max_retries", 0)
    options.setdefault("token", "tok-123456")
    if kind == "sync":
        with HubServiceClient(base_url=base_url, **options) as client:
            return work(client.service_api)
    transport: httpx.AsyncBaseTransport = (
        AiohttpTransport() if kind == "aiohttp-async" else httpx.AsyncHTTPTransport()
    )

    async def main() -> Any:
        async with AsyncHubServiceClient(base_url=base_url, **options) as c:
            return await work(c.service_api)

    with sdk_transport(transport):
        return asyncio.run(main())


def consume(kind: str, chunks: Any) -> Any:
    """Count the bytes of a ``get_result_file`` iterator (a coroutine on the async client)."""
    if kind == "sync":
        return sum(len(chunk) for chunk in chunks)

    async def count() -> int:
        return sum([len(chunk) async for chunk in chunks])

    return count()


def peak_of(work: Callable[[], Any]) -> tuple[int, Any]:
    """Peak traced memory while ``work()`` runs, and what it returned or raised."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        try:
            outcome: Any = work()
        except Exception as exc:
            outcome = exc
        return tracemalloc.get_traced_memory()[1] - base, outcome
    finally:
        tracemalloc.stop()
