"""Streaming, resumable result-file downloads.

| name | what |
| --- | --- |
| `iter_result_file(client, request, ...)` | ``Iterator[bytes]`` of one file, resumed after drops |
| `aiter_result_file(client, request, ...)` | the ``AsyncIterator[bytes]`` twin |
| `download_to_path(client, request, path, ...)` | atomic write; resumes a partial file |
| `adownload_to_path(client, request, path, ...)` | the async twin |
| `partial_path(path)` | the temp file a download to ``path`` writes (``.<name>.part``) |

All four take keyword arguments ``chunk_size`` (bytes per chunk; None: as they arrive),
``raise_for_status`` (called with a non-2xx response; must raise — the async variants also
accept a coroutine function), ``make_incomplete_error(delivered, expected)`` (builds the
exception for a body that cannot be completed), ``max_resumes`` (resumes in a row that may
bring no byte past the furthest one reached so far; default 5) and ``retry_policy`` (the wait
between resumes; default: the SDK client's own policy).

Resumes are paced like retries: before resume *n* without progress the download waits
``retry_policy.delay_for(n)`` (exponential, jittered; the ``QHUB_SERVICE_RETRY_NO_DELAY`` switch
and injected ``sleep``/``async_sleep`` apply), and gives up when the next wait would take the
time since the last progress past ``max_elapsed``. Only bytes past the furthest position ever
reached count as progress, so a server that ignores ``Range`` and drops at the same place each
time cannot keep a download looping.

How a download stays correct:

* The request asks for ``Accept-Encoding: identity`` so byte offsets mean file offsets, and is
  sent with ``stream=True`` so the body is handed over unread: the first chunk is yielded
  while the rest is still on the wire. Chunks are ``chunk_size`` bytes except
  the last one and the one flushed where a connection dropped (arrived bytes are never lost);
  with ``chunk_size=None`` pieces are passed on as they arrive, uncopied, at most 64 KiB each.
* When the connection drops mid-body (`httpx.ReadError`, `httpx.RemoteProtocolError`,
  `httpx.ReadTimeout`) or the body ends before its ``Content-Length``, the download goes on with
  ``Range: bytes=N-`` and, when the first response had a strong ``ETag``, ``If-Range: <etag>``.
* A 206 must carry ``Content-Range: bytes N-M/size`` starting exactly at N, with the same size
  and ETag as before. A different start is a server fault and raises (never guessed around).
* A 416 to ``Range: bytes=N-`` means "nothing after N": it completes the file only when its
  ``Content-Range: bytes */size`` says size N *and* N is the size announced before (and any
  ETag it carries is the one seen before). Otherwise the file changed on the server.
* A 200 to a resume (the server ignored Range, or If-Range found a new version) is read from the
  start: with the same ETag and size the bytes already delivered are skipped.
* A file that changed on the server (new ETag or size) restarts from byte 0 when nothing has been
  handed out yet or when writing to a file (`download_to_path` truncates its temp file). An
  iterator that already yielded bytes cannot take them back, so it raises instead.
* Every failure that leaves the file incomplete raises ``make_incomplete_error(delivered,
  expected)``, with the reason attached as an exception note; never silently short data.
* A body sent with another ``Content-Encoding`` despite the request is decoded and passed on, but
  cannot be resumed: a drop in it raises.

`download_to_path` writes ``.<name>.part`` next to ``path`` plus a small ``.<name>.part.json``
(ETag, size, which URL), renames the temp file over ``path`` only once its size is verified, and
on the next call resumes a partial file whose record matches the same URL. One download per
destination path at a time.

`download_to_path` takes two more keyword arguments:

* ``on_progress(written, total)``: called when a body starts (``written`` is where it resumes),
  after each chunk written, and at the end with the final size as both numbers; ``total`` is
  None while the size is unknown. After a restart (the file changed on the server) the count
  starts again from 0. An exception it raises stops the download; the partial file is kept.
* ``overwrite`` (default True: an existing ``path`` is replaced, and the record is removed).
  With False, an existing ``path`` is never written; it is kept when it is the server's whole
  file and ``FileExistsError`` is raised otherwise. A download made with ``overwrite=False``
  leaves its record next to the finished file (``.<name>.part.json`` with the URL's hash, the
  ETag, and the file's size and mtime). When that record vouches for the file (same URL,
  size and mtime unchanged) one ``Range: bytes=<size>-`` request checks it: a 416
  ``bytes */<size>`` (with the same ETag, if the answer has one) means complete, and no byte
  is fetched again. Any other file (no record, or edited since) is compared with the server's
  body byte by byte as it streams, and gets a record when it matches. The comparison goes on
  after a dropped connection like a download (``Range`` from the compared offset, the same
  ETag checks, the same paced ``max_resumes`` budget). A 206 (the server's
  file is longer), another size or ETag, or another byte means it is not the server's file.

The destination is checked before anything is sent: a symbolic link is followed (the file it
points to is replaced atomically, with the temp files next to that file, and the link stays);
an existing directory, FIFO, device or socket is refused with an ``OSError`` instead of being
replaced; so is a temp file that is not a regular file (a planted symlink is never followed
when writing), and a name too long to leave room for ``.<name>.part.json``.
"""

from __future__ import annotations

import enum
import errno
import hashlib
import inspect
import json
import os
import re
import stat
import threading
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterator,
    Mapping,
)
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NoReturn

import httpx

from ._retry import RetryPolicy, _async_sleep, _Budget, _sleep

__all__ = [
    "adownload_to_path",
    "aiter_result_file",
    "download_to_path",
    "iter_result_file",
    "partial_path",
]

MakeIncompleteError = Callable[[int, int | None], Exception]
"""Builds the error for a file that cannot be completed, from (bytes delivered, size or None)."""
OnProgress = Callable[[int, int | None], object]
"""Called with ``(bytes written so far, total size or None)`` as a download to a path goes."""
RaiseForStatus = Callable[[httpx.Response], None]
"""Raises the caller's error for a non-2xx response (it must raise)."""
AsyncRaiseForStatus = Callable[[httpx.Response], Awaitable[None] | None]
"""`RaiseForStatus` of the async variants: a plain function or a coroutine function."""

_DROPS: tuple[type[Exception], ...] = (
    httpx.ReadError,
    httpx.RemoteProtocolError,
    httpx.ReadTimeout,
)
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.IGNORECASE)


_CREDENTIAL_HEADERS = ("Authorization", "Proxy-Authorization", "Cookie")


def _scrub(exc: BaseException) -> None:
    """Remove credentials from every request reachable through ``exc`` and the exceptions it
    chains to: an httpx error keeps the request it failed on, and a failed request is never
    sent again."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        error = stack.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        try:
            request = getattr(error, "request", None)
        except RuntimeError:  # an httpx error that was never given its request
            request = None
        if isinstance(request, httpx.Request):
            for name in _CREDENTIAL_HEADERS:
                request.headers.pop(name, None)
        stack.extend(e for e in (error.__cause__, error.__context__) if e is not None)


class _Action(enum.Enum):
    BODY = "body"
    DONE = "done"
    AGAIN = "again"
    ERROR = "error"


@dataclass(frozen=True)
class _Start:
    """A body begins: its bytes land at ``position``; ``etag``/``total`` describe the file."""

    position: int
    etag: str | None
    total: int | None


def _parse_int(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def _parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    match = _CONTENT_RANGE.match(value or "")
    if match is None:
        return None
    start, end = int(match[1]), int(match[2])
    total = None if match[3] == "*" else int(match[3])
    if end < start or (total is not None and end >= total):
        return None
    return start, end, total


class _Resume:
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
        self.budget: _Budget | None = None
        self.delay: float | None = None
        self._skip = 0
        self._end: int | None = None
        self.decoded = False

    def next_request(self) -> httpx.Request:
        headers = self._template.headers.copy()
        if self.position > 0:
            headers["Range"] = f"bytes={self.position}-"
            if self.etag is not None and not self.etag.startswith("W/"):
                headers["If-Range"] = self.etag
        return httpx.Request(
            self._template.method,
            self._template.url,
            headers=headers,
            extensions=dict(self._template.extensions),
        )

    def fail(self, reason: str, cause: BaseException | None = None) -> NoReturn:
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

    def on_response(self, response: httpx.Response) -> _Action:
        """Check a response against what is known; set up skipping for its body."""
        status = response.status_code
        if status == 416 and self.position > 0:
            match = _UNSATISFIED_RANGE.match(response.headers.get("Content-Range", ""))
            size = int(match[1]) if match is not None else self.total
            etag = response.headers.get("ETag")
            if size == self.position and not self._changed(etag, size):
                self.total = size
                return _Action.DONE
            if size is None and not self._restartable:
                return _Action.ERROR
            self._restart(
                f"the file changed on the server (a 416 answer gave size {size}, ETag {etag}; "
                f"expected size {self.total}, ETag {self.etag}, {self.position} bytes loaded)"
            )
            return self._again("the file changed on the server")
        if not 200 <= status < 300:
            return _Action.ERROR
        etag = response.headers.get("ETag")
        encoding = response.headers.get("Content-Encoding", "").strip().lower()
        decoded = encoding not in ("", "identity")
        if status == 206:
            content_range = _parse_content_range(response.headers.get("Content-Range"))
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
            return _Action.BODY
        length = None if decoded else _parse_int(response.headers.get("Content-Length"))
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
        return _Action.BODY

    def start_event(self) -> _Start:
        return _Start(self.position, self.etag, self.total)

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

    def _again(self, reason: str, cause: BaseException | None = None) -> _Action:
        """Count a resume that brought nothing past the furthest byte so far; set its wait."""
        self._tries += 1
        if self._tries > self._max_resumes:
            self.fail(f"{reason}; gave up after {self._max_resumes} resumes in a row", cause)
        if self.budget is None:
            self.budget = _Budget(self.policy.max_elapsed)
        delay = self.policy.delay_for(self._tries, None)
        if not self.budget.allows(delay):
            self.fail(
                f"{reason}; gave up after {self._tries} resumes without progress "
                f"(retry time budget of {self.policy.max_elapsed}s)",
                cause,
            )
        self.delay = delay
        return _Action.AGAIN

    def take_delay(self) -> float | None:
        """The wait due before the next request, once."""
        delay, self.delay = self.delay, None
        return delay

    def on_drop(self, exc: Exception) -> None:
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


class _Chunker:
    """Cuts bytes into ``size`` chunks; what is buffered when a body ends or drops is flushed,
    so a drop never discards bytes that already arrived.

    Each byte is copied at most once: a piece of exactly ``size`` bytes is passed on as is, and
    a chunk made of several pieces is joined from views of them.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._parts: list[bytes | memoryview] = []
        self._held = 0

    def push(self, data: bytes) -> list[bytes]:
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
        data = b"".join(self._parts)
        self._parts = []
        self._held = 0
        return data


class _AsArrived:
    """Passes pieces on as they arrive (no copy), splitting only those over ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self._limit = limit

    def push(self, data: bytes) -> list[bytes]:
        limit = self._limit
        if len(data) <= limit:
            return [data]
        view = memoryview(data)
        return [bytes(view[i : i + limit]) for i in range(0, len(data), limit)]

    def flush(self) -> bytes:
        return b""


AS_ARRIVED_LIMIT = 64 * 1024
"""Largest chunk handed over when no ``chunk_size`` is asked for."""


def _chunker(chunk_size: int | None) -> _Chunker | _AsArrived:
    return _AsArrived(AS_ARRIVED_LIMIT) if chunk_size is None else _Chunker(chunk_size)


def _template(request: httpx.Request) -> httpx.Request:
    headers = request.headers.copy()
    headers["Accept-Encoding"] = "identity"
    for name in ("Range", "If-Range"):
        headers.pop(name, None)
    extensions = dict(request.extensions)
    return httpx.Request(request.method, request.url, headers=headers, extensions=extensions)


def _check_options(chunk_size: int | None, max_resumes: int) -> None:
    if chunk_size is None:
        pass
    elif isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    if isinstance(max_resumes, bool) or not isinstance(max_resumes, int) or max_resumes < 0:
        raise ValueError(f"max_resumes must be an int >= 0, got {max_resumes!r}")


def _events(
    client: httpx.Client,
    state: _Resume,
    chunk_size: int | None,
    raise_for_status: RaiseForStatus,
    first: httpx.Response | None = None,
) -> Generator[bytes | _Start, None, None]:
    """The download's events; ``first`` is a response to ``state.next_request()`` already sent."""
    try:
        while True:
            delay = state.take_delay()
            if delay is not None and state.budget is not None:
                _sleep(state.policy, delay, state.budget)
            if first is not None:
                response, first = first, None
            else:
                response = client.send(state.next_request(), stream=True)
            try:
                action = state.on_response(response)
                if action is _Action.ERROR:
                    raise_for_status(response)
                    response.raise_for_status()
                    state.fail(f"unexpected status {response.status_code}")
                if action is _Action.DONE:
                    return
                if action is _Action.AGAIN:
                    continue
                yield state.start_event()
                pieces = response.iter_bytes() if state.decoded else response.iter_raw()
                chunker = _chunker(chunk_size)
                drop: Exception | None = None
                while True:
                    try:
                        piece = next(pieces)
                    except StopIteration:
                        break
                    except _DROPS as exc:
                        drop = exc
                        break
                    data = state.feed(piece)
                    if data:
                        yield from chunker.push(data)
                rest = chunker.flush()
                if rest:
                    yield rest
                if drop is not None:
                    state.on_drop(drop)
                elif state.on_end():
                    return
            finally:
                response.close()
    except Exception as exc:
        _scrub(exc)
        raise


async def _aevents(
    client: httpx.AsyncClient,
    state: _Resume,
    chunk_size: int | None,
    raise_for_status: AsyncRaiseForStatus,
    first: httpx.Response | None = None,
) -> AsyncGenerator[bytes | _Start, None]:
    """The async twin of `_events`."""
    try:
        while True:
            delay = state.take_delay()
            if delay is not None and state.budget is not None:
                await _async_sleep(state.policy, delay, state.budget)
            if first is not None:
                response, first = first, None
            else:
                response = await client.send(state.next_request(), stream=True)
            try:
                action = state.on_response(response)
                if action is _Action.ERROR:
                    outcome = raise_for_status(response)
                    if inspect.isawaitable(outcome):
                        await outcome
                    response.raise_for_status()
                    state.fail(f"unexpected status {response.status_code}")
                if action is _Action.DONE:
                    return
                if action is _Action.AGAIN:
                    continue
                yield state.start_event()
                pieces = response.aiter_bytes() if state.decoded else response.aiter_raw()
                chunker = _chunker(chunk_size)
                drop: Exception | None = None
                while True:
                    try:
                        piece = await anext(pieces)
                    except StopAsyncIteration:
                        break
                    except _DROPS as exc:
                        drop = exc
                        break
                    data = state.feed(piece)
                    if data:
                        for chunk in chunker.push(data):
                            yield chunk
                rest = chunker.flush()
                if rest:
                    yield rest
                if drop is not None:
                    state.on_drop(drop)
                elif state.on_end():
                    return
            finally:
                await response.aclose()
    except Exception as exc:
        _scrub(exc)
        raise


def iter_result_file(
    client: httpx.Client,
    request: httpx.Request,
    *,
    chunk_size: int | None,
    raise_for_status: RaiseForStatus,
    make_incomplete_error: MakeIncompleteError,
    max_resumes: int = 5,
    retry_policy: RetryPolicy | None = None,
) -> Iterator[bytes]:
    """Yield the file's bytes as they arrive, resuming after drops; closes the response on exit."""
    _check_options(chunk_size, max_resumes)
    state = _Resume(
        _template(request),
        max_resumes=max_resumes,
        make_incomplete_error=make_incomplete_error,
        policy=retry_policy,
        restartable=False,
    )
    events = _events(client, state, chunk_size, raise_for_status)
    try:
        for event in events:
            if isinstance(event, bytes):
                yield event
    finally:
        events.close()


async def aiter_result_file(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    chunk_size: int | None,
    raise_for_status: AsyncRaiseForStatus,
    make_incomplete_error: MakeIncompleteError,
    max_resumes: int = 5,
    retry_policy: RetryPolicy | None = None,
) -> AsyncIterator[bytes]:
    """The async twin of `iter_result_file`; use ``contextlib.aclosing`` to stop early cleanly."""
    _check_options(chunk_size, max_resumes)
    state = _Resume(
        _template(request),
        max_resumes=max_resumes,
        make_incomplete_error=make_incomplete_error,
        policy=retry_policy,
        restartable=False,
    )
    events = _aevents(client, state, chunk_size, raise_for_status)
    try:
        async for event in events:
            if isinstance(event, bytes):
                yield event
    finally:
        await events.aclose()


def partial_path(path: str | os.PathLike[str]) -> Path:
    """The temp file that a download to ``path`` writes before renaming it.

    For a symbolic link it is next to the file the link points to:
    ``partial_path(path.resolve())``.
    """
    target = Path(path)
    return target.with_name(f".{target.name}.part")


def _meta_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _url_key(request: httpx.Request) -> str:
    return hashlib.sha256(str(request.url).encode()).hexdigest()


_NAME_MAX = 255
"""Longest file name, in bytes, that common file systems accept."""
TEMP_SUFFIX_BYTES = len(".") + len(".part.json")
"""Bytes a download's temp names add to the destination's name (``.<name>.part.json``)."""


def _kind(mode: int) -> str:
    kinds = [
        (stat.S_ISDIR, "directory"),
        (stat.S_ISLNK, "symbolic link"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISSOCK, "socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "special file")


def _not_regular(path: Path, what: str, mode: int) -> OSError:
    return OSError(
        errno.EINVAL,
        f"{what} exists and is a {_kind(mode)}, not a regular file; refusing to replace it",
        str(path),
    )


def _target(path: str | os.PathLike[str]) -> Path:
    """The regular file a download to ``path`` replaces, checked before anything is sent.

    A symbolic link is followed: the file it points to is replaced (atomically, with the temp
    file next to it) and the link stays. An existing destination that is not a regular file
    (a directory, FIFO, device or socket) is refused, never replaced.
    """
    given = Path(path)
    if not given.name or given.name in (".", ".."):
        raise ValueError(f"not a file path: {str(path)!r}")
    target = given
    if given.is_symlink():
        try:
            target = given.resolve(strict=False)
        except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
            raise OSError(
                errno.ELOOP,
                "download destination is a symbolic link that cannot be resolved",
                str(given),
            ) from None
    try:
        mode: int | None = target.stat().st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "download destination is a directory", str(given))
    if mode is not None and not stat.S_ISREG(mode):
        raise _not_regular(given, "download destination", mode)
    if not target.parent.is_dir():
        raise FileNotFoundError(
            errno.ENOENT, "directory of the download destination does not exist", str(given)
        )
    if len(os.fsencode(target.name)) + TEMP_SUFFIX_BYTES > _NAME_MAX:
        raise OSError(
            errno.ENAMETOOLONG,
            f"download destination's name is too long for its temp file (at most "
            f"{_NAME_MAX - TEMP_SUFFIX_BYTES} bytes)",
            str(given),
        )
    for temp in (partial_path(target), _meta_path(partial_path(target))):
        try:
            temp_mode = temp.lstat().st_mode
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(temp_mode):
            raise _not_regular(temp, "the download's temp file", temp_mode)
    return target


def _load_partial(part: Path, url_key: str) -> tuple[int, str | None, int | None]:
    """Where to resume ``part`` from: its size, ETag and total, or a fresh start."""
    try:
        size = part.stat().st_size
        record = json.loads(_meta_path(part).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0, None, None
    if not isinstance(record, dict) or record.get("url") != url_key or "done" in record:
        return 0, None, None
    etag, total = record.get("etag"), record.get("total")
    if not (etag is None or isinstance(etag, str)):
        return 0, None, None
    if not (total is None or (isinstance(total, int) and not isinstance(total, bool))):
        return 0, None, None
    if size == 0 or (total is not None and size > total):
        return 0, None, None
    return size, etag, total


_OPEN_FLAGS = (
    os.O_RDWR
    | os.O_CREAT
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_BINARY", 0)
)


def _open_regular(path: Path) -> IO[bytes]:
    """Open (creating) a temp file for reading and writing, refusing anything but a regular
    file: a symlink is not followed and a FIFO or device planted there is never written."""
    try:
        fd = os.open(path, _OPEN_FLAGS, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _not_regular(path, "the download's temp file", stat.S_IFLNK) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(path, "the download's temp file", mode)
        return os.fdopen(fd, "r+b")
    except BaseException:
        os.close(fd)
        raise


class _PartFile:
    """The temp file plus its record; applies download events to them."""

    def __init__(
        self, target: Path, url_key: str, position: int, on_progress: OnProgress | None
    ) -> None:
        self.part = partial_path(target)
        self._meta = _meta_path(self.part)
        self._url_key = url_key
        self._recorded: tuple[str | None, int | None] | None = None
        self._on_progress = on_progress
        self._written = position
        self._total: int | None = None
        self._reported: tuple[int, int | None] | None = None
        self._closing = threading.Lock()
        self.file = _open_regular(self.part)
        self.file.seek(position)
        self.file.truncate()

    def _report(self) -> None:
        if self._on_progress is not None:
            self._reported = (self._written, self._total)
            self._on_progress(self._written, self._total)

    def apply(self, event: bytes | _Start) -> None:
        if isinstance(event, bytes):
            self.file.write(event)
            self._written += len(event)
            self._report()
            return
        if event.position != self.file.tell():
            self.file.seek(event.position)
            self.file.truncate()
        if self._recorded != (event.etag, event.total):
            self.file.flush()
            record = {"url": self._url_key, "etag": event.etag, "total": event.total}
            _write_record(self._meta, record)
            self._recorded = (event.etag, event.total)
        self._written = event.position
        self._total = event.total
        self._report()

    def verify(self, state: _Resume) -> None:
        self.file.flush()
        size = self.file.tell()
        if state.total is not None and size != state.total:
            state.fail(f"the file has {size} bytes, the server announced {state.total}")
        self._written, self._total = size, size
        if self._reported != (size, size):
            self._report()

    def fsync(self) -> None:
        """Flush the file to disk; safe to run in a worker thread: `close` waits for it."""
        with self._closing:
            if not self.file.closed:
                os.fsync(self.file.fileno())

    def close(self) -> None:
        with self._closing:
            self.file.close()

    def discard_if_empty(self) -> None:
        """After a failure: keep a partial file for the next attempt, but not an empty one."""
        self.close()
        try:
            if self.part.stat().st_size == 0:
                self.part.unlink()
                self._meta.unlink(missing_ok=True)
        except OSError:
            pass

    def commit(self, target: Path, keep_record: bool) -> None:
        """Rename the temp file over ``target``; keep a record of it, or remove the record."""
        self.close()
        os.replace(self.part, target)
        if keep_record:
            etag = None if self._recorded is None else self._recorded[0]
            _record_done(target, self._url_key, etag)
        else:
            self._meta.unlink(missing_ok=True)


def _write_record(meta: Path, record: Mapping[str, object]) -> None:
    with _open_regular(meta) as file:
        file.truncate()
        file.write(json.dumps(record).encode())


def _record_done(target: Path, url_key: str, etag: str | None) -> None:
    """Note next to a finished file which download wrote it, and its size and mtime then."""
    info = target.stat()
    done = {"size": info.st_size, "mtime_ns": info.st_mtime_ns}
    record = {"url": url_key, "etag": etag, "total": info.st_size, "done": done}
    _write_record(_meta_path(partial_path(target)), record)


class _Probe(enum.Enum):
    SAME = "same"
    DIFFERS = "differs"
    COMPARE = "compare"
    ERROR = "error"


@dataclass(frozen=True)
class _Existing:
    """A file already at the destination; ``vouched`` when its record says this download
    (same URL) wrote it and it still has the size and mtime it had then."""

    size: int
    vouched: bool
    etag: str | None


def _existing(target: Path, url_key: str, overwrite: bool) -> _Existing | None:
    if overwrite:
        return None
    try:
        info = target.stat()
    except FileNotFoundError:
        return None
    try:
        record = json.loads(_meta_path(partial_path(target)).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = None
    if not isinstance(record, dict) or record.get("url") != url_key:
        return _Existing(info.st_size, False, None)
    done = record.get("done")
    vouched = done == {"size": info.st_size, "mtime_ns": info.st_mtime_ns}
    etag = record.get("etag")
    return _Existing(info.st_size, vouched, etag if vouched and isinstance(etag, str) else None)


def _existing_request(template: httpx.Request, existing: _Existing) -> httpx.Request:
    """A vouched file is checked with ``Range: bytes=<size>-`` (a bodiless 416 when it is
    complete); any other file is compared with the whole body."""
    headers = template.headers.copy()
    if existing.vouched:
        headers["Range"] = f"bytes={existing.size}-"
    return httpx.Request(
        template.method, template.url, headers=headers, extensions=dict(template.extensions)
    )


def _existing_verdict(response: httpx.Response, existing: _Existing) -> _Probe:
    status = response.status_code
    etag = response.headers.get("ETag")
    new_etag = existing.etag is not None and etag is not None and etag != existing.etag
    if status == 416 and existing.vouched:
        match = _UNSATISFIED_RANGE.match(response.headers.get("Content-Range", ""))
        same = match is not None and int(match[1]) == existing.size and not new_etag
        return _Probe.SAME if same else _Probe.DIFFERS
    if status == 206:
        return _Probe.DIFFERS  # the server's file goes on after ``size`` bytes
    if not 200 <= status < 300:
        return _Probe.ERROR
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    length = _parse_int(response.headers.get("Content-Length"))
    if new_etag or (encoding in ("", "identity") and length not in (None, existing.size)):
        return _Probe.DIFFERS
    return _Probe.COMPARE


def _differs(path: Path) -> FileExistsError:
    return FileExistsError(
        errno.EEXIST,
        "already exists and is not the server's file (pass overwrite=True to replace it)",
        str(path),
    )


class _Comparison:
    """Compares the events of a download with a local file instead of writing them."""

    def __init__(self, local: IO[bytes], existing: _Existing) -> None:
        self._local = local
        self._existing = existing

    def matches(self, event: bytes | _Start) -> bool:
        """False as soon as the server's file is known to differ from the local one."""
        if isinstance(event, bytes):
            return self._local.read(len(event)) == event
        existing = self._existing
        if event.total is not None and event.total != existing.size:
            return False
        if existing.etag is not None and event.etag not in (None, existing.etag):
            return False
        self._local.seek(event.position)
        return True

    def at_end(self) -> bool:
        return self._local.read(1) == b""


def _compare_state(
    template: httpx.Request,
    max_resumes: int,
    make_incomplete_error: MakeIncompleteError,
    retry_policy: RetryPolicy | None,
) -> _Resume:
    """A comparison goes on after a drop like a download (a restart re-reads the local file)."""
    return _Resume(
        template,
        max_resumes=max_resumes,
        make_incomplete_error=make_incomplete_error,
        policy=retry_policy,
        restartable=True,
    )


def _confirm_existing(
    client: httpx.Client,
    state: _Resume,
    target: Path,
    existing: _Existing,
    raise_for_status: RaiseForStatus,
) -> tuple[bool, str | None]:
    """Whether ``target`` is the server's whole file, and the file's ETag; nothing is written."""
    response: httpx.Response | None = None
    try:
        response = client.send(_existing_request(state.next_request(), existing), stream=True)
        verdict = _existing_verdict(response, existing)
        etag = response.headers.get("ETag", existing.etag)
        if verdict is _Probe.ERROR:
            raise_for_status(response)
            response.raise_for_status()
        if verdict is not _Probe.COMPARE:
            return verdict is _Probe.SAME, etag
        events = _events(client, state, None, raise_for_status, first=response)
        try:
            with target.open("rb") as local:
                comparison = _Comparison(local, existing)
                for event in events:
                    if not comparison.matches(event):
                        return False, state.etag
                return comparison.at_end(), state.etag or existing.etag
        finally:
            events.close()
    except Exception as exc:
        _scrub(exc)
        raise
    finally:
        if response is not None:
            response.close()


async def _aconfirm_existing(
    client: httpx.AsyncClient,
    state: _Resume,
    target: Path,
    existing: _Existing,
    raise_for_status: AsyncRaiseForStatus,
) -> tuple[bool, str | None]:
    """The async twin of `_confirm_existing`."""
    response: httpx.Response | None = None
    try:
        request = _existing_request(state.next_request(), existing)
        response = await client.send(request, stream=True)
        verdict = _existing_verdict(response, existing)
        etag = response.headers.get("ETag", existing.etag)
        if verdict is _Probe.ERROR:
            outcome = raise_for_status(response)
            if inspect.isawaitable(outcome):
                await outcome
            response.raise_for_status()
        if verdict is not _Probe.COMPARE:
            return verdict is _Probe.SAME, etag
        events = _aevents(client, state, None, raise_for_status, first=response)
        try:
            with target.open("rb") as local:
                comparison = _Comparison(local, existing)
                async for event in events:
                    if not comparison.matches(event):
                        return False, state.etag
                return comparison.at_end(), state.etag or existing.etag
        finally:
            await events.aclose()
    except Exception as exc:
        _scrub(exc)
        raise
    finally:
        if response is not None:
            await response.aclose()


def _kept(
    path: str | os.PathLike[str],
    target: Path,
    key: str,
    existing: _Existing,
    verdict: tuple[bool, str | None],
    on_progress: OnProgress | None,
) -> Path:
    """The end of a download that found ``target`` already complete (or raises)."""
    same, etag = verdict
    if not same:
        raise _differs(Path(path))
    if not existing.vouched:
        _record_done(target, key, etag)
    if on_progress is not None:
        on_progress(existing.size, existing.size)
    return Path(path)


def _check_progress(on_progress: OnProgress | None) -> None:
    if on_progress is not None and not callable(on_progress):
        raise TypeError(f"on_progress must be callable, got {type(on_progress).__name__}")


def download_to_path(
    client: httpx.Client,
    request: httpx.Request,
    path: str | os.PathLike[str],
    *,
    chunk_size: int | None,
    raise_for_status: RaiseForStatus,
    make_incomplete_error: MakeIncompleteError,
    max_resumes: int = 5,
    overwrite: bool = True,
    on_progress: OnProgress | None = None,
    retry_policy: RetryPolicy | None = None,
) -> Path:
    """Download into ``path`` atomically, resuming a partial temp file; returns ``path``.

    With ``overwrite=False`` an existing ``path`` is kept when it is the server's whole file
    (the rule is in the module docstring) and ``FileExistsError`` is raised when it is not;
    nothing is written either way.
    """
    _check_options(chunk_size, max_resumes)
    _check_progress(on_progress)
    target = _target(path)
    template = _template(request)
    key = _url_key(template)
    existing = _existing(target, key, overwrite)
    if existing is not None:
        state = _compare_state(template, max_resumes, make_incomplete_error, retry_policy)
        verdict = _confirm_existing(client, state, target, existing, raise_for_status)
        return _kept(path, target, key, existing, verdict, on_progress)
    position, etag, total = _load_partial(partial_path(target), key)
    state = _Resume(
        template,
        max_resumes=max_resumes,
        make_incomplete_error=make_incomplete_error,
        policy=retry_policy,
        restartable=True,
        position=position,
        etag=etag,
        total=total,
    )
    out = _PartFile(target, key, position, on_progress)
    try:
        events = _events(client, state, chunk_size, raise_for_status)
        try:
            for event in events:
                out.apply(event)
        finally:
            events.close()
        out.verify(state)
        out.fsync()
    except BaseException:
        out.discard_if_empty()
        raise
    out.commit(target, keep_record=not overwrite)
    return Path(path)


async def adownload_to_path(
    client: httpx.AsyncClient,
    request: httpx.Request,
    path: str | os.PathLike[str],
    *,
    chunk_size: int | None,
    raise_for_status: AsyncRaiseForStatus,
    make_incomplete_error: MakeIncompleteError,
    max_resumes: int = 5,
    overwrite: bool = True,
    on_progress: OnProgress | None = None,
    retry_policy: RetryPolicy | None = None,
) -> Path:
    """The async twin of `download_to_path` (file writes are local and synchronous;
    ``on_progress`` is a plain function, called without awaiting)."""
    import asyncio  # lazy: sync users never load asyncio

    _check_options(chunk_size, max_resumes)
    _check_progress(on_progress)
    target = _target(path)
    template = _template(request)
    key = _url_key(template)
    existing = _existing(target, key, overwrite)
    if existing is not None:
        state = _compare_state(template, max_resumes, make_incomplete_error, retry_policy)
        verdict = await _aconfirm_existing(client, state, target, existing, raise_for_status)
        return _kept(path, target, key, existing, verdict, on_progress)
    position, etag, total = _load_partial(partial_path(target), key)
    state = _Resume(
        template,
        max_resumes=max_resumes,
        make_incomplete_error=make_incomplete_error,
        policy=retry_policy,
        restartable=True,
        position=position,
        etag=etag,
        total=total,
    )
    out = _PartFile(target, key, position, on_progress)
    try:
        events = _aevents(client, state, chunk_size, raise_for_status)
        try:
            async for event in events:
                out.apply(event)
        finally:
            await events.aclose()
        out.verify(state)
        await asyncio.to_thread(out.fsync)
    except BaseException:
        out.discard_if_empty()
        raise
    out.commit(target, keep_record=not overwrite)
    return Path(path)
