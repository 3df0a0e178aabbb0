"""Every request is the one ``httpx_client.build_request`` gives for it, whichever way the SDK
builds it (``_requests.RequestBuilder`` merges a plain request's headers once per client and
keeps them): headers in the same order and case, the same URL, the same timeouts, no body.
Changes made to ``client.httpx_client`` (headers, cookies, default query params) reach the next
request. A resumed download's request is the first one with its ``Range``.

Each case runs on the sync and the async client, SDK-made (the transport from ``sdk_transport``)
and injected. What was sent is recorded at send time.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from typing import Any

import httpx
import pytest
from _client_support import BASE, TOKEN, Driver, FakeGateway

from kipu_hub_service._requests import URLS_KEPT, RequestBuilder
from kipu_hub_service.testing import sdk_transport

both = pytest.mark.parametrize("injected", [False, True], ids=["sdk-client", "injected"])

Sent = tuple[str, str, list[tuple[bytes, bytes]], dict[str, Any], bytes]


def recording(fake: Any, sent: list[Sent]) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(
            (
                request.method,
                str(request.url),
                list(request.headers.raw),
                dict(request.extensions["timeout"]),
                request.read(),
            )
        )
        return fake(request)

    return handler


def make(driver: Driver, handler: Any, injected: bool, **kwargs: Any) -> Any:
    if injected:
        return driver.client(handler, headers=LAB, **kwargs)
    with sdk_transport(httpx.MockTransport(handler)):
        return driver.client(inject=False, headers=LAB, **kwargs)


LAB = {"X-Lab": "qpu-7"}
"""``headers=`` of every client here."""


def expected(client: Any, sent: Sent, *, injected: bool, file: bool) -> list[tuple[bytes, bytes]]:
    """What ``build_request`` gives for the request sent, then the credentials the request
    loop sets last. The SDK adds its ``User-Agent`` and ``headers=`` to an injected client's
    requests (its own clients have them as defaults) and its ``Accept-Encoding`` (an injected
    client's default is httpx's, with ``br``, which the SDK does not decode)."""
    method, url, _, _, _ = sent
    headers = {"User-Agent": f"kipu-hub-service-python/{version('kipu-hub-service')}", **LAB}
    headers = headers if injected else {}
    if file or injected:  # the SDK's own clients have the JSON calls' as a default
        headers["Accept-Encoding"] = "identity" if file else "gzip, deflate"
    built = client.httpx_client.build_request(method, url, headers=headers)
    return [*built.headers.raw, (b"Authorization", f"Bearer {TOKEN}".encode())]


def calls(driver: Driver, client: Any) -> list[bool]:
    """One of each plain call; whether each asked for a result file."""
    driver.call(client, "get_service_executions")
    driver.call(client, "get_status", "exec-1")
    driver.call(client, "get_result", "exec-1")
    driver.call(client, "get_logs", "exec-1")
    driver.file(client, "exec-1", "out.json")
    driver.call(client, "cancel_execution", "exec-1")
    return [False, False, False, False, True, False]


def gateway() -> FakeGateway:
    fake = FakeGateway()
    fake.add("exec-1", status="RUNNING")
    return fake


@both
def test_plain_requests_are_what_build_request_gives(driver: Driver, injected: bool) -> None:
    sent: list[Sent] = []
    client = make(driver, recording(gateway(), sent), injected)
    for _ in range(2):  # the second round uses the headers kept from the first
        files = calls(driver, client)
        for record, file in zip(sent[-len(files) :], files, strict=True):
            assert record[2] == expected(client, record, injected=injected, file=file)
            assert record[4] == b""
    assert len(sent) == 12
    assert [record[0] for record in sent[:6]] == ["GET"] * 5 + ["PUT"]


@both
def test_changes_to_the_http_client_reach_the_next_request(driver: Driver, injected: bool) -> None:
    sent: list[Sent] = []
    client = make(driver, recording(gateway(), sent), injected)
    http = client.httpx_client

    def status_and_file() -> None:
        driver.call(client, "get_status", "exec-1")
        assert sent[-1][2] == expected(client, sent[-1], injected=injected, file=False)
        driver.file(client, "exec-1", "out.json")
        assert sent[-1][2] == expected(client, sent[-1], injected=injected, file=True)

    status_and_file()
    http.headers["X-Team"] = "qpu-lab"  # changed in place
    http.headers["Accept"] = "application/hal+json"
    status_and_file()
    assert (b"X-Team", b"qpu-lab") in sent[-1][2]
    assert dict(sent[-1][2])[b"Accept"] == b"application/hal+json"
    http.headers = {"X-Only": "this"}  # replaced
    status_and_file()
    assert (b"X-Team", b"qpu-lab") not in sent[-1][2]
    assert (b"X-Only", b"this") in sent[-1][2]
    http.params = {"trace": "1"}
    status_and_file()
    assert sent[-1][1].endswith("/result/out.json?trace=1")
    http.params = {}
    http.cookies.set("lb", "node-3")
    status_and_file()
    assert dict(sent[-1][2])[b"Cookie"] == b"lb=node-3"
    http.cookies.clear()
    status_and_file()
    assert b"Cookie" not in dict(sent[-1][2])
    assert not sent[-1][1].endswith("?trace=1")


def test_a_url_asked_for_again_is_parsed_once_while_kept() -> None:
    """The builder keeps the ``URLS_KEPT`` most recently used URLs parsed (httpx's URLs are
    immutable, so requests share them); one not asked for while that many others were is
    parsed anew."""
    builder = RequestBuilder(BASE, None, injected=False)
    first = builder.url("/exec-1")
    assert str(first) == f"{BASE}/exec-1"
    assert builder.url("/exec-1") is first
    others = [builder.url(f"/exec-{n}") for n in range(2, URLS_KEPT + 1)]  # the memo is full
    assert builder.url("/exec-1") is first  # still kept, and now the most recently used
    assert builder.url("/exec-2") is others[0]
    for n in range(URLS_KEPT + 1, 2 * URLS_KEPT - 1):  # 62 more: exec-1 is the oldest kept
        builder.url(f"/exec-{n}")
    assert builder.url("/exec-1") is first
    for n in range(2 * URLS_KEPT, 3 * URLS_KEPT):  # 64 more push it out
        builder.url(f"/exec-{n}")
    again = builder.url("/exec-1")
    assert again is not first
    assert str(again) == str(first)


def test_threads_sharing_a_builder_get_their_own_urls() -> None:
    """Threads of one sync client build requests at once: every URL is the one asked for, no
    thread fails on another's change to the kept URLs, and they stay bounded."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    builder = RequestBuilder(BASE, None, injected=False)
    wrong: list[str] = []

    def work(thread: int) -> None:
        for n in range(2000):
            path = f"/exec-{(n * 7 + thread) % 300}"
            if str(builder.url(path)) != BASE + path:
                wrong.append(path)

    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(work, range(8)))  # re-raises any thread's error
    finally:
        sys.setswitchinterval(interval)
    assert wrong == []
    assert len(builder._urls) <= URLS_KEPT + 8


@both
def test_polls_of_many_executions_ask_for_the_right_urls(driver: Driver, injected: bool) -> None:
    """Over more executions than the builder keeps URLs of, each poll goes to its own."""
    urls: list[str] = []
    fake = gateway()
    numbers = [1, 1, *range(2 * URLS_KEPT + 1), 1, 5, 1]
    for n in numbers:
        fake.add(f"exec-{n}", status="RUNNING")

    def handler(request: httpx.Request) -> httpx.Response:
        urls.append(str(request.url))
        return fake(request)

    client = make(driver, handler, injected)
    for n in numbers:
        driver.call(client, "get_status", f"exec-{n}")
    assert urls == [f"{BASE}/exec-{n}" for n in numbers]


@both
def test_a_plain_request_has_the_call_timeouts(driver: Driver, injected: bool) -> None:
    sent: list[Sent] = []
    client = make(driver, recording(gateway(), sent), injected)
    driver.call(client, "get_status", "exec-1", request_options={"timeout": 7.5})
    driver.file(client, "exec-1", "out.json", request_options={"timeout": 2.0})
    driver.call(client, "get_status", "exec-1")
    assert [record[3] for record in sent] == [
        {"connect": 7.5, "read": 7.5, "write": 7.5, "pool": 7.5},
        {"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0},
        client.httpx_client.timeout.as_dict(),
    ]


def out_bin(whole: httpx.Response, ranged: httpx.Response) -> Any:
    """The gateway, with result file ``out.bin`` answered ``whole`` when asked without a
    ``Range`` and ``ranged`` with one (each answer given once)."""
    fake = gateway()

    def handler(request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/out.bin"):
            return fake(request)
        return ranged if "Range" in request.headers else whole

    return handler


class _Dropping(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body that breaks off after its first piece."""

    def __iter__(self) -> Any:
        yield b"abcd"
        raise httpx.ReadError("connection dropped")

    async def __aiter__(self) -> Any:
        yield b"abcd"
        raise httpx.ReadError("connection dropped")


@both
def test_a_resumed_request_is_the_first_one_with_its_range(driver: Driver, injected: bool) -> None:
    """The request that resumes a dropped download is a copy of the first (``copy_request``):
    the same headers in the same order, ``Range`` and ``If-Range`` added, and no body."""
    sent: list[Sent] = []
    first_answer = httpx.Response(
        200, headers={"Content-Length": "10", "ETag": '"v1"'}, stream=_Dropping()
    )
    rest = httpx.Response(
        206, headers={"Content-Range": "bytes 4-9/10", "ETag": '"v1"'}, content=b"efghij"
    )
    client = make(driver, recording(out_bin(first_answer, rest), sent), injected)
    assert b"".join(driver.file(client, "exec-1", "out.bin")) == b"abcdefghij"
    first, resumed = sent
    assert first[2] == expected(client, first, injected=injected, file=True)
    credentials = first[2][-1]
    assert resumed[2] == [
        *first[2][:-1],
        (b"Range", b"bytes=4-"),
        (b"If-Range", b'"v1"'),
        credentials,
    ]
    assert resumed[:2] == first[:2]
    assert resumed[3:] == first[3:] == (client.httpx_client.timeout.as_dict(), b"")


@both
def test_the_check_of_an_existing_file_is_the_first_request_with_its_range(
    driver: Driver, injected: bool, tmp_path: Any
) -> None:
    """With ``overwrite=False``, a file the SDK downloaded (and vouched for) is checked with a
    copy of the first request asking for the bytes past its end (``_existing``)."""
    sent: list[Sent] = []
    whole = httpx.Response(200, headers={"ETag": '"v1"'}, content=b"0123456789")
    nothing_past = httpx.Response(416, headers={"Content-Range": "bytes */10", "ETag": '"v1"'})
    client = make(driver, recording(out_bin(whole, nothing_past), sent), injected)
    target = tmp_path / "out.bin"
    for _ in range(2):
        driver.run(
            client.service_api.download_result_file("exec-1", "out.bin", target, overwrite=False)
        )
    assert target.read_bytes() == b"0123456789"
    first, check = sent
    credentials = first[2][-1]
    assert first[2] == expected(client, first, injected=injected, file=True)
    assert check[2] == [*first[2][:-1], (b"Range", b"bytes=10-"), credentials]
    assert check[:2] == first[:2] and check[3:] == first[3:]
