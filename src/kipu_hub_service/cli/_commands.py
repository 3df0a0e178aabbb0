"""The ``hub-service`` commands and the mapping of every failure to one line and an exit code."""

from __future__ import annotations

import argparse
import errno
import json
import shlex
import sys
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

from qhub_service_gen.models import ResultResponse, ResultResponseEmbedded, ServiceExecution

from .. import _results
from .._display import EXECUTION_COLUMNS, STATUS_STYLE, execution_row, human_bytes
from .._folder import Folder, InFolder
from ..client import ServiceApi
from ..core.api_error import ApiError, ExecutionTimeoutError
from . import EXIT_EXECUTION_FAILED, EXIT_OK, UsageError
from ._access import token_command
from ._config import make_client
from ._errors import _Interrupted, _WaitTimeout, still_running_hint
from ._output import Output, execution_fields, log_entry_json, text_of
from ._sweep import cmd_sweep

_SUCCEEDED = "SUCCEEDED"
_FAILURE_LOG_TAIL = 5


# Configuration.


def _request_body(args: argparse.Namespace) -> dict[str, Any]:
    if args.body is not None:
        body = _json_argument("--body", args.body)
        if not isinstance(body, dict):
            raise UsageError("--body must be a JSON object")
    else:
        body = {"input": {} if args.input is None else _json_argument("--input", args.input)}
    if args.tag:
        existing = body.get("tags") or []
        if not isinstance(existing, list):
            raise UsageError("--body: 'tags' must be a list to add --tag values to it")
        body["tags"] = [*existing, *args.tag]
    return body


def _json_argument(option: str, value: str) -> Any:
    if value.startswith("@"):
        source = value[1:]
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text("utf-8-sig")
        except OSError as exc:
            raise UsageError(f"{option}: cannot read {source}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise UsageError(f"{option}: {source} is not UTF-8 text") from None
        where = "stdin" if source == "-" else source
    else:
        text = value
        where = "the argument"
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{option}: {where} is not valid JSON: {exc}") from None


# Commands.


def _cmd_list(api: ServiceApi, args: argparse.Namespace, out: Output) -> int:
    executions = api.get_service_executions()
    if out.json_mode:
        out.json([execution.to_dict() for execution in executions])
        return EXIT_OK
    if not executions:
        out.note("no executions")
        return EXIT_OK
    out.table(EXECUTION_COLUMNS, [execution_row(e) for e in executions])
    return EXIT_OK


def _cmd_start(api: ServiceApi, args: argparse.Namespace, out: Output) -> int:
    execution = api.start_execution(request=_request_body(args))
    if out.json_mode:
        out.json(execution.to_dict())
    else:
        out.fields(execution_fields(execution))
        out.note(f"wait for it with: hub-service wait {execution.id}")
    return EXIT_OK


def _cmd_status(api: ServiceApi, args: argparse.Namespace, out: Output) -> int:
    execution = api.get_status(args.id)
    if out.json_mode:
        out.json(execution.to_dict())
    else:
        out.fields(execution_fields(execution))
    return EXIT_OK


def _outcome(status: str) -> int:
    return EXIT_OK if status == _SUCCEEDED else EXIT_EXECUTION_FAILED


def _wait(
    api: ServiceApi,
    execution_id: str,
    args: argparse.Namespace,
    out: Output,
    seen: Callable[[ServiceExecution], None] | None = None,
) -> Any:
    with out.waiting(execution_id) as view:

        def on_status(execution: ServiceExecution) -> None:
            if seen is not None:
                seen(execution)
            view.update(execution)

        try:
            return api.wait_for_completion(
                execution_id,
                timeout=args.wait_timeout,
                poll_interval=args.poll_interval,
                max_poll_interval=max(args.max_poll_interval, args.poll_interval),
                on_status=on_status,
            )
        except KeyboardInterrupt:
            hint = still_running_hint(execution_id)
            raise _Interrupted(
                f"interrupted; execution {execution_id} keeps running ({hint})",
                execution_id=execution_id,
                hint=hint,
            ) from None
        except ExecutionTimeoutError as exc:
            raise _WaitTimeout.of(exc) from None


def _cmd_wait(api: ServiceApi, args: argparse.Namespace, out: Output) -> int:
    execution = _wait(api, args.id, args, out)
    if out.json_mode:
        out.json(execution.to_dict())
    else:
        _summary(out, execution)
    return _outcome(str(execution.status))


def _summary(out: Output, execution: Any) -> None:
    status = str(execution.status)
    style = STATUS_STYLE.get(status, "")
    out.line(f"{execution.id} {status}", style=style)


def _cmd_logs(api: ServiceApi, args: argparse.Namespace, out: Output) -> int:
    if args.follow:
        for entry in api.follow_logs(args.id, poll_interval=args.poll_interval):
            if out.json_mode:
                out.json_line(log_entry_json(entry))
            else:
                out.log_entry(entry)
        return EXIT_OK
    entries = api.get_logs(args.id) or []
    if out.json_mode:
        out.json([log_entry_json(entry) for entry in entries])
    elif not entries:
        out.note("no log entries yet")
    else:
        for entry in entries:
            out.log_entry(entry)
    return EXIT_OK


def _file_rows(result: Any) -> list[list[str]]:
    links = result.links
    rows = []
    for name in _results.result_file_names(result):
        link = links.additional_properties[name]
        rows.append([name, text_of(link.type_), link.href])
    return rows


def _show_result(out: Output, result: ResultResponse) -> None:
    embedded = result.embedded
    if isinstance(embedded, ResultResponseEmbedded) and isinstance(
        embedded.status, ServiceExecution
    ):
        _summary(out, embedded.status)
    if result.additional_properties:
        out.pretty_json(result.additional_properties)
    rows = _file_rows(result)
    if rows:
        out.table(["FILE", "TYPE", "HREF"], rows)


def _cmd_result(api: ServiceApi, args: argparse.Namespace, out: Output) -> int:
    result = api.get_result(args.id)
    if out.json_mode:
        out.json(result.to_dict())
    else:
        _show_result(out, result)
    return EXIT_OK


def _cmd_cancel(api: ServiceApi, args: argparse.Namespace, out: Output) -> int:
    api.cancel_execution(args.id)
    if out.json_mode:
        out.json({"id": args.id, "cancelRequested": True})
    else:
        out.line(f"cancellation of {args.id} requested")
    return EXIT_OK


def _download(
    api: ServiceApi,
    execution_id: str,
    names: list[str],
    directory: Path,
    overwrite: bool,
    out: Output,
) -> list[dict[str, Any]]:
    """Download ``names`` into ``directory``; files already there are checked first.

    Without ``--overwrite`` this resumes: a file already complete is kept (not fetched
    again), a partial one goes on, and one that is not the server's file stops the command
    before anything else is downloaded.
    """
    plan = [(name, directory / name) for name in names]
    directory.mkdir(parents=True, exist_ok=True)
    saved: dict[str, dict[str, Any]] = {}
    # One descriptor for the directory, no link followed: as download_all_result_files does.
    with out.downloading() as bars, Folder.open(directory, follows=False) as folder:
        for batch in _results.rounds(plan, overwrite):
            for name, path in batch:
                bar = bars.file(name)
                before = _identity(path)
                try:
                    written = api.download_result_file(
                        execution_id,
                        name,
                        InFolder(folder, name),
                        overwrite=overwrite,
                        on_progress=bar.advance,
                    )
                except FileExistsError as exc:
                    raise FileExistsError(
                        errno.EEXIST,
                        "already exists and is not the server's file (pass --overwrite to "
                        "replace it)",
                        exc.filename,
                    ) from None
                fetched = before is None or _identity(written) != before
                size = written.stat().st_size
                bar.finish(size, fetched=fetched)
                saved[name] = {"name": name, "path": str(written), "size": size}
                saved[name]["fetched"] = fetched
    return [saved[name] for name in names]


def _identity(path: Path) -> tuple[int, int, int, int] | None:
    """What tells a file kept as it was from one written again: a new file gets a new inode."""
    try:
        stat = path.lstat()  # a link is not followed here either
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _show_saved(out: Output, saved: list[dict[str, Any]]) -> None:
    if not saved:
        out.note("no result files")
        return
    out.table(
        ["FILE", "SIZE", "SAVED TO"],
        [[item["name"], human_bytes(item["size"]), item["path"]] for item in saved],
    )


def _cmd_download(api: ServiceApi, args: argparse.Namespace, out: Output) -> int:
    if args.file is not None:
        try:
            names = [_results.safe_file_name(args.file)]
        except ValueError:
            raise UsageError(f"FILE must be a single file name, got {args.file!r}") from None
    else:
        names = _results.result_file_names(api.get_result(args.id))
    try:
        saved = _download(api, args.id, names, Path(args.output_dir), args.overwrite, out)
    except KeyboardInterrupt:
        hint = "run the same command again to resume"
        raise _Interrupted(
            f"interrupted; {hint} (complete files are kept, partial ones go on)",
            execution_id=args.id,
            hint=hint,
        ) from None
    if out.json_mode:
        out.json({"executionId": args.id, "files": saved})
    else:
        _show_saved(out, saved)
    return EXIT_OK


def _cmd_run(api: ServiceApi, args: argparse.Namespace, out: Output) -> int:
    body = _request_body(args)
    execution = api.start_execution(request=body)
    out.note(f"started {execution.id}")
    known = [execution]
    directory = Path(args.output_dir or execution.id)
    try:
        if not _results.is_terminal(execution.status):
            execution = _wait(api, execution.id, args, out, seen=known.append)
            known.append(execution)
        if str(execution.status) != _SUCCEEDED:
            out.note(f"execution {execution.id} {execution.status}")
            return _run_failed(api, execution, out)
        result = api.get_result(execution.id)
        saved: list[dict[str, Any]] = []
        if not args.no_download:
            names = _results.result_file_names(result)
            saved = _download(api, execution.id, names, directory, args.overwrite, out)
    except KeyboardInterrupt:
        raise _interrupted_run(known[-1], directory, args.no_download) from None
    # The last line of the progress (stderr): the outcome, after the bars.
    done = f"execution {execution.id} {execution.status}"
    if saved:
        size = human_bytes(sum(item["size"] for item in saved))
        done += f": {len(saved)} result files ({size}) in {directory}"
    out.note(done)
    if out.json_mode:
        out.json({"execution": execution.to_dict(), "result": result.to_dict(), "files": saved})
    else:
        _summary(out, execution)
        if result.additional_properties:
            out.pretty_json(result.additional_properties)
        if not args.no_download:
            _show_saved(out, saved)
    return EXIT_OK


def _interrupted_run(last: ServiceExecution, directory: Path, no_download: bool) -> _Interrupted:
    """What to tell a user who pressed Ctrl-C during ``run``, from the last status seen."""
    status = str(last.status)
    if not _results.is_terminal(last.status):
        hint = still_running_hint(last.id)
        message = f"interrupted; execution {last.id} keeps running ({hint})"
    elif status != _SUCCEEDED or no_download:
        hint = ""
        message = f"interrupted; execution {last.id} already ended {status}"
    else:
        command = shlex.join(["hub-service", "download", last.id, "-o", str(directory)])
        hint = f"get them with: {command}, which keeps complete files and resumes partial ones"
        message = (
            f"interrupted; execution {last.id} already SUCCEEDED, its result files stay on "
            f"the server ({hint})"
        )
    return _Interrupted(message, execution_id=last.id, hint=hint)


def _run_failed(api: ServiceApi, execution: Any, out: Output) -> int:
    result = None
    with suppress(ApiError):
        result = api.get_result(execution.id)
    if out.json_mode:
        out.json(
            {
                "execution": execution.to_dict(),
                "result": None if result is None else result.to_dict(),
                "files": [],
            }
        )
        return EXIT_EXECUTION_FAILED
    _summary(out, execution)
    reason = _results.failure_reason(result)
    if reason is not None:
        out.line(f"reason: {reason}")
    try:
        entries = api.get_logs(execution.id) or []
    except ApiError:
        entries = []
    if entries:
        out.line("last log entries:")
        for entry in entries[-_FAILURE_LOG_TAIL:]:
            out.log_entry(entry)
    return EXIT_EXECUTION_FAILED


_COMMANDS: dict[str, Callable[[ServiceApi, argparse.Namespace, Output], int]] = {
    "list": _cmd_list,
    "start": _cmd_start,
    "status": _cmd_status,
    "wait": _cmd_wait,
    "logs": _cmd_logs,
    "result": _cmd_result,
    "download": _cmd_download,
    "cancel": _cmd_cancel,
    "run": _cmd_run,
    "sweep": cmd_sweep,
}


def dispatch(args: argparse.Namespace, out: Output, env: Mapping[str, str]) -> int:
    """Run the parsed command; exceptions are left to :func:`report_error`."""
    if args.command == "token":
        return token_command(args, out, env)
    with make_client(args, env) as client:
        return _COMMANDS[args.command](client.service_api, args, out)
