"""The reference's Python snippets, indented again (the published text lost its indentation),
shared by tests/client/test_reference_snippets.py (in memory, and checked line for line against
the reference) and tests/e2e/test_e2e_client.py (over loopback against the mock gateway)."""

from __future__ import annotations

from typing import Any

QUICKSTART_BASE = "https://gateway.hub.kipu-quantum.com/acme/vqe/v1"

SNIPPETS: dict[str, str] = {
    "quickstart": """\
from qhub.api.service import HubServiceClient
service = HubServiceClient(
    base_url="https://gateway.hub.kipu-quantum.com/acme/vqe/v1",
    token="YOUR_GATEWAY_TOKEN",
)
execution = service.service_api.start_execution(
    request={"input": {"molecule": "H2"}},
)
for entry in service.service_api.get_logs(execution.id) or []:
    print(entry.timestamp, entry.severity, entry.message)
""",
    "get_service_executions": """\
executions = service.service_api.get_service_executions()
for execution in executions:
    print(execution.id, execution.status)
""",
    "start_execution": """\
execution = service.service_api.start_execution(
    request={
        "input": {"molecule": "H2", "basis": "sto-3g"},
        "tags": ["demo"],
    },
)
print(execution.id, execution.status)
""",
    "get_status": """\
execution = service.service_api.get_status(execution_id)
print(execution.status)
""",
    "get_result": """\
result = service.service_api.get_result(execution_id)
if result.embedded and result.embedded.status:
    print(result.embedded.status.status)
""",
    "get_result_file": """\
with open("result.bin", "wb") as out:
    for chunk in service.service_api.get_result_file(execution_id, "result.bin"):
        out.write(chunk)
""",
    "get_logs": """\
for entry in service.service_api.get_logs(execution_id) or []:
    print(entry.timestamp, entry.severity, entry.message)
""",
    "cancel_execution": """\
service.service_api.cancel_execution(execution_id)
""",
    "polling": """\
import time
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}
def wait(execution_id: str, poll_interval: float = 2.0) -> str:
    while True:
        status = service.service_api.get_status(execution_id).status
        if status in TERMINAL:
            return status
        time.sleep(poll_interval)
final = wait(execution.id)
if final == "SUCCEEDED":
    result = service.service_api.get_result(execution.id)
""",
    "streaming": """\
with open("result.json", "wb") as out:
    for chunk in service.service_api.get_result_file(execution.id, "result.json"):
        out.write(chunk)
""",
}


def run_snippet(name: str, namespace: dict[str, Any]) -> dict[str, Any]:
    exec(compile(SNIPPETS[name], f"<reference:{name}>", "exec"), namespace)
    return namespace
