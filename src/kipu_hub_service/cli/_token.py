"""``--token-command``: a token read from a command's output, re-read when it goes stale.

The command is bounded like any input the CLI does not control: it runs in a process group of
its own, its output is read in pieces up to :data:`MAX_COMMAND_OUTPUT` bytes, and the whole
group is killed when it prints more or runs past its timeout. A command that exits is not
waited on for the background children it leaves holding its output: what it printed is
read for at most :data:`EXIT_GRACE` seconds more.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Iterator

from .._secrets import bearer_value

DEFAULT_COMMAND_TIMEOUT = 60.0
"""Longest run of the token command, in seconds (``--token-command-timeout``)."""
MAX_COMMAND_OUTPUT = 64 * 1024
"""Most bytes read from the command's stdout; more ends the run (its stderr keeps its tail)."""
EXIT_GRACE = 0.25
"""Seconds the output of a command that has exited is still read while a child holds it open."""
_TICK = 0.05
"""Seconds between checks whether the command exited, where no pidfd can tell at once."""
_READ = 16 * 1024


class TokenCommandError(Exception):
    """The token command could not be run or printed no usable token."""


class CommandToken:
    """A callable token for the SDK that runs ``command`` (no shell) and caches its output.

    The SDK calls a callable token before every request; after a 401 it calls
    :meth:`invalidate` and then asks once more. The command runs on first use; afterwards the
    cached token is returned until :meth:`invalidate`, when the next call runs it again.
    """

    def __init__(self, command: str, *, timeout: float = DEFAULT_COMMAND_TIMEOUT) -> None:
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise ValueError(f"--token-command: cannot parse {command!r}: {exc}") from None
        if not argv:
            raise ValueError("--token-command is empty")
        self._argv = argv
        self._timeout = timeout
        self._token: str | None = None
        self._lock = threading.Lock()
        self.runs = 0
        """How many times the command has run."""

    def __repr__(self) -> str:
        return f"CommandToken({shlex.join(self._argv)!r})"

    def invalidate(self) -> None:
        """Forget the cached token, so the next call runs the command again."""
        with self._lock:
            self._token = None

    def __call__(self) -> str:
        """The cached token, running the command first if there is none."""
        with self._lock:
            if self._token is None:
                self._token = self._run()
            return self._token

    def _run(self) -> str:
        name = self._argv[0]
        self.runs += 1
        try:
            process = subprocess.Popen(
                self._argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group, killed as a whole
            )
        except FileNotFoundError:
            raise TokenCommandError(f"token command not found: {name}") from None
        except OSError as exc:
            raise TokenCommandError(
                f"cannot run token command {name}: {exc.strerror or exc}"
            ) from None
        try:
            stdout, stderr = _collect(process, self._timeout)
        except _TooMuchOutput:
            _kill_group(process)
            raise TokenCommandError(
                f"token command {name} printed more than {MAX_COMMAND_OUTPUT} bytes (64 KiB)"
            ) from None
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise TokenCommandError(
                f"token command {name} did not finish within {self._timeout:g} s"
            ) from None
        except BaseException:  # Ctrl-C: nothing of the command is left running
            _kill_group(process)
            raise
        finally:
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        return _token_of(name, process.returncode, stdout, stderr)


class _TooMuchOutput(Exception):
    pass


def _collect(process: subprocess.Popen[bytes], timeout: float) -> tuple[bytes, bytes]:
    """The command's stdout and the tail of its stderr, once it has exited.

    Raises ``subprocess.TimeoutExpired`` past ``timeout`` and :class:`_TooMuchOutput` past
    the cap; the caller kills the group. After the exit, open pipes are read for at most
    :data:`EXIT_GRACE` seconds (a background child may hold them open for ever).
    """
    deadline = time.monotonic() + timeout
    out, err = bytearray(), bytearray()
    pipes: dict[int, bytearray] = {}
    with selectors.DefaultSelector() as selector, _exit_signal(process) as exited:
        for stream, buffer in ((process.stdout, out), (process.stderr, err)):
            assert stream is not None
            os.set_blocking(stream.fileno(), False)
            selector.register(stream.fileno(), selectors.EVENT_READ)
            pipes[stream.fileno()] = buffer
        if exited is not None:
            selector.register(exited, selectors.EVENT_READ)
        ended: float | None = None
        while True:
            now = time.monotonic()
            if ended is None and process.poll() is not None:
                ended = now
            if ended is not None and (not pipes or now >= ended + EXIT_GRACE):
                break
            if ended is None and now >= deadline:
                raise subprocess.TimeoutExpired(process.args, timeout)
            until = ended + EXIT_GRACE if ended is not None else deadline
            if ended is None and exited is None:
                until = min(until, now + _TICK)
            for key, _ in selector.select(max(until - now, 0.0)):
                if key.fd == exited:
                    selector.unregister(exited)
                    exited = None
                    continue
                _read_into(selector, pipes, key.fd, out)
    return bytes(out), bytes(err)


def _read_into(
    selector: selectors.BaseSelector, pipes: dict[int, bytearray], fd: int, out: bytearray
) -> None:
    """Read what pipe ``fd`` holds into its buffer; stop watching it at its end."""
    try:
        chunk = os.read(fd, _READ)
    except BlockingIOError:
        return
    buffer = pipes[fd]
    if not chunk:
        selector.unregister(fd)
        del pipes[fd]
        return
    buffer += chunk
    if buffer is out:
        if len(out) > MAX_COMMAND_OUTPUT:
            raise _TooMuchOutput
    elif len(buffer) > MAX_COMMAND_OUTPUT:
        del buffer[: len(buffer) - MAX_COMMAND_OUTPUT]  # stderr: only its tail is shown


@contextlib.contextmanager
def _exit_signal(process: subprocess.Popen[bytes]) -> Iterator[int | None]:
    """A descriptor that becomes readable when ``process`` exits (Linux pidfd), else None."""
    try:
        fd: int | None = os.pidfd_open(process.pid)
    except (AttributeError, OSError):
        fd = None
    try:
        yield fd
    finally:
        if fd is not None:
            os.close(fd)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the command's whole process group (its children too) and reap the command."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    process.wait()


def _last_line(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", errors="replace").strip().splitlines()
    return f": {lines[-1][:200]}" if lines else ""


def _token_of(name: str, returncode: int, stdout: bytes, stderr: bytes) -> str:
    """The token the command printed, or a :class:`TokenCommandError` saying what is wrong."""
    if returncode != 0:
        raise TokenCommandError(
            f"token command {name} exited with {returncode}{_last_line(stderr)}"
        )
    token = stdout.decode("utf-8", errors="replace").strip()
    if not token:
        raise TokenCommandError(f"token command {name} printed no token")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in token):
        raise TokenCommandError(
            f"token command {name} printed more than one line or control characters"
        )
    try:
        bearer_value(token)
    except ValueError:
        raise TokenCommandError(
            f"token command {name} printed a token with spaces or non-ASCII characters, "
            "which cannot be sent as a bearer token"
        ) from None
    return token
