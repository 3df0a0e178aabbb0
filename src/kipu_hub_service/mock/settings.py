"""Every setting of the mock gateway, in one frozen object.

:class:`MockSettings` is what the app (:class:`~.app.MockGatewayApp`), the threaded server
(:class:`~.server.MockGateway`), the command line (``hub-service-mock``) and the test helpers
(:mod:`kipu_hub_service.testing`) take. Each of them accepts the fields as keyword options
too; :meth:`MockSettings.from_options` turns those into settings, so a new setting is
defined here once and is at once an option of every entry point. Values are checked when
the settings are made: a bad one is a ``ValueError`` (a ``TypeError`` for an unknown name).

Secrets stay out of the repr: ``tokens`` and ``access_keys`` are not shown.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .faults import FaultConfig
from .limits import Limits
from .rate import RateLimit
from .state import TIMESTAMP_FORMATS, Timing
from .token import DEFAULT_TOKEN_LIFETIME, parse_access_key

__all__ = ["LOG_LEVELS", "MockSettings", "normalize_base_path"]

#: uvicorn's log levels, quietest first.
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def normalize_base_path(base_path: str) -> str:
    """``acme/vqe/v1/`` -> ``/acme/vqe/v1``; ``/`` and empty -> empty."""
    if not isinstance(base_path, str) or any(c in base_path for c in "?#\\ ") or "//" in base_path:
        raise ValueError(f"invalid base path {base_path!r}: use the form /context/service/version")
    path = "/" + base_path.strip("/")
    return "" if path == "/" else path


def _tokens(tokens: Iterable[str] | None) -> frozenset[str] | None:
    if tokens is None:
        return None
    if isinstance(tokens, str):
        raise ValueError("tokens must be a collection of strings, not one string")
    accepted = frozenset(tokens)
    if not (accepted and all(isinstance(t, str) and t and t.strip() == t for t in accepted)):
        raise ValueError("tokens must be non-empty strings without surrounding whitespace")
    return accepted


def _access_keys(keys: Mapping[str, str] | Iterable[str] | None) -> Mapping[str, str]:
    if isinstance(keys, str):
        raise ValueError("access_keys must be a collection of 'ID:SECRET' strings, not one")
    if isinstance(keys, Mapping):
        pairs = [parse_access_key(f"{k}:{v}") for k, v in keys.items()]
    else:
        pairs = [parse_access_key(text) for text in keys or ()]
    return MappingProxyType(dict(pairs))


def _whole(name: str, value: object, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class MockSettings:
    """How one mock gateway behaves and where it listens.

    ``tokens`` restricts the accepted bearer tokens (any non-empty token when ``None``);
    ``access_keys`` (``"ID:SECRET"`` strings or ``{id: secret}``) turn on ``POST /token``,
    whose tokens live ``token_lifetime`` seconds. ``timing`` sets how long executions stay
    PENDING and RUNNING; ``faults`` injects faults; ``seed`` fixes execution ids;
    ``clock`` (monotonic seconds) lets tests drive time; ``timestamp_format`` writes execution
    timestamps as the real gateway does (``"gateway"``) or as ISO 8601 (``"iso"``);
    ``limits`` bounds connections, request bodies and stored executions; ``rate_limit``
    answers API requests past a rate with 429 and ``Retry-After``. ``host``, ``port``,
    ``log_level`` and ``access_log`` say where and how the server runs.
    """

    base_path: str = ""
    tokens: Collection[str] | None = field(default=None, repr=False)
    access_keys: Mapping[str, str] | Iterable[str] | None = field(default=None, repr=False)
    token_lifetime: int = DEFAULT_TOKEN_LIFETIME
    timing: Timing = field(default_factory=Timing)
    faults: FaultConfig | None = None
    seed: int = 0
    clock: Callable[[], float] | None = None
    timestamp_format: str = TIMESTAMP_FORMATS[0]
    limits: Limits = field(default_factory=Limits)
    rate_limit: RateLimit | None = None
    host: str = "127.0.0.1"
    port: int = 0
    log_level: str = "warning"
    access_log: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalised values are set once, here
        set_(self, "base_path", normalize_base_path(self.base_path))
        set_(self, "tokens", _tokens(self.tokens))
        set_(self, "access_keys", _access_keys(self.access_keys))
        set_(self, "timing", self.timing if self.timing is not None else Timing())
        set_(self, "limits", self.limits if self.limits is not None else Limits())
        _whole("token_lifetime", self.token_lifetime, 1)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be a whole number, got {self.seed!r}")
        _whole("port", self.port, 0, 65535)
        if not isinstance(self.timing, Timing):
            raise ValueError(f"timing must be a Timing, got {self.timing!r}")
        if not isinstance(self.limits, Limits):
            raise ValueError(f"limits must be a Limits, got {self.limits!r}")
        if self.rate_limit is not None and not isinstance(self.rate_limit, RateLimit):
            raise ValueError(f"rate_limit must be a RateLimit or None, got {self.rate_limit!r}")
        if self.faults is not None and not isinstance(self.faults, FaultConfig):
            raise ValueError(f"faults must be a FaultConfig or None, got {self.faults!r}")
        if self.timestamp_format not in TIMESTAMP_FORMATS:
            raise ValueError(
                f"timestamp_format must be one of {', '.join(TIMESTAMP_FORMATS)}, "
                f"got {self.timestamp_format!r}"
            )
        if self.log_level not in LOG_LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(LOG_LEVELS)}")

    @classmethod
    def option_names(cls) -> frozenset[str]:
        """The keyword options every entry point accepts: the names of the fields."""
        return frozenset(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_options(cls, settings: MockSettings | None = None, /, **options: Any) -> MockSettings:
        """``settings`` (or the defaults) with ``options`` replacing some fields.

        ``TypeError`` names an unknown option and lists the known ones.
        """
        unknown = sorted(set(options) - cls.option_names())
        if unknown:
            raise TypeError(
                f"unknown mock gateway option(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(cls.option_names()))}"
            )
        if settings is None:
            return cls(**options)
        return dataclasses.replace(settings, **options) if options else settings
