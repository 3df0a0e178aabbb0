"""Access keys on the command line: which key, and where its secret comes from.

The access key id comes from ``--access-key-id`` or ``$HUB_SERVICE_ACCESS_KEY_ID``; its secret
from ``$HUB_SERVICE_SECRET_ACCESS_KEY`` or ``--secret-access-key-file FILE``, never from argv
(other users of the machine can read a process's arguments). Messages name the key id and the
file, never the secret.
"""

from __future__ import annotations

import argparse
import os
import re
import stat
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import EXIT_OK, UsageError, utf8_text

if TYPE_CHECKING:
    from ..credentials import ClientCredentials
    from ._output import Output

ENV_ACCESS_KEY_ID = "HUB_SERVICE_ACCESS_KEY_ID"
"""Environment variable with the access key id, used when ``--access-key-id`` is not given."""
ENV_SECRET_ACCESS_KEY = "HUB_SERVICE_SECRET_ACCESS_KEY"
"""Environment variable with the secret, used without ``--secret-access-key-file``."""
ENV_TOKEN_ENDPOINT = "HUB_SERVICE_TOKEN_ENDPOINT"
"""Environment variable with the token endpoint, used when ``--token-endpoint`` is not given."""
MAX_SECRET_FILE = 64 * 1024
"""Largest ``--secret-access-key-file`` read, in bytes."""
_NO_SECRET_ON_ARGV = (
    "the secret access key is never taken from the command line (other users can see it): "
    f"set ${ENV_SECRET_ACCESS_KEY} or pass --secret-access-key-file FILE"
)


_SECRET_VALUE = re.compile(r"(--secret[\w-]*)=\S*")


def hide_secret_values(message: str) -> str:
    """An argparse message with the value of any ``--secret...=VALUE`` replaced by ``***``
    (argparse quotes ``--secret-access=VALUE`` whole when the abbreviation is ambiguous)."""
    return _SECRET_VALUE.sub(r"\1=***", message)


class RefuseSecretOnArgv(argparse.Action):
    """``--secret-access-key``: refused with a usage error that does not echo the value."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        """Refuse the option (exit 2) without echoing its value."""
        raise UsageError(_NO_SECRET_ON_ARGV)


def add_access_key_options(group: Any, default: Any) -> None:
    """The access key options of the global option group."""
    group.add_argument(
        "--access-key-id",
        metavar="ID",
        default=default(None),
        help=f"use this access key instead of a token (default: ${ENV_ACCESS_KEY_ID}); its "
        f"secret comes from ${ENV_SECRET_ACCESS_KEY} or --secret-access-key-file",
    )
    group.add_argument(
        "--secret-access-key-file",
        metavar="FILE",
        default=default(None),
        help="read the access key's secret from FILE (never pass the secret itself)",
    )
    group.add_argument(
        "--token-endpoint",
        metavar="URL",
        default=default(None),
        help=f"where access keys are exchanged for tokens (default: ${ENV_TOKEN_ENDPOINT}, "
        "else the gateway's)",
    )
    group.add_argument(
        "--secret-access-key", nargs="?", action=RefuseSecretOnArgv, help=argparse.SUPPRESS
    )


def _value(flag: str | None, env: Mapping[str, str], name: str) -> str | None:
    if flag is not None:
        return flag
    return env.get(name, "").strip() or None


def _read_secret(path: str) -> str:
    """The secret in ``path``: a regular file of at most :data:`MAX_SECRET_FILE` bytes.

    The file is opened without blocking (``O_NONBLOCK``) and checked with ``fstat`` before a
    byte is read, so a FIFO, a directory or a device is refused at once instead of hanging
    or reading forever. A path that cannot be opened is not shown (it may be the secret
    itself, passed by mistake); one that exists is named.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(f"--secret-access-key-file: cannot read the file: {reason}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(
                f"--secret-access-key-file {path}: not a regular file ({_kind(info.st_mode)})"
            )
        if info.st_size > MAX_SECRET_FILE:
            raise UsageError(f"--secret-access-key-file {path}: {_TOO_LARGE}")
        raw = _read_at_most(fd, MAX_SECRET_FILE + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(f"--secret-access-key-file {path}: cannot read: {reason}") from None
    finally:
        os.close(fd)
    if len(raw) > MAX_SECRET_FILE:  # the file grew after fstat
        raise UsageError(f"--secret-access-key-file {path}: {_TOO_LARGE}")
    return utf8_text(raw, f"--secret-access-key-file {path}").strip()


_TOO_LARGE = f"larger than {MAX_SECRET_FILE} bytes (64 KiB)"


def _kind(mode: int) -> str:
    """What a non-regular file is, for the message."""
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a file"


def _read_at_most(fd: int, limit: int) -> bytes:
    """Up to ``limit`` bytes of the open regular file ``fd``."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def wants_access_key(args: argparse.Namespace) -> bool:
    """Whether an access key option was given on the command line."""
    return args.access_key_id is not None or args.secret_access_key_file is not None


def access_key_credentials(
    args: argparse.Namespace, env: Mapping[str, str]
) -> ClientCredentials | None:
    """The access key the flags or the environment name, or None when none is named."""
    key_id = _value(args.access_key_id, env, ENV_ACCESS_KEY_ID)
    if key_id is None:
        if args.secret_access_key_file is not None:
            raise UsageError(
                f"--secret-access-key-file needs --access-key-id (or ${ENV_ACCESS_KEY_ID})"
            )
        return None
    if args.secret_access_key_file is not None:
        secret = _read_secret(args.secret_access_key_file)
    else:
        secret = env.get(ENV_SECRET_ACCESS_KEY, "").strip()
    if not secret:
        raise UsageError(
            f"access key {key_id!r} has no secret: set ${ENV_SECRET_ACCESS_KEY} or pass "
            "--secret-access-key-file FILE"
        )
    from ..credentials import DEFAULT_TOKEN_ENDPOINT, ClientCredentials

    endpoint = _value(args.token_endpoint, env, ENV_TOKEN_ENDPOINT) or DEFAULT_TOKEN_ENDPOINT
    try:
        return ClientCredentials(key_id, secret, token_endpoint=endpoint)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"access key {key_id!r}: {exc}") from None


def token_command(args: argparse.Namespace, out: Output, env: Mapping[str, str]) -> int:
    """``hub-service token``: a fresh token for the access key (no gateway URL needed)."""
    credentials = access_key_credentials(args, env)
    if credentials is None:
        raise UsageError(
            f"hub-service token needs an access key: set ${ENV_ACCESS_KEY_ID} and "
            f"${ENV_SECRET_ACCESS_KEY}, or pass --access-key-id (and the secret's file)"
        )
    token = credentials.get_token(timeout=args.timeout, max_retries=args.max_retries)
    if out.json_mode:
        out.json({"accessToken": token, "tokenType": "Bearer"})
    else:
        out.line(token)
    return EXIT_OK
