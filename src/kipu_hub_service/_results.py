"""The rules of the run/wait/download workflows, without I/O.

Terminal statuses, the failure reason of a result envelope, the result files an envelope links
to (each checked to be one plain file name that can be saved), the order downloads run in, and
the checks of the workflows' arguments. The I/O is ``_async/workflows.py``.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from qhub_service_gen.models import ResultResponse, ServiceExecution, ServiceExecutionStatus
from qhub_service_gen.models.service_execution import TERMINAL_STATUSES as TERMINAL_STATUSES
from qhub_service_gen.types import (
    RESULT_FILE_NAME_MAX_BYTES,
    UnsafeFileNameError,
    file_name_problem,
)

from .core._failure import failure_reason as failure_reason
from .core._file_name_error import UnsafeResultFileNameError

# TERMINAL_STATUSES (statuses after which an execution never changes again) is re-exported from
# the generated model, where ``ServiceExecution.is_terminal`` reads it: one list for both.

START_GRACE = 2.0
"""Seconds from the start of a wait in which ``404 Not Found`` on a status poll, before any
poll has found the execution, means "not registered yet" and is polled again: the vendor's
local runtime (qhub-serve) registers an execution only after answering its 201."""

BACKOFF_FACTOR = 1.5
"""Growth of the pause between polls, per poll."""

OnStatus = Callable[[ServiceExecution], object]
"""Progress callback of the sync workflows: called with each newly observed status."""
AsyncOnStatus = Callable[[ServiceExecution], "Awaitable[object] | object"]
"""Progress callback of the async workflows: a plain function or a coroutine function."""
OnFile = Callable[[str, Path], object]
"""Called with ``(file name, written path)`` after each result file is complete."""


def is_terminal(status: ServiceExecutionStatus | str) -> bool:
    """Whether ``status`` is one after which an execution never changes again."""
    return status in TERMINAL_STATUSES


def check_intervals(timeout: float | None, poll_interval: float, max_poll_interval: float) -> None:
    """Refuse a negative timeout, a pause that is not positive, or a longest pause shorter than
    the first."""
    if timeout is not None and timeout < 0:
        raise ValueError(f"timeout must be >= 0 or None, got {timeout!r}")
    if not poll_interval > 0:
        raise ValueError(f"poll_interval must be > 0, got {poll_interval!r}")
    if not max_poll_interval >= poll_interval:
        raise ValueError(
            f"max_poll_interval ({max_poll_interval!r}) must be >= poll_interval "
            f"({poll_interval!r})"
        )


MAX_FILE_NAME_BYTES = RESULT_FILE_NAME_MAX_BYTES
"""Longest result file name (UTF-8 bytes) that can be downloaded: file systems allow 255
bytes, and the download's temp file ``.<name>.part.json`` needs the rest."""


def safe_file_name(name: str) -> str:
    """``name`` when it is one plain file name that can be saved (the rule of
    ``qhub_service_gen.types.file_name_problem``); else :class:`UnsafeResultFileNameError`."""
    reason = file_name_problem(name)
    if reason is not None:
        raise UnsafeResultFileNameError(name, reason)
    return name


def result_file_names(result: ResultResponse) -> list[str]:
    """Names of the result files an envelope links to: ``result.files``, the one rule (every
    ``_links`` key but ``status`` and ``self``).

    Raises :class:`UnsafeResultFileNameError` if any name is not one plain file name, is too
    long to save (over :data:`MAX_FILE_NAME_BYTES` bytes of UTF-8), or is the temp file name
    of another file in the list (the rule of ``qhub_service_gen.types.check_result_file_names``).
    """
    try:
        return result.files
    except UnsafeFileNameError as exc:
        raise UnsafeResultFileNameError(exc.name, exc.reason) from None


def plan_files(result: ResultResponse, directory: str | os.PathLike[str]) -> list[tuple[str, Path]]:
    """Each result file with its path in ``directory`` (created); names checked first. For a
    caller that saves through a ``Folder`` opened without following links (a sweep), where a
    link at any of the names is refused anyway."""
    target = Path(directory)
    plan = [(name, target / name) for name in result_file_names(result)]
    target.mkdir(parents=True, exist_ok=True)
    return plan


def plan_downloads(
    result: ResultResponse, directory: str | os.PathLike[str]
) -> list[tuple[str, Path]]:
    """``plan_files``, refusing first a link at a name that leads out of ``directory``."""
    plan = plan_files(result, directory)
    target = Path(directory)
    for _, path in plan:
        check_inside(path, target)
    return plan


def check_inside(path: Path, directory: Path) -> None:
    """Refuse a symbolic link at ``path`` (dangling or not) that leads out of ``directory``:
    a download of all result files writes nothing outside the directory it was given."""
    if not path.is_symlink():
        return
    try:
        inside = path.resolve(strict=False).is_relative_to(directory.resolve(strict=True))
    except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
        inside = False
    if not inside:
        raise OSError(
            errno.EXDEV,
            "is a symbolic link that leads outside the download directory; refusing to write "
            "through it (remove it, or download this file with download_result_file)",
            str(path),
        )


def rounds(plan: list[tuple[str, Path]], overwrite: bool) -> list[list[tuple[str, Path]]]:
    """The downloads in rounds: without ``overwrite``, files already at their destination
    are checked first, so one that is not the server's file stops everything before any
    download starts."""
    if overwrite:
        return [plan]
    present = [(name, path) for name, path in plan if os.path.lexists(path)]
    return [present, [item for item in plan if item not in present]]


def next_interval(interval: float, max_poll_interval: float) -> float:
    """The pause after ``interval``: ``BACKOFF_FACTOR`` longer, at most ``max_poll_interval``."""
    return min(interval * BACKOFF_FACTOR, max_poll_interval)
