"""``run(..., secrets=, tags=)``: sent as the body keys ``$secrets`` and ``$tags``, like the
vendor's ``qhub-service`` wrapper, on both clients."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from kipu_hub_service import AsyncHubServiceClient, HubServiceClient, RequestBodyModel
from kipu_hub_service.testing import sdk_transport

BASE = "https://gateway.test/acme/vqe/v1"
DONE = {"id": "exec-1", "createdAt": "2026-11-25T12:00:00Z", "status": "SUCCEEDED"}


class Gateway:
    def __init__(self) -> None:
        self.bodies: list[Any] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.bodies.append(json.loads(request.read()))
            return httpx.Response(201, json=DONE)
        return httpx.Response(200, json={"output": 1, "_embedded": {"status": DONE}})


def run(kind: str, gateway: Gateway, **kwargs: Any) -> Any:
    with sdk_transport(httpx.MockTransport(gateway)):
        if kind == "sync":
            with HubServiceClient(base_url=BASE, token="tok-1234") as client:
                return client.service_api.run(**kwargs)
        client = AsyncHubServiceClient(base_url=BASE, token="tok-1234")

    async def go() -> Any:
        async with client:
            return await client.service_api.run(**kwargs)

    return asyncio.run(go())


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_secrets_and_tags_become_body_keys(kind: str) -> None:
    gateway = Gateway()
    request = {"input": {"x": 1}}
    run(kind, gateway, request=request, secrets={"API_KEY": "k-1"}, tags=["a", "b"])
    assert gateway.bodies == [
        {"input": {"x": 1}, "$secrets": {"API_KEY": "k-1"}, "$tags": ["a", "b"]}
    ]
    assert request == {"input": {"x": 1}}  # the caller's dict is left alone


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_without_them_the_body_is_unchanged(kind: str) -> None:
    gateway = Gateway()
    run(kind, gateway, request={"input": {"x": 1}, "tags": ["t"]})
    assert gateway.bodies == [{"input": {"x": 1}, "tags": ["t"]}]


def test_a_request_body_model_works_too() -> None:
    gateway = Gateway()
    body = RequestBodyModel.from_dict({"input": {"x": 2}})
    run("sync", gateway, request=body, tags=("only",))
    assert gateway.bodies == [{"input": {"x": 2}, "$tags": ["only"]}]


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"request": {"$secrets": {}}, "secrets": {"a": "b"}}, ValueError, "'$secrets'"),
        ({"request": {"$tags": []}, "tags": ["x"]}, ValueError, "'$tags'"),
        ({"request": {}, "secrets": ["a"]}, TypeError, "secrets must be a dict"),
        ({"request": {}, "secrets": {1: "a"}}, TypeError, "secrets must be a dict"),
        ({"request": {}, "tags": "abc"}, TypeError, "tags must be a list"),
        ({"request": {}, "tags": [1]}, TypeError, "tags must be a list"),
        ({"request": [1], "tags": ["a"]}, TypeError, "request must be a dict"),
    ],
)
def test_bad_secrets_or_tags_send_nothing(
    kwargs: dict[str, Any], error: type[Exception], fragment: str
) -> None:
    gateway = Gateway()
    with pytest.raises(error, match=fragment.replace("$", r"\$")):
        run("sync", gateway, **kwargs)
    assert gateway.bodies == []
