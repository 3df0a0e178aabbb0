"""Seeded, reproducible fault injection for the mock gateway.

Every API request that a :class:`FaultConfig` covers draws two numbers from one
seeded random generator, in arrival order: the first picks the fault kind (or
none), the second its details (which 5xx, where to cut a body, how a response is
lost). The same seed and the same sequence of requests give the same faults.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["OPERATIONS", "Fault", "FaultConfig", "FaultInjector", "FaultKind", "parse_kind"]

#: Operation ids of the OpenAPI document, the names faults can be limited to.
OPERATIONS: frozenset[str] = frozenset(
    {
        "getServiceExecutions",
        "startExecution",
        "getStatus",
        "getResult",
        "getResultFile",
        "getLogs",
        "cancelExecution",
    }
)


class FaultKind(StrEnum):
    """What goes wrong with a request."""

    #: A 5xx answer (500 or 503 by default); the request is not processed.
    ERROR = "error"
    #: 429 with ``Retry-After``; the request is not processed.
    RATE_LIMIT = "rate_limit"
    #: The normal answer, after an added delay.
    LATENCY = "latency"
    #: The connection is closed before any response; the request is not processed.
    DISCONNECT = "disconnect"
    #: The request is processed; the status line, headers and part of the body are
    #: sent, then the connection drops (a download interrupted mid-body).
    TRUNCATE = "truncate"
    #: ``startExecution`` only: the execution is created, then the answer is lost —
    #: the connection drops, or a 5xx is answered instead of the 201.
    LOST_RESPONSE = "lost_response"


@dataclass(frozen=True, slots=True)
class Fault:
    """One drawn fault; ``detail`` is a number in [0, 1) that fixes its details."""

    kind: FaultKind
    detail: float

    def error_status(self, statuses: tuple[int, ...]) -> int:
        """The 5xx status of an ERROR (or LOST_RESPONSE answered as an error)."""
        return statuses[int(self.detail * len(statuses)) % len(statuses)]

    def cut(self, length: int) -> int:
        """How many body bytes a TRUNCATE lets through: at least one, never all."""
        return max(1, min(length - 1, int(length * self.detail)))

    @property
    def lost_as_error(self) -> bool:
        """Whether a LOST_RESPONSE is answered as a 5xx rather than a dropped connection."""
        return self.detail >= 0.5


def _rate(kind: FaultKind, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"fault rate of {kind.value!r} must be a number, got {value!r}")
    rate = float(value)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"fault rate of {kind.value!r} must be between 0 and 1, got {value!r}")
    return rate


def parse_kind(value: object) -> FaultKind:
    """The kind named ``value``; ValueError naming the known kinds otherwise."""
    if isinstance(value, FaultKind):
        return value
    try:
        return FaultKind(str(value)) if isinstance(value, str) else FaultKind("")
    except ValueError:
        known = ", ".join(k.value for k in FaultKind)
        raise ValueError(f"unknown fault kind {value!r}; known kinds: {known}") from None


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Which faults to inject, how often, and into which operations.

    ``rates`` maps each kind to the probability that a covered request gets it;
    the rates add up to at most 1. ``operations`` limits faults to those
    operation ids (all operations when ``None``); ``limit`` caps the number of
    faults drawn (one that cannot apply, like ``truncate`` on an empty 204 body,
    still counts). ``latency`` is in seconds; ``retry_after`` is the
    ``Retry-After`` of 429 and 503 answers; ``error_statuses`` are the 5xx
    codes of ``error`` faults.
    """

    rates: Mapping[FaultKind, float] = field(default_factory=dict)
    seed: int = 0
    operations: frozenset[str] | None = None
    latency: float = 0.5
    retry_after: int = 1
    error_statuses: tuple[int, ...] = (500, 503)
    limit: int | None = None

    def __post_init__(self) -> None:
        rates = {parse_kind(k): _rate(parse_kind(k), v) for k, v in dict(self.rates).items()}
        if sum(rates.values()) > 1.0 + 1e-9:
            raise ValueError(f"fault rates add up to more than 1: {sum(rates.values()):g}")
        object.__setattr__(self, "rates", rates)
        if self.operations is not None:
            ops = frozenset(self.operations)
            unknown = sorted(ops - OPERATIONS)
            if unknown:
                known = ", ".join(sorted(OPERATIONS))
                raise ValueError(f"unknown operation(s) {', '.join(unknown)}; known: {known}")
            object.__setattr__(self, "operations", ops)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"fault seed must be an integer, got {self.seed!r}")
        if not (isinstance(self.latency, int | float) and 0 <= self.latency <= 600):
            raise ValueError(f"fault latency must be 0 to 600 seconds, got {self.latency!r}")
        if not (isinstance(self.retry_after, int) and 0 <= self.retry_after <= 86400):
            raise ValueError(f"retry_after must be whole seconds >= 0, got {self.retry_after!r}")
        statuses = tuple(self.error_statuses)
        if not statuses or any(not isinstance(s, int) or not 500 <= s <= 599 for s in statuses):
            raise ValueError(f"error_statuses must be 5xx codes, got {self.error_statuses!r}")
        object.__setattr__(self, "error_statuses", statuses)
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 0):
            raise ValueError(f"fault limit must be a non-negative integer, got {self.limit!r}")

    @classmethod
    def uniform(
        cls, rate: float, kinds: Iterable[FaultKind | str] | None = None, **options: Any
    ) -> FaultConfig:
        """A total ``rate`` of faults, shared equally among ``kinds`` (all kinds by default)."""
        chosen = [parse_kind(k) for k in kinds] if kinds is not None else list(FaultKind)
        if not chosen:
            raise ValueError("at least one fault kind is needed")
        share = _rate(chosen[0], rate) / len(chosen)
        return cls(rates=dict.fromkeys(chosen, share), **options)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultConfig:
        """Parse the JSON form (the keys of :meth:`to_dict`); bad input raises ValueError."""
        if not isinstance(data, Mapping):
            raise ValueError("fault configuration must be a JSON object")
        known = {"rates", "seed", "operations", "latency", "retry_after", "error_statuses", "limit"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault option(s): {', '.join(unknown)}")
        options: dict[str, Any] = dict(data)
        rates = options.get("rates", {})
        if not isinstance(rates, Mapping):
            raise ValueError("'rates' must be an object of kind -> rate")
        options["rates"] = {parse_kind(k): v for k, v in rates.items()}
        if options.get("operations") is not None:
            ops = options["operations"]
            if not isinstance(ops, list) or not all(isinstance(o, str) for o in ops):
                raise ValueError("'operations' must be a list of operation ids")
            options["operations"] = frozenset(ops)
        if "error_statuses" in options:
            if not isinstance(options["error_statuses"], list):
                raise ValueError("'error_statuses' must be a list of 5xx codes")
            options["error_statuses"] = tuple(options["error_statuses"])
        return cls(**options)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "rates": {k.value: v for k, v in self.rates.items()},
            "seed": self.seed,
            "operations": sorted(self.operations) if self.operations is not None else None,
            "latency": self.latency,
            "retry_after": self.retry_after,
            "error_statuses": list(self.error_statuses),
            "limit": self.limit,
        }


_APPLIES_TO: dict[FaultKind, frozenset[str]] = {
    FaultKind.LOST_RESPONSE: frozenset({"startExecution"}),
}


class FaultInjector:
    """Draws faults for requests and counts the ones actually injected. Thread-safe."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self._counts: dict[FaultKind, int] = dict.fromkeys(FaultKind, 0)
        self.configure(config)

    @property
    def config(self) -> FaultConfig:
        return self._config

    def configure(self, config: FaultConfig | None) -> None:
        """Replace the configuration and restart its random sequence from the seed."""
        with self._lock:
            self._config = config if config is not None else FaultConfig()
            self._random = random.Random(self._config.seed)
            self._drawn = 0

    def draw(self, operation: str) -> Fault | None:
        """The fault for the next request to ``operation``, if any."""
        with self._lock:
            config = self._config
            if not config.rates or (
                config.operations is not None and operation not in config.operations
            ):
                return None
            if config.limit is not None and self._drawn >= config.limit:
                return None
            pick, detail = self._random.random(), self._random.random()
            threshold = 0.0
            for kind, rate in config.rates.items():
                if operation not in _APPLIES_TO.get(kind, OPERATIONS):
                    continue
                threshold += rate
                if pick < threshold:
                    self._drawn += 1
                    return Fault(kind, detail)
            return None

    def record(self, kind: FaultKind) -> None:
        """Count a fault that was injected."""
        with self._lock:
            self._counts[kind] += 1

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {k.value: v for k, v in self._counts.items()}

    def reset_counts(self) -> None:
        with self._lock:
            self._counts = dict.fromkeys(FaultKind, 0)
