"""The request of ``get_status``: GET ``/{id}``.

Only the request is generated: the SDK sends it, reads the answer and parses it itself.
"""

from typing import Any

from ...types import path_segment


def request_kwargs(
    id: str,
) -> dict[str, Any]:
    """Get the status of a service execution: the keyword arguments of ``httpx.Client.build_request``.

    ``method``, ``url`` (relative to the gateway's base URL, each path parameter one
    percent-encoded segment).
    """

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": f"/{path_segment(id)}",
    }

    return _kwargs
