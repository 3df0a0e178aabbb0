"""The sweep journal: one SQLite file that lets a rerun resume instead of starting again.

One row per input index: the request body's fingerprint, the ``Idempotency-Key`` (written, and
committed, before the start is sent), the execution id once known, the final status and the
result envelope once fetched, and the result files once downloaded. The file is held with
SQLite's exclusive locking mode for as long as the sweep runs, so a second process opening the
same journal is refused with :class:`JournalLockedError`; the operating system drops the lock
when the holder dies, even by SIGKILL.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    idx INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    key TEXT NOT NULL,
    execution_id TEXT,
    status TEXT,
    result TEXT,
    files TEXT,
    collected INTEGER NOT NULL DEFAULT 0
);
"""


class JournalError(ValueError):
    """The sweep journal cannot be used (see the message)."""


class JournalLockedError(JournalError):
    """Another process (or another sweep in this one) holds the journal."""


class JournalMismatchError(JournalError):
    """An input differs from the one the journal recorded under the same index."""

    def __init__(self, path: Path, index: int) -> None:
        super().__init__(
            f"{path}: input {index} (line {index + 1}) is not the request body this journal "
            "recorded for it; refusing to mix two sweeps in one journal (use another journal "
            "file, or restore the original inputs)"
        )
        self.index = index


@dataclass(slots=True)
class Entry:
    """One journal row."""

    index: int
    fingerprint: str
    key: str
    execution_id: str | None = None
    status: str | None = None
    result: dict[str, Any] | None = None
    files: list[str] | None = None
    collected: bool = False


def _refuse_links(path: Path) -> None:
    """Refuse a symbolic link at the journal or at the files SQLite keeps next to it: SQLite
    follows links, and a link planted there would have it write outside the directory."""
    for name in (path.name, f"{path.name}-wal", f"{path.name}-journal"):
        if (path.parent / name).is_symlink():
            raise JournalError(
                f"{path.parent / name}: is a symbolic link; refusing to write the journal "
                "through it (remove it, or name the file it points to)"
            )


class Journal:
    """An open journal; use it in a ``with`` block, or call ``close``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._writing = threading.Lock()
        if self.path.is_dir():
            raise JournalError(f"{self.path}: is a directory, not a journal file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _refuse_links(self.path)
        try:
            self._db = sqlite3.connect(
                self.path, timeout=0, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise JournalError(f"{self.path}: cannot open the journal: {exc}") from None
        try:
            self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
            self._db.execute("BEGIN EXCLUSIVE")
            self._db.execute("COMMIT")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._check_version()
        except sqlite3.OperationalError as exc:
            self._db.close()
            if "locked" in str(exc):
                raise JournalLockedError(
                    f"{self.path}: the journal is in use by another sweep (another process "
                    "running the same sweep?); wait for it to end, or use another journal"
                ) from None
            raise JournalError(f"{self.path}: not a usable sweep journal: {exc}") from None
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise JournalError(f"{self.path}: not a sweep journal: {exc}") from None

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE name = 'version'").fetchone()
        if row is None:
            self._db.execute(
                "INSERT INTO meta (name, value) VALUES ('version', ?)", (str(SCHEMA_VERSION),)
            )
        elif row[0] != str(SCHEMA_VERSION):
            raise JournalError(f"{self.path}: journal version {row[0]}, expected {SCHEMA_VERSION}")

    def close(self) -> None:
        """Release the journal (and its lock)."""
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def entries(self) -> dict[int, Entry]:
        """Every recorded row, by index."""
        rows = self._db.execute(
            "SELECT idx, fingerprint, key, execution_id, status, result, files, collected "
            "FROM items"
        )
        found = {}
        for idx, fp, key, execution_id, status, result, files, collected in rows:
            found[idx] = Entry(
                idx,
                fp,
                key,
                execution_id,
                status,
                None if result is None else json.loads(result),
                None if files is None else json.loads(files),
                bool(collected),
            )
        return found

    def check(self, entries: dict[int, Entry], fingerprints: Iterable[tuple[int, str]]) -> None:
        """Refuse an input whose body is not the one recorded under its index."""
        for index, fp in fingerprints:
            entry = entries.get(index)
            if entry is not None and entry.fingerprint != fp:
                raise JournalMismatchError(self.path, index)

    def _write(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """One transaction at a time: the sync client's sweep writes from worker threads."""
        if not rows:
            return
        with self._writing:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(sql, rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def reserve(self, rows: list[tuple[int, str, str]]) -> None:
        """Record ``(index, fingerprint, idempotency key)`` rows, committed before the
        starts are sent."""
        self._write("INSERT OR IGNORE INTO items (idx, fingerprint, key) VALUES (?, ?, ?)", rows)

    def started(self, rows: list[tuple[int, str]]) -> None:
        """Record ``(index, execution id)`` rows."""
        self._write("UPDATE items SET execution_id = ? WHERE idx = ?", [(e, i) for i, e in rows])

    def finished(self, index: int, status: str, result: dict[str, Any] | None) -> None:
        """Record the final status and the result envelope of an index."""
        text = None if result is None else json.dumps(result)
        self._write(
            "UPDATE items SET status = ?, result = ? WHERE idx = ?", [(status, text, index)]
        )

    def collected(self, index: int, files: list[str]) -> None:
        """Record that everything of an index is on disk (``files``: the names written)."""
        self._write(
            "UPDATE items SET files = ?, collected = 1 WHERE idx = ?",
            [(json.dumps(files), index)],
        )
