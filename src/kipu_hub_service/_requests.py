"""What the gateway's operations send: checked ids and file names, request bodies, and headers.

Every execution id and file name is checked here (a non-empty ``str`` of at most
``MAX_SEGMENT_BYTES`` bytes); the generated builders percent-encode it as one path segment. A
JSON body that cannot be encoded (nested past the interpreter's recursion limit, or holding a
NaN or an infinity, which JSON has no form for) raises ``ValueError`` before anything is sent.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import sys
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import httpx

from ._bodies import ACCEPT_ENCODING

MAX_SEGMENT_BYTES = 4096
"""Longest execution id or file name accepted, in bytes of UTF-8."""
DEFAULT_CHUNK_SIZE = 64 * 1024
"""Bytes per write of ``download_result_file`` unless ``request_options["chunk_size"]`` says.
``get_result_file`` hands chunks over as they arrive (at most 64 KiB each, never copied) unless
a ``chunk_size`` asks for exact chunks."""


class LazyModule:
    """A module imported on first attribute access, each attribute then kept on this object:
    the generated builders and models load on the first call, not with the client."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> object:
        value = getattr(self.module(), attr)
        setattr(self, attr, value)
        return value

    def module(self) -> ModuleType:
        """The module itself (imported now if it was not yet)."""
        return importlib.import_module(self._name)


def check_segment(value: object, what: str) -> str:
    """An execution id or file name: a non-empty str, encodable as UTF-8 (no lone surrogates),
    of at most ``MAX_SEGMENT_BYTES`` bytes so encoded (later percent-encoded as one segment)."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{what} must not be empty")
    if value.isascii():
        size = len(value)
    else:
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            raise ValueError(f"{what} is not valid Unicode text (a lone surrogate)") from None
    if size > MAX_SEGMENT_BYTES:
        raise ValueError(f"{what} is too long: {size} bytes as UTF-8, at most {MAX_SEGMENT_BYTES}")
    return value


class _RawBody:
    """Duck-typed ``RequestBody`` handing a caller's mapping to the generated builder as is."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data

    def to_dict(self) -> Mapping[str, Any]:
        return self._data


def request_body(request: object) -> Any:
    """The body of ``start_execution``: a mapping (the documented dict) or a ``RequestBody``."""
    from qhub_service_gen.models import RequestBody

    if isinstance(request, RequestBody):
        return request
    if isinstance(request, Mapping):
        if not all(isinstance(key, str) for key in request):
            raise TypeError("request keys must be str")
        return _RawBody(request if isinstance(request, dict) else dict(request))
    raise TypeError(f"request must be a dict (JSON object), got {type(request).__name__}")


def with_secrets_and_tags(request: Any, secrets: object, tags: object) -> Any:
    """``request`` with ``secrets`` as ``$secrets`` and ``tags`` as ``$tags`` (the body keys the
    vendor's ``qhub-service`` wrapper sends), on a copy; ``request`` itself when both are None.
    A key the request already has is a ``ValueError`` rather than silently kept or replaced."""
    if secrets is None and tags is None:
        return request
    from qhub_service_gen.models import RequestBody

    body = request.to_dict() if isinstance(request, RequestBody) else request
    if not isinstance(body, Mapping):
        raise TypeError(f"request must be a dict (JSON object), got {type(request).__name__}")
    merged = dict(body)
    if secrets is not None:
        if not isinstance(secrets, Mapping) or not all(isinstance(k, str) for k in secrets):
            raise TypeError("secrets must be a dict with str keys")
        if "$secrets" in merged:
            raise ValueError("request already has '$secrets': pass the secrets one way only")
        merged["$secrets"] = dict(secrets)
    if tags is not None:
        if isinstance(tags, str | bytes) or not isinstance(tags, list | tuple):
            raise TypeError("tags must be a list of str")
        if not all(isinstance(tag, str) for tag in tags):
            raise TypeError("tags must be a list of str")
        if "$tags" in merged:
            raise ValueError("request already has '$tags': pass the tags one way only")
        merged["$tags"] = list(tags)
    return merged


def encode_error(exc: Exception, body: object) -> Exception:
    """The error for a JSON ``body`` httpx could not encode (``exc``): nested past the
    interpreter's recursion limit, or holding a NaN or an infinity (JSON has no form for them)."""
    if isinstance(exc, RecursionError):
        return ValueError(
            "the request body is nested too deeply to encode as JSON (deeper than the "
            f"interpreter's recursion limit, {sys.getrecursionlimit()})"
        )
    problem = non_finite_number(body)
    if problem is None:
        return exc
    return ValueError(
        f"the request body cannot be sent as JSON: {problem} (JSON has no NaN or Infinity)"
    )


_PATH_CHARS = 200
"""Longest path to a bad value that an error quotes (its start and end are kept)."""


def non_finite_number(body: object) -> str | None:
    """Where ``body`` holds a NaN or an infinity, as ``request['input']['x'][2] is nan``; None
    if nowhere. Walks with its own stack (a deep body cannot overflow the interpreter's) and
    visits each container once (a cycle ends the walk)."""
    stack: list[tuple[object, str]] = [(body, "request")]
    seen: set[int] = set()
    while stack:
        item, path = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            if len(path) > _PATH_CHARS:
                half = _PATH_CHARS // 2
                path = f"{path[:half]}...{path[-half:]}"
            return f"{path} is {item!r}"
        if isinstance(item, Mapping | list | tuple):
            if id(item) in seen:
                continue
            seen.add(id(item))
            pairs = item.items() if isinstance(item, Mapping) else enumerate(item)
            stack.extend((value, f"{path}[{key!r}]") for key, value in reversed(list(pairs)))
    return None


def put_headers(headers: dict[str, str], layer: Mapping[str, str]) -> None:
    """Set each header of ``layer`` over ``headers``; one already there under the same name in
    another case is replaced, not sent beside it (header names are case-insensitive)."""
    lowered = {name.lower(): name for name in headers}
    for name, value in layer.items():
        old = lowered.get(name.lower())
        if old is not None and old != name:
            del headers[old]
        headers[name] = value
        lowered[name.lower()] = name


NO_BODY = httpx.ByteStream(b"")
"""The body stream of a request without a body (it holds no state, so requests share it)."""


def copy_request(
    method: str,
    url: httpx.URL | str,
    headers: httpx.Headers,
    stream: httpx.SyncByteStream | httpx.AsyncByteStream,
    extensions: Mapping[str, Any],
) -> httpx.Request:
    """A request from the parts of one httpx has built already (``headers`` complete with
    ``Host`` and the body's length, ``stream`` its body), made as httpx copies a request to
    follow a redirect: ``stream=`` skips encoding a body and adding headers again, about 10 of
    the 30 µs ``httpx.Request`` takes for a GET (most of the rest is parsing the URL).
    ``headers`` and ``extensions`` are copied into the new request."""
    request = httpx.Request(method, url, headers=headers, stream=stream, extensions=extensions)
    if isinstance(stream, httpx.ByteStream):
        request.read()  # ``content`` readable, as on the request it was made from
    return request


def with_headers(request: httpx.Request, headers: httpx.Headers) -> httpx.Request:
    """``request`` again (method, URL, body, extensions) with ``headers`` instead of its own:
    a download's template copied for a try (``copy_request``)."""
    return copy_request(request.method, request.url, headers, request.stream, request.extensions)


_Kept = tuple[object, list[tuple[bytes, bytes]], str, httpx.Headers]
"""The client, its headers' raw list then, and the method and headers built."""

URLS_KEPT = 64
"""How many parsed URLs a :class:`RequestBuilder` keeps, the most recently used ones."""


class RequestBuilder:
    """Builds one client's requests from a generated builder's result (method, url, json,
    headers), as ``client.build_request`` does, over the client's ``prefix`` (its base URL).

    Headers, later layers winning: ``request_headers`` (an injected client's), the
    ``Accept-Encoding`` asked for (``identity`` for a result file; the injected client's
    default otherwise, as the SDK's own clients send it anyway), the builder's, the call's.

    A plain request (no body, no headers of the builder's or the call's) on an HTTP client the
    SDK made, holding no cookies and no default query params, skips the merge: the headers
    ``build_request`` gives the first such request of a method (the client's, ``identity`` for
    a file, ``Host``, ``Content-Length: 0`` for a ``PUT``) are kept while the client's headers
    stay as they were, and each later request gets a copy (``copy_request``).
    The request is the same, built in about 20 µs instead of 24 (most of it parsing the URL).

    The last ``URLS_KEPT`` URLs are kept parsed (``httpx.URL`` is immutable, so requests can
    share one): a URL asked for again (every start, every poll of a status or of the list)
    skips httpx's parse, about 10 of the 34 µs a start's request takes to build."""

    def __init__(
        self, prefix: str, request_headers: Mapping[str, str] | None, injected: bool
    ) -> None:
        self._prefix = prefix
        self._request_headers = request_headers
        self._injected = injected
        self._kept: dict[tuple[bool, str], _Kept] = {}
        self._urls: dict[str, httpx.URL] = {}

    def url(self, path: str) -> httpx.URL:
        """The URL of ``path`` under the prefix, parsed once while it stays among the
        ``URLS_KEPT`` most recently used (an ``httpx.InvalidURL`` as httpx raises it).
        Safe for threads sharing a sync client: each step is one atomic dict operation, and
        an oldest entry another thread removed first is left to it."""
        urls = self._urls
        url = urls.pop(path, None)
        if url is None:
            url = httpx.URL(self._prefix + path)
            if len(urls) >= URLS_KEPT:
                # RuntimeError, StopIteration: another thread changed the dict meanwhile
                with contextlib.suppress(RuntimeError, StopIteration):
                    urls.pop(next(iter(urls)), None)
        urls[path] = url
        return url

    def build(
        self,
        client: httpx.Client | httpx.AsyncClient,
        kwargs: Mapping[str, Any],
        timeout: httpx.Timeout,
        call_headers: Mapping[str, str] | None,
        *,
        json_call: bool,
    ) -> httpx.Request:
        """The request; a JSON body that cannot be encoded is a ``ValueError`` (see
        ``encode_error``) before anything is sent."""
        url = self.url(kwargs["url"])
        body = kwargs.get("json")
        if call_headers is None and body is None and not kwargs.get("headers"):
            plain = self._plain(client, kwargs["method"], url, identity=not json_call)
            if plain is not None:
                extensions = {"timeout": timeout.as_dict()}
                return copy_request(plain[0], url, plain[1], NO_BODY, extensions)
        merged: dict[str, str] = dict(self._request_headers or {})
        if not json_call:  # a result file: asked for as stored (see ``_resume.template_of``)
            merged["Accept-Encoding"] = "identity"
        elif self._injected:  # the SDK's own clients send it by default
            merged["Accept-Encoding"] = ACCEPT_ENCODING
        for layer in (kwargs.get("headers"), call_headers):
            if layer:
                put_headers(merged, layer)
        try:
            return client.build_request(
                kwargs["method"], url, headers=merged, json=body, timeout=timeout
            )
        except (RecursionError, ValueError) as exc:
            raise encode_error(exc, body) from None

    def _plain(
        self,
        client: httpx.Client | httpx.AsyncClient,
        method: str,
        url: httpx.URL,
        *,
        identity: bool,
    ) -> tuple[str, httpx.Headers] | None:
        """A plain request's method as httpx spells it and the headers ``build_request`` gives
        it (with ``Host``, which every URL under the prefix shares, and ``Content-Length: 0``
        for a ``PUT``); None when it must be merged."""
        if self._injected or client.cookies or client.params:
            return None
        raw = client.headers.raw
        key = (identity, method)
        kept = self._kept.get(key)
        if kept is None or kept[0] is not client or kept[1] != raw:
            headers = client.headers.copy()
            if identity:  # as build_request merges it: moved to the end
                headers.update({"Accept-Encoding": "identity"})
            built = httpx.Request(method, url, headers=headers)  # adds Host, Content-Length
            kept = self._kept[key] = (client, raw, built.method, built.headers)
        return kept[2], kept[3]
