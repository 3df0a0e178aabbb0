"""Whether a file already at a download's destination is the server's whole file.

Used by downloads with ``overwrite=False``, which never write an existing file: a file whose
record vouches for it (same URL, size and mtime unchanged) is checked with one bodiless
``Range: bytes=<size>-`` request; any other file is compared with the server's body byte by
byte as it streams (resumed after drops like a download).
"""

from __future__ import annotations

import enum
import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from ._files import OnProgress, expect_file, read_record, record_done
from ._folder import Identity, identity, link_error
from ._requests import with_headers
from ._resume import MakeIncompleteError, Resume, Start, parse_int, unsatisfied_range
from ._retry import RetryPolicy
from ._target import Target, not_regular


class Probe(enum.Enum):
    """What the first answer says about a file already at the destination."""

    SAME = "same"
    """It is the server's whole file (a 416 with its size)."""
    DIFFERS = "differs"
    """It is not (another size, ETag, or a 206: the server's file is longer)."""
    COMPARE = "compare"
    """The body must be compared with it byte by byte."""
    ERROR = "error"
    """A non-2xx answer: raised as the mapped error."""


@dataclass(frozen=True)
class Existing:
    """A file already at the destination; ``vouched`` when its record says this download
    (same URL) wrote it and it still has the size and mtime it had then."""

    size: int
    """Bytes in the file."""
    vouched: bool
    """Whether the record vouches for the file (same URL, size and mtime)."""
    etag: str | None
    """The ETag the record keeps, for a vouched file."""
    identity: Identity
    """Which file it is (device, inode): the one compared and vouched for later."""


def existing_request(template: httpx.Request, existing: Existing) -> httpx.Request:
    """A vouched file is checked with ``Range: bytes=<size>-`` (a bodiless 416 when it is
    complete); any other file is compared with the whole body."""
    headers = template.headers.copy()
    if existing.vouched:
        headers["Range"] = f"bytes={existing.size}-"
    return with_headers(template, headers)


def existing_verdict(response: httpx.Response, existing: Existing) -> Probe:
    """What ``response`` (to ``existing_request``) says about the existing file."""
    status = response.status_code
    etag = response.headers.get("ETag")
    new_etag = existing.etag is not None and etag is not None and etag != existing.etag
    if status == 416 and existing.vouched:
        match = unsatisfied_range(response.headers.get("Content-Range", ""))
        same = match is not None and int(match[1]) == existing.size and not new_etag
        return Probe.SAME if same else Probe.DIFFERS
    if status == 206:
        return Probe.DIFFERS  # the server's file goes on after ``size`` bytes
    if not 200 <= status < 300:
        return Probe.ERROR
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    length = parse_int(response.headers.get("Content-Length"))
    if new_etag or (encoding in ("", "identity") and length not in (None, existing.size)):
        return Probe.DIFFERS
    return Probe.COMPARE


class Comparison:
    """Compares the events of a download with a local file instead of writing them."""

    def __init__(self, local: IO[bytes], existing: Existing) -> None:
        self._local = local
        self._existing = existing

    def matches(self, event: bytes | Start) -> bool:
        """False as soon as the server's file is known to differ from the local one."""
        if isinstance(event, bytes):
            return self._local.read(len(event)) == event
        existing = self._existing
        if event.total is not None and event.total != existing.size:
            return False
        if existing.etag is not None and event.etag not in (None, existing.etag):
            return False
        self._local.seek(event.position)
        return True

    def at_end(self) -> bool:
        """Whether the local file has no byte past what was compared."""
        return self._local.read(1) == b""


def compare_state(
    template: httpx.Request,
    max_resumes: int,
    make_incomplete_error: MakeIncompleteError,
    retry_policy: RetryPolicy | None,
) -> Resume:
    """A comparison goes on after a drop like a download (a restart re-reads the local file)."""
    return Resume(
        template,
        max_resumes=max_resumes,
        make_incomplete_error=make_incomplete_error,
        policy=retry_policy,
        restartable=True,
    )


def find_existing(target: Target, url_key: str, overwrite: bool) -> Existing | None:
    """The file at the destination that must not be written (``overwrite=False``), if any."""
    if overwrite:
        return None
    info = target.found  # as checked when the download began
    if info is None:
        return None
    if stat.S_ISLNK(info.st_mode):
        raise link_error(target.shown(), "download destination")
    record = read_record(target)
    if record is None or record.get("url") != url_key:
        return Existing(info.st_size, False, None, identity(info))
    done = record.get("done")
    vouched = done == {"size": info.st_size, "mtime_ns": info.st_mtime_ns}
    etag = record.get("etag")
    etag = etag if vouched and isinstance(etag, str) else None
    return Existing(info.st_size, vouched, etag, identity(info))


_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def open_existing(target: Target, existing: Existing) -> IO[bytes]:
    """The existing file, opened to compare it, when it is still the file found (never a link)."""
    fd = target.folder.open_fd(target.name, _READ_FLAGS, "download destination")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise not_regular(target.shown(), "download destination", info.st_mode)
        if identity(info) != existing.identity:
            raise OSError(
                errno.ESTALE,
                "download destination was replaced by another file during the download",
                str(target.shown()),
            )
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _differs(path: Path) -> FileExistsError:
    return FileExistsError(
        errno.EEXIST,
        "already exists and is not the server's file (pass overwrite=True to replace it)",
        str(path),
    )


def kept(
    path: str | os.PathLike[str],
    target: Target,
    key: str,
    existing: Existing,
    verdict: tuple[bool, str | None],
    on_progress: OnProgress | None,
) -> Path:
    """The end of a download that found the destination already complete (or raises)."""
    same, etag = verdict
    if not same:
        raise _differs(Path(path))
    if not existing.vouched:
        target.check_in_place()
        info = expect_file(target.folder, target.name, existing.identity, "download destination")
        record_done(target, key, etag, info)
    if on_progress is not None:
        on_progress(existing.size, existing.size)
    return Path(path)
