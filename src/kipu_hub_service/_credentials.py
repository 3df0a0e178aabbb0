"""Access keys in, fresh bearer tokens out: the sans-I/O part of ``ClientCredentials``.

The gateway's token endpoint exchanges an application's access key id and secret access key for
a short-lived bearer token (the OAuth 2.0 client-credentials grant, as the gateway and the
vendor's ``qhub-service`` wrapper do it)::

    POST /token
    Authorization: Basic base64("<access_key_id>:<secret_access_key>")
    Content-Type: application/x-www-form-urlencoded
    Accept: application/json

    grant_type=client_credentials

This module builds that request, reads the answer, and keeps one token per credentials object:
reused while more than the refresh margin of its lifetime is left, fetched again before it
expires. One token request is in flight at a time, whoever asks (threads, tasks, several
clients sharing the object): one ``threading.Lock`` guards the cache, and a
``concurrent.futures.Future`` carries the answer of the request in flight to everyone waiting
for it (sync callers block on it, async callers await it without blocking their loop). The
sending itself is the request loop's (``_async/_tokens.py``); the public class, with
``get_token``, is ``credentials.ClientCredentials``.
"""

from __future__ import annotations

import base64
import collections
import copy
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any, NoReturn

from ._exchange import (
    EndpointAuth,
    IssuedToken,
    TokenEndpointError,
    check_endpoint,
    check_value,
    parse_issued,
    positive,
    refusal,
)
from ._secrets import Hidden, redact_cut_end
from .core.api_error import ResponseValidationError

DEFAULT_TOKEN_ENDPOINT = "https://gateway.hub.kipu-quantum.com/token"
"""The gateway's token endpoint."""
DEFAULT_REFRESH_MARGIN = 60.0
"""Seconds before expiry at which a token is fetched again (at most half its lifetime)."""
DEFAULT_TOKEN_LIFETIME = 300.0
"""Seconds a token is assumed valid when the answer has no ``expires_in``."""
DEFAULT_WAIT_TIMEOUT = 300.0
"""Seconds a caller waits for another caller's token request before ``TimeoutError``."""
ACCESS_KEY_ID_ENV = "HUB_SERVICE_ACCESS_KEY_ID"
"""Environment variable with the access key id (:meth:`ClientCredentials.from_env`)."""
SECRET_ACCESS_KEY_ENV = "HUB_SERVICE_SECRET_ACCESS_KEY"
"""Environment variable with the secret access key (:meth:`ClientCredentials.from_env`)."""
TOKEN_ENDPOINT_ENV = "HUB_SERVICE_TOKEN_ENDPOINT"
"""Optional environment variable with another token endpoint (a mock, another region)."""
_REMEMBERED = 16
"""Tokens issued to one object that are remembered, so errors can redact them."""


class _Ticket:
    """What a caller gets from :meth:`ClientCredentials._begin`: the token to use, or the
    flight to wait for (``leader``: this caller must send the token request itself)."""

    __slots__ = ("flight", "leader", "token")

    def __init__(
        self, token: str | None, flight: Future[IssuedToken] | None = None, leader: bool = False
    ) -> None:
        self.token = token
        self.flight = flight
        self.leader = leader


class FlightAbandoned(Exception):
    """The caller sending the token request was cancelled; a waiting caller tries again."""


class _TokenCache:
    """An access key and its current token: the checks, the cache, the one token request in
    flight and redaction. ``ClientCredentials`` adds the public face (``get_token``)."""

    def __init__(
        self,
        access_key_id: str,
        secret_access_key: str,
        *,
        token_endpoint: str = DEFAULT_TOKEN_ENDPOINT,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        default_lifetime: float = DEFAULT_TOKEN_LIFETIME,
        wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._access_key_id = check_value("access_key_id", access_key_id)
        if ":" in access_key_id:
            raise ValueError("access_key_id may not contain ':' (it ends the id in Basic auth)")
        secret = Hidden(check_value("secret_access_key", secret_access_key))
        self._endpoint = check_endpoint(token_endpoint)
        self._endpoint_source = (
            "the default" if token_endpoint == DEFAULT_TOKEN_ENDPOINT else "the argument"
        )
        """Where ``token_endpoint`` came from, for errors (``from_env`` names its variable)."""
        self._refresh_margin = positive("refresh_margin", refresh_margin, zero=True)
        self._default_lifetime = positive("default_lifetime", default_lifetime)
        self._wait_timeout = positive("wait_timeout", wait_timeout)
        self._clock = clock
        basic = Hidden(base64.b64encode(f"{access_key_id}:{secret}".encode()).decode("ascii"))
        self._secrets = (secret, basic)
        self._endpoint_auth = EndpointAuth(Hidden("Basic " + basic), self._endpoint)
        """The Basic credentials of the token request (the endpoint's origin only)."""
        self._lock = threading.Lock()
        self._token: IssuedToken | None = None
        self._flight: Future[IssuedToken] | None = None
        self._issued: collections.deque[str] = collections.deque(maxlen=_REMEMBERED)

    @property
    def access_key_id(self) -> str:
        """The access key id (not secret: it names the key in errors)."""
        return self._access_key_id

    @property
    def token_endpoint(self) -> str:
        """The URL tokens are fetched from."""
        return str(self._endpoint)

    def __repr__(self) -> str:
        return (
            f"ClientCredentials(access_key_id={self._access_key_id!r}, "
            f"token_endpoint={self.token_endpoint!r})"
        )

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError(
            "ClientCredentials cannot be pickled: it holds a secret access key; create it again "
            "where it is needed (e.g. ClientCredentials.from_env())"
        )

    def __copy__(self) -> _TokenCache:
        """The same object: copies would each fetch their own tokens."""
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _TokenCache:
        return self

    def _endpoint_note(self) -> str:
        """What errors of the token request add: which endpoint, and where it came from."""
        return f"(token endpoint {self.token_endpoint}, from {self._endpoint_source})"

    # -- redaction -----------------------------------------------------------------------------

    def _hidden_values(self) -> list[str]:
        """What must never appear in output: the secret, its Basic value, recent tokens."""
        with self._lock:
            return [*self._secrets, *self._issued]

    def _redact(self, text: str, *, cut: bool = False) -> str:
        """``text`` with the secret, its Basic value and tokens issued here replaced by ``***``;
        with ``cut`` (a text cut at its end by a cap), a start of one ending it too."""
        hidden = sorted(self._hidden_values(), key=len, reverse=True)
        for value in hidden:
            text = text.replace(value, "***")
        return redact_cut_end(text, hidden) if cut else text

    # -- the exchange (sans-I/O: the request loop sends it) ------------------------------------

    def _now(self) -> float:
        """The credentials' clock (monotonic seconds); read it before sending a request."""
        return self._clock()

    def _issued_token(self, content: bytes, sent_at: float) -> IssuedToken:
        """The token in a 2xx answer's body, its lifetime counted from ``sent_at``;
        ``ResponseValidationError`` (never quoting the body) when it has no usable
        ``access_token``, a ``token_type`` other than Bearer or a bad ``expires_in``."""
        issued = parse_issued(
            content,
            sent_at=sent_at,
            refresh_margin=self._refresh_margin,
            default_lifetime=self._default_lifetime,
            invalid=self._invalid,
            redact=self._redact,
        )
        with self._lock:
            self._issued.append(issued.access_token)
        return issued

    def _invalid(self, what: str) -> NoReturn:
        raise ResponseValidationError(
            f"POST {self._endpoint.path}: the token endpoint's answer for access key "
            f"{self._access_key_id!r} {what}",
            method="POST",
            url=self.token_endpoint,
        )

    def _refusal(
        self, status: int, content: bytes, headers: Mapping[str, str] | None = None
    ) -> TokenEndpointError:
        """The ``TokenEndpointError`` for a 400/401 answer of the token endpoint."""
        return refusal(
            status,
            content,
            headers,
            access_key_id=self._access_key_id,
            url=self.token_endpoint,
            redact=self._redact,
        )

    # -- the cache and the one flight ----------------------------------------------------------

    def _cached_token(self) -> Hidden | None:
        """The cached token while it is fresh (more than the refresh margin left), else None."""
        token = self._token
        if token is not None and self._clock() < token.refresh_at:
            return token.access_token
        return None

    def _invalidate(self, token: str | None = None) -> None:
        """Forget the cached token (after the gateway refused it with 401), so the next call
        fetches a new one; with ``token``, only when that is still the cached one."""
        with self._lock:
            if self._token is not None and token in (None, self._token.access_token):
                self._token = None

    def _begin(self) -> _Ticket:
        """A fresh cached token; or a flight: the one in progress, or a new one to lead.

        While a refresh is in flight and the old token has not expired yet, the old one is
        used: only callers without a valid token wait.
        """
        now = self._clock()
        with self._lock:
            token = self._token
            if token is not None and now < token.refresh_at:
                return _Ticket(token.access_token)
            if self._flight is not None:
                if token is not None and now < token.expires_at:
                    return _Ticket(token.access_token)
                return _Ticket(None, self._flight)
            flight: Future[IssuedToken] = Future()
            flight.set_running_or_notify_cancel()  # a waiter's cancel() cannot cancel it
            self._flight = flight
            return _Ticket(None, flight, leader=True)

    def _land(self, flight: Future[IssuedToken], issued: IssuedToken) -> None:
        """The leader's token request succeeded: cache the token, wake the waiters."""
        with self._lock:
            self._token = issued
            if self._flight is flight:
                self._flight = None
        flight.set_result(issued)

    def _crash(self, flight: Future[IssuedToken], error: BaseException) -> None:
        """The leader's token request failed (waiters get a copy of ``error``) or was
        cancelled (waiters try again)."""
        with self._lock:
            if self._flight is flight:
                self._flight = None
        if not isinstance(error, Exception):
            error = FlightAbandoned()
        flight.set_exception(error)

    @staticmethod
    def _rethrow(error: BaseException) -> NoReturn:
        """Raise a waiter's copy of the leader's error (one object raised in several threads
        would share and garble its traceback)."""
        try:
            duplicate = copy.copy(error)
        except Exception:
            duplicate = error
        raise duplicate from None
