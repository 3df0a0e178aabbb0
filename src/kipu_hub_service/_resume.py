"""The download protocol without I/O: what each answer to a result-file request means.

``Resume`` tracks one download (position, ETag, size) and decides, for every response, whether
its body is read, the file is complete, or the next request resumes from ``position``:

* The request asks for ``Accept-Encoding: identity`` so byte offsets mean file offsets, and is
  sent with ``stream=True`` so the body is handed over unread.
* When the connection drops mid-body (``httpx.ReadError``, ``httpx.RemoteProtocolError``,
  ``httpx.ReadTimeout``) or the body ends before its ``Content-Length``, the download goes on with
  ``Range: bytes=N-`` and, when the first response had a strong ``ETag``, ``If-Range: <etag>``.
* A 206 must carry ``Content-Range: bytes N-M/size`` starting exactly at N, with the same size
  and ETag as before. A different start is a server fault and raises (never guessed around).
* A 416 to ``Range: bytes=N-`` means "nothing after N": it completes the file only when its
  ``Content-Range: bytes */size`` says size N *and* N is the size announced before (and any
  ETag it carries is the one seen before). Otherwise the file changed on the server.
* A 200 to a resume (the server ignored Range, or If-Range found a new version) is read from the
  start: with the same ETag and size the bytes already delivered are skipped.
* A file that changed on the server (new ETag or size) restarts from byte 0 when nothing has been
  handed out yet or when writing to a file (the temp file is truncated). An iterator that
  already yielded bytes cannot take them back, so it raises instead.
* Every failure that leaves the file incomplete raises ``make_incomplete_error(delivered,
  expected)``, with the reason attached as an exception note; never silently short data.
* A body sent with another ``Content-Encoding`` despite the request is decoded in bounded steps
  (gzip or deflate, see ``_bodies``; another encoding is refused) and passed on, but cannot be
  resumed: a drop in it raises.

Resumes are paced like retries: before resume *n* without progress the download waits
``retry_policy.delay_for(n)``, and gives up after ``max_resumes`` such resumes in a row or when
the next wait would take the time since the last progress past ``max_elapsed``. Only bytes past
the furthest position ever reached count as progress.

Chunks are ``chunk_size`` bytes except the last one and the one flushed where a connection
dropped (arrived bytes are never lost); with ``chunk_size=None`` pieces are passed on as they
arrive, uncopied, at most ``AS_ARRIVED_LIMIT`` bytes each.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable
from typing import NamedTuple, NoReturn

import httpx

from ._requests import with_headers
from ._retry import Budget, RetryPolicy

MakeIncompleteError = Callable[[int, int | None], Exception]
"""Builds the error for a file that cannot be completed, from (bytes delivered, size or None)."""
RaiseForStatus = Callable[[httpx.Response], None]
"""Raises the caller's error for a non-2xx response (it must raise)."""
AsyncRaiseForStatus = Callable[[httpx.Response], Awaitable[None]]
"""``RaiseForStatus`` of the async downloads: a coroutine function."""

DROPS: tuple[type[Exception], ...] = (
    httpx.ReadError,
    httpx.RemoteProtocolError,
    httpx.ReadTimeout,
)
"""Transport failures mid-body after which a download resumes."""
_CONTENT_RANGE = r"(?i)^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$"
_UNSATISFIED_RANGE = r"(?i)^\s*bytes\s+\*/(\d+)\s*$"
"""``Content-Range`` of a 416: ``bytes */<size>``. Both patterns are compiled on first use
(``re`` keeps them): a plain stream of a file never needs them."""


def unsatisfied_range(value: str) -> re.Match[str] | None:
    """The size in a 416's ``Content-Range`` (``bytes */<size>``), as a match; None if none."""
    return re.match(_UNSATISFIED_RANGE, value)


class Action(enum.Enum):
    """What to do with a response."""

    BODY = "body"
    """Read its body."""
    DONE = "done"
    """The file is complete; nothing more to read."""
    AGAIN = "again"
    """Send the next request (after the pending wait)."""
    ERROR = "error"
    """A non-2xx answer: raise its mapped error."""


class Start(NamedTuple):
    """A body begins: its bytes land at ``position``; ``etag``/``total`` describe the file."""

    position: int
    """Offset in the file of the body's first byte."""
    etag: str | None
    """The file's ETag, if the server sent one."""
    total: int | None
    """The file's size, None while unknown."""


def parse_int(value: str | None) -> int | None:
    """A header's non-negative integer value, None when it is not one."""
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """``(start, end, size or None)`` of ``bytes start-end/size``; None when malformed."""
    match = re.match(_CONTENT_RANGE, value or "")
    if match is None:
        return None
    start, end = int(match[1]), int(match[2])
    total = None if match[3] == "*" else int(match[3])
    if end < start or (total is not None and end >= total):
        return None
    return start, end, total


class Resume:
    """What a download knows so far, and what each response means for it (no I/O here)."""

    def __init__(
        self,
        template: httpx.Request,
        *,
        max_resumes: int,
        make_incomplete_error: MakeIncompleteError,
        policy: RetryPolicy | None,
        restartable: bool,
        position: int = 0,
        etag: str | None = None,
        total: int | None = None,
    ) -> None:
        self._template = template
        self.position = position
        self.etag = etag
        self.total = total
        self._restartable = restartable
        self._max_resumes = max_resumes
        self._make_error = make_incomplete_error
        self._tries = 0
        self._furthest = position
        self.policy = policy if policy is not None else RetryPolicy()
        self.budget: Budget | None = None
        self.delay: float | None = None
        self._skip = 0
        self._end: int | None = None
        self.decoded = False

    def next_request(self) -> httpx.Request:
        """The request for the rest of the file: ``Range``/``If-Range`` past byte 0."""
        headers = self._template.headers  # copied by the request made from it
        if self.position > 0:
            headers = headers.copy()
            headers["Range"] = f"bytes={self.position}-"
            if self.etag is not None and not self.etag.startswith("W/"):
                headers["If-Range"] = self.etag
        return with_headers(self._template, headers)

    def fail(self, reason: str, cause: BaseException | None = None) -> NoReturn:
        """Raise the incomplete-download error, with ``reason`` as its note."""
        error = self._make_error(self.position, self.total)
        error.add_note(f"download could not be completed: {reason}")
        raise error from cause

    def _changed(self, etag: str | None, total: int | None) -> bool:
        if self.etag is not None and etag is not None and etag != self.etag:
            return True
        return self.total is not None and total is not None and total != self.total

    def _restart(self, reason: str) -> None:
        if not self._restartable:
            self.fail(f"{reason}; bytes already delivered cannot be taken back")
        self.position = 0
        self.etag = None
        self.total = None

    def on_response(self, response: httpx.Response) -> Action:
        """Check a response against what is known; set up skipping for its body."""
        status = response.status_code
        if status == 416 and self.position > 0:
            match = unsatisfied_range(response.headers.get("Content-Range", ""))
            size = int(match[1]) if match is not None else self.total
            etag = response.headers.get("ETag")
            if size == self.position and not self._changed(etag, size):
                self.total = size
                return Action.DONE
            if size is None and not self._restartable:
                return Action.ERROR
            self._restart(
                f"the file changed on the server (a 416 answer gave size {size}, ETag {etag}; "
                f"expected size {self.total}, ETag {self.etag}, {self.position} bytes loaded)"
            )
            return self._again("the file changed on the server")
        if not 200 <= status < 300:
            return Action.ERROR
        etag = response.headers.get("ETag")
        encoding = response.headers.get("Content-Encoding", "").strip().lower()
        decoded = encoding not in ("", "identity")
        if status == 206:
            content_range = parse_content_range(response.headers.get("Content-Range"))
            if decoded:
                self.fail(f"a partial response arrived with Content-Encoding {encoding!r}")
            if content_range is None:
                self.fail("a 206 response had no valid Content-Range")
            start, end, total = content_range
            if self._changed(etag, total):
                self._restart("the file changed on the server (new ETag or size)")
                return self._again("the file changed on the server")
            if start != self.position:
                self.fail(f"asked to resume at byte {self.position}, the server sent from {start}")
            self.etag = etag if etag is not None else self.etag
            self.total = total if total is not None else self.total
            self._skip = 0
            self._end = end + 1
            self.decoded = False
            return Action.BODY
        length = None if decoded else parse_int(response.headers.get("Content-Length"))
        self._skip = 0
        if self.position > 0:
            if self._changed(etag, length):
                self._restart("the file changed on the server (new ETag or size)")
            elif decoded:
                self._restart(f"the server switched to Content-Encoding {encoding!r}")
            elif self._restartable:
                self.position = 0
            else:
                self._skip = self.position
        self.etag = etag
        self.total = length
        self._end = length
        self.decoded = decoded
        return Action.BODY

    def start_event(self) -> Start:
        """The ``Start`` event of the body about to be read."""
        return Start(self.position, self.etag, self.total)

    def feed(self, chunk: bytes) -> bytes:
        """The part of ``chunk`` that is new to the consumer."""
        if self._skip:
            if len(chunk) <= self._skip:
                self._skip -= len(chunk)
                return b""
            chunk = chunk[self._skip :]
            self._skip = 0
        if self._end is not None and self.position + len(chunk) > self._end:
            self.fail("the server sent more bytes than it announced")
        if chunk:
            self.position += len(chunk)
            if self.position > self._furthest:
                self._furthest = self.position
                self._tries = 0
                self.budget = None
        return chunk

    def _again(self, reason: str, cause: BaseException | None = None) -> Action:
        """Count a resume that brought nothing past the furthest byte so far; set its wait."""
        self._tries += 1
        if self._tries > self._max_resumes:
            self.fail(f"{reason}; gave up after {self._max_resumes} resumes in a row", cause)
        if self.budget is None:
            self.budget = Budget(self.policy.max_elapsed)
        delay = self.policy.delay_for(self._tries, None)
        if not self.budget.allows(delay):
            self.fail(
                f"{reason}; gave up after {self._tries} resumes without progress "
                f"(retry time budget of {self.policy.max_elapsed}s)",
                cause,
            )
        self.delay = delay
        return Action.AGAIN

    def take_delay(self) -> float | None:
        """The wait due before the next request, once."""
        delay, self.delay = self.delay, None
        return delay

    def on_drop(self, exc: Exception) -> None:
        """The connection dropped mid-body: resume (counted, paced), or fail."""
        reason = f"the connection dropped ({type(exc).__name__})"
        if self.decoded:
            self.fail(f"{reason} in a Content-Encoded body, which cannot be resumed", exc)
        self._again(reason, exc)

    def on_end(self) -> bool:
        """True when the file is complete; else the next request goes on from ``position``."""
        if self.decoded:
            return True
        if self._skip or (self._end is not None and self.position < self._end):
            self._again("the body ended before its announced length")
            return False
        if self.total is not None and self.position < self.total:
            self._again("the server sent less than the rest of the file")
            return False
        return True


class Chunker:
    """Cuts bytes into ``size`` chunks; what is buffered when a body ends or drops is flushed,
    so a drop never discards bytes that already arrived.

    Each byte is copied at most once: a piece of exactly ``size`` bytes is passed on as is, and
    a chunk made of several pieces is joined from views of them.
    """

    whole = 0
    """Pieces of at most this many bytes may be passed on without ``push`` (none: exact sizes)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._parts: list[bytes | memoryview] = []
        self._held = 0

    def push(self, data: bytes) -> list[bytes]:
        """The whole chunks that ``data`` completes."""
        size, held, length = self._size, self._held, len(data)
        if not held and length == size:
            return [data]
        if held + length < size:
            self._parts.append(data)
            self._held = held + length
            return []
        view = memoryview(data)
        chunks: list[bytes] = []
        start = 0
        if held:
            start = size - held
            self._parts.append(view[:start])
            chunks.append(b"".join(self._parts))
            self._parts = []
        while length - start >= size:
            chunks.append(bytes(view[start : start + size]))
            start += size
        self._held = length - start
        if self._held:
            self._parts.append(view[start:])
        return chunks

    def flush(self) -> bytes:
        """What is held back (where a body ended or dropped)."""
        data = b"".join(self._parts)
        self._parts = []
        self._held = 0
        return data


class AsArrived:
    """Passes pieces on as they arrive (no copy), splitting only those over ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self.whole = limit
        """Pieces of at most this many bytes may be passed on without ``push``."""

    def push(self, data: bytes) -> list[bytes]:
        """``data`` itself, or cut into pieces of ``limit`` bytes."""
        limit = self._limit
        if len(data) <= limit:
            return [data]
        view = memoryview(data)
        return [bytes(view[i : i + limit]) for i in range(0, len(data), limit)]

    def flush(self) -> bytes:
        """Nothing: no bytes are held back."""
        return b""


AS_ARRIVED_LIMIT = 64 * 1024
"""Largest chunk handed over when no ``chunk_size`` is asked for."""


def make_chunker(chunk_size: int | None) -> Chunker | AsArrived:
    """Exact ``chunk_size`` chunks, or pieces as they arrive when it is None."""
    return AsArrived(AS_ARRIVED_LIMIT) if chunk_size is None else Chunker(chunk_size)


def template_of(request: httpx.Request) -> httpx.Request:
    """``request`` asking for ``Accept-Encoding: identity``, without range headers (``request``
    itself when it is that already: a template is copied for each try, never sent)."""
    headers = request.headers
    if headers.get("Accept-Encoding") == "identity" and not (
        "Range" in headers or "If-Range" in headers
    ):
        return request
    headers = headers.copy()
    headers["Accept-Encoding"] = "identity"
    for name in ("Range", "If-Range"):
        headers.pop(name, None)
    return with_headers(request, headers)


def check_options(chunk_size: int | None, max_resumes: int) -> None:
    """Refuse a ``chunk_size`` or ``max_resumes`` that is not a proper int."""
    if chunk_size is None:
        pass
    elif isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    if isinstance(max_resumes, bool) or not isinstance(max_resumes, int) or max_resumes < 0:
        raise ValueError(f"max_resumes must be an int >= 0, got {max_resumes!r}")
