"""The retry loop around one try of a request; the decisions are ``RetryPolicy``'s (``_retry``).

``send`` decides what a response is: the funnel reads a 2xx body inside ``send``, so a
connection that drops mid-body is retried too; a streamed body is handed over unread. A
response that is retried is drained (up to 64 KiB, to keep its connection) and closed.
"""

from __future__ import annotations

import logging
import time

import httpx

from .._backend import AsyncBackend
from .._retry import AsyncSend, Budget, RetryPolicy, retry_reason

_DRAIN_LIMIT = 64 * 1024


async def send_with_retries(
    send: AsyncSend,
    request: httpx.Request,
    policy: RetryPolicy,
    logger: logging.Logger | None = None,
) -> httpx.Response:
    """Send ``request`` through ``send``, retrying transient failures as ``policy`` says."""
    if policy.max_retries == 0 or not policy.is_retryable_method(request):
        return await send(request)
    budget = Budget(policy.max_elapsed)
    attempt = 0
    while True:
        outcome: httpx.Response | Exception
        try:
            response = await send(request)
        except Exception as exc:
            if attempt >= policy.max_retries or not policy.should_retry_exception(exc):
                raise
            delay = policy.delay_for(attempt + 1, None)
            if not budget.allows(delay):
                raise
            outcome = exc
        else:
            if attempt >= policy.max_retries or not policy.should_retry_response(response):
                return response
            delay = policy.delay_for(attempt + 1, response)
            if not budget.allows(delay):
                return response
            outcome = response
            await close_quietly(response)
        attempt += 1
        if logger is not None and logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "retrying %s %s (retry %d of %d) after %s; waiting %.3fs",
                request.method,
                request.url.path,
                attempt,
                policy.max_retries,
                retry_reason(outcome),
                delay,
            )
        await pause(policy, delay, budget)


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
