"""``hub-service`` with access keys: from the environment or a secret file, never from argv."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kipu_hub_service.cli import main
from kipu_hub_service.mock import MockGateway

KEY_ID, SECRET = "AKID-cli", "cli-secret-value-5150"


@pytest.fixture
def gateway() -> Iterator[MockGateway]:
    with MockGateway(base_path="/acme/vqe/v1", access_keys=[f"{KEY_ID}:{SECRET}"]) as gw:
        yield gw


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, gateway: MockGateway) -> pytest.MonkeyPatch:
    """The environment of a user with an access key: no token variables."""
    for name in ("HUB_SERVICE_TOKEN", "HUB_SERVICE_TOKEN_COMMAND", "HUB_SERVICE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HUB_SERVICE_BASE_URL", gateway.url)
    monkeypatch.setenv("HUB_SERVICE_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("HUB_SERVICE_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("HUB_SERVICE_TOKEN_ENDPOINT", gateway.token_url)
    return monkeypatch


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    return code, out, err


def test_access_keys_from_the_environment(
    env: pytest.MonkeyPatch, gateway: MockGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--json", "list")
    assert code == 0 and json.loads(out) == []
    assert gateway.stats()["tokens"]["issued"] == 1


def test_access_keys_win_over_a_token_variable(
    env: pytest.MonkeyPatch, gateway: MockGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("HUB_SERVICE_TOKEN", "stale-token")
    assert run(capsys, "list")[0] == 0


def test_a_token_flag_wins_over_access_keys_in_the_environment(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--token", "not-issued-token", "list")
    assert code == 3 and "401" in err  # the mock accepts only issued tokens


def test_key_id_flag_and_secret_file(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env.delenv("HUB_SERVICE_ACCESS_KEY_ID")
    env.delenv("HUB_SERVICE_SECRET_ACCESS_KEY")
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    argv = ["--access-key-id", KEY_ID, "--secret-access-key-file", str(secret_file), "list"]
    assert run(capsys, *argv)[0] == 0
    secret_file.write_bytes(b"\xef\xbb\xbf" + SECRET.encode())  # a byte order mark is no part
    assert run(capsys, *argv)[0] == 0


def test_token_prints_a_fresh_token_the_gateway_accepts(
    env: pytest.MonkeyPatch, gateway: MockGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    env.delenv("HUB_SERVICE_BASE_URL")  # not needed for a token
    code, out, _ = run(capsys, "token")
    token = out.strip()
    assert code == 0 and token.startswith("mock-")
    listed = httpx.get(gateway.url + "/", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200
    code, out, _ = run(capsys, "--json", "token")
    answer = json.loads(out)
    assert answer["tokenType"] == "Bearer" and answer["accessToken"] != token
    assert gateway.stats()["tokens"]["issued"] == 2


def test_bad_credentials_exit_3_with_one_line_naming_the_key(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("HUB_SERVICE_SECRET_ACCESS_KEY", "wrong-secret-value-77")
    for argv in (["list"], ["token"], ["-v", "status", "abc"]):
        code, out, err = run(capsys, *argv)
        assert code == 3, err
        lines = [line for line in err.splitlines() if "error" in line.lower()]
        assert len(lines) == 1 and KEY_ID in lines[0] and "invalid_client" in lines[0]
        assert "wrong-secret-value-77" not in out + err


@pytest.mark.parametrize(
    "argv",
    [
        ["--secret-access-key", "argv-secret-999", "list"],
        ["--secret-access-key=argv-secret-999", "list"],
        ["list", "--secret-access-key", "argv-secret-999"],
        ["--secret-access=argv-secret-999", "list"],
        ["--secret-access-key-file", "argv-secret-999", "list"],
    ],
)
def test_the_secret_is_never_taken_from_argv(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert "argv-secret-999" not in out + err


@pytest.mark.parametrize(
    ("argv", "unset", "fragment"),
    [
        (["--secret-access-key-file", "/nonexistent/secret", "list"], [], "cannot read the file"),
        (["list"], ["HUB_SERVICE_SECRET_ACCESS_KEY"], f"access key '{KEY_ID}' has no secret"),
        (["--secret-access-key-file", "x", "list"], ["HUB_SERVICE_ACCESS_KEY_ID"], "needs"),
        (["--token", "t-1234", "--access-key-id", KEY_ID, "list"], [], "either a token"),
        (["token"], ["HUB_SERVICE_ACCESS_KEY_ID"], "needs an access key"),
        (["--token-endpoint", "http://example.com/token", "list"], [], "https"),
    ],
)
def test_access_key_usage_errors_exit_2(
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    unset: list[str],
    fragment: str,
) -> None:
    for name in unset:
        env.delenv(name)
    code, _, err = run(capsys, *argv)
    assert code == 2 and fragment in err, err


def test_the_secret_option_is_refused_with_advice(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--secret-access-key", "argv-secret-999", "list")
    assert code == 2 and "never taken from the command line" in err


def test_an_empty_or_huge_secret_file_is_refused(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    huge = tmp_path / "huge"
    huge.write_bytes(b"x" * (64 * 1024 + 1))
    for path, fragment in ((empty, "empty"), (huge, "larger than")):
        code, _, err = run(capsys, "--secret-access-key-file", str(path), "list")
        assert code == 2 and fragment in err


def test_a_secret_file_of_exactly_64_kib_is_read(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env.delenv("HUB_SERVICE_SECRET_ACCESS_KEY")
    at_cap = tmp_path / "at-cap"
    at_cap.write_text(SECRET + "\n" * (64 * 1024 - len(SECRET)))
    assert at_cap.stat().st_size == 64 * 1024
    assert run(capsys, "--secret-access-key-file", str(at_cap), "list")[0] == 0


def test_help_lists_the_access_key_options_but_not_a_secret_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--access-key-id", "--secret-access-key-file", "--token-endpoint", "token"):
        assert flag in out
    assert "--secret-access-key " not in out and "--secret-access-key\n" not in out
