"""The reason a failed execution gives, read from its result envelope (``ExecutionFailedError``).

In ``core`` beside the error that shows it, so the errors import nothing above them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qhub_service_gen.models import ResultResponse

_REASON_LIMIT = 500


def failure_reason(
    result: ResultResponse | None, redact: Callable[[str], str] | None = None
) -> str | None:
    """The reason a failed execution's result envelope gives, as one short line, or ``None``;
    ``redact`` is applied before the line is shortened (a cut never shows part of a token)."""
    if result is None:
        return None
    error = result.additional_properties.get("error")
    output = result.additional_properties.get("output")
    if error is None and isinstance(output, dict):
        error = output.get("error")
    if isinstance(error, dict):
        message, code = error.get("message"), error.get("code")
        if not isinstance(message, str) or not message.strip():
            message = None
        code = code if isinstance(code, str | int) and not isinstance(code, bool) else None
        if message is None and code is None:
            return None
        text = str(code) if message is None else message
        if message is not None and code is not None:
            text = f"{message} ({code})"
    elif isinstance(error, str):
        text = error
    else:
        return None
    text = " ".join((text if redact is None else redact(text)).split())
    if not text:
        return None
    if len(text) > _REASON_LIMIT:
        text = text[: _REASON_LIMIT - 1] + "…"
    return text


ID_LIMIT = 100
"""Characters of an execution id that an error message shows (the id attribute has it all)."""


def shown_id(value: str, redact: Callable[[str], str] | None = None) -> str:
    """An execution id for a message: redacted, then cut to ``ID_LIMIT`` characters."""
    text = value if redact is None else redact(value)
    return text if len(text) <= ID_LIMIT else text[: ID_LIMIT - 1] + "…"
