"""Deterministic result-file content, generated on the fly in constant memory.

``result.bin`` of an execution is a pseudo-random byte stream derived from the
execution id: a 1 MiB-ish pattern seeded by the id, repeated with a different
rotation in every period, so that any byte offset has a known value and a
download resumed at the wrong offset is caught by a content check.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
from collections.abc import Iterator
from typing import Any

__all__ = ["DEFAULT_CHUNK", "bin_etag", "iter_result_bin", "json_etag", "result_json_bytes"]

#: Length of the repeated pattern: a prime, so period boundaries never line up with chunks.
_PERIOD = 1_048_573
_ROTATION = 7_919
#: Size of the chunks the gateway streams.
DEFAULT_CHUNK = 256 * 1024


#: Files up to this size are made from a prefix of the pattern, generated per request: the
#: whole pattern costs milliseconds, and a sweep of many small files would pay it for each.
_SMALL = 64 * 1024


def _seed(execution_id: str) -> int:
    return int.from_bytes(hashlib.sha256(execution_id.encode()).digest()[:16], "big")


@functools.lru_cache(maxsize=32)
def _pattern(execution_id: str) -> bytes:
    pattern = random.Random(_seed(execution_id)).randbytes(_PERIOD)
    return pattern + pattern


def _prefix(execution_id: str, size: int) -> bytes:
    """The pattern's first ``size`` bytes (``size`` < ``_PERIOD - 3``): ``randbytes`` draws
    whole 32-bit words first, so a shorter draw rounded up to a word is a prefix of the long one."""
    return random.Random(_seed(execution_id)).randbytes(-(-size // 4) * 4)[:size]


def iter_result_bin(
    execution_id: str, size: int, start: int = 0, chunk: int = DEFAULT_CHUNK
) -> Iterator[bytes]:
    """Bytes ``start..size`` of the ``result.bin`` of ``execution_id``, in chunks."""
    if size < 0 or start < 0 or chunk < 1:
        raise ValueError("size and start must be >= 0 and chunk >= 1")
    if size <= _SMALL:
        yield from _chunks(_prefix(execution_id, size), start, chunk)
        return
    doubled = memoryview(_pattern(execution_id))
    offset = start
    while offset < size:
        period, within = divmod(offset, _PERIOD)
        length = min(chunk, size - offset, _PERIOD - within)
        begin = (within + period * _ROTATION) % _PERIOD
        yield bytes(doubled[begin : begin + length])
        offset += length


def _chunks(content: bytes, start: int, chunk: int) -> Iterator[bytes]:
    for offset in range(start, len(content), chunk):
        yield content[offset : offset + chunk]


def bin_etag(execution_id: str, size: int) -> str:
    """Strong validator of a ``result.bin``: changes with the id and the size."""
    digest = hashlib.sha256(f"result.bin:{execution_id}:{size}".encode()).hexdigest()
    return f'"{digest[:32]}"'


def result_json_bytes(execution_id: str, output: Any) -> bytes:
    """The ``result.json`` of an execution: its id and output, pretty-printed."""
    document = {"id": execution_id, "output": output}
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def json_etag(content: bytes) -> str:
    """Strong validator of a file held in memory."""
    return f'"{hashlib.sha256(content).hexdigest()[:32]}"'
