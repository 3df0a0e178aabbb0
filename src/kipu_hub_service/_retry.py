"""Retry rules: the public ``RetryPolicy`` (frozen settings) and the pure decisions made with it.

The request loop that applies them is I/O code: ``_async/_funnel.py`` (the sync twin is
generated), which asks :func:`retry_delay` after every try.

Rules:

* Transient means connect, read and write errors, ``httpx.RemoteProtocolError``, every
  ``httpx.TimeoutException``, and the statuses 408, 429 and 5xx except 501.
* Only idempotent requests are retried: GET, HEAD, PUT, DELETE, OPTIONS, and POST only when it
  carries an ``Idempotency-Key`` header (the same request, so the same key, is sent again).
* The wait before retry *n* is ``initial_delay * 2 ** (n - 1)``, capped at ``max_delay``, minus up
  to ``jitter`` of itself at random. A ``Retry-After`` header (seconds or an HTTP date) replaces
  it, clamped to ``retry_after_cap``.
* ``max_elapsed`` bounds one call: every try, every wait, every redirect hop and the token
  request the call needed, together. No retry starts whose wait would end past it. Time
  spent in an injected ``sleep`` counts at the nominal delay, so a recording sleep sees the
  same decisions as a real one.
* When retries run out the last response is returned (the caller maps its status to an error) or
  the last exception is raised again.

In tests, pass ``RetryPolicy(sleep=...)`` (and ``async_sleep=``) to record the waits instead of
sleeping, or run the code under ``kipu_hub_service.testing.retries_without_delay()``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

__all__ = ["RetryPolicy"]

SAFE_TO_REPEAT = "qhub.safe_to_repeat"
"""Request extension marking a POST that is safe to send twice (the token request)."""
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_RETRYABLE_EXCEPTIONS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
    httpx.TimeoutException,
)

_WITHOUT_DELAY: ContextVar[bool] = ContextVar("qhub_service_retries_without_delay", default=False)
"""Set by ``testing.retries_without_delay()`` for the code (thread or task) running inside it."""


@contextlib.contextmanager
def retries_without_delay() -> Iterator[None]:
    """Inside the block, retry and resume waits are skipped (their delays still count toward
    the time budget). Scoped to the current thread or task and the tasks it starts."""
    token = _WITHOUT_DELAY.set(True)
    try:
        yield
    finally:
        _WITHOUT_DELAY.reset(token)


def waits_skipped() -> bool:
    """Whether the code running now is inside ``retries_without_delay()``."""
    return _WITHOUT_DELAY.get()


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried; immutable so one policy can be shared by clients."""

    max_retries: int = 2
    """Retries after the first try (0: never retry)."""
    initial_delay: float = 0.5
    """Seconds before the first retry; doubles per retry."""
    max_delay: float = 8.0
    """Longest wait between two tries, in seconds."""
    jitter: float = 0.25
    """Fraction of each wait taken off at random (0 to 1)."""
    max_elapsed: float = 60.0
    """Seconds all tries, waits and redirect hops of one call (and the token request it
    needed) may take together."""
    retry_after_cap: float = 60.0
    """Longest ``Retry-After`` honoured, in seconds."""
    sleep: Callable[[float], None] | None = field(default=None, compare=False)
    """Called instead of ``time.sleep`` (e.g. to record the waits)."""
    async_sleep: Callable[[float], Awaitable[None]] | None = field(default=None, compare=False)
    """Awaited instead of ``asyncio.sleep`` by the async client."""
    no_delay: bool = False
    """Skip real waiting (the waits still count toward ``max_elapsed``); for tests."""

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
        if method in _IDEMPOTENT_METHODS or request.extensions.get(SAFE_TO_REPEAT):
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

    def skips_waiting(self) -> bool:
        """Whether a wait of this policy is skipped: ``no_delay``, or inside
        ``testing.retries_without_delay()``. Hooks (``sleep``/``async_sleep``) still run."""
        return self.no_delay or waits_skipped()


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
        import email.utils  # only for a Retry-After date: not on the import path

        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


class Budget:
    """Time used so far: real time outside waits plus every wait at its nominal length."""

    def __init__(self, limit: float) -> None:
        self._limit = limit
        self._start = time.monotonic()
        self._slept_real = 0.0
        self._slept_nominal = 0.0

    def allows(self, delay: float) -> bool:
        """Whether a wait of ``delay`` seconds still ends within the budget."""
        used = time.monotonic() - self._start - self._slept_real + self._slept_nominal
        return used + delay <= self._limit

    def record(self, delay: float, real: float) -> None:
        """Count a wait of nominal length ``delay`` that really took ``real`` seconds."""
        self._slept_nominal += delay
        self._slept_real += real


def retry_reason(outcome: httpx.Response | BaseException) -> str:
    """What a retry is about, for the DEBUG log line (never headers)."""
    if isinstance(outcome, httpx.Response):
        return f"status {outcome.status_code}"
    return type(outcome).__name__


def retry_delay(
    policy: RetryPolicy,
    request: httpx.Request,
    retries: int,
    budget: Budget,
    outcome: httpx.Response | BaseException,
) -> float | None:
    """The wait before retrying ``request`` after ``outcome`` (its ``retries``-th retry so far),
    or None when it is not retried: not idempotent, not transient, no retries left, or the
    wait would end past the call's budget."""
    if retries >= policy.max_retries or not policy.is_retryable_method(request):
        return None
    if isinstance(outcome, httpx.Response):
        if not policy.should_retry_response(outcome):
            return None
        delay = policy.delay_for(retries + 1, outcome)
    else:
        if not policy.should_retry_exception(outcome):
            return None
        delay = policy.delay_for(retries + 1, None)
    return delay if budget.allows(delay) else None
