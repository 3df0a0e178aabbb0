"""The unit layer keeps its promise: its tests carry the ``unit`` marker (so ``pytest -m unit``
selects them) and a connection attempt fails them (tests/unit/conftest.py)."""

from __future__ import annotations

import socket

import pytest


def test_unit_tests_are_marked_unit(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("unit") is not None


def test_a_connection_attempt_fails_a_unit_test() -> None:
    with pytest.raises(AssertionError, match="move it out of tests/unit"):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
