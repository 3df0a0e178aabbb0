"""``ClientCredentials``: an application's access key, exchanged for fresh gateway tokens.

The public face of ``_credentials._TokenCache`` (the checks, the cache, the one request in
flight): the constructor, :meth:`~ClientCredentials.from_env`, :meth:`~ClientCredentials.get_token`
and :meth:`~ClientCredentials.aget_token`, ``access_key_id`` and ``token_endpoint``. This module
sits above the request loop, which fetches the tokens; nothing below imports it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ._async._funnel import standalone_token as async_standalone_token
from ._credentials import (
    ACCESS_KEY_ID_ENV,
    DEFAULT_REFRESH_MARGIN,
    DEFAULT_TOKEN_ENDPOINT,
    DEFAULT_TOKEN_LIFETIME,
    DEFAULT_WAIT_TIMEOUT,
    SECRET_ACCESS_KEY_ENV,
    TOKEN_ENDPOINT_ENV,
    _TokenCache,
)
from ._exchange import TokenEndpointError
from ._sync._funnel import standalone_token

__all__ = [
    "ACCESS_KEY_ID_ENV",
    "DEFAULT_REFRESH_MARGIN",
    "DEFAULT_TOKEN_ENDPOINT",
    "DEFAULT_TOKEN_LIFETIME",
    "DEFAULT_WAIT_TIMEOUT",
    "SECRET_ACCESS_KEY_ENV",
    "TOKEN_ENDPOINT_ENV",
    "ClientCredentials",
    "TokenEndpointError",
]


class ClientCredentials(_TokenCache):
    """An application's access key, exchanged for fresh gateway tokens as they are needed.

    Pass it as ``token=`` to :class:`~kipu_hub_service.HubServiceClient` or
    :class:`~kipu_hub_service.AsyncHubServiceClient` (one object may serve several clients);
    :meth:`get_token` returns the current token for other tools.

    A token is reused until ``refresh_margin`` seconds (default 60, at most half the token's
    lifetime) before it expires, then fetched again; an answer without ``expires_in`` counts as
    ``default_lifetime`` seconds (default 300). A caller waits at most ``wait_timeout`` seconds
    (default 300) for another caller's token request. ``clock`` (monotonic seconds) is for
    tests. The secret access key is sent to ``token_endpoint`` only (https, or http on a
    loopback address reached directly, never through a proxy), and never appears in ``repr``,
    errors, logs or a traceback's local variables; the object cannot be pickled.
    """

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **options: Any
    ) -> ClientCredentials:
        """Credentials from ``HUB_SERVICE_ACCESS_KEY_ID``, ``HUB_SERVICE_SECRET_ACCESS_KEY``
        and, when set, ``HUB_SERVICE_TOKEN_ENDPOINT`` (``environ`` defaults to ``os.environ``;
        ``options`` are the other constructor arguments). A missing or empty key or secret is
        a ``ValueError`` naming the variable. Without ``HUB_SERVICE_TOKEN_ENDPOINT`` the
        gateway's own token endpoint is used; errors of a token request say which one and why."""
        env = os.environ if environ is None else environ
        values = []
        for name in (ACCESS_KEY_ID_ENV, SECRET_ACCESS_KEY_ENV):
            value = env.get(name, "")
            if not value:
                raise ValueError(f"{name} is not set (or empty): it is needed for the access key")
            values.append(value)
        endpoint = env.get(TOKEN_ENDPOINT_ENV)
        from_env = bool(endpoint) and "token_endpoint" not in options
        if from_env:
            options["token_endpoint"] = endpoint
        try:
            credentials = cls(values[0], values[1], **options)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"from the environment: {exc}") from None
        if from_env:
            credentials._endpoint_source = TOKEN_ENDPOINT_ENV
        return credentials

    def get_token(self, *, timeout: float | None = None, max_retries: int | None = None) -> str:
        """The current access token, for tools that need the raw string: the cached one while
        fresh, else a new one from the token endpoint, fetched with ``timeout`` seconds per
        request (default 60) and ``max_retries`` retries of transient failures (default 2).
        Clients given these credentials fetch through themselves (their own settings)."""
        return str(standalone_token(self, timeout, max_retries))

    async def aget_token(
        self,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (each HTTP request's timeout)
        max_retries: int | None = None,
    ) -> str:
        """:meth:`get_token` for async code: the fetch does not block the event loop."""
        return str(await async_standalone_token(self, timeout, max_retries))
