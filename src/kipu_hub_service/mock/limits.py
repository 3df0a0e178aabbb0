"""The bounds that keep one client of the mock gateway from breaking it for the others.

Every bound has a default and a ``hub-service-mock`` option; :class:`Limits` holds them all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DEFAULT_MAX_CONNECTIONS", "Limits", "accept_backlog", "descriptor_limit"]

#: Connections served at once unless the file-descriptor limit is lower (see ``Limits``).
DEFAULT_MAX_CONNECTIONS = 512


def descriptor_limit() -> int | None:
    """The process's soft limit on open file descriptors, or None where there is none."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def accept_backlog() -> int:
    """Connections the kernel queues, and the most asyncio accepts in one go: 1/16 of the
    descriptor limit, from 8 to 128. Each accepted connection holds a descriptor until it is
    admitted or shed, so a burst must be small next to what the connection cap leaves."""
    fds = descriptor_limit()
    return 128 if fds is None else max(8, min(128, fds // 16))


def _check(name: str, value: object, *, whole: bool) -> None:
    kinds: tuple[type, ...] = (int,) if whole else (int, float)
    valid = isinstance(value, kinds) and not isinstance(value, bool)
    if not (valid and isinstance(value, int | float) and math.isfinite(value) and value > 0):
        what = "a whole number" if whole else "a number of seconds"
        raise ValueError(f"limit {name} must be {what} > 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on connections, request bodies and stored state, each with a default.

    ``max_connections`` open connections are served at once; more are answered 503 and
    closed (``None``: 512, or half the file-descriptor limit when that is lower, so the
    gateway never runs out of descriptors). A connection must deliver a request's headers
    within ``header_timeout`` seconds of opening or of its previous response (else it is
    answered 408 and closed), and the body within ``body_timeout`` seconds. A request body
    holds at most ``max_body`` bytes and nests JSON at most ``max_depth`` levels deep.
    The gateway keeps at most ``max_executions`` executions, whose request bodies add up to
    at most ``max_stored_bytes``; past either, ``startExecution`` answers 507.
    """

    max_connections: int | None = None
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_body: int = 16 * 1024 * 1024
    max_depth: int = 64
    max_executions: int = 100_000
    max_stored_bytes: int = 1024 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.max_connections is not None:
            _check("max_connections", self.max_connections, whole=True)
        for name in ("max_body", "max_depth", "max_executions", "max_stored_bytes"):
            _check(name, getattr(self, name), whole=True)
        _check("header_timeout", self.header_timeout, whole=False)
        _check("body_timeout", self.body_timeout, whole=False)

    def connection_cap(self) -> int:
        """``max_connections``, or its default for this process's descriptor limit."""
        if self.max_connections is not None:
            return self.max_connections
        fds = descriptor_limit()
        if fds is None:  # pragma: no cover - no descriptor limit
            return DEFAULT_MAX_CONNECTIONS
        return max(1, min(DEFAULT_MAX_CONNECTIONS, fds // 2))
