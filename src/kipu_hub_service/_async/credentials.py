"""Tokens of a ``ClientCredentials``: one token request in flight, sent through a client.

:func:`current_token` is what a client's auth asks for every request: the cached token, the
answer of the token request another caller has in flight, or a new request this caller sends
(the others wait for it). :func:`exchange` sends the request through the client's funnel, so
it gets the client's retry policy (network errors, 429 and 5xx are retried: the exchange is
safe to repeat), redirects (the secret never goes to another origin) and error mapping.
"""

from __future__ import annotations

from .._backend import AsyncBackend
from .._bodies import BODY_KEY
from .._config import ClientConfig
from .._credentials import ClientCredentials, FlightAbandoned, IssuedToken
from .._errors import redact_error
from .._retry import SAFE_TO_REPEAT
from ..core.api_error import BODY_CAP
from ._funnel import AsyncFunnel, make_http_client

MAX_ROUNDS = 8
"""Times a caller starts over after the caller it waited for was cancelled."""


async def current_token(credentials: ClientCredentials, funnel: AsyncFunnel) -> str:
    """The credentials' current token; fetched through ``funnel`` when none is fresh."""
    for _ in range(MAX_ROUNDS):
        ticket = credentials._begin()
        if ticket.token is not None:
            return ticket.token
        flight = ticket.flight
        assert flight is not None
        if ticket.leader:
            try:
                issued = await exchange(credentials, funnel)
            except BaseException as exc:
                credentials._crash(flight, exc)
                raise
            credentials._land(flight, issued)
            return issued.access_token
        try:
            issued = await AsyncBackend.wait_flight(flight, credentials.wait_timeout)
        except FlightAbandoned:
            continue
        except TimeoutError:
            raise TimeoutError(
                f"waited {credentials.wait_timeout:g} s for another caller's token request "
                f"for access key {credentials.access_key_id!r}"
            ) from None
        except Exception as exc:
            credentials._rethrow(exc)
        return issued.access_token
    raise RuntimeError("the token request was cancelled again and again; giving up")


async def exchange(credentials: ClientCredentials, funnel: AsyncFunnel) -> IssuedToken:
    """Send one token request (with the client's retries) and read its answer.

    400/401 -> ``TokenEndpointError``; another non-2xx status -> the usual ``APIStatusError``;
    a 2xx answer without a usable token -> ``ResponseValidationError``.
    """
    request = credentials.token_request()
    request.headers["User-Agent"] = funnel.config.headers["User-Agent"]
    request.extensions[SAFE_TO_REPEAT] = True
    sent_at = credentials.now()
    response = await funnel.send(request, funnel.config.policy, auth=credentials.endpoint_auth)
    if response.is_success:
        return credentials.issued_token(response.extensions[BODY_KEY], sent_at)
    content = await funnel.error_body(response)
    if response.status_code in (400, 401):
        raise credentials.refusal(response.status_code, content[:BODY_CAP], response.headers)
    error = funnel.errors.status_error(response, content[:BODY_CAP], len(content) > BODY_CAP)
    redact_error(error, credentials.redact, content)
    raise error


async def standalone_token(
    credentials: ClientCredentials,
    timeout: float | None,  # noqa: ASYNC109 (each HTTP request's timeout, not a deadline)
    max_retries: int | None,
) -> str:
    """``get_token()`` without a client: a short-lived HTTP client (default settings unless
    ``timeout``/``max_retries`` say otherwise) when a token has to be fetched."""
    cached = credentials.cached_token()
    if cached is not None:
        return cached
    config = ClientConfig(
        base_url=credentials.token_endpoint,
        environment=None,
        token=credentials,
        headers=None,
        timeout=timeout,
        max_retries=max_retries,
        follow_redirects=True,
        logging_config=None,
        injected=False,
        forward_parent_token=False,
    )
    client = make_http_client(config)
    try:
        return await current_token(credentials, AsyncFunnel(config, client))
    finally:
        await client.aclose()
