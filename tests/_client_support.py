"""Shared fakes for the facade tests: an in-memory gateway behind ``httpx.MockTransport`` and a
driver that runs the same test against ``HubServiceClient`` and ``AsyncHubServiceClient``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote

import httpx

from kipu_hub_service import AsyncHubServiceClient, HubServiceClient

BASE = "https://gateway.test/acme/vqe/v1"
TOKEN = "test-token-0123456789"

Handler = Callable[[httpx.Request], httpx.Response]


def execution_json(id: str = "exec-1", status: str = "PENDING", **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"id": id, "createdAt": "2026-11-25T12:00:00Z", "status": status}
    data.update(extra)
    return data


class FakeGateway:
    """A small stateful gateway: the seven operations, recording every request it gets.

    ``script`` maps ``(METHOD, operation)`` to a handler overriding the default answer.
    Operations: list, start, status, result, file, logs, cancel.
    """

    def __init__(self, *, file_bytes: bytes = b"0123456789" * 100) -> None:
        self.requests: list[httpx.Request] = []
        self.executions: dict[str, dict[str, Any]] = {}
        self.file_bytes = file_bytes
        self.script: dict[str, Handler] = {}
        self.logs: list[dict[str, Any]] | None = [
            {
                "message": "Execution started",
                "severity": "INFO",
                "timestamp": "2026-11-25T12:00:01Z",
            },
            {"message": "Done", "severity": "NOTICE", "timestamp": "2026-11-25T12:00:02+01:00"},
        ]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        operation, parts = self.route(request)
        override = self.script.get(operation)
        if override is not None:
            return override(request)
        return self.answer(operation, parts, request)

    def route(self, request: httpx.Request) -> tuple[str, list[str]]:
        path = request.url.raw_path.decode("ascii").split("?")[0]
        prefix = httpx.URL(BASE).raw_path.decode("ascii").rstrip("/")
        rest = path[len(prefix) :] if path.startswith(prefix) else path
        parts = [unquote(p) for p in rest.strip("/").split("/")] if rest.strip("/") else []
        method = request.method
        if not parts:
            return ("start" if method == "POST" else "list"), parts
        if len(parts) == 1:
            return "status", parts
        if parts[1] == "result" and len(parts) == 2:
            return "result", parts
        if parts[1] == "result":
            return "file", parts
        if parts[1] == "log":
            return "logs", parts
        if parts[1] == "cancel":
            return "cancel", parts
        return "unknown", parts

    def answer(self, operation: str, parts: list[str], request: httpx.Request) -> httpx.Response:
        if operation == "list":
            return httpx.Response(200, json=list(self.executions.values()))
        if operation == "start":
            body = json.loads(request.content)
            execution_id = f"exec-{len(self.executions) + 1}"
            execution = execution_json(execution_id, tags=body.get("tags"))
            self.executions[execution_id] = execution
            return httpx.Response(201, json=execution)
        execution = self.executions.get(parts[0]) if parts else None
        if execution is None:
            return httpx.Response(404, json={"detail": "Not found"})
        if operation == "status":
            return httpx.Response(200, json=execution)
        if operation == "result":
            done = dict(execution, status="SUCCEEDED")
            return httpx.Response(
                200,
                json={
                    "energy": -1.137,
                    "_links": {
                        "status": {"href": f"/{parts[0]}"},
                        "result.bin": {"href": f"/{parts[0]}/result/result.bin"},
                    },
                    "_embedded": {"status": done},
                },
            )
        if operation == "file":
            return httpx.Response(200, content=self.file_bytes)
        if operation == "logs":
            if self.logs is None:
                return httpx.Response(204)
            return httpx.Response(200, json=self.logs)
        if operation == "cancel":
            execution["status"] = "CANCELLED"
            return httpx.Response(204)
        return httpx.Response(404, json={"detail": "no route"})

    def add(self, execution_id: str = "exec-1", status: str = "RUNNING") -> str:
        self.executions[execution_id] = execution_json(execution_id, status)
        return execution_id


class Driver:
    """Runs a call on the sync or the async client and returns plain results."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clients: list[Any] = []

    @property
    def is_async(self) -> bool:
        return self.kind == "async"

    def run(self, value: Any) -> Any:
        if self.is_async:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
            return self._loop.run_until_complete(value)
        return value

    def client(self, handler: Handler | None = None, *, inject: bool = True, **kwargs: Any) -> Any:
        """A client on ``handler`` (a MockTransport); ``token`` and ``base_url`` default."""
        kwargs.setdefault("base_url", BASE)
        if "async_token" not in kwargs:
            kwargs.setdefault("token", TOKEN)
        if inject and "httpx_client" not in kwargs:
            transport = httpx.MockTransport(handler or FakeGateway())
            kwargs["httpx_client"] = (
                httpx.AsyncClient(transport=transport)
                if self.is_async
                else httpx.Client(transport=transport)
            )
        if not self.is_async:
            kwargs.pop("async_token", None)
        client = AsyncHubServiceClient(**kwargs) if self.is_async else HubServiceClient(**kwargs)
        self._clients.append(client)
        return client

    def call(self, client: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.run(getattr(client.service_api, method)(*args, **kwargs))

    def file(self, client: Any, *args: Any, **kwargs: Any) -> list[bytes]:
        iterator = client.service_api.get_result_file(*args, **kwargs)
        if not self.is_async:
            return list(iterator)

        async def collect() -> list[bytes]:
            return [chunk async for chunk in iterator]

        return list(self.run(collect()))

    def close(self) -> None:
        for client in self._clients:
            if self.is_async:
                self.run(client.aclose())
                self.run(client.httpx_client.aclose())
            else:
                client.close()
                client.httpx_client.close()
        if self._loop is not None:
            self._loop.close()


def drivers() -> Iterator[str]:
    yield "sync"
    yield "async"
