from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.log_entry_severity import LogEntrySeverity
from ..types import UNSET, ExtrasOnFirstUse, Unset, model_repr, shown_fields, wire_time

T = TypeVar("T", bound="LogEntry")

WIRE_NAMES = (
    "message",
    "timestamp",
    "severity",
)
"""The wire names of the declared properties, in the order the constructor takes them."""
_KNOWN_KEYS = frozenset(WIRE_NAMES)
"""Every other key is an additional property."""

# (attribute, documented name, required) of each field in declaration order, for the repr.
_REPR_FIELDS = (
    ("message", "message", True),
    ("timestamp", "timestamp", True),
    ("severity", "severity", False),
)


@_attrs_define
class LogEntry(ExtrasOnFirstUse):
    """One log entry of an execution.

    Example:
        {'message': 'Execution started', 'severity': 'INFO', 'timestamp': '2026-11-25T12:00:01Z'}

    """

    message: str
    """ Log message content. """
    timestamp: datetime.datetime
    """ When the entry was logged. """
    severity: LogEntrySeverity | None | Unset = UNSET
    """ One of DEBUG, NOTICE, INFO, WARNING, ERROR. """
    additional_properties: dict[str, Any] = _attrs_field(init=False)
    """The keys the schema does not declare, in arrival order. Made on first use (see
    ``ExtrasOnFirstUse``): an instance without extra keys carries no dict until one is asked for."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON object under wire names; unset fields left out, additional properties kept."""
        message = self.message

        timestamp = self.timestamp.isoformat()

        severity: None | str | Unset
        if isinstance(self.severity, Unset):
            severity = UNSET
        elif isinstance(self.severity, LogEntrySeverity):
            severity = self.severity.value
        else:
            severity = self.severity

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "message": message,
                "timestamp": timestamp,
            }
        )
        if severity is not UNSET:
            field_dict["severity"] = severity

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        """Build an instance from a decoded JSON object keyed by wire names.

        Absent optional keys become ``UNSET``; keys the schema does not declare are kept as
        additional properties. A missing required key raises ``KeyError``.
        """
        if src_dict.__class__ is not dict:
            src_dict = dict(src_dict)
        _src_get = src_dict.get
        message = src_dict["message"]

        timestamp = wire_time(src_dict["timestamp"])

        severity = _src_get("severity", UNSET)
        if isinstance(severity, str):
            try:
                _severity_type_0 = severity
                severity_type_0 = (
                    _severity_type_0.__class__ is str
                    and LogEntrySeverity._value2member_map_.get(_severity_type_0)
                    or LogEntrySeverity(_severity_type_0)
                )

                severity = severity_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass

        log_entry = cls(
            message,
            timestamp,
            severity,
        )

        if not src_dict.keys() <= _KNOWN_KEYS:
            log_entry.additional_properties = {
                key: value for key, value in src_dict.items() if key not in _KNOWN_KEYS
            }
        return log_entry

    @property
    def additional_keys(self) -> list[str]:
        """The keys the schema does not declare, in arrival order."""
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        """The additional property ``key`` (``KeyError`` if absent); fields are attributes."""
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        """Set the additional property ``key``."""
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        """Remove the additional property ``key`` (``KeyError`` if absent)."""
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        """Whether ``key`` is an additional property (declared fields are not)."""
        return key in self.additional_properties

    def __repr__(self) -> str:
        """The fields that are set (absent and null ones left out) under their documented names;
        enum members as their raw value; ``additional_properties`` only when not empty."""
        return model_repr(self, _REPR_FIELDS)

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        """The pairs ``repr()`` shows, for rich's pretty printer."""
        return shown_fields(self, _REPR_FIELDS)
