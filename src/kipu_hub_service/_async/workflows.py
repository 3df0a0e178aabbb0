"""The run-to-completion workflows of ``service_api``: wait, run, download all, follow logs.

They use only the public ``service_api`` methods of the object they are given
(``AsyncOperations``); the rules (terminal statuses, file names, argument checks) are in
``_results``; ids are checked as every method checks them (``_requests.check_segment``).
The documentation is on the ``ServiceApi`` methods that call these.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from qhub_service_gen.models import LogEntry, ResultResponse, ServiceExecution
from qhub_service_gen.models import ServiceExecutionStatus as Status

from .._backend import AsyncBackend, AsyncJob
from .._folder import Folder, InFolder
from .._requests import check_segment, with_secrets_and_tags
from .._results import (
    START_GRACE,
    AsyncOnStatus,
    OnFile,
    check_intervals,
    is_terminal,
    next_interval,
    plan_downloads,
    rounds,
)
from ..core.api_error import (
    APIStatusError,
    ExecutionFailedError,
    ExecutionTimeoutError,
    NotFoundError,
)
from ..core.request_options import RequestOptions


class AsyncOperations(Protocol):
    """The ``service_api`` methods the workflows use (``AsyncServiceApi`` has them all)."""

    async def start_execution(
        self, *, request: Mapping[str, Any], request_options: RequestOptions | None = None
    ) -> ServiceExecution:
        """``service_api.start_execution``."""
        ...

    async def get_status(
        self, id: str, *, request_options: RequestOptions | None = None
    ) -> ServiceExecution:
        """``service_api.get_status``."""
        ...

    async def get_result(
        self, id: str, *, request_options: RequestOptions | None = None
    ) -> ResultResponse:
        """``service_api.get_result``."""
        ...

    async def get_logs(
        self, id: str, *, request_options: RequestOptions | None = None
    ) -> list[LogEntry] | None:
        """``service_api.get_logs``."""
        ...

    async def download_result_file(
        self,
        id: str,
        file: str,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = True,
        request_options: RequestOptions | None = None,
    ) -> Path:
        """``service_api.download_result_file``."""
        ...


async def wait_for_completion(
    api: AsyncOperations,
    id: str,
    *,
    timeout: float | None,  # noqa: ASYNC109 (the deadline is the backend's)
    poll_interval: float,
    max_poll_interval: float,
    on_status: AsyncOnStatus | None,
    request_options: RequestOptions | None,
    last: ServiceExecution | None = None,
) -> ServiceExecution:
    """Poll ``get_status`` until a terminal status; ``last`` is a snapshot already reported."""
    check_segment(id, "id")
    check_intervals(timeout, poll_interval, max_poll_interval)
    interval = poll_interval
    seen = last
    deadline = AsyncBackend.deadline(timeout)
    grace_ends = time.monotonic() + START_GRACE
    polled = False
    try:
        async with deadline:
            while True:
                try:
                    execution = await api.get_status(id, request_options=request_options)
                except NotFoundError:
                    if polled or time.monotonic() > grace_ends:
                        raise
                    await AsyncBackend.sleep(deadline.clamp(poll_interval))
                    continue  # not registered yet (qhub-serve registers it after its 201)
                polled = True
                if seen is None or execution.status != seen.status:
                    if seen is not None:
                        interval = poll_interval
                    if on_status is not None:
                        await AsyncBackend.maybe_await(on_status(execution))
                seen = execution
                if is_terminal(execution.status):
                    return execution
                await AsyncBackend.sleep(deadline.clamp(interval))
                interval = next_interval(interval, max_poll_interval)
    except TimeoutError:
        if timeout is not None and deadline.expired():
            raise ExecutionTimeoutError(id, timeout, seen) from None
        raise


async def run(
    api: AsyncOperations,
    *,
    request: Mapping[str, Any] | Any,
    timeout: float | None,  # noqa: ASYNC109 (the deadline is the backend's)
    poll_interval: float,
    max_poll_interval: float,
    on_status: AsyncOnStatus | None,
    raise_on_failure: bool,
    request_options: RequestOptions | None,
    secrets: Mapping[str, Any] | None = None,
    tags: Sequence[str] | None = None,
) -> ResultResponse:
    """Start an execution, wait for it, return (or raise for) its result."""
    check_intervals(timeout, poll_interval, max_poll_interval)
    request = with_secrets_and_tags(request, secrets, tags)
    execution = await api.start_execution(request=request, request_options=request_options)
    if on_status is not None:
        await AsyncBackend.maybe_await(on_status(execution))
    if not is_terminal(execution.status):
        execution = await wait_for_completion(
            api,
            execution.id,
            timeout=timeout,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            on_status=on_status,
            request_options=request_options,
            last=execution,
        )
    if execution.status == Status.SUCCEEDED or not raise_on_failure:
        return await api.get_result(execution.id, request_options=request_options)
    try:
        result: ResultResponse | None = await api.get_result(
            execution.id, request_options=request_options
        )
    except APIStatusError:
        result = None
    raise ExecutionFailedError(execution, result)


async def download_all_result_files(
    api: AsyncOperations,
    id: str,
    directory: str | os.PathLike[str],
    *,
    overwrite: bool,
    on_file: OnFile | None,
    request_options: RequestOptions | None,
    max_concurrency: int = 1,
) -> list[Path]:
    """Every result file into ``directory``: files already there are checked first (without
    ``overwrite``), then the rest are downloaded, ``max_concurrency`` at a time."""
    check_segment(id, "id")
    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
        raise TypeError(f"max_concurrency must be an int, got {type(max_concurrency).__name__}")
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency!r}")
    result = await api.get_result(id, request_options=request_options)
    plan = plan_downloads(result, directory)
    paths: dict[str, Path] = {}

    def job(folder: Folder, name: str) -> AsyncJob:
        async def fetch() -> None:
            paths[name] = await api.download_result_file(
                id,
                name,
                InFolder(folder, name),
                overwrite=overwrite,
                request_options=request_options,
            )
            if on_file is not None:
                on_file(name, paths[name])

        return fetch

    with Folder.open(directory, follows=False) as folder:  # every file through one descriptor
        for batch in rounds(plan, overwrite):
            await AsyncBackend.gather([job(folder, name) for name, _ in batch], max_concurrency)
    return [paths[name] for name, _ in plan]


def follow_logs(
    api: AsyncOperations, id: str, poll_interval: float, request_options: RequestOptions | None
) -> AsyncIterator[LogEntry]:
    """The arguments are checked now; the iterator polls once iteration starts."""
    check_segment(id, "id")
    check_intervals(None, poll_interval, poll_interval)
    return _follow(api, id, poll_interval, request_options)


async def _follow(
    api: AsyncOperations, id: str, poll_interval: float, request_options: RequestOptions | None
) -> AsyncIterator[LogEntry]:
    seen = 0
    while True:
        execution = await api.get_status(id, request_options=request_options)
        entries = await api.get_logs(id, request_options=request_options) or []
        for entry in entries[seen:]:
            yield entry
        seen = max(seen, len(entries))
        if is_terminal(execution.status):
            return
        await AsyncBackend.sleep(poll_interval)
