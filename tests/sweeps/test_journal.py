"""The sweep journal: resume without starting twice, changed inputs and a second process refused,
and crash tests with real processes against the real mock."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _sweep_support import TOKEN, async_forwarding, forwarding, inputs, sweep

from kipu_hub_service.mock import FaultConfig, MockGateway, Timing
from kipu_hub_service.sweeps import (
    JournalError,
    JournalLockedError,
    JournalMismatchError,
    Progress,
)
from kipu_hub_service.testing import sdk_transport

CHILD = Path(__file__).with_name("sweep_child.py")
KINDS = ["sync", "async"]


@pytest.fixture
def gateway() -> Iterator[MockGateway]:
    with MockGateway(tokens=[TOKEN], timing=Timing(pending=0.1, running=0.3)) as gw:
        yield gw


def created(gateway: MockGateway) -> int:
    return int(gateway.stats()["executions_created"])


def one_execution_per_input(gateway: MockGateway, count: int) -> None:
    """Exactly one execution per input body at the mock."""
    from kipu_hub_service import HubServiceClient

    with HubServiceClient(base_url=gateway.url, token=TOKEN) as client:
        ids = [execution.id for execution in client.service_api.get_service_executions()]
        numbers = sorted(client.service_api.get_result(id)["output"]["input"]["n"] for id in ids)
    assert numbers == list(range(count))


@pytest.mark.parametrize("kind", KINDS)
def test_a_rerun_starts_and_fetches_nothing_again(
    kind: str, gateway: MockGateway, tmp_path: Path
) -> None:
    journal, out = tmp_path / "sweep.sqlite", tmp_path / "out"
    first, _ = sweep(kind, gateway.url, inputs(5), journal=journal, output_dir=out)
    before = dict(gateway.stats()["requests"])
    again, _ = sweep(kind, gateway.url, inputs(5), journal=journal, output_dir=out)
    assert dict(gateway.stats()["requests"]) == before  # not one request
    assert [(o.status, o.execution_id, o.files) for o in again] == [
        (o.status, o.execution_id, o.files) for o in first
    ]
    assert again[2].result is not None and again[2].result["output"] == {
        "input": inputs(5)[2]["input"]
    }
    # a file lost on disk is fetched again, and nothing else
    (out / "3" / "result.bin").unlink()
    sweep(kind, gateway.url, inputs(5), journal=journal, output_dir=out)
    after = dict(gateway.stats()["requests"])
    assert after["getResultFile"] == before["getResultFile"] + 1
    assert after["startExecution"] == before["startExecution"] == 5
    assert (out / "3" / "result.bin").stat().st_size == 16


@pytest.mark.parametrize("kind", KINDS)
def test_a_journal_written_from_many_requests_at_once_resumes_exactly(
    kind: str, gateway: MockGateway, tmp_path: Path
) -> None:
    """Every answer held 5 ms, as by a distant gateway: the sync client's worker threads (the
    async client's tasks) write the journal at once. A rerun then sends not one request and
    gives the same outcomes and files."""
    journal, out = tmp_path / "sweep.sqlite", tmp_path / "out"
    threads: set[str] = set()

    def hold(request: httpx.Request) -> None:
        threads.add(threading.current_thread().name)
        time.sleep(0.005)

    async def async_hold(request: httpx.Request) -> None:
        await asyncio.sleep(0.005)

    transport = (
        forwarding(gateway.url, hold)
        if kind == "sync"
        else async_forwarding(gateway.url, async_hold)
    )
    progress: list[Progress] = []
    with sdk_transport(transport):
        first, _ = sweep(
            kind,
            gateway.url,
            inputs(24),
            journal=journal,
            output_dir=out,
            concurrency=8,
            on_progress=progress.append,
        )
    assert [o.status for o in first] == ["SUCCEEDED"] * 24
    if kind == "sync":
        assert len(threads) > 1  # the workers did send
    before = dict(gateway.stats()["requests"])
    assert progress[-1].requests == sum(before.values())  # counted from every thread
    assert progress[-1].started == 24
    again, _ = sweep(kind, gateway.url, inputs(24), journal=journal, output_dir=out)
    assert dict(gateway.stats()["requests"]) == before  # not one request
    assert [(o.status, o.execution_id, o.files) for o in again] == [
        (o.status, o.execution_id, o.files) for o in first
    ]
    one_execution_per_input(gateway, 24)


@pytest.mark.parametrize("kind", KINDS)
def test_more_inputs_on_a_rerun_start_only_the_new_ones(
    kind: str, gateway: MockGateway, tmp_path: Path
) -> None:
    journal = tmp_path / "sweep.sqlite"
    sweep(kind, gateway.url, inputs(2), journal=journal)
    results, _ = sweep(kind, gateway.url, inputs(4), journal=journal)
    assert all(outcome.ok for outcome in results) and created(gateway) == 4


def test_a_changed_input_under_the_same_index_is_refused(
    gateway: MockGateway, tmp_path: Path
) -> None:
    journal = tmp_path / "sweep.sqlite"
    sweep("sync", gateway.url, inputs(3), journal=journal)
    changed = inputs(3)
    changed[1]["input"]["n"] = 99
    with pytest.raises(JournalMismatchError, match=r"input 1 \(line 2\)") as info:
        sweep("sync", gateway.url, changed, journal=journal)
    assert info.value.index == 1
    assert created(gateway) == 3


def test_a_second_sweep_on_the_same_journal_is_refused(
    gateway: MockGateway, tmp_path: Path
) -> None:
    from kipu_hub_service._journal import Journal

    journal = tmp_path / "sweep.sqlite"
    with Journal(journal), pytest.raises(JournalLockedError, match="in use by another sweep"):
        sweep("sync", gateway.url, inputs(1), journal=journal)
    assert created(gateway) == 0
    # and from another process, while this one holds it
    with Journal(journal):
        code = (
            "import sys; from kipu_hub_service._journal import Journal, JournalLockedError\n"
            "try: Journal(sys.argv[1])\nexcept JournalLockedError: sys.exit(7)\n"
        )
        done = subprocess.run([sys.executable, "-c", code, str(journal)], timeout=60)
    assert done.returncode == 7


def test_a_file_that_is_not_a_journal_is_refused(gateway: MockGateway, tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not a database, just some text that is long enough " * 20)
    with pytest.raises(JournalError, match="not a"):
        sweep("sync", gateway.url, inputs(1), journal=bogus)
    with pytest.raises(JournalError, match="is a directory"):
        sweep("sync", gateway.url, inputs(1), journal=tmp_path)


def test_the_key_is_journalled_before_the_start_is_sent(
    gateway: MockGateway, tmp_path: Path
) -> None:
    """Ctrl-C while the start is on the wire: the journal already holds the key it carried,
    and the rerun sends that very key again."""
    import httpx

    from kipu_hub_service._journal import Journal
    from kipu_hub_service.testing import sdk_transport

    journal = tmp_path / "sweep.sqlite"
    keys: list[str] = []
    real = httpx.HTTPTransport()

    def interrupted(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            keys.append(request.headers["idempotency-key"])
            if len(keys) == 1:
                raise KeyboardInterrupt
        return real.handle_request(request)

    with sdk_transport(httpx.MockTransport(interrupted)):
        with pytest.raises(KeyboardInterrupt):
            sweep("sync", gateway.url, inputs(1), journal=journal)
        with Journal(journal) as opened:  # released by the interrupted sweep
            entry = opened.entries()[0]
        assert (entry.key, entry.execution_id) == (keys[0], None)
        results, _ = sweep("sync", gateway.url, inputs(1), journal=journal)
    assert keys == [entry.key, entry.key] and results[0].ok


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_start_sends_the_journalled_key_not_one_of_the_callers_headers(
    kind: str, gateway: MockGateway, tmp_path: Path
) -> None:
    """``request_options`` with an ``Idempotency-Key`` of the caller's own (any case): each
    start still carries the key its journal holds, and the caller's other headers too."""
    import httpx

    from kipu_hub_service._journal import Journal
    from kipu_hub_service.testing import sdk_transport

    journal = tmp_path / "sweep.sqlite"
    sent: list[tuple[list[str], str | None]] = []  # read when sent
    real = httpx.AsyncHTTPTransport() if kind == "async" else httpx.HTTPTransport()

    def record(request: httpx.Request) -> None:
        if request.method == "POST":
            headers = request.headers
            sent.append((headers.get_list("idempotency-key"), headers.get("x-trace")))

    class Recording(httpx.AsyncBaseTransport, httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            record(request)
            return real.handle_request(request)  # type: ignore[union-attr]

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            record(request)
            return await real.handle_async_request(request)  # type: ignore[union-attr]

    headers = {"IDEMPOTENCY-key": "the-callers-own", "X-Trace": "t-1"}
    with sdk_transport(Recording()):
        results, _ = sweep(
            kind,
            gateway.url,
            inputs(3),
            journal=journal,
            request_options={"additional_headers": headers},
        )
    with Journal(journal) as opened:
        keys = sorted(entry.key for entry in opened.entries().values())
    assert all(outcome.ok for outcome in results)
    assert sorted(key for key, _ in sent) == [[key] for key in keys]
    assert [trace for _, trace in sent] == ["t-1"] * 3
    assert headers == {"IDEMPOTENCY-key": "the-callers-own", "X-Trace": "t-1"}  # not changed


def test_python_api_sweep_killed_half_way_then_rerun(gateway: MockGateway, tmp_path: Path) -> None:
    # 16 inputs, 4 in flight: at the first outcome at most 8 were started (the first 4, and
    # the 4 the poll that saw them end made room for)
    count, journal, out = 16, tmp_path / "sweep.sqlite", tmp_path / "out"
    command = [sys.executable, str(CHILD), gateway.url, str(journal), str(out), str(count)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    try:
        line = child.stdout.readline()  # the first item is done: kill it mid-sweep
        assert line.startswith("done")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert created(gateway) < count  # it really was half-way
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert created(gateway) == count
    one_execution_per_input(gateway, count)
    for line_number in range(1, count + 1):
        assert (out / str(line_number) / "result.bin").stat().st_size == 64


def test_a_lost_start_answer_then_a_rerun_starts_nothing_twice(
    gateway: MockGateway, tmp_path: Path
) -> None:
    journal = tmp_path / "sweep.sqlite"
    gateway.set_faults(
        FaultConfig(rates={"lost_response": 1.0}, operations=frozenset({"startExecution"}))
    )
    lost, _ = sweep("sync", gateway.url, inputs(3), journal=journal, timeout=0.5)
    assert {outcome.status for outcome in lost} <= {"NOT_STARTED", "ERROR"}
    assert created(gateway) == 3  # the gateway made them; the answers were lost
    gateway.set_faults(None)
    results, _ = sweep("sync", gateway.url, inputs(3), journal=journal)
    assert all(outcome.ok for outcome in results)
    assert created(gateway) == 3
    assert gateway.stats()["idempotent_replays"] >= 3
    one_execution_per_input(gateway, 3)


def test_an_async_sweep_cancelled_mid_way_leaves_the_journal_usable(
    gateway: MockGateway, tmp_path: Path
) -> None:
    """Cancelling the task (what Ctrl-C does to ``asyncio.run``) releases the journal; the
    rerun re-attaches to what was started and starts only the rest."""
    import asyncio

    from kipu_hub_service import AsyncHubServiceClient

    journal = tmp_path / "sweep.sqlite"
    bodies = [{"input": {"n": n, "duration": 0.5, "result_size": 4}} for n in range(6)]

    async def interrupted() -> None:
        async with AsyncHubServiceClient(base_url=gateway.url, token=TOKEN) as client:
            job = client.service_api.sweep(bodies, journal=journal, max_in_flight=3)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(job.results(), 0.3)

    asyncio.run(interrupted())
    assert 0 < created(gateway) < 6
    results, _ = sweep("async", gateway.url, bodies, journal=journal)
    assert all(outcome.ok for outcome in results)
    assert created(gateway) == 6
