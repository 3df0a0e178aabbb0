"""Per-call overrides accepted by every ``service_api`` method."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

import httpx

__all__ = ["RequestOptions"]


class RequestOptions(TypedDict, total=False):
    """Options for one call; each key overrides the client's value for that call only.

    - ``timeout``: seconds (all phases) or an ``httpx.Timeout``.
    - ``max_retries``: retries of transient failures for this call.
    - ``additional_headers``: merged over the client's headers.
    - ``chunk_size``: size in bytes of the chunks ``get_result_file`` yields.
    - ``max_response_size``: most bytes of a decoded JSON answer (default 64 MiB).
    - ``read_deadline``: seconds a JSON answer (headers and body) may take in all, per try
      (default 4 read timeouts).
    """

    timeout: float | httpx.Timeout
    """Seconds (every phase) or an ``httpx.Timeout``."""
    max_retries: int
    """Retries of transient failures for this call."""
    additional_headers: Mapping[str, str]
    """Headers merged over the client's."""
    chunk_size: int
    """Bytes per chunk of ``get_result_file`` (and per write of ``download_result_file``)."""
    max_response_size: int
    """Most bytes of a decoded JSON answer; more raises ``ResponseTooLargeError``."""
    read_deadline: float
    """Seconds each try of a JSON call may take to receive its whole answer; when it passes,
    ``APITimeoutError`` (not retried)."""
