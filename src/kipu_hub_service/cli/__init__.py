"""``hub-service``: the service gateway from the command line.

Run ``hub-service --help`` for the commands. Exit codes: 0 success, 1 the execution
FAILED or was CANCELLED, 2 usage error, 3 API or connection error (a failing token command
included), 4 gave up waiting (``--wait-timeout``), 130 interrupted, 141 stdout was a pipe
closed by its reader (the command stops quietly, like a Unix tool killed by SIGPIPE).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from .._argtypes import non_negative_int, positive_float

__all__ = [
    "EXIT_API_ERROR",
    "EXIT_EXECUTION_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_STDOUT_CLOSED",
    "EXIT_TIMEOUT",
    "EXIT_USAGE",
    "main",
]

EXIT_OK = 0
"""The command did what was asked (and the execution, where one was awaited, SUCCEEDED)."""
EXIT_EXECUTION_FAILED = 1
"""The execution that was awaited ended FAILED or CANCELLED."""
EXIT_USAGE = 2
"""Bad command line, bad input or missing configuration."""
EXIT_API_ERROR = 3
"""The gateway answered with an error, could not be reached, or a file could not be written."""
EXIT_TIMEOUT = 4
"""``--wait-timeout`` expired; the execution is still running."""
EXIT_INTERRUPTED = 130
"""Interrupted with Ctrl-C."""
EXIT_STDOUT_CLOSED = 141
"""Standard output was a pipe whose reader closed it (``| head``); the command stopped
quietly. 141 is 128 + SIGPIPE, what a shell reports for a Unix tool killed by the signal."""

ENV_BASE_URL = "HUB_SERVICE_BASE_URL"
"""Environment variable with the gateway URL, used when ``--base-url`` is not given."""
ENV_TOKEN = "HUB_SERVICE_TOKEN"
"""Environment variable with the bearer token, used when no token option is given."""
ENV_TOKEN_COMMAND = "HUB_SERVICE_TOKEN_COMMAND"
"""Environment variable with a command that prints a token (like ``--token-command``)."""

_DESCRIPTION = """\
Start, watch and collect executions of a service deployed on the Kipu Quantum Hub,
through its service gateway.

Configuration: --base-url or $HUB_SERVICE_BASE_URL (the concrete gateway URL of the
service), and --token / $HUB_SERVICE_TOKEN or --token-command / $HUB_SERVICE_TOKEN_COMMAND,
or an access key: $HUB_SERVICE_ACCESS_KEY_ID and $HUB_SERVICE_SECRET_ACCESS_KEY (or
--access-key-id with --secret-access-key-file), exchanged for fresh tokens as needed.
Global options may come before or after the command.
"""

_EPILOG = """\
exit codes: 0 success; 1 the execution FAILED or was CANCELLED; 2 usage error;
3 API or connection error (token command failures included); 4 --wait-timeout expired;
130 interrupted; 141 stdout was a pipe closed by its reader (as `| head` does).

examples:
  hub-service run --input '{"molecule": "H2"}' -o results/
  hub-service start --input @input.json --tag nightly
  hub-service wait 6f1c2d3e-... && hub-service download 6f1c2d3e-... -o out/
  hub-service --json list | jq '.[].status'
  curl -H "Authorization: Bearer $(hub-service token)" "$HUB_SERVICE_BASE_URL/"
"""


class UsageError(Exception):
    """The command line or configuration cannot work; exit code 2."""


def utf8_text(raw: bytes, label: str, empty: str = "the file is empty") -> str:
    """``raw`` as text (without a leading byte order mark, as some Windows editors write); a
    ``UsageError`` naming ``label`` (the file) when it is not UTF-8, or saying ``empty`` when it
    holds nothing but whitespace."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{label}: not UTF-8 text") from None
    if not text.strip():
        raise UsageError(f"{label}: {empty}")
    return text


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line, raised instead of exiting."""

    def error(self, message: str) -> NoReturn:
        from ._access import hide_secret_values

        raise UsageError(f"{hide_secret_values(message)} (see {self.prog} --help)")


_GLOBAL_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (
        ("--base-url",),
        {"metavar": "URL", "help": f"the service's gateway URL (default: ${ENV_BASE_URL})"},
    ),
    (
        ("--token",),
        {
            "metavar": "TOKEN",
            "help": f"bearer token (default: ${ENV_TOKEN}); prefer the variable, argv is visible "
            "to other users",
        },
    ),
    (
        ("--token-command",),
        {
            "metavar": "CMD",
            "help": "command that prints a fresh token; run without a shell on first use and "
            f"again whenever the gateway rejects the token (default: ${ENV_TOKEN_COMMAND})",
        },
    ),
    (
        ("--token-command-timeout",),
        {
            "type": positive_float,
            "metavar": "SECONDS",
            "help": "kill the token command (and every process it started) after this long "
            "(default: 60)",
        },
    ),
]
"""The options before the access-key ones, as (flags, argparse keywords); default None."""
_OUTPUT_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (
        ("--json",),
        {
            "action": "store_true",
            "help": "machine-readable JSON output on stdout (errors as one JSON line on stderr)",
        },
    ),
    (
        ("--timeout",),
        {
            "type": positive_float,
            "metavar": "SECONDS",
            "help": "timeout of each HTTP request (default: 60)",
        },
    ),
    (
        ("--max-retries",),
        {
            "type": non_negative_int,
            "metavar": "N",
            "help": "retries of transient failures per request (default: 2)",
        },
    ),
    (
        ("-v", "--verbose"),
        {
            "action": "store_true",
            "help": "log every request (method, path, status; never the token) to stderr",
        },
    ),
]
"""The options after the access-key ones; a ``store_true`` flag defaults to False."""


def _add_global_options(parser: argparse.ArgumentParser, *, in_command: bool) -> None:
    """Global options; on a command parser they leave unset values to the main parser."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if in_command else value

    def add(options: list[tuple[tuple[str, ...], dict[str, Any]]]) -> None:
        for flags, spec in options:
            flag = spec.get("action") == "store_true"
            group.add_argument(*flags, default=default(False if flag else None), **spec)

    from ._access import add_access_key_options

    group = parser.add_argument_group("global options")
    add(_GLOBAL_OPTIONS)
    add_access_key_options(group, default)
    add(_OUTPUT_OPTIONS)


def _add_request_options(parser: argparse.ArgumentParser) -> None:
    body = parser.add_mutually_exclusive_group()
    body.add_argument(
        "--input",
        metavar="JSON|@FILE",
        help="the service input: inline JSON, @file.json, or @- for stdin (default: {})",
    )
    body.add_argument(
        "--body",
        metavar="JSON|@FILE",
        help="the whole request body instead of --input (for inputDataRefs or extra keys)",
    )
    parser.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="TAG",
        help="a tag for the execution; repeatable",
    )


def _add_wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait-timeout",
        type=positive_float,
        metavar="SECONDS",
        help="give up waiting after this long (exit 4); the execution keeps running",
    )
    parser.add_argument(
        "--poll-interval",
        type=positive_float,
        default=1.0,
        metavar="SECONDS",
        help="first pause between status polls; grows 1.5x up to --max-poll-interval (default: 1)",
    )
    parser.add_argument(
        "--max-poll-interval",
        type=positive_float,
        default=10.0,
        metavar="SECONDS",
        help="longest pause between status polls (default: 10)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``hub-service`` argument parser."""
    parser = _Parser(
        prog="hub-service",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    _add_global_options(parser, in_command=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        _add_global_options(sub, in_command=True)
        return sub

    command("list", "list the executions started through this gateway")
    command("token", "print a fresh access token for the access key (e.g. for curl)")

    start = command("start", "start an execution and print it")
    _add_request_options(start)

    command("status", "show an execution's current status").add_argument(
        "id", metavar="ID", help="the execution id"
    )

    wait = command("wait", "wait until an execution finishes; exit 1 if it FAILED or was CANCELLED")
    wait.add_argument("id", metavar="ID", help="the execution id")
    _add_wait_options(wait)

    logs = command("logs", "print an execution's log entries")
    logs.add_argument("id", metavar="ID", help="the execution id")
    logs.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing new entries until the execution finishes (JSON Lines with --json)",
    )
    logs.add_argument(
        "--poll-interval",
        type=positive_float,
        default=1.0,
        metavar="SECONDS",
        help="pause between reads with --follow (default: 1)",
    )

    command(
        "result", "show an execution's result: the service output and its result files"
    ).add_argument("id", metavar="ID", help="the execution id")

    download = command("download", "download one result file, or all of them")
    download.add_argument("id", metavar="ID", help="the execution id")
    download.add_argument("file", metavar="FILE", nargs="?", help="one file (default: all)")
    download.add_argument(
        "-o", "--output-dir", metavar="DIR", default=".", help="target directory (default: .)"
    )
    download.add_argument(
        "--overwrite", action="store_true", help="replace files that already exist"
    )

    command("cancel", "request cancellation of a pending or running execution").add_argument(
        "id", metavar="ID", help="the execution id"
    )

    run = command("run", "start an execution, wait for it and download its result files")
    _add_request_options(run)
    _add_wait_options(run)
    run.add_argument(
        "-o",
        "--output-dir",
        metavar="DIR",
        help="where to save the result files (default: ./<execution id>)",
    )
    run.add_argument("--no-download", action="store_true", help="do not download the result files")
    run.add_argument("--overwrite", action="store_true", help="replace files that already exist")

    from ._sweep import add_sweep_arguments

    sweep = command(
        "sweep", "one execution per line of a JSON Lines file, resumable (exit 1 if any failed)"
    )
    add_sweep_arguments(sweep, positive_float)
    return parser


def _configure_logging(verbose: bool) -> None:
    if not verbose:
        return
    from ._safe import PrintableFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(PrintableFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("kipu_hub_service")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hub-service`` with ``argv`` (default: the process's arguments); return the exit code.

    Never raises and never prints a traceback: every failure becomes one line on stderr
    and an exit code (see the module docstring).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    json_mode = "--json" in argv
    try:
        from ._commands import dispatch
        from ._output import default_output

        args = build_parser().parse_args(argv)
        args.argv = argv  # as given, for a command that tells how to run it again
        json_mode = bool(args.json)
        if args.version:
            from .. import __version__

            print(f"hub-service {__version__}")
            return EXIT_OK
        if args.command is None:
            raise UsageError("no command given (see hub-service --help)")
        _configure_logging(args.verbose)
        return dispatch(args, default_output(json_mode), os.environ)
    except BaseException as exc:
        if isinstance(exc, SystemExit):
            # argparse's --help and the like.
            return exc.code if isinstance(exc.code, int) else EXIT_OK
        if isinstance(exc, BrokenPipeError):
            return _stdout_closed()
        return _report(exc, json_mode=json_mode)


def _report(exc: BaseException, *, json_mode: bool) -> int:
    """Report ``exc``; a Ctrl-C that came before the commands were imported still exits 130."""
    try:
        from ._errors import report_error
    except BaseException:
        if not isinstance(exc, KeyboardInterrupt):
            raise
        with contextlib.suppress(OSError, ValueError):
            if json_mode:
                error = {"type": "KeyboardInterrupt", "message": "interrupted", "exitCode": 130}
                sys.stderr.write(json.dumps({"error": error}) + "\n")
            else:
                sys.stderr.write("hub-service: error: interrupted\n")
            sys.stderr.flush()
        return EXIT_INTERRUPTED
    return report_error(exc, json_mode=json_mode)


def _stdout_closed() -> int:
    """The reader of stdout went away (``| head``, ``| true``): stop quietly with 141.

    As the Python docs advise for SIGPIPE, stdout is pointed at devnull so that the flush at
    exit cannot fail again (no "Exception ignored" noise). Nothing is printed: the reader is
    gone, and the exit code 141 tells a ``set -o pipefail`` script what happened.
    """
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_STDOUT_CLOSED
