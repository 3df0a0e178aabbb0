"""A request body that cannot be sent as JSON raises ``ValueError`` before anything is sent:
one nested past the interpreter's recursion limit (never ``RecursionError``), and one holding a
NaN or an infinity (named by its path). Sync and async clients, ``start_execution`` and ``run``."""

from __future__ import annotations

import asyncio
import math
import sys
from typing import Any

import httpx
import pytest

from kipu_hub_service import AsyncHubServiceClient, HubServiceClient

BASE = "https://gateway.test/acme/vqe/v1"


def attempt(kind: str, method: str, request: Any) -> tuple[BaseException, list[httpx.Request]]:
    """What calling ``method(request=request)`` raises, and the requests that reached the
    gateway (recorded as they arrive)."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    options: dict[str, Any] = {"base_url": BASE, "token": "tok-123456", "max_retries": 0}
    if kind == "sync":
        http = httpx.Client(transport=httpx.MockTransport(handler))
        with (
            HubServiceClient(httpx_client=http, **options) as client,
            pytest.raises(BaseException) as caught,
        ):
            getattr(client.service_api, method)(request=request)
        http.close()
        return caught.value, sent

    async def run() -> BaseException:
        async with (
            httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http,
            AsyncHubServiceClient(httpx_client=http, **options) as client,
        ):
            with pytest.raises(BaseException) as caught:
                await getattr(client.service_api, method)(request=request)
        return caught.value

    return asyncio.run(run()), sent


def nested(depth: int, container: str) -> Any:
    """A value nested ``depth`` levels deep in dicts or lists (built without recursion)."""
    value: Any = 1
    for _ in range(depth):
        value = {"a": value} if container == "dict" else [value]
    return value


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("method", ["start_execution", "run"])
@pytest.mark.parametrize("container", ["dict", "list"])
def test_body_nested_past_the_recursion_limit_is_a_value_error(
    kind: str, method: str, container: str
) -> None:
    body = {"input": nested(sys.getrecursionlimit() * 2, container)}
    error, sent = attempt(kind, method, body)
    assert type(error) is ValueError, repr(error)
    assert "nested too deeply" in str(error)
    assert sent == []


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("method", ["start_execution", "run"])
@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_non_finite_number_is_a_value_error_naming_its_path(
    kind: str, method: str, number: float
) -> None:
    body = {"input": {"params": [0.5, {"theta": number}]}}
    error, sent = attempt(kind, method, body)
    assert type(error) is ValueError, repr(error)
    assert f"request['input']['params'][1]['theta'] is {number!r}" in str(error)
    assert "JSON has no NaN or Infinity" in str(error)
    assert sent == []


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_deep_non_finite_number_is_named_by_a_bounded_path(kind: str) -> None:
    body: Any = {"input": nested(300, "list")}
    inner = body["input"]
    for _ in range(299):
        inner = inner[0]
    inner[0] = math.nan
    error, sent = attempt(kind, "start_execution", body)
    assert type(error) is ValueError
    assert "request['input'][0][0]" in str(error)
    assert "..." in str(error)
    assert str(error).endswith("[0][0] is nan (JSON has no NaN or Infinity)")
    assert len(str(error)) < 400
    assert sent == []


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_body_within_the_limits_is_still_sent(kind: str) -> None:
    body = {"input": {"deep": nested(50, "dict"), "x": 1.5e300}}
    _, sent = attempt(kind, "start_execution", body)
    assert len(sent) == 1
    assert b'"x":1.5e+300' in sent[0].content
