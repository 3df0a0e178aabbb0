"""``hub-service sweep``: one execution per line of a JSON Lines file, as one resumable job.

Item ``n`` (1-based line number) saves its result files in ``DIR/<n>/``; the journal lives in
``DIR`` by default, so running the same command again resumes (see docs/sweeps.md).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from .._results import failure_reason
from ..client import ServiceApi
from ..sweeps import NOT_STARTED, TIMED_OUT, Outcome, ProgressDisplay, SweepResults
from . import EXIT_EXECUTION_FAILED, EXIT_OK, EXIT_TIMEOUT, UsageError, utf8_text
from ._output import Output

JOURNAL_NAME = "sweep-journal.sqlite"
"""The journal's file name in the output directory, unless ``--journal`` names another."""
MAX_INPUTS = 100_000
"""Most lines (executions) one sweep reads."""
MAX_INPUT_BYTES = 64 * 1024 * 1024
"""Most bytes of the INPUTS file."""
DEFAULT_MAX_IN_FLIGHT = 100
"""Executions started and not yet finished at once, unless ``--max-in-flight`` says."""


def add_sweep_arguments(parser: argparse.ArgumentParser, positive_float: Any) -> None:
    """The ``sweep`` command's own arguments."""
    add = parser.add_argument
    add(
        "inputs",
        metavar="INPUTS",
        help="JSON Lines file, one execution's input per line; - reads stdin",
    )
    add(
        "-o",
        "--output-dir",
        metavar="DIR",
        required=True,
        help="item n's result files go to DIR/n/",
    )
    add("--bodies", action="store_true", help="each line is a whole request body, as --body")
    add(
        "--max-in-flight",
        type=int,
        default=DEFAULT_MAX_IN_FLIGHT,
        metavar="N",
        help=f"executions running at once (default: {DEFAULT_MAX_IN_FLIGHT})",
    )
    add("--journal", metavar="FILE", help=f"the resume journal (default: DIR/{JOURNAL_NAME})")
    add(
        "--tag",
        action="append",
        default=[],
        metavar="TAG",
        help="a tag for every execution; repeatable",
    )
    add(
        "--wait-timeout",
        type=positive_float,
        metavar="SECONDS",
        help="stop waiting after this long (exit 4); the executions keep running",
    )
    add(
        "--poll-interval",
        type=positive_float,
        default=0.5,
        metavar="SECONDS",
        help="first pause between polls (default: 0.5)",
    )
    add(
        "--max-poll-interval",
        type=positive_float,
        default=2.0,
        metavar="SECONDS",
        help="longest pause between polls (default: 2)",
    )
    add(
        "--cancel",
        action="store_true",
        help="cancel the sweep's executions still running (from its journal) instead of waiting",
    )


def read_inputs(source: str, bodies: bool, tags: list[str]) -> list[dict[str, Any]]:
    """One request body per line of ``source`` (a path, or - for stdin)."""
    try:
        if source == "-":
            raw = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        else:
            with open(source, "rb") as handle:
                raw = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"{source}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_INPUT_BYTES:
        raise UsageError(f"{source}: more than {MAX_INPUT_BYTES} bytes of inputs")
    lines = jsonl_lines(utf8_text(raw, source, "no inputs (one JSON value per line)"))
    if len(lines) > MAX_INPUTS:
        raise UsageError(f"{source}: more than {MAX_INPUTS} lines; split the sweep")
    return [_body(source, number, line, bodies, tags) for number, line in enumerate(lines, 1)]


def jsonl_lines(text: str) -> list[str]:
    """The lines of a JSON Lines text: split at LF only (CRLF too), never at the other breaks
    ``str.splitlines`` knows (U+2028 may stand unescaped inside a JSON string); blank lines
    at the end are dropped, since they number nothing."""
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _body(source: str, number: int, line: str, bodies: bool, tags: list[str]) -> dict[str, Any]:
    if not line.strip():
        raise UsageError(
            f"{source}, line {number}: blank; each line is one input (item n's files go to "
            "DIR/n/), so only blank lines at the end are ignored"
        )
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source}, line {number}: not valid JSON: {exc.msg}") from None
    if bodies and not isinstance(value, dict):
        raise UsageError(f"{source}, line {number}: with --bodies each line is a JSON object")
    body = dict(value) if bodies else {"input": value}
    if tags:
        existing = body.get("tags") or []
        if not isinstance(existing, list):
            raise UsageError(f"{source}, line {number}: 'tags' must be a list to add --tag to")
        body["tags"] = [*existing, *tags]
    return body


def cmd_sweep(api: ServiceApi, args: argparse.Namespace, out: Output) -> int:
    """Run (or resume, or cancel) the sweep; exit 0, 1, 4 (or 130 on Ctrl-C)."""
    if args.max_in_flight < 1:
        raise UsageError("--max-in-flight must be >= 1")
    bodies = read_inputs(args.inputs, args.bodies, args.tag)
    directory = Path(args.output_dir)
    journal = Path(args.journal) if args.journal else directory / JOURNAL_NAME
    display = None if out.json_mode else ProgressDisplay(sys.stderr)
    job = api.sweep(
        bodies,
        max_in_flight=args.max_in_flight,
        timeout=args.wait_timeout,
        poll_interval=args.poll_interval,
        max_poll_interval=args.max_poll_interval,
        journal=journal,
        output_dir=directory,
        on_progress=display,
    )
    if args.cancel:
        job.cancel()
    try:
        for outcome in job.as_completed():
            _show(out, outcome, directory)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(_interrupted(job.progress().started, args.argv)) from None
    finally:  # the live line ends before any message (an error, the summary) is printed
        if display is not None:
            display.close()
    results = job.results()
    gave_up = args.wait_timeout is not None and not args.cancel
    return _summary(out, results, gave_up=gave_up, argv=args.argv)


UNFINISHED = frozenset({TIMED_OUT, NOT_STARTED})
"""Outcomes a rerun of the same command carries on (no line each: the summary counts them,
and the hint says how to resume; a sweep of thousands would print thousands of lines)."""


def _show(out: Output, outcome: Outcome, directory: Path) -> None:
    if out.json_mode:
        out.json_line({"line": outcome.index + 1, **outcome.row()})
    elif not outcome.ok and outcome.status not in UNFINISHED:
        reason = f": {outcome.error}" if outcome.error is not None else ""
        why = failure_reason(outcome.result)
        reason = f": {why}" if why is not None else reason
        where = f" (execution {outcome.execution_id})" if outcome.execution_id else ""
        out.note(f"line {outcome.index + 1}: {outcome.status}{where}{reason}")


def _summary(out: Output, results: SweepResults, *, gave_up: bool, argv: list[str]) -> int:
    """Print the summary; the exit code: 4 when ``--wait-timeout`` left items unfinished,
    else 0 when every item succeeded and 1 otherwise."""
    counts: dict[str, int] = {}
    for outcome in results:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    timed_out = any(outcome.status in UNFINISHED for outcome in results)
    if gave_up and timed_out:
        code = EXIT_TIMEOUT
    else:
        code = EXIT_OK if not results.failed else EXIT_EXECUTION_FAILED
    if out.json_mode:
        out.json_line({"summary": {"total": len(results), "counts": counts, "exit_code": code}})
    else:
        parts = ", ".join(f"{count} {status.lower()}" for status, count in sorted(counts.items()))
        out.line(f"{len(results)} item{'' if len(results) == 1 else 's'}: {parts}")
        if code == EXIT_TIMEOUT:
            out.note(f"--wait-timeout expired; {_resume_hint(argv)}")
    return code


def _without_token(argv: list[str]) -> list[str]:
    """``argv`` with the value of ``--token`` (``--token T``, ``--token=T``) shown as ``***``:
    a hint printed to stderr (a CI log, a shared terminal) never carries the token. No
    abbreviation of ``--token`` exists (each is also one of ``--token-command``)."""
    shown: list[str] = []
    hide = False
    for arg in argv:
        if hide:
            shown.append("***")
            hide = False
        elif arg == "--token":
            shown.append(arg)
            hide = True
        elif arg.startswith("--token="):
            shown.append("--token=***")
        else:
            shown.append(arg)
    return shown


def _resume_hint(argv: list[str]) -> str:
    shown = _without_token(argv)
    command = shlex.join(["hub-service", *shown])
    hidden = " with your token for ***" if shown != argv else ""
    return (
        f"resume with the same command ({command}){hidden}; cancel what is still running by "
        "adding --cancel to it"
    )


def _interrupted(started: int, argv: list[str]) -> str:
    return (
        f"interrupted; {started} execution(s) were started and may keep running; "
        f"{_resume_hint(argv)}"
    )
