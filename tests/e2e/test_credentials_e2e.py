"""``ClientCredentials`` over loopback: the live mock gateway, and a slow token server."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from _credentials_support import Callers, Clock

from kipu_hub_service import (
    AsyncHubServiceClient,
    ClientCredentials,
    HubServiceClient,
    TokenEndpointError,
)
from kipu_hub_service.mock import MockGateway, Timing

KEY_ID, SECRET = "AKID-e2e", "e2e-secret-value-0123"


@pytest.fixture
def clock() -> Clock:
    return Clock(0.0)


@pytest.fixture
def gateway(clock: Clock) -> Iterator[MockGateway]:
    with MockGateway(
        base_path="/acme/vqe/v1",
        access_keys=[f"{KEY_ID}:{SECRET}"],
        token_lifetime=60,
        timing=Timing(pending=0, running=0),
        clock=clock,
    ) as gw:
        yield gw


def creds(gw: MockGateway, **options: Any) -> ClientCredentials:
    return ClientCredentials(KEY_ID, SECRET, token_endpoint=gw.token_url, **options)


def test_run_with_access_keys_on_both_clients(gateway: MockGateway) -> None:
    c = creds(gateway)
    with HubServiceClient(base_url=gateway.url, token=c) as client:
        result = client.service_api.run(request={"input": {"x": 1}}, timeout=30)
        assert result.embedded is not None

    async def go() -> None:
        async with AsyncHubServiceClient(base_url=gateway.url, token=c) as client:
            await client.service_api.run(request={"input": {"x": 2}}, timeout=30)

    asyncio.run(go())
    assert gateway.stats()["tokens"] == {"requests": 1, "issued": 1, "rejected": 0, "live": 1}
    assert gateway.stats()["executions_created"] == 2


def test_the_token_is_refreshed_before_the_gateway_would_refuse_it(
    gateway: MockGateway, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="kipu_hub_service")
    c = creds(gateway, clock=clock)
    with HubServiceClient(base_url=gateway.url, token=c) as client:
        for step in range(6):  # 0, 25, 50, ... 125 s: tokens live 60 s, refreshed after 30
            clock.now = step * 25.0
            client.service_api.get_service_executions()
    assert gateway.stats()["tokens"]["requests"] == 3
    assert "-> 401" not in caplog.text


def test_an_expired_token_is_replaced_after_one_401(
    gateway: MockGateway, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="kipu_hub_service")
    c = creds(gateway)  # its own clock: it does not know the gateway's time has passed
    with HubServiceClient(base_url=gateway.url, token=c) as client:
        client.service_api.get_service_executions()
        clock.now += 61
        client.service_api.get_service_executions()
    assert gateway.stats()["tokens"]["requests"] == 2
    assert caplog.text.count("GET /acme/vqe/v1/ -> 401") == 1
    assert caplog.text.count("GET /acme/vqe/v1/ -> 200") == 2
    assert SECRET not in caplog.text


def test_many_threads_one_token_request(gateway: MockGateway) -> None:
    c = creds(gateway)
    with HubServiceClient(base_url=gateway.url, token=c) as client:
        callers = Callers(10, client.service_api.get_service_executions)
        callers.join()
    assert callers.errors == []
    assert gateway.stats()["tokens"]["requests"] == 1


async def test_many_tasks_one_token_request(gateway: MockGateway) -> None:
    async with AsyncHubServiceClient(base_url=gateway.url, token=creds(gateway)) as client:
        await asyncio.gather(*(client.service_api.get_service_executions() for _ in range(10)))
    assert gateway.stats()["tokens"]["requests"] == 1


def test_wrong_secret(gateway: MockGateway) -> None:
    c = ClientCredentials(KEY_ID, "not-the-secret-999", token_endpoint=gateway.token_url)
    client = HubServiceClient(base_url=gateway.url, token=c)
    with client, pytest.raises(TokenEndpointError) as caught:
        client.service_api.get_service_executions()
    assert caught.value.oauth_error == "invalid_client"
    assert caught.value.status_code == 401
    assert "not-the-secret-999" not in str(caught.value) + repr(caught.value.body)


def test_get_token_gives_a_token_the_gateway_accepts(gateway: MockGateway) -> None:
    token = creds(gateway).get_token()
    with HubServiceClient(base_url=gateway.url, token=token) as client:
        assert client.service_api.get_service_executions() == []


def test_the_demo_signs_in_with_an_access_key() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kipu_hub_service.mock.demo"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "/token (access key demo-access-key)" in done.stdout
    assert re.search(r"Access key +1 token request for \d+ gateway calls", done.stdout)
    # The demo prints its (published) demo secret once, deliberately, in the export line for
    # another shell; nothing the SDK writes (logs, errors, reprs) repeats it.
    lines = done.stdout.splitlines()
    exported = [line for line in lines if line.strip().startswith("export ")]
    assert "export HUB_SERVICE_SECRET_ACCESS_KEY=demo-secret-access-key" in [
        line.strip() for line in exported
    ]
    rest = "\n".join(line for line in lines if line not in exported) + done.stderr
    assert "demo-secret-access-key" not in rest


# -- a slow token endpoint and a busy event loop ----------------------------------------------


class SlowTokenServer:
    """A token endpoint that answers only once ``ticks`` has reached ``needed`` (or after 10 s):
    what it saw tells whether the client's event loop ran while it waited for the token."""

    def __init__(self, needed: int = 10) -> None:
        self.ticks = 0
        self.needed = needed
        self.seen_ticks: list[int] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                for _ in range(1000):
                    if owner.ticks >= owner.needed:
                        break
                    threading.Event().wait(0.01)
                owner.seen_ticks.append(owner.ticks)
                self.answer({"access_token": "slow-token-1", "expires_in": 600})

            def do_GET(self) -> None:
                self.answer([])

            def answer(self, payload: Any) -> None:
                body = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SlowTokenServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_the_event_loop_keeps_running_during_a_slow_exchange() -> None:
    with SlowTokenServer(needed=10) as server:
        c = ClientCredentials(KEY_ID, SECRET, token_endpoint=server.url + "/token")
        stop = asyncio.Event()

        async def ticker() -> None:
            while not stop.is_set():
                server.ticks += 1
                await asyncio.sleep(0.005)

        ticking = asyncio.ensure_future(ticker())
        try:
            async with AsyncHubServiceClient(base_url=server.url + "/svc", token=c) as client:
                assert await client.service_api.get_service_executions() == []
            assert await c.aget_token() == "slow-token-1"
        finally:
            stop.set()
            await ticking
    # The token server held its answer until the loop had ticked ten times.
    assert server.seen_ticks and server.seen_ticks[0] >= 10
