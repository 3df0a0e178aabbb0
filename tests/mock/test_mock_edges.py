"""A mock no client can stall or bloat (#20): write deadline, heads over the limit, bodies
priced by their parsed memory and parsed off the loop, locked control endpoints, secrets
with spaces."""

from __future__ import annotations

import base64
import gc
import re
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator

import httpx
import pytest
from starlette.types import Message

from kipu_hub_service import ClientCredentials, HubServiceClient
from kipu_hub_service.mock import FaultConfig, Limits, MockGateway, MockGatewayApp, Timing
from kipu_hub_service.mock.__main__ import build_parser, settings_from_args
from kipu_hub_service.mock.intake import INLINE_PARSE_BYTES, head_size
from kipu_hub_service.mock.strict_json import parsed_size
from kipu_hub_service.testing import mock_gateway

AUTH = {"Authorization": "Bearer t"}
MiB = 1024 * 1024


def _connect(gateway: MockGateway, receive_buffer: int | None = None) -> socket.socket:
    sock = socket.socket()
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(30)
    sock.connect((gateway.host, gateway.port))
    return sock


def _read_all(sock: socket.socket) -> bytes:
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return received


# -- a write deadline -------------------------------------------------------------------


def test_downloads_nobody_reads_are_dropped_and_free_their_slots() -> None:
    """Two clients fill both connection slots with downloads they never read; after the
    write deadline they are dropped, and a new client is served again."""
    limits = Limits(max_connections=2, write_timeout=1.0)
    with MockGateway(timing=Timing(0, 0), limits=limits) as gateway:
        with httpx.Client(base_url=gateway.url, headers=AUTH, timeout=30) as client:
            big = client.post("/", json={"input": {"result_size": 1 << 30}}).json()["id"]
        stalled = []
        for _ in range(2):
            sock = _connect(gateway, receive_buffer=4096)
            sock.sendall(
                f"GET /{big}/result/result.bin HTTP/1.1\r\nHost: m\r\n"
                "Authorization: Bearer t\r\n\r\n".encode()
            )
            stalled.append(sock)
        try:
            served = None
            deadline = time.monotonic() + 60  # only a guard: it ends after about 1 s
            while served is None and time.monotonic() < deadline:
                answer = httpx.get(gateway.url + "/", headers=AUTH, timeout=30)
                if answer.status_code == 200:
                    served = answer
                else:
                    assert answer.status_code == 503
                    time.sleep(0.2)
            assert served is not None, gateway.stats()["connections"]

            def settled() -> bool:  # the other one is dropped too, and both streams end
                stats = gateway.stats()
                return stats["connections"]["write_timeouts"] == 2 == stats["streams"]["abandoned"]

            while not settled():
                assert time.monotonic() < deadline, gateway.stats()
                time.sleep(0.1)
            stats = gateway.stats()
            assert stats["connections"]["write_timeouts"] == 2
            assert stats["streams"]["abandoned"] == 2
            assert stats["streams"]["bytes_sent"] < 1 << 30
        finally:
            for sock in stalled:
                sock.close()


def test_a_slow_reader_is_not_dropped_while_it_takes_bytes() -> None:
    """Pauses shorter than the deadline, with a little read after each: never dropped."""
    size = 4 * MiB
    with MockGateway(timing=Timing(0, 0), limits=Limits(write_timeout=1.5)) as gateway:
        with httpx.Client(base_url=gateway.url, headers=AUTH, timeout=30) as client:
            execution = client.post("/", json={"input": {"result_size": size}}).json()["id"]
        with _connect(gateway, receive_buffer=32 * 1024) as sock:
            sock.sendall(
                f"GET /{execution}/result/result.bin HTTP/1.1\r\nHost: m\r\n"
                "Authorization: Bearer t\r\nConnection: close\r\n\r\n".encode()
            )
            received = b""
            for _ in range(12):  # about 3 s, twice the deadline, at 32 KiB per 0.25 s
                received += sock.recv(32 * 1024)
                time.sleep(0.25)
            received += _read_all(sock)
        head, _, body = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 "), head[:100]
        assert len(body) == size
        assert gateway.stats()["connections"]["write_timeouts"] == 0


# -- the header-size limit ----------------------------------------------------------------


@pytest.mark.parametrize("where", ["header", "target", "query"])
def test_a_head_over_the_limit_is_answered_431(where: str) -> None:
    with MockGateway(timing=Timing(0, 0)) as gateway:
        huge = "a" * 20_000
        url, headers = gateway.url + "/", dict(AUTH)
        if where == "header":
            headers["X-Big"] = huge * 5
        elif where == "target":
            url = f"{gateway.url}/{huge}"
        else:
            url = f"{gateway.url}/?q={huge}"
        answer = httpx.get(url, headers=headers, timeout=30)
        assert answer.status_code == 431
        assert answer.json() == {"detail": "Request line and headers larger than 16384 bytes"}
        assert gateway.stats()["requests"] == {}


def test_a_head_under_the_limit_passes_and_the_limit_is_configurable() -> None:
    with MockGateway(limits=Limits(max_header_bytes=2000)) as gateway:
        fits = {**AUTH, "X-Pad": "p" * 1500}
        assert httpx.get(gateway.url + "/", headers=fits, timeout=30).status_code == 200
        over = {**AUTH, "X-Pad": "p" * 2100}
        answer = httpx.get(gateway.url + "/", headers=over, timeout=30)
        assert answer.status_code == 431
        assert "larger than 2000 bytes" in answer.json()["detail"]


def test_a_head_that_keeps_growing_is_cut_off_at_the_limit() -> None:
    """Sent in pieces without its end: answered 431 as the limit is passed, then closed."""
    with MockGateway(limits=Limits(max_header_bytes=4096, header_timeout=30)) as gateway:
        sock = _connect(gateway)
        with sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: m\r\n")
            for _ in range(5):  # the fifth piece passes the limit; then nothing more is sent
                sock.sendall(b"X-Pad: " + b"p" * 1000 + b"\r\n")
                time.sleep(0.05)
            answer = _read_all(sock)
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
        assert answer.endswith(b'{"detail": "Request line and headers larger than 4096 bytes"}')
        assert gateway.stats()["connections"]["oversized_headers"] == 1


async def test_the_app_checks_a_head_that_reached_it_whole() -> None:
    """A pipelined head is not counted by the connection guard: the app answers 431."""
    app = MockGatewayApp()
    sent: list[Message] = []
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [(b"authorization", b"Bearer t"), (b"x-big", b"p" * 20_000)],
        "scheme": "http",
        "server": ("127.0.0.1", 80),
        "client": None,
        "http_version": "1.1",
        "root_path": "",
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 431
    assert app.stats()["requests"] == {}


def test_head_size_counts_what_goes_over_the_wire() -> None:
    scope = {
        "method": "GET",
        "raw_path": b"/abc",
        "query_string": b"x=1",
        "headers": [(b"host", b"m")],
    }
    assert head_size(scope) == len(b"GET /abc?x=1 HTTP/1.1\r\nhost: m\r\n\r\n")


# -- bodies priced by the memory they cost parsed ------------------------------------------


def _peak_while(send: object) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        assert callable(send)
        send()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_body_of_tiny_objects_is_refused_before_it_is_parsed() -> None:
    """16 MiB of ``{}`` would take about 400 MiB parsed: refused, memory stays bounded."""
    body = b'{"input":[' + b",".join([b"{}"] * (16 * MiB // 3 - 10)) + b"]}"
    assert len(body) < 16 * MiB
    with (
        MockGateway() as gateway,
        httpx.Client(base_url=gateway.url, headers=AUTH, timeout=120) as client,
    ):
        answers: list[httpx.Response] = []
        peak = _peak_while(lambda: answers.append(client.post("/", content=body)))
        assert answers[0].status_code == 400
        assert "once parsed, more than the limit of 67108864 bytes" in answers[0].json()["detail"]
        assert gateway.stats()["executions_created"] == 0
    assert peak < 120 * MiB, peak / MiB


def test_the_estimate_is_above_what_python_keeps() -> None:
    shapes = [
        b'{"a":[' + b",".join([b"{}"] * 20000) + b"]}",
        b'{"a":[' + b",".join([b'{"k":0}'] * 20000) + b"]}",
        b'{"a":[' + b",".join([b"[1.5]"] * 20000) + b"]}",
        b'{"a":{' + b",".join(b'"k%d":%d' % (i, i * 1000) for i in range(20000)) + b"}}",
        b'{"a":"' + b"x" * 200_000 + b'\\ud83d\\ude00"}',
        '{"a":"é€𝄞"}'.encode() * 1,
    ]
    import json

    for raw in shapes:
        gc.collect()
        tracemalloc.start()
        value = json.loads(raw)
        kept = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        assert kept <= parsed_size(raw), (raw[:30], kept, parsed_size(raw))
        del value


def test_kept_bodies_count_their_parsed_memory() -> None:
    body = b'{"input":[' + b",".join([b"[]"] * 1000) + b"]}"
    room = parsed_size(body) * 2 + 10
    with (
        MockGateway(limits=Limits(max_stored_bytes=room)) as gateway,
        httpx.Client(base_url=gateway.url, headers=AUTH, timeout=30) as client,
    ):
        assert client.post("/", content=body).status_code == 201
        assert client.post("/", content=body).status_code == 201
        assert client.post("/", content=body).status_code == 507  # 3 bodies: 6 KiB raw only


def test_large_bodies_are_parsed_in_a_worker_thread_after_the_room_check() -> None:
    big = b'{"input":"' + b"x" * (2 * INLINE_PARSE_BYTES) + b'"}'
    with (
        MockGateway(limits=Limits(max_executions=1)) as gateway,
        httpx.Client(base_url=gateway.url, headers=AUTH, timeout=30) as client,
    ):
        assert client.post("/", json={"input": 1}).status_code == 201  # small: inline
        assert gateway.app.parser.threaded == 0
        # The gateway is full: refused before the large body is parsed at all.
        assert client.post("/", content=big).status_code == 507
        assert gateway.app.parser.threaded == 0
    with (
        MockGateway() as gateway,
        httpx.Client(base_url=gateway.url, headers=AUTH, timeout=30) as client,
    ):
        created = client.post("/", content=big, headers={"Idempotency-Key": "k"})
        assert created.status_code == 201
        assert gateway.app.parser.threaded == 1
        replay = client.post("/", content=big, headers={"Idempotency-Key": "k"})
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json()["id"] == created.json()["id"]
        status = client.get(f"/{created.json()['id']}/result")
        assert status.status_code in (200, 409)


def test_token_requests_have_a_small_body_cap() -> None:
    with MockGateway(access_keys=["kid:secret"]) as gateway:
        form = b"grant_type=client_credentials&" + b"a=&" * 30_000
        answer = httpx.post(
            gateway.token_url,
            content=form,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=30,
        )
        assert answer.status_code == 400
        assert "larger than 65536 bytes" in answer.json()["detail"]


# -- control endpoints behind the API's tokens ---------------------------------------------


@pytest.fixture
def locked() -> Iterator[MockGateway]:
    with MockGateway(tokens=["holder"], access_keys=["kid:s e c r e t"]) as gateway:
        yield gateway


def _control(gateway: MockGateway, name: str) -> str:
    return f"http://{gateway.host}:{gateway.port}/_mock/{name}"


def test_without_a_token_the_control_endpoints_are_closed(locked: MockGateway) -> None:
    chaos = {"rates": {"error": 1.0}}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic a2lkOnM="}):
        assert httpx.put(_control(locked, "faults"), json=chaos, headers=headers).status_code == 401
        assert httpx.get(_control(locked, "stats"), headers=headers).status_code == 401
        assert httpx.get(_control(locked, "faults"), headers=headers).status_code == 401
    assert locked.app.faults.config.rates == {}
    # The token holder's calls still work.
    holder = {"Authorization": "Bearer holder"}
    assert httpx.get(locked.url + "/", headers=holder).status_code == 200
    # An unread body does not stay on the connection: the 401 closes it.
    answer = httpx.put(_control(locked, "faults"), content=b"x" * 1_000_000)
    assert answer.status_code == 401 and answer.headers["connection"] == "close"


def test_a_token_the_api_accepts_opens_them(locked: MockGateway) -> None:
    holder = {"Authorization": "Bearer holder"}
    put = httpx.put(_control(locked, "faults"), json={"rates": {"latency": 0.5}}, headers=holder)
    assert put.status_code == 200
    assert httpx.get(_control(locked, "stats"), headers=holder).status_code == 200
    issued = httpx.post(
        locked.token_url,
        content=b"grant_type=client_credentials",
        headers={
            "Authorization": "Basic " + base64.b64encode(b"kid:s e c r e t").decode(),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {issued}"}
    assert httpx.get(_control(locked, "stats"), headers=auth).json()["tokens"]["issued"] == 1


def test_without_tokens_or_access_keys_they_stay_open() -> None:
    with MockGateway() as gateway:
        assert httpx.get(_control(gateway, "stats")).status_code == 200
        assert httpx.put(_control(gateway, "faults"), json={}).status_code == 200


def test_the_helpers_still_reach_a_locked_gateway() -> None:
    with mock_gateway(tokens=["only"]) as gateway:
        gateway.set_faults(FaultConfig(rates={"error": 1.0}, operations={"getStatus"}))
        assert gateway.app.faults.config.operations == {"getStatus"}
        assert set(gateway.stats()["faults"].values()) == {0}


def test_the_command_line_locks_them_too() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "kipu_hub_service.mock", "--port", "0", "--token", "secret"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        match = re.search(r"listening on (http://\S+)", process.stdout.readline())
        assert match, "no URL printed"
        stats = match.group(1) + "/_mock/stats"
        assert httpx.get(stats, timeout=30).status_code == 401
        answer = httpx.get(stats, headers={"Authorization": "Bearer secret"}, timeout=30)
        assert answer.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


# -- access-key secrets --------------------------------------------------------------------


def test_a_secret_may_hold_any_printable_ascii_character() -> None:
    secret = " ".join(chr(c) for c in range(0x21, 0x7F))  # every one, with spaces between
    args = build_parser().parse_args(["--access-key", f"kid:{secret}"])
    assert dict(settings_from_args(args).access_keys or {}) == {"kid": secret}
    with MockGateway(access_keys={"kid": secret}, timing=Timing(0, 0)) as gateway:
        credentials = ClientCredentials("kid", secret, token_endpoint=gateway.token_url)
        with HubServiceClient(base_url=gateway.url, token=credentials) as service:
            assert service.service_api.get_service_executions() == []
        assert gateway.stats()["tokens"]["issued"] == 1
