"""A griffe extension for the API reference: Sphinx roles in docstrings become code spans.

The docstrings say :class:`RetryPolicy` or :func:`~kipu_hub_service.testing.mock_gateway`,
which Markdown would show as is; the reference shows `RetryPolicy` and `mock_gateway`.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|attr|data|exc|mod|obj):`~?(?:[\w.]*\.)?([^`]+)`")


class SphinxRoles(griffe.Extension):
    """Rewrite each docstring once, as its object is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(r"`\1`", obj.docstring.value)
