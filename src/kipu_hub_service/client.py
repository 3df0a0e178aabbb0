"""``HubServiceClient`` and ``AsyncHubServiceClient``: the documented surface of the gateway SDK.

The two classes are thin: they validate their settings (``_config``), create or adopt the HTTP
client, and expose ``service_api``, whose operations go through the one request funnel. The
I/O code is written once, in ``_async/``; ``_sync/`` is generated from it by
``scripts/unasync.py``. The request path: facade (``service_api``) -> the request loop
(``_async/_funnel.py``: budget, credentials, one try with the bounded read, 401 refresh,
redirects, retries, error mapping) -> parse -> typed result.
"""

from __future__ import annotations

import logging as _logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from ._async._funnel import AsyncFunnel
from ._async.service_api import AsyncServiceApi
from ._config import ClientConfig
from ._retry import RetryPolicy
from ._sync._funnel import Funnel
from ._sync.service_api import ServiceApi
from .environment import HubServiceClientEnvironment

if TYPE_CHECKING:
    from .credentials import ClientCredentials

_HttpClient = TypeVar("_HttpClient", httpx.Client, httpx.AsyncClient)

__all__ = ["AsyncHubServiceClient", "AsyncServiceApi", "HubServiceClient", "ServiceApi"]


_NOT_SETTINGS = frozenset({"self", "httpx_client", "__class__"})


class _Facade:
    """What both clients share: the settings, the HTTP client, and how they show."""

    _config: ClientConfig
    _owns_client: bool

    def _open(
        self, kind: type[_HttpClient], httpx_client: _HttpClient | None, arguments: dict[str, Any]
    ) -> _HttpClient | None:
        """Check ``httpx_client`` and the constructor's ``arguments`` (its ``locals()``, so
        both constructors pass every setting the same way); ``httpx_client`` is returned."""
        if httpx_client is not None and not isinstance(httpx_client, kind):
            other = "HubServiceClient" if kind is httpx.AsyncClient else "AsyncHubServiceClient"
            raise TypeError(
                f"httpx_client must be an httpx.{kind.__name__} (use {other} for an "
                f"httpx.{'Client' if kind is httpx.AsyncClient else 'AsyncClient'})"
            )
        settings = {k: v for k, v in arguments.items() if k not in _NOT_SETTINGS}
        self._config = ClientConfig(injected=httpx_client is not None, **settings)
        self._owns_client = httpx_client is None
        return httpx_client

    @property
    def base_url(self) -> str:
        """The gateway URL every request goes to."""
        return str(self._config.base_url)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._config.display_url!r})"


class HubServiceClient(_Facade):
    """Client of one deployed service's gateway.

    Args:
        base_url: The concrete gateway URL of the service, e.g.
            ``https://gateway.hub.kipu-quantum.com/acme/vqe/v1``. Always wins over ``environment``.
        environment: Used when ``base_url`` is not given. ``DEFAULT`` is an un-substituted template.
        token: Bearer token, or a callable returning one (called for every request; called again
            once after a 401, and the request repeated once with the new token). A callable that
            caches its token may have an ``invalidate()`` method: it is called after a 401,
            before the callable is asked for the fresh token. Or a :class:`ClientCredentials`
            (an access key): tokens are fetched from its token endpoint through this client
            (its retry policy and errors), cached and refreshed before they expire, and a 401
            makes the call fetch a fresh one and repeat once.
        headers: Headers added to every request.
        timeout: Seconds (or an ``httpx.Timeout``). Defaults to 60 when the SDK creates the HTTP
            client; for an injected ``httpx_client`` its own timeout applies unless this is given.
        max_retries: Retries of transient failures (connection errors, timeouts, 408, 429, 5xx
            except 501) of idempotent requests; default 2, or ``retry_policy.max_retries``.
            When given together with ``retry_policy`` it replaces the policy's count.
        retry_policy: A :class:`RetryPolicy` for every call: backoff, jitter, time budget,
            ``Retry-After`` cap, and ``sleep=`` / ``async_sleep=`` hooks that wait (or record
            the waits) instead of ``time.sleep`` / ``asyncio.sleep``.
        follow_redirects: Follow redirects (default True). The token is sent only to
            ``base_url``'s origin, never to another host a redirect points at.
        httpx_client: A preconfigured ``httpx.Client`` (its transport, proxies, TLS, limits).
            Requests still go to ``base_url``. Not closed by :meth:`close`; the SDK adds no
            event hooks to it.
        logging: A ``logging.Logger``, or a dict ``{"level": ..., "logger": ..., "silent": ...}``.
            Default: the ``kipu_hub_service`` logger. ``level`` is set on the logger itself
            (``logger.setLevel``): without ``logger`` that is the shared ``kipu_hub_service``
            logger, so it changes the level for every client in the process; pass your own
            ``logger`` to set a level for this client only. ``{"silent": True}`` silences this
            client only. Tokens and headers are never logged.
        forward_parent_execution_token: Inside a running Hub service, where
            ``KQH_SERVICE_EXECUTION_TOKEN`` is set, gateway calls carry it as
            ``X-Parent-Execution-Token`` (never token requests; redacted like the token). False
            turns that off.
        max_response_size: Most bytes of a decoded JSON answer (default 64 MiB); a larger one
            raises :class:`ResponseTooLargeError`. Per call: ``request_options``.
        read_deadline: Seconds each try of a JSON call may take to receive its whole answer
            (default: 4 times the read timeout, so 240 s with the default timeout); when it
            passes, :class:`APITimeoutError`, not retried. Per call: ``request_options``.

    A client the SDK created may be used across ``os.fork()``: the child opens its own
    connections on its first request. An injected ``httpx_client`` must not be shared with a
    forked child: create the HTTP client and this client in the child.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        environment: HubServiceClientEnvironment | None = HubServiceClientEnvironment.DEFAULT,
        token: str | Callable[[], str] | ClientCredentials,
        headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        follow_redirects: bool = True,
        httpx_client: httpx.Client | None = None,
        logging: _logging.Logger | Mapping[str, Any] | None = None,
        forward_parent_execution_token: bool = True,
        max_response_size: int | None = None,
        read_deadline: float | None = None,
    ) -> None:
        client = self._open(httpx.Client, httpx_client, locals())
        self._funnel = Funnel(self._config, client)
        self.service_api = ServiceApi(self._funnel)

    @property
    def httpx_client(self) -> httpx.Client:
        """The underlying ``httpx.Client`` (in a forked child, the one opened there)."""
        return self._funnel.client

    def close(self) -> None:
        """Close the HTTP client the SDK created (an injected one is left open)."""
        self._funnel.close(client=self._owns_client)

    def __enter__(self) -> HubServiceClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncHubServiceClient(_Facade):
    """Async client of one deployed service's gateway; see :class:`HubServiceClient`.

    Adds ``async_token``: a coroutine function returning the token, used instead of ``token``
    when given. A plain ``token=`` callable is called on the event loop, blocking it while it
    runs: keep it fast (e.g. return a cached value), or use ``async_token`` for a token that
    needs I/O. A :class:`ClientCredentials` ``token`` fetches its tokens without blocking the
    loop. ``httpx_client`` is an ``httpx.AsyncClient``. When the SDK creates the client,
    ``aiohttp`` is installed (the ``fast`` extra) and no proxy is configured, it runs on the
    SDK's own aiohttp transport; set ``QHUB_SERVICE_NO_AIOHTTP=1`` (or inject a client) to use
    httpx's. Everything else works as on :class:`HubServiceClient` (the differences are listed
    in the docs' architecture page, *Sync and async*).
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        environment: HubServiceClientEnvironment | None = HubServiceClientEnvironment.DEFAULT,
        token: str | Callable[[], str] | ClientCredentials | None = None,
        async_token: Callable[[], Awaitable[str]] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        follow_redirects: bool = True,
        httpx_client: httpx.AsyncClient | None = None,
        logging: _logging.Logger | Mapping[str, Any] | None = None,
        forward_parent_execution_token: bool = True,
        max_response_size: int | None = None,
        read_deadline: float | None = None,
    ) -> None:
        client = self._open(httpx.AsyncClient, httpx_client, locals())
        self._funnel = AsyncFunnel(self._config, client)
        self.service_api = AsyncServiceApi(self._funnel)

    @property
    def httpx_client(self) -> httpx.AsyncClient:
        """The underlying ``httpx.AsyncClient`` (in a forked child, the one opened there)."""
        return self._funnel.client

    async def aclose(self) -> None:
        """Close the HTTP client the SDK created (an injected one is left open)."""
        await self._funnel.aclose(client=self._owns_client)

    async def __aenter__(self) -> AsyncHubServiceClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
