"""Errors raised by the service gateway client.

Every error the SDK raises for a call that reached (or tried to reach) the gateway is an
:class:`ApiError`:

- :class:`APIStatusError` and its subclasses for a non-2xx answer (one class per common status),
- :class:`ResponseValidationError` for a 2xx answer whose body is not what the API documents,
- :class:`APIConnectionError` when the gateway could not be reached after all retries, and
  :class:`APITimeoutError` (also an ``httpx.TimeoutException``) when it did not answer in time,
- :class:`IncompleteDownloadError` when a result file arrived short and could not be resumed.

Messages name the method, the URL path and the status; they never contain request headers or
the bearer token. ``body`` is the parsed JSON of the answer when it is JSON, else its text, and
never more than :data:`BODY_CAP` bytes of it are kept. A token the server echoes back is
replaced by ``***`` in the message, in every string of ``body`` and in ``headers`` (tokens of
at least 4 characters; shorter ones would match ordinary words).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import httpx

BODY_CAP = 64 * 1024
"""Bytes of an error body that are read and kept; the rest is discarded unread."""

_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
SENT_TOKENS_EXTENSION = "qhub.sent_tokens"
"""Request extension in which the client's auth records the tokens it sent (see ``_auth``)."""

_DETAIL_CHARS = 200


class ApiError(Exception):
    """Base class of every error the gateway client raises for a call."""

    status_code: int | None
    headers: Mapping[str, str] | None
    body: Any
    method: str | None
    url: str | None
    body_truncated: bool

    def __init__(
        self,
        message: str | None = None,
        *,
        status_code: int | None = None,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        method: str | None = None,
        url: str | None = None,
        body_truncated: bool = False,
    ) -> None:
        if message is None:
            message = f"status_code: {status_code}, body: {_detail(body)}"
        super().__init__(message)
        self.status_code = status_code
        self.headers = headers
        self.body = body
        self.method = method
        self.url = url
        self.body_truncated = body_truncated

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), str(self), self.__dict__.copy()))


def _rebuild(cls: type[ApiError], message: str, state: dict[str, Any]) -> ApiError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class APIStatusError(ApiError):
    """The gateway answered with a non-2xx status."""


class BadRequestError(APIStatusError):
    """400: the gateway rejected the request as malformed."""


class AuthenticationError(APIStatusError):
    """401: the token is missing, invalid or expired."""


class PermissionDeniedError(APIStatusError):
    """403: the token is valid but may not do this."""


class NotFoundError(APIStatusError):
    """404: no such execution, result file or gateway path."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the execution's state."""


class UnprocessableEntityError(APIStatusError):
    """422: the request was well-formed but not acceptable."""


class RateLimitError(APIStatusError):
    """429: too many requests; ``headers`` may carry ``Retry-After``."""


class InternalServerError(APIStatusError):
    """5xx: the gateway or the service failed."""


class ResponseValidationError(ApiError):
    """A 2xx answer whose body does not parse into the documented type.

    ``body`` holds the raw text of the answer (at most :data:`BODY_CAP` bytes).
    """


class APIConnectionError(ApiError):
    """The gateway could not be reached, or the connection broke, after all retries.

    ``__cause__`` is the underlying ``httpx`` exception.
    """


class APITimeoutError(APIConnectionError, httpx.TimeoutException):
    """The gateway did not answer in time; also an ``httpx.TimeoutException``."""


class IncompleteDownloadError(ApiError):
    """A result file arrived shorter than announced and could not be resumed."""


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """The error class for a non-2xx status."""
    cls = _STATUS_ERRORS.get(status_code)
    if cls is not None:
        return cls
    return InternalServerError if status_code >= 500 else APIStatusError


def decode_body(content: bytes, content_type: str | None, *, truncated: bool = False) -> Any:
    """The parsed JSON of a body when it is (complete) JSON, else its text, else None when empty.

    JSON nested too deeply to parse (``RecursionError``) is kept as text too.
    """
    if not content:
        return None
    if not truncated and _looks_like_json(content, content_type):
        try:
            return json.loads(content)
        except (ValueError, RecursionError):
            pass
    return content.decode("utf-8", errors="replace")


def _looks_like_json(content: bytes, content_type: str | None) -> bool:
    if content_type and "json" in content_type.lower():
        return True
    first = content.lstrip()[:1]
    return first in (b"{", b"[", b'"')


def _detail(body: Any) -> str:
    """A short, single-line description of an error body."""
    if body is None:
        return ""
    if isinstance(body, Mapping):
        for key in ("detail", "message", "error", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return _shorten(value)
    if isinstance(body, str):
        return _shorten(body)
    try:
        text = json.dumps(body, default=str)
    except (ValueError, TypeError, RecursionError):
        return f"({type(body).__name__} too deeply nested to show)"
    return _shorten(text)


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > _DETAIL_CHARS:
        return text[: _DETAIL_CHARS - 3] + "..."
    return text


def request_path(request: httpx.Request) -> str:
    """The request's path as sent (percent-encoded, no query)."""
    return request.url.raw_path.split(b"?", 1)[0].decode("ascii", errors="replace")


def redact_json(value: Any, redact: Callable[[str], str]) -> Any:
    """``value`` (parsed JSON) with ``redact`` applied to every string in it, keys included.

    Raises ``RecursionError`` for a value nested too deeply to walk.
    """
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(k): redact_json(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_json(item, redact) for item in value]
    return value


def redact_body(body: Any, redact: Callable[[str], str], raw: bytes = b"") -> Any:
    """``redact_json`` of an error body; the redacted text of ``raw`` when it is too deep."""
    try:
        return redact_json(body, redact)
    except RecursionError:
        return redact(raw[:BODY_CAP].decode("utf-8", errors="replace"))


def redact_error(error: ApiError, redact: Callable[[str], str], raw: bytes = b"") -> None:
    """Apply ``redact`` to an error's message, body and header values, in place.

    ``raw`` is the body as received: when the parsed body is too deeply nested to walk, the
    redacted text of ``raw`` replaces it.
    """
    message = str(error)
    redacted = redact(message)
    if redacted != message:
        error.args = (redacted,)
    error.body = redact_body(error.body, redact, raw)
    headers = error.headers
    if headers is not None:
        items = list(headers.multi_items()) if isinstance(headers, httpx.Headers) else []
        if not items:
            items = list(headers.items())
        cleaned = [(name, redact(value)) for name, value in items]
        if cleaned != items:
            error.headers = httpx.Headers(cleaned)


def strip_credentials(request: httpx.Request) -> None:
    """Remove ``Authorization``, ``Proxy-Authorization``, ``Cookie`` and the record of the tokens
    sent from a request that failed.

    The ``httpx`` exception an error is chained to (``__cause__``) holds the request it failed
    on; once the call is over nothing sends that request again, so it loses its credentials.
    """
    headers = request.headers
    for name in _CREDENTIAL_HEADERS:
        if name in headers:
            del headers[name]
    request.extensions.pop(SENT_TOKENS_EXTENSION, None)


def safe_request(request: httpx.Request) -> httpx.Request:
    """A body-less copy of ``request`` without credential headers or user info, for an error."""
    url = request.url
    if url.userinfo:
        url = url.copy_with(username=None, password=None)
    headers = [
        (name, value)
        for name, value in request.headers.multi_items()
        if name.lower() not in _CREDENTIAL_HEADERS
    ]
    return httpx.Request(request.method, url, headers=headers)


def describe_request(request: httpx.Request | None) -> tuple[str | None, str | None]:
    """Method and URL of a request for messages: no query, no user info, no headers."""
    if request is None:
        return None, None
    url = request.url
    return request.method, str(
        url.copy_with(query=None, fragment=None, username=None, password=None)
    )


def _make_status_error(
    response: httpx.Response, body: Any, *, body_truncated: bool = False
) -> APIStatusError:
    """The one mapping from a non-2xx response (and its already-read, capped body) to an error."""
    request = response.request if _has_request(response) else None
    method, url = describe_request(request)
    status = response.status_code
    reason = response.reason_phrase
    where = f"{method} {request_path(request)}: " if request is not None else ""
    detail = _detail(body)
    message = f"{where}{status} {reason}".rstrip()
    if detail:
        message = f"{message}: {detail}"
    cls = status_error_class(status)
    return cls(
        message,
        status_code=status,
        headers=response.headers,
        body=body,
        method=method,
        url=url,
        body_truncated=body_truncated,
    )


def _has_request(response: httpx.Response) -> bool:
    try:
        response.request  # noqa: B018
    except RuntimeError:
        return False
    return True


__all__ = [
    "BODY_CAP",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "IncompleteDownloadError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseValidationError",
    "UnprocessableEntityError",
    "decode_body",
    "describe_request",
    "redact_body",
    "redact_error",
    "redact_json",
    "safe_request",
    "status_error_class",
    "strip_credentials",
]
