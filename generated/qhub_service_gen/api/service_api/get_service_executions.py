"""The request of ``get_service_executions``: GET ``/``.

Only the request is generated: the SDK sends it, reads the answer and parses it itself.
"""

from typing import Any


def request_kwargs() -> dict[str, Any]:
    """List service executions: the keyword arguments of ``httpx.Client.build_request``.

    ``method``, ``url`` (relative to the gateway's base URL).
    """

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/",
    }

    return _kwargs
