"""The validated settings of one client, from its constructor arguments.

Base URL, headers (checked for injection), timeout, retry policy, redirects, logger and the
``User-Agent``; the token goes to ``TokenAuth`` (``_auth``). No I/O here.
"""

from __future__ import annotations

import contextlib
import functools
import logging as _logging
import os
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from urllib.request import getproxies

import httpx

from ._auth import AsyncTokenSource, TokenAuth, TokenSource
from ._bodies import DEFAULT_MAX_RESPONSE_SIZE
from ._calls import check_deadline, check_headers, check_size, to_timeout
from ._retry import RetryPolicy
from ._secrets import is_token_text
from .environment import HubServiceClientEnvironment

if TYPE_CHECKING:
    from ._credentials import _TokenCache

DEFAULT_TIMEOUT = 60.0
"""Seconds; the timeout of an HTTP client the SDK creates itself."""
LOGGER_NAME = "kipu_hub_service"
"""The logger clients use unless ``logging=`` says otherwise."""
PARENT_TOKEN_ENV = "KQH_SERVICE_EXECUTION_TOKEN"
"""Set inside a running Hub service: its execution's token, forwarded to the gateway."""
PARENT_TOKEN_HEADER = "X-Parent-Execution-Token"
"""The header that carries ``PARENT_TOKEN_ENV`` on gateway calls (never on token requests)."""

_NO_BASE_URL = "Please pass in either base_url or environment to construct the client"

AnyTransport = httpx.BaseTransport | httpx.AsyncBaseTransport
"""A sync or an async httpx transport (``httpx.MockTransport`` is both)."""

_TEST_TRANSPORTS: ContextVar[tuple[AnyTransport, ...]] = ContextVar(
    "qhub_service_test_transports", default=()
)
"""Set by ``testing.sdk_transport()``: transports for the HTTP clients the SDK creates."""


@contextlib.contextmanager
def sdk_transport(*transports: AnyTransport) -> Iterator[None]:
    """Inside the block, an HTTP client the SDK creates sends through the first of
    ``transports`` that fits it (an ``httpx.BaseTransport`` for ``HubServiceClient``, an
    ``httpx.AsyncBaseTransport`` for ``AsyncHubServiceClient``)."""
    if not transports or not all(
        isinstance(t, httpx.BaseTransport | httpx.AsyncBaseTransport) for t in transports
    ):
        raise TypeError("sdk_transport needs httpx transports")
    token = _TEST_TRANSPORTS.set(transports)
    try:
        yield
    finally:
        _TEST_TRANSPORTS.reset(token)


def transport_override(kind: type[AnyTransport]) -> AnyTransport | None:
    """The transport of kind ``kind`` set by ``testing.sdk_transport()``, if any."""
    return next((t for t in _TEST_TRANSPORTS.get() if isinstance(t, kind)), None)


_PROXY_KEYS = frozenset({"http", "https", "all"})
"""The environment keys httpx reads proxies from (``no`` alone routes nothing through a proxy)."""


def proxies_configured() -> bool:
    """Whether the environment (or the OS settings ``urllib`` reads) names a proxy for HTTP(S).

    httpx honours these with its own rules (``ALL_PROXY``, ``NO_PROXY`` patterns, SOCKS): the
    aiohttp transport then stands aside, and the token request over plain http bypasses them.
    """
    return not _PROXY_KEYS.isdisjoint(getproxies())


@functools.cache
def user_agent() -> str:
    """``User-Agent`` of the SDK: distribution name and version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"kipu-hub-service-python/{version('kipu-hub-service')}"
    except PackageNotFoundError:
        return "kipu-hub-service-python"


def resolve_base_url(
    base_url: str | httpx.URL | None, environment: HubServiceClientEnvironment | str | None
) -> httpx.URL:
    """``base_url`` when given, else the environment's URL; refuse anything not absolute HTTP(S)."""
    if base_url is None and environment is None:
        raise Exception(_NO_BASE_URL)
    raw: object = base_url if base_url is not None else environment
    if isinstance(raw, HubServiceClientEnvironment):
        raw = raw.value
    if not isinstance(raw, str | httpx.URL):
        raise TypeError(f"base_url must be a str, got {type(raw).__name__}")
    try:
        url = httpx.URL(raw)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"base_url is not a valid URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("base_url must be an absolute http:// or https:// URL")
    if url.query or url.fragment:
        raise ValueError("base_url must not have a query or fragment")
    return url


def make_logger(config: _logging.Logger | Mapping[str, Any] | None) -> _logging.Logger | None:
    """The logger of a client; None when logging is silenced.

    ``config`` is a ``logging.Logger``, or a dict with optional keys ``logger`` (a Logger, default
    ``logging.getLogger("kipu_hub_service")``), ``level`` (a level name or number, set on that
    logger, so on the shared SDK logger, for every client, when no ``logger`` is given) and
    ``silent`` (True: this client logs nothing).
    """
    if config is None:
        return _logging.getLogger(LOGGER_NAME)
    if isinstance(config, _logging.Logger):
        return config
    if not isinstance(config, Mapping):
        raise TypeError("logging must be a logging.Logger or a dict {level, logger, silent}")
    unknown = set(config) - {"level", "logger", "silent"}
    if unknown:
        raise ValueError(f"unknown logging keys: {sorted(unknown)}")
    if config.get("silent", False):
        return None
    logger = config.get("logger") or _logging.getLogger(LOGGER_NAME)
    if not isinstance(logger, _logging.Logger):
        raise TypeError("logging['logger'] must be a logging.Logger")
    level = config.get("level")
    if level is not None:
        logger.setLevel(level.upper() if isinstance(level, str) else level)
    return logger


def make_policy(max_retries: int | None, retry_policy: RetryPolicy | None) -> RetryPolicy:
    """The client's retry policy: ``retry_policy`` (default ``RetryPolicy()``, 2 retries), with
    its ``max_retries`` replaced by the ``max_retries`` argument when that is given."""
    if retry_policy is None:
        return RetryPolicy() if max_retries is None else RetryPolicy(max_retries=max_retries)
    if not isinstance(retry_policy, RetryPolicy):
        raise TypeError(f"retry_policy must be a RetryPolicy, got {type(retry_policy).__name__}")
    if max_retries is None or max_retries == retry_policy.max_retries:
        return retry_policy
    return retry_policy.with_max_retries(max_retries)


def parent_token_header() -> dict[str, str]:
    """``{X-Parent-Execution-Token: ...}`` when ``KQH_SERVICE_EXECUTION_TOKEN`` is set (inside a
    running Hub service), else empty; ``ValueError`` (not echoing it) for a value with
    whitespace, control or non-ASCII characters."""
    value = os.environ.get(PARENT_TOKEN_ENV, "")
    if not value:
        return {}
    if not is_token_text(value):
        raise ValueError(
            f"{PARENT_TOKEN_ENV} has characters that cannot be sent in a header; unset it or "
            "pass forward_parent_execution_token=False"
        )
    return {PARENT_TOKEN_HEADER: value}


class ClientConfig:
    """Everything a client was configured with, validated once at construction."""

    def __init__(
        self,
        *,
        base_url: str | None,
        environment: HubServiceClientEnvironment | str | None,
        token: TokenSource | _TokenCache | None,
        async_token: AsyncTokenSource | None = None,
        headers: Mapping[str, str] | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int | None,
        retry_policy: RetryPolicy | None = None,
        follow_redirects: bool,
        logging: _logging.Logger | Mapping[str, Any] | None,
        injected: bool,
        forward_parent_execution_token: bool = True,
        max_response_size: int | None = None,
        read_deadline: float | None = None,
    ) -> None:
        self.base_url = resolve_base_url(base_url, environment)
        self.prefix = str(self.base_url).rstrip("/")
        self.display_url = str(self.base_url.copy_with(username=None, password=None))
        """``base_url`` without user info (a password), for reprs."""
        self.auth = TokenAuth(
            token,
            async_token=async_token,
            base_url=self.base_url,
            origin_headers=parent_token_header() if forward_parent_execution_token else None,
        )
        self.injected = injected
        """Whether the HTTP client is the user's (``httpx_client``) rather than the SDK's."""
        self.headers: dict[str, str] = {"User-Agent": user_agent()}
        self.headers.update(check_headers(headers, "headers"))
        self.request_headers: dict[str, str] | None = self.headers if injected else None
        """Headers merged into every request: only for an injected client. A client the SDK
        creates carries ``headers`` as its defaults, which is cheaper per request."""
        given_timeout = None if timeout is None else to_timeout(timeout, "timeout")
        self.client_timeout = given_timeout or httpx.Timeout(DEFAULT_TIMEOUT)
        """Timeout of a client the SDK creates."""
        self.request_timeout = given_timeout if injected else None
        """Per-request timeout: only for an injected client, when ``timeout`` was passed."""
        self.policy = make_policy(max_retries, retry_policy)
        self.follow_redirects = bool(follow_redirects)
        self.logger = make_logger(logging)
        self.max_response_size = (
            DEFAULT_MAX_RESPONSE_SIZE
            if max_response_size is None
            else check_size(max_response_size, "max_response_size")
        )
        """Most bytes of a decoded JSON answer (``_bodies``)."""
        self.read_deadline = (
            None if read_deadline is None else check_deadline(read_deadline, "read_deadline")
        )
        """Seconds a JSON answer may take per try; None: ``DEADLINE_FACTOR`` read timeouts."""
