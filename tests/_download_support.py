"""Helpers of the download tests: run one ``service_api`` method on each client backend, and a
small loopback gateway whose result files stream in two halves with a hook between them.

The hook runs in the server's thread after the first half was sent (and before the rest is),
so a test can change the file system in the middle of a download made through the public
surface by the sync client, the httpx-async client or the aiohttp-async client alike.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from kipu_hub_service import AsyncHubServiceClient, HubServiceClient

BACKENDS = ["sync", "aiohttp", "httpx"]
"""The sync client, and the async client on aiohttp (its default) and on httpx."""
TOKEN = "link-token-abcdef"
BASE_PATH = "/acme/vqe/v1"
EXECUTION = "exec-swap-1"


def call(backend: str, url: str, method: str, *args: Any, **kwargs: Any) -> Any:
    """Run one ``service_api`` method on the sync client or an async one (aiohttp or httpx)."""
    if backend == "sync":
        with HubServiceClient(base_url=url, token=TOKEN) as client:
            return getattr(client.service_api, method)(*args, **kwargs)

    async def run() -> Any:
        async with AsyncHubServiceClient(base_url=url, token=TOKEN) as client:
            return await getattr(client.service_api, method)(*args, **kwargs)

    with backend_env(backend):
        return asyncio.run(run())


@contextmanager
def backend_env(backend: str) -> Iterator[None]:
    """``QHUB_SERVICE_NO_AIOHTTP=1`` for the httpx-async backend, for the block only."""
    previous = os.environ.get("QHUB_SERVICE_NO_AIOHTTP")
    if backend == "httpx":
        os.environ["QHUB_SERVICE_NO_AIOHTTP"] = "1"
    try:
        yield
    finally:
        if backend == "httpx":
            if previous is None:
                del os.environ["QHUB_SERVICE_NO_AIOHTTP"]
            else:
                os.environ["QHUB_SERVICE_NO_AIOHTTP"] = previous


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (the download failed on purpose) is not an error here."""


Hook = Callable[[str], None]
"""Called with the file's name between the two halves of its body."""

_RANGE = re.compile(r"^bytes=(\d+)-$")


class HalvesGateway:
    """One succeeded execution ``EXECUTION`` with ``files``; ``hooks[name]`` runs once, in the
    server's thread, when half of that file's body has been sent."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.hooks: dict[str, Hook] = {}
        self.hook_errors: list[BaseException] = []
        self.file_requests: list[str] = []
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{BASE_PATH}"

    def __enter__(self) -> HalvesGateway:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def envelope(self) -> dict[str, Any]:
        links: dict[str, Any] = {"status": {"href": f"/{EXECUTION}"}}
        links.update({name: {"href": f"/{EXECUTION}/result/{name}"} for name in self.files})
        status = {"id": EXECUTION, "createdAt": "2026-11-25T12:00:00Z", "status": "SUCCEEDED"}
        return {"_links": links, "_embedded": {"status": status}}

    def run_hook(self, name: str) -> None:
        hook = self.hooks.pop(name, None)
        if hook is None:
            return
        try:
            hook(name)
        except BaseException as exc:  # reported by the test, never lost in the thread
            self.hook_errors.append(exc)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                prefix = f"{BASE_PATH}/{EXECUTION}/result"
                if path == prefix:
                    body = json.dumps(gateway.envelope()).encode()
                    self._send(200, body, {"Content-Type": "application/json"})
                    return
                name = unquote(path.removeprefix(prefix + "/"))
                if not path.startswith(prefix + "/") or name not in gateway.files:
                    self._send(404, b'{"message": "not found"}', {})
                    return
                gateway.file_requests.append(name)
                self._file(name, gateway.files[name])

            def _file(self, name: str, data: bytes) -> None:
                match = _RANGE.match(self.headers.get("Range", ""))
                start = int(match[1]) if match else 0
                headers = {"Content-Type": "application/octet-stream", "ETag": '"v1"'}
                if start >= len(data) and match:
                    headers["Content-Range"] = f"bytes */{len(data)}"
                    self._send(416, b"", headers)
                    return
                body = data[start:]
                self.send_response(206 if match else 200)
                if match:
                    headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
                for key, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(key, value)
                self.end_headers()
                half = len(body) // 2
                try:
                    self.wfile.write(body[:half])
                    self.wfile.flush()
                    gateway.run_hook(name)
                    self.wfile.write(body[half:])
                    self.wfile.flush()
                except OSError:  # the client went away
                    self.close_connection = True

        return Handler
