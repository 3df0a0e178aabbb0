"""Test helpers: a real mock gateway on a free loopback port, for your own tests.

>>> from qhub.api.service import HubServiceClient
>>> from qhub.api.service.testing import running_mock_gateway
>>> with running_mock_gateway() as url:                     # doctest: +SKIP
...     client = HubServiceClient(base_url=url, token="test-token")
...     execution = client.service_api.start_execution(request={"input": {"x": 1}})

With pytest, the fixtures ``hub_service_mock_url`` (the base URL) and
``hub_service_mock`` (the :class:`~qhub.api.service.mock.MockGateway`, to set
faults and read counters) are available once this package is installed.
The mock needs the ``mock`` extra (starlette, uvicorn); it is imported only when used.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .mock import FaultConfig, MockGateway, Timing

__all__ = ["mock_gateway", "running_mock_gateway"]


def mock_gateway(
    *,
    base_path: str = "",
    tokens: Iterable[str] | None = None,
    timing: Timing | None = None,
    faults: FaultConfig | None = None,
    seed: int = 0,
    clock: Callable[[], float] | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> MockGateway:
    """A started :class:`MockGateway`; stop it with ``stop()`` or use it in ``with``."""
    try:
        from .mock import MockGateway
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            "the mock gateway needs the 'mock' extra: pip install 'kipu-hub-service[mock]'"
        ) from exc
    gateway = MockGateway(
        host=host,
        port=port,
        base_path=base_path,
        tokens=tokens,
        timing=timing,
        faults=faults,
        seed=seed,
        clock=clock,
    )
    return gateway.start()


@contextlib.contextmanager
def running_mock_gateway(
    *,
    base_path: str = "",
    tokens: Iterable[str] | None = None,
    timing: Timing | None = None,
    faults: FaultConfig | None = None,
    seed: int = 0,
    clock: Callable[[], float] | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[str]:
    """Run the mock gateway on a free port for the ``with`` block; yields its base URL."""
    gateway = mock_gateway(
        base_path=base_path,
        tokens=tokens,
        timing=timing,
        faults=faults,
        seed=seed,
        clock=clock,
        host=host,
        port=port,
    )
    try:
        yield gateway.url
    finally:
        gateway.stop()


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is only needed for the fixtures
    pass
else:

    @pytest.fixture
    def hub_service_mock() -> Iterator[MockGateway]:
        """A fresh mock gateway on a free loopback port, stopped after the test."""
        gateway = mock_gateway()
        try:
            yield gateway
        finally:
            gateway.stop()

    @pytest.fixture
    def hub_service_mock_url(hub_service_mock: MockGateway) -> str:
        """The base URL of a fresh mock gateway (any non-empty token is accepted)."""
        return hub_service_mock.url
