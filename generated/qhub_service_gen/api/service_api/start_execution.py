"""The request of ``start_execution``: POST ``/``.

Only the request is generated: the SDK sends it, reads the answer and parses it itself.
"""

from typing import Any

from ...models.request_body import RequestBody
from ...types import UNSET, Unset


def request_kwargs(
    *,
    body: RequestBody,
    idempotency_key: str | Unset = UNSET,
) -> dict[str, Any]:
    """Start a service execution: the keyword arguments of ``httpx.Client.build_request``.

    ``method``, ``url`` (relative to the gateway's base URL), ``headers``, the body.
    """
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs
