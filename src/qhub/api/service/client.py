"""``HubServiceClient`` and ``AsyncHubServiceClient``: the documented surface of the gateway SDK.

Both are thin: every rule (auth, retries, redirects, error mapping, parsing) lives once in
``_core`` and the two clients differ only in awaiting.
"""

from __future__ import annotations

import logging as _logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from qhub_service_gen.api.service_api import cancel_execution as _cancel_execution
from qhub_service_gen.api.service_api import get_logs as _get_logs
from qhub_service_gen.api.service_api import get_result as _get_result
from qhub_service_gen.api.service_api import get_result_file as _get_result_file
from qhub_service_gen.api.service_api import get_service_executions as _get_service_executions
from qhub_service_gen.api.service_api import get_status as _get_status
from qhub_service_gen.api.service_api import start_execution as _start_execution
from qhub_service_gen.models import LogEntry, ResultResponse, ServiceExecution

from ._core import (
    AsyncIO,
    ClientCore,
    SyncIO,
    check_chunk_size,
    check_segment,
    make_async_client,
    make_sync_client,
    parse_execution,
    parse_executions,
    parse_logs,
    parse_result,
    request_body,
)
from ._helpers import _AsyncHelpers, _SyncHelpers
from ._retry import RetryPolicy
from .core.request_options import RequestOptions
from .environment import HubServiceClientEnvironment

__all__ = ["AsyncHubServiceClient", "AsyncServiceApi", "HubServiceClient", "ServiceApi"]


class ServiceApi(_SyncHelpers):
    """The gateway's operations (``client.service_api``).

    Every method accepts ``request_options`` (see :class:`RequestOptions`) overriding the
    client's timeout, retries and headers for that call. Errors are :class:`ApiError`
    subclasses; an ``id`` or ``file`` that is empty raises ``ValueError`` before anything is sent.
    """

    def __init__(self, io: SyncIO) -> None:
        self._io = io
        self._core = io.core

    def get_service_executions(
        self, *, request_options: RequestOptions | None = None
    ) -> list[ServiceExecution]:
        """List every execution started through this gateway."""
        io = self._io
        request = self._core.build(
            io.client, _get_service_executions._get_kwargs(), request_options
        )
        response, content = io.call(request)
        return self._core.parse(response, content, parse_executions)

    def start_execution(
        self, *, request: Mapping[str, Any], request_options: RequestOptions | None = None
    ) -> ServiceExecution:
        """Start an execution; ``request`` is the JSON body (``input``, ``inputDataRefs``, ...).

        Sends a fresh ``Idempotency-Key``, the same on every retry of this call, so a retry
        after a lost response cannot start a second execution.
        """
        io = self._io
        kwargs = _start_execution._get_kwargs(
            body=request_body(request), idempotency_key=str(uuid.uuid4())
        )
        response, content = io.call(self._core.build(io.client, kwargs, request_options))
        return self._core.parse(response, content, parse_execution)

    def get_status(
        self, id: str, *, request_options: RequestOptions | None = None
    ) -> ServiceExecution:
        """A snapshot of one execution's lifecycle state."""
        io = self._io
        kwargs = _get_status._get_kwargs(check_segment(id, "id"))
        response, content = io.call(self._core.build(io.client, kwargs, request_options))
        return self._core.parse(response, content, parse_execution)

    def get_result(
        self, id: str, *, request_options: RequestOptions | None = None
    ) -> ResultResponse:
        """The HAL result envelope: ``.links``, ``.embedded``, other keys as ``result[key]``."""
        io = self._io
        kwargs = _get_result._get_kwargs(check_segment(id, "id"))
        response, content = io.call(self._core.build(io.client, kwargs, request_options))
        return self._core.parse(response, content, parse_result)

    def get_result_file(
        self, id: str, file: str, *, request_options: RequestOptions | None = None
    ) -> Iterator[bytes]:
        """Stream one result file; the request is sent when iteration starts.

        ``request_options["chunk_size"]`` fixes the chunk size; by default chunks are yielded
        as they arrive.
        """
        io = self._io
        kwargs = _get_result_file._get_kwargs(check_segment(id, "id"), check_segment(file, "file"))
        chunk_size = check_chunk_size(request_options)
        request = self._core.build(io.client, kwargs, request_options)
        return io.iter_file(request, chunk_size)

    def get_logs(
        self, id: str, *, request_options: RequestOptions | None = None
    ) -> list[LogEntry] | None:
        """Log entries, oldest first; None while the execution has emitted none."""
        io = self._io
        kwargs = _get_logs._get_kwargs(check_segment(id, "id"))
        response, content = io.call(self._core.build(io.client, kwargs, request_options))
        return self._core.parse(response, content, parse_logs)

    def cancel_execution(self, id: str, *, request_options: RequestOptions | None = None) -> None:
        """Ask the gateway to cancel a pending or running execution."""
        io = self._io
        kwargs = _cancel_execution._get_kwargs(check_segment(id, "id"))
        io.call(self._core.build(io.client, kwargs, request_options))

    def download_result_file(
        self,
        id: str,
        file: str,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = True,
        on_progress: Callable[[int, int | None], object] | None = None,
        request_options: RequestOptions | None = None,
    ) -> Path:
        """Download one result file to ``path``: atomic (temp file, then rename), resumes a
        partial file left by an earlier attempt, verifies the size; returns ``path``.

        ``on_progress(written, total)`` is called as bytes are written (``total`` is None while
        unknown). ``overwrite=False`` never writes an existing ``path``: it is kept when it is
        the server's whole file (one bodiless check for a file this download wrote, a byte
        comparison for any other) and ``FileExistsError`` is raised otherwise."""
        io = self._io
        kwargs = _get_result_file._get_kwargs(check_segment(id, "id"), check_segment(file, "file"))
        chunk_size = check_chunk_size(request_options)
        request = self._core.build(io.client, kwargs, request_options)
        return io.download(request, path, chunk_size, overwrite=overwrite, on_progress=on_progress)


class AsyncServiceApi(_AsyncHelpers):
    """The gateway's operations on :class:`AsyncHubServiceClient` (``client.service_api``).

    Same methods as :class:`ServiceApi`, as coroutines; ``get_result_file`` returns an async
    iterator directly (``async for chunk in service_api.get_result_file(id, file)``).
    """

    def __init__(self, io: AsyncIO) -> None:
        self._io = io
        self._core = io.core

    async def get_service_executions(
        self, *, request_options: RequestOptions | None = None
    ) -> list[ServiceExecution]:
        """List every execution started through this gateway."""
        io = self._io
        request = self._core.build(
            io.client, _get_service_executions._get_kwargs(), request_options
        )
        response, content = await io.call(request)
        return self._core.parse(response, content, parse_executions)

    async def start_execution(
        self, *, request: Mapping[str, Any], request_options: RequestOptions | None = None
    ) -> ServiceExecution:
        """Start an execution (with a fresh ``Idempotency-Key``, reused on its retries)."""
        io = self._io
        kwargs = _start_execution._get_kwargs(
            body=request_body(request), idempotency_key=str(uuid.uuid4())
        )
        response, content = await io.call(self._core.build(io.client, kwargs, request_options))
        return self._core.parse(response, content, parse_execution)

    async def get_status(
        self, id: str, *, request_options: RequestOptions | None = None
    ) -> ServiceExecution:
        """A snapshot of one execution's lifecycle state."""
        io = self._io
        kwargs = _get_status._get_kwargs(check_segment(id, "id"))
        response, content = await io.call(self._core.build(io.client, kwargs, request_options))
        return self._core.parse(response, content, parse_execution)

    async def get_result(
        self, id: str, *, request_options: RequestOptions | None = None
    ) -> ResultResponse:
        """The HAL result envelope: ``.links``, ``.embedded``, other keys as ``result[key]``."""
        io = self._io
        kwargs = _get_result._get_kwargs(check_segment(id, "id"))
        response, content = await io.call(self._core.build(io.client, kwargs, request_options))
        return self._core.parse(response, content, parse_result)

    def get_result_file(
        self, id: str, file: str, *, request_options: RequestOptions | None = None
    ) -> AsyncIterator[bytes]:
        """Stream one result file (an async iterator; no ``await`` needed to get it)."""
        io = self._io
        kwargs = _get_result_file._get_kwargs(check_segment(id, "id"), check_segment(file, "file"))
        chunk_size = check_chunk_size(request_options)
        request = self._core.build(io.client, kwargs, request_options)
        return io.aiter_file(request, chunk_size)

    async def get_logs(
        self, id: str, *, request_options: RequestOptions | None = None
    ) -> list[LogEntry] | None:
        """Log entries, oldest first; None while the execution has emitted none."""
        io = self._io
        kwargs = _get_logs._get_kwargs(check_segment(id, "id"))
        response, content = await io.call(self._core.build(io.client, kwargs, request_options))
        return self._core.parse(response, content, parse_logs)

    async def cancel_execution(
        self, id: str, *, request_options: RequestOptions | None = None
    ) -> None:
        """Ask the gateway to cancel a pending or running execution."""
        io = self._io
        kwargs = _cancel_execution._get_kwargs(check_segment(id, "id"))
        await io.call(self._core.build(io.client, kwargs, request_options))

    async def download_result_file(
        self,
        id: str,
        file: str,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = True,
        on_progress: Callable[[int, int | None], object] | None = None,
        request_options: RequestOptions | None = None,
    ) -> Path:
        """Download one result file to ``path``: atomic (temp file, then rename), resumes a
        partial file left by an earlier attempt, verifies the size; returns ``path``.

        ``on_progress(written, total)`` is a plain function (called, not awaited);
        ``overwrite`` works as on the sync client."""
        io = self._io
        kwargs = _get_result_file._get_kwargs(check_segment(id, "id"), check_segment(file, "file"))
        chunk_size = check_chunk_size(request_options)
        request = self._core.build(io.client, kwargs, request_options)
        return await io.download(
            request, path, chunk_size, overwrite=overwrite, on_progress=on_progress
        )


class HubServiceClient:
    """Client of one deployed service's gateway.

    Args:
        base_url: The concrete gateway URL of the service, e.g.
            ``https://gateway.hub.kipu-quantum.com/acme/vqe/v1``. Always wins over ``environment``.
        environment: Used when ``base_url`` is not given. ``DEFAULT`` is an un-substituted template.
        token: Bearer token, or a callable returning one (called for every request; called again
            once after a 401, and the request repeated once with the new token). A callable that
            caches its token may have an ``invalidate()`` method: it is called after a 401,
            before the callable is asked for the fresh token.
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
            Default: the ``qhub.api.service`` logger. ``level`` is set on the logger itself
            (``logger.setLevel``): without ``logger`` that is the shared ``qhub.api.service``
            logger, so it changes the level for every client in the process; pass your own
            ``logger`` to set a level for this client only. ``{"silent": True}`` silences this
            client only. Tokens and headers are never logged.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        environment: HubServiceClientEnvironment | None = HubServiceClientEnvironment.DEFAULT,
        token: str | Callable[[], str],
        headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        follow_redirects: bool = True,
        httpx_client: httpx.Client | None = None,
        logging: _logging.Logger | Mapping[str, Any] | None = None,
    ) -> None:
        if httpx_client is not None and not isinstance(httpx_client, httpx.Client):
            raise TypeError(
                "httpx_client must be an httpx.Client (use AsyncHubServiceClient for an "
                "httpx.AsyncClient)"
            )
        self._core = ClientCore(
            base_url=base_url,
            environment=environment,
            token=token,
            headers=headers,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            follow_redirects=follow_redirects,
            logging_config=logging,
            injected=httpx_client is not None,
        )
        self._owns_client = httpx_client is None
        self._client = httpx_client if httpx_client is not None else make_sync_client(self._core)
        self.service_api = ServiceApi(SyncIO(self._core, self._client))

    @property
    def base_url(self) -> str:
        """The gateway URL every request goes to."""
        return str(self._core.base_url)

    @property
    def httpx_client(self) -> httpx.Client:
        """The underlying ``httpx.Client``."""
        return self._client

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._core.display_url!r})"

    def close(self) -> None:
        """Close the HTTP client the SDK created (an injected one is left open)."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> HubServiceClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncHubServiceClient:
    """Async client of one deployed service's gateway; see :class:`HubServiceClient`.

    Adds ``async_token``: a coroutine function returning the token, used instead of ``token``
    when given. A plain ``token=`` callable is called on the event loop, blocking it while it
    runs: keep it fast (e.g. return a cached value), or use ``async_token`` for a token that
    needs I/O. ``httpx_client`` is an ``httpx.AsyncClient``. When the SDK creates the client and
    ``httpx-aiohttp`` is installed (the ``fast`` extra) it runs on aiohttp; set
    ``QHUB_SERVICE_NO_AIOHTTP=1`` (or inject a client) to use httpx's own transport.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        environment: HubServiceClientEnvironment | None = HubServiceClientEnvironment.DEFAULT,
        token: str | Callable[[], str] | None = None,
        async_token: Callable[[], Awaitable[str]] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        follow_redirects: bool = True,
        httpx_client: httpx.AsyncClient | None = None,
        logging: _logging.Logger | Mapping[str, Any] | None = None,
    ) -> None:
        if httpx_client is not None and not isinstance(httpx_client, httpx.AsyncClient):
            raise TypeError(
                "httpx_client must be an httpx.AsyncClient (use HubServiceClient for an "
                "httpx.Client)"
            )
        self._core = ClientCore(
            base_url=base_url,
            environment=environment,
            token=token,
            async_token=async_token,
            headers=headers,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            follow_redirects=follow_redirects,
            logging_config=logging,
            injected=httpx_client is not None,
        )
        self._owns_client = httpx_client is None
        self._client = httpx_client if httpx_client is not None else make_async_client(self._core)
        self.service_api = AsyncServiceApi(AsyncIO(self._core, self._client))

    @property
    def base_url(self) -> str:
        """The gateway URL every request goes to."""
        return str(self._core.base_url)

    @property
    def httpx_client(self) -> httpx.AsyncClient:
        """The underlying ``httpx.AsyncClient``."""
        return self._client

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._core.display_url!r})"

    async def aclose(self) -> None:
        """Close the HTTP client the SDK created (an injected one is left open)."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> AsyncHubServiceClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
