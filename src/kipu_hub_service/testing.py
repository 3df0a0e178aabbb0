"""Test helpers: a real mock gateway on a free loopback port, for your own tests.

>>> from kipu_hub_service import HubServiceClient
>>> from kipu_hub_service.testing import running_mock_gateway
>>> with running_mock_gateway() as url:                     # doctest: +SKIP
...     client = HubServiceClient(base_url=url, token="test-token")
...     execution = client.service_api.start_execution(request={"input": {"x": 1}})

With pytest, the fixtures ``hub_service_mock_url`` (the base URL) and
``hub_service_mock`` (the :class:`~kipu_hub_service.mock.MockGateway`, to set
faults and read counters) are available once this package is installed; override the
``hub_service_mock_options`` fixture, or mark a test ``@pytest.mark.hub_service_mock(...)``,
to pass :func:`mock_gateway` options (``timing=``, ``faults=``, ``tokens=``, ...).
The mock needs the ``mock`` extra (starlette, uvicorn); it is imported only when used.

Two helpers change how clients behave inside a ``with`` block (and only there: they are
context-local, for the current thread or task and the tasks it starts):

- :func:`retries_without_delay` skips the waits between retries and download resumes (the
  waits still count toward the retry time budget, so the decisions are the same);
- :func:`sdk_transport` makes HTTP clients the SDK creates itself (no ``httpx_client=``) send
  through a transport of yours, e.g. ``httpx.MockTransport``, for code that builds its own
  client.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from .mock import MockGateway, MockSettings

__all__ = ["mock_gateway", "retries_without_delay", "running_mock_gateway", "sdk_transport"]


@contextlib.contextmanager
def retries_without_delay() -> Iterator[None]:
    """Inside the ``with`` block, clients retry and resume downloads without waiting (the
    waits still count toward the retry time budget, so every decision is the same), and
    sweeps try an item's failed request again without their pause."""
    from ._retry import retries_without_delay as scope

    with scope():
        yield


@contextlib.contextmanager
def sdk_transport(*transports: httpx.BaseTransport | httpx.AsyncBaseTransport) -> Iterator[None]:
    """Inside the ``with`` block, an HTTP client the SDK creates itself (no ``httpx_client=``)
    sends through the first of ``transports`` that fits it: an ``httpx.BaseTransport`` for
    ``HubServiceClient``, an ``httpx.AsyncBaseTransport`` for ``AsyncHubServiceClient``
    (``httpx.MockTransport`` is both). For code under test that builds its own client."""
    from ._config import sdk_transport as scope

    with scope(*transports):
        yield


def mock_gateway(settings: MockSettings | None = None, /, **options: Any) -> MockGateway:
    """A started :class:`MockGateway`: stop it with ``stop()``, or use it in a ``with``
    block, which stops it at the end.

    Takes a :class:`~kipu_hub_service.mock.MockSettings`, or its fields as keyword options:
    ``timing=``, ``faults=``, ``tokens=``, ``base_path=``, ``seed=``, ``clock=``, ``host=``,
    ``port=`` (0, a free port, by default), ``limits=``, ``rate_limit=``, ...
    ``timestamp_format="iso"`` writes execution timestamps as ISO 8601 instead of the real
    gateway's ``2026-11-27 14:31:44`` (UTC). ``access_keys`` (``"ID:SECRET"`` strings or
    ``{id: secret}``) turn on the token endpoint ``POST /token`` on the gateway's root
    (``gateway.token_url``); its tokens are accepted for ``token_lifetime`` seconds (default
    3600), and then only those and ``tokens`` are.
    """
    try:
        from .mock import MockGateway
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            "the mock gateway needs the 'mock' extra: pip install 'kipu-hub-service[mock]'"
        ) from exc
    return MockGateway(settings, **options).start()


@contextlib.contextmanager
def running_mock_gateway(settings: MockSettings | None = None, /, **options: Any) -> Iterator[str]:
    """Run the mock gateway on a free port for the ``with`` block; yields its base URL.

    Takes the same settings and options as :func:`mock_gateway`. With ``access_keys``, the
    token endpoint is ``/token`` on the same scheme, host and port.
    """
    gateway = mock_gateway(settings, **options)
    try:
        yield gateway.url
    finally:
        gateway.stop()


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is only needed for the fixtures
    pass
else:
    _MARKER = "hub_service_mock"

    def pytest_configure(config: pytest.Config) -> None:
        """Register the ``hub_service_mock`` marker, so ``--strict-markers`` accepts it."""
        config.addinivalue_line(
            "markers",
            f"{_MARKER}(**options): options of the hub_service_mock fixture's gateway "
            "(the fields of kipu_hub_service.mock.MockSettings: timing=, faults=, tokens=, "
            "base_path=, seed=, limits=, rate_limit=, ...), over hub_service_mock_options",
        )

    @pytest.fixture
    def hub_service_mock_options() -> dict[str, Any]:
        """Keyword arguments of :func:`mock_gateway` for ``hub_service_mock``; override it.

        Empty by default (executions take 0.3 s PENDING + 1.2 s RUNNING). Override it in a
        ``conftest.py`` or a test module, e.g. to return ``{"timing": Timing(0, 0.05)}``; a
        ``@pytest.mark.hub_service_mock(...)`` marker on a test adds to it.
        """
        return {}

    @pytest.fixture
    def hub_service_mock(
        request: pytest.FixtureRequest, hub_service_mock_options: dict[str, Any]
    ) -> Iterator[MockGateway]:
        """A fresh mock gateway on a free loopback port, stopped after the test."""
        options = dict(hub_service_mock_options)
        for marker in reversed(list(request.node.iter_markers(_MARKER))):
            if marker.args:
                raise TypeError(f"@pytest.mark.{_MARKER} takes keyword arguments only")
            options.update(marker.kwargs)
        from .mock import MockSettings

        known = MockSettings.option_names()
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(
                f"unknown {_MARKER} option(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        gateway = mock_gateway(**options)
        try:
            yield gateway
        finally:
            gateway.stop()

    @pytest.fixture
    def hub_service_mock_url(hub_service_mock: MockGateway) -> str:
        """The base URL of a fresh mock gateway (any non-empty token is accepted)."""
        return hub_service_mock.url
