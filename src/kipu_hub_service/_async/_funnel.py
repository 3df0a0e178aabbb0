"""The one request path of a client: build -> auth -> retry -> redirects -> read -> errors -> parse.

``ServiceApi`` methods name a generated request builder and a parser and call :meth:`call`;
downloads use :meth:`send` with ``stream=True`` and :meth:`raise_for_status`. A request is
sent with ``follow_redirects=False``: redirects are followed here (``_redirects``), and the
retry loop (``retry.py``) wraps each hop. A 2xx body is read inside the retry loop (a drop
mid-body is retried); any other body is read only up to ``BODY_CAP`` bytes, for its error.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from .._auth import TokenAuth
from .._backend import AsyncBackend
from .._config import ClientConfig, transport_override
from .._credentials import TokenUnavailable
from .._errors import ErrorMapper
from .._exchange import EndpointAuth
from .._redirects import MAX_REDIRECTS, RedirectAnswer, next_request, unusable_location_error
from .._requests import build_request
from .._retry import RetryPolicy
from ..core.api_error import BODY_CAP, APIStatusError
from ..core.request_options import RequestOptions
from .retry import send_with_retries

_T = TypeVar("_T")


def make_http_client(config: ClientConfig) -> httpx.AsyncClient:
    """The HTTP client the SDK creates when none is injected, with the redirect hook."""
    transport = transport_override(httpx.AsyncBaseTransport)
    if not isinstance(transport, httpx.AsyncBaseTransport):
        transport = AsyncBackend.default_transport()
    return httpx.AsyncClient(
        timeout=config.client_timeout,
        follow_redirects=False,
        transport=transport,
        headers=config.headers,
        event_hooks={"response": [hold_redirect]},
    )


async def hold_redirect(response: httpx.Response) -> None:
    """Response hook of clients the SDK creates: hand a 3xx with a ``Location`` to the funnel
    (its body read, capped) before httpx tries to build the next hop (see ``_redirects``)."""
    if response.has_redirect_location:
        content = await _read_upto(response, BODY_CAP)
        answer = httpx.Response(
            response.status_code,
            headers=response.headers,
            content=content,
            request=response.request,
            extensions=response.extensions,
        )
        raise RedirectAnswer(answer)


async def _read_upto(response: httpx.Response, limit: int) -> bytes:
    """The body of ``response``, stopping once more than ``limit`` bytes arrived (then at most
    one piece more); the response is closed. A body that breaks off is kept as far as it came."""
    try:
        return response.content
    except httpx.ResponseNotRead:
        pass
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            parts.append(chunk)
            size += len(chunk)
            if size > limit:
                break
    except (httpx.HTTPError, httpx.StreamError):
        pass
    finally:
        await response.aclose()
    return b"".join(parts)


def _restream(response: httpx.Response) -> httpx.Response:
    """A response whose body a transport already read (e.g. ``httpx.MockTransport`` with
    ``content=``) as an unread stream again, so raw streaming works on it like on the wire."""
    if not response.is_stream_consumed:
        return response
    fresh = httpx.Response(
        response.status_code,
        headers=response.headers,
        stream=httpx.ByteStream(response.content),
        request=response.request,
        extensions=response.extensions,
    )
    fresh.history = response.history
    return fresh


class AsyncFunnel:
    """Sends every request of one client (``config`` and its ``httpx.AsyncClient``)."""

    def __init__(self, config: ClientConfig, client: httpx.AsyncClient) -> None:
        self.config = config
        self.client = client
        self.errors = ErrorMapper(config.auth)
        self._client_send = client.send
        config.auth.bind(self.credentials_token)

    async def credentials_token(self) -> str:
        """The current token of the client's ``ClientCredentials`` (its auth asks for every
        request), fetched through this funnel when needed (``credentials.py``)."""
        from .credentials import current_token

        credentials = self.config.auth.credentials
        assert credentials is not None
        try:
            return await current_token(credentials, self)
        except Exception as exc:
            raise TokenUnavailable(exc) from None

    def build(
        self, kwargs: dict[str, Any], options: RequestOptions | None
    ) -> tuple[httpx.Request, RetryPolicy]:
        """The request for a generated ``_get_kwargs`` result, and the call's retry policy."""
        return build_request(self.config, self.client, kwargs, options)

    async def call(
        self,
        kwargs: dict[str, Any],
        options: RequestOptions | None,
        parser: Callable[[bytes], _T],
    ) -> _T:
        """Build, send, raise the mapped error of a non-2xx answer, parse a 2xx body."""
        request, policy = build_request(self.config, self.client, kwargs, options)
        response = await self.send(request, policy)
        if not response.is_success:
            await self.raise_for_status(response)
        return self.errors.parsed(response, response.content, parser)

    async def send(
        self,
        request: httpx.Request,
        policy: RetryPolicy,
        *,
        stream: bool = False,
        auth: EndpointAuth | None = None,
    ) -> httpx.Response:
        """Send with retries and redirects; a 2xx body is read unless ``stream``; others unread.

        ``auth`` replaces the client's token auth: the token request's Basic credentials, for
        the token endpoint's origin only (a redirect elsewhere loses them).
        """
        config = self.config
        hop_auth: TokenAuth | EndpointAuth = config.auth if auth is None else auth
        once = functools.partial(self._send_streamed if stream else self._send_buffered, hop_auth)
        hops = 0
        while True:
            try:
                response = await send_with_retries(once, request, policy, config.logger)
            except TokenUnavailable as failed:
                raise failed.error from failed.error.__cause__
            except httpx.RequestError as exc:
                raise self.errors.connection_error(exc, request) from exc
            self._log(config.logger, response)
            if not (config.follow_redirects and response.has_redirect_location):
                return response
            hops += 1
            if hops > MAX_REDIRECTS:
                await response.aclose()
                raise self.errors.too_many_redirects(response)
            follow = next_request(request, response, hop_auth.applies_to)
            if follow is None:
                raise await self._status_error(response)
            await response.aclose()
            request = follow

    def streamer(self, policy: RetryPolicy) -> AsyncStreamer:
        """``send(request, stream=True)`` of one call, for the downloads."""
        return AsyncStreamer(self, policy)

    async def raise_for_status(self, response: httpx.Response) -> None:
        """Raise the mapped error for a non-2xx response, reading at most ``BODY_CAP`` of it."""
        if not response.is_success:
            raise await self._status_error(response)

    async def _status_error(self, response: httpx.Response) -> APIStatusError:
        content = await self.error_body(response)
        return self.errors.status_error(response, content[:BODY_CAP], len(content) > BODY_CAP)

    @staticmethod
    async def error_body(response: httpx.Response) -> bytes:
        """A non-2xx answer's body, read up to ``BODY_CAP`` bytes (and at most one piece more:
        longer means it was cut); the response is closed."""
        return await _read_upto(response, BODY_CAP)

    async def _send(self, auth: httpx.Auth, request: httpx.Request) -> httpx.Response:
        """One try: auth and transport. A 3xx handed over by ``hold_redirect`` is returned; an
        injected client's failure to build a redirect's next hop is an ``APIConnectionError``."""
        try:
            return await self._client_send(request, auth=auth, follow_redirects=False, stream=True)
        except RedirectAnswer as answer:
            return answer.response
        except (httpx.InvalidURL, httpx.RemoteProtocolError) as exc:
            if self.config.injected and unusable_location_error(exc):
                raise self.errors.unusable_redirect(request) from exc
            raise

    async def _send_buffered(self, auth: httpx.Auth, request: httpx.Request) -> httpx.Response:
        response = await self._send(auth, request)
        if response.is_success:
            try:
                await response.aread()
            except BaseException:
                await response.aclose()
                raise
        return response

    async def _send_streamed(self, auth: httpx.Auth, request: httpx.Request) -> httpx.Response:
        return _restream(await self._send(auth, request))

    @staticmethod
    def _log(logger: logging.Logger | None, response: httpx.Response) -> None:
        """One DEBUG line per request sent: the answers that came before ``response`` in
        httpx's ``history`` (the 401 that made a token callable refresh) are logged first."""
        if logger is not None and logger.isEnabledFor(logging.DEBUG):
            for answer in (*response.history, response):
                request = answer.request
                logger.debug("%s %s -> %d", request.method, request.url.path, answer.status_code)


class AsyncStreamer:
    """The funnel's ``send`` with ``stream=True`` and one call's retry policy."""

    def __init__(self, funnel: AsyncFunnel, policy: RetryPolicy) -> None:
        self._funnel = funnel
        self._policy = policy

    async def send(self, request: httpx.Request, *, stream: bool = True) -> httpx.Response:
        """Send ``request`` through the funnel with this call's policy."""
        return await self._funnel.send(request, self._policy, stream=stream)
