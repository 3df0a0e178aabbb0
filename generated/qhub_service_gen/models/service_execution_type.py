from enum import StrEnum
from typing import Any, ClassVar


class ServiceExecutionType(StrEnum):
    """How the service is run.

    A value added to the API later is kept as a pseudo-member equal to its raw string.
    """

    # Typed for the models' fast path: a known value is looked up here, not via the enum call.
    _value2member_map_: ClassVar[dict[object, "ServiceExecutionType"]]

    MANAGED = "MANAGED"
    WORKFLOW = "WORKFLOW"

    def __str__(self) -> str:
        """The raw value (``str(member) == member.value``), for known and kept values alike."""
        return str(self.value)

    @classmethod
    def _missing_(cls, value: Any) -> "ServiceExecutionType | None":
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
