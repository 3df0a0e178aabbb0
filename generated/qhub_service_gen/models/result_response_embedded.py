from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, ExtrasOnFirstUse, Unset, model_repr, shown_fields

if TYPE_CHECKING:
    from ..models.service_execution import ServiceExecution


T = TypeVar("T", bound="ResultResponseEmbedded")

WIRE_NAMES = ("status",)
"""The wire names of the declared properties, in the order the constructor takes them."""
_KNOWN_KEYS = frozenset(WIRE_NAMES)
"""Every other key is an additional property."""

# (attribute, documented name, required) of each field in declaration order, for the repr.
_REPR_FIELDS = (("status", "status", False),)


@_attrs_define
class ResultResponseEmbedded(ExtrasOnFirstUse):
    """`status` holds the full execution.

    Example:
        {'status': {'id': '6f1c2d3e-0000-4000-8000-000000000001', 'createdAt': '2026-11-25 12:00:00', 'status':
            'SUCCEEDED'}}

    """

    status: None | ServiceExecution | Unset = UNSET
    """ The full execution; may be null. """
    additional_properties: dict[str, Any] = _attrs_field(init=False)
    """The keys the schema does not declare, in arrival order. Made on first use (see
    ``ExtrasOnFirstUse``): an instance without extra keys carries no dict until one is asked for."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON object under wire names; unset fields left out, additional properties kept."""
        status: dict[str, Any] | None | Unset
        if self.status is None or isinstance(self.status, Unset):
            status = self.status
        else:
            status = self.status.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if status is not UNSET:
            field_dict["status"] = status

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        """Build an instance from a decoded JSON object keyed by wire names.

        Absent optional keys become ``UNSET``; keys the schema does not declare are kept as
        additional properties. A missing required key raises ``KeyError``.
        """
        from ..models.service_execution import ServiceExecution

        if src_dict.__class__ is not dict:
            src_dict = dict(src_dict)
        _src_get = src_dict.get
        status = _src_get("status", UNSET)
        if status is not None and status is not UNSET:
            status_type_0 = ServiceExecution.from_dict(status)

            status = status_type_0

        result_response_embedded = cls(
            status,
        )

        if not src_dict.keys() <= _KNOWN_KEYS:
            result_response_embedded.additional_properties = {
                key: value for key, value in src_dict.items() if key not in _KNOWN_KEYS
            }
        return result_response_embedded

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
