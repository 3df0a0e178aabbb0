"""Public model types keep the documented Python names, even where the generator renames."""

from __future__ import annotations

from qhub.api.service import HalLink, ServiceExecution, ServiceExecutionType


def test_execution_type_is_reachable_as_documented() -> None:
    execution = ServiceExecution.from_dict(
        {"id": "e1", "createdAt": "2026-11-25T12:00:00Z", "status": "RUNNING", "type": "MANAGED"}
    )
    assert execution.type == ServiceExecutionType.MANAGED
    assert execution.type == "MANAGED"
    execution.type = ServiceExecutionType.WORKFLOW
    assert execution.to_dict()["type"] == "WORKFLOW"


def test_hal_link_type_is_reachable_as_documented() -> None:
    link = HalLink.from_dict({"href": "/e1/result/result.json", "type": "application/json"})
    assert link.type == "application/json"
    assert link.to_dict() == {"href": "/e1/result/result.json", "type": "application/json"}


def test_absent_type_is_falsy_and_null_type_is_none() -> None:
    absent = ServiceExecution.from_dict({"id": "e1", "createdAt": "t", "status": "PENDING"})
    assert not absent.type
    null = ServiceExecution.from_dict(
        {"id": "e1", "createdAt": "t", "status": "PENDING", "type": None}
    )
    assert null.type is None
