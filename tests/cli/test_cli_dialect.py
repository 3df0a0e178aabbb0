"""``hub-service`` speaks one dialect: sizes in binary units, times in one UTC form with ``Z``,
the same facts about an execution in ``--json`` errors as in text, and ``run`` ends its
progress with the execution's final status. Run as subprocesses against the mock gateway."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kipu_hub_service import HubServiceClient
from kipu_hub_service.mock import MockGateway, Timing

TOKEN = "dialect-token"
GUARD = 60
FAST_POLL = ["--poll-interval", "0.02", "--max-poll-interval", "0.05"]
MIB = 1024 * 1024
# The one time format: UTC, ISO 8601 to the millisecond, Z.
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
DECIMAL_UNIT = re.compile(r"\d (kB|MB|GB|TB)\b")


@pytest.fixture(scope="module")
def gateway() -> Iterator[MockGateway]:
    # The gateway's own time form on the wire: "2026-12-05 15:11:03", no zone.
    with MockGateway(tokens=[TOKEN], timing=Timing(pending=0.0, running=0.0)) as running:
        yield running


@pytest.fixture(scope="module")
def client(gateway: MockGateway) -> Iterator[HubServiceClient]:
    with HubServiceClient(base_url=gateway.url, token=TOKEN) as sdk:
        yield sdk


@pytest.fixture(scope="module")
def one_mib(client: HubServiceClient) -> str:
    """A SUCCEEDED execution whose result.bin is exactly 1,048,576 bytes."""
    execution = client.service_api.start_execution(request={"input": {"result_size": MIB}})
    client.service_api.wait_for_completion(execution.id, poll_interval=0.02)
    return execution.id


def cli(
    gateway: MockGateway, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_SERVICE_")}
    for name in ("FORCE_COLOR", "COLUMNS"):
        env.pop(name, None)
    env.update(HUB_SERVICE_BASE_URL=gateway.url, HUB_SERVICE_TOKEN=TOKEN)
    return subprocess.run(
        [sys.executable, "-m", "kipu_hub_service.cli", *args],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=GUARD, check=False,
    )  # fmt: skip


def test_sizes_are_binary_units_in_tables_and_progress_lines(
    gateway: MockGateway, one_mib: str, tmp_path: Path
) -> None:
    done = cli(gateway, "download", one_mib, "result.bin", "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    (row,) = [line for line in done.stdout.splitlines() if line.startswith("result.bin")]
    assert row.split()[:3] == ["result.bin", "1.0", "MiB"]
    assert "downloaded result.bin (1.0 MiB)" in done.stderr
    assert not DECIMAL_UNIT.search(done.stdout + done.stderr)


def test_times_are_one_utc_form_in_list_status_logs_and_verbose_lines(
    gateway: MockGateway, one_mib: str, client: HubServiceClient
) -> None:
    wire = client.service_api.get_status(one_mib)
    assert not wire.created_at.endswith("Z")  # the gateway's zoneless form
    assert wire.created is not None
    created = wire.created.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    status = cli(gateway, "status", one_mib)
    assert status.returncode == 0, status.stderr
    fields = dict(line.split(None, 1) for line in status.stdout.splitlines())
    assert fields["created"] == created
    for name in ("created", "started", "ended"):
        assert STAMP.fullmatch(fields[name]), fields

    listing = cli(gateway, "list")
    (row,) = [line for line in listing.stdout.splitlines() if line.startswith(one_mib)]
    assert row.split()[2] == created and STAMP.fullmatch(row.split()[3])

    logs = cli(gateway, "logs", one_mib)
    assert logs.stdout and all(STAMP.match(line) for line in logs.stdout.splitlines())

    verbose = cli(gateway, "-v", "status", one_mib)
    (request,) = [line for line in verbose.stderr.splitlines() if "GET" in line]
    assert STAMP.match(request), request

    # --json keeps what the server sent.
    machine = cli(gateway, "--json", "status", one_mib)
    assert json.loads(machine.stdout)["createdAt"] == wire.created_at


def test_a_wait_timeout_gives_the_id_and_the_hint_in_json_as_in_text(
    gateway: MockGateway, client: HubServiceClient
) -> None:
    slow = client.service_api.start_execution(request={"input": {"duration": 60}})
    try:
        args = ["wait", slow.id, "--wait-timeout", "0.1", *FAST_POLL]
        text = cli(gateway, *args)
        machine = cli(gateway, "--json", *args)
    finally:
        client.service_api.cancel_execution(slow.id)
    assert text.returncode == machine.returncode == 4
    line = text.stderr.strip().splitlines()[-1]
    hint = (
        f"wait again with: hub-service wait {slow.id}; stop it with: hub-service cancel {slow.id}"
    )
    assert line.startswith(f"hub-service: error: execution {slow.id} did not finish within 0.1 s")
    assert line.endswith(f"; it keeps running ({hint})")
    error = json.loads(machine.stderr)["error"]
    assert error["type"] == "ExecutionTimeoutError" and error["exitCode"] == 4
    assert error["executionId"] == slow.id and error["hint"] == hint
    assert f"hub-service: error: {error['message']}" == line


def test_run_ends_its_progress_with_the_final_status(gateway: MockGateway, tmp_path: Path) -> None:
    ok = cli(
        gateway, "run", "--input", '{"result_size": 2000}', "-o", "res", *FAST_POLL, cwd=tmp_path
    )
    assert ok.returncode == 0, ok.stderr
    progress = ok.stderr.strip().splitlines()
    execution_id = progress[0].removeprefix("started ")
    assert re.fullmatch(r"downloaded result\.json \(\d+ B\)", progress[-3]), progress
    assert progress[-2:] == [
        "downloaded result.bin (2.0 KiB)",
        f"execution {execution_id} SUCCEEDED: 2 result files (2.1 KiB) in res",
    ]
    failed = cli(gateway, "run", "--input", '{"fail": true}', *FAST_POLL, cwd=tmp_path)
    assert failed.returncode == 1
    progress = failed.stderr.strip().splitlines()
    assert progress[-1] == f"execution {progress[0].removeprefix('started ')} FAILED"
    machine = cli(gateway, "--json", "run", "--input", "{}", "--no-download", *FAST_POLL)
    assert machine.returncode == 0 and machine.stderr == ""  # --json: no progress lines
