"""The token request and its answer, for :class:`~kipu_hub_service.ClientCredentials`.

Sans-I/O: what is sent (``FORM_BODY`` with ``TOKEN_HEADERS``, and the Basic credentials on the
endpoint's origin only), what a 2xx answer holds (:func:`parse_issued`) and what a 400/401
answer means (:func:`refusal`). The request loop (``_async/_funnel.py``) sends it like any other
request: the call's timeouts, read deadline and time budget, bounded decoding, and
``TOKEN_ANSWER_CAP`` as its size cap. Nothing here
keeps the secret in an error: a bad answer's body is never quoted, and an OAuth error's text is
redacted before it is kept.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import NamedTuple, NoReturn

import httpx

from ._secrets import Hidden, bearer_value
from .core.api_error import BODY_CAP, AuthenticationError

FORM_BODY = b"grant_type=client_credentials"
"""The body of every token request."""
TOKEN_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
"""The headers of every token request, besides ``User-Agent`` and the Basic credentials."""
TOKEN_ANSWER_CAP = BODY_CAP
"""Most bytes of a token answer (64 KiB decoded), enforced while it is read."""
_DESCRIPTION_CHARS = 200


class TokenEndpointError(AuthenticationError):
    """The token endpoint refused the access key (400 or 401, e.g. ``invalid_client``).

    ``status_code`` is the endpoint's status, ``oauth_error`` and ``error_description`` its
    OAuth error (RFC 6749 section 5.2, either None when absent), ``access_key_id`` the key it
    refused. Neither the secret access key nor a token is ever part of it.
    """

    access_key_id: str | None
    """The access key the endpoint refused."""
    oauth_error: str | None
    """The answer's OAuth ``error`` (``invalid_client``, ...), None when it had none."""
    error_description: str | None
    """The answer's ``error_description`` (redacted, one line, at most 200 characters)."""


class IssuedToken(NamedTuple):
    """A token from the endpoint and when (on the credentials' clock) to refresh it."""

    access_token: Hidden
    """The bearer token."""
    lifetime: float
    """Seconds it is valid for (``expires_in``, or the default lifetime)."""
    refresh_at: float
    """When (on the credentials' clock) a new one is fetched."""
    expires_at: float
    """When (on the credentials' clock) it expires."""

    def __repr__(self) -> str:
        return f"<IssuedToken lifetime={self.lifetime:g}s>"


class EndpointAuth:
    """The Basic credentials of the token request, for the token endpoint's origin only."""

    __slots__ = ("_origin", "_value")

    def __init__(self, value: Hidden, endpoint: httpx.URL) -> None:
        self._value = value
        self._origin = (endpoint.scheme, endpoint.host, endpoint.port)

    def __repr__(self) -> str:
        return "<ClientCredentials endpoint auth>"

    def applies_to(self, url: httpx.URL) -> bool:
        """Whether ``url`` is on the token endpoint's origin (a redirect elsewhere is not)."""
        return (url.scheme, url.host, url.port) == self._origin

    def apply(self, request: httpx.Request) -> None:
        """Add the Basic credentials on the endpoint's origin; remove them anywhere else."""
        if self.applies_to(request.url):
            request.headers["Authorization"] = self._value
        else:
            request.headers.pop("Authorization", None)


def check_value(name: str, value: object) -> str:
    """``value`` when it is a usable credential string; the errors never echo it."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} is empty")
    if value.strip() != value or any(not c.isprintable() for c in value):
        raise ValueError(f"{name} has surrounding whitespace or control characters")
    return value


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost`` or a loopback address)."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        import ipaddress  # only for an http token endpoint: not on the import path

        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(endpoint: object) -> httpx.URL:
    """The token endpoint as a URL: absolute http(s), no user info or fragment, and https
    unless the host is a loopback address (the secret must not travel in clear text)."""
    if not isinstance(endpoint, str | httpx.URL):
        raise TypeError(f"token_endpoint must be a str, got {type(endpoint).__name__}")
    try:
        url = httpx.URL(str(endpoint))
    except httpx.InvalidURL as exc:
        raise ValueError(f"token_endpoint is not a URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"token_endpoint must be an absolute http(s) URL, got {str(url)!r}")
    if url.userinfo or url.fragment:
        raise ValueError("token_endpoint may not contain user info or a fragment")
    if url.scheme == "http" and not is_loopback(url.host):
        raise ValueError(
            "token_endpoint must use https (plain http is allowed for loopback addresses only): "
            "the secret access key would travel unencrypted"
        )
    return url


def positive(name: str, value: object, *, zero: bool = False) -> float:
    """``value`` as seconds: a finite number > 0 (or >= 0 with ``zero``), else an error."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        raise ValueError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    return float(value)


def parse_issued(
    content: bytes,
    *,
    sent_at: float,
    refresh_margin: float,
    default_lifetime: float,
    invalid: Callable[[str], NoReturn],
    redact: Callable[[str], str],
) -> IssuedToken:
    """The token in a 2xx answer's body. ``invalid(what)`` raises for an answer without a
    usable ``access_token``, with a ``token_type`` other than Bearer or a bad ``expires_in``.
    The lifetime counts from ``sent_at``; the refresh margin is at most half of it."""
    try:
        body = json.loads(content) if len(content) <= BODY_CAP else None
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        invalid("is not a JSON object")
    token = body.get("access_token")
    try:
        bearer_value(token)
    except (TypeError, ValueError):
        what = "has no access_token" if token is None else "has an unusable access_token"
        invalid(f"{what} (keys: {key_summary(body, redact)})")
    assert isinstance(token, str)
    token_type = body.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        invalid("has a token_type other than Bearer")
    lifetime = _lifetime(body.get("expires_in"), default_lifetime, invalid)
    margin = min(refresh_margin, lifetime / 2)
    return IssuedToken(Hidden(token), lifetime, sent_at + lifetime - margin, sent_at + lifetime)


KEYS_SHOWN = 8
"""Keys of a bad token answer that its error names (the rest are counted)."""
KEY_CHARS = 40
"""Characters of each key shown (after redaction)."""


def key_summary(body: Mapping[str, object], redact: Callable[[str], str]) -> str:
    """The keys of a token answer for an error: at most ``KEYS_SHOWN``, each redacted and then
    cut to ``KEY_CHARS``, and how many more there are. Never the values."""
    keys = sorted(body)
    shown = []
    for key in keys[:KEYS_SHOWN]:
        text = " ".join(redact(str(key)).split())
        shown.append(repr(text if len(text) <= KEY_CHARS else text[: KEY_CHARS - 1] + "…"))
    more = len(keys) - len(shown)
    return (", ".join(shown) or "none") + (f" and {more} more" if more > 0 else "")


def _lifetime(value: object, default: float, invalid: Callable[[str], NoReturn]) -> float:
    if value is None:
        return default
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            invalid("has an expires_in that is not a number")
    if isinstance(value, bool) or not isinstance(value, int | float):
        invalid("has an expires_in that is not a number")
    if not math.isfinite(value) or value <= 0:
        invalid("has an expires_in that is not a positive number")
    return float(value)


def refusal(
    status: int,
    content: bytes,
    headers: Mapping[str, str] | None,
    *,
    access_key_id: str,
    url: str,
    redact: Callable[[str], str],
) -> TokenEndpointError:
    """The error for a 400/401 answer: its OAuth ``error`` and ``error_description``
    (redacted, on one line, shortened), the status and the access key id."""
    try:
        body = json.loads(content[:BODY_CAP]) if content else None
    except (ValueError, RecursionError):
        body = None
    fields: dict[str, str | None] = {"error": None, "error_description": None}
    if isinstance(body, dict):
        for name in fields:
            value = body.get(name)
            if isinstance(value, str) and value:
                fields[name] = " ".join(redact(value).split())[:_DESCRIPTION_CHARS]
    reason = fields["error"] or "no OAuth error code"
    if fields["error_description"]:
        reason += f": {fields['error_description']}"
    error = TokenEndpointError(
        f"the token endpoint refused access key {access_key_id!r} ({status} {reason})",
        status_code=status,
        headers={k: redact(v) for k, v in (headers or {}).items()},
        body={k: v for k, v in fields.items() if v is not None},
        method="POST",
        url=url,
    )
    error.access_key_id = access_key_id
    error.oauth_error = fields["error"]
    error.error_description = fields["error_description"]
    return error
