"""``AiohttpTransport`` over TLS: certificates are checked as httpx checks them, and the CA bundle
is loaded only when a request needs it.

The server is a small HTTPS responder on 127.0.0.1 in the test's own loop. Its certificate
(``data/tls-test-server.pem``, for ``IP:127.0.0.1``) is signed by a test CA
(``data/tls-test-ca.pem``); both were made once with ``openssl`` and are valid until 2126.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from kipu_hub_service._aiohttp import AiohttpTransport

DATA = Path(__file__).parent / "data"
CA = DATA / "tls-test-ca.pem"
DEADLINE = 30.0
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while (await reader.readuntil(b"\r\n\r\n")) and not writer.is_closing():
            writer.write(ANSWER)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


@asynccontextmanager
async def serving(tls: bool) -> AsyncIterator[str]:
    """The base URL of a server that answers every request ``200 ok``."""
    context = None
    if tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(DATA / "tls-test-server.pem", DATA / "tls-test-server.key")
    server = await asyncio.start_server(_answer, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
def trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx trusts the test CA (through ``SSL_CERT_FILE``, as it reads it)."""
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(CA))


@pytest.fixture
def untrusted(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx's default trust (certifi), which does not include the test CA."""
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)


async def _get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        return await asyncio.wait_for(client.get(url), DEADLINE)


async def test_a_server_certificate_from_a_trusted_ca_is_accepted(trusted: None) -> None:
    async with serving(tls=True) as url:
        response = await _get(url + "/x")
    assert (response.status_code, response.content) == (200, b"ok")


async def test_a_server_certificate_from_an_unknown_ca_is_refused(untrusted: None) -> None:
    async with serving(tls=True) as url:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await _get(url + "/x")


async def test_the_ca_bundle_is_loaded_on_the_first_https_request_only(
    trusted: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[ssl.SSLContext] = []
    create = httpx.create_ssl_context

    def counting() -> ssl.SSLContext:
        made.append(create())
        return made[-1]

    monkeypatch.setattr(httpx, "create_ssl_context", counting)
    async with (
        serving(tls=False) as plain,
        serving(tls=True) as secure,
        httpx.AsyncClient(transport=AiohttpTransport()) as client,
    ):
        for _ in range(2):
            assert (await asyncio.wait_for(client.get(plain), DEADLINE)).status_code == 200
        assert made == []  # plain http: no CA bundle loaded
        for _ in range(2):
            assert (await asyncio.wait_for(client.get(secure), DEADLINE)).status_code == 200
        assert len(made) == 1  # loaded once, then reused
