"""A mkdocs hook: ``\\|`` in a code span of a table row becomes ``|`` on the site.

GitHub's tables split a row on every ``|`` not escaped, even inside a code span, so the pages
write `` `datetime \\| None` `` to show a pipe in a table cell. Python-Markdown never splits
inside a code span and keeps the backslash there, which the site would show as ``\\|``. The
pages stay written for GitHub; this hook removes that one backslash before the site is built.
Code blocks and text outside tables are left as they are.
"""

from __future__ import annotations

import re
from typing import Any

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")


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


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """mkdocs hook."""
    return unescape_table_pipes(markdown)
