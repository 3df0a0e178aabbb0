"""Redirects: the next hop of a 3xx, and which headers are credentials.

The SDK follows redirects itself (httpx is always called with ``follow_redirects=False``), so it
decides what a new hop carries: when the new URL leaves the origin of the previous request or of
``base_url``, ``CREDENTIAL_HEADERS`` are dropped, and ``TokenAuth`` attaches the token again only
on ``base_url``'s origin.

httpx's ``client.send`` builds the follow-up request of every 3xx with a ``Location`` (even with
``follow_redirects=False``) and raises when it cannot make a URL of it; where the loop calls the
SDK's own transport directly, ``check_location`` applies the same rule. ``unusable_location_error``
recognises that failure by httpx's public exception types (an ``httpx.InvalidURL``, itself or as
the context of a ``RemoteProtocolError``), and the request loop raises an ``APIConnectionError``
for it. A ``Location`` httpx can read but the SDK will not follow (not an absolute http(s) URL)
is the 3xx's own ``APIStatusError``.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-parent-execution-token"}
)
"""Headers that carry credentials (lower case): never sent to another origin, never kept on a
request an error refers to."""
MAX_REDIRECTS = 20
"""Redirects followed for one call before it fails with ``APIConnectionError``."""


def same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    """Whether two URLs share scheme, host and port."""
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def next_request(
    request: httpx.Request, response: httpx.Response, token_origin: Callable[[httpx.URL], bool]
) -> httpx.Request | None:
    """The request that follows ``response``'s redirect, or None when its ``Location`` is not an
    absolute http(s) URL. ``token_origin(url)`` says whether ``url`` is on ``base_url``'s
    origin (``TokenAuth.applies_to``).

    Built from the previous request's headers (which already hold the client's defaults), never
    through ``client.build_request``, which would merge those defaults back in.
    """
    location = response.headers["Location"]
    try:
        url = request.url.join(location)
    except (httpx.InvalidURL, ValueError):
        return None
    if url.scheme not in ("http", "https") or not url.host:
        return None
    method = request.method
    status = response.status_code
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method = "GET"
    drop = {"host"}
    if not (token_origin(url) and same_origin(url, request.url)):
        drop |= CREDENTIAL_HEADERS
    content: bytes | None = None
    if method == request.method:
        content = request.content or None
    else:
        drop |= {"content-length", "content-type", "transfer-encoding"}
    headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in drop]
    return httpx.Request(
        method, url, headers=headers, content=content, extensions=request.extensions
    )


def check_location(request: httpx.Request, response: httpx.Response) -> None:
    """Raise ``httpx.InvalidURL`` for a 3xx whose ``Location`` httpx's ``client.send`` could not
    make a URL of (its rule: parsed as it stands, given the request's host when it has a scheme
    but no host, joined to the request's URL when relative). The loop checks this itself where
    it calls the SDK's own transport directly (``_async/_wire.py``), so every client fails the
    same way."""
    url = httpx.URL(response.headers["Location"])
    if url.scheme and not url.host:
        url = url.copy_with(host=request.url.host)
    if url.is_relative_url:
        request.url.join(url)


def unusable_location_error(exc: BaseException) -> bool:
    """Whether ``exc``, raised by ``client.send`` or by ``check_location``, is a redirect's
    ``Location`` httpx cannot read (rather than a transport failure, which is retried)."""
    if isinstance(exc, httpx.InvalidURL):
        return True
    return isinstance(exc, httpx.RemoteProtocolError) and isinstance(
        exc.__context__, httpx.InvalidURL
    )
