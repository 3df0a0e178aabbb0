"""The mock holds sweeps: 10,000 executions listed cheaply, requests counted per operation,
a rate limit that answers 429 with Retry-After, and Idempotency-Key honoured on start."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from kipu_hub_service import HubServiceClient, RetryPolicy
from kipu_hub_service.mock import MockGateway, MockSettings, RateLimit, Timing
from kipu_hub_service.mock.__main__ import build_parser, settings_from_args
from kipu_hub_service.mock.rate import RateLimiter
from kipu_hub_service.mock.state import ExecutionStore
from kipu_hub_service.mock.strict_json import dumps

AUTH = {"Authorization": "Bearer t"}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _expected(store: ExecutionStore) -> bytes:
    return dumps([store.snapshot(e) for e in store.all()])


def test_kept_json_matches_a_fresh_rendering_through_every_change() -> None:
    clock = Clock()
    store = ExecutionStore(timing=Timing(pending=1.0, running=2.0), clock=clock)
    assert store.listing() == b"[]"
    created = []
    for step in range(12):
        clock.now = step * 0.5
        execution, body, _ = store.create({"input": {"step": step, "duration": step % 4}}, None)
        created.append(execution)
        assert body == dumps(store.snapshot(execution))
        if step % 5 == 2:
            store.cancel(created[step // 2].id)
        assert store.listing() == _expected(store)
    for moment in [6.0, 6.5, 7.0, 7.25, 9.0, 20.0, 3.0, 0.0, 50.0]:  # the clock also goes back
        clock.now = moment
        assert store.listing() == _expected(store), moment
        for execution in created:
            assert store.render(execution) == dumps(store.snapshot(execution))


def test_ten_thousand_executions_are_listed_without_rendering_them_again() -> None:
    """A list request re-renders only the executions whose status changed since the last."""
    clock = Clock()
    with (
        MockGateway(timing=Timing(pending=1.0, running=2.0), clock=clock) as gateway,
        httpx.Client(base_url=gateway.url, headers=AUTH, timeout=60) as client,
    ):
        store = gateway.app.store
        for index in range(10_000):
            store.create({"input": {"index": index}}, f"key-{index}")
        assert store.renders == 10_000
        for _ in range(5):
            listed = client.get("/")
            assert listed.status_code == 200
        answer = listed.json()
        assert len(answer) == 10_000
        assert {e["status"] for e in answer} == {"PENDING"}
        assert answer[0]["id"] == store.all()[0].id  # newest first
        assert store.renders == 10_000  # five list answers rendered nothing

        clock.now = 1.0  # every execution starts running: each is rendered once more
        assert {e["status"] for e in client.get("/").json()} == {"RUNNING"}
        assert store.renders == 20_000
        one = store.all()[17]
        status = client.get(f"/{one.id}").json()
        assert status["status"] == "RUNNING"
        client.get("/")
        assert store.renders == 20_000

        cancelled = client.put(f"/{one.id}/cancel")
        assert cancelled.status_code == 204
        listed_after = client.get("/").json()
        assert store.renders == 20_001
        assert listed_after[17]["status"] == "CANCELLED"
        assert listed_after == json.loads(dumps([store.snapshot(e) for e in store.all()]))


def test_stats_count_every_request_per_operation() -> None:
    with (
        MockGateway(timing=Timing(0, 0)) as gateway,
        httpx.Client(base_url=gateway.url, headers=AUTH, timeout=30) as client,
    ):
        execution_id = client.post("/", json={"input": {}}).json()["id"]
        client.post("/", json={"input": {}})
        client.get("/")
        for _ in range(3):
            client.get(f"/{execution_id}")
        client.get(f"/{execution_id}/result")
        client.get(f"/{execution_id}/result/result.json")
        client.get(f"/{execution_id}/log")
        client.put(f"/{execution_id}/cancel")
        client.get("/missing-id")  # routed to getStatus, answered 404: still counted
        stats = httpx.get(f"http://{gateway.host}:{gateway.port}/_mock/stats").json()
    assert stats["requests"] == {
        "startExecution": 2,
        "getServiceExecutions": 1,
        "getStatus": 4,
        "getResult": 1,
        "getResultFile": 1,
        "getLogs": 1,
        "cancelExecution": 1,
    }
    assert stats["rate_limited"] == {}


@pytest.fixture
def limited() -> Iterator[tuple[MockGateway, Clock]]:
    clock = Clock()
    with MockGateway(
        timing=Timing(0, 0), clock=clock, rate_limit=RateLimit(rate=0.5, window=10)
    ) as gateway:
        yield gateway, clock


def test_past_the_rate_requests_get_429_with_retry_after(
    limited: tuple[MockGateway, Clock],
) -> None:
    gateway, clock = limited
    root = f"http://{gateway.host}:{gateway.port}"
    with httpx.Client(base_url=gateway.url, headers=AUTH, timeout=30) as client:
        for _ in range(5):  # 0.5 a second over 10 s: five requests in any window
            assert client.get("/").status_code == 200
        clock.now = 3.0
        refused = client.post("/", json={"input": {}}, headers={"Idempotency-Key": "k1"})
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "7"  # the first request leaves at 10 s
        assert "at most 5 requests per 10 s" in refused.json()["detail"]
        # The control endpoints are not limited, and a refused start created nothing.
        stats = httpx.get(root + "/_mock/stats").json()
        assert stats["executions_created"] == 0
        assert stats["rate_limited"] == {"startExecution": 1}
        assert stats["requests"] == {"getServiceExecutions": 5, "startExecution": 1}
        clock.now = 9.5
        assert client.get("/").headers["retry-after"] == "1"  # rounded up
        clock.now = 10.0  # the five left the window; refused requests never counted
        started = client.post("/", json={"input": {}}, headers={"Idempotency-Key": "k1"})
        assert started.status_code == 201
        replay = client.post("/", json={"input": {}}, headers={"Idempotency-Key": "k1"})
        assert replay.status_code == 201
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json()["id"] == started.json()["id"]
        stats = httpx.get(root + "/_mock/stats").json()
        assert stats["executions_created"] == 1
        assert stats["idempotent_replays"] == 1


def test_the_limiter_keeps_at_most_one_window_of_requests() -> None:
    limiter = RateLimiter(RateLimit(rate=100, window=2))
    admitted = sum(limiter.admit(now / 1000) is None for now in range(10_000))  # 10 s, 1,000/s
    assert admitted == 1000  # 200 per 2 s window
    assert len(limiter._answered) <= 200
    assert RateLimiter(None).admit(0.0) is None


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"rate": 0}, "rate must be a number > 0"),
        ({"rate": float("inf")}, "rate must be"),
        ({"rate": True}, "rate must be"),
        ({"rate": 1, "window": -1}, "window must be"),
        ({"rate": 1e6, "window": 10}, "at most 1000000"),
    ],
)
def test_bad_rate_limits_are_refused(options: dict[str, float], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        RateLimit(**options)


def test_rate_limit_flags() -> None:
    parse = build_parser().parse_args
    assert settings_from_args(parse([])).rate_limit is None
    args = parse(["--rate-limit", "20", "--rate-limit-window", "0.5"])
    assert settings_from_args(args).rate_limit == RateLimit(rate=20, window=0.5)
    with pytest.raises(ValueError, match="rate must be"):
        settings_from_args(parse(["--rate-limit", "0"]))


def test_a_client_that_honours_retry_after_gets_through_a_rate_limited_gateway() -> None:
    """End to end on the real clock: the client's retries wait out the 429s."""
    settings = MockSettings(timing=Timing(0, 0), rate_limit=RateLimit(rate=10, window=0.5))
    patient = RetryPolicy(max_retries=8)
    with (
        MockGateway(settings) as gateway,
        HubServiceClient(base_url=gateway.url, token="t", retry_policy=patient) as service,
    ):
        execution = service.service_api.start_execution(request={"input": {}})
        for _ in range(12):
            assert service.service_api.get_status(execution.id).id == execution.id
        stats = gateway.stats()
    assert stats["executions_created"] == 1
    assert stats["requests"]["getStatus"] >= 12
    assert stats["rate_limited"].get("getStatus", 0) >= 1
    answered = stats["requests"]["getStatus"] - stats["rate_limited"]["getStatus"]
    assert answered == 12


def test_the_rate_limit_can_change_while_the_gateway_runs() -> None:
    clock = Clock()
    with (
        MockGateway(clock=clock) as gateway,
        httpx.Client(base_url=gateway.url, headers=AUTH, timeout=30) as client,
    ):
        assert [client.get("/").status_code for _ in range(3)] == [200] * 3
        gateway.set_rate_limit(RateLimit(rate=2))
        assert [client.get("/").status_code for _ in range(3)] == [200, 200, 429]
        gateway.set_rate_limit(None)
        assert client.get("/").status_code == 200
    assert gateway.stats()["rate_limited"] == {"getServiceExecutions": 1}
