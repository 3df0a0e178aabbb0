"""A canned HTTP/1.1 gateway for the benchmarks: pre-rendered bytes, ~no work per request.

Run as its own process (``python benchmarks/server.py --executions N --logs N``); it binds
127.0.0.1 on a free port and prints ``PORT <n>`` on stdout once it listens. Every body is
rendered once at start-up, so the server is never what the benchmark measures.

Routes, under the prefix ``/ctx/svc/v1`` (a gateway-like base path):

- ``/``: a JSON list of ``--executions`` executions;
- ``/<id>``: one execution's status;
- ``/<id>/log``: a JSON list of ``--logs`` log entries;
- ``/<id>/result/<n>MiB.bin``: ``n`` MiB of bytes, streamed from one repeated chunk with a
  Content-Length, honouring the transport's write flow control;

and ``/token`` on the root: a token answer (for ``ClientCredentials``), whatever was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys

PREFIX = b"/ctx/svc/v1"
CHUNK = bytes(range(256)) * 4096  # 1 MiB
_FILE_NAME = re.compile(rb"^(\d+)MiB\.bin$")


def execution(i: int, status: str = "SUCCEEDED") -> dict[str, object]:
    """One realistic execution, every documented field present."""
    return {
        "id": f"6f1c2d3e-0000-4000-8000-{i:012d}",
        "createdAt": "2026-11-25T12:00:00.123456Z",
        "startedAt": "2026-11-25T12:00:01.234567Z",
        "endedAt": None if status == "RUNNING" else "2026-11-25T12:03:07.000001Z",
        "status": status,
        "type": "MANAGED",
        "serviceId": "2b9e8f00-0000-4000-8000-00000000000a",
        "serviceDefinitionId": "2b9e8f00-0000-4000-8000-00000000000b",
        "applicationId": "2b9e8f00-0000-4000-8000-00000000000c",
        "tags": ["bench", f"batch-{i % 10}"],
    }


_SEVERITIES = ("DEBUG", "NOTICE", "INFO", "WARNING", "ERROR")


def log_entry(i: int) -> dict[str, object]:
    """One log entry with a microsecond, zulu timestamp."""
    return {
        "message": f"step {i}: optimiser iteration finished, energy -1.13{i % 1000:03d}",
        "severity": _SEVERITIES[i % len(_SEVERITIES)],
        "timestamp": f"2026-11-25T12:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 1000000:06d}Z",
    }


def _response(body: bytes, content_type: bytes = b"application/json") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: "
        + content_type
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


_NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
    b'Content-Length: 23\r\n\r\n{"detail": "Not found"}'
)


class Routes:
    """The pre-rendered answers."""

    def __init__(self, executions: int, logs: int) -> None:
        self.status = _response(json.dumps(execution(1, "RUNNING")).encode())
        self.listing = _response(json.dumps([execution(i) for i in range(executions)]).encode())
        self.logs = _response(json.dumps([log_entry(i) for i in range(logs)]).encode())
        issued = {"access_token": "bench-issued-token", "token_type": "Bearer", "expires_in": 3600}
        self.token = _response(json.dumps(issued).encode())

    def route(self, path: bytes) -> bytes | int:
        """The full response for ``path``, or the byte count of a file to stream."""
        path = path.split(b"?", 1)[0]
        if path == b"/token":
            return self.token
        if not path.startswith(PREFIX):
            return _NOT_FOUND
        parts = path[len(PREFIX) :].strip(b"/").split(b"/")
        if parts == [b""]:
            return self.listing
        if len(parts) == 1:
            return self.status
        if len(parts) == 2 and parts[1] == b"log":
            return self.logs
        if len(parts) == 3 and parts[1] == b"result":
            match = _FILE_NAME.match(parts[2])
            if match:
                return int(match.group(1)) * len(CHUNK)
        return _NOT_FOUND


class CannedProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive; requests are answered in order, bodies are skipped."""

    def __init__(self, routes: Routes) -> None:
        self.routes = routes
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.paused = False
        self.streaming = 0
        self.skip = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._serve()

    def _serve(self) -> None:
        while not self.streaming:
            if self.skip:
                dropped = min(self.skip, len(self.buffer))
                self.buffer = self.buffer[dropped:]
                self.skip -= dropped
                if self.skip:
                    return
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end]
            self.buffer = self.buffer[end + 4 :]
            lines = head.split(b"\r\n")
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    self.skip = int(value)
            path = lines[0].split(b" ")[1]
            answer = self.routes.route(path)
            assert self.transport is not None
            if isinstance(answer, bytes):
                self.transport.write(answer)
            else:
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                    b"Content-Length: " + str(answer).encode() + b"\r\n\r\n"
                )
                self.streaming = answer
                self._stream()

    def _stream(self) -> None:
        assert self.transport is not None
        while self.streaming and not self.paused:
            piece = CHUNK if self.streaming >= len(CHUNK) else CHUNK[: self.streaming]
            self.transport.write(piece)
            self.streaming -= len(piece)
        if not self.streaming:
            self._serve()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.streaming:
            self._stream()

    def connection_lost(self, exc: Exception | None) -> None:
        self.streaming = 0
        self.transport = None


async def serve(executions: int, logs: int) -> None:
    """Listen until stdin closes (the parent's exit) or the process is terminated."""
    routes = Routes(executions, logs)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: CannedProtocol(routes), "127.0.0.1", 0, backlog=1024, reuse_address=True
    )
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    async with server:
        await loop.run_in_executor(None, sys.stdin.read)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=20_000)
    parser.add_argument("--logs", type=int, default=20_000)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.executions, args.logs))


if __name__ == "__main__":
    main()
