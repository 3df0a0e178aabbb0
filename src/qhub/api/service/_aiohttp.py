"""aiohttp under ``AsyncHubServiceClient``, used when the ``fast`` extra (httpx-aiohttp) is there.

This builds on ``httpx_aiohttp.AiohttpTransport`` (its session, connector, TLS and limits set-up)
but sends each request itself, for two reasons:

- the URL is handed to aiohttp already encoded (``yarl.URL(..., encoded=True)``); otherwise yarl
  decodes ``%2E%2E`` and drops the segment, so an id ``..`` would address another resource;
- aiohttp's exceptions are mapped to the httpx exception a caller (and the retry loop) expects:
  a dropped connection is a ``RemoteProtocolError``/``ReadError``, not a timeout.

Imported lazily, only when the SDK creates an async HTTP client.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import Any

import httpx


def make_aiohttp_transport() -> httpx.AsyncBaseTransport | None:
    """A fresh aiohttp transport, or None when httpx-aiohttp is not installed."""
    cls = _transport_class()
    return None if cls is None else cls()


def _map_exception(exc: BaseException) -> httpx.TransportError | None:
    import aiohttp

    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message)
    if isinstance(exc, aiohttp.ServerTimeoutError | TimeoutError):
        return httpx.ReadTimeout(message)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message)
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(message)
    if isinstance(exc, aiohttp.ClientConnectionError):
        return httpx.ReadError(message)
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return httpx.UnsupportedProtocol(message)
    if isinstance(exc, aiohttp.ClientError):
        return httpx.RemoteProtocolError(message)
    return None


@functools.cache
def _transport_class() -> type[httpx.AsyncBaseTransport] | None:
    try:
        import aiohttp
        import yarl
        from httpx_aiohttp import AiohttpTransport
    except ImportError:
        return None

    class _Stream(httpx.AsyncByteStream):
        def __init__(self, response: aiohttp.ClientResponse) -> None:
            self._response = response
            self._done = False

        async def __aiter__(self) -> AsyncIterator[bytes]:
            try:
                async for chunk in self._response.content.iter_any():
                    yield chunk
            except (TimeoutError, aiohttp.ClientError) as exc:
                mapped = _map_exception(exc)
                if mapped is None:
                    raise
                raise mapped from exc
            self._done = True

        async def aclose(self) -> None:
            if self._done:
                self._response.release()
            else:
                self._response.close()

    class EncodedUrlAiohttpTransport(AiohttpTransport):
        """``AiohttpTransport`` that keeps the request's percent-encoding byte for byte."""

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            session = self.client
            if not isinstance(session, aiohttp.ClientSession):
                session = self.get_client()
                self.client = session
            timeout: dict[str, Any] = request.extensions.get("timeout", {})
            content = await request.aread()
            try:
                response = await session.request(
                    request.method,
                    yarl.URL(str(request.url), encoded=True),
                    headers=list(request.headers.multi_items()),
                    data=content or None,
                    allow_redirects=False,
                    auto_decompress=False,
                    timeout=aiohttp.ClientTimeout(
                        connect=timeout.get("pool"),
                        sock_connect=timeout.get("connect"),
                        sock_read=timeout.get("read"),
                    ),
                    server_hostname=request.extensions.get("sni_hostname"),
                    proxy=str(self.proxy.url) if self.proxy else None,
                )
            except (TimeoutError, aiohttp.ClientError) as exc:
                mapped = _map_exception(exc)
                if mapped is None:
                    raise
                raise mapped from exc
            reason = (response.reason or "").encode("ascii", errors="replace")
            return httpx.Response(
                status_code=response.status,
                headers=list(response.raw_headers),
                stream=_Stream(response),
                request=request,
                extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
            )

    return EncodedUrlAiohttpTransport
