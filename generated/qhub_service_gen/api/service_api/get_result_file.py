"""The request of ``get_result_file``: GET ``/{id}/result/{file}``.

Only the request is generated: the SDK sends it, reads the answer and parses it itself.
"""

from typing import Any

from ...types import UNSET, Unset, path_segment


def request_kwargs(
    id: str,
    file: str,
    *,
    range_: str | Unset = UNSET,
) -> dict[str, Any]:
    """Download a result file: the keyword arguments of ``httpx.Client.build_request``.

    ``method``, ``url`` (relative to the gateway's base URL, each path parameter one
    percent-encoded segment), ``headers``.
    """
    headers: dict[str, Any] = {}
    if not isinstance(range_, Unset):
        headers["Range"] = range_

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": f"/{path_segment(id)}/result/{path_segment(file)}",
    }

    _kwargs["headers"] = headers
    return _kwargs
