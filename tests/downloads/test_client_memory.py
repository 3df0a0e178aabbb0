"""Streaming a large result file keeps the client's memory flat (traced allocations, not time)."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Iterator

import pytest

from kipu_hub_service import AsyncHubServiceClient, HubServiceClient
from kipu_hub_service.mock import Timing
from kipu_hub_service.testing import running_mock_gateway

SIZE = 256 * 1024 * 1024
PEAK_LIMIT = 8 * 1024 * 1024
"""Bytes of peak traced memory allowed while streaming ``SIZE`` bytes: a few chunks' worth."""
TOKEN = "memory-test-token"


@pytest.fixture(scope="module")
def finished_execution() -> Iterator[tuple[str, str]]:
    """A mock gateway and an execution whose ``result.bin`` is ``SIZE`` bytes."""
    with running_mock_gateway(timing=Timing(pending=0, running=0)) as url:
        with HubServiceClient(base_url=url, token=TOKEN) as client:
            execution = client.service_api.start_execution(request={"input": {"result_size": SIZE}})
            deadline = time.monotonic() + 30
            while client.service_api.get_status(execution.id).status != "SUCCEEDED":
                assert time.monotonic() < deadline, "mock execution did not finish"
                time.sleep(0.01)
        yield url, execution.id


def test_sync_streaming_memory_is_flat(finished_execution: tuple[str, str]) -> None:
    url, execution_id = finished_execution
    with HubServiceClient(base_url=url, token=TOKEN) as client:
        client.service_api.get_status(execution_id)
        tracemalloc.start()
        try:
            received = 0
            for chunk in client.service_api.get_result_file(execution_id, "result.bin"):
                received += len(chunk)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert received == SIZE
    assert peak < PEAK_LIMIT


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_async_streaming_memory_is_flat(
    finished_execution: tuple[str, str], transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, execution_id = finished_execution
    if transport == "httpx":
        monkeypatch.setenv("QHUB_SERVICE_NO_AIOHTTP", "1")

    async def stream() -> tuple[int, int]:
        async with AsyncHubServiceClient(base_url=url, token=TOKEN) as client:
            await client.service_api.get_status(execution_id)
            tracemalloc.start()
            try:
                received = 0
                async for chunk in client.service_api.get_result_file(execution_id, "result.bin"):
                    received += len(chunk)
                return received, tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

    received, peak = asyncio.run(asyncio.wait_for(stream(), 120))
    assert received == SIZE
    assert peak < PEAK_LIMIT
