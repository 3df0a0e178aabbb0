"""The mock gateway against hostile input and slow clients: nothing one client sends can break
it for the others, and connections that trickle or pile up are timed out or shed."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import re
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Message

import kipu_hub_service.mock
from kipu_hub_service.mock import (
    FaultConfig,
    FaultKind,
    InjectedDisconnect,
    Limits,
    MockGateway,
    MockGatewayApp,
    Timing,
)
from kipu_hub_service.mock.__main__ import build_parser, limits_config
from kipu_hub_service.mock.__main__ import main as mock_main
from kipu_hub_service.mock.strict_json import parsed_size

AUTH = {"Authorization": "Bearer t"}
# The installed package itself (src/ in the editable install), wherever this file lives.
MOCK_SOURCES = Path(str(kipu_hub_service.mock.__file__)).parent


def strict_json(response: httpx.Response) -> Any:
    """The body as JSON that any parser accepts: UTF-8 text, finite numbers only."""

    def reject(constant: str) -> Any:
        raise AssertionError(f"{constant} in a response: {response.content[:200]!r}")

    return json.loads(response.content.decode("utf-8"), parse_constant=reject)


def detail(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    text: str = strict_json(response)["detail"]
    return text


@pytest.fixture
def gateway() -> Iterator[MockGateway]:
    with MockGateway(timing=Timing(pending=0, running=0)) as gw:
        yield gw


@pytest.fixture
def client(gateway: MockGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, headers=AUTH, timeout=30) as c:
        yield c


def every_view_is_valid_json(client: httpx.Client, execution_id: str) -> Any:
    """List, status, result, result.json and logs of an execution all answer strict JSON."""
    listed = strict_json(client.get("/"))
    assert execution_id in [e["id"] for e in listed]
    assert strict_json(client.get(f"/{execution_id}"))["status"] == "SUCCEEDED"
    result = strict_json(client.get(f"/{execution_id}/result"))
    stored = strict_json(client.get(f"/{execution_id}/result/result.json"))
    assert stored["output"] == result["output"]
    assert strict_json(client.get(f"/{execution_id}/log"))
    return result["output"]


# -- item 7: no input breaks it for others ------------------------------------------------


def _nested(levels: int) -> bytes:
    """``{"input": [[...]]}``: ``levels`` levels of arrays and objects in all."""
    return b'{"input": ' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"input": {"x": 1e999}}', "number 1e999 is out of range"),
        (b'{"input": [-1E400]}', "number -1E400 is out of range"),
        (b'{"input": Infinity}', "Infinity is not valid JSON"),
        (b'{"input": -Infinity}', "-Infinity is not valid JSON"),
        (b'{"input": NaN}', "NaN is not valid JSON"),
        (b'{"input": {}, "tags": ["\\ud800"]}', "lone surrogate \\ud800"),
        (b'{"input": {"\\udc00": 1}}', "lone surrogate \\udc00"),
        (b'{"input": "\\ud83d and no low half"}', "lone surrogate \\ud83d"),
        (_nested(100_000), "nested deeper than 64 levels"),
        (_nested(65), "nested deeper than 64 levels"),
        (b'{"input": 1' + b"0" * 5000 + b"}", "digits"),
    ],
    ids=[
        "1e999",
        "-1e400",
        "Infinity",
        "-Infinity",
        "NaN",
        "surrogate-in-tag",
        "surrogate-in-key",
        "high-surrogate-alone",
        "depth-100000",
        "depth-65",
        "5001-digits",
    ],
)
def test_invalid_json_is_400_naming_the_problem_and_changes_nothing(
    gateway: MockGateway, client: httpx.Client, body: bytes, fragment: str
) -> None:
    response = client.post("/", content=body, headers={"content-type": "application/json"})
    message = detail(response, 400)
    assert message.startswith("Request body is not valid JSON: "), message
    assert fragment in message, message
    assert gateway.stats()["executions_created"] == 0
    assert strict_json(client.get("/")) == []


def test_the_deepest_accepted_body_round_trips(client: httpx.Client) -> None:
    response = client.post("/", content=_nested(64), headers={"content-type": "application/json"})
    assert response.status_code == 201, response.text
    output = every_view_is_valid_json(client, response.json()["id"])
    assert output["input"] == json.loads(_nested(64))["input"]


def test_every_accepted_body_comes_back_as_valid_json(
    gateway: MockGateway, client: httpx.Client
) -> None:
    """Edge values the strict parser keeps: each is echoed back exactly, as valid JSON."""
    bodies = [
        b'{"input": {"emoji": "\\ud83d\\ude00", "max": 1.7976931348623157e308, "neg": -0.0}}',
        b'{"input": {"nul": "\\u0000\\u001f\\u2028\\u2029", "k\\u00e9y": "\xc3\xa9"}}',
        b'{"input": {"big": 1' + b"0" * 4000 + b'}, "tags": ["\\ud83d\\ude00", "t\\u00e9"]}',
        b'{"input": {"tiny": 5e-324, "under": 1e-999}}',
    ]
    for body in bodies:
        response = client.post("/", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 201, response.text
        execution_id = response.json()["id"]
        assert every_view_is_valid_json(client, execution_id)["input"] == json.loads(body)["input"]
        assert strict_json(client.get(f"/{execution_id}"))["tags"] == json.loads(body).get("tags")
    assert gateway.stats()["executions_created"] == len(bodies)


def test_a_rejected_body_leaves_every_later_request_working(
    gateway: MockGateway, client: httpx.Client
) -> None:
    """The failures seen before: a lone surrogate in a tag made every later list call 500,
    and 1e999 was stored and later served as ``Infinity``."""
    good = client.post("/", json={"input": {"x": 1}, "tags": ["fine"]}).json()["id"]
    for body in (b'{"tags": ["\\udfff"]}', b'{"input": {"x": 1e999}}', _nested(10_000)):
        assert client.post("/", content=body).status_code == 400
    assert every_view_is_valid_json(client, good) == {"input": {"x": 1}}
    assert [e["id"] for e in strict_json(client.get("/"))] == [good]


def test_fault_configuration_is_parsed_as_strictly(gateway: MockGateway) -> None:
    control = f"http://{gateway.host}:{gateway.port}/_mock/faults"
    for body, fragment in (
        (b'{"latency": 1e999}', "out of range"),
        (b'{"rates": {"\\ud800": 0.5}}', "lone surrogate \\ud800"),
        (b'{"rates": NaN}', "NaN"),
    ):
        message = detail(httpx.put(control, content=body), 400)
        assert message.startswith("Invalid fault configuration: ") and fragment in message
    assert strict_json(httpx.get(control))["rates"] == {}


def _exchange(gateway: MockGateway, request: bytes, wait: float = 20.0) -> bytes:
    """Send raw bytes, read until the server closes the connection (at most ``wait`` s)."""
    with socket.create_connection((gateway.host, gateway.port), timeout=wait) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def _post_unfinished(gateway: MockGateway, length: int, sent: bytes = b"") -> bytes:
    """A POST that announces a ``length``-byte body but sends only ``sent``: the answer."""
    head = "POST / HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer t\r\n"
    head += f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    return _exchange(gateway, head.encode() + sent)


def _json_body(raw: bytes) -> Any:
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    return json.loads(body)


def test_a_body_over_the_size_limit_is_refused_without_waiting_for_it() -> None:
    with MockGateway(limits=Limits(max_body=1000)) as gw:
        # Claims a gigabyte and sends none of it: answered at once from Content-Length, and
        # the connection closed (_exchange reads up to the end).
        raw = _post_unfinished(gw, 1_000_000_000)
        assert raw.startswith(b"HTTP/1.1 400 "), raw[:200]
        assert "larger than 1000 bytes" in _json_body(raw)["detail"]
        fits = b'{"input": "' + b"a" * (1000 - 13) + b'"}'
        assert len(fits) == 1000
        with httpx.Client(base_url=gw.url, headers=AUTH) as c:
            assert c.post("/", content=fits).status_code == 201
            # Without a Content-Length (chunked), the limit holds while reading.
            chunked = c.post("/", content=iter([fits, b" "]))
            assert "larger than 1000 bytes" in detail(chunked, 400)
            assert gw.stats()["executions_created"] == 1


def test_a_body_that_does_not_arrive_in_time_is_answered_408() -> None:
    with MockGateway(limits=Limits(body_timeout=0.5)) as gw:
        raw = _post_unfinished(gw, 100, b'{"input": ')
        # The connection is closed after the answer: _exchange read up to the end.
        assert raw.startswith(b"HTTP/1.1 408 "), raw[:200]
        assert _json_body(raw) == {"detail": "Request body not received within 0.5 s"}
        assert gw.stats()["executions_created"] == 0


def test_stored_executions_are_bounded_and_replays_still_work() -> None:
    with (
        MockGateway(limits=Limits(max_executions=2)) as gw,
        httpx.Client(base_url=gw.url, headers=AUTH) as c,
    ):
        first = c.post("/", json={"input": 1}, headers={"idempotency-key": "k1"})
        assert c.post("/", json={"input": 2}).status_code == 201
        message = detail(c.post("/", json={"input": 3}), 507)
        assert "holds 2 executions" in message and "restart it" in message
        replay = c.post("/", json={"input": 1}, headers={"idempotency-key": "k1"})
        assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
        assert replay.json()["id"] == first.json()["id"]
        assert len(strict_json(c.get("/"))) == 2
    # Kept bodies are counted by the memory they keep parsed (more than their 23 bytes).
    body = b'{"input": "0123456789"}'
    room = parsed_size(body) + 40
    with (
        MockGateway(limits=Limits(max_stored_bytes=room)) as gw,
        httpx.Client(base_url=gw.url, headers=AUTH) as c,
    ):
        assert c.post("/", content=body).status_code == 201
        assert f"{room} bytes" in detail(c.post("/", content=body), 507)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"max_connections": 0}, "max_connections must be a whole number > 0"),
        ({"max_connections": 2.5}, "max_connections"),
        ({"header_timeout": float("nan")}, "header_timeout must be a number of seconds > 0"),
        ({"header_timeout": float("inf")}, "header_timeout"),
        ({"body_timeout": -1}, "body_timeout"),
        ({"max_depth": True}, "max_depth"),
        ({"max_body": 0}, "max_body"),
        ({"max_executions": "10"}, "max_executions"),
        ({"max_stored_bytes": 1.0}, "max_stored_bytes"),
    ],
)
def test_bad_limits_are_refused(options: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)):
        Limits(**options)


def test_limit_options_set_every_limit_and_default_to_limits() -> None:
    argv = ["--max-connections", "7", "--header-timeout", "2.5", "--body-timeout", "3"]
    argv += ["--max-body-bytes", "100", "--max-depth", "5", "--max-executions", "9"]
    args = build_parser().parse_args([*argv, "--max-stored-bytes", "1000"])
    assert limits_config(args) == Limits(
        max_connections=7,
        header_timeout=2.5,
        body_timeout=3.0,
        max_body=100,
        max_depth=5,
        max_executions=9,
        max_stored_bytes=1000,
    )
    assert limits_config(build_parser().parse_args([])) == Limits()


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--header-timeout", "0"], "header_timeout"),
        (["--max-connections", "-3"], "max_connections"),
        (["--max-depth", "0"], "max_depth"),
    ],
)
def test_bad_limit_options_are_usage_errors(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        mock_main(argv)
    assert exited.value.code == 2
    assert fragment in capsys.readouterr().err


# -- item 8: slow clients cannot take it down --------------------------------------------


class Raw:
    """A raw client socket, read without blocking."""

    def __init__(self, gateway: MockGateway) -> None:
        self.sock = socket.create_connection((gateway.host, gateway.port), timeout=10)
        self.received = b""
        self.closed = False

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True

    def poll(self, wait: float = 0.1) -> None:
        """Read what has arrived within ``wait`` seconds; notice when the server closed."""
        self.sock.settimeout(wait)
        try:
            while chunk := self.sock.recv(65536):
                self.received += chunk
            self.closed = True
        except TimeoutError:
            pass
        except OSError:
            self.closed = True

    def close(self) -> None:
        self.sock.close()


def _trickle_until_closed(raw: Raw, rounds: int = 200) -> None:
    """Send one header line per round until the server closes the connection (bounded)."""
    for _ in range(rounds):
        raw.poll()
        if raw.closed:
            return
        raw.send(b"X-Slow: 1\r\n")
    raise AssertionError(f"the server kept a trickling connection open: {raw.received[:200]!r}")


def _until(predicate: Any, rounds: int = 200) -> None:
    for _ in range(rounds):
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def test_trickled_headers_time_out_with_408() -> None:
    with MockGateway(limits=Limits(header_timeout=0.5)) as gw:
        raw = Raw(gw)
        raw.send(b"GET / HTTP/1.1\r\nHost: m\r\n")
        _trickle_until_closed(raw)
        raw.close()
        assert raw.received.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), raw.received
        assert b"\r\nconnection: close\r\n" in raw.received
        assert _json_body(raw.received) == {"detail": "Request headers not received within 0.5 s"}
        _until(lambda: gw.stats()["connections"]["open"] == 0)
        assert gw.stats()["connections"]["header_timeouts"] == 1


def test_a_connection_that_sends_nothing_is_closed_quietly() -> None:
    with MockGateway(limits=Limits(header_timeout=0.3)) as gw:
        raw = Raw(gw)
        for _ in range(200):
            raw.poll()
            if raw.closed:
                break
        raw.close()
        assert raw.closed and raw.received == b""
        assert gw.stats()["connections"]["header_timeouts"] == 1


def _read_response(raw: Raw) -> bytes:
    """One whole response with a Content-Length, read from a kept-alive connection."""
    for _ in range(200):
        head, sep, body = raw.received.partition(b"\r\n\r\n")
        if sep:
            found = re.search(rb"content-length: (\d+)", head.lower())
            assert found, head
            length = int(found.group(1))
            if len(body) >= length:
                raw.received = body[length:]
                return head + sep + body[:length]
        raw.poll()
        assert not raw.closed, raw.received
    raise AssertionError(f"no whole response: {raw.received[:200]!r}")


def test_a_kept_alive_connection_must_send_its_next_headers_in_time() -> None:
    with MockGateway(limits=Limits(header_timeout=0.5)) as gw:
        raw = Raw(gw)
        raw.send(b"GET / HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer t\r\n\r\n")
        assert _read_response(raw).startswith(b"HTTP/1.1 200 ")
        raw.send(b"GET / HTTP/1.1\r\n")
        _trickle_until_closed(raw)
        raw.close()
        assert raw.received.startswith(b"HTTP/1.1 408 "), raw.received


def test_a_slow_answer_is_not_cut_by_the_header_deadline() -> None:
    """The deadline is for headers only: a request being answered is never timed out."""
    faults = FaultConfig(rates={FaultKind.LATENCY: 1.0}, latency=1.0)
    with (
        MockGateway(limits=Limits(header_timeout=0.2), faults=faults) as gw,
        httpx.Client(base_url=gw.url, headers=AUTH) as c,
    ):
        for _ in range(2):  # the second request reuses the connection
            assert strict_json(c.get("/")) == []
        assert gw.stats()["faults"]["latency"] == 2
        assert gw.stats()["connections"]["header_timeouts"] == 0


def test_excess_connections_are_shed_with_503_and_service_returns_when_they_go() -> None:
    with MockGateway(limits=Limits(max_connections=3, header_timeout=60)) as gw:
        held = [Raw(gw) for _ in range(3)]
        for raw in held:
            raw.send(b"GET / HTTP/1.1\r\n")
        _until(lambda: gw.stats()["connections"]["open"] == 3)
        busy = httpx.get(gw.url + "/", headers=AUTH)
        assert busy.headers["retry-after"] == "1"
        assert "at most 3 connections" in detail(busy, 503)
        for raw in held:
            raw.poll()
            assert not raw.closed and raw.received == b""
            raw.close()
        responses: list[int] = []

        def served() -> bool:
            responses.append(httpx.get(gw.url + "/", headers=AUTH).status_code)
            return responses[-1] == 200

        _until(served)
        assert set(responses) <= {200, 503}
        counts = gw.stats()["connections"]
        assert counts["shed"] == 1 + responses.count(503) and counts["peak"] == 3, counts


# -- subprocess: a descriptor limit of 256 and 300 slow connections -----------------------


class LimitedMock:
    """``hub-service-mock`` in a process whose file-descriptor limit is 256."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.stderr_path = tmp_path / "stderr.txt"

        def lower_limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

        with self.stderr_path.open("w") as stderr:  # a file: a full pipe would block the server
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kipu_hub_service.mock", "--port", "0", *args],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                preexec_fn=lower_limit,
            )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(lines,), daemon=True).start()
        try:
            line = lines.get(timeout=30)
        except queue.Empty:
            self.stop()
            raise AssertionError("the mock printed no URL within 30 s") from None
        match = re.search(r"listening on (http://\S+)", line)
        assert match, line
        self.url = match.group(1)
        self.port = int(self.url.rsplit(":", 1)[1])

    def _pump(self, lines: queue.Queue[str]) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            lines.put(line)

    def descriptors(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def close_wait(self) -> int:
        """Sockets of the server stuck in CLOSE-WAIT (the peer closed, the server did not)."""
        stuck = 0
        for name in ("tcp", "tcp6"):
            table = Path(f"/proc/{self.process.pid}/net/{name}").read_text().splitlines()[1:]
            for row in table:
                fields = row.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == self.port and fields[3] == "08":
                    stuck += 1
        return stuck

    def stop(self) -> str:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.stderr_path.read_text()


class Attacker:
    """A client that opens a connection and never finishes its request headers."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(b"GET / HTTP/1.1\r\nHost: m\r\n")
        self.sock.setblocking(False)
        self.received = b""
        self.closed = False

    def step(self) -> None:
        """Read what arrived; trickle one more header line while nothing has."""
        try:
            while chunk := self.sock.recv(65536):
                self.received += chunk
            self.closed = True
        except BlockingIOError:
            pass
        except OSError:
            self.closed = True
        if not self.closed and not self.received:
            try:
                self.sock.send(b"X-Slow: 1\r\n")
            except OSError:
                self.closed = True

    @property
    def status(self) -> bytes:
        return self.received[9:12]


def _attack(port: int, count: int = 300) -> list[Attacker]:
    # Connected from 16 threads: one at a time, each SYN the kernel dropped past the mock's
    # accept backlog (16 at this descriptor limit) cost a second, and they added up to ten.
    # Fewer at once than the mock lets linger shed (32, ``guard.MAX_LINGERING``): one closed
    # at once may be reset before its 503 is read.
    with ThreadPoolExecutor(16) as pool:
        attackers = list(pool.map(lambda _: Attacker(port), range(count)))
    for _ in range(3):
        for attacker in attackers:
            attacker.step()
        time.sleep(0.1)
    return attackers


@pytest.mark.parametrize("attack", ["stops", "persists"])
def test_slow_connections_cannot_take_the_mock_down(tmp_path: Path, attack: str) -> None:
    """300 connections trickle headers at a mock limited to 256 descriptors. Excess ones are
    shed with 503 and it never runs out of descriptors; once the attackers close (or their
    header deadline passes, when they persist), normal requests succeed and nothing leaks."""
    header_timeout = "60" if attack == "stops" else "1"
    mock = LimitedMock(tmp_path, "--header-timeout", header_timeout)
    attackers: list[Attacker] = []
    try:
        assert httpx.get(mock.url + "/", headers=AUTH).status_code == 200
        baseline = mock.descriptors()
        attackers = _attack(mock.port)
        if attack == "stops":
            # Half the descriptor limit is the default cap: 128 held, the rest shed at once.
            def shed() -> bool:
                for attacker in attackers:
                    attacker.step()
                return sum(a.closed for a in attackers) >= 300 - 128

            _until(shed)
            assert sum(a.status == b"503" for a in attackers) == 300 - 128
            busy = httpx.get(mock.url + "/", headers=AUTH)
            assert "at most 128 connections" in detail(busy, 503)
            for attacker in attackers:
                attacker.sock.close()
        else:
            for _ in range(400):  # every attacker is answered: 503 at once, or 408 at 1 s
                for attacker in attackers:
                    attacker.step()
                if all(a.closed for a in attackers):
                    break
                time.sleep(0.05)
            statuses = [a.status for a in attackers]
            assert set(statuses) <= {b"503", b"408"}, set(statuses)
            timed_out = statuses.count(b"408")
        statuses_after: list[int] = []

        def served() -> bool:
            statuses_after.append(httpx.get(mock.url + "/", headers=AUTH).status_code)
            return statuses_after[-1] == 200

        _until(served)
        stats = httpx.get(mock.url + "/_mock/stats").json()["connections"]
        assert stats["open"] <= 2 and stats["peak"] <= 128, stats
        if attack == "stops":
            assert stats["peak"] == 128 and stats["shed"] >= 300 - 128, stats
        else:
            assert timed_out >= 1 and stats["header_timeouts"] == timed_out, stats
        _until(lambda: mock.close_wait() == 0 and mock.descriptors() <= baseline + 2)
    finally:
        for attacker in attackers:
            attacker.sock.close()
        stderr = mock.stop()
    for symptom in ("Traceback", "Invalid file descriptor", "out of system resource"):
        assert symptom not in stderr, stderr[-3000:]


# -- item 3: fault plumbing on public APIs only -------------------------------------------


def test_the_mock_reads_no_private_server_internals() -> None:
    private_import = re.compile(r"^\s*(from|import)\s+(uvicorn|starlette|h11)\S*\._", re.M)
    sources = sorted(MOCK_SOURCES.glob("*.py"))
    assert len(sources) > 3, MOCK_SOURCES
    for path in sources:
        source = path.read_text()
        assert "__self__" not in source, path.name
        assert not private_import.search(source), path.name


def test_a_disconnect_fault_drops_the_connection_whatever_the_forwarding_headers(
    gateway: MockGateway, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    gateway.set_faults(FaultConfig(rates={FaultKind.DISCONNECT: 1.0}))
    for forwarded in ("10.9.9.9", "127.0.0.1"):
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            client.get("/", headers={"x-forwarded-for": forwarded, "x-forwarded-port": "1"})
    assert gateway.stats()["faults"]["disconnect"] == 2
    assert [r.getMessage() for r in caplog.records] == []


async def test_without_its_own_server_a_dropped_connection_raises() -> None:
    """Served by another ASGI server, the app cannot reach the socket: it raises instead."""
    app = MockGatewayApp(faults=FaultConfig(rates={FaultKind.DISCONNECT: 1.0}))
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [(b"authorization", b"Bearer t")],
        "client": ("127.0.0.1", 5000),
    }
    with pytest.raises(InjectedDisconnect):
        await app(scope, receive, send)
    assert sent == []


class FakeTransport(asyncio.Transport):
    """A transport that records what the guard does to it."""

    def __init__(self, port: int) -> None:
        super().__init__(extra={"peername": ("127.0.0.1", port)})
        self.written = b""
        self.state = "open"

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def is_closing(self) -> bool:
        return self.state != "open"

    def close(self) -> None:
        self.state = "closed"

    def abort(self) -> None:
        self.state = "aborted"


async def test_stopping_aborts_every_connection_admitted_or_shed() -> None:
    app = MockGatewayApp(limits=Limits(max_connections=1))
    protocol = app.connections.protocol_class(asyncio.Protocol)
    admitted, shed = FakeTransport(1001), FakeTransport(1002)
    protocol().connection_made(admitted)
    protocol().connection_made(shed)  # over the cap: answered 503, left to linger
    assert admitted.written == b"" and shed.written.startswith(b"HTTP/1.1 503 ")
    assert app.connections.find(("127.0.0.1", 1001)) is not None
    assert app.connections.counts()["open"] == 1
    assert admitted.state == shed.state == "open"
    app.connections.close_all()
    assert admitted.state == shed.state == "aborted"
    assert app.connections.counts()["open"] == 0
    assert app.connections.find(("127.0.0.1", 1001)) is None
