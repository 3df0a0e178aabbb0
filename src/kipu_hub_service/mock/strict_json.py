"""Strict JSON for the mock gateway: what it accepts can always be written back out.

Python's ``json`` accepts ``NaN``, ``Infinity``, numbers that overflow to infinity
(``1e999``), lone UTF-16 surrogates (``"\\ud800"``) and any nesting depth up to a
``RecursionError``; none of those can be sent back as JSON (UTF-8, RFC 8259). The gateway
stores and echoes request bodies, so it refuses them on the way in with a
:class:`InvalidJSON` that names the problem and where it is.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

__all__ = [
    "BASE_COST",
    "ITEM_COST",
    "InvalidJSON",
    "dumps",
    "least_parsed_size",
    "loads",
    "parsed_size",
    "skeleton",
]


class InvalidJSON(ValueError):
    """A request body that is not JSON the gateway can store and send back."""


def _reject_constant(constant: str) -> Any:
    raise InvalidJSON(f"{constant} is not valid JSON (numbers must be finite)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise InvalidJSON(f"number {shown} is out of range (numbers must be finite)")
    return value


#: A JSON string (an unterminated one runs to the end, so scanning stays linear); written
#: as runs of plain characters between escapes, which the regex engine scans fast.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKETS = bytes(range(256)).translate(None, b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


#: An upper bound of the memory one JSON value or object key takes once parsed by Python,
#: its characters aside (measured on CPython 3.11: 92 bytes a value or key in a list of
#: one-key objects, 36 for empty objects, 32 for floats, 8 beyond the text for ints and
#: strings), and a fixed cost of the outermost value (the first dictionary, mostly).
ITEM_COST = 128
BASE_COST = 1024
#: Escapes of UTF-16 surrogates: only these can make a string that UTF-8 cannot carry.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _depth(skeleton: bytes) -> int:
    """How deep the arrays and objects of JSON text without its strings nest."""
    brackets = skeleton.translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def skeleton(raw: bytes) -> bytes:
    """JSON text ``raw`` without its strings: what its structure is counted on."""
    return _STRING.sub(b"", raw)


def least_parsed_size(raw: bytes) -> int:
    """A lower bound of :func:`parsed_size`, counted in C without scanning strings: every
    string is a value or key, and each takes two quotes that are not escaped."""
    strings = (raw.count(b'"') - raw.count(b'\\"')) // 2
    return BASE_COST + strings * ITEM_COST


def parsed_size(raw: bytes, structure: bytes | None = None) -> int:
    """An upper estimate of the memory the parsed value of JSON text ``raw`` keeps, made
    without parsing it: :data:`BASE_COST`, plus :data:`ITEM_COST` per value and object key
    (each one is a ``,``, ``:``, ``[`` or ``{`` outside strings, or the first value), plus
    the text itself, four times over when a string may hold characters that Python stores
    in four bytes. ``structure`` is :func:`skeleton` of ``raw`` when the caller has it."""
    if structure is None:
        structure = skeleton(raw)
    items = 1 + sum(structure.count(mark) for mark in (b",", b":", b"[", b"{"))
    wide = not raw.isascii() or b"\\u" in raw
    return BASE_COST + items * ITEM_COST + len(raw) * (4 if wide else 1)


def _surrogate(exc: UnicodeEncodeError) -> InvalidJSON:
    text = exc.object
    code = ord(text[exc.start])
    near = text[max(0, exc.start - 30) : exc.start + 10].encode("ascii", "backslashreplace")
    return InvalidJSON(
        f"lone surrogate \\u{code:04x} (not Unicode text) in a string, near {near.decode()}"
    )


def loads(raw: bytes, *, max_depth: int, structure: bytes | None = None) -> Any:
    """Parse UTF-8 JSON ``raw``; :class:`InvalidJSON` unless every part can be sent back.
    ``structure`` is :func:`skeleton` of ``raw`` when the caller has it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJSON(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at {exc.start})") from None
    if _depth(skeleton(raw) if structure is None else structure) > max_depth:
        raise InvalidJSON(f"JSON nested deeper than {max_depth} levels")
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except InvalidJSON:
        raise
    except ValueError as exc:  # JSONDecodeError, or an integer with too many digits
        raise InvalidJSON(str(exc)) from None
    del text
    if _SURROGATE_ESCAPE.search(raw):  # UTF-8 text itself cannot hold a lone surrogate
        try:
            dumps(value)
        except UnicodeEncodeError as exc:
            raise _surrogate(exc) from None
    return value


def dumps(value: Any, **options: Any) -> bytes:
    """Compact UTF-8 JSON; ValueError for anything that would not be valid JSON."""
    return json.dumps(
        value, ensure_ascii=False, allow_nan=False, separators=(",", ":"), **options
    ).encode("utf-8")
