"""The one request loop: a call's time budget spans retries, redirect hops and the token request;
the token request is read within the call's deadline and its own cap; Basic credentials never
reach a proxy from the environment; no token or secret is left in a traceback's locals.

Every case runs on the sync client, the async client on httpx's transport and the async client
on aiohttp (``KINDS``), against scripted servers on 127.0.0.1. Memory is checked with
``tracemalloc`` peaks, never timings.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import traceback
from typing import Any

import pytest
from _scripted_server import (
    KINDS,
    ScriptedServer,
    compressed,
    endless_script,
    head,
    peak_of,
    run,
    trickle_script,
)

from kipu_hub_service import (
    APIConnectionError,
    ApiError,
    APITimeoutError,
    AsyncHubServiceClient,
    ClientCredentials,
    HubServiceClient,
    InternalServerError,
    ResponseTooLargeError,
    RetryPolicy,
)

KiB = 1024
TOKEN = "tok-TRACE-4f1d9a7c2b"
KEY_ID = "AKID-7"
SECRET = "sec-SECRET-0e9f8d7c6b"
BASIC = base64.b64encode(f"{KEY_ID}:{SECRET}".encode()).decode()
ISSUED = "issued-TOKEN-5a4b3c2d1e"


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def sequence(*answers: bytes) -> Any:
    """A script answering the n-th request with ``answers[n]`` (the last one repeats)."""
    sent: list[int] = []

    def script(conn: socket.socket, _: bytes) -> None:
        answer = answers[min(len(sent), len(answers) - 1)]
        sent.append(1)
        conn.sendall(answer)

    return script


def status(code: int, *headers: str, body: bytes = b"") -> bytes:
    return (
        head(code, f"Content-Length: {len(body)}", "Content-Type: application/json", *headers)
        + body
    )


EXECUTION = b'{"id": "e1", "status": "RUNNING", "createdAt": "2026-01-01T00:00:00Z"}'


# -- one budget per call -------------------------------------------------------------------------


def test_a_call_retried_across_a_redirect_never_waits_past_its_budget(kind: str) -> None:
    """Two 503s, a redirect, then 503s: with 5 s waits and ``max_elapsed=16`` the call may
    wait three times in all. A budget made per hop would wait five times and succeed. (The
    waits are not slept, but the requests' real time counts: it may take up to 1 s.)"""
    waits: list[float] = []
    policy = RetryPolicy(
        max_retries=10,
        initial_delay=5.0,
        max_delay=5.0,
        jitter=0.0,
        max_elapsed=16.0,
        sleep=waits.append,
    )
    moved = status(302, "Location: /acme/vqe/v1/moved")
    answers = (status(503), status(503), moved, status(503), status(503), status(503))
    with ScriptedServer(sequence(*answers, status(200, body=EXECUTION))) as server:
        base = server.url + "/acme/vqe/v1"
        error = peak_of(
            lambda: run(
                kind, base, lambda api: api.get_status("e1"), retry_policy=policy, max_retries=10
            )
        )[1]
    assert isinstance(error, InternalServerError), error
    assert sum(waits) <= 16.0 and waits == [5.0, 5.0, 5.0]
    assert len(server.heads) == 5 and b"/moved" in server.heads[3]


# -- the token request under the call's bounds ----------------------------------------------------


def _credentials(endpoint: str) -> ClientCredentials:
    return ClientCredentials(KEY_ID, SECRET, token_endpoint=endpoint + "/token")


def _token_call(kind: str, endpoint: str, **options: Any) -> Any:
    """``get_status`` on a gateway nobody serves, with credentials whose token comes from
    ``endpoint``: whatever happens, happens in the token request."""
    credentials = _credentials(endpoint)
    return peak_of(
        lambda: run(
            kind,
            "http://127.0.0.1:9/x",
            lambda api: api.get_status("e1"),
            token=credentials,
            **options,
        )
    )


@pytest.mark.parametrize("script", [trickle_script(400, 0.05), endless_script(400, 0.05)])
def test_a_trickled_token_answer_ends_within_the_read_deadline(kind: str, script: Any) -> None:
    with ScriptedServer(script) as server:
        error = _token_call(kind, server.url, timeout=0.25)[1]
    assert type(error) is APITimeoutError, error
    assert "within the read deadline of 1 s" in str(error)  # 4 read timeouts of 0.25 s
    assert "/token" in str(error)


@pytest.mark.parametrize("is_async", [False, True])
def test_get_token_ends_within_the_read_deadline(is_async: bool) -> None:
    with ScriptedServer(trickle_script(400, 0.05)) as server:
        credentials = _credentials(server.url)
        with pytest.raises(APITimeoutError, match="read deadline of 1 s"):
            if is_async:
                asyncio.run(credentials.aget_token(timeout=0.25, max_retries=0))
            else:
                credentials.get_token(timeout=0.25, max_retries=0)


@pytest.mark.parametrize("encoding", ["gzip", "identity"])
def test_an_oversized_token_answer_is_refused_near_its_cap(kind: str, encoding: str) -> None:
    size = 48 * 1024 * KiB
    body = compressed(size, 31) if encoding == "gzip" else b" " * size

    def script(conn: socket.socket, _: bytes) -> None:
        conn.sendall(head(200, f"Content-Encoding: {encoding}", f"Content-Length: {len(body)}"))
        conn.sendall(body)  # not joined to the head: the server's copy would count in the peak

    with ScriptedServer(script) as server:
        peak, error = _token_call(kind, server.url)
    assert type(error) is ResponseTooLargeError, error
    assert error.limit == 64 * KiB and "token answer cap" in str(error)
    assert peak < 64 * KiB + 512 * KiB, peak


# -- no Basic credentials through a proxy ---------------------------------------------------------


@pytest.mark.parametrize("is_async", [False, True])
def test_basic_credentials_never_go_through_an_environment_proxy(
    is_async: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = b'{"access_token": "%s", "expires_in": 300}' % ISSUED.encode()
    with (
        ScriptedServer(sequence(status(200, body=b"[]"))) as proxy,
        ScriptedServer(sequence(status(200, body=issued))) as endpoint,
    ):
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("QHUB_SERVICE_NO_AIOHTTP", "1")
        settings: dict[str, Any] = {
            "base_url": "http://gateway.invalid/acme/vqe/v1",
            "token": _credentials(endpoint.url),
            "max_retries": 0,
        }
        if is_async:

            async def main() -> Any:
                async with AsyncHubServiceClient(**settings) as client:
                    return await client.service_api.get_service_executions()

            assert asyncio.run(main()) == []
        else:
            with HubServiceClient(**settings) as client:
                assert client.service_api.get_service_executions() == []
    assert (
        len(endpoint.heads) == 1 and endpoint.header(b"authorization") == f"Basic {BASIC}".encode()
    )
    assert len(proxy.heads) == 1  # the gateway call, sent through the proxy as configured
    assert b"Basic" not in proxy.heads[0] and BASIC.encode() not in proxy.heads[0]
    assert proxy.header(b"authorization") == f"Bearer {ISSUED}".encode()


# -- tracebacks -----------------------------------------------------------------------------------


def _rendered(error: BaseException) -> str:
    """The traceback of ``error`` and of every exception it chains to, rendered with the locals
    of each frame, leaving out this test suite's own frames (which hold the token they pass)."""
    rendered = traceback.TracebackException.from_exception(error, capture_locals=True)
    parts: list[str] = []
    seen: set[int] = set()
    todo: list[traceback.TracebackException | None] = [rendered]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        parts.extend(item.format_exception_only())
        for frame in item.stack:
            if "/tests/" not in frame.filename:
                parts.append(f"{frame.filename}:{frame.lineno} {frame.name} {frame.locals}")
        todo.extend((item.__cause__, item.__context__))
    return "\n".join(parts)


def _drop_mid_body(conn: socket.socket, _: bytes) -> None:
    conn.sendall(head(200, "Content-Type: application/json", "Content-Length: 1000") + b"[{")


FAILURES = {
    "status": sequence(status(500, body=b'{"detail": "boom"}')),
    "drop": _drop_mid_body,
    "redirect-loop": sequence(status(302, "Location: /acme/vqe/v1/again")),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
@pytest.mark.parametrize("source", ["fixed", "credentials"])
def test_tracebacks_with_locals_hold_no_token(kind: str, failure: str, source: str) -> None:
    issued = b'{"access_token": "%s"}' % ISSUED.encode()
    with (
        ScriptedServer(FAILURES[failure]) as gateway,
        ScriptedServer(sequence(status(200, body=issued))) as endpoint,
    ):
        token: Any = TOKEN if source == "fixed" else _credentials(endpoint.url)
        base = gateway.url + "/acme/vqe/v1"
        error = peak_of(lambda: run(kind, base, lambda api: api.get_status("e1"), token=token))[1]
    assert isinstance(error, ApiError), error
    sent = gateway.header(b"authorization") or b""
    assert sent.endswith((TOKEN if source == "fixed" else ISSUED).encode())  # it was sent
    text = _rendered(error)
    assert "_funnel.py" in text and "'self': " in text  # the loop's frames, with locals
    for secret in (TOKEN, ISSUED, SECRET, BASIC):
        assert secret not in text


def test_tracebacks_with_locals_hold_no_token_when_the_connection_is_refused(kind: str) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    error = peak_of(
        lambda: run(
            kind, f"http://127.0.0.1:{port}/x", lambda api: api.get_status("e1"), token=TOKEN
        )
    )[1]
    assert type(error) is APIConnectionError, error
    assert TOKEN not in _rendered(error)
    assert f"http://127.0.0.1:{port}" in str(error)  # the error names the host it tried


# -- errors name the host and the token endpoint -------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "argument", "source", "endpoint"),
    [
        ({}, None, "the default", "https://gateway.hub.kipu-quantum.com/token"),
        (
            {"HUB_SERVICE_TOKEN_ENDPOINT": "http://127.0.0.1:7/token"},
            None,
            "HUB_SERVICE_TOKEN_ENDPOINT",
            "http://127.0.0.1:7/token",
        ),
        (
            {},
            "https://auth.example.test/oauth/token",
            "the argument",
            "https://auth.example.test/oauth/token",
        ),
    ],
)
def test_a_failed_token_request_names_its_endpoint_and_where_it_came_from(
    driver_kind: str, environ: dict[str, str], argument: str | None, source: str, endpoint: str
) -> None:
    import httpx

    from kipu_hub_service.testing import sdk_transport

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno -2] Name or service not known")

    env = {"HUB_SERVICE_ACCESS_KEY_ID": KEY_ID, "HUB_SERVICE_SECRET_ACCESS_KEY": SECRET, **environ}
    options = {} if argument is None else {"token_endpoint": argument}
    credentials = ClientCredentials.from_env(env, **options)
    with sdk_transport(httpx.MockTransport(refuse)):
        if driver_kind == "sync":
            client = HubServiceClient(base_url="https://gw.example.test/x", token=credentials)
            with client, pytest.raises(APIConnectionError) as caught:
                client.service_api.get_status("e1", request_options={"max_retries": 0})
        else:

            async def main() -> None:
                async with AsyncHubServiceClient(
                    base_url="https://gw.example.test/x", token=credentials
                ) as c:
                    await c.service_api.get_status("e1", request_options={"max_retries": 0})

            with pytest.raises(APIConnectionError) as caught:
                asyncio.run(main())
    message = str(caught.value)
    host = httpx.URL(endpoint)
    port = host.port or 443
    assert f"connection to {host.scheme}://{host.host}:{port} failed" in message
    assert f"(token endpoint {endpoint}, from {source})" in message
    assert SECRET not in message and BASIC not in message


@pytest.fixture(params=["sync", "async"])
def driver_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)
