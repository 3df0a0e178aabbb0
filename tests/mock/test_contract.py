"""Contract test: schemathesis against the live mock gateway over loopback.

All phases (examples, coverage, fuzzing, stateful through the spec's links), positive
and negative data, every check. Deterministic: fixed seed, one worker, no example
database, a fresh gateway whose clock advances one tick per request (so lifecycle
states depend on the order of requests, never on wall time), bounded by the example
count and a timeout rather than by --max-time.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _oracle_support import run_schemathesis
from qhub.api.service.mock import MockGateway, Timing

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "openapi" / "hub-service.yaml"
TOKEN = "contract-token"
BASE_PATH = "/context/service/v1"

# Result files have fixed names the spec cannot know: most getResultFile cases use them,
# the rest keep generated names (404). 416 is the documented answer to a valid Range
# beyond the end of a file, so positive data may get it.
CONFIG = """
[dictionaries.result-files]
values = ["result.json", "result.bin"]

[[operations]]
include-operation-id = "getResultFile"
parameters = { "path.file" = { dictionary = "result-files", probability = 0.8 } }

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "416", "429", "5xx"]
"""


@pytest.mark.timeout(300)
def test_mock_gateway_honours_the_openapi_contract(tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    started: list[MockGateway] = []

    def clock() -> float:
        return float(started[0].app.requests_seen) if started else 0.0

    # PENDING for one request after creation, RUNNING for three more, then terminal.
    with MockGateway(
        base_path=BASE_PATH, tokens=[TOKEN], timing=Timing(pending=1, running=3), clock=clock
    ) as gateway:
        started.append(gateway)
        result = run_schemathesis(
            SPEC,
            gateway.url,
            TOKEN,
            config,
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--checks",
            "all",
            "--mode",
            "all",
            "--seed",
            "20261125",
            "--max-examples",
            "100",
        )
        stats = gateway.stats()
    report = result.stdout[-15000:] + result.stderr[-3000:]
    assert result.returncode == 0, report
    assert "No issues found" in result.stdout, report
    assert "7 selected / 7 total" in result.stdout, report
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in result.stdout, report
    # The run reached every operation, and the stateful phase followed links to real executions.
    assert set(stats["requests"]) == {
        "getServiceExecutions",
        "startExecution",
        "getStatus",
        "getResult",
        "getResultFile",
        "getLogs",
        "cancelExecution",
    }
    assert stats["executions_created"] > 0
