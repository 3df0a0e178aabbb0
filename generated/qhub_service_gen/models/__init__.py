"""Contains all the data models used in inputs/outputs"""

from .error import Error
from .hal_link import HalLink
from .log_entry import LogEntry
from .log_entry_severity import LogEntrySeverity
from .request_body import RequestBody
from .result_response import ResultResponse
from .result_response_embedded import ResultResponseEmbedded
from .result_response_links import ResultResponseLinks
from .service_execution import ServiceExecution
from .service_execution_status import ServiceExecutionStatus
from .service_execution_type import ServiceExecutionType

__all__ = (
    "Error",
    "HalLink",
    "LogEntry",
    "LogEntrySeverity",
    "RequestBody",
    "ResultResponse",
    "ResultResponseEmbedded",
    "ResultResponseLinks",
    "ServiceExecution",
    "ServiceExecutionStatus",
    "ServiceExecutionType",
)
