"""Bearer-token authentication for the gateway client.

The token is a ``str`` or a callable returning one (called for every request); the async client
may instead use an ``async_token`` coroutine function. The ``Authorization`` header is only ever
attached to requests for the gateway's own origin (scheme, host and port of ``base_url``), so a
redirect to another host never carries the token. A callable token is asked once more after a
401 and the request is repeated once with the fresh token; a fixed token's 401 is final.

A token callable that caches its token may have an ``invalidate()`` method: after a 401 it is
called before the callable is asked for the fresh token, so a cache knows the token is stale
(no event hook on the HTTP client needed). For ``async_token``, ``invalidate()`` may also
return an awaitable, which is awaited.

The token may also be a :class:`~kipu_hub_service.ClientCredentials`: the client's funnel then
binds (:meth:`~TokenAuth.bind`) the function that fetches its tokens through the client, and a 401
invalidates exactly the token that was refused. ``origin_headers`` (the parent execution token)
go to the same origin only, and are redacted like the token.
"""

from __future__ import annotations

import collections
import inspect
import re
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from typing import TYPE_CHECKING, Protocol

import httpx

if TYPE_CHECKING:
    from ._credentials import ClientCredentials

TokenSource = str | Callable[[], str]
"""A token, or a callable returning one (called for every request)."""
AsyncTokenSource = Callable[[], Awaitable[str]]
"""A coroutine function returning the token (``async_token`` of the async client)."""

MIN_REDACTED = 4
"""Tokens shorter than this are not redacted from server text: they would match ordinary words."""
RECENT_TOKENS = 64
"""Distinct tokens from a callable that are remembered for redaction (a 401 refresh or a retry
sends the same request again with a new one, so an error about it redacts each of them)."""
_NOT_TOKEN_CHARS = re.compile(r"[^\x21-\x7e]")


class Redact(Protocol):
    """Replaces the tokens in a text by ``***``; ``cut=True`` for a text cut at its end."""

    def __call__(self, text: str, *, cut: bool = False) -> str:
        """``text`` without any token, or any start of one at its end when ``cut``."""
        ...


def redact_cut_end(text: str, secrets: list[str]) -> str:
    """``text`` (cut at its end) with the longest start of a secret that ends it replaced by
    ``***``: a cap cutting through a token never leaves its first characters visible."""
    longest = 0
    for secret in secrets:
        for size in range(min(len(secret) - 1, len(text)), longest, -1):
            if text.endswith(secret[:size]):
                longest = size
                break
    return text[: len(text) - longest] + "***" if longest else text


def bearer_value(token: object) -> str:
    """``Bearer <token>`` after checking the token is safe to put in a header.

    Raises ``TypeError``/``ValueError`` (never echoing the token) for a non-string, an empty
    token, or one with whitespace, control (CR, LF, ...) or non-ASCII characters.
    """
    if not isinstance(token, str):
        raise TypeError(f"token must be a str or return one, got {type(token).__name__}")
    if not token:
        raise ValueError("token is empty")
    if _NOT_TOKEN_CHARS.search(token):
        raise ValueError(
            "token contains whitespace, control or non-ASCII characters; refusing to send it"
        )
    return "Bearer " + token


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


class TokenAuth(httpx.Auth):
    """``httpx.Auth`` that sends ``Authorization: Bearer <token>`` to one origin only."""

    requires_request_body = False
    """The flow never reads the request body."""
    requires_response_body = False
    """The flow reads only the status of the answer, never its body."""

    def __init__(
        self,
        token: TokenSource | ClientCredentials | None,
        *,
        async_token: AsyncTokenSource | None = None,
        base_url: httpx.URL | str | None = None,
        origin_headers: Mapping[str, str] | None = None,
    ) -> None:
        from ._credentials import ClientCredentials

        self._fixed: str | None = None
        self._token_fn: Callable[[], str] | None = None
        self._async_token_fn = async_token
        self.credentials: ClientCredentials | None = None
        """The access key when ``token`` is a ``ClientCredentials`` (then see :meth:`bind`)."""
        self._origin_headers = dict(origin_headers or {})
        if isinstance(token, ClientCredentials):
            if async_token is not None:
                raise TypeError("pass either ClientCredentials as token or async_token, not both")
            self.credentials = token
        elif isinstance(token, str):
            self._fixed = bearer_value(token)
        elif callable(token):
            self._token_fn = token
        elif token is not None:
            raise TypeError(
                f"token must be a str, a callable or ClientCredentials, got {type(token).__name__}"
            )
        if async_token is not None and not callable(async_token):
            raise TypeError("async_token must be a callable returning an awaitable")
        if token is None and async_token is None:
            raise TypeError("token is required: pass a str or a callable returning one")
        self._origin = None if base_url is None else _origin(httpx.URL(base_url))
        self._sent: collections.deque[str] = collections.deque(maxlen=RECENT_TOKENS)
        """The latest distinct tokens a callable gave, oldest first."""
        self._sent_lock = threading.Lock()

    def __repr__(self) -> str:
        kind = "fixed" if self._fixed is not None else "callable"
        if self.credentials is not None:
            kind = "access key"
        return f"<TokenAuth {kind} token>"

    def bind(self, fetch: Callable[[], str] | Callable[[], Awaitable[str]]) -> None:
        """Use ``fetch`` for the tokens of :attr:`credentials`: the client's function that
        returns the current token (a coroutine function on the async client)."""
        if self.credentials is None:
            return
        if inspect.iscoroutinefunction(fetch):
            self._async_token_fn = fetch
        else:
            self._token_fn = fetch  # type: ignore[assignment]

    def applies_to(self, url: httpx.URL) -> bool:
        """Whether a request to ``url`` may carry the token (same origin as ``base_url``)."""
        return self._origin is None or _origin(url) == self._origin

    def secrets(self, *requests: httpx.Request | None) -> list[str]:
        """The tokens to redact from an error about ``requests``: the fixed token, the last
        ``RECENT_TOKENS`` a callable gave (so concurrent calls with a fresh token each are all
        redacted) and the ``Authorization`` value of each request; those of at least
        ``MIN_REDACTED`` characters, longest first."""
        with self._sent_lock:
            found: set[str] = set(self._sent)
        found.update(self._origin_headers.values())
        if self.credentials is not None:
            found.update(self.credentials._hidden_values())
        if self._fixed is not None:
            found.add(self._fixed[len("Bearer ") :])
        for request in requests:
            if request is None:
                continue
            header = request.headers.get("Authorization")
            if header:
                scheme, _, value = header.partition(" ")
                found.add(value.strip() if value.strip() else scheme)
        return sorted((s for s in found if len(s) >= MIN_REDACTED), key=len, reverse=True)

    def redactor(self, *requests: httpx.Request | None) -> Redact | None:
        """A function replacing the tokens of :meth:`secrets` by ``***`` in a text, or None
        when there is nothing to redact. With ``cut=True`` the text was cut at its end (a
        body cap): a token's first characters ending it are replaced too."""
        secrets = self.secrets(*requests)
        if not secrets:
            return None

        def redact(text: str, *, cut: bool = False) -> str:
            for secret in secrets:
                if secret in text:
                    text = text.replace(secret, "***")
            return redact_cut_end(text, secrets) if cut else text

        return redact

    def redact(self, text: str, request: httpx.Request | None = None) -> str:
        """``text`` with the tokens of :meth:`secrets` replaced by ``***``.

        Tokens shorter than ``MIN_REDACTED`` (4) characters are not redacted: they would match
        ordinary words.
        """
        redact = self.redactor(request)
        return text if redact is None else redact(text)

    def _put(self, request: httpx.Request, value: str) -> None:
        request.headers["Authorization"] = value
        token = value[len("Bearer ") :]
        with self._sent_lock:
            if token not in self._sent:
                self._sent.append(token)

    def _invalidate(self, source: object, refused: str) -> object:
        """Forget the token the gateway ``refused``: ``credentials.invalidate(token)``, or
        ``source.invalidate()`` when the token callable has one (see the module doc)."""
        if self.credentials is not None:
            self.credentials.invalidate(refused[len("Bearer ") :])
            return None
        invalidate = getattr(source, "invalidate", None)
        return invalidate() if callable(invalidate) else None

    def _attach(self, request: httpx.Request) -> bool:
        """Whether ``request`` may carry credentials; its ``origin_headers`` set or removed."""
        if not self.applies_to(request.url):
            request.headers.pop("Authorization", None)
            for name in self._origin_headers:
                request.headers.pop(name, None)
            return False
        for name, value in self._origin_headers.items():
            request.headers.setdefault(name, value)
        return True

    def _sync_value(self) -> str:
        if self._token_fn is None:
            raise TypeError("this client has only an async_token; use the async client")
        return bearer_value(self._token_fn())

    async def _async_value(self) -> str:
        if self._async_token_fn is None:
            return self._sync_value()
        return bearer_value(await self._async_token_fn())

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Attach the token (on ``base_url``'s origin only); once more after a 401."""
        if not self._attach(request):
            yield request
            return
        if self._fixed is not None:
            request.headers["Authorization"] = self._fixed
            yield request
            return
        value = self._sync_value()
        self._put(request, value)
        response = yield request
        if response.status_code == 401:
            self._invalidate(self._token_fn, value)
            fresh = self._sync_value()
            if fresh != value:
                self._put(request, fresh)
                yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """:meth:`sync_auth_flow` with ``async_token`` awaited when given."""
        if not self._attach(request):
            yield request
            return
        if self._fixed is not None and self._async_token_fn is None:
            request.headers["Authorization"] = self._fixed
            yield request
            return
        value = await self._async_value()
        self._put(request, value)
        response = yield request
        if response.status_code == 401:
            source = self._async_token_fn or self._token_fn
            pending = self._invalidate(source, value)
            if inspect.isawaitable(pending):
                await pending
            fresh = await self._async_value()
            if fresh != value:
                self._put(request, fresh)
                yield request
