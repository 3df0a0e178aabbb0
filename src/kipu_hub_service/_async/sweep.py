"""Sweeps: many executions as one job, watched by one loop (``client.service_api.sweep``).

One loop does everything, in rounds: poll every pending execution with one list call or per-id
status calls (the rule is ``_sweep_rules.use_list``), start what may be started (the
Idempotency-Keys journalled first), fetch each finished execution's result once and download its
files until the next poll is due (``_sweep_rules.collection_cutoff``), and hand out outcomes.
Every request passes the client's shared :class:`RateGate` (a 429 slows the whole sweep), with
``max_retries=0``: the sweep retries them itself, through the gate. Docs: docs/sweeps.md.
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from qhub_service_gen.models import ResultResponse

from .._backend import AsyncBackend, AsyncGather, AsyncJob
from .._folder import Folder, InFolder
from .._journal import Entry, Journal
from .._results import plan_files
from .._sweep_items import (
    DONE,
    FINISHED,
    NEW,
    STARTING,
    WAITING,
    Item,
    check_body,
    check_id,
    check_many,
    progress_of,
)
from .._sweep_rules import (
    ERROR,
    MAX_REQUEST_ATTEMPTS,
    NOT_STARTED,
    SUCCEEDED,
    TIMED_OUT,
    AsyncOnProgress,
    Outcome,
    Progress,
    SweepResults,
    check_sweep_args,
    check_sweep_targets,
    collection_cutoff,
    make_output_dir,
    stops_sweep,
)
from ..core.api_error import ConflictError, NotFoundError
from ..core.request_options import RequestOptions
from .sweep_poll import AsyncPoller
from .sweep_requests import AsyncSweepRequests, SweepRetry

_BATCH = 256
"""Starts, and collections of finished items, per round at most: between rounds the sweep
polls when due, hands out the outcomes it has and reports progress, so executions that all end
together do not hold up the first outcome, the next starts or the polls."""


class AsyncSweep:
    """Many executions as one job; made by ``client.service_api.sweep`` or ``.watch``.

    Drive it with ``async for outcome in sweep.as_completed()`` or ``await sweep.results()``;
    stop it with ``await sweep.cancel()``. The arguments are described on ``sweep``.
    """

    def __init__(
        self,
        api: Any,  # the client's AsyncServiceApi (not imported: it imports this module)
        requests: Sequence[Mapping[str, Any]] | None = None,
        ids: Sequence[str] | None = None,
        *,
        max_in_flight: int | None = None,
        timeout: float | None = None,
        poll_interval: float = 0.5,
        max_poll_interval: float = 2.0,
        on_progress: AsyncOnProgress | None = None,
        journal: str | os.PathLike[str] | None = None,
        output_dir: str | os.PathLike[str] | None = None,
        request_options: RequestOptions | None = None,
        concurrency: int = 16,
    ) -> None:
        check_sweep_args(timeout, poll_interval, max_poll_interval, max_in_flight, concurrency)
        check_sweep_targets(on_progress, journal, output_dir)
        if requests is not None:
            listed = check_many(requests, "requests", "request bodies")
            bodies = [check_body(i, request) for i, request in enumerate(listed)]
            self._items = [Item(i, body) for i, body in enumerate(bodies)]
        else:
            if journal is not None:
                raise ValueError("watch() takes no journal: a journal records a sweep's inputs")
            ids = check_many([] if ids is None else ids, "ids", "execution ids")
            self._items = [Item(i, None, check_id(i, id)) for i, id in enumerate(ids)]
        self._max_in_flight = max_in_flight
        self._timeout = timeout
        self._max_poll = max_poll_interval
        self._on_progress = on_progress
        self._journal_path = None if journal is None else Path(journal)
        self._output = None if output_dir is None else Path(output_dir)
        self._send = AsyncSweepRequests(api, request_options)
        self._concurrency = concurrency
        self._gather = AsyncGather(concurrency)
        self._journal: Journal | None = None
        self._queue: deque[Item] = deque()
        self._order: list[Outcome] = []
        self._outcomes: dict[int, Outcome] = {}
        self._ready: list[Outcome] = []
        self._cancelling = self._running = self._done = False
        self._poller = AsyncPoller(
            self._send, poll_interval, max_poll_interval, self._gather, self._gone
        )
        self._starts = 0
        self._began = self._cutoff = 0.0
        self._begun = itertools.count()

    # The public surface.

    async def results(self) -> SweepResults:
        """Run the sweep to the end; every item's :class:`Outcome`, in input order.
        Failures do not raise: call ``.raise_for_failures()`` on what is returned."""
        async for _ in self.as_completed():
            pass
        return SweepResults(self._outcomes[item.index] for item in self._items)

    async def as_completed(self) -> AsyncIterator[Outcome]:
        """Run the sweep; yield each item's :class:`Outcome` (``.index`` is its input position)
        as soon as it is final. Once the sweep has ended it yields the outcomes again."""
        if self._done:
            for outcome in list(self._order):
                yield outcome
            return
        if self._running:
            raise RuntimeError("this sweep is already running")
        self._running = True
        self._began = time.monotonic()
        end = None if self._timeout is None else self._began + self._timeout
        try:
            self._open()
            for outcome in self._drain():  # the ones the journal says are complete
                yield outcome
            while len(self._outcomes) < len(self._items):
                if end is not None and time.monotonic() >= end:
                    self._expire()
                else:
                    await self._round()
                for outcome in self._drain():
                    yield outcome
                await self._progress()
                await self._pause(end)
            self._done = True
        finally:
            self._running = False
            if self._journal is not None:
                self._journal.close()
                self._journal = None

    async def cancel(self) -> None:
        """Cancel the whole sweep: nothing more is started, and every execution that is still
        pending or running is asked to cancel (its outcome is then CANCELLED, or what it
        ended with first). Callable while the sweep runs or after it was interrupted."""
        self._cancelling = True
        await self._cancel_round()

    def progress(self) -> Progress:
        """A snapshot of the sweep now."""
        return progress_of(
            self._items,
            self._outcomes,
            self._began,
            self._send.sent,
            self._send.limited,
            self._starts,
        )

    # The loop.

    def _open(self) -> None:
        """Output directory made; journal (if any) opened and checked; items restored; the start
        queue. Run again after an interruption, a start in flight is queued again (its key)."""
        fresh = [] if self._journal_path else [i.index + 1 for i in self._items if i.id is None]
        make_output_dir(self._output, fresh)
        self._queue.clear()
        for item in self._items:
            if item.state == STARTING:
                item.state = NEW
        entries: dict[int, Entry] = {}
        if self._journal_path is not None and self._items and self._items[0].body is not None:
            self._journal = Journal(self._journal_path)
            entries = self._journal.entries()
            self._journal.check(entries, ((item.index, item.fp or "") for item in self._items))
        for item in self._items:
            entry = entries.get(item.index)
            if entry is not None and item.index not in self._outcomes:
                self._restore(item, entry)
            if item.state == NEW and item.index not in self._outcomes:
                self._queue.append(item)

    def _restore(self, item: Item, entry: Entry) -> None:
        item.key, item.id = entry.key, entry.execution_id
        if item.id is not None:
            item.state = WAITING
        if entry.status is not None:
            item.state, item.status = FINISHED, entry.status
            item.result = None if entry.result is None else ResultResponse.from_dict(entry.result)
            item.done_files = frozenset(entry.files or [])
            files = [self._item_dir(item) / name for name in entry.files or []]
            if entry.collected and all(path.exists() for path in files):
                self._finish(item, entry.status, files=files)

    async def _round(self) -> None:
        if self._cancelling:
            await self._cancel_round()
        await self._poller.poll(self._items)
        await self._start_some()  # after the poll: the slots it freed are filled at once
        now = time.monotonic()
        finished = [item for item in self._items if item.state == FINISHED and item.wake <= now]
        waiting = any(item.state == WAITING for item in self._items)
        due = self._poller.next_poll if waiting else None
        self._cutoff = collection_cutoff(now, due, self._max_poll)
        self._begun = itertools.count()  # next() is atomic: the sync client's threads share it
        batch = finished[:_BATCH]
        await self._gather([self._collector(item) for item in batch])

    async def _pause(self, end: float | None) -> None:
        if self._ready or len(self._outcomes) == len(self._items):
            return
        now = time.monotonic()
        until = self._poller.next_poll
        if not any(item.state == WAITING for item in self._items):
            until = now + self._max_poll
        for item in self._items:
            if item.state == FINISHED:
                until = min(until, item.wake)
        if self._queue and not self._cancelling and self._room() > 0:
            until = min(until, self._queue[0].wake)
        if end is not None:
            until = min(until, end)
        if until > now:
            await AsyncBackend.sleep(until - now)

    def _drain(self) -> list[Outcome]:
        ready, self._ready = self._ready, []
        return ready

    async def _progress(self) -> None:
        if self._on_progress is not None:
            await AsyncBackend.maybe_await(self._on_progress(self.progress()))

    def _expire(self) -> None:
        for item in self._items:
            if item.index not in self._outcomes:
                self._finish(item, NOT_STARTED if item.id is None else TIMED_OUT)

    def _finish(
        self,
        item: Item,
        status: str,
        *,
        files: list[Path] | None = None,
        error: BaseException | None = None,
    ) -> None:
        item.state = DONE
        outcome = Outcome(item.index, status, item.id, item.result, files or [], error)
        self._outcomes[item.index] = outcome
        self._order.append(outcome)
        self._ready.append(outcome)

    def _gone(self, item: Item, exc: NotFoundError) -> None:
        self._finish(item, ERROR, error=exc)

    def _room(self) -> int:
        if self._max_in_flight is None:
            return _BATCH
        busy = sum(1 for item in self._items if item.state in (STARTING, WAITING))
        return self._max_in_flight - busy

    async def _start_some(self) -> None:
        if self._cancelling:
            while self._queue:
                self._finish(self._queue.popleft(), NOT_STARTED)
            return
        batch: list[Item] = []
        room = min(self._room(), _BATCH)
        now = time.monotonic()
        while self._queue and len(batch) < room and self._queue[0].wake <= now:
            batch.append(self._queue.popleft())
        if not batch:
            return
        fresh = [item for item in batch if item.key is None]
        for item in fresh:
            item.key = str(uuid.uuid4())
        if self._journal is not None:
            self._journal.reserve([(item.index, item.fp or "", item.key or "") for item in fresh])
        for item in batch:
            item.state = STARTING
        await self._gather([self._starter(item) for item in batch])
        started = [(item.index, item.id) for item in batch if item.id is not None]
        self._starts += len(started)  # counted here, not in the jobs: they may be threads
        if self._journal is not None:
            self._journal.started([(index, id) for index, id in started if id is not None])

    def _starter(self, item: Item) -> AsyncJob:
        async def start() -> None:
            try:
                execution = await self._send.start(item.body or {}, item.key or "")
            except SweepRetry as exc:
                self._again(item, exc)
                return
            except Exception as exc:  # the gateway refused this input: its outcome, not all's
                item.state = NEW
                if stops_sweep(exc, start=True):
                    raise  # not this input's fault: every start would get it
                self._finish(item, ERROR, error=exc)
                return
            item.id, item.state, item.attempts = execution.id, WAITING, 0
            item.observe(str(execution.status))

        return start

    def _again(self, item: Item, exc: SweepRetry) -> None:
        """Put a start back in the queue, unless it failed transiently too often."""
        item.state = NEW
        if item.backoff(exc.rate_limited) >= MAX_REQUEST_ATTEMPTS:
            self._finish(item, ERROR, error=exc.__cause__)
        else:
            self._queue.append(item)

    def _collector(self, item: Item) -> AsyncJob:
        async def collect() -> None:
            if next(self._begun) >= self._concurrency and time.monotonic() >= self._cutoff:
                return  # a poll is due, or outcomes wait: collected next round
            try:
                files = await self._collect(item)
            except SweepRetry as exc:
                if item.backoff(exc.rate_limited) >= MAX_REQUEST_ATTEMPTS:
                    self._finish(item, ERROR, error=exc.__cause__)
                return
            except Exception as exc:  # a result that cannot be fetched or saved: this item's
                if stops_sweep(exc, start=False):
                    raise  # refused credentials, a full disk: every item's would fail
                self._finish(item, ERROR, error=exc)
                return
            if self._journal is not None:
                self._journal.collected(item.index, [path.name for path in files])
            self._finish(item, item.status or ERROR, files=files)

        return collect

    async def _collect(self, item: Item) -> list[Path]:
        """The result envelope (fetched once) and, with an output directory, the files."""
        id = item.id or ""
        if item.result is None:
            try:
                item.result = await self._send.result(id)
            except NotFoundError:
                if item.status == SUCCEEDED:
                    raise
            if self._journal is not None:
                result = None if item.result is None else item.result.to_dict()
                self._journal.finished(item.index, item.status or ERROR, result)
        if self._output is None or item.status != SUCCEEDED or item.result is None:
            return []
        directory = self._item_dir(item)
        plan = plan_files(item.result, directory)
        with Folder.open(directory, follows=False) as folder:  # each file through one descriptor
            for name, path in plan:
                if name not in item.done_files or not path.is_file():
                    await self._send.download(id, name, InFolder(folder, name))
        return [path for _, path in plan]

    def _item_dir(self, item: Item) -> Path:
        return (self._output or Path()) / str(item.index + 1)

    async def _cancel_round(self) -> None:
        targets = [item for item in self._items if item.id is not None and not item.cancel_sent]
        targets = [item for item in targets if item.state == WAITING]

        def job(item: Item) -> AsyncJob:
            async def cancel() -> None:
                id = item.id or ""
                try:
                    await self._send.cancel(id)
                except (ConflictError, NotFoundError):
                    pass  # it already ended: the next poll says how
                except SweepRetry:
                    return
                item.cancel_sent = True

            return cancel

        await self._gather([job(item) for item in targets])
