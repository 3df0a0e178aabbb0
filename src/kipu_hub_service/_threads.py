"""The sync client's ``gather``: jobs run at most ``limit`` at once, in worker threads beside
the calling one when they wait on the network (``SyncBackend.gather``; the async client runs
them as tasks).

A job is one request of a sweep (a start, a status poll, a collection, a cancel) and its
bookkeeping. The calling thread runs jobs itself, one after the other, until two in a row
have each waited longer than ``WAIT_FOR_THREADS`` (a job's wait: its wall time less its own CPU
time). A gateway on the same machine answers about as fast as the client works (a start waits
about 0.3 ms, a collection of a result and two files about 1 ms), and threads would only add
the cost of passing the GIL between them; a round trip across a network waits longer, and
then up to ``limit - 1`` worker threads join in for the jobs left (two in a row, so that one
job held up by the machine's load does not decide it). Each worker runs in a copy of the
caller's context (``contextvars``), so what the caller's context holds (the testing helpers'
switches) holds in the workers too.

A sweep gathers once or more per round, through one ``Gather``, which remembers the verdict:
after a gather whose jobs waited on the network, the next ``TRUST_SLOW`` gathers of that sweep
hand their jobs to workers from the first job on, instead of paying two round trips one after
the other each time; the one after them measures again (a gateway can get faster, and threads
cost CPU against a fast one).

The first failure stops handing out jobs; it is raised in the calling thread once the running
jobs have ended. Ctrl-C (``KeyboardInterrupt``) reaches the calling thread only; it stops the
job that thread was running and, like a failure, every job not yet begun, and is raised once
the jobs running in the workers have ended (each is one request, bounded by its timeouts). A
second Ctrl-C while they end is raised at once; the workers are daemon threads, so they never
keep the process alive.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Sequence

Job = Callable[[], None]
"""One of the sync client's ``gather`` jobs."""

WAIT_FOR_THREADS = 0.002
"""Two jobs in a row of the calling thread that each waited longer than this (2 ms) hand the
jobs left to worker threads as well."""


TRUST_SLOW = 8
"""Gathers of a sweep that use worker threads at once after one found the gateway slow."""


class Gather:
    """A sweep's ``gather`` at its concurrency (``limit``), with the gateway's pace learnt
    from its earlier gathers (see the module doc). The count is kept without a lock: two
    gathers at once (a ``cancel()`` from another thread) may both spend one, which is only
    one more gather started in threads."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._trusted = 0
        """Gathers left that start worker threads at once."""

    def __call__(self, jobs: Sequence[Job]) -> None:
        """Run ``jobs`` with at most ``limit`` at once."""
        at_once = self._trusted > 0 and len(jobs) > 1
        if at_once:
            self._trusted -= 1
        if gather_in_threads(jobs, self.limit, at_once=at_once) and not at_once:
            self._trusted = TRUST_SLOW  # this gather found the gateway slow


def gather_in_threads(jobs: Sequence[Job], limit: int, *, at_once: bool = False) -> bool:
    """Run ``jobs`` with at most ``limit`` at once (see the module doc); with ``at_once``,
    in worker threads from the first job on. Returns whether the jobs went to worker threads
    (at once, or because two in a row waited on the network)."""
    lock = threading.Lock()
    taken = 0
    failures: list[BaseException] = []
    stopped = False
    workers: list[threading.Thread] = []

    def take() -> Job | None:
        nonlocal taken
        with lock:
            if stopped or failures or taken >= len(jobs):
                return None
            taken += 1
            return jobs[taken - 1]

    def run(job: Job) -> bool:
        """Run ``job``; False when it failed (the failure is kept)."""
        try:
            job()
        except BaseException as exc:  # raised in the calling thread, once all have ended
            with lock:
                failures.append(exc)
            return False
        return True

    def work() -> None:
        while (job := take()) is not None and run(job):
            pass

    def spread() -> None:
        with lock:
            left = len(jobs) - taken
        for n in range(min(limit - 1, left - 1)):  # the calling thread takes one too
            worker = threading.Thread(
                target=contextvars.copy_context().run,
                args=(work,),
                name=f"kipu-hub-service-gather-{n}",
                daemon=True,
            )
            worker.start()
            workers.append(worker)

    slow = 0  # jobs in a row that waited longer than WAIT_FOR_THREADS
    threaded = at_once and limit > 1  # the jobs left go to worker threads too
    try:
        if threaded:
            spread()
            work()
        while (job := take()) is not None:
            wall, cpu = time.perf_counter(), time.thread_time()
            if not run(job):
                break
            waited = time.perf_counter() - wall - (time.thread_time() - cpu)
            slow = slow + 1 if waited > WAIT_FOR_THREADS else 0
            if slow >= 2 and limit > 1:
                threaded = True
                spread()
                work()
                break
    finally:
        with lock:
            stopped = True
        for worker in workers:
            worker.join()
    if failures:
        raise failures[0]
    return threaded
