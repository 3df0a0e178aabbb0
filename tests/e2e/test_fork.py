"""Fork safety: a client used before ``os.fork()`` never shares a connection with the child.

Parent and child each poll their own execution many times through one client whose keep-alive
pool was warm before the fork; every answer must be the caller's own execution. Before the fix
both processes wrote to and read from the same pooled sockets and read each other's answers.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator

import pytest

from kipu_hub_service import AsyncHubServiceClient, HubServiceClient
from kipu_hub_service._backend import AIOHTTP_OPT_OUT_ENV
from kipu_hub_service.testing import running_mock_gateway

CALLS = 150
"""get_status calls per process after the fork."""
CHILD_WAIT = 60.0
"""Seconds the parent waits for the child at most (then kills it)."""


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    with running_mock_gateway() as url:
        yield url


def _start_two(base_url: str) -> tuple[str, str]:
    with HubServiceClient(base_url=base_url, token="t") as client:
        first = client.service_api.start_execution(request={"input": {"who": "parent"}})
        second = client.service_api.start_execution(request={"input": {"who": "child"}})
    return first.id, second.id


def _fork(child: Callable[[], int]) -> int:
    """Fork; the child runs ``child`` and exits with its code (never returns there)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads running
        pid = os.fork()
    if pid == 0:
        code = 3
        try:
            code = child()
        finally:
            os._exit(code)
    return pid


def _wait_child(pid: int) -> int:
    """The child's exit code; it is killed when it has not finished within ``CHILD_WAIT``."""
    end = time.monotonic() + CHILD_WAIT
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return -1


def _mismatches(ids: list[str], own: str) -> int:
    return sum(1 for got in ids if got != own)


def test_sync_client_used_across_fork_keeps_each_process_answers(gateway: str) -> None:
    mine, theirs = _start_two(gateway)
    with HubServiceClient(base_url=gateway, token="t", timeout=10) as client:
        for _ in range(5):  # keep-alive connection warm in the pool
            assert client.service_api.get_status(mine).id == mine
        parent_client = client.httpx_client

        def child() -> int:
            try:
                ids = [client.service_api.get_status(theirs).id for _ in range(CALLS)]
            except Exception:
                return 2
            if client.httpx_client is parent_client:
                return 4
            return 0 if _mismatches(ids, theirs) == 0 else 1

        pid = _fork(child)
        ids = [client.service_api.get_status(mine).id for _ in range(CALLS)]
        assert _wait_child(pid) == 0
        assert _mismatches(ids, mine) == 0
        assert client.httpx_client is parent_client


@pytest.mark.parametrize("aiohttp", [True, False], ids=["aiohttp", "httpx"])
def test_async_client_used_across_fork_keeps_each_process_answers(
    gateway: str, aiohttp: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not aiohttp:
        monkeypatch.setenv(AIOHTTP_OPT_OUT_ENV, "1")
    mine, theirs = _start_two(gateway)

    async def main() -> None:
        async with AsyncHubServiceClient(base_url=gateway, token="t", timeout=10) as client:
            for _ in range(5):
                assert (await client.service_api.get_status(mine)).id == mine
            parent_client = client.httpx_client

            async def child_calls() -> list[str]:
                try:
                    return [(await client.service_api.get_status(theirs)).id for _ in range(CALLS)]
                finally:
                    await client.aclose()

            def child() -> int:
                # The parent's loop was running when it forked: the child runs its own loop
                # in a new thread (Python 3.11 keeps the parent's running loop in this one).
                outcome: list[int] = []

                def run() -> None:
                    try:
                        ids = asyncio.run(child_calls())
                    except Exception:
                        outcome.append(2)
                        return
                    outcome.append(0 if _mismatches(ids, theirs) == 0 else 1)

                worker = threading.Thread(target=run)
                worker.start()
                worker.join(CHILD_WAIT)
                return outcome[0] if outcome else 5

            pid = _fork(child)
            ids = [(await client.service_api.get_status(mine)).id for _ in range(CALLS)]
            code = await asyncio.to_thread(_wait_child, pid)
            assert code == 0
            assert _mismatches(ids, mine) == 0
            assert client.httpx_client is parent_client

    asyncio.run(main())


def test_injected_client_is_kept_after_fork(gateway: str) -> None:
    """An injected client is the user's: the SDK never replaces it (the docs say to create
    it in the child instead)."""
    import httpx

    with (
        httpx.Client() as http,
        HubServiceClient(base_url=gateway, token="t", httpx_client=http) as client,
    ):
        mine, _ = _start_two(gateway)
        client.service_api.get_status(mine)

        def child() -> int:
            return 0 if client.httpx_client is http else 1

        assert _wait_child(_fork(child)) == 0
