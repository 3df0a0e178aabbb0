from enum import StrEnum
from typing import Any, ClassVar


class LogEntrySeverity(StrEnum):
    """Severity of a log entry.

    A value added to the API later is kept as a pseudo-member equal to its raw string.
    """

    # Typed for the models' fast path: a known value is looked up here, not via the enum call.
    _value2member_map_: ClassVar[dict[object, "LogEntrySeverity"]]

    DEBUG = "DEBUG"
    ERROR = "ERROR"
    INFO = "INFO"
    NOTICE = "NOTICE"
    WARNING = "WARNING"

    def __str__(self) -> str:
        """The raw value (``str(member) == member.value``), for known and kept values alike."""
        return str(self.value)

    @classmethod
    def _missing_(cls, value: Any) -> "LogEntrySeverity | None":
        """Keep a value the server added after this client was generated.

        The result is a pseudo-member that is still an instance of this enum, compares
        equal to its raw string and is not one of the declared members.
        """
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return member
