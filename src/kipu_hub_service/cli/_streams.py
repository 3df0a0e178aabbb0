"""Writing to stdout and stderr so that a closed pipe is always noticed.

CPython's buffered writer can return a short count without raising when the reader of a pipe
goes away in the middle of a large write (the kernel reports the bytes it took, and the text
layer drops the count), so ``hub-service --json list | head -1`` used to lose the rest of its
output silently and exit 0. :class:`FullWriter` writes until every byte is out or the write
fails with ``BrokenPipeError``, which ``main`` turns into the documented exit code.
"""

from __future__ import annotations

import codecs
import errno
import functools
import os
from typing import IO, Any, cast


class FullWriter:
    """A text stream that writes all of each text, or raises (``BrokenPipeError`` on a closed
    pipe). Characters the stream's encoding lacks are written as backslash escapes."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self.encoding: str = getattr(stream, "encoding", None) or "utf-8"
        """The stream's encoding."""

    @property
    def unicode(self) -> bool:
        """Whether the stream's encoding can write every character (a UTF encoding)."""
        try:
            return codecs.lookup(self.encoding).name.startswith("utf")
        except LookupError:
            return False

    def write(self, text: str) -> int:
        """Write all of ``text`` and flush it."""
        buffer = getattr(self._stream, "buffer", None)
        if buffer is None:  # an in-memory stream: writes never come up short
            self._stream.write(text)
            self._stream.flush()
            return len(text)
        self._stream.flush()  # whatever went through the text layer goes first
        if os.linesep != "\n":
            text = text.replace("\n", os.linesep)
        data = memoryview(text.encode(self.encoding, "backslashreplace"))
        while data:
            written = buffer.write(data)
            if not written:  # a non-blocking stream that is full: do not spin
                raise OSError(errno.EAGAIN, "the output stream takes no more bytes")
            data = data[written:]
        buffer.flush()
        return len(text)

    def flush(self) -> None:
        """Flush the stream."""
        self._stream.flush()

    def isatty(self) -> bool:
        """Whether the stream is a terminal."""
        return self._stream.isatty()

    def fileno(self) -> int:
        """The stream's file descriptor (``OSError`` if it has none)."""
        return self._stream.fileno()

    def writable(self) -> bool:
        """Always true: this is an output stream."""
        return True


def full_writer(stream: IO[str]) -> IO[str]:
    """``stream`` wrapped in a :class:`FullWriter`, typed as the stream it stands for."""
    return cast(IO[str], FullWriter(stream))


def pipe_closed() -> BrokenPipeError:
    """The error a write to a closed pipe raises, for code that learns of it another way."""
    return BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


@functools.cache
def console_class() -> type[Any]:
    """rich's ``Console``, raising ``BrokenPipeError`` on a closed pipe instead of its own
    ``SystemExit(1)`` (``on_broken_pipe`` is rich's documented hook for this)."""
    import rich.console

    class Console(rich.console.Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise pipe_closed()

    return Console
