"""A stateful local mock of the service gateway (needs the ``mock`` extra: starlette, uvicorn).

Run it with ``hub-service-mock`` or ``python -m qhub.api.service.mock``; in tests, use
:class:`MockGateway` or :func:`qhub.api.service.testing.running_mock_gateway`.
"""

from __future__ import annotations

from .app import ADMIN_PREFIX, InjectedDisconnect, MockGatewayApp
from .faults import OPERATIONS, Fault, FaultConfig, FaultInjector, FaultKind
from .files import iter_result_bin
from .server import MockGateway
from .state import DEFAULT_RESULT_SIZE, MAX_RESULT_SIZE, Timing

__all__ = [
    "ADMIN_PREFIX",
    "DEFAULT_RESULT_SIZE",
    "MAX_RESULT_SIZE",
    "OPERATIONS",
    "Fault",
    "FaultConfig",
    "FaultInjector",
    "FaultKind",
    "InjectedDisconnect",
    "MockGateway",
    "MockGatewayApp",
    "Timing",
    "iter_result_bin",
]
