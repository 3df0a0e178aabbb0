from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, ExtrasOnFirstUse, Unset, model_repr, shown_fields

T = TypeVar("T", bound="Error")

WIRE_NAMES = ("detail",)
"""The wire names of the declared properties, in the order the constructor takes them."""
_KNOWN_KEYS = frozenset(WIRE_NAMES)
"""Every other key is an additional property."""

# (attribute, documented name, required) of each field in declaration order, for the repr.
_REPR_FIELDS = (("detail", "detail", False),)


@_attrs_define
class Error(ExtrasOnFirstUse):
    """An error body. Gateways answer at least `detail`; more keys may appear.

    Example:
        {'detail': 'Not found'}

    """

    detail: Any | Unset = UNSET
    """ What went wrong, usually a sentence. """
    additional_properties: dict[str, Any] = _attrs_field(init=False)
    """The keys the schema does not declare, in arrival order. Made on first use (see
    ``ExtrasOnFirstUse``): an instance without extra keys carries no dict until one is asked for."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON object under wire names; unset fields left out, additional properties kept."""
        detail = self.detail

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if detail is not UNSET:
            field_dict["detail"] = detail

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
        detail = _src_get("detail", UNSET)

        error = cls(
            detail,
        )

        if not src_dict.keys() <= _KNOWN_KEYS:
            error.additional_properties = {
                key: value for key, value in src_dict.items() if key not in _KNOWN_KEYS
            }
        return error

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
