"""A mkdocs hook for tables: pipes written for GitHub, and where code may wrap.

1. GitHub's tables split a row on every ``|`` not escaped, even inside a code span, so the
   pages write `` `datetime \\| None` `` to show a pipe in a table cell. Python-Markdown never
   splits inside a code span and keeps the backslash there, which the site would show as
   ``\\|``. The pages stay written for GitHub; the backslash is removed before the site is built.
2. The theme lets code in a cell break anywhere, so a narrow column showed ``follow_redire``
   over ``cts``. docs/stylesheets/extra.css keeps identifiers whole; so that a table still fits
   the page, a long dotted name, call or URL in a cell may wrap after a ``.``, ``/`` or ``(``,
   or between ``][`` (a ``<wbr>``).
3. A hyphenated word or option (``Retry-After``, ``[-o``, ``--no-download``) in inline code
   never wraps at its hyphens, in a table or in prose (a ``<span class="nowrap">``): a line
   ending in ``-`` before ``-files-in`` reads as two words.

Code blocks are left as they are, and so is text outside code.
"""

from __future__ import annotations

import re
from typing import Any

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_TABLE = re.compile(r"<table\b.*?</table>", re.S)
_PRE = re.compile(r"(<pre\b.*?</pre>)", re.S)
_CODE = re.compile(r"(<code\b[^>]*>)(.*?)(</code>)", re.S)
_TAG = re.compile(r"(<[^>]*>)")
# Not before a file name's extension: `_core.py` stays whole.
_BREAK_AFTER = re.compile(
    r"(?<=[\w;])([./]|(?<=\w)\()(?=[\w&])(?!(?:py|md|json|toml|txt|ya?ml|bin|css|html)\b)"
)
_HYPHENATED = re.compile(r"(?:\[?-{1,2}(?=\w)|\b)\w+(?:-\w+)*")


def unescape_table_pipes(markdown: str) -> str:
    """``markdown`` with ``\\|`` made ``|`` inside the code spans of table rows."""
    lines = markdown.split("\n")
    fence: str | None = None
    for index, line in enumerate(lines):
        opening = _FENCE.match(line)
        if fence is not None:
            if opening and line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = None
        elif opening:
            fence = opening[1]
        elif line.lstrip().startswith("|"):
            lines[index] = _CODE_SPAN.sub(
                lambda span: span[1] + span[2].replace("\\|", "|") + span[1], line
            )
    return "\n".join(lines)


def break_long_code(html: str) -> str:
    """``html`` with the wrapping points of inline code set (see the module's docstring)."""

    def in_cell(match: re.Match[str]) -> str:
        parts = _TAG.split(match[2])  # text, tag, text, ...: tags are left alone
        parts[::2] = [_BREAK_AFTER.sub(r"\1<wbr>", text) for text in parts[::2]]
        parts[::2] = [text.replace("][", "]<wbr>[") for text in parts[::2]]
        return match[1] + "".join(parts) + match[3]

    def whole_words(match: re.Match[str]) -> str:
        parts = _TAG.split(match[2])
        parts[::2] = [_HYPHENATED.sub(_keep_whole, text) for text in parts[::2]]
        return match[1] + "".join(parts) + match[3]

    pieces = _PRE.split(_TABLE.sub(lambda table: _CODE.sub(in_cell, table[0]), html))
    pieces[::2] = [_CODE.sub(whole_words, piece) for piece in pieces[::2]]  # not in <pre>
    return "".join(pieces)


def _keep_whole(word: re.Match[str]) -> str:
    return f'<span class="nowrap">{word[0]}</span>' if "-" in word[0] else word[0]


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """mkdocs hook: the pipes."""
    return unescape_table_pipes(markdown)


def on_page_content(html: str, **kwargs: Any) -> str:
    """mkdocs hook: the wrapping points."""
    return break_long_code(html)
