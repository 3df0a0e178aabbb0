"""An httpx transport on aiohttp, under ``AsyncHubServiceClient`` when the ``fast`` extra is there.

``AiohttpTransport`` is written on aiohttp's and yarl's public API only. httpx keeps doing what a
client does (auth, cookies, redirect decisions, decoding, timeouts per request); aiohttp only moves
bytes, faster than httpx's own async transport under concurrency:

- the URL goes out exactly as httpx encoded it (``yarl.URL(..., encoded=True)``), so an id ``..``
  sent as ``%2E%2E`` stays one segment instead of being decoded and dropped;
- request headers go out as given, with none of aiohttp's own (no ``User-Agent``, ``Accept``,
  ``Accept-Encoding`` or ``Content-Type`` of aiohttp's) and no cookies of aiohttp's (httpx keeps
  the cookie jar); no redirects, no decompression: httpx decodes;
- httpx's ``connect``/``read``/``pool`` timeouts become aiohttp's ``sock_connect``/``sock_read``/
  ``connect`` (the last one bounds waiting for the pool plus connecting); aiohttp has no write
  timeout;
- aiohttp's exceptions become the httpx exception a caller and the retry loop expect
  (see ``map_exception``);
- a response body is streamed; closing it before its end closes the connection instead of handing
  a half-read one back to the pool.

The transport never uses a proxy: ``make_aiohttp_transport`` returns None when proxies are
configured in the environment, so the SDK stays on httpx's transport, which applies httpx's
proxy rules exactly (see ``proxies_configured``).

Imported only when the SDK creates an async HTTP client.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx

from ._config import proxies_configured

try:
    import aiohttp
    import yarl
except ImportError:  # the ``fast`` extra is not installed
    HAVE_AIOHTTP = False
else:
    HAVE_AIOHTTP = True

DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
"""httpx's own default: at most 100 connections, idle ones kept for 5 seconds."""

# Headers aiohttp adds when a request lacks them (Content-Type only to a body); httpx already
# sent the ones it wants, so the missing ones are named in ``skip_auto_headers``.
_AUTO_HEADERS = {
    b"user-agent": "User-Agent",
    b"accept": "Accept",
    b"accept-encoding": "Accept-Encoding",
}
_AUTO_BODY_HEADERS = {**_AUTO_HEADERS, b"content-type": "Content-Type"}
_TYPED_METHODS = frozenset({"POST", "PUT", "PATCH"})
"""Methods aiohttp gives a ``Content-Type`` even without a body (a bodiless ``PUT`` cancels)."""
_HTTP_VERSIONS: dict[object, bytes] = {(1, 1): b"HTTP/1.1", (1, 0): b"HTTP/1.0"}


def make_aiohttp_transport() -> httpx.AsyncBaseTransport | None:
    """A fresh ``AiohttpTransport``; None when aiohttp is not installed or a proxy is configured."""
    if not HAVE_AIOHTTP or proxies_configured():
        return None
    return AiohttpTransport()


def map_exception(exc: BaseException) -> httpx.TransportError:
    """The httpx exception for an aiohttp (or timeout) exception, with aiohttp's message.

    Connect timeouts (including waiting for a pooled connection) are ``ConnectTimeout``, other
    timeouts ``ReadTimeout``; a refused or failed connection (DNS, TLS) is ``ConnectError``; a
    connection the server closed before or while sending the response, or a malformed response,
    is ``RemoteProtocolError``; another broken connection is ``ReadError``; a URL aiohttp cannot
    send is ``UnsupportedProtocol``; a request aiohttp refuses to write (say, a control character
    in a header) is ``LocalProtocolError``.
    """
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ClientResponseError):
        message = exc.message or type(exc).__name__  # its str() would repeat the URL
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message)
    if isinstance(exc, TimeoutError):  # aiohttp.SocketTimeoutError and the rest
        return httpx.ReadTimeout(message)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message)
    if isinstance(
        exc,
        aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError,
    ):
        return httpx.RemoteProtocolError(message)
    if isinstance(exc, aiohttp.ClientConnectionError):
        return httpx.ReadError(message)
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return httpx.UnsupportedProtocol(message)
    if isinstance(exc, ValueError):
        return httpx.LocalProtocolError(message)
    return httpx.TransportError(message)


def without_frames(exc: BaseException) -> BaseException:
    """``exc`` and the exceptions it chains to, without their tracebacks: aiohttp's frames hold
    the request's headers (the bearer token) in plain locals, which a traceback rendered with
    ``capture_locals=True`` would show. Type and message stay, as the ``__cause__``."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        error.__traceback__ = None
        error = error.__cause__ or error.__context__
    return exc


class _HiddenHeaders(list[tuple[str, str]]):
    """The request's headers for aiohttp: a list whose ``repr`` shows the names only."""

    def __repr__(self) -> str:
        return f"<headers {[name for name, _ in self]}>"


@functools.lru_cache(maxsize=64)
def _client_timeout(
    connect: float | None, read: float | None, pool: float | None
) -> aiohttp.ClientTimeout:
    """aiohttp's timeouts for httpx's (cached: a client sends the same few over and over)."""
    # aiohttp's ``connect`` covers the wait for the pool *and* connecting, so it gets both.
    acquire = None if pool is None or connect is None else pool + connect
    return aiohttp.ClientTimeout(total=None, connect=acquire, sock_connect=connect, sock_read=read)


def _wire_headers(
    request: httpx.Request, streamed: bool, typed: bool
) -> tuple[_HiddenHeaders, list[str] | None]:
    """The request's headers (names in their original case) as aiohttp takes them, and the
    headers aiohttp must not add (None, aiohttp's fast path, when httpx sent them all);
    ``typed``: aiohttp would add a ``Content-Type`` too."""
    headers = _HiddenHeaders()
    auto = _AUTO_BODY_HEADERS if typed else _AUTO_HEADERS
    found = set()
    for name, value in request.headers.raw:
        lower = name.lower()
        if lower in auto:
            found.add(lower)
        elif streamed and lower == b"transfer-encoding":
            continue  # aiohttp frames a streamed body itself and refuses a second framing
        headers.append((name.decode("utf-8"), value.decode("utf-8")))
    if len(found) == len(auto):
        return headers, None
    return headers, [title for lower, title in auto.items() if lower not in found]


class _ResponseStream(httpx.AsyncByteStream):
    """An aiohttp response body, chunk by chunk as it arrives."""

    __slots__ = ("_response",)

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise map_exception(exc) from without_frames(exc)

    async def aclose(self) -> None:
        # A body read to its end already gave its connection back to the pool (aiohttp does
        # that on its own); otherwise the connection still carries the rest of this body, and
        # close() closes it instead of letting it be reused.
        self._response.close()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """``httpx.AsyncBaseTransport`` that sends requests through one ``aiohttp.ClientSession``.

    The session is created on the first request, inside the running event loop (aiohttp binds it
    to that loop); ``aclose()`` closes it, and the transport cannot be used after that.
    ``limits`` maps ``max_connections`` and ``keepalive_expiry`` (aiohttp has no cap on idle
    connections). TLS uses ``httpx.create_ssl_context()``, so certificates are checked as httpx
    checks them (certifi, ``SSL_CERT_FILE``/``SSL_CERT_DIR``); that context is made on the first
    ``https`` request, since loading the CA bundle costs about 20 ms of CPU that a client of a
    plain-http gateway (the mock, a local runtime) never needs. Proxies are never used: see
    ``make_aiohttp_transport``.
    """

    def __init__(self, *, limits: httpx.Limits = DEFAULT_LIMITS) -> None:
        if not HAVE_AIOHTTP:
            raise RuntimeError(
                "AiohttpTransport needs aiohttp: pip install 'kipu-hub-service[fast]'"
            )
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None
        self._tls: ssl.SSLContext | None = None
        self._closed = False

    def _open_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("AiohttpTransport: cannot send a request, the transport is closed")
        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0,  # 0: no limit
            keepalive_timeout=self._limits.keepalive_expiry,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            trust_env=False,
            timeout=aiohttp.ClientTimeout(total=None),
        )
        return self._session

    def _tls_context(self) -> ssl.SSLContext:
        """httpx's TLS settings, made once, on the first ``https`` request."""
        if self._tls is None:
            self._tls = httpx.create_ssl_context()
        return self._tls

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open_session()
        url = request.url
        target = yarl.URL(str(url), encoded=True)
        if url.userinfo:  # httpx turned it into an Authorization header already
            target = target.with_user(None)
        data: Any
        try:
            data = request.content or None
            streamed = False
        except httpx.RequestNotRead:
            data, streamed = request.stream, True
        extensions = request.extensions
        timeout = extensions.get("timeout") or {}
        try:
            typed = data is not None or request.method in _TYPED_METHODS
            headers, skip_auto_headers = _wire_headers(request, streamed, typed)
            response = await session.request(
                request.method,
                target,
                headers=headers,
                skip_auto_headers=skip_auto_headers,
                data=data,
                allow_redirects=False,
                timeout=_client_timeout(
                    timeout.get("connect"), timeout.get("read"), timeout.get("pool")
                ),
                server_hostname=extensions.get("sni_hostname"),
                ssl=self._tls_context() if url.scheme == "https" else True,
            )
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise map_exception(exc) from without_frames(exc)
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_ResponseStream(response),
            request=request,
            extensions={
                "http_version": _HTTP_VERSIONS.get(response.version, b"HTTP/1.1"),
                "reason_phrase": (response.reason or "").encode("ascii", errors="replace"),
            },
        )

    async def aclose(self) -> None:
        """Close the session and its connections; later requests raise ``RuntimeError``."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()
