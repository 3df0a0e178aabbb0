"""Connection-level protection of the mock gateway, on asyncio's public protocol API.

uvicorn takes the class of its HTTP protocol as configuration (``Config(http=...)``).
:meth:`ConnectionGuard.protocol_class` wraps uvicorn's HTTP/1.1 protocol in one that sees
every connection first:

- past ``Limits.connection_cap()`` open connections, a new one is answered 503 and closed
  without ever reaching uvicorn, so slow clients cannot use up the file descriptors;
- a connection that has not delivered a request's headers ``header_timeout`` seconds after
  it opened (or after its previous response) is answered 408 and closed: uvicorn's own
  keep-alive timeout stops at the first byte, so a client trickling headers would hold its
  connection forever;
- a request line and headers longer than ``max_header_bytes`` are answered 431 and the
  connection closed as soon as the limit is passed, before the HTTP layer buffers more (the
  application checks a head that arrived whole, too, so pipelined requests are covered);
- a connection whose client takes none of an answer's bytes for ``write_timeout`` seconds
  (the write buffer stays full) is aborted, which frees its slot and ends the answer;
- the application finds its own connection by ``scope["client"]`` (:meth:`find`), to drop
  it for fault injection and to notice a dead socket mid-stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

from .limits import Limits

try:  # the kernel's send queue of a socket: Linux (and others with TIOCOUTQ on sockets)
    import fcntl
    import termios

    _OUTQ: int | None = termios.TIOCOUTQ if sys.platform.startswith("linux") else None
except ImportError:  # pragma: no cover - Windows
    _OUTQ = None

__all__ = ["ConnectionGuard", "GuardedConnection"]

#: How long a shed connection waits for the client's request before it is closed, so that
#: closing does not reset the connection before the client has read the 503.
SHED_LINGER = 1.0
#: Shed connections allowed to linger at once; past this, they are closed at once.
MAX_LINGERING = 32
#: A closed connection whose last bytes the client does not take is aborted after this.
CLOSE_GRACE = 1.0

Address = tuple[str, int]


def _canned(status: int, reason: str, detail: str, headers: str = "") -> bytes:
    body = json.dumps({"detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n{headers}\r\n"
    )
    return head.encode("latin-1") + body


def _address(transport: asyncio.BaseTransport) -> Address | None:
    """The peer address the way ASGI servers put it in ``scope["client"]``."""
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return str(peer[0]), int(peer[1])
    return None


def _send_queue(transport: asyncio.BaseTransport) -> int:
    """Bytes in the socket's kernel send queue (unsent or not yet acknowledged); 0 where
    the platform does not say."""
    sock = transport.get_extra_info("socket")
    if sock is None or _OUTQ is None:
        return 0
    try:
        raw = fcntl.ioctl(sock.fileno(), _OUTQ, b"\0\0\0\0")
    except (OSError, ValueError):
        return 0
    return int.from_bytes(raw, sys.byteorder, signed=True)


class ConnectionGuard:
    """Counts and bounds the open connections of one gateway; runs on its event loop."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.cap = self.limits.connection_cap()
        self._open: set[GuardedConnection] = set()
        self._by_client: dict[Address, GuardedConnection] = {}
        self._shedding: set[GuardedConnection] = set()
        self._counts = {
            "accepted": 0,
            "shed": 0,
            "header_timeouts": 0,
            "oversized_headers": 0,
            "write_timeouts": 0,
            "peak": 0,
        }
        self._busy = _canned(
            503,
            "Service Unavailable",
            f"The mock gateway serves at most {self.cap} connections at once; retry later",
            "retry-after: 1\r\n",
        )

    def counts(self) -> dict[str, int]:
        """Open connections now, and connections accepted, shed and timed out so far."""
        return {"open": len(self._open), **self._counts}

    def find(self, client: object) -> GuardedConnection | None:
        """The connection a request with this ``scope["client"]`` arrived on, if known."""
        if isinstance(client, tuple | list) and len(client) == 2:
            return self._by_client.get((str(client[0]), client[1]))
        return None

    @contextlib.contextmanager
    def serving(self, client: object) -> Iterator[GuardedConnection | None]:
        """Mark a request in flight on its connection: no header deadline meanwhile."""
        connection = self.find(client)
        if connection is None:
            yield None
            return
        connection.request_started()
        try:
            yield connection
        finally:
            connection.request_finished()

    def close_all(self) -> None:
        """Abort every connection still open (the server is stopping)."""
        for connection in [*self._open, *self._shedding]:
            connection.abort()
        self._open.clear()
        self._by_client.clear()
        self._shedding.clear()

    def protocol_class(self, inner: Callable[..., asyncio.Protocol]) -> type[asyncio.Protocol]:
        """A protocol class for ``uvicorn.Config(http=...)`` that guards ``inner``."""
        guard = self

        class Guarded(GuardedConnection):
            def __init__(self, **options: Any) -> None:
                super().__init__(guard, lambda: inner(**options))

        return Guarded

    # -- called by connections ------------------------------------------------------------

    def _admit(self, connection: GuardedConnection, address: Address | None) -> bool:
        if len(self._open) >= self.cap:
            self._counts["shed"] += 1
            return False
        self._open.add(connection)
        if address is not None:
            self._by_client[address] = connection
        self._counts["accepted"] += 1
        self._counts["peak"] = max(self._counts["peak"], len(self._open))
        return True

    def _release(self, connection: GuardedConnection, address: Address | None) -> None:
        self._open.discard(connection)
        if address is not None and self._by_client.get(address) is connection:
            del self._by_client[address]


class GuardedConnection(asyncio.Protocol):
    """One connection: admitted and handed to the HTTP protocol, or shed with a 503."""

    def __init__(self, guard: ConnectionGuard, make_inner: Callable[[], asyncio.Protocol]) -> None:
        self._guard = guard
        self._make_inner = make_inner
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self._address: Address | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._partial = False
        self._in_flight = 0
        # Bytes of the request head being received (None: not counting), the last bytes seen
        # (a blank line split across reads), and whether data came after a body was read.
        self._head: int | None = None
        self._tail = b""
        self._body_read = False
        self._pipelined = False
        self._write_stall = 0
        #: Set once the connection is closed.
        self.lost = asyncio.Event()

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not isinstance(transport, asyncio.Transport):  # pragma: no cover - TCP only
            transport.close()
            return
        self._transport = transport
        self._address = _address(transport)
        guard = self._guard
        if not guard._admit(self, self._address):
            transport.write(guard._busy)
            if len(guard._shedding) >= MAX_LINGERING:
                self._close()
                return
            guard._shedding.add(self)
            self._later("linger", SHED_LINGER, self._close)
            return
        self._inner = self._make_inner()
        self._arm()
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._inner is None:  # shed: the request was read, the 503 can go
            self._close()
            return
        self._partial = True
        if self._in_flight and self._body_read:
            self._pipelined = True  # the next head arrives while this request is answered
        if self._head is not None and not self._count_head(data):
            return
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return None if self._inner is None else self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._guard._shedding.discard(self)
        if self._inner is not None:
            self._guard._release(self, self._address)
            self._inner.connection_lost(exc)
        self.lost.set()

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()
            self._watch_writes(self._buffered())

    def resume_writing(self) -> None:
        self._cancel("write")
        if self._inner is not None:
            self._inner.resume_writing()

    # -- for the application --------------------------------------------------------------

    def is_closing(self) -> bool:
        """Whether the connection is closed or closing (writes would be dropped)."""
        return self._transport is None or self._transport.is_closing()

    async def drop(self, wait: float = 5.0) -> None:
        """Close the connection now; bytes already written still reach the client.

        Returns once it is closed, or after ``wait`` seconds.
        """
        self._close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.lost.wait(), wait)

    def abort(self) -> None:
        """Close the connection at once, dropping anything not yet sent."""
        if self._transport is not None:
            self._transport.abort()

    def request_started(self) -> None:
        """A request's headers have arrived: its header deadline is met."""
        self._in_flight += 1
        self._body_read = False
        self._head = None
        self._cancel("header")

    def body_read(self) -> None:
        """The request's body has been read to its end: what follows is another request."""
        self._body_read = True

    def request_finished(self) -> None:
        """The response is sent: the next request's headers are due in time."""
        self._in_flight -= 1
        if self._in_flight == 0 and self._inner is not None and not self.is_closing():
            self._arm()

    # -- internals ------------------------------------------------------------------------

    def _arm(self) -> None:
        self._partial = False
        # A pipelined head may already be inside the HTTP layer: the application checks it.
        self._head, self._tail = (None if self._pipelined else 0), b""
        self._pipelined = False
        self._later("header", self._guard.limits.header_timeout, self._header_timeout)

    def _count_head(self, data: bytes) -> bool:
        """Count head bytes up to the blank line; False (431 sent) past the limit."""
        assert self._head is not None
        seen = self._tail + data
        end = seen.find(b"\r\n\r\n")
        limit = self._guard.limits.max_header_bytes
        if end >= 0:
            size = self._head + end + 4 - len(self._tail)
            self._head = None  # the head is complete; a body may follow
            if size <= limit:
                return True
        else:
            self._head += len(data)
            self._tail = seen[-3:]
            if self._head <= limit:
                return True
        self._guard._counts["oversized_headers"] += 1
        if self._transport is not None:
            detail = f"Request line and headers larger than {limit} bytes"
            self._transport.write(_canned(431, "Request Header Fields Too Large", detail))
        self._head = None
        self._close()
        return False

    def _buffered(self) -> int:
        """Bytes written but not yet taken by the client: asyncio's write buffer, plus the
        kernel's send queue where the platform tells it (Linux ``SIOCOUTQ``). The kernel
        reports a socket writable again only once a good part of its (large) send buffer
        is free, so asyncio's buffer alone would not show a slow reader's progress."""
        transport = self._transport
        if transport is None:
            return 0
        return transport.get_write_buffer_size() + _send_queue(transport)

    def _watch_writes(self, buffered: int) -> None:
        """While writing is paused, drop the connection once ``write_timeout`` seconds pass
        in which the client took no byte (the write buffer did not shrink)."""
        self._write_stall = buffered

        def check() -> None:
            now = self._buffered()
            if now < self._write_stall:  # the client is reading, however slowly
                self._watch_writes(now)
                return
            self._guard._counts["write_timeouts"] += 1
            self.abort()

        self._later("write", self._guard.limits.write_timeout, check)

    def _header_timeout(self) -> None:
        self._guard._counts["header_timeouts"] += 1
        if self._partial and self._transport is not None:
            seconds = self._guard.limits.header_timeout
            detail = f"Request headers not received within {seconds:g} s"
            self._transport.write(_canned(408, "Request Timeout", detail))
        self._close()

    def _close(self) -> None:
        transport = self._transport
        if transport is None or self.lost.is_set() or "abort" in self._timers:
            return
        transport.close()
        self._later("abort", CLOSE_GRACE, transport.abort)

    def _later(self, name: str, delay: float, callback: Callable[[], None]) -> None:
        self._cancel(name)

        def fire() -> None:
            self._timers.pop(name, None)
            callback()

        self._timers[name] = asyncio.get_running_loop().call_later(delay, fire)

    def _cancel(self, name: str) -> None:
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()
