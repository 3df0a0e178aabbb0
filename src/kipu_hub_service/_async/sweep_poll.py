"""The one poller of a sweep: every pending execution watched with one list call or per-id
status calls (the rule is ``_sweep_rules.use_list``), the pause between polls growing with
jitter while nothing changes. Docs: docs/sweeps.md ("The polling rule")."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from .._backend import AsyncGather, AsyncJob
from .._results import BACKOFF_FACTOR
from .._sweep_items import WAITING, Item
from .._sweep_rules import jittered, longest_pause, use_list
from ..core.api_error import NotFoundError
from .sweep_requests import AsyncSweepRequests, SweepRetry


class AsyncPoller:
    """Polls a sweep's waiting items when due (``next_poll``); a status seen is recorded on its
    item (``Item.observe``), and an execution the gateway no longer knows goes to ``gone``."""

    def __init__(
        self,
        send: AsyncSweepRequests,
        poll_interval: float,
        max_poll_interval: float,
        gather: AsyncGather,
        gone: Callable[[Item, NotFoundError], None],
    ) -> None:
        self._send = send
        self._poll_interval, self._max_poll = poll_interval, max_poll_interval
        self._gather = gather
        self._gone = gone
        self._last_list: int | None = None
        """How many executions the last list call returned (None: no list call yet)."""
        self._interval = poll_interval
        self._rng = random.Random()
        self.next_poll = 0.0
        """``time.monotonic()`` at which the next poll is due."""

    async def poll(self, items: list[Item]) -> None:
        """Poll the waiting ones among ``items`` if a poll is due."""
        waiting = [item for item in items if item.state == WAITING]
        if not waiting or time.monotonic() < self.next_poll:
            return
        changed = False
        longest = self._max_poll
        if use_list(len(waiting), self._last_list):
            longest = longest_pause(len(waiting), self._last_list, self._max_poll)
            try:
                seen = await self._send.states()
            except SweepRetry:
                seen = None
            if seen is not None:
                self._last_list = len(seen)
                for item in waiting:
                    if item.id in seen:
                        changed = item.observe(seen[item.id]) or changed
                waiting = [item for item in waiting if item.id not in seen]
            else:
                waiting = []
        if waiting:
            flags: list[bool] = []
            jobs = [self._status_poller(item, flags) for item in waiting]
            await self._gather(jobs)
            changed = changed or any(flags)
        if changed:
            self._interval = self._poll_interval
        else:
            grown = self._interval * BACKOFF_FACTOR
            self._interval = min(grown, max(longest, self._poll_interval))
        self.next_poll = time.monotonic() + jittered(self._interval, self._rng)

    def _status_poller(self, item: Item, flags: list[bool]) -> AsyncJob:
        async def poll() -> None:
            id = item.id or ""
            try:
                execution = await self._send.status(id)
            except SweepRetry:
                return
            except NotFoundError as exc:
                self._gone(item, exc)
                return
            flags.append(item.observe(str(execution.status)))

        return poll
