"""The mock gateway's token endpoint: access keys in, short-lived bearer tokens out.

``POST /token`` on the gateway's root (outside the base path, like the real gateway host)
answers the OAuth 2.0 client-credentials grant the way the gateway does: the access key id and
secret in ``Authorization: Basic base64("<id>:<secret>")`` (raw values joined by a colon), the
form body ``grant_type=client_credentials``, and a JSON answer with ``access_token``,
``token_type`` and ``expires_in``. Issued tokens are accepted until they expire.

Errors follow RFC 6749 section 5.2: wrong or missing credentials are 401
``{"error": "invalid_client"}``, another grant type is 400 ``unsupported_grant_type``, a body
that is not a form or lacks ``grant_type`` is 400 ``invalid_request``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from .sending import Reply

__all__ = [
    "DEFAULT_TOKEN_LIFETIME",
    "MAX_ISSUED_TOKENS",
    "TOKEN_PATH",
    "TokenIssuer",
    "TokenReply",
    "parse_access_key",
]

TOKEN_PATH = "/token"
"""Where the token endpoint lives, on the gateway's root."""
DEFAULT_TOKEN_LIFETIME = 3600
"""Seconds an issued token is accepted, unless ``--token-lifetime`` says otherwise."""
MAX_ISSUED_TOKENS = 10_000
"""Live issued tokens kept; past this the oldest is forgotten (and no longer accepted)."""
_FORM = "application/x-www-form-urlencoded"
_NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
_BASIC_CHALLENGE = {"www-authenticate": 'Basic realm="token"'}
INVALID_TOKEN_CHALLENGE = 'Bearer error="invalid_token"'
"""``WWW-Authenticate`` of a gateway 401 for a token that is not (or no longer) accepted."""


def _secret_char(c: str) -> bool:
    """RFC 6749's client-secret characters (VSCHAR, printable ASCII, the space included), and
    printable non-space characters beyond ASCII."""
    return " " <= c <= "~" or (c.isprintable() and not c.isspace())


def parse_access_key(text: str) -> tuple[str, str]:
    """``ID:SECRET`` -> ``(id, secret)``; ``ValueError`` (not echoing the secret) when either
    part is empty, the id has whitespace or control characters, or the secret has control
    characters or whitespace other than the space. The id cannot contain ``:``; the secret
    can (everything after the first ``:`` is the secret)."""
    key_id, sep, secret = text.partition(":")
    if not sep or not key_id or not secret:
        raise ValueError("an access key must look like ID:SECRET, with neither part empty")
    if any(c.isspace() or not c.isprintable() for c in key_id):
        raise ValueError(
            f"access key {key_id!r}: the id may not contain whitespace or control characters"
        )
    if not all(map(_secret_char, secret)):
        raise ValueError(
            f"access key {key_id!r}: the secret may contain printable characters and spaces, "
            "not control characters, tabs or line breaks"
        )
    return key_id, secret


@dataclass(frozen=True, slots=True)
class TokenReply:
    """What the endpoint answers: status, extra headers and a JSON payload."""

    status: int
    """The HTTP status."""
    payload: dict[str, Any]
    """The JSON body: a token, or an OAuth error."""
    headers: Mapping[str, str]
    """Extra response headers (``Cache-Control``, ``WWW-Authenticate``, ``Allow``)."""


def _oauth_error(
    status: int, error: str, description: str, headers: Mapping[str, str] | None = None
) -> TokenReply:
    payload = {"error": error, "error_description": description}
    return TokenReply(status, payload, {**_NO_STORE, **(headers or {})})


class TokenIssuer:
    """Access keys, issued tokens and their expiry. Thread-safe.

    With access keys (``ID:SECRET`` strings, or a mapping of id to secret) the gateway accepts
    only the tokens issued here (until they expire) and its static ``--token`` values.

    ``access_keys`` maps access key ids to secrets; ``lifetime`` is the seconds an issued token
    is accepted; ``clock`` (monotonic seconds) is the gateway's, so tests can drive expiry.
    """

    def __init__(
        self,
        access_keys: Mapping[str, str] | Iterable[str] | None = None,
        *,
        lifetime: int = DEFAULT_TOKEN_LIFETIME,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if isinstance(lifetime, bool) or not isinstance(lifetime, int) or lifetime < 1:
            raise ValueError(f"token lifetime must be a whole number of seconds >= 1: {lifetime!r}")
        keys: dict[str, str] = {}
        if isinstance(access_keys, Mapping):
            items = [parse_access_key(f"{k}:{v}") for k, v in access_keys.items()]
        else:
            items = [parse_access_key(text) for text in access_keys or ()]
        for key_id, secret in items:
            keys[key_id] = secret
        self.access_keys: Mapping[str, str] = keys
        self.lifetime = lifetime
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._issued: OrderedDict[str, float] = OrderedDict()
        self._counts = {"requests": 0, "issued": 0, "rejected": 0}

    @property
    def enabled(self) -> bool:
        """Whether access keys are configured (then only issued and static tokens pass)."""
        return bool(self.access_keys)

    def counts(self) -> dict[str, int]:
        """Token requests received, tokens issued, requests rejected; live tokens held."""
        with self._lock:
            return {**self._counts, "live": len(self._issued)}

    def accepts(self, token: str) -> bool:
        """Whether ``token`` was issued here and has not expired yet."""
        now = self._clock()
        with self._lock:
            expiry = self._issued.get(token)
            if expiry is None:
                return False
            if now >= expiry:
                del self._issued[token]
                return False
            return True

    def reply(self, method: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """:meth:`handle` as the gateway's JSON reply."""
        from .sending import json_reply

        answer = self.handle(method, headers, body)
        return json_reply(answer.status, answer.payload, answer.headers)

    def authenticate(self, token: str, static: Iterable[str] | None) -> None:
        """Accept ``token`` when it is one of ``static`` (``--token``) or issued here and not
        expired; else raise the gateway's 401 with ``Bearer error="invalid_token"``."""
        from .sending import HTTPError

        if token in (static or ()) or self.accepts(token):
            return
        challenge = {"www-authenticate": INVALID_TOKEN_CHALLENGE}
        raise HTTPError(401, "Invalid or expired token", challenge)

    def handle(self, method: str, headers: Mapping[str, str], body: bytes) -> TokenReply:
        """Answer one request to the token endpoint (``headers`` with lower-case names)."""
        if method != "POST":
            return TokenReply(
                405,
                {"error": "invalid_request", "error_description": "use POST"},
                {**_NO_STORE, "allow": "POST"},
            )
        with self._lock:
            self._counts["requests"] += 1
        reply = self._answer(headers, body)
        with self._lock:
            self._counts["issued" if reply.status == 200 else "rejected"] += 1
        return reply

    def _answer(self, headers: Mapping[str, str], body: bytes) -> TokenReply:
        key_id = self._client(headers.get("authorization", ""))
        if key_id is None:
            return _oauth_error(
                401, "invalid_client", "unknown access key or wrong secret", _BASIC_CHALLENGE
            )
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != _FORM:
            return _oauth_error(400, "invalid_request", f"Content-Type must be {_FORM}")
        try:
            form = parse_qs(body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            form = {}
        grant_types = form.get("grant_type", [])
        if len(grant_types) != 1:
            return _oauth_error(400, "invalid_request", "the form needs one grant_type")
        if grant_types[0] != "client_credentials":
            return _oauth_error(
                400, "unsupported_grant_type", "only grant_type=client_credentials is supported"
            )
        return TokenReply(
            200,
            {
                "access_token": self._issue(),
                "token_type": "Bearer",
                "expires_in": self.lifetime,
            },
            dict(_NO_STORE),
        )

    def _client(self, authorization: str) -> str | None:
        """The access key id the Basic credentials prove, or None."""
        scheme, _, encoded = authorization.strip().partition(" ")
        if scheme.lower() != "basic" or not encoded.strip():
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        key_id, sep, secret = decoded.partition(":")
        expected = self.access_keys.get(key_id)
        if not sep or expected is None:
            return None
        if not hmac.compare_digest(secret.encode(), expected.encode()):
            return None
        return key_id

    def _issue(self) -> str:
        token = "mock-" + secrets.token_urlsafe(24)
        now = self._clock()
        with self._lock:
            issued = self._issued  # oldest first: expiries come in the order of issue
            while issued:
                old, expiry = next(iter(issued.items()))
                if expiry > now and len(issued) < MAX_ISSUED_TOKENS:
                    break
                del issued[old]
            self._issued[token] = now + self.lifetime
        return token
