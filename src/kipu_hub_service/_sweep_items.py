"""The items of a sweep and the progress they add up to, without I/O."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from qhub_service_gen.models import ResultResponse

from ._requests import check_segment
from ._results import is_terminal
from ._sweep_rules import Outcome, Progress, fingerprint, retry_pause

NEW, STARTING, WAITING, FINISHED, DONE = "NEW", "STARTING", "WAITING", "FINISHED", "DONE"
"""An item's states: to start; start in flight; started, not known to be finished; finished,
its result not collected yet; its outcome is final."""


class Item:
    """One input of a sweep and where it stands."""

    __slots__ = (
        "attempts",
        "body",
        "cancel_sent",
        "done_files",
        "fp",
        "id",
        "index",
        "key",
        "result",
        "state",
        "status",
        "wake",
    )

    def __init__(self, index: int, body: dict[str, Any] | None, id: str | None = None) -> None:
        self.index, self.body, self.id = index, body, id
        self.fp = None if body is None else fingerprint(body)
        self.key: str | None = None
        self.state = NEW if id is None else WAITING
        self.status: str | None = None
        self.result: ResultResponse | None = None
        self.attempts = 0
        """Transient failures in a row of this item's requests (a success starts again at 0)."""
        self.cancel_sent = False
        self.done_files: frozenset[str] = frozenset()
        """Result files the journal says were complete (kept when still on disk)."""
        self.wake = 0.0
        """No request for this item before this ``time.monotonic()`` (after a failure)."""

    def observe(self, status: str) -> bool:
        """Record a status seen (a terminal one while waiting makes the item FINISHED);
        whether it changed."""
        changed = status != self.status
        self.status = status
        if self.state == WAITING and is_terminal(status):
            self.state = FINISHED
        return changed

    def backoff(self, rate_limited: bool) -> int:
        """Count a transient failure (a 429 is not counted: the gate slows for it); set
        ``wake`` (``retry_pause``); the failures in a row so far."""
        if not rate_limited:
            self.attempts += 1
            self.wake = time.monotonic() + retry_pause(self.attempts)
        return self.attempts


RATE_WINDOW = 1.0
"""Seconds a rate (starts per second, the finishing rate behind the ETA) is taken over at least."""


def progress_of(
    items: list[Item],
    outcomes: Mapping[int, Outcome],
    began: float,
    requests: int,
    limited: int,
    starts: int,
) -> Progress:
    """The :class:`Progress` of a sweep's items. Rates are taken over ``RATE_WINDOW`` at
    least, so the first rounds do not show thousands of starts a second."""
    counts: dict[str, int] = {}
    for item in items:
        outcome = outcomes.get(item.index)
        name = outcome.status if outcome is not None else item.status or item.state
        counts[name] = counts.get(name, 0) + 1
    elapsed = max(time.monotonic() - began, 1e-9) if began else 0.0
    window = max(elapsed, RATE_WINDOW) if began else 0.0
    finished, total = len(outcomes), len(items)
    rate = finished / window if window else 0.0
    return Progress(
        total=total,
        counts=counts,
        started=sum(1 for item in items if item.id is not None),
        finished=finished,
        requests=requests,
        rate_limited=limited,
        elapsed=elapsed,
        starts_per_second=starts / window if window else 0.0,
        eta=(total - finished) / rate if rate else None,
        retrying=sum(1 for item in items if item.attempts and item.index not in outcomes),
    )


def check_many(values: object, name: str, what: str) -> list[Any]:
    """``values`` as a list, when it is a collection of ``what``; one mapping, one string or
    anything not iterable is a ``TypeError`` (iterating a dict would sweep over its keys)."""
    if isinstance(values, Mapping | str | bytes) or not isinstance(values, Iterable):
        raise TypeError(
            f"{name} must be a list of {what}, got {type(values).__name__}"
            + (" (for one, pass a list of one)" if isinstance(values, Mapping | str) else "")
        )
    return list(values)


def check_body(index: int, request: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(request, Mapping):
        raise TypeError(f"requests[{index}] must be a mapping (a request body), got {request!r}")
    return dict(request)


def check_id(index: int, id: str) -> str:
    """``ids[index]``, checked as every method checks an id (``_requests.check_segment``)."""
    return check_segment(id, f"ids[{index}]")
