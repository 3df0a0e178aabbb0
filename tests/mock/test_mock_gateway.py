"""The mock gateway over real HTTP on loopback: lifecycle, logs, results, files, errors, auth."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from qhub_service_gen.models import (
    LogEntry,
    ResultResponse,
    ResultResponseEmbedded,
    ServiceExecution,
)
from starlette.types import Message, Scope

from kipu_hub_service.mock import (
    DEFAULT_RESULT_SIZE,
    MockGateway,
    MockGatewayApp,
    Timing,
    iter_result_bin,
)
from kipu_hub_service.mock.files import DEFAULT_CHUNK

AUTH = {"Authorization": "Bearer test-token"}


class Clock:
    """A clock the test moves by hand, so lifecycle states never depend on real time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gateway(clock: Clock) -> Iterator[MockGateway]:
    with MockGateway(timing=Timing(pending=1.0, running=4.0), clock=clock) as gw:
        yield gw


@pytest.fixture
def client(gateway: MockGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, headers=AUTH, timeout=30) as c:
        yield c


def start(client: httpx.Client, body: dict[str, Any] | None = None, **headers: str) -> str:
    response = client.post(
        "/", json=body if body is not None else {"input": {"molecule": "H2"}}, headers=headers
    )
    assert response.status_code == 201, response.text
    execution_id: str = response.json()["id"]
    return execution_id


def expected_bin(execution_id: str, size: int, start: int = 0) -> bytes:
    return b"".join(iter_result_bin(execution_id, size, start))


def assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    return body


# -- lifecycle -------------------------------------------------------------------------------


def test_lifecycle_pending_running_succeeded(
    gateway: MockGateway, client: httpx.Client, clock: Clock
) -> None:
    body = {"input": {"molecule": "H2", "basis": "sto-3g"}, "tags": ["demo"]}
    created = client.post("/", json=body)
    assert created.status_code == 201
    execution = ServiceExecution.from_dict(created.json())
    assert execution.status == "PENDING"
    assert execution.tags == ["demo"]
    assert created.json()["startedAt"] is None and created.json()["endedAt"] is None
    assert created.headers["location"] == f"{gateway.url}/{execution.id}"

    clock.now = 1.5
    running = client.get(f"/{execution.id}").json()
    assert running["status"] == "RUNNING"
    assert running["startedAt"] is not None and running["endedAt"] is None

    clock.now = 5.0
    done = client.get(f"/{execution.id}").json()
    assert done["status"] == "SUCCEEDED"
    assert done["createdAt"] < done["startedAt"] < done["endedAt"]
    assert client.get("/").json()[0]["id"] == execution.id


def test_list_is_newest_first(client: httpx.Client, clock: Clock) -> None:
    assert client.get("/").json() == []
    first = start(client)
    clock.now = 0.1
    second = start(client)
    listed = client.get("/").json()
    assert [e["id"] for e in listed] == [second, first]
    assert [ServiceExecution.from_dict(e).status for e in listed] == ["PENDING", "PENDING"]


def test_logs_are_204_until_the_first_entry_then_accrue(client: httpx.Client, clock: Clock) -> None:
    execution_id = start(client)
    empty = client.get(f"/{execution_id}/log")
    assert empty.status_code == 204 and empty.content == b""

    seen: list[int] = []
    for now in (1.0, 2.0, 3.0, 5.0):
        clock.now = now
        response = client.get(f"/{execution_id}/log")
        assert response.status_code == 200
        entries = [LogEntry.from_dict(e) for e in response.json()]
        seen.append(len(entries))
        assert [e.timestamp for e in entries] == sorted(e.timestamp for e in entries)
    assert seen == sorted(seen) and seen[0] < seen[-1]
    final = client.get(f"/{execution_id}/log").json()
    assert final[0]["message"] == "Execution started"
    assert final[-1] == {**final[-1], "severity": "INFO", "message": "Execution succeeded"}


def test_failure_requested_by_the_input(client: httpx.Client, clock: Clock) -> None:
    execution_id = start(client, {"input": {"fail": True}})
    clock.now = 10.0
    assert client.get(f"/{execution_id}").json()["status"] == "FAILED"
    logs = client.get(f"/{execution_id}/log").json()
    assert logs[-1]["severity"] == "ERROR" and "failed" in logs[-1]["message"]
    result = client.get(f"/{execution_id}/result")
    assert result.status_code == 200
    envelope = result.json()
    assert envelope["_embedded"]["status"]["status"] == "FAILED"
    assert set(envelope["_links"]) == {"status"}
    assert envelope["error"]["code"] == "REQUESTED_FAILURE"
    assert_error(client.get(f"/{execution_id}/result/result.json"), 404)


def test_a_long_duration_from_the_input_keeps_it_running(
    client: httpx.Client, clock: Clock
) -> None:
    execution_id = start(client, {"input": {"duration": 100}})
    clock.now = 50.0
    assert client.get(f"/{execution_id}").json()["status"] == "RUNNING"
    clock.now = 102.0
    assert client.get(f"/{execution_id}").json()["status"] == "SUCCEEDED"


# -- cancel ---------------------------------------------------------------------------------


def test_cancel_pending_then_cancel_again_is_409(client: httpx.Client, clock: Clock) -> None:
    execution_id = start(client)
    response = client.put(f"/{execution_id}/cancel")
    assert response.status_code == 204 and response.content == b""
    status = client.get(f"/{execution_id}").json()
    assert status["status"] == "CANCELLED"
    assert status["startedAt"] is None and status["endedAt"] is not None
    logs = client.get(f"/{execution_id}/log").json()
    assert logs == [{**logs[0], "severity": "WARNING", "message": "Execution cancelled"}]
    assert "CANCELLED" in assert_error(client.put(f"/{execution_id}/cancel"), 409)["detail"]
    clock.now = 100.0
    assert client.get(f"/{execution_id}").json()["status"] == "CANCELLED"
    result = client.get(f"/{execution_id}/result").json()
    assert set(result["_links"]) == {"status"} and "output" not in result


def test_cancel_running_keeps_its_log_and_start(client: httpx.Client, clock: Clock) -> None:
    execution_id = start(client)
    clock.now = 3.5
    assert client.put(f"/{execution_id}/cancel").status_code == 204
    clock.now = 4.0
    status = client.get(f"/{execution_id}").json()
    assert status["status"] == "CANCELLED" and status["startedAt"] is not None
    messages = [e["message"] for e in client.get(f"/{execution_id}/log").json()]
    assert messages[0] == "Execution started" and messages[-1] == "Execution cancelled"
    assert "Execution succeeded" not in messages


def test_cancel_succeeded_is_409(client: httpx.Client, clock: Clock) -> None:
    execution_id = start(client)
    clock.now = 10.0
    assert "SUCCEEDED" in assert_error(client.put(f"/{execution_id}/cancel"), 409)["detail"]


# -- results --------------------------------------------------------------------------------


def test_result_is_a_hal_envelope_echoing_the_input(client: httpx.Client, clock: Clock) -> None:
    body = {"input": {"molecule": "LiH", "nested": [1, 2.5, None, {"a": "ü"}]}, "extra": True}
    execution_id = start(client, body)
    assert "finished" in assert_error(client.get(f"/{execution_id}/result"), 409)["detail"]
    assert_error(client.get(f"/{execution_id}/result/result.json"), 409)

    clock.now = 10.0
    raw = client.get(f"/{execution_id}/result").json()
    result = ResultResponse.from_dict(raw)
    assert result["output"] == {"input": body["input"]}
    embedded = result.embedded
    assert isinstance(embedded, ResultResponseEmbedded)
    assert isinstance(embedded.status, ServiceExecution)
    assert embedded.status.status == "SUCCEEDED"
    links = raw["_links"]
    assert links["status"]["href"] == f"{client.base_url}".rstrip("/") + f"/{execution_id}"
    assert set(links) == {"status", "result.json", "result.bin"}
    assert links["result.json"]["type"] == "application/json"
    for name in ("result.json", "result.bin"):
        assert links[name]["href"].endswith(f"/{execution_id}/result/{name}")
        assert httpx.get(links[name]["href"], headers=AUTH).status_code == 200

    document = json.loads(client.get(f"/{execution_id}/result/result.json").content)
    assert document == {"id": execution_id, "output": {"input": body["input"]}}


def test_result_bin_streams_with_etag_and_length(client: httpx.Client, clock: Clock) -> None:
    size = 3 * 1024 * 1024 + 17
    execution_id = start(client, {"input": {"result_size": size}})
    default_id = start(client)
    clock.now = 10.0
    with client.stream("GET", f"/{execution_id}/result/result.bin") as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.headers["accept-ranges"] == "bytes"
        assert int(response.headers["content-length"]) == size
        etag = response.headers["etag"]
        content = response.read()
    assert (
        hashlib.sha256(content).digest()
        == hashlib.sha256(expected_bin(execution_id, size)).digest()
    )
    again = client.get(f"/{execution_id}/result/result.bin")
    assert again.headers["etag"] == etag and again.content == content
    default = client.get(f"/{default_id}/result/result.bin")
    assert len(default.content) == DEFAULT_RESULT_SIZE
    assert default.headers["etag"] != etag and default.content != content[:DEFAULT_RESULT_SIZE]


def test_range_resumes_a_download(client: httpx.Client, clock: Clock) -> None:
    size = 2 * 1024 * 1024
    execution_id = start(client, {"input": {"result_size": size}})
    clock.now = 10.0
    url = f"/{execution_id}/result/result.bin"
    full = client.get(url)
    for offset in (1, 1_048_573, size - 1):
        part = client.get(url, headers={"Range": f"bytes={offset}-"})
        assert part.status_code == 206
        assert part.headers["content-range"] == f"bytes {offset}-{size - 1}/{size}"
        assert part.headers["etag"] == full.headers["etag"]
        assert int(part.headers["content-length"]) == size - offset
        assert part.content == full.content[offset:]

    beyond = client.get(url, headers={"Range": f"bytes={size}-"})
    assert_error(beyond, 416)
    assert beyond.headers["content-range"] == f"bytes */{size}"
    assert_error(client.get(url, headers={"Range": "bytes=0-10"}), 400)
    assert_error(client.get(url, headers={"Range": "items=5-"}), 400)

    stale = client.get(url, headers={"Range": "bytes=10-", "If-Range": '"other"'})
    assert stale.status_code == 200 and stale.content == full.content
    fresh = client.get(url, headers={"Range": "bytes=10-", "If-Range": full.headers["etag"]})
    assert fresh.status_code == 206 and fresh.content == full.content[10:]

    json_url = f"/{execution_id}/result/result.json"
    document = client.get(json_url)
    tail = client.get(json_url, headers={"Range": "bytes=5-"})
    assert tail.status_code == 206 and tail.content == document.content[5:]


def test_an_empty_result_file(client: httpx.Client, clock: Clock) -> None:
    execution_id = start(client, {"input": {"result_size": 0}})
    clock.now = 10.0
    response = client.get(f"/{execution_id}/result/result.bin")
    assert response.status_code == 200 and response.content == b""
    assert response.headers["content-length"] == "0"
    assert_error(
        client.get(f"/{execution_id}/result/result.bin", headers={"Range": "bytes=0-"}), 416
    )


def test_result_bin_content_is_the_same_from_any_offset() -> None:
    size = 3 * 1_048_573 + 11
    full = expected_bin("some-id", size)
    assert len(full) == size
    assert full[:1_048_573] != full[1_048_573 : 2 * 1_048_573]
    for offset in (0, 1, 65_536, 1_048_572, 1_048_573, 2_100_000, size - 1, size):
        assert expected_bin("some-id", size, offset) == full[offset:]
    assert [len(c) for c in iter_result_bin("some-id", 10, chunk=4)] == [4, 4, 2]
    # A small file is made from a prefix of the pattern: the same bytes as a big one's start.
    for small in (1, 3, 5, 256, 65_535, 65_536, 65_537):
        assert expected_bin("some-id", small) == full[:small]
        assert expected_bin("some-id", small, small // 2) == full[small // 2 : small]
    assert expected_bin("other-id", 1000) != full[:1000]
    with pytest.raises(ValueError):
        list(iter_result_bin("x", -1))


def test_a_multi_gib_file_is_generated_in_constant_memory(
    client: httpx.Client, clock: Clock
) -> None:
    size = 5 * 1024**3
    execution_id = start(client, {"input": {"result_size": size}})
    clock.now = 10.0
    url = f"/{execution_id}/result/result.bin"
    tracemalloc.start()
    try:
        received = 0
        with client.stream("GET", url) as response:
            assert int(response.headers["content-length"]) == size
            for chunk in response.iter_raw():
                received += len(chunk)
                if received >= 64 * 1024 * 1024:
                    break
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received >= 64 * 1024 * 1024
    assert peak < 32 * 1024 * 1024, peak
    tail = client.get(url, headers={"Range": f"bytes={size - 5000}-"})
    assert tail.status_code == 206 and tail.content == expected_bin(execution_id, size, size - 5000)


def _streams_once_idle(gateway: MockGateway) -> dict[str, int]:
    """The stream counters once no body is being sent (bounded wait, not a timing check)."""
    for _ in range(2000):
        streams: dict[str, int] = gateway.stats()["streams"]
        if streams["active"] == 0:
            return streams
        time.sleep(0.01)
    raise AssertionError(f"a stream is still being sent: {gateway.stats()['streams']}")


def test_an_abandoned_download_stops_streaming(
    gateway: MockGateway, client: httpx.Client, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    size = 2 * 1024**3
    execution_id = start(client, {"input": {"result_size": size}})
    clock.now = 10.0
    caplog.set_level(logging.WARNING, logger="asyncio")
    with client.stream("GET", f"/{execution_id}/result/result.bin") as response:
        first = next(response.iter_raw())
    assert first
    assert client.get(f"/{execution_id}").json()["status"] == "SUCCEEDED"
    streams = _streams_once_idle(gateway)
    assert streams["abandoned"] == 1 and streams["completed"] == 0, streams
    assert 0 < streams["bytes_sent"] < size // 16, streams
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []


def test_a_finished_download_counts_as_completed(
    gateway: MockGateway, client: httpx.Client, clock: Clock
) -> None:
    execution_id = start(client, {"input": {"result_size": 3 * 1024 * 1024 + 7}})
    clock.now = 10.0
    body = client.get(f"/{execution_id}/result/result.bin").content
    assert len(body) == 3 * 1024 * 1024 + 7
    streams = _streams_once_idle(gateway)
    assert streams == {"active": 0, "completed": 1, "abandoned": 0, "bytes_sent": len(body)}


_PEER = ("10.0.0.7", 50123)


class _DeadTransport(asyncio.Transport):
    """A socket that dies when told: is_closing() turns true, writes go nowhere."""

    def __init__(self) -> None:
        super().__init__(extra={"peername": _PEER})
        self.closing = False

    def is_closing(self) -> bool:
        return self.closing

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def close(self) -> None:
        self.closing = True


class _DyingConnection:
    """A server connection whose socket dies after ``alive`` body chunks, as under asyncio:
    writes to the dead socket return at once without suspending, and the disconnect reaches
    the application only through a later turn of the event loop."""

    def __init__(self, alive: int, transport: _DeadTransport | None) -> None:
        self.alive = alive
        self.transport = transport
        self.chunks = 0
        self.request_read = False
        self.lost = asyncio.Event()

    async def send(self, message: Message) -> None:
        if message["type"] != "http.response.body" or not message.get("body"):
            return
        self.chunks += 1
        if self.chunks == self.alive:
            if self.transport is not None:
                self.transport.closing = True
            asyncio.get_running_loop().call_soon(self.lost.set)

    async def receive(self) -> Message:
        if not self.request_read:
            self.request_read = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.lost.wait()
        return {"type": "http.disconnect"}


def _scope(method: str, path: str, client: tuple[str, int] | None = None) -> Scope:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"authorization", b"Bearer t"), (b"host", b"mock")],
        "scheme": "http",
        "server": ("127.0.0.1", 80),
        "client": client,
    }


async def _start_in(app: MockGatewayApp, size: int) -> str:
    sent: list[Message] = []
    request = json.dumps({"input": {"result_size": size}}).encode()

    async def receive() -> Message:
        return {"type": "http.request", "body": request, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(_scope("POST", "/"), receive, send)
    assert sent[0]["status"] == 201
    execution_id: str = json.loads(sent[1]["body"])["id"]
    return execution_id


@pytest.mark.parametrize("transport", [True, False], ids=["transport-closing", "disconnect-only"])
async def test_a_stream_stops_soon_after_the_socket_dies(transport: bool) -> None:
    app = MockGatewayApp(timing=Timing(pending=0, running=0))
    size = 1024**3
    execution_id = await _start_in(app, size)
    dead = _DeadTransport() if transport else None
    connection = _DyingConnection(alive=3, transport=dead)
    if dead is not None:  # the connection as the gateway's server hands it over
        guarded = app.connections.protocol_class(asyncio.Protocol)()
        guarded.connection_made(dead)
        assert app.stats()["connections"]["open"] == 1
    await app(
        _scope("GET", f"/{execution_id}/result/result.bin", _PEER if transport else None),
        connection.receive,
        connection.send,
    )
    if dead is not None:
        guarded.connection_lost(None)
        assert app.stats()["connections"]["open"] == 0
    streams = app.stats()["streams"]
    assert streams["abandoned"] == 1 and streams["completed"] == 0 and streams["active"] == 0
    # Seeing the socket close stops the stream at once; the disconnect message takes a turn.
    assert connection.chunks <= connection.alive + (0 if transport else 2), connection.chunks
    assert streams["bytes_sent"] <= (connection.alive + 2) * DEFAULT_CHUNK, streams


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/{id}"),
        ("GET", "/{id}/result"),
        ("GET", "/{id}/result/result.json"),
        ("GET", "/{id}/log"),
        ("PUT", "/{id}/cancel"),
    ],
)
def test_unknown_execution_is_404_json(client: httpx.Client, method: str, path: str) -> None:
    response = client.request(method, path.format(id="no-such-id"))
    assert "no-such-id" in assert_error(response, 404)["detail"]


def test_unknown_result_file_is_404(client: httpx.Client, clock: Clock) -> None:
    execution_id = start(client)
    clock.now = 10.0
    assert_error(client.get(f"/{execution_id}/result/other.txt"), 404)


def test_an_encoded_slash_stays_inside_the_id(client: httpx.Client) -> None:
    response = client.get("/a%2Fb")
    assert "'a/b'" in assert_error(response, 404)["detail"]
    assert_error(client.get("/a%2Fb/log"), 404)


@pytest.mark.parametrize("path", ["/x/y/z/w/v", "/x/unknown", "/x/result/a/b", "/x/", "//log"])
def test_unknown_routes_are_404_json(gateway: MockGateway, path: str) -> None:
    assert_error(httpx.get(gateway.url + path, headers=AUTH), 404)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/", "GET, POST"),
        ("PUT", "/", "GET, POST"),
        ("POST", "/some-id", "GET"),
        ("HEAD", "/some-id/log", "GET"),
        ("OPTIONS", "/some-id/result", "GET"),
        ("PATCH", "/some-id/result/f", "GET"),
        ("GET", "/some-id/cancel", "PUT"),
        ("POST", "/some-id/cancel", "PUT"),
    ],
)
def test_undocumented_methods_are_405_with_allow(
    client: httpx.Client, method: str, path: str, allow: str
) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    if method != "HEAD":
        assert_error(response, 405)


@pytest.mark.parametrize(
    ("content", "content_type", "fragment"),
    [
        (b"", "application/json", "required"),
        (b"[1, 2]", "application/json", "object"),
        (b'"text"', "application/json", "object"),
        (b"null", "application/json", "object"),
        (b"{not json", "application/json", "JSON"),
        (b'{"input": NaN}', "application/json", "NaN"),
        (b"\xff\xfe", "application/json", "JSON"),
        (b'{"input": {}}', "text/plain", "Content-Type"),
        (b'{"input": {"result_size": -1}}', "application/json", "result_size"),
        (b'{"input": {"result_size": "10"}}', "application/json", "result_size"),
        (b'{"input": {"result_size": true}}', "application/json", "result_size"),
        (b'{"input": {"duration": -5}}', "application/json", "duration"),
    ],
)
def test_bad_bodies_are_400(
    client: httpx.Client, gateway: MockGateway, content: bytes, content_type: str, fragment: str
) -> None:
    response = client.post("/", content=content, headers={"content-type": content_type})
    assert fragment in assert_error(response, 400)["detail"]
    assert gateway.stats()["executions_created"] == 0


def test_any_json_object_starts_an_execution(client: httpx.Client) -> None:
    for body in ({}, {"inputDataRefs": [{"id": "x"}]}, {"input": 5, "tags": "not-a-list"}):
        execution_id = start(client, body)
        assert client.get(f"/{execution_id}").json()["tags"] is None


# -- auth -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": ""}, {"Authorization": "Bearer"}, {"Authorization": "Basic dTpw"}],
)
def test_missing_or_empty_token_is_401(gateway: MockGateway, headers: dict[str, str]) -> None:
    for method, path in (("GET", "/"), ("POST", "/"), ("GET", "/x"), ("PUT", "/x/cancel")):
        response = httpx.request(method, gateway.url + path, headers=headers, json={})
        assert_error(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
    assert gateway.stats()["executions_created"] == 0


def test_any_non_empty_token_is_accepted_by_default(gateway: MockGateway) -> None:
    for token in ("a", "another-token", "x.y.z"):
        response = httpx.get(gateway.url + "/", headers={"Authorization": f"bearer {token}"})
        assert response.status_code == 200


def test_tokens_restrict_access() -> None:
    with MockGateway(tokens=["alpha", "beta"]) as gw:
        for token, status in (("alpha", 200), ("beta", 200), ("gamma", 401), ("alph", 401)):
            response = httpx.get(gw.url + "/", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == status
        assert (
            "Invalid token"
            in assert_error(
                httpx.get(gw.url + "/", headers={"Authorization": "Bearer gamma"}), 401
            )["detail"]
        )


@pytest.mark.parametrize("tokens", [[], [""], [" padded "]])
def test_bad_token_lists_are_refused(tokens: list[str]) -> None:
    with pytest.raises(ValueError, match="tokens"):
        MockGateway(tokens=tokens)


# -- idempotency ----------------------------------------------------------------------------


def test_idempotency_key_returns_the_same_execution(
    client: httpx.Client, gateway: MockGateway, clock: Clock
) -> None:
    body = {"input": {"molecule": "H2"}}
    first = client.post("/", json=body, headers={"Idempotency-Key": "key-1"})
    clock.now = 2.0
    second = client.post("/", json=body, headers={"Idempotency-Key": "key-1"})
    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second.headers["location"] == first.headers["location"]
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    other = client.post("/", json=body, headers={"Idempotency-Key": "key-2"})
    assert other.json()["id"] != first.json()["id"]
    unkeyed = [client.post("/", json=body).json()["id"] for _ in range(2)]
    assert unkeyed[0] != unkeyed[1]
    stats = gateway.stats()
    assert stats["executions_created"] == 4
    assert stats["idempotent_replays"] == 1
    assert len(client.get("/").json()) == 4


def test_idempotency_key_with_another_body_is_409(
    client: httpx.Client, gateway: MockGateway
) -> None:
    client.post("/", json={"input": 1}, headers={"Idempotency-Key": "k"})
    response = client.post("/", json={"input": 2}, headers={"Idempotency-Key": "k"})
    assert "Idempotency-Key" in assert_error(response, 409)["detail"]
    same_body_reordered = client.post(
        "/", content=b'{ "input" : 1 }', headers={"Idempotency-Key": "k"}
    )
    assert same_body_reordered.status_code == 201
    assert gateway.stats()["executions_created"] == 1


@pytest.mark.parametrize("key", ["", "x" * 256])
def test_idempotency_key_length_is_checked(client: httpx.Client, key: str) -> None:
    response = client.post("/", json={}, headers={"Idempotency-Key": key})
    assert "Idempotency-Key" in assert_error(response, 400)["detail"]


def test_ids_are_deterministic_per_seed() -> None:
    def ids(seed: int) -> list[str]:
        with MockGateway(seed=seed) as gw, httpx.Client(base_url=gw.url, headers=AUTH) as c:
            return [start(c) for _ in range(3)]

    assert ids(1) == ids(1)
    assert ids(1) != ids(2)


# -- base path and control endpoints --------------------------------------------------------


def test_base_path_prefixes_every_operation() -> None:
    with MockGateway(base_path="acme/vqe/v1/", timing=Timing(0, 0)) as gw:
        assert gw.url.endswith("/acme/vqe/v1")
        root = gw.url.removesuffix("/acme/vqe/v1")
        with httpx.Client(base_url=gw.url, headers=AUTH) as c:
            created = c.post("/", json={"input": {}})
            execution_id = created.json()["id"]
            assert created.headers["location"] == f"{gw.url}/{execution_id}"
            assert c.get(f"/{execution_id}").json()["status"] == "SUCCEEDED"
            links = c.get(f"/{execution_id}/result").json()["_links"]
            assert links["result.bin"]["href"].startswith(f"{gw.url}/{execution_id}/")
        assert httpx.get(gw.url, headers=AUTH).status_code == 200
        assert_error(httpx.get(f"{root}/", headers=AUTH), 404)
        assert_error(httpx.get(f"{root}/{execution_id}", headers=AUTH), 404)
        assert_error(httpx.get(f"{root}/acme/vqe/v2/", headers=AUTH), 404)


@pytest.mark.parametrize("base_path", ["/a//b", "/a b", "/a?b", "/a#b"])
def test_bad_base_paths_are_refused(base_path: str) -> None:
    with pytest.raises(ValueError, match="base path"):
        MockGateway(base_path=base_path)


def test_stats_endpoint_counts_requests(gateway: MockGateway, client: httpx.Client) -> None:
    start(client)
    client.get("/")
    root = gateway.url
    stats = httpx.get(f"{root}/_mock/stats").json()
    now = gateway.stats()
    # Two connections were open while it answered: the client's and the stats request's own.
    connections, connections_now = stats.pop("connections"), now.pop("connections")
    assert connections["open"] == 2 and connections["accepted"] == 2, connections
    assert {**connections, "open": 0} == {**connections_now, "open": 0}
    assert stats == now
    assert stats["executions_created"] == 1
    assert stats["requests"] == {"startExecution": 1, "getServiceExecutions": 1}
    assert_error(httpx.post(f"{root}/_mock/stats"), 405)
    assert_error(httpx.get(f"{root}/_mock/other"), 404)


def test_gateway_url_needs_a_started_gateway() -> None:
    gateway = MockGateway()
    with pytest.raises(RuntimeError, match="not running"):
        _ = gateway.url
    with gateway:
        with pytest.raises(RuntimeError, match="already running"):
            gateway.start()
        url = gateway.url
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/", headers=AUTH)
    gateway.stop()
