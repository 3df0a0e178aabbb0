"""Text from the gateway made safe to print: escaped control characters, strict JSON.

Anything a gateway sends (error details, log messages, file names, tags, ids) may hold terminal
escape sequences, bidi overrides or lone surrogates. The CLI prints every such text through
:func:`printable` (human output and stderr) or :func:`json_text` (``--json``), so none of them
reaches a terminal raw, and stdout stays valid JSON whatever the gateway sent.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
from typing import Any

from .._display import stamp
from .._text import ALWAYS_ESCAPED, printable

__all__ = ["json_text", "printable", "public_name"]

# json.dumps already escapes C0 controls; these are the rest, inside string literals only.
_JSON_UNSAFE = re.compile(rf"[{ALWAYS_ESCAPED}]")


def _json_escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _finite(data: Any) -> Any:
    """``data`` with every NaN and infinity replaced by the string ``NaN``, ``Infinity`` or
    ``-Infinity`` (a round trip through the json module, which knows where they are)."""
    return json.loads(json.dumps(data, allow_nan=True), parse_constant=str)


def json_text(data: Any, *, indent: int | None = None, ascii_only: bool = False) -> str:
    """``data`` as strict JSON (RFC 8259) that is also safe to show on a terminal.

    Non-finite numbers, which JSON cannot hold, are written as the strings ``"NaN"``,
    ``"Infinity"`` and ``"-Infinity"``. The characters :func:`printable` escapes are written
    as ``\\uXXXX`` escapes, so the parsed value is unchanged (a lone surrogate stays one).
    ``ascii_only`` escapes all non-ASCII characters, for a stream that cannot encode them.
    """
    try:
        text = json.dumps(data, indent=indent, ensure_ascii=ascii_only, allow_nan=False)
    except ValueError:  # a NaN or an infinity
        text = json.dumps(_finite(data), indent=indent, ensure_ascii=ascii_only, allow_nan=False)
    return _JSON_UNSAFE.sub(_json_escaped, text)


def public_name(kind: type[BaseException]) -> str:
    """The name of ``kind``'s first public class (``_Interrupted`` -> ``KeyboardInterrupt``)."""
    for cls in kind.__mro__:
        if not cls.__name__.startswith("_"):
            return cls.__name__
    return "Exception"  # pragma: no cover - BaseException itself is public


class PrintableFormatter(logging.Formatter):
    """A log formatter whose lines pass through :func:`printable` (for ``--verbose``), with
    ``%(asctime)s`` in the CLI's one time format (``_display.stamp``: UTC, ``Z``)."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """The record's time as ``2026-11-25T14:17:43.068Z``."""
        return stamp(datetime.datetime.fromtimestamp(record.created, datetime.UTC))

    def format(self, record: logging.LogRecord) -> str:
        """The record formatted as usual, then escaped."""
        return printable(super().format(record))
