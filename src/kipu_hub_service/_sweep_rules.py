"""The rules of sweeps, without I/O: outcomes, progress, the adaptive rate and the polling rule.

The I/O (starting, polling, collecting) is ``_async/sweep.py``; the journal is ``_journal.py``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import random
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypedDict, TypeVar

from qhub_service_gen.models import ResultResponse

from ._retry import waits_skipped
from .core.api_error import AuthenticationError, NotFoundError, PermissionDeniedError
from .core.request_options import RequestOptions

_T = TypeVar("_T")

Call = Callable[[], _T]
"""One request of the sync sweep, ready to send."""
AsyncCall = Callable[[], Awaitable[_T]]
"""One request of the async sweep, ready to send (a coroutine function)."""

SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
TIMED_OUT = "TIMED_OUT"
"""Outcome of an item whose execution had not finished when the sweep's deadline passed."""
ERROR = "ERROR"
"""Outcome of an item the sweep could not start or collect (the error is on the outcome)."""
NOT_STARTED = "NOT_STARTED"
"""Outcome of an item never started because the sweep was cancelled or timed out first."""

LIST_ENTRIES_PER_REQUEST = 50
"""The polling rule's exchange rate: reading this many entries of a list answer costs about as
much (bytes, parse time) as one status request."""
MAX_REQUEST_ATTEMPTS = 12
"""Tries in a row of one item's request (start, result, download) that fail transiently (5xx,
lost connection) before the item ends ERROR; 429 answers do not count, they slow the sweep.
The pauses between them (``retry_pause``) add up to about 31 s, so a gateway restart or a
network outage shorter than that loses nothing."""
START_STOPS_SWEEP: tuple[type[Exception], ...] = (PermissionDeniedError, NotFoundError)
"""Errors of a start that stop the whole sweep besides a 401 (``stops_sweep``): a 403 (no
access to the service) or a 404 (no service at that URL) says nothing about the input."""
FULL_DISK = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})
"""``errno`` values of a collection's write that stop the whole sweep: no room (or quota) left,
or a read-only file system. Every later file would fail the same way."""
JITTER = 0.1
"""Each pause between polls is stretched or shrunk by up to this fraction, at random."""


def fingerprint(body: Mapping[str, Any]) -> str:
    """The SHA-256 of a request body's canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(slots=True)
class Outcome:
    """What became of one item of a sweep.

    ``status`` is SUCCEEDED, FAILED or CANCELLED (the execution's final status), TIMED_OUT
    (the sweep's deadline passed first; the execution keeps running), ERROR (the sweep could
    not start or collect it: ``error`` says why) or NOT_STARTED (the sweep was cancelled or
    timed out before starting it).
    """

    index: int
    """The item's position in the sweep's inputs (0-based)."""
    status: str
    execution_id: str | None = None
    result: ResultResponse | None = field(default=None, repr=False)
    """The result envelope, fetched once when the execution finished (left out of the repr:
    a notebook showing outcomes shows what became of them, not every link)."""
    files: list[Path] = field(default_factory=list)
    """The result files written (sweeps with an output directory)."""
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """Whether the execution SUCCEEDED (and its files, if asked for, are on disk)."""
        return self.status == SUCCEEDED

    def row(self) -> dict[str, Any]:
        """The outcome as one flat table row (also the CLI's ``--json`` line): the outcome's
        fields, then the result envelope's own keys (``output``, ``error``...; one that clashes
        with a field gets a ``result_`` prefix)."""
        row: dict[str, Any] = {
            "index": self.index,
            "status": self.status,
            "execution_id": self.execution_id,
            "files": [str(path) for path in self.files],
            "error": None if self.error is None else f"{type(self.error).__name__}: {self.error}",
        }
        extra = self.result.additional_properties if self.result is not None else {}
        for key, value in extra.items():
            if not key.startswith("_"):
                row[f"result_{key}" if key in row else key] = value
        return row


class SweepFailedError(Exception):
    """Raised by ``SweepResults.raise_for_failures`` when any item did not succeed."""

    def __init__(self, failed: list[Outcome]) -> None:
        first = failed[0]
        super().__init__(
            f"{len(failed)} item(s) of the sweep did not succeed; first: item {first.index} "
            f"{first.status}" + (f" ({first.error})" if first.error is not None else "")
        )
        self.failed = failed


class SweepResults(list[Outcome]):
    """Every item's :class:`Outcome`, in input order."""

    def __repr__(self) -> str:
        """The counts per status, not every outcome: a sweep may have thousands."""
        counts: dict[str, int] = {}
        for outcome in self:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        shown = ", ".join(f"{count} {status}" for status, count in counts.items())
        items = "1 item" if len(self) == 1 else f"{len(self)} items"
        return f"SweepResults({items}{': ' if shown else ''}{shown})"

    @property
    def succeeded(self) -> list[Outcome]:
        """The items whose execution SUCCEEDED."""
        return [outcome for outcome in self if outcome.ok]

    @property
    def failed(self) -> list[Outcome]:
        """The items that did not succeed (failed, cancelled, timed out, errors, not started)."""
        return [outcome for outcome in self if not outcome.ok]

    def raise_for_failures(self) -> SweepResults:
        """``self`` when every item succeeded; :class:`SweepFailedError` otherwise."""
        if self.failed:
            raise SweepFailedError(self.failed)
        return self

    def table(self) -> list[dict[str, Any]]:
        """One flat dict per item (index, status, execution_id, files, error and the result
        envelope's own keys): ready for ``csv.DictWriter`` or a DataFrame."""
        return [outcome.row() for outcome in self]

    def to_pandas(self) -> Any:
        """The :meth:`table` as a ``pandas.DataFrame`` indexed by ``index``. pandas is not a
        dependency of the SDK: ImportError when it is not installed."""
        import importlib

        try:
            pandas = importlib.import_module("pandas")
        except ImportError:
            raise ImportError("to_pandas() needs pandas: pip install pandas") from None
        return pandas.DataFrame(self.table()).set_index("index")


@dataclass(slots=True)
class Progress:
    """A snapshot of a sweep, given to the ``on_progress`` callback."""

    total: int
    counts: dict[str, int]
    """Items per state: NEW, STARTING, PENDING, RUNNING, and the final outcomes."""
    started: int
    """Items with an execution (started in this run or re-attached)."""
    finished: int
    requests: int
    """Requests this sweep sent (429 answers included)."""
    rate_limited: int
    """Requests answered 429."""
    elapsed: float
    starts_per_second: float
    eta: float | None
    """Seconds until every item is finished, from the rate items finish at; None unknown."""
    retrying: int = 0
    """Items whose last request failed transiently (5xx, lost connection), to be tried again
    (``MAX_REQUEST_ATTEMPTS``): during a gateway outage, the items it holds up."""

    @property
    def failures(self) -> int:
        """Items that ended in any way but SUCCEEDED."""
        return self.finished - self.counts.get(SUCCEEDED, 0)

    def line(self) -> str:
        """One line: the counts, starts per second, ETA, failures and (if any) items retrying."""
        parts = [f"{name.lower()} {count}" for name, count in self.counts.items() if count]
        eta = "?" if self.eta is None else f"{self.eta:.0f}s"
        retrying = f" · retrying {self.retrying}" if self.retrying else ""
        return (
            f"{self.finished}/{self.total} done · "
            + ", ".join(parts)
            + f" · {self.starts_per_second:.1f} starts/s · ETA {eta} · failures {self.failures}"
            + retrying
        )


OnProgress = Callable[[Progress], object]
"""The sync sweep's progress callback."""
AsyncOnProgress = Callable[[Progress], "Awaitable[object] | object"]
"""The async sweep's progress callback: a plain function or a coroutine function."""


class SweepOptions(TypedDict, total=False):
    """The keyword options of ``service_api.sweep()`` and ``.watch()`` on either client, for
    type checkers and editors (what each does: docs/sweeps.md). ``watch()`` takes no
    ``journal``; the async client awaits an ``on_progress`` that returns an awaitable."""

    max_in_flight: int | None
    timeout: float | None
    poll_interval: float
    max_poll_interval: float
    on_progress: OnProgress | None
    journal: str | os.PathLike[str] | None
    output_dir: str | os.PathLike[str] | None
    request_options: RequestOptions | None
    concurrency: int


class RateGate:
    """The shared, adaptive request rate of the sweeps of one client (AIMD).

    Unlimited until the gateway first answers 429. A 429 (or a ``Retry-After``) halves the
    rate (from what was sent over the last second, at least ``MIN_RATE``), holds every request
    until its ``Retry-After`` has passed, and makes one cut per hold. After the hold each second
    adds ``RECOVERY`` of the rate before the cut, so the rate is back where it was cut after
    ``0.5 / RECOVERY`` seconds (10 s) without another 429. ``clock`` is ``time.monotonic``.
    Safe for the sync client's worker threads (one lock; never held across a wait).
    """

    MIN_RATE = 2.0
    """Requests per second a cut never goes below."""
    RECOVERY = 0.05
    """Additive increase per second, as a fraction of the rate before the last cut."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = math.inf
        self.increase = 0.0
        self._clock = clock
        self._next = 0.0
        self._hold_until = 0.0
        self._since = clock()
        self._sent: deque[float] = deque(maxlen=4096)
        self._lock = threading.Lock()

    def delay(self) -> float:
        """Reserve the next send: the seconds to wait before sending it."""
        with self._lock:
            now = self._clock()
            self._grow(now)
            slot = max(now, self._next, self._hold_until)
            if math.isfinite(self.rate):
                self._next = slot + 1.0 / self.rate
            self._sent.append(slot)
            return slot - now

    def limited(self, retry_after: float | None) -> None:
        """A 429 (or an answer with ``Retry-After``): cut the rate, hold until it has passed."""
        with self._lock:
            now = self._clock()
            if now < self._hold_until:
                return  # already cut for this hold
            recent = sum(1 for moment in self._sent if now - 1.0 <= moment <= now)
            before = min(self.rate, max(recent, self.MIN_RATE))
            self.rate = max(self.MIN_RATE, before / 2.0)
            self.increase = max(1.0, before * self.RECOVERY)
            self._hold_until = now + (1.0 if retry_after is None else retry_after)
            self._since = self._hold_until

    def _grow(self, now: float) -> None:
        if math.isfinite(self.rate) and now > self._since + 1.0:
            self.rate += self.increase * (now - self._since)
            self._since = now


def retry_after_seconds(headers: Mapping[str, str] | None, limit: float = 60.0) -> float | None:
    """A ``Retry-After`` header (seconds or HTTP date) in seconds, at most ``limit``."""
    if not headers:
        return None
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), limit)


def use_list(pending: int, last_list_size: int | None) -> bool:
    """The polling rule: one list call when it costs less than a status call per pending
    execution. A list of ``L`` entries costs ``1 + L / LIST_ENTRIES_PER_REQUEST`` status calls;
    before the first list its size is unknown and taken as ``pending``."""
    size = pending if last_list_size is None else last_list_size
    return pending > 1 and 1 + size / LIST_ENTRIES_PER_REQUEST < pending


def longest_pause(pending: int, last_list_size: int | None, max_poll_interval: float) -> float:
    """The longest pause between list polls: ``max_poll_interval`` scaled by what one list
    call costs per pending execution, ``(1 + L / LIST_ENTRIES_PER_REQUEST) / pending`` (at
    most 1). The cheaper a poll is per execution, the more often it may come; per-id polling
    costs one request per execution and keeps the whole ``max_poll_interval``."""
    size = pending if last_list_size is None else last_list_size
    cost = 1 + size / LIST_ENTRIES_PER_REQUEST
    return max_poll_interval * min(1.0, cost / max(pending, 1))


def stops_sweep(exc: BaseException, *, start: bool) -> bool:
    """Whether ``exc``, raised by one item's start (``start``) or collection, stops the whole
    sweep instead of ending that item ``ERROR``: it would come back for every item. Refused
    credentials (401) stop either; see ``START_STOPS_SWEEP`` and ``FULL_DISK`` for the rest."""
    if isinstance(exc, AuthenticationError):
        return True
    if start:
        return isinstance(exc, START_STOPS_SWEEP)
    return isinstance(exc, OSError) and exc.errno in FULL_DISK


def retry_pause(failures: int) -> float:
    """The pause after an item's ``failures``-th transient failure in a row: 0.1 s, doubling,
    at most 5 s (none inside ``testing.retries_without_delay()``)."""
    return 0.0 if waits_skipped() else min(0.1 * 2 ** (failures - 1), 5.0)


def collection_cutoff(now: float, next_poll: float | None, max_poll_interval: float) -> float:
    """When a round that began ``now`` stops beginning collections, once it has begun one per
    request it may have in flight (``concurrency``): when the next poll is due (``next_poll``;
    None when nothing is pending), and at the latest ``max_poll_interval`` after ``now``, so the
    outcomes collected so far are handed out. The finished executions left are collected in
    the next round, after that poll: a long collection never holds up the polls, the starts
    the polls make room for, or the outcomes."""
    cutoff = now + max_poll_interval
    return cutoff if next_poll is None else min(cutoff, next_poll)


def check_sweep_targets(on_progress: object, journal: object, output_dir: object) -> None:
    """Refuse an ``on_progress`` that cannot be called and a ``journal`` or ``output_dir``
    that is not a path, naming the option, before anything is started (not at the first
    progress report, with executions already running)."""
    if on_progress is not None and not callable(on_progress):
        raise TypeError(f"on_progress must be callable, got {type(on_progress).__name__}")
    for name, value in (("journal", journal), ("output_dir", output_dir)):
        if value is not None and not isinstance(value, str | os.PathLike):
            raise TypeError(
                f"{name} must be a path (str or os.PathLike), got {type(value).__name__}"
            )


def make_output_dir(path: Path | None, fresh: Sequence[int]) -> None:
    """Create the sweep's ``output_dir`` (and its parents) before anything is started: a path
    that is a file, or cannot be created, is then an ``OSError`` with no execution paid for,
    not every item's ``ERROR`` once its execution has finished.

    ``fresh``: the numbers ``n`` of the items that will get new executions with no journal to
    say which files are theirs (a sweep without one, on its first run); an ``output_dir/<n>/``
    of theirs holding anything already is another run's, and is refused (``FileExistsError``)
    rather than fought over item by item.
    """
    if path is None:
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(
            errno.ENOTDIR, "output_dir is not a directory", str(path)
        ) from None
    held = next((str(n) for n in fresh if _holds_anything(path / str(n))), None)
    if held is not None:
        raise FileExistsError(
            errno.EEXIST,
            "already holds files of another run, which the new executions of a sweep without "
            "a journal would not replace: pass the journal that run used to resume it, or "
            "choose an empty output_dir",
            str(path / held),
        )


def _holds_anything(directory: Path) -> bool:
    """Whether ``directory`` exists and has an entry (a file that is not a directory counts)."""
    try:
        with os.scandir(directory) as entries:
            return next(entries, None) is not None
    except FileNotFoundError:
        return False
    except NotADirectoryError:
        return True


def jittered(interval: float, rng: random.Random) -> float:
    """``interval`` stretched or shrunk by up to ``JITTER``."""
    return interval * (1.0 + rng.uniform(-JITTER, JITTER))


def check_sweep_args(
    timeout: float | None,
    poll_interval: float,
    max_poll_interval: float,
    max_in_flight: int | None,
    concurrency: int,
) -> None:
    """Refuse arguments a sweep cannot work with, with a clear message."""
    for name, value in (("poll_interval", poll_interval), ("max_poll_interval", max_poll_interval)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValueError(f"{name} must be a number of seconds > 0, got {value!r}")
    if max_poll_interval < poll_interval:
        raise ValueError("max_poll_interval must be >= poll_interval")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0
    ):
        raise ValueError(f"timeout must be a number of seconds >= 0 or None, got {timeout!r}")
    if max_in_flight is not None and (
        isinstance(max_in_flight, bool) or not isinstance(max_in_flight, int) or max_in_flight < 1
    ):
        raise ValueError(
            f"max_in_flight must be a whole number >= 1 or None, got {max_in_flight!r}"
        )
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a whole number >= 1, got {concurrency!r}")
