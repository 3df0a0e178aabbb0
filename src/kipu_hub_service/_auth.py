"""The gateway's bearer token: where it may go, what it is, and what to redact. No I/O here.

The token is a ``str``, a callable returning one (called for every request), an ``async_token``
coroutine function (async client), or a :class:`~kipu_hub_service.ClientCredentials` whose
tokens the client's request loop fetches. The request loop (``_async/_funnel.py``) asks this
object what to attach: ``Authorization`` and the ``origin_headers`` (the parent execution
token) go to ``base_url``'s origin (scheme, host and port) only, so a redirect to another host
never carries them. After a 401 the loop calls :meth:`TokenAuth.invalidate` and asks for the
token once more; a fixed token's 401 is final.

A token callable that caches its token may have an ``invalidate()`` method: after a 401 it is
called before the callable is asked for the fresh token, so a cache knows the token is stale.
For ``async_token``, ``invalidate()`` may also return an awaitable, which is awaited.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Awaitable, Callable, Mapping

import httpx

from ._credentials import _TokenCache
from ._secrets import MAX_SECRET_VALUES, Hidden, Redact, bearer_value, make_redactor

TokenSource = str | Callable[[], str]
"""A token, or a callable returning one (called for every request)."""
AsyncTokenSource = Callable[[], Awaitable[str]]
"""A coroutine function returning the token (``async_token`` of the async client)."""

RECENT_TOKENS = 64
"""Distinct tokens from a callable that are remembered for redaction (a 401 refresh or a retry
sends the same request again with a new one, so an error about it redacts each of them)."""


def origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """Scheme, host and port of ``url``."""
    return (url.scheme, url.host, url.port)


class TokenAuth:
    """What the gateway's requests carry: ``Authorization: Bearer <token>`` and the origin
    headers, on ``base_url``'s origin only."""

    def __init__(
        self,
        token: TokenSource | _TokenCache | None,
        *,
        async_token: AsyncTokenSource | None = None,
        base_url: httpx.URL | str | None = None,
        origin_headers: Mapping[str, str] | None = None,
    ) -> None:
        self._fixed: Hidden | None = None
        self._source: Callable[[], object] | None = None
        self.credentials: _TokenCache | None = None
        """The access key when ``token`` is a ``ClientCredentials``: the loop fetches its tokens."""
        self._origin_headers = {
            name: Hidden(value) for name, value in (origin_headers or {}).items()
        }
        if isinstance(token, _TokenCache):
            if async_token is not None:
                raise TypeError("pass either ClientCredentials as token or async_token, not both")
            self.credentials = token
        elif isinstance(token, str):
            self._fixed = bearer_value(token)
        elif callable(token):
            self._source = token
        elif token is not None:
            raise TypeError(
                f"token must be a str, a callable or ClientCredentials, got {type(token).__name__}"
            )
        if async_token is not None:
            if not callable(async_token):
                raise TypeError("async_token must be a callable returning an awaitable")
            self._fixed, self._source = None, async_token
        if token is None and async_token is None:
            raise TypeError("token is required: pass a str or a callable returning one")
        self._origin = None if base_url is None else origin(httpx.URL(base_url))
        self._sent: collections.deque[str] = collections.deque(maxlen=RECENT_TOKENS)
        """The latest distinct tokens a callable gave, oldest first."""
        self._sent_lock = threading.Lock()
        self._last: tuple[Hidden, Hidden] | None = None
        """The last token attached and its checked header value."""
        self._extra: collections.deque[str] = collections.deque(maxlen=MAX_SECRET_VALUES)
        """Secrets the client sent on its calls (``run(secrets=...)``), redacted like tokens."""

    def __repr__(self) -> str:
        kind = "fixed" if self._fixed is not None else "callable"
        if self.credentials is not None:
            kind = "access key"
        return f"<TokenAuth {kind} token>"

    @property
    def refreshable(self) -> bool:
        """Whether asking again after a 401 can give another token (not a fixed one)."""
        return self._fixed is None

    def applies_to(self, url: httpx.URL) -> bool:
        """Whether a request to ``url`` may carry the token (same origin as ``base_url``)."""
        return self._origin is None or origin(url) == self._origin

    def prepare(self, request: httpx.Request) -> bool:
        """Set (on ``base_url``'s origin) or remove (elsewhere) the origin headers and the
        fixed token. True when the token of a callable or of credentials is still to attach."""
        headers = request.headers
        if not self.applies_to(request.url):
            headers.pop("Authorization", None)
            for name in self._origin_headers:
                headers.pop(name, None)
            return False
        for name, value in self._origin_headers.items():
            headers.setdefault(name, value)
        if self._fixed is not None:
            headers["Authorization"] = self._fixed
            return False
        return True

    def call_source(self) -> object:
        """What the token callable returns: the token, or an awaitable of it (``async_token``)."""
        if self._source is None:
            raise RuntimeError("this client's token comes from its ClientCredentials")
        return self._source()

    def put(self, request: httpx.Request, token: object) -> None:
        """Attach ``token`` (checked: ``bearer_value``) and remember it for redaction. The
        same token as last time is attached as checked then (the common, cached case)."""
        last = self._last
        if last is not None and last[0] == token:
            request.headers["Authorization"] = last[1]
            return
        value = bearer_value(token)
        request.headers["Authorization"] = value
        with self._sent_lock:
            if value[7:] not in self._sent:
                self._sent.append(Hidden(value[7:]))
        self._last = (Hidden(value[7:]), value)

    def remember(self, values: set[str]) -> None:
        """Redact ``values`` (secrets a call sends, see ``secret_strings``) from every error,
        log record and repr of this client from now on (the latest ``MAX_SECRET_VALUES``)."""
        with self._sent_lock:
            self._extra.extend(values - set(self._extra))

    def invalidate(self, refused: str) -> object:
        """Forget the token the gateway ``refused`` (an ``Authorization`` value): for credentials
        exactly that token; else the callable's ``invalidate()``, whose result (maybe an
        awaitable) is returned."""
        if self.credentials is not None:
            self.credentials._invalidate(refused.partition(" ")[2])
            return None
        invalidate = getattr(self._source, "invalidate", None)
        return invalidate() if callable(invalidate) else None

    def secrets(self, *requests: httpx.Request | None) -> set[str]:
        """The values to redact from an error about ``requests``: the fixed token, the last
        ``RECENT_TOKENS`` a callable gave (so concurrent calls with a fresh token each are all
        redacted), the origin headers, the credentials' secrets and tokens, and the
        ``Authorization`` value of each request."""
        with self._sent_lock:
            found: set[str] = {*self._sent, *self._extra}
        found.update(self._origin_headers.values())
        if self.credentials is not None:
            found.update(self.credentials._hidden_values())
        if self._fixed is not None:
            found.add(self._fixed[7:])
        for request in requests:
            if request is None:
                continue
            header = request.headers.get("Authorization")
            if header:
                scheme, _, value = header.partition(" ")
                found.add(value.strip() if value.strip() else scheme)
        return found

    def redactor(self, *requests: httpx.Request | None) -> Redact | None:
        """A function replacing the tokens of :meth:`secrets` by ``***`` in a text (those of at
        least ``MIN_REDACTED`` characters), or None when there is nothing to redact. With
        ``cut=True`` the text was cut at its end (a body cap): a token's first characters ending
        it are replaced too."""
        return make_redactor(self.secrets(*requests))

    def redact(self, text: str, request: httpx.Request | None = None) -> str:
        """``text`` with the tokens of :meth:`secrets` replaced by ``***``."""
        redact = self.redactor(request)
        return text if redact is None else redact(text)
