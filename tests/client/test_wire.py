"""A try's round trip (``_wire``): on the HTTP client the SDK makes it goes straight to the
transport, yet a user sees what ``client.send`` gives an injected client. Cookies the gateway
sets are kept and sent back, httpx logs its INFO line, a transport error names its request,
event hooks added to ``httpx_client`` are called, and a closed client refuses to send.

Each case runs on the sync and the async client, SDK-made (the transport from
``sdk_transport``) and injected, and the two must agree. Without a test transport, both
clients make their transport themselves unless a proxy is configured (then httpx's client
applies it, through ``send``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
from _client_support import BASE, TOKEN, Driver, FakeGateway, execution_json

from kipu_hub_service import APIConnectionError, AsyncHubServiceClient, HubServiceClient
from kipu_hub_service.testing import retries_without_delay, running_mock_gateway, sdk_transport

both = pytest.mark.parametrize("injected", [False, True], ids=["sdk-client", "injected"])


def make(driver: Driver, handler: Any, injected: bool, **kwargs: Any) -> Any:
    if injected:
        return driver.client(handler, **kwargs)
    with sdk_transport(httpx.MockTransport(handler)):
        return driver.client(inject=False, **kwargs)


def count_sends(monkeypatch: pytest.MonkeyPatch, is_async: bool) -> list[str]:
    """The paths of the requests that go through httpx's ``send`` from now on."""
    kind = httpx.AsyncClient if is_async else httpx.Client
    calls: list[str] = []
    original = kind.send

    def counted(self: Any, request: httpx.Request, **kwargs: Any) -> Any:
        calls.append(request.url.path)
        return original(self, request, **kwargs)

    monkeypatch.setattr(kind, "send", counted)
    return calls


def gateway() -> FakeGateway:
    fake = FakeGateway()
    fake.add("exec-1")
    return fake


@both
def test_cookies_the_gateway_sets_are_kept_and_sent_back(driver: Driver, injected: bool) -> None:
    sent: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("Cookie"))
        return httpx.Response(200, json=execution_json(), headers={"Set-Cookie": "lb=node-7"})

    client = make(driver, handler, injected)
    driver.call(client, "get_status", "exec-1")
    driver.call(client, "get_status", "exec-1")
    assert sent == [None, "lb=node-7"]
    assert client.httpx_client.cookies["lb"] == "node-7"


@both
def test_each_try_is_one_info_line_of_httpx(
    driver: Driver, injected: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="httpx")
    urls: list[str] = []
    fake = gateway()

    def handler(request: httpx.Request) -> httpx.Response:
        urls.append(str(request.url))
        return fake(request)

    client = make(driver, handler, injected)
    driver.call(client, "get_status", "exec-1")
    lines = [record.getMessage() for record in caplog.records if record.name == "httpx"]
    assert lines == [f'HTTP Request: GET {urls[0]} "HTTP/1.1 200 OK"']
    assert TOKEN not in caplog.text


@both
def test_a_transport_error_names_its_request_without_the_token(
    driver: Driver, injected: bool
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with retries_without_delay():
        client = make(driver, handler, injected, max_retries=1)
    with pytest.raises(APIConnectionError) as info:
        driver.call(client, "get_status", "exec-1")
    cause = info.value.__cause__
    assert isinstance(cause, httpx.ConnectError)
    assert str(cause.request.url) == f"{BASE}/exec-1"
    assert TOKEN not in repr(dict(cause.request.headers))


@both
def test_event_hooks_added_to_the_http_client_are_called(driver: Driver, injected: bool) -> None:
    seen: list[tuple[str, Any]] = []
    client = make(driver, gateway(), injected)
    hooks = client.httpx_client.event_hooks
    if driver.is_async:

        async def on_request(request: httpx.Request) -> None:
            seen.append(("request", request.url.path))

        async def on_response(response: httpx.Response) -> None:
            seen.append(("response", response.status_code))

    else:

        def on_request(request: httpx.Request) -> None:
            seen.append(("request", request.url.path))

        def on_response(response: httpx.Response) -> None:
            seen.append(("response", response.status_code))

    hooks["request"].append(on_request)
    hooks["response"].append(on_response)
    driver.call(client, "get_status", "exec-1")
    path = httpx.URL(f"{BASE}/exec-1").path
    assert seen == [("request", path), ("response", 200)]


@both
def test_a_closed_http_client_refuses_to_send(driver: Driver, injected: bool) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=execution_json())

    client = make(driver, handler, injected)
    driver.run(client.httpx_client.aclose() if driver.is_async else client.httpx_client.close())
    with pytest.raises(RuntimeError, match="client has been closed"):
        driver.call(client, "get_status", "exec-1")
    assert sent == []


@both
def test_only_an_injected_client_goes_through_httpx_send(
    driver: Driver, injected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK's own client skips httpx's ``send`` (the fast path of ``docs/performance.md``);
    an injected one keeps every layer of it."""
    calls = count_sends(monkeypatch, driver.is_async)
    client = make(driver, gateway(), injected)
    driver.call(client, "get_status", "exec-1")
    assert len(calls) == (1 if injected else 0)


@pytest.mark.parametrize("proxy", [False, True], ids=["direct", "proxy-configured"])
@pytest.mark.parametrize("kind", ["sync", "async", "async-no-aiohttp"])
def test_a_client_s_own_transport_is_called_directly_unless_a_proxy_is_configured(
    kind: str, proxy: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a real socket, with the transports the SDK picks itself (httpx's, aiohttp's, or
    httpx's async one with ``QHUB_SERVICE_NO_AIOHTTP``): no ``send`` without a proxy; with
    one, every request goes through ``send`` (and so through the proxy)."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    if kind == "async-no-aiohttp":
        monkeypatch.setenv("QHUB_SERVICE_NO_AIOHTTP", "1")
    is_async = kind != "sync"
    calls = count_sends(monkeypatch, is_async)
    with running_mock_gateway(tokens=[TOKEN]) as url:
        if proxy:  # a proxy that refuses connections: the call fails after going to it
            monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        outcome: list[Any] = []

        async def main() -> None:
            async with AsyncHubServiceClient(base_url=url, token=TOKEN, max_retries=0) as client:
                outcome.append(await client.service_api.get_service_executions())

        try:
            if is_async:
                asyncio.run(main())
            else:
                with HubServiceClient(base_url=url, token=TOKEN, max_retries=0) as client:
                    outcome.append(client.service_api.get_service_executions())
        except APIConnectionError as exc:
            outcome.append(exc)
    if proxy:
        assert len(calls) == 1 and isinstance(outcome[0], APIConnectionError)
    else:
        assert calls == [] and outcome == [[]]
