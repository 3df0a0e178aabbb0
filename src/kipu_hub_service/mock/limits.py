"""The bounds that keep one client of the mock gateway from breaking it for the others.

Every bound has a default and a ``hub-service-mock`` option; :class:`Limits` holds them all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

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


def _bound(default: float | None, flag: str, what: str) -> Any:
    """A field of :class:`Limits` with its ``hub-service-mock`` flag and help text."""
    kind = float if isinstance(default, float) else int
    return field(default=default, metadata={"flag": flag, "help": what, "type": kind})


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on connections, requests and stored state, each with a default.

    ``max_connections`` open connections are served at once; more are answered 503 and
    closed (``None``: 512, or half the file-descriptor limit when that is lower, so the
    gateway never runs out of descriptors). A connection must deliver a request's headers
    within ``header_timeout`` seconds of opening or of its previous response (else it is
    answered 408 and closed), and the body within ``body_timeout`` seconds. A request line
    and headers hold at most ``max_header_bytes`` (else 431). A connection whose client
    takes none of an answer's bytes for ``write_timeout`` seconds is dropped. A request body
    holds at most ``max_body`` bytes, nests JSON at most ``max_depth`` levels deep, and would
    take at most ``max_body_memory`` bytes once parsed (an upper estimate made before
    parsing, see :func:`~.strict_json.parsed_size`). The gateway keeps at most
    ``max_executions`` executions, whose parsed request bodies take at most
    ``max_stored_bytes`` (the same estimate); past either, ``startExecution`` answers 507.

    Each field is also a ``hub-service-mock`` option (its ``metadata["flag"]``).
    """

    max_connections: int | None = _bound(
        None,
        "--max-connections",
        "connections served at once; more are answered 503 and closed "
        "(default: 512, or half the file-descriptor limit when that is lower)",
    )
    header_timeout: float = _bound(
        10.0, "--header-timeout", "seconds to send a request's headers (else 408)"
    )
    body_timeout: float = _bound(
        30.0, "--body-timeout", "seconds to send a request's body (else 408)"
    )
    write_timeout: float = _bound(
        30.0,
        "--write-timeout",
        "seconds a client may take no byte of an answer before it is dropped",
    )
    max_header_bytes: int = _bound(
        16 * 1024, "--max-header-bytes", "largest request line and headers (else 431)"
    )
    max_body: int = _bound(16 * 1024 * 1024, "--max-body-bytes", "largest request body (else 400)")
    max_body_memory: int = _bound(
        64 * 1024 * 1024,
        "--max-body-memory",
        "most memory a request body may take once parsed, estimated before parsing (else 400)",
    )
    max_depth: int = _bound(64, "--max-depth", "deepest JSON nesting of a request body (else 400)")
    max_executions: int = _bound(100_000, "--max-executions", "executions kept (then 507)")
    max_stored_bytes: int = _bound(
        1024 * 1024 * 1024, "--max-stored-bytes", "memory of the request bodies kept (then 507)"
    )

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None or item.name != "max_connections":
                _check(item.name, value, whole=item.metadata["type"] is int)

    def connection_cap(self) -> int:
        """``max_connections``, or its default for this process's descriptor limit."""
        if self.max_connections is not None:
            return self.max_connections
        fds = descriptor_limit()
        if fds is None:  # pragma: no cover - no descriptor limit
            return DEFAULT_MAX_CONNECTIONS
        return max(1, min(DEFAULT_MAX_CONNECTIONS, fds // 2))
