"""Retry rules, each proven with an httpx.MockTransport fault script, on sync and async clients."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from kipu_hub_service import (
    APIConnectionError,
    ApiError,
    APITimeoutError,
    AsyncHubServiceClient,
    HubServiceClient,
    InternalServerError,
)
from kipu_hub_service._retry import RetryPolicy
from kipu_hub_service.testing import retries_without_delay

URL = "http://gateway.test/acme/vqe/v1/executions"
Outcome = int | Exception | httpx.Response
MODES = ["sync", "async"]


class ClosingStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body that remembers whether it was closed."""

    def __init__(self, data: bytes = b"{}", fail_after: int | None = None) -> None:
        self.data = data
        self.fail_after = fail_after
        self.closed = False

    def _pieces(self) -> Iterator[bytes]:
        if self.fail_after is None:
            yield self.data
            return
        yield self.data[: self.fail_after]
        raise httpx.ReadError("connection reset mid-body")

    def __iter__(self) -> Iterator[bytes]:
        yield from self._pieces()

    async def __aiter__(self) -> Any:
        for piece in self._pieces():
            yield piece

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


class Script:
    """Answers request n with outcome n (the last one repeats) and records every request."""

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)
        self.requests: list[httpx.Request] = []
        self.streams: list[ClosingStream] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        index = min(len(self.requests), len(self.outcomes) - 1)
        self.requests.append(request)
        outcome = self.outcomes[index]
        if isinstance(outcome, Exception):
            raise outcome
        if isinstance(outcome, httpx.Response):
            return outcome
        stream = ClosingStream(b'{"n": %d}' % len(self.requests))
        self.streams.append(stream)
        return httpx.Response(outcome, stream=stream)


class Sleeps:
    """An injected sleep that records instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def policy(**kwargs: Any) -> tuple[RetryPolicy, Sleeps]:
    sleeps = Sleeps()
    kwargs.setdefault("sleep", sleeps)
    return RetryPolicy(**kwargs), sleeps


def _client(mode: str, script: Script, retry_policy: RetryPolicy, logger: Any) -> Any:
    """A client on ``script`` whose request loop is the one under test."""
    settings: dict[str, Any] = {
        "base_url": "http://gateway.test/acme/vqe/v1",
        "token": "t0ken",
        "retry_policy": retry_policy,
        "logging": logger if logger is not None else {"silent": True},
    }
    transport = httpx.MockTransport(script)
    if mode == "sync":
        return HubServiceClient(httpx_client=httpx.Client(transport=transport), **settings)
    return AsyncHubServiceClient(httpx_client=httpx.AsyncClient(transport=transport), **settings)


def _outcome(answer: Any) -> httpx.Response:
    """The loop's answer as a response whose body can be read again (a 2xx body was read
    inside the loop, so a drop mid-body was retried there)."""
    response: httpx.Response = answer.response
    if answer.body is None:
        return response
    return httpx.Response(response.status_code, headers=response.headers, content=answer.body)


def _cause(error: ApiError) -> BaseException:
    """The httpx failure a mapped connection error was raised from."""
    assert isinstance(error.__cause__, httpx.HTTPError), error
    return error.__cause__


def send_sync(
    script: Script,
    retry_policy: RetryPolicy,
    method: str,
    logger: logging.Logger | None,
    **request_kwargs: Any,
) -> httpx.Response:
    """One request through the sync client's request loop."""
    client = _client("sync", script, retry_policy, logger)
    funnel = client._funnel
    request = funnel.client.build_request(method, URL, **request_kwargs)
    try:
        return _outcome(funnel.send(request, funnel.defaults))
    except (APIConnectionError, APITimeoutError) as error:
        raise _cause(error) from None


async def send(
    mode: str,
    script: Script,
    retry_policy: RetryPolicy,
    method: str = "GET",
    *,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    extensions: dict[str, Any] | None = None,
    logger: logging.Logger | None = None,
) -> httpx.Response:
    """One request through the request loop of a client (``mode``), as its calls send it; a
    connection failure is the httpx error the mapped ``ApiError`` was raised from."""
    kwargs: dict[str, Any] = {"headers": headers, "content": content, "extensions": extensions}
    if mode == "sync":
        return send_sync(script, retry_policy, method, logger, **kwargs)
    client = _client(mode, script, retry_policy, logger)
    funnel = client._funnel
    request = funnel.client.build_request(method, URL, **kwargs)
    try:
        return _outcome(await funnel.send(request, funnel.defaults))
    except (APIConnectionError, APITimeoutError) as error:
        raise _cause(error) from None


TRANSIENT: list[Outcome] = [
    httpx.ConnectError("refused"),
    httpx.ReadError("reset"),
    httpx.WriteError("broken pipe"),
    httpx.RemoteProtocolError("peer closed"),
    httpx.ConnectTimeout("connect timeout"),
    httpx.ReadTimeout("read timeout"),
    httpx.WriteTimeout("write timeout"),
    httpx.PoolTimeout("pool timeout"),
    408,
    429,
    500,
    502,
    503,
    504,
    599,
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", TRANSIENT, ids=repr)
async def test_transient_failures_are_retried(mode: str, fault: Outcome) -> None:
    script = Script(fault, 200)
    retry_policy, sleeps = policy()
    response = await send(mode, script, retry_policy)
    assert response.status_code == 200
    assert response.json() == {"n": 2}
    assert len(script.requests) == 2
    assert len(sleeps.delays) == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 416, 422, 501])
async def test_non_transient_statuses_are_not_retried(mode: str, status: int) -> None:
    script = Script(status, 200)
    retry_policy, sleeps = policy()
    response = await send(mode, script, retry_policy)
    assert response.status_code == status
    assert len(script.requests) == 1
    assert sleeps.delays == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "error",
    [httpx.UnsupportedProtocol("ftp"), httpx.LocalProtocolError("bad"), ValueError("bug")],
    ids=repr,
)
async def test_non_transient_exceptions_are_not_retried(mode: str, error: Exception) -> None:
    script = Script(error, 200)
    retry_policy, _ = policy()
    with pytest.raises(type(error)):
        await send(mode, script, retry_policy)
    assert len(script.requests) == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"])
async def test_idempotent_methods_are_retried(mode: str, method: str) -> None:
    script = Script(503, 200)
    retry_policy, _ = policy()
    response = await send(mode, script, retry_policy, method)
    assert response.status_code == 200
    assert [r.method for r in script.requests] == [method, method]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize("fault", [503, httpx.ReadError("reset")], ids=repr)
async def test_unsafe_requests_without_idempotency_key_are_not_retried(
    mode: str, method: str, fault: Outcome
) -> None:
    script = Script(fault, 200)
    retry_policy, _ = policy()
    if isinstance(fault, Exception):
        with pytest.raises(type(fault)):
            await send(mode, script, retry_policy, method, content=b"{}")
    else:
        response = await send(mode, script, retry_policy, method, content=b"{}")
        assert response.status_code == fault
    assert len(script.requests) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_post_with_idempotency_key_is_retried_with_the_same_key_and_body(mode: str) -> None:
    script = Script(httpx.ReadError("response lost"), 502, 201)
    retry_policy, _ = policy(max_retries=3)
    body = b'{"input": {"molecule": "H2"}}'
    response = await send(
        mode, script, retry_policy, "POST", headers={"Idempotency-Key": "key-123"}, content=body
    )
    assert response.status_code == 201
    assert [r.headers["Idempotency-Key"] for r in script.requests] == ["key-123"] * 3
    assert [r.content for r in script.requests] == [body] * 3


@pytest.mark.parametrize("mode", MODES)
async def test_exhausted_retries_return_the_last_response(mode: str) -> None:
    script = Script(500, 502, 503, 200)
    retry_policy, sleeps = policy(max_retries=2)
    response = await send(mode, script, retry_policy)
    assert response.status_code == 503
    assert len(script.requests) == 3
    assert len(sleeps.delays) == 2


@pytest.mark.parametrize("mode", MODES)
async def test_exhausted_retries_raise_the_last_exception(mode: str) -> None:
    last = httpx.ReadTimeout("third")
    script = Script(httpx.ConnectError("first"), httpx.ReadError("second"), last, 200)
    retry_policy, _ = policy(max_retries=2)
    with pytest.raises(httpx.ReadTimeout) as caught:
        await send(mode, script, retry_policy)
    assert caught.value is last
    assert len(script.requests) == 3


@pytest.mark.parametrize("mode", MODES)
async def test_discarded_responses_are_closed(mode: str) -> None:
    script = Script(503, 503, 200)
    retry_policy, _ = policy()
    response = await send(mode, script, retry_policy)
    assert response.status_code == 200
    assert [s.closed for s in script.streams] == [True, True, True]


@pytest.mark.parametrize("mode", MODES)
async def test_backoff_is_exponential_jittered_and_capped(mode: str) -> None:
    script = Script(503)
    retry_policy, sleeps = policy(max_retries=6, initial_delay=1.0, max_delay=5.0, jitter=0.25)
    response = await send(mode, script, retry_policy)
    assert response.status_code == 503
    bases = [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert len(sleeps.delays) == len(bases)
    for delay, base in zip(sleeps.delays, bases, strict=True):
        assert base * 0.75 <= delay <= base


@pytest.mark.parametrize("mode", MODES)
async def test_backoff_without_jitter_is_exact(mode: str) -> None:
    script = Script(httpx.ConnectError("down"))
    retry_policy, sleeps = policy(max_retries=5, initial_delay=0.5, max_delay=3.0, jitter=0.0)
    with pytest.raises(httpx.ConnectError):
        await send(mode, script, retry_policy)
    assert sleeps.delays == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_spreads_delays() -> None:
    retry_policy = RetryPolicy(initial_delay=1.0, jitter=0.5)
    delays = {retry_policy.delay_for(1, None) for _ in range(50)}
    assert len(delays) > 1
    assert all(0.5 <= d <= 1.0 for d in delays)


@pytest.mark.parametrize("mode", MODES)
async def test_retry_after_seconds_is_honoured(mode: str) -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "7"}), 200)
    retry_policy, sleeps = policy(initial_delay=0.1)
    response = await send(mode, script, retry_policy)
    assert response.status_code == 200
    assert sleeps.delays == [7.0]


@pytest.mark.parametrize("mode", MODES)
async def test_retry_after_is_capped(mode: str) -> None:
    script = Script(httpx.Response(503, headers={"Retry-After": "3600"}), 200)
    retry_policy, sleeps = policy(retry_after_cap=12.5, max_elapsed=100.0)
    response = await send(mode, script, retry_policy)
    assert response.status_code == 200
    assert sleeps.delays == [12.5]


def http_date(offset: timedelta) -> str:
    return email.utils.format_datetime(datetime.now(UTC) + offset, usegmt=True)


@pytest.mark.parametrize("mode", MODES)
async def test_retry_after_http_date_is_honoured(mode: str) -> None:
    script = Script(
        httpx.Response(503, headers={"Retry-After": http_date(timedelta(seconds=30))}), 200
    )
    retry_policy, sleeps = policy()
    response = await send(mode, script, retry_policy)
    assert response.status_code == 200
    # The date has one-second resolution and the clock moves on between format and parse.
    assert len(sleeps.delays) == 1
    assert 20.0 <= sleeps.delays[0] <= 30.0


def test_retry_after_http_date_is_capped_and_past_dates_mean_now() -> None:
    retry_policy = RetryPolicy(retry_after_cap=40.0)
    future = httpx.Response(503, headers={"Retry-After": http_date(timedelta(hours=2))})
    past = httpx.Response(503, headers={"Retry-After": http_date(-timedelta(hours=2))})
    assert retry_policy.delay_for(1, future) == 40.0
    assert retry_policy.delay_for(1, past) == 0.0


@pytest.mark.parametrize("value", ["soon", "-5", "nan", "inf", ""])
def test_unusable_retry_after_falls_back_to_backoff(value: str) -> None:
    retry_policy = RetryPolicy(initial_delay=2.0, jitter=0.0)
    response = httpx.Response(503, headers={"Retry-After": value})
    assert retry_policy.delay_for(2, response) == 4.0


@pytest.mark.parametrize("mode", MODES)
async def test_total_time_budget_stops_retries(mode: str) -> None:
    script = Script(503)
    retry_policy, sleeps = policy(max_retries=10, initial_delay=1.0, jitter=0.0, max_elapsed=3.5)
    response = await send(mode, script, retry_policy)
    assert response.status_code == 503
    # Waits 1 + 2 fit in 3.5 s; the next wait of 4 s would end past the budget.
    assert sleeps.delays == [1.0, 2.0]
    assert len(script.requests) == 3


@pytest.mark.parametrize("mode", MODES)
async def test_time_budget_also_bounds_retry_after(mode: str) -> None:
    script = Script(httpx.Response(503, headers={"Retry-After": "30"}), 200)
    retry_policy, sleeps = policy(max_elapsed=10.0)
    response = await send(mode, script, retry_policy)
    assert response.status_code == 503
    assert sleeps.delays == []


@pytest.mark.parametrize("mode", MODES)
async def test_budget_exhaustion_reraises_exception(mode: str) -> None:
    script = Script(httpx.ConnectError("down"))
    retry_policy, sleeps = policy(max_retries=5, initial_delay=2.0, jitter=0.0, max_elapsed=1.0)
    with pytest.raises(httpx.ConnectError):
        await send(mode, script, retry_policy)
    assert len(script.requests) == 1
    assert sleeps.delays == []


async def _cancel(mode: str, script: Script, client_policy: RetryPolicy, **options: Any) -> None:
    """``cancel_execution`` through a client with ``client_policy`` and ``request_options``."""
    transport = httpx.MockTransport(script)
    if mode == "sync":
        with httpx.Client(transport=transport) as http:
            client = HubServiceClient(
                base_url=URL, token="t0ken", httpx_client=http, retry_policy=client_policy
            )
            client.service_api.cancel_execution("e", request_options=options)  # type: ignore[misc]
        return
    async with httpx.AsyncClient(transport=transport) as ahttp:
        aclient = AsyncHubServiceClient(
            base_url=URL, token="t0ken", httpx_client=ahttp, retry_policy=client_policy
        )
        await aclient.service_api.cancel_execution("e", request_options=options)  # type: ignore[misc]


@pytest.mark.parametrize("mode", MODES)
async def test_per_call_policy_replaces_the_clients(mode: str) -> None:
    """``request_options["max_retries"]`` gives the call its own policy, passed to the retry
    loop as an argument: the client's count is replaced, its hooks are kept."""
    default, default_sleeps = policy(max_retries=5)
    script = Script(503)
    with pytest.raises(InternalServerError):
        await _cancel(mode, script, default, max_retries=0)
    assert len(script.requests) == 1
    assert default_sleeps.delays == []

    script = Script(503, 503, 503, 204)
    await _cancel(mode, script, default, max_retries=3)
    assert len(script.requests) == 4
    assert len(default_sleeps.delays) == 3


@pytest.mark.parametrize("mode", MODES)
async def test_zero_retries_sends_once(mode: str) -> None:
    script = Script(httpx.ReadError("reset"), 200)
    retry_policy, _ = policy(max_retries=0)
    with pytest.raises(httpx.ReadError):
        await send(mode, script, retry_policy)
    assert len(script.requests) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_a_body_dropped_mid_way_is_retried(mode: str) -> None:
    script = Script(
        httpx.Response(200, stream=ClosingStream(b'{"partial": true, "more": 1}', fail_after=10)),
        200,
    )
    retry_policy, _ = policy()
    response = await send(mode, script, retry_policy)
    assert response.json() == {"n": 2}
    assert len(script.requests) == 2


@pytest.mark.parametrize("mode", MODES)
async def test_retries_are_logged_without_headers_or_query(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("kipu_hub_service.test_retry")
    script = Script(503, httpx.ConnectError("refused"), 200)
    retry_policy, _ = policy()
    with caplog.at_level(logging.DEBUG, logger=logger.name):
        await send(
            mode,
            script,
            retry_policy,
            headers={"Authorization": "Bearer s3cr3t-token"},
            extensions={},
            logger=logger,
        )
    every = [r.getMessage() for r in caplog.records if r.name == logger.name]
    assert not any("s3cr3t" in m or "Authorization" in m for m in every)
    assert [m for m in every if "->" in m] == [
        "GET /acme/vqe/v1/executions -> 503",
        "GET /acme/vqe/v1/executions -> 200",
    ]
    messages = [m for m in every if m.startswith("retrying")]
    assert len(messages) == 2
    assert "GET /acme/vqe/v1/executions" in messages[0]
    assert "retry 1 of 2" in messages[0] and "status 503" in messages[0]
    assert "retry 2 of 2" in messages[1] and "ConnectError" in messages[1]
    assert not any("s3cr3t" in m or "Authorization" in m for m in messages)


def test_retry_logging_is_skipped_when_debug_is_off(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("kipu_hub_service.test_retry_quiet")
    logger.setLevel(logging.INFO)
    script = Script(503, 200)
    retry_policy, _ = policy()
    with caplog.at_level(logging.INFO, logger=logger.name):
        assert send_sync(script, retry_policy, "GET", logger).status_code == 200
    assert [r for r in caplog.records if r.name == logger.name] == []


def test_the_environment_changes_no_policy_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """The old ``QHUB_SERVICE_RETRY_NO_DELAY`` switch is gone: waiting is skipped only by the
    policy's own ``no_delay`` or inside ``testing.retries_without_delay()``, and only there."""
    monkeypatch.setenv("QHUB_SERVICE_RETRY_NO_DELAY", "1")
    assert RetryPolicy().no_delay is False
    assert not RetryPolicy().skips_waiting()
    assert RetryPolicy(no_delay=True).skips_waiting()
    with retries_without_delay():
        assert RetryPolicy().skips_waiting()
        with retries_without_delay():
            assert RetryPolicy().skips_waiting()
        assert RetryPolicy().skips_waiting()
    assert not RetryPolicy().skips_waiting()


async def test_retries_without_delay_is_scoped_to_its_task() -> None:
    entered = asyncio.Event()
    leave = asyncio.Event()

    async def inside() -> bool:
        with retries_without_delay():
            entered.set()
            await leave.wait()
            return RetryPolicy().skips_waiting()

    task = asyncio.ensure_future(inside())
    await entered.wait()
    assert not RetryPolicy().skips_waiting()
    leave.set()
    assert await task


WAYS_TO_SKIP = ["no_delay", "testing-helper", "neither"]


@contextlib.contextmanager
def _skipping(way: str) -> Iterator[RetryPolicy]:
    if way == "testing-helper":
        with retries_without_delay():
            yield RetryPolicy(initial_delay=0.01)
    else:
        yield RetryPolicy(initial_delay=0.01, no_delay=way == "no_delay")


@pytest.mark.parametrize("way", WAYS_TO_SKIP)
def test_waiting_can_be_skipped(monkeypatch: pytest.MonkeyPatch, way: str) -> None:
    real_sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", real_sleeps.append)
    script = Script(503, 503, 200)
    with _skipping(way) as retry_policy:
        assert send_sync(script, retry_policy, "GET", None).status_code == 200
    assert len(script.requests) == 3
    assert len(real_sleeps) == (2 if way == "neither" else 0)


@pytest.mark.parametrize("way", WAYS_TO_SKIP)
async def test_waiting_can_be_skipped_async(monkeypatch: pytest.MonkeyPatch, way: str) -> None:
    real_sleeps: list[float] = []

    async def fake_sleep(delay: float) -> None:
        real_sleeps.append(delay)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    script = Script(503, 503, 200)
    with _skipping(way) as retry_policy:
        assert (await send("async", script, retry_policy)).status_code == 200
    assert len(real_sleeps) == (2 if way == "neither" else 0)


async def test_async_sleep_hook_is_awaited() -> None:
    delays: list[float] = []

    async def record(delay: float) -> None:
        delays.append(delay)
        await asyncio.sleep(0)

    script = Script(503, 200)
    retry_policy = RetryPolicy(async_sleep=record, initial_delay=0.25, jitter=0.0)
    assert (await send("async", script, retry_policy)).status_code == 200
    assert delays == [0.25]


async def test_the_same_request_object_is_sent_again() -> None:
    script = Script(503, 200)
    retry_policy, sleeps = policy()
    assert (await send("sync", script, retry_policy)).status_code == 200
    assert script.requests[0].url == script.requests[1].url and len(sleeps.delays) == 1


async def test_delete_is_retried_after_a_connect_timeout() -> None:
    script = Script(httpx.ConnectTimeout("slow"), 204)
    retry_policy, _ = policy()
    response = await send("async", script, retry_policy, "DELETE")
    assert response.status_code == 204
    assert len(script.requests) == 2


def test_policy_defaults_and_helpers() -> None:
    assert RetryPolicy().max_retries == 2
    base = RetryPolicy(max_retries=2, initial_delay=0.1)
    assert base.with_max_retries(7) == RetryPolicy(max_retries=7, initial_delay=0.1)
    assert base.max_retries == 2
    post = httpx.Request("POST", URL)
    keyed = httpx.Request("POST", URL, headers={"Idempotency-Key": "k"})
    assert not base.is_retryable_method(post)
    assert base.is_retryable_method(keyed)
    assert base.should_retry_response(httpx.Response(503))
    assert not base.should_retry_response(httpx.Response(501))
    assert base.should_retry_exception(httpx.ReadError("x"))
    assert not base.should_retry_exception(KeyError("x"))


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_retries": -1}, ValueError),
        ({"max_retries": 1.5}, TypeError),
        ({"max_retries": True}, TypeError),
        ({"initial_delay": -0.1}, ValueError),
        ({"max_delay": float("nan")}, ValueError),
        ({"max_elapsed": "60"}, TypeError),
        ({"jitter": 1.5}, ValueError),
        ({"jitter": "0.1"}, TypeError),
        ({"retry_after_cap": -1}, ValueError),
    ],
)
def test_bad_policy_values_are_refused(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        RetryPolicy(**kwargs)


def test_policy_is_immutable() -> None:
    retry_policy = RetryPolicy()
    with pytest.raises(AttributeError):
        retry_policy.max_retries = 5  # type: ignore[misc]
