"""Secret values and their redaction, without I/O: the lowest layer of the credentials code.

A token or secret is held as :class:`Hidden` (a ``str`` whose ``repr`` shows nothing), so a
traceback rendered with ``capture_locals=True``, a debugger's variable view or a log of an
object's fields never shows it; it is a plain ``str`` to everything else (httpx puts it in a
header, and httpx's ``Headers`` repr hides ``Authorization`` in turn).
"""

from __future__ import annotations

import contextlib
from typing import Protocol

MIN_REDACTED = 4
"""Tokens shorter than this are not redacted from server text: they would match ordinary words."""


def is_token_text(value: str) -> bool:
    """Whether ``value`` holds only printable ASCII other than space (``!`` to ``~``): what a
    header may carry as a token without quoting or encoding."""
    return value.isascii() and value.isprintable() and " " not in value


class Hidden(str):
    """A secret string: equal to and usable as its value, shown as ``<hidden>``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<hidden>"


class Redact(Protocol):
    """Replaces the tokens in a text by ``***``; ``cut=True`` for a text cut at its end."""

    def __call__(self, text: str, *, cut: bool = False) -> str:
        """``text`` without any token, or any start of one at its end when ``cut``."""
        ...


def redact_cut_end(text: str, secrets: list[str]) -> str:
    """``text`` (cut at its end) with the longest start of a secret that ends it replaced by
    ``***``: a cap cutting through a token never leaves its first characters visible."""
    longest = 0
    for secret in secrets:
        for size in range(min(len(secret) - 1, len(text)), longest, -1):
            if text.endswith(secret[:size]):
                longest = size
                break
    return text[: len(text) - longest] + "***" if longest else text


def make_redactor(found: set[str]) -> Redact | None:
    """A :class:`Redact` for the values in ``found`` of at least ``MIN_REDACTED`` characters
    (longest first, so a token containing another is replaced whole); None when none is."""
    secrets = sorted((s for s in found if len(s) >= MIN_REDACTED), key=len, reverse=True)
    if not secrets:
        return None

    def redact(text: str, *, cut: bool = False) -> str:
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return redact_cut_end(text, secrets) if cut else text

    return redact


MAX_SECRET_VALUES = 4096
"""Strings taken from one ``run(secrets=...)`` for redaction at most (a larger or deeper
value is walked that far; its JSON forms still cover the whole)."""


def secret_strings(value: object) -> set[str]:
    """The strings to redact for a value passed as ``run(secrets=...)``: every string in it,
    nested or not, as is and as JSON writes it inside a string (escaped), and the JSON text of
    each container (how a server echoes the whole object). Numbers and keys are not secrets."""
    import json

    found: set[str] = set()
    stack = [value]
    while stack and len(found) < MAX_SECRET_VALUES:
        item = stack.pop()
        if isinstance(item, str):
            found.add(item)
            found.add(json.dumps(item)[1:-1])
            found.add(json.dumps(item, ensure_ascii=False)[1:-1])
        elif isinstance(item, dict | list | tuple):
            for separators in ((", ", ": "), (",", ":")):
                with contextlib.suppress(ValueError, TypeError, RecursionError):
                    found.add(json.dumps(item, separators=separators, default=str))
            stack.extend(item.values() if isinstance(item, dict) else item)
    return {Hidden(text) for text in found}


def bearer_value(token: object) -> Hidden:
    """``Bearer <token>`` after checking the token is safe to put in a header.

    Raises ``TypeError``/``ValueError`` (never echoing the token) for a non-string, an empty
    token, or one with whitespace, control (CR, LF, ...) or non-ASCII characters.
    """
    if not isinstance(token, str):
        raise TypeError(f"token must be a str or return one, got {type(token).__name__}")
    if not token:
        raise ValueError("token is empty")
    if not is_token_text(token):
        raise ValueError(
            "token contains whitespace, control or non-ASCII characters; refusing to send it"
        )
    return Hidden("Bearer " + token)
