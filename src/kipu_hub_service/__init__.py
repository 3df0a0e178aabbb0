"""Kipu Quantum Hub service gateway SDK.

``HubServiceClient`` / ``AsyncHubServiceClient`` start executions of a deployed service, poll
them, read results and logs, stream result files and cancel them. Errors derive from
``ApiError``.

Importing this package is cheap: the public names are loaded on first use (PEP 562), so
``import kipu_hub_service`` does not import httpx, the generated models or asyncio until a
name that needs them is touched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._display import table
    from ._exchange import TokenEndpointError
    from ._results import TERMINAL_STATUSES
    from ._retry import RetryPolicy
    from ._version import __version__ as __version__
    from .client import AsyncHubServiceClient, AsyncServiceApi, HubServiceClient, ServiceApi
    from .core._file_name_error import UnsafeResultFileNameError
    from .core.api_error import (
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
    from .core.request_options import RequestOptions
    from .credentials import ClientCredentials
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

_LAZY: dict[str, str] = {
    "ExecutionFailedError": ".core.api_error",
    "ExecutionTimeoutError": ".core.api_error",
    "TERMINAL_STATUSES": "._results",
    "UnsafeResultFileNameError": ".core._file_name_error",
    "RetryPolicy": "._retry",
    "ClientCredentials": ".credentials",
    "TokenEndpointError": "._exchange",
    "AsyncHubServiceClient": ".client",
    "AsyncServiceApi": ".client",
    "HubServiceClient": ".client",
    "ServiceApi": ".client",
    "APIConnectionError": ".core.api_error",
    "APIStatusError": ".core.api_error",
    "APITimeoutError": ".core.api_error",
    "ApiError": ".core.api_error",
    "AuthenticationError": ".core.api_error",
    "BadRequestError": ".core.api_error",
    "ConflictError": ".core.api_error",
    "IncompleteDownloadError": ".core.api_error",
    "InternalServerError": ".core.api_error",
    "NotFoundError": ".core.api_error",
    "PermissionDeniedError": ".core.api_error",
    "RateLimitError": ".core.api_error",
    "ResponseTooLargeError": ".core.api_error",
    "ResponseValidationError": ".core.api_error",
    "UnprocessableEntityError": ".core.api_error",
    "RequestOptions": ".core.request_options",
    "HubServiceClientEnvironment": ".environment",
    "HalLink": ".types",
    "LogEntry": ".types",
    "LogEntrySeverity": ".types",
    "RequestBody": ".types",
    "RequestBodyModel": ".types",
    "ResultResponse": ".types",
    "ResultResponseEmbedded": ".types",
    "ResultResponseLinks": ".types",
    "ServiceExecution": ".types",
    "ServiceExecutionStatus": ".types",
    "ServiceExecutionType": ".types",
    "table": "._display",
    "__version__": "._version",
}
"""Public name -> the submodule defining it, imported on first access."""

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
    "ClientCredentials",
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
    "ResponseTooLargeError",
    "ResponseValidationError",
    "ResultResponse",
    "ResultResponseEmbedded",
    "ResultResponseLinks",
    "RetryPolicy",
    "ServiceApi",
    "ServiceExecution",
    "ServiceExecutionStatus",
    "ServiceExecutionType",
    "TokenEndpointError",
    "UnprocessableEntityError",
    "UnsafeResultFileNameError",
    "table",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public API and the module's own dunder attributes, not its import helpers."""
    dunders = (name for name in globals() if name.startswith("__") and name.endswith("__"))
    return sorted({*__all__, *dunders})
