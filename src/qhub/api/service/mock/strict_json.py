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


def _where(path: list[str | int]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _check_text(text: str, path: list[str | int], what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        where = _where(path) if path else "the top level"
        raise InvalidJSON(
            f"{what} at {where} holds a lone surrogate \\u{code:04x}, which is not Unicode text"
        ) from None


def _check(value: Any, max_depth: int) -> None:
    """Walk ``value`` without recursion: depth, and every string and key encodable."""
    too_deep = InvalidJSON(f"JSON nested deeper than {max_depth} levels")
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            _check_text(item, path, "a string")
        elif isinstance(item, dict):
            if len(path) >= max_depth:
                raise too_deep
            for key, child in item.items():
                _check_text(key, [*path, key], "a key")
                stack.append((child, [*path, key]))
        elif isinstance(item, list):
            if len(path) >= max_depth:
                raise too_deep
            stack.extend((child, [*path, index]) for index, child in enumerate(item))


def loads(raw: bytes, *, max_depth: int) -> Any:
    """Parse UTF-8 JSON ``raw``; :class:`InvalidJSON` unless every part can be sent back."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJSON(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise InvalidJSON(f"JSON nested deeper than {max_depth} levels") from None
    except InvalidJSON:
        raise
    except ValueError as exc:  # JSONDecodeError, or an integer with too many digits
        raise InvalidJSON(str(exc)) from None
    _check(value, max_depth)
    return value


def dumps(value: Any, **options: Any) -> bytes:
    """Compact UTF-8 JSON; ValueError for anything that would not be valid JSON."""
    return json.dumps(
        value, ensure_ascii=False, allow_nan=False, separators=(",", ":"), **options
    ).encode("utf-8")
