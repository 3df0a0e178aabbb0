"""Our mock writes the real gateway's wire format, and the SDK, its workflows and the CLI read
both that and the ISO form (``--timestamp-format iso``).

Execution times (``createdAt``, ``startedAt``, ``endedAt``) are UTC ``YYYY-MM-DD HH:MM:SS`` by
default, ISO 8601 with ``iso``; log timestamps are ISO 8601 in both; every optional field of an
execution is present, as ``null`` when unset.
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _oracle_support import run_hub_service

from kipu_hub_service import AsyncHubServiceClient, HubServiceClient, ServiceExecution
from kipu_hub_service.mock import TIMESTAMP_FORMATS, MockGateway, MockGatewayApp, Timing
from kipu_hub_service.mock.__main__ import build_parser
from kipu_hub_service.testing import mock_gateway, running_mock_gateway

TOKEN = "wire-format-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FORMS = {
    "gateway": re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"),
    "iso": re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"),
}
OPTIONAL = ("startedAt", "endedAt", "type", "serviceId", "serviceDefinitionId", "applicationId")
FAST = Timing(pending=0.05, running=0.2)


def _utc(text: str) -> datetime.datetime:
    """Either execution-time form as an aware UTC datetime (for ordering checks only)."""
    parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


@pytest.fixture(params=TIMESTAMP_FORMATS)
def form(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def gateway(form: str) -> Iterator[MockGateway]:
    with mock_gateway(tokens=[TOKEN], timing=FAST, timestamp_format=form) as started:
        yield started


def _finished(url: str, body: dict[str, Any]) -> dict[str, Any]:
    with HubServiceClient(base_url=url, token=TOKEN) as client:
        execution = client.service_api.start_execution(request=body)
        client.service_api.wait_for_completion(execution.id, poll_interval=0.02, timeout=30)
    answer = httpx.get(f"{url}/{execution.id}", headers=AUTH)
    assert answer.status_code == 200
    raw: dict[str, Any] = answer.json()
    return raw


def test_the_default_is_the_gateway_form_with_explicit_nulls() -> None:
    assert TIMESTAMP_FORMATS == ("gateway", "iso")
    with running_mock_gateway(tokens=[TOKEN], timing=Timing(pending=60)) as url:
        created = httpx.post(f"{url}/", json={"input": {}}, headers=AUTH).json()
        listed = httpx.get(f"{url}/", headers=AUTH).json()
    assert FORMS["gateway"].match(created["createdAt"])
    assert listed == [created]
    # Every optional field is there, null when unset: as the vendor's runtime writes them.
    assert created["startedAt"] is None and created["endedAt"] is None and created["tags"] is None
    assert set(OPTIONAL) <= created.keys()


def test_execution_times_and_log_times_in_each_form(gateway: MockGateway, form: str) -> None:
    raw = _finished(gateway.url, {"input": {}})
    for name in ("createdAt", "startedAt", "endedAt"):
        assert FORMS[form].match(raw[name]), (name, raw[name])
    assert _utc(raw["createdAt"]) <= _utc(raw["startedAt"]) <= _utc(raw["endedAt"])
    logs = httpx.get(f"{gateway.url}/{raw['id']}/log", headers=AUTH).json()
    # Log timestamps are ISO 8601 whatever the execution times look like.
    assert logs and all(FORMS["iso"].match(entry["timestamp"]) for entry in logs)
    result = httpx.get(f"{gateway.url}/{raw['id']}/result", headers=AUTH).json()
    assert result["_embedded"]["status"] == raw


def test_sync_sdk_and_workflows_keep_the_servers_strings(gateway: MockGateway, form: str) -> None:
    with HubServiceClient(base_url=gateway.url, token=TOKEN) as client:
        api = client.service_api
        seen: list[ServiceExecution] = []
        result = api.run(
            request={"input": {"x": 1}}, poll_interval=0.02, timeout=30, on_status=seen.append
        )
        execution_id = seen[0].id
        raw = httpx.get(f"{gateway.url}/{execution_id}", headers=AUTH).json()
        final = api.get_status(execution_id)
        assert (final.created_at, final.started_at, final.ended_at) == (
            raw["createdAt"],
            raw["startedAt"],
            raw["endedAt"],
        )
        assert FORMS[form].match(final.created_at)
        embedded = result.to_dict()["_embedded"]["status"]
        assert embedded["endedAt"] == raw["endedAt"]
        listed = {e.id: e for e in api.get_service_executions()}
        assert listed[execution_id].created_at == raw["createdAt"]
        entries = list(api.follow_logs(execution_id, poll_interval=0.02))
        assert entries and all(e.timestamp.tzinfo is not None for e in entries)
        assert entries[0].timestamp >= _utc(raw["createdAt"])


async def test_async_sdk_and_workflows_keep_the_servers_strings(
    gateway: MockGateway, form: str
) -> None:
    async with AsyncHubServiceClient(base_url=gateway.url, token=TOKEN) as client:
        api = client.service_api
        started = await api.start_execution(request={"input": {}})
        assert FORMS[form].match(started.created_at) and started.started_at is None
        done = await api.wait_for_completion(started.id, poll_interval=0.02, timeout=30)
        assert done.status == "SUCCEEDED"
        assert done.ended_at is not None and FORMS[form].match(done.ended_at)
        assert [e.created_at for e in await api.get_service_executions()] == [done.created_at]
        entries = [e async for e in api.follow_logs(started.id, poll_interval=0.02)]
        assert entries[-1].timestamp >= _utc(done.created_at)


def _cli(url: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_hub_service(url, TOKEN, *args, cwd=cwd, timeout=60)


def test_cli_reads_each_form(gateway: MockGateway, form: str, tmp_path: Path) -> None:
    fast = ["--poll-interval", "0.02", "--max-poll-interval", "0.05"]
    ran = _cli(gateway.url, "--json", "run", "--input", "{}", "--no-download", *fast, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    execution = json.loads(ran.stdout)["execution"]
    assert FORMS[form].match(execution["endedAt"])
    raw = httpx.get(f"{gateway.url}/{execution['id']}", headers=AUTH).json()
    assert execution["createdAt"] == raw["createdAt"]  # JSON output: the server's string

    human = _cli(gateway.url, "run", "--input", "{}", "--no-download", *fast, cwd=tmp_path)
    assert human.returncode == 0, human.stderr
    assert "SUCCEEDED" in human.stdout and "Traceback" not in human.stderr

    table = _cli(gateway.url, "list", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if line.startswith(execution["id"]))
    assert "SUCCEEDED" in row
    # The table shows when it was created: the server's date and time of day.
    date, clock = re.split(r"[ T]", raw["createdAt"])[:2]
    assert date in row and clock[:8] in row

    status = _cli(gateway.url, "status", execution["id"], cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert date in status.stdout and raw["endedAt"][11:19] in status.stdout

    listed = _cli(gateway.url, "--json", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert {e["id"]: e["createdAt"] for e in json.loads(listed.stdout)}[execution["id"]] == (
        raw["createdAt"]
    )


def test_the_option_is_everywhere_and_checked() -> None:
    assert build_parser().parse_args([]).timestamp_format == "gateway"
    assert build_parser().parse_args(["--timestamp-format", "iso"]).timestamp_format == "iso"
    for bad in ("ISO", "rfc3339", ""):
        with pytest.raises(ValueError, match="timestamp_format must be one of gateway, iso"):
            MockGatewayApp(timestamp_format=bad)
    with running_mock_gateway(tokens=[TOKEN], timestamp_format="iso") as url:
        created = httpx.post(f"{url}/", json={"input": {}}, headers=AUTH).json()
    assert FORMS["iso"].match(created["createdAt"])


def test_hub_service_mock_timestamp_format_flag() -> None:
    rejected = subprocess.run(
        [sys.executable, "-m", "kipu_hub_service.mock", "--timestamp-format", "unix"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert rejected.returncode == 2
    assert "--timestamp-format: invalid choice: 'unix'" in rejected.stderr
    assert "Traceback" not in rejected.stderr


@pytest.mark.hub_service_mock(timestamp_format="iso", tokens=[TOKEN])
def test_the_fixture_takes_the_option(hub_service_mock_url: str) -> None:
    created = httpx.post(f"{hub_service_mock_url}/", json={"input": {}}, headers=AUTH).json()
    assert FORMS["iso"].match(created["createdAt"])


def test_the_fixture_default_is_the_gateway_form(hub_service_mock_url: str) -> None:
    created = httpx.post(f"{hub_service_mock_url}/", json={"input": {}}, headers=AUTH).json()
    assert FORMS["gateway"].match(created["createdAt"])
