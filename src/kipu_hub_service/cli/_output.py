"""What the CLI prints: JSON for machines, rich (or plain) text for people.

Results go to stdout; spinners, progress bars and errors go to stderr so that stdout
stays clean for pipes. ``rich`` comes with the ``cli`` extra and is imported lazily;
without it (or when stderr is not a terminal) the output is plain text. Text from the
gateway is printed through ``_safe.printable`` (human output, stderr) or ``_safe.json_text``
(``--json``), never raw.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import IO, Any, Protocol

from qhub_service_gen.models import LogEntry, ServiceExecution

from .._display import SEVERITY_STYLE as _SEVERITY_STYLE
from .._display import STATUS_STYLE as _STATUS_STYLE
from .._display import human_bytes, log_severity, log_stamp, plain_table, rich_table, time_text
from .._display import text_of as text_of
from ._safe import json_text, printable
from ._streams import FullWriter, console_class, full_writer

_PIPED_WIDTH = 1000
HIGHLIGHT_LIMIT = 64 * 1024
"""Longest JSON text (characters) that human output highlights; larger is printed plain."""


def execution_fields(execution: ServiceExecution) -> list[tuple[str, str]]:
    """The fields of an execution worth showing, as (label, text) pairs."""
    return [
        ("id", execution.id),
        ("status", str(execution.status)),
        ("type", text_of(execution.type_)),
        ("created", time_text(execution.created, execution.created_at)),
        ("started", time_text(execution.started, execution.started_at)),
        ("ended", time_text(execution.ended, execution.ended_at)),
        ("service", text_of(execution.service_id)),
        ("definition", text_of(execution.service_definition_id)),
        ("application", text_of(execution.application_id)),
        ("tags", text_of(execution.tags)),
    ]


def wire_time(moment: datetime) -> str:
    """A timestamp in ``--json`` output, as the gateway writes them: ``2026-11-25T14:17:43.068Z``
    for UTC. Milliseconds unless the value has finer digits; a non-UTC offset is kept as is
    (JSON keeps what the server said; text for people uses ``_display.stamp``)."""
    spec = "milliseconds" if moment.microsecond % 1000 == 0 else "microseconds"
    text = moment.isoformat(timespec=spec)
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def log_entry_json(entry: LogEntry) -> dict[str, Any]:
    """A log entry as JSON, with its timestamp in the wire form other JSON output uses."""
    data = entry.to_dict()
    data["timestamp"] = wire_time(entry.timestamp)
    return data


def _ascii_only(stream: IO[str]) -> bool:
    """Whether JSON for ``stream`` must escape all non-ASCII (its encoding is not UTF)."""
    return isinstance(stream, FullWriter) and not stream.unicode


class StatusView(Protocol):
    """Shows the status of a wait as it changes."""

    def update(self, execution: ServiceExecution) -> None:
        """Show ``execution``'s status (called on the first poll and on each change)."""
        ...


class FileProgress(Protocol):
    """Shows the progress of one file download."""

    def advance(self, received: int, total: int | None) -> None:
        """Bytes written so far, and the file's size if known (the SDK's ``on_progress``)."""
        ...

    def finish(self, size: int, *, fetched: bool = True) -> None:
        """The file is complete with ``size`` bytes; ``fetched`` False: it already was."""
        ...


class Output:
    """Printer of one CLI run, chosen by ``--json`` and by whether rich is importable."""

    def __init__(self, *, json_mode: bool, stdout: IO[str], stderr: IO[str]) -> None:
        self.json_mode = json_mode
        self._stdout = stdout
        self._stderr = stderr
        self._rich: Any = None
        self._out: Any = None
        self._err: Any = None
        self._ascii = _ascii_only(stdout)
        if not json_mode:
            try:
                import rich.console
                import rich.highlighter
                import rich.markup
                import rich.progress
                import rich.table
                import rich.text
            except ImportError:
                pass
            else:
                self._rich = rich
                # Piped output keeps whole lines (ids never wrap) for grep and friends.
                piped = None if stdout.isatty() else _PIPED_WIDTH
                console = console_class()
                self._out = console(file=stdout, soft_wrap=True, width=piped)
                self._err = console(file=stderr, soft_wrap=True)

    @property
    def _live(self) -> bool:
        """Whether animated progress can be drawn (rich present, stderr a terminal)."""
        return self._err is not None and bool(self._err.is_terminal)

    # Machine output.

    def json(self, data: Any) -> None:
        """Write one JSON document to stdout."""
        self._stdout.write(json_text(data, indent=2, ascii_only=self._ascii) + "\n")
        self._stdout.flush()

    def json_line(self, data: Any) -> None:
        """Write one compact JSON value as a line (JSON Lines) to stdout."""
        self._stdout.write(json_text(data, ascii_only=self._ascii) + "\n")
        self._stdout.flush()

    # Human output.

    def line(self, text: str, style: str = "") -> None:
        """Write one line of text to stdout."""
        text = printable(text, one_line=True)
        if self._out is not None:
            self._out.print(text, style=style or None, markup=False, highlight=False)
        else:
            self._stdout.write(text + "\n")
            self._stdout.flush()

    def note(self, text: str) -> None:
        """Write an informational line to stderr (not in JSON mode)."""
        if self.json_mode:
            return
        text = printable(text, one_line=True)
        if self._err is not None:
            self._err.print(text, style="dim", markup=False, highlight=False)
        else:
            self._stderr.write(text + "\n")
            self._stderr.flush()

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """A table on stdout; a status column is coloured."""
        if self._out is not None:
            self._out.print(rich_table(self._rich, columns, rows))
            return
        for line in plain_table(columns, rows):
            self._stdout.write(line + "\n")
        self._stdout.flush()

    def fields(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Label/value lines on stdout; empty values are left out."""
        shown = [(label, printable(value, one_line=True)) for label, value in pairs if value]
        width = max((len(label) for label, _ in shown), default=0)
        for label, value in shown:
            style = _STATUS_STYLE.get(value, "") if label == "status" else ""
            if self._out is not None:
                text = self._rich.text.Text(f"{label.ljust(width)}  ", style="bold")
                text.append(value, style=style)
                self._out.print(text)
            else:
                self._stdout.write(f"{label.ljust(width)}  {value}\n")
        self._stdout.flush()

    def pretty_json(self, data: Any) -> None:
        """Indented JSON on stdout, highlighted unless it is over ``HIGHLIGHT_LIMIT``
        characters (highlighting a megabyte of JSON takes rich seconds)."""
        text = json_text(data, indent=2, ascii_only=self._ascii)
        if self._out is not None and len(text) <= HIGHLIGHT_LIMIT:
            # rich.json.JSON would parse and dump the text again, undoing the escapes.
            highlighted = self._rich.highlighter.JSONHighlighter()(text)
            highlighted.no_wrap = True
            self._out.print(highlighted)
        else:
            self._stdout.write(text + "\n")
            self._stdout.flush()

    def log_entry(self, entry: LogEntry) -> None:
        """One log entry as ``timestamp SEVERITY message``."""
        severity = log_severity(entry)
        stamp = log_stamp(entry)
        if self._out is not None:
            text = self._rich.text.Text(f"{stamp} ", style="dim")
            shown = printable(severity, one_line=True)
            text.append(f"{shown:<7}", style=_SEVERITY_STYLE.get(severity, ""))
            text.append(f" {printable(entry.message)}")
            self._out.print(text)
        else:
            shown = f"{printable(severity, one_line=True):<7} {printable(entry.message)}"
            self._stdout.write(f"{stamp} {shown}\n")
            self._stdout.flush()

    def error(
        self,
        message: str,
        *,
        kind: str,
        exit_code: int,
        status: int | None,
        about: dict[str, str] | None = None,
    ) -> None:
        """The one line of an error on stderr (a JSON object in JSON mode, with the fields of
        ``about``, such as ``executionId`` and ``hint``, beside the same message)."""
        line = " ".join(message.split())
        if self.json_mode:
            error: dict[str, Any] = {"type": kind, "message": line, "exitCode": exit_code}
            if status is not None:
                error["statusCode"] = status
            error.update(about or {})
            self._stderr.write(
                json_text({"error": error}, ascii_only=_ascii_only(self._stderr)) + "\n"
            )
        else:
            self._stderr.write(f"hub-service: error: {printable(line, one_line=True)}\n")
        self._stderr.flush()

    # Progress.

    @contextmanager
    def waiting(self, execution_id: str) -> Iterator[StatusView]:
        """A spinner with the elapsed time and current status while an execution runs."""
        if self.json_mode:
            yield _Silent()
        elif self._live:
            progress_mod = self._rich.progress
            progress = progress_mod.Progress(
                progress_mod.SpinnerColumn(),
                progress_mod.TextColumn("{task.description}"),
                progress_mod.TimeElapsedColumn(),
                console=self._err,
                transient=True,
            )
            with progress:
                shown = printable(execution_id, one_line=True)
                label = f"Waiting for {self._rich.markup.escape(shown)}"
                task = progress.add_task(label, total=None)
                yield _RichStatus(progress, task, label, self._rich.markup.escape)
        else:
            yield _PlainStatus(self._stderr, execution_id)

    @contextmanager
    def downloading(self) -> Iterator[_Downloads]:
        """Progress bars (bytes, rate, ETA) for a set of file downloads."""
        if self.json_mode:
            yield _Downloads(None, None)
        elif self._live:
            from ._columns import RateColumn, SizeColumn

            progress_mod = self._rich.progress
            progress = progress_mod.Progress(
                progress_mod.TextColumn("{task.description}"),
                progress_mod.BarColumn(),
                SizeColumn(),
                RateColumn(),
                progress_mod.TimeRemainingColumn(),
                console=self._err,
            )
            with progress:
                yield _Downloads(progress, None)
        else:
            yield _Downloads(None, self._stderr)


class _Silent:
    def update(self, execution: ServiceExecution) -> None:
        pass


class _RichStatus:
    def __init__(self, progress: Any, task: Any, label: str, escape: Any) -> None:
        self._progress = progress
        self._task = task
        self._label = label
        self._escape = escape

    def update(self, execution: ServiceExecution) -> None:
        status = str(execution.status)
        style = _STATUS_STYLE.get(status, "white")
        shown = f"{self._label}  [{style}]{self._escape(printable(status, one_line=True))}[/]"
        self._progress.update(self._task, description=shown)


class _PlainStatus:
    def __init__(self, stream: IO[str], execution_id: str) -> None:
        self._stream = stream
        self._id = printable(execution_id, one_line=True)
        self._started = time.monotonic()

    def update(self, execution: ServiceExecution) -> None:
        elapsed = time.monotonic() - self._started
        status = printable(str(execution.status), one_line=True)
        self._stream.write(f"{self._id}: {status} ({elapsed:.0f}s)\n")
        self._stream.flush()


class _Downloads:
    def __init__(self, progress: Any, stream: IO[str] | None) -> None:
        self._progress = progress
        self._stream = stream

    def file(self, name: str) -> FileProgress:
        shown = printable(name, one_line=True)
        if self._progress is not None:
            from rich.markup import escape  # descriptions are rich markup

            shown = escape(shown)
            return _RichFile(self._progress, self._progress.add_task(shown, total=None), shown)
        return _PlainFile(self._stream, shown)


class _RichFile:
    def __init__(self, progress: Any, task: Any, name: str) -> None:
        self._progress = progress
        self._task = task
        self._name = name

    def advance(self, received: int, total: int | None) -> None:
        self._progress.update(self._task, completed=received, total=total)

    def finish(self, size: int, *, fetched: bool = True) -> None:
        if fetched:
            self._progress.update(self._task, completed=size, total=size)
        else:
            name = f"{self._name} (already complete)"
            self._progress.update(self._task, completed=size, total=size, description=name)


class _PlainFile:
    def __init__(self, stream: IO[str] | None, name: str) -> None:
        self._stream = stream
        self._name = name

    def advance(self, received: int, total: int | None) -> None:
        pass

    def finish(self, size: int, *, fetched: bool = True) -> None:
        if self._stream is not None:
            done = "downloaded" if fetched else "already complete, kept"
            self._stream.write(f"{done} {self._name} ({human_bytes(size)})\n")
            self._stream.flush()


def default_output(json_mode: bool) -> Output:
    """The output of a real CLI run, on the process's stdout and stderr, written in full
    (a closed pipe raises ``BrokenPipeError``, never loses text silently)."""
    stdout, stderr = full_writer(sys.stdout), full_writer(sys.stderr)
    return Output(json_mode=json_mode, stdout=stdout, stderr=stderr)
