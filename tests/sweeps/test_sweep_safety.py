"""What a sweep must never do: write outside the directory it was given, or keep a secret."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from _sweep_support import TOKEN, sweep

from kipu_hub_service import UnsafeResultFileNameError
from kipu_hub_service.mock import MockGateway, Timing
from kipu_hub_service.testing import sdk_transport

BASE = "https://gateway.test/acme/vqe/v1"
DONE: dict[str, Any] = {"id": "exec-1", "createdAt": "2026-11-25T12:00:00Z", "status": "SUCCEEDED"}


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_result_file_name_that_climbs_out_is_refused(kind: str, tmp_path: Path) -> None:
    """A hostile gateway links a result file named ``../escape``: that item ends ERROR with
    ``UnsafeResultFileNameError`` and nothing is written outside the output directory."""
    links = {"status": {"href": f"{BASE}/exec-1"}, "../escape": {"href": f"{BASE}/x"}}

    def gateway(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(201, json=DONE)
        if request.url.path.endswith("/result"):
            return httpx.Response(200, json={"_links": links, "_embedded": {"status": DONE}})
        return httpx.Response(200, content=b"planted")

    out = tmp_path / "out"
    with sdk_transport(httpx.MockTransport(gateway)):
        results, _ = sweep(kind, BASE, [{"input": {}}], output_dir=out)
    assert results[0].status == "ERROR"
    assert isinstance(results[0].error, UnsafeResultFileNameError)
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert written == []  # the names are checked before anything is created


def test_secrets_in_request_bodies_never_reach_the_journal(tmp_path: Path) -> None:
    journal = tmp_path / "sweep.sqlite"
    body = {"input": {"n": 1, "result_size": 4}, "$secrets": {"API_KEY": "s3cr3t-value-42"}}
    with MockGateway(tokens=[TOKEN], timing=Timing(pending=0, running=0)) as gateway:
        results, _ = sweep("sync", gateway.url, [body], journal=journal)
    assert results[0].ok
    stored = b"".join(path.read_bytes() for path in tmp_path.iterdir() if path.is_file())
    assert b"s3cr3t-value-42" not in stored
    assert json.dumps(results.table()).find("s3cr3t") == -1


def test_watch_takes_no_journal(tmp_path: Path) -> None:
    from kipu_hub_service import HubServiceClient

    with (
        HubServiceClient(base_url=BASE, token=TOKEN) as client,
        pytest.raises(ValueError, match="takes no journal"),
    ):
        client.service_api.watch(["exec-1"], journal=tmp_path / "j.sqlite")
