"""Streaming, resumable result-file reads (the protocol is ``_resume``): the bytes of one file.

| name | what |
| --- | --- |
| `iter_result_file(client, request, ...)` | the bytes of one file, resumed after drops |
| `stream_result_file(funnel, ...)` | the same for ``get_result_file``, failures as ``ApiError`` |

``client`` is anything with ``send(request, stream=True)`` (an ``httpx.AsyncClient``, or the
request loop's ``streamer``); see ``download.py`` for the arguments. Kept apart from the
downloads to a path, so streaming a file loads none of the file-system code.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Protocol

import httpx

from .._bodies import BoundedDecoder, UnsupportedEncoding, encoding_of, limit_error
from .._errors import scrub_credentials
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
