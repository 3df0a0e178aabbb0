"""Errors raised by the service gateway client.

Every error the SDK raises for a call that reached (or tried to reach) the gateway is an
:class:`ApiError`:

- :class:`APIStatusError` and its subclasses for a non-2xx answer (one class per common status),
- :class:`ResponseValidationError` for a 2xx answer whose body is not what the API documents
  (:class:`ResponseTooLargeError` when it is larger than the call's ``max_response_size``),
- :class:`APIConnectionError` when the gateway could not be reached after all retries, and
  :class:`APITimeoutError` (also an ``httpx.TimeoutException``) when it did not answer in time,
- :class:`IncompleteDownloadError` when a result file arrived short and could not be resumed,
- :class:`UnsafeResultFileNameError` (also a ``ValueError``) when a result names a file in a way
  that is not one plain file name.

The workflows (``run``, ``wait_for_completion``) add :class:`ExecutionTimeoutError` (a
``TimeoutError``) and :class:`ExecutionFailedError`, which are not ``ApiError``: the gateway
answered fine, the execution did not finish or did not succeed. The mapping of answers to these
classes lives in ``kipu_hub_service._errors``.

Messages name the method, the URL path and the status; they never contain request headers or
the bearer token. ``body`` is the parsed JSON of the answer when it is JSON, else its text, and
never more than :data:`BODY_CAP` bytes of it are kept. A token the server echoes back is
replaced by ``***`` in the message, in every string of ``body`` and in ``headers`` (tokens of
at least 4 characters; shorter ones would match ordinary words).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from qhub_service_gen.models import ResultResponse, ServiceExecution, ServiceExecutionStatus


BODY_CAP = 64 * 1024
"""Bytes of an error body that are read and kept; the rest is discarded unread."""

_DETAIL_CHARS = 200


class ApiError(Exception):
    """Base class of every error the gateway client raises for a call."""

    status_code: int | None
    """The HTTP status of the answer, None when there was none."""
    headers: Mapping[str, str] | None
    """The answer's headers (tokens redacted), None when there was no answer."""
    body: Any
    """The answer's parsed JSON, else its text (at most ``BODY_CAP`` bytes), else None."""
    method: str | None
    """The request's method."""
    url: str | None
    """The request's URL, without query or user info."""
    body_truncated: bool
    """Whether the body was longer than ``BODY_CAP`` and cut."""

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
            message = f"status_code: {status_code}, body: {describe_body(body)}"
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


class ResponseTooLargeError(ResponseValidationError):
    """A 2xx answer whose decoded body is larger than the call's ``max_response_size``.

    The body is dropped unread past the cap (``body`` is None); :attr:`limit` is the cap in
    bytes. Raise the cap with the client's ``max_response_size=`` or
    ``request_options["max_response_size"]``.
    """

    limit: int | None = None
    """The cap that was passed, in bytes."""


class APIConnectionError(ApiError):
    """The gateway could not be reached, or the connection broke, after all retries.

    ``__cause__`` is the underlying ``httpx`` exception.
    """


class APITimeoutError(APIConnectionError, httpx.TimeoutException):
    """The gateway did not answer in time; also an ``httpx.TimeoutException``."""


class IncompleteDownloadError(ApiError):
    """A result file arrived shorter than announced and could not be resumed."""


class ExecutionTimeoutError(TimeoutError):
    """An execution did not reach a terminal state within the allowed time.

    The execution keeps running on the server: use :attr:`execution_id` to wait again,
    or cancel it with ``service_api.cancel_execution(error.execution_id)``.
    """

    def __init__(
        self, execution_id: str, timeout: float, last_execution: ServiceExecution | None
    ) -> None:
        self.execution_id = execution_id
        """Id of the execution that was being waited for."""
        self.timeout = timeout
        """The timeout in seconds that expired."""
        self.last_execution = last_execution
        """The last status snapshot read, ``None`` if no poll completed."""
        seen = f"last status {self.last_status}" if self.last_status else "no status read"
        super().__init__(f"execution {execution_id} did not finish within {timeout:g} s ({seen})")

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle support: rebuild from the constructor arguments, keep any later state."""
        return (
            type(self),
            (self.execution_id, self.timeout, self.last_execution),
            self.__dict__,
        )

    @property
    def last_status(self) -> ServiceExecutionStatus | None:
        """The last status observed before the timeout, ``None`` if none was read."""
        return None if self.last_execution is None else self.last_execution.status


class ExecutionFailedError(Exception):
    """``run`` finished with an execution that ``FAILED`` or was ``CANCELLED``.

    Carries everything known about the outcome, so no further request is needed to
    report it. Pass ``raise_on_failure=False`` to ``run`` to get the result envelope
    back instead.
    """

    def __init__(
        self,
        execution: ServiceExecution,
        result: ResultResponse | None,
        *,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        from ._failure import failure_reason, shown_id

        self.execution = execution
        """The final status snapshot of the execution."""
        self.result = result
        """The execution's result envelope, ``None`` if the gateway served none."""
        self._reason = failure_reason(result, redact)
        message = f"execution {shown_id(execution.id, redact)} ended {execution.status}"
        reason = self._reason
        self._message = message if reason is None else f"{message}: {reason}"
        super().__init__(self._message)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle support: rebuild from the constructor arguments, keep any later state."""
        return (type(self), (self.execution, self.result), self.__dict__)

    def __setstate__(self, state: dict[str, Any] | None) -> None:
        self.__dict__.update(state or {})
        self.args = (self._message,)

    @property
    def execution_id(self) -> str:
        """Id of the execution."""
        return self.execution.id

    @property
    def status(self) -> ServiceExecutionStatus:
        """The terminal status: ``FAILED`` or ``CANCELLED``."""
        return self.execution.status

    @property
    def reason(self) -> str | None:
        """The server's reason for the failure, ``None`` if the result carries none.

        Read from the result's ``error`` field (or ``output.error``): a string, or an object
        with a ``message`` (and an optional ``code``), as one line of at most 500 characters,
        with the client's tokens and secrets redacted (when ``run`` raised it).
        """
        return self._reason


def describe_body(body: Any) -> str:
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


__all__ = [
    "BODY_CAP",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "ExecutionFailedError",
    "ExecutionTimeoutError",
    "IncompleteDownloadError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "UnprocessableEntityError",
]
