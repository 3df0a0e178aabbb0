from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.service_execution_status import ServiceExecutionStatus
from ..models.service_execution_type import ServiceExecutionType
from ..types import UNSET, Unset

T = TypeVar("T", bound="ServiceExecution")


@_attrs_define
class ServiceExecution:
    """One execution of the deployed service.

    Example:
        {'id': '6f1c2d3e-0000-4000-8000-000000000001', 'createdAt': '2026-11-25T12:00:00Z', 'startedAt':
            '2026-11-25T12:00:01Z', 'endedAt': None, 'status': 'RUNNING', 'type': 'MANAGED', 'serviceId':
            '2b9e8f00-0000-4000-8000-00000000000a', 'serviceDefinitionId': '2b9e8f00-0000-4000-8000-00000000000b',
            'applicationId': '2b9e8f00-0000-4000-8000-00000000000c', 'tags': ['demo']}

    """

    id: str
    """ Service execution identifier. """
    created_at: str
    """ When the execution was created. """
    status: ServiceExecutionStatus
    """ Lifecycle state. PENDING, then RUNNING, then one of the terminal states
    SUCCEEDED, FAILED or CANCELLED; a pending execution may be cancelled directly.
    UNKNOWN covers states the server has not yet resolved.
     """
    started_at: None | str | Unset = UNSET
    """ When processing started. """
    ended_at: None | str | Unset = UNSET
    """ When processing ended. """
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
        d = dict(src_dict)
        id = d.pop("id")

        created_at = d.pop("createdAt")

        status = ServiceExecutionStatus(d.pop("status"))

        def _parse_started_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        started_at = _parse_started_at(d.pop("startedAt", UNSET))

        def _parse_ended_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        ended_at = _parse_ended_at(d.pop("endedAt", UNSET))

        def _parse_type_(data: object) -> None | ServiceExecutionType | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                type_type_0 = ServiceExecutionType(data)

                return type_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | ServiceExecutionType | Unset, data)

        type_ = _parse_type_(d.pop("type", UNSET))

        def _parse_service_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        service_id = _parse_service_id(d.pop("serviceId", UNSET))

        def _parse_service_definition_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        service_definition_id = _parse_service_definition_id(
            d.pop("serviceDefinitionId", UNSET)
        )

        def _parse_application_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        application_id = _parse_application_id(d.pop("applicationId", UNSET))

        def _parse_tags(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                tags_type_0 = cast(list[str], data)

                return tags_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        tags = _parse_tags(d.pop("tags", UNSET))

        service_execution = cls(
            id=id,
            created_at=created_at,
            status=status,
            started_at=started_at,
            ended_at=ended_at,
            type_=type_,
            service_id=service_id,
            service_definition_id=service_definition_id,
            application_id=application_id,
            tags=tags,
        )

        service_execution.additional_properties = d
        return service_execution

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
