"""Fault injection of the mock gateway over real HTTP: every kind, reproducible by seed."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from kipu_hub_service.mock import FaultConfig, FaultKind, MockGateway, Timing, iter_result_bin

AUTH = {"Authorization": "Bearer test-token"}


@pytest.fixture
def gateway() -> Iterator[MockGateway]:
    with MockGateway(timing=Timing(0, 0)) as gw:
        yield gw


@pytest.fixture
def client(gateway: MockGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, headers=AUTH, timeout=30) as c:
        yield c


def only(kind: FaultKind, **options: object) -> FaultConfig:
    return FaultConfig(rates={kind: 1.0}, **options)  # type: ignore[arg-type]


def outcome(client: httpx.Client, method: str, path: str, **kwargs: object) -> str:
    """What one request saw: its status, or the kind of transport failure."""
    try:
        response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
    except httpx.RemoteProtocolError as exc:
        return "truncated" if "complete message body" in str(exc) else "dropped"
    return str(response.status_code)


def test_error_faults_answer_5xx_json_and_do_not_process(
    gateway: MockGateway, client: httpx.Client
) -> None:
    gateway.set_faults(only(FaultKind.ERROR, retry_after=3, seed=5))
    statuses = set()
    for _ in range(20):
        response = client.post("/", json={"input": {}})
        assert response.headers["content-type"] == "application/json"
        assert "Injected fault" in response.json()["detail"]
        statuses.add(response.status_code)
        if response.status_code == 503:
            assert response.headers["retry-after"] == "3"
    assert statuses == {500, 503}
    stats = gateway.stats()
    assert stats["executions_created"] == 0
    assert stats["faults"]["error"] == 20


def test_error_statuses_are_configurable(gateway: MockGateway, client: httpx.Client) -> None:
    gateway.set_faults(only(FaultKind.ERROR, error_statuses=(502, 504)))
    assert {client.get("/").status_code for _ in range(20)} == {502, 504}


def test_rate_limit_answers_429_with_retry_after(
    gateway: MockGateway, client: httpx.Client
) -> None:
    gateway.set_faults(only(FaultKind.RATE_LIMIT, retry_after=7))
    response = client.post("/", json={})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json() == {"detail": "Too many requests (injected fault)"}
    assert gateway.stats()["executions_created"] == 0


def test_latency_delays_but_answers_normally(gateway: MockGateway, client: httpx.Client) -> None:
    gateway.set_faults(only(FaultKind.LATENCY, latency=0.01))
    response = client.post("/", json={})
    assert response.status_code == 201
    assert client.get("/").json()[0]["id"] == response.json()["id"]
    stats = gateway.stats()
    assert stats["faults"]["latency"] == 2 and stats["executions_created"] == 1


def test_disconnect_drops_the_connection_before_any_response(
    gateway: MockGateway, client: httpx.Client
) -> None:
    gateway.set_faults(only(FaultKind.DISCONNECT))
    for method, path in (("POST", "/"), ("GET", "/"), ("GET", "/x"), ("PUT", "/x/cancel")):
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            client.request(method, path, json={})
    gateway.set_faults(None)
    assert client.get("/").json() == []
    stats = gateway.stats()
    assert stats["executions_created"] == 0 and stats["faults"]["disconnect"] == 4


def test_truncate_drops_a_download_mid_body(gateway: MockGateway, client: httpx.Client) -> None:
    size = 2 * 1024 * 1024
    execution_id = client.post("/", json={"input": {"result_size": size}}).json()["id"]
    expected = b"".join(iter_result_bin(execution_id, size))
    gateway.set_faults(only(FaultKind.TRUNCATE, seed=3))
    cuts = []
    for _ in range(3):
        received = bytearray()
        with (
            pytest.raises(httpx.RemoteProtocolError, match="complete message body"),
            client.stream("GET", f"/{execution_id}/result/result.bin") as response,
        ):
            assert int(response.headers["content-length"]) == size
            for chunk in response.iter_raw():
                received += chunk
        assert 0 < len(received) < size
        assert bytes(received) == expected[: len(received)]
        cuts.append(len(received))
    assert len(set(cuts)) == 3
    gateway.set_faults(None)
    rest = client.get(f"/{execution_id}/result/result.bin", headers={"Range": f"bytes={cuts[0]}-"})
    assert rest.status_code == 206 and rest.content == expected[cuts[0] :]
    assert gateway.stats()["faults"]["truncate"] == 3


def test_truncate_cuts_json_bodies_but_not_empty_ones(
    gateway: MockGateway, client: httpx.Client
) -> None:
    execution_id = client.post("/", json={"input": {"duration": 100}}).json()["id"]
    gateway.set_faults(only(FaultKind.TRUNCATE))
    assert outcome(client, "GET", f"/{execution_id}") == "truncated"
    assert outcome(client, "GET", f"/{execution_id}/log") == "truncated"
    assert outcome(client, "PUT", f"/{execution_id}/cancel") == "204"
    assert outcome(client, "POST", "/", json={}) == "truncated"
    stats = gateway.stats()
    assert stats["faults"]["truncate"] == 3
    assert stats["executions_created"] == 2


def test_lost_response_creates_the_execution_then_loses_the_answer(
    gateway: MockGateway, client: httpx.Client
) -> None:
    gateway.set_faults(only(FaultKind.LOST_RESPONSE, seed=11))
    seen = [
        outcome(client, "POST", "/", json={"input": {"n": n}}, headers={"Idempotency-Key": f"k{n}"})
        for n in range(12)
    ]
    assert set(seen) <= {"dropped", "500", "503"}
    assert gateway.stats()["executions_created"] == 12
    # Other operations are never affected.
    assert outcome(client, "GET", "/") == "200"

    gateway.set_faults(None)
    retried = client.post("/", json={"input": {"n": 0}}, headers={"Idempotency-Key": "k0"})
    assert retried.status_code == 201
    assert retried.json()["id"] in {e["id"] for e in client.get("/").json()}
    stats = gateway.stats()
    assert stats["executions_created"] == 12 and stats["idempotent_replays"] == 1
    assert stats["faults"]["lost_response"] == 12


def test_lost_response_is_both_ways_over_a_seeded_run(
    gateway: MockGateway, client: httpx.Client
) -> None:
    gateway.set_faults(only(FaultKind.LOST_RESPONSE, seed=0))
    seen = {outcome(client, "POST", "/", json={}) for _ in range(30)}
    assert "dropped" in seen and seen & {"500", "503"}


SEQUENCE = [("GET", "/"), ("POST", "/"), ("GET", "/missing"), ("GET", "/missing/log")] * 15


def run_sequence(config: FaultConfig) -> tuple[list[str], dict[str, int]]:
    with (
        MockGateway(timing=Timing(0, 0), faults=config) as gw,
        httpx.Client(base_url=gw.url, headers=AUTH, timeout=30) as client,
    ):
        seen = [outcome(client, method, path, json={}) for method, path in SEQUENCE]
        return seen, gw.stats()["faults"]


def test_faults_are_reproducible_by_seed() -> None:
    config = FaultConfig.uniform(0.6, latency=0.001, seed=42)
    first, counts = run_sequence(config)
    assert run_sequence(config) == (first, counts)
    assert run_sequence(FaultConfig.uniform(0.6, latency=0.001, seed=43))[0] != first
    assert all(counts[kind.value] > 0 for kind in FaultKind), counts
    assert {"200", "201", "404"} <= set(first)
    assert {"429", "dropped", "truncated"} <= set(first)
    assert set(first) & {"500", "503"}


def test_reconfiguring_restarts_the_seeded_sequence(
    gateway: MockGateway, client: httpx.Client
) -> None:
    config = FaultConfig(rates={FaultKind.ERROR: 0.5}, seed=9)
    gateway.set_faults(config)
    first = [outcome(client, "GET", "/") for _ in range(20)]
    gateway.set_faults(config)
    assert [outcome(client, "GET", "/") for _ in range(20)] == first
    assert set(first) >= {"200"} and len(set(first)) > 1


def test_faults_can_be_limited_to_operations(gateway: MockGateway, client: httpx.Client) -> None:
    gateway.set_faults(only(FaultKind.ERROR, operations=frozenset({"getStatus"})))
    execution_id = client.post("/", json={}).json()["id"]
    assert client.get("/").status_code == 200
    assert client.get(f"/{execution_id}").status_code in {500, 503}
    assert client.get(f"/{execution_id}/log").status_code == 200
    assert gateway.stats()["faults"]["error"] == 1


def test_fault_limit_caps_the_number_of_faults(gateway: MockGateway, client: httpx.Client) -> None:
    gateway.set_faults(only(FaultKind.RATE_LIMIT, limit=3))
    assert [client.get("/").status_code for _ in range(5)] == [429, 429, 429, 200, 200]


def test_unknown_routes_and_control_endpoints_never_fault(
    gateway: MockGateway, client: httpx.Client
) -> None:
    gateway.set_faults(only(FaultKind.ERROR))
    assert client.get("/a/b/c/d").status_code == 404
    assert client.delete("/").status_code == 405
    assert httpx.get(gateway.url + "/_mock/stats").status_code == 200
    assert gateway.stats()["faults"]["error"] == 0


def test_faults_can_be_set_over_http(gateway: MockGateway, client: httpx.Client) -> None:
    control = gateway.url + "/_mock/faults"
    assert httpx.get(control).json()["rates"] == {}
    response = httpx.put(control, json={"rates": {"rate_limit": 1.0}, "retry_after": 2})
    assert response.status_code == 200 and response.json()["rates"] == {"rate_limit": 1.0}
    assert client.get("/").headers["retry-after"] == "2"
    bad = httpx.put(control, json={"rates": {"meteor": 1.0}})
    assert bad.status_code == 400 and "meteor" in bad.json()["detail"]
    assert httpx.put(control, content=b"[").status_code == 400
    assert httpx.put(control, json={"unknown": 1}).status_code == 400
    assert httpx.put(control, json={"rates": {"error": "x"}}).status_code == 400
    assert httpx.delete(control).headers["allow"] == "GET, PUT"
    assert httpx.put(control, content=b"").json()["rates"] == {}
    assert client.get("/").status_code == 200


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"rates": {"error": 0.7, "disconnect": 0.5}}, "add up"),
        ({"rates": {"error": 1.5}}, "between 0 and 1"),
        ({"rates": {"error": True}}, "number"),
        ({"rates": {"nope": 0.1}}, "unknown fault kind"),
        ({"operations": frozenset({"deleteAll"})}, "unknown operation"),
        ({"latency": -1}, "latency"),
        ({"retry_after": 1.5}, "retry_after"),
        ({"error_statuses": (404,)}, "5xx"),
        ({"error_statuses": ()}, "5xx"),
        ({"limit": -1}, "limit"),
        ({"seed": "x"}, "seed"),
    ],
)
def test_bad_fault_configurations_are_refused(options: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        FaultConfig(**options)  # type: ignore[arg-type]


def test_fault_config_round_trips_and_shares_a_uniform_rate() -> None:
    config = FaultConfig.uniform(
        0.3, ["error", FaultKind.TRUNCATE, "latency"], operations=frozenset({"getResultFile"})
    )
    assert config.rates == pytest.approx(
        {FaultKind.ERROR: 0.1, FaultKind.TRUNCATE: 0.1, FaultKind.LATENCY: 0.1}
    )
    assert FaultConfig.from_dict(config.to_dict()) == config
    assert set(FaultConfig.uniform(0.6).rates) == set(FaultKind)
    with pytest.raises(ValueError, match="at least one"):
        FaultConfig.uniform(0.5, [])
    with pytest.raises(ValueError, match="JSON object"):
        FaultConfig.from_dict([])  # type: ignore[arg-type]
