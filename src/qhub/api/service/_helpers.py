"""Run-to-completion helpers mixed into ``ServiceApi`` and ``AsyncServiceApi``.

The reference API leaves the polling loop, downloading every result file and tailing the
log to each user. These helpers do it once, correctly, using only the public
``service_api`` methods of the object they are mixed into.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from qhub_service_gen.models import (
    LogEntry,
    ResultResponse,
    ServiceExecution,
    ServiceExecutionStatus,
)
from qhub_service_gen.types import Unset

from ._download import TEMP_SUFFIX_BYTES
from .core.api_error import APIStatusError, ResponseValidationError
from .core.request_options import RequestOptions

__all__ = [
    "TERMINAL_STATUSES",
    "ExecutionFailedError",
    "ExecutionTimeoutError",
    "UnsafeResultFileNameError",
]

TERMINAL_STATUSES: frozenset[ServiceExecutionStatus] = frozenset(
    {
        ServiceExecutionStatus.SUCCEEDED,
        ServiceExecutionStatus.FAILED,
        ServiceExecutionStatus.CANCELLED,
    }
)
"""Statuses after which an execution never changes again."""

_BACKOFF_FACTOR = 1.5
_DEFAULT_DOWNLOAD_CONCURRENCY = 4

OnStatus = Callable[[ServiceExecution], object]
"""Progress callback of the sync helpers: called with each newly observed status."""
AsyncOnStatus = Callable[[ServiceExecution], "Awaitable[object] | object"]
"""Progress callback of the async helpers: a plain function or a coroutine function."""
OnFile = Callable[[str, Path], object]
"""Called with ``(file name, written path)`` after each result file is complete."""


class ExecutionTimeoutError(TimeoutError):
    """An execution did not reach a terminal state within the allowed time.

    The execution keeps running on the server: use :attr:`execution_id` to wait again,
    or cancel it with ``service_api.cancel_execution(error.execution_id)``.
    """

    def __init__(
        self, execution_id: str, timeout: float, last_execution: ServiceExecution | None
    ) -> None:
        self.execution_id = execution_id
        """Id of the execution that was being waited for."""
        self.timeout = timeout
        """The timeout in seconds that expired."""
        self.last_execution = last_execution
        """The last status snapshot read, ``None`` if no poll completed."""
        seen = f"last status {self.last_status}" if self.last_status else "no status read"
        super().__init__(f"execution {execution_id} did not finish within {timeout:g} s ({seen})")

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle support: rebuild from the constructor arguments, keep any later state."""
        return (
            type(self),
            (self.execution_id, self.timeout, self.last_execution),
            self.__dict__,
        )

    @property
    def last_status(self) -> ServiceExecutionStatus | None:
        """The last status observed before the timeout, ``None`` if none was read."""
        return None if self.last_execution is None else self.last_execution.status


class ExecutionFailedError(Exception):
    """``run`` finished with an execution that ``FAILED`` or was ``CANCELLED``.

    Carries everything known about the outcome, so no further request is needed to
    report it. Pass ``raise_on_failure=False`` to ``run`` to get the result envelope
    back instead.
    """

    def __init__(self, execution: ServiceExecution, result: ResultResponse | None) -> None:
        self.execution = execution
        """The final status snapshot of the execution."""
        self.result = result
        """The execution's result envelope, ``None`` if the gateway served none."""
        message = f"execution {execution.id} ended {execution.status}"
        reason = self.reason
        super().__init__(message if reason is None else f"{message}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle support: rebuild from the constructor arguments, keep any later state."""
        return (type(self), (self.execution, self.result), self.__dict__)

    @property
    def execution_id(self) -> str:
        """Id of the execution."""
        return self.execution.id

    @property
    def status(self) -> ServiceExecutionStatus:
        """The terminal status: ``FAILED`` or ``CANCELLED``."""
        return self.execution.status

    @property
    def reason(self) -> str | None:
        """The server's reason for the failure, ``None`` if the result carries none.

        Read from the result's ``error`` field (or ``output.error``): a string, or an object
        with a ``message`` (and an optional ``code``), as one line of at most 500 characters.
        """
        return _failure_reason(self.result)


_REASON_LIMIT = 500


def _failure_reason(result: ResultResponse | None) -> str | None:
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


class UnsafeResultFileNameError(ResponseValidationError, ValueError):
    """The gateway named a result file in a way that is not one plain file name.

    Raised before anything is written, so a hostile or broken gateway can never make
    ``download_all_result_files`` write outside the target directory. It is both an
    ``ApiError`` (the gateway's answer is unusable) and a ``ValueError``.
    """

    def __init__(self, name: str, reason: str = "is not a single plain file name") -> None:
        self.name = name
        """The rejected name, as the gateway sent it."""
        self.reason = reason
        """Why the name was rejected."""
        shown = repr(name if len(name) <= 60 else name[:50] + "...")
        super().__init__(
            f"the result links a file named {shown}, which {reason}; refusing to write it",
            body=name,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle support: rebuild from the constructor arguments, keep any later state."""
        return (type(self), (self.name, self.reason), self.__dict__)


def is_terminal(status: ServiceExecutionStatus | str) -> bool:
    """Whether ``status`` is one after which an execution never changes again."""
    return status in TERMINAL_STATUSES


def _check_intervals(timeout: float | None, poll_interval: float, max_poll_interval: float) -> None:
    if timeout is not None and timeout < 0:
        raise ValueError(f"timeout must be >= 0 or None, got {timeout!r}")
    if not poll_interval > 0:
        raise ValueError(f"poll_interval must be > 0, got {poll_interval!r}")
    if not max_poll_interval >= poll_interval:
        raise ValueError(
            f"max_poll_interval ({max_poll_interval!r}) must be >= poll_interval "
            f"({poll_interval!r})"
        )


def _check_id(id: str) -> None:
    if not isinstance(id, str) or not id:
        raise ValueError("an execution id must be a non-empty string")


MAX_FILE_NAME_BYTES = 255 - TEMP_SUFFIX_BYTES
"""Longest result file name (UTF-8 bytes) that can be downloaded: file systems allow 255
bytes, and the download's temp file ``.<name>.part.json`` needs the rest."""


def _safe_file_name(name: str) -> str:
    bad = (
        not name
        or name in {".", ".."}
        or "/" in name
        or "\\" in name
        or (os.sep in name)
        or (os.altsep is not None and os.altsep in name)
        or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name)
    )
    if bad:
        raise UnsafeResultFileNameError(name)
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise UnsafeResultFileNameError(name, "is not valid Unicode text") from None
    if size > MAX_FILE_NAME_BYTES:
        raise UnsafeResultFileNameError(
            name,
            f"is {size} bytes long (at most {MAX_FILE_NAME_BYTES} can be saved)",
        )
    return name


def _check_temp_collisions(names: list[str]) -> None:
    """Refuse a name that is another file's temp name: the two downloads would overwrite
    each other (``a`` is written as ``.a.part`` plus ``.a.part.json``)."""
    temps = {}
    for name in names:
        temps[f".{name}.part"] = name
        temps[f".{name}.part.json"] = name
    for name in names:
        owner = temps.get(name)
        if owner is not None:
            raise UnsafeResultFileNameError(
                name, f"is the name of the temp file that downloading {owner!r} writes"
            )


def result_file_names(result: ResultResponse) -> list[str]:
    """Names of the result files an envelope links to: every ``_links`` key but ``status``.

    Raises :class:`UnsafeResultFileNameError` if any name is not one plain file name, is too
    long to save (over :data:`MAX_FILE_NAME_BYTES` bytes of UTF-8), or is the temp file name
    of another file in the list.
    """
    links = result.links
    if isinstance(links, Unset) or links is None:
        return []
    names = [_safe_file_name(name) for name in links.additional_properties if name != "status"]
    _check_temp_collisions(names)
    return names


def _plan_downloads(
    result: ResultResponse, directory: str | os.PathLike[str]
) -> list[tuple[str, Path]]:
    target = Path(directory)
    plan = [(name, target / name) for name in result_file_names(result)]
    target.mkdir(parents=True, exist_ok=True)
    return plan


def _rounds(plan: list[tuple[str, Path]], overwrite: bool) -> list[list[tuple[str, Path]]]:
    """The downloads in rounds: without ``overwrite``, files already at their destination
    are checked first, so one that is not the server's file stops everything before any
    download starts."""
    if overwrite:
        return [plan]
    present = [(name, path) for name, path in plan if os.path.lexists(path)]
    return [present, [item for item in plan if item not in present]]


def _next_interval(interval: float, max_poll_interval: float) -> float:
    return min(interval * _BACKOFF_FACTOR, max_poll_interval)


# Structural types of the public methods the helpers call on ``self``.


class _SyncCalls(Protocol):
    def start_execution(
        self, *, request: Any, request_options: RequestOptions | None = ...
    ) -> ServiceExecution: ...

    def get_status(
        self, id: str, /, *, request_options: RequestOptions | None = ...
    ) -> ServiceExecution: ...

    def get_result(
        self, id: str, /, *, request_options: RequestOptions | None = ...
    ) -> ResultResponse: ...

    def get_logs(
        self, id: str, /, *, request_options: RequestOptions | None = ...
    ) -> list[LogEntry] | None: ...

    def download_result_file(
        self,
        id: str,
        file: str,
        path: Any,
        /,
        *,
        overwrite: bool = ...,
        request_options: RequestOptions | None = ...,
    ) -> Path: ...


class _AsyncCalls(Protocol):
    async def start_execution(
        self, *, request: Any, request_options: RequestOptions | None = ...
    ) -> ServiceExecution: ...

    async def get_status(
        self, id: str, /, *, request_options: RequestOptions | None = ...
    ) -> ServiceExecution: ...

    async def get_result(
        self, id: str, /, *, request_options: RequestOptions | None = ...
    ) -> ResultResponse: ...

    async def get_logs(
        self, id: str, /, *, request_options: RequestOptions | None = ...
    ) -> list[LogEntry] | None: ...

    async def download_result_file(
        self,
        id: str,
        file: str,
        path: Any,
        /,
        *,
        overwrite: bool = ...,
        request_options: RequestOptions | None = ...,
    ) -> Path: ...


# Sync implementation.


def _wait_sync(
    api: _SyncCalls,
    id: str,
    *,
    timeout: float | None,
    poll_interval: float,
    max_poll_interval: float,
    on_status: OnStatus | None,
    request_options: RequestOptions | None,
    last: ServiceExecution | None = None,
) -> ServiceExecution:
    _check_id(id)
    _check_intervals(timeout, poll_interval, max_poll_interval)
    deadline = None if timeout is None else time.monotonic() + timeout
    interval = poll_interval
    while True:
        execution = api.get_status(id, request_options=request_options)
        if last is None or execution.status != last.status:
            if last is not None:
                interval = poll_interval
            if on_status is not None:
                on_status(execution)
        last = execution
        if is_terminal(execution.status):
            return execution
        delay = interval
        if deadline is not None and timeout is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ExecutionTimeoutError(id, timeout, last)
            delay = min(delay, remaining)
        time.sleep(delay)
        interval = _next_interval(interval, max_poll_interval)


class _SyncHelpers:
    """Run-to-completion helpers of :class:`ServiceApi`."""

    def wait_for_completion(
        self: _SyncCalls,
        id: str,
        *,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        max_poll_interval: float = 10.0,
        on_status: OnStatus | None = None,
        request_options: RequestOptions | None = None,
    ) -> ServiceExecution:
        """Poll ``get_status`` until the execution is SUCCEEDED, FAILED or CANCELLED.

        The first poll happens at once; the pause between polls starts at
        ``poll_interval`` seconds and grows 1.5x per poll up to ``max_poll_interval``,
        falling back to ``poll_interval`` whenever the status changes.

        Args:
            id: The execution id.
            timeout: Overall limit in seconds; ``None`` waits forever. When it expires
                :class:`ExecutionTimeoutError` (a ``TimeoutError``) is raised; the
                execution itself keeps running. The limit is checked between polls: a
                poll already in flight finishes first, and it includes its retries, so
                it can overrun by up to the retry budget plus one request timeout
                (``request_options={"max_retries": 0}`` narrows that to one request).
            poll_interval: First pause between polls, in seconds.
            max_poll_interval: Longest pause between polls, in seconds.
            on_status: Called with the execution snapshot on the first poll and on each
                status change; an exception it raises stops the wait and propagates.
            request_options: Passed to every ``get_status`` call.

        Returns:
            The final :class:`ServiceExecution`. A FAILED or CANCELLED execution is
            returned, not raised: inspect ``.status``.
        """
        return _wait_sync(
            self,
            id,
            timeout=timeout,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            on_status=on_status,
            request_options=request_options,
        )

    def run(
        self: _SyncCalls,
        *,
        request: Mapping[str, Any] | Any,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        max_poll_interval: float = 10.0,
        on_status: OnStatus | None = None,
        raise_on_failure: bool = True,
        request_options: RequestOptions | None = None,
    ) -> ResultResponse:
        """Start an execution, wait for it to finish and return its result.

        ``start_execution`` + ``wait_for_completion`` + ``get_result`` in one call.

        Args:
            request: The request body, as for ``start_execution``.
            timeout: Limit in seconds for the waiting; see ``wait_for_completion``.
                On expiry :class:`ExecutionTimeoutError` carries the execution id, so
                the caller can wait again or cancel.
            poll_interval: First pause between polls, in seconds.
            max_poll_interval: Longest pause between polls, in seconds.
            on_status: Called with the started execution and on each status change.
            raise_on_failure: When true (the default) an execution that ends FAILED or
                CANCELLED raises :class:`ExecutionFailedError`, which carries the final
                execution and, when the gateway serves one, its result envelope. When
                false the result envelope is returned whatever the outcome; check
                ``result.embedded.status.status``.
            request_options: Passed to every request made.

        Returns:
            The :class:`ResultResponse` of the succeeded execution.
        """
        _check_intervals(timeout, poll_interval, max_poll_interval)
        execution = self.start_execution(request=request, request_options=request_options)
        if on_status is not None:
            on_status(execution)
        if not is_terminal(execution.status):
            execution = _wait_sync(
                self,
                execution.id,
                timeout=timeout,
                poll_interval=poll_interval,
                max_poll_interval=max_poll_interval,
                on_status=on_status,
                request_options=request_options,
                last=execution,
            )
        if execution.status == ServiceExecutionStatus.SUCCEEDED or not raise_on_failure:
            return self.get_result(execution.id, request_options=request_options)
        try:
            result: ResultResponse | None = self.get_result(
                execution.id, request_options=request_options
            )
        except APIStatusError:
            result = None
        raise ExecutionFailedError(execution, result)

    def download_all_result_files(
        self: _SyncCalls,
        id: str,
        directory: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        on_file: OnFile | None = None,
        request_options: RequestOptions | None = None,
    ) -> list[Path]:
        """Download every result file of an execution into ``directory``.

        The files are the keys of the result envelope's ``_links`` other than
        ``status``; each is saved under its own name. Every name is checked first: one
        that is not a single plain file name (empty, ``.``/``..``, path separators,
        control characters, too long, or another file's temp name) raises
        :class:`UnsafeResultFileNameError` before anything is written. Each file is
        written atomically.

        Calling it again after an interruption resumes: files already complete are kept
        without being fetched again, partial ones go on where they stopped, and the rest
        are downloaded (see ``download_result_file(..., overwrite=False)`` for how a
        file is recognised as complete).

        Args:
            id: The execution id.
            directory: Target directory, created if missing.
            overwrite: Download every file again and replace what exists. When false
                (the default) existing files are checked first, and one that is not the
                server's file raises ``FileExistsError`` before any download starts.
            on_file: Called with ``(name, path)`` after each file is complete (files that
                already were come first).
            request_options: Passed to every request made.

        Returns:
            The paths, in the order the envelope lists them.
        """
        _check_id(id)
        result = self.get_result(id, request_options=request_options)
        plan = _plan_downloads(result, directory)
        paths: dict[str, Path] = {}
        for batch in _rounds(plan, overwrite):
            for name, path in batch:
                paths[name] = self.download_result_file(
                    id, name, path, overwrite=overwrite, request_options=request_options
                )
                if on_file is not None:
                    on_file(name, paths[name])
        return [paths[name] for name, _ in plan]

    def follow_logs(
        self: _SyncCalls,
        id: str,
        *,
        poll_interval: float = 1.0,
        request_options: RequestOptions | None = None,
    ) -> Iterator[LogEntry]:
        """Yield an execution's log entries as they appear, until it has finished.

        Each round reads the status, then the log, and yields only entries not yielded
        before (the log is append-only, oldest first). Once a status read shows a
        terminal state, the log read after it is the last one, so no final entry is
        missed. Stop early by breaking out of the loop.

        Args:
            id: The execution id.
            poll_interval: Pause between rounds, in seconds.
            request_options: Passed to every request made.
        """
        _check_id(id)
        _check_intervals(None, poll_interval, poll_interval)
        return _follow_sync(self, id, poll_interval, request_options)


def _follow_sync(
    api: _SyncCalls, id: str, poll_interval: float, request_options: RequestOptions | None
) -> Iterator[LogEntry]:
    seen = 0
    while True:
        execution = api.get_status(id, request_options=request_options)
        entries = api.get_logs(id, request_options=request_options) or []
        yield from entries[seen:]
        seen = max(seen, len(entries))
        if is_terminal(execution.status):
            return
        time.sleep(poll_interval)


# Async implementation.


async def _notify(on_status: AsyncOnStatus | None, execution: ServiceExecution) -> None:
    if on_status is None:
        return
    outcome = on_status(execution)
    if inspect.isawaitable(outcome):
        await outcome


async def _wait_async(
    api: _AsyncCalls,
    id: str,
    *,
    timeout: float | None,  # noqa: ASYNC109 (same signature as the sync client)
    poll_interval: float,
    max_poll_interval: float,
    on_status: AsyncOnStatus | None,
    request_options: RequestOptions | None,
    last: ServiceExecution | None = None,
) -> ServiceExecution:
    import asyncio  # lazy: sync users never load asyncio

    _check_id(id)
    _check_intervals(timeout, poll_interval, max_poll_interval)
    interval = poll_interval
    seen = last
    scope = asyncio.timeout(timeout)
    try:
        async with scope:
            while True:
                execution = await api.get_status(id, request_options=request_options)
                if seen is None or execution.status != seen.status:
                    if seen is not None:
                        interval = poll_interval
                    await _notify(on_status, execution)
                seen = execution
                if is_terminal(execution.status):
                    return execution
                await asyncio.sleep(interval)
                interval = _next_interval(interval, max_poll_interval)
    except TimeoutError:
        if timeout is not None and scope.expired():
            raise ExecutionTimeoutError(id, timeout, seen) from None
        raise


class _AsyncHelpers:
    """Run-to-completion helpers of :class:`AsyncServiceApi` (native asyncio)."""

    async def wait_for_completion(
        self: _AsyncCalls,
        id: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (same signature as the sync client)
        poll_interval: float = 1.0,
        max_poll_interval: float = 10.0,
        on_status: AsyncOnStatus | None = None,
        request_options: RequestOptions | None = None,
    ) -> ServiceExecution:
        """Poll ``get_status`` until the execution is SUCCEEDED, FAILED or CANCELLED.

        The first poll happens at once; the pause between polls starts at
        ``poll_interval`` seconds and grows 1.5x per poll up to ``max_poll_interval``,
        falling back to ``poll_interval`` whenever the status changes.

        Args:
            id: The execution id.
            timeout: Overall limit in seconds, enforced with ``asyncio.timeout`` so it
                also cuts short a poll in flight; ``None`` waits forever. On expiry
                :class:`ExecutionTimeoutError` (a ``TimeoutError``) is raised; the
                execution itself keeps running.
            poll_interval: First pause between polls, in seconds.
            max_poll_interval: Longest pause between polls, in seconds.
            on_status: Called (and awaited, if it is a coroutine function) with the
                snapshot on the first poll and on each status change.
            request_options: Passed to every ``get_status`` call.

        Returns:
            The final :class:`ServiceExecution`. A FAILED or CANCELLED execution is
            returned, not raised: inspect ``.status``.
        """
        return await _wait_async(
            self,
            id,
            timeout=timeout,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            on_status=on_status,
            request_options=request_options,
        )

    async def run(
        self: _AsyncCalls,
        *,
        request: Mapping[str, Any] | Any,
        timeout: float | None = None,  # noqa: ASYNC109 (same signature as the sync client)
        poll_interval: float = 1.0,
        max_poll_interval: float = 10.0,
        on_status: AsyncOnStatus | None = None,
        raise_on_failure: bool = True,
        request_options: RequestOptions | None = None,
    ) -> ResultResponse:
        """Start an execution, wait for it to finish and return its result.

        ``start_execution`` + ``wait_for_completion`` + ``get_result`` in one call; the
        arguments mean the same as on the sync client's ``run``. A FAILED or CANCELLED
        execution raises :class:`ExecutionFailedError` unless ``raise_on_failure`` is
        false, in which case its result envelope is returned.
        """
        _check_intervals(timeout, poll_interval, max_poll_interval)
        execution = await self.start_execution(request=request, request_options=request_options)
        await _notify(on_status, execution)
        if not is_terminal(execution.status):
            execution = await _wait_async(
                self,
                execution.id,
                timeout=timeout,
                poll_interval=poll_interval,
                max_poll_interval=max_poll_interval,
                on_status=on_status,
                request_options=request_options,
                last=execution,
            )
        if execution.status == ServiceExecutionStatus.SUCCEEDED or not raise_on_failure:
            return await self.get_result(execution.id, request_options=request_options)
        try:
            result: ResultResponse | None = await self.get_result(
                execution.id, request_options=request_options
            )
        except APIStatusError:
            result = None
        raise ExecutionFailedError(execution, result)

    async def download_all_result_files(
        self: _AsyncCalls,
        id: str,
        directory: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        on_file: OnFile | None = None,
        max_concurrency: int = _DEFAULT_DOWNLOAD_CONCURRENCY,
        request_options: RequestOptions | None = None,
    ) -> list[Path]:
        """Download every result file of an execution into ``directory``, concurrently.

        Same contract as the sync client's ``download_all_result_files`` (including
        resuming when called again), with up to ``max_concurrency`` downloads in flight at
        once. If one download fails the others are cancelled and the first error is
        raised; files already complete stay in place and partial ones resume on the next
        call.

        Returns:
            The written paths, in the order the envelope lists them.
        """
        import asyncio  # lazy: sync users never load asyncio

        _check_id(id)
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency!r}")
        result = await self.get_result(id, request_options=request_options)
        plan = _plan_downloads(result, directory)
        gate = asyncio.Semaphore(max_concurrency)
        paths: dict[str, Path] = {}

        async def fetch(name: str, path: Path) -> None:
            async with gate:
                paths[name] = await self.download_result_file(
                    id, name, path, overwrite=overwrite, request_options=request_options
                )
            if on_file is not None:
                on_file(name, paths[name])

        for batch in _rounds(plan, overwrite):
            tasks = [asyncio.ensure_future(fetch(name, path)) for name, path in batch]
            if not tasks:
                continue
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
                for task in tasks:
                    error = task.exception() if task in done else None
                    if error is not None:
                        raise error
            finally:
                pending = [task for task in tasks if not task.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    await asyncio.gather(*pending, return_exceptions=True)
        return [paths[name] for name, _ in plan]

    def follow_logs(
        self: _AsyncCalls,
        id: str,
        *,
        poll_interval: float = 1.0,
        request_options: RequestOptions | None = None,
    ) -> AsyncIterator[LogEntry]:
        """Yield an execution's log entries as they appear, until it has finished.

        An async iterator (use ``async for``, no ``await``). Each round reads the
        status, then the log, and yields only entries not yielded before; once a status
        read shows a terminal state, the log read after it is the last one.

        Args:
            id: The execution id.
            poll_interval: Pause between rounds, in seconds.
            request_options: Passed to every request made.
        """
        _check_id(id)
        _check_intervals(None, poll_interval, poll_interval)
        return _follow_async(self, id, poll_interval, request_options)


async def _follow_async(
    api: _AsyncCalls, id: str, poll_interval: float, request_options: RequestOptions | None
) -> AsyncIterator[LogEntry]:
    import asyncio  # lazy: sync users never load asyncio

    seen = 0
    while True:
        execution = await api.get_status(id, request_options=request_options)
        entries = await api.get_logs(id, request_options=request_options) or []
        for entry in entries[seen:]:
            yield entry
        seen = max(seen, len(entries))
        if is_terminal(execution.status):
            return
        await asyncio.sleep(poll_interval)
