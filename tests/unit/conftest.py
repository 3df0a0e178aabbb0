"""The unit layer opens no sockets: a connection attempt fails the test at once, so a test that
starts needing a server has to move to the layer it belongs to (client/, e2e/, mock/...)."""

from __future__ import annotations

import socket
from typing import Any, NoReturn

import pytest


def _refuse(self: socket.socket, *args: Any, **kwargs: Any) -> NoReturn:
    raise AssertionError(f"a unit test opened a connection to {args!r}: move it out of tests/unit")


@pytest.fixture(autouse=True)
def _no_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse)
