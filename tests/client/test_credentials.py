"""``ClientCredentials`` on its own: checks, wire format, answers, errors, secrecy."""

from __future__ import annotations

import base64
import copy
import json
import pickle

import httpx
import pytest

from kipu_hub_service import ApiError, AuthenticationError, ResponseValidationError
from kipu_hub_service.credentials import (
    DEFAULT_TOKEN_ENDPOINT,
    ClientCredentials,
    TokenEndpointError,
)
from kipu_hub_service.testing import sdk_transport

KEY_ID = "AKID-42"
SECRET = "s3cr:et/+=é"  # a colon, base64 and form specials, non-ASCII: all sent raw
ENDPOINT = "https://gateway.example.test/token"


def creds(**options: object) -> ClientCredentials:
    options.setdefault("token_endpoint", ENDPOINT)
    return ClientCredentials(KEY_ID, SECRET, **options)  # type: ignore[arg-type]


def no_secret(text: str) -> None:
    assert SECRET not in text
    basic = base64.b64encode(f"{KEY_ID}:{SECRET}".encode()).decode()
    assert basic not in text


# -- construction ---------------------------------------------------------------------------


def test_defaults() -> None:
    c = ClientCredentials(KEY_ID, SECRET)
    assert c.access_key_id == KEY_ID
    assert (
        c.token_endpoint == DEFAULT_TOKEN_ENDPOINT == "https://gateway.hub.kipu-quantum.com/token"
    )
    assert c._wait_timeout == 300


@pytest.mark.parametrize(
    ("key_id", "secret", "error", "fragment"),
    [
        (None, SECRET, TypeError, "access_key_id must be a str"),
        (KEY_ID, None, TypeError, "secret_access_key must be a str"),
        ("", SECRET, ValueError, "access_key_id is empty"),
        (KEY_ID, "", ValueError, "secret_access_key is empty"),
        (KEY_ID, " pw9x-hidden", ValueError, "secret_access_key has surrounding whitespace"),
        (KEY_ID, "pw9x-hidden\n", ValueError, "secret_access_key has surrounding whitespace"),
        (KEY_ID, "pw9x\x00hidden", ValueError, "control characters"),
        ("id:x", SECRET, ValueError, "may not contain ':'"),
    ],
)
def test_bad_values_are_refused_without_echoing_them(
    key_id: object, secret: object, error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error, match=fragment) as caught:
        ClientCredentials(key_id, secret)  # type: ignore[arg-type]
    assert "pw9x" not in str(caught.value)


@pytest.mark.parametrize(
    ("endpoint", "fragment"),
    [
        ("http://gateway.example.test/token", "must use https"),
        ("ftp://gateway.example.test/token", "absolute http"),
        ("/token", "absolute http"),
        ("https://user:pw@gateway.example.test/token", "user info"),
        ("https://gateway.example.test/token#x", "fragment"),
        (42, "must be a str"),
    ],
)
def test_bad_endpoints_are_refused(endpoint: object, fragment: str) -> None:
    with pytest.raises((ValueError, TypeError), match=fragment):
        creds(token_endpoint=endpoint)


@pytest.mark.parametrize(
    "endpoint",
    ["http://127.0.0.1:8080/token", "http://localhost/token", "http://[::1]:9/token"],
)
def test_plain_http_is_allowed_on_loopback(endpoint: str) -> None:
    assert creds(token_endpoint=endpoint).token_endpoint == endpoint


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("refresh_margin", -1),
        ("default_lifetime", 0),
        ("wait_timeout", float("nan")),
        ("wait_timeout", True),
        ("default_lifetime", "300"),
    ],
)
def test_bad_durations_are_refused(option: str, value: object) -> None:
    with pytest.raises((ValueError, TypeError), match=option):
        creds(**{option: value})


# -- from_env -------------------------------------------------------------------------------


def test_from_env_reads_the_three_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_SERVICE_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("HUB_SERVICE_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("HUB_SERVICE_TOKEN_ENDPOINT", ENDPOINT)
    c = ClientCredentials.from_env()
    assert (c.access_key_id, c.token_endpoint) == (KEY_ID, ENDPOINT)


def test_from_env_takes_a_mapping_and_options() -> None:
    env = {"HUB_SERVICE_ACCESS_KEY_ID": KEY_ID, "HUB_SERVICE_SECRET_ACCESS_KEY": SECRET}
    c = ClientCredentials.from_env(env, wait_timeout=5)
    assert c.token_endpoint == DEFAULT_TOKEN_ENDPOINT and c._wait_timeout == 5


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({}, "HUB_SERVICE_ACCESS_KEY_ID"),
        ({"HUB_SERVICE_ACCESS_KEY_ID": ""}, "HUB_SERVICE_ACCESS_KEY_ID"),
        ({"HUB_SERVICE_ACCESS_KEY_ID": KEY_ID}, "HUB_SERVICE_SECRET_ACCESS_KEY"),
        (
            {"HUB_SERVICE_ACCESS_KEY_ID": KEY_ID, "HUB_SERVICE_SECRET_ACCESS_KEY": ""},
            "HUB_SERVICE_SECRET_ACCESS_KEY",
        ),
    ],
)
def test_from_env_names_a_missing_variable(env: dict[str, str], missing: str) -> None:
    with pytest.raises(ValueError, match=missing):
        ClientCredentials.from_env(env)


def test_from_env_reports_a_bad_value_without_it() -> None:
    env = {
        "HUB_SERVICE_ACCESS_KEY_ID": KEY_ID,
        "HUB_SERVICE_SECRET_ACCESS_KEY": "pw9x-hidden\n",
        "HUB_SERVICE_TOKEN_ENDPOINT": ENDPOINT,
    }
    with pytest.raises(ValueError, match="from the environment") as caught:
        ClientCredentials.from_env(env)
    assert "pw9x" not in str(caught.value)


# -- secrecy --------------------------------------------------------------------------------


def test_repr_and_str_show_the_key_id_not_the_secret() -> None:
    c = creds()
    assert repr(c) == f"ClientCredentials(access_key_id='{KEY_ID}', token_endpoint='{ENDPOINT}')"
    no_secret(repr(c))
    no_secret(str(c))
    no_secret(repr(c._endpoint_auth))
    assert not any(hasattr(c, name) for name in _PLUMBING)


_PLUMBING = ("token_request", "issued_token", "refusal", "endpoint_auth", "now", "redact")
"""What the credentials used to show users, private now (the exchange is the client's)."""


def test_it_cannot_be_pickled_and_copies_are_itself() -> None:
    c = creds()
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError, match="cannot be pickled") as caught:
            pickle.dumps(c, protocol)
        no_secret(str(caught.value))
    assert copy.copy(c) is c and copy.deepcopy({"c": c})["c"] is c


def test_redact_replaces_the_secret_and_its_basic_value() -> None:
    c = creds()
    basic = base64.b64encode(f"{KEY_ID}:{SECRET}".encode()).decode()
    assert c._redact(f"x {SECRET} y {basic} z") == "x *** y *** z"


# -- the request ----------------------------------------------------------------------------


def send(c: ClientCredentials, redirect_to: str | None = None) -> list[httpx.Request]:
    """Fetch a token (``get_token``) from a mock endpoint, which first redirects to
    ``redirect_to`` when given; record what went out."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        if redirect_to is not None and len(seen) == 1:
            return httpx.Response(307, headers={"Location": redirect_to})
        return httpx.Response(200, json={"access_token": "tok-123456"})

    with sdk_transport(httpx.MockTransport(handler)):
        assert c.get_token() == "tok-123456"
    return seen


def test_wire_format_is_exact() -> None:
    (request,) = send(creds())
    assert request.method == "POST"
    assert str(request.url) == ENDPOINT
    raw = f"{KEY_ID}:{SECRET}".encode()
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(raw).decode()
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["Accept"] == "application/json"
    assert request.content == b"grant_type=client_credentials"
    assert request.headers["Content-Length"] == str(len(b"grant_type=client_credentials"))


def test_the_basic_credentials_go_to_the_endpoint_origin_only() -> None:
    for elsewhere in ("https://evil.example.test/token", "https://gateway.example.test:8443/t"):
        first, second = send(creds(), elsewhere)
        assert first.headers["Authorization"].startswith("Basic ")
        assert str(second.url) == elsewhere and "Authorization" not in second.headers
    first, second = send(creds(), "https://gateway.example.test/elsewhere")
    assert second.headers["Authorization"] == first.headers["Authorization"]
    assert creds()._endpoint_auth.applies_to(httpx.URL("https://gateway.example.test/elsewhere"))
    assert not creds()._endpoint_auth.applies_to(httpx.URL("http://gateway.example.test/token"))


# -- the answer -----------------------------------------------------------------------------


def answer(**body: object) -> bytes:
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("expires_in", "lifetime", "refresh_after"),
    [
        (3600, 3600, 3540),  # the 60 s margin
        (120, 120, 60),  # 60 s is half: still fine
        (60, 60, 30),  # capped at half the lifetime
        (1, 1, 0.5),
        ("90", 90, 45),  # a number in a string
        (None, 300, 240),  # no expires_in: the documented default
    ],
)
def test_lifetime_and_refresh_margin(
    expires_in: object, lifetime: float, refresh_after: float
) -> None:
    body = {"access_token": "tok-123456", "token_type": "Bearer"}
    if expires_in is not None:
        body["expires_in"] = expires_in
    issued = creds()._issued_token(json.dumps(body).encode(), sent_at=1000.0)
    assert issued.access_token == "tok-123456"
    assert issued.lifetime == lifetime
    assert issued.refresh_at == 1000.0 + refresh_after
    assert issued.expires_at == 1000.0 + lifetime
    assert "tok-123456" not in repr(issued)


def test_margin_and_default_lifetime_are_options() -> None:
    c = creds(refresh_margin=10, default_lifetime=50)
    assert c._issued_token(answer(access_token="tok-1234"), 0).refresh_at == 40
    assert c._issued_token(answer(access_token="tok-1234", expires_in=8), 0).refresh_at == 4


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (answer(token_type="Bearer", expires_in=60, note="tok-secret-9"), "has no access_token"),
        (answer(access_token="", expires_in=60), "unusable access_token"),
        (answer(access_token="tok secret-9"), "unusable access_token"),
        (answer(access_token=12345678), "unusable access_token"),
        (answer(access_token="tok-secret-9", token_type="mac"), "other than Bearer"),
        (answer(access_token="tok-secret-9", expires_in=-5), "not a positive number"),
        (answer(access_token="tok-secret-9", expires_in=0), "not a positive number"),
        (answer(access_token="tok-secret-9", expires_in="soon"), "not a number"),
        (answer(access_token="tok-secret-9", expires_in=True), "not a number"),
        (answer(access_token="tok-secret-9", expires_in=[1]), "not a number"),
        (b'["tok-secret-9"]', "not a JSON object"),
        (b"access_token=tok-secret-9", "not a JSON object"),
        (b"", "not a JSON object"),
        (b"{" * 100_000, "not a JSON object"),
    ],
)
def test_unusable_answers_are_response_validation_errors(content: bytes, fragment: str) -> None:
    with pytest.raises(ResponseValidationError, match=fragment) as caught:
        creds()._issued_token(content, 0)
    error = caught.value
    assert KEY_ID in str(error)
    for text in (str(error), repr(error), repr(error.body), repr(pickle.dumps(error))):
        assert "secret-9" not in text
        no_secret(text)


def test_the_case_of_bearer_does_not_matter() -> None:
    issued = creds()._issued_token(answer(access_token="tok-1234", token_type="bearer"), 0)
    assert issued.access_token == "tok-1234"


# -- refusals -------------------------------------------------------------------------------


def test_a_refusal_carries_status_oauth_error_and_key_id_but_no_secret() -> None:
    c = creds()
    content = answer(error="invalid_client", error_description=f"bad secret {SECRET}\nfor you")
    error = c._refusal(401, content, {"www-authenticate": f'Basic realm="{SECRET}"'})
    assert isinstance(error, TokenEndpointError)
    assert isinstance(error, AuthenticationError) and isinstance(error, ApiError)
    assert error.status_code == 401
    assert error.oauth_error == "invalid_client"
    assert error.error_description == "bad secret *** for you"
    assert error.access_key_id == KEY_ID
    assert str(error) == (
        f"the token endpoint refused access key '{KEY_ID}' "
        "(401 invalid_client: bad secret *** for you)"
    )
    copied = pickle.loads(pickle.dumps(error))
    assert (copied.oauth_error, copied.access_key_id, copied.status_code) == (
        "invalid_client",
        KEY_ID,
        401,
    )
    for text in (str(error), repr(error), repr(error.body), repr(error.headers)):
        no_secret(text)
    no_secret(pickle.dumps(error).decode("latin-1"))


@pytest.mark.parametrize(
    "content", [b"", b"<html>nope</html>", b"[1]", answer(error=5), b"{" * 100_000]
)
def test_a_refusal_without_an_oauth_body(content: bytes) -> None:
    error = creds()._refusal(400, content)
    assert error.status_code == 400 and error.oauth_error is None
    assert error.error_description is None
    assert "400 no OAuth error code" in str(error)


def test_a_long_description_is_shortened() -> None:
    error = creds()._refusal(400, answer(error="invalid_request", error_description="x" * 5000))
    assert error.error_description == "x" * 200


@pytest.mark.parametrize("visible", [4, 6, len(SECRET) - 1])
def test_a_token_endpoint_error_body_cut_inside_the_secret_shows_no_part_of_it(
    visible: int,
) -> None:
    """The 64 KiB error-body cap cuts an echoed secret: its visible start is masked too."""
    from kipu_hub_service import APIStatusError, HubServiceClient
    from kipu_hub_service.core.api_error import BODY_CAP

    head = SECRET[:visible]
    body = ("x" * (BODY_CAP - len(head.encode()))).encode() + SECRET.encode() + b" tail"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, content=body, headers={"content-type": "text/plain"})

    client = HubServiceClient(
        base_url="https://gateway.example.test/acme/vqe/v1",
        token=creds(),
        max_retries=0,
        httpx_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    with client, pytest.raises(APIStatusError) as caught:
        client.service_api.get_status("abc")
    error = caught.value
    assert error.body_truncated
    shown = error.body if isinstance(error.body, str) else json.dumps(error.body)
    assert shown.endswith("***")
    assert head not in shown[-len(head) - 3 :]
    for text in (str(error), repr(error), shown):
        assert SECRET not in text
