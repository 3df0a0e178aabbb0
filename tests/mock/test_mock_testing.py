"""``kipu_hub_service.testing``: the context manager and the pytest fixtures."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from kipu_hub_service.mock import FaultConfig, FaultKind, Timing
from kipu_hub_service.testing import mock_gateway, running_mock_gateway

AUTH = {"Authorization": "Bearer t"}


def test_running_mock_gateway_yields_a_live_base_url() -> None:
    with running_mock_gateway(base_path="/acme/vqe/v1", timing=Timing(0, 0)) as url:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/acme/vqe/v1")
        created = httpx.post(url + "/", json={"input": {}}, headers=AUTH)
        assert created.status_code == 201
        status = httpx.get(f"{url}/{created.json()['id']}", headers=AUTH).json()
        assert status["status"] == "SUCCEEDED"
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/", headers=AUTH)


def test_running_mock_gateway_passes_options_through() -> None:
    faults = FaultConfig(rates={FaultKind.RATE_LIMIT: 1.0})
    with running_mock_gateway(tokens=["only"], faults=faults) as url:
        assert httpx.get(url + "/", headers={"Authorization": "Bearer only"}).status_code == 429


def test_gateways_run_side_by_side_on_free_ports() -> None:
    with running_mock_gateway() as first, running_mock_gateway() as second:
        assert first != second
        for url in (first, second):
            assert httpx.get(url + "/", headers=AUTH).json() == []


def test_mock_gateway_returns_a_started_gateway() -> None:
    gateway = mock_gateway(seed=4)
    try:
        assert httpx.get(gateway.url + "/", headers=AUTH).status_code == 200
    finally:
        gateway.stop()


USER_CONFTEST = """
pytest_plugins = ["kipu_hub_service.testing"]
"""

USER_TESTS = """
import httpx

from kipu_hub_service.mock import FaultConfig, FaultKind

AUTH = {"Authorization": "Bearer t"}


def test_fixture_url(hub_service_mock_url):
    response = httpx.post(hub_service_mock_url + "/", json={"input": {}}, headers=AUTH)
    assert response.status_code == 201


def test_fixture_gateway(hub_service_mock):
    hub_service_mock.set_faults(FaultConfig(rates={FaultKind.ERROR: 1.0}))
    assert httpx.get(hub_service_mock.url + "/", headers=AUTH).status_code in {500, 503}
    assert hub_service_mock.stats()["faults"]["error"] == 1


def test_each_test_gets_a_fresh_gateway(hub_service_mock):
    assert hub_service_mock.stats()["executions_created"] == 0
"""


@pytest.mark.parametrize("conftest", [None, USER_CONFTEST], ids=["autoloaded", "pytest_plugins"])
def test_fixtures_in_a_users_test_suite(tmp_path: Path, conftest: str | None) -> None:
    if conftest is not None:
        (tmp_path / "conftest.py").write_text(conftest)
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
    assert "warning" not in result.stdout.lower()


PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]

OPTIONS_CONFTEST = """
import pytest

from kipu_hub_service.mock import Timing


@pytest.fixture
def hub_service_mock_options():
    return {"timing": Timing(pending=0, running=0), "tokens": ["t"]}
"""

OPTIONS_TESTS = """
import httpx
import pytest

from kipu_hub_service.mock import Timing

AUTH = {"Authorization": "Bearer t"}


def _status_right_after_start(url, auth=AUTH):
    created = httpx.post(url + "/", json={"input": {}}, headers=auth)
    assert created.status_code == 201
    return httpx.get(url + "/" + created.json()["id"], headers=auth).json()["status"]


def test_options_fixture_sets_timing_and_tokens(hub_service_mock_url):
    assert _status_right_after_start(hub_service_mock_url) == "SUCCEEDED"
    other = {"Authorization": "Bearer other"}
    assert httpx.get(hub_service_mock_url + "/", headers=other).status_code == 401


@pytest.mark.hub_service_mock(timing=Timing(pending=600, running=0))
def test_a_marker_overrides_the_options(hub_service_mock_url):
    assert _status_right_after_start(hub_service_mock_url) == "PENDING"


@pytest.mark.hub_service_mock(tokens=None, base_path="/acme/vqe/v1")
def test_a_marker_keeps_the_other_options(hub_service_mock):
    assert hub_service_mock.url.endswith("/acme/vqe/v1")
    any_token = {"Authorization": "Bearer anything"}
    assert _status_right_after_start(hub_service_mock.url, any_token) == "SUCCEEDED"


@pytest.mark.hub_service_mock(timming=1)
def test_a_misspelt_option_is_a_clear_error(hub_service_mock_url):
    pass
"""


def test_the_fixture_gateway_is_configurable(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(OPTIONS_CONFTEST)
    (tmp_path / "test_user.py").write_text(OPTIONS_TESTS)
    result = subprocess.run(
        [*PYTEST, "--strict-markers", "-rE", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    assert "3 passed, 1 error" in result.stdout, output
    assert "unknown hub_service_mock option(s) timming" in result.stdout, output


def test_the_plugin_module_is_cheap_to_import() -> None:
    """Every pytest session imports it (pytest11 entry point): no web stack, no httpx."""
    code = (
        "import sys, kipu_hub_service.testing as t; "
        "assert hasattr(t, 'hub_service_mock_url'); "
        "print(sorted(m for m in ('starlette', 'uvicorn', 'httpx') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=Path(__file__).parent,
    )
    assert result.stdout.strip() == "[]"


def test_stopping_with_a_request_stuck_in_injected_latency_logs_no_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    faults = FaultConfig(rates={"latency": 1.0}, latency=30.0)
    with (
        caplog.at_level(logging.DEBUG),
        running_mock_gateway(faults=faults) as url,
        pytest.raises(httpx.TimeoutException),
    ):
        httpx.get(url + "/", headers={"Authorization": "Bearer t"}, timeout=0.2)
    messages = [record.getMessage() for record in caplog.records]
    assert not [m for m in messages if "Exception in ASGI application" in m], messages
    assert not [r for r in caplog.records if r.exc_info], messages


def test_a_started_gateway_can_be_used_as_a_context_manager() -> None:
    with mock_gateway(timing=Timing(0, 0)) as gateway:
        url = gateway.url
        response = httpx.get(url + "/", headers={"Authorization": "Bearer t"})
        assert response.status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/", headers={"Authorization": "Bearer t"})
