"""The reason a failed execution gives, read from its result envelope (``ExecutionFailedError``).

In ``core`` beside the error that shows it, so the errors import nothing above them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qhub_service_gen.models import ResultResponse

_REASON_LIMIT = 500


def failure_reason(result: ResultResponse | None) -> str | None:
    """The reason a failed execution's result envelope gives, as one short line, or ``None``."""
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
    text = " ".join(text.split())
    if not text:
        return None
    if len(text) > _REASON_LIMIT:
        text = text[: _REASON_LIMIT - 1] + "…"
    return text
