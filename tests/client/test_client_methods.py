"""Every ``service_api`` method of both clients, through ``httpx.MockTransport``."""

from __future__ import annotations

import asyncio
import datetime
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from _client_support import BASE, TOKEN, Driver, FakeGateway, execution_json

from kipu_hub_service import (
    ApiError,
    AsyncHubServiceClient,
    HalLink,
    HubServiceClient,
    LogEntry,
    LogEntrySeverity,
    NotFoundError,
    RequestBodyModel,
    ResultResponse,
    ServiceExecution,
    ServiceExecutionStatus,
)


def test_get_service_executions(driver: Driver) -> None:
    gateway = FakeGateway()
    gateway.add("a", "RUNNING")
    gateway.add("b", "SUCCEEDED")
    client = driver.client(gateway)
    executions = driver.call(client, "get_service_executions")
    assert [e.id for e in executions] == ["a", "b"]
    assert all(isinstance(e, ServiceExecution) for e in executions)
    assert executions[1].status == "SUCCEEDED"
    assert executions[1].status is ServiceExecutionStatus.SUCCEEDED
    request = gateway.requests[-1]
    assert request.method == "GET"
    assert str(request.url) == BASE + "/"


def test_start_execution_sends_body_and_idempotency_key(driver: Driver) -> None:
    gateway = FakeGateway()
    client = driver.client(gateway)
    body = {"input": {"molecule": "H2", "basis": "sto-3g"}, "tags": ["demo"], "extra": None}
    execution = driver.call(client, "start_execution", request=body)
    assert isinstance(execution, ServiceExecution)
    assert execution.id == "exec-1"
    assert execution.status == "PENDING"
    assert execution.tags == ["demo"]
    sent = gateway.requests[-1]
    assert sent.method == "POST"
    assert str(sent.url) == BASE + "/"
    assert json.loads(sent.content) == body
    assert sent.headers["Content-Type"] == "application/json"
    first_key = sent.headers["Idempotency-Key"]
    assert uuid.UUID(first_key).version == 4
    driver.call(client, "start_execution", request=body)
    assert gateway.requests[-1].headers["Idempotency-Key"] != first_key


def test_start_execution_accepts_the_generated_model(driver: Driver) -> None:
    gateway = FakeGateway()
    client = driver.client(gateway)
    model = RequestBodyModel(input_={"molecule": "H2"})
    model["tags"] = ["m"]
    driver.call(client, "start_execution", request=model)
    assert json.loads(gateway.requests[-1].content) == {"input": {"molecule": "H2"}, "tags": ["m"]}


def test_start_execution_request_is_keyword_only_and_a_dict(driver: Driver) -> None:
    gateway = FakeGateway()
    client = driver.client(gateway)
    with pytest.raises(TypeError):
        client.service_api.start_execution({"input": {}})
    with pytest.raises(TypeError, match="request must be a dict"):
        driver.call(client, "start_execution", request=["not", "an", "object"])
    with pytest.raises(TypeError, match="keys must be str"):
        driver.call(client, "start_execution", request={1: "x"})
    assert gateway.requests == []


def test_get_status(driver: Driver) -> None:
    gateway = FakeGateway()
    gateway.add("exec-9", "RUNNING")
    client = driver.client(gateway)
    execution = driver.call(client, "get_status", "exec-9")
    assert execution.id == "exec-9"
    assert execution.status == ServiceExecutionStatus.RUNNING
    assert str(gateway.requests[-1].url) == BASE + "/exec-9"
    assert gateway.requests[-1].method == "GET"


def test_get_result_hal_envelope(driver: Driver) -> None:
    gateway = FakeGateway()
    gateway.add("exec-1")
    client = driver.client(gateway)
    result = driver.call(client, "get_result", "exec-1")
    assert isinstance(result, ResultResponse)
    assert result.embedded and result.embedded.status
    assert result.embedded.status.status == "SUCCEEDED"
    assert isinstance(result.links.status, HalLink)
    assert result.links.status.href == "/exec-1"
    assert result.links["result.bin"].href == "/exec-1/result/result.bin"
    assert result["energy"] == -1.137
    assert "energy" in result
    assert str(gateway.requests[-1].url) == BASE + "/exec-1/result"


def test_get_result_file_yields_the_bytes(driver: Driver) -> None:
    payload = bytes(range(256)) * 1000
    gateway = FakeGateway(file_bytes=payload)
    gateway.add("exec-1")
    client = driver.client(gateway)
    chunks = driver.file(client, "exec-1", "result.bin")
    assert b"".join(chunks) == payload
    assert str(gateway.requests[-1].url) == BASE + "/exec-1/result/result.bin"


def test_get_result_file_chunk_size_option(driver: Driver) -> None:
    gateway = FakeGateway(file_bytes=b"x" * 1000)
    gateway.add("exec-1")
    client = driver.client(gateway)
    chunks = driver.file(client, "exec-1", "f", request_options={"chunk_size": 300})
    assert [len(c) for c in chunks] == [300, 300, 300, 100]
    default = driver.file(client, "exec-1", "f")
    assert [len(c) for c in default] == [1000]


def test_get_result_file_is_lazy_and_raises_mapped_errors(driver: Driver) -> None:
    gateway = FakeGateway()
    client = driver.client(gateway)
    iterator = client.service_api.get_result_file("missing", "f")
    assert gateway.requests == []
    with pytest.raises(NotFoundError) as info:
        driver.file(client, "missing", "f")
    assert info.value.status_code == 404
    assert info.value.body == {"detail": "Not found"}
    if driver.is_async:
        driver.run(iterator.aclose())  # type: ignore[attr-defined]


class _BlockingStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """Sends one chunk, then waits for the test to say it received it, then the rest."""

    def __init__(self, first: bytes, rest: bytes) -> None:
        self.first = first
        self.rest = rest
        self.received = threading.Event()
        self.areceived = asyncio.Event()
        self.finished = False

    def __iter__(self) -> Iterator[bytes]:
        yield self.first
        if not self.received.wait(timeout=30):
            raise httpx.ReadTimeout("test never confirmed the first chunk")
        yield self.rest
        self.finished = True

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.first
        await asyncio.wait_for(self.areceived.wait(), timeout=30)
        yield self.rest
        self.finished = True


@pytest.mark.parametrize("chunk_size", [None, 4])
def test_get_result_file_truly_streams(driver: Driver, chunk_size: int | None) -> None:
    first = b"abcd" if chunk_size else b"a" * (64 * 1024)
    stream = _BlockingStream(first, b"the rest")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=stream)

    client = driver.client(handler)
    options = {"chunk_size": chunk_size} if chunk_size else None
    iterator = client.service_api.get_result_file("e", "f", request_options=options)
    if driver.is_async:

        async def consume() -> bytes:
            got = await anext(iterator)
            assert not stream.finished
            stream.areceived.set()
            return got + b"".join([c async for c in iterator])

        data = driver.run(consume())
    else:
        got = next(iterator)
        assert got == first
        assert not stream.finished
        stream.received.set()
        data = got + b"".join(iterator)
    assert data == first + b"the rest"
    assert stream.finished


def test_get_logs_entries_are_timezone_aware(driver: Driver) -> None:
    gateway = FakeGateway()
    gateway.add("exec-1")
    client = driver.client(gateway)
    entries = driver.call(client, "get_logs", "exec-1")
    assert [e.message for e in entries] == ["Execution started", "Done"]
    assert all(isinstance(e, LogEntry) for e in entries)
    assert entries[0].severity == "INFO"
    assert entries[1].severity is LogEntrySeverity.NOTICE
    assert entries[0].timestamp == datetime.datetime(2026, 11, 25, 12, 0, 1, tzinfo=datetime.UTC)
    assert entries[1].timestamp.utcoffset() == datetime.timedelta(hours=1)
    assert str(gateway.requests[-1].url) == BASE + "/exec-1/log"


@pytest.mark.parametrize(
    ("status", "content"),
    [(204, b""), (200, b""), (200, b"  \n"), (200, b"null")],
    ids=["204", "empty", "blank", "null"],
)
def test_get_logs_none_when_no_logs(driver: Driver, status: int, content: bytes) -> None:
    headers = {"Content-Type": "application/json"}
    client = driver.client(lambda request: httpx.Response(status, content=content, headers=headers))
    assert driver.call(client, "get_logs", "exec-1") is None


def test_get_logs_empty_list(driver: Driver) -> None:
    client = driver.client(lambda request: httpx.Response(200, json=[]))
    assert driver.call(client, "get_logs", "exec-1") == []


@pytest.mark.parametrize("status", [200, 202, 204])
def test_cancel_execution_returns_none(driver: Driver, status: int) -> None:
    gateway = FakeGateway()
    gateway.add("exec-1")
    gateway.script["cancel"] = lambda request: httpx.Response(status, json=execution_json())
    client = driver.client(gateway)
    assert driver.call(client, "cancel_execution", "exec-1") is None
    assert gateway.requests[-1].method == "PUT"
    assert str(gateway.requests[-1].url) == BASE + "/exec-1/cancel"


def test_download_result_file_writes_atomically(driver: Driver, tmp_path: Path) -> None:
    payload = b"result-bytes" * 5000
    gateway = FakeGateway(file_bytes=payload)
    gateway.add("exec-1")
    client = driver.client(gateway)
    target = tmp_path / "out.bin"
    written = driver.call(client, "download_result_file", "exec-1", "result.bin", target)
    assert written == target
    assert target.read_bytes() == payload
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("get_status", ("",)),
        ("get_result", ("",)),
        ("get_logs", ("",)),
        ("cancel_execution", ("",)),
        ("download_result_file", ("", "f", "x")),
        ("download_result_file", ("e", "", "x")),
    ],
)
def test_empty_id_or_file_is_refused_before_sending(
    driver: Driver, method: str, args: tuple[str, ...]
) -> None:
    gateway = FakeGateway()
    client = driver.client(gateway)
    with pytest.raises(ValueError, match="must not be empty"):
        driver.call(client, method, *args)
    with pytest.raises(ValueError, match="must not be empty"):
        client.service_api.get_result_file("e", "")
    with pytest.raises(TypeError, match="must be a str"):
        driver.call(client, "get_status", 42)
    assert gateway.requests == []


def test_clients_are_context_managers_and_keyword_only() -> None:
    with pytest.raises(TypeError):
        HubServiceClient(BASE, TOKEN)  # type: ignore[misc]
    with pytest.raises(TypeError):
        AsyncHubServiceClient(BASE, TOKEN)  # type: ignore[misc]
    with HubServiceClient(base_url=BASE, token=TOKEN) as client:
        assert client.base_url == BASE
    assert client.httpx_client.is_closed

    async def use() -> AsyncHubServiceClient:
        async with AsyncHubServiceClient(base_url=BASE, token=TOKEN) as aclient:
            assert aclient.base_url == BASE
        return aclient

    aclient = asyncio.run(use())
    assert aclient.httpx_client.is_closed


def test_api_error_is_the_base_of_method_errors(driver: Driver) -> None:
    client = driver.client(lambda request: httpx.Response(404, json={"detail": "gone"}))
    with pytest.raises(ApiError) as info:
        driver.call(client, "get_status", "x")
    assert info.value.status_code == 404
