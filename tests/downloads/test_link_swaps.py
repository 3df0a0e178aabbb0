"""Links swapped in while a download runs never redirect it (issue #20): the download's directory
is opened once and every later step goes through that descriptor without following a link.

Each test swaps a symbolic link in at a name the download writes (the file, its temp file, its
record, or the directory itself) from the server's thread, after half of the body was sent, so
the download has started and checked everything it checks up front. The call must fail with an
``OSError`` naming what was swapped, and nothing outside the directory may change. Sync,
httpx-async and aiohttp-async clients, against a scripted loopback gateway.
"""

from __future__ import annotations

import asyncio
import errno
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _download_support import BACKENDS, EXECUTION, TOKEN, HalvesGateway, backend_env, call

from kipu_hub_service import AsyncHubServiceClient

BODY = bytes(range(256)) * 800  # 204,800 bytes: the swap lands mid-body
SMALL = b'{"energy": -1.137}'
VICTIM = b"precious data that must never change\n" * 10
WRITTEN = ["result.bin", ".result.bin.part", ".result.bin.part.json"]
"""Every name a download of ``result.bin`` writes in its directory."""


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def gateway() -> Iterator[HalvesGateway]:
    with HalvesGateway({"result.bin": BODY, "result.json": SMALL}) as running:
        yield running
    assert running.hook_errors == []


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory beside the download directory, holding one file that must stay as it is."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "victim.txt").write_bytes(VICTIM)
    return folder


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


def assert_untouched(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]
    assert (outside / "victim.txt").read_bytes() == VICTIM


def fds_on(directory: Path) -> list[str]:
    """Descriptors of this process open on ``directory`` (or on a file in it)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            where = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if where == str(directory) or where.startswith(f"{directory}/"):
            found.append(where)
    return found


def once_written(part: Path, action: Callable[[], None]) -> Callable[[str], None]:
    """A hook that waits until the client has written its first bytes to ``part`` (so the
    download is past its start, record included), then runs ``action``."""

    def hook(_: str) -> None:
        deadline = time.monotonic() + 30  # a "finishes at all" guard, never a measurement
        while not (part.exists() and part.stat().st_size > 0):
            assert time.monotonic() < deadline, f"the client never wrote to {part}"
            time.sleep(0.01)
        action()

    return hook


def swap_in_link(path: Path, pointee: Path, part: Path | None = None) -> Callable[[str], None]:
    """A hook that replaces whatever is at ``path`` by a symbolic link to ``pointee``, once the
    client has written to ``part`` (default: the temp file next to ``path``'s file)."""

    def swap() -> None:  # atomic, as an attacker would do it: the name never goes missing
        planted = path.with_name(path.name + ".planted")
        planted.symlink_to(pointee)
        planted.replace(path)

    return once_written(part or path.parent / ".result.bin.part", swap)


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("dangling", [False, True], ids=["existing", "dangling"])
@pytest.mark.parametrize("name", WRITTEN)
def test_download_all_refuses_a_link_swapped_in_at_a_written_name(
    gateway: HalvesGateway,
    directory: Path,
    outside: Path,
    backend: str,
    name: str,
    dangling: bool,
    overwrite: bool,
) -> None:
    pointee = outside / ("new.bin" if dangling else "victim.txt")
    gateway.hooks["result.bin"] = swap_in_link(directory / name, pointee)
    with pytest.raises(OSError) as caught:
        call(backend, gateway.url, "download_all_result_files", EXECUTION, directory,
             overwrite=overwrite)  # fmt: skip
    assert caught.value.filename == str(directory / name)
    assert caught.value.errno in (errno.ELOOP, errno.ESTALE)
    assert "result.bin" not in gateway.hooks  # the swap happened
    assert_untouched(outside)
    assert (directory / name).is_symlink()  # left as planted, never followed
    assert fds_on(directory) == []


@pytest.mark.parametrize("method", ["download_all_result_files", "download_result_file"])
def test_directory_swapped_for_a_link_redirects_nothing(
    gateway: HalvesGateway,
    directory: Path,
    outside: Path,
    backend: str,
    tmp_path: Path,
    method: str,
) -> None:
    moved = tmp_path / "moved"

    def swap() -> None:
        directory.rename(moved)
        directory.symlink_to(outside, target_is_directory=True)

    gateway.hooks["result.bin"] = once_written(directory / ".result.bin.part", swap)
    args = (
        (directory,)
        if method == "download_all_result_files"
        else ("result.bin", directory / "result.bin")
    )
    with pytest.raises(OSError, match="download directory was replaced") as caught:
        call(backend, gateway.url, method, EXECUTION, *args)
    assert caught.value.errno == errno.ESTALE
    assert caught.value.filename == str(directory)
    assert_untouched(outside)
    # The bytes went into the directory that was opened (now moved), never through the link
    # (the async client may cancel this file's download when another file fails first).
    part = (moved / ".result.bin.part").read_bytes()
    assert part and BODY.startswith(part)
    assert not (moved / "result.bin").exists()
    assert fds_on(moved) == []


def test_link_inside_the_directory_is_followed_but_its_directory_cannot_be_swapped(
    gateway: HalvesGateway, directory: Path, outside: Path, backend: str
) -> None:
    """A link that stays inside the directory is followed (documented), through descriptors:
    a directory on its way replaced by a link to the outside mid-download redirects nothing."""
    kept = directory / "kept"
    kept.mkdir()
    (directory / "result.bin").symlink_to(Path("kept") / "data.bin")

    def swap() -> None:
        kept.rename(directory / "kept.moved")
        kept.symlink_to(outside, target_is_directory=True)

    gateway.hooks["result.bin"] = once_written(kept / ".data.bin.part", swap)
    with pytest.raises(OSError, match="download directory was replaced") as caught:
        call(backend, gateway.url, "download_all_result_files", EXECUTION, directory)
    assert caught.value.filename == str(kept)
    assert_untouched(outside)
    part = (directory / "kept.moved" / ".data.bin.part").read_bytes()
    assert part and BODY.startswith(part)
    assert fds_on(directory) == []


def test_download_all_refuses_a_directory_that_is_a_link(
    gateway: HalvesGateway, directory: Path, backend: str, tmp_path: Path
) -> None:
    link = tmp_path / "link-to-downloads"
    link.symlink_to(directory, target_is_directory=True)
    with pytest.raises(OSError, match="download directory is a symbolic link") as caught:
        call(backend, gateway.url, "download_all_result_files", EXECUTION, link)
    assert caught.value.errno == errno.ELOOP
    assert caught.value.filename == str(link)
    assert list(directory.iterdir()) == []
    assert gateway.file_requests == []


def test_download_all_without_swaps_still_writes_every_file_and_closes_the_directory(
    gateway: HalvesGateway, directory: Path, backend: str
) -> None:
    paths = call(backend, gateway.url, "download_all_result_files", EXECUTION, directory)
    assert paths == [directory / "result.bin", directory / "result.json"]
    assert (directory / "result.bin").read_bytes() == BODY
    assert (directory / "result.json").read_bytes() == SMALL
    assert fds_on(directory) == []


@pytest.mark.parametrize("name", ["result.bin", ".result.bin.part"])
def test_download_result_file_refuses_a_link_swapped_in_at_a_written_name(
    gateway: HalvesGateway, directory: Path, outside: Path, backend: str, name: str
) -> None:
    gateway.hooks["result.bin"] = swap_in_link(directory / name, outside / "victim.txt")
    target = directory / "result.bin"
    with pytest.raises(OSError) as caught:
        call(backend, gateway.url, "download_result_file", EXECUTION, "result.bin", target)
    assert caught.value.filename == str(directory / name)
    assert_untouched(outside)
    assert fds_on(directory) == []


def test_users_link_is_followed_but_a_link_swapped_at_its_pointee_is_not(
    gateway: HalvesGateway, directory: Path, outside: Path, backend: str, tmp_path: Path
) -> None:
    """``download_result_file`` follows a link the caller named (documented) and pins the
    directory of the file it points to; a link swapped in there later is refused."""
    mine = tmp_path / "mine"
    mine.mkdir()
    link = directory / "result.bin"
    link.symlink_to(mine / "data.bin")
    swap = swap_in_link(mine / "data.bin", outside / "victim.txt", mine / ".data.bin.part")
    gateway.hooks["result.bin"] = swap
    with pytest.raises(OSError) as caught:
        call(backend, gateway.url, "download_result_file", EXECUTION, "result.bin", link)
    assert caught.value.filename == str(mine / "data.bin")
    assert_untouched(outside)


def test_existing_file_swapped_for_a_link_during_its_comparison_is_refused(
    gateway: HalvesGateway, directory: Path, outside: Path, backend: str
) -> None:
    """``overwrite=False`` compares a file already there with the server's body; a link
    swapped in for it meanwhile is neither vouched for nor read."""
    target = directory / "result.bin"
    target.write_bytes(BODY)
    gateway.hooks["result.bin"] = swap_in_link(target, outside / "victim.txt", target)
    with pytest.raises(OSError) as caught:
        call(backend, gateway.url, "download_result_file", EXECUTION, "result.bin", target,
             overwrite=False)  # fmt: skip
    assert caught.value.errno == errno.ELOOP  # not a comparison with what the link points to
    assert caught.value.filename == str(target)
    assert_untouched(outside)
    assert not (directory / ".result.bin.part.json").exists()  # nothing vouched for


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_cancelled_download_all_closes_its_directory(directory: Path, transport: str) -> None:
    """A download cancelled mid-body (async client) leaves no descriptor open on the directory."""
    reached, release = asyncio.Event(), threading.Event()

    async def run(gateway: HalvesGateway) -> None:
        loop = asyncio.get_running_loop()

        def hold(_: str) -> None:  # the server's thread: wait until the test has cancelled
            loop.call_soon_threadsafe(reached.set)
            assert release.wait(timeout=30)

        gateway.hooks["result.bin"] = hold
        async with AsyncHubServiceClient(base_url=gateway.url, token=TOKEN) as client:
            task = asyncio.ensure_future(
                client.service_api.download_all_result_files(EXECUTION, directory)
            )
            await asyncio.wait_for(reached.wait(), timeout=30)
            assert fds_on(directory) != []  # the directory is open while it downloads
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            release.set()
        assert fds_on(directory) == []

    with HalvesGateway({"result.bin": BODY}) as gateway, backend_env(transport):
        asyncio.run(run(gateway))
    assert gateway.hook_errors == []
