"""The error hierarchy: status mapping, attributes, capped bodies, timeouts, connection errors."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator

import httpx
import pytest
from _client_support import TOKEN, Driver

import kipu_hub_service as sdk
from kipu_hub_service import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    IncompleteDownloadError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    UnprocessableEntityError,
)
from kipu_hub_service.core.api_error import BODY_CAP, ApiError

pytestmark = pytest.mark.usefixtures("no_retry_delay")


def test_api_error_is_importable_from_both_places() -> None:
    assert sdk.ApiError is ApiError
    from kipu_hub_service.core import ApiError as core_api_error

    assert core_api_error is ApiError


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (503, InternalServerError),
        (501, InternalServerError),
        (405, APIStatusError),
        (410, APIStatusError),
        (416, APIStatusError),
        (418, APIStatusError),
        (304, APIStatusError),
    ],
)
def test_status_mapping(driver: Driver, status: int, cls: type[APIStatusError]) -> None:
    client = driver.client(
        lambda request: httpx.Response(
            status, json={"detail": f"status {status}"}, headers={"X-Request-Id": "r-1"}
        ),
        max_retries=0,
    )
    with pytest.raises(cls) as info:
        driver.call(client, "get_status", "exec-1")
    error = info.value
    assert type(error) is cls
    assert isinstance(error, ApiError)
    assert error.status_code == status
    assert error.body == {"detail": f"status {status}"}
    assert error.headers is not None
    assert error.headers["x-request-id"] == "r-1"
    assert error.headers["X-Request-Id"] == "r-1"
    assert f"GET /acme/vqe/v1/exec-1: {status}" in str(error)
    assert f"status {status}" in str(error)
    assert TOKEN not in str(error)
    assert error.method == "GET"
    assert error.url == "https://gateway.test/acme/vqe/v1/exec-1"


def test_text_error_body_is_kept_as_text(driver: Driver) -> None:
    html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    client = driver.client(
        lambda request: httpx.Response(502, text=html, headers={"Content-Type": "text/html"}),
        max_retries=0,
    )
    with pytest.raises(InternalServerError) as info:
        driver.call(client, "get_service_executions")
    assert info.value.body == html
    assert "502 Bad Gateway" in str(info.value)


def test_empty_error_body_is_none(driver: Driver) -> None:
    client = driver.client(lambda request: httpx.Response(404), max_retries=0)
    with pytest.raises(NotFoundError) as info:
        driver.call(client, "get_logs", "e")
    assert info.value.body is None
    assert str(info.value) == "GET /acme/vqe/v1/e/log: 404 Not Found"


def test_error_body_with_json_type_but_broken_json_is_text(driver: Driver) -> None:
    client = driver.client(
        lambda request: httpx.Response(
            400, content=b"{not json", headers={"Content-Type": "application/json"}
        )
    )
    with pytest.raises(BadRequestError) as info:
        driver.call(client, "get_status", "e")
    assert info.value.body == "{not json"


class _HugeBody(httpx.SyncByteStream, httpx.AsyncByteStream):
    """An error body of 64 MiB produced lazily; counts how much was pulled."""

    def __init__(self, total: int = 64 * 1024 * 1024, chunk: int = 64 * 1024) -> None:
        self.total = total
        self.chunk = chunk
        self.pulled = 0

    def _next(self) -> bytes:
        self.pulled += self.chunk
        return b"e" * self.chunk

    def __iter__(self) -> Iterator[bytes]:
        while self.pulled < self.total:
            yield self._next()

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        while self.pulled < self.total:
            yield self._next()


@pytest.mark.parametrize("where", ["call", "file"])
def test_huge_error_body_is_capped_and_not_read_whole(driver: Driver, where: str) -> None:
    bodies: list[_HugeBody] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(_HugeBody())
        return httpx.Response(400, stream=bodies[-1], headers={"Content-Type": "text/plain"})

    client = driver.client(handler)
    with pytest.raises(BadRequestError) as info:
        if where == "call":
            driver.call(client, "get_status", "e")
        else:
            driver.file(client, "e", "f")
    error = info.value
    assert isinstance(error.body, str)
    assert len(error.body) == BODY_CAP
    assert error.body_truncated is True
    assert bodies[0].pulled <= 2 * BODY_CAP
    assert len(str(error)) < 1000


def test_huge_retried_error_bodies_are_not_read_whole(driver: Driver) -> None:
    bodies: list[_HugeBody] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(_HugeBody())
        return httpx.Response(503, stream=bodies[-1])

    client = driver.client(handler, max_retries=2)
    with pytest.raises(InternalServerError):
        driver.call(client, "get_status", "e")
    assert len(bodies) == 3
    assert all(body.pulled <= 4 * BODY_CAP for body in bodies)


@pytest.mark.parametrize(
    "exc",
    [httpx.ConnectTimeout("slow"), httpx.ReadTimeout("slow"), httpx.PoolTimeout("slow")],
)
def test_timeouts_are_httpx_timeout_exceptions(driver: Driver, exc: Exception) -> None:
    attempts: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        raise exc

    client = driver.client(handler)
    with pytest.raises(httpx.TimeoutException) as info:
        driver.call(client, "get_status", "e")
    error = info.value
    assert isinstance(error, APITimeoutError)
    assert isinstance(error, APIConnectionError)
    assert isinstance(error, ApiError)
    assert error.__cause__ is exc
    assert error.request.url.path == "/acme/vqe/v1/e"
    assert len(attempts) == 3
    assert "timed out" in str(error)


def test_connection_errors_after_retries(driver: Driver) -> None:
    attempts: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        raise httpx.ConnectError("connection refused")

    client = driver.client(handler, max_retries=3)
    with pytest.raises(APIConnectionError) as info:
        driver.call(client, "get_service_executions")
    assert not isinstance(info.value, httpx.TimeoutException)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert "connection refused" in str(info.value)
    assert len(attempts) == 4


def test_start_execution_is_retried_after_a_dropped_connection(driver: Driver) -> None:
    keys: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["Idempotency-Key"])
        raise httpx.ReadError("reset")

    client = driver.client(handler)
    with pytest.raises(APIConnectionError):
        driver.call(client, "start_execution", request={"input": {}})
    assert len(keys) == 3
    assert len(set(keys)) == 1


def test_short_file_that_cannot_be_resumed(driver: Driver) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"Content-Length": "100"},
            stream=httpx.ByteStream(b"x" * 10),
        )

    client = driver.client(handler)
    with pytest.raises(IncompleteDownloadError) as info:
        driver.file(client, "e", "f")
    assert isinstance(info.value, ApiError)
    assert "GET /acme/vqe/v1/e/result/f" in str(info.value)


def test_errors_pickle(driver: Driver) -> None:
    client = driver.client(
        lambda request: httpx.Response(404, json={"detail": "gone"}), max_retries=0
    )
    with pytest.raises(NotFoundError) as info:
        driver.call(client, "get_status", "e")
    clone = pickle.loads(pickle.dumps(info.value))
    assert type(clone) is NotFoundError
    assert clone.status_code == 404
    assert clone.body == {"detail": "gone"}
    assert str(clone) == str(info.value)


def test_hierarchy() -> None:
    for cls in (
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        ConflictError,
        UnprocessableEntityError,
        RateLimitError,
        InternalServerError,
    ):
        assert issubclass(cls, APIStatusError)
    for cls in (
        APIStatusError,
        ResponseValidationError,
        APIConnectionError,
        IncompleteDownloadError,
    ):
        assert issubclass(cls, ApiError)
    assert issubclass(APITimeoutError, httpx.TimeoutException)
    assert not issubclass(APIConnectionError, httpx.HTTPError)
    error = ApiError(status_code=500, body={"detail": "x"})
    assert error.status_code == 500
    assert "x" in str(error)


def _failing_call(kind: str) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if kind == "timeout":
            raise httpx.ReadTimeout("read timed out", request=request)
        if kind == "connection":
            raise httpx.ConnectError("refused", request=request)
        if kind == "status":
            return httpx.Response(500, json={"detail": "broken"})
        return httpx.Response(200, json={"id": 5})

    return handler


@pytest.mark.parametrize("kind", ["timeout", "connection", "status", "validation"])
def test_no_error_keeps_the_token(driver: Driver, kind: str) -> None:
    client = driver.client(_failing_call(kind), max_retries=1)
    with pytest.raises(ApiError) as info:
        driver.call(client, "get_status", "e")
    error = info.value
    secret = TOKEN.encode()
    assert secret not in pickle.dumps(error)
    for text in (str(error), repr(error), repr(error.__dict__), repr(error.args)):
        assert TOKEN not in text
    clone = pickle.loads(pickle.dumps(error))
    assert TOKEN not in repr(clone.__dict__)
    if kind == "timeout":
        assert "authorization" not in error.request.headers
        assert error.request.url.path == "/acme/vqe/v1/e"
        assert "authorization" not in clone.request.headers
    if isinstance(error.__cause__, httpx.RequestError):
        assert "authorization" not in error.__cause__.request.headers


@pytest.mark.parametrize("where", ["call", "file"])
def test_deeply_nested_json_error_body_is_kept_as_text(driver: Driver, where: str) -> None:
    text = '{"a":' * 3000 + "1" + "}" * 3000
    assert len(text) < BODY_CAP
    client = driver.client(
        lambda request: httpx.Response(
            400, content=text.encode(), headers={"Content-Type": "application/json"}
        )
    )
    with pytest.raises(BadRequestError) as info:
        if where == "call":
            driver.call(client, "get_status", "e")
        else:
            driver.file(client, "e", "f")
    assert info.value.body == text
    assert str(info.value).startswith("GET /acme/vqe/v1/e")
    assert pickle.loads(pickle.dumps(info.value)).body == text


def test_error_message_of_a_body_too_deep_to_serialise() -> None:
    body: list[object] = []
    for _ in range(5000):
        body = [body]
    error = ApiError(status_code=500, body=body)
    assert "too deeply nested" in str(error)
