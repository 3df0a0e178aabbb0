"""The one request path of a client: build -> auth -> retry -> redirects -> read -> errors -> parse.

``ServiceApi`` methods name a generated request builder and a parser and call :meth:`call`;
downloads use :meth:`send` with ``stream=True`` and :meth:`raise_for_status`. A request is
sent with ``follow_redirects=False``: redirects are followed here (``_redirects``), and the
retry loop (``retry.py``) wraps each hop. A 2xx body is read inside the retry loop (a drop
mid-body is retried); any other body is read only up to ``BODY_CAP`` bytes, for its error.
Bodies are read raw and decoded in bounded steps, within a size cap and a read deadline
(``_bodies``).

Fork safety: a client the SDK created notices, on its next request, that it runs in a new
process (``os.fork``) and opens a new HTTP client there; the parent's client and its pooled
connections are kept in the child, neither used nor closed (they are the parent's). An injected
``httpx_client`` is never replaced: create it (and the SDK client) after the fork.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from .._auth import TokenAuth
from .._backend import AsyncBackend
from .._bodies import (
    ACCEPT_ENCODING,
    BODY_KEY,
    BodyLimits,
    BoundedDecoder,
    DeadlinePassed,
    TooLarge,
    UnsupportedEncoding,
    capped_response,
    check_deadline,
    check_size,
    deadline_for,
    encoding_of,
    limit_error,
)
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
        headers={"Accept-Encoding": ACCEPT_ENCODING, **config.headers},
        event_hooks={"response": [hold_redirect]},
    )


async def hold_redirect(response: httpx.Response) -> None:
    """Response hook of clients the SDK creates: hand a 3xx with a ``Location`` to the funnel
    (its body read, capped) before httpx tries to build the next hop (see ``_redirects``)."""
    if response.has_redirect_location:
        content = await _read_upto(response, BODY_CAP)
        raise RedirectAnswer(capped_response(response, content))


async def _read_upto(response: httpx.Response, limit: int) -> bytes:
    """The decoded body of ``response``, stopping once more than ``limit`` bytes were decoded
    (then at most one decoding step more); the response is closed. A body that breaks off, is
    corrupt or has an encoding the SDK does not decode is kept as far as it was decoded."""
    try:
        return response.content
    except httpx.ResponseNotRead:
        pass
    parts: list[bytes] = []
    size = 0
    try:
        decoder = BoundedDecoder(encoding_of(response))
        async for raw in response.aiter_raw():
            for piece in decoder.feed(raw):
                parts.append(piece)
                size += len(piece)
                if size > limit:
                    return b"".join(parts)
    except (httpx.HTTPError, httpx.StreamError, UnsupportedEncoding):
        pass
    finally:
        await response.aclose()
    return b"".join(parts)


async def _read_bounded(response: httpx.Response, limits: BodyLimits) -> bytes:
    """The decoded body of a 2xx ``response``: ``TooLarge`` past ``limits.cap`` decoded bytes,
    ``DeadlinePassed`` once ``limits.end`` has passed (checked as each piece arrives)."""
    try:
        content = response.content
    except httpx.ResponseNotRead:
        pass
    else:
        if len(content) > limits.cap:
            raise TooLarge(limits.cap)
        return content
    encoding = encoding_of(response)
    decoder = BoundedDecoder(encoding) if encoding else None
    parts: list[bytes] = []
    size = 0
    cap = limits.cap
    async for raw in response.aiter_raw():
        limits.check_time()
        for piece in (raw,) if decoder is None else decoder.feed(raw):
            size += len(piece)
            if size > cap:
                raise TooLarge(cap)
            parts.append(piece)
    if decoder is not None:
        decoder.check_end()
    return parts[0] if len(parts) == 1 else b"".join(parts)


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
        self._pid = os.getpid()
        self._left_behind: list[httpx.AsyncClient] = []

    def _renew_after_fork(self) -> None:
        """In a forked child: a new HTTP client for the SDK's own (the parent's is dropped,
        not closed: its sockets are the parent's). An injected client is kept as it is."""
        self._pid = os.getpid()
        if not self.config.injected:
            self._left_behind.append(self.client)  # never closed, nor collected, here
            self.client = make_http_client(self.config)
            self._client_send = self.client.send

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
        """The request for a generated ``request_kwargs`` result, and the call's retry policy."""
        return build_request(self.config, self.client, kwargs, options)

    async def call(
        self,
        kwargs: dict[str, Any],
        options: RequestOptions | None,
        parser: Callable[[bytes], _T],
    ) -> _T:
        """Build, send, raise the mapped error of a non-2xx answer, parse a 2xx body."""
        request, policy = build_request(self.config, self.client, kwargs, options)
        if self.config.injected:  # the SDK's own clients send it by default
            request.headers["Accept-Encoding"] = ACCEPT_ENCODING
        cap, deadline = self.config.max_response_size, self.config.read_deadline
        if options:
            if options.get("max_response_size") is not None:
                cap = check_size(
                    options["max_response_size"], "request_options['max_response_size']"
                )
            if options.get("read_deadline") is not None:
                deadline = check_deadline(
                    options["read_deadline"], "request_options['read_deadline']"
                )
        response = await self.send(request, policy, cap=cap, read_deadline=deadline)
        if not response.is_success:
            await self.raise_for_status(response)
        return self.errors.parsed(response, response.extensions[BODY_KEY], parser)

    async def send(
        self,
        request: httpx.Request,
        policy: RetryPolicy,
        *,
        stream: bool = False,
        auth: EndpointAuth | None = None,
        cap: int | None = None,
        read_deadline: float | None = None,
    ) -> httpx.Response:
        """Send with retries and redirects; a 2xx body is read unless ``stream`` (at most
        ``cap`` decoded bytes, within ``read_deadline``, see ``_bodies``); others unread.

        ``auth`` replaces the client's token auth: the token request's Basic credentials, for
        the token endpoint's origin only (a redirect elsewhere loses them).
        """
        config = self.config
        hop_auth: TokenAuth | EndpointAuth = config.auth if auth is None else auth
        once = (
            functools.partial(self._send_streamed, hop_auth)
            if stream
            else functools.partial(
                self._send_buffered,
                hop_auth,
                cap=config.max_response_size if cap is None else cap,
                read_deadline=read_deadline,
            )
        )
        hops = 0
        while True:
            try:
                response = await send_with_retries(once, request, policy, config.logger)
            except TokenUnavailable as failed:
                raise failed.error from failed.error.__cause__
            except httpx.RequestError as exc:
                raise self.errors.connection_error(exc, request) from exc
            except (TooLarge, DeadlinePassed, UnsupportedEncoding) as exc:
                raise limit_error(exc, request, self.config.auth.redactor(request)) from None
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
        if self._pid != os.getpid():
            self._renew_after_fork()
        try:
            return await self._client_send(request, auth=auth, follow_redirects=False, stream=True)
        except RedirectAnswer as answer:
            return answer.response
        except (httpx.InvalidURL, httpx.RemoteProtocolError) as exc:
            if self.config.injected and unusable_location_error(exc):
                raise self.errors.unusable_redirect(request) from exc
            raise

    async def _send_buffered(
        self, auth: httpx.Auth, request: httpx.Request, *, cap: int, read_deadline: float | None
    ) -> httpx.Response:
        limits = BodyLimits(cap, deadline_for(request, read_deadline))
        response = await self._send(auth, request)
        if not response.is_success:
            return response
        try:
            response.extensions[BODY_KEY] = await _read_bounded(response, limits)
        finally:
            await response.aclose()
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
