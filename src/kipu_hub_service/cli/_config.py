"""The CLI's configuration: gateway URL and token from flags or environment, checked up front.

A setting that cannot work (an URL without a host, a port out of range, no token) is a usage
error (exit 2) before any request is made, so it never shows up as "connection refused".
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from ..client import HubServiceClient
from . import ENV_BASE_URL, ENV_TOKEN, ENV_TOKEN_COMMAND, UsageError
from ._access import access_key_credentials, wants_access_key
from ._token import DEFAULT_COMMAND_TIMEOUT, CommandToken

if TYPE_CHECKING:
    from ..credentials import ClientCredentials

_MAX_PORT = 65535


def setting(cli_value: str | None, env: Mapping[str, str], name: str) -> str | None:
    """The flag's value if given, else the environment variable's (stripped; empty is unset)."""
    if cli_value is not None:
        return cli_value
    value = env.get(name, "").strip()
    return value or None


def token_source(args: argparse.Namespace, env: Mapping[str, str]) -> str | CommandToken:
    """The token, or the command that prints it, from the flags or the environment."""
    token: str | None = args.token
    command: str | None = args.token_command
    if token is not None and command is not None:
        raise UsageError("pass either --token or --token-command, not both")
    if token is None and command is None:
        token = setting(None, env, ENV_TOKEN)
        command = setting(None, env, ENV_TOKEN_COMMAND)
    if token is not None:
        if not token.strip():
            raise UsageError("the token is empty")
        return token.strip()
    if command is not None:
        timeout = args.token_command_timeout or DEFAULT_COMMAND_TIMEOUT
        return CommandToken(command, timeout=timeout)
    raise UsageError(
        f"no token: pass --token or --token-command, or set ${ENV_TOKEN} or ${ENV_TOKEN_COMMAND}"
        ", or an access key ($HUB_SERVICE_ACCESS_KEY_ID and $HUB_SERVICE_SECRET_ACCESS_KEY)"
    )


def check_base_url(text: str, source: str) -> str:
    """``text`` if it can be a gateway URL; else a :class:`UsageError` naming the problem.

    It must be ``http://`` or ``https://`` with a host, without spaces or control characters,
    and its port, if written, must be ASCII digits from 1 to 65535 (httpx alone would take
    ``:99999`` or ``:+80`` and fail later, when connecting). ``source`` names the flag or
    variable in the message.
    """
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise UsageError(f"{source} contains spaces or control characters: {text!r}")
    try:
        url = httpx.URL(text)
        netloc = urlsplit(text).netloc
    except (httpx.InvalidURL, ValueError) as exc:
        raise UsageError(f"{source} is not a valid URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise UsageError(f"{source} must be an http:// or https:// URL with a host, got {text!r}")
    host_and_port = netloc.rpartition("@")[2]
    if host_and_port.startswith("["):  # an IPv6 address: the port comes after the bracket
        host_and_port = host_and_port.partition("]")[2]
    port = host_and_port.partition(":")[2]
    if port and not (port.isascii() and port.isdigit() and 1 <= int(port) <= _MAX_PORT):
        raise UsageError(f"{source} has an invalid port {port!r} (must be 1 to {_MAX_PORT})")
    return text


def make_client(args: argparse.Namespace, env: Mapping[str, str]) -> HubServiceClient:
    """The SDK client the parsed command line and the environment describe."""
    base_url = setting(args.base_url, env, ENV_BASE_URL)
    if base_url is None:
        raise UsageError(f"no gateway URL: pass --base-url or set ${ENV_BASE_URL}")
    source = "--base-url" if args.base_url is not None else f"${ENV_BASE_URL}"
    check_base_url(base_url, source)
    token: str | CommandToken | ClientCredentials | None = None
    if args.token is None and args.token_command is None:
        token = access_key_credentials(args, env)
    elif wants_access_key(args):
        raise UsageError("pass either a token (--token, --token-command) or an access key")
    if token is None:
        token = token_source(args, env)
    options: dict[str, Any] = {}
    if args.timeout is not None:
        options["timeout"] = args.timeout
    if args.max_retries is not None:
        options["max_retries"] = args.max_retries
    return HubServiceClient(base_url=base_url, token=token, **options)
