"""The public data types of the gateway API (generated attrs models, re-exported).

Enums (``ServiceExecutionStatus``, ``ServiceExecutionType``, ``LogEntrySeverity``) are ``str``
enums: ``status == "SUCCEEDED"`` works. A value the server adds after this SDK was released is
kept as is: it becomes a member-like instance of the enum whose ``.value`` is the raw string and
which compares equal to it (``ServiceExecutionStatus("PAUSED") == "PAUSED"``); it is not mapped to
``UNKNOWN``. Unknown object fields are preserved in ``additional_properties`` (``obj["key"]``),
and an explicit ``null`` is accepted for every optional field.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from qhub_service_gen.models import (
    HalLink,
    LogEntry,
    LogEntrySeverity,
    ResultResponse,
    ResultResponseEmbedded,
    ResultResponseLinks,
    ServiceExecution,
    ServiceExecutionStatus,
    ServiceExecutionType,
)
from qhub_service_gen.models import RequestBody as RequestBodyModel

RequestBody: TypeAlias = dict[str, Any]
"""The body of ``start_execution``: a free-form JSON object (``input`` and ``inputDataRefs`` are
reserved by the gateway). ``RequestBodyModel`` (the generated attrs model) is accepted too."""

__all__ = [
    "HalLink",
    "LogEntry",
    "LogEntrySeverity",
    "RequestBody",
    "RequestBodyModel",
    "ResultResponse",
    "ResultResponseEmbedded",
    "ResultResponseLinks",
    "ServiceExecution",
    "ServiceExecutionStatus",
    "ServiceExecutionType",
]
