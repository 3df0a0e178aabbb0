"""Reading a response body within bounds (the rules are ``_bodies``'): a 2xx JSON answer up to
its size cap and read deadline, an error body up to ``BODY_CAP``, both decoded in bounded steps.
"""

from __future__ import annotations

import httpx

from .._bodies import BodyLimits, BoundedDecoder, TooLarge, UnsupportedEncoding, encoding_of


async def read_bounded(response: httpx.Response, limits: BodyLimits) -> bytes:
    """The decoded body of a 2xx ``response``: ``TooLarge`` past ``limits.cap`` decoded bytes,
    ``DeadlinePassed`` once ``limits.end`` has passed (checked as each piece arrives)."""
    try:
        content = response.content  # a transport that read it already (``MockTransport``)
    except httpx.ResponseNotRead:
        pass
    else:
        if len(content) > limits.cap:
            raise TooLarge(limits.cap)
        return content
    encoding = encoding_of(response)
    decoder = BoundedDecoder(encoding) if encoding else None
    parts: list[bytes] = []
    size = 0
    cap = limits.cap
    async for raw in response.aiter_raw():
        limits.check_time()
        for piece in (raw,) if decoder is None else decoder.feed(raw):
            size += len(piece)
            if size > cap:
                raise TooLarge(cap)
            parts.append(piece)
    if decoder is not None:
        decoder.check_end()
    return parts[0] if len(parts) == 1 else b"".join(parts)


async def read_upto(response: httpx.Response, limit: int) -> bytes:
    """The decoded body of ``response``, stopping once more than ``limit`` bytes were decoded
    (then at most one decoding step more); the response is closed. A body that breaks off, is
    corrupt or has an encoding the SDK does not decode is kept as far as it was decoded."""
    try:
        return response.content
    except httpx.ResponseNotRead:
        pass
    parts: list[bytes] = []
    size = 0
    try:
        decoder = BoundedDecoder(encoding_of(response))
        async for raw in response.aiter_raw():
            for piece in decoder.feed(raw):
                parts.append(piece)
                size += len(piece)
                if size > limit:
                    return b"".join(parts)
    except (httpx.HTTPError, httpx.StreamError, UnsupportedEncoding):
        pass
    finally:
        await response.aclose()
    return b"".join(parts)


def restream(response: httpx.Response) -> httpx.Response:
    """A response whose body a transport already read (e.g. ``httpx.MockTransport`` with
    ``content=``) as an unread stream again, so raw streaming works on it like on the wire."""
    if not response.is_stream_consumed:
        return response
    fresh = httpx.Response(
        response.status_code,
        headers=response.headers,
        stream=httpx.ByteStream(response.content),
        request=response.request,
        extensions=response.extensions,
    )
    fresh.history = response.history
    return fresh
