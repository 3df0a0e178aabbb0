"""Shared by the credential tests: a clock the test moves by hand."""

from __future__ import annotations


class Clock:
    """Monotonic seconds that move only when a test sets ``now``, so token lifetimes and
    refreshes never depend on real time."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
