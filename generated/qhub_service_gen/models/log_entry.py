from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.log_entry_severity import LogEntrySeverity
from ..types import UNSET, Unset

T = TypeVar("T", bound="LogEntry")


@_attrs_define
class LogEntry:
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
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
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
        d = dict(src_dict)
        message = d.pop("message")

        timestamp = (
            _dt
            if (_dt := datetime.datetime.fromisoformat(d.pop("timestamp"))).tzinfo
            else _dt.replace(tzinfo=datetime.UTC)
        )

        def _parse_severity(data: object) -> LogEntrySeverity | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                severity_type_0 = LogEntrySeverity(data)

                return severity_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(LogEntrySeverity | None | Unset, data)

        severity = _parse_severity(d.pop("severity", UNSET))

        log_entry = cls(
            message=message,
            timestamp=timestamp,
            severity=severity,
        )

        log_entry.additional_properties = d
        return log_entry

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
