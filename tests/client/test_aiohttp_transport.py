"""``AiohttpTransport`` through its public surface: ``httpx.AsyncClient(transport=...)`` against
small scripted HTTP servers on 127.0.0.1 that run in the test's own event loop and record what
reached the wire, plus the SDK's choice of transport."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
import pytest
import yarl
from multidict import CIMultiDict, CIMultiDictProxy

from kipu_hub_service import APITimeoutError, AsyncHubServiceClient, RetryPolicy
from kipu_hub_service._aiohttp import AiohttpTransport, make_aiohttp_transport, map_exception
from kipu_hub_service.testing import sdk_transport

DEADLINE = 30.0
"""Seconds any one test may run before it fails (nothing here should come close)."""
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def bounded(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., Awaitable[None]]:
    """Fail a test instead of hanging when something never arrives, or when aiohttp reports
    something left unclosed."""

    @functools.wraps(test)
    async def run(*args: Any, **kwargs: Any) -> None:
        # aiohttp reports an unclosed session, connector or response to the loop's handler.
        reports: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _, report: reports.append(report))
        await asyncio.wait_for(test(*args, **kwargs), DEADLINE)
        assert [report.get("message") for report in reports] == []

    return run


@dataclass
class Seen:
    """One request as it reached the server."""

    connection: int
    request_line: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes

    @property
    def target(self) -> bytes:
        return self.request_line.split(b" ")[1]

    def values(self, name: bytes) -> list[bytes]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


@dataclass
class Connection:
    number: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    server: Server

    async def request(self) -> Seen | None:
        """The next request on this connection, None at EOF."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        lines = head[:-4].split(b"\r\n")
        headers = [tuple(line.split(b": ", 1)) for line in lines[1:]]
        seen = Seen(self.number, lines[0], headers, b"")  # type: ignore[arg-type]
        if seen.values(b"transfer-encoding") == [b"chunked"]:
            while size := int((await self.reader.readuntil(b"\r\n"))[:-2], 16):
                seen.body += (await self.reader.readexactly(size + 2))[:-2]
            await self.reader.readuntil(b"\r\n")
        elif lengths := seen.values(b"content-length"):
            seen.body = await self.reader.readexactly(int(lengths[0]))
        self.server.seen.append(seen)
        return seen

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def eof(self) -> bool:
        """Whether the client closed this connection (anything else it sends is dropped)."""
        while await self.reader.read(65536):
            pass
        return True


Script = Callable[[Connection], Awaitable[None]]


@dataclass
class Server:
    """A scripted HTTP/1.1 server; each connection runs ``script`` once."""

    script: Script
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    closed_by_client: list[int] = field(default_factory=list)
    client_closed: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection = Connection(self.connections, reader, writer, self)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.append(writer)
        try:
            await self.script(connection)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        self._server.close()
        for writer in self._writers:
            writer.close()  # a script waiting for the next request now reads EOF
        await asyncio.gather(*self._tasks, return_exceptions=True)


def reply(
    body: bytes = b"ok",
    status: bytes = b"200 OK",
    headers: tuple[tuple[bytes, bytes], ...] = (),
    version: bytes = b"HTTP/1.1",
) -> bytes:
    lines = [version + b" " + status, *(k + b": " + v for k, v in headers)]
    lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def serving(response: bytes) -> Script:
    """Answer every request on a keep-alive connection with ``response``."""

    async def script(connection: Connection) -> None:
        with contextlib.suppress(ConnectionError):  # the client closed it mid-answer
            while await connection.request() is not None:
                await connection.send(response)
        connection.server.closed_by_client.append(connection.number)
        connection.server.client_closed.set()

    return script


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts)


CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


# What goes out -----------------------------------------------------------------------------------


ENCODED_PATHS = ["/a/%2E%2E/b", "/x/%2e%2e", "/a%2Fb/%2E?q=%20x&r=%2E%2E", "/%C3%BC%20x", "/%25"]


@bounded
async def test_the_url_goes_out_byte_for_byte_as_httpx_encoded_it() -> None:
    async with Server(serving(reply())) as server:
        for transport in (AiohttpTransport(), httpx.AsyncHTTPTransport()):
            async with httpx.AsyncClient(transport=transport) as client:
                for path in ENCODED_PATHS:
                    assert (await client.get(server.url + path)).status_code == 200
    ours, httpx_own = server.seen[: len(ENCODED_PATHS)], server.seen[len(ENCODED_PATHS) :]
    assert [s.target.decode() for s in ours] == ENCODED_PATHS
    assert [s.target for s in ours] == [s.target for s in httpx_own]


@bounded
async def test_headers_go_out_as_httpx_sends_them_with_none_of_aiohttps() -> None:
    headers = [("X-Mixed-Case", "1"), ("x-multi", "a"), ("x-multi", "b")]
    async with Server(serving(reply())) as server:
        for transport in (AiohttpTransport(), httpx.AsyncHTTPTransport()):
            async with httpx.AsyncClient(transport=transport) as client:
                await client.get(server.url + "/g", headers=headers)
                await client.post(server.url + "/p", content=b"raw", headers=headers)
                await client.post(server.url + "/j", json={"a": 1})
                # Without the headers aiohttp would otherwise fill in with its own.
                for method, content in (("GET", None), ("PUT", b"raw"), ("POST", None)):
                    request = client.build_request(method, server.url + "/bare", content=content)
                    for name in ("User-Agent", "Accept", "Accept-Encoding"):
                        del request.headers[name]
                    await client.send(request)
    ours, httpx_own = server.seen[:6], server.seen[6:]
    for mine, theirs in zip(ours, httpx_own, strict=True):
        assert mine.request_line == theirs.request_line
        assert sorted(mine.headers) == sorted(theirs.headers)
    assert ours[5].values(b"content-length") == [b"0"]
    assert ours[0].values(b"x-multi") == [b"a", b"b"]
    assert (b"X-Mixed-Case", b"1") in ours[0].headers
    assert ours[1].values(b"content-type") == []  # raw bytes: aiohttp adds no Content-Type
    assert not any(b"aiohttp" in v.lower() for s in ours for _, v in s.headers)
    for bare in ours[3:]:
        assert {name.lower() for name, _ in bare.headers}.isdisjoint(
            {b"user-agent", b"accept", b"accept-encoding", b"content-type"}
        )


@bounded
async def test_a_request_body_is_sent_whole_or_streamed() -> None:
    payload = bytes(range(256)) * 300

    async def parts() -> AsyncIterator[bytes]:
        for i in range(0, len(payload), 7000):
            yield payload[i : i + 7000]

    async with (
        Server(serving(reply())) as server,
        httpx.AsyncClient(transport=AiohttpTransport()) as client,
    ):
        await client.post(server.url + "/whole", content=payload)
        await client.put(server.url + "/streamed", content=parts())
    whole, streamed = server.seen
    assert whole.body == payload
    assert whole.values(b"content-length") == [str(len(payload)).encode()]
    assert streamed.body == payload
    assert streamed.values(b"transfer-encoding") == [b"chunked"]


@bounded
async def test_user_info_in_the_url_becomes_httpxs_basic_auth_only() -> None:
    async with Server(serving(reply())) as server:
        url = f"http://user:pa55@127.0.0.1:{server.port}/p"
        async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
            assert (await client.get(url)).status_code == 200
    (seen,) = server.seen
    assert seen.target == b"/p"
    assert seen.values(b"authorization") == [b"Basic dXNlcjpwYTU1"]


@bounded
async def test_cookies_are_left_to_httpx() -> None:
    answer = reply(headers=((b"Set-Cookie", b"session=s1; Path=/"),))
    async with (
        Server(serving(answer)) as server,
        httpx.AsyncClient(transport=AiohttpTransport()) as client,
    ):
        url = f"http://localhost:{server.port}"  # aiohttp's own jar would skip an IP address
        await client.get(url + "/1")
        await client.get(url + "/2")
        client.cookies.clear()
        await client.get(url + "/3")
    assert [s.values(b"cookie") for s in server.seen] == [[], [b"session=s1"], []]


@bounded
async def test_the_sni_hostname_extension_is_honoured() -> None:
    hellos: list[bytes] = []

    async def record_client_hello(connection: Connection) -> None:
        hellos.append(await connection.reader.read(65536))

    async with (
        Server(record_client_hello) as server,
        httpx.AsyncClient(transport=AiohttpTransport()) as client,
    ):
        for sni in ("gateway.example.test", None):
            extensions = {"sni_hostname": sni} if sni else {}
            with pytest.raises(httpx.ConnectError):
                await client.get(f"https://127.0.0.1:{server.port}/", extensions=extensions)
    assert hellos[0][:1] == b"\x16"  # a TLS handshake record
    assert b"gateway.example.test" in hellos[0]
    assert b"gateway.example.test" not in hellos[1]


# What comes back ---------------------------------------------------------------------------------


@bounded
async def test_response_status_headers_and_reason_come_back_as_sent() -> None:
    answer = reply(
        b"body",
        b"203 Fine Thanks",
        ((b"X-Multi", b"1"), (b"X-Multi", b"2"), (b"X-Case", b"Keep")),
        version=b"HTTP/1.0",
    )
    async with (
        Server(serving(answer)) as server,
        httpx.AsyncClient(transport=AiohttpTransport()) as client,
    ):
        response = await client.get(server.url)
    assert response.status_code == 203
    assert response.reason_phrase == "Fine Thanks"
    assert response.http_version == "HTTP/1.0"
    assert response.headers.get_list("x-multi") == ["1", "2"]
    assert response.headers["x-case"] == "Keep"
    assert response.content == b"body"


@bounded
async def test_no_redirects_and_no_decompression_by_aiohttp() -> None:
    text = b"hello " * 1000
    packed = gzip.compress(text)
    answers = {
        b"/moved": reply(b"", b"302 Found", ((b"Location", b"/elsewhere"),)),
        b"/gz": reply(packed, headers=((b"Content-Encoding", b"gzip"),)),
    }

    async def script(connection: Connection) -> None:
        while (seen := await connection.request()) is not None:
            await connection.send(answers[seen.target])

    async with Server(script) as server, httpx.AsyncClient(transport=AiohttpTransport()) as client:
        moved = await client.get(server.url + "/moved")
        decoded = await client.get(server.url + "/gz")
        async with client.stream("GET", server.url + "/gz") as raw:
            on_the_wire = b"".join([chunk async for chunk in raw.aiter_raw()])
    assert moved.status_code == 302
    assert moved.headers["location"] == "/elsewhere"
    assert [s.target for s in server.seen] == [b"/moved", b"/gz", b"/gz"]
    assert decoded.content == text
    assert on_the_wire == packed


@bounded
async def test_a_body_streams_chunk_by_chunk_as_it_arrives() -> None:
    first_chunk_seen = asyncio.Event()
    streamed: list[bool] = []

    async def script(connection: Connection) -> None:
        await connection.request()
        await connection.send(CHUNKED_HEAD + chunked(b"first"))
        try:
            await asyncio.wait_for(first_chunk_seen.wait(), 10)
            streamed.append(True)
        except TimeoutError:
            streamed.append(False)
        await connection.send(chunked(b"second", b""))

    async with (
        Server(script) as server,
        httpx.AsyncClient(transport=AiohttpTransport()) as client,
        client.stream("GET", server.url) as response,
    ):
        received = []
        async for chunk in response.aiter_bytes():
            received.append(chunk)
            first_chunk_seen.set()
    assert streamed == [True]
    assert b"".join(received) == b"firstsecond"
    assert received[0] == b"first"


# Failures become the httpx exceptions callers and the retry loop expect -----------------------


async def _fails_with(script: Script, timeouts: httpx.Timeout | None = None) -> BaseException:
    async with (
        Server(script) as server,
        httpx.AsyncClient(transport=AiohttpTransport(), timeout=timeouts) as client,
    ):
        with pytest.raises(httpx.TransportError) as info:
            await client.get(server.url + "/x")
    return info.value


async def _drop_mid_body(connection: Connection) -> None:
    await connection.request()
    await connection.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)


async def _drop_mid_chunked_body(connection: Connection) -> None:
    await connection.request()
    await connection.send(CHUNKED_HEAD + chunked(b"part"))


async def _drop_before_answering(connection: Connection) -> None:
    await connection.request()


async def _garbage_answer(connection: Connection) -> None:
    await connection.request()
    await connection.send(b"this is not HTTP\r\n\r\n")


@bounded
@pytest.mark.parametrize(
    "script", [_drop_mid_body, _drop_mid_chunked_body, _drop_before_answering, _garbage_answer]
)
async def test_a_dropped_or_broken_answer_is_a_remote_protocol_error(script: Script) -> None:
    error = await _fails_with(script)
    assert isinstance(error, httpx.RemoteProtocolError)
    assert isinstance(error.__cause__, aiohttp.ClientError)
    assert str(error)


@bounded
async def test_a_drop_while_streaming_is_a_remote_protocol_error() -> None:
    async with (
        Server(_drop_mid_body) as server,
        httpx.AsyncClient(transport=AiohttpTransport()) as client,
        client.stream("GET", server.url) as response,
    ):
        with pytest.raises(httpx.RemoteProtocolError):
            async for _ in response.aiter_bytes():
                pass


@bounded
async def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/")


@bounded
async def test_a_silent_server_is_a_read_timeout_before_and_during_the_body() -> None:
    async def silent(connection: Connection) -> None:
        await connection.request()
        await connection.server.release.wait()

    async def stalls_mid_body(connection: Connection) -> None:
        await connection.request()
        await connection.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nxx")
        await connection.server.release.wait()

    for script in (silent, stalls_mid_body):
        error = await _fails_with(script, httpx.Timeout(20, read=0.2))
        assert isinstance(error, httpx.ReadTimeout)


@bounded
async def test_a_per_request_read_timeout_wins_over_the_clients() -> None:
    async def silent(connection: Connection) -> None:
        await connection.request()
        await connection.server.release.wait()

    async with (
        Server(silent) as server,
        httpx.AsyncClient(transport=AiohttpTransport(), timeout=20) as client,
    ):
        with pytest.raises(httpx.ReadTimeout):
            await client.get(server.url, timeout=httpx.Timeout(20, read=0.2))


@bounded
async def test_a_connect_that_never_completes_is_a_connect_timeout() -> None:
    # A listening socket that never accepts, its backlog full: the next SYN goes unanswered.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(3)]
        try:
            for filler in fillers:
                filler.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    filler.connect(("127.0.0.1", port))
            async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
                with pytest.raises(httpx.ConnectTimeout):
                    await client.get(
                        f"http://127.0.0.1:{port}/", timeout=httpx.Timeout(20, connect=0.2)
                    )
        finally:
            for filler in fillers:
                filler.close()


@bounded
async def test_waiting_for_a_pooled_connection_is_bounded_by_pool_plus_connect() -> None:
    async def script(connection: Connection) -> None:
        while (seen := await connection.request()) is not None:
            if (
                seen.target == b"/holds"
            ):  # part of the body, then nothing: the connection stays busy
                await connection.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nxx")
                await connection.server.release.wait()
            await connection.send(reply())

    quick = httpx.Timeout(20, pool=0.1, connect=0.1)
    transport = AiohttpTransport(limits=httpx.Limits(max_connections=1))
    async with Server(script) as server, httpx.AsyncClient(transport=transport) as client:
        async with client.stream("GET", server.url + "/holds"):
            with pytest.raises(httpx.ConnectTimeout):
                await client.get(server.url + "/waits", timeout=quick)
        assert (await client.get(server.url + "/after", timeout=quick)).status_code == 200
    assert [(s.connection, s.target) for s in server.seen] == [(1, b"/holds"), (2, b"/after")]


@bounded
async def test_a_header_aiohttp_refuses_to_write_is_a_local_protocol_error() -> None:
    async with (
        Server(serving(reply())) as server,
        httpx.AsyncClient(transport=AiohttpTransport()) as client,
    ):
        with pytest.raises(httpx.LocalProtocolError):
            await client.get(server.url, headers={"X-Bad": "a\r\nInjected: 1"})
    assert server.seen == []


@bounded
async def test_a_url_aiohttp_cannot_send_is_an_unsupported_protocol() -> None:
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        with pytest.raises(httpx.UnsupportedProtocol):
            await client.get("ftp://127.0.0.1/file")


def test_exception_mapping_table() -> None:
    info = aiohttp.RequestInfo(yarl.URL("http://h/"), "GET", CIMultiDictProxy(CIMultiDict()))
    cases: list[tuple[BaseException, type[httpx.TransportError]]] = [
        (aiohttp.ConnectionTimeoutError("c"), httpx.ConnectTimeout),
        (aiohttp.SocketTimeoutError("s"), httpx.ReadTimeout),
        (aiohttp.ServerTimeoutError("s"), httpx.ReadTimeout),
        (TimeoutError(), httpx.ReadTimeout),
        (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
        (aiohttp.ClientPayloadError("cut"), httpx.RemoteProtocolError),
        (
            aiohttp.ClientResponseError(info, (), status=400, message="bad"),
            httpx.RemoteProtocolError,
        ),
        (aiohttp.ClientOSError(104, "reset"), httpx.ReadError),
        (aiohttp.ClientConnectionResetError("reset"), httpx.ReadError),
        (aiohttp.InvalidUrlClientError("x"), httpx.UnsupportedProtocol),
        (aiohttp.NonHttpUrlClientError("x"), httpx.UnsupportedProtocol),
        (ValueError("bad header"), httpx.LocalProtocolError),
        (aiohttp.ClientError("other"), httpx.TransportError),
    ]
    for exc, expected in cases:
        mapped = map_exception(exc)
        assert type(mapped) is expected, (exc, mapped)
        assert str(mapped)
    assert str(map_exception(aiohttp.ClientResponseError(info, (), message="bad"))) == "bad"


# Connections: reuse, half-read bodies, closing -------------------------------------------------


@bounded
async def test_a_fully_read_response_hands_its_connection_back_for_reuse() -> None:
    async with (
        Server(serving(reply(b"y" * 200_000))) as server,
        httpx.AsyncClient(transport=AiohttpTransport()) as client,
    ):
        for _ in range(3):
            assert len((await client.get(server.url)).content) == 200_000
        async with client.stream("GET", server.url) as response:
            assert len(await response.aread()) == 200_000
        await client.get(server.url)
    assert server.connections == 1
    assert [s.connection for s in server.seen] == [1] * 5


@bounded
async def test_closing_a_half_read_body_closes_its_connection_instead_of_reusing_it() -> None:
    big = b"z" * (4 * 1024 * 1024)
    async with (
        Server(serving(reply(big))) as server,
        httpx.AsyncClient(transport=AiohttpTransport()) as client,
    ):
        async with client.stream("GET", server.url + "/half") as response:
            async for chunk in response.aiter_raw():
                assert chunk
                break
        await server.client_closed.wait()
        assert server.closed_by_client == [1]
        after = await client.get(server.url + "/after")
    assert after.content == big
    assert [(s.connection, s.target) for s in server.seen] == [(1, b"/half"), (2, b"/after")]


@bounded
async def test_aclose_closes_the_session_and_its_connections() -> None:
    async with Server(serving(reply())) as server:
        transport = AiohttpTransport()
        await AiohttpTransport().aclose()  # never used: nothing to close
        async with httpx.AsyncClient(transport=transport) as client:
            await client.get(server.url)
            assert server.closed_by_client == []
        await server.client_closed.wait()
        assert server.closed_by_client == [1]
        with pytest.raises(RuntimeError, match="closed"):
            await transport.handle_async_request(httpx.Request("GET", server.url))
        await transport.aclose()  # twice is fine
    assert len(server.seen) == 1


def test_the_session_is_created_inside_the_running_loop_on_first_use() -> None:
    transport = AiohttpTransport()  # no event loop here: nothing aiohttp is created yet

    async def use() -> int:
        async with (
            Server(serving(reply())) as server,
            httpx.AsyncClient(transport=transport) as client,
        ):
            return (await client.get(server.url)).status_code

    assert asyncio.run(asyncio.wait_for(use(), DEADLINE)) == 200


# The SDK on this transport ----------------------------------------------------------------------


@pytest.fixture
def direct(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy in the environment and no opt-out: the SDK picks the aiohttp transport."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.delenv("QHUB_SERVICE_NO_AIOHTTP", raising=False)


STATUS = b'{"id":"e1","createdAt":"2026-01-01T00:00:00Z","status":"RUNNING"}'


async def _no_sleep(seconds: float) -> None:
    return None


@bounded
async def test_the_sdk_retries_a_dropped_connection_on_aiohttp(direct: None) -> None:

    async def first_drops(connection: Connection) -> None:
        if connection.number == 1:
            await _drop_mid_body(connection)
            return
        await serving(reply(STATUS, headers=((b"Content-Type", b"application/json"),)))(connection)

    async with Server(first_drops) as server:
        policy = RetryPolicy(async_sleep=_no_sleep)
        async with AsyncHubServiceClient(
            base_url=server.url, token="t0ken-xyz", retry_policy=policy
        ) as client:
            status = await client.service_api.get_status("e1")
    assert status.id == "e1"
    assert [s.connection for s in server.seen] == [1, 2]
    assert all(s.values(b"authorization") == [b"Bearer t0ken-xyz"] for s in server.seen)


@bounded
async def test_the_sdks_requests_go_out_as_on_httpxs_own_transport(direct: None) -> None:
    """The SDK's plain requests (built from kept headers, ``_requests.copy_request``) reach the
    wire as httpx's transport sends them: no body, no chunked framing, ``Content-Length: 0``
    on the ``PUT`` only, and no ``Content-Type`` of aiohttp's on it."""
    answer = reply(STATUS, headers=((b"Content-Type", b"application/json"),))

    async def calls(client: AsyncHubServiceClient) -> None:
        for _ in range(2):  # the second round is built from the headers kept by the first
            await client.service_api.get_status("e1")
            assert [c async for c in client.service_api.get_result_file("e1", "f")] == [STATUS]
            await client.service_api.cancel_execution("e1")

    async with Server(serving(answer)) as server:
        async with AsyncHubServiceClient(base_url=server.url, token="t0ken-xyz") as client:
            assert isinstance(client.httpx_client._transport, AiohttpTransport)
            await calls(client)
        with sdk_transport(httpx.AsyncHTTPTransport()):
            async with AsyncHubServiceClient(base_url=server.url, token="t0ken-xyz") as client:
                await calls(client)
    ours, httpx_own = server.seen[:6], server.seen[6:]
    assert len(httpx_own) == 6
    for mine, theirs in zip(ours, httpx_own, strict=True):
        assert mine.request_line == theirs.request_line
        assert sorted(mine.headers) == sorted(theirs.headers)
        assert mine.body == b""
        assert mine.values(b"transfer-encoding") == []
    assert [s.values(b"content-length") for s in ours] == [[], [], [b"0"]] * 2


@bounded
async def test_the_sdk_reports_a_timeout_on_aiohttp_as_a_timeout(direct: None) -> None:

    async def silent(connection: Connection) -> None:
        await connection.request()
        await connection.server.release.wait()

    async with Server(silent) as server:
        policy = RetryPolicy(max_retries=1, async_sleep=_no_sleep)
        async with AsyncHubServiceClient(
            base_url=server.url, token="t0ken-xyz", retry_policy=policy, timeout=0.2
        ) as client:
            with pytest.raises(APITimeoutError) as info:
                await client.service_api.get_status("e1")
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert len(server.seen) == 2  # retried once


def test_make_aiohttp_transport_steps_aside_when_a_proxy_is_configured(
    direct: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(make_aiohttp_transport(), AiohttpTransport)
    monkeypatch.setenv("NO_PROXY", "localhost")  # names no proxy
    assert isinstance(make_aiohttp_transport(), AiohttpTransport)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:3128")
        assert make_aiohttp_transport() is None, name
        monkeypatch.delenv(name)
    assert isinstance(make_aiohttp_transport(), AiohttpTransport)


def test_without_aiohttp_the_sdk_runs_on_httpxs_own_transport() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["aiohttp"] = None  # as if the fast extra were not installed
        from kipu_hub_service import AsyncHubServiceClient
        from kipu_hub_service._aiohttp import make_aiohttp_transport
        assert make_aiohttp_transport() is None
        client = AsyncHubServiceClient(base_url="http://127.0.0.1:9/x", token="t")
        print(type(client.httpx_client._transport).__name__)
        """
    )
    env = {k: v for k, v in os.environ.items() if "PROXY" not in k.upper()}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "AsyncHTTPTransport"
