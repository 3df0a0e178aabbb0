"""Streaming, resumable result-file downloads (the protocol is ``_resume``, the files ``_files``).

| name | what |
| --- | --- |
| `download_to_path(client, request, path, ...)` | atomic write; resumes a partial file |
| `download_result_file(funnel, ...)` | the same for a ``ServiceApi`` call, with httpx
  failures mapped to ``ApiError`` |

Reading a file's bytes (``iter_result_file``, ``stream_result_file``) is ``stream.py``.

``client`` is anything with ``send(request, stream=True)`` (an ``httpx.AsyncClient``, or the
funnel's ``streamer``). Both take ``chunk_size`` (bytes per chunk; None: as they arrive),
``raise_for_status`` (called with a non-2xx response; must raise), ``make_incomplete_error(
delivered, expected)``, ``max_resumes`` (resumes in a row that may bring no byte past the
furthest one reached so far; default 5) and ``retry_policy`` (the wait between resumes).
Every exception leaving a download has the credentials stripped from the requests it refers to.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from .._backend import AsyncBackend
from .._bodies import UnsupportedEncoding, limit_error
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
from .._files import Flushes, OnProgress, PartFile, check_progress, load_partial, url_key
from .._requests import DEFAULT_CHUNK_SIZE
from .._resume import (
    AsyncRaiseForStatus,
    MakeIncompleteError,
    Resume,
    check_options,
    template_of,
)
from .._retry import RetryPolicy
from .._target import Target, open_target
from .stream import AsyncSender, _events

if TYPE_CHECKING:
    from .._calls import CallOptions
    from ._funnel import AsyncFunnel


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
    vouch: bool = True,
    flushes: Flushes | None = None,
) -> Path:
    """Download into ``path`` atomically, resuming a partial temp file; returns ``path``.

    With ``overwrite=False`` an existing ``path`` is kept when it is the server's whole file
    (the rule is in ``_existing``) and ``FileExistsError`` is raised when it is not; nothing is
    written either way. A file downloaded with ``overwrite=False`` gets a record that vouches
    for it, unless ``vouch=False`` (the caller keeps its own, as a sweep's journal does).
    ``on_progress`` is a plain function (called, never awaited). ``flushes``: the client's
    record of where to flush the finished file (default: a fresh one).
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
            vouch=vouch,
            flushes=flushes or Flushes(),
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
    vouch: bool,
    flushes: Flushes,
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
        if flushes.on_loop(out):
            flushes.flush(out)
        else:
            await AsyncBackend.run_in_thread(out.fsync)
    except BaseException:
        out.keep_for_resume()
        raise
    out.commit(keep_record=vouch and not overwrite)
    return target.given


async def download_result_file(
    funnel: AsyncFunnel,
    request: httpx.Request,
    opts: CallOptions,
    path: str | os.PathLike[str],
    *,
    overwrite: bool,
    on_progress: OnProgress | None,
    vouch: bool = True,
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
            vouch=vouch,
            flushes=funnel.flushes(),
        )
    except httpx.RequestError as exc:
        raise funnel.errors.connection_error(exc, request) from exc
    except UnsupportedEncoding as exc:
        raise limit_error(exc, request, funnel.config.auth.redactor(request)) from None
