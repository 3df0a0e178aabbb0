"""End to end against the mock gateway on loopback, under its fault injection.

Proves what MockTransport scripts cannot: a start whose response is lost creates one
execution, downloads cut mid-body on a real socket end byte-identical, and a soak of
thousands of calls with 20 % faults loses and duplicates nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from kipu_hub_service import AsyncHubServiceClient, HubServiceClient
from kipu_hub_service.mock import Fault, FaultConfig, FaultKind, MockGateway, Timing
from kipu_hub_service.mock.files import iter_result_bin
from kipu_hub_service.testing import retries_without_delay

RESULT_FILE_ONLY = frozenset({"getResultFile"})


@pytest.fixture
def gateway() -> Iterator[MockGateway]:
    """A mock gateway whose executions finish at once, and clients that retry without waiting."""
    with retries_without_delay(), MockGateway(timing=Timing(pending=0.0, running=0.0)) as running:
        yield running


def expected_bin(execution_id: str, size: int) -> str:
    return hashlib.sha256(b"".join(iter_result_bin(execution_id, size))).hexdigest()


def count_files(directory: Path) -> int:
    return sum(1 for _ in directory.iterdir())


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def lost_as_error(seed: int) -> bool:
    """How the mock loses the first response under ``seed``: the second number it draws
    decides between a 5xx and a dropped connection (see ``mock.faults``)."""
    draws = random.Random(seed)
    draws.random()
    return Fault(FaultKind.LOST_RESPONSE, draws.random()).lost_as_error


SEEDS = range(6)


def test_seeds_cover_both_ways_of_losing_a_response() -> None:
    assert {lost_as_error(seed) for seed in SEEDS} == {True, False}


def test_lost_start_response_creates_exactly_one_execution(gateway: MockGateway) -> None:
    ids = []
    with HubServiceClient(base_url=gateway.url, token="t") as client:
        for seed in SEEDS:
            lose_once = FaultConfig(rates={FaultKind.LOST_RESPONSE: 1.0}, limit=1, seed=seed)
            gateway.set_faults(lose_once)
            execution = client.service_api.start_execution(request={"input": {"seed": seed}})
            ids.append(execution.id)
        gateway.set_faults(None)
        listed = {e.id for e in client.service_api.get_service_executions()}
    stats = gateway.stats()
    assert stats["faults"]["lost_response"] == len(SEEDS)
    assert stats["requests"]["startExecution"] == 2 * len(SEEDS)
    assert stats["idempotent_replays"] == len(SEEDS)
    assert stats["executions_created"] == len(SEEDS)
    assert len(set(ids)) == len(SEEDS)
    assert listed == set(ids)


async def test_lost_start_response_creates_exactly_one_execution_async(
    gateway: MockGateway,
) -> None:
    ids = []
    async with AsyncHubServiceClient(base_url=gateway.url, token="t") as client:
        for seed in SEEDS:
            lose_once = FaultConfig(rates={FaultKind.LOST_RESPONSE: 1.0}, limit=1, seed=seed)
            gateway.set_faults(lose_once)
            execution = await client.service_api.start_execution(request={"input": {"n": seed}})
            ids.append(execution.id)
        gateway.set_faults(None)
        listed = {e.id for e in await client.service_api.get_service_executions()}
    stats = gateway.stats()
    assert stats["faults"]["lost_response"] == len(SEEDS)
    assert stats["idempotent_replays"] == len(SEEDS)
    assert stats["executions_created"] == len(SEEDS)
    assert listed == set(ids)


SIZE = 1_500_000
CUTS = FaultConfig(rates={FaultKind.TRUNCATE: 0.5}, operations=RESULT_FILE_ONLY, seed=7)


def test_downloads_cut_mid_body_are_byte_identical(gateway: MockGateway, tmp_path: Path) -> None:
    with HubServiceClient(base_url=gateway.url, token="t") as client:
        api = client.service_api
        execution = api.start_execution(request={"input": {"result_size": SIZE}})
        api.wait_for_completion(execution.id, poll_interval=0.01)
        want = expected_bin(execution.id, SIZE)
        gateway.set_faults(CUTS)
        for _ in range(4):
            assert sha(b"".join(api.get_result_file(execution.id, "result.bin"))) == want
        for n in range(3):
            path = api.download_result_file(execution.id, "result.bin", tmp_path / f"{n}.bin")
            assert sha(path.read_bytes()) == want
    assert gateway.stats()["faults"]["truncate"] >= 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.bin", "1.bin", "2.bin"]


async def test_downloads_cut_mid_body_are_byte_identical_async(
    gateway: MockGateway, tmp_path: Path
) -> None:
    async with AsyncHubServiceClient(base_url=gateway.url, token="t") as client:
        api = client.service_api
        execution = await api.start_execution(request={"input": {"result_size": SIZE}})
        await api.wait_for_completion(execution.id, poll_interval=0.01)
        want = expected_bin(execution.id, SIZE)
        gateway.set_faults(CUTS)
        for _ in range(4):
            data = b"".join([c async for c in api.get_result_file(execution.id, "result.bin")])
            assert sha(data) == want
        for n in range(3):
            path = await api.download_result_file(execution.id, "result.bin", tmp_path / f"{n}.bin")
            assert sha(path.read_bytes()) == want
    assert gateway.stats()["faults"]["truncate"] >= 3


def assert_progress(seen: list[tuple[int, int | None]], size: int) -> None:
    counts = [written for written, _ in seen]
    assert counts == sorted(counts)
    assert seen[-1] == (size, size)
    assert {total for _, total in seen} == {size}
    assert len(seen) > size // (64 * 1024)


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_download_progress_counts_up_to_the_size_through_cuts(
    gateway: MockGateway, tmp_path: Path, mode: str
) -> None:
    seen: list[tuple[int, int | None]] = []

    def on_progress(written: int, total: int | None) -> None:
        seen.append((written, total))

    target = tmp_path / "result.bin"
    if mode == "sync":
        with HubServiceClient(base_url=gateway.url, token="t") as client:
            api = client.service_api
            execution = api.start_execution(request={"input": {"result_size": SIZE}})
            api.wait_for_completion(execution.id, poll_interval=0.01)
            gateway.set_faults(CUTS)
            api.download_result_file(execution.id, "result.bin", target, on_progress=on_progress)
    else:
        async with AsyncHubServiceClient(base_url=gateway.url, token="t") as aclient:
            aapi = aclient.service_api
            execution = await aapi.start_execution(request={"input": {"result_size": SIZE}})
            await aapi.wait_for_completion(execution.id, poll_interval=0.01)
            gateway.set_faults(CUTS)
            await aapi.download_result_file(
                execution.id, "result.bin", target, on_progress=on_progress
            )
    assert gateway.stats()["faults"]["truncate"] >= 1
    assert sha(target.read_bytes()) == expected_bin(execution.id, SIZE)
    assert_progress(seen, SIZE)


# --- soak ------------------------------------------------------------------------------------

SOAK_ROUNDS = 850  # x 6 calls = 5,100 calls
SOAK_WORKERS = 24
SOAK_FAULTS = FaultConfig.uniform(0.2, seed=2024, latency=0.002, retry_after=0)


async def test_soak_thousands_of_calls_with_one_in_five_faulted(
    gateway: MockGateway, tmp_path: Path
) -> None:
    """Each round: start, status, logs, result, one result.bin streamed, and either a second
    status or an atomic download: 6 calls. 20 % of requests get a fault of any kind."""
    calls: Counter[str] = Counter()
    started: list[str] = []
    mismatches: list[str] = []
    rounds = iter(range(SOAK_ROUNDS))
    gateway.set_faults(SOAK_FAULTS)

    async def worker(client: AsyncHubServiceClient) -> None:
        api = client.service_api
        for n in rounds:
            size = 1_000 + (n * 7_919) % 60_000
            execution = await api.start_execution(
                request={"input": {"result_size": size, "round": n}}
            )
            started.append(execution.id)
            status = await api.get_status(execution.id)
            logs = await api.get_logs(execution.id)
            result = await api.get_result(execution.id)
            data = b"".join([c async for c in api.get_result_file(execution.id, "result.bin")])
            calls.update(["start", "status", "logs", "result", "file"])
            want = expected_bin(execution.id, size)
            if sha(data) != want:
                mismatches.append(execution.id)
            if n % 10 == 0:
                path = await api.download_result_file(
                    execution.id, "result.bin", tmp_path / f"{n}.bin"
                )
                calls["download"] += 1
                if sha(path.read_bytes()) != want:
                    mismatches.append(execution.id)
            else:
                await api.get_status(execution.id)
                calls["status"] += 1
            assert status.id == execution.id and logs is not None
            assert result.embedded is not None and result.embedded.status is not None

    async with AsyncHubServiceClient(base_url=gateway.url, token="t", max_retries=10) as client:
        await asyncio.gather(*(worker(client) for _ in range(SOAK_WORKERS)))
        gateway.set_faults(None)
        listed = [e.id for e in await client.service_api.get_service_executions()]

    stats = gateway.stats()
    total_calls = sum(calls.values())
    served = sum(stats["requests"].values()) - 1  # minus the final listing
    injected = sum(stats["faults"].values())
    print(f"soak: {total_calls} calls {dict(calls)}; server: {served} requests, {stats}")
    assert total_calls >= 5_000
    assert calls["start"] == SOAK_ROUNDS
    assert mismatches == []
    # Nothing lost, nothing duplicated: one server-side execution per start call.
    assert stats["executions_created"] == SOAK_ROUNDS
    assert len(set(started)) == SOAK_ROUNDS
    assert sorted(listed) == sorted(started)
    # The faults really happened (about one in five requests; every kind at least once).
    assert injected >= 0.15 * served
    assert all(count > 0 for count in stats["faults"].values())
    assert stats["idempotent_replays"] >= stats["faults"]["lost_response"]
    assert count_files(tmp_path) == calls["download"]
