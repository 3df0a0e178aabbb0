"""The reference's quickstart and every one of its Python snippets run unchanged.

``tests/client/data/hub-service-client-reference.txt`` is the contract as published (its code
lost its indentation on the way); ``SNIPPETS`` (in ``tests/_reference_snippets.py``) holds each
snippet indented again, and the first test checks that, line for line, they are the reference's
code. The snippets then run against an in-memory gateway behind ``httpx.MockTransport``
(``tests/e2e/test_e2e_client.py`` runs them over loopback HTTP against the mock gateway).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _client_support import TOKEN, FakeGateway, execution_json
from _reference_snippets import QUICKSTART_BASE, SNIPPETS, run_snippet
from qhub.api.service import HubServiceClient
from qhub.api.service.testing import sdk_transport

REFERENCE = Path(__file__).parent / "data" / "hub-service-client-reference.txt"


def reference_code_blocks() -> list[list[str]]:
    """The reference's code: the lines after each ``python`` marker, up to the next prose."""
    lines = REFERENCE.read_text(encoding="utf-8").splitlines()
    return [lines[i + 1 :] for i, line in enumerate(lines) if line.strip() == "python"]


def matches_reference(snippet: str) -> bool:
    """Each snippet line, stripped of indentation, is the reference's next code line; the last
    one may have the following heading glued to it (as the reference prints it)."""
    wanted = [line.strip() for line in snippet.splitlines() if line.strip()]
    for block in reference_code_blocks():
        have = [line.strip() for line in block[: len(wanted)]]
        if len(have) < len(wanted) or have[:-1] != wanted[:-1]:
            continue
        last, rest = have[-1], have[-1][len(wanted[-1]) :]
        if last.startswith(wanted[-1]) and (not rest or rest[:1].isupper()):
            return True
    return False


def test_reference_has_exactly_these_snippets() -> None:
    assert len(reference_code_blocks()) == len(SNIPPETS)
    for name, snippet in SNIPPETS.items():
        assert matches_reference(snippet), name
        compile(snippet, name, "exec")


@pytest.fixture
def gateway() -> FakeGateway:
    gateway = FakeGateway(file_bytes=b'{"energy": -1.137}')
    gateway.script["status"] = lambda request: httpx.Response(
        200, json=execution_json(request.url.path.rsplit("/", 1)[-1], "SUCCEEDED")
    )
    return gateway


@pytest.fixture
def service(gateway: FakeGateway) -> Iterator[HubServiceClient]:
    http = httpx.Client(transport=httpx.MockTransport(gateway))
    client = HubServiceClient(base_url=QUICKSTART_BASE, token=TOKEN, httpx_client=http)
    yield client
    http.close()


def test_quickstart(gateway: FakeGateway, capsys: pytest.CaptureFixture[str]) -> None:
    # The quickstart builds its own client for the real gateway URL: the documented testing
    # hook gives the client the SDK creates a transport on the test gateway.
    with sdk_transport(httpx.MockTransport(gateway)):
        namespace = run_snippet("quickstart", {})
    namespace["service"].close()
    start, logs = gateway.requests
    assert str(start.url) == QUICKSTART_BASE + "/"
    assert start.headers["Authorization"] == "Bearer YOUR_GATEWAY_TOKEN"
    assert str(logs.url) == QUICKSTART_BASE + "/exec-1/log"
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "2026-11-25 12:00:01+00:00 INFO Execution started",
        "2026-11-25 12:00:02+01:00 NOTICE Done",
    ]


def test_method_snippets(
    service: HubServiceClient,
    gateway: FakeGateway,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"service": service}

    run_snippet("start_execution", namespace)
    assert capsys.readouterr().out == "exec-1 PENDING\n"
    namespace["execution_id"] = namespace["execution"].id

    run_snippet("get_service_executions", namespace)
    assert capsys.readouterr().out == "exec-1 PENDING\n"

    run_snippet("get_status", namespace)
    assert capsys.readouterr().out == "SUCCEEDED\n"

    run_snippet("get_result", namespace)
    assert capsys.readouterr().out == "SUCCEEDED\n"

    run_snippet("get_result_file", namespace)
    assert (tmp_path / "result.bin").read_bytes() == gateway.file_bytes

    run_snippet("get_logs", namespace)
    assert capsys.readouterr().out.count("\n") == 2

    run_snippet("polling", namespace)
    assert namespace["final"] == "SUCCEEDED"
    assert namespace["result"]["energy"] == -1.137

    run_snippet("streaming", namespace)
    assert (tmp_path / "result.json").read_bytes() == gateway.file_bytes

    run_snippet("cancel_execution", namespace)
    assert gateway.requests[-1].method == "PUT"
    assert gateway.executions["exec-1"]["status"] == "CANCELLED"
