"""Streaming, resumable result-file downloads (the protocol is ``_resume``, the files ``_files``).

| name | what |
| --- | --- |
| `iter_result_file(client, request, ...)` | the bytes of one file, resumed after drops |
| `download_to_path(client, request, path, ...)` | atomic write; resumes a partial file |
| `stream_result_file(funnel, ...)` / `download_result_file(funnel, ...)` | the same for a
  ``ServiceApi`` call, with httpx failures mapped to ``ApiError`` |

``client`` is anything with ``send(request, stream=True)`` (an ``httpx.AsyncClient``, or the
funnel's ``streamer``). Both take ``chunk_size`` (bytes per chunk; None: as they arrive),
``raise_for_status`` (called with a non-2xx response; must raise), ``make_incomplete_error(
delivered, expected)``, ``max_resumes`` (resumes in a row that may bring no byte past the
furthest one reached so far; default 5) and ``retry_policy`` (the wait between resumes).
Every exception leaving a download has the credentials stripped from the requests it refers to.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import httpx

from .._backend import AsyncBackend
from .._bodies import BoundedDecoder, UnsupportedEncoding, encoding_of, limit_error
from .._errors import scrub_credentials
from .._existing import (
    Comparison,
    Existing,
    Probe,
    compare_state,
    existing_request,
    existing_verdict,
    find_existing,
    kept,
    open_existing,
)
from .._files import OnProgress, PartFile, check_progress, load_partial, url_key
from .._requests import DEFAULT_CHUNK_SIZE
from .._resume import (
    DROPS,
    Action,
    AsyncRaiseForStatus,
    MakeIncompleteError,
    Resume,
    Start,
    check_options,
    make_chunker,
    template_of,
)
from .._retry import RetryPolicy
from .._target import Target, open_target
from .retry import pause

if TYPE_CHECKING:
    from .._calls import CallOptions
    from ._funnel import AsyncFunnel


class AsyncSender(Protocol):
    """What a download sends through: ``httpx.AsyncClient`` or the funnel's ``streamer``."""

    async def send(self, request: httpx.Request, *, stream: bool = ...) -> httpx.Response:
        """Send ``request``; with ``stream=True`` the body is left unread."""
        ...


async def _events(
    client: AsyncSender,
    state: Resume,
    chunk_size: int | None,
    raise_for_status: AsyncRaiseForStatus,
    first: httpx.Response | None = None,
) -> AsyncGenerator[bytes | Start, None]:
    """The download's events; ``first`` is a response to ``state.next_request()`` already sent."""
    try:
        while True:
            delay = state.take_delay()
            if delay is not None and state.budget is not None:
                await pause(state.policy, delay, state.budget)
            if first is not None:
                response, first = first, None
            else:
                response = await client.send(state.next_request(), stream=True)
            try:
                action = state.on_response(response)
                if action is Action.ERROR:
                    await raise_for_status(response)
                    response.raise_for_status()
                    state.fail(f"unexpected status {response.status_code}")
                if action is Action.DONE:
                    return
                if action is Action.AGAIN:
                    continue
                yield state.start_event()
                pieces = _decoded(response) if state.decoded else response.aiter_raw()
                chunker = make_chunker(chunk_size)
                whole = chunker.whole  # pieces this size pass as they are (no generator)
                drop: Exception | None = None
                try:
                    async for piece in pieces:
                        data = state.feed(piece)
                        if 0 < len(data) <= whole:
                            yield data
                        elif data:
                            for chunk in chunker.push(data):
                                yield chunk
                except DROPS as exc:  # a drop of the connection, not of the consumer
                    drop = exc
                rest = chunker.flush()
                if rest:
                    yield rest
                if drop is not None:
                    state.on_drop(drop)
                elif state.on_end():
                    return
            finally:
                await response.aclose()
    except Exception as exc:
        scrub_credentials(exc)
        raise


async def _decoded(response: httpx.Response) -> AsyncIterator[bytes]:
    """A body sent with a ``Content-Encoding`` despite ``identity`` asked for, decoded in
    bounded steps (``_bodies``): memory stays flat whatever the compression ratio."""
    decoder = BoundedDecoder(encoding_of(response))
    async for raw in response.aiter_raw():
        for piece in decoder.feed(raw):
            yield piece
    decoder.check_end()


async def iter_result_file(
    client: AsyncSender,
    request: httpx.Request,
    *,
    chunk_size: int | None,
    raise_for_status: AsyncRaiseForStatus,
    make_incomplete_error: MakeIncompleteError,
    max_resumes: int = 5,
    retry_policy: RetryPolicy | None = None,
) -> AsyncIterator[bytes]:
    """Yield the file's bytes as they arrive, resuming after drops; closes the response on exit
    (on the async client, use ``contextlib.aclosing`` to stop early cleanly)."""
    check_options(chunk_size, max_resumes)
    state = Resume(
        template_of(request),
        max_resumes=max_resumes,
        make_incomplete_error=make_incomplete_error,
        policy=retry_policy,
        restartable=False,
    )
    events = _events(client, state, chunk_size, raise_for_status)
    try:
        async for event in events:
            if isinstance(event, bytes):
                yield event
    finally:
        await events.aclose()


async def _confirm_existing(
    client: AsyncSender,
    state: Resume,
    target: Target,
    existing: Existing,
    raise_for_status: AsyncRaiseForStatus,
) -> tuple[bool, str | None]:
    """Whether ``target`` is the server's whole file, and the file's ETag; nothing is written."""
    response: httpx.Response | None = None
    try:
        request = existing_request(state.next_request(), existing)
        response = await client.send(request, stream=True)
        verdict = existing_verdict(response, existing)
        etag = response.headers.get("ETag", existing.etag)
        if verdict is Probe.ERROR:
            await raise_for_status(response)
            response.raise_for_status()
        if verdict is not Probe.COMPARE:
            return verdict is Probe.SAME, etag
        events = _events(client, state, None, raise_for_status, first=response)
        try:
            with open_existing(target, existing) as local:
                comparison = Comparison(local, existing)
                async for event in events:
                    if not comparison.matches(event):
                        return False, state.etag
                return comparison.at_end(), state.etag or existing.etag
        finally:
            await events.aclose()
    except Exception as exc:
        scrub_credentials(exc)
        raise
    finally:
        if response is not None:
            await response.aclose()


async def download_to_path(
    client: AsyncSender,
    request: httpx.Request,
    path: str | os.PathLike[str],
    *,
    chunk_size: int | None,
    raise_for_status: AsyncRaiseForStatus,
    make_incomplete_error: MakeIncompleteError,
    max_resumes: int = 5,
    overwrite: bool = True,
    on_progress: OnProgress | None = None,
    retry_policy: RetryPolicy | None = None,
) -> Path:
    """Download into ``path`` atomically, resuming a partial temp file; returns ``path``.

    With ``overwrite=False`` an existing ``path`` is kept when it is the server's whole file
    (the rule is in ``_existing``) and ``FileExistsError`` is raised when it is not; nothing is
    written either way. ``on_progress`` is a plain function (called, never awaited).
    The directory is opened once and every later step goes through it without following a
    link (``_target``, ``_folder``); ``path`` may be an ``InFolder`` of a directory already open.
    """
    check_options(chunk_size, max_resumes)
    check_progress(on_progress)
    target = open_target(path)
    try:
        return await _download_to(
            client,
            request,
            path,
            target,
            chunk_size=chunk_size,
            raise_for_status=raise_for_status,
            make_incomplete_error=make_incomplete_error,
            max_resumes=max_resumes,
            overwrite=overwrite,
            on_progress=on_progress,
            retry_policy=retry_policy,
        )
    finally:
        target.close()


async def _download_to(
    client: AsyncSender,
    request: httpx.Request,
    path: str | os.PathLike[str],
    target: Target,
    *,
    chunk_size: int | None,
    raise_for_status: AsyncRaiseForStatus,
    make_incomplete_error: MakeIncompleteError,
    max_resumes: int,
    overwrite: bool,
    on_progress: OnProgress | None,
    retry_policy: RetryPolicy | None,
) -> Path:
    """``download_to_path`` once its directory is open (``target``)."""
    template = template_of(request)
    key = url_key(template)
    existing = find_existing(target, key, overwrite)
    if existing is not None:
        state = compare_state(template, max_resumes, make_incomplete_error, retry_policy)
        verdict = await _confirm_existing(client, state, target, existing, raise_for_status)
        return kept(path, target, key, existing, verdict, on_progress)
    position, etag, total = load_partial(target, key)
    state = Resume(
        template,
        max_resumes=max_resumes,
        make_incomplete_error=make_incomplete_error,
        policy=retry_policy,
        restartable=True,
        position=position,
        etag=etag,
        total=total,
    )
    out = PartFile(target, key, position, on_progress)
    try:
        events = _events(client, state, chunk_size, raise_for_status)
        try:
            async for event in events:
                out.apply(event)
        finally:
            await events.aclose()
        out.verify(state)
        await AsyncBackend.run_in_thread(out.fsync)
    except BaseException:
        out.discard_if_empty()
        raise
    out.commit(keep_record=not overwrite)
    return Path(path)


async def stream_result_file(
    funnel: AsyncFunnel, request: httpx.Request, opts: CallOptions
) -> AsyncIterator[bytes]:
    """``get_result_file``: ``iter_result_file`` through the request loop, errors mapped."""
    chunks = iter_result_file(
        funnel.streamer(opts),
        request,
        chunk_size=opts.chunk_size,
        raise_for_status=funnel.raise_for_status,
        make_incomplete_error=funnel.errors.incomplete_error_factory(request),
        retry_policy=opts.policy,
    )
    try:
        async for chunk in chunks:
            yield chunk
    except httpx.RequestError as exc:
        raise funnel.errors.connection_error(exc, request) from exc
    except UnsupportedEncoding as exc:
        raise limit_error(exc, request, funnel.config.auth.redactor(request)) from None
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]


async def download_result_file(
    funnel: AsyncFunnel,
    request: httpx.Request,
    opts: CallOptions,
    path: str | os.PathLike[str],
    *,
    overwrite: bool,
    on_progress: OnProgress | None,
) -> Path:
    """``download_result_file``: ``download_to_path`` through the request loop, errors mapped."""
    try:
        return await download_to_path(
            funnel.streamer(opts),
            request,
            path,
            chunk_size=opts.chunk_size or DEFAULT_CHUNK_SIZE,
            raise_for_status=funnel.raise_for_status,
            make_incomplete_error=funnel.errors.incomplete_error_factory(request),
            retry_policy=opts.policy,
            overwrite=overwrite,
            on_progress=on_progress,
        )
    except httpx.RequestError as exc:
        raise funnel.errors.connection_error(exc, request) from exc
    except UnsupportedEncoding as exc:
        raise limit_error(exc, request, funnel.config.auth.redactor(request)) from None
