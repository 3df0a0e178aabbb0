"""The mock gateway's side of the wire: request bodies read within bounds, answers sent over
ASGI, and injected faults that break them.

Bodies in memory go out in one message; files stream in chunks and stop as soon as the
client is gone (the disconnect message, or the connection seen closing). Faults drop the
connection through the gateway's own :class:`~.guard.GuardedConnection`, never through
server internals.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.types import Message, Receive, Send

from .faults import Fault, FaultInjector, FaultKind
from .guard import GuardedConnection
from .limits import Limits
from .strict_json import dumps

__all__ = [
    "HTTPError",
    "InjectedDisconnect",
    "Reply",
    "Sender",
    "error_reply",
    "json_reply",
    "raw_json",
    "read_body",
]


class InjectedDisconnect(ConnectionAbortedError):
    """Raised to drop a connection the gateway cannot reach (not served by its own server)."""


class HTTPError(Exception):
    """An error answer, raised anywhere while handling a request."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


@dataclass(slots=True)
class Reply:
    """A response: a body in memory, or ``stream`` yielding ``length`` bytes."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: Callable[[], Iterator[bytes]] | None = None
    length: int = 0

    @property
    def size(self) -> int:
        return self.length if self.stream is not None else len(self.body)


def json_reply(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Reply:
    """``payload`` as strict JSON (ValueError for anything that is not valid JSON)."""
    return raw_json(status, dumps(payload), headers)


def raw_json(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(status, {"content-type": "application/json", **(headers or {})}, body)


def error_reply(status: int, detail: str, headers: Mapping[str, str] | None = None) -> Reply:
    """``{"detail": ...}``; characters that UTF-8 cannot carry are shown escaped."""
    text = detail.encode("utf-8", "backslashreplace").decode()  # quoted input may not be UTF-8
    return json_reply(status, {"detail": text}, headers)


async def read_body(request: Request, limits: Limits, limit: int | None = None) -> bytes:
    """The whole body: at most ``limit`` bytes (default ``max_body``), in at most
    ``body_timeout`` seconds."""
    limit = limits.max_body if limit is None else min(limit, limits.max_body)
    seconds = limits.body_timeout
    # Answered before the body is read: the connection cannot carry another request.
    too_large = HTTPError(400, f"Request body larger than {limit} bytes", {"connection": "close"})
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
    except TimeoutError:
        detail = f"Request body not received within {seconds:g} s"
        raise HTTPError(408, detail, {"connection": "close"}) from None
    return b"".join(chunks)


class Sender:
    """Sends replies, injecting the faults drawn for them; counts streamed downloads.

    ``streams`` (active, completed, abandoned, bytes_sent) is updated in place; ``stopping``
    ends injected latency at once.
    """

    def __init__(
        self, faults: FaultInjector, stopping: threading.Event, streams: dict[str, int]
    ) -> None:
        self.faults = faults
        self.stopping = stopping
        self.streams = streams

    async def early_fault(
        self, fault: Fault, connection: GuardedConnection | None
    ) -> Reply | bool | None:
        """Faults that strike before the request is handled: a reply, True when dropped."""
        config = self.faults.config
        kind = fault.kind
        if kind is FaultKind.LATENCY:
            self.faults.record(kind)
            await self.delay(config.latency)
            return None
        if kind is FaultKind.ERROR:
            self.faults.record(kind)
            return self.fault_error(fault)
        if kind is FaultKind.RATE_LIMIT:
            self.faults.record(kind)
            return error_reply(
                429, "Too many requests (injected fault)", {"retry-after": str(config.retry_after)}
            )
        if kind is FaultKind.DISCONNECT:
            self.faults.record(kind)
            await self.drop(connection)
            return True
        return None

    def fault_error(self, fault: Fault) -> Reply:
        config = self.faults.config
        status = fault.error_status(config.error_statuses)
        headers = {"retry-after": str(config.retry_after)} if status == 503 else None
        return error_reply(status, f"Injected fault: server error {status}", headers)

    async def send_with_fault(
        self,
        reply: Reply,
        fault: Fault | None,
        send: Send,
        receive: Receive,
        connection: GuardedConnection | None,
    ) -> None:
        if fault is not None and fault.kind is FaultKind.TRUNCATE and reply.size >= 2:
            self.faults.record(fault.kind)
            await self.transmit(reply, send, receive, connection, cut=fault.cut(reply.size))
            return
        if fault is not None and fault.kind is FaultKind.LOST_RESPONSE and reply.status == 201:
            self.faults.record(fault.kind)
            if fault.lost_as_error:
                await self.transmit(self.fault_error(fault), send, receive)
            else:
                await self.drop(connection)
            return
        await self.transmit(reply, send, receive, connection)

    @staticmethod
    async def drop(connection: GuardedConnection | None) -> None:
        """Close the connection now; bytes already written still reach the client."""
        if connection is None:
            raise InjectedDisconnect("injected fault: connection dropped")
        await connection.drop()

    async def transmit(
        self,
        reply: Reply,
        send: Send,
        receive: Receive,
        connection: GuardedConnection | None = None,
        cut: int | None = None,
    ) -> None:
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items()]
        if reply.status not in (204, 304):
            headers.append((b"content-length", str(reply.size).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        if reply.stream is None:
            if cut is not None:
                partial: Message = {"type": "http.response.body", "body": reply.body[:cut]}
                await send({**partial, "more_body": True})
                await self.drop(connection)
                return
            await send({"type": "http.response.body", "body": reply.body, "more_body": False})
            return
        gone = asyncio.Event()
        watcher = asyncio.ensure_future(self.watch_disconnect(receive, gone))
        closing = connection.is_closing if connection is not None else None
        streams = self.streams
        streams["active"] += 1
        try:
            sent = 0
            for chunk in reply.stream():
                if gone.is_set() or (closing is not None and closing()):
                    streams["abandoned"] += 1
                    return
                if cut is not None and sent + len(chunk) >= cut:
                    part: Message = {
                        "type": "http.response.body",
                        "body": chunk[: cut - sent],
                        "more_body": True,
                    }
                    await send(part)
                    streams["bytes_sent"] += len(part["body"])
                    await self.drop(connection)
                    return
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                sent += len(chunk)
                streams["bytes_sent"] += len(chunk)
                # Once the socket is dead, send() never suspends (asyncio just drops the writes),
                # so without this the disconnect watcher would only run after the whole file.
                await asyncio.sleep(0)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            streams["completed"] += 1
        finally:
            streams["active"] -= 1
            watcher.cancel()

    async def delay(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when the server is stopping."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self.stopping.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, 0.05))

    @staticmethod
    async def watch_disconnect(receive: Receive, gone: asyncio.Event) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                gone.set()
                return
