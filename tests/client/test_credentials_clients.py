"""``ClientCredentials`` on the clients: a scripted token endpoint behind ``httpx.MockTransport``.

Covers the exchange on the wire, caching and refresh, one token request for many callers
(threads and tasks), the 401 refresh, the retry and error path of the token request, redirects,
``get_token()`` and the parent execution token; nothing secret in any output.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import pickle
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from _credentials_support import Callers, Clock

from kipu_hub_service import (
    APIConnectionError,
    AsyncHubServiceClient,
    AuthenticationError,
    ClientCredentials,
    HubServiceClient,
    InternalServerError,
    ResponseValidationError,
    RetryPolicy,
    TokenEndpointError,
)
from kipu_hub_service.testing import sdk_transport

BASE = "https://gateway.test/acme/vqe/v1"
ENDPOINT = "https://gateway.test/token"
KEY_ID, SECRET = "AKID-7", "s3cr:et/+=-very-secret"
BASIC = "Basic " + base64.b64encode(f"{KEY_ID}:{SECRET}".encode()).decode()
PARENT = "parent-exec-token-4242"
NO_WAIT = RetryPolicy(no_delay=True)


class Endpoint:
    """A token endpoint and a gateway behind one ``MockTransport``, recording at send time.

    ``answers`` scripts the token endpoint: each token request takes the next entry (the last
    one repeats): a ``Response``, an exception to raise, or None for a fresh token. The gateway
    accepts the tokens this endpoint issued, minus ``refused``.
    """

    def __init__(self, *answers: httpx.Response | Exception | None, expires_in: Any = 3600):
        self.answers = list(answers) or [None]
        self.expires_in = expires_in
        self.token_requests: list[tuple[list[tuple[str, str]], bytes]] = []
        self.gateway_requests: list[dict[str, str]] = []
        self.issued: list[str] = []
        self.refused: set[str] = set()
        self.gate: threading.Event | None = None
        self.arrived = threading.Event()
        self.lock = threading.Lock()

    def token_answer(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.token_requests.append((list(request.headers.multi_items()), request.content))
            index = min(len(self.token_requests), len(self.answers)) - 1
            answer = self.answers[index]
        self.arrived.set()
        if self.gate is not None:
            assert self.gate.wait(10), "the test never released the token endpoint"
        if isinstance(answer, Exception):
            raise answer
        if answer is not None:
            return answer
        with self.lock:
            token = f"tok-{len(self.issued) + 1:04d}-issued"
            self.issued.append(token)
        body: dict[str, Any] = {"access_token": token, "token_type": "Bearer"}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return httpx.Response(200, json=body)

    def gateway_answer(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.gateway_requests.append(dict(request.headers))
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.issued or token in self.refused:
            return httpx.Response(401, json={"detail": f"Invalid token {token}"})
        return httpx.Response(200, json=[])

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        if request.url.path == "/token":
            return self.token_answer(request)
        return self.gateway_answer(request)

    def held_while(self, count: int, work: Callable[[], object]) -> Callers:
        """Run ``work`` in ``count`` threads while the first token request is held, until the
        callers have had time to reach it; then let it answer and wait for them."""
        self.gate = threading.Event()
        callers = Callers(count, work)
        callers.wait_started()
        assert self.arrived.wait(10)
        threading.Event().wait(0.2)  # let the others reach the flight
        self.gate.set()
        callers.join()
        return callers

    def bearer_tokens(self) -> list[str]:
        return [h.get("authorization", "").removeprefix("Bearer ") for h in self.gateway_requests]


def creds(**options: Any) -> ClientCredentials:
    options.setdefault("token_endpoint", ENDPOINT)
    return ClientCredentials(KEY_ID, SECRET, **options)


def sync_client(endpoint: Endpoint, credentials: ClientCredentials, **kw: Any) -> HubServiceClient:
    kw.setdefault("retry_policy", NO_WAIT)
    with sdk_transport(httpx.MockTransport(endpoint)):
        return HubServiceClient(base_url=BASE, token=credentials, **kw)


def async_client(
    endpoint: Endpoint, credentials: ClientCredentials, **kw: Any
) -> AsyncHubServiceClient:
    kw.setdefault("retry_policy", NO_WAIT)
    with sdk_transport(httpx.MockTransport(endpoint)):
        return AsyncHubServiceClient(base_url=BASE, token=credentials, **kw)


def list_executions(kind: str, endpoint: Endpoint, credentials: ClientCredentials) -> Any:
    """``get_service_executions()`` on a fresh sync or async client."""
    if kind == "sync":
        with sync_client(endpoint, credentials) as client:
            return client.service_api.get_service_executions()

    async def go() -> Any:
        async with async_client(endpoint, credentials) as client:
            return await client.service_api.get_service_executions()

    return asyncio.run(go())


def assert_secret_free(*texts: object) -> None:
    for text in texts:
        shown = text if isinstance(text, str) else repr(text)
        assert SECRET not in shown
        assert BASIC.split()[1] not in shown


# -- the wire ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_token_request_is_exactly_the_documented_one(kind: str) -> None:
    endpoint = Endpoint()
    c = creds()
    list_executions(kind, endpoint, c)
    ((headers, body),) = endpoint.token_requests
    names = [name.lower() for name, _ in headers]
    assert sorted(names) == sorted(
        ["host", "content-length", "content-type", "accept", "user-agent", "authorization"]
    ), names
    sent = dict(headers)
    assert sent["authorization"] == BASIC
    assert sent["content-type"] == "application/x-www-form-urlencoded"
    assert sent["accept"] == "application/json"
    assert sent["host"] == "gateway.test"
    assert sent["user-agent"].startswith("kipu-hub-service-python/")
    assert body == b"grant_type=client_credentials"
    assert endpoint.gateway_requests[0]["authorization"] == "Bearer tok-0001-issued"


def test_a_fresh_token_is_reused_and_the_secret_goes_nowhere_else() -> None:
    endpoint = Endpoint()
    with sync_client(endpoint, creds()) as client:
        for _ in range(5):
            client.service_api.get_service_executions()
    assert len(endpoint.token_requests) == 1
    assert endpoint.bearer_tokens() == ["tok-0001-issued"] * 5
    for headers in endpoint.gateway_requests:
        assert_secret_free(headers)


# -- caching and refresh ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_in", "reused_until", "refetched_at"),
    [(3600, 3539.0, 3540.0), (60, 29.0, 30.0), (4, 1.9, 2.0), (None, 239.0, 240.0)],
)
def test_refresh_before_expiry(expires_in: Any, reused_until: float, refetched_at: float) -> None:
    clock = Clock(100.0)
    endpoint = Endpoint(expires_in=expires_in)
    with sync_client(endpoint, creds(clock=clock)) as client:
        client.service_api.get_service_executions()
        clock.now = 100.0 + reused_until
        client.service_api.get_service_executions()
        assert len(endpoint.token_requests) == 1
        clock.now = 100.0 + refetched_at
        client.service_api.get_service_executions()
    assert len(endpoint.token_requests) == 2
    assert endpoint.bearer_tokens() == ["tok-0001-issued", "tok-0001-issued", "tok-0002-issued"]


def test_during_a_refresh_other_callers_keep_the_still_valid_token() -> None:
    clock = Clock(100.0)
    endpoint = Endpoint(expires_in=120)
    c = creds(clock=clock)
    with sync_client(endpoint, c) as client:
        client.service_api.get_service_executions()
        clock.now += 61  # in the margin: refresh due, token still valid for 59 s
        endpoint.gate = threading.Event()
        endpoint.arrived.clear()
        leader = threading.Thread(target=client.service_api.get_service_executions)
        leader.start()
        assert endpoint.arrived.wait(10)
        client.service_api.get_service_executions()  # does not wait for the refresh
        endpoint.gate.set()
        leader.join(10)
    assert endpoint.bearer_tokens() == ["tok-0001-issued", "tok-0001-issued", "tok-0002-issued"]


# -- one request for many callers -----------------------------------------------------------------


def test_one_token_request_for_many_threads() -> None:
    endpoint = Endpoint()
    with sync_client(endpoint, creds()) as client:
        callers = endpoint.held_while(12, client.service_api.get_service_executions)
    assert callers.errors == []
    assert len(endpoint.token_requests) == 1
    assert endpoint.bearer_tokens() == ["tok-0001-issued"] * 12


async def test_one_token_request_for_many_tasks() -> None:
    endpoint = Endpoint()
    release = asyncio.Event()
    arrived = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            arrived.set()
            await release.wait()
        return endpoint(request)

    with sdk_transport(httpx.MockTransport(handler)):
        client = AsyncHubServiceClient(base_url=BASE, token=creds(), retry_policy=NO_WAIT)
    async with client:
        calls = [
            asyncio.ensure_future(client.service_api.get_service_executions()) for _ in range(12)
        ]
        await asyncio.wait_for(arrived.wait(), 10)
        for _ in range(100):
            await asyncio.sleep(0)
        release.set()
        await asyncio.wait_for(asyncio.gather(*calls), 10)
    assert len(endpoint.token_requests) == 1
    assert endpoint.bearer_tokens() == ["tok-0001-issued"] * 12


def test_one_object_serves_several_clients() -> None:
    endpoint = Endpoint()
    c = creds()
    with sync_client(endpoint, c) as one, sync_client(endpoint, c) as two:
        one.service_api.get_service_executions()
        two.service_api.get_service_executions()

    async def go() -> None:
        async with async_client(endpoint, c) as three:
            await three.service_api.get_service_executions()

    asyncio.run(go())
    assert len(endpoint.token_requests) == 1
    assert endpoint.bearer_tokens() == ["tok-0001-issued"] * 3


def test_a_waiting_task_gets_the_token_a_thread_fetches() -> None:
    """A sync client's thread leads; tasks of an async client wait without blocking their
    loop (a ticker keeps ticking), then use the same token."""
    endpoint = Endpoint()
    endpoint.gate = threading.Event()
    c = creds(wait_timeout=10)  # a blocked loop would deadlock until then
    sync = sync_client(endpoint, c)
    leader = threading.Thread(target=sync.service_api.get_service_executions)
    leader.start()
    assert endpoint.arrived.wait(10)

    async def go() -> int:
        ticks = 0
        async with async_client(endpoint, c) as client:
            calls = asyncio.gather(*(client.service_api.get_service_executions() for _ in range(5)))
            while ticks < 20:
                await asyncio.sleep(0.001)
                ticks += 1
            endpoint.gate.set()  # type: ignore[union-attr]
            await asyncio.wait_for(calls, 10)
        return ticks

    assert asyncio.run(go()) == 20
    leader.join(10)
    sync.close()
    assert len(endpoint.token_requests) == 1
    assert endpoint.bearer_tokens() == ["tok-0001-issued"] * 6


def test_waiters_get_the_leaders_error_each_their_own_copy() -> None:
    endpoint = Endpoint(httpx.Response(401, json={"error": "invalid_client"}))
    with sync_client(endpoint, creds()) as client:
        callers = endpoint.held_while(6, client.service_api.get_service_executions)
    errors = callers.errors
    assert len(errors) == 6 and all(isinstance(e, TokenEndpointError) for e in errors)
    assert len({id(e) for e in errors}) == 6
    # Without the single flight, all six would be waiting at the held endpoint.
    assert len(endpoint.token_requests) < 6
    assert endpoint.gateway_requests == []


async def test_a_cancelled_leader_does_not_strand_the_waiters() -> None:
    endpoint = Endpoint()
    arrived = asyncio.Event()
    first = True

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal first
        if request.url.path == "/token" and first:
            first = False
            arrived.set()
            await asyncio.sleep(3600)
        return endpoint(request)

    with sdk_transport(httpx.MockTransport(handler)):
        client = AsyncHubServiceClient(base_url=BASE, token=creds(), retry_policy=NO_WAIT)
    async with client:
        leader = asyncio.ensure_future(client.service_api.get_service_executions())
        await asyncio.wait_for(arrived.wait(), 10)
        waiter = asyncio.ensure_future(client.service_api.get_service_executions())
        for _ in range(50):
            await asyncio.sleep(0)
        leader.cancel()
        assert await asyncio.wait_for(waiter, 10) == []
    assert endpoint.bearer_tokens() == ["tok-0001-issued"]


def test_a_waiter_gives_up_after_wait_timeout() -> None:
    endpoint = Endpoint()
    endpoint.gate = threading.Event()
    c = creds(wait_timeout=0.05)
    with sync_client(endpoint, c) as client:
        leader = threading.Thread(target=client.service_api.get_service_executions)
        leader.start()
        assert endpoint.arrived.wait(10)
        with pytest.raises(TimeoutError, match="another caller's token request") as caught:
            client.service_api.get_service_executions()
        endpoint.gate.set()
        leader.join(10)
    assert KEY_ID in str(caught.value)
    assert_secret_free(str(caught.value))


# -- a gateway 401 ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_gateway_401_fetches_once_and_repeats_once(kind: str) -> None:
    endpoint = Endpoint()
    endpoint.refused.add("tok-0001-issued")  # revoked early by the gateway
    c = creds()

    assert list_executions(kind, endpoint, c) == []
    assert len(endpoint.token_requests) == 2
    assert endpoint.bearer_tokens() == ["tok-0001-issued", "tok-0002-issued"]


def test_a_second_401_is_final() -> None:
    endpoint = Endpoint()
    endpoint.refused.update({"tok-0001-issued", "tok-0002-issued"})
    with sync_client(endpoint, creds()) as client, pytest.raises(AuthenticationError) as caught:
        client.service_api.get_service_executions()
    assert caught.value.status_code == 401
    assert not isinstance(caught.value, TokenEndpointError)
    assert len(endpoint.token_requests) == 2 and len(endpoint.gateway_requests) == 2
    assert "tok-0002-issued" not in str(caught.value)
    assert "tok-0002-issued" not in repr(caught.value.body)


def test_concurrent_401s_for_one_token_refetch_once() -> None:
    endpoint = Endpoint()
    c = creds()
    all_refused = threading.Barrier(8, timeout=10)

    def handler(request: httpx.Request) -> httpx.Response:
        answer = endpoint(request)
        if answer.status_code == 401 and request.url.path != "/token":
            all_refused.wait()  # all eight are refused before any of them refreshes
        return answer

    with sdk_transport(httpx.MockTransport(handler)):
        client = HubServiceClient(base_url=BASE, token=c, retry_policy=NO_WAIT)
    with client:
        client.service_api.get_service_executions()
        endpoint.refused.add("tok-0001-issued")
        threads = [
            threading.Thread(target=client.service_api.get_service_executions) for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
    # Each 401 invalidates only the token it refused: one new token for all eight.
    assert len(endpoint.token_requests) == 2
    assert endpoint.bearer_tokens()[1:] == ["tok-0001-issued"] * 8 + ["tok-0002-issued"] * 8


# -- the token request's retries and errors -----------------------------------------------------


@pytest.mark.parametrize(
    "first",
    [
        httpx.Response(503, json={"detail": "busy"}),
        httpx.Response(500),
        httpx.Response(429, headers={"Retry-After": "1"}),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
    ],
)
def test_transient_failures_of_the_token_request_are_retried(
    first: httpx.Response | Exception,
) -> None:
    waits: list[float] = []
    endpoint = Endpoint(first, None)
    policy = RetryPolicy(sleep=waits.append)
    with sync_client(endpoint, creds(), retry_policy=policy) as client:
        assert client.service_api.get_service_executions() == []
    assert len(endpoint.token_requests) == 2 and len(waits) == 1
    assert endpoint.token_requests[1][0] == endpoint.token_requests[0][0]


def test_the_client_retry_policy_bounds_the_token_retries() -> None:
    endpoint = Endpoint(httpx.Response(503, json={"detail": f"echo {SECRET}"}))
    client = sync_client(endpoint, creds(), max_retries=3)
    with client, pytest.raises(InternalServerError) as caught:
        client.service_api.get_service_executions()
    assert len(endpoint.token_requests) == 4
    error = caught.value
    assert error.status_code == 503 and error.url == ENDPOINT
    assert_secret_free(str(error), repr(error), error.body, pickle.dumps(error).decode("latin-1"))


def test_an_unreachable_token_endpoint_is_a_connection_error() -> None:
    endpoint = Endpoint(httpx.ConnectError("refused"))
    client = sync_client(endpoint, creds(), max_retries=1)
    with client, pytest.raises(APIConnectionError) as caught:
        client.service_api.get_service_executions()
    assert "POST /token" in str(caught.value)
    assert len(endpoint.token_requests) == 2
    cause = caught.value.__cause__
    assert isinstance(cause, httpx.ConnectError)
    assert "authorization" not in {k.lower() for k in cause.request.headers}


@pytest.mark.parametrize(
    ("status", "body", "oauth_error"),
    [
        (401, {"error": "invalid_client", "error_description": f"no {SECRET}"}, "invalid_client"),
        (400, {"error": "unsupported_grant_type"}, "unsupported_grant_type"),
        (400, {"error": "invalid_request"}, "invalid_request"),
        (401, None, None),
    ],
)
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_refusals_are_authentication_errors_without_the_secret(
    kind: str, status: int, body: Any, oauth_error: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    answer = httpx.Response(status, json=body) if body else httpx.Response(status)
    endpoint = Endpoint(answer)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthenticationError) as caught:
        list_executions(kind, endpoint, creds())
    error = caught.value
    assert isinstance(error, TokenEndpointError)
    assert (error.status_code, error.oauth_error, error.access_key_id) == (
        status,
        oauth_error,
        KEY_ID,
    )
    assert len(endpoint.token_requests) == 1  # refusals are not retried
    assert endpoint.gateway_requests == []
    copied = pickle.loads(pickle.dumps(error))
    assert copied.oauth_error == oauth_error
    assert_secret_free(
        str(error),
        repr(error),
        error.body,
        error.headers,
        pickle.dumps(error).decode("latin-1"),
        caplog.text,
    )
    assert "POST /token -> " + str(status) in caplog.text


@pytest.mark.parametrize(
    "body",
    [{"token_type": "Bearer", "expires_in": 60}, {"access_token": ""}, {"access_token": "a b"}],
)
def test_an_answer_without_a_token_is_a_response_validation_error(body: Any) -> None:
    endpoint = Endpoint(httpx.Response(200, json=body))
    client = sync_client(endpoint, creds())
    with client, pytest.raises(ResponseValidationError, match="token endpoint"):
        client.service_api.get_service_executions()
    assert len(endpoint.token_requests) == 1 and endpoint.gateway_requests == []


# -- redirects ----------------------------------------------------------------------------------


def test_a_redirect_elsewhere_does_not_carry_the_secret() -> None:
    seen: list[tuple[str, dict[str, str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), dict(request.headers)))
        if request.url.host == "gateway.test" and request.url.path == "/token":
            return httpx.Response(307, headers={"Location": "https://evil.test/token"})
        return httpx.Response(401, json={"error": "invalid_client"})

    with sdk_transport(httpx.MockTransport(handler)):
        client = HubServiceClient(base_url=BASE, token=creds(), retry_policy=NO_WAIT)
    with client, pytest.raises(TokenEndpointError):
        client.service_api.get_service_executions()
    assert [url for url, _ in seen] == [ENDPOINT, "https://evil.test/token"]
    assert seen[0][1]["authorization"] == BASIC
    assert "authorization" not in seen[1][1]
    assert_secret_free(seen[1][1])


def test_a_redirect_on_the_same_origin_keeps_the_credentials() -> None:
    endpoint = Endpoint()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/old-token":
            return httpx.Response(308, headers={"Location": "/token"})
        return endpoint(request)

    with sdk_transport(httpx.MockTransport(handler)):
        client = HubServiceClient(
            base_url=BASE, token=creds(token_endpoint="https://gateway.test/old-token")
        )
    with client:
        assert client.service_api.get_service_executions() == []
    ((headers, body),) = endpoint.token_requests
    assert dict(headers)["authorization"] == BASIC and body == b"grant_type=client_credentials"


# -- get_token() ----------------------------------------------------------------------------------


def test_get_token_fetches_once_then_returns_the_cached_token() -> None:
    endpoint = Endpoint()
    c = creds()
    with sdk_transport(httpx.MockTransport(endpoint)):
        assert c.get_token() == "tok-0001-issued"
        assert c.get_token() == "tok-0001-issued"
        assert asyncio.run(c.aget_token()) == "tok-0001-issued"
    assert len(endpoint.token_requests) == 1


def test_get_token_reports_bad_credentials() -> None:
    endpoint = Endpoint(httpx.Response(401, json={"error": "invalid_client"}))
    with sdk_transport(httpx.MockTransport(endpoint)), pytest.raises(TokenEndpointError) as caught:
        creds().get_token()
    assert caught.value.access_key_id == KEY_ID


# -- the parent execution token -------------------------------------------------------------------


@pytest.fixture
def parent_token(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("KQH_SERVICE_EXECUTION_TOKEN", PARENT)
    yield PARENT


@pytest.mark.usefixtures("parent_token")
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_gateway_calls_carry_the_parent_execution_token(kind: str) -> None:
    endpoint = Endpoint()
    list_executions(kind, endpoint, creds())
    assert endpoint.gateway_requests[0]["x-parent-execution-token"] == PARENT
    ((headers, _),) = endpoint.token_requests
    assert "x-parent-execution-token" not in {name.lower() for name, _ in headers}


@pytest.mark.usefixtures("parent_token")
def test_the_parent_execution_token_can_be_turned_off() -> None:
    endpoint = Endpoint()
    with sync_client(endpoint, creds(), forward_parent_execution_token=False) as client:
        client.service_api.get_service_executions()
    assert "x-parent-execution-token" not in endpoint.gateway_requests[0]


@pytest.mark.usefixtures("parent_token")
def test_the_parent_execution_token_works_with_a_plain_token_and_is_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        echoed = request.headers.get("x-parent-execution-token", "")
        return httpx.Response(403, json={"detail": f"parent {echoed} may not"})

    caplog.set_level(logging.DEBUG)
    with sdk_transport(httpx.MockTransport(handler)):
        client = HubServiceClient(base_url=BASE, token="plain-token-123")
    with client, pytest.raises(Exception) as caught:
        client.service_api.get_service_executions()
    assert "parent *** may not" in str(caught.value)
    assert PARENT not in repr(caught.value.body) and PARENT not in caplog.text  # type: ignore[attr-defined]


def test_the_parent_execution_token_never_follows_a_redirect_elsewhere(
    parent_token: str,
) -> None:
    seen: list[tuple[str, dict[str, str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, dict(request.headers)))
        if request.url.host == "gateway.test":
            return httpx.Response(302, headers={"Location": "https://cdn.test/list"})
        return httpx.Response(200, json=[])

    with sdk_transport(httpx.MockTransport(handler)):
        client = HubServiceClient(base_url=BASE, token="plain-token-123")
    with client:
        client.service_api.get_service_executions()
    assert seen[0][1]["x-parent-execution-token"] == parent_token
    assert "x-parent-execution-token" not in seen[1][1]


def test_an_unusable_parent_execution_token_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KQH_SERVICE_EXECUTION_TOKEN", "bad token-parent")
    with pytest.raises(ValueError, match="KQH_SERVICE_EXECUTION_TOKEN") as caught:
        HubServiceClient(base_url=BASE, token="t-1234")
    assert "token-parent" not in str(caught.value)
    HubServiceClient(base_url=BASE, token="t-1234", forward_parent_execution_token=False).close()


# -- the clients' own checks -----------------------------------------------------------------------


def test_credentials_and_async_token_do_not_mix() -> None:
    async def other() -> str:
        return "x"

    with pytest.raises(TypeError, match="not both"):
        AsyncHubServiceClient(base_url=BASE, token=creds(), async_token=other)


def test_client_repr_shows_no_secret() -> None:
    with sync_client(Endpoint(), creds()) as client:
        assert_secret_free(repr(client), repr(client.service_api))
