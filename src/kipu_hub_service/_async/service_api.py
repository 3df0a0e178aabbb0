"""``client.service_api``: the gateway's operations and the run-to-completion workflows.

Each operation names the generated request builder and the parser and hands both to the request
loop (``_funnel.py``). Downloads and workflows are imported on first use; the workflows check
``request_options`` once, before their first request.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

import httpx

from .._calls import CallOptions
from .._requests import LazyModule, check_segment, request_body
from .._secrets import secret_strings
from ..core.api_error import ExecutionFailedError
from ..core.request_options import RequestOptions
from ._funnel import AsyncFunnel

if TYPE_CHECKING:
    from qhub_service_gen.api.service_api import cancel_execution as _cancel_execution
    from qhub_service_gen.api.service_api import get_logs as _get_logs
    from qhub_service_gen.api.service_api import get_result as _get_result
    from qhub_service_gen.api.service_api import get_result_file as _get_result_file
    from qhub_service_gen.api.service_api import (
        get_service_executions as _get_service_executions,
    )
    from qhub_service_gen.api.service_api import get_status as _get_status
    from qhub_service_gen.api.service_api import start_execution as _start_execution
    from qhub_service_gen.models import LogEntry, ResultResponse, ServiceExecution

    from .. import _parse
    from .._results import AsyncOnStatus, OnFile
    from .._sweep_rules import SweepOptions
    from .sweep import AsyncSweep
else:  # the generated builders and models, and the parsers, load on the first call
    _GENERATED = "qhub_service_gen.api.service_api."
    _cancel_execution = LazyModule(_GENERATED + "cancel_execution")
    _get_logs = LazyModule(_GENERATED + "get_logs")
    _get_result = LazyModule(_GENERATED + "get_result")
    _get_result_file = LazyModule(_GENERATED + "get_result_file")
    _get_service_executions = LazyModule(_GENERATED + "get_service_executions")
    _get_status = LazyModule(_GENERATED + "get_status")
    _start_execution = LazyModule(_GENERATED + "start_execution")
    _parse = LazyModule("kipu_hub_service._parse")


class AsyncServiceApi:
    """The gateway's operations (``client.service_api``).

    Every method accepts ``request_options`` (see :class:`RequestOptions`) overriding the
    client's timeout, retries and headers for that call. Errors are :class:`ApiError`
    subclasses; an ``id`` or ``file`` that is empty raises ``ValueError`` before anything is
    sent. On the async client the methods are coroutines, and ``get_result_file`` and
    ``follow_logs`` return async iterators directly (used without ``await``).
    """

    def __init__(self, funnel: AsyncFunnel) -> None:
        self._funnel = funnel

    async def get_service_executions(
        self, *, request_options: RequestOptions | None = None
    ) -> list[ServiceExecution]:
        """List every execution started through this gateway."""
        kwargs = _get_service_executions.request_kwargs()
        return await self._funnel.call(kwargs, request_options, _parse.parse_executions)

    async def _execution_states(self, request_options: RequestOptions | None) -> dict[str, str]:
        """``get_service_executions`` read as ``id`` -> ``status`` only (a sweep's poller)."""
        kwargs = _get_service_executions.request_kwargs()
        return await self._funnel.call(kwargs, request_options, _parse.parse_execution_states)

    async def start_execution(
        self, *, request: Mapping[str, Any], request_options: RequestOptions | None = None
    ) -> ServiceExecution:
        """Start an execution; ``request`` is the JSON body (``input``, ``inputDataRefs``, ...).

        Sends a fresh ``Idempotency-Key``, the same on every retry of this call, so a retry
        after a lost response cannot start a second execution.
        """
        import uuid

        return await self._start(request, str(uuid.uuid4()), request_options)

    async def _start(
        self, request: Mapping[str, Any], key: str, request_options: RequestOptions | None
    ) -> ServiceExecution:
        """``start_execution`` with ``key`` as its ``Idempotency-Key`` (a sweep's, from its
        journal)."""
        kwargs = _start_execution.request_kwargs(body=request_body(request), idempotency_key=key)
        return await self._funnel.call(kwargs, request_options, _parse.parse_execution)

    async def get_status(
        self, id: str, *, request_options: RequestOptions | None = None
    ) -> ServiceExecution:
        """A snapshot of one execution's lifecycle state."""
        kwargs = _get_status.request_kwargs(check_segment(id, "id"))
        return await self._funnel.call(kwargs, request_options, _parse.parse_execution)

    async def get_result(
        self, id: str, *, request_options: RequestOptions | None = None
    ) -> ResultResponse:
        """The HAL result envelope: ``.links``, ``.embedded``, other keys as ``result[key]``."""
        kwargs = _get_result.request_kwargs(check_segment(id, "id"))
        return await self._funnel.call(kwargs, request_options, _parse.parse_result)

    def get_result_file(
        self, id: str, file: str, *, request_options: RequestOptions | None = None
    ) -> AsyncIterator[bytes]:
        """Stream one result file; the request is sent when iteration starts.

        ``request_options["chunk_size"]`` fixes the chunk size; by default chunks are yielded
        as they arrive. On the async client stop early with ``contextlib.aclosing``.
        """
        from .stream import stream_result_file

        request, opts = self._file_request(id, file, request_options)
        return stream_result_file(self._funnel, request, opts)

    def _file_request(
        self, id: str, file: str, options: RequestOptions | None
    ) -> tuple[httpx.Request, CallOptions]:
        """The request of ``getResultFile`` and the call's options, checked when the method is
        called (the request is sent later)."""
        kwargs = _get_result_file.request_kwargs(
            check_segment(id, "id"), check_segment(file, "file")
        )
        opts = self._funnel.options(options)
        return self._funnel.build(kwargs, opts, json_call=False), opts

    async def get_logs(
        self, id: str, *, request_options: RequestOptions | None = None
    ) -> list[LogEntry] | None:
        """Log entries, oldest first; None while the execution has emitted none."""
        kwargs = _get_logs.request_kwargs(check_segment(id, "id"))
        return await self._funnel.call(kwargs, request_options, _parse.parse_logs)

    async def cancel_execution(
        self, id: str, *, request_options: RequestOptions | None = None
    ) -> None:
        """Ask the gateway to cancel a pending or running execution."""
        kwargs = _cancel_execution.request_kwargs(check_segment(id, "id"))
        await self._funnel.call(kwargs, request_options, _parse.ignore_body)

    async def download_result_file(
        self,
        id: str,
        file: str,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = True,
        on_progress: Callable[[int, int | None], object] | None = None,
        request_options: RequestOptions | None = None,
    ) -> Path:
        """Download one result file to ``path``: atomic (temp file, then rename), resumes a
        partial file left by an earlier attempt, verifies the size; returns ``path``.

        ``on_progress(written, total)`` is a plain function, called as bytes are written
        (``total`` is None while unknown). ``overwrite=False`` never writes an existing
        ``path``: it is kept when it is the server's whole file (one bodiless check for a file
        this download wrote, a byte comparison for any other) and ``FileExistsError`` is
        raised otherwise."""
        return await self._save_result_file(id, file, path, request_options, overwrite, on_progress)

    async def _save_result_file(
        self,
        id: str,
        file: str,
        path: str | os.PathLike[str],
        request_options: RequestOptions | None,
        overwrite: bool = False,
        on_progress: Callable[[int, int | None], object] | None = None,
        *,
        vouch: bool = True,
    ) -> Path:
        """``download_result_file``; ``vouch=False`` for a caller that records finished files
        itself (a sweep's journal): no record is left next to a file kept with
        ``overwrite=False``."""
        from .download import download_result_file

        request, opts = self._file_request(id, file, request_options)
        return await download_result_file(
            self._funnel,
            request,
            opts,
            path,
            overwrite=overwrite,
            on_progress=on_progress,
            vouch=vouch,
        )

    async def wait_for_completion(
        self,
        id: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (same signature on both clients)
        poll_interval: float = 1.0,
        max_poll_interval: float = 10.0,
        on_status: AsyncOnStatus | None = None,
        request_options: RequestOptions | None = None,
    ) -> ServiceExecution:
        """Poll ``get_status`` until the execution is SUCCEEDED, FAILED or CANCELLED.

        The first poll happens at once; the pause between polls starts at
        ``poll_interval`` seconds and grows 1.5x per poll up to ``max_poll_interval``,
        falling back to ``poll_interval`` whenever the status changes. A 404 before any poll
        has found the execution is polled again for up to 2 seconds (``START_GRACE``): the
        vendor's local runtime registers an execution only after answering its start.

        Args:
            id: The execution id.
            timeout: Overall limit in seconds; ``None`` waits forever. When it expires
                :class:`ExecutionTimeoutError` (a ``TimeoutError``) is raised; the
                execution itself keeps running. On the async client the limit is enforced
                with ``asyncio.timeout``, so it also cuts short a poll in flight. On the sync
                client it is checked between polls: a poll already in flight finishes
                first, and it includes its retries, so it can overrun by up to the retry
                budget plus one request timeout (``request_options={"max_retries": 0}``
                narrows that to one request).
            poll_interval: First pause between polls, in seconds.
            max_poll_interval: Longest pause between polls, in seconds.
            on_status: Called with the execution snapshot on the first poll and on each
                status change (on the async client a coroutine function is awaited); an
                exception it raises stops the wait and propagates.
            request_options: Passed to every ``get_status`` call.

        Returns:
            The final :class:`ServiceExecution`. A FAILED or CANCELLED execution is
            returned, not raised: inspect ``.status``.
        """
        from .workflows import wait_for_completion

        self._funnel.options(request_options)  # checked before the first request
        return await wait_for_completion(
            self,
            id,
            timeout=timeout,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            on_status=on_status,
            request_options=request_options,
        )

    async def run(
        self,
        *,
        request: Mapping[str, Any] | Any,
        timeout: float | None = None,  # noqa: ASYNC109 (same signature on both clients)
        poll_interval: float = 1.0,
        max_poll_interval: float = 10.0,
        on_status: AsyncOnStatus | None = None,
        raise_on_failure: bool = True,
        request_options: RequestOptions | None = None,
        secrets: Mapping[str, Any] | None = None,
        tags: Sequence[str] | None = None,
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
            secrets: Sent as the body key ``$secrets`` (as ``qhub-service``'s ``run`` does):
                values the service receives as secrets. The SDK never logs request bodies.
            tags: Sent as the body key ``$tags``: labels of the execution.

        Returns:
            The :class:`ResultResponse` of the succeeded execution.
        """
        from .workflows import run

        self._funnel.options(request_options)  # checked before the first request
        if isinstance(secrets, Mapping):
            self._funnel.config.auth.remember(secret_strings(secrets))
        try:
            return await run(
                self,
                request=request,
                timeout=timeout,
                poll_interval=poll_interval,
                max_poll_interval=max_poll_interval,
                on_status=on_status,
                raise_on_failure=raise_on_failure,
                request_options=request_options,
                secrets=secrets,
                tags=tags,
            )
        except ExecutionFailedError as failed:  # the server's text, without tokens or secrets
            redact = self._funnel.config.auth.redactor()
            raise ExecutionFailedError(failed.execution, failed.result, redact=redact) from None

    async def download_all_result_files(
        self,
        id: str,
        directory: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        on_file: OnFile | None = None,
        max_concurrency: int = 4,  # unasync: remove
        request_options: RequestOptions | None = None,
    ) -> list[Path]:
        """Download every result file of an execution into ``directory``.

        The files are the keys of the result envelope's ``_links`` other than ``status``
        and ``self``; each is saved under its own name. Every name is checked first: one
        that is not a single plain file name (empty, ``.``/``..``, path separators,
        control characters, too long, or another file's temp name) raises
        :class:`UnsafeResultFileNameError` before anything is written. Each file is
        written atomically.

        Calling it again after an interruption resumes: files already complete are kept
        without being fetched again, partial ones go on where they stopped, and the rest
        are downloaded (see ``download_result_file(..., overwrite=False)`` for how a
        file is recognised as complete).

        The sync client downloads one file at a time. The async client runs up to
        ``max_concurrency`` (default 4) downloads at once; if one fails the others are
        cancelled and the first error is raised (files already complete stay in place
        and partial ones resume on the next call).

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
        from ..core._file_name_error import UnsafeResultFileNameError
        from .workflows import download_all_result_files

        self._funnel.options(request_options)  # checked before the first request
        try:
            return await download_all_result_files(
                self,
                id,
                directory,
                overwrite=overwrite,
                on_file=on_file,
                request_options=request_options,
                max_concurrency=max_concurrency,  # unasync: remove
            )
        except UnsafeResultFileNameError as unsafe:  # the server's name, without tokens
            redact = self._funnel.config.auth.redactor()
            raise UnsafeResultFileNameError(unsafe.name, unsafe.reason, redact=redact) from None

    def follow_logs(
        self,
        id: str,
        *,
        poll_interval: float = 1.0,
        request_options: RequestOptions | None = None,
    ) -> AsyncIterator[LogEntry]:
        """Yield an execution's log entries as they appear, until it has finished.

        Each round reads the status, then the log, and yields only entries not yielded
        before (the log is append-only, oldest first). Once a status read shows a
        terminal state, the log read after it is the last one, so no final entry is
        missed. Stop early by breaking out of the loop. On the async client it is an
        async iterator, used without ``await``.

        Args:
            id: The execution id.
            poll_interval: Pause between rounds, in seconds.
            request_options: Passed to every request made.
        """
        from .workflows import follow_logs

        self._funnel.options(request_options)  # checked before the first request
        return follow_logs(self, id, poll_interval, request_options)

    def sweep(
        self, requests: Sequence[Mapping[str, Any]], **options: Unpack[SweepOptions]
    ) -> AsyncSweep:
        """Many executions as one job: a :class:`~kipu_hub_service.sweeps.AsyncSweep` that
        starts one execution per request body, watches them all with one loop and collects
        each result once. Options and guarantees: docs/sweeps.md."""
        from .sweep import AsyncSweep

        return AsyncSweep(self, requests, **options)

    def watch(self, ids: Sequence[str], **options: Unpack[SweepOptions]) -> AsyncSweep:
        """Wait for many existing executions with one loop: a sweep of ``ids`` (docs/sweeps.md)."""
        from .sweep import AsyncSweep

        return AsyncSweep(self, None, ids, **options)
