"""One try's round trip for the request loop, and the HTTP client the SDK makes.

For a try of the loop (``follow_redirects=False``, no auth of httpx's), ``client.send`` does
this around the transport's round trip:

- gives a request without a timeout the client's;
- attaches the request to a transport error;
- binds the response to its request;
- keeps the answer's cookies in the client's jar;
- logs one INFO line on the ``httpx`` logger;
- builds a 3xx's follow-up request, raising when it cannot read the ``Location``
  (``_redirects.check_location`` is that rule);
- times the response (``elapsed``), which the SDK never reads nor hands out.

:class:`AsyncWire` does all but the last itself, calling the transport directly, when the SDK
made the HTTP client around a transport of its own and no event hooks were added to it since:
httpx's layers around those steps cost about as much CPU as the steps themselves
(``docs/performance.md``, W8). The SDK makes its own transport (aiohttp, or httpx's
``AsyncHTTPTransport``/``HTTPTransport``, or ``testing.sdk_transport``'s) unless a proxy is
configured. Every other client (injected, left to httpx's client because of a proxy, closed,
or with event hooks) goes through ``client.send``.
"""

from __future__ import annotations

import logging

import httpx

from .._backend import AsyncBackend
from .._bodies import ACCEPT_ENCODING
from .._config import ClientConfig, transport_override
from .._redirects import check_location

NO_AUTH = httpx.Auth()
"""httpx's no-op auth: an injected client's own auth never adds to the loop's credentials."""
_HTTPX_LOG = logging.getLogger("httpx")


def make_wire(config: ClientConfig) -> AsyncWire:
    """The HTTP client the SDK creates when none is injected, with its transport."""
    transport = transport_override(httpx.AsyncBaseTransport)
    if not isinstance(transport, httpx.AsyncBaseTransport):
        transport = AsyncBackend.default_transport()
    client = httpx.AsyncClient(
        timeout=config.client_timeout,
        follow_redirects=False,
        transport=transport,
        headers={"Accept-Encoding": ACCEPT_ENCODING, **config.headers},
    )
    return AsyncWire(client, transport)


class AsyncWire:
    """``client`` and, when the SDK made it around one, its ``transport`` (see the module doc)."""

    __slots__ = ("_transport", "client")

    def __init__(
        self, client: httpx.AsyncClient, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.client = client
        self._transport = transport

    async def send(self, request: httpx.Request) -> httpx.Response:
        """One round trip of ``request``; the response's body is left unread."""
        client, transport = self.client, self._transport
        hooks = client.event_hooks
        if transport is None or client.is_closed or hooks["request"] or hooks["response"]:
            return await client.send(request, auth=NO_AUTH, follow_redirects=False, stream=True)
        if "timeout" not in request.extensions:
            request.extensions = {**request.extensions, "timeout": client.timeout.as_dict()}
        try:
            response = await transport.handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request
            raise
        response.request = request
        if "set-cookie" in response.headers:
            client.cookies.extract_cookies(response)
        if _HTTPX_LOG.isEnabledFor(logging.INFO):
            _HTTPX_LOG.info(
                'HTTP Request: %s %s "%s %d %s"',
                request.method,
                request.url,
                response.http_version,
                response.status_code,
                response.reason_phrase,
            )
        if response.has_redirect_location:
            try:
                check_location(request, response)
            except httpx.InvalidURL:
                await response.aclose()
                raise
        return response

    async def aclose(self) -> None:
        """Close the client (and so its transport)."""
        await self.client.aclose()
