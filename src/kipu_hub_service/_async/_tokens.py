"""Tokens of a ``ClientCredentials``: one token request in flight, sent by a request loop.

:func:`current_token` is what the request loop asks when a gateway request needs the token: the
cached token, the answer of the token request another caller has in flight, or a new request
this caller sends (the others wait for it). The sending is the loop's (``AsyncTokenSender``):
the token request is a request like any other there, under the time budget of the call that
needs the token.
"""

from __future__ import annotations

from typing import Protocol

import httpx

from .._backend import AsyncBackend
from .._calls import Answer, CallOptions
from .._credentials import FlightAbandoned, _TokenCache
from .._errors import ErrorMapper, redact_error
from .._exchange import IssuedToken
from .._retry import Budget
from .._secrets import Hidden
from ..core.api_error import BODY_CAP, ApiError

MAX_ROUNDS = 8
"""Times a caller starts over after the caller it waited for was cancelled."""


class AsyncTokenSender(Protocol):
    """What sends the token request: the request loop of a client."""

    errors: ErrorMapper
    """Builds the errors of the sender's client."""

    async def send_token_request(
        self, credentials: _TokenCache, opts: CallOptions, budget: Budget
    ) -> Answer:
        """Send the token request of ``credentials`` within ``budget``."""
        ...

    async def error_body(self, response: httpx.Response) -> bytes:
        """A non-2xx answer's body, capped."""
        ...


async def current_token(
    credentials: _TokenCache, sender: AsyncTokenSender, opts: CallOptions, budget: Budget
) -> Hidden:
    """The credentials' current token; fetched through ``sender`` when none is fresh."""
    for _ in range(MAX_ROUNDS):
        ticket = credentials._begin()
        if ticket.token is not None:
            return Hidden(ticket.token)
        flight = ticket.flight
        assert flight is not None
        if ticket.leader:
            try:
                issued = await exchange(credentials, sender, opts, budget)
            except BaseException as exc:
                credentials._crash(flight, exc)
                raise
            credentials._land(flight, issued)
            return Hidden(issued.access_token)
        try:
            issued = await AsyncBackend.wait_flight(flight, credentials._wait_timeout)
        except FlightAbandoned:
            continue
        except TimeoutError:
            raise TimeoutError(
                f"waited {credentials._wait_timeout:g} s for another caller's token request "
                f"for access key {credentials.access_key_id!r}"
            ) from None
        except Exception as exc:
            credentials._rethrow(exc)
        return Hidden(issued.access_token)
    raise RuntimeError("the token request was cancelled again and again; giving up")


async def exchange(
    credentials: _TokenCache, sender: AsyncTokenSender, opts: CallOptions, budget: Budget
) -> IssuedToken:
    """Send one token request (with the call's retries, in its budget) and read its answer.

    400/401 -> ``TokenEndpointError``; another non-2xx status -> the usual ``APIStatusError``;
    a 2xx answer without a usable token -> ``ResponseValidationError``. Each names the token
    endpoint and where it came from (the argument, the environment or the default).
    """
    sent_at = credentials._now()
    try:
        answer = await sender.send_token_request(credentials, opts, budget)
        response = answer.response
        if answer.body is not None:
            return credentials._issued_token(answer.body, sent_at)
        content = await sender.error_body(response)
        if response.status_code in (400, 401):
            raise credentials._refusal(response.status_code, content[:BODY_CAP], response.headers)
        error = sender.errors.status_error(response, content[:BODY_CAP], len(content) > BODY_CAP)
        redact_error(error, credentials._redact, content)
        raise error
    except ApiError as error:
        error.args = (f"{error} {credentials._endpoint_note()}",)
        raise
