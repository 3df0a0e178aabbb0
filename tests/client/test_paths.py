"""Ids and file names are one percent-encoded path segment under base_url, whatever they hold."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator
from typing import ClassVar
from urllib.parse import quote, unquote

import httpx
import pytest
from _client_support import TOKEN, Driver, execution_json

from kipu_hub_service import AsyncHubServiceClient, HubServiceClient

NASTY = [
    "..",
    ".",
    "...",
    "a/b",
    "../../admin",
    "a?b=c",
    "a#frag",
    "100%",
    "%2F",
    "%2e%2e",
    "with space",
    "ünïcødé-名前",
    "semi;colon",
    "plus+sign",
    "back\\slash",
    "tab\tand\nnewline",
    "~tilde",
    "@at:colon",
]


def _recorder() -> tuple[list[httpx.Request], object]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.raw_path.endswith(b"/log"):
            return httpx.Response(204)
        if b"/result/" in request.url.raw_path:
            return httpx.Response(200, content=b"x")
        if request.url.raw_path.endswith(b"/result"):
            return httpx.Response(200, json={})
        if request.method == "PUT":
            return httpx.Response(204)
        return httpx.Response(200, json=execution_json())

    return seen, handler


def _segments(raw_path: bytes, prefix: bytes) -> list[str]:
    assert raw_path.startswith(prefix + b"/")
    return raw_path[len(prefix) + 1 :].decode("ascii").split("/")


@pytest.mark.parametrize("value", NASTY)
def test_id_is_one_encoded_segment(driver: Driver, value: str) -> None:
    seen, handler = _recorder()
    client = driver.client(handler, base_url="https://gw.test/acme/vqe/v1")
    driver.call(client, "get_status", value)
    driver.call(client, "get_result", value)
    driver.call(client, "get_logs", value)
    driver.call(client, "cancel_execution", value)
    driver.file(client, value, value)
    prefix = b"/acme/vqe/v1"
    expected_tails = [[], ["result"], ["log"], ["cancel"], ["result", None]]
    for request, tail in zip(seen, expected_tails, strict=True):
        assert request.url.host == "gw.test"
        segments = _segments(request.url.raw_path, prefix)
        assert len(segments) == 1 + len(tail)
        assert unquote(segments[0]) == value
        assert segments[0] not in (".", "..")
        assert "/" not in segments[0] and "?" not in segments[0] and "#" not in segments[0]
        assert not request.url.query
        assert not request.url.fragment
        if tail and tail[-1] is None:
            assert unquote(segments[-1]) == value


@pytest.mark.parametrize("base", ["https://gw.test/acme/vqe/v1", "https://gw.test/acme/vqe/v1/"])
def test_base_url_with_or_without_trailing_slash(driver: Driver, base: str) -> None:
    seen, handler = _recorder()
    client = driver.client(handler, base_url=base)
    driver.call(client, "get_status", "e-1")
    assert seen[0].url.raw_path == b"/acme/vqe/v1/e-1"
    assert str(seen[0].url) == "https://gw.test/acme/vqe/v1/e-1"


@pytest.mark.parametrize("base", ["https://gw.test", "https://gw.test/", "http://gw.test:8080/p"])
def test_base_url_root_and_ports(driver: Driver, base: str) -> None:
    seen, handler = _recorder()
    client = driver.client(handler, base_url=base)
    driver.call(client, "get_status", "a b")
    url = httpx.URL(base)
    assert seen[0].url.host == url.host
    assert seen[0].url.port == url.port
    assert seen[0].url.raw_path == url.raw_path.rstrip(b"/") + b"/a%20b"


# Over real loopback HTTP: the SDK-made clients (httpx and, for async, aiohttp) send the same
# bytes on the wire.


class _Recorder(http.server.BaseHTTPRequestHandler):
    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).paths.append(self.path)
        body = b'{"id":"x","createdAt":"2026-01-01T00:00:00Z","status":"RUNNING"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def loopback() -> Iterator[tuple[str, list[str]]]:
    handler = type("Handler", (_Recorder,), {"paths": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/acme/vqe/v1", handler.paths
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


WIRE = ["..", ".", "a/b", "%2e%2e", "a?b#c", "ü x"]


def test_sync_client_sends_encoded_segments_on_the_wire(
    loopback: tuple[str, list[str]],
) -> None:
    url, paths = loopback
    with HubServiceClient(base_url=url, token=TOKEN, timeout=10) as client:
        for value in WIRE:
            client.service_api.get_status(value)
    assert paths == ["/acme/vqe/v1/" + quote(v, safe="").replace(".", "%2E") for v in WIRE]


@pytest.mark.parametrize("aiohttp", [True, False])
def test_async_client_sends_encoded_segments_on_the_wire(
    loopback: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch, aiohttp: bool
) -> None:
    url, paths = loopback
    if not aiohttp:
        monkeypatch.setenv("QHUB_SERVICE_NO_AIOHTTP", "1")

    async def run() -> str:
        async with AsyncHubServiceClient(base_url=url, token=TOKEN, timeout=10) as client:
            for value in WIRE:
                await client.service_api.get_status(value)
            return type(client.httpx_client._transport).__name__

    transport = asyncio.run(run())
    assert ("Aiohttp" in transport) is aiohttp
    assert paths == ["/acme/vqe/v1/" + quote(v, safe="").replace(".", "%2E") for v in WIRE]


_METHODS_WITH_ID = ["get_status", "get_result", "get_logs", "cancel_execution", "file"]


def _call_with(driver: Driver, client: object, method: str, id: str, file: str = "f") -> None:
    if method == "file":
        driver.file(client, id, file)
    else:
        driver.call(client, method, id)


@pytest.mark.parametrize("method", _METHODS_WITH_ID)
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a" * 100_000, "too long"),
        ("\u00e9" * 2049, "too long"),
        ("a\ud800b", "lone surrogate"),
    ],
    ids=["100k-ascii", "4098-bytes-utf8", "lone-surrogate"],
)
def test_unsendable_ids_are_refused_before_sending(
    driver: Driver, method: str, value: str, message: str
) -> None:
    seen, handler = _recorder()
    client = driver.client(handler)
    with pytest.raises(ValueError, match=message):
        _call_with(driver, client, method, value)
    with pytest.raises(ValueError, match=message):
        _call_with(driver, client, "file", "exec-1", value)
    assert seen == []


def test_longest_id_is_sent(driver: Driver) -> None:
    seen, handler = _recorder()
    client = driver.client(handler)
    value = "\u00e9" * 2048
    driver.call(client, "get_status", value)
    assert unquote(seen[0].url.raw_path.decode("ascii").rsplit("/", 1)[1]) == value


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Name": "caf\u00e9"},
        {"X-Name": "a\ud800"},
        {"X-Name": "tab\tok but bell \x07"},
        {"X Name": "v"},
        {"X-\u00e9": "v"},
        {"X:Name": "v"},
    ],
    ids=["non-ascii-value", "surrogate-value", "control-value", "space-name", "utf8-name", "colon"],
)
def test_unsendable_headers_are_refused_before_sending(
    driver: Driver, headers: dict[str, str]
) -> None:
    seen, handler = _recorder()
    client = driver.client(handler)
    with pytest.raises(ValueError, match="header"):
        driver.call(client, "get_status", "e", request_options={"additional_headers": headers})
    with pytest.raises(ValueError, match="header"):
        driver.client(handler, headers=headers)
    assert seen == []
