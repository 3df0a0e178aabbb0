"""Run-to-completion helpers on both clients, against a scripted gateway (httpx.MockTransport)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kipu_hub_service import (
    ApiError,
    AsyncHubServiceClient,
    AsyncServiceApi,
    ExecutionFailedError,
    ExecutionTimeoutError,
    HubServiceClient,
    IncompleteDownloadError,
    NotFoundError,
    ServiceApi,
    ServiceExecution,
    ServiceExecutionStatus,
    UnsafeResultFileNameError,
)
from kipu_hub_service.testing import retries_without_delay

BASE = "http://gateway.test/acme/vqe/v1"
EID = "6f1c2d3e-0000-4000-8000-000000000001"
FAST: dict[str, float] = {"poll_interval": 0.001, "max_poll_interval": 0.002}


def _execution(status: str, eid: str = EID) -> dict[str, Any]:
    return {"id": eid, "createdAt": "2026-11-25T12:00:00Z", "status": status}


def _entry(n: int) -> dict[str, Any]:
    return {"message": f"line {n}", "severity": "INFO", "timestamp": f"2026-11-25T12:00:0{n}Z"}


class Gateway:
    """A scripted gateway: the status advances one step per status poll."""

    def __init__(
        self,
        statuses: list[str],
        *,
        start_status: str = "PENDING",
        files: dict[str, bytes] | None = None,
        logs: list[list[dict[str, Any]] | None] | None = None,
        output: dict[str, Any] | None = None,
        result_status: int = 200,
    ) -> None:
        self.statuses = statuses
        self.start_status = start_status
        self.files = {"result.json": b'{"energy": -1.137}'} if files is None else files
        self.logs = logs or [None]
        self.output = {"energy": -1.137} if output is None else output
        self.result_status = result_status
        self.polls = 0
        self.requests: list[httpx.Request] = []
        self.cut_after: dict[str, int] = {}

    @property
    def status(self) -> str:
        return self.statuses[min(max(self.polls - 1, 0), len(self.statuses) - 1)]

    def paths(self, method: str = "GET") -> list[str]:
        return [
            r.url.path.removeprefix("/acme/vqe/v1") for r in self.requests if r.method == method
        ]

    def result_body(self) -> dict[str, Any]:
        links: dict[str, Any] = {"status": {"href": f"/{EID}"}}
        for name in self.files:
            links[name] = {"href": f"/{EID}/result/{name}"}
        return {**self.output, "_links": links, "_embedded": {"status": _execution(self.status)}}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path.removeprefix("/acme/vqe/v1")
        parts = [p for p in path.split("/") if p]
        if request.method == "POST" and not parts:
            return httpx.Response(201, json=_execution(self.start_status))
        if request.method == "GET" and parts == [EID]:
            self.polls += 1
            return httpx.Response(200, json=_execution(self.status))
        if request.method == "GET" and parts == [EID, "result"]:
            if self.result_status != 200:
                return httpx.Response(self.result_status, json={"message": "no result"})
            return httpx.Response(200, json=self.result_body())
        if request.method == "GET" and len(parts) == 3 and parts[:2] == [EID, "result"]:
            return self.result_file(request, parts[2])
        if request.method == "GET" and parts == [EID, "log"]:
            logs = self.logs[min(max(self.polls - 1, 0), len(self.logs) - 1)]
            return httpx.Response(204) if logs is None else httpx.Response(200, json=logs)
        return httpx.Response(404, json={"message": "not found"})

    def result_file(self, request: httpx.Request, name: str) -> httpx.Response:
        """A file, honouring ``Range: bytes=N-``; ``cut_after[name]`` drops the connection
        once that many bytes of the file have been sent."""
        content = self.files.get(name)
        if content is None:
            return httpx.Response(404, json={"message": "no such file"})
        headers = {"ETag": f'"{len(content)}"'}
        start = int(request.headers.get("Range", "bytes=0-")[6:-1])
        if start >= len(content) and "Range" in request.headers:
            headers["Content-Range"] = f"bytes */{len(content)}"
            return httpx.Response(416, headers=headers, json={"message": "range"})
        status = 200
        if "Range" in request.headers:
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(content) - 1}/{len(content)}"
        headers["Content-Length"] = str(len(content) - start)
        cut = self.cut_after.get(name)
        body = _Cut(content[start:], None if cut is None else max(cut - start, 0))
        return httpx.Response(status, headers=headers, stream=body)


class _Cut(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body that drops the connection after ``cut`` bytes (or never, with None)."""

    def __init__(self, data: bytes, cut: int | None) -> None:
        self.data = data
        self.cut = cut

    def _pieces(self) -> Iterator[bytes]:
        if self.cut is None:
            yield self.data
            return
        if self.cut:
            yield self.data[: self.cut]
        raise httpx.ReadError("connection dropped mid-body")

    def __iter__(self) -> Iterator[bytes]:
        yield from self._pieces()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self._pieces():
            yield piece


def sync_client(handler: Callable[[httpx.Request], Any]) -> HubServiceClient:
    return HubServiceClient(
        base_url=BASE,
        token="test-token",
        httpx_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )


def async_client(handler: Callable[[httpx.Request], Any]) -> AsyncHubServiceClient:
    return AsyncHubServiceClient(
        base_url=BASE,
        token="test-token",
        httpx_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )


# wait_for_completion


def test_wait_reports_each_status_change_once_and_returns_the_final_execution() -> None:
    gateway = Gateway(["PENDING", "RUNNING", "RUNNING", "SUCCEEDED"])
    seen: list[str] = []
    with sync_client(gateway) as client:
        final = client.service_api.wait_for_completion(
            EID, on_status=lambda e: seen.append(str(e.status)), **FAST
        )
    assert isinstance(final, ServiceExecution)
    assert final.status == ServiceExecutionStatus.SUCCEEDED
    assert seen == ["PENDING", "RUNNING", "SUCCEEDED"]
    assert gateway.polls == 4


async def test_async_wait_reports_each_status_change_and_awaits_coroutine_callbacks() -> None:
    gateway = Gateway(["PENDING", "RUNNING", "FAILED"])
    seen: list[str] = []

    async def on_status(execution: ServiceExecution) -> None:
        await asyncio.sleep(0)
        seen.append(str(execution.status))

    async with async_client(gateway) as client:
        final = await client.service_api.wait_for_completion(EID, on_status=on_status, **FAST)
    assert final.status == ServiceExecutionStatus.FAILED
    assert seen == ["PENDING", "RUNNING", "FAILED"]


def test_wait_backs_off_by_half_up_to_the_cap_and_restarts_on_a_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pauses: list[float] = []
    monkeypatch.setattr(time, "sleep", pauses.append)
    gateway = Gateway(["PENDING"] * 5 + ["RUNNING"] * 3 + ["SUCCEEDED"])
    with sync_client(gateway) as client:
        client.service_api.wait_for_completion(EID, poll_interval=1.0, max_poll_interval=2.0)
    assert pauses == [1.0, 1.5, 2.0, 2.0, 2.0, 1.0, 1.5, 2.0]


async def test_async_wait_backs_off_with_asyncio_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(delay: float, *args: Any) -> None:
        pauses.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    gateway = Gateway(["RUNNING"] * 4 + ["SUCCEEDED"])
    async with async_client(gateway) as client:
        await client.service_api.wait_for_completion(EID, poll_interval=2.0, max_poll_interval=4.0)
    assert [p for p in pauses if p > 0] == [2.0, 3.0, 4.0, 4.0]


def test_wait_timeout_raises_a_timeout_error_carrying_the_id_and_last_status() -> None:
    gateway = Gateway(["RUNNING"])
    with sync_client(gateway) as client, pytest.raises(ExecutionTimeoutError) as caught:
        client.service_api.wait_for_completion(EID, timeout=0.02, **FAST)
    error = caught.value
    assert isinstance(error, TimeoutError)
    assert error.execution_id == EID
    assert error.last_status == ServiceExecutionStatus.RUNNING
    assert error.timeout == 0.02
    assert EID in str(error) and "RUNNING" in str(error)


def test_wait_with_zero_timeout_polls_once() -> None:
    gateway = Gateway(["SUCCEEDED"])
    with sync_client(gateway) as client:
        final = client.service_api.wait_for_completion(EID, timeout=0)
    assert final.status == "SUCCEEDED"
    assert gateway.polls == 1


async def test_async_wait_timeout_also_cuts_short_a_poll_in_flight() -> None:
    never = asyncio.Event()
    polls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal polls
        polls += 1
        if polls > 1:
            await never.wait()
        return httpx.Response(200, json=_execution("RUNNING"))

    async with async_client(handler) as client:
        with pytest.raises(ExecutionTimeoutError) as caught:
            await client.service_api.wait_for_completion(EID, timeout=0.5, **FAST)
    assert caught.value.last_status == ServiceExecutionStatus.RUNNING
    assert polls >= 2  # the second poll was in flight: 0.5 s leaves room for a slow first one


def test_wait_keeps_polling_through_unknown_and_new_statuses() -> None:
    gateway = Gateway(["UNKNOWN", "QUEUED", "SUCCEEDED"])
    seen: list[str] = []
    with sync_client(gateway) as client:
        final = client.service_api.wait_for_completion(
            EID, on_status=lambda e: seen.append(str(e.status)), **FAST
        )
    assert final.status == "SUCCEEDED"
    assert seen == ["UNKNOWN", "QUEUED", "SUCCEEDED"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"poll_interval": 0}, "poll_interval"),
        ({"poll_interval": 2.0, "max_poll_interval": 1.0}, "max_poll_interval"),
        ({"timeout": -1}, "timeout"),
    ],
)
def test_wait_rejects_bad_arguments_before_any_request(
    kwargs: dict[str, float], message: str
) -> None:
    gateway = Gateway(["SUCCEEDED"])
    with sync_client(gateway) as client, pytest.raises(ValueError, match=message):
        client.service_api.wait_for_completion(EID, **kwargs)
    assert gateway.requests == []


def test_wait_rejects_an_empty_id() -> None:
    gateway = Gateway(["SUCCEEDED"])
    with sync_client(gateway) as client, pytest.raises(ValueError, match="id"):
        client.service_api.wait_for_completion("")
    assert gateway.requests == []


def test_an_exception_from_on_status_stops_the_wait() -> None:
    gateway = Gateway(["RUNNING", "RUNNING", "SUCCEEDED"])

    def explode(execution: ServiceExecution) -> None:
        raise RuntimeError("stop here")

    with sync_client(gateway) as client, pytest.raises(RuntimeError, match="stop here"):
        client.service_api.wait_for_completion(EID, on_status=explode, **FAST)
    assert gateway.polls == 1


def test_wait_passes_api_errors_through() -> None:
    def gone(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"message": "gone"})

    with sync_client(gone) as client, pytest.raises(NotFoundError):
        client.service_api.wait_for_completion(EID, **FAST)


# run


def test_run_starts_waits_and_returns_the_result() -> None:
    gateway = Gateway(["RUNNING", "SUCCEEDED"])
    seen: list[str] = []
    with sync_client(gateway) as client:
        result = client.service_api.run(
            request={"input": {"molecule": "H2"}, "tags": ["t"]},
            on_status=lambda e: seen.append(str(e.status)),
            **FAST,
        )
    assert result["energy"] == -1.137
    assert seen == ["PENDING", "RUNNING", "SUCCEEDED"]
    (post,) = [r for r in gateway.requests if r.method == "POST"]
    assert json.loads(post.content) == {"input": {"molecule": "H2"}, "tags": ["t"]}
    assert gateway.paths()[-1] == f"/{EID}/result"


async def test_async_run_starts_waits_and_returns_the_result() -> None:
    gateway = Gateway(["RUNNING", "SUCCEEDED"])
    async with async_client(gateway) as client:
        result = await client.service_api.run(request={"input": {}}, **FAST)
    assert result["energy"] == -1.137


def test_run_does_not_poll_an_execution_that_started_terminal() -> None:
    gateway = Gateway(["SUCCEEDED"], start_status="SUCCEEDED")
    with sync_client(gateway) as client:
        client.service_api.run(request={"input": {}}, **FAST)
    assert gateway.polls == 0


@pytest.mark.parametrize("outcome", ["FAILED", "CANCELLED"])
def test_run_raises_execution_failed_with_the_execution_and_result(outcome: str) -> None:
    gateway = Gateway(["RUNNING", outcome], output={"error": "diverged"})
    with sync_client(gateway) as client, pytest.raises(ExecutionFailedError) as caught:
        client.service_api.run(request={"input": {}}, **FAST)
    error = caught.value
    assert error.execution.status == outcome
    assert error.status == outcome
    assert error.execution_id == EID
    assert error.result is not None and error.result["error"] == "diverged"
    assert not isinstance(error, ApiError)
    assert outcome in str(error)


def test_run_failure_without_a_result_envelope_still_raises_execution_failed() -> None:
    gateway = Gateway(["FAILED"], result_status=409)
    with sync_client(gateway) as client, pytest.raises(ExecutionFailedError) as caught:
        client.service_api.run(request={"input": {}}, **FAST)
    assert caught.value.result is None


def test_run_can_return_a_failed_result_instead_of_raising() -> None:
    gateway = Gateway(["FAILED"], output={"error": "diverged"})
    with sync_client(gateway) as client:
        result = client.service_api.run(request={"input": {}}, raise_on_failure=False, **FAST)
    assert result["error"] == "diverged"
    assert result.embedded.status.status == "FAILED"  # type: ignore[union-attr]


async def test_async_run_raises_execution_failed() -> None:
    gateway = Gateway(["CANCELLED"])
    async with async_client(gateway) as client:
        with pytest.raises(ExecutionFailedError) as caught:
            await client.service_api.run(request={"input": {}}, **FAST)
    assert caught.value.status == "CANCELLED"


def test_run_timeout_names_the_started_execution() -> None:
    gateway = Gateway(["RUNNING"])
    with sync_client(gateway) as client, pytest.raises(ExecutionTimeoutError) as caught:
        client.service_api.run(request={"input": {}}, timeout=0.01, **FAST)
    assert caught.value.execution_id == EID


# download_all_result_files

FILES = {"result.json": b'{"energy": -1.137}', "histogram.bin": bytes(range(256)) * 40}


def test_download_all_writes_every_linked_file(tmp_path: Path) -> None:
    gateway = Gateway(["SUCCEEDED"], files=FILES)
    done: list[str] = []
    with sync_client(gateway) as client:
        paths = client.service_api.download_all_result_files(
            EID, tmp_path / "out", on_file=lambda name, path: done.append(name)
        )
    assert paths == [tmp_path / "out" / "result.json", tmp_path / "out" / "histogram.bin"]
    for path in paths:
        assert path.read_bytes() == FILES[path.name]
    assert done == ["result.json", "histogram.bin"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        ".histogram.bin.part.json",  # the records that let a second call skip finished files
        ".result.json.part.json",
        "histogram.bin",
        "result.json",
    ]


def test_download_all_with_no_files_returns_an_empty_list(tmp_path: Path) -> None:
    with sync_client(Gateway(["SUCCEEDED"], files={})) as client:
        assert client.service_api.download_all_result_files(EID, tmp_path) == []


def file_requests(gateway: Gateway) -> list[tuple[str, str | None]]:
    return [
        (r.url.path.rsplit("/", 1)[-1], r.headers.get("Range"))
        for r in gateway.requests
        if "/result/" in r.url.path
    ]


def test_download_all_refuses_another_file_before_downloading_anything(tmp_path: Path) -> None:
    (tmp_path / "histogram.bin").write_bytes(b"mine")
    gateway = Gateway(["SUCCEEDED"], files=FILES)
    with sync_client(gateway) as client, pytest.raises(FileExistsError) as caught:
        client.service_api.download_all_result_files(EID, tmp_path)
    assert caught.value.filename == str(tmp_path / "histogram.bin")
    assert (tmp_path / "histogram.bin").read_bytes() == b"mine"
    assert not (tmp_path / "result.json").exists()
    # Only the check of the existing file (its Content-Length differs, so it stops there).
    assert file_requests(gateway) == [("histogram.bin", None)]


async def test_async_download_all_refuses_another_file_before_downloading_anything(
    tmp_path: Path,
) -> None:
    (tmp_path / "histogram.bin").write_bytes(b"mine")
    gateway = Gateway(["SUCCEEDED"], files=FILES)
    async with async_client(gateway) as client:
        with pytest.raises(FileExistsError):
            await client.service_api.download_all_result_files(EID, tmp_path)
    assert not (tmp_path / "result.json").exists()
    assert file_requests(gateway) == [("histogram.bin", None)]


RESUME_FILES = {
    "a.bin": bytes(range(256)) * 20,
    "b.bin": bytes(range(255, -1, -1)) * 30,
    "c.json": b'{"energy": -1.137}',
}


def test_download_all_called_again_resumes_without_fetching_finished_files(
    tmp_path: Path,
) -> None:
    gateway = Gateway(["SUCCEEDED"], files=RESUME_FILES)
    gateway.cut_after["b.bin"] = 3_000  # every attempt stops there: resumes run out
    with sync_client(gateway) as client:
        with retries_without_delay(), pytest.raises(IncompleteDownloadError):
            client.service_api.download_all_result_files(EID, tmp_path)
        assert (tmp_path / "a.bin").read_bytes() == RESUME_FILES["a.bin"]
        assert not (tmp_path / "b.bin").exists() and not (tmp_path / "c.json").exists()
        gateway.cut_after.clear()
        gateway.requests.clear()
        done: list[str] = []
        paths = client.service_api.download_all_result_files(
            EID, tmp_path, on_file=lambda name, path: done.append(name)
        )
    assert [p.name for p in paths] == list(RESUME_FILES)
    assert {p.name: p.read_bytes() for p in paths} == RESUME_FILES
    assert file_requests(gateway) == [
        ("a.bin", f"bytes={len(RESUME_FILES['a.bin'])}-"),  # a 416: nothing fetched again
        ("b.bin", "bytes=3000-"),  # the partial file goes on
        ("c.json", None),
    ]
    assert done == ["a.bin", "b.bin", "c.json"]


async def test_async_download_all_called_again_resumes_without_fetching_finished_files(
    tmp_path: Path,
) -> None:
    gateway = Gateway(["SUCCEEDED"], files=RESUME_FILES)
    gateway.cut_after["b.bin"] = 3_000
    async with async_client(gateway) as client:
        with retries_without_delay(), pytest.raises(IncompleteDownloadError):
            await client.service_api.download_all_result_files(EID, tmp_path, max_concurrency=1)
        gateway.cut_after.clear()
        gateway.requests.clear()
        paths = await client.service_api.download_all_result_files(EID, tmp_path)
    assert {p.name: p.read_bytes() for p in paths} == RESUME_FILES
    requests = dict(file_requests(gateway))
    assert len(requests) == 3
    assert requests["a.bin"] == f"bytes={len(RESUME_FILES['a.bin'])}-"
    assert requests["b.bin"] == "bytes=3000-"
    # c.json may have finished before b.bin's failure cancelled the rest.
    assert requests["c.json"] in (None, f"bytes={len(RESUME_FILES['c.json'])}-")


def test_download_all_with_overwrite_fetches_everything_again(tmp_path: Path) -> None:
    gateway = Gateway(["SUCCEEDED"], files=RESUME_FILES)
    with sync_client(gateway) as client:
        client.service_api.download_all_result_files(EID, tmp_path)
        gateway.requests.clear()
        client.service_api.download_all_result_files(EID, tmp_path, overwrite=True)
    assert file_requests(gateway) == [(name, None) for name in RESUME_FILES]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(RESUME_FILES)


def test_download_all_overwrites_when_asked(tmp_path: Path) -> None:
    (tmp_path / "histogram.bin").write_bytes(b"mine")
    with sync_client(Gateway(["SUCCEEDED"], files=FILES)) as client:
        client.service_api.download_all_result_files(EID, tmp_path, overwrite=True)
    assert (tmp_path / "histogram.bin").read_bytes() == FILES["histogram.bin"]


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", ".", "a\\b", "x\ny", "/abs"])
def test_download_all_rejects_unsafe_file_names_before_writing(tmp_path: Path, name: str) -> None:
    gateway = Gateway(["SUCCEEDED"], files={"fine.txt": b"ok", name: b"evil"})
    target = tmp_path / "inner"
    with sync_client(gateway) as client, pytest.raises(UnsafeResultFileNameError) as caught:
        client.service_api.download_all_result_files(EID, target)
    assert isinstance(caught.value, ApiError) and isinstance(caught.value, ValueError)
    assert caught.value.name == name
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "files",
    [
        {"x" * 245: b"long"},  # 245 + 11 bytes of ".<name>.part.json" > 255
        {"é" * 123: b"long"},  # 246 bytes of UTF-8
        {"a": b"1", ".a.part": b"2"},  # the temp file of "a"
        {".b.part.json": b"1", "b": b"2"},  # the record of "b"
        {"nul\x00byte": b"1"},
    ],
)
def test_download_all_checks_every_name_before_writing_anything(
    tmp_path: Path, files: dict[str, bytes]
) -> None:
    gateway = Gateway(["SUCCEEDED"], files={"first.txt": b"ok", **files})
    with sync_client(gateway) as client, pytest.raises(UnsafeResultFileNameError) as caught:
        client.service_api.download_all_result_files(EID, tmp_path / "out")
    assert caught.value.name in files
    assert "Errno" not in str(caught.value)
    assert not (tmp_path / "out").exists()
    assert [p for p in gateway.paths() if "/result/" in p] == []


def test_the_longest_saveable_name_and_a_lone_temp_name_are_accepted(tmp_path: Path) -> None:
    files = {"x" * 244: b"long", "é" * 122: b"utf8", ".c.part": b"no c here"}
    with sync_client(Gateway(["SUCCEEDED"], files=files)) as client:
        paths = client.service_api.download_all_result_files(EID, tmp_path)
    assert {p.name: p.read_bytes() for p in paths} == files


def test_a_name_that_is_not_valid_unicode_is_refused() -> None:
    from kipu_hub_service import ResultResponse
    from kipu_hub_service._results import result_file_names

    result = ResultResponse.from_dict({"_links": {"bad\ud800": {"href": "/x"}}})
    with pytest.raises(UnsafeResultFileNameError, match="not valid Unicode"):
        result_file_names(result)


def test_download_all_rejects_an_empty_file_name(tmp_path: Path) -> None:
    gateway = Gateway(["SUCCEEDED"], files={"": b"evil"})
    with sync_client(gateway) as client, pytest.raises(UnsafeResultFileNameError):
        client.service_api.download_all_result_files(EID, tmp_path)


async def test_async_download_all_writes_every_file(tmp_path: Path) -> None:
    gateway = Gateway(["SUCCEEDED"], files=FILES)
    async with async_client(gateway) as client:
        paths = await client.service_api.download_all_result_files(EID, tmp_path)
    assert [p.read_bytes() for p in paths] == [FILES["result.json"], FILES["histogram.bin"]]


class _ConcurrentFiles:
    """File requests wait until ``expect`` of them are in flight at once."""

    def __init__(self, names: list[str], expect: int) -> None:
        self.gateway = Gateway(["SUCCEEDED"], files={n: n.encode() * 100 for n in names})
        self.expect = expect
        self.in_flight = 0
        self.peak = 0
        self.all_in = asyncio.Event()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if "/result/" not in request.url.path:
            return self.gateway(request)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        if self.in_flight >= self.expect:
            self.all_in.set()
        try:
            await asyncio.wait_for(self.all_in.wait(), timeout=5)
            await asyncio.sleep(0)
            return self.gateway(request)
        finally:
            self.in_flight -= 1


async def test_async_download_all_runs_downloads_concurrently(tmp_path: Path) -> None:
    handler = _ConcurrentFiles(["a", "b", "c"], expect=3)
    async with async_client(handler) as client:
        paths = await client.service_api.download_all_result_files(EID, tmp_path)
    assert handler.peak == 3
    assert [p.read_bytes() for p in paths] == [b"a" * 100, b"b" * 100, b"c" * 100]


async def test_async_download_all_bounds_concurrency(tmp_path: Path) -> None:
    handler = _ConcurrentFiles(["a", "b", "c", "d"], expect=1)
    async with async_client(handler) as client:
        await client.service_api.download_all_result_files(EID, tmp_path, max_concurrency=2)
    assert handler.peak <= 2


async def test_async_download_all_raises_the_first_failure_and_cancels_the_rest(
    tmp_path: Path,
) -> None:
    started = asyncio.Event()
    cancelled = 0
    gateway = Gateway(["SUCCEEDED"], files={"slow": b"s", "broken": b"b"})

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal cancelled
        if request.url.path.endswith("/slow"):
            started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled += 1
                raise
        if request.url.path.endswith("/broken"):
            await started.wait()
            return httpx.Response(404, json={"message": "gone"})
        return gateway(request)

    async with async_client(handler) as client:
        with pytest.raises(NotFoundError):
            await client.service_api.download_all_result_files(EID, tmp_path)
    assert cancelled == 1
    assert not (tmp_path / "slow").exists()


async def test_async_download_all_rejects_a_bad_concurrency(tmp_path: Path) -> None:
    async with async_client(Gateway(["SUCCEEDED"])) as client:
        with pytest.raises(ValueError, match="max_concurrency"):
            await client.service_api.download_all_result_files(EID, tmp_path, max_concurrency=0)


# follow_logs

GROWING_LOGS: list[list[dict[str, Any]] | None] = [
    None,
    [_entry(1)],
    [_entry(1), _entry(2), _entry(3)],
    [_entry(1), _entry(2), _entry(3), _entry(4)],
]


def test_follow_logs_yields_each_entry_once_until_the_end() -> None:
    gateway = Gateway(["PENDING", "RUNNING", "RUNNING", "SUCCEEDED"], logs=GROWING_LOGS)
    with sync_client(gateway) as client:
        messages = [e.message for e in client.service_api.follow_logs(EID, poll_interval=0.001)]
    assert messages == ["line 1", "line 2", "line 3", "line 4"]
    assert gateway.polls == 4


async def test_async_follow_logs_yields_each_entry_once_until_the_end() -> None:
    gateway = Gateway(["PENDING", "RUNNING", "RUNNING", "SUCCEEDED"], logs=GROWING_LOGS)
    async with async_client(gateway) as client:
        messages = [
            e.message async for e in client.service_api.follow_logs(EID, poll_interval=0.001)
        ]
    assert messages == ["line 1", "line 2", "line 3", "line 4"]


def test_follow_logs_reads_the_log_once_more_after_the_terminal_status() -> None:
    # The last entry only appears in the read made after the status went terminal.
    gateway = Gateway(["RUNNING", "FAILED"], logs=[[_entry(1)], [_entry(1), _entry(2)]])
    with sync_client(gateway) as client:
        messages = [e.message for e in client.service_api.follow_logs(EID, poll_interval=0.001)]
    assert messages == ["line 1", "line 2"]


def test_follow_logs_of_a_finished_execution_without_logs_yields_nothing() -> None:
    with sync_client(Gateway(["SUCCEEDED"], logs=[None])) as client:
        assert list(client.service_api.follow_logs(EID, poll_interval=0.001)) == []


def test_follow_logs_can_be_stopped_early() -> None:
    gateway = Gateway(["RUNNING"], logs=[[_entry(1), _entry(2)]])
    with sync_client(gateway) as client:
        for entry in client.service_api.follow_logs(EID, poll_interval=0.001):
            assert entry.message == "line 1"
            break
    assert gateway.polls == 1


def test_follow_logs_checks_arguments_at_the_call() -> None:
    with sync_client(Gateway(["SUCCEEDED"])) as client:
        with pytest.raises(ValueError, match="poll_interval"):
            client.service_api.follow_logs(EID, poll_interval=0)
        with pytest.raises(ValueError, match="id"):
            client.service_api.follow_logs("")


# Surface


def test_helpers_are_documented_on_both_clients() -> None:
    for cls in (ServiceApi, AsyncServiceApi):
        for name in ("wait_for_completion", "run", "download_all_result_files", "follow_logs"):
            doc = getattr(cls, name).__doc__
            assert doc and len(doc.strip()) > 40, (cls, name)
    for error in (ExecutionTimeoutError, ExecutionFailedError, UnsafeResultFileNameError):
        assert error.__doc__


CORE_MODULES = [
    "__init__.py",
    "client.py",
    "testing.py",
    "environment.py",
    "types.py",
    "core/__init__.py",
    "core/api_error.py",
    "core/request_options.py",
    "_auth.py",
    "_backend.py",
    "_config.py",
    "_errors.py",
    "_existing.py",
    "_files.py",
    "_folder.py",
    "_parse.py",
    "_redirects.py",
    "_requests.py",
    "_results.py",
    "_resume.py",
    "_retry.py",
    "_target.py",
]
"""The client core's hand-written modules (the CLI, the mock, the aiohttp transport and the
display helpers have their own tests)."""


def test_every_public_name_of_the_client_core_is_documented() -> None:
    """Every module of the client core (the workflows and downloads included), hand-written
    or generated from ``_async/``."""
    from _docstrings import undocumented

    import kipu_hub_service as package

    root = Path(str(package.__file__)).parent
    generated = sorted((root / "_sync").glob("*.py"))
    written = sorted((root / "_async").glob("*.py"))
    assert generated and len(generated) == len(written)
    for path in [*(root / name for name in CORE_MODULES), *written, *generated]:
        assert undocumented(path) == [], path.relative_to(root)


# Pickling (errors cross process boundaries: multiprocessing, concurrent.futures)


def test_execution_timeout_error_survives_pickling() -> None:
    import pickle

    last = ServiceExecution.from_dict(_execution("RUNNING"))
    for snapshot in (last, None):
        error = ExecutionTimeoutError(EID, 2.5, snapshot)
        error.add_note("while waiting in a worker")
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is ExecutionTimeoutError
        assert (copy.execution_id, copy.timeout) == (EID, 2.5)
        assert copy.last_status == (None if snapshot is None else "RUNNING")
        if snapshot is None:
            assert copy.last_execution is None
        else:
            assert copy.last_execution is not None
            assert copy.last_execution.to_dict() == snapshot.to_dict()
        assert str(copy) == str(error)
        assert copy.__notes__ == ["while waiting in a worker"]


def test_execution_failed_error_survives_pickling() -> None:
    import pickle

    from kipu_hub_service import ResultResponse

    execution = ServiceExecution.from_dict(_execution("FAILED"))
    result = ResultResponse.from_dict({"error": "diverged", "_links": {"status": {"href": "/x"}}})
    for envelope in (result, None):
        copy = pickle.loads(pickle.dumps(ExecutionFailedError(execution, envelope)))
        assert type(copy) is ExecutionFailedError
        assert copy.execution.to_dict() == execution.to_dict()
        assert copy.status == "FAILED" and copy.execution_id == EID
        reason = "" if envelope is None else ": diverged"
        assert str(copy) == f"execution {EID} ended FAILED{reason}"
        if envelope is None:
            assert copy.result is None
        else:
            assert copy.result is not None and copy.result["error"] == "diverged"


def test_unsafe_result_file_name_error_survives_pickling() -> None:
    import pickle

    error = UnsafeResultFileNameError("x" * 300, "is too long")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is UnsafeResultFileNameError
    assert (copy.name, copy.reason, str(copy)) == (error.name, error.reason, str(error))


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (
            {"error": {"message": "The input asked for a failure", "code": "BOOM"}},
            "The input asked for a failure (BOOM)",
        ),
        ({"error": {"message": "no code"}}, "no code"),
        ({"error": {"code": 42}}, "42"),
        ({"error": "  two\n lines  "}, "two lines"),
        ({"output": {"error": "inside the output"}}, "inside the output"),
        ({"error": "x" * 2000}, "x" * 499 + "…"),
        ({}, None),
        ({"error": None}, None),
        ({"error": {"message": "", "code": True}}, None),
        ({"error": ["not", "a", "reason"]}, None),
        ({"output": "plain"}, None),
    ],
)
def test_execution_failed_error_names_the_servers_reason(
    fields: dict[str, Any], reason: str | None
) -> None:
    from kipu_hub_service import ResultResponse

    execution = ServiceExecution.from_dict(_execution("FAILED"))
    result = ResultResponse.from_dict({**fields, "_links": {"status": {"href": "/x"}}})
    error = ExecutionFailedError(execution, result)
    assert error.reason == reason
    expected = f"execution {EID} ended FAILED"
    assert str(error) == (expected if reason is None else f"{expected}: {reason}")


def test_run_against_the_mock_gateway_reports_its_failure_reason() -> None:
    from kipu_hub_service.mock import Timing
    from kipu_hub_service.testing import running_mock_gateway

    with (
        running_mock_gateway(tokens=["t"], timing=Timing(pending=0.01, running=0.02)) as url,
        HubServiceClient(base_url=url, token="t") as client,
        pytest.raises(ExecutionFailedError) as failed,
    ):
        client.service_api.run(request={"input": {"fail": True}}, poll_interval=0.01)
    assert failed.value.reason == "The input asked for a failure (REQUESTED_FAILURE)"
    assert str(failed.value).endswith(": The input asked for a failure (REQUESTED_FAILURE)")


def test_dir_of_the_package_shows_the_public_api_only() -> None:
    import kipu_hub_service as service

    names = dir(service)
    assert set(service.__all__) <= set(names)
    assert {"__name__", "__doc__", "__all__"} <= set(names)
    assert not {"Any", "TYPE_CHECKING", "importlib", "annotations", "_LAZY"} & set(names)
    assert [n for n in names if not n.startswith("__")] == sorted(service.__all__)


class _LateRegistration(Gateway):
    """Like qhub-serve: the execution is known only after ``unknown_polls`` status polls
    (its registry is written after the 201 is sent); ``None``: never."""

    def __init__(self, statuses: list[str], unknown_polls: int | None) -> None:
        super().__init__(statuses)
        self.unknown_polls = unknown_polls
        self.not_found = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/acme/vqe/v1")
        unknown = self.unknown_polls is None or self.not_found < self.unknown_polls
        if request.method == "GET" and path == f"/{EID}" and unknown:
            self.requests.append(request)
            self.not_found += 1
            return httpx.Response(404, json={"message": "no such execution"})
        return super().__call__(request)


def test_run_tolerates_a_404_right_after_the_start() -> None:
    gateway = _LateRegistration(["SUCCEEDED"], unknown_polls=2)
    with sync_client(gateway) as client:
        result = client.service_api.run(request={"input": {}}, **FAST)
    assert result["energy"] == -1.137 and gateway.not_found == 2


async def test_async_wait_tolerates_a_404_on_its_first_polls() -> None:
    gateway = _LateRegistration(["RUNNING", "SUCCEEDED"], unknown_polls=1)
    async with async_client(gateway) as client:
        execution = await client.service_api.wait_for_completion(EID, **FAST)
    assert execution.status == "SUCCEEDED" and gateway.not_found == 1


def test_a_404_after_the_grace_or_after_a_found_poll_is_raised() -> None:
    never = _LateRegistration(["RUNNING"], unknown_polls=None)
    with sync_client(never) as client, pytest.raises(NotFoundError):
        client.service_api.wait_for_completion(EID, poll_interval=0.25, max_poll_interval=0.25)
    assert never.not_found >= 2  # polled again within the grace, then raised

    class Vanishing(Gateway):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            if request.method == "GET" and self.polls >= 1:
                self.requests.append(request)
                return httpx.Response(404, json={"message": "gone"})
            return super().__call__(request)

    gone = Vanishing(["RUNNING"])
    with sync_client(gone) as client, pytest.raises(NotFoundError):
        client.service_api.wait_for_completion(EID, **FAST)
    assert len(gone.requests) == 2  # found once, then a 404 is final at once


def test_the_status_is_read_where_the_vendor_runtime_nests_it() -> None:
    from kipu_hub_service import ResultResponse

    nested = ResultResponse.from_dict(
        {"sum": 3, "_embedded": {"_embedded": _execution("SUCCEEDED")}, "_links": {}}
    )
    assert nested.status is not None and nested.status.status == "SUCCEEDED"
    assert nested.status.id == EID
    gateway = ResultResponse.from_dict({"_embedded": {"status": _execution("FAILED")}})
    assert gateway.status is not None and gateway.status.status == "FAILED"
    for embedded in ({}, {"_embedded": "x"}, {"_embedded": {"no": "id"}}):
        assert ResultResponse.from_dict({"_embedded": embedded}).status is None
