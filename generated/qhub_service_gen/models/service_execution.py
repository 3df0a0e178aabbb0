from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.service_execution_status import ServiceExecutionStatus
from ..models.service_execution_type import ServiceExecutionType
from ..types import UNSET, Unset

T = TypeVar("T", bound="ServiceExecution")

# The wire names of the declared properties; every other key is an additional property.
_KNOWN_KEYS = frozenset(
    {
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
    }
)


@_attrs_define
class ServiceExecution:
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
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

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

        service_execution.additional_properties = (
            {}
            if src_dict.keys() <= _KNOWN_KEYS
            else {
                key: value for key, value in src_dict.items() if key not in _KNOWN_KEYS
            }
        )
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
