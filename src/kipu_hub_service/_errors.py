"""The one place where answers and failures become ``ApiError`` subclasses.

Every error names the method and the URL path, never a header or the token; a token the server
echoes back is replaced by ``***`` (see ``TokenAuth.secrets``), and a request that failed loses
its credential headers before an error (or the httpx exception it is chained to) leaves the SDK.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from ._auth import TokenAuth
from ._redirects import CREDENTIAL_HEADERS, MAX_REDIRECTS
from ._secrets import Redact
from .core import api_error as classes
from .core.api_error import (
    BODY_CAP,
    APIConnectionError,
    ApiError,
    APIStatusError,
    APITimeoutError,
    IncompleteDownloadError,
    InternalServerError,
    ResponseValidationError,
    describe_body,
)

_T = TypeVar("_T")


class InvalidBody(Exception):
    """A body does not have the documented shape: raised by ``_parse``, turned into a
    ``ResponseValidationError`` by :meth:`ErrorMapper.parsed`.

    ``quoted`` is a value from the body that ``reason`` shows where it has ``{}``: at most
    ``QUOTE_CHARS`` characters of it, cut only after the tokens in it are redacted (a cut
    through a token never shows its start).
    """

    def __init__(self, reason: str, quoted: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.quoted = quoted

    def within(self, prefix: str) -> InvalidBody:
        """The same problem, said of a part of the body: ``prefix`` before the reason."""
        return InvalidBody(prefix + self.reason, self.quoted)

    def render(self, redact: Redact | None = None) -> str:
        """The reason, with the quoted value redacted, then cut to ``QUOTE_CHARS``."""
        if self.quoted is None:
            return self.reason
        shown = self.quoted if redact is None else redact(self.quoted)
        return self.reason.replace("{}", repr(shown[:QUOTE_CHARS]), 1)

    def __str__(self) -> str:
        return self.render()


QUOTE_CHARS = 40
"""Characters of a bad value that a ``ResponseValidationError`` quotes."""


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: classes.BadRequestError,
    401: classes.AuthenticationError,
    403: classes.PermissionDeniedError,
    404: classes.NotFoundError,
    409: classes.ConflictError,
    422: classes.UnprocessableEntityError,
    429: classes.RateLimitError,
}
"""The one mapping from a status to its error class (others: 5xx or ``APIStatusError``)."""


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


def request_path(request: httpx.Request) -> str:
    """The request's path as sent (percent-encoded, no query)."""
    return request.url.raw_path.split(b"?", 1)[0].decode("ascii", errors="replace")


def origin_of(request: httpx.Request) -> str:
    """``scheme://host:port`` of the request's URL (the port always shown), for messages."""
    url = request.url
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{url.scheme}://{host}:{port}"


def describe_request(request: httpx.Request | None) -> tuple[str | None, str | None]:
    """Method and URL of a request for messages: no query, no user info, no headers."""
    if request is None:
        return None, None
    url = request.url
    return request.method, str(
        url.copy_with(query=None, fragment=None, username=None, password=None)
    )


def redact_json(value: Any, redact: Redact) -> Any:
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


def redact_body(body: Any, redact: Redact, raw: bytes = b"", *, cut: bool = False) -> Any:
    """``redact_json`` of an error body; the redacted text of ``raw`` when it is too deep.

    ``cut``: the body is text cut at ``BODY_CAP``, so a token's start ending it is redacted
    too (the cap never leaves part of a token visible).
    """
    if cut and isinstance(body, str):
        return redact(body, cut=True)
    try:
        return redact_json(body, redact)
    except RecursionError:
        text = raw[:BODY_CAP].decode("utf-8", errors="replace")
        return redact(text, cut=cut or len(raw) > BODY_CAP)


def redact_error(error: ApiError, redact: Redact, raw: bytes = b"") -> None:
    """Apply ``redact`` to an error's message, body and header values, in place.

    ``raw`` is the body as received: when the parsed body is too deeply nested to walk, the
    redacted text of ``raw`` replaces it.
    """
    message = str(error)
    redacted = redact(message)
    if redacted != message:
        error.args = (redacted,)
    error.body = redact_body(error.body, redact, raw, cut=error.body_truncated)
    headers = error.headers
    if headers is not None:
        items = list(headers.multi_items()) if isinstance(headers, httpx.Headers) else []
        if not items:
            items = list(headers.items())
        cleaned = [(name, redact(value)) for name, value in items]
        if cleaned != items:
            error.headers = httpx.Headers(cleaned)


def strip_credentials(request: httpx.Request) -> None:
    """Remove the ``CREDENTIAL_HEADERS`` from a request that failed.

    The ``httpx`` exception an error is chained to (``__cause__``) holds the request it failed
    on; once the call is over nothing sends that request again, so it loses its credentials.
    """
    headers = request.headers
    for name in CREDENTIAL_HEADERS:
        if name in headers:
            del headers[name]


def scrub_credentials(exc: BaseException) -> None:
    """``strip_credentials`` of every request reachable through ``exc`` and the exceptions it
    chains to (an httpx error keeps the request it failed on)."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        error = stack.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        try:
            request = getattr(error, "request", None)
        except RuntimeError:  # an httpx error that was never given its request
            request = None
        if isinstance(request, httpx.Request):
            strip_credentials(request)
        stack.extend(e for e in (error.__cause__, error.__context__) if e is not None)


def safe_request(request: httpx.Request) -> httpx.Request:
    """A body-less copy of ``request`` without credential headers or user info, for an error."""
    url = request.url
    if url.userinfo:
        url = url.copy_with(username=None, password=None)
    headers = [
        (name, value)
        for name, value in request.headers.multi_items()
        if name.lower() not in CREDENTIAL_HEADERS
    ]
    return httpx.Request(request.method, url, headers=headers)


def request_of(response: httpx.Response) -> httpx.Request | None:
    """The request ``response`` answers, None for a response built without one."""
    try:
        return response.request
    except RuntimeError:
        return None


class ErrorMapper:
    """Builds every error of one client; ``auth`` knows the tokens to redact."""

    def __init__(self, auth: TokenAuth) -> None:
        self.auth = auth

    def _redact(self, error: ApiError, request: httpx.Request | None, raw: bytes = b"") -> None:
        """Replace an echoed token (the fixed one, or any sent on ``request``) in the error's
        message, body and headers."""
        redact = self.auth.redactor(request)
        if redact is not None:
            redact_error(error, redact, raw)

    def status_error(
        self, response: httpx.Response, content: bytes, truncated: bool
    ) -> APIStatusError:
        """The error for a non-2xx response whose body (at most ``BODY_CAP`` bytes) was read."""
        request = request_of(response)
        body = decode_body(content, response.headers.get("content-type"), truncated=truncated)
        redact = self.auth.redactor(request)
        if redact is not None:
            body = redact_body(body, redact, content, cut=truncated)
        method, url = describe_request(request)
        status = response.status_code
        where = f"{method} {request_path(request)}: " if request is not None else ""
        message = f"{where}{status} {response.reason_phrase}".rstrip()
        detail = describe_body(body)
        if detail:
            message = f"{message}: {detail}"
        error = status_error_class(status)(
            message,
            status_code=status,
            headers=response.headers,
            body=body,
            method=method,
            url=url,
            body_truncated=truncated,
        )
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
        host = origin_of(request)
        if isinstance(exc, httpx.TimeoutException):
            error: ApiError = APITimeoutError(
                f"{where}: timed out talking to {host} ({type(exc).__name__})",
                method=method,
                url=url,
            )
            error.request = safe_request(request)  # type: ignore[attr-defined]
        else:
            detail = str(exc) or type(exc).__name__
            error = APIConnectionError(
                f"{where}: connection to {host} failed: {detail}", method=method, url=url
            )
        if redact is not None:
            redact_error(error, redact)
        return error

    def unusable_redirect(self, request: httpx.Request) -> ApiError:
        """``APIConnectionError`` for a redirect whose ``Location`` httpx could not follow, on
        any client: httpx raises before the 3xx answer reaches the SDK (see ``_redirects``)."""
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
        """``APIConnectionError`` once a call has been redirected ``MAX_REDIRECTS`` times."""
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

    def incomplete_error_factory(
        self, request: httpx.Request
    ) -> Callable[[int, int | None], IncompleteDownloadError]:
        """Builds the error for a result file that arrived short (used by the downloads)."""

        def make(delivered: int, expected: int | None) -> IncompleteDownloadError:
            method, url = describe_request(request)  # only when it happens: most files arrive
            where = f"{method} {request_path(request)}"
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

    def parsed(self, response: httpx.Response, content: bytes, parser: Callable[[bytes], _T]) -> _T:
        """``parser(content)``; any failure becomes a ``ResponseValidationError``."""
        try:
            return parser(content)
        except InvalidBody as exc:
            reason = exc.render(self.auth.redactor(request_of(response)))
            raise self.invalid(response, content, reason) from None
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
            raise self.invalid(response, content, f"{type(exc).__name__}: {exc}") from exc
