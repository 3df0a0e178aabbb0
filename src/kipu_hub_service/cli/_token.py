"""``--token-command``: a token read from a command's output, re-read when it goes stale."""

from __future__ import annotations

import shlex
import subprocess
import threading

from .._secrets import bearer_value

_COMMAND_TIMEOUT = 60.0


class TokenCommandError(Exception):
    """The token command could not be run or printed no usable token."""


class CommandToken:
    """A callable token for the SDK that runs ``command`` (no shell) and caches its output.

    The SDK calls a callable token before every request; after a 401 it calls
    :meth:`invalidate` and then asks once more. The command runs on first use; afterwards the
    cached token is returned until :meth:`invalidate`, when the next call runs it again.
    """

    def __init__(self, command: str, *, timeout: float = _COMMAND_TIMEOUT) -> None:
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
            done = subprocess.run(
                self._argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=self._timeout,
                check=False,
            )
        except FileNotFoundError:
            raise TokenCommandError(f"token command not found: {name}") from None
        except subprocess.TimeoutExpired:
            raise TokenCommandError(
                f"token command {name} did not finish within {self._timeout:g} s"
            ) from None
        except OSError as exc:
            raise TokenCommandError(
                f"cannot run token command {name}: {exc.strerror or exc}"
            ) from None
        if done.returncode != 0:
            detail = done.stderr.strip().splitlines()
            why = f": {detail[-1][:200]}" if detail else ""
            raise TokenCommandError(f"token command {name} exited with {done.returncode}{why}")
        token = done.stdout.strip()
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
