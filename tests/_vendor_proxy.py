"""A loopback proxy in front of the vendor's runtime that answers a start only once the
execution exists.

``qhub-serve`` registers an execution in a background task that runs after its ``201`` has
been sent, so a status read right after the ``201`` can get ``404`` (seen under load). The
platform's gateway answers ``201`` once the execution exists, and our workflows (``run``,
``hub-service run``) read the status at once. This proxy holds a ``201`` of ``POST /`` until
``GET /{id}`` answers ``200`` (at most :data:`SETTLE_SECONDS`); every other exchange passes
through untouched: status, headers and body bytes as the runtime sent them, streamed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import uvicorn
from starlette.types import Receive, Scope, Send

SETTLE_SECONDS = 10.0
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "host"})


class SettlingProxy:
    """ASGI app forwarding every request to ``upstream``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.settled = 0  # 201 answers held until their execution could be read

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # served with lifespan="off"
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        target = self.upstream + raw_path.decode("latin-1") + ("?" if query else "")
        target += query.decode("latin-1")
        headers = [(k, v) for k, v in scope["headers"] if k.decode().lower() not in _HOP_BY_HOP]
        async with httpx.AsyncClient(timeout=60) as client:
            request = client.build_request(scope["method"], target, headers=headers, content=body)
            response = await client.send(request, stream=True)
            try:
                read = scope["method"] == "POST" and raw_path == b"/"
                if read:  # a start's answer is small JSON (never compressed by qhub-serve)
                    await response.aread()
                    if response.status_code == 201:
                        await self._settle(client, response.json()["id"])
                passed = [
                    (k, v) for k, v in response.headers.raw if k.decode().lower() not in _HOP_BY_HOP
                ]
                start = {"type": "http.response.start", "status": response.status_code}
                await send({**start, "headers": passed})
                chunks = _once(response.content) if read else response.aiter_raw()
                async for chunk in chunks:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            finally:
                await response.aclose()

    async def _settle(self, client: httpx.AsyncClient, execution_id: str) -> None:
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline:
            if (await client.get(f"{self.upstream}/{execution_id}")).status_code == 200:
                self.settled += 1
                return
            await asyncio.sleep(0.01)


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body


@contextlib.contextmanager
def settling_proxy(upstream: str) -> Iterator[tuple[str, SettlingProxy]]:
    """Serve a :class:`SettlingProxy` on a free loopback port for the ``with`` block."""
    app = SettlingProxy(upstream)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    config: Any = uvicorn.Config(app, log_level="warning", lifespan="off", log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the proxy in front of qhub-serve did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", app
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
