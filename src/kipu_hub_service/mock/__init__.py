"""A stateful local mock of the service gateway (needs the ``mock`` extra: starlette, uvicorn).

Run it with ``hub-service-mock`` or ``python -m kipu_hub_service.mock``; in tests, use
:class:`MockGateway` or :func:`kipu_hub_service.testing.running_mock_gateway`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .faults import OPERATIONS, Fault, FaultConfig, FaultInjector, FaultKind
from .files import iter_result_bin
from .limits import Limits
from .rate import RateLimit
from .settings import MockSettings
from .state import DEFAULT_RESULT_SIZE, MAX_RESULT_SIZE, TIMESTAMP_FORMATS, Timing

if TYPE_CHECKING:
    from .app import ADMIN_PREFIX, InjectedDisconnect, MockGatewayApp
    from .server import MockGateway

MISSING_EXTRA = (
    "the mock gateway needs the 'mock' extra (starlette, uvicorn): "
    "pip install 'kipu-hub-service[mock]'"
)
_LAZY = {
    "ADMIN_PREFIX": ".app",
    "InjectedDisconnect": ".app",
    "MockGatewayApp": ".app",
    "MockGateway": ".server",
}


def __getattr__(name: str) -> Any:
    """Load the server parts on first use, so the fault and timing types work without the
    ``mock`` extra and a missing extra is reported in one sentence."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module, __name__), name)
    except ModuleNotFoundError as exc:
        if exc.name not in ("starlette", "uvicorn"):
            raise
        raise ModuleNotFoundError(MISSING_EXTRA, name=exc.name) from None
    globals()[name] = value
    return value


__all__ = [
    "ADMIN_PREFIX",
    "DEFAULT_RESULT_SIZE",
    "MAX_RESULT_SIZE",
    "OPERATIONS",
    "TIMESTAMP_FORMATS",
    "Fault",
    "FaultConfig",
    "FaultInjector",
    "FaultKind",
    "InjectedDisconnect",
    "Limits",
    "MockGateway",
    "MockGatewayApp",
    "MockSettings",
    "RateLimit",
    "Timing",
    "iter_result_bin",
]
