"""A sweep's progress for people: one live line in a terminal, an updating output in Jupyter."""

from __future__ import annotations

import importlib
import sys
import time
from typing import IO, Any

from ._sweep_rules import Progress


def _notebook_display() -> Any:
    """IPython's ``display`` module when running in a Jupyter kernel, else None. IPython is
    looked up among the modules already imported: the SDK never imports IPython itself, only
    its ``display`` module once a kernel is known to run."""
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)()
    if shell is None or not hasattr(shell, "kernel"):
        return None
    try:
        return importlib.import_module("IPython.display")
    except ImportError:
        return None


class ProgressDisplay:
    """An ``on_progress`` callback that shows :meth:`Progress.line`.

    In a Jupyter kernel it updates one output of the cell (``IPython.display`` with a
    ``display_id``); in a terminal it rewrites one line of ``stream`` (default stderr); when
    ``stream`` is not a terminal it writes a line at most every ``every`` seconds. Call
    :meth:`close` (or use it in a ``with`` block) to end the line.
    """

    def __init__(self, stream: IO[str] | None = None, *, every: float = 5.0) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._every = every
        self._display = _notebook_display()
        self._handle: Any = None
        self._last = ""
        self._shown_at = float("-inf")
        self._live = self._display is None and self._stream.isatty()

    def __call__(self, progress: Progress) -> None:
        line = progress.line()
        if line == self._last:
            return
        self._last = line
        if self._display is not None:
            if self._handle is None:
                self._handle = self._display.display(line, display_id=True)
            else:
                self._handle.update(line)
        elif self._live:
            self._stream.write("\r\x1b[2K" + line)
            self._stream.flush()
        elif (
            time.monotonic() - self._shown_at >= self._every or progress.finished == progress.total
        ):
            self._shown_at = time.monotonic()
            self._stream.write(line + "\n")
            self._stream.flush()

    def close(self) -> None:
        """End the live line."""
        if self._live and self._last:
            self._stream.write("\n")
            self._stream.flush()
            self._last = ""

    def __enter__(self) -> ProgressDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
