"""The file-system side of downloads: destination checks, temp files, records, the rename.

A download to ``path`` writes ``.<name>.part`` next to it plus a small ``.<name>.part.json``
(ETag, size, which URL; for a small body only once the download fails, see ``RECORD_ABOVE``),
renames the temp file over ``path`` only once its size is verified, and on the next call resumes
a partial file whose record matches the same URL. One download per destination path at a time.

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

The destination is checked before anything is sent: a symbolic link the caller named is
followed (the file it points to is replaced atomically, with the temp files next to that file,
and the link stays); an existing directory, FIFO, device or socket is refused with an
``OSError`` instead of being replaced; so is a temp file that is not a regular file, and a name
too long to leave room for ``.<name>.part.json``. Then the directory is opened once
(``_folder``) and every later step goes through its descriptor without following a link: a
link swapped in at any name, or for the directory, later on makes the download fail with an
``OSError`` and never redirects a write.

Temp and record files are never opened for writing through an existing inode: each is created
fresh (``O_EXCL``, in place, or under a unique name and renamed there when something is in the
way), and a partial file is resumed only when it and its record are regular files with one link
each and the record matches the URL. The temp file is renamed over the destination only while
the temp name still leads to the file written (same inode) and the destination is not a link;
a link swapped in at the destination in the instant after that check is replaced by the rename,
never followed.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
import stat
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import httpx
from qhub_service_gen.types import partial_file_name

from ._folder import Folder, Identity, folder_error, identity, link_error
from ._resume import Resume, Start
from ._target import Target, not_regular

OnProgress = Callable[[int, int | None], object]
"""Called with ``(bytes written so far, total size or None)`` as a download to a path goes."""

RECORD_ABOVE = 1 << 20
"""A body with more bytes to come than this (1 MiB), or of unknown size, gets its record as it
starts; a smaller one only if its download fails, so a process killed mid-body fetches such a
file again from its start."""

FLUSH_ON_LOOP = 64 * 1024
"""A finished file of at most this many bytes (64 KiB) is flushed to disk where it was written,
like its creation and rename; a bigger one in a worker thread, so the flush never holds up the
event loop for long (a thread hop costs more than flushing a small file)."""

SLOW_FLUSH = 0.002
"""When the running average of a client's flushes on the event loop to one file system passes
this (2 ms; each new flush weighs a quarter), that file system is slow (a network share, a busy
disk) and the client flushes every later file there in a worker thread. One cold flush does not
mark a disk slow; a share whose flushes take over 8 ms is marked by its first."""


class Flushes:
    """Where one client's downloads flush their finished files (``FLUSH_ON_LOOP``,
    ``SLOW_FLUSH``): the file systems found slow are remembered for the client's life."""

    def __init__(self) -> None:
        self._average: dict[int, float] = {}

    def on_loop(self, out: PartFile) -> bool:
        """Whether to flush ``out`` where it was written: small, on a file system not slow."""
        return out.size <= FLUSH_ON_LOOP and self._average.get(out.device, 0.0) <= SLOW_FLUSH

    def flush(self, out: PartFile) -> None:
        """Flush ``out`` here and fold the time it took into its file system's average."""
        started = time.monotonic()
        out.fsync()
        average = self._average.get(out.device, 0.0)
        self._average[out.device] = average + (time.monotonic() - started - average) / 4


MAX_RECORD_BYTES = 4096
"""Largest record (``.<name>.part.json``) read back; a bigger one is ignored (start over)."""


def partial_path(path: str | os.PathLike[str]) -> Path:
    """The temp file that a download to ``path`` writes before renaming it (``Target.part``).

    For a symbolic link it is next to the file the link points to:
    ``partial_path(path.resolve())``.
    """
    target = Path(path)
    return target.with_name(partial_file_name(target.name))


def url_key(request: httpx.Request) -> str:
    """The hash of the request's URL that a record keeps (never the URL itself)."""
    return hashlib.sha256(str(request.url).encode()).hexdigest()


def _own_file(folder: Folder, name: str) -> os.stat_result | None:
    """``name``'s status when it is a regular file with exactly one link (never followed)."""
    info = folder.lstat(name)
    return info if info is not None and stat.S_ISREG(info.st_mode) and info.st_nlink == 1 else None


_RDONLY = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def read_record(target: Target) -> dict[str, Any] | None:
    """The record next to the file, when it is a regular file with one link holding a JSON
    object (a link there is refused: the download fails)."""
    try:
        fd = target.folder.open_fd(target.meta, _RDONLY, "the download's record")
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            return None
        data = file.read(MAX_RECORD_BYTES + 1)
    try:
        record = json.loads(data)
    except ValueError:
        return None
    return record if isinstance(record, dict) and len(data) <= MAX_RECORD_BYTES else None


def load_partial(target: Target, url_key: str) -> tuple[int, str | None, int | None]:
    """Where to resume the temp file from: its size, ETag and total, or a fresh start.

    A partial file is resumed only when it and its record are regular files with one link
    each (a hard link planted there could lead to a file outside the directory) and the record
    is one this SDK wrote for the same URL.
    """
    if not (target.part_found and target.record_found):  # as checked when it began
        return 0, None, None
    info = _own_file(target.folder, target.part)
    if info is None or _own_file(target.folder, target.meta) is None:
        return 0, None, None
    size = info.st_size
    record = read_record(target)
    if record is None or record.get("url") != url_key or "done" in record:
        return 0, None, None
    etag, total = record.get("etag"), record.get("total")
    if not (etag is None or isinstance(etag, str)):
        return 0, None, None
    if not (total is None or (isinstance(total, int) and not isinstance(total, bool))):
        return 0, None, None
    if size == 0 or (total is not None and size > total):
        return 0, None, None
    return size, etag, total


_BINARY = getattr(os, "O_BINARY", 0)
_CREATE_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | _BINARY
_REOPEN_FLAGS = os.O_RDWR | getattr(os, "O_NONBLOCK", 0) | _BINARY


def _fresh(folder: Folder, name: str, data: bytes | None = None) -> IO[bytes]:
    """A new file at ``name``, never opened through an existing inode.

    When nothing is at ``name`` (the usual case) it is created there with ``O_EXCL``, which
    fails on anything that appears there first, a link included. Otherwise it is created with
    ``O_EXCL`` under a new unique name next to ``name`` and renamed over ``name``: whatever was
    there (a hard link, a stale temp file) is replaced, never written. A symbolic link there is
    refused (``OSError``); one swapped in after that check is replaced by the rename, never
    followed. ``data``, if given, is written before the file is returned.
    """
    try:
        fd = folder.open_fd(name, _CREATE_FLAGS, "the download's temp file")
    except FileExistsError:
        pass
    else:
        try:
            return _opened(fd, data)
        except BaseException:
            folder.unlink(name)
            raise
    _no_link(folder, name, "the download's temp file")
    for _ in range(16):
        temp = f".qhub-{secrets.token_hex(8)}.tmp"
        try:
            fd = folder.open_fd(temp, _CREATE_FLAGS, "the download's temp file")
        except FileExistsError:
            continue
        break
    else:  # pragma: no cover - 16 collisions of 64 random bits
        raise FileExistsError(
            errno.EEXIST, "could not create a unique temp file", str(folder.shown(name))
        )
    try:
        file = _opened(fd, data)
    except BaseException:
        folder.unlink(temp)
        raise
    try:
        folder.replace(temp, name)
    except BaseException:
        file.close()
        folder.unlink(temp)
        raise
    return file


def _unbuffered(fd: int) -> IO[bytes]:
    """The file of ``fd``, unbuffered: a download writes whole chunks, so a buffer would only add
    copies and ``lseek`` calls (about 5 us per file); closes ``fd`` on failure."""
    try:
        return os.fdopen(fd, "r+b", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def _write_all(file: IO[bytes], data: bytes) -> None:
    """Write all of ``data`` to an unbuffered file (a raw write may take only part of it)."""
    view = memoryview(data)
    while view:
        written = file.write(view)
        if not written:  # a regular file takes at least a byte or raises: never spin
            raise OSError(errno.EIO, "the download's temp file took no bytes")
        view = view[written:]


def _opened(fd: int, data: bytes | None) -> IO[bytes]:
    """The file of a descriptor just created, with ``data`` written (closed on failure)."""
    file = _unbuffered(fd)
    try:
        if data is not None:
            _write_all(file, data)
    except BaseException:
        file.close()
        raise
    return file


def _reopen_partial(target: Target, position: int) -> IO[bytes]:
    """The partial file, opened to resume at ``position``, after proving it is a regular file
    with one link and at least ``position`` bytes (never a symlink or FIFO)."""
    part = target.shown(target.part)
    fd = target.folder.open_fd(target.part, _REOPEN_FLAGS, "the download's temp file")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise not_regular(part, "the download's temp file", info.st_mode)
        if info.st_nlink != 1 or info.st_size < position:
            raise OSError(
                errno.EEXIST,
                "the download's temp file changed while it was opened (another link to it, "
                "or fewer bytes); refusing to write through it",
                str(part),
            )
    except BaseException:
        os.close(fd)
        raise
    return _unbuffered(fd)


def _no_link(folder: Folder, name: str, what: str) -> os.stat_result | None:
    """The status of ``name`` (None when nothing is there); raise when it is a link."""
    info = folder.lstat(name)
    if info is not None and stat.S_ISLNK(info.st_mode):
        raise link_error(folder.shown(name), what)
    return info


_NOTHING_OUTSIDE = "(nothing was written outside the download directory)"


def _swapped(path: Path, what: str) -> OSError:
    told = f"{what} was replaced by another file or link during the download; refusing to go on"
    return folder_error(errno.ESTALE, path, f"{told} {_NOTHING_OUTSIDE}")


def expect_file(folder: Folder, name: str, expected: Identity | None, what: str) -> os.stat_result:
    """The status of ``name``: a regular file (and, when given, the file ``expected``)."""
    info = folder.lstat(name)
    if info is not None and stat.S_ISLNK(info.st_mode):
        raise link_error(folder.shown(name), what)
    if info is None or not stat.S_ISREG(info.st_mode):
        raise _swapped(folder.shown(name), what)
    if expected is not None and identity(info) != expected:
        raise _swapped(folder.shown(name), what)
    return info


class PartFile:
    """The temp file plus its record; applies download events to them."""

    def __init__(
        self, target: Target, url_key: str, position: int, on_progress: OnProgress | None
    ) -> None:
        self._target = target
        self._url_key = url_key
        self._recorded: tuple[str | None, int | None] | None = None
        self._body: tuple[str | None, int | None] | None = None
        """The ETag and size of the body being written (``_recorded``: as last recorded)."""
        self._on_progress = on_progress
        self._written = position
        self._total: int | None = None
        self._reported: tuple[int, int | None] | None = None
        self._closing = threading.Lock()
        if position > 0:
            self.file = _reopen_partial(target, position)
            self.file.seek(position)
            self.file.truncate()
        else:
            self.file = _fresh(target.folder, target.part)
        self._identity = identity(os.fstat(self.file.fileno()))

    def _report(self) -> None:
        if self._on_progress is not None:
            self._reported = (self._written, self._total)
            self._on_progress(self._written, self._total)

    def apply(self, event: bytes | Start) -> None:
        """Write a chunk, or start a body at its position (recording its ETag and size)."""
        if isinstance(event, bytes):
            _write_all(self.file, event)
            self._written += len(event)
            self._report()
            return
        if event.position != self._written:  # the file's offset (no lseek to ask it)
            self.file.seek(event.position)
            self.file.truncate()
        self._body = (event.etag, event.total)
        if event.total is None or event.total - event.position > RECORD_ABOVE:
            self._record()
        self._written = event.position
        self._total = event.total
        self._report()

    def verify(self, state: Resume) -> None:
        """Check the size against the announced one; report the final progress."""
        size = self._written
        if state.total is not None and size != state.total:
            state.fail(f"the file has {size} bytes, the server announced {state.total}")
        self._written, self._total = size, size
        if self._reported != (size, size):
            self._report()

    @property
    def size(self) -> int:
        """Bytes in the temp file so far."""
        return self._written

    @property
    def device(self) -> int:
        """The file system (``st_dev``) the file is written on."""
        return self._target.folder.device

    def fsync(self) -> None:
        """Flush the file to disk; safe to run in a worker thread: `close` waits for it."""
        with self._closing:
            if not self.file.closed:
                os.fsync(self.file.fileno())

    def close(self) -> None:
        """Close the temp file (waits for a running ``fsync``)."""
        with self._closing:
            self.file.close()

    def _record(self) -> None:
        """Write the record of the body being written, unless it is already the one there."""
        if self._body is not None and self._recorded != self._body:
            etag, total = self._body
            _write_record(self._target, {"url": self._url_key, "etag": etag, "total": total})
            self._recorded = self._body

    def keep_for_resume(self) -> None:
        """After a failure: keep a partial file, with its record, for the next attempt, but not
        an empty one (and never remove a file that another one was swapped for)."""
        target = self._target
        try:
            if self._written > 0 and not self.file.closed:
                self._record()
        except OSError:
            pass
        self.close()
        try:
            info = target.folder.lstat(target.part)
            if info is not None and identity(info) == self._identity and info.st_size == 0:
                target.folder.unlink(target.part)
                meta = target.folder.lstat(target.meta)
                if meta is not None and stat.S_ISREG(meta.st_mode):
                    target.folder.unlink(target.meta)
        except OSError:
            pass

    def commit(self, keep_record: bool) -> None:
        """Rename the temp file over the destination; keep a record of it, or remove it.

        The rename happens only while the directories are in place, the temp name still leads
        to the file written and the destination is not a link; afterwards the destination must
        be that file. Otherwise an ``OSError`` is raised (nothing was written outside)."""
        self.close()
        target = self._target
        target.check_in_place()
        expect_file(target.folder, target.part, self._identity, "the download's temp file")
        _no_link(target.folder, target.name, "download destination")
        target.folder.replace(target.part, target.name)
        final = expect_file(target.folder, target.name, self._identity, "download destination")
        if keep_record:
            etag = None if self._body is None else self._body[0]
            record_done(target, self._url_key, etag, final)
        elif _no_link(target.folder, target.meta, "the download's record") is not None:
            target.folder.unlink(target.meta)


def _write_record(target: Target, record: Mapping[str, object]) -> None:
    """Replace the record atomically with a fresh file (never written through a link)."""
    _fresh(target.folder, target.meta, json.dumps(record).encode()).close()


def record_done(target: Target, url_key: str, etag: str | None, info: os.stat_result) -> None:
    """Note next to a finished file which download wrote it, and its size and mtime (``info``)."""
    done = {"size": info.st_size, "mtime_ns": info.st_mtime_ns}
    record = {"url": url_key, "etag": etag, "total": info.st_size, "done": done}
    _write_record(target, record)


def check_progress(on_progress: OnProgress | None) -> None:
    """Refuse an ``on_progress`` that cannot be called, before anything is sent."""
    if on_progress is not None and not callable(on_progress):
        raise TypeError(f"on_progress must be callable, got {type(on_progress).__name__}")
