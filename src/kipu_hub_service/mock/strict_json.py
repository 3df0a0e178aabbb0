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

__all__ = ["InvalidJSON", "dumps", "loads"]


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


#: A JSON string (an unterminated one runs to the end, so scanning stays linear).
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_NOT_BRACKETS = bytes(range(256)).translate(None, b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def _depth(raw: bytes) -> int:
    """How deep the arrays and objects of JSON text ``raw`` nest, without parsing it."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def _surrogate(exc: UnicodeEncodeError) -> InvalidJSON:
    text = exc.object
    code = ord(text[exc.start])
    near = text[max(0, exc.start - 30) : exc.start + 10].encode("ascii", "backslashreplace")
    return InvalidJSON(
        f"lone surrogate \\u{code:04x} (not Unicode text) in a string, near {near.decode()}"
    )


def loads(raw: bytes, *, max_depth: int) -> Any:
    """Parse UTF-8 JSON ``raw``; :class:`InvalidJSON` unless every part can be sent back."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJSON(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at {exc.start})") from None
    if _depth(raw) > max_depth:
        raise InvalidJSON(f"JSON nested deeper than {max_depth} levels")
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except InvalidJSON:
        raise
    except ValueError as exc:  # JSONDecodeError, or an integer with too many digits
        raise InvalidJSON(str(exc)) from None
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
