"""Where a download writes: the destination checked, its directory opened (``_folder``).

``open_target(path)`` checks the destination before anything is sent and opens its directory
once; every later step of the download goes through that descriptor (see ``_files``).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from qhub_service_gen.types import (
    RESULT_FILE_NAME_MAX_BYTES,
    partial_file_name,
    record_file_name,
)

from ._folder import Folder, InFolder, link_error
from ._results import check_inside


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


def not_regular(path: Path, what: str, mode: int) -> OSError:
    """The error for ``what`` at ``path`` that exists but is not a regular file."""
    return OSError(
        errno.EINVAL,
        f"{what} exists and is a {_kind(mode)}, not a regular file; refusing to replace it",
        str(path),
    )


class Target:
    """Where a download writes: ``name`` in the open directory ``folder``.

    ``given`` is the path the caller named; ``anchors`` are the directories checked to be still
    in place before the rename; the folders this target opened are closed by ``close``.
    ``found``, ``part_found`` and ``record_found`` say what the check before the download saw
    at the destination and its two temp names (so later steps need not look again).
    """

    def __init__(
        self, folder: Folder, name: str, given: Path, anchors: tuple[Folder, ...], owned: bool
    ) -> None:
        self.folder = folder
        self.name = name
        self.given = given
        self.part = partial_file_name(name)
        self.meta = record_file_name(self.part)
        self._anchors = anchors
        self._owned = owned
        self.found: os.stat_result | None = None
        self.part_found = self.record_found = False

    def shown(self, name: str | None = None) -> Path:
        """The path of ``name`` (default: the file itself) for messages."""
        return self.folder.shown(self.name if name is None else name)

    def check_in_place(self) -> None:
        """Raise if a directory of the download was replaced since it was opened."""
        for folder in self._anchors:
            folder.check_in_place()

    def close(self) -> None:
        """Close the directories this target opened (not a borrowed one)."""
        if self._owned:
            self.folder.close()


def _check_entries(target: Target, info: os.stat_result | None) -> None:
    """Refuse a destination (``info``: its status, just taken) or temp file that is not a
    regular file, before anything is sent; note on ``target`` what is there."""
    folder = target.folder
    if info is not None and stat.S_ISLNK(info.st_mode):
        raise link_error(target.shown(), "download destination")
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(
            errno.EISDIR, "download destination is a directory", str(target.given)
        )
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise not_regular(target.given, "download destination", info.st_mode)
    found = []
    for temp in (target.part, target.meta):
        temp_info = folder.lstat(temp)
        if temp_info is not None and not stat.S_ISREG(temp_info.st_mode):
            raise not_regular(folder.shown(temp), "the download's temp file", temp_info.st_mode)
        found.append(temp_info is not None)
    target.found = info
    target.part_found, target.record_found = found


def _check_name(name: str, given: Path) -> None:
    if len(os.fsencode(name)) > RESULT_FILE_NAME_MAX_BYTES:
        raise OSError(
            errno.ENAMETOOLONG,
            f"download destination's name is too long for its temp file (at most "
            f"{RESULT_FILE_NAME_MAX_BYTES} bytes)",
            str(given),
        )


def _resolved(given: Path) -> Path:
    try:
        return given.resolve(strict=False)
    except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
        raise OSError(
            errno.ELOOP,
            "download destination is a symbolic link that cannot be resolved",
            str(given),
        ) from None


def _in_folder(pinned: InFolder) -> Target:
    """A file of ``download_all_result_files``: a link at its name is followed only while it
    stays inside the directory, each directory on the way opened without following a link."""
    folder, given = pinned.folder, pinned.path
    _check_name(pinned.name, given)
    info = folder.lstat(pinned.name)
    if info is None or not stat.S_ISLNK(info.st_mode):
        target = Target(folder, pinned.name, given, (folder,), owned=False)
        _check_entries(target, info)
        return target
    folder.check_in_place()
    check_inside(given, folder.path)
    relative = _resolved(given).relative_to(folder.path.resolve(strict=True))
    if not relative.parts:
        raise IsADirectoryError(errno.EISDIR, "download destination is a directory", str(given))
    _check_name(relative.name, given)
    below = folder.below(relative.parent.parts)
    try:
        target = Target(below, relative.name, given, (folder, below), owned=True)
        _check_entries(target, below.lstat(relative.name))
    except BaseException:
        below.close()
        raise
    return target


def open_target(path: str | os.PathLike[str]) -> Target:
    """Check the destination of a download to ``path`` and open its directory; close it with
    ``Target.close``.

    A symbolic link the caller named is followed: the file it points to is replaced
    (atomically, with the temp file next to it) and the link stays. An existing destination
    that is not a regular file (a directory, FIFO, device or socket) is refused, never replaced.
    """
    if isinstance(path, InFolder):
        return _in_folder(path)
    given = Path(path)
    if not given.name or given.name in (".", ".."):
        raise ValueError(f"not a file path: {str(path)!r}")
    real = _resolved(given) if given.is_symlink() else given
    _check_name(real.name, given)
    try:
        folder = Folder.open(real.parent, follows=True)
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(
            errno.ENOENT, "directory of the download destination does not exist", str(given)
        ) from None
    try:
        target = Target(folder, real.name, given, (folder,), owned=True)
        _check_entries(target, folder.lstat(real.name))
    except BaseException:
        folder.close()
        raise
    return target
