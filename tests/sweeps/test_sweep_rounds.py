"""A long collection does not hold up the sweep's polls or outcomes (both clients, real mock).

Each result file is held by the transport for ``HELD`` seconds, as a distant gateway or a big
file would; the collections of one round then take several times the poll interval.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from _sweep_support import TOKEN, async_forwarding, forwarding, request_kind, sweep

from kipu_hub_service import HubServiceClient
from kipu_hub_service.mock import MockGateway, Timing
from kipu_hub_service.testing import sdk_transport

KINDS = ["sync", "async"]
HELD = 0.2
"""Seconds each result-file request is held."""


def held_files(kind: str, url: str, sent: list[str]) -> httpx.MockTransport:
    """A transport to the mock at ``url`` that records each request's kind in ``sent`` and
    holds each result-file request ``HELD`` seconds."""

    def hold(request: httpx.Request) -> None:
        sent.append(request_kind(request))
        if sent[-1] == "file":
            time.sleep(HELD)

    async def async_hold(request: httpx.Request) -> None:
        sent.append(request_kind(request))
        if sent[-1] == "file":
            await asyncio.sleep(HELD)

    return forwarding(url, hold) if kind == "sync" else async_forwarding(url, async_hold)


def started(gateway: MockGateway, count: int, *, wait: bool) -> list[str]:
    """Ids of ``count`` new executions, waited for to the end when ``wait``."""
    with HubServiceClient(base_url=gateway.url, token=TOKEN) as client:
        api = client.service_api
        body = {"input": {"result_size": 16}}
        ids = [api.start_execution(request=body).id for _ in range(count)]
        for id in ids if wait else []:
            api.wait_for_completion(id, poll_interval=0.05)
    return ids


@pytest.mark.parametrize("kind", KINDS)
def test_a_due_poll_is_sent_before_the_next_collection_begins(kind: str, tmp_path: Path) -> None:
    """Two executions have ended and one still runs: the round that collects the two takes
    longer than the poll interval, so after the first collection (``concurrency=1``) it
    stops, and the poll then due goes out before the second one's files are fetched."""
    with MockGateway(tokens=[TOKEN], timing=Timing(pending=0.0, running=1.5)) as gateway:
        ids = [*started(gateway, 2, wait=True), *started(gateway, 1, wait=False)]
        sent: list[str] = []
        with sdk_transport(held_files(kind, gateway.url, sent)):
            results, _ = sweep(
                kind,
                gateway.url,
                ids=ids,
                output_dir=tmp_path,
                concurrency=1,
                poll_interval=0.1,
                max_poll_interval=30.0,
            )
    assert [outcome.status for outcome in results] == ["SUCCEEDED"] * 3
    files = [n for n, what in enumerate(sent) if what == "file"]
    assert len(files) == 6  # each file fetched once
    first, second = files[1], files[2]  # the first execution's last file, the second's first
    assert "poll" in sent[first:second]


@pytest.mark.parametrize("kind", KINDS)
def test_outcomes_are_handed_out_while_a_long_collection_goes_on(kind: str, tmp_path: Path) -> None:
    """Eight executions have ended and none is pending, so no poll is due: a round still stops
    beginning collections ``max_poll_interval`` after it began (once ``concurrency`` have
    begun), so the first outcome does not wait for all sixteen files."""
    with MockGateway(tokens=[TOKEN], timing=Timing(pending=0.0, running=0.0)) as gateway:
        ids = started(gateway, 8, wait=True)
        sent: list[str] = []
        files_at_first: list[int] = []

        def during(job: Any, outcome: Any) -> None:
            if not files_at_first:
                files_at_first.append(sent.count("file"))

        with sdk_transport(held_files(kind, gateway.url, sent)):
            results, seen = sweep(
                kind,
                gateway.url,
                ids=ids,
                during=during,
                output_dir=tmp_path,
                concurrency=2,
                poll_interval=0.3,
                max_poll_interval=0.3,
            )
    assert [outcome.status for outcome in results] == ["SUCCEEDED"] * 8
    assert len(seen) == 8 and sent.count("file") == 16 and sent.count("result") == 8
    # each collection holds its two files 0.4 s, so by 0.3 s at most the first two pairs
    # of collections have begun
    assert 0 < files_at_first[0] <= 8
    assert all((tmp_path / str(n) / "result.bin").stat().st_size == 16 for n in range(1, 9))
