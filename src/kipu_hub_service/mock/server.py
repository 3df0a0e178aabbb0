"""Running the mock gateway under uvicorn: in a background thread, or in the foreground."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .app import MockGatewayApp
from .faults import FaultConfig
from .limits import accept_backlog
from .rate import RateLimit
from .settings import MockSettings
from .token import TOKEN_PATH

__all__ = ["MockGateway", "bind"]


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket; port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it: uvicorn writes headers and body separately, and
        # Nagle's algorithm with delayed ACKs would add ~40 ms to every response.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(accept_backlog())
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _url(host: str, port: int, base_path: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{base_path}"


def uvicorn_config(app: MockGatewayApp, *, own_logging: bool = True) -> uvicorn.Config:
    """How the gateway runs under uvicorn: quiet (``app.settings.log_level``,
    ``access_log``), and quick to shut down mid-download.

    HTTP/1.1 is uvicorn's h11 protocol behind the app's connection guard (connection cap,
    header deadline); no WebSocket upgrades; ``scope["client"]`` is the real peer (no proxy
    headers), which is how the app finds its connection. ``own_logging=False`` leaves the
    host process's logging configuration alone.
    """
    options: dict[str, Any] = {} if own_logging else {"log_config": None}
    return uvicorn.Config(
        app,
        **options,
        http=app.connections.protocol_class(H11Protocol),
        ws="none",
        proxy_headers=False,
        backlog=accept_backlog(),
        lifespan="on",
        log_level=app.settings.log_level,
        access_log=app.settings.access_log,
        timeout_graceful_shutdown=1,
        # The guard answers a head past max_header_bytes with 431 first (see guard.py).
        h11_max_incomplete_event_size=max(app.limits.max_header_bytes, 16 * 1024) + 1,
        server_header=False,
    )


class MockGateway:
    """The mock gateway on a real loopback port, served from a background thread.

    >>> with MockGateway() as gateway:          # doctest: +SKIP
    ...     client = HubServiceClient(base_url=gateway.url, token="t")

    Takes a :class:`~.settings.MockSettings`, or its fields as keyword options: ``host`` and
    ``port`` (0 picks a free one), ``timing=``, ``tokens=``, ``faults=``, ``limits=``,
    ``access_keys=`` (which turn on ``POST /token`` at :attr:`token_url`), ...
    ``faults`` can be changed while it runs (``gateway.set_faults(...)``);
    ``gateway.stats()`` counts executions created, requests per operation and faults injected.
    """

    def __init__(self, settings: MockSettings | None = None, /, **options: Any) -> None:
        self.settings = MockSettings.from_options(settings, **options)
        self.app = MockGatewayApp(self.settings)
        self.host = self.settings.host
        self.port = self.settings.port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321/acme/vqe/v1``."""
        if self._server is None:
            raise RuntimeError("the mock gateway is not running; call start() first")
        return _url(self.host, self.port, self.app.base_path)

    @property
    def token_url(self) -> str:
        """The token endpoint, on the root outside the base path: ``http://127.0.0.1:54321/token``."""
        if self._server is None:
            raise RuntimeError("the mock gateway is not running; call start() first")
        return _url(self.host, self.port, TOKEN_PATH)

    def set_faults(self, faults: FaultConfig | None) -> None:
        """Inject these faults from now on (``None`` stops injecting); restarts the seed."""
        self.app.faults.configure(faults)

    def set_rate_limit(self, limit: RateLimit | None) -> None:
        """Apply this rate limit from now on (``None``: none), with an empty window."""
        self.app.set_rate_limit(limit)

    def stats(self) -> dict[str, Any]:
        """Executions created, idempotent replays, requests per operation, faults per kind."""
        return self.app.stats()

    def start(self, timeout: float = 15.0) -> MockGateway:
        if self._server is not None:
            raise RuntimeError("the mock gateway is already running")
        sock = bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        self.app.stopping.clear()
        config = uvicorn_config(self.app, own_logging=False)
        server = uvicorn.Server(config)

        def serve() -> None:
            try:
                server.run(sockets=[sock])
            except BaseException as exc:  # reported by start()/stop()
                self._error = exc
            finally:
                sock.close()

        thread = threading.Thread(target=serve, name=f"hub-service-mock:{self.port}", daemon=True)
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the mock gateway did not start: {self._error!r}")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving; open connections get a second to finish, then are closed."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self.app.stopping.set()
        server.should_exit = True
        thread.join(timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout)
        self._server = self._thread = None

    def __enter__(self) -> MockGateway:
        """Start the gateway unless it already runs (``with mock_gateway() as g:`` works)."""
        return self if self._server is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
