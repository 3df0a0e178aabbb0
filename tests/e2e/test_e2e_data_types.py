"""A result from the mock gateway, over loopback, as a notebook user sees it (the models' pure
behaviour is in tests/unit/test_data_types.py)."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest
from _client_support import TOKEN

from kipu_hub_service import HubServiceClient, ResultResponse, ServiceExecution
from kipu_hub_service.mock import Timing
from kipu_hub_service.testing import running_mock_gateway


@pytest.fixture(scope="module")
def mock_result() -> Iterator[tuple[ServiceExecution, ResultResponse]]:
    with (
        running_mock_gateway(timing=Timing(pending=0, running=0)) as url,
        HubServiceClient(base_url=url, token=TOKEN) as client,
    ):
        api = client.service_api
        started = api.start_execution(request={"input": {"molecule": "H2"}, "tags": ["demo"]})
        done = api.wait_for_completion(started.id, timeout=30, poll_interval=0.01)
        yield done, api.get_result(started.id)


def test_mock_gateway_result_as_a_mapping(
    mock_result: tuple[ServiceExecution, ResultResponse],
) -> None:
    execution, result = mock_result
    assert execution.status == "SUCCEEDED" and execution.is_terminal
    assert list(result) == ["output"]
    assert result.data == {"output": {"input": {"molecule": "H2"}}}
    assert result.get("output") == {"input": {"molecule": "H2"}}
    assert result.files == ["result.json", "result.bin"]
    assert result.status == execution
    assert result.status is not None and result.status.created is not None
    assert result.status.duration is not None and result.status.duration >= datetime.timedelta(0)
