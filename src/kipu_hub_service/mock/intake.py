"""What a request may cost the gateway before it is handled: its head, and its JSON body.

- The request line and headers (the target included) hold at most ``max_header_bytes``
  (:func:`head_size`; the connection guard already stops a head that grows past it).
- A JSON body is priced before it is parsed (:func:`~.strict_json.parsed_size`, an upper
  estimate of the memory its parsed value keeps) and refused past ``max_body_memory``, so
  a 16 MiB body of tiny objects cannot cost hundreds of MiB.
- A body larger than :data:`INLINE_PARSE_BYTES` is parsed in a worker thread, one at a time,
  so bodies being parsed cost at most one ``max_body_memory`` at once; the event loop runs
  between the steps that release the interpreter lock (Python's JSON parser holds it while
  it runs, so the bound on what one body may cost is also the bound on how long it can
  hold the other clients up).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .limits import Limits
from .sending import HTTPError
from .state import fingerprint
from .strict_json import InvalidJSON, least_parsed_size, loads, parsed_size, skeleton

__all__ = [
    "INLINE_PARSE_BYTES",
    "TOKEN_BODY_LIMIT",
    "BodyParser",
    "StartBody",
    "check_head",
    "head_size",
    "parse_json",
]

#: Bodies up to this size are parsed at once on the event loop (well under a millisecond).
INLINE_PARSE_BYTES = 64 * 1024
#: The largest body ``POST /token`` reads: a client-credentials form is a few dozen bytes.
TOKEN_BODY_LIMIT = 64 * 1024

T = TypeVar("T")


def head_size(scope: Mapping[str, Any]) -> int:
    """The bytes of a request's line and headers as sent over HTTP/1.1 (the blank line
    included), from an ASGI scope."""
    target = len(scope.get("raw_path") or scope["path"].encode())
    query = scope.get("query_string") or b""
    line = len(scope["method"]) + 1 + target + (1 + len(query) if query else 0) + 11
    return line + sum(len(name) + len(value) + 4 for name, value in scope["headers"]) + 2


def check_head(scope: Mapping[str, Any], limits: Limits) -> None:
    """431 for a request line and headers over ``max_header_bytes``."""
    limit = limits.max_header_bytes
    if head_size(scope) > limit:
        detail = f"Request line and headers larger than {limit} bytes"
        raise HTTPError(431, detail, {"connection": "close"})


def parse_json(body: bytes, limits: Limits) -> tuple[Any, int]:
    """A JSON body priced, then parsed strictly: the value and its estimated memory.
    HTTPError 400 for one that costs too much or is not JSON the gateway can store and send
    back."""
    limit = limits.max_body_memory
    least = least_parsed_size(body)  # refuses many small strings before they are scanned
    structure = skeleton(body) if least <= limit else b""
    cost = parsed_size(body, structure) if least <= limit else least
    if cost > limit:
        raise HTTPError(
            400,
            f"Request body would take at least {cost} bytes of memory once parsed, more "
            f"than the limit of {limit} bytes",
        )
    try:
        return loads(body, max_depth=limits.max_depth, structure=structure), cost
    except InvalidJSON as exc:
        text = str(exc)
        shown = text if len(text) <= 80 else text[:80] + "…"
        raise HTTPError(400, f"Request body is not valid JSON: {shown}") from None


@dataclass(frozen=True, slots=True)
class StartBody:
    """A parsed ``startExecution`` body: the object, its fingerprint when an
    ``Idempotency-Key`` came with it, and the memory it is estimated to keep."""

    payload: dict[str, Any]
    fingerprint: str | None
    cost: int


class BodyParser:
    """Parses request bodies within the limits, large ones in a worker thread one at a time."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._slot: asyncio.Semaphore | None = None
        self._slot_loop: asyncio.AbstractEventLoop | None = None
        #: Bodies parsed in the worker thread so far.
        self.threaded = 0

    def start_body(self, body: bytes, keyed: bool) -> StartBody:
        """Parse a start body (on the calling thread); HTTPError 400 when it is refused."""
        payload, cost = parse_json(body, self.limits)
        if not isinstance(payload, dict):
            raise HTTPError(400, "Request body must be a JSON object")
        digest = fingerprint(payload) if keyed else None
        return StartBody(payload, digest, cost)

    async def run(self, body: bytes, parse: Callable[[], T]) -> T:
        """``parse()`` at once for a small ``body``; else in a worker thread, one at a time."""
        if len(body) <= INLINE_PARSE_BYTES:
            return parse()
        loop = asyncio.get_running_loop()
        if self._slot is None or self._slot_loop is not loop:  # a server restart: a new loop
            self._slot, self._slot_loop = asyncio.Semaphore(1), loop
        async with self._slot:
            self.threaded += 1
            return await asyncio.to_thread(parse)
