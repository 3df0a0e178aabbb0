"""The per-call options, resolved once, and what the request loop returns.

``request_options`` (a :class:`~kipu_hub_service.RequestOptions` dict) is checked here and
nowhere else: :func:`resolve_options` turns it, with the client's settings, into one frozen
:class:`CallOptions` that every entry point uses (endpoint methods, workflows, downloads, the
CLI). The same bad value raises the same error whichever method it is passed to: options that
are not a dict, an unknown key or a ``max_retries`` that is not an int are a ``TypeError``;
any other bad value (a timeout, size or deadline that is not a positive number, a header that
cannot be sent) is a ``ValueError``. No I/O here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

import httpx

from ._bodies import DEADLINE_FACTOR
from ._retry import RetryPolicy
from .core.request_options import RequestOptions

_OPTION_KEYS = frozenset(RequestOptions.__annotations__)
_BAD_HEADER_CHARS = frozenset("\r\n\0")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_HEADER_VALUE = re.compile(r"[^\t\x20-\x7e]")


class CallOptions(NamedTuple):
    """The settings of one call: the client's, with the call's ``request_options`` applied.

    Immutable (a named tuple: cheaper to define than a dataclass, on the import path)."""

    timeout: httpx.Timeout
    """Connect, read, write and pool timeouts of every request of the call."""
    policy: RetryPolicy
    """Retries and the time budget (``max_elapsed``) of the call."""
    headers: Mapping[str, str] | None
    """Headers of this call only (``additional_headers``), over the client's."""
    chunk_size: int | None
    """Bytes per chunk of a result file; None: as they arrive."""
    max_response_size: int
    """Most bytes of a decoded JSON answer."""
    read_deadline: float | None
    """Seconds each try of a JSON call may take for its whole answer; None: no deadline."""

    def with_cap(self, cap: int) -> CallOptions:
        """The same options with another size cap and none of the call's own headers: those
        of a request the call makes on its own behalf (the token request)."""
        return CallOptions(self.timeout, self.policy, None, None, cap, self.read_deadline)


def default_deadline(timeout: httpx.Timeout, read_deadline: float | None) -> float | None:
    """``read_deadline``, else ``DEADLINE_FACTOR`` read timeouts, else None (no read timeout)."""
    if read_deadline is not None:
        return read_deadline
    return None if timeout.read is None else DEADLINE_FACTOR * timeout.read


def resolve_options(base: CallOptions, options: object) -> CallOptions:
    """``base`` (the client's defaults) with ``options`` (a ``request_options`` dict) applied."""
    if options is None or (not options and isinstance(options, Mapping)):
        return base
    if not isinstance(options, Mapping):
        raise TypeError(f"request_options must be a dict, got {type(options).__name__}")
    unknown = options.keys() - _OPTION_KEYS
    if unknown:
        raise TypeError(f"unknown request_options keys: {sorted(map(str, unknown))}")
    timeout, policy, headers = base.timeout, base.policy, base.headers
    deadline_given = options.get("read_deadline")
    value = options.get("timeout")
    if value is not None:
        timeout = to_timeout(value, "request_options['timeout']")
    retries = options.get("max_retries")
    if retries is not None:
        try:
            policy = policy.with_max_retries(retries)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"request_options['max_retries']: {exc}") from None
    additional = options.get("additional_headers")
    if additional:
        headers = check_headers(additional, "request_options['additional_headers']")
    size = options.get("max_response_size")
    cap = (
        base.max_response_size
        if size is None
        else check_size(size, "request_options['max_response_size']")
    )
    deadline: float | None
    if deadline_given is not None:
        deadline = check_deadline(deadline_given, "request_options['read_deadline']")
    elif value is not None:
        deadline = default_deadline(timeout, None)
    else:
        deadline = base.read_deadline
    chunk = options.get("chunk_size")
    if chunk is not None:
        check_size(chunk, "request_options['chunk_size']")
    return CallOptions(timeout, policy, headers, chunk, cap, deadline)


def to_timeout(value: object, what: str) -> httpx.Timeout:
    """An ``httpx.Timeout`` from seconds (every phase) or an ``httpx.Timeout``."""
    if isinstance(value, httpx.Timeout):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{what} must be a positive number of seconds or an httpx.Timeout")
    return httpx.Timeout(float(value))


def check_size(value: object, what: str) -> int:
    """A positive int (bytes)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{what} must be a positive int (bytes), got {value!r}")
    return value


def check_deadline(value: object, what: str) -> float:
    """A positive number of seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{what} must be a positive number of seconds, got {value!r}")
    return float(value)


def check_headers(headers: object, what: str) -> dict[str, str]:
    """A plain dict of ``headers`` after refusing what cannot be sent as is: non-strings,
    CR/LF/NUL (header injection), names that are not HTTP tokens, and values with other
    control characters or non-ASCII characters (httpx encodes header strings as ASCII)."""
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise TypeError(f"{what} must be a mapping of header names to values")
    out: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"{what}: header names and values must be str")
        if not name or not _BAD_HEADER_CHARS.isdisjoint(name + value):
            raise ValueError(f"{what}: header {name!r} is empty or contains CR, LF or NUL")
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"{what}: {name!r} is not a valid HTTP header name")
        if _BAD_HEADER_VALUE.search(value):
            raise ValueError(
                f"{what}: the value of header {name!r} has non-ASCII or control characters"
            )
        out[name] = value
    return out


class Answer(NamedTuple):
    """What the request loop returns: the final response of a call, and its body when read."""

    response: httpx.Response
    """The final response (after retries and redirects); closed when ``body`` was read."""
    body: bytes | None
    """The decoded 2xx body of a JSON call; None for a stream or a non-2xx answer (unread)."""
