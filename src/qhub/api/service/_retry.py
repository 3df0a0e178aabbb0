"""Safe retries for transient failures: one retry loop, used by the sync and async clients.

| name | what |
| --- | --- |
| `RetryPolicy` | frozen settings: how often, how long to wait, total time budget, sleep hooks |
| `send_with_retries(send, request, policy, logger)` | the retry loop around any sync ``send`` |
| `async_send_with_retries(...)` | the same loop around an async ``send`` |
| `POLICY_EXTENSION` | ``request.extensions`` key: a `RetryPolicy` for this request only |

Rules:

* Transient means connect, read and write errors, `httpx.RemoteProtocolError`, every
  `httpx.TimeoutException`, and the statuses 408, 429 and 5xx except 501.
* Only idempotent requests are retried: GET, HEAD, PUT, DELETE, OPTIONS, and POST only when it
  carries an ``Idempotency-Key`` header (the same request, so the same key, is sent again).
* The wait before retry *n* is ``initial_delay * 2 ** (n - 1)``, capped at ``max_delay``, minus up
  to ``jitter`` of itself at random. A ``Retry-After`` header (seconds or an HTTP date) replaces
  it, clamped to ``retry_after_cap``.
* ``max_elapsed`` bounds all attempts including the waits: no retry starts whose wait would end
  past it. Time spent in an injected ``sleep`` counts at the nominal delay, so a recording sleep
  sees the same decisions as a real one.
* When retries run out the last response is returned (the caller maps its status to an error) or
  the last exception is raised again.
* ``send`` decides what a response is: the clients read a non-streamed body inside ``send``, so
  a connection that drops mid-body is retried too; a streamed body is handed over unread.

Testing switch: set ``QHUB_SERVICE_RETRY_NO_DELAY=1`` in the environment before the client (its
`RetryPolicy`) is created, and retries happen without waiting; or pass ``sleep=`` /
``async_sleep=`` to `RetryPolicy` to record the delays instead of sleeping.
"""

from __future__ import annotations

import dataclasses
import email.utils
import logging
import math
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

__all__ = [
    "NO_DELAY_ENV",
    "POLICY_EXTENSION",
    "RetryPolicy",
    "async_send_with_retries",
    "send_with_retries",
]

NO_DELAY_ENV = "QHUB_SERVICE_RETRY_NO_DELAY"
POLICY_EXTENSION = "qhub.retry"

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_RETRYABLE_EXCEPTIONS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
    httpx.TimeoutException,
)
_DRAIN_LIMIT = 64 * 1024


def _no_delay_from_env() -> bool:
    return os.environ.get(NO_DELAY_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried; immutable so one policy can be shared by clients."""

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 0.25
    max_elapsed: float = 60.0
    retry_after_cap: float = 60.0
    sleep: Callable[[float], None] | None = field(default=None, compare=False)
    async_sleep: Callable[[float], Awaitable[None]] | None = field(default=None, compare=False)
    no_delay: bool = field(default_factory=_no_delay_from_env)
    """Skip real waiting; defaults to the ``QHUB_SERVICE_RETRY_NO_DELAY`` environment switch."""

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise TypeError(f"max_retries must be an int, not {type(self.max_retries).__name__}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        for name in ("initial_delay", "max_delay", "jitter", "max_elapsed", "retry_after_cap"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{name} must be a number, not {type(value).__name__}")
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be a fraction between 0 and 1, got {self.jitter!r}")

    def with_max_retries(self, n: int) -> RetryPolicy:
        """A copy with another retry count (per-request ``max_retries``)."""
        return dataclasses.replace(self, max_retries=n)

    def is_retryable_method(self, request: httpx.Request) -> bool:
        """Whether sending ``request`` twice is safe."""
        method = request.method.upper()
        if method in _IDEMPOTENT_METHODS:
            return True
        return method == "POST" and "Idempotency-Key" in request.headers

    def should_retry_response(self, response: httpx.Response) -> bool:
        """Whether ``response``'s status is transient."""
        status = response.status_code
        return status in (408, 429) or (500 <= status <= 599 and status != 501)

    def should_retry_exception(self, exc: BaseException) -> bool:
        """Whether ``exc`` is a transient transport failure."""
        return isinstance(exc, _RETRYABLE_EXCEPTIONS)

    def delay_for(self, attempt: int, response: httpx.Response | None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if response is not None:
            retry_after = _parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None:
                return min(retry_after, self.retry_after_cap)
        base = min(self.initial_delay * 2.0 ** max(attempt - 1, 0), self.max_delay)
        return base * (1.0 - self.jitter * random.random())


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` value (delta-seconds or HTTP date); None if unusable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 and math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _policy_for(request: httpx.Request, default: RetryPolicy) -> RetryPolicy:
    override = request.extensions.get(POLICY_EXTENSION)
    return override if isinstance(override, RetryPolicy) else default


class _Budget:
    """Time used so far: real time outside sleeps plus every wait at its nominal length."""

    def __init__(self, limit: float) -> None:
        self._limit = limit
        self._start = time.monotonic()
        self._slept_real = 0.0
        self._slept_nominal = 0.0

    def allows(self, delay: float) -> bool:
        used = time.monotonic() - self._start - self._slept_real + self._slept_nominal
        return used + delay <= self._limit

    def record(self, delay: float, real: float) -> None:
        self._slept_nominal += delay
        self._slept_real += real


def _log_retry(
    logger: logging.Logger | None,
    request: httpx.Request,
    attempt: int,
    policy: RetryPolicy,
    reason: str,
    delay: float,
) -> None:
    if logger is not None and logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "retrying %s %s (retry %d of %d) after %s; waiting %.3fs",
            request.method,
            request.url.path,
            attempt,
            policy.max_retries,
            reason,
            delay,
        )


def _close_quietly(response: httpx.Response) -> None:
    """Read a little of a discarded response (keeps the connection reusable), then close it."""
    try:
        if not response.is_closed and not response.is_stream_consumed:
            read = 0
            for chunk in response.iter_raw():
                read += len(chunk)
                if read > _DRAIN_LIMIT:
                    break
    except (httpx.HTTPError, httpx.StreamError, RuntimeError):
        pass
    finally:
        response.close()


async def _aclose_quietly(response: httpx.Response) -> None:
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


def send_with_retries(
    send: Callable[[httpx.Request], httpx.Response],
    request: httpx.Request,
    policy: RetryPolicy,
    logger: logging.Logger | None = None,
) -> httpx.Response:
    """Send ``request`` through ``send``, retrying transient failures as ``policy`` says."""
    policy = _policy_for(request, policy)
    if policy.max_retries == 0 or not policy.is_retryable_method(request):
        return send(request)
    budget = _Budget(policy.max_elapsed)
    attempt = 0
    while True:
        try:
            response = send(request)
        except Exception as exc:
            if attempt >= policy.max_retries or not policy.should_retry_exception(exc):
                raise
            delay = policy.delay_for(attempt + 1, None)
            if not budget.allows(delay):
                raise
            reason = type(exc).__name__
        else:
            if attempt >= policy.max_retries or not policy.should_retry_response(response):
                return response
            delay = policy.delay_for(attempt + 1, response)
            if not budget.allows(delay):
                return response
            reason = f"status {response.status_code}"
            _close_quietly(response)
        attempt += 1
        _log_retry(logger, request, attempt, policy, reason, delay)
        _sleep(policy, delay, budget)


async def async_send_with_retries(
    send: Callable[[httpx.Request], Awaitable[httpx.Response]],
    request: httpx.Request,
    policy: RetryPolicy,
    logger: logging.Logger | None = None,
) -> httpx.Response:
    """The async twin of `send_with_retries`."""
    policy = _policy_for(request, policy)
    if policy.max_retries == 0 or not policy.is_retryable_method(request):
        return await send(request)
    budget = _Budget(policy.max_elapsed)
    attempt = 0
    while True:
        try:
            response = await send(request)
        except Exception as exc:
            if attempt >= policy.max_retries or not policy.should_retry_exception(exc):
                raise
            delay = policy.delay_for(attempt + 1, None)
            if not budget.allows(delay):
                raise
            reason = type(exc).__name__
        else:
            if attempt >= policy.max_retries or not policy.should_retry_response(response):
                return response
            delay = policy.delay_for(attempt + 1, response)
            if not budget.allows(delay):
                return response
            reason = f"status {response.status_code}"
            await _aclose_quietly(response)
        attempt += 1
        _log_retry(logger, request, attempt, policy, reason, delay)
        await _async_sleep(policy, delay, budget)


def _sleep(policy: RetryPolicy, delay: float, budget: _Budget) -> None:
    began = time.monotonic()
    if policy.sleep is not None:
        policy.sleep(delay)
    elif not policy.no_delay and delay > 0:
        time.sleep(delay)
    budget.record(delay, time.monotonic() - began)


async def _async_sleep(policy: RetryPolicy, delay: float, budget: _Budget) -> None:
    began = time.monotonic()
    if policy.async_sleep is not None:
        await policy.async_sleep(delay)
    elif policy.sleep is not None:
        policy.sleep(delay)
    elif not policy.no_delay and delay > 0:
        import asyncio  # lazy: sync users never load asyncio

        await asyncio.sleep(delay)
    budget.record(delay, time.monotonic() - began)
