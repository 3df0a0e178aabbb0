"""Kipu Quantum Hub service gateway SDK.

``HubServiceClient`` / ``AsyncHubServiceClient`` start executions of a deployed service, poll
them, read results and logs, stream result files and cancel them. Errors derive from
``ApiError``.
"""

from __future__ import annotations

from ._helpers import (
    TERMINAL_STATUSES,
    ExecutionFailedError,
    ExecutionTimeoutError,
    UnsafeResultFileNameError,
)
from ._retry import RetryPolicy
from .client import AsyncHubServiceClient, AsyncServiceApi, HubServiceClient, ServiceApi
from .core.api_error import (
    APIConnectionError,
    ApiError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    IncompleteDownloadError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    UnprocessableEntityError,
)
from .core.request_options import RequestOptions
from .environment import HubServiceClientEnvironment
from .types import (
    HalLink,
    LogEntry,
    LogEntrySeverity,
    RequestBody,
    RequestBodyModel,
    ResultResponse,
    ResultResponseEmbedded,
    ResultResponseLinks,
    ServiceExecution,
    ServiceExecutionStatus,
    ServiceExecutionType,
)

__all__ = [
    "TERMINAL_STATUSES",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "ApiError",
    "AsyncHubServiceClient",
    "AsyncServiceApi",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "ExecutionFailedError",
    "ExecutionTimeoutError",
    "HalLink",
    "HubServiceClient",
    "HubServiceClientEnvironment",
    "IncompleteDownloadError",
    "InternalServerError",
    "LogEntry",
    "LogEntrySeverity",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestBody",
    "RequestBodyModel",
    "RequestOptions",
    "ResponseValidationError",
    "ResultResponse",
    "ResultResponseEmbedded",
    "ResultResponseLinks",
    "RetryPolicy",
    "ServiceApi",
    "ServiceExecution",
    "ServiceExecutionStatus",
    "ServiceExecutionType",
    "UnprocessableEntityError",
    "UnsafeResultFileNameError",
]
