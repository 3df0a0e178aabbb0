"""Shared fixtures and the layer markers of the suite.

The folders under ``tests/`` follow the code's layers (see docs/development.md). Every test under
``tests/unit/`` is marked ``unit`` and every test under ``tests/e2e/`` ``e2e`` here, so
``pytest -m unit`` runs the fast layer alone. Helper modules (``_client_support.py``,
``_oracle_support.py``, ``_vendor_proxy.py``) sit beside this file; pyproject's ``pythonpath``
puts this folder on ``sys.path`` so any test folder imports them by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _client_support import Driver

from kipu_hub_service.testing import retries_without_delay

TESTS = Path(__file__).resolve().parent
LAYER_MARKERS = {"unit": pytest.mark.unit, "e2e": pytest.mark.e2e}
"""Folder under tests/ -> the marker every test in it gets."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(item.path).resolve()
        if not path.is_relative_to(TESTS):
            continue
        marker = LAYER_MARKERS.get(path.relative_to(TESTS).parts[0])
        if marker is not None:
            item.add_marker(marker)


@pytest.fixture(params=["sync", "async"])
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    """Runs the same test on ``HubServiceClient`` and on ``AsyncHubServiceClient``."""
    d = Driver(request.param)
    yield d
    d.close()


@pytest.fixture
def no_retry_delay() -> Iterator[None]:
    """Clients built inside the test retry at once (``retries_without_delay()``): same attempts,
    same rules, no waiting. Use it with ``pytestmark = pytest.mark.usefixtures(...)``."""
    with retries_without_delay():
        yield
