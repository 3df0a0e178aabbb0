"""Planted links never make a download write outside the directory it was given: hard links at
the temp file or its record are replaced, never written through; symbolic links in the directory
of ``download_all_result_files`` that lead outside it are refused. Sync, httpx-async and
aiohttp-async, over loopback against the mock gateway."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from _download_support import BACKENDS, TOKEN, call

from kipu_hub_service import HubServiceClient
from kipu_hub_service.mock import MockGateway, Timing
from kipu_hub_service.mock.files import iter_result_bin

SIZE = 50_000
VICTIM = b"precious data that must never change\n" * 10


@pytest.fixture(scope="module")
def gateway() -> Iterator[MockGateway]:
    with MockGateway(base_path="/acme/vqe/v1", timing=Timing(pending=0.0, running=0.0)) as running:
        yield running


Ready = tuple[str, Path]
"""A succeeded execution's id and an empty download directory."""


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def ready(gateway: MockGateway, tmp_path: Path) -> Ready:
    return finished(gateway), download_dir(tmp_path)


def finished(gateway: MockGateway) -> str:
    """The id of a succeeded execution whose ``result.bin`` has ``SIZE`` bytes."""
    with HubServiceClient(base_url=gateway.url, token=TOKEN) as client:
        execution = client.service_api.start_execution(request={"input": {"result_size": SIZE}})
        done = client.service_api.wait_for_completion(execution.id, timeout=30)
    assert done.status == "SUCCEEDED"
    return str(execution.id)


def expected(execution_id: str) -> bytes:
    return b"".join(iter_result_bin(execution_id, SIZE))


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file outside the download directory, with another name than anything downloaded."""
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_bytes(VICTIM)
    return victim


def download_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "downloads"
    directory.mkdir()
    return directory


def plant_record(
    backend: str, gateway: MockGateway, execution_id: str, target: Path, total: int | None
) -> None:
    """Leave the record of a partial download of ``result.bin`` to ``target`` (no file there):
    the URL hash comes from a record the SDK wrote for a finished download."""
    call(backend, gateway.url, "download_result_file", execution_id, "result.bin", target,
         overwrite=False)  # fmt: skip
    record_path = target.with_name(f".{target.name}.part.json")
    key = json.loads(record_path.read_text())["url"]
    target.unlink()
    record_path.write_text(json.dumps({"url": key, "etag": None, "total": total}))


@pytest.mark.parametrize("planted", [".result.bin.part", ".result.bin.part.json"])
def test_hard_link_at_a_temp_name_is_replaced_not_written(
    gateway: MockGateway, victim: Path, ready: Ready, backend: str, planted: str
) -> None:
    execution_id, directory = ready
    os.link(victim, directory / planted)
    target = directory / "result.bin"
    call(backend, gateway.url, "download_result_file", execution_id, "result.bin", target)
    assert target.read_bytes() == expected(execution_id)
    assert victim.read_bytes() == VICTIM
    assert victim.stat().st_nlink == 1  # the planted link was replaced, not kept
    assert sorted(p.name for p in directory.iterdir()) == ["result.bin"]


def test_hard_link_with_a_matching_record_is_not_resumed(
    gateway: MockGateway, victim: Path, ready: Ready, backend: str
) -> None:
    execution_id, directory = ready
    target = directory / "result.bin"
    # A record this download would accept, as an attacker who knows the URL writes it.
    plant_record(backend, gateway, execution_id, target, None)
    os.link(victim, directory / ".result.bin.part")
    call(backend, gateway.url, "download_result_file", execution_id, "result.bin", target)
    assert target.read_bytes() == expected(execution_id)
    assert victim.read_bytes() == VICTIM
    assert victim.stat().st_nlink == 1


def test_own_partial_file_is_still_resumed(
    gateway: MockGateway, ready: Ready, backend: str
) -> None:
    """The link checks keep resuming a partial file this SDK wrote (one link, matching record)."""
    execution_id, directory = ready
    target = directory / "result.bin"
    plant_record(backend, gateway, execution_id, target, SIZE)
    body = expected(execution_id)
    # A marker the server never sends: kept only when the partial file is resumed.
    (directory / ".result.bin.part").write_bytes(b"\xff" * 1000)
    call(backend, gateway.url, "download_result_file", execution_id, "result.bin", target)
    assert target.read_bytes() == b"\xff" * 1000 + body[1000:]


@pytest.mark.parametrize("dangling", [False, True])
def test_symlink_leading_outside_the_directory_is_refused(
    gateway: MockGateway, victim: Path, ready: Ready, backend: str, dangling: bool
) -> None:
    execution_id, directory = ready
    pointee = victim.with_name("not-yet.bin") if dangling else victim
    (directory / "result.bin").symlink_to(pointee)
    with pytest.raises(OSError, match="leads outside the download directory") as caught:
        call(backend, gateway.url, "download_all_result_files", execution_id, directory)
    assert caught.value.filename == str(directory / "result.bin")
    assert victim.read_bytes() == VICTIM
    assert sorted(p.name for p in victim.parent.iterdir()) == ["victim.txt"]
    assert sorted(p.name for p in directory.iterdir()) == ["result.bin"]  # nothing downloaded


def test_symlink_staying_inside_the_directory_is_followed(
    gateway: MockGateway, ready: Ready, backend: str
) -> None:
    execution_id, directory = ready
    (directory / "kept").mkdir()
    (directory / "result.bin").symlink_to(Path("kept") / "data.bin")
    call(backend, gateway.url, "download_all_result_files", execution_id, directory)
    assert (directory / "result.bin").is_symlink()
    assert (directory / "kept" / "data.bin").read_bytes() == expected(execution_id)


def test_explicit_path_still_follows_the_users_symlink(
    gateway: MockGateway, victim: Path, ready: Ready, backend: str
) -> None:
    execution_id, directory = ready
    link = directory / "mine.bin"
    link.symlink_to(victim)
    call(backend, gateway.url, "download_result_file", execution_id, "result.bin", link)
    assert link.is_symlink()
    assert victim.read_bytes() == expected(execution_id)
