"""Our clients and CLI against the vendor's own local runtime, ``qhub-serve``.

``qhub-serve`` (pinned in tests/vendor/constraints.txt) imitates the platform: it runs a
service program and answers the service API the way the vendor wrote it. It lives in its own
virtual environment, ``.venv-vendor/`` (``make vendor-venv``, a prerequisite of ``make test``),
because the vendor's ``qhub-api`` it pulls in provides ``qhub.api.service``, as our drop-in does.

What it answers differs from our mock, and our SDK must cope: execution times as
``2026-11-27 14:31:44``, explicit ``null`` for unset fields, no ``tags``, relative HAL links,
the execution under ``_embedded._embedded`` (not ``_embedded.status``), ``null`` with 200 as
the log body, result files streamed without a length.

The runtime registers an execution only after its ``201`` has been sent, so the tests reach
it through a loopback proxy that holds that ``201`` until the execution can be read
(tests/_vendor_proxy.py); every other answer passes through unchanged.

These tests never skip: a missing runtime fails them with the command that installs it.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from _oracle_support import run_hub_service
from _vendor_proxy import settling_proxy

from kipu_hub_service import (
    AsyncHubServiceClient,
    ExecutionFailedError,
    HubServiceClient,
    NotFoundError,
    ResultResponse,
    ServiceExecution,
)

pytestmark = pytest.mark.vendor

ROOT = Path(__file__).resolve().parents[2]
VENDOR_VENV = ROOT / ".venv-vendor"
QHUB_SERVE = VENDOR_VENV / "bin" / "qhub-serve"
TOKEN = "vendor-runtime-token"
#: How the vendor's runtime writes execution times.
GATEWAY_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
#: The runtime runs at most this many executions at once (its thread pool); more wait.
RUNTIME_WORKERS = 3
STARTUP_SECONDS = 90.0

# The service program qhub-serve runs. Request keys become parameters: `input` here.
# `hold` waits (at most 60 s) for the test to create the `release` file, to keep the
# runtime's workers busy; `fail` raises; `values` also writes a result file of its own.
PROGRAM = """
import os
import time
from pathlib import Path
from typing import Any


def run(input: dict[str, Any] | None = None) -> Any:
    data = input or {}
    output = os.environ.get("OUTPUT_DIRECTORY")
    if data.get("hold"):
        release = Path(os.environ["WORKSPACE"]) / "release"
        deadline = time.monotonic() + 60
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        return {"held": True}
    if data.get("fail"):
        raise RuntimeError("the input asked for a failure")
    values = data.get("values", [])
    Path(output, "report.txt").write_text(f"sum={sum(values)}\\n")
    return {"sum": sum(values), "count": len(values)}
"""


@dataclass(frozen=True)
class Runtime:
    url: str
    workspace: Path

    @property
    def release(self) -> Path:
        return self.workspace / "release"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to qhub-serve (its reloader stops the worker), then its whole process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
    # The group is the one start_new_session gave this process; leftovers end with it.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _serve(workspace: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start qhub-serve on a free port; returns once it answers (or fails with its log)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # The runtime writes local time; UTC makes it what the gateway writes.
    env.update(TZ="UTC", PYTHONDONTWRITEBYTECODE="1")
    command = [str(QHUB_SERVE), "--workspace", str(workspace), "--host", "127.0.0.1"]
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [*command, "--port", str(port), "--log-level", "WARNING"],
            cwd=workspace,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if _warmed_up(url, deadline):
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    _stop(process)
    raise RuntimeError(f"qhub-serve did not start on port {port}:\n{log.read_text()[-4000:]}")


def _warmed_up(url: str, deadline: float) -> bool:
    """Run one execution to its end: the runtime answers and can run the program."""
    started = httpx.post(f"{url}/", json={"input": {"values": []}}, timeout=10)
    if started.status_code != 201:
        return False
    status = f"{url}/{started.json()['id']}"
    while time.monotonic() < deadline:
        answer = httpx.get(status, timeout=10)
        if answer.status_code == 200 and answer.json()["status"] == "SUCCEEDED":
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    if not QHUB_SERVE.exists():
        pytest.fail(
            f"the vendor's runtime is not installed: {QHUB_SERVE} is missing. Run "
            "`make vendor-venv` (`make test` does it); it needs PyPI access.",
            pytrace=False,
        )
    workspace = tmp_path_factory.mktemp("vendor-workspace")
    (workspace / "src").mkdir()
    (workspace / "src" / "__init__.py").write_text("")
    (workspace / "src" / "program.py").write_text(PROGRAM)
    log = workspace.parent / f"{workspace.name}-qhub-serve.log"
    for attempt in range(3):  # another process may take the free port before qhub-serve binds it
        try:
            process, url = _serve(workspace, log)
            break
        except RuntimeError:
            if attempt == 2:
                raise
    try:
        # Starts are answered once the execution exists, as the platform does (see the proxy).
        with settling_proxy(url) as (proxied, _):
            yield Runtime(proxied, workspace)
    finally:
        (workspace / "release").write_text("")
        _stop(process)


def _utc(text: str) -> datetime.datetime:
    assert GATEWAY_TIME.match(text), text
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=datetime.UTC)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def assert_times(execution: ServiceExecution, before: datetime.datetime) -> None:
    """The runtime's times, kept as the strings it sent, are UTC and in order."""
    after = _now() + datetime.timedelta(seconds=1)
    created = _utc(execution.created_at)
    assert before <= created <= after
    assert isinstance(execution.started_at, str) and isinstance(execution.ended_at, str)
    assert created <= _utc(execution.started_at) <= _utc(execution.ended_at) <= after


def assert_succeeded(
    result: ResultResponse, execution_id: str, total: int, count: int, before: datetime.datetime
) -> None:
    """The result envelope of a `values` run, as the SDK parses the runtime's answer."""
    assert result["sum"] == total and result["count"] == count
    wire = result.to_dict()
    assert wire["_links"]["status"] == {"href": f"/{execution_id}"}
    assert {k: v["href"] for k, v in wire["_links"].items() if k != "status"} == {
        "output.json": f"/{execution_id}/result/output.json",
        "report.txt": f"/{execution_id}/result/report.txt",
    }
    # The runtime nests the execution under _embedded._embedded; the SDK keeps it.
    nested = ServiceExecution.from_dict(wire["_embedded"]["_embedded"])
    assert nested.id == execution_id and nested.status == "SUCCEEDED"
    assert_times(nested, before)


def assert_files(paths: list[Path], directory: Path, total: int, count: int) -> None:
    assert sorted(p.name for p in paths) == ["output.json", "report.txt"]
    assert all(p.parent == directory for p in paths)
    assert json.loads((directory / "output.json").read_text()) == {"sum": total, "count": count}
    assert (directory / "report.txt").read_text() == f"sum={total}\n"


def assert_listed(executions: list[ServiceExecution], expected: dict[str, str]) -> None:
    listed = {e.id: e for e in executions}
    assert {i: str(listed[i].status) for i in expected} == expected
    for execution in listed.values():
        assert GATEWAY_TIME.match(execution.created_at)
        assert execution.service_id is None and execution.type_ is None  # explicit nulls


def test_sync_client_through_the_lifecycle(runtime: Runtime, tmp_path: Path) -> None:
    before = _now()
    with HubServiceClient(base_url=runtime.url, token=TOKEN) as client:
        api = client.service_api
        started = api.start_execution(request={"input": {"values": [1, 2, 3]}})
        assert started.status == "PENDING" and started.started_at is None
        assert GATEWAY_TIME.match(started.created_at)
        assert api.get_status(started.id).id == started.id
        done = api.wait_for_completion(started.id, poll_interval=0.05, timeout=60)
        assert done.status == "SUCCEEDED"
        assert_times(done, before)
        assert_succeeded(api.get_result(started.id), started.id, 6, 3, before)
        assert b"".join(api.get_result_file(started.id, "report.txt")) == b"sum=6\n"
        assert_files(api.download_all_result_files(started.id, tmp_path), tmp_path, 6, 3)
        # The runtime keeps no log: a 200 with `null`, read as "no entries".
        assert api.get_logs(started.id) is None
        assert list(api.follow_logs(started.id, poll_interval=0.05)) == []

        ran = api.run(request={"input": {"values": [10, 20]}}, poll_interval=0.05, timeout=60)
        assert ran["sum"] == 30 and ran["count"] == 2
        with pytest.raises(ExecutionFailedError) as failed:
            api.run(request={"input": {"fail": True}}, poll_interval=0.05, timeout=60)
        assert failed.value.status == "FAILED"
        assert_listed(
            api.get_service_executions(),
            {started.id: "SUCCEEDED", failed.value.execution_id: "FAILED"},
        )
        with pytest.raises(NotFoundError):
            api.get_status("no-such-execution")


async def test_async_client_through_the_lifecycle(runtime: Runtime, tmp_path: Path) -> None:
    before = _now()
    async with AsyncHubServiceClient(base_url=runtime.url, token=TOKEN) as client:
        api = client.service_api
        started = await api.start_execution(request={"input": {"values": [4, 5]}})
        assert started.status == "PENDING" and GATEWAY_TIME.match(started.created_at)
        assert (await api.get_status(started.id)).id == started.id
        done = await api.wait_for_completion(started.id, poll_interval=0.05, timeout=60)
        assert done.status == "SUCCEEDED"
        assert_times(done, before)
        assert_succeeded(await api.get_result(started.id), started.id, 9, 2, before)
        chunks = [chunk async for chunk in api.get_result_file(started.id, "report.txt")]
        assert b"".join(chunks) == b"sum=9\n"
        paths = await api.download_all_result_files(started.id, tmp_path)
        assert_files(paths, tmp_path, 9, 2)
        assert await api.get_logs(started.id) is None
        assert [e async for e in api.follow_logs(started.id, poll_interval=0.05)] == []

        ran = await api.run(request={"input": {"values": [7]}}, poll_interval=0.05, timeout=60)
        assert ran["sum"] == 7
        with pytest.raises(ExecutionFailedError) as failed:
            await api.run(request={"input": {"fail": True}}, poll_interval=0.05, timeout=60)
        assert failed.value.status == "FAILED"
        assert_listed(
            await api.get_service_executions(),
            {started.id: "SUCCEEDED", failed.value.execution_id: "FAILED"},
        )
        with pytest.raises(NotFoundError):
            await api.get_status("no-such-execution")


def _hold_workers(client: HubServiceClient) -> list[str]:
    """Occupy every worker of the runtime, so the next execution waits and can be cancelled
    (the runtime cancels only executions that have not begun)."""
    return [
        client.service_api.start_execution(request={"input": {"hold": True}}).id
        for _ in range(RUNTIME_WORKERS)
    ]


def _release(runtime: Runtime, client: HubServiceClient, holders: list[str]) -> None:
    runtime.release.write_text("")
    try:
        for holder in holders:
            done = client.service_api.wait_for_completion(holder, poll_interval=0.05, timeout=60)
            assert done.status == "SUCCEEDED"
            assert client.service_api.get_result(holder)["held"] is True
    finally:
        runtime.release.unlink()


def test_sync_client_cancels_an_execution(runtime: Runtime) -> None:
    with HubServiceClient(base_url=runtime.url, token=TOKEN) as client:
        api = client.service_api
        holders = _hold_workers(client)
        try:
            waiting = api.start_execution(request={"input": {"values": [1]}})
            assert api.cancel_execution(waiting.id) is None
            cancelled = api.wait_for_completion(waiting.id, poll_interval=0.05, timeout=30)
            assert cancelled.status == "CANCELLED" and isinstance(cancelled.ended_at, str)
            assert GATEWAY_TIME.match(cancelled.ended_at)
            # A cancelled execution has a result envelope without files.
            assert list(api.get_result(waiting.id).to_dict()["_links"]) == ["status"]
        finally:
            _release(runtime, client, holders)


async def test_async_client_cancels_an_execution(runtime: Runtime) -> None:
    with HubServiceClient(base_url=runtime.url, token=TOKEN) as holding:
        holders = _hold_workers(holding)
        try:
            async with AsyncHubServiceClient(base_url=runtime.url, token=TOKEN) as client:
                api = client.service_api
                waiting = await api.start_execution(request={"input": {"values": [1]}})
                assert await api.cancel_execution(waiting.id) is None
                cancelled = await api.wait_for_completion(
                    waiting.id, poll_interval=0.05, timeout=30
                )
                assert cancelled.status == "CANCELLED"
                listed = {e.id: e.status for e in await api.get_service_executions()}
                assert listed[waiting.id] == "CANCELLED"
        finally:
            _release(runtime, holding, holders)


def _cli(runtime: Runtime, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_hub_service(runtime.url, TOKEN, *args, cwd=cwd)


def test_cli_run_list_and_logs(runtime: Runtime, tmp_path: Path) -> None:
    before = _now()
    out = tmp_path / "results"
    run = _cli(
        runtime,
        "--json",
        "run",
        "--input",
        '{"values": [2, 3, 4]}',
        "-o",
        str(out),
        "--poll-interval",
        "0.05",
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    execution = ServiceExecution.from_dict(report["execution"])
    assert execution.status == "SUCCEEDED"
    assert_times(execution, before)
    assert report["result"]["sum"] == 9 and report["result"]["count"] == 3
    assert sorted(f["name"] for f in report["files"]) == ["output.json", "report.txt"]
    assert_files([Path(f["path"]) for f in report["files"]], out, 9, 3)

    listed = _cli(runtime, "--json", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    executions = [ServiceExecution.from_dict(e) for e in json.loads(listed.stdout)]
    assert_listed(executions, {execution.id: "SUCCEEDED"})
    wire = next(e for e in json.loads(listed.stdout) if e["id"] == execution.id)
    assert wire["createdAt"] == execution.created_at  # the server's string, unchanged

    table = _cli(runtime, "list", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if line.startswith(execution.id))
    assert row.split()[1] == "SUCCEEDED"
    assert execution.created_at.split()[0] in row

    logs = _cli(runtime, "logs", execution.id, cwd=tmp_path)
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout == "" and "no log entries" in logs.stderr
    as_json = _cli(runtime, "--json", "logs", execution.id, cwd=tmp_path)
    assert as_json.returncode == 0 and json.loads(as_json.stdout) == []


def test_runtime_answers_as_the_issue_describes(runtime: Runtime) -> None:
    """The raw answers the SDK is tested against: if the runtime changes, this says how."""
    started = httpx.post(f"{runtime.url}/", json={"input": {"values": [1]}}, timeout=10)
    assert started.status_code == 201
    body: dict[str, Any] = started.json()
    assert started.headers["location"] == f"/{body['id']}"
    assert GATEWAY_TIME.match(body["createdAt"])
    assert body["startedAt"] is None and body["endedAt"] is None and body["type"] is None
    assert "tags" not in body
    log = httpx.get(f"{runtime.url}/{body['id']}/log", timeout=10)
    assert (log.status_code, log.text) == (200, "null")
    with HubServiceClient(base_url=runtime.url, token=TOKEN) as client:
        client.service_api.wait_for_completion(body["id"], poll_interval=0.05, timeout=60)
    file = httpx.get(f"{runtime.url}/{body['id']}/result/report.txt", timeout=10)
    assert (file.status_code, file.content) == (200, b"sum=1\n")
    assert file.headers["content-type"] == "application/octet-stream"
    assert "content-length" not in file.headers  # streamed without a length
