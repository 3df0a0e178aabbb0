"""The sync client's ``gather`` (``_threads.gather_in_threads``): jobs run in the calling
thread while they do not wait; once two in a row wait on the network (here: sleep), the rest
run at most ``limit`` at once in worker threads beside it. The first failure (Ctrl-C included) stops
the jobs not yet begun and is raised once the running ones have ended; the caller's context
holds in the workers. A sweep's ``Gather`` remembers a slow gateway for its next gathers."""

from __future__ import annotations

import contextvars
import threading
import time

import pytest

from kipu_hub_service._threads import TRUST_SLOW, WAIT_FOR_THREADS, Gather, gather_in_threads

WAIT = 10.0
"""Longest any test here waits for another thread (a hang fails, it does not stall)."""
SLOW = 20 * WAIT_FOR_THREADS
"""How long a job that stands for a network round trip sleeps."""


class Crowd:
    """Jobs that record how many run at once and in which threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = self.most = 0
        self.threads: set[str] = set()
        self.done: list[int] = []

    def job(self, n: int, hold: float) -> object:
        def run() -> None:
            with self.lock:
                self.running += 1
                self.most = max(self.most, self.running)
                self.threads.add(threading.current_thread().name)
            if hold:
                time.sleep(hold)  # waits, as for an answer
            with self.lock:
                self.running -= 1
                self.done.append(n)

        return run


def workers_left() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("kipu-hub-service-")]


def test_jobs_that_wait_run_at_most_limit_at_once_each_once() -> None:
    crowd = Crowd()
    gather_in_threads([crowd.job(n, SLOW) for n in range(40)], 4)  # type: ignore[misc]
    assert sorted(crowd.done) == list(range(40))
    assert crowd.done[:2] == [0, 1]  # the first two ran alone, in the calling thread
    assert crowd.most == 4
    assert threading.current_thread().name in crowd.threads
    assert len(crowd.threads) == 4
    assert workers_left() == []


def test_jobs_that_do_not_wait_run_in_order_in_the_calling_thread() -> None:
    """A gateway on the same machine: no thread is started, so none costs the GIL's hand-offs."""
    crowd = Crowd()
    gather_in_threads([crowd.job(n, 0.0) for n in range(40)], 16)  # type: ignore[misc]
    assert crowd.done == list(range(40))
    assert crowd.threads == {threading.current_thread().name}


def test_limit_one_runs_even_waiting_jobs_in_order_in_the_calling_thread() -> None:
    crowd = Crowd()
    gather_in_threads([crowd.job(n, SLOW) for n in range(5)], 1)  # type: ignore[misc]
    assert crowd.done == [0, 1, 2, 3, 4]
    assert crowd.threads == {threading.current_thread().name}


def test_one_job_held_up_does_not_start_threads() -> None:
    """A single slow job among quick ones (the machine's load, not the network) keeps every
    job in the calling thread."""
    crowd = Crowd()
    holds = [0.0] * 20
    holds[3] = holds[10] = SLOW
    gather_in_threads([crowd.job(n, hold) for n, hold in enumerate(holds)], 8)  # type: ignore[misc]
    assert crowd.done == list(range(20))
    assert crowd.threads == {threading.current_thread().name}


def test_the_first_failure_stops_the_rest_and_is_raised_after_the_running_ones() -> None:
    begun: list[int] = []
    release = threading.Event()
    ended: list[int] = []

    def job(n: int) -> object:
        def run() -> None:
            begun.append(n)
            if n < 2:
                time.sleep(SLOW)  # two waits in a row: the rest go to threads too
            elif n == 2:
                release.wait(WAIT)  # still running when job 3 fails
                ended.append(n)
            elif n == 3:
                threading.Timer(0.2, release.set).start()
                raise LookupError("job 3 failed")

        return run

    with pytest.raises(LookupError, match="job 3 failed"):
        gather_in_threads([job(n) for n in range(50)], 2)  # type: ignore[misc]
    assert ended == [2]  # raised only once the running job had ended
    assert sorted(begun) == [0, 1, 2, 3]  # nothing begun after the failure
    assert workers_left() == []


def test_a_failure_of_the_first_job_is_raised_at_once() -> None:
    begun: list[int] = []

    def job(n: int) -> object:
        def run() -> None:
            begun.append(n)
            raise LookupError(f"job {n} failed")

        return run

    with pytest.raises(LookupError, match="job 0 failed"):
        gather_in_threads([job(n) for n in range(5)], 4)  # type: ignore[misc]
    assert begun == [0]


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
            if n < 2:
                time.sleep(SLOW)
            elif threading.current_thread() is caller:
                assert in_worker.wait(WAIT)
                raise KeyboardInterrupt  # as the signal handler raises it
            else:
                in_worker.set()
                time.sleep(0.2)
                ended.append(threading.current_thread().name)

        return run

    with pytest.raises(KeyboardInterrupt):
        gather_in_threads([job(n) for n in range(20)], 2)  # type: ignore[misc]
    assert len(ended) == 1  # the worker's job ended before the interrupt came out
    assert sorted(begun) == [0, 1, 2, 3]
    assert workers_left() == []


def test_the_callers_context_holds_in_the_workers() -> None:
    switch: contextvars.ContextVar[str] = contextvars.ContextVar("switch", default="off")
    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    def run() -> None:
        time.sleep(SLOW)
        with lock:
            seen.append((threading.current_thread().name, switch.get()))

    token = switch.set("on")
    try:
        gather_in_threads([run] * 12, 3)
    finally:
        switch.reset(token)
    assert [value for _, value in seen] == ["on"] * 12
    assert len({name for name, _ in seen}) == 3  # workers too, not only the calling thread


def test_after_a_slow_gather_the_next_ones_use_workers_from_their_first_job() -> None:
    """A round against a distant gateway does not pay two round trips one after the other
    each time: once a gather has found the waits, the next ones start their workers at once."""
    gather = Gather(4)
    first = Crowd()
    gather([first.job(n, SLOW) for n in range(8)])  # type: ignore[list-item]
    assert first.done[:2] == [0, 1]  # measured, in the calling thread
    second_began = threading.Event()

    def waits_for_the_second() -> None:
        assert second_began.wait(WAIT), "job 1 began only after job 0 had ended"

    def second() -> None:
        second_began.set()

    for _ in range(TRUST_SLOW):
        second_began.clear()
        gather([waits_for_the_second, second, second])
    assert TRUST_SLOW >= 4
    assert workers_left() == []


def test_a_gateway_that_got_fast_is_measured_again_and_keeps_jobs_in_the_calling_thread() -> None:
    gather = Gather(4)
    gather([Crowd().job(n, SLOW) for n in range(4)])  # type: ignore[list-item]
    trusted = Crowd()
    for _ in range(TRUST_SLOW):
        gather([trusted.job(n, 0.0) for n in range(6)])  # type: ignore[list-item]
    assert trusted.threads - {threading.current_thread().name}  # workers, without measuring
    for _ in range(3):
        fast = Crowd()
        gather([fast.job(n, 0.0) for n in range(6)])  # type: ignore[list-item]
        assert fast.done == list(range(6))
        assert fast.threads == {threading.current_thread().name}


def test_gathers_of_one_job_do_not_use_up_what_was_learnt() -> None:
    """A round with one poll or one start sends it from the calling thread; the next round
    of many still starts its workers at once."""
    gather = Gather(4)
    gather([Crowd().job(n, SLOW) for n in range(4)])  # type: ignore[list-item]
    alone = Crowd()
    for _ in range(3 * TRUST_SLOW):
        gather([alone.job(0, 0.0)])  # type: ignore[list-item]
    assert alone.threads == {threading.current_thread().name}
    many = Crowd()
    gather([many.job(n, 0.0) for n in range(6)])  # type: ignore[list-item]
    assert many.threads - {threading.current_thread().name}
