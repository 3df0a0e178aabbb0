"""The only places where the sync and the async client differ.

``_async/`` is the one hand-written source of the I/O code (sending, retrying, downloading,
waiting); ``scripts/unasync.py`` generates ``_sync/`` from it, rewriting ``AsyncBackend`` into
``SyncBackend``. What that rewrite cannot express is a method of these two classes. The list of
every deliberate difference between the two clients, with the reasons, is kept in one place:
the "Sync and async" section of ``docs/architecture.md``.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar, cast

from ._threads import Gather as Gather  # the sync twin of AsyncGather, for _sync/
from ._threads import Job as Job  # the sync twin of AsyncJob, for _sync/
from ._threads import gather_in_threads

if TYPE_CHECKING:
    import asyncio
    from concurrent.futures import Future

    import httpx

    from ._retry import RetryPolicy

_T = TypeVar("_T")

AsyncJob = Callable[[], Awaitable[None]]
"""One of the async client's ``gather`` jobs (a coroutine function)."""


class AsyncGather:
    """A sweep's ``gather``: ``AsyncBackend.gather`` at the sweep's concurrency (``limit``).
    The sync twin, ``Gather`` (``_threads``), also learns the gateway's pace across rounds."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    async def __call__(self, jobs: Sequence[AsyncJob]) -> None:
        """Run ``jobs`` with at most ``limit`` at once."""
        await AsyncBackend.gather(jobs, self.limit)


AIOHTTP_OPT_OUT_ENV = "QHUB_SERVICE_NO_AIOHTTP"
"""Set to 1 to make ``AsyncHubServiceClient`` use httpx's own transport even with aiohttp."""


class Deadline:
    """The overall limit of a wait: ``clamp`` shortens a pause to what is left and raises
    ``TimeoutError`` once nothing is; ``expired`` says whether the limit is what ended it."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self._end = None if timeout is None else time.monotonic() + timeout
        self._passed = False

    def clamp(self, delay: float) -> float:
        """``delay``, or the time left when that is shorter; ``TimeoutError`` when none is."""
        if self._end is None:
            return delay
        remaining = self._end - time.monotonic()
        if remaining <= 0:
            self._passed = True
            raise TimeoutError
        return min(delay, remaining)

    def expired(self) -> bool:
        """Whether the limit has passed (rather than a ``TimeoutError`` from elsewhere)."""
        return self._passed


class SyncDeadline(Deadline):
    """A ``Deadline`` checked between polls only."""

    def __enter__(self) -> SyncDeadline:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


class AsyncDeadline(Deadline):
    """A ``Deadline`` that also cancels what is in flight when it passes (``asyncio.timeout``)."""

    _scope: asyncio.Timeout | None = None

    async def __aenter__(self) -> AsyncDeadline:
        import asyncio

        self._scope = asyncio.timeout(self.timeout)
        await self._scope.__aenter__()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._scope is not None
        await self._scope.__aexit__(kind, exc, tb)

    def expired(self) -> bool:
        """Whether the limit has passed, here or in ``asyncio.timeout``."""
        return self._passed or (self._scope is not None and self._scope.expired())


class SyncBackend:
    """Blocking I/O primitives (``HubServiceClient``)."""

    @staticmethod
    def sleep(seconds: float) -> None:
        """``time.sleep``."""
        time.sleep(seconds)

    @staticmethod
    def retry_sleep(policy: RetryPolicy, delay: float) -> None:
        """One retry or resume wait: the policy's ``sleep`` hook, else ``time.sleep``."""
        if policy.sleep is not None:
            policy.sleep(delay)
        elif delay > 0 and not policy.skips_waiting():
            time.sleep(delay)

    @staticmethod
    def maybe_await(value: _T) -> _T:
        """``value`` as it is (what a sync callback returned)."""
        return value

    @staticmethod
    def run_in_thread(work: Callable[[], _T]) -> _T:
        """``work()``, in this thread."""
        return work()

    @staticmethod
    def gather(jobs: Sequence[Job], limit: int = 1) -> None:
        """Run ``jobs`` one after the other in this thread, and once they wait on the network
        also in up to ``limit - 1`` worker threads beside it (``_threads``)."""
        gather_in_threads(jobs, limit)

    @staticmethod
    def deadline(timeout: float | None) -> SyncDeadline:
        """A deadline checked between polls."""
        return SyncDeadline(timeout)

    @staticmethod
    def wait_flight(flight: Future[_T], timeout: float) -> _T:
        """The result of another caller's token request, blocking at most ``timeout`` s."""
        return flight.result(timeout)

    @staticmethod
    def default_transport() -> httpx.BaseTransport | None:
        """httpx's own transport, made here so the request loop can call it directly
        (``_async/_wire.py``); None when a proxy is configured (httpx's client applies it)."""
        import httpx

        from ._config import proxies_configured

        return None if proxies_configured() else httpx.HTTPTransport()


class AsyncBackend:
    """asyncio primitives (``AsyncHubServiceClient``); asyncio is imported on first use."""

    @staticmethod
    async def sleep(seconds: float) -> None:
        """``asyncio.sleep``."""
        import asyncio

        await asyncio.sleep(seconds)

    @staticmethod
    async def retry_sleep(policy: RetryPolicy, delay: float) -> None:
        """One retry or resume wait: ``async_sleep``, else ``sleep``, else ``asyncio.sleep``."""
        if policy.async_sleep is not None:
            await policy.async_sleep(delay)
        elif policy.sleep is not None:
            policy.sleep(delay)
        elif delay > 0 and not policy.skips_waiting():
            await AsyncBackend.sleep(delay)

    @staticmethod
    async def maybe_await(value: Awaitable[_T] | _T) -> _T:
        """``value``, awaited when it is awaitable (what an async callback returned)."""
        if inspect.isawaitable(value):
            return cast(_T, await value)
        return value

    @staticmethod
    async def run_in_thread(work: Callable[[], _T]) -> _T:
        """``work()`` in the loop's default executor, keeping the loop free (``to_thread``
        without its copy of the context: the work here needs none)."""
        import asyncio

        return await asyncio.get_running_loop().run_in_executor(None, work)

    @staticmethod
    async def gather(jobs: Sequence[AsyncJob], limit: int = 1) -> None:
        """Run ``jobs`` in their order with at most ``limit`` at once; the first failure
        cancels the others and is raised once they have stopped. A job not begun by then
        never begins.

        ``limit`` workers take the jobs in turn from one iterator: a round of 256 starts
        at 16 at once makes 16 tasks, not 256 of which 240 wait on a semaphore (about
        2 us per job instead of 10)."""
        import asyncio

        pending = iter(jobs)
        failed: list[bool] = []

        async def worker() -> None:
            for job in pending:
                if failed:
                    return
                try:
                    await job()
                except BaseException:
                    failed.append(True)
                    raise

        tasks = [asyncio.ensure_future(worker()) for _ in range(min(limit, len(jobs)))]
        if not tasks:
            return
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in tasks:
                error = task.exception() if task in done else None
                if error is not None:
                    raise error
        finally:
            running = [task for task in tasks if not task.done()]
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)

    @staticmethod
    def deadline(timeout: float | None) -> AsyncDeadline:
        """A deadline that also cancels what is in flight when it passes."""
        return AsyncDeadline(timeout)

    @staticmethod
    async def wait_flight(flight: Future[_T], timeout: float) -> _T:  # noqa: ASYNC109
        """The result of another caller's token request (maybe sent from another thread or
        loop), awaited without blocking the loop, at most ``timeout`` s."""
        import asyncio

        return await asyncio.wait_for(asyncio.wrap_future(flight), timeout)

    @staticmethod
    def default_transport() -> httpx.AsyncBaseTransport | None:
        """aiohttp when the ``fast`` extra is installed, unless opted out, else httpx's own
        transport, made here so the request loop can call either directly; None when a proxy
        is configured (httpx's client applies it)."""
        import httpx

        from ._config import proxies_configured

        if proxies_configured():
            return None
        flag = os.environ.get(AIOHTTP_OPT_OUT_ENV, "").strip().lower()
        if flag not in {"1", "true", "yes", "on"}:
            from ._aiohttp import make_aiohttp_transport

            transport = make_aiohttp_transport()
            if transport is not None:
                return transport
        return httpx.AsyncHTTPTransport()
