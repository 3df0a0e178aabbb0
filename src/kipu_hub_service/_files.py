"""The file-system side of downloads: destination checks, temp files, records, the rename.

A download to ``path`` writes ``.<name>.part`` next to it plus a small ``.<name>.part.json``
(ETag, size, which URL), renames the temp file over ``path`` only once its size is verified, and
on the next call resumes a partial file whose record matches the same URL. One download per
destination path at a time.

``on_progress(written, total)`` is called when a body starts (``written`` is where it resumes),
after each chunk written, and at the end with the final size as both numbers; ``total`` is None
while the size is unknown. After a restart (the file changed on the server) the count starts
again from 0. An exception it raises stops the download; the partial file is kept.

``overwrite`` (default True: an existing ``path`` is replaced, and the record is removed). With
False, an existing ``path`` is never written; it is kept when it is the server's whole file and
``FileExistsError`` is raised otherwise. A download made with ``overwrite=False`` leaves its
record next to the finished file (the URL's hash, the ETag, and the file's size and mtime). When
that record vouches for the file (same URL, size and mtime unchanged) one
``Range: bytes=<size>-`` request checks it: a 416 ``bytes */<size>`` (with the same ETag, if the
answer has one) means complete, and no byte is fetched again. Any other file (no record, or
edited since) is compared with the server's body byte by byte as it streams, and gets a record
when it matches. A 206 (the server's file is longer), another size or ETag, or another byte
means it is not the server's file.

The destination is checked before anything is sent: a symbolic link is followed (the file it
points to is replaced atomically, with the temp files next to that file, and the link stays); an
existing directory, FIFO, device or socket is refused with an ``OSError`` instead of being
replaced; so is a temp file that is not a regular file (a planted symlink is never followed when
writing), and a name too long to leave room for ``.<name>.part.json``.

Temp and record files are never opened for writing through an existing inode: each is created
fresh (``O_EXCL``, unique name, then renamed into place), and a partial file is resumed only when
it and its record are regular files with one link each and the record matches the URL.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
import stat
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

import httpx
from qhub_service_gen.types import RESULT_FILE_NAME_MAX_BYTES, partial_file_name, record_file_name

from ._resume import Resume, Start

OnProgress = Callable[[int, int | None], object]
"""Called with ``(bytes written so far, total size or None)`` as a download to a path goes."""


def partial_path(path: str | os.PathLike[str]) -> Path:
    """The temp file that a download to ``path`` writes before renaming it.

    For a symbolic link it is next to the file the link points to:
    ``partial_path(path.resolve())``.
    """
    target = Path(path)
    return target.with_name(partial_file_name(target.name))


def meta_path(part: Path) -> Path:
    """The record next to a temp file: ``.<name>.part.json``."""
    return part.with_name(record_file_name(part.name))


def url_key(request: httpx.Request) -> str:
    """The hash of the request's URL that a record keeps (never the URL itself)."""
    return hashlib.sha256(str(request.url).encode()).hexdigest()


def _kind(mode: int) -> str:
    kinds = [
        (stat.S_ISDIR, "directory"),
        (stat.S_ISLNK, "symbolic link"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISSOCK, "socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "special file")


def _not_regular(path: Path, what: str, mode: int) -> OSError:
    return OSError(
        errno.EINVAL,
        f"{what} exists and is a {_kind(mode)}, not a regular file; refusing to replace it",
        str(path),
    )


def checked_target(path: str | os.PathLike[str]) -> Path:
    """The regular file a download to ``path`` replaces, checked before anything is sent.

    A symbolic link is followed: the file it points to is replaced (atomically, with the temp
    file next to it) and the link stays. An existing destination that is not a regular file
    (a directory, FIFO, device or socket) is refused, never replaced.
    """
    given = Path(path)
    if not given.name or given.name in (".", ".."):
        raise ValueError(f"not a file path: {str(path)!r}")
    target = given
    if given.is_symlink():
        try:
            target = given.resolve(strict=False)
        except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
            raise OSError(
                errno.ELOOP,
                "download destination is a symbolic link that cannot be resolved",
                str(given),
            ) from None
    try:
        mode: int | None = target.stat().st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "download destination is a directory", str(given))
    if mode is not None and not stat.S_ISREG(mode):
        raise _not_regular(given, "download destination", mode)
    if not target.parent.is_dir():
        raise FileNotFoundError(
            errno.ENOENT, "directory of the download destination does not exist", str(given)
        )
    if len(os.fsencode(target.name)) > RESULT_FILE_NAME_MAX_BYTES:
        raise OSError(
            errno.ENAMETOOLONG,
            f"download destination's name is too long for its temp file (at most "
            f"{RESULT_FILE_NAME_MAX_BYTES} bytes)",
            str(given),
        )
    for temp in (partial_path(target), meta_path(partial_path(target))):
        try:
            temp_mode = temp.lstat().st_mode
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(temp_mode):
            raise _not_regular(temp, "the download's temp file", temp_mode)
    return target


def _own_file(path: Path) -> os.stat_result | None:
    """``path``'s status when it is a regular file with exactly one link (never followed)."""
    try:
        info = path.lstat()
    except OSError:
        return None
    return info if stat.S_ISREG(info.st_mode) and info.st_nlink == 1 else None


def load_partial(part: Path, url_key: str) -> tuple[int, str | None, int | None]:
    """Where to resume ``part`` from: its size, ETag and total, or a fresh start.

    A partial file is resumed only when it and its record are regular files with one link
    each (a hard link planted there could lead to a file outside the directory) and the record
    is one this SDK wrote for the same URL.
    """
    info = _own_file(part)
    if info is None or _own_file(meta_path(part)) is None:
        return 0, None, None
    size = info.st_size
    try:
        record = json.loads(meta_path(part).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0, None, None
    if not isinstance(record, dict) or record.get("url") != url_key or "done" in record:
        return 0, None, None
    etag, total = record.get("etag"), record.get("total")
    if not (etag is None or isinstance(etag, str)):
        return 0, None, None
    if not (total is None or (isinstance(total, int) and not isinstance(total, bool))):
        return 0, None, None
    if size == 0 or (total is not None and size > total):
        return 0, None, None
    return size, etag, total


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_CREATE_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY
_REOPEN_FLAGS = os.O_RDWR | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | _BINARY


def _fresh(path: Path, data: bytes | None = None) -> IO[bytes]:
    """A new file at ``path``, never opened through an existing inode.

    It is created with ``O_EXCL`` under a new unique name next to ``path`` (with ``data``
    written, if given) and renamed over ``path``: whatever was there (a hard link to another
    file, a stale temp file) is replaced, never written.
    """
    for _ in range(16):
        temp = path.with_name(f".qhub-{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(temp, _CREATE_FLAGS, 0o666)
        except FileExistsError:
            continue
        break
    else:  # pragma: no cover - 16 collisions of 64 random bits
        raise FileExistsError(errno.EEXIST, "could not create a unique temp file", str(path))
    try:
        file = os.fdopen(fd, "r+b")
    except BaseException:
        os.close(fd)
        temp.unlink(missing_ok=True)
        raise
    try:
        if data is not None:
            file.write(data)
            file.flush()
        os.replace(temp, path)
    except BaseException:
        file.close()
        temp.unlink(missing_ok=True)
        raise
    return file


def _reopen_partial(path: Path, position: int) -> IO[bytes]:
    """The partial file at ``path``, opened to resume at ``position``, after proving it is a
    regular file with one link and at least ``position`` bytes (never a symlink or FIFO)."""
    try:
        fd = os.open(path, _REOPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _not_regular(path, "the download's temp file", stat.S_IFLNK) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _not_regular(path, "the download's temp file", info.st_mode)
        if info.st_nlink != 1 or info.st_size < position:
            raise OSError(
                errno.EEXIST,
                "the download's temp file changed while it was opened (another link to it, "
                "or fewer bytes); refusing to write through it",
                str(path),
            )
        return os.fdopen(fd, "r+b")
    except BaseException:
        os.close(fd)
        raise


class PartFile:
    """The temp file plus its record; applies download events to them."""

    def __init__(
        self, target: Path, url_key: str, position: int, on_progress: OnProgress | None
    ) -> None:
        self.part = partial_path(target)
        self._meta = meta_path(self.part)
        self._url_key = url_key
        self._recorded: tuple[str | None, int | None] | None = None
        self._on_progress = on_progress
        self._written = position
        self._total: int | None = None
        self._reported: tuple[int, int | None] | None = None
        self._closing = threading.Lock()
        if position > 0:
            self.file = _reopen_partial(self.part, position)
            self.file.seek(position)
            self.file.truncate()
        else:
            self.file = _fresh(self.part)

    def _report(self) -> None:
        if self._on_progress is not None:
            self._reported = (self._written, self._total)
            self._on_progress(self._written, self._total)

    def apply(self, event: bytes | Start) -> None:
        """Write a chunk, or start a body at its position (recording its ETag and size)."""
        if isinstance(event, bytes):
            self.file.write(event)
            self._written += len(event)
            self._report()
            return
        if event.position != self.file.tell():
            self.file.seek(event.position)
            self.file.truncate()
        if self._recorded != (event.etag, event.total):
            self.file.flush()
            record = {"url": self._url_key, "etag": event.etag, "total": event.total}
            _write_record(self._meta, record)
            self._recorded = (event.etag, event.total)
        self._written = event.position
        self._total = event.total
        self._report()

    def verify(self, state: Resume) -> None:
        """Check the size against the announced one; report the final progress."""
        self.file.flush()
        size = self.file.tell()
        if state.total is not None and size != state.total:
            state.fail(f"the file has {size} bytes, the server announced {state.total}")
        self._written, self._total = size, size
        if self._reported != (size, size):
            self._report()

    def fsync(self) -> None:
        """Flush the file to disk; safe to run in a worker thread: `close` waits for it."""
        with self._closing:
            if not self.file.closed:
                os.fsync(self.file.fileno())

    def close(self) -> None:
        """Close the temp file (waits for a running ``fsync``)."""
        with self._closing:
            self.file.close()

    def discard_if_empty(self) -> None:
        """After a failure: keep a partial file for the next attempt, but not an empty one."""
        self.close()
        try:
            if self.part.stat().st_size == 0:
                self.part.unlink()
                self._meta.unlink(missing_ok=True)
        except OSError:
            pass

    def commit(self, target: Path, keep_record: bool) -> None:
        """Rename the temp file over ``target``; keep a record of it, or remove the record."""
        self.close()
        os.replace(self.part, target)
        if keep_record:
            etag = None if self._recorded is None else self._recorded[0]
            record_done(target, self._url_key, etag)
        else:
            self._meta.unlink(missing_ok=True)


def _write_record(meta: Path, record: Mapping[str, object]) -> None:
    """Replace the record atomically with a fresh file (never written through a link)."""
    _fresh(meta, json.dumps(record).encode()).close()


def record_done(target: Path, url_key: str, etag: str | None) -> None:
    """Note next to a finished file which download wrote it, and its size and mtime then."""
    info = target.stat()
    done = {"size": info.st_size, "mtime_ns": info.st_mtime_ns}
    record = {"url": url_key, "etag": etag, "total": info.st_size, "done": done}
    _write_record(meta_path(partial_path(target)), record)


def check_progress(on_progress: OnProgress | None) -> None:
    """Refuse an ``on_progress`` that cannot be called, before anything is sent."""
    if on_progress is not None and not callable(on_progress):
        raise TypeError(f"on_progress must be callable, got {type(on_progress).__name__}")
