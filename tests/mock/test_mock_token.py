"""The mock gateway's token endpoint (``POST /token``), over loopback and on the command line."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from _credentials_support import Clock

from kipu_hub_service.mock import MockGateway
from kipu_hub_service.mock.__main__ import build_parser
from kipu_hub_service.mock.token import MAX_ISSUED_TOKENS, TokenIssuer, parse_access_key
from kipu_hub_service.testing import mock_gateway, running_mock_gateway

KEY_ID, SECRET = "AKID-test", "s3cr:et/+="
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def basic(key_id: str = KEY_ID, secret: str = SECRET) -> dict[str, str]:
    raw = f"{key_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.fixture
def clock() -> Clock:
    return Clock(1000.0)


@pytest.fixture
def gateway(clock: Clock) -> Iterator[MockGateway]:
    with MockGateway(
        base_path="/acme/vqe/v1",
        access_keys=[f"{KEY_ID}:{SECRET}", "other:pw"],
        tokens=["static-token"],
        token_lifetime=120,
        clock=clock,
    ) as gw:
        yield gw


def fetch(
    gw: MockGateway, data: str = "grant_type=client_credentials", **headers: str
) -> httpx.Response:
    sent = {**basic(), **FORM, **headers}
    return httpx.post(gw.token_url, content=data, headers=sent, timeout=30)


def test_token_url_is_on_the_root_outside_the_base_path(gateway: MockGateway) -> None:
    assert gateway.url.endswith("/acme/vqe/v1")
    assert gateway.token_url == gateway.url.removesuffix("/acme/vqe/v1") + "/token"


def test_issued_token_works_on_the_gateway(gateway: MockGateway) -> None:
    answer = fetch(gateway)
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 120
    assert set(body) == {"access_token", "token_type", "expires_in"}
    listed = httpx.get(
        gateway.url + "/", headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=30
    )
    assert listed.status_code == 200


def test_each_request_gets_a_new_token(gateway: MockGateway) -> None:
    tokens = {fetch(gateway).json()["access_token"] for _ in range(3)}
    assert len(tokens) == 3
    assert gateway.stats()["tokens"] == {"requests": 3, "issued": 3, "rejected": 0, "live": 3}


def test_a_token_expires_after_its_lifetime(gateway: MockGateway, clock: Clock) -> None:
    token = fetch(gateway).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    clock.now += 119
    assert httpx.get(gateway.url + "/", headers=auth, timeout=30).status_code == 200
    clock.now += 1
    expired = httpx.get(gateway.url + "/", headers=auth, timeout=30)
    assert expired.status_code == 401
    assert expired.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_with_access_keys_only_issued_and_static_tokens_pass(gateway: MockGateway) -> None:
    def status(token: str) -> int:
        auth = {"Authorization": f"Bearer {token}"}
        return httpx.get(gateway.url + "/", headers=auth, timeout=30).status_code

    assert status("static-token") == 200
    assert status("anything-else") == 401


def test_without_access_keys_any_token_passes_as_before() -> None:
    with MockGateway() as gw:
        auth = {"Authorization": "Bearer whatever"}
        assert httpx.get(gw.url + "/", headers=auth, timeout=30).status_code == 200
        # The endpoint exists but knows no access key.
        answer = fetch(gw)
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "headers",
    [
        basic(secret="wrong"),
        basic(key_id="nobody"),
        basic(secret=SECRET + "x"),
        {"Authorization": "Bearer " + SECRET},
        {"Authorization": "Basic !!notbase64"},
        {"Authorization": "Basic " + base64.b64encode(KEY_ID.encode()).decode()},
        {"Authorization": ""},
    ],
)
def test_wrong_credentials_are_invalid_client(
    gateway: MockGateway, headers: dict[str, str]
) -> None:
    answer = fetch(gateway, **headers)
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    assert answer.headers["www-authenticate"].startswith("Basic")
    assert SECRET not in answer.text
    assert gateway.stats()["tokens"]["rejected"] == 1


def test_the_other_access_key_works_too(gateway: MockGateway) -> None:
    assert fetch(gateway, **basic("other", "pw")).status_code == 200


@pytest.mark.parametrize(
    ("data", "status", "error"),
    [
        ("grant_type=password", 400, "unsupported_grant_type"),
        ("grant_type=authorization_code&code=x", 400, "unsupported_grant_type"),
        ("", 400, "invalid_request"),
        ("scope=all", 400, "invalid_request"),
        ("grant_type=client_credentials&grant_type=client_credentials", 400, "invalid_request"),
        ("grant_type=client_credentials&scope=everything", 200, None),
    ],
)
def test_the_form_must_be_a_client_credentials_grant(
    gateway: MockGateway, data: str, status: int, error: str | None
) -> None:
    answer = fetch(gateway, data)
    assert answer.status_code == status
    if error is not None:
        assert answer.json()["error"] == error


def test_the_body_must_be_a_form(gateway: MockGateway) -> None:
    answer = fetch(
        gateway, '{"grant_type": "client_credentials"}', **{"Content-Type": "application/json"}
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"


def test_only_post_is_allowed(gateway: MockGateway) -> None:
    answer = httpx.get(gateway.token_url, headers=basic(), timeout=30)
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"
    assert gateway.stats()["tokens"]["requests"] == 0


def test_stats_endpoint_counts_token_requests(gateway: MockGateway) -> None:
    token = fetch(gateway).json()["access_token"]
    fetch(gateway, **basic(secret="nope"))
    stats_url = gateway.token_url.removesuffix("/token") + "/_mock/stats"
    auth = {"Authorization": f"Bearer {token}"}  # with access keys, stats need a token
    stats = httpx.get(stats_url, headers=auth, timeout=30).json()
    assert stats["tokens"] == {"requests": 2, "issued": 1, "rejected": 1, "live": 1}


def test_issued_tokens_are_bounded() -> None:
    issuer = TokenIssuer([f"{KEY_ID}:{SECRET}"], lifetime=3600, clock=lambda: 0.0)
    headers = {k.lower(): v for k, v in {**basic(), **FORM}.items()}
    first = issuer.handle("POST", headers, b"grant_type=client_credentials").payload["access_token"]
    for _ in range(MAX_ISSUED_TOKENS):
        last = issuer.handle("POST", headers, b"grant_type=client_credentials")
    assert issuer.counts()["live"] == MAX_ISSUED_TOKENS
    assert not issuer.accepts(first)
    assert issuer.accepts(last.payload["access_token"])


def test_expired_tokens_are_forgotten_when_new_ones_are_issued(clock: Clock) -> None:
    issuer = TokenIssuer({KEY_ID: SECRET}, lifetime=10, clock=clock)
    headers = {k.lower(): v for k, v in {**basic(), **FORM}.items()}
    for _ in range(5):
        issuer.handle("POST", headers, b"grant_type=client_credentials")
    clock.now += 10
    issuer.handle("POST", headers, b"grant_type=client_credentials")
    assert issuer.counts()["live"] == 1


@pytest.mark.parametrize(
    "text", ["nocolon", ":pw9x", "id:", "i d:pw9x", "id:pw\n9x", "id:pw\t9x", "id:pw\x7f9x"]
)
def test_bad_access_keys_are_refused_without_echoing_the_secret(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_access_key(text)
    secret = text.partition(":")[2]
    assert not secret or secret not in str(caught.value)


@pytest.mark.parametrize("lifetime", [0, -1, 1.5, True])
def test_bad_lifetimes_are_refused(lifetime: object) -> None:
    with pytest.raises(ValueError, match="lifetime"):
        TokenIssuer(["a:b"], lifetime=lifetime)  # type: ignore[arg-type]


def test_running_mock_gateway_and_mock_gateway_take_the_options() -> None:
    with running_mock_gateway(access_keys={KEY_ID: SECRET}, token_lifetime=5) as url:
        root = re.match(r"http://[^/]+", url)
        assert root is not None
        answer = httpx.post(
            root.group(0) + "/token",
            content="grant_type=client_credentials",
            headers={**basic(), **FORM},
            timeout=30,
        )
        assert answer.json()["expires_in"] == 5
    with mock_gateway(access_keys=[f"{KEY_ID}:{SECRET}"]) as gw:
        assert fetch(gw).json()["expires_in"] == 3600


@pytest.mark.hub_service_mock(access_keys=[f"{KEY_ID}:{SECRET}"], token_lifetime=7)
def test_the_fixture_takes_the_options(hub_service_mock: MockGateway) -> None:
    assert fetch(hub_service_mock).json()["expires_in"] == 7
    assert (
        httpx.get(
            hub_service_mock.url + "/", headers={"Authorization": "Bearer x"}, timeout=30
        ).status_code
        == 401
    )


def test_command_line_options() -> None:
    args = build_parser().parse_args(["--access-key", "a:b", "--access-key", "c:d"])
    assert args.access_keys == ["a:b", "c:d"] and args.token_lifetime == 3600
    assert build_parser().parse_args(["--token-lifetime", "30"]).token_lifetime == 30


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--access-key", "nocolon"], "ID:SECRET"),
        (["--access-key", "i d:secret"], "whitespace"),
        (["--access-key", "id:tab\tsecret"], "control characters"),
        (["--token-lifetime", "0"], "at least 1"),
        (["--token-lifetime", "x"], "not an integer"),
    ],
)
def test_bad_command_line_options_exit_2(args: list[str], fragment: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kipu_hub_service.mock", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert fragment in result.stderr and "Traceback" not in result.stderr
    assert "with space" not in result.stderr


def test_the_command_serves_the_token_endpoint() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kipu_hub_service.mock",
            "--port",
            "0",
            "--access-key",
            f"{KEY_ID}:{SECRET}",
            "--token-lifetime",
            "42",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline(), process.stdout.readline()]
        found = re.search(r"Token endpoint (http://\S+/token) \(access key ids: (.*)\)", lines[1])
        assert found is not None, lines
        assert found.group(2) == KEY_ID and SECRET not in "".join(lines)
        answer = httpx.post(
            found.group(1),
            content="grant_type=client_credentials",
            headers={**basic(), **FORM},
            timeout=30,
        )
        assert answer.json()["expires_in"] == 42
    finally:
        process.terminate()
        process.wait(timeout=20)
        if process.stdout is not None:
            process.stdout.close()
