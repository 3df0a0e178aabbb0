"""The part of the gateway client shared by ``HubServiceClient`` and ``AsyncHubServiceClient``.

Written once and used by both:

- configuration (base URL, token, headers, timeout, retry policy, redirects, logging),
- request building from the generated ``_get_kwargs`` builders (every id and file name is one
  percent-encoded path segment under ``base_url``),
- redirect handling (the token only ever goes to ``base_url``'s origin, see ``_auth``),
- mapping of non-2xx responses and transport failures to the ``ApiError`` hierarchy,
- parsing and shape-checking of response bodies into the generated models.

``SyncIO`` and ``AsyncIO`` are the only two halves that differ: how a request is sent and how a
body is read. Both send through the one retry loop of ``_retry``.
"""

from __future__ import annotations

import datetime
import functools
import gc
import json
import logging
import os
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import httpx
from qhub_service_gen.models import (
    LogEntry,
    RequestBody,
    ResultResponse,
    ServiceExecution,
)

from ._auth import AsyncTokenSource, TokenAuth, TokenSource
from ._download import (
    OnProgress,
    adownload_to_path,
    aiter_result_file,
    download_to_path,
    iter_result_file,
)
from ._retry import (
    POLICY_EXTENSION,
    RetryPolicy,
    async_send_with_retries,
    send_with_retries,
)
from .core.api_error import (
    BODY_CAP,
    APIConnectionError,
    ApiError,
    APIStatusError,
    APITimeoutError,
    IncompleteDownloadError,
    ResponseValidationError,
    _has_request,
    _make_status_error,
    decode_body,
    describe_request,
    redact_body,
    redact_error,
    request_path,
    safe_request,
    strip_credentials,
)
from .core.request_options import RequestOptions
from .environment import HubServiceClientEnvironment

if TYPE_CHECKING:
    from collections.abc import Awaitable

T = TypeVar("T")

DEFAULT_TIMEOUT = 60.0
"""Seconds; the timeout of an HTTP client the SDK creates itself."""
MAX_REDIRECTS = 20
_GC_PAUSE_BYTES = 256 * 1024
DEFAULT_CHUNK_SIZE = 64 * 1024
"""Bytes per write of ``download_result_file`` unless ``request_options["chunk_size"]`` says.
``get_result_file`` hands chunks over as they arrive (at most 64 KiB each, never copied) unless
a ``chunk_size`` asks for exact chunks."""
AIOHTTP_OPT_OUT_ENV = "QHUB_SERVICE_NO_AIOHTTP"
"""Set to 1 to make ``AsyncHubServiceClient`` use httpx's own transport even with aiohttp."""
LOGGER_NAME = "qhub.api.service"

_OPTION_KEYS = frozenset(RequestOptions.__annotations__)
_BAD_HEADER_CHARS = frozenset("\r\n\0")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_HEADER_VALUE = re.compile(r"[^\t\x20-\x7e]")
MAX_SEGMENT_BYTES = 4096
"""Longest execution id or file name accepted, in bytes of UTF-8."""
_SPACE_BEFORE_OFFSET = re.compile(r"\s+(?=(?:Z|[+-]\d\d(?::?\d\d)?)$)", re.IGNORECASE)
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_NO_BASE_URL = "Please pass in either base_url or environment to construct the client"


@functools.cache
def user_agent() -> str:
    """``User-Agent`` of the SDK: distribution name and version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"kipu-hub-service-python/{version('kipu-hub-service')}"
    except PackageNotFoundError:
        return "kipu-hub-service-python"


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


# Configuration ---------------------------------------------------------------------------------


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


def check_headers(headers: Mapping[str, str] | None, what: str) -> dict[str, str]:
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


def to_timeout(value: object, what: str) -> httpx.Timeout:
    """An ``httpx.Timeout`` from seconds (every phase) or an ``httpx.Timeout``."""
    if isinstance(value, httpx.Timeout):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{what} must be a positive number of seconds or an httpx.Timeout")
    return httpx.Timeout(float(value))


def make_logger(config: logging.Logger | Mapping[str, Any] | None) -> logging.Logger | None:
    """The logger of a client; None when logging is silenced.

    ``config`` is a ``logging.Logger``, or a dict with optional keys ``logger`` (a Logger, default
    ``logging.getLogger("qhub.api.service")``), ``level`` (a level name or number, set on that
    logger, so on the shared SDK logger, for every client, when no ``logger`` is given) and
    ``silent`` (True: this client logs nothing).
    """
    if config is None:
        return logging.getLogger(LOGGER_NAME)
    if isinstance(config, logging.Logger):
        return config
    if not isinstance(config, Mapping):
        raise TypeError("logging must be a logging.Logger or a dict {level, logger, silent}")
    unknown = set(config) - {"level", "logger", "silent"}
    if unknown:
        raise ValueError(f"unknown logging keys: {sorted(unknown)}")
    if config.get("silent", False):
        return None
    logger = config.get("logger") or logging.getLogger(LOGGER_NAME)
    if not isinstance(logger, logging.Logger):
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


def check_segment(value: object, what: str) -> str:
    """An execution id or file name: a non-empty str, encodable as UTF-8 (no lone surrogates),
    of at most ``MAX_SEGMENT_BYTES`` bytes so encoded (later percent-encoded as one segment)."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{what} must not be empty")
    if value.isascii():
        size = len(value)
    else:
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            raise ValueError(f"{what} is not valid Unicode text (a lone surrogate)") from None
    if size > MAX_SEGMENT_BYTES:
        raise ValueError(f"{what} is too long: {size} bytes as UTF-8, at most {MAX_SEGMENT_BYTES}")
    return value


def check_chunk_size(options: RequestOptions | None) -> int | None:
    size = options.get("chunk_size") if options else None
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
        raise ValueError("request_options['chunk_size'] must be a positive int")
    return size


class _RawBody:
    """Duck-typed ``RequestBody`` handing a caller's mapping to the generated builder as is."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data

    def to_dict(self) -> Mapping[str, Any]:
        return self._data


def request_body(request: object) -> Any:
    """The body of ``start_execution``: a mapping (the documented dict) or a ``RequestBody``."""
    if isinstance(request, RequestBody):
        return request
    if isinstance(request, Mapping):
        if not all(isinstance(key, str) for key in request):
            raise TypeError("request keys must be str")
        return _RawBody(request if isinstance(request, dict) else dict(request))
    raise TypeError(f"request must be a dict (JSON object), got {type(request).__name__}")


class ClientCore:
    """Configuration and the protocol logic of one client, independent of sync or async I/O."""

    def __init__(
        self,
        *,
        base_url: str | None,
        environment: HubServiceClientEnvironment | str | None,
        token: TokenSource | None,
        async_token: AsyncTokenSource | None = None,
        headers: Mapping[str, str] | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int | None,
        retry_policy: RetryPolicy | None = None,
        follow_redirects: bool,
        logging_config: logging.Logger | Mapping[str, Any] | None,
        injected: bool,
    ) -> None:
        self.base_url = resolve_base_url(base_url, environment)
        self.prefix = str(self.base_url).rstrip("/")
        self.display_url = str(self.base_url.copy_with(username=None, password=None))
        """``base_url`` without user info (a password), for reprs."""
        self.auth = TokenAuth(token, async_token=async_token, base_url=self.base_url)
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
        self.timeout: httpx.Timeout | httpx._client.UseClientDefault = (
            given_timeout if injected and given_timeout is not None else httpx.USE_CLIENT_DEFAULT
        )
        """Per-request timeout: only set for an injected client when ``timeout`` was passed."""
        self.policy = make_policy(max_retries, retry_policy)
        self.follow_redirects = bool(follow_redirects)
        self.logger = make_logger(logging_config)

    # Requests ----------------------------------------------------------------------------------

    def build(
        self,
        client: httpx.Client | httpx.AsyncClient,
        kwargs: dict[str, Any],
        options: RequestOptions | None,
    ) -> httpx.Request:
        """An ``httpx.Request`` from a generated ``_get_kwargs`` result, under ``base_url``."""
        headers = self.request_headers
        extra = kwargs.get("headers")
        timeout = self.timeout
        extensions: dict[str, Any] | None = None
        if options:
            if not isinstance(options, Mapping):
                raise TypeError("request_options must be a dict")
            unknown = options.keys() - _OPTION_KEYS
            if unknown:
                raise TypeError(f"unknown request_options keys: {sorted(unknown)}")
            value = options.get("timeout")
            if value is not None:
                timeout = to_timeout(value, "request_options['timeout']")
            retries = options.get("max_retries")
            if retries is not None:
                try:
                    policy = self.policy.with_max_retries(retries)
                except (TypeError, ValueError) as exc:
                    raise type(exc)(f"request_options[{'max_retries'!r}]: {exc}") from None
                extensions = {POLICY_EXTENSION: policy}
            if options.get("chunk_size") is not None:
                check_chunk_size(options)
            additional = options.get("additional_headers")
            if additional:
                extra = (
                    {**extra, **check_headers(additional, "additional_headers")}
                    if extra
                    else (check_headers(additional, "additional_headers"))
                )
        if extra:
            headers = {**headers, **extra} if headers else extra
        body = kwargs.get("json")
        return client.build_request(
            kwargs["method"],
            self.prefix + kwargs["url"],
            headers=headers,
            json=body,
            timeout=timeout,
            extensions=extensions,
        )

    def redirect(self, request: httpx.Request, response: httpx.Response) -> httpx.Request:
        """The request that follows ``response``'s redirect.

        It is built as an ``httpx.Request`` from the previous request's headers (which already
        hold the client's defaults), never through ``client.build_request``, which would merge
        those defaults back in. When the new URL leaves the origin of the previous request or of
        ``base_url``, it carries no ``Authorization``, ``Proxy-Authorization`` or ``Cookie``;
        ``TokenAuth`` attaches the token again only on ``base_url``'s origin.
        """
        location = response.headers["Location"]
        try:
            url = request.url.join(location)
        except (httpx.InvalidURL, ValueError):
            raise self.status_error(response, b"", False) from None
        if url.scheme not in ("http", "https") or not url.host:
            raise self.status_error(response, b"", False)
        method = request.method
        status = response.status_code
        if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
            method = "GET"
        drop = {"host"}
        if not (self.auth.applies_to(url) and _same_origin(url, request.url)):
            drop |= _CREDENTIAL_HEADERS
        content: bytes | None = None
        if method == request.method:
            content = request.content or None
        else:
            drop |= {"content-length", "content-type", "transfer-encoding"}
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in drop]
        return httpx.Request(
            method, url, headers=headers, content=content, extensions=request.extensions
        )

    def log_response(self, response: httpx.Response) -> None:
        """One DEBUG line per request sent: the answers that came before ``response`` in
        httpx's ``history`` (the 401 that made a token callable refresh) are logged first."""
        logger = self.logger
        if logger is not None and logger.isEnabledFor(logging.DEBUG):
            for answer in (*response.history, response):
                request = answer.request
                logger.debug("%s %s -> %d", request.method, request.url.path, answer.status_code)

    # Errors ------------------------------------------------------------------------------------

    def status_error(
        self, response: httpx.Response, content: bytes, truncated: bool
    ) -> APIStatusError:
        """The error for a non-2xx response whose body (at most ``BODY_CAP`` bytes) was read."""
        body = decode_body(content, response.headers.get("content-type"), truncated=truncated)
        redact = self.auth.redactor(response.request if _has_request(response) else None)
        if redact is not None:
            body = redact_body(body, redact, content)
        error = _make_status_error(response, body, body_truncated=truncated)
        if redact is not None:
            redact_error(error, redact, content)
        return error

    def connection_error(self, exc: httpx.RequestError, request: httpx.Request) -> ApiError:
        """``APITimeoutError`` for a timeout, else ``APIConnectionError``.

        The failed request (also reachable as ``exc.request`` from the error's ``__cause__``)
        loses its credential headers; an ``APITimeoutError``'s ``request`` is a copy without them.
        """
        try:
            failed = exc.request
        except RuntimeError:
            failed = request
        redact = self.auth.redactor(request, failed)
        strip_credentials(request)
        if failed is not request:
            strip_credentials(failed)
        method, url = describe_request(request)
        where = f"{method} {request_path(request)}"
        if isinstance(exc, httpx.TimeoutException):
            error: ApiError = APITimeoutError(
                f"{where}: timed out ({type(exc).__name__})", method=method, url=url
            )
            error.request = safe_request(request)  # type: ignore[attr-defined]
        else:
            detail = str(exc) or type(exc).__name__
            error = APIConnectionError(
                f"{where}: connection failed: {detail}", method=method, url=url
            )
        if redact is not None:
            redact_error(error, redact)
        return error

    def unusable_redirect(self, exc: Exception, request: httpx.Request) -> ApiError:
        """``APIConnectionError`` for a redirect whose ``Location`` httpx could not follow, on an
        injected client (where the 3xx answer itself is out of reach, see ``note_redirect``)."""
        redact = self.auth.redactor(request)
        strip_credentials(request)
        method, url = describe_request(request)
        error = APIConnectionError(
            f"{method} {request_path(request)}: redirect to an unusable Location",
            method=method,
            url=url,
        )
        if redact is not None:
            redact_error(error, redact)
        return error

    def too_many_redirects(self, response: httpx.Response) -> ApiError:
        method, url = describe_request(response.request)
        error = APIConnectionError(
            f"{method} {request_path(response.request)}: more than {MAX_REDIRECTS} redirects",
            status_code=response.status_code,
            headers=response.headers,
            method=method,
            url=url,
        )
        self._redact(error, response.request)
        return error

    def policy_for(self, request: httpx.Request) -> RetryPolicy:
        """The retry policy of ``request``: its ``request_options`` override, else the client's."""
        policy = request.extensions.get(POLICY_EXTENSION)
        return policy if isinstance(policy, RetryPolicy) else self.policy

    def incomplete_error_factory(
        self, request: httpx.Request
    ) -> Callable[[int, int | None], IncompleteDownloadError]:
        """Builds the error for a result file that arrived short (used by ``_download``)."""
        method, url = describe_request(request)
        where = f"{method} {request_path(request)}"

        def make(delivered: int, expected: int | None) -> IncompleteDownloadError:
            of = f" of {expected}" if expected is not None else ""
            return IncompleteDownloadError(
                f"{where}: download incomplete: got {delivered}{of} bytes",
                method=method,
                url=url,
            )

        return make

    def invalid(self, response: httpx.Response, content: bytes, reason: str) -> ApiError:
        """``ResponseValidationError`` for a 2xx body that is not what the API documents."""
        method, url = describe_request(response.request)
        truncated = len(content) > BODY_CAP
        raw = content[:BODY_CAP].decode("utf-8", errors="replace")
        error = ResponseValidationError(
            f"{method} {request_path(response.request)}: {response.status_code} response body does "
            f"not match the API: {reason}",
            status_code=response.status_code,
            headers=response.headers,
            body=raw,
            method=method,
            url=url,
            body_truncated=truncated,
        )
        self._redact(error, response.request, content)
        return error

    def _redact(self, error: ApiError, request: httpx.Request | None, raw: bytes = b"") -> None:
        """Replace an echoed token (the fixed one, or any sent on ``request``) in the error's
        message, body and headers (see ``_auth``)."""
        redact = self.auth.redactor(request)
        if redact is not None:
            redact_error(error, redact, raw)

    def parse(self, response: httpx.Response, content: bytes, parser: Callable[[bytes], T]) -> T:
        """``parser(content)``; any failure becomes a ``ResponseValidationError``.

        A body over 256 KiB is parsed with the cyclic garbage collector paused: building tens
        of thousands of objects otherwise triggers collection passes that find nothing to free
        and cost about a third of the time. The collector is enabled again only by the parse
        that paused it, once no other parse (in another thread) still holds the pause; when
        it was already off, it is left alone.
        """
        pause = len(content) > _GC_PAUSE_BYTES and _pause_gc()
        try:
            return parser(content)
        except _Invalid as exc:
            raise self.invalid(response, content, str(exc)) from None
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
            raise self.invalid(response, content, f"{type(exc).__name__}: {exc}") from exc
        finally:
            if pause:
                _resume_gc()


_gc_lock = threading.Lock()
_gc_holders = 0
"""Parses currently holding the garbage-collector pause (the SDK disabled the collector)."""


def _pause_gc() -> bool:
    """Pause the cyclic garbage collector for one parse; True when this parse holds the pause
    and must call :func:`_resume_gc`. False when the collector was off without the SDK."""
    global _gc_holders
    with _gc_lock:
        if _gc_holders == 0:
            if not gc.isenabled():
                return False
            gc.disable()
        _gc_holders += 1
        return True


def _resume_gc() -> None:
    """Release one parse's pause; the last one out enables the collector again."""
    global _gc_holders
    with _gc_lock:
        _gc_holders -= 1
        if _gc_holders == 0:
            gc.enable()


# Parsing ---------------------------------------------------------------------------------------


class _Invalid(Exception):
    """A body does not have the documented shape (turned into ResponseValidationError)."""


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def load_json(content: bytes) -> Any:
    if not content.strip():
        raise _Invalid("the body is empty")
    try:
        return json.loads(content)
    except ValueError:
        raise _Invalid("the body is not valid JSON") from None


_OPTIONAL_EXECUTION_STRINGS = (
    "startedAt",
    "endedAt",
    "serviceId",
    "serviceDefinitionId",
    "applicationId",
    "type",
)


_NONE_TYPE = type(None)
_STR_OR_NULL = frozenset({str, _NONE_TYPE})


def _all_str(items: list[Any]) -> bool:
    """Whether every item of a list is a str (``str.join`` checks that in C)."""
    try:
        "".join(items)
    except TypeError:
        return False
    return True


def check_execution(data: Any) -> None:
    """Type check of every documented field of one ServiceExecution object: required strings,
    nullable strings and ``tags`` (null or an array of strings). Cheap: it runs per list item."""
    if data.__class__ is dict:
        get = data.get
        tags = get("tags")
        if (
            get("id").__class__ is str
            and get("createdAt").__class__ is str
            and get("status").__class__ is str
            and get("startedAt").__class__ in _STR_OR_NULL
            and get("endedAt").__class__ in _STR_OR_NULL
            and get("type").__class__ in _STR_OR_NULL
            and get("serviceId").__class__ in _STR_OR_NULL
            and get("serviceDefinitionId").__class__ in _STR_OR_NULL
            and get("applicationId").__class__ in _STR_OR_NULL
            and (tags is None or (tags.__class__ is list and _all_str(tags)))
        ):
            return
    _explain_execution(data)


def _explain_execution(data: Any) -> None:
    """Raise ``_Invalid`` saying what is wrong with an execution object."""
    if type(data) is not dict:
        raise _Invalid(f"expected an execution object, got {_kind(data)}")
    for key in ("id", "createdAt", "status"):
        if type(data.get(key)) is not str:
            raise _Invalid(f"execution {key!r} is missing or not a string")
    for key in _OPTIONAL_EXECUTION_STRINGS:
        value = data.get(key)
        if value is not None and type(value) is not str:
            raise _Invalid(f"execution {key!r} is {_kind(value)}, expected a string")
    tags = data.get("tags")
    if tags is not None and type(tags) is not list:
        raise _Invalid(f"execution 'tags' is {_kind(tags)}, expected an array")
    for index, tag in enumerate(tags or ()):
        if type(tag) is not str:
            raise _Invalid(f"execution 'tags' item {index} is {_kind(tag)}, expected a string")
    raise _Invalid("execution object has unexpected field types")


def parse_execution(content: bytes) -> ServiceExecution:
    data = load_json(content)
    check_execution(data)
    return ServiceExecution.from_dict(data)


def parse_executions(content: bytes) -> list[ServiceExecution]:
    data = load_json(content)
    if type(data) is not list:
        raise _Invalid(f"expected an array of executions, got {_kind(data)}")
    check = check_execution
    for index, item in enumerate(data):
        try:
            check(item)
        except _Invalid as exc:
            raise _Invalid(f"item {index}: {exc}") from None
    from_dict = ServiceExecution.from_dict
    return [from_dict(item) for item in data]


_LINK_STRINGS = ("type", "deprecation", "name", "profile", "title", "hreflang")
_BOOL_OR_NULL = frozenset({bool, _NONE_TYPE})


def _check_link(name: str, link: Any) -> None:
    """Type check of a HalLink: ``href`` a string, ``templated`` a boolean or null, every
    other documented field a string or null."""
    if type(link) is not dict or type(link.get("href")) is not str:
        raise _Invalid(f"_links[{name!r}] must be an object with a string 'href'")
    templated = link.get("templated")
    if templated.__class__ not in _BOOL_OR_NULL:
        raise _Invalid(f"_links[{name!r}].templated is {_kind(templated)}, expected a boolean")
    for key in _LINK_STRINGS:
        value = link.get(key)
        if value.__class__ not in _STR_OR_NULL:
            raise _Invalid(f"_links[{name!r}].{key} is {_kind(value)}, expected a string")


def parse_result(content: bytes) -> ResultResponse:
    data = load_json(content)
    if type(data) is not dict:
        raise _Invalid(f"expected a result object, got {_kind(data)}")
    links = data.get("_links")
    embedded = data.get("_embedded")
    if links is not None or embedded is not None or "_links" in data or "_embedded" in data:
        data = dict(data)
        if links is None:
            data.pop("_links", None)
        else:
            if type(links) is not dict:
                raise _Invalid(f"'_links' is {_kind(links)}, expected an object")
            links = {name: link for name, link in links.items() if link is not None}
            for name, link in links.items():
                _check_link(name, link)
            data["_links"] = links
        if embedded is None:
            data.pop("_embedded", None)
        else:
            if type(embedded) is not dict:
                raise _Invalid(f"'_embedded' is {_kind(embedded)}, expected an object")
            if embedded.get("status", 0) is None:
                embedded = {k: v for k, v in embedded.items() if k != "status"}
            elif "status" in embedded:
                try:
                    check_execution(embedded["status"])
                except _Invalid as exc:
                    raise _Invalid(f"_embedded.status: {exc}") from None
            data["_embedded"] = embedded
    return ResultResponse.from_dict(data)


def parse_timestamp(value: str) -> datetime.datetime:
    """A timezone-aware datetime from any ISO-8601 form servers send (UTC when no offset)."""
    text = _SPACE_BEFORE_OFFSET.sub("", value.strip())
    try:
        parsed = datetime.datetime.fromisoformat(text.upper())
    except ValueError:
        from dateutil.parser import isoparse  # type: ignore[import-untyped]

        try:
            parsed = isoparse(text.upper())
        except (ValueError, OverflowError):
            raise _Invalid(f"timestamp {value[:40]!r} is not an ISO-8601 date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed


def _log_entry(data: Any) -> LogEntry:
    if type(data) is not dict:
        raise _Invalid(f"expected a log entry object, got {_kind(data)}")
    if type(data.get("message")) is not str:
        raise _Invalid("log entry 'message' is missing or not a string")
    stamp = data.get("timestamp")
    if type(stamp) is not str:
        raise _Invalid("log entry 'timestamp' is missing or not a string")
    severity = data.get("severity")
    if severity is not None and type(severity) is not str:
        raise _Invalid(f"log entry 'severity' is {_kind(severity)}, expected a string")
    try:
        return LogEntry.from_dict(data)
    except ValueError:
        normalised = parse_timestamp(stamp).isoformat()
        return LogEntry.from_dict({**data, "timestamp": normalised})


def parse_logs(content: bytes) -> list[LogEntry] | None:
    if not content.strip():
        return None
    data = load_json(content)
    if data is None:
        return None
    if type(data) is not list:
        raise _Invalid(f"expected an array of log entries, got {_kind(data)}")
    entries = []
    for index, item in enumerate(data):
        try:
            entries.append(_log_entry(item))
        except _Invalid as exc:
            raise _Invalid(f"item {index}: {exc}") from None
    return entries


# I/O halves ------------------------------------------------------------------------------------


def _read_capped(response: httpx.Response) -> tuple[bytes, bool]:
    """At most ``BODY_CAP`` bytes of a (streamed) response, and whether more was left unread."""
    if hasattr(response, "_content"):
        return response.content[:BODY_CAP], len(response.content) > BODY_CAP
    parts: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_bytes():
            parts.append(chunk)
            size += len(chunk)
            if size > BODY_CAP:
                break
    except (httpx.HTTPError, httpx.StreamError):
        pass
    finally:
        response.close()
    content = b"".join(parts)
    return content[:BODY_CAP], size > BODY_CAP


async def _aread_capped(response: httpx.Response) -> tuple[bytes, bool]:
    if hasattr(response, "_content"):
        return response.content[:BODY_CAP], len(response.content) > BODY_CAP
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            parts.append(chunk)
            size += len(chunk)
            if size > BODY_CAP:
                break
    except (httpx.HTTPError, httpx.StreamError):
        pass
    finally:
        await response.aclose()
    content = b"".join(parts)
    return content[:BODY_CAP], size > BODY_CAP


def _restream(response: httpx.Response) -> httpx.Response:
    """A response whose body a transport already read (e.g. ``httpx.MockTransport`` with
    ``content=``) as an unread stream again, so raw streaming works on it like on the wire."""
    if not response.is_stream_consumed:
        return response
    fresh = httpx.Response(
        response.status_code,
        headers=response.headers,
        stream=httpx.ByteStream(response.content),
        request=response.request,
        extensions=response.extensions,
    )
    fresh.history = response.history
    return fresh


_REDIRECT_FAILURES = (httpx.InvalidURL, httpx.RemoteProtocolError, ValueError)
"""What ``httpx.Client.send`` raises for a 3xx whose ``Location`` it cannot make a URL of."""


REDIRECT_RESPONSE = "qhub.redirect_response"
"""Request extension holding the 3xx answer to it, for when httpx cannot build the next hop."""


def note_redirect(response: httpx.Response) -> None:
    """Response hook, on HTTP clients the SDK creates only: park a redirect answer on its request.

    ``httpx.Client.send`` builds the follow-up request of every redirect, even with
    ``follow_redirects=False``, and raises when the ``Location`` is unusable (``javascript:``,
    no host ...), after the response arrived. Response hooks run before that, so the 3xx is
    kept where the sender can turn it into an ``APIStatusError``.
    """
    if response.has_redirect_location:
        response.request.extensions[REDIRECT_RESPONSE] = response


async def anote_redirect(response: httpx.Response) -> None:
    """``note_redirect`` for ``httpx.AsyncClient``."""
    note_redirect(response)


def building_next_hop(exc: BaseException) -> bool:
    """Whether httpx raised ``exc`` while building a redirect's follow-up request, rather than
    the transport (a failure that is retried) or the token (refused before sending)."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "_build_redirect_request":
            return True
        tb = tb.tb_next
    return False


def unfollowable_redirect(request: httpx.Request) -> httpx.Response | None:
    """The 3xx answer to ``request`` that ``httpx`` failed to build the next hop of, if any."""
    response = request.extensions.pop(REDIRECT_RESPONSE, None)
    return response if isinstance(response, httpx.Response) else None


class SyncIO:
    """Sending and reading for ``HubServiceClient`` (``httpx.Client``)."""

    def __init__(self, core: ClientCore, client: httpx.Client) -> None:
        self.core = core
        self.client = client
        auth = core.auth
        client_send = client.send
        injected = core.injected
        if not injected:
            hooks = client.event_hooks["response"]
            if note_redirect not in hooks:
                hooks.append(note_redirect)

        def send(request: httpx.Request) -> httpx.Response:
            """``client.send``; a redirect to an unusable ``Location`` raises ``APIStatusError``
            on a client the SDK made, ``APIConnectionError`` on an injected one."""
            try:
                response = client_send(request, auth=auth, follow_redirects=False, stream=True)
            except _REDIRECT_FAILURES as exc:
                redirect = unfollowable_redirect(request)
                if redirect is None:
                    if injected and building_next_hop(exc):
                        raise core.unusable_redirect(exc, request) from exc
                    raise
            else:
                request.extensions.pop(REDIRECT_RESPONSE, None)
                return response
            raise core.status_error(redirect, b"", False)

        def send_buffered(request: httpx.Request) -> httpx.Response:
            response = send(request)
            if response.is_success:
                try:
                    response.read()
                except BaseException:
                    response.close()
                    raise
            return response

        def send_streamed(request: httpx.Request) -> httpx.Response:
            return _restream(send(request))

        self._send_buffered = send_buffered
        self._send_streamed = send_streamed

    def send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        """Send with retries and redirects; a 2xx body is read unless ``stream``; others unread."""
        core = self.core
        once = self._send_streamed if stream else self._send_buffered
        hops = 0
        while True:
            try:
                response = send_with_retries(once, request, core.policy, core.logger)
            except httpx.RequestError as exc:
                raise core.connection_error(exc, request) from exc
            core.log_response(response)
            if not (core.follow_redirects and response.has_redirect_location):
                return response
            hops += 1
            if hops > MAX_REDIRECTS:
                response.close()
                raise core.too_many_redirects(response)
            try:
                request = core.redirect(request, response)
            finally:
                response.close()

    def raise_for_status(self, response: httpx.Response) -> None:
        """Raise the mapped error for a non-2xx response, reading at most ``BODY_CAP`` of it."""
        if response.is_success:
            return
        content, truncated = _read_capped(response)
        raise self.core.status_error(response, content, truncated)

    def call(self, request: httpx.Request) -> tuple[httpx.Response, bytes]:
        """Send, raise for a non-2xx status, and return the response with its whole body."""
        response = self.send(request)
        if not response.is_success:
            self.raise_for_status(response)
        return response, response.content

    def iter_file(self, request: httpx.Request, chunk_size: int | None) -> Iterator[bytes]:
        """Stream a result file, resuming after drops; the request is sent on the first ``next()``.

        ``_download`` sends through :meth:`send` (so auth, redirects and retries apply).
        """
        chunks = iter_result_file(
            cast(httpx.Client, self),
            request,
            chunk_size=chunk_size,
            raise_for_status=self.raise_for_status,
            make_incomplete_error=self.core.incomplete_error_factory(request),
            retry_policy=self.core.policy_for(request),
        )
        try:
            yield from chunks
        except httpx.RequestError as exc:
            raise self.core.connection_error(exc, request) from exc
        finally:
            chunks.close()  # type: ignore[attr-defined]

    def download(
        self,
        request: httpx.Request,
        path: str | os.PathLike[str],
        chunk_size: int | None,
        *,
        overwrite: bool = True,
        on_progress: OnProgress | None = None,
    ) -> Path:
        """Download a result file atomically to ``path``, resuming a partial one."""
        try:
            return download_to_path(
                cast(httpx.Client, self),
                request,
                path,
                chunk_size=chunk_size or DEFAULT_CHUNK_SIZE,
                raise_for_status=self.raise_for_status,
                make_incomplete_error=self.core.incomplete_error_factory(request),
                retry_policy=self.core.policy_for(request),
                overwrite=overwrite,
                on_progress=on_progress,
            )
        except httpx.RequestError as exc:
            raise self.core.connection_error(exc, request) from exc


class AsyncIO:
    """Sending and reading for ``AsyncHubServiceClient`` (``httpx.AsyncClient``)."""

    def __init__(self, core: ClientCore, client: httpx.AsyncClient) -> None:
        self.core = core
        self.client = client
        auth = core.auth
        client_send = client.send
        injected = core.injected
        if not injected:
            hooks = client.event_hooks["response"]
            if anote_redirect not in hooks:
                hooks.append(anote_redirect)

        async def send(request: httpx.Request) -> httpx.Response:
            try:
                response = await client_send(
                    request, auth=auth, follow_redirects=False, stream=True
                )
            except _REDIRECT_FAILURES as exc:
                redirect = unfollowable_redirect(request)
                if redirect is None:
                    if injected and building_next_hop(exc):
                        raise core.unusable_redirect(exc, request) from exc
                    raise
            else:
                request.extensions.pop(REDIRECT_RESPONSE, None)
                return response
            raise core.status_error(redirect, b"", False)

        async def send_buffered(request: httpx.Request) -> httpx.Response:
            response = await send(request)
            if response.is_success:
                try:
                    await response.aread()
                except BaseException:
                    await response.aclose()
                    raise
            return response

        async def send_streamed(request: httpx.Request) -> httpx.Response:
            return _restream(await send(request))

        self._send_buffered = send_buffered
        self._send_streamed = send_streamed

    async def send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        core = self.core
        once: Callable[[httpx.Request], Awaitable[httpx.Response]] = (
            self._send_streamed if stream else self._send_buffered
        )
        hops = 0
        while True:
            try:
                response = await async_send_with_retries(once, request, core.policy, core.logger)
            except httpx.RequestError as exc:
                raise core.connection_error(exc, request) from exc
            core.log_response(response)
            if not (core.follow_redirects and response.has_redirect_location):
                return response
            hops += 1
            if hops > MAX_REDIRECTS:
                await response.aclose()
                raise core.too_many_redirects(response)
            try:
                request = core.redirect(request, response)
            finally:
                await response.aclose()

    async def raise_for_status(self, response: httpx.Response) -> None:
        if response.is_success:
            return
        content, truncated = await _aread_capped(response)
        raise self.core.status_error(response, content, truncated)

    async def call(self, request: httpx.Request) -> tuple[httpx.Response, bytes]:
        response = await self.send(request)
        if not response.is_success:
            await self.raise_for_status(response)
        return response, response.content

    async def aiter_file(
        self, request: httpx.Request, chunk_size: int | None
    ) -> AsyncIterator[bytes]:
        chunks = aiter_result_file(
            cast(httpx.AsyncClient, self),
            request,
            chunk_size=chunk_size,
            raise_for_status=self.raise_for_status,
            make_incomplete_error=self.core.incomplete_error_factory(request),
            retry_policy=self.core.policy_for(request),
        )
        try:
            async for chunk in chunks:
                yield chunk
        except httpx.RequestError as exc:
            raise self.core.connection_error(exc, request) from exc
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    async def download(
        self,
        request: httpx.Request,
        path: str | os.PathLike[str],
        chunk_size: int | None,
        *,
        overwrite: bool = True,
        on_progress: OnProgress | None = None,
    ) -> Path:
        try:
            return await adownload_to_path(
                cast(httpx.AsyncClient, self),
                request,
                path,
                chunk_size=chunk_size or DEFAULT_CHUNK_SIZE,
                raise_for_status=self.raise_for_status,
                make_incomplete_error=self.core.incomplete_error_factory(request),
                retry_policy=self.core.policy_for(request),
                overwrite=overwrite,
                on_progress=on_progress,
            )
        except httpx.RequestError as exc:
            raise self.core.connection_error(exc, request) from exc


# HTTP clients the SDK creates ------------------------------------------------------------------


def make_sync_client(core: ClientCore) -> httpx.Client:
    return httpx.Client(timeout=core.client_timeout, follow_redirects=False, headers=core.headers)


def _proxies_configured() -> bool:
    """Whether proxy environment variables are set: httpx honours them, the aiohttp transport
    would not, so the async client then stays on httpx's own transport."""
    from urllib.request import getproxies

    return bool(getproxies())


def make_async_client(core: ClientCore) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient``, on aiohttp when ``httpx_aiohttp`` is installed, unless opted out
    with ``QHUB_SERVICE_NO_AIOHTTP=1`` or proxies are configured in the environment."""
    transport: httpx.AsyncBaseTransport | None = None
    opted_out = os.environ.get(AIOHTTP_OPT_OUT_ENV, "").strip().lower() in {
        "1",
        "true",
        "yes",
        "on",
    }
    if not opted_out and not _proxies_configured():
        from ._aiohttp import make_aiohttp_transport

        transport = make_aiohttp_transport()
    return httpx.AsyncClient(
        timeout=core.client_timeout,
        follow_redirects=False,
        transport=transport,
        headers=core.headers,
    )
