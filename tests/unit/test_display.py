"""Lists of executions and log entries as tables: plain aligned text, or rich when it draws.

The CLI's ``Output.table`` and ``table()`` share one module (``kipu_hub_service._display``), so
what a notebook shows is what ``hub-service list`` prints.
"""

from __future__ import annotations

import datetime
import io
import subprocess
import sys

import pytest
from rich.console import Console

from kipu_hub_service import LogEntry, ServiceExecution
from kipu_hub_service._display import (
    EXECUTION_COLUMNS,
    Table,
    execution_row,
    human_bytes,
    stamp,
    table,
)
from kipu_hub_service.cli._output import Output

EXECUTIONS = [
    ServiceExecution.from_dict(
        {
            "id": "e1",
            "createdAt": "2022-01-01 22:38:08",
            "status": "SUCCEEDED",
            "endedAt": "2022-01-01 22:39:00",
            "tags": ["demo", "h2"],
        }
    ),
    ServiceExecution.from_dict(
        {
            "id": "exec-000002",
            "createdAt": "2026-11-27T14:31:15.747Z",
            "status": "RUNNING",
            "endedAt": None,
        }
    ),
]
# Both wire forms of execution times are shown in the one form of log times (UTC, ``Z``).
EXECUTION_TABLE = [
    "ID           STATUS     CREATED                   ENDED                     TAGS",
    "e1           SUCCEEDED  2022-01-01T22:38:08.000Z  2022-01-01T22:39:00.000Z  demo, h2",
    "exec-000002  RUNNING    2026-11-27T14:31:15.747Z",
]
LOGS = [
    LogEntry.from_dict(
        {"message": "Execution started", "severity": "INFO", "timestamp": "2026-11-25T12:00:01Z"}
    ),
    LogEntry.from_dict({"message": "odd", "timestamp": "2026-11-25T12:00:02.5+01:00"}),
]
LOG_TABLE = [
    "TIMESTAMP                 SEVERITY  MESSAGE",
    "2026-11-25T12:00:01.000Z  INFO      Execution started",
    "2026-11-25T11:00:02.500Z  -         odd",
]


def _rich_text(renderable: object, *, colour: bool = False) -> str:
    out = io.StringIO()
    console = Console(
        file=out,
        width=100,
        color_system="standard" if colour else None,
        force_terminal=colour,
    )
    console.print(renderable)
    return out.getvalue()


def test_executions_as_plain_aligned_text() -> None:
    shown = table(EXECUTIONS)
    assert str(shown).splitlines() == EXECUTION_TABLE
    assert repr(shown) == str(shown)
    assert len(shown) == 2
    assert shown.items == tuple(EXECUTIONS)
    assert shown.columns == EXECUTION_COLUMNS
    assert shown.rows[0] == (
        "e1",
        "SUCCEEDED",
        "2022-01-01T22:38:08.000Z",
        "2022-01-01T22:39:00.000Z",
        "demo, h2",
    )


def test_log_entries_as_plain_aligned_text() -> None:
    assert str(table(LOGS)).splitlines() == LOG_TABLE
    assert str(table(iter(LOGS))).splitlines() == LOG_TABLE


def test_rich_draws_the_same_table() -> None:
    lines = [line.rstrip() for line in _rich_text(table(EXECUTIONS)).splitlines()]
    assert lines == EXECUTION_TABLE
    lines = [line.rstrip() for line in _rich_text(table(LOGS)).splitlines()]
    assert lines == LOG_TABLE


def test_rich_colours_status_and_severity() -> None:
    drawn = _rich_text(table(EXECUTIONS), colour=True)
    assert "\x1b[32mSUCCEEDED" in drawn
    assert "\x1b[36mRUNNING" in drawn
    errors = [
        LogEntry.from_dict(
            {"message": "boom", "severity": "ERROR", "timestamp": "2026-11-25T12:00:01Z"}
        )
    ]
    assert "\x1b[1;31mERROR" in _rich_text(table(errors), colour=True)


@pytest.mark.parametrize("empty", [None, [], ()])
def test_no_rows(empty: object) -> None:
    shown = table(empty)  # type: ignore[arg-type]
    assert len(shown) == 0
    assert str(shown) == "(no rows)"
    assert _rich_text(shown).strip() == "(no rows)"


def test_anything_but_executions_or_log_entries_is_refused() -> None:
    with pytest.raises(TypeError, match="LogEntry, ServiceExecution"):
        table([EXECUTIONS[0], LOGS[0]])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="dict"):
        table([{"id": "e1"}])  # type: ignore[list-item]


def test_the_cli_prints_the_same_plain_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rich", None)
    stdout = io.StringIO()
    out = Output(json_mode=False, stdout=stdout, stderr=io.StringIO())
    out.table(EXECUTION_COLUMNS, [execution_row(e) for e in EXECUTIONS])
    assert stdout.getvalue() == str(table(EXECUTIONS)) + "\n"
    assert str(Table(EXECUTION_COLUMNS, [], [])) == "(no rows)"


def test_plain_tables_do_not_import_rich() -> None:
    code = (
        "import sys\n"
        "sys.modules['rich'] = None\n"
        "from kipu_hub_service import ServiceExecution\n"
        "from kipu_hub_service._display import table\n"
        "e = ServiceExecution.from_dict({'id': 'e1', 'createdAt': 't', 'status': 'PENDING'})\n"
        "print(table([e]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.splitlines() == ["ID  STATUS   CREATED  ENDED  TAGS", "e1  PENDING  t"]


def test_gateway_text_is_shown_escaped_in_notebook_tables() -> None:
    """A log message or tag holding an escape sequence or a bidi override cannot drive the
    terminal or reorder the line where a notebook (or ``repr``) shows the table."""
    hostile = [
        LogEntry.from_dict(
            {
                "message": "red\x1b[31m\u202eevil\x07\nnext",
                "severity": "INFO",
                "timestamp": "2026-11-25T12:00:01Z",
            }
        )
    ]
    plain = str(table(hostile))
    assert "red\\x1b[31m\\u202eevil\\x07\\nnext" in plain
    assert not any(ch in plain for ch in "\x1b\u202e\x07")
    assert len(plain.splitlines()) == 2
    drawn = _rich_text(table(hostile), colour=True)
    assert "\\x1b[31m\\u202eevil" in drawn
    assert "\u202e" not in drawn and "\x07" not in drawn
    tagged = ServiceExecution.from_dict(
        {
            "id": "e\x1b]0;x",
            "createdAt": "2022-01-01 22:38:08",
            "status": "RUNNING",
            "tags": ["\x9b"],
        }
    )
    assert str(table([tagged])).splitlines()[1].startswith("e\\x1b]0;x  RUNNING")
    assert "\\x9b" in str(table([tagged]))


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1500, "1.5 KiB"),
        (1024 * 1024 - 1, "1.0 MiB"),  # never "1024.0 KiB"
        (1024 * 1024, "1.0 MiB"),
        (8 * 1024 * 1024, "8.0 MiB"),
        (3 * 1024**3, "3.0 GiB"),
        (2 * 1024**5, "2.0 PiB"),
        (4096 * 1024**5, "4096.0 PiB"),
    ],
)
def test_sizes_are_written_in_binary_units(count: int, shown: str) -> None:
    assert human_bytes(count) == shown


def test_times_are_written_in_utc_to_the_millisecond_with_z() -> None:
    moment = datetime.datetime(2026, 12, 5, 16, 11, 3, 31000, tzinfo=datetime.UTC)
    assert stamp(moment) == "2026-12-05T16:11:03.031Z"
    east = moment.astimezone(datetime.timezone(datetime.timedelta(hours=5, minutes=30)))
    assert stamp(east) == "2026-12-05T16:11:03.031Z"
