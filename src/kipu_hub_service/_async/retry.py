"""The I/O of the retry rules (``_retry``): waiting between tries, and discarding an answer."""

from __future__ import annotations

import time

import httpx

from .._backend import AsyncBackend
from .._retry import Budget, RetryPolicy

_DRAIN_LIMIT = 64 * 1024


async def pause(policy: RetryPolicy, delay: float, budget: Budget) -> None:
    """Wait ``delay`` seconds as ``policy`` says (hooks, testing), counting it in ``budget``."""
    began = time.monotonic()
    await AsyncBackend.retry_sleep(policy, delay)
    budget.record(delay, time.monotonic() - began)


async def close_quietly(response: httpx.Response) -> None:
    """Read a little of a discarded response (keeps the connection reusable), then close it."""
    try:
        if not response.is_closed and not response.is_stream_consumed:
            read = 0
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if read > _DRAIN_LIMIT:
                    break
    except (httpx.HTTPError, httpx.StreamError, RuntimeError):
        pass
    finally:
        await response.aclose()
