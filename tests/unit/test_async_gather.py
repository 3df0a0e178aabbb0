"""The async client's ``gather`` (``AsyncBackend.gather``): at most ``limit`` jobs at once; the
first failure cancels the running ones, no job still waiting for its turn begins, and the
failure is raised once all have stopped."""

from __future__ import annotations

import asyncio

import pytest

from kipu_hub_service._backend import AsyncBackend, AsyncJob


def test_a_failure_stops_the_jobs_not_begun_even_when_it_fails_at_once() -> None:
    begun: list[int] = []

    def job(n: int) -> AsyncJob:
        async def run() -> None:
            begun.append(n)
            raise ValueError(f"job {n} refused")  # before any await: no turn is given up

        return run

    with pytest.raises(ValueError, match="job 0 refused"):
        asyncio.run(AsyncBackend.gather([job(n) for n in range(50)], limit=1))
    assert begun == [0]


def test_at_most_limit_at_once_and_running_ones_are_cancelled_by_a_failure() -> None:
    running = most = 0
    cancelled: list[int] = []

    def job(n: int) -> AsyncJob:
        async def run() -> None:
            nonlocal running, most
            running += 1
            most = max(most, running)
            try:
                if n == 5:
                    await asyncio.sleep(0.01)
                    raise ValueError("five")
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cancelled.append(n)
                raise
            finally:
                running -= 1

        return run

    with pytest.raises(ValueError, match="five"):
        asyncio.run(AsyncBackend.gather([job(n) for n in range(20)], limit=8))
    assert most == 8
    assert sorted(cancelled) == [0, 1, 2, 3, 4, 6, 7]  # the others in flight; none began later
    assert running == 0


def test_jobs_begin_in_order_on_at_most_limit_tasks() -> None:
    """A batch bigger than ``limit`` makes ``limit`` tasks, not one per job (a sweep's round
    of 256 starts at 16 at once would hold 256 tasks, 240 of them waiting)."""
    begun: list[int] = []
    tasks_seen: list[int] = []

    def job(n: int) -> AsyncJob:
        async def run() -> None:
            begun.append(n)
            tasks_seen.append(len(asyncio.all_tasks()))
            await asyncio.sleep(0)

        return run

    async def main() -> None:
        await AsyncBackend.gather([job(n) for n in range(100)], limit=4)

    asyncio.run(main())
    assert begun == list(range(100))
    assert max(tasks_seen) == 5  # the four workers and the task that gathers
