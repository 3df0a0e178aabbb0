"""The directory a download writes into, opened once and then reached only through its descriptor.

A download opens its directory as a file descriptor when it starts (``O_DIRECTORY``; for
``download_all_result_files`` also ``O_NOFOLLOW``, so a directory that is a symbolic link is
refused). Every later create, open, status check, rename and removal is relative to that
descriptor and never follows a link at the name (``os.open(name, ... | O_NOFOLLOW, dir_fd=fd)``,
``os.stat(name, dir_fd=fd, follow_symlinks=False)``, ``os.replace(a, b, src_dir_fd=fd,
dst_dir_fd=fd)``). A link swapped in for a file, or for the directory itself, can therefore not
redirect a write: the descriptor pins the real directory, and a link at a name is refused
(``ELOOP``) or, by a rename, replaced without being followed.

POSIX only: ``dir_fd`` and ``O_NOFOLLOW`` are not available on Windows, which the SDK does not
support for downloads.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)

Identity = tuple[int, int]
"""``(st_dev, st_ino)``: which file a name leads to."""


def identity(info: os.stat_result) -> Identity:
    """The device and inode of a status."""
    return info.st_dev, info.st_ino


def folder_error(code: int, path: Path, text: str) -> OSError:
    """An ``OSError`` of a download (``errno`` ``code``) about ``path``, saying ``text``."""
    return OSError(code, text, str(path))


def link_error(path: Path, what: str) -> OSError:
    """The error for a symbolic link found where the download writes or reads."""
    told = f"{what} is a symbolic link (planted or swapped in during the download)"
    return folder_error(errno.ELOOP, path, f"{told}; refusing to follow it")


class Folder:
    """An open directory; names in it are reached through its descriptor, links not followed.

    ``follows``: whether ``path`` itself may be a symbolic link (a path the user named for one
    file) or must not be (the directory of ``download_all_result_files``).
    """

    def __init__(self, path: Path, fd: int, follows: bool) -> None:
        self.path = path
        self.fd = fd
        self._follows = follows
        self._where = str(path.absolute())
        self._identity = identity(os.fstat(fd))

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, follows: bool) -> Folder:
        """Open ``path`` as a directory; with ``follows=False`` a symbolic link is refused."""
        shown = Path(path)
        flags = os.O_RDONLY | _DIRECTORY | _CLOEXEC | (0 if follows else _NOFOLLOW)
        try:
            fd = os.open(shown, flags)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR) and not follows and shown.is_symlink():
                raise link_error(shown, "the download directory") from None
            raise
        try:
            return cls(shown, fd, follows)
        except BaseException:
            os.close(fd)
            raise

    @property
    def device(self) -> int:
        """The device (``st_dev``) of the directory: which file system it is on."""
        return self._identity[0]

    def close(self) -> None:
        """Close the descriptor (once; later calls do nothing)."""
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def __enter__(self) -> Folder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def shown(self, name: str) -> Path:
        """The path of ``name`` as the caller sees it (for messages and return values)."""
        return self.path / name

    def _named(self, exc: OSError, name: str) -> OSError:
        """``exc`` naming the path of ``name`` (an error of a ``dir_fd`` call names ``name``)."""
        return type(exc)(exc.errno, exc.strerror, str(self.shown(name)))

    def lstat(self, name: str) -> os.stat_result | None:
        """The status of ``name`` itself (a link is not followed); None when there is none."""
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._named(exc, name) from None

    def open_fd(self, name: str, flags: int, what: str, mode: int = 0o666) -> int:
        """``os.open`` of ``name`` in the directory, never through a symbolic link."""
        try:
            return os.open(name, flags | _NOFOLLOW | _CLOEXEC, mode, dir_fd=self.fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise link_error(self.shown(name), what) from None
            raise self._named(exc, name) from None

    def replace(self, source: str, destination: str) -> None:
        """Rename ``source`` over ``destination`` (a link there is replaced, never followed)."""
        try:
            os.replace(source, destination, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except OSError as exc:
            raise self._named(exc, destination) from None

    def unlink(self, name: str) -> None:
        """Remove ``name`` (a link itself, never what it points to); gone already is fine."""
        try:
            os.unlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise self._named(exc, name) from None

    def below(self, parts: tuple[str, ...]) -> Folder:
        """The directory ``parts`` below this one, each step opened without following a link."""
        fd = os.dup(self.fd)
        path = self.path
        try:
            for part in parts:
                path = path / part
                try:
                    step = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise link_error(path, "a directory on the way to the file") from None
                    raise type(exc)(exc.errno, exc.strerror, str(path)) from None
                os.close(fd)
                fd = step
            return Folder(path, fd, follows=False)
        except BaseException:
            os.close(fd)
            raise

    def check_in_place(self) -> None:
        """Raise if the directory's path no longer leads to the directory that was opened
        (it was moved away, or replaced by a link or another directory)."""
        try:
            info: os.stat_result | None = os.stat(self._where, follow_symlinks=self._follows)
        except OSError:
            info = None
        if info is None or stat.S_ISLNK(info.st_mode) or identity(info) != self._identity:
            raise OSError(
                errno.ESTALE,
                "the download directory was replaced (by a symbolic link or another "
                "directory) during the download; nothing was written outside the directory "
                "that was opened",
                str(self.path),
            )


class InFolder(os.PathLike[str]):
    """The path of a file in a directory already opened by ``download_all_result_files``: a
    download to it uses that descriptor instead of opening the directory again."""

    def __init__(self, folder: Folder, name: str) -> None:
        self.folder = folder
        self.name = name
        self.path = folder.shown(name)
        """The same path as a ``Path`` (made once: a download returns it)."""
        self._path = str(self.path)

    def __fspath__(self) -> str:
        return self._path

    def __repr__(self) -> str:
        return f"InFolder({self.__fspath__()!r})"
