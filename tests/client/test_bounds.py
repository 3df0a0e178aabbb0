"""Bounded answers: size caps and read deadlines for JSON calls, error bodies capped before they
are inflated, result-file streams decoded in bounded steps.

Hostile answers come from a scripted server on 127.0.0.1 (a thread per connection, each
bounded in what it sends and how long). Every case runs on the sync client, the async client
on httpx's transport and the async client on aiohttp. Memory is checked with ``tracemalloc``
peaks (never timings).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest
from _scripted_server import (
    KINDS,
    MiB,
    ScriptedServer,
    body_script,
    compressed,
    consume,
    endless_script,
    peak_of,
    run,
    trickle_script,
)

from kipu_hub_service import (
    APITimeoutError,
    AsyncHubServiceClient,
    HubServiceClient,
    InternalServerError,
    ResponseTooLargeError,
    ResponseValidationError,
)


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """512 MiB as about 500 KiB of gzip."""
    return compressed(512 * MiB, 31)


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- size caps of JSON answers ------------------------------------------------------------------


def test_gzip_bomb_stops_at_the_per_call_cap(kind: str, gzip_bomb: bytes) -> None:
    with ScriptedServer(body_script(200, gzip_bomb)) as server:
        peak, error = peak_of(
            lambda: run(
                kind,
                server.url,
                lambda api: api.get_status("e1", request_options={"max_response_size": 4 * MiB}),
            )
        )
    assert isinstance(error, ResponseTooLargeError), error
    assert error.limit == 4 * MiB
    assert "max_response_size" in str(error) and "GET /e1" in str(error)
    assert peak < 4 * MiB + 6 * MiB, peak
    assert server.header(b"accept-encoding") == b"gzip, deflate"


def test_gzip_bomb_stops_at_the_default_cap_of_64_mib(kind: str, gzip_bomb: bytes) -> None:
    with ScriptedServer(body_script(200, gzip_bomb)) as server:
        peak, error = peak_of(lambda: run(kind, server.url, lambda api: api.get_result("e1")))
    assert isinstance(error, ResponseTooLargeError), error
    assert isinstance(error, ResponseValidationError)
    assert error.limit == 64 * MiB
    assert peak < 64 * MiB + 8 * MiB, peak


def test_deflate_bomb_stops_at_the_client_cap(kind: str) -> None:
    bomb = compressed(128 * MiB, -15)  # raw deflate, as some servers send it
    with ScriptedServer(body_script(200, bomb, encoding="deflate")) as server:
        peak, error = peak_of(
            lambda: run(
                kind,
                server.url,
                lambda api: api.get_service_executions(),
                max_response_size=2 * MiB,
            )
        )
    assert isinstance(error, ResponseTooLargeError), error
    assert error.limit == 2 * MiB
    assert peak < 2 * MiB + 6 * MiB, peak


def test_compressed_json_within_the_cap_is_decoded(kind: str) -> None:
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    body = packer.compress(b"[]" + b" " * (3 * MiB)) + packer.flush()
    with ScriptedServer(body_script(200, body)) as server:
        got = run(
            kind,
            server.url,
            lambda api: api.get_service_executions(request_options={"max_response_size": 4 * MiB}),
        )
    assert got == []


def test_unknown_content_encoding_is_refused_clearly(kind: str) -> None:
    with ScriptedServer(body_script(200, b"\x8b\x00\x00", encoding="br")) as server:
        error = peak_of(lambda: run(kind, server.url, lambda api: api.get_logs("e1")))[1]
    assert type(error) is ResponseValidationError, error
    assert "'br'" in str(error) and "does not decode" in str(error)


def test_size_and_deadline_settings_are_checked() -> None:
    for bad in (0, -1, 1.5, True, "1"):
        with pytest.raises(ValueError, match="max_response_size"):
            HubServiceClient(base_url="http://127.0.0.1:9", token="t", max_response_size=bad)
    for bad in (0, -1, float("nan"), True, "1"):
        with pytest.raises(ValueError, match="read_deadline"):
            AsyncHubServiceClient(base_url="http://127.0.0.1:9", token="t", read_deadline=bad)
    with HubServiceClient(base_url="http://127.0.0.1:9", token="t") as client:
        with pytest.raises(ValueError, match=r"request_options\['max_response_size'\]"):
            client.service_api.get_status("e", request_options={"max_response_size": 0})
        with pytest.raises(ValueError, match=r"request_options\['read_deadline'\]"):
            client.service_api.get_status("e", request_options={"read_deadline": -2})


# -- error bodies -------------------------------------------------------------------------------


def test_error_body_bomb_is_capped_before_it_is_inflated(kind: str, gzip_bomb: bytes) -> None:
    with ScriptedServer(body_script(500, gzip_bomb)) as server:
        peak, error = peak_of(lambda: run(kind, server.url, lambda api: api.get_status("e1")))
    assert isinstance(error, InternalServerError), error
    assert error.body_truncated
    assert peak < 4 * MiB, peak


# -- read deadlines -----------------------------------------------------------------------------


def test_trickled_body_ends_at_the_per_call_read_deadline(kind: str) -> None:
    # 16 pieces at 0.5 s: the server gives up after 8 s; the deadline is 1.5 s.
    with ScriptedServer(trickle_script(16, 0.5)) as server:
        error = peak_of(
            lambda: run(
                kind,
                server.url,
                lambda api: api.get_status("e1", request_options={"read_deadline": 1.5}),
                timeout=2,
                max_retries=2,
            )
        )[1]
    assert isinstance(error, APITimeoutError), error
    assert "read deadline of 1.5 s" in str(error)
    assert len(server.heads) == 1  # a deadline that passed is not retried


@pytest.mark.parametrize(
    ("settings", "shown"),
    [
        # timeout=0.5: the default deadline is 4 read timeouts, 2 s
        ({"timeout": 0.5}, "2 s"),
        # the client's own read_deadline, on every call
        ({"read_deadline": 1}, "1 s"),
    ],
    ids=["derived-from-timeout", "client-setting"],
)
def test_endless_chunked_body_ends_at_the_read_deadline(
    kind: str, settings: dict[str, float], shown: str
) -> None:
    # 100 chunks at 0.1 s: the server stops after 10 s.
    with ScriptedServer(endless_script(100, 0.1)) as server:
        error = peak_of(
            lambda: run(kind, server.url, lambda api: api.get_result("e1"), **settings)
        )[1]
    assert isinstance(error, APITimeoutError), error
    assert f"read deadline of {shown}" in str(error)


# -- result-file streams ------------------------------------------------------------------------


def test_gzip_stream_despite_identity_is_decoded_with_flat_memory(
    kind: str, gzip_bomb: bytes
) -> None:
    with ScriptedServer(body_script(200, gzip_bomb, content_type="text/plain")) as server:
        peak, total = peak_of(
            lambda: run(kind, server.url, lambda api: consume(kind, api.get_result_file("e", "f")))
        )
    assert total == 512 * MiB, total
    assert peak < 8 * MiB, peak
    assert server.header(b"accept-encoding") == b"identity"


def test_gzip_download_despite_identity_is_written_with_flat_memory(
    kind: str, tmp_path: Path
) -> None:
    body = compressed(64 * MiB, 31)
    target = tmp_path / "out.bin"
    with ScriptedServer(body_script(200, body, content_type="text/plain")) as server:
        peak, written = peak_of(
            lambda: run(kind, server.url, lambda api: api.download_result_file("e", "f", target))
        )
    assert written == target, written
    assert target.stat().st_size == 64 * MiB
    assert peak < 8 * MiB, peak


def test_stream_in_an_unknown_encoding_is_refused_clearly(kind: str) -> None:
    with ScriptedServer(body_script(200, b"\x28\xb5\x2f\xfd", encoding="zstd")) as server:
        error = peak_of(
            lambda: run(kind, server.url, lambda api: consume(kind, api.get_result_file("e", "f")))
        )[1]
    assert type(error) is ResponseValidationError, error
    assert "'zstd'" in str(error)
