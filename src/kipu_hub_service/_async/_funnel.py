"""The request loop of a client: every call, redirect hop and token request goes through it.

:meth:`AsyncFunnel.send` is the whole path of one call, top to bottom: the time budget, then per
try the credentials (the gateway token, fetched through this loop for ``ClientCredentials``, or
the token request's Basic credentials), one transport round trip with the bounded body read, and
the decision: a 401 asks for a fresh token once, a redirect becomes the next hop (credentials
stay on their origin), a transient failure waits and tries again, anything else is the answer.
Failures become ``ApiError`` subclasses here (``_errors``), and :meth:`call` parses a 2xx body.

Each try is one round trip of the loop's ``AsyncWire`` (``_wire``): straight to the transport on
the HTTP client the SDK made, else ``client.send`` with ``follow_redirects=False`` and a no-op
auth; either way redirects and credentials are this loop's alone. Bodies are read raw and
decoded in bounded steps within a size cap and a read deadline (``_bodies``, ``_read``).

Fork safety: a client the SDK created notices, on its next request, that it runs in a new
process (``os.fork``) and opens a new HTTP client there; the parent's client and its pooled
connections are kept in the child, neither used nor closed (they are the parent's). An injected
``httpx_client`` is never replaced: create it (and the SDK client) after the fork.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from .._backend import AsyncBackend
from .._bodies import (
    BodyLimits,
    DeadlinePassed,
    TooLarge,
    UnsupportedEncoding,
    limit_error,
)
from .._calls import Answer, CallOptions, default_deadline, resolve_options
from .._config import ClientConfig, proxies_configured, transport_override
from .._credentials import _TokenCache
from .._errors import ErrorMapper
from .._exchange import FORM_BODY, TOKEN_ANSWER_CAP, TOKEN_HEADERS, EndpointAuth
from .._redirects import MAX_REDIRECTS, next_request, unusable_location_error
from .._requests import RequestBuilder
from .._retry import SAFE_TO_REPEAT, Budget, RetryPolicy, retry_delay, retry_reason
from .._secrets import Hidden
from ..core.api_error import BODY_CAP, APIStatusError
from ._read import read_bounded, read_upto, restream
from ._tokens import current_token
from ._wire import AsyncWire, make_wire
from .retry import close_quietly, pause

if TYPE_CHECKING:
    from .._files import Flushes

_T = TypeVar("_T")


class AsyncFunnel:
    """Sends every request of one client (``config``, and the injected ``httpx.AsyncClient`` or,
    when ``client`` is None, the one the SDK makes)."""

    def __init__(self, config: ClientConfig, client: httpx.AsyncClient | None) -> None:
        self.config = config
        self.wire = make_wire(config) if client is None else AsyncWire(client)
        client = self.wire.client
        self.errors = ErrorMapper(config.auth)
        timeout = config.request_timeout or client.timeout
        self.defaults = CallOptions(
            timeout=timeout,
            policy=config.policy,
            headers=None,
            chunk_size=None,
            max_response_size=config.max_response_size,
            read_deadline=default_deadline(timeout, config.read_deadline),
        )
        """The client's settings as the options of a call without ``request_options``."""
        self._pid = os.getpid()
        self._left_behind: list[httpx.AsyncClient] = []
        self._direct: AsyncWire | None = None
        self._flushes: Flushes | None = None
        self._last_options: tuple[object, tuple[Any, ...], CallOptions] | None = None
        self._requests = RequestBuilder(config.prefix, config.request_headers, config.injected)

    def flushes(self) -> Flushes:
        """Where this client's downloads flush their files (made on the first download, so
        the file-system code loads only then)."""
        if self._flushes is None:
            from .._files import Flushes

            self._flushes = Flushes()
        return self._flushes

    @property
    def client(self) -> httpx.AsyncClient:
        """The HTTP client (in a forked child, the one opened there)."""
        return self.wire.client

    def options(self, request_options: object) -> CallOptions:
        """The options of one call: the client's, with ``request_options`` checked and applied.

        The last dict of plain values (numbers, strings) is remembered with what it held, so a
        caller that passes the same options to every call (a sweep's ``max_retries=0``) has
        them checked once; changed in place, they are checked again."""
        if request_options is None:
            return self.defaults
        held = _plain_items(request_options)
        last = self._last_options
        if last is not None and last[0] is request_options and last[1] == held:
            return last[2]  # the same dict, holding the same plain values
        opts = resolve_options(self.defaults, request_options)
        if held is not None:
            self._last_options = (request_options, held, opts)
        return opts

    def build(
        self, kwargs: Mapping[str, Any], opts: CallOptions, *, json_call: bool = True
    ) -> httpx.Request:
        """The request for a generated builder's result (method, url, json, headers)."""
        return self._requests.build(
            self.client, kwargs, opts.timeout, opts.headers, json_call=json_call
        )

    async def call(
        self,
        kwargs: Mapping[str, Any],
        request_options: object,
        parser: Callable[[bytes], _T],
    ) -> _T:
        """One JSON call: build, send, raise the mapped error of a non-2xx answer, parse."""
        opts = self.options(request_options)
        answer = await self.send(self.build(kwargs, opts), opts)
        if answer.body is None:
            raise await self.status_error(answer.response)
        return self.errors.parsed(answer.response, answer.body, parser)

    async def send(
        self,
        request: httpx.Request,
        opts: CallOptions,
        *,
        stream: bool = False,
        auth: EndpointAuth | None = None,
        budget: Budget | None = None,
    ) -> Answer:
        """The loop of one call (see the module doc). ``stream``: a 2xx body is left unread;
        ``auth``: the token request's Basic credentials instead of the gateway token;
        ``budget``: the budget of the call this request is part of (the token request)."""
        policy = opts.policy
        budget = Budget(policy.max_elapsed) if budget is None else budget
        retries = hops = 0
        refreshed = authorized = False
        while True:
            if not authorized:
                await self._authorize(request, opts, auth, budget)
            authorized = False
            try:
                answer = await self._try(request, opts, stream, auth)
            except (TooLarge, DeadlinePassed, UnsupportedEncoding) as exc:
                redact = self.config.auth.redactor(request)
                raise limit_error(exc, request, redact, token_request=auth is not None) from None
            except httpx.RequestError as exc:  # connect, read, write, protocol, decoding
                delay = retry_delay(policy, request, retries, budget, exc)
                if delay is None:
                    raise self.errors.connection_error(exc, request) from exc
                retries += 1
                await self._wait(request, policy, retries, delay, budget, exc)
                continue
            response = answer.response
            if response.status_code == 401 and auth is None and not refreshed:
                refreshed = True
                if await self._reauthorize(request, opts, budget):
                    await close_quietly(response)
                    authorized = True
                    continue
            if self.config.follow_redirects and response.has_redirect_location:
                hops += 1
                request = await self._next_hop(request, response, hops, auth)
                continue
            delay = retry_delay(policy, request, retries, budget, response)
            if delay is None:
                return answer
            await close_quietly(response)
            retries += 1
            await self._wait(request, policy, retries, delay, budget, response)

    async def _authorize(
        self, request: httpx.Request, opts: CallOptions, auth: EndpointAuth | None, budget: Budget
    ) -> None:
        """Credentials for this try: the Basic ones of the token request on its endpoint's
        origin, or the gateway token on ``base_url``'s origin (none anywhere else)."""
        if auth is not None:
            auth.apply(request)
            return
        token_auth = self.config.auth
        if not token_auth.prepare(request):  # another origin, or a fixed token (attached)
            return
        if token_auth.credentials is not None:
            token_auth.put(request, await self._token(token_auth.credentials, opts, budget))
        else:
            token_auth.put(request, await AsyncBackend.maybe_await(token_auth.call_source()))

    async def _token(self, credentials: _TokenCache, opts: CallOptions, budget: Budget) -> Hidden:
        """The credentials' current token, fetched (when due) in the budget of the call."""
        cached = credentials._cached_token()  # the common case: no lock, no flight
        if cached is not None:
            return cached
        return await current_token(credentials, self, opts.with_cap(TOKEN_ANSWER_CAP), budget)

    async def _reauthorize(self, request: httpx.Request, opts: CallOptions, budget: Budget) -> bool:
        """After a 401 on ``base_url``'s origin: forget the refused token, attach a fresh one.
        False when there is none to try (a fixed token, or the same one again)."""
        token_auth = self.config.auth
        refused = Hidden(request.headers.get("Authorization", ""))
        if not (refused and token_auth.refreshable and token_auth.applies_to(request.url)):
            return False
        await AsyncBackend.maybe_await(token_auth.invalidate(refused))
        await self._authorize(request, opts, None, budget)
        return bool(request.headers.get("Authorization") != refused)

    async def _try(
        self, request: httpx.Request, opts: CallOptions, stream: bool, auth: EndpointAuth | None
    ) -> Answer:
        """One round trip; a 2xx JSON body is read here, within the cap and the read deadline
        (so a connection that drops mid-body is retried like any transport failure)."""
        limits = BodyLimits(opts.max_response_size, opts.read_deadline)
        response = await self._transport_send(request, auth)
        self._log(response)
        if stream:
            return Answer(restream(response), None)
        if not response.is_success:
            return Answer(response, None)
        try:
            return Answer(response, await read_bounded(response, limits))
        finally:
            await response.aclose()

    async def _transport_send(
        self, request: httpx.Request, auth: EndpointAuth | None
    ) -> httpx.Response:
        """One round trip (``AsyncWire.send``). The token request over plain http (a loopback
        endpoint) never goes through a proxy from the environment."""
        if self._pid != os.getpid():
            self._renew_after_fork()
        wire = self.wire
        if auth is not None and request.url.scheme == "http" and self._env_proxy(wire.client):
            wire = self._direct_wire()
        try:
            return await wire.send(request)
        except (httpx.InvalidURL, httpx.RemoteProtocolError) as exc:
            if unusable_location_error(exc):  # httpx could not read a redirect's Location
                raise self.errors.unusable_redirect(request) from exc
            raise

    async def _next_hop(
        self, request: httpx.Request, response: httpx.Response, hops: int, auth: EndpointAuth | None
    ) -> httpx.Request:
        """The request a redirect points at (credentials dropped when it leaves their origin);
        an unusable ``Location`` is the 3xx's status error, too many hops a connection error."""
        if hops > MAX_REDIRECTS:
            await close_quietly(response)
            raise self.errors.too_many_redirects(response)
        applies_to = self.config.auth.applies_to if auth is None else auth.applies_to
        follow = next_request(request, response, applies_to)
        if follow is None:
            raise await self.status_error(response)
        await close_quietly(response)
        return follow

    async def _wait(
        self,
        request: httpx.Request,
        policy: RetryPolicy,
        retry: int,
        delay: float,
        budget: Budget,
        outcome: httpx.Response | Exception,
    ) -> None:
        logger = self.config.logger
        if logger is not None and logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "retrying %s %s (retry %d of %d) after %s; waiting %.3fs",
                request.method,
                request.url.path,
                retry,
                policy.max_retries,
                retry_reason(outcome),
                delay,
            )
        await pause(policy, delay, budget)

    async def send_token_request(
        self, credentials: _TokenCache, opts: CallOptions, budget: Budget
    ) -> Answer:
        """The token request of ``credentials``, through this loop within ``budget``."""
        request = httpx.Request(
            "POST",
            credentials.token_endpoint,
            headers={**TOKEN_HEADERS, "User-Agent": self.config.headers["User-Agent"]},
            content=FORM_BODY,
            extensions={"timeout": opts.timeout.as_dict(), SAFE_TO_REPEAT: True},
        )
        return await self.send(request, opts, auth=credentials._endpoint_auth, budget=budget)

    def streamer(self, opts: CallOptions) -> AsyncStreamer:
        """``send(request, stream=True)`` with one call's options, for the downloads."""
        return AsyncStreamer(self, opts)

    async def raise_for_status(self, response: httpx.Response) -> None:
        """Raise the mapped error for a non-2xx response, reading at most ``BODY_CAP`` of it."""
        if not response.is_success:
            raise await self.status_error(response)

    async def status_error(self, response: httpx.Response) -> APIStatusError:
        """The mapped error of a non-2xx response, its body read up to ``BODY_CAP``."""
        content = await self.error_body(response)
        return self.errors.status_error(response, content[:BODY_CAP], len(content) > BODY_CAP)

    async def error_body(self, response: httpx.Response) -> bytes:
        """A non-2xx answer's body, read up to ``BODY_CAP`` bytes (and at most one piece more:
        longer means it was cut); the response is closed."""
        return await read_upto(response, BODY_CAP)

    def _log(self, response: httpx.Response) -> None:
        """One DEBUG line per request sent (never headers)."""
        logger = self.config.logger
        if logger is not None and logger.isEnabledFor(logging.DEBUG):
            request = response.request
            logger.debug("%s %s -> %d", request.method, request.url.path, response.status_code)

    @staticmethod
    def _env_proxy(client: httpx.AsyncClient) -> bool:
        return client.trust_env and proxies_configured()

    def _direct_wire(self) -> AsyncWire:
        """An HTTP client that reads no proxy from the environment (plain-http token requests)."""
        if self._direct is None:
            found = transport_override(httpx.AsyncBaseTransport)
            transport = found if isinstance(found, httpx.AsyncBaseTransport) else None
            self._direct = AsyncWire(httpx.AsyncClient(trust_env=False, transport=transport))
        return self._direct

    def _renew_after_fork(self) -> None:
        """In a forked child: a new HTTP client for the SDK's own (the parent's is dropped,
        not closed: its sockets are the parent's). An injected client is kept as it is."""
        self._pid = os.getpid()
        self._direct = None
        if not self.config.injected:
            self._left_behind.append(self.client)  # never closed, nor collected, here
            self.wire = make_wire(self.config)

    async def aclose(self, *, client: bool) -> None:
        """Close the direct client, and the HTTP client when ``client`` (the SDK's own)."""
        direct, self._direct = self._direct, None
        if direct is not None:
            await direct.aclose()
        if client:
            await self.client.aclose()


_PLAIN = frozenset({int, float, str})


def _plain_items(options: object) -> tuple[Any, ...] | None:
    """``options``' keys with each value and its exact type, when it is a dict of numbers and
    strings only (a value of another type, ``True`` among them, is never remembered)."""
    if type(options) is not dict:
        return None
    held = tuple((key, type(value), value) for key, value in options.items())
    return held if all(kind in _PLAIN for _, kind, _ in held) else None


class AsyncStreamer:
    """The loop's ``send`` with ``stream=True`` and one call's options (the downloads)."""

    def __init__(self, funnel: AsyncFunnel, opts: CallOptions) -> None:
        self._funnel = funnel
        self._opts = opts

    async def send(self, request: httpx.Request, *, stream: bool = True) -> httpx.Response:
        """Send ``request`` through the loop with this call's options."""
        answer = await self._funnel.send(request, self._opts, stream=stream)
        return answer.response


async def standalone_token(
    credentials: _TokenCache,
    timeout: float | None,  # noqa: ASYNC109 (each HTTP request's timeout, not a deadline)
    max_retries: int | None,
) -> Hidden:
    """``get_token()`` without a client: a short-lived HTTP client (default settings unless
    ``timeout``/``max_retries`` say otherwise) when a token has to be fetched."""
    cached = credentials._cached_token()
    if cached is not None:
        return cached
    config = ClientConfig(
        base_url=credentials.token_endpoint,
        environment=None,
        token=credentials,
        headers=None,
        timeout=timeout,
        max_retries=max_retries,
        follow_redirects=True,
        logging=None,
        injected=False,
        forward_parent_execution_token=False,
    )
    funnel = AsyncFunnel(config, None)
    try:
        opts = funnel.defaults.with_cap(TOKEN_ANSWER_CAP)
        return await current_token(credentials, funnel, opts, Budget(opts.policy.max_elapsed))
    finally:
        await funnel.aclose(client=True)
