"""The Python API of sweeps on both clients, against the real mock gateway over loopback."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _sweep_support import (
    TOKEN,
    async_forwarding,
    forwarding,
    forwarding_for,
    inputs,
    request_kind,
    sweep,
)

from kipu_hub_service import HubServiceClient
from kipu_hub_service._sweep_rules import MAX_REQUEST_ATTEMPTS
from kipu_hub_service.core.api_error import (
    AuthenticationError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
)
from kipu_hub_service.mock import FaultConfig, MockGateway, Timing
from kipu_hub_service.sweeps import Progress, SweepFailedError
from kipu_hub_service.testing import retries_without_delay, sdk_transport

KINDS = ["sync", "async"]
WAIT = 10.0
"""Longest a held request waits for the others (a hang fails the test, it does not stall)."""


@pytest.fixture
def gateway() -> Iterator[MockGateway]:
    with MockGateway(tokens=[TOKEN], timing=Timing(pending=0.1, running=0.3)) as gw:
        yield gw


def requests_of(gateway: MockGateway) -> dict[str, int]:
    return dict(gateway.stats()["requests"])


@pytest.mark.parametrize("kind", KINDS)
def test_results_in_input_order_and_each_once_as_completed(
    kind: str, gateway: MockGateway, tmp_path: Path
) -> None:
    bodies = inputs(12)
    bodies[4] = {"input": {"n": 4, "fail": True}}
    progress: list[Progress] = []
    results, seen = sweep(
        kind, gateway.url, bodies, output_dir=tmp_path, on_progress=progress.append
    )
    assert [outcome.index for outcome in results] == list(range(12))
    assert sorted(outcome.index for outcome in seen) == list(range(12))
    assert [outcome.status for outcome in results] == ["SUCCEEDED"] * 4 + ["FAILED"] + [
        "SUCCEEDED"
    ] * 7
    # the failed item hides nothing; its result (with the reason) is on its outcome
    assert results[4].result is not None and "error" in results[4].result.additional_properties
    assert results[0].result is not None
    assert results[0].result["output"] == {"input": bodies[0]["input"]}
    assert sorted(p.name for p in results[0].files) == ["result.bin", "result.json"]
    assert (tmp_path / "1" / "result.bin").stat().st_size == 16
    assert (tmp_path / "12" / "result.json").exists() and not (tmp_path / "5").exists()
    assert progress[-1].finished == 12 and progress[-1].failures == 1
    assert progress[-1].counts == {"SUCCEEDED": 11, "FAILED": 1}
    with pytest.raises(SweepFailedError, match="item 4 FAILED"):
        results.raise_for_failures()
    counted = requests_of(gateway)
    # one start and one result per execution, two files per success, few list calls
    assert counted["startExecution"] == 12 and counted["getResult"] == 12
    assert counted["getResultFile"] == 22
    assert counted.get("getStatus", 0) == 0 and counted["getServiceExecutions"] <= 12


@pytest.mark.parametrize("kind", KINDS)
def test_one_pending_execution_is_polled_by_id(kind: str, gateway: MockGateway) -> None:
    results, _ = sweep(kind, gateway.url, inputs(1))
    assert results.raise_for_failures()[0].ok
    counted = requests_of(gateway)
    assert counted.get("getServiceExecutions", 0) == 0 and counted["getStatus"] >= 1


@pytest.mark.parametrize("kind", KINDS)
def test_watch_waits_for_existing_executions(kind: str, gateway: MockGateway) -> None:
    started, _ = sweep(kind, gateway.url, inputs(3), max_in_flight=3)
    ids = [outcome.execution_id or "" for outcome in started]
    results, _ = sweep(kind, gateway.url, ids=ids)
    assert [(o.index, o.execution_id, o.status) for o in results] == [
        (i, id, "SUCCEEDED") for i, id in enumerate(ids)
    ]
    assert gateway.stats()["executions_created"] == 3


@pytest.mark.parametrize("kind", KINDS)
def test_max_in_flight_bounds_executions_not_yet_finished(kind: str, gateway: MockGateway) -> None:
    peaks: list[int] = []

    def watch(progress: Progress) -> None:
        counts = progress.counts
        peaks.append(counts.get("PENDING", 0) + counts.get("RUNNING", 0))

    results, _ = sweep(kind, gateway.url, inputs(6), max_in_flight=2, on_progress=watch)
    assert all(outcome.ok for outcome in results)
    assert max(peaks) <= 2


@pytest.mark.parametrize("kind", KINDS)
def test_the_deadline_ends_the_sweep_with_timed_out_items(kind: str, gateway: MockGateway) -> None:
    bodies = [{"input": {"n": 0, "duration": 60}}, *inputs(1), {"input": {"n": 2}}]
    results, _ = sweep(kind, gateway.url, bodies, max_in_flight=2, timeout=1.5)
    assert [outcome.status for outcome in results] == ["TIMED_OUT", "SUCCEEDED", "SUCCEEDED"]
    assert results[0].execution_id is not None  # it keeps running: the id says which


@pytest.mark.parametrize("kind", KINDS)
def test_cancel_stops_the_whole_sweep_in_one_call(kind: str, gateway: MockGateway) -> None:
    bodies = [{"input": {"n": n, "duration": 60}} for n in range(4)] + inputs(3)

    def cancel_after_first(job: Any, outcome: Any) -> Any:
        return job.cancel()

    bodies[0] = {"input": {"n": 0, "result_size": 1}}
    results, _ = sweep(kind, gateway.url, bodies, max_in_flight=4, during=cancel_after_first)
    statuses = [outcome.status for outcome in results]
    assert statuses[0] == "SUCCEEDED"
    assert statuses[1:4] == ["CANCELLED"] * 3
    assert set(statuses[4:]) <= {"NOT_STARTED", "CANCELLED", "SUCCEEDED"}
    assert "NOT_STARTED" in statuses[4:]
    assert requests_of(gateway)["cancelExecution"] >= 3


@pytest.mark.parametrize("kind", KINDS)
def test_rate_limit_answers_slow_the_sweep_and_nothing_is_lost(
    kind: str, gateway: MockGateway
) -> None:
    gateway.set_faults(
        FaultConfig(rates={"rate_limit": 0.5}, operations=frozenset({"startExecution"}), limit=2)
    )
    progress: list[Progress] = []
    results, _ = sweep(kind, gateway.url, inputs(6), on_progress=progress.append)
    assert all(outcome.ok for outcome in results)
    assert gateway.stats()["executions_created"] == 6
    assert progress[-1].rate_limited == 2
    assert requests_of(gateway)["startExecution"] == 6 + 2


@pytest.mark.parametrize("kind", KINDS)
def test_transient_errors_are_retried_then_become_the_item_outcome(
    kind: str, gateway: MockGateway
) -> None:
    gateway.set_faults(
        FaultConfig(rates={"error": 1.0}, operations=frozenset({"startExecution"}), limit=2)
    )
    results, _ = sweep(kind, gateway.url, inputs(2))
    assert all(outcome.ok for outcome in results)
    gateway.set_faults(FaultConfig(rates={"error": 1.0}, operations=frozenset({"getResult"})))
    with retries_without_delay():  # the pauses would add up to about 31 s
        results, _ = sweep(kind, gateway.url, inputs(1))
    assert results[0].status == "ERROR"
    assert isinstance(results[0].error, InternalServerError)
    assert requests_of(gateway)["getResult"] == 2 + MAX_REQUEST_ATTEMPTS  # then it gave up


@pytest.mark.parametrize("kind", KINDS)
def test_a_start_whose_answer_was_lost_is_tried_again_with_its_key(
    kind: str, gateway: MockGateway
) -> None:
    """The gateway makes the first two executions but their answers never arrive: the starts
    are tried again with the same Idempotency-Key, and the gateway answers with the
    executions it made. Three inputs, three executions."""
    gateway.set_faults(
        FaultConfig(rates={"lost_response": 1.0}, operations=frozenset({"startExecution"}), limit=2)
    )
    results, _ = sweep(kind, gateway.url, inputs(3))
    assert [outcome.status for outcome in results] == ["SUCCEEDED"] * 3
    assert gateway.stats()["executions_created"] == 3
    assert requests_of(gateway)["startExecution"] == 3 + 2
    assert len({outcome.execution_id for outcome in results}) == 3


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("refused", ["start", "result"])
def test_refused_credentials_stop_the_sweep_and_a_rerun_resumes(
    kind: str, refused: str, gateway: MockGateway, tmp_path: Path
) -> None:
    """A 401 means the credentials, not the input: the sweep raises AuthenticationError at
    the first (no item after item marked ERROR), and a rerun with the journal, once the
    gateway accepts the token again, resumes with each input started once."""
    refusing = [True]

    def gate(request: httpx.Request) -> httpx.Response | None:
        if refusing[0] and request_kind(request) == refused:
            return httpx.Response(401, json={"message": "Invalid token"})
        return None

    transport = forwarding_for(kind, gateway.url, gate)
    journal, out = tmp_path / "sweep.sqlite", tmp_path / "out"
    with sdk_transport(transport):
        with pytest.raises(AuthenticationError):
            sweep(kind, gateway.url, inputs(4), journal=journal, output_dir=out)
        assert gateway.stats()["executions_created"] == (0 if refused == "start" else 4)
        refusing[0] = False
        results, _ = sweep(kind, gateway.url, inputs(4), journal=journal, output_dir=out)
    assert [outcome.status for outcome in results] == ["SUCCEEDED"] * 4
    assert gateway.stats()["executions_created"] == 4
    assert (out / "4" / "result.bin").stat().st_size == 16


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("status", "error"), [(403, PermissionDeniedError), (404, NotFoundError), (401, None)]
)
def test_a_start_refused_for_the_service_not_the_input_stops_the_sweep(
    kind: str, status: int, error: type[Exception] | None, gateway: MockGateway
) -> None:
    """A 403 (no access to the service) or 404 (no service at that URL) to a start would
    come back for every input: the sweep raises it at once instead of ending every item
    ERROR; only the first batch of starts is sent. (The 401 is the test above.)"""
    expected = error or AuthenticationError
    sent: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        sent.append(request_kind(request))
        return httpx.Response(status, json={"message": "refused"})

    transport = forwarding_for(kind, gateway.url, refuse)
    with sdk_transport(transport), pytest.raises(expected):
        sweep(kind, gateway.url, inputs(300), concurrency=1)
    assert sent == ["start"]  # one at a time: the first answer stopped it


@pytest.mark.parametrize("kind", KINDS)
def test_a_full_disk_stops_the_sweep_and_a_rerun_collects_the_rest(
    kind: str, gateway: MockGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills up after the first item's two files: the sweep raises that OSError
    once, instead of ending every later item ERROR. Once there is room again, a rerun with
    the journal collects the rest and starts nothing again."""
    import errno

    from kipu_hub_service import _files

    real_write = _files._write_all
    writes: list[int] = []

    def write(file: Any, data: bytes) -> None:
        writes.append(len(data))
        if len(writes) > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(file, data)

    journal, out = tmp_path / "sweep.sqlite", tmp_path / "out"
    monkeypatch.setattr(_files, "_write_all", write)
    with pytest.raises(OSError, match="No space left on device"):
        sweep(kind, gateway.url, inputs(6), journal=journal, output_dir=out, concurrency=1)
    assert len(writes) == 3  # the first item's two files, then the failed write: no more
    monkeypatch.setattr(_files, "_write_all", real_write)
    results, _ = sweep(kind, gateway.url, inputs(6), journal=journal, output_dir=out)
    assert [outcome.status for outcome in results] == ["SUCCEEDED"] * 6
    assert gateway.stats()["executions_created"] == 6
    assert all((out / str(n) / "result.bin").stat().st_size == 16 for n in range(1, 7))


@pytest.mark.parametrize("kind", KINDS)
def test_an_items_failures_are_counted_in_a_row(kind: str, gateway: MockGateway) -> None:
    """Its start fails 8 times, then its result 8 times: 16 failures, but never 12 in a row
    (a start that succeeds counts again from 0), so the item succeeds."""
    left = {"start": 8, "result": 8}

    def fail(request: httpx.Request) -> None:
        what = request_kind(request)
        if left.get(what, 0) > 0:
            left[what] -= 1
            raise httpx.ConnectError("connection refused")

    transport = forwarding_for(kind, gateway.url, fail)
    with sdk_transport(transport), retries_without_delay():
        results, _ = sweep(kind, gateway.url, inputs(1))
    assert left == {"start": 0, "result": 0}
    assert results[0].status == "SUCCEEDED"


@pytest.mark.parametrize("kind", KINDS)
def test_a_gateway_outage_of_a_few_seconds_loses_nothing(
    kind: str, gateway: MockGateway, tmp_path: Path
) -> None:
    """From the first result-file request on, every request fails to connect for 2.5 s (a
    gateway restart): the items being started, polled and collected wait it out, and every
    one succeeds with each execution made once."""
    outage: list[float] = []

    def cut(request: httpx.Request) -> None:
        if not outage and "/result/" in request.url.path:
            outage.append(time.monotonic() + 2.5)
        if outage and time.monotonic() < outage[0]:
            raise httpx.ConnectError("connection refused (the gateway is restarting)")

    transport = forwarding_for(kind, gateway.url, cut)
    progress: list[Progress] = []
    with sdk_transport(transport):
        results, _ = sweep(
            kind,
            gateway.url,
            inputs(6),
            output_dir=tmp_path,
            max_in_flight=3,
            on_progress=progress.append,
        )
    assert outage and time.monotonic() > outage[0]  # the outage happened, and ended
    assert max(p.retrying for p in progress) > 0  # the display showed the items held up
    assert progress[-1].retrying == 0
    assert [outcome.status for outcome in results] == ["SUCCEEDED"] * 6
    assert gateway.stats()["executions_created"] == 6
    assert all((tmp_path / str(n) / "result.bin").stat().st_size == 16 for n in range(1, 7))


@pytest.mark.parametrize("kind", KINDS)
def test_a_refused_input_is_that_items_error_only(kind: str, gateway: MockGateway) -> None:
    bodies = [*inputs(1), {"input": {"result_size": -1}}]
    results, _ = sweep(kind, gateway.url, bodies)
    assert results[0].ok
    assert results[1].status == "ERROR" and results[1].execution_id is None


def test_bad_arguments_are_refused_before_anything_is_sent(gateway: MockGateway) -> None:
    from kipu_hub_service import HubServiceClient

    with HubServiceClient(base_url=gateway.url, token=TOKEN) as client:
        with pytest.raises(TypeError, match=r"requests\[1\]"):
            client.service_api.sweep([{}, 3])  # type: ignore[list-item]
        with pytest.raises(ValueError, match="max_in_flight"):
            client.service_api.sweep([{}], max_in_flight=0)
        with pytest.raises(ValueError, match="poll_interval"):
            client.service_api.sweep([{}], poll_interval=0)
        for bad in (0, -1, True, 2.5, "4"):  # 0 left the async client's gather waiting forever
            with pytest.raises(ValueError, match=f"concurrency .* got {bad!r}"):
                client.service_api.sweep([{}], concurrency=bad)  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="concurrency"):
                client.service_api.watch(["e"], concurrency=bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"^request_options must be a dict, got int$"):
            client.service_api.sweep([{}], request_options=5)  # type: ignore[arg-type]
        unknown = {"retries": 2}
        with pytest.raises(TypeError, match=r"unknown request_options keys: \['retries'\]"):
            client.service_api.sweep([{}], request_options=unknown)  # type: ignore[arg-type]
        for option in ("on_progress", "journal", "output_dir"):  # named, before any start
            with pytest.raises(TypeError, match=f"^{option} must be .* got int$"):
                client.service_api.sweep([{}], **{option: 5})
        with pytest.raises(ValueError, match=r"ids\[0\]"):
            client.service_api.watch([""])
        with pytest.raises(TypeError, match=r"ids\[1\]"):  # as get_status(123) does
            client.service_api.watch(["e", 123])  # type: ignore[list-item]
        # one body, or one id, where a list is due: never a sweep over its keys or letters
        one = r"must be a list of .*, got (dict|str) \(for one, pass a list of one\)$"
        with pytest.raises(TypeError, match=f"^requests {one}"):
            client.service_api.sweep({"input": {"n": 1}})  # type: ignore[arg-type]
        for one_id in ("6f1c2d3e", ""):
            with pytest.raises(TypeError, match=f"^ids {one}"):
                client.service_api.watch(one_id)
        with pytest.raises(
            TypeError, match=r"^requests must be a list of request bodies, got int$"
        ):
            client.service_api.sweep(5)  # type: ignore[arg-type]
        assert client.service_api.sweep(iter([{}, {}])).progress().total == 2  # any iterable
    assert requests_of(gateway) == {}


@pytest.mark.parametrize("kind", KINDS)
def test_a_rate_limited_gateway_sees_few_429s_and_every_item_succeeds(
    kind: str, tmp_path: Path
) -> None:
    from kipu_hub_service.mock import RateLimit

    busy = RateLimit(rate=40)
    timing = Timing(pending=0.1, running=0.3)
    with MockGateway(tokens=[TOKEN], timing=timing, rate_limit=busy) as gateway:
        progress: list[Progress] = []
        results, _ = sweep(
            kind, gateway.url, inputs(30), output_dir=tmp_path, on_progress=progress.append
        )
        stats = gateway.stats()
    assert [outcome.status for outcome in results] == ["SUCCEEDED"] * 30
    assert stats["executions_created"] == 30
    refused = sum(stats["rate_limited"].values())
    assert refused == progress[-1].rate_limited
    # the first burst may overrun the limit (at most the requests in flight); after the
    # first cut the gate keeps under it
    assert refused <= 16 + 4


def test_a_sweep_interrupted_mid_start_can_be_run_again(gateway: MockGateway) -> None:
    """Ctrl-C while a start is on the wire (sync client), then ``results()`` on the same
    sweep: the start is sent again with its key and nothing runs twice."""
    import httpx

    from kipu_hub_service import HubServiceClient
    from kipu_hub_service.testing import sdk_transport

    real = httpx.HTTPTransport()
    posts: list[str] = []

    def interrupted(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            posts.append(request.headers["idempotency-key"])
            if len(posts) == 2:
                answer = real.handle_request(request)  # made at the gateway, answer lost
                answer.close()
                raise KeyboardInterrupt
        return real.handle_request(request)

    with (
        sdk_transport(httpx.MockTransport(interrupted)),
        HubServiceClient(base_url=gateway.url, token=TOKEN) as client,
    ):
        job = client.service_api.sweep(inputs(3), timeout=20)  # a stuck item fails, not hangs
        with pytest.raises(KeyboardInterrupt):
            job.results()
        results = job.results()
    assert [outcome.status for outcome in results] == ["SUCCEEDED"] * 3
    assert gateway.stats()["executions_created"] == 3
    assert posts[1] in posts[2:]  # the interrupted start was sent again with its key


@pytest.mark.parametrize("kind", KINDS)
def test_executions_that_end_together_are_handed_out_a_batch_at_a_time(kind: str) -> None:
    """Finished executions are collected at most 256 a round; between rounds the sweep hands
    out what it has, so the first outcome does not wait for the last of 300 results."""
    count = 300
    with MockGateway(tokens=[TOKEN], timing=Timing(pending=0.0, running=0.0)) as gw:
        with HubServiceClient(base_url=gw.url, token=TOKEN) as client:
            ids = [client.service_api.start_execution(request=body).id for body in inputs(count)]
        fetched_at_first: list[int] = []

        def during(job: Any, outcome: Any) -> None:
            if not fetched_at_first:
                fetched_at_first.append(requests_of(gw).get("getResult", 0))

        results, seen = sweep(kind, gw.url, ids=ids, during=during)
        fetched = requests_of(gw)["getResult"]
    assert [outcome.status for outcome in results] == ["SUCCEEDED"] * count
    assert len(seen) == count and fetched == count  # each result fetched once
    assert 0 < fetched_at_first[0] <= 256


class Held:
    """Holds requests of one kind the way a distant gateway would: the first ``slow`` wait
    ``SLOW`` each (after two such jobs the sync client hands the jobs left to worker threads),
    and the ``parties`` after them are each held until all of them are in flight at once (at
    most ``WAIT``: one request at a time never gets there). ``most``: the most in flight."""

    SLOW = 0.05

    def __init__(self, parties: int, slow: int) -> None:
        self.parties, self.slow = parties, slow
        self.arrived = self.flying = self.most = 0
        self.lock = threading.Lock()
        self.barrier = threading.Barrier(parties, timeout=WAIT)
        self.event = asyncio.Event()

    def _arrive(self) -> int:
        with self.lock:
            self.arrived += 1
            self.flying += 1
            self.most = max(self.most, self.flying)
            return self.arrived

    def _leave(self) -> None:
        with self.lock:
            self.flying -= 1

    def hold(self) -> None:
        n = self._arrive()
        if n <= self.slow:
            time.sleep(self.SLOW)
        elif n <= self.slow + self.parties:
            self.barrier.wait()  # BrokenBarrierError (the item fails) after WAIT
        self._leave()

    async def async_hold(self) -> None:
        n = self._arrive()
        if n <= self.slow:
            await asyncio.sleep(self.SLOW)
        elif n <= self.slow + self.parties:
            if n == self.slow + self.parties:
                self.event.set()
            await asyncio.wait_for(self.event.wait(), WAIT)
        self._leave()


def held_transport(kind: str, url: str, which: Callable[[httpx.Request], bool], held: Held) -> Any:
    if kind == "sync":

        def hold(request: httpx.Request) -> None:
            if which(request):
                held.hold()

        return forwarding(url, hold)

    async def async_hold(request: httpx.Request) -> None:
        if which(request):
            await held.async_hold()

    return async_forwarding(url, async_hold)


@pytest.mark.parametrize("kind", KINDS)
def test_starts_and_downloads_overlap_up_to_the_concurrency(
    kind: str, gateway: MockGateway, tmp_path: Path
) -> None:
    """Against a gateway whose answers take a while, both clients keep ``concurrency``
    requests in flight (the sync client in worker threads): four starts, and four downloads,
    are each held until all four are in flight at once."""
    parties = 4
    starts = Held(parties, slow=2)
    with sdk_transport(held_transport(kind, gateway.url, lambda r: r.method == "POST", starts)):
        results, _ = sweep(kind, gateway.url, inputs(8), concurrency=parties)
    assert [outcome.status for outcome in results] == ["SUCCEEDED"] * 8
    assert starts.most == parties
    ids = [outcome.execution_id or "" for outcome in results]
    files = Held(parties, slow=4)  # both files of the first two collections

    def is_file(request: httpx.Request) -> bool:
        return "/result/" in request.url.path

    with sdk_transport(held_transport(kind, gateway.url, is_file, files)):
        results, _ = sweep(kind, gateway.url, ids=ids, output_dir=tmp_path, concurrency=parties)
    assert [outcome.status for outcome in results] == ["SUCCEEDED"] * 8
    assert files.most == parties
    assert (tmp_path / "8" / "result.bin").stat().st_size == 16


@pytest.mark.parametrize("kind", KINDS)
def test_a_later_round_sends_its_first_requests_at_once_after_the_gateway_proved_slow(
    kind: str, gateway: MockGateway
) -> None:
    """The first round's two starts wait on the gateway one after the other (the sync client
    measures); the next round's two are sent at once, not measured again: each is held until
    both are in flight."""
    starts = Held(2, slow=2)
    with sdk_transport(held_transport(kind, gateway.url, lambda r: r.method == "POST", starts)):
        results, _ = sweep(kind, gateway.url, inputs(6), concurrency=4, max_in_flight=2)
    assert [outcome.status for outcome in results] == ["SUCCEEDED"] * 6
    assert starts.arrived == 6
    assert starts.most == 2


@pytest.mark.parametrize("kind", KINDS)
def test_a_slot_freed_by_a_poll_is_filled_before_that_round_collects(
    kind: str, gateway: MockGateway
) -> None:
    """With ``max_in_flight`` reached, the poll that sees an execution end frees its slot,
    and the next start goes out right after that poll, not after the finished execution's
    result and files have been fetched (a slow gateway would hold the start that long)."""
    sent: list[str] = []

    def hold(request: httpx.Request) -> None:
        sent.append(request_kind(request))

    async def async_hold(request: httpx.Request) -> None:
        sent.append(request_kind(request))

    transport = (
        forwarding(gateway.url, hold)
        if kind == "sync"
        else async_forwarding(gateway.url, async_hold)
    )
    with sdk_transport(transport):
        results, _ = sweep(kind, gateway.url, inputs(3), max_in_flight=1)
    assert [outcome.status for outcome in results] == ["SUCCEEDED"] * 3
    order = [request for request in sent if request in ("start", "result")]
    assert order == ["start", "start", "result", "start", "result", "result"]


@pytest.mark.parametrize("kind", KINDS)
def test_an_unusable_output_dir_is_refused_before_anything_starts(
    kind: str, gateway: MockGateway, tmp_path: Path
) -> None:
    """A file where the output directory should be, or (without a journal) item directories
    holding another run's files, would have failed every item once its execution had been
    paid for: both are refused before the first start."""
    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    with pytest.raises(NotADirectoryError, match="output_dir is not a directory"):
        sweep(kind, gateway.url, inputs(2), output_dir=afile)
    out = tmp_path / "out"
    first, _ = sweep(kind, gateway.url, inputs(2), output_dir=out)
    assert [outcome.status for outcome in first] == ["SUCCEEDED"] * 2
    with pytest.raises(FileExistsError, match="already holds files of another run") as caught:
        sweep(kind, gateway.url, inputs(2), output_dir=out)
    assert caught.value.filename == str(out / "1")
    assert gateway.stats()["executions_created"] == 2  # neither refused sweep started any
    # the same executions watched into the same directory are no other run's: kept
    ids = [outcome.execution_id or "" for outcome in first]
    again, _ = sweep(kind, gateway.url, ids=ids, output_dir=out)
    assert [outcome.status for outcome in again] == ["SUCCEEDED"] * 2


def test_a_sweep_run_again_after_a_break_keeps_its_own_files(
    gateway: MockGateway, tmp_path: Path
) -> None:
    """Leaving ``as_completed`` early and asking for the results again goes on with the same
    sweep (no journal): the files it wrote already are its own, not another run's."""
    out = tmp_path / "out"
    with HubServiceClient(base_url=gateway.url, token=TOKEN) as client:
        job = client.service_api.sweep(inputs(4), output_dir=out)
        for _ in job.as_completed():
            break  # the generator is closed here
        results = job.results()
    assert [outcome.status for outcome in results] == ["SUCCEEDED"] * 4
    assert gateway.stats()["executions_created"] == 4
