"""Shared by the credential tests: a clock the test moves by hand, and callers in threads."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Clock:
    """Monotonic seconds that move only when a test sets ``now``, so token lifetimes and
    refreshes never depend on real time."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Callers:
    """``count`` threads, each calling ``work`` once; what they raise is kept in ``errors``."""

    def __init__(self, count: int, work: Callable[[], object]) -> None:
        self.errors: list[BaseException] = []
        self._started = threading.Semaphore(0)

        def call() -> None:
            self._started.release()
            try:
                work()
            except BaseException as exc:
                self.errors.append(exc)

        self.threads = [threading.Thread(target=call) for _ in range(count)]
        for thread in self.threads:
            thread.start()

    def wait_started(self) -> None:
        """Return once every thread is about to call ``work``."""
        for _ in self.threads:
            assert self._started.acquire(timeout=10)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(30)
