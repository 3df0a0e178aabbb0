"""The result of a finished execution: its HAL envelope and its files, streamed with ranges."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .files import DEFAULT_CHUNK, bin_etag, iter_result_bin, json_etag, result_json_bytes
from .sending import HTTPError, Reply, json_reply
from .state import TERMINAL, Execution, ExecutionStore

__all__ = ["result_file_reply", "result_reply", "shorten"]

_RANGE = re.compile(r"bytes=([0-9]+)-")


def shorten(value: str, limit: int = 80) -> str:
    """``value``, cut to ``limit`` characters with an ellipsis."""
    return value if len(value) <= limit else value[:limit] + "…"


@dataclass(slots=True)
class _File:
    media_type: str
    size: int
    etag: str
    chunks: Callable[[int], Iterator[bytes]]


def _files(execution: Execution, now: float) -> dict[str, _File]:
    if execution.status_at(now) != "SUCCEEDED":
        return {}
    content = result_json_bytes(execution.id, execution.output())
    size = execution.result_size
    return {
        "result.json": _File(
            "application/json",
            len(content),
            json_etag(content),
            lambda start: iter((content[start:],)),
        ),
        "result.bin": _File(
            "application/octet-stream",
            size,
            bin_etag(execution.id, size),
            lambda start: iter_result_bin(execution.id, size, start, DEFAULT_CHUNK),
        ),
    }


def result_reply(store: ExecutionStore, execution: Execution, base_url: str) -> Reply:
    """The HAL result envelope of a finished execution (409 before it has finished)."""
    now = store.now()
    snapshot = store.snapshot(execution, now)
    status = snapshot["status"]
    if status not in TERMINAL:
        raise HTTPError(409, f"Execution is {status}; its result is available once it has finished")
    href = f"{base_url}/{quote(execution.id, safe='')}"
    links: dict[str, Any] = {"status": {"href": href}}
    for name, file in _files(execution, now).items():
        links[name] = {
            "href": f"{href}/result/{quote(name, safe='')}",
            "type": file.media_type,
            "name": name,
        }
    result: dict[str, Any] = {}
    if status == "SUCCEEDED":
        result["output"] = execution.output()
    elif status == "FAILED":
        result["error"] = {
            "message": "The input asked for a failure",
            "code": "REQUESTED_FAILURE",
        }
    result["_links"] = links
    result["_embedded"] = {"status": snapshot}
    return json_reply(200, result)


def result_file_reply(
    store: ExecutionStore, execution: Execution, name: str, headers: Mapping[str, str]
) -> Reply:
    """A result file, whole or from ``Range: bytes=N-``, streamed as it is generated."""
    now = store.now()
    status = execution.status_at(now)
    if status not in TERMINAL:
        raise HTTPError(409, f"Execution is {status}; its files exist once it has finished")
    file = _files(execution, now).get(name)
    if file is None:
        raise HTTPError(404, f"Execution has no result file {shorten(name)!r}")
    # The spec documents application/octet-stream for every file; the HAL link has the type.
    common = {
        "content-type": "application/octet-stream",
        "etag": file.etag,
        "accept-ranges": "bytes",
    }
    requested = headers.get("range")
    start: int | None = None
    if requested is not None:
        match = _RANGE.fullmatch(requested.strip())
        if match is None:
            raise HTTPError(400, "Only 'Range: bytes=N-' is supported")
        if_range = headers.get("if-range")
        if if_range is None or if_range.strip() == file.etag:
            start = int(match.group(1))
            if start >= file.size:
                raise HTTPError(
                    416,
                    f"Range starts at {start}, beyond the end of the {file.size}-byte file",
                    {"content-range": f"bytes */{file.size}"},
                )
    if start is None:
        return Reply(200, common, stream=lambda: file.chunks(0), length=file.size)
    offset = start
    common["content-range"] = f"bytes {offset}-{file.size - 1}/{file.size}"
    return Reply(206, common, stream=lambda: file.chunks(offset), length=file.size - offset)
