from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, ExtrasOnFirstUse, Unset, model_repr, shown_fields

T = TypeVar("T", bound="RequestBody")

WIRE_NAMES = (
    "input",
    "inputDataRefs",
)
"""The wire names of the declared properties, in the order the constructor takes them."""
_KNOWN_KEYS = frozenset(WIRE_NAMES)
"""Every other key is an additional property."""

# (attribute, documented name, required) of each field in declaration order, for the repr.
_REPR_FIELDS = (
    ("input_", "input", False),
    ("input_data_refs", "input_data_refs", False),
)


@_attrs_define
class RequestBody(ExtrasOnFirstUse):
    """The free-form JSON body of `startExecution`. `input` and `inputDataRefs` are
    reserved by the gateway; everything else is forwarded to the service.

        Example:
            {'input': {'molecule': 'H2'}, 'tags': ['demo']}

    """

    input_: Any | Unset = UNSET
    """ The service-specific payload every deployed service expects. """
    input_data_refs: Any | Unset = UNSET
    """ References to mounted data-pool files, for inputs too large to inline. """
    additional_properties: dict[str, Any] = _attrs_field(init=False)
    """The keys the schema does not declare, in arrival order. Made on first use (see
    ``ExtrasOnFirstUse``): an instance without extra keys carries no dict until one is asked for."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON object under wire names; unset fields left out, additional properties kept."""
        input_ = self.input_

        input_data_refs = self.input_data_refs

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if input_ is not UNSET:
            field_dict["input"] = input_
        if input_data_refs is not UNSET:
            field_dict["inputDataRefs"] = input_data_refs

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
        input_ = _src_get("input", UNSET)

        input_data_refs = _src_get("inputDataRefs", UNSET)

        request_body = cls(
            input_,
            input_data_refs,
        )

        if not src_dict.keys() <= _KNOWN_KEYS:
            request_body.additional_properties = {
                key: value for key, value in src_dict.items() if key not in _KNOWN_KEYS
            }
        return request_body

    @property
    def input(self) -> Any | Unset:
        """``input_`` under its documented name ``input``."""
        return self.input_

    @input.setter
    def input(self, value: Any | Unset) -> None:
        """Set ``input_``."""
        self.input_ = value

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
