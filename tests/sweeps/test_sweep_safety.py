"""What a sweep must never do: write outside the directory it was given, or keep a secret."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from _sweep_support import TOKEN, inputs, sweep

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
    # the output directory is made before the first start; the names are checked before
    # anything is created in it
    assert written == ["out"]


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


def _outside(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "result.json").write_bytes(b"keep")
    return outside


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_link_planted_for_an_item_directory_is_refused(kind: str, tmp_path: Path) -> None:
    """``DIR/1`` is a link to a directory outside: item 1 ends ERROR, item 2 is saved, and
    nothing outside is written."""
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "1").symlink_to(outside, target_is_directory=True)
    with MockGateway(tokens=[TOKEN], timing=Timing(pending=0, running=0)) as gateway:
        results, _ = sweep(kind, gateway.url, inputs(2), output_dir=out)
    assert results[0].status == "ERROR" and isinstance(results[0].error, OSError)
    assert results[1].ok and sorted(p.name for p in (out / "2").iterdir()) == [
        "result.bin",
        "result.json",
    ]
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("name", ["result.json", ".result.json.part", ".result.json.part.json"])
def test_a_link_planted_at_a_name_in_an_item_directory_is_refused(
    kind: str, name: str, tmp_path: Path
) -> None:
    """A link from ``DIR/1/<name>`` (the file, its temp file or its record) to a file outside:
    with a journal (which lets a sweep resume into its item directories) the item ends ERROR
    when it is collected; without one the sweep refuses ``DIR/1`` before the first start. The
    file outside keeps its bytes either way."""
    outside = _outside(tmp_path)
    out = tmp_path / "out"
    (out / "1").mkdir(parents=True)
    (out / "1" / name).symlink_to(outside / "result.json")
    with MockGateway(tokens=[TOKEN], timing=Timing(pending=0, running=0)) as gateway:
        with pytest.raises(FileExistsError, match="another run"):
            sweep(kind, gateway.url, inputs(1), output_dir=out)
        assert gateway.stats()["executions_created"] == 0
        journal = tmp_path / "sweep.sqlite"
        results, _ = sweep(kind, gateway.url, inputs(1), output_dir=out, journal=journal)
    assert results[0].status == "ERROR" and isinstance(results[0].error, OSError)
    assert (outside / "result.json").read_bytes() == b"keep"
    assert sorted(p.name for p in outside.iterdir()) == ["result.json"]


@pytest.mark.parametrize("suffix", ["", "-wal", "-journal"])
def test_a_link_planted_at_the_journal_is_refused(suffix: str, tmp_path: Path) -> None:
    """SQLite follows links: one at the journal or next to it would move its writes outside."""
    from kipu_hub_service.sweeps import JournalError

    outside = _outside(tmp_path)
    journal = tmp_path / "out" / "sweep.sqlite"
    journal.parent.mkdir()
    Path(f"{journal}{suffix}").symlink_to(outside / "result.json")
    with (
        MockGateway(tokens=[TOKEN], timing=Timing(pending=0, running=0)) as gateway,
        pytest.raises(JournalError, match="symbolic link"),
    ):
        sweep("sync", gateway.url, inputs(1), journal=journal)
    assert (outside / "result.json").read_bytes() == b"keep"
    assert sorted(p.name for p in outside.iterdir()) == ["result.json"]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_sweep_leaves_only_the_result_files(kind: str, tmp_path: Path) -> None:
    """No temp file or record stays next to the files: the journal says which are done."""
    out = tmp_path / "out"
    with MockGateway(tokens=[TOKEN], timing=Timing(pending=0, running=0)) as gateway:
        results, _ = sweep(kind, gateway.url, inputs(3), output_dir=out, journal=tmp_path / "j")
    assert all(outcome.ok for outcome in results)
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    assert written == [
        f"{n}{name}" for n in (1, 2, 3) for name in ("", "/result.bin", "/result.json")
    ]
