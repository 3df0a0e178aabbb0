"""Errors and per-call options of the service gateway client."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .api_error import (
    APIConnectionError,
    ApiError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ExecutionFailedError,
    ExecutionTimeoutError,
    IncompleteDownloadError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseTooLargeError,
    ResponseValidationError,
    UnprocessableEntityError,
)
from .request_options import RequestOptions

if TYPE_CHECKING:
    from ._file_name_error import UnsafeResultFileNameError


def __getattr__(name: str) -> Any:
    """``UnsafeResultFileNameError``, loaded on first use (it needs the generated types)."""
    if name == "UnsafeResultFileNameError":
        from ._file_name_error import UnsafeResultFileNameError

        return UnsafeResultFileNameError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
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
    "RequestOptions",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "UnprocessableEntityError",
    "UnsafeResultFileNameError",
]
