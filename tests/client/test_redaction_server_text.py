"""Server text is redacted before it enters an error, wherever the SDK quotes it: a failed
execution's id and reason, an unsafe result file name, a token answer's keys, and a gateway that
echoes a ``run(secrets=...)`` value. Each value is placed to straddle every cut the message
makes; sync and async clients; every message built from server data is bounded."""

from __future__ import annotations

import asyncio
import json
import pickle
from pathlib import Path
from typing import Any

import httpx
import pytest

from kipu_hub_service import (
    AsyncHubServiceClient,
    ClientCredentials,
    ExecutionFailedError,
    HubServiceClient,
    ResponseValidationError,
    UnprocessableEntityError,
    UnsafeResultFileNameError,
)
from kipu_hub_service.testing import sdk_transport

BASE = "https://gateway.test/acme/vqe/v1"
TOKEN = "q7Zk-S3CR3T-9f3b2c1d0e5w"  # no 'x', 'y', 'A' or '*': any piece of it is a leak
SECRET = 'p@ss-Wq8"Rd\\7zK9-uvN'  # JSON escapes it: its escaped form must be redacted too
EID = "e1"
FAST = {"poll_interval": 0.001, "max_poll_interval": 0.002}
REASON_CHARS = 500
ID_CHARS = 100
NAME_CHARS = 50


def leaks(texts: list[str], secret: str = TOKEN) -> list[str]:
    """Pieces of ``secret`` (four characters or more) found in ``texts``."""
    return [
        secret[start : start + size]
        for text in texts
        for size in range(4, len(secret) + 1)
        for start in range(0, len(secret) - size + 1)
        if secret[start : start + size] in text
    ][:3]


def texts_of(error: BaseException) -> list[str]:
    """What shows of an error: its message, repr and attributes, except the models it carries
    (``execution``, ``result``: the server's data as sent, e.g. the real id to cancel)."""
    texts = [str(error), repr(error)]
    texts += [repr(value) for value in vars(error).values() if not hasattr(value, "to_dict")]
    return texts


def call(kind: str, handler: Any, work: Any, **options: Any) -> BaseException:
    """What ``work(service_api)`` raises on a client whose gateway is ``handler``."""
    settings: dict[str, Any] = {"base_url": BASE, "token": TOKEN, "max_retries": 0, **options}
    with sdk_transport(httpx.MockTransport(handler)):
        if kind == "sync":
            with HubServiceClient(**settings) as client, pytest.raises(Exception) as caught:
                work(client.service_api)
            return caught.value

        async def run() -> BaseException:
            async with AsyncHubServiceClient(**settings) as client:
                with pytest.raises(Exception) as caught:
                    await work(client.service_api)
            return caught.value

        return asyncio.run(run())


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def failing_gateway(execution_id: str, reason: str) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        execution = {"id": execution_id, "status": "FAILED", "createdAt": "2026-01-01T00:00:00Z"}
        if request.method == "POST":
            return httpx.Response(201, json=execution)
        if request.url.path.endswith("/result"):
            return httpx.Response(200, json={"error": reason, "_links": {}})
        return httpx.Response(200, json=execution)

    return handler


@pytest.mark.parametrize("cut", range(1, len(TOKEN), 3))
def test_a_failed_execution_never_shows_an_echoed_token(kind: str, cut: int) -> None:
    reason = "r" * (REASON_CHARS - 1 - cut) + TOKEN + "y" * 2000
    execution_id = "i" * (ID_CHARS - 1 - cut) + TOKEN + "y" * 500
    error = call(
        kind,
        failing_gateway(execution_id, reason),
        lambda api: api.run(request={"input": {}}, **FAST),
    )
    assert type(error) is ExecutionFailedError, error
    assert leaks(texts_of(error)) == [] and leaks([error.reason or ""]) == []
    assert len(str(error)) < ID_CHARS + REASON_CHARS + 40  # bounded, whatever the server sent
    assert "ended FAILED" in str(error) and error.execution_id == execution_id  # data kept
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error) and copy.reason == error.reason


@pytest.mark.parametrize("cut", range(1, len(TOKEN), 3))
def test_an_unsafe_file_name_never_shows_an_echoed_token(
    kind: str, cut: int, tmp_path: Path
) -> None:
    name = "../" + "n" * (NAME_CHARS - 4 - cut) + TOKEN + "y" * 300

    def handler(request: httpx.Request) -> httpx.Response:
        links = {"status": {"href": f"/{EID}"}, name: {"href": f"/{EID}/result/x"}}
        return httpx.Response(200, json={"_links": links})

    error = call(kind, handler, lambda api: api.download_all_result_files(EID, tmp_path / "out"))
    assert type(error) is UnsafeResultFileNameError, error
    assert leaks(texts_of(error)) == [] and leaks([error.name]) == []
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("keys", [1, 2500])
def test_a_token_answer_without_a_token_names_few_keys_and_no_secret(kind: str, keys: int) -> None:
    secret = "s3cr-ET9k-Wq7b-Zv8n"
    credentials = ClientCredentials("AKID-1", secret, token_endpoint="https://auth.test/token")
    answer = {f"k{n:05d}": n for n in range(keys)}
    answer["echo-" + secret] = "..."  # a key that repeats the secret

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            return httpx.Response(200, json=answer)
        return httpx.Response(500)

    error = call(kind, handler, lambda api: api.get_status(EID), token=credentials)
    assert type(error) is ResponseValidationError, error
    assert "has no access_token" in str(error)
    assert leaks(texts_of(error), secret) == []
    assert len(str(error)) < 800
    if keys > 1:
        assert f"and {keys + 1 - 8} more" in str(error)


@pytest.mark.parametrize("form", ["json", "text"])
def test_a_secret_sent_with_run_and_echoed_by_the_gateway_is_redacted(kind: str, form: str) -> None:
    secrets = {"vault": {"password": SECRET, "list": ["Zq8-vB9w-Kj2m-77"]}}

    def handler(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)["$secrets"]
        if form == "json":
            detail = f"bad secrets {json.dumps(sent)}"
            return httpx.Response(422, json={"detail": detail, "echo": sent})
        return httpx.Response(422, text=f"bad: {request.content.decode()}")

    error = call(kind, handler, lambda api: api.run(request={"input": {}}, secrets=secrets, **FAST))
    assert type(error) is UnprocessableEntityError, error
    texts = [*texts_of(error), json.dumps(error.body)]
    for secret in (SECRET, json.dumps(SECRET)[1:-1], "Zq8-vB9w-Kj2m-77"):
        assert leaks(texts, secret) == [], secret
