"""The mock gateway as an ASGI application (starlette requests, hand-rolled routing).

Routing works on the raw request path, so a percent-encoded ``/`` inside an id
stays inside that one path segment, exactly as the OpenAPI document says. Every
error, unknown routes and methods included, is JSON ``{"detail": ...}``; a 405
carries an ``Allow`` header listing exactly the documented methods.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive, Scope, Send

from .faults import FaultConfig, FaultInjector
from .guard import ConnectionGuard, GuardedConnection
from .intake import TOKEN_BODY_LIMIT, BodyParser, StartBody, check_head, parse_json
from .rate import RateLimit, RateLimiter
from .results import result_file_reply, result_reply, shorten
from .sending import (
    HTTPError,
    InjectedDisconnect,
    Reply,
    Sender,
    error_reply,
    json_reply,
    raw_json,
    read_body,
)
from .settings import MockSettings
from .state import Execution, ExecutionStore, IdempotencyConflict, InvalidInput
from .token import TOKEN_PATH, TokenIssuer

__all__ = ["ADMIN_PREFIX", "InjectedDisconnect", "MockGatewayApp"]

#: Where the gateway's own control endpoints live (outside the base path; they need a token
#: the API accepts when the gateway has ``tokens`` or ``access_keys``, else they are open).
ADMIN_PREFIX = "/_mock"

# (path template segments, method -> operation id); one entry per path, all its methods.
_ROUTES: tuple[tuple[tuple[str, ...], dict[str, str]], ...] = (
    ((), {"GET": "getServiceExecutions", "POST": "startExecution"}),
    (("{id}",), {"GET": "getStatus"}),
    (("{id}", "result"), {"GET": "getResult"}),
    (("{id}", "result", "{file}"), {"GET": "getResultFile"}),
    (("{id}", "log"), {"GET": "getLogs"}),
    (("{id}", "cancel"), {"PUT": "cancelExecution"}),
)


class MockGatewayApp:
    """The stateful mock of the service gateway, as an ASGI application.

    Takes a :class:`~.settings.MockSettings`, or its fields as keyword options (``timing=``,
    ``tokens=``, ``faults=``, ``limits=``, ...); ``host``, ``port`` and the log options
    matter only to a server that runs it.
    """

    def __init__(self, settings: MockSettings | None = None, /, **options: Any) -> None:
        settings = MockSettings.from_options(settings, **options)
        self.settings = settings
        self.base_path = settings.base_path
        self.limits = settings.limits
        #: The open connections, when served by :class:`~.server.MockGateway` or the CLI.
        self.connections = ConnectionGuard(self.limits)
        self._stored_bytes = 0
        self.token_issuer = TokenIssuer(
            settings.access_keys, lifetime=settings.token_lifetime, clock=settings.clock
        )
        self.tokens = None if settings.tokens is None else frozenset(settings.tokens)
        self.store = ExecutionStore(
            timing=settings.timing,
            seed=settings.seed,
            clock=settings.clock,
            timestamp_format=settings.timestamp_format,
        )
        self.faults = FaultInjector(settings.faults)
        self.rate_limiter = RateLimiter(settings.rate_limit)
        self.parser = BodyParser(self.limits)
        #: API requests routed so far; a test clock can step with it.
        self.requests_seen = 0
        # Streamed result-file bodies: being sent, sent to the end, stopped because the client
        # went away, and body bytes handed to the server. Written by the event loop only.
        self._streams = {"active": 0, "completed": 0, "abandoned": 0, "bytes_sent": 0}
        #: Set when the server stops: injected latency ends at once, so shutting down never
        #: has to cancel a request that is only waiting (and log its traceback).
        self.stopping = threading.Event()
        self.sender = Sender(self.faults, self.stopping, self._streams)

    def set_rate_limit(self, limit: RateLimit | None) -> None:
        """Apply this rate limit from now on (``None``: none), with an empty window."""
        self.rate_limiter = RateLimiter(limit)

    def stats(self) -> dict[str, Any]:
        """Counters: executions created, idempotent replays, requests per operation (and
        ``rate_limited``: those refused by the rate limit, per operation), faults,
        streamed downloads (``streams``: active, completed, abandoned, bytes_sent),
        ``connections`` (open, accepted, shed, header_timeouts, peak), ``tokens`` (POST /token)."""
        faults = self.faults.counts()
        return {
            **self.store.counters(),
            "faults": faults,
            "streams": dict(self._streams),
            "connections": self.connections.counts(),
            "tokens": self.token_issuer.counts(),
        }

    # -- ASGI -------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            with self.connections.serving(scope.get("client")) as connection:
                await self._http(scope, receive, send, connection)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1003})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.connections.close_all()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(
        self, scope: Scope, receive: Receive, send: Send, connection: GuardedConnection | None
    ) -> None:
        request = Request(scope, receive)
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1").split("?", 1)[0]
        method: str = scope["method"]
        control = path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")
        try:
            check_head(scope, self.limits)
            if control and self.control_locked:  # before the body is read
                self._authenticate(request.headers, close=True)
            limit = TOKEN_BODY_LIMIT if path == TOKEN_PATH else None
            body = await read_body(request, self.limits, limit)
            if connection is not None:
                connection.body_read()
        except ClientDisconnect:
            return
        except HTTPError as exc:
            await self.sender.transmit(
                error_reply(exc.status, exc.detail, exc.headers), send, receive
            )
            return
        if control:
            await self.sender.transmit(self._admin(method, path, body), send, receive)
            return
        if path == TOKEN_PATH:
            answer = self.token_issuer.reply(method, request.headers, body)
            await self.sender.transmit(answer, send, receive)
            return
        found = self._route(path)
        if found is None:
            await self.sender.transmit(error_reply(404, "Not found"), send, receive)
            return
        methods, params = found
        operation = methods.get(method)
        if operation is None:
            allow = ", ".join(methods)
            reply = error_reply(
                405, f"Method {method} not allowed; allowed: {allow}", {"allow": allow}
            )
            await self.sender.transmit(reply, send, receive)
            return
        self.requests_seen += 1
        wait = self.rate_limiter.admit(self.store.now())
        self.store.count_request(operation, rate_limited=wait is not None)
        if wait is not None:
            await self.sender.transmit(self._rate_limited(wait), send, receive)
            return
        fault = self.faults.draw(operation)
        if fault is not None:
            early = await self.sender.early_fault(fault, connection)
            if isinstance(early, Reply):
                await self.sender.transmit(early, send, receive)
                return
            if early:
                return
        try:
            self._authenticate(request.headers)
            start = None
            if operation == "startExecution":
                start = await self._start_body(request.headers, body)
            reply = self._handle(operation, params, request.headers, start, scope)
        except HTTPError as exc:
            reply = error_reply(exc.status, exc.detail, exc.headers)
        await self.sender.send_with_fault(reply, fault, send, receive, connection)

    def _rate_limited(self, wait: int) -> Reply:
        limit = self.rate_limiter.limit
        assert limit is not None
        detail = (
            f"Rate limit exceeded: at most {limit.capacity} requests per {limit.window:g} s; "
            f"retry after {wait} s"
        )
        return error_reply(429, detail, {"retry-after": str(wait)})

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

    # -- operations -----------------------------------------------------------------------

    def _base_url(self, scope: Scope, headers: Headers) -> str:
        host = headers.get("host")
        if not host:
            server = scope.get("server") or ("127.0.0.1", 80)
            host = f"{server[0]}:{server[1]}"
        return f"{scope.get('scheme', 'http')}://{host}{self.base_path}"

    @property
    def control_locked(self) -> bool:
        """Whether ``/_mock/*`` needs a token the API accepts: when ``tokens`` or
        ``access_keys`` are set. Without either, the API takes any token and these are open."""
        return self.tokens is not None or self.token_issuer.enabled

    def _authenticate(self, headers: Headers, *, close: bool = False) -> None:
        """401 unless the request has a bearer token the API accepts; ``close``: the body
        is left unread, so the answer closes the connection."""
        challenge = {"www-authenticate": "Bearer", **({"connection": "close"} if close else {})}
        missing = "Not authenticated: send 'Authorization: Bearer <token>'"
        scheme, _, token = (headers.get("authorization") or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise HTTPError(401, missing, challenge)
        if self.token_issuer.enabled:
            return self.token_issuer.authenticate(token, self.tokens)
        if self.tokens is not None and token not in self.tokens:
            raise HTTPError(401, "Invalid token", challenge)

    def _execution(self, params: Mapping[str, str]) -> Execution:
        execution = self.store.get(params["id"])
        if execution is None:
            raise HTTPError(404, f"Execution {shorten(params['id'])!r} not found")
        return execution

    def _handle(
        self,
        operation: str,
        params: Mapping[str, str],
        headers: Headers,
        start: StartBody | None,
        scope: Scope,
    ) -> Reply:
        base_url = self._base_url(scope, headers)
        store = self.store
        if operation == "getServiceExecutions":
            return raw_json(200, store.listing())
        if start is not None:
            return self._start(headers.get("idempotency-key"), start, base_url)
        execution = self._execution(params)
        if operation == "getStatus":
            return raw_json(200, store.render(execution))
        if operation == "getResult":
            return result_reply(store, execution, base_url)
        if operation == "getResultFile":
            return result_file_reply(store, execution, params["file"], headers)
        if operation == "getLogs":
            entries = store.logs(execution)
            return json_reply(200, entries) if entries else Reply(204)
        if operation == "cancelExecution":
            blocked = store.cancel(execution.id)
            if blocked is not None:
                raise HTTPError(409, f"Execution is already {blocked}; it cannot be cancelled")
            return Reply(204)
        raise AssertionError(f"unrouted operation {operation}")  # pragma: no cover

    async def _start_body(self, headers: Headers, body: bytes) -> StartBody:
        """Check a start's headers and room, then parse its body within the limits."""
        key = headers.get("idempotency-key")
        if key is not None and not 1 <= len(key) <= 255:
            raise HTTPError(400, "Idempotency-Key must be 1 to 255 characters long")
        media_type = headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            raise HTTPError(400, "Content-Type must be application/json")
        if not body.strip():
            raise HTTPError(400, "A JSON object request body is required")
        if key is None or not self.store.holds_key(key):  # a replay needs no room
            self._admit(len(self.store), len(body), claim=False)  # before any parsing
        return await self.parser.run(body, lambda: self.parser.start_body(body, key is not None))

    def _start(self, key: str | None, start: StartBody, base_url: str) -> Reply:
        try:
            execution, response, replayed = self.store.create(
                start.payload,
                key,
                admit=lambda stored: self._admit(stored, start.cost),
                body_fingerprint=start.fingerprint,
            )
        except InvalidInput as exc:
            raise HTTPError(400, str(exc)) from None
        except IdempotencyConflict as exc:
            raise HTTPError(409, str(exc)) from None
        extra = {"location": f"{base_url}/{quote(execution.id, safe='')}"}
        if replayed:
            extra["idempotent-replayed"] = "true"
        return raw_json(201, response, extra)

    def _admit(self, stored: int, size: int, *, claim: bool = True) -> None:
        """Refuse a new execution past ``max_executions`` or ``max_stored_bytes`` (``size``:
        the memory its body keeps); else count its ``size`` when ``claim``."""
        limits = self.limits
        if stored >= limits.max_executions or self._stored_bytes + size > limits.max_stored_bytes:
            raise HTTPError(
                507,
                f"The mock gateway holds {stored} executions ({self._stored_bytes} bytes of "
                f"input in memory), its limit ({limits.max_executions} executions, "
                f"{limits.max_stored_bytes} bytes); restart it to start afresh",
            )
        if claim:
            self._stored_bytes += size

    # -- control endpoints ----------------------------------------------------------------

    def _admin(self, method: str, path: str, body: bytes) -> Reply:
        name = path[len(ADMIN_PREFIX) :]
        if name == "/stats":
            if method != "GET":
                return error_reply(
                    405, f"Method {method} not allowed; allowed: GET", {"allow": "GET"}
                )
            return json_reply(200, self.stats())
        if name == "/faults":
            if method == "GET":
                return json_reply(200, self.faults.config.to_dict())
            if method != "PUT":
                return error_reply(
                    405, f"Method {method} not allowed; allowed: GET, PUT", {"allow": "GET, PUT"}
                )
            try:
                config = FaultConfig.from_dict(
                    parse_json(body, self.limits)[0] if body.strip() else {}
                )
            except HTTPError as exc:
                return error_reply(400, f"Invalid fault configuration: {exc.detail}")
            except (ValueError, TypeError) as exc:
                return error_reply(400, f"Invalid fault configuration: {exc}")
            self.faults.configure(config)
            return json_reply(200, config.to_dict())
        return error_reply(404, "Not found")
