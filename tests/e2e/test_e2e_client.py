"""End to end over loopback HTTP against the mock gateway: the reference snippets unchanged, and
every method of the sync client and of the async client (on aiohttp and on httpx's transport)."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _reference_snippets import QUICKSTART_BASE, run_snippet

from kipu_hub_service import (
    AsyncHubServiceClient,
    AuthenticationError,
    ConflictError,
    HubServiceClient,
    NotFoundError,
    ResultResponse,
    ServiceExecution,
)
from kipu_hub_service.mock import DEFAULT_RESULT_SIZE, MockGateway, Timing
from kipu_hub_service.mock.files import iter_result_bin
from kipu_hub_service.testing import running_mock_gateway, sdk_transport

TOKEN = "e2e-token-abcdef"
BASE_PATH = "/acme/vqe/v1"
SMALL = 200_000
REAL_HOST = httpx.URL(QUICKSTART_BASE).host


@pytest.fixture(scope="module")
def gateway() -> Iterator[MockGateway]:
    with MockGateway(base_path=BASE_PATH, timing=Timing(pending=0.0, running=0.0)) as running:
        yield running


def expected_bin(execution_id: str, size: int) -> bytes:
    return b"".join(iter_result_bin(execution_id, size))


class _ToLoopback(httpx.BaseTransport):
    """Sends requests for the real gateway host to the mock gateway on loopback instead."""

    def __init__(self, url: str) -> None:
        self._target = httpx.URL(url)
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == REAL_HOST:
            request.url = request.url.copy_with(
                scheme=self._target.scheme, host=self._target.host, port=self._target.port
            )
            request.headers["Host"] = self._target.netloc.decode("ascii")
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def test_reference_snippets_against_the_mock_gateway(
    gateway: MockGateway,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    with sdk_transport(_ToLoopback(gateway.url)):
        quick = run_snippet("quickstart", {})
    quick["service"].close()
    assert quick["execution"].status in ("PENDING", "RUNNING", "SUCCEEDED")
    capsys.readouterr()
    assert httpx.URL(QUICKSTART_BASE).path == BASE_PATH

    with HubServiceClient(base_url=gateway.url, token=TOKEN) as service:
        namespace: dict[str, Any] = {"service": service}
        run_snippet("start_execution", namespace)
        execution = namespace["execution"]
        namespace["execution_id"] = execution.id
        assert capsys.readouterr().out.startswith(execution.id)
        run_snippet("polling", namespace)
        assert namespace["final"] == "SUCCEEDED"
        for name in ("get_service_executions", "get_status", "get_result", "get_logs"):
            run_snippet(name, namespace)
        out = capsys.readouterr().out
        assert execution.id in out
        assert "SUCCEEDED" in out
        run_snippet("get_result_file", namespace)
        assert (tmp_path / "result.bin").read_bytes() == expected_bin(
            execution.id, DEFAULT_RESULT_SIZE
        )
        run_snippet("streaming", namespace)
        assert json.loads((tmp_path / "result.json").read_bytes())
        with pytest.raises(ConflictError):
            run_snippet("cancel_execution", namespace)
        long = service.service_api.start_execution(request={"input": {"duration": 600}})
        namespace["execution_id"] = long.id
        run_snippet("cancel_execution", namespace)
        assert service.service_api.get_status(long.id).status == "CANCELLED"


def _check_lifecycle_results(
    started: ServiceExecution,
    final: ServiceExecution,
    listed: list[ServiceExecution],
    result: ResultResponse,
    data: bytes,
    logs: list[Any] | None,
) -> None:
    assert started.tags == ["e2e"]
    assert final.status == "SUCCEEDED"
    assert final.id == started.id
    assert started.id in [e.id for e in listed]
    assert result.embedded and result.embedded.status
    assert result.embedded.status.status == "SUCCEEDED"
    assert result.links.status.href.endswith(f"/{started.id}")
    assert {"result.bin", "result.json"} <= set(result.links.additional_keys)
    assert result["output"] == {"input": {"result_size": SMALL}}
    assert data == expected_bin(started.id, SMALL)
    assert logs
    assert all(entry.timestamp.tzinfo is not None for entry in logs)
    assert logs[0].timestamp <= datetime.datetime.now(datetime.UTC)


def test_sync_client_lifecycle(gateway: MockGateway, tmp_path: Path) -> None:
    with HubServiceClient(base_url=gateway.url, token=TOKEN) as client:
        api = client.service_api
        started = api.start_execution(request={"input": {"result_size": SMALL}, "tags": ["e2e"]})
        final = api.get_status(started.id)
        listed = api.get_service_executions()
        result = api.get_result(started.id)
        data = b"".join(api.get_result_file(started.id, "result.bin"))
        logs = api.get_logs(started.id)
        _check_lifecycle_results(started, final, listed, result, data, logs)
        target = api.download_result_file(started.id, "result.bin", tmp_path / "r.bin")
        assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()
        running = api.start_execution(request={"input": {"duration": 600}})
        assert api.get_logs(running.id) is None or isinstance(api.get_logs(running.id), list)
        assert api.cancel_execution(running.id) is None
        assert api.get_status(running.id).status == "CANCELLED"
        with pytest.raises(NotFoundError) as info:
            api.get_status("..")
        assert info.value.status_code == 404
        with pytest.raises(NotFoundError):
            b"".join(api.get_result_file(started.id, "../result.bin"))


@pytest.mark.parametrize("backend", ["aiohttp", "httpx"])
def test_async_client_lifecycle(
    gateway: MockGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    if backend == "httpx":
        monkeypatch.setenv("QHUB_SERVICE_NO_AIOHTTP", "1")

    # Anything left unclosed (an aiohttp session, say) is reported to the loop's handler.
    reports: list[dict[str, Any]] = []

    async def run() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, report: reports.append(report))
        async with AsyncHubServiceClient(base_url=gateway.url, token=TOKEN) as client:
            assert ("Aiohttp" in type(client.httpx_client._transport).__name__) is (
                backend == "aiohttp"
            )
            api = client.service_api
            started = await api.start_execution(
                request={"input": {"result_size": SMALL}, "tags": ["e2e"]}
            )
            final = await api.get_status(started.id)
            listed = await api.get_service_executions()
            result = await api.get_result(started.id)
            data = b"".join([c async for c in api.get_result_file(started.id, "result.bin")])
            logs = await api.get_logs(started.id)
            _check_lifecycle_results(started, final, listed, result, data, logs)
            target = await api.download_result_file(started.id, "result.bin", tmp_path / "r.bin")
            assert target.read_bytes() == data
            running = await api.start_execution(request={"input": {"duration": 600}})
            assert await api.cancel_execution(running.id) is None
            assert (await api.get_status(running.id)).status == "CANCELLED"
            with pytest.raises(NotFoundError):
                await api.get_status("..")
            many = await asyncio.gather(*(api.get_status(started.id) for _ in range(50)))
            assert {e.id for e in many} == {started.id}
            half_read = api.get_result_file(started.id, "result.bin")
            assert await anext(aiter(half_read))
            await half_read.aclose()
            assert (await api.get_status(started.id)).id == started.id

    asyncio.run(run())
    assert [report.get("message") for report in reports] == []


def test_tokens_against_a_gateway_that_checks_them() -> None:
    with running_mock_gateway(tokens=["good-token-1", "good-token-2"]) as url:
        with HubServiceClient(base_url=url, token="bad-token") as client:
            with pytest.raises(AuthenticationError) as info:
                client.service_api.get_service_executions()
            assert "bad-token" not in str(info.value)
        handed = iter(["good-token-0-expired", "good-token-2"])
        with HubServiceClient(base_url=url, token=lambda: next(handed)) as client:
            assert client.service_api.get_service_executions() == []

        async def run() -> None:
            tokens = iter(["expired-async-token", "good-token-1"])

            async def async_token() -> str:
                return next(tokens)

            async with AsyncHubServiceClient(base_url=url, async_token=async_token) as client:
                assert await client.service_api.get_service_executions() == []

        asyncio.run(run())


@pytest.mark.parametrize("backend", ["sync", "aiohttp", "httpx"])
def test_token_never_in_debug_logs_on_real_transports(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    secret = "very-secret-token-0123456789"
    caplog.set_level(logging.DEBUG)
    if backend == "httpx":
        monkeypatch.setenv("QHUB_SERVICE_NO_AIOHTTP", "1")
    with running_mock_gateway(tokens=[secret + "-2"]) as url:
        handed = iter([secret + "-1"])

        def token() -> str:
            return next(handed, secret + "-2")

        if backend == "sync":
            with HubServiceClient(base_url=url, token=token) as client:
                client.service_api.get_service_executions()
                with pytest.raises(NotFoundError):
                    client.service_api.get_status("missing")
        else:

            async def run() -> None:
                async with AsyncHubServiceClient(base_url=url, token=token) as client:
                    await client.service_api.get_service_executions()
                    with pytest.raises(NotFoundError):
                        await client.service_api.get_status("missing")

            asyncio.run(run())
    assert any(r.name == "kipu_hub_service" for r in caplog.records)
    assert secret not in caplog.text
