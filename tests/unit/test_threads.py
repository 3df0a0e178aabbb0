"""The sync client's ``gather`` (``_threads.gather_in_threads``): at most ``limit`` jobs at
once, in worker threads beside the calling one; the first failure (Ctrl-C included) stops the
jobs not yet begun and is raised once the running ones have ended; the caller's context holds
in the workers."""

from __future__ import annotations

import contextvars
import threading
import time

import pytest

from kipu_hub_service._threads import gather_in_threads

WAIT = 10.0
"""Longest any test here waits for another thread (a hang fails, it does not stall)."""


class Crowd:
    """Jobs that record how many run at once and in which threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = self.most = 0
        self.threads: set[str] = set()
        self.done: list[int] = []

    def job(self, n: int, hold: float = 0.02) -> object:
        def run() -> None:
            with self.lock:
                self.running += 1
                self.most = max(self.most, self.running)
                self.threads.add(threading.current_thread().name)
            time.sleep(hold)  # long enough for the others to start
            with self.lock:
                self.running -= 1
                self.done.append(n)

        return run


def test_at_most_limit_jobs_run_at_once_and_every_job_runs_once() -> None:
    crowd = Crowd()
    gather_in_threads([crowd.job(n) for n in range(40)], 4)  # type: ignore[misc]
    assert sorted(crowd.done) == list(range(40))
    assert crowd.most == 4
    assert threading.current_thread().name in crowd.threads  # the caller takes jobs too
    assert len(crowd.threads) == 4
    assert not [t for t in threading.enumerate() if t.name.startswith("kipu-hub-service-")]


def test_limit_one_runs_the_jobs_in_order_in_the_calling_thread() -> None:
    crowd = Crowd()
    gather_in_threads([crowd.job(n, 0.0) for n in range(5)], 1)  # type: ignore[misc]
    assert crowd.done == [0, 1, 2, 3, 4]
    assert crowd.threads == {threading.current_thread().name}


def test_the_first_failure_stops_the_rest_and_is_raised_after_the_running_ones() -> None:
    started: list[int] = []
    release = threading.Event()
    ended: list[int] = []

    def job(n: int) -> object:
        def run() -> None:
            started.append(n)
            if n == 0:
                release.wait(WAIT)  # still running when job 1 fails
                ended.append(n)
            elif n == 1:
                threading.Timer(0.2, release.set).start()
                raise LookupError("job 1 failed")

        return run

    with pytest.raises(LookupError, match="job 1 failed"):
        gather_in_threads([job(n) for n in range(50)], 2)  # type: ignore[misc]
    assert ended == [0]  # raised only once the running job had ended
    assert sorted(started) == [0, 1]  # nothing begun after the failure


def test_ctrl_c_in_the_calling_thread_waits_for_the_workers_then_is_raised() -> None:
    """Ctrl-C reaches the calling thread only: the job it ran stops, nothing new begins, and
    the KeyboardInterrupt comes out once the workers' jobs (one request each) have ended."""
    caller = threading.current_thread()
    in_worker = threading.Event()
    ended: list[str] = []
    begun: list[int] = []

    def job(n: int) -> object:
        def run() -> None:
            begun.append(n)
            if threading.current_thread() is caller:
                assert in_worker.wait(WAIT)
                raise KeyboardInterrupt  # as the signal handler raises it
            in_worker.set()
            time.sleep(0.2)
            ended.append(threading.current_thread().name)

        return run

    with pytest.raises(KeyboardInterrupt):
        gather_in_threads([job(n) for n in range(20)], 2)  # type: ignore[misc]
    assert len(ended) == 1  # the worker's job ended before the interrupt came out
    assert sorted(begun) == [0, 1]


def test_the_callers_context_holds_in_the_workers() -> None:
    switch: contextvars.ContextVar[str] = contextvars.ContextVar("switch", default="off")
    seen: list[str] = []
    lock = threading.Lock()

    def run() -> None:
        time.sleep(0.01)
        with lock:
            seen.append(switch.get())

    token = switch.set("on")
    try:
        gather_in_threads([run] * 12, 3)
    finally:
        switch.reset(token)
    assert seen == ["on"] * 12
