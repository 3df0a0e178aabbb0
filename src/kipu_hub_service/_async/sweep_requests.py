"""The requests of a sweep, each through the client's shared :class:`RateGate`.

Sent with ``max_retries=0``: a 429 cuts the gate's rate (so the whole sweep slows, not just
this request) and, like a transient failure (5xx, lost connection), becomes
:class:`SweepRetry`, which the sweep's loop retries later through the gate.
"""

from __future__ import annotations

import os
import threading
import weakref
from pathlib import Path
from typing import Any, TypeVar

from qhub_service_gen.models import ResultResponse, ServiceExecution

from .._backend import AsyncBackend
from .._sweep_rules import AsyncCall, RateGate, retry_after_seconds
from ..core.api_error import APIConnectionError, InternalServerError, RateLimitError
from ..core.request_options import RequestOptions

_T = TypeVar("_T")
_GATES: weakref.WeakKeyDictionary[Any, RateGate] = weakref.WeakKeyDictionary()
"""One gate per ``service_api`` object: every sweep of a client shares its rate."""


class SweepRetry(Exception):
    """A transient failure of a sweep request (429 included): try again later."""

    @property
    def rate_limited(self) -> bool:
        """Whether the gateway answered 429 (not counted against the item's attempts)."""
        return isinstance(self.__cause__, RateLimitError)


class AsyncSweepRequests:
    """The gateway operations a sweep uses, counted, gated and sent without retries."""

    def __init__(self, api: Any, request_options: RequestOptions | None) -> None:
        self._api = api
        api._funnel.options(request_options)  # checked now, not at each item's first request
        self.options: RequestOptions = {**(request_options or {}), "max_retries": 0}
        extra = self.options.get("additional_headers")
        self._start_options = self.options
        if extra and any(name.lower() == "idempotency-key" for name in extra):
            # A start sends the journalled key, never one of the caller's headers.
            kept = {name: v for name, v in extra.items() if name.lower() != "idempotency-key"}
            self._start_options = {**self.options, "additional_headers": kept}
        self.gate = _GATES.setdefault(api, RateGate())
        self.sent = 0
        """Requests sent (429 answers included)."""
        self.limited = 0
        """Requests answered 429."""
        self._counting = threading.Lock()  # the sync client sends from worker threads

    async def send(self, call: AsyncCall[_T]) -> _T:
        """``call()`` once the gate lets it go; :class:`SweepRetry` for a 429 or a transient
        failure."""
        delay = self.gate.delay()
        if delay > 0:
            await AsyncBackend.sleep(delay)
        with self._counting:
            self.sent += 1
        try:
            return await call()
        except RateLimitError as exc:
            with self._counting:
                self.limited += 1
            self.gate.limited(retry_after_seconds(exc.headers))
            raise SweepRetry from exc
        except (InternalServerError, APIConnectionError) as exc:
            raise SweepRetry from exc

    async def start(self, body: dict[str, Any], key: str) -> ServiceExecution:
        """``start_execution`` with the journalled ``Idempotency-Key``."""

        async def call() -> ServiceExecution:
            started: ServiceExecution = await self._api._start(body, key, self._start_options)
            return started

        return await self.send(call)

    async def states(self) -> dict[str, str]:
        """``get_service_executions``, as ``id`` -> ``status``."""

        async def call() -> dict[str, str]:
            found: dict[str, str] = await self._api._execution_states(self.options)
            return found

        return await self.send(call)

    async def status(self, id: str) -> ServiceExecution:
        """``get_status``."""

        async def call() -> ServiceExecution:
            found: ServiceExecution = await self._api.get_status(id, request_options=self.options)
            return found

        return await self.send(call)

    async def result(self, id: str) -> ResultResponse:
        """``get_result``."""

        async def call() -> ResultResponse:
            found: ResultResponse = await self._api.get_result(id, request_options=self.options)
            return found

        return await self.send(call)

    async def download(self, id: str, name: str, path: str | os.PathLike[str]) -> Path:
        """``download_result_file(..., overwrite=False)``: keeps a complete file, resumes a
        partial one (the journal, not a record next to the file, says which are done)."""

        async def call() -> Path:
            saved: Path = await self._api._save_result_file(
                id, name, path, self.options, vouch=False
            )
            return saved

        return await self.send(call)

    async def cancel(self, id: str) -> None:
        """``cancel_execution``."""

        async def call() -> None:
            await self._api.cancel_execution(id, request_options=self.options)

        await self.send(call)
