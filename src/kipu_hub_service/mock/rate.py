"""A rate limit like a real gateway's: past a request rate, API requests get 429 + Retry-After.

:class:`RateLimit` is the setting (``MockSettings.rate_limit``, ``hub-service-mock
--rate-limit``); :class:`RateLimiter` applies it with a sliding log: at most
``RateLimit.capacity`` API requests are answered within any ``window`` seconds, and a request
past that is refused, without counting toward the window, with ``Retry-After`` set to the
whole seconds until the oldest answered request leaves the window. The limit is one for the
whole gateway (every client and token together), on the gateway's clock, so a test that
drives the clock drives the limit too.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass

__all__ = ["MAX_RATE_CAPACITY", "RateLimit", "RateLimiter"]

#: The most requests a window may hold (the limiter keeps one timestamp per request).
MAX_RATE_CAPACITY = 1_000_000


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"rate limit {name} must be a number > 0, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"rate limit {name} must be a number > 0, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``rate`` API requests a second, counted over a sliding ``window`` of seconds:
    ``rate * window`` requests (rounded down, at least 1) in any ``window``."""

    rate: float
    window: float = 1.0

    def __post_init__(self) -> None:
        rate, window = _positive("rate", self.rate), _positive("window", self.window)
        if rate * window > MAX_RATE_CAPACITY:
            raise ValueError(
                f"rate limit allows {rate * window:g} requests a window; at most "
                f"{MAX_RATE_CAPACITY} (lower the rate or the window)"
            )

    @property
    def capacity(self) -> int:
        """Requests answered within one window."""
        return max(1, int(self.rate * self.window))


class RateLimiter:
    """Applies a :class:`RateLimit` (``None``: no limit); used from one event loop."""

    def __init__(self, limit: RateLimit | None) -> None:
        self.limit = limit
        self._answered: collections.deque[float] = collections.deque(
            maxlen=None if limit is None else limit.capacity
        )

    def admit(self, now: float) -> int | None:
        """``None`` when a request at ``now`` may be answered (and is counted), else the
        whole seconds (at least 1) to put in ``Retry-After``."""
        limit = self.limit
        if limit is None:
            return None
        answered = self._answered
        while answered and (answered[0] <= now - limit.window or answered[0] > now):
            answered.popleft()  # out of the window (or on a clock that went back)
        if len(answered) < limit.capacity:
            answered.append(now)
            return None
        return max(1, math.ceil(answered[0] + limit.window - now))
