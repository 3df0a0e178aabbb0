"""Every constructor parameter and per-request option, on both clients: each test fails when the
parameter is ignored."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from _client_support import BASE, TOKEN, Driver, FakeGateway, execution_json

from kipu_hub_service import (
    APIConnectionError,
    APIStatusError,
    AsyncHubServiceClient,
    BadRequestError,
    HubServiceClient,
    HubServiceClientEnvironment,
    InternalServerError,
    NotFoundError,
    RetryPolicy,
)
from kipu_hub_service.core.api_error import ApiError
from kipu_hub_service.testing import sdk_transport

pytestmark = pytest.mark.usefixtures("no_retry_delay")


def _status_ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=execution_json())


# base_url / environment --------------------------------------------------------------------


def test_base_url_wins_over_environment(driver: Driver) -> None:
    gateway = FakeGateway()
    client = driver.client(gateway, base_url=BASE, environment=HubServiceClientEnvironment.DEFAULT)
    driver.call(client, "get_service_executions")
    assert gateway.requests[-1].url.host == "gateway.test"


def test_environment_is_used_without_base_url(driver: Driver) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404, json={"detail": "no such gateway"})

    client = driver.client(handler, base_url=None)
    with pytest.raises(NotFoundError):
        driver.call(client, "get_status", "x")
    assert seen[0].url.host == "gateway.hub.kipu-quantum.com"
    assert seen[0].url.raw_path == b"/%3Ccontext%3E/%3Cservice%3E/%3Cversion%3E/x"
    assert HubServiceClientEnvironment.DEFAULT == (
        "https://gateway.hub.kipu-quantum.com/<context>/<service>/<version>"
    )


@pytest.mark.parametrize("cls", [HubServiceClient, AsyncHubServiceClient])
def test_neither_base_url_nor_environment(cls: type) -> None:
    with pytest.raises(Exception) as info:
        cls(base_url=None, environment=None, token=TOKEN)
    assert type(info.value) is Exception
    assert (
        str(info.value) == "Please pass in either base_url or environment to construct the client"
    )


@pytest.mark.parametrize("url", ["ftp://host/x", "gateway.test/acme", "https://h/x?q=1", "", 42])
def test_bad_base_url_is_refused(url: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        HubServiceClient(base_url=url, token=TOKEN)  # type: ignore[arg-type]


# token -------------------------------------------------------------------------------------


def test_fixed_token_is_sent_as_bearer(driver: Driver) -> None:
    gateway = FakeGateway()
    client = driver.client(gateway, token="abc.def-ghi")
    driver.call(client, "get_service_executions")
    assert gateway.requests[-1].headers["Authorization"] == "Bearer abc.def-ghi"


def test_callable_token_is_called_for_every_request(driver: Driver) -> None:
    gateway = FakeGateway()
    calls: list[int] = []

    def token() -> str:
        calls.append(1)
        return f"token-{len(calls)}"

    client = driver.client(gateway, token=token)
    driver.call(client, "get_service_executions")
    driver.call(client, "get_service_executions")
    assert [r.headers["Authorization"] for r in gateway.requests] == [
        "Bearer token-1",
        "Bearer token-2",
    ]


def test_async_token_is_used_instead_of_token() -> None:
    driver = Driver("async")
    try:
        gateway = FakeGateway()

        async def async_token() -> str:
            return "from-async"

        client = driver.client(gateway, token="from-sync", async_token=async_token)
        driver.call(client, "get_service_executions")
        assert gateway.requests[-1].headers["Authorization"] == "Bearer from-async"
        only_async = driver.client(gateway, async_token=async_token, token=None)
        driver.call(only_async, "get_service_executions")
        assert gateway.requests[-1].headers["Authorization"] == "Bearer from-async"
    finally:
        driver.close()


def test_token_is_required() -> None:
    with pytest.raises(TypeError, match="token is required"):
        HubServiceClient(base_url=BASE, token=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="token is required"):
        AsyncHubServiceClient(base_url=BASE)
    with pytest.raises(TypeError):
        HubServiceClient(base_url=BASE, token=123)  # type: ignore[arg-type]


# headers -----------------------------------------------------------------------------------


def test_headers_are_merged_into_every_request(driver: Driver) -> None:
    gateway = FakeGateway()
    gateway.add("e")
    client = driver.client(gateway, headers={"X-Tenant": "acme", "User-Agent": "mine/1"})
    driver.call(client, "get_status", "e")
    driver.call(client, "start_execution", request={"input": {}})
    driver.file(client, "e", "f")
    for request in gateway.requests:
        assert request.headers["X-Tenant"] == "acme"
        assert request.headers["User-Agent"] == "mine/1"
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_default_user_agent_names_the_sdk(driver: Driver) -> None:
    gateway = FakeGateway()
    driver.call(driver.client(gateway), "get_service_executions")
    assert gateway.requests[-1].headers["User-Agent"].startswith("kipu-hub-service-python")


@pytest.mark.parametrize("bad", [{"X-A": "a\r\nX-B: b"}, {"X\nY": "v"}, {"X-A": 1}])
def test_header_injection_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        HubServiceClient(base_url=BASE, token=TOKEN, headers=bad)  # type: ignore[arg-type]


# timeout -----------------------------------------------------------------------------------


def test_sdk_made_client_defaults_to_60_seconds() -> None:
    with HubServiceClient(base_url=BASE, token=TOKEN) as client:
        assert client.httpx_client.timeout == httpx.Timeout(60.0)
    with HubServiceClient(base_url=BASE, token=TOKEN, timeout=5) as client:
        assert client.httpx_client.timeout == httpx.Timeout(5.0)


def test_async_sdk_made_client_defaults_to_60_seconds() -> None:
    client = AsyncHubServiceClient(base_url=BASE, token=TOKEN)
    assert client.httpx_client.timeout == httpx.Timeout(60.0)
    client = AsyncHubServiceClient(base_url=BASE, token=TOKEN, timeout=7.5)
    assert client.httpx_client.timeout == httpx.Timeout(7.5)


def _timeouts(driver: Driver, **kwargs: object) -> list[dict[str, float | None]]:
    seen: list[dict[str, float | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return _status_ok(request)

    transport = httpx.MockTransport(handler)
    http = (
        httpx.AsyncClient(transport=transport, timeout=3.0)
        if driver.is_async
        else httpx.Client(transport=transport, timeout=3.0)
    )
    options = kwargs.pop("request_options", None)
    client = driver.client(httpx_client=http, **kwargs)
    driver.call(client, "get_status", "e", request_options=options)
    return seen


def test_injected_client_keeps_its_own_timeout(driver: Driver) -> None:
    assert _timeouts(driver)[0]["read"] == 3.0


def test_timeout_applies_to_injected_client_when_passed(driver: Driver) -> None:
    assert _timeouts(driver, timeout=9.0)[0]["read"] == 9.0


@pytest.mark.parametrize("value", [2.5, httpx.Timeout(1.0, read=2.5)])
def test_request_options_timeout(driver: Driver, value: float | httpx.Timeout) -> None:
    seen = _timeouts(driver, timeout=9.0, request_options={"timeout": value})
    assert seen[0]["read"] == 2.5


# max_retries -------------------------------------------------------------------------------


def _counting(status: int) -> tuple[list[httpx.Request], object]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json={"detail": "boom"})

    return seen, handler


def test_max_retries_defaults_to_two(driver: Driver) -> None:
    seen, handler = _counting(503)
    client = driver.client(handler)
    with pytest.raises(InternalServerError):
        driver.call(client, "get_status", "e")
    assert len(seen) == 3


@pytest.mark.parametrize("retries", [0, 4])
def test_max_retries_constructor(driver: Driver, retries: int) -> None:
    seen, handler = _counting(502)
    client = driver.client(handler, max_retries=retries)
    with pytest.raises(InternalServerError):
        driver.call(client, "get_status", "e")
    assert len(seen) == retries + 1


def test_max_retries_request_option(driver: Driver) -> None:
    seen, handler = _counting(500)
    client = driver.client(handler, max_retries=3)
    with pytest.raises(InternalServerError):
        driver.call(client, "get_status", "e", request_options={"max_retries": 1})
    assert len(seen) == 2
    with pytest.raises(InternalServerError):
        driver.call(client, "get_logs", "e", request_options={"max_retries": 0})
    assert len(seen) == 3


def test_request_options_changed_in_place_apply_to_the_next_call(driver: Driver) -> None:
    """The client remembers the last options dict it checked (a sweep passes one to every
    call); a change made to that same dict between calls still counts, and is checked."""
    seen, handler = _counting(500)
    client = driver.client(handler, max_retries=3)
    options: dict[str, Any] = {"max_retries": 1}
    sent = []
    for retries in (1, 1, 0, 2, 1):
        options["max_retries"] = retries
        with pytest.raises(InternalServerError):
            driver.call(client, "get_status", "e", request_options=options)
        sent.append(len(seen))
    assert sent == [2, 4, 5, 8, 10]
    for bad, error in [(True, TypeError), (-1, ValueError), (1.5, TypeError)]:  # True == 1
        options["max_retries"] = bad
        with pytest.raises(error, match="max_retries"):
            driver.call(client, "get_status", "e", request_options=options)
    del options["max_retries"]
    options["timeout"] = 0
    with pytest.raises(ValueError, match="timeout"):
        driver.call(client, "get_status", "e", request_options=options)
    assert len(seen) == 10  # nothing sent with a refused option


def _recording_policy(driver: Driver, waits: list[float], **kwargs: Any) -> RetryPolicy:
    """A jitter-free policy whose waits are recorded (``async_sleep`` on the async client)."""
    if driver.is_async:

        async def record(delay: float) -> None:
            waits.append(delay)

        return RetryPolicy(jitter=0.0, async_sleep=record, **kwargs)
    return RetryPolicy(jitter=0.0, sleep=waits.append, **kwargs)


def test_retry_policy_sleep_hook_sees_the_backoff(driver: Driver) -> None:
    waits: list[float] = []
    seen, handler = _counting(503)
    policy = _recording_policy(driver, waits, max_retries=3, initial_delay=0.25)
    client = driver.client(handler, retry_policy=policy)
    with pytest.raises(InternalServerError):
        driver.call(client, "get_status", "e")
    assert len(seen) == 4
    assert waits == [0.25, 0.5, 1.0]
    with pytest.raises(InternalServerError):
        driver.call(client, "get_logs", "e", request_options={"max_retries": 1})
    assert waits == [0.25, 0.5, 1.0, 0.25]


def test_sync_sleep_hook_also_serves_the_async_client() -> None:
    driver = Driver("async")
    try:
        waits: list[float] = []
        _, handler = _counting(502)
        policy = RetryPolicy(jitter=0.0, sleep=waits.append)
        client = driver.client(handler, retry_policy=policy)
        with pytest.raises(InternalServerError):
            driver.call(client, "get_status", "e")
        assert waits == [0.5, 1.0]
    finally:
        driver.close()


@pytest.mark.parametrize(("max_retries", "sent"), [(None, 6), (1, 2), (5, 6)])
def test_max_retries_argument_replaces_the_policy_count(
    driver: Driver, max_retries: int | None, sent: int
) -> None:
    waits: list[float] = []
    seen, handler = _counting(500)
    policy = _recording_policy(driver, waits, max_retries=5)
    client = driver.client(handler, retry_policy=policy, max_retries=max_retries)
    with pytest.raises(InternalServerError):
        driver.call(client, "get_status", "e")
    assert len(seen) == sent
    assert len(waits) == sent - 1


def test_retry_policy_must_be_a_policy() -> None:
    with pytest.raises(TypeError, match="RetryPolicy"):
        HubServiceClient(base_url=BASE, token=TOKEN, retry_policy={"max_retries": 1})  # type: ignore[arg-type]


def test_transient_then_success_is_retried(driver: Driver) -> None:
    answers = iter([httpx.Response(503), httpx.Response(200, json=execution_json())])
    client = driver.client(lambda request: next(answers))
    assert driver.call(client, "get_status", "exec-1").id == "exec-1"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_4xx_is_never_retried(driver: Driver, status: int) -> None:
    seen, handler = _counting(status)
    client = driver.client(handler, max_retries=5)
    with pytest.raises(APIStatusError):
        driver.call(client, "get_status", "e")
    assert len(seen) == 1


def test_start_execution_retries_with_the_same_idempotency_key(driver: Driver) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) < 3:
            raise httpx.ConnectError("refused")
        return httpx.Response(201, json=execution_json())

    client = driver.client(handler)
    driver.call(client, "start_execution", request={"input": {}})
    keys = {r.headers["Idempotency-Key"] for r in seen}
    assert len(seen) == 3
    assert len(keys) == 1


# follow_redirects --------------------------------------------------------------------------


def _redirecting(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/old"):
        return httpx.Response(307, headers={"Location": BASE + "/new"})
    return httpx.Response(200, json=execution_json("new"))


def test_redirects_are_followed_by_default(driver: Driver) -> None:
    client = driver.client(_redirecting)
    assert driver.call(client, "get_status", "old").id == "new"


def test_follow_redirects_false(driver: Driver) -> None:
    client = driver.client(_redirecting, follow_redirects=False)
    with pytest.raises(APIStatusError) as info:
        driver.call(client, "get_status", "old")
    assert info.value.status_code == 307
    assert info.value.headers is not None
    assert info.value.headers["location"] == BASE + "/new"


def test_redirect_303_turns_post_into_get(driver: Driver) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        if request.method == "POST":
            return httpx.Response(303, headers={"Location": "/acme/vqe/v1/exec-1"})
        return httpx.Response(200, json=execution_json())

    client = driver.client(handler)
    driver.call(client, "start_execution", request={"input": {}})
    assert [r.method for r in seen] == ["POST", "GET"]
    assert seen[1].content == b""
    assert "content-type" not in seen[1].headers


def test_redirect_307_keeps_method_and_body(driver: Driver) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(307, headers={"Location": BASE + "/moved"})
        return httpx.Response(201, json=execution_json())

    client = driver.client(handler)
    driver.call(client, "start_execution", request={"input": {"a": 1}})
    assert [r.method for r in seen] == ["POST", "POST"]
    assert seen[0].content == seen[1].content
    assert seen[0].headers["Idempotency-Key"] == seen[1].headers["Idempotency-Key"]


@pytest.mark.parametrize(
    "location",
    ["javascript:alert(1)", "mailto:ops@example.com", "data:text/plain,hi", "http:", "http://[::1"],
)
@pytest.mark.parametrize("follow", [True, False])
@pytest.mark.parametrize("operation", ["get_status", "get_result_file"])
@pytest.mark.parametrize("injected", [False, True], ids=["sdk-client", "injected-client"])
def test_redirect_to_an_unusable_location_is_an_api_error(
    driver: Driver, location: str, follow: bool, operation: str, injected: bool
) -> None:
    """httpx reads a 3xx's ``Location`` before handing the answer over, and raises when it cannot:
    the call is an ``APIConnectionError`` chained to what httpx raised, on every client (the SDK
    adds no hooks). ``http:`` is one httpx can read but the SDK will not follow: there the SDK
    sees the 3xx and raises its ``APIStatusError``. Never a bare httpx error or ``ValueError``,
    never retried."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"Location": location})

    if injected:
        client = driver.client(handler, follow_redirects=follow)
    else:
        with sdk_transport(httpx.MockTransport(handler)):
            client = driver.client(inject=False, follow_redirects=follow)
    with pytest.raises(ApiError) as info:
        if operation == "get_status":
            driver.call(client, "get_status", "x")
        else:
            driver.file(client, "x", "out.bin")
    if location != "http:":
        assert type(info.value) is APIConnectionError
        assert "redirect to an unusable Location" in str(info.value)
        assert isinstance(info.value.__cause__, ValueError | httpx.InvalidURL | httpx.HTTPError)
    else:
        assert isinstance(info.value, APIStatusError)
        assert info.value.status_code == 302
        assert info.value.headers is not None
        assert info.value.headers["location"] == location
        assert "302" in str(info.value)
    assert TOKEN not in str(info.value)
    assert len(seen) == 1
    assert client.httpx_client.event_hooks["response"] == []


def test_injected_client_gets_no_response_hook(driver: Driver) -> None:
    seen: list[int] = []

    def own_hook(response: httpx.Response) -> None:
        seen.append(response.status_code)

    async def own_async_hook(response: httpx.Response) -> None:
        own_hook(response)

    transport = httpx.MockTransport(FakeGateway())
    hooks = {"response": [own_async_hook if driver.is_async else own_hook]}
    http = (
        httpx.AsyncClient(transport=transport, event_hooks=hooks)
        if driver.is_async
        else httpx.Client(transport=transport, event_hooks=hooks)
    )
    client = driver.client(httpx_client=http)
    driver.call(client, "get_service_executions")
    assert http.event_hooks["response"] == hooks["response"]
    assert seen == [200]


def test_redirect_loop_is_bounded(driver: Driver) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"Location": BASE + "/loop"})

    client = driver.client(handler)
    with pytest.raises(ApiError, match="redirects"):
        driver.call(client, "get_status", "x")
    assert len(seen) == 21


# httpx_client ------------------------------------------------------------------------------


def test_injected_client_requests_still_go_to_base_url(driver: Driver) -> None:
    gateway = FakeGateway()
    transport = httpx.MockTransport(gateway)
    other = "https://elsewhere.example/prefix/"
    http = (
        httpx.AsyncClient(transport=transport, base_url=other)
        if driver.is_async
        else httpx.Client(transport=transport, base_url=other)
    )
    client = driver.client(httpx_client=http)
    driver.call(client, "get_service_executions")
    assert str(gateway.requests[-1].url) == BASE + "/"


def test_injected_client_is_used_and_not_closed(driver: Driver) -> None:
    gateway = FakeGateway()
    transport = httpx.MockTransport(gateway)
    http = (
        httpx.AsyncClient(transport=transport, headers={"X-From-Client": "yes"})
        if driver.is_async
        else httpx.Client(transport=transport, headers={"X-From-Client": "yes"})
    )
    client = driver.client(httpx_client=http)
    driver.call(client, "get_service_executions")
    assert gateway.requests[-1].headers["X-From-Client"] == "yes"
    driver.run(client.aclose() if driver.is_async else client.close())
    assert not http.is_closed


def test_wrong_httpx_client_type_is_refused() -> None:
    with pytest.raises(TypeError, match=r"httpx\.Client"):
        HubServiceClient(base_url=BASE, token=TOKEN, httpx_client=httpx.AsyncClient())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"httpx\.AsyncClient"):
        AsyncHubServiceClient(base_url=BASE, token=TOKEN, httpx_client=httpx.Client())  # type: ignore[arg-type]


# logging -----------------------------------------------------------------------------------


def test_logging_logger_receives_debug_lines(
    driver: Driver, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("test.facade.custom")
    caplog.set_level(logging.DEBUG, logger="test.facade.custom")
    client = driver.client(FakeGateway(), logging=logger)
    driver.call(client, "get_service_executions")
    records = [r for r in caplog.records if r.name == "test.facade.custom"]
    assert any("GET /acme/vqe/v1/ -> 200" in r.getMessage() for r in records)


def test_logging_dict_sets_level_and_logger(
    driver: Driver, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("test.facade.dict")
    logger.setLevel(logging.WARNING)
    caplog.set_level(logging.DEBUG)
    client = driver.client(FakeGateway(), logging={"level": "debug", "logger": logger})
    assert logger.level == logging.DEBUG
    driver.call(client, "get_service_executions")
    assert any(r.name == "test.facade.dict" for r in caplog.records)


def test_logging_silent(driver: Driver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logger = logging.getLogger("test.facade.silent")
    client = driver.client(FakeGateway(), logging={"logger": logger, "silent": True})
    driver.call(client, "get_service_executions")
    assert not [r for r in caplog.records if r.name == "test.facade.silent"]


def test_default_logger_is_qhub_api_service(
    driver: Driver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="kipu_hub_service")
    driver.call(driver.client(FakeGateway()), "get_service_executions")
    assert any(r.name == "kipu_hub_service" for r in caplog.records)


def test_logging_level_without_logger_sets_the_shared_logger(
    driver: Driver, caplog: pytest.LogCaptureFixture
) -> None:
    """As documented: ``level`` alone changes the shared logger, seen by every client."""
    shared = logging.getLogger("kipu_hub_service")
    before = shared.level
    caplog.set_level(logging.DEBUG)
    try:
        shared.setLevel(logging.WARNING)
        driver.client(FakeGateway(), logging={"level": "DEBUG"})
        assert shared.level == logging.DEBUG
        other = driver.client(FakeGateway())
        driver.call(other, "get_service_executions")
        assert any(r.name == "kipu_hub_service" for r in caplog.records)
        own = logging.getLogger("test.facade.own-level")
        driver.client(FakeGateway(), logging={"level": "ERROR", "logger": own})
        assert own.level == logging.ERROR
        assert shared.level == logging.DEBUG
    finally:
        shared.setLevel(before)


def test_bad_logging_config_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown logging keys"):
        HubServiceClient(base_url=BASE, token=TOKEN, logging={"lvl": "debug"})
    with pytest.raises(TypeError):
        HubServiceClient(base_url=BASE, token=TOKEN, logging="debug")  # type: ignore[arg-type]


# request_options ---------------------------------------------------------------------------


def test_additional_headers_override_for_one_call(driver: Driver) -> None:
    gateway = FakeGateway()
    gateway.add("e")
    client = driver.client(gateway, headers={"X-Tenant": "acme"})
    options = {"additional_headers": {"X-Tenant": "other", "X-Trace": "1"}}
    driver.call(client, "get_status", "e", request_options=options)
    driver.file(client, "e", "f", request_options=options)
    for request in gateway.requests:
        assert request.headers["X-Tenant"] == "other"
        assert request.headers["X-Trace"] == "1"
    driver.call(client, "get_status", "e")
    assert gateway.requests[-1].headers["X-Tenant"] == "acme"
    assert "X-Trace" not in gateway.requests[-1].headers


@pytest.mark.parametrize("name", ["Idempotency-Key", "idempotency-key", "IDEMPOTENCY-KEY"])
def test_additional_headers_can_set_idempotency_key(driver: Driver, name: str) -> None:
    """In any case: the caller's key replaces the SDK's, never goes out beside it."""
    gateway = FakeGateway()
    client = driver.client(gateway)
    options = {"additional_headers": {name: "mine-1"}}
    driver.call(client, "start_execution", request={"input": {}}, request_options=options)
    assert gateway.requests[-1].headers.get_list("Idempotency-Key") == ["mine-1"]


@pytest.mark.parametrize(
    "options",
    [
        {"retries": 1},
        {"timeout": -1},
        {"timeout": "soon"},
        {"chunk_size": 0},
        {"max_retries": -1},
        {"additional_headers": {"X": "a\nb"}},
    ],
)
def test_bad_request_options_are_refused_before_sending(
    driver: Driver, options: dict[str, object]
) -> None:
    gateway = FakeGateway()
    client = driver.client(gateway)
    with pytest.raises((TypeError, ValueError)):
        driver.call(client, "get_status", "e", request_options=options)
    with pytest.raises((TypeError, ValueError)):
        driver.file(client, "e", "f", request_options=options)
    assert gateway.requests == []


def test_request_options_are_accepted_by_every_method(driver: Driver) -> None:
    gateway = FakeGateway()
    gateway.add("e")
    client = driver.client(gateway)
    options = {"additional_headers": {"X-Every": "1"}, "timeout": 5.0, "max_retries": 0}
    driver.call(client, "get_service_executions", request_options=options)
    driver.call(client, "start_execution", request={"input": {}}, request_options=options)
    driver.call(client, "get_status", "e", request_options=options)
    driver.call(client, "get_result", "e", request_options=options)
    driver.file(client, "e", "f", request_options=options)
    driver.call(client, "get_logs", "e", request_options=options)
    driver.call(client, "cancel_execution", "e", request_options=options)
    assert len(gateway.requests) == 7
    assert all(r.headers["X-Every"] == "1" for r in gateway.requests)
    assert all(r.extensions["timeout"]["read"] == 5.0 for r in gateway.requests)


def test_bad_request_is_a_typed_error(driver: Driver) -> None:
    client = driver.client(lambda request: httpx.Response(400, json={"detail": "bad input"}))
    with pytest.raises(BadRequestError, match="bad input"):
        driver.call(client, "start_execution", request={"input": {}})


def test_async_client_runs_on_aiohttp_unless_opted_out(monkeypatch: pytest.MonkeyPatch) -> None:
    def transport_name() -> str:
        client = AsyncHubServiceClient(base_url=BASE, token=TOKEN)
        return type(client.httpx_client._transport).__name__

    proxy_variables = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")
    for name in proxy_variables:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    assert transport_name() == "AiohttpTransport"
    monkeypatch.setenv("QHUB_SERVICE_NO_AIOHTTP", "1")
    assert transport_name() == "AsyncHTTPTransport"
    monkeypatch.delenv("QHUB_SERVICE_NO_AIOHTTP")
    # The aiohttp transport never uses a proxy: with one configured, httpx's transport (and its
    # proxy rules) stays in charge.
    for name in ("HTTPS_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:3128")
        assert transport_name() == "AsyncHTTPTransport", name
        monkeypatch.delenv(name)
    assert transport_name() == "AiohttpTransport"


def test_repr_hides_user_info_of_base_url(driver: Driver) -> None:
    client = driver.client(base_url="https://user:pa55word-xyz@gateway.test/acme/vqe/v1")
    assert "pa55word-xyz" not in repr(client)
    assert "user" not in repr(client)
    assert repr(client).endswith("(base_url='https://gateway.test/acme/vqe/v1')")


def test_a_bad_per_call_max_retries_names_the_option(driver: Driver) -> None:
    client = driver.client(FakeGateway())
    with pytest.raises(ValueError, match=r"^request_options\['max_retries'\]: .*>= 0"):
        driver.call(client, "get_status", "e", request_options={"max_retries": -1})


_BAD_INPUTS: list[tuple[object, dict[str, object] | None, type[Exception]]] = [
    (123, None, TypeError),
    ("", None, ValueError),
    ("e", {"retries": 1}, TypeError),
    ("e", {"timeout": "soon"}, ValueError),
    ("e", {"chunk_size": 0}, ValueError),
    ("e", {"max_retries": "2"}, TypeError),
    ("e", {"additional_headers": {"X": "a\nb"}}, ValueError),
    ("e", "not options", TypeError),  # type: ignore[list-item]
]


@pytest.mark.parametrize(("bad_id", "options", "expected"), _BAD_INPUTS)
def test_every_entry_point_refuses_the_same_input_the_same_way(
    driver: Driver,
    bad_id: object,
    options: dict[str, object] | None,
    expected: type[Exception],
    tmp_path: Path,
) -> None:
    """One checker for ids and one for ``request_options``: the endpoint methods, the
    workflows and the downloads raise the same error type for the same bad value, before
    anything is sent."""
    gateway = FakeGateway()
    client = driver.client(gateway)
    api = client.service_api
    calls: list[Callable[[], object]] = [
        lambda: driver.run(api.get_status(bad_id, request_options=options)),
        lambda: driver.run(api.get_logs(bad_id, request_options=options)),
        lambda: driver.run(api.cancel_execution(bad_id, request_options=options)),
        lambda: driver.run(api.wait_for_completion(bad_id, request_options=options)),
        lambda: driver.run(
            api.download_all_result_files(bad_id, tmp_path / "d", request_options=options)
        ),
        lambda: driver.run(
            api.download_result_file(bad_id, "f", tmp_path / "f", request_options=options)
        ),
        lambda: api.follow_logs(bad_id, request_options=options),
        lambda: api.get_result_file(bad_id, "f", request_options=options),
    ]
    for call in calls:
        with pytest.raises(expected):
            call()
    assert gateway.requests == []
