"""A griffe extension for the API reference: docstrings written for Sphinx and the REPL read
as Markdown.

- Sphinx roles become code spans: the docstrings say :class:`RetryPolicy` or
  :func:`~kipu_hub_service.testing.mock_gateway`, which Markdown would show as is; the
  reference shows `RetryPolicy` and `mock_gateway`.
- A doctest (``>>>`` and its ``...`` lines) becomes a ``pycon`` code block: Markdown would read
  each ``>`` as a quote and run the lines together into one paragraph.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|attr|data|exc|mod|obj):`~?(?:[\w.]*\.)?([^`]+)`")
_DOCTEST = re.compile(r"^(?:>>>|\.\.\.)(?: |$)")
_DIRECTIVE = re.compile(r"\s*# doctest:.*$")


def fence_doctests(text: str) -> str:
    """``text`` with each run of unindented ``>>>``/``...`` lines in a ```pycon fence."""
    out: list[str] = []
    in_run = False
    for line in text.split("\n"):
        is_doctest = bool(_DOCTEST.match(line))
        if is_doctest and not in_run:
            out.append("```pycon")
        elif in_run and not is_doctest:
            out.append("```")
        in_run = is_doctest
        out.append(_DIRECTIVE.sub("", line) if is_doctest else line)
    if in_run:
        out.append("```")
    return "\n".join(out)


class SphinxRoles(griffe.Extension):
    """Rewrite each docstring once, as its object is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fence_doctests(_ROLE.sub(r"`\1`", obj.docstring.value))
