"""Errors and per-call options of the service gateway client."""

from __future__ import annotations

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
    ResponseValidationError,
    UnprocessableEntityError,
    UnsafeResultFileNameError,
)
from .request_options import RequestOptions

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
    "ResponseValidationError",
    "UnprocessableEntityError",
    "UnsafeResultFileNameError",
]
