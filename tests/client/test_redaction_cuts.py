"""A token the server echoes never survives in part where the SDK cuts a text: the 64 KiB
error-body cap, the 40 characters of a bad value a validation error quotes, the 200 characters of
an error's detail, and a connection error's message. Each token is placed to straddle the cut at
every offset; sync and async clients."""

from __future__ import annotations

import asyncio
import json
import pickle
from typing import Any

import httpx
import pytest

from kipu_hub_service import (
    APIConnectionError,
    ApiError,
    AsyncHubServiceClient,
    HubServiceClient,
    InternalServerError,
    ResponseValidationError,
)
from kipu_hub_service.core.api_error import BODY_CAP

BASE = "https://gateway.test/acme/vqe/v1"
TOKEN = "q7Zk-S3CR3T-9f3b2c1d0e5w"  # no 'x', 'y', 'A' or '*': any piece of it is a leak
OFFSETS = range(1, len(TOKEN))
DETAIL_CHARS = 200
QUOTE_CHARS = 40


def error_of(kind: str, handler: Any, method: str, *args: Any) -> ApiError:
    """The ``ApiError`` a call raises on a client whose gateway is ``handler``."""
    options: dict[str, Any] = {"base_url": BASE, "token": TOKEN, "max_retries": 0}
    if kind == "sync":
        http = httpx.Client(transport=httpx.MockTransport(handler))
        with (
            HubServiceClient(httpx_client=http, **options) as client,
            pytest.raises(ApiError) as caught,
        ):
            getattr(client.service_api, method)(*args)
        http.close()
        return caught.value

    async def run() -> ApiError:
        transport = httpx.MockTransport(handler)
        async with (
            httpx.AsyncClient(transport=transport) as http,
            AsyncHubServiceClient(httpx_client=http, **options) as client,
        ):
            with pytest.raises(ApiError) as caught:
                await getattr(client.service_api, method)(*args)
        return caught.value

    return asyncio.run(run())


def assert_no_piece(error: ApiError) -> None:
    """No piece of the token anywhere (three characters or more, as any cut could leave), and
    no text of the error ends with even one character of it."""
    texts = [str(error), repr(error), repr(error.body), repr(error.headers)]
    texts += [pickle.dumps(error).decode("latin-1")]
    if isinstance(error.body, str):
        texts.append(error.body)
        assert not any(error.body.endswith(TOKEN[:size]) for size in OFFSETS)
    for text in texts:
        for size in range(3, len(TOKEN) + 1):
            assert TOKEN[:size] not in text, (size, text[-80:])


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("cut", OFFSETS)
def test_body_cap_cutting_through_a_token_leaves_no_part_of_it(kind: str, cut: int) -> None:
    body = b"x" * (BODY_CAP - cut) + TOKEN.encode() + b"y" * 1000

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, content=body, headers={"Content-Type": "text/plain"})

    error = error_of(kind, handler, "get_status", "e1")
    assert isinstance(error, InternalServerError)
    assert error.body_truncated
    assert isinstance(error.body, str)
    assert error.body.endswith("x***")
    assert_no_piece(error)


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("cut", OFFSETS)
def test_body_cap_of_a_validation_error_leaves_no_part_of_a_token(kind: str, cut: int) -> None:
    body = b'{"id": 5, "pad": "' + b"x" * (BODY_CAP - 18 - cut) + TOKEN.encode() + b'"}'
    body += b" " * 1000

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})

    error = error_of(kind, handler, "get_status", "e1")
    assert isinstance(error, ResponseValidationError)
    assert error.body_truncated
    assert_no_piece(error)


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("cut", OFFSETS)
def test_quoted_bad_value_leaves_no_part_of_a_token(kind: str, cut: int) -> None:
    stamp = "A" * (QUOTE_CHARS - cut) + TOKEN + "y" * 10
    entries = [{"message": "m", "timestamp": stamp, "severity": "INFO"}]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=entries)

    error = error_of(kind, handler, "get_logs", "e1")
    assert isinstance(error, ResponseValidationError)
    shown = ("A" * (QUOTE_CHARS - cut) + "***" + "y" * 10)[:QUOTE_CHARS]
    assert f"timestamp '{shown}' is not" in str(error)
    assert_no_piece(error)


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("cut", OFFSETS)
def test_error_detail_cut_leaves_no_part_of_a_token(kind: str, cut: int) -> None:
    detail = "x" * (DETAIL_CHARS - 3 - cut) + TOKEN + "y" * 300

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, content=json.dumps({"detail": detail}).encode())

    error = error_of(kind, handler, "get_status", "e1")
    assert isinstance(error, InternalServerError)
    assert error.body == {"detail": "x" * (DETAIL_CHARS - 3 - cut) + "***" + "y" * 300}
    assert_no_piece(error)


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("cut", [1, len(TOKEN) // 2, len(TOKEN) - 1])
def test_connection_error_message_leaves_no_part_of_a_token(kind: str, cut: int) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("x" * (DETAIL_CHARS - cut) + f"proxy said {TOKEN}" + "y" * 300)

    error = error_of(kind, handler, "get_status", "e1")
    assert isinstance(error, APIConnectionError)
    assert "proxy said ***" in str(error)
    assert_no_piece(error)
