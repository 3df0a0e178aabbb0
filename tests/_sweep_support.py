"""Helpers of the sweep tests: run a sweep on either client against a gateway URL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from kipu_hub_service import AsyncHubServiceClient, HubServiceClient
from kipu_hub_service.sweeps import Outcome, SweepResults

TOKEN = "sweep-token-0123456789"


def inputs(count: int, **extra: Any) -> list[dict[str, Any]]:
    """``count`` small request bodies for the mock (tiny result files)."""
    return [{"input": {"n": n, "result_size": 16, **extra}} for n in range(count)]


def sweep(
    kind: str,
    url: str,
    requests: list[dict[str, Any]] | None = None,
    *,
    ids: list[str] | None = None,
    during: Callable[[Any, Outcome], Any] | None = None,
    **options: Any,
) -> tuple[SweepResults, list[Outcome]]:
    """Run a sweep (or a watch of ``ids``) to the end on the ``kind`` client; the results in
    input order and the outcomes in the order ``as_completed`` gave them. ``during(sweep,
    outcome)`` is called for each outcome (awaited on the async client when it returns an
    awaitable)."""
    if kind == "sync":
        with HubServiceClient(base_url=url, token=TOKEN) as client:
            api = client.service_api
            job = api.sweep(requests, **options) if ids is None else api.watch(ids, **options)
            seen = []
            for outcome in job.as_completed():
                seen.append(outcome)
                if during is not None:
                    during(job, outcome)
            return job.results(), seen

    async def go() -> tuple[SweepResults, list[Outcome]]:
        async with AsyncHubServiceClient(base_url=url, token=TOKEN) as client:
            api = client.service_api
            job = api.sweep(requests, **options) if ids is None else api.watch(ids, **options)
            seen = []
            async for outcome in job.as_completed():
                seen.append(outcome)
                if during is not None:
                    done = during(job, outcome)
                    if asyncio.iscoroutine(done):
                        await done
            return await job.results(), seen

    return asyncio.run(go())


def forwarding(url: str, hold: Callable[[httpx.Request], Any]) -> httpx.MockTransport:
    """A sync transport that sends each request on to ``url`` (the real mock) after
    ``hold(request)`` returns; when it returns a response, that is the answer instead."""
    upstream = httpx.Client(base_url=url)

    def handler(request: httpx.Request) -> httpx.Response:
        instead = hold(request)
        if isinstance(instead, httpx.Response):
            return instead
        answer = upstream.request(
            request.method, request.url.path, headers=request.headers, content=request.read()
        )
        headers = {k: v for k, v in answer.headers.items() if k.lower() in ("content-type",)}
        return httpx.Response(answer.status_code, headers=headers, content=answer.content)

    return httpx.MockTransport(handler)


def async_forwarding(url: str, hold: Callable[[httpx.Request], Any]) -> httpx.MockTransport:
    """``forwarding`` for the async client (``hold`` is awaited)."""

    async def handler(request: httpx.Request) -> httpx.Response:
        instead = await hold(request)
        if isinstance(instead, httpx.Response):
            return instead
        async with httpx.AsyncClient(base_url=url) as upstream:
            answer = await upstream.request(
                request.method, request.url.path, headers=request.headers, content=request.read()
            )
        headers = {k: v for k, v in answer.headers.items() if k.lower() in ("content-type",)}
        return httpx.Response(answer.status_code, headers=headers, content=answer.content)

    return httpx.MockTransport(handler)


def forwarding_for(
    kind: str, url: str, hold: Callable[[httpx.Request], Any]
) -> httpx.MockTransport:
    """``forwarding`` for the ``kind`` client ("sync" or "async"), with the same plain
    ``hold`` (on the async client it is called from a coroutine)."""
    if kind == "sync":
        return forwarding(url, hold)

    async def async_hold(request: httpx.Request) -> Any:
        return hold(request)

    return async_forwarding(url, async_hold)


def request_kind(request: httpx.Request) -> str:
    """What a sweep's request to the mock is: ``start``, ``result``, ``file`` (a result file),
    ``poll`` (the list, or one status) or ``other``."""
    path = request.url.path
    if request.method == "POST":
        return "start"
    if path.endswith("/result"):
        return "result"
    if "/result/" in path:
        return "file"
    return "poll" if request.method == "GET" and path.count("/") <= 2 else "other"
