"""Tokens: refresh on 401, refusal of unsafe tokens, no leaks, never sent to another origin."""

from __future__ import annotations

import asyncio
import itertools
import logging
import pickle
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from _client_support import BASE, Driver, FakeGateway, execution_json

from kipu_hub_service import (
    AsyncHubServiceClient,
    AuthenticationError,
    HubServiceClient,
    NotFoundError,
    PermissionDeniedError,
    ResponseValidationError,
)
from kipu_hub_service._auth import TokenAuth
from kipu_hub_service.testing import sdk_transport

SECRET = "s3cr3t-token-value-XYZ"


def _auth_gateway(valid: set[str]) -> tuple[list[str | None], object]:
    """Records the Authorization of each request as sent (the retried request is the same
    object with a new header, so the header value is what must be kept)."""
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        if seen[-1] not in {f"Bearer {v}" for v in valid}:
            return httpx.Response(401, json={"detail": "token expired"})
        return httpx.Response(200, json=execution_json())

    return seen, handler


def _token_sequence(*tokens: str) -> tuple[list[str], object]:
    handed: list[str] = []
    source = iter(tokens)

    def token() -> str:
        value = next(source)
        handed.append(value)
        return value

    return handed, token


def test_callable_token_refreshed_once_on_401(driver: Driver) -> None:
    seen, handler = _auth_gateway({"fresh"})
    handed, token = _token_sequence("stale", "fresh")
    client = driver.client(handler, token=token)
    assert driver.call(client, "get_status", "exec-1").id == "exec-1"
    assert seen == ["Bearer stale", "Bearer fresh"]
    assert handed == ["stale", "fresh"]


def test_callable_token_second_401_is_raised(driver: Driver) -> None:
    seen, handler = _auth_gateway(set())
    _, token = _token_sequence("one", "two", "three")
    client = driver.client(handler, token=token, max_retries=5)
    with pytest.raises(AuthenticationError) as info:
        driver.call(client, "get_status", "exec-1")
    assert info.value.status_code == 401
    assert len(seen) == 2


def test_callable_token_returning_the_same_token_is_not_retried(driver: Driver) -> None:
    seen, handler = _auth_gateway(set())
    client = driver.client(handler, token=lambda: "always-the-same")
    with pytest.raises(AuthenticationError):
        driver.call(client, "get_status", "exec-1")
    assert len(seen) == 1


def test_fixed_token_401_is_raised_at_once(driver: Driver) -> None:
    seen, handler = _auth_gateway(set())
    client = driver.client(handler, token="fixed-token", max_retries=5)
    with pytest.raises(AuthenticationError):
        driver.call(client, "get_status", "exec-1")
    assert len(seen) == 1


def test_async_token_refreshed_once_on_401() -> None:
    driver = Driver("async")
    try:
        seen, handler = _auth_gateway({"async-fresh"})
        tokens = iter(["async-stale", "async-fresh"])

        async def async_token() -> str:
            return next(tokens)

        client = driver.client(handler, async_token=async_token)
        driver.call(client, "get_status", "exec-1")
        assert seen == ["Bearer async-stale", "Bearer async-fresh"]
    finally:
        driver.close()


def test_token_refresh_works_for_streamed_files(driver: Driver) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers["Authorization"] != "Bearer fresh":
            return httpx.Response(401, json={"detail": "expired"})
        return httpx.Response(200, content=b"file-bytes")

    _, token = _token_sequence("stale", "fresh")
    client = driver.client(handler, token=token)
    assert b"".join(driver.file(client, "e", "f")) == b"file-bytes"
    assert len(seen) == 2


BAD_TOKENS = [
    "abc\r\nX-Injected: 1",
    "abc\ndef",
    "abc\rdef",
    "a\x00b",
    "tab\tinside",
    "with space",
    "trailing-newline\n",
    "ünicode",
    "del\x7f",
    "",
]


@pytest.mark.parametrize("bad", BAD_TOKENS)
def test_unsafe_fixed_token_is_refused_at_construction(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        HubServiceClient(base_url=BASE, token=bad)
    if bad:
        assert bad not in str(info.value)
    with pytest.raises(ValueError):
        AsyncHubServiceClient(base_url=BASE, token=bad)


@pytest.mark.parametrize("bad", BAD_TOKENS)
def test_unsafe_callable_token_is_refused_before_sending(driver: Driver, bad: str) -> None:
    gateway = FakeGateway()
    client = driver.client(gateway, token=lambda: bad)
    with pytest.raises(ValueError):
        driver.call(client, "get_service_executions")
    with pytest.raises(ValueError):
        driver.file(client, "e", "f")
    assert gateway.requests == []


def test_unsafe_async_token_is_refused_before_sending() -> None:
    driver = Driver("async")
    try:
        gateway = FakeGateway()

        async def async_token() -> str:
            return "evil\r\nHost: attacker"

        client = driver.client(gateway, async_token=async_token)
        with pytest.raises(ValueError):
            driver.call(client, "get_service_executions")
        assert gateway.requests == []
    finally:
        driver.close()


def test_callable_token_must_return_str(driver: Driver) -> None:
    client = driver.client(FakeGateway(), token=lambda: None)
    with pytest.raises(TypeError, match="token must be a str"):
        driver.call(client, "get_service_executions")


# No leaks ----------------------------------------------------------------------------------


def test_token_not_in_reprs(driver: Driver) -> None:
    client = driver.client(FakeGateway(), token=SECRET)
    assert SECRET not in repr(client)
    assert SECRET not in repr(client.service_api)
    assert SECRET not in repr(TokenAuth(SECRET))
    assert SECRET not in repr(vars(client))


def test_token_not_in_error_messages_even_when_echoed(driver: Driver) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        echoed = request.headers["Authorization"]
        return httpx.Response(404, json={"detail": f"no execution for {echoed}"})

    for token in (SECRET, lambda: SECRET):
        client = driver.client(handler, token=token)
        with pytest.raises(NotFoundError) as info:
            driver.call(client, "get_status", "x")
        assert SECRET not in str(info.value)
        assert SECRET not in repr(info.value)
        assert "***" in str(info.value)


def test_token_never_logged(driver: Driver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    answers = iter(
        [
            httpx.Response(503),
            httpx.Response(401, json={"detail": "expired"}),
            httpx.Response(200, json=execution_json()),
            httpx.Response(500, json={"detail": "x"}),
        ]
    )
    _, token = _token_sequence(SECRET + "1", SECRET + "2", SECRET + "3", SECRET + "4")
    client = driver.client(
        lambda request: next(answers, httpx.Response(500)),
        token=token,
        logging={"level": "DEBUG"},
        max_retries=1,
    )
    driver.call(client, "get_status", "exec-1")
    with pytest.raises(Exception):  # noqa: B017 - any error; the point is the log
        driver.call(client, "get_status", "exec-1", request_options={"max_retries": 0})
    assert caplog.records
    assert SECRET not in caplog.text


def test_the_401_before_a_token_refresh_is_logged(
    driver: Driver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="kipu_hub_service")
    seen, handler = _auth_gateway({SECRET + "fresh"})
    _, token = _token_sequence(SECRET + "stale", SECRET + "fresh")
    client = driver.client(handler, token=token)
    assert driver.call(client, "get_status", "exec-1").id == "exec-1"
    assert len(seen) == 2
    lines = [r.getMessage() for r in caplog.records if r.name == "kipu_hub_service"]
    prefix = httpx.URL(BASE).path.rstrip("/")
    assert lines == [f"GET {prefix}/exec-1 -> 401", f"GET {prefix}/exec-1 -> 200"]
    assert SECRET not in caplog.text


def test_the_401_before_a_token_refresh_is_logged_for_a_streamed_file(
    driver: Driver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="kipu_hub_service")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") != f"Bearer {SECRET}fresh":
            return httpx.Response(401, json={"detail": "token expired"})
        return httpx.Response(200, content=b"data")

    _, token = _token_sequence(SECRET + "stale", SECRET + "fresh")
    client = driver.client(handler, token=token)
    assert b"".join(driver.file(client, "exec-1", "f.bin")) == b"data"
    lines = [r.getMessage() for r in caplog.records if r.name == "kipu_hub_service"]
    path = httpx.URL(BASE).path.rstrip("/") + "/exec-1/result/f.bin"
    assert lines == [f"GET {path} -> 401", f"GET {path} -> 200"]
    assert SECRET not in caplog.text


# Redirects ---------------------------------------------------------------------------------


def _redirect_chain(*locations: str) -> tuple[list[httpx.Request], object]:
    seen: list[httpx.Request] = []
    targets = list(locations)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if targets:
            return httpx.Response(302, headers={"Location": targets.pop(0)})
        return httpx.Response(200, json=execution_json())

    return seen, handler


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/steal",
        "https://gateway.test:8443/acme/vqe/v1/x",
        "http://gateway.test/acme/vqe/v1/x",
        "//evil.example/x",
    ],
)
def test_token_not_sent_to_another_origin(driver: Driver, target: str) -> None:
    seen, handler = _redirect_chain(target)
    client = driver.client(handler, token=SECRET, headers={"X-Other": "kept"})
    driver.call(client, "get_status", "x")
    assert len(seen) == 2
    assert seen[0].headers["Authorization"] == f"Bearer {SECRET}"
    assert "Authorization" not in seen[1].headers
    assert seen[1].headers["X-Other"] == "kept"


def test_token_kept_on_same_origin_redirect_and_restored_after_a_detour(driver: Driver) -> None:
    seen, handler = _redirect_chain("/acme/vqe/v1/moved", "https://cdn.example/y", BASE + "/back")
    client = driver.client(handler, token=lambda: SECRET)
    driver.call(client, "get_status", "x")
    auth = [r.headers.get("Authorization") for r in seen]
    assert auth == [f"Bearer {SECRET}", f"Bearer {SECRET}", None, f"Bearer {SECRET}"]


def test_user_authorization_header_not_sent_to_another_origin(driver: Driver) -> None:
    seen, handler = _redirect_chain("https://evil.example/")
    options = {"additional_headers": {"Authorization": "Basic c2VjcmV0"}}
    client = driver.client(handler)
    driver.call(client, "get_status", "x", request_options=options)
    assert "Authorization" not in seen[1].headers


_CREDENTIALS = {"Cookie": "session=abc", "Proxy-Authorization": "Basic cHJveHk="}


def _client_with_credentials(driver: Driver, handler: object, setup: str) -> object:
    """A client whose requests carry ``_CREDENTIALS`` and ``X-Other``: passed as ``headers=``
    to an SDK-made or an injected client, or as the injected client's own default headers."""
    headers = {**_CREDENTIALS, "X-Other": "kept"}
    if setup == "sdk":
        with sdk_transport(httpx.MockTransport(handler)):  # type: ignore[arg-type]
            return driver.client(inject=False, token=SECRET, headers=headers)
    if setup == "injected":
        return driver.client(handler, token=SECRET, headers=headers)
    transport = httpx.MockTransport(handler)  # type: ignore[arg-type]
    http = (
        httpx.AsyncClient(transport=transport, headers=headers)
        if driver.is_async
        else httpx.Client(transport=transport, headers=headers)
    )
    return driver.client(token=SECRET, httpx_client=http)


_SETUPS = ["sdk", "injected", "injected-defaults"]


@pytest.mark.parametrize("setup", _SETUPS)
def test_cookie_and_credentials_not_sent_to_another_origin(driver: Driver, setup: str) -> None:
    seen, handler = _redirect_chain("https://evil.example/x", BASE + "/back")
    client = _client_with_credentials(driver, handler, setup)
    driver.call(client, "get_status", "x")
    assert [r.url.host for r in seen] == ["gateway.test", "evil.example", "gateway.test"]
    assert seen[0].headers["Cookie"] == "session=abc"
    assert seen[0].headers["Proxy-Authorization"] == "Basic cHJveHk="
    for request in seen[1:]:
        assert "Cookie" not in request.headers
        assert "Proxy-Authorization" not in request.headers
        assert request.headers["X-Other"] == "kept"
    assert "Authorization" not in seen[1].headers
    assert seen[2].headers["Authorization"] == f"Bearer {SECRET}"


@pytest.mark.parametrize("setup", _SETUPS)
def test_cookie_and_credentials_kept_on_a_same_origin_redirect(driver: Driver, setup: str) -> None:
    seen, handler = _redirect_chain("/acme/vqe/v1/moved")
    client = _client_with_credentials(driver, handler, setup)
    driver.call(client, "get_status", "x")
    assert len(seen) == 2
    for name, value in _CREDENTIALS.items():
        assert seen[1].headers[name] == value
    assert seen[1].headers["Authorization"] == f"Bearer {SECRET}"


def test_result_file_redirect_to_storage_drops_the_token(driver: Driver) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "gateway.test":
            return httpx.Response(302, headers={"Location": "https://storage.example/obj?sig=1"})
        return httpx.Response(200, content=b"stored-bytes")

    client = driver.client(handler, token=SECRET)
    assert b"".join(driver.file(client, "e", "f")) == b"stored-bytes"
    assert "Authorization" not in seen[1].headers
    assert str(seen[1].url) == "https://storage.example/obj?sig=1"


ECHO_SECRET = "s3cr3t-Tok3n-echo-0987"


def _echoing(status: int, secret: str) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status,
            json={
                "detail": "x" * 190 + f" rejected {secret}",
                "errors": [{"token": secret, secret: ["at", f"Bearer {secret}!"]}],
                "count": 1,
            },
            headers={"WWW-Authenticate": f'Bearer error="invalid_token" token="{secret}"'},
        )

    return handler


@pytest.mark.parametrize("kind", ["fixed", "callable"])
def test_echoed_token_is_redacted_from_message_body_headers_and_pickle(
    driver: Driver, kind: str
) -> None:
    token: object = ECHO_SECRET if kind == "fixed" else (lambda: ECHO_SECRET)
    client = driver.client(_echoing(401, ECHO_SECRET), token=token)
    with pytest.raises(AuthenticationError) as info:
        driver.call(client, "get_status", "x")
    error = info.value
    for text in (str(error), repr(error), repr(error.body), repr(error.headers)):
        assert ECHO_SECRET[:6] not in text
    assert ECHO_SECRET.encode() not in pickle.dumps(error)
    assert error.body["errors"] == [{"token": "***", "***": ["at", "Bearer ***!"]}]
    assert error.body["count"] == 1
    assert error.headers is not None
    assert error.headers["www-authenticate"] == 'Bearer error="invalid_token" token="***"'


def test_echoed_token_is_redacted_from_a_text_body(driver: Driver) -> None:
    client = driver.client(
        lambda request: httpx.Response(403, text=f"token {ECHO_SECRET} may not"),
        token=ECHO_SECRET,
    )
    with pytest.raises(PermissionDeniedError) as info:
        driver.call(client, "get_status", "x")
    assert info.value.body == "token *** may not"


def test_echoed_token_is_redacted_from_an_invalid_success_body(driver: Driver) -> None:
    client = driver.client(
        lambda request: httpx.Response(200, json={"id": 1, "echo": ECHO_SECRET}),
        token=ECHO_SECRET,
    )
    with pytest.raises(ResponseValidationError) as info:
        driver.call(client, "get_status", "x")
    assert ECHO_SECRET not in info.value.body
    assert "***" in info.value.body
    assert ECHO_SECRET.encode() not in pickle.dumps(info.value)


@pytest.mark.parametrize(("token", "redacted"), [("abcd", True), ("abc", False)])
def test_tokens_of_four_characters_or_more_are_redacted(
    driver: Driver, token: str, redacted: bool
) -> None:
    client = driver.client(
        lambda request: httpx.Response(404, json={"detail": f"no {token}x here"}), token=token
    )
    with pytest.raises(NotFoundError) as info:
        driver.call(client, "get_status", "x")
    expected = "no ***x here" if redacted else f"no {token}x here"
    assert info.value.body == {"detail": expected}
    assert str(info.value).endswith(expected)


def test_every_recent_callable_token_is_redacted(driver: Driver) -> None:
    tokens = iter(["first-token-aaaa", "second-token-bbbb"])
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"].removeprefix("Bearer "))
        return httpx.Response(401, json={"detail": f"tokens seen: {' '.join(seen)}"})

    client = driver.client(handler, token=lambda: next(tokens))
    with pytest.raises(AuthenticationError) as info:
        driver.call(client, "get_status", "x")
    assert seen == ["first-token-aaaa", "second-token-bbbb"]
    assert info.value.body == {"detail": "tokens seen: *** ***"}


_CONCURRENT = 10


def _fresh_tokens() -> Callable[[], str]:
    counter = itertools.count()
    lock = threading.Lock()

    def token() -> str:
        with lock:
            return f"tok-{next(counter):06d}-secret"

    return token


def _echo(request: httpx.Request, invalid: bool = False) -> httpx.Response:
    token = request.headers["Authorization"].removeprefix("Bearer ")
    if invalid:
        return httpx.Response(200, json={"id": 1, "echo": f"token {token} lacks scope"})
    return httpx.Response(403, json={"message": f"token {token} lacks scope"})


def _assert_no_token_leaked(results: list[object], invalid: bool = False) -> None:
    assert len(results) == _CONCURRENT
    for error in results:
        expected = ResponseValidationError if invalid else PermissionDeniedError
        assert isinstance(error, expected)
        assert "secret" not in str(error)
        assert "secret" not in repr(error.body)
        assert b"secret" not in pickle.dumps(error)
        assert "token *** lacks scope" in (error.body if invalid else str(error))


@pytest.mark.parametrize("invalid", [False, True], ids=["403", "invalid-2xx"])
@pytest.mark.parametrize("kind", ["token", "async_token"])
async def test_concurrent_calls_with_a_fresh_token_each_redact_their_own(
    kind: str, invalid: bool
) -> None:
    arrived = 0
    all_in = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal arrived
        arrived += 1
        if arrived == _CONCURRENT:
            all_in.set()
        await asyncio.wait_for(all_in.wait(), 5)
        return _echo(request, invalid)

    fresh = _fresh_tokens()

    async def async_fresh() -> str:
        return fresh()

    source: dict[str, object] = (
        {"token": fresh} if kind == "token" else {"async_token": async_fresh}
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = AsyncHubServiceClient(base_url=BASE, httpx_client=http, **source)  # type: ignore[arg-type]
        results = await asyncio.gather(
            *[client.service_api.get_status(f"e{i}") for i in range(_CONCURRENT)],
            return_exceptions=True,
        )
    _assert_no_token_leaked(list(results), invalid)


def test_concurrent_threads_with_a_fresh_token_each_redact_their_own() -> None:
    barrier = threading.Barrier(_CONCURRENT, timeout=5)

    def handler(request: httpx.Request) -> httpx.Response:
        barrier.wait()
        return _echo(request)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    client = HubServiceClient(base_url=BASE, token=_fresh_tokens(), httpx_client=http)

    def call(index: int) -> object:
        try:
            return client.service_api.get_status(f"e{index}")
        except PermissionDeniedError as exc:
            return exc

    with ThreadPoolExecutor(_CONCURRENT) as pool:
        results = list(pool.map(call, range(_CONCURRENT)))
    http.close()
    _assert_no_token_leaked(results)


class _CachedToken:
    """A token callable caching its token until ``invalidate()``, like the CLI's."""

    def __init__(self, *tokens: str, awaitable_invalidate: bool = False) -> None:
        self._tokens = iter(tokens)
        self._cached: str | None = None
        self._awaitable = awaitable_invalidate
        self.events: list[str] = []

    def invalidate(self) -> object:
        self.events.append("invalidate")
        self._cached = None
        if self._awaitable:

            async def done() -> None:
                self.events.append("awaited")

            return done()
        return None

    def _get(self) -> str:
        if self._cached is None:
            self._cached = next(self._tokens)
            self.events.append(f"fetch {self._cached}")
        return self._cached

    def __call__(self) -> str:
        return self._get()


class _AsyncCachedToken(_CachedToken):
    async def __call__(self) -> str:  # type: ignore[override]
        return self._get()


def test_token_callable_invalidate_is_called_after_a_401_before_the_fresh_token(
    driver: Driver,
) -> None:
    seen, handler = _auth_gateway({"fresh"})
    token = _CachedToken("stale", "fresh")
    client = driver.client(handler, token=token)
    assert driver.call(client, "get_status", "x").id == "exec-1"
    assert driver.call(client, "get_status", "y").id == "exec-1"
    assert seen == ["Bearer stale", "Bearer fresh", "Bearer fresh"]
    assert token.events == ["fetch stale", "invalidate", "fetch fresh"]


def test_token_callable_invalidate_is_not_called_without_a_401(driver: Driver) -> None:
    token = _CachedToken("only")
    client = driver.client(
        lambda request: httpx.Response(403, json={"detail": "no"}), token=token, max_retries=0
    )
    with pytest.raises(PermissionDeniedError):
        driver.call(client, "get_status", "x")
    assert token.events == ["fetch only"]


@pytest.mark.parametrize("awaitable", [False, True])
async def test_async_token_invalidate_is_called_after_a_401(awaitable: bool) -> None:
    seen, handler = _auth_gateway({"fresh"})
    token = _AsyncCachedToken("stale", "fresh", awaitable_invalidate=awaitable)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:  # type: ignore[arg-type]
        client = AsyncHubServiceClient(base_url=BASE, async_token=token, httpx_client=http)
        assert (await client.service_api.get_status("x")).id == "exec-1"
    assert seen == ["Bearer stale", "Bearer fresh"]
    awaited = ["awaited"] if awaitable else []
    assert token.events == ["fetch stale", "invalidate", *awaited, "fetch fresh"]
