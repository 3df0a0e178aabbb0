"""One settings object for the mock gateway: the app, the server, the CLI and the helpers."""

from __future__ import annotations

import dataclasses
import inspect

import httpx
import pytest

from kipu_hub_service import testing
from kipu_hub_service.mock import FaultConfig, Limits, MockGateway, MockGatewayApp, MockSettings
from kipu_hub_service.mock.__main__ import build_parser, settings_from_args
from kipu_hub_service.mock.state import Timing


def test_every_entry_point_takes_the_same_settings_object() -> None:
    settings = MockSettings(
        base_path="acme/vqe/v1/", tokens=["t1"], timing=Timing(0, 0), limits=Limits(max_depth=9)
    )
    app = MockGatewayApp(settings)
    assert app.settings is settings
    assert (app.base_path, app.tokens, app.limits.max_depth) == ("/acme/vqe/v1", {"t1"}, 9)
    with testing.mock_gateway(settings) as gateway:
        assert gateway.settings is settings
        assert gateway.app.settings is settings
        assert gateway.url.endswith("/acme/vqe/v1")
        answer = httpx.get(gateway.url + "/", headers={"Authorization": "Bearer t1"})
        assert answer.status_code == 200
    with testing.running_mock_gateway(settings) as url:
        assert url.endswith("/acme/vqe/v1")


def test_keyword_options_are_the_settings_fields() -> None:
    gateway = MockGateway(seed=3, timestamp_format="iso", port=0)
    assert gateway.settings == MockSettings(seed=3, timestamp_format="iso")
    base = MockSettings(seed=1)
    assert MockSettings.from_options(base, seed=2) == MockSettings(seed=2)
    assert MockSettings.from_options(base) is base
    names = {f.name for f in dataclasses.fields(MockSettings)}
    assert MockSettings.option_names() == names
    unknown = r"unknown mock gateway option\(s\) timming; known: .*timing"
    with pytest.raises(TypeError, match=unknown):
        MockGatewayApp(timming=Timing())
    with pytest.raises(TypeError, match="timming"):
        testing.mock_gateway(timming=Timing())


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"base_path": "a//b"}, "invalid base path"),
        ({"tokens": ["ok", " padded"]}, "surrounding whitespace"),
        ({"tokens": "one-string"}, "not one string"),
        ({"access_keys": ["no-colon"]}, "ID:SECRET"),
        ({"token_lifetime": 0}, "token_lifetime"),
        ({"port": 70000}, "between 0 and 65535"),
        ({"timestamp_format": "unix"}, "timestamp_format must be one of"),
        ({"log_level": "loud"}, "log_level must be one of"),
        ({"timing": (1, 2)}, "timing must be a Timing"),
        ({"limits": {"max_body": 1}}, "limits must be a Limits"),
        ({"faults": {"error": 1}}, "faults must be a FaultConfig"),
    ],
)
def test_bad_settings_are_refused_when_made(options: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        MockSettings(**options)  # type: ignore[arg-type]


def test_secrets_stay_out_of_the_repr() -> None:
    settings = MockSettings(tokens=["tok-SECRET-1"], access_keys={"kid": "sec-SECRET-2"})
    assert "SECRET" not in repr(settings)
    assert dict(settings.access_keys or {}) == {"kid": "sec-SECRET-2"}


def test_the_command_line_builds_settings() -> None:
    assert settings_from_args(build_parser().parse_args([])) == MockSettings(port=8080)
    args = build_parser().parse_args(
        ["--port", "0", "--token", "a", "--seed", "5", "--fault", "error=0.5", "--max-depth", "7"]
    )
    settings = settings_from_args(args)
    assert settings.tokens == {"a"}
    assert settings.seed == 5
    assert isinstance(settings.faults, FaultConfig)
    assert settings.limits == Limits(max_depth=7)


def test_helpers_have_no_option_list_of_their_own() -> None:
    """The helpers forward to MockSettings: a new field needs no edit here."""
    for helper in (testing.mock_gateway, testing.running_mock_gateway, MockGateway, MockGatewayApp):
        kinds = [p.kind for p in inspect.signature(helper).parameters.values()]
        assert kinds == [inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.VAR_KEYWORD]
