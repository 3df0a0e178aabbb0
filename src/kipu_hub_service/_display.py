"""Tables of executions and log entries, for notebooks and for the ``hub-service`` CLI.

The CLI and :func:`table` share the cells, the colours and both layouts (rich's and the
plain aligned columns), so a list reads the same in a terminal and in Jupyter. rich (the
``cli`` extra) is optional and imported only when a rich table is drawn.

Why a helper and not a smarter return type: ``get_service_executions()`` and ``get_logs()``
return plain ``list`` objects, as the contract documents, and a plain list cannot carry
display methods. A ``list`` subclass would change what ``type()``, pickles and ``==`` code
see for every user to help only the ones who print, so instead :func:`table` wraps any
list of executions or log entries in a :class:`Table` when you want to look at it.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from typing import Any

from qhub_service_gen.models import LogEntry, ServiceExecution
from qhub_service_gen.types import Unset

from ._text import printable

__all__ = ["Table", "table"]

STATUS_STYLE = {
    "SUCCEEDED": "green",
    "FAILED": "red",
    "CANCELLED": "yellow",
    "RUNNING": "cyan",
    "PENDING": "blue",
}
"""rich style of each execution status."""
SEVERITY_STYLE = {
    "DEBUG": "dim",
    "NOTICE": "cyan",
    "INFO": "",
    "WARNING": "yellow",
    "ERROR": "bold red",
}
"""rich style of each log severity."""
_COLUMN_STYLES = {"STATUS": STATUS_STYLE, "SEVERITY": SEVERITY_STYLE}
"""Columns whose cells are coloured by value, by (upper-cased) column name."""

EXECUTION_COLUMNS = ("ID", "STATUS", "CREATED", "ENDED", "TAGS")
"""The columns of a table of executions (``hub-service list``)."""
LOG_COLUMNS = ("TIMESTAMP", "SEVERITY", "MESSAGE")
"""The columns of a table of log entries."""


def text_of(value: object) -> str:
    """A model field as display text: unset and ``None`` become an empty string."""
    if value is None or isinstance(value, Unset):
        return ""
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def human_bytes(count: float) -> str:
    """A size for people, in binary (IEC) units: ``1048576`` -> ``1.0 MiB``, ``1500`` ->
    ``1.5 KiB``, ``512`` -> ``512 B``.

    The one size format of everything for people: the CLI's tables, notes and progress bars,
    and ``make demo``.
    """
    if count < 1024:
        return f"{count:.0f} B"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        count /= 1024
        if round(count, 1) < 1024 or unit == "PiB":
            break
    return f"{count:.1f} {unit}"


def stamp(moment: datetime.datetime) -> str:
    """A time for people: UTC, ISO 8601 to the millisecond, ``Z``: ``2026-11-25T14:17:43.068Z``.

    The one time format of everything for people: execution times and log entries in the CLI
    and in :func:`table`, ``--verbose`` lines, ``make demo``. ``moment`` is as the models
    parse it (``qhub_service_gen.types.wire_time``: always with its zone).
    """
    utc = moment.astimezone(datetime.UTC)
    return utc.isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


def time_text(parsed: datetime.datetime | None, raw: object) -> str:
    """An execution time (``created``, ``started``, ``ended``) as :func:`stamp` writes it;
    one the SDK cannot parse is shown as the server sent it, an absent one as ``""``."""
    return text_of(raw) if parsed is None else stamp(parsed)


def execution_row(execution: ServiceExecution) -> list[str]:
    """The cells of one execution under :data:`EXECUTION_COLUMNS`; times as :func:`stamp`."""
    return [
        execution.id,
        str(execution.status),
        time_text(execution.created, execution.created_at),
        time_text(execution.ended, execution.ended_at),
        text_of(execution.tags),
    ]


def log_stamp(entry: LogEntry) -> str:
    """A log entry's time as :func:`stamp` writes it: ``2026-11-25T14:17:43.068Z``."""
    return stamp(entry.timestamp)


def log_severity(entry: LogEntry) -> str:
    """A log entry's severity, ``-`` when it has none."""
    return text_of(entry.severity) or "-"


def log_row(entry: LogEntry) -> list[str]:
    """The cells of one log entry under :data:`LOG_COLUMNS`."""
    return [log_stamp(entry), log_severity(entry), entry.message]


def _printable_rows(rows: Sequence[Sequence[str]]) -> list[list[str]]:
    """Every cell with control and bidi characters escaped (gateway text can hold them)."""
    return [[printable(cell, one_line=True) for cell in row] for row in rows]


def plain_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """The lines of an aligned text table: a header, then one line a row, two spaces between
    columns, no trailing blanks."""
    rows = _printable_rows(rows)
    widths = [len(name) for name in columns]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [list(columns), *rows]
    ]


def rich_table(rich: Any, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> Any:
    """A ``rich.table.Table`` of ``rows``; status and severity cells are coloured.

    ``rich`` is the imported ``rich`` package (with ``rich.table`` and ``rich.text`` loaded).
    """
    table = rich.table.Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for i, name in enumerate(columns):
        # The first column is the key (an id or a name): never wrapped.
        table.add_column(name, no_wrap=i == 0, overflow="fold")
    styles = [_COLUMN_STYLES.get(name.upper(), {}) for name in columns]
    for row in _printable_rows(rows):
        cells = [
            rich.text.Text(cell, style=style.get(cell, ""))
            for cell, style in zip(row, styles, strict=True)
        ]
        table.add_row(*cells)
    return table


class Table:
    """Executions or log entries as a table: plain aligned text from ``str()`` and ``repr()``
    (so IPython and Jupyter show the table), a coloured rich table through ``__rich__``.

    Made by :func:`table`. ``columns`` and ``rows`` hold the text of each cell; ``items``
    the models it was made from.
    """

    __slots__ = ("columns", "items", "rows")

    def __init__(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[str]],
        items: Sequence[ServiceExecution | LogEntry],
    ) -> None:
        self.columns: tuple[str, ...] = tuple(columns)
        """The column headings."""
        self.rows: tuple[tuple[str, ...], ...] = tuple(tuple(row) for row in rows)
        """The text of each cell, a tuple a row."""
        self.items: tuple[ServiceExecution | LogEntry, ...] = tuple(items)
        """The executions or log entries, one a row."""

    def __len__(self) -> int:
        """The number of rows."""
        return len(self.rows)

    def __str__(self) -> str:
        """The aligned text table (what ``hub-service`` prints without rich)."""
        if not self.rows:
            return "(no rows)"
        return "\n".join(plain_table(self.columns, self.rows))

    def __repr__(self) -> str:
        """The table itself, as ``str()``: what IPython and Jupyter display."""
        return str(self)

    def __rich__(self) -> Any:
        """The rich table ``hub-service`` prints (``rich.print(table(...))``, or
        ``%load_ext rich`` in IPython)."""
        # rich is optional: imported only when it draws.
        import rich.table
        import rich.text

        if not self.rows:
            return rich.text.Text("(no rows)", style="dim")
        return rich_table(rich, self.columns, self.rows)


def table(items: Iterable[ServiceExecution] | Iterable[LogEntry] | None) -> Table:
    """A :class:`Table` of executions or of log entries, for looking at them.

    ``None`` (``get_logs`` before any entry) and an empty list give an empty table. Raises
    ``TypeError`` for anything that is not all executions or all log entries.
    """
    listed: list[Any] = [] if items is None else list(items)
    if all(isinstance(item, ServiceExecution) for item in listed):
        return Table(EXECUTION_COLUMNS, [execution_row(item) for item in listed], listed)
    if all(isinstance(item, LogEntry) for item in listed):
        return Table(LOG_COLUMNS, [log_row(item) for item in listed], listed)
    kinds = sorted({type(item).__name__ for item in listed})
    raise TypeError(f"table() takes executions or log entries (one kind), got {', '.join(kinds)}")
