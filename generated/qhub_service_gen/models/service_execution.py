from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.service_execution_status import ServiceExecutionStatus
from ..models.service_execution_type import ServiceExecutionType
from ..types import (
    UNSET,
    ExtrasOnFirstUse,
    Unset,
    model_repr,
    shown_fields,
    utc_wire_time,
)

T = TypeVar("T", bound="ServiceExecution")

WIRE_NAMES = (
    "id",
    "createdAt",
    "status",
    "startedAt",
    "endedAt",
    "type",
    "serviceId",
    "serviceDefinitionId",
    "applicationId",
    "tags",
)
"""The wire names of the declared properties, in the order the constructor takes them."""
_KNOWN_KEYS = frozenset(WIRE_NAMES)
"""Every other key is an additional property."""

# (attribute, documented name, required) of each field in declaration order, for the repr.
_REPR_FIELDS = (
    ("id", "id", True),
    ("created_at", "created_at", True),
    ("status", "status", True),
    ("started_at", "started_at", False),
    ("ended_at", "ended_at", False),
    ("type_", "type", False),
    ("service_id", "service_id", False),
    ("service_definition_id", "service_definition_id", False),
    ("application_id", "application_id", False),
    ("tags", "tags", False),
)

TERMINAL_STATUSES: frozenset[ServiceExecutionStatus] = frozenset(
    {
        ServiceExecutionStatus.SUCCEEDED,
        ServiceExecutionStatus.FAILED,
        ServiceExecutionStatus.CANCELLED,
    }
)
"""Statuses after which an execution never changes again: the one list (the SDK's
``kipu_hub_service.TERMINAL_STATUSES`` is this object)."""

_Times = tuple[
    datetime.datetime | None, datetime.datetime | None, datetime.datetime | None
]


class _TimesSlot:
    """Where an execution caches its parsed times. Not an attrs field: equality, pickles,
    copies and ``to_dict()`` never see it, and a model built from the wire parses nothing
    until a time is asked for."""

    __slots__ = ("_times",)

    _times: tuple[object, object, object, _Times]
    """The ``created_at``, ``started_at`` and ``ended_at`` objects parsed, then their times."""

    def _keep_times(self, seen: tuple[object, object, object, _Times]) -> None:
        self._times = seen


@_attrs_define
class ServiceExecution(_TimesSlot, ExtrasOnFirstUse):
    """One execution of the deployed service.

    Example:
        {'id': '6f1c2d3e-0000-4000-8000-000000000001', 'createdAt': '2026-11-25 12:00:00', 'startedAt': '2026-11-25
            12:00:01', 'endedAt': None, 'status': 'RUNNING', 'type': 'MANAGED', 'serviceId':
            '2b9e8f00-0000-4000-8000-00000000000a', 'serviceDefinitionId': '2b9e8f00-0000-4000-8000-00000000000b',
            'applicationId': '2b9e8f00-0000-4000-8000-00000000000c', 'tags': ['demo']}

    """

    id: str
    """ Service execution identifier. """
    created_at: str
    """ When the execution was created. UTC, written `YYYY-MM-DD HH:MM:SS` by the gateway (`2026-11-25 12:00:00`);
    kept as the string the server sent. """
    status: ServiceExecutionStatus
    """ Lifecycle state. PENDING, then RUNNING, then one of the terminal states
    SUCCEEDED, FAILED or CANCELLED; a pending execution may be cancelled directly.
    UNKNOWN covers states the server has not yet resolved.
     """
    started_at: None | str | Unset = UNSET
    """ When processing started; null until then. UTC, written `YYYY-MM-DD HH:MM:SS` by the gateway (`2026-11-25
    12:00:00`); kept as the string the server sent. """
    ended_at: None | str | Unset = UNSET
    """ When processing ended; null until then. UTC, written `YYYY-MM-DD HH:MM:SS` by the gateway (`2026-11-25
    12:00:00`); kept as the string the server sent. """
    type_: None | ServiceExecutionType | Unset = UNSET
    """ MANAGED or WORKFLOW. """
    service_id: None | str | Unset = UNSET
    """ Catalog service this run belongs to. """
    service_definition_id: None | str | Unset = UNSET
    """ Service definition (version) this run belongs to. """
    application_id: None | str | Unset = UNSET
    """ Application that invoked the service. """
    tags: list[str] | None | Unset = UNSET
    """ Free-form tags. """
    additional_properties: dict[str, Any] = _attrs_field(init=False)
    """The keys the schema does not declare, in arrival order. Made on first use (see
    ``ExtrasOnFirstUse``): an instance without extra keys carries no dict until one is asked for."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON object under wire names; unset fields left out, additional properties kept."""
        id = self.id

        created_at = self.created_at

        status = self.status.value

        started_at: None | str | Unset
        if isinstance(self.started_at, Unset):
            started_at = UNSET
        else:
            started_at = self.started_at

        ended_at: None | str | Unset
        if isinstance(self.ended_at, Unset):
            ended_at = UNSET
        else:
            ended_at = self.ended_at

        type_: None | str | Unset
        if isinstance(self.type_, Unset):
            type_ = UNSET
        elif isinstance(self.type_, ServiceExecutionType):
            type_ = self.type_.value
        else:
            type_ = self.type_

        service_id: None | str | Unset
        if isinstance(self.service_id, Unset):
            service_id = UNSET
        else:
            service_id = self.service_id

        service_definition_id: None | str | Unset
        if isinstance(self.service_definition_id, Unset):
            service_definition_id = UNSET
        else:
            service_definition_id = self.service_definition_id

        application_id: None | str | Unset
        if isinstance(self.application_id, Unset):
            application_id = UNSET
        else:
            application_id = self.application_id

        tags: list[str] | None | Unset
        if isinstance(self.tags, Unset):
            tags = UNSET
        elif isinstance(self.tags, list):
            tags = self.tags

        else:
            tags = self.tags

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "createdAt": created_at,
                "status": status,
            }
        )
        if started_at is not UNSET:
            field_dict["startedAt"] = started_at
        if ended_at is not UNSET:
            field_dict["endedAt"] = ended_at
        if type_ is not UNSET:
            field_dict["type"] = type_
        if service_id is not UNSET:
            field_dict["serviceId"] = service_id
        if service_definition_id is not UNSET:
            field_dict["serviceDefinitionId"] = service_definition_id
        if application_id is not UNSET:
            field_dict["applicationId"] = application_id
        if tags is not UNSET:
            field_dict["tags"] = tags

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
        id = src_dict["id"]

        created_at = src_dict["createdAt"]

        _status = src_dict["status"]
        status = (
            _status.__class__ is str
            and ServiceExecutionStatus._value2member_map_.get(_status)
            or ServiceExecutionStatus(_status)
        )

        started_at = _src_get("startedAt", UNSET)

        ended_at = _src_get("endedAt", UNSET)

        type_ = _src_get("type", UNSET)
        if isinstance(type_, str):
            try:
                _type_type_0 = type_
                type_type_0 = (
                    _type_type_0.__class__ is str
                    and ServiceExecutionType._value2member_map_.get(_type_type_0)
                    or ServiceExecutionType(_type_type_0)
                )

                type_ = type_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass

        service_id = _src_get("serviceId", UNSET)

        service_definition_id = _src_get("serviceDefinitionId", UNSET)

        application_id = _src_get("applicationId", UNSET)

        tags = _src_get("tags", UNSET)

        service_execution = cls(
            id,
            created_at,
            status,
            started_at,
            ended_at,
            type_,
            service_id,
            service_definition_id,
            application_id,
            tags,
        )

        if not src_dict.keys() <= _KNOWN_KEYS:
            service_execution.additional_properties = {
                key: value for key, value in src_dict.items() if key not in _KNOWN_KEYS
            }
        return service_execution

    @property
    def type(self) -> None | ServiceExecutionType | Unset:
        """``type_`` under its documented name ``type``."""
        return self.type_

    @type.setter
    def type(self, value: None | ServiceExecutionType | Unset) -> None:
        """Set ``type_``."""
        self.type_ = value

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

    def _parsed_times(self) -> _Times:
        """The three times, parsed on first use and again only after a ``*_at`` field is set."""
        created_at, started_at, ended_at = (
            self.created_at,
            self.started_at,
            self.ended_at,
        )
        try:
            seen = self._times
        except AttributeError:
            pass
        else:
            if seen[0] is created_at and seen[1] is started_at and seen[2] is ended_at:
                return seen[3]
        times = (
            utc_wire_time(created_at),
            utc_wire_time(started_at),
            utc_wire_time(ended_at),
        )
        self._keep_times((created_at, started_at, ended_at, times))
        return times

    @property
    def created(self) -> datetime.datetime | None:
        """``created_at`` as a timezone-aware UTC datetime; None if absent or unparseable.

        Both wire forms are read: ``2022-01-01 22:38:08`` (UTC) and ISO 8601 with an offset
        or ``Z``. Asking never raises.
        """
        return self._parsed_times()[0]

    @property
    def started(self) -> datetime.datetime | None:
        """``started_at`` as a timezone-aware UTC datetime; None if absent or unparseable."""
        return self._parsed_times()[1]

    @property
    def ended(self) -> datetime.datetime | None:
        """``ended_at`` as a timezone-aware UTC datetime; None if absent or unparseable."""
        return self._parsed_times()[2]

    @property
    def duration(self) -> datetime.timedelta | None:
        """How long the execution ran, ``ended - started``; None until both are known.

        A running execution has no duration yet (the value never depends on when you ask);
        its time so far is ``datetime.now(UTC) - execution.started``.
        """
        _, started, ended = self._parsed_times()
        if started is None or ended is None:
            return None
        return ended - started

    @property
    def is_terminal(self) -> bool:
        """Whether ``status`` is SUCCEEDED, FAILED or CANCELLED: the execution never changes
        again (UNKNOWN and values added to the API later are not terminal)."""
        return self.status in TERMINAL_STATUSES
