"""``UnsafeResultFileNameError``: an ``ApiError`` that is also an ``UnsafeFileNameError``.

Kept apart from ``api_error`` and loaded on first use, with the generated ``types`` module
that holds the file-name rules and their wording.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qhub_service_gen.types import UnsafeFileNameError

from .api_error import ResponseValidationError

_BODY_CHARS = 1024
"""Characters of the rejected name kept as the error's ``body``."""


class _FileNameProblem(UnsafeFileNameError):
    """Takes the one message ``ApiError.__init__`` passes on along the MRO (the generated
    ``UnsafeFileNameError.__init__`` wants the name and the reason instead)."""

    def __init__(self, message: str) -> None:
        ValueError.__init__(self, message)


class UnsafeResultFileNameError(ResponseValidationError, _FileNameProblem):
    """The gateway named a result file in a way that is not one plain file name.

    Raised before anything is written, so a hostile or broken gateway can never make
    ``download_all_result_files`` write outside the target directory. It is both an
    ``ApiError`` (the gateway's answer is unusable) and a ``ValueError``, and a
    ``qhub_service_gen.types.UnsafeFileNameError`` (what ``ResultResponse.files`` raises), so
    one ``except UnsafeFileNameError`` catches both.
    """

    def __init__(
        self,
        name: str,
        reason: str = "is not a single plain file name",
        *,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        if redact is not None:
            name = redact(name)  # before the message cuts it: no part of a token shows
        self.name = name
        """The rejected name, as the gateway sent it (the client's tokens redacted)."""
        self.reason = reason
        """Why the name was rejected."""
        # The model's message (one wording for both), and what the download does about it.
        told = str(UnsafeFileNameError(name, reason))
        super().__init__(f"{told}; refusing to write it", body=name[:_BODY_CHARS])

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle support: rebuild from the constructor arguments, keep any later state."""
        return (type(self), (self.name, self.reason), self.__dict__)


__all__ = ["UnsafeResultFileNameError"]
