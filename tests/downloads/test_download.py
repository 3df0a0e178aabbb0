"""Resumable result-file streaming and atomic downloads, under scripted faults (sync and async)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gzip
import hashlib
import json
import os
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from _client_support import BASE, FakeGateway
from _client_support import TOKEN as GATEWAY_TOKEN
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kipu_hub_service import (
    AsyncHubServiceClient,
    HubServiceClient,
    IncompleteDownloadError,
    _files,
)
from kipu_hub_service._async.download import download_to_path as adownload_to_path
from kipu_hub_service._async.stream import iter_result_file as aiter_result_file
from kipu_hub_service._files import RECORD_ABOVE, SLOW_FLUSH, partial_path
from kipu_hub_service._retry import RetryPolicy
from kipu_hub_service._sync.download import download_to_path
from kipu_hub_service._sync.stream import iter_result_file
from kipu_hub_service.mock import FaultConfig, FaultKind, MockGateway, Timing
from kipu_hub_service.testing import retries_without_delay, sdk_transport

URL = "http://gateway.test/acme/vqe/v1/exec-1/result/result.bin"
OTHER_URL = "http://gateway.test/acme/vqe/v1/exec-2/result/result.bin"
MODES = ["sync", "async"]
CONTENT = b"".join(hashlib.sha256(b"%d" % i).digest() for i in range(313))[:10_000]
NEW_CONTENT = b"".join(hashlib.sha256(b"new %d" % i).digest() for i in range(386))[:12_345]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Incomplete(Exception):
    def __init__(self, delivered: int, expected: int | None) -> None:
        super().__init__(f"incomplete download: {delivered} of {expected} bytes")
        self.delivered = delivered
        self.expected = expected


class StatusError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"status {status}")
        self.status = status


def raise_for_status(response: httpx.Response) -> None:
    response.read()
    raise StatusError(response.status_code)


async def araise_for_status(response: httpx.Response) -> None:
    await response.aread()
    raise StatusError(response.status_code)


class Body(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body sent in small pieces that can drop (raise) or end early after some bytes."""

    def __init__(
        self,
        data: bytes,
        *,
        piece: int,
        drop_after: int | None,
        end_after: int | None,
        error: type[Exception],
    ) -> None:
        self.data = data
        self.piece = piece
        self.drop_after = drop_after
        self.end_after = end_after
        self.error = error
        self.drops = (
            drop_after is not None
            and drop_after <= len(data)
            and (end_after is None or drop_after <= end_after)
        )
        self.sent = 0
        self.closed = False

    def _pieces(self) -> Iterator[bytes]:
        limit = len(self.data)
        for cut in (self.drop_after, self.end_after):
            if cut is not None:
                limit = min(limit, cut)
        while self.sent < limit:
            part = self.data[self.sent : min(self.sent + self.piece, limit)]
            self.sent += len(part)
            yield part
        if self.drops:
            raise self.error("connection dropped mid-body")

    def __iter__(self) -> Iterator[bytes]:
        yield from self._pieces()

    async def __aiter__(self) -> Any:
        for part in self._pieces():
            yield part

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


@dataclass
class Fault:
    """What goes wrong with one response."""

    drop_after: int | None = None
    error: type[Exception] = httpx.ReadError
    end_after: int | None = None
    ignore_range: bool = False
    start_at: int | None = None
    replace_with: bytes | None = None
    status: int | None = None
    no_length: bool = False
    extra: bytes = b""


@dataclass
class FileServer:
    """A result-file endpoint honouring Range/If-Range, with one scripted fault per request."""

    content: bytes
    faults: list[Fault] = field(default_factory=list)
    etag: str | None = '"v1"'
    piece: int = 97
    honour_if_range: bool = True
    gzip: bool = False
    requests: list[httpx.Request] = field(default_factory=list)
    bodies: list[Body] = field(default_factory=list)
    version: int = 1

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        fault = self.faults.pop(0) if self.faults else Fault()
        if fault.replace_with is not None:
            self.content = fault.replace_with
            self.version += 1
            self.etag = f'"v{self.version}"' if self.etag is not None else None
        if fault.status is not None:
            return httpx.Response(fault.status, json={"detail": "scripted"})
        size = len(self.content)
        start, partial = 0, False
        asked = request.headers.get("Range")
        if asked is not None and not fault.ignore_range:
            if_range = request.headers.get("If-Range")
            if if_range is None or if_range == self.etag or not self.honour_if_range:
                start, partial = int(asked.removeprefix("bytes=").removesuffix("-")), True
        if partial and start >= size:
            headers = {"Content-Range": f"bytes */{size}"}
            if self.etag is not None:
                headers["ETag"] = self.etag
            return httpx.Response(416, headers=headers, json={"detail": "range"})
        if fault.start_at is not None:
            start = fault.start_at
        headers = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
        if self.etag is not None:
            headers["ETag"] = self.etag
        data = self.content[start:] + fault.extra
        if self.gzip:
            data = gzip.compress(data)
            headers["Content-Encoding"] = "gzip"
        if not fault.no_length:
            headers["Content-Length"] = str(len(data) - len(fault.extra))
        if partial:
            headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
        body = Body(
            data,
            piece=self.piece,
            drop_after=fault.drop_after,
            end_after=fault.end_after,
            error=fault.error,
        )
        self.bodies.append(body)
        return httpx.Response(206 if partial else 200, headers=headers, stream=body)


NO_WAIT = RetryPolicy(sleep=lambda _delay: None)


def sync_client(server: FileServer) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(server))


def async_client(server: FileServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(server))


def fetch_sync(server: FileServer, into: bytearray, url: str, **options: Any) -> bytes:
    options.setdefault("chunk_size", 1000)
    options.setdefault("retry_policy", NO_WAIT)
    with sync_client(server) as client:
        for chunk in iter_result_file(
            client,
            client.build_request("GET", url),
            raise_for_status=raise_for_status,
            make_incomplete_error=Incomplete,
            **options,
        ):
            assert 0 < len(chunk) <= options["chunk_size"]
            into += chunk
    return bytes(into)


async def fetch(
    mode: str,
    server: FileServer,
    into: bytearray | None = None,
    url: str = URL,
    **options: Any,
) -> bytes:
    """The whole file through ``iter_result_file``/``aiter_result_file``; ``into`` keeps what
    arrived before an error."""
    into = bytearray() if into is None else into
    if mode == "sync":
        return fetch_sync(server, into, url, **options)
    options.setdefault("chunk_size", 1000)
    options.setdefault("retry_policy", NO_WAIT)
    async with async_client(server) as client:
        async for chunk in aiter_result_file(
            client,
            client.build_request("GET", url),
            raise_for_status=araise_for_status,
            make_incomplete_error=Incomplete,
            **options,
        ):
            assert 0 < len(chunk) <= options["chunk_size"]
            into += chunk
    return bytes(into)


def ranges(server: FileServer) -> list[tuple[str | None, str | None]]:
    return [(r.headers.get("Range"), r.headers.get("If-Range")) for r in server.requests]


# --- streaming -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_whole_file_arrives_in_one_request(mode: str) -> None:
    server = FileServer(CONTENT)
    assert sha(await fetch(mode, server)) == sha(CONTENT)
    assert ranges(server) == [(None, None)]
    assert server.requests[0].headers["Accept-Encoding"] == "identity"
    assert all(body.closed for body in server.bodies)


@pytest.mark.parametrize("piece", [7, 100, 333, 5_000])
def test_chunks_have_the_requested_size(piece: int) -> None:
    server = FileServer(CONTENT, piece=piece, faults=[Fault(drop_after=4_444)])
    with sync_client(server) as client:
        chunks = list(
            iter_result_file(
                client,
                client.build_request("GET", URL),
                chunk_size=100,
                raise_for_status=raise_for_status,
                make_incomplete_error=Incomplete,
            )
        )
    assert b"".join(chunks) == CONTENT
    # Whole chunks, except the 44 bytes flushed at the drop and the last 56 of the file.
    assert sorted(len(c) for c in chunks if len(c) != 100) == [44, 56]


@pytest.mark.parametrize("mode", MODES)
async def test_empty_file(mode: str) -> None:
    server = FileServer(b"")
    assert await fetch(mode, server) == b""
    assert len(server.requests) == 1


def test_first_chunk_arrives_before_the_body_is_finished() -> None:
    server = FileServer(CONTENT, piece=100)
    with sync_client(server) as client:
        chunks = iter_result_file(
            client,
            client.build_request("GET", URL),
            chunk_size=100,
            raise_for_status=raise_for_status,
            make_incomplete_error=Incomplete,
        )
        first = next(chunks)
        assert first == CONTENT[:100]
        assert server.bodies[0].sent < len(CONTENT)
        rest = b"".join(chunks)
    assert first + rest == CONTENT


async def test_first_chunk_arrives_before_the_body_is_finished_async() -> None:
    server = FileServer(CONTENT, piece=100)
    async with async_client(server) as client:
        chunks = aiter_result_file(
            client,
            client.build_request("GET", URL),
            chunk_size=100,
            raise_for_status=araise_for_status,
            make_incomplete_error=Incomplete,
        )
        async with contextlib.aclosing(chunks):
            first = await anext(chunks)
            assert first == CONTENT[:100]
            assert server.bodies[0].sent < len(CONTENT)
            rest = b"".join([chunk async for chunk in chunks])
    assert first + rest == CONTENT


def test_stopping_early_closes_the_response() -> None:
    server = FileServer(CONTENT)
    with sync_client(server) as client:
        chunks = iter_result_file(
            client,
            client.build_request("GET", URL),
            chunk_size=500,
            raise_for_status=raise_for_status,
            make_incomplete_error=Incomplete,
        )
        next(chunks)
        assert not server.bodies[0].closed
        chunks.close()  # type: ignore[attr-defined]
    assert server.bodies[0].closed


async def test_stopping_early_closes_the_response_async() -> None:
    server = FileServer(CONTENT)
    async with async_client(server) as client:
        chunks = aiter_result_file(
            client,
            client.build_request("GET", URL),
            chunk_size=500,
            raise_for_status=araise_for_status,
            make_incomplete_error=Incomplete,
        )
        async with contextlib.aclosing(chunks):
            await anext(chunks)
            assert not server.bodies[0].closed
    assert server.bodies[0].closed


# --- resuming --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("error", [httpx.ReadError, httpx.RemoteProtocolError, httpx.ReadTimeout])
async def test_drop_mid_body_resumes_with_range_and_if_range(
    mode: str, error: type[Exception]
) -> None:
    server = FileServer(CONTENT, faults=[Fault(drop_after=3_050, error=error)])
    assert sha(await fetch(mode, server)) == sha(CONTENT)
    # The 50 bytes buffered after 3 whole 1000-byte chunks are delivered, not lost.
    assert ranges(server) == [(None, None), ("bytes=3050-", '"v1"')]
    assert all(body.closed for body in server.bodies)


@pytest.mark.parametrize("mode", MODES)
async def test_body_shorter_than_content_length_resumes(mode: str) -> None:
    server = FileServer(CONTENT, faults=[Fault(end_after=5_000)])
    assert sha(await fetch(mode, server, chunk_size=250)) == sha(CONTENT)
    assert ranges(server) == [(None, None), ("bytes=5000-", '"v1"')]


@pytest.mark.parametrize("mode", MODES)
async def test_short_body_that_cannot_resume_is_an_error(mode: str) -> None:
    server = FileServer(CONTENT, faults=[Fault(end_after=5_000)])
    received = bytearray()
    with pytest.raises(Incomplete) as caught:
        await fetch(mode, server, received, max_resumes=0)
    assert (caught.value.delivered, caught.value.expected) == (5_000, len(CONTENT))
    assert bytes(received) == CONTENT[:5_000]
    assert any("ended before its announced length" in n for n in caught.value.__notes__)


@pytest.mark.parametrize("mode", MODES)
async def test_drops_without_progress_give_up_after_max_resumes(mode: str) -> None:
    faults = [Fault(drop_after=2_000)] + [Fault(drop_after=0)] * 10
    server = FileServer(CONTENT, faults=faults)
    received = bytearray()
    with pytest.raises(Incomplete) as caught:
        await fetch(mode, server, received, max_resumes=3)
    assert caught.value.delivered == 2_000
    assert bytes(received) == CONTENT[:2_000]
    assert len(server.requests) == 1 + 3
    assert isinstance(caught.value.__cause__, httpx.ReadError)


@pytest.mark.parametrize("mode", MODES)
async def test_many_drops_with_progress_complete(mode: str) -> None:
    server = FileServer(CONTENT, faults=[Fault(drop_after=700)] * 20)
    assert sha(await fetch(mode, server, chunk_size=100, max_resumes=1)) == sha(CONTENT)
    assert len(server.requests) == 15


@pytest.mark.parametrize("mode", MODES)
async def test_server_ignoring_range_skips_delivered_bytes(mode: str) -> None:
    server = FileServer(CONTENT, faults=[Fault(drop_after=4_321), Fault(ignore_range=True)])
    assert sha(await fetch(mode, server)) == sha(CONTENT)
    assert ranges(server) == [(None, None), ("bytes=4321-", '"v1"')]


@pytest.mark.parametrize("mode", MODES)
async def test_server_ignoring_range_repeatedly(mode: str) -> None:
    faults = [Fault(drop_after=2_500), Fault(ignore_range=True, drop_after=6_100)]
    faults.append(Fault(ignore_range=True))
    server = FileServer(CONTENT, faults=faults)
    assert sha(await fetch(mode, server, chunk_size=300)) == sha(CONTENT)
    assert [r for r, _ in ranges(server)] == [None, "bytes=2500-", "bytes=6100-"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("start_at", [2_000, 3_500])
async def test_partial_response_at_the_wrong_offset_is_an_error(mode: str, start_at: int) -> None:
    server = FileServer(CONTENT, faults=[Fault(drop_after=3_000), Fault(start_at=start_at)])
    received = bytearray()
    with pytest.raises(Incomplete) as caught:
        await fetch(mode, server, received)
    assert bytes(received) == CONTENT[:3_000]
    assert any(f"the server sent from {start_at}" in n for n in caught.value.__notes__)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("honour_if_range", [True, False])
async def test_file_changed_after_bytes_were_delivered_is_an_error(
    mode: str, honour_if_range: bool
) -> None:
    faults = [Fault(drop_after=3_000), Fault(replace_with=NEW_CONTENT)]
    server = FileServer(CONTENT, faults=faults, honour_if_range=honour_if_range)
    received = bytearray()
    with pytest.raises(Incomplete) as caught:
        await fetch(mode, server, received)
    assert bytes(received) == CONTENT[:3_000]
    assert any("cannot be taken back" in n for n in caught.value.__notes__)


@pytest.mark.parametrize("mode", MODES)
async def test_file_changed_before_any_byte_was_delivered_restarts(mode: str) -> None:
    faults = [Fault(drop_after=0), Fault(replace_with=NEW_CONTENT)]
    server = FileServer(CONTENT, faults=faults)
    assert sha(await fetch(mode, server)) == sha(NEW_CONTENT)
    assert ranges(server) == [(None, None), (None, None)]


@pytest.mark.parametrize("mode", MODES)
async def test_weak_etag_is_compared_but_not_sent_as_if_range(mode: str) -> None:
    server = FileServer(CONTENT, etag='W/"weak"', faults=[Fault(drop_after=5_000)])
    assert sha(await fetch(mode, server)) == sha(CONTENT)
    assert ranges(server) == [(None, None), ("bytes=5000-", None)]


@pytest.mark.parametrize("mode", MODES)
async def test_without_etag_the_size_is_still_checked(mode: str) -> None:
    faults = [Fault(drop_after=5_000), Fault(replace_with=NEW_CONTENT)]
    server = FileServer(CONTENT, etag=None, faults=faults)
    with pytest.raises(Incomplete):
        await fetch(mode, server)
    assert ranges(server) == [(None, None), ("bytes=5000-", None)]


@pytest.mark.parametrize("mode", MODES)
async def test_chunked_body_that_drops_resumes(mode: str) -> None:
    faults = [Fault(no_length=True, drop_after=6_000, error=httpx.RemoteProtocolError)]
    server = FileServer(CONTENT, faults=faults)
    assert sha(await fetch(mode, server)) == sha(CONTENT)
    assert ranges(server) == [(None, None), ("bytes=6000-", '"v1"')]


@pytest.mark.parametrize("mode", MODES)
async def test_drop_after_the_last_byte_ends_with_range_not_satisfiable(mode: str) -> None:
    server = FileServer(CONTENT, faults=[Fault(drop_after=len(CONTENT))])
    assert sha(await fetch(mode, server, chunk_size=100)) == sha(CONTENT)
    assert ranges(server) == [(None, None), (f"bytes={len(CONTENT)}-", '"v1"')]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("etag", ['"v1"', None])
async def test_range_not_satisfiable_for_a_shorter_file_is_not_success(
    mode: str, etag: str | None
) -> None:
    # 10 000 bytes announced, 3 000 arrive, then the file is 3 000 bytes long: the 416
    # "bytes */3000" matches the bytes received but not the size announced before.
    faults = [Fault(drop_after=3_000), Fault(replace_with=CONTENT[:3_000])]
    server = FileServer(CONTENT, faults=faults, etag=etag, honour_if_range=False)
    received = bytearray()
    with pytest.raises(Incomplete) as caught:
        await fetch(mode, server, received)
    assert bytes(received) == CONTENT[:3_000]
    assert any("changed on the server" in n for n in caught.value.__notes__)
    assert server.requests[-1].headers["Range"] == "bytes=3000-"


@pytest.mark.parametrize("mode", MODES)
async def test_range_not_satisfiable_with_a_new_etag_is_not_success(mode: str) -> None:
    # Every byte arrived, then the file was replaced by one of the same size: the 416 has
    # the right size but a new ETag.
    faults = [Fault(drop_after=len(CONTENT)), Fault(replace_with=CONTENT[::-1])]
    server = FileServer(CONTENT, faults=faults, honour_if_range=False)
    with pytest.raises(Incomplete) as caught:
        await fetch(mode, server, chunk_size=100)
    assert any("changed on the server" in n for n in caught.value.__notes__)


@pytest.mark.parametrize("mode", MODES)
async def test_download_restarts_when_a_416_shows_the_file_changed(
    mode: str, tmp_path: Path
) -> None:
    target = tmp_path / "result.bin"
    faults = [Fault(drop_after=3_000), Fault(replace_with=CONTENT[:3_000])]
    server = FileServer(CONTENT, faults=faults, honour_if_range=False)
    await save(mode, server, target)
    assert target.read_bytes() == CONTENT[:3_000]
    assert [r for r, _ in ranges(server)] == [None, "bytes=3000-", None]
    assert server.bodies[-1].sent == 3_000


@pytest.mark.parametrize("mode", MODES)
async def test_error_status_goes_to_raise_for_status(mode: str) -> None:
    server = FileServer(CONTENT, faults=[Fault(status=404)])
    with pytest.raises(StatusError) as caught:
        await fetch(mode, server)
    assert caught.value.status == 404


@pytest.mark.parametrize("mode", MODES)
async def test_error_status_on_a_resume_goes_to_raise_for_status(mode: str) -> None:
    server = FileServer(CONTENT, faults=[Fault(drop_after=3_000), Fault(status=403)])
    received = bytearray()
    with pytest.raises(StatusError):
        await fetch(mode, server, received)
    assert bytes(received) == CONTENT[:3_000]


@pytest.mark.parametrize("mode", MODES)
async def test_more_bytes_than_announced_is_an_error(mode: str) -> None:
    server = FileServer(CONTENT, faults=[Fault(extra=b"surplus")])
    received = bytearray()
    with pytest.raises(Incomplete) as caught:
        await fetch(mode, server, received, chunk_size=4096)
    assert any("more bytes than it announced" in n for n in caught.value.__notes__)
    assert CONTENT.startswith(bytes(received))


@pytest.mark.parametrize("mode", MODES)
async def test_content_encoded_body_is_decoded(mode: str) -> None:
    server = FileServer(CONTENT, gzip=True)
    assert sha(await fetch(mode, server)) == sha(CONTENT)


@pytest.mark.parametrize("mode", MODES)
async def test_content_encoded_body_that_drops_is_an_error(mode: str) -> None:
    server = FileServer(CONTENT, gzip=True, piece=10, faults=[Fault(drop_after=5_000)])
    with pytest.raises(Incomplete) as caught:
        await fetch(mode, server, chunk_size=100)
    assert len(server.requests) == 1
    assert any("Content-Encoded" in n for n in caught.value.__notes__)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "options", [{"chunk_size": 0}, {"chunk_size": -5}, {"max_resumes": -1}, {"chunk_size": "1"}]
)
async def test_bad_options_are_refused(mode: str, options: dict[str, Any]) -> None:
    server = FileServer(CONTENT)
    with pytest.raises(ValueError):
        await fetch(mode, server, **options)
    assert server.requests == []


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    data=st.data(),
    size=st.integers(min_value=0, max_value=6_000),
    chunk_size=st.integers(min_value=1, max_value=700),
    piece=st.integers(min_value=1, max_value=300),
    mode=st.sampled_from(MODES),
)
def test_random_drop_points_never_duplicate_or_lose_bytes(
    data: st.DataObject, size: int, chunk_size: int, piece: int, mode: str
) -> None:
    content = bytes((i * 131 + size) % 251 for i in range(size))
    faults = data.draw(
        st.lists(
            st.builds(
                Fault,
                drop_after=st.integers(min_value=0, max_value=max(size, 1)),
                error=st.sampled_from(
                    [httpx.ReadError, httpx.RemoteProtocolError, httpx.ReadTimeout]
                ),
                ignore_range=st.booleans(),
                no_length=st.booleans(),
            ),
            max_size=6,
        )
    )
    server = FileServer(content, faults=list(faults), piece=piece)
    received = asyncio.run(fetch(mode, server, chunk_size=chunk_size, max_resumes=len(faults)))
    assert sha(received) == sha(content)
    assert len(server.requests) <= len(faults) + 2


# --- download_to_path ------------------------------------------------------------------------


def save_sync(server: FileServer, path: Path, url: str, **options: Any) -> Path:
    options.setdefault("chunk_size", 1000)
    options.setdefault("retry_policy", NO_WAIT)
    with sync_client(server) as client:
        return download_to_path(
            client,
            client.build_request("GET", url),
            path,
            raise_for_status=raise_for_status,
            make_incomplete_error=Incomplete,
            **options,
        )


async def save(mode: str, server: FileServer, path: Path, url: str = URL, **options: Any) -> Path:
    if mode == "sync":
        return save_sync(server, path, url, **options)
    options.setdefault("chunk_size", 1000)
    options.setdefault("retry_policy", NO_WAIT)
    async with async_client(server) as client:
        return await adownload_to_path(
            client,
            client.build_request("GET", url),
            path,
            raise_for_status=araise_for_status,
            make_incomplete_error=Incomplete,
            **options,
        )


async def interrupted(mode: str, target: Path, drop_after: int) -> None:
    """A download of CONTENT that fails after ``drop_after`` bytes, leaving a partial file."""
    with pytest.raises(Incomplete):
        server = FileServer(CONTENT, faults=[Fault(drop_after=drop_after)])
        await save(mode, server, target, max_resumes=0)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize("mode", MODES)
async def test_download_writes_the_file(mode: str, tmp_path: Path) -> None:
    target = tmp_path / "result.bin"
    server = FileServer(CONTENT, faults=[Fault(drop_after=2_500)])
    assert await save(mode, server, target) == target
    assert sha(target.read_bytes()) == sha(CONTENT)
    assert leftovers(tmp_path) == ["result.bin"]
    assert partial_path(target) == tmp_path / ".result.bin.part"


@pytest.mark.parametrize("mode", MODES)
async def test_failed_download_leaves_no_file_at_the_destination(mode: str, tmp_path: Path) -> None:
    target = tmp_path / "result.bin"
    server = FileServer(CONTENT, faults=[Fault(drop_after=3_000)])
    with pytest.raises(Incomplete):
        await save(mode, server, target, max_resumes=0)
    assert not target.exists()
    assert partial_path(target).read_bytes() == CONTENT[:3_000]


@pytest.mark.parametrize("mode", MODES)
async def test_failed_download_keeps_the_old_file(mode: str, tmp_path: Path) -> None:
    target = tmp_path / "result.bin"
    target.write_bytes(b"previous version")
    server = FileServer(CONTENT, faults=[Fault(end_after=100)])
    with pytest.raises(Incomplete):
        await save(mode, server, target, max_resumes=0)
    assert target.read_bytes() == b"previous version"
    server = FileServer(CONTENT)
    await save(mode, server, target)
    assert sha(target.read_bytes()) == sha(CONTENT)


@pytest.mark.parametrize("mode", MODES)
async def test_partial_file_is_resumed(mode: str, tmp_path: Path) -> None:
    target = tmp_path / "result.bin"
    with pytest.raises(Incomplete):
        await save(
            mode, FileServer(CONTENT, faults=[Fault(drop_after=3_000)]), target, max_resumes=0
        )
    server = FileServer(CONTENT)
    await save(mode, server, target)
    assert sha(target.read_bytes()) == sha(CONTENT)
    assert ranges(server) == [("bytes=3000-", '"v1"')]
    assert server.bodies[0].sent == len(CONTENT) - 3_000
    assert leftovers(tmp_path) == ["result.bin"]


@pytest.mark.parametrize("mode", MODES)
async def test_partial_file_of_a_changed_file_starts_over(mode: str, tmp_path: Path) -> None:
    target = tmp_path / "result.bin"
    with pytest.raises(Incomplete):
        await save(
            mode, FileServer(CONTENT, faults=[Fault(drop_after=3_000)]), target, max_resumes=0
        )
    server = FileServer(CONTENT, faults=[Fault(replace_with=NEW_CONTENT)])
    await save(mode, server, target)
    assert sha(target.read_bytes()) == sha(NEW_CONTENT)
    assert ranges(server) == [("bytes=3000-", '"v1"')]


@pytest.mark.parametrize("mode", MODES)
async def test_partial_file_with_server_ignoring_if_range_starts_over(
    mode: str, tmp_path: Path
) -> None:
    target = tmp_path / "result.bin"
    with pytest.raises(Incomplete):
        await save(
            mode, FileServer(CONTENT, faults=[Fault(drop_after=3_000)]), target, max_resumes=0
        )
    server = FileServer(CONTENT, faults=[Fault(replace_with=NEW_CONTENT)], honour_if_range=False)
    await save(mode, server, target)
    assert sha(target.read_bytes()) == sha(NEW_CONTENT)
    assert ranges(server) == [("bytes=3000-", '"v1"'), (None, None)]


@pytest.mark.parametrize("mode", MODES)
async def test_partial_file_with_server_ignoring_range_is_rewritten(
    mode: str, tmp_path: Path
) -> None:
    target = tmp_path / "result.bin"
    with pytest.raises(Incomplete):
        await save(
            mode, FileServer(CONTENT, faults=[Fault(drop_after=3_000)]), target, max_resumes=0
        )
    server = FileServer(CONTENT, faults=[Fault(ignore_range=True)])
    await save(mode, server, target)
    assert sha(target.read_bytes()) == sha(CONTENT)


@pytest.mark.parametrize("mode", MODES)
async def test_file_changing_during_a_download_restarts_the_file(mode: str, tmp_path: Path) -> None:
    target = tmp_path / "result.bin"
    faults = [Fault(drop_after=3_000), Fault(replace_with=NEW_CONTENT, drop_after=5_000)]
    server = FileServer(CONTENT, faults=faults)
    await save(mode, server, target)
    assert sha(target.read_bytes()) == sha(NEW_CONTENT)
    assert [r for r, _ in ranges(server)] == [None, "bytes=3000-", "bytes=5000-"]


@pytest.mark.parametrize("mode", MODES)
async def test_partial_file_of_another_url_is_not_resumed(mode: str, tmp_path: Path) -> None:
    target = tmp_path / "result.bin"
    with pytest.raises(Incomplete):
        await save(
            mode,
            FileServer(NEW_CONTENT, faults=[Fault(drop_after=3_000)]),
            target,
            OTHER_URL,
            max_resumes=0,
        )
    server = FileServer(CONTENT)
    await save(mode, server, target)
    assert sha(target.read_bytes()) == sha(CONTENT)
    assert ranges(server) == [(None, None)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("record", [None, "not json", '{"url": 5}', '["list"]'])
async def test_partial_file_without_a_valid_record_starts_over(
    mode: str, tmp_path: Path, record: str | None
) -> None:
    target = tmp_path / "result.bin"
    part = partial_path(target)
    part.write_bytes(b"x" * 4_000)
    if record is not None:
        part.with_name(part.name + ".json").write_text(record)
    server = FileServer(CONTENT)
    await save(mode, server, target)
    assert sha(target.read_bytes()) == sha(CONTENT)
    assert ranges(server) == [(None, None)]
    assert leftovers(tmp_path) == ["result.bin"]


@pytest.mark.parametrize("mode", MODES)
async def test_complete_partial_file_is_finished_by_range_not_satisfiable(
    mode: str, tmp_path: Path
) -> None:
    target = tmp_path / "result.bin"
    faults = [Fault(drop_after=len(CONTENT))]
    with pytest.raises(Incomplete):
        await save(mode, FileServer(CONTENT, faults=faults), target, chunk_size=100, max_resumes=0)
    assert partial_path(target).stat().st_size == len(CONTENT)
    server = FileServer(CONTENT)
    await save(mode, server, target)
    assert sha(target.read_bytes()) == sha(CONTENT)
    assert ranges(server) == [(f"bytes={len(CONTENT)}-", '"v1"')]


@pytest.mark.parametrize("mode", MODES)
async def test_partial_file_longer_than_the_new_file_starts_over(mode: str, tmp_path: Path) -> None:
    target = tmp_path / "result.bin"
    with pytest.raises(Incomplete):
        await save(
            mode, FileServer(CONTENT, faults=[Fault(drop_after=9_000)]), target, max_resumes=0
        )
    short = CONTENT[:5_000][::-1]
    server = FileServer(CONTENT, faults=[Fault(replace_with=short)], honour_if_range=False)
    await save(mode, server, target)
    assert sha(target.read_bytes()) == sha(short)
    assert [r for r, _ in ranges(server)] == ["bytes=9000-", None]


@pytest.mark.parametrize("mode", MODES)
async def test_download_error_status_leaves_nothing_behind(mode: str, tmp_path: Path) -> None:
    target = tmp_path / "result.bin"
    with pytest.raises(StatusError):
        await save(mode, FileServer(CONTENT, faults=[Fault(status=404)]), target)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("mode", MODES)
async def test_download_size_is_verified(mode: str, tmp_path: Path) -> None:
    target = tmp_path / "result.bin"
    server = FileServer(CONTENT, faults=[Fault(end_after=9_999)])
    with pytest.raises(Incomplete) as caught:
        await save(mode, server, target, chunk_size=1, max_resumes=0)
    assert (caught.value.delivered, caught.value.expected) == (9_999, len(CONTENT))
    assert not target.exists()
    record = json.loads(partial_path(target).with_name(".result.bin.part.json").read_text())
    assert record["etag"] == '"v1"' and record["total"] == len(CONTENT)


@pytest.mark.parametrize("mode", MODES)
async def test_bad_destinations_are_refused_before_sending(mode: str, tmp_path: Path) -> None:
    server = FileServer(CONTENT)
    with pytest.raises(IsADirectoryError):
        await save(mode, server, tmp_path)
    with pytest.raises(FileNotFoundError):
        await save(mode, server, tmp_path / "missing" / "result.bin")
    assert server.requests == []


@pytest.mark.parametrize("mode", MODES)
async def test_a_symlink_destination_replaces_the_file_it_points_to(
    mode: str, tmp_path: Path
) -> None:
    real = tmp_path / "data" / "real.bin"
    real.parent.mkdir()
    real.write_bytes(b"old")
    link = tmp_path / "link.bin"
    link.symlink_to(real)
    server = FileServer(CONTENT, faults=[Fault(drop_after=2_000)])
    assert await save(mode, server, link) == link
    assert link.is_symlink() and link.readlink() == real
    assert sha(real.read_bytes()) == sha(CONTENT)
    assert leftovers(tmp_path) == ["data", "link.bin"]
    assert leftovers(real.parent) == ["real.bin"]


@pytest.mark.parametrize("mode", MODES)
async def test_a_dangling_symlink_destination_creates_its_target(mode: str, tmp_path: Path) -> None:
    link = tmp_path / "link.bin"
    link.symlink_to(tmp_path / "new.bin")
    await save(mode, FileServer(CONTENT), link)
    assert link.is_symlink()
    assert sha((tmp_path / "new.bin").read_bytes()) == sha(CONTENT)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("through_symlink", [False, True])
async def test_a_fifo_destination_is_refused_before_sending(
    mode: str, tmp_path: Path, through_symlink: bool
) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    destination = fifo
    if through_symlink:
        destination = tmp_path / "link"
        destination.symlink_to(fifo)
    server = FileServer(CONTENT)
    with pytest.raises(OSError, match="FIFO, not a regular file") as caught:
        await save(mode, server, destination)
    assert caught.value.filename == str(destination)
    assert server.requests == []
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert not partial_path(fifo).exists()


@pytest.mark.parametrize("mode", MODES)
async def test_a_symlink_loop_or_a_directory_behind_a_symlink_is_refused(
    mode: str, tmp_path: Path
) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(tmp_path / "loop")
    to_dir = tmp_path / "to_dir"
    to_dir.symlink_to(tmp_path)
    server = FileServer(CONTENT)
    with pytest.raises(OSError, match="cannot be resolved"):
        await save(mode, server, loop)
    with pytest.raises(IsADirectoryError):
        await save(mode, server, to_dir)
    assert server.requests == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("which", ["part", "record"])
@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory"])
async def test_temp_files_that_are_not_regular_files_are_refused(
    mode: str, tmp_path: Path, which: str, kind: str
) -> None:
    target = tmp_path / "result.bin"
    part = partial_path(target)
    temp = part if which == "part" else part.with_name(part.name + ".json")
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    if kind == "symlink":
        temp.symlink_to(victim)
    elif kind == "fifo":
        os.mkfifo(temp)
    else:
        temp.mkdir()
    server = FileServer(CONTENT)
    with pytest.raises(OSError, match="temp file exists and is a"):
        await save(mode, server, target)
    assert server.requests == []
    assert victim.read_bytes() == b"keep me"
    assert not target.exists()


@pytest.mark.parametrize("mode", MODES)
async def test_a_name_too_long_for_the_temp_file_is_refused_before_sending(
    mode: str, tmp_path: Path
) -> None:
    server = FileServer(CONTENT)
    with pytest.raises(OSError, match="too long") as caught:
        await save(mode, server, tmp_path / ("é" * 123))  # 246 bytes + 11 for the temp name
    assert caught.value.errno == errno.ENAMETOOLONG
    await save(mode, server, tmp_path / ("é" * 122))
    assert len(server.requests) == 1


# --- progress and existing files ---------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_on_progress_counts_up_to_the_file_size(mode: str, tmp_path: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    server = FileServer(CONTENT, faults=[Fault(drop_after=2_500)])
    target = tmp_path / "result.bin"
    await save(mode, server, target, on_progress=lambda n, total: seen.append((n, total)))
    counts = [n for n, _ in seen]
    assert counts == sorted(counts)
    assert seen[0] == (0, len(CONTENT))
    assert seen[-1] == (len(CONTENT), len(CONTENT))
    assert {total for _, total in seen} == {len(CONTENT)}
    assert 2_500 in counts  # the resume reports where it goes on from
    assert len(seen) >= len(CONTENT) // 1000


@pytest.mark.parametrize("mode", MODES)
async def test_on_progress_of_a_resumed_partial_file_starts_where_it_was(
    mode: str, tmp_path: Path
) -> None:
    target = tmp_path / "result.bin"
    await interrupted(mode, target, 3_000)
    seen: list[tuple[int, int | None]] = []
    await save(mode, FileServer(CONTENT), target, on_progress=lambda *a: seen.append(a))
    assert seen[0] == (3_000, len(CONTENT))
    assert seen[-1] == (len(CONTENT), len(CONTENT))
    assert [n for n, _ in seen] == sorted(n for n, _ in seen)


@pytest.mark.parametrize("mode", MODES)
async def test_on_progress_without_a_known_size(mode: str, tmp_path: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    server = FileServer(CONTENT, faults=[Fault(no_length=True)])
    await save(mode, server, tmp_path / "f", on_progress=lambda *a: seen.append(a))
    assert seen[0] == (0, None)
    assert seen[-1] == (len(CONTENT), len(CONTENT))


@pytest.mark.parametrize("mode", MODES)
async def test_an_exception_from_on_progress_stops_and_keeps_the_partial_file(
    mode: str, tmp_path: Path
) -> None:
    def stop(written: int, total: int | None) -> None:
        if written >= 4_000:
            raise KeyboardInterrupt

    target = tmp_path / "result.bin"
    with pytest.raises(KeyboardInterrupt):
        await save(mode, FileServer(CONTENT), target, on_progress=stop)
    assert partial_path(target).read_bytes() == CONTENT[:4_000]
    server = FileServer(CONTENT)
    await save(mode, server, target)
    assert sha(target.read_bytes()) == sha(CONTENT)
    assert ranges(server) == [("bytes=4000-", '"v1"')]


BIG = CONTENT * (RECORD_ABOVE // len(CONTENT) + 1)


def record_seen(target: Path) -> tuple[list[dict[str, Any] | None], Any]:
    """``on_progress`` that notes the record on disk (None: none) at every call."""
    seen: list[dict[str, Any] | None] = []
    meta = partial_path(target).with_name(f".{target.name}.part.json")

    def note(written: int, total: int | None) -> None:
        seen.append(json.loads(meta.read_text()) if meta.exists() else None)

    return seen, note


@pytest.mark.parametrize("mode", MODES)
async def test_a_small_body_gets_no_record_unless_it_fails(mode: str, tmp_path: Path) -> None:
    target = tmp_path / "result.bin"
    seen, note = record_seen(target)
    await save(mode, FileServer(CONTENT), target, on_progress=note, overwrite=True)
    assert len(seen) > 2
    assert seen == [None] * len(seen)
    assert leftovers(tmp_path) == ["result.bin"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("no_length", [False, True], ids=["big", "unknown size"])
async def test_a_big_or_unsized_body_is_recorded_before_its_first_byte(
    mode: str, tmp_path: Path, no_length: bool
) -> None:
    """A process killed mid-body (no ``except`` runs) still leaves a resumable partial file."""
    target = tmp_path / "result.bin"
    seen, note = record_seen(target)
    content = CONTENT if no_length else BIG
    server = FileServer(content, faults=[Fault(no_length=no_length)])
    await save(mode, server, target, on_progress=note, chunk_size=65_536)
    total = None if no_length else len(BIG)
    assert seen[0] is not None and seen[0]["total"] == total and seen[0]["etag"] == '"v1"'
    assert sha(target.read_bytes()) == sha(content)


@pytest.mark.parametrize("mode", MODES)
async def test_a_bad_on_progress_is_refused(mode: str, tmp_path: Path) -> None:
    server = FileServer(CONTENT)
    with pytest.raises(TypeError, match="on_progress"):
        await save(mode, server, tmp_path / "f", on_progress=42)
    assert server.requests == []


def record_of(target: Path) -> dict[str, Any]:
    part = partial_path(target)
    record: dict[str, Any] = json.loads(part.with_name(part.name + ".json").read_text())
    return record


@pytest.mark.parametrize("mode", MODES)
async def test_without_overwrite_a_file_it_downloaded_is_kept_after_one_range_check(
    mode: str, tmp_path: Path
) -> None:
    target = tmp_path / "result.bin"
    await save(mode, FileServer(CONTENT), target, overwrite=False)
    assert record_of(target)["done"]["size"] == len(CONTENT)
    before = target.stat()
    seen: list[tuple[int, int | None]] = []
    server = FileServer(CONTENT)
    done = await save(mode, server, target, overwrite=False, on_progress=lambda *a: seen.append(a))
    assert done == target
    assert ranges(server) == [(f"bytes={len(CONTENT)}-", None)]
    assert server.bodies == []  # a 416: no byte of the file was sent again
    assert (target.stat().st_ino, target.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert seen == [(len(CONTENT), len(CONTENT))]
    assert leftovers(tmp_path) == [".result.bin.part.json", "result.bin"]


@pytest.mark.parametrize("mode", MODES)
async def test_without_overwrite_a_file_it_did_not_write_is_compared_byte_by_byte(
    mode: str, tmp_path: Path
) -> None:
    target = tmp_path / "result.bin"
    target.write_bytes(CONTENT)
    before = target.stat()
    server = FileServer(CONTENT)
    await save(mode, server, target, overwrite=False)
    assert ranges(server) == [(None, None)]
    assert target.stat().st_mtime_ns == before.st_mtime_ns
    # Now recorded as complete: the next check is a bodiless one.
    again = FileServer(CONTENT)
    await save(mode, again, target, overwrite=False)
    assert ranges(again) == [(f"bytes={len(CONTENT)}-", None)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("error", [httpx.ReadError, httpx.RemoteProtocolError, httpx.ReadTimeout])
async def test_without_overwrite_a_drop_during_the_comparison_resumes_it(
    mode: str, tmp_path: Path, error: type[Exception]
) -> None:
    target = tmp_path / "result.bin"
    target.write_bytes(CONTENT)
    before = target.stat()
    server = FileServer(CONTENT, faults=[Fault(drop_after=3_000, error=error)])
    assert await save(mode, server, target, overwrite=False) == target
    assert ranges(server) == [(None, None), ("bytes=3000-", '"v1"')]
    assert target.read_bytes() == CONTENT
    assert (target.stat().st_ino, target.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert record_of(target)["done"]["size"] == len(CONTENT)
    assert all(body.closed for body in server.bodies)
    assert not partial_path(target).exists()


@pytest.mark.parametrize("mode", MODES)
async def test_without_overwrite_a_comparison_resumed_from_the_start_is_checked_again(
    mode: str, tmp_path: Path
) -> None:
    target = tmp_path / "result.bin"
    target.write_bytes(CONTENT[:-1] + b"!")
    faults = [Fault(drop_after=3_000), Fault(ignore_range=True)]
    server = FileServer(CONTENT, faults=faults)
    with pytest.raises(FileExistsError):
        await save(mode, server, target, overwrite=False)
    assert ranges(server) == [(None, None), ("bytes=3000-", '"v1"')]
    assert target.read_bytes() == CONTENT[:-1] + b"!"
    same = tmp_path / "same.bin"
    same.write_bytes(CONTENT)
    again = FileServer(CONTENT, faults=[Fault(drop_after=3_000), Fault(ignore_range=True)])
    await save(mode, again, same, overwrite=False)
    assert len(again.requests) == 2


@pytest.mark.parametrize("mode", MODES)
async def test_without_overwrite_a_file_changed_during_the_comparison_is_refused(
    mode: str, tmp_path: Path
) -> None:
    target = tmp_path / "result.bin"
    target.write_bytes(CONTENT)
    faults = [Fault(drop_after=3_000), Fault(replace_with=NEW_CONTENT)]
    server = FileServer(CONTENT, faults=faults)
    with pytest.raises(FileExistsError):
        await save(mode, server, target, overwrite=False)
    assert target.read_bytes() == CONTENT
    assert len(server.requests) <= 3


@pytest.mark.parametrize("mode", MODES)
async def test_without_overwrite_a_comparison_that_keeps_dropping_gives_up(
    mode: str, tmp_path: Path
) -> None:
    target = tmp_path / "result.bin"
    target.write_bytes(CONTENT)
    server = FileServer(CONTENT, faults=[Fault(drop_after=0)] * 20)
    with pytest.raises(Incomplete):
        await save(mode, server, target, overwrite=False, max_resumes=3)
    assert len(server.requests) == 4
    assert target.read_bytes() == CONTENT
    assert not partial_path(target).exists()


@pytest.mark.parametrize("mode", MODES)
async def test_without_overwrite_the_comparison_drops_credentials_from_its_errors(
    mode: str, tmp_path: Path
) -> None:
    target = tmp_path / "result.bin"
    target.write_bytes(CONTENT)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    server = FileServer(CONTENT)
    request = httpx.Request("GET", URL, headers={"Authorization": "Bearer secret-token"})
    with pytest.raises(httpx.ConnectError) as caught:
        if mode == "sync":
            with httpx.Client(transport=httpx.MockTransport(refuse)) as client:
                download_to_path(
                    client,
                    request,
                    target,
                    chunk_size=None,
                    raise_for_status=raise_for_status,
                    make_incomplete_error=Incomplete,
                    overwrite=False,
                )
        else:
            async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as aclient:
                await adownload_to_path(
                    aclient,
                    request,
                    target,
                    chunk_size=None,
                    raise_for_status=araise_for_status,
                    make_incomplete_error=Incomplete,
                    overwrite=False,
                )
    assert "Authorization" not in caught.value.request.headers
    assert server.requests == []
    assert target.read_bytes() == CONTENT


@pytest.mark.parametrize("mode", MODES)
async def test_without_overwrite_a_server_ignoring_range_is_compared(
    mode: str, tmp_path: Path
) -> None:
    target = tmp_path / "result.bin"
    await save(mode, FileServer(CONTENT), target, overwrite=False)
    server = FileServer(CONTENT, faults=[Fault(ignore_range=True)])
    await save(mode, server, target, overwrite=False)
    assert len(server.requests) == 1
    assert sha(target.read_bytes()) == sha(CONTENT)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("local", "downloaded", "server_content"),
    [
        (CONTENT[:4_000], False, CONTENT),  # not ours, another Content-Length
        (CONTENT[::-1], False, CONTENT),  # not ours, same size, other bytes
        (CONTENT, True, NEW_CONTENT),  # ours, the server's file grew: a 206
        (CONTENT, True, CONTENT[:4_000]),  # ours, the server's file shrank: 416, another size
        (CONTENT, True, CONTENT[::-1]),  # ours, same size, new ETag on the 416
        (CONTENT, True, CONTENT),  # ours, but edited since (mtime): compared, differs
    ],
)
async def test_without_overwrite_another_file_is_refused_and_kept(
    mode: str, tmp_path: Path, local: bytes, downloaded: bool, server_content: bytes
) -> None:
    target = tmp_path / "result.bin"
    if downloaded:
        await save(mode, FileServer(CONTENT), target, overwrite=False)
        if server_content == CONTENT:
            target.write_bytes(CONTENT[:-1] + b"!")
            os.utime(target, ns=(1, 1))
            local = target.read_bytes()
    else:
        target.write_bytes(local)
    faults = [] if server_content == CONTENT else [Fault(replace_with=server_content)]
    server = FileServer(CONTENT, faults=faults)
    with pytest.raises(FileExistsError) as caught:
        await save(mode, server, target, overwrite=False)
    assert caught.value.filename == str(target)
    assert "overwrite" in str(caught.value)
    assert target.read_bytes() == local
    assert len(server.requests) == 1
    assert all(body.closed for body in server.bodies)
    assert "result.bin" in leftovers(tmp_path)
    assert not partial_path(target).exists()


@pytest.mark.parametrize("mode", MODES)
async def test_without_overwrite_a_missing_or_empty_file_is_handled(
    mode: str, tmp_path: Path
) -> None:
    target = tmp_path / "result.bin"
    await save(mode, FileServer(CONTENT), target, overwrite=False)
    assert sha(target.read_bytes()) == sha(CONTENT)
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    server = FileServer(b"")
    await save(mode, server, empty, overwrite=False)
    assert ranges(server) == [(None, None)]
    with pytest.raises(FileExistsError):
        await save(mode, FileServer(CONTENT), empty, overwrite=False)


@pytest.mark.parametrize("mode", MODES)
async def test_with_overwrite_the_record_of_a_finished_file_is_removed(
    mode: str, tmp_path: Path
) -> None:
    target = tmp_path / "result.bin"
    await save(mode, FileServer(CONTENT), target, overwrite=False)
    server = FileServer(NEW_CONTENT)
    await save(mode, server, target)
    assert ranges(server) == [(None, None)]
    assert sha(target.read_bytes()) == sha(NEW_CONTENT)
    assert leftovers(tmp_path) == ["result.bin"]


@pytest.mark.parametrize("mode", MODES)
async def test_without_overwrite_an_error_status_is_raised(mode: str, tmp_path: Path) -> None:
    target = tmp_path / "result.bin"
    target.write_bytes(CONTENT)
    with pytest.raises(StatusError):
        await save(mode, FileServer(CONTENT, faults=[Fault(status=404)]), target, overwrite=False)
    assert target.read_bytes() == CONTENT


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    first_drop=st.integers(min_value=0, max_value=len(CONTENT)),
    later=st.lists(st.integers(min_value=0, max_value=len(CONTENT)), max_size=3),
    ignore_range=st.booleans(),
    mode=st.sampled_from(MODES),
)
def test_interrupted_downloads_always_end_byte_identical(
    tmp_path_factory: pytest.TempPathFactory,
    first_drop: int,
    later: list[int],
    ignore_range: bool,
    mode: str,
) -> None:
    directory = tmp_path_factory.mktemp("dl")
    target = directory / "result.bin"
    with contextlib.suppress(Incomplete):
        asyncio.run(
            save(
                mode,
                FileServer(CONTENT, faults=[Fault(drop_after=first_drop)]),
                target,
                chunk_size=256,
                max_resumes=0,
            )
        )
    faults = [Fault(drop_after=d, ignore_range=ignore_range) for d in later]
    asyncio.run(save(mode, FileServer(CONTENT, faults=faults), target, max_resumes=len(faults)))
    assert sha(target.read_bytes()) == sha(CONTENT)
    assert leftovers(directory) == ["result.bin"]


# --- chunk sizes --------------------------------------------------------------------------------


class _Pieces(httpx.SyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    def __iter__(self) -> Iterator[bytes]:
        yield from self.pieces


def _stream(pieces: list[bytes], chunk_size: int | None) -> list[bytes]:
    def handler(request: httpx.Request) -> httpx.Response:
        length = str(sum(map(len, pieces)))
        return httpx.Response(200, headers={"Content-Length": length}, stream=_Pieces(pieces))

    client = httpx.Client(transport=httpx.MockTransport(handler))
    return list(
        iter_result_file(
            client,
            client.build_request("GET", URL),
            chunk_size=chunk_size,
            raise_for_status=raise_for_status,
            make_incomplete_error=Incomplete,
        )
    )


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(st.binary(min_size=1, max_size=300), max_size=12),
    chunk_size=st.integers(min_value=1, max_value=400),
)
def test_a_chunk_size_gives_exact_chunks_from_any_pieces(
    pieces: list[bytes], chunk_size: int
) -> None:
    chunks = _stream(pieces, chunk_size)
    assert b"".join(chunks) == b"".join(pieces)
    assert all(type(chunk) is bytes for chunk in chunks)
    assert all(len(chunk) == chunk_size for chunk in chunks[:-1])
    assert all(0 < len(chunk) <= chunk_size for chunk in chunks)


def test_without_a_chunk_size_pieces_are_passed_on_as_they_arrive() -> None:
    pieces = [b"a" * 10, b"b" * 64 * 1024, b"c" * 3]
    chunks = _stream(pieces, None)
    assert chunks == pieces
    assert all(chunk is piece for chunk, piece in zip(chunks, pieces, strict=True))


def test_without_a_chunk_size_no_chunk_is_over_64_kib() -> None:
    big = bytes(range(256)) * 1024  # 256 KiB + a remainder below
    chunks = _stream([big + b"tail"], None)
    assert b"".join(chunks) == big + b"tail"
    assert [len(chunk) for chunk in chunks] == [64 * 1024] * 4 + [4]


# --- through the SDK client: pacing of resumes, credentials in errors ----------------------------

TOKEN = "SECRET-TOKEN-8c1f"
GATEWAY = "https://gateway.test/acme/vqe/v1"


class DropsAtTheSamePlace(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A 200 body that ignores Range: always 3 bytes from the start, then the connection drops."""

    def __iter__(self) -> Iterator[bytes]:
        yield b"abc"
        raise httpx.ReadError("dropped")

    async def __aiter__(self) -> Any:
        yield b"abc"
        raise httpx.ReadError("dropped")


class IgnoresRange:
    """An endpoint that answers every request with `DropsAtTheSamePlace`."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if len(self.requests) > 50:
            raise AssertionError("the download keeps resuming without progress")
        return httpx.Response(200, headers={"Content-Length": "10"}, stream=DropsAtTheSamePlace())


def sdk_client(mode: str, handler: Any, retry_policy: RetryPolicy = NO_WAIT) -> Any:
    transport = httpx.MockTransport(handler)
    if mode == "sync":
        return HubServiceClient(
            base_url=GATEWAY,
            token=TOKEN,
            httpx_client=httpx.Client(transport=transport),
            retry_policy=retry_policy,
        )
    return AsyncHubServiceClient(
        base_url=GATEWAY,
        token=TOKEN,
        httpx_client=httpx.AsyncClient(transport=transport),
        retry_policy=retry_policy,
    )


async def sdk_get(mode: str, client: Any) -> bytes:
    if mode == "sync":
        return b"".join(client.service_api.get_result_file("e1", "f.bin"))
    return b"".join([c async for c in client.service_api.get_result_file("e1", "f.bin")])


async def sdk_download(mode: str, client: Any, path: Path) -> Path:
    if mode == "sync":
        result: Path = client.service_api.download_result_file("e1", "f.bin", path)
        return result
    return await client.service_api.download_result_file("e1", "f.bin", path)  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("how", ["iterate", "path"])
async def test_a_server_ignoring_range_that_drops_at_the_same_place_gives_up(
    mode: str, how: str, tmp_path: Path
) -> None:
    server = IgnoresRange()
    sleeps: list[float] = []
    client = sdk_client(mode, server, RetryPolicy(sleep=sleeps.append, jitter=0.0))
    with pytest.raises(IncompleteDownloadError) as caught:
        if how == "iterate":
            await sdk_get(mode, client)
        else:
            await sdk_download(mode, client, tmp_path / "f.bin")
    assert len(server.requests) == 1 + 5
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert any("5 resumes in a row" in note for note in caught.value.__notes__)


@pytest.mark.parametrize("mode", MODES)
async def test_resumes_stop_when_their_waits_would_pass_the_time_budget(
    mode: str, tmp_path: Path
) -> None:
    server = IgnoresRange()
    sleeps: list[float] = []
    budget = RetryPolicy(sleep=sleeps.append, jitter=0.0, initial_delay=1.0, max_elapsed=3.5)
    client = sdk_client(mode, server, budget)
    with pytest.raises(IncompleteDownloadError) as caught:
        await sdk_download(mode, client, tmp_path / "f.bin")
    assert sleeps == [1.0, 2.0]
    assert len(server.requests) == 3
    assert any("time budget" in note for note in caught.value.__notes__)


@pytest.mark.parametrize("mode", MODES)
async def test_resume_after_a_drop_is_retried_by_the_client(mode: str, tmp_path: Path) -> None:
    faults = [Fault(drop_after=3_000), Fault(status=503), Fault(status=502)]
    server = FileServer(CONTENT, faults=faults)
    target = await sdk_download(mode, sdk_client(mode, server), tmp_path / "f.bin")
    assert sha(target.read_bytes()) == sha(CONTENT)
    assert [r for r, _ in ranges(server)] == [None] + ["bytes=3000-"] * 3


def reachable(error: BaseException) -> list[BaseException]:
    """``error`` and every exception it chains to (``__cause__`` and ``__context__``)."""
    found: list[BaseException] = []
    stack = [error]
    while stack:
        current = stack.pop()
        if any(current is seen for seen in found):
            continue
        found.append(current)
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return found


def assert_no_token(error: BaseException) -> None:
    chain = reachable(error)
    assert any(isinstance(e, httpx.ReadError) for e in chain)
    for current in chain:
        assert TOKEN not in str(current) and TOKEN not in repr(current)
        try:
            request = getattr(current, "request", None)
        except RuntimeError:
            request = None
        if isinstance(request, httpx.Request):
            assert TOKEN not in repr(request.headers.raw)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("how", ["iterate", "path"])
async def test_a_failed_download_does_not_expose_the_token(
    mode: str, how: str, tmp_path: Path
) -> None:
    server = IgnoresRange()
    client = sdk_client(mode, server)
    with pytest.raises(IncompleteDownloadError) as caught:
        if how == "iterate":
            await sdk_get(mode, client)
        else:
            await sdk_download(mode, client, tmp_path / "f.bin")
    assert server.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert_no_token(caught.value)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", ["small", "big"])
async def test_a_saved_file_is_flushed_to_disk_before_its_rename(
    mode: str, size: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small files are flushed on the loop, big ones in a thread: both before the rename."""
    content = CONTENT if size == "small" else BIG
    target = tmp_path / "result.bin"
    flushed: list[tuple[int, bool]] = []
    real_fsync = os.fsync

    def noting_fsync(fd: int) -> None:
        flushed.append((os.fstat(fd).st_size, target.exists()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", noting_fsync)
    await save(mode, FileServer(content), target)
    assert flushed == [(len(content), False)]
    assert target.read_bytes() == content


class _Dribbling:
    """A raw file that takes at most ``most`` bytes per write (0: none at all)."""

    def __init__(self, file: Any, most: int) -> None:
        self._file, self._most = file, most

    def write(self, data: bytes) -> int:
        return int(self._file.write(data[: self._most])) if self._most else 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


@pytest.mark.parametrize("mode", MODES)
async def test_a_write_that_takes_part_of_a_chunk_is_continued_and_one_that_takes_none_fails(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Temp files are unbuffered, so each chunk is one raw write, which may take only part of
    it: the rest is written after it. A write that takes nothing is an ``OSError``, not a loop
    that never ends, and the destination is not created."""
    real_fdopen = os.fdopen
    most = [7]
    monkeypatch.setattr(
        os, "fdopen", lambda fd, *args, **kw: _Dribbling(real_fdopen(fd, *args, **kw), most[0])
    )
    target = tmp_path / "result.bin"
    await save(mode, FileServer(CONTENT), target)
    assert target.read_bytes() == CONTENT
    most[0] = 0
    stuck = tmp_path / "stuck.bin"
    with pytest.raises(OSError, match="took no bytes"):
        await save(mode, FileServer(CONTENT), stuck)
    assert not stuck.exists()


@pytest.mark.parametrize(
    ("delays", "expected"),
    [
        ([0, 0, 0], [True, True, True, True]),
        ([5 * SLOW_FLUSH, 0, 0], [True, False, False, True]),
        ([3 * SLOW_FLUSH, 0, 0], [True, True, True, True]),
        ([1.5 * SLOW_FLUSH] * 3, [True, True, True, True]),
        ([1.5 * SLOW_FLUSH] * 3 + [3 * SLOW_FLUSH] * 2, [True] * 4 + [False, True]),
    ],
    ids=["fast-disk", "slow-share", "one-cold-flush", "just-under", "slowing-down"],
)
async def test_once_flushes_on_the_loop_average_over_slow_flush_a_client_flushes_in_a_thread(
    delays: list[float], expected: list[bool], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small files are flushed on the event loop while that is quick. Once the running average
    of a client's flushes there (each new one weighing a quarter) passes ``SLOW_FLUSH`` (a
    network share, say), that client flushes every later file on that file system in a worker
    thread, so the loop is not held up again; one cold flush does not flip it, and another
    client starts on the loop."""
    loop_thread = threading.get_ident()
    on_loop: list[bool] = []
    planned = iter(delays)
    clock = [0.0]  # the flush timer's clock: only a flush moves it, by its planned delay

    def noting_fsync(fd: int) -> None:
        on_loop.append(threading.get_ident() == loop_thread)
        clock[0] += next(planned, 0)

    monkeypatch.setattr(os, "fsync", noting_fsync)
    monkeypatch.setattr(_files, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    gateway = FakeGateway()
    gateway.add("exec-1")
    with sdk_transport(httpx.MockTransport(gateway)):
        first = AsyncHubServiceClient(base_url=BASE, token=GATEWAY_TOKEN)
        second = AsyncHubServiceClient(base_url=BASE, token=GATEWAY_TOKEN)
    async with first, second:
        for n in range(len(expected) - 1):
            path = tmp_path / f"first-{n}.bin"
            await first.service_api.download_result_file("exec-1", "result.bin", path)
        planned = iter([])
        await second.service_api.download_result_file("exec-1", "result.bin", tmp_path / "b")
    assert on_loop == expected
    assert (tmp_path / "b").read_bytes() == gateway.file_bytes


async def test_cancelling_during_the_final_fsync_closes_the_file_only_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release, checked = threading.Event(), threading.Event(), threading.Event()
    outcome: list[str] = []
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        inode = os.fstat(fd).st_ino
        started.set()
        release.wait(1.0)  # released early only when the file was closed underneath
        try:
            still_open = os.fstat(fd).st_ino == inode
        except OSError:
            still_open = False
        outcome.append("open" if still_open else "closed underneath")
        checked.set()
        if still_open:
            real_fsync(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    target = tmp_path / "result.bin"
    # a file over FLUSH_ON_LOOP is flushed in a worker thread while the loop goes on
    task = asyncio.create_task(save("async", FileServer(BIG), target))
    assert await asyncio.to_thread(started.wait, 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()
    assert await asyncio.to_thread(checked.wait, 10)
    assert outcome == ["open"]
    assert not target.exists()
    assert partial_path(target).read_bytes() == BIG


@pytest.mark.parametrize("mode", MODES)
async def test_a_touched_file_survives_a_drop_while_it_is_compared_end_to_end(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI's repro: download, touch the file, cut the next result-file body once, download
    again without overwrite: the comparison resumes, and the file is kept as it is."""
    cut_once = FaultConfig(
        rates={FaultKind.TRUNCATE: 1.0}, operations=frozenset({"getResultFile"}), limit=1
    )
    target = tmp_path / "result.bin"
    with retries_without_delay(), MockGateway(timing=Timing(pending=0.0, running=0.0)) as gateway:
        if mode == "sync":
            with HubServiceClient(base_url=gateway.url, token="t") as client:
                api = client.service_api
                execution = api.start_execution(request={"input": {"result_size": 300_000}})
                api.wait_for_completion(execution.id, poll_interval=0.01)
                api.download_result_file(execution.id, "result.bin", target, overwrite=False)
                want = target.read_bytes()
                os.utime(target)
                gateway.set_faults(cut_once)
                api.download_result_file(execution.id, "result.bin", target, overwrite=False)
        else:
            async with AsyncHubServiceClient(base_url=gateway.url, token="t") as aclient:
                aapi = aclient.service_api
                execution = await aapi.start_execution(request={"input": {"result_size": 300_000}})
                await aapi.wait_for_completion(execution.id, poll_interval=0.01)
                await aapi.download_result_file(execution.id, "result.bin", target, overwrite=False)
                want = target.read_bytes()
                os.utime(target)
                gateway.set_faults(cut_once)
                await aapi.download_result_file(execution.id, "result.bin", target, overwrite=False)
        stats = gateway.stats()
    assert stats["faults"]["truncate"] == 1
    assert stats["requests"]["getResultFile"] == 3
    assert len(want) == 300_000
    assert target.read_bytes() == want
    assert leftovers(tmp_path) == [".result.bin.part.json", "result.bin"]
