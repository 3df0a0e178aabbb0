"""The mock gateway as an ASGI application (starlette requests, hand-rolled routing).

Routing works on the raw request path, so a percent-encoded ``/`` inside an id
stays inside that one path segment, exactly as the OpenAPI document says. Every
error, unknown routes and methods included, is JSON ``{"detail": ...}``; a 405
carries an ``Allow`` header listing exactly the documented methods.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive, Scope, Send

from .faults import Fault, FaultConfig, FaultInjector, FaultKind
from .files import DEFAULT_CHUNK, bin_etag, iter_result_bin, json_etag, result_json_bytes
from .state import TERMINAL, Execution, ExecutionStore, IdempotencyConflict, InvalidInput, Timing

__all__ = ["ADMIN_PREFIX", "InjectedDisconnect", "MockGatewayApp"]

#: Where the gateway's own control endpoints live (outside the base path, no token).
ADMIN_PREFIX = "/_mock"
#: Largest request body read.
MAX_BODY = 16 * 1024 * 1024
_RANGE = re.compile(r"bytes=([0-9]+)-")

# (path template segments, method -> operation id); one entry per path, all its methods.
_ROUTES: tuple[tuple[tuple[str, ...], dict[str, str]], ...] = (
    ((), {"GET": "getServiceExecutions", "POST": "startExecution"}),
    (("{id}",), {"GET": "getStatus"}),
    (("{id}", "result"), {"GET": "getResult"}),
    (("{id}", "result", "{file}"), {"GET": "getResultFile"}),
    (("{id}", "log"), {"GET": "getLogs"}),
    (("{id}", "cancel"), {"PUT": "cancelExecution"}),
)


class InjectedDisconnect(ConnectionAbortedError):
    """Raised to drop a connection when the server gives no access to its transport."""


class _HTTPError(Exception):
    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


@dataclass(slots=True)
class _Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: Callable[[], Iterator[bytes]] | None = None
    length: int = 0

    @property
    def size(self) -> int:
        return self.length if self.stream is not None else len(self.body)


def _json(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> _Reply:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return _raw_json(status, body, headers)


def _raw_json(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> _Reply:
    return _Reply(status, {"content-type": "application/json", **(headers or {})}, body)


def _error(status: int, detail: str, headers: Mapping[str, str] | None = None) -> _Reply:
    return _json(status, {"detail": detail}, headers)


def _shorten(value: str, limit: int = 80) -> str:
    return value if len(value) <= limit else value[:limit] + "…"


def normalize_base_path(base_path: str) -> str:
    """``acme/vqe/v1/`` -> ``/acme/vqe/v1``; ``/`` and empty -> empty."""
    if not isinstance(base_path, str) or any(c in base_path for c in "?#\\ ") or "//" in base_path:
        raise ValueError(f"invalid base path {base_path!r}: use the form /context/service/version")
    path = "/" + base_path.strip("/")
    return "" if path == "/" else path


def _parse_json(raw: bytes) -> Any:
    def reject(constant: str) -> Any:
        raise ValueError(f"{constant} is not valid JSON")

    return json.loads(raw.decode("utf-8"), parse_constant=reject)


@dataclass(slots=True)
class _File:
    media_type: str
    size: int
    etag: str
    chunks: Callable[[int], Iterator[bytes]]


class MockGatewayApp:
    """The stateful mock of the service gateway.

    ``tokens`` restricts the accepted bearer tokens (any non-empty token when
    ``None``); ``timing`` sets how long executions stay PENDING and RUNNING;
    ``faults`` injects faults; ``seed`` fixes the sequence of execution ids;
    ``clock`` (monotonic seconds) lets tests drive time; ``timestamp_format`` writes
    execution timestamps as the real gateway does (``"gateway"``: ``2026-11-27 14:31:44``,
    UTC) or as ISO 8601 (``"iso"``).
    """

    def __init__(
        self,
        *,
        base_path: str = "",
        tokens: Iterable[str] | None = None,
        timing: Timing | None = None,
        faults: FaultConfig | None = None,
        seed: int = 0,
        clock: Callable[[], float] | None = None,
        timestamp_format: str = "gateway",
    ) -> None:
        self.base_path = normalize_base_path(base_path)
        accepted = None if tokens is None else frozenset(tokens)
        if accepted is not None and not (accepted and all(t and t.strip() == t for t in accepted)):
            raise ValueError("tokens must be non-empty strings without surrounding whitespace")
        self.tokens = accepted
        self.store = ExecutionStore(
            timing=timing, seed=seed, clock=clock, timestamp_format=timestamp_format
        )
        self.faults = FaultInjector(faults)
        #: API requests routed so far; a test clock can step with it.
        self.requests_seen = 0
        # Streamed result-file bodies: being sent, sent to the end, stopped because the client
        # went away, and body bytes handed to the server. Written by the event loop only.
        self._streams = {"active": 0, "completed": 0, "abandoned": 0, "bytes_sent": 0}
        #: Set when the server stops: injected latency ends at once, so shutting down never
        #: has to cancel a request that is only waiting (and log its traceback).
        self.stopping = threading.Event()

    def stats(self) -> dict[str, Any]:
        """Counters: executions created, idempotent replays, requests per operation, faults,
        and streamed downloads (``streams``: active, completed, abandoned, bytes_sent)."""
        faults = self.faults.counts()
        return {**self.store.counters(), "faults": faults, "streams": dict(self._streams)}

    # -- ASGI -------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1003})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1").split("?", 1)[0]
        method: str = scope["method"]
        try:
            body = await self._read_body(request)
        except ClientDisconnect:
            return
        except _HTTPError as exc:
            await self._transmit(_error(exc.status, exc.detail, exc.headers), send, receive)
            return
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            await self._transmit(self._admin(method, path, body), send, receive)
            return
        found = self._route(path)
        if found is None:
            await self._transmit(_error(404, "Not found"), send, receive)
            return
        methods, params = found
        operation = methods.get(method)
        if operation is None:
            allow = ", ".join(methods)
            reply = _error(405, f"Method {method} not allowed; allowed: {allow}", {"allow": allow})
            await self._transmit(reply, send, receive)
            return
        self.requests_seen += 1
        self.store.count_request(operation)
        fault = self.faults.draw(operation)
        if fault is not None:
            early = await self._early_fault(fault, send)
            if isinstance(early, _Reply):
                await self._transmit(early, send, receive)
                return
            if early:
                return
        try:
            reply = self._handle(operation, params, request.headers, body, scope)
        except _HTTPError as exc:
            reply = _error(exc.status, exc.detail, exc.headers)
        await self._send_with_fault(reply, fault, send, receive)

    async def _read_body(self, request: Request) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                raise _HTTPError(400, f"Request body larger than {MAX_BODY} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _route(self, path: str) -> tuple[dict[str, str], dict[str, str]] | None:
        base = self.base_path
        if base:
            if path != base and not path.startswith(base + "/"):
                return None
            path = path[len(base) :]
        rest = path[1:] if path.startswith("/") else path
        segments = [unquote(s) for s in rest.split("/")] if rest else []
        for template, methods in _ROUTES:
            if len(template) != len(segments):
                continue
            params: dict[str, str] = {}
            for name, value in zip(template, segments, strict=True):
                if name.startswith("{"):
                    if not value:
                        break
                    params[name[1:-1]] = value
                elif name != value:
                    break
            else:
                return methods, params
        return None

    # -- faults ---------------------------------------------------------------------------

    async def _early_fault(self, fault: Fault, send: Send) -> _Reply | bool | None:
        """Faults that strike before the request is handled: a reply, True when dropped."""
        config = self.faults.config
        kind = fault.kind
        if kind is FaultKind.LATENCY:
            self.faults.record(kind)
            await self._delay(config.latency)
            return None
        if kind is FaultKind.ERROR:
            self.faults.record(kind)
            return self._fault_error(fault)
        if kind is FaultKind.RATE_LIMIT:
            self.faults.record(kind)
            return _error(
                429, "Too many requests (injected fault)", {"retry-after": str(config.retry_after)}
            )
        if kind is FaultKind.DISCONNECT:
            self.faults.record(kind)
            await self._drop(send)
            return True
        return None

    def _fault_error(self, fault: Fault) -> _Reply:
        config = self.faults.config
        status = fault.error_status(config.error_statuses)
        headers = {"retry-after": str(config.retry_after)} if status == 503 else None
        return _error(status, f"Injected fault: server error {status}", headers)

    async def _send_with_fault(
        self, reply: _Reply, fault: Fault | None, send: Send, receive: Receive
    ) -> None:
        if fault is not None and fault.kind is FaultKind.TRUNCATE and reply.size >= 2:
            self.faults.record(fault.kind)
            await self._transmit(reply, send, receive, cut=fault.cut(reply.size))
            return
        if fault is not None and fault.kind is FaultKind.LOST_RESPONSE and reply.status == 201:
            self.faults.record(fault.kind)
            if fault.lost_as_error:
                await self._transmit(self._fault_error(fault), send, receive)
            else:
                await self._drop(send)
            return
        await self._transmit(reply, send, receive)

    async def _drop(self, send: Send) -> None:
        """Close the connection now; bytes already written still reach the client."""
        owner = getattr(send, "__self__", None)
        transport = getattr(owner, "transport", None)
        if not isinstance(transport, asyncio.BaseTransport):
            raise InjectedDisconnect("injected fault: connection dropped")
        transport.close()
        for _ in range(500):
            if getattr(owner, "disconnected", True):
                return
            await asyncio.sleep(0.01)

    # -- sending --------------------------------------------------------------------------

    async def _transmit(
        self, reply: _Reply, send: Send, receive: Receive, cut: int | None = None
    ) -> None:
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items()]
        if reply.status not in (204, 304):
            headers.append((b"content-length", str(reply.size).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        if reply.stream is None:
            if cut is not None:
                partial: Message = {"type": "http.response.body", "body": reply.body[:cut]}
                await send({**partial, "more_body": True})
                await self._drop(send)
                return
            await send({"type": "http.response.body", "body": reply.body, "more_body": False})
            return
        gone = asyncio.Event()
        watcher = asyncio.ensure_future(self._watch_disconnect(receive, gone))
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        closing = transport.is_closing if isinstance(transport, asyncio.BaseTransport) else None
        streams = self._streams
        streams["active"] += 1
        try:
            sent = 0
            for chunk in reply.stream():
                if gone.is_set() or (closing is not None and closing()):
                    streams["abandoned"] += 1
                    return
                if cut is not None and sent + len(chunk) >= cut:
                    part: Message = {
                        "type": "http.response.body",
                        "body": chunk[: cut - sent],
                        "more_body": True,
                    }
                    await send(part)
                    streams["bytes_sent"] += len(part["body"])
                    await self._drop(send)
                    return
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                sent += len(chunk)
                streams["bytes_sent"] += len(chunk)
                # Once the socket is dead, send() never suspends (asyncio just drops the writes),
                # so without this the disconnect watcher would only run after the whole file.
                await asyncio.sleep(0)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            streams["completed"] += 1
        finally:
            streams["active"] -= 1
            watcher.cancel()

    async def _delay(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when the server is stopping."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self.stopping.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, 0.05))

    @staticmethod
    async def _watch_disconnect(receive: Receive, gone: asyncio.Event) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                gone.set()
                return

    # -- operations -----------------------------------------------------------------------

    def _base_url(self, scope: Scope, headers: Headers) -> str:
        host = headers.get("host")
        if not host:
            server = scope.get("server") or ("127.0.0.1", 80)
            host = f"{server[0]}:{server[1]}"
        return f"{scope.get('scheme', 'http')}://{host}{self.base_path}"

    def _authenticate(self, headers: Headers) -> None:
        challenge = {"www-authenticate": "Bearer"}
        missing = "Not authenticated: send 'Authorization: Bearer <token>'"
        scheme, _, token = (headers.get("authorization") or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _HTTPError(401, missing, challenge)
        if self.tokens is not None and token not in self.tokens:
            raise _HTTPError(401, "Invalid token", challenge)

    def _execution(self, params: Mapping[str, str]) -> Execution:
        execution = self.store.get(params["id"])
        if execution is None:
            raise _HTTPError(404, f"Execution {_shorten(params['id'])!r} not found")
        return execution

    def _handle(
        self,
        operation: str,
        params: Mapping[str, str],
        headers: Headers,
        body: bytes,
        scope: Scope,
    ) -> _Reply:
        self._authenticate(headers)
        base_url = self._base_url(scope, headers)
        store = self.store
        if operation == "getServiceExecutions":
            return _json(200, [store.snapshot(e) for e in store.all()])
        if operation == "startExecution":
            return self._start(headers, body, base_url)
        execution = self._execution(params)
        if operation == "getStatus":
            return _json(200, store.snapshot(execution))
        if operation == "getResult":
            return self._result(execution, base_url)
        if operation == "getResultFile":
            return self._result_file(execution, params["file"], headers)
        if operation == "getLogs":
            entries = store.logs(execution)
            return _json(200, entries) if entries else _Reply(204)
        if operation == "cancelExecution":
            blocked = store.cancel(execution.id)
            if blocked is not None:
                raise _HTTPError(409, f"Execution is already {blocked}; it cannot be cancelled")
            return _Reply(204)
        raise AssertionError(f"unrouted operation {operation}")  # pragma: no cover

    def _start(self, headers: Headers, body: bytes, base_url: str) -> _Reply:
        key = headers.get("idempotency-key")
        if key is not None and not 1 <= len(key) <= 255:
            raise _HTTPError(400, "Idempotency-Key must be 1 to 255 characters long")
        media_type = headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            raise _HTTPError(400, "Content-Type must be application/json")
        if not body.strip():
            raise _HTTPError(400, "A JSON object request body is required")
        try:
            payload = _parse_json(body)
        except ValueError as exc:
            raise _HTTPError(400, f"Request body is not valid JSON: {_shorten(str(exc))}") from None
        if not isinstance(payload, dict):
            raise _HTTPError(400, "Request body must be a JSON object")

        def render(execution: Execution) -> bytes:
            return json.dumps(self.store.snapshot(execution), separators=(",", ":")).encode()

        try:
            execution, response, replayed = self.store.create(payload, key, render)
        except InvalidInput as exc:
            raise _HTTPError(400, str(exc)) from None
        except IdempotencyConflict as exc:
            raise _HTTPError(409, str(exc)) from None
        extra = {"location": f"{base_url}/{quote(execution.id, safe='')}"}
        if replayed:
            extra["idempotent-replayed"] = "true"
        return _raw_json(201, response, extra)

    def _files(self, execution: Execution) -> dict[str, _File]:
        if execution.status_at(self.store.now()) != "SUCCEEDED":
            return {}
        content = result_json_bytes(execution.id, execution.output())
        size = execution.result_size
        return {
            "result.json": _File(
                "application/json",
                len(content),
                json_etag(content),
                lambda start: iter((content[start:],)),
            ),
            "result.bin": _File(
                "application/octet-stream",
                size,
                bin_etag(execution.id, size),
                lambda start: iter_result_bin(execution.id, size, start, DEFAULT_CHUNK),
            ),
        }

    def _result(self, execution: Execution, base_url: str) -> _Reply:
        snapshot = self.store.snapshot(execution)
        status = snapshot["status"]
        if status not in TERMINAL:
            raise _HTTPError(
                409, f"Execution is {status}; its result is available once it has finished"
            )
        href = f"{base_url}/{quote(execution.id, safe='')}"
        links: dict[str, Any] = {"status": {"href": href}}
        for name, file in self._files(execution).items():
            links[name] = {
                "href": f"{href}/result/{quote(name, safe='')}",
                "type": file.media_type,
                "name": name,
            }
        result: dict[str, Any] = {}
        if status == "SUCCEEDED":
            result["output"] = execution.output()
        elif status == "FAILED":
            result["error"] = {
                "message": "The input asked for a failure",
                "code": "REQUESTED_FAILURE",
            }
        result["_links"] = links
        result["_embedded"] = {"status": snapshot}
        return _json(200, result)

    def _result_file(self, execution: Execution, name: str, headers: Headers) -> _Reply:
        status = execution.status_at(self.store.now())
        if status not in TERMINAL:
            raise _HTTPError(409, f"Execution is {status}; its files exist once it has finished")
        file = self._files(execution).get(name)
        if file is None:
            raise _HTTPError(404, f"Execution has no result file {_shorten(name)!r}")
        # The spec documents application/octet-stream for every file; the HAL link has the type.
        common = {
            "content-type": "application/octet-stream",
            "etag": file.etag,
            "accept-ranges": "bytes",
        }
        requested = headers.get("range")
        start: int | None = None
        if requested is not None:
            match = _RANGE.fullmatch(requested.strip())
            if match is None:
                raise _HTTPError(400, "Only 'Range: bytes=N-' is supported")
            if_range = headers.get("if-range")
            if if_range is None or if_range.strip() == file.etag:
                start = int(match.group(1))
                if start >= file.size:
                    raise _HTTPError(
                        416,
                        f"Range starts at {start}, beyond the end of the {file.size}-byte file",
                        {"content-range": f"bytes */{file.size}"},
                    )
        if start is None:
            return _Reply(200, common, stream=lambda: file.chunks(0), length=file.size)
        offset = start
        common["content-range"] = f"bytes {offset}-{file.size - 1}/{file.size}"
        return _Reply(206, common, stream=lambda: file.chunks(offset), length=file.size - offset)

    # -- control endpoints ----------------------------------------------------------------

    def _admin(self, method: str, path: str, body: bytes) -> _Reply:
        name = path[len(ADMIN_PREFIX) :]
        if name == "/stats":
            if method != "GET":
                return _error(405, f"Method {method} not allowed; allowed: GET", {"allow": "GET"})
            return _json(200, self.stats())
        if name == "/faults":
            if method == "GET":
                return _json(200, self.faults.config.to_dict())
            if method != "PUT":
                return _error(
                    405, f"Method {method} not allowed; allowed: GET, PUT", {"allow": "GET, PUT"}
                )
            try:
                config = FaultConfig.from_dict(_parse_json(body) if body.strip() else {})
            except (ValueError, TypeError) as exc:
                return _error(400, f"Invalid fault configuration: {exc}")
            self.faults.configure(config)
            return _json(200, config.to_dict())
        return _error(404, "Not found")
