"""``UNSET``, and the rules the models share with the SDK around them (which imports them from
here, so there is one home for each): path segments, wire times, result-file names, reprs."""

import datetime
import os
import re
from _thread import get_ident
from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote


class Unset:
    """The type of ``UNSET``: a field that was absent from the JSON (unlike an explicit null)."""

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "UNSET"

    def __reduce__(self) -> str:
        """Unpickle as the one ``UNSET``, so pickled models compare equal to the originals."""
        return "UNSET"


UNSET: Unset = Unset()


# Extra keys -------------------------------------------------------------------------------------


class ExtrasOnFirstUse:
    """Base of the models that keep additional properties. Their ``additional_properties`` is an
    attrs field without a default, so a model built without extra keys stores no dict (one
    allocation less per model in a long list); the empty dict is made the first time it is read,
    and kept. Equality, pickles, copies, ``attrs.asdict`` and ``to_dict()`` all read it, so they
    see what they would see with a dict made up front."""

    __slots__ = ()

    if not TYPE_CHECKING:  # to a type checker, a misspelt attribute stays an error

        def __getattr__(self, name: str) -> Any:
            """A fresh, empty ``additional_properties`` the first time it is read; every other
            missing attribute raises ``AttributeError`` as usual."""
            if name == "additional_properties":
                extras: dict[str, Any] = {}
                self.additional_properties = extras
                return extras
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r}",
                name=name,
                obj=self,
            )


# Reprs ------------------------------------------------------------------------------------------


class _Shown:
    """A value that reprs as the given text: an enum member as its raw value, a datetime in ISO
    8601, so ``status=SUCCEEDED`` reads like the wire rather than like Python internals."""

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text

    def __repr__(self) -> str:
        return self._text


def shown_fields(
    obj: Any, fields: tuple[tuple[str, str, bool], ...]
) -> list[tuple[str, Any]]:
    """The ``(documented name, value)`` pairs a model's repr shows.

    ``fields`` holds ``(attribute, documented name, required)`` in declaration order. Required
    fields are always shown; optional ones only when set (neither ``UNSET`` nor ``None``).
    ``additional_properties`` come last, and only when not empty. Enum members show their raw
    value and datetimes their ISO 8601 text; nothing is shortened.
    """
    pairs: list[tuple[str, Any]] = []
    for attribute, name, required in fields:
        value = getattr(obj, attribute)
        if not required and (value is None or value is UNSET):
            continue
        if isinstance(value, Enum):
            value = _Shown(str(value.value))
        elif isinstance(value, datetime.datetime):
            value = _Shown(value.isoformat())
        pairs.append((name, value))
    extra = getattr(obj, "additional_properties", None)
    if extra:
        pairs.append(("additional_properties", extra))
    return pairs


_REPRS_RUNNING: set[tuple[int, int]] = set()
"""(object id, thread id) of the model reprs in progress: a model inside itself shows ``...``."""


def model_repr(obj: Any, fields: tuple[tuple[str, str, bool], ...]) -> str:
    """``ClassName(name=value, ...)`` with the pairs of :func:`shown_fields`."""
    key = (id(obj), get_ident())
    if key in _REPRS_RUNNING:
        return "..."
    _REPRS_RUNNING.add(key)
    try:
        shown = ", ".join(
            f"{name}={value!r}" for name, value in shown_fields(obj, fields)
        )
    finally:
        _REPRS_RUNNING.discard(key)
    return f"{type(obj).__name__}({shown})"


# Path segments ----------------------------------------------------------------------------------


def path_segment(value: object) -> str:
    """``value`` percent-encoded as one URL path segment; ``.`` and ``..`` are encoded too, so an
    id or file name never walks up the gateway's path."""
    text = str(value)
    if text.strip("."):
        return quote(text, safe="")
    return text.replace(".", "%2E")


# Wire times -------------------------------------------------------------------------------------

_WIRE_TIME_MAX_CHARS = 64
"""Longer text is not a timestamp (and is not scanned)."""
_SPACE_BEFORE_OFFSET = re.compile(r"\s+(?=(?:Z|[+-]\d\d(?::?\d\d)?)$)", re.IGNORECASE)
_fromisoformat = datetime.datetime.fromisoformat


def wire_time(text: str) -> datetime.datetime:
    """A timezone-aware datetime from a gateway timestamp; ``ValueError`` when it is not one.

    The one rule for every timestamp the gateway sends (log entries' ``timestamp``, an
    execution's ``created`` / ``started`` / ``ended``). Reads both wire forms: the platform's
    ``2022-01-01 22:38:08`` and ISO 8601 with an offset, ``Z`` or neither (also basic, week and
    ordinal dates, a lower-case ``z`` or a space before the offset). Text without an offset is
    UTC; an offset is kept. Text over 64 characters is not a timestamp.
    """
    try:
        parsed = _fromisoformat(text)
    except ValueError:
        parsed = _lenient_time(text)
    except TypeError:
        raise ValueError(
            f"a timestamp must be a string, not {type(text).__name__}"
        ) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=datetime.UTC)
    return parsed


def _lenient_time(text: str) -> datetime.datetime:
    """The forms ``datetime.fromisoformat`` refuses (``ValueError`` for anything else)."""
    if len(text) > _WIRE_TIME_MAX_CHARS:
        raise ValueError(f"a timestamp has at most {_WIRE_TIME_MAX_CHARS} characters")
    normal = _SPACE_BEFORE_OFFSET.sub("", text.strip()).upper()
    try:
        return _fromisoformat(normal)
    except ValueError:
        from dateutil.parser import isoparse  # type: ignore[import-untyped,unused-ignore]

        try:
            parsed: datetime.datetime = isoparse(normal)
        except (ValueError, OverflowError):
            raise ValueError(f"{text!r} is not an ISO 8601 date-time") from None
        return parsed


def parse_wire_time(value: object) -> datetime.datetime | None:
    """:func:`wire_time`, but ``None`` instead of an exception (also for a non-string)."""
    if not isinstance(value, str) or len(value) > _WIRE_TIME_MAX_CHARS:
        return None
    try:
        return wire_time(value)
    except ValueError:
        return None


def utc_wire_time(value: object) -> datetime.datetime | None:
    """:func:`parse_wire_time` converted to UTC (``None`` also when UTC cannot hold it)."""
    parsed = parse_wire_time(value)
    if parsed is None:
        return None
    try:
        return parsed.astimezone(datetime.UTC)
    except (OverflowError, ValueError):
        return None


# Result-file names ------------------------------------------------------------------------------

_NAME_MAX_BYTES = 255
"""What file systems allow for one name."""


def partial_file_name(name: str) -> str:
    """The temp file a download of the file ``name`` writes before renaming it into place."""
    return f".{name}.part"


def record_file_name(partial: str) -> str:
    """The small record a download keeps next to its temp file ``partial`` (to resume it)."""
    return f"{partial}.json"


RESULT_FILE_NAME_MAX_BYTES = _NAME_MAX_BYTES - len(
    record_file_name(partial_file_name(""))
)
"""Longest result file name (UTF-8 bytes) that can be saved: the rest of a file system's 255
bytes is needed by the download's record file ``.<name>.part.json``."""


class UnsafeFileNameError(ValueError):
    """A result file name that is not one plain file name, or cannot be saved as one.

    ``name`` is the name as the gateway sent it and ``reason`` says what is wrong with it.
    """

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        """The rejected name, as the gateway sent it."""
        self.reason = reason
        """Why the name was rejected."""
        shown = repr(name if len(name) <= 60 else name[:50] + "...")
        super().__init__(f"the result links a file named {shown}, which {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle support: rebuild from the constructor arguments."""
        return (type(self), (self.name, self.reason), self.__dict__)


_SEPARATORS = tuple({"/", "\\", os.sep, *((os.altsep,) if os.altsep else ())})
"""Path separators on any system (and this one's)."""


def _is_path_like(name: str) -> bool:
    return name in {"", ".", ".."} or any(sep in name for sep in _SEPARATORS)


def file_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be saved as one file in a directory, or ``None`` if it can.

    Refused: an empty name, ``.`` and ``..``, path separators, control characters, text that
    is not valid Unicode, and names over :data:`RESULT_FILE_NAME_MAX_BYTES` bytes of UTF-8.
    """
    if _is_path_like(name) or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        return "is not a single plain file name"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid Unicode text"
    if size > RESULT_FILE_NAME_MAX_BYTES:
        return (
            f"is {size} bytes long (at most {RESULT_FILE_NAME_MAX_BYTES} can be saved)"
        )
    return None


def check_result_file_names(names: Iterable[str]) -> list[str]:
    """``names`` as a list, once each is known to be safe to save side by side in one folder.

    Raises :class:`UnsafeFileNameError` for the first name :func:`file_name_problem` refuses,
    or for a name that is the temp file name of another one in the list (the two downloads
    would overwrite each other).
    """
    checked = list(names)
    for name in checked:
        reason = file_name_problem(name)
        if reason is not None:
            raise UnsafeFileNameError(name, reason)
    temp_owner = {}
    for name in checked:
        partial = partial_file_name(name)
        temp_owner[partial] = name
        temp_owner[record_file_name(partial)] = name
    for name in checked:
        owner = temp_owner.get(name)
        if owner is not None:
            raise UnsafeFileNameError(
                name, f"is the name of the temp file that downloading {owner!r} writes"
            )
    return checked


__all__ = [
    "RESULT_FILE_NAME_MAX_BYTES",
    "UNSET",
    "ExtrasOnFirstUse",
    "UnsafeFileNameError",
    "Unset",
    "check_result_file_names",
    "file_name_problem",
    "model_repr",
    "parse_wire_time",
    "partial_file_name",
    "path_segment",
    "record_file_name",
    "shown_fields",
    "utc_wire_time",
    "wire_time",
]
