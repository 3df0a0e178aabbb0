"""Text from the gateway made safe to show on a terminal or in a notebook table.

Anything a gateway sends (error details, log messages, file names, tags, ids) may hold terminal
escape sequences, bidi overrides or lone surrogates. The CLI and :func:`kipu_hub_service.table`
show such text only through :func:`printable`.
"""

from __future__ import annotations

import re

# C0 controls but newline and tab, DEL, C1 controls, the Unicode Bidi_Control characters,
# the line and paragraph separators, and surrogates (only lone ones can be in a str).
ALWAYS_ESCAPED = r"\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_MULTI_LINE = re.compile(rf"[\x00-\x08\x0b-\x1f{ALWAYS_ESCAPED}]")
_ONE_LINE = re.compile(rf"[\x00-\x1f{ALWAYS_ESCAPED}]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _SHORT:
        return _SHORT[char]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, one_line: bool = False) -> str:
    """``text`` with every character that could drive a terminal shown as an escape.

    Control characters (C0 except newline and tab, DEL, C1: so ESC sequences and BEL too),
    bidi controls (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), U+2028, U+2029
    and lone surrogates become ``\\x1b``, ``\\r`` or ``\\u202e``. With ``one_line``, newline and tab
    are escaped too, for text that must stay on its line (ids, names, table cells).
    Backslashes are left as they are.
    """
    return (_ONE_LINE if one_line else _MULTI_LINE).sub(_escaped, text)
