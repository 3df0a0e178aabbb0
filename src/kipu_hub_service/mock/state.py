"""Executions of the mock gateway: lifecycle, logs, results and idempotency keys.

An execution's state is a pure function of the clock: it is PENDING for the
pending time, RUNNING for the running time, then SUCCEEDED (or FAILED when its
input asked for failure), unless it was cancelled first. Logs accrue on the same
schedule. Nothing runs in the background, so a test can drive time by passing
its own clock.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .listing import RenderedCache
from .strict_json import dumps

__all__ = [
    "DEFAULT_RESULT_SIZE",
    "MAX_RESULT_SIZE",
    "TIMESTAMP_FORMATS",
    "Execution",
    "ExecutionStore",
    "IdempotencyConflict",
    "InvalidInput",
    "Timing",
    "fingerprint",
]

#: Size of ``result.bin`` unless the input asks for another with ``result_size``.
DEFAULT_RESULT_SIZE = 1024 * 1024
#: Largest ``result_size`` accepted: 1 TiB (the bytes are generated on the fly).
MAX_RESULT_SIZE = 1 << 40
#: Longest ``duration`` accepted, in seconds.
MAX_DURATION = 24 * 3600.0

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})

#: How execution timestamps (``createdAt``, ``startedAt``, ``endedAt``) are written:
#: ``gateway``, the real gateway's ``2026-11-27 14:31:44`` (UTC, whole seconds), or ``iso``,
#: ISO 8601 ``2026-11-27T14:31:44.747Z``. Log timestamps are ISO 8601 in both.
TIMESTAMP_FORMATS = ("gateway", "iso")

_SERVICE_ID = "2b9e8f00-0000-4000-8000-00000000000a"
_SERVICE_DEFINITION_ID = "2b9e8f00-0000-4000-8000-00000000000b"
_APPLICATION_ID = "2b9e8f00-0000-4000-8000-00000000000c"


class InvalidInput(ValueError):
    """The request body cannot start an execution."""


class IdempotencyConflict(ValueError):
    """An Idempotency-Key was reused with a different body."""


@dataclass(frozen=True, slots=True)
class Timing:
    """How long executions stay PENDING and RUNNING, in seconds."""

    pending: float = 0.3
    running: float = 1.2

    def __post_init__(self) -> None:
        for name in ("pending", "running"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"timing {name} must be a number of seconds >= 0, got {value!r}")


def _iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def _gateway_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(slots=True)
class Execution:
    """One execution; times are on the store's clock."""

    id: str
    created: float
    pending: float
    running: float
    body: dict[str, Any]
    fail: bool
    result_size: int
    tags: list[str] | None
    cancelled: float | None = None

    @property
    def started(self) -> float:
        return self.created + self.pending

    @property
    def finished(self) -> float:
        return self.started + self.running

    def status_at(self, now: float) -> str:
        if self.cancelled is not None and now >= self.cancelled:
            return "CANCELLED"
        if now < self.started:
            return "PENDING"
        if now < self.finished:
            return "RUNNING"
        return "FAILED" if self.fail else "SUCCEEDED"

    def next_change(self, now: float) -> float:
        """The first moment after ``now`` when the status changes by itself (inf: never)."""
        if self.cancelled is not None and now >= self.cancelled:
            return math.inf
        if now < self.started:
            return self.started
        return self.finished if now < self.finished else math.inf

    def ended_at(self, now: float) -> float | None:
        status = self.status_at(now)
        if status == "CANCELLED":
            return self.cancelled
        return self.finished if status in TERMINAL else None

    def output(self) -> dict[str, Any]:
        """What the service computed: an echo of the input (and data refs)."""
        output: dict[str, Any] = {"input": self.body.get("input")}
        if "inputDataRefs" in self.body:
            output["inputDataRefs"] = self.body["inputDataRefs"]
        return output

    def logs_at(self, now: float) -> list[tuple[float, str, str]]:
        """(time, severity, message) entries emitted up to ``now``, oldest first."""
        start, run = self.started, self.running
        schedule: list[tuple[float, str, str]] = [
            (start, "INFO", "Execution started"),
            (start + run * 0.25, "DEBUG", "Input parsed"),
            (start + run * 0.5, "INFO", "Progress 50%"),
        ]
        if self.fail:
            failed = 'Execution failed: the input asked for it ("fail": true)'
            schedule.append((self.finished, "ERROR", failed))
        else:
            schedule.append((self.finished, "NOTICE", "Wrote result files result.json, result.bin"))
            schedule.append((self.finished, "INFO", "Execution succeeded"))
        cancelled = self.cancelled
        entries = [e for e in schedule if e[0] <= now and (cancelled is None or e[0] < cancelled)]
        if cancelled is not None and cancelled <= now:
            entries.append((cancelled, "WARNING", "Execution cancelled"))
        return entries


def fingerprint(body: Mapping[str, Any]) -> str:
    """What ``Idempotency-Key`` replays compare: a hash of the body with its keys sorted."""
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def _parse_input(body: Mapping[str, Any]) -> tuple[bool, int, float | None]:
    payload = body.get("input")
    if not isinstance(payload, Mapping):
        return False, DEFAULT_RESULT_SIZE, None
    fail = payload.get("fail") is True
    size = payload.get("result_size", DEFAULT_RESULT_SIZE)
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_RESULT_SIZE:
        raise InvalidInput(
            f"input.result_size must be a whole number of bytes between 0 and {MAX_RESULT_SIZE}"
        )
    duration = payload.get("duration")
    if duration is not None and (
        isinstance(duration, bool)
        or not isinstance(duration, int | float)
        or not 0 <= duration <= MAX_DURATION
    ):
        raise InvalidInput(f"input.duration must be 0 to {MAX_DURATION:g} seconds")
    return fail, size, None if duration is None else float(duration)


@dataclass(slots=True)
class _Stored:
    fingerprint: str
    execution_id: str
    response: bytes


@dataclass(slots=True)
class _Counters:
    executions_created: int = 0
    idempotent_replays: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    rate_limited: dict[str, int] = field(default_factory=dict)


class ExecutionStore:
    """All executions of one gateway. Thread-safe."""

    def __init__(
        self,
        *,
        timing: Timing | None = None,
        seed: int = 0,
        clock: Callable[[], float] | None = None,
        timestamp_format: str = "gateway",
    ) -> None:
        if timestamp_format not in TIMESTAMP_FORMATS:
            raise ValueError(
                f"timestamp_format must be one of {', '.join(TIMESTAMP_FORMATS)}, "
                f"got {timestamp_format!r}"
            )
        self.timestamp_format = timestamp_format
        self._execution_time = _gateway_time if timestamp_format == "gateway" else _iso
        self.timing = timing or Timing()
        self._clock = clock or time.monotonic
        self._epoch = time.time() - self._clock()
        self._ids = random.Random(seed)
        self._lock = threading.Lock()
        self._executions: dict[str, Execution] = {}
        self._keys: dict[str, _Stored] = {}
        self._counters = _Counters()
        self._rendered = RenderedCache[Execution](
            lambda execution, now: dumps(self.snapshot(execution, now)), Execution.next_change
        )

    def now(self) -> float:
        return self._clock()

    def wall(self, moment: float) -> str:
        """A clock reading as an ISO 8601 UTC timestamp (how log entries are stamped)."""
        return _iso(self._epoch + moment)

    def execution_time(self, moment: float) -> str:
        """A clock reading as an execution timestamp, in the store's ``timestamp_format``."""
        return self._execution_time(self._epoch + moment)

    def count_request(self, operation: str, *, rate_limited: bool = False) -> None:
        """Count one API request of ``operation`` (and whether the rate limit refused it)."""
        with self._lock:
            counters = self._counters
            counters.requests[operation] = counters.requests.get(operation, 0) + 1
            if rate_limited:
                refused = counters.rate_limited
                refused[operation] = refused.get(operation, 0) + 1

    def create(
        self,
        body: dict[str, Any],
        idempotency_key: str | None,
        admit: Callable[[int], None] | None = None,
        body_fingerprint: str | None = None,
    ) -> tuple[Execution, bytes, bool]:
        """Start an execution, or find the one started with the same key.

        Returns the execution, the response body to send (its JSON) and whether it is a
        replay; a replay gets the very bytes of the first answer. ``admit`` is called with
        the number of
        executions held before a new one is made, and raises to refuse it.
        ``body_fingerprint`` is :func:`fingerprint` of ``body`` when the caller has it.
        """
        fail, size, duration = _parse_input(body)
        digest = body_fingerprint or (fingerprint(body) if idempotency_key is not None else "")
        with self._lock:
            if idempotency_key is not None and idempotency_key in self._keys:
                stored = self._keys[idempotency_key]
                if stored.fingerprint != digest:
                    raise IdempotencyConflict(
                        "Idempotency-Key was already used with a different request body"
                    )
                self._counters.idempotent_replays += 1
                return self._executions[stored.execution_id], stored.response, True
            if admit is not None:
                admit(len(self._executions))
            tags = body.get("tags")
            now = self._clock()
            execution = Execution(
                id=str(uuid.UUID(int=self._ids.getrandbits(128), version=4)),
                created=now,
                pending=self.timing.pending,
                running=self.timing.running if duration is None else duration,
                body=body,
                fail=fail,
                result_size=size,
                tags=list(tags)
                if isinstance(tags, list) and all(isinstance(t, str) for t in tags)
                else None,
            )
            self._executions[execution.id] = execution
            self._counters.executions_created += 1
            response = self._rendered.put(execution.id, execution, now)
            if idempotency_key is not None:
                self._keys[idempotency_key] = _Stored(digest, execution.id, response)
            return execution, response, False

    def __len__(self) -> int:
        with self._lock:
            return len(self._executions)

    def holds_key(self, idempotency_key: str) -> bool:
        """Whether a start with this ``Idempotency-Key`` was answered (a replay would be)."""
        with self._lock:
            return idempotency_key in self._keys

    def get(self, execution_id: str) -> Execution | None:
        with self._lock:
            return self._executions.get(execution_id)

    def all(self) -> list[Execution]:
        """Every execution, newest first."""
        with self._lock:
            return list(reversed(self._executions.values()))

    def render(self, execution: Execution) -> bytes:
        """The execution's ServiceExecution JSON now (see :meth:`snapshot`), kept between
        its status changes."""
        with self._lock:
            return self._rendered.get(execution.id, self._clock())

    def listing(self) -> bytes:
        """The JSON array of every execution now, newest first, re-rendering only those
        whose status changed since the last call."""
        with self._lock:
            return self._rendered.listing(self._clock())

    @property
    def renders(self) -> int:
        """Executions rendered to JSON so far."""
        with self._lock:
            return self._rendered.renders

    def cancel(self, execution_id: str) -> str | None:
        """Cancel a non-terminal execution; returns the terminal status that prevented it."""
        with self._lock:
            execution = self._executions[execution_id]
            now = self._clock()
            status = execution.status_at(now)
            if status in TERMINAL:
                return status
            execution.cancelled = now
            self._rendered.put(execution_id, execution, now)
            return None

    def snapshot(self, execution: Execution, now: float | None = None) -> dict[str, Any]:
        """The ServiceExecution JSON of an execution at ``now`` (default: the clock's now);
        every optional field is present, as an explicit ``null`` when unset (as the real
        gateway writes them)."""
        now = self._clock() if now is None else now
        status = execution.status_at(now)
        cancelled = execution.cancelled
        ran = now >= execution.started and (cancelled is None or cancelled > execution.started)
        started = execution.started if ran else None
        ended = execution.ended_at(now)
        return {
            "id": execution.id,
            "createdAt": self.execution_time(execution.created),
            "startedAt": None if started is None else self.execution_time(started),
            "endedAt": None if ended is None else self.execution_time(ended),
            "status": status,
            "type": "MANAGED",
            "serviceId": _SERVICE_ID,
            "serviceDefinitionId": _SERVICE_DEFINITION_ID,
            "applicationId": _APPLICATION_ID,
            "tags": execution.tags,
        }

    def logs(self, execution: Execution) -> list[dict[str, Any]]:
        return [
            {"message": message, "severity": severity, "timestamp": self.wall(moment)}
            for moment, severity, message in execution.logs_at(self._clock())
        ]

    def counters(self) -> dict[str, Any]:
        with self._lock:
            return {
                "executions_created": self._counters.executions_created,
                "idempotent_replays": self._counters.idempotent_replays,
                "idempotency_keys": len(self._keys),
                "requests": dict(self._counters.requests),
                "rate_limited": dict(self._counters.rate_limited),
            }
