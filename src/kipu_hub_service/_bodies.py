"""Response bodies read within bounds, without I/O: decoding in bounded steps, size caps, deadlines.

Bodies are read raw (``iter_raw``/``aiter_raw``) and decoded here, never by httpx, because
httpx inflates each network chunk in one step: 64 KiB of a gzip bomb can become 64 MiB at once.
``BoundedDecoder`` inflates at most ``STEP`` bytes per step (``zlib`` with ``max_length``), so
the memory of a decode is one step whatever the compression ratio.

* ``Content-Encoding`` ``gzip``/``x-gzip``, ``deflate`` (zlib-wrapped or raw) and ``identity``
  are decoded; any other encoding, or more than one, raises ``UnsupportedEncoding``.
* A JSON answer (2xx) keeps at most ``max_response_size`` decoded bytes (default
  ``DEFAULT_MAX_RESPONSE_SIZE``); past that the read stops with ``ResponseTooLargeError``.
* Each try of a JSON call (and of the token request) must have its whole answer (headers and
  body) within its read deadline: ``read_deadline`` when given, else ``DEADLINE_FACTOR`` times
  the call's read timeout (none when the read timeout is None); see ``_calls``. The deadline
  is checked as each piece arrives, so a try ends within the deadline plus one read timeout;
  its expiry is not retried.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterator

import httpx

from .core.api_error import (
    ApiError,
    APITimeoutError,
    ResponseTooLargeError,
    ResponseValidationError,
)

STEP = 64 * 1024
"""Most bytes a decoder produces in one step."""
DEFAULT_MAX_RESPONSE_SIZE = 64 * 1024 * 1024
"""Bytes of a decoded JSON answer kept at most unless ``max_response_size`` says otherwise."""
DEADLINE_FACTOR = 4
"""Default read deadline of a JSON call, in read timeouts (60 s timeout: 240 s)."""
ACCEPT_ENCODING = "gzip, deflate"
"""The encodings JSON calls accept (those ``BoundedDecoder`` decodes)."""

_GZIP = 16 + zlib.MAX_WBITS
_ZLIB = zlib.MAX_WBITS
_RAW = -zlib.MAX_WBITS
_WBITS = {"gzip": _GZIP, "x-gzip": _GZIP, "deflate": _ZLIB}


class UnsupportedEncoding(ValueError):
    """A ``Content-Encoding`` the SDK does not decode (the message names it)."""


class DeadlinePassed(Exception):
    """A JSON call's answer did not arrive within its read deadline (not retried)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the answer was not complete within the read deadline of {seconds:g} s")
        self.seconds = seconds


class TooLarge(Exception):
    """A decoded JSON body went past its cap."""

    def __init__(self, cap: int) -> None:
        super().__init__(cap)
        self.cap = cap


def encoding_of(response: httpx.Response) -> str:
    """The response's ``Content-Encoding``, lower case; '' for none or ``identity``."""
    value = response.headers.get("Content-Encoding", "").strip().lower()
    return "" if value == "identity" else value


class BoundedDecoder:
    """Decodes one body's raw pieces into pieces of at most ``STEP`` bytes."""

    def __init__(self, encoding: str) -> None:
        if encoding and encoding not in _WBITS:
            raise UnsupportedEncoding(
                f"the server sent Content-Encoding {encoding!r}, which the SDK does not decode "
                f"(it asks for {ACCEPT_ENCODING!r} or identity)"
            )
        self._wbits = _WBITS.get(encoding)
        self._inflate = None if self._wbits is None else zlib.decompressobj(self._wbits)
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decoded pieces of ``data`` (raw bytes of the body), one step at a time."""
        inflate = self._inflate
        if inflate is None:
            if data:
                yield data
            return
        if not self._started and data:
            self._started = True
            if self._wbits == _ZLIB and not _zlib_header(data):
                inflate = self._inflate = zlib.decompressobj(_RAW)  # raw deflate
        while data and not inflate.eof:
            try:
                out = inflate.decompress(data, STEP)
            except zlib.error as exc:
                raise httpx.DecodingError(f"the compressed body is corrupt: {exc}") from None
            data = inflate.unconsumed_tail
            if out:
                yield out
            while len(out) == STEP and not inflate.eof:  # output may be pending inside zlib
                out = inflate.decompress(b"", STEP)
                if out:
                    yield out

    def check_end(self) -> None:
        """Raise ``httpx.DecodingError`` when a compressed body ended before its end marker."""
        if self._inflate is not None and self._started and not self._inflate.eof:
            raise httpx.DecodingError("the compressed body ended before its end")


def _zlib_header(data: bytes) -> bool:
    """Whether ``data`` starts like a zlib stream (``deflate`` is sometimes sent raw)."""
    return len(data) >= 2 and data[0] & 0x0F == 8 and ((data[0] << 8) | data[1]) % 31 == 0


class BodyLimits:
    """The size cap and the deadline of one try of a JSON call."""

    __slots__ = ("cap", "end", "seconds")

    def __init__(self, cap: int, seconds: float | None) -> None:
        self.cap = cap
        self.seconds = seconds
        self.end = None if seconds is None else time.monotonic() + seconds

    def check_time(self) -> None:
        """Raise ``DeadlinePassed`` once the deadline has passed."""
        if self.end is not None and time.monotonic() > self.end:
            assert self.seconds is not None
            raise DeadlinePassed(self.seconds)


def limit_error(
    exc: Exception,
    request: httpx.Request,
    redact: Callable[[str], str] | None,
    *,
    token_request: bool = False,
) -> ApiError:
    """The ``ApiError`` for a bound a JSON answer broke: ``APITimeoutError`` for the deadline,
    ``ResponseTooLargeError`` for the size cap, ``ResponseValidationError`` for an encoding the
    SDK does not decode. Names the method and path only (an echoed token is redacted)."""
    from ._errors import describe_request, request_path, safe_request

    method, url = describe_request(request)
    where = f"{method} {request_path(request)}"
    error: ApiError
    if isinstance(exc, DeadlinePassed):
        error = APITimeoutError(f"{where}: timed out: {exc}", method=method, url=url)
        error.request = safe_request(request)
    elif isinstance(exc, TooLarge):
        advice = (
            "the token endpoint's answers are capped"
            if token_request
            else "raise it per client (max_response_size=) or per call "
            "(request_options['max_response_size'])"
        )
        limit = "the token answer cap" if token_request else "max_response_size"
        error = ResponseTooLargeError(
            f"{where}: the answer is larger than {limit} ({exc.cap} bytes decoded); {advice}",
            method=method,
            url=url,
        )
        error.limit = exc.cap
    else:
        message = f"{where}: {exc}"
        error = ResponseValidationError(
            message if redact is None else redact(message), method=method, url=url
        )
    return error
