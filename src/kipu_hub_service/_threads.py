"""The sync client's ``gather``: jobs run at most ``limit`` at once, in worker threads beside
the calling one (``SyncBackend.gather``; the async client runs them as tasks).

A job is one request of a sweep (a start, a status poll, a collection, a cancel) and its
bookkeeping. The calling thread takes jobs too, so ``limit=1`` runs them one after the other in
it, as before, and no thread is made for a single job. Each worker runs in a copy of the
caller's context (``contextvars``), so what the caller's context holds (the testing helpers'
switches) holds in the workers too.

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
from collections.abc import Callable, Sequence

Job = Callable[[], None]


def gather_in_threads(jobs: Sequence[Job], limit: int) -> None:
    """Run ``jobs`` with at most ``limit`` at once (see the module doc)."""
    if limit <= 1 or len(jobs) <= 1:
        for job in jobs:
            job()
        return
    lock = threading.Lock()
    queue = iter(jobs)
    failures: list[BaseException] = []
    stopped = False

    def work() -> None:
        while True:
            with lock:
                job = None if stopped or failures else next(queue, None)
            if job is None:
                return
            try:
                job()
            except BaseException as exc:  # raised in the calling thread, once all have ended
                with lock:
                    failures.append(exc)
                return

    workers = [
        threading.Thread(
            target=contextvars.copy_context().run,
            args=(work,),
            name=f"kipu-hub-service-gather-{n}",
            daemon=True,
        )
        for n in range(min(limit, len(jobs)) - 1)
    ]
    for worker in workers:
        worker.start()
    try:
        work()
    finally:
        with lock:
            stopped = True
        for worker in workers:
            worker.join()
    if failures:
        raise failures[0]
