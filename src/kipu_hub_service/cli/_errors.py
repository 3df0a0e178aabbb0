"""Every failure of a command as one line on stderr and an exit code.

A failure about one execution (a ``wait`` or ``run`` that was interrupted or gave up) says
which execution and what to do next, in text and in ``--json`` alike: the JSON error object
then has ``executionId`` and ``hint`` beside ``message``, which holds the text line's words.
"""

from __future__ import annotations

from contextlib import suppress

import httpx
from qhub_service_gen.models import ServiceExecution

from ..core.api_error import ApiError, ExecutionTimeoutError
from . import EXIT_API_ERROR, EXIT_INTERRUPTED, EXIT_TIMEOUT, EXIT_USAGE, UsageError
from ._safe import public_name
from ._token import TokenCommandError


class _Interrupted(KeyboardInterrupt):
    """Ctrl-C during a command about one execution, with what to do next.

    Reported as ``KeyboardInterrupt`` (exit 130); ``hint`` (may be empty) is the advice,
    also written into the message.
    """

    def __init__(self, message: str, *, execution_id: str, hint: str = "") -> None:
        super().__init__(message)
        self.execution_id = execution_id
        """The execution the command was about."""
        self.hint = hint
        """What to do next, a command line or two."""


class _WaitTimeout(ExecutionTimeoutError):
    """``--wait-timeout`` expired (exit 4): the SDK's error, with what to do next."""

    def __init__(
        self, execution_id: str, timeout: float, last_execution: ServiceExecution | None
    ) -> None:
        super().__init__(execution_id, timeout, last_execution)
        self.hint = still_running_hint(execution_id)
        """What to do next."""
        self.args = (f"{self.args[0]}; it keeps running ({self.hint})",)

    @classmethod
    def of(cls, exc: ExecutionTimeoutError) -> _WaitTimeout:
        """The SDK's timeout error with the CLI's hint."""
        return cls(exc.execution_id, exc.timeout, exc.last_execution)


def still_running_hint(execution_id: str) -> str:
    """The advice about an execution that keeps running on the server."""
    return (
        f"wait again with: hub-service wait {execution_id}; "
        f"stop it with: hub-service cancel {execution_id}"
    )


def _classify(exc: BaseException) -> tuple[int, str]:
    """(exit code, one-line message) of a failure."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED, str(exc) or "interrupted"
    if isinstance(exc, UsageError):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, ExecutionTimeoutError):
        return EXIT_TIMEOUT, str(exc)
    if isinstance(exc, TokenCommandError):
        return EXIT_API_ERROR, str(exc)
    if isinstance(exc, ApiError):
        return EXIT_API_ERROR, str(exc) or type(exc).__name__
    if isinstance(exc, httpx.HTTPError):
        return EXIT_API_ERROR, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, FileExistsError):
        return EXIT_USAGE, f"{exc.filename}: {exc.strerror or 'already exists'}"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return EXIT_API_ERROR, f"{where}{exc.strerror or exc}"
    if isinstance(exc, ValueError | TypeError):
        return EXIT_USAGE, str(exc) or type(exc).__name__
    return EXIT_API_ERROR, f"unexpected {type(exc).__name__}: {exc}"


def report_error(exc: BaseException, *, json_mode: bool) -> int:
    """Print ``exc`` as one line on stderr and return its exit code."""
    code, message = _classify(exc)
    status = exc.status_code if isinstance(exc, ApiError) else None
    about: dict[str, str] = {}
    if isinstance(exc, _Interrupted | ExecutionTimeoutError):
        about["executionId"] = exc.execution_id
    if isinstance(exc, _Interrupted | _WaitTimeout) and exc.hint:
        about["hint"] = exc.hint
    from ._output import default_output

    with suppress(OSError, ValueError):
        default_output(json_mode).error(
            message, kind=public_name(type(exc)), exit_code=code, status=status, about=about
        )
    return code
