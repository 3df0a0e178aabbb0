"""The JSON of every execution, rendered once per status change rather than once per request.

An execution's JSON is a pure function of the clock that changes only at a few known
moments (when it starts running, when it ends, when it is cancelled). :class:`RenderedCache`
keeps each one's bytes with the moment they go stale, in a heap, so a request re-renders
only the executions whose moment has passed since the last request. The list answer is the
kept bytes joined, and is itself kept until anything changes. So a list of 10,000
executions costs a join in C, not 10,000 renderings in Python, and a status read costs a
dictionary look-up.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["RenderedCache"]

T = TypeVar("T")


class RenderedCache(Generic[T]):
    """Rendered bytes of items keyed by id, oldest first; not thread-safe (lock around it).

    ``render(item, now)`` makes an item's bytes; ``next_change(item, now)`` is the first
    moment after ``now`` at which they differ (``math.inf``: never). Moments are on the
    caller's clock; a clock that goes back re-renders everything.
    """

    def __init__(
        self, render: Callable[[T, float], bytes], next_change: Callable[[T, float], float]
    ) -> None:
        self._render = render
        self._next_change = next_change
        self._items: dict[str, T] = {}
        self._bodies: dict[str, bytes] = {}
        self._due: list[tuple[float, int, str]] = []
        self._order = itertools.count()
        self._listing: bytes | None = None
        self._as_of = -math.inf
        #: Items rendered so far (a test can see that a request rendered nothing).
        self.renders = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, key: str, item: T, now: float) -> bytes:
        """Add an item, or render it afresh after it changed other than by the clock."""
        self._refresh(now)
        self._items[key] = item
        return self._update(key, now)

    def get(self, key: str, now: float) -> bytes:
        """The item's bytes as of ``now``."""
        self._refresh(now)
        return self._bodies[key]

    def listing(self, now: float) -> bytes:
        """A JSON array of every item's bytes as of ``now``, newest first."""
        self._refresh(now)
        if self._listing is None:
            self._listing = b"[" + b",".join(reversed(self._bodies.values())) + b"]"
        return self._listing

    def _update(self, key: str, now: float) -> bytes:
        item = self._items[key]
        body = self._render(item, now)
        self.renders += 1
        self._bodies[key] = body
        self._listing = None
        moment = self._next_change(item, now)
        if moment != math.inf:
            heapq.heappush(self._due, (moment, next(self._order), key))
        return body

    def _refresh(self, now: float) -> None:
        if now < self._as_of:  # the clock went back: every kept body may be wrong
            self._due.clear()
            for key in self._items:
                self._update(key, now)
        due = self._due
        while due and due[0][0] <= now:
            _, _, key = heapq.heappop(due)
            self._update(key, now)
        self._as_of = now
